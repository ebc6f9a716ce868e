/* Datasets and sample files: streaming readers and writers for every input layout.
 *
 *   CSV      CDVAE layout: header row, an unnamed index column, `material_id`, a `cif`
 *            column holding a whole (quoted, multi-line) CIF, property columns.
 *            Columns are found by header name; any CSV with a `cif` column is accepted.
 *            Plain or gzip-compressed (.csv.gz), read as a stream (RFC 4180: "" escapes,
 *            newlines inside quotes; LF, CRLF or CR line ends; a UTF-8 BOM and blank
 *            lines are ignored).
 *              id    = material_id; when absent or empty, the index column's value;
 *                      else the 1-based row number;
 *              props = every other column by header name, the text as written (empty
 *                      cells give ""); an unnamed column after the index is named
 *                      "Unnamed: K" (K = 0-based column) as pandas names it.
 *   CIF_DIR  a folder of *.cif files (any case of ".cif"), read in name order (strcmp).
 *            id = file name without .cif, plus ":<block>" when a file holds several
 *            blocks.  Names in cb_dataset_write's layout ("<index>_<id>.cif" with
 *            indices 0..n-1 of one zero-padded width) give back <id>.
 *   CIF      one .cif file, one crystal per data block (id = block name).
 *   EXTXYZ   extended XYZ: Lattice="…" Properties=species:S:1:pos:R:3 (Cartesian
 *            positions; other columns in any order are skipped by their declared width).
 *            id = material_id= (else id=, else the frame number); other keys but
 *            Lattice, Properties and pbc become props.  ".xyz.gz" is read as a stream.
 *
 * Record numbers in messages: CSV = 1-based data row ("<path>: row N: ..."), EXTXYZ =
 * frame ("<path>: frame N: line L: ..."), CIF_DIR = running crystal count (messages
 * name the file), CIF = block.
 */
#ifndef CRYSTALBENCH_DATASET_H
#define CRYSTALBENCH_DATASET_H

#include <stddef.h>

#include "crystalbench/crystal.h"

typedef enum cb_format {
    CB_FORMAT_AUTO = 0, /* from the path: directory, *.csv[.gz], *.cif, *.xyz / *.extxyz */
    CB_FORMAT_CSV,
    CB_FORMAT_CIF_DIR,
    CB_FORMAT_CIF,
    CB_FORMAT_EXTXYZ
} cb_format;

/* Resolves CB_FORMAT_AUTO from a path (existing directory → CIF_DIR; otherwise by
 * suffix, case-insensitive: .csv .csv.gz → CSV, .cif → CIF, .xyz .extxyz (+ .gz) →
 * EXTXYZ; a path ending in '/' → CIF_DIR, for outputs not yet created); returns
 * CB_FORMAT_AUTO again when it cannot tell. */
cb_format cb_format_guess(const char *path);
const char *cb_format_name(cb_format f);
/* "csv", "cif-dir", "cif", "extxyz" → format (also "cifdir", "cif_dir", "xyz"; any
 * case); CB_FORMAT_AUTO when unknown.  cb_format_name(CB_FORMAT_AUTO) is "auto". */
cb_format cb_format_from_name(const char *name);

typedef struct cb_reader cb_reader;

int cb_reader_open(const char *path, cb_format fmt, cb_reader **out, cb_error *err);
/* Reads the next record into *out (which must not own memory).
 *   CB_OK          *out holds the crystal (id = material_id / block / file name,
 *                  other CSV columns as props; the index column is dropped).
 *   CB_ERR_EOF     no more records.
 *   other codes    this record is unreadable: err says "<path>: row N: <reason>" and
 *                  *out owns nothing.  A per-record error leaves the reader usable
 *                  (the next call moves on to the next record); a stream error
 *                  (truncated gzip, unterminated quote at end of file, I/O error) is
 *                  reported once and every later call returns CB_ERR_EOF. */
int cb_reader_next(cb_reader *r, cb_crystal *out, cb_error *err);
/* 1-based number of the record last returned (CSV data row, file index, block, frame). */
long cb_reader_record(const cb_reader *r);
void cb_reader_close(cb_reader *r);

/* An in-memory dataset. */
typedef struct cb_dataset {
    cb_crystal *items;
    size_t n;
    size_t cap;
    char *path; /* as given; may be NULL */
} cb_dataset;

/* Reads all records; fails on the first unreadable one (with its row in the message),
 * leaving *ds empty.  A CSV with a header and no rows is an empty dataset, not an error.
 * ds->path is a copy of path. */
int cb_dataset_load(const char *path, cb_format fmt, cb_dataset *ds, cb_error *err);
/* Appends a copy of c. */
int cb_dataset_push(cb_dataset *ds, const cb_crystal *c, cb_error *err);
/* Appends c itself without copying: the dataset takes its arrays and *c is left zeroed
 * (on failure c is untouched and still owned by the caller). */
int cb_dataset_take(cb_dataset *ds, cb_crystal *c, cb_error *err);
void cb_dataset_free(cb_dataset *ds);

/* Writers (files are written to "<path>.tmp" and renamed, so a crash never leaves a
 * half-written output; a path ending in ".gz" is gzip-compressed).  fmt AUTO guesses
 * from the path (cb_format_guess).
 *   CSV      the CDVAE layout: ",material_id,cif" then the props of the first crystal
 *            as extra columns (others' missing props are empty cells); the index column
 *            counts from 0; the cif is cb_cif_write's P1 text, quoted with "" escapes.
 *   CIF_DIR  "<dir>/<index>_<id>.cif", index zero-padded to one width so name order is
 *            record order, id reduced to [A-Za-z0-9._-] (others → '_', at most 100
 *            characters; "<index>_<index>.cif" when there is no id).  The files go into
 *            a fresh "<dir>.tmp" that is then renamed to <dir>.  An existing <dir> is
 *            replaced (moved to "<dir>.old" for the swap, then removed) only if it
 *            holds nothing but *.cif files (an earlier output); otherwise the write
 *            fails with CB_ERR_IO and leaves <dir> untouched.
 *   CIF      all crystals as blocks of one file, each block named by its (sanitized) id.
 *   EXTXYZ   one frame per crystal: Lattice and Cartesian positions with %.12f,
 *            material_id=<id>, props as key=value (quoted with \" \\ escapes when
 *            needed; props whose name is not [A-Za-z_][A-Za-z0-9_.-]* or whose value
 *            holds a control character are left out), pbc="T T T".
 * Lattice and coordinates survive CSV/CIF round trips to 5e-9 (%.8f in the CIF) and
 * extxyz round trips to ~1e-12. */
int cb_dataset_write(const char *path, cb_format fmt, const cb_crystal *items, size_t n,
                     cb_error *err);

#endif
