/* A batch of flow states and FlowMM's vector field on it (ProjectedConjugatedCSPNet,
 * models.md §3.4), forward and backward.  The state is double; the network reads float
 * copies made here, so integration error does not accumulate in float. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flowmm.h"

void flowmm_batch_init(flowmm_batch *b) { memset(b, 0, sizeof *b); }

void flowmm_batch_free(flowmm_batch *b)
{
    cb_cspnet_batch_free(&b->net);
    free(b->t);
    free(b->l);
    free(b->vl);
    free(b->ul);
    free(b->out_lat);
    free(b->d_lat);
    free(b->f);
    free(b->a);
    free(b->z);
    free(b->vf);
    free(b->va);
    free(b->uf);
    free(b->ua);
    free(b->out_coord);
    free(b->out_types);
    free(b->d_coord);
    free(b->d_types);
    flowmm_batch_init(b);
}

/* realloc to n elements (at least one, so a batch always owns its arrays). */
static int grow(void **p, size_t n, size_t size)
{
    void *q = realloc(*p, (n ? n : 1) * size);
    if (!q) return 1;
    *p = q;
    return 0;
}

int flowmm_batch_layout(flowmm_batch *b, const cb_cspnet_config *cfg, int n_graphs, const int *num_atoms,
                        cb_error *err)
{
    int nodes = 0;
    for (int g = 0; g < n_graphs; g++) {
        if (num_atoms[g] < 1 || num_atoms[g] > FLOWMM_MAX_ATOMS)
            return cb_fail(err, CB_ERR_UNSUPPORTED, "flowmm: a crystal of %d atoms (FlowMM takes 1..%d)",
                           num_atoms[g], FLOWMM_MAX_ATOMS);
        nodes += num_atoms[g];
    }
    if (n_graphs > b->cap_graphs) {
        size_t g = (size_t)n_graphs;
        if (grow((void **)&b->t, g, sizeof *b->t) || grow((void **)&b->l, g, sizeof *b->l) ||
            grow((void **)&b->vl, g, sizeof *b->vl) || grow((void **)&b->ul, g, sizeof *b->ul) ||
            grow((void **)&b->out_lat, g * 6, sizeof(float)) || grow((void **)&b->d_lat, g * 6, sizeof(float)))
            return cb_fail(err, CB_ERR_NOMEM, "flowmm: out of memory for a batch of %d crystals", n_graphs);
        b->cap_graphs = n_graphs;
    }
    if (nodes > b->cap_nodes) {
        size_t n = (size_t)nodes, da = (size_t)cfg->atom_dim;
        if (grow((void **)&b->f, n, sizeof *b->f) || grow((void **)&b->a, n, sizeof *b->a) ||
            grow((void **)&b->z, n, sizeof *b->z) || grow((void **)&b->vf, n, sizeof *b->vf) ||
            grow((void **)&b->va, n, sizeof *b->va) || grow((void **)&b->uf, n, sizeof *b->uf) ||
            grow((void **)&b->ua, n, sizeof *b->ua) || grow((void **)&b->out_coord, n * 3, sizeof(float)) ||
            grow((void **)&b->d_coord, n * 3, sizeof(float)) || grow((void **)&b->out_types, n * da, sizeof(float)) ||
            grow((void **)&b->d_types, n * da, sizeof(float)))
            return cb_fail(err, CB_ERR_NOMEM, "flowmm: out of memory for a batch of %d atoms", nodes);
        b->cap_nodes = nodes;
    }
    return cb_cspnet_batch_build(&b->net, cfg, n_graphs, num_atoms, err);
}

