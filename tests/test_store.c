/* The results store: run lifecycle and queries, caches, migrations, clear errors on
 * bad files, and the robustness promises: a writer killed mid-transaction leaves a
 * consistent database whose run is later marked failed, and two processes writing at
 * once both succeed without SQLITE_BUSY surfacing. */
#include <errno.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "crystalbench/hash.h"
#include "crystalbench/store.h"
#include "testutil.h"

/* Each test gets a fresh directory and a database path inside it. */
typedef struct fixture {
    char *dir;
    char path[4096];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = cb_test_tmpdir())) return -1;
    snprintf(f->path, sizeof f->path, "%s/results.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cb_test_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static cb_run_info info_for(const char *model, const char *task, const char *dataset)
{
    cb_run_info info = {0};
    info.model = model;
    info.task = task;
    info.dataset = dataset;
    info.git_rev = "0123abc"; /* no git subprocess in tests that do not test it */
    return info;
}

/* An integer from a one-value query through the store's connection. */
static long long query_int(cb_store *s, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(cb_store_handle(s), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) fail_msg("%s: %s", sql, msg ? msg : "?");
}

static void assert_one_line_naming(const cb_error *err, const char *path)
{
    assert_non_null(strstr(err->msg, path));
    assert_null(strchr(err->msg, '\n'));
}

/* ---- lifecycle ---- */

static void test_run_lifecycle(void **state)
{
    fixture *f = *state;
    cb_store *s;
    cb_error err = {0};
    assert_int_equal(cb_store_open(f->path, &s, &err), CB_OK);
    assert_string_equal(cb_store_path(s), f->path);
    assert_int_equal(query_int(s, "PRAGMA user_version"), CB_STORE_SCHEMA_VERSION);

    cb_run_info info = info_for("flowmm", "csp", "mp_20");
    info.dataset_path = "data/mp_20/test.csv";
    info.dataset_hash = "feedbeef";
    info.config = "lr = 1e-3\n";
    info.seed = UINT64_MAX - 1;
    int64_t id;
    assert_int_equal(cb_store_begin_run(s, &info, &id, &err), CB_OK);

    cb_run r;
    assert_int_equal(cb_store_get_run(s, id, &r, &err), CB_OK);
    assert_int_equal(r.id, id);
    assert_string_equal(r.model, "flowmm");
    assert_string_equal(r.task, "csp");
    assert_string_equal(r.dataset, "mp_20");
    assert_string_equal(r.dataset_path, "data/mp_20/test.csv");
    assert_string_equal(r.dataset_hash, "feedbeef");
    assert_string_equal(r.split, "standard");
    assert_string_equal(r.config, "lr = 1e-3\n");
    char want_hash[CB_SHA256_HEX];
    cb_sha256_hex(info.config, strlen(info.config), want_hash);
    assert_string_equal(r.config_hash, want_hash);
    assert_true(r.seed == UINT64_MAX - 1);
    assert_string_equal(r.git_rev, "0123abc");
    char host[256];
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    assert_string_equal(r.host, host);
    assert_int_equal(r.pid, (long)getpid());
    assert_int_equal(r.status, CB_RUN_RUNNING);
    assert_non_null(r.started_at);
    assert_int_equal(strlen(r.started_at), strlen("2025-01-01T00:00:00.000Z"));
    assert_null(r.ended_at);
    assert_null(r.message);
    cb_run_free(&r);

    /* Writes while running. */
    assert_int_equal(cb_store_put_metric(s, id, "match_rate", 0.5, &err), CB_OK);
    const char *names[] = {"rmse", "match_rate", "nan_metric", "inf_metric"};
    double values[] = {0.125, 0.625, NAN, INFINITY};
    assert_int_equal(cb_store_put_metrics(s, id, names, values, 4, &err), CB_OK);
    const char *cifs[] = {"data_a\n", NULL, "data_c\n"};
    assert_int_equal(cb_store_put_samples(s, id, 10, cifs, 3, &err), CB_OK);
    /* A nameless metric rolls the whole batch back. */
    const char *bad_names[] = {"ok_name", ""};
    double bad_values[] = {1, 2};
    assert_int_equal(cb_store_put_metrics(s, id, bad_names, bad_values, 2, &err), CB_ERR_USAGE);
    assert_one_line_naming(&err, f->path);
    double v;
    assert_int_equal(cb_store_get_metric(s, id, "ok_name", &v, &err), CB_ERR_EOF);

    /* The last batch and 'done' together. */
    const char *final_names[] = {"validity", "coverage"};
    double final_values[] = {0.875, 0.75};
    assert_int_equal(cb_store_finish_run_with_metrics(s, id, final_names, final_values, 2, &err),
                     CB_OK);
    assert_int_equal(cb_store_get_run(s, id, &r, &err), CB_OK);
    assert_int_equal(r.status, CB_RUN_DONE);
    assert_non_null(r.ended_at);
    assert_true(strcmp(r.ended_at, r.started_at) >= 0);
    cb_run_free(&r);

    cb_metric *m;
    size_t n;
    assert_int_equal(cb_store_get_metrics(s, id, &m, &n, &err), CB_OK);
    assert_int_equal(n, 6);
    const char *sorted[] = {"coverage", "inf_metric", "match_rate", "nan_metric", "rmse",
                            "validity"};
    for (size_t i = 0; i < n; i++) assert_string_equal(m[i].name, sorted[i]);
    assert_true(m[0].value == 0.75);
    assert_true(isinf(m[1].value) && m[1].value > 0);
    assert_true(m[2].value == 0.625); /* overwritten by the batch */
    assert_true(isnan(m[3].value));
    assert_true(m[4].value == 0.125);
    cb_metrics_free(m, n);
    assert_int_equal(cb_store_get_metric(s, id, "rmse", &v, &err), CB_OK);
    assert_true(v == 0.125);
    assert_int_equal(cb_store_get_metric(s, id, "nope", &v, &err), CB_ERR_EOF);

    cb_sample *smp;
    assert_int_equal(cb_store_get_samples(s, id, &smp, &n, &err), CB_OK);
    assert_int_equal(n, 3);
    assert_int_equal(smp[0].idx, 10);
    assert_string_equal(smp[0].cif, "data_a\n");
    assert_int_equal(smp[1].idx, 11);
    assert_null(smp[1].cif);
    assert_string_equal(smp[2].cif, "data_c\n");
    cb_samples_free(smp, n);

    /* A done run is frozen. */
    assert_int_equal(cb_store_put_metric(s, id, "late", 1.0, &err), CB_ERR_USAGE);
    assert_non_null(strstr(err.msg, "is done, not running"));
    assert_one_line_naming(&err, f->path);
    assert_int_equal(cb_store_put_samples(s, id, 0, cifs, 1, &err), CB_ERR_USAGE);
    assert_int_equal(cb_store_finish_run(s, id, &err), CB_ERR_USAGE);
    assert_int_equal(cb_store_fail_run(s, id, "too late", &err), CB_ERR_USAGE);
    assert_int_equal(cb_store_put_metric(s, 9999, "x", 1.0, &err), CB_ERR_USAGE);
    assert_non_null(strstr(err.msg, "no run 9999"));
    assert_int_equal(cb_store_get_run(s, 9999, &r, &err), CB_ERR_EOF);

    /* A failed run. */
    cb_run_info info2 = info_for("cdvae", "dng", "mp_20");
    info2.split = "val-minus-10%";
    int64_t id2;
    assert_int_equal(cb_store_begin_run(s, &info2, &id2, &err), CB_OK);
    assert_true(id2 > id);
    assert_int_equal(cb_store_fail_run(s, id2, "NaN loss at step 12", &err), CB_OK);
    assert_int_equal(cb_store_get_run(s, id2, &r, &err), CB_OK);
    assert_int_equal(r.status, CB_RUN_FAILED);
    assert_string_equal(r.message, "NaN loss at step 12");
    assert_string_equal(r.split, "val-minus-10%");
    assert_null(r.config);
    assert_null(r.config_hash);
    cb_run_free(&r);

    /* Required fields. */
    cb_run_info empty = {0};
    assert_int_equal(cb_store_begin_run(s, &empty, &id2, &err), CB_ERR_USAGE);
    assert_one_line_naming(&err, f->path);

    /* Listing with filters. */
    cb_run *runs;
    assert_int_equal(cb_store_list_runs(s, NULL, &runs, &n, &err), CB_OK);
    assert_int_equal(n, 2);
    assert_int_equal(runs[0].id, id);
    cb_runs_free(runs, n);
    cb_run_filter flt = {0};
    flt.status = CB_RUN_FAILED;
    assert_int_equal(cb_store_list_runs(s, &flt, &runs, &n, &err), CB_OK);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].model, "cdvae");
    cb_runs_free(runs, n);
    flt = (cb_run_filter){.model = "flowmm", .task = "csp", .dataset = "mp_20"};
    assert_int_equal(cb_store_list_runs(s, &flt, &runs, &n, &err), CB_OK);
    assert_int_equal(n, 1);
    cb_runs_free(runs, n);
    flt = (cb_run_filter){.dataset = "perov_5"};
    assert_int_equal(cb_store_list_runs(s, &flt, &runs, &n, &err), CB_OK);
    assert_int_equal(n, 0);
    assert_null(runs);

    assert_int_equal(cb_store_check(s, &err), CB_OK);
    cb_store_close(s);
    cb_store_close(NULL);

    /* Everything is still there after reopening. */
    assert_int_equal(cb_store_open_existing(f->path, &s, &err), CB_OK);
    assert_int_equal(cb_store_get_metric(s, id, "validity", &v, &err), CB_OK);
    assert_true(v == 0.875);
    assert_string_equal(cb_run_status_name(CB_RUN_DONE), "done");
    cb_store_close(s);
}

