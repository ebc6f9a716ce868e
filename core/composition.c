/* pymatgen's Composition facts about a structure: element counts, Structure.density and
 * Composition.reduced_formula, replicated operation by operation (metrics.md §1.1).
 *
 * Orders matter for bit-exactness and are documented at each function: Structure.composition
 * is a dict filled in site order, so pymatgen sums the weight, and sorts the formula, over
 * elements in order of first appearance. */
#include "crystalbench/crystal.h"
#include "crystalbench/elements.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pysort.h"

/* pymatgen.core.units: Unit("amu").get_conversion_factor("g") and
 * Length(1, "ang").to("cm") ** 3 (a libm pow(1e-08, 3.0)), as computed by pymatgen
 * 2022.11.7 on Python 3.11: 1.6605390666e-24 and 1.0000000000000001e-24. */
#define AMU_TO_G 0x1.00f4bac17da2fp-79
#define ANG3_TO_CM3 0x1.357c299a88ea8p-80

/* Composition.amount_tolerance */
#define AMOUNT_TOL 1e-8
/* Amounts above this are refused: pymatgen would work with exact Python ints, we use
 * doubles and long long, which are exact up to 2^53. */
#define AMOUNT_MAX 1e15

static int valid_z(int z) { return z >= 1 && z <= CB_MAX_Z; }

/* Distinct elements in order of first appearance among the sites, with their counts.
 * Returns the number of elements, or -1 when a site has an out-of-range Z. */
static int site_order_composition(const cb_crystal *c, int z[CB_MAX_Z], double amount[CB_MAX_Z])
{
    int slot[CB_MAX_Z + 1];
    memset(slot, -1, sizeof slot);
    int n = 0;
    for (int i = 0; i < c->n; i++) {
        int zi = c->z[i];
        if (!valid_z(zi)) return -1;
        if (slot[zi] < 0) {
            slot[zi] = n;
            z[n] = zi;
            amount[n] = 0.0;
            n++;
        }
        amount[slot[zi]] += 1.0;
    }
    return n;
}

/* Structure.density = Mass(composition.weight, "amu").to("g") / (volume * Length(1,
 * "ang").to("cm") ** 3), with weight = sum(amount * el.atomic_mass) over the composition
 * in insertion (= first appearance) order, summed left to right from 0. */
double cb_crystal_density(const cb_crystal *c)
{
    int z[CB_MAX_Z];
    double amount[CB_MAX_Z];
    int n = c ? site_order_composition(c, z, amount) : -1;
    if (n < 1) return NAN;
    double weight = 0.0;
    for (int i = 0; i < n; i++) weight += amount[i] * cb_elements[z[i]].atomic_mass;
    return (weight * AMU_TO_G) / (cb_crystal_volume(c) * ANG3_TO_CM3);
}

int cb_crystal_n_elements(const cb_crystal *c)
{
    unsigned char seen[CB_MAX_Z + 1] = {0};
    int n = 0;
    for (int i = 0; c && i < c->n; i++) {
        int zi = c->z[i];
        if (valid_z(zi) && !seen[zi]) {
            seen[zi] = 1;
            n++;
        }
    }
    return n;
}

/* Sites with an out-of-range Z are left out (cb_crystal_check rejects them earlier). */
void cb_crystal_composition(const cb_crystal *c, cb_composition *comp)
{
    int count[CB_MAX_Z + 1] = {0};
    for (int i = 0; c && i < c->n; i++)
        if (valid_z(c->z[i])) count[c->z[i]]++;
    comp->n_elems = 0;
    for (int z = 1; z <= CB_MAX_Z; z++) {
        if (!count[z]) continue;
        comp->z[comp->n_elems] = z;
        comp->amount[comp->n_elems] = (double)count[z];
        comp->n_elems++;
    }
}

/* ---- formula text ---- */

typedef struct {
    char *buf;
    size_t cap, len;
    int overflow;
} strbuf;

