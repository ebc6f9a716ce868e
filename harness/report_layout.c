/* The runs of a report laid out as format-free tables: which columns, which rows,
 * each cell rounded to its printed precision with the best of each column flagged,
 * and the notes on how the models were trained (report.h has the contract). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

/* ---- the columns ---- */

static const col_kind k_comp = {"comp_valid", {"Comp. ↑ (%)", "Comp. $\\uparrow$ (\\%)", "Comp. &uarr; (%)"}, 100, 2, 1};
static const col_kind k_struct = {
    "struct_valid", {"Struct. ↑ (%)", "Struct. $\\uparrow$ (\\%)", "Struct. &uarr; (%)"}, 100, 2, 1};
static const col_kind k_covr = {"cov_recall", {"COV-R ↑ (%)", "COV-R $\\uparrow$ (\\%)", "COV-R &uarr; (%)"}, 100, 2, 1};
static const col_kind k_covp = {
    "cov_precision", {"COV-P ↑ (%)", "COV-P $\\uparrow$ (\\%)", "COV-P &uarr; (%)"}, 100, 2, 1};
static const col_kind k_wdens = {"wdist_density",
                                 {"Density W₁ ↓ (g/cm³)", "Density $W_1$ $\\downarrow$ (g/cm$^3$)",
                                  "Density W<sub>1</sub> &darr; (g/cm<sup>3</sup>)"},
                                 1, 3, -1};
static const col_kind k_welem = {
    "wdist_num_elems", {"#Elements W₁ ↓", "\\#Elements $W_1$ $\\downarrow$", "#Elements W<sub>1</sub> &darr;"}, 1, 3, -1};
static const col_kind k_n = {"n_generated", {"N", "$N$", "N"}, 1, 0, 0};
static const col_kind k_match = {
    "match_rate", {"Match rate ↑ (%)", "Match rate $\\uparrow$ (\\%)", "Match rate &uarr; (%)"}, 100, 2, 1};
static const col_kind k_rmse = {"rms_dist", {"RMSE ↓", "RMSE $\\downarrow$", "RMSE &darr;"}, 1, 4, -1};

static const struct {
    const col_kind *kind;
    const char *group;
} dng_cols[] = {{&k_comp, "Validity"},           {&k_struct, "Validity"},
                {&k_covr, "Coverage"},           {&k_covp, "Coverage"},
                {&k_wdens, "Property distribution"}, {&k_welem, "Property distribution"},
                {&k_n, NULL}};

/* ---- building a table ---- */

static double metric_of(const cb_report_run *r, const char *name)
{
    for (size_t i = 0; r && i < r->n_metrics; i++)
        if (strcmp(r->metrics[i].name, name) == 0) return r->metrics[i].value;
    return NAN;
}

/* How the model behind a row was trained, from its split (data/README.md). */
static const char *split_note(const cb_run *run)
{
    const char *split = run->split ? run->split : "standard";
    if (!strcmp(run->model, "external") || !strcmp(split, "n/a") || !strcmp(split, "external"))
        return "Samples written by another program, scored as given.";
    if (!strcmp(split, "standard")) return "Trained on the dataset's standard training split.";
    if (!strcmp(split, "val-minus-10%"))
        return "Trained on the published validation split minus a seeded 10% hold-out, which validates "
               "(the train split's atomic positions are not public); "
               "evaluated on the published test split.";
    return split;
}

void cb_report_table_free(table *t)
{
    for (size_t i = 0; i < t->n_rows; i++) {
        free(t->rows[i].label);
        free(t->rows[i].src);
        free(t->rows[i].cells);
    }
    free(t->rows);
    free(t->cols);
    free(t->notes);
    memset(t, 0, sizeof *t);
}

/* Appends a row labelled label for runs of split, with empty slots; NULL when out of
 * memory (t->bad set). */
static row *add_row(table *t, const char *label, const char *split)
{
    row *rows = realloc(t->rows, (t->n_rows + 1) * sizeof *rows);
    if (!rows) {
        t->bad = 1;
        return NULL;
    }
    t->rows = rows;
    row *r = &rows[t->n_rows];
    memset(r, 0, sizeof *r);
    r->label = strdup(label);
    r->split = split;
    r->src = calloc(t->n_slots, sizeof *r->src);
    r->cells = calloc(t->n_cols ? t->n_cols : 1, sizeof *r->cells);
    t->n_rows++;
    if (!r->label || !r->src || !r->cells) t->bad = 1;
    return t->bad ? NULL : r;
}

