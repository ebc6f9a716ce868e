/* crystalbench regress: the CI gate.  Compares the metrics of one stored run with a
 * committed baseline file (regress.h) and exits non-zero naming every metric that got
 * worse by more than its tolerance; --update rewrites the baseline from the run. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "regress.h"

const char cb_usage_regress[] =
    "usage: crystalbench regress --baseline FILE [--run ID] [--db FILE] [--update]\n"
    "\n"
    "Compares a run's metrics with a committed baseline (results/baseline/*.json) and\n"
    "exits 1 when any metric regressed: one that should be higher (validity, coverage,\n"
    "match rate, diversity) dropped, one that should be lower (Wasserstein distances,\n"
    "AMSD/AMCD, RMSE) rose, or one that should not change (counts) changed, by more\n"
    "than the metric's tolerance; a metric the run lacks also fails.  Improvements are\n"
    "reported and pass (record them with --update).\n"
    "\n"
    "  --baseline FILE   the baseline: {\"crystalbench_baseline\": 1, \"model\", \"task\",\n"
    "                    \"dataset\", \"split\", \"metrics\": {NAME: {\"value\", \"better\":\n"
    "                    higher|lower|equal, \"tolerance\" (absolute)}}}\n"
    "  --run ID          the run to check (default: the latest finished run of the\n"
    "                    baseline's model, task, dataset and split)\n"
    "  --db FILE         results store (default: $CB_DB, else crystalbench.db)\n"
    "  --update          write the run's metrics into FILE instead (creating it with\n"
    "                    every metric of the run when it does not exist; directions\n"
    "                    and tolerances already in FILE are kept; new metrics get the\n"
    "                    default direction and a tolerance of 1e-9, counts 0)\n"
    "\n"
    "Exit status: 0 no regression (or updated), 1 regression or bad input, 2 usage.\n";

typedef struct regress_args {
    const char *baseline, *db;
    long long run;
    int update;
} regress_args;

static int parse_args(int argc, char **argv, regress_args *a)
{
    static const struct option opts[] = {{"baseline", required_argument, 0, 'b'},
                                         {"run", required_argument, 0, 'r'},
                                         {"db", required_argument, 0, 'd'},
                                         {"update", no_argument, 0, 'u'},
                                         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->run = -1;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'b': a->baseline = optarg; break;
        case 'd': a->db = optarg; break;
        case 'u': a->update = 1; break;
        case 'r': {
            char *end;
            a->run = strtoll(optarg, &end, 10);
            if (*end || end == optarg || a->run < 1)
                return cb_usage_error(cb_usage_regress, "--run needs a run id >= 1, not '%s'", optarg);
            break;
        }
        default: return cb_cli_bad_option(cb_usage_regress, ch, argv);
        }
    }
    if (cb_cli_after_options(cb_usage_regress, argc, argv, NULL, 0)) return CB_EXIT_USAGE;
    if (!a->baseline) return cb_usage_error(cb_usage_regress, "regress needs --baseline FILE");
    return CB_EXIT_OK;
}

/* The run to check: --run, else the latest finished run of the baseline's kind. */
static int find_run(cb_store *s, const regress_args *a, const cb_baseline *b, cb_run *run, cb_error *err)
{
    if (a->run > 0) {
        int rc = cb_store_get_run(s, a->run, run, err);
        if (rc == CB_ERR_EOF) return cb_fail(err, CB_ERR_INVALID, "%s: no run %lld", cb_store_path(s), a->run);
        if (!rc && run->status != CB_RUN_DONE) {
            rc = cb_fail(err, CB_ERR_INVALID, "%s: run %lld is %s, not done", cb_store_path(s), a->run,
                         cb_run_status_name(run->status));
            cb_run_free(run);
        }
        return rc;
    }
    if (!b->model || !b->task || !b->dataset)
        return cb_fail(err, CB_ERR_INVALID, "%s: names no model, task and dataset: give --run ID", a->baseline);
    cb_run_filter f = {.model = b->model, .task = b->task, .dataset = b->dataset, .split = b->split};
    int rc = cb_store_latest_run(s, &f, run, err);
    if (rc == CB_ERR_EOF)
        return cb_fail(err, CB_ERR_INVALID, "%s: no finished %s %s run on %s%s%s to check against %s",
                       cb_store_path(s), b->model, b->task, b->dataset, b->split ? ", split " : "",
                       b->split ? b->split : "", a->baseline);
    return rc;
}

/* A baseline for a different task or dataset would compare unrelated numbers. */
static int check_kind(const regress_args *a, const cb_baseline *b, const cb_run *r, cb_error *err)
{
    if ((b->task && strcmp(b->task, r->task) != 0) || (b->dataset && strcmp(b->dataset, r->dataset) != 0))
        return cb_fail(err, CB_ERR_INVALID, "%s is a baseline for %s on %s, but run %lld is %s on %s", a->baseline,
                       b->task ? b->task : "?", b->dataset ? b->dataset : "?", (long long)r->id, r->task,
                       r->dataset);
    return CB_OK;
}

