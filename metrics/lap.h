/* Private: a dense linear assignment solver (metrics.md §5.10).
 *
 * Jonker & Volgenant (1987), "A shortest augmenting path algorithm for dense and sparse
 * linear assignment problems", as pymatgen 2022.11.7 implements it
 * (pymatgen.optimization.linear_assignment, epsilon 1e-13): the same phases (column
 * reduction, reduction transfer, two rounds of augmenting row reduction, shortest
 * augmenting paths), the same scan orders and the same epsilon comparisons, so that
 * when several assignments are optimal the same one is chosen as pymatgen's, and the
 * StructureMatcher's RMS distances agree to the last bit.
 *
 * The optimum is exact up to the epsilon of the comparisons (a sum within about
 * n · epsilon of the true minimum); tests/test_lap.c checks it against brute force and an
 * independent Hungarian solver.  Costs must be finite (the matcher's forbidden pairs are
 * 1e20, not infinity). */
#ifndef CB_LAP_H
#define CB_LAP_H

#include "crystalbench/error.h"

/* pymatgen's LinearAssignment default. */
#define CB_LAP_EPSILON 1e-13

/* Scratch memory, grown on demand and reused across calls (no allocation per solve once
 * large enough).  Zero-initialise; release with cb_lap_free. */
typedef struct cb_lap {
    int cap;
    int *ibuf;    /* 4 · cap: col, fre, pred, y */
    double *dbuf; /* 2 · cap: v, d */
} cb_lap;

int cb_lap_reserve(cb_lap *w, int n, cb_error *err);
void cb_lap_free(cb_lap *w);

/* Minimum-cost assignment for the n × n row-major matrix cost: rowsol[i] = column given
 * to row i.  *min_cost (optional) = Σ cost[i][rowsol[i]] summed in row order.
 * CB_ERR_INVALID for n < 1 or a non-finite cost; CB_ERR_NOMEM if the scratch cannot grow. */
int cb_lap_solve(cb_lap *w, int n, const double *cost, double epsilon, int *rowsol, double *min_cost,
                 cb_error *err);

/* cb_lap_solve for a caller that guarantees every cost is finite (the matcher's are
 * squared lengths or 1e20): the same result without the check. */
int cb_lap_solve_finite(cb_lap *w, int n, const double *cost, double epsilon, int *rowsol, cb_error *err);

#endif
