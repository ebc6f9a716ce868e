/* Comparison tables from the results store (see report.h for what they show).
 *
 * The runs are first laid out as format-free tables (columns, rows, cells already
 * rounded to the printed precision, best cells flagged, notes), and each format only
 * prints that layout: so md, tex and html always agree on which cell is best. */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cb_report_format_from_name(const char *name, cb_report_format *out)
{
    static const char *const names[] = {[CB_REPORT_MD] = "md", [CB_REPORT_TEX] = "tex", [CB_REPORT_CSV] = "csv",
                                        [CB_REPORT_HTML] = "html"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (cb_report_format)i;
            return 0;
        }
    return -1;
}

/* ---- collecting the runs ---- */

static int is_table_task(const char *task) { return task && (!strcmp(task, "dng") || !strcmp(task, "csp")); }

void cb_report_free(cb_report *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        cb_run_free(&r->runs[i].run);
        cb_metrics_free(r->runs[i].metrics, r->runs[i].n_metrics);
    }
    free(r->runs);
    memset(r, 0, sizeof *r);
}

/* Moves *run into r (with its metrics); on failure *run is freed. */
static int add_run(cb_store *s, cb_report *r, size_t *cap, cb_run *run, cb_error *err)
{
    if (r->n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 16;
        cb_report_run *p = realloc(r->runs, ncap * sizeof *p);
        if (!p) {
            cb_run_free(run);
            return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", cb_store_path(s));
        }
        r->runs = p;
        *cap = ncap;
    }
    cb_report_run *x = &r->runs[r->n];
    int rc = cb_store_get_metrics(s, run->id, &x->metrics, &x->n_metrics, err);
    if (rc) {
        cb_run_free(run);
        return rc;
    }
    x->run = *run;
    memset(run, 0, sizeof *run);
    r->n++;
    return CB_OK;
}

static int collect_ids(cb_store *s, const cb_report_query *q, cb_report *out, size_t *cap, cb_error *err)
{
    const char *path = cb_store_path(s);
    for (size_t i = 0; i < q->n_run_ids; i++) {
        int64_t id = q->run_ids[i];
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = q->run_ids[j] == id;
        if (seen) continue;
        cb_run run;
        int rc = cb_store_get_run(s, id, &run, err);
        if (rc == CB_ERR_EOF) return cb_fail(err, CB_ERR_INVALID, "%s: no run %lld", path, (long long)id);
        if (rc) return rc;
        if (run.status != CB_RUN_DONE)
            rc = cb_fail(err, CB_ERR_INVALID, "%s: run %lld is %s, not done", path, (long long)id,
                         cb_run_status_name(run.status));
        else if (!is_table_task(run.task))
            rc = cb_fail(err, CB_ERR_INVALID, "%s: run %lld is a '%s' run: tables show dng and csp runs", path,
                         (long long)id, run.task ? run.task : "");
        if (rc) {
            cb_run_free(&run);
            return rc;
        }
        if ((rc = add_run(s, out, cap, &run, err))) return rc;
    }
    return CB_OK;
}

int cb_report_collect(cb_store *s, const cb_report_query *q, cb_report *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    int rc;
    if (q->n_run_ids) {
        rc = collect_ids(s, q, out, &cap, err);
    } else {
        cb_run_filter f = {.task = q->task, .dataset = q->dataset};
        cb_run *runs;
        size_t n;
        rc = cb_store_latest_runs(s, &f, &runs, &n, err);
        if (rc) return rc;
        for (size_t i = 0; i < n; i++) {
            if (!rc && is_table_task(runs[i].task))
                rc = add_run(s, out, &cap, &runs[i], err);
            else
                cb_run_free(&runs[i]);
        }
        free(runs);
    }
    if (rc) cb_report_free(out);
    return rc;
}

