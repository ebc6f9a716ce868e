/* Row movements of message passing (contracts in layers.h): gather and scatter-mean
 * between nodes and edges, pooling of nodes per graph, concatenation along features.
 * All single-threaded with loops in increasing row order, so every sum has one fixed
 * order (architecture.md "Determinism"); they are memory-bound and cheap next to the
 * GEMMs (models.md §2.7). */
#include "layers.h"

#include <string.h>

static inline void add_row(float *dst, const float *src, int dim)
{
    for (int j = 0; j < dim; j++) dst[j] += src[j];
}

void cb_nn_gather_forward(float *out, const float *src, const int *index, int rows, int dim)
{
    for (int r = 0; r < rows; r++)
        memcpy(out + (size_t)r * dim, src + (size_t)index[r] * dim, (size_t)dim * sizeof *out);
}

void cb_nn_gather_add_forward(float *out, const float *src, const int *index, int rows, int dim)
{
    for (int r = 0; r < rows; r++) add_row(out + (size_t)r * dim, src + (size_t)index[r] * dim, dim);
}

void cb_nn_gather_backward(float *d_src, const float *d_out, const int *index, int rows, int dim)
{
    if (!d_src) return;
    for (int r = 0; r < rows; r++) add_row(d_src + (size_t)index[r] * dim, d_out + (size_t)r * dim, dim);
}

void cb_nn_scatter_mean_forward(float *out, int *count, const float *src, const int *index,
                                int rows, int n_out, int dim)
{
    memset(out, 0, (size_t)n_out * (size_t)dim * sizeof *out);
    memset(count, 0, (size_t)n_out * sizeof *count);
    for (int r = 0; r < rows; r++) {
        add_row(out + (size_t)index[r] * dim, src + (size_t)r * dim, dim);
        count[index[r]]++;
    }
    /* Divide (not multiply by a reciprocal), as torch_scatter does. A node without
     * rows keeps its zeros. */
    for (int i = 0; i < n_out; i++) {
        if (count[i] == 0) continue;
        float n = (float)count[i];
        float *y = out + (size_t)i * dim;
        for (int j = 0; j < dim; j++) y[j] /= n;
    }
}

void cb_nn_scatter_mean_backward(float *d_src, const float *d_out, const int *index,
                                 const int *count, int rows, int dim)
{
    if (!d_src) return;
    for (int r = 0; r < rows; r++) {
        /* count[index[r]] ≥ 1 here: row r itself maps to it. */
        float n = (float)count[index[r]];
        const float *g = d_out + (size_t)index[r] * dim;
        float *d = d_src + (size_t)r * dim;
        for (int j = 0; j < dim; j++) d[j] += g[j] / n;
    }
}

/* Sum of graph b's node rows into y (overwritten). */
static void sum_graph(float *y, const float *in, int first, int size, int dim)
{
    memset(y, 0, (size_t)dim * sizeof *y);
    for (int i = first; i < first + size; i++) add_row(y, in + (size_t)i * dim, dim);
}

void cb_nn_mean_pool_forward(float *out, const float *in, const int *first, const int *size,
                             int n_graphs, int dim)
{
    for (int b = 0; b < n_graphs; b++) {
        float *y = out + (size_t)b * dim;
        sum_graph(y, in, first[b], size[b], dim);
        if (size[b] == 0) continue;
        float n = (float)size[b];
        for (int j = 0; j < dim; j++) y[j] /= n;
    }
}

void cb_nn_mean_pool_backward(float *d_in, const float *d_out, const int *first, const int *size,
                              int n_graphs, int dim)
{
    if (!d_in) return;
    for (int b = 0; b < n_graphs; b++) {
        float n = (float)size[b];
        const float *g = d_out + (size_t)b * dim;
        for (int i = first[b]; i < first[b] + size[b]; i++) {
            float *d = d_in + (size_t)i * dim;
            for (int j = 0; j < dim; j++) d[j] += g[j] / n;
        }
    }
}

void cb_nn_sum_pool_forward(float *out, const float *in, const int *first, const int *size,
                            int n_graphs, int dim)
{
    for (int b = 0; b < n_graphs; b++) sum_graph(out + (size_t)b * dim, in, first[b], size[b], dim);
}

void cb_nn_sum_pool_backward(float *d_in, const float *d_out, const int *first, const int *size,
                             int n_graphs, int dim)
{
    if (!d_in) return;
    for (int b = 0; b < n_graphs; b++)
        for (int i = first[b]; i < first[b] + size[b]; i++)
            add_row(d_in + (size_t)i * dim, d_out + (size_t)b * dim, dim);
}

void cb_nn_concat_forward(float *out, const float *const *parts, const int *dims, int n_parts,
                          int rows)
{
    size_t width = 0;
    for (int p = 0; p < n_parts; p++) width += (size_t)dims[p];
    for (int r = 0; r < rows; r++) {
        float *y = out + (size_t)r * width;
        for (int p = 0; p < n_parts; p++) {
            memcpy(y, parts[p] + (size_t)r * dims[p], (size_t)dims[p] * sizeof *y);
            y += dims[p];
        }
    }
}

void cb_nn_concat_backward(float *const *d_parts, const float *d_out, const int *dims, int n_parts,
                           int rows)
{
    size_t width = 0;
    for (int p = 0; p < n_parts; p++) width += (size_t)dims[p];
    for (int r = 0; r < rows; r++) {
        const float *g = d_out + (size_t)r * width;
        for (int p = 0; p < n_parts; p++) {
            if (d_parts[p]) add_row(d_parts[p] + (size_t)r * dims[p], g, dims[p]);
            g += dims[p];
        }
    }
}
