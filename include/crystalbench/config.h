/* A backend's configuration: the `key = value` pairs of its section of a run's INI
 * file (or built by a program), with typed getters whose errors name the key, the
 * section and the file, so a wrong config is a one-line message, never a crash. */
#ifndef CRYSTALBENCH_CONFIG_H
#define CRYSTALBENCH_CONFIG_H

#include <stddef.h>

#include "crystalbench/error.h"

typedef struct cb_config {
    char *source;  /* "file.ini [section]" or a description, for messages */
    size_t n, cap;
    char **keys, **values; /* in the order set; a key set twice keeps the last value */
} cb_config;

/* An empty configuration described by `source` (copied). */
int cb_config_init(cb_config *c, const char *source, cb_error *err);
void cb_config_free(cb_config *c);
int cb_config_set(cb_config *c, const char *key, const char *value, cb_error *err);
/* The value, or NULL when the key is absent. */
const char *cb_config_get(const cb_config *c, const char *key);
/* The value or `def` when absent; CB_ERR_USAGE when not an integer in [lo, hi]. */
int cb_config_long(const cb_config *c, const char *key, long def, long lo, long hi, long *out, cb_error *err);
/* The value or `def` when absent; CB_ERR_USAGE when not a finite number in [lo, hi]. */
int cb_config_double(const cb_config *c, const char *key, double def, double lo, double hi, double *out,
                     cb_error *err);
/* The value or `def`; CB_ERR_USAGE when the key is required (def NULL) and absent. */
int cb_config_string(const cb_config *c, const char *key, const char *def, const char **out, cb_error *err);
/* CB_ERR_USAGE naming the first key not in the NULL-terminated `known` list (a typo
 * in a config must not be silently ignored). */
int cb_config_check_keys(const cb_config *c, const char *const *known, cb_error *err);

/* ---- INI files (libinih) ----
 *
 * `[section]` headers, `key = value` lines, `;` or `#` comments.  A section name or a
 * key that appears twice is an error (a silently merged or overridden setting is a
 * mistake that costs a training run). */
typedef struct cb_config_file {
    char *path;
    size_t n;
    char **names;          /* section names in file order ("" = before any header) */
    cb_config *sections;   /* sections[i] has source "PATH [names[i]]" */
} cb_config_file;

/* Reads path.  CB_ERR_IO when it cannot be read, CB_ERR_PARSE naming the line of a
 * malformed line, or the repeated section or key. */
int cb_config_file_load(const char *path, cb_config_file *out, cb_error *err);
/* The section, or NULL. */
const cb_config *cb_config_file_section(const cb_config_file *f, const char *name);
void cb_config_file_free(cb_config_file *f);

#endif
