/* Composition, density and reduced formula of hand-made structures.  Every expected
 * value below was computed with pymatgen 2022.11.7 (Debian python3 3.11) from the same
 * lattice and species list, e.g.
 *     s = Structure(Lattice(matrix), species, coords)
 *     repr(s.volume), repr(s.density), s.composition.reduced_formula
 * and Composition(dict sorted by Z).reduced_formula for cb_composition_reduced_formula;
 * they are hardcoded so this test needs no Python.  Densities are compared bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "crystalbench/crystal.h"
#include "crystalbench/elements.h"

static cb_crystal make(double a, double b, double c, int n, const char *const *species)
{
    cb_crystal x;
    assert_int_equal(cb_crystal_alloc(&x, n, NULL), CB_OK);
    x.lattice[0][0] = a;
    x.lattice[1][1] = b;
    x.lattice[2][2] = c;
    for (int i = 0; i < n; i++) {
        x.z[i] = cb_element_from_symbol(species[i]);
        assert_true(x.z[i] > 0);
        x.frac[i][0] = (double)i / n;
    }
    return x;
}

/* Checks density bits, the site-order formula and the Z-order (cb_composition) formula. */
static void check(const cb_crystal *x, double density, const char *formula, const char *formula_z)
{
    double d = cb_crystal_density(x);
    if (memcmp(&d, &density, sizeof d) != 0) fail_msg("density %.17g, pymatgen %.17g", d, density);
    char buf[128];
    int len = cb_crystal_reduced_formula(x, buf, sizeof buf);
    assert_int_equal(len, (int)strlen(formula));
    assert_string_equal(buf, formula);
    cb_composition comp;
    cb_crystal_composition(x, &comp);
    len = cb_composition_reduced_formula(&comp, buf, sizeof buf);
    assert_int_equal(len, (int)strlen(formula_z));
    assert_string_equal(buf, formula_z);
}

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void test_nacl(void **state)
{
    (void)state;
    static const char *const sp[] = {"Na", "Na", "Na", "Na", "Cl", "Cl", "Cl", "Cl"};
    cb_crystal x = make(5.64, 5.64, 5.64, N(sp), sp);
    assert_true(cb_crystal_volume(&x) == 179.40614399999995);
    check(&x, 2.1637274930724866, "NaCl", "NaCl");
    assert_int_equal(cb_crystal_n_elements(&x), 2);
    cb_composition comp;
    cb_crystal_composition(&x, &comp);
    assert_int_equal(comp.n_elems, 2);
    assert_int_equal(comp.z[0], 11);
    assert_int_equal(comp.z[1], 17);
    assert_true(comp.amount[0] == 4.0 && comp.amount[1] == 4.0);
    cb_crystal_free(&x);
}

static void test_fe(void **state)
{
    (void)state;
    static const char *const sp[] = {"Fe", "Fe"};
    cb_crystal x = make(2.87, 2.87, 2.87, N(sp), sp);
    assert_true(cb_crystal_volume(&x) == 23.639903);
    check(&x, 7.845447096316511, "Fe", "Fe");
    assert_int_equal(cb_crystal_n_elements(&x), 1);
    cb_crystal_free(&x);
}

static void test_o2_oblique_cell(void **state)
{
    (void)state;
    static const char *const sp[] = {"O", "O", "O", "O"};
    cb_crystal x = make(4, 4.2, 5, N(sp), sp);
    x.lattice[1][0] = 0.5;
    x.lattice[2][0] = 0.1;
    x.lattice[2][1] = 0.2;
    assert_true(cb_crystal_volume(&x) == 84.0);
    check(&x, 1.2651251781980972, "O2", "O2"); /* special formula: "O" -> "O2" */
    cb_crystal_free(&x);
}

