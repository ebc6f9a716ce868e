/* The element table: symbol lookup, spot values, and (with shared/ present) every
 * generated value against the CSVs it came from, bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/elements.h"
#include "testutil.h"

static void test_symbol_round_trip_all(void **state)
{
    (void)state;
    for (int z = 1; z <= CB_MAX_Z; z++) {
        const char *s = cb_element_symbol(z);
        assert_int_equal(cb_elements[z].z, z);
        assert_int_equal(cb_element_from_symbol(s), z);
        /* also "FE" / "fe" (header contract) */
        char up[3] = {0}, low[3] = {0};
        for (int i = 0; s[i]; i++) {
            up[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
            low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
        }
        assert_int_equal(cb_element_from_symbol(up), z);
        assert_int_equal(cb_element_from_symbol(low), z);
    }
    assert_string_equal(cb_element_symbol(26), "Fe");
    assert_string_equal(cb_element_symbol(118), "Og");
    assert_string_equal(cb_element_symbol(0), "X");
    assert_string_equal(cb_element_symbol(119), "X");
    assert_string_equal(cb_element_symbol(-5), "X");
}

static void test_from_symbol_rejects(void **state)
{
    (void)state;
    static const char *bad[] = {"Xx", "", "Q", "X", "J", "Fee", "Fe ", " Fe", "F1", "1",
                                "Fe+", "Q1", "Aa", "\xc3\xa9", "Uuo", "D", "T"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cb_element_from_symbol(bad[i]) != 0) fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(cb_element_from_symbol(NULL), 0);
}

/* Values copied from shared/data/elements/elements.csv (pymatgen 2022.11.7, SMACT 2.2.1). */
static void test_spot_values(void **state)
{
    (void)state;
    assert_true(cb_elements[1].atomic_mass == 1.00794);
    assert_true(cb_elements[1].pmg_x == 2.2);
    assert_true(cb_elements[8].atomic_mass == 15.9994);
    assert_true(cb_elements[8].pmg_x == 3.44);
    assert_true(cb_elements[26].atomic_mass == 55.845);
    assert_true(cb_elements[26].pmg_x == 1.83);
    assert_true(cb_elements[26].crystalnn_radius == 1.42);
    assert_true(cb_elements[92].pmg_x == 1.38);          /* pymatgen's U */
    assert_true(cb_elements[92].smact_pauling_eneg == 1.7); /* SMACT's U */
    /* pymatgen 2022.11.7 really says 2949.0 for Og (a typo in its data, reproduced). */
    assert_true(cb_elements[118].atomic_mass == 2949.0);
    /* X is NaN for He, Ne, Ar and Z >= 104 */
    static const int nan_x[] = {2, 10, 18, 104, 110, 118};
    for (size_t i = 0; i < sizeof nan_x / sizeof nan_x[0]; i++) assert_true(isnan(cb_elements[nan_x[i]].pmg_x));
    assert_true(isnan(cb_elements[97].crystalnn_radius));
    assert_false(isnan(cb_elements[96].crystalnn_radius));

    /* O: -2 -1 1 2 */
    assert_int_equal(cb_elements[8].smact_ox_present, 1);
    assert_int_equal(cb_elements[8].n_ox_states, 4);
    static const int o_ox[] = {-2, -1, 1, 2};
    for (int i = 0; i < 4; i++) assert_int_equal(cb_elements[8].ox_states[i], o_ox[i]);
    /* Fe: -2 -1 1 2 3 4 5 6, a metal */
    assert_int_equal(cb_elements[26].n_ox_states, 8);
    assert_int_equal(cb_elements[26].ox_states[0], -2);
    assert_int_equal(cb_elements[26].ox_states[7], 6);
    assert_int_equal(cb_elements[26].smact_is_metal, 1);
    /* He: listed with an empty list; Mt: not listed at all */
    assert_int_equal(cb_elements[2].smact_ox_present, 1);
    assert_int_equal(cb_elements[2].n_ox_states, 0);
    assert_true(isnan(cb_elements[2].smact_pauling_eneg));
    assert_int_equal(cb_elements[109].smact_ox_present, 0);
    assert_int_equal(cb_elements[104].smact_has_element_data, 0);

    assert_string_equal(cb_magpie_property_names[0], "Number");
    assert_string_equal(cb_magpie_property_names[21], "SpaceGroupNumber");
    assert_true(cb_elements[1].magpie[1] == 92.0);            /* MendeleevNumber of H */
    assert_true(isnan(cb_elements[2].magpie[3]));             /* MeltingT of He */
    assert_true(cb_comp_scaler_mean[0] == 21.194441759304013);
    assert_true(cb_comp_scaler_std[0] == 16.35781741152948);
}

