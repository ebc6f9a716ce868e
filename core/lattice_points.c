/* Lattice points in a sphere (metrics.md §5.5) and lattice mappings (§5.6).
 *
 * cb_points_in_sphere replays pymatgen's Cython find_points_in_spheres for one centre:
 * the same cofactor inverse, the same wrapped images, the same bounding box and the
 * same linked cell list, so points come out in pymatgen's order.  The order matters:
 * find_all_mappings enumerates candidate vectors in it, and Niggli keeps the FIRST
 * mapping.  Note that the radius is a C float in pymatgen (r is rounded to single
 * precision, and r² is computed in single precision). */
#include "crystalbench/reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "npmath.h"

#define PIS_TOL 1e-8
#define PIS_MIN_R 1.0f
/* Refuse searches that would enumerate more candidate images than this: they come from
 * a radius absurdly large for the cell, and would exhaust memory or time. */
#define PIS_MAX_IMAGES 200000000.0

/* ---- the Cython helpers, operation for operation ---- */

static double cy_det(const double m[3][3])
{
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) +
           m[0][1] * (m[1][2] * m[2][0] - m[1][0] * m[2][2]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

static void cy_inv(const double m[3][3], double inv[3][3])
{
    double det = cy_det(m);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            inv[i][j] = (m[(j + 1) % 3][(i + 1) % 3] * m[(j + 2) % 3][(i + 2) % 3] -
                         m[(j + 2) % 3][(i + 1) % 3] * m[(j + 1) % 3][(i + 2) % 3]) / det;
}

/* out = v · m with a sum that starts at 0 (Cython's matmul) */
static void cy_vecmat(const double v[3], const double m[3][3], double out[3])
{
    for (int j = 0; j < 3; j++) {
        double s = 0;
        for (int k = 0; k < 3; k++) s += v[k] * m[k][j];
        out[j] = s;
    }
}

/* ceil((r + 0.15) · |b*_i| / 2π) with b* the 2π reciprocal vectors (get_max_r). */
static void cy_max_r(const double m[3][3], double r, double maxr[3])
{
    for (int i = 0; i < 3; i++) {
        const double *a1 = m[i], *a2 = m[(i + 1) % 3], *a3 = m[(i + 2) % 3];
        double x[3] = {a2[1] * a3[2] - a2[2] * a3[1], a2[2] * a3[0] - a2[0] * a3[2],
                       a2[0] * a3[1] - a2[1] * a3[0]};
        double prod = 0;
        for (int k = 0; k < 3; k++) prod += a1[k] * x[k];
        double s = 0;
        for (int k = 0; k < 3; k++) {
            double rk = 2 * M_PI * x[k] / prod;
            s += rk * rk;
        }
        maxr[i] = ceil((r + 0.15) * sqrt(s) / (2 * M_PI));
    }
}

/* Python / Cython `x % 1` on doubles */
static double pymod1(double x) { return x - floor(x); }

/* ---- growable arrays ---- */

typedef struct image_list {
    double *coords; /* [3 * n] expanded Cartesian coordinates */
    double *offsets;
    long *index;
    long n, cap;
} image_list;

static int image_push(image_list *l, const double c[3], long i, long j, long k, long idx)
{
    if (l->n == l->cap) {
        long cap = l->cap ? 2 * l->cap : 64;
        double *c2 = realloc(l->coords, (size_t)cap * 3 * sizeof *c2);
        if (c2) l->coords = c2;
        double *o2 = realloc(l->offsets, (size_t)cap * 3 * sizeof *o2);
        if (o2) l->offsets = o2;
        long *i2 = realloc(l->index, (size_t)cap * sizeof *i2);
        if (i2) l->index = i2;
        if (!c2 || !o2 || !i2) return 1;
        l->cap = cap;
    }
    memcpy(l->coords + 3 * l->n, c, 3 * sizeof *c);
    l->offsets[3 * l->n] = (double)i;
    l->offsets[3 * l->n + 1] = (double)j;
    l->offsets[3 * l->n + 2] = (double)k;
    l->index[l->n] = idx;
    l->n++;
    return 0;
}

static void image_free(image_list *l)
{
    free(l->coords);
    free(l->offsets);
    free(l->index);
}

static int hit_push(cb_sphere_point **hits, int *n, int *cap, const cb_sphere_point *p)
{
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 64;
        cb_sphere_point *h = realloc(*hits, (size_t)c * sizeof *h);
        if (!h) return 1;
        *hits = h;
        *cap = c;
    }
    (*hits)[(*n)++] = *p;
    return 0;
}

