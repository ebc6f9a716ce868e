/* The neural-network layer kernels (models/nn/layers.h): forward values against
 * hand-computed cases, and every backward pass against central finite differences.
 *
 * Gradient checks run in double: each layer has a double-precision reference forward
 * written here from the formulas (not from the kernels), the loss is a random
 * projection J = Σ R⊙y of its output, and ∂J/∂θ by central differences in double is
 * compared with the float kernel's backward given d_out = R. The relative error of one
 * entry is |a−n| / max(|a|, |n|, 1e-3·max|n|); every layer must stay below 1e-3 (the
 * float analytic gradients reach ~1e-6). The same reference also checks the float
 * forward, so a wrong formula fails both ways. Maximum errors are printed per layer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/nn/layers.h"
#include "crystalbench/rng.h"

#define PI 3.14159265358979323846
#define GRAD_TOLERANCE 1e-3
#define TRIALS 12

/* ---- scratch memory: every allocation of a test, freed at its end ------------------ */

typedef struct scratch {
    void *ptr[96];
    int n;
} scratch;

static void *scratch_alloc(scratch *s, size_t bytes)
{
    assert_true(s->n < (int)(sizeof s->ptr / sizeof s->ptr[0]));
    void *p = calloc(1, bytes ? bytes : 1);
    assert_non_null(p);
    s->ptr[s->n++] = p;
    return p;
}
#define FLOATS(s, n) ((float *)scratch_alloc((s), (size_t)(n) * sizeof(float)))
#define DOUBLES(s, n) ((double *)scratch_alloc((s), (size_t)(n) * sizeof(double)))
#define INTS(s, n) ((int *)scratch_alloc((s), (size_t)(n) * sizeof(int)))

static void scratch_free(scratch *s)
{
    for (int i = 0; i < s->n; i++) free(s->ptr[i]);
    s->n = 0;
}

/* ---- random data ------------------------------------------------------------------- */

static cb_rng rng;

static int rand_int(int lo, int hi) /* uniform in [lo, hi] */
{
    return lo + (int)cb_rng_below(&rng, (uint64_t)(hi - lo + 1));
}

/* Normal(0, scale²) floats, and their exact double copy when d is not NULL, so the
 * double reference sees exactly the kernel's inputs. */
static void fill_normal(float *f, double *d, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) {
        f[i] = (float)(scale * cb_rng_normal(&rng));
        if (d) d[i] = f[i];
    }
}

static void fill_uniform(float *f, double *d, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) {
        f[i] = (float)(lo + (hi - lo) * cb_rng_uniform(&rng));
        if (d) d[i] = f[i];
    }
}

/* ---- double-precision reference forwards, written from the formulas --------------- */

/* y = x·W_blockᵀ (+ b), W_block = columns [0, in) of a [out × ldw] matrix. */
static void ref_linear(double *y, const double *x, const double *w, int ldw, const double *b,
                       int rows, int in, int out)
{
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++) acc += x[r * in + i] * w[o * ldw + i];
            y[r * out + o] = acc;
        }
}

static void ref_silu(double *y, const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.0 + exp(-x[i]));
}

/* GPT-2's GELU (tanh approximation), in double. */
static void ref_gelu(double *y, const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = 0.5 * x[i] * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x[i] + 0.044715 * x[i] * x[i] * x[i])));
}

static void ref_relu(double *y, const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

static void ref_layernorm(double *y, const double *x, const double *g, const double *b, int rows,
                          int dim)
{
    for (int r = 0; r < rows; r++) {
        const double *xr = x + r * dim;
        double mu = 0.0, var = 0.0;
        for (int i = 0; i < dim; i++) mu += xr[i];
        mu /= dim;
        for (int i = 0; i < dim; i++) var += (xr[i] - mu) * (xr[i] - mu);
        var /= dim;
        double rs = 1.0 / sqrt(var + (double)CB_NN_LAYERNORM_EPS);
        for (int i = 0; i < dim; i++) y[r * dim + i] = g[i] * (xr[i] - mu) * rs + b[i];
    }
}

/* ω_k = 10000^(−k/(half−1)), the same frequencies as exp(−k·ln 10000/(half−1)). */
static void ref_time_embed(double *y, const double *t, int rows, int dim)
{
    int half = dim / 2;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < half; k++) {
            double arg = t[r] * pow(10000.0, -(double)k / (half - 1));
            y[r * dim + k] = sin(arg);
            y[r * dim + half + k] = cos(arg);
        }
}

/* arg = 2πk·Δ without any reduction (the kernel reduces kΔ mod 1 first). */
static void ref_frac_embed(double *y, const double *delta, int rows, int nf)
{
    for (int e = 0; e < rows; e++)
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < nf; k++) {
                double arg = 2.0 * PI * k * delta[e * 3 + c];
                y[e * 6 * nf + c * nf + k] = sin(arg);
                y[e * 6 * nf + 3 * nf + c * nf + k] = cos(arg);
            }
}

static void ref_gather(double *y, const double *src, const int *index, int rows, int dim)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < dim; j++) y[r * dim + j] = src[index[r] * dim + j];
}

static void ref_scatter_mean(double *y, const double *src, const int *index, int rows, int n_out,
                             int dim)
{
    for (int i = 0; i < n_out; i++)
        for (int j = 0; j < dim; j++) {
            double sum = 0.0;
            int n = 0;
            for (int r = 0; r < rows; r++)
                if (index[r] == i) sum += src[r * dim + j], n++;
            y[i * dim + j] = n ? sum / n : 0.0;
        }
}

static void ref_pool(double *y, const double *x, const int *first, const int *size, int n_graphs,
                     int dim, int mean)
{
    for (int b = 0; b < n_graphs; b++)
        for (int j = 0; j < dim; j++) {
            double sum = 0.0;
            for (int i = first[b]; i < first[b] + size[b]; i++) sum += x[i * dim + j];
            y[b * dim + j] = mean ? (size[b] ? sum / size[b] : 0.0) : sum;
        }
}

