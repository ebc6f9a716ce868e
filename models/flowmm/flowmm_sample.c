/* FlowMM's sampler (models.md §3.7): explicit Euler on the manifolds with projection,
 * S steps on the grid t_k = k/S, the EMA weights, inference anti-annealing of the
 * coordinate velocity, then decoding: analog bits to elements (DNG), ℓ to a cell. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/elements.h"
#include "flowmm.h"

/* The base draws of crystal g, whose atoms start at row `first` (so that they do not
 * depend on the other crystals of the call). */
static void draw_base(const flowmm_net *net, flowmm_batch *b, int g, int first, int n, cb_rng *rng)
{
    cb_flowmm_torus_uniform(b->f + first, n, rng);
    cb_flowmm_lattice_base(&net->stats.lattice, rng, b->l[g]);
    if (net->cfg.task == CB_TASK_DNG) cb_flowmm_abits_base(b->a + first, n, rng);
}

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

/* Crystal g of the batch as a cb_crystal.  Elements: CSP keeps the target's; DNG decodes
 * the analog bits (codes 119–128 name no element and become Z = 118, which no
 * oxidation-state table knows, so the crystal counts compositionally invalid, as
 * models.md §3.7 asks for codes above 100).  A state that is not a valid cell (a length
 * ≤ 0, clamped to 0.5 Å by the decoder) is written as decoded; a diverged one (NaN) as a
 * 0.5 Å cube with every atom at the origin, structurally invalid under every protocol. */
static int decode(const flowmm_net *net, const flowmm_batch *b, int g, const cb_crystal *target, cb_crystal *out,
                  cb_error *err)
{
    int first = b->net.first[g], n = b->net.num_atoms[g];
    int rc = cb_crystal_alloc(out, n, err);
    if (rc) return rc;
    double params[6], m[3][3] = {{0}};
    cb_flowmm_lattice_decode(b->l[g], params, m);
    int finite = finite_state((const double(*)[3])(b->f + first), n, (const double(*)[3])m);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) out->lattice[i][k] = finite ? m[i][k] : (i == k ? CB_FLOWMM_MIN_LENGTH : 0);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) out->frac[i][k] = finite ? cb_flowmm_wrap01(b->f[first + i][k]) : 0;
        if (net->cfg.task == CB_TASK_CSP) {
            out->z[i] = target->z[i];
        } else {
            int z = cb_flowmm_abits_decode(b->a[first + i]);
            out->z[i] = z > CB_MAX_Z ? CB_MAX_Z : z;
        }
    }
    if (target && target->id) rc = cb_crystal_set_id(out, target->id, err);
    if (rc) cb_crystal_free(out);
    return rc;
}

/* Integrates the crystals of the batch, laid out and at their base draws. */
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

int flowmm_sample(flowmm_net *net, flowmm_batch *b, const cb_crystal *targets, size_t n, cb_rng *rng,
                  cb_crystal *out, cb_error *err)
{
    int csp = net->cfg.task == CB_TASK_CSP;
    for (size_t i = 0; i < n; i++) {
        const cb_crystal *tg = csp ? &targets[i] : NULL;
        int na = csp ? tg->n : cb_flowmm_natoms_sample(&net->stats.natoms, rng);
        int rc = na >= 1 && na <= FLOWMM_MAX_ATOMS
                     ? flowmm_batch_layout(b, &net->cfg.net, 1, &na, err)
                     : cb_fail(err, CB_ERR_UNSUPPORTED, "flowmm: %s%s has %d atoms (FlowMM takes 1..%d)",
                               csp ? "target " : "a sampled crystal", csp && tg->id ? tg->id : "", na, FLOWMM_MAX_ATOMS);
        if (!rc) {
            if (csp) memcpy(b->z, tg->z, (size_t)na * sizeof *b->z);
            draw_base(net, b, 0, 0, na, rng);
            rc = integrate(net, b, err);
        }
        if (!rc) rc = decode(net, b, 0, tg, &out[i], err);
        if (rc) {
            while (i > 0) cb_crystal_free(&out[--i]);
            return rc;
        }
    }
    return CB_OK;
}
