/* Format names and guessing, the cb_reader dispatcher, cb_dataset, cb_dataset_write,
 * and the atomic output helper every writer uses.  The formats themselves live in
 * csv.c, extxyz.c and cifdir.c (contract: dataset_impl.h). */
#include "crystalbench/dataset.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset_impl.h"

/* ================================================================ small helpers */

char *cb_ds_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *cb_ds_strdup(const char *s) { return cb_ds_strndup(s, strlen(s)); }

int cb_ds_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

void cb_ds_path_stem(const char *path, const char *suffix, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (suffix && cb_ds_ends_with(base, suffix) && n > strlen(suffix)) n -= strlen(suffix);
    if (cap == 0) return;
    if (n >= cap) n = cap - 1;
    memcpy(out, base, n);
    out[n] = '\0';
}

void cb_ds_error_prefix(cb_error *err, const char *prefix)
{
    if (!err) return;
    if (strncmp(err->msg, prefix, strlen(prefix)) == 0) return;
    cb_error_prefix(err, "%s", prefix);
}

/* ================================================================ formats */

cb_format cb_format_guess(const char *path)
{
    if (!path || !*path) return CB_FORMAT_AUTO;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return CB_FORMAT_CIF_DIR;
    if (cb_ds_ends_with(path, ".csv") || cb_ds_ends_with(path, ".csv.gz")) return CB_FORMAT_CSV;
    if (cb_ds_ends_with(path, ".cif")) return CB_FORMAT_CIF;
    if (cb_ds_ends_with(path, ".xyz") || cb_ds_ends_with(path, ".extxyz") ||
        cb_ds_ends_with(path, ".xyz.gz") || cb_ds_ends_with(path, ".extxyz.gz"))
        return CB_FORMAT_EXTXYZ;
    /* A directory that does not exist yet (an output) is named with a trailing slash. */
    if (path[strlen(path) - 1] == '/') return CB_FORMAT_CIF_DIR;
    return CB_FORMAT_AUTO;
}

const char *cb_format_name(cb_format f)
{
    switch (f) {
    case CB_FORMAT_AUTO: return "auto";
    case CB_FORMAT_CSV: return "csv";
    case CB_FORMAT_CIF_DIR: return "cif-dir";
    case CB_FORMAT_CIF: return "cif";
    case CB_FORMAT_EXTXYZ: return "extxyz";
    }
    return "unknown";
}

cb_format cb_format_from_name(const char *name)
{
    if (!name) return CB_FORMAT_AUTO;
    if (strcasecmp(name, "csv") == 0) return CB_FORMAT_CSV;
    if (strcasecmp(name, "cif-dir") == 0 || strcasecmp(name, "cifdir") == 0 ||
        strcasecmp(name, "cif_dir") == 0)
        return CB_FORMAT_CIF_DIR;
    if (strcasecmp(name, "cif") == 0) return CB_FORMAT_CIF;
    if (strcasecmp(name, "extxyz") == 0 || strcasecmp(name, "xyz") == 0) return CB_FORMAT_EXTXYZ;
    return CB_FORMAT_AUTO;
}

static int resolve(const char *path, cb_format *fmt, cb_error *err)
{
    if (*fmt == CB_FORMAT_AUTO) *fmt = cb_format_guess(path);
    if (*fmt == CB_FORMAT_AUTO)
        return cb_fail(err, CB_ERR_USAGE,
                       "%s: cannot tell the format from the name (use .csv, .csv.gz, .cif, "
                       ".xyz, .extxyz, a directory, or name the format)",
                       path);
    if (*fmt < CB_FORMAT_AUTO || *fmt > CB_FORMAT_EXTXYZ)
        return cb_fail(err, CB_ERR_USAGE, "%s: unknown format %d", path, (int)*fmt);
    return CB_OK;
}

/* ================================================================ reader */

struct cb_reader {
    const cb_reader_ops *ops;
    void *state;
};

static const cb_reader_ops *ops_for(cb_format f)
{
    switch (f) {
    case CB_FORMAT_CSV: return &cb_csv_reader_ops;
    case CB_FORMAT_CIF_DIR: return &cb_cifdir_reader_ops;
    case CB_FORMAT_CIF: return &cb_cif_reader_ops;
    case CB_FORMAT_EXTXYZ: return &cb_extxyz_reader_ops;
    default: return NULL;
    }
}

int cb_reader_open(const char *path, cb_format fmt, cb_reader **out, cb_error *err)
{
    *out = NULL;
    if (!path) return cb_fail(err, CB_ERR_USAGE, "no input path given");
    int rc = resolve(path, &fmt, err);
    if (rc) return rc;
    cb_reader *r = calloc(1, sizeof *r);
    if (!r) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    r->ops = ops_for(fmt);
    if ((rc = r->ops->open(path, &r->state, err))) {
        free(r);
        return rc;
    }
    *out = r;
    return CB_OK;
}

int cb_reader_next(cb_reader *r, cb_crystal *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    return r->ops->next(r->state, out, err);
}

long cb_reader_record(const cb_reader *r) { return r->ops->record(r->state); }

void cb_reader_close(cb_reader *r)
{
    if (!r) return;
    r->ops->close(r->state);
    free(r);
}

/* ================================================================ cb_dataset */

/* Appends c by moving it: the dataset takes its arrays and c is left zeroed. */
int cb_dataset_take(cb_dataset *ds, cb_crystal *c, cb_error *err)
{
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? 2 * ds->cap : 64;
        cb_crystal *items = realloc(ds->items, cap * sizeof *items);
        if (!items) return cb_fail(err, CB_ERR_NOMEM, "out of memory for %zu crystals", cap);
        ds->items = items;
        ds->cap = cap;
    }
    ds->items[ds->n++] = *c;
    memset(c, 0, sizeof *c);
    return CB_OK;
}

