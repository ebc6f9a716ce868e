/* FlowMM's geometry and data statistics (models.md §1.3–§1.5, §3.1–§3.3, §3.5–§3.7):
 * the manifolds a crystal's state lives on, their base distributions, the conditional
 * paths and target velocities of flow matching, the per-dataset statistics that the
 * network's input/output standardisation and the base distribution need, and the pieces
 * of the Euler sampler.  No network here (that is models/nn/).
 *
 * A crystal's state is x = (A, F, ℓ) (§3.1):
 *   F  fractional coordinates, n × 3, on the flat torus [0,1)^{3n}      (flat_torus.c)
 *   ℓ  (a, b, c, φα, φβ, φγ): lengths in Å, angles through a logit      (lattice_params.c)
 *   A  DNG: analog bits, n × 7, Euclidean; CSP: the fixed one-hot types  (analog_bits.c)
 * Paths and velocities (§3.3), for one crystal with its own t ∈ [0, 1):
 *   F_t = (F0 + t·log(F0, F1)) mod 1      u_F = log(F0, F1) − mean over atoms
 *   ℓ_t = ℓ0 + t(ℓ1 − ℓ0)                 u_ℓ = ℓ1 − ℓ0
 *   A_t = A0 + t(A1 − A0)                 u_A = A1 − A0
 *
 * Conventions: everything here is double (the state is integrated in double; callers
 * round to float where the network reads it); coordinate arrays are n rows of 3 (one
 * crystal; a batch is a loop over crystals, each with its own t); every random draw
 * comes from the caller's cb_rng, in the order each function documents, so a seed fixes
 * the result.  Reference: facebookresearch/flowmm src/flowmm/rfm/manifolds/{flat_torus,
 * lattice_params,analog_bits}.py, src/flowmm/model/{model_pl,standardize}.py,
 * riemannian-fm manifm/solvers.py. */
#ifndef CRYSTALBENCH_FLOWMM_MANIFOLD_H
#define CRYSTALBENCH_FLOWMM_MANIFOLD_H

#include <stddef.h>
#include <stdint.h>

#include "crystalbench/crystal.h"
#include "crystalbench/dataset.h"
#include "crystalbench/error.h"
#include "crystalbench/rng.h"

/* ==== flat torus (flat_torus.c): FlowMM's MaskedNoDriftFlatTorus01 ================== */

/* The torus log map, the shortest signed difference from x to y: d = y − x reduced into
 * [−½, ½) (models.md §1.2).  FlowMM's atan2(sin 2πd, cos 2πd)/2π lies in (−½, ½]; the two
 * differ only at |d| = ½ exactly.  Antisymmetric except there. */
double cb_flowmm_torus_log(double x, double y);
/* projx: every coordinate of n atoms wrapped into [0, 1). */
void cb_flowmm_torus_project(double (*x)[3], int n);
/* The geodesic x_t = (x0 + t·log(x0, x1)) mod 1 for n atoms (x_t may alias x0 or x1). */
void cb_flowmm_torus_interp(const double (*x0)[3], const double (*x1)[3], int n, double t,
                            double (*xt)[3]);
/* d x_t / dt = log(x0, x1), constant along the path: the target velocity BEFORE the
 * drift removal (FlowMM's jvp of the geodesic). */
void cb_flowmm_torus_velocity(const double (*x0)[3], const double (*x1)[3], int n,
                              double (*u)[3]);
/* proju, the translation invariance: u_ic ← u_ic − (1/n) Σ_j u_jc for each c, so the
 * velocity moves no centre of mass (a rigid translation is not a different crystal).
 * Sums run in index order in double.  n = 0 is a no-op.  The float version is the same
 * projection for network outputs (it is symmetric, so it is also its own backward). */
void cb_flowmm_torus_remove_drift(double (*u)[3], int n);
void cb_flowmm_torus_remove_drift_f(float (*u)[3], int n);
/* The base distribution: n × 3 independent U[0, 1) draws, atom by atom, x then y then z. */
void cb_flowmm_torus_uniform(double (*x)[3], int n, cb_rng *rng);
/* One Euler step with projection (manifm's euler_step then projx):
 * x ← (x + dt·(scale·v)) mod 1; scale is the anti-annealing factor (1 for none). */
void cb_flowmm_torus_euler(double (*x)[3], const double (*v)[3], int n, double dt,
                           double scale);

/* ==== Euclidean components (euclid.c): the lattice ℓ and the analog bits A ========== */

/* x_t = x0 + t(x1 − x0), element by element (x_t may alias x0 or x1). */
void cb_flowmm_euclid_interp(const double *x0, const double *x1, size_t n, double t,
                             double *xt);
