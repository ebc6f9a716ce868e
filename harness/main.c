/* crystalbench: train, sample and score generative models of crystals.
 * This file only dispatches; each command lives in harness/cli_<group>.c. */
#include <cblas.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cb_command commands[] = {
    {"data", "stats", "count, elements, atoms per cell, density, space groups, unreadable rows",
     cb_usage_data_stats, cb_cmd_data_stats},
    {"data", "convert", "convert between CSV, a folder of CIFs, a CIF file and extxyz",
     cb_usage_data_convert, cb_cmd_data_convert},
    {"eval", "csp", "CSP match rate and RMSE of predictions against targets (StructureMatcher)",
     cb_usage_eval_csp, cb_cmd_eval_csp},
    {"eval", "dng", "de novo generation metrics of samples against a reference set (validity, coverage, W1)",
     cb_usage_eval_dng, cb_cmd_eval_dng},
    {NULL, "run", "train, sample, evaluate and store every model and dataset of a config file",
     cb_usage_run, cb_cmd_run},
    {NULL, "train", "train one backend for one task on a dataset folder; resumable, with a time budget",
     cb_usage_train, cb_cmd_train},
    {NULL, "sample", "DNG samples or CSP predictions of a trained checkpoint, written to a file",
     cb_usage_sample, cb_cmd_sample},
    {NULL, "regress", "compare a run's metrics with a committed baseline; exit 1 on a regression",
     cb_usage_regress, cb_cmd_regress},
    {NULL, "table", "comparison tables of the stored runs (md, tex, csv, html)", cb_usage_table, cb_cmd_table},
    {NULL, "plot", "gnuplot plots of the stored runs: DNG histograms and metrics, CSP RMS, loss curves",
     cb_usage_plot, cb_cmd_plot},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void print_overview(FILE *out)
{
    fprintf(out,
            "usage: crystalbench <command> [options]\n"
            "\n"
            "Benchmarks generative models of crystal structures (DNG and CSP protocols).\n"
            "\n"
            "commands:\n");
    for (int i = 0; i < n_commands; i++) {
        char full[64];
        snprintf(full, sizeof full, "%s%s%s", commands[i].group ? commands[i].group : "",
                 commands[i].group ? " " : "", commands[i].name);
        fprintf(out, "  %-16s %s\n", full, commands[i].summary);
    }
    fprintf(out,
            "\n"
            "crystalbench <command> --help shows a command's options.\n"
            "Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

int cb_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    }
    return 0;
}

int cb_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    fputs("crystalbench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (usage) {
        /* The first line of a usage text is its synopsis. */
        const char *nl = strchr(usage, '\n');
        fprintf(stderr, "%.*s\n", nl ? (int)(nl - usage) : (int)strlen(usage), usage);
    }
    return CB_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    /* Metrics call LAPACK on 3x3 systems only; OpenBLAS's worker threads would then
     * spin on the other core for nothing.  Commands that train set their own count. */
    openblas_set_num_threads(1);
    if (argc < 2) {
        print_overview(stderr);
        return CB_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        print_overview(stdout);
        return CB_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("crystalbench %s\n", CB_VERSION_STRING);
        return CB_EXIT_OK;
    }
    int group_found = 0;
    for (int i = 0; i < n_commands; i++) {
        const cb_command *c = &commands[i];
        if (c->group) {
            if (strcmp(argv[1], c->group) != 0) continue;
            group_found = 1;
            if (argc < 3 || strcmp(argv[2], c->name) != 0) continue;
            if (cb_wants_help(argc - 2, argv + 2)) {
                fputs(c->usage, stdout);
                return CB_EXIT_OK;
            }
            return c->run(argc - 2, argv + 2);
        }
        if (strcmp(argv[1], c->name) == 0) {
            if (cb_wants_help(argc - 1, argv + 1)) {
                fputs(c->usage, stdout);
                return CB_EXIT_OK;
            }
            return c->run(argc - 1, argv + 1);
        }
    }
    if (group_found) {
        fprintf(stderr, "crystalbench: '%s' needs a subcommand:", argv[1]);
        for (int i = 0; i < n_commands; i++)
            if (commands[i].group && strcmp(commands[i].group, argv[1]) == 0)
                fprintf(stderr, " %s", commands[i].name);
        fputc('\n', stderr);
        return CB_EXIT_USAGE;
    }
    fprintf(stderr, "crystalbench: unknown command '%s' (crystalbench --help lists them)\n", argv[1]);
    return CB_EXIT_USAGE;
}
