/* crystalbench train / sample: one backend, one dataset, outside a run config — for
 * training a model to commit, trying settings, or sampling from a checkpoint. */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "crystalbench/config.h"
#include "crystalbench/model.h"
#include "crystalbench/progress.h"
#include "plan.h"
#include "split.h"

const char cb_usage_train[] =
    "usage: crystalbench train BACKEND --task dng|csp --data DIR --out CKPT\n"
    "                          [--set KEY=VALUE]... [--config FILE --model LABEL [--dataset NAME]]\n"
    "                          [--budget MINUTES] [--threads N] [--split-seed N] [--holdout F]\n"
    "\n"
    "Trains a backend (flowmm, example, ...) for one task on a dataset folder and writes\n"
    "its checkpoint to CKPT and its training curve to CKPT.log.tsv (step, name, value).\n"
    "With DIR/train.csv the standard split trains and val.csv validates; without it the\n"
    "published validation split minus a seeded hold-out trains (the default protocol,\n"
    "../shared/data/README.md).  An existing CKPT of the same configuration is continued:\n"
    "Ctrl-C or --budget stop at a step boundary and save, and the same command resumes.\n"
    "\n"
    "  --set KEY=VALUE      a backend key (repeatable): --set epochs=50 --set hidden=128\n"
    "  --config FILE --model LABEL\n"
    "                       the backend keys of [model LABEL] in a run config (--set\n"
    "                       overrides them), with its NAME.KEY, TASK.KEY and\n"
    "                       NAME.TASK.KEY lines for this job; NAME defaults to the\n"
    "                       --data folder's name (mp_20 for data/mp_20)\n"
    "  --budget MINUTES     stop after this much wall time and save (exit 0); the\n"
    "                       checkpoint samples with what it has learned\n"
    "  --threads N          OpenBLAS threads (default: the CPUs)\n"
    "  --split-seed N, --holdout F   the hold-out split (default 0 and 0.1)\n"
    "\n"
    "Exit status: 0 trained (or stopped by the budget), 1 failure, 2 usage, 130 Ctrl-C.\n";

const char cb_usage_sample[] =
    "usage: crystalbench sample BACKEND --task dng|csp --ckpt CKPT --out FILE\n"
    "                           [--n N | --targets FILE] [--seed S]\n"
    "                           [--set KEY=VALUE]... [--config FILE --model LABEL [--dataset NAME]]\n"
    "\n"
    "Writes structures from a trained checkpoint to FILE (CSV in the CDVAE layout, a\n"
    "folder of CIFs, .cif or extxyz by its name): DNG draws --n samples (default 1000);\n"
    "CSP predicts one structure for each structure of --targets (its composition), with\n"
    "its material_id.  The backend keys must be those the checkpoint was trained with\n"
    "(sampling keys such as sample_steps or anneal_slope may differ).  Score the output\n"
    "with `crystalbench eval dng|csp`.\n"
    "\n"
    "Exit status: 0 written, 1 failure, 2 usage, 130 Ctrl-C.\n";

/* Keys of a [model] section that are the run's, not the backend's (plan.h). */
static const char *const plan_keys[] = {"backend", "datasets", "tasks", "dng_samples", "checkpoints", NULL};

static volatile sig_atomic_t g_stop, g_budget;

static void on_interrupt(int sig)
{
    g_stop = 1;
    signal(sig, SIG_DFL);
}

static void on_alarm(int sig)
{
    (void)sig;
    g_budget = 1;
    g_stop = 1;
}

/* Options both commands take. */
typedef struct common {
    const cb_model_ops *ops;
    unsigned task;
    cb_config cfg;
    const char *config_file, *model, *dataset; /* dataset: whose scoped keys apply */
} common;

static int parse_task(const char *usage, const char *arg, unsigned *task)
{
    if (strcmp(arg, "dng") == 0) *task = CB_TASK_DNG;
    else if (strcmp(arg, "csp") == 0) *task = CB_TASK_CSP;
    else return cb_usage_error(usage, "--task is dng or csp, not '%s'", arg);
    return CB_EXIT_OK;
}

