/* Training primitives shared by the neural backends (models.md §2.9, §3.6), in llm.c's
 * style: every parameter of a model lives in ONE contiguous float buffer, described by a
 * table of named tensors (name, shape, offset).  Gradients, the AdamW moments and the
 * EMA copy are further buffers with the same layout, so AdamW, EMA, clipping, save and
 * load are each a single loop over `count` floats, and the same offset addresses a
 * tensor in any of them (run the EMA model by passing p->ema where p->w would go).
 *
 *   params.c      the parameter set and PyTorch's default initialisations
 *   optim.c       AdamW, the cosine schedule with warm-up, EMA, clipping by value
 *   checkpoint.c  checkpoint files (header, raw little-endian float32, CRC32)
 *
 * Determinism: every loop runs in index order with plain float32 arithmetic (the build
 * is ISO C, so no contraction into FMAs), and the only randomness is the caller's
 * cb_rng; same seed and build → bit-identical parameters after any number of steps,
 * with or without a checkpoint in between. */
#ifndef CRYSTALBENCH_NN_TRAIN_H
#define CRYSTALBENCH_NN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "crystalbench/error.h"
#include "crystalbench/hash.h"
#include "crystalbench/rng.h"

/* ---- parameter set (params.c) ------------------------------------------------------ */

#define CB_NN_NAME_MAX 64 /* tensor names, NUL included */
#define CB_NN_MAX_DIMS 4

typedef struct cb_nn_tensor {
    char name[CB_NN_NAME_MAX]; /* unique in its set, e.g. "layers.0.edge_mlp.0.weight" */
    int ndim;                  /* 1..CB_NN_MAX_DIMS */
    size_t shape[CB_NN_MAX_DIMS];
    size_t offset; /* first float of the tensor in every buffer (w, grad, m, v, ema) */
    size_t size;   /* product of the shape */
} cb_nn_tensor;

typedef struct cb_nn_params {
    cb_nn_tensor *tensors; /* in declaration order; offsets increase without gaps */
    size_t ntensors, cap;
    size_t count; /* floats in every buffer: the sum of the tensor sizes */
    /* NULL until cb_nn_params_alloc, then `count` floats each, zero-filled. */
    float *w;    /* the parameters θ */
    float *grad; /* dL/dθ: backward passes accumulate (+=) into it */
    float *m;    /* AdamW first moment (PyTorch's exp_avg) */
    float *v;    /* AdamW second moment (exp_avg_sq) */
    float *ema;  /* EMA of θ (θ̄) */
    unsigned char *decay_mask; /* [count]: 1 where AdamW's weight decay applies (all, until
                                  cb_nn_params_exempt_decay) */
    uint64_t adam_steps;  /* AdamW steps taken: the t of the bias correction */
    uint64_t ema_updates; /* EMA updates taken: the n of the EMA warm-up */
} cb_nn_params;

/* An empty set (no tensors, no buffers). */
void cb_nn_params_init(cb_nn_params *p);
/* Declares a tensor of `ndim` dimensions (each > 0) after the previous ones and writes
 * its offset to *offset (may be NULL).  Only before cb_nn_params_alloc.  CB_ERR_USAGE for
 * a duplicate, empty or too long name, a bad shape, or a set already allocated;
 * CB_ERR_NOMEM. */
int cb_nn_params_add(cb_nn_params *p, const char *name, int ndim, const size_t *shape,
                     size_t *offset, cb_error *err);
/* A PyTorch Linear(in, out): "<prefix>.weight" [out][in] (row-major, y = x Wᵀ + b) and,
 * when b_off is non-NULL, "<prefix>.bias" [out]. */
int cb_nn_params_add_linear(cb_nn_params *p, const char *prefix, size_t in, size_t out,
                            size_t *w_off, size_t *b_off, cb_error *err);
/* Allocates the five buffers, zero-filled, and zeroes the step counters.  CB_ERR_USAGE
 * for an empty set or a second call; CB_ERR_NOMEM (then nothing is allocated). */
int cb_nn_params_alloc(cb_nn_params *p, cb_error *err);
/* The tensor called `name`, or NULL. */
const cb_nn_tensor *cb_nn_params_find(const cb_nn_params *p, const char *name);
/* Lowercase hex SHA-256 of the table (names and shapes in order): two sets with the same
 * hash lay out the same tensors at the same offsets.  Checkpoints store it. */
