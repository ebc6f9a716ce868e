/* Lattice geometry and per-structure quantities against the reference values that the
 * original Python evaluation (pymatgen 2022.11.7) computed: reference_vectors.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/crystal.h"
#include "crystalbench/dataset.h"
#include "crystalbench/validity.h"
#include "testutil.h"

static int build_reference_crystal(const cJSON *rec, cb_crystal *c)
{
    double len[3], ang[3], p[6];
    if (cb_test_json_doubles(cJSON_GetObjectItem(rec, "lengths"), len, 3) != 3) return -1;
    if (cb_test_json_doubles(cJSON_GetObjectItem(rec, "angles"), ang, 3) != 3) return -1;
    memcpy(p, len, sizeof len);
    memcpy(p + 3, ang, sizeof ang);
    const cJSON *types = cJSON_GetObjectItem(rec, "atom_types");
    const cJSON *frac = cJSON_GetObjectItem(rec, "frac_coords");
    int n = cJSON_GetArraySize(types);
    if (cb_crystal_alloc(c, n, NULL)) return -1;
    cb_lattice_from_parameters(p, c->lattice);
    for (int i = 0; i < n; i++) {
        c->z[i] = cJSON_GetArrayItem(types, i)->valueint;
        cb_test_json_doubles(cJSON_GetArrayItem(frac, i), c->frac[i], 3);
    }
    return 0;
}

static void test_from_parameters_matches_pymatgen(void **state)
{
    (void)state;
    cJSON *root = cb_test_reference_vectors();
    if (!root) skip();
    const cJSON *rec;
    int checked = 0, exact = 0, entries = 0;
    cJSON_ArrayForEach(rec, cJSON_GetObjectItem(root, "crystals"))
    {
        const char *name = cJSON_GetObjectItem(rec, "name")->valuestring;
        double len[3], ang[3], p[6], m[3][3];
        cb_test_json_doubles(cJSON_GetObjectItem(rec, "lengths"), len, 3);
        cb_test_json_doubles(cJSON_GetObjectItem(rec, "angles"), ang, 3);
        if (len[0] < 0 || len[1] < 0 || len[2] < 0) continue; /* never constructed in the reference */
        memcpy(p, len, sizeof len);
        memcpy(p + 3, ang, sizeof ang);
        cb_lattice_from_parameters(p, m);
        const cJSON *ref = cJSON_GetObjectItem(rec, "lattice_matrix_from_parameters");
        if (!cJSON_IsArray(ref)) continue;
        for (int i = 0; i < 3; i++) {
            double row[3];
            cb_test_json_doubles(cJSON_GetArrayItem(ref, i), row, 3);
            for (int j = 0; j < 3; j++) {
                /* numpy's arccos is its own SIMD routine (SVML on AVX-512), which can differ
                 * from libm's correctly rounded acos by one ulp; 90-degree cells show it as
                 * a 1e-16-scale entry of either sign.  Allow 4 ulp of the vector length. */
                double tol = 4 * DBL_EPSILON * len[i];
                if (fabs(m[i][j] - row[j]) > tol)
                    fail_msg("%s: matrix[%d][%d] = %.17g, pymatgen %.17g", name, i, j, m[i][j], row[j]);
                exact += m[i][j] == row[j];
                entries++;
            }
        }
        double v = cb_lattice_volume(m), vref = cJSON_GetObjectItem(rec, "volume")->valuedouble;
        if (fabs(v - vref) > 1e-12 * vref) fail_msg("%s: volume %.17g, pymatgen %.17g", name, v, vref);
        checked++;
    }
    printf("checked %d reference lattices: %d of %d entries bit-identical\n", checked, exact, entries);
    assert_true(checked >= 20);
    cJSON_Delete(root);
}

static void test_density_and_elements_match_reference(void **state)
{
    (void)state;
    cJSON *root = cb_test_reference_vectors();
    if (!root) skip();
    const cJSON *rec;
    int checked = 0;
    cJSON_ArrayForEach(rec, cJSON_GetObjectItem(root, "crystals"))
    {
        const char *name = cJSON_GetObjectItem(rec, "name")->valuestring;
        const cJSON *dens = cJSON_GetObjectItem(rec, "density");
        if (!cJSON_IsNumber(dens)) continue;
        cb_crystal c;
        assert_int_equal(build_reference_crystal(rec, &c), 0);
        double d = cb_crystal_density(&c);
        if (fabs(d - dens->valuedouble) > 1e-12 * dens->valuedouble)
            fail_msg("%s: density %.17g, reference %.17g", name, d, dens->valuedouble);
        const cJSON *ne = cJSON_GetObjectItem(rec, "n_elems");
        if (cJSON_IsNumber(ne)) assert_int_equal(cb_crystal_n_elements(&c), ne->valueint);
        const cJSON *mind = cJSON_GetObjectItem(rec, "min_pair_distance");
        if (cJSON_IsNumber(mind) && c.n > 1) {
            double *dm = malloc((size_t)c.n * (size_t)c.n * sizeof *dm);
            assert_int_equal(cb_crystal_distance_matrix(&c, dm, NULL), 0);
            double best = INFINITY;
            for (int i = 0; i < c.n; i++)
                for (int j = 0; j < c.n; j++)
                    if (i != j && dm[i * c.n + j] < best) best = dm[i * c.n + j];
            if (fabs(best - mind->valuedouble) > 1e-9)
                fail_msg("%s: min distance %.17g, reference %.17g", name, best, mind->valuedouble);
            free(dm);
        }
        cb_crystal_free(&c);
        checked++;
    }
    printf("checked %d reference crystals\n", checked);
    assert_true(checked >= 20);
    cJSON_Delete(root);
}