int cb_dataset_push(cb_dataset *ds, const cb_crystal *c, cb_error *err)
{
    cb_crystal copy;
    int rc = cb_crystal_copy(&copy, c, err);
    if (rc) return rc;
    if ((rc = cb_dataset_take(ds, &copy, err))) cb_crystal_free(&copy);
    return rc;
}

void cb_dataset_free(cb_dataset *ds)
{
    if (!ds) return;
    for (size_t i = 0; i < ds->n; i++) cb_crystal_free(&ds->items[i]);
    free(ds->items);
    free(ds->path);
    memset(ds, 0, sizeof *ds);
}

int cb_dataset_load(const char *path, cb_format fmt, cb_dataset *ds, cb_error *err)
{
    memset(ds, 0, sizeof *ds);
    cb_reader *r;
    int rc = cb_reader_open(path, fmt, &r, err);
    if (rc) return rc;
    if (!(ds->path = cb_ds_strdup(path))) {
        cb_reader_close(r);
        return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        cb_crystal c;
        rc = cb_reader_next(r, &c, err);
        if (rc == CB_ERR_EOF) break;
        if (rc == CB_OK) rc = cb_dataset_take(ds, &c, err);
        if (rc) {
            cb_crystal_free(&c);
            cb_reader_close(r);
            cb_dataset_free(ds);
            return rc;
        }
    }
    cb_reader_close(r);
    return CB_OK;
}

/* ================================================================ writers */

int cb_dataset_write(const char *path, cb_format fmt, const cb_crystal *items, size_t n,
                     cb_error *err)
{
    if (!path) return cb_fail(err, CB_ERR_USAGE, "no output path given");
    int rc = resolve(path, &fmt, err);
    if (rc) return rc;
    if (n && !items) return cb_fail(err, CB_ERR_USAGE, "%s: no crystals to write", path);
    switch (fmt) {
    case CB_FORMAT_CSV: return cb_csv_write_items(path, items, n, err);
    case CB_FORMAT_CIF_DIR: return cb_cifdir_write_items(path, items, n, err);
    case CB_FORMAT_CIF: return cb_cif_write_items(path, items, n, err);
    case CB_FORMAT_EXTXYZ: return cb_extxyz_write_items(path, items, n, err);
    default: return cb_fail(err, CB_ERR_USAGE, "%s: cannot write format %s", path, cb_format_name(fmt));
    }
}

/* ================================================================ atomic output */

int cb_dsout_open(cb_dsout *o, const char *path, cb_error *err)
{
    memset(o, 0, sizeof *o);
    size_t n = strlen(path);
    o->path = cb_ds_strdup(path);
    o->tmp = malloc(n + 5);
    if (!o->path || !o->tmp) {
        free(o->path);
        free(o->tmp);
        return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(o->tmp, path, n);
    memcpy(o->tmp + n, ".tmp", 5);
    /* "T" = transparent: zlib writes plain bytes, so one code path serves both. */
    errno = 0;
    o->gz = gzopen(o->tmp, cb_ds_ends_with(path, ".gz") ? "wb6" : "wbT");
    if (!o->gz) {
        int e = errno;
        cb_fail(err, CB_ERR_IO, "%s: cannot create: %s", o->tmp, e ? strerror(e) : "gzopen failed");
        free(o->path);
        free(o->tmp);
        memset(o, 0, sizeof *o);
        return CB_ERR_IO;
    }
    gzbuffer(o->gz, 128 * 1024);
    return CB_OK;
}

void cb_dsout_write(cb_dsout *o, const char *s, size_t n)
{
    while (!o->failed && n > 0) {
        unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int w = gzwrite(o->gz, s, chunk);
        if (w <= 0) {
            o->failed = 1;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

void cb_dsout_puts(cb_dsout *o, const char *s) { cb_dsout_write(o, s, strlen(s)); }

void cb_dsout_printf(cb_dsout *o, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->failed = 1;
        return;
    }
    if ((size_t)n < sizeof buf) {
        cb_dsout_write(o, buf, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        o->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    cb_dsout_write(o, big, (size_t)n);
    free(big);
}

static void dsout_release(cb_dsout *o)
{
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
}

int cb_dsout_commit(cb_dsout *o, cb_error *err)
{
    int zerr = Z_OK;
    const char *zmsg = o->failed ? gzerror(o->gz, &zerr) : NULL;
    char why[256];
    snprintf(why, sizeof why, "%s", zerr == Z_ERRNO ? strerror(errno) : (zmsg && *zmsg ? zmsg : "write failed"));
    int closed = gzclose(o->gz);
    int rc = CB_OK;
    if (o->failed || closed != Z_OK) {
        if (!o->failed) snprintf(why, sizeof why, "%s", closed == Z_ERRNO ? strerror(errno) : "close failed");
        rc = cb_fail(err, CB_ERR_IO, "%s: cannot write: %s", o->tmp, why);
        unlink(o->tmp);
    } else if (rename(o->tmp, o->path) != 0) {
        rc = cb_fail(err, CB_ERR_IO, "%s: cannot rename %s into place: %s", o->path, o->tmp,
                     strerror(errno));
        unlink(o->tmp);
    }
    dsout_release(o);
    return rc;
}

void cb_dsout_abort(cb_dsout *o)
{
    if (o->gz) gzclose(o->gz);
    if (o->tmp) unlink(o->tmp);
    dsout_release(o);
}
