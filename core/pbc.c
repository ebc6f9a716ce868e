/* Shortest periodic vectors (metrics.md §5.12): pymatgen's Cython pbc_shortest_vectors
 * with its optional mask and lll_frac_tol, and the distance matrix built on it.
 *
 * Coordinates are taken to the LLL basis (numpy dot with lll_inverse), wrapped, made
 * Cartesian with a plain sum starting at 0 (the Cython dot_2d_mod), and the 27 images
 * of the LLL cell are tried in (i, j, k) ∈ {−1, 0, 1}³ order, i slowest; the first
 * strict minimum wins. */
#include "crystalbench/reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FORBIDDEN 1e20

/* out = (f mod 1) · lat, summed from 0 in index order (Cython dot_2d_mod) */
static void wrapped_cart(const double f[3], const double lat[3][3], double out[3])
{
    for (int j = 0; j < 3; j++) {
        double s = 0;
        for (int k = 0; k < 3; k++) s += (f[k] - floor(f[k])) * lat[k][j];
        out[j] = s;
    }
}

int cb_pbc_shortest_vectors(const cb_lll *lll, const double (*f1)[3], int n1, const double (*f2)[3], int n2,
                            const unsigned char *mask, const double *lll_frac_tol, double (*vecs)[3], double *d2,
                            cb_error *err)
{
    if (n1 <= 0 || n2 <= 0) return CB_OK;
    for (int i = 0; i < n1; i++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(f1[i][k])) return cb_fail(err, CB_ERR_INVALID, "shortest vectors: non-finite coordinate");
    for (int j = 0; j < n2; j++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(f2[j][k])) return cb_fail(err, CB_ERR_INVALID, "shortest vectors: non-finite coordinate");

    /* One block: LLL fractional coordinates and wrapped Cartesian ones for both sets. */
    size_t n = (size_t)n1 + (size_t)n2;
    double(*buf)[3] = malloc(2 * n * sizeof *buf);
    if (!buf) return cb_fail(err, CB_ERR_NOMEM, "shortest vectors: out of memory for %d x %d", n1, n2);
    double(*g1)[3] = buf, (*g2)[3] = buf + n1, (*c1)[3] = buf + n, (*c2)[3] = buf + n + n1;
    cb_lll_frac_coords(lll, f1, n1, g1);
    cb_lll_frac_coords(lll, f2, n2, g2);
    for (int i = 0; i < n1; i++) wrapped_cart(g1[i], lll->matrix, c1[i]);
    for (int j = 0; j < n2; j++) wrapped_cart(g2[j], lll->matrix, c2[j]);

    double img[27][3];
    for (int t = 0; t < 27; t++) {
        double f[3] = {(double)(t / 9 - 1), (double)(t / 3 % 3 - 1), (double)(t % 3 - 1)};
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int k = 0; k < 3; k++) s += f[k] * lll->matrix[k][j];
            img[t][j] = s;
        }
    }

    for (int i = 0; i < n1; i++)
        for (int j = 0; j < n2; j++) {
            size_t at = (size_t)i * (size_t)n2 + (size_t)j;
            int within = !mask || mask[at] == 0;
            if (within && lll_frac_tol)
                for (int l = 0; l < 3; l++) {
                    double fd = g2[j][l] - g1[i][l];
                    if (fabs(fd - round(fd)) > lll_frac_tol[l]) {
                        within = 0;
                        break;
                    }
                }
            if (!within) {
                d2[at] = FORBIDDEN;
                if (vecs) vecs[at][0] = vecs[at][1] = vecs[at][2] = FORBIDDEN;
                continue;
            }
            double pre[3] = {c2[j][0] - c1[i][0], c2[j][1] - c1[i][1], c2[j][2] - c1[i][2]};
            double best = 1e100;
            int bestk = 13; /* the zero image; only kept if every distance is NaN */
            for (int t = 0; t < 27; t++) {
                double da = pre[0] + img[t][0], db = pre[1] + img[t][1], dc = pre[2] + img[t][2];
                double d = da * da + db * db + dc * dc;
                if (d < best) {
                    best = d;
                    bestk = t;
                }
            }
            d2[at] = best;
            if (vecs)
                for (int l = 0; l < 3; l++) vecs[at][l] = pre[l] + img[bestk][l];
        }
    free(buf);
    return CB_OK;
}

int cb_crystal_distance_matrix(const cb_crystal *c, double *d, cb_error *err)
{
    if (c->n <= 0) return CB_OK;
    cb_lll lll;
    int rc = cb_lll_reduce(c->lattice, &lll, err);
    if (rc) return rc;
    const double(*f)[3] = (const double(*)[3])c->frac;
    rc = cb_pbc_shortest_vectors(&lll, f, c->n, f, c->n, NULL, NULL, NULL, d, err);
    if (rc) return rc;
    size_t nn = (size_t)c->n * (size_t)c->n;
    for (size_t k = 0; k < nn; k++) d[k] = sqrt(d[k]);
    return CB_OK;
}
