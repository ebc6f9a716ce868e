/* FlowMM geometry and statistics (models/flowmm/manifold.h): the flat torus (log map,
 * geodesic, velocity, drift removal), the lattice-parameter transform (hand values,
 * round trips on every MP-20 val cell, its Jacobian against a finite difference), the
 * base distributions, analog bits, the atom-count histogram, the statistics (against
 * FlowMM's shipped tables) and their serialisation, the Euler pieces and the
 * preprocessing.  Tests that need ../shared/data skip with a printed reason. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/flowmm/manifold.h"
#include "testutil.h"

/* |got − want| ≤ tol */
static void assert_near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol)) fail_msg("got %.17g, want %.17g (tol %g)", got, want, tol);
}

/* |got − want| ≤ tol·|want| */
static void assert_rel(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol * fabs(want)))
        fail_msg("got %.9g, want %.9g (rel. tol %g)", got, want, tol);
}

/* ---- shared datasets, loaded once and preprocessed (models.md §1.3) ------------------ */

typedef struct loaded {
    const char *rel;
    int tried;
    cb_dataset raw, prep; /* as read; Niggli-reduced in canonical orientation */
} loaded;

static loaded MP20_VAL = {"mp_20/val.csv", 0, {0}, {0}};
static loaded PEROV_VAL = {"perov_5/val.csv", 0, {0}, {0}};

/* The dataset, or NULL (after a printed reason) when shared/ or the file is absent. */
static loaded *get_data(loaded *d)
{
    if (!d->tried) {
        d->tried = 1;
        const char *path = cb_test_data_file(d->rel);
        if (!path) return NULL;
        cb_error err;
        if (cb_dataset_load(path, CB_FORMAT_AUTO, &d->raw, &err)) fail_msg("%s", err.msg);
        for (size_t i = 0; i < d->raw.n; i++) {
            cb_crystal c;
            if (cb_flowmm_preprocess(&d->raw.items[i], &c, &err)) fail_msg("%s", err.msg);
            if (cb_dataset_take(&d->prep, &c, &err)) fail_msg("%s", err.msg);
        }
    }
    if (d->raw.n == 0) {
        print_message("SKIP: %s is not available (CB_SHARED_DIR)\n", d->rel);
        return NULL;
    }
    return d;
}

static int teardown_data(void **state)
{
    (void)state;
    loaded *all[] = {&MP20_VAL, &PEROV_VAL};
    for (int i = 0; i < 2; i++) {
        cb_dataset_free(&all[i]->raw);
        cb_dataset_free(&all[i]->prep);
    }
    return 0;
}

/* ---- flat torus ---------------------------------------------------------------------- */

static void test_wrap_and_log_hand_values(void **state)
{
    (void)state;
    assert_true(cb_wrap01(-1e-20) == 0.0); /* 1 − 1e−20 rounds to 1: the point 0 */
    assert_near(cb_wrap01(-0.25), 0.75, 0);
    assert_near(cb_wrap01(3.5), 0.5, 0);
    assert_near(cb_flowmm_torus_log(0.9, 0.1), 0.2, 1e-15);
    assert_near(cb_flowmm_torus_log(0.1, 0.9), -0.2, 1e-15);
    assert_near(cb_flowmm_torus_log(0.3, 0.4), 0.1, 1e-15);
    /* |d| = ½: both directions give −½ (FlowMM's atan2 gives +½ there). */
    assert_true(cb_flowmm_torus_log(0.25, 0.75) == -0.5);
    assert_true(cb_flowmm_torus_log(0.75, 0.25) == -0.5);
    /* d + 0.5 rounds up to 1 here; the result must still lie in [−½, ½). */
    double r = cb_flowmm_torus_log(0.0, 0.5 - 0x1p-54);
    assert_true(r >= -0.5 && r < 0.5);
}

static void test_log_range_and_antisymmetry(void **state)
{
    (void)state;
    cb_rng rng;
    cb_rng_seed(&rng, 11);
    for (int i = 0; i < 200000; i++) {
        /* Points on and off [0, 1): the log map takes any representatives. */
        double x = 8.0 * cb_rng_uniform(&rng) - 4.0, y = 8.0 * cb_rng_uniform(&rng) - 4.0;
        double a = cb_flowmm_torus_log(x, y), b = cb_flowmm_torus_log(y, x);
        assert_true(a >= -0.5 && a < 0.5);
        assert_true(b >= -0.5 && b < 0.5);
        if (fabs(fabs(a) - 0.5) > 1e-12) assert_near(a, -b, 4e-15);
        /* x + log(x, y) is y modulo 1 */
        double back = cb_flowmm_torus_log(y, x + a);
        assert_near(back, 0.0, 4e-15);
    }
}

#define NAT 12

static void random_points(double (*x)[3], int n, cb_rng *rng)
{
    cb_flowmm_torus_uniform(x, n, rng);
}