static void ref_concat(double *y, double *const *parts, const int *dims, int n_parts, int rows)
{
    int width = 0;
    for (int p = 0; p < n_parts; p++) width += dims[p];
    for (int r = 0; r < rows; r++) {
        int col = 0;
        for (int p = 0; p < n_parts; p++)
            for (int j = 0; j < dims[p]; j++) y[r * width + col++] = parts[p][r * dims[p] + j];
    }
}

/* ---- the gradient check ------------------------------------------------------------- */

/* A layer instance in double: its reference forward reads the arrays the check
 * perturbs in place, and J = Σ proj⊙y. */
typedef struct problem problem;
struct problem {
    void (*forward)(const problem *p, double *y);
    int rows, in, out, ldw, dim, n_out, n_freq, n_parts, mean;
    double *x, *w, *b, *g, *parts[4];
    const int *index, *first, *size, *dims;
    const double *proj; /* R, n_y entries */
    double *y;          /* scratch output, n_y entries */
    size_t n_y;
};

static double objective(const problem *p)
{
    p->forward(p, p->y);
    double j = 0.0;
    for (size_t i = 0; i < p->n_y; i++) j += p->proj[i] * p->y[i];
    return j;
}

/* Largest relative error of analytic[0..n) against central differences of J in var. */
static double fd_error(const problem *p, double *var, size_t n, const float *analytic)
{
    double *num = malloc((n ? n : 1) * sizeof *num);
    assert_non_null(num);
    double scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        double saved = var[i], h = 1e-6 * fmax(1.0, fabs(saved));
        var[i] = saved + h;
        double jp = objective(p);
        var[i] = saved - h;
        double jm = objective(p);
        var[i] = saved;
        num[i] = (jp - jm) / (2.0 * h);
        scale = fmax(scale, fabs(num[i]));
    }
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = analytic[i], diff = fabs(a - num[i]);
        if (diff == 0.0) continue;
        double denom = fmax(fmax(fabs(a), fabs(num[i])), 1e-3 * scale);
        worst = fmax(worst, denom > 0.0 ? diff / denom : INFINITY);
    }
    free(num);
    return worst;
}

/* The float forward against the double reference: |f−d| ≤ tol·max(1, |d|). */
static void assert_matches_reference(const float *f, const double *d, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++) {
        if (fabs(f[i] - d[i]) > tol * fmax(1.0, fabs(d[i])))
            fail_msg("entry %zu: kernel %.9g, reference %.9g", i, (double)f[i], d[i]);
    }
}

static void report(const char *layer, const char *grad, double err)
{
    printf("gradcheck %-16s %-8s max rel err %.2e\n", layer, grad, err);
    if (!(err < GRAD_TOLERANCE)) fail_msg("%s %s: relative error %.3g", layer, grad, err);
}

/* A fresh projection R (float and exact double copies) of n entries; p->y sized too. */
static float *new_projection(scratch *s, problem *p, size_t n)
{
    float *rf = FLOATS(s, n);
    double *rd = DOUBLES(s, n);
    fill_normal(rf, rd, n, 1.0);
    p->proj = rd;
    p->y = DOUBLES(s, n);
    p->n_y = n;
    return rf;
}

/* ---- linear ------------------------------------------------------------------------- */

static void linear_problem(const problem *p, double *y)
{
    ref_linear(y, p->x, p->w, p->ldw, p->b, p->rows, p->in, p->out);
}

static void test_linear_known_values(void **state)
{
    (void)state;
    const float w[] = {1, 2, 3, 4, 5, 6}; /* [3 × 2] */
    const float b[] = {0.5f, -1, 0};
    const float x[] = {1, -1, 2, 0.5f};
    float y[6];
    cb_nn_linear_forward(y, x, w, b, 2, 2, 3);
    const float expect[] = {-0.5f, -2, -1, 3.5f, 7, 13};
    for (int i = 0; i < 6; i++) assert_float_equal(y[i], expect[i], 1e-6);
    cb_nn_linear_forward(y, x, w, NULL, 2, 2, 3);
    assert_float_equal(y[0], -1.0f, 1e-6);
    assert_float_equal(y[5], 13.0f, 1e-6);
}

static void test_linear_gradients(void **state)
{
    (void)state;
    cb_rng_seed(&rng, 101);
    double err_x = 0, err_w = 0, err_b = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        scratch s = {0};
        problem p = {.forward = linear_problem};
        int big = trial == TRIALS - 1; /* one shape large enough for OpenBLAS's blocked paths */
        p.rows = big ? 70 : rand_int(1, 7);
        p.in = big ? 33 : rand_int(1, 9);
        p.out = big ? 19 : rand_int(1, 6);
        p.ldw = p.in;
        int has_bias = trial % 3 != 2;
        float *x = FLOATS(&s, p.rows * p.in), *w = FLOATS(&s, p.out * p.in), *b = FLOATS(&s, p.out);
        p.x = DOUBLES(&s, p.rows * p.in);
        p.w = DOUBLES(&s, p.out * p.in);
        p.b = has_bias ? DOUBLES(&s, p.out) : NULL;
        fill_normal(x, p.x, (size_t)p.rows * p.in, 1.0);
        fill_normal(w, p.w, (size_t)p.out * p.in, 0.5);
        fill_normal(b, p.b, (size_t)p.out, 0.5);
        float *r = new_projection(&s, &p, (size_t)p.rows * p.out);

        float *y = FLOATS(&s, p.rows * p.out);
        cb_nn_linear_forward(y, x, w, has_bias ? b : NULL, p.rows, p.in, p.out);
        p.forward(&p, p.y);
        assert_matches_reference(y, p.y, p.n_y, 1e-5);

        float *dx = FLOATS(&s, p.rows * p.in), *dw = FLOATS(&s, p.out * p.in), *db = FLOATS(&s, p.out);
        cb_nn_linear_backward(dx, dw, has_bias ? db : NULL, r, x, w, p.rows, p.in, p.out);
        err_x = fmax(err_x, fd_error(&p, p.x, (size_t)p.rows * p.in, dx));
        err_w = fmax(err_w, fd_error(&p, p.w, (size_t)p.out * p.in, dw));
        if (has_bias) err_b = fmax(err_b, fd_error(&p, p.b, (size_t)p.out, db));
        scratch_free(&s);
    }
    report("linear", "d_in", err_x);
    report("linear", "d_weight", err_w);
    report("linear", "d_bias", err_b);
}

