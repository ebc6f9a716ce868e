/* The numbers behind the histogram figures: a run's stored series, the statistics
 * that choose an axis (quantile, largest value, a readable upper end) and the bins
 * every set of a figure is counted into. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

/* ---- series ---- */

int cb_plot_series_load(cb_store *s, int64_t run_id, const char *name, series *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = cb_store_get_series(s, run_id, name, &out->v, &out->n, err);
    if (rc == CB_ERR_EOF) return CB_OK;
    if (!rc) out->present = 1;
    return rc;
}

size_t cb_plot_n_finite(const series *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) k += isfinite(s->v[i]) != 0;
    return k;
}

double cb_plot_max_finite(const series *s)
{
    double m = NAN;
    for (size_t i = 0; i < s->n; i++)
        if (isfinite(s->v[i]) && !(s->v[i] <= m)) m = s->v[i];
    return m;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cb_plot_quantile(const series *s, double q, double *out, cb_error *err)
{
    *out = NAN;
    size_t m = cb_plot_n_finite(s);
    if (m == 0) return CB_OK;
    double *x = malloc(m * sizeof *x);
    if (!x) return cb_fail(err, CB_ERR_NOMEM, "out of memory for %zu plot values", m);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (isfinite(s->v[i])) x[k++] = s->v[i];
    qsort(x, m, sizeof *x, cmp_double);
    double pos = q * (double)(m - 1);
    size_t lo = (size_t)floor(pos);
    size_t hi = lo + 1 < m ? lo + 1 : lo;
    *out = x[lo] + (pos - (double)lo) * (x[hi] - x[lo]);
    free(x);
    return CB_OK;
}

double cb_plot_nice_ceil(double x)
{
    double e = pow(10.0, floor(log10(x)));
    static const double steps[] = {1, 2, 2.5, 5, 10};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (steps[i] * e >= x * (1 - 1e-12)) return steps[i] * e;
    return 10 * e;
}

/* ---- bins ---- */

int cb_plot_bins_init(plot_bins *b, size_t n_sets, size_t n_bins, double upper, int integers, cb_error *err)
{
    b->n_sets = n_sets;
    b->n_bins = n_bins;
    b->upper = upper;
    b->width = integers ? 1.0 : upper / (double)n_bins;
    b->integers = integers;
    b->count = calloc(n_sets * n_bins, sizeof *b->count);
    b->n = calloc(n_sets, sizeof *b->n);
    if (b->count && b->n) return CB_OK;
    cb_plot_bins_free(b);
    return cb_fail(err, CB_ERR_NOMEM, "out of memory");
}

void cb_plot_bins_free(plot_bins *b)
{
    free(b->count);
    free(b->n);
    b->count = b->n = NULL;
}

void cb_plot_bins_add(plot_bins *b, size_t set, const series *s)
{
    size_t *count = b->count + set * b->n_bins;
    for (size_t i = 0; i < s->n; i++) {
        double v = s->v[i];
        if (!isfinite(v)) continue;
        b->n[set]++;
        if (b->integers) {
            long e = lround(v);
            if (e >= 1 && (size_t)e <= b->n_bins) count[e - 1]++;
        } else if (v >= 0 && v <= b->upper) {
            size_t k = (size_t)(v / b->width);
            count[k < b->n_bins ? k : b->n_bins - 1]++; /* upper itself, and rounding past it */
        }
    }
}

double cb_plot_bins_max_density(const plot_bins *b)
{
    double top = 0;
    for (size_t k = 0; k < b->n_sets; k++)
        for (size_t i = 0; i < b->n_bins; i++)
            if (b->n[k] && (double)b->count[k * b->n_bins + i] / ((double)b->n[k] * b->width) > top)
                top = (double)b->count[k * b->n_bins + i] / ((double)b->n[k] * b->width);
    return top;
}

size_t cb_plot_bins_max_count(const plot_bins *b)
{
    size_t top = 0;
    for (size_t i = 0; i < b->n_sets * b->n_bins; i++)
        if (b->count[i] > top) top = b->count[i];
    return top;
}

void cb_plot_bins_write(FILE *f, const plot_bins *b, int densities)
{
    const double w = b->width;
    for (size_t i = 0; i < b->n_bins; i++) {
        if (b->integers)
            fprintf(f, "%zu", i + 1);
        else
            fprintf(f, "%.10g %.10g %.10g", (double)i * w, (double)(i + 1) * w, ((double)i + 0.5) * w);
        for (size_t k = 0; k < b->n_sets; k++) {
            size_t c = b->count[k * b->n_bins + i];
            fprintf(f, " %zu", c);
            if (densities) fprintf(f, " %.10g", b->n[k] ? (double)c / ((double)b->n[k] * w) : 0.0);
        }
        fputc('\n', f);
    }
}
