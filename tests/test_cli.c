/* The command-line interface as a user meets it: help texts, exit statuses, the
 * issue's acceptance numbers for `data stats`, one-line errors on every malformed input
 * of tests/data/malformed/{cif,csv}.tsv, and a conversion round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

static void test_help_and_usage_errors(void **state)
{
    (void)state;
    const char *cli = cb_test_cli();
    int st;
    char *out = cb_test_runf(&st, "%s --help 2>&1", cli);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "data stats"));
    assert_non_null(strstr(out, "data convert"));
    free(out);
    const char *cmds[] = {"data stats", "data convert"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        out = cb_test_runf(&st, "%s %s --help 2>&1", cli, cmds[i]);
        assert_int_equal(st, 0);
        assert_non_null(strstr(out, "usage: crystalbench"));
        free(out);
    }
    const char *bad[] = {"", "nonsense", "data", "data frobnicate", "data stats", "data stats a b",
                         "data stats --symprec -1 f.csv", "data stats --bogus f.csv", "data convert a",
                         "data convert --to nope a b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = cb_test_runf(&st, "%s %s 2>&1", cli, bad[i]);
        if (st != 2) fail_msg("'crystalbench %s' exited %d, expected 2 (usage)", bad[i], st);
        free(out);
    }
}

static void test_stats_mp20_test(void **state)
{
    (void)state;
    const char *path = cb_test_data_file("mp_20/test.csv");
    if (!path) skip();
    int st;
    char *out = cb_test_runf(&st, "%s data stats %s 2>&1", cb_test_cli(), path);
    if (st != 0 || !strstr(out, ": 9046 structures, 0 unreadable")) fail_msg("unexpected output:\n%s", out);
    assert_non_null(strstr(out, "density (g/cm^3)"));
    assert_null(strstr(out, "space groups"));
    free(out);
    /* Space groups on a small file (spglib costs ms per structure). */
    const char *perov = cb_test_data_file("perov_5/val.csv");
    if (!perov) return;
    out = cb_test_runf(&st, "head -c 60000 %s > /tmp/cb_sg_$$.csv; %s data stats --spacegroups /tmp/cb_sg_$$.csv 2>&1; "
              "rm -f /tmp/cb_sg_$$.csv", perov, cb_test_cli());
    if (!strstr(out, "space groups (spglib, symprec 0.1 A)")) fail_msg("no space groups:\n%s", out);
    free(out);
}

/* Each TSV line: file, expected message substring, expected status name. */
static void check_malformed_list(const char *tsv)
{
    char *list = cb_test_read_file(tsv, NULL);
    if (!list) fail_msg("cannot read %s", tsv);
    char *tmp = cb_test_tmpdir();
    int checked = 0;
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || !line[0]) continue;
        char file[512], expect[512];
        if (sscanf(line, "%511[^\t]\t%511[^\t]", file, expect) != 2) fail_msg("bad line in %s: %s", tsv, line);
        int st;
        char *out = cb_test_runf(&st, "%s data stats tests/data/malformed/%s 2>&1", cb_test_cli(), file);
        if (st != 1) fail_msg("%s: exit %d (expected 1); output:\n%s", file, st, out);
        if (!strstr(out, expect)) fail_msg("%s: output lacks '%s':\n%s", file, expect, out);
        if (!strstr(out, file)) fail_msg("%s: message does not name the file:\n%s", file, out);
        free(out);
        /* convert must fail the same way and write nothing. */
        out = cb_test_runf(&st, "%s data convert tests/data/malformed/%s %s/out.xyz 2>&1", cb_test_cli(), file, tmp);
        if (st != 1) fail_msg("convert %s: exit %d (expected 1)", file, st);
        char err_line[1024];
        if (sscanf(out, "%1023[^\n]", err_line) != 1 || strchr(out, '\n') != strrchr(out, '\n'))
            fail_msg("convert %s: error is not one line:\n%s", file, out);
        struct stat sb;
        if (stat(tmp, &sb) == 0) {
            char outpath[1024];
            snprintf(outpath, sizeof outpath, "%s/out.xyz", tmp);
            if (stat(outpath, &sb) == 0) fail_msg("convert %s left an output file behind", file);
        }
        free(out);
        checked++;
    }
    printf("%s: %d malformed inputs rejected cleanly\n", tsv, checked);
    assert_true(checked > 0);
    free(list);
    cb_test_rmtree(tmp);
    free(tmp);
}

static void test_malformed_cif(void **state)
{
    (void)state;
    check_malformed_list("tests/data/malformed/cif.tsv");
}

static void test_malformed_csv(void **state)
{
    (void)state;
    check_malformed_list("tests/data/malformed/csv.tsv");
}

static void test_convert_round_trip(void **state)
{
    (void)state;
    const char *path = cb_test_data_file("perov_5/test.csv");
    if (!path) skip();
    char *tmp = cb_test_tmpdir();
    int st;
    char *out = cb_test_runf(&st,
                    "%1$s data convert %2$s %3$s/cifs 2>&1 && %1$s data convert %3$s/cifs %3$s/all.xyz 2>&1 && "
                    "%1$s data convert %3$s/all.xyz %3$s/back.csv 2>&1 && "
                    "%1$s data stats %3$s/back.csv 2>&1",
                    cb_test_cli(), path, tmp);
    if (st != 0 || !strstr(out, ": 3785 structures, 0 unreadable")) fail_msg("round trip failed:\n%s", out);
    free(out);
    cb_test_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage_errors), cmocka_unit_test(test_stats_mp20_test),
        cmocka_unit_test(test_malformed_cif),         cmocka_unit_test(test_malformed_csv),
        cmocka_unit_test(test_convert_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
