/* StructureMatcher._strict_match(A, B) with fu = 1 (metrics.md §5.8–§5.11), operation
 * by operation as pymatgen 2022.11.7 runs it:
 *   for each lattice mapping l of A onto B (find_all_mappings order, |det S| = 1):
 *     fA = frac(cart(A), l) wrapped with floor; avg = from_parameters(mean parameters);
 *     for each translation putting an A site of B's rarest species onto that B site:
 *       prefilter (is_coord_subset_pbc with frac_tol), then _cart_dists: shortest
 *       vectors with mask and lll_frac_tol, assignment (LAPJV), mean translation
 *       removed, distances normalised by (N / V)^(1/3);
 *       keep the smallest value (strict <), stop early below 1e-5 (or at the first
 *       value below stol for fit).
 * Per mapping, what does not depend on the translation (A's LLL coordinates, the 27
 * images) is computed once; all scratch is allocated once per call.
 *
 * Two passes (get_rms_dist).  pymatgen's search ends at the first score below 1e-5, so
 * when the structures are the same up to a symmetry, translation or re-basing, the
 * answer is that first exact score, and every mapping before it is scored in full only
 * to lose.  The first pass scores only the mappings that a cheap test
 * (could_be_exact) cannot rule out of holding such a score, recording their scores, and
 * stops at the first one below 1e-5: no earlier mapping could have reached it, so
 * pymatgen stops there too, with the same (mapping, translation) and the same bits.
 * If no score below 1e-5 turns up, the second pass goes through every mapping in
 * order, replaying the recorded scores and scoring the deferred mappings, under
 * pymatgen's update rule.  Scores are never NaN (every input is finite and every
 * distance bounded), so the rule's strict < sees the same sequence either way.  (What
 * the first pass does not replay is an error inside a deferred mapping, such as an LLL
 * reduction failing; the average lattices that get that far are finite and
 * non-singular, so none is known to be reachable.)  fit stops at its first score below
 * stol and keeps the one pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/reduce.h"
#include "../core/npmath.h"
#include "lap.h"
#include "matcher_internal.h"

/* get_rms_dist stops at the first score below this (pymatgen's `val < 1e-5`). */
#define EXACT_MATCH 1e-5

/* What one lattice mapping fixes for all its translations. */
typedef struct mapping_frame {
    double avg[3][3]; /* the average lattice the distances are measured in */
    double norm;      /* (n / V(avg))^(1/3) */
    double frac_tol[3];
} mapping_frame;

#define LLL_CACHE 4

/* One scored (mapping, translation). */
typedef struct scored {
    double val, rms, max; /* val: what the search minimises (rms, or max for fit) */
} scored;

/* A mapping met in get_rms_dist's first pass: its scores are s->scored[first ..
 * first + count), or count = -1 when it was deferred, and then its frame and A's
 * coordinates in it (s->fa_store[fa_at ..  fa_at + n)) are kept for the second pass. */
typedef struct seen_mapping {
    mapping_frame frame;
    size_t first;
    long count;
    size_t fa_at;
} seen_mapping;

typedef struct strict_ctx {
    const cb_matcher_opts *o;
    match_mode mode;
    int n;
    double sqrt_n; /* len(dist) ** 0.5, as numpy's pow gives it */
    const cb_crystal *b;
    unsigned char *mask; /* [i(B) * n + j(A)]: species differ */
    int *ta, n_ta, sb;   /* translation candidates: A sites of B[sb]'s species */
    double pb[6];        /* B's lattice parameters */
    double (*cc)[3];         /* A's Cartesian coordinates */
    double (*fa)[3];         /* per mapping: A in the mapped basis, wrapped */
    cb_match_side sa_side;   /* per mapping: fA in the LLL basis of avg */
    double (*fbt)[3];        /* per translation: B + t */
    cb_match_side sb_side;   /* per translation: B + t in the LLL basis */
    unsigned char *image;    /* n × n which image is the shortest */
    double *d2;              /* n × n their squared lengths (the assignment costs) */
    double (*short_vecs)[3]; /* n: the assigned vectors */
    double *dist;            /* n: normalised distances */
    int *sol;                /* n: the assignment */
    cb_lap lap;
    /* get_rms_dist's two passes */
    seen_mapping *seen;
    size_t n_seen, cap_seen;
    double (*fa_store)[3];
    size_t n_fa_store, cap_fa_store; /* rows */
    scored *scored;
    size_t n_scored, cap_scored;
    int exact; /* the first pass found a score below EXACT_MATCH */
    /* LLL reductions of recent average lattices: mappings related by a symmetry of the
     * lattices (L and −L, for one) often share their average lattice to the bit */
    struct {
        double avg[3][3], norm;
        cb_match_lll m;
    } lll_cache[LLL_CACHE];
    int n_lll_cache, lll_cache_next;
    /* result */
    int have_best;
    scored best;
    int rc;
    cb_error *err;
} strict_ctx;

