/* Training primitives (models/nn/train.h): the parameter table and initialisation,
 * AdamW against the formula computed in double, the cosine schedule, EMA, clipping,
 * exact resume (2N steps == N steps + save + load into a fresh state + N steps, bit for
 * bit) and checkpoints that refuse every corruption cleanly. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../models/nn/train.h"
#include "testutil.h"

static const char HASH_A[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char HASH_B[] = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

#define PATH_LEN 4200

/* <scratch dir>/name into path[PATH_LEN]. */
static const char *scratch_file(char *path, const char *name)
{
    snprintf(path, PATH_LEN, "%s/%s", cb_test_scratch(), name);
    return path;
}

/* |got − want| ≤ tol·|want| (plus a floor for exact zeros). */
static void assert_rel(double got, double want, double tol)
{
    double lim = tol * fabs(want);
    if (lim < 1e-30) lim = 1e-30;
    if (!(fabs(got - want) <= lim)) fail_msg("got %.9g, want %.9g (rel. tol %g)", got, want, tol);
}

/* ---- parameter table ------------------------------------------------------------- */

static void test_params_table(void **state)
{
    (void)state;
    cb_nn_params p;
    cb_nn_params_init(&p);
    cb_error err;
    size_t w, b, e;
    assert_int_equal(cb_nn_params_add_linear(&p, "fc", 4, 3, &w, &b, &err), CB_OK);
    size_t eshape[2] = {100, 8};
    assert_int_equal(cb_nn_params_add(&p, "embed", 2, eshape, &e, &err), CB_OK);
    assert_int_equal(w, 0);
    assert_int_equal(b, 12);
    assert_int_equal(e, 15);
    assert_int_equal(p.count, 15 + 800);
    const cb_nn_tensor *t = cb_nn_params_find(&p, "fc.weight");
    assert_non_null(t);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 3);
    assert_int_equal(t->shape[1], 4);
    assert_non_null(cb_nn_params_find(&p, "fc.bias"));
    assert_null(cb_nn_params_find(&p, "fc"));
    assert_int_equal(cb_nn_params_add(&p, "embed", 2, eshape, NULL, &err), CB_ERR_USAGE);
    assert_non_null(strstr(err.msg, "declared twice"));
    size_t zero = 0;
    assert_int_equal(cb_nn_params_add(&p, "z", 1, &zero, NULL, &err), CB_ERR_USAGE);
    assert_int_equal(cb_nn_params_add(&p, "", 1, eshape, NULL, &err), CB_ERR_USAGE);

    assert_int_equal(cb_nn_params_alloc(&p, &err), CB_OK);
    assert_int_equal(cb_nn_params_add(&p, "late", 1, eshape, NULL, &err), CB_ERR_USAGE);
    assert_int_equal(cb_nn_params_alloc(&p, &err), CB_ERR_USAGE);
    for (size_t i = 0; i < p.count; i++) assert_true(p.w[i] == 0 && p.grad[i] == 0 && p.ema[i] == 0);

    /* Linear init: U(−1/√in, 1/√in) for W and b, fixed by the seed. */
    cb_rng r1, r2;
    cb_rng_seed(&r1, 5);
    cb_nn_init_linear(p.w + w, p.w + b, 4, 3, &r1);
    float first[15];
    memcpy(first, p.w, sizeof first);
    double lo = 0, hi = 0;
    for (int i = 0; i < 15; i++) {
        assert_true(fabs(first[i]) <= 0.5);
        lo = fmin(lo, first[i]);
        hi = fmax(hi, first[i]);
    }
    assert_true(lo < -0.1 && hi > 0.1); /* spread over the interval, not a constant */
    cb_rng_seed(&r2, 5);
    cb_nn_init_linear(p.w + w, p.w + b, 4, 3, &r2);
    assert_memory_equal(first, p.w, sizeof first);
    cb_nn_init_const(p.w + e, 800, 1.0f);
    assert_true(p.w[e] == 1.0f && p.w[e + 799] == 1.0f);

    /* The layout hash follows names and shapes, not values. */
    char h1[CB_SHA256_HEX], h2[CB_SHA256_HEX];
    cb_nn_params_layout_hash(&p, h1);
    cb_nn_params q;
    cb_nn_params_init(&q);
    size_t wt[2] = {4, 3}, three = 3; /* fc.weight transposed: same count, other layout */
    assert_int_equal(cb_nn_params_add(&q, "fc.weight", 2, wt, NULL, &err), CB_OK);
    assert_int_equal(cb_nn_params_add(&q, "fc.bias", 1, &three, NULL, &err), CB_OK);
    assert_int_equal(cb_nn_params_add(&q, "embed", 2, eshape, NULL, &err), CB_OK);
    assert_int_equal(q.count, p.count);
    cb_nn_params_layout_hash(&q, h2);
    assert_string_not_equal(h1, h2);
    cb_nn_params_free(&q);
    cb_nn_params_free(&p);
    assert_null(p.w);
    assert_int_equal(p.count, 0);
}

