/* Private to the structure fingerprint (metrics.md §4): what CrystalNN hands to the
 * order parameters for one site.
 *
 * CrystalNN (crystalnn.c, §4.2–4.3) turns the Voronoi neighbours of a site into a
 * distribution over coordination numbers: for each CN, a weight and the neighbours that
 * make up that environment.  The site fingerprint (order_params.c, §4.1 and §4.4)
 * evaluates, per CN 1..24, the 'ops' preset's order parameters on those neighbours and
 * multiplies them by the weight.  Coordination numbers above 24 are not represented. */
#ifndef CB_SITE_ENV_H
#define CB_SITE_ENV_H

#define CB_CN_MAX 24       /* largest coordination number in the fingerprint */
#define CB_SITE_FP_LEN 61  /* entries of one site fingerprint ('ops' preset) */

/* One coordination environment of a site. */
typedef struct cb_cn_env {
    double weight;             /* cn_weights[CN]; 0 when CrystalNN gave this CN no weight */
    int n;                     /* number of neighbours = CN when weight > 0, else 0 */
    const double (*points)[3]; /* n Cartesian neighbour positions, cn_nninfo[CN] order */
} cb_cn_env;

/* A site's environments: env[cn] for cn = 0..CB_CN_MAX (env[0] is ignored). */
typedef struct cb_site_env {
    double center[3]; /* Cartesian position of the site as stored (frac · L, not wrapped) */
    cb_cn_env env[CB_CN_MAX + 1];
} cb_site_env;

#endif
