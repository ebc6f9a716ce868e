/* CSPNet, the message-passing network of FlowMM (models.md §2, FlowMM's `rfm_cspnet`
 * variant), on the layer kernels of layers.h and the parameter set of train.h.
 *
 *   cspnet_params.c  config check, reference presets, parameter declaration (PyTorch
 *                    names and layout) and PyTorch-style initialisation
 *   cspnet_batch.c   the batch: crystals' atoms contiguous, fully connected edges
 *   cspnet_cache.c   the activation cache (sized for a largest batch) and the offsets
 *   cspnet_layer.c   one CSPLayer forward/backward with the per-node split of §2.7
 *   cspnet_net.c     input features, embeddings, read-out heads, whole forward/backward
 *
 * What the network computes (models.md §2.2–§2.4, FlowMM order of features):
 *   temb_b = W_t t_b                                         time_emb: Linear(d_c, d_t), no bias
 *                                                            (FlowMM: d_c = 1, t_b the time)
 *   e_i    = node_embedding(a_i)                             Linear(d_a, H), no bias
 *   h⁰_i   = W_lat [e_i ‖ temb_{g(i)}]                       atom_latent_emb, no bias
 *   layer ℓ (pre-norm, residual on the raw h):
 *     g    = LN_ℓ(h)
 *     x_e  = [unit_e (3) ‖ g_s ‖ g_d ‖ lat_in_{g(e)} ‖ φ_e (6n_f) ‖ T_n[:, N_{g(e)}]]
 *     m_e  = silu(W2 silu(W1 x_e + b1) + b2)
 *     agg  = scatter-mean of m over the edge SOURCE s(e)       (0 for a node without edges)
 *     h'   = h + silu(W4 silu(W3 [g ‖ agg] + b3) + b4)
 *   ĥ = LN_final(h^L);  coord_i = W_c ĥ_i (3, no bias)
 *   lattice_b = W_L [mean_{i∈b} ĥ_i ‖ Σ_{i∈b} ĥ_i] + b_L     (FlowMM's lattice-parameter
 *                                                            head: 6 outputs)
 *   type_i = W_A ĥ_i + b_A                                   (optional, d_a outputs)
 * with Δ_e = logmap(f_s, f_d) = (f_d − f_s) wrapped into [−½, ½) (use_log_map), φ_e its
 * sinusoidal embedding (frequencies 2πk, k = 0..n_f−1), and
 * unit_e = GΔ_e / (‖GΔ_e‖ + 1e-12), G = L Lᵀ of the crystal's un-standardised lattice
 * (represent_angle_edge_to_lattice; the 1e-12 is models.md's [REC], the reference has none).
 * The first edge linear is never applied to the concatenation: W1 is split into its column
 * blocks and the g_s, g_d products are taken per node, the lattice and num-atoms ones per
 * crystal, and only φ and unit per edge (§2.7); forward and backward use the same split.
 * (The num-atoms row T_n[:, N_b] goes through its own block W1n, as in the reference's
 * concatenation; models.md §2.7/§2.8 omit W1n there.)
 *
 * Symmetries (models.md §2.1): node outputs permute with the atoms, lattice outputs are
 * permutation invariant; a common translation of the fractional coordinates changes
 * nothing (only Δ enters, through integer frequencies and the minimum-image log map);
 * the lattice enters only through the caller's lat_in (which must itself be rotation
 * invariant, e.g. FlowMM's z-scored lengths and angles) and through G = L Lᵀ, so a
 * rotation L → L Rᵀ changes nothing.
 *
 * Gradients (llm.c style, as layers.h): backward ACCUMULATES into the parameter gradient
 * buffer and into any input gradient asked for. Only parameter gradients are needed for
 * training (models.md §2.8); the gradients with respect to the dense node input, lat_in
 * and t are offered because they are cheap. No gradient flows to the fractional
 * coordinates or the lattice matrix (φ and unit are constants, as in the reference,
 * where the embedding is detached).
 *
 * Threads: only OpenBLAS's inside sgemm; every other loop runs in a fixed order on one
 * thread, so same inputs, build and thread count → bit-identical outputs and gradients. */
