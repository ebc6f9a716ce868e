/* The parameter set: a table of named tensors over one contiguous float buffer (and its
 * gradient, AdamW moments and EMA copy), and PyTorch's default initialisations. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

void cb_nn_params_init(cb_nn_params *p)
{
    memset(p, 0, sizeof *p);
}

const cb_nn_tensor *cb_nn_params_find(const cb_nn_params *p, const char *name)
{
    for (size_t i = 0; i < p->ntensors; i++)
        if (strcmp(p->tensors[i].name, name) == 0) return &p->tensors[i];
    return NULL;
}

int cb_nn_params_add(cb_nn_params *p, const char *name, int ndim, const size_t *shape,
                     size_t *offset, cb_error *err)
{
    if (p->w) return cb_fail(err, CB_ERR_USAGE, "parameter '%s': declared after allocation", name);
    size_t len = strlen(name);
    if (len == 0 || len >= CB_NN_NAME_MAX)
        return cb_fail(err, CB_ERR_USAGE, "parameter '%s': name must have 1 to %d characters",
                       name, CB_NN_NAME_MAX - 1);
    if (cb_nn_params_find(p, name))
        return cb_fail(err, CB_ERR_USAGE, "parameter '%s': declared twice", name);
    if (ndim < 1 || ndim > CB_NN_MAX_DIMS)
        return cb_fail(err, CB_ERR_USAGE, "parameter '%s': %d dimensions (1 to %d)", name, ndim,
                       CB_NN_MAX_DIMS);
    /* Every buffer is count floats, and a checkpoint stores 4·count floats as bytes: keep
     * 16·count within size_t so no size computation anywhere can overflow. */
    const size_t limit = SIZE_MAX / 16;
    size_t size = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0 || shape[d] > limit / size)
            return cb_fail(err, CB_ERR_USAGE, "parameter '%s': bad shape (dimension %d is %zu)",
                           name, d, shape[d]);
        size *= shape[d];
    }
    if (size > limit - p->count)
        return cb_fail(err, CB_ERR_USAGE, "parameter '%s': too many parameters", name);
    if (p->ntensors == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        cb_nn_tensor *t = realloc(p->tensors, cap * sizeof *t);
        if (!t) return cb_fail(err, CB_ERR_NOMEM, "parameter '%s': out of memory", name);
        p->tensors = t;
        p->cap = cap;
    }
    cb_nn_tensor *t = &p->tensors[p->ntensors++];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, len + 1);
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->offset = p->count;
    t->size = size;
    p->count += size;
    if (offset) *offset = t->offset;
    return CB_OK;
}

int cb_nn_params_add_linear(cb_nn_params *p, const char *prefix, size_t in, size_t out,
                            size_t *w_off, size_t *b_off, cb_error *err)
{
    char name[CB_NN_NAME_MAX + 8];
    snprintf(name, sizeof name, "%s.weight", prefix);
    size_t wshape[2] = {out, in};
    int rc = cb_nn_params_add(p, name, 2, wshape, w_off, err);
    if (rc || !b_off) return rc;
    snprintf(name, sizeof name, "%s.bias", prefix);
    return cb_nn_params_add(p, name, 1, &out, b_off, err);
}

int cb_nn_params_alloc(cb_nn_params *p, cb_error *err)
{
    if (p->w) return cb_fail(err, CB_ERR_USAGE, "parameter set allocated twice");
    if (p->count == 0) return cb_fail(err, CB_ERR_USAGE, "parameter set has no tensors");
    float **bufs[5] = {&p->w, &p->grad, &p->m, &p->v, &p->ema};
    for (int i = 0; i < 5; i++) {
        *bufs[i] = calloc(p->count, sizeof(float));
        if (!*bufs[i]) {
            for (int j = 0; j < i; j++) {
                free(*bufs[j]);
                *bufs[j] = NULL;
            }
            return cb_fail(err, CB_ERR_NOMEM, "parameter set: out of memory (%zu floats)", p->count);
        }
    }
    if (!(p->decay_mask = malloc(p->count))) {
        for (int j = 0; j < 5; j++) {
            free(*bufs[j]);
            *bufs[j] = NULL;
        }
        return cb_fail(err, CB_ERR_NOMEM, "parameter set: out of memory (%zu floats)", p->count);
    }
    memset(p->decay_mask, 1, p->count);
    p->adam_steps = 0;
    p->ema_updates = 0;
    return CB_OK;
}

int cb_nn_params_exempt_decay(cb_nn_params *p, const char *name, cb_error *err)
{
    const cb_nn_tensor *t = cb_nn_params_find(p, name);
    if (!t || !p->decay_mask) return cb_fail(err, CB_ERR_USAGE, "parameter set: cannot exempt '%s' from decay", name);
    memset(p->decay_mask + t->offset, 0, t->size);
    return CB_OK;
}

void cb_nn_params_layout_hash(const cb_nn_params *p, char hex[CB_SHA256_HEX])
{
    /* One line per tensor, "name:d0xd1...\n", in declaration order: the order and the
     * shapes fix every offset, so equal hashes mean equal layouts. */
    cb_sha256_ctx c;
    cb_sha256_init(&c);
    for (size_t i = 0; i < p->ntensors; i++) {
        const cb_nn_tensor *t = &p->tensors[i];
        char line[CB_NN_NAME_MAX + CB_NN_MAX_DIMS * 24 + 4];
        int n = snprintf(line, sizeof line, "%s:", t->name);
        for (int d = 0; d < t->ndim; d++)
            n += snprintf(line + n, sizeof line - (size_t)n, d ? "x%zu" : "%zu", t->shape[d]);
        n += snprintf(line + n, sizeof line - (size_t)n, "\n");
        cb_sha256_update(&c, line, (size_t)n);
    }
    cb_sha256_final_hex(&c, hex);
}

void cb_nn_params_zero_grad(cb_nn_params *p)
{
    if (p->grad) memset(p->grad, 0, p->count * sizeof(float));
}

void cb_nn_params_free(cb_nn_params *p)
{
    free(p->tensors);
    free(p->w);
    free(p->grad);
    free(p->m);
    free(p->v);
    free(p->ema);
    free(p->decay_mask);
    cb_nn_params_init(p);
}

void cb_nn_init_uniform(float *x, size_t n, double bound, cb_rng *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)((2.0 * cb_rng_uniform(rng) - 1.0) * bound);
}

void cb_nn_init_normal(float *x, size_t n, double mean, double std, cb_rng *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(mean + std * cb_rng_normal(rng));
}

void cb_nn_init_const(float *x, size_t n, float value)
{
    for (size_t i = 0; i < n; i++) x[i] = value;
}

void cb_nn_init_linear(float *w, float *b, size_t in, size_t out, cb_rng *rng)
{
    /* kaiming_uniform_(a=√5): gain = √(2/(1+a²)) = √(1/3), bound = gain·√(3/fan_in)
     * = 1/√fan_in; the bias bound is 1/√fan_in too. */
    const double bound = 1.0 / sqrt((double)in);
    cb_nn_init_uniform(w, in * out, bound, rng);
    if (b) cb_nn_init_uniform(b, out, bound, rng);
}
