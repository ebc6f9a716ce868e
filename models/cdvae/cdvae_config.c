/* CDVAE's configuration keys (an INI section of `crystalbench run`, or --set).  The
 * model is the reference's (models.md §4.1: latent 256, heads 256, 50 noise levels from
 * 10 to 0.01 Å, types from 5 to 0.01, the loss weights) with CSPNets at CPU size in
 * place of DimeNet++ and GemNet (§4.2), and the CPU plan's sampling budget (§4.4).
 *
 *   encoder = structure | composition   (default: structure for DNG, composition for
 *                       CSP; structure on CSP is CDVAE's leaky "reconstruction")
 *   latent = 256, head_hidden = 256, comp_hidden = 128
 *   enc_hidden = 96, enc_layers = 3     the structure encoder (cspnet-xs)
 *   hidden = 128, layers = 3            the decoder
 *   n_freq = 16, time_dim = 64          both CSPNets' φ; the decoder's latent embedding
 *   sigma_input = 1     feed log σ to the decoder (deviation: the reference is σ-blind)
 *   n_sigmas = 50, sigma_begin = 10, sigma_end = 0.01, type_sigma_begin = 5,
 *   type_sigma_end = 0.01
 *   cost_natom = 1, cost_lattice = 10, cost_composition = 1, cost_coord = 10,
 *   cost_type = 1, beta = 0.01
 *   teacher_forcing_epochs = half the epochs (the reference: 500 of 1000 on MP-20)
 *   batch = 64, epochs = 100, lr = 1e-3, lr_min = 1e-4 (cosine per epoch, not the
 *   reference's ReduceLROnPlateau, which needs more epochs than a CPU budget has),
 *   weight_decay = 0, clip = 0.5, ema_decay = 0.999 (the reference keeps no EMA)
 *   val_every = 5, val_max = 512
 *   n_step_each = 10, step_lr = 1e-4, min_sigma = 0   Langevin (reference 100 steps
 *                       per level; models.md §4.4 budgets 10)
 *   sample_threads = 2, seed = 42 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cdvae.h"

double cdvae_sigma(int k, int n, double begin, double end)
{
    if (n <= 1) return begin;
    double a = log(begin), b = log(end);
    return exp(a + (b - a) * (double)k / (double)(n - 1));
}

int cdvae_has_type_loss(const cdvae_config *c) { return c->task == CB_TASK_DNG; }

static int read_encoder(const cb_config *cfg, unsigned task, cdvae_encoder *out, cb_error *err)
{
    const char *v;
    int rc = cb_config_string(cfg, "encoder", task == CB_TASK_DNG ? "structure" : "composition", &v, err);
    if (rc) return rc;
    if (strcmp(v, "structure") == 0) *out = CDVAE_ENCODER_STRUCTURE;
    else if (strcmp(v, "composition") == 0) *out = CDVAE_ENCODER_COMPOSITION;
    else return cb_fail(err, CB_ERR_USAGE, "%s: encoder = '%s': structure or composition", cfg->source, v);
    if (task == CB_TASK_DNG && *out != CDVAE_ENCODER_STRUCTURE)
        return cb_fail(err, CB_ERR_USAGE, "%s: encoder = composition is for CSP (DNG encodes structures)",
                       cfg->source);
    return CB_OK;
}

int cdvae_config_read(const cb_config *cfg, unsigned task, cdvae_config *out, cb_error *err)
{
    static const char *const known[] = {
        "encoder",      "latent",           "head_hidden",    "comp_hidden",    "enc_hidden",  "enc_layers",
        "hidden",       "layers",           "n_freq",         "time_dim",       "sigma_input", "n_sigmas",
        "sigma_begin",  "sigma_end",        "type_sigma_begin", "type_sigma_end", "cost_natom", "cost_lattice",
        "cost_composition", "cost_coord",   "cost_type",      "beta",           "teacher_forcing_epochs",
        "batch",        "epochs",           "lr",             "lr_min",         "weight_decay", "clip",
        "ema_decay",    "val_every",        "val_max",        "n_step_each",    "step_lr",     "min_sigma",
        "sample_threads", "seed",           NULL};
    memset(out, 0, sizeof *out);
    if (task != CB_TASK_CSP && task != CB_TASK_DNG)
        return cb_fail(err, CB_ERR_USAGE, "%s: cdvae: unknown task %u", cfg->source, task);
    out->task = task;
    long latent, head_hidden, comp_hidden, enc_hidden, enc_layers, hidden, layers, n_freq, time_dim, sigma_input,
        n_sigmas, seed, tf;
    int rc = cb_config_check_keys(cfg, known, err);
    if (!rc) rc = read_encoder(cfg, task, &out->encoder, err);
    if (!rc) rc = cb_config_long(cfg, "latent", 256, 1, 4096, &latent, err);
    if (!rc) rc = cb_config_long(cfg, "head_hidden", 256, 1, 4096, &head_hidden, err);
    if (!rc) rc = cb_config_long(cfg, "comp_hidden", 128, 1, 4096, &comp_hidden, err);
    if (!rc) rc = cb_config_long(cfg, "enc_hidden", 96, 1, 4096, &enc_hidden, err);
    if (!rc) rc = cb_config_long(cfg, "enc_layers", 3, 1, CB_CSPNET_MAX_LAYERS, &enc_layers, err);
    if (!rc) rc = cb_config_long(cfg, "hidden", 128, 1, 4096, &hidden, err);
    if (!rc) rc = cb_config_long(cfg, "layers", 3, 1, CB_CSPNET_MAX_LAYERS, &layers, err);
    if (!rc) rc = cb_config_long(cfg, "n_freq", 16, 1, 1024, &n_freq, err);
    if (!rc) rc = cb_config_long(cfg, "time_dim", 64, 1, 4096, &time_dim, err);
    if (!rc) rc = cb_config_long(cfg, "sigma_input", 1, 0, 1, &sigma_input, err);
    if (!rc) rc = cb_config_long(cfg, "n_sigmas", 50, 1, CDVAE_MAX_SIGMAS, &n_sigmas, err);
    if (!rc) rc = cb_config_double(cfg, "sigma_begin", 10, 1e-6, 1e6, &out->sigma_begin, err);
    if (!rc) rc = cb_config_double(cfg, "sigma_end", 0.01, 1e-6, 1e6, &out->sigma_end, err);
    if (!rc) rc = cb_config_double(cfg, "type_sigma_begin", 5, 1e-6, 1e6, &out->type_sigma_begin, err);
    if (!rc) rc = cb_config_double(cfg, "type_sigma_end", 0.01, 1e-6, 1e6, &out->type_sigma_end, err);
    if (!rc) rc = cb_config_double(cfg, "cost_natom", 1, 0, 1e6, &out->cost_natom, err);
    if (!rc) rc = cb_config_double(cfg, "cost_lattice", 10, 0, 1e6, &out->cost_lattice, err);
    if (!rc) rc = cb_config_double(cfg, "cost_composition", 1, 0, 1e6, &out->cost_composition, err);
    if (!rc) rc = cb_config_double(cfg, "cost_coord", 10, 0, 1e6, &out->cost_coord, err);
    if (!rc) rc = cb_config_double(cfg, "cost_type", 1, 0, 1e6, &out->cost_type, err);
    if (!rc) rc = cb_config_double(cfg, "beta", 0.01, 0, 1e6, &out->beta, err);
    if (!rc) rc = cb_config_long(cfg, "batch", 64, 1, 4096, &out->batch, err);
    if (!rc) rc = cb_config_long(cfg, "epochs", 100, 1, 1000000, &out->epochs, err);
    if (!rc) rc = cb_config_long(cfg, "teacher_forcing_epochs", out->epochs / 2, 0, 1000000, &tf, err);
    if (!rc) rc = cb_config_double(cfg, "lr", 1e-3, 0, 1, &out->lr, err);
    if (!rc) rc = cb_config_double(cfg, "lr_min", 1e-4, 0, 1, &out->lr_min, err);
    if (!rc) rc = cb_config_double(cfg, "weight_decay", 0, 0, 1, &out->weight_decay, err);
    if (!rc) rc = cb_config_double(cfg, "clip", 0.5, 1e-6, 1e6, &out->clip, err);
    if (!rc) rc = cb_config_double(cfg, "ema_decay", 0.999, 0, 1, &out->ema_decay, err);
    if (!rc) rc = cb_config_long(cfg, "val_every", 5, 1, 1000000, &out->val_every, err);
    if (!rc) rc = cb_config_long(cfg, "val_max", 512, 0, 100000000, &out->val_max, err);
    if (!rc) rc = cb_config_long(cfg, "n_step_each", 10, 1, 100000, &out->n_step_each, err);
    if (!rc) rc = cb_config_double(cfg, "step_lr", 1e-4, 0, 1e6, &out->step_lr, err);
    if (!rc) rc = cb_config_double(cfg, "min_sigma", 0, 0, 1e6, &out->min_sigma, err);
    if (!rc) rc = cb_config_long(cfg, "sample_threads", 2, 1, 256, &out->sample_threads, err);
    if (!rc) rc = cb_config_long(cfg, "seed", 42, 0, 0x7fffffffL, &seed, err);
    if (rc) return rc;
    if (out->lr_min > out->lr)
        return cb_fail(err, CB_ERR_USAGE, "%s: cdvae: lr_min %g is above lr %g", cfg->source, out->lr_min, out->lr);
    if (out->sigma_end > out->sigma_begin || out->type_sigma_end > out->type_sigma_begin)
        return cb_fail(err, CB_ERR_USAGE, "%s: cdvae: the noise levels must fall (sigma_begin ≥ sigma_end)",
                       cfg->source);
    out->latent = (int)latent;
    out->head_hidden = (int)head_hidden;
    out->comp_hidden = (int)comp_hidden;
    out->sigma_input = (int)sigma_input;
    out->n_sigmas = (int)n_sigmas;
    out->teacher_forcing_epochs = tf;
    out->seed = (uint64_t)seed;

    /* The encoder: types in, the cell's z-scored scaled lattice on the edges, no
     * conditioning (a zero input), [μ ‖ log σ²] from the lattice head, no type head. */
    cb_cspnet_config_flowmm(&out->enc, 0);
    out->enc.hidden = (int)enc_hidden;
    out->enc.layers = (int)enc_layers;
    out->enc.n_freq = (int)n_freq;
    out->enc.time_dim = 1;
    out->enc.lat_out_dim = 2 * out->latent;
    out->enc.type_head = CB_CSPNET_TYPE_HEAD_NONE;
    snprintf(out->enc.prefix, sizeof out->enc.prefix, "encoder.");
    /* The decoder: noisy types in (one-hot over 100), [z ‖ log σ] as the conditioning,
     * per-atom coordinates and (DNG) type logits out; its lattice head is unused. */
    cb_cspnet_config_flowmm(&out->dec, 0);
    out->dec.hidden = (int)hidden;
    out->dec.layers = (int)layers;
    out->dec.n_freq = (int)n_freq;
    out->dec.time_dim = (int)time_dim;
    out->dec.cond_dim = out->latent + out->sigma_input;
    out->dec.lat_out_dim = 1;
    out->dec.atom_dim = CDVAE_CLASSES;
    out->dec.type_head = task == CB_TASK_DNG ? CB_CSPNET_TYPE_HEAD_ON : CB_CSPNET_TYPE_HEAD_NONE;
    snprintf(out->dec.prefix, sizeof out->dec.prefix, "decoder.");
    rc = cb_cspnet_config_check(&out->enc, err);
    if (!rc) rc = cb_cspnet_config_check(&out->dec, err);
    if (rc) cb_error_prefix(err, "%s", cfg->source);
    return rc;
}

