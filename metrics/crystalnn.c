/* Step B of the CrystalNN fingerprint (metrics.md §4.3): CrystalNN().get_nn_data of
 * pymatgen 2022.11.7 with its defaults (weighted_cn = False, cation_anion = False,
 * distance_cutoffs = (0.5, 1.0), x_diff_weight = 3.0, porous_adjustment = True), on the
 * VoronoiNN neighbour list of voronoi.c.
 *
 * The weights go through the same operations in the same order as pymatgen's (products
 * left to right, the same divisions, libm's sqrt/cos/atan), Python's stable sorts, and
 * round(w, 3) reproduced exactly (py_round3).  cn_weights is a function of the rounded
 * weights alone, so it comes out bit-identical to pymatgen's whenever they agree. */
#include "crystalnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/elements.h"

#define X_DIFF_WEIGHT 3.0
#define DIST_CUTOFF_LOW 0.5
#define DIST_CUTOFF_HIGH 1.0

/* One neighbour on its way through get_nn_data. */
typedef struct nn_entry {
    double w;
    const cb_voronoi_face *face;
} nn_entry;

/* Python's sorted(key = weight, reverse = True): stable, equal weights keep their
 * order.  Insertion sort: a site has a few dozen neighbours at most. */
static void sort_desc(nn_entry *e, int n)
{
    for (int i = 1; i < n; i++) {
        nn_entry t = e[i];
        int j = i - 1;
        for (; j >= 0 && e[j].w < t.w; j--) e[j + 1] = e[j];
        e[j + 1] = t;
    }
}

/* Python's round(w, 3) for a finite w >= 0: the multiple of 0.001 nearest to the exact
 * binary value of w (ties to even), then the double nearest to that decimal.  k is
 * found from w·1000 and corrected with exact comparisons: fma(w, 1000, −m) is the
 * exactly rounded w·1000 − m, whose sign is that of the exact difference. */
static double py_round3(double w)
{
    double k = nearbyint(w * 1000.0);
    for (;;) {
        double hi = fma(w, 1000.0, -(k + 0.5)), lo = fma(w, 1000.0, -(k - 0.5));
        if (hi > 0 || (hi == 0 && fmod(k, 2.0) != 0))
            k += 1;
        else if (lo < 0 || (lo == 0 && fmod(k, 2.0) != 0))
            k -= 1;
        else
            break;
    }
    return k / 1000.0; /* correctly rounded, as strtod of the decimal */
}

/* 1 + 3·sqrt(|X1 − X2| / 3.3), or 1 when an electronegativity is NaN (He, Ne, Ar, Z >= 104). */
static double chemical_weight(int z1, int z2)
{
    double x1 = cb_elements[z1].pmg_x, x2 = cb_elements[z2].pmg_x;
    if (isnan(x1) || isnan(x2)) return 1;
    return 1 + X_DIFF_WEIGHT * sqrt(fabs(x1 - x2) / 3.3);
}

/* The distance factor of §4.3.5 (cosine taper between d0 + 0.5 and d0 + 1.0). */
static double distance_weight(double dist, double d0)
{
    double low = d0 + DIST_CUTOFF_LOW, high = d0 + DIST_CUTOFF_HIGH;
    if (dist <= low) return 1;
    if (dist < high) return (cos((dist - low) / (high - low) * M_PI) + 1) * 0.5;
    return 0;
}

/* 0.5·(x·sqrt(1 − x²) + atan(x / sqrt(1 − x²))): _semicircle_integral's area term
 * (x**2 is Python's float pow). */
static double semicircle_area(double x)
{
    double s = sqrt(1 - pow(x, 2.0));
    return 0.5 * (x * s + 1 * atan(x / s));
}

/* cn_weights[t] = S(bins[t], bins[t + 1]) */
static double semicircle_integral(const double *bins, int t)
{
    double area1 = bins[t] == 1 ? 0.25 * M_PI * 1 : semicircle_area(bins[t]);
    double area2 = semicircle_area(bins[t + 1]);
    return (area1 - area2) / (0.25 * M_PI * 1);
}

static int alloc_result(cb_crystalnn_result *out, int n_nn, int n_cn)
{
    size_t a = (size_t)(n_nn ? n_nn : 1), b = (size_t)(n_cn ? n_cn : 1);
    out->points = malloc(a * sizeof *out->points);
    out->site = malloc(a * sizeof *out->site);
    out->weight = malloc(a * sizeof *out->weight);
    out->cn = malloc(b * sizeof *out->cn);
    out->cn_weight = malloc(b * sizeof *out->cn_weight);
    return !out->points || !out->site || !out->weight || !out->cn || !out->cn_weight;
}

/* NNData([], {0: 1.0}, {0: []}) */
static int zero_result(cb_crystalnn_result *out, cb_error *err)
{
    if (alloc_result(out, 0, 1)) return cb_fail(err, CB_ERR_NOMEM, "crystalnn: out of memory");
    out->n_nn = 0;
    out->n_cn = 1;
    out->cn[0] = 0;
    out->cn_weight[0] = 1.0;
    return CB_OK;
}

/* Steps 1–6 of §4.3 on e[0..n-1]: the weights before rounding, sorted.  Returns 1 when
 * the result is {0: 1} (the top weight is 0 after step 3 or step 6), 0 otherwise, or
 * an error code (negated) when a radius is missing. */
