/* Plots rendered from the results store (plot.h): which runs feed which figure.  Per
 * dataset, in name order: the DNG histograms and metrics, then the CSP distances; then
 * the training curves of every run.  Every number drawn is in the figure's data file,
 * so a test (or a reader) can check the histograms without parsing an image.  The
 * files are laid out in plot_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The test set is drawn once, from the first run that stored it with a value: *from
 * is set when r's series `name` is that one (then in *out), else *out stays empty. */
static int load_ref(plotter *p, const cb_run *r, const char *name, series *out, const cb_run **from)
{
    int rc = cb_plot_series_load(p->s, r->id, name, out, p->err);
    if (!rc && out->present && cb_plot_n_finite(out)) {
        *from = r;
    } else {
        free(out->v);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

/* The plots of one dataset: DNG histograms and metrics, CSP distances. */
static int plot_dataset(plotter *p, const cb_run *runs, size_t n_runs, const char *dataset)
{
    panel *pn;
    size_t np;
    int rc = cb_plot_panels_select(runs, n_runs, "dng", dataset, &pn, &np, p->err);
    if (rc) return rc;
    series ref_d = {0}, ref_e = {0};
    const cb_run *ref_d_run = NULL, *ref_e_run = NULL;
    for (size_t i = 0; i < np && !rc; i++) {
        rc = cb_plot_series_load(p->s, pn[i].run->id, "density", &pn[i].a, p->err);
        if (!rc) rc = cb_plot_series_load(p->s, pn[i].run->id, "num_elems", &pn[i].b, p->err);
        if (!rc && !ref_d_run) rc = load_ref(p, pn[i].run, "ref_density", &ref_d, &ref_d_run);
        if (!rc && !ref_e_run) rc = load_ref(p, pn[i].run, "ref_num_elems", &ref_e, &ref_e_run);
    }
    if (!rc) rc = cb_plot_density(p, dataset, pn, np, ref_d_run ? &ref_d : NULL, ref_d_run);
    if (!rc) rc = cb_plot_num_elems(p, dataset, pn, np, ref_e_run ? &ref_e : NULL, ref_e_run);
    if (!rc) rc = cb_plot_dng_metrics(p, dataset, pn, np);
    free(ref_d.v);
    free(ref_e.v);
    cb_plot_panels_free(pn, np);
    if (rc) return rc;

    if ((rc = cb_plot_panels_select(runs, n_runs, "csp", dataset, &pn, &np, p->err))) return rc;
    for (size_t i = 0; i < np && !rc; i++) rc = cb_plot_series_load(p->s, pn[i].run->id, "rms", &pn[i].a, p->err);
    if (!rc) rc = cb_plot_csp_rms(p, dataset, pn, np);
    cb_plot_panels_free(pn, np);
    return rc;
}

int cb_plot_write(cb_store *s, const cb_run *runs, size_t n_runs, const cb_plot_opts *o, cb_plot_set *out,
                  cb_error *err)
{
    memset(out, 0, sizeof *out);
    plotter p = {s, o, out, err};
    /* The datasets, each once, in name order. */
    const char **ds = malloc((n_runs ? n_runs : 1) * sizeof *ds);
    if (!ds) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    size_t nd = 0;
    for (size_t i = 0; i < n_runs; i++)
        if (runs[i].dataset) ds[nd++] = runs[i].dataset;
    qsort(ds, nd, sizeof *ds, cmp_str);
    int rc = CB_OK;
    for (size_t i = 0; i < nd && !rc; i++)
        if (i == 0 || strcmp(ds[i], ds[i - 1]) != 0) rc = plot_dataset(&p, runs, n_runs, ds[i]);
    free(ds);
    for (size_t i = 0; i < n_runs && !rc; i++) rc = cb_plot_train_loss(&p, &runs[i]);
    return rc;
}

void cb_plot_set_free(cb_plot_set *p)
{
    for (size_t i = 0; i < p->n; i++) free(p->names[i]);
    free(p->names);
    p->names = NULL;
    p->n = 0;
}
