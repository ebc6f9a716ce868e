/* A file written as a whole or not at all: the text goes to "<path>.tmp", which is
 * renamed over <path> only when everything was written, so a crash or a full disk never
 * leaves a half-written checkpoint or result where a reader would take it for whole. */
#ifndef CRYSTALBENCH_ATOMIC_FILE_H
#define CRYSTALBENCH_ATOMIC_FILE_H

#include <stdio.h>

#include "crystalbench/error.h"

typedef struct cb_atomic_file {
    FILE *f; /* write with fprintf/fwrite */
    char *path, *tmp;
} cb_atomic_file;

/* CB_ERR_IO ("<path>: cannot write: ...") or CB_ERR_NOMEM; on error nothing is open. */
int cb_atomic_open(cb_atomic_file *a, const char *path, cb_error *err);
/* Closes and renames over path; on any write, close or rename failure removes the
 * temporary file and returns CB_ERR_IO.  Always releases a. */
int cb_atomic_commit(cb_atomic_file *a, cb_error *err);
/* Closes and removes the temporary file (path untouched). */
void cb_atomic_abort(cb_atomic_file *a);

#endif
