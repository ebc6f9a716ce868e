/* Time in FlowMM: the training-time draw of t, the sampler's Euler grid and its
 * inference anti-annealing, and the loss weights (models.md §3.5–§3.7; flowmm
 * src/flowmm/model/model_pl.py, riemannian-fm manifm/solvers.py).  The Euler steps of
 * each manifold are cb_flowmm_torus_euler and cb_flowmm_euclid_euler. */
#include "manifold.h"

double cb_flowmm_sample_time(cb_rng *rng) { return cb_rng_uniform(rng); }

void cb_flowmm_euler_grid(int k, int steps, double *t, double *dt)
{
    /* t1 − t0 of consecutive grid points, as manifm's integrator takes dt, so Σ dt = 1
     * exactly (the last point is steps/steps = 1). */
    double t0 = (double)k / steps, t1 = (double)(k + 1) / steps;
    *t = t0;
    *dt = t1 - t0;
}

double cb_flowmm_anneal_scale(double t, double slope, double offset)
{
    double r = t - offset;
    return slope * (r > 0 ? r : 0.0) + 1.0;
}

void cb_flowmm_cost_weights(int dng, double *w_coord, double *w_lattice, double *w_type)
{
    const double coord = 400.0, lattice = 1.0, type = dng ? 40.0 : 0.0;
    const double sum = coord + lattice + type;
    *w_coord = coord / sum;
    *w_lattice = lattice / sum;
    *w_type = type / sum;
}