static void put(strbuf *s, const char *text)
{
    size_t n = strlen(text);
    if (s->overflow || s->len + n >= s->cap) {
        s->overflow = 1;
        return;
    }
    memcpy(s->buf + s->len, text, n + 1);
    s->len += n;
}

static void put_int(strbuf *s, long long v)
{
    char t[32];
    snprintf(t, sizeof t, "%lld", v);
    put(s, t);
}

/* Python's repr(float): the shortest digit string that round-trips, written in fixed
 * notation when the decimal exponent is in [-4, 16) (with ".0" for integers), else as
 * "d.ddde+XX". */
static void py_repr(double v, char out[64])
{
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e = "[-]d[.ddd]e[+-]XX" */
    const char *p = e;
    char *o = out;
    if (*p == '-') *o++ = *p++;
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e' && nd < 20; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int x = *p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0;
    if (x < -4 || x >= 16) {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++) *o++ = digits[i];
        }
        snprintf(o, 16, "e%c%02d", x < 0 ? '-' : '+', abs(x) % 1000); /* |x| <= 324 */
        return;
    }
    if (x < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -x - 1; i++) *o++ = '0';
        for (int i = 0; i < nd; i++) *o++ = digits[i];
    } else {
        for (int i = 0; i <= x; i++) *o++ = i < nd ? digits[i] : '0';
        *o++ = '.';
        if (nd <= x + 1) *o++ = '0';
        for (int i = x + 1; i < nd; i++) *o++ = digits[i];
    }
    *o = 0;
}

/* pymatgen.util.string.formula_double_format(a, ignore_ones) */
static void put_amount(strbuf *s, double a, int ignore_ones)
{
    if (ignore_ones && a == 1.0) return;
    double t = trunc(a);
    if (fabs(a - t) < AMOUNT_TOL) {
        put_int(s, (long long)t);
        return;
    }
    /* str(round(a, 8)): Python rounds through the correctly rounded decimal string, which
     * glibc's printf also produces (round-half-even on the exact binary value). */
    char r[64], t2[64];
    snprintf(r, sizeof r, "%.8f", a);
    py_repr(strtod(r, NULL), t2);
    put(s, t2);
}

/* ---- element order ---- */

/* key = [Element.X, symbol] compared as Python lists: X first (equal only if ==, so a NaN
 * never equals anything and NaN < y is false), then the symbol. */
static int lt_x_symbol(int a, int b, const void *ctx)
{
    const int *z = ctx;
    double xa = cb_elements[z[a]].pmg_x, xb = cb_elements[z[b]].pmg_x;
    if (xa == xb) return strcmp(cb_elements[z[a]].symbol, cb_elements[z[b]].symbol) < 0;
    return xa < xb;
}

/* key = Element.X (Composition.formula) */
static int lt_x(int a, int b, const void *ctx)
{
    const int *z = ctx;
    return cb_elements[z[a]].pmg_x < cb_elements[z[b]].pmg_x;
}

/* pymatgen.core.composition.reduce_formula for integer amounts, elements in dict
 * (insertion) order.  Writes the formula to s and returns the factor. */
static long long reduce_formula(int n, const int *z, const long long *amt, strbuf *s)
{
    int order[CB_MAX_Z];
    for (int i = 0; i < n; i++) order[i] = i;
    cb_pysort(order, n, lt_x_symbol, z);
    /* syms = [x for x in syms if abs(amt[x]) > tol] */
    int m = 0;
    for (int i = 0; i < n; i++)
        if (amt[order[i]] != 0) order[m++] = order[i];

    long long factor = 0; /* gcd over every amount, as monty.fractions.gcd */
    for (int i = 0; i < n; i++) factor = cb_gcd(factor, amt[i]);
    if (factor == 0) factor = 1; /* all zero: unreachable, amounts below tol are dropped */

    char poly[96] = "";
    if (m >= 3) {
        int a = order[m - 2], b = order[m - 1];
        double dx = cb_elements[z[b]].pmg_x - cb_elements[z[a]].pmg_x;
        if (dx < 1.65) { /* false for NaN */
            int pz[2] = {z[a], z[b]};
            long long pamt[2] = {amt[a] / factor, amt[b] / factor};
            char form[64];
            strbuf ps = {form, sizeof form, 0, 0};
            form[0] = 0;
            long long pf = reduce_formula(2, pz, pamt, &ps);
            if (pf != 1 && !ps.overflow) snprintf(poly, sizeof poly, "(%s)%lld", form, pf);
        }
    }
    if (poly[0]) m -= 2;
    for (int i = 0; i < m; i++) {
        put(s, cb_elements[z[order[i]]].symbol);
        long long q = amt[order[i]] / factor;
        if (q != 1) put_int(s, q);
    }
    put(s, poly);
    return factor;
}

