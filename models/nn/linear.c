/* Linear layers through OpenBLAS sgemm (contracts in layers.h).
 *
 * Row-major throughout. With X [rows × in], W [out × in] (PyTorch layout, row stride
 * ldw) and Y [rows × out]:
 *   forward   Y  = X·Wᵀ (+ b)   sgemm(NoTrans, Trans)
 *   backward  dX += dY·W        sgemm(NoTrans, NoTrans), beta = 1
 *             dW += dYᵀ·X       sgemm(Trans, NoTrans),   beta = 1
 * beta = 1 is what makes the backward accumulate, as the header promises. */
#include "layers.h"

#include <cblas.h>
#include <string.h>

/* Y (beta=0: =, beta=1: +=) X·W_blockᵀ. Empty products are skipped: BLAS requires
 * leading dimensions ≥ 1 and some builds reject m, n or k = 0. */
static void forward_product(float *out, const float *in, const float *weight, int ldw, int rows,
                            int in_dim, int out_dim, float beta)
{
    if (rows <= 0 || out_dim <= 0) return;
    if (in_dim <= 0) {
        if (beta == 0.0f) memset(out, 0, (size_t)rows * (size_t)out_dim * sizeof *out);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out_dim, in_dim, 1.0f, in, in_dim,
                weight, ldw, beta, out, out_dim);
}

static void backward_products(float *d_in, float *d_weight, const float *d_out, const float *in,
                              const float *weight, int ldw, int rows, int in_dim, int out_dim)
{
    if (rows <= 0 || in_dim <= 0 || out_dim <= 0) return;
    if (d_in)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in_dim, out_dim, 1.0f, d_out,
                    out_dim, weight, ldw, 1.0f, d_in, in_dim);
    if (d_weight)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in_dim, rows, 1.0f, d_out,
                    out_dim, in, in_dim, 1.0f, d_weight, ldw);
}

void cb_nn_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                          int rows, int in_dim, int out_dim)
{
    if (rows <= 0 || out_dim <= 0) return;
    if (!bias) {
        forward_product(out, in, weight, in_dim, rows, in_dim, out_dim, 0.0f);
        return;
    }
    /* Bias first, then the product added on top: one pass over out, and the same
     * arithmetic (b + Σ) on every row. */
    for (int r = 0; r < rows; r++) memcpy(out + (size_t)r * out_dim, bias, (size_t)out_dim * sizeof *out);
    forward_product(out, in, weight, in_dim, rows, in_dim, out_dim, 1.0f);
}

void cb_nn_linear_backward(float *d_in, float *d_weight, float *d_bias, const float *d_out,
                           const float *in, const float *weight, int rows, int in_dim, int out_dim)
{
    backward_products(d_in, d_weight, d_out, in, weight, in_dim, rows, in_dim, out_dim);
    if (d_bias) {
        /* Row by row in order (not a BLAS call) so the sum order is fixed. */
        for (int r = 0; r < rows; r++) {
            const float *g = d_out + (size_t)r * out_dim;
            for (int o = 0; o < out_dim; o++) d_bias[o] += g[o];
        }
    }
}

void cb_nn_linear_block_forward_add(float *out, const float *in, const float *weight, int ldw,
                                    int rows, int in_dim, int out_dim)
{
    forward_product(out, in, weight, ldw, rows, in_dim, out_dim, 1.0f);
}

void cb_nn_linear_block_backward(float *d_in, float *d_weight, const float *d_out, const float *in,
                                 const float *weight, int ldw, int rows, int in_dim, int out_dim)
{
    backward_products(d_in, d_weight, d_out, in, weight, ldw, rows, in_dim, out_dim);
}
