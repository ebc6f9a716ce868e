/* LLL, Niggli, points in a sphere, lattice mappings and the spglib wrappers, against
 * pymatgen 2022.11.7 (tests/py/reduce_reference.py) on seeded random lattices (including
 * very skewed and high-symmetry ones) and on a sample of MP-20 test structures.
 *
 * CB_REDUCE_FULL=1 in the environment compares every MP-20 test row (minutes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "reduce_testlib.h"

#define N_RANDOM 500


static int make_random_input(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    cb_rng rng;
    cb_rng_seed(&rng, 20240611);
    for (int i = 0; i < N_RANDOM; i++) {
        cb_crystal c;
        if (rt_random_crystal(&rng, i % 5, 6, &c)) {
            fclose(f);
            return 1;
        }
        char id[32];
        snprintf(id, sizeof id, "random%d_kind%d", i, i % 5);
        rt_write_crystal(f, id, &c);
        /* A sphere query around a point near the cell, radius 0.3 .. 9 Å (below 1 Å
         * pymatgen searches at 1 Å and filters). */
        double fc[3] = {rt_unif(&rng, -0.2, 1.2), rt_unif(&rng, -0.2, 1.2), rt_unif(&rng, -0.2, 1.2)}, cart[3];
        cb_frac_to_cart(c.lattice, fc, cart);
        fprintf(f, "sphere_center %.17g %.17g %.17g\nsphere_r %.17g\nEND\n", cart[0], cart[1], cart[2],
                rt_unif(&rng, 0.3, 9.0));
        cb_crystal_free(&c);
    }
    return fclose(f) != 0;
}

static int setup(void **state)
{
    (void)state;
    if (!cb_test_pymatgen_python()) return 0;
    char *dir = cb_test_tmpdir();
    if (!dir) return 0;
    char path[4096], args[8400];
    snprintf(path, sizeof path, "%s/random.txt", dir);
    if (make_random_input(path) == 0) {
        snprintf(args, sizeof args, "eval '%s' --what reduce --sg-every 2", path);
        char *out = rt_run_python(args);
        if (out && rt_parse(out, &g_random) == 0) g_have_random = 1;
        free(out);
    }
    cb_test_rmtree(dir);
    free(dir);

    const char *csv = cb_test_data_file("mp_20/test.csv");
    if (csv) {
        int full = rt_full_run();
        snprintf(args, sizeof args, "mp20 '%s' --what reduce --every %d --sg-every %d", csv, full ? 1 : 23,
                 full ? 1 : 3);
        char *out = rt_run_python(args);
        if (out && rt_parse(out, &g_mp20) == 0) g_have_mp20 = 1;
        free(out);
    }
    return 0;
}


/* ---- LLL ---- */

static void test_lll(void **state)
{
    (void)state;
    REQUIRE_DATA();
    for (int s = 0; s < 2; s++) {
        rt_cmp cm = {0}, cmap = {0}, cinv = {0};
        for (int i = 0; i < sets[s]->n; i++) {
            const rt_rec *r = &sets[s]->r[i];
            const rt_field *lm = rt_get(r, "lll"), *mp = rt_get(r, "lllmap"), *iv = rt_get(r, "lllinv");
            if (!lm || !mp || !iv) continue;
            cb_lll l;
            cb_error err;
            assert_int_equal(cb_lll_reduce(r->c.lattice, &l, &err), CB_OK);
            if (rt_compare(&cm, &l.matrix[0][0], lm->v, 9, 1e-10) == 2) printf("LLL mismatch: %s\n", r->id);
            if (rt_compare(&cmap, &l.mapping[0][0], mp->v, 9, 0) != 0) printf("LLL mapping mismatch: %s\n", r->id);
            rt_compare(&cinv, &l.inverse[0][0], iv->v, 9, 1e-12);
        }
        printf("%s:\n", set_names[s]);
        rt_report("lll_matrix", &cm);
        rt_report("lll_mapping", &cmap);
        rt_report("lll_inverse", &cinv);
        assert_int_equal(cm.mismatched, 0);
        assert_int_equal(cmap.mismatched + cmap.within, 0);
        assert_int_equal(cinv.mismatched, 0);
    }
}

