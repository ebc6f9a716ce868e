/* Comparison tables rendered from the results store (crystalbench table): which runs
 * make the rows, and writing them as Markdown, LaTeX, CSV or HTML.
 *
 * Contract of the rendered tables (md, tex, html):
 *   - DNG: one table per dataset, a row per run labelled by its model; columns
 *     comp_valid, struct_valid, cov_recall, cov_precision (as %, 2 decimals),
 *     wdist_density, wdist_num_elems (3 decimals) and n_generated.
 *   - CSP: one table, a row per model (labelled "model (k=K)" when its runs have
 *     metric k > 1) and split, a pair of columns match_rate (%) / rms_dist per dataset.
 *   - The best value of each metric column is bold: highest for ↑, lowest for ↓,
 *     compared at the printed precision so that cells that read the same are marked
 *     alike.  NaN or a missing metric prints as a dash and is never best.
 *   - Under each table: a line saying how the models were trained (from each run's
 *     split; markers on the labels when a table mixes several) and the run ids.
 * CSV is for machines: every stored metric of every run, at full precision. */
#ifndef CRYSTALBENCH_REPORT_H
#define CRYSTALBENCH_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crystalbench/error.h"
#include "crystalbench/store.h"

typedef enum cb_report_format { CB_REPORT_MD, CB_REPORT_TEX, CB_REPORT_CSV, CB_REPORT_HTML } cb_report_format;

/* "md", "tex", "csv", "html"; returns 0, or -1 for any other name. */
int cb_report_format_from_name(const char *name, cb_report_format *out);

/* Which runs make the rows. */
typedef struct cb_report_query {
    const char *task;          /* "dng", "csp", or NULL for both */
    const char *dataset;       /* NULL: every dataset */
    const int64_t *run_ids;    /* n_run_ids > 0: exactly these runs (duplicates once), */
    size_t n_run_ids;          /* and task/dataset are not consulted */
} cb_report_query;

/* A run and all its metrics (by name). */
typedef struct cb_report_run {
    cb_run run;
    cb_metric *metrics;
    size_t n_metrics;
} cb_report_run;

typedef struct cb_report {
    cb_report_run *runs;
    size_t n;
} cb_report;

/* Without run ids: the latest 'done' run of every (model, dataset, task, split) of
 * task dng or csp matching the query.  With run ids: those runs, each of which must
 * exist, be 'done' and be of task dng or csp (else an error naming the id).  n may be
 * 0.  On error *out is empty. */
int cb_report_collect(cb_store *s, const cb_report_query *q, cb_report *out, cb_error *err);
void cb_report_free(cb_report *r);

/* Writes every table of r to f (DNG tables by dataset name, then CSP).  Returns
 * CB_OK, CB_ERR_NOMEM, or CB_ERR_IO when f reports a write error ("what" names f in
 * the message). */
int cb_report_write(FILE *f, const char *what, const cb_report *r, cb_report_format fmt, cb_error *err);

#endif
