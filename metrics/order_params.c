/* pymatgen 2022.11.7 LocalStructOrderParams.get_order_parameters(sites, 0,
 * indices_neighs=…) for the types of matminer's CrystalNNFingerprint 'ops' preset, and
 * the preset's site fingerprint (metrics.md §4.1, §4.4).
 *
 * pymatgen puts each neighbour j at the north pole and each other neighbour k on the
 * prime meridian, then visits every third neighbour m: O(n³) per op.  Everything that
 * depends only on the geometry is computed once per environment and shared by the
 * ops of a coordination number:
 *   - unit vectors u_j and distances (pymatgen's rijnorm, dist);
 *   - θ_jk = acos(clip(u_j·u_k)) — symmetric to the bit, since the dot product of two
 *     3-vectors sums the same products in the same order either way round;
 *   - the Gram–Schmidt axis X̂_jk of u_k about u_j and its 1e-12 flag: pymatgen's
 *     xaxis for the pair (j, k) and its xtwoaxis for (j, m = k) are the same numbers.
 * Per op, the Gaussians of θ are tabulated once per unordered pair.  Every θ, flag and
 * branch condition is pymatgen's to the bit, and formulas keep its operand order.
 *
 * Speed: pymatgen evaluates cos(fac_AA·φ)^2 with φ = acos(x), x = clip(X̂_jm·X̂_jk),
 * for every triple — an acos, a cos and a pow, ~90% of the time.  Here the same
 * function of the same x is evaluated algebraically (cos 2φ = 2x² − 1, cos 1.5φ =
 * cos(φ/2)·(2x − 1), …, see cos_mult), and the square is a product.  The results differ
 * from pymatgen's only by rounding (~1e-16 per term; tests/test_order_params.c sees
 * ≤ 1e-14), at several times the speed.  The one comparison on φ (see_saw_rect's
 * φ < 0.75π) is decided on x away from the boundary and with pymatgen's acos near it.
 *
 * The Steinhardt q_l follow pymatgen's explicit spherical-harmonic expansions rather
 * than the rotation-invariant Legendre form of §4.4: the two are equal mathematically,
 * but at q_l = 0 (q2 of a cube, octahedron or cuboctahedron) the Legendre double sum
 * leaves ~1e-15 of rounding under the square root, i.e. ~1e-8 in q_l, where the sum of
 * squares gives ~1e-17.  Its sines and cosines come from the cosines pymatgen passes to
 * acos, by square roots and angle addition (geom_boop).
 *
 * Rule followed throughout: an ill-conditioned step (acos near ±1, normalising a short
 * Gram–Schmidt vector) is done on exactly pymatgen's operands; only well-conditioned
 * functions of its result are rewritten. */
#include "order_params.h"

#include <math.h>
#include <string.h>

#define MAX_N CB_OP_MAX_NBRS
#define VERY_SMALL 1.0e-12              /* pymatgen's very_small: axis flags, norms */
#define LEFT_OF_UNITY (1.0 - 1.0e-12)   /* q_l: no azimuth for bonds along ±z */
#define IPI (1.0 / M_PI)                /* pymatgen multiplies by ipi = 1/π */

/* ---- the parameter tables (pymatgen op_params.yaml, pymatgen cn_opt_params.yaml) ---- */

#define MIN_SPP_3PI4 2.356194490192345

/* pymatgen's op_params.yaml, as initializers (a const object is not a constant
 * expression in C, so the presets below use these too). */
#define OP_SGL_BD {.type = CB_OP_SGL_BD}
#define OP_BENT {.type = CB_OP_BENT, .ta = 1, .igw_ta = 8.667}
#define OP_TRI_PLAN_MAX {.type = CB_OP_TRI_PLAN_MAX, .igw_ta = 17.5, .ta = 0.66666666667, .fac_aa = 1, .exp_cos_aa = 2}
#define OP_TET_MAX {.type = CB_OP_TET_MAX, .igw_ta = 18.5, .ta = 0.6081734479693927, .fac_aa = 1.5, .exp_cos_aa = 2}
#define OP_T {.type = CB_OP_T, .igw_ep = 15.5, .fac_aa = 1, .exp_cos_aa = 2}
#define OP_SQ_PLAN_MAX                                                                                          \
    {.type = CB_OP_SQ_PLAN_MAX, .min_spp = MIN_SPP_3PI4, .igw_spp = 13.5, .igw_ep = 17.7, .w_spp = 1, .fac_aa = 1, \
     .exp_cos_aa = 2}
#define OP_SEE_SAW_RECT                                                                                  \
    {.type = CB_OP_SEE_SAW_RECT, .min_spp = MIN_SPP_3PI4, .igw_spp = 11.5, .igw_ep = 27, .fac_aa = 2, \
     .exp_cos_aa = 2}
#define OP_TRI_BIPYR                                                                                   \
    {.type = CB_OP_TRI_BIPYR, .min_spp = MIN_SPP_3PI4, .igw_spp = 12, .igw_ep = 16.6, .fac_aa = 1.5, \
     .exp_cos_aa = 2, .w_spp = 1}
