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

/* One optimiser step's loss (cb_nn_epoch_plan.step). */
typedef struct step_ctx {
    flowmm *m;
    const flowmm_data *train, *val;
} step_ctx;

static int train_step(void *ctx, uint64_t epoch, const size_t *idx, int n, double *loss, cb_error *err)
{
    (void)epoch;
    step_ctx *s = ctx;
    const flowmm_example *ex[4096];
    for (int g = 0; g < n; g++) ex[g] = &s->train->ex[idx[g]];
    return flowmm_loss(&s->m->net, s->m->net.p.w, &s->m->batch, ex, n, &s->m->rng, 1, loss, err);
}

static int validate(void *ctx, double *loss, cb_error *err)
{
    step_ctx *s = ctx;
    return validation_loss(s->m, s->val, loss, err);
}

static int train_epochs(flowmm *m, const flowmm_data *train, const flowmm_data *val, const cb_train_ctx *ctx,
                        cb_error *err)
{
    const flowmm_config *c = &m->net.cfg;
    step_ctx s = {m, train, val};
    cb_nn_epoch_plan plan = {.name = FLOWMM_NAME,
                             .n_train = train->n,
                             .batch = c->batch,
                             .epochs = c->epochs,
                             .val_every = c->val_every,
                             .lr = c->lr,
                             .lr_min = c->lr_min,
                             .clip = c->clip,
                             .ema_decay = c->ema_decay,
                             .adam = {0.9, 0.999, 1e-8, c->weight_decay},
                             .seed = c->seed,
                             .epoch_stream = FLOWMM_STREAM_EPOCH,
                             .step = train_step,
                             .validate = val->n ? validate : NULL,
                             .model = &s};
    int rc = cb_nn_train_epochs(&m->net.p, &plan, &m->at, ctx, err);
    if (!rc) m->done = 1;
    return rc;
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
    if (!rc && tr.skipped)
        fprintf(stderr, "flowmm: %zu of %zu training crystals left out (more than %d atoms or no FlowMM cell)\n",
                tr.skipped, train->n, FLOWMM_MAX_ATOMS);
    if (!rc && !m->have_stats) rc = compute_stats(m, &tr, err);
    if (!rc) rc = train_epochs(m, &tr, &va, ctx, err);
    flowmm_data_free(&tr);
    flowmm_data_free(&va);
    return rc;
}
