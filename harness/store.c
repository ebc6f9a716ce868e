/* The results store: opening (create, migrate, recover runs of dead processes),
 * closing, and the transaction helpers the other store files use.  See store.h for
 * the guarantees. */
#include "store_internal.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers shared with store_runs.c and store_query.c ---- */

int cb_store_check_owner(cb_store *s, const char *what, cb_error *err)
{
    if (!s) return cb_fail(err, CB_ERR_USAGE, "%s: no store", what);
    if (s->pid != getpid())
        return cb_fail(err, CB_ERR_USAGE,
                       "%s: %s: store was opened by process %ld; open it again after fork",
                       s->path, what, (long)s->pid);
    return CB_OK;
}

int cb_store_db_fail(cb_store *s, int code, const char *what, cb_error *err)
{
    return cb_fail(err, (cb_status)code, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

int cb_store_prepare(cb_store *s, const char *sql, sqlite3_stmt **st, const char *what,
                     cb_error *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return cb_store_db_fail(s, CB_ERR_DB, what, err);
    }
    return CB_OK;
}

char *cb_store_strdup(const char *s, int *bad)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *bad = 1;
    return d;
}

static int is_busy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

/* 50-250 ms, different in each process so that retries do not stay in step. */
static void backoff(cb_store *s, int attempt)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = 50 + ((long)s->pid * 7919L + attempt * 104729L + now.tv_nsec / 1000) % 200;
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

int cb_store_tx_begin(cb_store *s, const char *what, cb_error *err)
{
    for (int attempt = 0;; attempt++) {
        int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK) return CB_OK;
        if (!is_busy(rc) || attempt >= CB_STORE_BEGIN_RETRIES) {
            if (is_busy(rc))
                return cb_fail(err, CB_ERR_DB,
                               "%s: %s: database stayed locked by another process for over %d s",
                               s->path, what,
                               (CB_STORE_BUSY_TIMEOUT_MS / 1000) * (CB_STORE_BEGIN_RETRIES + 1));
            return cb_store_db_fail(s, CB_ERR_DB, what, err);
        }
        backoff(s, attempt);
    }
}

int cb_store_tx_commit(cb_store *s, const char *what, cb_error *err)
{
    /* In WAL mode COMMIT needs no further lock, but in other journal modes it may wait
     * for readers: the transaction stays open after SQLITE_BUSY, so try again. */
    int rc;
    for (int attempt = 0;; attempt++) {
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc == SQLITE_OK) return CB_OK;
        if (!is_busy(rc) || attempt >= CB_STORE_BEGIN_RETRIES) break;
        backoff(s, attempt);
    }
    int code = cb_store_db_fail(s, CB_ERR_DB, what, err);
    cb_store_tx_rollback(s);
    return code;
}

void cb_store_tx_rollback(cb_store *s)
{
    if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- opening ---- */

/* Explains why path could not be opened: SQLite only says "unable to open database
 * file", which does not tell a missing directory from a read-only one. */
static int open_failure(const char *path, const char *sqlmsg, cb_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cb_fail(err, CB_ERR_IO, "%s: cannot open database: is a directory", path);
    char *copy = strdup(path);
    if (!copy) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    const char *dir = dirname(copy);
    int code;
    if (stat(dir, &st) != 0)
        code = cb_fail(err, CB_ERR_IO, "%s: cannot open database: directory %s: %s", path, dir,
                       strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        code = cb_fail(err, CB_ERR_IO, "%s: cannot open database: %s is not a directory", path,
                       dir);
    else if (access(dir, W_OK) != 0)
        /* The database needs its directory writable for the -wal and -shm files. */
        code = cb_fail(err, CB_ERR_IO, "%s: cannot open database: directory %s is not writable: %s",
                       path, dir, strerror(errno));
    else if (access(path, F_OK) == 0 && access(path, R_OK | W_OK) != 0)
        code = cb_fail(err, CB_ERR_IO, "%s: cannot open database: %s", path, strerror(errno));
    else
        code = cb_fail(err, CB_ERR_IO, "%s: cannot open database: %s", path, sqlmsg);
    free(copy);
    return code;
}

/* Maps a failure of the first statements on a new connection to a message. */
static int first_read_failure(cb_store *s, int rc, const char *what, cb_error *err)
{
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        return cb_fail(err, CB_ERR_DB, "%s: not a SQLite database", s->path);
    case SQLITE_CORRUPT:
        return cb_fail(err, CB_ERR_DB, "%s: database is corrupt: %s", s->path,
                       sqlite3_errmsg(s->db));
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_IOERR:
        return open_failure(s->path, sqlite3_errmsg(s->db), err);
    default:
        return cb_store_db_fail(s, CB_ERR_DB, what, err);
    }
}

static int read_user_version(cb_store *s, int *version, cb_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK) return first_read_failure(s, rc, "reading the schema version", err);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return CB_OK;
    }
    sqlite3_finalize(st);
    return first_read_failure(s, rc, "reading the schema version", err);
}

