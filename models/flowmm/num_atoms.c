/* The number-of-atoms distribution of a training split, for DNG sampling (models.md
 * §1.5; DiffCSP's train_dist, which FlowMM's DNG sampler uses): a histogram of cell
 * sizes and exact sampling from it. */
#include "manifold.h"

#include <string.h>

int cb_flowmm_natoms_count(const cb_dataset *ds, cb_flowmm_natoms *h, cb_error *err)
{
    memset(h, 0, sizeof *h);
    for (size_t i = 0; i < ds->n; i++) {
        const cb_crystal *c = &ds->items[i];
        const char *id = c->id ? c->id : "?";
        if (c->n < 1) {
            memset(h, 0, sizeof *h);
            return cb_fail(err, CB_ERR_INVALID, "crystal %zu (%s) has no atoms", i + 1, id);
        }
        if (c->n > CB_FLOWMM_MAX_ATOMS) {
            memset(h, 0, sizeof *h);
            return cb_fail(err, CB_ERR_UNSUPPORTED,
                           "crystal %zu (%s) has %d atoms; FlowMM here handles at most %d",
                           i + 1, id, c->n, CB_FLOWMM_MAX_ATOMS);
        }
        h->count[c->n]++;
        h->total++;
        if (c->n > h->max_n) h->max_n = c->n;
    }
    return CB_OK;
}

double cb_flowmm_natoms_prob(const cb_flowmm_natoms *h, int n)
{
    if (h->total == 0 || n < 0 || n > h->max_n) return 0.0;
    return (double)h->count[n] / (double)h->total;
}

int cb_flowmm_natoms_sample(const cb_flowmm_natoms *h, cb_rng *rng)
{
    if (h->total == 0) return 0;
    uint64_t r = cb_rng_below(rng, h->total);
    uint64_t cum = 0;
    for (int n = 0; n <= h->max_n; n++) {
        cum += h->count[n];
        if (r < cum) return n;
    }
    return h->max_n; /* unreachable when total = Σ count */
}