/* Puts one finished run of (model, dataset, task) with metric "score". */
static int64_t done_run(cb_store *s, const char *model, const char *dataset, const char *task,
                        double score)
{
    cb_error err = {0};
    cb_run_info info = info_for(model, task, dataset);
    int64_t id;
    assert_int_equal(cb_store_begin_run(s, &info, &id, &err), CB_OK);
    const char *name = "score";
    assert_int_equal(cb_store_finish_run_with_metrics(s, id, &name, &score, 1, &err), CB_OK);
    return id;
}

static void test_latest(void **state)
{
    fixture *f = *state;
    cb_store *s;
    cb_error err = {0};
    assert_int_equal(cb_store_open(f->path, &s, &err), CB_OK);
    cb_run_filter flt = {.model = "flowmm", .dataset = "mp_20", .task = "csp"};
    cb_run r;
    assert_int_equal(cb_store_latest_run(s, &flt, &r, &err), CB_ERR_EOF);
    assert_one_line_naming(&err, f->path);

    done_run(s, "flowmm", "mp_20", "csp", 1);
    int64_t second = done_run(s, "flowmm", "mp_20", "csp", 2);
    done_run(s, "flowmm", "mp_20", "dng", 3);
    int64_t cd = done_run(s, "cdvae", "mp_20", "csp", 4);
    /* Newer but unfinished or failed runs never count as latest. */
    cb_run_info info = info_for("flowmm", "csp", "mp_20");
    int64_t running, failed;
    assert_int_equal(cb_store_begin_run(s, &info, &running, &err), CB_OK);
    assert_int_equal(cb_store_begin_run(s, &info, &failed, &err), CB_OK);
    assert_int_equal(cb_store_fail_run(s, failed, NULL, &err), CB_OK);

    assert_int_equal(cb_store_latest_run(s, &flt, &r, &err), CB_OK);
    assert_int_equal(r.id, second);
    cb_run_free(&r);
    flt.model = NULL; /* any model: cdvae's is the latest csp run on mp_20 */
    assert_int_equal(cb_store_latest_run(s, &flt, &r, &err), CB_OK);
    assert_int_equal(r.id, cd);
    cb_run_free(&r);

    cb_run *runs;
    size_t n;
    assert_int_equal(cb_store_latest_runs(s, NULL, &runs, &n, &err), CB_OK);
    assert_int_equal(n, 3);
    /* Ordered by model, dataset, task. */
    assert_string_equal(runs[0].model, "cdvae");
    assert_string_equal(runs[1].model, "flowmm");
    assert_string_equal(runs[1].task, "csp");
    assert_int_equal(runs[1].id, second);
    assert_string_equal(runs[2].task, "dng");
    for (size_t i = 0; i < n; i++) assert_int_equal(runs[i].status, CB_RUN_DONE);
    cb_runs_free(runs, n);
    cb_run_filter by_task = {.task = "dng"};
    assert_int_equal(cb_store_latest_runs(s, &by_task, &runs, &n, &err), CB_OK);
    assert_int_equal(n, 1);
    cb_runs_free(runs, n);
    cb_store_close(s);
}