/* u = x1 − x0 (constant along the path; proju is the identity here). */
void cb_flowmm_euclid_velocity(const double *x0, const double *x1, size_t n, double *u);
/* x ← x + dt·(scale·v).  No projection: nothing keeps lengths positive (§3.2). */
void cb_flowmm_euclid_euler(double *x, const double *v, size_t n, double dt, double scale);

/* ==== lattice-parameter manifold (lattice_params.c) ================================= */

/* FlowMM's angle bounds: torch.Tensor([59.9, 120.1]) is float32, so the transform uses
 * these float32 values (59.900001525878906, 120.09999847412109) and their float32
 * difference (60.199996948242188, exact).  With them 90° maps to φ = 0 exactly. */
#define CB_FLOWMM_ANGLE_LO ((double)59.9f)
#define CB_FLOWMM_ANGLE_HI ((double)120.1f)
#define CB_FLOWMM_ANGLE_WIDTH ((double)(120.1f - 59.9f))
/* Lengths below this are clamped when a state is decoded into a cell (§3.2 [REC]). */
#define CB_FLOWMM_MIN_LENGTH 0.5

/* torch.distributions.biject_to(Uniform(lo, hi).support).inv, models.md §3.2:
 *   p = (θ − lo)/width,  p clamped to [FLT_MIN, 1 − 2⁻²³],  φ = ln p − ln(1 − p)
 * The clamp limits are float32's finfo.tiny and 1 − finfo.eps, as FlowMM (fp32) has
 * them: θ ≤ lo gives φ = ln FLT_MIN ≈ −87.34, θ ≥ hi gives ln(2²³ − 1) ≈ 15.94. */
double cb_flowmm_angle_to_uncon(double theta_deg);
/* The forward bijection: θ = lo + width·σ(φ), σ clamped to [FLT_MIN, 1 − 2⁻²³]. */
double cb_flowmm_angle_from_uncon(double phi);
/* Its Jacobian dθ/dφ = width·σ(φ)(1 − σ(φ)) in degrees per unit φ (unclamped): turns a
 * velocity in φ into one in degrees; dφ/dθ is its reciprocal. */
double cb_flowmm_angle_dtheta_dphi(double phi);
/* 1 when θ lies strictly inside (lo, hi), where the transform is invertible; Niggli
 * cells (angles in [60°, 120°]) always do, raw cells may not. */
int cb_flowmm_angle_in_domain(double theta_deg);
/* (a, b, c, α, β, γ) [Å, degrees] ↔ ℓ = (a, b, c, φα, φβ, φγ): lengths unchanged, each
 * angle through the transform above (FlowMM's deg2uncontrained / uncontrained2deg).
 * in and out may alias. */
void cb_flowmm_lattice_to_uncon(const double params[6], double l[6]);
void cb_flowmm_lattice_from_uncon(const double l[6], double params[6]);
/* A state ℓ into a cell matrix (rows = vectors, pymatgen's from_parameters): lengths
 * clamped to ≥ CB_FLOWMM_MIN_LENGTH.  Returns 1 when the state is a valid cell (every
 * component finite and every length > 0 before the clamp), else 0 (the matrix is still
 * written when finite, for inspection; the sample must be counted invalid). */
int cb_flowmm_lattice_decode(const double l[6], double params[6], double m[3][3]);

/* Training-set statistics of the lattice (FlowMM's lattice_params_stats.yaml): of the
 * lengths in Å, of their logarithms, and of φ.  Only length_log_* enter the model (the
 * base distribution); the others are kept because they are cheap and diagnostic.
 * Standard deviations are unbiased (n − 1), as torch.std. */
typedef struct cb_flowmm_lattice_stats {
    double length_mean[3], length_std[3];
    double length_log_mean[3], length_log_std[3];
    double angle_uncon_mean[3], angle_uncon_std[3];
} cb_flowmm_lattice_stats;

/* The lattice base distribution (FlowMM's LatticeParams.random_base): three LogNormal
 * lengths a_k = exp(μ_k + s_k·ε_k), ε_k ~ N(0, 1) with μ, s = length_log_mean/std, then
 * three angles φ_k = logit(clamp(u_k)), u_k ~ U[0, 1) (a Uniform(lo, hi) angle mapped
 * through the transform, i.e. a standard logistic).  Draws: ε_0..ε_2, then u_0..u_2. */
void cb_flowmm_lattice_base(const cb_flowmm_lattice_stats *s, cb_rng *rng, double l[6]);

/* ==== analog bits for DNG atom types (analog_bits.c) ================================ */

#define CB_FLOWMM_ABITS 7        /* floor(log2 100) + 1 bits for Z − 1 ∈ [0, 99] */
#define CB_FLOWMM_ABITS_SCALE 1.0 /* analog_bits_scale of abits_params.yaml */

