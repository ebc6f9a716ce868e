/* One CSPLayer (models.md §2.3) forward and backward, with the first edge linear split
 * into its column blocks (§2.7):
 *   W1 x_e + b1 = A_{s(e)} + Bd_{d(e)} + C_{g(e)} + D_e
 *   A  = g W1sᵀ, Bd = g W1dᵀ                       per node   (two N×H×H products)
 *   C  = b1 + lat_in W1lᵀ + T_n[:, N_b] W1nᵀ        per crystal
 *   D  = φ W1φᵀ + unit W1uᵀ                         per edge   (K = 6n_f + 3)
 * so the E×2H×H product over [g_s ‖ g_d] is never formed. The backward pass mirrors it:
 * dp1 is reduced per source, per destination and per crystal first (dA, dBd, dC), and
 * only those reductions meet W1s, W1d, W1l, W1n (§2.8 "Full CSPLayer backward").
 * The whole-network gradient check (tests/test_cspnet.c) compares this against a
 * reference written with the plain concatenation. */
#include <string.h>

#include "cspnet.h"
#include "cspnet_layer.h"
#include "layers.h"

/* Layer k's cached tensors (strides are the cache's maximal counts). */
typedef struct layer_view {
    float *g, *mean, *rstd, *p1, *z1, *p2, *x3, *p3, *z3, *p4;
} layer_view;

static layer_view view(const cb_cspnet_cache *c, int k)
{
    size_t H = (size_t)c->cfg.hidden, N = (size_t)c->max_nodes, E = (size_t)c->max_edges;
    size_t kk = (size_t)k;
    layer_view v = {
        .g = c->g + kk * N * H,
        .mean = c->ln_mean + kk * N,
        .rstd = c->ln_rstd + kk * N,
        .p1 = c->p1 + kk * E * H,
        .z1 = c->z1 + kk * E * H,
        .p2 = c->p2 + kk * E * H,
        .x3 = c->x3 + kk * N * 2 * H,
        .p3 = c->p3 + kk * N * H,
        .z3 = c->z3 + kk * N * H,
        .p4 = c->p4 + kk * N * H,
    };
    return v;
}

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof *x); }

/* nb_b = one_hot(N_b)·Tᵀ = column N_b of T [H × 100] (num_atom_embedding), [B×H]. */
static void num_atoms_rows(const cb_cspnet_batch *b, const float *T, int H, float *nb)
{
    for (int g = 0; g < b->n_graphs; g++)
        for (int j = 0; j < H; j++)
            nb[(size_t)g * H + j] = T[(size_t)j * CB_CSPNET_NUM_ATOMS_CLASSES + b->num_atoms[g]];
}

/* C_b = b1 + lat_in_b W1lᵀ + nb_b W1nᵀ into C [B×H]; nb [B×H] is scratch. The num-atoms
 * feature is an input of the edge MLP like the others (the reference concatenates it
 * into x_e), so it meets its own block W1n; models.md §2.7's "C_b = lat W1lᵀ + T_n[N_b]"
 * leaves W1n out, but §2.6 counts it (D_in includes the H columns). */
static void crystal_term(const cb_cspnet_cache *c, const cb_cspnet_batch *b,
                         const cb_cspnet_layer_off *o, float *C, float *nb)
{
    const cb_cspnet_config *cfg = &c->cfg;
    const float *w = c->w;
    int H = cfg->hidden, B = b->n_graphs;
    for (int g = 0; g < B; g++) memcpy(C + (size_t)g * H, w + o->edge_b1, (size_t)H * sizeof *C);
    cb_nn_linear_block_forward_add(C, b->lat_in, w + o->edge_w1 + c->col_l, c->d_in, B,
                                   cfg->lat_dim, H);
    if (cfg->num_atoms_emb) {
        num_atoms_rows(b, w + o->num_atom_emb, H, nb);
        cb_nn_linear_block_forward_add(C, nb, w + o->edge_w1 + c->col_n, c->d_in, B, H, H);
    }
}

