/* De novo generation metrics (metrics.md §1.3, §3): the composition fingerprint, the
 * set statistics built on fingerprints (coverage, AMSD/AMCD, diversity) and on scalar
 * properties (Wasserstein-1 distance), and the seeded subset the reference draws.
 *
 * Every function here reproduces the reference evaluation's formula and the set it is
 * applied to is the caller's business (metrics.md §1.5 lists which set each metric
 * uses). */
#ifndef CRYSTALBENCH_DNG_H
#define CRYSTALBENCH_DNG_H

#include <stddef.h>
#include <stdint.h>

#include "crystalbench/elements.h"
#include "crystalbench/error.h"

#define CB_COMP_FP_LEN CB_MAGPIE_NFEATURES /* 132 */
#define CB_STRUCT_FP_LEN 61

/* ---- composition fingerprint (§3) ---- */

/* matminer ElementProperty.from_preset('magpie') of the cell's composition: n atom
 * types (any order; the per-element counts of the cell, not reduced, are the weights).
 * fp[6·p + s] for property p and statistic s (min, max, range, mean, avg_dev, mode);
 * NaN where an element lacks the property.  Returns 0, or CB_ERR_INVALID for n < 1 or
 * a type outside 1..118. */
int cb_comp_fingerprint(int n, const int *atom_types, double fp[CB_COMP_FP_LEN], cb_error *err);

/* CDVAE CompScaler: (x − mean) / std per feature, then NaN → 0.  raw and scaled may
 * be the same array. */
void cb_comp_scale(const double raw[CB_COMP_FP_LEN], double scaled[CB_COMP_FP_LEN]);

/* ---- scalar property distributions ---- */

/* scipy.stats.wasserstein_distance(u, v) with unit weights.  Returns 0, or
 * CB_ERR_INVALID for an empty side or a non-finite value, CB_ERR_NOMEM. */
int cb_wasserstein1(const double *u, size_t nu, const double *v, size_t nv, double *out, cb_error *err);

/* ---- fingerprint sets ---- */

/* A set of fingerprints: row i of struct_fp (CB_STRUCT_FP_LEN doubles) and comp_fp
 * (CB_COMP_FP_LEN, already CompScaler-scaled) belong to the same crystal. */
typedef struct cb_fp_set {
    size_t n;
    const double *struct_fp;
    const double *comp_fp;
} cb_fp_set;

typedef struct cb_coverage_result {
    double cov_recall, cov_precision;
    double amsd_recall, amsd_precision;
    double amcd_recall, amcd_precision;
} cb_coverage_result;

/* compute_cov: gen = the generated crystals that have fingerprints, num_gen = the
 * number of generated crystals before that filter (precision's denominator), gt = the
 * reference crystals.  Distances are Euclidean; a crystal is covered when both its
 * structural and its compositional nearest distance are within the cutoffs (<=).
 * Runs on `threads` threads (<= 1: the caller's).  Returns 0, or CB_ERR_INVALID for an
 * empty gen or gt, CB_ERR_NOMEM. */
int cb_coverage(const cb_fp_set *gen, size_t num_gen, const cb_fp_set *gt, double struct_cutoff,
                double comp_cutoff, int threads, cb_coverage_result *out, cb_error *err);

/* Mean pairwise Euclidean distance (scipy pdist, i < j) of n rows of dim doubles; NaN
 * when n < 2. */
double cb_mean_pairwise_distance(const double *rows, size_t n, size_t dim);

/* ---- the seeded subset ---- */

/* numpy's legacy RandomState(seed).permutation(n) (MT19937, Fisher–Yates with masked
 * rejection sampling), so that `choice(n, k, replace=False)` = its first k entries.
 * The reference never seeds; with a seed the subset is reproducible here and equal to
 * what numpy would draw with the same seed.  Returns 0 or CB_ERR_NOMEM. */
int cb_np_permutation(uint32_t seed, size_t n, size_t *out, cb_error *err);

#endif
