/* FlowMM's sampler (models.md §3.7): explicit Euler on the manifolds with projection,
 * S steps on the grid t_k = k/S, the EMA weights, inference anti-annealing of the
 * coordinate velocity, then decoding: analog bits to elements (DNG), ℓ to a cell. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/elements.h"
#include "../nn/slots.h"
#include "flowmm.h"

/* Every coordinate and cell entry finite: a state that diverged cannot be written as
 * a crystal, so it becomes a cell no metric accepts (see decode). */
static int finite_state(const double (*f)[3], int n, const double m[3][3])
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(f[i][k])) return 0;
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(m[i][k])) return 0;
    return 1;
}

/* The batch's one crystal as a cb_crystal.  Elements: CSP keeps the target's; DNG decodes
 * the analog bits (codes 119–128 name no element and become Z = 118, which no
 * oxidation-state table knows, so the crystal counts compositionally invalid, as
 * models.md §3.7 asks for codes above 100).  A state that is not a valid cell (a length
 * ≤ 0, clamped to 0.5 Å by the decoder) is written as decoded; a diverged one (NaN) as
 * cb_crystal_placeholder, structurally invalid under every protocol. */
static int decode(const flowmm_net *net, const flowmm_batch *b, const cb_crystal *target, cb_crystal *out,
                  cb_error *err)
{
    int n = b->net.num_atoms[0];
    int rc = cb_crystal_alloc(out, n, err);
    if (rc) return rc;
    double params[6], m[3][3] = {{0}};
    cb_flowmm_lattice_decode(b->l[0], params, m);
    int finite = finite_state((const double(*)[3])b->f, n, (const double(*)[3])m);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) out->lattice[i][k] = m[i][k];
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) out->frac[i][k] = cb_wrap01(b->f[i][k]);
        if (net->cfg.task == CB_TASK_CSP) {
            out->z[i] = target->z[i];
        } else {
            int z = cb_flowmm_abits_decode(b->a[i]);
            out->z[i] = z > CB_MAX_Z ? CB_MAX_Z : z;
        }
    }
    if (!finite) cb_crystal_placeholder(out);
    if (target && target->id) rc = cb_crystal_set_id(out, target->id, err);
    if (rc) cb_crystal_free(out);
    return rc;
}

/* Integrates the crystal in the batch (laid out, at its base draws) with the EMA weights. */
static int integrate(flowmm_net *net, flowmm_batch *b, cb_error *err)
{
    const flowmm_config *cfg = &net->cfg;
    int steps = (int)cfg->sample_steps, graphs = b->net.n_graphs, nodes = b->net.n_nodes;
    for (int k = 0; k < steps; k++) {
        double t, dt;
        cb_flowmm_euler_grid(k, steps, &t, &dt);
        for (int g = 0; g < graphs; g++) b->t[g] = t;
        int rc = flowmm_field(net, net->p.ema, b, err);
        if (rc) return rc;
        double s = cb_flowmm_anneal_scale(t, cfg->anneal_slope, cfg->anneal_offset);
        cb_flowmm_torus_euler(b->f, (const double(*)[3])b->vf, nodes, dt, s);
        cb_flowmm_euclid_euler(&b->l[0][0], &b->vl[0][0], 6 * (size_t)graphs, dt, 1);
        if (cfg->task == CB_TASK_DNG)
            cb_flowmm_euclid_euler(&b->a[0][0], &b->va[0][0], CB_FLOWMM_ABITS * (size_t)nodes, dt, 1);
    }
    return CB_OK;
}

/* The base draws of one call, made in crystal order before any integration so they do
 * not depend on how the crystals are then shared out: crystal i has n[i] atoms
 * starting at row first[i] of f0 / a0, and its lattice state l0[i]. */
typedef struct base_draws {
    int *n, *first;
    double (*f0)[3], (*a0)[CB_FLOWMM_ABITS], (*l0)[6];
} base_draws;

static void base_free(base_draws *d)
{
    free(d->n);
    free(d->first);
    free(d->f0);
    free(d->a0);
    free(d->l0);
}

