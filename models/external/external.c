/* The external backend: "samples" written by any other program, read from files, so
 * that any model in any framework is scored by the same pipeline.
 *
 * Configuration:
 *   samples      = FILE   generated structures for DNG (any layout cb_dataset_load reads:
 *                         CSV with a cif column, .csv.gz, a folder of CIFs, .cif, extxyz)
 *   predictions  = FILE   predicted structures for CSP
 * sample_dng(n) returns the next n structures of the samples file (the first call the
 * first n); predict_csp pairs predictions with targets by material_id when every
 * target has an id found among the predictions, otherwise by order (continuing, like
 * sample_dng, where the previous call stopped).  Files are read on first use.  train() does nothing;
 * save() records the two paths (written whole or not at all), load() restores them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/atomic_file.h"
#include "crystalbench/model.h"

typedef struct external {
    char *samples, *predictions; /* paths or NULL */
    cb_dataset sample_set, prediction_set;
    int have_samples, have_predictions;
    /* Where the next call continues: the harness asks for its samples in chunks, and
     * each chunk must be the next rows of the file, not the first ones again. */
    size_t next_sample, next_prediction;
} external;

static void ext_destroy(void *state)
{
    external *x = state;
    if (!x) return;
    free(x->samples);
    free(x->predictions);
    if (x->have_samples) cb_dataset_free(&x->sample_set);
    if (x->have_predictions) cb_dataset_free(&x->prediction_set);
    free(x);
}

static int dup_path(const char *v, char **out, cb_error *err)
{
    *out = NULL;
    if (!v) return CB_OK;
    *out = strdup(v);
    return *out ? CB_OK : cb_fail(err, CB_ERR_NOMEM, "out of memory");
}

static int ext_create(const cb_config *cfg, unsigned task, void **state, cb_error *err)
{
    (void)task; /* samples and predictions come from their own files */
    static const char *const known[] = {"samples", "predictions", NULL};
    *state = NULL;
    int rc = cb_config_check_keys(cfg, known, err);
    if (rc) return rc;
    const char *s = cb_config_get(cfg, "samples"), *p = cb_config_get(cfg, "predictions");
    if (!s && !p) return cb_fail(err, CB_ERR_USAGE, "%s: external needs 'samples' or 'predictions'", cfg->source);
    external *x = calloc(1, sizeof *x);
    if (!x) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    if ((rc = dup_path(s, &x->samples, err)) || (rc = dup_path(p, &x->predictions, err))) {
        ext_destroy(x);
        return rc;
    }
    *state = x;
    return CB_OK;
}

static int ext_train(void *state, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx, cb_error *err)
{
    (void)state, (void)train, (void)val, (void)ctx, (void)err;
    return CB_OK; /* nothing to learn: the samples exist already */
}

/* The checkpoint is two lines: the samples path and the predictions path ("-" for none). */
static int ext_save(const void *state, const char *path, cb_error *err)
{
    const external *x = state;
    cb_atomic_file out;
    int rc = cb_atomic_open(&out, path, err);
    if (rc) return rc;
    fprintf(out.f, "crystalbench external 1\n%s\n%s\n", x->samples ? x->samples : "-",
            x->predictions ? x->predictions : "-");
    return cb_atomic_commit(&out, err);
}

static int ext_load(void *state, const char *path, cb_error *err)
{
    external *x = state;
    FILE *f = fopen(path, "r");
    if (!f) return cb_fail(err, CB_ERR_IO, "%s: cannot read the checkpoint", path);
    char line[3][4096];
    int ok = 1;
    for (int i = 0; i < 3 && ok; i++) {
        ok = fgets(line[i], sizeof line[i], f) != NULL;
        if (ok) line[i][strcspn(line[i], "\r\n")] = '\0';
    }
    fclose(f);
    if (!ok || strcmp(line[0], "crystalbench external 1") != 0)
        return cb_fail(err, CB_ERR_INVALID, "%s: not an external-backend checkpoint", path);
    char *s = NULL, *p = NULL;
    int rc = dup_path(strcmp(line[1], "-") ? line[1] : NULL, &s, err);
    if (!rc) rc = dup_path(strcmp(line[2], "-") ? line[2] : NULL, &p, err);
    if (rc) {
        free(s);
        return rc;
    }
    free(x->samples);
    free(x->predictions);
    x->samples = s;
    x->predictions = p;
    x->next_sample = x->next_prediction = 0;
    return CB_OK;
}

static int read_once(const char *path, const char *key, cb_dataset *ds, int *have, cb_error *err)
{
    if (*have) return CB_OK;
    if (!path) return cb_fail(err, CB_ERR_USAGE, "external: no '%s' file configured", key);
    int rc = cb_dataset_load(path, CB_FORMAT_AUTO, ds, err);
    if (!rc) *have = 1;
    return rc;
}

static int ext_sample_dng(void *state, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err)
{
    (void)rng;
    external *x = state;
    int rc = read_once(x->samples, "samples", &x->sample_set, &x->have_samples, err);
    if (rc) return rc;
    size_t at = x->next_sample;
    if (x->sample_set.n - at < n)
        return cb_fail(err, CB_ERR_INVALID, "%s: %zu structures, %zu requested", x->samples, x->sample_set.n, at + n);
    for (size_t i = 0; i < n; i++)
        if ((rc = cb_crystal_copy(&out[i], &x->sample_set.items[at + i], err))) {
            while (i > 0) cb_crystal_free(&out[--i]);
            return rc;
        }
    x->next_sample = at + n;
    return CB_OK;
}

/* The prediction for target t: the one with its id, else the i-th in file order. */
static const cb_crystal *pick(const cb_dataset *p, const cb_crystal *t, size_t i, int by_id)
{
    if (!by_id) return &p->items[i];
    for (size_t k = 0; k < p->n; k++)
        if (p->items[k].id && strcmp(p->items[k].id, t->id) == 0) return &p->items[k];
    return NULL;
}

static int ext_predict_csp(void *state, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out,
                           cb_error *err)
{
    (void)rng;
    external *x = state;
    int rc = read_once(x->predictions, "predictions", &x->prediction_set, &x->have_predictions, err);
    if (rc) return rc;
    int by_id = 1;
    size_t at = x->next_prediction;
    for (size_t i = 0; i < n && by_id; i++) by_id = targets[i].id && pick(&x->prediction_set, &targets[i], i, 1);
    if (!by_id && x->prediction_set.n - at < n)
        return cb_fail(err, CB_ERR_INVALID, "%s: %zu predictions for %zu targets (and not pairable by material_id)",
                       x->predictions, x->prediction_set.n, at + n);
    for (size_t i = 0; i < n; i++)
        if ((rc = cb_crystal_copy(&out[i], pick(&x->prediction_set, &targets[i], at + i, by_id), err))) {
            while (i > 0) cb_crystal_free(&out[--i]);
            return rc;
        }
    x->next_prediction = at + n;
    return CB_OK;
}

const cb_model_ops cb_model_external = {
    .abi_version = CB_MODEL_ABI,
    .name = "external",
    .summary = "structures written by any other program, read from files",
    .tasks = CB_TASK_DNG | CB_TASK_CSP,
    .flags = CB_MODEL_NO_TRAINING,
    .create = ext_create,
    .train = ext_train,
    .save = ext_save,
    .load = ext_load,
    .sample_dng = ext_sample_dng,
    .predict_csp = ext_predict_csp,
    .destroy = ext_destroy,
};
