/* The run pipeline (pipeline.h). */
#include "pipeline.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crystalbench/cif.h"
#include "crystalbench/hash.h"
#include "crystalbench/progress.h"
#include "crystalbench/store.h"
#include "score.h"
#include "split.h"

/* ---- interruption ---- */

static volatile sig_atomic_t g_stop;
static const volatile sig_atomic_t *g_stop_flag = &g_stop; /* the flag in use */

static void on_signal(int sig)
{
    static const char msg[] = "\ncrystalbench: stopping after the current step (again to kill)\n";
    g_stop = 1;
    signal(sig, SIG_DFL); /* a second one kills at once */
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

static int interrupted(cb_error *err)
{
    return *g_stop_flag ? cb_fail(err, CB_ERR_INTERRUPTED, "interrupted (run the same command again to resume)") : CB_OK;
}

/* ---- files ---- */

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* mkdir -p */
static int make_dirs(const char *path, cb_error *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return cb_fail(err, CB_ERR_IO, "%s: cannot create the directory: %s", buf, strerror(errno));
            if (!c) break;
            *p = c;
        }
    }
    return CB_OK;
}

/* ---- a job's identity ---- */

typedef struct job {
    const cb_plan *plan;
    const cb_plan_model *m;
    const cb_plan_dataset *d;
    unsigned task;
    char split[32];
    char test_hash[CB_SHA256_HEX];
    char *config;                   /* the identity text */
    char hash[CB_SHA256_HEX];
    char dir[4096], ckpt[4200], partial[4200], samples[4200], log[4200];
} job;

static int append(char **s, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int append(char **s, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*s ? *s + *len : NULL, *s ? *cap - *len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return -1;
        if (*s && *len + (size_t)n < *cap) {
            *len += (size_t)n;
            return 0;
        }
        size_t ncap = (*cap + (size_t)n + 1) * 2;
        char *g = realloc(*s, ncap);
        if (!g) return -1;
        *s = g;
        *cap = ncap;
    }
}

static long dng_samples(const job *j) { return j->m->dng_samples ? j->m->dng_samples : j->d->dng_samples; }

/* The text that identifies the job: everything its result depends on. */
static int job_identity(job *j, cb_error *err)
{
    const cb_plan_dataset *d = j->d;
    char h[3][CB_SHA256_HEX] = {"", "", ""};
    const char *files[3] = {d->train, d->val, d->test};
    for (int i = 0; i < 3; i++)
        if (files[i]) {
            int rc = cb_sha256_file_hex(files[i], h[i], err);
            if (rc) return rc;
        }
    memcpy(j->test_hash, h[2], sizeof j->test_hash);
    char *s = NULL;
    size_t len = 0, cap = 0;
    int bad = append(&s, &len, &cap, "crystalbench run job 1\nmodel_abi = %d\n[model %s]\n", CB_MODEL_ABI, j->m->label);
    for (size_t i = 0; i < j->m->section->n && !bad; i++)
        bad = append(&s, &len, &cap, "%s = %s\n", j->m->section->keys[i], j->m->section->values[i]);
    if (!bad)
        bad = append(&s, &len, &cap,
                     "[dataset %s]\ntrain = %s %s\nval = %s %s\ntest = %s %s\nsplit = %s\nsplit_seed = %u\n"
                     "holdout = %.17g\ntask = %s\nseed = %llu\n",
                     d->name, d->train ? d->train : "-", h[0], d->val ? d->val : "-", h[1], d->test, h[2], j->split,
                     j->plan->split_seed, j->plan->holdout, cb_task_name(j->task), (unsigned long long)j->plan->seed);
    if (!bad && j->task == CB_TASK_DNG)
        bad = append(&s, &len, &cap, "dng_samples = %ld\ndng_subset = %zu\ndng_protocol = %s\ncoverage = %s\n",
                     dng_samples(j), d->dng_subset, cb_dng_protocol_name(d->dng_protocol), d->coverage);
    if (!bad && j->task == CB_TASK_CSP)
        bad = append(&s, &len, &cap, "csp_targets = %ld\ncsp_k = %ld\ncsp_protocol = %s\n", d->csp_targets, d->csp_k,
                     cb_protocol_name(d->csp_protocol));
    if (bad) {
        free(s);
        return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    }
    j->config = s;
    cb_sha256_hex(s, len, j->hash);
    snprintf(j->dir, sizeof j->dir, "%s/%s/%s", j->plan->workdir, j->m->label, d->name);
    if (j->m->checkpoints)
        snprintf(j->ckpt, sizeof j->ckpt, "%s/%s-%s.ckpt", j->m->checkpoints, d->name, cb_task_name(j->task));
    else
        snprintf(j->ckpt, sizeof j->ckpt, "%s/%s-%.12s.ckpt", j->dir, cb_task_name(j->task), j->hash);
    snprintf(j->partial, sizeof j->partial, "%s/%s-%.12s.partial.ckpt", j->dir, cb_task_name(j->task), j->hash);
    snprintf(j->samples, sizeof j->samples, "%s/%s-%.12s.samples.csv", j->dir, cb_task_name(j->task), j->hash);
    if (j->m->checkpoints)
        snprintf(j->log, sizeof j->log, "%s/%s-%s.log.tsv", j->m->checkpoints, d->name, cb_task_name(j->task));
    else
        snprintf(j->log, sizeof j->log, "%s/%s-%.12s.log.tsv", j->dir, cb_task_name(j->task), j->hash);
    return CB_OK;
}

