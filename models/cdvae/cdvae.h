/* The CDVAE backend (models.md §4.1–§4.2): a variational autoencoder whose decoder is a
 * noise-conditional score network over coordinates and atom types, sampled by annealed
 * Langevin dynamics.  Private to models/cdvae/.
 *
 *   cdvae_config.c    configuration keys, defaults and the config hash
 *   cdvae_net.c       the parameter set (encoder, heads, decoder) and the lattice scaler
 *   cdvae_loss.c      one batch: encode, reparameterise, heads, corrupt, decode, the six
 *                     losses and their backward
 *   cdvae_train.c     the training data and the epochs (models/nn/epochs.h)
 *   cdvae_sample.c    annealed Langevin dynamics for DNG, CSP and reconstruction
 *   cdvae_backend.c   the cb_model_ops vtable, checkpoints
 *
 * Substitution (docs/models.md): the reference encoder is DimeNet++ and its decoder
 * GemNet-T; here both are CSPNets on the shared core (models/nn/cspnet.h), as models.md
 * §4.2 specifies — the encoder's lattice head gives [μ ‖ log σ²] from mean‖sum pooling,
 * the decoder takes the latent (and, a flagged deviation on by default, log σ) in place
 * of FlowMM's time, and its fractional coordinate output is mapped to Cartesian by the
 * cell (pred_cart = coord_out · L).
 *
 * One state is one task (model.h).  DNG trains the structure encoder.  CSP trains the
 * composition-only encoder of §4.2 (a DeepSets over the atom types: honest CSP), or, with
 * encoder = structure, CDVAE's "reconstruction", which encodes the target structure itself
 * and so leaks its geometry (reported under its own name, never as CSP). */
#ifndef CB_CDVAE_H
#define CB_CDVAE_H

#include <stdint.h>

#include "crystalbench/config.h"
#include "crystalbench/model.h"
#include "../nn/cspnet.h"
#include "../nn/epochs.h"
#include "../nn/mlp.h"
#include "../nn/train.h"

#define CDVAE_NAME "cdvae"
#define CDVAE_CLASSES 100  /* element classes: Z − 1 ∈ [0, 100) */
#define CDVAE_MAX_ATOMS 99 /* the decoder's num-atoms feature (one_hot(N, 100)) */
#define CDVAE_MAX_SIGMAS 1000
/* Streams forked off the seed: initial weights, training draws (m->rng, carried by
 * checkpoints), validation draws, epoch e's order. */
enum { CDVAE_STREAM_INIT = 1, CDVAE_STREAM_TRAIN = 3, CDVAE_STREAM_VAL = 4, CDVAE_STREAM_EPOCH = 1000 };

typedef enum cdvae_encoder {
    CDVAE_ENCODER_STRUCTURE = 0,  /* a CSPNet over the whole crystal (CDVAE; DNG) */
    CDVAE_ENCODER_COMPOSITION = 1 /* DeepSets over the atom types only (CSP) */
} cdvae_encoder;

typedef struct cdvae_config {
    unsigned task;           /* CB_TASK_DNG or CB_TASK_CSP */
    cdvae_encoder encoder;
    int latent;              /* d_z (CDVAE: 256) */
    int head_hidden;         /* the heads' hidden width (CDVAE: 256) */
    int comp_hidden;         /* the composition encoder's width */
    cb_cspnet_config enc;    /* the structure encoder ("encoder."), lattice head 2·d_z */
    cb_cspnet_config dec;    /* the decoder ("decoder."), conditioned on [z ‖ log σ] */
    int sigma_input;         /* 1: log σ is fed to the decoder (deviation, flagged) */
    int n_sigmas;            /* noise levels (CDVAE: 50) */
    double sigma_begin, sigma_end, type_sigma_begin, type_sigma_end;
    double cost_natom, cost_lattice, cost_composition, cost_coord, cost_type, beta;
    long teacher_forcing_epochs; /* the decoder sees the true cell for these epochs */
    long batch, epochs;
    double lr, lr_min, weight_decay, clip, ema_decay;
    long val_every, val_max;
    long n_step_each;        /* Langevin steps per noise level */
    double step_lr, min_sigma;
    long sample_threads;
    uint64_t seed;
} cdvae_config;

