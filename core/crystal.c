/* cb_crystal memory and lattice geometry.  The formulas follow pymatgen's Lattice
 * operation by operation so that parameters, matrices and volumes agree to the bit
 * (models.md §1.2, metrics.md §5.2). */
#include "crystalbench/crystal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int cb_crystal_alloc(cb_crystal *c, int n, cb_error *err)
{
    memset(c, 0, sizeof *c);
    if (n < 0) return cb_fail(err, CB_ERR_INVALID, "negative number of sites (%d)", n);
    c->n = n;
    if (n == 0) return CB_OK;
    c->z = calloc((size_t)n, sizeof *c->z);
    c->frac = calloc((size_t)n, sizeof *c->frac);
    if (!c->z || !c->frac) {
        cb_crystal_free(c);
        return cb_fail(err, CB_ERR_NOMEM, "out of memory for %d sites", n);
    }
    return CB_OK;
}

void cb_crystal_free(cb_crystal *c)
{
    if (!c) return;
    free(c->z);
    free(c->frac);
    free(c->id);
    for (int i = 0; i < c->n_props; i++) {
        free(c->props[i].name);
        free(c->props[i].value);
    }
    free(c->props);
    memset(c, 0, sizeof *c);
}

int cb_crystal_copy(cb_crystal *dst, const cb_crystal *src, cb_error *err)
{
    int rc = cb_crystal_alloc(dst, src->n, err);
    if (rc) return rc;
    memcpy(dst->lattice, src->lattice, sizeof dst->lattice);
    if (src->n) {
        memcpy(dst->z, src->z, (size_t)src->n * sizeof *src->z);
        memcpy(dst->frac, src->frac, (size_t)src->n * sizeof *src->frac);
    }
    if (src->id && (rc = cb_crystal_set_id(dst, src->id, err))) goto fail;
    for (int i = 0; i < src->n_props; i++)
        if ((rc = cb_crystal_add_prop(dst, src->props[i].name, src->props[i].value, err))) goto fail;
    return CB_OK;
fail:
    cb_crystal_free(dst);
    return rc;
}

int cb_crystal_set_id(cb_crystal *c, const char *id, cb_error *err)
{
    char *d = dup_str(id);
    if (!d) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    free(c->id);
    c->id = d;
    return CB_OK;
}

int cb_crystal_add_prop(cb_crystal *c, const char *name, const char *value, cb_error *err)
{
    cb_prop *p = realloc(c->props, (size_t)(c->n_props + 1) * sizeof *p);
    if (!p) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    c->props = p;
    char *n = dup_str(name), *v = dup_str(value);
    if (!n || !v) {
        free(n);
        free(v);
        return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    }
    c->props[c->n_props].name = n;
    c->props[c->n_props].value = v;
    c->n_props++;
    return CB_OK;
}

const char *cb_crystal_prop(const cb_crystal *c, const char *name)
{
    for (int i = 0; i < c->n_props; i++)
        if (strcmp(c->props[i].name, name) == 0) return c->props[i].value;
    return NULL;
}

void cb_crystal_placeholder(cb_crystal *c)
{
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) c->lattice[i][k] = i == k ? 0.4 : 0;
    for (int i = 0; i < c->n; i++) {
        c->frac[i][0] = (double)i / c->n;
        c->frac[i][1] = c->frac[i][2] = 0;
    }
}

int cb_crystal_check(const cb_crystal *c, const char *what, cb_error *err)
{
    if (c->n < 1) return cb_fail(err, CB_ERR_INVALID, "%s: no atoms", what);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (!isfinite(c->lattice[i][j]))
                return cb_fail(err, CB_ERR_INVALID, "%s: lattice has a non-finite entry", what);
    double v = cb_lattice_volume(c->lattice);
    if (!(v >= 1e-6))
        return cb_fail(err, CB_ERR_INVALID, "%s: zero or degenerate cell volume (%g A^3)", what, v);
    for (int i = 0; i < c->n; i++) {
        if (c->z[i] < 1 || c->z[i] > 118)
            return cb_fail(err, CB_ERR_INVALID, "%s: site %d has unknown element Z=%d", what, i + 1, c->z[i]);
        for (int k = 0; k < 3; k++)
            if (!isfinite(c->frac[i][k]))
                return cb_fail(err, CB_ERR_INVALID, "%s: site %d has a non-finite coordinate", what, i + 1);
    }
    return CB_OK;
}

/* numpy's radians: x * (pi / 180). */
static double radians(double deg) { return deg * (M_PI / 180.0); }

static double abs_cap(double v) { return v > 1.0 ? 1.0 : (v < -1.0 ? -1.0 : v); }

void cb_lattice_from_parameters(const double p[6], double m[3][3])
{
    double ar = radians(p[3]), br = radians(p[4]), gr = radians(p[5]);
    double val = (cos(ar) * cos(br) - cos(gr)) / (sin(ar) * sin(br));
    double gamma_star = acos(abs_cap(val));
    m[0][0] = p[0] * sin(br);
    m[0][1] = 0.0;
    m[0][2] = p[0] * cos(br);
    m[1][0] = -p[1] * sin(ar) * cos(gamma_star);
    m[1][1] = p[1] * sin(ar) * sin(gamma_star);
    m[1][2] = p[1] * cos(ar);
    m[2][0] = 0.0;
    m[2][1] = 0.0;
    m[2][2] = p[2];
}