/* floor(log2 max_code) + 1 for max_code ≥ 1 (FlowMM's NUM_ATOMIC_BITS for 100 types). */
int cb_flowmm_abits_count(int max_code);
/* Z → 7 values (2·bit_j − 1)·scale with bit_j = ((Z − 1) >> j) & 1, LSB first.
 * CB_ERR_USAGE when Z is outside 1..128 (the codes 7 bits can hold). */
int cb_flowmm_abits_encode(int z, double scale, double a[CB_FLOWMM_ABITS], cb_error *err);
/* 7 values → Z = 1 + Σ_j [a_j > 0]·2^j ∈ 1..128 (0 counts as bit 0, models.md §3.7
 * [REC]; FlowMM's (sign+1)/2 would give ½ there).  Codes above 100 are not elements:
 * the caller marks such a crystal compositionally invalid. */
int cb_flowmm_abits_decode(const double a[CB_FLOWMM_ABITS]);
/* The base distribution: n × 7 standard normals, atom by atom (not random ±1). */
void cb_flowmm_abits_base(double (*a)[CB_FLOWMM_ABITS], int n, cb_rng *rng);

/* ==== number of atoms (num_atoms.c), models.md §1.5 ================================= */

#define CB_FLOWMM_MAX_ATOMS 256 /* largest cell the histogram holds */

/* Histogram of cell sizes of a training split: count[N] crystals with N atoms. */
typedef struct cb_flowmm_natoms {
    int max_n;                           /* largest N with count[N] > 0 (0 when empty) */
    uint64_t count[CB_FLOWMM_MAX_ATOMS + 1];
    uint64_t total;                      /* Σ count */
} cb_flowmm_natoms;

/* Counts every crystal of ds.  CB_ERR_UNSUPPORTED for a crystal with more than
 * CB_FLOWMM_MAX_ATOMS atoms, CB_ERR_INVALID for one with none. */
int cb_flowmm_natoms_count(const cb_dataset *ds, cb_flowmm_natoms *h, cb_error *err);
/* P(N) = count[N]/total (DiffCSP's train_dist); 0 outside 0..max_n or when empty. */
double cb_flowmm_natoms_prob(const cb_flowmm_natoms *h, int n);
/* One N ~ P(N) from a single draw r = cb_rng_below(total): the smallest N whose
 * cumulative count exceeds r, so P is exactly count/total.  0 when the histogram is
 * empty (nothing to sample; no draw is made). */
int cb_flowmm_natoms_sample(const cb_flowmm_natoms *h, cb_rng *rng);

/* ==== per-dataset statistics (stats.c, stats_reference.c, stats_io.c) ============== */

/* FlowMM's network standardisation (§3.2, §3.4; src/flowmm/model/standardize.py):
 * mean and std of x_t and of u_t (after proju) of the lattice, columns (a, b, c, φα, φβ,
 * φγ), and the std of the coordinate velocity.  The coordinate u_t mean is 0 and x_t is
 * not standardised (it enters through a sinusoidal embedding), so they are not stored.
 * Each std is sqrt(unbiased variance + 1e-10). */
typedef struct cb_flowmm_affine_stats {
    double lattice_xt_mean[6], lattice_xt_std[6];
    double lattice_ut_mean[6], lattice_ut_std[6];
    double coord_ut_std[3];
} cb_flowmm_affine_stats;

/* Everything FlowMM needs from its training split, stored with the checkpoint. */
typedef struct cb_flowmm_stats {
    cb_flowmm_lattice_stats lattice;
    cb_flowmm_affine_stats affine;
    cb_flowmm_natoms natoms;
} cb_flowmm_stats;

/* The statistics below read each crystal's lattice parameters and so require cells in
 * FlowMM's preprocessing (models.md §1.3; cb_flowmm_preprocess): a crystal with an angle
 * outside (59.9°, 120.1°) is refused with CB_ERR_INVALID naming it, because the logit
 * would clamp and poison the statistics.  An empty dataset is CB_ERR_USAGE. */

/* lattice_params_stats.yaml from the training split (compute_lattice_params_stats):
 * means and unbiased stds (0 for one crystal), two passes in double, in dataset order. */
int cb_flowmm_lattice_stats_compute(const cb_dataset *train, cb_flowmm_lattice_stats *out,
                                    cb_error *err);
