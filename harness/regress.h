/* The regression gate: a committed baseline (one JSON file per gated run) against the
 * metrics of a stored run.  A metric regresses when it moves the wrong way by more
 * than its tolerance: a "higher is better" metric (validity, coverage, match rate)
 * may not drop, a "lower is better" one (Wasserstein distances, RMSE) may not rise,
 * and an "equal" one (counts) may not change at all beyond its tolerance.
 *
 * Baseline file (format 1):
 *   { "crystalbench_baseline": 1,
 *     "model": "cdvae", "task": "dng", "dataset": "mp_20", "split": "standard",
 *     "source": { "run_id": 3, "git_rev": "1a2b3c4", "created_at": "…" },
 *     "metrics": { "comp_valid": { "value": 0.8714, "better": "higher", "tolerance": 0 },
 *                  … } }
 * `source` documents where the values came from; the gate ignores it.  A value of
 * null stands for NaN (a metric that is undefined for that run, e.g. RMSE with no
 * match): the run must then have NaN too. */
#ifndef CRYSTALBENCH_HARNESS_REGRESS_H
#define CRYSTALBENCH_HARNESS_REGRESS_H

#include <stddef.h>

#include "crystalbench/error.h"
#include "crystalbench/store.h"

typedef enum cb_better { CB_BETTER_HIGHER = 0, CB_BETTER_LOWER = 1, CB_BETTER_EQUAL = 2 } cb_better;

const char *cb_better_name(cb_better b); /* "higher", "lower", "equal" */
/* The direction of the metrics the evaluations store (score.h); counts and unknown
 * names are "equal". */
cb_better cb_better_default(const char *metric);

typedef struct cb_baseline_metric {
    char *name;
    double value;     /* NaN for null */
    cb_better better;
    double tolerance; /* absolute, >= 0 */
} cb_baseline_metric;

typedef struct cb_baseline {
    char *model, *task, *dataset, *split; /* NULL when absent */
    cb_baseline_metric *metrics;
    size_t n;
} cb_baseline;

/* Reads and checks a baseline file: CB_ERR_IO when unreadable, CB_ERR_INVALID with
 * "<path>: <problem>" for bad JSON, a wrong format number, a metric without a numeric
 * value, an unknown direction, a negative or non-finite tolerance. */
int cb_baseline_read(const char *path, cb_baseline *b, cb_error *err);
void cb_baseline_free(cb_baseline *b);

/* Writes b to path (atomically; values with all 17 digits). */
int cb_baseline_write(const char *path, const cb_baseline *b, const cb_run *source, cb_error *err);

typedef enum cb_verdict { CB_VERDICT_OK, CB_VERDICT_IMPROVED, CB_VERDICT_REGRESSED, CB_VERDICT_MISSING } cb_verdict;

/* One baseline metric against the run's value (NaN = the run lacks it or it is NaN;
 * present says which). */
cb_verdict cb_regress_metric(const cb_baseline_metric *m, int present, double value);

#endif
