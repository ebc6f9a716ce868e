/* The contract every registered backend must keep (include/crystalbench/model.h):
 * create → train a step (or a no-op) → save → load into a fresh state → sample N and
 * predict for targets → shapes and finiteness → the loaded state gives the same output
 * as the saved one for the same RNG seed → clean errors on a bad configuration.
 *
 * A backend joins by adding a row to `cases` with a function that builds a tiny
 * configuration for it. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/elements.h"
#include "crystalbench/model.h"
#include "testutil.h"

#define N_SAMPLES 8

static cb_dataset g_train; /* a few Perov-5 structures written to cb_test_scratch() */
static char g_train_path[4096];

static const char *cb_test_task_name(unsigned task) { return task == CB_TASK_DNG ? "dng" : "csp"; }

/* ---- per-backend tiny configurations ---- */

static int config_external(cb_config *c, cb_error *err)
{
    int rc = cb_config_init(c, "contract test [external]", err);
    if (!rc) rc = cb_config_set(c, "samples", g_train_path, err);
    if (!rc) rc = cb_config_set(c, "predictions", g_train_path, err);
    return rc;
}

static int config_example(cb_config *c, cb_error *err)
{
    int rc = cb_config_init(c, "contract test [example]", err);
    if (!rc) rc = cb_config_set(c, "max_atoms", "40", err);
    return rc;
}

/* A network of a few thousand parameters, two epochs of four steps, three Euler steps. */
static int config_flowmm(cb_config *c, cb_error *err)
{
    static const char *const kv[][2] = {{"hidden", "8"},      {"layers", "2"},       {"n_freq", "4"},
                                        {"time_dim", "4"},    {"batch", "4"},        {"epochs", "2"},
                                        {"stats_passes", "1"}, {"sample_steps", "3"},
                                        {"val_every", "1"}};
    int rc = cb_config_init(c, "contract test [flowmm]", err);
    for (size_t i = 0; !rc && i < sizeof kv / sizeof kv[0]; i++) rc = cb_config_set(c, kv[i][0], kv[i][1], err);
    return rc;
}

/* An encoder, heads and decoder of a few thousand parameters, 5 noise levels of 2 steps. */
static int config_cdvae(cb_config *c, cb_error *err)
{
    static const char *const kv[][2] = {{"latent", "8"},   {"head_hidden", "8"}, {"comp_hidden", "8"},
                                        {"enc_hidden", "8"}, {"enc_layers", "1"}, {"hidden", "8"},
                                        {"layers", "1"},   {"n_freq", "4"},      {"time_dim", "4"},
                                        {"batch", "4"},    {"epochs", "2"},      {"n_sigmas", "5"},
                                        {"n_step_each", "2"}, {"val_every", "1"}};
    int rc = cb_config_init(c, "contract test [cdvae]", err);
    for (size_t i = 0; !rc && i < sizeof kv / sizeof kv[0]; i++) rc = cb_config_set(c, kv[i][0], kv[i][1], err);
    return rc;
}

/* A GPT of a few thousand parameters, one epoch; the samples mostly do not parse, which
 * the contract allows (placeholders are well formed). */
static int config_text(cb_config *c, cb_error *err)
{
    static const char *const kv[][2] = {{"d", "8"},      {"layers", "1"}, {"heads", "2"}, {"ctx", "96"},
                                        {"batch", "4"},  {"epochs", "2"}, {"warmup", "2"}, {"val_every", "1"},
                                        {"max_atoms", "20"}};
    int rc = cb_config_init(c, "contract test [text]", err);
    for (size_t i = 0; !rc && i < sizeof kv / sizeof kv[0]; i++) rc = cb_config_set(c, kv[i][0], kv[i][1], err);
    return rc;
}

static const struct {
    const char *name;
    int (*config)(cb_config *c, cb_error *err);
} cases[] = {
    {"external", config_external},
    {"example", config_example},
    {"flowmm", config_flowmm},
    {"cdvae", config_cdvae},
    {"text", config_text},
};

/* ---- fixtures ---- */

