#include "crystalbench/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void cb_rng_seed(cb_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->spare = 0.0;
    r->has_spare = 0;
}

void cb_rng_fork(const cb_rng *r, uint64_t stream, cb_rng *child)
{
    /* Mix the parent's state with the stream id through splitmix so that forks with
     * consecutive ids are unrelated. */
    uint64_t x = r->s[0] ^ (r->s[1] << 1) ^ (r->s[2] << 2) ^ (r->s[3] << 3);
    x ^= splitmix64(&stream);
    cb_rng_seed(child, x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cb_rng_u64(cb_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double cb_rng_uniform(cb_rng *r)
{
    return (double)(cb_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t cb_rng_below(cb_rng *r, uint64_t n)
{
    /* Lemire: multiply-shift with rejection of the biased low region. */
    unsigned __int128 m = (unsigned __int128)cb_rng_u64(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t threshold = -n % n;
        while (lo < threshold) {
            m = (unsigned __int128)cb_rng_u64(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double cb_rng_normal(cb_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * cb_rng_uniform(r) - 1.0;
        v = 2.0 * cb_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

void cb_rng_shuffle(cb_rng *r, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)cb_rng_below(r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