void cb_nn_params_layout_hash(const cb_nn_params *p, char hex[CB_SHA256_HEX]);
/* Exempts tensor `name` from weight decay (GPT-2 practice: embeddings, layer norms and
 * biases are not decayed).  CB_ERR_USAGE for an unknown name or a set not allocated. */
int cb_nn_params_exempt_decay(cb_nn_params *p, const char *name, cb_error *err);
/* grad = 0, before each backward pass (which accumulate). */
void cb_nn_params_zero_grad(cb_nn_params *p);
/* Releases everything; p is left empty (as after cb_nn_params_init). */
void cb_nn_params_free(cb_nn_params *p);

/* Initialisation (models.md §2.9, PyTorch's defaults), drawn from `rng` in index order,
 * so a seed fixes the weights.  A uniform draw is (float)((2u − 1)·bound) with
 * u = cb_rng_uniform(rng); a normal one (float)(mean + std·cb_rng_normal(rng)).  The
 * distributions are PyTorch's, the numbers not (another generator). */
void cb_nn_init_uniform(float *x, size_t n, double bound, cb_rng *rng);
void cb_nn_init_normal(float *x, size_t n, double mean, double std, cb_rng *rng);
void cb_nn_init_const(float *x, size_t n, float value);
/* nn.Linear.reset_parameters: kaiming_uniform_(W, a=√5) is U(−1/√in, 1/√in), and the bias
 * U(−1/√in, 1/√in); W ([out][in]) is drawn first, then b (skipped when NULL).  in > 0.
 * Embedding: cb_nn_init_normal(x, n, 0, 1, rng); LayerNorm: γ = 1, β = 0. */
void cb_nn_init_linear(float *w, float *b, size_t in, size_t out, cb_rng *rng);

/* ---- optimiser (optim.c) ----------------------------------------------------------- */

/* torch.optim.AdamW's hyper-parameters; lr is passed per step (it follows a schedule).
 * PyTorch's defaults are {0.9, 0.999, 1e-8, 1e-2}; FlowMM uses weight_decay 0 (§3.6). */
typedef struct cb_nn_adamw {
    double beta1, beta2, eps, weight_decay;
} cb_nn_adamw;

/* One AdamW step over all `count` parameters from p->grad, as torch.optim.AdamW
 * (_single_tensor_adamw, amsgrad off, maximize off), t = ++p->adam_steps:
 *     θ ← θ·(1 − lr·λ)                          decoupled weight decay, applied first
 *                                               (where p->decay_mask says so)
 *     m ← m + (1 − β1)(g − m)                   = β1·m + (1 − β1)·g   (exp_avg.lerp_)
 *     v ← β2·v + (1 − β2)·g·g
 *     θ ← θ − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
 * i.e. θ ← θ − lr·m̂/(√v̂ + ε) with m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ): ε outside the root.
 * Scalars (1 − lr·λ, lr/(1−β1ᵗ), √(1−β2ᵗ)) are computed in double and rounded to float
 * once, the per-element work is float32, as PyTorch does on the CPU. */
void cb_nn_adamw_step(cb_nn_params *p, const cb_nn_adamw *cfg, double lr);

/* Learning rate at step `step` (0-based) of `total`, with `warmup` linear warm-up steps
 * (llm.c's get_lr; computed in double):
 *     step < warmup:          lr_max · (step + 1) / warmup
 *     warmup ≤ step < total:  lr_min + (lr_max − lr_min) · (1 + cos(π·(step − warmup)/(total − warmup))) / 2
 *     step ≥ total:           lr_min
 * With warmup = 0 this is torch's CosineAnnealingLR(T_max = total, eta_min = lr_min) in
 * closed form; FlowMM steps it once per epoch (step = epoch, total = train_max_epochs). */
double cb_nn_lr_cosine(uint64_t step, uint64_t warmup, uint64_t total, double lr_max,
                       double lr_min);

/* θ̄ ← θ (θ̄ starts at the initial θ, models.md §2.9) and p->ema_updates = 0. */
void cb_nn_ema_reset(cb_nn_params *p);
/* One EMA update, after each optimiser step, as torch_ema's ExponentialMovingAverage
 * (FlowMM's EMA): n = ++p->ema_updates;
 *     d = warmup ? min(decay, (1 + n)/(10 + n)) : decay
 *     θ̄ ← θ̄ − (1 − d)·(θ̄ − θ)                  = d·θ̄ + (1 − d)·θ
 * with 1 − d rounded to float once. */