static int setup(void **state)
{
    if (cb_test_scratch_setup(state)) return -1;
    const char *src = cb_test_data_file("perov_5/test.csv");
    if (!src) return 0; /* tests skip */
    cb_dataset all;
    cb_error err;
    if (cb_dataset_load(src, CB_FORMAT_AUTO, &all, &err)) return -1;
    memset(&g_train, 0, sizeof g_train);
    g_train.items = calloc(2 * N_SAMPLES, sizeof *g_train.items);
    g_train.cap = 2 * N_SAMPLES;
    for (size_t i = 0; i < 2 * N_SAMPLES; i++)
        if (cb_crystal_copy(&g_train.items[g_train.n++], &all.items[i], &err)) return -1;
    cb_dataset_free(&all);
    snprintf(g_train_path, sizeof g_train_path, "%s/train.csv", cb_test_scratch());
    return cb_dataset_write(g_train_path, CB_FORMAT_CSV, g_train.items, g_train.n, &err) ? -1 : 0;
}

static int teardown(void **state)
{
    if (g_train.items) cb_dataset_free(&g_train);
    return cb_test_scratch_teardown(state);
}

/* A crystal a metric can take: sites, known elements, finite numbers, a real cell. */
static void assert_well_formed(const cb_crystal *c, const char *what)
{
    if (c->n < 1) fail_msg("%s: no sites", what);
    for (int i = 0; i < c->n; i++) {
        if (c->z[i] < 1 || c->z[i] > 118) fail_msg("%s: site %d has Z = %d", what, i, c->z[i]);
        for (int k = 0; k < 3; k++)
            if (!isfinite(c->frac[i][k])) fail_msg("%s: site %d has a non-finite coordinate", what, i);
    }
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(c->lattice[a][k])) fail_msg("%s: non-finite lattice", what);
    /* a real cell; a generator's placeholder for a failure (cb_crystal_placeholder) may
     * be below the 0.1 Å³ every protocol calls invalid, which is the point of it */
    if (!(cb_crystal_volume(c) > 1e-6)) fail_msg("%s: cell volume %g", what, cb_crystal_volume(c));
}

static int same_crystal(const cb_crystal *a, const cb_crystal *b)
{
    return a->n == b->n && memcmp(a->lattice, b->lattice, sizeof a->lattice) == 0 &&
           memcmp(a->z, b->z, (size_t)a->n * sizeof *a->z) == 0 &&
           memcmp(a->frac, b->frac, (size_t)a->n * sizeof *a->frac) == 0;
}

/* Samples (DNG) or predictions for the training structures (CSP), seeded. */
static void run_task(const cb_model_ops *m, void *st, unsigned task, cb_crystal *out)
{
    cb_rng rng;
    cb_rng_seed(&rng, 1234);
    cb_error err;
    int rc = task == CB_TASK_DNG ? m->sample_dng(st, N_SAMPLES, &rng, out, &err)
                                 : m->predict_csp(st, g_train.items, N_SAMPLES, &rng, out, &err);
    if (rc) fail_msg("%s: %s: %s", m->name, task == CB_TASK_DNG ? "sample_dng" : "predict_csp", err.msg);
}

/* The same output asked for in two calls (the harness asks in chunks): the second
 * call continues where the first stopped, with the same RNG. */
static void run_task_chunked(const cb_model_ops *m, void *st, unsigned task, cb_crystal *out)
{
    cb_rng rng;
    cb_rng_seed(&rng, 1234);
    cb_error err;
    const int first = 5;
    for (int part = 0; part < 2; part++) {
        int at = part ? first : 0, n = part ? N_SAMPLES - first : first;
        int rc = task == CB_TASK_DNG ? m->sample_dng(st, (size_t)n, &rng, out + at, &err)
                                     : m->predict_csp(st, g_train.items + at, (size_t)n, &rng, out + at, &err);
        if (rc) fail_msg("%s: chunked %s: %s", m->name, task == CB_TASK_DNG ? "sample_dng" : "predict_csp", err.msg);
    }
}

/* Ctrl-C during training, as the harness handles it: a backend that stops
 * (CB_ERR_INTERRUPTED) is saved, loaded into a fresh state and trained again, and must
 * then give what the uninterrupted `trained` state gives.  A backend that trains in
 * one go returns CB_OK and has nothing more to show. */