/* The column-block form used by the split first edge layer: adds into out, reads and
 * writes only its columns of a wider W and dW. */
static void test_linear_block_gradients(void **state)
{
    (void)state;
    cb_rng_seed(&rng, 102);
    double err_x = 0, err_w = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        scratch s = {0};
        problem p = {.forward = linear_problem};
        p.rows = rand_int(1, 7);
        p.in = rand_int(1, 6);
        p.out = rand_int(1, 6);
        int col = rand_int(0, 4);
        p.ldw = col + p.in + rand_int(0, 4);
        float *x = FLOATS(&s, p.rows * p.in), *w = FLOATS(&s, p.out * p.ldw);
        double *w_full = DOUBLES(&s, p.out * p.ldw);
        p.x = DOUBLES(&s, p.rows * p.in);
        fill_normal(x, p.x, (size_t)p.rows * p.in, 1.0);
        fill_normal(w, w_full, (size_t)p.out * p.ldw, 0.5);
        p.w = w_full + col;
        float *r = new_projection(&s, &p, (size_t)p.rows * p.out);

        /* out starts non-zero: the block product must be added to it. */
        float *y = FLOATS(&s, p.rows * p.out);
        fill_normal(y, NULL, p.n_y, 1.0);
        double *expect = DOUBLES(&s, p.n_y);
        p.forward(&p, expect);
        for (size_t i = 0; i < p.n_y; i++) expect[i] += y[i];
        cb_nn_linear_block_forward_add(y, x, w + col, p.ldw, p.rows, p.in, p.out);
        assert_matches_reference(y, expect, p.n_y, 1e-5);

        float *dx = FLOATS(&s, p.rows * p.in), *dw = FLOATS(&s, p.out * p.ldw);
        cb_nn_linear_block_backward(dx, dw + col, r, x, w + col, p.ldw, p.rows, p.in, p.out);
        err_x = fmax(err_x, fd_error(&p, p.x, (size_t)p.rows * p.in, dx));
        /* Over the whole of W: columns outside the block must have zero gradient. */
        err_w = fmax(err_w, fd_error(&p, w_full, (size_t)p.out * p.ldw, dw));
        scratch_free(&s);
    }
    report("linear block", "d_in", err_x);
    report("linear block", "d_weight", err_w);
}

/* The block split is the full linear of a concatenation: [u ‖ v]·Wᵀ + b. */
static void test_linear_blocks_equal_full_linear(void **state)
{
    (void)state;
    cb_rng_seed(&rng, 103);
    enum { ROWS = 5, DU = 3, DV = 4, OUT = 6 };
    float u[ROWS * DU], v[ROWS * DV], uv[ROWS * (DU + DV)], w[OUT * (DU + DV)], b[OUT];
    fill_normal(u, NULL, ROWS * DU, 1.0);
    fill_normal(v, NULL, ROWS * DV, 1.0);
    fill_normal(w, NULL, OUT * (DU + DV), 1.0);
    fill_normal(b, NULL, OUT, 1.0);
    const float *parts[] = {u, v};
    const int dims[] = {DU, DV};
    cb_nn_concat_forward(uv, parts, dims, 2, ROWS);
    float full[ROWS * OUT], split[ROWS * OUT];
    cb_nn_linear_forward(full, uv, w, b, ROWS, DU + DV, OUT);
    for (int r = 0; r < ROWS; r++) memcpy(split + r * OUT, b, sizeof b);
    cb_nn_linear_block_forward_add(split, u, w, DU + DV, ROWS, DU, OUT);
    cb_nn_linear_block_forward_add(split, v, w + DU, DU + DV, ROWS, DV, OUT);
    for (int i = 0; i < ROWS * OUT; i++) assert_float_equal(split[i], full[i], 1e-5);
}

/* Backward accumulates into every gradient, skips NULL ones, and tolerates no rows. */
static void test_backward_accumulates(void **state)
{
    (void)state;
    const float w[] = {1, 2, 3, 4}; /* [2 × 2] */
    const float x[] = {1, -1};
    const float dy[] = {1, 0.5f};
    float dx[2] = {10, 10}, dw[4] = {0}, db[2] = {0};
    cb_nn_linear_backward(dx, dw, db, dy, x, w, 1, 2, 2);
    cb_nn_linear_backward(dx, dw, db, dy, x, w, 1, 2, 2);
    /* dx = 10 + 2·(dy·W) = 10 + 2·(2.5, 4); dW = 2·dyᵀx; db = 2·dy */
    assert_float_equal(dx[0], 15.0f, 1e-6);
    assert_float_equal(dx[1], 18.0f, 1e-6);
    assert_float_equal(dw[0], 2.0f, 1e-6);
    assert_float_equal(dw[1], -2.0f, 1e-6);
    assert_float_equal(dw[2], 1.0f, 1e-6);
    assert_float_equal(dw[3], -1.0f, 1e-6);
    assert_float_equal(db[0], 2.0f, 1e-6);
    assert_float_equal(db[1], 1.0f, 1e-6);
    cb_nn_linear_backward(NULL, dw, NULL, dy, x, w, 1, 2, 2);
    assert_float_equal(dw[0], 3.0f, 1e-6);

    float ds[2] = {1, 1};
    const float pre[] = {0, 0};
    cb_nn_silu_backward(ds, dy, pre, 2); /* silu'(0) = ½ */
    assert_float_equal(ds[0], 1.5f, 1e-6);
    assert_float_equal(ds[1], 1.25f, 1e-6);

    /* rows = 0 (a batch without edges): nothing read, nothing written. */
    cb_nn_linear_forward(NULL, NULL, w, NULL, 0, 2, 2);
    cb_nn_linear_backward(NULL, dw, db, NULL, NULL, w, 0, 2, 2);
    assert_float_equal(dw[0], 3.0f, 0);
    float agg[4] = {7, 7, 7, 7};
    int count[2] = {9, 9};
    cb_nn_scatter_mean_forward(agg, count, NULL, NULL, 0, 2, 2);
    for (int i = 0; i < 4; i++) assert_float_equal(agg[i], 0.0f, 0);
    assert_int_equal(count[0], 0);
}