CB_FMA_CLONES double cb_match_sumsq(const double *x, int n)
{
    /* OpenBLAS Haswell ddot: blocks of 16 into four 4-lane FMA accumulators, a fixed
     * reduction tree, then the remaining elements added plainly. */
    int n1 = n & -16;
    double dot = 0.0;
    if (n1) {
        double acc[4][4] = {{0}};
        for (int blk = 0; blk < n1; blk += 16)
            for (int a = 0; a < 4; a++)
                for (int l = 0; l < 4; l++) {
                    double v = x[blk + 4 * a + l];
                    acc[a][l] = fma(v, v, acc[a][l]);
                }
        double s[4][2];
        for (int a = 0; a < 4; a++)
            for (int l = 0; l < 2; l++) s[a][l] = acc[a][l] + acc[a][l + 2];
        double t[2];
        for (int l = 0; l < 2; l++) t[l] = (s[0][l] + s[1][l]) + (s[2][l] + s[3][l]);
        dot = t[0] + t[1];
    }
    for (int i = n1; i < n; i++) dot += x[i] * x[i];
    return dot;
}

/* |x − round(x)| with C's round (half away from zero): see matcher_pbc.c. */
static inline double int_dist(double x) { return fabs(x - rint(x)); }

/* Lattice.abc of the 2π reciprocal lattice of m. */
static int reciprocal_abc(const double m[3][3], double abc[3])
{
    double rec[3][3];
    if (cb_lattice_reciprocal(m, rec)) return 1;
    for (int k = 0; k < 3; k++) abc[k] = sqrt(rec[k][0] * rec[k][0] + rec[k][1] * rec[k][1] + rec[k][2] * rec[k][2]);
    return 0;
}

/* is_coord_subset_pbc(B + t, fA, frac_tol, mask): every B site has some allowed A site
 * within the tolerance on every axis (C round = half away from zero). */
static int coord_subset(const strict_ctx *s, const double tol[3])
{
    int n = s->n;
    for (int i = 0; i < n; i++) {
        int ok = 0;
        for (int j = 0; j < n && !ok; j++) {
            if (s->mask[(size_t)i * (size_t)n + (size_t)j]) continue;
            ok = 1;
            for (int k = 0; k < 3 && ok; k++) {
                double d = s->fbt[i][k] - s->fa[j][k];
                if (int_dist(d) > tol[k]) ok = 0;
            }
        }
        if (!ok) return 0;
    }
    return 1;
}

/* _cart_dists: assignment, mean translation removed, normalised distances into
 * s->dist; then the value the search minimises and the max distance. */
