/* CSPNet configuration and parameters (contracts in cspnet.h): presets, checks, the
 * tensor table in FlowMM's state_dict order and PyTorch's default initialisation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cspnet.h"

void cb_cspnet_config_flowmm(cb_cspnet_config *cfg, int dng)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->hidden = 512;
    cfg->layers = 6;
    cfg->n_freq = 128;
    cfg->time_dim = 256;
    cfg->cond_dim = 1;
    cfg->prefix[0] = 0;
    cfg->node_input = dng ? CB_CSPNET_NODE_DENSE : CB_CSPNET_NODE_TYPE_INDEX;
    cfg->atom_dim = dng ? 7 : 100; /* NUM_ATOMIC_BITS = floor(log2 100) + 1 / MAX_ATOMIC_NUM */
    cfg->lat_dim = 6;
    cfg->lat_out_dim = 6;
    cfg->type_head = dng ? CB_CSPNET_TYPE_HEAD_ON : CB_CSPNET_TYPE_HEAD_UNUSED;
    cfg->self_edges = 0;
    cfg->unit_dots = 1;
    cfg->num_atoms_emb = 1;
}

int cb_cspnet_config_check(const cb_cspnet_config *cfg, cb_error *err)
{
    /* Bounds keep every size product (E·H, N·2H, …) far inside int/size_t. */
    if (cfg->hidden < 1 || cfg->hidden > 65536)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: hidden %d (1..65536)", cfg->hidden);
    if (cfg->layers < 1 || cfg->layers > CB_CSPNET_MAX_LAYERS)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: layers %d (1..%d)", cfg->layers,
                       CB_CSPNET_MAX_LAYERS);
    if (cfg->n_freq < 1 || cfg->n_freq > 4096)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: n_freq %d (1..4096)", cfg->n_freq);
    if (cfg->time_dim < 1 || cfg->time_dim > 65536)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: time_dim %d (1..65536)", cfg->time_dim);
    if (cfg->cond_dim < 1 || cfg->cond_dim > 4096)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: cond_dim %d (1..4096)", cfg->cond_dim);
    if (!memchr(cfg->prefix, 0, sizeof cfg->prefix))
        return cb_fail(err, CB_ERR_USAGE, "cspnet: prefix not terminated");
    if (cfg->node_input != CB_CSPNET_NODE_TYPE_INDEX && cfg->node_input != CB_CSPNET_NODE_DENSE)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: unknown node input kind %d",
                       (int)cfg->node_input);
    if (cfg->atom_dim < 1 || cfg->atom_dim > 65536)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: atom_dim %d (1..65536)", cfg->atom_dim);
    if (cfg->lat_dim < 0 || cfg->lat_dim > 64)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: lat_dim %d (0..64)", cfg->lat_dim);
    if (cfg->lat_out_dim < 1 || cfg->lat_out_dim > 8192)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: lat_out_dim %d (1..8192)", cfg->lat_out_dim);
    if (cfg->type_head < CB_CSPNET_TYPE_HEAD_NONE || cfg->type_head > CB_CSPNET_TYPE_HEAD_ON)
        return cb_fail(err, CB_ERR_USAGE, "cspnet: unknown type head %d", (int)cfg->type_head);
    if ((cfg->self_edges | cfg->unit_dots | cfg->num_atoms_emb) & ~1)
        return cb_fail(err, CB_ERR_USAGE,
                       "cspnet: self_edges, unit_dots, num_atoms_emb are 0 or 1");
    return CB_OK;
}

int cb_cspnet_edge_in_dim(const cb_cspnet_config *cfg)
{
    int h = cfg->hidden;
    return 3 * cfg->unit_dots + 2 * h + cfg->lat_dim + 6 * cfg->n_freq + h * cfg->num_atoms_emb;
}

/* Declaration and initialisation walk the same list, so they cannot disagree: for each
 * tensor, its name, shape and how PyTorch initialises it. */
typedef enum init_kind { INIT_UNIFORM, INIT_ONES, INIT_ZEROS } init_kind;

typedef struct visit_ctx {
    const char *prefix;         /* the config's, before every name */
    cb_nn_params *declare_into; /* declare mode when non-NULL */
    cb_error *err;
    int rc;
    const cb_nn_params *p; /* init mode: the declared set, the buffer and the stream */
    float *w;
    cb_rng *rng;
} visit_ctx;

/* One tensor "name" of shape [rows × cols] (cols = 0: 1-D [rows]). INIT_UNIFORM draws
 * U(±1/√fan_in), in index order. */