/* Peroxide special formulas: "HO" -> "H2O2", "LiO" -> "Li2O2"; LiO2 and Li2O are normal. */
static void test_peroxides_and_oxides(void **state)
{
    (void)state;
    static const char *const h2o2[] = {"H", "O", "O", "H"};
    static const char *const li2o2[] = {"Li", "Li", "O", "O"};
    static const char *const lio2[] = {"Li", "O", "O"};
    static const char *const li2o[] = {"Li", "O", "Li"};
    cb_crystal x = make(4, 4, 4, N(h2o2), h2o2);
    check(&x, 0.8825422652796512, "H2O2", "H2O2");
    cb_crystal_free(&x);
    x = make(4, 4, 4, N(li2o2), li2o2);
    check(&x, 1.1904197001072074, "Li2O2", "Li2O2");
    cb_crystal_free(&x);
    x = make(4, 4, 4, N(lio2), lio2);
    check(&x, 1.0103290491498542, "LiO2", "LiO2");
    cb_crystal_free(&x);
    x = make(4, 4, 4, N(li2o), li2o);
    check(&x, 0.7753005010109568, "Li2O", "Li2O");
    cb_crystal_free(&x);
}

static void test_polyanion(void **state)
{
    (void)state;
    static const char *const sp[] = {"Ca", "Ca", "Ca", "P", "P", "O", "O", "O", "O", "O", "O", "O", "O"};
    cb_crystal x = make(10, 10, 10, N(sp), sp);
    check(&x, 0.5150605677520058, "Ca3(PO4)2", "Ca3(PO4)2");
    cb_crystal_free(&x);
    /* polyanion factor 1: no brackets; Li Fe P O4 x 4 in site order */
    const char *lfp[28];
    static const char *const unit[] = {"Li", "Fe", "P", "O", "O", "O", "O"};
    for (int i = 0; i < 28; i++) lfp[i] = unit[i % 7];
    x = make(10.3, 6.0, 4.7, 28, lfp);
    assert_true(cb_crystal_volume(&x) == 290.46000000000004);
    check(&x, 3.6075502670902466, "LiFePO4", "LiFePO4");
    cb_crystal_free(&x);
    static const char *const kcl2[] = {"Cl", "K", "Cl"};
    x = make(5, 5, 5, N(kcl2), kcl2);
    check(&x, 1.461331501151891, "KCl2", "KCl2");
    cb_crystal_free(&x);
}

/* Ar and He have X = NaN in pymatgen: Python's sort leaves them where the insertion order
 * puts them, so the site order matters (pymatgen gives "ArCl" and "ClAr" for the same
 * composition). */
static void test_nan_electronegativity_order(void **state)
{
    (void)state;
    static const char *const arcl[] = {"Ar", "Cl"};
    static const char *const clar[] = {"Cl", "Ar"};
    static const char *const heoar[] = {"O", "He", "Ar", "O"};
    cb_crystal x = make(5, 5, 5, 2, arcl);
    check(&x, 1.0016504492856528, "ArCl", "ClAr");
    cb_crystal_free(&x);
    x = make(5, 5, 5, 2, clar);
    check(&x, 1.0016504492856528, "ClAr", "ClAr");
    cb_crystal_free(&x);
    x = make(5, 5, 5, 4, heoar);
    check(&x, 1.0089355928472652, "O2HeAr", "HeO2Ar");
    cb_crystal_free(&x);
}

/* Non-integer amounts: pymatgen returns Composition.formula without spaces. */
static void test_fractional_amounts(void **state)
{
    (void)state;
    char buf[64];
    const int fe_o[] = {26, 8};
    const double a1[] = {0.5, 1.0};
    assert_int_equal(cb_reduced_formula(2, fe_o, a1, buf, sizeof buf), 7);
    assert_string_equal(buf, "Fe0.5O1");
    const int li_o[] = {3, 8};
    const double a2[] = {1.0 / 3.0, 2.0 / 3.0};
    cb_reduced_formula(2, li_o, a2, buf, sizeof buf);
    assert_string_equal(buf, "Li0.33333333O0.66666667");
    const int na_cl[] = {11, 17};
    const double a3[] = {1.0, 1.5};
    cb_reduced_formula(2, na_cl, a3, buf, sizeof buf);
    assert_string_equal(buf, "Na1Cl1.5");
    const int he_fe[] = {2, 26};
    const double a4[] = {0.25, 2.0};
    cb_reduced_formula(2, he_fe, a4, buf, sizeof buf);
    assert_string_equal(buf, "He0.25Fe2");
    const int o[] = {8};
    const double a5[] = {1.0000000001}; /* integer within 1e-8 */
    cb_reduced_formula(1, o, a5, buf, sizeof buf);
    assert_string_equal(buf, "O2");
}

