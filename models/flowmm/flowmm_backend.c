/* The FlowMM backend's vtable (model.h): create builds the task's network with
 * PyTorch-style initial weights; train runs flow matching; save/load write the nn
 * checkpoint (models/nn/train.h) with the dataset statistics, the running epoch loss
 * and the training RNG in it, so an interrupted run continues bit for bit; a finished
 * one is saved as its EMA weights only (what sampling uses).
 *
 * Checkpoint `extra` block (little-endian), version 1:
 *     0   8  "CBFMTRN1"
 *     8   8  u64 S, the statistics block's length (cb_flowmm_stats_serialize)
 *    16   S  the statistics
 *  16+S   8  binary64 bits of the running epoch loss sum
 *  24+S   8  u64 steps in it */
#include <stdlib.h>
#include <string.h>

#include "crystalbench/le_bytes.h"
#include "flowmm.h"

#define EXTRA_MAGIC "CBFMTRN1"

static void fm_destroy(void *state)
{
    flowmm *m = state;
    if (!m) return;
    cb_nn_params_free(&m->net.p);
    cb_cspnet_cache_free(&m->net.cache);
    flowmm_batch_free(&m->batch);
    free(m);
}

static int fm_create(const cb_config *cfg, unsigned task, void **state, cb_error *err)
{
    *state = NULL;
    flowmm_config c;
    int rc = flowmm_config_read(cfg, task, &c, err);
    if (rc) return rc;
    flowmm *m = calloc(1, sizeof *m);
    if (!m) return cb_fail(err, CB_ERR_NOMEM, "flowmm: out of memory");
    m->net.cfg = c;
    flowmm_config_hash(&c, m->config_hash);
    flowmm_batch_init(&m->batch);
    cb_rng base, init;
    cb_rng_seed(&base, c.seed);
    cb_rng_fork(&base, FLOWMM_STREAM_INIT, &init);
    cb_rng_fork(&base, FLOWMM_STREAM_TRAIN, &m->rng);
    if ((rc = cb_cspnet_params_create(&m->net.p, &c.net, &init, err))) {
        fm_destroy(m);
        return rc;
    }
    *state = m;
    return CB_OK;
}

static int fm_train(void *state, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx,
                    cb_error *err)
{
    return flowmm_train(state, train, val, ctx, err);
}

static int fm_save(const void *state, const char *path, cb_error *err)
{
    const flowmm *m = state;
    if (!m->have_stats) return cb_fail(err, CB_ERR_USAGE, "flowmm: nothing to save before training");
    unsigned char *stats = NULL;
    size_t slen = 0;
    int rc = cb_flowmm_stats_serialize(&m->net.stats, &stats, &slen, err);
    if (rc) return rc;
    /* A finished model needs only θ̄ (sampling and validation use the EMA weights, and
     * more epochs would be another configuration): a quarter of the full state. */
    cb_nn_ckpt_state st = {.step = m->at.step, .rng = m->rng, .extra_len = 32 + slen, .weights_only = m->done};
    if (!(st.extra = malloc(st.extra_len))) {
        free(stats);
        return cb_fail(err, CB_ERR_NOMEM, "flowmm: out of memory");
    }
    memcpy(st.extra, EXTRA_MAGIC, 8);
    cb_put_u64(st.extra + 8, slen);
    memcpy(st.extra + 16, stats, slen);
    cb_put_f64(st.extra + 16 + slen, m->at.epoch_loss);
    cb_put_u64(st.extra + 24 + slen, m->at.epoch_steps);
    free(stats);
    rc = cb_nn_checkpoint_save(path, FLOWMM_NAME, m->config_hash, &m->net.p, &st, err);
    free(st.extra);
    return rc;
}

static int fm_load(void *state, const char *path, cb_error *err)
{
    flowmm *m = state;
    cb_nn_ckpt_state st = {0};
    int rc = cb_nn_checkpoint_load(path, FLOWMM_NAME, m->config_hash, &m->net.p, &st, err);
    if (rc) return rc;
    cb_flowmm_stats stats;
    uint64_t slen = st.extra_len >= 16 ? cb_get_u64(st.extra + 8) : 0;
    if (st.extra_len < 32 || memcmp(st.extra, EXTRA_MAGIC, 8) != 0 || slen != st.extra_len - 32) {
        rc = cb_fail(err, CB_ERR_INVALID, "%s: not a FlowMM training state (extra block)", path);
    } else if ((rc = cb_flowmm_stats_deserialize(st.extra + 16, (size_t)slen, &stats, err))) {
        cb_error_prefix(err, "%s", path);
    } else {
        m->net.stats = stats;
        m->have_stats = 1;
        m->done = st.weights_only;
        m->at.step = st.step;
        m->rng = st.rng;
        m->at.epoch_loss = cb_get_f64(st.extra + 16 + slen);
        m->at.epoch_steps = cb_get_u64(st.extra + 24 + slen);
    }
    cb_nn_ckpt_state_free(&st);
    return rc;
}

static int fm_generate(flowmm *m, unsigned task, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out,
                       cb_error *err)
{
    if (m->net.cfg.task != task)
        return cb_fail(err, CB_ERR_USAGE, "flowmm: this state was built for %s",
                       m->net.cfg.task == CB_TASK_DNG ? "DNG" : "CSP");
    if (!m->have_stats) return cb_fail(err, CB_ERR_USAGE, "flowmm: train or load before sampling");
    return flowmm_sample(&m->net, targets, n, rng, out, err);
}

static int fm_sample_dng(void *state, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err)
{
    return fm_generate(state, CB_TASK_DNG, NULL, n, rng, out, err);
}

static int fm_predict_csp(void *state, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out,
                          cb_error *err)
{
    return fm_generate(state, CB_TASK_CSP, targets, n, rng, out, err);
}

const cb_model_ops cb_model_flowmm = {
    .abi_version = CB_MODEL_ABI,
    .name = FLOWMM_NAME,
    .summary = "FlowMM: Riemannian flow matching with a CSPNet vector field (CPU size)",
    .tasks = CB_TASK_DNG | CB_TASK_CSP,
    .create = fm_create,
    .train = fm_train,
    .save = fm_save,
    .load = fm_load,
    .sample_dng = fm_sample_dng,
    .predict_csp = fm_predict_csp,
    .destroy = fm_destroy,
};