/* Without pymatgen: the LLL output is the same lattice in a unimodular basis. */
static void test_lll_properties(void **state)
{
    (void)state;
    cb_rng rng;
    cb_rng_seed(&rng, 7);
    for (int i = 0; i < 2000; i++) {
        double m[3][3], prod[3][3];
        rt_random_lattice(&rng, i % 5, m);
        cb_lll l;
        assert_int_equal(cb_lll_reduce(m, &l, NULL), CB_OK);
        assert_true(fabs(fabs(cb_mat3_det(l.mapping)) - 1) < 1e-9);
        cb_mat3_mul(l.mapping, m, prod);
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) assert_true(fabs(prod[a][b] - l.matrix[a][b]) < 1e-6 * (1 + fabs(prod[a][b])));
        double red[3][3];
        assert_int_equal(cb_niggli_reduce(m, CB_NIGGLI_TOL, red, NULL), CB_OK);
        assert_true(fabs(cb_lattice_volume(red) - cb_lattice_volume(m)) < 1e-6 * cb_lattice_volume(m));
    }
}

/* ---- Niggli ---- */

static void test_niggli(void **state)
{
    (void)state;
    REQUIRE_DATA();
    for (int s = 0; s < 2; s++) {
        rt_cmp c = {0};
        long both_fail = 0;
        for (int i = 0; i < sets[s]->n; i++) {
            const rt_rec *r = &sets[s]->r[i];
            const rt_field *ng = rt_get(r, "niggli");
            double red[3][3];
            cb_error err;
            int rc = cb_niggli_reduce(r->c.lattice, CB_NIGGLI_TOL, red, &err);
            if (!ng) {
                if (!rt_get(r, "niggli_error")) continue;
                if (rc != CB_OK) {
                    both_fail++;
                } else {
                    c.n_cases++;
                    c.mismatched++;
                    printf("Niggli: pymatgen failed, C did not: %s\n", r->id);
                }
                continue;
            }
            if (rc != CB_OK) {
                printf("Niggli: C failed (%s) on %s\n", err.msg, r->id);
                c.n_cases++;
                c.mismatched++;
                continue;
            }
            if (rt_compare(&c, &red[0][0], ng->v, 9, 1e-10) == 2) printf("Niggli mismatch: %s\n", r->id);
        }
        printf("%s: (%ld cases where both fail)\n", set_names[s], both_fail);
        rt_report("niggli", &c);
        /* Ties between equivalent reduced bases can only flip on last-bit differences
         * in pymatgen's SIMD trigonometry; allow a handful, not more. */
        assert_true(c.mismatched * 200 <= c.n_cases);
    }
}

static void test_reduced_structure(void **state)
{
    (void)state;
    REQUIRE_DATA();
    for (int s = 0; s < 2; s++) {
        rt_cmp cl = {0}, cf = {0};
        for (int i = 0; i < sets[s]->n; i++) {
            const rt_rec *r = &sets[s]->r[i];
            const rt_field *rl = rt_get(r, "reduced"), *rf = rt_get(r, "reduced_frac");
            if (!rl || !rf || r->c.n == 0) continue;
            cb_crystal red;
            cb_error err;
            int rc = cb_crystal_reduced(&r->c, CB_REDUCE_NIGGLI, &red, &err);
            if (rc) {
                printf("reduced structure: C failed (%s) on %s\n", err.msg, r->id);
                cl.n_cases++;
                cl.mismatched++;
                continue;
            }
            assert_int_equal(red.n, r->c.n);
            assert_int_equal(rf->n, 3 * red.n);
            if (rt_compare(&cl, &red.lattice[0][0], rl->v, 9, 1e-10) == 0)
                rt_compare(&cf, &red.frac[0][0], rf->v, 3 * red.n, 1e-10);
            cb_crystal_free(&red);
        }
        printf("%s:\n", set_names[s]);
        rt_report("reduced lattice", &cl);
        rt_report("reduced frac (same lattice)", &cf);
        assert_true(cl.mismatched * 200 <= cl.n_cases);
        /* frac may differ by a wrap (0 vs 1) only through last-bit differences */
        assert_true(cf.mismatched * 200 <= cf.n_cases);
    }
}

