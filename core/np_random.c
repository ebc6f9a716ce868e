/* numpy's legacy RandomState: MT19937 seeded with an integer (init_genrand), 32-bit
 * outputs, and the bounded integers and permutation that `choice(n, k, replace=False)`
 * uses (metrics.md §1.3).  Only what the DNG subset needs. */
#include "crystalbench/dng.h"

#include <stdlib.h>

#define MT_N 624
#define MT_M 397

typedef struct mt19937 {
    uint32_t key[MT_N];
    int pos;
} mt19937;

static void mt_seed(mt19937 *m, uint32_t seed)
{
    m->key[0] = seed;
    for (int i = 1; i < MT_N; i++) m->key[i] = 1812433253u * (m->key[i - 1] ^ (m->key[i - 1] >> 30)) + (uint32_t)i;
    m->pos = MT_N;
}

static void mt_generate(mt19937 *m)
{
    static const uint32_t mag01[2] = {0u, 0x9908b0dfu};
    int i;
    for (i = 0; i < MT_N - MT_M; i++) {
        uint32_t y = (m->key[i] & 0x80000000u) | (m->key[i + 1] & 0x7fffffffu);
        m->key[i] = m->key[i + MT_M] ^ (y >> 1) ^ mag01[y & 1];
    }
    for (; i < MT_N - 1; i++) {
        uint32_t y = (m->key[i] & 0x80000000u) | (m->key[i + 1] & 0x7fffffffu);
        m->key[i] = m->key[i + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 1];
    }
    uint32_t y = (m->key[MT_N - 1] & 0x80000000u) | (m->key[0] & 0x7fffffffu);
    m->key[MT_N - 1] = m->key[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1];
    m->pos = 0;
}

static uint32_t mt_next32(mt19937 *m)
{
    if (m->pos == MT_N) mt_generate(m);
    uint32_t y = m->key[m->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* random_interval(max): uniform in [0, max] by masking to the smallest all-ones mask
 * that covers max and rejecting larger values; 64-bit draws (two outputs, high word
 * first) only when max needs them. */
static uint64_t mt_interval(mt19937 *m, uint64_t max)
{
    if (max == 0) return 0;
    uint64_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    uint64_t v;
    if (max <= 0xffffffffu) {
        while ((v = (mt_next32(m) & mask)) > max) {
        }
    } else {
        do {
            uint64_t hi = mt_next32(m);
            v = ((hi << 32) | mt_next32(m)) & mask;
        } while (v > max);
    }
    return v;
}

int cb_np_permutation(uint32_t seed, size_t n, size_t *out, cb_error *err)
{
    mt19937 *m = malloc(sizeof *m);
    if (!m) return cb_fail(err, CB_ERR_NOMEM, "permutation: out of memory");
    mt_seed(m, seed);
    for (size_t i = 0; i < n; i++) out[i] = i;
    for (size_t i = n; i-- > 1;) { /* shuffle: i = n-1 down to 1 */
        size_t j = (size_t)mt_interval(m, i);
        size_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
    free(m);
    return CB_OK;
}
