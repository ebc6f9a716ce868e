/* SiLU (x·σ(x)), the activation of every CSPNet MLP (contracts in layers.h).
 *
 * Half the non-product time of a training step was libm's expf, called one element at
 * a time, so σ uses its own exponential that the compiler vectorises (this file is
 * built with the vectoriser's dynamic cost model, CMakeLists.txt): Cody–Waite range
 * reduction e^x = 2^k·e^r, |r| ≤ ln2/2, with ln 2 split in two so k·ln2 is exact, and
 * Cephes' degree-7 minimax polynomial for e^r.  Within 2 ulp of expf over the clamped
 * range (tests/test_nn_layers.c); being our own code, it gives the same bits on every
 * machine, which libm does not promise. */
#include "layers.h"
#include "parallel.h"

#include <stdint.h>
#include <string.h>

/* e^x for x in [−87, 88] (clamped, so 2^k stays a normal float): the clamp costs
 * nothing for σ, whose value at ±87 is already 0 or 1 to float precision. */
static inline float exp_clamped(float x)
{
    x = x > 88.0f ? 88.0f : x;
    x = x < -87.0f ? -87.0f : x;
    /* k = round(x/ln2): adding and subtracting 1.5·2^23 rounds to nearest even. */
    float k = x * 1.44269504088896341f + 12582912.0f;
    k -= 12582912.0f;
    float r = x - k * 0.693359375f; /* ln2 = 0.693359375 − 2.12194440e−4, the first exact */
    r = r + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

float cb_nn_expf(float x) { return exp_clamped(x); }

/* Each element alone: the loops split over threads with the same result (parallel.h). */
enum { MIN_CHUNK = 1 << 15 };

/* The arrays of one element-wise call (SiLU and GELU alike). */
typedef struct silu_args {
    float *out;
    const float *in, *d_out;
} silu_args;

static void silu_forward_range(void *ctx, size_t begin, size_t end)
{
    silu_args *a = ctx;
    float *out = a->out;
    const float *in = a->in;
    for (size_t i = begin; i < end; i++) {
        float x = in[i];
        out[i] = x / (1.0f + exp_clamped(-x));
    }
}

static void silu_backward_range(void *ctx, size_t begin, size_t end)
{
    silu_args *a = ctx;
    float *d_in = a->out;
    const float *in = a->in, *d_out = a->d_out;
    for (size_t i = begin; i < end; i++) {
        float x = in[i];
        float s = 1.0f / (1.0f + exp_clamped(-x));
        d_in[i] += d_out[i] * s * (1.0f + x * (1.0f - s));
    }
}

void cb_nn_silu_forward(float *out, const float *in, size_t n)
{
    silu_args a = {out, in, NULL};
    cb_nn_parallel_for(n, MIN_CHUNK, silu_forward_range, &a);
}

void cb_nn_silu_backward(float *d_in, const float *d_out, const float *in, size_t n)
{
    if (!d_in) return;
    silu_args a = {d_in, in, d_out};
    cb_nn_parallel_for(n, MIN_CHUNK, silu_backward_range, &a);
}

void cb_nn_relu_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void cb_nn_relu_backward_inplace(float *d, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(in[i] > 0.0f)) d[i] = 0.0f;
}

/* ½x(1 + tanh u) = x·σ(2u): the same function without the cancellation of 1 + tanh u
 * for u ≪ 0, where the GELU and its slope are small but must stay accurate. */
#define GELU_C 0.7978845608028654f /* √(2/π) */

static inline float gelu_sigma(float x) { return 1.0f / (1.0f + exp_clamped(-2.0f * GELU_C * (x + 0.044715f * x * x * x))); }

static void gelu_forward_range(void *ctx, size_t begin, size_t end)
{
    silu_args *a = ctx;
    float *out = a->out;
    const float *in = a->in;
    for (size_t i = begin; i < end; i++) out[i] = in[i] * gelu_sigma(in[i]);
}

/* d/dx = s + 2x·s(1 − s)·√(2/π)(1 + 3·0.044715x²), s = σ(2u) (1 + tanh u = 2s, 1 − tanh²u = 4s(1 − s)). */
static void gelu_backward_range(void *ctx, size_t begin, size_t end)
{
    silu_args *a = ctx;
    float *d_in = a->out;
    const float *in = a->in, *d_out = a->d_out;
    for (size_t i = begin; i < end; i++) {
        float x = in[i], s = gelu_sigma(x);
        d_in[i] += d_out[i] * (s + 2.0f * x * s * (1.0f - s) * GELU_C * (1.0f + 3.0f * 0.044715f * x * x));
    }
}

void cb_nn_gelu_forward(float *out, const float *in, size_t n)
{
    silu_args a = {out, in, NULL};
    cb_nn_parallel_for(n, MIN_CHUNK, gelu_forward_range, &a);
}

void cb_nn_gelu_backward(float *d_in, const float *d_out, const float *in, size_t n)
{
    if (!d_in) return;
    silu_args a = {d_in, in, d_out};
    cb_nn_parallel_for(n, MIN_CHUNK, gelu_backward_range, &a);
}
