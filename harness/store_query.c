/* Reading the store: runs (by id, by filter, latest per key), metrics, samples,
 * training log, and the reference cache (whose put is here too, as it belongs to no
 * run).  Each read is one SELECT, so it sees one consistent snapshot. */
#include "store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grows *items (of elem bytes each) so that index n fits. */
static int grow(void **items, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*items, ncap * elem);
    if (!p) return -1;
    *items = p;
    *cap = ncap;
    return 0;
}

static double column_value(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static char *column_dup(sqlite3_stmt *st, int i, int *bad)
{
    return cb_store_strdup((const char *)sqlite3_column_text(st, i), bad);
}

/* ---- runs ---- */

#define RUN_COLUMNS                                                                          \
    "id, model, task, dataset, dataset_path, dataset_hash, split, config, config_hash, seed, " \
    "git_rev, host, pid, started_at, ended_at, status, message"

void cb_run_free(cb_run *r)
{
    if (!r) return;
    char **strs[] = {&r->model, &r->task, &r->dataset, &r->dataset_path, &r->dataset_hash,
                     &r->split, &r->config, &r->config_hash, &r->git_rev, &r->host,
                     &r->started_at, &r->ended_at, &r->message};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) free(*strs[i]);
    memset(r, 0, sizeof *r);
}

void cb_runs_free(cb_run *runs, size_t n)
{
    for (size_t i = 0; i < n; i++) cb_run_free(&runs[i]);
    free(runs);
}

static cb_run_status parse_status(const char *s)
{
    if (!s) return CB_RUN_ANY;
    if (!strcmp(s, "running")) return CB_RUN_RUNNING;
    if (!strcmp(s, "done")) return CB_RUN_DONE;
    if (!strcmp(s, "failed")) return CB_RUN_FAILED;
    return CB_RUN_ANY;
}

/* Fills r from a row of RUN_COLUMNS; returns -1 (r freed) when out of memory. */
static int read_run(sqlite3_stmt *st, cb_run *r)
{
    int bad = 0;
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->model = column_dup(st, 1, &bad);
    r->task = column_dup(st, 2, &bad);
    r->dataset = column_dup(st, 3, &bad);
    r->dataset_path = column_dup(st, 4, &bad);
    r->dataset_hash = column_dup(st, 5, &bad);
    r->split = column_dup(st, 6, &bad);
    r->config = column_dup(st, 7, &bad);
    r->config_hash = column_dup(st, 8, &bad);
    r->seed = (uint64_t)sqlite3_column_int64(st, 9);
    r->git_rev = column_dup(st, 10, &bad);
    r->host = column_dup(st, 11, &bad);
    r->pid = (long)sqlite3_column_int64(st, 12);
    r->started_at = column_dup(st, 13, &bad);
    r->ended_at = column_dup(st, 14, &bad);
    r->status = parse_status((const char *)sqlite3_column_text(st, 15));
    r->message = column_dup(st, 16, &bad);
    if (bad) {
        cb_run_free(r);
        return -1;
    }
    return 0;
}

/* Appends " AND col = ?" for each filter field set, to a statement of at most 1 KiB. */
static void filter_sql(const cb_run_filter *f, int done_only, char *sql, size_t cap)
{
    size_t len = strlen(sql);
    const char *cols[] = {"model", "task", "dataset", "split"};
    const char *vals[] = {f ? f->model : NULL, f ? f->task : NULL, f ? f->dataset : NULL,
                          f ? f->split : NULL};
    for (int i = 0; i < 4; i++)
        if (vals[i]) len += (size_t)snprintf(sql + len, cap - len, " AND %s = ?%d", cols[i], i + 1);
    if (done_only)
        len += (size_t)snprintf(sql + len, cap - len, " AND status = 'done'");
    else if (f && f->status != CB_RUN_ANY)
        len += (size_t)snprintf(sql + len, cap - len, " AND status = ?5");
}

static void filter_bind(sqlite3_stmt *st, const cb_run_filter *f, int done_only)
{
    if (!f) return;
    const char *vals[] = {f->model, f->task, f->dataset, f->split};
    for (int i = 0; i < 4; i++)
        if (vals[i]) sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    if (!done_only && f->status != CB_RUN_ANY)
        sqlite3_bind_text(st, 5, cb_run_status_name(f->status), -1, SQLITE_STATIC);
}

