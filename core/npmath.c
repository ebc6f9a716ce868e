/* numpy-equivalent kernels (see npmath.h for what each reproduces and why). */
#include "npmath.h"

#include "crystalbench/reduce.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* LAPACK from OpenBLAS (Fortran ABI, 32-bit integers as in Debian's build, which the
 * library already links).  No character arguments, so no hidden string lengths. */
extern void dgelsd_(const int *m, const int *n, const int *nrhs, double *a, const int *lda,
                    double *b, const int *ldb, double *s, const double *rcond, int *rank,
                    double *work, const int *lwork, int *iwork, int *info);

double cb_np_dot3(const double *x, int sx, const double *y, int sy)
{
    /* numpy's ddot starts from 0.0 (matters only for the sign of a zero result). */
    double s = 0.0;
    s += x[0] * y[0];
    s += x[sx] * y[sy];
    s += x[2 * sx] * y[2 * sy];
    return s;
}

CB_FMA_CLONES double cb_np_fdot3(const double *x, int sx, const double *y, int sy) { return cb_np_fdot3_inline(x, sx, y, sy); }

void cb_np_vec_dot(const double v[3], const double m[3][3], double out[3])
{
    double r[3];
    for (int j = 0; j < 3; j++) r[j] = cb_np_dot3(v, 1, &m[0][j], 3);
    memcpy(out, r, sizeof r);
}

CB_FMA_CLONES void cb_np_rows_dot(const double (*a)[3], int n, const double b[3][3], double (*out)[3])
{
    if (n == 1) {
        cb_np_vec_dot(a[0], b, out[0]);
        return;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 3; j++) out[i][j] = cb_np_fdot3_inline(a[i], 1, &b[0][j], 3);
}

CB_FMA_CLONES void cb_np_mat_dot(const double a[3][3], const double b[3][3], double out[3][3])
{
    double r[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) r[i][j] = cb_np_fdot3_inline(a[i], 1, &b[0][j], 3);
    memcpy(out, r, sizeof r);
}

/* Index of the first entry of largest magnitude (OpenBLAS IAMAX), among n = 2 or 3. */
static int iamax(const double *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (fabs(v[i]) > fabs(v[best])) best = i;
    return best;
}

static void swap(double *x, double *y)
{
    double t = *x;
    *x = *y;
    *y = t;
}

/* numpy.linalg.inv is LAPACK dgesv(A, I), which OpenBLAS 0.3.21 runs for n = 3 as its
 * unblocked getf2 (left-looking LU with partial pivoting, multipliers scaled by the
 * reciprocal pivot, dot products NOT fused) followed by getrs: the row swaps on I, a
 * forward substitution with fused multiply-adds and a back substitution multiplying by
 * reciprocal diagonals (not fused).  Verified bit for bit against numpy on 10,000
 * general, lattice and unimodular integer matrices.  (Calling dgesv itself gives the
 * same bits but costs 100+ us per call when OpenBLAS has worker threads.) */
