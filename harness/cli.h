/* The command-line interface: one function per command, dispatched by harness/main.c.
 * Each takes the arguments after the command words (argv[0] = the command's name) and
 * returns the process exit status: 0 ok, 1 failure (bad input, failed run), 2 usage. */
#ifndef CRYSTALBENCH_CLI_H
#define CRYSTALBENCH_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "crystalbench/dataset.h"
#include "crystalbench/error.h"
#include "crystalbench/store.h"

enum { CB_EXIT_OK = 0, CB_EXIT_FAIL = 1, CB_EXIT_USAGE = 2 };

typedef struct cb_command {
    const char *group;   /* "data", or NULL for a top-level command */
    const char *name;
    const char *summary; /* one line for the command list */
    const char *usage;   /* the full --help text */
    int (*run)(int argc, char **argv);
} cb_command;

int cb_cmd_data_stats(int argc, char **argv);
int cb_cmd_data_convert(int argc, char **argv);
int cb_cmd_eval_csp(int argc, char **argv);
int cb_cmd_eval_dng(int argc, char **argv);
int cb_cmd_regress(int argc, char **argv);
int cb_cmd_run(int argc, char **argv);
int cb_cmd_table(int argc, char **argv);
int cb_cmd_plot(int argc, char **argv);
int cb_cmd_train(int argc, char **argv);
int cb_cmd_sample(int argc, char **argv);

extern const char cb_usage_data_stats[];
extern const char cb_usage_data_convert[];
extern const char cb_usage_eval_csp[];
extern const char cb_usage_eval_dng[];
extern const char cb_usage_regress[];
extern const char cb_usage_run[];
extern const char cb_usage_table[];
extern const char cb_usage_plot[];
extern const char cb_usage_train[];
extern const char cb_usage_sample[];

/* ---- shared by the evaluation commands (cli_run.c) ---- */

/* A run in the results store, or none (store NULL) with --no-db. */
typedef struct cb_cli_run {
    cb_store *store;
    int64_t id;
} cb_cli_run;

/* Opens the store (db, else $CB_DB, else ./crystalbench.db) and begins a run of
 * `model` (NULL = "external": the label of the table row) for `task`, named after the
 * reference file (its folder for <folder>/test.csv) with its SHA-256 and the command
 * line, split "external" (the files were made elsewhere).  With no_db nothing is
 * opened. */
int cb_cli_begin_run(int no_db, const char *db, const char *model, const char *task, const char *reference,
                     int argc, char **argv, cb_cli_run *r, cb_error *err);
/* Checks that the input and reference files exist ("cannot read the <what> file"),
 * then cb_cli_begin_run; prints any error.  Returns CB_EXIT_OK or CB_EXIT_FAIL. */
int cb_cli_start(const char *input, const char *input_what, const char *reference, const char *reference_what,
                 int no_db, const char *db, const char *model, const char *task, int argc, char **argv,
                 cb_cli_run *run);
/* Marks the run failed with the message; a store error then is only reported. */
void cb_cli_fail_run(cb_cli_run *r, const char *message);
/* cb_dataset_load with any layout; an empty file is an error naming `what`. */
int cb_cli_load(const char *path, const char *what, cb_dataset *ds, cb_error *err);

/* getopt helpers of the evaluation commands: the default worker count (the CPUs, at
 * most 64); --threads N in 1..256; the message for getopt's ':' (missing value) or
 * '?' (unknown option); after the loop, leftover arguments and --db with --no-db.
 * Each returns CB_EXIT_OK or CB_EXIT_USAGE (message printed). */
int cb_cli_default_threads(void);
int cb_cli_threads(const char *usage, const char *arg, int *out);
/* --model LABEL: 1..64 printable characters. */
int cb_cli_model_label(const char *usage, const char *arg);
/* --run ID (repeatable): appends ID, an integer >= 1, to the *n_ids ids of *ids, a
 * malloc'd array grown as needed (the caller frees it).  A bad ID is a usage error
 * "--run needs a run id (an integer >= 1), not '<arg>'"; out of memory is CB_EXIT_FAIL. */
int cb_cli_run_id(const char *usage, const char *arg, int64_t **ids, size_t *n_ids);
int cb_cli_bad_option(const char *usage, int ch, char **argv);
int cb_cli_after_options(const char *usage, int argc, char **argv, const char *db, int no_db);

/* True when argv holds -h or --help (before a "--"). */
int cb_wants_help(int argc, char **argv);
/* Prints "crystalbench: <message>" on stderr; returns CB_EXIT_USAGE. */
int cb_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
