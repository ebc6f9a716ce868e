/* FlowMM's lattice-parameter manifold (models.md §3.2; flowmm
 * src/flowmm/rfm/manifolds/lattice_params.py, LatticeParams): lengths in Å as they are,
 * angles through torch's biject_to(interval(59.9, 120.1)), i.e. SigmoidTransform followed
 * by AffineTransform(lo, width), and its inverse.  The geometry of ℓ is Euclidean
 * (euclid.c). */
#include "manifold.h"

#include <float.h>
#include <math.h>

/* torch.finfo(float32): FlowMM trains in fp32, so these are the clamp limits its
 * transform applies (SigmoidTransform._inverse and _clipped_sigmoid). */
#define P_MIN ((double)FLT_MIN)
#define P_MAX (1.0 - (double)FLT_EPSILON)

static double clamp_p(double p)
{
    if (p < P_MIN) return P_MIN;
    if (p > P_MAX) return P_MAX;
    return p; /* NaN falls through both tests and stays NaN */
}

/* σ(φ) without overflow: exp of a negative argument only. */
static double sigmoid(double phi)
{
    if (phi >= 0) return 1.0 / (1.0 + exp(-phi));
    double e = exp(phi);
    return e / (1.0 + e);
}

double cb_flowmm_angle_to_uncon(double theta_deg)
{
    double p = clamp_p((theta_deg - CB_FLOWMM_ANGLE_LO) / CB_FLOWMM_ANGLE_WIDTH);
    return log(p) - log1p(-p); /* torch's logit: y.log() − (−y).log1p() */
}

double cb_flowmm_angle_from_uncon(double phi)
{
    return CB_FLOWMM_ANGLE_LO + CB_FLOWMM_ANGLE_WIDTH * clamp_p(sigmoid(phi));
}

double cb_flowmm_angle_dtheta_dphi(double phi)
{
    double s = sigmoid(phi);
    return CB_FLOWMM_ANGLE_WIDTH * s * (1.0 - s);
}

int cb_flowmm_angle_in_domain(double theta_deg)
{
    return theta_deg > CB_FLOWMM_ANGLE_LO && theta_deg < CB_FLOWMM_ANGLE_HI;
}

void cb_flowmm_lattice_to_uncon(const double params[6], double l[6])
{
    for (int k = 0; k < 3; k++) {
        l[k] = params[k];
        l[3 + k] = cb_flowmm_angle_to_uncon(params[3 + k]);
    }
}

void cb_flowmm_lattice_from_uncon(const double l[6], double params[6])
{
    for (int k = 0; k < 3; k++) {
        params[k] = l[k];
        params[3 + k] = cb_flowmm_angle_from_uncon(l[3 + k]);
    }
}

int cb_flowmm_lattice_decode(const double l[6], double params[6], double m[3][3])
{
    int valid = 1;
    for (int k = 0; k < 6; k++)
        if (!isfinite(l[k])) valid = 0;
    cb_flowmm_lattice_from_uncon(l, params);
    for (int k = 0; k < 3; k++) {
        if (!(params[k] > 0)) valid = 0;
        if (params[k] < CB_FLOWMM_MIN_LENGTH) params[k] = CB_FLOWMM_MIN_LENGTH;
    }
    cb_lattice_from_parameters(params, m);
    return valid;
}

void cb_flowmm_lattice_base(const cb_flowmm_lattice_stats *s, cb_rng *rng, double l[6])
{
    for (int k = 0; k < 3; k++)
        l[k] = exp(s->length_log_mean[k] + s->length_log_std[k] * cb_rng_normal(rng));
    /* Uniform(lo, hi) pushed through the transform is logit(clamp(u)), u ~ U[0, 1):
     * sampling u directly skips a round-off of θ = lo + width·u and back. */
    for (int k = 0; k < 3; k++) {
        double p = clamp_p(cb_rng_uniform(rng));
        l[3 + k] = log(p) - log1p(-p);
    }
}
