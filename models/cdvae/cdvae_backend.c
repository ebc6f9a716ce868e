/* The CDVAE backend's vtable (model.h): create builds the task's VAE with PyTorch-style
 * initial weights; train runs cdvae_train; save/load write the nn checkpoint with the
 * lattice scaler, the running epoch loss and the training RNG in it, so an interrupted
 * run continues bit for bit; a finished one is saved as its EMA weights only.
 *
 * Checkpoint `extra` block (little-endian), version 1:
 *     0   8  "CBCDTRN1"
 *     8  96  the scaler: 6 means then 6 stds, binary64 bits
 *   104   8  binary64 bits of the running epoch loss sum
 *   112   8  u64 steps in it */
#include <stdlib.h>
#include <string.h>

#include "crystalbench/le_bytes.h"
#include "cdvae.h"

#define EXTRA_MAGIC "CBCDTRN1"
#define EXTRA_LEN 120

static void cd_destroy(void *state)
{
    cdvae *m = state;
    if (!m) return;
    cdvae_net_free(&m->net);
    cdvae_batch_free(&m->batch);
    free(m);
}

static int cd_create(const cb_config *cfg, unsigned task, void **state, cb_error *err)
{
    *state = NULL;
    cdvae_config c;
    int rc = cdvae_config_read(cfg, task, &c, err);
    if (rc) return rc;
    cdvae *m = calloc(1, sizeof *m);
    if (!m) return cb_fail(err, CB_ERR_NOMEM, "cdvae: out of memory");
    cdvae_config_hash(&c, m->config_hash);
    cdvae_batch_init(&m->batch);
    cb_rng base, init;
    cb_rng_seed(&base, c.seed);
    cb_rng_fork(&base, CDVAE_STREAM_INIT, &init);
    cb_rng_fork(&base, CDVAE_STREAM_TRAIN, &m->rng);
    if ((rc = cdvae_net_create(&m->net, &c, &init, err))) {
        cd_destroy(m);
        return rc;
    }
    *state = m;
    return CB_OK;
}

static int cd_train(void *state, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx,
                    cb_error *err)
{
    return cdvae_train(state, train, val, ctx, err);
}

static int cd_save(const void *state, const char *path, cb_error *err)
{
    const cdvae *m = state;
    if (!m->have_scaler) return cb_fail(err, CB_ERR_USAGE, "cdvae: nothing to save before training");
    unsigned char extra[EXTRA_LEN];
    memcpy(extra, EXTRA_MAGIC, 8);
    for (int k = 0; k < 6; k++) {
        cb_put_f64(extra + 8 + 8 * k, m->net.scaler.mean[k]);
        cb_put_f64(extra + 56 + 8 * k, m->net.scaler.std[k]);
    }
    cb_put_f64(extra + 104, m->at.epoch_loss);
    cb_put_u64(extra + 112, m->at.epoch_steps);
    cb_nn_ckpt_state st = {.step = m->at.step, .rng = m->rng, .extra = extra, .extra_len = EXTRA_LEN,
                           .weights_only = m->done};
    return cb_nn_checkpoint_save(path, CDVAE_NAME, m->config_hash, &m->net.p, &st, err);
}

static int cd_load(void *state, const char *path, cb_error *err)
{
    cdvae *m = state;
    cb_nn_ckpt_state st = {0};
    int rc = cb_nn_checkpoint_load(path, CDVAE_NAME, m->config_hash, &m->net.p, &st, err);
    if (rc) return rc;
    if (st.extra_len != EXTRA_LEN || memcmp(st.extra, EXTRA_MAGIC, 8) != 0) {
        rc = cb_fail(err, CB_ERR_INVALID, "%s: not a CDVAE training state (extra block)", path);
    } else {
        for (int k = 0; k < 6; k++) {
            m->net.scaler.mean[k] = cb_get_f64(st.extra + 8 + 8 * k);
            m->net.scaler.std[k] = cb_get_f64(st.extra + 56 + 8 * k);
        }
        m->at.epoch_loss = cb_get_f64(st.extra + 104);
        m->at.epoch_steps = cb_get_u64(st.extra + 112);
        m->at.step = st.step;
        m->rng = st.rng;
        m->done = st.weights_only;
        m->have_scaler = 1;
    }
    cb_nn_ckpt_state_free(&st);
    return rc;
}

static int cd_generate(cdvae *m, unsigned task, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out,
                       cb_error *err)
{
    if (m->net.cfg.task != task)
        return cb_fail(err, CB_ERR_USAGE, "cdvae: this state was built for %s",
                       m->net.cfg.task == CB_TASK_DNG ? "DNG" : "CSP");
    if (!m->have_scaler) return cb_fail(err, CB_ERR_USAGE, "cdvae: train or load before sampling");
    return cdvae_sample(&m->net, targets, n, rng, out, err);
}

static int cd_sample_dng(void *state, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err)
{
    return cd_generate(state, CB_TASK_DNG, NULL, n, rng, out, err);
}

static int cd_predict_csp(void *state, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out,
                          cb_error *err)
{
    return cd_generate(state, CB_TASK_CSP, targets, n, rng, out, err);
}

const cb_model_ops cb_model_cdvae = {
    .abi_version = CB_MODEL_ABI,
    .name = CDVAE_NAME,
    .summary = "CDVAE: VAE with a score-based decoder and annealed Langevin dynamics (CSPNet encoder and decoder)",
    .tasks = CB_TASK_DNG | CB_TASK_CSP,
    .create = cd_create,
    .train = cd_train,
    .save = cd_save,
    .load = cd_load,
    .sample_dng = cd_sample_dng,
    .predict_csp = cd_predict_csp,
    .destroy = cd_destroy,
};
