/* Coverage, AMSD/AMCD (CDVAE's compute_cov) and diversity (metrics.md §1.3).
 *
 * Every generated crystal is compared with every reference crystal (10,000 × 9,046 for
 * MP-20: ~10⁸ pairs of 61 + 132 numbers), so the distance loop is the cost.  Each
 * distance is scipy's cdist/pdist Euclidean distance — sqrt of the squared differences
 * summed in index order — and the loop computes several of them side by side (one
 * accumulator chain each, so every distance keeps scipy's summation order) over rows of
 * the generated set split between threads.  The minima along both axes are exact
 * (min does not depend on order), so the result does not depend on the thread count. */
#include "crystalbench/dng.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../core/npmath.h"

#define LANES 4 /* reference rows per pass: independent accumulator chains */

/* Squared distances between row a and rows b[0..LANES) (dim numbers each, stride dim). */
__attribute__((target_clones("avx2", "default"))) static void sqdist_lanes(const double *a, const double *b,
                                                                           size_t dim, double out[LANES])
{
    double acc[LANES] = {0};
    for (size_t k = 0; k < dim; k++)
        for (int l = 0; l < LANES; l++) {
            double d = a[k] - b[(size_t)l * dim + k];
            acc[l] += d * d;
        }
    for (int l = 0; l < LANES; l++) out[l] = acc[l];
}

static double sqdist(const double *a, const double *b, size_t dim)
{
    double acc = 0;
    for (size_t k = 0; k < dim; k++) {
        double d = a[k] - b[k];
        acc += d * d;
    }
    return acc;
}

typedef struct cov_job {
    const cb_fp_set *gen, *gt;
    size_t i0, i1;                /* generated rows of this worker */
    double *prec_s, *prec_c;      /* [gen.n] nearest reference, per generated crystal */
    double *recall_s, *recall_c;  /* [gt.n] this worker's nearest generated, per reference */
} cov_job;

static void *cov_worker(void *arg)
{
    cov_job *J = arg;
    const size_t ds = CB_STRUCT_FP_LEN, dc = CB_COMP_FP_LEN, m = J->gt->n;
    for (size_t j = 0; j < m; j++) J->recall_s[j] = J->recall_c[j] = INFINITY;
    for (size_t i = J->i0; i < J->i1; i++) {
        const double *as = J->gen->struct_fp + i * ds, *ac = J->gen->comp_fp + i * dc;
        double best_s = INFINITY, best_c = INFINITY;
        size_t j = 0;
        for (; j + LANES <= m; j += LANES) {
            double s[LANES], c[LANES];
            sqdist_lanes(as, J->gt->struct_fp + j * ds, ds, s);
            sqdist_lanes(ac, J->gt->comp_fp + j * dc, dc, c);
            for (int l = 0; l < LANES; l++) {
                double dsq = sqrt(s[l]), dcq = sqrt(c[l]);
                if (dsq < best_s) best_s = dsq;
                if (dcq < best_c) best_c = dcq;
                if (dsq < J->recall_s[j + l]) J->recall_s[j + l] = dsq;
                if (dcq < J->recall_c[j + l]) J->recall_c[j + l] = dcq;
            }
        }
        for (; j < m; j++) {
            double dsq = sqrt(sqdist(as, J->gt->struct_fp + j * ds, ds));
            double dcq = sqrt(sqdist(ac, J->gt->comp_fp + j * dc, dc));
            if (dsq < best_s) best_s = dsq;
            if (dcq < best_c) best_c = dcq;
            if (dsq < J->recall_s[j]) J->recall_s[j] = dsq;
            if (dcq < J->recall_c[j]) J->recall_c[j] = dcq;
        }
        J->prec_s[i] = best_s;
        J->prec_c[i] = best_c;
    }
    return NULL;
}

int cb_coverage(const cb_fp_set *gen, size_t num_gen, const cb_fp_set *gt, double struct_cutoff,
                double comp_cutoff, int threads, cb_coverage_result *out, cb_error *err)
{
    if (gen->n == 0 || gt->n == 0)
        return cb_fail(err, CB_ERR_INVALID, "coverage: %s set has no fingerprints", gen->n ? "reference" : "generated");
    if (num_gen < gen->n) return cb_fail(err, CB_ERR_INVALID, "coverage: num_gen %zu < %zu fingerprints", num_gen, gen->n);
    int nt = threads > 1 ? threads : 1;
    if ((size_t)nt > gen->n) nt = (int)gen->n;
    size_t n = gen->n, m = gt->n;
    double *prec = malloc(2 * n * sizeof *prec);
    double *rec = malloc(2 * m * (size_t)nt * sizeof *rec);
    cov_job *jobs = calloc((size_t)nt, sizeof *jobs);
    pthread_t *tid = calloc((size_t)nt, sizeof *tid);
    if (!prec || !rec || !jobs || !tid) {
        free(prec);
        free(rec);
        free(jobs);
        free(tid);
        return cb_fail(err, CB_ERR_NOMEM, "coverage: out of memory for %zu x %zu distances", n, m);
    }
    for (int t = 0; t < nt; t++)
        jobs[t] = (cov_job){gen, gt, n * (size_t)t / (size_t)nt, n * (size_t)(t + 1) / (size_t)nt, prec, prec + n,
                            rec + 2 * m * (size_t)t, rec + 2 * m * (size_t)t + m};
    int started = 0;
    for (int t = 1; t < nt; t++)
        if (pthread_create(&tid[t], NULL, cov_worker, &jobs[t]) == 0)
            started = t;
        else
            break;
    for (int t = started + 1; t < nt; t++) cov_worker(&jobs[t]); /* threads that could not start */
    cov_worker(&jobs[0]);
    for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);

    double *rs = jobs[0].recall_s, *rc = jobs[0].recall_c;
    for (int t = 1; t < nt; t++)
        for (size_t j = 0; j < m; j++) {
            if (jobs[t].recall_s[j] < rs[j]) rs[j] = jobs[t].recall_s[j];
            if (jobs[t].recall_c[j] < rc[j]) rc[j] = jobs[t].recall_c[j];
        }
    size_t covered_gt = 0, covered_gen = 0;
    for (size_t j = 0; j < m; j++) covered_gt += rs[j] <= struct_cutoff && rc[j] <= comp_cutoff;
    for (size_t i = 0; i < n; i++) covered_gen += prec[i] <= struct_cutoff && prec[n + i] <= comp_cutoff;
    out->cov_recall = (double)covered_gt / (double)m;
    out->cov_precision = (double)covered_gen / (double)num_gen;
    out->amsd_recall = cb_np_sum(rs, m) / (double)m;
    out->amcd_recall = cb_np_sum(rc, m) / (double)m;
    out->amsd_precision = cb_np_sum(prec, n) / (double)n;
    out->amcd_precision = cb_np_sum(prec + n, n) / (double)n;
    free(prec);
    free(rec);
    free(jobs);
    free(tid);
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
