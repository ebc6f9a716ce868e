/* A run configuration (the INI file of `crystalbench run`) read into a plan: the
 * datasets, the models and the (model, dataset, task) jobs they make.
 *
 *   [run]                 every key optional
 *   db = FILE             results store (default: $CB_DB, else crystalbench.db)
 *   workdir = DIR         checkpoints, samples, training logs (default: runs)
 *   seed = N              sampling seed of every job (default 0)
 *   split_seed = N        seed of the validation hold-out (default 0)
 *   holdout = F           fraction of the validation split held out (default 0.1)
 *   threads = N           evaluation threads (default: the CPUs)
 *
 *   [dataset NAME]        NAME as in the tables, e.g. mp_20
 *   dir = DIR             holds test.csv and val.csv (train.csv when present), or:
 *   train = / val = / test = FILE
 *   tasks = dng, csp      (default both)
 *   coverage = mp20|carbon|perov   DNG coverage cutoffs (default from NAME)
 *   dng_samples = N       structures to generate (default 1000)
 *   dng_subset = N|all    valid samples in the property metrics (default 1000)
 *   dng_protocol = cdvae|flowmm|ctl
 *   csp_targets = N       first N test structures (default 0 = all)
 *   csp_k = K             predictions per target (default 1)
 *   csp_protocol = cdvae|diffcsp|flowmm
 *
 *   [model LABEL]         LABEL is the table row
 *   backend = NAME        a registered backend (models/registry.c)
 *   datasets = a, b       (default every dataset)
 *   tasks = dng, csp      (default every task the backend and dataset both have)
 *   dng_samples = N       this model's sample count, instead of the dataset's (e.g.
 *                         the size of an external sample file)
 *   checkpoints = DIR     where this model's trained checkpoints live, as
 *                         DIR/<dataset>-<task>.ckpt with the training curve beside it
 *                         (.log.tsv): one that exists is loaded instead of training (a
 *                         committed model; --retrain trains anew and overwrites it)
 *   DATASET.KEY = V       KEY = V for this dataset's jobs only (e.g. mp_20.epochs = 50:
 *                         a CPU budget per dataset); likewise TASK.KEY (dng.epochs) and
 *                         DATASET.TASK.KEY (mp_20.dng.epochs), the more specific winning
 *   DATASET.tasks = csp   this dataset's tasks, instead of `tasks`
 *   any other key         passed to the backend, which rejects unknown ones
 *
 * The split: with a train file the dataset's standard split is used ("standard");
 * without one, the published validation split minus a seeded hold-out trains and the
 * hold-out validates ("val-minus-10%"), as ../shared/data/README.md prescribes.  Paths
 * are taken relative to the current directory. */
#ifndef CRYSTALBENCH_HARNESS_PLAN_H
#define CRYSTALBENCH_HARNESS_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "crystalbench/config.h"
#include "crystalbench/csp.h"
#include "crystalbench/dng.h"
#include "crystalbench/model.h"

typedef struct cb_plan_dataset {
    char *name;
    char *train, *val, *test;  /* train NULL: the val-minus-holdout split */
    unsigned tasks;
    char coverage[16];
    long dng_samples, csp_targets, csp_k;
    size_t dng_subset;         /* 0 = all */
    cb_dng_protocol dng_protocol;
    cb_protocol csp_protocol;
} cb_plan_dataset;

typedef struct cb_plan_model {
    char *label;
    const cb_model_ops *ops;
    cb_config backend_cfg;     /* the section minus the run's keys and DATASET.KEY ones */
    const cb_config *section;  /* as written, for the job's identity */
    char **datasets;           /* NULL = all */
    size_t n_datasets;
    unsigned tasks;            /* 0 = all */
    long dng_samples;          /* 0 = the dataset's */
    char *checkpoints;         /* NULL: checkpoints in the workdir, named by the job hash */
} cb_plan_model;

typedef struct cb_plan_job {
    size_t model, dataset;
    unsigned task;             /* CB_TASK_DNG or CB_TASK_CSP */
} cb_plan_job;

typedef struct cb_plan {
    cb_config_file file;
    char *db, *workdir;
    uint64_t seed;
    uint32_t split_seed;
    double holdout;
    int threads;
    cb_plan_dataset *datasets;
    size_t n_datasets;
    cb_plan_model *models;
    size_t n_models;
    cb_plan_job *jobs;
    size_t n_jobs;
} cb_plan;

/* Reads and checks the whole file before anything runs: unknown sections or keys,
 * bad values, unknown backends or dataset names, missing data files are CB_ERR_USAGE
 * (CB_ERR_IO for an unreadable file) naming the file, section and key. */
int cb_plan_load(const char *path, cb_plan *plan, cb_error *err);
void cb_plan_free(cb_plan *plan);

/* How a [model] key applies to the job (dataset, task): the rank of its scope — 0 for
 * KEY, 1 TASK.KEY, 2 DATASET.KEY, 3 DATASET.TASK.KEY — with *base pointing at its KEY,
 * or -1 when it is scoped to another dataset or task (every DATASET.. key when dataset
 * is NULL).  TASK is dng or csp; a dataset name is matched whole. */
int cb_plan_key_scope(const char *key, const char *dataset, unsigned task, const char **base);

/* The backend configuration of m's jobs on (dataset, task): backend_cfg with the
 * section's scoped keys applied in rank order, so the most specific wins.  *out is the
 * caller's (cb_config_free). */
int cb_plan_backend_config(const cb_plan_model *m, const char *dataset, unsigned task, cb_config *out,
                           cb_error *err);

/* "val-minus-10%" or "standard". */
void cb_plan_split_name(const cb_plan *plan, const cb_plan_dataset *d, char *out, size_t cap);
const char *cb_task_name(unsigned task); /* "dng", "csp" */

#endif
