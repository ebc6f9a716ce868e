/* Text in the formats of the rendered tables (md, tex, html): a growable string,
 * escaping arbitrary text, and the pieces of a table every format prints the same
 * way — titles, row labels with their footnote markers, cells, body rows and the
 * notes under a table. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

/* ---- a growable string ---- */

void cb_report_sb_add(sbuf *b, const char *fmt, ...)
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

void cb_report_sb_text(sbuf *b, cb_report_format fmt, const char *s)
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
                cb_report_sb_add(b, "\\%c", c);
            else
                cb_report_sb_add(b, "%c", c);
            break;
        case CB_REPORT_TEX:
            switch (c) {
            case '\\': cb_report_sb_add(b, "\\textbackslash{}"); break;
            case '~': cb_report_sb_add(b, "\\textasciitilde{}"); break;
            case '^': cb_report_sb_add(b, "\\textasciicircum{}"); break;
            case '<': cb_report_sb_add(b, "\\textless{}"); break;
            case '>': cb_report_sb_add(b, "\\textgreater{}"); break;
            case '_': case '%': case '&': case '#': case '$': case '{': case '}': cb_report_sb_add(b, "\\%c", c); break;
            default: cb_report_sb_add(b, "%c", c);
            }
            break;
        case CB_REPORT_HTML:
            switch (c) {
            case '<': cb_report_sb_add(b, "&lt;"); break;
            case '>': cb_report_sb_add(b, "&gt;"); break;
            case '&': cb_report_sb_add(b, "&amp;"); break;
            case '"': cb_report_sb_add(b, "&quot;"); break;
            default: cb_report_sb_add(b, "%c", c);
            }
            break;
        case CB_REPORT_CSV: cb_report_sb_add(b, "%c", c); break;
        }
    }
}

int cb_report_put_escaped(FILE *f, cb_report_format fmt, const char *s)
{
    sbuf b = {0};
    cb_report_sb_text(&b, fmt, s);
    if (!b.bad && b.s) fputs(b.s, f);
    int bad = b.bad;
    free(b.s);
    return bad ? -1 : 0;
}

/* ---- the pieces of a table ---- */

cb_report_format cb_report_format_of(int f)
{
    return f == F_MD ? CB_REPORT_MD : f == F_TEX ? CB_REPORT_TEX : CB_REPORT_HTML;
}

static const char *const md_sup[] = {"¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};

/* The footnote marker of note i (0-based), in the format. */
static void sb_marker(sbuf *b, int f, size_t i)
{
    if (f == F_MD && i < 9)
        cb_report_sb_add(b, "%s", md_sup[i]);
    else if (f == F_MD)
        cb_report_sb_add(b, "^%zu", i + 1);
    else if (f == F_TEX)
        cb_report_sb_add(b, "$^{%zu}$", i + 1);
    else
        cb_report_sb_add(b, "<sup>%zu</sup>", i + 1);
}

void cb_report_sb_label(sbuf *b, int f, const table *t, const row *x)
{
    cb_report_sb_text(b, cb_report_format_of(f), x->label);
    if (t->n_notes > 1) sb_marker(b, f, x->note);
}

void cb_report_sb_cell(sbuf *b, int f, const cell *x)
{
    static const char *const dash[] = {"–", "--", "&ndash;"};
    static const char *const bold_open[] = {"**", "\\textbf{", "<b>"}, *const bold_close[] = {"**", "}", "</b>"};
    if (isnan(x->shown))
        cb_report_sb_add(b, "%s", dash[f]);
    else if (x->best)
        cb_report_sb_add(b, "%s%s%s", bold_open[f], x->text, bold_close[f]);
    else
        cb_report_sb_add(b, "%s", x->text);
}

int cb_report_note_lines(const table *t, int f, sbuf *lines, size_t *n)
{
    *n = 0;
    int bad = 0;
    for (size_t i = 0; i < t->n_notes; i++) {
        sbuf *b = &lines[(*n)++];
        if (t->n_notes > 1) {
            sb_marker(b, f, i);
            cb_report_sb_add(b, f == F_TEX ? "~" : " ");
        }
        cb_report_sb_text(b, cb_report_format_of(f), t->notes[i]);
        bad |= b->bad;
    }
    sbuf plain = {0};
    cb_report_sb_add(&plain, "Runs: ");
    int first = 1;
    for (size_t i = 0; i < t->n_rows; i++)
        for (size_t s = 0; s < t->n_slots; s++) {
            const cb_report_run *r = t->rows[i].src[s];
            if (!r) continue;
            cb_report_sb_add(&plain, "%s%s", first ? "" : ", ", t->rows[i].label);
            if (!t->dataset) cb_report_sb_add(&plain, " on %s", r->run.dataset ? r->run.dataset : "");
            cb_report_sb_add(&plain, " #%lld (%.10s)", (long long)r->run.id, r->run.ended_at ? r->run.ended_at : "?");
            first = 0;
        }
    cb_report_sb_add(&plain, ".");
    sbuf *b = &lines[(*n)++];
    if (!plain.bad) cb_report_sb_text(b, cb_report_format_of(f), plain.s);
    bad |= plain.bad || b->bad;
    free(plain.s);
    return bad ? -1 : 0;
}

void cb_report_free_lines(sbuf *lines, size_t n)
{
    for (size_t i = 0; i < n; i++) free(lines[i].s);
}

int cb_report_put_title(FILE *f, int fm, const table *t, const char *sep)
{
    fputs(t->title, f);
    if (!t->dataset) return 0;
    fputs(sep, f);
    return cb_report_put_escaped(f, cb_report_format_of(fm), t->dataset);
}

int cb_report_put_row(FILE *f, int fm, const table *t, const row *x, const row_marks *m)
{
    sbuf b = {0};
    cb_report_sb_add(&b, "%s", m->row_open);
    cb_report_sb_label(&b, fm, t, x);
    cb_report_sb_add(&b, "%s", m->label_close);
    for (size_t c = 0; c < t->n_cols; c++) {
        cb_report_sb_add(&b, "%s", m->cell_open);
        cb_report_sb_cell(&b, fm, &x->cells[c]);
        cb_report_sb_add(&b, "%s", m->cell_close);
    }
    cb_report_sb_add(&b, "%s", m->row_close);
    int bad = b.bad;
    if (!bad) fputs(b.s, f);
    free(b.s);
    return bad ? -1 : 0;
}

int cb_report_put_notes(FILE *f, int fm, const table *t, const char *before, const char *line_open,
                        const char *line_close, const char *after)
{
    sbuf *lines = calloc(t->n_notes + 1, sizeof *lines);
    size_t n = 0;
    if (!lines) return -1;
    int bad = cb_report_note_lines(t, fm, lines, &n);
    if (!bad) {
        fputs(before, f);
        for (size_t i = 0; i < n; i++) fprintf(f, "%s%s%s", line_open, lines[i].s, line_close);
        fputs(after, f);
    }
    cb_report_free_lines(lines, n);
    free(lines);
    return bad;
}
