/* FlowMM training (models.md §3.3, §3.5, §3.6): the preprocessed training crystals, the
 * flow-matching loss of a batch, and the epochs around it.
 *
 * Randomness, so that a run resumed from a checkpoint ends exactly where an
 * uninterrupted one does: the order of epoch e is a shuffle drawn from a stream forked
 * off the seed for e (nothing to save); t and the base draws come from m->rng, which the
 * checkpoint carries; the validation loss uses its own fixed stream, so its values are
 * comparable between epochs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowmm.h"


void flowmm_data_free(flowmm_data *d)
{
    cb_dataset_free(&d->kept);
    free(d->ex);
    memset(d, 0, sizeof *d);
}

int flowmm_data_prepare(const cb_dataset *in, flowmm_data *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < in->n; i++) {
        const cb_crystal *c = &in->items[i];
        cb_crystal p = {0};
        double params[6];
        /* A crystal FlowMM cannot take (too many atoms for its num-atoms embedding, or
         * an unreducible cell) is left out and counted, as the reference's data
         * pipeline would fail on it. */
        if (c->n < 1 || c->n > FLOWMM_MAX_ATOMS || cb_flowmm_preprocess(c, &p, err)) {
            out->skipped++;
            continue;
        }
        cb_lattice_parameters(p.lattice, params);
        int ok = 1;
        for (int k = 3; k < 6; k++) ok &= cb_flowmm_angle_in_domain(params[k]);
        int rc = ok ? cb_dataset_take(&out->kept, &p, err) : CB_OK;
        if (!ok) {
            cb_crystal_free(&p);
            out->skipped++;
        }
        if (rc) {
            cb_crystal_free(&p);
            flowmm_data_free(out);
            return rc;
        }
    }
    out->n = out->kept.n;
    if (out->n == 0) return cb_fail(err, CB_ERR_INVALID, "flowmm: no training crystal FlowMM can take");
    if (!(out->ex = calloc(out->n, sizeof *out->ex))) {
        flowmm_data_free(out);
        return cb_fail(err, CB_ERR_NOMEM, "flowmm: out of memory");
    }
    for (size_t i = 0; i < out->n; i++) {
        const cb_crystal *c = &out->kept.items[i];
        double params[6];
        cb_lattice_parameters(c->lattice, params);
        out->ex[i].n = c->n;
        out->ex[i].z = c->z;
        out->ex[i].f1 = (const double(*)[3])c->frac;
        cb_flowmm_lattice_to_uncon(params, out->ex[i].l1);
    }
    return CB_OK;
}

