/* The matcher's shortest periodic vectors: coord_cython.pbc_shortest_vectors(avg, B + t,
 * fA, mask, lll_frac_tol) as pymatgen computes it (metrics.md §5.10, §5.12), with two
 * exact shortcuts, because this loop is most of the matcher's time:
 *
 *   - A's side (its LLL coordinates, wrapped, Cartesian) is computed once per lattice
 *     mapping instead of once per translation: the same numbers, computed once;
 *   - of the 27 images of the LLL cell, only those that can be the minimum are
 *     evaluated.  With u the wrapped LLL-fractional separation and t an image, the
 *     vector is (u + t)·L, and a lattice-space vector with coefficient x_k on axis k
 *     is at least |x_k|·h_k long (h_k: the spacing of the lattice planes spanned by
 *     the other two rows).  An image whose bound exceeds the exactly computed distance
 *     of the nearest-looking image t* = −round(u) (plus margins far above rounding) is
 *     strictly longer than the minimum: it can be neither the minimum nor tie with it.
 *     Usually only t* survives.  The images that
 *     remain are evaluated in pymatgen's (i, j, k) order with its exact arithmetic and
 *     the same first-strict-minimum rule, so d2 and the vectors are bit-identical to
 *     the full scan (tests/test_matcher.c compares with core's cb_pbc_shortest_vectors). */
#include <math.h>
#include <string.h>

#include "crystalbench/reduce.h"
#include "matcher_internal.h"


#define FORBIDDEN CB_MATCH_FORBIDDEN

/* |x − round(x)| for C's round (half away from zero, as the Cython kernels use):
 * the distance to the nearest integer does not depend on how ties are broken, so
 * rint (one instruction with SSE4.1; libm's round is a call) gives the same bits. */
static inline double int_dist(double x) { return fabs(x - rint(x)); }

int cb_match_lll_init(cb_match_lll *m, const double avg[3][3], double stol, double norm, cb_error *err)
{
    int rc = cb_lll_reduce(avg, &m->lll, err);
    if (rc) return rc;
    const double(*L)[3] = m->lll.matrix;

    /* lll_frac_tol = get_lll_reduced_lattice().reciprocal_lattice.abc · stol / (π · norm) */
    double rec[3][3];
    if (cb_lattice_reciprocal(L, rec)) return cb_fail(err, CB_ERR_INVALID, "matcher: singular LLL lattice");
    for (int k = 0; k < 3; k++) {
        double abc = sqrt(rec[k][0] * rec[k][0] + rec[k][1] * rec[k][1] + rec[k][2] * rec[k][2]);
        m->frac_tol[k] = abc * stol / (M_PI * norm);
    }

    /* images (Cython dot_2d: sums from 0 in index order) */
    for (int t = 0; t < 27; t++) {
        double f[3] = {(double)(t / 9 - 1), (double)(t / 3 % 3 - 1), (double)(t % 3 - 1)};
        for (int j = 0; j < 3; j++) {
            double acc = 0;
            for (int k = 0; k < 3; k++) acc += f[k] * L[k][j];
            m->img[t][j] = acc;
        }
    }

    /* The pruning bound: any lattice vector x·L with coefficient x_k on axis k is at
     * least |x_k|·height_k long, height_k = V / |l_i × l_j| (the distance between the
     * lattice planes spanned by the other two rows).  Kept well below the computed
     * height; the margin is far above the rounding of what is compared. */
    double vol = fabs(cb_mat3_det(L)), tr = 0;
    int ok = vol > 0 && isfinite(vol);
    for (int k = 0; k < 3; k++) {
        const double *p = L[(k + 1) % 3], *q = L[(k + 2) % 3];
        double x = p[1] * q[2] - p[2] * q[1], y = p[2] * q[0] - p[0] * q[2], z = p[0] * q[1] - p[1] * q[0];
        double h = vol / sqrt(x * x + y * y + z * z);
        m->height2[k] = h * h * (1 - 1e-6);
        ok = ok && isfinite(m->height2[k]) && m->height2[k] > 0;
        tr += L[k][0] * L[k][0] + L[k][1] * L[k][1] + L[k][2] * L[k][2];
    }
    m->prune = ok;
    m->margin = 1e-9 * tr;
    return CB_OK;
}

void cb_match_lll_side(const cb_match_lll *m, const double (*f)[3], int n, double (*g)[3], double (*w)[3],
                       double (*c)[3])
{
    cb_lll_frac_coords(&m->lll, f, n, g);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) w[i][k] = g[i][k] - floor(g[i][k]); /* Cython `% 1` */
        for (int j = 0; j < 3; j++) {                                   /* dot_2d_mod */
            double s = 0;
            for (int k = 0; k < 3; k++) s += w[i][k] * m->lll.matrix[k][j];
            c[i][j] = s;
        }
    }
}

/* The full scan: pymatgen's loop. */
static int scan_all(const cb_match_lll *m, const double pre[3], double *best)
{
    int bk = 13; /* the zero image; only kept if every distance is NaN */
    *best = 1e100;
    for (int t = 0; t < 27; t++) {
        const double *it = m->img[t];
        double x = pre[0] + it[0], y = pre[1] + it[1], z = pre[2] + it[2];
        double d = x * x + y * y + z * z;
        if (d < *best) {
            *best = d;
            bk = t;
        }
    }
    return bk;
}

