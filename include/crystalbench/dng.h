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

#include "crystalbench/crystal.h"
#include "crystalbench/elements.h"
#include "crystalbench/error.h"
#include "crystalbench/progress.h"
#include "crystalbench/validity.h"

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

/* ---- structure fingerprint (§4) ---- */

/* matminer CrystalNNFingerprint.from_preset('ops') averaged over the sites of c (all
 * sites, as stored): the mean of the 61-entry site fingerprints, summed in site order.
 * Returns 0; CB_ERR_INVALID when the reference would raise (Voronoi failure at the
 * largest cutoff, no Voronoi neighbour, an element without a radius: a fingerprint
 * failure, which makes the crystal invalid), CB_ERR_NOMEM. */
int cb_struct_fingerprint(const cb_crystal *c, double fp[CB_STRUCT_FP_LEN], cb_error *err);

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


/* ---- the DNG evaluation (§1.3) ---- */

/* Which reference evaluation is reproduced where they differ (§1.1, §1.3):
 *   CDVAE   (also DiffCSP's DNG): every record is fingerprinted whatever its validity;
 *           coverage uses every generated crystal with fingerprints, precision over all
 *           generated; the property subset is n_subsample random valid crystals.
 *   FLOWMM  predictions with an angle outside (50°, 130°) become invalid without
 *           fingerprints; unconstructed records get nothing; wdist_nary is reported.
 *   CTL     crystal-text-llm: only valid crystals (generated and reference) are
 *           fingerprinted; precision over those; all valid crystals form the subset. */
typedef enum cb_dng_protocol { CB_DNG_CDVAE = 0, CB_DNG_FLOWMM = 1, CB_DNG_CTL = 2 } cb_dng_protocol;

const char *cb_dng_protocol_name(cb_dng_protocol p);
int cb_dng_protocol_from_name(const char *name, cb_dng_protocol *out);

/* Coverage cutoffs of the reference per dataset ("mp20", "carbon", "perov"); returns
 * -1 for an unknown name. */
int cb_dng_cutoffs(const char *dataset, double *struct_cutoff, double *comp_cutoff);

/* One crystal's record: validity, fingerprints and the scalar properties. */
typedef struct cb_dng_record {
    cb_validity v;       /* v.valid is cleared by a fingerprint failure, as the reference */
    int has_fp;          /* fingerprints computed (see cb_dng_protocol) */
    int fp_failed;       /* the fingerprint raised */
    int has_structure;   /* a structure object exists (density is defined) */
    double density;      /* g/cm³ of the built structure; NaN without one */
    int n_elems;         /* distinct elements among the atom types */
    double struct_fp[CB_STRUCT_FP_LEN];
    double comp_fp[CB_COMP_FP_LEN]; /* CompScaler-scaled */
} cb_dng_record;

typedef struct cb_dng_opts {
    cb_dng_protocol protocol;
    double struct_cutoff, comp_cutoff; /* cb_dng_cutoffs */
    size_t n_subsample;     /* valid crystals drawn for the property metrics; 0 = all valid */
    uint32_t seed;          /* numpy RandomState seed of that draw */
    int threads;            /* workers for fingerprints and coverage; <= 1: this thread */
    cb_progress *progress;  /* optional: advanced once per crystal fingerprinted */
} cb_dng_opts;

/* CDVAE, mp20 cutoffs, 1000 samples, seed 0, one thread. */
void cb_dng_opts_default(cb_dng_opts *o);

/* Builds the records of n crystals as the reference builds them from (lengths,
 * angles, fractional coordinates, atom types); is_prediction selects FlowMM's angle
 * filter.  Returns 0, CB_ERR_NOMEM (a fingerprint failure is a record, not an error). */
int cb_dng_records(const cb_dng_opts *o, const cb_crystal *xs, size_t n, int is_prediction, cb_dng_record *out,
                   cb_error *err);

typedef struct cb_dng_result {
    size_t n_gen, n_gt;
    size_t n_valid;         /* valid generated crystals */
    size_t n_gen_fp;        /* generated crystals with fingerprints (coverage P) */
    size_t n_gt_fp;         /* reference crystals with fingerprints (coverage Q) */
    size_t n_subsample;     /* crystals in the property subset */
    double comp_valid, struct_valid, valid;
    double wdist_density, wdist_num_elems;
    double wdist_nary;      /* FlowMM only, NaN otherwise */
    double comp_div, struct_div;
    cb_coverage_result cov;
} cb_dng_result;

/* The metrics of §1.3 from the records.  CB_ERR_INVALID when fewer valid crystals
 * than n_subsample exist (the reference raises), or when a set is empty. */
int cb_dng_evaluate(const cb_dng_opts *o, const cb_dng_record *gen, size_t n_gen, const cb_dng_record *gt,
                    size_t n_gt, cb_dng_result *out, cb_error *err);

#endif
