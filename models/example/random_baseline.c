/* The example backend: a random baseline, the floor row of every table and the worked
 * example of docs/adding-a-backend.md.
 *
 * train() fits simple distributions to the training structures:
 *   - the number of atoms per cell (its histogram, up to max_atoms),
 *   - the elements (their frequency over all atoms),
 *   - the volume per atom (a log-normal: mean and std of its logarithm),
 *   - cell shapes: up to 1,024 training cells as (a, b, c, α, β, γ) templates.
 * sample_dng() draws a cell size, i.i.d. elements, a shape template scaled to the drawn
 * volume, and uniform fractional coordinates.  predict_csp() keeps the target's atoms
 * and draws the rest the same way.  Every draw comes from the caller's RNG, so the same
 * seed gives the same crystals; the fitted numbers are saved as text (%.17g, exact).
 *
 * Configuration: max_atoms = N (1..1000, default 64). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/atomic_file.h"
#include "crystalbench/elements.h"
#include "crystalbench/model.h"

#define MAX_TEMPLATES 1024

typedef struct baseline {
    long max_atoms;
    int fitted;
    double *size_weight;        /* [max_atoms + 1]: training cells with that many atoms */
    double elem_weight[CB_MAX_Z + 1];
    double log_vpa_mean, log_vpa_std;
    int n_templates;
    double templates[MAX_TEMPLATES][6];
} baseline;

static void bl_destroy(void *state)
{
    baseline *b = state;
    if (!b) return;
    free(b->size_weight);
    free(b);
}

static int bl_create(const cb_config *cfg, unsigned task, void **state, cb_error *err)
{
    (void)task; /* one fitted state serves both tasks */
    static const char *const known[] = {"max_atoms", NULL};
    *state = NULL;
    long max_atoms;
    int rc = cb_config_check_keys(cfg, known, err);
    if (!rc) rc = cb_config_long(cfg, "max_atoms", 64, 1, 1000, &max_atoms, err);
    if (rc) return rc;
    baseline *b = calloc(1, sizeof *b);
    if (b) b->size_weight = calloc((size_t)max_atoms + 1, sizeof *b->size_weight);
    if (!b || !b->size_weight) {
        bl_destroy(b);
        return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    }
    b->max_atoms = max_atoms;
    *state = b;
    return CB_OK;
}

/* How well the fitted element frequencies explain the validation atoms: their mean
 * negative log-likelihood (nats per atom; add-one smoothing so an unseen element is
 * finite), the baseline's one "validation loss".  NaN without validation atoms. */
static double val_element_nll(const baseline *b, const cb_dataset *val)
{
    double total = 0, nll = 0;
    size_t atoms = 0;
    for (int z = 1; z <= CB_MAX_Z; z++) total += b->elem_weight[z] + 1;
    for (size_t i = 0; val && i < val->n; i++)
        for (int k = 0; k < val->items[i].n; k++) {
            int z = val->items[i].z[k];
            if (z < 1 || z > CB_MAX_Z) continue;
            nll -= log((b->elem_weight[z] + 1) / total);
            atoms++;
        }
    return atoms ? nll / (double)atoms : NAN;
}

/* One pass over the training set; it takes milliseconds, so it does not check
 * ctx->stop (an interrupted run simply fits again). */
static int bl_train(void *state, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx, cb_error *err)
{
    baseline *b = state;
    cb_progress *bar = ctx ? ctx->progress : NULL;
    if (bar) bar->total = train->n;
    memset(b->size_weight, 0, ((size_t)b->max_atoms + 1) * sizeof *b->size_weight);
    memset(b->elem_weight, 0, sizeof b->elem_weight);
    double sum = 0, sum2 = 0;
    size_t used = 0;
    b->n_templates = 0;
    for (size_t i = 0; i < train->n; i++) {
        const cb_crystal *c = &train->items[i];
        double v = cb_crystal_volume(c);
        if (c->n < 1 || c->n > b->max_atoms || !(v > 0) || !isfinite(v)) continue;
        b->size_weight[c->n] += 1;
        for (int k = 0; k < c->n; k++)
            if (c->z[k] >= 1 && c->z[k] <= CB_MAX_Z) b->elem_weight[c->z[k]] += 1;
        double l = log(v / c->n);
        sum += l;
        sum2 += l * l;
        if (b->n_templates < MAX_TEMPLATES) cb_lattice_parameters(c->lattice, b->templates[b->n_templates++]);
        used++;
        if (bar && (i + 1) % 1024 == 0) cb_progress_update(bar, i + 1);
    }
    if (bar) cb_progress_update(bar, train->n);
    if (used == 0)
        return cb_fail(err, CB_ERR_INVALID, "example: no training structure with 1..%ld atoms and a real cell",
                       b->max_atoms);
    b->log_vpa_mean = sum / (double)used;
    double var = sum2 / (double)used - b->log_vpa_mean * b->log_vpa_mean;
    b->log_vpa_std = var > 0 ? sqrt(var) : 0;
    b->fitted = 1;
    if (ctx && ctx->log) {
        const char *names[] = {"val_element_nll"};
        double v = val_element_nll(b, val);
        if (ctx->log(ctx->user, 0, names, &v, 1)) return cb_fail(err, CB_ERR_DB, "example: cannot log training");
    }
    return CB_OK;
}

/* An index drawn with probability weight[i] / Σ weight. */
static int draw(cb_rng *rng, const double *weight, int n)
{
    double total = 0;
    for (int i = 0; i < n; i++) total += weight[i];
    double u = cb_rng_uniform(rng) * total;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (weight[i] <= 0) continue;
        last = i;
        if (u < weight[i]) return i;
        u -= weight[i];
    }
    return last; /* rounding at the top end */
}

