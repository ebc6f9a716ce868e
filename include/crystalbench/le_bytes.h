/* Little-endian integers (and binary64 bits) in byte buffers, for the binary files (checkpoints and the
 * blocks inside them) that must read the same on any machine. */
#ifndef CRYSTALBENCH_LE_BYTES_H
#define CRYSTALBENCH_LE_BYTES_H

#include <stdint.h>
#include <string.h>

static inline void cb_put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline void cb_put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t cb_get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t cb_get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A binary64 by its bits. */
static inline void cb_put_f64(unsigned char *p, double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    cb_put_u64(p, bits);
}

static inline double cb_get_f64(const unsigned char *p)
{
    uint64_t bits = cb_get_u64(p);
    double x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

#endif
