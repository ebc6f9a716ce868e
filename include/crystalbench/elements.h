/* The element table: facts about elements Z = 1..118 that the metrics use, generated
 * into core/elements_table.c by tools/gen_elements.py from shared/data/elements/*.csv
 * (the generated file is committed; a build never needs shared/). */
#ifndef CRYSTALBENCH_ELEMENTS_H
#define CRYSTALBENCH_ELEMENTS_H

#define CB_MAX_Z 118
#define CB_MAGPIE_NPROPS 22
#define CB_MAGPIE_NFEATURES 132
#define CB_MAX_OX_STATES 16

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

#endif
