/* The CSPNet batch (contract in cspnet.h; layout of models.md §1.6): topology of
 * fully connected crystals in the reference's `fc` edge order, and growable arrays. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cspnet.h"

void cb_cspnet_batch_init(cb_cspnet_batch *b) { memset(b, 0, sizeof *b); }

void cb_cspnet_batch_free(cb_cspnet_batch *b)
{
    free(b->num_atoms);
    free(b->first);
    free(b->t);
    free(b->lat_in);
    free(b->lattice);
    free(b->node2graph);
    free(b->types);
    free(b->node_in);
    free(b->frac);
    free(b->edge_src);
    free(b->edge_dst);
    free(b->edge2graph);
    cb_cspnet_batch_init(b);
}

static size_t edges_of(int n, int self_edges)
{
    return (size_t)n * (size_t)(self_edges ? n : n - 1);
}

size_t cb_cspnet_edge_count(const cb_cspnet_config *cfg, int n_graphs, const int *num_atoms)
{
    size_t e = 0;
    for (int g = 0; g < n_graphs; g++) e += edges_of(num_atoms[g], cfg->self_edges);
    return e;
}

/* realloc to n elements of `size` bytes (n ≥ 1 so a batch always owns its arrays). */
static int grow(void **ptr, size_t n, size_t size)
{
    void *q = realloc(*ptr, (n ? n : 1) * size);
    if (!q) return -1;
    *ptr = q;
    return 0;
}

static int reserve(cb_cspnet_batch *b, int graphs, int nodes, int edges, int atom_dim, int lat_dim, int cond_dim)
{
    /* Data arrays depend on the row widths too: regrow all when they change. */
    int widths_changed = atom_dim != b->atom_dim || lat_dim != b->lat_dim || cond_dim != b->cond_dim;
    if (graphs > b->cap_graphs || widths_changed) {
        size_t g = (size_t)graphs;
        if (grow((void **)&b->num_atoms, g, sizeof(int)) ||
            grow((void **)&b->first, g, sizeof(int)) || grow((void **)&b->t, g * (size_t)cond_dim, sizeof(float)) ||
            grow((void **)&b->lat_in, g * (size_t)lat_dim, sizeof(float)) ||
            grow((void **)&b->lattice, g * 9, sizeof(float)))
            return -1;
        b->cap_graphs = graphs;
    }
    if (nodes > b->cap_nodes || widths_changed) {
        size_t n = (size_t)nodes;
        if (grow((void **)&b->node2graph, n, sizeof(int)) ||
            grow((void **)&b->types, n, sizeof(int)) ||
            grow((void **)&b->node_in, n * (size_t)atom_dim, sizeof(float)) ||
            grow((void **)&b->frac, n * 3, sizeof(float)))
            return -1;
        b->cap_nodes = nodes;
    }
    if (edges > b->cap_edges) {
        size_t e = (size_t)edges;
        if (grow((void **)&b->edge_src, e, sizeof(int)) ||
            grow((void **)&b->edge_dst, e, sizeof(int)) ||
            grow((void **)&b->edge2graph, e, sizeof(int)))
            return -1;
        b->cap_edges = edges;
    }
    b->atom_dim = atom_dim;
    b->lat_dim = lat_dim;
    b->cond_dim = cond_dim;
    return 0;
}

int cb_cspnet_batch_build(cb_cspnet_batch *b, const cb_cspnet_config *cfg, int n_graphs,
                          const int *num_atoms, cb_error *err)
{
    int rc = cb_cspnet_config_check(cfg, err);
    if (rc) return rc;
    if (n_graphs < 1) return cb_fail(err, CB_ERR_USAGE, "cspnet batch: %d crystals", n_graphs);
    size_t nodes = 0, edges = 0;
    for (int g = 0; g < n_graphs; g++) {
        int n = num_atoms[g];
        if (n < 1) return cb_fail(err, CB_ERR_USAGE, "cspnet batch: crystal %d has %d atoms", g, n);
        /* one_hot(N_b, 100) in the reference fails beyond 99 atoms */
        if (cfg->num_atoms_emb && n >= CB_CSPNET_NUM_ATOMS_CLASSES)
            return cb_fail(
                err, CB_ERR_USAGE,
                "cspnet batch: crystal %d has %d atoms (the num-atoms feature allows %d)", g, n,
                CB_CSPNET_NUM_ATOMS_CLASSES - 1);
        nodes += (size_t)n;
        edges += edges_of(n, cfg->self_edges);
        if (nodes > INT32_MAX || edges > INT32_MAX)
            return cb_fail(err, CB_ERR_USAGE, "cspnet batch: too many atoms or edges");
    }
    if (reserve(b, n_graphs, (int)nodes, (int)edges, cfg->atom_dim, cfg->lat_dim, cfg->cond_dim)) {
        cb_cspnet_batch_free(b);
        return cb_fail(err, CB_ERR_NOMEM, "cspnet batch: out of memory (%zu atoms, %zu edges)",
                       nodes, edges);
    }
    b->n_graphs = n_graphs;
    b->n_nodes = (int)nodes;
    b->n_edges = (int)edges;
    b->self_edges = cfg->self_edges;
    int off = 0, e = 0;
    for (int g = 0; g < n_graphs; g++) {
        int n = num_atoms[g];
        b->num_atoms[g] = n;
        b->first[g] = off;
        for (int i = 0; i < n; i++) {
            b->node2graph[off + i] = g;
            for (int j = 0; j < n; j++) {
                if (i == j && !cfg->self_edges) continue;
                b->edge_src[e] = off + i;
                b->edge_dst[e] = off + j;
                b->edge2graph[e] = g;
                e++;
            }
        }
        off += n;
    }
    return CB_OK;
}
