/* CIF reader: data blocks → cb_crystal (contract in include/crystalbench/cif.h).
 *
 * One pass: the lexer (cif_lex.c) hands out tokens that point into the text; the values
 * of the current block that matter (cell, atom_site and symmetry items) are kept in a
 * token vector, and each block is turned into a crystal (cif_build.c) when the next
 * block starts.
 * Only blocks with atom sites give crystals; other blocks (and global_ blocks and save_
 * frames) are checked for syntax and skipped. */
#include "crystalbench/cif.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cif_internal.h"

/* Tags in lower case with '.' written as '_', so DDLm names (_cell.length_a) match too. */
#define TAG(name, id)                                                                                              \
    {                                                                                                              \
        name, sizeof name - 1, id                                                                                  \
    }
static const struct {
    const char *name;
    size_t len;
    int id;
} known_tags[] = {
    TAG("_cell_length_a", F_CELL_A),
    TAG("_cell_length_b", F_CELL_B),
    TAG("_cell_length_c", F_CELL_C),
    TAG("_cell_angle_alpha", F_CELL_ALPHA),
    TAG("_cell_angle_beta", F_CELL_BETA),
    TAG("_cell_angle_gamma", F_CELL_GAMMA),
    TAG("_atom_site_fract_x", F_FRACT_X),
    TAG("_atom_site_fract_y", F_FRACT_Y),
    TAG("_atom_site_fract_z", F_FRACT_Z),
    TAG("_atom_site_cartn_x", F_CARTN_X),
    TAG("_atom_site_cartn_y", F_CARTN_Y),
    TAG("_atom_site_cartn_z", F_CARTN_Z),
    TAG("_atom_site_type_symbol", F_TYPE_SYMBOL),
    TAG("_atom_site_label", F_LABEL),
    TAG("_atom_site_occupancy", F_OCCUPANCY),
    TAG("_symmetry_equiv_pos_as_xyz", F_SYMOP_1),
    TAG("_space_group_symop_operation_xyz", F_SYMOP_2),
    TAG("_symmetry_space_group_name_h-m", F_SG_HM_1),
    TAG("_space_group_name_h-m_alt", F_SG_HM_2),
    TAG("_symmetry_space_group_name_hall", F_SG_HALL_1),
    TAG("_space_group_name_hall", F_SG_HALL_2),
    TAG("_symmetry_int_tables_number", F_SG_NUM_1),
    TAG("_space_group_it_number", F_SG_NUM_2),
};

const char *cif_field_name(int id)
{
    for (size_t k = 0; k < sizeof known_tags / sizeof known_tags[0]; k++)
        if (known_tags[k].id == id) return known_tags[k].name;
    return "?";
}

typedef struct tokvec {
    cif_tok *v;
    int n, cap;
    cif_tok small[256]; /* pymatgen-written CIFs need ~60 value tokens: no malloc */
} tokvec;

typedef struct parser {
    cif_lexer lx;
    cif_tok t; /* current token */
    tokvec tv;
    const char *src;
    const cb_cif_options *opt;
    cb_error *err;
} parser;

static const char *src_of(const parser *ps) { return ps->src ? ps->src : "<cif>"; }

static int push(parser *ps, const cif_tok *t)
{
    tokvec *tv = &ps->tv;
    if (tv->n == tv->cap) {
        if (tv->cap > INT32_MAX / 2) return cb_fail(ps->err, CB_ERR_NOMEM, "%s: too many values", src_of(ps));
        int cap = tv->cap * 2;
        cif_tok *v = tv->v == tv->small ? malloc((size_t)cap * sizeof *v) : realloc(tv->v, (size_t)cap * sizeof *v);
        if (!v) return cb_fail(ps->err, CB_ERR_NOMEM, "%s: out of memory", src_of(ps));
        if (tv->v == tv->small) memcpy(v, tv->small, sizeof tv->small);
        tv->v = v;
        tv->cap = cap;
    }
    tv->v[tv->n++] = *t;
    return 0;
}

static int next(parser *ps) { return cif_lex_next(&ps->lx, &ps->t, ps->err); }

/* Case-insensitive, with '.' matching '_'; the name is lower case.  Names are compared
 * from the end, where known tags differ, after a length check. */
static int tag_is(const cif_tok *t, const char *name, size_t len)
{
    if (t->len != len) return 0;
    for (size_t i = len; i-- > 0;) {
        char c = t->p[i];
        c = c == '.' ? '_' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        if (c != name[i]) return 0;
    }
    return 1;
}

