/* CIF files as datasets: a folder of *.cif files (CIF_DIR) and one multi-block .cif
 * file (CIF), readers and writers.
 *
 * Folder reader: regular files whose name ends in ".cif" (any case), in strcmp order of
 * their names; each file may hold several data blocks.  The id is the file name without
 * ".cif", plus ":<block>" when the file holds several blocks.  Files named as our writer
 * names them ("<index>_<id>.cif" with the indices 0..n-1 zero-padded to one width, in
 * order) give back <id>, so a folder written by cb_dataset_write reads back with its ids.
 * The record number counts crystals; a file that cannot be read counts as one record.
 *
 * Folder writer: fills a fresh "<dir>.tmp" folder, then moves it to <dir>.  An existing
 * <dir> is replaced only when it holds nothing but *.cif files (an earlier output);
 * anything else there makes the write fail rather than delete a user's files. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crystalbench/cif.h"
#include "dataset_impl.h"

/* ================================================================ shared */

/* Takes the parsed blocks of one file: frees the crystals and the array. */
static void free_blocks(cb_crystal *b, int n)
{
    for (int i = 0; i < n; i++) cb_crystal_free(&b[i]);
    free(b);
}

/* id = stem, or "stem:block" (block = the parser's block name, else its 1-based number). */
static int name_block(cb_crystal *c, const char *stem, int k, int n, cb_error *err)
{
    if (n == 1) return cb_crystal_set_id(c, stem, err);
    char num[16];
    snprintf(num, sizeof num, "%d", k + 1);
    const char *block = c->id && *c->id ? c->id : num;
    size_t len = strlen(stem) + strlen(block) + 2;
    char *id = malloc(len);
    if (!id) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    snprintf(id, len, "%s:%s", stem, block);
    int rc = cb_crystal_set_id(c, id, err);
    free(id);
    return rc;
}

/* ================================================================ folder reader */

typedef struct cifdir {
    char *dir;
    char **names; /* sorted file names */
    int n_names;
    int next_name;
    int strip_index; /* names follow the writer's "<index>_<id>.cif" layout */
    cb_crystal *blocks; /* parsed blocks of the current file not yet returned */
    int n_blocks, next_block;
    long record;
} cifdir;

