/* Niggli reduction (metrics.md §5.4): pymatgen's Lattice.get_niggli_reduced_lattice and
 * Structure.get_reduced_structure, step by step.
 *
 * The metric tensor G = L·Lᵀ of the LLL basis is numpy's syrk (fma chains); every
 * transform G ← Mᵀ(G M) is a gemm with entries in {-1, 0, 1}, exact per term and summed
 * in index order.  The reduced parameters are then matched back to actual lattice
 * vectors of the input with find_all_mappings (lattice_points.c), whose first hit wins. */
#include "crystalbench/reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "npmath.h"

#define NIGGLI_MAX_ITER 100

/* G ← dot(transpose(M), dot(G, M)) */
static void transform(double g[3][3], const double m[3][3])
{
    double mt[3][3], gm[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) mt[i][j] = m[j][i];
    cb_np_mat_dot(g, m, gm);
    cb_np_mat_dot(mt, gm, g);
}

/* x / |x| as pymatgen writes it (±1 for the non-zero values it is used on). */
static double sgn(double x) { return x / fabs(x); }

static void scalars(const double g[3][3], double *A, double *B, double *C, double *E, double *N, double *Y)
{
    *A = g[0][0];
    *B = g[1][1];
    *C = g[2][2];
    *E = 2 * g[1][2];
    *N = 2 * g[0][2];
    *Y = 2 * g[0][1];
}

/* The Grosse-Kunstleve loop.  pymatgen's quirk is kept: after A1 the A2 test and the
 * signs for A3/A4 still use the scalars read at the top of the iteration. */
static void reduce_metric(double g[3][3], double e)
{
    for (int iter = 0; iter < NIGGLI_MAX_ITER; iter++) {
        double A, B, C, E, N, Y;
        scalars(g, &A, &B, &C, &E, &N, &Y);

        if (A > B + e || (fabs(A - B) < e && fabs(E) > fabs(N) + e)) { /* A1 */
            const double m[3][3] = {{0, -1, 0}, {-1, 0, 0}, {0, 0, -1}};
            transform(g, m);
        }
        if (B > C + e || (fabs(B - C) < e && fabs(N) > fabs(Y) + e)) { /* A2 */
            const double m[3][3] = {{-1, 0, 0}, {0, 0, -1}, {0, -1, 0}};
            transform(g, m);
            continue;
        }

        double l = fabs(E) < e ? 0 : sgn(E);
        double mm = fabs(N) < e ? 0 : sgn(N);
        double n = fabs(Y) < e ? 0 : sgn(Y);
        double lmn = l * mm * n;
        if (lmn == 1) { /* A3 */
            double i = l == -1 ? -1 : 1, j = mm == -1 ? -1 : 1, k = n == -1 ? -1 : 1;
            const double m[3][3] = {{i, 0, 0}, {0, j, 0}, {0, 0, k}};
            transform(g, m);
        } else if (lmn == 0 || lmn == -1) { /* A4 */
            double i = l == 1 ? -1 : 1, j = mm == 1 ? -1 : 1, k = n == 1 ? -1 : 1;
            if (i * j * k == -1) {
                if (n == 0)
                    k = -1;
                else if (mm == 0)
                    j = -1;
                else if (l == 0)
                    i = -1;
            }
            const double m[3][3] = {{i, 0, 0}, {0, j, 0}, {0, 0, k}};
            transform(g, m);
        }

        scalars(g, &A, &B, &C, &E, &N, &Y);
        if (fabs(E) > B + e || (fabs(E - B) < e && 2 * N < Y - e) || (fabs(E + B) < e && Y < -e)) { /* A5 */
            const double m[3][3] = {{1, 0, 0}, {0, 1, -sgn(E)}, {0, 0, 1}};
            transform(g, m);
            continue;
        }
        if (fabs(N) > A + e || (fabs(A - N) < e && 2 * E < Y - e) || (fabs(A + N) < e && Y < -e)) { /* A6 */
            const double m[3][3] = {{1, 0, -sgn(N)}, {0, 1, 0}, {0, 0, 1}};
            transform(g, m);
            continue;
        }
        if (fabs(Y) > A + e || (fabs(A - Y) < e && 2 * E < N - e) || (fabs(A + Y) < e && N < -e)) { /* A7 */
            const double m[3][3] = {{1, -sgn(Y), 0}, {0, 1, 0}, {0, 0, 1}};
            transform(g, m);
            continue;
        }
        /* A8: Python's chained `abs(s) < e < Y + (A + N) * 2` */
        double s = E + N + Y + A + B;
        if (s < -e || (fabs(s) < e && e < Y + (A + N) * 2)) {
            const double m[3][3] = {{1, 0, 1}, {0, 1, 1}, {0, 0, 1}};
            transform(g, m);
            continue;
        }
        break;
    }
}

