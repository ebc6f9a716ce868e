/* A table as an HTML fragment: a <table> with a caption, group headers spanning their
 * columns (the others spanning both header rows), and the notes in its <tfoot>. */
#include "report_internal.h"

int cb_report_write_html(FILE *f, const table *t)
{
    int groups = cb_report_has_groups(t);
    fputs("<table>\n<caption>", f);
    int bad = cb_report_put_title(f, F_HTML, t, " &mdash; ");
    fputs("</caption>\n<thead>\n<tr>", f);
    fprintf(f, groups ? "<th rowspan=\"2\">Model</th>" : "<th>Model</th>");
    for (size_t c = 0; c < t->n_cols; c += groups ? cb_report_group_span(t, c) : 1) {
        if (!groups || !t->cols[c].group) {
            fprintf(f, "<th%s>%s</th>", groups ? " rowspan=\"2\"" : "", t->cols[c].kind->head[F_HTML]);
            continue;
        }
        fprintf(f, "<th colspan=\"%zu\">", cb_report_group_span(t, c));
        bad |= cb_report_put_escaped(f, CB_REPORT_HTML, t->cols[c].group);
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
    static const row_marks marks = {"<tr><td>", "</td>", "<td>", "</td>", "</tr>\n"};
    for (size_t i = 0; i < t->n_rows && !bad; i++) bad = cb_report_put_row(f, F_HTML, t, &t->rows[i], &marks);
    fputs("</tbody>\n", f);
    char note_open[64]; /* a note spans the table */
    snprintf(note_open, sizeof note_open, "<tr><td colspan=\"%zu\">", t->n_cols + 1);
    if (!bad) bad = cb_report_put_notes(f, F_HTML, t, "<tfoot>\n", note_open, "</td></tr>\n", "</tfoot>\n");
    fputs("</table>\n", f);
    return bad ? -1 : 0;
}
