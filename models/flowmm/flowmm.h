/* The FlowMM backend (models.md §3): its configuration, its state, and the three steps
 * every use of the network goes through.  Private to models/flowmm/.
 *
 *   flowmm_config.c    configuration keys, defaults and the config hash
 *   flowmm_field.c     a batch of flow states and the vector field on it
 *                      (ProjectedConjugatedCSPNet, §3.4) with its backward
 *   flowmm_train.c     the training data, one step of flow matching (§3.3, §3.5), epochs
 *   flowmm_sample.c    the Euler sampler (§3.7) for DNG and CSP
 *   flowmm_backend.c   the cb_model_ops vtable, checkpoints
 *
 * One state is one task (model.h): CSP builds FlowMM's `null_params` network (types
 * fixed, one class index per atom, no type loss), DNG its `abits_params` network (types
 * as 7 analog bits, integrated with the rest). */
#ifndef CB_FLOWMM_BACKEND_H
#define CB_FLOWMM_BACKEND_H

#include <stdint.h>

#include "crystalbench/config.h"
#include "crystalbench/model.h"
#include "manifold.h"
#include "../nn/cspnet.h"
#include "../nn/epochs.h"
#include "../nn/train.h"

#define FLOWMM_NAME "flowmm"
/* Streams forked off the seed: initial weights, statistics estimator, training draws
 * (m->rng, then carried by checkpoints), validation draws, and epoch e's order. */
enum {
    FLOWMM_STREAM_INIT = 1,
    FLOWMM_STREAM_STATS = 2,
    FLOWMM_STREAM_TRAIN = 3,
    FLOWMM_STREAM_VAL = 4,
    FLOWMM_STREAM_EPOCH = 1000
};

/* Largest cell FlowMM's num-atoms embedding takes (one_hot(N, 100)). */
#define FLOWMM_MAX_ATOMS 99

typedef struct flowmm_config {
    unsigned task;          /* CB_TASK_CSP or CB_TASK_DNG */
    cb_cspnet_config net;   /* FlowMM's rfm_cspnet with the CPU sizes below */
    long batch;             /* crystals per optimiser step */
    long epochs;            /* passes over the training split (the cosine's T_max) */
    double lr, lr_min;      /* AdamW lr and CosineAnnealingLR's eta_min, stepped per epoch */
    double weight_decay;
    double ema_decay;       /* with torch_ema's warm-up */
    double clip;            /* gradient clipping by value */
    long stats_passes;      /* epochs of the x_t / u_t estimator (FlowMM: 5) */
    long val_every;         /* validation loss every this many epochs (and at the end) */
    long val_max;           /* at most this many validation crystals */
    long sample_steps;      /* Euler steps S */
    long sample_threads;    /* crystals integrated at once, one BLAS thread each */
    double anneal_slope, anneal_offset; /* inference anti-annealing of the coordinates */
    uint64_t seed;          /* initial weights, base draws of training, epoch order */
} flowmm_config;

/* Reads cfg (every key optional; unknown keys are an error) for `task`. */
int flowmm_config_read(const cb_config *cfg, unsigned task, flowmm_config *out, cb_error *err);
/* SHA-256 of everything that shapes the parameters and the training trajectory, as
 * 64 hex digits: a checkpoint of another configuration is refused on load. */
void flowmm_config_hash(const flowmm_config *c, char hex[CB_SHA256_HEX]);

/* ---- a batch of flow states and the vector field on it (flowmm_field.c) ------------- */

/* The state x = (A, F, ℓ) of a batch of crystals in double (the ODE and the paths are
 * integrated in double; the network reads float), the network's batch and its outputs,
 * and, for training, the targets and the gradients.  Crystal b owns atoms
 * [net.first[b], net.first[b] + net.num_atoms[b]). */
typedef struct flowmm_batch {
    cb_cspnet_batch net;
    int cap_graphs, cap_nodes;
    double *t;             /* [graphs] */
    double (*f)[3];        /* [nodes] fractional coordinates on the torus */
    double (*l)[6];        /* [graphs] lattice state ℓ */
    double (*a)[CB_FLOWMM_ABITS]; /* [nodes] analog bits (DNG) */
    int *z;                /* [nodes] atomic numbers (CSP input; DNG: decoded output) */
    /* the vector field, after de-standardisation and proju */
    double (*vf)[3], (*vl)[6], (*va)[CB_FLOWMM_ABITS];
    /* training: target velocities, then dLoss/dv in the same arrays' shapes */
    double (*uf)[3], (*ul)[6], (*ua)[CB_FLOWMM_ABITS];
    /* raw network outputs and their gradients (float) */
    float *out_coord, *out_lat, *out_types;
    float *d_coord, *d_lat, *d_types;
} flowmm_batch;