static int newer_schema(cb_store *s, int version, cb_error *err)
{
    return cb_fail(err, CB_ERR_DB,
                   "%s: schema version %d is newer than this build of crystalbench knows (%d); "
                   "use a newer crystalbench",
                   s->path, version, CB_STORE_SCHEMA_VERSION);
}

/* Inside the open transaction: applies steps version+1 … current. */
static int migrate(cb_store *s, int version, cb_error *err)
{
    for (int v = version + 1; v <= CB_STORE_SCHEMA_VERSION; v++) {
        char *msg = NULL;
        if (sqlite3_exec(s->db, cb_store_migration(v), NULL, NULL, &msg) != SQLITE_OK) {
            int code = cb_fail(err, CB_ERR_DB, "%s: migrating the schema to version %d: %s",
                               s->path, v, msg ? msg : "unknown error");
            sqlite3_free(msg);
            return code;
        }
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", CB_STORE_SCHEMA_VERSION);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return cb_store_db_fail(s, CB_ERR_DB, "setting the schema version", err);
    return CB_OK;
}

/* Inside the open transaction: 'running' runs of this host whose process no longer
 * exists become 'failed'.  A pid reused by an unrelated process keeps its run
 * 'running'; that run is merely not reported, never wrongly failed. */
static int recover_dead_runs(cb_store *s, cb_error *err)
{
    const char *what = "recovering runs of dead processes";
    sqlite3_stmt *sel, *upd;
    int rc = cb_store_prepare(
        s, "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?1", &sel, what, err);
    if (rc) return rc;
    rc = cb_store_prepare(s,
                          "UPDATE runs SET status = 'failed', message = printf("
                          "'process %d on %s died before the run finished (found at %s)', "
                          "pid, host, " CB_STORE_NOW ") WHERE id = ?1 AND status = 'running'",
                          &upd, what, err);
    if (rc) {
        sqlite3_finalize(sel);
        return rc;
    }
    sqlite3_bind_text(sel, 1, s->host, -1, SQLITE_STATIC);
    /* Updating rows of the table being scanned is allowed in SQLite, and the UPDATE
     * never changes which rows the SELECT visits after the current one. */
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        sqlite3_int64 id = sqlite3_column_int64(sel, 0);
        sqlite3_int64 pid = sqlite3_column_int64(sel, 1);
        if (pid <= 0 || pid == (sqlite3_int64)s->pid || (pid_t)pid != pid) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        sqlite3_bind_int64(upd, 1, id);
        if (sqlite3_step(upd) != SQLITE_DONE) {
            rc = SQLITE_ERROR;
            break;
        }
        sqlite3_reset(upd);
    }
    int code = rc == SQLITE_DONE ? CB_OK : cb_store_db_fail(s, CB_ERR_DB, what, err);
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return code;
}

static int set_pragmas(cb_store *s, cb_error *err)
{
    /* journal_mode answers with the mode now in force; ":memory:" stays "memory" and a
     * file system without shared memory may refuse WAL, which only costs concurrency.
     * synchronous=NORMAL in WAL mode keeps the database consistent across any crash
     * and may lose only the last commits on power loss. */
    static const char *const pragmas[] = {"PRAGMA foreign_keys = ON",
                                          "PRAGMA journal_mode = WAL",
                                          "PRAGMA synchronous = NORMAL"};
    for (size_t i = 0; i < sizeof pragmas / sizeof pragmas[0]; i++) {
        int rc;
        for (int attempt = 0;; attempt++) {
            rc = sqlite3_exec(s->db, pragmas[i], NULL, NULL, NULL);
            if (!is_busy(rc) || attempt >= CB_STORE_BEGIN_RETRIES) break;
            backoff(s, attempt);
        }
        if (rc != SQLITE_OK) return first_read_failure(s, rc, pragmas[i], err);
    }
    return CB_OK;
}

