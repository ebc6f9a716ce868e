/* Private to the matcher files: the prepared structure and the strict match
 * (pymatgen StructureMatcher._strict_match with fu = 1, metrics.md §5.8–§5.11). */
#ifndef CB_MATCHER_INTERNAL_H
#define CB_MATCHER_INTERNAL_H

#include "crystalbench/elements.h"
#include "crystalbench/matcher.h"
#include "crystalbench/reduce.h"

struct cb_match_prepared {
    cb_crystal s;   /* Niggli-reduced, then primitive (when asked): what _preprocess matches */
    double volume;  /* Lattice.volume of s, before any scaling */
    /* Composition of the ORIGINAL structure, for fit()'s fractional-composition check:
     * distinct Z ascending and their site counts. */
    int n_sites_orig;
    int n_elems;
    int *comp; /* [2 · n_elems]: Z ascending, then the matching counts */
};

/* What a strict match is asked for: get_rms_dist (minimise the RMS over every lattice
 * mapping and translation) or fit (stop at the first max distance below stol).
 * MATCH_RMS_IN_ORDER is get_rms_dist scored plainly in pymatgen's order, without the
 * first pass that looks for an exact match (matcher_strict.c): the same result by
 * construction, kept as the reference tests hold the two-pass search to, bit for bit. */
typedef enum match_mode { MATCH_RMS = 0, MATCH_FIT = 1, MATCH_RMS_IN_ORDER = 2 } match_mode;

/* _strict_match(A, B): A and B already scaled (their lattices are the matched ones),
 * same number of sites.  On success out->matched tells whether a match under stol was
 * found; rms / max_dist are the best one's (NaN when unmatched).  In MATCH_FIT mode the
 * search stops at the first (mapping, translation) whose max distance is below stol,
 * and rms / max_dist describe that one. */
int cb_strict_match(const cb_matcher_opts *o, const cb_crystal *a, const cb_crystal *b, match_mode mode,
                    cb_match_result *out, cb_error *err);

/* cb_match_rms_dist_prepared with MATCH_RMS_IN_ORDER (tests). */
int cb_match_rms_dist_in_order(const cb_matcher_opts *o, const cb_match_prepared *s1, const cb_match_prepared *s2,
                               cb_match_result *out, cb_error *err);

/* ---- shortest vectors on the average lattice (matcher_pbc.c) ---- */

#define CB_MATCH_FORBIDDEN 1e20

/* What depends only on the average lattice of a mapping. */
typedef struct cb_match_lll {
    cb_lll lll;          /* LLL reduction of the average lattice */
    double frac_tol[3];  /* lll_frac_tol */
    double img[27][3];   /* the 27 images of the LLL cell, pymatgen's order */
    double height2[3];   /* squared distances between lattice planes, slightly lowered */
    int prune;           /* 0: degenerate cell, scan all 27 images */
    double margin;       /* absolute slack of the pruning test, Å² */
} cb_match_lll;

/* One set of sites in the LLL basis: g = LLL-fractional, w = g mod 1, c = w · L. */
typedef struct cb_match_side {
    double (*g)[3], (*w)[3], (*c)[3];
} cb_match_side;

int cb_match_lll_init(cb_match_lll *m, const double avg[3][3], double stol, double norm, cb_error *err);
/* Fills g, w, c from fractional coordinates f in the average lattice. */
void cb_match_lll_side(const cb_match_lll *m, const double (*f)[3], int n, double (*g)[3], double (*w)[3],
                       double (*c)[3]);
/* pbc_shortest_vectors(avg, B, A, mask, lll_frac_tol), in two steps because the
 * assignment needs every d2 but only n of the vectors: d2 at [i(B) * n + j(A)],
 * bit-identical to pymatgen's, and image = which of the 27 images is the shortest.  A
 * forbidden pair gets d2 = 1e20 and its image is NOT written (pymatgen's vector is
 * (1e20, 1e20, 1e20)): callers test d2 == 1e20, which no allowed pair reaches short of
 * lattice vectors of 1e10 Å. */
void cb_match_shortest(const cb_match_lll *m, int n, const unsigned char *mask, const cb_match_side *b,
                       const cb_match_side *a, unsigned char *image, double *d2);
/* The shortest vector of the allowed pair (i of B, j of A) from its image: the same
 * bits as pymatgen's vector. */
void cb_match_vector(const cb_match_lll *m, const cb_match_side *b, const cb_match_side *a, int i, int j, int image,
                     double v[3]);

/* OpenBLAS 0.3.21 ddot (Haswell kernel, which numpy uses on the reference machine) of x
 * with itself: np.linalg.norm(x)**2, bit for bit. */
double cb_match_sumsq(const double *x, int n);

#endif
