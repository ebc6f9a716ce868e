/* StructureMatcher._strict_match(A, B) with fu = 1 (metrics.md §5.8–§5.11), operation
 * by operation as pymatgen 2022.11.7 runs it:
 *   for each lattice mapping l of A onto B (find_all_mappings order, |det S| = 1):
 *     fA = frac(cart(A), l) wrapped with floor; avg = from_parameters(mean parameters);
 *     for each translation putting an A site of B's rarest species onto that B site:
 *       prefilter (is_coord_subset_pbc with frac_tol), then _cart_dists: shortest
 *       vectors with mask and lll_frac_tol, assignment (LAPJV), mean translation
 *       removed, distances normalised by (N / V)^(1/3);
 *       keep the smallest value (strict <), stop early below 1e-5 (or at the first
 *       value below stol for fit).
 * Per mapping, what does not depend on the translation (A's LLL coordinates, the 27
 * images) is computed once; all scratch is allocated once per call. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/reduce.h"
#include "../core/npmath.h"
#include "lap.h"
#include "matcher_internal.h"

typedef struct strict_ctx {
    const cb_matcher_opts *o;
    match_mode mode;
    int n;
    const cb_crystal *b;
    unsigned char *mask; /* [i(B) * n + j(A)]: species differ */
    int *ta, n_ta, sb;   /* translation candidates: A sites of B[sb]'s species */
    double pb[6];        /* B's lattice parameters */
    double (*cc)[3];         /* A's Cartesian coordinates */
    double (*fa)[3];         /* per mapping: A in the mapped basis, wrapped */
    cb_match_side sa_side;   /* per mapping: fA in the LLL basis of avg */
    double (*fbt)[3];        /* per translation: B + t */
    cb_match_side sb_side;   /* per translation: B + t in the LLL basis */
    unsigned char *image;    /* n × n which image is the shortest */
    double *d2;              /* n × n their squared lengths (the assignment costs) */
    double (*short_vecs)[3]; /* n: the assigned vectors */
    double *dist;            /* n: normalised distances */
    int *sol;                /* n: the assignment */
    cb_lap lap;
    /* result */
    int have_best;
    double best_val, best_rms, best_max;
    int rc;
    cb_error *err;
} strict_ctx;

CB_FMA_CLONES double cb_match_sumsq(const double *x, int n)
{
    /* OpenBLAS Haswell ddot: blocks of 16 into four 4-lane FMA accumulators, a fixed
     * reduction tree, then the remaining elements added plainly. */
    int n1 = n & -16;
    double dot = 0.0;
    if (n1) {
        double acc[4][4] = {{0}};
        for (int blk = 0; blk < n1; blk += 16)
            for (int a = 0; a < 4; a++)
                for (int l = 0; l < 4; l++) {
                    double v = x[blk + 4 * a + l];
                    acc[a][l] = fma(v, v, acc[a][l]);
                }
        double s[4][2];
        for (int a = 0; a < 4; a++)
            for (int l = 0; l < 2; l++) s[a][l] = acc[a][l] + acc[a][l + 2];
        double t[2];
        for (int l = 0; l < 2; l++) t[l] = (s[0][l] + s[1][l]) + (s[2][l] + s[3][l]);
        dot = t[0] + t[1];
    }
    for (int i = n1; i < n; i++) dot += x[i] * x[i];
    return dot;
}

/* |x − round(x)| with C's round (half away from zero): see matcher_pbc.c. */
static inline double int_dist(double x) { return fabs(x - rint(x)); }

/* Lattice.abc of the 2π reciprocal lattice of m. */
static int reciprocal_abc(const double m[3][3], double abc[3])
{
    double rec[3][3];
    if (cb_lattice_reciprocal(m, rec)) return 1;
    for (int k = 0; k < 3; k++) abc[k] = sqrt(rec[k][0] * rec[k][0] + rec[k][1] * rec[k][1] + rec[k][2] * rec[k][2]);
    return 0;
}

/* is_coord_subset_pbc(B + t, fA, frac_tol, mask): every B site has some allowed A site
 * within the tolerance on every axis (C round = half away from zero). */
static int coord_subset(const strict_ctx *s, const double tol[3])
{
    int n = s->n;
    for (int i = 0; i < n; i++) {
        int ok = 0;
        for (int j = 0; j < n && !ok; j++) {
            if (s->mask[(size_t)i * (size_t)n + (size_t)j]) continue;
            ok = 1;
            for (int k = 0; k < 3 && ok; k++) {
                double d = s->fbt[i][k] - s->fa[j][k];
                if (int_dist(d) > tol[k]) ok = 0;
            }
        }
        if (!ok) return 0;
    }
    return 1;
}

