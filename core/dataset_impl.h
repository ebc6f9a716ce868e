/* Private to core/: the contract between core/dataset.c (format dispatch, cb_dataset,
 * atomic output) and the per-format files core/csv.c, core/extxyz.c, core/cifdir.c.
 *
 * Each format provides a reader (open / next / record / close with the semantics of
 * cb_reader_* in dataset.h) and a writer.  dataset.c owns everything shared. */
#ifndef CB_CORE_DATASET_IMPL_H
#define CB_CORE_DATASET_IMPL_H

#include <stddef.h>
#include <zlib.h>

#include "crystalbench/dataset.h"

typedef struct cb_reader_ops {
    int (*open)(const char *path, void **state, cb_error *err);
    /* *out is zeroed on entry.  Returns as cb_reader_next. */
    int (*next)(void *state, cb_crystal *out, cb_error *err);
    long (*record)(const void *state);
    void (*close)(void *state);
} cb_reader_ops;

extern const cb_reader_ops cb_csv_reader_ops;
extern const cb_reader_ops cb_extxyz_reader_ops;
extern const cb_reader_ops cb_cifdir_reader_ops;
extern const cb_reader_ops cb_cif_reader_ops;

int cb_csv_write_items(const char *path, const cb_crystal *items, size_t n, cb_error *err);
int cb_extxyz_write_items(const char *path, const cb_crystal *items, size_t n, cb_error *err);
int cb_cifdir_write_items(const char *dir, const cb_crystal *items, size_t n, cb_error *err);
int cb_cif_write_items(const char *path, const cb_crystal *items, size_t n, cb_error *err);

/* ---- atomic file output ----
 * Writes go to "<path>.tmp" (gzip-compressed when path ends in ".gz"); commit closes,
 * checks every write succeeded and renames over path; abort removes the temporary. */
typedef struct cb_dsout {
    gzFile gz;
    char *path;
    char *tmp;
    int failed;
} cb_dsout;

int cb_dsout_open(cb_dsout *o, const char *path, cb_error *err);
void cb_dsout_write(cb_dsout *o, const char *s, size_t n);
void cb_dsout_puts(cb_dsout *o, const char *s);
void cb_dsout_printf(cb_dsout *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cb_dsout_commit(cb_dsout *o, cb_error *err);
void cb_dsout_abort(cb_dsout *o);

/* ---- small shared helpers ---- */

/* malloc'd copy of s (or of its first n bytes); NULL when out of memory. */
char *cb_ds_strdup(const char *s);
char *cb_ds_strndup(const char *s, size_t n);
/* Does s end with suffix, ignoring ASCII case? */
int cb_ds_ends_with(const char *s, const char *suffix);
/* Base name of path without directories and without the given suffix (if present,
 * case-insensitive), into out. */
void cb_ds_path_stem(const char *path, const char *suffix, char *out, size_t cap);
/* Makes sure err's message starts with prefix (prepends "prefix: " when it does not),
 * so every reader error names the file and record whatever the lower layer wrote. */
void cb_ds_error_prefix(cb_error *err, const char *prefix);

#endif