void cdvae_config_hash(const cdvae_config *c, char hex[CB_SHA256_HEX])
{
    /* Everything but the sampling keys: they change samples, not the checkpoint. */
    char text[2048];
    snprintf(text, sizeof text,
             "cdvae 1 task=%u encoder=%d latent=%d head=%d comp=%d enc=%d/%d/%d dec=%d/%d/%d/%d sigma_input=%d "
             "sigmas=%d/%.17g/%.17g/%.17g/%.17g costs=%.17g/%.17g/%.17g/%.17g/%.17g/%.17g tf=%ld batch=%ld "
             "epochs=%ld lr=%.17g/%.17g wd=%.17g clip=%.17g ema=%.17g val=%ld/%ld seed=%llu",
             c->task, (int)c->encoder, c->latent, c->head_hidden, c->comp_hidden, c->enc.hidden, c->enc.layers,
             c->enc.n_freq, c->dec.hidden, c->dec.layers, c->dec.n_freq, c->dec.time_dim, c->sigma_input,
             c->n_sigmas, c->sigma_begin, c->sigma_end, c->type_sigma_begin, c->type_sigma_end, c->cost_natom,
             c->cost_lattice, c->cost_composition, c->cost_coord, c->cost_type, c->beta, c->teacher_forcing_epochs,
             c->batch, c->epochs, c->lr, c->lr_min, c->weight_decay, c->clip, c->ema_decay, c->val_every,
             c->val_max, (unsigned long long)c->seed);
    cb_sha256_hex(text, strlen(text), hex);
}