/* _cart_dists: assignment, mean translation removed, normalised distances into
 * s->dist; then the value the search minimises and the max distance. */
static int cart_dists(strict_ctx *s, const cb_match_lll *m, double norm, double *val, double *rms, double *maxd)
{
    int n = s->n;
    cb_match_lll_side(m, (const double(*)[3])s->fbt, n, s->sb_side.g, s->sb_side.w, s->sb_side.c);
    cb_match_shortest(m, n, s->mask, &s->sb_side, &s->sa_side, s->image, s->d2);
    int rc = cb_lap_solve_finite(&s->lap, n, s->d2, CB_LAP_EPSILON, s->sol, s->err);
    if (rc) return rc;
    /* the assigned vectors (a forbidden pair's is (1e20, 1e20, 1e20), as pymatgen's) */
    double(*v)[3] = s->short_vecs, t[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        size_t at = (size_t)i * (size_t)n + (size_t)s->sol[i];
        if (s->d2[at] == CB_MATCH_FORBIDDEN)
            v[i][0] = v[i][1] = v[i][2] = CB_MATCH_FORBIDDEN;
        else
            cb_match_vector(m, &s->sb_side, &s->sa_side, i, s->sol[i], s->image[at], v[i]);
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) t[k] += v[i][k];
    for (int k = 0; k < 3; k++) t[k] = t[k] / (double)n;
    double mx = 0;
    for (int i = 0; i < n; i++) {
        double d0 = v[i][0] - t[0], d1 = v[i][1] - t[1], d2 = v[i][2] - t[2];
        double d = sqrt(d0 * d0 + d1 * d1 + d2 * d2) * norm;
        s->dist[i] = d;
        if (i == 0 || d > mx) mx = d;
    }
    *rms = sqrt(cb_match_sumsq(s->dist, n)) / pow((double)n, 0.5);
    *maxd = mx;
    *val = s->mode == MATCH_RMS ? *rms : mx;
    return CB_OK;
}

static long long idet3(const int a[3][3])
{
    long long p = (long long)a[1][1] * a[2][2] - (long long)a[1][2] * a[2][1];
    long long q = (long long)a[1][0] * a[2][2] - (long long)a[1][2] * a[2][0];
    long long r = (long long)a[1][0] * a[2][1] - (long long)a[1][1] * a[2][0];
    return a[0][0] * p - a[0][1] * q + a[0][2] * r;
}

static int on_mapping(const cb_lattice_map *map, void *ctx)
{
    strict_ctx *s = ctx;
    long long det = idet3(map->scale);
    if (det != 1 && det != -1) return 0; /* abs(abs(det(S)) - 1) < 0.5 */
    int n = s->n;

    /* fc = l.get_fractional_coords(cart(A)); fc -= floor(fc) */
    double inv[3][3];
    if (cb_lattice_inv(map->lattice, inv)) {
        s->rc = cb_fail(s->err, CB_ERR_INVALID, "matcher: singular mapped lattice");
        return 1;
    }
    cb_lattice_dot_rows(inv, (const double(*)[3])s->cc, n, s->fa);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) s->fa[i][k] -= floor(s->fa[i][k]);

    /* avg_l = from_parameters((params(l) + params(B)) / 2) */
    double pl[6], pavg[6], avg[3][3];
    cb_lattice_parameters(map->lattice, pl);
    for (int k = 0; k < 6; k++) pavg[k] = (pl[k] + s->pb[k]) / 2;
    cb_lattice_from_parameters(pavg, avg);
    double norm = pow((double)n / cb_lattice_volume(avg), 1.0 / 3.0);
    double abc[3], frac_tol[3];
    if (reciprocal_abc(avg, abc)) return 0; /* degenerate average: numpy would raise; no match here */
    for (int k = 0; k < 3; k++) frac_tol[k] = abc[k] * s->o->stol / (M_PI * norm);

    cb_match_lll m;
    int have_lll = 0;
    const double *fb_ref = s->b->frac[s->sb];
    for (int ti = 0; ti < s->n_ta; ti++) {
        const double *fa_t = s->fa[s->ta[ti]];
        double t[3] = {fa_t[0] - fb_ref[0], fa_t[1] - fb_ref[1], fa_t[2] - fb_ref[2]};
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 3; k++) s->fbt[i][k] = s->b->frac[i][k] + t[k];
        if (!coord_subset(s, frac_tol)) continue;
        if (!have_lll) {
            if ((s->rc = cb_match_lll_init(&m, avg, s->o->stol, norm, s->err))) return 1;
            cb_match_lll_side(&m, (const double(*)[3])s->fa, n, s->sa_side.g, s->sa_side.w, s->sa_side.c);
            have_lll = 1;
        }
        double val, rms, maxd;
        if ((s->rc = cart_dists(s, &m, norm, &val, &rms, &maxd))) return 1;
        if (!s->have_best || val < s->best_val) {
            s->have_best = 1;
            s->best_val = val;
            s->best_rms = rms;
            s->best_max = maxd;
            if ((s->mode == MATCH_FIT || val < 1e-5) && val < s->o->stol) return 1; /* early exit */
        }
    }
    return 0;
}

