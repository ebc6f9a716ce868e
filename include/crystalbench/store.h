/* The results store: one SQLite file holding every run, its metrics, its samples, its
 * training log, and the reference-side caches keyed by dataset content hash.  Tables
 * and plots are rendered from this file, never from memory.
 *
 * Guarantees:
 *   - Every write is its own transaction (BEGIN IMMEDIATE … COMMIT), so a process
 *     killed at any instant leaves a consistent database: a batch of metrics, samples
 *     or log points is either all there or not at all.
 *   - A run is 'running' from cb_store_begin_run until cb_store_finish_run* (→ 'done')
 *     or cb_store_fail_run (→ 'failed').  The last metrics batch and the switch to
 *     'done' commit together (cb_store_finish_run_with_metrics), so a run marked
 *     'done' always has its complete metrics.  Once a run is not 'running' its rows
 *     are frozen: further puts fail.
 *   - Opening a store marks 'failed' every 'running' run whose process is dead: same
 *     host and kill(pid, 0) fails with ESRCH.  Runs of other hosts are left alone.
 *   - Several processes may write one store at once: WAL mode, a 10 s busy timeout,
 *     and BEGIN IMMEDIATE retried on SQLITE_BUSY, so contention never surfaces as an
 *     error short of a lock held for about a minute.
 *   - The schema is versioned (PRAGMA user_version); opening an older file migrates it
 *     in one transaction, opening a newer one fails with a message saying so.
 *
 * A cb_store belongs to the process that opened it: after fork(), the child must open
 * its own (calls through the parent's handle fail with CB_ERR_USAGE, and closing it
 * there only forgets it, leaving the parent's connection intact).  One cb_store is not
 * for concurrent use by several threads.
 *
 * Conventions: functions return 0 or a cb_status and fill err with one line naming the
 * database file.  "Absent" (no such run, no latest run, cache miss) is CB_ERR_EOF,
 * which callers treat as an answer rather than a failure.  Timestamps are UTC text,
 * "YYYY-MM-DDTHH:MM:SS.SSSZ", which sorts in time order.  Metric and log values that
 * are NaN are stored as NULL and read back as NaN. */
#ifndef CRYSTALBENCH_STORE_H
#define CRYSTALBENCH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "crystalbench/error.h"

/* The schema version this build writes.  History (harness/store_schema.c):
 *   1  runs, metrics, samples
 *   2  train_log, ref_cache, run lookup indexes
 *   3  series (per-structure values for plots) */
#define CB_STORE_SCHEMA_VERSION 3

typedef struct cb_store cb_store;
struct sqlite3;

/* Opens (creating if needed) the store at path, migrates it to the current schema and
 * marks the runs of dead processes 'failed'.  Errors: CB_ERR_IO when the file or its
 * directory cannot be opened or created, CB_ERR_DB when the file is not a SQLite
 * database, is newer than this build, or SQLite fails. */
int cb_store_open(const char *path, cb_store **out, cb_error *err);
/* The same, but a missing file is CB_ERR_IO instead of being created (for commands
 * that only read results). */
int cb_store_open_existing(const char *path, cb_store **out, cb_error *err);
/* Closes; NULL is a no-op. */
void cb_store_close(cb_store *s);
const char *cb_store_path(const cb_store *s);
/* The underlying connection, for read-only queries that the API below does not offer
 * (report tables).  Writing through it bypasses the guarantees above. */
struct sqlite3 *cb_store_handle(cb_store *s);
/* PRAGMA integrity_check and foreign_key_check; CB_ERR_DB with the first problem. */
int cb_store_check(cb_store *s, cb_error *err);

/* ---- runs ---- */

typedef enum cb_run_status {
    CB_RUN_ANY = 0, /* filters only */
    CB_RUN_RUNNING = 1,
    CB_RUN_DONE = 2,
    CB_RUN_FAILED = 3
} cb_run_status;

/* "running", "done", "failed" ("any" for CB_RUN_ANY). */
const char *cb_run_status_name(cb_run_status st);

