/* crystalbench train / sample (harness/cli_train.c) through the real executable, on the
 * first rows of shared Perov-5 (skipped without ../shared): train a tiny FlowMM, sample
 * from it, score the predictions; a --budget stop saves a checkpoint the same command
 * continues; --config/--model takes a run config's keys; bad input is a one-line
 * error with the right exit status. */
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

static char dir[4096];

#define TINY "--set hidden=8 --set layers=1 --set n_freq=4 --set time_dim=4 --set batch=16 --set stats_passes=1"

/* The CLI with printf-style arguments, run in the scratch folder; stdout and stderr. */
static char *cli(int *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *cli(int *st, const char *fmt, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return cb_test_runf(st, "cd '%s' && %s %s 2>&1", cb_test_scratch(), cb_test_cli(), args);
}

static void test_train_sample_eval(void **state)
{
    (void)state;
    if (!dir[0]) skip();
    int st;
    char *out = cli(&st, "train flowmm --task csp --data '%s' --out m.ckpt " TINY " --set epochs=3 --threads 1", dir);
    if (st) fail_msg("train: exit %d\n%s", st, out);
    assert_non_null(strstr(out, "training on 108 structures, validating on 12 (val-minus-10%)"));
    assert_non_null(strstr(out, "trained after"));
    free(out);
    /* the curve: 3 epochs of 7 steps, loss and lr each, validation every 5 and at the end */
    out = cb_test_runf(&st, "grep -c . '%s/m.ckpt.log.tsv'", cb_test_scratch());
    assert_int_equal(atoi(out), 7);
    free(out);
    out = cli(&st, "sample flowmm --task csp --ckpt m.ckpt --targets '%s/test.csv' --out pred.csv " TINY
                   " --set epochs=3 --set sample_steps=5",
              dir);
    if (st) fail_msg("sample: exit %d\n%s", st, out);
    assert_non_null(strstr(out, "60 structures -> pred.csv"));
    free(out);
    out = cli(&st, "eval csp --pred pred.csv --target '%s/test.csv' --no-db", dir);
    if (st) fail_msg("eval: exit %d\n%s", st, out);
    assert_non_null(strstr(out, "of 60"));
    free(out);
    /* sampling keys are not the checkpoint's: another sample_steps loads; another
     * width does not */
    out = cli(&st, "sample flowmm --task csp --ckpt m.ckpt --targets '%s/test.csv' --out p2.csv " TINY
                   " --set epochs=3 --set hidden=16",
              dir);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "m.ckpt: checkpoint of another config"));
    free(out);
}

static void test_budget_and_continue(void **state)
{
    (void)state;
    if (!dir[0]) skip();
    int st;
    /* 0.003 minutes stop a 100000-epoch run after its first steps */
    char *out = cli(&st, "train flowmm --task dng --data '%s' --out b.ckpt " TINY " --set epochs=100000 --budget 0.003",
                    dir);
    if (st) fail_msg("train: exit %d\n%s", st, out);
    assert_non_null(strstr(out, "budget reached"));
    free(out);
    out = cli(&st, "train flowmm --task dng --data '%s' --out b.ckpt " TINY " --set epochs=100000 --budget 0.003", dir);
    if (st) fail_msg("train again: exit %d\n%s", st, out);
    assert_non_null(strstr(out, ", continuing"));
    free(out);
    out = cli(&st, "sample flowmm --task dng --ckpt b.ckpt --n 7 --out s.csv " TINY " --set epochs=100000");
    if (st) fail_msg("sample: exit %d\n%s", st, out);
    assert_non_null(strstr(out, "7 structures -> s.csv"));
    free(out);
}

