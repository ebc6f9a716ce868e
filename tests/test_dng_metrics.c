/* The DNG set metrics against reference_vectors.json (computed by the original Python
 * evaluation, metrics.md §7.4): Magpie composition fingerprints and their CompScaler
 * scaling per crystal, scipy's Wasserstein-1 cases, compute_cov's coverage cases and the
 * diversity case; and numpy's legacy permutation against numpy itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/dng.h"
#include "testutil.h"

/* |a − b| <= tol · max(1, |b|), with NaN equal only to NaN. */
static int close_rel(double a, double b, double tol)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return fabs(a - b) <= tol * fmax(1.0, fabs(b));
}

static const cJSON *find_crystal(const cJSON *root, const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "crystals"))
    {
        if (strcmp(cJSON_GetObjectItem(c, "name")->valuestring, name) == 0) return c;
    }
    return NULL;
}

static int crystal_types(const cJSON *c, int *z, int cap)
{
    double buf[512];
    int n = cb_test_json_doubles(cJSON_GetObjectItem(c, "atom_types"), buf, 512);
    assert_true(n > 0 && n <= cap);
    for (int i = 0; i < n; i++) z[i] = (int)buf[i];
    return n;
}

static void test_comp_fingerprints(void **state)
{
    (void)state;
    cJSON *root = cb_test_reference_vectors();
    if (!root) skip();
    int records = 0, entries = 0;
    double worst = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "crystals"))
    {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        const cJSON *raw = cJSON_GetObjectItem(c, "comp_fp_raw"), *scaled = cJSON_GetObjectItem(c, "comp_fp_scaled");
        if (!cJSON_IsArray(raw)) continue; /* fingerprint failure: no reference vector */
        int z[512];
        int n = crystal_types(c, z, 512);
        double fp[CB_COMP_FP_LEN], sc[CB_COMP_FP_LEN], want[CB_COMP_FP_LEN], want_sc[CB_COMP_FP_LEN];
        assert_int_equal(cb_comp_fingerprint(n, z, fp, NULL), CB_OK);
        cb_comp_scale(fp, sc);
        assert_int_equal(cb_test_json_doubles(raw, want, CB_COMP_FP_LEN), CB_COMP_FP_LEN);
        assert_int_equal(cb_test_json_doubles(scaled, want_sc, CB_COMP_FP_LEN), CB_COMP_FP_LEN);
        for (int k = 0; k < CB_COMP_FP_LEN; k++) {
            if (!close_rel(fp[k], want[k], 1e-9))
                fail_msg("%s: comp_fp[%d] = %.17g, reference %.17g", name, k, fp[k], want[k]);
            if (!close_rel(sc[k], want_sc[k], 1e-9))
                fail_msg("%s: scaled comp_fp[%d] = %.17g, reference %.17g", name, k, sc[k], want_sc[k]);
            if (!isnan(want[k])) worst = fmax(worst, fabs(fp[k] - want[k]) / fmax(1.0, fabs(want[k])));
            entries++;
        }
        records++;
    }
    printf("composition fingerprints: %d crystals, %d entries agree (max rel diff %.2g)\n", records, entries, worst);
    assert_true(records >= 20);
    cJSON_Delete(root);
}

static void test_comp_fingerprint_rules(void **state)
{
    (void)state;
    /* Fe2O3 as atom types in a shuffled cell: weights are counts (Fe 4, O 6 → mode = O's
     * value), min/max/range ignore weights, mean weights them. */
    const int fe2o3[10] = {8, 26, 8, 8, 26, 8, 26, 8, 8, 26};
    double fp[CB_COMP_FP_LEN];
    assert_int_equal(cb_comp_fingerprint(10, fe2o3, fp, NULL), CB_OK);
    assert_true(fp[0] == 8 && fp[1] == 26 && fp[2] == 18); /* Number: min, max, range */
    assert_true(fabs(fp[3] - (4 * 26.0 + 6 * 8.0) / 10) < 1e-12);
    assert_true(fabs(fp[4] - (4 * fabs(26 - 15.2) + 6 * fabs(8 - 15.2)) / 10) < 1e-12);
    assert_true(fp[5] == 8); /* mode: the most abundant element's value */
    /* equal counts: the mode is the smaller value */
    const int nacl[2] = {17, 11};
    assert_int_equal(cb_comp_fingerprint(2, nacl, fp, NULL), CB_OK);
    assert_true(fp[5] == 11);
    /* an element without a property: min/max/range/mean NaN (He has no MeltingT) */
    const int he[1] = {2};
    assert_int_equal(cb_comp_fingerprint(1, he, fp, NULL), CB_OK);
    assert_true(isnan(fp[6 * 3]) && isnan(fp[6 * 3 + 3]));
    double sc[CB_COMP_FP_LEN];
    cb_comp_scale(fp, sc);
    assert_true(sc[6 * 3] == 0.0); /* NaN → 0 after scaling */
    /* bad input */
    cb_error err;
    const int bad[2] = {8, 119};
    assert_int_equal(cb_comp_fingerprint(2, bad, fp, &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "119"));
    assert_int_equal(cb_comp_fingerprint(0, bad, fp, &err), CB_ERR_INVALID);
}

