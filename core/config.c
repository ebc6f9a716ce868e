/* cb_config: a small ordered key/value list with validating getters. */
#include "crystalbench/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cb_config_init(cb_config *c, const char *source, cb_error *err)
{
    memset(c, 0, sizeof *c);
    c->source = strdup(source ? source : "config");
    return c->source ? CB_OK : cb_fail(err, CB_ERR_NOMEM, "out of memory");
}

void cb_config_free(cb_config *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->keys[i]);
        free(c->values[i]);
    }
    free(c->keys);
    free(c->values);
    free(c->source);
    memset(c, 0, sizeof *c);
}

static long find(const cb_config *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->keys[i], key) == 0) return (long)i;
    return -1;
}

int cb_config_set(cb_config *c, const char *key, const char *value, cb_error *err)
{
    char *v = strdup(value);
    if (!v) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    long at = find(c, key);
    if (at >= 0) {
        free(c->values[at]);
        c->values[at] = v;
        return CB_OK;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        char **k = realloc(c->keys, cap * sizeof *k);
        if (k) c->keys = k;
        char **vs = realloc(c->values, cap * sizeof *vs);
        if (vs) c->values = vs;
        if (!k || !vs) {
            free(v);
            return cb_fail(err, CB_ERR_NOMEM, "out of memory");
        }
        c->cap = cap;
    }
    c->keys[c->n] = strdup(key);
    if (!c->keys[c->n]) {
        free(v);
        return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    }
    c->values[c->n++] = v;
    return CB_OK;
}

const char *cb_config_get(const cb_config *c, const char *key)
{
    long at = find(c, key);
    return at >= 0 ? c->values[at] : NULL;
}

int cb_config_long(const cb_config *c, const char *key, long def, long lo, long hi, long *out, cb_error *err)
{
    const char *v = cb_config_get(c, key);
    if (!v) {
        *out = def;
        return CB_OK;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return cb_fail(err, CB_ERR_USAGE, "%s: %s = '%s': expected an integer in %ld..%ld", c->source, key, v, lo, hi);
    *out = x;
    return CB_OK;
}

int cb_config_string(const cb_config *c, const char *key, const char *def, const char **out, cb_error *err)
{
    const char *v = cb_config_get(c, key);
    if (!v && !def) return cb_fail(err, CB_ERR_USAGE, "%s: missing required key '%s'", c->source, key);
    *out = v ? v : def;
    return CB_OK;
}

int cb_config_check_keys(const cb_config *c, const char *const *known, cb_error *err)
{
    for (size_t i = 0; i < c->n; i++) {
        int ok = 0;
        for (const char *const *k = known; *k && !ok; k++) ok = strcmp(*k, c->keys[i]) == 0;
        if (!ok) return cb_fail(err, CB_ERR_USAGE, "%s: unknown key '%s'", c->source, c->keys[i]);
    }
    return CB_OK;
}
