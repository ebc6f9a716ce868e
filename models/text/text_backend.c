/* The text backend's vtable (model.h).  One model does both tasks (it trains on a mix),
 * so the configuration hash leaves the task out and the checkpoint of a DNG job loads
 * into a CSP job's state.  Checkpoints are the nn format with the GPT's parameters, the
 * training RNG and, in the extra block (little-endian, version 1):
 *     0   8  "CBTXTRN1"
 *     8   8  binary64 bits of the running epoch loss sum
 *    16   8  u64 steps in it
 * A finished model is saved as its weights only. */
#include <stdlib.h>
#include <string.h>

#include "crystalbench/le_bytes.h"
#include "text.h"

#define EXTRA_MAGIC "CBTXTRN1"
#define EXTRA_LEN 24

static void tx_destroy(void *state)
{
    text_model *m = state;
    if (!m) return;
    cb_gpt_free(&m->gpt);
    cb_gpt_acts_free(&m->acts);
    free(m);
}

static int tx_create(const cb_config *cfg, unsigned task, void **state, cb_error *err)
{
    *state = NULL;
    text_config c;
    int rc = text_config_read(cfg, task, &c, err);
    if (rc) return rc;
    text_model *m = calloc(1, sizeof *m);
    if (!m) return cb_fail(err, CB_ERR_NOMEM, "text: out of memory");
    m->cfg = c;
    text_config_hash(&c, m->config_hash);
    cb_gpt_acts_init(&m->acts);
    cb_rng base, init;
    cb_rng_seed(&base, c.seed);
    cb_rng_fork(&base, TEXT_STREAM_INIT, &init);
    cb_rng_fork(&base, TEXT_STREAM_TRAIN, &m->rng);
    if ((rc = cb_gpt_create(&m->gpt, &c.gpt, &init, err))) {
        free(m);
        return rc;
    }
    *state = m;
    return CB_OK;
}

static int tx_train(void *state, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx,
                    cb_error *err)
{
    return text_train(state, train, val, ctx, err);
}

static int tx_save(const void *state, const char *path, cb_error *err)
{
    const text_model *m = state;
    if (!m->trained) return cb_fail(err, CB_ERR_USAGE, "text: nothing to save before training");
    unsigned char extra[EXTRA_LEN];
    memcpy(extra, EXTRA_MAGIC, 8);
    cb_put_f64(extra + 8, m->at.epoch_loss);
    cb_put_u64(extra + 16, m->at.epoch_steps);
    cb_nn_ckpt_state st = {.step = m->at.step, .rng = m->rng, .extra = extra, .extra_len = EXTRA_LEN,
                           .weights_only = m->done};
    return cb_nn_checkpoint_save(path, TEXT_NAME, m->config_hash, &m->gpt.p, &st, err);
}

static int tx_load(void *state, const char *path, cb_error *err)
{
    text_model *m = state;
    cb_nn_ckpt_state st = {0};
    int rc = cb_nn_checkpoint_load(path, TEXT_NAME, m->config_hash, &m->gpt.p, &st, err);
    if (rc) return rc;
    if (st.extra_len != EXTRA_LEN || memcmp(st.extra, EXTRA_MAGIC, 8) != 0) {
        rc = cb_fail(err, CB_ERR_INVALID, "%s: not a text-model training state (extra block)", path);
    } else {
        m->at.epoch_loss = cb_get_f64(st.extra + 8);
        m->at.epoch_steps = cb_get_u64(st.extra + 16);
        m->at.step = st.step;
        m->rng = st.rng;
        m->done = st.weights_only;
        m->trained = 1;
    }
    cb_nn_ckpt_state_free(&st);
    return rc;
}

static int tx_generate(text_model *m, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err)
{
    if (!m->trained) return cb_fail(err, CB_ERR_USAGE, "text: train or load before sampling");
    return text_sample(m, targets, n, rng, out, err);
}

static int tx_sample_dng(void *state, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err)
{
    return tx_generate(state, NULL, n, rng, out, err);
}

static int tx_predict_csp(void *state, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out,
                          cb_error *err)
{
    return tx_generate(state, targets, n, rng, out, err);
}

const cb_model_ops cb_model_text = {
    .abi_version = CB_MODEL_ABI,
    .name = TEXT_NAME,
    .summary = "a small GPT over crystal text (the CPU-sized stand-in for crystal-text-llm's LLaMA-2)",
    .tasks = CB_TASK_DNG | CB_TASK_CSP,
    .create = tx_create,
    .train = tx_train,
    .save = tx_save,
    .load = tx_load,
    .sample_dng = tx_sample_dng,
    .predict_csp = tx_predict_csp,
    .destroy = tx_destroy,
};