/* find_points_in_spheres(all_coords, [center], r, pbc = (1,1,1), lattice, tol = 1e-8)
 * for one centre.  Fills index, image and dist of each hit (not frac). */
static int find_points(const double lat[3][3], const double (*all)[3], int n_total,
                       const double center[3], float r, const double (*shells)[2], int n_shells,
                       cb_sphere_point **out, int *n_out, cb_error *err)
{
    *out = NULL;
    *n_out = 0;
    if (r < PIS_MIN_R) {
        /* Search at min_r (+ tol, which vanishes in single precision), keep d <= r. */
        int rc = find_points(lat, all, n_total, center, (float)(PIS_MIN_R + PIS_TOL), shells, n_shells, out, n_out,
                             err);
        if (rc) return rc;
        int k = 0;
        for (int i = 0; i < *n_out; i++)
            if ((*out)[i].dist <= (double)r) (*out)[k++] = (*out)[i];
        *n_out = k;
        if (k == 0) {
            free(*out);
            *out = NULL;
        }
        return CB_OK;
    }

    double ledge = r < 0.1 ? 0.1 : r;
    double vmin[3], vmax[3];
    for (int i = 0; i < 3; i++) {
        vmax[i] = center[i] + r + PIS_TOL;
        vmin[i] = center[i] - r - PIS_TOL;
    }
    if (cy_det(lat) == 0.0) return cb_fail(err, CB_ERR_INVALID, "points in sphere: singular lattice");
    double inv[3][3], maxr[3], fc[3];
    cy_inv(lat, inv);
    cy_max_r(lat, r, maxr);
    cy_vecmat(center, inv, fc);
    long lo[3], hi[3];
    double nlattice = 1;
    for (int i = 0; i < 3; i++) {
        double flo = floor(fc[i] - maxr[i] - 1e-8), fhi = ceil(fc[i] + maxr[i] + 1e-8);
        if (!isfinite(flo) || !isfinite(fhi) || fhi - flo > 1e6)
            return cb_fail(err, CB_ERR_UNSUPPORTED, "points in sphere: radius %g too large for the cell", (double)r);
        lo[i] = (long)flo;
        hi[i] = (long)fhi;
        nlattice *= (double)(hi[i] - lo[i]);
    }
    if (nlattice * n_total > PIS_MAX_IMAGES)
        return cb_fail(err, CB_ERR_UNSUPPORTED, "points in sphere: %.3g images to search (radius %g)",
                       nlattice * n_total, (double)r);

    /* Wrap the points into the cell, remembering the integer correction. */
    double(*corr)[3] = malloc((size_t)(n_total ? n_total : 1) * sizeof *corr);
    double(*cic)[3] = malloc((size_t)(n_total ? n_total : 1) * sizeof *cic);
    long(*krange)[2] = malloc((size_t)(n_total ? n_total : 1) * sizeof *krange);
    image_list im = {0};
    int rc = CB_OK;
    long *head = NULL, *next = NULL, *cube = NULL;
    cb_sphere_point *hits = NULL;
    int n_hits = 0, cap_hits = 0;
    if (!corr || !cic || !krange) goto nomem;
    for (int i = 0; i < n_total; i++) {
        double f[3], w[3];
        cy_vecmat(all[i], inv, f);
        for (int k = 0; k < 3; k++) {
            w[k] = pymod1(f[k]);
            corr[i][k] = f[k] - w[k];
        }
        cy_vecmat(w, lat, cic[i]);
    }

    /* Images inside the box around the centre, in pymatgen's (i, j, k, atom) order.  Two
     * exact shortcuts: an image outside the sphere is never reported (the final test
     * below), so it is not listed (the listed ones keep their relative order, hence
     * their order in every cube); and for each (i, j) only the k where some atom's image
     * can be within the sphere are visited, ranges computed with a wide margin (the
     * exact tests decide). */
    double r2 = (double)(r * r); /* single-precision product, as in pymatgen */
    const double *l2 = lat[2];
    double l2sq = l2[0] * l2[0] + l2[1] * l2[1] + l2[2] * l2[2];
    double reach2 = (r2 + PIS_TOL) * (1 + 1e-6) + 1e-6;
    for (long i = lo[0]; i < hi[0]; i++)
        for (long j = lo[1]; j < hi[1]; j++) {
            double ij[3];
            for (int m = 0; m < 3; m++) ij[m] = (double)i * lat[0][m] + (double)j * lat[1][m];
            long kmin = hi[2], kmax = lo[2];
            for (int l = 0; l < n_total; l++) {
                /* |q + k·l2|² < reach2 with q = ij + cic − centre: k near −q·l2 / |l2|² */
                double q[3], qq = 0, ql = 0;
                for (int m = 0; m < 3; m++) {
                    q[m] = ij[m] + cic[l][m] - center[m];
                    qq += q[m] * q[m];
                    ql += q[m] * l2[m];
                }
                long a = lo[2], b = hi[2];
                if (l2sq > 0 && isfinite(qq)) {
                    double k0 = -ql / l2sq, perp2 = qq - ql * ql / l2sq;
                    if (perp2 > reach2) {
                        krange[l][0] = krange[l][1] = 0;
                        continue;
                    }
                    double w = sqrt((reach2 - (perp2 > 0 ? perp2 : 0)) / l2sq);
                    double fa = floor(k0 - w) - 1, fb = ceil(k0 + w) + 2;
                    if (fa > (double)a) a = fa > (double)b ? b : (long)fa;
                    if (fb < (double)b) b = fb < (double)a ? a : (long)fb;
                }
                krange[l][0] = a;
                krange[l][1] = b;
                if (a < b) {
                    if (a < kmin) kmin = a;
                    if (b > kmax) kmax = b;
                }
            }
            for (long k = kmin; k < kmax; k++)
                for (int l = 0; l < n_total; l++) {
                    if (k < krange[l][0] || k >= krange[l][1]) continue;
                    double c[3];
                    for (int m = 0; m < 3; m++) c[m] = ij[m] + (double)k * lat[2][m] + cic[l][m];
                    if (!(c[0] > vmin[0] && c[0] < vmax[0] && c[1] > vmin[1] && c[1] < vmax[1] && c[2] > vmin[2] &&
                          c[2] < vmax[2]))
                        continue;
                    double d2 = 0;
                    for (int m = 0; m < 3; m++) {
                        double dd = c[m] - center[m];
                        d2 += dd * dd;
                    }
                    if (!(d2 < r2 + PIS_TOL)) continue;
                    if (n_shells) { /* a caller that wants only some distances: the others are never listed */
                        int in = 0;
                        for (int q = 0; q < n_shells; q++) in |= d2 >= shells[q][0] && d2 <= shells[q][1];
                        if (!in) continue;
                    }
                    if (image_push(&im, c, i, j, k, l)) goto nomem;
                }
        }
    if (im.n == 0) goto done;

    /* Linked cell list with cubes of edge ledge; each cube's list runs from the last
     * point inserted to the first. */
    long ncube[3];
    for (int i = 0; i < 3; i++) ncube[i] = (long)ceil((vmax[i] - vmin[i]) / ledge);
    long nb_cubes = ncube[0] * ncube[1] * ncube[2];
    head = malloc((size_t)nb_cubes * sizeof *head);
    next = malloc((size_t)im.n * sizeof *next);
    cube = malloc((size_t)im.n * sizeof *cube);
    if (!head || !next || !cube) goto nomem;
    for (long c = 0; c < nb_cubes; c++) head[c] = -1;
    for (long p = 0; p < im.n; p++) {
        long idx[3];
        for (int k = 0; k < 3; k++) idx[k] = (long)floor((im.coords[3 * p + k] - vmin[k] + 1e-8) / ledge);
        /* Points are strictly inside the box, so the index is in range; stay safe anyway. */
        int ok = 1;
        for (int k = 0; k < 3; k++) ok &= idx[k] >= 0 && idx[k] < ncube[k];
        cube[p] = ok ? idx[0] * ncube[1] * ncube[2] + idx[1] * ncube[2] + idx[2] : -1;
        next[p] = -1;
        if (ok) {
            next[p] = head[cube[p]];
            head[cube[p]] = p;
        }
    }

    long cidx[3];
    for (int k = 0; k < 3; k++) cidx[k] = (long)floor((center[k] - vmin[k] + 1e-8) / ledge);
    for (int di = -1; di <= 1; di++)
        for (int dj = -1; dj <= 1; dj++)
            for (int dk = -1; dk <= 1; dk++) {
                long x = cidx[0] + di, y = cidx[1] + dj, z = cidx[2] + dk;
                if (x < 0 || x >= ncube[0] || y < 0 || y >= ncube[1] || z < 0 || z >= ncube[2]) continue;
                for (long p = head[x * ncube[1] * ncube[2] + y * ncube[2] + z]; p != -1; p = next[p]) {
                    double d2 = 0;
                    for (int k = 0; k < 3; k++) {
                        double dd = im.coords[3 * p + k] - center[k];
                        d2 += dd * dd;
                    }
                    if (!(d2 < r2 + PIS_TOL)) continue;
                    cb_sphere_point h;
                    memset(&h, 0, sizeof h);
                    h.index = (int)im.index[p];
                    for (int k = 0; k < 3; k++) h.image[k] = im.offsets[3 * p + k] - corr[im.index[p]][k];
                    h.dist = sqrt(d2);
                    if (hit_push(&hits, &n_hits, &cap_hits, &h)) goto nomem;
                }
            }
    goto done;

nomem:
    rc = cb_fail(err, CB_ERR_NOMEM, "points in sphere: out of memory");
    free(hits);
    hits = NULL;
    n_hits = 0;
done:
    free(corr);
    free(cic);
    free(krange);
    free(head);
    free(next);
    free(cube);
    image_free(&im);
    *out = hits;
    *n_out = n_hits;
    return rc;
}

