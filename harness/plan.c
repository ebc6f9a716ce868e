/* Reading a run configuration into a plan (plan.h).  Everything is checked here, so
 * that a typo fails in the first second rather than after an hour of training. */
#include "plan.h"
#include "split.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *cb_task_name(unsigned task) { return task == CB_TASK_CSP ? "csp" : "dng"; }

void cb_plan_split_name(const cb_plan *plan, const cb_plan_dataset *d, char *out, size_t cap)
{
    char name[CB_SPLIT_NAME];
    cb_split_name(d->train != NULL, plan->holdout, name);
    snprintf(out, cap, "%s", name);
}

static char *dup_or_null(const char *s, int *bad)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *bad = 1;
    return d;
}

/* "dng, csp" → task bits; 0 with an error for anything else or an empty list. */
static int parse_tasks(const cb_config *c, const char *key, unsigned *out, cb_error *err)
{
    const char *v = cb_config_get(c, key);
    *out = 0;
    if (!v) return CB_OK;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        if (strcmp(t, "dng") == 0)
            *out |= CB_TASK_DNG;
        else if (strcmp(t, "csp") == 0)
            *out |= CB_TASK_CSP;
        else
            return cb_fail(err, CB_ERR_USAGE, "%s: %s: unknown task '%s' (dng, csp)", c->source, key, t);
    }
    if (!*out) return cb_fail(err, CB_ERR_USAGE, "%s: %s: no task listed", c->source, key);
    return CB_OK;
}

