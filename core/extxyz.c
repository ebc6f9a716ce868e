/* Extended XYZ reader and writer.
 *
 * A frame is: an atom-count line; a comment line of key=value pairs holding
 * Lattice="ax ay az bx by bz cx cy cz" (rows = lattice vectors) and
 * Properties=name:type:width:... (default species:S:1:pos:R:3); then one line per atom.
 * species and pos are found by the Properties spec, and other columns (forces:R:3,
 * Z:I:1, ...) are skipped by their declared widths.  Positions are Cartesian (Å).
 *
 * id comes from material_id= (else id=, else the frame number); every other key except
 * Lattice, Properties and pbc becomes a prop with its value's text.
 *
 * Errors: a bad count line or a frame cut short by the end of file ends the stream
 * (there is no safe place to resume); any other problem in a frame (no Lattice, bad
 * number, unknown species, wrong column count) is reported for that frame only and the
 * next call goes on with the next frame. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crystalbench/elements.h"
#include "csv.h"
#include "dataset_impl.h"

#define MAX_ATOMS 10000000L

typedef struct kv {
    char *key, *value;
} kv;

typedef struct xyz {
    cb_textin *in;
    char *path;
    long frame;
    int dead;
} xyz;

static int xyz_open(const char *path, void **state, cb_error *err)
{
    *state = NULL;
    xyz *x = calloc(1, sizeof *x);
    if (!x || !(x->path = cb_ds_strdup(path))) {
        free(x);
        return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    }
    int rc = cb_textin_open(path, &x->in, err);
    if (rc) {
        free(x->path);
        free(x);
        return rc;
    }
    *state = x;
    return CB_OK;
}

static void xyz_close(void *state)
{
    xyz *x = state;
    if (!x) return;
    cb_textin_close(x->in);
    free(x->path);
    free(x);
}

static long xyz_record(const void *state) { return ((const xyz *)state)->frame; }

/* ---- comment line ---- */

static void kv_free(kv *p, int n)
{
    for (int i = 0; i < n; i++) {
        free(p[i].key);
        free(p[i].value);
    }
    free(p);
}

/* Splits the comment line into key=value pairs.  Values may be "quoted" (with \" and \\
 * escapes), {braced} or [bracketed], or bare words; a key without '=' is a flag ("T"). */
static int parse_comment(const char *s, kv **out, int *n_out, cb_error *err)
{
    kv *p = NULL;
    int n = 0, cap = 0, rc = CB_OK;
    char *val = malloc(strlen(s) + 2);
    if (!val) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    for (;;) {
        while (isspace((unsigned char)*s)) s++;
        if (!*s) break;
        const char *k0 = s;
        while (*s && *s != '=' && !isspace((unsigned char)*s)) s++;
        size_t klen = (size_t)(s - k0);
        const char *t = s;
        while (isspace((unsigned char)*t)) t++;
        size_t vlen = 0;
        if (*t == '=' && klen > 0) {
            t++;
            while (isspace((unsigned char)*t)) t++;
            if (*t == '"') {
                for (t++; *t && *t != '"'; t++) {
                    if (*t == '\\' && t[1]) t++;
                    val[vlen++] = *t;
                }
                if (*t != '"') {
                    rc = cb_fail(err, CB_ERR_PARSE, "unterminated quote in the value of '%.*s'",
                                 (int)klen, k0);
                    break;
                }
                t++;
            } else if (*t == '{' || *t == '[') {
                char close = *t == '{' ? '}' : ']';
                const char *e = strchr(t, close);
                if (!e) {
                    rc = cb_fail(err, CB_ERR_PARSE, "unterminated %c in the value of '%.*s'", *t,
                                 (int)klen, k0);
                    break;
                }
                vlen = (size_t)(e - t - 1);
                memcpy(val, t + 1, vlen);
                t = e + 1;
            } else {
                const char *v0 = t;
                while (*t && !isspace((unsigned char)*t)) t++;
                vlen = (size_t)(t - v0);
                memcpy(val, v0, vlen);
            }
            s = t;
        } else if (klen == 0) {
            rc = cb_fail(err, CB_ERR_PARSE, "'=' without a key in the comment line");
            break;
        } else {
            memcpy(val, "T", 1); /* a bare flag */
            vlen = 1;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            kv *np = realloc(p, (size_t)cap * sizeof *np);
            if (!np) {
                rc = cb_fail(err, CB_ERR_NOMEM, "out of memory");
                break;
            }
            p = np;
        }
        p[n].key = cb_ds_strndup(k0, klen);
        p[n].value = cb_ds_strndup(val, vlen);
        n++;
        if (!p[n - 1].key || !p[n - 1].value) {
            rc = cb_fail(err, CB_ERR_NOMEM, "out of memory");
            break;
        }
    }
    free(val);
    if (rc) {
        kv_free(p, n);
        return rc;
    }
    *out = p;
    *n_out = n;
    return CB_OK;
}

