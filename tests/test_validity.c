/* The validity record (metrics.md §1.1, §2) against reference_vectors.json: every SMACT
 * case and every crystal's struct_valid, comp_valid, min_pair_distance and reduced
 * composition must agree exactly; then the protocol differences of §1.1 on hand-made
 * inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crystalbench/validity.h"
#include "testutil.h"

/* C11 does not convert double (*)[3] to const double (*)[3] implicitly. */
#define CF(x) ((const double(*)[3])(x))

static void test_smact_cases(void **state)
{
    (void)state;
    cJSON *root = cb_test_reference_vectors();
    if (!root) skip();
    const cJSON *cases = cJSON_GetObjectItem(root, "smact_cases");
    int n_cases = cJSON_GetArraySize(cases), agree = 0;
    assert_int_equal(n_cases, 32);
    const cJSON *c;
    cJSON_ArrayForEach(c, cases)
    {
        int z[CB_MAX_Z];
        long counts[CB_MAX_Z];
        double buf[CB_MAX_Z];
        int n = cb_test_json_doubles(cJSON_GetObjectItem(c, "elems"), buf, CB_MAX_Z);
        assert_true(n > 0);
        for (int i = 0; i < n; i++) z[i] = (int)buf[i];
        assert_int_equal(cb_test_json_doubles(cJSON_GetObjectItem(c, "counts"), buf, CB_MAX_Z), n);
        for (int i = 0; i < n; i++) counts[i] = (long)buf[i];
        int expect = cJSON_IsTrue(cJSON_GetObjectItem(c, "valid"));
        /* The guard of DiffCSP/FlowMM changes nothing for these small cases. */
        for (int guard = 0; guard <= 1; guard++) {
            int got = cb_smact_validity(n, z, counts, guard);
            if (got != expect) {
                char *text = cJSON_PrintUnformatted(c);
                fail_msg("smact case %s: got %d (guard %d)", text, got, guard);
            }
        }
        agree++;
    }
    printf("smact: %d/%d cases agree\n", agree, n_cases);
    cJSON_Delete(root);
}

/* SMACT's Ir list is the PyPI 2.2.1 wheel's (first state -3, tools/gen_elements.py):
 * the reference DNG evaluation counts Mg3Si3Ir valid through Mg(+2) Si(-1) Ir(-3). */
static void test_smact_iridium(void **state)
{
    (void)state;
    const int z[3] = {12, 14, 77};
    const long counts[3] = {3, 3, 1};
    assert_int_equal(cb_smact_validity(3, z, counts, 0), CB_SMACT_VALID);
    assert_int_equal(cb_smact_validity(3, z, counts, 1), CB_SMACT_VALID);
    assert_int_equal(cb_elements[77].ox_states[0], -3);
    assert_int_equal(cb_elements[77].ox_states[1], -1);
}

static int read_ints(const cJSON *arr, int *out, int cap)
{
    double buf[1024];
    int n = cb_test_json_doubles(arr, buf, 1024);
    if (n > cap) return -1;
    for (int i = 0; i < n; i++) out[i] = (int)buf[i];
    return n;
}

