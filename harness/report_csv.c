/* CSV, for machines: a line per run (task, dataset, model, split, id) with every
 * metric stored for any run as a column, at full precision: empty = not stored for
 * this run, nan = stored as undefined.  RFC 4180 quoting where a field needs it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

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
    int c = cb_report_cmp_str(a->run.task, b->run.task);
    if (!c) c = cb_report_cmp_str(a->run.dataset, b->run.dataset);
    if (!c) c = cb_report_cmp_run(pa, pb);
    return c;
}

int cb_report_write_csv(FILE *f, const cb_report *r)
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
    qsort(names, n_names, sizeof *names, cb_report_cmp_strp);
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
