/* The CSP figure of a dataset: per run a panel with the histogram of the normalised
 * RMS distances of its matched targets (NaN = unmatched, not counted), titled with
 * its match rate. */
#include <math.h>
#include <stdlib.h>

#include "plot_internal.h"

#define RMS_BINS 50

static void match_rate(const multiplot *mp, size_t k, char *buf, size_t cap)
{
    const series *s = &mp->panels[k]->a;
    size_t matched = cb_plot_n_finite(s);
    snprintf(buf, cap, "match rate %.1f %% (%zu of %zu)", s->n ? 100.0 * (double)matched / (double)s->n : 0.0,
             matched, s->n);
}

static void draw_rms(const multiplot *mp, size_t k, FILE *f)
{
    (void)mp;
    fprintf(f, " using 3:%zu with boxes fc rgb '%s' notitle", 4 + k, cb_plot_color(k));
}

int cb_plot_csp_rms(plotter *p, const char *dataset, const panel *pn, size_t np)
{
    size_t m;
    const panel **with = cb_plot_panels_with(pn, np, 0, &m, p->err);
    if (!with) return CB_ERR_NOMEM;
    plot_bins b = {0};
    int rc = CB_OK;
    if (!m) goto done;
    /* [0, U]: U the largest value drawn, made readable. */
    double vmax = NAN;
    for (size_t k = 0; k < m; k++) {
        double x = cb_plot_max_finite(&with[k]->a);
        if (x > vmax || isnan(vmax)) vmax = x;
    }
    double upper = vmax > 0 ? cb_plot_nice_ceil(vmax) : 1;
    if ((rc = cb_plot_bins_init(&b, m, RMS_BINS, upper, 0, p->err))) goto done;
    for (size_t k = 0; k < m; k++) cb_plot_bins_add(&b, k, &with[k]->a);

    char name[CB_PLOT_NAME_CAP], dat[CB_PLOT_PATH_CAP];
    cb_atomic_file a;
    if ((rc = cb_plot_open_dataset_data(p, "csp_rms", dataset, name, dat, &a))) goto done;
    fprintf(a.f,
            "# %s: normalised RMS distance of the matched CSP targets, dataset %s\n"
            "# %d bins of width %.17g over [0, %.17g]; unmatched targets (NaN) are not counted\n"
            "# columns: 1 bin_lo, 2 bin_hi, 3 bin_mid, then the count of each run:\n",
            name, dataset, RMS_BINS, b.width, upper);
    for (size_t k = 0; k < m; k++)
        fprintf(a.f, "#   %zu %s (run %lld, %zu of %zu targets matched)\n", 4 + k, with[k]->label,
                (long long)with[k]->run->id, b.n[k], with[k]->a.n);
    cb_plot_bins_write(a.f, &b, 0);
    if ((rc = cb_plot_commit_data(p, name, &a))) goto done;

    char x_axis[256];
    snprintf(x_axis, sizeof x_axis,
             "set style fill solid 0.9 border -1\nset boxwidth %.17g absolute\nset xrange [0:%.17g]\n", b.width,
             upper);
    multiplot mp = {.title = "CSP: normalised RMS distance of the matched targets",
                    .dataset = dataset,
                    .x_axis = x_axis,
                    .xlabel = "normalised RMS distance",
                    .ylabel = "targets",
                    .ymax = (double)cb_plot_bins_max_count(&b),
                    .key = 0,
                    .panels = with,
                    .m = m,
                    .numbers = match_rate,
                    .draw = draw_rms};
    rc = cb_plot_multiplot(p, name, dat, &mp);
done:
    cb_plot_bins_free(&b);
    free(with);
    return rc;
}
