/* Shared by test_reduce.c and test_pbc.c: random test crystals, and the exchange of
 * records with tests/py/reduce_reference.py (format described in that script).
 * Header-only (static functions) so each test stays one executable. */
#ifndef CB_REDUCE_TESTLIB_H
#define CB_REDUCE_TESTLIB_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/crystal.h"
#include "crystalbench/reduce.h"
#include "crystalbench/rng.h"
#include "testutil.h"

#define RT_MAX_FIELDS 40

typedef struct rt_field {
    char key[32];
    int n;     /* numeric values after the key */
    double *v;
} rt_field;

typedef struct rt_rec {
    char id[128];
    cb_crystal c; /* lattice and sites as the record gives them */
    int nf;
    rt_field f[RT_MAX_FIELDS];
} rt_rec;

typedef struct rt_set {
    rt_rec *r;
    int n;
} rt_set;

static const rt_field *rt_get(const rt_rec *r, const char *key)
{
    for (int i = 0; i < r->nf; i++)
        if (strcmp(r->f[i].key, key) == 0) return &r->f[i];
    return NULL;
}

static void rt_free(rt_set *s)
{
    for (int i = 0; i < s->n; i++) {
        cb_crystal_free(&s->r[i].c);
        for (int k = 0; k < s->r[i].nf; k++) free(s->r[i].f[k].v);
    }
    free(s->r);
    memset(s, 0, sizeof *s);
}

/* Parses the script's output in place; returns 0 on success. */
static int rt_parse(char *text, rt_set *out)
{
    memset(out, 0, sizeof *out);
    int cap = 0;
    rt_rec *cur = NULL;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[32];
        int used = 0;
        if (sscanf(line, "%31s%n", key, &used) != 1) continue;
        char *rest = line + used;
        if (strcmp(key, "BEGIN") == 0) {
            if (out->n == cap) {
                cap = cap ? 2 * cap : 64;
                rt_rec *r = realloc(out->r, (size_t)cap * sizeof *r);
                if (!r) return 1;
                out->r = r;
            }
            cur = &out->r[out->n++];
            memset(cur, 0, sizeof *cur);
            sscanf(rest, "%127s", cur->id);
            continue;
        }
        if (!cur) return 1;
        if (strcmp(key, "END") == 0) {
            /* cb_crystal_alloc (sites) zeroes the lattice: set it last */
            const rt_field *l = rt_get(cur, "lattice");
            if (!l || l->n != 9) return 1;
            memcpy(cur->c.lattice, l->v, sizeof cur->c.lattice);
            cur = NULL;
            continue;
        }
        if (strcmp(key, "sites") == 0) {
            int n = atoi(rest);
            if (cb_crystal_alloc(&cur->c, n, NULL)) return 1;
            for (int i = 0; i < n; i++) {
                char *l = strtok_r(NULL, "\n", &save);
                if (!l || sscanf(l, "%d %lf %lf %lf", &cur->c.z[i], &cur->c.frac[i][0], &cur->c.frac[i][1],
                                 &cur->c.frac[i][2]) != 4)
                    return 1;
            }
            continue;
        }
        if (cur->nf == RT_MAX_FIELDS) return 1;
        rt_field *f = &cur->f[cur->nf++];
        snprintf(f->key, sizeof f->key, "%s", key);
        int cap_v = 16;
        f->v = malloc((size_t)cap_v * sizeof *f->v);
        if (!f->v) return 1;
        char *p = rest, *end;
        for (;;) {
            double x = strtod(p, &end);
            if (end == p) break;
            if (f->n == cap_v) {
                cap_v *= 2;
                double *v = realloc(f->v, (size_t)cap_v * sizeof *v);
                if (!v) return 1;
                f->v = v;
            }
            f->v[f->n++] = x;
            p = end;
        }
    }
    return 0;
}

static void rt_write_crystal(FILE *f, const char *id, const cb_crystal *c)
{
    fprintf(f, "BEGIN %s\nlattice", id);
    for (int i = 0; i < 9; i++) fprintf(f, " %.17g", c->lattice[i / 3][i % 3]);
    fprintf(f, "\nsites %d\n", c->n);
    for (int i = 0; i < c->n; i++)
        fprintf(f, "%d %.17g %.17g %.17g\n", c->z[i], c->frac[i][0], c->frac[i][1], c->frac[i][2]);
}

/* Runs the reference script; NULL (after printing why) when python/pymatgen is absent
 * or the script fails.  args are appended to "<python> tests/py/reduce_reference.py". */
static char *rt_run_python(const char *args)
{
    const char *py = cb_test_pymatgen_python();
    if (!py) return NULL;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s tests/py/reduce_reference.py %s", py, args);
    int status = 0;
    char *out = cb_test_run(cmd, &status);
    if (!out || status != 0) {
        printf("reference script failed (status %d): %s\n", status, cmd);
        free(out);
        return NULL;
    }
    return out;
}

/* ---- random crystals ---- */

static double rt_unif(cb_rng *r, double lo, double hi) { return lo + (hi - lo) * cb_rng_uniform(r); }

/* A random unimodular integer matrix (product of elementary column operations and
 * swaps) with entries growing with `strength`. */
