/* Structure.get_primitive_structure(tolerance) of pymatgen 2022.11.7 (metrics.md §5.7),
 * use_site_props = False, no lattice constraint.
 *
 * Sites are grouped by element symbol (stable sort); candidate cells are the Hermite
 * normal forms Mh of every determinant dividing the gcd of the group sizes, tried in
 * pymatgen's order; the first Mh under which every group collapses into cliques of
 * exactly det sites gives the new cell inv(Mh)·L with running-mean positions, and the
 * search recurses on it, then Niggli-reduces.  Every array operation replays numpy's
 * (rint = np.round, x − floor(x) = % 1, cb_np_* for dot and inv), so the cell and the
 * coordinates are pymatgen's to the last bit. */
#include "crystalbench/elements.h"
#include "crystalbench/matcher.h"
#include "crystalbench/reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/npmath.h"

/* One run of equal symbols in the sorted site list. */
typedef struct group {
    int start, len, z;
    unsigned char *non_nbrs; /* len × len, row-major */
} group;

typedef struct prim_ctx {
    const cb_crystal *s;
    double tol;
    int n, n_groups;
    int *z;            /* [n] atomic numbers in symbol order */
    double (*f)[3];    /* [n] fractional coordinates in symbol order (not wrapped) */
    group *g;          /* [n_groups] */
    double (*min_vecs)[3];
    int n_min_vecs;
    double super_ftol[3];
    /* scratch for one candidate */
    double (*p)[3];       /* [n] coordinates in the candidate cell */
    unsigned char *adj;   /* [maxlen²] */
    unsigned char *added; /* [maxlen] */
    double (*new_f)[3];   /* [n] new sites */
    int *new_z;
} prim_ctx;

static double row_length(const double r[3]) { return sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]); }

/* |x − round_half_even(x)|, numpy's `d -= np.round(d); np.abs(d, d)` */
static double frac_off(double x) { return fabs(x - rint(x)); }

/* Stable insertion sort of site indices by element symbol.  The symbols are compared
 * once per pair of distinct elements (a structure has few), not once per pair of
 * sites: each site gets the rank of its symbol among the structure's elements. */
static void sort_by_symbol(const int *z, int *idx, int n)
{
    int zs[CB_MAX_Z + 1], rank[CB_MAX_Z + 1], nz = 0;
    memset(rank, -1, sizeof rank);
    for (int i = 0; i < n; i++)
        if (rank[z[i]] < 0) {
            rank[z[i]] = 0;
            zs[nz++] = z[i];
        }
    for (int a = 0; a < nz; a++) {
        int r = 0;
        for (int b = 0; b < nz; b++) r += strcmp(cb_element_symbol(zs[b]), cb_element_symbol(zs[a])) < 0;
        rank[zs[a]] = r;
    }
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 1; i < n; i++) {
        int v = idx[i], j = i - 1;
        while (j >= 0 && rank[z[idx[j]]] > rank[z[v]]) {
            idx[j + 1] = idx[j];
            j--;
        }
        idx[j + 1] = v;
    }
}

/* pbc_coord_intersection(min_vecs, g − f, 2·super_ftol), in place, order kept. */
static void prune_min_vecs(prim_ctx *c, const group *g, const double f[3])
{
    int kept = 0;
    for (int a = 0; a < c->n_min_vecs; a++) {
        int any = 0;
        for (int k = 0; k < g->len && !any; k++) {
            const double *gk = c->f[g->start + k];
            int all = 1;
            for (int ax = 0; ax < 3 && all; ax++) {
                double w = gk[ax] - f[ax];
                all = frac_off(c->min_vecs[a][ax] - w) < c->super_ftol[ax] * 2;
            }
            any = all;
        }
        if (any) memmove(c->min_vecs[kept++], c->min_vecs[a], sizeof c->min_vecs[a]);
    }
    c->n_min_vecs = kept;
}

static int cmp_group_len(const void *a, const void *b)
{
    const group *x = *(const group *const *)a, *y = *(const group *const *)b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x < y ? -1 : (x > y); /* stable: original group order */
}

/* A row of inv(Mh) is within super_ftol (strict, every axis) of some min_vec.  A
 * candidate cell is tried only when all three rows are. */
static int row_in_min_vecs(const prim_ctx *c, const double row[3])
{
    for (int a = 0; a < c->n_min_vecs; a++) {
        int all = 1;
        for (int ax = 0; ax < 3 && all; ax++) all = frac_off(row[ax] - c->min_vecs[a][ax]) < c->super_ftol[ax];
        if (all) return 1;
    }
    return 0;
}

