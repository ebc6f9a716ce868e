/* FlowMM's view of a dataset row (models.md §1.3): CDVAE's build_crystal with
 * niggli=True, primitive=False, i.e. pymatgen's get_reduced_structure() followed by a
 * rebuild from the lattice parameters in the canonical orientation (c along z, a in
 * the xz-plane) with the reduced cell's fractional coordinates.  Raw CIF cells can have
 * angles far outside FlowMM's (59.9°, 120.1°); Niggli cells cannot. */
#include "manifold.h"

#include "crystalbench/reduce.h"

int cb_flowmm_preprocess(const cb_crystal *in, cb_crystal *out, cb_error *err)
{
    int rc = cb_crystal_reduced(in, CB_REDUCE_NIGGLI, out, err);
    if (rc) return rc;
    double params[6];
    cb_lattice_parameters(out->lattice, params);
    /* Same parameters, so the same fractional coordinates describe the same crystal
     * (a rotation of the cell; the Niggli mapping keeps a positive determinant). */
    cb_lattice_from_parameters(params, out->lattice);
    for (int i = 0; i < out->n; i++)
        for (int k = 0; k < 3; k++) out->frac[i][k] = cb_wrap01(out->frac[i][k]);
    return CB_OK;
}