/* ---- a growable string ---- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int bad; /* out of memory: the text is incomplete */
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...)
{
    if (b->bad) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->bad = 1;
            return;
        }
        if (b->s && b->len + (size_t)k < b->cap) {
            b->len += (size_t)k;
            return;
        }
        size_t ncap = 2 * (b->cap + (size_t)k) + 64;
        char *p = realloc(b->s, ncap);
        if (!p) {
            b->bad = 1;
            return;
        }
        b->s = p;
        b->cap = ncap;
    }
}

/* ---- escaping: labels and notes are arbitrary text ---- */

static int is_alnum(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

/* Appends s to b as text of the format.  Line breaks become spaces: every label and
 * note stays on its line (a table row, a footnote). */
static void sb_text(sbuf *b, cb_report_format fmt, const char *s)
{
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
        switch (fmt) {
        case CB_REPORT_MD:
            /* GitHub's backslash escapes; '_' only where it could start or end emphasis
             * (never inside a word such as mp_20), '#' only where it could start a heading. */
            if (strchr("\\|*`<>[]", c) ||
                (c == '_' && (i == 0 || !is_alnum((unsigned char)s[i - 1]) || !is_alnum((unsigned char)s[i + 1]))) ||
                (c == '#' && i == 0))
                sb_add(b, "\\%c", c);
            else
                sb_add(b, "%c", c);
            break;
        case CB_REPORT_TEX:
            switch (c) {
            case '\\': sb_add(b, "\\textbackslash{}"); break;
            case '~': sb_add(b, "\\textasciitilde{}"); break;
            case '^': sb_add(b, "\\textasciicircum{}"); break;
            case '<': sb_add(b, "\\textless{}"); break;
            case '>': sb_add(b, "\\textgreater{}"); break;
            case '_': case '%': case '&': case '#': case '$': case '{': case '}': sb_add(b, "\\%c", c); break;
            default: sb_add(b, "%c", c);
            }
            break;
        case CB_REPORT_HTML:
            switch (c) {
            case '<': sb_add(b, "&lt;"); break;
            case '>': sb_add(b, "&gt;"); break;
            case '&': sb_add(b, "&amp;"); break;
            case '"': sb_add(b, "&quot;"); break;
            default: sb_add(b, "%c", c);
            }
            break;
        case CB_REPORT_CSV: sb_add(b, "%c", c); break;
        }
    }
}

/* ---- the layout ---- */

enum { F_MD, F_TEX, F_HTML, N_TEXT_FORMATS };

/* A metric column: its header in each format (arrow and unit included), how it is
 * printed and which way is better (+1 higher, -1 lower, 0 not compared). */
typedef struct col_kind {
    const char *metric;
    const char *head[N_TEXT_FORMATS];
    double scale;
    int decimals, dir;
} col_kind;

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
        return "Trained on the published validation split minus a seeded 10% hold-out (for early stopping); "
               "evaluated on the published test split.";
    return split;
}

static void table_free(table *t)
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

static int cmp_str(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : ""); }

/* Order of runs within a table: model, split, dataset, id. */
static int cmp_run(const void *pa, const void *pb)
{
    const cb_report_run *a = *(const cb_report_run *const *)pa, *b = *(const cb_report_run *const *)pb;
    int c = cmp_str(a->run.model, b->run.model);
    if (!c) c = cmp_str(a->run.split, b->run.split);
    if (!c) c = cmp_str(a->run.dataset, b->run.dataset);
    if (!c) c = (a->run.id > b->run.id) - (a->run.id < b->run.id);
    return c;
}

static int cmp_strp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The runs of a task (and dataset, unless NULL), sorted; *n = 0 and NULL when none. */
static const cb_report_run **runs_of(const cb_report *r, const char *task, const char *dataset, size_t *n, int *bad)
{
    *n = 0;
    const cb_report_run **v = malloc((r->n ? r->n : 1) * sizeof *v);
    if (!v) {
        *bad = 1;
        return NULL;
    }
    for (size_t i = 0; i < r->n; i++)
        if (!cmp_str(r->runs[i].run.task, task) && (!dataset || !cmp_str(r->runs[i].run.dataset, dataset)))
            v[(*n)++] = &r->runs[i];
    qsort(v, *n, sizeof *v, cmp_run);
    return v;
}

