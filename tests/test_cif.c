/* The CIF reader and writer: hand-written fixtures (tests/data/cif), the malformed
 * inputs listed in tests/data/malformed/cif.tsv, random write→read round trips,
 * truncation and mutation fuzzing, and differential checks against pymatgen's
 * CifParser and CifWriter (skipped when $CB_PYTHON cannot import pymatgen). */
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
#include <unistd.h>

#include "crystalbench/cif.h"
#include "crystalbench/elements.h"
#include "crystalbench/rng.h"
#include "testutil.h"

#define FIXTURES "tests/data/cif/"
#define MALFORMED "tests/data/malformed/"

static const cb_cif_options PYMATGEN = {1, 1};

static void read_fixture(const char *name, cb_crystal **c, int *n)
{
    char path[256];
    cb_error err = {0};
    snprintf(path, sizeof path, FIXTURES "%s", name);
    int rc = cb_cif_read_file(path, c, n, &err);
    if (rc) fail_msg("%s", err.msg);
}

static void free_all(cb_crystal *c, int n)
{
    for (int i = 0; i < n; i++) cb_crystal_free(&c[i]);
    free(c);
}

static int parse_str(const char *text, cb_crystal *c, cb_error *err)
{
    return cb_cif_parse_one(text, strlen(text), "inline", c, err);
}

static void assert_lattice_from(const cb_crystal *c, double a, double b, double cc, double al, double be, double ga)
{
    double p[6] = {a, b, cc, al, be, ga}, m[3][3];
    cb_lattice_from_parameters(p, m);
    assert_memory_equal(c->lattice, m, sizeof m);
}

/* Fails with the first differing line of two texts. */
static void assert_no_diff(const char *a, const char *b)
{
    int line = 1;
    const char *la = a, *lb = b;
    while (*a && *a == *b) {
        if (*a == '\n') {
            line++;
            la = a + 1;
            lb = b + 1;
        }
        a++;
        b++;
    }
    if (*a == *b) return;
    int na = (int)strcspn(la, "\n"), nb = (int)strcspn(lb, "\n");
    fail_msg("line %d differs: '%.*s' vs '%.*s'", line, na, la, nb, lb);
}

static void assert_site(const cb_crystal *c, int i, const char *sym, double x, double y, double z, double tol)
{
    assert_string_equal(cb_element_symbol(c->z[i]), sym);
    double want[3] = {x, y, z};
    for (int k = 0; k < 3; k++)
        if (!(fabs(c->frac[i][k] - want[k]) <= tol))
            fail_msg("site %d coordinate %d: %.17g, expected %.17g", i, k, c->frac[i][k], want[k]);
}

/* ------------------------------------------------------------------ good fixtures */

static void test_pymatgen_p1_file(void **state)
{
    (void)state;
    cb_crystal *c;
    int n;
    read_fixture("pymatgen_p1.cif", &c, &n);
    assert_int_equal(n, 1);
    assert_string_equal(c->id, "GaTe");
    assert_int_equal(c->n, 8);
    assert_lattice_from(c, 4.13459945, 4.13459945, 18.42557, 90, 90, 119.99999121);
    /* File order, values exactly as strtod reads them. */
    assert_site(c, 0, "Ga", 0.333333, 0.666667, 0.182959, 0);
    assert_site(c, 1, "Ga", 0.666667, 0.333333, 0.682959, 0);
    assert_site(c, 3, "Ga", 0.333333, 0.666667, 0.317041, 0);
    assert_site(c, 4, "Te", 0.333333, 0.666667, 0.886204, 0);
    assert_site(c, 7, "Te", 0.333333, 0.666667, 0.613796, 0);
    free_all(c, n);
}

static void test_snap_thirds_option(void **state)
{
    (void)state;
    size_t len;
    char *text = cb_test_read_file(FIXTURES "pymatgen_p1.cif", &len);
    assert_non_null(text);
    cb_crystal c;
    cb_error err;
    assert_int_equal(cb_cif_parse_one_opts(text, len, "p1", &PYMATGEN, &c, &err), 0);
    assert_true(c.frac[0][0] == 1 / 3.0 && c.frac[0][1] == 2 / 3.0 && c.frac[0][2] == 0.182959);
    cb_crystal_free(&c);
    free(text);
}