static int tag_id(const cif_tok *t)
{
    for (size_t k = 0; k < sizeof known_tags / sizeof known_tags[0]; k++)
        if (tag_is(t, known_tags[k].name, known_tags[k].len)) return known_tags[k].id;
    return -1;
}

static int set_field(parser *ps, cif_block *b, int id, const cif_tok *tag, cif_field f)
{
    char show[48];
    if (b->f[id].count)
        return cb_fail(ps->err, CB_ERR_PARSE, "%s: line %d: %s given twice in data block (first at line %d)",
                       src_of(ps), tag->line, cif_tok_show(tag, show, sizeof show), b->f[id].line);
    b->f[id] = f;
    return 0;
}

static int is_value(const cif_tok *t) { return t->kind == CIF_TOK_WORD || t->kind == CIF_TOK_STRING; }

/* loop_ tags... values...; the current token is loop_.  keep: the block to fill
 * (NULL inside global_ blocks, whose content is ignored). */
static int parse_loop(parser *ps, cif_block *keep)
{
    int rc, loop_line = ps->t.line, ncols = 0, nmatch = 0;
    int ids[F_COUNT], cols[F_COUNT];
    cif_tok tags[F_COUNT];
    if ((rc = next(ps))) return rc;
    while (ps->t.kind == CIF_TOK_TAG) {
        int id = keep ? tag_id(&ps->t) : -1;
        if (id >= 0 && nmatch < F_COUNT) {
            for (int k = 0; k < nmatch; k++)
                if (ids[k] == id) {
                    char show[48];
                    return cb_fail(ps->err, CB_ERR_PARSE, "%s: line %d: %s appears twice in one loop", src_of(ps),
                                   ps->t.line, cif_tok_show(&ps->t, show, sizeof show));
                }
            ids[nmatch] = id;
            cols[nmatch] = ncols;
            tags[nmatch++] = ps->t;
        }
        if (ncols == INT32_MAX) return cb_fail(ps->err, CB_ERR_PARSE, "%s: too many loop columns", src_of(ps));
        ncols++;
        if ((rc = next(ps))) return rc;
    }
    if (ncols == 0) return cb_fail(ps->err, CB_ERR_PARSE, "%s: line %d: loop_ without tags", src_of(ps), loop_line);
    int first = ps->tv.n;
    long long nvals = 0;
    while (is_value(&ps->t)) {
        if (nmatch && (rc = push(ps, &ps->t))) return rc;
        nvals++;
        if ((rc = next(ps))) return rc;
    }
    if (nvals == 0)
        return cb_fail(ps->err, CB_ERR_PARSE, "%s: line %d: empty loop (loop_ with %d tag%s but no values)",
                       src_of(ps), loop_line, ncols, ncols == 1 ? "" : "s");
    if (nvals % ncols)
        return cb_fail(
            ps->err, CB_ERR_PARSE,
            "%s: line %d: loop has %lld values, not a multiple of its %d columns (truncated or missing value?)",
            src_of(ps), loop_line, nvals, ncols);
    if (keep && nmatch) {
        keep->nloops++;
        for (int k = 0; k < nmatch; k++) {
            cif_field f = {first + cols[k], ncols, (int)(nvals / ncols), keep->nloops, tags[k].line};
            if ((rc = set_field(ps, keep, ids[k], &tags[k], f))) return rc;
        }
    }
    return 0;
}

/* _tag value; the current token is the tag. */
static int parse_item(parser *ps, cif_block *keep)
{
    int rc;
    cif_tok tag = ps->t;
    if ((rc = next(ps))) return rc;
    char show[48];
    if (!is_value(&ps->t)) {
        if (ps->t.kind == CIF_TOK_EOF)
            return cb_fail(ps->err, CB_ERR_PARSE, "%s: line %d: truncated file: %s has no value", src_of(ps),
                           tag.line, cif_tok_show(&tag, show, sizeof show));
        return cb_fail(ps->err, CB_ERR_PARSE, "%s: line %d: %s has no value", src_of(ps), tag.line,
                       cif_tok_show(&tag, show, sizeof show));
    }
    int id = keep ? tag_id(&tag) : -1;
    if (id >= 0) {
        cif_field f = {ps->tv.n, 1, 1, 0, tag.line};
        if ((rc = push(ps, &ps->t)) || (rc = set_field(ps, keep, id, &tag, f))) return rc;
    }
    return next(ps);
}