#define OP_TRI_PYR {.type = CB_OP_TRI_PYR, .igw_ep = 15.5, .fac_aa = 1.5, .exp_cos_aa = 2}
#define OP_PENT_PLAN_MAX {.type = CB_OP_PENT_PLAN_MAX, .ta = 0.6, .igw_ta = 19.333}
#define OP_SQ_PYR {.type = CB_OP_SQ_PYR, .igw_ep = 14.9, .fac_aa = 2, .exp_cos_aa = 2}
#define OP_HEX_PLAN_MAX                                                                                      \
    {.type = CB_OP_HEX_PLAN_MAX, .min_spp = 2.6179938779914944, .igw_spp = 7.5, .w_spp = 1, .fac_aa = 1, \
     .exp_cos_aa = 2, .igw_ta = 25, .ta = 0.16666667}
#define OP_OCT_MAX                                                                                                 \
    {.type = CB_OP_OCT_MAX, .min_spp = MIN_SPP_3PI4, .igw_spp = 15, .igw_ep = 18, .w_spp = 1, .fac_aa = 2, \
     .exp_cos_aa = 2}
#define OP_PENT_PYR {.type = CB_OP_PENT_PYR, .igw_ep = 13.8, .fac_aa = 2.5, .exp_cos_aa = 2}
#define OP_HEX_PYR {.type = CB_OP_HEX_PYR, .igw_ep = 12.5, .fac_aa = 3, .exp_cos_aa = 2}
#define OP_PENT_BIPYR                                                                                      \
    {.type = CB_OP_PENT_BIPYR, .min_spp = MIN_SPP_3PI4, .igw_spp = 12.5, .igw_ep = 14.75, .fac_aa = 2.5, \
     .exp_cos_aa = 2, .w_spp = 1}
#define OP_BCC {.type = CB_OP_BCC, .min_spp = 2.5261129449194057, .igw_spp = 15, .w_spp = 6}
#define OP_HEX_BIPYR                                                                                     \
    {.type = CB_OP_HEX_BIPYR, .min_spp = MIN_SPP_3PI4, .igw_spp = 14.1, .igw_ep = 13.6, .fac_aa = 3, \
     .exp_cos_aa = 2, .w_spp = 1}
/* the yaml's integer keys 2, 4, 5, 6 are p2, p4, p5, p6 */
#define OP_CUBOCT_MAX                                                                                      \
    {.type = CB_OP_CUBOCT_MAX, .min_spp = 2.792526803190927, .igw_spp = 28.75, .p2 = 1.8325957145940461, \
     .w_spp = 1.8, .p4 = 1.3089969389957472, .p5 = 25.5, .p6 = 31.25}
#define OP_Q2 {.type = CB_OP_Q2}
#define OP_Q4 {.type = CB_OP_Q4}
#define OP_Q6 {.type = CB_OP_Q6}

static const cb_op default_ops[CB_OP_N_TYPES] = {
    [CB_OP_SGL_BD] = OP_SGL_BD,
    [CB_OP_BENT] = OP_BENT,
    [CB_OP_TRI_PLAN_MAX] = OP_TRI_PLAN_MAX,
    [CB_OP_TET_MAX] = OP_TET_MAX,
    [CB_OP_T] = OP_T,
    [CB_OP_SQ_PLAN_MAX] = OP_SQ_PLAN_MAX,
    [CB_OP_SEE_SAW_RECT] = OP_SEE_SAW_RECT,
    [CB_OP_TRI_BIPYR] = OP_TRI_BIPYR,
    [CB_OP_TRI_PYR] = OP_TRI_PYR,
    [CB_OP_PENT_PLAN_MAX] = OP_PENT_PLAN_MAX,
    [CB_OP_SQ_PYR] = OP_SQ_PYR,
    [CB_OP_HEX_PLAN_MAX] = OP_HEX_PLAN_MAX,
    [CB_OP_OCT_MAX] = OP_OCT_MAX,
    [CB_OP_PENT_PYR] = OP_PENT_PYR,
    [CB_OP_HEX_PYR] = OP_HEX_PYR,
    [CB_OP_PENT_BIPYR] = OP_PENT_BIPYR,
    [CB_OP_BCC] = OP_BCC,
    [CB_OP_HEX_BIPYR] = OP_HEX_BIPYR,
    [CB_OP_CUBOCT_MAX] = OP_CUBOCT_MAX,
    [CB_OP_Q2] = OP_Q2,
    [CB_OP_Q4] = OP_Q4,
    [CB_OP_Q6] = OP_Q6,
};

static const char *const op_names[CB_OP_N_TYPES] = {
    "sgl_bd", "bent", "tri_plan_max", "tet_max", "T", "sq_plan_max", "see_saw_rect", "tri_bipyr",
    "tri_pyr", "pent_plan_max", "sq_pyr", "hex_plan_max", "oct_max", "pent_pyr", "hex_pyr",
    "pent_bipyr", "bcc", "hex_bipyr", "cuboct_max", "q2", "q4", "q6",
};

