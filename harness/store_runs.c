/* Writing runs: begin, the batches written while a run is 'running' (metrics,
 * samples, training log), and the end of a run ('done' or 'failed').  Each public
 * function is one transaction. */
#include "store_internal.h"

#include <math.h>
#include <string.h>

#include "crystalbench/hash.h"

int cb_store_require_running(cb_store *s, int64_t run_id, const char *what, cb_error *err)
{
    sqlite3_stmt *st;
    int rc = cb_store_prepare(s, "SELECT status FROM runs WHERE id = ?1", &st, what, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, run_id);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 0);
        if (!status || strcmp(status, "running") != 0)
            rc = cb_fail(err, CB_ERR_USAGE, "%s: %s: run %lld is %s, not running", s->path, what,
                         (long long)run_id, status ? status : "(null)");
    } else if (step == SQLITE_DONE) {
        rc = cb_fail(err, CB_ERR_USAGE, "%s: %s: no run %lld", s->path, what, (long long)run_id);
    } else {
        rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
    }
    sqlite3_finalize(st);
    return rc;
}

static int check_batch(cb_store *s, const void *names, const void *values, size_t n,
                       const char *what, cb_error *err)
{
    if (n > 0 && (!names || !values))
        return cb_fail(err, CB_ERR_USAGE, "%s: %s: %zu values but no array", s->path, what, n);
    return CB_OK;
}

/* Inside a transaction: n named values through sql, whose parameters are
 * (?1 run_id, ?2 name, ?3 value[, ?4 step]).  NaN is stored as NULL. */
static int write_named_values(cb_store *s, const char *sql, int64_t run_id, const int64_t *step,
                              const char *const *names, const double *values, size_t n,
                              const char *what, cb_error *err)
{
    if (n == 0) return CB_OK;
    sqlite3_stmt *st;
    int rc = cb_store_prepare(s, sql, &st, what, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, run_id);
    if (step) sqlite3_bind_int64(st, 4, *step);
    for (size_t i = 0; i < n && !rc; i++) {
        if (!names[i] || !names[i][0]) {
            rc = cb_fail(err, CB_ERR_USAGE, "%s: %s: value %zu has no name", s->path, what, i);
            break;
        }
        sqlite3_bind_text(st, 2, names[i], -1, SQLITE_STATIC);
        if (isnan(values[i]))
            sqlite3_bind_null(st, 3);
        else
            sqlite3_bind_double(st, 3, values[i]);
        if (sqlite3_step(st) != SQLITE_DONE) rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static const char *const put_metric_sql =
    "INSERT OR REPLACE INTO metrics (run_id, name, value) VALUES (?1, ?2, ?3)";

int cb_store_tx_end(cb_store *s, int rc, const char *what, cb_error *err)
{
    if (rc) {
        cb_store_tx_rollback(s);
        return rc;
    }
    return cb_store_tx_commit(s, what, err);
}

static int bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

int cb_store_begin_run(cb_store *s, const cb_run_info *info, int64_t *run_id, cb_error *err)
{
    const char *what = "begin run";
    int rc = cb_store_check_owner(s, what, err);
    if (rc) return rc;
    if (!info || !info->model || !info->model[0] || !info->task || !info->task[0] ||
        !info->dataset || !info->dataset[0])
        return cb_fail(err, CB_ERR_USAGE, "%s: %s: model, task and dataset are required", s->path,
                       what);
    char config_hash[CB_SHA256_HEX];
    const char *chash = info->config_hash;
    if (!chash && info->config) {
        cb_sha256_hex(info->config, strlen(info->config), config_hash);
        chash = config_hash;
    }
    const char *rev = info->git_rev;
    if (!rev) {
        if (!s->git_rev[0]) cb_git_revision(s->git_rev, sizeof s->git_rev);
        rev = s->git_rev;
    }

    sqlite3_stmt *st;
    rc = cb_store_prepare(s,
                          "INSERT INTO runs (model, task, dataset, dataset_path, dataset_hash, "
                          "split, config, config_hash, seed, git_rev, host, pid, started_at, "
                          "status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                          CB_STORE_NOW ", 'running')",
                          &st, what, err);
    if (rc) return rc;
    bind_opt_text(st, 1, info->model);
    bind_opt_text(st, 2, info->task);
    bind_opt_text(st, 3, info->dataset);
    bind_opt_text(st, 4, info->dataset_path);
    bind_opt_text(st, 5, info->dataset_hash);
    bind_opt_text(st, 6, info->split ? info->split : "standard");
    bind_opt_text(st, 7, info->config);
    bind_opt_text(st, 8, chash);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)info->seed); /* bit pattern; read back as uint64 */
    bind_opt_text(st, 10, rev);
    bind_opt_text(st, 11, s->host);
    sqlite3_bind_int64(st, 12, (sqlite3_int64)s->pid);

    if ((rc = cb_store_tx_begin(s, what, err))) {
        sqlite3_finalize(st);
        return rc;
    }
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
    else if (run_id)
        *run_id = sqlite3_last_insert_rowid(s->db);
    sqlite3_finalize(st);
    return cb_store_tx_end(s, rc, what, err);
}