/* Shortest image of pre = c2 − c1 (LLL-fractional separation u = w2 − w1 ∈ [−1, 1]³):
 * pymatgen's first strict minimum over the 27 images, evaluating only the images the
 * bound cannot exclude. */
static int shortest_image(const cb_match_lll *m, const double pre[3], const double u[3], double *d2)
{
    double best;
    int bk;
    if (!m->prune) {
        bk = scan_all(m, pre, &best);
    } else {
        /* t* = −round(u): x* = u + t* ∈ [−½, ½]³.  Another image differs on some axis k,
         * where |x_k| ≥ 1 − |x*_k|, so it is at least (1 − |x*_k|)·height_k long. */
        double x[3], far = 1e300;
        int nt = 0;
        for (int k = 0; k < 3; k++) {
            double t = -rint(u[k]);
            x[k] = u[k] + t;
            double r = 1 - fabs(x[k]);
            double b = r * r * m->height2[k];
            if (b < far) far = b;
            nt = nt * 3 + (int)t + 1;
        }
        const double *im = m->img[nt];
        double x0 = pre[0] + im[0], x1 = pre[1] + im[1], x2 = pre[2] + im[2];
        double upper = x0 * x0 + x1 * x1 + x2 * x2;
        double lim = upper * (1 + 1e-9) + m->margin;
        best = upper;
        bk = nt;
        if (!(far > lim)) {
            /* several candidates: the offsets each axis allows, visited in pymatgen's order */
            int allow[3][3];
            for (int k = 0; k < 3; k++)
                for (int t = 0; t < 3; t++) {
                    double y = u[k] + (t - 1);
                    allow[k][t] = y * y * m->height2[k] <= lim;
                }
            best = 1e100;
            bk = 13;
            for (int a = 0; a < 3; a++) {
                if (!allow[0][a]) continue;
                for (int b = 0; b < 3; b++) {
                    if (!allow[1][b]) continue;
                    for (int c = 0; c < 3; c++) {
                        if (!allow[2][c]) continue;
                        int t = a * 9 + b * 3 + c;
                        const double *it = m->img[t];
                        double dx = pre[0] + it[0], dy = pre[1] + it[1], dz = pre[2] + it[2];
                        double d = dx * dx + dy * dy + dz * dz;
                        if (d < best) {
                            best = d;
                            bk = t;
                        }
                    }
                }
            }
        }
    }
    *d2 = best;
    return bk;
}

#define ROW_CHUNK 256 /* columns tested per pass (a stack buffer) */

void cb_match_shortest(const cb_match_lll *m, int n, const unsigned char *mask, const cb_match_side *b,
                       const cb_match_side *a, unsigned char *image, double *d2)
{
    const double t0 = m->frac_tol[0], t1 = m->frac_tol[1], t2 = m->frac_tol[2];
    int keep[ROW_CHUNK];
    for (int i = 0; i < n; i++) {
        const double *gb = b->g[i], *wb = b->w[i], *cb = b->c[i];
        const unsigned char *mrow = mask + (size_t)i * (size_t)n;
        double *drow = d2 + (size_t)i * (size_t)n;
        /* Two passes: the tolerance test for a run of columns without branches (about
         * a third of the pairs pass, at random, so a branch per pair mispredicts), the
         * passing columns listed in order; then the image search for those only.
         * Every axis is tested (pymatgen stops at the first failure; the outcome is the
         * same).  image of a forbidden pair is not written: see cb_match_shortest's
         * contract. */
        for (int j0 = 0; j0 < n; j0 += ROW_CHUNK) {
            int j1 = n - j0 < ROW_CHUNK ? n : j0 + ROW_CHUNK, nk = 0;
            for (int j = j0; j < j1; j++) {
                const double *ga = a->g[j];
                int within = !mrow[j] & (int_dist(ga[0] - gb[0]) <= t0) & (int_dist(ga[1] - gb[1]) <= t1) &
                             (int_dist(ga[2] - gb[2]) <= t2);
                drow[j] = FORBIDDEN;
                keep[nk] = j;
                nk += within;
            }
            for (int k = 0; k < nk; k++) {
                int j = keep[k];
                const double *wa = a->w[j], *ca = a->c[j];
                double pre[3] = {ca[0] - cb[0], ca[1] - cb[1], ca[2] - cb[2]};
                double u[3] = {wa[0] - wb[0], wa[1] - wb[1], wa[2] - wb[2]};
                image[(size_t)i * (size_t)n + (size_t)j] = (unsigned char)shortest_image(m, pre, u, &drow[j]);
            }
        }
    }
}

void cb_match_vector(const cb_match_lll *m, const cb_match_side *b, const cb_match_side *a, int i, int j, int image,
                     double v[3])
{
    for (int l = 0; l < 3; l++) v[l] = (a->c[j][l] - b->c[i][l]) + m->img[image][l];
}
