/* crystalbench plot: the plots of harness/plot.h for the runs of a results store — by
 * default the latest finished run of every (model, dataset, task, split), or the runs
 * named with --run — drawn by gnuplot.  The data files and scripts are written before
 * gnuplot is looked for, so a machine without it still gets them. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "plot.h"

const char cb_usage_plot[] =
    "usage: crystalbench plot [--db FILE] [--out DIR] [--format png|svg|both] [--run ID]...\n"
    "                         [--dataset NAME]\n"
    "\n"
    "Plots of the runs in the results store, drawn by gnuplot.  Per dataset: the density\n"
    "and number-of-elements histograms of each model's DNG samples against the test set\n"
    "(dng_density_*, dng_num_elems_*), the headline DNG metrics of every model\n"
    "(dng_metrics_*), the RMS distances of each model's matched CSP targets (csp_rms_*);\n"
    "per run with a training log, its loss curves (train_loss_*).  Each plot NAME is\n"
    "DIR/NAME.dat (the numbers), DIR/NAME.gp (the gnuplot script, runnable again from\n"
    "any directory) and DIR/NAME.png / DIR/NAME.svg; every file written is listed.\n"
    "\n"
    "  --db FILE         results store (default: $CB_DB, else crystalbench.db)\n"
    "  --out DIR         output folder, created if needed (default results/plots)\n"
    "  --format F        png, svg or both (default both)\n"
    "  --run ID          plot this run (repeatable, any status); default: the latest\n"
    "                    'done' run of every model, dataset, task and split\n"
    "  --dataset NAME    only the runs of this dataset (e.g. mp_20)\n"
    "\n"
    "gnuplot is $CB_GNUPLOT when set, else the first gnuplot on PATH.\n"
    "Exit status: 0 done, 1 unreadable store, nothing to plot, gnuplot missing or\n"
    "failing, 2 usage.\n";

typedef struct plot_args {
    const char *db, *out, *dataset;
    unsigned formats;
    int64_t *ids;
    size_t n_ids;
} plot_args;

static int parse_args(int argc, char **argv, plot_args *a)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"out", required_argument, 0, 'o'},
                                         {"format", required_argument, 0, 'f'},
                                         {"run", required_argument, 0, 'r'},
                                         {"dataset", required_argument, 0, 'D'},
                                         {0, 0, 0, 0}};
    a->out = "results/plots";
    a->formats = CB_PLOT_PNG | CB_PLOT_SVG;
    int ch, st;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': a->db = optarg; break;
        case 'D': a->dataset = optarg; break;
        case 'o':
            if (!optarg[0]) return cb_usage_error(cb_usage_plot, "--out needs a folder");
            a->out = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "png") == 0) a->formats = CB_PLOT_PNG;
            else if (strcmp(optarg, "svg") == 0) a->formats = CB_PLOT_SVG;
            else if (strcmp(optarg, "both") == 0) a->formats = CB_PLOT_PNG | CB_PLOT_SVG;
            else return cb_usage_error(cb_usage_plot, "unknown format '%s' (png, svg, both)", optarg);
            break;
        case 'r':
            if ((st = cb_cli_run_id(cb_usage_plot, optarg, &a->ids, &a->n_ids))) return st;
            break;
        default: return cb_cli_bad_option(cb_usage_plot, ch, argv);
        }
    }
    return cb_cli_after_options(cb_usage_plot, argc, argv, a->db, 0);
}

/* mkdir -p. */
static int make_dirs(const char *path, cb_error *err)
{
    char buf[PATH_MAX];
    if ((size_t)snprintf(buf, sizeof buf, "%s", path) >= sizeof buf)
        return cb_fail(err, CB_ERR_IO, "%s: path too long", path);
    for (char *c = buf + 1;; c++) {
        if (*c != '/' && *c != '\0') continue;
        char saved = *c;
        *c = '\0';
        struct stat sb;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return cb_fail(err, CB_ERR_IO, "%s: cannot create the folder: %s", buf, strerror(errno));
        if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return cb_fail(err, CB_ERR_IO, "%s: not a folder", buf);
        *c = saved;
        if (!saved) return CB_OK;
    }
}

