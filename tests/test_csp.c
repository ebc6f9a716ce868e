/* CSP metrics (match rate, RMSE, match@k) and uniqueness / novelty on small
 * hand-built sets, where every count is known in advance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crystalbench/csp.h"
#include "crystalbench/novelty.h"
#include "crystalbench/rng.h"

static void make(cb_crystal *c, const double params[6], int n, const int *z, const double (*frac)[3])
{
    memset(c, 0, sizeof *c);
    assert_int_equal(cb_crystal_alloc(c, n, NULL), CB_OK);
    cb_lattice_from_parameters(params, c->lattice);
    for (int i = 0; i < n; i++) {
        c->z[i] = z[i];
        memcpy(c->frac[i], frac[i], sizeof c->frac[i]);
    }
}

/* Rock salt NaCl (8-atom conventional cell), cubic SrTiO3, bcc Fe (2-atom cell). */
static void nacl(cb_crystal *c)
{
    static const double p[6] = {5.64, 5.64, 5.64, 90, 90, 90};
    static const int z[8] = {11, 11, 11, 11, 17, 17, 17, 17};
    static const double f[8][3] = {{0, 0, 0},     {0, .5, .5},  {.5, 0, .5},  {.5, .5, 0},
                                   {.5, .5, .5}, {.5, 0, 0},   {0, .5, 0},   {0, 0, .5}};
    make(c, p, 8, z, f);
}

static void srtio3(cb_crystal *c, double c_over_a)
{
    double p[6] = {3.905, 3.905, 3.905 * c_over_a, 90, 90, 90};
    static const int z[5] = {38, 22, 8, 8, 8};
    static const double f[5][3] = {{0, 0, 0}, {.5, .5, .5}, {.5, .5, 0}, {.5, 0, .5}, {0, .5, .5}};
    make(c, p, 5, z, f);
}

static void bcc_fe(cb_crystal *c)
{
    static const double p[6] = {2.87, 2.87, 2.87, 90, 90, 90};
    static const int z[2] = {26, 26};
    static const double f[2][3] = {{0, 0, 0}, {.5, .5, .5}};
    make(c, p, 2, z, f);
}

/* Two sites d Å apart along a in a 10 Å cube (NaCl composition). */
static void pair(cb_crystal *c, double d)
{
    static const double p[6] = {10, 10, 10, 90, 90, 90};
    static const int z[2] = {11, 17};
    double f[2][3] = {{0, 0, 0}, {d / 10.0, 0, 0}};
    make(c, p, 2, z, (const double(*)[3])f);
}

/* Gaussian noise of sigma Å on every Cartesian coordinate. */
static void perturb(cb_crystal *c, double sigma, uint64_t seed)
{
    cb_rng r;
    cb_rng_seed(&r, seed);
    double inv[3][3];
    assert_true(cb_mat3_inverse(c->lattice, inv));
    for (int i = 0; i < c->n; i++) {
        double cart[3];
        cb_frac_to_cart(c->lattice, c->frac[i], cart);
        for (int k = 0; k < 3; k++) cart[k] += sigma * cb_rng_normal(&r);
        cb_cart_to_frac(inv, cart, c->frac[i]);
    }
}

static void copy(cb_crystal *dst, const cb_crystal *src) { assert_int_equal(cb_crystal_copy(dst, src, NULL), CB_OK); }

static void free_all(cb_crystal *c, size_t n)
{
    for (size_t i = 0; i < n; i++) cb_crystal_free(&c[i]);
}

static cb_csp_result evaluate(cb_protocol p, const cb_crystal *preds, const cb_crystal *targets, size_t m, size_t k,
                              double *rms)
{
    cb_csp_opts o;
    cb_csp_opts_default(&o);
    o.protocol = p;
    cb_csp_result res;
    cb_error err;
    if (cb_csp_evaluate(&o, preds, targets, m, k, rms, &res, &err)) fail_msg("%s", err.msg);
    return res;
}

static void test_identical_sets(void **state)
{
    (void)state;
    cb_crystal t[4], p[4];
    nacl(&t[0]);
    srtio3(&t[1], 1.0);
    bcc_fe(&t[2]);
    srtio3(&t[3], 1.2);
    perturb(&t[3], 0.05, 7);
    for (int i = 0; i < 4; i++) copy(&p[i], &t[i]);
    for (int proto = 0; proto < 3; proto++) {
        double rms[4];
        cb_csp_result r = evaluate((cb_protocol)proto, p, t, 4, 1, rms);
        assert_int_equal(r.n_targets, 4);
        assert_int_equal(r.n_matched, 4);
        assert_int_equal(r.n_valid_pred, 4);
        assert_int_equal(r.n_valid_targets, 4);
        assert_true(r.match_rate == 1.0);
        assert_true(r.rms_dist < 1e-10);
        for (int i = 0; i < 4; i++) assert_true(rms[i] < 1e-10);
    }
    /* The same with several threads (results do not depend on them). */
    cb_csp_opts o;
    cb_csp_opts_default(&o);
    o.threads = 3;
    cb_csp_result r;
    assert_int_equal(cb_csp_evaluate(&o, p, t, 4, 1, NULL, &r, NULL), CB_OK);
    assert_int_equal(r.n_matched, 4);
    free_all(t, 4);
    free_all(p, 4);
}

