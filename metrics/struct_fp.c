/* The structure fingerprint (metrics.md §4.1): for every site, CrystalNN's coordination
 * environments (crystalnn.c) evaluated with the 'ops' preset's order parameters
 * (order_params.c); the crystal's fingerprint is the mean over sites.  numpy's mean
 * along axis 0 of the (sites × 61) array adds whole rows in site order, so the sum
 * here is sequential too. */
#include "crystalbench/dng.h"

#include <string.h>

#include "crystalnn.h"
#include "order_params.h"

_Static_assert(CB_SITE_FP_LEN == CB_STRUCT_FP_LEN, "site and structure fingerprints have the same layout");

int cb_struct_fingerprint(const cb_crystal *c, double fp[CB_STRUCT_FP_LEN], cb_error *err)
{
    if (c->n < 1) return cb_fail(err, CB_ERR_INVALID, "structure fingerprint: no sites");
    double sum[CB_STRUCT_FP_LEN] = {0};
    for (int i = 0; i < c->n; i++) {
        cb_crystalnn_result r;
        int rc = cb_crystalnn_site(c, i, &r, err);
        if (rc) return rc;
        cb_site_env env;
        cb_crystalnn_site_env(&r, &env);
        double site[CB_SITE_FP_LEN];
        cb_site_fingerprint(&env, site);
        cb_crystalnn_result_free(&r);
        for (int k = 0; k < CB_STRUCT_FP_LEN; k++) sum[k] += site[k];
    }
    for (int k = 0; k < CB_STRUCT_FP_LEN; k++) fp[k] = sum[k] / (double)c->n;
    return CB_OK;
}