/* cb_points_in_sphere, listing only the points whose squared distance lies in one of
 * the n_shells closed intervals (all points when n_shells is 0).  Points are kept or
 * dropped before the cell list is built, so those kept come out in the same order as
 * in the full list. */
static int points_in_shells(const double m[3][3], const double (*frac)[3], int n, const double center[3], double r,
                            const double (*shells)[2], int n_shells, cb_sphere_point **out, int *n_out,
                            cb_error *err)
{
    *out = NULL;
    *n_out = 0;
    if (n <= 0) return CB_OK;
    if (!isfinite(r) || r < 0) return cb_fail(err, CB_ERR_INVALID, "points in sphere: bad radius %g", r);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (!isfinite(m[i][j])) return cb_fail(err, CB_ERR_INVALID, "points in sphere: non-finite lattice");
    double(*cart)[3] = malloc((size_t)n * sizeof *cart);
    if (!cart) return cb_fail(err, CB_ERR_NOMEM, "points in sphere: out of memory");
    cb_np_rows_dot(frac, n, m, cart); /* get_cartesian_coords(frac_points) */
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(cart[i][k])) {
                free(cart);
                return cb_fail(err, CB_ERR_INVALID, "points in sphere: non-finite coordinates");
            }
    int rc = find_points(m, (const double(*)[3])cart, n, center, (float)r, shells, n_shells, out, n_out, err);
    free(cart);
    if (rc) return rc;
    for (int i = 0; i < *n_out; i++) {
        cb_sphere_point *p = &(*out)[i];
        for (int k = 0; k < 3; k++) p->frac[k] = frac[p->index][k] + p->image[k];
    }
    return CB_OK;
}

