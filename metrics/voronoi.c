/* Step A of the CrystalNN fingerprint (metrics.md §4.2): pymatgen's
 * VoronoiNN(weight = 'solid_angle', cutoff = 7, tol = 0).get_voronoi_polyhedra for one
 * site, by half-space clipping instead of a Qhull tessellation.
 *
 * pymatgen tessellates all images within R of the site (scipy.spatial.Voronoi → Qhull)
 * and keeps the cell of the nearest one, the site's own image.  That cell is the
 * intersection of the half-spaces {x : (x − c)·n ≤ |n|²/2}, n = x_m − c, over the other
 * candidates m, so it is computed directly (as voro++ does): start from a large cube
 * around c and cut it with the bisector plane of each candidate in increasing distance.
 * A candidate farther than twice the largest vertex radius cannot cut any more, and
 * since candidates are sorted, the loop stops there: about 20–40 cuts instead of a
 * tessellation of ~100–300 points (steps A and B take ~30 µs per MP-20 site, against
 * ~10 ms in pymatgen).
 *
 * Correspondence with Qhull:
 *   - unbounded cell (a ridge with a vertex at infinity) or Qhull failure (fewer than 5
 *     points, all candidates coplanar) ⇔ the clipped cell still touches the initial
 *     cube.  The cube first has half-size R (the cells of actual crystals are far
 *     smaller, and a small cube keeps the tolerances of the first cuts fine); a cell that
 *     reaches it is clipped again from a cube of half-size BOX_HALF = 1e6 Å, which in
 *     practice only an unbounded cell reaches;
 *   - Qhull merges facets of cospherical points and reports no ridge with fewer than 3
 *     vertices: here a vertex within ON_EPS (relative) of a cutting plane counts as ON
 *     it, so an exactly degenerate plane (touching an edge or a vertex, as in ideal
 *     lattices) adds no face, twin vertices are merged (MERGE_EPS), and faces with fewer
 *     than 3 vertices or none off the new plane are dropped (§4.6).  Faces that exist
 *     but are tiny (noise-level features) have Ω ≈ 0 and disappear at CrystalNN's
 *     rounding, as Qhull's do.  (Where Qhull merges nearly cospherical points, its
 *     vertices can be ~1e-7 Å off their planes; the cells here are the exact ones.)
 *
 * Precision: every new vertex is the intersection of three planes (the cutting plane
 * and the two faces meeting at the edge it cuts), solved directly, so vertex positions
 * carry no error from the history of cuts.  Coordinates are kept relative to c, the
 * position of the site's own image.
 *
 * Per face, Ω, the pyramid volume, face_dist and area are pymatgen's formulas in its
 * operation order (solid_angle, vol_tetra, _extract_cell_info). */
#include "crystalnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/reduce.h"

/* Half-size of the cube that tells unbounded cells (pathological: they still touch it)
 * from bounded ones, Å. */
#define BOX_HALF 1e6
/* A vertex is on a plane x·n = h when |x·n − h| <= ON_EPS · (|x|·|n| + h), i.e. within
 * about 2·ON_EPS·|x| of it: far above the rounding of the products (~1e-16 of the same
 * scale), far below any real feature, and above the merging distance below, so that a
 * vertex created on a cut edge is never a twin of the edge's end. */
#define ON_EPS 1e-12
/* Two vertices closer than MERGE_EPS · max(1 Å, |x|) are one vertex.  Near-degenerate
 * cells (several planes almost through one point, as in slightly distorted
 * high-symmetry structures) otherwise produce twin vertices a few ulps apart, and a
 * fan triangle with two equal vertices can give tp = 0 exactly, for which pymatgen's
 * solid-angle formula adds 2π (§4.2.4). */
#define MERGE_EPS 1e-12
/* A candidate closer than this to c (a duplicate atom) has no bisector plane: skipped. */
#define COINCIDENT 1e-10
/* Solve for a new vertex from three planes only when |n1·(n2×n3)| is at least this
 * fraction of |n1||n2||n3| (well-conditioned); otherwise interpolate along the edge. */
