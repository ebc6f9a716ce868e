/* The CDVAE backend (models/cdvae/cdvae.h) on synthetic crystals, so nothing here needs
 * ../shared:
 *   - the loss gradient — decoder, the three heads, the KL term and the
 *     reparameterisation, and the structure or the composition encoder — against central
 *     differences of the loss itself (teacher forcing on: after it, the predicted cell
 *     reaches the decoder as a constant, on purpose);
 *   - the pieces with closed forms: σ schedule, lattice scaler, KL at μ = 0, log σ² = 0,
 *     sample_composition;
 *   - training lowers the loss; 2N steps = N + checkpoint + N, bit for bit; samples do
 *     not depend on the number of workers and keep a CSP target's atoms. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/cdvae/cdvae.h"
#include "nn_testlib.h"
#include "testutil.h"

#define N_CRYSTALS 24

static cb_dataset g_set; /* 1–6 atoms, angles 70–110°, Z 1–60 */

static int setup(void **state)
{
    if (cb_test_scratch_setup(state)) return -1;
    cb_test_synthetic_crystals(&g_set, N_CRYSTALS, 6, 7);
    return 0;
}

static int teardown(void **state)
{
    cb_dataset_free(&g_set);
    return cb_test_scratch_teardown(state);
}

static void tiny_config(cb_config *c, const char *epochs, const char *encoder)
{
    static const char *const kv[][2] = {
        {"latent", "6"}, {"head_hidden", "8"}, {"comp_hidden", "8"}, {"enc_hidden", "8"}, {"enc_layers", "2"},
        {"hidden", "8"}, {"layers", "2"},      {"n_freq", "4"},      {"time_dim", "4"},    {"batch", "6"},
        {"n_sigmas", "6"}, {"n_step_each", "2"}, {"lr", "3e-3"},     {"lr_min", "3e-3"}};
    cb_test_config_kv(c, "test [cdvae]", kv, sizeof kv / sizeof kv[0], epochs);
    if (encoder) assert_int_equal(cb_config_set(c, "encoder", encoder, NULL), CB_OK);
}

/* The data of g_set under a scaler fitted on it (no step taken). */
static void prepare(cdvae *m, cdvae_data *d)
{
    cb_error err;
    cdvae_data pre;
    assert_int_equal(cdvae_data_prepare(&g_set, &m->net.scaler, &pre, &err), CB_OK); /* for the cells */
    assert_int_equal(cdvae_scaler_fit(&pre.kept, &m->net.scaler, &err), CB_OK);
    cdvae_data_free(&pre);
    assert_int_equal(cdvae_data_prepare(&g_set, &m->net.scaler, d, &err), CB_OK);
    m->have_scaler = 1;
}

typedef struct loss_ctx {
    cdvae *m;
    const cdvae_data *d;
    uint64_t epoch;
    double parts[CDVAE_PARTS];
} loss_ctx;

/* loss(w) with the draws of seed 11 */
static double loss_of(void *ctx, int backward)
{
    loss_ctx *l = ctx;
    const cdvae_example *ex[N_CRYSTALS];
    for (size_t i = 0; i < l->d->n; i++) ex[i] = &l->d->ex[i];
    cb_rng rng;
    cb_rng_seed(&rng, 11);
    double loss;
    cb_error err;
    if (cdvae_loss(&l->m->net, l->m->net.p.w, &l->m->batch, ex, (int)l->d->n, l->epoch, &rng, backward, &loss,
                   l->parts, &err))
        fail_msg("loss: %s", err.msg);
    return loss;
}