/* save_NAME ... save_ (ignored: frames hold dictionary definitions, not structures). */
static int skip_save_frame(parser *ps)
{
    int rc, line = ps->t.line;
    for (;;) {
        if ((rc = next(ps))) return rc;
        switch (ps->t.kind) {
        case CIF_TOK_EOF:
        case CIF_TOK_DATA:
        case CIF_TOK_GLOBAL:
            return cb_fail(ps->err, CB_ERR_PARSE, "%s: line %d: save frame is never closed by save_", src_of(ps),
                           line);
        case CIF_TOK_SAVE:
            if (ps->t.len == 0) return next(ps);
            return cb_fail(ps->err, CB_ERR_PARSE, "%s: line %d: save frame opened inside another save frame",
                           src_of(ps), ps->t.line);
        default:
            break;
        }
    }
}

/* ------------------------------------------------------------------ driver */

typedef struct results {
    cb_crystal *v;
    int n, cap;
} results;

static int block_has_atoms(const cif_block *b) { return b->f[F_FRACT_X].count || b->f[F_CARTN_X].count; }

/* Finishes the current data block: a crystal if it holds atoms. */
static int finish_block(parser *ps, cif_block *b, results *res)
{
    static const int atom_ids[] = {F_FRACT_Y, F_FRACT_Z, F_CARTN_Y, F_CARTN_Z, F_TYPE_SYMBOL, F_LABEL, F_OCCUPANCY};
    if (!block_has_atoms(b)) {
        for (size_t k = 0; k < sizeof atom_ids / sizeof atom_ids[0]; k++)
            if (b->f[atom_ids[k]].count)
                return cb_fail(
                    ps->err, CB_ERR_INVALID,
                    "%s: line %d: atom sites without coordinates (no _atom_site_fract_x or _atom_site_Cartn_x)",
                    src_of(ps), b->f[atom_ids[k]].line);
        return 0;
    }
    if (res->n == res->cap) {
        int cap = res->cap ? res->cap * 2 : 1;
        cb_crystal *v = realloc(res->v, (size_t)cap * sizeof *v);
        if (!v) return cb_fail(ps->err, CB_ERR_NOMEM, "%s: out of memory", src_of(ps));
        res->v = v;
        res->cap = cap;
    }
    cif_ctx cx = {ps->src, ps->opt, ps->err};
    b->tok = ps->tv.v;
    int rc = cif_build_crystal(&cx, b, &res->v[res->n]);
    if (rc) return rc;
    res->n++;
    return 0;
}

static int parse_all(parser *ps, int max_crystals, results *res)
{
    enum { OUTSIDE, DATA, GLOBAL } where = OUTSIDE;
    cif_block b;
    int rc, nblocks = 0;
    char show[48];
    memset(&b, 0, sizeof b);
    if ((rc = next(ps))) return rc;
    for (;;) {
        cif_tok *t = &ps->t;
        switch (t->kind) {
        case CIF_TOK_EOF:
        case CIF_TOK_DATA:
        case CIF_TOK_GLOBAL:
            if (where == DATA && (rc = finish_block(ps, &b, res))) return rc;
            if (max_crystals && res->n >= max_crystals) return 0;
            if (t->kind == CIF_TOK_EOF) {
                if (res->n) return 0;
                if (nblocks)
                    return cb_fail(ps->err, CB_ERR_INVALID,
                                   "%s: no atoms: no data block has _atom_site_fract_x or _atom_site_Cartn_x",
                                   src_of(ps));
                if (ps->lx.end == ps->lx.start)
                    return cb_fail(ps->err, CB_ERR_PARSE, "%s: empty file (no data_ block)", src_of(ps));
                return cb_fail(ps->err, CB_ERR_PARSE, "%s: no data_ block", src_of(ps));
            }
            memset(&b, 0, sizeof b);
            ps->tv.n = 0;
            where = t->kind == CIF_TOK_DATA ? DATA : GLOBAL;
            if (where == DATA) {
                b.name = *t;
                b.line = t->line;
                nblocks++;
            }
            if ((rc = next(ps))) return rc;
            break;
        case CIF_TOK_SAVE:
            if (where == OUTSIDE || t->len == 0)
                return cb_fail(ps->err, CB_ERR_PARSE, "%s: line %d: %s", src_of(ps), t->line,
                               where == OUTSIDE ? "save_ frame before the first data_ block"
                                                : "save_ without an open save frame");
            if ((rc = skip_save_frame(ps))) return rc;
            break;
        case CIF_TOK_LOOP:
        case CIF_TOK_TAG:
            if (where == OUTSIDE)
                return cb_fail(ps->err, CB_ERR_PARSE, "%s: line %d: '%s' before the first data_ block", src_of(ps),
                               t->line, t->kind == CIF_TOK_LOOP ? "loop_" : cif_tok_show(t, show, sizeof show));
            rc = t->kind == CIF_TOK_LOOP ? parse_loop(ps, where == DATA ? &b : NULL)
                                         : parse_item(ps, where == DATA ? &b : NULL);
            if (rc) return rc;
            break;
        case CIF_TOK_STOP:
            return cb_fail(ps->err, CB_ERR_UNSUPPORTED, "%s: line %d: stop_ (STAR nested loops) is not CIF 1.1",
                           src_of(ps), t->line);
        default: /* a value where a tag or keyword belongs */
            if (where == OUTSIDE)
                return cb_fail(ps->err, CB_ERR_PARSE, "%s: line %d: '%s' before the first data_ block (not a CIF?)",
                               src_of(ps), t->line, cif_tok_show(t, show, sizeof show));
            return cb_fail(ps->err, CB_ERR_PARSE, "%s: line %d: value '%s' without a tag", src_of(ps), t->line,
                           cif_tok_show(t, show, sizeof show));
        }
    }
}