/* Tries the candidate Mh (det = size).  Returns 1 and fills new_z / new_f (n / size
 * sites) when every group collapses correctly, else 0. */
static int try_cell(prim_ctx *c, const double mh[3][3], const double inv[3][3], int size)
{
    double new_m[3][3], ftol[3];
    cb_np_mat_dot(inv, c->s->lattice, new_m);
    for (int k = 0; k < 3; k++) ftol[k] = c->tol / row_length(new_m[k]);

    int n_new = 0;
    for (int gi = 0; gi < c->n_groups; gi++) {
        const group *g = &c->g[gi];
        int L = g->len;
        double(*p)[3] = c->p;
        cb_np_rows_dot((const double(*)[3])(c->f + g->start), L, mh, p);
        unsigned char *adj = c->adj;
        for (int i = 0; i < L; i++)
            for (int j = 0; j < L; j++) {
                int close = 1;
                for (int ax = 0; ax < 3 && close; ax++) close = frac_off(p[j][ax] - p[i][ax]) < ftol[ax];
                adj[i * L + j] = (unsigned char)(close && g->non_nbrs[i * L + j]);
            }
        for (int j = 0; j < L; j++) {
            int sum = 0;
            for (int i = 0; i < L; i++) sum += adj[i * L + j];
            if (sum != size) return 0;
        }
        for (int r = 0; r < L; r++)
            for (int a = 0; a < L; a++) {
                if (!adj[r * L + a]) continue;
                for (int b = 0; b < L; b++)
                    if (adj[r * L + b] && !adj[a * L + b]) return 0;
            }
        /* new_fcoords = all_frac % 1, then one site per clique: the running mean
         * x += (off − round(off)) / (k + 2) over the clique's later members. */
        for (int i = 0; i < L; i++)
            for (int ax = 0; ax < 3; ax++) p[i][ax] = p[i][ax] - floor(p[i][ax]);
        for (int i = 0; i < L; i++) c->added[i] = 0;
        for (int i = 0; i < L; i++) {
            if (c->added[i]) continue;
            int first = -1, k = 0;
            for (int j = 0; j < L; j++) {
                if (!adj[i * L + j]) continue;
                c->added[j] = 1;
                if (first < 0) {
                    first = j;
                    continue;
                }
                for (int ax = 0; ax < 3; ax++) {
                    double off = p[j][ax] - p[first][ax];
                    p[first][ax] += (off - rint(off)) / (double)(k + 2);
                }
                k++;
            }
            if (first < 0 || n_new >= c->n) return 0; /* cannot happen: the diagonal is set */
            c->new_z[n_new] = g->z;
            memcpy(c->new_f[n_new], p[first], sizeof p[first]);
            n_new++;
        }
    }
    return n_new * size == c->n;
}

static void ctx_free(prim_ctx *c)
{
    if (c->g)
        for (int i = 0; i < c->n_groups; i++) free(c->g[i].non_nbrs);
    free(c->g);
    free(c->z);
    free(c->f);
    free(c->min_vecs);
    free(c->p);
    free(c->adj);
    free(c->added);
    free(c->new_f);
    free(c->new_z);
}

/* Groups, min_vecs and their pruning, the non-neighbour tables.  Returns nfu (the gcd
 * of the group sizes), 0 on allocation failure. */
