/* The FlowMM backend (models/flowmm/flowmm.h) on synthetic crystals, so nothing here
 * needs ../shared:
 *   - the loss gradient through the whole wrapper (z-scored lattice in, de-standardised
 *     velocities, drift removal, loss weights) against central differences of the loss
 *     itself, for CSP and DNG;
 *   - training lowers the loss (fixed draws, before and after a few epochs);
 *   - 2N steps = N steps, checkpoint, load, N steps: the two final checkpoints are the
 *     same bytes;
 *   - a checkpoint of another configuration, or a damaged one, is refused with a
 *     message naming the file;
 *   - decoding: a sampled crystal is well formed and keeps the target's atoms (CSP), and
 *     is the same whatever the number of sampling workers. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/flowmm/flowmm.h"
#include "testutil.h"

#define N_CRYSTALS 24

static cb_dataset g_set; /* synthetic crystals: 1–6 atoms, angles 70–110°, Z 1–60 */

static void make_crystals(void)
{
    cb_rng rng;
    cb_rng_seed(&rng, 7);
    cb_error err;
    memset(&g_set, 0, sizeof g_set);
    for (int c = 0; c < N_CRYSTALS; c++) {
        cb_crystal x = {0};
        int n = 1 + (int)cb_rng_below(&rng, 6);
        assert_int_equal(cb_crystal_alloc(&x, n, &err), CB_OK);
        double p[6];
        for (int k = 0; k < 3; k++) p[k] = 3.0 + 4.0 * cb_rng_uniform(&rng);
        for (int k = 3; k < 6; k++) p[k] = 70.0 + 40.0 * cb_rng_uniform(&rng);
        cb_lattice_from_parameters(p, x.lattice);
        for (int i = 0; i < n; i++) {
            x.z[i] = 1 + (int)cb_rng_below(&rng, 60);
            for (int k = 0; k < 3; k++) x.frac[i][k] = cb_rng_uniform(&rng);
        }
        assert_int_equal(cb_dataset_take(&g_set, &x, &err), CB_OK);
    }
}

static int setup(void **state)
{
    if (cb_test_scratch_setup(state)) return -1;
    make_crystals();
    return 0;
}

static int teardown(void **state)
{
    cb_dataset_free(&g_set);
    return cb_test_scratch_teardown(state);
}

static void tiny_config(cb_config *c, const char *epochs)
{
    cb_error err;
    static const char *const kv[][2] = {{"hidden", "8"},       {"layers", "2"},  {"n_freq", "4"},
                                        {"time_dim", "4"},     {"batch", "6"},   {"stats_passes", "2"},
                                        {"sample_steps", "4"}, {"lr", "3e-3"}, {"lr_min", "3e-3"}};
    assert_int_equal(cb_config_init(c, "test [flowmm]", &err), CB_OK);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        assert_int_equal(cb_config_set(c, kv[i][0], kv[i][1], &err), CB_OK);
    assert_int_equal(cb_config_set(c, "epochs", epochs, &err), CB_OK);
}

static flowmm *new_model(const cb_config *c, unsigned task)
{
    const cb_model_ops *m = cb_model_find("flowmm");
    assert_non_null(m);
    void *st = NULL;
    cb_error err;
    if (m->create(c, task, &st, &err)) fail_msg("create: %s", err.msg);
    return st;
}

/* Statistics of the prepared crystals, no step taken. */
static void with_stats(flowmm *m, const flowmm_data *d)
{
    cb_rng rng;
    cb_rng_seed(&rng, 3);
    cb_error err;
    assert_int_equal(cb_flowmm_stats_compute(&d->kept, 2, &rng, &m->net.stats, &err), CB_OK);
    m->have_stats = 1;
}

/* loss(w) with the draws of seed 11 */
static double loss_at(flowmm *m, const flowmm_data *d, int backward)
{
    const flowmm_example *ex[N_CRYSTALS];
    for (size_t i = 0; i < d->n; i++) ex[i] = &d->ex[i];
    cb_rng rng;
    cb_rng_seed(&rng, 11);
    double loss;
    cb_error err;
    if (flowmm_loss(&m->net, m->net.p.w, &m->batch, ex, (int)d->n, &rng, backward, &loss, &err))
        fail_msg("loss: %s", err.msg);
    return loss;
}

