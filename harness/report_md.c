/* A table in GitHub Markdown: a heading, the grid padded so that the source reads as a
 * table too (labels left, numbers right), then the notes as paragraphs.  Every cell is
 * rendered before anything is written, for the column widths. */
#include <stdlib.h>

#include "report_internal.h"

/* Display width of UTF-8 text: one column per code point. */
static size_t utf8_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

int cb_report_write_md(FILE *f, const table *t)
{
    size_t nc = t->n_cols + 1, nr = t->n_rows + 1;
    sbuf *grid = calloc(nc * nr, sizeof *grid);
    sbuf *lines = calloc(t->n_notes + 1, sizeof *lines);
    size_t *width = calloc(nc, sizeof *width);
    size_t n_lines = 0;
    int bad = !grid || !lines || !width;
    if (!bad) {
        cb_report_sb_add(&grid[0], "Model");
        for (size_t c = 0; c < t->n_cols; c++) {
            if (t->cols[c].group) {
                cb_report_sb_text(&grid[1 + c], CB_REPORT_MD, t->cols[c].group);
                cb_report_sb_add(&grid[1 + c], " ");
            }
            cb_report_sb_add(&grid[1 + c], "%s", t->cols[c].kind->head[F_MD]);
        }
        for (size_t i = 0; i < t->n_rows; i++) {
            cb_report_sb_label(&grid[(i + 1) * nc], F_MD, t, &t->rows[i]);
            for (size_t c = 0; c < t->n_cols; c++)
                cb_report_sb_cell(&grid[(i + 1) * nc + 1 + c], F_MD, &t->rows[i].cells[c]);
        }
        for (size_t i = 0; i < nc * nr; i++) {
            bad |= grid[i].bad;
            if (!bad && grid[i].s && utf8_width(grid[i].s) > width[i % nc]) width[i % nc] = utf8_width(grid[i].s);
        }
        bad |= cb_report_note_lines(t, F_MD, lines, &n_lines);
    }
    if (!bad) {
        fputs("### ", f);
        cb_report_put_title(f, F_MD, t, " — "); /* unlike the table, not worth failing for */
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
    if (lines) cb_report_free_lines(lines, n_lines);
    free(grid);
    free(lines);
    free(width);
    return bad ? -1 : 0;
}
