/* crystalbench eval dng: de novo generation metrics of a sample file against a
 * reference set (metrics/dng.c), printed as a table or one JSON object and recorded in
 * the results store.  The reference set's records (validity, fingerprints) are cached
 * in the store under the reference file's SHA-256, so a second evaluation against the
 * same test set fingerprints only the samples. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "crystalbench/dng.h"
#include "crystalbench/hash.h"
#include "score.h"

const char cb_usage_eval_dng[] =
    "usage: crystalbench eval dng --samples S --reference T [--dataset NAME] [--protocol NAME]\n"
    "                             [--subset N|all] [--seed N] [--json] [--db FILE | --no-db]\n"
    "                             [--model LABEL] [--threads N]\n"
    "\n"
    "De novo generation metrics (metrics.md 1.3): validity (SMACT composition, 0.5 A\n"
    "minimum distance, volume) over all samples; coverage COV-R / COV-P with AMSD / AMCD\n"
    "(CrystalNN and Magpie fingerprints, the dataset's cutoffs) of the samples against\n"
    "the reference set; Wasserstein distances of density and of the number of elements\n"
    "and the composition / structure diversity over a random subset of the valid samples.\n"
    "\n"
    "  --samples S       generated structures (CSV with a 'cif' column, .csv.gz, folder\n"
    "                    of CIFs, .cif, extxyz)\n"
    "  --reference T     reference structures, normally the test split\n"
    "  --dataset NAME    coverage cutoffs: mp20 (0.4 / 10), carbon or perov (0.2 / 4);\n"
    "                    default: from T's folder name (mp_20, carbon_24, perov_5)\n"
    "  --protocol NAME   cdvae (default; also DiffCSP's), flowmm, or ctl\n"
    "                    (crystal-text-llm: only valid crystals are fingerprinted)\n"
    "  --subset N|all    valid samples drawn for the property metrics (default 1000,\n"
    "                    as published; ctl always uses all)\n"
    "  --seed N          seed of that draw (numpy RandomState; default 0)\n"
    "  --json            print one JSON object with the reference's metric names\n"
    "  --model LABEL     the model that wrote S: the row label in `crystalbench table`\n"
    "                    (default 'external')\n"
    "  --db FILE         results store (default: $CB_DB, else crystalbench.db); the run\n"
    "                    is recorded as task 'dng', dataset named after T\n"
    "  --no-db           do not record the run (nor cache the reference fingerprints)\n"
    "  --threads N       worker threads (default: the number of CPUs)\n"
    "\n"
    "Exit status: 0 done, 1 unreadable input or failed run, 2 usage.\n";

typedef struct dng_args {
    const char *samples, *reference, *db, *dataset, *model;
    cb_dng_opts o;
    int json, no_db;
} dng_args;

/* mp20 / carbon / perov from a path like .../mp_20/test.csv, or NULL. */
static const char *dataset_from_path(const char *path)
{
    static const char *const folders[][2] = {{"mp_20", "mp20"}, {"carbon_24", "carbon"}, {"perov_5", "perov"}};
    for (size_t i = 0; i < sizeof folders / sizeof folders[0]; i++)
        if (strstr(path, folders[i][0])) return folders[i][1];
    return NULL;
}

static int parse_args(int argc, char **argv, dng_args *a)
{
    static const struct option opts[] = {{"samples", required_argument, 0, 's'},
                                         {"reference", required_argument, 0, 'r'},
                                         {"dataset", required_argument, 0, 'D'},
                                         {"protocol", required_argument, 0, 'P'},
                                         {"subset", required_argument, 0, 'S'},
                                         {"seed", required_argument, 0, 'e'},
                                         {"json", no_argument, 0, 'j'},
                                         {"db", required_argument, 0, 'd'},
                                         {"no-db", no_argument, 0, 'n'},
                                         {"model", required_argument, 0, 'm'},
                                         {"threads", required_argument, 0, 'T'},
                                         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    cb_dng_opts_default(&a->o);
    a->o.threads = cb_cli_default_threads();
    char *end;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 's': a->samples = optarg; break;
        case 'r': a->reference = optarg; break;
        case 'D': a->dataset = optarg; break;
        case 'd': a->db = optarg; break;
        case 'j': a->json = 1; break;
        case 'n': a->no_db = 1; break;
        case 'm':
            if (cb_cli_model_label(cb_usage_eval_dng, optarg)) return CB_EXIT_USAGE;
            a->model = optarg;
            break;
        case 'P':
            if (cb_dng_protocol_from_name(optarg, &a->o.protocol))
                return cb_usage_error(cb_usage_eval_dng, "unknown protocol '%s' (cdvae, flowmm, ctl)", optarg);
            break;
        case 'S':
            if (strcmp(optarg, "all") == 0) {
                a->o.n_subsample = 0;
            } else {
                long v = strtol(optarg, &end, 10);
                if (*end || end == optarg || v < 1)
                    return cb_usage_error(cb_usage_eval_dng, "--subset needs a count >= 1 or 'all', not '%s'", optarg);
                a->o.n_subsample = (size_t)v;
            }
            break;
        case 'e': {
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || end == optarg || optarg[0] == '-' || v > UINT32_MAX)
                return cb_usage_error(cb_usage_eval_dng, "--seed needs an integer in 0..4294967295, not '%s'", optarg);
            a->o.seed = (uint32_t)v;
            break;
        }
        case 'T':
            if (cb_cli_threads(cb_usage_eval_dng, optarg, &a->o.threads)) return CB_EXIT_USAGE;
            break;
        default: return cb_cli_bad_option(cb_usage_eval_dng, ch, argv);
        }
    }
    if (cb_cli_after_options(cb_usage_eval_dng, argc, argv, a->db, a->no_db)) return CB_EXIT_USAGE;
    if (!a->samples || !a->reference)
        return cb_usage_error(cb_usage_eval_dng, "eval dng needs --samples and --reference");
    if (!a->dataset && !(a->dataset = dataset_from_path(a->reference)))
        return cb_usage_error(cb_usage_eval_dng, "cannot tell the dataset from '%s': give --dataset mp20|carbon|perov",
                              a->reference);
    if (cb_dng_cutoffs(a->dataset, &a->o.struct_cutoff, &a->o.comp_cutoff))
        return cb_usage_error(cb_usage_eval_dng, "unknown dataset '%s' (mp20, carbon, perov)", a->dataset);
    return CB_EXIT_OK;
}

