/* cb_config: a small ordered key/value list with validating getters, and INI files
 * read with libinih into one cb_config per section. */
#include "crystalbench/config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
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

int cb_config_double(const cb_config *c, const char *key, double def, double lo, double hi, double *out,
                     cb_error *err)
{
    const char *v = cb_config_get(c, key);
    if (!v) {
        *out = def;
        return CB_OK;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi)
        return cb_fail(err, CB_ERR_USAGE, "%s: %s = '%s': expected a number in %g..%g", c->source, key, v, lo, hi);
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

/* ---- INI files ---- */

typedef struct ini_state {
    cb_config_file *f;
    cb_error *err;
    int rc;
} ini_state;

static cb_config *section_for(ini_state *s, const char *name)
{
    cb_config_file *f = s->f;
    if (f->n && strcmp(f->names[f->n - 1], name) == 0) return &f->sections[f->n - 1];
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0) {
            s->rc = cb_fail(s->err, CB_ERR_PARSE, "%s: section [%s] appears twice", f->path, name);
            return NULL;
        }
    char **names = realloc(f->names, (f->n + 1) * sizeof *names);
    if (names) f->names = names;
    cb_config *secs = realloc(f->sections, (f->n + 1) * sizeof *secs);
    if (secs) f->sections = secs;
    char source[4096];
    snprintf(source, sizeof source, "%s [%s]", f->path, name);
    if (!names || !secs || !(f->names[f->n] = strdup(name))) {
        s->rc = cb_fail(s->err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if ((s->rc = cb_config_init(&f->sections[f->n], source, s->err))) {
        free(f->names[f->n]);
        return NULL;
    }
    return &f->sections[f->n++];
}

static int on_ini_line(void *user, const char *section, const char *name, const char *value)
{
    ini_state *s = user;
    if (s->rc) return 0;
    cb_config *c = section_for(s, section);
    if (!c) return 0;
    if (!name) return 1; /* an empty section header */
    if (cb_config_get(c, name)) {
        s->rc = cb_fail(s->err, CB_ERR_PARSE, "%s: key '%s' is set twice", c->source, name);
        return 0;
    }
    s->rc = cb_config_set(c, name, value, s->err);
    return s->rc == CB_OK;
}

void cb_config_file_free(cb_config_file *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->names[i]);
        cb_config_free(&f->sections[i]);
    }
    free(f->names);
    free(f->sections);
    free(f->path);
    memset(f, 0, sizeof *f);
}

#define CB_CONFIG_SECTION_MAX 49 /* libinih's MAX_SECTION (50) less the NUL */

int cb_config_file_load(const char *path, cb_config_file *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "r");
    if (!fp) return cb_fail(err, CB_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    out->path = strdup(path);
    if (!out->path) {
        fclose(fp);
        return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    }
    /* libinih keeps 49 characters of a section name and drops the rest silently: a
     * longer [model LABEL] would be found under another name, so refuse it here. */
    char buf[4096];
    for (int no = 1; fgets(buf, sizeof buf, fp); no++) {
        const char *p = buf + strspn(buf, " \t"), *end = strchr(p, ']');
        if (*p == '[' && end && end - p - 1 > CB_CONFIG_SECTION_MAX) {
            fclose(fp);
            int rc = cb_fail(err, CB_ERR_PARSE, "%s: line %d: a section name of %d characters (at most %d)", path, no,
                             (int)(end - p - 1), CB_CONFIG_SECTION_MAX);
            cb_config_file_free(out);
            return rc;
        }
    }
    rewind(fp);
    ini_state s = {out, err, CB_OK};
    int line = ini_parse_file(fp, on_ini_line, &s);
    fclose(fp);
    if (!s.rc && line != 0)
        s.rc = cb_fail(err, CB_ERR_PARSE, "%s: line %d: expected [section], key = value or a comment", path, line);
    if (s.rc) cb_config_file_free(out);
    return s.rc;
}

const cb_config *cb_config_file_section(const cb_config_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0) return &f->sections[i];
    return NULL;
}