static void test_nacl_with_192_operations(void **state)
{
    (void)state;
    cb_crystal *c;
    int n;
    read_fixture("nacl_fm3m.cif", &c, &n);
    assert_int_equal(n, 1);
    assert_int_equal(c->n, 8);
    assert_lattice_from(c, 5.64, 5.64, 5.64, 90, 90, 90);
    static const double na[4][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0}};
    static const double cl[4][3] = {{.5, .5, .5}, {.5, 0, 0}, {0, .5, 0}, {0, 0, .5}};
    /* The asymmetric site itself comes first (the first operation maps it onto itself);
     * the other images follow in operation order, so compare as sets. */
    assert_site(c, 0, "Na", 0, 0, 0, 0);
    assert_site(c, 4, "Cl", .5, .5, .5, 0);
    for (int i = 0; i < 8; i++) {
        const double(*want)[3] = i < 4 ? na : cl;
        assert_string_equal(cb_element_symbol(c->z[i]), i < 4 ? "Na" : "Cl");
        int found = 0;
        for (int j = 0; j < 4; j++)
            found += c->frac[i][0] == want[j][0] && c->frac[i][1] == want[j][1] && c->frac[i][2] == want[j][2];
        assert_int_equal(found, 1);
    }
    free_all(c, n);
}

static void test_cod_style_file(void **state)
{
    (void)state;
    cb_crystal *c;
    int n;
    read_fixture("rutile_cod.cif", &c, &n);
    assert_int_equal(n, 2); /* data_publication has no atoms */
    assert_string_equal(c[0].id, "rutile");
    assert_int_equal(c[0].n, 6);
    assert_lattice_from(&c[0], 4.5937, 4.5937, 2.9587, 90, 90, 90);
    const double x = 0.3048;
    assert_site(&c[0], 0, "Ti", 0, 0, 0, 0);
    assert_site(&c[0], 1, "Ti", .5, .5, .5, 0);
    assert_site(&c[0], 2, "O", x, x, 0, 0);
    assert_site(&c[0], 3, "O", 1 - x, 1 - x, 0, 1e-15);
    assert_site(&c[0], 4, "O", .5 - x, .5 + x, .5, 1e-15);
    assert_site(&c[0], 5, "O", .5 + x, .5 - x, .5, 1e-15);
    assert_string_equal(c[1].id, "CsCl");
    assert_int_equal(c[1].n, 2);
    assert_lattice_from(&c[1], 4.123, 4.123, 4.123, 90, 90, 90);
    assert_site(&c[1], 0, "Cs", 0, 0, 0, 0);
    assert_site(&c[1], 1, "Cl", .5, .5, .5, 0);
    free_all(c, n);

    /* parse_one: the first block with atoms. */
    size_t len;
    char *text = cb_test_read_file(FIXTURES "rutile_cod.cif", &len);
    assert_non_null(text);
    cb_crystal one;
    cb_error err;
    assert_int_equal(cb_cif_parse_one(text, len, "cod", &one, &err), 0);
    assert_string_equal(one.id, "rutile");
    cb_crystal_free(&one);
    free(text);
}

/* A real COD file: symmetry operations as bare words (x,1/2+y), uncertainties, an
 * aniso loop before the atom loop, oxidation-state type symbols (K1+). */
static void test_real_cod_file(void **state)
{
    (void)state;
    cb_crystal *c;
    int n;
    read_fixture("cod_1000208.cif", &c, &n);
    assert_int_equal(n, 1);
    assert_string_equal(c->id, "1000208");
    assert_int_equal(c->n, 24);
    assert_lattice_from(c, 7.3403, 7.2370, 6.4070, 90, 106.801, 90);
    assert_site(c, 0, "Al", 0, 0, 0, 0);
    assert_site(c, 1, "Al", 0, .5, 0, 0);
    assert_site(c, 4, "K", .131, .25, .541, 0);
    assert_site(c, 5, "K", 1 - .131, .75, 1 - .541, 1e-15);
    int nf = 0;
    for (int i = 0; i < c->n; i++) nf += c->z[i] == 9;
    assert_int_equal(nf, 16);
    free_all(c, n);
}

static void test_cartesian_only_file(void **state)
{
    (void)state;
    cb_crystal *c;
    int n;
    read_fixture("cartesian.cif", &c, &n);
    assert_int_equal(c->n, 2);
    assert_site(c, 0, "C", 0, 0, 0, 1e-15);
    assert_site(c, 1, "N", 1 / 3.0, 2 / 3.0, .5, 1e-12);
    free_all(c, n);
}

