/* Coverage, AMSD/AMCD (CDVAE's compute_cov) and diversity (metrics.md §1.3).
 *
 * Coverage needs, for every generated crystal, its nearest reference and, for every
 * reference, its nearest generated crystal — structurally and compositionally — over
 * all pairs (10,000 × 9,046 for MP-20, 61 + 132 numbers each).  The reference computes
 * scipy's cdist: sqrt of the squared differences summed in index order.  Doing that
 * for every pair costs ~30 s; here every pair is first estimated through a matrix
 * product, |a|² + |b|² − 2 a·b (OpenBLAS dgemm), whose error is bounded by
 *   |est − d²| <= (k + 4) · 2⁻⁵² · 4 · (|a| + |b|)²,   k = the dimension,
 * a generous multiple of the worst case of a length-k sum.  Pass 1 bounds each row's
 * and each column's minimum from above (the smallest est + bound); pass 2 recomputes
 * exactly, as scipy does, every pair whose est − bound does not exceed its row's or
 * its column's upper bound — a superset of the true minimisers — and keeps the exact
 * minima.  The results are scipy's to the last bit, whatever the thread count. */
#include "crystalbench/dng.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/npmath.h"
#include "crystalbench/parallel.h"

#define ROW_BLOCK 128 /* generated rows per matrix product */

/* scipy's squared Euclidean distance: differences squared and summed in order. */
static double sqdist(const double *a, const double *b, size_t dim)
{
    double acc = 0;
    for (size_t k = 0; k < dim; k++) {
        double d = a[k] - b[k];
        acc += d * d;
    }
    return acc;
}

/* One metric (structural or compositional) of the coverage computation. */
typedef struct near_side {
    const double *a, *b; /* gen rows (n × dim), reference rows (m × dim) */
    size_t n, m, dim;
    double *na, *nb;               /* squared norms */
    double *ra, *rb;               /* norms */
    double *row_upper, *col_upper; /* pass 1: upper bounds of the minimal d² */
    double *row_min, *col_min;     /* pass 2: exact minimal d² */
} near_side;

/* A wave: `threads` blocks of rows at a time, each with its own product buffer and
 * column minima, merged after the wave. */
typedef struct wave {
    near_side *side;
    int pass;
    size_t first_block;
    double *products; /* per slot: ROW_BLOCK × m */
    double *cols;     /* per slot: m */
} wave;

/* the bound of the header comment */
static double err_bound(const near_side *s, size_t i, size_t j)
{
    double r = s->ra[i] + s->rb[j];
    return (double)(s->dim + 4) * DBL_EPSILON * 4 * r * r;
}

static int wave_block(void *ctx, size_t slot, cb_error *err)
{
    (void)err;
    wave *W = ctx;
    near_side *s = W->side;
    size_t m = s->m, i0 = (W->first_block + slot) * ROW_BLOCK, i1 = i0 + ROW_BLOCK < s->n ? i0 + ROW_BLOCK : s->n;
    double *g = W->products + slot * ROW_BLOCK * m, *col = W->cols + slot * m;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(i1 - i0), (int)m, (int)s->dim, 1.0, s->a + i0 * s->dim,
                (int)s->dim, s->b, (int)s->dim, 0.0, g, (int)m);
    for (size_t j = 0; j < m; j++) col[j] = INFINITY;
    for (size_t i = i0; i < i1; i++) {
        const double *gi = g + (i - i0) * m;
        double best = INFINITY;
        for (size_t j = 0; j < m; j++) {
            double est = s->na[i] + s->nb[j] - 2 * gi[j], bound = err_bound(s, i, j);
            double v;
            if (W->pass == 1)
                v = est + bound;
            else if (est - bound <= s->row_upper[i] || est - bound <= s->col_upper[j])
                v = sqdist(s->a + i * s->dim, s->b + j * s->dim, s->dim);
            else
                continue;
            if (v < best) best = v;
            if (v < col[j]) col[j] = v;
        }
        (W->pass == 1 ? s->row_upper : s->row_min)[i] = best;
    }
    return CB_OK;
}

static double sumsq(const double *a, size_t dim)
{
    double acc = 0;
    for (size_t k = 0; k < dim; k++) acc += a[k] * a[k];
    return acc;
}