/* The id of a finished run of this job in the store, or 0. */
static int64_t finished_run(cb_store *s, const job *j, cb_error *err, int *rc)
{
    cb_run_filter f = {.model = j->m->label, .task = cb_task_name(j->task), .dataset = j->d->name,
                       .status = CB_RUN_DONE};
    cb_run *runs;
    size_t n;
    int64_t id = 0;
    *rc = cb_store_list_runs(s, &f, &runs, &n, err);
    for (size_t i = 0; !*rc && i < n; i++)
        if (runs[i].config_hash && strcmp(runs[i].config_hash, j->hash) == 0) id = runs[i].id;
    if (!*rc) cb_runs_free(runs, n);
    return id;
}

/* ---- data ---- */

typedef struct job_data {
    cb_dataset test, train_file, val_file; /* owned */
    cb_dataset train, val;                 /* views */
} job_data;

static void job_data_free(job_data *x)
{
    cb_dataset_view_free(&x->train);
    cb_dataset_view_free(&x->val);
    cb_dataset_free(&x->test);
    cb_dataset_free(&x->train_file);
    cb_dataset_free(&x->val_file);
}

static int load_nonempty(const char *path, const char *what, cb_dataset *ds, cb_error *err)
{
    int rc = cb_dataset_load(path, CB_FORMAT_AUTO, ds, err);
    if (!rc && ds->n == 0) rc = cb_fail(err, CB_ERR_INVALID, "%s: the %s file has no structures", path, what);
    return rc;
}

static int load_data(const job *j, job_data *x, cb_error *err)
{
    memset(x, 0, sizeof *x);
    const cb_plan_dataset *d = j->d;
    int rc = load_nonempty(d->test, "test", &x->test, err);
    if (!rc && d->val) rc = load_nonempty(d->val, "val", &x->val_file, err);
    if (!rc && d->train) rc = load_nonempty(d->train, "train", &x->train_file, err);
    if (rc) return rc;
    char name[CB_SPLIT_NAME];
    return cb_split_views(d->train ? &x->train_file : NULL, &x->val_file, j->plan->split_seed, j->plan->holdout,
                          &x->train, &x->val, name, err);
}

/* ---- the training log: to the store and to the job's .log.tsv ---- */

typedef struct train_log {
    cb_store *store;
    int64_t run_id;
    FILE *f;
} train_log;

static int log_point(void *user, long step, const char *const *names, const double *values, size_t n)
{
    train_log *t = user;
    cb_error err;
    if (cb_store_log_train(t->store, t->run_id, step, names, values, n, &err)) return -1;
    for (size_t i = 0; i < n && t->f; i++) fprintf(t->f, "%ld\t%s\t%.17g\n", step, names[i], values[i]);
    if (t->f) fflush(t->f);
    return 0;
}

/* A resumed job's curve comes from the file the training wrote; a torn last line
 * (killed mid-write) is skipped. */