/* Reads every row of st (then finalizes it) into a malloc'd array of elem-byte items:
 * read_row fills one item and returns non-zero only when out of memory (having freed
 * what it allocated); free_items releases a partial array on failure. */
typedef int (*row_reader)(sqlite3_stmt *st, void *item);
typedef void (*items_free)(void *items, size_t n);

static int collect_rows(cb_store *s, sqlite3_stmt *st, size_t elem, row_reader read_row,
                        items_free free_items, void **out, size_t *n, const char *what, cb_error *err)
{
    char *items = NULL;
    size_t count = 0, cap = 0;
    int rc = CB_OK, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow((void **)&items, &cap, count, elem) || read_row(st, items + count * elem)) {
            rc = cb_fail(err, CB_ERR_NOMEM, "%s: %s: out of memory", s->path, what);
            break;
        }
        count++;
    }
    if (!rc && step != SQLITE_DONE) rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
    sqlite3_finalize(st);
    if (rc) {
        free_items(items, count);
        return rc;
    }
    *out = items;
    *n = count;
    return CB_OK;
}

static int read_run_row(sqlite3_stmt *st, void *item) { return read_run(st, item); }
static void free_runs(void *items, size_t n) { cb_runs_free(items, n); }

static int collect_runs(cb_store *s, sqlite3_stmt *st, cb_run **runs, size_t *n,
                        const char *what, cb_error *err)
{
    return collect_rows(s, st, sizeof **runs, read_run_row, free_runs, (void **)runs, n, what, err);
}

int cb_store_list_runs(cb_store *s, const cb_run_filter *f, cb_run **runs, size_t *n,
                       cb_error *err)
{
    *runs = NULL;
    *n = 0;
    const char *what = "list runs";
    int rc = cb_store_check_owner(s, what, err);
    if (rc) return rc;
    char sql[1024] = "SELECT " RUN_COLUMNS " FROM runs WHERE 1";
    filter_sql(f, 0, sql, sizeof sql);
    strncat(sql, " ORDER BY id", sizeof sql - strlen(sql) - 1);
    sqlite3_stmt *st;
    if ((rc = cb_store_prepare(s, sql, &st, what, err))) return rc;
    filter_bind(st, f, 0);
    return collect_runs(s, st, runs, n, what, err);
}

int cb_store_latest_runs(cb_store *s, const cb_run_filter *f, cb_run **runs, size_t *n,
                         cb_error *err)
{
    *runs = NULL;
    *n = 0;
    const char *what = "latest runs";
    int rc = cb_store_check_owner(s, what, err);
    if (rc) return rc;
    char sql[1024] = "SELECT " RUN_COLUMNS " FROM (SELECT *, row_number() OVER ("
                     "PARTITION BY model, dataset, task, split ORDER BY ended_at DESC, id DESC) "
                     "AS rn FROM runs WHERE 1";
    filter_sql(f, 1, sql, sizeof sql);
    strncat(sql, ") WHERE rn = 1 ORDER BY model, dataset, task, split",
            sizeof sql - strlen(sql) - 1);
    sqlite3_stmt *st;
    if ((rc = cb_store_prepare(s, sql, &st, what, err))) return rc;
    filter_bind(st, f, 1);
    return collect_runs(s, st, runs, n, what, err);
}

/* The single row of st (prepared, bound) into *out; CB_ERR_EOF when there is none. */
static int one_run(cb_store *s, sqlite3_stmt *st, cb_run *out, const char *what,
                   const char *absent, cb_error *err)
{
    cb_run *runs;
    size_t n;
    int rc = collect_runs(s, st, &runs, &n, what, err);
    if (rc) return rc;
    if (n == 0) return cb_fail(err, CB_ERR_EOF, "%s: %s", s->path, absent);
    *out = runs[0];
    for (size_t i = 1; i < n; i++) cb_run_free(&runs[i]);
    free(runs);
    return CB_OK;
}