static void test_invalid_prediction_is_a_miss(void **state)
{
    (void)state;
    cb_crystal t[3], p[3];
    nacl(&t[0]);
    srtio3(&t[1], 1.0);
    bcc_fe(&t[2]);
    for (int i = 0; i < 3; i++) copy(&p[i], &t[i]);
    perturb(&p[1], 0.02, 11);
    /* Prediction 0: a Cl moved to 0.2 Å from a Na — structurally invalid. */
    p[0].frac[4][0] = 0.2 / 5.64, p[0].frac[4][1] = 0, p[0].frac[4][2] = 0;
    double rms[3];
    cb_csp_result r = evaluate(CB_PROTOCOL_CDVAE, p, t, 3, 1, rms);
    assert_int_equal(r.n_valid_pred, 2);
    assert_int_equal(r.n_tried, 2);
    assert_int_equal(r.n_matched, 2);
    assert_true(fabs(r.match_rate - 2.0 / 3.0) < 1e-15);
    assert_true(isnan(rms[0]));
    /* RMSE: mean over the matched pairs only. */
    assert_true(fabs(r.rms_dist - (rms[1] + rms[2]) / 2) < 1e-15);
    assert_true(rms[1] > 0 && rms[1] < 0.1);
    printf("invalid prediction: match rate %.4f, RMSE %.6f\n", r.match_rate, r.rms_dist);

    /* Nothing matched: RMSE is NaN, match rate 0. */
    cb_csp_result none = evaluate(CB_PROTOCOL_CDVAE, p, t, 1, 1, NULL);
    assert_int_equal(none.n_matched, 0);
    assert_true(none.match_rate == 0.0);
    assert_true(isnan(none.rms_dist));
    free_all(t, 3);
    free_all(p, 3);
}

/* An invalid TARGET: CDVAE still tries the pair, DiffCSP/FlowMM do not (k = 1); with
 * k > 1 only the prediction is checked; no_gate tries everything. */
static void test_validity_gate(void **state)
{
    (void)state;
    cb_crystal t, p;
    pair(&t, 0.45); /* struct-invalid target */
    pair(&p, 0.55); /* valid prediction */
    cb_csp_result r = evaluate(CB_PROTOCOL_CDVAE, &p, &t, 1, 1, NULL);
    assert_int_equal(r.n_valid_targets, 0);
    assert_int_equal(r.n_matched, 1);
    r = evaluate(CB_PROTOCOL_DIFFCSP, &p, &t, 1, 1, NULL);
    assert_int_equal(r.n_tried, 0);
    assert_int_equal(r.n_matched, 0);
    r = evaluate(CB_PROTOCOL_FLOWMM, &p, &t, 1, 1, NULL);
    assert_int_equal(r.n_matched, 0);
    cb_crystal p2[2];
    copy(&p2[0], &p);
    copy(&p2[1], &p);
    r = evaluate(CB_PROTOCOL_DIFFCSP, p2, &t, 1, 2, NULL);
    assert_int_equal(r.n_matched, 1);
    cb_csp_opts o;
    cb_csp_opts_default(&o);
    o.no_gate = 1;
    assert_int_equal(cb_csp_evaluate(&o, &t, &t, 1, 1, NULL, &r, NULL), CB_OK);
    assert_int_equal(r.n_valid_pred, 0);
    assert_int_equal(r.n_matched, 1);
    free_all(p2, 2);
    cb_crystal_free(&t);
    cb_crystal_free(&p);
}