static int replay_log(const job *j, cb_store *s, int64_t run_id, cb_error *err)
{
    FILE *f = fopen(j->log, "r");
    if (!f) return CB_OK;
    char line[512];
    int rc = CB_OK;
    while (!rc && fgets(line, sizeof line, f)) {
        long step;
        char name[128];
        double v;
        if (!strchr(line, '\n') || sscanf(line, "%ld\t%127s\t%lf", &step, name, &v) != 3) continue;
        const char *names[1] = {name};
        rc = cb_store_log_train(s, run_id, step, names, &v, 1, err);
    }
    fclose(f);
    return rc;
}

/* ---- the steps of a job ---- */

static int train_or_load(const job *j, const cb_pipeline_opts *o, void *state, job_data *x, cb_store *s,
                         int64_t run_id, cb_error *err)
{
    const cb_model_ops *ops = j->m->ops;
    if (!o->retrain && exists(j->ckpt)) {
        printf("  checkpoint   %s\n", j->ckpt);
        int rc = ops->load(state, j->ckpt, err);
        return rc ? rc : replay_log(j, s, run_id, err);
    }
    if (ops->flags & CB_MODEL_NO_TRAINING) {
        printf("  no training  (%s: structures made elsewhere)\n", ops->name);
        int rc = ops->train(state, &x->train, &x->val, NULL, err);
        return rc ? rc : ops->save(state, j->ckpt, err);
    }
    /* Training stopped by Ctrl-C left a partial checkpoint: continue from it. */
    int resumed = !o->retrain && exists(j->partial);
    if (resumed) {
        int rc = ops->load(state, j->partial, err);
        if (!rc) rc = replay_log(j, s, run_id, err);
        if (rc) return rc;
        printf("  resuming     training from %s\n", j->partial);
    }
    train_log tl = {s, run_id, fopen(j->log, resumed ? "a" : "w")};
    cb_progress bar;
    cb_progress_start(&bar, "training", 0);
    cb_train_ctx ctx = {.progress = &bar, .log = log_point, .user = &tl, .stop = g_stop_flag};
    if (!resumed) printf("  training     on %zu structures, validating on %zu (%s)\n", x->train.n, x->val.n, j->split);
    fflush(stdout);
    double t0 = cb_now();
    int rc = ops->train(state, &x->train, &x->val, &ctx, err);
    cb_progress_finish(&bar);
    if (tl.f) fclose(tl.f);
    if (rc == CB_ERR_INTERRUPTED) {
        cb_error serr;
        if (ops->save(state, j->partial, &serr) == CB_OK)
            printf("  interrupted  training saved to %s\n", j->partial);
        else
            printf("  interrupted  training not saved (%s)\n", serr.msg);
        return rc;
    }
    if (!rc) rc = ops->save(state, j->ckpt, err);
    if (!rc) {
        remove(j->partial);
        printf("  trained      in %.1f s -> %s\n", cb_now() - t0, j->ckpt);
    }
    return rc;
}

#define CHUNK 256

/* DNG samples or CSP predictions (k per target, consecutive), written to .samples.csv
 * in chunks that the progress bar and Ctrl-C see. */
static int generate(const job *j, void *state, const job_data *x, cb_error *err)
{
    const cb_plan_dataset *d = j->d;
    const cb_model_ops *ops = j->m->ops;
    size_t m = 0, k = 1, n;
    if (j->task == CB_TASK_DNG) {
        n = (size_t)dng_samples(j);
    } else {
        m = d->csp_targets > 0 && (size_t)d->csp_targets < x->test.n ? (size_t)d->csp_targets : x->test.n;
        k = (size_t)d->csp_k;
        n = m * k;
    }
    cb_crystal *out = calloc(n ? n : 1, sizeof *out), *targets = NULL;
    if (!out) return cb_fail(err, CB_ERR_NOMEM, "out of memory for %zu structures", n);
    int rc = CB_OK;
    if (j->task == CB_TASK_CSP) {
        /* Target i repeated k times (shallow copies), so that output i·k + r is the
         * r-th prediction for target i. */
        if (!(targets = malloc(n * sizeof *targets))) rc = cb_fail(err, CB_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !rc && i < n; i++) targets[i] = x->test.items[i / k];
    }
    cb_rng rng;
    cb_rng_seed(&rng, j->plan->seed);
    cb_progress bar;
    cb_progress_start(&bar, j->task == CB_TASK_DNG ? "sampling" : "predicting", n);
    for (size_t at = 0; !rc && at < n; at += CHUNK) {
        size_t c = n - at < CHUNK ? n - at : CHUNK;
        if (j->task == CB_TASK_DNG)
            rc = ops->sample_dng(state, c, &rng, out + at, err);
        else
            rc = ops->predict_csp(state, targets + at, c, &rng, out + at, err);
        for (size_t i = at; !rc && i < at + c; i++) {
            char what[64];
            snprintf(what, sizeof what, "%s output %zu", ops->name, i);
            rc = cb_crystal_check(&out[i], what, err);
            if (!rc && j->task == CB_TASK_CSP && x->test.items[i / k].id)
                rc = cb_crystal_set_id(&out[i], x->test.items[i / k].id, err);
        }
        if (!rc) rc = interrupted(err);
        cb_progress_update(&bar, at + c);
    }
    cb_progress_finish(&bar);
    if (!rc) rc = cb_dataset_write(j->samples, CB_FORMAT_CSV, out, n, err);
    for (size_t i = 0; i < n; i++) cb_crystal_free(&out[i]);
    free(out);
    free(targets);
    return rc;
}