/* ---- points in a sphere ---- */

static void test_points_in_sphere(void **state)
{
    (void)state;
    if (!g_have_random) {
        printf("SKIP: no pymatgen reference\n");
        skip();
    }
    long total = 0, same_order = 0, points = 0;
    for (int i = 0; i < g_random.n; i++) {
        const rt_rec *r = &g_random.r[i];
        const rt_field *ce = rt_get(r, "sphere_center"), *ra = rt_get(r, "sphere_r"), *sp = rt_get(r, "sphere");
        if (!ce || !ra || !sp) continue;
        cb_sphere_point *pts;
        int n;
        cb_error err;
        assert_int_equal(cb_points_in_sphere(r->c.lattice, (const double(*)[3])r->c.frac, r->c.n, ce->v, ra->v[0],
                                             &pts, &n, &err),
                         CB_OK);
        int expect = (int)sp->v[0];
        total++;
        points += expect;
        int ok = n == expect;
        for (int k = 0; ok && k < n; k++) {
            const double *e = sp->v + 1 + 8 * k;
            ok = pts[k].index == (int)e[0] && pts[k].image[0] == e[1] && pts[k].image[1] == e[2] &&
                 pts[k].image[2] == e[3] && pts[k].dist == e[4] && pts[k].frac[0] == e[5] &&
                 pts[k].frac[1] == e[6] && pts[k].frac[2] == e[7];
        }
        if (ok)
            same_order++;
        else
            printf("points in sphere differ: %s (C %d points, pymatgen %d)\n", r->id, n, expect);
        free(pts);
    }
    printf("points in sphere: %ld of %ld queries identical (same points, order and bits; %ld points)\n", same_order,
           total, points);
    assert_int_equal(same_order, total);
}

/* ---- lattice mappings ---- */

static void test_mappings(void **state)
{
    (void)state;
    REQUIRE_DATA();
    for (int s = 0; s < 2; s++) {
        long total = 0, same = 0, maps = 0;
        for (int i = 0; i < sets[s]->n; i++) {
            const rt_rec *r = &sets[s]->r[i];
            const rt_field *self = rt_get(r, "reduced"), *other = rt_get(r, "maps_other"), *mp = rt_get(r, "maps");
            if (!self || !other || !mp) continue;
            double a[3][3], b[3][3];
            memcpy(a, self->v, sizeof a);
            memcpy(b, other->v, sizeof b);
            cb_lattice_map *m;
            int n;
            cb_error err;
            assert_int_equal(cb_lattice_find_all_mappings(a, b, 0.3, 10, &m, &n, &err), CB_OK);
            int expect = (int)mp->v[0];
            total++;
            maps += expect;
            int ok = n == expect;
            for (int k = 0; ok && k < n; k++)
                for (int e = 0; e < 9; e++) ok &= m[k].scale[e / 3][e % 3] == (int)mp->v[1 + 9 * k + e];
            if (ok)
                same++;
            else
                printf("mappings differ: %s (C %d, pymatgen %d)\n", r->id, n, expect);
            free(m);
        }
        printf("%s: find_all_mappings(ltol 0.3, atol 10): %ld of %ld identical sequences (%ld mappings)\n",
               set_names[s], same, total, maps);
        assert_true((total - same) * 200 <= total);
    }
}