/* ---- AdamW ------------------------------------------------------------------------ */

/* The 2-parameter problem L(θ) = ½·a0(θ0 − c0)² + ½·a1(θ1 − c1)². */
static const double QC[2] = {0.25, 1.0};

/* torch.optim.AdamW written out in double: decay, moments, bias correction, ε outside √. */
static void adamw_ref(double th[2], double m[2], double v[2], int t, double lr,
                      const cb_nn_adamw *c, const double qa[2])
{
    for (int i = 0; i < 2; i++) {
        double g = qa[i] * (th[i] - QC[i]);
        th[i] -= lr * c->weight_decay * th[i];
        m[i] = c->beta1 * m[i] + (1 - c->beta1) * g;
        v[i] = c->beta2 * v[i] + (1 - c->beta2) * g * g;
        double mhat = m[i] / (1 - pow(c->beta1, t));
        double vhat = v[i] / (1 - pow(c->beta2, t));
        th[i] -= lr * mhat / (sqrt(vhat) + c->eps);
    }
}

static void check_adamw(const cb_nn_adamw *c, const double qa[2], const double th0[2])
{
    cb_nn_params p;
    cb_nn_params_init(&p);
    cb_error err;
    size_t two = 2;
    assert_int_equal(cb_nn_params_add(&p, "theta", 1, &two, NULL, &err), CB_OK);
    assert_int_equal(cb_nn_params_alloc(&p, &err), CB_OK);
    double th[2], m[2] = {0, 0}, v[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        p.w[i] = (float)th0[i];
        th[i] = p.w[i]; /* the reference starts where float does */
    }
    const double lr[3] = {0.1, 0.08, 0.05}; /* as a schedule would change it */
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < 2; i++) p.grad[i] = (float)(qa[i] * (p.w[i] - QC[i]));
        cb_nn_adamw_step(&p, c, lr[t - 1]);
        adamw_ref(th, m, v, t, lr[t - 1], c, qa);
        assert_int_equal(p.adam_steps, (uint64_t)t);
        for (int i = 0; i < 2; i++) {
            assert_rel(p.w[i], th[i], 1e-6);
            assert_rel(p.m[i], m[i], 1e-6);
            assert_rel(p.v[i], v[i], 1e-6);
        }
    }
    cb_nn_params_free(&p);
}

static void test_adamw_reference(void **state)
{
    (void)state;
    /* PyTorch's defaults with a visible weight decay. */
    const cb_nn_adamw c1 = {0.9, 0.999, 1e-8, 0.1};
    const double a1[2] = {2.0, 0.5}, th[2] = {1.5, -0.75};
    check_adamw(&c1, a1, th);
    /* A large ε next to small gradients: ε added to √v̂ (= √v/√(1−β2ᵗ)) differs by a
     * factor √(1−β2) = 0.03 at t = 1 from ε added to √v, so a misplaced ε fails here. */
    const cb_nn_adamw c2 = {0.8, 0.99, 1e-2, 0.01};
    const double a2[2] = {0.02, 0.05}; /* gradients 0.025 and −0.0875 at the start */
    check_adamw(&c2, a2, th);
}