int cb_points_in_sphere(const double m[3][3], const double (*frac)[3], int n, const double center[3], double r,
                        cb_sphere_point **out, int *n_out, cb_error *err)
{
    return points_in_shells(m, frac, n, center, r, NULL, 0, out, n_out, err);
}

/* ---- Lattice.find_all_mappings ---- */

/* A candidate set: the lattice points whose length matches one target length. */
typedef struct cand {
    int n;
    double (*cart)[3];
    double (*frac)[3];
    double *len; /* np.sum(c**2, axis=-1) ** 0.5 */
} cand;

static void cand_free(cand *c)
{
    free(c->cart);
    free(c->frac);
    free(c->len);
}

static int cand_select(const cb_sphere_point *pts, const double (*cart)[3], int n, double l, double ltol, cand *c)
{
    memset(c, 0, sizeof *c);
    size_t cap = (size_t)(n ? n : 1);
    c->cart = malloc(cap * sizeof *c->cart);
    c->frac = malloc(cap * sizeof *c->frac);
    c->len = malloc(cap * sizeof *c->len);
    if (!c->cart || !c->frac || !c->len) return 1;
    for (int i = 0; i < n; i++) {
        double q = pts[i].dist / l;
        if (!(q < 1 + ltol && q > 1 / (1 + ltol))) continue;
        memcpy(c->cart[c->n], cart[i], sizeof cart[i]);
        memcpy(c->frac[c->n], pts[i].frac, sizeof pts[i].frac);
        const double *v = cart[i];
        c->len[c->n] = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        c->n++;
    }
    return 0;
}