static int weigh(const cb_crystal *c, int site, const double p[3], nn_entry *e, int n, cb_error *err)
{
    int zc = c->z[site];
    for (int i = 0; i < n; i++) {
        const cb_voronoi_face *f = e[i].face;
        e[i].w = f->weight;
        e[i].w *= f->solid_angle / f->area; /* porous adjustment */
        e[i].w = e[i].w * chemical_weight(zc, f->z);
    }
    sort_desc(e, n);
    if (e[0].w == 0) return 1;
    double top = e[0].w;
    for (int i = 0; i < n; i++) e[i].w = e[i].w / top;

    double rc = cb_elements[zc].crystalnn_radius;
    for (int i = 0; i < n; i++) {
        const cb_voronoi_face *f = e[i].face;
        double rm = cb_elements[f->z].crystalnn_radius;
        if (isnan(rc) || isnan(rm)) {
            int zbad = isnan(rc) ? zc : f->z;
            return -cb_fail(err, CB_ERR_INVALID, "crystalnn: site %d: no covalent or atomic radius for %s (Z = %d)",
                            site, cb_element_symbol(zbad), zbad);
        }
        double d[3] = {p[0] - f->point[0], p[1] - f->point[1], p[2] - f->point[2]};
        double dist = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
        e[i].w = e[i].w * distance_weight(dist, rc + rm);
    }
    sort_desc(e, n);
    return e[0].w == 0;
}

/* Steps 7–10: rounding, bins, cn_weights. */
static int bin_weights(const nn_entry *e, int n, cb_crystalnn_result *out, cb_error *err)
{
    double *w = malloc((size_t)n * sizeof *w), *bins = malloc((size_t)(n + 1) * sizeof *bins);
    int rc = CB_OK;
    if (!w || !bins) {
        rc = cb_fail(err, CB_ERR_NOMEM, "crystalnn: out of memory");
        goto done;
    }
    int kept = 0, nb = 0;
    for (int i = 0; i < n; i++) {
        double r = py_round3(e[i].w);
        if (r > 0) w[kept++] = r; /* sorted: the dropped zeros are at the end */
    }
    for (int i = 0; i < kept; i++)
        if (nb == 0 || bins[nb - 1] != w[i]) bins[nb++] = w[i];
    bins[nb] = 0;
    if (alloc_result(out, kept, nb + 1)) {
        rc = cb_fail(err, CB_ERR_NOMEM, "crystalnn: out of memory");
        goto done;
    }
    out->n_nn = kept;
    for (int i = 0; i < kept; i++) {
        memcpy(out->points[i], e[i].face->point, sizeof out->points[i]);
        out->site[i] = e[i].face->site;
        out->weight[i] = w[i];
    }
    double sum = 0;
    int cn = 0;
    for (int t = 0; t < nb; t++) {
        while (cn < kept && w[cn] >= bins[t]) cn++; /* entries with weight >= bins[t] */
        out->cn[t] = cn;
        out->cn_weight[t] = semicircle_integral(bins, t);
        sum += out->cn_weight[t]; /* Python's sum(): left to right */
    }
    out->n_cn = nb;
    if (1.0 - sum > 0) {
        out->cn[nb] = 0;
        out->cn_weight[nb] = 1.0 - sum;
        out->n_cn++;
    }
done:
    free(w);
    free(bins);
    return rc;
}

int cb_crystalnn_from_cell(const cb_crystal *c, int site, const cb_voronoi_cell *cell, cb_crystalnn_result *out,
                           cb_error *err)
{
    memset(out, 0, sizeof *out);
    if (site < 0 || site >= c->n) return cb_fail(err, CB_ERR_INVALID, "crystalnn: site %d out of range", site);
    memcpy(out->center, cell->center, sizeof out->center);
    int n = cell->n_faces;
    if (n < 1) return cb_fail(err, CB_ERR_INVALID, "crystalnn: site %d has no Voronoi neighbours", site);
    nn_entry *e = malloc((size_t)n * sizeof *e);
    if (!e) return cb_fail(err, CB_ERR_NOMEM, "crystalnn: out of memory");
    for (int i = 0; i < n; i++) e[i].face = &cell->faces[i];
    int r = weigh(c, site, cell->center, e, n, err), rc;
    if (r < 0)
        rc = -r;
    else if (r == 1)
        rc = zero_result(out, err);
    else
        rc = bin_weights(e, n, out, err);
    free(e);
    if (rc) {
        cb_crystalnn_result_free(out);
        memcpy(out->center, cell->center, sizeof out->center);
    }
    return rc;
}

int cb_crystalnn_site(const cb_crystal *c, int site, cb_crystalnn_result *out, cb_error *err)
{
    cb_voronoi_cell cell;
    memset(out, 0, sizeof *out);
    int rc = cb_voronoi_neighbors(c, site, &cell, err);
    if (rc) return rc;
    rc = cb_crystalnn_from_cell(c, site, &cell, out, err);
    cb_voronoi_cell_free(&cell);
    return rc;
}

void cb_crystalnn_result_free(cb_crystalnn_result *r)
{
    if (!r) return;
    free(r->points);
    free(r->site);
    free(r->weight);
    free(r->cn);
    free(r->cn_weight);
    memset(r, 0, sizeof *r);
}

double cb_crystalnn_cn_weight(const cb_crystalnn_result *r, int cn)
{
    for (int i = 0; i < r->n_cn; i++)
        if (r->cn[i] == cn) return r->cn_weight[i];
    return 0;
}

void cb_crystalnn_site_env(const cb_crystalnn_result *r, cb_site_env *env)
{
    memset(env, 0, sizeof *env);
    memcpy(env->center, r->center, sizeof env->center);
    for (int i = 0; i < r->n_cn; i++) {
        int cn = r->cn[i];
        if (cn < 1 || cn > CB_CN_MAX) continue;
        env->env[cn].weight = r->cn_weight[i];
        env->env[cn].n = cn;
        env->env[cn].points = (const double(*)[3])r->points;
    }
}