static void test_reference_crystals(void **state)
{
    (void)state;
    cJSON *root = cb_test_reference_vectors();
    if (!root) skip();
    const cJSON *crystals = cJSON_GetObjectItem(root, "crystals");
    assert_int_equal(cJSON_GetArraySize(crystals), 24);
    int checked = 0, exact = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, crystals)
    {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        double lengths[3], angles[3];
        assert_int_equal(cb_test_json_doubles(cJSON_GetObjectItem(c, "lengths"), lengths, 3), 3);
        assert_int_equal(cb_test_json_doubles(cJSON_GetObjectItem(c, "angles"), angles, 3), 3);
        static int types[512];
        static double frac[512][3];
        int n = read_ints(cJSON_GetObjectItem(c, "atom_types"), types, 512);
        assert_true(n > 0);
        const cJSON *fc = cJSON_GetObjectItem(c, "frac_coords");
        assert_int_equal(cJSON_GetArraySize(fc), n);
        for (int i = 0; i < n; i++)
            assert_int_equal(cb_test_json_doubles(cJSON_GetArrayItem(fc, i), frac[i], 3), 3);

        int want_struct = cJSON_IsTrue(cJSON_GetObjectItem(c, "struct_valid"));
        int want_comp = cJSON_IsTrue(cJSON_GetObjectItem(c, "comp_valid"));
        const cJSON *md = cJSON_GetObjectItem(c, "min_pair_distance");
        double want_min = cJSON_IsNumber(md) ? md->valuedouble : NAN;
        const cJSON *rc = cJSON_GetObjectItem(c, "reduced_comp");
        int want_elems[CB_MAX_Z], want_counts[CB_MAX_Z];
        int want_ne = read_ints(cJSON_GetObjectItem(rc, "elems"), want_elems, CB_MAX_Z);
        assert_int_equal(read_ints(cJSON_GetObjectItem(rc, "counts"), want_counts, CB_MAX_Z), want_ne);

        for (int p = CB_PROTOCOL_CDVAE; p <= CB_PROTOCOL_FLOWMM; p++) {
            cb_validity v;
            cb_crystal built;
            cb_error err;
            assert_int_equal(cb_validity_from_params((cb_protocol)p, 0, lengths, angles, n, types,
                                                     CF(frac), &v, &built, &err),
                             0);
            if (v.struct_valid != want_struct || v.comp_valid != want_comp || v.valid != (want_struct && want_comp))
                fail_msg("%s (%s): struct %d comp %d, reference %d %d", name, cb_protocol_name(p), v.struct_valid,
                         v.comp_valid, want_struct, want_comp);
            /* From the parameters, numpy's SIMD arccos (SVML on AVX-512) may put the
             * lattice one ulp away from libm's (tests/test_crystal.c): 1e-12 here, and
             * exact equality below on pymatgen's own matrix. */
            if (!(isnan(want_min) ? isnan(v.min_dist) : fabs(v.min_dist - want_min) <= 1e-12 * want_min))
                fail_msg("%s: min distance %.17g, reference %.17g", name, v.min_dist, want_min);
            assert_int_equal(v.n_elems, want_ne);
            for (int i = 0; i < want_ne; i++) {
                assert_int_equal(v.elems[i], want_elems[i]);
                assert_int_equal(v.counts[i], want_counts[i]);
            }
            assert_true(v.constructed);
            assert_false(v.absurd);
            /* The record of the structure as built is the same record. */
            cb_validity w;
            assert_int_equal(cb_validity_of_crystal((cb_protocol)p, 0, &built, &w, &err), 0);
            assert_int_equal(w.valid, v.valid);
            assert_int_equal(w.struct_valid, v.struct_valid);
            assert_true(isnan(w.min_dist) ? isnan(v.min_dist) : w.min_dist == v.min_dist);
            /* pymatgen's lattice matrix: every number exactly. */
            const cJSON *lm = cJSON_GetObjectItem(c, "lattice_matrix_from_parameters");
            for (int i = 0; i < 3; i++)
                assert_int_equal(cb_test_json_doubles(cJSON_GetArrayItem(lm, i), built.lattice[i], 3), 3);
            assert_int_equal(cb_validity_of_crystal((cb_protocol)p, 0, &built, &w, &err), 0);
            if (w.struct_valid != want_struct || w.comp_valid != want_comp)
                fail_msg("%s (%s, pymatgen lattice): struct %d comp %d", name, cb_protocol_name(p), w.struct_valid,
                         w.comp_valid);
            if (!(isnan(want_min) ? isnan(w.min_dist) : w.min_dist == want_min))
                fail_msg("%s: min distance on pymatgen's lattice %.17g, reference %.17g", name, w.min_dist, want_min);
            if (w.min_dist == want_min) exact++;
            cb_crystal_free(&built);
        }
        checked++;
    }
    printf("crystals: %d/24 agree (struct_valid, comp_valid, reduced_comp; min_pair_distance bit-identical on pymatgen's "
           "lattice for %d of %d protocol runs with pairs)\n", checked, exact, 3 * 23);
    cJSON_Delete(root);
}

/* Pauling test order dependence (§2.2): the first pair with a None decides. */
static void test_pauling_order(void **state)
{
    (void)state;
    double e[3] = {3.44, 1.54, NAN}; /* O, Ti, Pm */
    int ox1[3] = {-2, 4, 3};         /* (O,Ti) fine, (O,Pm) anion-cation with None → True */
    assert_int_equal(cb_smact_pauling_ok(3, ox1, e), 1);
    double e2[2] = {1.54, NAN}; /* Ti, Pm: same-sign pair with None → False */
    int ox2[2] = {2, 3};
    assert_int_equal(cb_smact_pauling_ok(2, ox2, e2), 0);
    double e3[2] = {2.0, 2.0}; /* equal electronegativities fail */
    int ox3[2] = {1, -1};
    assert_int_equal(cb_smact_pauling_ok(2, ox3, e3), 0);
    /* Z >= 104 has no SMACT element data: an error (comp-invalid), even alone. */
    int rf[1] = {104};
    long one[1] = {1};
    assert_int_equal(cb_smact_validity(1, rf, one, 0), CB_SMACT_ERROR);
    /* The 1e7 guard: seven elements with 8+ states each exceed it. */
    int big[7] = {6, 7, 15, 16, 17, 25, 53};
    long cnt[7] = {1, 1, 1, 1, 1, 1, 1};
    double combos = 1;
    for (int i = 0; i < 7; i++) combos *= cb_elements[big[i]].n_ox_states;
    if (combos > 1e7) assert_int_equal(cb_smact_validity(7, big, cnt, 1), CB_SMACT_INVALID);
    printf("guard case: %.0f combinations, without guard -> %d\n", combos, cb_smact_validity(7, big, cnt, 0));
}