/* In every tensor, its 3 largest gradient entries and 2 random ones, against central
 * differences of the float32 loss (step h = 1e-2·max(1, |w|)/8): |a − n| must stay below
 * 2e-2·max(|a|, |n|) + 1e-3·(the tensor's largest |g|) + 1e-6·loss/h, so each tensor is
 * held to its own scale (the lattice head's gradients are far larger than the
 * coordinate head's) down to the resolution of the difference quotient. */
static void gradient_check(unsigned task)
{
    cb_config c;
    tiny_config(&c, "1");
    flowmm *m = new_model(&c, task);
    flowmm_data d;
    cb_error err;
    assert_int_equal(flowmm_data_prepare(&g_set, &d, &err), CB_OK);
    with_stats(m, &d);
    cb_nn_params *p = &m->net.p;
    cb_nn_params_zero_grad(p);
    double l0 = loss_at(m, &d, 1);
    float *g = malloc(p->count * sizeof *g);
    memcpy(g, p->grad, p->count * sizeof *g);
    cb_rng rng;
    cb_rng_seed(&rng, 5);
    double worst = 0;
    int checked = 0;
    for (size_t t = 0; t < p->ntensors; t++) {
        const cb_nn_tensor *ten = &p->tensors[t];
        const float *gt = g + ten->offset;
        double tmax = 0;
        for (size_t i = 0; i < ten->size; i++) tmax = fmax(tmax, fabs(gt[i]));
        if (tmax == 0) continue; /* not reached (unused type head, absent atom counts) */
        size_t pick[5];
        int np = 0;
        for (int k = 0; k < 3 && (size_t)k < ten->size; k++) {
            size_t best = 0;
            double bv = -1;
            for (size_t i = 0; i < ten->size; i++) {
                int taken = 0;
                for (int q = 0; q < np; q++) taken |= pick[q] == i;
                if (!taken && fabs(gt[i]) > bv) bv = fabs(gt[i]), best = i;
            }
            pick[np++] = best;
        }
        for (int k = 0; k < 2; k++) pick[np++] = (size_t)cb_rng_below(&rng, ten->size);
        for (int q = 0; q < np; q++) {
            size_t i = ten->offset + pick[q];
            float w0 = p->w[i];
            float h = (float)(1e-2 * fmax(1.0, fabs(w0)) / 8);
            p->w[i] = w0 + h;
            double lp = loss_at(m, &d, 0);
            p->w[i] = w0 - h;
            double lm = loss_at(m, &d, 0);
            p->w[i] = w0;
            double num = (lp - lm) / ((double)(w0 + h) - (double)(w0 - h)), a = g[i];
            /* the float loss is good to ~1e-7 relative: a difference quotient of it to
             * about 1e-6·loss / h, below which no gradient can be told apart */
            double noise = 1e-6 * fabs(l0) / h;
            worst = fmax(worst, fabs(a - num) / (fmax(fabs(a), fabs(num)) + 0.05 * tmax + noise));
            if (fabs(a - num) > 2e-2 * fmax(fabs(a), fabs(num)) + 1e-3 * tmax + noise)
                fail_msg("%s: %s[%zu]: backward %.6g, central difference %.6g", task == CB_TASK_DNG ? "dng" : "csp",
                         ten->name, pick[q], a, num);
            checked++;
        }
    }
    printf("%s: loss %.5f, %d gradient entries checked, worst relative error %.2e\n",
           task == CB_TASK_DNG ? "dng" : "csp", l0, checked, worst);
    free(g);
    flowmm_data_free(&d);
    cb_model_find("flowmm")->destroy(m);
    cb_config_free(&c);
}

static void test_gradient_csp(void **state)
{
    (void)state;
    gradient_check(CB_TASK_CSP);
}

static void test_gradient_dng(void **state)
{
    (void)state;
    gradient_check(CB_TASK_DNG);
}