/* Rounds every cell to its printed precision, marks the best of each compared column,
 * and numbers the notes in row order. */
static void finish_table(table *t)
{
    if (t->bad) return;
    for (size_t c = 0; c < t->n_cols; c++) {
        const col_kind *k = t->cols[c].kind;
        double best = NAN;
        for (size_t i = 0; i < t->n_rows; i++) {
            cell *x = &t->rows[i].cells[c];
            double v = metric_of(t->rows[i].src[t->cols[c].slot], k->metric);
            x->shown = NAN;
            x->text[0] = '\0';
            if (!isfinite(v)) continue;
            /* A value too large for fixed notation (never a real metric, but the store
             * holds whatever was put) is printed in exponent notation. */
            if (snprintf(x->text, sizeof x->text, "%.*f", k->decimals, v * k->scale) >= (int)sizeof x->text)
                snprintf(x->text, sizeof x->text, "%.*e", k->decimals, v * k->scale);
            x->shown = strtod(x->text, NULL);
            if (k->dir && (isnan(best) || (k->dir > 0 ? x->shown > best : x->shown < best))) best = x->shown;
        }
        for (size_t i = 0; i < t->n_rows && k->dir; i++)
            t->rows[i].cells[c].best = !isnan(best) && t->rows[i].cells[c].shown == best;
    }
    t->notes = malloc((t->n_rows ? t->n_rows : 1) * sizeof *t->notes);
    if (!t->notes) {
        t->bad = 1;
        return;
    }
    for (size_t i = 0; i < t->n_rows; i++) {
        const cb_report_run *any = NULL;
        for (size_t s = 0; s < t->n_slots && !any; s++) any = t->rows[i].src[s];
        const char *note = split_note(&any->run);
        size_t j = 0;
        while (j < t->n_notes && strcmp(t->notes[j], note) != 0) j++;
        if (j == t->n_notes) t->notes[t->n_notes++] = note;
        t->rows[i].note = j;
    }
}

int cb_report_cmp_str(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : ""); }

/* Order of runs within a table: model, split, dataset, id. */
int cb_report_cmp_run(const void *pa, const void *pb)
{
    const cb_report_run *a = *(const cb_report_run *const *)pa, *b = *(const cb_report_run *const *)pb;
    int c = cb_report_cmp_str(a->run.model, b->run.model);
    if (!c) c = cb_report_cmp_str(a->run.split, b->run.split);
    if (!c) c = cb_report_cmp_str(a->run.dataset, b->run.dataset);
    if (!c) c = (a->run.id > b->run.id) - (a->run.id < b->run.id);
    return c;
}

int cb_report_cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* *n = 0 when none. */
const cb_report_run **cb_report_runs_of(const cb_report *r, const char *task, const char *dataset, size_t *n,
                                        int *bad)
{
    *n = 0;
    const cb_report_run **v = malloc((r->n ? r->n : 1) * sizeof *v);
    if (!v) {
        *bad = 1;
        return NULL;
    }
    for (size_t i = 0; i < r->n; i++)
        if (!cb_report_cmp_str(r->runs[i].run.task, task) &&
            (!dataset || !cb_report_cmp_str(r->runs[i].run.dataset, dataset)))
            v[(*n)++] = &r->runs[i];
    qsort(v, *n, sizeof *v, cb_report_cmp_run);
    return v;
}

const char **cb_report_datasets_of(const cb_report *r, const char *task, size_t *n, int *bad)
{
    *n = 0;
    const char **v = malloc((r->n ? r->n : 1) * sizeof *v);
    if (!v) {
        *bad = 1;
        return NULL;
    }
    for (size_t i = 0; i < r->n; i++)
        if (!cb_report_cmp_str(r->runs[i].run.task, task))
            v[(*n)++] = r->runs[i].run.dataset ? r->runs[i].run.dataset : "";
    qsort(v, *n, sizeof *v, cb_report_cmp_strp);
    size_t m = 0;
    for (size_t i = 0; i < *n; i++)
        if (m == 0 || strcmp(v[m - 1], v[i]) != 0) v[m++] = v[i];
    *n = m;
    return v;
}

