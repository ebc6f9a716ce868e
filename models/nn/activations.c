/* SiLU (x·σ(x)), the activation of every CSPNet MLP (contracts in layers.h). */
#include "layers.h"

#include <math.h>

/* σ(x) = 1/(1+e^{−x}). For x ≪ 0, e^{−x} overflows to +inf and σ becomes 0 — the
 * correct limit, so no branch is needed; for x ≫ 0 it is 1. */
static inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

void cb_nn_silu_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        out[i] = x * sigmoid(x);
    }
}

void cb_nn_silu_backward(float *d_in, const float *d_out, const float *in, size_t n)
{
    if (!d_in) return;
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float s = sigmoid(x);
        d_in[i] += d_out[i] * s * (1.0f + x * (1.0f - s));
    }
}
