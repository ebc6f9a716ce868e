/* crystalbench eval csp: match rate and RMSE of predicted structures against targets
 * (metrics/csp.c), printed as a table or one JSON object and recorded in the results
 * store. */
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
#include "crystalbench/csp.h"
#include "crystalbench/dataset.h"
#include "crystalbench/hash.h"
#include "crystalbench/progress.h"
#include "crystalbench/store.h"
#include "score.h"

const char cb_usage_eval_csp[] =
    "usage: crystalbench eval csp --pred P --target T [--k K] [--protocol NAME] [--no-validity]\n"
    "                             [--json] [--model LABEL] [--db FILE | --no-db] [--threads N]\n"
    "\n"
    "Crystal structure prediction metrics (metrics.md 1.2): each prediction is compared\n"
    "with its target by StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10).get_rms_dist;\n"
    "match rate = matched targets / all targets (an invalid or unmatched prediction is a\n"
    "miss), RMSE = mean normalised RMS distance over the matched targets.  With --k K\n"
    "each target has K predictions and counts as matched with the best of them (the\n"
    "multi-sample evaluation of DiffCSP/FlowMM: only the prediction's validity is\n"
    "checked).\n"
    "\n"
    "P and T are any readable layout (CSV with a 'cif' column, .csv.gz, a folder of\n"
    "CIFs, a .cif file, extxyz).  Pairing: by material_id (the id of each row) when\n"
    "every target id is distinct and the predictions carry exactly the target ids,\n"
    "each K times (a target's K predictions in file order); otherwise by order, where\n"
    "prediction rows iK+1 .. iK+K belong to target row i+1, and P must have K times\n"
    "as many rows as T.\n"
    "\n"
    "  --pred P          the predicted structures\n"
    "  --target T        the target (ground-truth) structures\n"
    "  --k K             predictions per target (default 1)\n"
    "  --protocol NAME   validity rules of cdvae | diffcsp | flowmm (default diffcsp):\n"
    "                    cdvae tries a pair when the prediction is valid, diffcsp and\n"
    "                    flowmm when both are (K = 1); flowmm also replaces predictions\n"
    "                    with an angle outside (50, 130) degrees by a dummy crystal\n"
    "                    (so a prediction's cell setting matters there)\n"
    "  --no-validity     try every pair whatever its validity (pure structure\n"
    "                    matching, not a reference protocol: under all three, SMACT-\n"
    "                    invalid targets are misses, e.g. 53 of perov_5's 3785)\n"
    "  --json            print one JSON object: match_rate (a fraction), rms_dist\n"
    "                    (null when nothing matched), n_targets, n_matched, n_valid\n"
    "                    (valid predictions), k, protocol, validity_gate,\n"
    "                    paired_by, run_id\n"
    "  --db FILE         results store (default: $CB_DB, else crystalbench.db in the\n"
    "                    current directory); the run is recorded as task 'csp',\n"
    "                    dataset named after T, with T's SHA-256\n"
    "  --model LABEL     the model that wrote P: the row label in `crystalbench table`\n"
    "                    (default 'external')\n"
    "  --no-db           do not record the run\n"
    "  --threads N       matcher threads (default: the number of CPUs)\n"
    "\n"
    "Exit status: 0 done, 1 unreadable input, count mismatch or failed run, 2 usage.\n";

typedef struct eval_args {
    const char *pred, *target, *db, *model;
    long k;
    cb_protocol protocol;
    int json, no_db, threads, no_gate;
} eval_args;