static void test_train_log(void **state)
{
    fixture *f = *state;
    cb_store *s;
    cb_error err = {0};
    assert_int_equal(cb_store_open(f->path, &s, &err), CB_OK);
    cb_run_info info = info_for("textar", "dng", "mp_20");
    int64_t id;
    assert_int_equal(cb_store_begin_run(s, &info, &id, &err), CB_OK);
    const char *names[] = {"loss", "lr"};
    for (int step = 0; step < 5; step++) {
        double values[] = {1.0 / (step + 1), 1e-3};
        assert_int_equal(cb_store_log_train(s, id, step, names, values, 2, &err), CB_OK);
    }
    /* A resumed run logs step 4 again: overwritten, not duplicated. */
    double again[] = {0.1, 1e-3};
    assert_int_equal(cb_store_log_train(s, id, 4, names, again, 2, &err), CB_OK);

    cb_train_point *p;
    size_t n;
    assert_int_equal(cb_store_get_train_log(s, id, "loss", &p, &n, &err), CB_OK);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(p[i].step, (int64_t)i);
        assert_string_equal(p[i].name, "loss");
    }
    assert_true(p[0].value == 1.0);
    assert_true(p[4].value == 0.1);
    cb_train_points_free(p, n);
    assert_int_equal(cb_store_get_train_log(s, id, NULL, &p, &n, &err), CB_OK);
    assert_int_equal(n, 10);
    assert_string_equal(p[9].name, "lr");
    cb_train_points_free(p, n);
    assert_int_equal(cb_store_finish_run(s, id, &err), CB_OK);
    assert_int_equal(cb_store_log_train(s, id, 5, names, again, 2, &err), CB_ERR_USAGE);
    cb_store_close(s);
}