/* ---- output ---- */

typedef struct metric {
    const char *name;
    double value;
} metric;

static int print_json(const dng_args *a, const metric *m, size_t k, const cb_cli_run *run)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return -1;
    for (size_t i = 0; i < k; i++) {
        if (isnan(m[i].value))
            cJSON_AddNullToObject(o, m[i].name);
        else
            cJSON_AddNumberToObject(o, m[i].name, m[i].value);
    }
    cJSON_AddStringToObject(o, "protocol", cb_dng_protocol_name(a->o.protocol));
    cJSON_AddStringToObject(o, "dataset", a->dataset);
    cJSON_AddNumberToObject(o, "seed", a->o.seed);
    if (run->store)
        cJSON_AddNumberToObject(o, "run_id", (double)run->id);
    else
        cJSON_AddNullToObject(o, "run_id");
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) return -1;
    puts(text);
    cJSON_free(text);
    return 0;
}

static void print_table(const dng_args *a, const cb_dng_result *r, const cb_cli_run *run, double seconds)
{
    printf("eval dng: %s vs %s (%s protocol, %s cutoffs %.2g / %.2g)\n", a->samples, a->reference,
           cb_dng_protocol_name(a->o.protocol), a->dataset, a->o.struct_cutoff, a->o.comp_cutoff);
    printf("  %-26s %9.2f %%   (%zu generated)\n", "validity, composition", 100 * r->comp_valid, r->n_gen);
    printf("  %-26s %9.2f %%\n", "validity, structure", 100 * r->struct_valid);
    printf("  %-26s %9.2f %%   (%zu valid)\n", "validity, both", 100 * r->valid, r->n_valid);
    printf("  %-26s %9.2f %%   (%zu references)\n", "COV-R (recall)", 100 * r->cov.cov_recall, r->n_gt);
    printf("  %-26s %9.2f %%\n", "COV-P (precision)", 100 * r->cov.cov_precision);
    printf("  %-26s %9.4f / %.4f\n", "AMSD recall / precision", r->cov.amsd_recall, r->cov.amsd_precision);
    printf("  %-26s %9.4f / %.4f\n", "AMCD recall / precision", r->cov.amcd_recall, r->cov.amcd_precision);
    printf("  %-26s %9.4f g/cm3 (%zu valid samples)\n", "W1 density", r->wdist_density, r->n_subsample);
    printf("  %-26s %9.4f\n", "W1 number of elements", r->wdist_num_elems);
    if (a->o.protocol == CB_DNG_FLOWMM) printf("  %-26s %9.4f\n", "W1 n-ary (all samples)", r->wdist_nary);
    printf("  %-26s %9.4f / %.4f\n", "diversity comp / struct", r->comp_div, r->struct_div);
    printf("  %-26s %9.2f s\n", "time", seconds);
    if (run->store) printf("  run %lld in %s\n", (long long)run->id, cb_store_path(run->store));
}

/* ---- the command ---- */

static int evaluate(const dng_args *a, cb_cli_run *run, cb_dng_result *res, cb_error *err)
{
    cb_dataset samples = {0}, ref = {0};
    int rc = cb_cli_load(a->reference, "reference", &ref, err);
    if (!rc) rc = cb_cli_load(a->samples, "samples", &samples, err);
    if (!rc) rc = cb_score_dng(&a->o, a->reference, &ref, samples.items, samples.n, run->store, run->id, res, err);
    cb_dataset_free(&samples);
    cb_dataset_free(&ref);
    return rc;
}

int cb_cmd_eval_dng(int argc, char **argv)
{
    dng_args a;
    int st = parse_args(argc, argv, &a);
    if (st != CB_EXIT_OK) return st;
    double t0 = cb_now();
    cb_error err;
    cb_cli_run run;
    st = cb_cli_start(a.samples, "samples", a.reference, "reference", a.no_db, a.db, a.model, "dng", argc, argv, &run);
    if (st != CB_EXIT_OK) return st;
    cb_dng_result res;
    int rc = evaluate(&a, &run, &res, &err);
    metric m[CB_SCORE_MAX_METRICS];
    size_t k = 0;
    if (!rc) {
        const char *names[CB_SCORE_MAX_METRICS];
        double values[CB_SCORE_MAX_METRICS];
        k = cb_dng_metric_list(a.o.protocol, &res, names, values);
        for (size_t i = 0; i < k; i++) m[i] = (metric){names[i], values[i]};
    }
    int status = CB_EXIT_OK;
    if (rc) {
        fprintf(stderr, "crystalbench: %s\n", err.msg);
        cb_cli_fail_run(&run, err.msg);
        status = CB_EXIT_FAIL;
    } else if (a.json) {
        if (print_json(&a, m, k, &run)) {
            fprintf(stderr, "crystalbench: out of memory\n");
            status = CB_EXIT_FAIL;
        }
    } else {
        print_table(&a, &res, &run, cb_now() - t0);
    }
    cb_store_close(run.store);
    return status;
}
