/* Jones-notation symmetry operations (see symop.h). */
#include "symop.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t cap, const char *fmt, ...)
{
    if (why && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* An unsigned decimal "12", "0.25", ".5" at s[*i]; converted by strtod so that "1/3"
 * gives the same double as Python's float("1") / float("3"). */
static int read_number(const char *s, size_t n, size_t *i, double *v)
{
    size_t a = *i, b = a;
    while (b < n && is_digit(s[b])) b++;
    if (b < n && s[b] == '.') {
        b++;
        while (b < n && is_digit(s[b])) b++;
    }
    if (b == a || (b == a + 1 && s[a] == '.')) return 0;
    char buf[64];
    if (b - a >= sizeof buf) return -1;
    memcpy(buf, s + a, b - a);
    buf[b - a] = '\0';
    *v = strtod(buf, NULL);
    *i = b;
    return 1;
}

static int axis_of(char c)
{
    switch (c) {
    case 'x':
    case 'X':
        return 0;
    case 'y':
    case 'Y':
        return 1;
    case 'z':
    case 'Z':
        return 2;
    default:
        return -1;
    }
}

static int parse_component(const char *s, size_t n, double r[3], double *t, char *why, size_t cap)
{
    if (n == 0) return fail(why, cap, "empty component");
    size_t i = 0;
    int first = 1;
    while (i < n) {
        double sign = 1.0;
        if (s[i] == '+' || s[i] == '-') {
            sign = s[i] == '-' ? -1.0 : 1.0;
            i++;
        } else if (!first) {
            return fail(why, cap, "expected '+' or '-' before '%c'", s[i]);
        }
        first = 0;
        double value = 1.0, den;
        int rc = read_number(s, n, &i, &value);
        if (rc < 0) return fail(why, cap, "number too long");
        int has_num = rc == 1;
        if (has_num && i < n && s[i] == '/') {
            i++;
            rc = read_number(s, n, &i, &den);
            if (rc != 1) return fail(why, cap, "'/' not followed by a number");
            if (den == 0.0) return fail(why, cap, "division by zero");
            value = value / den;
        }
        if (has_num && i < n && s[i] == '*') i++;
        int axis = i < n ? axis_of(s[i]) : -1;
        if (axis >= 0) {
            r[axis] += sign * value;
            i++;
        } else if (has_num) {
            *t += sign * value;
        } else if (i < n) {
            return fail(why, cap, "unexpected '%c'", s[i]);
        } else {
            return fail(why, cap, "dangling sign");
        }
    }
    return 0;
}

int cb_symop_parse(const char *s, size_t len, cb_symop *op, char *why, size_t why_cap)
{
    char buf[256];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
        if (n + 1 >= sizeof buf) return fail(why, why_cap, "too long");
        buf[n++] = c;
    }
    memset(op, 0, sizeof *op);
    size_t start = 0;
    int comp = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && buf[i] != ',') continue;
        if (comp == 3) return fail(why, why_cap, "more than 3 components");
        char sub[128];
        if (parse_component(buf + start, i - start, op->r[comp], &op->t[comp], sub, sizeof sub))
            return fail(why, why_cap, "component %d: %s", comp + 1, sub);
        comp++;
        start = i + 1;
    }
    if (comp != 3) return fail(why, why_cap, "%d component%s, not 3", comp, comp == 1 ? "" : "s");
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            if (op->r[a][b] != nearbyint(op->r[a][b]))
                return fail(why, why_cap, "non-integer rotation coefficient %g", op->r[a][b]);
    double(*r)[3] = op->r;
    double det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1]) -
                 r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0]) +
                 r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
    if (det != 1.0 && det != -1.0) return fail(why, why_cap, "not a rotation (determinant %g)", det);
    for (int a = 0; a < 3; a++)
        if (!isfinite(op->t[a])) return fail(why, why_cap, "non-finite translation");
    return 0;
}

void cb_symop_apply(const cb_symop *op, const double f[3], double out[3])
{
    for (int a = 0; a < 3; a++) out[a] = op->r[a][0] * f[0] + op->r[a][1] * f[1] + op->r[a][2] * f[2] + op->t[a];
}

int cb_symop_is_identity(const cb_symop *op)
{
    for (int a = 0; a < 3; a++) {
        if (op->t[a] != 0.0) return 0;
        for (int b = 0; b < 3; b++)
            if (op->r[a][b] != (a == b ? 1.0 : 0.0)) return 0;
    }
    return 1;
}
