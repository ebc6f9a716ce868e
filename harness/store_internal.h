/* What the store's files (store.c, store_runs.c, store_query.c) share; not a public
 * header. */
#ifndef CB_STORE_INTERNAL_H
#define CB_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>
#include <sys/types.h>

#include "crystalbench/store.h"

/* Seconds SQLite's busy handler waits for a lock, and how many more times BEGIN
 * IMMEDIATE is retried after that (with a short randomized pause) before giving up. */
#define CB_STORE_BUSY_TIMEOUT_MS 10000
#define CB_STORE_BEGIN_RETRIES 5

/* The SQL expression for "now" in the stored timestamp format. */
#define CB_STORE_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

struct cb_store {
    sqlite3 *db;
    char *path;
    pid_t pid;          /* the process that opened it */
    char host[256];
    char git_rev[64];   /* cb_git_revision, looked up on the first begin_run */
};

/* CB_ERR_USAGE unless called from the process that opened s. */
int cb_store_check_owner(cb_store *s, const char *what, cb_error *err);
/* Fails with code and "<path>: <what>: <sqlite message>". */
int cb_store_db_fail(cb_store *s, int code, const char *what, cb_error *err);
int cb_store_prepare(cb_store *s, const char *sql, sqlite3_stmt **st, const char *what,
                     cb_error *err);

/* A write transaction: BEGIN IMMEDIATE retried on SQLITE_BUSY; COMMIT (which rolls
 * back and reports when it fails); ROLLBACK when a transaction is open. */
int cb_store_tx_begin(cb_store *s, const char *what, cb_error *err);
int cb_store_tx_commit(cb_store *s, const char *what, cb_error *err);
void cb_store_tx_rollback(cb_store *s);
/* Ends the transaction begun by the caller: commit when rc is 0, else roll back;
 * returns rc or the commit's error. */
int cb_store_tx_end(cb_store *s, int rc, const char *what, cb_error *err);
/* Inside a transaction: CB_ERR_USAGE unless run_id exists and is 'running'. */
int cb_store_require_running(cb_store *s, int64_t run_id, const char *what, cb_error *err);

/* malloc'd copy of s (NULL for NULL); sets *bad when the allocation fails. */
char *cb_store_strdup(const char *s, int *bad);

#endif