/* A cell for n atoms: a template's shape scaled to n · a log-normal volume per atom. */
static void draw_cell(const baseline *b, cb_rng *rng, int n, double lattice[3][3])
{
    double p[6];
    memcpy(p, b->templates[cb_rng_below(rng, (uint64_t)b->n_templates)], sizeof p);
    cb_lattice_from_parameters(p, lattice);
    double want = n * exp(b->log_vpa_mean + b->log_vpa_std * cb_rng_normal(rng));
    double scale = cbrt(want / fabs(cb_mat3_det(lattice)));
    for (int k = 0; k < 3; k++) p[k] *= scale;
    cb_lattice_from_parameters(p, lattice);
}

static int draw_crystal(const baseline *b, cb_rng *rng, const cb_crystal *keep_atoms, cb_crystal *out, cb_error *err)
{
    int n = keep_atoms ? keep_atoms->n : draw(rng, b->size_weight, (int)b->max_atoms + 1);
    int rc = cb_crystal_alloc(out, n, err);
    if (rc) return rc;
    draw_cell(b, rng, n, out->lattice);
    for (int i = 0; i < n; i++) {
        out->z[i] = keep_atoms ? keep_atoms->z[i] : draw(rng, b->elem_weight, CB_MAX_Z + 1);
        for (int k = 0; k < 3; k++) out->frac[i][k] = cb_rng_uniform(rng);
    }
    if (keep_atoms && keep_atoms->id) rc = cb_crystal_set_id(out, keep_atoms->id, err);
    if (rc) cb_crystal_free(out);
    return rc;
}

static int draw_many(baseline *b, size_t n, cb_rng *rng, const cb_crystal *targets, cb_crystal *out, cb_error *err)
{
    if (!b->fitted) return cb_fail(err, CB_ERR_USAGE, "example: train or load before sampling");
    for (size_t i = 0; i < n; i++) {
        int rc = draw_crystal(b, rng, targets ? &targets[i] : NULL, &out[i], err);
        if (rc) {
            while (i > 0) cb_crystal_free(&out[--i]);
            return rc;
        }
    }
    return CB_OK;
}

static int bl_sample_dng(void *state, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err)
{
    return draw_many(state, n, rng, NULL, out, err);
}

static int bl_predict_csp(void *state, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out,
                          cb_error *err)
{
    return draw_many(state, n, rng, targets, out, err);
}

/* ---- checkpoint: a versioned text file ---- */

static int bl_save(const void *state, const char *path, cb_error *err)
{
    const baseline *b = state;
    if (!b->fitted) return cb_fail(err, CB_ERR_USAGE, "example: nothing to save before training");
    cb_atomic_file out;
    int rc = cb_atomic_open(&out, path, err);
    if (rc) return rc;
    FILE *f = out.f;
    fprintf(f, "crystalbench example 1\n%ld %.17g %.17g %d\n", b->max_atoms, b->log_vpa_mean, b->log_vpa_std,
            b->n_templates);
    for (long i = 0; i <= b->max_atoms; i++) fprintf(f, "%.17g\n", b->size_weight[i]);
    for (int z = 0; z <= CB_MAX_Z; z++) fprintf(f, "%.17g\n", b->elem_weight[z]);
    for (int t = 0; t < b->n_templates; t++)
        for (int k = 0; k < 6; k++) fprintf(f, "%.17g%c", b->templates[t][k], k == 5 ? '\n' : ' ');
    return cb_atomic_commit(&out, err);
}

static int read_numbers(FILE *f, double *x, long n)
{
    for (long i = 0; i < n; i++)
        if (fscanf(f, "%lf", &x[i]) != 1 || !isfinite(x[i])) return -1;
    return 0;
}

static int bl_load(void *state, const char *path, cb_error *err)
{
    baseline *b = state;
    FILE *f = fopen(path, "r");
    if (!f) return cb_fail(err, CB_ERR_IO, "%s: cannot read the checkpoint", path);
    char magic[64] = "";
    long max_atoms = 0;
    int n_templates = 0, ok = fgets(magic, sizeof magic, f) && strcmp(magic, "crystalbench example 1\n") == 0;
    ok = ok && fscanf(f, "%ld %lf %lf %d", &max_atoms, &b->log_vpa_mean, &b->log_vpa_std, &n_templates) == 4;
    ok = ok && max_atoms == b->max_atoms && n_templates >= 1 && n_templates <= MAX_TEMPLATES;
    ok = ok && !read_numbers(f, b->size_weight, max_atoms + 1) && !read_numbers(f, b->elem_weight, CB_MAX_Z + 1);
    for (int t = 0; ok && t < n_templates; t++) ok = !read_numbers(f, b->templates[t], 6);
    fclose(f);
    if (!ok) {
        b->fitted = 0;
        return cb_fail(err, CB_ERR_INVALID, "%s: not an example-backend checkpoint for max_atoms = %ld", path,
                       b->max_atoms);
    }
    b->n_templates = n_templates;
    b->fitted = 1;
    return CB_OK;
}

const cb_model_ops cb_model_example = {
    .abi_version = CB_MODEL_ABI,
    .name = "example",
    .summary = "random baseline: cell size, elements, volume and shape drawn from the training set",
    .tasks = CB_TASK_DNG | CB_TASK_CSP,
    .create = bl_create,
    .train = bl_train,
    .save = bl_save,
    .load = bl_load,
    .sample_dng = bl_sample_dng,
    .predict_csp = bl_predict_csp,
    .destroy = bl_destroy,
};
