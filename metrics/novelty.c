/* Uniqueness and novelty by StructureMatcher.fit (semantics in novelty.h).
 *
 * Structures are keyed by reduced formula and sorted by (formula, index), so each
 * formula's structures are one contiguous run; fit() would reject every pair of
 * different formulas in its precheck, so only pairs inside a run are compared.  A
 * structure is prepared (reduced) the first time a comparison needs it and kept. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/elements.h"
#include "crystalbench/novelty.h"

typedef struct keyed {
    char *formula; /* NULL when it cannot be computed (then it matches nothing) */
    size_t idx;
} keyed;

/* A set of structures with their formulas and lazily prepared forms. */
typedef struct prepset {
    const cb_crystal *c;
    size_t n;
    keyed *sorted;              /* by (formula, idx); NULL formulas last */
    char **formula;             /* by idx (aliases sorted[].formula) */
    cb_match_prepared **prep;   /* by idx */
    unsigned char *state;       /* by idx: 0 untried, 1 prepared, 2 failed */
} prepset;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (!x->formula || !y->formula) {
        if (x->formula != y->formula) return x->formula ? -1 : 1;
    } else {
        int c = strcmp(x->formula, y->formula);
        if (c) return c;
    }
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static void prepset_free(prepset *s)
{
    if (s->prep)
        for (size_t i = 0; i < s->n; i++) cb_match_prepared_free(s->prep[i]);
    if (s->sorted)
        for (size_t i = 0; i < s->n; i++) free(s->sorted[i].formula);
    free(s->sorted);
    free(s->formula);
    free(s->prep);
    free(s->state);
    memset(s, 0, sizeof *s);
}

static int prepset_init(prepset *s, const cb_crystal *c, size_t n, size_t *n_errors, cb_error *err)
{
    memset(s, 0, sizeof *s);
    s->c = c;
    s->n = n;
    s->sorted = calloc(n ? n : 1, sizeof *s->sorted);
    s->formula = calloc(n ? n : 1, sizeof *s->formula);
    s->prep = calloc(n ? n : 1, sizeof *s->prep);
    s->state = calloc(n ? n : 1, 1);
    if (!s->sorted || !s->formula || !s->prep || !s->state) goto nomem;
    for (size_t i = 0; i < n; i++) {
        char buf[1024];
        s->sorted[i].idx = i;
        if (cb_crystal_reduced_formula(&c[i], buf, sizeof buf) < 0) {
            (*n_errors)++;
            continue;
        }
        s->sorted[i].formula = strdup(buf);
        if (!s->sorted[i].formula) goto nomem;
        s->formula[i] = s->sorted[i].formula;
    }
    qsort(s->sorted, n, sizeof *s->sorted, cmp_keyed);
    return CB_OK;
nomem:
    prepset_free(s);
    return cb_fail(err, CB_ERR_NOMEM, "out of memory for %zu structures", n);
}

/* The prepared form of structure i, or NULL when the matcher refuses it (counted once
 * in *n_errors).  *rc is set to CB_ERR_NOMEM when that happened. */
static const cb_match_prepared *prepared(prepset *s, const cb_matcher_opts *o, size_t i, size_t *n_errors,
                                         int *rc, cb_error *err)
{
    *rc = CB_OK;
    if (s->state[i] == 0) {
        cb_error perr;
        int r = cb_match_prepare(o, &s->c[i], &s->prep[i], &perr);
        if (r == CB_ERR_NOMEM) {
            if (err) *err = perr;
            *rc = r;
            return NULL;
        }
        s->state[i] = r ? 2 : 1;
        if (r) {
            s->prep[i] = NULL;
            (*n_errors)++;
        }
    }
    return s->state[i] == 1 ? s->prep[i] : NULL;
}

/* fit(a, b) with failures counted as no match.  Returns 1 match, 0 none, < 0 on
 * CB_ERR_NOMEM (as -CB_ERR_NOMEM). */
static int same(const cb_matcher_opts *o, const cb_match_prepared *a, const cb_match_prepared *b,
                cb_dedup_result *out, cb_error *err)
{
    int match = 0;
    cb_error ferr;
    out->n_compared++;
    int rc = cb_match_fit_prepared(o, a, b, &match, &ferr);
    if (rc == CB_ERR_NOMEM) {
        if (err) *err = ferr;
        return -CB_ERR_NOMEM;
    }
    if (rc) {
        out->n_errors++;
        return 0;
    }
    return match != 0;
}

