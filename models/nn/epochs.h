/* The epoch loop every trained backend shares (FlowMM, CDVAE): shuffled epochs in
 * batches, one optimiser step per batch (the backend's loss and backward, then clipping
 * by value or by norm, AdamW and the EMA with warm-up), a cosine learning rate stepped per
 * epoch or per step,
 * the mean training loss, the learning rate and every val_every epochs (and at the end)
 * the validation loss logged when an epoch completes, a progress bar, and a stop flag
 * checked between steps.
 *
 * Resuming: the order of epoch e is a shuffle from a stream forked off `seed` for
 * epoch_stream + e, so it needs no saving; where training stands is the caller's
 * cb_nn_epoch_state, which its checkpoint carries, together with the parameter set and
 * whatever stream the backend's step draws from.  Training 2N steps then equals N steps,
 * a checkpoint and N steps, bit for bit. */
#ifndef CB_NN_EPOCHS_H
#define CB_NN_EPOCHS_H

#include <stddef.h>
#include <stdint.h>

#include "crystalbench/error.h"
#include "crystalbench/model.h"
#include "train.h"

typedef struct cb_nn_epoch_plan {
    const char *name;         /* the backend, in messages */
    size_t n_train;           /* training examples (≥ 1) */
    long batch, epochs;       /* examples per step; epochs (the cosine's T_max) */
    long val_every;           /* validation every this many epochs, and after the last */
    double lr, lr_min;        /* the cosine's ends */
    double clip;              /* gradient clipping by value, or with clip_norm ... */
    int clip_norm;            /* ... by the global norm (clip = the largest norm) */
    long warmup_steps;        /* with lr_per_step: linear warm-up steps */
    int lr_per_step;          /* 0: the cosine steps per epoch (FlowMM, CDVAE); 1: per
                                 optimiser step over all of them, after warm-up (GPT) */
    double ema_decay;         /* torch_ema's decay, with its warm-up */
    cb_nn_adamw adam;
    uint64_t seed, epoch_stream; /* epoch e's order: fork(seed, epoch_stream + e) */
    /* The loss of the examples idx[0..n) of `epoch`, its gradient accumulated into the
     * zeroed p->grad. */
    int (*step)(void *model, uint64_t epoch, const size_t *idx, int n, double *loss, cb_error *err);
    /* The validation loss, or NULL for none. */
    int (*validate)(void *model, double *loss, cb_error *err);
    void *model;
} cb_nn_epoch_plan;

/* Where training stands: optimiser steps taken, and the running sum of this epoch's
 * losses over how many steps. */
typedef struct cb_nn_epoch_state {
    uint64_t step;
    double epoch_loss;
    uint64_t epoch_steps;
} cb_nn_epoch_state;

/* Trains until plan->epochs are done, from st.  CB_ERR_INTERRUPTED when ctx->stop was
 * set (st then stands at a step boundary), CB_ERR_INVALID for a non-finite loss,
 * CB_ERR_DB when logging fails, or the step's own error. */
int cb_nn_train_epochs(cb_nn_params *p, const cb_nn_epoch_plan *plan, cb_nn_epoch_state *st,
                       const cb_train_ctx *ctx, cb_error *err);

#endif