int flowmm_field(flowmm_net *n, const float *w, flowmm_batch *b, cb_error *err)
{
    const cb_cspnet_config *cfg = &n->cfg.net;
    const cb_flowmm_affine_stats *s = &n->stats.affine;
    cb_cspnet_batch *nb = &b->net;
    int dng = n->cfg.task == CB_TASK_DNG;
    int rc = cb_cspnet_cache_fit(&n->cache, &n->p, &n->cfg.net, nb, err);
    if (rc) return rc;

    /* steps 1–3: projx, the cell for the unit dots, the z-scored lattice feature */
    for (int g = 0; g < nb->n_graphs; g++) {
        double params[6], m[3][3] = {{0}};
        cb_flowmm_lattice_decode(b->l[g], params, m);
        nb->t[g] = (float)b->t[g];
        for (int k = 0; k < 6; k++)
            nb->lat_in[6 * g + k] = (float)((b->l[g][k] - s->lattice_xt_mean[k]) / s->lattice_xt_std[k]);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) nb->lattice[9 * g + 3 * i + j] = (float)m[i][j];
    }
    for (int i = 0; i < nb->n_nodes; i++) {
        for (int k = 0; k < 3; k++) nb->frac[3 * i + k] = (float)cb_wrap01(b->f[i][k]);
        if (dng) {
            for (int k = 0; k < CB_FLOWMM_ABITS; k++) nb->node_in[CB_FLOWMM_ABITS * i + k] = (float)b->a[i][k];
        } else {
            if (b->z[i] < 1 || b->z[i] > cfg->atom_dim)
                return cb_fail(err, CB_ERR_UNSUPPORTED, "flowmm: element Z = %d is outside the network's %d types",
                               b->z[i], cfg->atom_dim);
            nb->types[i] = b->z[i] - 1;
        }
    }

    /* step 4: CSPNet */
    cb_cspnet_out out = {b->out_coord, b->out_lat, dng ? b->out_types : NULL};
    if ((rc = cb_cspnet_forward(&n->p, w, cfg, nb, &n->cache, &out, err))) return rc;

    /* steps 5–6: de-standardise, then proju (drift removal per crystal) */
    for (int g = 0; g < nb->n_graphs; g++) {
        for (int k = 0; k < 6; k++)
            b->vl[g][k] = (double)b->out_lat[6 * g + k] * s->lattice_ut_std[k] + s->lattice_ut_mean[k];
        int first = nb->first[g], na = nb->num_atoms[g];
        for (int i = first; i < first + na; i++)
            for (int k = 0; k < 3; k++) b->vf[i][k] = (double)b->out_coord[3 * i + k] * s->coord_ut_std[k];
        cb_flowmm_torus_remove_drift(b->vf + first, na);
    }
    if (dng)
        for (int i = 0; i < nb->n_nodes; i++)
            for (int k = 0; k < CB_FLOWMM_ABITS; k++) b->va[i][k] = (double)b->out_types[CB_FLOWMM_ABITS * i + k];
    return CB_OK;
}

int flowmm_field_backward(flowmm_net *n, flowmm_batch *b, cb_error *err)
{
    const cb_flowmm_affine_stats *s = &n->stats.affine;
    cb_cspnet_batch *nb = &b->net;
    int dng = n->cfg.task == CB_TASK_DNG;
    /* Everything after the network is linear: dcoord = P(dv_F)·std with P the drift
     * removal (symmetric, so its own transpose), dlat = dv_ℓ·std, dtypes = dv_A. */
    for (int g = 0; g < nb->n_graphs; g++) {
        for (int k = 0; k < 6; k++) b->d_lat[6 * g + k] = (float)(b->ul[g][k] * s->lattice_ut_std[k]);
        int first = nb->first[g], na = nb->num_atoms[g];
        cb_flowmm_torus_remove_drift(b->uf + first, na);
        for (int i = first; i < first + na; i++)
            for (int k = 0; k < 3; k++) b->d_coord[3 * i + k] = (float)(b->uf[i][k] * s->coord_ut_std[k]);
    }
    if (dng)
        for (int i = 0; i < nb->n_nodes; i++)
            for (int k = 0; k < CB_FLOWMM_ABITS; k++) b->d_types[CB_FLOWMM_ABITS * i + k] = (float)b->ua[i][k];
    cb_cspnet_out d = {b->d_coord, b->d_lat, dng ? b->d_types : NULL};
    return cb_cspnet_backward(&n->p, &n->cfg.net, nb, &n->cache, &d, n->p.grad, NULL, err);
}
