/* Jonker–Volgenant linear assignment, phase by phase as pymatgen's Cython version
 * (see lap.h for why the scan orders and epsilon tests are kept exactly).
 *
 * Notation: x[i] = column of row i, y[j] = row of column j (-1 = free), v = column
 * prices, d = shortest-path distances, col = column permutation whose prefix
 * col[0..low) is READY, col[low..up) is SCAN and col[up..n) is TODO. */
#include "lap.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#define BIG 1e300

int cb_lap_reserve(cb_lap *w, int n, cb_error *err)
{
    if (n <= w->cap) return CB_OK;
    int *ib = realloc(w->ibuf, (size_t)n * 4 * sizeof *ib);
    if (!ib) return cb_fail(err, CB_ERR_NOMEM, "assignment: out of memory for %d x %d", n, n);
    w->ibuf = ib;
    double *db = realloc(w->dbuf, (size_t)n * 2 * sizeof *db);
    if (!db) return cb_fail(err, CB_ERR_NOMEM, "assignment: out of memory for %d x %d", n, n);
    w->dbuf = db;
    w->cap = n;
    return CB_OK;
}

void cb_lap_free(cb_lap *w)
{
    free(w->ibuf);
    free(w->dbuf);
    w->ibuf = NULL;
    w->dbuf = NULL;
    w->cap = 0;
}

typedef struct lap_state {
    int n;
    const double *c;
    double eps;
    int *x, *y, *col, *fre, *pred;
    double *v, *d;
} lap_state;

#define C(i, j) (s->c[(size_t)(i) * (size_t)s->n + (size_t)(j)])

/* Column reduction (columns scanned from the last), then reduction transfer.  Returns
 * the index of the last free row in fre (-1 when none), -2 for a non-finite cost (the
 * column scans read every cost once, so the check rides along). */
static int initial_assignment(lap_state *s, int check_finite)
{
    int n = s->n, finite = 1;
    for (int i = 0; i < n; i++) s->x[i] = -1;
    for (int j = n - 1; j >= 0; j--) {
        s->col[j] = j;
        double h = C(0, j);
        int i1 = 0;
        if (check_finite) {
            finite &= fabs(h) <= DBL_MAX;
            for (int i = 1; i < n; i++) finite &= fabs(C(i, j)) <= DBL_MAX;
        }
        for (int i = 1; i < n; i++) {
            double c = C(i, j);
            if (c < h) {
                h = c;
                i1 = i;
            }
        }
        s->v[j] = h;
        if (s->x[i1] == -1) {
            s->x[i1] = j;
            s->y[j] = i1;
        } else {
            if (s->x[i1] > -1) s->x[i1] = -2 - s->x[i1];
            s->y[j] = -1;
        }
    }
    if (!finite) return -2;
    /* Rows first: free (no column), several columns (keep the last one taken), or one
     * column (a reduction transfer below).  The transfers only adjust prices, which
     * matter only if some row is free: with none, the assignment is complete. */
    int f = -1, transfer = 0;
    for (int i = 0; i < n; i++) {
        if (s->x[i] == -1) {
            s->fre[++f] = i;
        } else if (s->x[i] < -1) {
            s->x[i] = -2 - s->x[i];
            s->pred[i] = 0;
        } else {
            s->pred[i] = 1; /* pred is scratch until the augmentation phase */
            transfer = 1;
        }
    }
    if (f < 0 || !transfer) return f;
    for (int i = 0; i < n; i++) {
        if (s->x[i] < 0 || !s->pred[i]) continue;
        int j1 = s->x[i];
        const double *row = &C(i, 0);
        double m = BIG;
        for (int j = 0; j < j1; j++) {
            double d = row[j] - s->v[j];
            m = d < m ? d : m;
        }
        for (int j = j1 + 1; j < n; j++) {
            double d = row[j] - s->v[j];
            m = d < m ? d : m;
        }
        s->v[j1] = s->v[j1] - m;
    }
    return f;
}

/* Two rounds of augmenting row reduction over the free rows; nrr caps the work as
 * pymatgen does.  Returns the new last free-row index, or -2 on an inconsistency. */
static int row_reduction(lap_state *s, int f)
{
    int n = s->n;
    for (int cnt = 0; cnt < 2; cnt++) {
        int k = 0, f0 = f, nrr = 0;
        f = -1;
        while (k <= f0) {
            nrr++;
            int i = s->fre[k];
            k++;
            double u1 = C(i, 0) - s->v[0], u2 = BIG;
            int j1 = 0, j2 = 0;
            for (int j = 1; j < n; j++) {
                double h = C(i, j) - s->v[j];
                if (h < u2) {
                    if (h >= u1) {
                        u2 = h;
                        j2 = j;
                    } else {
                        u2 = u1;
                        u1 = h;
                        j2 = j1;
                        j1 = j;
                    }
                }
            }
            int i1 = s->y[j1];
            int strict = u1 + s->eps < u2 && nrr < n * k;
            if (strict) {
                s->v[j1] = s->v[j1] - u2 + u1;
            } else if (i1 > -1 && nrr < n * k) {
                j1 = j2;
                i1 = s->y[j1];
            }
            if (i1 > -1) {
                if (strict) {
                    s->fre[--k] = i1;
                } else {
                    if (f + 1 >= n) return -2;
                    s->fre[++f] = i1;
                }
            }
            s->x[i] = j1;
            s->y[j1] = i;
        }
    }
    return f;
}

