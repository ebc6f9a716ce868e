#include "crystalbench/error.h"

#include <stdio.h>
#include <string.h>

int cb_fail(cb_error *err, cb_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return (int)code;
}

void cb_error_prefix(cb_error *err, const char *fmt, ...)
{
    if (!err) return;
    char prefix[CB_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[CB_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    /* Truncation is acceptable: a message is one line for a person to read. */
    size_t n = strnlen(prefix, sizeof prefix - 1);
    memcpy(err->msg, prefix, n);
    if (n + 2 < sizeof err->msg) {
        memcpy(err->msg + n, ": ", 2);
        n += 2;
    }
    size_t rest = sizeof err->msg - 1 - n;
    size_t m = strnlen(old, rest);
    memcpy(err->msg + n, old, m);
    err->msg[n + m] = '\0';
}

void cb_error_clear(cb_error *err)
{
    if (!err) return;
    err->code = CB_OK;
    err->msg[0] = '\0';
}

const char *cb_status_name(int code)
{
    static const char *const names[] = {"CB_OK",          "CB_ERR_IO",       "CB_ERR_PARSE",
                                        "CB_ERR_INVALID", "CB_ERR_UNSUPPORTED", "CB_ERR_NOMEM",
                                        "CB_ERR_DB",      "CB_ERR_USAGE",    "CB_ERR_EXTERNAL",
                                        "CB_ERR_EOF",     "CB_ERR_INTERRUPTED"};
    if (code < 0 || code >= (int)(sizeof names / sizeof names[0])) return "CB_ERR_UNKNOWN";
    return names[code];
}