static void test_adamw_first_step(void **state)
{
    (void)state;
    /* By hand: at t = 1, m̂ = g and v̂ = g², so θ1 = θ0·(1 − lr·λ) − lr·g/(|g| + ε). */
    cb_nn_params p;
    cb_nn_params_init(&p);
    cb_error err;
    size_t two = 2;
    assert_int_equal(cb_nn_params_add(&p, "theta", 1, &two, NULL, &err), CB_OK);
    assert_int_equal(cb_nn_params_alloc(&p, &err), CB_OK);
    p.w[0] = 1.0f;
    p.w[1] = -2.0f;
    p.grad[0] = 0.5f;
    p.grad[1] = -4.0f;
    const cb_nn_adamw c = {0.9, 0.999, 1e-8, 0.5};
    cb_nn_adamw_step(&p, &c, 0.1);
    assert_rel(p.w[0], 1.0 * 0.95 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-6);   /* 0.85 */
    assert_rel(p.w[1], -2.0 * 0.95 + 0.1 * 4.0 / (4.0 + 1e-8), 1e-6);  /* −1.8 */
    assert_rel(p.m[0], 0.05, 1e-6);
    assert_rel(p.v[1], 0.016, 1e-6);
    cb_nn_params_free(&p);
}

/* ---- schedule, EMA, clipping ------------------------------------------------------ */

static void test_cosine_schedule(void **state)
{
    (void)state;
    const double mx = 1e-3, mn = 1e-5;
    /* warm-up 10 steps, then cosine over steps 10..110 */
    assert_rel(cb_nn_lr_cosine(0, 10, 110, mx, mn), 1e-4, 1e-12);   /* warm-up start: max/10 */
    assert_rel(cb_nn_lr_cosine(4, 10, 110, mx, mn), 5e-4, 1e-12);   /* middle of the warm-up */
    assert_rel(cb_nn_lr_cosine(9, 10, 110, mx, mn), mx, 1e-12);     /* warm-up end */
    assert_rel(cb_nn_lr_cosine(10, 10, 110, mx, mn), mx, 1e-12);    /* cosine start */
    assert_rel(cb_nn_lr_cosine(60, 10, 110, mx, mn), (mx + mn) / 2, 1e-12); /* middle */
    assert_rel(cb_nn_lr_cosine(35, 10, 110, mx, mn),
               mn + (mx - mn) * (1 + cos(M_PI / 4)) / 2, 1e-12);
    assert_true(cb_nn_lr_cosine(110, 10, 110, mx, mn) == mn); /* end */
    assert_true(cb_nn_lr_cosine(500, 10, 110, mx, mn) == mn); /* after the end */
    /* Without warm-up: CosineAnnealingLR(T_max = 2000, eta_min = 1e-5), FlowMM's §2.9. */
    for (uint64_t e = 0; e <= 2000; e += 250)
        assert_rel(cb_nn_lr_cosine(e, 0, 2000, 3e-4, 1e-5),
                   1e-5 + (3e-4 - 1e-5) * (1 + cos(M_PI * (double)e / 2000)) / 2, 1e-12);
    assert_true(cb_nn_lr_cosine(0, 0, 2000, 3e-4, 1e-5) == 3e-4);
}

