/* CDVAE's sampler (models.md §4.1 langevin_dynamics), with the EMA weights:
 *   DNG: z ~ N(0, I); N = argmax fc_num_atoms(z); the cell from fc_lattice(z) (fixed for
 *        the run); the types from sample_composition(softmax(fc_composition(z)), N);
 *   CSP: z from the encoder of the target (its composition, or with encoder = structure
 *        the whole target: "reconstruction"); N and the types are the target's;
 * then f ~ U[0, 1)^{N×3} and, for each noise level σ (descending), n_step_each steps
 *   step = step_lr·(σ/σ_min)²,  r ← f L + step·pred_cart/σ + √(2·step)·ξ,  f ← r L⁻¹ mod 1
 * with the types re-read as argmax of the decoder's logits after every step (DNG).
 *
 * Each crystal is integrated on its own (one BLAS thread per worker; OpenBLAS rounds a
 * product's rows differently by row count, so batching would make results depend on the
 * chunking) and draws from a stream seeded from the caller's rng in crystal order before
 * any integration: sample(5) then sample(3) gives what sample(8) gives.  A crystal whose
 * predicted cell is not a cell is written as cb_crystal_placeholder, invalid under every
 * protocol, as FlowMM's sampler does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/reduce.h"
#include "../flowmm/manifold.h"
#include "../nn/slots.h"
#include "cdvae.h"

void cdvae_sample_composition(const double *p, int n, cb_rng *rng, int *z)
{
    /* Σ_k round(p_k n) ≤ n + 50, so every emitted atom fits before the truncation. */
    int all[CDVAE_MAX_ATOMS + CDVAE_CLASSES + 1], m = 0;
    double rest[CDVAE_CLASSES], total = 0;
    for (int k = 0; k < CDVAE_CLASSES; k++) {
        int cnt = (int)nearbyint(p[k] * n);
        for (int j = 0; j < cnt && m < (int)(sizeof all / sizeof all[0]); j++) all[m++] = k + 1;
        rest[k] = p[k] - (double)cnt / n;
        if (rest[k] < 0) rest[k] = 0;
        total += rest[k];
    }
    for (; m < n; m++) { /* too few: draw the rest from what rounding left out */
        double u = cb_rng_uniform(rng) * (total > 0 ? total : 1), acc = 0;
        int k = 0;
        for (; k < CDVAE_CLASSES - 1; k++) {
            acc += total > 0 ? rest[k] : p[k];
            if (u < acc) break;
        }
        all[m] = k + 1;
    }
    for (int i = m - 1; i > 0; i--) { /* a random order (Fisher–Yates), then the first n */
        int j = (int)cb_rng_below(rng, (uint64_t)i + 1), t = all[i];
        all[i] = all[j];
        all[j] = t;
    }
    memcpy(z, all, (size_t)n * sizeof *z);
}

/* What one worker owns: a view of the network (shared weights, its own caches) and a batch. */
typedef struct slot {
    cdvae_net net;
    cdvae_batch b;
    int *types;
    double (*f)[3];
} slot;

typedef struct sampler {
    const cb_crystal *targets;
    cb_crystal *out;
    const uint64_t *seeds;
    slot *slots;
} sampler;

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int k = 1; k < n; k++)
        if (x[k] > x[best]) best = k;
    return best;
}