/* The distinct datasets of the task's runs, sorted (pointers into r). */
static const char **datasets_of(const cb_report *r, const char *task, size_t *n, int *bad)
{
    *n = 0;
    const char **v = malloc((r->n ? r->n : 1) * sizeof *v);
    if (!v) {
        *bad = 1;
        return NULL;
    }
    for (size_t i = 0; i < r->n; i++)
        if (!cmp_str(r->runs[i].run.task, task)) v[(*n)++] = r->runs[i].run.dataset ? r->runs[i].run.dataset : "";
    qsort(v, *n, sizeof *v, cmp_strp);
    size_t m = 0;
    for (size_t i = 0; i < *n; i++)
        if (m == 0 || strcmp(v[m - 1], v[i]) != 0) v[m++] = v[i];
    *n = m;
    return v;
}

static void build_dng(const cb_report *r, const char *dataset, table *t)
{
    memset(t, 0, sizeof *t);
    t->title = "DNG";
    t->dataset = dataset;
    t->n_slots = 1;
    t->n_cols = sizeof dng_cols / sizeof dng_cols[0];
    t->cols = malloc(t->n_cols * sizeof *t->cols);
    size_t n;
    const cb_report_run **runs = runs_of(r, "dng", dataset, &n, &t->bad);
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
    if (!c) c = cmp_str(a->split, b->split);
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
static void build_csp(const cb_report *r, table *t)
{
    memset(t, 0, sizeof *t);
    t->title = "CSP";
    size_t n_ds, n;
    const char **ds = datasets_of(r, "csp", &n_ds, &t->bad);
    const cb_report_run **runs = runs_of(r, "csp", NULL, &n, &t->bad);
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
            if (!strcmp(t->rows[j].label, label) && !cmp_str(t->rows[j].split, runs[i]->run.split) &&
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

/* ---- the text shared by the formats ---- */

static const char *const md_sup[] = {"¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};

/* The footnote marker of note i (0-based), in the format. */
static void sb_marker(sbuf *b, int f, size_t i)
{
    if (f == F_MD && i < 9)
        sb_add(b, "%s", md_sup[i]);
    else if (f == F_MD)
        sb_add(b, "^%zu", i + 1);
    else if (f == F_TEX)
        sb_add(b, "$^{%zu}$", i + 1);
    else
        sb_add(b, "<sup>%zu</sup>", i + 1);
}

static cb_report_format format_of(int f) { return f == F_MD ? CB_REPORT_MD : f == F_TEX ? CB_REPORT_TEX : CB_REPORT_HTML; }

/* A row's label, escaped, with its note's marker when the table has several notes. */
static void sb_label(sbuf *b, int f, const table *t, const row *x)
{
    sb_text(b, format_of(f), x->label);
    if (t->n_notes > 1) sb_marker(b, f, x->note);
}

/* A cell: its number (bold when best) or a dash. */
static void sb_cell(sbuf *b, int f, const cell *x)
{
    static const char *const dash[] = {"–", "--", "&ndash;"};
    static const char *const bold_open[] = {"**", "\\textbf{", "<b>"}, *const bold_close[] = {"**", "}", "</b>"};
    if (isnan(x->shown))
        sb_add(b, "%s", dash[f]);
    else if (x->best)
        sb_add(b, "%s%s%s", bold_open[f], x->text, bold_close[f]);
    else
        sb_add(b, "%s", x->text);
}

/* The notes under a table, one string per line (escaped, markers included). */
static int note_lines(const table *t, int f, sbuf *lines, size_t *n)
{
    *n = 0;
    int bad = 0;
    for (size_t i = 0; i < t->n_notes; i++) {
        sbuf *b = &lines[(*n)++];
        if (t->n_notes > 1) {
            sb_marker(b, f, i);
            sb_add(b, f == F_TEX ? "~" : " ");
        }
        sb_text(b, format_of(f), t->notes[i]);
        bad |= b->bad;
    }
    sbuf plain = {0};
    sb_add(&plain, "Runs: ");
    int first = 1;
    for (size_t i = 0; i < t->n_rows; i++)
        for (size_t s = 0; s < t->n_slots; s++) {
            const cb_report_run *r = t->rows[i].src[s];
            if (!r) continue;
            sb_add(&plain, "%s%s", first ? "" : ", ", t->rows[i].label);
            if (!t->dataset) sb_add(&plain, " on %s", r->run.dataset ? r->run.dataset : "");
            sb_add(&plain, " #%lld (%.10s)", (long long)r->run.id, r->run.ended_at ? r->run.ended_at : "?");
            first = 0;
        }
    sb_add(&plain, ".");
    sbuf *b = &lines[(*n)++];
    if (!plain.bad) sb_text(b, format_of(f), plain.s);
    bad |= plain.bad || b->bad;
    free(plain.s);
    return bad ? -1 : 0;
}

static void free_lines(sbuf *lines, size_t n)
{
    for (size_t i = 0; i < n; i++) free(lines[i].s);
}

/* ---- Markdown (GitHub) ---- */

/* Display width of UTF-8 text: one column per code point. */
static size_t utf8_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static int write_md(FILE *f, const table *t)
{
    size_t nc = t->n_cols + 1, nr = t->n_rows + 1;
    sbuf *grid = calloc(nc * nr, sizeof *grid);
    sbuf *lines = calloc(t->n_notes + 1, sizeof *lines);
    size_t *width = calloc(nc, sizeof *width);
    size_t n_lines = 0;
    int bad = !grid || !lines || !width;
    if (!bad) {
        sb_add(&grid[0], "Model");
        for (size_t c = 0; c < t->n_cols; c++) {
            if (t->cols[c].group) {
                sb_text(&grid[1 + c], CB_REPORT_MD, t->cols[c].group);
                sb_add(&grid[1 + c], " ");
            }
            sb_add(&grid[1 + c], "%s", t->cols[c].kind->head[F_MD]);
        }
        for (size_t i = 0; i < t->n_rows; i++) {
            sb_label(&grid[(i + 1) * nc], F_MD, t, &t->rows[i]);
            for (size_t c = 0; c < t->n_cols; c++) sb_cell(&grid[(i + 1) * nc + 1 + c], F_MD, &t->rows[i].cells[c]);
        }
        for (size_t i = 0; i < nc * nr; i++) {
            bad |= grid[i].bad;
            if (!bad && grid[i].s && utf8_width(grid[i].s) > width[i % nc]) width[i % nc] = utf8_width(grid[i].s);
        }
        bad |= note_lines(t, F_MD, lines, &n_lines);
    }
    if (!bad) {
        fprintf(f, "### %s", t->title);
        if (t->dataset) {
            sbuf d = {0};
            sb_text(&d, CB_REPORT_MD, t->dataset);
            fprintf(f, " — %s", d.s ? d.s : "");
            free(d.s);
        }
        fputs("\n\n", f);
        for (size_t i = 0; i < nr; i++) {
            for (size_t c = 0; c < nc; c++) {
                const char *s = grid[i * nc + c].s ? grid[i * nc + c].s : "";
                int pad = (int)(width[c] - utf8_width(s));
                /* The label column reads left to right, numbers line up on the right. */
                if (c == 0)
                    fprintf(f, "| %s%*s ", s, pad, "");
                else
                    fprintf(f, "| %*s%s ", pad, "", s);
            }
            fputs("|\n", f);
            if (i == 0) {
                for (size_t c = 0; c < nc; c++) {
                    size_t w = width[c] < 3 ? 3 : width[c];
                    fputs(c == 0 ? "| :" : "| ", f);
                    for (size_t k = 0; k + 1 < w; k++) fputc('-', f);
                    fputs(c == 0 ? " " : ": ", f);
                }
                fputs("|\n", f);
            }
        }
        /* Separate paragraphs: GitHub would join consecutive lines into one. */
        for (size_t i = 0; i < n_lines; i++) fprintf(f, "\n%s\n", lines[i].s);
    }
    if (grid) {
        for (size_t i = 0; i < nc * nr; i++) free(grid[i].s);
    }
    if (lines) free_lines(lines, n_lines);
    free(grid);
    free(lines);
    free(width);
    return bad ? -1 : 0;
}

/* ---- LaTeX (booktabs) ---- */

/* Writes s as an escaped text fragment; -1 when out of memory. */
static int put_escaped(FILE *f, cb_report_format fmt, const char *s)
{
    sbuf b = {0};
    sb_text(&b, fmt, s);
    if (!b.bad && b.s) fputs(b.s, f);
    int bad = b.bad;
    free(b.s);
    return bad ? -1 : 0;
}

static int has_groups(const table *t)
{
    for (size_t c = 0; c < t->n_cols; c++)
        if (t->cols[c].group) return 1;
    return 0;
}

/* How many columns from c on share column c's group (1 when it has none). */
static size_t group_span(const table *t, size_t c)
{
    size_t e = c + 1;
    while (t->cols[c].group && e < t->n_cols && t->cols[e].group && !strcmp(t->cols[e].group, t->cols[c].group)) e++;
    return e - c;
}

static int write_tex(FILE *f, const table *t)
{
    int bad = 0;
    fputs("\\begin{table}[htbp]\n  \\centering\n  \\caption{", f);
    fputs(t->title, f);
    if (t->dataset) {
        fputs(" --- ", f);
        bad |= put_escaped(f, CB_REPORT_TEX, t->dataset);
    }
    fputs("}\n  \\begin{tabular}{l", f);
    for (size_t c = 0; c < t->n_cols; c++) fputc('r', f);
    fputs("}\n    \\toprule\n", f);
    if (has_groups(t)) {
        fputs("    ", f);
        for (size_t c = 0; c < t->n_cols; c += group_span(t, c)) {
            fputs(" &", f);
            if (!t->cols[c].group) continue;
            fputc(' ', f);
            fprintf(f, "\\multicolumn{%zu}{c}{", group_span(t, c));
            bad |= put_escaped(f, CB_REPORT_TEX, t->cols[c].group);
            fputs("}", f);
        }
        fputs(" \\\\\n    ", f);
        const char *sep = "";
        for (size_t c = 0; c < t->n_cols; c += group_span(t, c))
            if (t->cols[c].group) {
                fprintf(f, "%s\\cmidrule(lr){%zu-%zu}", sep, c + 2, c + 1 + group_span(t, c));
                sep = " ";
            }
        fputs("\n", f);
    }
    fputs("    Model", f);
    for (size_t c = 0; c < t->n_cols; c++) fprintf(f, " & %s", t->cols[c].kind->head[F_TEX]);
    fputs(" \\\\\n    \\midrule\n", f);
    for (size_t i = 0; i < t->n_rows && !bad; i++) {
        sbuf b = {0};
        sb_add(&b, "    ");
        sb_label(&b, F_TEX, t, &t->rows[i]);
        for (size_t c = 0; c < t->n_cols; c++) {
            sb_add(&b, " & ");
            sb_cell(&b, F_TEX, &t->rows[i].cells[c]);
        }
        sb_add(&b, " \\\\\n");
        if (!b.bad) fputs(b.s, f);
        bad |= b.bad;
        free(b.s);
    }
    fputs("    \\bottomrule\n  \\end{tabular}\n", f);
    sbuf *lines = calloc(t->n_notes + 1, sizeof *lines);
    size_t n_lines = 0;
    if (!lines) bad = 1;
    if (!bad && !(bad = note_lines(t, F_TEX, lines, &n_lines))) {
        fputs("  \\par\\smallskip\n  {\\footnotesize\n", f);
        for (size_t i = 0; i < n_lines; i++) fprintf(f, "  %s\\par\n", lines[i].s);
        fputs("  }\n", f);
    }
    fputs("\\end{table}\n", f);
    if (lines) free_lines(lines, n_lines);
    free(lines);
    return bad ? -1 : 0;
}

/* ---- HTML fragment ---- */

static int write_html(FILE *f, const table *t)
{
    int bad = 0, groups = has_groups(t);
    fputs("<table>\n<caption>", f);
    fputs(t->title, f);
    if (t->dataset) {
        fputs(" &mdash; ", f);
        bad |= put_escaped(f, CB_REPORT_HTML, t->dataset);
    }
    fputs("</caption>\n<thead>\n<tr>", f);
    fprintf(f, groups ? "<th rowspan=\"2\">Model</th>" : "<th>Model</th>");
    for (size_t c = 0; c < t->n_cols; c += groups ? group_span(t, c) : 1) {
        if (!groups || !t->cols[c].group) {
            fprintf(f, "<th%s>%s</th>", groups ? " rowspan=\"2\"" : "", t->cols[c].kind->head[F_HTML]);
            continue;
        }
        fprintf(f, "<th colspan=\"%zu\">", group_span(t, c));
        bad |= put_escaped(f, CB_REPORT_HTML, t->cols[c].group);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    if (groups) {
        fputs("<tr>", f);
        for (size_t c = 0; c < t->n_cols; c++)
            if (t->cols[c].group) fprintf(f, "<th>%s</th>", t->cols[c].kind->head[F_HTML]);
        fputs("</tr>\n", f);
    }
    fputs("</thead>\n<tbody>\n", f);
    for (size_t i = 0; i < t->n_rows && !bad; i++) {
        sbuf b = {0};
        sb_add(&b, "<tr><td>");
        sb_label(&b, F_HTML, t, &t->rows[i]);
        sb_add(&b, "</td>");
        for (size_t c = 0; c < t->n_cols; c++) {
            sb_add(&b, "<td>");
            sb_cell(&b, F_HTML, &t->rows[i].cells[c]);
            sb_add(&b, "</td>");
        }
        sb_add(&b, "</tr>\n");
        if (!b.bad) fputs(b.s, f);
        bad |= b.bad;
        free(b.s);
    }
    fputs("</tbody>\n", f);
    sbuf *lines = calloc(t->n_notes + 1, sizeof *lines);
    size_t n_lines = 0;
    if (!lines) bad = 1;
    if (!bad && !(bad = note_lines(t, F_HTML, lines, &n_lines))) {
        fputs("<tfoot>\n", f);
        for (size_t i = 0; i < n_lines; i++) fprintf(f, "<tr><td colspan=\"%zu\">%s</td></tr>\n", t->n_cols + 1, lines[i].s);
        fputs("</tfoot>\n", f);
    }
    fputs("</table>\n", f);
    if (lines) free_lines(lines, n_lines);
    free(lines);
    return bad ? -1 : 0;
}

/* ---- CSV: every metric of every run, as stored ---- */

static void put_csv_field(FILE *f, const char *s)
{
    if (!s) return;
    if (!strpbrk(s, ",\"\r\n") && s[0] != ' ' && (!s[0] || s[strlen(s) - 1] != ' ')) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Order of csv rows: task, dataset, model, split, id. */
static int cmp_csv(const void *pa, const void *pb)
{
    const cb_report_run *a = *(const cb_report_run *const *)pa, *b = *(const cb_report_run *const *)pb;
    int c = cmp_str(a->run.task, b->run.task);
    if (!c) c = cmp_str(a->run.dataset, b->run.dataset);
    if (!c) c = cmp_run(pa, pb);
    return c;
}

static int write_csv(FILE *f, const cb_report *r)
{
    size_t n_names = 0, total = 0;
    for (size_t i = 0; i < r->n; i++) total += r->runs[i].n_metrics;
    const char **names = malloc((total ? total : 1) * sizeof *names);
    const cb_report_run **rows = malloc((r->n ? r->n : 1) * sizeof *rows);
    if (!names || !rows) {
        free(names);
        free(rows);
        return -1;
    }
    for (size_t i = 0; i < r->n; i++) {
        rows[i] = &r->runs[i];
        for (size_t j = 0; j < r->runs[i].n_metrics; j++) names[n_names++] = r->runs[i].metrics[j].name;
    }
    qsort(names, n_names, sizeof *names, cmp_strp);
    size_t m = 0;
    for (size_t i = 0; i < n_names; i++)
        if (m == 0 || strcmp(names[m - 1], names[i]) != 0) names[m++] = names[i];
    n_names = m;
    qsort(rows, r->n, sizeof *rows, cmp_csv);
    fputs("task,dataset,model,split,run_id", f);
    for (size_t j = 0; j < n_names; j++) {
        fputc(',', f);
        put_csv_field(f, names[j]);
    }
    fputc('\n', f);
    for (size_t i = 0; i < r->n; i++) {
        const cb_run *run = &rows[i]->run;
        const char *fields[] = {run->task, run->dataset, run->model, run->split};
        for (int k = 0; k < 4; k++) {
            put_csv_field(f, fields[k]);
            fputc(',', f);
        }
        fprintf(f, "%lld", (long long)run->id);
        /* Both sorted by name: one merge pass.  Absent → empty; NaN (stored NULL) → nan. */
        size_t k = 0;
        for (size_t j = 0; j < n_names; j++) {
            fputc(',', f);
            while (k < rows[i]->n_metrics && strcmp(rows[i]->metrics[k].name, names[j]) < 0) k++;
            if (k < rows[i]->n_metrics && strcmp(rows[i]->metrics[k].name, names[j]) == 0) {
                double v = rows[i]->metrics[k].value;
                if (isnan(v))
                    fputs("nan", f);
                else
                    fprintf(f, "%.17g", v);
            }
        }
        fputc('\n', f);
    }
    free(names);
    free(rows);
    return 0;
}

/* ---- all tables ---- */

static int write_table(FILE *f, const table *t, cb_report_format fmt, int *first)
{
    if (t->bad) return -1;
    if (!*first) fputc('\n', f);
    *first = 0;
    switch (fmt) {
    case CB_REPORT_MD: return write_md(f, t);
    case CB_REPORT_TEX: return write_tex(f, t);
    case CB_REPORT_HTML: return write_html(f, t);
    case CB_REPORT_CSV: break;
    }
    return -1;
}

int cb_report_write(FILE *f, const char *what, const cb_report *r, cb_report_format fmt, cb_error *err)
{
    int bad = 0;
    if (fmt == CB_REPORT_CSV) {
        bad = write_csv(f, r);
    } else {
        int first = 1;
        size_t n_ds;
        const char **ds = datasets_of(r, "dng", &n_ds, &bad);
        for (size_t d = 0; d < n_ds && !bad; d++) {
            table t;
            build_dng(r, ds[d], &t);
            bad = write_table(f, &t, fmt, &first);
            table_free(&t);
        }
        free(ds);
        size_t n_csp;
        free(runs_of(r, "csp", NULL, &n_csp, &bad));
        if (!bad && n_csp) {
            table t;
            build_csp(r, &t);
            bad = write_table(f, &t, fmt, &first);
            table_free(&t);
        }
    }
    if (bad) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory while rendering the table", what);
    if (ferror(f)) return cb_fail(err, CB_ERR_IO, "%s: cannot write", what);
    return CB_OK;
}
