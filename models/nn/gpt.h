/* A small decoder-only transformer (GPT-2 block, models.md §5.3–§5.4), llm.c style: one
 * parameter buffer (a cb_nn_params set), a forward and a backward per layer, activations
 * allocated once for a largest batch, and a KV-cache step for sampling.
 *
 *   x⁰_t = wte[tok_t] + wpe[t]
 *   layer l (pre-norm):  x ← x + W_o·attn(LN1(x)) + b_o ;  x ← x + W2·GELU(W1·LN2(x) + b1) + b2
 *   logits_t = W_head · LNf(x_t)           (untied head, no bias)
 * with causal multi-head self-attention (fused qkv), GELU's tanh approximation and
 * layer norms with ε = 1e-5.  Sequences are right-padded: a position's keys are the
 * positions before it, so padding after a sequence never reaches it, and padded
 * positions carry no loss (target −1).
 *
 * Determinism: every loop runs in a fixed order; the threads are OpenBLAS's (same result
 * for the same thread count) and the element-wise loops' (same result for any).  The
 * KV-cache step computes what the full forward computes at that position up to float
 * rounding (other product shapes), so sampling uses the step alone. */
#ifndef CB_NN_GPT_H
#define CB_NN_GPT_H

#include <stddef.h>

#include "crystalbench/error.h"
#include "crystalbench/rng.h"
#include "train.h"

#define CB_GPT_MAX_LAYERS 32

typedef struct cb_gpt_config {
    int vocab;  /* V */
    int ctx;    /* largest sequence length (wpe rows) */
    int d;      /* model width */
    int layers;
    int heads;  /* divides d */
} cb_gpt_config;

int cb_gpt_config_check(const cb_gpt_config *c, cb_error *err);

typedef struct cb_gpt_layer_off {
    size_t ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fcp_w, fcp_b;
} cb_gpt_layer_off;

typedef struct cb_gpt {
    cb_gpt_config cfg;
    cb_nn_params p;
    size_t wte, wpe, lnf_w, lnf_b, head_w;
    cb_gpt_layer_off layer[CB_GPT_MAX_LAYERS];
} cb_gpt;

/* Declares ("wte", "wpe", "h.<l>.ln_1.weight", …, "ln_f.weight", "lm_head.weight"),
 * allocates and initialises (models.md §5.3: weights N(0, 0.02), the residual
 * projections N(0, 0.02/√(2·layers)), wpe N(0, 0.01), biases 0, LN 1 and 0), exempts
 * embeddings, layer norms and biases from weight decay, and resets the EMA. */
int cb_gpt_create(cb_gpt *g, const cb_gpt_config *cfg, cb_rng *rng, cb_error *err);
void cb_gpt_free(cb_gpt *g);

/* The activations of a forward pass on up to B sequences of up to T positions, and the
 * backward's scratch. */
typedef struct cb_gpt_acts {
    int cap_b, cap_t;
    int B, T;                       /* the last forward's */
    const float *w;                 /* its weights */
    int *tokens, *targets;          /* [B×T] copies */
    float *encoded;                 /* [BT×d] */
    float *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *atty, *res2; /* per layer */
    float *ln2, *ln2_mean, *ln2_rstd, *fch, *fch_gelu, *res3;
    float *lnf, *lnf_mean, *lnf_rstd, *logits; /* logits become dlogits after the forward */
    float *d_res, *d_ln, *d_qkv, *d_atty, *d_fcg, *d_fch, *d_p; /* scratch */
    long supervised;                /* positions with a target */
} cb_gpt_acts;

void cb_gpt_acts_init(cb_gpt_acts *a);
/* Grows a to hold B sequences of T positions (T ≤ ctx). */
int cb_gpt_acts_reserve(cb_gpt_acts *a, const cb_gpt_config *cfg, int B, int T, cb_error *err);
void cb_gpt_acts_free(cb_gpt_acts *a);

/* Forward on tokens [B×T] (row-major, in [0, V)) with targets [B×T] (a token, or −1 for
 * no loss); *loss = the mean cross-entropy over the positions with a target (0 when
 * none).  Keeps in a what the backward needs, and the loss gradient of the logits. */
int cb_gpt_forward(const cb_gpt *g, const float *w, cb_gpt_acts *a, const int *tokens, const int *targets, int B,
                   int T, double *loss, cb_error *err);
/* Backward of the last forward (weights p.w): accumulates dLoss/dθ into g->p.grad. */
int cb_gpt_backward(cb_gpt *g, cb_gpt_acts *a, cb_error *err);

/* ---- sampling with a KV cache ------------------------------------------------------- */

typedef struct cb_gpt_kv {
    int len;          /* positions cached */
    float *k, *v;     /* [layers × ctx × d] */
    float *x, *h, *qkv, *att, *y, *fc, *fcg, *mean, *rstd, *scores; /* one position's scratch */
} cb_gpt_kv;

int cb_gpt_kv_alloc(cb_gpt_kv *kv, const cb_gpt_config *cfg, cb_error *err);
void cb_gpt_kv_free(cb_gpt_kv *kv);
/* Appends `token` at position kv->len (< ctx) and writes the next-token logits [V]. */
int cb_gpt_step(const cb_gpt *g, const float *w, cb_gpt_kv *kv, int token, float *logits, cb_error *err);

/* Floating-point operations of one forward on B×T positions (2 per multiply-add, the
 * attention products over all T² entries as computed), for tokens/s and GFLOP/s reports. */
double cb_gpt_forward_flops(const cb_gpt_config *cfg, int B, int T);

#endif