static void test_ema(void **state)
{
    (void)state;
    cb_nn_params p;
    cb_nn_params_init(&p);
    cb_error err;
    size_t two = 2;
    assert_int_equal(cb_nn_params_add(&p, "theta", 1, &two, NULL, &err), CB_OK);
    assert_int_equal(cb_nn_params_alloc(&p, &err), CB_OK);
    const double w0[2] = {1.0, -3.0}, w1[2] = {0.5, -2.0}, w2[2] = {0.25, 4.0};
    for (int warm = 0; warm <= 1; warm++) {
        for (int i = 0; i < 2; i++) p.w[i] = (float)w0[i];
        cb_nn_ema_reset(&p);
        assert_true(p.ema[0] == 1.0f && p.ema[1] == -3.0f && p.ema_updates == 0);
        /* decay 0.9; with the warm-up d = min(0.9, (1+n)/(10+n)) = 2/11, then 3/12 */
        double d1 = warm ? 2.0 / 11 : 0.9, d2 = warm ? 3.0 / 12 : 0.9;
        for (int i = 0; i < 2; i++) p.w[i] = (float)w1[i];
        cb_nn_ema_update(&p, 0.9, warm);
        for (int i = 0; i < 2; i++) p.w[i] = (float)w2[i];
        cb_nn_ema_update(&p, 0.9, warm);
        assert_int_equal(p.ema_updates, 2);
        for (int i = 0; i < 2; i++) {
            double e = w0[i];
            e = d1 * e + (1 - d1) * w1[i];
            e = d2 * e + (1 - d2) * w2[i];
            assert_rel(p.ema[i], e, 1e-6);
        }
    }
    /* The warm-up never exceeds the decay: n = 1000 gives min(0.9, 1001/1010) = 0.9. */
    p.ema_updates = 999;
    p.ema[0] = 1.0f;
    p.w[0] = 0.0f;
    cb_nn_ema_update(&p, 0.9, 1);
    assert_rel(p.ema[0], 0.9, 1e-6);
    cb_nn_params_free(&p);
}

static void test_clip(void **state)
{
    (void)state;
    cb_nn_params p;
    cb_nn_params_init(&p);
    cb_error err;
    size_t n = 10;
    assert_int_equal(cb_nn_params_add(&p, "g", 1, &n, NULL, &err), CB_OK);
    assert_int_equal(cb_nn_params_alloc(&p, &err), CB_OK);
    const float in[10] = {-1.0f, -0.5f, -0.3f, 0.0f, 0.3f, 0.5f, 0.7f, NAN, INFINITY, -INFINITY};
    const float out[9] = {-0.5f, -0.5f, -0.3f, 0.0f, 0.3f, 0.5f, 0.5f};
    memcpy(p.grad, in, sizeof in);
    cb_nn_clip_grad_value(&p, 0.5f);
    for (int i = 0; i < 7; i++) assert_true(p.grad[i] == out[i]);
    assert_true(isnan(p.grad[7])); /* as torch.clamp: the non-finite check still sees it */
    assert_true(p.grad[8] == 0.5f && p.grad[9] == -0.5f);
    cb_nn_params_free(&p);
}

/* ---- a toy model for resume and checkpoints --------------------------------------- */

enum { IN = 4, OUT = 3, NDATA = 64, BATCH = 8 };

typedef struct toy {
    cb_nn_params p;
    size_t w_off, b_off;
    float x[NDATA][IN], y[NDATA][OUT];
    cb_nn_ckpt_state st;
} toy;

/* Least squares y ≈ W x + b on fixed random data; W, b from `seed`, training stream
 * from seed + 1. */
static void toy_init(toy *t, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    cb_error err;
    cb_nn_params_init(&t->p);
    assert_int_equal(cb_nn_params_add_linear(&t->p, "fc", IN, OUT, &t->w_off, &t->b_off, &err), CB_OK);
    assert_int_equal(cb_nn_params_alloc(&t->p, &err), CB_OK);
    cb_rng r;
    cb_rng_seed(&r, 2024); /* the data do not depend on the seed */
    double a[OUT][IN];
    for (int o = 0; o < OUT; o++)
        for (int i = 0; i < IN; i++) a[o][i] = cb_rng_normal(&r);
    for (int k = 0; k < NDATA; k++) {
        for (int i = 0; i < IN; i++) t->x[k][i] = (float)cb_rng_normal(&r);
        for (int o = 0; o < OUT; o++) {
            double s = 0.5 + 0.1 * cb_rng_normal(&r);
            for (int i = 0; i < IN; i++) s += a[o][i] * t->x[k][i];
            t->y[k][o] = (float)s;
        }
    }
    cb_rng_seed(&r, seed);
    cb_nn_init_linear(t->p.w + t->w_off, t->p.w + t->b_off, IN, OUT, &r);
    cb_nn_ema_reset(&t->p);
    cb_rng_seed(&t->st.rng, seed + 1);
}