static int parse_text(const char *text, size_t len, const char *source, const cb_cif_options *opt, int max_crystals,
                      results *res, cb_error *err)
{
    parser *ps = malloc(sizeof *ps);
    if (!ps) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", source ? source : "<cif>");
    cif_lex_init(&ps->lx, text ? text : "", text ? len : 0, source);
    ps->tv.v = ps->tv.small;
    ps->tv.n = 0;
    ps->tv.cap = (int)(sizeof ps->tv.small / sizeof ps->tv.small[0]);
    ps->src = source;
    ps->opt = opt;
    ps->err = err;
    res->v = NULL;
    res->n = res->cap = 0;
    int rc = parse_all(ps, max_crystals, res);
    if (ps->tv.v != ps->tv.small) free(ps->tv.v);
    free(ps);
    if (rc) {
        for (int i = 0; i < res->n; i++) cb_crystal_free(&res->v[i]);
        free(res->v);
        res->v = NULL;
        res->n = 0;
    }
    return rc;
}

int cb_cif_parse_opts(const char *text, size_t len, const char *source, const cb_cif_options *opt, cb_crystal **out,
                      int *n_out, cb_error *err)
{
    results res;
    *out = NULL;
    *n_out = 0;
    int rc = parse_text(text, len, source, opt, 0, &res, err);
    if (rc) return rc;
    *out = res.v;
    *n_out = res.n;
    return 0;
}

int cb_cif_parse(const char *text, size_t len, const char *source, cb_crystal **out, int *n_out, cb_error *err)
{
    return cb_cif_parse_opts(text, len, source, NULL, out, n_out, err);
}

int cb_cif_parse_one_opts(const char *text, size_t len, const char *source, const cb_cif_options *opt,
                          cb_crystal *out, cb_error *err)
{
    results res;
    memset(out, 0, sizeof *out);
    int rc = parse_text(text, len, source, opt, 1, &res, err);
    if (rc) return rc;
    *out = res.v[0];
    free(res.v);
    return 0;
}

int cb_cif_parse_one(const char *text, size_t len, const char *source, cb_crystal *out, cb_error *err)
{
    return cb_cif_parse_one_opts(text, len, source, NULL, out, err);
}

const cb_cif_options cb_cif_pymatgen = {1, 1};

int cb_cif_read_file(const char *path, cb_crystal **out, int *n_out, cb_error *err)
{
    return cb_cif_read_file_opts(path, NULL, out, n_out, err);
}

int cb_cif_read_file_opts(const char *path, const cb_cif_options *opt, cb_crystal **out, int *n_out,
                          cb_error *err)
{
    *out = NULL;
    *n_out = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return cb_fail(err, CB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0) break;
        if (len == cap) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (!buf)
        rc = cb_fail(err, CB_ERR_NOMEM, "%s: out of memory reading the file", path);
    else if (ferror(fp))
        rc = cb_fail(err, CB_ERR_IO, "%s: read error: %s", path, strerror(errno));
    fclose(fp);
    if (!rc) rc = cb_cif_parse_opts(buf, len, path, opt, out, n_out, err);
    free(buf);
    return rc;
}