static double dot3(const double a[3], const double b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

void cb_lattice_parameters(const double m[3][3], double p[6])
{
    for (int i = 0; i < 3; i++) p[i] = sqrt(dot3(m[i], m[i]));
    for (int i = 0; i < 3; i++) {
        int j = (i + 1) % 3, k = (i + 2) % 3;
        double c = abs_cap(dot3(m[j], m[k]) / (p[j] * p[k]));
        p[3 + i] = acos(c) * 180.0 / M_PI;
    }
}

double cb_mat3_det(const double m[3][3])
{
    double cx = m[0][1] * m[1][2] - m[0][2] * m[1][1];
    double cy = m[0][2] * m[1][0] - m[0][0] * m[1][2];
    double cz = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    return cx * m[2][0] + cy * m[2][1] + cz * m[2][2];
}

double cb_lattice_volume(const double m[3][3]) { return fabs(cb_mat3_det(m)); }

int cb_mat3_inverse(const double m[3][3], double inv[3][3])
{
    double det = cb_mat3_det(m);
    if (det == 0.0 || !isfinite(det)) return 0;
    inv[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det;
    inv[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det;
    inv[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det;
    inv[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det;
    inv[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det;
    inv[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det;
    inv[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det;
    inv[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det;
    inv[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det;
    return 1;
}

void cb_mat3_mul(const double a[3][3], const double b[3][3], double out[3][3])
{
    double r[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) r[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
    memcpy(out, r, sizeof r);
}

void cb_frac_to_cart(const double m[3][3], const double f[3], double cart[3])
{
    for (int j = 0; j < 3; j++) cart[j] = f[0] * m[0][j] + f[1] * m[1][j] + f[2] * m[2][j];
}

void cb_cart_to_frac(const double inv[3][3], const double cart[3], double f[3])
{
    cb_frac_to_cart(inv, cart, f);
}

void cb_wrap_frac(double f[3])
{
    for (int k = 0; k < 3; k++) f[k] -= floor(f[k]);
}

double cb_wrap01(double x)
{
    double r = x - floor(x);
    /* x = −1e−20 gives 1 − 1e−20, which rounds to 1.0: that is the point 0. */
    return r >= 1.0 ? 0.0 : r;
}

/* Whether sites i and j are closer than tol Å (minimum image; *r = the distance).  The
 * nearest integer shift gives the minimum image whenever the true distance is that
 * small, since the cell is not degenerate.  lim[k] rejects a pair early from one
 * fractional difference: |d_k| = |x · inv(L) e_k| <= |x| |inv(L) e_k|. */
static int too_close(const cb_crystal *c, const double lim[3], double tol, int i, int j, double *r)
{
    double d[3], x[3];
    for (int k = 0; k < 3; k++) {
        d[k] = c->frac[i][k] - c->frac[j][k];
        d[k] -= rint(d[k]);
        if (!(fabs(d[k]) <= lim[k])) return 0;
    }
    for (int k = 0; k < 3; k++) x[k] = d[0] * c->lattice[0][k] + d[1] * c->lattice[1][k] + d[2] * c->lattice[2][k];
    double r2 = x[0] * x[0] + x[1] * x[1] + x[2] * x[2];
    *r = sqrt(r2);
    return r2 < tol * tol;
}

typedef struct xkey {
    double x;
    int i;
} xkey;

static int by_x(const void *a, const void *b)
{
    double xa = ((const xkey *)a)->x, xb = ((const xkey *)b)->x;
    return (xa > xb) - (xa < xb);
}

int cb_crystal_close_pair(const cb_crystal *c, double tol, int *pi, int *pj, double *pr)
{
    double inv[3][3], lim[3];
    if (!cb_mat3_inverse(c->lattice, inv)) return 0; /* cb_crystal_check reports the cell */
    for (int k = 0; k < 3; k++) lim[k] = tol * sqrt(inv[0][k] * inv[0][k] + inv[1][k] * inv[1][k] + inv[2][k] * inv[2][k]);
    int n = c->n;
    if (n <= 64) {
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (too_close(c, lim, tol, i, j, pr)) {
                    *pi = i;
                    *pj = j;
                    return 1;
                }
        return 0;
    }
    /* Large cells (symmetry expansion can give thousands of sites): sites sorted by x,
     * only pairs whose x differ by less than lim[0] compared, round the boundary. */
    xkey *key = malloc((size_t)n * sizeof *key);
    if (!key) return -1;
    for (int i = 0; i < n; i++) {
        key[i].x = c->frac[i][0] - floor(c->frac[i][0]);
        key[i].i = i;
    }
    qsort(key, (size_t)n, sizeof *key, by_x);
    int found = 0;
    for (int a = 0; a < n && !found; a++)
        for (int s = 1; s < n; s++) {
            int b = a + s < n ? a + s : a + s - n;
            double gap = key[b].x - key[a].x + (a + s < n ? 0.0 : 1.0);
            if (gap > lim[0]) break;
            if (too_close(c, lim, tol, key[a].i, key[b].i, pr)) {
                *pi = key[a].i;
                *pj = key[b].i;
                found = 1;
                break;
            }
        }
    free(key);
    return found;
}

double cb_crystal_volume(const cb_crystal *c) { return cb_lattice_volume(c->lattice); }

long long cb_gcd(long long a, long long b)
{
    if (a < 0) a = -a;
    if (b < 0) b = -b;
    while (b) {
        long long t = a % b;
        a = b;
        b = t;
    }
    return a;
}