static int store_samples(cb_store *s, int64_t run_id, const cb_dataset *ds, cb_error *err)
{
    char *cifs[CHUNK];
    int rc = CB_OK;
    for (size_t at = 0; !rc && at < ds->n; at += CHUNK) {
        size_t c = ds->n - at < CHUNK ? ds->n - at : CHUNK, made = 0;
        for (; !rc && made < c; made++) rc = cb_cif_write(&ds->items[at + made], &cifs[made], NULL, err);
        if (rc) made--;
        if (!rc) rc = cb_store_put_samples(s, run_id, (int64_t)at, (const char *const *)cifs, c, err);
        for (size_t i = 0; i < made; i++) free(cifs[i]);
    }
    return rc;
}

static int score(const job *j, const job_data *x, cb_store *s, int64_t run_id, cb_error *err)
{
    const cb_plan_dataset *d = j->d;
    cb_dataset out = {0};
    int rc = cb_dataset_load(j->samples, CB_FORMAT_CSV, &out, err);
    if (!rc) rc = store_samples(s, run_id, &out, err);
    if (!rc && j->task == CB_TASK_DNG) {
        cb_dng_opts o;
        cb_dng_opts_default(&o);
        o.protocol = d->dng_protocol;
        o.n_subsample = d->dng_subset;
        o.threads = j->plan->threads;
        cb_dng_cutoffs(d->coverage, &o.struct_cutoff, &o.comp_cutoff);
        cb_dng_result r;
        rc = cb_score_dng(&o, d->test, &x->test, out.items, out.n, s, run_id, &r, err);
        if (!rc)
            printf("  scored       validity comp %.2f%% struct %.2f%%, COV-R %.2f%% COV-P %.2f%%, W1 density "
                   "%.3f, W1 #elements %.3f\n",
                   100 * r.comp_valid, 100 * r.struct_valid, 100 * r.cov.cov_recall, 100 * r.cov.cov_precision,
                   r.wdist_density, r.wdist_num_elems);
    } else if (!rc) {
        size_t k = (size_t)d->csp_k, m = out.n / k;
        if (m * k != out.n || m > x->test.n)
            rc = cb_fail(err, CB_ERR_INVALID, "%s: %zu predictions are not %zu per target", j->samples, out.n, k);
        cb_csp_opts o;
        cb_csp_opts_default(&o);
        o.protocol = d->csp_protocol;
        o.threads = j->plan->threads;
        cb_progress bar;
        cb_progress_start(&bar, "matching", m);
        o.progress = &bar;
        cb_csp_result r;
        if (!rc) rc = cb_score_csp(&o, out.items, x->test.items, m, k, s, run_id, &r, err);
        cb_progress_finish(&bar);
        if (!rc)
            printf("  scored       match rate %.2f%% (%zu of %zu), RMSE %.4f\n", 100 * r.match_rate, r.n_matched,
                   r.n_targets, r.rms_dist);
    }
    cb_dataset_free(&out);
    return rc;
}