/* z, N, the cell and the starting types of crystal i; 0 when its cell is unusable. */
static int start(slot *s, const cb_crystal *target, cb_rng *rng, int *na, double L[3][3], cb_error *err)
{
    cdvae_net *net = &s->net;
    cdvae_batch *b = &s->b;
    const cdvae_config *c = &net->cfg;
    int dz = c->latent, rc;
    cb_crystal pre = {0};
    if (target) {
        if ((rc = cb_flowmm_preprocess(target, &pre, err))) return rc;
        cdvae_example ex;
        const cdvae_example *exp_ = &ex;
        cdvae_example_of(&pre, &net->scaler, &ex);
        rc = cdvae_batch_reserve(b, c, 1, CDVAE_MAX_ATOMS, err); /* never regrown: la_out stays */
        if (!rc) rc = cdvae_encode(net, net->p.ema, b, &exp_, 1, err);
        if (rc) {
            cb_crystal_free(&pre);
            return rc;
        }
        for (int d = 0; d < dz; d++) b->z[d] = b->mu_lv[d] + expf(0.5f * b->mu_lv[dz + d]) * (float)cb_rng_normal(rng);
        *na = pre.n;
        memcpy(s->types, pre.z, (size_t)pre.n * sizeof *s->types);
        cb_crystal_free(&pre);
        cdvae_heads(net, net->p.ema, b, 1);
    } else {
        if ((rc = cdvae_batch_reserve(b, c, 1, CDVAE_MAX_ATOMS, err))) return rc;
        for (int d = 0; d < dz; d++) b->z[d] = (float)cb_rng_normal(rng);
        cdvae_heads(net, net->p.ema, b, 1);
        *na = argmax(b->na_out, CDVAE_MAX_ATOMS + 1);
        if (*na < 1) *na = 1;
        double p[CDVAE_CLASSES], mx = b->co_out[0], sum = 0;
        for (int k = 1; k < CDVAE_CLASSES; k++) mx = b->co_out[k] > mx ? b->co_out[k] : mx;
        for (int k = 0; k < CDVAE_CLASSES; k++) sum += p[k] = exp(b->co_out[k] - mx);
        for (int k = 0; k < CDVAE_CLASSES; k++) p[k] /= sum;
        cdvae_sample_composition(p, *na, rng, s->types);
    }
    return cdvae_predicted_cell(net, b->la_out, *na, L) ? CB_OK : CB_ERR_INVALID;
}

static int langevin(slot *s, int na, const double L[3][3], cb_rng *rng, cb_error *err)
{
    cdvae_net *net = &s->net;
    cdvae_batch *b = &s->b;
    const cdvae_config *c = &net->cfg;
    int rc = cb_cspnet_batch_build(&b->dec, &c->dec, 1, &na, err);
    if (rc) return rc;
    cb_cspnet_batch *d = &b->dec;
    double inv[3][3];
    cb_lattice_inv(L, inv);
    memcpy(b->L_use[0], L, sizeof b->L_use[0]);
    for (int k = 0; k < 6; k++) d->lat_in[k] = b->la_out[k];
    for (int i = 0; i < na; i++)
        for (int k = 0; k < 3; k++) s->f[i][k] = cb_rng_uniform(rng);
    int dng = c->task == CB_TASK_DNG;
    for (int level = 0; level < c->n_sigmas; level++) {
        double sigma = cdvae_sigma(level, c->n_sigmas, c->sigma_begin, c->sigma_end);
        if (sigma < c->min_sigma) break;
        double step = c->step_lr * (sigma / c->sigma_end) * (sigma / c->sigma_end), noise = sqrt(2 * step);
        b->sigma[0] = sigma;
        for (long it = 0; it < c->n_step_each; it++) {
            for (int i = 0; i < na; i++) {
                d->types[i] = s->types[i] - 1;
                for (int k = 0; k < 3; k++) d->frac[3 * i + k] = (float)s->f[i][k];
            }
            if ((rc = cdvae_decode(net, net->p.ema, b, err))) return rc;
            for (int i = 0; i < na; i++) {
                const float *o = b->dec_coord + 3 * i;
                double r[3];
                cb_lattice_dot_vec(L, s->f[i], r);
                for (int k = 0; k < 3; k++) {
                    double pc = o[0] * L[0][k] + o[1] * L[1][k] + o[2] * L[2][k];
                    r[k] += step * pc / sigma + noise * cb_rng_normal(rng);
                }
                double fn[3];
                cb_lattice_dot_vec(inv, r, fn);
                for (int k = 0; k < 3; k++) s->f[i][k] = cb_wrap01(fn[k]);
                if (dng) s->types[i] = argmax(b->dec_types + (size_t)i * CDVAE_CLASSES, CDVAE_CLASSES) + 1;
            }
        }
    }
    return CB_OK;
}

