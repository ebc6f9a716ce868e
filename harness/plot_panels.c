/* Panels: one run each.  Which runs of a dataset make the panels of a figure, how a
 * panel is labelled, and the multiplot that draws the panels side by side (the
 * histograms of DNG and CSP runs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

void cb_plot_panels_free(panel *pn, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(pn[i].a.v);
        free(pn[i].b.v);
    }
    free(pn);
}

/* model [split] — and "run ID" where two panels would otherwise read the same. */
static void label_panels(panel *pn, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cb_run *r = pn[i].run;
        if (r->split && strcmp(r->split, "standard") != 0)
            snprintf(pn[i].label, sizeof pn[i].label, "%.80s [%.80s]", r->model, r->split);
        else
            snprintf(pn[i].label, sizeof pn[i].label, "%.160s", r->model);
    }
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < n && !dup; j++)
            dup = j != i && strcmp(pn[i].label, pn[j].label) == 0 && pn[i].run->id != pn[j].run->id;
        if (dup) {
            size_t len = strlen(pn[i].label);
            snprintf(pn[i].label + len, sizeof pn[i].label - len, " run %lld", (long long)pn[i].run->id);
        }
    }
}

int cb_plot_panels_select(const cb_run *runs, size_t n, const char *task, const char *dataset, panel **out,
                          size_t *n_out, cb_error *err)
{
    *out = NULL;
    *n_out = 0;
    panel *pn = calloc(n ? n : 1, sizeof *pn);
    if (!pn) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (runs[i].task && runs[i].dataset && strcmp(runs[i].task, task) == 0 &&
            strcmp(runs[i].dataset, dataset) == 0)
            pn[k++].run = &runs[i];
    label_panels(pn, k);
    *out = pn;
    *n_out = k;
    return CB_OK;
}

const panel **cb_plot_panels_with(const panel *pn, size_t n, int which_b, size_t *m, cb_error *err)
{
    *m = 0;
    const panel **with = malloc((n ? n : 1) * sizeof *with);
    if (!with) {
        cb_fail(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (which_b ? pn[i].b.present : pn[i].a.present) with[(*m)++] = &pn[i];
    return with;
}

/* ---- the multiplot ---- */

/* rows × cols for n panels on a 3:2 canvas: columns first. */
static void layout(size_t n, size_t *rows, size_t *cols)
{
    size_t c = (size_t)ceil(sqrt(1.5 * (double)n));
    if (c < 1) c = 1;
    if (c > n) c = n;
    *cols = c;
    *rows = (n + c - 1) / c;
}

/* The y range's top as a multiple of the highest bar, so that the two-line key in the
 * top right corner sits above the data in panels of any height (a key outside the
 * panels collides with the multiplot title or the x label). */
static double headroom(size_t rows)
{
    double plot_h = 760.0 / (double)rows - 80; /* pixels inside the axes, about */
    return plot_h > 100 ? 1.05 / (1 - 50 / plot_h) : 2.0;
}

/* A panel's title on two lines (the label, then the numbers), so that long model
 * labels in side-by-side panels do not run into each other: gnuplot's string
 * concatenation with a double-quoted newline between two single-quoted (unescaped)
 * strings. */
static void panel_title(FILE *f, const char *label, const char *numbers)
{
    fputs("set title ", f);
    cb_plot_gp_str(f, label);
    fputs(".\"\\n\".", f);
    cb_plot_gp_str(f, numbers);
}

int cb_plot_multiplot(plotter *p, const char *name, const char *dat, const multiplot *mp)
{
    plot_script g;
    int rc = cb_plot_script_open(&g, p);
    if (rc) return rc;
    size_t rows, cols;
    layout(mp->m, &rows, &cols);
    /* Without a key, 8 % over the highest bar, rounded up (the bars are counts). */
    double ytop = !(mp->ymax > 0) ? 1.0 : mp->key ? headroom(rows) * mp->ymax : ceil(1.08 * mp->ymax);
    fprintf(g.f, "set multiplot layout %zu,%zu title ", rows, cols);
    cb_plot_gp_strf(g.f, "%s: %s", mp->title, mp->dataset);
    fprintf(g.f, " font ',14'\n%sset yrange [0:%.6g]\nset xlabel ", mp->x_axis, ytop);
    cb_plot_gp_str(g.f, mp->xlabel);
    fputs("\nset ylabel ", g.f);
    cb_plot_gp_str(g.f, mp->ylabel);
    fprintf(g.f, "\n%sset tics out nomirror\n", mp->key ? "set key top right opaque\n" : "unset key\n");
    for (size_t k = 0; k < mp->m; k++) {
        char numbers[256];
        mp->numbers(mp, k, numbers, sizeof numbers);
        panel_title(g.f, mp->panels[k]->label, numbers);
        fputs("\nplot ", g.f);
        cb_plot_gp_str(g.f, dat);
        mp->draw(mp, k, g.f);
        fputc('\n', g.f);
    }
    fputs("unset multiplot\n", g.f);
    return cb_plot_script_commit(&g, p, name);
}
