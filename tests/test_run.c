/* crystalbench run: a config's jobs end as finished runs with their split, metrics
 * and series; a rerun skips them; the same seed gives bit-identical metrics; a job
 * resumed from its samples (or after Ctrl-C) scores exactly what a fresh one does;
 * bad configs fail before anything runs, naming file, section and key. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crystalbench/dataset.h"
#include "crystalbench/store.h"
#include "support/testutil.h"

static char data_dir[4096];

/* The first `rows` structures of shared perov_5/<split>.csv into data_dir/<split>.csv. */
/* The first `rows` structures of shared perov_5/<split>.csv as data_dir/<split>.csv. */
static void head(const char *split, size_t rows)
{
    char rel[64], dst[4200];
    snprintf(rel, sizeof rel, "perov_5/%s.csv", split);
    snprintf(dst, sizeof dst, "%s/%s.csv", data_dir, split);
    cb_test_write_head(rel, rows, dst);
}

/* Writes NAME.ini in the scratch dir: the tiny comparison with db DB and the extra
 * lines; returns its path (static). */
static const char *config(const char *name, const char *db, const char *extra)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s.ini", cb_test_scratch(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "[run]\ndb = %s/%s\nworkdir = %s/work\nseed = 3\n\n"
            "[dataset perov_5]\ndir = %s\ndng_samples = 1500\ndng_subset = all\ncsp_targets = 40\n\n"
            "[model random]\nbackend = example\nmax_atoms = 20\n%s",
            cb_test_scratch(), db, cb_test_scratch(), data_dir, extra ? extra : "");
    fclose(f);
    return path;
}

static char *run(const char *args, int *st)
{
    return cb_test_runf(st, "cd '%s' && %s run %s 2>&1", cb_test_scratch(), cb_test_cli(), args);
}

/* All metrics of the latest done run of (random, task) in db. */
static cb_metric *metrics_of(const char *db, const char *task, size_t *n, cb_run *info)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", cb_test_scratch(), db);
    cb_store *s;
    cb_error err;
    assert_int_equal(cb_store_open_existing(path, &s, &err), CB_OK);
    cb_run_filter f = {.model = "random", .task = task};
    cb_run r;
    assert_int_equal(cb_store_latest_run(s, &f, &r, &err), CB_OK);
    cb_metric *m;
    assert_int_equal(cb_store_get_metrics(s, r.id, &m, n, &err), CB_OK);
    if (info)
        *info = r;
    else
        cb_run_free(&r);
    cb_store_close(s);
    return m;
}

static void assert_same_metrics(const char *db_a, const char *db_b)
{
    static const char *const tasks[] = {"dng", "csp"};
    for (int t = 0; t < 2; t++) {
        size_t na, nb;
        cb_metric *a = metrics_of(db_a, tasks[t], &na, NULL), *b = metrics_of(db_b, tasks[t], &nb, NULL);
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++) {
            assert_string_equal(a[i].name, b[i].name);
            if (memcmp(&a[i].value, &b[i].value, sizeof(double)) != 0 && !(isnan(a[i].value) && isnan(b[i].value)))
                fail_msg("%s %s: %.17g in %s, %.17g in %s", tasks[t], a[i].name, a[i].value, db_a, b[i].value, db_b);
        }
        cb_metrics_free(a, na);
        cb_metrics_free(b, nb);
    }
}

static long count_runs(const char *db, const char *status)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", cb_test_scratch(), db);
    cb_store *s;
    cb_error err;
    assert_int_equal(cb_store_open_existing(path, &s, &err), CB_OK);
    cb_run *runs;
    size_t n;
    assert_int_equal(cb_store_list_runs(s, NULL, &runs, &n, &err), CB_OK);
    long k = 0;
    for (size_t i = 0; i < n; i++) k += strcmp(cb_run_status_name(runs[i].status), status) == 0;
    cb_runs_free(runs, n);
    cb_store_close(s);
    return k;
}

/* The CI gate on the tiny pipeline: both runs equal their committed baselines
 * (results/baseline/ci_random_perov_5_*.json).  CB_UPDATE_BASELINES=1 rewrites them
 * from this run instead (after a deliberate change, reviewed in the diff). */
static void regress_gate(const char *db)
{
    const char *src = getenv("CB_SOURCE_DIR");
    int update = getenv("CB_UPDATE_BASELINES") != NULL;
    static const char *const tasks[] = {"dng", "csp"};
    for (int t = 0; t < 2; t++) {
        cb_run r;
        size_t n;
        cb_metric *m = metrics_of(db, tasks[t], &n, &r);
        cb_metrics_free(m, n);
        int st;
        char *out = cb_test_runf(&st, "%s regress --baseline '%s/results/baseline/ci_random_perov_5_%s.json' "
                                      "--db '%s/%s' --run %lld %s 2>&1",
                                 cb_test_cli(), src ? src : ".", tasks[t], cb_test_scratch(), db, (long long)r.id,
                                 update ? "--update" : "");
        cb_run_free(&r);
        printf("%s", out);
        if (st != 0) fail_msg("regress gate of the tiny %s pipeline: exit %d", tasks[t], st);
        free(out);
    }
}