int cdvae_config_read(const cb_config *cfg, unsigned task, cdvae_config *out, cb_error *err);
/* SHA-256 (hex) of everything that shapes the parameters and the training trajectory. */
void cdvae_config_hash(const cdvae_config *c, char hex[CB_SHA256_HEX]);
/* σ_k = exp(linspace(ln begin, ln end, n))[k], k = 0 the largest. */
double cdvae_sigma(int k, int n, double begin, double end);
int cdvae_has_type_loss(const cdvae_config *c); /* DNG: types are generated */

/* ---- the network (cdvae_net.c) ------------------------------------------------------ */

/* CDVAE's scale_length lattice (a, b, c over N^{1/3}, then α, β, γ in degrees) and the
 * StandardScalerTorch fitted on the training split: mean, biased std + 1e-5. */
typedef struct cdvae_scaler {
    double mean[6], std[6];
} cdvae_scaler;

void cdvae_scaled_lattice(const double params[6], int n, double out[6]);
int cdvae_scaler_fit(const cb_dataset *train, cdvae_scaler *s, cb_error *err);

typedef struct cdvae_net {
    cdvae_config cfg;
    cb_nn_params p;
    cb_nn_mlp fc_natom, fc_lattice, fc_comp; /* heads on z */
    cb_nn_mlp comp_mlp;                      /* composition encoder: [mean ‖ sum] → 2·d_z */
    size_t comp_emb;                         /* its embedding [comp_hidden × 100] */
    cb_cspnet_cache enc_cache, dec_cache;    /* grown on demand */
    cdvae_scaler scaler;
} cdvae_net;

/* Declares, allocates and initialises the parameters of cfg (drawn from rng). */
int cdvae_net_create(cdvae_net *n, const cdvae_config *cfg, cb_rng *rng, cb_error *err);
void cdvae_net_free(cdvae_net *n);

/* ---- one batch (cdvae_loss.c) ------------------------------------------------------- */

/* A training crystal after the shared preprocessing (Niggli, canonical cell). */
typedef struct cdvae_example {
    int n;
    const int *z;
    const double (*f)[3];
    double lattice[3][3];
    double scaled_std[6]; /* the scaler applied to its scaled lattice */
} cdvae_example;

/* Everything one batch needs, grown on demand and reused. */
typedef struct cdvae_batch {
    cb_cspnet_batch enc, dec;
    int cap_graphs, cap_nodes;
    float *arena;    /* the float arrays below live in it */
    size_t arena_cap;
    /* per crystal */
    float *enc_in;   /* composition encoder: [B × 2H_c] pooled embeddings */
    float *comp_pre, *comp_act, *mu_lv; /* [B × H_c] ×2, [B × 2d_z] */
    float *enc_coord;                   /* [N × 3] the structure encoder's unused coord head */
    float *eps, *z;                     /* [B × d_z] */
    float *na_pre, *na_act, *na_out;    /* natom head: [B × h] ×2, [B × 100] */
    float *la_pre, *la_act, *la_out;    /* lattice head: [B × h] ×2, [B × 6] */
    float *co_pre, *co_act, *co_out;    /* composition head: [B × h] ×2, [B × 100] */
    float *dec_lat;                     /* [B × 1] the decoder's unused lattice head */
    float *dec_coord, *dec_types;       /* [N × 3], [N × 100] */
    /* gradients, same shapes */
    float *d_mu_lv, *d_z, *d_na, *d_la, *d_co, *d_coord, *d_types, *d_cond, *scratch;
    double *sigma, *tau;                /* [B] */
    double (*L_use)[3][3];              /* [B] the cell the decoder sees */
    double (*target)[3];                /* [N] Δ/σ */
    int *z_noisy;                       /* [N] Z̃ */
} cdvae_batch;