/* What a run is: the caller fills what it knows.  Strings are copied. */
typedef struct cb_run_info {
    const char *model;        /* required: "flowmm", "cdvae", "textar", "external", … */
    const char *task;         /* required: "dng", "csp", … */
    const char *dataset;      /* required: dataset name, e.g. "mp_20" */
    const char *dataset_path; /* optional */
    const char *dataset_hash; /* optional: hex SHA-256 of the dataset's content */
    const char *split;        /* NULL = "standard"; e.g. "val-minus-10%" */
    const char *config;       /* optional: the config text as used */
    const char *config_hash;  /* NULL = SHA-256 of config (when config is given) */
    uint64_t seed;
    const char *git_rev;      /* NULL = cb_git_revision() */
} cb_run_info;

/* A run as stored.  Strings are malloc'd (NULL where the column is NULL); free with
 * cb_run_free / cb_runs_free. */
typedef struct cb_run {
    int64_t id;
    char *model, *task, *dataset, *dataset_path, *dataset_hash, *split;
    char *config, *config_hash, *git_rev, *host;
    uint64_t seed;
    long pid;
    char *started_at, *ended_at; /* ended_at NULL while running or when found dead */
    cb_run_status status;
    char *message;               /* why it failed; NULL otherwise */
} cb_run;

void cb_run_free(cb_run *r);
void cb_runs_free(cb_run *runs, size_t n);

/* Inserts a 'running' run owned by this process (its pid and host are recorded) and
 * commits at once. */
int cb_store_begin_run(cb_store *s, const cb_run_info *info, int64_t *run_id, cb_error *err);
/* Sets 'done' and ended_at.  The _with_metrics form first writes the n metrics, in the
 * same transaction: after a crash either both happened or neither did.  Only a
 * 'running' run can finish (else CB_ERR_USAGE). */
int cb_store_finish_run(cb_store *s, int64_t run_id, cb_error *err);
int cb_store_finish_run_with_metrics(cb_store *s, int64_t run_id, const char *const *names,
                                     const double *values, size_t n, cb_error *err);
/* Sets 'failed', ended_at and the message (NULL allowed).  Only a 'running' run can
 * fail (else CB_ERR_USAGE). */
int cb_store_fail_run(cb_store *s, int64_t run_id, const char *message, cb_error *err);

/* Which runs to list: NULL fields and CB_RUN_ANY match everything, so a zeroed filter
 * (or a NULL pointer) lists all runs. */
typedef struct cb_run_filter {
    const char *model, *task, *dataset, *split;
    cb_run_status status;
} cb_run_filter;

/* Runs matching f, by id ascending.  *runs is malloc'd (NULL when *n == 0). */
int cb_store_list_runs(cb_store *s, const cb_run_filter *f, cb_run **runs, size_t *n,
                       cb_error *err);
/* One run; CB_ERR_EOF when there is no such id. */
int cb_store_get_run(cb_store *s, int64_t run_id, cb_run *out, cb_error *err);
/* The most recently finished 'done' run matching f (f->status is ignored); ties on
 * ended_at go to the higher id.  CB_ERR_EOF when there is none. */
int cb_store_latest_run(cb_store *s, const cb_run_filter *f, cb_run *out, cb_error *err);
/* The latest 'done' run of every (model, dataset, task, split) matching f, ordered by
 * model, dataset, task, split: the rows of a comparison table. */
int cb_store_latest_runs(cb_store *s, const cb_run_filter *f, cb_run **runs, size_t *n,
                         cb_error *err);

/* ---- metrics of a run ---- */

typedef struct cb_metric {
    char *name;
    double value;
} cb_metric;

void cb_metrics_free(cb_metric *m, size_t n);

/* Writes (or overwrites) metrics of a 'running' run, all n in one transaction. */
int cb_store_put_metric(cb_store *s, int64_t run_id, const char *name, double value,
                        cb_error *err);
int cb_store_put_metrics(cb_store *s, int64_t run_id, const char *const *names,
                         const double *values, size_t n, cb_error *err);
