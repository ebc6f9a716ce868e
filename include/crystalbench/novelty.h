/* Uniqueness and novelty by structure matching (metrics.md §1.4, the FlowMM/MatterGen
 * style): two structures are "the same" when StructureMatcher.fit(s1, s2) is true.
 *
 *   uniqueness = fraction of samples that match no EARLIER sample
 *                (sample i is unique iff fit(samples[i], samples[j]) fails for every
 *                j < i; every duplicate group thus keeps its first member);
 *   novelty    = fraction of samples that match no structure of a reference set
 *                (usually the training set): fit(samples[i], ref[r]) fails for all r.
 * The judged sample is always fit()'s first structure (as the prediction is in CSP).
 *
 * fit() starts by comparing reduced formulas (SpeciesComparator), so structures are
 * grouped by Composition.reduced_formula (cb_crystal_reduced_formula) first and only
 * same-formula pairs reach the matcher; each structure is reduced (Niggli + primitive
 * cell) once, on first use (cb_match_prepare).
 *
 * Matcher options are a parameter; NULL = cb_matcher_pymatgen_defaults() (ltol 0.2,
 * stol 0.3, angle_tol 5: pymatgen's StructureMatcher() as FlowMM's and MatterGen's
 * novelty code use it).  Pass cb_matcher_csp() for the looser CSP tolerances.
 *
 * Callers choose which samples to pass (e.g. only valid ones).  A structure the matcher
 * cannot prepare, or a comparison that fails, counts as "no match" and in n_errors (so
 * such a sample is unique / novel); only running out of memory stops the metric. */
#ifndef CRYSTALBENCH_NOVELTY_H
#define CRYSTALBENCH_NOVELTY_H

#include <stddef.h>

#include "crystalbench/crystal.h"
#include "crystalbench/matcher.h"
#include "crystalbench/progress.h"

typedef struct cb_dedup_result {
    size_t n;          /* samples */
    size_t n_hit;      /* unique samples (uniqueness) or novel samples (novelty) */
    double fraction;   /* n_hit / n; NaN when n = 0 */
    size_t n_compared; /* matcher comparisons made */
    size_t n_errors;   /* structures or comparisons the matcher refused */
} cb_dedup_result;

/* flags, when non-NULL, receives n entries: 1 = unique.  progress (optional) advances
 * once per sample.  Returns 0 or CB_ERR_NOMEM. */
int cb_uniqueness(const cb_matcher_opts *o, const cb_crystal *samples, size_t n, unsigned char *flags,
                  cb_progress *progress, cb_dedup_result *out, cb_error *err);

/* flags, when non-NULL, receives n entries: 1 = novel.  Returns 0 or CB_ERR_NOMEM. */
int cb_novelty(const cb_matcher_opts *o, const cb_crystal *samples, size_t n, const cb_crystal *ref,
               size_t n_ref, unsigned char *flags, cb_progress *progress, cb_dedup_result *out,
               cb_error *err);

#endif