/* Thirty epochs lower the loss under fixed draws to below 80% of the initial one. */
static void test_training_lowers_loss(void **state)
{
    (void)state;
    for (unsigned task = CB_TASK_DNG; task <= CB_TASK_CSP; task <<= 1) {
        cb_config c;
        tiny_config(&c, "30");
        flowmm *m = new_model(&c, task);
        flowmm_data d;
        cb_error err;
        assert_int_equal(flowmm_data_prepare(&g_set, &d, &err), CB_OK);
        with_stats(m, &d);
        double before = loss_at(m, &d, 0);
        if (flowmm_train(m, &g_set, NULL, NULL, &err)) fail_msg("train: %s", err.msg);
        double after = loss_at(m, &d, 0);
        printf("%s: loss %.4f before, %.4f after 30 epochs (%llu steps)\n", task == CB_TASK_DNG ? "dng" : "csp",
               before, after, (unsigned long long)m->at.step);
        assert_true(after < 0.8 * before);
        flowmm_data_free(&d);
        cb_model_find("flowmm")->destroy(m);
        cb_config_free(&c);
    }
}

static volatile sig_atomic_t g_stop;

static int stop_now(void *user, long step, const char *const *names, const double *values, size_t n)
{
    (void)user, (void)step, (void)names, (void)values, (void)n;
    g_stop = 1;
    return 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len ? *len : 1);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