static void test_crlf_and_no_final_newline(void **state)
{
    (void)state;
    size_t len;
    char *text = cb_test_read_file(FIXTURES "rutile_cod.cif", &len);
    assert_non_null(text);
    char *crlf = malloc(2 * len + 1);
    size_t m = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') crlf[m++] = '\r';
        crlf[m++] = text[i];
    }
    while (m && (crlf[m - 1] == '\n' || crlf[m - 1] == '\r')) m--;
    cb_crystal *a, *b;
    int na, nb;
    cb_error err;
    assert_int_equal(cb_cif_parse(text, len, "lf", &a, &na, &err), 0);
    if (cb_cif_parse(crlf, m, "crlf", &b, &nb, &err)) fail_msg("%s", err.msg);
    assert_int_equal(na, nb);
    for (int i = 0; i < na; i++) {
        assert_int_equal(a[i].n, b[i].n);
        assert_memory_equal(a[i].frac, b[i].frac, (size_t)a[i].n * sizeof a[i].frac[0]);
        assert_memory_equal(a[i].lattice, b[i].lattice, sizeof a[i].lattice);
    }
    free_all(a, na);
    free_all(b, nb);
    free(crlf);
    free(text);
}

/* ------------------------------------------------------------------ inline cases */

#define CELL4                                                                                                      \
    "data_t\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n"                         \
    "_cell_angle_beta 90\n_cell_angle_gamma 90\n"