int cb_store_get_run(cb_store *s, int64_t run_id, cb_run *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    const char *what = "get run";
    int rc = cb_store_check_owner(s, what, err);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = cb_store_prepare(s, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1", &st, what,
                               err)))
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    char absent[64];
    snprintf(absent, sizeof absent, "no run %lld", (long long)run_id);
    return one_run(s, st, out, what, absent, err);
}

int cb_store_latest_run(cb_store *s, const cb_run_filter *f, cb_run *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    const char *what = "latest run";
    int rc = cb_store_check_owner(s, what, err);
    if (rc) return rc;
    char sql[1024] = "SELECT " RUN_COLUMNS " FROM runs WHERE 1";
    filter_sql(f, 1, sql, sizeof sql);
    strncat(sql, " ORDER BY ended_at DESC, id DESC LIMIT 1", sizeof sql - strlen(sql) - 1);
    sqlite3_stmt *st;
    if ((rc = cb_store_prepare(s, sql, &st, what, err))) return rc;
    filter_bind(st, f, 1);
    return one_run(s, st, out, what, "no finished run matches", err);
}

/* ---- metrics, samples, training log ---- */

void cb_metrics_free(cb_metric *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++) free(m[i].name);
    free(m);
}

void cb_samples_free(cb_sample *samples, size_t n)
{
    for (size_t i = 0; samples && i < n; i++) free(samples[i].cif);
    free(samples);
}

void cb_train_points_free(cb_train_point *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) free(p[i].name);
    free(p);
}

static int read_metric_row(sqlite3_stmt *st, void *item)
{
    cb_metric *m = item;
    int bad = 0;
    m->name = column_dup(st, 0, &bad);
    m->value = column_value(st, 1);
    return bad;
}
static void free_metrics(void *items, size_t n) { cb_metrics_free(items, n); }

static int read_sample_row(sqlite3_stmt *st, void *item)
{
    cb_sample *x = item;
    int bad = 0;
    x->idx = sqlite3_column_int64(st, 0);
    x->cif = column_dup(st, 1, &bad);
    return bad;
}
static void free_samples(void *items, size_t n) { cb_samples_free(items, n); }

static int read_train_row(sqlite3_stmt *st, void *item)
{
    cb_train_point *p = item;
    int bad = 0;
    p->step = sqlite3_column_int64(st, 0);
    p->name = column_dup(st, 1, &bad);
    p->value = column_value(st, 2);
    return bad;
}
static void free_train_points(void *items, size_t n) { cb_train_points_free(items, n); }

int cb_store_get_metrics(cb_store *s, int64_t run_id, cb_metric **out, size_t *n,
                         cb_error *err)
{
    *out = NULL;
    *n = 0;
    const char *what = "get metrics";
    int rc = cb_store_check_owner(s, what, err);
    sqlite3_stmt *st;
    if (rc || (rc = cb_store_prepare(s,
                                     "SELECT name, value FROM metrics WHERE run_id = ?1 "
                                     "ORDER BY name",
                                     &st, what, err)))
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    return collect_rows(s, st, sizeof **out, read_metric_row, free_metrics, (void **)out, n, what, err);
}

int cb_store_get_metric(cb_store *s, int64_t run_id, const char *name, double *value,
                        cb_error *err)
{
    const char *what = "get metric";
    int rc = cb_store_check_owner(s, what, err);
    sqlite3_stmt *st;
    if (rc || (rc = cb_store_prepare(
                   s, "SELECT value FROM metrics WHERE run_id = ?1 AND name = ?2", &st, what, err)))
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *value = column_value(st, 0);
    else if (step == SQLITE_DONE)
        rc = cb_fail(err, CB_ERR_EOF, "%s: run %lld has no metric %s", s->path,
                     (long long)run_id, name);
    else
        rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
    sqlite3_finalize(st);
    return rc;
}

int cb_store_get_samples(cb_store *s, int64_t run_id, cb_sample **out, size_t *n,
                         cb_error *err)
{
    *out = NULL;
    *n = 0;
    const char *what = "get samples";
    int rc = cb_store_check_owner(s, what, err);
    sqlite3_stmt *st;
    if (rc || (rc = cb_store_prepare(s,
                                     "SELECT idx, structure FROM samples WHERE run_id = ?1 "
                                     "ORDER BY idx",
                                     &st, what, err)))
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    return collect_rows(s, st, sizeof **out, read_sample_row, free_samples, (void **)out, n, what, err);
}

