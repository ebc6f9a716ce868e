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
#include "nn_testlib.h"
#include "testutil.h"

#define N_CRYSTALS 24

static cb_dataset g_set; /* synthetic crystals: 1–6 atoms, angles 70–110°, Z 1–60 */

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

static void tiny_config(cb_config *c, const char *epochs)
{
    static const char *const kv[][2] = {{"hidden", "8"},       {"layers", "2"},  {"n_freq", "4"},
                                        {"time_dim", "4"},     {"batch", "6"},   {"stats_passes", "2"},
                                        {"sample_steps", "4"}, {"lr", "3e-3"}, {"lr_min", "3e-3"}};
    cb_test_config_kv(c, "test [flowmm]", kv, sizeof kv / sizeof kv[0], epochs);
}

static flowmm *new_model(const cb_config *c, unsigned task) { return cb_test_new_model("flowmm", c, task); }

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

typedef struct loss_ctx {
    flowmm *m;
    const flowmm_data *d;
} loss_ctx;

static double loss_of(void *ctx, int backward)
{
    loss_ctx *l = ctx;
    return loss_at(l->m, l->d, backward);
}

/* The loss gradient through the whole wrapper (nn_testlib.h's tolerance). */
static void gradient_check(unsigned task)
{
    cb_config c;
    tiny_config(&c, "1");
    flowmm *m = new_model(&c, task);
    flowmm_data d;
    cb_error err;
    assert_int_equal(flowmm_data_prepare(&g_set, &d, &err), CB_OK);
    with_stats(m, &d);
    loss_ctx l = {m, &d};
    cb_test_gradient_check(task == CB_TASK_DNG ? "dng" : "csp", &m->net.p, loss_of, &l);
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

/* Uninterrupted 4 epochs against 1 epoch, checkpoint, load into a new state, 3 more. */
static void test_resume_is_exact(void **state)
{
    (void)state;
    cb_config c;
    tiny_config(&c, "4");
    cb_test_resume_exact("flowmm", &c, CB_TASK_DNG, &g_set);
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
    char *bytes = cb_test_read_file(path, &len);
    assert_non_null(bytes);
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

/* Samples are well formed, keep a CSP target's atoms and id, and do not depend on the
 * number of sampling workers. */
static void test_samples(void **state)
{
    (void)state;
    cb_config c;
    tiny_config(&c, "2");
    cb_error err;
    assert_int_equal(cb_crystal_set_id(&g_set.items[3], "target-3", &err), CB_OK);
    for (unsigned task = CB_TASK_DNG; task <= CB_TASK_CSP; task <<= 1)
        cb_test_samples_stable("flowmm", &c, task, &g_set);
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
