/* Per-dataset statistics from a training split (models.md §3.2): FlowMM's
 * lattice_params_stats (src/flowmm/rfm/manifolds/lattice_params.py,
 * compute_lattice_params_stats) and the x_t / u_t standardisation statistics
 * (src/flowmm/model/standardize.py, compute_affine_stats). */
#include "manifold.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* standardize.py's AffineStatsParallelAlgorithm adds this inside the square root. */
#define STD_EPSILON 1e-10

/* ℓ1 of crystal i (0-based), refusing cells outside the transform's domain. */
static int crystal_uncon(const cb_dataset *ds, size_t i, double l[6], cb_error *err)
{
    const cb_crystal *c = &ds->items[i];
    double p[6];
    cb_lattice_parameters(c->lattice, p);
    for (int k = 0; k < 3; k++) {
        if (!(p[k] > 0) || !isfinite(p[k]))
            return cb_fail(err, CB_ERR_INVALID, "crystal %zu (%s): lattice length %g", i + 1,
                           c->id ? c->id : "?", p[k]);
        if (!cb_flowmm_angle_in_domain(p[3 + k]))
            return cb_fail(err, CB_ERR_INVALID,
                           "crystal %zu (%s): angle %.6g deg outside FlowMM's (59.9, 120.1); "
                           "Niggli-reduce first (cb_flowmm_preprocess, models.md 1.3)",
                           i + 1, c->id ? c->id : "?", p[3 + k]);
    }
    cb_flowmm_lattice_to_uncon(p, l);
    return CB_OK;
}

int cb_flowmm_lattice_stats_compute(const cb_dataset *train, cb_flowmm_lattice_stats *out,
                                    cb_error *err)
{
    size_t n = train->n;
    if (n == 0) return cb_fail(err, CB_ERR_USAGE, "lattice statistics of an empty dataset");
    /* Columns: 0-2 lengths, 3-5 log lengths, 6-8 φ.  Two passes (mean, then squared
     * deviations) so the result does not depend on a running update's rounding. */
    double sum[9] = {0}, ss[9] = {0}, l[6];
    for (size_t i = 0; i < n; i++) {
        int rc = crystal_uncon(train, i, l, err);
        if (rc) return rc;
        for (int k = 0; k < 3; k++) {
            sum[k] += l[k];
            sum[3 + k] += log(l[k]);
            sum[6 + k] += l[3 + k];
        }
    }
    double mean[9];
    for (int k = 0; k < 9; k++) mean[k] = sum[k] / (double)n;
    for (size_t i = 0; i < n; i++) {
        crystal_uncon(train, i, l, NULL); /* succeeded above */
        double v[9] = {l[0], l[1], l[2], log(l[0]), log(l[1]), log(l[2]), l[3], l[4], l[5]};
        for (int k = 0; k < 9; k++) ss[k] += (v[k] - mean[k]) * (v[k] - mean[k]);
    }
    double sd[9];
    for (int k = 0; k < 9; k++) sd[k] = n > 1 ? sqrt(ss[k] / (double)(n - 1)) : 0.0;
    for (int k = 0; k < 3; k++) {
        out->length_mean[k] = mean[k];
        out->length_std[k] = sd[k];
        out->length_log_mean[k] = mean[3 + k];
        out->length_log_std[k] = sd[3 + k];
        out->angle_uncon_mean[k] = mean[6 + k];
        out->angle_uncon_std[k] = sd[6 + k];
    }
    return CB_OK;
}

/* Running mean and sum of squared deviations (Welford: Chan's parallel update with
 * batches of one sample). */
typedef struct running {
    double n, mean, m2;
} running;

static void running_add(running *r, double x)
{
    r->n += 1.0;
    double d = x - r->mean;
    r->mean += d / r->n;
    r->m2 += d * (x - r->mean);
}

