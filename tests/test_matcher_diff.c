/* StructureMatcher against pymatgen 2022.11.7 (metrics.md §5), with the CSP options
 * StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3):
 *
 *   1. regressions: the hard pairs kept in tests/data/matcher_regressions.txt (pairs at
 *      a tolerance boundary, and any disagreement found later, with pymatgen's verdict
 *      stored), checked every run without python;
 *   2. differential: the 4,000 generated pairs of tests/py/matcher_pairs.py (perturbed,
 *      strained, translated, permuted, re-based, supercells, other compositions, unrelated
 *      polymorphs, combinations).  pymatgen's verdicts are cached under $CB_BUILD_DIR (a
 *      few minutes the first time, instant after); skipped without pymatgen.
 *
 * For every pair, cb_match_rms_dist and cb_match_fit must give pymatgen's decision
 * (matched or not), and when both matched |Δrms| and |Δmax_dist| must be <= 1e-5.
 * Regressions must all agree; the generated pairs must agree on >= 99.9% (every
 * disagreement is printed with both structures, in the pair-file format, so it can be
 * studied or pasted into the regression list).  On every pair, get_rms_dist's two-pass
 * search must also give the plain in-order search's result bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../metrics/matcher_internal.h"
#include "crystalbench/matcher.h"
#include "crystalbench/progress.h"
#include "matcher_pairs.h"
#include "testutil.h"

#define VALUE_TOL 1e-5
#define MIN_AGREEMENT 0.999
#define PAIRS_SCRIPT "tests/py/matcher_pairs.py"
#define REGRESSIONS "tests/data/matcher_regressions.txt"

/* What happened to one pair. */
typedef struct verdict {
    int c_error;            /* a cb_match_* call failed */
    char c_message[CB_ERROR_MSG_MAX + 64];
    cb_match_result rms;    /* cb_match_rms_dist */
    int fit;                /* cb_match_fit */
    int rms_decision_differs, fit_differs, value_differs;
    int two_pass_differs;   /* cb_match_rms_dist vs cb_match_rms_dist_in_order, bitwise */
    double d_rms, d_max;    /* |Δ| when both matched */
    double t_rms, t_fit;    /* seconds */
} verdict;

/* Whether the in-order search gives another result than r (bitwise). */
static int two_pass_differs(const cb_matcher_opts *o, const mp_pair *p, const cb_match_result *r)
{
    cb_match_prepared *p1 = NULL, *p2 = NULL;
    cb_match_result one;
    int differs = cb_match_prepare(o, &p->s[0], &p1, NULL) || cb_match_prepare(o, &p->s[1], &p2, NULL) ||
                  cb_match_rms_dist_in_order(o, p1, p2, &one, NULL) || one.matched != r->matched ||
                  (one.matched && (memcmp(&one.rms, &r->rms, sizeof one.rms) != 0 ||
                                   memcmp(&one.max_dist, &r->max_dist, sizeof one.rms) != 0));
    cb_match_prepared_free(p1);
    cb_match_prepared_free(p2);
    return differs;
}

static void judge(const cb_matcher_opts *o, const mp_pair *p, verdict *v)
{
    memset(v, 0, sizeof *v);
    cb_error err = {0};
    double t0 = cb_now();
    int rc = cb_match_rms_dist(o, &p->s[0], &p->s[1], &v->rms, &err);
    double t1 = cb_now();
    if (rc == CB_OK) rc = cb_match_fit(o, &p->s[0], &p->s[1], &v->fit, &err);
    double t2 = cb_now();
    v->t_rms = t1 - t0;
    v->t_fit = t2 - t1;
    if (rc != CB_OK) {
        v->c_error = 1;
        snprintf(v->c_message, sizeof v->c_message, "%s: %s", cb_status_name(rc), err.msg);
        v->rms_decision_differs = v->fit_differs = 1;
        return;
    }
    v->two_pass_differs = two_pass_differs(o, p, &v->rms);
    v->rms_decision_differs = !v->rms.matched != !p->py_matched;
    v->fit_differs = !v->fit != !p->py_fit;
    if (v->rms.matched && p->py_matched) {
        v->d_rms = fabs(v->rms.rms - p->py_rms);
        v->d_max = fabs(v->rms.max_dist - p->py_max);
        v->value_differs = !(v->d_rms <= VALUE_TOL && v->d_max <= VALUE_TOL);
    }
}

