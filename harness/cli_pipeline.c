/* crystalbench run CONFIG: the whole comparison of a config file (plan.h, pipeline.h). */
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pipeline.h"
#include "plan.h"

const char cb_usage_run[] =
    "usage: crystalbench run CONFIG [--dry-run] [--retrain]\n"
    "\n"
    "For every model and dataset of CONFIG (an INI file; configs/default.ini is the\n"
    "default comparison) and every task both do: train the backend (or load its\n"
    "checkpoint), sample (DNG) or predict the test structures (CSP), evaluate, and\n"
    "store the run in the results database.  Rerunning skips finished jobs and resumes\n"
    "an interrupted one from its last checkpoint or samples; Ctrl-C stops cleanly.\n"
    "\n"
    "Without a train file the model trains on the published validation split minus a\n"
    "seeded 10% hold-out (which validates) and is evaluated on the test split; every\n"
    "run records its split (\"val-minus-10%\" or \"standard\").\n"
    "\n"
    "CONFIG sections:\n"
    "  [run]            db, workdir, seed, split_seed, holdout, threads\n"
    "  [dataset NAME]   dir (test.csv, val.csv, optional train.csv) or train/val/test,\n"
    "                   tasks, coverage, dng_samples, dng_subset, dng_protocol,\n"
    "                   csp_targets, csp_k, csp_protocol\n"
    "  [model LABEL]    backend, datasets, tasks, and the backend's own keys\n"
    "(harness/plan.h documents every key.)\n"
    "\n"
    "  --dry-run        list the jobs and what each still needs\n"
    "  --retrain        redo every job from scratch (ignore finished runs,\n"
    "                   checkpoints and samples)\n"
    "\n"
    "Exit status: 0 done, 1 bad config or failed job, 2 usage, 130 interrupted.\n";

int cb_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {{"dry-run", no_argument, 0, 'n'}, {"retrain", no_argument, 0, 'r'}, {0, 0, 0, 0}};
    cb_pipeline_opts o = {0};
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'n': o.dry_run = 1; break;
        case 'r': o.retrain = 1; break;
        default: return cb_cli_bad_option(cb_usage_run, ch, argv);
        }
    }
    if (optind != argc - 1)
        return cb_usage_error(cb_usage_run, optind == argc ? "run needs a CONFIG file" : "unexpected argument '%s'",
                              argv[optind + (optind < argc - 1)]);
    cb_plan plan;
    cb_error err;
    int rc = cb_plan_load(argv[optind], &plan, &err);
    if (!rc) {
        /* Training's matrix products use [run] threads (main() starts with one, which
         * is what the metrics want; the scorers run their own workers). */
        openblas_set_num_threads(plan.threads);
        rc = cb_pipeline_run(&plan, &o, &err);
        cb_plan_free(&plan);
    }
    if (rc) {
        fprintf(stderr, "crystalbench: %s\n", err.msg);
        return rc == CB_ERR_INTERRUPTED ? 130 : CB_EXIT_FAIL;
    }
    return CB_EXIT_OK;
}
