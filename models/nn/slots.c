/* Workers with slots (slots.h). */
#include "slots.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>

#include "crystalbench/parallel.h"

typedef struct pool {
    cb_nn_slot_fn item;
    void *ctx;
    pthread_mutex_t lock;
    int *free_slots, n_free;
} pool;

static int run_item(void *ctx, size_t i, cb_error *err)
{
    pool *p = ctx;
    pthread_mutex_lock(&p->lock);
    int slot = p->free_slots[--p->n_free];
    pthread_mutex_unlock(&p->lock);
    int rc = p->item(p->ctx, slot, i, err);
    pthread_mutex_lock(&p->lock);
    p->free_slots[p->n_free++] = slot;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int cb_nn_for_slots(size_t n, int workers, cb_nn_slot_fn item, void *ctx, cb_error *err)
{
    if (workers < 1) workers = 1;
    pool p = {.item = item, .ctx = ctx, .n_free = workers};
    if (!(p.free_slots = malloc((size_t)workers * sizeof *p.free_slots)))
        return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    for (int k = 0; k < workers; k++) p.free_slots[k] = k;
    pthread_mutex_init(&p.lock, NULL);
    /* One BLAS thread whatever the number of workers: OpenBLAS can round a product
     * differently on more threads (seen under valgrind), and the samples must not
     * depend on how many workers ran. */
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    int rc = cb_parallel_for(n, workers, run_item, &p, NULL, err);
    openblas_set_num_threads(blas);
    pthread_mutex_destroy(&p.lock);
    free(p.free_slots);
    return rc;
}
