/* The flat torus [0,1)^3 per atom of FlowMM's fractional coordinates (models.md §1.2,
 * §3.1, §3.3; flowmm src/flowmm/rfm/manifolds/flat_torus.py, MaskedNoDriftFlatTorus01).
 * Padding masks are not needed: a crystal's atoms are exactly its n rows. */
#include "manifold.h"

#include <math.h>

double cb_flowmm_torus_log(double x, double y)
{
    double d = y - x;
    double r = d - floor(d + 0.5);
    /* d + 0.5 may round across an integer (d = ½ − 2⁻⁵⁴), leaving r a hair outside the
     * half-open interval: fold it back so the range contract holds for every input. */
    if (r >= 0.5) r -= 1.0;
    if (r < -0.5) r += 1.0;
    return r;
}

void cb_flowmm_torus_project(double (*x)[3], int n)
{
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) x[i][c] = cb_wrap01(x[i][c]);
}

void cb_flowmm_torus_interp(const double (*x0)[3], const double (*x1)[3], int n, double t,
                            double (*xt)[3])
{
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            double d = cb_flowmm_torus_log(x0[i][c], x1[i][c]);
            xt[i][c] = cb_wrap01(x0[i][c] + t * d);
        }
}

void cb_flowmm_torus_velocity(const double (*x0)[3], const double (*x1)[3], int n,
                              double (*u)[3])
{
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) u[i][c] = cb_flowmm_torus_log(x0[i][c], x1[i][c]);
}

void cb_flowmm_torus_remove_drift(double (*u)[3], int n)
{
    if (n <= 0) return;
    for (int c = 0; c < 3; c++) {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += u[i][c];
        double mean = s / n;
        for (int i = 0; i < n; i++) u[i][c] -= mean;
    }
}

void cb_flowmm_torus_remove_drift_f(float (*u)[3], int n)
{
    if (n <= 0) return;
    for (int c = 0; c < 3; c++) {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += u[i][c];
        double mean = s / n;
        for (int i = 0; i < n; i++) u[i][c] = (float)((double)u[i][c] - mean);
    }
}

void cb_flowmm_torus_uniform(double (*x)[3], int n, cb_rng *rng)
{
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) x[i][c] = cb_rng_uniform(rng);
}

void cb_flowmm_torus_euler(double (*x)[3], const double (*v)[3], int n, double dt,
                           double scale)
{
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) x[i][c] = cb_wrap01(x[i][c] + dt * (scale * v[i][c]));
}
