/* Interrupted training resumes: a backend stopped mid-training (the stop flag set, as
 * Ctrl-C does) has its state saved as a partial checkpoint; the next run loads it and
 * continues, and ends with the same loss curve (each step once), the same checkpoint
 * and bit-identical metrics as a run that was never interrupted.
 *
 * The backend here is a test double driven through the real pipeline: ten "steps" of a
 * deterministic recurrence, one logged loss per step, samples that depend on the
 * trained value, and a hook that raises the stop flag after a chosen step. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../harness/pipeline.h"
#include "../harness/plan.h"
#include "crystalbench/dataset.h"
#include "crystalbench/store.h"
#include "support/testutil.h"

#define STEPS 10

static volatile sig_atomic_t g_flag; /* the pipeline's stop flag in these tests */
static long g_stop_after = -1;       /* raise it after this step (-1: never) */

typedef struct counter {
    long step;
    double w;
} counter;

static int c_create(const cb_config *cfg, unsigned task, void **state, cb_error *err)
{
    (void)cfg, (void)task;
    *state = calloc(1, sizeof(counter));
    return *state ? CB_OK : cb_fail(err, CB_ERR_NOMEM, "out of memory");
}

static void c_destroy(void *state) { free(state); }

static int c_train(void *state, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx, cb_error *err)
{
    (void)train, (void)val;
    counter *c = state;
    for (; c->step < STEPS; c->step++) {
        if (ctx->stop && *ctx->stop) return cb_fail(err, CB_ERR_INTERRUPTED, "counter: interrupted");
        c->w = 0.5 * c->w + 1.0 / (double)(c->step + 1);
        const char *names[] = {"loss"};
        if (ctx->log && ctx->log(ctx->user, c->step, names, &c->w, 1)) return cb_fail(err, CB_ERR_DB, "log");
        if (c->step == g_stop_after) g_flag = 1; /* "Ctrl-C" while this step ran */
    }
    return CB_OK;
}

static int c_save(const void *state, const char *path, cb_error *err)
{
    const counter *c = state;
    FILE *f = fopen(path, "w");
    if (!f) return cb_fail(err, CB_ERR_IO, "%s: cannot write", path);
    fprintf(f, "%ld %a\n", c->step, c->w);
    return fclose(f) ? cb_fail(err, CB_ERR_IO, "%s: write error", path) : CB_OK;
}

static int c_load(void *state, const char *path, cb_error *err)
{
    counter *c = state;
    FILE *f = fopen(path, "r");
    if (!f) return cb_fail(err, CB_ERR_IO, "%s: cannot read", path);
    int ok = fscanf(f, "%ld %la", &c->step, &c->w) == 2;
    fclose(f);
    return ok ? CB_OK : cb_fail(err, CB_ERR_INVALID, "%s: not a counter checkpoint", path);
}

/* Rock-salt-like cubic cells whose size depends on the trained value. */
static int c_sample(void *state, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err)
{
    const counter *c = state;
    for (size_t i = 0; i < n; i++) {
        int rc = cb_crystal_alloc(&out[i], 2, err);
        if (rc) return rc;
        double a = 4.0 + c->w + 0.5 * cb_rng_uniform(rng);
        memset(out[i].lattice, 0, sizeof out[i].lattice);
        for (int k = 0; k < 3; k++) out[i].lattice[k][k] = a;
        out[i].z[0] = 11, out[i].z[1] = 17;
        memset(out[i].frac, 0, sizeof out[i].frac[0]);
        for (int k = 0; k < 3; k++) out[i].frac[1][k] = 0.5;
    }
    return CB_OK;
}

static const cb_model_ops counter_ops = {
    .abi_version = CB_MODEL_ABI,
    .name = "counter",
    .summary = "test double",
    .tasks = CB_TASK_DNG,
    .create = c_create,
    .train = c_train,
    .save = c_save,
    .load = c_load,
    .sample_dng = c_sample,
    .destroy = c_destroy,
};

static char data_dir[4096];

/* The first `rows` structures of shared perov_5/<split>.csv as data_dir/<split>.csv. */
static void head(const char *split, size_t rows)
{
    char rel[64], dst[4200];
    snprintf(rel, sizeof rel, "perov_5/%s.csv", split);
    snprintf(dst, sizeof dst, "%s/%s.csv", data_dir, split);
    cb_test_write_head(rel, rows, dst);
}

