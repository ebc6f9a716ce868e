/* What the files of `crystalbench plot` share; not a public header (plot.h is).
 *
 *   plot.c              which runs feed which figure (cb_plot_write)
 *   plot_files.c        a figure's files: NAME.dat and NAME.gp, gnuplot strings
 *   plot_bins.c         series and histogram binning
 *   plot_panels.c       a panel per run: selecting and labelling them, the multiplot
 *   plot_dng.c          dng_density_*, dng_num_elems_*
 *   plot_dng_metrics.c  dng_metrics_*
 *   plot_csp.c          csp_rms_*
 *   plot_train.c        train_loss_*
 *   plot_gnuplot.c      finding and running gnuplot */
#ifndef CRYSTALBENCH_HARNESS_PLOT_INTERNAL_H
#define CRYSTALBENCH_HARNESS_PLOT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crystalbench/atomic_file.h"
#include "plot.h"

#define CB_PLOT_NAME_CAP 512
#define CB_PLOT_PATH_CAP (4096 + CB_PLOT_NAME_CAP + 8)

/* What every figure writes through: the store read, where the files go, the plots
 * written so far (names must stay unique) and where errors go. */
typedef struct plotter {
    cb_store *s;
    const cb_plot_opts *o;
    cb_plot_set *set;
    cb_error *err;
} plotter;

/* ---- plot_files.c: the files of a figure ---- */

/* Backend i's colour (tab10, distinguishable and print-safe); the test set is grey. */
const char *cb_plot_color(size_t i);
extern const char cb_plot_ref_color[];

/* Creates NAME.dat for a figure of base name `base`: NAME is base, or base_2, base_3, …
 * when a plot of that name was already written; dat gets the file's absolute path
 * (what the script reads).  On error nothing is open. */
int cb_plot_open_data(plotter *p, const char *base, char name[CB_PLOT_NAME_CAP], char dat[CB_PLOT_PATH_CAP],
                      cb_atomic_file *a);
/* The same for the figures of a dataset: base "<kind>_<dataset as a file name>". */
int cb_plot_open_dataset_data(plotter *p, const char *kind, const char *dataset, char name[CB_PLOT_NAME_CAP],
                              char dat[CB_PLOT_PATH_CAP], cb_atomic_file *a);
/* Commits NAME.dat and lists it. */
int cb_plot_commit_data(plotter *p, const char *name, cb_atomic_file *a);

/* A gnuplot single-quoted string (a quote inside is doubled); the printf form is cut
 * at 1023 bytes. */
void cb_plot_gp_str(FILE *f, const char *s);
void cb_plot_gp_strf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A script body, built in memory since NAME.gp holds it once per format.  It starts
 * with `reset`; cb_plot_script_commit writes NAME.gp (terminal and output around the
 * body for each format), adds NAME to the set and frees the body either way. */
typedef struct plot_script {
    char *text;
    size_t len;
    FILE *f; /* write the body here */
} plot_script;
int cb_plot_script_open(plot_script *g, const plotter *p);
int cb_plot_script_commit(plot_script *g, plotter *p, const char *name);

/* ---- plot_bins.c: series and binning ---- */

/* A run's stored series. */
typedef struct series {
    double *v;
    size_t n;
    int present; /* the run has this series (perhaps empty) */
} series;

/* An absent series is present = 0, not an error. */
int cb_plot_series_load(cb_store *s, int64_t run_id, const char *name, series *out, cb_error *err);
size_t cb_plot_n_finite(const series *s);
/* The largest finite value; NaN when there is none. */
double cb_plot_max_finite(const series *s);
/* numpy.quantile (linear interpolation) of the finite values; NaN when there are none. */
int cb_plot_quantile(const series *s, double q, double *out, cb_error *err);
/* x > 0 rounded up to 1, 2, 2.5 or 5 × 10^k: axis ends a reader can read. */
double cb_plot_nice_ceil(double x);

