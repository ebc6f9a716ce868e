/* What the files of `crystalbench table` share; not a public header (report.h is).
 *
 *   report_collect.c  which runs make the rows (cb_report_collect)
 *   report_layout.c   the runs laid out as format-free tables
 *   report_text.c     text in a format: a growable string, escaping, the pieces of a
 *                     table every format prints the same way (labels, cells, notes)
 *   report_md.c, report_tex.c, report_html.c   a table in that format
 *   report_csv.c      every metric of every run, as stored
 *   report.c          every table of a report (cb_report_write)
 *
 * The runs are first laid out as tables (columns, rows, cells already rounded to the
 * printed precision, best cells flagged, notes), and each format only prints that
 * layout: so md, tex and html always agree on which cell is best. */
#ifndef CRYSTALBENCH_HARNESS_REPORT_INTERNAL_H
#define CRYSTALBENCH_HARNESS_REPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"

/* ---- report_text.c: a growable string, escaping ---- */

/* Text built in memory (a row, a cell, a note), so that nothing is written when it
 * cannot be whole. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int bad; /* out of memory: the text is incomplete */
} sbuf;

void cb_report_sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s to b as text of the format.  Line breaks become spaces: every label and
 * note stays on its line (a table row, a footnote). */
void cb_report_sb_text(sbuf *b, cb_report_format fmt, const char *s);
/* Writes s as an escaped text fragment; -1 when out of memory. */
int cb_report_put_escaped(FILE *f, cb_report_format fmt, const char *s);

/* ---- report_layout.c: the tables ---- */

/* The formats that print a layout (CSV prints the runs). */
enum { F_MD, F_TEX, F_HTML, N_TEXT_FORMATS };

/* A metric column: its header in each format (arrow and unit included), how it is
 * printed and which way is better (+1 higher, -1 lower, 0 not compared). */
typedef struct col_kind {
    const char *metric;
    const char *head[N_TEXT_FORMATS];
    double scale;
    int decimals, dir;
} col_kind;

typedef struct column {
    const col_kind *kind;
    const char *group; /* NULL: none; equal neighbours share one group header */
    size_t slot;       /* which of a row's runs the value comes from */
} column;

typedef struct cell {
    double shown; /* the value as printed (rounded), NaN for a dash */
    char text[40];
    int best;
} cell;

typedef struct row {
    char *label;
    const char *split;
    size_t note;                /* index into the table's notes */
    const cb_report_run **src;  /* n_slots runs, NULL where the row has none */
    int64_t first_id;           /* of the run that opened the row (CSP row order) */
    cell *cells;
} row;

typedef struct table {
    const char *title, *dataset; /* "DNG", "mp_20"; dataset NULL for the CSP table */
    column *cols;
    size_t n_cols, n_slots;
    row *rows;
    size_t n_rows;
    const char **notes;
    size_t n_notes;
    int bad; /* out of memory while building */
} table;

/* The DNG table of a dataset: a row per run.  The CSP table: a row per label and
 * split, a pair of columns per dataset.  t->bad when out of memory; free with
 * cb_report_table_free either way. */
void cb_report_build_dng(const cb_report *r, const char *dataset, table *t);
void cb_report_build_csp(const cb_report *r, table *t);
void cb_report_table_free(table *t);

/* The distinct datasets of the task's runs, sorted (pointers into r); sets *bad when
 * out of memory. */
const char **cb_report_datasets_of(const cb_report *r, const char *task, size_t *n, int *bad);
/* The runs of a task (and dataset, unless NULL), sorted by model, split, dataset, id. */
const cb_report_run **cb_report_runs_of(const cb_report *r, const char *task, const char *dataset, size_t *n,
                                        int *bad);
/* strcmp with NULL as ""; the order of runs_of; strcmp on pointers to strings (qsort). */
int cb_report_cmp_str(const char *a, const char *b);
int cb_report_cmp_run(const void *pa, const void *pb);
int cb_report_cmp_strp(const void *a, const void *b);
/* Whether any column has a group; how many columns from c on share column c's group
 * (1 when it has none). */
int cb_report_has_groups(const table *t);
size_t cb_report_group_span(const table *t, size_t c);

/* ---- report_text.c: the pieces every format prints alike ---- */

/* F_MD, F_TEX, F_HTML → the format's cb_report_format. */
cb_report_format cb_report_format_of(int f);
/* A row's label, escaped, with its note's marker when the table has several notes. */
void cb_report_sb_label(sbuf *b, int f, const table *t, const row *x);
/* A cell: its number (bold when best) or a dash. */
void cb_report_sb_cell(sbuf *b, int f, const cell *x);
/* The notes under a table, one string per line (escaped, markers included): lines
 * has room for t->n_notes + 1; -1 when out of memory.  Free with
 * cb_report_free_lines. */
int cb_report_note_lines(const table *t, int f, sbuf *lines, size_t *n);
void cb_report_free_lines(sbuf *lines, size_t n);
/* The table's title: "<title><sep><dataset>" (the dataset escaped, when there is one);
 * -1 when out of memory. */
int cb_report_put_title(FILE *f, int fm, const table *t, const char *sep);
/* A body row: row_open, the label, label_close, then per cell cell_open, the cell,
 * cell_close; then row_close.  Nothing is written when out of memory (-1). */
typedef struct row_marks {
    const char *row_open, *label_close, *cell_open, *cell_close, *row_close;
} row_marks;
int cb_report_put_row(FILE *f, int fm, const table *t, const row *x, const row_marks *m);
/* The notes: before, then each line between line_open and line_close, then after.
 * Nothing is written when out of memory (-1). */
int cb_report_put_notes(FILE *f, int fm, const table *t, const char *before, const char *line_open,
                        const char *line_close, const char *after);

/* ---- the formats: 0, or -1 when out of memory ---- */

int cb_report_write_md(FILE *f, const table *t);
int cb_report_write_tex(FILE *f, const table *t);
int cb_report_write_html(FILE *f, const table *t);
int cb_report_write_csv(FILE *f, const cb_report *r);

#endif