static int cart_dists(strict_ctx *s, const cb_match_lll *m, double norm, double *val, double *rms, double *maxd)
{
    int n = s->n;
    cb_match_lll_side(m, (const double(*)[3])s->fbt, n, s->sb_side.g, s->sb_side.w, s->sb_side.c);
    cb_match_shortest(m, n, s->mask, &s->sb_side, &s->sa_side, s->image, s->d2);
    int rc = cb_lap_solve_finite(&s->lap, n, s->d2, CB_LAP_EPSILON, s->sol, s->err);
    if (rc) return rc;
    /* the assigned vectors (a forbidden pair's is (1e20, 1e20, 1e20), as pymatgen's) */
    double(*v)[3] = s->short_vecs, t[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        size_t at = (size_t)i * (size_t)n + (size_t)s->sol[i];
        if (s->d2[at] == CB_MATCH_FORBIDDEN)
            v[i][0] = v[i][1] = v[i][2] = CB_MATCH_FORBIDDEN;
        else
            cb_match_vector(m, &s->sb_side, &s->sa_side, i, s->sol[i], s->image[at], v[i]);
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) t[k] += v[i][k];
    for (int k = 0; k < 3; k++) t[k] = t[k] / (double)n;
    double mx = 0;
    for (int i = 0; i < n; i++) {
        double d0 = v[i][0] - t[0], d1 = v[i][1] - t[1], d2 = v[i][2] - t[2];
        double d = sqrt(d0 * d0 + d1 * d1 + d2 * d2) * norm;
        s->dist[i] = d;
        if (i == 0 || d > mx) mx = d;
    }
    *rms = sqrt(cb_match_sumsq(s->dist, n)) / s->sqrt_n;
    *maxd = mx;
    *val = s->mode == MATCH_FIT ? mx : *rms;
    return CB_OK;
}

static long long idet3(const int a[3][3])
{
    long long p = (long long)a[1][1] * a[2][2] - (long long)a[1][2] * a[2][1];
    long long q = (long long)a[1][0] * a[2][2] - (long long)a[1][2] * a[2][0];
    long long r = (long long)a[1][0] * a[2][1] - (long long)a[1][1] * a[2][0];
    return a[0][0] * p - a[0][1] * q + a[0][2] * r;
}

/* Sets up one lattice mapping: s->fa, the average lattice, norm and frac_tol.  1: the
 * mapping is skipped (|det S| != 1, or a degenerate average); -1: error (s->rc set). */
static int frame_mapping(strict_ctx *s, const cb_lattice_map *map, mapping_frame *f)
{
    long long det = idet3(map->scale);
    if (det != 1 && det != -1) return 1; /* abs(abs(det(S)) - 1) < 0.5 */
    int n = s->n;

    /* fc = l.get_fractional_coords(cart(A)); fc -= floor(fc) */
    double inv[3][3];
    if (cb_lattice_inv(map->lattice, inv)) {
        s->rc = cb_fail(s->err, CB_ERR_INVALID, "matcher: singular mapped lattice");
        return -1;
    }
    cb_lattice_dot_rows(inv, (const double(*)[3])s->cc, n, s->fa);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) s->fa[i][k] -= floor(s->fa[i][k]);

    /* avg_l = from_parameters((params(l) + params(B)) / 2) */
    double pl[6], pavg[6];
    cb_lattice_parameters(map->lattice, pl);
    for (int k = 0; k < 6; k++) pavg[k] = (pl[k] + s->pb[k]) / 2;
    cb_lattice_from_parameters(pavg, f->avg);
    f->norm = pow((double)n / cb_lattice_volume(f->avg), 1.0 / 3.0);
    double abc[3];
    if (reciprocal_abc(f->avg, abc)) return 1; /* degenerate average: numpy would raise; no match here */
    for (int k = 0; k < 3; k++) f->frac_tol[k] = abc[k] * s->o->stol / (M_PI * f->norm);
    return 0;
}

/* Whether some translation of this mapping could score below EXACT_MATCH (get_rms_dist
 * only; see "Two passes" at the top of this file).  A score v < 1e-5 means every normalised
 * distance is below √n · 1e-5, so every assigned vector lies within r = √n · 1e-5 / norm
 * of their mean m.  B_sb + t sits on A_ta, so m is within r of A_j − A_ta (plus a lattice
 * vector) for the site j that B_sb is assigned to, an A site of its species; then every
 * B_i + t + A_j − A_ta = B_i + t_j is within 2r of an allowed A site, t_j being this
 * mapping's translation candidate for j.  So if no candidate t_j puts every B site
 * within 2r of an allowed A site, no translation of the mapping scores below 1e-5.  The
 * test is per axis in the average lattice's fractional coordinates (a Cartesian
 * distance d moves coordinate k by at most d · |b_k| / 2π, which frac_tol's formula
 * already holds), widened far beyond rounding: a wrong "maybe" costs time, never bits. */
