/* The DNG histograms of a dataset: density and number of elements of each run's
 * samples against the test set's, a panel per run (binning as in plot.h). */
#include <math.h>
#include <stdlib.h>

#include "plot_internal.h"

#define DENSITY_BINS 60
#define DENSITY_QUANTILE 0.995
#define MAX_ELEMS 100

/* ---- the histograms: set 0 is the test set (n = 0 when there is none), set k+1 panel k ---- */

/* What tells the two histograms apart. */
typedef struct dng_histogram {
    const char *kind;   /* the plot is <kind>_<dataset> */
    const char *title;
    const char *xlabel; /* the quantity binned, also named by the data file */
    const char *ylabel;
    int num_elems;      /* the panels' num_elems series, else their density */
    /* Sizes the bins to the sets drawn (m + 1 sets; filled afterwards). */
    int (*bins)(plotter *p, const series *ref, int has_ref, const panel *const *pn, size_t m, plot_bins *b);
    /* The data file's lines on the bins and its columns, before the sets' columns. */
    void (*about)(FILE *f, const plot_bins *b);
    /* The `set` lines of the x axis (multiplot.x_axis). */
    void (*x_axis)(char *buf, size_t cap, const plot_bins *b);
    void (*draw)(const multiplot *mp, size_t k, FILE *f);
} dng_histogram;

/* What a panel needs: its set's size, and whether there is a test set. */
typedef struct dng_panels {
    const plot_bins *b;
    int has_ref;
} dng_panels;

static void samples_n(const multiplot *mp, size_t k, char *buf, size_t cap)
{
    const dng_panels *d = mp->fig;
    snprintf(buf, cap, "n = %zu", d->b->n[k + 1]);
}

/* The data file, then the script: a panel per run with its histogram against the test
 * set's. */
static int plot_histogram(plotter *p, const dng_histogram *h, const char *dataset, const panel *pn, size_t np,
                          const series *ref, const cb_run *ref_run)
{
    size_t m;
    const panel **with = cb_plot_panels_with(pn, np, h->num_elems, &m, p->err);
    if (!with) return CB_ERR_NOMEM;
    plot_bins b = {0};
    int rc = CB_OK;
    int has_ref = ref && cb_plot_n_finite(ref) > 0;
    if (!m || (rc = h->bins(p, ref, has_ref, with, m, &b))) goto done;
    if (has_ref) cb_plot_bins_add(&b, 0, ref);
    for (size_t k = 0; k < m; k++) cb_plot_bins_add(&b, k + 1, h->num_elems ? &with[k]->b : &with[k]->a);

    char name[CB_PLOT_NAME_CAP], dat[CB_PLOT_PATH_CAP];
    cb_atomic_file a;
    if ((rc = cb_plot_open_dataset_data(p, h->kind, dataset, name, dat, &a))) goto done;
    fprintf(a.f, "# %s: %s of the valid DNG samples and of the test set, dataset %s\n", name, h->xlabel, dataset);
    h->about(a.f, &b);
    /* A count and a fraction per set, after the bin's columns. */
    size_t first = b.integers ? 2 : 4;
    fprintf(a.f, "#   %zu %zu test set (n = %zu", first, first + 1, b.n[0]);
    if (has_ref) fprintf(a.f, ", from run %lld", (long long)ref_run->id);
    fputs(")\n", a.f);
    for (size_t k = 0; k < m; k++)
        fprintf(a.f, "#   %zu %zu %s (run %lld, n = %zu)\n", first + 2 + 2 * k, first + 3 + 2 * k, with[k]->label,
                (long long)with[k]->run->id, b.n[k + 1]);
    cb_plot_bins_write(a.f, &b, 1);
    if ((rc = cb_plot_commit_data(p, name, &a))) goto done;

    char x_axis[256];
    h->x_axis(x_axis, sizeof x_axis, &b);
    dng_panels d = {&b, has_ref};
    multiplot mp = {.title = h->title,
                    .dataset = dataset,
                    .x_axis = x_axis,
                    .xlabel = h->xlabel,
                    .ylabel = h->ylabel,
                    .ymax = cb_plot_bins_max_density(&b),
                    .key = 1,
                    .panels = with,
                    .m = m,
                    .numbers = samples_n,
                    .draw = h->draw,
                    .fig = &d};
    rc = cb_plot_multiplot(p, name, dat, &mp);
done:
    cb_plot_bins_free(&b);
    free(with);
    return rc;
}

/* ---- density: 60 bins over [0, U], U the largest 99.5 % quantile of the sets drawn ---- */