/* ---- spglib ---- */

static void test_spacegroup(void **state)
{
    (void)state;
    REQUIRE_DATA();
    for (int s = 0; s < 2; s++) {
        long total = 0, same = 0, ntot = 0, nsame = 0, ptot = 0, psame = 0;
        for (int i = 0; i < sets[s]->n; i++) {
            const rt_rec *r = &sets[s]->r[i];
            const rt_field *sg = rt_get(r, "sg"), *sn = rt_get(r, "spg_niggli");
            if (sg) {
                cb_spacegroup g;
                cb_error err;
                int rc = cb_spacegroup_get(&r->c, 0.1, CB_SPG_ANGLE_TOL, &g, &err);
                total++;
                if (rc == CB_OK && g.number == (int)sg->v[0])
                    same++;
                else
                    printf("space group differs: %s (C %d, pymatgen %d)\n", r->id, rc ? -1 : g.number, (int)sg->v[0]);
            }
            const rt_field *pl = rt_get(r, "prim_lattice"), *pz = rt_get(r, "prim_z"), *pf = rt_get(r, "prim_frac");
            if (pl && pz && pf) {
                cb_crystal prim;
                ptot++;
                if (cb_spg_primitive(&r->c, 0.1, &prim, NULL) == CB_OK) {
                    int ok = prim.n == pz->n && memcmp(prim.lattice, pl->v, sizeof prim.lattice) == 0;
                    for (int k = 0; ok && k < prim.n; k++)
                        ok = prim.z[k] == (int)pz->v[k] && memcmp(prim.frac[k], pf->v + 3 * k, sizeof prim.frac[k]) == 0;
                    psame += ok;
                    if (!ok) printf("primitive cell differs: %s\n", r->id);
                    cb_crystal_free(&prim);
                }
            }
            if (sn) {
                cb_crystal red;
                ntot++;
                if (cb_spg_niggli(&r->c, 1e-5, &red, NULL) == CB_OK) {
                    if (memcmp(red.lattice, sn->v, sizeof red.lattice) == 0) nsame++;
                    cb_crystal_free(&red);
                }
            }
        }
        printf("%s: space group (symprec 0.1): %ld of %ld agree; spglib Niggli: %ld of %ld bit-identical;"
               " find_primitive: %ld of %ld bit-identical\n",
               set_names[s], same, total, nsame, ntot, psame, ptot);
        assert_int_equal(same, total);
        assert_int_equal(nsame, ntot);
        assert_int_equal(psame, ptot);
    }
}

static void test_spglib_cells(void **state)
{
    (void)state;
    /* Rock salt, conventional cell: Fm-3m, primitive cell of 2 atoms. */
    cb_crystal c;
    assert_int_equal(cb_crystal_alloc(&c, 8, NULL), CB_OK);
    double p[6] = {5.64, 5.64, 5.64, 90, 90, 90};
    cb_lattice_from_parameters(p, c.lattice);
    const double fcc[4][3] = {{0, 0, 0}, {0, 0.5, 0.5}, {0.5, 0, 0.5}, {0.5, 0.5, 0}};
    for (int i = 0; i < 4; i++) {
        c.z[i] = 11;
        c.z[4 + i] = 17;
        for (int k = 0; k < 3; k++) {
            c.frac[i][k] = fcc[i][k];
            c.frac[4 + i][k] = fcc[i][k] + (k == 0 ? 0.5 : 0);
        }
    }
    cb_spacegroup g;
    assert_int_equal(cb_spacegroup_get(&c, CB_SPG_SYMPREC, CB_SPG_ANGLE_TOL, &g, NULL), CB_OK);
    assert_int_equal(g.number, 225);
    assert_string_equal(g.international, "Fm-3m");
    cb_crystal prim, conv;
    assert_int_equal(cb_spg_primitive(&c, CB_SPG_SYMPREC, &prim, NULL), CB_OK);
    assert_int_equal(prim.n, 2);
    assert_true(fabs(cb_crystal_volume(&prim) - cb_crystal_volume(&c) / 4) < 1e-9);
    assert_int_equal(cb_spg_standardize(&prim, 0, 0, CB_SPG_SYMPREC, CB_SPG_ANGLE_TOL, &conv, NULL), CB_OK);
    assert_int_equal(conv.n, 8);
    cb_crystal_free(&prim);
    cb_crystal_free(&conv);

    /* Two atoms on top of each other: spglib refuses, and we say so. */
    c.frac[1][0] = c.frac[0][0];
    c.frac[1][1] = c.frac[0][1];
    c.frac[1][2] = c.frac[0][2];
    c.z[1] = c.z[0];
    cb_error err;
    int rc = cb_spacegroup_get(&c, CB_SPG_SYMPREC, CB_SPG_ANGLE_TOL, &g, &err);
    if (rc) {
        assert_int_equal(rc, CB_ERR_EXTERNAL);
        assert_non_null(strstr(err.msg, "spglib"));
    }
    cb_crystal_free(&c);
}