/* The runs to plot (see the usage text), --dataset applied. */
static int select_runs(cb_store *s, const plot_args *a, cb_run **out, size_t *n, cb_error *err)
{
    *out = NULL;
    *n = 0;
    if (!a->n_ids) {
        cb_run_filter f = {.dataset = a->dataset};
        return cb_store_latest_runs(s, &f, out, n, err);
    }
    cb_run *runs = calloc(a->n_ids, sizeof *runs);
    if (!runs) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < a->n_ids; i++) {
        int dup = 0;
        for (size_t j = 0; j < i; j++) dup |= a->ids[j] == a->ids[i];
        if (dup) continue;
        int rc = cb_store_get_run(s, a->ids[i], &runs[k], err);
        if (rc == CB_ERR_EOF) rc = cb_fail(err, CB_ERR_USAGE, "%s: no run %lld", cb_store_path(s), (long long)a->ids[i]);
        if (rc) {
            cb_runs_free(runs, k);
            return rc;
        }
        if (a->dataset && (!runs[k].dataset || strcmp(runs[k].dataset, a->dataset) != 0))
            cb_run_free(&runs[k]);
        else
            k++;
    }
    *out = runs;
    *n = k;
    return CB_OK;
}

/* Draws every script, listing the images; a failure is reported and the rest still drawn. */
static int draw(const char *gnuplot, const plot_args *a, const char *dir, const cb_plot_set *set)
{
    int status = CB_EXIT_OK;
    for (size_t i = 0; i < set->n; i++) {
        char script[PATH_MAX + 600];
        snprintf(script, sizeof script, "%s/%s.gp", dir, set->names[i]);
        cb_error err;
        if (cb_plot_run_gnuplot(gnuplot, script, &err)) {
            fprintf(stderr, "crystalbench: %s\n", err.msg);
            status = CB_EXIT_FAIL;
            continue;
        }
        if (a->formats & CB_PLOT_PNG) printf("%s/%s.png\n", a->out, set->names[i]);
        if (a->formats & CB_PLOT_SVG) printf("%s/%s.svg\n", a->out, set->names[i]);
    }
    return status;
}

static int plot(const plot_args *a)
{
    const char *db = a->db;
    if (!db) db = getenv("CB_DB");
    if (!db || !db[0]) db = "crystalbench.db";
    cb_error err;
    cb_store *s = NULL;
    cb_run *runs = NULL;
    size_t n = 0;
    cb_plot_set set = {0};
    char dir[PATH_MAX];
    int status = CB_EXIT_FAIL;
    if (cb_store_open_existing(db, &s, &err) || select_runs(s, a, &runs, &n, &err)) goto fail;
    if (n == 0) {
        fprintf(stderr, "crystalbench: %s: no %sruns%s%s to plot\n", db, a->n_ids ? "" : "finished ",
                a->dataset ? " of dataset " : "", a->dataset ? a->dataset : "");
        goto done;
    }
    if (make_dirs(a->out, &err)) goto fail;
    if (!realpath(a->out, dir)) {
        fprintf(stderr, "crystalbench: %s: cannot resolve the folder: %s\n", a->out, strerror(errno));
        goto done;
    }
    cb_plot_opts o = {.dir = dir, .shown_dir = a->out, .formats = a->formats, .listing = stdout};
    if (cb_plot_write(s, runs, n, &o, &set, &err)) goto fail;
    if (set.n == 0) {
        fprintf(stderr, "crystalbench: %s: nothing to plot (the runs have no DNG or CSP series and no training log)\n",
                db);
        goto done;
    }
    char gnuplot[PATH_MAX];
    if (cb_plot_find_gnuplot(gnuplot, sizeof gnuplot)) {
        fprintf(stderr, "crystalbench: gnuplot not found (apt-get install gnuplot-nox); data and scripts written to %s\n",
                a->out);
        goto done;
    }
    status = draw(gnuplot, a, dir, &set);
    goto done;
fail:
    fprintf(stderr, "crystalbench: %s\n", err.msg);
done:
    cb_plot_set_free(&set);
    cb_runs_free(runs, n);
    cb_store_close(s);
    return status;
}

int cb_cmd_plot(int argc, char **argv)
{
    plot_args a = {0};
    int st = parse_args(argc, argv, &a);
    if (st == CB_EXIT_OK) st = plot(&a);
    free(a.ids);
    return st;
}