#define SOLVE_MIN_DET 1e-4
/* Stop the R-doubling loop if pymatgen's own loop would exceed this many rounds (it
 * cannot: R doubles from 7 up to a finite max_cutoff), as a guard against NaN input. */
#define MAX_ROUNDS 64

/* ---- growable arrays ---- */

/* Makes the array *pp (elements of `size` bytes, capacity *cap) hold `need` elements.
 * pp points to the array pointer, whatever its type (copied with memcpy, so no object is
 * accessed through a pointer of another type). */
static int grow(void *pp, int *cap, int need, size_t size)
{
    if (need <= *cap) return 0;
    int c = *cap ? *cap : 32;
    while (c < need) c *= 2;
    void *old;
    memcpy(&old, pp, sizeof old);
    void *q = realloc(old, (size_t)c * size);
    if (!q) return 1;
    memcpy(pp, &q, sizeof q);
    *cap = c;
    return 0;
}
#define GROW(arr, cap, need) grow(&(arr), &(cap), (need), sizeof *(arr))

/* ---- the polyhedron ---- */

typedef struct vtx {
    double x[3]; /* position relative to c */
    double r;    /* |x| */
} vtx;

/* A face lies on the plane x·n = h (n outward, not normalized) and lists its vertices in
 * cyclic order: idx[start .. start + len − 1]. */
typedef struct face {
    int cand; /* candidate index, or −1 for a face of the initial cube */
    double n[3];
    double h;
    int start, len;
} face;

typedef struct poly {
    vtx *v;
    int nv, cap_v;
    face *f;
    int nf, cap_f;
    int *idx;
    int ni, cap_i;
} poly;

/* An edge (a, b) of the old polyhedron cut by the plane: its new vertex and the (up to
 * two) faces that contain it. */
typedef struct cut_edge {
    int a, b; /* old vertex indices, a < b */
    int nv;   /* index of the new vertex in the new polyhedron */
    int f1, f2;
} cut_edge;

enum { CLS_IN = -1, CLS_ON = 0, CLS_OUT = 1 };

/* Scratch reused by every cut (grown on demand). */
typedef struct clipper {
    poly cur, nxt;
    double *s; /* [old nv] x·n − h */
    signed char *cls;
    int *map; /* old vertex → new index, −1 when cut away */
    int cap_s, cap_cls, cap_map;
    unsigned char *on; /* [new nv] vertex lies on the cutting plane */
    int cap_on;
    cut_edge *e;
    int ne, cap_e;
    int *ring; /* the new face's vertices */
    double *ang;
    int cap_ring, cap_ang;
    int *ref; /* compaction: new index of each vertex, −1 when unreferenced */
    int cap_ref;
    int *alias; /* merging: the vertex each new vertex stands for */
    int cap_alias;
    double rmax; /* max |x| over the vertices */
} clipper;

static void poly_free(poly *p)
{
    free(p->v);
    free(p->f);
    free(p->idx);
}

static void clipper_free(clipper *k)
{
    poly_free(&k->cur);
    poly_free(&k->nxt);
    free(k->s);
    free(k->cls);
    free(k->map);
    free(k->on);
    free(k->e);
    free(k->ring);
    free(k->ang);
    free(k->ref);
    free(k->alias);
}

