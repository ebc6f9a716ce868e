/* Contiguous ranges of an element-wise loop on OpenBLAS's thread count (parallel.h). */
#include "parallel.h"

#include <cblas.h>
#include <pthread.h>

enum { MAX_THREADS = 64 };

typedef struct range_job {
    void (*fn)(void *ctx, size_t begin, size_t end);
    void *ctx;
    size_t begin, end;
} range_job;

static void *run_range(void *arg)
{
    range_job *j = arg;
    j->fn(j->ctx, j->begin, j->end);
    return NULL;
}

void cb_nn_parallel_for(size_t n, size_t min_chunk, void (*fn)(void *ctx, size_t begin, size_t end), void *ctx)
{
    size_t threads = (size_t)openblas_get_num_threads();
    if (min_chunk < 1) min_chunk = 1;
    if (threads > n / min_chunk) threads = n / min_chunk;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads <= 1) {
        if (n) fn(ctx, 0, n);
        return;
    }
    range_job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (size_t t = 0; t < threads; t++)
        jobs[t] = (range_job){fn, ctx, n * t / threads, n * (t + 1) / threads};
    for (size_t t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, run_range, &jobs[t]) == 0;
    run_range(&jobs[0]);
    for (size_t t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            run_range(&jobs[t]);
    }
}
