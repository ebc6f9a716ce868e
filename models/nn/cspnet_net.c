/* The whole CSPNet (contracts in cspnet.h): edge features, input embeddings, the
 * CSPLayer stack (cspnet_layer.c) and FlowMM's read-out heads, forward and backward. */
#include <math.h>
#include <string.h>

#include "cspnet.h"
#include "cspnet_layer.h"
#include "layers.h"

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof *x); }

/* Per-edge inputs, constant across layers (models.md §2.2): Δ = logmap(f_s, f_d), its
 * sinusoidal embedding φ, and the unit dots. Δ and the unit dots are computed in double
 * (f_d − f_s is then exact) and rounded once. */
static void edge_features(cb_cspnet_cache *c, const cb_cspnet_batch *b)
{
    int E = b->n_edges;
    for (int e = 0; e < E; e++) {
        const float *fs = b->frac + 3 * (size_t)b->edge_src[e];
        const float *fd = b->frac + 3 * (size_t)b->edge_dst[e];
        for (int k = 0; k < 3; k++) {
            double d = (double)fd[k] - (double)fs[k];
            c->delta[3 * (size_t)e + k] = (float)(d - floor(d + 0.5)); /* [−½, ½) */
        }
    }
    cb_nn_frac_embed_forward(c->phi, c->delta, E, c->cfg.n_freq);
    if (!c->cfg.unit_dots) return;
    /* unit_e = GΔ/(‖GΔ‖ + ε), G = L Lᵀ: component k is a_k·(Δ L), the dot product of
     * lattice vector k with the Cartesian displacement; the 3-vector is normalised as a
     * whole, as the reference does. */
    for (int e = 0; e < E; e++) {
        const float *L = b->lattice + 9 * (size_t)b->edge2graph[e];
        const float *d = c->delta + 3 * (size_t)e;
        double r[3], u[3], n2 = 0.0;
        for (int j = 0; j < 3; j++) /* r = Δ L (Cartesian) */
            r[j] = (double)d[0] * L[0 * 3 + j] + (double)d[1] * L[1 * 3 + j] +
                   (double)d[2] * L[2 * 3 + j];
        for (int k = 0; k < 3; k++) {
            u[k] = (double)L[k * 3 + 0] * r[0] + (double)L[k * 3 + 1] * r[1] +
                   (double)L[k * 3 + 2] * r[2];
            n2 += u[k] * u[k];
        }
        double inv = 1.0 / (sqrt(n2) + CB_CSPNET_UNIT_EPS);
        for (int k = 0; k < 3; k++) c->unit[3 * (size_t)e + k] = (float)(u[k] * inv);
    }
}

/* Field by field (a struct memcmp would also compare padding). */
static int same_config(const cb_cspnet_config *a, const cb_cspnet_config *b)
{
    return a->hidden == b->hidden && a->layers == b->layers && a->n_freq == b->n_freq &&
           a->time_dim == b->time_dim && a->node_input == b->node_input &&
           a->atom_dim == b->atom_dim && a->lat_dim == b->lat_dim &&
           a->lat_out_dim == b->lat_out_dim && a->type_head == b->type_head &&
           a->self_edges == b->self_edges && a->unit_dots == b->unit_dots &&
           a->num_atoms_emb == b->num_atoms_emb && a->cond_dim == b->cond_dim &&
           strcmp(a->prefix, b->prefix) == 0;
}

static int check_batch(const cb_cspnet_cache *c, const cb_cspnet_config *cfg,
                       const cb_cspnet_batch *b, cb_error *err)
{
    if (!same_config(cfg, &c->cfg))
        return cb_fail(err, CB_ERR_USAGE, "cspnet: config differs from the cache's");
    if (b->self_edges != cfg->self_edges || b->atom_dim != cfg->atom_dim ||
        b->lat_dim != cfg->lat_dim || b->cond_dim != cfg->cond_dim)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: batch built for another config");
    if (b->n_graphs < 1 || b->n_graphs > c->max_graphs || b->n_nodes > c->max_nodes ||
        b->n_edges > c->max_edges)
        return cb_fail(
            err, CB_ERR_USAGE,
            "cspnet: batch (%d crystals, %d atoms, %d edges) exceeds the cache (%d, %d, %d)",
            b->n_graphs, b->n_nodes, b->n_edges, c->max_graphs, c->max_nodes, c->max_edges);
    return CB_OK;
}

