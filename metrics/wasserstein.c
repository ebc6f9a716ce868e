/* scipy.stats.wasserstein_distance(u, v) with unit weights (metrics.md §1.3): the L1
 * distance between the two empirical CDFs, integrated over the merged sorted values.
 *
 *   W1 = Σ_t |F_u(a_t) − F_v(a_t)| · (a_{t+1} − a_t),   a = sorted(u ∪ v)
 *
 * with F(x) = #{values <= x} / n (searchsorted side='right').  Both samples are sorted
 * once and the CDF counts advance with the merged sequence, so the cost is a sort. */
#include "crystalbench/dng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/npmath.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cb_wasserstein1(const double *u, size_t nu, const double *v, size_t nv, double *out, cb_error *err)
{
    if (nu == 0 || nv == 0) return cb_fail(err, CB_ERR_INVALID, "wasserstein distance: empty sample");
    for (size_t i = 0; i < nu; i++)
        if (!isfinite(u[i])) return cb_fail(err, CB_ERR_INVALID, "wasserstein distance: non-finite value");
    for (size_t i = 0; i < nv; i++)
        if (!isfinite(v[i])) return cb_fail(err, CB_ERR_INVALID, "wasserstein distance: non-finite value");
    size_t n = nu + nv;
    double *us = malloc(nu * sizeof *us), *vs = malloc(nv * sizeof *vs), *all = malloc(n * sizeof *all);
    double *terms = malloc(n * sizeof *terms);
    if (!us || !vs || !all || !terms) {
        free(us);
        free(vs);
        free(all);
        free(terms);
        return cb_fail(err, CB_ERR_NOMEM, "wasserstein distance: out of memory");
    }
    memcpy(us, u, nu * sizeof *us);
    memcpy(vs, v, nv * sizeof *vs);
    qsort(us, nu, sizeof *us, cmp_double);
    qsort(vs, nv, sizeof *vs, cmp_double);
    /* merge (values only: equal values are interchangeable) */
    size_t i = 0, j = 0, k = 0;
    while (i < nu || j < nv) all[k++] = (j >= nv || (i < nu && us[i] <= vs[j])) ? us[i++] : vs[j++];
    size_t cu = 0, cv = 0;
    for (size_t t = 0; t + 1 < n; t++) {
        while (cu < nu && us[cu] <= all[t]) cu++;
        while (cv < nv && vs[cv] <= all[t]) cv++;
        double fu = (double)cu / (double)nu, fv = (double)cv / (double)nv;
        terms[t] = fabs(fu - fv) * (all[t + 1] - all[t]);
    }
    *out = cb_np_sum(terms, n - 1);
    free(us);
    free(vs);
    free(all);
    free(terms);
    return CB_OK;
}
