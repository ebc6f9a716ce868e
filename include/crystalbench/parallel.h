/* A parallel loop over independent items, with progress from the calling thread.
 *
 * Items are handed out one at a time from a shared counter, so long and short items
 * balance; results must go to per-item slots (the order of execution is not fixed,
 * the results are).  The first failing item stops the loop: items already running
 * finish, no new ones start, and that item's error is returned. */
#ifndef CRYSTALBENCH_PARALLEL_H
#define CRYSTALBENCH_PARALLEL_H

#include <stddef.h>

#include "crystalbench/error.h"
#include "crystalbench/progress.h"

/* Processes item i; returns 0 or an error code with err set. */
typedef int (*cb_item_fn)(void *ctx, size_t i, cb_error *err);

/* Runs fn on items 0..n-1 with `threads` workers (<= 1: in this thread, in order).
 * With workers, this thread only updates the progress bar (if any) until they are
 * done.  Returns 0 or the first failure's code (err set). */
int cb_parallel_for(size_t n, int threads, cb_item_fn fn, void *ctx, cb_progress *progress, cb_error *err);

#endif