/* Price update of the READY columns and the augmentation along pred from column j back
 * to row i1.  Returns non-zero on a malformed path (never for finite costs). */
static int augment(lap_state *s, int last, double m, int j, int i1)
{
    for (int k = 0; k <= last; k++) {
        int j1 = s->col[k];
        s->v[j1] = s->v[j1] + s->d[j1] - m;
    }
    for (int steps = 0; steps <= s->n; steps++) {
        int i = s->pred[j];
        s->y[j] = i;
        int k = j;
        j = s->x[i];
        s->x[i] = k;
        if (i == i1) return 0;
        if (j < 0 || j >= s->n) return 1;
    }
    return 1;
}

/* Shortest augmenting path (Dijkstra with epsilon ties) from the free row i1. */
static int augment_row(lap_state *s, int i1)
{
    int n = s->n, low = 0, up = 0, last = -1;
    double m = 0;
    for (int j = 0; j < n; j++) {
        s->d[j] = C(i1, j) - s->v[j];
        s->pred[j] = i1;
    }
    for (;;) {
        if (up == low) {
            if (up >= n) return 1; /* no free column reachable: cannot happen */
            last = low - 1;
            m = s->d[s->col[up]];
            up = up + 1;
            for (int k = up; k < n; k++) {
                int j = s->col[k];
                double h = s->d[j];
                if (h <= m + s->eps) {
                    if (h + s->eps < m) {
                        up = low;
                        m = h;
                    }
                    s->col[k] = s->col[up];
                    s->col[up] = j;
                    up = up + 1;
                }
            }
            for (int z = low; z < up; z++) {
                int j = s->col[z];
                if (s->y[j] == -1) return augment(s, last, m, j, i1);
            }
        }
        int j1 = s->col[low];
        low = low + 1;
        int i = s->y[j1];
        if (i < 0) return 1;
        double u1 = C(i, j1) - s->v[j1] - m;
        int start = up;
        for (int k = start; k < n; k++) {
            int j = s->col[k];
            double h = C(i, j) - s->v[j] - u1;
            if (h + s->eps < s->d[j]) {
                s->d[j] = h;
                s->pred[j] = i;
                if (fabs(h - m) < s->eps) {
                    if (s->y[j] == -1) return augment(s, last, m, j, i1);
                    s->col[k] = s->col[up];
                    s->col[up] = j;
                    up = up + 1;
                }
            }
        }
    }
}

static int solve(cb_lap *w, int n, const double *cost, double epsilon, int *rowsol, double *min_cost, int check,
                 cb_error *err)
{
    if (n < 1) return cb_fail(err, CB_ERR_INVALID, "assignment: empty cost matrix");
    int rc = cb_lap_reserve(w, n, err);
    if (rc) return rc;

    lap_state st = {n, cost, fabs(epsilon), rowsol, w->ibuf, w->ibuf + n, w->ibuf + 2 * n, w->ibuf + 3 * n,
                    w->dbuf, w->dbuf + n};
    lap_state *s = &st;
    int f = initial_assignment(s, check);
    if (f < -1) return cb_fail(err, CB_ERR_INVALID, "assignment: non-finite cost");
    f = row_reduction(s, f);
    if (f < -1) return cb_fail(err, CB_ERR_INVALID, "assignment: solver failed (row reduction)");
    for (int k = 0; k <= f; k++)
        if (augment_row(s, s->fre[k])) return cb_fail(err, CB_ERR_INVALID, "assignment: solver failed (augmentation)");
    if (min_cost) {
        double total = 0;
        for (int i = 0; i < n; i++) total += C(i, rowsol[i]);
        *min_cost = total;
    }
    return CB_OK;
}

int cb_lap_solve(cb_lap *w, int n, const double *cost, double epsilon, int *rowsol, double *min_cost,
                 cb_error *err)
{
    return solve(w, n, cost, epsilon, rowsol, min_cost, 1, err);
}

int cb_lap_solve_finite(cb_lap *w, int n, const double *cost, double epsilon, int *rowsol, cb_error *err)
{
    return solve(w, n, cost, epsilon, rowsol, NULL, 0, err);
}