/* All metrics of a run, by name.  *out is malloc'd (NULL when *n == 0). */
int cb_store_get_metrics(cb_store *s, int64_t run_id, cb_metric **out, size_t *n,
                         cb_error *err);
/* One metric; CB_ERR_EOF when the run has none by that name. */
int cb_store_get_metric(cb_store *s, int64_t run_id, const char *name, double *value,
                        cb_error *err);

/* ---- samples of a run (one CIF text per generated or predicted structure) ---- */

typedef struct cb_sample {
    int64_t idx;
    char *cif; /* NULL where the model produced nothing usable */
} cb_sample;

void cb_samples_free(cb_sample *samples, size_t n);

/* Writes cifs[0..n) as samples first_idx, first_idx+1, … of a 'running' run, in one
 * transaction (an existing index is overwritten).  cifs[i] may be NULL. */
int cb_store_put_samples(cb_store *s, int64_t run_id, int64_t first_idx,
                         const char *const *cifs, size_t n, cb_error *err);
/* All samples of a run, by idx.  *out is malloc'd (NULL when *n == 0). */
int cb_store_get_samples(cb_store *s, int64_t run_id, cb_sample **out, size_t *n,
                         cb_error *err);

/* ---- training log (loss curves) ---- */

typedef struct cb_train_point {
    int64_t step;
    char *name;
    double value;
} cb_train_point;

void cb_train_points_free(cb_train_point *p, size_t n);

/* Records n named values at one step of a 'running' run, in one transaction (a resumed
 * run that logs a step again overwrites it). */
int cb_store_log_train(cb_store *s, int64_t run_id, int64_t step, const char *const *names,
                       const double *values, size_t n, cb_error *err);
/* Points of a run ordered by name then step; name NULL = every name. */
int cb_store_get_train_log(cb_store *s, int64_t run_id, const char *name,
                           cb_train_point **out, size_t *n, cb_error *err);

/* ---- series: one named array of doubles per run and name (per-structure values such
 * as the samples' densities, the reference set's densities, each CSP target's RMSE),
 * what plots are drawn from.  NaN is kept as NaN (a missing value, e.g. an unmatched
 * target). ---- */

/* Writes (or replaces) series `name` of a 'running' run, in one transaction. */
int cb_store_put_series(cb_store *s, int64_t run_id, const char *name, const double *values,
                        size_t n, cb_error *err);
/* *values is malloc'd (NULL when *n == 0).  CB_ERR_EOF when the run has no such series. */
int cb_store_get_series(cb_store *s, int64_t run_id, const char *name, double **values,
                        size_t *n, cb_error *err);

/* ---- reference caches (e.g. fingerprints of a test set), keyed by the dataset's
 * content hash, a kind ("crystalnn-fp", "magpie-fp", …) and the version of the code
 * that computed them (bump it when that code changes and old entries are ignored) ---- */

/* Stores (or replaces) a blob of len bytes (len may be 0). */
int cb_store_cache_put(cb_store *s, const char *dataset_hash, const char *kind, int version,
                       const void *blob, size_t len, cb_error *err);
/* *blob is malloc'd (never NULL on success, even for len 0).  CB_ERR_EOF on a miss. */
int cb_store_cache_get(cb_store *s, const char *dataset_hash, const char *kind, int version,
                       void **blob, size_t *len, cb_error *err);

/* ---- schema, for tests and tools ---- */

/* The SQL that migrates a store from version v-1 to v (1 <= v <= CB_STORE_SCHEMA_VERSION),
 * or NULL.  Applying steps 1..k to an empty database, then PRAGMA user_version = k,
 * gives exactly the version-k schema. */
const char *cb_store_migration(int v);

/* ---- provenance (harness/provenance.c) ---- */

/* The source tree's revision for run records: $CB_GIT_REV when set, else
 * `git rev-parse --short HEAD` run in the tree this file was compiled from, with
 * "-dirty" appended when tracked files differ from HEAD; "unknown" when git or the
 * tree is unavailable.  Always NUL-terminates buf (cap >= 1); returns buf. */
char *cb_git_revision(char *buf, size_t cap);

#endif
