/* The shared epoch loop (epochs.h). */
#include "epochs.h"

#include <math.h>
#include <stdlib.h>

#include "crystalbench/progress.h"
#include "crystalbench/rng.h"

static void epoch_order(const cb_nn_epoch_plan *plan, uint64_t epoch, size_t *idx)
{
    cb_rng base, rng;
    cb_rng_seed(&base, plan->seed);
    cb_rng_fork(&base, plan->epoch_stream + epoch, &rng);
    for (size_t i = 0; i < plan->n_train; i++) idx[i] = i;
    cb_rng_shuffle(&rng, idx, plan->n_train);
}

/* At the end of an epoch: its mean loss, the learning rate and maybe the validation loss. */
static int end_epoch(const cb_nn_epoch_plan *plan, cb_nn_epoch_state *st, uint64_t done, double lr,
                     const cb_train_ctx *ctx, cb_error *err)
{
    const char *names[] = {"loss", "lr", "val_loss"};
    double v[3] = {st->epoch_loss / (double)st->epoch_steps, lr, NAN};
    size_t nv = 2;
    if (plan->validate && (done % (uint64_t)plan->val_every == 0 || done == (uint64_t)plan->epochs)) {
        int rc = plan->validate(plan->model, &v[2], err);
        if (rc) return rc;
        nv = 3;
    }
    st->epoch_loss = 0;
    st->epoch_steps = 0;
    if (ctx && ctx->log && ctx->log(ctx->user, (long)st->step, names, v, nv))
        return cb_fail(err, CB_ERR_DB, "%s: cannot log training", plan->name);
    return CB_OK;
}

static int run(cb_nn_params *p, const cb_nn_epoch_plan *plan, cb_nn_epoch_state *st, const cb_train_ctx *ctx,
               size_t *idx, cb_error *err)
{
    uint64_t per_epoch = (plan->n_train + (size_t)plan->batch - 1) / (size_t)plan->batch;
    uint64_t total = per_epoch * (uint64_t)plan->epochs;
    cb_progress *bar = ctx ? ctx->progress : NULL;
    if (bar) {
        bar->total = total;
        if (st->step) cb_progress_resume(bar, (size_t)st->step); /* the ETA of what is left */
    }
    uint64_t order_of = UINT64_MAX;
    while (st->step < total) {
        if (ctx && ctx->stop && *ctx->stop)
            return cb_fail(err, CB_ERR_INTERRUPTED, "%s: training interrupted at step %llu of %llu", plan->name,
                           (unsigned long long)st->step, (unsigned long long)total);
        uint64_t epoch = st->step / per_epoch, k = st->step % per_epoch;
        if (order_of != epoch) {
            epoch_order(plan, epoch, idx);
            order_of = epoch;
        }
        size_t at = (size_t)k * (size_t)plan->batch;
        int n = (int)(plan->n_train - at < (size_t)plan->batch ? plan->n_train - at : (size_t)plan->batch);
        double lr = plan->lr_per_step
                        ? cb_nn_lr_cosine(st->step, (uint64_t)plan->warmup_steps, total, plan->lr, plan->lr_min)
                        : cb_nn_lr_cosine(epoch, 0, (uint64_t)plan->epochs, plan->lr, plan->lr_min),
               loss;
        cb_nn_params_zero_grad(p);
        int rc = plan->step(plan->model, epoch, idx + at, n, &loss, err);
        if (rc) return rc;
        if (!isfinite(loss))
            return cb_fail(err, CB_ERR_INVALID, "%s: the loss is %g at step %llu (lr %g too high?)", plan->name,
                           loss, (unsigned long long)st->step, lr);
        if (plan->clip_norm)
            cb_nn_clip_grad_norm(p, plan->clip);
        else
            cb_nn_clip_grad_value(p, (float)plan->clip);
        cb_nn_adamw_step(p, &plan->adam, lr);
        cb_nn_ema_update(p, plan->ema_decay, 1);
        st->step++;
        st->epoch_loss += loss;
        st->epoch_steps++;
        if (bar) {
            cb_progress_note(bar, "loss %.4f", loss);
            cb_progress_update(bar, (size_t)st->step);
        }
        if (st->step % per_epoch == 0 && (rc = end_epoch(plan, st, st->step / per_epoch, lr, ctx, err)))
            return rc;
    }
    return CB_OK;
}

int cb_nn_train_epochs(cb_nn_params *p, const cb_nn_epoch_plan *plan, cb_nn_epoch_state *st,
                       const cb_train_ctx *ctx, cb_error *err)
{
    if (plan->n_train < 1 || plan->batch < 1 || plan->epochs < 1 || plan->val_every < 1)
        return cb_fail(err, CB_ERR_USAGE, "%s: nothing to train (%zu examples, batch %ld, %ld epochs)", plan->name,
                       plan->n_train, plan->batch, plan->epochs);
    size_t *idx = malloc(plan->n_train * sizeof *idx);
    if (!idx) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", plan->name);
    int rc = run(p, plan, st, ctx, idx, err);
    free(idx);
    return rc;
}