/* ---- SiLU --------------------------------------------------------------------------- */

static void silu_problem(const problem *p, double *y) { ref_silu(y, p->x, (size_t)p->rows); }

static void test_silu_known_values(void **state)
{
    (void)state;
    const float x[] = {0, 1, -1, 2, -100, 100, -30};
    float y[7];
    cb_nn_silu_forward(y, x, 7);
    assert_float_equal(y[0], 0.0f, 0);
    assert_float_equal(y[1], 0.7310585786f, 1e-7);
    assert_float_equal(y[2], -0.2689414214f, 1e-7);
    assert_float_equal(y[3], 1.7615941560f, 1e-6);
    assert_float_equal(y[4], 0.0f, 1e-30); /* e^{100} overflows: σ → 0, no NaN */
    assert_float_equal(y[5], 100.0f, 1e-5);
    assert_float_equal(y[6], -2.8072e-12f, 1e-15);
    float in_place[] = {1, -1};
    cb_nn_silu_forward(in_place, in_place, 2);
    assert_float_equal(in_place[0], y[1], 0);
}

/* σ's own exponential against exp in double, in units of the float result's last place,
 * on a dense sweep of its whole range: ≤ 2 ulp (a wrong coefficient or a lost ln 2 low
 * part shows as hundreds). */
static void test_expf_ulp(void **state)
{
    (void)state;
    double worst = 0, at = 0;
    for (long i = 0; i <= 1750000; i++) {
        float x = -87.0f + (float)i * 1e-4f;
        if (x > 88.0f) break;
        double want = exp((double)x), got = cb_nn_expf(x);
        int e;
        frexp(want, &e);
        double ulp = ldexp(1.0, e - 24);
        double d = fabs(got - want) / ulp;
        if (d > worst) worst = d, at = x;
    }
    printf("cb_nn_expf: worst %.3f ulp (at x = %.4f)\n", worst, at);
    assert_true(worst <= 2.0);
    assert_float_equal(cb_nn_expf(-1000.0f), expf(-87.0f), expf(-87.0f) * 1e-6f); /* clamped */
    assert_float_equal(cb_nn_expf(0.0f), 1.0f, 0);
}

/* The element-wise loops give the same bits for 1 and 3 threads (parallel.h), on an
 * array long enough to be split. */
static void test_silu_threads(void **state)
{
    (void)state;
    const size_t n = 300001;
    float *x = malloc(n * sizeof *x), *y[2], *dx[2];
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = (float)((double)(i % 9973) / 500.0 - 10.0);
    int saved = openblas_get_num_threads();
    for (int k = 0; k < 2; k++) {
        openblas_set_num_threads(k ? 3 : 1);
        y[k] = malloc(n * sizeof *y[k]);
        dx[k] = calloc(n, sizeof *dx[k]);
        assert_true(y[k] && dx[k]);
        cb_nn_silu_forward(y[k], x, n);
        cb_nn_silu_backward(dx[k], y[k], x, n);
    }
    openblas_set_num_threads(saved);
    assert_memory_equal(y[0], y[1], n * sizeof(float));
    assert_memory_equal(dx[0], dx[1], n * sizeof(float));
    assert_float_equal(y[0][n - 1], x[n - 1] / (1.0f + expf(-x[n - 1])), 1e-5); /* the last range ran */
    for (int k = 0; k < 2; k++) free(y[k]), free(dx[k]);
    free(x);
}

static void test_silu_gradients(void **state)
{
    (void)state;
    cb_rng_seed(&rng, 201);
    double err = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        scratch s = {0};
        problem p = {.forward = silu_problem};
        p.rows = rand_int(1, 40);
        float *x = FLOATS(&s, p.rows);
        p.x = DOUBLES(&s, p.rows);
        fill_normal(x, p.x, (size_t)p.rows, 3.0);
        float *r = new_projection(&s, &p, (size_t)p.rows);
        float *y = FLOATS(&s, p.rows), *dx = FLOATS(&s, p.rows);
        cb_nn_silu_forward(y, x, (size_t)p.rows);
        p.forward(&p, p.y);
        assert_matches_reference(y, p.y, p.n_y, 1e-6);
        cb_nn_silu_backward(dx, r, x, (size_t)p.rows);
        err = fmax(err, fd_error(&p, p.x, (size_t)p.rows, dx));
        scratch_free(&s);
    }
    report("silu", "d_in", err);
}

static void gelu_problem(const problem *p, double *y) { ref_gelu(y, p->x, (size_t)p->rows); }
static void relu_problem(const problem *p, double *y) { ref_relu(y, p->x, (size_t)p->rows); }

/* GELU and ReLU (the GPT's and CDVAE heads' activations) against double references and
 * central differences; ReLU's inputs stay away from its kink at 0. */
