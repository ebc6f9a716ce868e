/* FlowMM's configuration keys (an INI section of `crystalbench run`, or built by the
 * CLI).  The network is FlowMM's rfm_cspnet (models.md §2.5) at CPU size; the optimiser
 * and schedule are the reference's (§3.6) with the epoch count ours.
 *
 *   hidden = 256        CSPNet width H (reference 512)
 *   layers = 4          message-passing layers (reference 6)
 *   n_freq = 32         frequencies of the fractional-difference embedding (reference 128)
 *   time_dim = 64       time embedding width (reference 256)
 *   batch = 64          crystals per step
 *   epochs = 100        passes over the training split; cosine T_max
 *   lr = 3e-4, lr_min = 1e-5, weight_decay = 0, ema_decay = 0.999, clip = 0.5
 *   stats_passes = 5    epochs of the x_t / u_t statistics estimator
 *   val_every = 5       validation loss (EMA weights) every this many epochs
 *   val_max = 512       validation crystals used
 *   sample_steps = 100  Euler steps (reference default 1000; models.md §3.7 [REC] 100)
 *   sample_threads = 2  crystals integrated at once (one BLAS thread each); the
 *                       samples do not depend on it
 *   anneal_slope = 0, anneal_offset = 0   inference anti-annealing of the coordinates
 *   seed = 42           weights, training draws and epoch order */
#include <stdio.h>
#include <string.h>

#include "flowmm.h"

int flowmm_config_read(const cb_config *cfg, unsigned task, flowmm_config *out, cb_error *err)
{
    static const char *const known[] = {"hidden",       "layers",      "n_freq",       "time_dim",      "batch",
                                        "epochs",       "lr",          "lr_min",       "weight_decay",  "ema_decay",
                                        "clip",         "stats_passes", "val_every",   "val_max",       "sample_steps",
                                        "sample_threads", "anneal_slope", "anneal_offset", "seed",        NULL};
    memset(out, 0, sizeof *out);
    if (task != CB_TASK_CSP && task != CB_TASK_DNG)
        return cb_fail(err, CB_ERR_USAGE, "%s: flowmm: unknown task %u", cfg->source, task);
    out->task = task;
    cb_cspnet_config_flowmm(&out->net, task == CB_TASK_DNG);
    long hidden, layers, n_freq, time_dim, seed;
    int rc = cb_config_check_keys(cfg, known, err);
    if (!rc) rc = cb_config_long(cfg, "hidden", 256, 1, 4096, &hidden, err);
    if (!rc) rc = cb_config_long(cfg, "layers", 4, 1, CB_CSPNET_MAX_LAYERS, &layers, err);
    if (!rc) rc = cb_config_long(cfg, "n_freq", 32, 1, 1024, &n_freq, err);
    if (!rc) rc = cb_config_long(cfg, "time_dim", 64, 1, 4096, &time_dim, err);
    if (!rc) rc = cb_config_long(cfg, "batch", 64, 1, 4096, &out->batch, err);
    if (!rc) rc = cb_config_long(cfg, "epochs", 100, 1, 1000000, &out->epochs, err);
    if (!rc) rc = cb_config_double(cfg, "lr", 3e-4, 0, 1, &out->lr, err);
    if (!rc) rc = cb_config_double(cfg, "lr_min", 1e-5, 0, 1, &out->lr_min, err);
    if (!rc) rc = cb_config_double(cfg, "weight_decay", 0, 0, 1, &out->weight_decay, err);
    if (!rc) rc = cb_config_double(cfg, "ema_decay", 0.999, 0, 1, &out->ema_decay, err);
    if (!rc) rc = cb_config_double(cfg, "clip", 0.5, 1e-6, 1e6, &out->clip, err);
    if (!rc) rc = cb_config_long(cfg, "stats_passes", 5, 1, 1000, &out->stats_passes, err);
    if (!rc) rc = cb_config_long(cfg, "val_every", 5, 1, 1000000, &out->val_every, err);
    if (!rc) rc = cb_config_long(cfg, "val_max", 512, 0, 100000000, &out->val_max, err);
    if (!rc) rc = cb_config_long(cfg, "sample_steps", 100, 1, 100000, &out->sample_steps, err);
    if (!rc) rc = cb_config_long(cfg, "sample_threads", 2, 1, 256, &out->sample_threads, err);
    if (!rc) rc = cb_config_double(cfg, "anneal_slope", 0, 0, 1000, &out->anneal_slope, err);
    if (!rc) rc = cb_config_double(cfg, "anneal_offset", 0, 0, 0.999999, &out->anneal_offset, err);
    if (!rc) rc = cb_config_long(cfg, "seed", 42, 0, 0x7fffffffL, &seed, err);
    if (rc) return rc;
    out->net.hidden = (int)hidden;
    out->net.layers = (int)layers;
    out->net.n_freq = (int)n_freq;
    out->net.time_dim = (int)time_dim;
    out->seed = (uint64_t)seed;
    if (out->lr_min > out->lr)
        return cb_fail(err, CB_ERR_USAGE, "%s: flowmm: lr_min %g is above lr %g", cfg->source, out->lr_min, out->lr);
    rc = cb_cspnet_config_check(&out->net, err);
    if (rc) cb_error_prefix(err, "%s", cfg->source);
    return rc;
}

void flowmm_config_hash(const flowmm_config *c, char hex[CB_SHA256_HEX])
{
    /* Everything but the sampling keys: they change samples, not the checkpoint. */
    char text[1024];
    const cb_cspnet_config *n = &c->net;
    snprintf(text, sizeof text,
             "flowmm 1 task=%u hidden=%d layers=%d n_freq=%d time_dim=%d node_input=%d atom_dim=%d lat_dim=%d "
             "lat_out=%d type_head=%d self_edges=%d unit_dots=%d num_atoms_emb=%d batch=%ld epochs=%ld lr=%.17g "
             "lr_min=%.17g wd=%.17g ema=%.17g clip=%.17g stats_passes=%ld val_every=%ld val_max=%ld seed=%llu",
             c->task, n->hidden, n->layers, n->n_freq, n->time_dim, (int)n->node_input, n->atom_dim, n->lat_dim,
             n->lat_out_dim, (int)n->type_head, n->self_edges, n->unit_dots, n->num_atoms_emb, c->batch, c->epochs,
             c->lr, c->lr_min, c->weight_decay, c->ema_decay, c->clip, c->stats_passes, c->val_every, c->val_max,
             (unsigned long long)c->seed);
    cb_sha256_hex(text, strlen(text), hex);
}
