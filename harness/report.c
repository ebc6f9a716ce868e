/* Comparison tables from the results store (report.h): every table of a report, in
 * the format asked for.  The files behind it are listed in report_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

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

/* A blank line between tables. */
static int write_table(FILE *f, const table *t, cb_report_format fmt, int *first)
{
    if (t->bad) return -1;
    if (!*first) fputc('\n', f);
    *first = 0;
    switch (fmt) {
    case CB_REPORT_MD: return cb_report_write_md(f, t);
    case CB_REPORT_TEX: return cb_report_write_tex(f, t);
    case CB_REPORT_HTML: return cb_report_write_html(f, t);
    case CB_REPORT_CSV: break;
    }
    return -1;
}

int cb_report_write(FILE *f, const char *what, const cb_report *r, cb_report_format fmt, cb_error *err)
{
    int bad = 0;
    if (fmt == CB_REPORT_CSV) {
        bad = cb_report_write_csv(f, r);
    } else {
        int first = 1;
        size_t n_ds;
        const char **ds = cb_report_datasets_of(r, "dng", &n_ds, &bad);
        for (size_t d = 0; d < n_ds && !bad; d++) {
            table t;
            cb_report_build_dng(r, ds[d], &t);
            bad = write_table(f, &t, fmt, &first);
            cb_report_table_free(&t);
        }
        free(ds);
        size_t n_csp;
        free(cb_report_runs_of(r, "csp", NULL, &n_csp, &bad));
        if (!bad && n_csp) {
            table t;
            cb_report_build_csp(r, &t);
            bad = write_table(f, &t, fmt, &first);
            cb_report_table_free(&t);
        }
    }
    if (bad) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory while rendering the table", what);
    if (ferror(f)) return cb_fail(err, CB_ERR_IO, "%s: cannot write", what);
    return CB_OK;
}
