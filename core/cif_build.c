/* CIF reader, second half: one data block's items → cb_crystal (values, elements, cell,
 * symmetry expansion, duplicate check).  The rules are pymatgen's CifParser where it has
 * one; the contract is in include/crystalbench/cif.h. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cif_internal.h"
#include "crystalbench/cif.h"
#include "crystalbench/elements.h"
#include "pysort.h"
#include "symop.h"

/* pymatgen's CifParser site_tolerance: images of one site closer than this in every
 * fractional component (with periodic wrap) are one site. */
#define SITE_TOL 1e-4
/* Two atoms of any species closer than this (Å) after merging are an error. */
#define DUPLICATE_TOL 1e-3
/* Occupancies within this of 1 count as full. */
#define OCCU_TOL 1e-4
/* Upper bound on sites after symmetry expansion, so absurd input cannot exhaust memory. */
#define MAX_SITES 2000000

static const char *const cell_names[6] = {"_cell_length_a",    "_cell_length_b",   "_cell_length_c",
                                          "_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma"};

static const char *src_of(const cif_ctx *cx) { return cx->src ? cx->src : "<cif>"; }

/* ------------------------------------------------------------------ values */

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

enum { NUM_OK = 0, NUM_UNKNOWN = 1, NUM_BAD = 2 };

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* A CIF number: [+-] (digits [. digits] | . digits) [(e|E) [+-] digits] with an optional
 * standard uncertainty "(5)" (closing parenthesis optional, as pymatgen allows).
 * Unquoted "?" and "." are unknown.  NaN, inf and hex floats are not CIF numbers.
 * Short decimals are converted exactly by Clinger's fast path (mantissa < 2^53, power
 * of ten <= 22: one correctly rounded multiplication or division); others by strtod, so
 * every value is the correctly rounded double, identical to Python's float(). */
static int cif_number(const cif_tok *t, double *out)
{
    const char *p = t->p, *end = t->p + t->len;
    if (t->kind == CIF_TOK_WORD && t->len == 1 && (p[0] == '?' || p[0] == '.')) return NUM_UNKNOWN;
    const char *s = p;
    int neg = 0;
    if (p < end && (*p == '+' || *p == '-')) neg = *p++ == '-';
    uint64_t m = 0;
    int sig = 0, frac_digits = 0, ndigits = 0;
    for (; p < end && is_digit(*p); p++, ndigits++)
        if (sig || *p != '0') {
            if (sig < 19) m = m * 10 + (uint64_t)(*p - '0');
            sig++;
        }
    if (p < end && *p == '.') {
        for (p++; p < end && is_digit(*p); p++, ndigits++, frac_digits++)
            if (sig || *p != '0') {
                if (sig < 19) m = m * 10 + (uint64_t)(*p - '0');
                sig++;
            }
    }
    if (ndigits == 0) return NUM_BAD;
    long exp10 = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p == end || !is_digit(*p)) return NUM_BAD;
        for (; p < end && is_digit(*p); p++)
            if (exp10 < 100000) exp10 = exp10 * 10 + (*p - '0');
        if (eneg) exp10 = -exp10;
    }
    const char *num_end = p;
    if (p < end && *p == '(') {
        p++;
        while (p < end && is_digit(*p)) p++;
        if (p < end && *p == ')') p++;
    }
    if (p != end) return NUM_BAD;
    /* Digits dropped after 19 significant ones only matter on the strtod path. */
    long e = exp10 - frac_digits;
    if (sig <= 15 && e >= -22 && e <= 22) {
        double v = (double)m;
        v = e < 0 ? v / pow10_exact[-e] : v * pow10_exact[e];
        *out = neg ? -v : v;
        return NUM_OK;
    }
    char buf[128];
    size_t n = (size_t)(num_end - s);
    if (n >= sizeof buf) {
        /* Very long digit strings: still a number, and strtod needs it whole. */
        char *big = malloc(n + 1);
        if (!big) return NUM_BAD;
        memcpy(big, s, n);
        big[n] = '\0';
        *out = strtod(big, NULL);
        free(big);
        return NUM_OK;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return NUM_OK;
}