static double dot3(const double a[3], const double b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

static void cross3(const double a[3], const double b[3], double out[3])
{
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}

static int push_vertex(poly *p, const vtx *v)
{
    if (GROW(p->v, p->cap_v, p->nv + 1)) return -1;
    p->v[p->nv] = *v;
    return p->nv++;
}

static int push_index(poly *p, int i)
{
    if (GROW(p->idx, p->cap_i, p->ni + 1)) return 1;
    p->idx[p->ni++] = i;
    return 0;
}

static int push_face(poly *p, int cand, const double n[3], double h, int start, int len)
{
    if (GROW(p->f, p->cap_f, p->nf + 1)) return 1;
    face *f = &p->f[p->nf++];
    f->cand = cand;
    memcpy(f->n, n, sizeof f->n);
    f->h = h;
    f->start = start;
    f->len = len;
    return 0;
}

/* The cube [−B, B]³: vertex i has x > 0 iff bit 0, y iff bit 1, z iff bit 2. */
static int poly_box(poly *p, double b)
{
    static const int quads[6][4] = {{0, 2, 6, 4}, {1, 3, 7, 5}, {0, 1, 5, 4},
                                    {2, 3, 7, 6}, {0, 1, 3, 2}, {4, 5, 7, 6}};
    p->nv = p->nf = p->ni = 0;
    for (int i = 0; i < 8; i++) {
        vtx v = {{i & 1 ? b : -b, i & 2 ? b : -b, i & 4 ? b : -b}, b * sqrt(3.0)};
        if (push_vertex(p, &v) < 0) return 1;
    }
    for (int q = 0; q < 6; q++) {
        double n[3] = {0, 0, 0};
        n[q / 2] = q % 2 ? 1 : -1;
        int start = p->ni;
        for (int j = 0; j < 4; j++)
            if (push_index(p, quads[q][j])) return 1;
        if (push_face(p, -1, n, b, start, 4)) return 1;
    }
    return 0;
}

/* ---- one cut ---- */

/* The point on planes (n1, h1), (n2, h2), (n3, h3), by Cramer's rule; 0 when the
 * system is ill-conditioned (then *x is untouched). */
static int solve3(const double n1[3], double h1, const double n2[3], double h2, const double n3[3], double h3,
                  double x[3])
{
    double c23[3], c31[3], c12[3];
    cross3(n2, n3, c23);
    cross3(n3, n1, c31);
    cross3(n1, n2, c12);
    double det = dot3(n1, c23);
    double scale = sqrt(dot3(n1, n1) * dot3(n2, n2) * dot3(n3, n3));
    if (!(fabs(det) >= SOLVE_MIN_DET * scale)) return 0;
    for (int k = 0; k < 3; k++) x[k] = (h1 * c23[k] + h2 * c31[k] + h3 * c12[k]) / det;
    return 1;
}

/* The new vertex on old edge (a, b): created once, shared by both faces of the edge. */
static int edge_vertex(clipper *k, int a, int b, int fi)
{
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    for (int i = 0; i < k->ne; i++)
        if (k->e[i].a == a && k->e[i].b == b) {
            if (k->e[i].f2 < 0 && k->e[i].f1 != fi) k->e[i].f2 = fi;
            return k->e[i].nv;
        }
    if (GROW(k->e, k->cap_e, k->ne + 1)) return -1;
    vtx zero = {{0, 0, 0}, 0}; /* position solved once both faces are known */
    int nv = push_vertex(&k->nxt, &zero);
    if (nv < 0 || GROW(k->on, k->cap_on, k->nxt.nv)) return -1;
    k->on[nv] = 1;
    k->e[k->ne++] = (cut_edge){a, b, nv, fi, -1};
    return nv;
}

/* Positions of the vertices created on cut edges. */
static void place_edge_vertices(clipper *k, const double n[3], double h)
{
    for (int i = 0; i < k->ne; i++) {
        const cut_edge *e = &k->e[i];
        double x[3];
        int ok = 0;
        if (e->f2 >= 0) {
            const face *f1 = &k->cur.f[e->f1], *f2 = &k->cur.f[e->f2];
            ok = solve3(f1->n, f1->h, f2->n, f2->h, n, h, x);
        }
        if (!ok) { /* interpolate from the inside end a' to the outside end b' */
            int in = k->cls[e->a] == CLS_IN ? e->a : e->b, out = in == e->a ? e->b : e->a;
            const double *xi = k->cur.v[in].x, *xo = k->cur.v[out].x;
            double t = k->s[in] / (k->s[in] - k->s[out]);
            for (int j = 0; j < 3; j++) x[j] = xi[j] + t * (xo[j] - xi[j]);
        }
        vtx *v = &k->nxt.v[e->nv];
        memcpy(v->x, x, sizeof x);
        v->r = sqrt(dot3(x, x));
    }
}

/* Sorts the new face's vertices by angle about its normal (a convex polygon). */
static void order_ring(clipper *k, int m, const double n[3])
{
    double g[3] = {0, 0, 0};
    for (int i = 0; i < m; i++)
        for (int j = 0; j < 3; j++) g[j] += k->nxt.v[k->ring[i]].x[j] / m;
    /* a basis (e1, e2) of the plane: e1 ⟂ n from the axis least aligned with n */
    int ax = 0;
    for (int j = 1; j < 3; j++)
        if (fabs(n[j]) < fabs(n[ax])) ax = j;
    double a[3] = {0, 0, 0}, e1[3], e2[3];
    a[ax] = 1;
    cross3(a, n, e1);
    cross3(n, e1, e2);
    for (int i = 0; i < m; i++) {
        const double *x = k->nxt.v[k->ring[i]].x;
        double d[3] = {x[0] - g[0], x[1] - g[1], x[2] - g[2]};
        k->ang[i] = atan2(dot3(d, e2), dot3(d, e1));
    }
    for (int i = 1; i < m; i++) { /* insertion sort: a face has few vertices */
        int v = k->ring[i];
        double t = k->ang[i];
        int j = i - 1;
        for (; j >= 0 && k->ang[j] > t; j--) {
            k->ring[j + 1] = k->ring[j];
            k->ang[j + 1] = k->ang[j];
        }
        k->ring[j + 1] = v;
        k->ang[j + 1] = t;
    }
}

/* Drops vertices no face refers to (their faces were all cut away) and updates rmax. */
static int compact(clipper *k)
{
    poly *p = &k->nxt;
    if (GROW(k->ref, k->cap_ref, p->nv)) return 1;
    for (int i = 0; i < p->nv; i++) k->ref[i] = -1;
    for (int i = 0; i < p->ni; i++) k->ref[p->idx[i]] = 0;
    int m = 0;
    for (int i = 0; i < p->nv; i++)
        if (k->ref[i] == 0) {
            p->v[m] = p->v[i];
            k->ref[i] = m++;
        }
    if (m != p->nv) {
        for (int i = 0; i < p->ni; i++) p->idx[i] = k->ref[p->idx[i]];
        p->nv = m;
    }
    k->rmax = 0;
    for (int i = 0; i < p->nv; i++)
        if (p->v[i].r > k->rmax) k->rmax = p->v[i].r;
    return 0;
}

/* Clips one face of cur (Sutherland–Hodgman, keeping ON vertices) into nxt; keeps it
 * when it has 3 or more vertices not all on the cutting plane. */
static int clip_face(clipper *k, int fi)
{
    const face *f = &k->cur.f[fi];
    const int *idx = k->cur.idx + f->start;
    int start = k->nxt.ni, off_plane = 0;
    for (int i = 0; i < f->len; i++) {
        int a = idx[i], b = idx[(i + 1) % f->len];
        if (k->cls[a] != CLS_OUT) {
            if (push_index(&k->nxt, k->map[a])) return 1;
            off_plane |= k->cls[a] == CLS_IN;
        }
        if (k->cls[a] * k->cls[b] == -1) { /* strictly in → strictly out or back */
            int nv = edge_vertex(k, a, b, fi);
            if (nv < 0 || push_index(&k->nxt, nv)) return 1;
        }
    }
    int len = k->nxt.ni - start;
    if (len < 3 || !off_plane) {
        k->nxt.ni = start;
        return 0;
    }
    return push_face(&k->nxt, f->cand, f->n, f->h, start, len);
}

static int same_point(const vtx *a, const vtx *b)
{
    double d[3] = {a->x[0] - b->x[0], a->x[1] - b->x[1], a->x[2] - b->x[2]};
    double tol = MERGE_EPS * fmax(1, fmax(a->r, b->r));
    return dot3(d, d) <= tol * tol;
}

/* Merges coincident vertices on the cutting plane (only there can new twins appear: the
 * others are old, distinct vertices), then rewrites the faces of nxt with one index per
 * point, dropping repeated consecutive indices and faces left with fewer than 3. */
static int merge_on_plane(clipper *k)
{
    poly *p = &k->nxt;
    if (GROW(k->alias, k->cap_alias, p->nv) || GROW(k->ring, k->cap_ring, p->nv)) return 1;
    int m = 0, merged = 0;
    for (int i = 0; i < p->nv; i++) {
        k->alias[i] = i;
        if (!k->on[i]) continue;
        for (int j = 0; j < m; j++)
            if (same_point(&p->v[i], &p->v[k->ring[j]])) {
                k->alias[i] = k->ring[j];
                merged = 1;
                break;
            }
        if (k->alias[i] == i) k->ring[m++] = i;
    }
    if (!merged) return 0;
    int w = 0, nf = 0;
    for (int fi = 0; fi < p->nf; fi++) {
        face f = p->f[fi];
        int start = w;
        for (int i = 0; i < f.len; i++) {
            int v = k->alias[p->idx[f.start + i]];
            if (w == start || p->idx[w - 1] != v) p->idx[w++] = v;
        }
        if (w - start > 1 && p->idx[w - 1] == p->idx[start]) w--; /* cyclic repeat */
        if (w - start < 3) {
            w = start;
            continue;
        }
        f.start = start;
        f.len = w - start;
        p->f[nf++] = f;
    }
    p->nf = nf;
    p->ni = w;
    return 0;
}

/* The face on the cutting plane: every ON vertex of the kept faces, in angular order. */
static int add_cut_face(clipper *k, int cand, const double n[3], double h)
{
    poly *p = &k->nxt;
    if (GROW(k->ring, k->cap_ring, p->nv) || GROW(k->ang, k->cap_ang, p->nv)) return 1;
    int m = 0;
    for (int i = 0; i < p->ni; i++) {
        int v = p->idx[i];
        if (k->on[v] == 1) {
            k->on[v] = 2; /* listed */
            k->ring[m++] = v;
        }
    }
    if (m < 3) return 0;
    order_ring(k, m, n);
    int start = p->ni;
    for (int i = 0; i < m; i++)
        if (push_index(p, k->ring[i])) return 1;
    return push_face(p, cand, n, h, start, m);
}

/* Cuts cur with {x : x·n <= h}, n = x_cand − c, h = |n|²/2.  Returns 1 on allocation
 * failure; cur is replaced by the result when the plane cuts anything. */
static int cut(clipper *k, int cand, const double n[3])
{
    poly *p = &k->cur;
    double nn = sqrt(dot3(n, n)), h = 0.5 * dot3(n, n);
    if (GROW(k->s, k->cap_s, p->nv) || GROW(k->cls, k->cap_cls, p->nv) || GROW(k->map, k->cap_map, p->nv)) return 1;
    int any_out = 0;
    for (int i = 0; i < p->nv; i++) {
        double s = dot3(p->v[i].x, n) - h, tol = ON_EPS * (p->v[i].r * nn + h);
        k->s[i] = s;
        k->cls[i] = (signed char)(s > tol ? CLS_OUT : s < -tol ? CLS_IN : CLS_ON);
        any_out |= s > tol;
    }
    if (!any_out) return 0;

    poly *q = &k->nxt;
    q->nv = q->nf = q->ni = 0;
    k->ne = 0;
    if (GROW(k->on, k->cap_on, p->nv)) return 1;
    for (int i = 0; i < p->nv; i++) {
        k->map[i] = -1;
        if (k->cls[i] == CLS_OUT) continue;
        int j = push_vertex(q, &p->v[i]);
        if (j < 0) return 1;
        k->map[i] = j;
        k->on[j] = k->cls[i] == CLS_ON;
    }
    for (int fi = 0; fi < p->nf; fi++)
        if (clip_face(k, fi)) return 1;
    place_edge_vertices(k, n, h);
    if (merge_on_plane(k) || add_cut_face(k, cand, n, h) || compact(k)) return 1;
    poly t = k->cur;
    k->cur = k->nxt;
    k->nxt = t;
    return 0;
}

/* ---- candidates ---- */

typedef struct cand {
    double x[3]; /* Cartesian position (PeriodicNeighbor.coords) */
    double dist; /* distance to p as find_points_in_spheres computes it */
    int site;
    int order; /* enumeration order: ties in dist keep it, as Python's stable sort */
} cand;

/* The candidates in pymatgen's order (sorted by distance, stable), produced lazily: the
 * clipping stops after the first few dozen of ~100–300, so a heap popped on demand
 * replaces the full sort.  sorted[0 .. n_sorted − 1] are those handed out so far. */
typedef struct cand_queue {
    cand *heap; /* min-heap on (dist, order) */
    int n_heap;
    cand *sorted;
    int n_sorted;
} cand_queue;

static int cand_less(const cand *a, const cand *b)
{
    return a->dist < b->dist || (a->dist == b->dist && a->order < b->order);
}

static void sift_down(cand *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, m = i;
        if (l < n && cand_less(&h[l], &h[m])) m = l;
        if (l + 1 < n && cand_less(&h[l + 1], &h[m])) m = l + 1;
        if (m == i) return;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* The next nearest candidate (NULL when none is left). */
static const cand *queue_next(cand_queue *q)
{
    if (q->n_heap == 0) return NULL;
    cand *out = &q->sorted[q->n_sorted++];
    *out = q->heap[0];
    q->heap[0] = q->heap[--q->n_heap];
    sift_down(q->heap, q->n_heap, 0);
    return out;
}

static void queue_free(cand_queue *q)
{
    free(q->heap);
    free(q->sorted);
    memset(q, 0, sizeof *q);
}

/* get_sites_in_sphere(p, R) as a queue in distance order. */
static int candidates(const cb_crystal *c, const double (*wrapped)[3], const double p[3], double r, cand_queue *q,
                      cb_error *err)
{
    cb_sphere_point *pts = NULL;
    int n = 0;
    memset(q, 0, sizeof *q);
    int rc = cb_points_in_sphere(c->lattice, wrapped, c->n, p, r, &pts, &n, err);
    if (rc) return rc;
    q->heap = malloc((size_t)(n ? n : 1) * sizeof *q->heap);
    q->sorted = malloc((size_t)(n ? n : 1) * sizeof *q->sorted);
    if (!q->heap || !q->sorted) {
        free(pts);
        queue_free(q);
        return cb_fail(err, CB_ERR_NOMEM, "voronoi: out of memory");
    }
    for (int i = 0; i < n; i++) {
        cand *m = &q->heap[i];
        cb_lattice_dot_vec(c->lattice, pts[i].frac, m->x);
        m->dist = pts[i].dist;
        m->site = pts[i].index;
        m->order = i;
    }
    free(pts);
    q->n_heap = n;
    for (int i = n / 2 - 1; i >= 0; i--) sift_down(q->heap, n, i);
    return CB_OK;
}

/* ---- the cell ---- */

/* Puts every candidate back into the queue (a sorted array is a valid heap). */
static void queue_rewind(cand_queue *q)
{
    int n = q->n_sorted + q->n_heap;
    memmove(q->heap + q->n_sorted, q->heap, (size_t)q->n_heap * sizeof *q->heap);
    memcpy(q->heap, q->sorted, (size_t)q->n_sorted * sizeof *q->heap);
    q->n_heap = n;
    q->n_sorted = 0;
    for (int i = n / 2 - 1; i >= 0; i--) sift_down(q->heap, n, i);
}

/* Clips the cube [−b, b]³ around c with the bisector planes of the candidates, taken in
 * order from the queue (the first one is the centre); faces refer to candidates by their
 * index in q->sorted.  Returns 1 when the cell is bounded by candidate planes alone (no
 * face of the cube is left), 0 when it still touches the cube (or there is no
 * candidate), −1 on allocation failure. */
static int clip_cell(clipper *k, cand_queue *q, double b)
{
    const cand *c0 = queue_next(q);
    if (!c0) return 0;
    if (poly_box(&k->cur, b)) return -1;
    k->rmax = b * sqrt(3.0);
    for (const cand *m; (m = queue_next(q)) != NULL;) {
        /* A plane at distance d/2 can only cut a vertex farther than d/2 from c; the
         * candidates come by increasing distance from p (|p − c| ~ 1e-15). */
        if (m->dist > 2 * k->rmax * (1 + 1e-12) + 1e-9) break;
        double nv[3] = {m->x[0] - c0->x[0], m->x[1] - c0->x[1], m->x[2] - c0->x[2]};
        if (dot3(nv, nv) < COINCIDENT * COINCIDENT) continue;
        if (cut(k, q->n_sorted - 1, nv)) return -1;
    }
    for (int i = 0; i < k->cur.nf; i++)
        if (k->cur.f[i].cand < 0) return 0;
    return 1;
}

/* The cell from the queue: first inside a cube of half-size r (the search radius: the
 * cells of actual crystals are far smaller, and a small cube keeps the tolerances of
 * the first cuts fine), and only when that cell reaches the cube, again inside the
 * BOX_HALF cube to tell an unbounded cell from a merely large one. */
static int clip_cell_bounded(clipper *k, cand_queue *q, double r)
{
    int bounded = clip_cell(k, q, r);
    if (bounded != 0) return bounded;
    queue_rewind(q);
    return clip_cell(k, q, BOX_HALF);
}

/* pymatgen's solid_angle(center, coords): fan triangulation from the first vertex. */
static double solid_angle(const vtx *v, const int *idx, int len)
{
    double angle = 0;
    const double *r0 = v[idx[0]].x;
    double n0 = sqrt(dot3(r0, r0));
    for (int i = 1; i + 1 < len; i++) {
        const double *ri = v[idx[i]].x, *rj = v[idx[i + 1]].x;
        double ni = sqrt(dot3(ri, ri)), nj = sqrt(dot3(rj, rj)), cr[3];
        cross3(ri, rj, cr);
        double tp = fabs(dot3(r0, cr));
        double de = n0 * ni * nj + nj * dot3(r0, ri) + ni * dot3(r0, rj) + n0 * dot3(ri, rj);
        double my = de == 0 ? (tp > 0 ? 0.5 * M_PI : -0.5 * M_PI) : atan(tp / de);
        angle += (my > 0 ? my : my + M_PI) * 2;
    }
    return angle;
}

/* Σ of vol_tetra(c, v_0, v_i, v_{i+1}) with c = 0. */
static double face_volume(const vtx *v, const int *idx, int len)
{
    double vol = 0;
    const double *a = v[idx[0]].x;
    for (int i = 1; i + 1 < len; i++) {
        const double *b = v[idx[i]].x, *d = v[idx[i + 1]].x;
        double t1[3] = {-d[0], -d[1], -d[2]}, t2[3], t3[3], cr[3];
        for (int j = 0; j < 3; j++) {
            t2[j] = a[j] - d[j];
            t3[j] = b[j] - d[j];
        }
        cross3(t2, t3, cr);
        vol += fabs(dot3(t1, cr)) / 6;
    }
    return vol;
}

/* The face's vertices without consecutive twins (a last guard: merge_on_plane already
 * merged them as they appeared); returns their number. */
static int distinct_ring(const poly *p, const face *f, int *ring)
{
    int m = 0;
    for (int i = 0; i < f->len; i++) {
        int v = p->idx[f->start + i];
        if (m == 0 || !same_point(&p->v[ring[m - 1]], &p->v[v])) ring[m++] = v;
    }
    while (m > 1 && same_point(&p->v[ring[m - 1]], &p->v[ring[0]])) m--;
    return m;
}

/* Per-face statistics of the final cell, then VoronoiNN's neighbour list (Ω > 0). */
static int collect_faces(const clipper *k, const cb_crystal *c, const cand *cs, cb_voronoi_cell *out,
                         cb_error *err)
{
    const poly *p = &k->cur; /* bounded: every face is a candidate's */
    cb_voronoi_face *fs = malloc((size_t)(p->nf ? p->nf : 1) * sizeof *fs);
    if (!fs) return cb_fail(err, CB_ERR_NOMEM, "voronoi: out of memory");
    int n = 0, max_len = 0;
    for (int i = 0; i < p->nf; i++)
        if (p->f[i].len > max_len) max_len = p->f[i].len;
    int *ring = malloc((size_t)(max_len ? max_len : 1) * sizeof *ring);
    if (!ring) {
        free(fs);
        return cb_fail(err, CB_ERR_NOMEM, "voronoi: out of memory");
    }
    double omax = 0, volume = 0;
    for (int i = 0; i < p->nf; i++) {
        const face *f = &p->f[i];
        const cand *m = &cs[f->cand];
        cb_voronoi_face *o = &fs[n++];
        memcpy(o->point, m->x, sizeof o->point);
        o->site = m->site;
        o->z = c->z[m->site];
        int len = distinct_ring(p, f, ring);
        o->n_verts = len;
        o->solid_angle = solid_angle(p->v, ring, len);
        o->volume = face_volume(p->v, ring, len);
        double d[3] = {cs[0].x[0] - m->x[0], cs[0].x[1] - m->x[1], cs[0].x[2] - m->x[2]};
        o->face_dist = sqrt(dot3(d, d)) / 2;
        o->area = 3 * o->volume / o->face_dist;
        volume += o->volume;
        if (o->solid_angle > omax) omax = o->solid_angle;
    }
    free(ring);
    /* Faces are already in increasing candidate order: a cut keeps the surviving faces
     * in order and appends its own. */
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (fs[i].solid_angle > 0 * omax) {
            fs[i].weight = fs[i].solid_angle / omax;
            fs[kept++] = fs[i];
        }
    if (kept == 0) {
        free(fs);
        return cb_fail(err, CB_ERR_INVALID, "voronoi: no Voronoi neighbors found for the site");
    }
    out->faces = fs;
    out->n_faces = kept;
    out->volume = volume;
    out->solid_angle_max = omax;
    return CB_OK;
}

/* max(|(±1, 1, 1)·L| …) + 0.01: the longest cell diagonal, pymatgen's max_cutoff. */
static double max_cutoff(const double l[3][3])
{
    static const double corners[4][3] = {{1, 1, 1}, {-1, 1, 1}, {1, -1, 1}, {1, 1, -1}};
    double best = 0;
    for (int i = 0; i < 4; i++) {
        double x[3];
        cb_lattice_dot_vec(l, corners[i], x);
        double d = sqrt(dot3(x, x));
        if (i == 0 || d > best) best = d;
    }
    return best + 0.01;
}

int cb_voronoi_neighbors(const cb_crystal *c, int site, cb_voronoi_cell *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    if (site < 0 || site >= c->n) return cb_fail(err, CB_ERR_INVALID, "voronoi: site %d out of range", site);
    double(*wrapped)[3] = malloc((size_t)c->n * sizeof *wrapped);
    if (!wrapped) return cb_fail(err, CB_ERR_NOMEM, "voronoi: out of memory");
    for (int i = 0; i < c->n; i++) { /* np.mod(frac_coords, 1) */
        memcpy(wrapped[i], c->frac[i], sizeof wrapped[i]);
        cb_wrap_frac(wrapped[i]);
    }
    cb_lattice_dot_vec(c->lattice, c->frac[site], out->center);
    double rmax_cut = max_cutoff(c->lattice), r = CB_VORONOI_CUTOFF;
    clipper k;
    memset(&k, 0, sizeof k);
    cand_queue q;
    memset(&q, 0, sizeof q);
    int rc = CB_OK, rounds = 0;
    for (;;) {
        queue_free(&q);
        rc = candidates(c, (const double(*)[3])wrapped, out->center, r, &q, err);
        if (rc) break;
        out->n_candidates = q.n_heap;
        int bounded = clip_cell_bounded(&k, &q, r);
        if (bounded < 0) {
            rc = cb_fail(err, CB_ERR_NOMEM, "voronoi: out of memory");
            break;
        }
        if (bounded) break;
        if (r >= rmax_cut || ++rounds > MAX_ROUNDS || !isfinite(rmax_cut)) {
            rc = cb_fail(err, CB_ERR_INVALID,
                         "voronoi: the cell of site %d is unbounded up to the maximum cutoff %.4g A", site, r);
            break;
        }
        r = fmin(r * 2, rmax_cut + 0.001);
    }
    if (rc == CB_OK) {
        out->cutoff = r;
        rc = collect_faces(&k, c, q.sorted, out, err);
    }
    queue_free(&q);
    free(wrapped);
    clipper_free(&k);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

void cb_voronoi_cell_free(cb_voronoi_cell *cell)
{
    if (!cell) return;
    free(cell->faces);
    memset(cell, 0, sizeof *cell);
}