static void test_wasserstein(void **state)
{
    (void)state;
    cJSON *root = cb_test_reference_vectors();
    if (!root) skip();
    int n_cases = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "wasserstein_cases"))
    {
        double u[256], v[256], got;
        int nu = cb_test_json_doubles(cJSON_GetObjectItem(c, "u"), u, 256);
        int nv = cb_test_json_doubles(cJSON_GetObjectItem(c, "v"), v, 256);
        assert_int_equal(cb_wasserstein1(u, (size_t)nu, v, (size_t)nv, &got, NULL), CB_OK);
        double want = cJSON_GetObjectItem(c, "w1")->valuedouble;
        if (!(fabs(got - want) <= 1e-12 * fmax(1.0, want))) fail_msg("w1 case %d: %.17g, reference %.17g", n_cases, got, want);
        n_cases++;
    }
    assert_int_equal(n_cases, 4);
    cJSON_Delete(root);
    /* symmetric, shift-equivariant, and errors */
    const double a[3] = {0, 1, 3}, b[4] = {5, 6, 8, 9}, a5[3] = {5, 6, 8};
    double x, y;
    assert_int_equal(cb_wasserstein1(a, 3, b, 4, &x, NULL), CB_OK);
    assert_int_equal(cb_wasserstein1(b, 4, a, 3, &y, NULL), CB_OK);
    assert_true(x == y);
    assert_int_equal(cb_wasserstein1(a, 3, a5, 3, &x, NULL), CB_OK);
    assert_true(fabs(x - 5) < 1e-15);
    cb_error err;
    const double nan1[1] = {NAN};
    assert_int_equal(cb_wasserstein1(nan1, 1, a, 3, &x, &err), CB_ERR_INVALID);
    assert_int_equal(cb_wasserstein1(a, 0, a, 3, &x, &err), CB_ERR_INVALID);
}

/* The fingerprints of a named list of crystals: struct_fp from the reference (the
 * structure fingerprint is tested elsewhere), comp_fp computed and scaled here. */
typedef struct fp_rows {
    size_t n, n_listed;
    double *s, *c;
} fp_rows;

static void load_fps(const cJSON *root, const cJSON *names, fp_rows *r)
{
    size_t cap = (size_t)cJSON_GetArraySize(names);
    r->s = calloc(cap * CB_STRUCT_FP_LEN, sizeof *r->s);
    r->c = calloc(cap * CB_COMP_FP_LEN, sizeof *r->c);
    assert_non_null(r->s);
    assert_non_null(r->c);
    r->n = r->n_listed = 0;
    const cJSON *nm;
    cJSON_ArrayForEach(nm, names)
    {
        r->n_listed++;
        const cJSON *c = find_crystal(root, nm->valuestring);
        assert_non_null(c);
        const cJSON *sfp = cJSON_GetObjectItem(c, "struct_fp");
        if (!cJSON_IsArray(sfp)) continue; /* no fingerprint: not in the set */
        assert_int_equal(cb_test_json_doubles(sfp, r->s + r->n * CB_STRUCT_FP_LEN, CB_STRUCT_FP_LEN), CB_STRUCT_FP_LEN);
        int z[512];
        int n = crystal_types(c, z, 512);
        double raw[CB_COMP_FP_LEN];
        assert_int_equal(cb_comp_fingerprint(n, z, raw, NULL), CB_OK);
        cb_comp_scale(raw, r->c + r->n * CB_COMP_FP_LEN);
        r->n++;
    }
}