/* The i-th value of a field. */
static const cif_tok *val(const cif_block *b, const cif_field *f, int i)
{
    return &b->tok[f->first + (size_t)i * f->stride];
}

/* A finite number from field f row i; what names it in messages. */
static int get_number(const cif_ctx *cx, const cif_block *b, const cif_field *f, int i, const char *what, double *v)
{
    const cif_tok *t = val(b, f, i);
    char show[48];
    switch (cif_number(t, v)) {
    case NUM_UNKNOWN:
        return cb_fail(cx->err, CB_ERR_INVALID, "%s: line %d: %s is unknown ('%s')", src_of(cx), t->line, what,
                       cif_tok_show(t, show, sizeof show));
    case NUM_BAD:
        return cb_fail(cx->err, CB_ERR_INVALID, "%s: line %d: %s is not a number: '%s'", src_of(cx), t->line, what,
                       cif_tok_show(t, show, sizeof show));
    default:
        break;
    }
    if (!isfinite(*v))
        return cb_fail(cx->err, CB_ERR_INVALID, "%s: line %d: %s is not a finite number: '%s'", src_of(cx), t->line,
                       what, cif_tok_show(t, show, sizeof show));
    return 0;
}

/* ------------------------------------------------------------------ elements */

static int is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* pymatgen's CifParser._parse_symbol rule: the first two letters title-cased if they
 * name an element, else the first letter.  Returns Z (0 if none) and the length used. */
static int leading_element(const char *p, size_t n, size_t *used)
{
    char sym[3] = {0, 0, 0};
    if (n == 0 || !is_alpha(p[0])) return 0;
    if (n >= 2 && is_alpha(p[1])) {
        sym[0] = p[0];
        sym[1] = p[1];
        int z = cb_element_from_symbol(sym);
        if (z) {
            *used = 2;
            return z;
        }
    }
    sym[0] = p[0];
    sym[1] = '\0';
    *used = 1;
    return cb_element_from_symbol(sym);
}

/* _atom_site_type_symbol: an element, optionally with an oxidation state ("Fe2+",
 * "O2-", "Fe+3", "Mn3.5+").  Anything else (mixed sites such as "Nb,Zr") is rejected. */
static int element_from_type_symbol(const char *p, size_t n)
{
    size_t used = 0;
    int z = leading_element(p, n, &used);
    if (!z) return 0;
    for (size_t i = used; i < n; i++)
        if (!is_digit(p[i]) && p[i] != '+' && p[i] != '-' && p[i] != '.') return 0;
    return z;
}

/* _atom_site_label: leading letters name the element, the rest is free ("Fe1", "O2a"). */
static int element_from_label(const char *p, size_t n)
{
    size_t used = 0;
    return leading_element(p, n, &used);
}

/* ------------------------------------------------------------------ building a crystal */

/* Checks that the atom_site columns present come from one loop with one row count. */
static int check_columns(const cif_ctx *cx, const cif_block *b, const int *ids, int nids, int rows)
{
    int loop = b->f[ids[0]].loop;
    for (int k = 0; k < nids; k++) {
        const cif_field *f = &b->f[ids[k]];
        if (!f->count) continue;
        if (f->count != rows || f->loop != loop)
            return cb_fail(cx->err, CB_ERR_PARSE,
                           "%s: line %d: atom_site items are not in one loop (%s has %d values, %s has %d)",
                           src_of(cx), f->line, cif_field_name(ids[k]), f->count, cif_field_name(ids[0]), rows);
    }
    return 0;
}