void cdvae_batch_init(cdvae_batch *b);
void cdvae_batch_free(cdvae_batch *b);

/* The six losses of models.md §4.1 (those of the task) of examples ex[0..n) at `epoch`
 * (teacher forcing) with weights w, drawing from rng; with backward, their gradient
 * accumulated into n->p.grad.  parts (may be NULL) receives natom, lattice, composition,
 * coord, type, KL (unweighted). */
enum { CDVAE_PART_NATOM, CDVAE_PART_LATTICE, CDVAE_PART_COMP, CDVAE_PART_COORD, CDVAE_PART_TYPE, CDVAE_PART_KL,
       CDVAE_PARTS };
int cdvae_loss(cdvae_net *net, const float *w, cdvae_batch *b, const cdvae_example *const *ex, int n,
               uint64_t epoch, cb_rng *rng, int backward, double *loss, double parts[CDVAE_PARTS], cb_error *err);

/* The encoder on crystals ex[0..n) (the structure or the composition one): μ and log σ²
 * into b->mu_lv.  Lays out b->enc. */
int cdvae_encode(cdvae_net *net, const float *w, cdvae_batch *b, const cdvae_example *const *ex, int n,
                 cb_error *err);
/* The decoder on the batch laid out in b->dec with b->z, b->sigma and b->L_use filled:
 * writes b->dec_coord (fractional outputs) and, DNG, b->dec_types. */
int cdvae_decode(cdvae_net *net, const float *w, cdvae_batch *b, cb_error *err);
/* The cell fc_lattice's standardised output std6 gives for n atoms (the scaler undone,
 * lengths times n^{1/3}) into L, or 0 when it is no usable cell: a length under 0.1 Å,
 * a non-finite value, or a volume under 1e-3 Å³.  Training and sampling both use it. */
int cdvae_predicted_cell(const cdvae_net *net, const float *std6, int n, double L[3][3]);
/* The heads on b->z (n crystals). */
void cdvae_heads(const cdvae_net *net, const float *w, cdvae_batch *b, int n);
/* Grows b for n crystals of `nodes` atoms in all. */
int cdvae_batch_reserve(cdvae_batch *b, const cdvae_config *cfg, int n, int nodes, cb_error *err);

/* ---- the backend state (cdvae_train.c) -------------------------------------------- */

typedef struct cdvae {
    cdvae_net net;
    char config_hash[CB_SHA256_HEX];
    int have_scaler; /* trained or loaded: sampling may start */
    int done;        /* every epoch trained: saved as the EMA weights only */
    cb_nn_epoch_state at;
    cb_rng rng;      /* the training stream, saved with the state */
    cdvae_batch batch;
} cdvae;

typedef struct cdvae_data {
    cb_dataset kept;
    cdvae_example *ex;
    size_t n, skipped;
} cdvae_data;

/* The example of a preprocessed crystal (pointing into it) under scaler s. */
void cdvae_example_of(const cb_crystal *c, const cdvae_scaler *s, cdvae_example *ex);
/* Preprocesses (Niggli, canonical cell) the crystals CDVAE can take; needs the scaler. */
int cdvae_data_prepare(const cb_dataset *in, const cdvae_scaler *s, cdvae_data *out, cb_error *err);
void cdvae_data_free(cdvae_data *d);
int cdvae_train(cdvae *m, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx, cb_error *err);

/* ---- sampling (cdvae_sample.c) ---------------------------------------------------- */

/* DNG (targets NULL: n crystals from z ~ N(0, I)) or CSP / reconstruction (one
 * prediction per target, its composition forced), with the EMA weights; each crystal
 * draws from its own stream seeded from rng in order, so chunks give the same crystals. */
int cdvae_sample(cdvae_net *net, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err);
/* sample_composition of models.md §4.1: N atoms from the probabilities p[100]. */
void cdvae_sample_composition(const double *p, int n, cb_rng *rng, int *z);

#endif