static void rt_unimodular(cb_rng *r, int strength, double u[3][3])
{
    double m[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    for (int s = 0; s < strength; s++) {
        int i = (int)cb_rng_below(r, 3), j = (int)((i + 1 + cb_rng_below(r, 2)) % 3);
        double q = (double)((int)cb_rng_below(r, 7) - 3);
        for (int k = 0; k < 3; k++) m[k][j] -= q * m[k][i];
        if (cb_rng_below(r, 4) == 0)
            for (int k = 0; k < 3; k++) {
                double t = m[k][i];
                m[k][i] = m[k][j];
                m[k][j] = t;
            }
    }
    memcpy(u, m, sizeof m);
}

/* Kinds: 0 random parameters, 1 random Gaussian matrix, 2 skewed (random
 * unimodular change of basis of kind 0), 3 high-symmetry cells (ties), 4 very skewed. */
static void rt_random_lattice(cb_rng *r, int kind, double m[3][3])
{
    for (;;) {
        if (kind == 1) {
            double s = rt_unif(r, 2, 8);
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) m[i][j] = s * cb_rng_normal(r);
        } else if (kind == 3) {
            double a = rt_unif(r, 2.5, 7), c = rt_unif(r, 2.5, 12);
            double p[6] = {a, a, a, 90, 90, 90};
            switch (cb_rng_below(r, 6)) {
            case 0: break;                                                   /* cubic */
            case 1: p[2] = c; p[5] = 120; break;                             /* hexagonal */
            case 2: p[2] = c; break;                                         /* tetragonal */
            case 3: p[3] = p[4] = p[5] = 60; break;                          /* fcc primitive */
            case 4: p[3] = p[4] = p[5] = 109.47122063449069; break;          /* bcc primitive */
            default: p[1] = rt_unif(r, 2.5, 7); p[2] = c; p[4] = rt_unif(r, 95, 120); break; /* monoclinic */
            }
            cb_lattice_from_parameters(p, m);
        } else {
            double p[6] = {rt_unif(r, 2, 15), rt_unif(r, 2, 15), rt_unif(r, 2, 15),
                           rt_unif(r, 50, 130), rt_unif(r, 50, 130), rt_unif(r, 50, 130)};
            cb_lattice_from_parameters(p, m);
            if (kind == 2 || kind == 4) {
                double u[3][3];
                rt_unimodular(r, kind == 2 ? 3 : 9, u);
                double t[3][3];
                cb_mat3_mul(u, m, t);
                memcpy(m, t, sizeof t);
            }
        }
        double v = cb_lattice_volume(m), p6[6];
        cb_lattice_parameters(m, p6);
        double lmax = fmax(p6[0], fmax(p6[1], p6[2]));
        /* keep non-degenerate cells: volume above 5% of the box of the longest vector */
        if (isfinite(v) && v > 0.05 * lmax * lmax * lmax / (kind == 4 ? 1e4 : 1)) return;
    }
}

static int rt_random_crystal(cb_rng *r, int kind, int max_sites, cb_crystal *c)
{
    int n = 1 + (int)cb_rng_below(r, (uint64_t)max_sites);
    if (cb_crystal_alloc(c, n, NULL)) return 1;
    rt_random_lattice(r, kind, c->lattice);
    for (int i = 0; i < n; i++) {
        c->z[i] = 1 + (int)cb_rng_below(r, 3) * 7; /* three species: H, O, Na-ish */
        for (int k = 0; k < 3; k++) c->frac[i][k] = rt_unif(r, -0.5, 1.5);
    }
    return 0;
}

/* ---- comparisons ---- */

typedef struct rt_cmp {
    long n_cases, identical, within, mismatched;
    double max_diff;
} rt_cmp;

/* Compares a against b (n values): identical bits, within tol, or mismatched. */
static int rt_compare(rt_cmp *c, const double *a, const double *b, int n, double tol)
{
    int same = 1, close = 1;
    for (int i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof a[i]) != 0 && !(a[i] == 0 && b[i] == 0)) same = 0;
        double d = fabs(a[i] - b[i]);
        if (!(d <= tol)) close = 0;
        if (d > c->max_diff) c->max_diff = d;
    }
    c->n_cases++;
    if (same)
        c->identical++;
    else if (close)
        c->within++;
    else
        c->mismatched++;
    return same ? 0 : (close ? 1 : 2);
}

static void rt_report(const char *what, const rt_cmp *c)
{
    printf("  %-28s %6ld cases: %6ld bit-identical, %5ld within tolerance, %4ld mismatched (max |diff| %.3g)\n",
           what, c->n_cases, c->identical, c->within, c->mismatched, c->max_diff);
}

/* ---- the two reference sets each test fills in its setup ---- */

static rt_set g_random, g_mp20;
static int g_have_random, g_have_mp20;
static const rt_set *sets[2] = {&g_random, &g_mp20};
static const char *set_names[2] = {"random", "mp_20"};

/* CB_REDUCE_FULL=1: compare every MP-20 row instead of a sample. */
static int rt_full_run(void)
{
    const char *f = getenv("CB_REDUCE_FULL");
    return f && *f && strcmp(f, "0") != 0;
}

static int rt_teardown(void **state)
{
    (void)state;
    rt_free(&g_random);
    rt_free(&g_mp20);
    return 0;
}

#define REQUIRE_DATA()                                                     \
    do {                                                                   \
        if (!g_have_random && !g_have_mp20) {                              \
            printf("SKIP: no pymatgen reference (see messages above)\n"); \
            skip();                                                        \
        }                                                                  \
    } while (0)

#endif