static void test_geodesic_endpoints(void **state)
{
    (void)state;
    cb_rng rng;
    cb_rng_seed(&rng, 12);
    double x0[NAT][3], x1[NAT][3], xt[NAT][3];
    for (int rep = 0; rep < 200; rep++) {
        random_points(x0, NAT, &rng);
        random_points(x1, NAT, &rng);
        cb_flowmm_torus_interp((const double(*)[3])x0, (const double(*)[3])x1, NAT, 0.0, xt);
        for (int i = 0; i < NAT; i++)
            for (int c = 0; c < 3; c++) assert_true(xt[i][c] == x0[i][c]);
        cb_flowmm_torus_interp((const double(*)[3])x0, (const double(*)[3])x1, NAT, 1.0, xt);
        for (int i = 0; i < NAT; i++)
            for (int c = 0; c < 3; c++) {
                assert_true(xt[i][c] >= 0.0 && xt[i][c] < 1.0);
                assert_near(cb_flowmm_torus_log(x1[i][c], xt[i][c]), 0.0, 4e-16);
            }
    }
    /* Hand value: 0.9 → 0.1 goes forward through 0: halfway is 0.0. */
    double a[1][3] = {{0.9, 0.1, 0.5}}, b[1][3] = {{0.1, 0.9, 0.5}}, m[1][3];
    cb_flowmm_torus_interp((const double(*)[3])a, (const double(*)[3])b, 1, 0.5, m);
    assert_near(fabs(cb_flowmm_torus_log(0.0, m[0][0])), 0.0, 1e-15);
    assert_near(fabs(cb_flowmm_torus_log(0.0, m[0][1])), 0.0, 1e-15);
    assert_near(m[0][2], 0.5, 0);
}

static void test_velocity_is_path_derivative(void **state)
{
    (void)state;
    cb_rng rng;
    cb_rng_seed(&rng, 13);
    double x0[NAT][3], x1[NAT][3], xm[NAT][3], xp[NAT][3], u[NAT][3];
    const double h = 1e-6;
    for (int rep = 0; rep < 100; rep++) {
        random_points(x0, NAT, &rng);
        random_points(x1, NAT, &rng);
        double t = 0.05 + 0.9 * cb_rng_uniform(&rng);
        cb_flowmm_torus_interp((const double(*)[3])x0, (const double(*)[3])x1, NAT, t - h, xm);
        cb_flowmm_torus_interp((const double(*)[3])x0, (const double(*)[3])x1, NAT, t + h, xp);
        cb_flowmm_torus_velocity((const double(*)[3])x0, (const double(*)[3])x1, NAT, u);
        for (int i = 0; i < NAT; i++)
            for (int c = 0; c < 3; c++) {
                double fd = cb_flowmm_torus_log(xm[i][c], xp[i][c]) / (2 * h);
                assert_near(fd, u[i][c], 1e-8);
            }
    }
    /* The lattice: straight in ℓ, so dθ/dt = (dθ/dφ)·u_φ along the path. */
    for (int rep = 0; rep < 100; rep++) {
        double l0[6], l1[6], lm[6], lp[6], ul[6], pm[6], pp[6], lt[6];
        for (int k = 0; k < 6; k++) {
            l0[k] = 6.0 * cb_rng_uniform(&rng) - 3.0;
            l1[k] = 6.0 * cb_rng_uniform(&rng) - 3.0;
        }
        double t = 0.05 + 0.9 * cb_rng_uniform(&rng);
        cb_flowmm_euclid_interp(l0, l1, 6, t - h, lm);
        cb_flowmm_euclid_interp(l0, l1, 6, t + h, lp);
        cb_flowmm_euclid_interp(l0, l1, 6, t, lt);
        cb_flowmm_euclid_velocity(l0, l1, 6, ul);
        cb_flowmm_lattice_from_uncon(lm, pm);
        cb_flowmm_lattice_from_uncon(lp, pp);
        for (int k = 0; k < 6; k++) assert_near((lp[k] - lm[k]) / (2 * h), ul[k], 1e-8);
        for (int k = 3; k < 6; k++) {
            double fd = (pp[k] - pm[k]) / (2 * h);
            double an = cb_flowmm_angle_dtheta_dphi(lt[k]) * ul[k];
            assert_near(fd, an, 1e-6 * (1 + fabs(an)));
        }
    }
}

static void test_drift_removal(void **state)
{
    (void)state;
    cb_rng rng;
    cb_rng_seed(&rng, 14);
    double u[20][3];
    float uf[20][3];
    for (int n = 1; n <= 20; n++) {
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) {
                u[i][c] = cb_rng_uniform(&rng) - 0.3;
                uf[i][c] = (float)u[i][c];
            }
        double before[20][3];
        memcpy(before, u, sizeof u);
        cb_flowmm_torus_remove_drift(u, n);
        cb_flowmm_torus_remove_drift_f(uf, n);
        for (int c = 0; c < 3; c++) {
            double s = 0, sf = 0, mean0 = 0;
            for (int i = 0; i < n; i++) {
                s += u[i][c];
                sf += uf[i][c];
                mean0 += before[i][c];
            }
            mean0 /= n;
            assert_near(s / n, 0.0, 1e-16);
            assert_near(sf / n, 0.0, 1e-7);
            /* the projection subtracts the mean and nothing else */
            for (int i = 0; i < n; i++) assert_near(u[i][c], before[i][c] - mean0, 1e-15);
        }
        if (n == 1)
            for (int c = 0; c < 3; c++) assert_true(u[0][c] == 0.0);
        /* idempotent */
        double again[20][3];
        memcpy(again, u, sizeof u);
        cb_flowmm_torus_remove_drift(again, n);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) assert_near(again[i][c], u[i][c], 1e-15);
    }
    cb_flowmm_torus_remove_drift(u, 0); /* no-op, no division by zero */
}

/* ---- lattice-parameter manifold -------------------------------------------------------- */