/* Histograms of several sets over the same bins: what a histogram figure's data file
 * holds, a row per bin.  Bins are either n_bins of equal width over [0, upper] (a
 * value v goes to bin floor(v / width), upper itself to the last) or the integers
 * 1..n_bins (width 1).  A set's n counts all its finite values, also those outside
 * the bins: fractions divide by it, so sets of different sizes compare. */
typedef struct plot_bins {
    size_t n_sets, n_bins;
    double upper, width;
    int integers;
    size_t *count; /* count[set * n_bins + bin] */
    size_t *n;     /* n[set] */
} plot_bins;

int cb_plot_bins_init(plot_bins *b, size_t n_sets, size_t n_bins, double upper, int integers, cb_error *err);
void cb_plot_bins_free(plot_bins *b);
/* Bins the finite values of s into `set`. */
void cb_plot_bins_add(plot_bins *b, size_t set, const series *s);
/* The highest count / (n · width) of any set with values, 0 when none. */
double cb_plot_bins_max_density(const plot_bins *b);
size_t cb_plot_bins_max_count(const plot_bins *b);
/* The rows: the bin (lo hi mid, or the integer), then per set its count and, with
 * `densities`, count / (n · width). */
void cb_plot_bins_write(FILE *f, const plot_bins *b, int densities);

/* ---- plot_panels.c: a panel per run ---- */

typedef struct panel {
    const cb_run *run;
    char label[192]; /* model [split], plus "run ID" where two panels would read the same */
    series a, b;     /* DNG: density, num_elems; CSP: rms */
} panel;

/* The runs of a task and dataset, in the given order, as labelled panels (series not
 * loaded).  Free with cb_plot_panels_free. */
int cb_plot_panels_select(const cb_run *runs, size_t n, const char *task, const char *dataset, panel **out,
                          size_t *n_out, cb_error *err);
void cb_plot_panels_free(panel *pn, size_t n);
/* The panels whose series a (or b, with which_b) is present: NULL only when out of
 * memory (free it); *m may be 0. */
const panel **cb_plot_panels_with(const panel *pn, size_t n, int which_b, size_t *m, cb_error *err);

/* A figure of one panel per run, every panel drawn from the figure's data file (the
 * histograms).  The panels are laid out on a 3:2 canvas under the title; each is
 * titled with its label over the numbers of its run. */
typedef struct multiplot {
    const char *title, *dataset; /* the figure's title is "<title>: <dataset>" */
    const char *x_axis;          /* `set` lines: fill style, box width, x range and tics */
    const char *xlabel, *ylabel;
    double ymax;                 /* the highest bar drawn (0: nothing drawn) */
    int key;                     /* the panels have a key in their top right corner, and
                                  * the y range makes room for it over the bars; without
                                  * one it ends 8 % over ymax, rounded up (counts) */
    const panel *const *panels;
    size_t m;
    /* Panel k: the second line of its title, and what `plot '<data file>'` draws. */
    void (*numbers)(const struct multiplot *mp, size_t k, char *buf, size_t cap);
    void (*draw)(const struct multiplot *mp, size_t k, FILE *f);
    const void *fig; /* for those two */
} multiplot;

/* Writes NAME.gp drawing mp from the data file dat. */
int cb_plot_multiplot(plotter *p, const char *name, const char *dat, const multiplot *mp);

/* ---- the figures ---- */

/* ref: the test set's series and the run it is from (NULL when no run has it). */
int cb_plot_density(plotter *p, const char *dataset, const panel *pn, size_t np, const series *ref,
                    const cb_run *ref_run);
int cb_plot_num_elems(plotter *p, const char *dataset, const panel *pn, size_t np, const series *ref,
                      const cb_run *ref_run);
int cb_plot_dng_metrics(plotter *p, const char *dataset, const panel *pn, size_t np);
int cb_plot_csp_rms(plotter *p, const char *dataset, const panel *pn, size_t np);
int cb_plot_train_loss(plotter *p, const cb_run *r);

#endif
