/* The Euclidean components of FlowMM's state, the lattice ℓ and the DNG analog bits
 * (models.md §3.2, §3.3): geoopt's Euclidean, so expmap(x, u) = x + u,
 * logmap(x, y) = y − x and projx = proju = identity; the geodesic is the straight line. */
#include "manifold.h"

void cb_flowmm_euclid_interp(const double *x0, const double *x1, size_t n, double t,
                             double *xt)
{
    for (size_t i = 0; i < n; i++) xt[i] = x0[i] + t * (x1[i] - x0[i]);
}

void cb_flowmm_euclid_velocity(const double *x0, const double *x1, size_t n, double *u)
{
    for (size_t i = 0; i < n; i++) u[i] = x1[i] - x0[i];
}

void cb_flowmm_euclid_euler(double *x, const double *v, size_t n, double dt, double scale)
{
    for (size_t i = 0; i < n; i++) x[i] += dt * (scale * v[i]);
}
