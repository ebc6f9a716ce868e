/* The statistics block stored in a FlowMM checkpoint's `extra` bytes (layout in
 * manifold.h).  Explicit little-endian bytes, doubles as their bit patterns: portable
 * and exact. */
#include "manifold.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/le_bytes.h"

#define MAGIC "CBFMSTAT"
#define N_DOUBLES 45 /* 6 × 3 lattice + 4 × 6 + 3 affine */
#define HEADER 16

/* The doubles in their serialised order, as pointers into s (so writing and reading
 * cannot drift apart). */
static void double_slots(cb_flowmm_stats *s, double *slot[N_DOUBLES])
{
    int k = 0;
    double *groups3[] = {s->lattice.length_mean,      s->lattice.length_std,
                         s->lattice.length_log_mean,  s->lattice.length_log_std,
                         s->lattice.angle_uncon_mean, s->lattice.angle_uncon_std};
    for (int g = 0; g < 6; g++)
        for (int j = 0; j < 3; j++) slot[k++] = &groups3[g][j];
    double *groups6[] = {s->affine.lattice_xt_mean, s->affine.lattice_xt_std,
                         s->affine.lattice_ut_mean, s->affine.lattice_ut_std};
    for (int g = 0; g < 4; g++)
        for (int j = 0; j < 6; j++) slot[k++] = &groups6[g][j];
    for (int j = 0; j < 3; j++) slot[k++] = &s->affine.coord_ut_std[j];
}

/* Slots holding a standard deviation (must be ≥ 0). */
static int is_std_slot(int k)
{
    return (k >= 3 && k < 6) || (k >= 9 && k < 12) || (k >= 15 && k < 18) ||
           (k >= 24 && k < 30) || (k >= 36 && k < 45);
}

static size_t size_for(int max_n)
{
    return HEADER + 8 * (size_t)N_DOUBLES + 4 + 8 * (size_t)(max_n + 1);
}

size_t cb_flowmm_stats_size(const cb_flowmm_stats *s) { return size_for(s->natoms.max_n); }

int cb_flowmm_stats_serialize(const cb_flowmm_stats *s, unsigned char **out, size_t *len,
                              cb_error *err)
{
    int max_n = s->natoms.max_n;
    if (max_n < 0 || max_n > CB_FLOWMM_MAX_ATOMS)
        return cb_fail(err, CB_ERR_USAGE, "flowmm stats: max_n = %d outside 0..%d", max_n,
                       CB_FLOWMM_MAX_ATOMS);
    size_t n = size_for(max_n);
    unsigned char *b = malloc(n);
    if (!b) return cb_fail(err, CB_ERR_NOMEM, "flowmm stats: out of memory");
    memcpy(b, MAGIC, 8);
    cb_put_u32(b + 8, CB_FLOWMM_STATS_VERSION);
    cb_put_u32(b + 12, N_DOUBLES);
    cb_flowmm_stats copy = *s; /* double_slots wants a mutable struct */
    double *slot[N_DOUBLES];
    double_slots(&copy, slot);
    unsigned char *p = b + HEADER;
    for (int k = 0; k < N_DOUBLES; k++, p += 8) {
        uint64_t bits;
        memcpy(&bits, slot[k], 8);
        cb_put_u64(p, bits);
    }
    cb_put_u32(p, (uint32_t)max_n);
    p += 4;
    for (int i = 0; i <= max_n; i++, p += 8) cb_put_u64(p, s->natoms.count[i]);
    *out = b;
    *len = n;
    return CB_OK;
}

int cb_flowmm_stats_deserialize(const unsigned char *buf, size_t len, cb_flowmm_stats *out,
                                cb_error *err)
{
    const char *what = "flowmm stats block";
    if (len < HEADER + 8 * (size_t)N_DOUBLES + 4)
        return cb_fail(err, CB_ERR_INVALID, "%s: %zu bytes, too short", what, len);
    if (memcmp(buf, MAGIC, 8) != 0)
        return cb_fail(err, CB_ERR_INVALID, "%s: bad magic", what);
    uint32_t version = cb_get_u32(buf + 8), nd = cb_get_u32(buf + 12);
    if (version != CB_FLOWMM_STATS_VERSION)
        return cb_fail(err, CB_ERR_INVALID, "%s: version %u, expected %d", what, version,
                       CB_FLOWMM_STATS_VERSION);
    if (nd != N_DOUBLES)
        return cb_fail(err, CB_ERR_INVALID, "%s: %u values, expected %d", what, nd, N_DOUBLES);
    const unsigned char *p = buf + HEADER + 8 * (size_t)N_DOUBLES;
    uint32_t max_n = cb_get_u32(p);
    if (max_n > CB_FLOWMM_MAX_ATOMS)
        return cb_fail(err, CB_ERR_INVALID, "%s: max_n = %u above %d", what, max_n,
                       CB_FLOWMM_MAX_ATOMS);
    if (len != size_for((int)max_n))
        return cb_fail(err, CB_ERR_INVALID, "%s: %zu bytes, expected %zu", what, len,
                       size_for((int)max_n));
    cb_flowmm_stats s;
    memset(&s, 0, sizeof s);
    double *slot[N_DOUBLES];
    double_slots(&s, slot);
    for (int k = 0; k < N_DOUBLES; k++) {
        uint64_t bits = cb_get_u64(buf + HEADER + 8 * (size_t)k);
        memcpy(slot[k], &bits, 8);
        if (!isfinite(*slot[k]))
            return cb_fail(err, CB_ERR_INVALID, "%s: value %d is not finite", what, k);
        if (is_std_slot(k) && *slot[k] < 0)
            return cb_fail(err, CB_ERR_INVALID, "%s: value %d, a std, is negative", what, k);
    }
    p += 4;
    s.natoms.max_n = (int)max_n;
    for (uint32_t i = 0; i <= max_n; i++, p += 8) {
        s.natoms.count[i] = cb_get_u64(p);
        if (s.natoms.total + s.natoms.count[i] < s.natoms.total)
            return cb_fail(err, CB_ERR_INVALID, "%s: atom counts overflow", what);
        s.natoms.total += s.natoms.count[i];
    }
    if (max_n > 0 && s.natoms.count[max_n] == 0)
        return cb_fail(err, CB_ERR_INVALID, "%s: no crystal has max_n = %u atoms", what, max_n);
    *out = s;
    return CB_OK;
}
