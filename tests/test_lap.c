/* The linear assignment solver (metrics/lap.c): optimal costs against brute force over
 * all permutations (n <= 8) and against an independent O(n^3) Hungarian solver
 * (n up to 60), on random real, integer (many ties), 0/1 and partly forbidden (1e20)
 * matrices; the solution is always a permutation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../metrics/lap.h"
#include "crystalbench/rng.h"

enum { KIND_REAL, KIND_INT, KIND_BINARY, KIND_FORBIDDEN, KIND_SCALED, N_KINDS };

static void random_matrix(cb_rng *r, int n, int kind, double *c)
{
    for (int k = 0; k < n * n; k++) {
        double u = cb_rng_uniform(r);
        switch (kind) {
        case KIND_REAL: c[k] = u * 10; break;
        case KIND_INT: c[k] = (double)cb_rng_below(r, 4); break;
        case KIND_BINARY: c[k] = u < 0.7 ? 0.0 : 1.0; break;
        case KIND_FORBIDDEN: c[k] = u < 0.4 ? 1e20 : u * u * 3; break;
        default: c[k] = u * 1e-3 + 1e-6 * (double)cb_rng_below(r, 3); break; /* matcher-like d2 */
        }
    }
}

static double assignment_cost(int n, const double *c, const int *sol)
{
    double t = 0;
    for (int i = 0; i < n; i++) t += c[i * n + sol[i]];
    return t;
}

static void assert_permutation(int n, const int *sol)
{
    unsigned char seen[64] = {0};
    for (int i = 0; i < n; i++) {
        assert_true(sol[i] >= 0 && sol[i] < n);
        assert_false(seen[sol[i]]);
        seen[sol[i]] = 1;
    }
}

/* Minimum over all permutations (Heap's algorithm would do; plain recursion is clearer). */
static void brute(int n, const double *c, int row, unsigned used, double acc, double *best)
{
    if (row == n) {
        if (acc < *best) *best = acc;
        return;
    }
    for (int j = 0; j < n; j++)
        if (!(used & (1u << j))) brute(n, c, row + 1, used | (1u << j), acc + c[row * n + j], best);
}

