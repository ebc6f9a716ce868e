/* cb_parallel_for: workers take items from an atomic counter; the calling thread
 * reports progress until they finish. */
#include "crystalbench/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct loop {
    size_t n;
    cb_item_fn fn;
    void *ctx;
    atomic_size_t next, done;
    atomic_int failed;
    pthread_mutex_t lock; /* guards err */
    cb_error err;
} loop;

static void *worker(void *arg)
{
    loop *L = arg;
    for (;;) {
        if (atomic_load(&L->failed)) break;
        size_t i = atomic_fetch_add(&L->next, 1);
        if (i >= L->n) break;
        cb_error err;
        int rc = L->fn(L->ctx, i, &err);
        if (rc) {
            pthread_mutex_lock(&L->lock);
            if (!atomic_load(&L->failed)) {
                L->err = err;
                atomic_store(&L->failed, rc);
            }
            pthread_mutex_unlock(&L->lock);
            break;
        }
        atomic_fetch_add(&L->done, 1);
    }
    return NULL;
}

int cb_parallel_for(size_t n, int threads, cb_item_fn fn, void *ctx, cb_progress *progress, cb_error *err)
{
    if (n == 0) return CB_OK;
    if (threads > 256) threads = 256;
    if (threads > 1 && (size_t)threads > n) threads = (int)n;
    if (threads <= 1) {
        for (size_t i = 0; i < n; i++) {
            int rc = fn(ctx, i, err);
            if (rc) return rc;
            if (progress) cb_progress_update(progress, i + 1);
        }
        return CB_OK;
    }
    loop L;
    memset(&L, 0, sizeof L);
    L.n = n;
    L.fn = fn;
    L.ctx = ctx;
    atomic_init(&L.next, 0);
    atomic_init(&L.done, 0);
    atomic_init(&L.failed, 0);
    pthread_mutex_init(&L.lock, NULL);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    int started = 0;
    if (tid)
        for (; started < threads; started++)
            if (pthread_create(&tid[started], NULL, worker, &L) != 0) break;
    if (started == 0) {
        worker(&L); /* no thread could start: do the work here */
    } else {
        struct timespec nap = {0, 50 * 1000 * 1000};
        while (atomic_load(&L.done) < n && !atomic_load(&L.failed)) {
            if (progress) cb_progress_update(progress, atomic_load(&L.done));
            nanosleep(&nap, NULL);
        }
        for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    }
    free(tid);
    pthread_mutex_destroy(&L.lock);
    int failed = atomic_load(&L.failed);
    if (failed) {
        if (err) *err = L.err;
        return failed;
    }
    if (progress) cb_progress_update(progress, n);
    return CB_OK;
}
