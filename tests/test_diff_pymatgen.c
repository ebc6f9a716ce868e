/* Differential test against pymatgen 2022.11.7 (the acceptance point):
 *
 *   1. every row of every dataset CSV under shared/data: volume and density (relative
 *      difference <= 1e-9; bit-identical ones are counted too), the reduced formula
 *      (exactly) and the number of sites, from the project's reader (cb_reader_*) vs
 *      pymatgen's Structure.from_str(cif, "cif") (tests/py/structure_facts.py);
 *   2. cb_reduced_formula vs Composition.reduced_formula on 20,000 random compositions
 *      (tests/py/formula_cases.py), including NaN-electronegativity elements whose order
 *      depends on Python's sort, and up to all 118 elements.
 *
 * pymatgen takes minutes for the ~43k CIFs, so its output is cached in
 * $CB_BUILD_DIR/pymatgen-facts/, keyed by the size and mtime of the CSV and of the
 * script; missing caches are made by running the scripts two at a time.  Without
 * CB_BUILD_DIR the output goes to a temporary directory that is removed afterwards.
 * Every disagreement is printed; the test fails if there is any. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crystalbench/crystal.h"
#include "crystalbench/dataset.h"
#include "crystalbench/elements.h"
#include "testutil.h"

#define REL_TOL 1e-9
#define MAX_JOBS 2
#define FACTS_SCRIPT "tests/py/structure_facts.py"
#define CASES_SCRIPT "tests/py/formula_cases.py"
#define N_CASES 20000
#define N_CASES_STR "20000"

static const char *const datasets[] = {
    "mp_20/test.csv",     "mp_20/val.csv",     "perov_5/test.csv", "perov_5/val.csv",
    "carbon_24/test.csv", "carbon_24/val.csv", "mpts_52/test.csv", "mpts_52/val.csv",
};
#define N_DATASETS ((int)(sizeof datasets / sizeof datasets[0]))

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* snprintf that reports truncation (-1) instead of silently cutting a path. */
static int fmt(char *out, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *out, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(out, cap, f, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* ---- the cache and the python jobs ---- */

static char cache_dir[4096];
static int cache_is_tmp;

static int setup_cache_dir(void)
{
    const char *build = getenv("CB_BUILD_DIR");
    if (build && *build) {
        if (fmt(cache_dir, sizeof cache_dir, "%s/pymatgen-facts", build) < 0) return -1;
        if (mkdir(cache_dir, 0777) != 0 && errno != EEXIST) {
            printf("cannot create %s: %s\n", cache_dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    char *tmp = cb_test_tmpdir();
    if (!tmp) return -1;
    fmt(cache_dir, sizeof cache_dir, "%s", tmp);
    free(tmp);
    cache_is_tmp = 1;
    return 0;
}

/* "<dir>/<tag>.<input size>.<input mtime>.<script size>.<script mtime>.tsv" */
static int cache_path(char *out, size_t cap, const char *tag, const char *input, const char *script)
{
    struct stat si, ss;
    if (stat(script, &ss) != 0) return -1;
    if (input && stat(input, &si) != 0) return -1;
    char t[256];
    snprintf(t, sizeof t, "%s", tag);
    for (char *p = t; *p; p++)
        if (*p == '/') *p = '_';
    return fmt(out, cap, "%s/%s.%lld.%lld.%lld.%lld.tsv", cache_dir, t, input ? (long long)si.st_size : 0LL,
               input ? (long long)si.st_mtime : 0LL, (long long)ss.st_size, (long long)ss.st_mtime) < 0
               ? -1
               : 0;
}

/* A cache file is complete when its last line is "END\t...". */
static int cache_complete(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char tail[64] = {0};
    if (fseek(f, -(long)sizeof tail + 1, SEEK_END) != 0) fseek(f, 0, SEEK_SET);
    size_t n = fread(tail, 1, sizeof tail - 1, f);
    fclose(f);
    tail[n] = 0;
    char *p = strstr(tail, "END\t");
    return p != NULL && (p == tail || p[-1] == '\n');
}

typedef struct job {
    char cmd[12800];
    char what[256];
} job;

/* Runs the jobs, at most MAX_JOBS at a time; returns the number that failed. */
static int run_jobs(job *jobs, int n)
{
    int failed = 0, next = 0, running = 0;
    pid_t pids[MAX_JOBS] = {0};
    int which[MAX_JOBS];
    double t0[MAX_JOBS];
    while (next < n || running > 0) {
        while (running < MAX_JOBS && next < n) {
            int slot = 0;
            while (pids[slot]) slot++;
            fflush(stdout);
            pid_t pid = fork();
            if (pid < 0) {
                printf("fork failed: %s\n", strerror(errno));
                failed++;
                next++;
                continue;
            }
            if (pid == 0) {
                execl("/bin/sh", "sh", "-c", jobs[next].cmd, (char *)NULL);
                _exit(127);
            }
            printf("pymatgen: started %s\n", jobs[next].what);
            pids[slot] = pid;
            which[slot] = next++;
            t0[slot] = now();
            running++;
        }
        if (running == 0) break;
        int st;
        pid_t done = waitpid(-1, &st, 0);
        if (done < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int s = 0; s < MAX_JOBS; s++) {
            if (pids[s] != done) continue;
            int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
            printf("pymatgen: %s %s in %.1f s\n", jobs[which[s]].what, ok ? "done" : "FAILED", now() - t0[s]);
            failed += !ok;
            pids[s] = 0;
            running--;
        }
    }
    return failed;
}

static void shell_quote(char *out, size_t cap, const char *s)
{
    size_t k = 0;
    if (k + 1 < cap) out[k++] = '\'';
    for (; *s && k + 5 < cap; s++) {
        if (*s == '\'') {
            memcpy(out + k, "'\\''", 4);
            k += 4;
        } else {
            out[k++] = *s;
        }
    }
    if (k + 1 < cap) out[k++] = '\'';
    out[k] = 0;
}

/* Adds a job writing `python script args > out` atomically (tmp + rename). */
static int add_job(job *jobs, int *n, const char *python, const char *script, const char *arg,
                    const char *out, const char *what)
{
    char qp[1100], qs[1100], qa[4200], qo[4200], qt[4300], tmp[4200];
    if (fmt(tmp, sizeof tmp, "%s.tmp", out) < 0) return -1;
    shell_quote(qp, sizeof qp, python);
    shell_quote(qs, sizeof qs, script);
    shell_quote(qa, sizeof qa, arg);
    shell_quote(qo, sizeof qo, out);
    shell_quote(qt, sizeof qt, tmp);
    if (fmt(jobs[*n].cmd, sizeof jobs[*n].cmd, "%s %s %s > %s && mv %s %s", qp, qs, qa, qt, qt, qo) < 0)
        return -1;
    fmt(jobs[*n].what, sizeof jobs[*n].what, "%s", what);
    (*n)++;
    return 0;
}

/* ---- pymatgen's facts for one CSV ---- */

typedef struct fact {
    int error;       /* pymatgen could not parse the row */
    double volume, density;
    char formula[128];
    int nsites;
    char message[200];
} fact;

/* Loads "row\tvolume\tdensity\tformula\tnsites" lines into facts[row - 1]. */
static fact *load_facts(const char *path, int *n_rows)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    int cap = 1024, n = 0;
    fact *v = calloc((size_t)cap, sizeof *v);
    char *line = NULL;
    size_t lcap = 0;
    while (v && getline(&line, &lcap, f) > 0) {
        line[strcspn(line, "\r\n")] = 0;
        if (strncmp(line, "END\t", 4) == 0) break;
        char *fields[5] = {0};
        int nf = 0;
        for (char *p = line; nf < 5;) {
            fields[nf++] = p;
            char *tab = strchr(p, '\t');
            if (!tab) break;
            *tab = 0;
            p = tab + 1;
        }
        int row = atoi(fields[0]);
        if (row < 1 || nf < 3) continue;
        if (row > cap) {
            int nc = cap;
            while (nc < row) nc *= 2;
            fact *nv = realloc(v, (size_t)nc * sizeof *nv);
            if (!nv) {
                free(v);
                v = NULL;
                break;
            }
            memset(nv + cap, 0, (size_t)(nc - cap) * sizeof *nv);
            v = nv;
            cap = nc;
        }
        fact *x = &v[row - 1];
        if (strcmp(fields[1], "ERROR") == 0) {
            x->error = 1;
            fmt(x->message, sizeof x->message, "%s", fields[2]);
        } else if (nf == 5) {
            x->volume = strtod(fields[1], NULL);
            x->density = strtod(fields[2], NULL);
            fmt(x->formula, sizeof x->formula, "%s", fields[3]);
            x->nsites = atoi(fields[4]);
        } else {
            x->error = 1;
            fmt(x->message, sizeof x->message, "malformed line in %s", path);
        }
        if (row > n) n = row;
    }
    free(line);
    fclose(f);
    *n_rows = n;
    return v;
}

static double rel_diff(double a, double b)
{
    if (a == b) return 0.0;
    return fabs(a - b) / fmax(fabs(a), fabs(b));
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

typedef struct tally {
    long rows, compared, both_rejected, mismatches;
    long volume_bits, density_bits;
    double max_rel_volume, max_rel_density;
} tally;

static void compare_dataset(const char *rel, const char *csv, const char *facts_path, tally *t)
{
    tally d = {0};
    int n_py = 0;
    fact *facts = load_facts(facts_path, &n_py);
    if (!facts) {
        printf("%s: cannot read %s\n", rel, facts_path);
        t->mismatches++;
        return;
    }
    cb_reader *r = NULL;
    cb_error err = {0};
    if (cb_reader_open(csv, CB_FORMAT_CSV, &r, &err) != CB_OK) {
        printf("%s: cannot open: %s\n", rel, err.msg);
        free(facts);
        t->mismatches++;
        return;
    }
    long last = 0;
    for (;;) {
        cb_crystal c = {0};
        int rc = cb_reader_next(r, &c, &err);
        if (rc == CB_ERR_EOF) break;
        long row = cb_reader_record(r);
        last = row;
        d.rows++;
        const fact *py = row >= 1 && row <= n_py ? &facts[row - 1] : NULL;
        if (!py) {
            printf("%s row %ld: crystalbench has the row, pymatgen's output does not\n", rel, row);
            d.mismatches++;
        } else if (rc != CB_OK && py->error) {
            d.both_rejected++;
            printf("%s row %ld: both reject it (crystalbench: %s | pymatgen: %s)\n", rel, row, err.msg,
                   py->message);
        } else if (rc != CB_OK) {
            d.mismatches++;
            printf("%s row %ld: crystalbench rejects it: %s (pymatgen: %s, %d sites)\n", rel, row, err.msg,
                   py->formula, py->nsites);
        } else if (py->error) {
            d.mismatches++;
            printf("%s row %ld: pymatgen rejects it: %s (crystalbench reads %d sites)\n", rel, row,
                   py->message, c.n);
        } else {
            d.compared++;
            double vol = cb_crystal_volume(&c), den = cb_crystal_density(&c);
            char formula[512];
            if (cb_crystal_reduced_formula(&c, formula, sizeof formula) < 0) strcpy(formula, "<error>");
            double rv = rel_diff(vol, py->volume), rd = rel_diff(den, py->density);
            d.volume_bits += same_bits(vol, py->volume);
            d.density_bits += same_bits(den, py->density);
            if (rv > d.max_rel_volume) d.max_rel_volume = rv;
            if (rd > d.max_rel_density) d.max_rel_density = rd;
            int bad = 0;
            if (!(rv <= REL_TOL)) {
                printf("%s row %ld: volume %.17g, pymatgen %.17g (rel %.3g)\n", rel, row, vol, py->volume, rv);
                bad = 1;
            }
            if (!(rd <= REL_TOL)) {
                printf("%s row %ld: density %.17g, pymatgen %.17g (rel %.3g)\n", rel, row, den, py->density, rd);
                bad = 1;
            }
            if (strcmp(formula, py->formula) != 0) {
                printf("%s row %ld: formula %s, pymatgen %s\n", rel, row, formula, py->formula);
                bad = 1;
            }
            if (c.n != py->nsites) {
                printf("%s row %ld: %d sites, pymatgen %d\n", rel, row, c.n, py->nsites);
                bad = 1;
            }
            d.mismatches += bad;
        }
        cb_crystal_free(&c);
    }
    cb_reader_close(r);
    if (last != n_py) {
        printf("%s: crystalbench read %ld rows, pymatgen %d\n", rel, last, n_py);
        d.mismatches++;
    }
    free(facts);
    printf("%s: %ld rows, %ld compared, %ld rejected by both, %ld mismatches; bit-identical volume %ld, "
           "density %ld; max rel diff volume %.3g, density %.3g\n",
           rel, d.rows, d.compared, d.both_rejected, d.mismatches, d.volume_bits, d.density_bits,
           d.max_rel_volume, d.max_rel_density);
    t->rows += d.rows;
    t->compared += d.compared;
    t->both_rejected += d.both_rejected;
    t->mismatches += d.mismatches;
    t->volume_bits += d.volume_bits;
    t->density_bits += d.density_bits;
    if (d.max_rel_volume > t->max_rel_volume) t->max_rel_volume = d.max_rel_volume;
    if (d.max_rel_density > t->max_rel_density) t->max_rel_density = d.max_rel_density;
}

/* ---- random compositions ---- */

static long compare_formula_cases(const char *path, long *n_cases)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t lcap = 0;
    long bad = 0, n = 0;
    while (getline(&line, &lcap, f) > 0) {
        line[strcspn(line, "\r\n")] = 0;
        if (strncmp(line, "END\t", 4) == 0) break;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        const char *expect = line;
        int z[CB_MAX_Z];
        double a[CB_MAX_Z];
        int k = 0;
        for (char *p = tab + 1; *p && k < CB_MAX_Z;) {
            char *end;
            z[k] = (int)strtol(p, &end, 10);
            if (*end != ':') break;
            a[k++] = strtod(end + 1, &end);
            p = end;
            while (*p == ' ') p++;
        }
        char got[2048];
        int len = cb_reduced_formula(k, z, a, got, sizeof got);
        n++;
        /* pymatgen raises for a composition left empty (all amounts below 1e-8);
         * cb_reduced_formula documents "" for it. */
        int ok = strcmp(expect, "ERROR") == 0 ? (len == 0 && got[0] == 0) : strcmp(got, expect) == 0;
        if (!ok) {
            bad++;
            printf("composition %s: crystalbench %s, pymatgen %s\n", tab + 1, len < 0 ? "<error>" : got, expect);
        }
    }
    free(line);
    fclose(f);
    *n_cases = n;
    return bad;
}

/* ---- the test ---- */

static void test_diff_pymatgen(void **state)
{
    (void)state;
    const char *python = cb_test_pymatgen_python();
    if (!python) skip();
    if (!cb_test_shared_data()) skip();
    if (access(FACTS_SCRIPT, R_OK) != 0 || access(CASES_SCRIPT, R_OK) != 0) {
        printf("SKIP: %s not found (run from the source tree)\n", FACTS_SCRIPT);
        skip();
    }
    assert_int_equal(setup_cache_dir(), 0);
    double t_start = now();

    static char csv[N_DATASETS][4096], facts[N_DATASETS][4300];
    static job jobs[N_DATASETS + 1];
    int n_jobs = 0, present = 0;
    char cases_path[4300];
    assert_int_equal(cache_path(cases_path, sizeof cases_path, "formula_cases", NULL, CASES_SCRIPT), 0);
    if (!cache_complete(cases_path))
        assert_int_equal(add_job(jobs, &n_jobs, python, CASES_SCRIPT, N_CASES_STR, cases_path, "formula_cases.py"), 0);
    /* Largest files first so the two job slots finish together. */
    int order[N_DATASETS];
    long long size[N_DATASETS];
    for (int i = 0; i < N_DATASETS; i++) {
        const char *p = cb_test_data_file(datasets[i]);
        order[i] = i;
        size[i] = -1;
        if (!p) continue;
        assert_true(fmt(csv[i], sizeof csv[i], "%s", p) >= 0);
        struct stat st;
        if (stat(csv[i], &st) == 0) size[i] = (long long)st.st_size;
        assert_int_equal(cache_path(facts[i], sizeof facts[i], datasets[i], csv[i], FACTS_SCRIPT), 0);
        present++;
    }
    for (int i = 1; i < N_DATASETS; i++)
        for (int j = i; j > 0 && size[order[j]] > size[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int k = 0; k < N_DATASETS; k++) {
        int i = order[k];
        if (size[i] >= 0 && !cache_complete(facts[i]))
            assert_int_equal(add_job(jobs, &n_jobs, python, FACTS_SCRIPT, csv[i], facts[i], datasets[i]), 0);
    }
    if (present == 0) {
        printf("SKIP: no dataset CSV under shared/data\n");
        skip();
    }
    printf("pymatgen output: %s (%d of %d cached)\n", cache_dir, N_DATASETS + 1 - n_jobs, N_DATASETS + 1);
    int failed = run_jobs(jobs, n_jobs);
    double t_python = now() - t_start;
    assert_int_equal(failed, 0);

    double t1 = now();
    long n_cases = 0;
    long bad_cases = compare_formula_cases(cases_path, &n_cases);
    printf("random compositions: %ld cases, %ld mismatches\n", n_cases, bad_cases);

    tally t = {0};
    for (int i = 0; i < N_DATASETS; i++)
        if (size[i] >= 0) compare_dataset(datasets[i], csv[i], facts[i], &t);
    double t_c = now() - t1;
    printf("TOTAL: %ld rows, %ld compared, %ld rejected by both, %ld mismatches; bit-identical volume "
           "%ld/%ld, density %ld/%ld; max rel diff volume %.3g, density %.3g\n",
           t.rows, t.compared, t.both_rejected, t.mismatches, t.volume_bits, t.compared, t.density_bits,
           t.compared, t.max_rel_volume, t.max_rel_density);
    printf("time: pymatgen %.1f s (%d jobs, %d at a time), crystalbench read+compare %.1f s\n", t_python,
           n_jobs, MAX_JOBS, t_c);
    if (cache_is_tmp) cb_test_rmtree(cache_dir);
    assert_int_equal(bad_cases, 0);
    assert_true(n_cases == N_CASES);
    assert_int_equal(t.mismatches, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_pymatgen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
