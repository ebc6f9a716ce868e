/* Crystal strings, tokens and parsing (crystal_text.h). */
#include "crystal_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/elements.h"

const char *cb_text_token(int tok)
{
    static char coords[101][5];
    static const char *const fixed[] = {"", "", "", "", "", "", "\n", " ", ".", "-"};
    static const char *const digits[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    if (tok < 0 || tok >= CB_TOK_VOCAB) return "";
    if (tok < CB_TOK_DIGIT0) return fixed[tok];
    if (tok < CB_TOK_COORD0) return digits[tok - CB_TOK_DIGIT0];
    if (tok < CB_TOK_ELEMENT1) {
        int k = tok - CB_TOK_COORD0;
        if (!coords[k][0]) snprintf(coords[k], sizeof coords[k], "%d.%02d", k / 100, k % 100);
        return coords[k];
    }
    return cb_element_symbol(tok - CB_TOK_ELEMENT1 + 1);
}

int cb_text_sorted(const cb_crystal *c, cb_crystal *out, cb_error *err)
{
    int rc = cb_crystal_alloc(out, c->n, err);
    if (rc) return rc;
    memcpy(out->lattice, c->lattice, sizeof out->lattice);
    int k = 0;
    for (int z = 0; z <= CB_MAX_Z; z++) /* counting sort: stable */
        for (int i = 0; i < c->n; i++)
            if (c->z[i] == z) {
                out->z[k] = z;
                memcpy(out->frac[k], c->frac[i], sizeof out->frac[k]);
                k++;
            }
    return CB_OK;
}

/* A token sink that also builds the text. */
typedef struct sink {
    int *tok;
    int cap, n;
    char *text;
    size_t tcap, tn;
    int overflow;
} sink;

static void put(sink *s, int tok)
{
    if (s->tok) {
        if (s->n < s->cap) s->tok[s->n] = tok;
        else s->overflow = 1;
    }
    s->n++;
    if (s->text) {
        const char *t = cb_text_token(tok);
        size_t l = strlen(t);
        if (s->tn + l + 1 > s->tcap) s->overflow = 1;
        else memcpy(s->text + s->tn, t, l + 1);
        s->tn += l;
    }
}

static void put_chars(sink *s, const char *str)
{
    for (; *str; str++)
        put(s, *str == '.' ? CB_TOK_DOT : *str == '-' ? CB_TOK_MINUS : CB_TOK_DIGIT0 + (*str - '0'));
}

static int emit(const cb_crystal *c, int angle_trunc, sink *s, cb_error *err)
{
    double p[6];
    cb_lattice_parameters(c->lattice, p);
    char buf[64];
    for (int k = 0; k < 3; k++) {
        if (k) put(s, CB_TOK_SPACE);
        snprintf(buf, sizeof buf, "%.1f", p[k]);
        put_chars(s, buf);
    }
    put(s, CB_TOK_NL);
    for (int k = 3; k < 6; k++) {
        if (k > 3) put(s, CB_TOK_SPACE);
        snprintf(buf, sizeof buf, "%ld", angle_trunc ? (long)p[k] : lround(p[k]));
        put_chars(s, buf);
    }
    cb_crystal sorted = {0};
    int rc = cb_text_sorted(c, &sorted, err);
    if (rc) return rc;
    for (int i = 0; i < sorted.n && !rc; i++) {
        if (sorted.z[i] < 1 || sorted.z[i] > CB_TEXT_MAX_Z) {
            rc = cb_fail(err, CB_ERR_USAGE, "text: element Z = %d is beyond the vocabulary (Z ≤ %d)", sorted.z[i],
                         CB_TEXT_MAX_Z);
            break;
        }
        put(s, CB_TOK_NL);
        put(s, CB_TOK_ELEMENT1 + sorted.z[i] - 1);
        put(s, CB_TOK_NL);
        for (int k = 0; k < 3; k++) {
            if (k) put(s, CB_TOK_SPACE);
            /* the coordinate as "%.2f" prints it (0.995 and above print "1.00") */
            snprintf(buf, sizeof buf, "%.2f", cb_wrap01(sorted.frac[i][k]));
            put(s, CB_TOK_COORD0 + (buf[0] - '0') * 100 + (buf[2] - '0') * 10 + (buf[3] - '0'));
        }
    }
    cb_crystal_free(&sorted);
    return rc;
}

int cb_text_write(const cb_crystal *c, int angle_trunc, char *out, size_t cap, cb_error *err)
{
    sink s = {.text = out, .tcap = cap};
    if (cap) out[0] = 0;
    int rc = emit(c, angle_trunc, &s, err);
    if (!rc && s.overflow) rc = cb_fail(err, CB_ERR_USAGE, "text: the crystal string needs more than %zu bytes", cap);
    return rc;
}

int cb_text_encode(const cb_crystal *c, int angle_trunc, int *out, int cap, int *n, cb_error *err)
{
    sink s = {.tok = out, .cap = cap};
    int rc = emit(c, angle_trunc, &s, err);
    *n = s.n;
    if (!rc && s.overflow) rc = cb_fail(err, CB_ERR_USAGE, "text: the crystal needs %d tokens, more than %d", s.n, cap);
    return rc;
}

int cb_text_composition(const cb_crystal *c, int *out, int cap, int *n, cb_error *err)
{
    int count[CB_MAX_Z + 1] = {0};
    for (int i = 0; i < c->n; i++) {
        if (c->z[i] < 1 || c->z[i] > CB_TEXT_MAX_Z)
            return cb_fail(err, CB_ERR_USAGE, "text: element Z = %d is beyond the vocabulary (Z ≤ %d)", c->z[i],
                           CB_TEXT_MAX_Z);
        count[c->z[i]]++;
    }
    sink s = {.tok = out, .cap = cap};
    int first = 1;
    for (int z = 1; z <= CB_TEXT_MAX_Z; z++) {
        if (!count[z]) continue;
        if (!first) put(&s, CB_TOK_SPACE);
        first = 0;
        put(&s, CB_TOK_ELEMENT1 + z - 1);
        char buf[16];
        snprintf(buf, sizeof buf, "%d", count[z]);
        put_chars(&s, buf);
    }
    *n = s.n;
    return s.overflow ? cb_fail(err, CB_ERR_USAGE, "text: the composition needs %d tokens, more than %d", s.n, cap)
                      : CB_OK;
}

int cb_text_detokenize(const int *tokens, int n, char *out, size_t cap, cb_error *err)
{
    sink s = {.text = out, .tcap = cap};
    if (cap) out[0] = 0;
    for (int i = 0; i < n; i++) put(&s, tokens[i]);
    return s.overflow ? cb_fail(err, CB_ERR_USAGE, "text: more than %zu bytes of text", cap) : CB_OK;
}

/* ---- parsing -------------------------------------------------------------------------- */

/* Exactly `want` numbers separated by single spaces (Python's line.split(" ") then
 * float() of each: an empty field fails). */
static int numbers(const char *line, double *v, int want)
{
    int k = 0;
    const char *p = line;
    for (;;) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char field[64];
        if (len == 0 || len >= sizeof field || k == want) return 0;
        memcpy(field, p, len);
        field[len] = 0;
        char *stop;
        v[k] = strtod(field, &stop);
        if (*stop || !isfinite(v[k])) return 0;
        k++;
        if (!end) break;
        p = end + 1;
    }
    return k == want;
}

