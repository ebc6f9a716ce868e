/* Private to the structure fingerprint (metrics.md §4.1, §4.4): pymatgen 2022.11.7's
 * LocalStructOrderParams for the order-parameter types of matminer's
 * CrystalNNFingerprint 'ops' preset, and the assembly of one site's 61-entry
 * fingerprint from CrystalNN's coordination environments (site_env.h).
 *
 * Every op follows pymatgen's get_order_parameters(…, indices_neighs=…) with one type
 * per instance, as matminer builds them: the same unit vectors, Gram–Schmidt axes,
 * clipped acos, 1e-12 "flag" thresholds, branch conditions and summation order; only
 * well-conditioned trigonometric steps are computed differently (order_params.c), so
 * values differ from pymatgen's by rounding only (tests/test_order_params.c: ~1e-15).
 * Neighbour positions are Cartesian; none may coincide with the center (pymatgen
 * divides by the distance too; the result would be NaN).  No allocation; the functions
 * are reentrant (~40 KB of stack). */
#ifndef CB_ORDER_PARAMS_H
#define CB_ORDER_PARAMS_H

#include "site_env.h"

/* Largest neighbour count cb_order_param accepts. */
#define CB_OP_MAX_NBRS CB_CN_MAX

typedef enum cb_op_type {
    CB_OP_SGL_BD,
    CB_OP_BENT,
    CB_OP_TRI_PLAN_MAX,
    CB_OP_TET_MAX,
    CB_OP_T,
    CB_OP_SQ_PLAN_MAX,
    CB_OP_SEE_SAW_RECT,
    CB_OP_TRI_BIPYR,
    CB_OP_TRI_PYR,
    CB_OP_PENT_PLAN_MAX,
    CB_OP_SQ_PYR,
    CB_OP_HEX_PLAN_MAX,
    CB_OP_OCT_MAX,
    CB_OP_PENT_PYR,
    CB_OP_HEX_PYR,
    CB_OP_PENT_BIPYR,
    CB_OP_BCC,
    CB_OP_HEX_BIPYR,
    CB_OP_CUBOCT_MAX,
    CB_OP_Q2,
    CB_OP_Q4,
    CB_OP_Q6,
    CB_OP_N_TYPES
} cb_op_type;

/* One order parameter: a type and pymatgen's parameter dict (op_params.yaml names;
 * angles TA and the cuboct P-values as in the yaml: TA in fractions of π, min_SPP,
 * p2 and p4 in radians).  A type reads only the fields its formula uses. */
typedef struct cb_op {
    cb_op_type type;
    double ta, igw_ta;         /* target angle, inverse Gaussian width around it */
    double igw_ep;             /* inverse width around the equatorial plane (90°) */
    double min_spp, igw_spp;   /* south-pole threshold (rad) and inverse width */
    double w_spp;              /* south-pole weight (bcc, cuboct_max) */
    double fac_aa, exp_cos_aa; /* cos(fac_AA·φ)^exp_cos_AA azimuth term */
    double p2, p4, p5, p6;     /* cuboct_max's integer-keyed parameters 2, 4, 5, 6 */
} cb_op;

/* pymatgen's default parameters (op_params.yaml) for `type`. */
const cb_op *cb_op_default(cb_op_type type);

/* pymatgen's type name ("tet_max", "q4", …). */
const char *cb_op_name(cb_op_type type);

/* The 'ops' preset's order parameters for coordination number cn (1..CB_CN_MAX), in
 * fingerprint order, the "wt" entry excluded: *ops points into static data.  Returns
 * their count (0 for cn 13..24 and for cn out of range). */
int cb_op_preset(int cn, const cb_op **ops);

/* The value of op for a center and its n neighbours (in list order: bcc depends on it).
 * Returns 0 with the value; 1 with *value = 0 when pymatgen returns None (too few
 * neighbours for the type: n ≤ 1 for the angular types, n ≤ 3 for bcc, n = 0 for q_l;
 * or a sum of weights ≤ 1e-12); -1 with *value = NaN when n is outside
 * 0..CB_OP_MAX_NBRS or op->type is not a cb_op_type. */
int cb_order_param(const cb_op *op, const double center[3], const double (*nbrs)[3], int n, double *value);

/* One site's fingerprint (metrics.md §4.1): for CN = 1..24, wt = env->env[CN].weight,
 * then wt · (value or 0) for each preset op on env->env[CN]'s neighbours (0 when wt is
 * 0).  env->env[CN].n must be ≤ CB_OP_MAX_NBRS and its points distinct from the
 * center whenever the weight is nonzero. */
void cb_site_fingerprint(const cb_site_env *env, double fp[CB_SITE_FP_LEN]);

#endif