/* A comma-separated list into a malloc'd array of strings. */
static int parse_list(const char *v, char ***out, size_t *n, cb_error *err)
{
    *out = NULL;
    *n = 0;
    char *buf = strdup(v);
    char **items = calloc(strlen(v) / 2 + 2, sizeof *items);
    if (!buf || !items) {
        free(buf);
        free(items);
        return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    }
    for (char *save = NULL, *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
        if (!(items[(*n)++] = strdup(t))) {
            for (size_t i = 0; i < *n; i++) free(items[i]);
            free(items);
            free(buf);
            *n = 0;
            return cb_fail(err, CB_ERR_NOMEM, "out of memory");
        }
    free(buf);
    *out = items;
    return CB_OK;
}

static int need_file(const cb_config *c, const char *key, const char *path, cb_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return cb_fail(err, CB_ERR_USAGE, "%s: %s: %s does not exist", c->source, key, path);
    return CB_OK;
}

static int read_run_section(cb_plan *p, const cb_config *c, cb_error *err)
{
    static const char *const known[] = {"db", "workdir", "seed", "split_seed", "holdout", "threads", NULL};
    long seed = 0, split_seed = 0, threads = p->threads;
    int rc = cb_config_check_keys(c, known, err);
    if (!rc) rc = cb_config_long(c, "seed", 0, 0, 2147483647L, &seed, err);
    if (!rc) rc = cb_config_long(c, "split_seed", 0, 0, 2147483647L, &split_seed, err);
    if (!rc) rc = cb_config_long(c, "threads", threads, 1, 256, &threads, err);
    if (rc) return rc;
    const char *h = cb_config_get(c, "holdout");
    if (h) {
        char *end;
        double v = strtod(h, &end);
        if (*end || end == h || !(v > 0 && v < 1))
            return cb_fail(err, CB_ERR_USAGE, "%s: holdout must be a fraction in (0, 1), not '%s'", c->source, h);
        p->holdout = v;
    }
    int bad = 0;
    const char *db = cb_config_get(c, "db"), *wd = cb_config_get(c, "workdir");
    if (db) {
        free(p->db);
        p->db = dup_or_null(db, &bad);
    }
    if (wd) {
        free(p->workdir);
        p->workdir = dup_or_null(wd, &bad);
    }
    p->seed = (uint64_t)seed;
    p->split_seed = (uint32_t)split_seed;
    p->threads = (int)threads;
    return bad ? cb_fail(err, CB_ERR_NOMEM, "out of memory") : CB_OK;
}

/* mp20 / carbon / perov from a dataset name like mp_20, carbon_24, perov_5. */
static const char *coverage_from_name(const char *name)
{
    static const char *const map[][2] = {{"mp_20", "mp20"}, {"mp20", "mp20"},   {"mpts_52", "mp20"},
                                         {"carbon", "carbon"}, {"perov", "perov"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strstr(name, map[i][0])) return map[i][1];
    return NULL;
}

static int read_dataset(cb_plan_dataset *d, const char *name, const cb_config *c, cb_error *err)
{
    static const char *const known[] = {"dir",         "train",       "val",          "test",   "tasks",
                                        "coverage",    "dng_samples", "dng_subset",   "dng_protocol",
                                        "csp_targets", "csp_k",       "csp_protocol", NULL};
    int rc = cb_config_check_keys(c, known, err);
    if (rc) return rc;
    int bad = 0;
    d->name = dup_or_null(name, &bad);
    const char *dir = cb_config_get(c, "dir");
    const char *paths[3] = {cb_config_get(c, "train"), cb_config_get(c, "val"), cb_config_get(c, "test")};
    static const char *const keys[3] = {"train", "val", "test"};
    char *out[3] = {0};
    for (int i = 0; i < 3; i++) {
        char buf[4096];
        if (paths[i]) {
            out[i] = dup_or_null(paths[i], &bad);
        } else if (dir) {
            snprintf(buf, sizeof buf, "%s/%s.csv", dir, keys[i]);
            struct stat sb;
            if (i > 0 || stat(buf, &sb) == 0) out[i] = dup_or_null(buf, &bad);
        }
    }
    d->train = out[0], d->val = out[1], d->test = out[2];
    if (bad) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    if (!d->test) return cb_fail(err, CB_ERR_USAGE, "%s: needs dir = DIR or test = FILE", c->source);
    if (!d->train && !d->val)
        return cb_fail(err, CB_ERR_USAGE, "%s: needs a train or a val file to train on", c->source);
    for (int i = 0; i < 3; i++)
        if (out[i] && (rc = need_file(c, keys[i], out[i], err))) return rc;
    if ((rc = parse_tasks(c, "tasks", &d->tasks, err))) return rc;
    if (!d->tasks) d->tasks = CB_TASK_DNG | CB_TASK_CSP;
    const char *cov = cb_config_get(c, "coverage");
    if (!cov) cov = coverage_from_name(name);
    double sc, cc;
    if ((d->tasks & CB_TASK_DNG) && (!cov || cb_dng_cutoffs(cov, &sc, &cc)))
        return cb_fail(err, CB_ERR_USAGE, "%s: coverage: give mp20, carbon or perov (cannot tell from '%s')",
                       c->source, cov ? cov : name);
    snprintf(d->coverage, sizeof d->coverage, "%s", cov ? cov : "");
    if (!rc) rc = cb_config_long(c, "dng_samples", 1000, 1, 10000000L, &d->dng_samples, err);
    if (!rc) rc = cb_config_long(c, "csp_targets", 0, 0, 100000000L, &d->csp_targets, err);
    if (!rc) rc = cb_config_long(c, "csp_k", 1, 1, 1000, &d->csp_k, err);
    if (rc) return rc;
    const char *subset = cb_config_get(c, "dng_subset");
    d->dng_subset = 1000;
    if (subset && strcmp(subset, "all") == 0) {
        d->dng_subset = 0;
    } else if (subset) {
        long v;
        if ((rc = cb_config_long(c, "dng_subset", 1000, 1, 100000000L, &v, err))) return rc;
        d->dng_subset = (size_t)v;
    }
    const char *dp = cb_config_get(c, "dng_protocol"), *cp = cb_config_get(c, "csp_protocol");
    d->dng_protocol = CB_DNG_CDVAE;
    if (dp && cb_dng_protocol_from_name(dp, &d->dng_protocol))
        return cb_fail(err, CB_ERR_USAGE, "%s: dng_protocol: '%s' is not cdvae, flowmm or ctl", c->source, dp);
    d->csp_protocol = CB_PROTOCOL_DIFFCSP;
    if (cp && cb_protocol_from_name(cp, &d->csp_protocol))
        return cb_fail(err, CB_ERR_USAGE, "%s: csp_protocol: '%s' is not cdvae, diffcsp or flowmm", c->source, cp);
    return CB_OK;
}

static int read_model(cb_plan_model *m, const char *label, const cb_config *c, cb_error *err)
{
    int bad = 0;
    m->label = dup_or_null(label, &bad);
    m->section = c;
    if (bad) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    if (!label[0] || strlen(label) > 64 || strchr(label, '/'))
        return cb_fail(err, CB_ERR_USAGE, "%s: a model label is 1..64 characters without '/'", c->source);
    const char *backend = cb_config_get(c, "backend");
    if (!backend) return cb_fail(err, CB_ERR_USAGE, "%s: backend = NAME is required", c->source);
    if (!(m->ops = cb_model_find(backend))) {
        char names[256] = "";
        for (size_t i = 0; i < cb_model_count(); i++) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", cb_model_at(i)->name);
        }
        return cb_fail(err, CB_ERR_USAGE, "%s: backend: no backend '%s' (%s)", c->source, backend, names);
    }
    if (m->ops->abi_version != CB_MODEL_ABI)
        return cb_fail(err, CB_ERR_USAGE, "%s: backend %s was built for model ABI %d, not %d", c->source, backend,
                       m->ops->abi_version, CB_MODEL_ABI);
    int rc = parse_tasks(c, "tasks", &m->tasks, err);
    if (!rc && (m->tasks & ~m->ops->tasks))
        rc = cb_fail(err, CB_ERR_USAGE, "%s: tasks: backend %s does not do %s", c->source, backend,
                     cb_task_name(m->tasks & ~m->ops->tasks));
    const char *ds = cb_config_get(c, "datasets");
    if (!rc && ds) rc = parse_list(ds, &m->datasets, &m->n_datasets, err);
    if (!rc) rc = cb_config_long(c, "dng_samples", 0, 1, 10000000L, &m->dng_samples, err);
    const char *ck = cb_config_get(c, "checkpoints");
    if (!rc && ck && !*ck) rc = cb_fail(err, CB_ERR_USAGE, "%s: checkpoints: an empty folder name", c->source);
    if (!rc && ck && !(m->checkpoints = strdup(ck))) rc = cb_fail(err, CB_ERR_NOMEM, "out of memory");
    if (!rc) rc = cb_config_init(&m->backend_cfg, c->source, err);
    for (size_t i = 0; i < c->n && !rc; i++) {
        const char *k = c->keys[i];
        if (strcmp(k, "backend") && strcmp(k, "datasets") && strcmp(k, "tasks") && strcmp(k, "dng_samples") &&
            strcmp(k, "checkpoints") && !strchr(k, '.')) /* scoped keys: cb_plan_backend_config */
            rc = cb_config_set(&m->backend_cfg, k, c->values[i], err);
    }
    return rc;
}

int cb_plan_key_scope(const char *key, const char *dataset, unsigned task, const char **base)
{
    const char *dot = strchr(key, '.');
    *base = key;
    if (!dot) return 0;
    int rank = 1;
    size_t n = (size_t)(dot - key);
    if (!(n == 3 && (strncmp(key, "dng", 3) == 0 || strncmp(key, "csp", 3) == 0))) {
        if (!dataset || strlen(dataset) != n || strncmp(key, dataset, n) != 0) return -1;
        key = dot + 1;
        if (!(dot = strchr(key, '.')) || dot - key != 3 || (strncmp(key, "dng", 3) && strncmp(key, "csp", 3))) {
            *base = key;
            return *key ? 2 : -1;
        }
        rank = 3;
    }
    if (strncmp(key, cb_task_name(task), 3) != 0 || !dot[1]) return -1;
    *base = dot + 1;
    return rank;
}

int cb_plan_backend_config(const cb_plan_model *m, const char *dataset, unsigned task, cb_config *out,
                           cb_error *err)
{
    int rc = cb_config_init(out, m->backend_cfg.source, err);
    for (size_t i = 0; i < m->backend_cfg.n && !rc; i++)
        rc = cb_config_set(out, m->backend_cfg.keys[i], m->backend_cfg.values[i], err);
    for (int rank = 1; rank <= 3; rank++)
        for (size_t i = 0; i < m->section->n && !rc; i++) {
            const char *base;
            if (cb_plan_key_scope(m->section->keys[i], dataset, task, &base) == rank &&
                !(rank == 2 && strcmp(base, "tasks") == 0)) /* DATASET.tasks: make_jobs */
                rc = cb_config_set(out, base, m->section->values[i], err);
        }
    if (rc) cb_config_free(out);
    return rc;
}

static int model_wants(const cb_plan_model *m, const cb_plan_dataset *d)
{
    if (!m->datasets) return 1;
    for (size_t i = 0; i < m->n_datasets; i++)
        if (strcmp(m->datasets[i], d->name) == 0) return 1;
    return 0;
}

static int make_jobs(cb_plan *p, cb_error *err)
{
    for (size_t i = 0; i < p->n_models; i++)
        for (size_t j = 0; j < p->models[i].n_datasets; j++) {
            size_t k = 0;
            while (k < p->n_datasets && strcmp(p->datasets[k].name, p->models[i].datasets[j]) != 0) k++;
            if (k == p->n_datasets)
                return cb_fail(err, CB_ERR_USAGE, "%s: datasets: no [dataset %s] section",
                               p->models[i].section->source, p->models[i].datasets[j]);
        }
    p->jobs = calloc(2 * p->n_models * p->n_datasets + 1, sizeof *p->jobs);
    if (!p->jobs) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    static const unsigned tasks[] = {CB_TASK_DNG, CB_TASK_CSP};
    for (size_t i = 0; i < p->n_models; i++)
        for (size_t j = 0; j < p->n_datasets; j++)
            for (size_t t = 0; t < 2; t++) {
                const cb_plan_model *m = &p->models[i];
                unsigned want = m->tasks ? m->tasks : m->ops->tasks, own;
                char key[256];
                snprintf(key, sizeof key, "%s.tasks", p->datasets[j].name);
                int rc = parse_tasks(m->section, key, &own, err);
                if (rc) return rc;
                if (own & ~m->ops->tasks)
                    return cb_fail(err, CB_ERR_USAGE, "%s: %s: backend %s does not do %s", m->section->source, key,
                                   m->ops->name, cb_task_name(own & ~m->ops->tasks));
                if (own) want = own;
                if ((want & tasks[t]) && (p->datasets[j].tasks & tasks[t]) && model_wants(m, &p->datasets[j]))
                    p->jobs[p->n_jobs++] = (cb_plan_job){i, j, tasks[t]};
            }
    if (!p->n_jobs) return cb_fail(err, CB_ERR_USAGE, "%s: no (model, dataset, task) to run", p->file.path);
    return CB_OK;
}

/* Every scoped key (TASK.KEY, DATASET.KEY, DATASET.TASK.KEY) applies to at least one
 * of its model's jobs, and the backend accepts each job's configuration: checked now,
 * not after the jobs before it have run. */
static int check_backend_configs(const cb_plan *p, cb_error *err)
{
    for (size_t i = 0; i < p->n_models; i++) {
        const cb_plan_model *m = &p->models[i];
        for (size_t k = 0; k < m->section->n; k++) {
            const char *key = m->section->keys[k], *base;
            if (!strchr(key, '.')) continue;
            int applies = 0;
            for (size_t j = 0; j < p->n_jobs && !applies; j++)
                applies = p->jobs[j].model == i &&
                          cb_plan_key_scope(key, p->datasets[p->jobs[j].dataset].name, p->jobs[j].task, &base) > 0;
            if (!applies)
                return cb_fail(err, CB_ERR_USAGE,
                               "%s: %s: not TASK.KEY, DATASET.KEY or DATASET.TASK.KEY for a job this model runs",
                               m->section->source, key);
        }
    }
    for (size_t j = 0; j < p->n_jobs; j++) {
        const cb_plan_model *m = &p->models[p->jobs[j].model];
        cb_config cfg;
        void *probe = NULL;
        int rc = cb_plan_backend_config(m, p->datasets[p->jobs[j].dataset].name, p->jobs[j].task, &cfg, err);
        if (rc) return rc;
        rc = m->ops->create(&cfg, p->jobs[j].task, &probe, err);
        if (!rc) m->ops->destroy(probe);
        cb_config_free(&cfg);
        if (rc) return rc;
    }
    return CB_OK;
}

int cb_plan_load(const char *path, cb_plan *p, cb_error *err)
{
    memset(p, 0, sizeof *p);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    p->threads = ncpu > 0 ? (int)(ncpu < 64 ? ncpu : 64) : 1;
    p->holdout = 0.1;
    const char *env_db = getenv("CB_DB");
    int bad = 0;
    p->db = dup_or_null(env_db && env_db[0] ? env_db : "crystalbench.db", &bad);
    p->workdir = dup_or_null("runs", &bad);
    int rc = bad ? cb_fail(err, CB_ERR_NOMEM, "out of memory") : cb_config_file_load(path, &p->file, err);
    if (!rc) {
        p->datasets = calloc(p->file.n + 1, sizeof *p->datasets);
        p->models = calloc(p->file.n + 1, sizeof *p->models);
        if (!p->datasets || !p->models) rc = cb_fail(err, CB_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < p->file.n && !rc; i++) {
        const char *name = p->file.names[i];
        const cb_config *c = &p->file.sections[i];
        if (strcmp(name, "run") == 0) {
            rc = read_run_section(p, c, err);
        } else if (strncmp(name, "dataset ", 8) == 0) {
            const char *dn = name + 8;
            for (size_t j = 0; j < p->n_datasets && !rc; j++)
                if (strcmp(p->datasets[j].name, dn) == 0) rc = cb_fail(err, CB_ERR_USAGE, "%s: repeated", c->source);
            if (!rc) rc = read_dataset(&p->datasets[p->n_datasets++], dn, c, err);
        } else if (strncmp(name, "model ", 6) == 0) {
            const char *label = name + 6;
            for (size_t j = 0; j < p->n_models && !rc; j++)
                if (strcmp(p->models[j].label, label) == 0) rc = cb_fail(err, CB_ERR_USAGE, "%s: repeated", c->source);
            if (!rc) rc = read_model(&p->models[p->n_models++], label, c, err);
        } else if (name[0] || c->n) {
            rc = cb_fail(err, CB_ERR_USAGE, "%s: unknown section (run, dataset NAME, model LABEL)", c->source);
        }
    }
    if (!rc && !p->n_datasets) rc = cb_fail(err, CB_ERR_USAGE, "%s: no [dataset NAME] section", path);
    if (!rc && !p->n_models) rc = cb_fail(err, CB_ERR_USAGE, "%s: no [model LABEL] section", path);
    if (!rc) rc = make_jobs(p, err);
    if (!rc) rc = check_backend_configs(p, err);
    if (rc) cb_plan_free(p);
    return rc;
}

void cb_plan_free(cb_plan *p)
{
    for (size_t i = 0; i < p->n_datasets; i++) {
        cb_plan_dataset *d = &p->datasets[i];
        free(d->name);
        free(d->train);
        free(d->val);
        free(d->test);
    }
    for (size_t i = 0; i < p->n_models; i++) {
        cb_plan_model *m = &p->models[i];
        free(m->label);
        free(m->checkpoints);
        for (size_t j = 0; j < m->n_datasets; j++) free(m->datasets[j]);
        free(m->datasets);
        if (m->backend_cfg.source) cb_config_free(&m->backend_cfg);
    }
    free(p->datasets);
    free(p->models);
    free(p->jobs);
    free(p->db);
    free(p->workdir);
    cb_config_file_free(&p->file);
    memset(p, 0, sizeof *p);
}
