/* Crystal text of the autoregressive backend (models/text/crystal_text.h): the string
 * layout, tokens that spell the same text, parsing back within the format's rounding, and
 * every malformed string refused with its reason. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/text/crystal_text.h"
#include "crystalbench/dataset.h"
#include "testutil.h"

/* SrTiO3-like: O listed first, so the writer's Z sort shows. */
static void perovskite(cb_crystal *c)
{
    cb_error err;
    assert_int_equal(cb_crystal_alloc(c, 5, &err), CB_OK);
    const double p[6] = {3.905, 3.905, 3.905, 90, 90, 89.99999999999999};
    cb_lattice_from_parameters(p, c->lattice);
    const int z[5] = {8, 8, 38, 22, 8};
    const double f[5][3] = {{0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0, 0}, {0.5, 0.5, 0.5}, {0, 0.5, 0.996}};
    for (int i = 0; i < 5; i++) {
        c->z[i] = z[i];
        memcpy(c->frac[i], f[i], sizeof f[i]);
    }
}

static void test_string_layout(void **state)
{
    (void)state;
    cb_crystal c = {0};
    perovskite(&c);
    char text[512];
    cb_error err;
    assert_int_equal(cb_text_write(&c, 0, text, sizeof text, &err), CB_OK);
    assert_string_equal(text, "3.9 3.9 3.9\n90 90 90\nO\n0.50 0.50 0.00\nO\n0.50 0.00 0.50\nO\n0.00 0.50 1.00\n"
                              "Ti\n0.50 0.50 0.50\nSr\n0.00 0.00 0.00");
    assert_int_equal(cb_text_write(&c, 1, text, sizeof text, &err), CB_OK); /* int() truncates */
    assert_non_null(strstr(text, "\n90 90 89\n"));
    assert_int_equal(cb_text_write(&c, 0, text, 20, &err), CB_ERR_USAGE);
    cb_crystal_free(&c);
}

static void test_tokens_spell_the_text(void **state)
{
    (void)state;
    cb_crystal c = {0};
    perovskite(&c);
    int tok[256], n;
    char text[512], back[512];
    cb_error err;
    assert_int_equal(cb_text_encode(&c, 0, tok, 256, &n, &err), CB_OK);
    assert_int_equal(n, 11 + 1 + 8 + 5 * 8); /* "3.9 3.9 3.9" a token per character, "\n",
                                                 "90 90 90", and 8 per atom */
    assert_int_equal(cb_text_detokenize(tok, n, back, sizeof back, &err), CB_OK);
    assert_int_equal(cb_text_write(&c, 0, text, sizeof text, &err), CB_OK);
    assert_string_equal(back, text);
    for (int i = 0; i < n; i++) assert_true(tok[i] >= CB_TOK_NL && tok[i] < CB_TOK_VOCAB);
    /* an atom: El \n c ' ' c ' ' c, after the \n that ends the previous line */
    assert_int_equal(tok[n - 7], CB_TOK_ELEMENT1 + 38 - 1);
    assert_int_equal(tok[n - 1], CB_TOK_COORD0 + 0);
    int comp[32], nc;
    assert_int_equal(cb_text_composition(&c, comp, 32, &nc, &err), CB_OK);
    assert_int_equal(cb_text_detokenize(comp, nc, back, sizeof back, &err), CB_OK);
    assert_string_equal(back, "O3 Ti1 Sr1");
    assert_int_equal(cb_text_encode(&c, 0, tok, 10, &n, &err), CB_ERR_USAGE);
    cb_crystal_free(&c);
}

/* The text with every coordinate "1.00" as "0.00": what writing the parsed (wrapped)
 * crystal gives back. */
static void wrapped_text(char *text)
{
    for (char *p = text; (p = strstr(p, "1.00")); p += 4) {
        int starts = p == text || p[-1] == ' ' || p[-1] == '\n', ends = !p[4] || p[4] == ' ' || p[4] == '\n';
        if (starts && ends) p[0] = '0';
    }
}

