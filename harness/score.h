/* Scoring crystals and recording the outcome in a run: what `eval dng`, `eval csp` and
 * `run` share.  With a store, each function writes the run's per-structure series
 * (for plots) and then finishes the run with its metrics in one transaction, so a run
 * marked 'done' always has all of them; without one (store NULL) it only computes. */
#ifndef CRYSTALBENCH_HARNESS_SCORE_H
#define CRYSTALBENCH_HARNESS_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "crystalbench/csp.h"
#include "crystalbench/dataset.h"
#include "crystalbench/dng.h"
#include "crystalbench/store.h"

/* The most metrics one evaluation reports. */
#define CB_SCORE_MAX_METRICS 32

/* DNG metrics of samples[0..n) against the reference set ref, read from ref_path
 * (whose SHA-256 keys the cache of the reference records in the store; a folder is
 * not cached).  Series stored: density and num_elems of the valid samples,
 * ref_density and ref_num_elems of the reference crystals that have a structure. */
int cb_score_dng(const cb_dng_opts *o, const char *ref_path, const cb_dataset *ref, const cb_crystal *samples,
                 size_t n, cb_store *store, int64_t run_id, cb_dng_result *res, cb_error *err);

/* The DNG metrics under the reference's names, in its order (wdist_nary only for the
 * FlowMM protocol); returns the count (at most CB_SCORE_MAX_METRICS). */
size_t cb_dng_metric_list(cb_dng_protocol p, const cb_dng_result *r, const char **names, double *values);

/* CSP metrics (cb_csp_evaluate) of preds[i·k + j] against targets[0..m).  Series
 * stored: rms, the best normalised RMS per target (NaN = no match). */
int cb_score_csp(const cb_csp_opts *o, const cb_crystal *preds, const cb_crystal *targets, size_t m, size_t k,
                 cb_store *store, int64_t run_id, cb_csp_result *res, cb_error *err);

size_t cb_csp_metric_list(const cb_csp_result *r, const char **names, double *values);

#endif
