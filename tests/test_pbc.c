/* Shortest periodic vectors and the distance matrix, against pymatgen 2022.11.7
 * (pbc_shortest_vectors with mask and lll_frac_tol, Structure.distance_matrix,
 * get_lll_frac_coords) on seeded random crystals and a sample of MP-20, and against
 * the min_pair_distance / volume of shared/data/reference/reference_vectors.json.
 *
 * CB_REDUCE_FULL=1 in the environment compares every MP-20 test row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "reduce_testlib.h"

#define N_RANDOM 400


static int setup(void **state)
{
    (void)state;
    if (!cb_test_pymatgen_python()) return 0;
    char *dir = cb_test_tmpdir();
    if (!dir) return 0;
    char path[4096], args[8400];
    snprintf(path, sizeof path, "%s/random.txt", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        cb_rng rng;
        cb_rng_seed(&rng, 99);
        for (int i = 0; i < N_RANDOM; i++) {
            cb_crystal c;
            if (rt_random_crystal(&rng, i % 5, 12, &c)) break;
            char id[32];
            snprintf(id, sizeof id, "random%d_kind%d", i, i % 5);
            rt_write_crystal(f, id, &c);
            fputs("END\n", f);
            cb_crystal_free(&c);
        }
        if (fclose(f) == 0) {
            snprintf(args, sizeof args, "eval '%s' --what pbc", path);
            char *out = rt_run_python(args);
            if (out && rt_parse(out, &g_random) == 0) g_have_random = 1;
            free(out);
        }
    }
    cb_test_rmtree(dir);
    free(dir);

    const char *csv = cb_test_data_file("mp_20/test.csv");
    if (csv) {
        int every = rt_full_run() ? 1 : 9;
        snprintf(args, sizeof args, "mp20 '%s' --what pbc --every %d", csv, every);
        char *out = rt_run_python(args);
        if (out && rt_parse(out, &g_mp20) == 0) g_have_mp20 = 1;
        free(out);
    }
    return 0;
}


/* min over i != j of an n × n matrix; -1 when n < 2 */
static double min_offdiag(const double *d, int n)
{
    double m = -1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j && (m < 0 || d[i * n + j] < m)) m = d[i * n + j];
    return m;
}

static void test_distance_matrix(void **state)
{
    (void)state;
    REQUIRE_DATA();
    for (int s = 0; s < 2; s++) {
        rt_cmp cd = {0}, cmin = {0}, cf = {0};
        for (int i = 0; i < sets[s]->n; i++) {
            const rt_rec *r = &sets[s]->r[i];
            const rt_field *dm = rt_get(r, "dmat"), *lf = rt_get(r, "lllfrac");
            int n = r->c.n;
            if (!dm || dm->n != n * n) continue;
            double *d = malloc((size_t)n * n * sizeof *d);
            assert_non_null(d);
            cb_error err;
            assert_int_equal(cb_crystal_distance_matrix(&r->c, d, &err), CB_OK);
            if (rt_compare(&cd, d, dm->v, n * n, 1e-10) == 2) printf("distance matrix mismatch: %s\n", r->id);
            if (n > 1) {
                double a = min_offdiag(d, n), b = min_offdiag(dm->v, n);
                rt_compare(&cmin, &a, &b, 1, 1e-10);
            }
            free(d);
            if (lf && lf->n == 3 * n) {
                cb_lll l;
                double(*g)[3] = malloc((size_t)n * sizeof *g);
                assert_non_null(g);
                assert_int_equal(cb_lll_reduce(r->c.lattice, &l, NULL), CB_OK);
                cb_lll_frac_coords(&l, (const double(*)[3])r->c.frac, n, g);
                rt_compare(&cf, &g[0][0], lf->v, 3 * n, 1e-12);
                free(g);
            }
        }
        printf("%s:\n", set_names[s]);
        rt_report("distance_matrix", &cd);
        rt_report("min pair distance", &cmin);
        rt_report("get_lll_frac_coords", &cf);
        assert_int_equal(cd.mismatched, 0);
        assert_int_equal(cmin.mismatched, 0);
        assert_int_equal(cf.mismatched, 0);
    }
}