static void test_gelu_relu_gradients(void **state)
{
    (void)state;
    cb_rng_seed(&rng, 203);
    double err_g = 0, err_r = 0;
    for (int trial = 0; trial < TRIALS; trial++)
        for (int kind = 0; kind < 2; kind++) {
            scratch s = {0};
            problem p = {.forward = kind ? relu_problem : gelu_problem};
            p.rows = rand_int(1, 40);
            float *x = FLOATS(&s, p.rows);
            p.x = DOUBLES(&s, p.rows);
            fill_normal(x, p.x, (size_t)p.rows, 3.0);
            for (int i = 0; kind && i < p.rows; i++)
                if (fabs(p.x[i]) < 0.05) x[i] = (float)(p.x[i] = 0.5);
            float *r = new_projection(&s, &p, (size_t)p.rows);
            float *y = FLOATS(&s, p.rows), *dx = FLOATS(&s, p.rows);
            if (kind) {
                cb_nn_relu_forward(y, x, (size_t)p.rows);
                memcpy(dx, r, (size_t)p.rows * sizeof *dx);
                cb_nn_relu_backward_inplace(dx, x, (size_t)p.rows);
            } else {
                cb_nn_gelu_forward(y, x, (size_t)p.rows);
                cb_nn_gelu_backward(dx, r, x, (size_t)p.rows);
            }
            p.forward(&p, p.y);
            assert_matches_reference(y, p.y, p.n_y, 1e-6);
            double e = fd_error(&p, p.x, (size_t)p.rows, dx);
            if (kind) err_r = fmax(err_r, e);
            else err_g = fmax(err_g, e);
            scratch_free(&s);
        }
    report("gelu", "d_in", err_g);
    report("relu", "d_in", err_r);
}

/* ---- layer norm --------------------------------------------------------------------- */

static void layernorm_problem(const problem *p, double *y)
{
    ref_layernorm(y, p->x, p->g, p->b, p->rows, p->dim);
}

static void test_layernorm_known_values(void **state)
{
    (void)state;
    /* x = (1,2,3,4): μ = 2.5, v = 1.25, x̂ = (−1.5,−0.5,0.5,1.5)/√(1.25+1e-5). */
    const float x[] = {1, 2, 3, 4};
    const float g[] = {1, 2, 1, 1}, b[] = {0, 0, 1, 0};
    float y[4], mean, rstd;
    cb_nn_layernorm_forward(y, &mean, &rstd, x, g, b, 1, 4, CB_NN_LAYERNORM_EPS);
    assert_float_equal(mean, 2.5f, 0);
    assert_float_equal(rstd, 0.8944236f, 1e-6);
    assert_float_equal(y[0], -1.3416355f, 1e-6);
    assert_float_equal(y[1], -0.8944236f, 1e-6);
    assert_float_equal(y[2], 1.4472118f, 1e-6);
    assert_float_equal(y[3], 1.3416355f, 1e-6);
    /* A constant row normalises to β (x̂ = 0, no division by zero thanks to eps). */
    const float c[] = {3, 3, 3, 3};
    cb_nn_layernorm_forward(y, &mean, &rstd, c, g, b, 1, 4, CB_NN_LAYERNORM_EPS);
    for (int i = 0; i < 4; i++) assert_float_equal(y[i], b[i], 0);
}

static void test_layernorm_gradients(void **state)
{
    (void)state;
    cb_rng_seed(&rng, 301);
    double err_x = 0, err_g = 0, err_b = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        scratch s = {0};
        problem p = {.forward = layernorm_problem};
        p.rows = rand_int(1, 6);
        /* dim ≥ 3: at dim 2, x̂ = ±1 whatever x is, ∂y/∂x is O(eps/var) and the float
         * analytic gradient is all cancellation (true of PyTorch too). */
        p.dim = rand_int(3, 12);
        size_t n = (size_t)p.rows * p.dim;
        float *x = FLOATS(&s, n), *g = FLOATS(&s, p.dim), *b = FLOATS(&s, p.dim);
        p.x = DOUBLES(&s, n);
        p.g = DOUBLES(&s, p.dim);
        p.b = DOUBLES(&s, p.dim);
        fill_normal(x, p.x, n, 2.0);
        for (size_t i = 0; i < n; i++) p.x[i] = x[i] += 3.0f; /* a non-zero mean */
        fill_normal(g, p.g, (size_t)p.dim, 1.0);
        fill_normal(b, p.b, (size_t)p.dim, 1.0);
        float *r = new_projection(&s, &p, n);
        float *y = FLOATS(&s, n), *mean = FLOATS(&s, p.rows), *rstd = FLOATS(&s, p.rows);
        cb_nn_layernorm_forward(y, mean, rstd, x, g, b, p.rows, p.dim, CB_NN_LAYERNORM_EPS);
        p.forward(&p, p.y);
        assert_matches_reference(y, p.y, n, 1e-5);
        float *dx = FLOATS(&s, n), *dg = FLOATS(&s, p.dim), *db = FLOATS(&s, p.dim);
        cb_nn_layernorm_backward(dx, dg, db, r, x, g, mean, rstd, p.rows, p.dim);
        err_x = fmax(err_x, fd_error(&p, p.x, n, dx));
        err_g = fmax(err_g, fd_error(&p, p.g, (size_t)p.dim, dg));
        err_b = fmax(err_b, fd_error(&p, p.b, (size_t)p.dim, db));
        scratch_free(&s);
    }
    report("layernorm", "d_in", err_x);
    report("layernorm", "d_weight", err_g);
    report("layernorm", "d_bias", err_b);
}

/* ---- sinusoidal embeddings ---------------------------------------------------------- */

static void time_embed_problem(const problem *p, double *y) { ref_time_embed(y, p->x, p->rows, p->dim); }
static void frac_embed_problem(const problem *p, double *y) { ref_frac_embed(y, p->x, p->rows, p->n_freq); }

