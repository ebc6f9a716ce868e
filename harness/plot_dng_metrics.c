/* The headline DNG metrics of a dataset's runs (comp_valid, struct_valid, cov_recall,
 * cov_precision in %): a group of bars per metric, a bar per run, its value over it
 * while the labels fit. */
#include <math.h>
#include <stdlib.h>

#include "plot_internal.h"

static const char *const dng_metrics[] = {"comp_valid", "struct_valid", "cov_recall", "cov_precision"};
static const char *const dng_metric_labels[] = {"validity: composition", "validity: structure",
                                                "coverage recall (COV-R)", "coverage precision (COV-P)"};
#define N_DNG_METRICS (sizeof dng_metrics / sizeof dng_metrics[0])
/* Above this many bars per group the value labels would overlap. */
#define MAX_VALUE_LABELS 6

int cb_plot_dng_metrics(plotter *p, const char *dataset, const panel *pn, size_t np)
{
    double *v = malloc((np ? np : 1) * N_DNG_METRICS * sizeof *v);
    const panel **with = malloc((np ? np : 1) * sizeof *with); /* the runs with any of the metrics */
    int rc = CB_OK;
    if (!v || !with) {
        rc = cb_fail(p->err, CB_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < np; i++) {
        int any = 0;
        for (size_t j = 0; j < N_DNG_METRICS; j++) {
            double x;
            int r = cb_store_get_metric(p->s, pn[i].run->id, dng_metrics[j], &x, p->err);
            if (r && r != CB_ERR_EOF) {
                rc = r;
                goto done;
            }
            v[m * N_DNG_METRICS + j] = r ? NAN : 100 * x;
            any |= !r && isfinite(x);
        }
        if (any) with[m++] = &pn[i];
    }
    if (!m) goto done;

    char name[CB_PLOT_NAME_CAP], dat[CB_PLOT_PATH_CAP];
    cb_atomic_file a;
    if ((rc = cb_plot_open_dataset_data(p, "dng_metrics", dataset, name, dat, &a))) goto done;
    fprintf(a.f, "# %s: headline DNG metrics in %%, dataset %s (NaN = not stored)\n# columns: 1 metric", name,
            dataset);
    for (size_t k = 0; k < m; k++)
        fprintf(a.f, ", %zu %s (run %lld)", k + 2, with[k]->label, (long long)with[k]->run->id);
    fputc('\n', a.f);
    for (size_t j = 0; j < N_DNG_METRICS; j++) {
        fputs(dng_metrics[j], a.f);
        for (size_t k = 0; k < m; k++) {
            double x = v[k * N_DNG_METRICS + j];
            if (isfinite(x))
                fprintf(a.f, " %.10g", x);
            else
                fputs(" NaN", a.f);
        }
        fputc('\n', a.f);
    }
    if ((rc = cb_plot_commit_data(p, name, &a))) goto done;

    plot_script g;
    if ((rc = cb_plot_script_open(&g, p))) goto done;
    double bw = 0.8 / (double)m;
    fputs("set title ", g.f);
    cb_plot_gp_strf(g.f, "headline DNG metrics: %s", dataset);
    fputs(" font ',14'\n"
          "set datafile missing 'NaN'\n"
          "set style fill solid 0.9 border -1\n"
          "set xrange [-0.5:3.5]\n"
          "set yrange [0:108]\n"
          "set ytics 0,20,100 nomirror out\n"
          "set xtics nomirror scale 0\n"
          "set grid ytics\n"
          "set ylabel 'percent of samples / of the test set (%)'\n"
          "set key outside bottom center horizontal box\n"
          "set bmargin 5.5\n",
          g.f);
    fprintf(g.f, "set boxwidth %.6g absolute\nset xtics (", bw);
    for (size_t j = 0; j < N_DNG_METRICS; j++) {
        cb_plot_gp_str(g.f, dng_metric_labels[j]);
        fprintf(g.f, " %zu%s", j, j + 1 < N_DNG_METRICS ? ", " : ")\n");
    }
    fputs("plot ", g.f);
    for (size_t k = 0; k < m; k++) {
        double off = ((double)k - (double)(m - 1) / 2) * bw;
        if (k) fputs(", ", g.f);
        cb_plot_gp_str(g.f, dat);
        fprintf(g.f, " using ($0%+.6g):%zu with boxes fc rgb '%s' title ", off, k + 2, cb_plot_color(k));
        cb_plot_gp_str(g.f, with[k]->label);
        if (m <= MAX_VALUE_LABELS)
            fprintf(g.f, ", '' using ($0%+.6g):%zu:(sprintf('%%.1f', column(%zu))) with labels offset 0,0.7 "
                         "font ',10' notitle",
                    off, k + 2, k + 2);
    }
    fputc('\n', g.f);
    rc = cb_plot_script_commit(&g, p, name);
done:
    free(v);
    free(with);
    return rc;
}
