/* spglib 2.0 wrappers, called the way pymatgen's SpacegroupAnalyzer and the spglib
 * Python module call them:
 *   - the lattice goes in TRANSPOSED (spglib's C API wants the vectors as columns);
 *   - species are numbered 1, 2, ... by first appearance (SpacegroupAnalyzer's zs);
 *   - positions are passed unwrapped.
 * spglib keeps its last error in a global, so these functions are not thread-safe. */
#include "crystalbench/reduce.h"

#include <spglib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npmath.h"

/* Distinct species a cell may hold (one per element). */
#define MAX_SPECIES 118

/* The cell as spglib wants it.  pos and types have room for `cap` atoms. */
typedef struct spg_cell {
    double lattice[3][3];
    double (*pos)[3];
    int *types;
    int n;
    int species[MAX_SPECIES]; /* species[t - 1] = Z of type t */
    int n_species;
} spg_cell;

static int cell_init(spg_cell *s, const cb_crystal *c, int cap, cb_error *err)
{
    memset(s, 0, sizeof *s);
    if (c->n < 1) return cb_fail(err, CB_ERR_INVALID, "spglib: empty structure");
    s->pos = malloc((size_t)cap * sizeof *s->pos);
    s->types = malloc((size_t)cap * sizeof *s->types);
    if (!s->pos || !s->types) {
        free(s->pos);
        free(s->types);
        return cb_fail(err, CB_ERR_NOMEM, "spglib: out of memory for %d sites", c->n);
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) s->lattice[i][j] = c->lattice[j][i];
    for (int i = 0; i < c->n; i++) {
        int t = 0;
        while (t < s->n_species && s->species[t] != c->z[i]) t++;
        if (t == s->n_species) {
            if (t == MAX_SPECIES) {
                free(s->pos);
                free(s->types);
                return cb_fail(err, CB_ERR_INVALID, "spglib: more than %d species", MAX_SPECIES);
            }
            s->species[s->n_species++] = c->z[i];
        }
        s->types[i] = t + 1;
        memcpy(s->pos[i], c->frac[i], sizeof s->pos[i]);
    }
    s->n = c->n;
    return CB_OK;
}

static void cell_free(spg_cell *s)
{
    free(s->pos);
    free(s->types);
    memset(s, 0, sizeof *s);
}

static int spg_failure(cb_error *err, const char *what)
{
    SpglibError e = spg_get_error_code();
    const char *msg = e == SPGLIB_SUCCESS ? "no result" : spg_get_error_message(e);
    return cb_fail(err, CB_ERR_EXTERNAL, "spglib %s failed: %s", what, msg ? msg : "unknown error");
}

/* A crystal with c's id and props, lattice = transpose(lat), the n sites of s
 * (wrapped into [0, 1) as Structure(..., to_unit_cell=True) does). */
static int cell_to_crystal(const spg_cell *s, const double lat[3][3], int n, const cb_crystal *c,
                           cb_crystal *out, cb_error *err)
{
    cb_crystal tmp;
    int rc = cb_crystal_alloc(&tmp, n, err);
    if (rc) return rc;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) tmp.lattice[i][j] = lat[j][i];
    for (int i = 0; i < n; i++) {
        int t = s->types[i];
        if (t < 1 || t > s->n_species) {
            cb_crystal_free(&tmp);
            return cb_fail(err, CB_ERR_EXTERNAL, "spglib returned an unknown atom type %d", t);
        }
        tmp.z[i] = s->species[t - 1];
        memcpy(tmp.frac[i], s->pos[i], sizeof tmp.frac[i]);
        cb_wrap_frac(tmp.frac[i]);
    }
    if (c->id && (rc = cb_crystal_set_id(&tmp, c->id, err))) goto fail;
    for (int i = 0; i < c->n_props; i++)
        if ((rc = cb_crystal_add_prop(&tmp, c->props[i].name, c->props[i].value, err))) goto fail;
    *out = tmp;
    return CB_OK;
fail:
    cb_crystal_free(&tmp);
    return rc;
}

int cb_spacegroup_get(const cb_crystal *c, double symprec, double angle_tol, cb_spacegroup *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    spg_cell s;
    int rc = cell_init(&s, c, c->n, err);
    if (rc) return rc;
    SpglibDataset *ds = spgat_get_dataset(s.lattice, s.pos, s.types, s.n, symprec, angle_tol);
    cell_free(&s);
    if (!ds) return spg_failure(err, "symmetry search");
    out->number = ds->spacegroup_number;
    out->hall_number = ds->hall_number;
    snprintf(out->international, sizeof out->international, "%s", ds->international_symbol);
    snprintf(out->hall_symbol, sizeof out->hall_symbol, "%s", ds->hall_symbol);
    snprintf(out->pointgroup, sizeof out->pointgroup, "%s", ds->pointgroup_symbol);
    spg_free_dataset(ds);
    if (out->number < 1 || out->number > 230) return spg_failure(err, "symmetry search");
    return CB_OK;
}

int cb_spg_standardize(const cb_crystal *c, int to_primitive, int no_idealize, double symprec, double angle_tol,
                       cb_crystal *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    if (c->n > (1 << 28)) return cb_fail(err, CB_ERR_UNSUPPORTED, "spglib: too many sites (%d)", c->n);
    spg_cell s;
    /* A conventional cell can hold up to 4 times the input atoms (spglib's contract). */
    int rc = cell_init(&s, c, 4 * c->n, err);
    if (rc) return rc;
    int n = spgat_standardize_cell(s.lattice, s.pos, s.types, s.n, to_primitive ? 1 : 0, no_idealize ? 1 : 0,
                                   symprec, angle_tol);
    if (n <= 0 || n > 4 * c->n)
        rc = spg_failure(err, "standardization");
    else
        rc = cell_to_crystal(&s, (const double(*)[3])s.lattice, n, c, out, err);
    cell_free(&s);
    return rc;
}

int cb_spg_primitive(const cb_crystal *c, double symprec, cb_crystal *out, cb_error *err)
{
    /* spglib.find_primitive(cell, symprec): its angle tolerance is left at -1 (spglib's
     * default), then pymatgen Niggli-reduces the result. */
    cb_crystal prim;
    int rc = cb_spg_standardize(c, 1, 0, symprec, -1.0, &prim, err);
    if (rc) return rc;
    rc = cb_crystal_reduced(&prim, CB_REDUCE_NIGGLI, out, err);
    cb_crystal_free(&prim);
    return rc;
}

int cb_spg_niggli(const cb_crystal *c, double eps, cb_crystal *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    double lat[3][3], red[3][3], inv[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) lat[i][j] = c->lattice[j][i];
    if (!spg_niggli_reduce(lat, eps)) return spg_failure(err, "Niggli reduction");
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) red[i][j] = lat[j][i];
    if (cb_np_inv3(red, inv)) return cb_fail(err, CB_ERR_EXTERNAL, "spglib Niggli reduction gave a singular cell");
    int rc = cb_crystal_copy(out, c, err);
    if (rc) return rc;
    memcpy(out->lattice, red, sizeof red);
    for (int i = 0; i < c->n; i++) {
        double cart[3];
        cb_np_vec_dot(c->frac[i], c->lattice, cart);
        cb_np_vec_dot(cart, inv, out->frac[i]);
        cb_wrap_frac(out->frac[i]);
    }
    return CB_OK;
}