static int add_set(const char *usage, common *c, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return cb_usage_error(usage, "--set needs KEY=VALUE, not '%s'", arg);
    char key[128];
    size_t n = (size_t)(eq - arg);
    if (n >= sizeof key) return cb_usage_error(usage, "--set: key too long in '%s'", arg);
    memcpy(key, arg, n);
    key[n] = 0;
    cb_error err;
    if (cb_config_set(&c->cfg, key, eq + 1, &err)) {
        fprintf(stderr, "crystalbench: %s\n", err.msg);
        return CB_EXIT_FAIL;
    }
    return CB_EXIT_OK;
}

/* The backend named by the first argument, then --config/--model keys under the --set
 * ones (which win: cb_config_set keeps the last value, so --config goes first). */
static int finish_common(const char *usage, common *c, int argc, char **argv)
{
    if (optind != argc - 1)
        return cb_usage_error(usage, optind == argc ? "name the BACKEND" : "unexpected argument '%s'",
                              argv[optind + (optind < argc - 1)]);
    if (!(c->ops = cb_model_find(argv[optind]))) return cb_usage_error(usage, "no backend '%s'", argv[optind]);
    if (!c->task) return cb_usage_error(usage, "--task dng|csp is required");
    if (!(c->ops->tasks & c->task))
        return cb_usage_error(usage, "backend %s does not do %s", c->ops->name, c->task == CB_TASK_DNG ? "dng" : "csp");
    if (!c->config_file != !c->model) return cb_usage_error(usage, "--config and --model go together");
    if (!c->config_file) return CB_EXIT_OK;
    cb_config_file f;
    cb_error err;
    if (cb_config_file_load(c->config_file, &f, &err)) {
        fprintf(stderr, "crystalbench: %s\n", err.msg);
        return CB_EXIT_FAIL;
    }
    char name[256];
    snprintf(name, sizeof name, "model %s", c->model);
    const cb_config *sec = cb_config_file_section(&f, name);
    int rc = CB_EXIT_OK;
    cb_config merged;
    if (!sec) {
        fprintf(stderr, "crystalbench: %s: no [%s] section\n", c->config_file, name);
        rc = CB_EXIT_FAIL;
    } else if (cb_config_get(sec, "backend") && strcmp(cb_config_get(sec, "backend"), c->ops->name) != 0) {
        fprintf(stderr, "crystalbench: %s [%s]: backend is %s, not %s\n", c->config_file, name,
                cb_config_get(sec, "backend"), c->ops->name);
        rc = CB_EXIT_FAIL;
    } else if (cb_config_init(&merged, sec->source, &err)) {
        rc = CB_EXIT_FAIL;
    } else {
        for (int rank = 0; rank <= 3; rank++) /* the more specific key wins, as in a run */
            for (size_t i = 0; i < sec->n && !rc; i++) {
                const char *base;
                int plan = 0;
                if (cb_plan_key_scope(sec->keys[i], c->dataset, c->task, &base) != rank) continue;
                for (const char *const *k = plan_keys; *k; k++) plan |= strcmp(*k, base) == 0;
                if (!plan && cb_config_set(&merged, base, sec->values[i], &err))
                    rc = CB_EXIT_FAIL;
            }
        for (size_t i = 0; i < c->cfg.n && !rc; i++)
            if (cb_config_set(&merged, c->cfg.keys[i], c->cfg.values[i], &err)) rc = CB_EXIT_FAIL;
        if (rc) {
            fprintf(stderr, "crystalbench: %s\n", err.msg);
            cb_config_free(&merged);
        } else {
            cb_config_free(&c->cfg);
            c->cfg = merged;
        }
    }
    cb_config_file_free(&f);
    return rc;
}

/* --task, --set, --config, --model and --dataset, which both commands take: 1 when ch was one of
 * them (*st then says whether it was well formed). */
static int common_option(const char *usage, common *c, int ch, const char *arg, int *st)
{
    switch (ch) {
    case 't': *st = parse_task(usage, arg, &c->task); return 1;
    case 's': *st = add_set(usage, c, arg); return 1;
    case 'c': c->config_file = arg; return 1;
    case 'm': c->model = arg; return 1;
    case 'D': c->dataset = arg; return 1;
    default: return 0;
    }
}