static int ctx_init(prim_ctx *c, const cb_crystal *s, double tol)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    c->tol = tol;
    c->n = s->n;
    int n = s->n;
    int *idx = malloc((size_t)n * sizeof *idx);
    c->z = malloc((size_t)n * sizeof *c->z);
    c->f = malloc((size_t)n * sizeof *c->f);
    c->g = calloc((size_t)n, sizeof *c->g);
    if (!idx || !c->z || !c->f || !c->g) {
        free(idx);
        return 0;
    }
    sort_by_symbol(s->z, idx, n);
    for (int i = 0; i < n; i++) {
        c->z[i] = s->z[idx[i]];
        memcpy(c->f[i], s->frac[idx[i]], sizeof c->f[i]);
    }
    free(idx);
    for (int i = 0; i < n; i++) {
        if (i == 0 || c->z[i] != c->z[i - 1]) c->g[c->n_groups++] = (group){i, 0, c->z[i], NULL};
        c->g[c->n_groups - 1].len++;
    }
    int nfu = 0, maxlen = 0;
    const group *gmin = &c->g[0];
    for (int i = 0; i < c->n_groups; i++) {
        nfu = cb_gcd(nfu, c->g[i].len);
        if (c->g[i].len > maxlen) maxlen = c->g[i].len;
        if (c->g[i].len < gmin->len) gmin = &c->g[i];
    }
    if (nfu == 1) return 1; /* no candidate cell: nothing else is observable */

    for (int k = 0; k < 3; k++) c->super_ftol[k] = tol / row_length(s->lattice[k]);
    c->min_vecs = malloc((size_t)gmin->len * sizeof *c->min_vecs);
    c->p = malloc((size_t)maxlen * sizeof *c->p);
    c->adj = malloc((size_t)maxlen * (size_t)maxlen);
    c->added = malloc((size_t)maxlen);
    c->new_f = malloc((size_t)n * sizeof *c->new_f);
    c->new_z = malloc((size_t)n * sizeof *c->new_z);
    group **order = malloc((size_t)c->n_groups * sizeof *order);
    if (!c->min_vecs || !c->p || !c->adj || !c->added || !c->new_f || !c->new_z || !order) {
        free(order);
        return 0;
    }
    const double *f0 = c->f[gmin->start];
    for (int a = 0; a < gmin->len; a++)
        for (int ax = 0; ax < 3; ax++) c->min_vecs[a][ax] = c->f[gmin->start + a][ax] - f0[ax];
    c->n_min_vecs = gmin->len;

    for (int i = 0; i < c->n_groups; i++) order[i] = &c->g[i];
    qsort(order, (size_t)c->n_groups, sizeof *order, cmp_group_len);
    /* min_vecs[0] is the zero vector, which every pruning keeps (a site's offset to
     * itself is 0): once it is alone, nothing further can change. */
    int zero_kept = c->super_ftol[0] > 0 && c->super_ftol[1] > 0 && c->super_ftol[2] > 0;
    for (int i = 0; i < c->n_groups && !(zero_kept && c->n_min_vecs <= 1); i++)
        for (int k = 0; k < order[i]->len && !(zero_kept && c->n_min_vecs <= 1); k++)
            prune_min_vecs(c, order[i], c->f[order[i]->start + k]);
    free(order);

    for (int gi = 0; gi < c->n_groups; gi++) {
        group *g = &c->g[gi];
        int L = g->len;
        g->non_nbrs = malloc((size_t)L * (size_t)L);
        if (!g->non_nbrs) return 0;
        for (int i = 0; i < L; i++)
            for (int j = 0; j < L; j++) {
                int far = 0;
                for (int ax = 0; ax < 3; ax++)
                    if (frac_off(c->f[g->start + j][ax] - c->f[g->start + i][ax]) > 2 * c->super_ftol[ax]) far = 1;
                g->non_nbrs[i * L + j] = (unsigned char)(far || i == j);
            }
    }
    return nfu;
}

/* cb_np_inv3 of the upper-triangular HNF m = [[a, b, c], [0, e, f], [0, 0, g]] with
 * positive integer diagonal, without the general path (this search can try thousands
 * of cells per structure).  For such an m, dgetf2 picks no row swap and leaves U = m,
 * L = I (every multiplier is 0 · r = 0), so the forward substitution fma(−y, 0, y')
 * returns y' unchanged, and what remains is the back substitution below, the same
 * operations in the same order: the same bits (tests compare the two). */
static void hnf_inv(const double m[3][3], double inv[3][3])
{
    double d0 = 1.0 / m[0][0], d1 = 1.0 / m[1][1], d2 = 1.0 / m[2][2];
    for (int col = 0; col < 3; col++) {
        double y0 = col == 0, y1 = col == 1, y2 = col == 2;
        double x2 = y2 * d2;
        y1 = y1 - x2 * m[1][2];
        y0 = y0 - x2 * m[0][2];
        double x1 = y1 * d1;
        y0 = y0 - x1 * m[0][1];
        inv[0][col] = y0 * d0;
        inv[1][col] = x1;
        inv[2][col] = x2;
    }
}

