/* Datasets and sample files: streaming readers and writers for every input layout.
 *
 *   CSV      CDVAE layout: header row, an unnamed index column, `material_id`, a `cif`
 *            column holding a whole (quoted, multi-line) CIF, property columns.
 *            Columns are found by header name; any CSV with a `cif` column is accepted.
 *            Plain or gzip-compressed (.csv.gz), read as a stream.
 *   CIF_DIR  a folder of *.cif files, read in name order (strcmp).
 *   CIF      one .cif file, one crystal per data block.
 *   EXTXYZ   extended XYZ: Lattice="…" Properties=species:S:1:pos:R:3 (Cartesian positions).
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

/* Resolves CB_FORMAT_AUTO from a path (existing directory → CIF_DIR); returns
 * CB_FORMAT_AUTO again when it cannot tell. */
cb_format cb_format_guess(const char *path);
const char *cb_format_name(cb_format f);
/* "csv", "cif-dir", "cif", "extxyz" → format; CB_FORMAT_AUTO when unknown. */
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

/* Reads all records; fails on the first unreadable one (with its row in the message). */
int cb_dataset_load(const char *path, cb_format fmt, cb_dataset *ds, cb_error *err);
/* Appends a copy of c. */
int cb_dataset_push(cb_dataset *ds, const cb_crystal *c, cb_error *err);
void cb_dataset_free(cb_dataset *ds);

/* Writers (files are written to "<path>.tmp" and renamed, so a crash never leaves a
 * half-written output).  CSV writes the CDVAE layout (index, material_id, cif, then the
 * props of the first crystal); CIF_DIR writes "<dir>/<index>_<id>.cif"; EXTXYZ one frame
 * per crystal. */
int cb_dataset_write(const char *path, cb_format fmt, const cb_crystal *items, size_t n,
                     cb_error *err);

#endif
