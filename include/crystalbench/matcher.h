/* StructureMatcher: pymatgen's StructureMatcher semantics in C (metrics.md §5).
 *
 * Defaults of the CSP protocol (every published CSP number): StructureMatcher(stol=0.5,
 * angle_tol=10, ltol=0.3) with primitive_cell=True, scale=True, attempt_supercell=False,
 * allow_subset=False, SpeciesComparator.  The distances returned are normalised by
 * (V/N)^(1/3) exactly as pymatgen's.
 *
 * Two ways to call it:
 *   - one-shot on two crystals (cb_match_rms_dist, cb_match_fit);
 *   - prepared: reduce each structure once (Niggli + primitive cell, the expensive part
 *     for many comparisons) and compare prepared structures many times (uniqueness,
 *     novelty).  Results are identical to the one-shot calls. */
#ifndef CRYSTALBENCH_MATCHER_H
#define CRYSTALBENCH_MATCHER_H

#include "crystalbench/crystal.h"

typedef struct cb_matcher_opts {
    double ltol;      /* fractional length tolerance */
    double stol;      /* site tolerance, in units of (V/N)^(1/3) */
    double angle_tol; /* degrees */
    int primitive_cell; /* reduce to the primitive cell first (tolerance 0.25 Å) */
    int scale;          /* scale volumes to each other */
} cb_matcher_opts;

/* (ltol, stol, angle_tol) = (0.3, 0.5, 10), primitive_cell = scale = 1: the CSP protocol. */
cb_matcher_opts cb_matcher_csp(void);
/* pymatgen's StructureMatcher() defaults (0.2, 0.3, 5): novelty/uniqueness à la MatterGen/FlowMM. */
cb_matcher_opts cb_matcher_pymatgen_defaults(void);

/* Result of a comparison. */
typedef struct cb_match_result {
    int matched;     /* get_rms_dist returned a value (rms < stol) */
    double rms;      /* normalised RMS distance; NaN when !matched */
    double max_dist; /* normalised max distance; NaN when !matched */
} cb_match_result;

/* pymatgen get_rms_dist(s1, s2): s1 = prediction, s2 = target. */
int cb_match_rms_dist(const cb_matcher_opts *o, const cb_crystal *s1, const cb_crystal *s2,
                      cb_match_result *out, cb_error *err);
/* pymatgen fit(s1, s2): composition precheck, then the max-distance criterion. */
int cb_match_fit(const cb_matcher_opts *o, const cb_crystal *s1, const cb_crystal *s2, int *match,
                 cb_error *err);

/* A structure reduced once (Niggli, then primitive cell when the options ask for it). */
typedef struct cb_match_prepared cb_match_prepared;
int cb_match_prepare(const cb_matcher_opts *o, const cb_crystal *s, cb_match_prepared **out, cb_error *err);
void cb_match_prepared_free(cb_match_prepared *p);
/* The reduced structure (for inspection and tests). */
const cb_crystal *cb_match_prepared_structure(const cb_match_prepared *p);
int cb_match_rms_dist_prepared(const cb_matcher_opts *o, const cb_match_prepared *s1,
                               const cb_match_prepared *s2, cb_match_result *out, cb_error *err);
int cb_match_fit_prepared(const cb_matcher_opts *o, const cb_match_prepared *s1,
                          const cb_match_prepared *s2, int *match, cb_error *err);

/* pymatgen Structure.get_primitive_structure(tolerance) as used by the matcher
 * (metrics.md §5.7): Niggli-reduced input assumed by the caller; returns the primitive
 * cell, Niggli-reduced, or a copy of the input when none is smaller. */
int cb_primitive_structure(const cb_crystal *s, double tolerance, cb_crystal *out, cb_error *err);

#endif