typedef struct first_map {
    int found;
    cb_lattice_map map;
} first_map;

static int take_first(const cb_lattice_map *map, void *ctx)
{
    first_map *f = ctx;
    f->found = 1;
    f->map = *map;
    return 1;
}

int cb_niggli_reduce(const double m[3][3], double tol, double out[3][3], cb_error *err)
{
    cb_lll lll;
    int rc = cb_lll_reduce(m, &lll, err);
    if (rc) return rc;
    double e = tol * pow(cb_lattice_volume(m), 1.0 / 3.0);

    double g[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) g[i][j] = cb_np_fdot3(lll.matrix[i], 1, lll.matrix[j], 1);
    reduce_metric(g, e);

    double A = g[0][0], B = g[1][1], C = g[2][2];
    double E = 2 * g[1][2], N = 2 * g[0][2], Y = 2 * g[0][1];
    double a = sqrt(A), b = sqrt(B), c = sqrt(C);
    double ca = E / 2 / b / c, cb = N / 2 / a / c, cg = Y / 2 / a / b;
    /* math.acos raises outside [-1, 1]; NaN would make every mapping fail. */
    if (!(fabs(ca) <= 1 && fabs(cb) <= 1 && fabs(cg) <= 1) || !isfinite(a * b * c))
        return cb_fail(err, CB_ERR_INVALID, "Niggli: degenerate reduced metric");
    double params[6] = {a, b, c, acos(ca) / M_PI * 180, acos(cb) / M_PI * 180, acos(cg) / M_PI * 180};
    double target[3][3];
    cb_lattice_from_parameters(params, target);

    first_map first = {0};
    rc = cb_lattice_mappings_each(m, target, e, 1.0, take_first, &first, err);
    if (rc) return rc;
    if (!first.found) return cb_fail(err, CB_ERR_INVALID, "Niggli: can't find niggli");
    double sign = cb_mat3_det(first.map.lattice) > 0 ? 1.0 : -1.0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) out[i][j] = sign > 0 ? first.map.lattice[i][j] : -first.map.lattice[i][j];
    return CB_OK;
}

/* numpy.allclose(a, b) with rtol 1e-5, atol 1e-8 (b is the reference). */
static int allclose(const double a[3][3], const double b[3][3])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (!(fabs(a[i][j] - b[i][j]) <= 1e-8 + 1e-5 * fabs(b[i][j]))) {
                if (!(a[i][j] == b[i][j])) return 0; /* equal infinities are close */
            }
    return 1;
}

int cb_crystal_reduced(const cb_crystal *c, cb_reduction algo, cb_crystal *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    double red[3][3];
    int rc;
    if (algo == CB_REDUCE_LLL) {
        cb_lll lll;
        rc = cb_lll_reduce(c->lattice, &lll, err);
        if (!rc) memcpy(red, lll.matrix, sizeof red);
    } else {
        rc = cb_niggli_reduce(c->lattice, CB_NIGGLI_TOL, red, err);
    }
    if (rc) return rc;

    if ((rc = cb_crystal_copy(out, c, err))) return rc;
    if (allclose(red, c->lattice)) return CB_OK;

    /* New sites from the Cartesian coordinates: cart = dot(frac, M) per site, then
     * frac' = dot(cart, inv(M')) and mod 1 (PeriodicSite with to_unit_cell=True). */
    double inv[3][3];
    if (cb_np_inv3(red, inv)) {
        cb_crystal_free(out);
        return cb_fail(err, CB_ERR_INVALID, "reduced lattice is singular");
    }
    for (int i = 0; i < c->n; i++) {
        double cart[3];
        cb_np_vec_dot(c->frac[i], c->lattice, cart);
        cb_np_vec_dot(cart, inv, out->frac[i]);
        cb_wrap_frac(out->frac[i]);
    }
    memcpy(out->lattice, red, sizeof red);
    return CB_OK;
}