void cb_cspnet_layer_forward(cb_cspnet_cache *c, const cb_cspnet_batch *b, int layer,
                             const float *h_in, float *h_out)
{
    const cb_cspnet_config *cfg = &c->cfg;
    const cb_cspnet_layer_off *o = &c->off.layer[layer];
    const float *w = c->w;
    const float *W1 = w + o->edge_w1;
    layer_view v = view(c, layer);
    int H = cfg->hidden, N = b->n_nodes, E = b->n_edges;
    size_t NH = (size_t)N * H, EH = (size_t)E * H;
    float *A = c->s_n1, *Bd = c->s_n2, *C = c->s_b1, *agg = c->s_n3, *m = c->s_e1;

    cb_nn_layernorm_forward(v.g, v.mean, v.rstd, h_in, w + o->ln_w, w + o->ln_b, N, H,
                            CB_NN_LAYERNORM_EPS);
    /* edge MLP, first linear by blocks */
    zero(A, NH);
    cb_nn_linear_block_forward_add(A, v.g, W1 + c->col_s, c->d_in, N, H, H);
    zero(Bd, NH);
    cb_nn_linear_block_forward_add(Bd, v.g, W1 + c->col_d, c->d_in, N, H, H);
    crystal_term(c, b, o, C, c->s_b2);
    zero(v.p1, EH);
    cb_nn_linear_block_forward_add(v.p1, c->phi, W1 + c->col_phi, c->d_in, E, 6 * cfg->n_freq, H);
    if (cfg->unit_dots)
        cb_nn_linear_block_forward_add(v.p1, c->unit, W1 + c->col_u, c->d_in, E, 3, H);
    /* p1_e += A_s + Bd_d + C_g in one pass over the edges (rather than three gathers) */
    for (int e = 0; e < E; e++) {
        float *y = v.p1 + (size_t)e * H;
        const float *a = A + (size_t)b->edge_src[e] * H, *d = Bd + (size_t)b->edge_dst[e] * H;
        const float *cc = C + (size_t)b->edge2graph[e] * H;
        for (int j = 0; j < H; j++) y[j] += (a[j] + d[j]) + cc[j];
    }
    cb_nn_silu_forward(v.z1, v.p1, EH);
    cb_nn_linear_forward(v.p2, v.z1, w + o->edge_w2, w + o->edge_b2, E, H, H);
    cb_nn_silu_forward(m, v.p2, EH);
    /* aggregate over the source (edge_index[0]); a node without edges gets 0 */
    cb_nn_scatter_mean_forward(agg, c->deg, m, b->edge_src, E, N, H);
    /* node MLP on [g ‖ agg] */
    const float *parts[2] = {v.g, agg};
    const int dims[2] = {H, H};
    cb_nn_concat_forward(v.x3, parts, dims, 2, N);
    cb_nn_linear_forward(v.p3, v.x3, w + o->node_w1, w + o->node_b1, N, 2 * H, H);
    cb_nn_silu_forward(v.z3, v.p3, NH);
    cb_nn_linear_forward(v.p4, v.z3, w + o->node_w2, w + o->node_b2, N, H, H);
    cb_nn_silu_forward(h_out, v.p4, NH);
    for (size_t i = 0; i < NH; i++) h_out[i] += h_in[i]; /* residual on the raw input */
}