static void toy_free(toy *t)
{
    cb_nn_params_free(&t->p);
    cb_nn_ckpt_state_free(&t->st);
}

/* One training step as a backend runs it: minibatch and a target jitter from the
 * training RNG (one normal a step, so the spare normal is pending after odd steps),
 * forward, backward, clip, scheduled AdamW, EMA.  Returns the batch loss. */
static double toy_step(toy *t, uint64_t total)
{
    cb_nn_params *p = &t->p;
    cb_nn_params_zero_grad(p);
    size_t idx[BATCH];
    for (int k = 0; k < BATCH; k++) idx[k] = (size_t)cb_rng_below(&t->st.rng, NDATA);
    const float jitter = (float)(0.05 * cb_rng_normal(&t->st.rng));
    const float *w = p->w + t->w_off, *b = p->w + t->b_off;
    float *gw = p->grad + t->w_off, *gb = p->grad + t->b_off;
    double loss = 0;
    for (int k = 0; k < BATCH; k++) {
        const float *x = t->x[idx[k]];
        for (int o = 0; o < OUT; o++) {
            float pred = b[o];
            for (int i = 0; i < IN; i++) pred += w[o * IN + i] * x[i];
            float r = pred - (t->y[idx[k]][o] + jitter);
            loss += 0.5 * r * r / BATCH;
            gb[o] += r / BATCH;
            for (int i = 0; i < IN; i++) gw[o * IN + i] += r * x[i] / BATCH;
        }
    }
    cb_nn_clip_grad_value(p, 0.5f);
    const cb_nn_adamw c = {0.9, 0.999, 1e-8, 0.01};
    cb_nn_adamw_step(p, &c, cb_nn_lr_cosine(t->st.step, 3, total, 0.05, 1e-3));
    cb_nn_ema_update(p, 0.999, 1);
    t->st.step++;
    return loss;
}

static void assert_same_state(const toy *a, const toy *b)
{
    size_t bytes = a->p.count * sizeof(float);
    assert_int_equal(a->p.count, b->p.count);
    assert_memory_equal(a->p.w, b->p.w, bytes);
    assert_memory_equal(a->p.m, b->p.m, bytes);
    assert_memory_equal(a->p.v, b->p.v, bytes);
    assert_memory_equal(a->p.ema, b->p.ema, bytes);
    assert_int_equal(a->p.adam_steps, b->p.adam_steps);
    assert_int_equal(a->p.ema_updates, b->p.ema_updates);
    assert_int_equal(a->st.step, b->st.step);
    assert_memory_equal(a->st.rng.s, b->st.rng.s, sizeof a->st.rng.s);
    assert_memory_equal(&a->st.rng.spare, &b->st.rng.spare, sizeof(double));
    assert_int_equal(a->st.rng.has_spare, b->st.rng.has_spare);
}

static void test_resume_bit_identical(void **state)
{
    (void)state;
    enum { N = 25 }; /* odd: the checkpoint holds a pending spare normal */
    char path[PATH_LEN], tmp[PATH_LEN];
    scratch_file(path, "resume.ckpt");
    cb_error err;

    toy *full = malloc(sizeof *full), *half = malloc(sizeof *half), *fresh = malloc(sizeof *fresh);
    assert_non_null(full);
    assert_non_null(half);
    assert_non_null(fresh);
    toy_init(full, 11);
    float w_init[OUT * IN + OUT];
    memcpy(w_init, full->p.w, sizeof w_init);
    double first = toy_step(full, 2 * N), last = 0;
    for (int s = 1; s < 2 * N; s++) last = toy_step(full, 2 * N);
    assert_true(last < 0.5 * first); /* it did learn: the comparison is not vacuous */
    assert_memory_not_equal(w_init, full->p.w, sizeof w_init);
    assert_memory_not_equal(full->p.w, full->p.ema, sizeof w_init);

    toy_init(half, 11);
    for (int s = 0; s < N; s++) toy_step(half, 2 * N);
    assert_int_equal(half->st.rng.has_spare, 1);
    assert_int_equal(cb_nn_checkpoint_save(path, "flowmm", HASH_A, &half->p, &half->st, &err), CB_OK);
    toy_free(half);
    assert_int_equal(access(scratch_file(tmp, "resume.ckpt.tmp"), F_OK), -1); /* renamed, not left */

    toy_init(fresh, 99); /* other weights, other stream: the load must replace them all */
    for (int s = 0; s < 2; s++) toy_step(fresh, 2 * N);
    assert_int_equal(fresh->st.rng.has_spare, 0); /* so a lost has_spare would show */
    assert_int_equal(cb_nn_checkpoint_load(path, "flowmm", HASH_A, &fresh->p, &fresh->st, &err), CB_OK);
    assert_int_equal(fresh->st.step, N);
    for (int s = 0; s < N; s++) toy_step(fresh, 2 * N);
    assert_same_state(full, fresh);

    toy_free(full);
    toy_free(fresh);
    free(full);
    free(half);
    free(fresh);
}