static void result_init(cb_dedup_result *out, size_t n)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->fraction = NAN;
}

int cb_uniqueness(const cb_matcher_opts *o, const cb_crystal *samples, size_t n, unsigned char *flags,
                  cb_progress *progress, cb_dedup_result *out, cb_error *err)
{
    cb_matcher_opts defaults = cb_matcher_pymatgen_defaults();
    if (!o) o = &defaults;
    result_init(out, n);
    prepset S;
    int rc = prepset_init(&S, samples, n, &out->n_errors, err);
    if (rc) return rc;
    size_t done = 0;
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        if (S.sorted[a].formula)
            while (b < n && S.sorted[b].formula && strcmp(S.sorted[b].formula, S.sorted[a].formula) == 0) b++;
        for (size_t pos = a; pos < b; pos++) {
            size_t i = S.sorted[pos].idx;
            int unique = 1;
            /* Earlier samples of the same formula are S.sorted[a .. pos-1]. */
            const cb_match_prepared *pi = NULL;
            if (pos > a && S.sorted[a].formula) pi = prepared(&S, o, i, &out->n_errors, &rc, err);
            if (rc) goto done;
            for (size_t q = a; pi && q < pos && unique; q++) {
                const cb_match_prepared *pj = prepared(&S, o, S.sorted[q].idx, &out->n_errors, &rc, err);
                if (rc) goto done;
                if (!pj) continue;
                int s = same(o, pi, pj, out, err);
                if (s < 0) {
                    rc = -s;
                    goto done;
                }
                unique = !s;
            }
            out->n_hit += (size_t)unique;
            if (flags) flags[i] = (unsigned char)unique;
            if (progress) cb_progress_update(progress, ++done);
        }
        a = b;
    }
done:
    prepset_free(&S);
    if (rc) return rc;
    if (n) out->fraction = (double)out->n_hit / (double)n;
    return CB_OK;
}

/* First position in s->sorted whose formula equals f, or s->n. */
static size_t find_formula(const prepset *s, const char *f)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) { /* first position with formula >= f (NULLs sort last) */
        size_t mid = lo + (hi - lo) / 2;
        const char *g = s->sorted[mid].formula;
        if (g && strcmp(g, f) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->sorted[lo].formula && strcmp(s->sorted[lo].formula, f) == 0 ? lo : s->n;
}

int cb_novelty(const cb_matcher_opts *o, const cb_crystal *samples, size_t n, const cb_crystal *ref,
               size_t n_ref, unsigned char *flags, cb_progress *progress, cb_dedup_result *out,
               cb_error *err)
{
    cb_matcher_opts defaults = cb_matcher_pymatgen_defaults();
    if (!o) o = &defaults;
    result_init(out, n);
    prepset S, R;
    int rc = prepset_init(&S, samples, n, &out->n_errors, err);
    if (rc) return rc;
    size_t ref_errors = 0; /* a reference formula failure is not a sample's error */
    rc = prepset_init(&R, ref, n_ref, &ref_errors, err);
    if (rc) {
        prepset_free(&S);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        int novel = 1;
        const char *f = S.formula[i];
        size_t r = f ? find_formula(&R, f) : R.n;
        const cb_match_prepared *pi = NULL;
        if (r < R.n) pi = prepared(&S, o, i, &out->n_errors, &rc, err);
        if (rc) break;
        for (; pi && r < R.n && novel && strcmp(R.sorted[r].formula, f) == 0; r++) {
            const cb_match_prepared *pr = prepared(&R, o, R.sorted[r].idx, &out->n_errors, &rc, err);
            if (rc) break;
            if (!pr) continue;
            int s = same(o, pi, pr, out, err);
            if (s < 0) {
                rc = -s;
                break;
            }
            novel = !s;
        }
        if (rc) break;
        out->n_hit += (size_t)novel;
        if (flags) flags[i] = (unsigned char)novel;
        if (progress) cb_progress_update(progress, i + 1);
    }
    prepset_free(&S);
    prepset_free(&R);
    if (rc) return rc;
    if (n) out->fraction = (double)out->n_hit / (double)n;
    return CB_OK;
}