static void visit(visit_ctx *v, const char *bare, size_t rows, size_t cols, init_kind kind,
                  size_t fan_in)
{
    if (v->rc) return;
    char name[2 * CB_NN_NAME_MAX + 32];
    snprintf(name, sizeof name, "%s%s", v->prefix, bare);
    if (v->declare_into) {
        size_t shape[2] = {rows, cols};
        v->rc = cb_nn_params_add(v->declare_into, name, cols ? 2 : 1, shape, NULL, v->err);
        return;
    }
    const cb_nn_tensor *t = cb_nn_params_find(v->p, name);
    if (!t) return; /* not declared with this config: the caller broke the contract */
    float *x = v->w + t->offset;
    switch (kind) {
    case INIT_UNIFORM: cb_nn_init_uniform(x, t->size, 1.0 / sqrt((double)fan_in), v->rng); break;
    case INIT_ONES: cb_nn_init_const(x, t->size, 1.0f); break;
    case INIT_ZEROS: cb_nn_init_const(x, t->size, 0.0f); break;
    }
}

/* A PyTorch Linear(in, out): weight [out × in] then (with bias) bias [out], both from
 * U(±1/√in) in that order, as nn.Linear.reset_parameters (kaiming_uniform_(a=√5)). */
static void visit_linear(visit_ctx *v, const char *prefix, size_t in, size_t out, int bias)
{
    char name[CB_NN_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s.weight", prefix);
    visit(v, name, out, in, INIT_UNIFORM, in);
    if (!bias) return;
    snprintf(name, sizeof name, "%s.bias", prefix);
    visit(v, name, out, 0, INIT_UNIFORM, in);
}

static void visit_layernorm(visit_ctx *v, const char *prefix, size_t dim)
{
    char name[CB_NN_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s.weight", prefix);
    visit(v, name, dim, 0, INIT_ONES, 1);
    snprintf(name, sizeof name, "%s.bias", prefix);
    visit(v, name, dim, 0, INIT_ZEROS, 1);
}

/* Module construction order of FlowMM's CSPNet (= its state_dict order and the order in
 * which PyTorch draws the initial values). */
static void visit_all(visit_ctx *v, const cb_cspnet_config *cfg)
{
    size_t h = (size_t)cfg->hidden, dt = (size_t)cfg->time_dim, da = (size_t)cfg->atom_dim;
    visit_linear(v, "time_emb", (size_t)cfg->cond_dim, dt, 0);
    visit_linear(v, "node_embedding", da, h, 0);
    visit_linear(v, "atom_latent_emb", h + dt, h, 0);
    for (int k = 0; k < cfg->layers; k++) {
        char pre[CB_NN_NAME_MAX];
        if (cfg->num_atoms_emb) {
            snprintf(pre, sizeof pre, "csp_layer_%d.num_atom_embedding", k);
            visit_linear(v, pre, CB_CSPNET_NUM_ATOMS_CLASSES, h, 0);
        }
        snprintf(pre, sizeof pre, "csp_layer_%d.edge_mlp.0", k);
        visit_linear(v, pre, (size_t)cb_cspnet_edge_in_dim(cfg), h, 1);
        snprintf(pre, sizeof pre, "csp_layer_%d.edge_mlp.2", k);
        visit_linear(v, pre, h, h, 1);
        snprintf(pre, sizeof pre, "csp_layer_%d.node_mlp.0", k);
        visit_linear(v, pre, 2 * h, h, 1);
        snprintf(pre, sizeof pre, "csp_layer_%d.node_mlp.2", k);
        visit_linear(v, pre, h, h, 1);
        snprintf(pre, sizeof pre, "csp_layer_%d.layer_norm", k);
        visit_layernorm(v, pre, h);
    }
    visit_linear(v, "coord_out", h, 3, 0);
    visit_linear(v, "lattice_out", 2 * h, (size_t)cfg->lat_out_dim, 1);
    if (cfg->type_head != CB_CSPNET_TYPE_HEAD_NONE) visit_linear(v, "type_out", h, da, 1);
    visit_layernorm(v, "final_layer_norm", h);
}

int cb_cspnet_declare(cb_nn_params *p, const cb_cspnet_config *cfg, cb_error *err)
{
    int rc = cb_cspnet_config_check(cfg, err);
    if (rc) return rc;
    visit_ctx v = {.prefix = cfg->prefix, .declare_into = p, .err = err};
    visit_all(&v, cfg);
    return v.rc;
}

void cb_cspnet_init_weights(const cb_nn_params *p, float *w, const cb_cspnet_config *cfg,
                            cb_rng *rng)
{
    visit_ctx v = {.prefix = cfg->prefix, .p = p, .w = w, .rng = rng};
    visit_all(&v, cfg);
}

int cb_cspnet_params_create(cb_nn_params *p, const cb_cspnet_config *cfg, cb_rng *rng,
                            cb_error *err)
{
    cb_nn_params_init(p);
    int rc = cb_cspnet_declare(p, cfg, err);
    if (!rc) rc = cb_nn_params_alloc(p, err);
    if (rc) {
        cb_nn_params_free(p);
        return rc;
    }
    cb_cspnet_init_weights(p, p->w, cfg, rng);
    cb_nn_ema_reset(p);
    return CB_OK;
}
