/* A table in LaTeX: a table float with a booktabs tabular (group headers spanning
 * their columns, with rules under them) and the notes in small type under it. */
#include "report_internal.h"

int cb_report_write_tex(FILE *f, const table *t)
{
    fputs("\\begin{table}[htbp]\n  \\centering\n  \\caption{", f);
    int bad = cb_report_put_title(f, F_TEX, t, " --- ");
    fputs("}\n  \\begin{tabular}{l", f);
    for (size_t c = 0; c < t->n_cols; c++) fputc('r', f);
    fputs("}\n    \\toprule\n", f);
    if (cb_report_has_groups(t)) {
        fputs("    ", f);
        for (size_t c = 0; c < t->n_cols; c += cb_report_group_span(t, c)) {
            fputs(" &", f);
            if (!t->cols[c].group) continue;
            fputc(' ', f);
            fprintf(f, "\\multicolumn{%zu}{c}{", cb_report_group_span(t, c));
            bad |= cb_report_put_escaped(f, CB_REPORT_TEX, t->cols[c].group);
            fputs("}", f);
        }
        fputs(" \\\\\n    ", f);
        const char *sep = "";
        for (size_t c = 0; c < t->n_cols; c += cb_report_group_span(t, c))
            if (t->cols[c].group) {
                fprintf(f, "%s\\cmidrule(lr){%zu-%zu}", sep, c + 2, c + 1 + cb_report_group_span(t, c));
                sep = " ";
            }
        fputs("\n", f);
    }
    fputs("    Model", f);
    for (size_t c = 0; c < t->n_cols; c++) fprintf(f, " & %s", t->cols[c].kind->head[F_TEX]);
    fputs(" \\\\\n    \\midrule\n", f);
    static const row_marks marks = {"    ", "", " & ", "", " \\\\\n"};
    for (size_t i = 0; i < t->n_rows && !bad; i++) bad = cb_report_put_row(f, F_TEX, t, &t->rows[i], &marks);
    fputs("    \\bottomrule\n  \\end{tabular}\n", f);
    if (!bad)
        bad = cb_report_put_notes(f, F_TEX, t, "  \\par\\smallskip\n  {\\footnotesize\n", "  ", "\\par\n", "  }\n");
    fputs("\\end{table}\n", f);
    return bad ? -1 : 0;
}
