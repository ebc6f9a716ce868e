/* The per-structure validity record (metrics.md §1.1) for the three reference
 * protocols; see validity.h for the differences reproduced.
 *
 * Deviation for all protocols (documented in validity.h's spirit): non-finite
 * lengths, angles or coordinates never construct a structure.  The reference CDVAE
 * code has no NaN check and would call such a structure valid (NaN distances compare
 * false against 0.5); no model output that matters hits this. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crystalbench/validity.h"

static const char *const protocol_names[] = {"cdvae", "diffcsp", "flowmm"};

const char *cb_protocol_name(cb_protocol p)
{
    return (unsigned)p < 3 ? protocol_names[p] : "unknown";
}

int cb_protocol_from_name(const char *name, cb_protocol *out)
{
    for (int i = 0; i < 3; i++)
        if (name && strcasecmp(name, protocol_names[i]) == 0) {
            *out = (cb_protocol)i;
            return 0;
        }
    return -1;
}

int cb_flowmm_angles_ok(const double angles[3])
{
    for (int i = 0; i < 3; i++)
        if (!(angles[i] > 50.0 && angles[i] < 130.0)) return 0;
    return 1;
}

int cb_flowmm_absurd_crystal(cb_crystal *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = cb_crystal_alloc(out, 1, err);
    if (rc) return rc;
    static const double params[6] = {100, 100, 100, 90, 90, 90};
    cb_lattice_from_parameters(params, out->lattice);
    out->z[0] = 100;
    return CB_OK;
}

int cb_reduced_composition(int n, const int *atom_types, int elems[CB_MAX_Z], long counts[CB_MAX_Z])
{
    long per_z[CB_MAX_Z + 1] = {0};
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (atom_types[i] < 1 || atom_types[i] > CB_MAX_Z)
            bad = 1;
        else
            per_z[atom_types[i]]++;
    }
    int m = 0;
    long g = 0;
    for (int z = 1; z <= CB_MAX_Z; z++)
        if (per_z[z]) {
            elems[m] = z;
            counts[m] = per_z[z];
            g = cb_gcd(g, per_z[z]);
            m++;
        }
    for (int i = 0; i < m; i++) counts[i] /= g;
    return bad ? -1 : m;
}

int cb_structure_validity(const cb_crystal *c, int *valid, double *min_dist, cb_error *err)
{
    *valid = 0;
    *min_dist = NAN;
    double volume = cb_crystal_volume(c);
    if (!(volume >= CB_STRUCT_MIN_VOLUME)) return CB_OK;
    if (c->n >= 2) {
        size_t n = (size_t)c->n;
        double *d = malloc(n * n * sizeof *d);
        if (!d) return cb_fail(err, CB_ERR_NOMEM, "out of memory for a %zu-site distance matrix", n);
        int rc = cb_crystal_distance_matrix(c, d, err);
        if (rc) {
            free(d);
            return rc;
        }
        /* min(D + 10.5·I): the diagonal never wins below 10.5, so the off-diagonal
         * minimum decides; numpy's min propagates NaN. */
        double m = INFINITY;
        for (size_t i = 0; i < n && !isnan(m); i++)
            for (size_t j = 0; j < n; j++) {
                if (i == j) continue;
                double v = d[i * n + j];
                if (isnan(v)) {
                    m = NAN;
                    break;
                }
                if (v < m) m = v;
            }
        free(d);
        *min_dist = m;
    }
    *valid = !(*min_dist < CB_STRUCT_MIN_DIST);
    return CB_OK;
}

/* Common tail: s is the structure as built (NULL when construction failed before a
 * structure existed).  Fills everything but `absurd`. */
