/* crystalbench table: the comparison tables (harness/report.h) of the runs in
 * the results store, written to stdout or atomically to a file. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "crystalbench/atomic_file.h"
#include "report.h"

const char cb_usage_table[] =
    "usage: crystalbench table [--db FILE] [--format md|tex|csv|html] [--task dng|csp|all]\n"
    "                          [--dataset NAME] [--run ID]... [--out FILE]\n"
    "\n"
    "Comparison tables of the finished runs in the results store.  By default a row is\n"
    "the latest 'done' run of each model, dataset, task and split; the row label is the\n"
    "run's model (\"model (k=K)\" for CSP runs of K predictions per target).\n"
    "\n"
    "  DNG   one table per dataset: validity (composition, structure), coverage\n"
    "        (COV-R, COV-P) in %, Wasserstein distances of density and of the number\n"
    "        of elements, and N, the number of samples\n"
    "  CSP   one table: match rate (%) and RMSE for each dataset\n"
    "\n"
    "The best value of each column is bold (highest for an up arrow, lowest for a down\n"
    "arrow, at the printed precision); a missing or undefined value is a dash.  Under\n"
    "each table: how the models were trained (from each run's split) and the run ids.\n"
    "\n"
    "  --db FILE         results store (default: $CB_DB, else crystalbench.db in the\n"
    "                    current directory); it must exist\n"
    "  --format F        md (GitHub Markdown, default), tex (LaTeX table with booktabs),\n"
    "                    html (a <table> fragment) or csv (one line per run with every\n"
    "                    stored metric at full precision: task,dataset,model,split,\n"
    "                    run_id,<metrics...>; empty = not stored, nan = undefined)\n"
    "  --task T          dng, csp or all (default all)\n"
    "  --dataset NAME    only runs on this dataset (e.g. mp_20)\n"
    "  --run ID          exactly these runs instead (repeatable); each must be done;\n"
    "                    not with --task or --dataset\n"
    "  --out FILE        write FILE (whole or not at all) instead of stdout\n"
    "\n"
    "Exit status: 0 written, 1 no such store, no finished run, unknown or unfinished\n"
    "run, write error, 2 usage.\n";

typedef struct table_args {
    const char *db, *task, *dataset, *out;
    cb_report_format format;
    int64_t *ids;
    size_t n_ids;
} table_args;

static int parse_args(int argc, char **argv, table_args *a)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"format", required_argument, 0, 'f'},
                                         {"task", required_argument, 0, 't'},
                                         {"dataset", required_argument, 0, 'D'},
                                         {"run", required_argument, 0, 'r'},
                                         {"out", required_argument, 0, 'o'},
                                         {0, 0, 0, 0}};
    int ch, st;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': a->db = optarg; break;
        case 'D': a->dataset = optarg; break;
        case 'o': a->out = optarg; break;
        case 'f':
            if (cb_report_format_from_name(optarg, &a->format))
                return cb_usage_error(cb_usage_table, "unknown format '%s' (md, tex, csv, html)", optarg);
            break;
        case 't':
            if (strcmp(optarg, "dng") && strcmp(optarg, "csp") && strcmp(optarg, "all"))
                return cb_usage_error(cb_usage_table, "unknown task '%s' (dng, csp, all)", optarg);
            a->task = strcmp(optarg, "all") ? optarg : NULL;
            break;
        case 'r':
            if ((st = cb_cli_run_id(cb_usage_table, optarg, &a->ids, &a->n_ids))) return st;
            break;
        default: return cb_cli_bad_option(cb_usage_table, ch, argv);
        }
    }
    if (cb_cli_after_options(cb_usage_table, argc, argv, a->db, 0)) return CB_EXIT_USAGE;
    if (a->n_ids && (a->task || a->dataset))
        return cb_usage_error(cb_usage_table, "--run picks the runs itself: it does not combine with --task or --dataset");
    if (a->out && !a->out[0]) return cb_usage_error(cb_usage_table, "--out needs a file name");
    return CB_EXIT_OK;
}

/* The rows, or an error printed: CB_EXIT_OK or CB_EXIT_FAIL. */
static int collect(const table_args *a, const char *db, cb_report *rep)
{
    struct stat sb;
    if (stat(db, &sb) != 0) {
        fprintf(stderr, "crystalbench: %s: no such results database (give --db FILE or set CB_DB)\n", db);
        return CB_EXIT_FAIL;
    }
    cb_error err;
    cb_store *s;
    if (cb_store_open_existing(db, &s, &err)) {
        fprintf(stderr, "crystalbench: %s\n", err.msg);
        return CB_EXIT_FAIL;
    }
    cb_report_query q = {.task = a->task, .dataset = a->dataset, .run_ids = a->ids, .n_run_ids = a->n_ids};
    int rc = cb_report_collect(s, &q, rep, &err);
    cb_store_close(s);
    if (rc) {
        fprintf(stderr, "crystalbench: %s\n", err.msg);
        return CB_EXIT_FAIL;
    }
    if (rep->n == 0) {
        char what[512] = "";
        if (a->task) snprintf(what, sizeof what, " %s", a->task);
        fprintf(stderr, "crystalbench: %s: no finished%s runs%s%s (run `crystalbench eval %s …` first)\n", db, what,
                a->dataset ? " on " : "", a->dataset ? a->dataset : "", a->task ? a->task : "dng");
        return CB_EXIT_FAIL;
    }
    return CB_EXIT_OK;
}

static int write_out(const table_args *a, const cb_report *rep)
{
    cb_error err;
    if (!a->out) {
        int rc = cb_report_write(stdout, "stdout", rep, a->format, &err);
        if (!rc && fflush(stdout) != 0) rc = cb_fail(&err, CB_ERR_IO, "stdout: cannot write");
        if (rc) fprintf(stderr, "crystalbench: %s\n", err.msg);
        return rc ? CB_EXIT_FAIL : CB_EXIT_OK;
    }
    cb_atomic_file af;
    int rc = cb_atomic_open(&af, a->out, &err);
    if (!rc) {
        rc = cb_report_write(af.f, a->out, rep, a->format, &err);
        if (rc)
            cb_atomic_abort(&af);
        else
            rc = cb_atomic_commit(&af, &err);
    }
    if (rc) fprintf(stderr, "crystalbench: %s\n", err.msg);
    return rc ? CB_EXIT_FAIL : CB_EXIT_OK;
}

int cb_cmd_table(int argc, char **argv)
{
    table_args a = {.format = CB_REPORT_MD};
    int st = parse_args(argc, argv, &a);
    const char *db = a.db;
    if (!db) db = getenv("CB_DB");
    if (!db || !db[0]) db = "crystalbench.db";
    cb_report rep = {0};
    if (st == CB_EXIT_OK) st = collect(&a, db, &rep);
    if (st == CB_EXIT_OK) st = write_out(&a, &rep);
    cb_report_free(&rep);
    free(a.ids);
    return st;
}