/* Values computed by hand from models.md §3.2 (θ_lo = float32(59.9) =
 * 59.900001525878906, width = float32(120.1) − float32(59.9) = 60.19999694824219, as
 * FlowMM's float32 buffers in lattice_params.py hold them). */
static void test_angle_transform_hand_values(void **state)
{
    (void)state;
    assert_true(CB_FLOWMM_ANGLE_LO == 59.900001525878906);
    assert_true(CB_FLOWMM_ANGLE_WIDTH == 60.19999694824219);
    /* p = ½ → φ = 0, exactly (perov's angle_uncon_mean is 0.0 in FlowMM's table). */
    assert_true(cb_flowmm_angle_to_uncon(90.0) == 0.0);
    assert_true(cb_flowmm_angle_from_uncon(0.0) == 90.0);
    /* p = ¼, ¾ → φ = ∓ln 3 */
    double w = CB_FLOWMM_ANGLE_WIDTH, lo = CB_FLOWMM_ANGLE_LO;
    assert_near(cb_flowmm_angle_to_uncon(lo + 0.25 * w), -log(3.0), 1e-13);
    assert_near(cb_flowmm_angle_to_uncon(lo + 0.75 * w), log(3.0), 1e-13);
    /* 60°: p = 0.0999984741/60.1999969 = 0.0016611043054880696, φ = ln(p/(1−p)) */
    assert_near(cb_flowmm_angle_to_uncon(60.0), -6.398610168051686, 1e-12);
    assert_near(cb_flowmm_angle_to_uncon(120.0), 6.398610168051699, 1e-12);
    /* φ = 1: θ = lo + w/(1 + e⁻¹) = 103.90972572839146, dθ/dφ = w σ(1−σ) = 11.836037781125203 */
    assert_near(cb_flowmm_angle_from_uncon(1.0), 103.90972572839146, 1e-12);
    assert_near(cb_flowmm_angle_dtheta_dphi(1.0), 11.836037781125203, 1e-12);
    assert_near(cb_flowmm_angle_dtheta_dphi(0.0), w / 4, 1e-14);
    /* Clamps (torch.finfo(float32)): p → tiny gives ln(2⁻¹²⁶), p → 1 − 2⁻²³ gives ln(2²³ − 1). */
    assert_near(cb_flowmm_angle_to_uncon(50.0), -87.3365447505531, 1e-12);
    assert_near(cb_flowmm_angle_to_uncon(lo), -87.3365447505531, 1e-12);
    assert_near(cb_flowmm_angle_to_uncon(130.0), 15.942385033669446, 1e-12);
    assert_near(cb_flowmm_angle_from_uncon(100.0), lo + w * (1.0 - FLT_EPSILON), 1e-12);
    assert_true(cb_flowmm_angle_from_uncon(-1000.0) == lo); /* lo + w·FLT_MIN rounds to lo */
    assert_false(cb_flowmm_angle_in_domain(59.9));
    assert_true(cb_flowmm_angle_in_domain(59.9001));
    assert_true(cb_flowmm_angle_in_domain(120.0999));
    assert_false(cb_flowmm_angle_in_domain(120.1));
    /* lengths pass through; angles of a cubic cell map to 0 */
    double p[6] = {4.1, 5.2, 6.3, 90, 90, 90}, l[6];
    cb_flowmm_lattice_to_uncon(p, l);
    for (int k = 0; k < 3; k++) assert_true(l[k] == p[k] && l[3 + k] == 0.0);
}

static void test_lattice_roundtrip_mp20_val(void **state)
{
    (void)state;
    loaded *d = get_data(&MP20_VAL);
    if (!d) skip();
    size_t raw_out = 0;
    double worst = 0;
    for (size_t i = 0; i < d->raw.n; i++) {
        double rp[6];
        cb_lattice_parameters(d->raw.items[i].lattice, rp);
        for (int k = 3; k < 6; k++)
            if (!cb_flowmm_angle_in_domain(rp[k])) {
                raw_out++;
                break;
            }
        double p[6], l[6], q[6], m[3][3], dec[6];
        cb_lattice_parameters(d->prep.items[i].lattice, p);
        for (int k = 3; k < 6; k++) assert_true(cb_flowmm_angle_in_domain(p[k]));
        cb_flowmm_lattice_to_uncon(p, l);
        cb_flowmm_lattice_from_uncon(l, q);
        for (int k = 0; k < 6; k++) {
            double e = fabs(q[k] - p[k]);
            if (e > worst) worst = e;
            if (e > 1e-12) fail_msg("crystal %zu (%s) param %d: %.17g -> %.17g -> %.17g", i + 1,
                                    d->prep.items[i].id, k, p[k], l[k], q[k]);
        }
        /* decode into a matrix: same parameters back (pymatgen's conversions) */
        assert_int_equal(cb_flowmm_lattice_decode(l, dec, m), 1);
        double back[6];
        cb_lattice_parameters(m, back);
        for (int k = 0; k < 6; k++) assert_near(back[k], p[k], 1e-9 * (1 + fabs(p[k])));
    }
    print_message("mp_20 val: %zu cells round-trip, worst |Δ| %.3g; %zu raw cells had an angle "
                  "outside (59.9, 120.1) before Niggli reduction\n",
                  d->prep.n, worst, raw_out);
}