static int finish(cb_protocol p, int n, const int *types, const cb_crystal *s, cb_validity *out,
                  cb_error *err)
{
    out->volume = s ? cb_crystal_volume(s) : NAN;
    out->min_dist = NAN;
    out->constructed = s && out->volume >= CB_STRUCT_MIN_VOLUME;
    out->struct_valid = 0;
    if (out->constructed) {
        int rc = cb_structure_validity(s, &out->struct_valid, &out->min_dist, err);
        if (rc == CB_ERR_NOMEM) return rc;
        if (rc) { /* a lattice the distance code refuses: the reference would raise */
            out->constructed = 0;
            out->struct_valid = 0;
        }
    }
    int m = cb_reduced_composition(n, types, out->elems, out->counts);
    out->n_elems = m < 0 ? 0 : m;
    out->comp_valid = 0;
    out->smact_error = 0;
    if (p == CB_PROTOCOL_FLOWMM && !out->constructed) {
        /* FlowMM computes nothing else for an unconstructed crystal. */
    } else if (m < 0) {
        out->smact_error = 1;
    } else {
        int v = cb_smact_validity(m, out->elems, out->counts, p != CB_PROTOCOL_CDVAE);
        out->comp_valid = v == CB_SMACT_VALID;
        out->smact_error = v == CB_SMACT_ERROR;
    }
    out->valid = out->comp_valid && out->struct_valid;
    return CB_OK;
}

static int types_in(int n, const int *types, int lo, int hi)
{
    for (int i = 0; i < n; i++)
        if (types[i] < lo || types[i] > hi) return 0;
    return 1;
}

/* The pre-construction checks of §1.1 other than FlowMM's angle filter. */
static int constructible(cb_protocol p, const double lengths[3], int all_finite, int n, const int *types)
{
    if (!all_finite) return 0;
    if (p == CB_PROTOCOL_CDVAE && (lengths[0] < 0 || lengths[1] < 0 || lengths[2] < 0)) return 0;
    return types_in(n, types, 1, p == CB_PROTOCOL_FLOWMM ? 104 : CB_MAX_Z);
}

static int absurd_record(cb_validity *out, cb_crystal *built, cb_error *err)
{
    cb_crystal a;
    int rc = cb_flowmm_absurd_crystal(&a, err);
    if (rc) return rc;
    rc = finish(CB_PROTOCOL_FLOWMM, a.n, a.z, &a, out, err);
    out->absurd = 1;
    if (built && !rc)
        *built = a;
    else
        cb_crystal_free(&a);
    return rc;
}

int cb_validity_from_params(cb_protocol p, int is_prediction, const double lengths[3],
                            const double angles[3], int n, const int *atom_types,
                            const double (*frac)[3], cb_validity *out, cb_crystal *built,
                            cb_error *err)
{
    memset(out, 0, sizeof *out);
    if (built) memset(built, 0, sizeof *built);
    if (n < 1) return cb_fail(err, CB_ERR_INVALID, "a crystal needs at least one atom");
    if (p == CB_PROTOCOL_FLOWMM && is_prediction && !cb_flowmm_angles_ok(angles))
        return absurd_record(out, built, err);
    int finite = 1;
    for (int k = 0; k < 3; k++) finite &= isfinite(lengths[k]) && isfinite(angles[k]);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) finite &= isfinite(frac[i][k]) != 0;
    if (!constructible(p, lengths, finite, n, atom_types)) return finish(p, n, atom_types, NULL, out, err);

    cb_crystal s;
    memset(&s, 0, sizeof s);
    int rc = cb_crystal_alloc(&s, n, err);
    if (rc) return rc;
    double params[6] = {lengths[0], lengths[1], lengths[2], angles[0], angles[1], angles[2]};
    cb_lattice_from_parameters(params, s.lattice);
    for (int i = 0; i < n; i++) {
        s.z[i] = atom_types[i];
        memcpy(s.frac[i], frac[i], sizeof s.frac[i]);
    }
    rc = finish(p, n, atom_types, &s, out, err);
    if (built && !rc)
        *built = s;
    else
        cb_crystal_free(&s);
    return rc;
}

int cb_validity_of_crystal(cb_protocol p, int is_prediction, const cb_crystal *c, cb_validity *out,
                           cb_error *err)
{
    memset(out, 0, sizeof *out);
    if (c->n < 1) return finish(p, 0, c->z, NULL, out, err);
    int finite = 1;
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) finite &= isfinite(c->lattice[i][k]) != 0;
    for (int i = 0; i < c->n; i++)
        for (int k = 0; k < 3; k++) finite &= isfinite(c->frac[i][k]) != 0;
    double params[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
    if (finite) cb_lattice_parameters(c->lattice, params);
    if (p == CB_PROTOCOL_FLOWMM && is_prediction && !cb_flowmm_angles_ok(params + 3))
        return absurd_record(out, NULL, err);
    int ok = constructible(p, params, finite, c->n, c->z);
    return finish(p, c->n, c->z, ok ? c : NULL, out, err);
}