static void test_parameters_round_trip(void **state)
{
    (void)state;
    const double cases[][6] = {{3, 4, 5, 90, 90, 90},      {4.1, 4.1, 18.4, 90, 90, 120},
                               {5.2, 6.1, 7.3, 61, 73, 99}, {2.5, 2.5, 2.5, 60, 60, 60},
                               {3.3, 9.1, 4.4, 120, 95, 100}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        double m[3][3], p[6];
        cb_lattice_from_parameters(cases[k], m);
        cb_lattice_parameters(m, p);
        for (int i = 0; i < 6; i++) assert_true(fabs(p[i] - cases[k][i]) < 1e-10);
    }
}

static void test_frac_cart_inverse(void **state)
{
    (void)state;
    const double p[6] = {5.2, 6.1, 7.3, 61, 73, 99};
    double m[3][3], inv[3][3];
    cb_lattice_from_parameters(p, m);
    assert_true(cb_mat3_inverse(m, inv));
    const double f[3] = {0.1, -0.7, 1.3};
    double cart[3], back[3];
    cb_frac_to_cart(m, f, cart);
    cb_cart_to_frac(inv, cart, back);
    for (int k = 0; k < 3; k++) assert_true(fabs(back[k] - f[k]) < 1e-14);
    double w[3] = {-1e-17, 0.5, -0.25};
    cb_wrap_frac(w);
    assert_true(w[0] == 1.0); /* numpy's x % 1 quirk, kept on purpose (metrics.md §0.2) */
    assert_true(w[1] == 0.5 && w[2] == 0.75);
    double singular[3][3] = {{1, 0, 0}, {2, 0, 0}, {0, 0, 1}};
    assert_false(cb_mat3_inverse(singular, inv));
}

static void test_check_rejects_bad_crystals(void **state)
{
    (void)state;
    cb_crystal c;
    cb_error err;
    assert_int_equal(cb_crystal_alloc(&c, 2, NULL), 0);
    const double p[6] = {3, 3, 3, 90, 90, 90};
    cb_lattice_from_parameters(p, c.lattice);
    c.z[0] = 11;
    c.z[1] = 17;
    c.frac[1][0] = 0.5;
    assert_int_equal(cb_crystal_check(&c, "t", &err), CB_OK);
    c.z[1] = 119;
    assert_int_equal(cb_crystal_check(&c, "t", &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown element"));
    c.z[1] = 17;
    c.frac[0][2] = NAN;
    assert_int_equal(cb_crystal_check(&c, "t", &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "non-finite"));
    c.frac[0][2] = 0;
    memset(c.lattice[2], 0, sizeof c.lattice[2]);
    assert_int_equal(cb_crystal_check(&c, "t", &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "volume"));
    cb_crystal_free(&c);
}

/* cb_crystal_placeholder: structurally invalid for 1 to 99 sites (volume under 0.1 Å³),
 * and written then read back unchanged by the CSV reader, whose duplicate-atom check
 * refuses sites closer than 1e-3 Å. */
static void test_placeholder(void **state)
{
    (void)state;
    cb_error err;
    cb_crystal c[99];
    for (int n = 1; n <= 99; n++) {
        memset(&c[n - 1], 0, sizeof c[n - 1]);
        assert_int_equal(cb_crystal_alloc(&c[n - 1], n, &err), CB_OK);
        for (int i = 0; i < n; i++) c[n - 1].z[i] = 8;
        cb_crystal_placeholder(&c[n - 1]);
        int valid;
        double dmin;
        assert_int_equal(cb_structure_validity(&c[n - 1], &valid, &dmin, &err), CB_OK);
        assert_false(valid);
        assert_int_equal(cb_crystal_check(&c[n - 1], "placeholder", &err), CB_OK);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/placeholders.csv", cb_test_scratch());
    assert_int_equal(cb_dataset_write(path, CB_FORMAT_CSV, c, 99, &err), CB_OK);
    cb_dataset back;
    if (cb_dataset_load(path, CB_FORMAT_CSV, &back, &err)) fail_msg("%s", err.msg);
    assert_int_equal(back.n, 99);
    assert_int_equal(back.items[98].n, 99);
    cb_dataset_free(&back);
    for (int n = 1; n <= 99; n++) cb_crystal_free(&c[n - 1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_parameters_matches_pymatgen),
        cmocka_unit_test(test_density_and_elements_match_reference),
        cmocka_unit_test(test_parameters_round_trip),
        cmocka_unit_test(test_frac_cart_inverse),
        cmocka_unit_test(test_check_rejects_bad_crystals),
        cmocka_unit_test(test_placeholder),
    };
    return cmocka_run_group_tests(tests, cb_test_scratch_setup, cb_test_scratch_teardown);
}