static void test_lattice_decode_invalid(void **state)
{
    (void)state;
    double l[6] = {-1.0, 0.2, 5.0, 0, 0, 0}, p[6], m[3][3];
    assert_int_equal(cb_flowmm_lattice_decode(l, p, m), 0);
    assert_true(p[0] == CB_FLOWMM_MIN_LENGTH && p[1] == CB_FLOWMM_MIN_LENGTH && p[2] == 5.0);
    l[0] = 0.2; /* small but positive: clamped, still a valid sample */
    assert_int_equal(cb_flowmm_lattice_decode(l, p, m), 1);
    l[4] = NAN;
    assert_int_equal(cb_flowmm_lattice_decode(l, p, m), 0);
}

/* ---- base distributions ------------------------------------------------------------------ */

static void test_base_distributions(void **state)
{
    (void)state;
    cb_flowmm_lattice_stats lat;
    cb_error err;
    assert_int_equal(cb_flowmm_stats_reference("mp_20", &lat, NULL, &err), CB_OK);
    cb_rng rng;
    cb_rng_seed(&rng, 15);
    const int n = 200000;
    double s1[6] = {0}, s2[6] = {0};
    int neg[3] = {0};
    for (int i = 0; i < n; i++) {
        double l[6];
        cb_flowmm_lattice_base(&lat, &rng, l);
        for (int k = 0; k < 3; k++) {
            assert_true(l[k] > 0);
            double g = log(l[k]);
            s1[k] += g;
            s2[k] += g * g;
            s1[3 + k] += l[3 + k];
            s2[3 + k] += l[3 + k] * l[3 + k];
            neg[k] += l[3 + k] < 0;
        }
    }
    for (int k = 0; k < 3; k++) {
        double m = s1[k] / n, sd = sqrt(s2[k] / n - m * m);
        assert_near(m, lat.length_log_mean[k], 0.005);
        assert_rel(sd, lat.length_log_std[k], 0.01);
        /* standard logistic: mean 0, variance π²/3, median 0 */
        double ma = s1[3 + k] / n, va = s2[3 + k] / n - ma * ma;
        assert_near(ma, 0.0, 0.02);
        assert_rel(va, M_PI * M_PI / 3, 0.03);
        assert_near((double)neg[k] / n, 0.5, 0.005);
    }
    /* torus: U[0, 1) per coordinate */
    double x[1000][3], sx = 0;
    for (int r = 0; r < 20; r++) {
        cb_flowmm_torus_uniform(x, 1000, &rng);
        for (int i = 0; i < 1000; i++)
            for (int c = 0; c < 3; c++) {
                assert_true(x[i][c] >= 0 && x[i][c] < 1);
                sx += x[i][c];
            }
    }
    assert_near(sx / 60000, 0.5, 0.005);
    /* analog bits: N(0, 1) */
    double a[1000][CB_FLOWMM_ABITS], sa = 0, sa2 = 0;
    for (int r = 0; r < 20; r++) {
        cb_flowmm_abits_base(a, 1000, &rng);
        for (int i = 0; i < 1000; i++)
            for (int j = 0; j < CB_FLOWMM_ABITS; j++) {
                sa += a[i][j];
                sa2 += a[i][j] * a[i][j];
            }
    }
    assert_near(sa / 140000, 0.0, 0.01);
    assert_near(sa2 / 140000, 1.0, 0.02);
    /* same seed, same draws */
    cb_rng r1, r2;
    cb_rng_seed(&r1, 99);
    cb_rng_seed(&r2, 99);
    double la[6], lb[6];
    cb_flowmm_lattice_base(&lat, &r1, la);
    cb_flowmm_lattice_base(&lat, &r2, lb);
    assert_memory_equal(la, lb, sizeof la);
}

/* ---- analog bits ------------------------------------------------------------------------- */