/* The numpy-exact helpers of reduce.h (inverse, reciprocal lattice, coordinates). */
static void test_numpy_helpers(void **state)
{
    (void)state;
    REQUIRE_DATA();
    for (int s = 0; s < 2; s++) {
        rt_cmp ci = {0}, cr = {0}, cs = {0}, cc = {0}, cf = {0};
        for (int i = 0; i < sets[s]->n; i++) {
            const rt_rec *r = &sets[s]->r[i];
            const rt_field *iv = rt_get(r, "inv"), *rc = rt_get(r, "recip"), *csit = rt_get(r, "cart_sites"),
                           *crow = rt_get(r, "cart_rows"), *frow = rt_get(r, "frac_rows");
            int n = r->c.n;
            if (!iv || !rc || !csit || !crow || !frow || n == 0) continue;
            double inv[3][3], rec[3][3];
            assert_int_equal(cb_lattice_inv(r->c.lattice, inv), 0);
            assert_int_equal(cb_lattice_reciprocal(r->c.lattice, rec), 0);
            rt_compare(&ci, &inv[0][0], iv->v, 9, 1e-12);
            rt_compare(&cr, &rec[0][0], rc->v, 9, 1e-12);
            double(*x)[3] = malloc((size_t)n * sizeof *x), (*y)[3] = malloc((size_t)n * sizeof *y);
            assert_true(x && y);
            for (int k = 0; k < n; k++) cb_lattice_dot_vec(r->c.lattice, r->c.frac[k], x[k]);
            rt_compare(&cs, &x[0][0], csit->v, 3 * n, 1e-10);
            cb_lattice_dot_rows(r->c.lattice, (const double(*)[3])r->c.frac, n, x);
            rt_compare(&cc, &x[0][0], crow->v, 3 * n, 1e-10);
            cb_lattice_dot_rows(inv, (const double(*)[3])csit->v, n, y);
            rt_compare(&cf, &y[0][0], frow->v, 3 * n, 1e-10);
            free(x);
            free(y);
        }
        printf("%s:\n", set_names[s]);
        rt_report("Lattice.inv_matrix", &ci);
        rt_report("reciprocal_lattice", &cr);
        rt_report("Structure.cart_coords", &cs);
        rt_report("get_cartesian_coords (2-D)", &cc);
        rt_report("get_fractional_coords (2-D)", &cf);
        assert_int_equal(ci.within + ci.mismatched, 0);
        assert_int_equal(cr.within + cr.mismatched, 0);
        assert_int_equal(cs.within + cs.mismatched, 0);
        assert_int_equal(cc.within + cc.mismatched, 0);
        assert_int_equal(cf.within + cf.mismatched, 0);
    }
}

static void test_shortest_vectors_mask_tol(void **state)
{
    (void)state;
    REQUIRE_DATA();
    for (int s = 0; s < 2; s++) {
        rt_cmp cd = {0}, cv = {0};
        long forbidden = 0;
        for (int i = 0; i < sets[s]->n; i++) {
            const rt_rec *r = &sets[s]->r[i];
            const rt_field *f2 = rt_get(r, "psv_f2"), *mk = rt_get(r, "psv_mask"), *tl = rt_get(r, "psv_tol"),
                           *d2 = rt_get(r, "psv_d2"), *vv = rt_get(r, "psv_vec");
            if (!f2 || !mk || !tl || !d2 || !vv) continue;
            int n = r->c.n, m = (int)f2->v[0];
            assert_int_equal(f2->n, 1 + 3 * m);
            assert_int_equal(mk->n, n * m);
            unsigned char *mask = malloc((size_t)n * m);
            double *d = malloc((size_t)n * m * sizeof *d);
            double(*v)[3] = malloc((size_t)n * m * sizeof *v);
            assert_true(mask && d && v);
            for (int k = 0; k < n * m; k++) mask[k] = mk->v[k] != 0;
            cb_lll l;
            cb_error err;
            assert_int_equal(cb_lll_reduce(r->c.lattice, &l, &err), CB_OK);
            assert_int_equal(cb_pbc_shortest_vectors(&l, (const double(*)[3])r->c.frac, n,
                                                     (const double(*)[3])(f2->v + 1), m, mask, tl->v, v, d, &err),
                             CB_OK);
            for (int k = 0; k < n * m; k++) forbidden += d[k] == 1e20;
            if (rt_compare(&cd, d, d2->v, n * m, 1e-10) == 2) printf("shortest vectors mismatch: %s\n", r->id);
            rt_compare(&cv, &v[0][0], vv->v, 3 * n * m, 1e-10);
            free(mask);
            free(d);
            free(v);
        }
        printf("%s (%ld forbidden pairs):\n", set_names[s], forbidden);
        rt_report("pbc_shortest_vectors d2", &cd);
        rt_report("pbc_shortest_vectors vec", &cv);
        assert_int_equal(cd.mismatched, 0);
        assert_int_equal(cv.mismatched, 0);
    }
}

/* Without pymatgen: the 27 LLL images give the true minimum image for reasonable
 * cells (checked against a brute-force search over ±3 cells of the Niggli basis). */