static void test_run_and_rerun(void **state)
{
    (void)state;
    int st;
    char args[4300];
    snprintf(args, sizeof args, "'%s'", config("a", "a.db", NULL));
    char *out = run(args, &st);
    if (st != 0) fail_msg("run: exit %d\n%s", st, out);
    assert_non_null(strstr(out, "training     on 108 structures, validating on 12 (val-minus-10%)"));
    free(out);
    cb_run r;
    size_t n;
    cb_metric *m = metrics_of("a.db", "dng", &n, &r);
    assert_string_equal(r.split, "val-minus-10%");
    assert_string_equal(r.dataset, "perov_5");
    assert_non_null(strstr(r.config, "backend = example"));
    cb_run_free(&r);
    double n_gen = -1, comp = -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].name, "n_generated") == 0) n_gen = m[i].value;
        if (strcmp(m[i].name, "comp_valid") == 0) comp = m[i].value;
    }
    assert_true(n_gen == 1500);
    assert_true(comp > 0 && comp <= 1);
    cb_metrics_free(m, n);
    m = metrics_of("a.db", "csp", &n, NULL);
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, "n_targets") == 0) assert_true(m[i].value == 40);
    cb_metrics_free(m, n);
    assert_int_equal(count_runs("a.db", "done"), 2);
    regress_gate("a.db");

    /* A rerun finds both jobs done and adds nothing. */
    out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "every job is done"));
    free(out);
    assert_int_equal(count_runs("a.db", "done"), 2);

    /* Same seed from scratch (another store, --retrain): identical metrics. */
    snprintf(args, sizeof args, "'%s' --retrain", config("b", "b.db", NULL));
    out = run(args, &st);
    assert_int_equal(st, 0);
    free(out);
    assert_same_metrics("a.db", "b.db");

    /* A store without the runs but with the work files: resumed from the samples,
     * same numbers. */
    snprintf(args, sizeof args, "'%s'", config("c", "c.db", NULL));
    out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "samples      "));
    assert_null(strstr(out, "training"));
    free(out);
    assert_same_metrics("a.db", "c.db");
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void test_interrupt_and_resume(void **state)
{
    (void)state;
    const char *cfg = config("i", "i.db", "\n[run_marker]\nx = 1\n");
    /* (an unknown section: first check that a bad config stops before any work) */
    int st;
    char args[4300];
    snprintf(args, sizeof args, "'%s'", cfg);
    char *out = run(args, &st);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "i.ini [run_marker]: unknown section"));
    free(out);
    cfg = config("i", "i.db", "seed_note = fresh work dir below\n");
    out = run(args, &st);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "i.ini [model random]: unknown key 'seed_note'"));
    free(out);

    /* A fresh work dir, so that the job must sample; Ctrl-C once its samples exist. */
    char work[4200];
    snprintf(work, sizeof work, "%s/work-i", cb_test_scratch());
    FILE *f = fopen(cfg, "w");
    fprintf(f,
            "[run]\ndb = %s/i.db\nworkdir = %s\nseed = 3\n\n[dataset perov_5]\ndir = %s\ndng_samples = 1500\n"
            "dng_subset = all\ncsp_targets = 40\n\n[model random]\nbackend = example\nmax_atoms = 20\n",
            cb_test_scratch(), work, data_dir);
    fclose(f);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", 1);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(cb_test_cli(), cb_test_cli(), "run", cfg, (char *)NULL);
        _exit(127);
    }
    char samples_glob[4300];
    snprintf(samples_glob, sizeof samples_glob, "%s/random/perov_5", work);
    for (int i = 0; i < 3000; i++) { /* up to 30 s */
        char *ls = cb_test_runf(&st, "ls '%s' 2>/dev/null | grep -c '^dng-.*samples.csv$'", samples_glob);
        int found = atoi(ls) > 0;
        free(ls);
        if (found) break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGINT);
    int ws;
    waitpid(pid, &ws, 0);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 130);
    /* Stopped at a step boundary: the DNG job stopped before scoring (its run 'failed',
     * "interrupted"), or it finished and the CSP job stopped, or the signal came
     * between the two.  No run is left 'running' and both are never done. */
    assert_int_equal(count_runs("i.db", "running"), 0);
    long done_before = count_runs("i.db", "done");
    assert_true(done_before <= 1);
    assert_true(count_runs("i.db", "failed") <= 1);
    assert_true(exists(work));

    /* Resumed: the samples are reused and the numbers are those of the fresh run. */
    out = run(args, &st);
    if (st != 0) fail_msg("resume: exit %d\n%s", st, out);
    printf("interrupted %s; resumed:\n%s", done_before ? "after the DNG job" : "before scoring the DNG samples", out);
    if (!done_before) assert_non_null(strstr(out, "samples      "));
    free(out);
    assert_int_equal(count_runs("i.db", "done"), 2);
    assert_same_metrics("a.db", "i.db");
}