static void test_errors_never_crash(void **state)
{
    (void)state;
    char buf[8];
    const int z[] = {11, 17};
    const double a[] = {1.0, 1.0};
    assert_int_equal(cb_reduced_formula(2, z, a, buf, 4), -1); /* "NaCl" needs 5 bytes */
    assert_string_equal(buf, "");
    assert_int_equal(cb_reduced_formula(2, z, a, buf, 5), 4);
    const int bad_z[] = {0, 17};
    assert_int_equal(cb_reduced_formula(2, bad_z, a, buf, sizeof buf), -1);
    const int dup[] = {17, 17};
    assert_int_equal(cb_reduced_formula(2, dup, a, buf, sizeof buf), -1);
    const double neg[] = {1.0, -1.0};
    assert_int_equal(cb_reduced_formula(2, z, neg, buf, sizeof buf), -1);
    const double inf[] = {1.0, INFINITY};
    assert_int_equal(cb_reduced_formula(2, z, inf, buf, sizeof buf), -1);
    assert_int_equal(cb_reduced_formula(0, NULL, NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "");

    cb_crystal x;
    memset(&x, 0, sizeof x);
    assert_true(isnan(cb_crystal_density(&x)));
    assert_int_equal(cb_crystal_n_elements(&x), 0);
    cb_composition comp;
    cb_crystal_composition(&x, &comp);
    assert_int_equal(comp.n_elems, 0);
    assert_int_equal(cb_crystal_reduced_formula(&x, buf, sizeof buf), 0);

    assert_int_equal(cb_crystal_alloc(&x, 2, NULL), CB_OK);
    x.z[0] = 26;
    x.z[1] = 500; /* out of range: skipped by composition, refused by formula/density */
    x.lattice[0][0] = x.lattice[1][1] = x.lattice[2][2] = 2.0;
    assert_true(isnan(cb_crystal_density(&x)));
    assert_int_equal(cb_crystal_n_elements(&x), 1);
    assert_int_equal(cb_crystal_reduced_formula(&x, buf, sizeof buf), -1);
    cb_crystal_composition(&x, &comp);
    assert_int_equal(comp.n_elems, 1);
    cb_crystal_free(&x);
}

/* All 118 elements at once: more than 64 items, so the sort takes timsort's merge path. */
static void test_all_elements(void **state)
{
    (void)state;
    int z[CB_MAX_Z];
    double a[CB_MAX_Z];
    for (int i = 0; i < CB_MAX_Z; i++) {
        z[i] = i + 1;
        a[i] = 2.0;
    }
    char buf[1024];
    int len = cb_reduced_formula(CB_MAX_Z, z, a, buf, sizeof buf);
    assert_true(len > 0);
    /* pymatgen: Composition({Element.from_Z(z): 2 for z in 1..118}).reduced_formula */
    assert_string_equal(buf,
        "FrHHeCsRbBaSrLiLaCePrYZrMnBeNbCdInGaCuBCNOFNeNaMgAlSiAgSbPSClArKRaCaAcTbYbPmNdSmEuGd"
        "DyHoErTmLuPuAmBkCfCmEsFmHfLrMdNoThNpScUPaTaTiTlVZnCrFeCoReTcNiSnHgPoGeBiTeMoAsAtIrOs"
        "PdRnRuPtRhPbWAuSeXeIBrKrRfDbSgBhHsMtDsRgCnNhFlMcLvTsOg");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nacl),
        cmocka_unit_test(test_fe),
        cmocka_unit_test(test_o2_oblique_cell),
        cmocka_unit_test(test_peroxides_and_oxides),
        cmocka_unit_test(test_polyanion),
        cmocka_unit_test(test_nan_electronegativity_order),
        cmocka_unit_test(test_fractional_amounts),
        cmocka_unit_test(test_errors_never_crash),
        cmocka_unit_test(test_all_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
