/* The command-line interface: one function per command, dispatched by harness/main.c.
 * Each takes the arguments after the command words (argv[0] = the command's name) and
 * returns the process exit status: 0 ok, 1 failure (bad input, failed run), 2 usage. */
#ifndef CRYSTALBENCH_CLI_H
#define CRYSTALBENCH_CLI_H

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

extern const char cb_usage_data_stats[];
extern const char cb_usage_data_convert[];
extern const char cb_usage_eval_csp[];

/* True when argv holds -h or --help (before a "--"). */
int cb_wants_help(int argc, char **argv);
/* Prints "crystalbench: <message>" on stderr; returns CB_EXIT_USAGE. */
int cb_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