int cb_cspnet_forward(const cb_nn_params *p, const float *w, const cb_cspnet_config *cfg,
                      const cb_cspnet_batch *b, cb_cspnet_cache *c, const cb_cspnet_out *out,
                      cb_error *err)
{
    int rc = check_batch(c, cfg, b, err);
    if (rc) return rc;
    if (p->count != c->off.count)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: parameter set differs from the cache's");
    if (!w || !out->coord || !out->lattice ||
        (cfg->type_head == CB_CSPNET_TYPE_HEAD_ON && !out->types))
        return cb_fail(err, CB_ERR_USAGE, "cspnet: missing weights or output arrays");
    const cb_cspnet_offsets *o = &c->off;
    int H = cfg->hidden, dt = cfg->time_dim, da = cfg->atom_dim;
    int N = b->n_nodes, B = b->n_graphs;
    size_t NH = (size_t)N * H;
    c->w = w;
    c->n_graphs = B;
    c->n_nodes = N;
    c->n_edges = b->n_edges;

    edge_features(c, b);

    /* temb_b = W_t t_b: Linear(d_c, d_t) without bias, a short loop (B·d_t·d_c is tiny);
     * with d_c = 1 it is the exact product t_b·w_t */
    const int dc = cfg->cond_dim;
    for (int g = 0; g < B; g++)
        for (int k = 0; k < dt; k++) {
            float acc = 0.0f;
            for (int j = 0; j < dc; j++) acc += b->t[(size_t)g * dc + j] * w[o->time_emb + (size_t)k * dc + j];
            c->temb[(size_t)g * dt + k] = acc;
        }
    /* e_i = node_embedding(a_i) */
    if (cfg->node_input == CB_CSPNET_NODE_TYPE_INDEX) {
        const float *W = w + o->node_emb; /* [H × d_a]: one_hot(k)·Wᵀ is column k */
        for (int i = 0; i < N; i++)
            for (int j = 0; j < H; j++) c->emb[(size_t)i * H + j] = W[(size_t)j * da + b->types[i]];
    } else {
        cb_nn_linear_forward(c->emb, b->node_in, w + o->node_emb, NULL, N, da, H);
    }
    /* h⁰ = W_lat [e ‖ temb_g]: the e block per atom, the temb block per crystal */
    float *h0 = c->hs, *tc = c->s_b1;
    const float *Wl = w + o->latent_emb;
    zero(h0, NH);
    cb_nn_linear_block_forward_add(h0, c->emb, Wl, H + dt, N, H, H);
    zero(tc, (size_t)B * H);
    cb_nn_linear_block_forward_add(tc, c->temb, Wl + H, H + dt, B, dt, H);
    cb_nn_gather_add_forward(h0, tc, b->node2graph, N, H);

    for (int k = 0; k < cfg->layers; k++)
        cb_cspnet_layer_forward(c, b, k, c->hs + (size_t)k * c->max_nodes * H,
                                c->hs + (size_t)(k + 1) * c->max_nodes * H);

    /* read-out (models.md §2.4, FlowMM) */
    const float *hL = c->hs + (size_t)cfg->layers * c->max_nodes * H;
    cb_nn_layernorm_forward(c->hf, c->f_mean, c->f_rstd, hL, w + o->final_ln_w, w + o->final_ln_b,
                            N, H, CB_NN_LAYERNORM_EPS);
    cb_nn_linear_forward(out->coord, c->hf, w + o->coord_w, NULL, N, H, 3);
    cb_nn_mean_pool_forward(c->s_b1, c->hf, b->first, b->num_atoms, B, H);
    cb_nn_sum_pool_forward(c->s_b2, c->hf, b->first, b->num_atoms, B, H);
    const float *parts[2] = {c->s_b1, c->s_b2};
    const int dims[2] = {H, H};
    cb_nn_concat_forward(c->pool, parts, dims, 2, B);
    cb_nn_linear_forward(out->lattice, c->pool, w + o->lattice_w, w + o->lattice_b, B, 2 * H,
                         cfg->lat_out_dim);
    if (cfg->type_head == CB_CSPNET_TYPE_HEAD_ON)
        cb_nn_linear_forward(out->types, c->hf, w + o->type_w, w + o->type_b, N, H, da);
    return CB_OK;
}