static int parse_args(int argc, char **argv, eval_args *a)
{
    static const struct option opts[] = {{"pred", required_argument, 0, 'p'},
                                         {"target", required_argument, 0, 't'},
                                         {"k", required_argument, 0, 'k'},
                                         {"protocol", required_argument, 0, 'P'},
                                         {"json", no_argument, 0, 'j'},
                                         {"no-validity", no_argument, 0, 'V'},
                                         {"db", required_argument, 0, 'd'},
                                         {"no-db", no_argument, 0, 'n'},
                                         {"model", required_argument, 0, 'm'},
                                         {"threads", required_argument, 0, 'T'},
                                         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->k = 1;
    a->protocol = CB_PROTOCOL_DIFFCSP;
    a->threads = cb_cli_default_threads();
    char *end;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'p': a->pred = optarg; break;
        case 't': a->target = optarg; break;
        case 'd': a->db = optarg; break;
        case 'j': a->json = 1; break;
        case 'n': a->no_db = 1; break;
        case 'm':
            if (cb_cli_model_label(cb_usage_eval_csp, optarg)) return CB_EXIT_USAGE;
            a->model = optarg;
            break;
        case 'V': a->no_gate = 1; break;
        case 'k':
            a->k = strtol(optarg, &end, 10);
            if (*end || end == optarg || a->k < 1 || a->k > 100000)
                return cb_usage_error(cb_usage_eval_csp, "--k needs a count >= 1, not '%s'", optarg);
            break;
        case 'T':
            if (cb_cli_threads(cb_usage_eval_csp, optarg, &a->threads)) return CB_EXIT_USAGE;
            break;
        case 'P':
            if (cb_protocol_from_name(optarg, &a->protocol))
                return cb_usage_error(cb_usage_eval_csp, "unknown protocol '%s' (cdvae, diffcsp, flowmm)", optarg);
            break;
        default: return cb_cli_bad_option(cb_usage_eval_csp, ch, argv);
        }
    }
    if (cb_cli_after_options(cb_usage_eval_csp, argc, argv, a->db, a->no_db)) return CB_EXIT_USAGE;
    if (!a->pred || !a->target) return cb_usage_error(cb_usage_eval_csp, "eval csp needs --pred and --target");
    return CB_EXIT_OK;
}

/* ---- pairing ---- */

typedef struct id_slot {
    const char *id;
    size_t target;
} id_slot;

static int cmp_slot(const void *a, const void *b)
{
    return strcmp(((const id_slot *)a)->id, ((const id_slot *)b)->id);
}

/* Reorders the predictions by target when the ids pair them exactly (see the usage
 * text): out[i·k + j] = the j-th prediction (file order) whose id is target i's.
 * Returns 1 when paired by id, 0 when the ids do not pair (out untouched), -1 when out
 * of memory.  out holds shallow copies: the datasets keep ownership. */
static int pair_by_id(const cb_dataset *pred, const cb_dataset *target, size_t k, cb_crystal *out)
{
    size_t m = target->n;
    if (pred->n != m * k) return 0;
    for (size_t i = 0; i < m; i++)
        if (!target->items[i].id) return 0;
    for (size_t i = 0; i < pred->n; i++)
        if (!pred->items[i].id) return 0;
    id_slot *slots = malloc(m * sizeof *slots);
    size_t *filled = calloc(m, sizeof *filled);
    if (!slots || !filled) {
        free(slots);
        free(filled);
        return -1;
    }
    for (size_t i = 0; i < m; i++) slots[i] = (id_slot){target->items[i].id, i};
    qsort(slots, m, sizeof *slots, cmp_slot);
    int ok = 1;
    for (size_t i = 1; i < m && ok; i++) ok = strcmp(slots[i - 1].id, slots[i].id) != 0;
    for (size_t p = 0; p < pred->n && ok; p++) {
        id_slot key = {pred->items[p].id, 0};
        id_slot *hit = bsearch(&key, slots, m, sizeof *slots, cmp_slot);
        if (!hit || filled[hit->target] == k) {
            ok = 0;
            break;
        }
        filled[hit->target]++;
    }
    /* Counts are now exactly k each (pred->n = m·k and none exceeded k): place them. */
    if (ok) {
        memset(filled, 0, m * sizeof *filled);
        for (size_t p = 0; p < pred->n; p++) {
            id_slot key = {pred->items[p].id, 0};
            id_slot *hit = bsearch(&key, slots, m, sizeof *slots, cmp_slot);
            out[hit->target * k + filled[hit->target]++] = pred->items[p];
        }
    }
    free(slots);
    free(filled);
    return ok;
}

/* ---- output ---- */

static int print_json(const eval_args *a, const cb_csp_result *res, const char *paired_by, const cb_cli_run *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return -1;
    cJSON_AddNumberToObject(o, "match_rate", res->match_rate);
    if (isnan(res->rms_dist))
        cJSON_AddNullToObject(o, "rms_dist");
    else
        cJSON_AddNumberToObject(o, "rms_dist", res->rms_dist);
    cJSON_AddNumberToObject(o, "n_targets", (double)res->n_targets);
    cJSON_AddNumberToObject(o, "n_matched", (double)res->n_matched);
    cJSON_AddNumberToObject(o, "n_valid", (double)res->n_valid_pred);
    cJSON_AddNumberToObject(o, "k", (double)res->k);
    cJSON_AddStringToObject(o, "protocol", cb_protocol_name(a->protocol));
    cJSON_AddBoolToObject(o, "validity_gate", !a->no_gate);
    cJSON_AddStringToObject(o, "paired_by", paired_by);
    if (r->store)
        cJSON_AddNumberToObject(o, "run_id", (double)r->id);
    else
        cJSON_AddNullToObject(o, "run_id");
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) return -1;
    puts(text);
    cJSON_free(text);
    return 0;
}