void flowmm_batch_init(flowmm_batch *b);
void flowmm_batch_free(flowmm_batch *b);
/* Lays out n_graphs crystals of num_atoms[b] atoms (1..FLOWMM_MAX_ATOMS) and grows the
 * arrays when needed; the data arrays then hold garbage until the caller fills them. */
int flowmm_batch_layout(flowmm_batch *b, const cb_cspnet_config *cfg, int n_graphs, const int *num_atoms,
                        cb_error *err);

/* The network, its statistics and its scratch: what the vector field needs. */
typedef struct flowmm_net {
    flowmm_config cfg;
    cb_nn_params p;
    cb_cspnet_cache cache; /* sized for cache_graphs / nodes / edges, grown on demand */
    cb_flowmm_stats stats;
} flowmm_net;

/* v = wrapper(t, x) (models.md §3.4) with weights w (p.w or p.ema): F wrapped into
 * [0, 1), lat_in = z-scored ℓ, the un-standardised cell for the unit dots, CSPNet, then
 * v_ℓ = lat_out·u_std + u_mean, v_F = coord_out·coord_std minus its per-crystal mean,
 * v_A = type_out (DNG).  Grows the activation cache when the batch is larger than any
 * before. */
int flowmm_field(flowmm_net *n, const float *w, flowmm_batch *b, cb_error *err);
/* Backward of the last flowmm_field (with p.w) given dLoss/dv in b->uf, b->ul, b->ua:
 * accumulates dLoss/dθ into n->p.grad. */
int flowmm_field_backward(flowmm_net *n, flowmm_batch *b, cb_error *err);

/* ---- training (flowmm_train.c) ---------------------------------------------------- */

/* The backend's state: the network and where training stands. */
typedef struct flowmm {
    flowmm_net net;
    char config_hash[CB_SHA256_HEX];
    int have_stats;       /* trained or loaded: the statistics exist, sampling may start */
    int done;             /* every epoch trained: saved as the EMA weights only */
    cb_nn_epoch_state at; /* optimiser steps taken, this epoch's running loss */
    cb_rng rng;           /* the training stream (t and base draws), saved with the state */
    flowmm_batch batch;
} flowmm;

/* Trains until cfg.epochs are done (continuing from m->at), logging per epoch the
 * mean training loss, the learning rate and, every val_every epochs and at the end, the
 * validation loss with the EMA weights.  CB_ERR_INTERRUPTED when ctx->stop was set
 * (checked between steps); the state then stands at a step boundary. */
int flowmm_train(flowmm *m, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx,
                 cb_error *err);

/* One training crystal after FlowMM's preprocessing, as the paths need it. */
typedef struct flowmm_example {
    int n;
    const int *z;          /* into the preprocessed dataset */
    const double (*f1)[3]; /* wrapped fractional coordinates */
    double l1[6];          /* ℓ of the Niggli cell */
} flowmm_example;

typedef struct flowmm_data {
    cb_dataset kept;       /* preprocessed crystals that FlowMM can train on */
    flowmm_example *ex;    /* one per kept crystal */
    size_t n, skipped;     /* kept, and refused (too many atoms, angle out of domain) */
} flowmm_data;

int flowmm_data_prepare(const cb_dataset *in, flowmm_data *out, cb_error *err);
void flowmm_data_free(flowmm_data *d);

/* Draws the flow-matching sample of each crystal of `ex[0..n)` into b (order of draws
 * per crystal: t, F0, ℓ0, A0), evaluates the field with weights w, and returns the loss
 * of models.md §3.5; with `backward` (w must then be p.w), also accumulates its
 * gradient into p.grad. */
int flowmm_loss(flowmm_net *net, const float *w, flowmm_batch *b, const flowmm_example *const *ex, int n,
                cb_rng *rng, int backward, double *loss, cb_error *err);

/* ---- sampling (flowmm_sample.c) ---------------------------------------------------- */

/* Integrates n crystals from the base distribution with the EMA weights: DNG draws each
 * crystal's size from the training histogram; CSP takes targets[i]'s atoms.  All draws
 * come first, per crystal in order: [N,] F0, ℓ0[, A0].  Each crystal is then integrated
 * on its own, sample_threads at a time: OpenBLAS rounds a row of a product differently
 * depending on how many rows the product has (its kernels treat the rows of a partial
 * block in another order), so a crystal integrated in a batch beside others would
 * depend on them, and chunked calls would not agree. */
int flowmm_sample(flowmm_net *net, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out,
                  cb_error *err);

#endif