int flowmm_loss(flowmm_net *net, const float *w, flowmm_batch *b, const flowmm_example *const *ex, int n,
                cb_rng *rng, int backward, double *loss, cb_error *err)
{
    int sizes[4096] = {0}; /* batch ≤ 4096 (flowmm_config.c) */
    if (n < 1 || n > 4096) return cb_fail(err, CB_ERR_USAGE, "flowmm: a batch of %d crystals", n);
    for (int g = 0; g < n; g++) sizes[g] = ex[g]->n;
    int rc = flowmm_batch_layout(b, &net->cfg.net, n, sizes, err);
    if (rc) return rc;
    int dng = net->cfg.task == CB_TASK_DNG;

    /* the conditional path of each crystal (§3.3) */
    for (int g = 0; g < n; g++) {
        const flowmm_example *e = ex[g];
        int first = b->net.first[g];
        double t = cb_flowmm_sample_time(rng);
        b->t[g] = t;
        double(*f)[3] = b->f + first, (*uf)[3] = b->uf + first;
        cb_flowmm_torus_uniform(f, e->n, rng);
        cb_flowmm_torus_velocity((const double(*)[3])f, e->f1, e->n, uf);
        cb_flowmm_torus_interp((const double(*)[3])f, e->f1, e->n, t, f);
        cb_flowmm_torus_remove_drift(uf, e->n);
        cb_flowmm_lattice_base(&net->stats.lattice, rng, b->l[g]);
        cb_flowmm_euclid_velocity(b->l[g], e->l1, 6, b->ul[g]);
        cb_flowmm_euclid_interp(b->l[g], e->l1, 6, t, b->l[g]);
        for (int i = 0; i < e->n; i++) b->z[first + i] = e->z[i];
        if (dng) {
            cb_flowmm_abits_base(b->a + first, e->n, rng);
            for (int i = 0; i < e->n; i++) {
                double a1[CB_FLOWMM_ABITS];
                if ((rc = cb_flowmm_abits_encode(e->z[i], CB_FLOWMM_ABITS_SCALE, a1, err))) return rc;
                cb_flowmm_euclid_velocity(b->a[first + i], a1, CB_FLOWMM_ABITS, b->ua[first + i]);
                cb_flowmm_euclid_interp(b->a[first + i], a1, CB_FLOWMM_ABITS, t, b->a[first + i]);
            }
        }
    }
    if ((rc = flowmm_field(net, w, b, err))) return rc;

    /* §3.5; then, for the backward, dLoss/dv in place of the targets */
    double w_f, w_l, w_a, total = 0;
    cb_flowmm_cost_weights(dng, &w_f, &w_l, &w_a);
    for (int g = 0; g < n; g++) {
        int first = b->net.first[g], na = b->net.num_atoms[g];
        double lf = 0, ll = 0, la = 0;
        for (int i = first; i < first + na; i++)
            for (int k = 0; k < 3; k++) {
                double d = b->vf[i][k] - b->uf[i][k];
                lf += d * d;
                b->uf[i][k] = 2 * w_f / (3.0 * na * n) * d;
            }
        for (int k = 0; k < 6; k++) {
            double d = b->vl[g][k] - b->ul[g][k];
            ll += d * d;
            b->ul[g][k] = 2 * w_l / (6.0 * n) * d;
        }
        if (dng)
            for (int i = first; i < first + na; i++)
                for (int k = 0; k < CB_FLOWMM_ABITS; k++) {
                    double d = b->va[i][k] - b->ua[i][k];
                    la += d * d;
                    b->ua[i][k] = 2 * w_a / ((double)CB_FLOWMM_ABITS * na * n) * d;
                }
        total += w_f * lf / na / 3.0 + w_l * ll / 6.0 + (dng ? w_a * la / na / CB_FLOWMM_ABITS : 0);
    }
    *loss = total / n;
    return backward ? flowmm_field_backward(net, b, err) : CB_OK;
}

/* Mean loss over (up to val_max) validation crystals, EMA weights, fixed draws. */
static int validation_loss(flowmm *m, const flowmm_data *val, double *out, cb_error *err)
{
    flowmm_net *net = &m->net;
    size_t n = val->n < (size_t)net->cfg.val_max ? val->n : (size_t)net->cfg.val_max;
    cb_rng base, rng;
    cb_rng_seed(&base, net->cfg.seed);
    cb_rng_fork(&base, FLOWMM_STREAM_VAL, &rng);
    double sum = 0;
    const flowmm_example *ex[4096];
    size_t bs = (size_t)net->cfg.batch;
    for (size_t at = 0; at < n; at += bs) {
        int c = (int)(n - at < bs ? n - at : bs);
        for (int g = 0; g < c; g++) ex[g] = &val->ex[at + (size_t)g];
        double l;
        int rc = flowmm_loss(net, net->p.ema, &m->batch, ex, c, &rng, 0, &l, err);
        if (rc) return rc;
        sum += l * c;
    }
    *out = n ? sum / (double)n : NAN;
    return CB_OK;
}

static int log_values(const cb_train_ctx *ctx, long step, const char *const *names, const double *v, size_t n,
                      cb_error *err)
{
    if (ctx && ctx->log && ctx->log(ctx->user, step, names, v, n))
        return cb_fail(err, CB_ERR_DB, "flowmm: cannot log training");
    return CB_OK;
}

/* The statistics of the training split (computed once, before the first step). */
static int compute_stats(flowmm *m, const flowmm_data *train, cb_error *err)
{
    cb_rng base, rng;
    cb_rng_seed(&base, m->net.cfg.seed);
    cb_rng_fork(&base, FLOWMM_STREAM_STATS, &rng);
    int rc = cb_flowmm_stats_compute(&train->kept, (int)m->net.cfg.stats_passes, &rng, &m->net.stats, err);
    if (rc) return rc;
    m->have_stats = 1;
    return CB_OK;
}

/* The order of the training crystals in epoch e. */
static void epoch_order(const flowmm_config *c, uint64_t epoch, size_t *idx, size_t n)
{
    cb_rng base, rng;
    cb_rng_seed(&base, c->seed);
    cb_rng_fork(&base, FLOWMM_STREAM_EPOCH + epoch, &rng);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    cb_rng_shuffle(&rng, idx, n);
}