#ifndef CB_NN_CSPNET_H
#define CB_NN_CSPNET_H

#include <stddef.h>

#include "crystalbench/error.h"
#include "crystalbench/rng.h"
#include "train.h"

#define CB_CSPNET_MAX_LAYERS 16
/* FlowMM's num_atom_embedding is Linear(100, H) on one_hot(N_b, 100): N_b ≤ 99. */
#define CB_CSPNET_NUM_ATOMS_CLASSES 100
/* Added to ‖GΔ‖ in unit_e (models.md §2.2 [REC]); makes a self edge's unit vector 0. */
#define CB_CSPNET_UNIT_EPS 1e-12

/* ---- configuration ----------------------------------------------------------------- */

typedef enum cb_cspnet_node_input {
    /* CSP: atom i is given by types[i] = Z−1 ∈ [0, atom_dim). FlowMM feeds one_hot(Z−1)
     * to a bias-free Linear(atom_dim, H), which is column Z−1 of its weight: computed as
     * that column, with the same parameter (node_embedding.weight [H × atom_dim]). */
    CB_CSPNET_NODE_TYPE_INDEX = 0,
    /* DNG: atom i is given by a dense vector node_in[i] of atom_dim floats (FlowMM's
     * analog bits, atom_dim = 7), through the same bias-free Linear. */
    CB_CSPNET_NODE_DENSE = 1
} cb_cspnet_node_input;

typedef enum cb_cspnet_type_head {
    CB_CSPNET_TYPE_HEAD_NONE = 0, /* no type_out parameters, no output */
    /* type_out.{weight,bias} declared (so the parameter layout and count equal FlowMM
     * CSP's, whose head exists but whose output is discarded, models.md §2.4) but never
     * evaluated; its gradient stays 0. */
    CB_CSPNET_TYPE_HEAD_UNUSED = 1,
    CB_CSPNET_TYPE_HEAD_ON = 2 /* type_out [N × atom_dim] evaluated (FlowMM DNG) */
} cb_cspnet_type_head;

typedef struct cb_cspnet_config {
    int hidden;   /* H ≥ 1 (a multiple of 16 keeps OpenBLAS fast, models.md §2.7) */
    int layers;   /* 1..CB_CSPNET_MAX_LAYERS */
    int n_freq;   /* n_f ≥ 1: φ has 6·n_f features */
    int time_dim; /* d_t ≥ 1 */
    int cond_dim; /* d_c ≥ 1: width of the per-crystal conditioning t_b (FlowMM: 1, the time;
                     CDVAE's decoder: the latent and log σ) */
    char prefix[24]; /* before every parameter name: "" (FlowMM), or e.g. "decoder." when
                        one parameter set holds several networks */
    cb_cspnet_node_input node_input;
    int atom_dim;    /* d_a ≥ 1: classes (100) for TYPE_INDEX, input width (7) for DENSE */
    int lat_dim;     /* width of the per-crystal lattice input lat_in (FlowMM: 6) */
    int lat_out_dim; /* lattice head outputs (FlowMM lattice_params: 6) */
    cb_cspnet_type_head type_head;
    int self_edges;    /* 1: edges i→i too (DiffCSP-like); FlowMM rfm_cspnet: 0 */
    int unit_dots;     /* represent_angle_edge_to_lattice (FlowMM: 1) */
    int num_atoms_emb; /* represent_num_atoms (FlowMM: 1) */
} cb_cspnet_config;

/* FlowMM's rfm_cspnet at reference size (models.md §2.5: H 512, d_t 256, 6 layers,
 * n_f 128, lattice_params in and out, no self edges, unit dots and num-atoms features)
 * for CSP (dng = 0: TYPE_INDEX over 100 classes, type head UNUSED) or DNG (dng = 1:
 * DENSE analog bits, atom_dim 7, type head ON). Change sizes afterwards for CPU configs. */