static void test_match_at_k(void **state)
{
    (void)state;
    enum { K = 4 };
    cb_crystal t[2], p[2 * K];
    srtio3(&t[0], 1.0);
    nacl(&t[1]);
    /* Target 0: noisy (0.15 Å), less noisy (0.03 Å), invalid, another structure. */
    copy(&p[0], &t[0]);
    perturb(&p[0], 0.15, 1);
    copy(&p[1], &t[0]);
    perturb(&p[1], 0.03, 2);
    copy(&p[2], &t[0]);
    p[2].frac[2][0] = p[2].frac[1][0] + 0.01, p[2].frac[2][1] = p[2].frac[1][1], p[2].frac[2][2] = p[2].frac[1][2];
    srtio3(&p[3], 2.0);
    /* Target 1: only the last prediction matches. */
    bcc_fe(&p[4]);
    srtio3(&p[5], 1.0);
    pair(&p[6], 2.8);
    copy(&p[7], &t[1]);
    perturb(&p[7], 0.05, 3);

    double rms[2];
    cb_csp_result r = evaluate(CB_PROTOCOL_DIFFCSP, p, t, 2, K, rms);
    assert_int_equal(r.k, K);
    assert_int_equal(r.n_pred, 2 * K);
    assert_int_equal(r.n_valid_pred, 2 * K - 1);
    assert_int_equal(r.n_matched, 2);
    /* The best of the k is each single prediction's own result, minimised. */
    double single[2 * K];
    for (int t_i = 0; t_i < 2; t_i++)
        for (int j = 0; j < K; j++) {
            cb_crystal *tp = &t[t_i];
            single[t_i * K + j] = NAN;
            cb_csp_result one = evaluate(CB_PROTOCOL_DIFFCSP, &p[t_i * K + j], tp, 1, 1, &single[t_i * K + j]);
            (void)one;
        }
    assert_true(!isnan(single[0]) && !isnan(single[1]) && isnan(single[2]) && isnan(single[3]));
    assert_true(single[1] < single[0]);
    assert_true(rms[0] == single[1]);
    assert_true(isnan(single[4]) && isnan(single[5]) && isnan(single[6]) && !isnan(single[7]));
    assert_true(rms[1] == single[7]);
    assert_true(fabs(r.rms_dist - (rms[0] + rms[1]) / 2) < 1e-15);
    printf("match@%d: best rms %.6f (of %.6f, %.6f) and %.6f\n", K, rms[0], single[0], single[1], rms[1]);
    free_all(t, 2);
    free_all(p, 2 * K);
}

static void test_uniqueness_and_novelty(void **state)
{
    (void)state;
    /* A, A' (A + 0.01 Å noise), B, A'' (0.02 Å), C (same formula as A, other lattice),
     * D (bcc Fe). */
    cb_crystal s[6];
    srtio3(&s[0], 1.0);
    copy(&s[1], &s[0]);
    perturb(&s[1], 0.01, 5);
    nacl(&s[2]);
    copy(&s[3], &s[0]);
    perturb(&s[3], 0.02, 6);
    srtio3(&s[4], 1.6);
    bcc_fe(&s[5]);
    unsigned char flags[6];
    cb_dedup_result r;
    cb_error err;
    if (cb_uniqueness(NULL, s, 6, flags, NULL, &r, &err)) fail_msg("%s", err.msg);
    static const unsigned char want_u[6] = {1, 0, 1, 0, 1, 1};
    for (int i = 0; i < 6; i++)
        if (flags[i] != want_u[i]) fail_msg("uniqueness of sample %d: %d, expected %d", i, flags[i], want_u[i]);
    assert_int_equal(r.n_hit, 4);
    assert_true(fabs(r.fraction - 4.0 / 6.0) < 1e-15);
    /* Only same-formula pairs are compared: SrTiO3 has 4 samples; A' stops at A, A''
     * stops at A, C is compared with A, A', A'' (at most 1 + 1 + 3 = 5 calls). */
    assert_true(r.n_compared <= 5);
    assert_int_equal(r.n_errors, 0);
    printf("uniqueness %.4f (%zu comparisons)\n", r.fraction, r.n_compared);

    /* Novelty against a "training set" {A, D}: A', A'' and D are known. */
    cb_crystal ref[2];
    copy(&ref[0], &s[0]);
    copy(&ref[1], &s[5]);
    if (cb_novelty(NULL, s + 1, 5, ref, 2, flags, NULL, &r, &err)) fail_msg("%s", err.msg);
    static const unsigned char want_n[5] = {0, 1, 0, 1, 0};
    for (int i = 0; i < 5; i++)
        if (flags[i] != want_n[i]) fail_msg("novelty of sample %d: %d, expected %d", i + 1, flags[i], want_n[i]);
    assert_int_equal(r.n_hit, 2);
    assert_true(fabs(r.fraction - 0.4) < 1e-15);
    assert_true(r.n_compared <= 4); /* NaCl has no same-formula reference */

    /* Empty inputs. */
    assert_int_equal(cb_uniqueness(NULL, s, 0, NULL, NULL, &r, NULL), CB_OK);
    assert_true(isnan(r.fraction));
    assert_int_equal(cb_novelty(NULL, s, 2, ref, 0, flags, NULL, &r, NULL), CB_OK);
    assert_int_equal(r.n_hit, 2);
    free_all(s, 6);
    free_all(ref, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identical_sets),     cmocka_unit_test(test_invalid_prediction_is_a_miss),
        cmocka_unit_test(test_validity_gate),      cmocka_unit_test(test_match_at_k),
        cmocka_unit_test(test_uniqueness_and_novelty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
