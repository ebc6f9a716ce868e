/* Plots rendered from the results store (crystalbench plot): for every plot NAME, a
 * data file DIR/NAME.dat (the numbers drawn, with a commented header naming the
 * columns) and a gnuplot script DIR/NAME.gp that draws DIR/NAME.png and/or
 * DIR/NAME.svg.  Scripts name every file by its absolute path, so `gnuplot NAME.gp`
 * redraws the plot from any directory; data and scripts are written atomically.
 *
 * The plots (dataset and model names pass through cb_plot_file_name):
 *   dng_density_<dataset>    per DNG run (series `density`) a panel: its histogram
 *                            against the test set's (`ref_density` of the first run
 *                            that has it).  60 bins over [0, U], U the largest 99.5 %
 *                            quantile (numpy's linear interpolation) of the finite
 *                            values of the sets drawn (1 when that is not > 0); a value
 *                            v in [0, U] goes to bin floor(v / (U/60)), U itself to the
 *                            last; pdf = count / (n · width) with n every finite value
 *                            of the set, so sets of different sizes compare.
 *   dng_num_elems_<dataset>  the same for `num_elems` / `ref_num_elems`: counts of each
 *                            integer 1..K (K the largest value, at most 100) and the
 *                            fraction count / n, as side-by-side bars.
 *   dng_metrics_<dataset>    comp_valid, struct_valid, cov_recall, cov_precision in %,
 *                            a group per metric, a bar per DNG run.
 *   csp_rms_<dataset>        per CSP run (series `rms`) a panel: histogram of the
 *                            finite values (NaN = unmatched target, not counted), 50
 *                            bins over [0, U], U the largest finite value rounded up to
 *                            1, 2, 2.5 or 5 × 10^k; titled with the match rate
 *                            (finite values / all values).
 *   train_loss_<model>_<dataset>_<task>[_<split>]
 *                            per run with a training log: one line per logged name
 *                            against the step; log-scale y when every value is > 0.
 * A plot with no data is skipped; a name already used gets "_2", "_3", …
 * Panels are labelled by the run's model, plus its split when not "standard", plus
 * "run ID" when two panels would read the same. */
#ifndef CRYSTALBENCH_HARNESS_PLOT_H
#define CRYSTALBENCH_HARNESS_PLOT_H

#include <stddef.h>
#include <stdio.h>

#include "crystalbench/error.h"
#include "crystalbench/store.h"

enum { CB_PLOT_PNG = 1, CB_PLOT_SVG = 2 };

typedef struct cb_plot_opts {
    const char *dir;       /* absolute path of an existing directory: what scripts name */
    const char *shown_dir; /* the same as the user wrote it, for the listing */
    unsigned formats;      /* CB_PLOT_PNG | CB_PLOT_SVG (at least one) */
    FILE *listing;         /* one line per file written (shown_dir/file); NULL = quiet */
} cb_plot_opts;

/* The plots written: names[i] is NAME (script dir/NAME.gp). */
typedef struct cb_plot_set {
    char **names;
    size_t n;
} cb_plot_set;

/* Writes the data files and scripts of every plot of runs[0..n_runs) (no gnuplot run).
 * On error, what was written stays (each file whole) and *out lists those plots; free
 * it with cb_plot_set_free either way. */
int cb_plot_write(cb_store *s, const cb_run *runs, size_t n_runs, const cb_plot_opts *o, cb_plot_set *out,
                  cb_error *err);
void cb_plot_set_free(cb_plot_set *p);

/* "a-z A-Z 0-9 . _ -" kept, anything else (such as '/') → '_'; "" → "unnamed". */
void cb_plot_file_name(const char *s, char *out, size_t cap);

/* gnuplot's executable: $CB_GNUPLOT when set and not empty (a path, or a name looked
 * up on PATH), else "gnuplot" on PATH.  Returns 0 with the path in buf, or -1 when no
 * such executable file exists. */
int cb_plot_find_gnuplot(char *buf, size_t cap);

/* Runs `gnuplot script` (stdin /dev/null, stdout and stderr shared, so gnuplot's
 * messages reach the user) and waits.  CB_ERR_EXTERNAL naming the script when it
 * cannot start, exits non-zero or dies. */
int cb_plot_run_gnuplot(const char *gnuplot, const char *script, cb_error *err);

#endif
