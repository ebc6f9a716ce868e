/* The store's schema as an ordered list of migrations.  Step v turns a version v-1
 * database into version v; cb_store_open applies the missing steps and sets
 * PRAGMA user_version in one transaction.  Steps are append-only: once a version has
 * been released its SQL never changes (a fix is a new step). */
#include "crystalbench/store.h"

static const char *const migrations[CB_STORE_SCHEMA_VERSION] = {
    /* 1: runs and what they produced. */
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  model TEXT NOT NULL,"
    "  task TEXT NOT NULL,"
    "  dataset TEXT NOT NULL,"
    "  dataset_path TEXT,"
    "  dataset_hash TEXT,"
    "  split TEXT NOT NULL DEFAULT 'standard',"
    "  config TEXT,"
    "  config_hash TEXT,"
    "  seed INTEGER NOT NULL DEFAULT 0,"   /* uint64 stored as its int64 bit pattern */
    "  git_rev TEXT,"
    "  host TEXT NOT NULL,"
    "  pid INTEGER NOT NULL,"
    "  started_at TEXT NOT NULL,"
    "  ended_at TEXT,"
    "  status TEXT NOT NULL DEFAULT 'running'"
    "    CHECK (status IN ('running', 'done', 'failed')),"
    "  message TEXT"
    ");"
    "CREATE TABLE metrics ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  value REAL,"                        /* NULL = NaN */
    "  PRIMARY KEY (run_id, name)"
    ") WITHOUT ROWID;"
    "CREATE TABLE samples ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  structure TEXT,"                    /* CIF text */
    "  PRIMARY KEY (run_id, idx)"
    ");",

    /* 2: loss curves, reference caches, and indexes for the run lookups. */
    "CREATE TABLE train_log ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  step INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  value REAL,"
    "  PRIMARY KEY (run_id, name, step)"
    ") WITHOUT ROWID;"
    "CREATE TABLE ref_cache ("
    "  dataset_hash TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  blob BLOB NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  PRIMARY KEY (dataset_hash, kind, version)"
    ");"
    "CREATE INDEX runs_by_key ON runs(model, dataset, task, split, status);"
    "CREATE INDEX runs_by_status ON runs(status);",

    /* 3: per-structure values of a run (densities of the samples and of the reference
     * set, RMSE per CSP target, …) for plots: one blob of native doubles per series. */
    "CREATE TABLE series ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  n INTEGER NOT NULL CHECK (n >= 0),"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY (run_id, name)"
    ") WITHOUT ROWID;",
};

const char *cb_store_migration(int v)
{
    if (v < 1 || v > CB_STORE_SCHEMA_VERSION) return 0;
    return migrations[v - 1];
}