static int store_open(const char *path, int create, cb_store **out, cb_error *err)
{
    *out = NULL;
    if (!path || !*path) return cb_fail(err, CB_ERR_USAGE, "store: no database path given");
    struct stat st;
    if (!create && stat(path, &st) != 0)
        return cb_fail(err, CB_ERR_IO, "%s: cannot open database: %s", path, strerror(errno));

    cb_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    }
    s->pid = getpid();
    if (gethostname(s->host, sizeof s->host) != 0) snprintf(s->host, sizeof s->host, "unknown");
    s->host[sizeof s->host - 1] = '\0';

    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    int code = CB_OK;
    if (rc != SQLITE_OK) {
        code = open_failure(path, s->db ? sqlite3_errmsg(s->db) : "out of memory", err);
        goto fail;
    }
    sqlite3_busy_timeout(s->db, CB_STORE_BUSY_TIMEOUT_MS);

    int version;
    if ((code = read_user_version(s, &version, err))) goto fail;
    if (version > CB_STORE_SCHEMA_VERSION) {
        code = newer_schema(s, version, err);
        goto fail;
    }
    if ((code = set_pragmas(s, err))) goto fail;

    /* Migrate and recover under the write lock: another process may be doing the same,
     * so the version is read again inside the transaction. */
    if ((code = cb_store_tx_begin(s, "opening", err))) goto fail;
    if ((code = read_user_version(s, &version, err))) goto fail_tx;
    if (version > CB_STORE_SCHEMA_VERSION) {
        code = newer_schema(s, version, err);
        goto fail_tx;
    }
    if (version < CB_STORE_SCHEMA_VERSION && (code = migrate(s, version, err))) goto fail_tx;
    if ((code = recover_dead_runs(s, err))) goto fail_tx;
    if ((code = cb_store_tx_commit(s, "opening", err))) goto fail;
    *out = s;
    return CB_OK;

fail_tx:
    cb_store_tx_rollback(s);
fail:
    cb_store_close(s);
    return code;
}

int cb_store_open(const char *path, cb_store **out, cb_error *err)
{
    return store_open(path, 1, out, err);
}

int cb_store_open_existing(const char *path, cb_store **out, cb_error *err)
{
    return store_open(path, 0, out, err);
}

void cb_store_close(cb_store *s)
{
    if (!s) return;
    /* A forked child must not touch its parent's connection: closing it would
     * checkpoint and delete the parent's WAL.  It leaks the memory instead. */
    if (s->pid != getpid()) return;
    sqlite3_close(s->db); /* every statement is finalized by the function that made it */
    free(s->path);
    free(s);
}

const char *cb_store_path(const cb_store *s) { return s->path; }

struct sqlite3 *cb_store_handle(cb_store *s) { return s->db; }

int cb_store_check(cb_store *s, cb_error *err)
{
    int rc = cb_store_check_owner(s, "integrity check", err);
    if (rc) return rc;
    static const char *const checks[] = {"PRAGMA integrity_check", "PRAGMA foreign_key_check"};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st;
        if ((rc = cb_store_prepare(s, checks[i], &st, "integrity check", err))) return rc;
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            if (i == 0) {
                const char *r = (const char *)sqlite3_column_text(st, 0);
                if (!r || strcmp(r, "ok") != 0)
                    rc = cb_fail(err, CB_ERR_DB, "%s: integrity check failed: %s", s->path,
                                 r ? r : "(no answer)");
            } else {
                rc = cb_fail(err, CB_ERR_DB, "%s: integrity check failed: row %lld of %s "
                                             "refers to a missing row of %s",
                             s->path, (long long)sqlite3_column_int64(st, 1),
                             (const char *)sqlite3_column_text(st, 0),
                             (const char *)sqlite3_column_text(st, 2));
            }
        } else if (step != SQLITE_DONE) {
            rc = cb_store_db_fail(s, CB_ERR_DB, "integrity check", err);
        }
        sqlite3_finalize(st);
        if (rc) return rc;
    }
    return CB_OK;
}

const char *cb_run_status_name(cb_run_status st)
{
    switch (st) {
    case CB_RUN_RUNNING: return "running";
    case CB_RUN_DONE: return "done";
    case CB_RUN_FAILED: return "failed";
    default: return "any";
    }
}