static const char *const special_formulas[][2] = {
    {"LiO", "Li2O2"}, {"NaO", "Na2O2"}, {"KO", "K2O2"}, {"HO", "H2O2"},
    {"CsO", "Cs2O2"}, {"RbO", "Rb2O2"}, {"O", "O2"},    {"N", "N2"},
    {"F", "F2"},      {"Cl", "Cl2"},    {"H", "H2"},
};

static int fail(char *out, size_t cap)
{
    if (cap) out[0] = 0;
    return -1;
}

int cb_reduced_formula(int n, const int *z, const double *amount, char *out, size_t cap)
{
    if (!out || cap == 0) return -1;
    out[0] = 0;
    if (n < 0 || n > CB_MAX_Z || (n > 0 && (!z || !amount))) return fail(out, cap);

    /* Composition(...): drop |amount| < tol, refuse negatives (pymatgen raises). */
    int kz[CB_MAX_Z];
    double ka[CB_MAX_Z];
    unsigned char seen[CB_MAX_Z + 1] = {0};
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!valid_z(z[i]) || seen[z[i]] || !isfinite(amount[i])) return fail(out, cap);
        seen[z[i]] = 1;
        if (amount[i] < -AMOUNT_TOL || amount[i] > AMOUNT_MAX) return fail(out, cap);
        if (fabs(amount[i]) < AMOUNT_TOL) continue;
        kz[k] = z[i];
        ka[k] = amount[i];
        k++;
    }

    strbuf s = {out, cap, 0, 0};
    int all_int = 1;
    for (int i = 0; i < k; i++)
        if (!(fabs(ka[i] - rint(ka[i])) < AMOUNT_TOL)) all_int = 0;

    if (!all_int) {
        /* self.formula.replace(" ", ""): elements sorted by X alone, amounts unreduced. */
        int order[CB_MAX_Z];
        for (int i = 0; i < k; i++) order[i] = i;
        cb_pysort(order, k, lt_x, kz);
        for (int i = 0; i < k; i++) {
            put(&s, cb_elements[kz[order[i]]].symbol);
            put_amount(&s, ka[order[i]], 0);
        }
        return s.overflow ? fail(out, cap) : (int)s.len;
    }

    long long ia[CB_MAX_Z];
    for (int i = 0; i < k; i++) ia[i] = (long long)rint(ka[i]);
    reduce_formula(k, kz, ia, &s);
    if (s.overflow) return fail(out, cap);
    for (size_t i = 0; i < sizeof special_formulas / sizeof special_formulas[0]; i++) {
        if (strcmp(out, special_formulas[i][0]) == 0) {
            s.len = 0;
            out[0] = 0;
            put(&s, special_formulas[i][1]);
            break;
        }
    }
    return s.overflow ? fail(out, cap) : (int)s.len;
}

int cb_composition_reduced_formula(const cb_composition *comp, char *out, size_t cap)
{
    if (!comp) return fail(out, cap);
    return cb_reduced_formula(comp->n_elems, comp->z, comp->amount, out, cap);
}

int cb_crystal_reduced_formula(const cb_crystal *c, char *out, size_t cap)
{
    int z[CB_MAX_Z];
    double amount[CB_MAX_Z];
    int n = c ? site_order_composition(c, z, amount) : -1;
    if (n < 0) return out && cap ? fail(out, cap) : -1;
    return cb_reduced_formula(n, z, amount, out, cap);
}
