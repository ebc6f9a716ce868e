/* LLL reduction (metrics.md §5.3): pymatgen's Lattice._calculate_lll(delta = 0.75),
 * replayed step by step on the same column layout so that the integer decisions
 * (rounding of Gram–Schmidt coefficients, Lovász tests) and the reduced vectors are
 * bit-identical.  numpy's products are reproduced by the kernels of npmath.h:
 *   - dot(column, column) and dot(vector, matrix): plain left-to-right sums;
 *   - dot(b[:, 0:2], u[s, 0:2]) (a 3×2 matrix times a vector, OpenBLAS gemv):
 *     fma(b0, u0, b1 · u1) per row;
 *   - the k == 2 update of u[2][0..1] is numpy.linalg.lstsq on a diagonal system,
 *     i.e. LAPACK dgelsd, called the same way. */
#include "crystalbench/reduce.h"

#include <math.h>
#include <string.h>

#include "npmath.h"

#define LLL_DELTA 0.75
/* Far above what a 3-D LLL needs (a few dozen swaps even for cells skewed by 1e6);
 * only a pathological input could reach it, and pymatgen would then loop forever. */
#define LLL_MAX_STEPS 100000

/* The working state, in numpy's layout: column c of a, b, mapping is basis vector c. */
typedef struct lll_state {
    double a[3][3];
    double b[3][3]; /* Gram–Schmidt vectors */
    double u[3][3]; /* Gram–Schmidt coefficients u[i][j], j < i */
    double m[3];    /* m[i] = b_i · b_i */
    double mapping[3][3];
} lll_state;

static double col_dot(const double x[3][3], int cx, const double y[3][3], int cy)
{
    return cb_np_dot3(&x[0][cx], 3, &y[0][cy], 3);
}

/* Row s of the Gram–Schmidt process:
 *   u[s, 0:s] = dot(a[:, s].T, b[:, 0:s]) / m[0:s]
 *   b[:, s]   = a[:, s] - dot(b[:, 0:s], u[s, 0:s].T)
 *   m[s]      = dot(b[:, s], b[:, s]) */
static int gram_schmidt_row(lll_state *st, int s)
{
    double d[2];
    for (int j = 0; j < s; j++) d[j] = col_dot(st->a, s, st->b, j);
    for (int j = 0; j < s; j++) {
        if (!(st->m[j] > 0.0)) return 1;
        st->u[s][j] = d[j] / st->m[j];
    }
    for (int r = 0; r < 3; r++) {
        double t;
        if (s == 0)
            t = 0.0;
        else if (s == 1)
            t = st->b[r][0] * st->u[1][0];
        else
            t = fma(st->b[r][0], st->u[2][0], st->b[r][1] * st->u[2][1]);
        st->b[r][s] = st->a[r][s] - t;
    }
    st->m[s] = col_dot(st->b, s, st->b, s);
    return 0;
}

static void swap_cols(double x[3][3], int c1, int c2)
{
    for (int r = 0; r < 3; r++) {
        double t = x[r][c1];
        x[r][c1] = x[r][c2];
        x[r][c2] = t;
    }
}

/* Size reduction of vector kk against vectors kk-1 .. 0 (pymatgen's inner loop). */
static int size_reduce(lll_state *st, int kk)
{
    for (int ii = kk - 1; ii >= 0; ii--) {
        double q = rint(st->u[kk][ii]); /* Python round(): half to even */
        if (!isfinite(q)) return 1;
        if (q == 0.0) continue;
        for (int r = 0; r < 3; r++) {
            st->a[r][kk] = st->a[r][kk] - q * st->a[r][ii];
            st->mapping[r][kk] = st->mapping[r][kk] - q * st->mapping[r][ii];
        }
        /* u[k, 0:i] -= q * (u[i, 0:i-1] + [1]) */
        for (int j = 0; j < ii; j++) st->u[kk][j] = st->u[kk][j] - q * st->u[ii][j];
        st->u[kk][ii] = st->u[kk][ii] - q * 1.0;
    }
    return 0;
}

static int lll_run(lll_state *st)
{
    for (int s = 0; s < 3; s++)
        if (gram_schmidt_row(st, s)) return 1;

    int k = 2; /* 1-based, as in pymatgen */
    for (long step = 0; k <= 3; step++) {
        if (step > LLL_MAX_STEPS) return 1;
        int kk = k - 1;
        if (size_reduce(st, kk)) return 1;
        /* Lovász condition, on b and m as they stand (not refreshed by size reduction). */
        double lhs = col_dot(st->b, kk, st->b, kk);
        double rhs = (LLL_DELTA - pow(fabs(st->u[kk][kk - 1]), 2.0)) * col_dot(st->b, kk - 1, st->b, kk - 1);
        if (!isfinite(lhs) || !isfinite(rhs)) return 1;
        if (lhs >= rhs) {
            k++;
            continue;
        }
        swap_cols(st->a, kk, kk - 1);
        swap_cols(st->mapping, kk, kk - 1);
        if (gram_schmidt_row(st, kk - 1) || gram_schmidt_row(st, kk)) return 1;
        if (k > 2) {
            k--;
        } else {
            /* u[2, 0:2] from lstsq(diag(m0, m1), dot(a[:, 2:3].T, b[:, 0:2]).T) */
            double p[2] = {col_dot(st->a, 2, st->b, 0), col_dot(st->a, 2, st->b, 1)};
            double q[2] = {st->m[0], st->m[1]}, x[2];
            if (cb_np_lstsq_diag2(q, p, x)) return 1;
            st->u[2][0] = x[0];
            st->u[2][1] = x[1];
        }
    }
    return 0;
}

int cb_lll_reduce(const double m[3][3], cb_lll *out, cb_error *err)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (!isfinite(m[i][j])) return cb_fail(err, CB_ERR_INVALID, "LLL: lattice has a non-finite entry");
    if (cb_mat3_det(m) == 0.0) return cb_fail(err, CB_ERR_INVALID, "LLL: singular lattice");

    lll_state st;
    memset(&st, 0, sizeof st);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            st.a[j][i] = m[i][j]; /* a = matrix.T: columns are the vectors */
            st.mapping[i][j] = (i == j) ? 1.0 : 0.0;
        }
    if (lll_run(&st)) return cb_fail(err, CB_ERR_INVALID, "LLL: reduction failed (degenerate lattice)");

    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            out->matrix[i][j] = st.a[j][i];
            out->mapping[i][j] = st.mapping[j][i];
        }
    if (cb_np_inv3(out->mapping, out->inverse))
        return cb_fail(err, CB_ERR_INVALID, "LLL: singular mapping (degenerate lattice)");
    return CB_OK;
}

void cb_lll_frac_coords(const cb_lll *lll, const double (*f)[3], int n, double (*out)[3])
{
    if (n > 0) cb_np_rows_dot(f, n, lll->inverse, out);
}