static void print_disagreement(const mp_pair *p, const verdict *v)
{
    printf("---- DISAGREEMENT pair %ld (%s, %s):", p->id, p->family, p->prov);
    if (v->c_error) printf(" crystalbench failed: %s;", v->c_message);
    if (!v->c_error) {
        if (v->rms.matched)
            printf(" crystalbench rms %.10g max %.10g,", v->rms.rms, v->rms.max_dist);
        else
            printf(" crystalbench rms None,");
        if (p->py_matched)
            printf(" pymatgen rms %.10g max %.10g;", p->py_rms, p->py_max);
        else
            printf(" pymatgen rms None;");
        printf(" fit crystalbench %s pymatgen %s", v->fit ? "True" : "False", p->py_fit ? "True" : "False");
        if (v->value_differs) printf("; |drms| %.3g |dmax| %.3g", v->d_rms, v->d_max);
        if (v->two_pass_differs) printf("; the in-order search gives another result");
    }
    printf("\n");
    mp_print_pair(stdout, p);
}

/* Per-family counts. */
typedef struct tally {
    char family[32];
    long pairs, py_errors, py_matched, py_fit;
    long rms_decision_differs, fit_differs, both_matched, value_differs, two_pass_differs;
    double max_d_rms, max_d_max, t_c, t_py;
} tally;

static tally *tally_for(tally *t, int *nt, int cap, const char *family)
{
    for (int i = 0; i < *nt; i++)
        if (strcmp(t[i].family, family) == 0) return &t[i];
    if (*nt == cap) return &t[cap - 1]; /* more families than expected: lump into the last */
    memset(&t[*nt], 0, sizeof t[*nt]);
    snprintf(t[*nt].family, sizeof t[*nt].family, "%s", family);
    return &t[(*nt)++];
}

static void add(tally *t, const mp_pair *p, const verdict *v)
{
    t->pairs++;
    if (p->py_error) {
        t->py_errors++;
        return;
    }
    t->py_matched += p->py_matched;
    t->py_fit += p->py_fit;
    t->rms_decision_differs += v->rms_decision_differs;
    t->fit_differs += v->fit_differs;
    t->two_pass_differs += v->two_pass_differs;
    if (!v->c_error && v->rms.matched && p->py_matched) {
        t->both_matched++;
        t->value_differs += v->value_differs;
        t->max_d_rms = fmax(t->max_d_rms, v->d_rms);
        t->max_d_max = fmax(t->max_d_max, v->d_max);
    }
    t->t_c += v->t_rms + v->t_fit;
    t->t_py += p->py_t_rms + p->py_t_fit;
}

static void print_tally(const tally *t)
{
    long ok = t->pairs - t->py_errors;
    printf("%-11s %5ld pairs (%ld pymatgen errors), pymatgen matched %5ld fit %5ld | differ: rms decision %ld, "
           "fit %ld, value %ld of %ld, two-pass %ld | max |drms| %.2g |dmax| %.2g | %.1f us",
           t->family, t->pairs, t->py_errors, t->py_matched, t->py_fit, t->rms_decision_differs, t->fit_differs,
           t->value_differs, t->both_matched, t->two_pass_differs, t->max_d_rms, t->max_d_max, ok ? 1e6 * t->t_c / (double)ok : 0.0);
    if (t->t_py > 0) printf(" vs pymatgen %.1f ms", 1e3 * t->t_py / (double)ok); /* regressions keep no times */
    printf(" per pair (rms_dist + fit)\n");
}

/* Compares every pair; fills the total tally (family "TOTAL") and prints per family. */
static void run_pairs(const mp_pairs *ps, tally *total)
{
    cb_matcher_opts o = cb_matcher_csp();
    tally fam[16];
    int nf = 0;
    memset(total, 0, sizeof *total);
    snprintf(total->family, sizeof total->family, "TOTAL");
    for (size_t i = 0; i < ps->n; i++) {
        const mp_pair *p = &ps->v[i];
        verdict v;
        judge(&o, p, &v);
        if (p->py_error) {
            printf("pair %ld (%s): pymatgen raised %s; crystalbench %s\n", p->id, p->family, p->py_message,
                   v.c_error ? v.c_message : "did not");
        } else if (v.rms_decision_differs || v.fit_differs || v.value_differs || v.two_pass_differs) {
            print_disagreement(p, &v);
        }
        add(tally_for(fam, &nf, 16, p->family), p, &v);
        add(total, p, &v);
    }
    for (int i = 0; i < nf; i++) print_tally(&fam[i]);
    print_tally(total);
}