static void test_time_embed_known_values(void **state)
{
    (void)state;
    /* dim 8: half 4, ω = 1, 10000^(−1/3), 10000^(−2/3), 10000^(−1). */
    const double omega[] = {1.0, 0.046415888336127786, 0.0021544346900318843, 1e-4};
    const float t[] = {0, 1, 500};
    float y[3 * 8];
    cb_nn_time_embed_forward(y, t, 3, 8);
    for (int k = 0; k < 4; k++) {
        assert_float_equal(y[k], 0.0f, 0);     /* sin(0) */
        assert_float_equal(y[4 + k], 1.0f, 0); /* cos(0) */
    }
    assert_float_equal(y[8 + 0], 0.8414709848f, 1e-7); /* sin(1) */
    assert_float_equal(y[8 + 4], 0.5403023059f, 1e-7); /* cos(1) */
    for (int k = 0; k < 4; k++) {
        assert_float_equal(y[8 + k], (float)sin(omega[k]), 1e-7);
        assert_float_equal(y[16 + k], (float)sin(500 * omega[k]), 1e-7);
        assert_float_equal(y[16 + 4 + k], (float)cos(500 * omega[k]), 1e-7);
    }
}

static void test_time_embed_gradients(void **state)
{
    (void)state;
    cb_rng_seed(&rng, 401);
    double err = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        scratch s = {0};
        problem p = {.forward = time_embed_problem};
        p.rows = rand_int(1, 5);
        p.dim = 2 * rand_int(2, 8);
        float *t = FLOATS(&s, p.rows);
        p.x = DOUBLES(&s, p.rows);
        /* Half the trials with DiffCSP's steps (up to 1000), half with t in [0, 1]. */
        fill_uniform(t, p.x, (size_t)p.rows, 0.0, trial % 2 ? 1000.0 : 1.0);
        size_t n = (size_t)p.rows * p.dim;
        float *r = new_projection(&s, &p, n);
        float *y = FLOATS(&s, n), *dt = FLOATS(&s, p.rows);
        cb_nn_time_embed_forward(y, t, p.rows, p.dim);
        p.forward(&p, p.y);
        assert_matches_reference(y, p.y, n, 1e-6);
        cb_nn_time_embed_backward(dt, r, t, p.rows, p.dim);
        err = fmax(err, fd_error(&p, p.x, (size_t)p.rows, dt));
        scratch_free(&s);
    }
    report("time embed", "d_t", err);
}

static void test_frac_embed_known_values(void **state)
{
    (void)state;
    /* n_f = 3 (k = 0,1,2), Δ = (0.25, 0.1, −0.5). Layout: sin then cos, each c-major. */
    const float delta[] = {0.25f, 0.1f, -0.5f};
    float y[18];
    cb_nn_frac_embed_forward(y, delta, 1, 3);
    const float expect_sin[] = {0, 1, 0, 0, 0.5877852523f, 0.9510565163f, 0, 0, 0};
    const float expect_cos[] = {1, 0, -1, 1, 0.8090169944f, 0.3090169944f, 1, -1, 1};
    for (int i = 0; i < 9; i++) {
        assert_float_equal(y[i], expect_sin[i], 2e-7);
        assert_float_equal(y[9 + i], expect_cos[i], 2e-7);
    }
    /* Periodic exactly: Δ, Δ+1 and Δ−1 give bit-identical features (mod-1 vs log-map
     * differences), also at high frequencies. */
    const float a[] = {0.25f, 0.375f, -0.125f}, b[] = {1.25f, -0.625f, 0.875f};
    float ya[6 * 40], yb[6 * 40];
    cb_nn_frac_embed_forward(ya, a, 1, 40);
    cb_nn_frac_embed_forward(yb, b, 1, 40);
    assert_memory_equal(ya, yb, sizeof ya);
}

static void test_frac_embed_gradients(void **state)
{
    (void)state;
    cb_rng_seed(&rng, 501);
    double err = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        scratch s = {0};
        problem p = {.forward = frac_embed_problem};
        p.rows = rand_int(1, 5);
        p.n_freq = rand_int(1, 10);
        float *d = FLOATS(&s, 3 * p.rows);
        p.x = DOUBLES(&s, 3 * p.rows);
        fill_uniform(d, p.x, 3 * (size_t)p.rows, -1.0, 1.5);
        size_t n = (size_t)p.rows * 6 * p.n_freq;
        float *r = new_projection(&s, &p, n);
        float *y = FLOATS(&s, n), *dd = FLOATS(&s, 3 * p.rows);
        cb_nn_frac_embed_forward(y, d, p.rows, p.n_freq);
        p.forward(&p, p.y);
        assert_matches_reference(y, p.y, n, 2e-6);
        cb_nn_frac_embed_backward(dd, r, d, p.rows, p.n_freq);
        err = fmax(err, fd_error(&p, p.x, 3 * (size_t)p.rows, dd));
        scratch_free(&s);
    }
    report("frac embed", "d_delta", err);
}

/* ---- graph operations --------------------------------------------------------------- */

static void gather_problem(const problem *p, double *y) { ref_gather(y, p->x, p->index, p->rows, p->dim); }
static void scatter_mean_problem(const problem *p, double *y)
{
    ref_scatter_mean(y, p->x, p->index, p->rows, p->n_out, p->dim);
}
static void pool_problem(const problem *p, double *y)
{
    ref_pool(y, p->x, p->first, p->size, p->n_out, p->dim, p->mean);
}
static void concat_problem(const problem *p, double *y)
{
    ref_concat(y, p->parts, p->dims, p->n_parts, p->rows);
}

