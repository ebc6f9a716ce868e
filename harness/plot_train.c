/* The training figure of a run: one curve per logged name (loss, val_loss, …) against
 * the step, on a log scale when every value is > 0.  Runs whose log holds a single
 * step get no figure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

int cb_plot_train_loss(plotter *p, const cb_run *r)
{
    cb_train_point *pt;
    size_t n;
    int rc = cb_store_get_train_log(p->s, r->id, NULL, &pt, &n, p->err);
    if (rc == CB_ERR_EOF) return CB_OK;
    if (rc) return rc;
    /* Points come ordered by name, then step: a run of equal names is one curve.
     * Non-finite values are left out; a name with none left is not drawn. */
    int all_positive = 1;
    size_t n_curves = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(pt[i].value)) continue;
        all_positive &= pt[i].value > 0;
        size_t j = i;
        while (j > 0 && strcmp(pt[j - 1].name, pt[i].name) == 0 && !isfinite(pt[j - 1].value)) j--;
        if (j == 0 || strcmp(pt[j - 1].name, pt[i].name) != 0) n_curves++;
    }
    /* A log with no step but one (a baseline fitted in one pass) is not a curve. */
    int several_steps = 0;
    for (size_t i = 1; i < n && !several_steps; i++) several_steps = pt[i].step != pt[0].step;
    if (!n_curves || !several_steps) {
        cb_train_points_free(pt, n);
        return CB_OK;
    }
    char model[96], dataset[160], task[64], split[96], base[CB_PLOT_NAME_CAP], name[CB_PLOT_NAME_CAP],
        dat[CB_PLOT_PATH_CAP];
    cb_plot_file_name(r->model, model, sizeof model);
    cb_plot_file_name(r->dataset, dataset, sizeof dataset);
    cb_plot_file_name(r->task, task, sizeof task);
    int std_split = !r->split || strcmp(r->split, "standard") == 0;
    cb_plot_file_name(std_split ? "" : r->split, split, sizeof split);
    snprintf(base, sizeof base, "train_loss_%s_%s_%s%s%s", model, dataset, task, std_split ? "" : "_",
             std_split ? "" : split);
    cb_atomic_file a;
    if ((rc = cb_plot_open_data(p, base, name, dat, &a))) goto done;
    fprintf(a.f,
            "# %s: training log of run %lld (%s, %s, %s)\n"
            "# one block per logged name (gnuplot index 0, 1, …): step value\n",
            name, (long long)r->id, r->model, r->dataset, r->task);
    /* names[c], points[c]: what the script needs per curve. */
    const char **names = malloc(n_curves * sizeof *names);
    size_t *points = calloc(n_curves, sizeof *points);
    if (!names || !points) {
        free(names);
        free(points);
        cb_atomic_abort(&a);
        rc = cb_fail(p->err, CB_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t c = 0;
    const char *cur = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(pt[i].value)) continue;
        if (!cur || strcmp(cur, pt[i].name) != 0) {
            fprintf(a.f, "%s# %s\n", cur ? "\n\n" : "", pt[i].name);
            cur = names[c++] = pt[i].name;
        }
        points[c - 1]++;
        fprintf(a.f, "%lld %.10g\n", (long long)pt[i].step, pt[i].value);
    }
    rc = cb_plot_commit_data(p, name, &a);

    plot_script g;
    if (!rc && !(rc = cb_plot_script_open(&g, p))) {
        fputs("set title ", g.f);
        cb_plot_gp_strf(g.f, "training log: %s on %s (%s, run %lld)", r->model, r->dataset, r->task,
                        (long long)r->id);
        fprintf(g.f,
                " font ',14'\n"
                "set xlabel 'step'\n"
                "set ylabel '%s'\n"
                "%s"
                "set key top right opaque box\n"
                "set grid\n"
                "set tics out nomirror\n"
                "plot ",
                all_positive ? "loss (log scale)" : "loss", all_positive ? "set logscale y\n" : "");
        for (size_t k = 0; k < n_curves; k++) {
            if (k) fputs(", ", g.f);
            cb_plot_gp_str(g.f, dat);
            fprintf(g.f, " index %zu using 1:2 with %s lc rgb '%s' title ", k,
                    points[k] > 1 ? "lines lw 2" : "points pt 7 ps 1.5", cb_plot_color(k));
            cb_plot_gp_str(g.f, names[k]);
        }
        fputc('\n', g.f);
        rc = cb_plot_script_commit(&g, p, name);
    }
    free(names);
    free(points);
done:
    cb_train_points_free(pt, n);
    return rc;
}
