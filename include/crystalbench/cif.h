/* CIF reading and writing.
 *
 * Reader: general CIF 1.1 as written by pymatgen, VESTA, ICSD/COD exports:
 * `_cell_*` items, `_atom_site_*` loops in any column order, symmetry operations from
 * `_symmetry_equiv_pos_as_xyz` or `_space_group_symop_operation_xyz` applied with
 * duplicate merging, numbers with uncertainties ("4.123(5)"), quoted strings,
 * ';'-delimited text fields, comments, several data blocks.  Partially occupied
 * sites are rejected (CB_ERR_UNSUPPORTED, "disordered structure not supported").
 *
 * Writer: P1 CIF in pymatgen's layout (CifWriter), one block per crystal. */
#ifndef CRYSTALBENCH_CIF_H
#define CRYSTALBENCH_CIF_H

#include <stddef.h>

#include "crystalbench/crystal.h"

/* Parses every data block that holds atoms.  `source` names the input in error
 * messages (e.g. "mp_20/test.csv row 17").  On success *out is a malloc'd array of
 * *n_out >= 1 crystals (free each with cb_crystal_free, then free the array). */
int cb_cif_parse(const char *text, size_t len, const char *source,
                 cb_crystal **out, int *n_out, cb_error *err);
/* The first data block that holds atoms. */
int cb_cif_parse_one(const char *text, size_t len, const char *source,
                     cb_crystal *out, cb_error *err);
int cb_cif_read_file(const char *path, cb_crystal **out, int *n_out, cb_error *err);

/* P1 CIF text of c in pymatgen's CifWriter layout; *text is malloc'd, NUL-terminated. */
int cb_cif_write(const cb_crystal *c, char **text, size_t *len, cb_error *err);
int cb_cif_write_file(const cb_crystal *c, const char *path, cb_error *err);

#endif
