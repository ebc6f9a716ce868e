/* Seeded random numbers: xoshiro256** (Blackman & Vigna) seeded through splitmix64.
 * The whole state is the public struct, so a checkpoint saves it with a memcpy and a
 * resumed run continues the exact same stream. */
#ifndef CRYSTALBENCH_RNG_H
#define CRYSTALBENCH_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct cb_rng {
    uint64_t s[4];
    /* Cached second normal variate of the polar method; has_spare is 0 or 1. */
    double spare;
    int has_spare;
} cb_rng;

void cb_rng_seed(cb_rng *r, uint64_t seed);
/* An independent stream for a sub-task (e.g. one per dataset row), derived from the
 * seed and a stream id; does not disturb r. */
void cb_rng_fork(const cb_rng *r, uint64_t stream, cb_rng *child);
uint64_t cb_rng_u64(cb_rng *r);
/* Uniform on [0, 1) with 53 random bits. */
double cb_rng_uniform(cb_rng *r);
/* Uniform integer in [0, n), unbiased (Lemire's method); n > 0. */
uint64_t cb_rng_below(cb_rng *r, uint64_t n);
/* Standard normal (Marsaglia polar method). */
double cb_rng_normal(cb_rng *r);
/* Fisher–Yates shuffle of an index array. */
void cb_rng_shuffle(cb_rng *r, size_t *idx, size_t n);

#endif
