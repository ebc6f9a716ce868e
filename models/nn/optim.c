/* AdamW, the cosine learning-rate schedule, the EMA of the weights and gradient clipping:
 * each a single loop over the contiguous buffers of a cb_nn_params (formulas and their
 * PyTorch references in train.h). */
#include <math.h>
#include <string.h>

#include "train.h"

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
    float *w = p->w, *m = p->m, *v = p->v;
    const float *g = p->grad;
    for (size_t i = 0; i < p->count; i++) {
        const float gi = g[i];
        const float mi = m[i] + one_minus_b1 * (gi - m[i]);
        const float vi = v[i] * b2 + one_minus_b2 * gi * gi;
        const float denom = sqrtf(vi) / bc2_sqrt + eps;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] * decay + neg_step * mi / denom;
    }
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

void cb_nn_ema_update(cb_nn_params *p, double decay, int warmup)
{
    const uint64_t n = ++p->ema_updates;
    double d = decay;
    if (warmup) {
        const double ramp = (1.0 + (double)n) / (10.0 + (double)n);
        if (ramp < d) d = ramp;
    }
    const float one_minus_d = (float)(1.0 - d);
    float *e = p->ema;
    const float *w = p->w;
    for (size_t i = 0; i < p->count; i++) e[i] -= one_minus_d * (e[i] - w[i]);
}

void cb_nn_clip_grad_value(cb_nn_params *p, float clip)
{
    float *g = p->grad;
    /* Comparisons, not fminf/fmaxf: those would turn a NaN into ±clip and hide it. */
    for (size_t i = 0; i < p->count; i++) {
        if (g[i] > clip)
            g[i] = clip;
        else if (g[i] < -clip)
            g[i] = -clip;
    }
}
