/* Private to core/: streamed text input and RFC 4180 CSV records.
 *
 * cb_textin reads a file through zlib's gzread, which passes plain files through
 * unchanged, so "x.csv" and "x.csv.gz" (and "x.xyz.gz") share one code path.  It keeps
 * a fixed-size window of the file in memory: nothing ever loads a whole file.
 *
 * cb_csv parses records on top of it: quoted fields with "" escapes and embedded
 * newlines, LF, CRLF or lone CR line ends (as Python's csv module; inside quoted
 * fields a CR before an LF is dropped, so CRLF files give the same text as LF files), a UTF-8 byte-order mark ignored, blank lines skipped.  A record's fields
 * stay valid until the next cb_csv_next call.
 *
 * Errors come in two kinds.  A record error (a stray character after a closing quote)
 * concerns one record only: cb_csv_next returns its code and the next call goes on with
 * the following record.  A stream error (unterminated quote at end of file, truncated or
 * corrupt gzip, I/O error) ends the stream: cb_csv_dead becomes true and every later
 * call returns CB_ERR_EOF.  Messages from this layer carry no file name or row; the
 * caller prefixes them ("<path>: row N: ..."). */
#ifndef CB_CORE_CSV_H
#define CB_CORE_CSV_H

#include <stddef.h>
#include <zlib.h>

#include "crystalbench/error.h"

/* ---- text input ---- */

typedef struct cb_textin cb_textin;

/* Opens path for reading ("-" is not special).  Fails with CB_ERR_IO naming the path. */
int cb_textin_open(const char *path, cb_textin **out, cb_error *err);
/* Next line without its "\n" / "\r\n", NUL-terminated, valid until the next call.
 * CB_OK, CB_ERR_EOF at end of input (a last line without newline is still returned),
 * or a stream error (message without path).  Strips a leading UTF-8 BOM. */
int cb_textin_getline(cb_textin *t, char **line, size_t *len, cb_error *err);
/* Number of lines consumed so far (1-based number of the line last returned). */
long cb_textin_line(const cb_textin *t);
void cb_textin_close(cb_textin *t);

/* ---- CSV records ---- */

typedef struct cb_csv cb_csv;

int cb_csv_open(const char *path, cb_csv **out, cb_error *err);
/* Reads the next record (the header is simply the first one).
 * CB_OK, CB_ERR_EOF, a record error (reader still usable) or a stream error
 * (cb_csv_dead true afterwards). */
int cb_csv_next(cb_csv *c, cb_error *err);
int cb_csv_dead(const cb_csv *c);
int cb_csv_nfields(const cb_csv *c);
/* Field i of the last record, NUL-terminated; *len (if non-NULL) gets its length. */
const char *cb_csv_field(const cb_csv *c, int i, size_t *len);
/* Line on which the last record started (1-based), for messages. */
long cb_csv_line(const cb_csv *c);
void cb_csv_close(cb_csv *c);

/* Does this field need quotes in CSV output (comma, quote, CR/LF, or edge spaces)? */
int cb_csv_needs_quotes(const char *s, size_t n);

#endif
