/* StructureMatcher top level (metrics.md §5.1): options, the prepared (reduced)
 * structures, volume scaling, get_rms_dist and fit.
 *
 * pymatgen's get_rms_dist(s1, s2) reduces both structures (Niggli, then the primitive
 * cell), scales the lattices to the same volume (L1·r, L2 / r with r = (V2 / V1)^(1/6),
 * fractional coordinates kept), and strict-matches the larger onto the smaller; with
 * allow_subset and attempt_supercell off, different site counts never match, so s1 is
 * always the structure whose lattice is mapped and s2 the one translated.  fit() first
 * compares the fractional compositions of the original structures (within 1e-8), then
 * runs the same search with break_on_match: the first (mapping, translation) whose
 * largest normalised distance is below stol decides. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/reduce.h"
#include "matcher_internal.h"

#define PRIMITIVE_TOLERANCE 0.25 /* get_primitive_structure's default, in Å */
#define COMPOSITION_TOLERANCE 1e-8 /* Composition.amount_tolerance */

cb_matcher_opts cb_matcher_csp(void)
{
    cb_matcher_opts o = {0.3, 0.5, 10.0, 1, 1};
    return o;
}

cb_matcher_opts cb_matcher_pymatgen_defaults(void)
{
    cb_matcher_opts o = {0.2, 0.3, 5.0, 1, 1};
    return o;
}

static int check_opts(const cb_matcher_opts *o, cb_error *err)
{
    if (!o) return cb_fail(err, CB_ERR_USAGE, "matcher: no options given");
    if (!(o->ltol > 0) || !(o->stol > 0) || !(o->angle_tol > 0) || !isfinite(o->ltol) || !isfinite(o->stol) ||
        !isfinite(o->angle_tol))
        return cb_fail(err, CB_ERR_USAGE,
                       "matcher: tolerances must be positive and finite (ltol %g, stol %g, angle_tol %g)", o->ltol,
                       o->stol, o->angle_tol);
    return CB_OK;
}

/* Site counts per Z (count[0..118]) of a structure whose Z are already checked. */
static void count_elements(const cb_crystal *s, int count[CB_MAX_Z + 1])
{
    memset(count, 0, (CB_MAX_Z + 1) * sizeof *count);
    for (int i = 0; i < s->n; i++) count[s->z[i]]++;
}

/* Composition.fractional_composition equality: same elements, amounts (count / N)
 * within 1e-8. */
static int same_fraction(int c1, int n1, int c2, int n2)
{
    return fabs((double)c1 / (double)n1 - (double)c2 / (double)n2) <= COMPOSITION_TOLERANCE;
}

/* The composition of the original structure, kept for fit(). */
static int set_composition(cb_match_prepared *p, const cb_crystal *s)
{
    int count[CB_MAX_Z + 1];
    count_elements(s, count);
    int k = 0;
    for (int z = 1; z <= CB_MAX_Z; z++) k += count[z] > 0;
    p->comp = malloc(2 * (size_t)k * sizeof *p->comp);
    if (!p->comp) return 1;
    p->n_sites_orig = s->n;
    p->n_elems = 0;
    for (int z = 1; z <= CB_MAX_Z; z++)
        if (count[z]) {
            p->comp[p->n_elems] = z;
            p->comp[k + p->n_elems++] = count[z];
        }
    return 0;
}

int cb_match_prepare(const cb_matcher_opts *o, const cb_crystal *s, cb_match_prepared **out, cb_error *err)
{
    *out = NULL;
    int rc = check_opts(o, err);
    if (rc) return rc;
    if ((rc = cb_crystal_check(s, s->id ? s->id : "structure", err))) return rc;

    cb_match_prepared *p = calloc(1, sizeof *p);
    if (!p) return cb_fail(err, CB_ERR_NOMEM, "matcher: out of memory");
    cb_crystal niggli = {0};
    rc = cb_crystal_reduced(s, CB_REDUCE_NIGGLI, &niggli, err);
    if (!rc) {
        if (o->primitive_cell) {
            rc = cb_primitive_structure(&niggli, PRIMITIVE_TOLERANCE, &p->s, err);
            cb_crystal_free(&niggli);
        } else {
            p->s = niggli; /* ownership moves */
        }
    }
    if (rc) {
        if (s->id) cb_error_prefix(err, "%s", s->id);
        free(p);
        return rc;
    }
    p->volume = cb_lattice_volume(p->s.lattice);
    if (set_composition(p, s)) {
        cb_match_prepared_free(p);
        return cb_fail(err, CB_ERR_NOMEM, "matcher: out of memory");
    }
    *out = p;
    return CB_OK;
}

void cb_match_prepared_free(cb_match_prepared *p)
{
    if (!p) return;
    cb_crystal_free(&p->s);
    free(p->comp);
    free(p);
}

