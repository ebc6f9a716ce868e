/* Private: small linear-algebra kernels that give the same bits as the numpy 1.24 +
 * OpenBLAS 0.3.21 operations pymatgen performs, so that LLL, Niggli and the shortest
 * vectors agree with pymatgen to the last bit on the reference machine.
 *
 * What numpy does for the shapes pymatgen uses (measured on this machine; every
 * probe agreed on thousands of random inputs):
 *   - 1-D · 1-D, and 1-D (or a 1×3 row) · 3×k matrix: a plain left-to-right sum of
 *     products, ((x0·y0 + x1·y1) + x2·y2)                                 -> cb_np_dot3
 *   - n×3 · 3×k with n >= 2 (gemm, syrk, np.inner): a fused multiply-add chain,
 *     fma(x2, y2, fma(x1, y1, x0·y0))                                     -> cb_np_fdot3
 *   - np.linalg.inv is OpenBLAS's dgesv, whose 3×3 path is replayed (cb_np_inv3);
 *   - np.linalg.lstsq is LAPACK dgelsd: we call it with numpy's arguments.
 * fma() is the exactly rounded C99 function, so these kernels give the same results on
 * every machine (numpy itself gives other bits on a CPU without FMA; we follow the
 * reference machine).  Cython kernels in pymatgen (find_points_in_spheres,
 * pbc_shortest_vectors) are plain C sums and are reproduced inline where used. */
#ifndef CB_NPMATH_H
#define CB_NPMATH_H

#include <math.h>
#include <stddef.h>

/* Under the x86-64-v2 baseline fma() is a call into libm, and these kernels run in
 * the matcher's inner loops.  CB_FMA_CLONES compiles a function twice (plain and with
 * the FMA extension) and picks one at load time: fma() is exactly rounded in both, so
 * the results are the same bits, and the baseline stays x86-64-v2.  ISO C mode
 * (-std=c11) keeps -ffp-contract=off, so no other expression is fused in the clone. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__FMA__) && defined(__linux__)
#define CB_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define CB_FMA_CLONES
#endif

/* ((x0·y0 + x1·y1) + x2·y2), elements sx / sy doubles apart. */
double cb_np_dot3(const double *x, int sx, const double *y, int sy);
/* fma(x2, y2, fma(x1, y1, x0·y0)), elements sx / sy doubles apart. */
double cb_np_fdot3(const double *x, int sx, const double *y, int sy);
/* The same, inline, for kernels that are CB_FMA_CLONES themselves: their FMA clone then
 * uses the instruction instead of calling libm. */
static inline double cb_np_fdot3_inline(const double *x, int sx, const double *y, int sy)
{
    double s = fma(x[0], y[0], 0.0);
    s = fma(x[sx], y[sy], s);
    return fma(x[2 * sx], y[2 * sy], s);
}

/* numpy.dot(a, b) for a of shape (n, 3) and b of shape (3, 3): a 1×3 row goes through
 * gemv (plain sums), n >= 2 rows through gemm (fma chains).  out may not alias a. */
void cb_np_rows_dot(const double (*a)[3], int n, const double b[3][3], double (*out)[3]);
/* numpy.dot(v, m) for a 1-D v: plain sums. */
void cb_np_vec_dot(const double v[3], const double m[3][3], double out[3]);
/* numpy.dot(a, b) for two 3×3 matrices (gemm: fma chains).  out may alias a or b. */
void cb_np_mat_dot(const double a[3][3], const double b[3][3], double out[3][3]);

/* numpy.linalg.inv(m) (OpenBLAS dgesv on the identity, replayed).  Returns 0 on
 * success, non-zero for a non-finite matrix or an exactly zero pivot (where numpy
 * raises LinAlgError). */
int cb_np_inv3(const double m[3][3], double inv[3][3]);

/* numpy.linalg.lstsq(diag(q0, q1), p, rcond=None)[0] for a 2×2 diagonal system and one
 * right-hand side (LAPACK dgelsd).  Returns 0 on success. */
int cb_np_lstsq_diag2(const double q[2], const double p[2], double x[2]);


/* np.sum of a contiguous 1-D double array: the first element, plus the rest by
 * numpy's pairwise summation (8 partial sums per block of up to 128 elements, halves
 * above).  0 for n = 0. */
double cb_np_sum(const double *a, size_t n);

#endif