/* How each type is evaluated (metrics.md §4.4). */
typedef enum family {
    FAM_SGL_BD, /* distances only */
    FAM_BENT,   /* Σ Q / Σ W over ordered pairs, no m terms */
    FAM_ANGLE,  /* tri_plan_max, tet_max: target angle TA */
    FAM_EP,     /* T, tri_pyr, sq_pyr, pent_pyr, hex_pyr: equatorial plane */
    FAM_PENT,   /* pent_plan_max */
    FAM_BIPYR,  /* equatorial plane plus south pole beyond min_SPP */
    FAM_BCC,
    FAM_CUBOCT,
    FAM_BOOP    /* Steinhardt q_l */
} op_family_kind;

static const unsigned char op_family[CB_OP_N_TYPES] = {
    [CB_OP_SGL_BD] = FAM_SGL_BD,      [CB_OP_BENT] = FAM_BENT,          [CB_OP_TRI_PLAN_MAX] = FAM_ANGLE,
    [CB_OP_TET_MAX] = FAM_ANGLE,      [CB_OP_T] = FAM_EP,               [CB_OP_SQ_PLAN_MAX] = FAM_BIPYR,
    [CB_OP_SEE_SAW_RECT] = FAM_BIPYR, [CB_OP_TRI_BIPYR] = FAM_BIPYR,    [CB_OP_TRI_PYR] = FAM_EP,
    [CB_OP_PENT_PLAN_MAX] = FAM_PENT, [CB_OP_SQ_PYR] = FAM_EP,          [CB_OP_HEX_PLAN_MAX] = FAM_BIPYR,
    [CB_OP_OCT_MAX] = FAM_BIPYR,      [CB_OP_PENT_PYR] = FAM_EP,        [CB_OP_HEX_PYR] = FAM_EP,
    [CB_OP_PENT_BIPYR] = FAM_BIPYR,   [CB_OP_BCC] = FAM_BCC,            [CB_OP_HEX_BIPYR] = FAM_BIPYR,
    [CB_OP_CUBOCT_MAX] = FAM_CUBOCT,  [CB_OP_Q2] = FAM_BOOP,            [CB_OP_Q4] = FAM_BOOP,
    [CB_OP_Q6] = FAM_BOOP,
};

#define BENT(ta_, igw_) {.type = CB_OP_BENT, .ta = (ta_), .igw_ta = (igw_)}

/* matminer's cn_target_motif_op.yaml motifs, mapped to op types with pymatgen's
 * cn_opt_params.yaml: an explicit parameter dict there replaces the defaults entirely
 * (fields it does not name stay 0, and the formulas of these types do not read them). */
static const cb_op preset_cn1[] = {OP_SGL_BD};
static const cb_op preset_cn2[] = {
    BENT(0.5, 15.15),                /* L-shaped */
    BENT(0.5802777777777778, 13.95), /* water-like */
    BENT(0.666666666667, 13.25),     /* bent 120 degrees */
    BENT(0.833333333333333, 12.45),  /* bent 150 degrees */
    BENT(1, 8.667),                  /* linear */
};
static const cb_op preset_cn3[] = {
    OP_TRI_PLAN_MAX, /* trigonal planar */
    {.type = CB_OP_TET_MAX, .ta = 0.6081734479693927, .igw_ta = 18.33, .fac_aa = 1.5, .exp_cos_aa = 2},
    OP_T, /* T-shaped */
};
static const cb_op preset_cn4[] = {
    OP_SQ_PLAN_MAX,
    OP_TET_MAX,
    OP_SEE_SAW_RECT,
    {.type = CB_OP_TRI_BIPYR, .min_spp = MIN_SPP_3PI4, .igw_ep = 15.75, .igw_spp = 12.75, .fac_aa = 1.5,
     .exp_cos_aa = 2, .w_spp = 1}, /* see-saw-like */
    OP_TRI_PYR,
};
static const cb_op preset_cn5[] = {OP_PENT_PLAN_MAX, OP_SQ_PYR, OP_TRI_BIPYR};
static const cb_op preset_cn6[] = {OP_HEX_PLAN_MAX, OP_OCT_MAX, OP_PENT_PYR};
static const cb_op preset_cn7[] = {OP_HEX_PYR, OP_PENT_BIPYR};
static const cb_op preset_cn8[] = {OP_BCC, OP_HEX_BIPYR};
static const cb_op preset_q[] = {OP_Q2, OP_Q4, OP_Q6}; /* CN 9, 10, 11 */
static const cb_op preset_cn12[] = {OP_CUBOCT_MAX, OP_Q2, OP_Q4, OP_Q6};

#define ENTRY(a) {a, (int)(sizeof a / sizeof a[0])}
static const struct {
    const cb_op *ops;
    int n;
} preset[13] = {
    {NULL, 0},         ENTRY(preset_cn1), ENTRY(preset_cn2), ENTRY(preset_cn3), ENTRY(preset_cn4),
    ENTRY(preset_cn5), ENTRY(preset_cn6), ENTRY(preset_cn7), ENTRY(preset_cn8), ENTRY(preset_q),
    ENTRY(preset_q),   ENTRY(preset_q),   ENTRY(preset_cn12),
};

const cb_op *cb_op_default(cb_op_type type) { return &default_ops[type]; }

