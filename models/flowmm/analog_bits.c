/* Analog bits for DNG atom types (models.md §3.1, §3.7; flowmm
 * src/flowmm/rfm/manifolds/analog_bits.py and manifold_getter.py _atomic_bits):
 * the integer Z − 1 written in binary, each bit as ±scale, LSB first; the bits live in
 * a Euclidean space (euclid.c) with a standard-normal base. */
#include "manifold.h"

int cb_flowmm_abits_count(int max_code)
{
    int bits = 0;
    for (int v = max_code; v >= 1; v >>= 1) bits++; /* floor(log2 v) + 1 */
    return bits;
}

int cb_flowmm_abits_encode(int z, double scale, double a[CB_FLOWMM_ABITS], cb_error *err)
{
    if (z < 1 || z > (1 << CB_FLOWMM_ABITS))
        return cb_fail(err, CB_ERR_USAGE, "analog bits: Z = %d outside 1..%d", z,
                       1 << CB_FLOWMM_ABITS);
    int k = z - 1;
    for (int j = 0; j < CB_FLOWMM_ABITS; j++) a[j] = (2.0 * ((k >> j) & 1) - 1.0) * scale;
    return CB_OK;
}

int cb_flowmm_abits_decode(const double a[CB_FLOWMM_ABITS])
{
    int k = 0;
    for (int j = 0; j < CB_FLOWMM_ABITS; j++)
        if (a[j] > 0) k |= 1 << j;
    return k + 1;
}

void cb_flowmm_abits_base(double (*a)[CB_FLOWMM_ABITS], int n, cb_rng *rng)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < CB_FLOWMM_ABITS; j++) a[i][j] = cb_rng_normal(rng);
}