static void gradient_check(const char *label, unsigned task, const char *encoder)
{
    cb_config c;
    tiny_config(&c, "4", encoder);
    cdvae *m = cb_test_new_model("cdvae", &c, task);
    cdvae_data d;
    prepare(m, &d);
    loss_ctx l = {m, &d, 0, {0}};
    cb_test_gradient_check(label, &m->net.p, loss_of, &l);
    printf("%s: natom %.4f lattice %.4f composition %.4f coord %.4f type %.4f KL %.4f\n", label,
           l.parts[CDVAE_PART_NATOM], l.parts[CDVAE_PART_LATTICE], l.parts[CDVAE_PART_COMP],
           l.parts[CDVAE_PART_COORD], l.parts[CDVAE_PART_TYPE], l.parts[CDVAE_PART_KL]);
    /* every term the task trains is there and finite */
    for (int k = 0; k < CDVAE_PARTS; k++) {
        int used = task == CB_TASK_DNG || k == CDVAE_PART_LATTICE || k == CDVAE_PART_COORD || k == CDVAE_PART_KL;
        assert_true(used ? isfinite(l.parts[k]) && l.parts[k] >= 0 : isnan(l.parts[k]));
    }
    cdvae_data_free(&d);
    cb_model_find("cdvae")->destroy(m);
    cb_config_free(&c);
}

static void test_gradient_dng(void **state)
{
    (void)state;
    gradient_check("dng (structure encoder)", CB_TASK_DNG, NULL);
}

static void test_gradient_csp(void **state)
{
    (void)state;
    gradient_check("csp (composition encoder)", CB_TASK_CSP, NULL);
}

static void test_gradient_reconstruction(void **state)
{
    (void)state;
    gradient_check("csp (structure encoder: reconstruction)", CB_TASK_CSP, "structure");
}

/* σ_0 = begin, σ_{n−1} = end, a constant ratio between. */
static void test_sigmas(void **state)
{
    (void)state;
    assert_float_equal(cdvae_sigma(0, 50, 10, 0.01), 10, 1e-12);
    assert_float_equal(cdvae_sigma(49, 50, 10, 0.01), 0.01, 1e-14);
    double r = cdvae_sigma(1, 50, 10, 0.01) / cdvae_sigma(0, 50, 10, 0.01);
    assert_float_equal(r, pow(1e-3, 1.0 / 49), 1e-12);
    assert_float_equal(cdvae_sigma(30, 50, 10, 0.01) / cdvae_sigma(29, 50, 10, 0.01), r, 1e-12);
}

/* The scaler of two known cells: means and biased stds (+1e-5) of the scaled lattice. */
static void test_scaler(void **state)
{
    (void)state;
    cb_dataset two = {0};
    cb_error err;
    const double p[2][6] = {{4, 5, 6, 90, 90, 90}, {8, 8, 8, 60, 90, 120}};
    const int n[2] = {1, 8};
    for (int i = 0; i < 2; i++) {
        cb_crystal x = {0};
        assert_int_equal(cb_crystal_alloc(&x, n[i], &err), CB_OK);
        cb_lattice_from_parameters(p[i], x.lattice);
        for (int a = 0; a < n[i]; a++) x.z[a] = 8;
        assert_int_equal(cb_dataset_take(&two, &x, &err), CB_OK);
    }
    cdvae_scaler s;
    assert_int_equal(cdvae_scaler_fit(&two, &s, &err), CB_OK);
    /* scaled: (4, 5, 6, 90, 90, 90) and (4, 4, 4, 60, 90, 120) */
    const double mean[6] = {4, 4.5, 5, 75, 90, 105}, std[6] = {0, 0.5, 1, 15, 0, 15};
    for (int k = 0; k < 6; k++) {
        assert_float_equal(s.mean[k], mean[k], 1e-9);
        assert_float_equal(s.std[k], std[k] + 1e-5, 1e-9);
    }
    cb_dataset_free(&two);
}

/* sample_composition: exact fractions give exact counts; any p gives N valid types. */
static void test_sample_composition(void **state)
{
    (void)state;
    cb_rng rng;
    cb_rng_seed(&rng, 3);
    double p[CDVAE_CLASSES] = {0};
    p[25] = 0.5, p[7] = 0.5; /* Fe, O */
    int z[CDVAE_MAX_ATOMS];
    cdvae_sample_composition(p, 4, &rng, z);
    int fe = 0, o = 0;
    for (int i = 0; i < 4; i++) fe += z[i] == 26, o += z[i] == 8;
    assert_int_equal(fe, 2);
    assert_int_equal(o, 2);
    for (int k = 0; k < CDVAE_CLASSES; k++) p[k] = 1.0 / CDVAE_CLASSES; /* rounding gives none */
    for (int n = 1; n <= 20; n++) {
        cdvae_sample_composition(p, n, &rng, z);
        for (int i = 0; i < n; i++) assert_true(z[i] >= 1 && z[i] <= CDVAE_CLASSES);
    }
    memset(p, 0, sizeof p);
    p[0] = 0.3, p[1] = 0.7; /* 3 atoms: round(0.9) + round(2.1) = 1 + 2 */
    cdvae_sample_composition(p, 3, &rng, z);
    int h = 0;
    for (int i = 0; i < 3; i++) h += z[i] == 1;
    assert_int_equal(h, 1);
}