static const char *kv_get(const kv *p, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcasecmp(p[i].key, key) == 0) return p[i].value;
    return NULL;
}

/* Where species and pos sit among an atom line's columns. */
typedef struct layout {
    int ncols;
    int species_col;
    int pos_col;
} layout;

static int parse_properties(const char *spec, layout *lay, cb_error *err)
{
    lay->ncols = 0;
    lay->species_col = lay->pos_col = -1;
    char buf[1024];
    if (strlen(spec) >= sizeof buf) return cb_fail(err, CB_ERR_PARSE, "Properties= is too long");
    strcpy(buf, spec);
    char *save = NULL;
    for (char *name = strtok_r(buf, ":", &save); name; name = strtok_r(NULL, ":", &save)) {
        char *type = strtok_r(NULL, ":", &save);
        char *width = type ? strtok_r(NULL, ":", &save) : NULL;
        if (!width)
            return cb_fail(err, CB_ERR_PARSE, "Properties='%s' is not name:type:width triples", spec);
        char *end;
        long w = strtol(width, &end, 10);
        if (*end || w < 1 || w > 1000)
            return cb_fail(err, CB_ERR_PARSE, "Properties='%s': bad width '%s' for %s", spec, width, name);
        if (strcmp(type, "S") && strcmp(type, "R") && strcmp(type, "I") && strcmp(type, "L"))
            return cb_fail(err, CB_ERR_PARSE, "Properties='%s': unknown type '%s' for %s", spec, type, name);
        if (strcmp(name, "species") == 0) {
            if (strcmp(type, "S") || w != 1)
                return cb_fail(err, CB_ERR_PARSE, "Properties='%s': species must be S:1", spec);
            lay->species_col = lay->ncols;
        } else if (strcmp(name, "pos") == 0) {
            if (strcmp(type, "R") || w != 3)
                return cb_fail(err, CB_ERR_PARSE, "Properties='%s': pos must be R:3", spec);
            lay->pos_col = lay->ncols;
        }
        lay->ncols += (int)w;
    }
    if (lay->species_col < 0 || lay->pos_col < 0)
        return cb_fail(err, CB_ERR_PARSE, "Properties='%s' lacks species:S:1 or pos:R:3", spec);
    return CB_OK;
}

static int parse_doubles(const char *s, double *v, int n)
{
    char *end;
    for (int i = 0; i < n; i++) {
        errno = 0;
        v[i] = strtod(s, &end);
        if (end == s || !isfinite(v[i])) return 0;
        s = end;
    }
    while (isspace((unsigned char)*s)) s++;
    return *s == '\0';
}

/* Reads the comment line's Lattice and Properties and the id/props into c. */
static int apply_comment(const kv *p, int n, long frame, cb_crystal *c, layout *lay,
                         double inv[3][3], cb_error *err)
{
    const char *lat = kv_get(p, n, "Lattice");
    if (!lat) return cb_fail(err, CB_ERR_PARSE, "missing Lattice=\"...\" in the comment line");
    double v[9];
    if (!parse_doubles(lat, v, 9))
        return cb_fail(err, CB_ERR_PARSE, "Lattice=\"%.80s\" is not 9 finite numbers", lat);
    double m[3][3];
    for (int i = 0; i < 9; i++) m[i / 3][i % 3] = v[i];
    if (!cb_mat3_inverse(m, inv) || !(cb_lattice_volume(m) >= 1e-6))
        return cb_fail(err, CB_ERR_INVALID, "Lattice=\"%.80s\" has zero volume", lat);
    memcpy(c->lattice, m, sizeof m);
    const char *props = kv_get(p, n, "Properties");
    int rc = parse_properties(props ? props : "species:S:1:pos:R:3", lay, err);
    if (rc) return rc;

    const char *id = kv_get(p, n, "material_id");
    const char *id_key = id ? "material_id" : "id";
    if (!id) id = kv_get(p, n, "id");
    char framebuf[32];
    if (!id) {
        snprintf(framebuf, sizeof framebuf, "%ld", frame);
        id = framebuf;
    }
    if ((rc = cb_crystal_set_id(c, id, err))) return rc;
    for (int i = 0; i < n; i++) {
        const char *k = p[i].key;
        if (!strcasecmp(k, "Lattice") || !strcasecmp(k, "Properties") || !strcasecmp(k, "pbc") ||
            !strcmp(k, id_key))
            continue;
        if ((rc = cb_crystal_add_prop(c, k, p[i].value, err))) return rc;
    }
    return CB_OK;
}