/* Exact nearest squared distances along both axes (row_min, col_min). */
static int nearest(near_side *s, int threads, cb_error *err)
{
    size_t nblocks = (s->n + ROW_BLOCK - 1) / ROW_BLOCK, slots = (size_t)(threads > 1 ? threads : 1);
    double *products = malloc(slots * ROW_BLOCK * s->m * sizeof *products);
    double *cols = malloc(slots * s->m * sizeof *cols);
    if (!products || !cols) {
        free(products);
        free(cols);
        return cb_fail(err, CB_ERR_NOMEM, "coverage: out of memory for %zu x %zu distances", s->n, s->m);
    }
    for (size_t i = 0; i < s->n; i++) s->ra[i] = sqrt(s->na[i] = sumsq(s->a + i * s->dim, s->dim));
    for (size_t j = 0; j < s->m; j++) s->rb[j] = sqrt(s->nb[j] = sumsq(s->b + j * s->dim, s->dim));
    int rc = CB_OK;
    for (int pass = 1; pass <= 2 && !rc; pass++) {
        double *col_out = pass == 1 ? s->col_upper : s->col_min;
        for (size_t j = 0; j < s->m; j++) col_out[j] = INFINITY;
        for (size_t b0 = 0; b0 < nblocks && !rc; b0 += slots) {
            size_t k = nblocks - b0 < slots ? nblocks - b0 : slots;
            wave W = {s, pass, b0, products, cols};
            rc = cb_parallel_for(k, threads, wave_block, &W, NULL, err);
            for (size_t t = 0; t < k && !rc; t++)
                for (size_t j = 0; j < s->m; j++)
                    if (cols[t * s->m + j] < col_out[j]) col_out[j] = cols[t * s->m + j];
        }
    }
    free(products);
    free(cols);
    return rc;
}

int cb_coverage(const cb_fp_set *gen, size_t num_gen, const cb_fp_set *gt, double struct_cutoff,
                double comp_cutoff, int threads, cb_coverage_result *out, cb_error *err)
{
    if (gen->n == 0 || gt->n == 0)
        return cb_fail(err, CB_ERR_INVALID, "coverage: %s set has no fingerprints", gen->n ? "reference" : "generated");
    if (num_gen < gen->n) return cb_fail(err, CB_ERR_INVALID, "coverage: num_gen %zu < %zu fingerprints", num_gen, gen->n);
    size_t n = gen->n, m = gt->n;
    /* per side: na, ra, row_upper, row_min (n each), nb, rb, col_upper, col_min (m each) */
    double *buf = malloc(2 * (4 * n + 4 * m) * sizeof *buf);
    if (!buf) return cb_fail(err, CB_ERR_NOMEM, "coverage: out of memory");
    near_side side[2];
    const double *ga[2] = {gen->struct_fp, gen->comp_fp}, *gb[2] = {gt->struct_fp, gt->comp_fp};
    const size_t dims[2] = {CB_STRUCT_FP_LEN, CB_COMP_FP_LEN};
    double *p = buf;
    int rc = CB_OK;
    for (int k = 0; k < 2 && !rc; k++) {
        side[k] = (near_side){.a = ga[k], .b = gb[k], .n = n, .m = m, .dim = dims[k], .na = p, .ra = p + n,
                              .row_upper = p + 2 * n, .row_min = p + 3 * n, .nb = p + 4 * n, .rb = p + 4 * n + m,
                              .col_upper = p + 4 * n + 2 * m, .col_min = p + 4 * n + 3 * m};
        p += 4 * n + 4 * m;
        rc = nearest(&side[k], threads, err);
    }
    if (rc) {
        free(buf);
        return rc;
    }
    /* distances are the square roots of the exact minimal squared distances */
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < n; i++) side[k].row_min[i] = sqrt(side[k].row_min[i]);
        for (size_t j = 0; j < m; j++) side[k].col_min[j] = sqrt(side[k].col_min[j]);
    }
    const double *rs = side[0].col_min, *rc_ = side[1].col_min, *ps = side[0].row_min, *pc = side[1].row_min;
    size_t covered_gt = 0, covered_gen = 0;
    for (size_t j = 0; j < m; j++) covered_gt += rs[j] <= struct_cutoff && rc_[j] <= comp_cutoff;
    for (size_t i = 0; i < n; i++) covered_gen += ps[i] <= struct_cutoff && pc[i] <= comp_cutoff;
    out->cov_recall = (double)covered_gt / (double)m;
    out->cov_precision = (double)covered_gen / (double)num_gen;
    out->amsd_recall = cb_np_sum(rs, m) / (double)m;
    out->amcd_recall = cb_np_sum(rc_, m) / (double)m;
    out->amsd_precision = cb_np_sum(ps, n) / (double)n;
    out->amcd_precision = cb_np_sum(pc, n) / (double)n;
    free(buf);
    return CB_OK;
}

double cb_mean_pairwise_distance(const double *rows, size_t n, size_t dim)
{
    if (n < 2) return NAN;
    size_t np = n * (n - 1) / 2, k = 0;
    double *d = malloc(np * sizeof *d);
    if (!d) return NAN;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) d[k++] = sqrt(sqdist(rows + i * dim, rows + j * dim, dim));
    double mean = cb_np_sum(d, np) / (double)np;
    free(d);
    return mean;
}