/* One job inside its run: every step, each skipped when its file is already there. */
static int run_job(const job *j, const cb_pipeline_opts *o, cb_store *s, int64_t run_id, cb_error *err)
{
    job_data x;
    void *state = NULL;
    int rc = load_data(j, &x, err);
    if (!rc) rc = make_dirs(j->dir, err);
    if (!rc && j->m->checkpoints) rc = make_dirs(j->m->checkpoints, err);
    if (!rc && (o->retrain || !exists(j->samples))) {
        cb_config cfg;
        rc = cb_plan_backend_config(j->m, j->d->name, j->task, &cfg, err);
        if (!rc) {
            rc = j->m->ops->create(&cfg, j->task, &state, err);
            cb_config_free(&cfg);
        }
        if (!rc) rc = train_or_load(j, o, state, &x, s, run_id, err);
        if (!rc) rc = interrupted(err);
        if (!rc) rc = generate(j, state, &x, err);
    } else if (!rc) {
        printf("  samples      %s\n", j->samples);
        rc = replay_log(j, s, run_id, err);
    }
    if (!rc) rc = interrupted(err);
    /* The metrics call LAPACK on 3×3 systems only: BLAS worker threads would spin for
     * nothing next to the scorers' own workers. */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    if (!rc) rc = score(j, &x, s, run_id, err);
    openblas_set_num_threads(blas_threads);
    j->m->ops->destroy(state);
    job_data_free(&x);
    return rc;
}

int cb_pipeline_run(const cb_plan *plan, const cb_pipeline_opts *o, cb_error *err)
{
    cb_store *s = NULL;
    int rc = cb_store_open(plan->db, &s, err);
    if (rc) return rc;
    g_stop = 0;
    g_stop_flag = o->stop ? o->stop : &g_stop;
    void (*old_int)(int) = o->stop ? NULL : signal(SIGINT, on_signal);
    void (*old_term)(int) = o->stop ? NULL : signal(SIGTERM, on_signal);
    size_t skipped = 0;
    for (size_t i = 0; i < plan->n_jobs && !rc; i++) {
        job j = {.plan = plan,
                 .m = &plan->models[plan->jobs[i].model],
                 .d = &plan->datasets[plan->jobs[i].dataset],
                 .task = plan->jobs[i].task};
        if (j.m->ops->flags & CB_MODEL_NO_TRAINING)
            snprintf(j.split, sizeof j.split, "external");
        else
            cb_plan_split_name(plan, j.d, j.split, sizeof j.split);
        if ((rc = interrupted(err))) break;
        rc = job_identity(&j, err);
        int64_t done = rc || o->retrain ? 0 : finished_run(s, &j, err, &rc);
        printf("[%zu/%zu] %s (%s) on %s, %s: ", i + 1, plan->n_jobs, j.m->label, j.m->ops->name, j.d->name,
               cb_task_name(j.task));
        if (rc) {
            printf("\n");
        } else if (done) {
            printf("done, run %lld\n", (long long)done);
            skipped++;
        } else if (o->dry_run) {
            printf("%s\n", exists(j.samples)   ? "to score"
                            : exists(j.ckpt)    ? "to sample"
                            : exists(j.partial) ? "to finish training"
                                                : "to train");
        } else {
            printf("run");
            cb_run_info info = {.model = j.m->label,
                                .task = cb_task_name(j.task),
                                .dataset = j.d->name,
                                .dataset_path = j.d->test,
                                .dataset_hash = j.test_hash,
                                .split = j.split,
                                .config = j.config,
                                .config_hash = j.hash,
                                .seed = plan->seed};
            int64_t run_id;
            rc = cb_store_begin_run(s, &info, &run_id, err);
            if (!rc) {
                printf(" %lld\n", (long long)run_id);
                fflush(stdout);
                rc = run_job(&j, o, s, run_id, err);
                if (rc) {
                    cb_error ferr;
                    if (cb_store_fail_run(s, run_id, err->msg, &ferr))
                        fprintf(stderr, "crystalbench: %s\n", ferr.msg);
                }
            } else {
                printf("\n");
            }
        }
        fflush(stdout);
        free(j.config);
    }
    if (!o->stop) {
        signal(SIGINT, old_int);
        signal(SIGTERM, old_term);
    }
    g_stop_flag = &g_stop;
    if (!rc && skipped == plan->n_jobs && !o->dry_run)
        printf("every job is done (results in %s; --retrain redoes them)\n", plan->db);
    cb_store_close(s);
    return rc;
}