static void test_series(void **state)
{
    fixture *f = *state;
    cb_store *s;
    cb_error err = {0};
    assert_int_equal(cb_store_open(f->path, &s, &err), CB_OK);
    cb_run_info info = info_for("external", "csp", "perov_5");
    int64_t id;
    assert_int_equal(cb_store_begin_run(s, &info, &id, &err), CB_OK);
    /* Values come back bit for bit, NaN (an unmatched target) included. */
    double rms[] = {0.125, NAN, 1e-300, -0.0, 0.1 + 0.2};
    assert_int_equal(cb_store_put_series(s, id, "rms", rms, 5, &err), CB_OK);
    assert_int_equal(cb_store_put_series(s, id, "empty", NULL, 0, &err), CB_OK);
    /* A rewrite replaces the whole series. */
    double d1[] = {1, 2, 3}, d2[] = {4.5, 5.5};
    assert_int_equal(cb_store_put_series(s, id, "density", d1, 3, &err), CB_OK);
    assert_int_equal(cb_store_put_series(s, id, "density", d2, 2, &err), CB_OK);
    assert_int_equal(cb_store_put_series(s, id, "", d2, 2, &err), CB_ERR_USAGE);
    assert_int_equal(cb_store_put_series(s, id + 99, "x", d2, 2, &err), CB_ERR_USAGE);
    assert_int_equal(cb_store_finish_run(s, id, &err), CB_OK);
    /* Frozen once the run is done. */
    assert_int_equal(cb_store_put_series(s, id, "density", d1, 3, &err), CB_ERR_USAGE);

    double *v;
    size_t n;
    assert_int_equal(cb_store_get_series(s, id, "rms", &v, &n, &err), CB_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(v, rms, sizeof rms);
    free(v);
    assert_int_equal(cb_store_get_series(s, id, "density", &v, &n, &err), CB_OK);
    assert_int_equal(n, 2);
    assert_true(v[0] == 4.5 && v[1] == 5.5);
    free(v);
    assert_int_equal(cb_store_get_series(s, id, "empty", &v, &n, &err), CB_OK);
    assert_int_equal(n, 0);
    assert_null(v);
    assert_int_equal(cb_store_get_series(s, id, "nope", &v, &n, &err), CB_ERR_EOF);
    assert_non_null(strstr(err.msg, "nope"));
    /* A damaged row (byte count not n doubles) is an error, not a short read. */
    raw_exec(cb_store_handle(s), "UPDATE series SET n = 7 WHERE name = 'rms'");
    assert_int_equal(cb_store_get_series(s, id, "rms", &v, &n, &err), CB_ERR_DB);
    assert_non_null(strstr(err.msg, "damaged"));
    cb_store_close(s);
}

static void test_cache(void **state)
{
    fixture *f = *state;
    cb_store *s;
    cb_error err = {0};
    assert_int_equal(cb_store_open(f->path, &s, &err), CB_OK);
    void *blob;
    size_t len;
    assert_int_equal(cb_store_cache_get(s, "abc", "crystalnn-fp", 1, &blob, &len, &err),
                     CB_ERR_EOF);
    assert_null(blob);
    assert_one_line_naming(&err, f->path);

    float fp[1000];
    for (int i = 0; i < 1000; i++) fp[i] = (float)i * 0.5f;
    assert_int_equal(cb_store_cache_put(s, "abc", "crystalnn-fp", 1, fp, sizeof fp, &err), CB_OK);
    assert_int_equal(cb_store_cache_get(s, "abc", "crystalnn-fp", 1, &blob, &len, &err), CB_OK);
    assert_int_equal(len, sizeof fp);
    assert_memory_equal(blob, fp, sizeof fp);
    free(blob);
    /* Another version or kind is a miss; a put replaces. */
    assert_int_equal(cb_store_cache_get(s, "abc", "crystalnn-fp", 2, &blob, &len, &err),
                     CB_ERR_EOF);
    assert_int_equal(cb_store_cache_get(s, "abc", "magpie-fp", 1, &blob, &len, &err), CB_ERR_EOF);
    assert_int_equal(cb_store_cache_put(s, "abc", "crystalnn-fp", 1, "xy", 2, &err), CB_OK);
    assert_int_equal(cb_store_cache_get(s, "abc", "crystalnn-fp", 1, &blob, &len, &err), CB_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(blob, "xy", 2);
    free(blob);
    /* Zero-length blobs are hits with a non-NULL pointer. */
    assert_int_equal(cb_store_cache_put(s, "abc", "empty", 1, NULL, 0, &err), CB_OK);
    assert_int_equal(cb_store_cache_get(s, "abc", "empty", 1, &blob, &len, &err), CB_OK);
    assert_non_null(blob);
    assert_int_equal(len, 0);
    free(blob);
    assert_int_equal(cb_store_cache_put(s, "", "k", 1, "x", 1, &err), CB_ERR_USAGE);
    assert_int_equal(query_int(s, "SELECT count(*) FROM ref_cache"), 2);
    cb_store_close(s);
}

/* ---- schema versions ---- */

/* The schema (sqlite_master) as one string. */
static char *schema_of(sqlite3 *db)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT group_concat(type || ' ' || name || ' ' || "
                                        "coalesce(sql, ''), '\n') FROM (SELECT * FROM "
                                        "sqlite_master ORDER BY name)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static sqlite3 *make_v1(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    raw_exec(db, cb_store_migration(1));
    raw_exec(db, "PRAGMA user_version = 1");
    raw_exec(db, "INSERT INTO runs (model, task, dataset, host, pid, started_at, ended_at, status)"
                 " VALUES ('flowmm', 'csp', 'mp_20', 'old-host', 1, '2024-01-01T00:00:00.000Z',"
                 " '2024-01-01T01:00:00.000Z', 'done');"
                 "INSERT INTO metrics VALUES (1, 'match_rate', 0.5);");
    return db;
}

static void test_migrations(void **state)
{
    fixture *f = *state;
    cb_error err = {0};
    assert_null(cb_store_migration(0));
    assert_null(cb_store_migration(CB_STORE_SCHEMA_VERSION + 1));
    for (int v = 1; v <= CB_STORE_SCHEMA_VERSION; v++) assert_non_null(cb_store_migration(v));

    /* A version-1 file is migrated, keeping its rows. */
    sqlite3_close(make_v1(f->path));
    cb_store *s;
    assert_int_equal(cb_store_open(f->path, &s, &err), CB_OK);
    assert_int_equal(query_int(s, "PRAGMA user_version"), CB_STORE_SCHEMA_VERSION);
    cb_run r;
    assert_int_equal(cb_store_get_run(s, 1, &r, &err), CB_OK);
    assert_int_equal(r.status, CB_RUN_DONE);
    assert_string_equal(r.split, "standard");
    cb_run_free(&r);
    double v;
    assert_int_equal(cb_store_get_metric(s, 1, "match_rate", &v, &err), CB_OK);
    assert_true(v == 0.5);
    /* The version-2 tables work. */
    assert_int_equal(cb_store_cache_put(s, "h", "k", 1, "x", 1, &err), CB_OK);
    char *migrated = schema_of(cb_store_handle(s));
    cb_store_close(s);

    /* … and its schema is exactly that of a new store. */
    char fresh_path[4200];
    snprintf(fresh_path, sizeof fresh_path, "%s/fresh.db", f->dir);
    assert_int_equal(cb_store_open(fresh_path, &s, &err), CB_OK);
    char *fresh = schema_of(cb_store_handle(s));
    cb_store_close(s);
    assert_string_equal(migrated, fresh);
    free(migrated);
    free(fresh);

    /* A file from a newer build is refused and left alone. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", CB_STORE_SCHEMA_VERSION + 1);
    raw_exec(db, sql);
    sqlite3_close(db);
    assert_int_equal(cb_store_open(f->path, &s, &err), CB_ERR_DB);
    assert_null(s);
    assert_one_line_naming(&err, f->path);
    assert_non_null(strstr(err.msg, "newer"));
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), CB_STORE_SCHEMA_VERSION + 1);
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* A migration that fails half-way is rolled back entirely. */
    char broken[4200];
    snprintf(broken, sizeof broken, "%s/broken.db", f->dir);
    db = make_v1(broken);
    raw_exec(db, "CREATE TABLE ref_cache (x)"); /* step 2 creates train_log, then fails here */
    sqlite3_close(db);
    assert_int_equal(cb_store_open(broken, &s, &err), CB_ERR_DB);
    assert_one_line_naming(&err, broken);
    assert_non_null(strstr(err.msg, "version 2"));
    assert_int_equal(sqlite3_open(broken, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT user_version FROM pragma_user_version), "
                                        "(SELECT count(*) FROM sqlite_master WHERE name = "
                                        "'train_log')",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    assert_int_equal(sqlite3_column_int(st, 1), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- bad files ---- */

static void test_bad_paths(void **state)
{
    fixture *f = *state;
    cb_error err = {0};
    cb_store *s = (cb_store *)1;

    /* Not a database. */
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 100; i++) fprintf(fp, "material_id,cif\nmp-%d,\"data_x\"\n", i);
    fclose(fp);
    assert_int_equal(cb_store_open(f->path, &s, &err), CB_ERR_DB);
    assert_null(s);
    assert_one_line_naming(&err, f->path);
    assert_non_null(strstr(err.msg, "not a SQLite database"));

    /* A missing directory. */
    char path[4200];
    snprintf(path, sizeof path, "%s/no/such/dir/results.db", f->dir);
    assert_int_equal(cb_store_open(path, &s, &err), CB_ERR_IO);
    assert_one_line_naming(&err, path);
    assert_non_null(strstr(err.msg, "No such file or directory"));

    /* A directory. */
    assert_int_equal(cb_store_open(f->dir, &s, &err), CB_ERR_IO);
    assert_one_line_naming(&err, f->dir);
    assert_non_null(strstr(err.msg, "is a directory"));

    /* open_existing does not create. */
    snprintf(path, sizeof path, "%s/absent.db", f->dir);
    assert_int_equal(cb_store_open_existing(path, &s, &err), CB_ERR_IO);
    assert_one_line_naming(&err, path);
    assert_int_equal(access(path, F_OK), -1);

    /* A read-only directory.  root ignores permission bits, so there a directory of a
     * file system that refuses new files stands in for it. */
    char rodir[4096];
    snprintf(rodir, sizeof rodir, "%s/ro", f->dir);
    assert_int_equal(mkdir(rodir, 0555), 0);
    if (access(rodir, W_OK) == 0) snprintf(rodir, sizeof rodir, "/proc/self");
    snprintf(path, sizeof path, "%s/results.db", rodir);
    assert_int_equal(cb_store_open(path, &s, &err), CB_ERR_IO);
    assert_null(s);
    assert_one_line_naming(&err, path);

    assert_int_equal(cb_store_open("", &s, &err), CB_ERR_USAGE);
}

/* ---- processes ---- */

/* Waits for a child and returns its exit status, or 128 + signal. */
static int wait_child(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define BIG_BATCH 100000

/* The child of the crash test: a run with a committed early batch, then a huge
 * batch in one transaction (finish_run_with_metrics when finish is set, else
 * put_metrics) during which the parent kills it.  Reports the run id through fd. */
static void crash_child(const char *path, int fd, int finish)
{
    cb_error err = {0};
    cb_store *s;
    if (cb_store_open(path, &s, &err)) _exit(10);
    cb_run_info info = info_for("flowmm", "csp", "mp_20");
    int64_t id;
    if (cb_store_begin_run(s, &info, &id, &err)) _exit(11);
    const char *early[] = {"early_a", "early_b"};
    double vals[] = {1, 2};
    if (cb_store_put_metrics(s, id, early, vals, 2, &err)) _exit(12);
    /* A small page cache makes the big transaction spill to the WAL early. */
    if (sqlite3_exec(cb_store_handle(s), "PRAGMA cache_size = -256", NULL, NULL, NULL)) _exit(15);
    char **names = malloc(BIG_BATCH * sizeof *names);
    double *values = malloc(BIG_BATCH * sizeof *values);
    if (!names || !values) _exit(13);
    for (size_t i = 0; i < BIG_BATCH; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "metric_%07zu", i);
        if (!(names[i] = strdup(buf))) _exit(13);
        values[i] = (double)i;
    }
    if (write(fd, &id, sizeof id) != (ssize_t)sizeof id) _exit(14);
    if (finish)
        cb_store_finish_run_with_metrics(s, id, (const char *const *)names, values, BIG_BATCH,
                                         &err);
    else
        cb_store_put_metrics(s, id, (const char *const *)names, values, BIG_BATCH, &err);
    _exit(0); /* not reached when the parent is in time */
}

static void crash_mid_transaction(fixture *f, int finish)
{
    fflush(NULL);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(f->path, fds[1], finish);
    }
    close(fds[1]);
    int64_t id = 0;
    assert_int_equal(read(fds[0], &id, sizeof id), (ssize_t)sizeof id);
    close(fds[0]);

    /* The child holds the write lock exactly while its transaction is open: poll for
     * it with a zero busy timeout.  Then wait until the transaction has spilled 256 KiB
     * of uncommitted pages into the WAL (the batch is ~3 MB, ten times the child's
     * page cache), so that the kill lands on a half-written transaction. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 0);
    /* Deadlines are generous for valgrind, where the child runs ~50 times slower. */
    double deadline = now_s() + 120;
    int locked = 0;
    while (!locked && now_s() < deadline) {
        int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_BUSY) {
            locked = 1;
        } else {
            assert_int_equal(rc, SQLITE_OK);
            raw_exec(db, "ROLLBACK");
            sleep_us(100);
        }
    }
    assert_true(locked);
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    struct stat wst;
    off_t start = stat(wal, &wst) == 0 ? wst.st_size : 0;
    int killed = 0;
    while (!killed && now_s() < deadline) {
        if (stat(wal, &wst) == 0 && wst.st_size > start + (256 << 10)) {
            assert_int_equal(kill(pid, SIGKILL), 0);
            killed = 1;
        } else {
            sleep_us(100);
        }
    }
    if (!killed) kill(pid, SIGKILL);
    assert_true(killed);
    assert_int_equal(wait_child(pid), 128 + SIGKILL);

    /* Consistent, not done, and only the committed batch is there. */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT status, (SELECT count(*) FROM metrics WHERE "
                                        "run_id = ?1) FROM runs WHERE id = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "running");
    assert_int_equal(sqlite3_column_int(st, 1), 2);
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* The next open sees the process is gone. */
    cb_error err = {0};
    cb_store *s;
    assert_int_equal(cb_store_open(f->path, &s, &err), CB_OK);
    cb_run r;
    assert_int_equal(cb_store_get_run(s, id, &r, &err), CB_OK);
    assert_int_equal(r.status, CB_RUN_FAILED);
    char want[64];
    snprintf(want, sizeof want, "process %ld", (long)pid);
    assert_non_null(strstr(r.message, want));
    assert_non_null(strstr(r.message, "died"));
    cb_run_free(&r);
    cb_metric *m;
    size_t n;
    assert_int_equal(cb_store_get_metrics(s, id, &m, &n, &err), CB_OK);
    assert_int_equal(n, 2);
    cb_metrics_free(m, n);
    assert_int_equal(cb_store_check(s, &err), CB_OK);
    cb_store_close(s);
}

static void test_killed_while_finishing(void **state) { crash_mid_transaction(*state, 1); }

static void test_killed_while_writing_metrics(void **state) { crash_mid_transaction(*state, 0); }

static void test_dead_runs_recovered(void **state)
{
    fixture *f = *state;
    cb_error err = {0};
    cb_store *s;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Begins a run and exits without finishing it. */
        cb_run_info info = info_for("flowmm", "dng", "mp_20");
        int64_t id;
        if (cb_store_open(f->path, &s, &err) || cb_store_begin_run(s, &info, &id, &err)) _exit(1);
        cb_store_close(s);
        _exit(0);
    }
    assert_int_equal(wait_child(pid), 0);

    assert_int_equal(cb_store_open(f->path, &s, &err), CB_OK);
    /* A run of another host, and one whose process (our parent) is alive. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO runs (model, task, dataset, host, pid, started_at) VALUES "
             "('m', 'dng', 'd', 'elsewhere.example', %ld, '2024-01-01T00:00:00.000Z'),"
             "('m', 'dng', 'd', (SELECT host FROM runs WHERE id = 1), %ld, "
             "'2024-01-01T00:00:00.000Z')",
             (long)pid, (long)getppid());
    raw_exec(cb_store_handle(s), sql);
    cb_store_close(s);

    assert_int_equal(cb_store_open(f->path, &s, &err), CB_OK);
    cb_run *runs;
    size_t n;
    assert_int_equal(cb_store_list_runs(s, NULL, &runs, &n, &err), CB_OK);
    assert_int_equal(n, 3);
    assert_int_equal(runs[0].status, CB_RUN_FAILED);
    assert_non_null(strstr(runs[0].message, "died before the run finished"));
    assert_null(runs[0].ended_at);
    assert_int_equal(runs[1].status, CB_RUN_RUNNING); /* other host: cannot tell */
    assert_int_equal(runs[2].status, CB_RUN_RUNNING); /* alive */
    cb_runs_free(runs, n);
    cb_store_close(s);
}

#define WRITER_RUNS 200

/* One of the concurrent writers: WRITER_RUNS runs, each in three transactions. */
static void writer_child(const char *path, int which)
{
    cb_error err = {0};
    cb_store *s;
    if (cb_store_open(path, &s, &err)) goto fail;
    char model[16];
    snprintf(model, sizeof model, "model%d", which);
    for (int i = 0; i < WRITER_RUNS; i++) {
        cb_run_info info = info_for(model, "dng", "mp_20");
        info.seed = (uint64_t)i;
        int64_t id;
        if (cb_store_begin_run(s, &info, &id, &err)) goto fail;
        const char *names[] = {"a", "b", "c", "d", "e"};
        double values[] = {i, i + 1, i + 2, i + 3, i + 4};
        if (cb_store_put_metrics(s, id, names, values, 5, &err)) goto fail;
        const char *cifs[] = {"data_1\n", "data_2\n"};
        if (cb_store_put_samples(s, id, 0, cifs, 2, &err)) goto fail;
        const char *final[] = {"f", "g", "h"};
        if (cb_store_finish_run_with_metrics(s, id, final, values, 3, &err)) goto fail;
    }
    cb_store_close(s);
    _exit(0);
fail:
    fprintf(stderr, "writer %d: %s\n", which, err.msg);
    _exit(1);
}

static void test_concurrent_writers(void **state)
{
    fixture *f = *state;
    cb_error err = {0};
    cb_store *s;
    assert_int_equal(cb_store_open(f->path, &s, &err), CB_OK);
    cb_store_close(s);
    fflush(NULL);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) writer_child(f->path, k);
    }
    for (int k = 0; k < 2; k++) assert_int_equal(wait_child(kids[k]), 0);

    assert_int_equal(cb_store_open(f->path, &s, &err), CB_OK);
    assert_int_equal(query_int(s, "SELECT count(*) FROM runs WHERE status = 'done'"),
                     2 * WRITER_RUNS);
    assert_int_equal(query_int(s, "SELECT count(*) FROM runs"), 2 * WRITER_RUNS);
    assert_int_equal(query_int(s, "SELECT count(*) FROM metrics"), 2 * WRITER_RUNS * 8);
    assert_int_equal(query_int(s, "SELECT count(*) FROM samples"), 2 * WRITER_RUNS * 2);
    assert_int_equal(query_int(s, "SELECT count(DISTINCT model || seed) FROM runs"),
                     2 * WRITER_RUNS);
    cb_run_filter flt = {.model = "model1"};
    cb_run *runs;
    size_t n;
    assert_int_equal(cb_store_list_runs(s, &flt, &runs, &n, &err), CB_OK);
    assert_int_equal(n, WRITER_RUNS);
    cb_runs_free(runs, n);
    assert_int_equal(cb_store_check(s, &err), CB_OK);
    cb_store_close(s);
}