/* |acos(c)·180/π − target| < atol with get_angles' arithmetic (clip, arccos · 180 / π). */
static int angle_exact(double c, double target, double atol)
{
    if (c > 1) c = 1;
    if (c < -1) c = -1;
    double ang = acos(c) * 180.0 / M_PI;
    return fabs(ang - target) < atol;
}

/* The angle window as cosines, to decide most pairs without acos: the angle is a
 * decreasing function of the cosine, so the window is an interval of cosines.  A
 * cosine within CB_COS_MARGIN of an end (far above the rounding of acos, of the
 * conversion to degrees and of the cos of the ends) or a NaN goes to angle_exact, so
 * every decision is the one the acos comparison makes.  An end beyond [0°, 180°]
 * is no end (every angle is inside it); an end exactly at 0° or 180° is kept, so that
 * |angle − target| = atol at the clip point is decided exactly. */
#define CB_COS_MARGIN 1e-9
typedef struct cos_window {
    double out_lo, in_lo, in_hi, out_hi; /* < out_lo or > out_hi: no; in (in_lo, in_hi): yes */
} cos_window;

static cos_window cos_window_of(double target, double atol)
{
    double hi_ang = target + atol, lo_ang = target - atol;
    double clo = hi_ang > 180 ? -INFINITY : cos(hi_ang * M_PI / 180.0);
    double chi = lo_ang < 0 ? INFINITY : cos(lo_ang * M_PI / 180.0);
    cos_window w = {clo - CB_COS_MARGIN, clo + CB_COS_MARGIN, chi - CB_COS_MARGIN, chi + CB_COS_MARGIN};
    if (!(w.in_lo < w.in_hi) || !isfinite(target) || !isfinite(atol)) /* no sure interior: always exact */
        w = (cos_window){-INFINITY, INFINITY, -INFINITY, INFINITY};
    return w;
}