static const cb_metric *find_metric(const cb_metric *m, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, name) == 0) return &m[i];
    return NULL;
}

static int check(const regress_args *a, const cb_baseline *b, const cb_run *r, const cb_metric *m, size_t nm)
{
    printf("regress: run %lld (%s %s on %s) against %s\n", (long long)r->id, r->model, r->task, r->dataset,
           a->baseline);
    printf("  %-18s %15s %15s %12s %10s  %s\n", "metric", "baseline", "run", "change", "tolerance", "verdict");
    size_t bad = 0, better = 0;
    char names[1024] = "";
    for (size_t i = 0; i < b->n; i++) {
        const cb_baseline_metric *bm = &b->metrics[i];
        const cb_metric *got = find_metric(m, nm, bm->name);
        double v = got ? got->value : NAN;
        cb_verdict vd = cb_regress_metric(bm, got != NULL, v);
        static const char *const words[] = {"ok", "improved", "REGRESSED", "MISSING"};
        printf("  %-18s %15.10g %15.10g %12.3g %10.3g  %s (%s)\n", bm->name, bm->value, v, v - bm->value,
               bm->tolerance, words[vd],
               bm->better == CB_BETTER_EQUAL ? "must not change"
                                              : bm->better == CB_BETTER_HIGHER ? "higher is better" : "lower is better");
        if (vd == CB_VERDICT_IMPROVED) better++;
        if (vd == CB_VERDICT_REGRESSED || vd == CB_VERDICT_MISSING) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof names - len, "%s%s%s", bad ? ", " : "", bm->name,
                     vd == CB_VERDICT_MISSING ? " (missing)" : "");
            bad++;
        }
    }
    if (bad) {
        fprintf(stderr, "crystalbench: run %lld regressed against %s in %zu metric%s: %s\n", (long long)r->id,
                a->baseline, bad, bad == 1 ? "" : "s", names);
        return CB_EXIT_FAIL;
    }
    printf("  no regression in %zu metrics%s\n", b->n,
           better ? "; some improved beyond tolerance (record with --update)" : "");
    return CB_EXIT_OK;
}

/* The baseline rewritten from the run: every metric of the run, keeping the direction
 * and tolerance of those the file already had. */
static int update(const regress_args *a, const cb_baseline *old, const cb_run *r, const cb_metric *m, size_t nm,
                  cb_error *err)
{
    cb_baseline nb = {.model = r->model, .task = r->task, .dataset = r->dataset, .split = r->split};
    nb.metrics = calloc(nm ? nm : 1, sizeof *nb.metrics);
    if (!nb.metrics) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nm; i++) {
        cb_baseline_metric *x = &nb.metrics[nb.n++];
        x->name = m[i].name;
        x->value = m[i].value;
        x->better = cb_better_default(m[i].name);
        x->tolerance = x->better == CB_BETTER_EQUAL ? 0 : 1e-9;
        for (size_t j = 0; old && j < old->n; j++)
            if (strcmp(old->metrics[j].name, m[i].name) == 0) {
                x->better = old->metrics[j].better;
                x->tolerance = old->metrics[j].tolerance;
            }
    }
    int rc = cb_baseline_write(a->baseline, &nb, r, err);
    free(nb.metrics); /* the names belong to m */
    if (!rc) printf("regress: %s written from run %lld (%zu metrics)\n", a->baseline, (long long)r->id, nm);
    return rc;
}

int cb_cmd_regress(int argc, char **argv)
{
    regress_args a;
    int st = parse_args(argc, argv, &a);
    if (st != CB_EXIT_OK) return st;
    cb_error err;
    cb_baseline b = {0};
    struct stat sb;
    int have_baseline = !(a.update && stat(a.baseline, &sb) != 0);
    if (!have_baseline && a.run < 1)
        return cb_usage_error(cb_usage_regress, "%s does not exist yet: --update needs --run ID to create it",
                              a.baseline);
    const char *db = a.db ? a.db : getenv("CB_DB");
    if (!db || !db[0]) db = "crystalbench.db";
    cb_store *s = NULL;
    cb_run run = {0};
    cb_metric *m = NULL;
    size_t nm = 0;
    int found = 0;
    int rc = have_baseline ? cb_baseline_read(a.baseline, &b, &err) : CB_OK;
    if (!rc) rc = cb_store_open_existing(db, &s, &err);
    if (!rc) rc = find_run(s, &a, &b, &run, &err);
    if (!rc) {
        found = 1;
        if (have_baseline) rc = check_kind(&a, &b, &run, &err);
    }
    if (!rc) rc = cb_store_get_metrics(s, run.id, &m, &nm, &err);
    if (!rc) {
        if (a.update)
            rc = update(&a, have_baseline ? &b : NULL, &run, m, nm, &err);
        else
            st = check(&a, &b, &run, m, nm);
    }
    if (rc) {
        fprintf(stderr, "crystalbench: %s\n", err.msg);
        st = CB_EXIT_FAIL;
    }
    cb_metrics_free(m, nm);
    if (found) cb_run_free(&run);
    cb_store_close(s);
    cb_baseline_free(&b);
    return st;
}