static void test_fork_guard(void **state)
{
    fixture *f = *state;
    cb_error err = {0};
    cb_store *s;
    assert_int_equal(cb_store_open(f->path, &s, &err), CB_OK);
    cb_run_info info = info_for("flowmm", "csp", "mp_20");
    int64_t id;
    assert_int_equal(cb_store_begin_run(s, &info, &id, &err), CB_OK);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = cb_store_put_metric(s, id, "x", 1, &err);
        cb_store_close(s); /* must not close the parent's connection */
        if (rc != CB_ERR_USAGE || !strstr(err.msg, "after fork")) _exit(1);
        /* Leave by exec: the child still holds the parent's memory, which valgrind
         * would otherwise report as the child's leak at exit. */
        execl("/bin/true", "true", (char *)NULL);
        _exit(2);
    }
    assert_int_equal(wait_child(pid), 0);
    assert_int_equal(cb_store_put_metric(s, id, "x", 1, &err), CB_OK);
    assert_int_equal(cb_store_finish_run(s, id, &err), CB_OK);
    cb_store_close(s);
}

static void test_git_revision(void **state)
{
    (void)state;
    char buf[64];
    const char *old = getenv("CB_GIT_REV");
    char *saved = old ? strdup(old) : NULL;
    setenv("CB_GIT_REV", "v1.2.3", 1);
    assert_string_equal(cb_git_revision(buf, sizeof buf), "v1.2.3");
    char tiny[4];
    assert_string_equal(cb_git_revision(tiny, sizeof tiny), "v1.");
    unsetenv("CB_GIT_REV");
    /* The source tree's revision, or "unknown" without git. */
    cb_git_revision(buf, sizeof buf);
    assert_true(strlen(buf) > 0);
    if (strcmp(buf, "unknown") != 0) {
        size_t hex = strspn(buf, "0123456789abcdef");
        assert_true(hex >= 7);
        assert_true(buf[hex] == '\0' || strcmp(buf + hex, "-dirty") == 0);
    }
    if (saved) setenv("CB_GIT_REV", saved, 1);
    free(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_run_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_train_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_while_finishing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_while_writing_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_runs_recovered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_guard, setup, teardown),
        cmocka_unit_test(test_git_revision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
