/* The composition fingerprint (metrics.md §3): matminer's ElementProperty with the
 * 'magpie' preset — 22 element properties × 6 statistics over the elements of the
 * cell, weighted by their atom counts — and CDVAE's CompScaler.
 *
 * The statistics follow matminer's PropertyStats with numpy's NaN semantics: min, max
 * and range are NaN when any element lacks the property; mean and avg_dev are
 * np.average (products summed in element order, divided by the summed weights); mode
 * is the smallest value among the elements whose count is np.isclose to the largest. */
#include "crystalbench/dng.h"

#include <math.h>
#include <string.h>

/* Distinct elements of the cell in order of first appearance (what
 * Composition(Counter(atom_types)).element_composition iterates) and their counts. */
static int cell_composition(int n, const int *atom_types, int *z, double *count)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < k && z[j] != atom_types[i]) j++;
        if (j == k) {
            z[k] = atom_types[i];
            count[k++] = 0;
        }
        count[j] += 1;
    }
    return k;
}

/* np.average(x, weights=w): sum of products in order over the sum of weights. */
static double weighted_mean(const double *x, const double *w, int k)
{
    double num = 0, den = 0;
    for (int i = 0; i < k; i++) {
        num += x[i] * w[i];
        den += w[i];
    }
    return num / den;
}

static void property_stats(const double *x, const double *w, int k, double out[6])
{
    int any_nan = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < k; i++) {
        any_nan |= isnan(x[i]);
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    out[0] = any_nan ? NAN : lo;
    out[1] = any_nan ? NAN : hi;
    out[2] = any_nan ? NAN : hi - lo;
    double mean = weighted_mean(x, w, k);
    out[3] = mean;
    double dev[CB_MAX_Z];
    for (int i = 0; i < k; i++) dev[i] = fabs(x[i] - mean);
    out[4] = weighted_mean(dev, w, k);

    double wmax = -INFINITY;
    for (int i = 0; i < k; i++)
        if (w[i] > wmax) wmax = w[i];
    double mode = INFINITY;
    int mode_nan = 0;
    for (int i = 0; i < k; i++)
        if (fabs(w[i] - wmax) <= 1e-8 + 1e-5 * fabs(wmax)) { /* np.isclose defaults */
            mode_nan |= isnan(x[i]);
            if (x[i] < mode) mode = x[i];
        }
    out[5] = mode_nan ? NAN : mode;
}

int cb_comp_fingerprint(int n, const int *atom_types, double fp[CB_COMP_FP_LEN], cb_error *err)
{
    if (n < 1) return cb_fail(err, CB_ERR_INVALID, "composition fingerprint: no atoms");
    for (int i = 0; i < n; i++)
        if (atom_types[i] < 1 || atom_types[i] > CB_MAX_Z)
            return cb_fail(err, CB_ERR_INVALID, "composition fingerprint: atom %d has unknown element Z = %d",
                           i + 1, atom_types[i]);
    int z[CB_MAX_Z];
    double count[CB_MAX_Z];
    int k = cell_composition(n, atom_types, z, count);
    for (int p = 0; p < CB_MAGPIE_NPROPS; p++) {
        double x[CB_MAX_Z];
        for (int i = 0; i < k; i++) x[i] = cb_elements[z[i]].magpie[p];
        property_stats(x, count, k, fp + 6 * p);
    }
    return CB_OK;
}

void cb_comp_scale(const double raw[CB_COMP_FP_LEN], double scaled[CB_COMP_FP_LEN])
{
    for (int k = 0; k < CB_COMP_FP_LEN; k++) {
        double v = (raw[k] - cb_comp_scaler_mean[k]) / cb_comp_scaler_std[k];
        scaled[k] = isnan(v) ? 0.0 : v;
    }
}
