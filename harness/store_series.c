/* Series of a run: one named array of doubles (per-structure values) stored as a blob
 * of native doubles, written while the run is 'running' and read by the plots. */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

int cb_store_put_series(cb_store *s, int64_t run_id, const char *name, const double *values,
                        size_t n, cb_error *err)
{
    const char *what = "put series";
    int rc = cb_store_check_owner(s, what, err);
    if (rc) return rc;
    if (!name || !name[0]) return cb_fail(err, CB_ERR_USAGE, "%s: %s: a series needs a name", s->path, what);
    if (n > 0 && !values)
        return cb_fail(err, CB_ERR_USAGE, "%s: %s: %zu values but no array", s->path, what, n);
    if (n > (size_t)INT32_MAX / sizeof *values)
        return cb_fail(err, CB_ERR_USAGE, "%s: %s: series %s is too long (%zu values)", s->path, what, name, n);
    if ((rc = cb_store_tx_begin(s, what, err))) return rc;
    rc = cb_store_require_running(s, run_id, what, err);
    sqlite3_stmt *st = NULL;
    if (!rc)
        rc = cb_store_prepare(s, "INSERT OR REPLACE INTO series (run_id, name, n, data) VALUES (?1, ?2, ?3, ?4)",
                              &st, what, err);
    if (st) {
        static const char empty = 0; /* a zero-length blob, not NULL (the column is NOT NULL) */
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)n);
        sqlite3_bind_blob(st, 4, n ? (const void *)values : &empty, (int)(n * sizeof *values), SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
        sqlite3_finalize(st);
    }
    return cb_store_tx_end(s, rc, what, err);
}

int cb_store_get_series(cb_store *s, int64_t run_id, const char *name, double **values,
                        size_t *n, cb_error *err)
{
    *values = NULL;
    *n = 0;
    const char *what = "get series";
    int rc = cb_store_check_owner(s, what, err);
    sqlite3_stmt *st;
    if (rc || (rc = cb_store_prepare(s, "SELECT n, data FROM series WHERE run_id = ?1 AND name = ?2", &st,
                                     what, err)))
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        sqlite3_int64 count = sqlite3_column_int64(st, 0);
        const void *data = sqlite3_column_blob(st, 1);
        size_t bytes = (size_t)sqlite3_column_bytes(st, 1);
        if (count < 0 || bytes != (size_t)count * sizeof **values || (count > 0 && !data)) {
            rc = cb_fail(err, CB_ERR_DB, "%s: %s: series %s of run %lld is damaged (%zu bytes for %lld values)",
                         s->path, what, name, (long long)run_id, bytes, (long long)count);
        } else if (count > 0) {
            if (!(*values = malloc(bytes))) {
                rc = cb_fail(err, CB_ERR_NOMEM, "%s: %s: out of memory", s->path, what);
            } else {
                memcpy(*values, data, bytes);
                *n = (size_t)count;
            }
        }
    } else if (step == SQLITE_DONE) {
        rc = cb_fail(err, CB_ERR_EOF, "%s: run %lld has no series %s", s->path, (long long)run_id, name);
    } else {
        rc = cb_store_db_fail(s, CB_ERR_DB, what, err);
    }
    sqlite3_finalize(st);
    return rc;
}
