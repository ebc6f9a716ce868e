/* Training the text backend (models.md §5.2–§5.3): every step draws, per crystal, its
 * task (CSP with probability csp_fraction) and, with translate, a translation; the
 * sequence is <bos> task [composition] <sep> crystal <eos>, and the loss covers the
 * crystal's tokens and <eos> (the prompt is context, a deviation from the reference,
 * which trains on the prompt too).  Sequences are right-padded to the batch's longest. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../flowmm/manifold.h"
#include "text.h"

int text_sequence(const text_config *c, const cb_crystal *crystal, unsigned task, cb_rng *rng, int *tokens, int cap,
                  int *n, int *prompt, cb_error *err)
{
    cb_crystal moved = {0};
    int rc = cb_crystal_copy(&moved, crystal, err);
    if (rc) return rc;
    if (rng && c->translate) {
        double v[3];
        for (int k = 0; k < 3; k++) v[k] = cb_rng_uniform(rng);
        for (int i = 0; i < moved.n; i++)
            for (int k = 0; k < 3; k++) moved.frac[i][k] += v[k];
    }
    int at = 0, len = 0;
    if (cap < 4) rc = cb_fail(err, CB_ERR_USAGE, "text: no room for a sequence");
    if (!rc) {
        tokens[at++] = CB_TOK_BOS;
        tokens[at++] = task == CB_TASK_CSP ? CB_TOK_CSP : CB_TOK_DNG;
        if (task == CB_TASK_CSP) rc = cb_text_composition(&moved, tokens + at, cap - at - 1, &len, err);
    }
    if (!rc) {
        at += len;
        *prompt = at;
        tokens[at++] = CB_TOK_SEP;
        rc = cb_text_encode(&moved, c->angle_trunc, tokens + at, cap - at - 1, &len, err);
    }
    if (!rc) {
        at += len;
        tokens[at++] = CB_TOK_EOS;
        *n = at;
    }
    cb_crystal_free(&moved);
    return rc;
}

/* The crystals the model trains on: preprocessed (unless raw_cell), within the vocabulary
 * and short enough for the context in the longer (CSP) form. */
static int prepare(const text_config *c, const cb_dataset *in, cb_dataset *out, size_t *skipped, cb_error *err)
{
    memset(out, 0, sizeof *out);
    *skipped = 0;
    int *tok = malloc((size_t)c->gpt.ctx * 2 * sizeof *tok);
    if (!tok) return cb_fail(err, CB_ERR_NOMEM, "text: out of memory");
    int rc = CB_OK;
    for (size_t i = 0; i < in->n && !rc; i++) {
        cb_crystal p = {0};
        cb_error local;
        int n, prompt;
        int bad = c->raw_cell ? cb_crystal_copy(&p, &in->items[i], &local) : cb_flowmm_preprocess(&in->items[i], &p, &local);
        if (!bad) bad = text_sequence(c, &p, CB_TASK_CSP, NULL, tok, 2 * c->gpt.ctx, &n, &prompt, &local) || n > c->gpt.ctx;
        if (bad) {
            (*skipped)++;
            cb_crystal_free(&p);
            continue;
        }
        rc = cb_dataset_take(out, &p, err);
        if (rc) cb_crystal_free(&p);
    }
    free(tok);
    if (!rc && !out->n) rc = cb_fail(err, CB_ERR_INVALID, "text: no crystal fits the vocabulary and the context");
    if (rc) cb_dataset_free(out);
    return rc;
}

/* Tokens and targets of crystals items[idx[0..n)] into a B×T batch. */
static int batch_of(const text_config *c, const cb_dataset *set, const size_t *idx, int n, cb_rng *rng, int *tokens,
                    int *targets, int *T, cb_error *err)
{
    int ctx = c->gpt.ctx, longest = 0;
    int *seq = malloc((size_t)n * (ctx + 1) * sizeof *seq), *len = malloc((size_t)n * sizeof *len),
        *prompt = malloc((size_t)n * sizeof *prompt);
    int rc = seq && len && prompt ? CB_OK : cb_fail(err, CB_ERR_NOMEM, "text: out of memory");
    for (int b = 0; b < n && !rc; b++) {
        unsigned task = cb_rng_uniform(rng) < c->csp_fraction ? CB_TASK_CSP : CB_TASK_DNG;
        rc = text_sequence(c, &set->items[idx[b]], task, rng, seq + (size_t)b * (ctx + 1), ctx + 1, &len[b],
                           &prompt[b], err);
        if (!rc && len[b] - 1 > longest) longest = len[b] - 1;
    }
    if (!rc) {
        *T = longest;
        for (int b = 0; b < n; b++)
            for (int t = 0; t < longest; t++) {
                const int *s = seq + (size_t)b * (ctx + 1);
                int in = t < len[b] - 1;
                tokens[b * longest + t] = in ? s[t] : CB_TOK_PAD;
                /* position t predicts token t + 1; the prompt's tokens (up to <sep>) are given */
                targets[b * longest + t] = in && t >= prompt[b] ? s[t + 1] : -1;
            }
    }
    free(seq), free(len), free(prompt);
    return rc;
}