static void test_protocol_differences(void **state)
{
    (void)state;
    /* NaCl rock-salt primitive-ish: 2 atoms. */
    int types[2] = {11, 17};
    double frac[2][3] = {{0, 0, 0}, {0.5, 0.5, 0.5}};
    double len[3] = {4, 4, 4}, ang[3] = {90, 90, 90};
    cb_validity v;
    cb_error err;

    /* Negative length: CDVAE does not construct; DiffCSP/FlowMM accept it (bug). */
    double neg[3] = {-4, 4, 4};
    assert_int_equal(cb_validity_from_params(CB_PROTOCOL_CDVAE, 1, neg, ang, 2, types, CF(frac), &v, NULL, &err), 0);
    assert_false(v.constructed);
    assert_false(v.struct_valid);
    assert_true(v.comp_valid); /* computed from the atom types anyway */
    assert_false(v.valid);
    assert_int_equal(cb_validity_from_params(CB_PROTOCOL_DIFFCSP, 1, neg, ang, 2, types, CF(frac), &v, NULL, &err), 0);
    assert_true(v.constructed);
    assert_true(v.valid);
    assert_true(fabs(v.volume - 64.0) < 1e-9);

    /* NaN coordinate: nobody constructs; FlowMM computes no comp_valid either. */
    double nanfrac[2][3] = {{0, 0, 0}, {NAN, 0.5, 0.5}};
    for (int p = 0; p < 3; p++) {
        assert_int_equal(cb_validity_from_params((cb_protocol)p, 1, len, ang, 2, types, CF(nanfrac), &v, NULL, &err), 0);
        assert_false(v.constructed);
        assert_false(v.valid);
        assert_int_equal(v.comp_valid, p != CB_PROTOCOL_FLOWMM);
    }

    /* FlowMM angle filter: predictions only; the absurd crystal is itself valid. */
    double skew[3] = {90, 90, 45};
    cb_crystal built;
    assert_int_equal(cb_validity_from_params(CB_PROTOCOL_FLOWMM, 1, len, skew, 2, types, CF(frac), &v, &built, &err), 0);
    assert_true(v.absurd);
    assert_true(v.valid);
    assert_int_equal(built.n, 1);
    assert_int_equal(built.z[0], 100);
    assert_int_equal(v.n_elems, 1);
    assert_int_equal(v.elems[0], 100);
    cb_crystal_free(&built);
    assert_int_equal(cb_validity_from_params(CB_PROTOCOL_FLOWMM, 0, len, skew, 2, types, CF(frac), &v, NULL, &err), 0);
    assert_false(v.absurd);
    assert_true(v.valid);
    assert_int_equal(cb_validity_from_params(CB_PROTOCOL_DIFFCSP, 1, len, skew, 2, types, CF(frac), &v, NULL, &err), 0);
    assert_false(v.absurd);

    /* FlowMM atom type range 1..104. */
    int heavy[2] = {11, 105};
    assert_int_equal(cb_validity_from_params(CB_PROTOCOL_FLOWMM, 1, len, ang, 2, heavy, CF(frac), &v, NULL, &err), 0);
    assert_false(v.constructed);
    assert_false(v.comp_valid);
    assert_int_equal(cb_validity_from_params(CB_PROTOCOL_CDVAE, 1, len, ang, 2, heavy, CF(frac), &v, NULL, &err), 0);
    assert_true(v.constructed);
    assert_true(v.struct_valid);
    assert_true(v.smact_error);
    assert_false(v.valid);

    /* Tiny volume: not constructed, struct-invalid (all protocols). */
    double tiny[3] = {0.4, 0.4, 0.4};
    for (int p = 0; p < 3; p++) {
        assert_int_equal(cb_validity_from_params((cb_protocol)p, 0, tiny, ang, 2, types, CF(frac), &v, NULL, &err), 0);
        assert_false(v.constructed);
        assert_false(v.struct_valid);
        assert_true(v.volume < 0.1);
    }

    /* Too close: 0.3 Å apart in a 4 Å cube. */
    double close[2][3] = {{0, 0, 0}, {0.075, 0, 0}};
    assert_int_equal(cb_validity_from_params(CB_PROTOCOL_CDVAE, 0, len, ang, 2, types, CF(close), &v, NULL, &err), 0);
    assert_true(v.constructed);
    assert_false(v.struct_valid);
    assert_true(fabs(v.min_dist - 0.3) < 1e-12);

    /* Reduced composition: (8,8,26,26,26,8) → (8,26), (1,1). */
    int t6[6] = {8, 8, 26, 26, 26, 8}, el[CB_MAX_Z];
    long ct[CB_MAX_Z];
    assert_int_equal(cb_reduced_composition(6, t6, el, ct), 2);
    assert_int_equal(el[0], 8);
    assert_int_equal(el[1], 26);
    assert_int_equal(ct[0], 1);
    assert_int_equal(ct[1], 1);

    cb_protocol pr;
    assert_int_equal(cb_protocol_from_name("DiffCSP", &pr), 0);
    assert_int_equal(pr, CB_PROTOCOL_DIFFCSP);
    assert_int_equal(cb_protocol_from_name("nope", &pr), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smact_cases), cmocka_unit_test(test_smact_iridium),
        cmocka_unit_test(test_reference_crystals),
        cmocka_unit_test(test_pauling_order),
        cmocka_unit_test(test_protocol_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