/* ---- full comparison with the CSVs ---- */

static int same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static double parse_or_nan(const char *s)
{
    if (!*s) return NAN;
    char *end;
    double v = strtod(s, &end);
    if (*end) fail_msg("bad number \"%s\"", s);
    return v;
}

/* Splits a CSV line without quotes into at most max fields (in place). */
static int split(char *line, char **f, int max)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == ',') {
            *p = 0;
            f[n++] = p + 1;
        }
    return n;
}

static FILE *open_data(const char *rel)
{
    const char *path = cb_test_data_file(rel);
    if (!path) return NULL;
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    return f;
}

static void test_table_matches_elements_csv(void **state)
{
    (void)state;
    FILE *f = open_data("elements/elements.csv");
    if (!f) skip();
    char line[1024], *fl[16];
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        assert_int_equal(split(line, fl, 16), 11);
        int z = atoi(fl[0]);
        assert_true(z >= 1 && z <= CB_MAX_Z);
        const cb_element *e = &cb_elements[z];
        assert_string_equal(e->symbol, fl[1]);
        assert_int_equal(e->smact_ox_present, atoi(fl[2]));
        /* Ir: the PyPI wheel's list, see tools/gen_elements.py (SMACT_OX_OVERRIDES) */
        char ir[] = "-3 -1 1 2 3 4 5 6 7 8";
        char *states = z == 77 ? ir : fl[3];
        int n = 0;
        for (char *tok = strtok(states, " "); tok; tok = strtok(NULL, " ")) {
            assert_true(n < e->n_ox_states);
            assert_int_equal(e->ox_states[n++], atoi(tok));
        }
        assert_int_equal(n, e->n_ox_states);
        assert_int_equal(e->smact_has_element_data, atoi(fl[4]));
        assert_true(same_double(e->smact_pauling_eneg, parse_or_nan(fl[5])));
        assert_int_equal(e->smact_is_metal, atoi(fl[6]));
        assert_true(same_double(e->pmg_x, parse_or_nan(fl[7])));
        assert_true(same_double(e->atomic_mass, parse_or_nan(fl[8])));
        assert_true(same_double(e->crystalnn_radius, parse_or_nan(fl[9])));
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, CB_MAX_Z);
}

static void test_table_matches_magpie_csv(void **state)
{
    (void)state;
    FILE *f = open_data("elements/magpie.csv");
    if (!f) skip();
    char line[4096], *fl[32];
    assert_non_null(fgets(line, sizeof line, f));
    assert_int_equal(split(line, fl, 32), 2 + CB_MAGPIE_NPROPS);
    for (int p = 0; p < CB_MAGPIE_NPROPS; p++) assert_string_equal(cb_magpie_property_names[p], fl[2 + p]);
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        assert_int_equal(split(line, fl, 32), 2 + CB_MAGPIE_NPROPS);
        int z = atoi(fl[0]);
        assert_true(z >= 1 && z <= CB_MAX_Z);
        assert_string_equal(cb_elements[z].symbol, fl[1]);
        for (int p = 0; p < CB_MAGPIE_NPROPS; p++)
            if (!same_double(cb_elements[z].magpie[p], parse_or_nan(fl[2 + p])))
                fail_msg("Z=%d property %s differs", z, cb_magpie_property_names[p]);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, CB_MAX_Z);
}

static void test_table_matches_comp_scaler_csv(void **state)
{
    (void)state;
    FILE *f = open_data("elements/comp_scaler.csv");
    if (!f) skip();
    char line[1024], *fl[8];
    assert_non_null(fgets(line, sizeof line, f));
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        assert_int_equal(split(line, fl, 8), 4);
        int i = atoi(fl[0]);
        assert_int_equal(i, rows);
        assert_true(i < CB_MAGPIE_NFEATURES);
        assert_true(same_double(cb_comp_scaler_mean[i], parse_or_nan(fl[2])));
        assert_true(same_double(cb_comp_scaler_std[i], parse_or_nan(fl[3])));
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, CB_MAGPIE_NFEATURES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symbol_round_trip_all),
        cmocka_unit_test(test_from_symbol_rejects),
        cmocka_unit_test(test_spot_values),
        cmocka_unit_test(test_table_matches_elements_csv),
        cmocka_unit_test(test_table_matches_magpie_csv),
        cmocka_unit_test(test_table_matches_comp_scaler_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
