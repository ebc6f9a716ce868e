/* SMACT 2.2.1 compositional validity, exactly as the reference evaluation scripts call
 * it (metrics.md §2): single element → valid; all metals → valid (alloy shortcut);
 * else some combination of oxidation states must be charge neutral AND pass the
 * Pauling electronegativity test.
 *
 * The reference enumerates the full cartesian product of oxidation states (up to
 * 16^7 combinations for seven elements); the result only depends on whether SOME
 * neutral combination passes, so this enumerates depth-first and prunes branches
 * whose remaining charge range cannot reach zero.  Pruning never skips a neutral
 * combination, so the answer is the reference's. */
#include <math.h>

#include "crystalbench/validity.h"

int cb_smact_pauling_ok(int n, const int *ox, const double *eneg)
{
    /* itertools.combinations order: i outer, k inner.  A None electronegativity in a
     * cation-anion pair makes Python raise TypeError, which the caller turns into
     * "passes" for the whole test; in a same-sign pair it fails the test. */
    for (int i = 0; i < n; i++)
        for (int k = i + 1; k < n; k++) {
            int o1 = ox[i], o2 = ox[k];
            double e1 = eneg[i], e2 = eneg[k];
            int none = isnan(e1) || isnan(e2);
            if (o1 > 0 && o2 < 0) {
                if (none) return 1;
                if (e1 >= e2) return 0;
            } else if (o1 < 0 && o2 > 0) {
                if (none) return 1;
                if (e1 <= e2) return 0;
            } else if (none) {
                return 0;
            }
        }
    return 1;
}

typedef struct search {
    int n;
    const int *z;
    const long *counts;
    long rest_min[CB_MAX_Z + 1]; /* smallest Σ ox·count over elements i..n-1 */
    long rest_max[CB_MAX_Z + 1];
    int ox[CB_MAX_Z];
    double eneg[CB_MAX_Z];
} search;

static int dfs(search *s, int i, long charge)
{
    if (i == s->n) return charge == 0 && cb_smact_pauling_ok(s->n, s->ox, s->eneg);
    if (charge + s->rest_min[i] > 0 || charge + s->rest_max[i] < 0) return 0;
    const cb_element *e = &cb_elements[s->z[i]];
    for (int k = 0; k < e->n_ox_states; k++) {
        s->ox[i] = e->ox_states[k];
        if (dfs(s, i + 1, charge + (long)e->ox_states[k] * s->counts[i])) return 1;
    }
    return 0;
}

int cb_smact_validity(int n, const int *z, const long *counts, int product_guard)
{
    if (n < 1 || n > CB_MAX_Z) return CB_SMACT_ERROR;
    /* element_dictionary() is built before any test, so a missing element raises even
     * for a single-element composition. */
    for (int i = 0; i < n; i++) {
        if (z[i] < 1 || z[i] > CB_MAX_Z || counts[i] < 1) return CB_SMACT_ERROR;
        if (!cb_elements[z[i]].smact_has_element_data) return CB_SMACT_ERROR;
    }
    int distinct = 1;
    for (int i = 1; i < n; i++)
        if (z[i] != z[0]) distinct = 2;
    if (distinct == 1) return CB_SMACT_VALID;
    int all_metals = 1;
    for (int i = 0; i < n; i++) all_metals &= cb_elements[z[i]].smact_is_metal != 0;
    if (all_metals) return CB_SMACT_VALID;

    double n_combos = 1.0;
    for (int i = 0; i < n; i++) {
        /* oxidation_states None: itertools.product raises TypeError (fatal).  Every such
         * element also lacks element data, so this is defensive. */
        if (!cb_elements[z[i]].smact_ox_present) return CB_SMACT_ERROR;
        n_combos *= cb_elements[z[i]].n_ox_states;
    }
    if (product_guard && n_combos > 1e7) return CB_SMACT_INVALID;
    if (n_combos == 0) return CB_SMACT_INVALID; /* an element without states (He, Ne, Ar) */

    search s;
    s.n = n;
    s.z = z;
    s.counts = counts;
    s.rest_min[n] = s.rest_max[n] = 0;
    for (int i = n - 1; i >= 0; i--) {
        const cb_element *e = &cb_elements[z[i]];
        int lo = e->ox_states[0], hi = e->ox_states[0];
        for (int k = 1; k < e->n_ox_states; k++) {
            if (e->ox_states[k] < lo) lo = e->ox_states[k];
            if (e->ox_states[k] > hi) hi = e->ox_states[k];
        }
        s.rest_min[i] = s.rest_min[i + 1] + (long)lo * counts[i];
        s.rest_max[i] = s.rest_max[i + 1] + (long)hi * counts[i];
        s.eneg[i] = e->smact_pauling_eneg;
    }
    return dfs(&s, 0, 0) ? CB_SMACT_VALID : CB_SMACT_INVALID;
}