/* Parses one atom line (modified in place) into site k. */
static int parse_atom(char *line, const layout *lay, const double inv[3][3], cb_crystal *c, int k,
                      cb_error *err)
{
    char *tok[3] = {NULL, NULL, NULL};
    const char *species = NULL;
    int col = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save), col++) {
        if (col == lay->species_col) species = t;
        if (col >= lay->pos_col && col < lay->pos_col + 3) tok[col - lay->pos_col] = t;
    }
    if (col != lay->ncols)
        return cb_fail(err, CB_ERR_PARSE, "atom %d: %d columns where Properties declares %d", k + 1, col,
                       lay->ncols);
    int z = cb_element_from_symbol(species);
    if (z < 1 || z > CB_MAX_Z) return cb_fail(err, CB_ERR_INVALID, "atom %d: unknown species '%.20s'", k + 1, species);
    double cart[3];
    for (int i = 0; i < 3; i++) {
        char *end;
        cart[i] = strtod(tok[i], &end);
        if (end == tok[i] || *end || !isfinite(cart[i]))
            return cb_fail(err, CB_ERR_PARSE, "atom %d: non-numeric position '%.30s'", k + 1, tok[i]);
    }
    c->z[k] = z;
    cb_cart_to_frac(inv, cart, c->frac[k]);
    return CB_OK;
}

static int xyz_dead(xyz *x, cb_error *err, cb_status code, const char *what)
{
    x->dead = 1;
    return cb_fail(err, code, "%s: frame %ld: %s", x->path, x->frame, what);
}

static int xyz_next(void *state, cb_crystal *out, cb_error *err)
{
    xyz *x = state;
    if (x->dead) return CB_ERR_EOF;
    char *line;
    size_t len;
    cb_error e;
    int rc;
    do { /* blank lines between frames are allowed */
        rc = cb_textin_getline(x->in, &line, &len, &e);
        if (rc == CB_ERR_EOF) return rc;
        if (rc) {
            x->frame++;
            return xyz_dead(x, err, e.code, e.msg);
        }
        while (len && isspace((unsigned char)line[len - 1])) line[--len] = '\0';
    } while (len == 0);
    x->frame++;
    char msg[CB_ERROR_MSG_MAX];
    long count_line = cb_textin_line(x->in);
    char *end;
    errno = 0;
    long count = strtol(line, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (end == line || *end || errno || count < 0 || count > MAX_ATOMS) {
        snprintf(msg, sizeof msg, "bad atom count '%.40s' (line %ld)", line, count_line);
        return xyz_dead(x, err, CB_ERR_PARSE, msg);
    }
    rc = cb_textin_getline(x->in, &line, &len, &e);
    if (rc) {
        if (rc == CB_ERR_EOF)
            snprintf(msg, sizeof msg, "truncated frame: no comment line after the atom count (line %ld)",
                     count_line);
        else
            snprintf(msg, sizeof msg, "%s", e.msg);
        return xyz_dead(x, err, rc == CB_ERR_EOF ? CB_ERR_PARSE : e.code, msg);
    }

    /* A problem inside the frame is remembered in ferr while the frame's lines are still
     * consumed, so that the next call starts at the next frame. */
    cb_error ferr;
    int frc = CB_OK;
    long comment_line = cb_textin_line(x->in);
    kv *p = NULL;
    int np = 0;
    layout lay = {0, -1, -1};
    double inv[3][3];
    if (count == 0)
        frc = cb_fail(&ferr, CB_ERR_INVALID, "frame has no atoms (line %ld)", count_line);
    else if ((frc = cb_crystal_alloc(out, (int)count, &ferr)) == CB_OK &&
             (frc = parse_comment(line, &p, &np, &ferr)) == CB_OK)
        frc = apply_comment(p, np, x->frame, out, &lay, inv, &ferr);
    if (frc && frc != CB_ERR_NOMEM && count > 0)
        cb_error_prefix(&ferr, "line %ld", comment_line);
    kv_free(p, np);
    for (long k = 0; k < count; k++) {
        rc = cb_textin_getline(x->in, &line, &len, &e);
        if (rc) {
            cb_crystal_free(out);
            if (rc == CB_ERR_EOF)
                snprintf(msg, sizeof msg, "truncated frame: %ld of %ld atom lines before the end of file",
                         k, count);
            else
                snprintf(msg, sizeof msg, "%s", e.msg);
            return xyz_dead(x, err, rc == CB_ERR_EOF ? CB_ERR_PARSE : e.code, msg);
        }
        if (frc == CB_OK && (frc = parse_atom(line, &lay, inv, out, (int)k, &ferr)))
            cb_error_prefix(&ferr, "line %ld", cb_textin_line(x->in));
    }
    if (frc) {
        cb_crystal_free(out);
        return cb_fail(err, (cb_status)frc, "%s: frame %ld: %s", x->path, x->frame, ferr.msg);
    }
    return CB_OK;
}

const cb_reader_ops cb_extxyz_reader_ops = {xyz_open, xyz_next, xyz_record, xyz_close};

/* ================================================================ writer */

/* Keys that a reader of ours or ASE's parses back as written. */
static int key_is_safe(const char *k)
{
    if (!(isalpha((unsigned char)*k) || *k == '_')) return 0;
    for (; *k; k++)
        if (!(isalnum((unsigned char)*k) || *k == '_' || *k == '-' || *k == '.')) return 0;
    return 1;
}

static int value_is_writable(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f) return 0; /* newlines, tabs, control */
    return 1;
}