static void test_coverage_cases(void **state)
{
    (void)state;
    cJSON *root = cb_test_reference_vectors();
    if (!root) skip();
    int n_cases = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cov_cases"))
    {
        fp_rows g, t;
        load_fps(root, cJSON_GetObjectItem(c, "gen"), &g);
        load_fps(root, cJSON_GetObjectItem(c, "gt"), &t);
        cb_fp_set gs = {g.n, g.s, g.c}, ts = {t.n, t.s, t.c};
        double sc = cJSON_GetObjectItem(c, "struc_cutoff")->valuedouble;
        double cc = cJSON_GetObjectItem(c, "comp_cutoff")->valuedouble;
        for (int threads = 1; threads <= 3; threads += 2) {
            cb_coverage_result r;
            assert_int_equal(cb_coverage(&gs, g.n_listed, &ts, sc, cc, threads, &r, NULL), CB_OK);
            const char *names[6] = {"cov_recall", "cov_precision", "amsd_recall", "amsd_precision", "amcd_recall",
                                    "amcd_precision"};
            const double got[6] = {r.cov_recall, r.cov_precision, r.amsd_recall, r.amsd_precision, r.amcd_recall,
                                   r.amcd_precision};
            for (int k = 0; k < 6; k++) {
                double want = cJSON_GetObjectItem(c, names[k])->valuedouble;
                if (!close_rel(got[k], want, 1e-9))
                    fail_msg("cov case %d (%d threads): %s = %.17g, reference %.17g", n_cases, threads, names[k], got[k],
                             want);
            }
        }
        printf("cov case %d: %zu of %zu generated have fingerprints, %zu references: all 6 values agree\n", n_cases,
               g.n, g.n_listed, t.n);
        free(g.s);
        free(g.c);
        free(t.s);
        free(t.c);
        n_cases++;
    }
    assert_int_equal(n_cases, 2);
    cJSON_Delete(root);
}

static void test_diversity_case(void **state)
{
    (void)state;
    cJSON *root = cb_test_reference_vectors();
    if (!root) skip();
    const cJSON *c = cJSON_GetObjectItem(root, "diversity_case");
    fp_rows g;
    load_fps(root, cJSON_GetObjectItem(c, "gen"), &g);
    double comp_div = cb_mean_pairwise_distance(g.c, g.n, CB_COMP_FP_LEN);
    double struct_div = cb_mean_pairwise_distance(g.s, g.n, CB_STRUCT_FP_LEN);
    double want_c = cJSON_GetObjectItem(c, "comp_div")->valuedouble;
    double want_s = cJSON_GetObjectItem(c, "struct_div")->valuedouble;
    printf("diversity: comp %.17g (reference %.17g), struct %.17g (reference %.17g)\n", comp_div, want_c, struct_div,
           want_s);
    assert_true(close_rel(comp_div, want_c, 1e-9));
    assert_true(close_rel(struct_div, want_s, 1e-9));
    assert_true(isnan(cb_mean_pairwise_distance(g.c, 1, CB_COMP_FP_LEN)));
    free(g.s);
    free(g.c);
    cJSON_Delete(root);
}

/* numpy.random.RandomState(seed).permutation(n), printed by numpy itself. */
static void test_np_permutation(void **state)
{
    (void)state;
    const char *py = cb_test_pymatgen_python(); /* numpy comes with pymatgen */
    if (!py) skip();
    const struct {
        uint32_t seed;
        size_t n;
    } cases[] = {{0, 1}, {0, 10}, {42, 1000}, {123456789u, 9046}, {4294967295u, 77}, {7, 2}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int st;
        char *out = cb_test_runf(&st,
                                 "'%s' -c 'import numpy as np; print(\" \".join(map(str, "
                                 "np.random.RandomState(%u).permutation(%zu))))'",
                                 py, cases[k].seed, cases[k].n);
        assert_int_equal(st, 0);
        size_t *perm = malloc(cases[k].n * sizeof *perm);
        assert_non_null(perm);
        assert_int_equal(cb_np_permutation(cases[k].seed, cases[k].n, perm, NULL), CB_OK);
        char *p = out;
        for (size_t i = 0; i < cases[k].n; i++) {
            char *end;
            unsigned long v = strtoul(p, &end, 10);
            assert_true(end != p);
            if (v != perm[i]) fail_msg("seed %u n %zu: entry %zu is %zu, numpy %lu", cases[k].seed, cases[k].n, i, perm[i], v);
            p = end;
        }
        free(perm);
        free(out);
    }
    printf("numpy legacy permutation: %zu seeds/sizes identical\n", sizeof cases / sizeof cases[0]);
}

/* The protocol variants on hand-made crystals: NaCl (valid), the same with two atoms
 * 0.3 Å apart (struct-invalid), and NaCl in a cell with a 40° angle (FlowMM replaces it
 * by its absurd crystal). */