static volatile sig_atomic_t g_stop_flag;

static int stop_at_first_log(void *user, long step, const char *const *names, const double *values, size_t n)
{
    (void)user, (void)step, (void)names, (void)values, (void)n;
    g_stop_flag = 1;
    return 0;
}

static void check_interrupted_training(const cb_model_ops *m, const cb_config *cfg, unsigned task, void *trained)
{
    cb_error err;
    void *a = NULL, *b = NULL;
    if (m->create(cfg, task, &a, &err)) fail_msg("%s: create: %s", m->name, err.msg);
    cb_dataset val = {g_train.items + N_SAMPLES, N_SAMPLES, N_SAMPLES, NULL};
    g_stop_flag = 0;
    cb_train_ctx stopping = {.log = stop_at_first_log, .stop = &g_stop_flag};
    int rc = m->train(a, &g_train, &val, &stopping, &err);
    if (rc == CB_OK) {
        m->destroy(a);
        return;
    }
    if (rc != CB_ERR_INTERRUPTED) fail_msg("%s: interrupted train: %s", m->name, err.msg);
    char partial[4200];
    snprintf(partial, sizeof partial, "%s/%s.%s.partial.ckpt", cb_test_scratch(), m->name, cb_test_task_name(task));
    if (m->save(a, partial, &err)) fail_msg("%s: save after an interrupt: %s", m->name, err.msg);
    if (m->create(cfg, task, &b, &err) || m->load(b, partial, &err)) fail_msg("%s: load: %s", m->name, err.msg);
    g_stop_flag = 0;
    cb_train_ctx plain = {.stop = &g_stop_flag};
    if (m->train(b, &g_train, &val, &plain, &err)) fail_msg("%s: resumed train: %s", m->name, err.msg);
    cb_crystal x[N_SAMPLES], y[N_SAMPLES];
    run_task(m, trained, task, x);
    run_task(m, b, task, y);
    for (int i = 0; i < N_SAMPLES; i++) {
        if (!same_crystal(&x[i], &y[i])) fail_msg("%s: output %d differs after an interrupted training", m->name, i);
        cb_crystal_free(&x[i]);
        cb_crystal_free(&y[i]);
    }
    m->destroy(a);
    m->destroy(b);
    printf("%s (%s): interrupted training resumed to the same state\n", m->name, cb_test_task_name(task));
}

/* One task: create → train → save → load (twice) → the same output from the trained
 * state, the loaded one and the loaded one asked in two chunks → resume after Ctrl-C. */
static void check_task(const cb_model_ops *m, const cb_config *cfg, unsigned task)
{
    cb_error err;
    void *st = NULL, *fresh = NULL, *chunked = NULL;
    if (m->create(cfg, task, &st, &err)) fail_msg("%s: create: %s", m->name, err.msg);
    cb_dataset val = {g_train.items + N_SAMPLES, N_SAMPLES, N_SAMPLES, NULL};
    if (m->train(st, &g_train, &val, NULL, &err)) fail_msg("%s: train: %s", m->name, err.msg);
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/%s.%s.ckpt", cb_test_scratch(), m->name, cb_test_task_name(task));
    if (m->save(st, ckpt, &err)) fail_msg("%s: save: %s", m->name, err.msg);
    if (m->create(cfg, task, &fresh, &err)) fail_msg("%s: create: %s", m->name, err.msg);
    if (m->load(fresh, ckpt, &err)) fail_msg("%s: load: %s", m->name, err.msg);
    if (m->create(cfg, task, &chunked, &err) || m->load(chunked, ckpt, &err)) fail_msg("%s: load: %s", m->name, err.msg);

    cb_crystal a[N_SAMPLES], b[N_SAMPLES], c[N_SAMPLES];
    run_task(m, st, task, a);
    run_task(m, fresh, task, b);
    run_task_chunked(m, chunked, task, c);
    for (int i = 0; i < N_SAMPLES; i++) {
        assert_well_formed(&a[i], m->name);
        if (!same_crystal(&a[i], &b[i])) fail_msg("%s: output %d differs after save/load", m->name, i);
        if (!same_crystal(&a[i], &c[i])) fail_msg("%s: output %d differs when asked for in two calls", m->name, i);
        cb_crystal_free(&a[i]);
        cb_crystal_free(&b[i]);
        cb_crystal_free(&c[i]);
    }
    check_interrupted_training(m, cfg, task, st);
    m->destroy(st);
    m->destroy(fresh);
    m->destroy(chunked);
}