void cb_cspnet_config_flowmm(cb_cspnet_config *cfg, int dng);
/* CB_ERR_USAGE with a message for an invalid config. */
int cb_cspnet_config_check(const cb_cspnet_config *cfg, cb_error *err);
/* D_in, the input width of the first edge linear: 3·unit + 2H + lat_dim + 6n_f + H·num_atoms. */
int cb_cspnet_edge_in_dim(const cb_cspnet_config *cfg);

/* ---- parameters -------------------------------------------------------------------- */

/* Declares every tensor into p (not yet allocated) with FlowMM's PyTorch names (after
 * cfg->prefix), shapes and state_dict order, so a checkpoint maps one to one onto the
 * reference's:
 *   time_emb.weight [d_t×d_c], node_embedding.weight [H×d_a], atom_latent_emb.weight
 *   [H×(H+d_t)], then per layer k "csp_layer_k.": num_atom_embedding.weight [H×100],
 *   edge_mlp.0.{weight [H×D_in], bias}, edge_mlp.2.{weight [H×H], bias},
 *   node_mlp.0.{weight [H×2H], bias}, node_mlp.2.{weight, bias}, layer_norm.{weight, bias};
 *   then coord_out.weight [3×H], lattice_out.{weight [lat_out×2H], bias},
 *   type_out.{weight [d_a×H], bias}, final_layer_norm.{weight, bias}.
 * Errors as cb_nn_params_add, or CB_ERR_USAGE for a bad config. */
int cb_cspnet_declare(cb_nn_params *p, const cb_cspnet_config *cfg, cb_error *err);
/* Initialises w (p->w or another buffer of p's layout) like PyTorch (models.md §2.9):
 * every Linear U(±1/√fan_in) for weight then bias, LayerNorm γ = 1, β = 0, drawn from rng
 * in declaration order. p must have been declared by cb_cspnet_declare with cfg. */
void cb_cspnet_init_weights(const cb_nn_params *p, float *w, const cb_cspnet_config *cfg,
                            cb_rng *rng);
/* cb_nn_params_init + declare + alloc + init_weights(p->w) + cb_nn_ema_reset: a ready
 * parameter set. On error p is left empty. */
int cb_cspnet_params_create(cb_nn_params *p, const cb_cspnet_config *cfg, cb_rng *rng,
                            cb_error *err);

/* ---- batch (models.md §1.6) ---------------------------------------------------------- */

/* A batch of crystals. Atoms of crystal b are the contiguous rows
 * [first[b], first[b] + num_atoms[b]); crystal 0 first. Edges are fully connected within
 * each crystal, in the reference's `fc` order (dense_to_sparse of the block-diagonal
 * adjacency, row-major): for b, for i, for j, skipping i == j unless self_edges, edge
 * (src = first[b]+i, dst = first[b]+j). So a crystal has N_b(N_b−1) edges (N_b² with
 * self edges), all edges of a source are contiguous, and a one-atom crystal without self
 * edges has none (its messages average to 0).
 *
 * cb_cspnet_batch_build writes the topology (the int arrays and the counts); the caller
 * then fills the data arrays of the first n_graphs / n_nodes rows. Arrays grow (never
 * shrink) with the batch, so one batch object serves a whole training run; after a
 * build that grew them, the data arrays hold garbage until filled. */
typedef struct cb_cspnet_batch {
    int n_graphs, n_nodes, n_edges;
    int self_edges; /* as built; must equal the config's */
    /* per crystal [n_graphs] */
    int *num_atoms; /* N_b ≥ 1 (topology) */
    int *first;     /* first atom row (topology) */
    float *t;       /* [n_graphs × cond_dim]: the conditioning, FlowMM's time t_b ∈ [0, 1] (data) */
    float *lat_in;  /* [n_graphs × lat_dim]: the network's lattice feature (FlowMM: the
                       z-scored lattice parameters; must be rotation invariant) (data) */
    float *lattice; /* [n_graphs × 9]: the un-standardised lattice matrix L, rows a, b, c
                       in Å, for unit dots; unused without unit_dots (data) */
    /* per atom [n_nodes] */
    int *node2graph; /* g(i) (topology) */
    int *types;      /* TYPE_INDEX: Z−1 ∈ [0, atom_dim) (data) */
    float *node_in;  /* DENSE: [n_nodes × atom_dim] (data) */
    float *frac;     /* [n_nodes × 3] fractional coordinates; any real values (only the
                        wrapped differences enter) (data) */
    /* per edge [n_edges] (topology) */
    int *edge_src, *edge_dst, *edge2graph;
    /* capacities and the row widths the data arrays were sized for */
    int cap_graphs, cap_nodes, cap_edges, atom_dim, lat_dim, cond_dim;
} cb_cspnet_batch;

