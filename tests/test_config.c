/* Configurations: the typed getters and their one-line errors, and INI files (sections
 * in order, comments, repeated sections or keys refused, malformed lines named). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/config.h"
#include "testutil.h"


static const char *write_ini(const char *name, const char *text)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", cb_test_scratch(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_getters(void **state)
{
    (void)state;
    cb_config c;
    cb_error err;
    assert_int_equal(cb_config_init(&c, "run.ini [flowmm]", &err), CB_OK);
    assert_int_equal(cb_config_set(&c, "steps", "200", &err), CB_OK);
    assert_int_equal(cb_config_set(&c, "lr", "x", &err), CB_OK);
    assert_int_equal(cb_config_set(&c, "steps", "300", &err), CB_OK); /* the last value wins */
    long v;
    assert_int_equal(cb_config_long(&c, "steps", 1, 1, 1000, &v, &err), CB_OK);
    assert_int_equal(v, 300);
    assert_int_equal(cb_config_long(&c, "absent", 7, 1, 10, &v, &err), CB_OK);
    assert_int_equal(v, 7);
    assert_int_equal(cb_config_long(&c, "steps", 1, 1, 100, &v, &err), CB_ERR_USAGE);
    assert_non_null(strstr(err.msg, "run.ini [flowmm]: steps = '300'"));
    assert_int_equal(cb_config_long(&c, "lr", 1, 1, 100, &v, &err), CB_ERR_USAGE);
    double d;
    assert_int_equal(cb_config_set(&c, "sigma", "2.5e-2", &err), CB_OK);
    assert_int_equal(cb_config_double(&c, "sigma", 1, 0, 1, &d, &err), CB_OK);
    assert_true(d == 0.025);
    assert_int_equal(cb_config_double(&c, "absent", 0.5, 0, 1, &d, &err), CB_OK);
    assert_true(d == 0.5);
    assert_int_equal(cb_config_double(&c, "sigma", 1, 0.1, 1, &d, &err), CB_ERR_USAGE); /* out of range */
    assert_non_null(strstr(err.msg, "run.ini [flowmm]: sigma = '2.5e-2'"));
    assert_int_equal(cb_config_double(&c, "lr", 1, 0, 1, &d, &err), CB_ERR_USAGE); /* not a number */
    assert_int_equal(cb_config_set(&c, "inf", "inf", &err), CB_OK);
    assert_int_equal(cb_config_double(&c, "inf", 1, -INFINITY, INFINITY, &d, &err), CB_ERR_USAGE);
    const char *s;
    assert_int_equal(cb_config_string(&c, "data", NULL, &s, &err), CB_ERR_USAGE);
    assert_non_null(strstr(err.msg, "missing required key 'data'"));
    static const char *const known[] = {"steps", NULL};
    assert_int_equal(cb_config_check_keys(&c, known, &err), CB_ERR_USAGE);
    assert_non_null(strstr(err.msg, "unknown key 'lr'"));
    cb_config_free(&c);
}

static void test_ini_file(void **state)
{
    (void)state;
    const char *path = write_ini("good.ini", "; a comment\n"
                                             "seed = 42\n"
                                             "[external]\n"
                                             "samples = data/samples/x.csv   ; trailing comment\n"
                                             "# another comment\n"
                                             "\n"
                                             "[example]\n"
                                             "max_atoms = 20\n");
    cb_config_file f;
    cb_error err;
    assert_int_equal(cb_config_file_load(path, &f, &err), CB_OK);
    assert_int_equal(f.n, 3);
    assert_string_equal(f.names[0], "");
    assert_string_equal(f.names[1], "external");
    assert_string_equal(f.names[2], "example");
    assert_string_equal(cb_config_get(cb_config_file_section(&f, ""), "seed"), "42");
    assert_string_equal(cb_config_get(cb_config_file_section(&f, "external"), "samples"), "data/samples/x.csv");
    const cb_config *ex = cb_config_file_section(&f, "example");
    assert_non_null(strstr(ex->source, "good.ini [example]"));
    assert_null(cb_config_file_section(&f, "flowmm"));
    cb_config_file_free(&f);
}

static void test_ini_errors(void **state)
{
    (void)state;
    cb_config_file f;
    cb_error err;
    assert_int_equal(cb_config_file_load("/nonexistent/run.ini", &f, &err), CB_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/run.ini"));
    const char *bad = write_ini("bad.ini", "[a]\nx = 1\nthis line has no equals sign\n");
    assert_int_equal(cb_config_file_load(bad, &f, &err), CB_ERR_PARSE);
    assert_non_null(strstr(err.msg, "line 3"));
    const char *twice = write_ini("twice.ini", "[a]\nx = 1\n[b]\ny = 2\n[a]\nz = 3\n");
    assert_int_equal(cb_config_file_load(twice, &f, &err), CB_ERR_PARSE);
    assert_non_null(strstr(err.msg, "section [a] appears twice"));
    const char *key = write_ini("key.ini", "[a]\nx = 1\nx = 2\n");
    assert_int_equal(cb_config_file_load(key, &f, &err), CB_ERR_PARSE);
    assert_non_null(strstr(err.msg, "key 'x' is set twice"));
    const char *unterminated = write_ini("sec.ini", "[a\nx = 1\n");
    assert_int_equal(cb_config_file_load(unterminated, &f, &err), CB_ERR_PARSE);
    assert_non_null(strstr(err.msg, "line 1"));
    /* 49 characters fit; a 50th would be dropped by libinih, so it is refused */
    const char *longest = write_ini("long.ini", "[model 0123456789012345678901234567890123456789abc]\nx = 1\n");
    assert_int_equal(cb_config_file_load(longest, &f, &err), CB_OK);
    assert_non_null(cb_config_file_section(&f, "model 0123456789012345678901234567890123456789abc"));
    cb_config_file_free(&f);
    const char *too_long = write_ini("long2.ini", "[a]\nx = 1\n [model 0123456789012345678901234567890123456789abcd]\n");
    assert_int_equal(cb_config_file_load(too_long, &f, &err), CB_ERR_PARSE);
    assert_non_null(strstr(err.msg, "line 3: a section name of 50 characters (at most 49)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_ini_file),
        cmocka_unit_test(test_ini_errors),
    };
    return cmocka_run_group_tests(tests, cb_test_scratch_setup, cb_test_scratch_teardown);
}