static int alloc_ctx(strict_ctx *s, int n)
{
    size_t nn = (size_t)n * (size_t)n;
    s->mask = malloc(nn);
    s->ta = malloc((size_t)n * sizeof *s->ta);
    s->sol = malloc((size_t)n * sizeof *s->sol);
    s->dist = malloc((size_t)n * sizeof *s->dist);
    s->d2 = malloc(nn * sizeof *s->d2);
    s->image = malloc(nn);
    s->cc = malloc((size_t)n * 10 * sizeof *s->cc); /* cc, fa, fbt, short_vecs, the two sides */
    if (!s->mask || !s->ta || !s->sol || !s->dist || !s->d2 || !s->image || !s->cc) return 1;
    double(*p)[3] = s->cc + n;
    s->fa = p;
    s->fbt = p + n;
    s->sa_side = (cb_match_side){p + 2 * n, p + 3 * n, p + 4 * n};
    s->sb_side = (cb_match_side){p + 5 * n, p + 6 * n, p + 7 * n};
    s->short_vecs = p + 8 * n;
    return cb_lap_reserve(&s->lap, n, NULL);
}

static void free_ctx(strict_ctx *s)
{
    free(s->mask);
    free(s->ta);
    free(s->sol);
    free(s->dist);
    free(s->d2);
    free(s->image);
    free(s->cc);
    cb_lap_free(&s->lap);
}

/* The species multisets are equal (LinearAssignment(mask).min_cost == 0). */
static int same_species(const cb_crystal *a, const cb_crystal *b)
{
    int count[CB_MAX_Z + 1] = {0};
    for (int i = 0; i < a->n; i++) count[a->z[i]]++;
    for (int i = 0; i < b->n; i++)
        if (--count[b->z[i]] < 0) return 0;
    return 1;
}

int cb_strict_match(const cb_matcher_opts *o, const cb_crystal *a, const cb_crystal *b, match_mode mode,
                    cb_match_result *out, cb_error *err)
{
    out->matched = 0;
    out->rms = out->max_dist = NAN;
    if (a->n != b->n || a->n < 1) return CB_OK;
    for (int i = 0; i < a->n; i++)
        if (a->z[i] < 1 || a->z[i] > CB_MAX_Z || b->z[i] < 1 || b->z[i] > CB_MAX_Z)
            return cb_fail(err, CB_ERR_INVALID, "matcher: site %d has an unknown element", i + 1);
    if (!same_species(a, b)) return CB_OK;

    strict_ctx s;
    memset(&s, 0, sizeof s);
    s.o = o;
    s.mode = mode;
    s.n = a->n;
    s.b = b;
    s.err = err;
    int n = a->n;
    if (alloc_ctx(&s, n)) {
        free_ctx(&s);
        return cb_fail(err, CB_ERR_NOMEM, "matcher: out of memory for %d sites", n);
    }

    /* _get_mask: mask[i][j] = species(B_i) != species(A_j); sB = the first row with the
     * most forbidden entries; tA = the allowed A sites of that row. */
    int best_row = -1, best_sum = -1;
    for (int i = 0; i < n; i++) {
        int sum = 0;
        unsigned char *row = s.mask + (size_t)i * (size_t)n;
        for (int j = 0; j < n; j++) sum += row[j] = (unsigned char)(b->z[i] != a->z[j]);
        if (sum > best_sum) {
            best_sum = sum;
            best_row = i;
        }
    }
    s.sb = best_row;
    for (int j = 0; j < n; j++)
        if (!s.mask[(size_t)best_row * (size_t)n + (size_t)j]) s.ta[s.n_ta++] = j;

    for (int i = 0; i < n; i++) cb_lattice_dot_vec(a->lattice, a->frac[i], s.cc[i]); /* site.coords */
    cb_lattice_parameters(b->lattice, s.pb);

    int rc = cb_lattice_mappings_each(a->lattice, b->lattice, o->ltol, o->angle_tol, on_mapping, &s, err);
    if (!rc) rc = s.rc;
    if (!rc && s.have_best && s.best_val < o->stol) {
        out->matched = 1;
        out->rms = s.best_rms;
        out->max_dist = s.best_max;
    }
    free_ctx(&s);
    return rc;
}