static void test_bad_configs(void **state)
{
    (void)state;
    struct {
        const char *extra, *needle;
    } cases[] = {
        {"[model other]\nbackend = nosuch\n", "[model other]: backend: no backend 'nosuch' (external, example"},
        {"[model other]\nbackend = example\ntasks = dng, xyz\n", "unknown task 'xyz'"},
        {"[model other]\nbackend = example\ndatasets = mp_20\n", "datasets: no [dataset mp_20] section"},
        {"[model other]\nbackend = example\nmp_20.max_atoms = 5\n", "mp_20.max_atoms: not TASK.KEY, DATASET.KEY"},
        {"[model other]\nbackend = example\ntasks = dng\nperov_5.csp.max_atoms = 5\n", "perov_5.csp.max_atoms: not TASK.KEY"},
        /* a per-dataset override reaches the backend, which checks it */
        {"[model other]\nbackend = example\nperov_5.max_atoms = 0\n", "max_atoms"},
        {"[dataset broken]\ndir = /nonexistent\n", "[dataset broken]: val: /nonexistent/val.csv does not exist"},
        {"[model other]\nbackend = external\n", NULL}, /* external without files fails at create */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[4300];
        snprintf(args, sizeof args, "'%s'", config("bad", "bad.db", cases[i].extra));
        int st;
        char *out = run(args, &st);
        if (st != 1 || (cases[i].needle && !strstr(out, cases[i].needle)))
            fail_msg("case %zu: exit %d, want 1 and '%s':\n%s", i, st, cases[i].needle ? cases[i].needle : "", out);
        free(out);
    }
    int st;
    char *out = run("", &st);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "needs a CONFIG"));
    free(out);
    out = run("/nonexistent.ini", &st);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "/nonexistent.ini"));
    free(out);
}

/* checkpoints = DIR: training writes DIR/<dataset>-<task>.ckpt and its curve; a later
 * run without any work files (a fresh clone with the committed folder) loads them
 * instead of training and scores the same numbers. */
static void test_committed_checkpoints(void **state)
{
    (void)state;
    int st;
    char extra[4300], args[4400], path[4400];
    snprintf(extra, sizeof extra, "checkpoints = %s/committed\n", cb_test_scratch());
    snprintf(args, sizeof args, "'%s'", config("d", "d.db", extra));
    char *out = run(args, &st);
    if (st != 0) fail_msg("run: exit %d\n%s", st, out);
    assert_non_null(strstr(out, "training     on"));
    free(out);
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/committed/perov_5-%s.ckpt", cb_test_scratch(), k ? "csp" : "dng");
        assert_true(exists(path));
        snprintf(path, sizeof path, "%s/committed/perov_5-%s.log.tsv", cb_test_scratch(), k ? "csp" : "dng");
        assert_true(exists(path));
    }
    free(cb_test_runf(&st, "rm -rf '%s/work/random'", cb_test_scratch()));
    assert_int_equal(st, 0);
    snprintf(args, sizeof args, "'%s'", config("e", "e.db", extra));
    out = run(args, &st);
    if (st != 0) fail_msg("run: exit %d\n%s", st, out);
    assert_null(strstr(out, "training     on"));
    assert_non_null(strstr(out, "/committed/perov_5-dng.ckpt"));
    free(out);
    assert_same_metrics("d.db", "e.db");
}

static int setup(void **state)
{
    int rc = cb_test_scratch_setup(state);
    if (rc) return rc;
    if (!cb_test_shared_data()) return 0;
    snprintf(data_dir, sizeof data_dir, "%s/perov_5", cb_test_scratch());
    mkdir(data_dir, 0777);
    head("val", 120);
    head("test", 60);
    return 0;
}

static void skip_without_data(void) { if (!data_dir[0]) skip(); }

static void t1(void **s) { skip_without_data(); test_run_and_rerun(s); }
static void t2(void **s) { skip_without_data(); test_interrupt_and_resume(s); }
static void t3(void **s) { skip_without_data(); test_bad_configs(s); }
static void t4(void **s) { skip_without_data(); test_committed_checkpoints(s); }

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(t1), cmocka_unit_test(t2), cmocka_unit_test(t3),
                                       cmocka_unit_test(t4)};
    return cmocka_run_group_tests(tests, setup, cb_test_scratch_teardown);
}