static void test_parse_round_trip(void **state)
{
    (void)state;
    cb_crystal c = {0}, back = {0};
    perovskite(&c);
    char text[512];
    cb_error err;
    assert_int_equal(cb_text_write(&c, 0, text, sizeof text, &err), CB_OK);
    assert_int_equal(cb_text_parse(text, 20, &back, &err), CB_OK);
    assert_int_equal(back.n, 5);
    double p[6];
    cb_lattice_parameters(back.lattice, p);
    assert_float_equal(p[0], 3.9, 1e-9);
    assert_float_equal(p[5], 90, 1e-9);
    assert_int_equal(back.z[4], 38);
    assert_float_equal(back.frac[2][2], 0.0, 0); /* "1.00" wraps to 0 */
    char again[512];
    assert_int_equal(cb_text_write(&back, 0, again, sizeof again, &err), CB_OK);
    wrapped_text(text);
    assert_string_equal(again, text); /* a parsed string writes itself, 1.00 as 0.00 */
    cb_crystal_free(&back);
    cb_crystal_free(&c);
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "line 1"},
        {"3.9 3.9\n90 90 90\nO\n0 0 0", "line 1"},
        {"3.9 3.9 -1\n90 90 90\nO\n0 0 0", "line 1"},
        {"3.9  3.9 3.9\n90 90 90\nO\n0 0 0", "line 1"}, /* an empty field, as split(" ") */
        {"3.9 3.9 x\n90 90 90\nO\n0 0 0", "line 1"},
        {"3.9 3.9 3.9\n90 90 180\nO\n0 0 0", "line 2"},
        {"3.9 3.9 3.9\n90 90\nO\n0 0 0", "line 2"},
        {"3.9 3.9 3.9\n10 10 150\nO\n0 0 0", "no cell"},
        {"3.9 3.9 3.9\n90 90 90\nXx\n0 0 0", "not an element"},
        {"3.9 3.9 3.9\n90 90 90\nO\n0 0", "coordinates"},
        {"3.9 3.9 3.9\n90 90 90\nO\n0 0 0\nO", "element lines"},
        {"3.9 3.9 3.9\n90 90 90", "0 atoms"},
        {"0.001 0.001 0.001\n90 90 90\nO\n0 0 0", "volume"},
        {"3.9 3.9 3.9\n90 90 90\nO\n0 0 nan", "coordinates"},
        {"3.9 3.9 3.9\n90 90 90\nO\n0.00 0.5 0.5\nTi\n1.00 0.5 0.5", "atoms 1 and 2 coincide"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cb_crystal c = {0};
        cb_error err;
        int rc = cb_text_parse(bad[i].text, 20, &c, &err);
        if (rc != CB_ERR_INVALID || !strstr(err.msg, bad[i].why))
            fail_msg("case %zu: rc %d '%s', want '%s'", i, rc, rc ? err.msg : "", bad[i].why);
    }
    cb_crystal c = {0};
    cb_error err;
    assert_int_equal(cb_text_parse("3.9 3.9 3.9\n90 90 90\nO\n0 0 0\nO\n0.5 0.5 0.5", 1, &c, &err), CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "2 atoms (1..1)"));
}

/* Every Perov-5 test structure: written, tokenised, detokenised, parsed, rewritten: the
 * same text, and lengths within 0.05 Å, coordinates within 0.005 (mod 1). */
static void test_dataset_round_trip(void **state)
{
    (void)state;
    const char *path = cb_test_data_file("perov_5/test.csv");
    if (!path) skip();
    cb_dataset set;
    cb_error err;
    assert_int_equal(cb_dataset_load(path, CB_FORMAT_AUTO, &set, &err), CB_OK);
    size_t checked = 0;
    for (size_t i = 0; i < set.n; i++) {
        const cb_crystal *c = &set.items[i];
        char text[4096], back[4096], again[4096];
        int tok[1024], n;
        cb_crystal parsed = {0}, sorted = {0};
        assert_int_equal(cb_text_encode(c, 0, tok, 1024, &n, &err), CB_OK);
        assert_int_equal(cb_text_detokenize(tok, n, back, sizeof back, &err), CB_OK);
        assert_int_equal(cb_text_write(c, 0, text, sizeof text, &err), CB_OK);
        assert_string_equal(back, text);
        if (cb_text_parse(text, 100, &parsed, &err)) fail_msg("row %zu: %s\n%s", i, err.msg, text);
        assert_int_equal(cb_text_write(&parsed, 0, again, sizeof again, &err), CB_OK);
        wrapped_text(text);
        assert_string_equal(again, text);
        assert_int_equal(cb_text_sorted(c, &sorted, &err), CB_OK);
        double p[6], q[6];
        cb_lattice_parameters(c->lattice, p);
        cb_lattice_parameters(parsed.lattice, q);
        for (int k = 0; k < 3; k++) assert_true(fabs(p[k] - q[k]) <= 0.05 + 1e-9);
        for (int a = 0; a < parsed.n; a++) {
            assert_int_equal(parsed.z[a], sorted.z[a]);
            for (int k = 0; k < 3; k++) {
                double d = fabs(parsed.frac[a][k] - (sorted.frac[a][k] - floor(sorted.frac[a][k])));
                assert_true(fmin(d, 1 - d) <= 0.005 + 1e-9);
            }
        }
        cb_crystal_free(&parsed);
        cb_crystal_free(&sorted);
        checked++;
    }
    printf("%zu Perov-5 test structures: text = tokens, parse then write = the same text\n", checked);
    cb_dataset_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_string_layout), cmocka_unit_test(test_tokens_spell_the_text),
                                       cmocka_unit_test(test_parse_round_trip), cmocka_unit_test(test_malformed),
                                       cmocka_unit_test(test_dataset_round_trip)};
    return cmocka_run_group_tests(tests, cb_test_scratch_setup, cb_test_scratch_teardown);
}
