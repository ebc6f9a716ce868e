/* Errors: every fallible function returns 0 on success or a cb_status code and,
 * when `err` is non-NULL, fills it with a one-line message that names the
 * file (or row) and the problem.  Messages never end with a newline. */
#ifndef CRYSTALBENCH_ERROR_H
#define CRYSTALBENCH_ERROR_H

#include <stdarg.h>

typedef enum cb_status {
    CB_OK = 0,
    CB_ERR_IO = 1,        /* cannot open/read/write a file */
    CB_ERR_PARSE = 2,     /* malformed input text */
    CB_ERR_INVALID = 3,   /* well-formed but physically invalid (NaN, zero volume, unknown element) */
    CB_ERR_UNSUPPORTED = 4, /* valid input we deliberately do not handle (e.g. partial occupancy) */
    CB_ERR_NOMEM = 5,
    CB_ERR_DB = 6,        /* SQLite failure */
    CB_ERR_USAGE = 7,     /* bad arguments or config */
    CB_ERR_EXTERNAL = 8,  /* a library (spglib, qhull, ...) failed */
    CB_ERR_EOF = 9,       /* end of stream; not an error for readers */
    CB_ERR_INTERRUPTED = 10 /* the user asked to stop (Ctrl-C); the work can be resumed */
} cb_status;

#define CB_ERROR_MSG_MAX 512

typedef struct cb_error {
    cb_status code;
    char msg[CB_ERROR_MSG_MAX];
} cb_error;

/* Sets err (if non-NULL) and returns code, so callers can write
 * `return cb_fail(err, CB_ERR_PARSE, "%s: line %d: ...", path, line);` */
int cb_fail(cb_error *err, cb_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (used to add a file name or row). */
void cb_error_prefix(cb_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void cb_error_clear(cb_error *err);

/* "CB_ERR_PARSE" etc.; "CB_ERR_UNKNOWN" for a value outside the enum. */
const char *cb_status_name(int code);

#endif