void cb_nn_ema_update(cb_nn_params *p, double decay, int warmup);

/* torch.nn.utils.clip_grad_norm_: the gradients scaled by max_norm / (‖g‖ + 1e-6) when
 * that is below 1, ‖g‖ the global L2 norm (summed in double, in index order).  Returns
 * ‖g‖ (NaN stays NaN and scales nothing). */
double cb_nn_clip_grad_norm(cb_nn_params *p, double max_norm);
/* torch.nn.utils.clip_grad_value_: each gradient clamped to [−clip, clip] (clip > 0).
 * A NaN stays NaN (as torch.clamp), so the caller's non-finite check still sees it. */
void cb_nn_clip_grad_value(cb_nn_params *p, float clip);

/* ---- checkpoints (checkpoint.c) ---------------------------------------------------- */

#define CB_NN_CKPT_VERSION 2 /* 2: the flags word (weights-only files) */
#define CB_NN_BACKEND_MAX 32 /* backend names up to 31 characters */

/* What a checkpoint holds besides the parameter set: the caller's training position. */
typedef struct cb_nn_ckpt_state {
    uint64_t step; /* the caller's count (batches, or epochs): need not equal adam_steps */
    cb_rng rng;    /* the training stream, saved whole (with the spare normal) */
    /* Model-specific bytes (e.g. dataset statistics a model needs to sample), in a format
     * the backend defines; covered by the CRC.  After a load: malloc'd (NULL when empty),
     * the caller frees it (cb_nn_ckpt_state_free). */
    unsigned char *extra;
    size_t extra_len;
    /* Save: write θ̄ only (a finished model for sampling: a quarter of the size, and the
     * form trained models are committed in).  Load: the file was such a one; θ and θ̄
     * then both hold the stored θ̄ and the AdamW moments are 0, so it samples exactly as
     * the full state did but does not continue training exactly. */
    int weights_only;
} cb_nn_ckpt_state;

void cb_nn_ckpt_state_free(cb_nn_ckpt_state *st);

/* File layout (all integers little-endian; the header is 272 bytes):
 *     0   8  magic "CBNNCKPT"
 *     8   4  u32 format version (CB_NN_CKPT_VERSION)
 *    12   4  u32 header length (272)
 *    16  32  backend name, ASCII, NUL-padded
 *    48  64  config hash: 64 lowercase hex digits (SHA-256 of the model's config)
 *   112  64  layout hash: cb_nn_params_layout_hash
 *   176   8  u64 parameter count n
 *   184   8  u64 step                 192  8  u64 AdamW steps      200  8  u64 EMA updates
 *   208  32  u64 rng.s[0..3]          240  8  rng.spare (IEEE-754 binary64 bits)
 *   248   8  u64 rng.has_spare        256  8  u64 extra length in bytes
 *   264   8  u64 flags: bit 0 = weights only
 *   272      n float32 θ, n float32 m, n float32 v, n float32 θ̄ (weights only: n float32
 *            θ̄), then the extra bytes
 *   end−4 4  u32 CRC-32 (zlib's, as in gzip) of every byte before it
 * Gradients are not saved (every step recomputes them).
 *
 * Save: written to "<path>.tmp" and renamed (cb_atomic_file), so a crash leaves the
 * previous checkpoint whole.  CB_ERR_USAGE for a backend name that is empty, longer
 * than 31 characters or not printable ASCII, a config hash that is not 64 lowercase hex
 * digits, or a set not allocated; CB_ERR_IO ("<path>: cannot write: ..."). */
int cb_nn_checkpoint_save(const char *path, const char *backend, const char *config_hash,
                          const cb_nn_params *p, const cb_nn_ckpt_state *st, cb_error *err);
/* Load into an allocated set laid out by the same code for the same config.  Checks, in
 * order: the file is readable (CB_ERR_IO), then (CB_ERR_INVALID, one line naming the
 * file and the problem) magic, version, size (truncated or trailing bytes), CRC,
 * backend, config hash, parameter count and layout.  Reads the file whole before
 * touching anything: on any error p and st are unchanged.  On success fills θ, m, v, θ̄
 * and the counters of p, zeroes p->grad, and replaces *st (freeing its old extra). */
int cb_nn_checkpoint_load(const char *path, const char *backend, const char *config_hash,
                          cb_nn_params *p, cb_nn_ckpt_state *st, cb_error *err);

#endif
