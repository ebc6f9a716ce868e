/* Layer norm over the last dimension, as torch.nn.LayerNorm (contracts in layers.h;
 * formulas in models.md §2.8). The layout follows llm.c: forward caches the row mean
 * and reciprocal standard deviation, backward recomputes x̂ from the input. */
#include "layers.h"

#include <math.h>

void cb_nn_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                             const float *weight, const float *bias, int rows, int dim, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * dim;
        float *y = out + (size_t)r * dim;
        /* Two passes (mean, then squared deviations) in double: no cancellation, and
         * the result does not depend on how large the row's mean is. */
        double sum = 0.0;
        for (int i = 0; i < dim; i++) sum += x[i];
        float m = (float)(sum / dim);
        double sq = 0.0;
        for (int i = 0; i < dim; i++) {
            double d = (double)x[i] - m;
            sq += d * d;
        }
        float s = (float)(1.0 / sqrt(sq / dim + eps));
        for (int i = 0; i < dim; i++) y[i] = (x[i] - m) * s * weight[i] + bias[i];
        mean[r] = m;
        rstd[r] = s;
    }
}

void cb_nn_layernorm_backward(float *d_in, float *d_weight, float *d_bias, const float *d_out,
                              const float *in, const float *weight, const float *mean,
                              const float *rstd, int rows, int dim)
{
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * dim;
        const float *dy = d_out + (size_t)r * dim;
        float m = mean[r], s = rstd[r];
        /* The two row means of the d_in formula: mean(dx̂) and mean(dx̂⊙x̂). */
        double sum_dxhat = 0.0, sum_dxhat_xhat = 0.0;
        for (int i = 0; i < dim; i++) {
            float xhat = (x[i] - m) * s;
            float dxhat = dy[i] * weight[i];
            sum_dxhat += dxhat;
            sum_dxhat_xhat += (double)dxhat * xhat;
        }
        float mean_dxhat = (float)(sum_dxhat / dim);
        float mean_dxhat_xhat = (float)(sum_dxhat_xhat / dim);
        for (int i = 0; i < dim; i++) {
            float xhat = (x[i] - m) * s;
            if (d_weight) d_weight[i] += dy[i] * xhat;
            if (d_bias) d_bias[i] += dy[i];
            if (d_in) d_in[(size_t)r * dim + i] += s * (dy[i] * weight[i] - mean_dxhat - xhat * mean_dxhat_xhat);
        }
    }
}
