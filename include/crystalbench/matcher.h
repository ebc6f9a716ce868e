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
 *     novelty).  Results are identical to the one-shot calls.
 *
 * Fidelity: pymatgen 2022.11.7 operation by operation — the reduction (§5.7, the same
 * cell and coordinates bit for bit), the lattice mappings and translations in
 * pymatgen's order, the prefilter, the shortest vectors with mask and lll_frac_tol,
 * pymatgen's own LAPJV variant (so ties pick the same assignment), the mean-translation
 * removal and the early exit below 1e-5.  Decisions agree with pymatgen on every pair
 * tried (reference_vectors.json and a few thousand dataset pairs); RMS values agree to
 * ~1e-15, the last bits differing only through numpy's SIMD cos/arccos (reduce.h).
 *
 * Not supported (pymatgen options the benchmarks never use): attempt_supercell,
 * allow_subset, fit(symmetric=True), other comparators, ignored_species; species are
 * compared by atomic number.
 *
 * Errors: an invalid structure (no sites, unknown Z, non-finite values, zero volume),
 * non-positive tolerances or a failed lattice reduction return a cb_status with a
 * one-line message; the result then says "no match".  Everything is reentrant (no
 * global state): comparisons may run in parallel threads.
 *
 * Cost on one core (MP-20 pairs): ~15 us to prepare a structure, ~0.1–0.2 ms for a
 * get_rms_dist of two prepared structures of the same composition (~150x pymatgen),
 * a few us when compositions or reduced site counts differ. */
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

/* pymatgen get_rms_dist(s1, s2): s1 = prediction, s2 = target.  The smallest RMS over
 * every lattice mapping of s1 onto s2 and every translation (no composition check;
 * different reduced site counts or species never match). */
int cb_match_rms_dist(const cb_matcher_opts *o, const cb_crystal *s1, const cb_crystal *s2,
                      cb_match_result *out, cb_error *err);
/* pymatgen fit(s1, s2): the fractional compositions of the inputs must agree within
 * 1e-8 (checked before any reduction), then the search stops at the first (mapping,
 * translation) whose largest normalised distance is below stol.  *match is 0 or 1. */
int cb_match_fit(const cb_matcher_opts *o, const cb_crystal *s1, const cb_crystal *s2, int *match,
                 cb_error *err);

/* A structure reduced once (Niggli, then primitive cell when the options ask for it),
 * with the composition of the original for fit().  The options used to prepare must
 * have the same primitive_cell as the options used to compare. */
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
 * cell, Niggli-reduced, or a copy of the input when none is smaller.  A smaller cell's
 * sites are sorted by element symbol, their coordinates are pymatgen's running means
 * (possibly slightly outside [0, 1)), bit for bit.  *out must not own memory. */
int cb_primitive_structure(const cb_crystal *s, double tolerance, cb_crystal *out, cb_error *err);

#endif
