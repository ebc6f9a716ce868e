/* AdamW, the cosine learning-rate schedule, the EMA of the weights and gradient clipping:
 * each a single loop over the contiguous buffers of a cb_nn_params (formulas and their
 * PyTorch references in train.h). */
#include <math.h>
#include <string.h>

#include "parallel.h"
#include "train.h"

/* Each parameter alone: the loops split over threads with the same result (parallel.h). */
enum { MIN_CHUNK = 1 << 16 };

typedef struct adamw_args {
    cb_nn_params *p;
    float decay, one_minus_b1, b2, one_minus_b2, neg_step, bc2_sqrt, eps;
} adamw_args;

static void adamw_range(void *ctx, size_t begin, size_t end)
{
    const adamw_args *a = ctx;
    float *w = a->p->w, *m = a->p->m, *v = a->p->v;
    const float *g = a->p->grad;
    const unsigned char *mask = a->p->decay_mask;
    for (size_t i = begin; i < end; i++) {
        const float gi = g[i];
        const float mi = m[i] + a->one_minus_b1 * (gi - m[i]);
        const float vi = v[i] * a->b2 + a->one_minus_b2 * gi * gi;
        const float denom = sqrtf(vi) / a->bc2_sqrt + a->eps;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] * (mask[i] ? a->decay : 1.0f) + a->neg_step * mi / denom;
    }
}

void cb_nn_adamw_step(cb_nn_params *p, const cb_nn_adamw *cfg, double lr)
{
    const uint64_t t = ++p->adam_steps;
    /* The scalars as torch computes them (Python floats, i.e. double) and then uses them
     * on float32 tensors: rounded to float once. */
    const double bc1 = 1.0 - pow(cfg->beta1, (double)t);
    const double bc2 = 1.0 - pow(cfg->beta2, (double)t);
    const float decay = (float)(1.0 - lr * cfg->weight_decay);
    const float one_minus_b1 = (float)(1.0 - cfg->beta1);
    const float b2 = (float)cfg->beta2;
    const float one_minus_b2 = (float)(1.0 - cfg->beta2);
    const float neg_step = (float)(-(lr / bc1));
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)cfg->eps;
    adamw_args a = {p, decay, one_minus_b1, b2, one_minus_b2, neg_step, bc2_sqrt, eps};
    cb_nn_parallel_for(p->count, MIN_CHUNK, adamw_range, &a);
}

double cb_nn_lr_cosine(uint64_t step, uint64_t warmup, uint64_t total, double lr_max,
                       double lr_min)
{
    if (step < warmup) return lr_max * (double)(step + 1) / (double)warmup;
    if (step >= total) return lr_min;
    const double progress = (double)(step - warmup) / (double)(total - warmup);
    return lr_min + (lr_max - lr_min) * (1.0 + cos(M_PI * progress)) / 2.0;
}

void cb_nn_ema_reset(cb_nn_params *p)
{
    memcpy(p->ema, p->w, p->count * sizeof(float));
    p->ema_updates = 0;
}

/* A loop over the parameters with one scalar: the EMA's 1 − d, the clip bound. */
typedef struct params_scalar {
    cb_nn_params *p;
    float value;
} params_scalar;

static void ema_range(void *ctx, size_t begin, size_t end)
{
    const params_scalar *a = ctx;
    float *e = a->p->ema;
    const float *w = a->p->w;
    for (size_t i = begin; i < end; i++) e[i] -= a->value * (e[i] - w[i]);
}

void cb_nn_ema_update(cb_nn_params *p, double decay, int warmup)
{
    const uint64_t n = ++p->ema_updates;
    double d = decay;
    if (warmup) {
        const double ramp = (1.0 + (double)n) / (10.0 + (double)n);
        if (ramp < d) d = ramp;
    }
    params_scalar a = {p, (float)(1.0 - d)};
    cb_nn_parallel_for(p->count, MIN_CHUNK, ema_range, &a);
}

static void clip_range(void *ctx, size_t begin, size_t end)
{
    const params_scalar *a = ctx;
    const float clip = a->value;
    float *g = a->p->grad;
    /* Comparisons, not fminf/fmaxf: those would turn a NaN into ±clip and hide it. */
    for (size_t i = begin; i < end; i++) {
        if (g[i] > clip)
            g[i] = clip;
        else if (g[i] < -clip)
            g[i] = -clip;
    }
}

void cb_nn_clip_grad_value(cb_nn_params *p, float clip)
{
    params_scalar a = {p, clip};
    cb_nn_parallel_for(p->count, MIN_CHUNK, clip_range, &a);
}

double cb_nn_clip_grad_norm(cb_nn_params *p, double max_norm)
{
    double sq = 0;
    for (size_t i = 0; i < p->count; i++) sq += (double)p->grad[i] * p->grad[i];
    double norm = sqrt(sq), scale = max_norm / (norm + 1e-6);
    if (scale < 1.0)
        for (size_t i = 0; i < p->count; i++) p->grad[i] *= (float)scale;
    return norm;
}