/* ---- failure modes: never crash ---- */

static void test_errors(void **state)
{
    (void)state;
    cb_error err;
    double zero[3][3] = {{1, 0, 0}, {0, 1, 0}, {1, 1, 0}};
    double nan_m[3][3] = {{NAN, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    double flat[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1e-300}};
    double out[3][3];
    cb_lll l;
    assert_int_equal(cb_lll_reduce(zero, &l, &err), CB_ERR_INVALID);
    assert_int_equal(cb_lll_reduce(nan_m, &l, &err), CB_ERR_INVALID);
    assert_int_not_equal(cb_niggli_reduce(zero, CB_NIGGLI_TOL, out, &err), CB_OK);
    assert_int_not_equal(cb_niggli_reduce(nan_m, CB_NIGGLI_TOL, out, &err), CB_OK);
    int rc = cb_niggli_reduce(flat, CB_NIGGLI_TOL, out, &err); /* may fail, must not crash */
    (void)rc;

    /* An absurd radius for a tiny cell is refused instead of exhausting memory. */
    double cub[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    const double origin[1][3] = {{0, 0, 0}};
    const double center[3] = {0, 0, 0};
    cb_sphere_point *pts;
    int n;
    assert_int_equal(cb_points_in_sphere(cub, origin, 1, center, 1e6, &pts, &n, &err), CB_ERR_UNSUPPORTED);
    assert_null(pts);
    assert_int_equal(cb_points_in_sphere(cub, origin, 1, center, NAN, &pts, &n, &err), CB_ERR_INVALID);
    /* Small radius: searched at 1 Å and filtered. */
    assert_int_equal(cb_points_in_sphere(cub, origin, 1, center, 0.5, &pts, &n, &err), CB_OK);
    assert_int_equal(n, 1);
    assert_true(pts[0].dist == 0);
    free(pts);

    cb_crystal c;
    assert_int_equal(cb_crystal_alloc(&c, 1, NULL), CB_OK);
    memcpy(c.lattice, zero, sizeof zero);
    c.z[0] = 8;
    cb_crystal red;
    assert_int_not_equal(cb_crystal_reduced(&c, CB_REDUCE_NIGGLI, &red, &err), CB_OK);
    assert_null(red.z);
    double d[1];
    assert_int_not_equal(cb_crystal_distance_matrix(&c, d, &err), CB_OK);
    cb_crystal_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lll),
        cmocka_unit_test(test_lll_properties),
        cmocka_unit_test(test_niggli),
        cmocka_unit_test(test_reduced_structure),
        cmocka_unit_test(test_points_in_sphere),
        cmocka_unit_test(test_mappings),
        cmocka_unit_test(test_spacegroup),
        cmocka_unit_test(test_spglib_cells),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, rt_teardown);
}