void cb_cspnet_batch_init(cb_cspnet_batch *b);
/* Edges of n_graphs crystals of num_atoms[b] atoms under cfg (N_b(N_b−1) or N_b² each). */
size_t cb_cspnet_edge_count(const cb_cspnet_config *cfg, int n_graphs, const int *num_atoms);
/* Lays out n_graphs ≥ 1 crystals with num_atoms[b] ≥ 1 atoms (≤ 99 with num_atoms_emb).
 * CB_ERR_USAGE for bad sizes (nothing changed), CB_ERR_NOMEM (the batch is then empty
 * but valid: free it or build again). */
int cb_cspnet_batch_build(cb_cspnet_batch *b, const cb_cspnet_config *cfg, int n_graphs,
                          const int *num_atoms, cb_error *err);
void cb_cspnet_batch_free(cb_cspnet_batch *b);

/* ---- outputs ----------------------------------------------------------------------- */

/* Caller-owned output arrays (forward overwrites them), or their gradients (backward
 * reads them; a NULL head gradient counts as zero). */
typedef struct cb_cspnet_out {
    float *coord;   /* [n_nodes × 3] per-atom coordinate vector field */
    float *lattice; /* [n_graphs × lat_out_dim] */
    float *types;   /* [n_nodes × atom_dim] with TYPE_HEAD_ON; ignored otherwise */
} cb_cspnet_out;

/* Optional gradients with respect to inputs, accumulated (+=) by backward; NULL = skip. */
typedef struct cb_cspnet_input_grad {
    float *node_in; /* [n_nodes × atom_dim], DENSE only */
    float *lat_in;  /* [n_graphs × lat_dim] */
    float *t;       /* [n_graphs × cond_dim] */
} cb_cspnet_input_grad;

/* ---- activation cache -------------------------------------------------------------- */

typedef struct cb_cspnet_layer_off { /* offsets of one CSPLayer's tensors */
    size_t num_atom_emb;             /* [H × 100]; only with num_atoms_emb */
    size_t edge_w1, edge_b1, edge_w2, edge_b2;
    size_t node_w1, node_b1, node_w2, node_b2;
    size_t ln_w, ln_b;
} cb_cspnet_layer_off;

typedef struct cb_cspnet_offsets {
    size_t time_emb, node_emb, latent_emb;
    cb_cspnet_layer_off layer[CB_CSPNET_MAX_LAYERS];
    size_t coord_w, lattice_w, lattice_b, type_w, type_b, final_ln_w, final_ln_b;
    size_t count; /* the parameter count of the set they were resolved in */
} cb_cspnet_offsets;

/* Everything the backward pass needs from the forward pass, plus scratch, allocated once
 * for a largest batch (llm.c's activations). Rows are laid out with the maximal counts
 * as strides; nothing is reallocated per step. Per layer it keeps g, the LN statistics,
 * p1, z1 = silu(p1), p2 (E×H each), [g ‖ agg], p3, z3 and p4 (models.md §2.7); once per
 * forward the edge features φ, unit and the embeddings. */