/* Runs the pipeline on a config whose one model is the counter; returns its status. */
static int run(const char *name, long stop_after, cb_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.ini", cb_test_scratch(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "[run]\ndb = %s/%s.db\nworkdir = %s/%s-work\n\n[dataset perov_5]\ndir = %s\ntasks = dng\n"
            "dng_samples = 40\ndng_subset = all\n\n[model c]\nbackend = example\ntasks = dng\n",
            cb_test_scratch(), name, cb_test_scratch(), name, data_dir);
    fclose(f);
    cb_plan plan;
    assert_int_equal(cb_plan_load(path, &plan, err), CB_OK);
    plan.models[0].ops = &counter_ops; /* the real backend named in the file is replaced */
    g_flag = 0;
    g_stop_after = stop_after;
    cb_pipeline_opts o = {.stop = &g_flag};
    int rc = cb_pipeline_run(&plan, &o, err);
    cb_plan_free(&plan);
    return rc;
}

static cb_store *open_db(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.db", cb_test_scratch(), name);
    cb_store *s;
    cb_error err;
    assert_int_equal(cb_store_open_existing(path, &s, &err), CB_OK);
    return s;
}

static int64_t latest_done(cb_store *s)
{
    cb_run r;
    cb_error err;
    cb_run_filter f = {.model = "c"};
    assert_int_equal(cb_store_latest_run(s, &f, &r, &err), CB_OK);
    int64_t id = r.id;
    cb_run_free(&r);
    return id;
}

static size_t count_files(const char *name, const char *suffix)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "ls '%s/%s-work/c/perov_5/' | grep -c '%s$'", cb_test_scratch(), name, suffix);
    int st;
    char *out = cb_test_run(cmd, &st);
    size_t n = (size_t)atol(out);
    free(out);
    return n;
}

static void test_interrupted_training_resumes(void **state)
{
    (void)state;
    if (!data_dir[0]) skip();
    cb_error err;
    /* The reference: never interrupted. */
    assert_int_equal(run("fresh", -1, &err), CB_OK);
    /* Stopped after step 3 of 10: partial checkpoint, no checkpoint, run failed. */
    assert_int_equal(run("resumed", 3, &err), CB_ERR_INTERRUPTED);
    assert_int_equal(count_files("resumed", "dng-.*\\.partial\\.ckpt"), 1);
    assert_int_equal(count_files("resumed", "[0-9a-f]\\.ckpt"), 0);
    cb_store *s = open_db("resumed");
    cb_run *runs;
    size_t n;
    assert_int_equal(cb_store_list_runs(s, NULL, &runs, &n, &err), CB_OK);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].status, CB_RUN_FAILED);
    assert_non_null(strstr(runs[0].message, "interrupted"));
    cb_runs_free(runs, n);
    cb_store_close(s);

    /* The same command again: continues from step 4 and finishes. */
    assert_int_equal(run("resumed", -1, &err), CB_OK);
    assert_int_equal(count_files("resumed", "partial\\.ckpt"), 0);
    assert_int_equal(count_files("resumed", "[0-9a-f]\\.ckpt"), 1);

    cb_store *a = open_db("fresh"), *b = open_db("resumed");
    int64_t ia = latest_done(a), ib = latest_done(b);
    /* The loss curve: every step once, the same values. */
    cb_train_point *pa, *pb;
    size_t na, nb;
    assert_int_equal(cb_store_get_train_log(a, ia, "loss", &pa, &na, &err), CB_OK);
    assert_int_equal(cb_store_get_train_log(b, ib, "loss", &pb, &nb, &err), CB_OK);
    assert_int_equal(na, STEPS);
    assert_int_equal(nb, STEPS);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(pb[i].step, (int64_t)i);
        assert_memory_equal(&pa[i].value, &pb[i].value, sizeof(double));
    }
    cb_train_points_free(pa, na);
    cb_train_points_free(pb, nb);
    /* The metrics, bit for bit. */
    cb_metric *ma, *mb;
    assert_int_equal(cb_store_get_metrics(a, ia, &ma, &na, &err), CB_OK);
    assert_int_equal(cb_store_get_metrics(b, ib, &mb, &nb, &err), CB_OK);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(ma[i].name, mb[i].name);
        if (!(isnan(ma[i].value) && isnan(mb[i].value)))
            assert_memory_equal(&ma[i].value, &mb[i].value, sizeof(double));
    }
    cb_metrics_free(ma, na);
    cb_metrics_free(mb, nb);
    cb_store_close(a);
    cb_store_close(b);
}

static int setup(void **state)
{
    int rc = cb_test_scratch_setup(state);
    if (rc || !cb_test_shared_data()) return rc;
    snprintf(data_dir, sizeof data_dir, "%s/perov_5", cb_test_scratch());
    mkdir(data_dir, 0777);
    head("val", 60);
    head("test", 30);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_interrupted_training_resumes)};
    return cmocka_run_group_tests(tests, setup, cb_test_scratch_teardown);
}
