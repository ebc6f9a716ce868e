/* Validity of one structure: the per-structure `Crystal` record of the reference
 * evaluation scripts (metrics.md §1.1) as far as the CSP and novelty metrics need it —
 * construction, structural validity, SMACT 2.2.1 compositional validity (§2), the
 * reduced composition, and valid = comp_valid && struct_valid.  Fingerprints (§3, §4)
 * are not part of this record.
 *
 * The three reference code bases build the record differently; cb_protocol selects
 * which one is reproduced.  Differences that matter here:
 *   CDVAE    negative length → not constructed; volume < 0.1 → not constructed.
 *   DIFFCSP  negative lengths are accepted (bug: the flag is overwritten); any NaN in
 *            lengths/angles/coordinates → not constructed; SMACT gives up (invalid)
 *            when the oxidation-state product exceeds 1e7.
 *   FLOWMM   as DiffCSP, plus: an atom type outside 1..104 → not constructed; and a
 *            PREDICTED crystal whose angles are not all strictly inside (50°, 130°)
 *            is first replaced by the "absurd" crystal (one Z = 100 atom at the origin
 *            of a 100 Å cube; cb_flowmm_absurd_crystal), record.absurd = 1.  When not
 *            constructed, FlowMM computes nothing else: comp_valid = 0 too.
 * CDVAE and DiffCSP compute comp_valid from the atom types even when the structure
 * was not constructed.
 *
 * Documented deviation: SMACT 2.2.1 raises (and the reference evaluation aborts) for
 * an element without SMACT element data (Z >= 104).  Here such a composition is
 * comp-invalid and record.smact_error = 1, so callers can count them. */
#ifndef CRYSTALBENCH_VALIDITY_H
#define CRYSTALBENCH_VALIDITY_H

#include "crystalbench/crystal.h"
#include "crystalbench/elements.h"

typedef enum cb_protocol {
    CB_PROTOCOL_CDVAE = 0,
    CB_PROTOCOL_DIFFCSP = 1,
    CB_PROTOCOL_FLOWMM = 2
} cb_protocol;

/* "cdvae", "diffcsp", "flowmm". */
const char *cb_protocol_name(cb_protocol p);
/* Parses a protocol name (any case); returns 0 on success, -1 when unknown. */
int cb_protocol_from_name(const char *name, cb_protocol *out);

/* Thresholds of §1.1 (Å and Å^3).  A structure is struct-invalid iff its minimum
 * distance between two distinct sites (minimum image) is < 0.5 (strict) or its volume
 * is < 0.1; a site's distance to its own periodic images is not considered, so a
 * 1-atom cell is valid whenever its volume is. */
#define CB_STRUCT_MIN_DIST 0.5
#define CB_STRUCT_MIN_VOLUME 0.1

/* ---- SMACT 2.2.1 (§2) ---- */

#define CB_SMACT_VALID 1
#define CB_SMACT_INVALID 0
#define CB_SMACT_ERROR (-1) /* SMACT would raise: Z out of 1..118 or without element data */

/* smact_validity(elems, counts) with use_pauling_test = include_alloys = True.
 * z[0..n-1] are distinct elements in the order SMACT receives them (the record uses
 * increasing Z; the order matters only through the Pauling test's None handling),
 * counts are the reduced integer counts (>= 1).  product_guard = 1 applies the
 * DiffCSP/FlowMM shortcut (invalid when the number of oxidation-state combinations
 * exceeds 1e7).  Returns CB_SMACT_VALID, CB_SMACT_INVALID or CB_SMACT_ERROR (also
 * for n < 1 or a count < 1). */
int cb_smact_validity(int n, const int *z, const long *counts, int product_guard);

/* SMACT pauling_test(ox, enegs) as smact_validity calls it (TypeError → True):
 * the order-dependent None semantics of §2.2.  eneg NaN = None.  Returns 1 or 0. */
int cb_smact_pauling_ok(int n, const int *ox, const double *eneg);

/* ---- the record ---- */

typedef struct cb_validity {
    int constructed;   /* a structure exists and has volume >= 0.1 */
    int absurd;        /* FlowMM: replaced by the absurd crystal (angle filter) */
    int struct_valid;
    int comp_valid;
    int smact_error;   /* comp_valid = 0 because SMACT would raise (Z >= 104) */
    int valid;         /* comp_valid && struct_valid */
    double volume;     /* Å^3 of the structure as built; NaN when none was built */
    double min_dist;   /* minimum distance between two distinct sites (Å); NaN when
                        * not constructed or fewer than 2 sites */
    /* Reduced composition: distinct Z in increasing order, counts / gcd. */
    int n_elems;
    int elems[CB_MAX_Z];
    long counts[CB_MAX_Z];
} cb_validity;

/* Builds the record from raw model output (§1.1 construction): lengths (Å), angles
 * (degrees), n atom types and fractional coordinates.  is_prediction selects FlowMM's
 * angle filter (ground truth is not filtered).  When `built` is non-NULL it receives
 * the structure the record describes (the absurd crystal when record.absurd) if one
 * was built — even with volume < 0.1, as the reference keeps it — else it is left
 * zeroed; the caller frees it.  Returns 0, or CB_ERR_NOMEM / CB_ERR_INVALID (n < 1)
 * with err set; every physically bad input is a record, not an error. */
int cb_validity_from_params(cb_protocol p, int is_prediction, const double lengths[3],
                            const double angles[3], int n, const int *atom_types,
                            const double (*frac)[3], cb_validity *out, cb_crystal *built,
                            cb_error *err);

/* The same for a structure already built (read from a file): construction checks use
 * its lattice parameters (a lattice matrix has no negative lengths; non-finite
 * entries, atom types outside 1..118 and FlowMM's 1..104 and angle filter apply).
 * When FlowMM replaces a prediction (out->absurd), the caller must use
 * cb_flowmm_absurd_crystal in its place.  Returns 0 or CB_ERR_NOMEM. */
int cb_validity_of_crystal(cb_protocol p, int is_prediction, const cb_crystal *c, cb_validity *out,
                           cb_error *err);

/* Only the structural test (§1.1): sets *valid and *min_dist (NaN for < 2 sites).
 * Volume below 0.1 is invalid without computing distances.  Returns 0 or an error of
 * cb_crystal_distance_matrix (allocation, singular lattice). */
int cb_structure_validity(const cb_crystal *c, int *valid, double *min_dist, cb_error *err);

/* Reduced composition of n atom types (any order): distinct Z increasing, counts
 * divided by their gcd.  Returns the number of distinct elements, or -1 when a type
 * is outside 1..118 (elems/counts then hold the valid ones only). */
int cb_reduced_composition(int n, const int *atom_types, int elems[CB_MAX_Z], long counts[CB_MAX_Z]);

/* FlowMM's replacement for a prediction with an angle outside (50°, 130°): 1 atom of
 * Z = 100 at (0,0,0) in a 100 Å cube.  out must not own memory. */
int cb_flowmm_absurd_crystal(cb_crystal *out, cb_error *err);
/* FlowMM's safe_crystal test: all three angles strictly inside (50°, 130°). */
int cb_flowmm_angles_ok(const double angles[3]);

#endif