static void test_analog_bits(void **state)
{
    (void)state;
    assert_int_equal(cb_flowmm_abits_count(100), 7);
    assert_int_equal(cb_flowmm_abits_count(1), 1);
    assert_int_equal(cb_flowmm_abits_count(64), 7);
    assert_int_equal(cb_flowmm_abits_count(63), 6);
    cb_error err;
    double a[CB_FLOWMM_ABITS];
    for (int z = 1; z <= 100; z++) {
        assert_int_equal(cb_flowmm_abits_encode(z, 1.0, a, &err), CB_OK);
        for (int j = 0; j < CB_FLOWMM_ABITS; j++) assert_true(a[j] == 1.0 || a[j] == -1.0);
        assert_int_equal(cb_flowmm_abits_decode(a), z);
        /* any positive scale and any noise that keeps the signs */
        assert_int_equal(cb_flowmm_abits_encode(z, 0.37, a, &err), CB_OK);
        for (int j = 0; j < CB_FLOWMM_ABITS; j++) a[j] *= 2.5;
        assert_int_equal(cb_flowmm_abits_decode(a), z);
    }
    /* By hand: Z = 100 → 99 = 1100011₂ → LSB first 1,1,0,0,0,1,1. */
    double want100[7] = {1, 1, -1, -1, -1, 1, 1};
    cb_flowmm_abits_encode(100, 1.0, a, &err);
    assert_memory_equal(a, want100, sizeof a);
    /* Z = 26 (Fe) → 25 = 0011001₂ → 1,0,0,1,1,0,0; Z = 1 → all −1. */
    double want26[7] = {1, -1, -1, 1, 1, -1, -1};
    cb_flowmm_abits_encode(26, 1.0, a, &err);
    assert_memory_equal(a, want26, sizeof a);
    cb_flowmm_abits_encode(1, 1.0, a, &err);
    for (int j = 0; j < 7; j++) assert_true(a[j] == -1.0);
    /* 7 bits hold codes up to 128; an exact 0 is bit 0 */
    assert_int_equal(cb_flowmm_abits_encode(128, 1.0, a, &err), CB_OK);
    assert_int_equal(cb_flowmm_abits_decode(a), 128);
    double zero[7] = {0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(cb_flowmm_abits_decode(zero), 1);
    assert_int_equal(cb_flowmm_abits_encode(0, 1.0, a, &err), CB_ERR_USAGE);
    assert_int_equal(cb_flowmm_abits_encode(129, 1.0, a, &err), CB_ERR_USAGE);
}

/* ---- number of atoms ---------------------------------------------------------------------- */

static void test_natoms_perov_all_five(void **state)
{
    (void)state;
    loaded *d = get_data(&PEROV_VAL);
    if (!d) skip();
    cb_flowmm_natoms h;
    cb_error err;
    assert_int_equal(cb_flowmm_natoms_count(&d->raw, &h, &err), CB_OK);
    assert_int_equal(h.total, d->raw.n);
    assert_int_equal(h.max_n, 5);
    assert_int_equal(h.count[5], d->raw.n);
    for (int n = 0; n <= CB_FLOWMM_MAX_ATOMS; n++)
        if (n != 5) assert_int_equal(h.count[n], 0);
    assert_true(cb_flowmm_natoms_prob(&h, 5) == 1.0);
    cb_rng rng;
    cb_rng_seed(&rng, 16);
    for (int i = 0; i < 1000; i++) assert_int_equal(cb_flowmm_natoms_sample(&h, &rng), 5);
}

static void test_natoms_sampling_frequencies(void **state)
{
    (void)state;
    cb_flowmm_natoms h;
    memset(&h, 0, sizeof h);
    /* a skewed histogram with holes, as carbon's even-only sizes */
    h.count[2] = 1;
    h.count[4] = 6;
    h.count[6] = 3;
    h.count[9] = 10;
    h.total = 20;
    h.max_n = 9;
    cb_rng rng;
    cb_rng_seed(&rng, 17);
    int seen[10] = {0};
    const int draws = 400000;
    for (int i = 0; i < draws; i++) {
        int n = cb_flowmm_natoms_sample(&h, &rng);
        assert_true(n >= 0 && n <= 9);
        seen[n]++;
    }
    for (int n = 0; n <= 9; n++) {
        double p = cb_flowmm_natoms_prob(&h, n);
        if (p == 0) assert_int_equal(seen[n], 0);
        else assert_near((double)seen[n] / draws, p, 0.004);
    }
    assert_true(cb_flowmm_natoms_prob(&h, 4) == 0.3);
    assert_true(cb_flowmm_natoms_prob(&h, 10) == 0.0);
    cb_flowmm_natoms empty;
    memset(&empty, 0, sizeof empty);
    assert_int_equal(cb_flowmm_natoms_sample(&empty, &rng), 0);
}

/* ---- statistics --------------------------------------------------------------------------- */

static void print_row(const char *name, const double *got, const double *ref, int n)
{
    char line[512];
    int k = snprintf(line, sizeof line, "  %-18s", name);
    for (int i = 0; i < n && k < (int)sizeof line; i++)
        k += snprintf(line + k, sizeof line - (size_t)k, " %8.4f (%8.4f)", got[i], ref[i]);
    print_message("%s\n", line);
}

/* Our statistics of a val split against FlowMM's (train split): the same distribution,
 * so they agree to a few percent, not exactly.  Printed as ours (FlowMM's). */
static void compare_with_reference(const char *key, const cb_flowmm_stats *s)
{
    cb_flowmm_lattice_stats rl;
    cb_flowmm_affine_stats ra;
    cb_error err;
    assert_int_equal(cb_flowmm_stats_reference(key, &rl, &ra, &err), CB_OK);
    print_message("%s val vs FlowMM %s train tables:\n", key, key);
    print_row("length_log_mean", s->lattice.length_log_mean, rl.length_log_mean, 3);
    print_row("length_log_std", s->lattice.length_log_std, rl.length_log_std, 3);
    print_row("length_mean", s->lattice.length_mean, rl.length_mean, 3);
    print_row("length_std", s->lattice.length_std, rl.length_std, 3);
    print_row("angle_uncon_mean", s->lattice.angle_uncon_mean, rl.angle_uncon_mean, 3);
    print_row("angle_uncon_std", s->lattice.angle_uncon_std, rl.angle_uncon_std, 3);
    print_row("lattice x_t_mean", s->affine.lattice_xt_mean, ra.lattice_xt_mean, 6);
    print_row("lattice x_t_std", s->affine.lattice_xt_std, ra.lattice_xt_std, 6);
    print_row("lattice u_t_mean", s->affine.lattice_ut_mean, ra.lattice_ut_mean, 6);
    print_row("lattice u_t_std", s->affine.lattice_ut_std, ra.lattice_ut_std, 6);
    print_row("coord u_t_std", s->affine.coord_ut_std, ra.coord_ut_std, 3);
    for (int k = 0; k < 3; k++) {
        assert_rel(s->lattice.length_log_mean[k], rl.length_log_mean[k], 0.01);
        assert_rel(s->lattice.length_log_std[k], rl.length_log_std[k], 0.05);
        assert_rel(s->affine.coord_ut_std[k], ra.coord_ut_std[k], 0.01);
    }
    /* c's heavy tail (mp_20 length_std 3.75 Å) makes its stds the loosest: 4.7% here. */
    for (int k = 0; k < 6; k++) {
        assert_rel(s->affine.lattice_xt_std[k], ra.lattice_xt_std[k], 0.08);
        assert_rel(s->affine.lattice_ut_std[k], ra.lattice_ut_std[k], 0.08);
    }
}

static void test_stats_perov_val(void **state)
{
    (void)state;
    loaded *d = get_data(&PEROV_VAL);
    if (!d) skip();
    cb_rng rng;
    cb_rng_seed(&rng, 18);
    cb_flowmm_stats s;
    cb_error err;
    assert_int_equal(cb_flowmm_stats_compute(&d->prep, 5, &rng, &s, &err), CB_OK);
    /* cubic lattices: equal lengths, every φ exactly 0 */
    for (int k = 0; k < 3; k++) {
        assert_true(s.lattice.angle_uncon_mean[k] == 0.0);
        assert_true(s.lattice.angle_uncon_std[k] == 0.0);
        assert_near(s.lattice.length_mean[k], s.lattice.length_mean[0], 1e-9);
    }
    compare_with_reference("perov", &s);
    /* By hand (§3.2): the coordinate velocity is U(−½, ½) minus its mean over 5 atoms,
     * std sqrt(1/12 · 4/5) = 0.2582; φ's u_t is −(a logistic): std π/√3 = 1.8138. */
    for (int k = 0; k < 3; k++) {
        assert_rel(s.affine.coord_ut_std[k], sqrt(1.0 / 12 * 4 / 5), 0.01);
        assert_rel(s.affine.lattice_ut_std[3 + k], M_PI / sqrt(3.0), 0.03);
    }
    /* the estimator is a function of the seed */
    cb_flowmm_affine_stats a1, a2;
    cb_rng_seed(&rng, 5);
    assert_int_equal(cb_flowmm_affine_stats_estimate(&d->prep, &s.lattice, 1, &rng, &a1, &err), 0);
    cb_rng_seed(&rng, 5);
    assert_int_equal(cb_flowmm_affine_stats_estimate(&d->prep, &s.lattice, 1, &rng, &a2, &err), 0);
    assert_memory_equal(&a1, &a2, sizeof a1);
}

static void test_stats_mp20_val(void **state)
{
    (void)state;
    loaded *d = get_data(&MP20_VAL);
    if (!d) skip();
    cb_rng rng;
    cb_rng_seed(&rng, 19);
    cb_flowmm_stats s;
    cb_error err;
    assert_int_equal(cb_flowmm_stats_compute(&d->prep, 5, &rng, &s, &err), CB_OK);
    compare_with_reference("mp_20", &s);
    /* atom counts: 1..20, and P(N) close to DiffCSP's train_dist (§1.5) */
    static const double train_dist[21] = {
        0, .0021742334905660377, .021079009433962265, .019826061320754717, .15271226415094338,
        .047132959905660375, .08464770047169812, .021079009433962265, .07808814858490566,
        .03434551886792453, .0972877358490566, .013303360849056603, .09669811320754718,
        .02155807783018868, .06522700471698113, .014372051886792452, .06703272405660378,
        .00972877358490566, .053176591981132074, .010576356132075472, .08995430424528301};
    assert_int_equal(s.natoms.max_n, 20);
    assert_int_equal(s.natoms.total, d->prep.n);
    /* Not equal: another split (val), and some rebuilt rows are primitive cells
     * (../shared/data/README.md); the largest gap is N = 20 (0.077 vs 0.090). */
    for (int n = 0; n <= 20; n++) assert_near(cb_flowmm_natoms_prob(&s.natoms, n), train_dist[n], 0.02);
    /* raw cells (not Niggli-reduced) are refused by name */
    size_t bad = d->raw.n;
    for (size_t i = 0; i < d->raw.n && bad == d->raw.n; i++) {
        double p[6];
        cb_lattice_parameters(d->raw.items[i].lattice, p);
        for (int k = 3; k < 6; k++)
            if (!cb_flowmm_angle_in_domain(p[k])) bad = i;
    }
    if (bad < d->raw.n) {
        cb_flowmm_lattice_stats ls;
        assert_int_equal(cb_flowmm_lattice_stats_compute(&d->raw, &ls, &err), CB_ERR_INVALID);
        assert_non_null(strstr(err.msg, "Niggli"));
        assert_non_null(strstr(err.msg, d->raw.items[bad].id));
    }
}

static void test_stats_serialisation(void **state)
{
    (void)state;
    cb_flowmm_stats s;
    memset(&s, 0, sizeof s);
    cb_error err;
    assert_int_equal(cb_flowmm_stats_reference("mpts_52", &s.lattice, &s.affine, &err), CB_OK);
    s.lattice.length_mean[1] = nextafter(s.lattice.length_mean[1], 10.0); /* odd last bits */
    s.affine.lattice_ut_mean[2] = -0.0;
    s.natoms.count[1] = 7;
    s.natoms.count[52] = 3;
    s.natoms.count[30] = UINT64_C(1) << 40;
    s.natoms.total = 10 + (UINT64_C(1) << 40);
    s.natoms.max_n = 52;
    unsigned char *buf;
    size_t len;
    assert_int_equal(cb_flowmm_stats_serialize(&s, &buf, &len, &err), CB_OK);
    assert_int_equal(len, cb_flowmm_stats_size(&s));
    assert_int_equal(len, 16 + 8 * 45 + 4 + 8 * 53);
    assert_memory_equal(buf, "CBFMSTAT", 8);
    cb_flowmm_stats back;
    memset(&back, 0xA5, sizeof back);
    assert_int_equal(cb_flowmm_stats_deserialize(buf, len, &back, &err), CB_OK);
    assert_memory_equal(&back.lattice, &s.lattice, sizeof s.lattice);
    assert_memory_equal(&back.affine, &s.affine, sizeof s.affine);
    /* field by field: the struct has padding after max_n */
    assert_int_equal(back.natoms.max_n, s.natoms.max_n);
    assert_int_equal(back.natoms.total, s.natoms.total);
    assert_memory_equal(back.natoms.count, s.natoms.count, sizeof s.natoms.count);
    /* and again, byte for byte */
    unsigned char *buf2;
    size_t len2;
    assert_int_equal(cb_flowmm_stats_serialize(&back, &buf2, &len2, &err), CB_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);
    free(buf2);

    /* every corruption is refused and leaves *out untouched */
    cb_flowmm_stats keep = back;
    assert_int_equal(cb_flowmm_stats_deserialize(buf, len - 1, &back, &err), CB_ERR_INVALID);
    assert_int_equal(cb_flowmm_stats_deserialize(buf, 20, &back, &err), CB_ERR_INVALID);
    unsigned char *bad = malloc(len + 8);
    assert_non_null(bad);
    memcpy(bad, buf, len);
    assert_int_equal(cb_flowmm_stats_deserialize(bad, len + 8, &back, &err), CB_ERR_INVALID);
    bad[0] = 'X';
    assert_int_equal(cb_flowmm_stats_deserialize(bad, len, &back, &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "magic"));
    memcpy(bad, buf, len);
    bad[8] = 2; /* version */
    assert_int_equal(cb_flowmm_stats_deserialize(bad, len, &back, &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "version"));
    memcpy(bad, buf, len);
    memset(bad + 16 + 8 * 4, 0xFF, 8); /* a std becomes NaN */
    assert_int_equal(cb_flowmm_stats_deserialize(bad, len, &back, &err), CB_ERR_INVALID);
    memcpy(bad, buf, len);
    bad[16 + 8 * 4 + 7] |= 0x80; /* a std becomes negative */
    assert_int_equal(cb_flowmm_stats_deserialize(bad, len, &back, &err), CB_ERR_INVALID);
    memcpy(bad, buf, len);
    memset(bad + len - 8, 0, 8); /* count[max_n] = 0 */
    assert_int_equal(cb_flowmm_stats_deserialize(bad, len, &back, &err), CB_ERR_INVALID);
    assert_memory_equal(&back, &keep, sizeof back);
    free(bad);
    free(buf);

    s.natoms.max_n = CB_FLOWMM_MAX_ATOMS + 1;
    assert_int_equal(cb_flowmm_stats_serialize(&s, &buf, &len, &err), CB_ERR_USAGE);
}

static void test_stats_reference_and_errors(void **state)
{
    (void)state;
    cb_flowmm_lattice_stats l;
    cb_flowmm_affine_stats a;
    cb_error err;
    /* spot values of FlowMM's yaml files (models.md §3.2 tables) */
    assert_int_equal(cb_flowmm_stats_reference("perov_5", &l, &a, &err), CB_OK);
    assert_true(l.length_log_mean[2] == 1.419227957725525);
    assert_true(a.coord_ut_std[1] == 0.2576757073402405);
    assert_int_equal(cb_flowmm_stats_reference("carbon", &l, &a, &err), CB_OK);
    assert_true(l.angle_uncon_std[1] == 0.6768961548805237);
    assert_true(a.lattice_ut_mean[5] == -0.14873436093330383);
    assert_int_equal(cb_flowmm_stats_reference("mp_20", &l, &a, &err), CB_OK);
    assert_true(a.lattice_ut_std[2] == 4.689330577850342);
    assert_int_equal(cb_flowmm_stats_reference("mpts_52", &l, &a, &err), CB_OK);
    assert_true(a.lattice_xt_mean[0] == 5.477785110473633);
    assert_int_equal(cb_flowmm_stats_reference("mp_21", &l, &a, &err), CB_ERR_USAGE);

    cb_dataset empty = {0};
    cb_flowmm_stats s;
    cb_rng rng;
    cb_rng_seed(&rng, 1);
    assert_int_equal(cb_flowmm_stats_compute(&empty, 5, &rng, &s, &err), CB_ERR_USAGE);
}

/* ---- time, Euler, annealing ------------------------------------------------------------------ */

static void test_schedule_and_euler(void **state)
{
    (void)state;
    /* s(t) = 1 + slope·relu(t − offset) */
    assert_true(cb_flowmm_anneal_scale(0.75, 5.0, 0.5) == 2.25);
    assert_true(cb_flowmm_anneal_scale(0.3, 5.0, 0.5) == 1.0);
    assert_true(cb_flowmm_anneal_scale(0.9, 0.0, 0.0) == 1.0);
    assert_near(cb_flowmm_anneal_scale(0.99, 10.0, 0.0), 10.9, 1e-14);
    /* §3.5 weights */
    double wf, wl, wa;
    cb_flowmm_cost_weights(1, &wf, &wl, &wa);
    assert_near(wf, 400.0 / 441, 1e-16);
    assert_near(wl, 1.0 / 441, 1e-18);
    assert_near(wa, 40.0 / 441, 1e-16);
    cb_flowmm_cost_weights(0, &wf, &wl, &wa);
    assert_near(wf, 400.0 / 401, 1e-16);
    assert_near(wl, 1.0 / 401, 1e-18);
    assert_true(wa == 0.0);
    /* grid of 7 steps: t_k = k/7, the last step lands on 1 */
    double t, dt, sum = 0;
    for (int k = 0; k < 7; k++) {
        cb_flowmm_euler_grid(k, 7, &t, &dt);
        assert_true(t == (double)k / 7);
        assert_true(dt > 0);
        sum += dt;
    }
    assert_true(t + dt == 1.0);
    assert_near(sum, 1.0, 1e-15);
    cb_rng rng;
    cb_rng_seed(&rng, 20);
    for (int i = 0; i < 1000; i++) {
        double u = cb_flowmm_sample_time(&rng);
        assert_true(u >= 0 && u < 1);
    }
    /* one hand step: 0.9 + 0.5·(2·0.5) = 1.4 → 0.4 on the torus; 1 + 0.5·(2·0.5) = 1.5 */
    double x[1][3] = {{0.9, 0.1, 0.0}}, v[1][3] = {{0.5, -0.4, 0.0}};
    cb_flowmm_torus_euler(x, (const double(*)[3])v, 1, 0.5, 2.0);
    assert_near(x[0][0], 0.4, 1e-15);
    assert_near(x[0][1], 0.7, 1e-15);
    double e[1] = {1.0}, ev[1] = {0.5};
    cb_flowmm_euclid_euler(e, ev, 1, 0.5, 2.0);
    assert_true(e[0] == 1.5);
    /* Euler along the exact conditional field reaches x1 (torus: up to the drift that
     * proju removed, i.e. x1 − mean δ; lattice: exactly the straight line). */
    double x0[NAT][3], x1[NAT][3], xs[NAT][3], u[NAT][3];
    cb_flowmm_torus_uniform(x0, NAT, &rng);
    cb_flowmm_torus_uniform(x1, NAT, &rng);
    cb_flowmm_torus_velocity((const double(*)[3])x0, (const double(*)[3])x1, NAT, u);
    double mean[3] = {0};
    for (int i = 0; i < NAT; i++)
        for (int c = 0; c < 3; c++) mean[c] += u[i][c] / NAT;
    cb_flowmm_torus_remove_drift(u, NAT);
    memcpy(xs, x0, sizeof xs);
    const int steps = 10;
    for (int k = 0; k < steps; k++) {
        cb_flowmm_euler_grid(k, steps, &t, &dt);
        cb_flowmm_torus_euler(xs, (const double(*)[3])u, NAT, dt, 1.0);
    }
    for (int i = 0; i < NAT; i++)
        for (int c = 0; c < 3; c++)
            assert_near(cb_flowmm_torus_log(x1[i][c] - mean[c], xs[i][c]), 0.0, 1e-14);
}

/* ---- preprocessing ----------------------------------------------------------------------- */

static void test_preprocess(void **state)
{
    (void)state;
    loaded *d = get_data(&MP20_VAL);
    if (!d) skip();
    for (size_t i = 0; i < d->raw.n; i++) {
        const cb_crystal *r = &d->raw.items[i], *p = &d->prep.items[i];
        assert_int_equal(p->n, r->n);
        assert_memory_equal(p->z, r->z, (size_t)r->n * sizeof *r->z);
        assert_rel(cb_crystal_volume(p), cb_crystal_volume(r), 1e-9);
        /* canonical orientation: c along z, a in the xz-plane */
        assert_near(p->lattice[0][1], 0.0, 0);
        assert_near(p->lattice[2][0], 0.0, 0);
        assert_near(p->lattice[2][1], 0.0, 0);
        for (int a = 0; a < p->n; a++)
            for (int k = 0; k < 3; k++) assert_true(p->frac[a][k] >= 0 && p->frac[a][k] < 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_and_log_hand_values),
        cmocka_unit_test(test_log_range_and_antisymmetry),
        cmocka_unit_test(test_geodesic_endpoints),
        cmocka_unit_test(test_velocity_is_path_derivative),
        cmocka_unit_test(test_drift_removal),
        cmocka_unit_test(test_angle_transform_hand_values),
        cmocka_unit_test(test_lattice_roundtrip_mp20_val),
        cmocka_unit_test(test_lattice_decode_invalid),
        cmocka_unit_test(test_base_distributions),
        cmocka_unit_test(test_analog_bits),
        cmocka_unit_test(test_natoms_perov_all_five),
        cmocka_unit_test(test_natoms_sampling_frequencies),
        cmocka_unit_test(test_stats_perov_val),
        cmocka_unit_test(test_stats_mp20_val),
        cmocka_unit_test(test_stats_serialisation),
        cmocka_unit_test(test_stats_reference_and_errors),
        cmocka_unit_test(test_schedule_and_euler),
        cmocka_unit_test(test_preprocess),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_data);
}
