/* The CSPNet activation cache (contract in cspnet.h): buffers for a largest batch, and
 * the tensor offsets looked up by name and checked against the config's shapes, so a
 * parameter set from another config (or another model) is refused here, not misread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cspnet.h"

/* Offset of tensor "name" after checking its shape [rows × cols] (cols = 0: 1-D). */
/* The parameter set and the config's name prefix, which every name below is under. */
typedef struct named {
    const cb_nn_params *p;
    const char *prefix;
} named;

static int resolve(const named *np, const char *bare, size_t rows, size_t cols, size_t *off, cb_error *err)
{
    char name[2 * CB_NN_NAME_MAX + 32];
    snprintf(name, sizeof name, "%s%s", np->prefix, bare);
    const cb_nn_tensor *t = cb_nn_params_find(np->p, name);
    if (!t) return cb_fail(err, CB_ERR_USAGE, "cspnet: parameter '%s' missing", name);
    int ok = cols ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols)
                  : (t->ndim == 1 && t->shape[0] == rows);
    if (!ok) return cb_fail(err, CB_ERR_USAGE, "cspnet: parameter '%s' has another shape", name);
    *off = t->offset;
    return CB_OK;
}

static int resolve_linear(const named *p, const char *prefix, size_t in, size_t out,
                          size_t *w_off, size_t *b_off, cb_error *err)
{
    char name[CB_NN_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s.weight", prefix);
    int rc = resolve(p, name, out, in, w_off, err);
    if (rc || !b_off) return rc;
    snprintf(name, sizeof name, "%s.bias", prefix);
    return resolve(p, name, out, 0, b_off, err);
}

static int resolve_all(const cb_nn_params *params, const cb_cspnet_config *cfg, cb_cspnet_offsets *o,
                       cb_error *err)
{
    size_t h = (size_t)cfg->hidden, dt = (size_t)cfg->time_dim, da = (size_t)cfg->atom_dim;
    const named np = {params, cfg->prefix}, *p = &np;
    int rc = resolve_linear(p, "time_emb", (size_t)cfg->cond_dim, dt, &o->time_emb, NULL, err);
    if (!rc) rc = resolve_linear(p, "node_embedding", da, h, &o->node_emb, NULL, err);
    if (!rc) rc = resolve_linear(p, "atom_latent_emb", h + dt, h, &o->latent_emb, NULL, err);
    for (int k = 0; k < cfg->layers && !rc; k++) {
        cb_cspnet_layer_off *l = &o->layer[k];
        char pre[CB_NN_NAME_MAX];
        l->num_atom_emb = 0;
        if (cfg->num_atoms_emb) {
            snprintf(pre, sizeof pre, "csp_layer_%d.num_atom_embedding", k);
            rc =
                resolve_linear(p, pre, CB_CSPNET_NUM_ATOMS_CLASSES, h, &l->num_atom_emb, NULL, err);
        }
        snprintf(pre, sizeof pre, "csp_layer_%d.edge_mlp.0", k);
        if (!rc)
            rc = resolve_linear(p, pre, (size_t)cb_cspnet_edge_in_dim(cfg), h, &l->edge_w1,
                                &l->edge_b1, err);
        snprintf(pre, sizeof pre, "csp_layer_%d.edge_mlp.2", k);
        if (!rc) rc = resolve_linear(p, pre, h, h, &l->edge_w2, &l->edge_b2, err);
        snprintf(pre, sizeof pre, "csp_layer_%d.node_mlp.0", k);
        if (!rc) rc = resolve_linear(p, pre, 2 * h, h, &l->node_w1, &l->node_b1, err);
        snprintf(pre, sizeof pre, "csp_layer_%d.node_mlp.2", k);
        if (!rc) rc = resolve_linear(p, pre, h, h, &l->node_w2, &l->node_b2, err);
        snprintf(pre, sizeof pre, "csp_layer_%d.layer_norm.weight", k);
        if (!rc) rc = resolve(p, pre, h, 0, &l->ln_w, err);
        snprintf(pre, sizeof pre, "csp_layer_%d.layer_norm.bias", k);
        if (!rc) rc = resolve(p, pre, h, 0, &l->ln_b, err);
    }
    if (!rc) rc = resolve_linear(p, "coord_out", h, 3, &o->coord_w, NULL, err);
    if (!rc)
        rc = resolve_linear(p, "lattice_out", 2 * h, (size_t)cfg->lat_out_dim, &o->lattice_w,
                            &o->lattice_b, err);
    o->type_w = o->type_b = 0;
    if (!rc && cfg->type_head != CB_CSPNET_TYPE_HEAD_NONE)
        rc = resolve_linear(p, "type_out", h, da, &o->type_w, &o->type_b, err);
    if (!rc) rc = resolve(p, "final_layer_norm.weight", h, 0, &o->final_ln_w, err);
    if (!rc) rc = resolve(p, "final_layer_norm.bias", h, 0, &o->final_ln_b, err);
    o->count = params->count;
    return rc;
}

void cb_cspnet_cache_free(cb_cspnet_cache *c)
{
    float **f[] = {&c->delta,   &c->phi,     &c->unit, &c->temb,   &c->emb,    &c->hs,   &c->g,
                   &c->ln_mean, &c->ln_rstd, &c->p1,   &c->z1,     &c->p2,     &c->x3,   &c->p3,
                   &c->z3,      &c->p4,      &c->hf,   &c->f_mean, &c->f_rstd, &c->pool, &c->s_n1,
                   &c->s_n2,    &c->s_n3,    &c->s_n4, &c->s_dh,   &c->s_n2h,  &c->s_b1, &c->s_b2,
                   &c->s_b2h,   &c->s_e1,    &c->s_e2};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(*f[i]);
    free(c->deg);
    memset(c, 0, sizeof *c);
}

/* calloc of n floats (at least one, so every pointer of a valid cache is non-NULL). */
static int alloc_floats(float **x, size_t n)
{
    *x = calloc(n ? n : 1, sizeof(float));
    return *x ? 0 : -1;
}

int cb_cspnet_cache_alloc(cb_cspnet_cache *c, const cb_nn_params *p, const cb_cspnet_config *cfg,
                          int max_graphs, int max_nodes, int max_edges, cb_error *err)
{
    memset(c, 0, sizeof *c);
    int rc = cb_cspnet_config_check(cfg, err);
    if (rc) return rc;
    if (max_graphs < 1 || max_nodes < 1 || max_edges < 0)
        return cb_fail(err, CB_ERR_USAGE,
                       "cspnet cache: bad sizes (%d crystals, %d atoms, %d edges)", max_graphs,
                       max_nodes, max_edges);
    rc = resolve_all(p, cfg, &c->off, err);
    if (rc) {
        memset(c, 0, sizeof *c);
        return rc;
    }
    c->cfg = *cfg;
    c->max_graphs = max_graphs;
    c->max_nodes = max_nodes;
    c->max_edges = max_edges;
    /* W1's column blocks in FlowMM's concatenation order (models.md §2.3, §2.7). */
    int h = cfg->hidden;
    c->col_u = 0;
    c->col_s = 3 * cfg->unit_dots;
    c->col_d = c->col_s + h;
    c->col_l = c->col_d + h;
    c->col_phi = c->col_l + cfg->lat_dim;
    c->col_n = c->col_phi + 6 * cfg->n_freq;
    c->d_in = cb_cspnet_edge_in_dim(cfg);

    size_t H = (size_t)h, L = (size_t)cfg->layers, N = (size_t)max_nodes;
    size_t E = (size_t)max_edges, B = (size_t)max_graphs;
    size_t bw = H > (size_t)cfg->time_dim ? H : (size_t)cfg->time_dim;
    if (bw < (size_t)cfg->cond_dim) bw = (size_t)cfg->cond_dim;
    int bad = alloc_floats(&c->delta, E * 3) | alloc_floats(&c->phi, E * 6 * (size_t)cfg->n_freq) |
              alloc_floats(&c->unit, E * 3) | alloc_floats(&c->temb, B * (size_t)cfg->time_dim) |
              alloc_floats(&c->emb, N * H) | alloc_floats(&c->hs, (L + 1) * N * H) |
              alloc_floats(&c->g, L * N * H) | alloc_floats(&c->ln_mean, L * N) |
              alloc_floats(&c->ln_rstd, L * N) | alloc_floats(&c->p1, L * E * H) |
              alloc_floats(&c->z1, L * E * H) | alloc_floats(&c->p2, L * E * H) |
              alloc_floats(&c->x3, L * N * 2 * H) | alloc_floats(&c->p3, L * N * H) |
              alloc_floats(&c->z3, L * N * H) | alloc_floats(&c->p4, L * N * H) |
              alloc_floats(&c->hf, N * H) | alloc_floats(&c->f_mean, N) |
              alloc_floats(&c->f_rstd, N) | alloc_floats(&c->pool, B * 2 * H) |
              alloc_floats(&c->s_n1, N * H) | alloc_floats(&c->s_n2, N * H) |
              alloc_floats(&c->s_n3, N * H) | alloc_floats(&c->s_n4, N * H) |
              alloc_floats(&c->s_dh, N * H) | alloc_floats(&c->s_n2h, N * 2 * H) |
              alloc_floats(&c->s_b1, B * bw) | alloc_floats(&c->s_b2, B * bw) |
              alloc_floats(&c->s_b2h, B * 2 * H) | alloc_floats(&c->s_e1, E * H) |
              alloc_floats(&c->s_e2, E * H);
    c->deg = calloc(N, sizeof *c->deg);
    if (bad || !c->deg) {
        cb_cspnet_cache_free(c);
        return cb_fail(err, CB_ERR_NOMEM, "cspnet cache: out of memory (%d atoms, %d edges)",
                       max_nodes, max_edges);
    }
    return CB_OK;
}

int cb_cspnet_cache_fit(cb_cspnet_cache *c, const cb_nn_params *p, const cb_cspnet_config *cfg,
                        const cb_cspnet_batch *b, cb_error *err)
{
    if (c->hs && b->n_graphs <= c->max_graphs && b->n_nodes <= c->max_nodes && b->n_edges <= c->max_edges)
        return CB_OK;
    int g = b->n_graphs > c->max_graphs ? b->n_graphs : c->max_graphs;
    int v = b->n_nodes > c->max_nodes ? b->n_nodes : c->max_nodes;
    int e = b->n_edges > c->max_edges ? b->n_edges : c->max_edges;
    cb_cspnet_cache_free(c);
    return cb_cspnet_cache_alloc(c, p, cfg, g, v, e > 0 ? e : 1, err);
}