/* The exit status of a command that ended with rc (the message printed). */
static int exit_status(int rc, const cb_error *err)
{
    if (!rc) return CB_EXIT_OK;
    fprintf(stderr, "crystalbench: %s\n", err->msg);
    return rc == CB_ERR_INTERRUPTED ? 130 : rc == CB_ERR_USAGE ? CB_EXIT_USAGE : CB_EXIT_FAIL;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* The training curve, appended to CKPT.log.tsv. */
static int log_line(void *user, long step, const char *const *names, const double *values, size_t n)
{
    FILE *f = user;
    for (size_t i = 0; i < n && f; i++) fprintf(f, "%ld\t%s\t%.17g\n", step, names[i], values[i]);
    return f && fflush(f) != 0 ? -1 : 0;
}

typedef struct train_data {
    cb_dataset train_file, val_file; /* owned */
    cb_dataset train, val;           /* views */
} train_data;

static void train_data_free(train_data *d)
{
    cb_dataset_view_free(&d->train);
    cb_dataset_view_free(&d->val);
    cb_dataset_free(&d->train_file);
    cb_dataset_free(&d->val_file);
}

static int load_split(const char *dir, uint32_t seed, double holdout, train_data *d, char split[CB_SPLIT_NAME],
                      cb_error *err)
{
    memset(d, 0, sizeof *d);
    char tr[4200], va[4200];
    snprintf(tr, sizeof tr, "%s/train.csv", dir);
    snprintf(va, sizeof va, "%s/val.csv", dir);
    int standard = exists(tr), rc = cb_cli_load(va, "validation", &d->val_file, err);
    if (!rc && standard) rc = cb_cli_load(tr, "training", &d->train_file, err);
    if (!rc)
        rc = cb_split_views(standard ? &d->train_file : NULL, &d->val_file, seed, holdout, &d->train, &d->val, split,
                            err);
    return rc;
}

int cb_cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"task", required_argument, 0, 't'},    {"data", required_argument, 0, 'd'},
        {"out", required_argument, 0, 'o'},     {"set", required_argument, 0, 's'},
        {"config", required_argument, 0, 'c'},  {"model", required_argument, 0, 'm'},
        {"budget", required_argument, 0, 'b'},  {"threads", required_argument, 0, 'j'},
        {"split-seed", required_argument, 0, 'S'}, {"holdout", required_argument, 0, 'H'},
        {"dataset", required_argument, 0, 'D'}, {0, 0, 0, 0}};
    common c = {0};
    cb_error err;
    if (cb_config_init(&c.cfg, "--set", &err)) return CB_EXIT_FAIL;
    const char *data = NULL, *out = NULL;
    double budget = 0, holdout = 0.1;
    long split_seed = 0;
    int threads = cb_cli_default_threads(), ch, st = CB_EXIT_OK;
    optind = 1;
    opterr = 0;
    while (st == CB_EXIT_OK && (ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        char *end = NULL;
        if (common_option(cb_usage_train, &c, ch, optarg, &st)) continue;
        switch (ch) {
        case 'd': data = optarg; break;
        case 'o': out = optarg; break;
        case 'j': st = cb_cli_threads(cb_usage_train, optarg, &threads); break;
        case 'b':
            budget = strtod(optarg, &end);
            if (!end || *end || !(budget > 0) || budget > 1e6)
                st = cb_usage_error(cb_usage_train, "--budget needs minutes > 0, not '%s'", optarg);
            break;
        case 'S':
            split_seed = strtol(optarg, &end, 10);
            if (!end || *end || split_seed < 0 || split_seed > 0xffffffffL)
                st = cb_usage_error(cb_usage_train, "--split-seed needs an integer >= 0, not '%s'", optarg);
            break;
        case 'H':
            holdout = strtod(optarg, &end);
            if (!end || *end || !(holdout > 0 && holdout < 1))
                st = cb_usage_error(cb_usage_train, "--holdout needs a fraction in (0, 1), not '%s'", optarg);
            break;
        default: st = cb_cli_bad_option(cb_usage_train, ch, argv);
        }
    }
    char folder[256] = "";
    if (data && !c.dataset) { /* the folder's name: data/mp_20/ -> mp_20 */
        size_t end = strlen(data);
        while (end > 1 && data[end - 1] == '/') end--;
        size_t start = end;
        while (start > 0 && data[start - 1] != '/') start--;
        snprintf(folder, sizeof folder, "%.*s", (int)(end - start), data + start);
        c.dataset = folder;
    }
    if (st == CB_EXIT_OK) st = finish_common(cb_usage_train, &c, argc, argv);
    if (st == CB_EXIT_OK && (!data || !out))
        st = cb_usage_error(cb_usage_train, "--data DIR and --out CKPT are required");
    if (st != CB_EXIT_OK) {
        cb_config_free(&c.cfg);
        return st;
    }

    train_data d;
    char split[CB_SPLIT_NAME] = "";
    void *state = NULL;
    int rc = load_split(data, (uint32_t)split_seed, holdout, &d, split, &err);
    if (!rc) rc = c.ops->create(&c.cfg, c.task, &state, &err);
    int resumed = 0;
    if (!rc && exists(out)) {
        rc = c.ops->load(state, out, &err);
        if (rc) cb_error_prefix(&err, "cannot continue (remove it or choose another --out)");
        resumed = !rc;
    }
    char logpath[4300];
    snprintf(logpath, sizeof logpath, "%s.log.tsv", out);
    FILE *log = NULL;
    if (!rc && !(log = fopen(logpath, resumed ? "a" : "w")))
        rc = cb_fail(&err, CB_ERR_IO, "%s: cannot write: %s", logpath, strerror(errno));
    if (!rc) {
        printf("%s %s: training on %zu structures, validating on %zu (%s)%s\n", c.ops->name,
               c.task == CB_TASK_DNG ? "dng" : "csp", d.train.n, d.val.n, split, resumed ? ", continuing" : "");
        fflush(stdout);
        openblas_set_num_threads(threads);
        g_stop = g_budget = 0;
        void (*old_int)(int) = signal(SIGINT, on_interrupt);
        void (*old_alarm)(int) = signal(SIGALRM, on_alarm);
        if (budget > 0) alarm(budget * 60 < 1 ? 1 : (unsigned)(budget * 60 + 0.5)); /* whole seconds, at least 1 */
        cb_progress bar;
        cb_progress_start(&bar, "training", 0);
        cb_train_ctx ctx = {.progress = &bar, .log = log_line, .user = log, .stop = &g_stop};
        double t0 = cb_now();
        rc = c.ops->train(state, &d.train, &d.val, &ctx, &err);
        cb_progress_finish(&bar);
        alarm(0);
        signal(SIGINT, old_int);
        signal(SIGALRM, old_alarm);
        int stopped = rc == CB_ERR_INTERRUPTED;
        if (!rc || stopped) {
            cb_error serr;
            int src = c.ops->save(state, out, &serr);
            if (src) {
                rc = src;
                err = serr;
            } else {
                printf("%s after %.1f min -> %s\n", !stopped ? "trained" : g_budget ? "budget reached" : "interrupted",
                       (cb_now() - t0) / 60, out);
                if (stopped && g_budget) rc = CB_OK;
            }
        }
    }
    if (log) fclose(log);
    if (state) c.ops->destroy(state);
    train_data_free(&d);
    cb_config_free(&c.cfg);
    return exit_status(rc, &err);
}