static int could_be_exact(const strict_ctx *s, const mapping_frame *f)
{
    int n = s->n;
    double widen = sqrt((double)n) * EXACT_MATCH / s->o->stol * (1 + 1e-6), tol[3];
    for (int k = 0; k < 3; k++) tol[k] = f->frac_tol[k] * widen + 1e-9;
    const double *fb_ref = s->b->frac[s->sb];
    for (int tj = 0; tj < s->n_ta; tj++) {
        const double *fa_t = s->fa[s->ta[tj]];
        double t[3] = {fa_t[0] - fb_ref[0], fa_t[1] - fb_ref[1], fa_t[2] - fb_ref[2]};
        int all_near = 1;
        for (int i = 0; i < n && all_near; i++) {
            if (i == s->sb) continue; /* on A_j by construction */
            double p[3] = {s->b->frac[i][0] + t[0], s->b->frac[i][1] + t[1], s->b->frac[i][2] + t[2]};
            const unsigned char *mrow = s->mask + (size_t)i * (size_t)n;
            int near = 0;
            for (int k = 0; k < n && !near; k++)
                near = !mrow[k] && int_dist(p[0] - s->fa[k][0]) <= tol[0] &&
                       int_dist(p[1] - s->fa[k][1]) <= tol[1] && int_dist(p[2] - s->fa[k][2]) <= tol[2];
            all_near = near;
        }
        if (all_near) return 1;
    }
    return 0;
}

/* The search's update rule: a strictly smaller value replaces the best; 1 when the
 * search stops here. */
static int consider(strict_ctx *s, const scored *c)
{
    if (s->have_best && !(c->val < s->best.val)) return 0;
    s->have_best = 1;
    s->best = *c;
    return (s->mode == MATCH_FIT || c->val < EXACT_MATCH) && c->val < s->o->stol;
}

/* Room for `need` elements of `size` bytes in the array *p of capacity *cap (doubled as
 * needed); sets s->rc and returns it when memory runs out. */
static int reserve(strict_ctx *s, void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return CB_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return s->rc = cb_fail(s->err, CB_ERR_NOMEM, "matcher: out of memory for %zu lattice mappings' data", need);
    *p = q;
    *cap = c;
    return CB_OK;
}

static int push_scored(strict_ctx *s, const scored *c)
{
    if (reserve(s, (void **)&s->scored, &s->cap_scored, s->n_scored + 1, sizeof *s->scored)) return s->rc;
    s->scored[s->n_scored++] = *c;
    return CB_OK;
}

/* cb_match_lll_init of the frame's average lattice, or the same (a deterministic
 * function of avg, norm and stol) from the cache. */
static int frame_lll(strict_ctx *s, const mapping_frame *f, cb_match_lll *m)
{
    for (int k = 0; k < s->n_lll_cache; k++)
        if (memcmp(s->lll_cache[k].avg, f->avg, sizeof f->avg) == 0 &&
            memcmp(&s->lll_cache[k].norm, &f->norm, sizeof f->norm) == 0) {
            *m = s->lll_cache[k].m;
            return CB_OK;
        }
    int rc = cb_match_lll_init(m, (const double(*)[3])f->avg, s->o->stol, f->norm, s->err);
    if (rc) return rc;
    int k = s->lll_cache_next;
    s->lll_cache_next = (k + 1) % LLL_CACHE;
    if (s->n_lll_cache < LLL_CACHE) s->n_lll_cache++;
    memcpy(s->lll_cache[k].avg, f->avg, sizeof f->avg);
    s->lll_cache[k].norm = f->norm;
    s->lll_cache[k].m = *m;
    return CB_OK;
}

/* Scores the mapping's translations in order: each candidate putting an A site of B's
 * rarest species onto B_sb, prefiltered by is_coord_subset_pbc.  record = 0: through
 * consider(); record = 1 (first pass): kept in s->scored for the replay, and the search
 * stops at the first score below EXACT_MATCH (and stol).  1: the search stops; -1: error. */