static int parse_cell(const cif_ctx *cx, const cif_block *b, double params[6])
{
    char show[48];
    for (int k = 0; k < 6; k++) {
        const cif_field *f = &b->f[F_CELL_A + k];
        if (!f->count)
            return cb_fail(cx->err, CB_ERR_INVALID, "%s: line %d: data block '%s' has atoms but no %s", src_of(cx),
                           b->line, cif_tok_show(&b->name, show, sizeof show), cell_names[k]);
        int rc = get_number(cx, b, f, 0, cell_names[k], &params[k]);
        if (rc) return rc;
        const cif_tok *t = val(b, f, 0);
        if (k < 3 && !(params[k] > 0))
            return cb_fail(cx->err, CB_ERR_INVALID, "%s: line %d: %s must be positive, not %s", src_of(cx), t->line,
                           cell_names[k], cif_tok_show(t, show, sizeof show));
        if (k >= 3 && !(params[k] > 0 && params[k] < 180))
            return cb_fail(cx->err, CB_ERR_INVALID,
                           "%s: line %d: %s must be strictly between 0 and 180 degrees, not %s", src_of(cx),
                           t->line, cell_names[k], cif_tok_show(t, show, sizeof show));
    }
    return 0;
}

/* "P 1", "P1", "P_1" (H-M or Hall): the identity alone is correct. */
static int is_p1_name(const cif_tok *t)
{
    char buf[8];
    size_t n = 0;
    for (unsigned i = 0; i < t->len; i++) {
        char c = t->p[i];
        if (c == ' ' || c == '_') continue;
        if (n + 1 >= sizeof buf) return 0;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return strcmp(buf, "P1") == 0 || strcmp(buf, "p1") == 0;
}

/* Symmetry operations of the block (pymatgen's preference order), or the identity. */
static int parse_symops(const cif_ctx *cx, const cif_block *b, cb_symop **ops, int *nops)
{
    char show[48];
    const cif_field *f = b->f[F_SYMOP_1].count ? &b->f[F_SYMOP_1] : b->f[F_SYMOP_2].count ? &b->f[F_SYMOP_2] : NULL;
    if (!f) {
        static const int sg_fields[] = {F_SG_HM_1, F_SG_HM_2, F_SG_HALL_1, F_SG_HALL_2};
        for (size_t k = 0; k < sizeof sg_fields / sizeof sg_fields[0]; k++) {
            const cif_field *g = &b->f[sg_fields[k]];
            if (!g->count) continue;
            const cif_tok *t = val(b, g, 0);
            if (t->kind == CIF_TOK_WORD && t->len == 1 && (t->p[0] == '?' || t->p[0] == '.')) continue;
            if (!is_p1_name(t))
                return cb_fail(cx->err, CB_ERR_UNSUPPORTED,
                               "%s: line %d: space group '%s' given without symmetry operations "
                               "(_symmetry_equiv_pos_as_xyz or _space_group_symop_operation_xyz needed)",
                               src_of(cx), t->line, cif_tok_show(t, show, sizeof show));
        }
        for (int k = F_SG_NUM_1; k <= F_SG_NUM_2; k++) {
            const cif_field *g = &b->f[k];
            double num;
            if (g->count && cif_number(val(b, g, 0), &num) == NUM_OK && num != 1.0)
                return cb_fail(cx->err, CB_ERR_UNSUPPORTED,
                               "%s: line %d: space group number %g given without symmetry operations", src_of(cx),
                               g->line, num);
        }
    }
    int n = f ? f->count : 1;
    cb_symop *v = malloc((size_t)n * sizeof *v);
    if (!v) return cb_fail(cx->err, CB_ERR_NOMEM, "%s: out of memory", src_of(cx));
    if (!f) {
        static const cb_symop identity = {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, {0, 0, 0}};
        v[0] = identity;
    }
    for (int i = 0; f && i < n; i++) {
        const cif_tok *t = val(b, f, i);
        char why[128];
        if (cb_symop_parse(t->p, t->len, &v[i], why, sizeof why)) {
            free(v);
            return cb_fail(cx->err, CB_ERR_PARSE, "%s: line %d: bad symmetry operation '%s': %s", src_of(cx),
                           t->line, cif_tok_show(t, show, sizeof show), why);
        }
    }
    *ops = v;
    *nops = n;
    return 0;
}

/* One asymmetric-unit row, ready for expansion. */
typedef struct asym {
    int z;
    int line;
    double f[3];
} asym;

/* Element, occupancy and fractional coordinates of each atom_site row.  Rows with
 * occupancy exactly 0 (an empty site, which pymatgen drops too) are skipped. */
static int read_atoms(const cif_ctx *cx, const cif_block *b, const double params[6], asym *rows, int *nrows)
{
    static const int frac_ids[] = {F_FRACT_X, F_FRACT_Y, F_FRACT_Z, F_TYPE_SYMBOL, F_LABEL, F_OCCUPANCY};
    static const int cart_ids[] = {F_CARTN_X, F_CARTN_Y, F_CARTN_Z, F_TYPE_SYMBOL, F_LABEL, F_OCCUPANCY};
    int cart = !b->f[F_FRACT_X].count;
    const int *ids = cart ? cart_ids : frac_ids;
    const cif_field *fx = &b->f[ids[0]];
    int n = fx->count, rc;
    char show[48];
    for (int k = 1; k < 3; k++)
        if (!b->f[ids[k]].count)
            return cb_fail(cx->err, CB_ERR_INVALID, "%s: line %d: %s without %s", src_of(cx), fx->line,
                           cif_field_name(ids[0]), cif_field_name(ids[k]));
    if (!b->f[F_TYPE_SYMBOL].count && !b->f[F_LABEL].count)
        return cb_fail(cx->err, CB_ERR_INVALID,
                       "%s: line %d: atom sites have neither _atom_site_type_symbol nor "
                       "_atom_site_label",
                       src_of(cx), fx->line);
    if ((rc = check_columns(cx, b, ids, 6, n))) return rc;

    double to_frac[3][3];
    if (cart) {
        /* CIF's default Cartesian frame: a along x, b in the xy plane (the
         * _atom_sites_Cartn_transform_axes default that Avogadro and PDB use). */
        double ca = cos(params[3] * (M_PI / 180)), cb = cos(params[4] * (M_PI / 180));
        double cg = cos(params[5] * (M_PI / 180)), sg = sin(params[5] * (M_PI / 180));
        double cy = (ca - cb * cg) / sg;
        double czz = 1 - cb * cb - cy * cy;
        double m[3][3] = {{params[0], 0, 0},
                          {params[1] * cg, params[1] * sg, 0},
                          {params[2] * cb, params[2] * cy, params[2] * sqrt(czz > 0 ? czz : 0)}};
        if (!cb_mat3_inverse(m, to_frac))
            return cb_fail(cx->err, CB_ERR_INVALID, "%s: line %d: cell is degenerate", src_of(cx), fx->line);
    }
    int out = 0;
    for (int i = 0; i < n; i++) {
        asym *a = &rows[out];
        const cif_tok *xt = val(b, fx, i);
        a->line = xt->line;
        int z = 0;
        if (b->f[F_TYPE_SYMBOL].count) {
            const cif_tok *t = val(b, &b->f[F_TYPE_SYMBOL], i);
            if (!(t->kind == CIF_TOK_WORD && t->len == 1 && (t->p[0] == '?' || t->p[0] == '.'))) {
                z = element_from_type_symbol(t->p, t->len);
                if (!z)
                    return cb_fail(cx->err, CB_ERR_INVALID,
                                   "%s: line %d: unknown element '%s' in _atom_site_type_symbol", src_of(cx),
                                   t->line, cif_tok_show(t, show, sizeof show));
            }
        }
        if (!z) {
            if (!b->f[F_LABEL].count)
                return cb_fail(cx->err, CB_ERR_INVALID,
                               "%s: line %d: atom site without element (type symbol '?' and no label)", src_of(cx),
                               xt->line);
            const cif_tok *t = val(b, &b->f[F_LABEL], i);
            z = element_from_label(t->p, t->len);
            if (!z)
                return cb_fail(cx->err, CB_ERR_INVALID, "%s: line %d: unknown element in _atom_site_label '%s'",
                               src_of(cx), t->line, cif_tok_show(t, show, sizeof show));
        }
        a->z = z;

        if (b->f[F_OCCUPANCY].count) {
            const cif_tok *t = val(b, &b->f[F_OCCUPANCY], i);
            double occ;
            int kind = cif_number(t, &occ);
            if (kind == NUM_BAD || (kind == NUM_OK && !isfinite(occ)))
                return cb_fail(cx->err, CB_ERR_INVALID, "%s: line %d: _atom_site_occupancy is not a number: '%s'",
                               src_of(cx), t->line, cif_tok_show(t, show, sizeof show));
            if (kind == NUM_OK) {
                if (occ < 0 || occ > 1 + OCCU_TOL)
                    return cb_fail(cx->err, CB_ERR_INVALID, "%s: line %d: occupancy %s is outside [0, 1]",
                                   src_of(cx), t->line, cif_tok_show(t, show, sizeof show));
                if (occ == 0) continue;
                if (occ < 1 - OCCU_TOL)
                    return cb_fail(cx->err, CB_ERR_UNSUPPORTED,
                                   "%s: line %d: disordered structure not supported (partial occupancy %s)",
                                   src_of(cx), t->line, cif_tok_show(t, show, sizeof show));
            }
        }

        double c[3];
        for (int k = 0; k < 3; k++)
            if ((rc = get_number(cx, b, &b->f[ids[k]], i, cif_field_name(ids[k]), &c[k]))) return rc;
        if (cart) {
            cb_cart_to_frac(to_frac, c, a->f);
        } else {
            memcpy(a->f, c, sizeof c);
            if (cx->opt && cx->opt->snap_thirds)
                for (int k = 0; k < 3; k++) {
                    /* CifParser._sanitize_data, term for term. */
                    if (fabs(1 - a->f[k] / (1 / 3.0)) < 1e-4)
                        a->f[k] = 1 / 3.0;
                    else if (fabs(1 - a->f[k] / (2 / 3.0)) < 1e-4)
                        a->f[k] = 2 / 3.0;
                }
        }
        for (int k = 0; k < 3; k++)
            if (!isfinite(a->f[k]) || fabs(a->f[k]) > 1e9)
                return cb_fail(cx->err, CB_ERR_INVALID, "%s: line %d: atom coordinate out of range", src_of(cx),
                               xt->line);
        out++;
    }
    *nrows = out;
    return 0;
}

static int same_site(const double a[3], const double b[3])
{
    for (int k = 0; k < 3; k++) {
        double d = a[k] - b[k];
        d -= rint(d);
        if (!(fabs(d) < SITE_TOL)) return 0;
    }
    return 1;
}

static int report_duplicate(const cif_ctx *cx, const cb_crystal *c, const int *line, int i, int j, double r)
{
    if (i > j) {
        int t = i;
        i = j;
        j = t;
    }
    return cb_fail(
        cx->err, CB_ERR_INVALID,
        "%s: line %d: duplicate atoms at (%.4f, %.4f, %.4f): %s (line %d) and %s (line %d) are %.1e A apart",
        src_of(cx), line[j], c->frac[i][0], c->frac[i][1], c->frac[i][2], cb_element_symbol(c->z[i]), line[i],
        cb_element_symbol(c->z[j]), line[j], r);
}

/* Any two atoms closer than DUPLICATE_TOL Å is an error. */
static int check_duplicates(const cif_ctx *cx, const cb_crystal *c, const int *line)
{
    int i, j;
    double r;
    int found = cb_crystal_close_pair(c, DUPLICATE_TOL, &i, &j, &r);
    if (found < 0) return cb_fail(cx->err, CB_ERR_NOMEM, "%s: out of memory", src_of(cx));
    return found ? report_duplicate(cx, c, line, i, j, r) : 0;
}

/* pymatgen orders a parsed CIF's sites in two sorts: coord_to_species items sorted by
 * Composition (for one element per site: decreasing Element order, i.e. X with NaN as
 * +inf, then symbol), then Structure.get_sorted_structure (PeriodicSite.__lt__: average
 * electronegativity with NaN comparing false both ways, then symbol), both stable.  The
 * second is not a total order when X is NaN, so it runs through cb_pysort, which
 * reproduces CPython's list.sort comparison by comparison. */
static int element_lt(int za, int zb)
{
    double xa = cb_elements[za].pmg_x, xb = cb_elements[zb].pmg_x;
    if (xa != xa) xa = INFINITY;
    if (xb != xb) xb = INFINITY;
    if (xa != xb) return xa < xb;
    return strcmp(cb_elements[za].symbol, cb_elements[zb].symbol) < 0;
}

static int comp_lt(int a, int b, const void *ctx)
{
    const int *z = ctx;
    return element_lt(z[b], z[a]);
}

static int site_lt(int a, int b, const void *ctx)
{
    const int *z = ctx;
    double xa = cb_elements[z[a]].pmg_x, xb = cb_elements[z[b]].pmg_x;
    if (xa < xb) return 1;
    if (xa > xb) return 0;
    return strcmp(cb_elements[z[a]].symbol, cb_elements[z[b]].symbol) < 0;
}

static int pymatgen_sort(const cif_ctx *cx, cb_crystal *c, int *line)
{
    int n = c->n;
    int *idx = malloc((size_t)n * sizeof *idx);
    int *z2 = malloc((size_t)n * sizeof *z2);
    int *l2 = malloc((size_t)n * sizeof *l2);
    double(*f2)[3] = malloc((size_t)n * sizeof *f2);
    int rc = 0;
    if (!idx || !z2 || !l2 || !f2) {
        rc = cb_fail(cx->err, CB_ERR_NOMEM, "%s: out of memory", src_of(cx));
        goto done;
    }
    for (int i = 0; i < n; i++) idx[i] = i;
    if (cb_pysort(idx, n, comp_lt, c->z) || cb_pysort(idx, n, site_lt, c->z)) {
        rc = cb_fail(cx->err, CB_ERR_NOMEM, "%s: out of memory", src_of(cx));
        goto done;
    }
    for (int i = 0; i < n; i++) {
        z2[i] = c->z[idx[i]];
        l2[i] = line[idx[i]];
        memcpy(f2[i], c->frac[idx[i]], sizeof f2[i]);
    }
    memcpy(c->z, z2, (size_t)n * sizeof *z2);
    memcpy(line, l2, (size_t)n * sizeof *l2);
    memcpy(c->frac, f2, (size_t)n * sizeof *f2);
done:
    free(idx);
    free(z2);
    free(l2);
    free(f2);
    return rc;
}

/* Applies every operation to every row (row order, then operation order, as pymatgen's
 * _unique_coords), wraps into [0, 1), and keeps an image unless it coincides with an
 * earlier image of the same row. */
static void expand(const asym *rows, int nrows, const cb_symop *ops, int nops, cb_crystal *c, int *line)
{
    int n = 0;
    for (int i = 0; i < nrows; i++) {
        int first = n;
        for (int o = 0; o < nops; o++) {
            double f[3];
            cb_symop_apply(&ops[o], rows[i].f, f);
            for (int k = 0; k < 3; k++) f[k] -= floor(f[k]);
            int dup = 0;
            for (int j = first; j < n && !dup; j++) dup = same_site(c->frac[j], f);
            if (dup) continue;
            c->z[n] = rows[i].z;
            memcpy(c->frac[n], f, sizeof f);
            line[n] = rows[i].line;
            n++;
        }
    }
    c->n = n;
}

int cif_build_crystal(const cif_ctx *cx, const cif_block *b, cb_crystal *c)
{
    int rc, nops = 0, nrows = 0;
    double params[6], lat[3][3];
    cb_symop *ops = NULL;
    asym *rows = NULL;
    int *line = NULL;
    char show[48];
    memset(c, 0, sizeof *c);

    if ((rc = parse_cell(cx, b, params))) return rc;
    cb_lattice_from_parameters(params, lat);
    /* Relative to a·b·c: angles that only just fail to close (120, 120, 120) leave a
     * rounding-error volume far above any absolute threshold. */
    double vol = cb_lattice_volume(lat);
    if (!(vol >= 1e-6) || !(vol >= 1e-6 * params[0] * params[1] * params[2]))
        return cb_fail(cx->err, CB_ERR_INVALID,
                       "%s: line %d: cell angles (%g, %g, %g) give a zero or degenerate volume (%g A^3)",
                       src_of(cx), b->f[F_CELL_ALPHA].line, params[3], params[4], params[5], vol);
    if ((rc = parse_symops(cx, b, &ops, &nops))) return rc;

    int n_in = b->f[F_FRACT_X].count ? b->f[F_FRACT_X].count : b->f[F_CARTN_X].count;
    rows = malloc((size_t)n_in * sizeof *rows);
    if (!rows) {
        rc = cb_fail(cx->err, CB_ERR_NOMEM, "%s: out of memory", src_of(cx));
        goto done;
    }
    if ((rc = read_atoms(cx, b, params, rows, &nrows))) goto done;
    if (nrows == 0) {
        rc = cb_fail(cx->err, CB_ERR_INVALID, "%s: line %d: no atoms in data block '%s' (every occupancy is 0)",
                     src_of(cx), b->line, cif_tok_show(&b->name, show, sizeof show));
        goto done;
    }
    if ((long long)nrows * nops > MAX_SITES) {
        rc = cb_fail(cx->err, CB_ERR_UNSUPPORTED, "%s: line %d: too many atoms (%d sites x %d symmetry operations)",
                     src_of(cx), b->line, nrows, nops);
        goto done;
    }
    int cap = nrows * nops;
    line = malloc((size_t)cap * sizeof *line);
    if (!line || (rc = cb_crystal_alloc(c, cap, cx->err))) {
        if (!rc) rc = cb_fail(cx->err, CB_ERR_NOMEM, "%s: out of memory", src_of(cx));
        goto done;
    }
    memcpy(c->lattice, lat, sizeof lat);
    expand(rows, nrows, ops, nops, c, line);
    if (c->n < cap) {
        /* Shrinking never fails in practice; keep the larger block if it does. */
        int *z = realloc(c->z, (size_t)c->n * sizeof *z);
        double(*f)[3] = realloc(c->frac, (size_t)c->n * sizeof *f);
        if (z) c->z = z;
        if (f) c->frac = f;
    }
    if (cx->opt && cx->opt->pymatgen_order && (rc = pymatgen_sort(cx, c, line))) goto done;
    if ((rc = check_duplicates(cx, c, line))) goto done;
    if (b->name.len) {
        char *id = malloc(b->name.len + 1);
        if (!id) {
            rc = cb_fail(cx->err, CB_ERR_NOMEM, "%s: out of memory", src_of(cx));
            goto done;
        }
        memcpy(id, b->name.p, b->name.len);
        id[b->name.len] = '\0';
        c->id = id;
    }
    rc = cb_crystal_check(c, src_of(cx), cx->err);
done:
    free(ops);
    free(rows);
    free(line);
    if (rc) cb_crystal_free(c);
    return rc;
}
