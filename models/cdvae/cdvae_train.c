/* CDVAE training (models.md §4.1): the preprocessed crystals, the lattice scaler fitted
 * on them, and the epochs (models/nn/epochs.h) around cdvae_loss.  The validation loss
 * is the reference's val_loss, cost_coord·coord + cost_type·type, with the EMA weights
 * on a fixed stream (comparable between epochs). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../flowmm/manifold.h"
#include "cdvae.h"

void cdvae_data_free(cdvae_data *d)
{
    cb_dataset_free(&d->kept);
    free(d->ex);
    memset(d, 0, sizeof *d);
}

/* The shared preprocessing (models.md §1.3: Niggli, canonical cell) of the crystals
 * CDVAE can take; the rest are counted. */
static int keep_preprocessed(const cb_dataset *in, cdvae_data *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < in->n; i++) {
        const cb_crystal *c = &in->items[i];
        cb_crystal p = {0};
        if (c->n < 1 || c->n > CDVAE_MAX_ATOMS || cb_flowmm_preprocess(c, &p, err)) {
            out->skipped++;
            continue;
        }
        int rc = cb_dataset_take(&out->kept, &p, err);
        if (rc) {
            cb_crystal_free(&p);
            cdvae_data_free(out);
            return rc;
        }
    }
    out->n = out->kept.n;
    return out->n ? CB_OK : cb_fail(err, CB_ERR_INVALID, "cdvae: no crystal CDVAE can take");
}

void cdvae_example_of(const cb_crystal *c, const cdvae_scaler *s, cdvae_example *ex)
{
    double params[6], sc[6];
    ex->n = c->n;
    ex->z = c->z;
    ex->f = (const double(*)[3])c->frac;
    memcpy(ex->lattice, c->lattice, sizeof ex->lattice);
    cb_lattice_parameters(c->lattice, params);
    cdvae_scaled_lattice(params, c->n, sc);
    for (int k = 0; k < 6; k++) ex->scaled_std[k] = (sc[k] - s->mean[k]) / s->std[k];
}

int cdvae_data_prepare(const cb_dataset *in, const cdvae_scaler *s, cdvae_data *out, cb_error *err)
{
    int rc = keep_preprocessed(in, out, err);
    if (rc) return rc;
    if (!(out->ex = calloc(out->n, sizeof *out->ex))) {
        cdvae_data_free(out);
        return cb_fail(err, CB_ERR_NOMEM, "cdvae: out of memory");
    }
    for (size_t i = 0; i < out->n; i++) cdvae_example_of(&out->kept.items[i], s, &out->ex[i]);
    return CB_OK;
}

typedef struct step_ctx {
    cdvae *m;
    const cdvae_data *train, *val;
} step_ctx;

static int train_step(void *ctx, uint64_t epoch, const size_t *idx, int n, double *loss, cb_error *err)
{
    step_ctx *s = ctx;
    const cdvae_example *ex[4096];
    for (int g = 0; g < n; g++) ex[g] = &s->train->ex[idx[g]];
    return cdvae_loss(&s->m->net, s->m->net.p.w, &s->m->batch, ex, n, epoch, &s->m->rng, 1, loss, NULL, err);
}

static int validate(void *ctx, double *out, cb_error *err)
{
    step_ctx *s = ctx;
    cdvae *m = s->m;
    const cdvae_config *c = &m->net.cfg;
    size_t n = s->val->n < (size_t)c->val_max ? s->val->n : (size_t)c->val_max;
    cb_rng base, rng;
    cb_rng_seed(&base, c->seed);
    cb_rng_fork(&base, CDVAE_STREAM_VAL, &rng);
    const cdvae_example *ex[4096];
    double sum = 0;
    for (size_t at = 0; at < n; at += (size_t)c->batch) {
        int k = (int)(n - at < (size_t)c->batch ? n - at : (size_t)c->batch);
        for (int g = 0; g < k; g++) ex[g] = &s->val->ex[at + (size_t)g];
        double l, parts[CDVAE_PARTS];
        /* teacher forcing as in the reference's validation step: the true cell */
        int rc = cdvae_loss(&m->net, m->net.p.ema, &m->batch, ex, k, 0, &rng, 0, &l, parts, err);
        if (rc) return rc;
        double v = c->cost_coord * parts[CDVAE_PART_COORD];
        if (cdvae_has_type_loss(c)) v += c->cost_type * parts[CDVAE_PART_TYPE];
        sum += v * k;
    }
    *out = n ? sum / (double)n : NAN;
    return CB_OK;
}

int cdvae_train(cdvae *m, const cb_dataset *train, const cb_dataset *val, const cb_train_ctx *ctx, cb_error *err)
{
    cdvae_data pre, tr = {0}, va = {0};
    int rc = keep_preprocessed(train, &pre, err);
    if (!rc && !m->have_scaler) {
        rc = cdvae_scaler_fit(&pre.kept, &m->net.scaler, err);
        m->have_scaler = !rc;
    }
    if (!rc && pre.skipped)
        fprintf(stderr, "cdvae: %zu of %zu training crystals left out (more than %d atoms or no reduced cell)\n",
                pre.skipped, train->n, CDVAE_MAX_ATOMS);
    cdvae_data_free(&pre);
    if (!rc) rc = cdvae_data_prepare(train, &m->net.scaler, &tr, err);
    if (!rc && val && val->n) {
        rc = cdvae_data_prepare(val, &m->net.scaler, &va, err);
        if (rc == CB_ERR_INVALID) rc = CB_OK; /* no usable validation crystal: no validation loss */
    }
    if (!rc) {
        const cdvae_config *c = &m->net.cfg;
        step_ctx s = {m, &tr, &va};
        cb_nn_epoch_plan plan = {.name = CDVAE_NAME,
                                 .n_train = tr.n,
                                 .batch = c->batch,
                                 .epochs = c->epochs,
                                 .val_every = c->val_every,
                                 .lr = c->lr,
                                 .lr_min = c->lr_min,
                                 .clip = c->clip,
                                 .ema_decay = c->ema_decay,
                                 .adam = {0.9, 0.999, 1e-8, c->weight_decay},
                                 .seed = c->seed,
                                 .epoch_stream = CDVAE_STREAM_EPOCH,
                                 .step = train_step,
                                 .validate = va.n ? validate : NULL,
                                 .model = &s};
        rc = cb_nn_train_epochs(&m->net.p, &plan, &m->at, ctx, err);
        if (!rc) m->done = 1;
    }
    cdvae_data_free(&tr);
    cdvae_data_free(&va);
    return rc;
}