static void check_backend(const cb_model_ops *m, int (*config)(cb_config *, cb_error *))
{
    cb_error err;
    assert_int_equal(m->abi_version, CB_MODEL_ABI);
    assert_true(m->tasks != 0);
    assert_true(!(m->tasks & CB_TASK_DNG) || m->sample_dng);
    assert_true(!(m->tasks & CB_TASK_CSP) || m->predict_csp);
    cb_config cfg;
    assert_int_equal(config(&cfg, &err), CB_OK);
    for (unsigned task = CB_TASK_DNG; task <= CB_TASK_CSP; task <<= 1)
        if (m->tasks & task) check_task(m, &cfg, task);
    m->destroy(NULL);

    /* a bad configuration: a clean error naming the key, no state */
    assert_int_equal(cb_config_set(&cfg, "no_such_option", "1", &err), CB_OK);
    for (unsigned task = CB_TASK_DNG; task <= CB_TASK_CSP; task <<= 1) {
        if (!(m->tasks & task)) continue;
        void *bad = (void *)&cfg;
        assert_int_equal(m->create(&cfg, task, &bad, &err), CB_ERR_USAGE);
        assert_null(bad);
        assert_non_null(strstr(err.msg, "no_such_option"));
    }
    cb_config_free(&cfg);
    printf("%s: create, train, save, load, %s%s: contract kept\n", m->name, m->tasks & CB_TASK_DNG ? "sample_dng " : "",
           m->tasks & CB_TASK_CSP ? "predict_csp" : "");
}

static void test_every_backend(void **state)
{
    (void)state;
    if (!g_train.items) skip();
    size_t n = sizeof cases / sizeof cases[0];
    /* every registered backend has a case, and every case a backend */
    for (size_t i = 0; i < cb_model_count(); i++) {
        size_t k = 0;
        while (k < n && strcmp(cases[k].name, cb_model_at(i)->name) != 0) k++;
        if (k == n) fail_msg("backend '%s' has no row in cases[] of this file: add one (a small config)",
                             cb_model_at(i)->name);
    }
    assert_int_equal(cb_model_count(), n);
    for (size_t i = 0; i < n; i++) {
        const cb_model_ops *m = cb_model_find(cases[i].name);
        if (!m) fail_msg("backend '%s' is not registered", cases[i].name);
        check_backend(m, cases[i].config);
    }
    assert_null(cb_model_find("no-such-backend"));
}

