/* Shared checks of the trained backends (nn_testlib.h). */
#include "nn_testlib.h"

#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

void cb_test_synthetic_crystals(cb_dataset *set, int n, int max_atoms, uint64_t seed)
{
    cb_rng rng;
    cb_rng_seed(&rng, seed);
    cb_error err;
    memset(set, 0, sizeof *set);
    for (int c = 0; c < n; c++) {
        cb_crystal x = {0};
        int na = 1 + (int)cb_rng_below(&rng, (uint64_t)max_atoms);
        assert_int_equal(cb_crystal_alloc(&x, na, &err), CB_OK);
        double p[6];
        for (int k = 0; k < 3; k++) p[k] = 3.0 + 4.0 * cb_rng_uniform(&rng);
        for (int k = 3; k < 6; k++) p[k] = 70.0 + 40.0 * cb_rng_uniform(&rng);
        cb_lattice_from_parameters(p, x.lattice);
        for (int i = 0; i < na; i++) {
            x.z[i] = 1 + (int)cb_rng_below(&rng, 60);
            for (int k = 0; k < 3; k++) x.frac[i][k] = cb_rng_uniform(&rng);
        }
        assert_int_equal(cb_dataset_take(set, &x, &err), CB_OK);
    }
}

/* The k largest |g| of a tensor, then 2 random entries. */
static int pick_entries(const float *g, size_t size, cb_rng *rng, size_t pick[5])
{
    int np = 0;
    for (int k = 0; k < 3 && (size_t)k < size; k++) {
        size_t best = 0;
        double bv = -1;
        for (size_t i = 0; i < size; i++) {
            int taken = 0;
            for (int q = 0; q < np; q++) taken |= pick[q] == i;
            if (!taken && fabs(g[i]) > bv) bv = fabs(g[i]), best = i;
        }
        pick[np++] = best;
    }
    for (int k = 0; k < 2; k++) pick[np++] = (size_t)cb_rng_below(rng, size);
    return np;
}

double cb_test_gradient_check(const char *label, cb_nn_params *p, cb_test_loss_fn loss, void *ctx)
{
    cb_nn_params_zero_grad(p);
    double l0 = loss(ctx, 1);
    float *g = malloc(p->count * sizeof *g);
    assert_non_null(g);
    memcpy(g, p->grad, p->count * sizeof *g);
    cb_rng rng;
    cb_rng_seed(&rng, 5);
    double worst = 0;
    int checked = 0;
    for (size_t t = 0; t < p->ntensors; t++) {
        const cb_nn_tensor *ten = &p->tensors[t];
        const float *gt = g + ten->offset;
        double tmax = 0;
        for (size_t i = 0; i < ten->size; i++) tmax = fmax(tmax, fabs(gt[i]));
        if (tmax == 0) continue; /* not reached (an unused head, absent atom counts) */
        size_t pick[5];
        int np = pick_entries(gt, ten->size, &rng, pick);
        for (int q = 0; q < np; q++) {
            size_t i = ten->offset + pick[q];
            float w0 = p->w[i];
            float h = (float)(1e-2 * fmax(1.0, fabs(w0)) / 8);
            p->w[i] = w0 + h;
            double lp = loss(ctx, 0);
            p->w[i] = w0 - h;
            double lm = loss(ctx, 0);
            p->w[i] = w0;
            double num = (lp - lm) / ((double)(w0 + h) - (double)(w0 - h)), a = g[i];
            /* the float loss is good to ~1e-7 relative: a difference quotient of it to
             * about 1e-6·loss / h, below which no gradient can be told apart */
            double noise = 1e-6 * fabs(l0) / h;
            worst = fmax(worst, fabs(a - num) / (fmax(fabs(a), fabs(num)) + 0.05 * tmax + noise));
            if (fabs(a - num) > 2e-2 * fmax(fabs(a), fabs(num)) + 1e-3 * tmax + noise)
                fail_msg("%s: %s[%zu]: backward %.6g, central difference %.6g", label, ten->name, pick[q], a, num);
            checked++;
        }
    }
    printf("%s: loss %.5f, %d gradient entries checked, worst relative error %.2e\n", label, l0, checked, worst);
    free(g);
    return worst;
}

void cb_test_config_kv(cb_config *c, const char *source, const char *const (*kv)[2], size_t n, const char *epochs)
{
    cb_error err;
    assert_int_equal(cb_config_init(c, source, &err), CB_OK);
    for (size_t i = 0; i < n; i++) assert_int_equal(cb_config_set(c, kv[i][0], kv[i][1], &err), CB_OK);
    assert_int_equal(cb_config_set(c, "epochs", epochs, &err), CB_OK);
}

void *cb_test_new_model(const char *backend, const cb_config *cfg, unsigned task)
{
    const cb_model_ops *m = cb_model_find(backend);
    assert_non_null(m);
    void *st = NULL;
    cb_error err;
    if (m->create(cfg, task, &st, &err)) fail_msg("create: %s", err.msg);
    return st;
}