const cb_crystal *cb_match_prepared_structure(const cb_match_prepared *p) { return &p->s; }

/* _preprocess's volume scaling, then _match: A = s1 (lattice mapped), B = s2. */
static int compare(const cb_matcher_opts *o, const cb_match_prepared *p1, const cb_match_prepared *p2, match_mode mode,
                   cb_match_result *out, cb_error *err)
{
    out->matched = 0;
    out->rms = out->max_dist = NAN;
    int rc = check_opts(o, err);
    if (rc) return rc;
    if (!p1 || !p2) return cb_fail(err, CB_ERR_USAGE, "matcher: missing prepared structure");
    if (p1->s.n != p2->s.n) return CB_OK; /* strict match of different sizes: None */

    /* Views of the prepared structures with scaled lattices (the sites are shared). */
    cb_crystal a = p1->s, b = p2->s;
    if (o->scale) {
        double ratio = pow(p2->volume / p1->volume, 1.0 / 6.0);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                a.lattice[i][j] = p1->s.lattice[i][j] * ratio;
                b.lattice[i][j] = p2->s.lattice[i][j] / ratio;
            }
    }
    return cb_strict_match(o, &a, &b, mode, out, err);
}

int cb_match_rms_dist_prepared(const cb_matcher_opts *o, const cb_match_prepared *s1, const cb_match_prepared *s2,
                               cb_match_result *out, cb_error *err)
{
    return compare(o, s1, s2, MATCH_RMS, out, err);
}

int cb_match_rms_dist_in_order(const cb_matcher_opts *o, const cb_match_prepared *s1, const cb_match_prepared *s2,
                               cb_match_result *out, cb_error *err)
{
    return compare(o, s1, s2, MATCH_RMS_IN_ORDER, out, err);
}

static int same_fractional_composition(const cb_match_prepared *p1, const cb_match_prepared *p2)
{
    int k = p1->n_elems;
    if (k != p2->n_elems) return 0;
    for (int e = 0; e < k; e++)
        if (p1->comp[e] != p2->comp[e] ||
            !same_fraction(p1->comp[k + e], p1->n_sites_orig, p2->comp[k + e], p2->n_sites_orig))
            return 0;
    return 1;
}

int cb_match_fit_prepared(const cb_matcher_opts *o, const cb_match_prepared *s1, const cb_match_prepared *s2,
                          int *match, cb_error *err)
{
    *match = 0;
    if (!s1 || !s2) return cb_fail(err, CB_ERR_USAGE, "matcher: missing prepared structure");
    if (!same_fractional_composition(s1, s2)) return check_opts(o, err);
    cb_match_result r;
    int rc = compare(o, s1, s2, MATCH_FIT, &r, err);
    if (!rc) *match = r.matched;
    return rc;
}

/* One-shot calls: prepare both, compare, release. */
static int one_shot(const cb_matcher_opts *o, const cb_crystal *s1, const cb_crystal *s2, match_mode mode,
                    cb_match_result *res, int *match, cb_error *err)
{
    cb_match_prepared *p1 = NULL, *p2 = NULL;
    if (mode == MATCH_FIT) { /* fit() compares compositions before reducing anything */
        int rc = check_opts(o, err);
        if (!rc) rc = cb_crystal_check(s1, s1->id ? s1->id : "structure 1", err);
        if (!rc) rc = cb_crystal_check(s2, s2->id ? s2->id : "structure 2", err);
        if (rc) return rc;
        int c1[CB_MAX_Z + 1], c2[CB_MAX_Z + 1], same = 1;
        count_elements(s1, c1);
        count_elements(s2, c2);
        for (int z = 1; z <= CB_MAX_Z && same; z++)
            if (c1[z] || c2[z]) same = c1[z] && c2[z] && same_fraction(c1[z], s1->n, c2[z], s2->n);
        if (!same) return CB_OK;
    }
    int rc = cb_match_prepare(o, s1, &p1, err);
    if (!rc) rc = cb_match_prepare(o, s2, &p2, err);
    if (!rc) rc = mode == MATCH_RMS ? cb_match_rms_dist_prepared(o, p1, p2, res, err)
                                    : cb_match_fit_prepared(o, p1, p2, match, err);
    cb_match_prepared_free(p1);
    cb_match_prepared_free(p2);
    return rc;
}

int cb_match_rms_dist(const cb_matcher_opts *o, const cb_crystal *s1, const cb_crystal *s2, cb_match_result *out,
                      cb_error *err)
{
    out->matched = 0;
    out->rms = out->max_dist = NAN;
    return one_shot(o, s1, s2, MATCH_RMS, out, NULL, err);
}

int cb_match_fit(const cb_matcher_opts *o, const cb_crystal *s1, const cb_crystal *s2, int *match, cb_error *err)
{
    *match = 0;
    return one_shot(o, s1, s2, MATCH_FIT, NULL, match, err);
}