/* Classic Hungarian algorithm with potentials (1-based internally), O(n^3). */
static double hungarian(int n, const double *c)
{
    double *u = calloc((size_t)n + 1, sizeof *u), *v = calloc((size_t)n + 1, sizeof *v);
    double *minv = malloc(((size_t)n + 1) * sizeof *minv);
    int *p = calloc((size_t)n + 1, sizeof *p), *way = calloc((size_t)n + 1, sizeof *way);
    unsigned char *used = malloc((size_t)n + 1);
    assert_non_null(u);
    assert_non_null(v);
    assert_non_null(minv);
    assert_non_null(p);
    assert_non_null(way);
    assert_non_null(used);
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= n; j++) {
            minv[j] = INFINITY;
            used[j] = 0;
        }
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int j = 1; j <= n; j++)
                if (!used[j]) {
                    double cur = c[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                    if (cur < minv[j]) {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if (minv[j] < delta) {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            for (int j = 0; j <= n; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    double total = 0;
    for (int j = 1; j <= n; j++) total += c[(p[j] - 1) * n + (j - 1)];
    free(u);
    free(v);
    free(minv);
    free(p);
    free(way);
    free(used);
    return total;
}

static void assert_close_cost(double got, double want)
{
    double tol = 1e-9 * (fabs(want) > 1 ? fabs(want) : 1.0);
    if (!(fabs(got - want) <= tol)) fail_msg("assignment cost %.17g, optimum %.17g", got, want);
}

static void test_brute_force_small(void **state)
{
    (void)state;
    cb_rng r;
    cb_rng_seed(&r, 7);
    cb_lap w = {0};
    double c[64];
    int sol[8];
    for (int trial = 0; trial < 4000; trial++) {
        int n = 1 + trial % 8, kind = (trial / 8) % N_KINDS;
        random_matrix(&r, n, kind, c);
        double got;
        assert_int_equal(cb_lap_solve(&w, n, c, CB_LAP_EPSILON, sol, &got, NULL), CB_OK);
        assert_permutation(n, sol);
        assert_true(got == assignment_cost(n, c, sol));
        int sol2[8];
        assert_int_equal(cb_lap_solve_finite(&w, n, c, CB_LAP_EPSILON, sol2, NULL), CB_OK);
        assert_memory_equal(sol, sol2, (size_t)n * sizeof *sol); /* the unchecked entry: same solution */
        double best = INFINITY;
        brute(n, c, 0, 0, 0.0, &best);
        assert_close_cost(got, best);
    }
    cb_lap_free(&w);
}

static void test_hungarian_large(void **state)
{
    (void)state;
    cb_rng r;
    cb_rng_seed(&r, 11);
    cb_lap w = {0};
    for (int trial = 0; trial < 300; trial++) {
        int n = 9 + (int)cb_rng_below(&r, 52), kind = trial % N_KINDS;
        if (kind == KIND_FORBIDDEN) kind = KIND_REAL; /* 1e20 sums defeat a relative check */
        double *c = malloc((size_t)n * (size_t)n * sizeof *c);
        int *sol = malloc((size_t)n * sizeof *sol);
        assert_non_null(c);
        assert_non_null(sol);
        random_matrix(&r, n, kind, c);
        double got;
        assert_int_equal(cb_lap_solve(&w, n, c, CB_LAP_EPSILON, sol, &got, NULL), CB_OK);
        assert_permutation(n, sol);
        assert_close_cost(got, hungarian(n, c));
        free(c);
        free(sol);
    }
    cb_lap_free(&w);
}

/* Forbidden entries never win while a finite perfect assignment exists. */
static void test_forbidden_avoided(void **state)
{
    (void)state;
    cb_rng r;
    cb_rng_seed(&r, 13);
    cb_lap w = {0};
    for (int trial = 0; trial < 500; trial++) {
        int n = 1 + (int)cb_rng_below(&r, 30);
        double *c = malloc((size_t)n * (size_t)n * sizeof *c);
        int *perm = malloc((size_t)n * sizeof *perm), *sol = malloc((size_t)n * sizeof *sol);
        assert_non_null(c);
        assert_non_null(perm);
        assert_non_null(sol);
        for (int k = 0; k < n * n; k++) c[k] = cb_rng_uniform(&r) < 0.8 ? 1e20 : cb_rng_uniform(&r);
        for (int i = 0; i < n; i++) perm[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)cb_rng_below(&r, (uint64_t)i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int i = 0; i < n; i++) c[i * n + perm[i]] = cb_rng_uniform(&r); /* a finite assignment exists */
        assert_int_equal(cb_lap_solve(&w, n, c, CB_LAP_EPSILON, sol, NULL, NULL), CB_OK);
        assert_permutation(n, sol);
        for (int i = 0; i < n; i++) assert_true(c[i * n + sol[i]] < 1e20);
        free(c);
        free(perm);
        free(sol);
    }
    cb_lap_free(&w);
}

/* A case worked by hand, and the scratch reused across sizes. */
static void test_known_and_reuse(void **state)
{
    (void)state;
    cb_lap w = {0};
    const double c3[9] = {4, 1, 3, 2, 0, 5, 3, 2, 2};
    int sol[4];
    double cost;
    assert_int_equal(cb_lap_solve(&w, 3, c3, CB_LAP_EPSILON, sol, &cost, NULL), CB_OK);
    assert_int_equal(sol[0], 1);
    assert_int_equal(sol[1], 0);
    assert_int_equal(sol[2], 2);
    assert_true(cost == 5.0);
    const double c1[1] = {2.5};
    assert_int_equal(cb_lap_solve(&w, 1, c1, CB_LAP_EPSILON, sol, &cost, NULL), CB_OK);
    assert_int_equal(sol[0], 0);
    assert_true(cost == 2.5);
    const double eye[16] = {1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0};
    assert_int_equal(cb_lap_solve(&w, 4, eye, CB_LAP_EPSILON, sol, &cost, NULL), CB_OK);
    assert_true(cost == 0.0);
    cb_lap_free(&w);
}

/* Ties: integer costs with many optimal assignments (and forbidden 1e20 entries); the
 * solutions pymatgen 2022.11.7's LinearAssignment returns, which the matcher must pick
 * too (3,000 such random cases agreed when this was written). */
#define F 1e20
static const struct tie_case {
    int n;
    double cost[64];
    int sol[8];
} tie_cases[] = {
    {3, {2, 2, 0, 0, 1, 1, 2, 1, 0}, {2, 0, 1}},
    {4, {0, 1, 1, 2, 1, 1, 1, 0, 2, 0, 0, 1, 0, 1, 1, 0}, {0, 3, 2, 1}},
    {5, {0, 2, 2, 2, 2, 1, 0, 1, 1, 2, 1, 1, 0, 2, 0, 1, 0, 1, 1, 1, 1, 0, 1, 2, 2}, {0, 2, 4, 3, 1}},
    {6,
     {0, 2, 1, 1, 2, 0, 0, 1, 1, 2, 0, 1, 2, 2, 2, 1, 2, 0, 0, 1, 0, 1, 0, 1, 2, 0, 1, 1, 0, 1, 2, 1, 2, 1, 2, 0},
     {0, 4, 3, 2, 1, 5}},
    {6,
     {1, 2, 1, 0, 2, 0, 0, 0, 2, 1, 0, 1, 0, 1, 1, 2, 0, 1, 1, 2, 0, 1, 1, 1, 2, 1, 2, 0, 0, 0, 1, 0, 1, 0, 2, 0},
     {5, 4, 0, 2, 3, 1}},
    {7,
     {1, 0, 2, 1, 0, 1, 0, 2, 2, 1, 1, 1, 0, 1, 2, 0, 1, 0, 2, 1, 2, 2, 2, 1, 1,
      2, 0, 2, 0, 1, 2, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0},
     {6, 5, 3, 2, 0, 4, 1}},
    {8,
     {F, F, 0, F, 2, 1, 1, F, F, F, F, F, F, F, F, 2, F, 1, 1, 1, 0, 0, 2, F, 2, F, 1, F, 1, F, 2, F,
      F, F, F, 1, 1, 1, F, 2, F, F, F, 2, 0, 0, F, F, 2, 0, 2, 1, 0, 0, 2, F, F, F, F, F, F, 0, 1, F},
     {2, 7, 5, 0, 3, 4, 1, 6}},
    {8,
     {F, F, F, 1, F, F, 2, F, F, F, F, F, F, F, F, F, 1, 1, F, F, 1, 2, 2, F, F, F, F, F, F, F, F, 2,
      2, F, 0, 1, 1, F, F, 2, F, 0, F, 1, 0, 1, F, F, F, 2, F, 2, 1, F, 2, F, 0, F, 2, F, 0, 2, F, F},
     {3, 1, 6, 7, 2, 5, 4, 0}},
};
#undef F

static void test_pymatgen_tie_breaking(void **state)
{
    (void)state;
    cb_lap w = {0};
    for (size_t k = 0; k < sizeof tie_cases / sizeof tie_cases[0]; k++) {
        int sol[8];
        assert_int_equal(cb_lap_solve(&w, tie_cases[k].n, tie_cases[k].cost, CB_LAP_EPSILON, sol, NULL, NULL), CB_OK);
        for (int i = 0; i < tie_cases[k].n; i++)
            if (sol[i] != tie_cases[k].sol[i])
                fail_msg("case %zu: row %d gets column %d, pymatgen %d", k, i, sol[i], tie_cases[k].sol[i]);
    }
    cb_lap_free(&w);
}

static void test_invalid(void **state)
{
    (void)state;
    cb_lap w = {0};
    cb_error err = {0};
    int sol[2];
    const double bad[4] = {1, NAN, 0, 1};
    assert_int_equal(cb_lap_solve(&w, 2, bad, CB_LAP_EPSILON, sol, NULL, &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "non-finite"));
    assert_int_equal(cb_lap_solve(&w, 0, bad, CB_LAP_EPSILON, sol, NULL, &err), CB_ERR_INVALID);
    cb_lap_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_and_reuse),
        cmocka_unit_test(test_pymatgen_tie_breaking),
        cmocka_unit_test(test_brute_force_small),
        cmocka_unit_test(test_hungarian_large),
        cmocka_unit_test(test_forbidden_avoided),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