void cb_cspnet_layer_backward(cb_cspnet_cache *c, const cb_cspnet_batch *b, int layer,
                              const float *h_in, float *dh, float *grad, float *d_lat_in)
{
    const cb_cspnet_config *cfg = &c->cfg;
    const cb_cspnet_layer_off *o = &c->off.layer[layer];
    const float *w = c->w;
    const float *W1 = w + o->edge_w1;
    float *dW1 = grad + o->edge_w1;
    layer_view v = view(c, layer);
    int H = cfg->hidden, N = b->n_nodes, E = b->n_edges, B = b->n_graphs;
    size_t NH = (size_t)N * H, EH = (size_t)E * H;

    /* node MLP: dh holds dL/dh_out = dL/do (and the residual's dL/dh_in) */
    float *dp4 = c->s_n1, *dz3 = c->s_n2, *dp3 = c->s_n1, *dx3 = c->s_n2h;
    float *dg = c->s_n3, *dagg = c->s_n4;
    zero(dp4, NH);
    cb_nn_silu_backward(dp4, dh, v.p4, NH);
    zero(dz3, NH);
    cb_nn_linear_backward(dz3, grad + o->node_w2, grad + o->node_b2, dp4, v.z3, w + o->node_w2, N,
                          H, H);
    zero(dp3, NH);
    cb_nn_silu_backward(dp3, dz3, v.p3, NH);
    zero(dx3, 2 * NH);
    cb_nn_linear_backward(dx3, grad + o->node_w1, grad + o->node_b1, dp3, v.x3, w + o->node_w1, N,
                          2 * H, H);
    zero(dg, NH);
    zero(dagg, NH);
    float *const d_parts[2] = {dg, dagg};
    const int dims[2] = {H, H};
    cb_nn_concat_backward(d_parts, dx3, dims, 2, N);

    /* edge MLP */
    float *dm = c->s_e1, *dp2 = c->s_e2, *dz1 = c->s_e1, *dp1 = c->s_e2;
    zero(dm, EH);
    cb_nn_scatter_mean_backward(dm, dagg, b->edge_src, c->deg, E, H);
    zero(dp2, EH);
    cb_nn_silu_backward(dp2, dm, v.p2, EH);
    zero(dz1, EH); /* dm is dead: its buffer becomes dz1 */
    cb_nn_linear_backward(dz1, grad + o->edge_w2, grad + o->edge_b2, dp2, v.z1, w + o->edge_w2, E,
                          H, H);
    zero(dp1, EH); /* dp2 is dead: its buffer becomes dp1 */
    cb_nn_silu_backward(dp1, dz1, v.p1, EH);

    /* first edge linear, by blocks: per-edge inputs first (constants: no input gradient) */
    cb_nn_linear_block_backward(NULL, dW1 + c->col_phi, dp1, c->phi, W1 + c->col_phi, c->d_in, E,
                                6 * cfg->n_freq, H);
    if (cfg->unit_dots)
        cb_nn_linear_block_backward(NULL, dW1 + c->col_u, dp1, c->unit, W1 + c->col_u, c->d_in, E,
                                    3, H);
    /* dA_i = Σ_{s(e)=i} dp1_e, dBd_j = Σ_{d(e)=j} dp1_e, dC_b = Σ_{e∈b} dp1_e: one pass */
    float *dA = c->s_n1, *dBd = c->s_n2, *dC = c->s_b1;
    zero(dA, NH);
    zero(dBd, NH);
    zero(dC, (size_t)B * H);
    for (int e = 0; e < E; e++) {
        const float *x = dp1 + (size_t)e * H;
        float *a = dA + (size_t)b->edge_src[e] * H, *d = dBd + (size_t)b->edge_dst[e] * H;
        float *cc = dC + (size_t)b->edge2graph[e] * H;
        for (int j = 0; j < H; j++) {
            a[j] += x[j];
            d[j] += x[j];
            cc[j] += x[j];
        }
    }
    cb_nn_linear_block_backward(dg, dW1 + c->col_s, dA, v.g, W1 + c->col_s, c->d_in, N, H, H);
    cb_nn_linear_block_backward(dg, dW1 + c->col_d, dBd, v.g, W1 + c->col_d, c->d_in, N, H, H);
    /* per-crystal term: b1, W1l (and lat_in), T_n[:, N_b] */
    float *db1 = grad + o->edge_b1;
    for (int g = 0; g < B; g++) {
        const float *x = dC + (size_t)g * H;
        for (int j = 0; j < H; j++) db1[j] += x[j];
    }
    cb_nn_linear_block_backward(d_lat_in, dW1 + c->col_l, dC, b->lat_in, W1 + c->col_l, c->d_in, B,
                                cfg->lat_dim, H);
    if (cfg->num_atoms_emb) { /* nb = T[:, N_b] → W1n: dW1n += dCᵀ nb, dT[:, N_b] += dC W1n */
        float *nb = c->s_b2, *dnb = c->s_b2h;
        num_atoms_rows(b, w + o->num_atom_emb, H, nb);
        zero(dnb, (size_t)B * H);
        cb_nn_linear_block_backward(dnb, dW1 + c->col_n, dC, nb, W1 + c->col_n, c->d_in, B, H, H);
        float *dT = grad + o->num_atom_emb;
        for (int g = 0; g < B; g++) {
            const float *x = dnb + (size_t)g * H;
            int n = b->num_atoms[g];
            for (int j = 0; j < H; j++) dT[(size_t)j * CB_CSPNET_NUM_ATOMS_CLASSES + n] += x[j];
        }
    }
    /* pre-norm: dh += LN_backward(dg); dh already holds the residual's share */
    cb_nn_layernorm_backward(dh, grad + o->ln_w, grad + o->ln_b, dg, h_in, w + o->ln_w, v.mean,
                             v.rstd, N, H);
}