/* ok[i * y->n + j] = |angle(x_i, y_j) − target| < atol, with get_angles' arithmetic:
 * np.inner (gemm: fma chains), two divisions, clip, arccos · 180 / π.  Most pairs are
 * decided without the divisions: with p = |x_i|·|y_j| > 0 the cosine is dot / p to a
 * few ulps, so comparing dot with an end times p, widened by 1e-12·p (far above those
 * ulps, far below CB_COS_MARGIN), decides as the cosine would; the rest take the exact
 * path.  Cloned for FMA so that fma() is an instruction, not a libm call. */
CB_FMA_CLONES static unsigned char *angle_ok(const cand *x, const cand *y, double target, double atol)
{
    unsigned char *ok = malloc((size_t)(x->n ? x->n : 1) * (size_t)(y->n ? y->n : 1));
    if (!ok) return NULL;
    cos_window w = cos_window_of(target, atol);
    int fused = x->n > 1 && y->n > 1;
    for (int i = 0; i < x->n; i++)
        for (int j = 0; j < y->n; j++) {
            double dot = fused ? cb_np_fdot3_inline(x->cart[i], 1, y->cart[j], 1)
                               : cb_np_dot3(x->cart[i], 1, y->cart[j], 1);
            double p = x->len[i] * y->len[j], slack = 1e-12 * p;
            int v;
            if (dot < w.out_lo * p - slack || dot > w.out_hi * p + slack) {
                v = 0;
            } else if (dot > w.in_lo * p + slack && dot < w.in_hi * p - slack) {
                v = 1;
            } else {
                double c = dot / x->len[i] / y->len[j];
                if (c < w.out_lo || c > w.out_hi)
                    v = 0;
                else if (c > w.in_lo && c < w.in_hi)
                    v = 1;
                else
                    v = angle_exact(c, target, atol);
            }
            ok[(size_t)i * (size_t)y->n + (size_t)j] = (unsigned char)v;
        }
    return ok;
}

static long long idet3(const int s[3][3])
{
    long long a = s[0][0], b = s[0][1], c = s[0][2], d = s[1][0], e = s[1][1], f = s[1][2], g = s[2][0],
              h = s[2][1], i = s[2][2];
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
}