static void test_config_section(void **state)
{
    (void)state;
    if (!dir[0]) skip();
    char ini[4200];
    snprintf(ini, sizeof ini, "%s/m.ini", cb_test_scratch());
    FILE *f = fopen(ini, "w");
    assert_non_null(f);
    fprintf(f, "[model FM]\nbackend = flowmm\ndatasets = perov_5\nhidden = 8\nlayers = 1\nn_freq = 4\n"
               "time_dim = 4\nbatch = 16\nepochs = 1\nstats_passes = 1\n"
               "mp_20.hidden = 0\ndng.hidden = 0\nperov_5.dng.hidden = 0\n" /* not this job's */
               "\n[model FM2]\nbackend = flowmm\nhidden = 8\nperov_5.csp.hidden = 0\n");
    fclose(f);
    int st;
    char *out = cli(&st, "train flowmm --task csp --data '%s' --out c.ckpt --config m.ini --model FM", dir);
    if (st) fail_msg("train: exit %d\n%s", st, out);
    free(out);
    out = cli(&st, "train example --task csp --data '%s' --out e.ckpt --config m.ini --model FM", dir);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "backend is flowmm, not example"));
    free(out);
    /* The scoped keys of the job's dataset (the --data folder's name, or --dataset) and task. */
    out = cli(&st, "train flowmm --task csp --data '%s' --out f.ckpt --config m.ini --model FM2", dir);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "hidden = '0'"));
    free(out);
    out = cli(&st, "train flowmm --task csp --data '%s' --out f.ckpt --config m.ini --model FM --dataset mp_20", dir);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "hidden = '0'"));
    free(out);
}

static void test_bad_input(void **state)
{
    (void)state;
    static const struct {
        const char *args;
        int status;
        const char *says;
    } cases[] = {
        {"train", 2, "name the BACKEND"},
        {"train nosuch --task csp --data x --out y", 2, "no backend 'nosuch'"},
        {"train flowmm --task xyz", 2, "--task is dng or csp"},
        {"train flowmm --task csp --out y", 2, "--data DIR and --out CKPT are required"},
        {"train flowmm --task csp --data /nonexistent --out y", 1, "/nonexistent/val.csv"},
        {"train flowmm --task csp --data . --out y --budget -1", 2, "--budget needs minutes"},
        {"train flowmm --task csp --data . --out y --set noequals", 2, "--set needs KEY=VALUE"},
        {"sample flowmm --task dng --ckpt /nonexistent.ckpt --out s.csv", 1, "/nonexistent.ckpt"},
        {"sample flowmm --task csp --ckpt x --out s.csv", 2, "csp needs --targets FILE"},
        {"sample flowmm --task dng --ckpt x --out s.csv --n 0", 2, "--n needs a count"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st;
        char *out = cb_test_runf(&st, "cd '%s' && %s %s 2>&1", cb_test_scratch(), cb_test_cli(), cases[i].args);
        if (st != cases[i].status || !strstr(out, cases[i].says))
            fail_msg("'%s': exit %d (want %d), output:\n%s", cases[i].args, st, cases[i].status, out);
        free(out);
    }
    if (dir[0]) { /* a key the backend does not know, named in the one-line error */
        int st;
        char *out = cli(&st, "train flowmm --task csp --data '%s' --out z.ckpt --set hiden=8", dir);
        assert_int_equal(st, 2);
        assert_non_null(strstr(out, "hiden"));
        free(out);
    }
}

static int setup(void **state)
{
    int rc = cb_test_scratch_setup(state);
    if (rc || !cb_test_shared_data()) return rc;
    snprintf(dir, sizeof dir, "%s/perov_5", cb_test_scratch());
    mkdir(dir, 0777);
    char dst[4200];
    snprintf(dst, sizeof dst, "%s/val.csv", dir);
    cb_test_write_head("perov_5/val.csv", 120, dst);
    snprintf(dst, sizeof dst, "%s/test.csv", dir);
    cb_test_write_head("perov_5/test.csv", 60, dst);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_sample_eval), cmocka_unit_test(test_budget_and_continue),
        cmocka_unit_test(test_config_section), cmocka_unit_test(test_bad_input)};
    return cmocka_run_group_tests(tests, setup, cb_test_scratch_teardown);
}