/* Thirty epochs lower the loss under fixed draws to below 80% of the initial one. */
static void test_training_lowers_loss(void **state)
{
    (void)state;
    for (unsigned task = CB_TASK_DNG; task <= CB_TASK_CSP; task <<= 1) {
        cb_config c;
        tiny_config(&c, "30", NULL);
        assert_int_equal(cb_config_set(&c, "teacher_forcing_epochs", "30", NULL), CB_OK);
        cdvae *m = cb_test_new_model("cdvae", &c, task);
        cdvae_data d;
        prepare(m, &d);
        loss_ctx l = {m, &d, 0, {0}};
        double before = loss_of(&l, 0);
        cb_error err;
        if (cdvae_train(m, &g_set, NULL, NULL, &err)) fail_msg("train: %s", err.msg);
        double after = loss_of(&l, 0);
        printf("%s: loss %.4f before, %.4f after 30 epochs (%llu steps)\n", task == CB_TASK_DNG ? "dng" : "csp",
               before, after, (unsigned long long)m->at.step);
        assert_true(after < 0.8 * before);
        cdvae_data_free(&d);
        cb_model_find("cdvae")->destroy(m);
        cb_config_free(&c);
    }
}

static void test_resume_is_exact(void **state)
{
    (void)state;
    cb_config c;
    tiny_config(&c, "4", NULL);
    assert_int_equal(cb_config_set(&c, "teacher_forcing_epochs", "2", NULL), CB_OK); /* both regimes */
    cb_test_resume_exact("cdvae", &c, CB_TASK_DNG, &g_set);
    cb_config_free(&c);
}

static void test_samples(void **state)
{
    (void)state;
    cb_config c;
    tiny_config(&c, "2", NULL);
    cb_error err;
    assert_int_equal(cb_crystal_set_id(&g_set.items[3], "target-3", &err), CB_OK);
    for (unsigned task = CB_TASK_DNG; task <= CB_TASK_CSP; task <<= 1)
        cb_test_samples_stable("cdvae", &c, task, &g_set);
    assert_int_equal(cb_config_set(&c, "encoder", "structure", &err), CB_OK);
    cb_test_samples_stable("cdvae", &c, CB_TASK_CSP, &g_set);
    cb_config_free(&c);
}

static void test_bad_configs(void **state)
{
    (void)state;
    const cb_model_ops *ops = cb_model_find("cdvae");
    static const char *const bad[][3] = {{"encoder", "composition", "is for CSP"},
                                         {"encoder", "graph", "structure or composition"},
                                         {"sigma_end", "20", "must fall"},
                                         {"latent", "0", "latent"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cb_config c;
        tiny_config(&c, "1", NULL);
        cb_error err;
        assert_int_equal(cb_config_set(&c, bad[i][0], bad[i][1], &err), CB_OK);
        void *st = NULL;
        assert_int_equal(ops->create(&c, CB_TASK_DNG, &st, &err), CB_ERR_USAGE);
        if (!strstr(err.msg, bad[i][2])) fail_msg("%s = %s: '%s'", bad[i][0], bad[i][1], err.msg);
        assert_null(st);
        cb_config_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigmas),          cmocka_unit_test(test_scaler),
        cmocka_unit_test(test_sample_composition), cmocka_unit_test(test_gradient_dng),
        cmocka_unit_test(test_gradient_csp),    cmocka_unit_test(test_gradient_reconstruction),
        cmocka_unit_test(test_training_lowers_loss), cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_samples),         cmocka_unit_test(test_bad_configs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