static int density_bins(plotter *p, const series *ref, int has_ref, const panel *const *pn, size_t m,
                        plot_bins *b)
{
    double upper = 0, q;
    int rc = CB_OK;
    if (has_ref && !(rc = cb_plot_quantile(ref, DENSITY_QUANTILE, &q, p->err)) && q > upper) upper = q;
    for (size_t k = 0; k < m && !rc; k++)
        if (!(rc = cb_plot_quantile(&pn[k]->a, DENSITY_QUANTILE, &q, p->err)) && q > upper) upper = q;
    if (rc) return rc;
    if (!(upper > 0) || !isfinite(upper)) upper = 1;
    return cb_plot_bins_init(b, m + 1, DENSITY_BINS, upper, 0, p->err);
}

static void density_about(FILE *f, const plot_bins *b)
{
    fprintf(f,
            "# %zu bins of width %.17g over [0, %.17g]: the upper end is the largest 99.5 %% quantile of the sets\n"
            "# pdf = count / (n · width), n = the set's finite values (those past the upper end included)\n"
            "# columns: 1 bin_lo, 2 bin_hi, 3 bin_mid, then count and pdf of each set:\n",
            b->n_bins, b->width, b->upper);
}

static void density_x_axis(char *buf, size_t cap, const plot_bins *b)
{
    snprintf(buf, cap, "set style fill solid 1.0 noborder\nset boxwidth %.17g absolute\nset xrange [0:%.17g]\n",
             b->width, b->upper);
}

/* The test set's bars behind the samples' steps. */
static void draw_density(const multiplot *mp, size_t k, FILE *f)
{
    const dng_panels *d = mp->fig;
    if (d->has_ref) fprintf(f, " using 3:5 with boxes fc rgb '%s' title 'test set', ''", cb_plot_ref_color);
    fprintf(f, " using 3:%zu with histeps lw 2 lc rgb '%s' title 'samples'", 7 + 2 * k, cb_plot_color(k));
}

static const dng_histogram density = {"dng_density",
                                      "density of the valid samples against the test set",
                                      "density (g/cm³)",
                                      "probability density",
                                      0,
                                      density_bins,
                                      density_about,
                                      density_x_axis,
                                      draw_density};

int cb_plot_density(plotter *p, const char *dataset, const panel *pn, size_t np, const series *ref,
                    const cb_run *ref_run)
{
    return plot_histogram(p, &density, dataset, pn, np, ref, ref_run);
}

/* ---- number of elements: the integers 1..K, K the largest value drawn (at most 100) ---- */

static int num_elems_bins(plotter *p, const series *ref, int has_ref, const panel *const *pn, size_t m,
                          plot_bins *b)
{
    double vmax = has_ref ? cb_plot_max_finite(ref) : NAN;
    for (size_t k = 0; k < m; k++) {
        double v = cb_plot_max_finite(&pn[k]->b);
        if (v > vmax || isnan(vmax)) vmax = v;
    }
    long K = isfinite(vmax) ? lround(vmax) : 1;
    if (K < 1) K = 1;
    if (K > MAX_ELEMS) K = MAX_ELEMS;
    return cb_plot_bins_init(b, m + 1, (size_t)K, (double)K, 1, p->err);
}

static void num_elems_about(FILE *f, const plot_bins *b)
{
    (void)b;
    fputs("# fraction = count / n, n = the set's finite values\n"
          "# columns: 1 number of elements, then count and fraction of each set:\n",
          f);
}

static void num_elems_x_axis(char *buf, size_t cap, const plot_bins *b)
{
    snprintf(buf, cap,
             "set style fill solid 0.9 border -1\nset boxwidth 0.4 absolute\nset xrange [0.4:%zu.6]\n"
             "set xtics 1,%d,%zu\n",
             b->n_bins, b->n_bins > 12 ? 2 : 1, b->n_bins);
}

/* The samples' bars beside the test set's. */
static void draw_num_elems(const multiplot *mp, size_t k, FILE *f)
{
    const dng_panels *d = mp->fig;
    fprintf(f, " using ($1-%s):%zu with boxes fc rgb '%s' title 'samples'", d->has_ref ? "0.2" : "0", 5 + 2 * k,
            cb_plot_color(k));
    if (d->has_ref) fprintf(f, ", '' using ($1+0.2):3 with boxes fc rgb '%s' title 'test set'", cb_plot_ref_color);
}

static const dng_histogram num_elems = {"dng_num_elems",
                                        "number of elements of the valid samples against the test set",
                                        "number of elements",
                                        "fraction of structures",
                                        1,
                                        num_elems_bins,
                                        num_elems_about,
                                        num_elems_x_axis,
                                        draw_num_elems};

int cb_plot_num_elems(plotter *p, const char *dataset, const panel *pn, size_t np, const series *ref,
                      const cb_run *ref_run)
{
    return plot_histogram(p, &num_elems, dataset, pn, np, ref, ref_run);
}
