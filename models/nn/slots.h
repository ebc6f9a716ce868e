/* Per-item work on a few workers that each own a slot of scratch (an activation cache, a
 * KV cache): the samplers of the trained backends integrate or decode one crystal at a
 * time, so results do not depend on how many run at once.
 *
 * cb_nn_for_slots runs item(ctx, slot, i, err) for every i in [0, n) on `workers`
 * threads; `slot` ∈ [0, workers) is held by no other running call, so the caller indexes
 * its per-worker scratch with it.  OpenBLAS is set to one thread meanwhile, even for one
 * worker (the products of one crystal are too small to share, the workers fill the
 * cores, and a product's rounding may depend on its thread count), which also
 * makes the element-wise loops serial inside the workers (parallel.h).  Returns 0 or the
 * first failure's code. */
#ifndef CB_NN_SLOTS_H
#define CB_NN_SLOTS_H

#include <stddef.h>

#include "crystalbench/error.h"

typedef int (*cb_nn_slot_fn)(void *ctx, int slot, size_t i, cb_error *err);

int cb_nn_for_slots(size_t n, int workers, cb_nn_slot_fn item, void *ctx, cb_error *err);

#endif