static int write_crystal(const slot *s, int na, const double L[3][3], int usable, const cb_crystal *target,
                         cb_crystal *out, cb_error *err)
{
    int rc = cb_crystal_alloc(out, na, err);
    if (rc) return rc;
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) out->lattice[i][k] = L[i][k];
    for (int i = 0; i < na; i++) {
        for (int k = 0; k < 3; k++) out->frac[i][k] = usable ? s->f[i][k] : 0;
        out->z[i] = s->types[i];
    }
    if (!usable) cb_crystal_placeholder(out);
    if (target && target->id) rc = cb_crystal_set_id(out, target->id, err);
    if (rc) cb_crystal_free(out);
    return rc;
}

static int sample_one(void *ctx, int k, size_t i, cb_error *err)
{
    sampler *sm = ctx;
    slot *s = &sm->slots[k];
    const cb_crystal *target = sm->targets ? &sm->targets[i] : NULL;
    cb_rng rng;
    cb_rng_seed(&rng, sm->seeds[i]);
    int na = 0;
    double L[3][3] = {{0}};
    int rc = start(s, target, &rng, &na, L, err), usable = rc == CB_OK;
    if (rc == CB_ERR_INVALID) rc = CB_OK;
    if (!rc && usable) rc = langevin(s, na, L, &rng, err);
    if (!rc) rc = write_crystal(s, na, L, usable, target, &sm->out[i], err);
    return rc;
}

int cdvae_sample(cdvae_net *net, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = (cb_crystal){0};
        if (targets && (targets[i].n < 1 || targets[i].n > CDVAE_MAX_ATOMS))
            return cb_fail(err, CB_ERR_UNSUPPORTED, "cdvae: target %s has %d atoms (CDVAE takes 1..%d)",
                           targets[i].id ? targets[i].id : "", targets[i].n, CDVAE_MAX_ATOMS);
    }
    int workers = net->cfg.sample_threads < 1 ? 1 : (int)net->cfg.sample_threads;
    if ((size_t)workers > n) workers = n ? (int)n : 1;
    sampler sm = {.targets = targets, .out = out};
    uint64_t *seeds = malloc((n ? n : 1) * sizeof *seeds);
    sm.slots = calloc((size_t)workers, sizeof *sm.slots);
    int rc = seeds && sm.slots ? CB_OK : cb_fail(err, CB_ERR_NOMEM, "cdvae: out of memory");
    for (size_t i = 0; !rc && i < n; i++) seeds[i] = cb_rng_u64(rng);
    sm.seeds = seeds;
    for (int k = 0; !rc && k < workers; k++) {
        slot *s = &sm.slots[k];
        s->net = *net; /* the same weights and scaler ... */
        memset(&s->net.enc_cache, 0, sizeof s->net.enc_cache); /* ... its own activations */
        memset(&s->net.dec_cache, 0, sizeof s->net.dec_cache);
        cdvae_batch_init(&s->b);
        s->types = malloc((CDVAE_MAX_ATOMS + 1) * sizeof *s->types);
        s->f = malloc((CDVAE_MAX_ATOMS + 1) * sizeof *s->f);
        if (!s->types || !s->f) rc = cb_fail(err, CB_ERR_NOMEM, "cdvae: out of memory");
    }
    if (!rc) rc = cb_nn_for_slots(n, workers, sample_one, &sm, err);
    if (rc)
        for (size_t i = 0; i < n; i++) cb_crystal_free(&out[i]);
    for (int k = 0; sm.slots && k < workers; k++) {
        cb_cspnet_cache_free(&sm.slots[k].net.enc_cache);
        cb_cspnet_cache_free(&sm.slots[k].net.dec_cache);
        cdvae_batch_free(&sm.slots[k].b);
        free(sm.slots[k].types);
        free(sm.slots[k].f);
    }
    free(sm.slots);
    free(seeds);
    return rc;
}