static void test_symmetry_operation_forms(void **state)
{
    (void)state;
    cb_crystal c;
    cb_error err;
    const char *text = CELL4 "loop_\n_symmetry_equiv_pos_as_xyz\n'x, y, z'\n'1/2+x, 1/2+Y, z'\n"
                             "'z+0.25, -y+1/2, x-y'\n+x,+y,+z\n'-x , -y , -z'\n"
                             "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
                             "Fe1 0.1 0.2 0.3\n";
    if (parse_str(text, &c, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.n, 4); /* +x,+y,+z repeats the identity */
    assert_site(&c, 0, "Fe", .1, .2, .3, 0);
    assert_site(&c, 1, "Fe", .6, .7, .3, 1e-15);
    assert_site(&c, 2, "Fe", .55, .3, .9, 1e-15);
    assert_site(&c, 3, "Fe", .9, .8, .7, 1e-15);
    cb_crystal_free(&c);
}

static void test_element_and_occupancy_rules(void **state)
{
    (void)state;
    cb_crystal c;
    cb_error err;
    const char *text = CELL4 "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
                             "_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n"
                             "Fe1 Fe2+ 0 0 0 1.0000\n"
                             "O1 O2- 0.5 0 0 ?\n"
                             "Cl1 ? 0 0.5 0 .\n"
                             "Na9 Na 0.5 0.5 0 0\n" /* empty site: skipped, as pymatgen does */
                             "Mn1 Mn3.5+ 0.25 0.25 0.25 0.99995\n"
                             "CA1 . 0.75 0.75 0.75 1\n"; /* pymatgen's rule: "CA" → Ca */
    if (parse_str(text, &c, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.n, 5);
    assert_string_equal(cb_element_symbol(c.z[0]), "Fe");
    assert_string_equal(cb_element_symbol(c.z[1]), "O");
    assert_string_equal(cb_element_symbol(c.z[2]), "Cl");
    assert_string_equal(cb_element_symbol(c.z[3]), "Mn");
    assert_string_equal(cb_element_symbol(c.z[4]), "Ca");
    cb_crystal_free(&c);
}

static void test_lexer_details(void **state)
{
    (void)state;
    cb_crystal c;
    cb_error err;
    /* A quote closes only before whitespace; '#' inside a word is not a comment; a text
     * field may hold "data_" and "loop_" lines; a P1 name without operations is fine. */
    const char *text =
        CELL4 "_publ_author_name 'O'Brien'\n_note a#b\n_symmetry_space_group_name_H-M 'P 1'\n"
              "_publ_section_title\n;\ndata_fake\nloop_\n;\n"
              "loop_ _atom_site_type_symbol _atom_site_fract_x _atom_site_fract_y _atom_site_fract_z\n"
              "Si 0 0 0 Si 0.25 0.25 0.25 # two rows on one line\n";
    if (parse_str(text, &c, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.id, "t");
    cb_crystal_free(&c);
}

static void test_failing_later_block_fails_parse_not_parse_one(void **state)
{
    (void)state;
    const char *text =
        CELL4 "loop_\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
              "Si 0 0 0\n"
              "data_bad\n_cell_length_a 4\nloop_\n_atom_site_type_symbol\n_atom_site_fract_x\n"
              "_atom_site_fract_y\n_atom_site_fract_z\nSi 0 0 0\n";
    cb_crystal *all, one;
    int n;
    cb_error err;
    assert_int_equal(cb_cif_parse(text, strlen(text), "two", &all, &n, &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "no _cell_length_b"));
    assert_null(all);
    assert_int_equal(n, 0);
    assert_int_equal(parse_str(text, &one, &err), 0);
    assert_int_equal(one.n, 1);
    cb_crystal_free(&one);
}

/* 13 x 13 x 12 = 2028 atoms on a grid in a 39 Å cube (the sorted sweep, not the
 * all-pairs loop), plus optionally one atom 8e-4 Å from a grid point across x = 1. */
static char *grid_cif(int with_duplicate)
{
    size_t cap = 200000, len = 0;
    char *t = malloc(cap);
    len += (size_t)snprintf(t + len, cap - len,
                            "data_grid\n_cell_length_a 39\n_cell_length_b 39\n_cell_length_c 39\n"
                            "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                            "loop_\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
                            "_atom_site_fract_z\n");
    for (int i = 0; i < 13; i++)
        for (int j = 0; j < 13; j++)
            for (int k = 0; k < 12; k++)
                len += (size_t)snprintf(t + len, cap - len, "C %.6f %.6f %.6f\n", i / 13.0, j / 13.0, k / 12.0);
    if (with_duplicate) snprintf(t + len, cap - len, "N 0.99998 %.6f 0.5\n", 5 / 13.0);
    return t;
}

static void test_large_cell_duplicate_check(void **state)
{
    (void)state;
    cb_crystal c;
    cb_error err;
    char *ok = grid_cif(0), *bad = grid_cif(1);
    if (parse_str(ok, &c, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.n, 2028);
    cb_crystal_free(&c);
    assert_int_equal(parse_str(bad, &c, &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "duplicate atoms at (0.0000, 0.3846, 0.5000): C (line 79) and N (line 2041)"));
    free(ok);
    free(bad);
}

/* ------------------------------------------------------------------ malformed inputs */

static int status_from_name(const char *name)
{
    static const char *const names[] = {
        "CB_OK",        "CB_ERR_IO", "CB_ERR_PARSE", "CB_ERR_INVALID",  "CB_ERR_UNSUPPORTED",
        "CB_ERR_NOMEM", "CB_ERR_DB", "CB_ERR_USAGE", "CB_ERR_EXTERNAL", "CB_ERR_EOF"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

static void test_malformed_inputs(void **state)
{
    (void)state;
    char *tsv = cb_test_read_file(MALFORMED "cif.tsv", NULL);
    assert_non_null(tsv);
    int cases = 0;
    char *save = NULL;
    for (char *line = strtok_r(tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *file = line, *want = strchr(file, '\t');
        assert_non_null(want);
        *want++ = '\0';
        char *status = strchr(want, '\t');
        assert_non_null(status);
        *status++ = '\0';
        int code = status_from_name(status);
        assert_true(code > 0);
        char path[512];
        snprintf(path, sizeof path, MALFORMED "%s", file);
        static cb_crystal sentinel;
        cb_crystal *c = &sentinel; /* must be reset to NULL on failure */
        int n = -1;
        cb_error err = {0};
        int rc = cb_cif_read_file(path, &c, &n, &err);
        if (rc != code || !strstr(err.msg, want) || strchr(err.msg, '\n') || !strstr(err.msg, file))
            fail_msg("%s: got %d '%s', expected %s containing '%s'", file, rc, err.msg, status, want);
        assert_int_equal(err.code, code);
        assert_null(c);
        assert_int_equal(n, 0);
        cases++;
    }
    free(tsv);
    assert_true(cases >= 20);
}

static void test_missing_file(void **state)
{
    (void)state;
    cb_crystal *c;
    int n;
    cb_error err;
    assert_int_equal(cb_cif_read_file(MALFORMED "no_such_file.cif", &c, &n, &err), CB_ERR_IO);
    assert_non_null(strstr(err.msg, "no_such_file.cif: cannot open"));
}

/* Every prefix of a good file, and many random mutations of it: never a crash (run
 * this under ASan/valgrind), and every failure has a one-line message. */
static void check_no_crash(const char *text, size_t len)
{
    cb_crystal *c;
    int n;
    cb_error err = {0};
    int rc = cb_cif_parse(text, len, "fuzz", &c, &n, &err);
    if (rc) {
        assert_true(err.msg[0] != '\0');
        assert_null(strchr(err.msg, '\n'));
        assert_non_null(strstr(err.msg, "fuzz"));
    } else {
        assert_true(n >= 1);
        free_all(c, n);
    }
}

static void test_truncation_and_mutation_fuzz(void **state)
{
    (void)state;
    static const char *const files[] = {"pymatgen_p1.cif", "rutile_cod.cif"};
    cb_rng r;
    cb_rng_seed(&r, 2024);
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[256];
        snprintf(path, sizeof path, FIXTURES "%s", files[f]);
        size_t len;
        char *text = cb_test_read_file(path, &len);
        assert_non_null(text);
        for (size_t k = 0; k <= len; k++) {
            char *prefix = malloc(k ? k : 1); /* exact size: ASan sees any overread */
            memcpy(prefix, text, k);
            check_no_crash(prefix, k);
            free(prefix);
        }
        static const char alphabet[] = " \n\t'\";#_.?()-+/,019xyzabcdloop_data_\0\x01\xff";
        for (int trial = 0; trial < 3000; trial++) {
            char *m = malloc(len);
            memcpy(m, text, len);
            int edits = 1 + (int)cb_rng_below(&r, 4);
            for (int e = 0; e < edits; e++)
                m[cb_rng_below(&r, len)] = alphabet[cb_rng_below(&r, sizeof alphabet - 1)];
            check_no_crash(m, len);
            free(m);
        }
        free(text);
    }
}

/* ------------------------------------------------------------------ writer */

/* Random crystal: lattice in the canonical orientation (from parameters), atoms at
 * least 0.5 Å apart so no two can be mistaken for duplicates. */
static void random_crystal(cb_rng *r, cb_crystal *c)
{
    double p[6];
    for (;;) {
        for (int k = 0; k < 3; k++) p[k] = 2 + 18 * cb_rng_uniform(r);
        for (int k = 3; k < 6; k++) p[k] = 60 + 60 * cb_rng_uniform(r);
        double m[3][3];
        cb_lattice_from_parameters(p, m);
        if (cb_lattice_volume(m) > 0.3 * p[0] * p[1] * p[2]) break;
    }
    int n = 1 + (int)cb_rng_below(r, 30);
    assert_int_equal(cb_crystal_alloc(c, n, NULL), 0);
    cb_lattice_from_parameters(p, c->lattice);
    for (int i = 0; i < n; i++) {
        c->z[i] = 1 + (int)cb_rng_below(r, CB_MAX_Z);
        for (int tries = 0; tries < 1000; tries++) {
            for (int k = 0; k < 3; k++) c->frac[i][k] = cb_rng_uniform(r);
            int ok = 1;
            for (int j = 0; j < i && ok; j++) {
                double d[3], x[3];
                for (int k = 0; k < 3; k++)
                    d[k] = c->frac[i][k] - c->frac[j][k] - rint(c->frac[i][k] - c->frac[j][k]);
                cb_frac_to_cart(c->lattice, d, x);
                ok = x[0] * x[0] + x[1] * x[1] + x[2] * x[2] > 0.25;
            }
            if (ok) break;
        }
    }
}

static void test_write_read_round_trip(void **state)
{
    (void)state;
    cb_rng r;
    cb_rng_seed(&r, 12345);
    double worst_lat = 0, worst_frac = 0, worst_par = 0;
    for (int t = 0; t < 300; t++) {
        cb_crystal c, back;
        random_crystal(&r, &c);
        char *text;
        size_t len;
        cb_error err;
        assert_int_equal(cb_cif_write(&c, &text, &len, &err), 0);
        assert_int_equal(strlen(text), len);
        if (cb_cif_parse_one(text, len, "round trip", &back, &err)) fail_msg("%s\n%s", err.msg, text);
        assert_int_equal(back.n, c.n);
        assert_memory_equal(back.z, c.z, (size_t)c.n * sizeof *c.z);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) worst_lat = fmax(worst_lat, fabs(back.lattice[i][j] - c.lattice[i][j]));
        for (int i = 0; i < c.n; i++)
            for (int k = 0; k < 3; k++) {
                double d = back.frac[i][k] - c.frac[i][k];
                worst_frac = fmax(worst_frac, fabs(d - rint(d))); /* 0.999999999 is written 1.00000000 */
            }
        double p0[6], p1[6];
        cb_lattice_parameters(c.lattice, p0);
        cb_lattice_parameters(back.lattice, p1);
        for (int k = 0; k < 6; k++) worst_par = fmax(worst_par, fabs(p0[k] - p1[k]));
        free(text);
        cb_crystal_free(&c);
        cb_crystal_free(&back);
    }
    printf("round trip: worst lattice %.2e A, fractional %.2e, parameter %.2e\n", worst_lat, worst_frac, worst_par);
    assert_true(worst_lat <= 1e-8);
    assert_true(worst_frac <= 1e-8);
    assert_true(worst_par <= 1e-8);
}

static void test_writer_layout(void **state)
{
    (void)state;
    cb_crystal c;
    cb_error err;
    const char *text = "data_x\n_cell_length_a 5.64\n_cell_length_b 5.64\n_cell_length_c 5.64\n"
                       "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n"
                       "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
                       "O 0 0 0\nO 0.5 0.5 0.5\n";
    assert_int_equal(parse_str(text, &c, &err), 0);
    char *out;
    assert_int_equal(cb_cif_write(&c, &out, NULL, &err), 0);
    /* O2 is one of pymatgen's special formulas: Z = int(2 / 2) = 1. */
    static const char expect[] = "# generated using pymatgen\n"
                                 "data_O2\n"
                                 "_symmetry_space_group_name_H-M   'P 1'\n"
                                 "_cell_length_a   5.64000000\n"
                                 "_cell_length_b   5.64000000\n"
                                 "_cell_length_c   5.64000000\n"
                                 "_cell_angle_alpha   90.00000000\n"
                                 "_cell_angle_beta   90.00000000\n"
                                 "_cell_angle_gamma   90.00000000\n"
                                 "_symmetry_Int_Tables_number   1\n"
                                 "_chemical_formula_structural   O2\n"
                                 "_chemical_formula_sum   O2\n"
                                 "_cell_volume   179.40614400\n"
                                 "_cell_formula_units_Z   1\n"
                                 "loop_\n"
                                 " _symmetry_equiv_pos_site_id\n"
                                 " _symmetry_equiv_pos_as_xyz\n"
                                 "  1  'x, y, z'\n"
                                 "loop_\n"
                                 " _atom_site_type_symbol\n"
                                 " _atom_site_label\n"
                                 " _atom_site_symmetry_multiplicity\n"
                                 " _atom_site_fract_x\n"
                                 " _atom_site_fract_y\n"
                                 " _atom_site_fract_z\n"
                                 " _atom_site_occupancy\n"
                                 "  O  O0  1  0.00000000  0.00000000  0.00000000  1\n"
                                 "  O  O1  1  0.50000000  0.50000000  0.50000000  1\n";
    assert_string_equal(out, expect);
    free(out);
    cb_crystal_free(&c);
}

static void test_write_file_is_atomic(void **state)
{
    (void)state;
    cb_crystal *c;
    int n;
    read_fixture("pymatgen_p1.cif", &c, &n);
    char *dir = cb_test_tmpdir();
    assert_non_null(dir);
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s/out.cif", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cb_error err;
    assert_int_equal(cb_cif_write_file(c, path, &err), 0);
    assert_int_equal(access(tmp, F_OK), -1);
    /* The dataset file was written by pymatgen from this very structure, so only the
     * volume differs: pymatgen computed it before the parameters were rounded to
     * 8 decimals (272.78374478 there, 272.78374471 from the rounded ones). */
    char *orig = cb_test_read_file(FIXTURES "pymatgen_p1.cif", NULL), *mine = cb_test_read_file(path, NULL);
    assert_non_null(orig);
    assert_non_null(mine);
    char *vol = strstr(orig, "_cell_volume   272.783744");
    assert_non_null(vol);
    memcpy(vol + strlen("_cell_volume   272.783744"), "71", 2);
    assert_no_diff(mine, orig);
    free(orig);
    free(mine);
    cb_crystal *back;
    int nb;
    assert_int_equal(cb_cif_read_file(path, &back, &nb, &err), 0);
    assert_int_equal(back->n, 8);
    free_all(back, nb);

    snprintf(path, sizeof path, "%s/missing/out.cif", dir);
    assert_int_equal(cb_cif_write_file(c, path, &err), CB_ERR_IO);
    assert_non_null(strstr(err.msg, "missing/out.cif.tmp"));
    cb_test_rmtree(dir);
    free(dir);
    free_all(c, n);
}

/* ------------------------------------------------------------------ pymatgen */

/* Reads CIFs with CifParser and writes structures with CifWriter.  argv: mode out.json,
 *   read:  csv nrows files...   → [{name, cif, lattice, z, frac}]
 *   write: in.json              → [cif text] for [{lattice, z, frac}] */
static const char pymatgen_script[] =
    "import csv, json, sys, warnings\n"
    "warnings.filterwarnings('ignore')\n"
    "from pymatgen.core import Lattice, Structure\n"
    "from pymatgen.io.cif import CifParser, CifWriter\n"
    "mode, out = sys.argv[1], sys.argv[2]\n"
    "res = []\n"
    "def add(name, text):\n"
    "    s = CifParser.from_string(text).get_structures(primitive=False)[0]\n"
    "    res.append({'name': name, 'cif': text, 'lattice': s.lattice.matrix.tolist(),\n"
    "                'z': [sp.Z for sp in s.species], 'frac': s.frac_coords.tolist()})\n"
    "if mode == 'read':\n"
    "    csv.field_size_limit(1 << 30)\n"
    "    if sys.argv[3] != '-':\n"
    "        for i, row in enumerate(csv.DictReader(open(sys.argv[3]))):\n"
    "            if i >= int(sys.argv[4]): break\n"
    "            add('row %d' % i, row['cif'])\n"
    "    for p in sys.argv[5:]: add(p, open(p).read())\n"
    "else:\n"
    "    for c in json.load(open(sys.argv[3])):\n"
    "        s = Structure(Lattice(c['lattice']), c['z'], c['frac'])\n"
    "        res.append(str(CifWriter(s)))\n"
    "json.dump(res, open(out, 'w'))\n";

static char *run_pymatgen(const char *py, const char *dir, const char *args)
{
    char script[1024], out[1024], cmd[8192];
    snprintf(script, sizeof script, "%s/cif_pymatgen.py", dir);
    snprintf(out, sizeof out, "%s/out.json", dir);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs(pymatgen_script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' '%s' %s", py, script, args);
    int status;
    char *log = cb_test_run(cmd, &status);
    if (status != 0) fail_msg("pymatgen script failed (%d): %s", status, log ? log : "");
    free(log);
    return cb_test_read_file(out, NULL);
}

static void json_matrix(const cJSON *m, double out[3][3])
{
    for (int i = 0; i < 3; i++) assert_int_equal(cb_test_json_doubles(cJSON_GetArrayItem(m, i), out[i], 3), 3);
}

/* CifParser with the compatibility options: the same sites in the same order with
 * bit-identical fractional coordinates; the lattice to 1e-12 Å (numpy's vectorised
 * sin/cos/arccos may differ from libm's in the last bit). */
static void test_parse_matches_pymatgen(void **state)
{
    (void)state;
    const char *py = cb_test_pymatgen_python();
    if (!py) skip();
    const char *csv = cb_test_data_file("mp_20/test.csv");
    char *dir = cb_test_tmpdir();
    char args[4096];
    snprintf(args, sizeof args,
             "read %s/out.json '%s' 300 " FIXTURES "pymatgen_p1.cif " FIXTURES "nacl_fm3m.cif " FIXTURES
             "cod_1000208.cif",
             dir, csv ? csv : "-");
    char *json = run_pymatgen(py, dir, args);
    assert_non_null(json);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    int count = 0;
    double worst = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        const char *name = cJSON_GetObjectItem(it, "name")->valuestring;
        const char *cif = cJSON_GetObjectItem(it, "cif")->valuestring;
        cb_crystal c;
        cb_error err;
        if (cb_cif_parse_one_opts(cif, strlen(cif), name, &PYMATGEN, &c, &err)) fail_msg("%s", err.msg);
        const cJSON *z = cJSON_GetObjectItem(it, "z"), *frac = cJSON_GetObjectItem(it, "frac");
        assert_int_equal(cJSON_GetArraySize(z), c.n);
        double lat[3][3];
        json_matrix(cJSON_GetObjectItem(it, "lattice"), lat);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) worst = fmax(worst, fabs(lat[i][j] - c.lattice[i][j]));
        for (int i = 0; i < c.n; i++) {
            double f[3];
            assert_int_equal(cJSON_GetArrayItem(z, i)->valueint, c.z[i]);
            assert_int_equal(cb_test_json_doubles(cJSON_GetArrayItem(frac, i), f, 3), 3);
            if (memcmp(f, c.frac[i], sizeof f) != 0)
                fail_msg("%s site %d: (%.17g %.17g %.17g) vs pymatgen (%.17g %.17g %.17g)", name, i, c.frac[i][0],
                         c.frac[i][1], c.frac[i][2], f[0], f[1], f[2]);
        }
        cb_crystal_free(&c);
        count++;
    }
    printf("pymatgen CifParser: %d structures agree (worst lattice difference %.1e A)\n", count, worst);
    assert_true(worst <= 1e-12);
    cJSON_Delete(root);
    free(json);
    cb_test_rmtree(dir);
    free(dir);
}

/* CifWriter output, byte for byte, for random structures. */
static void test_write_matches_pymatgen(void **state)
{
    (void)state;
    const char *py = cb_test_pymatgen_python();
    if (!py) skip();
    char *dir = cb_test_tmpdir();
    enum { N = 60 };
    cb_crystal cs[N];
    cb_rng r;
    cb_rng_seed(&r, 777);
    cJSON *arr = cJSON_CreateArray();
    for (int t = 0; t < N; t++) {
        random_crystal(&r, &cs[t]);
        if (t % 3 == 0) /* some coordinates outside [0, 1): written as they are */
            cs[t].frac[0][0] -= 1.5;
        cJSON *o = cJSON_CreateObject(), *lat = cJSON_CreateArray(), *fr = cJSON_CreateArray();
        for (int i = 0; i < 3; i++) cJSON_AddItemToArray(lat, cJSON_CreateDoubleArray(cs[t].lattice[i], 3));
        for (int i = 0; i < cs[t].n; i++) cJSON_AddItemToArray(fr, cJSON_CreateDoubleArray(cs[t].frac[i], 3));
        cJSON_AddItemToObject(o, "lattice", lat);
        cJSON_AddItemToObject(o, "frac", fr);
        cJSON_AddItemToObject(o, "z", cJSON_CreateIntArray(cs[t].z, cs[t].n));
        cJSON_AddItemToArray(arr, o);
    }
    /* cJSON prints doubles with 17 significant digits: exact. */
    char *in = cJSON_PrintUnformatted(arr), path[1024], args[2048];
    snprintf(path, sizeof path, "%s/in.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(in, f);
    fclose(f);
    snprintf(args, sizeof args, "write %s/out.json %s", dir, path);
    char *json = run_pymatgen(py, dir, args);
    assert_non_null(json);
    cJSON *root = cJSON_Parse(json);
    assert_int_equal(cJSON_GetArraySize(root), N);
    for (int t = 0; t < N; t++) {
        char *mine;
        cb_error err;
        assert_int_equal(cb_cif_write(&cs[t], &mine, NULL, &err), 0);
        const char *theirs = cJSON_GetArrayItem(root, t)->valuestring;
        assert_no_diff(mine, theirs);
        free(mine);
        cb_crystal_free(&cs[t]);
    }
    cJSON_Delete(root);
    cJSON_Delete(arr);
    free(in);
    free(json);
    cb_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pymatgen_p1_file),
        cmocka_unit_test(test_snap_thirds_option),
        cmocka_unit_test(test_nacl_with_192_operations),
        cmocka_unit_test(test_cod_style_file),
        cmocka_unit_test(test_real_cod_file),
        cmocka_unit_test(test_cartesian_only_file),
        cmocka_unit_test(test_crlf_and_no_final_newline),
        cmocka_unit_test(test_symmetry_operation_forms),
        cmocka_unit_test(test_element_and_occupancy_rules),
        cmocka_unit_test(test_lexer_details),
        cmocka_unit_test(test_failing_later_block_fails_parse_not_parse_one),
        cmocka_unit_test(test_large_cell_duplicate_check),
        cmocka_unit_test(test_malformed_inputs),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_truncation_and_mutation_fuzz),
        cmocka_unit_test(test_write_read_round_trip),
        cmocka_unit_test(test_writer_layout),
        cmocka_unit_test(test_write_file_is_atomic),
        cmocka_unit_test(test_parse_matches_pymatgen),
        cmocka_unit_test(test_write_matches_pymatgen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