static void test_gather_and_scatter_known_values(void **state)
{
    (void)state;
    const float nodes[] = {1, 2, 3, 4, 5, 6}; /* 3 nodes × 2 */
    const int src[] = {2, 0, 0};
    float e[6];
    cb_nn_gather_forward(e, nodes, src, 3, 2);
    const float expect[] = {5, 6, 1, 2, 1, 2};
    for (int i = 0; i < 6; i++) assert_float_equal(e[i], expect[i], 0);
    cb_nn_gather_add_forward(e, nodes, src, 3, 2);
    for (int i = 0; i < 6; i++) assert_float_equal(e[i], 2 * expect[i], 0);
    float dn[6] = {0};
    cb_nn_gather_backward(dn, expect, src, 3, 2); /* node 0 receives rows 1 and 2 */
    const float expect_dn[] = {2, 4, 0, 0, 5, 6};
    for (int i = 0; i < 6; i++) assert_float_equal(dn[i], expect_dn[i], 0);

    /* Edges 0,1 → node 0, edge 2 → node 2; node 1 has none (a one-atom crystal). The
     * output starts as garbage: the empty node must come out 0, not keep it. */
    const float msg[] = {1, 10, 3, 20, 7, -5};
    const int target[] = {0, 0, 2};
    float agg[6] = {99, 99, 99, 99, 99, 99};
    int count[3];
    cb_nn_scatter_mean_forward(agg, count, msg, target, 3, 3, 2);
    const float expect_agg[] = {2, 15, 0, 0, 7, -5};
    for (int i = 0; i < 6; i++) assert_float_equal(agg[i], expect_agg[i], 0);
    assert_int_equal(count[0], 2);
    assert_int_equal(count[1], 0);
    assert_int_equal(count[2], 1);
    const float dagg[] = {2, 4, 100, 100, 1, 1};
    float dmsg[6] = {0};
    cb_nn_scatter_mean_backward(dmsg, dagg, target, count, 3, 2);
    const float expect_dmsg[] = {1, 2, 1, 2, 1, 1};
    for (int i = 0; i < 6; i++) assert_float_equal(dmsg[i], expect_dmsg[i], 0);
}

static void test_pool_and_concat_known_values(void **state)
{
    (void)state;
    const float x[] = {1, 2, 3, 4, 5, 6}; /* 3 nodes × 2: graph 0 = nodes 0,1; graph 1 empty; graph 2 = node 2 */
    const int first[] = {0, 2, 2}, size[] = {2, 0, 1};
    float mean[6] = {9, 9, 9, 9, 9, 9}, sum[6];
    cb_nn_mean_pool_forward(mean, x, first, size, 3, 2);
    cb_nn_sum_pool_forward(sum, x, first, size, 3, 2);
    const float expect_mean[] = {2, 3, 0, 0, 5, 6}, expect_sum[] = {4, 6, 0, 0, 5, 6};
    for (int i = 0; i < 6; i++) {
        assert_float_equal(mean[i], expect_mean[i], 0);
        assert_float_equal(sum[i], expect_sum[i], 0);
    }
    /* FlowMM's [mean ‖ sum] pooling. */
    const float *parts[] = {mean, sum};
    const int dims[] = {2, 2};
    float pool[12];
    cb_nn_concat_forward(pool, parts, dims, 2, 3);
    const float expect_pool[] = {2, 3, 4, 6, 0, 0, 0, 0, 5, 6, 5, 6};
    for (int i = 0; i < 12; i++) assert_float_equal(pool[i], expect_pool[i], 0);
    float dmean[6] = {0}, dsum[6] = {1, 1, 1, 1, 1, 1};
    float *dparts[] = {dmean, NULL};
    cb_nn_concat_backward(dparts, expect_pool, dims, 2, 3);
    for (int i = 0; i < 6; i++) assert_float_equal(dmean[i], expect_mean[i], 0);
    float dx[6] = {0};
    cb_nn_mean_pool_backward(dx, dsum, first, size, 3, 2);
    const float expect_dx[] = {0.5f, 0.5f, 0.5f, 0.5f, 1, 1};
    for (int i = 0; i < 6; i++) assert_float_equal(dx[i], expect_dx[i], 0);
}

static void test_gather_gradients(void **state)
{
    (void)state;
    cb_rng_seed(&rng, 601);
    double err = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        scratch s = {0};
        problem p = {.forward = gather_problem};
        int n_src = rand_int(1, 6);
        p.rows = rand_int(1, 12);
        p.dim = rand_int(1, 5);
        int *index = INTS(&s, p.rows);
        for (int r = 0; r < p.rows; r++) index[r] = rand_int(0, n_src - 1);
        p.index = index;
        float *src = FLOATS(&s, n_src * p.dim);
        p.x = DOUBLES(&s, n_src * p.dim);
        fill_normal(src, p.x, (size_t)n_src * p.dim, 1.0);
        float *r = new_projection(&s, &p, (size_t)p.rows * p.dim);
        float *y = FLOATS(&s, p.rows * p.dim), *dsrc = FLOATS(&s, n_src * p.dim);
        cb_nn_gather_forward(y, src, index, p.rows, p.dim);
        p.forward(&p, p.y);
        assert_matches_reference(y, p.y, p.n_y, 0);
        cb_nn_gather_backward(dsrc, r, index, p.rows, p.dim);
        err = fmax(err, fd_error(&p, p.x, (size_t)n_src * p.dim, dsrc));
        scratch_free(&s);
    }
    report("gather", "d_src", err);
}

