/* The text backend's configuration keys (an INI section of `crystalbench run`, or --set).
 * The model is models.md §5.3's gpt-s; the training recipe §5.3's; sampling §5.5's.
 *
 *   d = 128, layers = 4, heads = 4, ctx = 256   the GPT (gpt-s; ctx 512 for MPTS-52)
 *   angle_fmt = round | trunc    angles rounded (default) or truncated as the reference
 *   cell = niggli | raw          the shared preprocessing (default) or the CSV's cell
 *   translate = 1                a fresh random translation per crystal per step
 *   csp_fraction = 0.5           share of CSP sequences (the rest DNG)
 *   batch = 32, epochs = 5, warmup = 200, lr = 1e-3, lr_min = 1e-4 (cosine per step),
 *   weight_decay = 0.1 (2-D weights only), beta2 = 0.95, clip = 1 (global norm),
 *   ema_decay = 0 (no EMA: the weights themselves)
 *   val_every = 1, val_max = 512
 *   temperature = 0.9, top_p = 0.9, max_atoms = 100, sample_threads = 2, seed = 42
 *   constrained = 0     CSP decoding: 0 reference-like (unconstrained), 1 the prompt's
 *                       elements and atom count forced (models.md §5.5) */
#include <stdio.h>
#include <string.h>

#include "text.h"

static int read_choice(const cb_config *cfg, const char *key, const char *a, const char *b, int *out, cb_error *err)
{
    const char *v;
    int rc = cb_config_string(cfg, key, a, &v, err);
    if (rc) return rc;
    if (strcmp(v, a) == 0) *out = 0;
    else if (strcmp(v, b) == 0) *out = 1;
    else return cb_fail(err, CB_ERR_USAGE, "%s: %s = '%s': %s or %s", cfg->source, key, v, a, b);
    return CB_OK;
}

int text_config_read(const cb_config *cfg, unsigned task, text_config *out, cb_error *err)
{
    static const char *const known[] = {"d",        "layers",    "heads",       "ctx",          "angle_fmt",
                                        "cell",     "translate", "csp_fraction", "batch",       "epochs",
                                        "warmup",   "lr",        "lr_min",      "weight_decay", "beta2",
                                        "clip",     "ema_decay", "val_every",   "val_max",      "temperature",
                                        "top_p",    "max_atoms", "sample_threads", "seed",      "constrained", NULL};
    memset(out, 0, sizeof *out);
    if (task != CB_TASK_CSP && task != CB_TASK_DNG)
        return cb_fail(err, CB_ERR_USAGE, "%s: text: unknown task %u", cfg->source, task);
    out->task = task;
    long d, layers, heads, ctx, translate, seed;
    int rc = cb_config_check_keys(cfg, known, err);
    if (!rc) rc = cb_config_long(cfg, "d", 128, 1, 4096, &d, err);
    if (!rc) rc = cb_config_long(cfg, "layers", 4, 1, CB_GPT_MAX_LAYERS, &layers, err);
    if (!rc) rc = cb_config_long(cfg, "heads", 4, 1, 256, &heads, err);
    if (!rc) rc = cb_config_long(cfg, "ctx", 256, 16, 8192, &ctx, err);
    if (!rc) rc = read_choice(cfg, "angle_fmt", "round", "trunc", &out->angle_trunc, err);
    if (!rc) rc = read_choice(cfg, "cell", "niggli", "raw", &out->raw_cell, err);
    if (!rc) rc = cb_config_long(cfg, "translate", 1, 0, 1, &translate, err);
    if (!rc) rc = cb_config_double(cfg, "csp_fraction", 0.5, 0, 1, &out->csp_fraction, err);
    if (!rc) rc = cb_config_long(cfg, "batch", 32, 1, 4096, &out->batch, err);
    if (!rc) rc = cb_config_long(cfg, "epochs", 5, 1, 1000000, &out->epochs, err);
    if (!rc) rc = cb_config_long(cfg, "warmup", 200, 0, 100000000, &out->warmup, err);
    if (!rc) rc = cb_config_double(cfg, "lr", 1e-3, 0, 1, &out->lr, err);
    if (!rc) rc = cb_config_double(cfg, "lr_min", 1e-4, 0, 1, &out->lr_min, err);
    if (!rc) rc = cb_config_double(cfg, "weight_decay", 0.1, 0, 1, &out->weight_decay, err);
    if (!rc) rc = cb_config_double(cfg, "beta2", 0.95, 0, 0.999999, &out->beta2, err);
    if (!rc) rc = cb_config_double(cfg, "clip", 1.0, 1e-6, 1e6, &out->clip, err);
    if (!rc) rc = cb_config_double(cfg, "ema_decay", 0, 0, 1, &out->ema_decay, err);
    if (!rc) rc = cb_config_long(cfg, "val_every", 1, 1, 1000000, &out->val_every, err);
    if (!rc) rc = cb_config_long(cfg, "val_max", 512, 0, 100000000, &out->val_max, err);
    if (!rc) rc = cb_config_double(cfg, "temperature", 0.9, 1e-3, 100, &out->temperature, err);
    if (!rc) rc = cb_config_double(cfg, "top_p", 0.9, 1e-6, 1, &out->top_p, err);
    if (!rc) rc = cb_config_long(cfg, "max_atoms", 100, 1, 1000, &out->max_atoms, err);
    if (!rc) rc = cb_config_long(cfg, "sample_threads", 2, 1, 256, &out->sample_threads, err);
    if (!rc) rc = cb_config_long(cfg, "seed", 42, 0, 0x7fffffffL, &seed, err);
    long constrained;
    if (!rc) rc = cb_config_long(cfg, "constrained", 0, 0, 1, &constrained, err);
    if (rc) return rc;
    if (out->lr_min > out->lr)
        return cb_fail(err, CB_ERR_USAGE, "%s: text: lr_min %g is above lr %g", cfg->source, out->lr_min, out->lr);
    out->gpt = (cb_gpt_config){.vocab = CB_TOK_VOCAB, .ctx = (int)ctx, .d = (int)d, .layers = (int)layers,
                               .heads = (int)heads};
    out->translate = (int)translate;
    out->constrained = (int)constrained;
    out->seed = (uint64_t)seed;
    rc = cb_gpt_config_check(&out->gpt, err);
    if (rc) cb_error_prefix(err, "%s", cfg->source);
    return rc;
}

void text_config_hash(const text_config *c, char hex[CB_SHA256_HEX])
{
    /* Everything but the sampling keys; the task is not in it: one model does both. */
    char text[1024];
    snprintf(text, sizeof text,
             "text 1 vocab=%d ctx=%d d=%d layers=%d heads=%d angle_trunc=%d raw=%d translate=%d csp=%.17g batch=%ld "
             "epochs=%ld warmup=%ld lr=%.17g/%.17g wd=%.17g beta2=%.17g clip=%.17g ema=%.17g val=%ld/%ld seed=%llu",
             c->gpt.vocab, c->gpt.ctx, c->gpt.d, c->gpt.layers, c->gpt.heads, c->angle_trunc, c->raw_cell,
             c->translate, c->csp_fraction, c->batch, c->epochs, c->warmup, c->lr, c->lr_min, c->weight_decay,
             c->beta2, c->clip, c->ema_decay, c->val_every, c->val_max, (unsigned long long)c->seed);
    cb_sha256_hex(text, strlen(text), hex);
}
