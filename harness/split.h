/* Training splits shared by `crystalbench run` and `crystalbench train`
 * (../shared/data/README.md): the published train split when there is one, else the
 * published validation split minus a seeded hold-out. */
#ifndef CRYSTALBENCH_HARNESS_SPLIT_H
#define CRYSTALBENCH_HARNESS_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "crystalbench/dataset.h"
#include "crystalbench/error.h"

/* A view: out->items[i] = src->items[idx ? idx[i] : i] for i < n, sharing the crystals
 * (free it with cb_dataset_view_free, never cb_dataset_free). */
int cb_dataset_view(const cb_dataset *src, const size_t *idx, size_t n, cb_dataset *out, cb_error *err);
void cb_dataset_view_free(cb_dataset *v);

/* The default protocol's split of a validation file: a permutation by numpy's
 * RandomState(seed); its first round(holdout·n) entries, in file order, validate and
 * the rest train.  CB_ERR_INVALID (naming the file) when that leaves either side empty. */
int cb_split_val_holdout(const cb_dataset *val_file, uint32_t seed, double holdout, cb_dataset *train,
                         cb_dataset *val, cb_error *err);

/* The training and validation views of a dataset's files: with a train file (non-NULL)
 * the standard split — all of it trains, all of val_file (may be empty) validates —
 * else cb_split_val_holdout.  Names the split as stored runs record it in
 * name[CB_SPLIT_NAME]: "standard" or "val-minus-10%". */
#define CB_SPLIT_NAME 32
int cb_split_views(const cb_dataset *train_file, const cb_dataset *val_file, uint32_t seed, double holdout,
                   cb_dataset *train, cb_dataset *val, char name[CB_SPLIT_NAME], cb_error *err);
void cb_split_name(int standard, double holdout, char name[CB_SPLIT_NAME]);

#endif