static int base_draw(const flowmm_net *net, const cb_crystal *targets, size_t count, cb_rng *rng, base_draws *d,
                     cb_error *err)
{
    int csp = net->cfg.task == CB_TASK_CSP;
    memset(d, 0, sizeof *d);
    size_t c = count ? count : 1, cap = c * 16, atoms = 0;
    d->n = malloc(c * sizeof *d->n);
    d->first = malloc(c * sizeof *d->first);
    d->l0 = malloc(c * sizeof *d->l0);
    d->f0 = malloc(cap * sizeof *d->f0);
    d->a0 = malloc(cap * sizeof *d->a0);
    if (!d->n || !d->first || !d->l0 || !d->f0 || !d->a0) return cb_fail(err, CB_ERR_NOMEM, "flowmm: out of memory");
    for (size_t i = 0; i < count; i++) {
        const cb_crystal *tg = csp ? &targets[i] : NULL;
        int na = csp ? tg->n : cb_flowmm_natoms_sample(&net->stats.natoms, rng);
        if (na < 1 || na > FLOWMM_MAX_ATOMS)
            return cb_fail(err, CB_ERR_UNSUPPORTED, "flowmm: %s%s has %d atoms (FlowMM takes 1..%d)",
                           csp ? "target " : "a sampled crystal", csp && tg->id ? tg->id : "", na, FLOWMM_MAX_ATOMS);
        if (atoms + (size_t)na > cap) {
            cap = 2 * (atoms + (size_t)na);
            void *f = realloc(d->f0, cap * sizeof *d->f0), *a = f ? realloc(d->a0, cap * sizeof *d->a0) : NULL;
            if (f) d->f0 = f;
            if (a) d->a0 = a;
            if (!f || !a) return cb_fail(err, CB_ERR_NOMEM, "flowmm: out of memory");
        }
        d->n[i] = na;
        d->first[i] = (int)atoms;
        cb_flowmm_torus_uniform(d->f0 + atoms, na, rng);
        cb_flowmm_lattice_base(&net->stats.lattice, rng, d->l0[i]);
        if (!csp) cb_flowmm_abits_base(d->a0 + atoms, na, rng);
        atoms += (size_t)na;
    }
    return CB_OK;
}

/* Each worker slot owns a (network view, batch) pair: the parameters are shared (read
 * only), each pair has its own activation cache and state arrays. */
typedef struct sampler {
    const cb_crystal *targets;
    cb_crystal *out;
    const base_draws *d;
    flowmm_net *views;
    flowmm_batch *batches;
} sampler;

static int sample_one(void *ctx, int k, size_t i, cb_error *err)
{
    sampler *s = ctx;
    flowmm_net *net = &s->views[k];
    flowmm_batch *b = &s->batches[k];
    const base_draws *d = s->d;
    int na = d->n[i], csp = net->cfg.task == CB_TASK_CSP;
    const cb_crystal *tg = csp ? &s->targets[i] : NULL;
    int rc = flowmm_batch_layout(b, &net->cfg.net, 1, &na, err);
    if (!rc) {
        memcpy(b->f, d->f0 + d->first[i], (size_t)na * sizeof *b->f);
        memcpy(b->l[0], d->l0[i], sizeof d->l0[i]);
        if (csp) memcpy(b->z, tg->z, (size_t)na * sizeof *b->z);
        else memcpy(b->a, d->a0 + d->first[i], (size_t)na * sizeof *b->a);
        rc = integrate(net, b, err);
    }
    if (!rc) rc = decode(net, b, tg, &s->out[i], err);
    return rc;
}

int flowmm_sample(flowmm_net *net, const cb_crystal *targets, size_t n, cb_rng *rng, cb_crystal *out, cb_error *err)
{
    base_draws d;
    int rc = base_draw(net, targets, n, rng, &d, err);
    int workers = net->cfg.sample_threads < 1 ? 1 : (int)net->cfg.sample_threads;
    if ((size_t)workers > n) workers = n ? (int)n : 1;
    sampler s = {.targets = targets, .out = out, .d = &d};
    s.views = calloc((size_t)workers, sizeof *s.views);
    s.batches = calloc((size_t)workers, sizeof *s.batches);
    if (!rc && (!s.views || !s.batches)) rc = cb_fail(err, CB_ERR_NOMEM, "flowmm: out of memory");
    for (int k = 0; !rc && k < workers; k++) {
        s.views[k] = *net; /* the same parameters and statistics ... */
        memset(&s.views[k].cache, 0, sizeof s.views[k].cache); /* ... its own activations */
        flowmm_batch_init(&s.batches[k]);
    }
    if (!rc) {
        for (size_t i = 0; i < n; i++) out[i] = (cb_crystal){0};
        rc = cb_nn_for_slots(n, workers, sample_one, &s, err);
        if (rc)
            for (size_t i = 0; i < n; i++) cb_crystal_free(&out[i]);
    }
    for (int k = 0; s.views && s.batches && k < workers; k++) {
        cb_cspnet_cache_free(&s.views[k].cache);
        flowmm_batch_free(&s.batches[k]);
    }
    free(s.views);
    free(s.batches);
    base_free(&d);
    return rc;
}
