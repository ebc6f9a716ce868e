/* CIF writer: pymatgen's CifWriter(structure) output for an ordered structure, byte
 * for byte (pymatgen/io/cif.py: CifWriter, CifBlock.__str__, _format_field,
 * _loop_to_string), so files compare with `diff` against pymatgen's. */
#include "crystalbench/cif.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/elements.h"
#include "pysort.h"

#define MAXLEN 70 /* CifBlock.maxlen */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 2048;
        while (b->len + n + 1 > cap) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* textwrap.fill(v, 70) as Python 3.11 does it for single-line text: chunks are runs of
 * spaces or of other characters, packed greedily; whitespace at the start (after the
 * first line) and at the end of a line is dropped; a chunk longer than the width is cut
 * to fill the rest of the line (_handle_long_word).  Spaces are held back until the
 * next word shows whether they end the line. */
static void sb_textwrap(sbuf *b, const char *v)
{
    size_t n = strlen(v), i = 0, cur = 0, held = 0;
    int lines = 0;
    while (i < n) {
        size_t j = i;
        int space = v[i] == ' ';
        while (j < n && (v[j] == ' ') == space) j++;
        size_t len = j - i;
        if (space && cur == 0 && lines > 0) { /* leading whitespace of a later line */
            i = j;
            continue;
        }
        if (cur + len <= MAXLEN) {
            if (space) {
                held = len;
            } else {
                if (cur == 0 && lines > 0) sb_puts(b, "\n");
                for (; held; held--) sb_puts(b, " ");
                sb_put(b, v + i, len);
            }
            cur += len;
            i = j;
            continue;
        }
        if (len > MAXLEN) { /* a long chunk fills the rest of this line */
            size_t room = MAXLEN - cur;
            if (cur == 0 && lines > 0) sb_puts(b, "\n");
            if (space) {
                held = 0;
            } else {
                for (; held; held--) sb_puts(b, " ");
                sb_put(b, v + i, room);
            }
            i += room;
        }
        held = 0;
        lines++;
        cur = 0;
    }
}

/* CifBlock._format_field for a value that is already stripped. */
static void sb_field(sbuf *b, const char *v)
{
    size_t n = strlen(v);
    if (n > MAXLEN) {
        sb_puts(b, ";\n");
        sb_textwrap(b, v);
        sb_puts(b, "\n;");
        return;
    }
    if (n == 0) {
        sb_puts(b, "\"\"");
        return;
    }
    int quoted = (v[0] == '\'' && v[n - 1] == '\'') || (v[0] == '"' && v[n - 1] == '"');
    if ((strchr(v, ' ') || v[0] == '_') && !quoted) {
        const char *q = strchr(v, '\'') ? "\"" : "'";
        sb_puts(b, q);
        sb_puts(b, v);
        sb_puts(b, q);
        return;
    }
    sb_puts(b, v);
}

/* One "key   value" item (or key and value on separate lines when long). */
static void sb_item(sbuf *b, const char *key, const char *value)
{
    sbuf f = {0};
    sb_field(&f, value);
    if (f.oom) {
        b->oom = 1;
        return;
    }
    sb_puts(b, "\n");
    sb_puts(b, key);
    sb_puts(b, strlen(key) + f.len + 3 < MAXLEN ? "   " : "\n");
    sb_put(b, f.p, f.len);
    free(f.p);
}

/* One loop row packed as _loop_to_string does: values joined by two spaces, a new line
 * "  value" whenever the 70-column limit would be reached (values never start with ';'
 * here, so no text fields). */
static void sb_row(sbuf *b, const char *const *vals, int n)
{
    size_t cur = 1;
    sb_puts(b, "\n");
    for (int i = 0; i < n; i++) {
        size_t k = strlen(vals[i]);
        if (cur + k + 2 < MAXLEN) {
            sb_puts(b, "  ");
            cur += k + 2;
        } else {
            sb_puts(b, "\n  ");
            cur = k + 3;
        }
        sb_put(b, vals[i], k);
    }
}

static void fmt8(char *buf, size_t cap, double v) { snprintf(buf, cap, "%.8f", v); }

/* Atoms in a pymatgen reduced formula such as "Ca3(PO4)2" or "Li2O2" (integer counts). */
static long formula_atoms(const char **s)
{
    long total = 0;
    while (**s && **s != ')') {
        long part;
        if (**s == '(') {
            (*s)++;
            part = formula_atoms(s);
            if (**s == ')') (*s)++;
        } else {
            (*s)++;
            while (**s >= 'a' && **s <= 'z') (*s)++;
            part = 1;
        }
        if (**s >= '0' && **s <= '9') part *= strtol(*s, (char **)s, 10);
        total += part;
    }
    return total;
}

static int x_lt(int a, int b, const void *ctx)
{
    const int *z = ctx;
    return cb_elements[z[a]].pmg_x < cb_elements[z[b]].pmg_x;
}