/* Walks the Hermite normal forms of every det | nfu (det > 1) in get_hnf's order.
 * Returns 1 with *size set when try_cell accepted one (mh, inv filled), 0 if none, -1
 * when out of memory.  Of inv(Mh) = inv([[a, b, c], [0, e, f], [0, 0, g]]), row 2
 * depends only on g and row 1 only on (e, f, g) (hnf_inv computes them without b or c),
 * so they are tested once per (a, e) and per f: most candidates are then rejected
 * without being formed (a 24-site structure has some 2,500). */
static int search_cells(prim_ctx *c, int nfu, double mh[3][3], double inv[3][3], int *size)
{
    unsigned char *row1_ok = malloc((size_t)nfu + 1);
    if (!row1_ok) return -1;
    int found = 0;
    for (int det = 2; det <= nfu && !found; det++) {
        if (nfu % det) continue;
        for (int a = 1; a <= det && !found; a++) {
            if (det % a) continue;
            for (int e = 1; e <= det / a && !found; e++) {
                if ((det / a) % e) continue;
                int gg = det / a / e;
                double m0[3][3] = {{a, 0, 0}, {0, e, 0}, {0, 0, gg}};
                hnf_inv(m0, inv);
                if (!row_in_min_vecs(c, inv[2])) continue; /* row 2: no candidate of this (a, e) */
                for (int f = 0; f < e; f++) {
                    double m[3][3] = {{a, 0, 0}, {0, e, f}, {0, 0, gg}};
                    hnf_inv(m, inv);
                    row1_ok[f] = (unsigned char)row_in_min_vecs(c, inv[1]);
                }
                for (int b = 0; b < a && !found; b++)
                    for (int cc = 0; cc < a && !found; cc++)
                        for (int f = 0; f < e && !found; f++) {
                            if (!row1_ok[f]) continue;
                            double m[3][3] = {{a, b, cc}, {0, e, f}, {0, 0, gg}};
                            hnf_inv(m, inv);
                            if (!row_in_min_vecs(c, inv[0])) continue;
                            if (try_cell(c, m, inv, det)) {
                                memcpy(mh, m, sizeof m);
                                *size = det;
                                found = 1;
                            }
                        }
            }
        }
    }
    free(row1_ok);
    return found;
}

int cb_primitive_structure(const cb_crystal *s, double tolerance, cb_crystal *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    if (s->n < 1) return cb_fail(err, CB_ERR_INVALID, "primitive cell: structure has no sites");
    if (!(tolerance > 0) || !isfinite(tolerance))
        return cb_fail(err, CB_ERR_INVALID, "primitive cell: tolerance must be positive (got %g)", tolerance);
    for (int i = 0; i < s->n; i++)
        if (s->z[i] < 0 || s->z[i] > CB_MAX_Z)
            return cb_fail(err, CB_ERR_INVALID, "primitive cell: site %d has an unknown element (Z = %d)", i + 1, s->z[i]);

    prim_ctx c;
    int nfu = ctx_init(&c, s, tolerance);
    if (!nfu) {
        ctx_free(&c);
        return cb_fail(err, CB_ERR_NOMEM, "primitive cell: out of memory for %d sites", s->n);
    }
    double mh[3][3], inv[3][3];
    int size = 0;
    int found = nfu == 1 ? 0 : search_cells(&c, nfu, mh, inv, &size);
    if (found < 0) {
        ctx_free(&c);
        return cb_fail(err, CB_ERR_NOMEM, "primitive cell: out of memory for %d sites", s->n);
    }
    if (!found) {
        ctx_free(&c);
        return cb_crystal_copy(out, s, err);
    }

    /* The smaller cell: lattice inv(Mh)·L, sites as averaged (not wrapped); recurse,
     * then Niggli-reduce (get_reduced_structure). */
    cb_crystal smaller = {0};
    int rc = cb_crystal_alloc(&smaller, s->n / size, err);
    if (!rc) {
        cb_np_mat_dot(inv, s->lattice, smaller.lattice);
        memcpy(smaller.z, c.new_z, (size_t)smaller.n * sizeof *smaller.z);
        memcpy(smaller.frac, c.new_f, (size_t)smaller.n * sizeof *smaller.frac);
        if (s->id) rc = cb_crystal_set_id(&smaller, s->id, err);
    }
    ctx_free(&c);
    cb_crystal deeper = {0};
    if (!rc) rc = cb_primitive_structure(&smaller, tolerance, &deeper, err);
    cb_crystal_free(&smaller);
    if (!rc) rc = cb_crystal_reduced(&deeper, CB_REDUCE_NIGGLI, out, err);
    cb_crystal_free(&deeper);
    return rc;
}
