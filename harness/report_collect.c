/* Which runs make the rows of the tables (report.h): the latest finished DNG and CSP
 * runs of the store, or exactly the runs asked for, each with all its metrics. */
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

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

/* The runs named by id (each once), which must be finished DNG or CSP runs. */
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
