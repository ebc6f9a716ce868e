/* Training splits (split.h). */
#include "split.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/dng.h"

int cb_dataset_view(const cb_dataset *src, const size_t *idx, size_t n, cb_dataset *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    out->items = malloc((n ? n : 1) * sizeof *out->items);
    if (!out->items) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) out->items[i] = idx ? src->items[idx[i]] : src->items[i];
    out->n = out->cap = n;
    return CB_OK;
}

void cb_dataset_view_free(cb_dataset *v)
{
    free(v->items);
    memset(v, 0, sizeof *v);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

int cb_split_val_holdout(const cb_dataset *val_file, uint32_t seed, double holdout, cb_dataset *train,
                         cb_dataset *val, cb_error *err)
{
    size_t n = val_file->n;
    size_t n_hold = (size_t)llround(holdout * (double)n);
    if (n_hold < 1 || n_hold >= n)
        return cb_fail(err, CB_ERR_INVALID, "%s: %zu structures cannot be split with a %.3g hold-out",
                       val_file->path ? val_file->path : "val", n, holdout);
    size_t *perm = malloc(n * sizeof *perm);
    if (!perm) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    int rc = cb_np_permutation(seed, n, perm, err);
    if (!rc) {
        qsort(perm, n_hold, sizeof *perm, cmp_size);
        qsort(perm + n_hold, n - n_hold, sizeof *perm, cmp_size);
        rc = cb_dataset_view(val_file, perm, n_hold, val, err);
        if (!rc) rc = cb_dataset_view(val_file, perm + n_hold, n - n_hold, train, err);
        if (rc) cb_dataset_view_free(val);
    }
    free(perm);
    return rc;
}

void cb_split_name(int standard, double holdout, char name[CB_SPLIT_NAME])
{
    if (standard)
        snprintf(name, CB_SPLIT_NAME, "standard");
    else
        snprintf(name, CB_SPLIT_NAME, "val-minus-%g%%", 100.0 * holdout);
}

int cb_split_views(const cb_dataset *train_file, const cb_dataset *val_file, uint32_t seed, double holdout,
                   cb_dataset *train, cb_dataset *val, char name[CB_SPLIT_NAME], cb_error *err)
{
    cb_split_name(train_file != NULL, holdout, name);
    if (!train_file) return cb_split_val_holdout(val_file, seed, holdout, train, val, err);
    int rc = cb_dataset_view(train_file, NULL, train_file->n, train, err);
    if (!rc && (rc = cb_dataset_view(val_file, NULL, val_file->n, val, err))) cb_dataset_view_free(train);
    return rc;
}