typedef struct step_ctx {
    text_model *m;
    const cb_dataset *train, *val;
    int *tokens, *targets;
} step_ctx;

static int train_step(void *ctx, uint64_t epoch, const size_t *idx, int n, double *loss, cb_error *err)
{
    (void)epoch;
    step_ctx *s = ctx;
    text_model *m = s->m;
    int T;
    int rc = batch_of(&m->cfg, s->train, idx, n, &m->rng, s->tokens, s->targets, &T, err);
    if (!rc) rc = cb_gpt_forward(&m->gpt, m->gpt.p.w, &m->acts, s->tokens, s->targets, n, T, loss, err);
    if (!rc) rc = cb_gpt_backward(&m->gpt, &m->acts, err);
    return rc;
}

/* Mean per-token loss over (up to val_max) validation crystals, fixed draws, EMA weights. */
static int validate(void *ctx, double *out, cb_error *err)
{
    step_ctx *s = ctx;
    text_model *m = s->m;
    const text_config *c = &m->cfg;
    size_t n = s->val->n < (size_t)c->val_max ? s->val->n : (size_t)c->val_max, *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx) return cb_fail(err, CB_ERR_NOMEM, "text: out of memory");
    for (size_t i = 0; i < n; i++) idx[i] = i;
    cb_rng base, rng;
    cb_rng_seed(&base, c->seed);
    cb_rng_fork(&base, TEXT_STREAM_VAL, &rng);
    double sum = 0;
    long tokens = 0;
    int rc = CB_OK;
    for (size_t at = 0; at < n && !rc; at += (size_t)c->batch) {
        int k = (int)(n - at < (size_t)c->batch ? n - at : (size_t)c->batch), T;
        double l;
        rc = batch_of(c, s->val, idx + at, k, &rng, s->tokens, s->targets, &T, err);
        if (!rc) rc = cb_gpt_forward(&m->gpt, m->gpt.p.ema, &m->acts, s->tokens, s->targets, k, T, &l, err);
        sum += l * (double)m->acts.supervised;
        tokens += m->acts.supervised;
    }
    free(idx);
    *out = tokens ? sum / (double)tokens : NAN;
    return rc;
}

int text_train(text_model *m, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx, cb_error *err)
{
    const text_config *c = &m->cfg;
    cb_dataset tr, va = {0};
    size_t skipped, vskipped = 0;
    int rc = prepare(c, train, &tr, &skipped, err);
    if (rc) return rc;
    if (skipped)
        fprintf(stderr, "text: %zu of %zu training crystals left out (beyond Z = %d, no reduced cell, or longer than "
                        "the context of %d tokens)\n",
                skipped, train->n, CB_TEXT_MAX_Z, c->gpt.ctx);
    if (val && val->n && prepare(c, val, &va, &vskipped, err) == CB_ERR_INVALID) va.n = 0;
    step_ctx s = {m, &tr, &va, NULL, NULL};
    s.tokens = malloc((size_t)c->batch * c->gpt.ctx * sizeof *s.tokens);
    s.targets = malloc((size_t)c->batch * c->gpt.ctx * sizeof *s.targets);
    if (!s.tokens || !s.targets) rc = cb_fail(err, CB_ERR_NOMEM, "text: out of memory");
    if (!rc) {
        cb_nn_epoch_plan plan = {.name = TEXT_NAME,
                                 .n_train = tr.n,
                                 .batch = c->batch,
                                 .epochs = c->epochs,
                                 .val_every = c->val_every,
                                 .lr = c->lr,
                                 .lr_min = c->lr_min,
                                 .clip = c->clip,
                                 .clip_norm = 1,
                                 .warmup_steps = c->warmup,
                                 .lr_per_step = 1,
                                 .ema_decay = c->ema_decay,
                                 .adam = {0.9, c->beta2, 1e-8, c->weight_decay},
                                 .seed = c->seed,
                                 .epoch_stream = TEXT_STREAM_EPOCH,
                                 .step = train_step,
                                 .validate = va.n ? validate : NULL,
                                 .model = &s};
        rc = cb_nn_train_epochs(&m->gpt.p, &plan, &m->at, ctx, err);
        if (!rc) m->done = 1;
    }
    m->trained = m->trained || !rc || rc == CB_ERR_INTERRUPTED;
    free(s.tokens);
    free(s.targets);
    cb_dataset_free(&tr);
    if (va.items) cb_dataset_free(&va);
    return rc;
}