static void put_value(cb_dsout *o, const char *v)
{
    int bare = *v != '\0';
    for (const char *s = v; *s && bare; s++)
        if (isspace((unsigned char)*s) || strchr("\"\\=,{}[]'", *s)) bare = 0;
    if (bare) {
        cb_dsout_puts(o, v);
        return;
    }
    cb_dsout_puts(o, "\"");
    for (const char *s = v; *s; s++) {
        if (*s == '"' || *s == '\\') cb_dsout_puts(o, "\\");
        cb_dsout_write(o, s, 1);
    }
    cb_dsout_puts(o, "\"");
}

static int reserved_key(const char *k)
{
    return !strcasecmp(k, "Lattice") || !strcasecmp(k, "Properties") || !strcasecmp(k, "pbc") ||
           !strcmp(k, "material_id") || !strcmp(k, "id");
}

int cb_extxyz_write_items(const char *path, const cb_crystal *items, size_t n, cb_error *err)
{
    cb_dsout o;
    int rc = cb_dsout_open(&o, path, err);
    if (rc) return rc;
    for (size_t k = 0; k < n; k++) {
        const cb_crystal *c = &items[k];
        char what[64];
        snprintf(what, sizeof what, "crystal %zu", k + 1);
        if ((rc = cb_crystal_check(c, what, err))) {
            cb_error_prefix(err, "%s", path);
            cb_dsout_abort(&o);
            return rc;
        }
        /* %.12f: 1e-12 Å, far below the 1e-8 round-trip promise, in a fixed layout. */
        cb_dsout_printf(&o, "%d\nLattice=\"", c->n);
        for (int i = 0; i < 9; i++)
            cb_dsout_printf(&o, i ? " %.12f" : "%.12f", c->lattice[i / 3][i % 3]);
        cb_dsout_puts(&o, "\" Properties=species:S:1:pos:R:3");
        if (c->id && value_is_writable(c->id)) {
            cb_dsout_puts(&o, " material_id=");
            put_value(&o, c->id);
        }
        for (int i = 0; i < c->n_props; i++) {
            const cb_prop *pr = &c->props[i];
            if (!key_is_safe(pr->name) || reserved_key(pr->name) || !value_is_writable(pr->value))
                continue;
            cb_dsout_printf(&o, " %s=", pr->name);
            put_value(&o, pr->value);
        }
        cb_dsout_puts(&o, " pbc=\"T T T\"\n");
        for (int i = 0; i < c->n; i++) {
            double cart[3];
            cb_frac_to_cart(c->lattice, c->frac[i], cart);
            cb_dsout_printf(&o, "%-2s %18.12f %18.12f %18.12f\n", cb_element_symbol(c->z[i]), cart[0],
                            cart[1], cart[2]);
        }
    }
    return cb_dsout_commit(&o, err);
}