static void cifdir_close(void *state)
{
    cifdir *d = state;
    if (!d) return;
    for (int i = 0; i < d->n_names; i++) free(d->names[i]);
    free(d->names);
    free_blocks(d->blocks, d->n_blocks);
    free(d->dir);
    free(d);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Do the sorted names read "0_..", "1_..", ... with one zero-padded width? */
static int writer_layout(char **names, int n)
{
    if (n == 0) return 0;
    size_t width = strspn(names[0], "0123456789");
    if (width == 0) return 0;
    for (int i = 0; i < n; i++) {
        const char *s = names[i];
        if (strspn(s, "0123456789") != width || s[width] != '_') return 0;
        if (strtol(s, NULL, 10) != i) return 0;
    }
    return 1;
}

static int cifdir_open(const char *path, void **state, cb_error *err)
{
    *state = NULL;
    cifdir *d = calloc(1, sizeof *d);
    if (!d || !(d->dir = cb_ds_strdup(path))) {
        free(d);
        return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    }
    int rc = CB_OK, cap = 0;
    DIR *dh = opendir(path);
    if (!dh) {
        rc = cb_fail(err, CB_ERR_IO, "%s: cannot open directory: %s", path, strerror(errno));
        goto fail;
    }
    struct dirent *de;
    while ((de = readdir(dh))) {
        if (!cb_ds_ends_with(de->d_name, ".cif") || strlen(de->d_name) <= 4) continue;
        size_t len = strlen(path) + strlen(de->d_name) + 2;
        char *full = malloc(len);
        if (!full) goto nomem_dir;
        snprintf(full, len, "%s/%s", path, de->d_name);
        struct stat st;
        int regular = stat(full, &st) == 0 && S_ISREG(st.st_mode);
        free(full);
        if (!regular) continue;
        if (d->n_names == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(d->names, (size_t)cap * sizeof *nn);
            if (!nn) goto nomem_dir;
            d->names = nn;
        }
        if (!(d->names[d->n_names] = cb_ds_strdup(de->d_name))) goto nomem_dir;
        d->n_names++;
    }
    closedir(dh);
    if (d->n_names > 1) qsort(d->names, (size_t)d->n_names, sizeof *d->names, cmp_names);
    d->strip_index = writer_layout(d->names, d->n_names);
    *state = d;
    return CB_OK;
nomem_dir:
    closedir(dh);
    rc = cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
fail:
    cifdir_close(d);
    return rc;
}

static int cifdir_next(void *state, cb_crystal *out, cb_error *err)
{
    cifdir *d = state;
    while (d->next_block >= d->n_blocks) {
        free_blocks(d->blocks, d->n_blocks);
        d->blocks = NULL;
        d->n_blocks = d->next_block = 0;
        if (d->next_name >= d->n_names) return CB_ERR_EOF;
        const char *name = d->names[d->next_name++];
        size_t len = strlen(d->dir) + strlen(name) + 2;
        char *full = malloc(len);
        if (!full) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
        snprintf(full, len, "%s/%s", d->dir, name);
        cb_crystal *blocks = NULL;
        int nb = 0;
        int rc = cb_cif_read_file_opts(full, &cb_cif_pymatgen, &blocks, &nb, err);
        if (rc == CB_OK && nb < 1) rc = cb_fail(err, CB_ERR_PARSE, "no structure in the file");
        char stem[1024];
        cb_ds_path_stem(name, ".cif", stem, sizeof stem);
        const char *id = stem;
        if (d->strip_index) id = strchr(stem, '_') + 1;
        for (int k = 0; rc == CB_OK && k < nb; k++) {
            char what[64];
            snprintf(what, sizeof what, "block %d", k + 1);
            rc = cb_crystal_check(&blocks[k], nb > 1 ? what : "structure", err);
            if (rc == CB_OK) rc = name_block(&blocks[k], id, k, nb, err);
        }
        if (rc) {
            d->record++;
            free_blocks(blocks, nb);
            cb_ds_error_prefix(err, full);
            free(full);
            return rc;
        }
        free(full);
        d->blocks = blocks;
        d->n_blocks = nb;
    }
    *out = d->blocks[d->next_block];
    memset(&d->blocks[d->next_block], 0, sizeof *out);
    d->next_block++;
    d->record++;
    return CB_OK;
}

static long cifdir_record(const void *state) { return ((const cifdir *)state)->record; }

const cb_reader_ops cb_cifdir_reader_ops = {cifdir_open, cifdir_next, cifdir_record, cifdir_close};

/* ================================================================ single-file reader */

typedef struct ciffile {
    cb_crystal *blocks;
    int n, next;
} ciffile;

static void ciffile_close(void *state)
{
    ciffile *f = state;
    if (!f) return;
    free_blocks(f->blocks, f->n);
    free(f);
}

/* The whole file is parsed at open (CIF files are small), so a broken file fails at
 * cb_reader_open with the parser's message. */
static int ciffile_open(const char *path, void **state, cb_error *err)
{
    *state = NULL;
    ciffile *f = calloc(1, sizeof *f);
    if (!f) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    int rc = cb_cif_read_file_opts(path, &cb_cif_pymatgen, &f->blocks, &f->n, err);
    if (rc == CB_OK && f->n < 1) rc = cb_fail(err, CB_ERR_PARSE, "no structure in the file");
    char stem[1024];
    cb_ds_path_stem(path, ".cif", stem, sizeof stem);
    for (int k = 0; rc == CB_OK && k < f->n; k++) {
        cb_crystal *c = &f->blocks[k];
        char what[64];
        snprintf(what, sizeof what, "block %d", k + 1);
        rc = cb_crystal_check(c, what, err);
        /* The block name identifies a crystal here; the file name only when absent. */
        if (rc == CB_OK && !(c->id && *c->id)) rc = name_block(c, stem, k, f->n, err);
    }
    if (rc) {
        cb_ds_error_prefix(err, path);
        ciffile_close(f);
        return rc;
    }
    *state = f;
    return CB_OK;
}

static int ciffile_next(void *state, cb_crystal *out, cb_error *err)
{
    (void)err;
    ciffile *f = state;
    if (f->next >= f->n) return CB_ERR_EOF;
    *out = f->blocks[f->next];
    memset(&f->blocks[f->next], 0, sizeof *out);
    f->next++;
    return CB_OK;
}

static long ciffile_record(const void *state) { return ((const ciffile *)state)->next; }

const cb_reader_ops cb_cif_reader_ops = {ciffile_open, ciffile_next, ciffile_record, ciffile_close};

/* ================================================================ writers */

/* File-name-safe id: letters, digits, '-', '_', '.'; anything else becomes '_'; at most
 * 100 characters; never starts with '.'.  Empty when id is NULL or empty. */
static void sanitize_id(const char *id, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *s = id ? id : ""; *s && n + 1 < cap && n < 100; s++) {
        unsigned char ch = (unsigned char)*s;
        out[n++] = (isalnum(ch) || ch == '-' || ch == '_' || ch == '.') && ch < 0x80 ? (char)ch : '_';
    }
    out[n] = '\0';
    if (out[0] == '.') out[0] = '_';
}