static volatile sig_atomic_t g_stop;

static int stop_now(void *user, long step, const char *const *names, const double *values, size_t n)
{
    (void)user, (void)step, (void)names, (void)values, (void)n;
    g_stop = 1;
    return 0;
}

void cb_test_resume_exact(const char *backend, const cb_config *cfg, unsigned task, const cb_dataset *set)
{
    const cb_model_ops *ops = cb_model_find(backend);
    cb_error err;
    char a[4200], b[4200], partial[4200];
    snprintf(a, sizeof a, "%s/%s-straight.ckpt", cb_test_scratch(), backend);
    snprintf(b, sizeof b, "%s/%s-resumed.ckpt", cb_test_scratch(), backend);
    snprintf(partial, sizeof partial, "%s/%s-partial.ckpt", cb_test_scratch(), backend);

    void *m = cb_test_new_model(backend, cfg, task);
    if (ops->train(m, set, set, NULL, &err)) fail_msg("train: %s", err.msg);
    assert_int_equal(ops->save(m, a, &err), CB_OK);
    ops->destroy(m);

    m = cb_test_new_model(backend, cfg, task);
    g_stop = 0;
    cb_train_ctx stop = {.log = stop_now, .stop = &g_stop};
    assert_int_equal(ops->train(m, set, set, &stop, &err), CB_ERR_INTERRUPTED);
    assert_non_null(strstr(err.msg, "interrupted at step"));
    assert_int_equal(ops->save(m, partial, &err), CB_OK);
    ops->destroy(m);
    m = cb_test_new_model(backend, cfg, task);
    assert_int_equal(ops->load(m, partial, &err), CB_OK);
    if (ops->train(m, set, set, NULL, &err)) fail_msg("train after load: %s", err.msg);
    assert_int_equal(ops->save(m, b, &err), CB_OK);
    ops->destroy(m);

    size_t la, lb;
    char *x = cb_test_read_file(a, &la), *y = cb_test_read_file(b, &lb);
    assert_true(x && y);
    assert_int_equal(la, lb);
    assert_memory_equal(x, y, la);
    printf("%s: trained straight = interrupted after the first epoch + resumed: %zu bytes identical\n", backend, la);
    free(x);
    free(y);
}

static int draw(const cb_model_ops *ops, void *m, unsigned task, const cb_dataset *set, cb_crystal *out,
                cb_error *err)
{
    cb_rng rng;
    cb_rng_seed(&rng, 2);
    return task == CB_TASK_DNG ? ops->sample_dng(m, 6, &rng, out, err)
                               : ops->predict_csp(m, set->items, 6, &rng, out, err);
}

void cb_test_samples_stable(const char *backend, const cb_config *cfg, unsigned task, const cb_dataset *set)
{
    const cb_model_ops *ops = cb_model_find(backend);
    cb_error err;
    cb_crystal out[2][6];
    cb_config one;
    assert_int_equal(cb_config_init(&one, cfg->source, &err), CB_OK);
    for (size_t i = 0; i < cfg->n; i++) assert_int_equal(cb_config_set(&one, cfg->keys[i], cfg->values[i], &err), CB_OK);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s-samples.ckpt", cb_test_scratch(), backend);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(cb_config_set(&one, "sample_threads", k ? "3" : "1", &err), CB_OK);
        void *m = cb_test_new_model(backend, &one, task);
        if (k == 0) {
            if (ops->train(m, set, NULL, NULL, &err)) fail_msg("train: %s", err.msg);
            assert_int_equal(ops->save(m, path, &err), CB_OK);
        } else {
            assert_int_equal(ops->load(m, path, &err), CB_OK);
        }
        if (draw(ops, m, task, set, out[k], &err)) fail_msg("sample: %s", err.msg);
        ops->destroy(m);
    }
    for (int i = 0; i < 6; i++) {
        const cb_crystal *a = &out[0][i], *b = &out[1][i];
        assert_int_equal(cb_crystal_check(a, "sample", &err), CB_OK);
        for (int j = 0; j < a->n; j++)
            for (int d = 0; d < 3; d++) assert_true(a->frac[j][d] >= 0 && a->frac[j][d] < 1);
        const char *failed = cb_crystal_prop(a, CB_GENERATION_FAILURE);
        if (task == CB_TASK_CSP && !(failed && *failed)) { /* a marked placeholder has its own atoms */
            assert_int_equal(a->n, set->items[i].n);
            assert_memory_equal(a->z, set->items[i].z, (size_t)a->n * sizeof *a->z);
            if (set->items[i].id) assert_string_equal(a->id, set->items[i].id);
        }
        assert_int_equal(b->n, a->n);
        assert_memory_equal(b->lattice, a->lattice, sizeof a->lattice);
        assert_memory_equal(b->frac, a->frac, (size_t)a->n * sizeof *a->frac);
        assert_memory_equal(b->z, a->z, (size_t)a->n * sizeof *a->z);
    }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 6; i++) cb_crystal_free(&out[k][i]);
    cb_config_free(&one);
}