/* ---- corrupt and foreign checkpoints ---------------------------------------------- */

static void write_bytes(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* A load that must fail with `code`, a one-line message naming the file and containing
 * `what` (when non-NULL), and leave the state as it was. */
static void expect_refused(toy *t, const char *path, const char *backend, const char *hash,
                           int code, const char *what)
{
    size_t bytes = t->p.count * sizeof(float);
    float *before = malloc(4 * bytes);
    assert_non_null(before);
    memcpy(before, t->p.w, bytes);
    memcpy(before + t->p.count, t->p.m, bytes);
    memcpy(before + 2 * t->p.count, t->p.v, bytes);
    memcpy(before + 3 * t->p.count, t->p.ema, bytes);
    const cb_nn_ckpt_state st0 = t->st;
    uint64_t adam = t->p.adam_steps;
    cb_error err;
    memset(&err, 0, sizeof err);
    int rc = cb_nn_checkpoint_load(path, backend, hash, &t->p, &t->st, &err);
    if (rc != code) fail_msg("load returned %d (%s), want %d", rc, err.msg, code);
    if (strncmp(err.msg, path, strlen(path)) != 0 || strchr(err.msg, '\n'))
        fail_msg("message does not start with the file or is not one line: %s", err.msg);
    if (what && !strstr(err.msg, what)) fail_msg("message lacks '%s': %s", what, err.msg);
    assert_memory_equal(before, t->p.w, bytes);
    assert_memory_equal(before + t->p.count, t->p.m, bytes);
    assert_memory_equal(before + 2 * t->p.count, t->p.v, bytes);
    assert_memory_equal(before + 3 * t->p.count, t->p.ema, bytes);
    assert_memory_equal(st0.rng.s, t->st.rng.s, sizeof st0.rng.s);
    assert_memory_equal(&st0.rng.spare, &t->st.rng.spare, sizeof(double));
    assert_int_equal(st0.rng.has_spare, t->st.rng.has_spare);
    assert_int_equal(st0.step, t->st.step);
    assert_ptr_equal(st0.extra, t->st.extra);
    assert_int_equal(st0.extra_len, t->st.extra_len);
    assert_int_equal(adam, t->p.adam_steps);
    free(before);
}

static void test_checkpoint_corruption(void **state)
{
    (void)state;
    char good[PATH_LEN], bad[PATH_LEN], other[PATH_LEN];
    scratch_file(good, "good.ckpt");
    scratch_file(bad, "bad.ckpt");
    cb_error err;
    toy *t = malloc(sizeof *t);
    assert_non_null(t);
    toy_init(t, 3);
    for (int s = 0; s < 4; s++) toy_step(t, 10);
    unsigned char extra[5] = {'s', 't', 'a', 't', 's'};
    t->st.extra = extra;
    t->st.extra_len = sizeof extra;
    assert_int_equal(cb_nn_checkpoint_save(good, "flowmm", HASH_A, &t->p, &t->st, &err), CB_OK);
    t->st.extra = NULL; /* not ours to free */
    t->st.extra_len = 0;

    size_t len;
    unsigned char *file = (unsigned char *)cb_test_read_file(good, &len);
    assert_non_null(file);
    assert_int_equal(len, 272 + 16 * t->p.count + sizeof extra + 4);
    assert_memory_equal(file, "CBNNCKPT", 8);

    /* The extra bytes come back. */
    toy *u = malloc(sizeof *u);
    assert_non_null(u);
    toy_init(u, 8);
    assert_int_equal(cb_nn_checkpoint_load(good, "flowmm", HASH_A, &u->p, &u->st, &err), CB_OK);
    assert_int_equal(u->st.extra_len, sizeof extra);
    assert_memory_equal(u->st.extra, extra, sizeof extra);
    assert_memory_equal(u->p.ema, t->p.ema, t->p.count * sizeof(float));
    toy_free(u);
    toy_init(u, 8);

    /* A weights-only file: θ̄ alone, a quarter of the parameter bytes; loading gives θ = θ̄
     * and zero moments, and says what it was. */
    char light[PATH_LEN];
    scratch_file(light, "light.ckpt");
    t->st.weights_only = 1;
    assert_int_equal(cb_nn_checkpoint_save(light, "flowmm", HASH_A, &t->p, &t->st, &err), CB_OK);
    t->st.weights_only = 0;
    size_t light_len;
    free(cb_test_read_file(light, &light_len));
    assert_int_equal(light_len, 272 + 4 * t->p.count + 4);
    assert_int_equal(cb_nn_checkpoint_load(light, "flowmm", HASH_A, &u->p, &u->st, &err), CB_OK);
    assert_int_equal(u->st.weights_only, 1);
    assert_memory_equal(u->p.ema, t->p.ema, t->p.count * sizeof(float));
    assert_memory_equal(u->p.w, t->p.ema, t->p.count * sizeof(float));
    for (size_t i = 0; i < t->p.count; i++) assert_true(u->p.m[i] == 0 && u->p.v[i] == 0);
    assert_int_equal(u->p.adam_steps, t->p.adam_steps);
    toy_free(u);
    toy_init(u, 8);

    /* A version-1 file (the header without the flags word, always the full state) is
     * still read: the same file less bytes 264..271, version 1, header 264, new CRC. */
    unsigned char *old = malloc(len - 8);
    assert_non_null(old);
    memcpy(old, file, 264);
    memcpy(old + 264, file + 272, len - 272);
    old[8] = 1, old[9] = old[10] = old[11] = 0;
    old[12] = 264 & 0xff, old[13] = 264 >> 8, old[14] = old[15] = 0;
    uint32_t crc = (uint32_t)crc32(0L, old, (uInt)(len - 12));
    for (int k = 0; k < 4; k++) old[len - 12 + (size_t)k] = (unsigned char)(crc >> (8 * k));
    write_bytes(bad, old, len - 8);
    free(old);
    assert_int_equal(cb_nn_checkpoint_load(bad, "flowmm", HASH_A, &u->p, &u->st, &err), CB_OK);
    assert_int_equal(u->st.weights_only, 0);
    assert_memory_equal(u->p.m, t->p.m, t->p.count * sizeof(float));
    assert_memory_equal(u->p.ema, t->p.ema, t->p.count * sizeof(float));
    toy_free(u);
    toy_init(u, 8);

    /* Every single flipped byte is refused: the payload's by the CRC, the header's by the
     * CRC or an earlier check (magic, version, size). */
    int crc_named = 0;
    for (size_t i = 0; i < len; i++) {
        file[i] ^= 0xff;
        write_bytes(bad, file, len);
        expect_refused(u, bad, "flowmm", HASH_A, CB_ERR_INVALID, i >= 272 ? "CRC" : NULL);
        crc_named += i >= 272;
        file[i] ^= 0xff;
    }
    assert_true(crc_named > 0);
    /* Every truncation is refused as such. */
    for (size_t n = 0; n < len; n++) {
        write_bytes(bad, file, n);
        expect_refused(u, bad, "flowmm", HASH_A, CB_ERR_INVALID, "truncated");
    }
    /* A byte too many. */
    unsigned char *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, file, len);
    longer[len] = 0;
    write_bytes(bad, longer, len + 1);
    expect_refused(u, bad, "flowmm", HASH_A, CB_ERR_INVALID, "after its end");
    free(longer);
    /* Another kind of file. */
    write_bytes(bad, (const unsigned char *)"[flowmm]\nlr = 3e-4\n", 19);
    expect_refused(u, bad, "flowmm", HASH_A, CB_ERR_INVALID, "not a crystalbench checkpoint");

    /* Sound files that belong to something else. */
    expect_refused(u, good, "cdvae", HASH_A, CB_ERR_INVALID, "backend 'flowmm', not 'cdvae'");
    expect_refused(u, good, "flowmm", HASH_B, CB_ERR_INVALID, "another config");
    expect_refused(u, good, "flowmm", HASH_B, CB_ERR_INVALID, "fedcba987654");
    toy_free(u);
    free(u);

    cb_nn_params q;
    cb_nn_params_init(&q);
    cb_nn_ckpt_state qs = {0};
    size_t b;
    assert_int_equal(cb_nn_params_add_linear(&q, "fc", IN, OUT, NULL, &b, &err), CB_OK);
    assert_int_equal(cb_nn_params_add_linear(&q, "fc2", 1, 1, NULL, NULL, &err), CB_OK);
    assert_int_equal(cb_nn_params_alloc(&q, &err), CB_OK);
    assert_int_equal(cb_nn_checkpoint_load(good, "flowmm", HASH_A, &q, &qs, &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "has 15 parameters, the model 16"));
    cb_nn_params_free(&q);
    cb_nn_params_init(&q);
    size_t wt[2] = {IN, OUT}, nb = OUT; /* fc.weight transposed: same count, other layout */
    assert_int_equal(cb_nn_params_add(&q, "fc.weight", 2, wt, NULL, &err), CB_OK);
    assert_int_equal(cb_nn_params_add(&q, "fc.bias", 1, &nb, NULL, &err), CB_OK);
    assert_int_equal(cb_nn_params_alloc(&q, &err), CB_OK);
    assert_int_equal(cb_nn_checkpoint_load(good, "flowmm", HASH_A, &q, &qs, &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "another parameter layout"));
    cb_nn_params_free(&q);

    /* I/O and usage errors. */
    assert_int_equal(cb_nn_checkpoint_load(scratch_file(other, "absent.ckpt"), "flowmm", HASH_A, &t->p,
                                           &t->st, &err), CB_ERR_IO);
    assert_non_null(strstr(err.msg, "absent.ckpt: cannot read"));
    assert_int_equal(cb_nn_checkpoint_load(cb_test_scratch(), "flowmm", HASH_A, &t->p, &t->st, &err),
                     CB_ERR_IO); /* a directory */
    assert_int_equal(cb_nn_checkpoint_save(scratch_file(other, "no/such/dir.ckpt"), "flowmm", HASH_A,
                                           &t->p, &t->st, &err), CB_ERR_IO);
    assert_int_equal(cb_nn_checkpoint_save(bad, "flowmm", "abc", &t->p, &t->st, &err), CB_ERR_USAGE);
    assert_int_equal(cb_nn_checkpoint_save(bad, "", HASH_A, &t->p, &t->st, &err), CB_ERR_USAGE);
    assert_int_equal(cb_nn_checkpoint_save(bad, "a-name-longer-than-thirty-one-chars", HASH_A,
                                           &t->p, &t->st, &err), CB_ERR_USAGE);
    free(file);
    toy_free(t);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_table),
        cmocka_unit_test(test_adamw_reference),
        cmocka_unit_test(test_adamw_first_step),
        cmocka_unit_test(test_cosine_schedule),
        cmocka_unit_test(test_ema),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_resume_bit_identical),
        cmocka_unit_test(test_checkpoint_corruption),
    };
    return cmocka_run_group_tests(tests, cb_test_scratch_setup, cb_test_scratch_teardown);
}