/* Uninterrupted 4 epochs against 1 epoch, checkpoint, load into a new state, 3 more. */
static void test_resume_is_exact(void **state)
{
    (void)state;
    const cb_model_ops *ops = cb_model_find("flowmm");
    cb_config c;
    tiny_config(&c, "4");
    cb_error err;
    char a[4200], b[4200], partial[4200];
    snprintf(a, sizeof a, "%s/straight.ckpt", cb_test_scratch());
    snprintf(b, sizeof b, "%s/resumed.ckpt", cb_test_scratch());
    snprintf(partial, sizeof partial, "%s/partial.ckpt", cb_test_scratch());

    flowmm *m = new_model(&c, CB_TASK_DNG);
    assert_int_equal(ops->train(m, &g_set, &g_set, NULL, &err), CB_OK);
    assert_int_equal(ops->save(m, a, &err), CB_OK);
    ops->destroy(m);

    m = new_model(&c, CB_TASK_DNG);
    g_stop = 0;
    cb_train_ctx stop = {.log = stop_now, .stop = &g_stop};
    assert_int_equal(ops->train(m, &g_set, &g_set, &stop, &err), CB_ERR_INTERRUPTED);
    assert_non_null(strstr(err.msg, "interrupted at step"));
    assert_int_equal(ops->save(m, partial, &err), CB_OK);
    uint64_t at = m->at.step;
    ops->destroy(m);
    m = new_model(&c, CB_TASK_DNG);
    assert_int_equal(ops->load(m, partial, &err), CB_OK);
    assert_int_equal(m->at.step, at);
    assert_int_equal(ops->train(m, &g_set, &g_set, NULL, &err), CB_OK);
    assert_int_equal(ops->save(m, b, &err), CB_OK);
    ops->destroy(m);

    size_t la, lb;
    unsigned char *x = slurp(a, &la), *y = slurp(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(x, y, la);
    printf("4 epochs straight = interrupted at step %llu + resumed: %zu bytes identical\n", (unsigned long long)at,
           la);
    free(x);
    free(y);
    cb_config_free(&c);
}

static void test_bad_checkpoints(void **state)
{
    (void)state;
    const cb_model_ops *ops = cb_model_find("flowmm");
    cb_config c, other;
    tiny_config(&c, "1");
    tiny_config(&other, "1");
    cb_error err;
    assert_int_equal(cb_config_set(&other, "hidden", "16", &err), CB_OK);
    char path[4200], cut[4200];
    snprintf(path, sizeof path, "%s/one.ckpt", cb_test_scratch());
    snprintf(cut, sizeof cut, "%s/cut.ckpt", cb_test_scratch());
    flowmm *m = new_model(&c, CB_TASK_CSP);
    assert_int_equal(ops->save(m, path, &err), CB_ERR_USAGE); /* nothing trained */
    assert_int_equal(ops->train(m, &g_set, NULL, NULL, &err), CB_OK);
    assert_int_equal(ops->save(m, path, &err), CB_OK);
    ops->destroy(m);

    m = new_model(&other, CB_TASK_CSP);
    assert_int_equal(ops->load(m, path, &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, path));
    ops->destroy(m);
    m = new_model(&c, CB_TASK_DNG); /* the other task's network */
    assert_int_equal(ops->load(m, path, &err), CB_ERR_INVALID);
    ops->destroy(m);

    size_t len;
    unsigned char *bytes = slurp(path, &len);
    FILE *f = fopen(cut, "wb");
    fwrite(bytes, 1, len - 100, f);
    fclose(f);
    free(bytes);
    m = new_model(&c, CB_TASK_CSP);
    assert_int_equal(ops->load(m, cut, &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, cut));
    /* sampling before any training or load is refused */
    cb_rng rng;
    cb_rng_seed(&rng, 1);
    cb_crystal out[1];
    assert_int_equal(ops->predict_csp(m, g_set.items, 1, &rng, out, &err), CB_ERR_USAGE);
    assert_int_equal(ops->sample_dng(m, 1, &rng, out, &err), CB_ERR_USAGE); /* wrong task */
    ops->destroy(m);
    cb_config_free(&c);
    cb_config_free(&other);
}

/* CSP predictions keep the target's atoms in order and its id; DNG samples have 1..6
 * atoms (the training sizes) and real elements. */
static void test_samples(void **state)
{
    (void)state;
    const cb_model_ops *ops = cb_model_find("flowmm");
    cb_config c;
    tiny_config(&c, "2");
    cb_error err;
    cb_rng rng;
    for (unsigned task = CB_TASK_DNG; task <= CB_TASK_CSP; task <<= 1) {
        flowmm *m = new_model(&c, task);
        assert_int_equal(ops->train(m, &g_set, NULL, NULL, &err), CB_OK);
        cb_crystal out[6];
        cb_rng_seed(&rng, 2);
        assert_int_equal(cb_crystal_set_id(&g_set.items[3], "target-3", &err), CB_OK);
        int rc = task == CB_TASK_DNG ? ops->sample_dng(m, 6, &rng, out, &err)
                                     : ops->predict_csp(m, g_set.items, 6, &rng, out, &err);
        if (rc) fail_msg("%s", err.msg);
        for (int i = 0; i < 6; i++) {
            assert_int_equal(cb_crystal_check(&out[i], "sample", &err), CB_OK);
            assert_true(out[i].n >= 1 && out[i].n <= 6);
            if (task == CB_TASK_CSP) {
                assert_int_equal(out[i].n, g_set.items[i].n);
                assert_memory_equal(out[i].z, g_set.items[i].z, (size_t)out[i].n * sizeof *out[i].z);
            }
            for (int k = 0; k < out[i].n; k++)
                for (int d = 0; d < 3; d++) assert_true(out[i].frac[k][d] >= 0 && out[i].frac[k][d] < 1);
        }
        if (task == CB_TASK_CSP) assert_string_equal(out[3].id, "target-3");
        /* one worker or three: the same crystals, bit for bit */
        for (int w = 1; w <= 3; w += 2) {
            m->net.cfg.sample_threads = w;
            cb_crystal again[6];
            cb_rng_seed(&rng, 2);
            rc = task == CB_TASK_DNG ? ops->sample_dng(m, 6, &rng, again, &err)
                                     : ops->predict_csp(m, g_set.items, 6, &rng, again, &err);
            if (rc) fail_msg("%s", err.msg);
            for (int i = 0; i < 6; i++) {
                assert_int_equal(again[i].n, out[i].n);
                assert_memory_equal(again[i].lattice, out[i].lattice, sizeof out[i].lattice);
                assert_memory_equal(again[i].frac, out[i].frac, (size_t)out[i].n * sizeof *out[i].frac);
                assert_memory_equal(again[i].z, out[i].z, (size_t)out[i].n * sizeof *out[i].z);
                cb_crystal_free(&again[i]);
            }
        }
        for (int i = 0; i < 6; i++) cb_crystal_free(&out[i]);
        ops->destroy(m);
    }
    cb_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_csp),      cmocka_unit_test(test_gradient_dng),
        cmocka_unit_test(test_training_lowers_loss), cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_bad_checkpoints),   cmocka_unit_test(test_samples),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