const char *cb_op_name(cb_op_type type) { return op_names[type]; }

int cb_op_preset(int cn, const cb_op **ops)
{
    *ops = NULL;
    if (cn < 1 || cn > 12) return 0;
    *ops = preset[cn].ops;
    return preset[cn].n;
}

/* ---- geometry shared by the ops of one environment ---- */

typedef struct env_geom {
    int n;
    double u[MAX_N][3]; /* rijnorm: (x_j − center) / dist_j */
    double dist[MAX_N];
    int have_pairs;
    double theta[MAX_N][MAX_N];    /* acos(clip(u_j·u_k)), j ≠ k */
    double axis[MAX_N][MAX_N][3];  /* X̂_jk, valid when !flag */
    unsigned char flag[MAX_N][MAX_N]; /* |u_k − (u_k·u_j / u_j·u_j) u_j| < 1e-12 */
    int have_boop;                 /* trigonometric tables below filled (up to order 6) */
    double pow_sin[7][MAX_N], pow_cos[7][MAX_N], sin_np[7][MAX_N], cos_np[7][MAX_N];
} env_geom;

/* numpy's 3-vector inner product (BLAS ddot: a sequential sum from 0) */
static inline double dot3(const double a[3], const double b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

/* Python's max(-1.0, min(x, 1.0)) (open-coded: fmin/fmax are library calls) */
static inline double clip1(double x)
{
    double m = 1.0 < x ? 1.0 : x;
    return m > -1.0 ? m : -1.0;
}

static void geom_init(env_geom *g, const double center[3], const double (*nbrs)[3], int n)
{
    g->n = n;
    g->have_pairs = g->have_boop = 0;
    for (int j = 0; j < n; j++) {
        double r[3] = {nbrs[j][0] - center[0], nbrs[j][1] - center[1], nbrs[j][2] - center[2]};
        g->dist[j] = sqrt(dot3(r, r));
        for (int a = 0; a < 3; a++) g->u[j][a] = r[a] / g->dist[j];
    }
}

/* θ, Gram–Schmidt axes and flags for every ordered pair (pymatgen's gramschmidt(vin=u_k,
 * uin=u_j) then division by its norm). */
static void geom_pairs(env_geom *g)
{
    if (g->have_pairs) return;
    g->have_pairs = 1;
    int n = g->n;
    for (int j = 0; j < n; j++) {
        const double *z = g->u[j];
        double zz = dot3(z, z);
        for (int k = 0; k < n; k++) {
            if (k == j) continue;
            double c = dot3(z, g->u[k]);
            if (k > j) g->theta[j][k] = g->theta[k][j] = acos(clip1(c));
            double s = c / zz, x[3];
            for (int a = 0; a < 3; a++) x[a] = g->u[k][a] - s * z[a];
            double len = sqrt(dot3(x, x));
            g->flag[j][k] = len < VERY_SMALL;
            if (!g->flag[j][k]) { /* x itself exactly as pymatgen: it may be short */
                double inv = 1.0 / len;
                for (int a = 0; a < 3; a++) g->axis[j][k][a] = x[a] * inv;
            }
        }
    }
}

/* cos φ_jkm, φ the azimuth of m in the frame (north pole j, prime meridian k): the
 * number pymatgen passes to acos.  Both axes must be unflagged. */
static inline double geom_cos_phi(const env_geom *g, int j, int k, int m)
{
    return clip1(dot3(g->axis[j][m], g->axis[j][k]));
}

/* cos(fac·acos(x)) for x ∈ [−1, 1]: Chebyshev polynomials of the first kind for whole
 * factors, and cos(φ/2) = √((1+x)/2) times those of the third kind for half-integers
 * (cos((k+½)φ) = cos(φ/2)·V_k(x)).  The preset uses 1, 1.5, 2, 2.5 and 3. */
static inline double cos_mult(double fac, double x)
{
    if (fac == 1) return x;
    if (fac == 2) return 2 * x * x - 1;
    if (fac == 3) return x * (4 * x * x - 3);
    if (fac == 1.5) return sqrt(0.5 * (1 + x)) * (2 * x - 1);
    if (fac == 2.5) return sqrt(0.5 * (1 + x)) * (4 * x * x - 2 * x - 1);
    return cos(fac * acos(x));
}

/* cos(fac_AA·φ) ** exp_cos_AA, φ = acos(x) */
static inline double cos_term(const cb_op *op, double x)
{
    double c = cos_mult(op->fac_aa, x);
    return op->exp_cos_aa == 2 ? c * c : pow(c, op->exp_cos_aa);
}

/* pymatgen's φ < 0.75π for φ = acos(x): acos is decreasing, so away from the boundary
 * the comparison of x decides; within 1e-9 of it, pymatgen's own test. */
static inline int phi_below_3pi4(double x)
{
    const double x0 = -0.70710678118654752; /* cos(0.75π) */
    if (fabs(x - x0) > 1e-9) return x > x0;
    return acos(x) < 0.75 * M_PI;
}

/* ---- per-op tables of Gaussians of θ (one exp per unordered pair) ---- */

static inline double gauss(double t) { return exp(-0.5 * t * t); }

/* gauss(t) for |t| ≤ 0.1 (h = t²/2 ≤ 0.005): the Taylor series of exp(−h) to h⁵,
 * whose remainder h⁶/720 < 2e-17 is below half an ulp of the result; a few times
 * faster than exp. */
static inline double gauss_small(double t)
{
    double h = 0.5 * t * t;
    return 1 - h * (1 - h / 2 * (1 - h / 3 * (1 - h / 4 * (1 - h / 5))));
}

/* pair: what the pair term adds for θ_jk (and, for most types, the θ_jm factor of the
 * m term); aux/aux2: the m term's θ_jm factors where they differ. */
typedef struct op_tables {
    double pair[MAX_N][MAX_N], aux[MAX_N][MAX_N], aux2[MAX_N][MAX_N];
} op_tables;

static void fill_tables(const cb_op *op, const env_geom *g, op_tables *t)
{
    const double asin13 = asin(1.0 / 3.0);
    for (int j = 0; j < g->n; j++)
        for (int k = j + 1; k < g->n; k++) {
            double th = g->theta[j][k], p = 0, a = 0, a2 = 0;
            switch (op_family[op->type]) {
            case FAM_BENT:
            case FAM_ANGLE: p = gauss(op->igw_ta * (th * IPI - op->ta)); break;
            case FAM_EP: p = gauss(op->igw_ep * (th * IPI - 0.5)); break;
            case FAM_PENT: {
                double s = th <= op->ta * M_PI ? 0.4 : 0.8;
                p = gauss(op->igw_ta * (th * IPI - s));
                break;
            }
            case FAM_BIPYR:
                /* equatorial weight below min_SPP, south-pole weight above */
                if (th >= op->min_spp)
                    p = gauss(op->igw_spp * (th * IPI - 1.0));
                else if (op->type == CB_OP_HEX_PLAN_MAX)
                    p = gauss(op->igw_ta * (fabs(th * IPI - 0.5) - op->ta));
                else
                    p = gauss(op->igw_ep * (th * IPI - 0.5));
                break;
            case FAM_BCC:
                if (th >= op->min_spp) p = gauss(op->igw_spp * (th * IPI - 1.0));
                a = (th - M_PI / 2.0) / asin13;
                a2 = gauss(a);
                break;
            case FAM_CUBOCT:
                if (th >= op->min_spp) p = gauss(op->igw_spp * (th * IPI - 1.0));
                if (op->p4 < th && th < op->p2)
                    a = gauss(op->p5 * (th * IPI - 0.5));
                else if (th < op->p4)
                    a = gauss(op->p6 * (th * IPI - 1.0 / 3.0));
                else if (th > op->p2)
                    a = gauss(op->p6 * (th * IPI - 2.0 / 3.0));
                break;
            default: break;
            }
            t->pair[j][k] = t->pair[k][j] = p;
            t->aux[j][k] = t->aux[k][j] = a;
            t->aux2[j][k] = t->aux2[k][j] = a2;
        }
}

/* ---- the families of §4.4 ---- */

/* bent: Σ Q / Σ W over all ordered pairs, W = 1 each; None when no pair. */
static int eval_bent(const env_geom *g, const op_tables *t, double *value)
{
    double total = 0, norm = 0;
    for (int j = 0; j < g->n; j++) {
        double row = 0, rown = 0;
        for (int k = 0; k < g->n; k++)
            if (k != j) {
                row += t->pair[j][k];
                rown += 1;
            }
        total += row;
        norm += rown;
    }
    if (!(norm > VERY_SMALL)) return 1;
    *value = total / norm;
    return 0;
}

/* The accumulators of one ordered pair (j, k) of a "max" op. */
typedef struct acc {
    double q, w;
} acc;

/* What the pair (j, k) adds before its m terms. */
static inline void add_pair_term(const cb_op *op, const env_geom *g, const op_tables *t, int j, int k, acc *a)
{
    double th = g->theta[j][k];
    switch (op_family[op->type]) {
    case FAM_CUBOCT: /* south pole, weight w_SPP */
        if (th >= op->min_spp) {
            a->q += op->w_spp * t->pair[j][k];
            a->w += op->w_spp;
        }
        break;
    case FAM_BIPYR: /* equatorial only */
        if (th < op->min_spp) {
            a->q += t->pair[j][k];
            a->w += 1;
        }
        break;
    default:
        a->q += t->pair[j][k];
        a->w += 1;
        break;
    }
}

/* The terms of every third neighbour m of the pair (j, k), whose axis is unflagged, in
 * list order: for the bipyramid family first the south-pole term (θ_m ≥ min_SPP; m's
 * own axis not needed), and for all families the azimuthal term when m's axis is
 * unflagged and the type's conditions on θ_k, θ_m (and φ) hold.  One loop per family,
 * with the conditions on θ_k hoisted out of it. */
static void add_m_terms(const cb_op *op, const env_geom *g, const op_tables *t, int j, int k, acc *a)
{
    const int n = g->n;
    const double thk = g->theta[j][k], *th = g->theta[j], *pj = t->pair[j];
    const unsigned char *flag = g->flag[j];
    switch (op_family[op->type]) {
    case FAM_ANGLE: /* tri_plan_max, tet_max: 1 · G(θ_m) · cos-term */
        for (int m = 0; m < n; m++)
            if (m != j && m != k && !flag[m]) {
                a->q += pj[m] * cos_term(op, geom_cos_phi(g, j, k, m));
                a->w += 1;
            }
        break;
    case FAM_EP: /* T and the pyramids: cos-term · G(θ_m) */
        for (int m = 0; m < n; m++)
            if (m != j && m != k && !flag[m]) {
                a->q += cos_term(op, geom_cos_phi(g, j, k, m)) * pj[m];
                a->w += 1;
            }
        break;
    case FAM_PENT: /* 1 · G(θ_m) · cos φ · cos φ */
        for (int m = 0; m < n; m++)
            if (m != j && m != k && !flag[m]) {
                double c = geom_cos_phi(g, j, k, m);
                a->q += pj[m] * c * c;
                a->w += 1;
            }
        break;
    case FAM_BIPYR: {
        const int k_equatorial = thk < op->min_spp, see_saw = op->type == CB_OP_SEE_SAW_RECT;
        for (int m = 0; m < n; m++) {
            if (m == j || m == k) continue;
            if (th[m] >= op->min_spp) { /* south pole (weight 1, not w_SPP) */
                a->q += pj[m];
                a->w += 1;
            } else if (k_equatorial && !flag[m]) {
                double x = geom_cos_phi(g, j, k, m);
                if (see_saw && !phi_below_3pi4(x)) continue;
                a->q += cos_term(op, x) * pj[m];
                a->w += 1;
            }
        }
        break;
    }
    case FAM_CUBOCT: {
        if (!(op->p4 < thk && thk < op->p2)) break;
        const double *aj = t->aux[j];
        for (int m = 0; m < n; m++) {
            if (m == j || m == k || flag[m] || !(th[m] < op->min_spp)) continue;
            double c = geom_cos_phi(g, j, k, m);
            if (op->p4 < th[m] && th[m] < op->p2) {
                a->q += c * c * aj[m];
                a->w += 1.0;
            } else if (th[m] < op->p4 || th[m] > op->p2) {
                /* cos(φ − π/2) = sin φ ∈ [0, 1], so |x| < 0.046 */
                double x = 0.0556 * (sqrt((1 - c) * (1 + c)) - 0.81649658);
                a->q += gauss_small(x) * aj[m];
                a->w += 1.0;
            }
        }
        break;
    }
    default: break;
    }
}

/* Max family: the largest Q/W over ordered pairs (0 for W ≤ 1e-12); None for n ≤ 1. */
static int eval_max(const cb_op *op, const env_geom *g, const op_tables *t, double *value)
{
    int n = g->n;
    if (n <= 1) return 1;
    double best = -INFINITY;
    for (int j = 0; j < n; j++)
        for (int k = 0; k < n; k++) {
            if (k == j) continue;
            acc a = {0, 0};
            add_pair_term(op, g, t, j, k, &a);
            if (!g->flag[j][k]) add_m_terms(op, g, t, j, k, &a);
            double v = a.w > VERY_SMALL ? a.q / a.w : 0.0;
            if (v > best) best = v;
        }
    *value = best;
    return 0;
}

/* bcc: only pairs j < k (list order) count; Σ Q / (n (6 + (n−2)(n−3)) / 2); None for
 * n ≤ 3. */
static int eval_bcc(const cb_op *op, const env_geom *g, const op_tables *t, double *value)
{
    int n = g->n;
    if (n <= 3) return 1;
    const double fac_bcc = 1.0 / exp(-0.5);
    double total = 0;
    for (int j = 0; j < n; j++) {
        double row = 0;
        for (int k = j + 1; k < n; k++) {
            double q = 0, thk = g->theta[j][k];
            if (thk >= op->min_spp) q += op->w_spp * t->pair[j][k];
            if (!g->flag[j][k] && thk < op->min_spp) {
                double fac = thk > M_PI / 2.0 ? 1.0 : -1.0;
                for (int m = 0; m < n; m++) {
                    if (m == j || m == k || g->flag[j][m]) continue;
                    double c3 = cos_mult(3, geom_cos_phi(g, j, k, m)); /* cos 3φ */
                    q += fac * c3 * fac_bcc * t->aux[j][m] * t->aux2[j][m];
                }
            }
            row += q;
        }
        total += row;
    }
    *value = total / (0.5 * (double)(n * (6 + (n - 2) * (n - 3))));
    return 0;
}

/* sgl_bd: 1 − d_(1)/d_(2) over the sorted distances; 1 for one neighbour, 0 for none. */
static int eval_sgl_bd(const env_geom *g, double *value)
{
    if (g->n == 0) {
        *value = 0.0;
    } else if (g->n == 1) {
        *value = 1.0;
    } else {
        double d0 = INFINITY, d1 = INFINITY;
        for (int j = 0; j < g->n; j++) {
            double d = g->dist[j];
            if (d < d0) {
                d1 = d0;
                d0 = d;
            } else if (d < d1) {
                d1 = d;
            }
        }
        *value = 1.0 - d0 / d1;
    }
    return 0;
}

/* ---- Steinhardt q_l (pymatgen get_q2/get_q4/get_q6) ---- */

/* pymatgen's compute_trigonometric_terms up to order 6 (an instance of q2 alone stops
 * at order 2; the lower orders are the same numbers): polar angle θ from +z, azimuth
 * φ from +x, φ = 0 for bonds within 1e-12 of the z axis; powers of sin θ and cos θ by
 * repeated products.  pymatgen takes θ = acos(z), φ = ±acos(c) and then sines and
 * cosines of θ and of mφ; here they come from the same z and c without trigonometric
 * calls: cos θ = z, sin θ = √((1−z)(1+z)) (θ ∈ [0, π]), likewise for φ with the sign
 * of y, and mφ by angle addition — equal up to rounding. */
static void geom_boop(env_geom *g)
{
    const int l = 6;
    if (g->have_boop) return;
    g->have_boop = 1;
    for (int i = 0; i < g->n; i++) {
        const double *v = g->u[i];
        double z = clip1(v[2]), cos_p = 1.0, sin_p = 0.0;
        if (-LEFT_OF_UNITY < v[2] && v[2] < LEFT_OF_UNITY) {
            cos_p = clip1(v[0] / sqrt(v[0] * v[0] + v[1] * v[1]));
            sin_p = sqrt((1 - cos_p) * (1 + cos_p));
            if (v[1] < 0.0) sin_p = -sin_p;
        }
        g->pow_sin[1][i] = sqrt((1 - z) * (1 + z));
        g->pow_cos[1][i] = z;
        g->sin_np[1][i] = sin_p;
        g->cos_np[1][i] = cos_p;
        for (int o = 2; o <= l; o++) {
            g->pow_sin[o][i] = g->pow_sin[o - 1][i] * g->pow_sin[1][i];
            g->pow_cos[o][i] = g->pow_cos[o - 1][i] * g->pow_cos[1][i];
            g->cos_np[o][i] = g->cos_np[o - 1][i] * cos_p - g->sin_np[o - 1][i] * sin_p;
            g->sin_np[o][i] = g->sin_np[o - 1][i] * cos_p + g->cos_np[o - 1][i] * sin_p;
        }
    }
}

/* acc += |Σ_i pre_i e^{∓imφ_i}|² for the pair ±m, in pymatgen's order and signs: for −m
 * real += pre·cos, imag −= pre·sin; for +m the same magnitudes with signs (−1)^m. */
static double ylm_sq(const env_geom *g, const double *pre, int m, int positive)
{
    double re = 0.0, im = 0.0;
    for (int i = 0; i < g->n; i++) {
        double c = pre[i] * g->cos_np[m][i], s = pre[i] * g->sin_np[m][i];
        if (!positive) {
            re += c;
            im -= s;
        } else if (m % 2) {
            re -= c;
            im -= s;
        } else {
            re += c;
            im += s;
        }
    }
    return re * re + im * im;
}

/* acc summed over m = −l..l from the prefactor rows pre[1..l] and the m = 0 real sum. */
static double ylm_acc(const env_geom *g, double (*pre)[MAX_N], int l, double real0)
{
    double acc = 0.0;
    for (int m = l; m >= 1; m--) acc += ylm_sq(g, pre[m], m, 0);
    acc += real0 * real0;
    for (int m = 1; m <= l; m++) acc += ylm_sq(g, pre[m], m, 1);
    return acc;
}

static double q2(const env_geom *g)
{
    const double s15_2pi = sqrt(15.0 / (2 * M_PI)), s5_pi = sqrt(5.0 / M_PI);
    double pre[3][MAX_N], real0 = 0.0;
    for (int i = 0; i < g->n; i++) {
        pre[2][i] = 0.25 * s15_2pi * g->pow_sin[2][i];
        pre[1][i] = 0.5 * s15_2pi * g->pow_sin[1][i] * g->pow_cos[1][i];
        real0 += 0.25 * s5_pi * (3 * g->pow_cos[2][i] - 1.0);
    }
    double acc = ylm_acc(g, pre, 2, real0);
    return sqrt(4 * M_PI * acc / (5 * (double)(g->n * g->n)));
}

static double q4(const env_geom *g)
{
    const double i16_3 = 3.0 / 16.0, i8_3 = 3.0 / 8.0;
    const double s35_pi = sqrt(35.0 / M_PI), s35_2pi = sqrt(35.0 / (2 * M_PI)), s5_pi = sqrt(5.0 / M_PI),
                 s5_2pi = sqrt(5.0 / (2 * M_PI)), s1_pi = sqrt(1.0 / M_PI);
    double pre[5][MAX_N], real0 = 0.0;
    for (int i = 0; i < g->n; i++) {
        const double s1 = g->pow_sin[1][i], s2 = g->pow_sin[2][i], s3 = g->pow_sin[3][i],
                     s4 = g->pow_sin[4][i];
        const double c1 = g->pow_cos[1][i], c2 = g->pow_cos[2][i], c3 = g->pow_cos[3][i],
                     c4 = g->pow_cos[4][i];
        pre[4][i] = i16_3 * s35_2pi * s4;
        pre[3][i] = i8_3 * s35_pi * s3 * c1;
        pre[2][i] = i8_3 * s5_2pi * s2 * (7 * c2 - 1.0);
        pre[1][i] = i8_3 * s5_pi * s1 * (7 * c3 - 3 * c1);
        real0 += i16_3 * s1_pi * (35 * c4 - 30 * c2 + 3.0);
    }
    double acc = ylm_acc(g, pre, 4, real0);
    return sqrt(4 * M_PI * acc / (9 * (double)(g->n * g->n)));
}

static double q6(const env_geom *g)
{
    const double i64 = 1.0 / 64.0, i32 = 1.0 / 32.0, i32_3 = 3.0 / 32.0, i16 = 1.0 / 16.0;
    const double s3003_pi = sqrt(3003.0 / M_PI), s1001_pi = sqrt(1001.0 / M_PI),
                 s91_2pi = sqrt(91.0 / (2 * M_PI)), s1365_pi = sqrt(1365.0 / M_PI),
                 s273_2pi = sqrt(273.0 / (2 * M_PI)), s13_pi = sqrt(13.0 / M_PI);
    double pre[7][MAX_N], real0 = 0.0;
    for (int i = 0; i < g->n; i++) {
        const double s1 = g->pow_sin[1][i], s2 = g->pow_sin[2][i], s3 = g->pow_sin[3][i],
                     s4 = g->pow_sin[4][i], s5 = g->pow_sin[5][i], s6 = g->pow_sin[6][i];
        const double c1 = g->pow_cos[1][i], c2 = g->pow_cos[2][i], c3 = g->pow_cos[3][i],
                     c4 = g->pow_cos[4][i], c5 = g->pow_cos[5][i], c6 = g->pow_cos[6][i];
        pre[6][i] = i64 * s3003_pi * s6;
        pre[5][i] = i32_3 * s1001_pi * s5 * c1;
        pre[4][i] = i32_3 * s91_2pi * s4 * (11 * c2 - 1.0);
        pre[3][i] = i32 * s1365_pi * s3 * (11 * c3 - 3 * c1);
        pre[2][i] = i64 * s1365_pi * s2 * (33 * c4 - 18 * c2 + 1.0);
        pre[1][i] = i16 * s273_2pi * s1 * (33 * c5 - 30 * c3 + 5 * c1);
        real0 += i32 * s13_pi * (231 * c6 - 315 * c4 + 105 * c2 - 5.0);
    }
    double acc = ylm_acc(g, pre, 6, real0);
    return sqrt(4 * M_PI * acc / (13 * (double)(g->n * g->n)));
}

static int eval_boop(const cb_op *op, env_geom *g, double *value)
{
    if (g->n == 0) return 1;
    geom_boop(g);
    *value = op->type == CB_OP_Q2 ? q2(g) : op->type == CB_OP_Q4 ? q4(g) : q6(g);
    return 0;
}

/* ---- dispatch ---- */

/* One op on a prepared environment; returns 1 for None (value 0), else 0. */
static int eval_op(const cb_op *op, env_geom *g, double *value)
{
    *value = 0.0;
    int fam = op_family[op->type];
    if (fam == FAM_SGL_BD) return eval_sgl_bd(g, value);
    if (fam == FAM_BOOP) return eval_boop(op, g, value);
    geom_pairs(g);
    op_tables t;
    fill_tables(op, g, &t);
    int none = fam == FAM_BENT  ? eval_bent(g, &t, value)
               : fam == FAM_BCC ? eval_bcc(op, g, &t, value)
                                : eval_max(op, g, &t, value);
    if (none) *value = 0.0;
    return none;
}

int cb_order_param(const cb_op *op, const double center[3], const double (*nbrs)[3], int n, double *value)
{
    if (n < 0 || n > CB_OP_MAX_NBRS || (unsigned)op->type >= CB_OP_N_TYPES) {
        *value = NAN;
        return -1;
    }
    env_geom g;
    geom_init(&g, center, nbrs, n);
    return eval_op(op, &g, value);
}

void cb_site_fingerprint(const cb_site_env *env, double fp[CB_SITE_FP_LEN])
{
    int at = 0;
    env_geom g;
    for (int cn = 1; cn <= CB_CN_MAX; cn++) {
        const cb_cn_env *e = &env->env[cn];
        const cb_op *ops;
        int n_ops = cb_op_preset(cn, &ops);
        double wt = e->weight;
        fp[at++] = wt;
        if (n_ops == 0) continue;
        if (wt == 0 || e->n > CB_OP_MAX_NBRS) {
            for (int i = 0; i < n_ops; i++) fp[at++] = 0.0;
            continue;
        }
        geom_init(&g, env->center, e->points, e->n);
        for (int i = 0; i < n_ops; i++) {
            double v;
            int none = eval_op(&ops[i], &g, &v);
            fp[at++] = none || v == 0 ? 0.0 : wt * v; /* matminer: wt * (opval or 0) */
        }
    }
}