void cb_report_build_dng(const cb_report *r, const char *dataset, table *t)
{
    memset(t, 0, sizeof *t);
    t->title = "DNG";
    t->dataset = dataset;
    t->n_slots = 1;
    t->n_cols = sizeof dng_cols / sizeof dng_cols[0];
    t->cols = malloc(t->n_cols * sizeof *t->cols);
    size_t n;
    const cb_report_run **runs = cb_report_runs_of(r, "dng", dataset, &n, &t->bad);
    if (!t->cols) t->bad = 1;
    for (size_t c = 0; !t->bad && c < t->n_cols; c++) t->cols[c] = (column){dng_cols[c].kind, dng_cols[c].group, 0};
    for (size_t i = 0; i < n && !t->bad; i++) {
        row *x = add_row(t, runs[i]->run.model, runs[i]->run.split);
        if (x) x->src[0] = runs[i];
    }
    free(runs);
    finish_table(t);
}

/* Order of CSP rows: label, split, then the first run placed in it (rows of one label
 * and split hold disjoint runs). */
static int cmp_row(const void *pa, const void *pb)
{
    const row *a = pa, *b = pb;
    int c = strcmp(a->label, b->label);
    if (!c) c = cb_report_cmp_str(a->split, b->split);
    if (!c) c = (a->first_id > b->first_id) - (a->first_id < b->first_id);
    return c;
}

/* "model", or "model (k=K)" for runs that scored K predictions per target. */
static char *csp_label(const cb_report_run *run)
{
    double k = metric_of(run, "k");
    size_t cap = strlen(run->run.model) + 48;
    char *s = malloc(cap);
    if (!s) return NULL;
    if (isfinite(k) && k > 1)
        snprintf(s, cap, "%s (k=%.0f)", run->run.model, k);
    else
        snprintf(s, cap, "%s", run->run.model);
    return s;
}

/* One row per label and split, filled dataset by dataset; a second run for a cell
 * that is already filled (possible with --run) opens a row of its own. */
void cb_report_build_csp(const cb_report *r, table *t)
{
    memset(t, 0, sizeof *t);
    t->title = "CSP";
    size_t n_ds, n;
    const char **ds = cb_report_datasets_of(r, "csp", &n_ds, &t->bad);
    const cb_report_run **runs = cb_report_runs_of(r, "csp", NULL, &n, &t->bad);
    t->n_slots = n_ds;
    t->n_cols = 2 * n_ds;
    t->cols = malloc((t->n_cols ? t->n_cols : 1) * sizeof *t->cols);
    if (!t->cols) t->bad = 1;
    for (size_t d = 0; !t->bad && d < n_ds; d++) {
        t->cols[2 * d] = (column){&k_match, ds[d], d};
        t->cols[2 * d + 1] = (column){&k_rmse, ds[d], d};
    }
    for (size_t i = 0; i < n && !t->bad; i++) {
        char *label = csp_label(runs[i]);
        if (!label) {
            t->bad = 1;
            break;
        }
        const char *dataset = runs[i]->run.dataset ? runs[i]->run.dataset : "";
        size_t slot = 0;
        while (strcmp(ds[slot], dataset) != 0) slot++;
        row *x = NULL;
        for (size_t j = 0; j < t->n_rows && !x; j++)
            if (!strcmp(t->rows[j].label, label) && !cb_report_cmp_str(t->rows[j].split, runs[i]->run.split) &&
                !t->rows[j].src[slot])
                x = &t->rows[j];
        if (!x && (x = add_row(t, label, runs[i]->run.split))) x->first_id = runs[i]->run.id;
        if (x) x->src[slot] = runs[i];
        free(label);
    }
    if (!t->bad) qsort(t->rows, t->n_rows, sizeof *t->rows, cmp_row);
    free(runs);
    free(ds);
    finish_table(t);
}

/* ---- column groups ---- */

int cb_report_has_groups(const table *t)
{
    for (size_t c = 0; c < t->n_cols; c++)
        if (t->cols[c].group) return 1;
    return 0;
}

size_t cb_report_group_span(const table *t, size_t c)
{
    size_t e = c + 1;
    while (t->cols[c].group && e < t->n_cols && t->cols[e].group && !strcmp(t->cols[e].group, t->cols[c].group)) e++;
    return e - c;
}

