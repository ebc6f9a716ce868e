/* cb_atomic_file: write to "<path>.tmp", rename when complete. */
#include "crystalbench/atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cb_atomic_open(cb_atomic_file *a, const char *path, cb_error *err)
{
    memset(a, 0, sizeof *a);
    size_t n = strlen(path);
    a->path = strdup(path);
    a->tmp = malloc(n + 5);
    if (!a->path || !a->tmp) {
        cb_atomic_abort(a);
        return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(a->tmp, path, n);
    memcpy(a->tmp + n, ".tmp", 5);
    a->f = fopen(a->tmp, "w");
    if (!a->f) {
        int e = errno;
        cb_atomic_abort(a);
        return cb_fail(err, CB_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return CB_OK;
}

static void release(cb_atomic_file *a)
{
    free(a->path);
    free(a->tmp);
    memset(a, 0, sizeof *a);
}

int cb_atomic_commit(cb_atomic_file *a, cb_error *err)
{
    int bad = ferror(a->f);
    bad |= fclose(a->f) != 0;
    a->f = NULL;
    if (!bad) bad = rename(a->tmp, a->path) != 0;
    int rc = CB_OK;
    if (bad) {
        int e = errno;
        remove(a->tmp);
        rc = cb_fail(err, CB_ERR_IO, "%s: cannot write: %s", a->path, e ? strerror(e) : "write failed");
    }
    release(a);
    return rc;
}

void cb_atomic_abort(cb_atomic_file *a)
{
    if (a->f) fclose(a->f);
    if (a->tmp) remove(a->tmp);
    release(a);
}