typedef struct cb_cspnet_cache {
    cb_cspnet_config cfg;
    cb_cspnet_offsets off; /* resolved by name and shape from the parameter set */
    int max_graphs, max_nodes, max_edges;
    int d_in, col_u, col_s, col_d, col_l, col_phi, col_n; /* W1 column blocks */
    /* the last forward: its weights and sizes (backward checks and uses them) */
    const float *w;
    int n_graphs, n_nodes, n_edges;
    /* per forward */
    float *delta, *phi, *unit; /* [E×3], [E×6n_f], [E×3] */
    float *temb, *emb;         /* [B×d_t], [N×H] */
    float *hs;                 /* [(layers+1) × N × H]: the residual stream h⁰ … h^L */
    int *deg;                  /* [N] edges per source (scatter-mean counts) */
    /* per layer ℓ, at ℓ·(stride) */
    float *g, *ln_mean, *ln_rstd; /* [N×H], [N], [N] */
    float *p1, *z1, *p2;          /* [E×H] each */
    float *x3, *p3, *z3, *p4;     /* [N×2H], [N×H] ×3 */
    /* read-out */
    float *hf, *f_mean, *f_rstd, *pool; /* [N×H], [N], [N], [B×2H] */
    /* scratch, shared by forward and backward */
    float *s_n1, *s_n2, *s_n3, *s_n4, *s_dh; /* [N×H] */
    float *s_n2h;                            /* [N×2H] */
    float *s_b1, *s_b2;                      /* [B×max(H, d_t)] */
    float *s_b2h;                            /* [B×2H] */
    float *s_e1, *s_e2;                      /* [E×H] */
} cb_cspnet_cache;

/* Allocates a cache for batches of at most max_graphs crystals, max_nodes atoms and
 * max_edges edges (cb_cspnet_edge_count of the largest batch) and resolves the tensor
 * offsets of p, which must have been declared by cb_cspnet_declare with cfg (checked by
 * name and shape: CB_ERR_USAGE otherwise). CB_ERR_NOMEM. On error c is empty. */
int cb_cspnet_cache_alloc(cb_cspnet_cache *c, const cb_nn_params *p, const cb_cspnet_config *cfg,
                          int max_graphs, int max_nodes, int max_edges, cb_error *err);
void cb_cspnet_cache_free(cb_cspnet_cache *c);
/* Grows c (empty, or allocated for p and cfg) to hold batch b when it does not: the cache
 * then holds the largest batch seen so far. */
int cb_cspnet_cache_fit(cb_cspnet_cache *c, const cb_nn_params *p, const cb_cspnet_config *cfg,
                        const cb_cspnet_batch *b, cb_error *err);

/* ---- forward / backward ------------------------------------------------------------ */

/* Runs the network on batch b with weights w (p->w for training, p->ema for the EMA
 * model; any buffer of p's layout) and writes out. Keeps in c what backward needs,
 * including the pointer w (which must stay valid and unchanged until backward).
 * out->coord and out->lattice are required, out->types too with TYPE_HEAD_ON.
 * CB_ERR_USAGE (nothing computed) when cfg differs from the cache's, b was built for
 * other self_edges or widths, b exceeds the cache, or an output is missing. */
int cb_cspnet_forward(const cb_nn_params *p, const float *w, const cb_cspnet_config *cfg,
                      const cb_cspnet_batch *b, cb_cspnet_cache *c, const cb_cspnet_out *out,
                      cb_error *err);
/* Backward of the last forward on the same batch b (unchanged since): given d_out,
 * accumulates dL/dθ into grad (p->grad, or any buffer of p's layout) and the requested
 * input gradients into d_in (may be NULL). Parameters not reached (type head when
 * UNUSED or d_out->types is NULL, num-atoms columns of absent sizes) get nothing.
 * Uses c as scratch: a second backward needs a new forward. CB_ERR_USAGE when b or cfg
 * does not match the last forward. */
int cb_cspnet_backward(const cb_nn_params *p, const cb_cspnet_config *cfg, const cb_cspnet_batch *b,
                       cb_cspnet_cache *c, const cb_cspnet_out *d_out, float *grad,
                       const cb_cspnet_input_grad *d_in, cb_error *err);

/* Floating-point operations (2 per multiply-add) of the sgemm calls of one forward on a
 * batch of these sizes, for GFLOP/s reports. The backward's sgemm calls do about twice
 * as many (dX and dW of every product; no dX for φ and unit). */
double cb_cspnet_forward_flops(const cb_cspnet_config *cfg, int n_graphs, int n_nodes, int n_edges);

#endif
