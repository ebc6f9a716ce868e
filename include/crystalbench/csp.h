/* CSP / reconstruction metrics (metrics.md §1.2): match rate and RMSE of predicted
 * structures against their targets, with StructureMatcher(stol=0.5, angle_tol=10,
 * ltol=0.3).get_rms_dist(pred, target).
 *
 * One prediction per target (k = 1):
 *   pair i is tried iff the prediction is valid (CDVAE) or both are valid (DiffCSP,
 *   FlowMM), validity per the protocol's record (validity.h);
 *   matched iff get_rms_dist returns a value (rms < stol);
 *   match_rate = n_matched / M over ALL M targets (invalid and unmatched are misses);
 *   rms_dist   = mean rms over the matched pairs, NaN when none matched.
 * k predictions per target (DiffCSP/FlowMM --multi_eval): each of the k is tried iff
 * it is itself valid (the target's validity is not checked, as in the reference);
 * the target's rms is the smallest over its matched predictions.
 *
 * The validity gate caps what any model can reach: 53 of the 3,785 perov_5 test
 * structures (801 of 9,046 MP-20) are SMACT-invalid, so even the targets themselves
 * as predictions score 3,732 / 3,785 = 98.60 % under every reference protocol.
 * opts.no_gate removes the gate for pure structure matching.
 *
 * A matcher failure on one pair (the reference catches every exception as "no
 * match") counts as a miss and in n_match_errors; only running out of memory stops
 * the evaluation.  FlowMM predictions replaced by the absurd crystal (validity.h) are
 * matched as that crystal, i.e. they miss unless the target is pure Fm. */
#ifndef CRYSTALBENCH_CSP_H
#define CRYSTALBENCH_CSP_H

#include <stddef.h>

#include "crystalbench/crystal.h"
#include "crystalbench/matcher.h"
#include "crystalbench/progress.h"
#include "crystalbench/validity.h"

typedef struct cb_csp_opts {
    cb_protocol protocol;   /* validity gate and record (default CB_PROTOCOL_DIFFCSP) */
    int no_gate;            /* 1 = try every pair whatever its validity (pure structure
                             * matching; not a reference protocol) */
    cb_matcher_opts matcher; /* default cb_matcher_csp() */
    int threads;            /* worker threads for the matcher; <= 1 = this thread only */
    cb_progress *progress;  /* optional: advanced once per target (from this thread) */
} cb_csp_opts;

/* protocol DiffCSP, matcher cb_matcher_csp(), one thread, no progress. */
void cb_csp_opts_default(cb_csp_opts *o);

typedef struct cb_csp_result {
    size_t n_targets;       /* M */
    size_t k;               /* predictions per target */
    size_t n_pred;          /* M·k */
    size_t n_valid_pred;    /* predictions whose own record is valid */
    size_t n_valid_targets; /* targets whose record is valid */
    size_t n_tried;         /* predictions that passed the gate and reached the matcher */
    size_t n_matched;       /* targets with a match */
    size_t n_match_errors;  /* matcher failures counted as misses */
    double match_rate;      /* n_matched / M (NaN when M = 0) */
    double rms_dist;        /* mean best rms over matched targets; NaN when none */
} cb_csp_result;

/* preds[i·k + j] is the j-th prediction for targets[i] (k consecutive predictions per
 * target).  rms, when non-NULL, receives M per-target values (best rms, NaN = miss).
 * Returns 0, CB_ERR_USAGE (k < 1) or CB_ERR_NOMEM. */
int cb_csp_evaluate(const cb_csp_opts *o, const cb_crystal *preds, const cb_crystal *targets, size_t m,
                    size_t k, double *rms, cb_csp_result *out, cb_error *err);

#endif
