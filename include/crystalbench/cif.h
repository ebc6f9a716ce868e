/* CIF reading and writing.
 *
 * Reader: general CIF 1.1 as written by pymatgen, VESTA, ICSD/COD exports:
 * `_cell_*` items, `_atom_site_*` loops in any column order, symmetry operations from
 * `_symmetry_equiv_pos_as_xyz` or `_space_group_symop_operation_xyz` applied with
 * duplicate merging, numbers with uncertainties ("4.123(5)"), quoted strings,
 * ';'-delimited text fields, comments, several data blocks.  Partially occupied
 * sites are rejected (CB_ERR_UNSUPPORTED, "disordered structure not supported").
 *
 * Reading rules (pymatgen's CifParser where it has one):
 *   - the lattice is cb_lattice_from_parameters(a, b, c, alpha, beta, gamma);
 *   - every operation is applied to every site and the image wrapped into [0, 1)
 *     (x - floor(x), as pymatgen: a P1 file's 1.0 or -0.39 is read as 0.0 or 0.61);
 *     images of one site closer than 1e-4 in each fractional coordinate are one site;
 *   - site order: atom_site rows in file order, each followed by its distinct images
 *     in operation order (a P1 file keeps its order exactly);
 *   - the element comes from _atom_site_type_symbol ("Fe", "Fe2+", "O2-"), else from
 *     the label's leading letters ("Fe1" → Fe); no operations means the identity, and
 *     a space-group name or number other than P1 without operations is
 *     CB_ERR_UNSUPPORTED;
 *   - _atom_site_Cartn_x/y/z (when fract_x is absent) use CIF's default frame (a along
 *     x, b in the xy plane); rows with occupancy exactly 0 are skipped; "?"/"." as
 *     occupancy mean 1;
 *   - two atoms closer than 1e-3 Å after merging, non-finite or non-numeric values,
 *     a non-positive length, angles outside (0, 180) or a zero-volume cell, unknown
 *     elements and CIF syntax errors are errors.  A block that holds atoms and fails
 *     fails the whole call.
 * Codes: CB_ERR_PARSE for CIF syntax (unterminated quote or text field, loop value
 * count, binary data, ...), CB_ERR_INVALID for impossible content (cell, coordinates,
 * elements, duplicates, no atoms), CB_ERR_UNSUPPORTED for disorder and for a space
 * group without operations.  Messages are one line: "<source>: line N: <problem>".
 * The text need not be NUL-terminated; nothing is kept pointing into it.
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

/* Reader options; a zeroed struct (or NULL) is the default, which reads the file as
 * written.  The two flags reproduce CifParser quirks for bit-for-bit comparisons with
 * pymatgen 2022.11.7 (Structure.from_str(cif, "cif")):
 *   snap_thirds     a fractional coordinate within a relative 1e-4 of 1/3 or 2/3
 *                   becomes exactly 1/3 or 2/3 before symmetry is applied
 *                   (CifParser._sanitize_data; 0.333333 -> 0.3333333333333333);
 *   pymatgen_order  sites sorted as CifParser returns them: by electronegativity, then
 *                   symbol (Structure.get_sorted_structure), stable, so sites of one
 *                   element keep the default order.
 * With both flags, species, site order and fractional coordinates are bit-identical to
 * pymatgen's for every CIF of mp_20/test.csv (9,046), perov_5, carbon_24 and mpts_52
 * test sets (the lattice agrees to ~1e-13 Å: numpy's vectorised sin/cos are not libm's).
 * Without them, 1,321 of the 9,046 mp_20 test CIFs differ from pymatgen in coordinates
 * (0.333333 vs 1/3, up to 7e-5) and 38 in site order. */
typedef struct cb_cif_options {
    int snap_thirds;
    int pymatgen_order;
} cb_cif_options;

int cb_cif_parse_opts(const char *text, size_t len, const char *source, const cb_cif_options *opt,
                      cb_crystal **out, int *n_out, cb_error *err);
int cb_cif_parse_one_opts(const char *text, size_t len, const char *source, const cb_cif_options *opt,
                          cb_crystal *out, cb_error *err);
int cb_cif_read_file_opts(const char *path, const cb_cif_options *opt, cb_crystal **out, int *n_out,
                          cb_error *err);
/* Both flags on: what the dataset readers use (dataset.h), because every reference
 * number was computed from structures that went through pymatgen's CifParser. */
extern const cb_cif_options cb_cif_pymatgen;

/* P1 CIF text of c in pymatgen's CifWriter layout, byte for byte what
 * CifWriter(structure) writes for an ordered structure without oxidation states:
 * block name = reduced formula, numbers with %.8f (so a write→read round trip keeps
 * coordinates and cell parameters to 5e-9), coordinates as stored (not wrapped).
 * The id is not written (pymatgen names the block by formula).  *text is malloc'd,
 * NUL-terminated; len may be NULL. */
int cb_cif_write(const cb_crystal *c, char **text, size_t *len, cb_error *err);
/* Writes path.tmp, then renames it to path, so path is never half-written. */
int cb_cif_write_file(const cb_crystal *c, const char *path, cb_error *err);

#endif