static void make_cell(cb_crystal *c, double gamma, double shift)
{
    assert_int_equal(cb_crystal_alloc(c, 2, NULL), CB_OK);
    const double p[6] = {4.0, 4.0, 4.0, 90.0, 90.0, gamma};
    cb_lattice_from_parameters(p, c->lattice);
    c->z[0] = 11;
    c->z[1] = 17;
    for (int k = 0; k < 3; k++) {
        c->frac[0][k] = 0.0;
        c->frac[1][k] = shift;
    }
}

static void test_protocols(void **state)
{
    (void)state;
    cb_crystal xs[3];
    make_cell(&xs[0], 90.0, 0.5);
    make_cell(&xs[1], 90.0, 0.04);
    make_cell(&xs[2], 40.0, 0.5);
    cb_dng_record rec[3], gt[3];
    cb_dng_opts o;
    cb_dng_opts_default(&o);
    o.n_subsample = 0;

    /* CDVAE: every crystal fingerprinted, validity from the record */
    o.protocol = CB_DNG_CDVAE;
    assert_int_equal(cb_dng_records(&o, xs, 3, 1, rec, NULL), CB_OK);
    assert_true(rec[0].v.valid && rec[0].has_fp);
    assert_true(!rec[1].v.struct_valid && !rec[1].v.valid && rec[1].has_fp);
    assert_true(rec[2].v.valid && rec[2].has_fp);
    assert_true(rec[0].n_elems == 2 && fabs(rec[0].density - rec[2].density * sin(40 * M_PI / 180)) < 1e-9);
    assert_int_equal(cb_dng_records(&o, xs, 1, 0, gt, NULL), CB_OK);
    cb_dng_result r;
    assert_int_equal(cb_dng_evaluate(&o, rec, 3, gt, 1, &r, NULL), CB_OK);
    assert_true(r.n_valid == 2 && r.n_gen_fp == 3 && fabs(r.valid - 2.0 / 3) < 1e-15);
    assert_true(isnan(r.wdist_nary));
    assert_true(r.cov.cov_recall == 1.0);                 /* NaCl itself was generated */
    assert_true(fabs(r.cov.cov_precision - 1.0 / 3) < 1e-15); /* only NaCl is within 0.4 / 10 */

    /* CTL: only valid crystals are fingerprinted, precision divides by them */
    o.protocol = CB_DNG_CTL;
    assert_int_equal(cb_dng_records(&o, xs, 3, 1, rec, NULL), CB_OK);
    assert_true(rec[0].has_fp && !rec[1].has_fp && rec[2].has_fp);
    assert_int_equal(cb_dng_evaluate(&o, rec, 3, gt, 1, &r, NULL), CB_OK);
    assert_true(r.n_gen_fp == 2 && fabs(r.cov.cov_precision - 0.5) < 1e-15);

    /* FlowMM: the 40° prediction is the absurd crystal, invalid without fingerprints;
     * ground truth is not filtered; wdist_nary over all predictions (absurd: 1 element) */
    o.protocol = CB_DNG_FLOWMM;
    assert_int_equal(cb_dng_records(&o, xs, 3, 1, rec, NULL), CB_OK);
    assert_true(rec[2].v.absurd && !rec[2].v.comp_valid && !rec[2].v.valid && !rec[2].has_fp);
    assert_true(rec[0].has_fp && rec[1].has_fp);
    assert_int_equal(cb_dng_records(&o, xs + 2, 1, 0, gt, NULL), CB_OK);
    assert_true(!gt[0].v.absurd && gt[0].has_fp);
    assert_int_equal(cb_dng_evaluate(&o, rec, 3, gt, 1, &r, NULL), CB_OK);
    assert_true(r.n_valid == 1 && r.n_gen_fp == 2);
    assert_true(fabs(r.wdist_nary - 1.0 / 3) < 1e-15); /* {2, 2, 1} against {2} */

    /* the reference raises when fewer valid crystals exist than the subset size */
    o.protocol = CB_DNG_CDVAE;
    o.n_subsample = 5;
    assert_int_equal(cb_dng_records(&o, xs, 3, 1, rec, NULL), CB_OK);
    cb_error err;
    assert_int_equal(cb_dng_evaluate(&o, rec, 3, gt, 1, &r, &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "fewer than the 5"));
    for (int i = 0; i < 3; i++) cb_crystal_free(&xs[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comp_fingerprints), cmocka_unit_test(test_comp_fingerprint_rules),
        cmocka_unit_test(test_wasserstein),       cmocka_unit_test(test_coverage_cases),
        cmocka_unit_test(test_diversity_case),    cmocka_unit_test(test_np_permutation),
        cmocka_unit_test(test_protocols),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