int cb_store_get_train_log(cb_store *s, int64_t run_id, const char *name,
                           cb_train_point **out, size_t *n, cb_error *err)
{
    *out = NULL;
    *n = 0;
    const char *what = "get training log";
    int rc = cb_store_check_owner(s, what, err);
    sqlite3_stmt *st;
    if (rc || (rc = cb_store_prepare(s,
                                     "SELECT step, name, value FROM train_log WHERE run_id = ?1 "
                                     "AND (?2 IS NULL OR name = ?2) ORDER BY name, step",
                                     &st, what, err)))
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    if (name) sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    return collect_rows(s, st, sizeof **out, read_train_row, free_train_points, (void **)out, n, what, err);
}

/* ---- reference cache ---- */

static int check_cache_key(cb_store *s, const char *dataset_hash, const char *kind,
                           const char *what, cb_error *err)
{
    int rc = cb_store_check_owner(s, what, err);
    if (!rc && (!dataset_hash || !dataset_hash[0] || !kind || !kind[0]))
        rc = cb_fail(err, CB_ERR_USAGE, "%s: %s: dataset hash and kind are required", s->path,
                     what);
    return rc;
}

int cb_store_cache_put(cb_store *s, const char *dataset_hash, const char *kind, int version,
                       const void *blob, size_t len, cb_error *err)
{
    const char *what = "cache put";
    int rc = check_cache_key(s, dataset_hash, kind, what, err);
    if (!rc && len > 0 && !blob)
        rc = cb_fail(err, CB_ERR_USAGE, "%s: %s: %zu bytes but no data", s->path, what, len);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = cb_store_prepare(s,
                               "INSERT OR REPLACE INTO ref_cache (dataset_hash, kind, version, "
                               "blob, created_at) VALUES (?1, ?2, ?3, ?4, " CB_STORE_NOW ")",
                               &st, what, err)))
        return rc;
    sqlite3_bind_text(st, 1, dataset_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, version);
    /* A zero-length blob must still be a blob, not NULL: bind_zeroblob. */
    if (len == 0)
        sqlite3_bind_zeroblob(st, 4, 0);
    else if (sqlite3_bind_blob64(st, 4, blob, (sqlite3_uint64)len, SQLITE_STATIC) != SQLITE_OK)
        rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
    if (!rc && !(rc = cb_store_tx_begin(s, what, err))) {
        if (sqlite3_step(st) != SQLITE_DONE) rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
        if (rc)
            cb_store_tx_rollback(s);
        else
            rc = cb_store_tx_commit(s, what, err);
    }
    sqlite3_finalize(st);
    return rc;
}

int cb_store_cache_get(cb_store *s, const char *dataset_hash, const char *kind, int version,
                       void **blob, size_t *len, cb_error *err)
{
    *blob = NULL;
    *len = 0;
    const char *what = "cache get";
    int rc = check_cache_key(s, dataset_hash, kind, what, err);
    sqlite3_stmt *st;
    if (rc || (rc = cb_store_prepare(s,
                                     "SELECT blob FROM ref_cache WHERE dataset_hash = ?1 AND "
                                     "kind = ?2 AND version = ?3",
                                     &st, what, err)))
        return rc;
    sqlite3_bind_text(st, 1, dataset_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, version);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const void *data = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (n > 0 && !data) {
            rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
        } else if (!(*blob = malloc(n ? n : 1))) {
            rc = cb_fail(err, CB_ERR_NOMEM, "%s: %s: out of memory", s->path, what);
        } else {
            if (n) memcpy(*blob, data, n);
            *len = n;
        }
    } else if (step == SQLITE_DONE) {
        rc = cb_fail(err, CB_ERR_EOF, "%s: no cached %s version %d for dataset %s", s->path, kind,
                     version, dataset_hash);
    } else {
        rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
    }
    sqlite3_finalize(st);
    return rc;
}
