/* Element-wise loops of the NN core on OpenBLAS's thread count.
 *
 * Between two matrix products OpenBLAS's threads sit idle, and a training step spends a
 * fifth of its time in element-wise loops (SiLU, AdamW, the EMA, clipping).  This
 * splits such a loop into contiguous ranges, one per thread, where every element's
 * value depends on that element alone — so the result is the same bits for any thread
 * count, and a loop that reduces across elements must not use it.
 *
 * The count is openblas_get_num_threads() at the call: training runs with the CLI's
 * --threads, and samplers that run one crystal per worker set OpenBLAS to one thread,
 * which makes these loops serial in the workers too (no oversubscription). */
#ifndef CB_NN_PARALLEL_H
#define CB_NN_PARALLEL_H

#include <stddef.h>

/* fn(ctx, begin, end) over [0, n) in ranges of at least min_chunk elements (fewer
 * threads when n is small); returns when all are done.  Threads are created per call
 * (tens of µs, against loops of milliseconds); if one cannot be created its range
 * runs on the caller. */
void cb_nn_parallel_for(size_t n, size_t min_chunk, void (*fn)(void *ctx, size_t begin, size_t end), void *ctx);

#endif