#define CHUNK 256

int cb_cmd_sample(int argc, char **argv)
{
    static const struct option opts[] = {
        {"task", required_argument, 0, 't'},   {"ckpt", required_argument, 0, 'k'},
        {"out", required_argument, 0, 'o'},    {"n", required_argument, 0, 'n'},
        {"targets", required_argument, 0, 'T'}, {"seed", required_argument, 0, 'S'},
        {"set", required_argument, 0, 's'},    {"config", required_argument, 0, 'c'},
        {"model", required_argument, 0, 'm'},  {"dataset", required_argument, 0, 'D'},
        {0, 0, 0, 0}};
    common c = {0};
    cb_error err;
    if (cb_config_init(&c.cfg, "--set", &err)) return CB_EXIT_FAIL;
    const char *ckpt = NULL, *out = NULL, *targets_path = NULL;
    long n = 1000, seed = 0;
    int ch, st = CB_EXIT_OK;
    optind = 1;
    opterr = 0;
    while (st == CB_EXIT_OK && (ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        char *end = NULL;
        if (common_option(cb_usage_sample, &c, ch, optarg, &st)) continue;
        switch (ch) {
        case 'k': ckpt = optarg; break;
        case 'o': out = optarg; break;
        case 'T': targets_path = optarg; break;
        case 'n':
            n = strtol(optarg, &end, 10);
            if (!end || *end || n < 1 || n > 10000000L)
                st = cb_usage_error(cb_usage_sample, "--n needs a count in 1..10000000, not '%s'", optarg);
            break;
        case 'S':
            seed = strtol(optarg, &end, 10);
            if (!end || *end || seed < 0)
                st = cb_usage_error(cb_usage_sample, "--seed needs an integer >= 0, not '%s'", optarg);
            break;
        default: st = cb_cli_bad_option(cb_usage_sample, ch, argv);
        }
    }
    if (st == CB_EXIT_OK) st = finish_common(cb_usage_sample, &c, argc, argv);
    if (st == CB_EXIT_OK && (!ckpt || !out))
        st = cb_usage_error(cb_usage_sample, "--ckpt CKPT and --out FILE are required");
    if (st == CB_EXIT_OK && (c.task == CB_TASK_CSP) != (targets_path != NULL))
        st = cb_usage_error(cb_usage_sample, c.task == CB_TASK_CSP ? "csp needs --targets FILE"
                                                                   : "--targets is for csp");
    if (st != CB_EXIT_OK) {
        cb_config_free(&c.cfg);
        return st;
    }

    cb_dataset targets = {0};
    void *state = NULL;
    int rc = targets_path ? cb_cli_load(targets_path, "targets", &targets, &err) : CB_OK;
    size_t total = targets_path ? targets.n : (size_t)n;
    cb_crystal *res = rc ? NULL : calloc(total, sizeof *res);
    if (!rc && !res) rc = cb_fail(&err, CB_ERR_NOMEM, "out of memory for %zu structures", total);
    if (!rc) rc = c.ops->create(&c.cfg, c.task, &state, &err);
    if (!rc) rc = c.ops->load(state, ckpt, &err);
    cb_rng rng;
    cb_rng_seed(&rng, (uint64_t)seed);
    size_t made = 0;
    g_stop = 0;
    void (*old_int)(int) = signal(SIGINT, on_interrupt);
    cb_progress bar;
    cb_progress_start(&bar, c.task == CB_TASK_DNG ? "sampling" : "predicting", total);
    for (size_t at = 0; !rc && at < total; at += CHUNK) {
        size_t k = total - at < CHUNK ? total - at : CHUNK;
        rc = c.task == CB_TASK_DNG ? c.ops->sample_dng(state, k, &rng, res + at, &err)
                                   : c.ops->predict_csp(state, targets.items + at, k, &rng, res + at, &err);
        if (!rc) made = at + k;
        cb_progress_update(&bar, made);
        if (!rc && g_stop) rc = cb_fail(&err, CB_ERR_INTERRUPTED, "interrupted: nothing written");
    }
    cb_progress_finish(&bar);
    signal(SIGINT, old_int);
    if (!rc) rc = cb_dataset_write(out, CB_FORMAT_AUTO, res, total, &err);
    if (!rc) printf("%zu structures -> %s\n", total, out);
    for (size_t i = 0; i < made; i++) cb_crystal_free(&res[i]);
    free(res);
    if (state) c.ops->destroy(state);
    cb_dataset_free(&targets);
    cb_config_free(&c.cfg);
    return exit_status(rc, &err);
}