static void test_scatter_mean_gradients(void **state)
{
    (void)state;
    cb_rng_seed(&rng, 701);
    double err = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        scratch s = {0};
        problem p = {.forward = scatter_mean_problem};
        p.n_out = rand_int(2, 6);
        p.rows = rand_int(1, 15);
        p.dim = rand_int(1, 5);
        /* The last node never receives a row: its mean must be 0. */
        int *index = INTS(&s, p.rows);
        for (int r = 0; r < p.rows; r++) index[r] = rand_int(0, p.n_out - 2);
        p.index = index;
        float *src = FLOATS(&s, p.rows * p.dim);
        p.x = DOUBLES(&s, p.rows * p.dim);
        fill_normal(src, p.x, (size_t)p.rows * p.dim, 1.0);
        float *r = new_projection(&s, &p, (size_t)p.n_out * p.dim);
        float *y = FLOATS(&s, p.n_out * p.dim), *dsrc = FLOATS(&s, p.rows * p.dim);
        int *count = INTS(&s, p.n_out);
        cb_nn_scatter_mean_forward(y, count, src, index, p.rows, p.n_out, p.dim);
        p.forward(&p, p.y);
        assert_matches_reference(y, p.y, p.n_y, 1e-6);
        for (int j = 0; j < p.dim; j++) assert_float_equal(y[(p.n_out - 1) * p.dim + j], 0.0f, 0);
        cb_nn_scatter_mean_backward(dsrc, r, index, count, p.rows, p.dim);
        err = fmax(err, fd_error(&p, p.x, (size_t)p.rows * p.dim, dsrc));
        scratch_free(&s);
    }
    report("scatter mean", "d_src", err);
}

static void check_pool_gradients(int mean, uint64_t seed)
{
    cb_rng_seed(&rng, seed);
    double err = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        scratch s = {0};
        problem p = {.forward = pool_problem, .mean = mean};
        p.n_out = rand_int(1, 5);
        p.dim = rand_int(1, 5);
        int *first = INTS(&s, p.n_out), *size = INTS(&s, p.n_out), n = 0;
        for (int b = 0; b < p.n_out; b++) {
            first[b] = n;
            size[b] = rand_int(0, 4); /* empty graphs included */
            n += size[b];
        }
        p.first = first;
        p.size = size;
        float *x = FLOATS(&s, n * p.dim);
        p.x = DOUBLES(&s, n * p.dim);
        fill_normal(x, p.x, (size_t)n * p.dim, 1.0);
        float *r = new_projection(&s, &p, (size_t)p.n_out * p.dim);
        float *y = FLOATS(&s, p.n_out * p.dim), *dx = FLOATS(&s, n * p.dim);
        if (mean) {
            cb_nn_mean_pool_forward(y, x, first, size, p.n_out, p.dim);
            cb_nn_mean_pool_backward(dx, r, first, size, p.n_out, p.dim);
        } else {
            cb_nn_sum_pool_forward(y, x, first, size, p.n_out, p.dim);
            cb_nn_sum_pool_backward(dx, r, first, size, p.n_out, p.dim);
        }
        p.forward(&p, p.y);
        assert_matches_reference(y, p.y, p.n_y, 1e-6);
        err = fmax(err, fd_error(&p, p.x, (size_t)n * p.dim, dx));
        scratch_free(&s);
    }
    report(mean ? "mean pool" : "sum pool", "d_in", err);
}

static void test_pool_gradients(void **state)
{
    (void)state;
    check_pool_gradients(1, 801);
    check_pool_gradients(0, 802);
}

static void test_concat_gradients(void **state)
{
    (void)state;
    cb_rng_seed(&rng, 901);
    double err = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        scratch s = {0};
        problem p = {.forward = concat_problem};
        p.rows = rand_int(1, 5);
        p.n_parts = rand_int(1, 4);
        int *dims = INTS(&s, p.n_parts), width = 0;
        const float *parts[4];
        float *dparts[4];
        for (int q = 0; q < p.n_parts; q++) {
            dims[q] = rand_int(0, 4); /* an empty part is allowed */
            width += dims[q];
            float *part = FLOATS(&s, p.rows * dims[q]);
            p.parts[q] = DOUBLES(&s, p.rows * dims[q]);
            fill_normal(part, p.parts[q], (size_t)p.rows * dims[q], 1.0);
            parts[q] = part;
            dparts[q] = FLOATS(&s, p.rows * dims[q]);
        }
        p.dims = dims;
        float *r = new_projection(&s, &p, (size_t)p.rows * width);
        float *y = FLOATS(&s, p.rows * width);
        cb_nn_concat_forward(y, parts, dims, p.n_parts, p.rows);
        p.forward(&p, p.y);
        assert_matches_reference(y, p.y, p.n_y, 0);
        cb_nn_concat_backward(dparts, r, dims, p.n_parts, p.rows);
        for (int q = 0; q < p.n_parts; q++)
            err = fmax(err, fd_error(&p, p.parts[q], (size_t)p.rows * dims[q], dparts[q]));
        scratch_free(&s);
    }
    report("concat", "d_parts", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_known_values),
        cmocka_unit_test(test_linear_gradients),
        cmocka_unit_test(test_linear_block_gradients),
        cmocka_unit_test(test_linear_blocks_equal_full_linear),
        cmocka_unit_test(test_backward_accumulates),
        cmocka_unit_test(test_silu_known_values),
        cmocka_unit_test(test_expf_ulp),
        cmocka_unit_test(test_silu_threads),
        cmocka_unit_test(test_gelu_relu_gradients),
        cmocka_unit_test(test_silu_gradients),
        cmocka_unit_test(test_layernorm_known_values),
        cmocka_unit_test(test_layernorm_gradients),
        cmocka_unit_test(test_time_embed_known_values),
        cmocka_unit_test(test_time_embed_gradients),
        cmocka_unit_test(test_frac_embed_known_values),
        cmocka_unit_test(test_frac_embed_gradients),
        cmocka_unit_test(test_gather_and_scatter_known_values),
        cmocka_unit_test(test_pool_and_concat_known_values),
        cmocka_unit_test(test_gather_gradients),
        cmocka_unit_test(test_scatter_mean_gradients),
        cmocka_unit_test(test_pool_gradients),
        cmocka_unit_test(test_concat_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
