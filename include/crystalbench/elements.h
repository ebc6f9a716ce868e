/* The element table: facts about elements Z = 1..118 that the metrics use, generated
 * into core/elements_table.c by tools/gen_elements.py from the CSV files in
 * shared/data/elements (the generated file is committed; a build never needs shared/). */
#ifndef CRYSTALBENCH_ELEMENTS_H
#define CRYSTALBENCH_ELEMENTS_H

#define CB_MAX_Z 118
#define CB_MAGPIE_NPROPS 22
#define CB_MAGPIE_NFEATURES 132
#define CB_MAX_OX_STATES 16

#include <stddef.h>

#include "crystalbench/crystal.h"

typedef struct cb_element {
    int z;
    const char *symbol;
    /* SMACT 2.2.1 */
    int smact_ox_present;          /* element has a line in oxidation_states.txt */
    int n_ox_states;
    int ox_states[CB_MAX_OX_STATES];
    int smact_has_element_data;
    double smact_pauling_eneg;     /* NaN = None */
    int smact_is_metal;
    /* pymatgen 2022.11.7 */
    double pmg_x;                  /* Element.X, NaN where pymatgen has none */
    double atomic_mass;            /* amu */
    double crystalnn_radius;       /* NaN = None (Z >= 97) */
    /* matminer Magpie, featurizer order; NaN = missing */
    double magpie[CB_MAGPIE_NPROPS];
} cb_element;

/* Index 0 is the dummy "X"; valid Z are 1..118. */
extern const cb_element cb_elements[CB_MAX_Z + 1];
extern const char *const cb_magpie_property_names[CB_MAGPIE_NPROPS];
/* CDVAE CompScaler: mean and std of the 132 Magpie features. */
extern const double cb_comp_scaler_mean[CB_MAGPIE_NFEATURES];
extern const double cb_comp_scaler_std[CB_MAGPIE_NFEATURES];

/* Z for a symbol ("Fe", case-sensitive as CIF writes it; also accepts "FE"/"fe"), or 0. */
int cb_element_from_symbol(const char *symbol);
/* Symbol for Z, or "X" when Z is out of range. */
const char *cb_element_symbol(int z);

/* ---- pymatgen formulas (core/composition.c) ----
 *
 * pymatgen sorts formula elements with key [Element.X, symbol], and X is NaN for He, Ne,
 * Ar and Z >= 104.  Python's list.sort is then not a total order: a NaN key is neither
 * less nor greater than anything, and the result depends on the order the elements were
 * inserted into the Composition.  These functions reproduce Python 3.11's sort exactly
 * (core/pysort.c), so they need that insertion order:
 *   - cb_composition_reduced_formula (crystal.h) uses increasing Z, which is what
 *     Composition(dict(zip(elems, counts))) gives in the metrics (metrics.md §1.1);
 *   - cb_crystal_reduced_formula uses the order of first appearance among the sites,
 *     which is what Structure.composition gives.
 * Without NaN-X elements the order never matters and both give the same string. */

/* Composition.reduced_formula for elements z[0..n-1] with amounts in insertion order.
 * Integer amounts (within 1e-8) give the reduced formula (gcd, polyanion brackets such
 * as "Ca3(PO4)2", special formulas O2, H2O2, Li2O2, ...); otherwise pymatgen's
 * Composition.formula without spaces ("Fe0.5O1").  Amounts with |a| < 1e-8 are dropped
 * as pymatgen does.  Returns the length written, or -1 (and out = "" when cap > 0) when
 * cap is too small or the input is unusable (Z out of range, negative/non-finite amount,
 * duplicate Z, amount > 1e15).  An empty composition gives "" (pymatgen raises). */
int cb_reduced_formula(int n, const int *z, const double *amount, char *out, size_t cap);

/* Structure.composition.reduced_formula; sites with Z out of range make it fail (-1). */
int cb_crystal_reduced_formula(const cb_crystal *c, char *out, size_t cap);

#endif