static int score_translations(strict_ctx *s, const mapping_frame *f, int record)
{
    int n = s->n;
    cb_match_lll m;
    int have_lll = 0;
    const double *fb_ref = s->b->frac[s->sb];
    for (int ti = 0; ti < s->n_ta; ti++) {
        const double *fa_t = s->fa[s->ta[ti]];
        double t[3] = {fa_t[0] - fb_ref[0], fa_t[1] - fb_ref[1], fa_t[2] - fb_ref[2]};
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 3; k++) s->fbt[i][k] = s->b->frac[i][k] + t[k];
        if (!coord_subset(s, f->frac_tol)) continue;
        if (!have_lll) {
            if ((s->rc = frame_lll(s, f, &m))) return -1;
            cb_match_lll_side(&m, (const double(*)[3])s->fa, n, s->sa_side.g, s->sa_side.w, s->sa_side.c);
            have_lll = 1;
        }
        scored c;
        if ((s->rc = cart_dists(s, &m, f->norm, &c.val, &c.rms, &c.max))) return -1;
        if (!record) {
            if (consider(s, &c)) return 1;
        } else {
            if (push_scored(s, &c)) return -1;
            if (c.val < EXACT_MATCH && c.val < s->o->stol) {
                s->have_best = 1;
                s->best = c;
                return 1;
            }
        }
    }
    return 0;
}

/* fit (and MATCH_RMS_IN_ORDER): every mapping scored in order. */
static int on_mapping_in_order(const cb_lattice_map *map, void *ctx)
{
    strict_ctx *s = ctx;
    mapping_frame f;
    int rc = frame_mapping(s, map, &f);
    if (rc) return rc < 0;
    return score_translations(s, &f, 0) != 0;
}

/* get_rms_dist, first pass: mappings that could hold an exact match are scored (and
 * recorded), the others deferred. */
static int on_mapping_first_pass(const cb_lattice_map *map, void *ctx)
{
    strict_ctx *s = ctx;
    mapping_frame f;
    int rc = frame_mapping(s, map, &f);
    if (rc) return rc < 0;
    if (reserve(s, (void **)&s->seen, &s->cap_seen, s->n_seen + 1, sizeof *s->seen)) return 1;
    seen_mapping *sm = &s->seen[s->n_seen++];
    sm->first = s->n_scored;
    sm->count = -1;
    if (!could_be_exact(s, &f)) {
        size_t n = (size_t)s->n;
        if (reserve(s, (void **)&s->fa_store, &s->cap_fa_store, s->n_fa_store + n, sizeof *s->fa_store)) return 1;
        sm->frame = f;
        sm->fa_at = s->n_fa_store;
        memcpy(s->fa_store + s->n_fa_store, s->fa, n * sizeof *s->fa);
        s->n_fa_store += n;
        return 0;
    }
    rc = score_translations(s, &f, 1);
    sm->count = (long)(s->n_scored - sm->first);
    if (rc > 0) s->exact = 1;
    return rc != 0;
}

/* get_rms_dist, second pass (no exact match anywhere): every mapping in order, the
 * recorded ones replayed, the deferred ones scored now. */
static int replay(strict_ctx *s)
{
    for (size_t k = 0; k < s->n_seen; k++) {
        const seen_mapping *sm = &s->seen[k];
        if (sm->count >= 0) {
            for (long c = 0; c < sm->count; c++)
                if (consider(s, &s->scored[sm->first + c])) return CB_OK;
            continue;
        }
        memcpy(s->fa, s->fa_store + sm->fa_at, (size_t)s->n * sizeof *s->fa);
        int rc = score_translations(s, &sm->frame, 0);
        if (rc < 0) return s->rc;
        if (rc > 0) return CB_OK;
    }
    return CB_OK;
}