static void print_table(const eval_args *a, const cb_csp_result *res, const char *paired_by, const cb_cli_run *r,
                        double seconds)
{
    printf("eval csp: %s vs %s (%s protocol%s, paired by %s)\n", a->pred, a->target,
           cb_protocol_name(a->protocol), a->no_gate ? " without validity gate" : "", paired_by);
    printf("  %-18s %8.2f %%   (%zu of %zu targets)\n", "match rate", 100.0 * res->match_rate, res->n_matched,
           res->n_targets);
    if (isnan(res->rms_dist))
        printf("  %-18s %8s\n", "RMSE", "n/a");
    else
        printf("  %-18s %8.4f\n", "RMSE", res->rms_dist);
    printf("  %-18s %8zu   of %zu (k = %zu per target)\n", "valid predictions", res->n_valid_pred, res->n_pred,
           res->k);
    printf("  %-18s %8zu   of %zu\n", "valid targets", res->n_valid_targets, res->n_targets);
    if (res->n_match_errors) printf("  %-18s %8zu   (counted as misses)\n", "matcher errors", res->n_match_errors);
    printf("  %-18s %8.2f s\n", "time", seconds);
    if (r->store) printf("  run %lld in %s\n", (long long)r->id, cb_store_path(r->store));
}

/* ---- the command ---- */

int cb_cmd_eval_csp(int argc, char **argv)
{
    eval_args a;
    int st = parse_args(argc, argv, &a);
    if (st != CB_EXIT_OK) return st;

    double t0 = cb_now();
    cb_error err;
    cb_cli_run run;
    st = cb_cli_start(a.pred, "prediction", a.target, "target", a.no_db, a.db, a.model, "csp", argc, argv, &run);
    if (st != CB_EXIT_OK) return st;

    cb_dataset pred = {0}, target = {0};
    cb_crystal *paired = NULL;
    const char *paired_by = "order";
    int rc = cb_cli_load(a.target, "target", &target, &err);
    if (!rc) rc = cb_cli_load(a.pred, "prediction", &pred, &err);
    size_t k = (size_t)a.k;
    if (!rc) {
        paired = malloc(pred.n * sizeof *paired);
        if (!paired) rc = cb_fail(&err, CB_ERR_NOMEM, "out of memory");
    }
    if (!rc) {
        int by_id = pair_by_id(&pred, &target, k, paired);
        if (by_id < 0) {
            rc = cb_fail(&err, CB_ERR_NOMEM, "out of memory");
        } else if (by_id) {
            paired_by = "material_id";
        } else if (pred.n != k * target.n) {
            rc = cb_fail(&err, CB_ERR_INVALID,
                         "%s has %zu structures but %s has %zu: with k = %zu it needs %zu rows "
                         "(k per target, in order or by material_id)",
                         a.pred, pred.n, a.target, target.n, k, k * target.n);
        } else {
            memcpy(paired, pred.items, pred.n * sizeof *paired);
        }
    }
    cb_csp_result res;
    if (!rc) {
        cb_csp_opts o;
        cb_csp_opts_default(&o);
        o.protocol = a.protocol;
        o.threads = a.threads;
        o.no_gate = a.no_gate;
        cb_progress bar;
        cb_progress_start(&bar, "matching", target.n);
        o.progress = &bar;
        rc = cb_score_csp(&o, paired, target.items, target.n, k, run.store, run.id, &res, &err);
        cb_progress_finish(&bar);
    }
    int status = CB_EXIT_OK;
    if (rc) {
        fprintf(stderr, "crystalbench: %s\n", err.msg);
        cb_cli_fail_run(&run, err.msg);
        status = CB_EXIT_FAIL;
    } else if (a.json) {
        if (print_json(&a, &res, paired_by, &run)) {
            fprintf(stderr, "crystalbench: out of memory\n");
            status = CB_EXIT_FAIL;
        }
    } else {
        print_table(&a, &res, paired_by, &run, cb_now() - t0);
    }
    free(paired);
    cb_dataset_free(&pred);
    cb_dataset_free(&target);
    cb_store_close(run.store);
    return status;
}