int cb_cspnet_backward(const cb_nn_params *p, const cb_cspnet_config *cfg, const cb_cspnet_batch *b,
                       cb_cspnet_cache *c, const cb_cspnet_out *d_out, float *grad,
                       const cb_cspnet_input_grad *d_in, cb_error *err)
{
    int rc = check_batch(c, cfg, b, err);
    if (rc) return rc;
    if (!c->w || b->n_graphs != c->n_graphs || b->n_nodes != c->n_nodes || b->n_edges != c->n_edges)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: backward without a forward on this batch");
    if (p->count != c->off.count)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: parameter set differs from the cache's");
    const cb_cspnet_offsets *o = &c->off;
    const float *w = c->w;
    int H = cfg->hidden, dt = cfg->time_dim, da = cfg->atom_dim;
    int N = b->n_nodes, B = b->n_graphs;
    size_t NH = (size_t)N * H;

    /* heads → dĥ */
    float *dhf = c->s_n1;
    zero(dhf, NH);
    if (d_out->coord)
        cb_nn_linear_backward(dhf, grad + o->coord_w, NULL, d_out->coord, c->hf, w + o->coord_w, N,
                              H, 3);
    if (d_out->lattice) {
        float *dpool = c->s_b2h, *dmean = c->s_b1, *dsum = c->s_b2;
        zero(dpool, (size_t)B * 2 * H);
        cb_nn_linear_backward(dpool, grad + o->lattice_w, grad + o->lattice_b, d_out->lattice,
                              c->pool, w + o->lattice_w, B, 2 * H, cfg->lat_out_dim);
        zero(dmean, (size_t)B * H);
        zero(dsum, (size_t)B * H);
        float *const d_parts[2] = {dmean, dsum};
        const int dims[2] = {H, H};
        cb_nn_concat_backward(d_parts, dpool, dims, 2, B);
        cb_nn_mean_pool_backward(dhf, dmean, b->first, b->num_atoms, B, H);
        cb_nn_sum_pool_backward(dhf, dsum, b->first, b->num_atoms, B, H);
    }
    if (cfg->type_head == CB_CSPNET_TYPE_HEAD_ON && d_out->types)
        cb_nn_linear_backward(dhf, grad + o->type_w, grad + o->type_b, d_out->types, c->hf,
                              w + o->type_w, N, H, da);
    /* final LN → dh^L, then the layers from the top down (dh updated in place) */
    float *dh = c->s_dh;
    zero(dh, NH);
    const float *hL = c->hs + (size_t)cfg->layers * c->max_nodes * H;
    cb_nn_layernorm_backward(dh, grad + o->final_ln_w, grad + o->final_ln_b, dhf, hL,
                             w + o->final_ln_w, c->f_mean, c->f_rstd, N, H);
    float *d_lat_in = d_in ? d_in->lat_in : NULL;
    for (int k = cfg->layers - 1; k >= 0; k--)
        cb_cspnet_layer_backward(c, b, k, c->hs + (size_t)k * c->max_nodes * H, dh, grad, d_lat_in);

    /* h⁰ = W_lat [e ‖ temb_g] */
    const float *Wl = w + o->latent_emb;
    float *dWl = grad + o->latent_emb;
    float *dtc = c->s_b1, *demb = c->s_n1, *dtemb = c->s_b2;
    zero(dtc, (size_t)B * H);
    cb_nn_gather_backward(dtc, dh, b->node2graph, N, H);
    zero(demb, NH);
    cb_nn_linear_block_backward(demb, dWl, dh, c->emb, Wl, H + dt, N, H, H);
    zero(dtemb, (size_t)B * dt);
    cb_nn_linear_block_backward(dtemb, dWl + H, dtc, c->temb, Wl + H, H + dt, B, dt, H);
    /* temb_b = W_t t_b: dW_t += Σ_b dtemb_b t_bᵀ ; dt_b += W_tᵀ dtemb_b */
    const int dc = cfg->cond_dim;
    float *dwt = grad + o->time_emb;
    for (int g = 0; g < B; g++)
        for (int k = 0; k < dt; k++)
            for (int j = 0; j < dc; j++)
                dwt[(size_t)k * dc + j] += b->t[(size_t)g * dc + j] * dtemb[(size_t)g * dt + k];
    if (d_in && d_in->t)
        for (int g = 0; g < B; g++)
            for (int j = 0; j < dc; j++) {
                float acc = 0.0f;
                for (int k = 0; k < dt; k++) acc += w[o->time_emb + (size_t)k * dc + j] * dtemb[(size_t)g * dt + k];
                d_in->t[(size_t)g * dc + j] += acc;
            }
    /* node embedding */
    float *dWn = grad + o->node_emb;
    if (cfg->node_input == CB_CSPNET_NODE_TYPE_INDEX) {
        for (int i = 0; i < N; i++)
            for (int j = 0; j < H; j++)
                dWn[(size_t)j * da + b->types[i]] += demb[(size_t)i * H + j];
    } else {
        cb_nn_linear_backward(d_in ? d_in->node_in : NULL, dWn, NULL, demb, b->node_in,
                              w + o->node_emb, N, da, H);
    }
    return CB_OK;
}

double cb_cspnet_forward_flops(const cb_cspnet_config *cfg, int n_graphs, int n_nodes, int n_edges)
{
    double H = cfg->hidden, N = n_nodes, E = n_edges, B = n_graphs;
    double per_layer = E * (6.0 * cfg->n_freq + 3.0 * cfg->unit_dots) * H /* φ, unit blocks */
                       + 2.0 * N * H * H                                  /* W1s, W1d per node */
                       + B * cfg->lat_dim * H                             /* W1l per crystal */
                       + E * H * H                                        /* W2 */
                       + N * 2.0 * H * H + N * H * H;                     /* W3, W4 */
    double macs = cfg->layers * per_layer + N * H * H + B * cfg->time_dim * H /* W_lat */
                  + N * H * 3.0 + B * 2.0 * H * cfg->lat_out_dim;             /* heads */
    if (cfg->node_input == CB_CSPNET_NODE_DENSE) macs += N * cfg->atom_dim * H;
    if (cfg->type_head == CB_CSPNET_TYPE_HEAD_ON) macs += N * H * cfg->atom_dim;
    return 2.0 * macs;
}