static double running_std(const running *r)
{
    double var = r->n > 1.0 ? r->m2 / (r->n - 1.0) : 0.0;
    return sqrt(var + STD_EPSILON);
}

int cb_flowmm_affine_stats_estimate(const cb_dataset *train, const cb_flowmm_lattice_stats *lat,
                                    int passes, cb_rng *rng, cb_flowmm_affine_stats *out,
                                    cb_error *err)
{
    if (train->n == 0) return cb_fail(err, CB_ERR_USAGE, "affine statistics of an empty dataset");
    if (passes < 1) return cb_fail(err, CB_ERR_USAGE, "affine statistics: passes = %d < 1", passes);
    int max_n = 0;
    for (size_t i = 0; i < train->n; i++) {
        int rc;
        double l[6];
        if ((rc = crystal_uncon(train, i, l, err))) return rc;
        if (train->items[i].n > max_n) max_n = train->items[i].n;
    }
    double(*f0)[3] = malloc((size_t)(max_n > 0 ? max_n : 1) * sizeof *f0);
    double(*f1)[3] = malloc((size_t)(max_n > 0 ? max_n : 1) * sizeof *f1);
    if (!f0 || !f1) {
        free(f0);
        free(f1);
        return cb_fail(err, CB_ERR_NOMEM, "affine statistics: out of memory");
    }
    running xt[6], ut[6], uf[3];
    memset(xt, 0, sizeof xt);
    memset(ut, 0, sizeof ut);
    memset(uf, 0, sizeof uf);
    for (int pass = 0; pass < passes; pass++) {
        for (size_t i = 0; i < train->n; i++) {
            const cb_crystal *c = &train->items[i];
            double l1[6], l0[6], lt[6], ul[6];
            crystal_uncon(train, i, l1, NULL);
            double t = cb_flowmm_sample_time(rng);
            cb_flowmm_lattice_base(lat, rng, l0);
            cb_flowmm_euclid_interp(l0, l1, 6, t, lt);
            cb_flowmm_euclid_velocity(l0, l1, 6, ul);
            for (int k = 0; k < 6; k++) {
                running_add(&xt[k], lt[k]);
                running_add(&ut[k], ul[k]);
            }
            /* x1 = projx(data); the coordinate x_t is not standardised, so only the
             * drift-free velocity (independent of t) is needed. */
            for (int a = 0; a < c->n; a++)
                for (int k = 0; k < 3; k++) f1[a][k] = cb_wrap01(c->frac[a][k]);
            cb_flowmm_torus_uniform(f0, c->n, rng);
            cb_flowmm_torus_velocity((const double(*)[3])f0, (const double(*)[3])f1, c->n, f0);
            cb_flowmm_torus_remove_drift(f0, c->n);
            for (int a = 0; a < c->n; a++)
                for (int k = 0; k < 3; k++) running_add(&uf[k], f0[a][k]);
        }
    }
    free(f0);
    free(f1);
    for (int k = 0; k < 6; k++) {
        out->lattice_xt_mean[k] = xt[k].mean;
        out->lattice_xt_std[k] = running_std(&xt[k]);
        out->lattice_ut_mean[k] = ut[k].mean;
        out->lattice_ut_std[k] = running_std(&ut[k]);
    }
    for (int k = 0; k < 3; k++) out->coord_ut_std[k] = running_std(&uf[k]);
    return CB_OK;
}

int cb_flowmm_stats_compute(const cb_dataset *train, int passes, cb_rng *rng,
                            cb_flowmm_stats *out, cb_error *err)
{
    cb_flowmm_stats s;
    memset(&s, 0, sizeof s);
    int rc = cb_flowmm_lattice_stats_compute(train, &s.lattice, err);
    if (!rc) rc = cb_flowmm_affine_stats_estimate(train, &s.lattice, passes, rng, &s.affine, err);
    if (!rc) rc = cb_flowmm_natoms_count(train, &s.natoms, err);
    if (!rc) *out = s;
    return rc;
}