static int alloc_ctx(strict_ctx *s, int n)
{
    size_t nn = (size_t)n * (size_t)n;
    s->mask = malloc(nn);
    s->ta = malloc((size_t)n * sizeof *s->ta);
    s->sol = malloc((size_t)n * sizeof *s->sol);
    s->dist = malloc((size_t)n * sizeof *s->dist);
    s->d2 = malloc(nn * sizeof *s->d2);
    s->image = malloc(nn);
    s->cc = malloc((size_t)n * 10 * sizeof *s->cc); /* cc, fa, fbt, short_vecs, the two sides */
    if (!s->mask || !s->ta || !s->sol || !s->dist || !s->d2 || !s->image || !s->cc) return 1;
    double(*p)[3] = s->cc + n;
    s->fa = p;
    s->fbt = p + n;
    s->sa_side = (cb_match_side){p + 2 * n, p + 3 * n, p + 4 * n};
    s->sb_side = (cb_match_side){p + 5 * n, p + 6 * n, p + 7 * n};
    s->short_vecs = p + 8 * n;
    return cb_lap_reserve(&s->lap, n, NULL);
}

static void free_ctx(strict_ctx *s)
{
    free(s->mask);
    free(s->ta);
    free(s->sol);
    free(s->dist);
    free(s->d2);
    free(s->image);
    free(s->cc);
    free(s->seen);
    free(s->fa_store);
    free(s->scored);
    cb_lap_free(&s->lap);
}

/* The species multisets are equal (LinearAssignment(mask).min_cost == 0). */
static int same_species(const cb_crystal *a, const cb_crystal *b)
{
    int count[CB_MAX_Z + 1] = {0};
    for (int i = 0; i < a->n; i++) count[a->z[i]]++;
    for (int i = 0; i < b->n; i++)
        if (--count[b->z[i]] < 0) return 0;
    return 1;
}

int cb_strict_match(const cb_matcher_opts *o, const cb_crystal *a, const cb_crystal *b, match_mode mode,
                    cb_match_result *out, cb_error *err)
{
    out->matched = 0;
    out->rms = out->max_dist = NAN;
    if (a->n != b->n || a->n < 1) return CB_OK;
    for (int i = 0; i < a->n; i++)
        if (a->z[i] < 1 || a->z[i] > CB_MAX_Z || b->z[i] < 1 || b->z[i] > CB_MAX_Z)
            return cb_fail(err, CB_ERR_INVALID, "matcher: site %d has an unknown element", i + 1);
    if (!same_species(a, b)) return CB_OK;

    strict_ctx s;
    memset(&s, 0, sizeof s);
    s.o = o;
    s.mode = mode;
    s.n = a->n;
    s.sqrt_n = pow((double)a->n, 0.5);
    s.b = b;
    s.err = err;
    int n = a->n;
    if (alloc_ctx(&s, n)) {
        free_ctx(&s);
        return cb_fail(err, CB_ERR_NOMEM, "matcher: out of memory for %d sites", n);
    }

    /* _get_mask: mask[i][j] = species(B_i) != species(A_j); sB = the first row with the
     * most forbidden entries; tA = the allowed A sites of that row. */
    int best_row = -1, best_sum = -1;
    for (int i = 0; i < n; i++) {
        int sum = 0;
        unsigned char *row = s.mask + (size_t)i * (size_t)n;
        for (int j = 0; j < n; j++) sum += row[j] = (unsigned char)(b->z[i] != a->z[j]);
        if (sum > best_sum) {
            best_sum = sum;
            best_row = i;
        }
    }
    s.sb = best_row;
    for (int j = 0; j < n; j++)
        if (!s.mask[(size_t)best_row * (size_t)n + (size_t)j]) s.ta[s.n_ta++] = j;

    for (int i = 0; i < n; i++) cb_lattice_dot_vec(a->lattice, a->frac[i], s.cc[i]); /* site.coords */
    cb_lattice_parameters(b->lattice, s.pb);

    int rc = cb_lattice_mappings_each(a->lattice, b->lattice, o->ltol, o->angle_tol,
                                      mode == MATCH_RMS ? on_mapping_first_pass : on_mapping_in_order, &s, err);
    if (!rc) rc = s.rc;
    if (!rc && mode == MATCH_RMS && !s.exact) rc = replay(&s);
    if (!rc && s.have_best && s.best.val < o->stol) {
        out->matched = 1;
        out->rms = s.best.rms;
        out->max_dist = s.best.max;
    }
    free_ctx(&s);
    return rc;
}
