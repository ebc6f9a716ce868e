/* Parameter-free sinusoidal embeddings of CSPNet's inputs (contracts in layers.h;
 * definitions in models.md §2.2): DiffCSP's time embedding and the embedding of
 * fractional differences. Their backward passes are not needed for training — the
 * embedded quantities are inputs — but are given, and tested, for completeness. */
#include "layers.h"

#include <math.h>

#define TWO_PI 6.283185307179586476925286766559

/* ω_k = exp(−k·ln(10000)/(half−1)), in double. */
static double time_frequency(int k, int half)
{
    return exp(-(double)k * log(10000.0) / (double)(half - 1));
}

void cb_nn_time_embed_forward(float *out, const float *t, int rows, int dim)
{
    int half = dim / 2;
    for (int r = 0; r < rows; r++) {
        float *y = out + (size_t)r * dim;
        for (int k = 0; k < half; k++) {
            double arg = (double)t[r] * time_frequency(k, half);
            y[k] = (float)sin(arg);
            y[half + k] = (float)cos(arg);
        }
    }
}

void cb_nn_time_embed_backward(float *d_t, const float *d_out, const float *t, int rows, int dim)
{
    if (!d_t) return;
    int half = dim / 2;
    for (int r = 0; r < rows; r++) {
        const float *dy = d_out + (size_t)r * dim;
        double acc = 0.0;
        for (int k = 0; k < half; k++) {
            double w = time_frequency(k, half);
            double arg = (double)t[r] * w;
            acc += w * (cos(arg) * dy[k] - sin(arg) * dy[half + k]);
        }
        d_t[r] += (float)acc;
    }
}

/* 2π·(kΔ mod 1), taken in [−π, π). sin/cos of it equal sin/cos(2πkΔ) because k is an
 * integer, and a small argument keeps the float sin/cos accurate. Every step before
 * the final multiplication by 2π is exact in double: kΔ (a 24-bit float times an
 * integer below 2^29), x − floor(x) ∈ [0, 1), and r − 1 for r ∈ [½, 1) (Sterbenz). So
 * the reduced value, hence the feature, depends only on kΔ mod 1, bit for bit — even
 * at half-integers, where rounding to the nearest integer would pick ±π by sign. */
static float reduced_angle(float delta, int k)
{
    double x = (double)k * (double)delta;
    double r = x - floor(x);
    if (r >= 0.5) r -= 1.0;
    return (float)(TWO_PI * r);
}

void cb_nn_frac_embed_forward(float *out, const float *delta, int rows, int n_freq)
{
    size_t width = 6 * (size_t)n_freq;
    for (int e = 0; e < rows; e++) {
        float *sin_part = out + (size_t)e * width;
        float *cos_part = sin_part + 3 * (size_t)n_freq;
        for (int c = 0; c < 3; c++) {
            for (int k = 0; k < n_freq; k++) {
                float a = reduced_angle(delta[3 * (size_t)e + c], k);
                sin_part[c * n_freq + k] = sinf(a);
                cos_part[c * n_freq + k] = cosf(a);
            }
        }
    }
}

void cb_nn_frac_embed_backward(float *d_delta, const float *d_out, const float *delta, int rows,
                               int n_freq)
{
    if (!d_delta) return;
    size_t width = 6 * (size_t)n_freq;
    for (int e = 0; e < rows; e++) {
        const float *d_sin = d_out + (size_t)e * width;
        const float *d_cos = d_sin + 3 * (size_t)n_freq;
        for (int c = 0; c < 3; c++) {
            float acc = 0.0f;
            for (int k = 0; k < n_freq; k++) {
                float a = reduced_angle(delta[3 * (size_t)e + c], k);
                float w = (float)(TWO_PI * k);
                acc += w * (cosf(a) * d_sin[c * n_freq + k] - sinf(a) * d_cos[c * n_freq + k]);
            }
            d_delta[3 * (size_t)e + c] += acc;
        }
    }
}