/* Removes a folder that holds only regular *.cif files (our own output).  Returns 0 on
 * success, 1 when the folder holds something else (left untouched), -1 on I/O error. */
static int remove_cif_folder(const char *dir)
{
    DIR *dh = opendir(dir);
    if (!dh) return -1;
    struct dirent *de;
    int foreign = 0;
    char full[4096];
    while ((de = readdir(dh))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
        struct stat st;
        if (!cb_ds_ends_with(de->d_name, ".cif") || lstat(full, &st) != 0 || !S_ISREG(st.st_mode))
            foreign = 1;
    }
    if (foreign) {
        closedir(dh);
        return 1;
    }
    rewinddir(dh);
    int rc = 0;
    while ((de = readdir(dh))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
        if (unlink(full) != 0) rc = -1;
    }
    closedir(dh);
    if (rc == 0 && rmdir(dir) != 0) rc = -1;
    return rc;
}

static int path_exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static int write_text_file(const char *path, const char *text, size_t len, cb_error *err)
{
    FILE *f = fopen(path, "wb");
    if (!f) return cb_fail(err, CB_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    size_t w = fwrite(text, 1, len, f);
    int bad = w != len || ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad) return cb_fail(err, CB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    return CB_OK;
}

int cb_cifdir_write_items(const char *dir_in, const cb_crystal *items, size_t n, cb_error *err)
{
    char dir[4096], tmp[4200], old[4200];
    snprintf(dir, sizeof dir, "%s", dir_in);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dir[--dl] = '\0'; /* "out/" names the folder "out" */
    if (dl + 16 >= sizeof dir) return cb_fail(err, CB_ERR_USAGE, "%s: path too long", dir_in);
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    snprintf(old, sizeof old, "%s.old", dir);

    struct stat st;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return cb_fail(err, CB_ERR_IO, "%s: exists and is not a directory", dir);
    /* A "<dir>.tmp" left by a crash is ours to remove; anything else there is not. */
    if (path_exists(tmp) && remove_cif_folder(tmp) != 0)
        return cb_fail(err, CB_ERR_IO, "%s: exists and holds other files than *.cif; remove it", tmp);
    if (mkdir(tmp, 0777) != 0)
        return cb_fail(err, CB_ERR_IO, "%s: cannot create directory: %s", tmp, strerror(errno));

    int width = 1;
    for (size_t m = n > 0 ? n - 1 : 0; m >= 10; m /= 10) width++;
    int rc = CB_OK;
    for (size_t k = 0; k < n && rc == CB_OK; k++) {
        char safe[128], file[4400];
        sanitize_id(items[k].id, safe, sizeof safe);
        if (!safe[0]) snprintf(safe, sizeof safe, "%zu", k);
        int fl = snprintf(file, sizeof file, "%s/%0*zu_%s.cif", tmp, width, k, safe);
        if (fl < 0 || (size_t)fl >= sizeof file) {
            rc = cb_fail(err, CB_ERR_USAGE, "%s: path too long", dir);
            break;
        }
        char *text = NULL;
        size_t len = 0;
        rc = cb_cif_write(&items[k], &text, &len, err);
        if (rc) cb_error_prefix(err, "%s: crystal %zu", dir, k + 1);
        else rc = write_text_file(file, text, len, err);
        free(text);
    }
    if (rc) {
        remove_cif_folder(tmp);
        return rc;
    }
    if (path_exists(dir)) {
        if (path_exists(old) && remove_cif_folder(old) != 0) {
            remove_cif_folder(tmp);
            return cb_fail(err, CB_ERR_IO, "%s: exists and holds other files than *.cif; remove it", old);
        }
        DIR *probe = opendir(dir);
        int foreign = 0;
        if (probe) {
            struct dirent *de;
            while ((de = readdir(probe)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && !cb_ds_ends_with(de->d_name, ".cif"))
                    foreign = 1;
            closedir(probe);
        }
        if (foreign) {
            remove_cif_folder(tmp);
            return cb_fail(err, CB_ERR_IO,
                           "%s: exists and holds other files than *.cif; refusing to replace it", dir);
        }
        if (rename(dir, old) != 0) {
            int e = errno;
            remove_cif_folder(tmp);
            return cb_fail(err, CB_ERR_IO, "%s: cannot move aside to %s: %s", dir, old, strerror(e));
        }
    }
    if (rename(tmp, dir) != 0) {
        int e = errno;
        if (path_exists(old)) rename(old, dir); /* put the previous output back */
        remove_cif_folder(tmp);
        return cb_fail(err, CB_ERR_IO, "%s: cannot rename %s into place: %s", dir, tmp, strerror(e));
    }
    if (path_exists(old) && remove_cif_folder(old) != 0)
        return cb_fail(err, CB_ERR_IO, "%s: written, but the previous output %s could not be removed", dir, old);
    return CB_OK;
}

int cb_cif_write_items(const char *path, const cb_crystal *items, size_t n, cb_error *err)
{
    cb_dsout o;
    int rc = cb_dsout_open(&o, path, err);
    if (rc) return rc;
    for (size_t k = 0; k < n; k++) {
        char *text = NULL;
        size_t len = 0;
        if ((rc = cb_cif_write(&items[k], &text, &len, err))) {
            cb_error_prefix(err, "%s: crystal %zu", path, k + 1);
            cb_dsout_abort(&o);
            return rc;
        }
        if (k) cb_dsout_puts(&o, "\n");
        /* The block name carries the id (the writer names blocks after the formula), so
         * the file reads back with its ids. */
        char safe[128];
        sanitize_id(items[k].id, safe, sizeof safe);
        char *data = safe[0] ? strstr(text, "data_") : NULL;
        if (data && (data == text || data[-1] == '\n')) {
            size_t eol = strcspn(data, "\r\n");
            cb_dsout_write(&o, text, (size_t)(data - text));
            cb_dsout_printf(&o, "data_%s", safe);
            cb_dsout_write(&o, data + eol, len - (size_t)(data + eol - text));
        } else {
            cb_dsout_write(&o, text, len);
        }
        free(text);
    }
    return cb_dsout_commit(&o, err);
}