/* Composition.formula of the structure: elements in order of first appearance among
 * the sites, sorted by Element.X alone (NaN keys as Python sorts them), "Sym<count>". */
static int formula_sum(const cb_crystal *c, char *out, size_t cap)
{
    int zs[CB_MAX_Z], counts[CB_MAX_Z + 1] = {0}, order[CB_MAX_Z], ne = 0;
    for (int i = 0; i < c->n; i++) {
        if (!counts[c->z[i]]++) zs[ne++] = c->z[i];
    }
    for (int i = 0; i < ne; i++) order[i] = i;
    if (cb_pysort(order, ne, x_lt, zs)) return -1;
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < ne; i++) {
        int z = zs[order[i]];
        int w = snprintf(out + len, cap - len, "%s%s%d", i ? " " : "", cb_elements[z].symbol, counts[z]);
        if (w < 0 || (size_t)w >= cap - len) return -1;
        len += (size_t)w;
    }
    return (int)len;
}

int cb_cif_write(const cb_crystal *c, char **text, size_t *len, cb_error *err)
{
    *text = NULL;
    if (len) *len = 0;
    int rc = cb_crystal_check(c, c->id ? c->id : "crystal", err);
    if (rc) return rc;
    char formula[4096], sum[4096], buf[400];
    if (cb_crystal_reduced_formula(c, formula, sizeof formula) < 0 || formula_sum(c, sum, sizeof sum) < 0)
        return cb_fail(err, CB_ERR_INVALID, "%s: cannot form the chemical formula", c->id ? c->id : "crystal");
    const char *fp = formula;
    long fu_atoms = formula_atoms(&fp);
    double params[6];
    cb_lattice_parameters(c->lattice, params);

    sbuf b = {0};
    sb_puts(&b, "# generated using pymatgen\ndata_");
    sb_put(&b, formula, strlen(formula) > 74 ? 74 : strlen(formula));
    sb_item(&b, "_symmetry_space_group_name_H-M", "P 1");
    static const char *const cell_keys[6] = {"_cell_length_a",    "_cell_length_b",   "_cell_length_c",
                                             "_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma"};
    for (int k = 0; k < 6; k++) {
        fmt8(buf, sizeof buf, params[k]);
        sb_item(&b, cell_keys[k], buf);
    }
    sb_item(&b, "_symmetry_Int_Tables_number", "1");
    sb_item(&b, "_chemical_formula_structural", formula);
    sb_item(&b, "_chemical_formula_sum", sum);
    fmt8(buf, sizeof buf, cb_lattice_volume(c->lattice));
    sb_item(&b, "_cell_volume", buf);
    /* str(int(factor)): the factor is halved for special formulas such as O2 (truncated). */
    snprintf(buf, sizeof buf, "%ld", fu_atoms > 0 ? (long)((double)c->n / (double)fu_atoms) : 0L);
    sb_item(&b, "_cell_formula_units_Z", buf);
    sb_puts(&b, "\nloop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n  1  'x, y, z'");
    sb_puts(&b, "\nloop_\n _atom_site_type_symbol\n _atom_site_label\n _atom_site_symmetry_multiplicity\n"
                " _atom_site_fract_x\n _atom_site_fract_y\n _atom_site_fract_z\n _atom_site_occupancy");
    for (int i = 0; i < c->n; i++) {
        char label[32], x[3][400];
        const char *sym = cb_elements[c->z[i]].symbol;
        snprintf(label, sizeof label, "%s%d", sym, i);
        for (int k = 0; k < 3; k++) fmt8(x[k], sizeof x[k], c->frac[i][k]);
        const char *vals[7] = {sym, label, "1", x[0], x[1], x[2], "1"};
        sb_row(&b, vals, 7);
    }
    sb_puts(&b, "\n");
    if (b.oom) {
        free(b.p);
        return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory writing CIF", c->id ? c->id : "crystal");
    }
    *text = b.p;
    if (len) *len = b.len;
    return 0;
}

int cb_cif_write_file(const cb_crystal *c, const char *path, cb_error *err)
{
    char *text;
    size_t len;
    int rc = cb_cif_write(c, &text, &len, err);
    if (rc) {
        cb_error_prefix(err, "%s", path);
        return rc;
    }
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp) {
        free(text);
        return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, n, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        rc = cb_fail(err, CB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    } else {
        int bad = fwrite(text, 1, len, fp) != len;
        bad |= fflush(fp) != 0;
        int saved = errno;
        bad |= fclose(fp) != 0;
        if (bad) {
            rc = cb_fail(err, CB_ERR_IO, "%s: write failed: %s", tmp, strerror(saved ? saved : errno));
            remove(tmp);
        } else if (rename(tmp, path) != 0) {
            rc = cb_fail(err, CB_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
            remove(tmp);
        }
    }
    free(tmp);
    free(text);
    return rc;
}
