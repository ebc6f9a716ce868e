/* The regression gate: direction-aware verdicts per metric, the baseline file format
 * (bit-exact round trip through --update), run selection and clean errors.  The gate
 * on the published sample files themselves is in test_cli_eval_dng. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../harness/regress.h"
#include "crystalbench/store.h"
#include "support/testutil.h"

static char db[4096];

/* A finished run with the given metrics; returns its id. */
static int64_t add_run(const char *model, const char *task, const char *const *names, const double *values, size_t n)
{
    cb_store *s;
    cb_error err;
    assert_int_equal(cb_store_open(db, &s, &err), CB_OK);
    cb_run_info info = {.model = model, .task = task, .dataset = "mp_20", .git_rev = "test"};
    int64_t id;
    assert_int_equal(cb_store_begin_run(s, &info, &id, &err), CB_OK);
    assert_int_equal(cb_store_finish_run_with_metrics(s, id, names, values, n, &err), CB_OK);
    cb_store_close(s);
    return id;
}

static const char *const names[] = {"comp_valid", "wdist_density", "n_valid", "rms_dist"};

static void write_baseline(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"crystalbench_baseline\": 1, \"model\": \"m\", \"task\": \"dng\", \"dataset\": \"mp_20\",\n"
               " \"metrics\": {%s}}\n", body);
    fclose(f);
}

/* regress against a baseline with body; returns the exit status, *out the output. */
static int regress(const char *body, const char *extra, char **out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/b.json", cb_test_scratch());
    write_baseline(path, body);
    int st;
    *out = cb_test_runf(&st, "%s regress --baseline '%s' --db '%s' %s 2>&1", cb_test_cli(), path, db,
                        extra ? extra : "");
    return st;
}

static void expect(const char *body, int status, const char *needle)
{
    char *out;
    int st = regress(body, NULL, &out);
    if (st != status || (needle && !strstr(out, needle)))
        fail_msg("baseline {%s}: exit %d (want %d), output lacks '%s':\n%s", body, st, status, needle ? needle : "",
                 out);
    free(out);
}

static void test_directions(void **state)
{
    (void)state;
    double v[] = {0.90, 0.25, 900, NAN};
    add_run("m", "dng", names, v, 4);
    /* Equal values pass. */
    expect("\"comp_valid\": {\"value\": 0.90}, \"wdist_density\": {\"value\": 0.25}, \"n_valid\": {\"value\": 900}",
           0, "no regression in 3 metrics");
    /* A higher-is-better metric that dropped fails, naming it; within tolerance it passes. */
    expect("\"comp_valid\": {\"value\": 0.91}", 1, "regressed against");
    expect("\"comp_valid\": {\"value\": 0.91}", 1, "in 1 metric: comp_valid");
    expect("\"comp_valid\": {\"value\": 0.91, \"tolerance\": 0.02}", 0, "ok");
    /* Rising is an improvement, not a failure. */
    expect("\"comp_valid\": {\"value\": 0.80}", 0, "improved");
    /* Lower is better for a Wasserstein distance: a rise fails, a fall passes. */
    expect("\"wdist_density\": {\"value\": 0.20}", 1, "wdist_density");
    expect("\"wdist_density\": {\"value\": 0.30}", 0, "improved");
    /* An explicit direction overrides the default. */
    expect("\"wdist_density\": {\"value\": 0.30, \"better\": \"higher\"}", 1, "wdist_density");
    /* Counts must not change either way. */
    expect("\"n_valid\": {\"value\": 899}", 1, "n_valid");
    expect("\"n_valid\": {\"value\": 901}", 1, "n_valid");
    /* NaN (null) matches only NaN. */
    expect("\"rms_dist\": {\"value\": null}", 0, "no regression");
    expect("\"rms_dist\": {\"value\": 0.1}", 1, "rms_dist");
    /* A metric the run does not have fails. */
    expect("\"cov_recall\": {\"value\": 0.5}", 1, "cov_recall (missing)");
    /* Every regressed metric is named in the one message. */
    expect("\"comp_valid\": {\"value\": 0.95}, \"wdist_density\": {\"value\": 0.1}, \"n_valid\": {\"value\": 900}",
           1, "2 metrics: comp_valid, wdist_density");
}