int cb_text_parse(const char *text, int max_atoms, cb_crystal *out, cb_error *err)
{
    /* the non-empty lines */
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (!copy) return cb_fail(err, CB_ERR_NOMEM, "text: out of memory");
    memcpy(copy, text, len + 1);
    int nl = 0, cap = 16;
    char **lines = malloc((size_t)cap * sizeof *lines);
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l && lines; l = strtok_r(NULL, "\n", &save)) {
        if (nl == cap) {
            char **g = realloc(lines, (size_t)(cap *= 2) * sizeof *lines);
            if (!g) {
                free(lines);
                lines = NULL;
                break;
            }
            lines = g;
        }
        lines[nl++] = l;
    }
    int rc = CB_OK;
    double p[6];
    if (!lines) rc = cb_fail(err, CB_ERR_NOMEM, "text: out of memory");
    else if (nl < 2 || !numbers(lines[0], p, 3) || p[0] <= 0 || p[1] <= 0 || p[2] <= 0)
        rc = cb_fail(err, CB_ERR_INVALID, "text: line 1 is not three positive lengths");
    else if (!numbers(lines[1], p + 3, 3) || p[3] <= 0 || p[3] >= 180 || p[4] <= 0 || p[4] >= 180 || p[5] <= 0 ||
             p[5] >= 180)
        rc = cb_fail(err, CB_ERR_INVALID, "text: line 2 is not three angles in (0, 180)");
    else if ((nl - 2) % 2)
        rc = cb_fail(err, CB_ERR_INVALID, "text: %d element lines but %d coordinate lines", (nl - 1) / 2, (nl - 2) / 2);
    else if (nl == 2 || (nl - 2) / 2 > max_atoms)
        rc = cb_fail(err, CB_ERR_INVALID, "text: %d atoms (1..%d)", (nl - 2) / 2, max_atoms);
    if (!rc) {
        /* pymatgen's from_parameters: γ* from val = (cos α cos β − cos γ)/(sin α sin β),
         * which must be a cosine */
        double r = M_PI / 180, val = (cos(p[3] * r) * cos(p[4] * r) - cos(p[5] * r)) / (sin(p[3] * r) * sin(p[4] * r));
        if (!(val >= -1 && val <= 1)) rc = cb_fail(err, CB_ERR_INVALID, "text: the angles make no cell");
    }
    int n = rc ? 0 : (nl - 2) / 2;
    if (!rc) rc = cb_crystal_alloc(out, n, err);
    if (!rc) {
        cb_lattice_from_parameters(p, out->lattice);
        double v = cb_lattice_volume(out->lattice);
        if (!isfinite(v) || fabs(v) < 0.1) rc = cb_fail(err, CB_ERR_INVALID, "text: the cell's volume is %g Å³", v);
        for (int i = 0; i < n && !rc; i++) {
            int z = cb_element_from_symbol(lines[2 + 2 * i]);
            double f[3];
            if (z < 1 || z > CB_TEXT_MAX_Z)
                rc = cb_fail(err, CB_ERR_INVALID, "text: '%.16s' is not an element", lines[2 + 2 * i]);
            else if (!numbers(lines[3 + 2 * i], f, 3))
                rc = cb_fail(err, CB_ERR_INVALID, "text: atom %d's coordinates are not three numbers", i + 1);
            else {
                out->z[i] = z;
                for (int k = 0; k < 3; k++) out->frac[i][k] = cb_wrap01(f[k]);
            }
        }
        /* closer than 1e-3 Å: the reference's CIF round trip merges them into one site of
         * occupancy 2 and fails, and no CIF reader here accepts them */
        int i, j;
        double r;
        int close = rc ? 0 : cb_crystal_close_pair(out, 1e-3, &i, &j, &r);
        if (close < 0) rc = cb_fail(err, CB_ERR_NOMEM, "text: out of memory");
        if (close > 0) rc = cb_fail(err, CB_ERR_INVALID, "text: atoms %d and %d coincide", i + 1, j + 1);
        if (rc) cb_crystal_free(out);
    }
    free(lines);
    free(copy);
    return rc;
}