/* The x_t / u_t estimator of standardize.py's compute_affine_stats: `passes` times over
 * the crystals in dataset order (FlowMM: 5 epochs), each crystal draws
 *   t ~ U[0, 1),  ℓ0 = cb_flowmm_lattice_base(lat),  F0 = cb_flowmm_torus_uniform
 * (in that order) and contributes ℓ_t and u_ℓ (one sample each) and every atom's
 * drift-free u_F (one sample per atom and component) to running means and variances
 * (Welford's update in double: Chan's parallel algorithm with batches of one). */
int cb_flowmm_affine_stats_estimate(const cb_dataset *train, const cb_flowmm_lattice_stats *lat,
                                    int passes, cb_rng *rng, cb_flowmm_affine_stats *out,
                                    cb_error *err);
/* All three: lattice statistics, then the estimator (drawing from rng), then the
 * histogram.  passes ≥ 1. */
int cb_flowmm_stats_compute(const cb_dataset *train, int passes, cb_rng *rng,
                            cb_flowmm_stats *out, cb_error *err);

/* FlowMM's shipped tables for its dataset keys "perov", "carbon", "mp_20", "mpts_52"
 * (also "perov_5", "carbon_24"): lattice_params_stats.yaml and stats_<key>_lattice_params
 * / _flat_torus_01.yaml as transcribed in models.md §3.2.  For checks and for a user
 * who trains on the canonical train splits; our default protocol recomputes them.
 * CB_ERR_USAGE for an unknown name. */
int cb_flowmm_stats_reference(const char *dataset, cb_flowmm_lattice_stats *lat,
                              cb_flowmm_affine_stats *aff, cb_error *err);

/* Serialisation into a small byte block (the checkpoint's `extra`), little-endian:
 *     0   8  magic "CBFMSTAT"
 *     8   4  u32 version (CB_FLOWMM_STATS_VERSION)
 *    12   4  u32 D, the number of doubles that follow (45)
 *    16  8D  binary64 bit patterns: lattice stats (length_mean, length_std,
 *            length_log_mean, length_log_std, angle_uncon_mean, angle_uncon_std, 3 each),
 *            then affine (lattice_xt_mean, lattice_xt_std, lattice_ut_mean,
 *            lattice_ut_std, 6 each, coord_ut_std 3)
 *     .   4  u32 max_n
 *     .  8(max_n+1)  u64 count[0..max_n]
 * Doubles travel as their bits, so a round trip is exact. */
#define CB_FLOWMM_STATS_VERSION 1
size_t cb_flowmm_stats_size(const cb_flowmm_stats *s);
/* *out is malloc'd (the caller frees it); CB_ERR_USAGE for max_n out of range. */
int cb_flowmm_stats_serialize(const cb_flowmm_stats *s, unsigned char **out, size_t *len,
                              cb_error *err);
/* CB_ERR_INVALID (one line naming the problem) for a wrong magic, version, count or
 * length, a non-finite value or negative std, max_n out of range or count[max_n] = 0
 * when max_n > 0; *out is untouched on error. */
int cb_flowmm_stats_deserialize(const unsigned char *buf, size_t len, cb_flowmm_stats *out,
                                cb_error *err);

/* ==== training-time sampling and the Euler sampler (schedule.c) ==================== */

/* t ~ U[0, 1), one per crystal (model_pl.py rfm_loss_fn: torch.rand(N)). */
double cb_flowmm_sample_time(cb_rng *rng);
/* Step k (0 ≤ k < steps) of the sampler's grid torch.linspace(0, 1, steps + 1):
 * t = k/steps and dt = (k+1)/steps − k/steps, so the steps add up to exactly 1. */
void cb_flowmm_euler_grid(int k, int steps, double *t, double *dt);
/* The inference anti-annealing factor s(t) = 1 + slope·max(0, t − offset) (model_pl.py
 * _annealing_schedule); FlowMM applies it to the coordinate velocity only by default. */
double cb_flowmm_anneal_scale(double t, double slope, double offset);
/* The loss weights of §3.5 (affine_combine_costs): costs coord 400, lattice 1, type 40
 * (DNG) or 0 (CSP, null manifold), each divided by their sum. */
void cb_flowmm_cost_weights(int dng, double *w_coord, double *w_lattice, double *w_type);

/* ==== preprocessing (preprocess.c), models.md §1.3 ================================= */

/* CDVAE's build_crystal(niggli=True, primitive=False) as FlowMM sees it: Niggli-reduce
 * (cb_crystal_reduced, pymatgen's get_reduced_structure), then rebuild the cell from its
 * parameters in the canonical orientation (cb_lattice_from_parameters) keeping the
 * fractional coordinates, wrapped into [0, 1).  Sites keep their order; id and props
 * are copied.  *out must not own memory; on error it owns nothing. */
int cb_flowmm_preprocess(const cb_crystal *in, cb_crystal *out, cb_error *err);

#endif
