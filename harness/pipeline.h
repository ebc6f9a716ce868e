/* `crystalbench run`: every job of a plan (plan.h) — train or load a checkpoint,
 * sample or predict, evaluate, store — resumable at each of those steps.
 *
 * A job is identified by the SHA-256 of its configuration text: the model's section
 * as written, the dataset's files (by content hash) and settings, the task, the seeds,
 * the split and the model ABI.  Under workdir/<label>/<dataset>/<task>-<hash12>.* it
 * keeps .ckpt (the backend's checkpoint), .samples.csv (its output, CDVAE layout, so
 * `eval dng|csp` can score it again) and .log.tsv (the training curve); each file is
 * written whole or not at all.  A rerun skips a job whose finished run with the same
 * hash is in the store, and otherwise resumes from the furthest file present.  The
 * samples are always scored as read back from .samples.csv, so a resumed job scores
 * exactly what a fresh one does.
 *
 * Ctrl-C (SIGINT) or SIGTERM stops at the next step boundary (a backend's training
 * checks between its steps): the run is marked failed "interrupted" and the status is
 * CB_ERR_INTERRUPTED.  Training interrupted that way is saved as .partial.ckpt; the
 * next run loads it and calls train() again, which continues (model.h), then saves
 * .ckpt and removes the partial one.  A second Ctrl-C kills at once; a killed run is marked failed
 * when the store is next opened (store.h). */
#ifndef CRYSTALBENCH_HARNESS_PIPELINE_H
#define CRYSTALBENCH_HARNESS_PIPELINE_H

#include <signal.h>

#include "crystalbench/error.h"
#include "plan.h"

typedef struct cb_pipeline_opts {
    int dry_run; /* list the jobs and their state, do nothing */
    int retrain; /* ignore checkpoints and samples of earlier runs */
    /* The stop flag (nonzero = stop at the next step boundary).  NULL: the pipeline's
     * own, set by SIGINT/SIGTERM, whose handlers it installs while it runs. */
    const volatile sig_atomic_t *stop;
} cb_pipeline_opts;

/* Runs every job; stops at the first failure (its run marked failed).  Returns 0,
 * the failing job's error, or CB_ERR_INTERRUPTED. */
int cb_pipeline_run(const cb_plan *plan, const cb_pipeline_opts *o, cb_error *err);

#endif