CB_FMA_CLONES int cb_np_inv3(const double m[3][3], double inv[3][3])
{
    double a[3][3], b[3];
    int piv[3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            if (!isfinite(m[i][j])) return 1;
            a[i][j] = m[i][j];
        }

    /* column 0 */
    for (int i = 0; i < 3; i++) b[i] = a[i][0];
    int p = iamax(b, 3);
    piv[0] = p;
    if (a[p][0] == 0.0) return 1;
    double r = 1.0 / a[p][0];
    swap(&a[0][0], &a[p][0]);
    a[1][0] *= r;
    a[2][0] *= r;

    /* column 1 */
    for (int i = 0; i < 3; i++) b[i] = a[i][1];
    swap(&b[0], &b[piv[0]]);
    b[1] = b[1] - b[0] * a[1][0];
    b[2] = b[2] - b[0] * a[2][0];
    p = 1 + iamax(b + 1, 2);
    piv[1] = p;
    if (b[p] == 0.0) return 1;
    r = 1.0 / b[p];
    swap(&a[1][0], &a[p][0]);
    swap(&b[1], &b[p]);
    b[2] *= r;
    for (int i = 0; i < 3; i++) a[i][1] = b[i];

    /* column 2 */
    for (int i = 0; i < 3; i++) b[i] = a[i][2];
    swap(&b[0], &b[piv[0]]);
    swap(&b[1], &b[piv[1]]);
    b[1] = b[1] - a[1][0] * b[0];
    b[2] = b[2] - (a[2][0] * b[0] + a[2][1] * b[1]);
    if (b[2] == 0.0) return 1;
    for (int i = 0; i < 3; i++) a[i][2] = b[i];
    piv[2] = 2;

    /* solve L U X = P I, one column of the identity at a time */
    double e[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    for (int i = 0; i < 3; i++)
        for (int c = 0; c < 3; c++) swap(&e[i][c], &e[piv[i]][c]);
    double d[3] = {1.0 / a[0][0], 1.0 / a[1][1], 1.0 / a[2][2]};
    for (int c = 0; c < 3; c++) {
        double y0 = e[0][c], y1 = e[1][c], y2 = e[2][c];
        y1 = fma(-y0, a[1][0], y1);
        y2 = fma(-y0, a[2][0], y2);
        y2 = fma(-y1, a[2][1], y2);
        double x2 = y2 * d[2];
        y1 = y1 - x2 * a[1][2];
        y0 = y0 - x2 * a[0][2];
        double x1 = y1 * d[1];
        y0 = y0 - x1 * a[0][1];
        double x0 = y0 * d[0];
        inv[0][c] = x0;
        inv[1][c] = x1;
        inv[2][c] = x2;
    }
    return 0;
}

int cb_np_lstsq_diag2(const double q[2], const double p[2], double x[2])
{
    /* The same calls numpy's lstsq gufunc makes: a workspace query, then the solve
     * with rcond = eps · max(m, n). */
    double a[4] = {q[0], 0.0, 0.0, q[1]}, b[2] = {p[0], p[1]}, s[2];
    const int m = 2, n = 2, nrhs = 1, lda = 2, ldb = 2;
    const double rcond = DBL_EPSILON * 2;
    int rank = 0, info = 0, lwork = -1, iwork_q = 0;
    double work_q = 0;
    dgelsd_(&m, &n, &nrhs, a, &lda, b, &ldb, s, &rcond, &rank, &work_q, &lwork, &iwork_q, &info);
    if (info != 0) return 1;
    /* For a 2×2 problem LAPACK asks for a few hundred doubles; a fixed buffer avoids
     * an allocation in the LLL inner loop. */
    double work[2048];
    int iwork[256];
    lwork = (int)work_q;
    if (lwork < 1 || lwork > 2048 || iwork_q > 256) return 1;
    dgelsd_(&m, &n, &nrhs, a, &lda, b, &ldb, s, &rcond, &rank, work, &lwork, iwork, &info);
    if (info != 0) return 1;
    x[0] = b[0];
    x[1] = b[1];
    return 0;
}

/* ---- public wrappers (reduce.h) ---- */

int cb_lattice_inv(const double m[3][3], double inv[3][3]) { return cb_np_inv3(m, inv); }

int cb_lattice_reciprocal(const double m[3][3], double rec[3][3])
{
    double inv[3][3];
    if (cb_np_inv3(m, inv)) return 1;
    /* numpy: v * 2 * np.pi, left to right, on v = inv(m).T */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) rec[i][j] = inv[j][i] * 2 * M_PI;
    return 0;
}

void cb_lattice_dot_rows(const double m[3][3], const double (*f)[3], int n, double (*out)[3])
{
    if (n > 0) cb_np_rows_dot(f, n, m, out);
}

void cb_lattice_dot_vec(const double m[3][3], const double f[3], double out[3]) { cb_np_vec_dot(f, m, out); }

/* numpy's pairwise_sum for doubles (loops.c.src), operation for operation. */
static double pairwise_sum(const double *a, size_t n)
{
    if (n < 8) {
        double s = 0.;
        for (size_t i = 0; i < n; i++) s += a[i];
        return s;
    }
    if (n <= 128) {
        double r[8];
        for (int k = 0; k < 8; k++) r[k] = a[k];
        size_t i;
        for (i = 8; i < n - n % 8; i += 8)
            for (int k = 0; k < 8; k++) r[k] += a[i + k];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) s += a[i];
        return s;
    }
    size_t half = n / 2;
    half -= half % 8;
    return pairwise_sum(a, half) + pairwise_sum(a + half, n - half);
}

double cb_np_sum(const double *a, size_t n)
{
    /* add.reduce copies the first element into the result, then adds the rest */
    if (n <= 1) return n ? a[0] : 0.0;
    return a[0] + pairwise_sum(a + 1, n - 1);
}