static void test_minimum_image(void **state)
{
    (void)state;
    cb_rng rng;
    cb_rng_seed(&rng, 5);
    long pairs = 0, worse = 0;
    for (int t = 0; t < 300; t++) {
        cb_crystal c;
        assert_int_equal(rt_random_crystal(&rng, t % 4, 5, &c), 0);
        int n = c.n;
        double *d = malloc((size_t)n * n * sizeof *d);
        assert_non_null(d);
        assert_int_equal(cb_crystal_distance_matrix(&c, d, NULL), CB_OK);
        for (int i = 0; i < n; i++) {
            assert_true(d[i * n + i] == 0);
            for (int j = 0; j < n; j++) {
                assert_true(d[i * n + j] == d[j * n + i] || fabs(d[i * n + j] - d[j * n + i]) < 1e-12);
                double best = INFINITY;
                for (int a = -3; a <= 3; a++)
                    for (int b = -3; b <= 3; b++)
                        for (int e = -3; e <= 3; e++) {
                            double df[3] = {c.frac[j][0] - c.frac[i][0] + a, c.frac[j][1] - c.frac[i][1] + b,
                                            c.frac[j][2] - c.frac[i][2] + e};
                            df[0] -= round(c.frac[j][0] - c.frac[i][0]);
                            df[1] -= round(c.frac[j][1] - c.frac[i][1]);
                            df[2] -= round(c.frac[j][2] - c.frac[i][2]);
                            double x[3];
                            cb_frac_to_cart(c.lattice, df, x);
                            double dd = sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
                            if (dd < best) best = dd;
                        }
                pairs++;
                if (d[i * n + j] > best + 1e-9) worse++;
            }
        }
        free(d);
        cb_crystal_free(&c);
    }
    printf("minimum image: %ld of %ld pairs longer than the brute-force minimum\n", worse, pairs);
    assert_int_equal(worse, 0);
}

static void test_reference_vectors(void **state)
{
    (void)state;
    cJSON *root = cb_test_reference_vectors();
    if (!root) skip();
    const cJSON *crystals = cJSON_GetObjectItem(root, "crystals"), *it;
    int checked = 0;
    cJSON_ArrayForEach(it, crystals)
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(it, "name"));
        const cJSON *types = cJSON_GetObjectItem(it, "atom_types"), *fc = cJSON_GetObjectItem(it, "frac_coords");
        const cJSON *lm = cJSON_GetObjectItem(it, "lattice_matrix_from_parameters");
        int n = cJSON_GetArraySize(types);
        cb_crystal c;
        assert_int_equal(cb_crystal_alloc(&c, n, NULL), CB_OK);
        for (int i = 0; i < 3; i++)
            assert_int_equal(cb_test_json_doubles(cJSON_GetArrayItem(lm, i), c.lattice[i], 3), 3);
        for (int i = 0; i < n; i++) {
            c.z[i] = cJSON_GetArrayItem(types, i)->valueint;
            assert_int_equal(cb_test_json_doubles(cJSON_GetArrayItem(fc, i), c.frac[i], 3), 3);
        }
        double vol = cJSON_GetNumberValue(cJSON_GetObjectItem(it, "volume"));
        assert_true(fabs(cb_crystal_volume(&c) - vol) <= 1e-9);

        const cJSON *mpd = cJSON_GetObjectItem(it, "min_pair_distance");
        double *d = malloc((size_t)n * n * sizeof *d);
        assert_non_null(d);
        assert_int_equal(cb_crystal_distance_matrix(&c, d, NULL), CB_OK);
        double m = min_offdiag(d, n);
        if (cJSON_IsNull(mpd)) {
            assert_true(n < 2);
        } else {
            if (fabs(m - mpd->valuedouble) > 1e-9)
                printf("%s: min pair distance %.17g, reference %.17g\n", name, m, mpd->valuedouble);
            assert_true(fabs(m - mpd->valuedouble) <= 1e-9);
        }
        free(d);
        cb_crystal_free(&c);
        checked++;
    }
    printf("reference_vectors.json: volume and min_pair_distance of %d crystals within 1e-9\n", checked);
    assert_true(checked > 0);
    cJSON_Delete(root);
}

static void test_empty_and_errors(void **state)
{
    (void)state;
    cb_lll l;
    double m[3][3] = {{3, 0, 0}, {0, 3, 0}, {0, 0, 3}};
    assert_int_equal(cb_lll_reduce(m, &l, NULL), CB_OK);
    double d2[1] = {-1};
    /* empty sets: nothing written */
    assert_int_equal(cb_pbc_shortest_vectors(&l, NULL, 0, NULL, 0, NULL, NULL, NULL, d2, NULL), CB_OK);
    assert_true(d2[0] == -1);
    const double bad[1][3] = {{NAN, 0, 0}};
    cb_error err;
    assert_int_equal(cb_pbc_shortest_vectors(&l, bad, 1, bad, 1, NULL, NULL, NULL, d2, &err), CB_ERR_INVALID);
    /* a 1-atom crystal: distance 0 to itself */
    cb_crystal c;
    assert_int_equal(cb_crystal_alloc(&c, 1, NULL), CB_OK);
    memcpy(c.lattice, m, sizeof m);
    c.z[0] = 26;
    assert_int_equal(cb_crystal_distance_matrix(&c, d2, NULL), CB_OK);
    assert_true(d2[0] == 0);
    cb_crystal_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance_matrix),
        cmocka_unit_test(test_numpy_helpers),
        cmocka_unit_test(test_shortest_vectors_mask_tol),
        cmocka_unit_test(test_minimum_image),
        cmocka_unit_test(test_reference_vectors),
        cmocka_unit_test(test_empty_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, rt_teardown);
}
