/* Streamed text input, RFC 4180 records (see csv.h), and the CSV dataset format:
 * the CDVAE layout reader (columns by header name) and writer. */
#include "csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/cif.h"
#include "dataset_impl.h"

/* ================================================================ text input */

#ifndef TEXTIN_CHUNK /* overridable so tests can exercise window boundaries */
#define TEXTIN_CHUNK (256 * 1024)
#endif
/* Limits that turn runaway input (an unterminated quote in a huge file, a binary file)
 * into a clear error instead of unbounded memory use. */
#define MAX_LINE ((size_t)16 << 20)
#define MAX_RECORD ((size_t)64 << 20)
#define MAX_FIELDS 65536

enum { TIN_EOF = -1, TIN_ERR = -2 };

struct cb_textin {
    gzFile gz;
    char *path;
    char *buf;
    size_t pos, len;
    int started;  /* first chunk read (BOM handled) */
    int eof;      /* gzread reported a clean end */
    int dead;     /* a stream error happened; see code/msg */
    cb_status code;
    char msg[CB_ERROR_MSG_MAX];
    long line;    /* newlines consumed so far */
    char *lbuf;   /* getline's buffer */
    size_t lcap;
};

static void tin_die(cb_textin *t, cb_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tin_die(cb_textin *t, cb_status code, const char *fmt, ...)
{
    if (t->dead) return; /* keep the first cause */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
    t->code = code;
    t->dead = 1;
}

static int tin_report(const cb_textin *t, cb_error *err)
{
    return cb_fail(err, t->code, "%s", t->msg);
}

/* Refills the window when it is exhausted.  Returns 1 when bytes are available. */
static int tin_fill(cb_textin *t)
{
    if (t->pos < t->len) return 1;
    if (t->eof || t->dead) return 0;
    int n = gzread(t->gz, t->buf, TEXTIN_CHUNK);
    if (n > 0) {
        t->pos = 0;
        t->len = (size_t)n;
        if (!t->started) {
            t->started = 1;
            if (t->len >= 3 && memcmp(t->buf, "\xEF\xBB\xBF", 3) == 0) t->pos = 3;
        }
        return t->pos < t->len || tin_fill(t);
    }
    int errnum = Z_OK;
    const char *zmsg = gzerror(t->gz, &errnum);
    if (n == 0 && errnum == Z_OK) {
        t->eof = 1;
    } else if (errnum == Z_BUF_ERROR) {
        /* zlib's documented signal for input that ends inside a gzip stream. */
        tin_die(t, CB_ERR_IO, "truncated gzip stream (unexpected end of file)");
    } else if (errnum == Z_ERRNO) {
        tin_die(t, CB_ERR_IO, "read error: %s", strerror(errno));
    } else {
        /* zlib's message starts with "<path>: "; the caller adds the path itself. */
        size_t pl = strlen(t->path);
        if (zmsg && strncmp(zmsg, t->path, pl) == 0 && strncmp(zmsg + pl, ": ", 2) == 0) zmsg += pl + 2;
        tin_die(t, CB_ERR_IO, "corrupt gzip data (%s)", zmsg && *zmsg ? zmsg : "unknown zlib error");
    }
    return 0;
}

static inline int tin_getc(cb_textin *t)
{
    if (t->pos < t->len || tin_fill(t)) return (unsigned char)t->buf[t->pos++];
    return t->dead ? TIN_ERR : TIN_EOF;
}

static inline int tin_peek(cb_textin *t)
{
    if (t->pos < t->len || tin_fill(t)) return (unsigned char)t->buf[t->pos];
    return t->dead ? TIN_ERR : TIN_EOF;
}

int cb_textin_open(const char *path, cb_textin **out, cb_error *err)
{
    *out = NULL;
    cb_textin *t = calloc(1, sizeof *t);
    if (!t) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    t->buf = malloc(TEXTIN_CHUNK);
    t->path = cb_ds_strdup(path);
    if (!t->buf || !t->path) {
        free(t->buf);
        free(t->path);
        free(t);
        return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    }
    errno = 0;
    t->gz = gzopen(path, "rb");
    if (!t->gz) {
        int e = errno;
        free(t->buf);
        free(t->path);
        free(t);
        return cb_fail(err, CB_ERR_IO, "%s: cannot open: %s", path, e ? strerror(e) : "gzopen failed");
    }
    gzbuffer(t->gz, TEXTIN_CHUNK);
    *out = t;
    return CB_OK;
}

static int lbuf_reserve(cb_textin *t, size_t need)
{
    if (need <= t->lcap) return 1;
    size_t cap = t->lcap ? t->lcap : 256;
    while (cap < need) cap *= 2;
    char *nb = realloc(t->lbuf, cap);
    if (!nb) return 0;
    t->lbuf = nb;
    t->lcap = cap;
    return 1;
}

int cb_textin_getline(cb_textin *t, char **line, size_t *len, cb_error *err)
{
    size_t n = 0;
    int got = 0, newline = 0;
    while (!newline) {
        if (!tin_fill(t)) {
            if (t->dead) return tin_report(t, err);
            if (!got) return CB_ERR_EOF;
            break; /* last line without a newline */
        }
        got = 1;
        char *start = t->buf + t->pos;
        char *nl = memchr(start, '\n', t->len - t->pos);
        size_t take = nl ? (size_t)(nl - start) : t->len - t->pos;
        if (n + take + 1 > MAX_LINE) {
            tin_die(t, CB_ERR_PARSE, "line %ld is longer than %zu bytes", t->line + 1, MAX_LINE);
            return tin_report(t, err);
        }
        if (!lbuf_reserve(t, n + take + 1)) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
        memcpy(t->lbuf + n, start, take);
        n += take;
        t->pos += take + (nl ? 1 : 0);
        newline = nl != NULL;
    }
    if (n > 0 && t->lbuf[n - 1] == '\r') n--;
    if (!lbuf_reserve(t, n + 1)) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    t->lbuf[n] = '\0';
    t->line++;
    *line = t->lbuf;
    if (len) *len = n;
    return CB_OK;
}

long cb_textin_line(const cb_textin *t) { return t->line; }

void cb_textin_close(cb_textin *t)
{
    if (!t) return;
    if (t->gz) gzclose(t->gz);
    free(t->buf);
    free(t->lbuf);
    free(t->path);
    free(t);
}

/* ================================================================ CSV records */

struct cb_csv {
    cb_textin *in;
    char *rec;        /* field bytes, each NUL-terminated */
    size_t rlen, rcap;
    size_t *off;      /* [nf] offsets into rec */
    size_t *flen;     /* [nf] lengths */
    int nf, fcap;
    long line;        /* line where the last record started */
    int dead;
};

int cb_csv_open(const char *path, cb_csv **out, cb_error *err)
{
    *out = NULL;
    cb_csv *c = calloc(1, sizeof *c);
    if (!c) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    int rc = cb_textin_open(path, &c->in, err);
    if (rc) {
        free(c);
        return rc;
    }
    *out = c;
    return CB_OK;
}

void cb_csv_close(cb_csv *c)
{
    if (!c) return;
    cb_textin_close(c->in);
    free(c->rec);
    free(c->off);
    free(c->flen);
    free(c);
}

int cb_csv_dead(const cb_csv *c) { return c->dead; }
int cb_csv_nfields(const cb_csv *c) { return c->nf; }
long cb_csv_line(const cb_csv *c) { return c->line; }

const char *cb_csv_field(const cb_csv *c, int i, size_t *len)
{
    if (len) *len = c->flen[i];
    return c->rec + c->off[i];
}

/* Grows the record buffer for n more bytes plus a NUL.  0 = too long / no memory
 * (the stream is then dead). */
static int rec_reserve(cb_csv *c, size_t n)
{
    size_t need = c->rlen + n + 1;
    if (need <= c->rcap) return 1;
    if (need > MAX_RECORD) {
        tin_die(c->in, CB_ERR_PARSE,
                "record starting on line %ld is longer than %zu bytes (unterminated quote?)",
                c->line, MAX_RECORD);
        return 0;
    }
    size_t cap = c->rcap ? c->rcap : 4096;
    while (cap < need) cap *= 2;
    char *nb = realloc(c->rec, cap);
    if (!nb) {
        tin_die(c->in, CB_ERR_NOMEM, "out of memory");
        return 0;
    }
    c->rec = nb;
    c->rcap = cap;
    return 1;
}

static inline int rec_put(cb_csv *c, char ch)
{
    if (c->rlen + 1 >= c->rcap && !rec_reserve(c, 1)) return 0;
    c->rec[c->rlen++] = ch;
    return 1;
}

static int field_start(cb_csv *c)
{
    if (c->nf == c->fcap) {
        if (c->fcap >= MAX_FIELDS) {
            tin_die(c->in, CB_ERR_PARSE, "record starting on line %ld has more than %d fields",
                    c->line, MAX_FIELDS);
            return 0;
        }
        int cap = c->fcap ? 2 * c->fcap : 16;
        size_t *o = realloc(c->off, (size_t)cap * sizeof *o);
        if (o) c->off = o;
        size_t *l = realloc(c->flen, (size_t)cap * sizeof *l);
        if (l) c->flen = l;
        if (!o || !l) {
            tin_die(c->in, CB_ERR_NOMEM, "out of memory");
            return 0;
        }
        c->fcap = cap;
    }
    c->off[c->nf] = c->rlen;
    return 1;
}

/* Terminates the current field; in a quoted field, drops each CR that precedes an LF
 * so that CRLF files yield the same text as LF files. */
static int field_end(cb_csv *c, int quoted)
{
    size_t o = c->off[c->nf];
    size_t n = c->rlen - o;
    if (quoted && memchr(c->rec + o, '\r', n)) {
        char *s = c->rec + o;
        size_t w = 0;
        for (size_t r = 0; r < n; r++)
            if (!(s[r] == '\r' && r + 1 < n && s[r + 1] == '\n')) s[w++] = s[r];
        c->rlen = o + w;
        n = w;
    }
    if (!rec_put(c, '\0')) return 0;
    c->flen[c->nf] = n;
    c->nf++;
    return 1;
}

static int csv_stream_error(cb_csv *c, cb_error *err)
{
    c->dead = 1;
    return tin_report(c->in, err);
}

/* Reads a quoted field's body (the opening quote already consumed) up to and including
 * its closing quote.  Uses memchr to copy runs between quotes: CIF fields are long. */
static int read_quoted(cb_csv *c, cb_error *err)
{
    cb_textin *t = c->in;
    long open_line = t->line + 1;
    for (;;) {
        if (!tin_fill(t)) {
            if (!t->dead)
                tin_die(t, CB_ERR_PARSE, "unterminated quoted field (the quote opens on line %ld)",
                        open_line);
            return csv_stream_error(c, err);
        }
        char *start = t->buf + t->pos;
        size_t avail = t->len - t->pos;
        char *q = memchr(start, '"', avail);
        size_t take = q ? (size_t)(q - start) : avail;
        for (char *p = start, *end = start + take; (p = memchr(p, '\n', (size_t)(end - p))); p++)
            t->line++;
        if (take) {
            if (!rec_reserve(c, take)) return csv_stream_error(c, err);
            memcpy(c->rec + c->rlen, start, take);
            c->rlen += take;
        }
        t->pos += take;
        if (!q) continue;
        t->pos++; /* the quote */
        int nx = tin_peek(t);
        if (nx == TIN_ERR) return csv_stream_error(c, err);
        if (nx != '"') return CB_OK; /* closing quote */
        t->pos++;
        if (!rec_put(c, '"')) return csv_stream_error(c, err);
    }
}

int cb_csv_next(cb_csv *c, cb_error *err)
{
    if (c->dead) return CB_ERR_EOF;
    cb_textin *t = c->in;
    int ch;
    /* Skip blank lines; a record starts at the first other character. */
    for (;;) {
        c->rlen = 0;
        c->nf = 0;
        c->line = t->line + 1;
        ch = tin_getc(t);
        if (ch == TIN_EOF) return CB_ERR_EOF;
        if (ch == TIN_ERR) return csv_stream_error(c, err);
        if (ch == '\n') {
            t->line++;
            continue;
        }
        if (ch == '\r') {
            if (tin_peek(t) == '\n') t->pos++;
            t->line++;
            continue;
        }
        break;
    }
    const char *bad = NULL; /* a record error, reported once the record is consumed */
    for (;;) {
        if (!field_start(c)) return csv_stream_error(c, err);
        int quoted = ch == '"';
        if (quoted) {
            int rc = read_quoted(c, err);
            if (rc) return rc;
            ch = tin_getc(t);
        }
        /* Unquoted text, or (an RFC violation kept as text) characters after a closing quote. */
        while (ch != ',' && ch != '\n' && ch != '\r' && ch >= 0) {
            if (quoted && !bad) bad = "unexpected character after a closing quote";
            if (!rec_put(c, (char)ch)) return csv_stream_error(c, err);
            ch = tin_getc(t);
        }
        if (!field_end(c, quoted)) return csv_stream_error(c, err);
        if (ch == ',') {
            ch = tin_getc(t);
            if (ch == TIN_ERR) return csv_stream_error(c, err);
            continue;
        }
        if (ch == '\r') { /* CRLF, or a lone CR (old Mac files), as Python's csv does */
            if (tin_peek(t) == '\n') t->pos++;
            ch = '\n';
        }
        if (ch == '\n') t->line++;
        if (ch == TIN_ERR) return csv_stream_error(c, err);
        break; /* end of line or of file */
    }
    if (bad) return cb_fail(err, CB_ERR_PARSE, "%s (line %ld)", bad, c->line);
    return CB_OK;
}

int cb_csv_needs_quotes(const char *s, size_t n)
{
    if (n == 0) return 0;
    if (s[0] == ' ' || s[n - 1] == ' ') return 1;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') return 1;
    return 0;
}

/* ================================================================ CSV dataset reader */

typedef struct csvds {
    cb_csv *csv;
    char *path;
    int nh;            /* header fields */
    int col_cif;
    int col_id;        /* material_id, or -1 */
    int col_index;     /* first unnamed column, or -1 */
    char **prop_names; /* [nh]: prop name of each column, NULL for cif/id/index */
    long row;          /* data rows seen (1-based number of the last one) */
} csvds;

static void csvds_close(void *state)
{
    csvds *d = state;
    if (!d) return;
    cb_csv_close(d->csv);
    if (d->prop_names)
        for (int i = 0; i < d->nh; i++) free(d->prop_names[i]);
    free(d->prop_names);
    free(d->path);
    free(d);
}

/* Header names compare after trimming surrounding spaces (" cif" is the cif column). */
static int name_is(const char *field, const char *name)
{
    while (*field == ' ') field++;
    size_t n = strlen(name);
    if (strncmp(field, name, n) != 0) return 0;
    for (field += n; *field == ' '; field++) {}
    return *field == '\0';
}

static int csvds_open(const char *path, void **state, cb_error *err)
{
    *state = NULL;
    csvds *d = calloc(1, sizeof *d);
    if (!d || !(d->path = cb_ds_strdup(path))) {
        free(d);
        return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    }
    int rc = cb_csv_open(path, &d->csv, err);
    if (rc) goto fail;
    rc = cb_csv_next(d->csv, err);
    if (rc == CB_ERR_EOF) {
        rc = cb_fail(err, CB_ERR_PARSE, "%s: empty file (no header row)", path);
        goto fail;
    }
    if (rc) {
        cb_error_prefix(err, "%s: header", path);
        goto fail;
    }
    d->nh = cb_csv_nfields(d->csv);
    d->col_cif = d->col_id = d->col_index = -1;
    for (int i = 0; i < d->nh; i++) {
        const char *h = cb_csv_field(d->csv, i, NULL);
        if (d->col_cif < 0 && name_is(h, "cif")) d->col_cif = i;
        else if (d->col_id < 0 && name_is(h, "material_id")) d->col_id = i;
        else if (d->col_index < 0 && name_is(h, "")) d->col_index = i;
    }
    if (d->col_cif < 0) {
        rc = cb_fail(err, CB_ERR_PARSE, "%s: no 'cif' column in the header (line %ld)", path,
                     cb_csv_line(d->csv));
        goto fail;
    }
    d->prop_names = calloc((size_t)d->nh, sizeof *d->prop_names);
    if (!d->prop_names) goto nomem;
    for (int i = 0; i < d->nh; i++) {
        if (i == d->col_cif || i == d->col_id || i == d->col_index) continue;
        const char *h = cb_csv_field(d->csv, i, NULL);
        char unnamed[32];
        if (name_is(h, "")) { /* pandas' name for an unnamed column */
            snprintf(unnamed, sizeof unnamed, "Unnamed: %d", i);
            h = unnamed;
        }
        if (!(d->prop_names[i] = cb_ds_strdup(h))) goto nomem;
    }
    *state = d;
    return CB_OK;
nomem:
    rc = cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
fail:
    csvds_close(d);
    return rc;
}

static int csvds_next(void *state, cb_crystal *out, cb_error *err)
{
    csvds *d = state;
    int rc = cb_csv_next(d->csv, err);
    if (rc == CB_ERR_EOF) return rc;
    d->row++;
    if (rc) {
        cb_error_prefix(err, "%s: row %ld", d->path, d->row);
        return rc;
    }
    int nf = cb_csv_nfields(d->csv);
    if (nf != d->nh)
        return cb_fail(err, CB_ERR_PARSE, "%s: row %ld: %d fields where the header has %d (line %ld)",
                       d->path, d->row, nf, d->nh, cb_csv_line(d->csv));
    char src[CB_ERROR_MSG_MAX];
    snprintf(src, sizeof src, "%s: row %ld", d->path, d->row);
    size_t cif_len;
    const char *cif = cb_csv_field(d->csv, d->col_cif, &cif_len);
    if (cif_len == 0) return cb_fail(err, CB_ERR_PARSE, "%s: empty 'cif' field", src);

    rc = cb_cif_parse_one_opts(cif, cif_len, src, &cb_cif_pymatgen, out, err);
    if (rc) {
        cb_crystal_free(out);
        cb_ds_error_prefix(err, src);
        return rc;
    }
    if ((rc = cb_crystal_check(out, src, err))) goto fail;

    const char *id = d->col_id >= 0 ? cb_csv_field(d->csv, d->col_id, NULL) : "";
    if (!*id && d->col_index >= 0) id = cb_csv_field(d->csv, d->col_index, NULL);
    char rowbuf[32];
    if (!*id) {
        snprintf(rowbuf, sizeof rowbuf, "%ld", d->row);
        id = rowbuf;
    }
    if ((rc = cb_crystal_set_id(out, id, err))) goto fail;
    for (int i = 0; i < d->nh; i++) {
        if (!d->prop_names[i]) continue;
        if ((rc = cb_crystal_add_prop(out, d->prop_names[i], cb_csv_field(d->csv, i, NULL), err)))
            goto fail;
    }
    return CB_OK;
fail:
    cb_crystal_free(out);
    cb_ds_error_prefix(err, src);
    return rc;
}

static long csvds_record(const void *state) { return ((const csvds *)state)->row; }

const cb_reader_ops cb_csv_reader_ops = {csvds_open, csvds_next, csvds_record, csvds_close};

/* ================================================================ CSV dataset writer */

static void put_field(cb_dsout *o, const char *s, size_t n, int force_quotes)
{
    if (!force_quotes && !cb_csv_needs_quotes(s, n)) {
        cb_dsout_write(o, s, n);
        return;
    }
    cb_dsout_write(o, "\"", 1);
    const char *end = s + n;
    while (s < end) {
        const char *q = memchr(s, '"', (size_t)(end - s));
        size_t take = q ? (size_t)(q - s) + 1 : (size_t)(end - s);
        cb_dsout_write(o, s, take);
        if (q) cb_dsout_write(o, "\"", 1); /* "" escape */
        s += take;
    }
    cb_dsout_write(o, "\"", 1);
}

/* The extra columns: props of the first crystal, minus names the layout already uses. */
static int prop_column_ok(const cb_crystal *first, int i)
{
    const char *name = first->props[i].name;
    if (!*name || strcmp(name, "material_id") == 0 || strcmp(name, "cif") == 0) return 0;
    for (int j = 0; j < i; j++)
        if (strcmp(first->props[j].name, name) == 0) return 0;
    return 1;
}

int cb_csv_write_items(const char *path, const cb_crystal *items, size_t n, cb_error *err)
{
    cb_dsout o;
    int rc = cb_dsout_open(&o, path, err);
    if (rc) return rc;
    const cb_crystal *first = n ? &items[0] : NULL;
    cb_dsout_puts(&o, ",material_id,cif");
    for (int i = 0; first && i < first->n_props; i++) {
        if (!prop_column_ok(first, i)) continue;
        cb_dsout_puts(&o, ",");
        put_field(&o, first->props[i].name, strlen(first->props[i].name), 0);
    }
    cb_dsout_puts(&o, "\n");
    for (size_t k = 0; k < n; k++) {
        const cb_crystal *c = &items[k];
        char *text = NULL;
        size_t len = 0;
        if ((rc = cb_cif_write(c, &text, &len, err))) {
            cb_error_prefix(err, "%s: crystal %zu", path, k + 1);
            cb_dsout_abort(&o);
            return rc;
        }
        cb_dsout_printf(&o, "%zu,", k);
        if (c->id) put_field(&o, c->id, strlen(c->id), 0);
        cb_dsout_puts(&o, ",");
        put_field(&o, text, len, 1);
        free(text);
        for (int i = 0; first && i < first->n_props; i++) {
            if (!prop_column_ok(first, i)) continue;
            const char *v = cb_crystal_prop(c, first->props[i].name);
            cb_dsout_puts(&o, ",");
            if (v) put_field(&o, v, strlen(v), 0);
        }
        cb_dsout_puts(&o, "\n");
    }
    return cb_dsout_commit(&o, err);
}