/* One transaction: checks the run is running, writes n values through sql and, when
 * end_status is given, sets the run's final status (message only for 'failed'), so a
 * run's last metrics and its 'done' commit together or not at all. */
static int batch_tx(cb_store *s, const char *sql, int64_t run_id, const int64_t *step,
                    const char *const *names, const double *values, size_t n,
                    const char *end_status, const char *message, const char *what, cb_error *err)
{
    int rc = cb_store_check_owner(s, what, err);
    if (!rc) rc = check_batch(s, names, values, n, what, err);
    if (rc) return rc;
    if ((rc = cb_store_tx_begin(s, what, err))) return rc;
    rc = cb_store_require_running(s, run_id, what, err);
    if (!rc) rc = write_named_values(s, sql, run_id, step, names, values, n, what, err);
    if (!rc && end_status) {
        sqlite3_stmt *st;
        rc = cb_store_prepare(s,
                              "UPDATE runs SET status = ?2, message = ?3, ended_at = " CB_STORE_NOW
                              " WHERE id = ?1",
                              &st, what, err);
        if (!rc) {
            sqlite3_bind_int64(st, 1, run_id);
            sqlite3_bind_text(st, 2, end_status, -1, SQLITE_STATIC);
            bind_opt_text(st, 3, message);
            if (sqlite3_step(st) != SQLITE_DONE) rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
            sqlite3_finalize(st);
        }
    }
    return cb_store_tx_end(s, rc, what, err);
}

static int end_run(cb_store *s, int64_t run_id, const char *status, const char *message,
                   const char *const *names, const double *values, size_t n, const char *what,
                   cb_error *err)
{
    return batch_tx(s, put_metric_sql, run_id, NULL, names, values, n, status, message, what, err);
}

static int put_batch(cb_store *s, const char *sql, int64_t run_id, const int64_t *step,
                     const char *const *names, const double *values, size_t n, const char *what,
                     cb_error *err)
{
    return batch_tx(s, sql, run_id, step, names, values, n, NULL, NULL, what, err);
}

int cb_store_finish_run(cb_store *s, int64_t run_id, cb_error *err)
{
    return end_run(s, run_id, "done", NULL, NULL, NULL, 0, "finish run", err);
}

int cb_store_finish_run_with_metrics(cb_store *s, int64_t run_id, const char *const *names,
                                     const double *values, size_t n, cb_error *err)
{
    return end_run(s, run_id, "done", NULL, names, values, n, "finish run", err);
}

int cb_store_fail_run(cb_store *s, int64_t run_id, const char *message, cb_error *err)
{
    return end_run(s, run_id, "failed", message, NULL, NULL, 0, "fail run", err);
}


int cb_store_put_metric(cb_store *s, int64_t run_id, const char *name, double value,
                        cb_error *err)
{
    return put_batch(s, put_metric_sql, run_id, NULL, &name, &value, 1, "put metrics", err);
}

int cb_store_put_metrics(cb_store *s, int64_t run_id, const char *const *names,
                         const double *values, size_t n, cb_error *err)
{
    return put_batch(s, put_metric_sql, run_id, NULL, names, values, n, "put metrics", err);
}

int cb_store_log_train(cb_store *s, int64_t run_id, int64_t step, const char *const *names,
                       const double *values, size_t n, cb_error *err)
{
    return put_batch(s,
                     "INSERT OR REPLACE INTO train_log (run_id, name, value, step) "
                     "VALUES (?1, ?2, ?3, ?4)",
                     run_id, &step, names, values, n, "log training", err);
}

int cb_store_put_samples(cb_store *s, int64_t run_id, int64_t first_idx,
                         const char *const *cifs, size_t n, cb_error *err)
{
    const char *what = "put samples";
    int rc = cb_store_check_owner(s, what, err);
    if (!rc && n > 0 && !cifs)
        rc = cb_fail(err, CB_ERR_USAGE, "%s: %s: %zu samples but no array", s->path, what, n);
    if (rc) return rc;
    if ((rc = cb_store_tx_begin(s, what, err))) return rc;
    rc = cb_store_require_running(s, run_id, what, err);
    sqlite3_stmt *st = NULL;
    if (!rc && n > 0)
        rc = cb_store_prepare(s,
                              "INSERT OR REPLACE INTO samples (run_id, idx, structure) "
                              "VALUES (?1, ?2, ?3)",
                              &st, what, err);
    if (st) {
        sqlite3_bind_int64(st, 1, run_id);
        for (size_t i = 0; i < n && !rc; i++) {
            sqlite3_bind_int64(st, 2, first_idx + (int64_t)i);
            if (cifs[i])
                sqlite3_bind_text(st, 3, cifs[i], -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(st, 3);
            if (sqlite3_step(st) != SQLITE_DONE) rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
            sqlite3_reset(st);
        }
        sqlite3_finalize(st);
    }
    return cb_store_tx_end(s, rc, what, err);
}