int cb_lattice_mappings_each(const double self[3][3], const double other[3][3], double ltol, double atol,
                             cb_lattice_map_fn fn, void *ctx, cb_error *err)
{
    double p[6];
    cb_lattice_parameters(other, p); /* lengths, then angles (alpha, beta, gamma) */
    double rmax = p[0];
    if (p[1] > rmax) rmax = p[1];
    if (p[2] > rmax) rmax = p[2];
    if (!isfinite(rmax) || !isfinite(ltol) || !isfinite(atol))
        return cb_fail(err, CB_ERR_INVALID, "lattice mappings: non-finite lattice or tolerance");

    static const double origin[1][3] = {{0, 0, 0}};
    static const double center[3] = {0, 0, 0};
    cb_sphere_point *pts = NULL;
    int n = 0;
    /* Only points whose length can pass cand_select's test for one of the three lengths
     * matter (q = |v| / l in (1 / (1 + ltol), 1 + ltol)): the shells of those lengths,
     * widened far beyond rounding. */
    double shells[3][2];
    for (int t = 0; t < 3; t++) {
        double lo = p[t] / (1 + ltol), hi = p[t] * (1 + ltol);
        shells[t][0] = lo * lo * (1 - 1e-9);
        shells[t][1] = hi * hi * (1 + 1e-9);
    }
    int rc = points_in_shells(self, origin, 1, center, rmax * (1 + ltol), (const double(*)[2])shells, 3, &pts, &n, err);
    if (rc) return rc;

    double(*cart)[3] = NULL;
    double(*frac)[3] = NULL;
    cand c[3];
    memset(c, 0, sizeof c);
    unsigned char *alpha_ok = NULL, *beta_ok = NULL, *gamma_ok = NULL;
    cart = malloc((size_t)(n ? n : 1) * sizeof *cart);
    frac = malloc((size_t)(n ? n : 1) * sizeof *frac);
    if (!cart || !frac) goto nomem;
    for (int i = 0; i < n; i++) memcpy(frac[i], pts[i].frac, sizeof frac[i]);
    if (n > 0) cb_np_rows_dot((const double(*)[3])frac, n, self, cart); /* get_cartesian_coords(frac) */
    for (int t = 0; t < 3; t++)
        if (cand_select(pts, (const double(*)[3])cart, n, p[t], ltol, &c[t])) goto nomem;

    alpha_ok = angle_ok(&c[1], &c[2], p[3], atol);
    beta_ok = angle_ok(&c[0], &c[2], p[4], atol);
    gamma_ok = angle_ok(&c[0], &c[1], p[5], atol);
    if (!alpha_ok || !beta_ok || !gamma_ok) goto nomem;

    int stop = 0;
    for (int i = 0; i < c[0].n && !stop; i++)
        for (int j = 0; j < c[1].n && !stop; j++) {
            if (!gamma_ok[(size_t)i * c[1].n + j]) continue;
            for (int k = 0; k < c[2].n && !stop; k++) {
                if (!alpha_ok[(size_t)j * c[2].n + k] || !beta_ok[(size_t)i * c[2].n + k]) continue;
                cb_lattice_map map;
                const double *rows[3] = {c[0].frac[i], c[1].frac[j], c[2].frac[k]};
                const double *vecs[3] = {c[0].cart[i], c[1].cart[j], c[2].cart[k]};
                for (int r = 0; r < 3; r++)
                    for (int s = 0; s < 3; s++) {
                        map.scale[r][s] = (int)rows[r][s]; /* np.array(..., dtype=int) truncates */
                        map.lattice[r][s] = vecs[r][s];
                    }
                if (idet3(map.scale) == 0) continue; /* |det| < 1e-8 for an integer matrix */
                stop = fn(&map, ctx);
            }
        }
    goto done;

nomem:
    rc = cb_fail(err, CB_ERR_NOMEM, "lattice mappings: out of memory");
done:
    free(pts);
    free(cart);
    free(frac);
    for (int t = 0; t < 3; t++) cand_free(&c[t]);
    free(alpha_ok);
    free(beta_ok);
    free(gamma_ok);
    return rc;
}

typedef struct map_array {
    cb_lattice_map *items;
    int n, cap;
    int nomem;
} map_array;

static int collect(const cb_lattice_map *map, void *ctx)
{
    map_array *a = ctx;
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 16;
        cb_lattice_map *items = realloc(a->items, (size_t)cap * sizeof *items);
        if (!items) {
            a->nomem = 1;
            return 1;
        }
        a->items = items;
        a->cap = cap;
    }
    a->items[a->n++] = *map;
    return 0;
}

int cb_lattice_find_all_mappings(const double self[3][3], const double other[3][3], double ltol, double atol,
                                 cb_lattice_map **out, int *n_out, cb_error *err)
{
    map_array a = {0};
    *out = NULL;
    *n_out = 0;
    int rc = cb_lattice_mappings_each(self, other, ltol, atol, collect, &a, err);
    if (!rc && a.nomem) rc = cb_fail(err, CB_ERR_NOMEM, "lattice mappings: out of memory");
    if (rc) {
        free(a.items);
        return rc;
    }
    *out = a.items;
    *n_out = a.n;
    return CB_OK;
}