/* external: pairing by material_id, too few samples, missing files, bad checkpoints. */
static void test_external_errors(void **state)
{
    (void)state;
    if (!g_train.items) skip();
    const cb_model_ops *m = cb_model_find("external");
    cb_error err;
    cb_config cfg;
    void *st;
    assert_int_equal(cb_config_init(&cfg, "t", &err), CB_OK);
    assert_int_equal(m->create(&cfg, CB_TASK_DNG, &st, &err), CB_ERR_USAGE); /* neither file */
    assert_int_equal(cb_config_set(&cfg, "samples", g_train_path, &err), CB_OK);
    assert_int_equal(m->create(&cfg, CB_TASK_DNG, &st, &err), CB_OK);
    cb_crystal out[3 * N_SAMPLES];
    cb_rng rng;
    cb_rng_seed(&rng, 1);
    assert_int_equal(m->sample_dng(st, 3 * N_SAMPLES, &rng, out, &err), CB_ERR_INVALID); /* only 16 */
    assert_non_null(strstr(err.msg, "requested"));
    assert_int_equal(m->predict_csp(st, g_train.items, 1, &rng, out, &err), CB_ERR_USAGE); /* no predictions */
    char bogus[4200];
    snprintf(bogus, sizeof bogus, "%s/bogus.ckpt", cb_test_scratch());
    FILE *f = fopen(bogus, "w");
    fputs("something else\n", f);
    fclose(f);
    assert_int_equal(m->load(st, bogus, &err), CB_ERR_INVALID);
    m->destroy(st);

    /* predictions paired by material_id: reversed file order, same answers */
    cb_dataset rev = {calloc(N_SAMPLES, sizeof(cb_crystal)), N_SAMPLES, N_SAMPLES, NULL};
    for (int i = 0; i < N_SAMPLES; i++)
        assert_int_equal(cb_crystal_copy(&rev.items[i], &g_train.items[N_SAMPLES - 1 - i], &err), CB_OK);
    char rev_path[4200];
    snprintf(rev_path, sizeof rev_path, "%s/reversed.csv", cb_test_scratch());
    assert_int_equal(cb_dataset_write(rev_path, CB_FORMAT_CSV, rev.items, rev.n, &err), CB_OK);
    assert_int_equal(cb_config_set(&cfg, "predictions", rev_path, &err), CB_OK);
    assert_int_equal(m->create(&cfg, CB_TASK_CSP, &st, &err), CB_OK);
    assert_int_equal(m->predict_csp(st, g_train.items, N_SAMPLES, &rng, out, &err), CB_OK);
    for (int i = 0; i < N_SAMPLES; i++) {
        assert_string_equal(out[i].id, g_train.items[i].id);
        cb_crystal_free(&out[i]);
    }
    m->destroy(st);
    cb_dataset_free(&rev);
    cb_config_free(&cfg);
}

/* example: what it learns from Perov-5 (5-atom cells) shows in its samples. */
static void test_example_baseline(void **state)
{
    (void)state;
    if (!g_train.items) skip();
    const cb_model_ops *m = cb_model_find("example");
    cb_error err;
    cb_config cfg;
    void *st;
    assert_int_equal(cb_config_init(&cfg, "t", &err), CB_OK);
    assert_int_equal(m->create(&cfg, CB_TASK_DNG, &st, &err), CB_OK);
    cb_crystal out[64];
    cb_rng rng;
    cb_rng_seed(&rng, 5);
    assert_int_equal(m->sample_dng(st, 1, &rng, out, &err), CB_ERR_USAGE); /* not trained */
    assert_int_equal(m->train(st, &g_train, NULL, NULL, &err), CB_OK);
    int seen[CB_MAX_Z + 1] = {0};
    double vpa_train = 0, vpa_sampled = 0;
    for (size_t i = 0; i < g_train.n; i++) {
        for (int k = 0; k < g_train.items[i].n; k++) seen[g_train.items[i].z[k]] = 1;
        vpa_train += log(cb_crystal_volume(&g_train.items[i]) / g_train.items[i].n) / (double)g_train.n;
    }
    assert_int_equal(m->sample_dng(st, 64, &rng, out, &err), CB_OK);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(out[i].n, 5); /* every training cell has 5 atoms */
        for (int k = 0; k < out[i].n; k++) assert_true(seen[out[i].z[k]]);
        vpa_sampled += log(cb_crystal_volume(&out[i]) / out[i].n) / 64.0;
        cb_crystal_free(&out[i]);
    }
    /* the log volume per atom is drawn around the training mean */
    assert_true(fabs(vpa_sampled - vpa_train) < 0.1);
    /* CSP keeps the target's atoms and id */
    assert_int_equal(m->predict_csp(st, g_train.items, 3, &rng, out, &err), CB_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].n, g_train.items[i].n);
        assert_memory_equal(out[i].z, g_train.items[i].z, (size_t)out[i].n * sizeof *out[i].z);
        assert_string_equal(out[i].id, g_train.items[i].id);
        cb_crystal_free(&out[i]);
    }
    m->destroy(st);
    /* a bad value names the key */
    assert_int_equal(cb_config_set(&cfg, "max_atoms", "0", &err), CB_OK);
    assert_int_equal(m->create(&cfg, CB_TASK_DNG, &st, &err), CB_ERR_USAGE);
    assert_non_null(strstr(err.msg, "max_atoms"));
    cb_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_backend),
        cmocka_unit_test(test_external_errors),
        cmocka_unit_test(test_example_baseline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