/* ---- 1. the regression list ---- */

static void test_regressions(void **state)
{
    (void)state;
    /* From the source tree (as ctest runs it), else next to this source file. */
    char path[4096];
    snprintf(path, sizeof path, "%s", REGRESSIONS);
    if (access(path, R_OK) != 0) {
        snprintf(path, sizeof path, "%s", __FILE__);
        char *slash = strrchr(path, '/');
        if (slash) snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "data/matcher_regressions.txt");
    }
    mp_pairs ps;
    char why[512];
    if (mp_pairs_load(path, &ps, why, sizeof why) != 0) fail_msg("%s", why);
    printf("%zu regression pairs from %s\n", ps.n, path);
    assert_true(ps.n > 0);
    tally t;
    run_pairs(&ps, &t);
    mp_pairs_free(&ps);
    assert_int_equal(t.py_errors, 0);
    assert_int_equal(t.rms_decision_differs, 0);
    assert_int_equal(t.fit_differs, 0);
    assert_int_equal(t.value_differs, 0);
    assert_int_equal(t.two_pass_differs, 0);
}

/* ---- 2. the generated pairs ---- */

/* Runs the script (instant when its output is cached) and returns the pair file's path. */
static char *pairs_file(const char *python, char **tmpdir)
{
    const char *build = getenv("CB_BUILD_DIR");
    *tmpdir = NULL;
    if (!build || !*build) {
        *tmpdir = cb_test_tmpdir();
        if (!*tmpdir) return NULL;
        build = *tmpdir;
        printf("CB_BUILD_DIR is not set: pymatgen's output goes to %s and is not kept\n", build);
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s --cache-dir '%s'", python, PAIRS_SCRIPT, build);
    int status = 0;
    char *out = cb_test_run(cmd, &status);
    if (!out || status != 0) {
        printf("%s failed (status %d)\n", cmd, status);
        free(out);
        return NULL;
    }
    out[strcspn(out, "\r\n")] = 0; /* the script prints exactly the path */
    return out;
}

static void test_diff(void **state)
{
    (void)state;
    const char *python = cb_test_pymatgen_python();
    if (!python) skip();
    if (!cb_test_shared_data()) skip();
    if (access(PAIRS_SCRIPT, R_OK) != 0) {
        printf("SKIP: %s not found (run from the source tree)\n", PAIRS_SCRIPT);
        skip();
    }
    double t0 = cb_now();
    char *tmpdir = NULL;
    char *path = pairs_file(python, &tmpdir);
    assert_non_null(path);
    double t_py = cb_now() - t0;

    mp_pairs ps;
    char why[512];
    int rc = mp_pairs_load(path, &ps, why, sizeof why);
    if (rc != 0) printf("%s\n", why);
    assert_int_equal(rc, 0);
    assert_true(ps.complete);
    printf("pairs: %zu from %s (script %.1f s)\n", ps.n, path, t_py);

    double t1 = cb_now();
    tally t;
    run_pairs(&ps, &t);
    double t_c = cb_now() - t1;
    long n = t.pairs - t.py_errors;
    printf("agreement: rms decision %ld/%ld (%.3f%%), fit %ld/%ld (%.3f%%), values %ld/%ld within %g\n",
           n - t.rms_decision_differs, n, 100.0 * (double)(n - t.rms_decision_differs) / (double)n,
           n - t.fit_differs, n, 100.0 * (double)(n - t.fit_differs) / (double)n, t.both_matched - t.value_differs,
           t.both_matched, VALUE_TOL);
    printf("time: crystalbench %.2f s for %zu pairs (rms_dist + fit, one thread); pymatgen %.1f s as recorded\n",
           t_c, ps.n, t.t_py);
    mp_pairs_free(&ps);
    if (tmpdir) {
        cb_test_rmtree(tmpdir);
        free(tmpdir);
    }
    free(path);

    assert_true(n >= 3000);
    assert_true((double)(n - t.rms_decision_differs) >= MIN_AGREEMENT * (double)n);
    assert_true((double)(n - t.fit_differs) >= MIN_AGREEMENT * (double)n);
    assert_true((double)(t.both_matched - t.value_differs) >= MIN_AGREEMENT * (double)t.both_matched);
    assert_int_equal(t.two_pass_differs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regressions),
        cmocka_unit_test(test_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