static int train_epochs(flowmm *m, const flowmm_data *train, const flowmm_data *val, const cb_train_ctx *ctx,
                        size_t *idx, cb_error *err)
{
    const flowmm_config *c = &m->net.cfg;
    cb_nn_params *p = &m->net.p;
    cb_nn_adamw adam = {0.9, 0.999, 1e-8, c->weight_decay};
    uint64_t per_epoch = (train->n + (size_t)c->batch - 1) / (size_t)c->batch;
    uint64_t total = per_epoch * (uint64_t)c->epochs;
    cb_progress *bar = ctx ? ctx->progress : NULL;
    if (bar) {
        bar->total = total;
        if (m->step) cb_progress_resume(bar, (size_t)m->step); /* the ETA of what is left */
    }
    const flowmm_example *ex[4096];
    int rc = CB_OK;
    uint64_t order_of = UINT64_MAX;
    while (m->step < total) {
        if (ctx && ctx->stop && *ctx->stop)
            return cb_fail(err, CB_ERR_INTERRUPTED, "flowmm: training interrupted at step %llu of %llu",
                           (unsigned long long)m->step, (unsigned long long)total);
        uint64_t epoch = m->step / per_epoch, k = m->step % per_epoch;
        if (order_of != epoch) {
            epoch_order(c, epoch, idx, train->n);
            order_of = epoch;
        }
        size_t at = (size_t)k * (size_t)c->batch;
        int n = (int)(train->n - at < (size_t)c->batch ? train->n - at : (size_t)c->batch);
        for (int g = 0; g < n; g++) ex[g] = &train->ex[idx[at + (size_t)g]];
        double lr = cb_nn_lr_cosine(epoch, 0, (uint64_t)c->epochs, c->lr, c->lr_min), loss;
        cb_nn_params_zero_grad(p);
        if ((rc = flowmm_loss(&m->net, p->w, &m->batch, ex, n, &m->rng, 1, &loss, err))) return rc;
        if (!isfinite(loss))
            return cb_fail(err, CB_ERR_INVALID, "flowmm: the loss is %g at step %llu (lr %g too high?)", loss,
                           (unsigned long long)m->step, lr);
        cb_nn_clip_grad_value(p, (float)c->clip);
        cb_nn_adamw_step(p, &adam, lr);
        cb_nn_ema_update(p, c->ema_decay, 1);
        m->step++;
        m->epoch_loss += loss;
        m->epoch_steps++;
        if (bar) {
            cb_progress_note(bar, "loss %.4f", loss);
            cb_progress_update(bar, (size_t)m->step);
        }
        if (m->step % per_epoch == 0) { /* an epoch is complete */
            uint64_t done = m->step / per_epoch;
            const char *names[] = {"loss", "lr", "val_loss"};
            double v[3] = {m->epoch_loss / (double)m->epoch_steps, lr, NAN};
            size_t nv = 2;
            if ((done % (uint64_t)c->val_every == 0 || done == (uint64_t)c->epochs) && val->n) {
                if ((rc = validation_loss(m, val, &v[2], err))) return rc;
                nv = 3;
            }
            m->epoch_loss = 0;
            m->epoch_steps = 0;
            if ((rc = log_values(ctx, (long)m->step, names, v, nv, err))) return rc;
        }
    }
    m->done = 1;
    return CB_OK;
}

int flowmm_train(flowmm *m, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx, cb_error *err)
{
    flowmm_data tr, va = {0};
    int rc = flowmm_data_prepare(train, &tr, err);
    if (rc) return rc;
    if (val && val->n) {
        rc = flowmm_data_prepare(val, &va, err);
        if (rc == CB_ERR_INVALID) rc = CB_OK; /* no usable validation crystal: no validation loss */
    }
    size_t *idx = rc ? NULL : malloc(tr.n * sizeof *idx);
    if (!rc && !idx) rc = cb_fail(err, CB_ERR_NOMEM, "flowmm: out of memory");
    if (!rc && tr.skipped)
        fprintf(stderr, "flowmm: %zu of %zu training crystals left out (more than %d atoms or no FlowMM cell)\n",
                tr.skipped, train->n, FLOWMM_MAX_ATOMS);
    if (!rc && !m->have_stats) rc = compute_stats(m, &tr, err);
    if (!rc) rc = train_epochs(m, &tr, &va, ctx, idx, err);
    free(idx);
    flowmm_data_free(&tr);
    flowmm_data_free(&va);
    return rc;
}