static void test_update_round_trip(void **state)
{
    (void)state;
    double v[] = {2.0 / 3.0, 0.1 + 0.2, 1234, NAN};
    int64_t id = add_run("u", "dng", names, v, 4);
    char path[4200];
    snprintf(path, sizeof path, "%s/u.json", cb_test_scratch());
    remove(path);
    int st;
    /* Creating a baseline needs the run. */
    char *out = cb_test_runf(&st, "%s regress --baseline '%s' --db '%s' --update 2>&1", cb_test_cli(), path, db);
    assert_int_equal(st, 2);
    free(out);
    out = cb_test_runf(&st, "%s regress --baseline '%s' --db '%s' --update --run %lld 2>&1", cb_test_cli(), path, db,
                       (long long)id);
    assert_int_equal(st, 0);
    free(out);
    cb_baseline b;
    cb_error err;
    assert_int_equal(cb_baseline_read(path, &b, &err), CB_OK);
    assert_string_equal(b.model, "u");
    assert_int_equal(b.n, 4);
    for (size_t i = 0; i < b.n; i++) {
        size_t j = 0;
        while (strcmp(names[j], b.metrics[i].name) != 0) j++;
        if (isnan(v[j]))
            assert_true(isnan(b.metrics[i].value));
        else
            assert_memory_equal(&b.metrics[i].value, &v[j], sizeof v[j]); /* bit for bit */
    }
    cb_baseline_free(&b);
    /* The new baseline passes for its own run (found as the latest run of model u). */
    out = cb_test_runf(&st, "%s regress --baseline '%s' --db '%s' 2>&1", cb_test_cli(), path, db);
    assert_int_equal(st, 0);
    free(out);
    /* A later, worse run of the same model is what the gate then picks, and fails. */
    double worse[] = {0.5, 0.3, 1234, NAN};
    add_run("u", "dng", names, worse, 4);
    out = cb_test_runf(&st, "%s regress --baseline '%s' --db '%s' 2>&1", cb_test_cli(), path, db);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "in 1 metric: comp_valid")); /* wdist 0.3 is within tolerance */
    free(out);
}

static void test_bad_input(void **state)
{
    (void)state;
    char *out;
    /* A CSP run checked against a DNG baseline is refused. */
    int64_t csp = add_run("m", "csp", names, (double[]){1, 1, 1, 1}, 4);
    char extra[64];
    snprintf(extra, sizeof extra, "--run %lld", (long long)csp);
    assert_int_equal(regress("\"comp_valid\": {\"value\": 1}", extra, &out), 1);
    assert_non_null(strstr(out, "baseline for dng"));
    free(out);
    struct {
        const char *body;
        const char *needle;
    } bad[] = {{"\"comp_valid\": {\"value\": \"high\"}", "no numeric value"},
               {"\"comp_valid\": {\"value\": 1, \"better\": \"up\"}", "not higher, lower or equal"},
               {"\"comp_valid\": {\"value\": 1, \"tolerance\": -1}", "tolerance"},
               {"\"comp_valid\": 3", "not an object"},
               {"", "no metrics"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = regress(bad[i].body, NULL, &out);
        if (st != 1 || !strstr(out, bad[i].needle) || !strstr(out, "b.json"))
            fail_msg("{%s}: exit %d, want 1 and '%s':\n%s", bad[i].body, st, bad[i].needle, out);
        free(out);
    }
    int st;
    const char *cli = cb_test_cli();
    struct {
        const char *args;
        int status;
        const char *needle;
    } cases[] = {{"", 2, "needs --baseline"},
                 {"--baseline /nonexistent.json", 1, "/nonexistent.json: cannot read"},
                 {"--baseline x --run abc", 2, "--run needs"},
                 {"--baseline x --bogus", 2, "unknown option"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        out = cb_test_runf(&st, "%s regress %s 2>&1", cli, cases[i].args);
        if (st != cases[i].status || !strstr(out, cases[i].needle))
            fail_msg("regress %s: exit %d, want %d and '%s':\n%s", cases[i].args, st, cases[i].status,
                     cases[i].needle, out);
        free(out);
    }
    /* Not JSON at all. */
    char path[4200];
    snprintf(path, sizeof path, "%s/garbage.json", cb_test_scratch());
    FILE *f = fopen(path, "w");
    fputs("{ not json", f);
    fclose(f);
    out = cb_test_runf(&st, "%s regress --baseline '%s' --db '%s' 2>&1", cli, path, db);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "garbage.json: not valid JSON"));
    free(out);
    /* A missing database is not created. */
    out = cb_test_runf(&st, "%s regress --baseline '%s' --db '%s/none.db' 2>&1", cli, path, cb_test_scratch());
    assert_int_equal(st, 1);
    free(out);
}

static int setup(void **state)
{
    int rc = cb_test_scratch_setup(state);
    snprintf(db, sizeof db, "%s/runs.db", cb_test_scratch());
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directions),
        cmocka_unit_test(test_update_round_trip),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, cb_test_scratch_teardown);
}
