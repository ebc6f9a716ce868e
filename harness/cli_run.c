/* What the evaluation commands share: the run record in the results store (named
 * after the reference file, with its SHA-256 and the command line as the config) and
 * loading a structure file that must not be empty. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "crystalbench/hash.h"

/* "<folder>" for <folder>/test.csv (the standard CSP targets), else "<folder>/<stem>";
 * a bare file name gives its stem. */
static void dataset_name(const char *path, char *out, size_t cap)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = '\0';
    char *base = strrchr(buf, '/');
    char *folder = NULL;
    if (base) {
        *base++ = '\0';
        folder = strrchr(buf, '/');
        folder = folder ? folder + 1 : buf;
        if (!folder[0] || strcmp(folder, ".") == 0) folder = NULL;
    } else {
        base = buf;
    }
    char *dot = strchr(base[0] == '.' ? base + 1 : base, '.');
    if (dot) *dot = '\0';
    if (folder && strcmp(base, "test") == 0)
        snprintf(out, cap, "%s", folder);
    else if (folder)
        snprintf(out, cap, "%s/%s", folder, base);
    else
        snprintf(out, cap, "%s", base[0] ? base : "unnamed");
}

/* The command line as a shell would take it back. */
static char *command_line(int argc, char **argv)
{
    size_t cap = 32;
    for (int i = 0; i < argc; i++) cap += 4 * strlen(argv[i]) + 3;
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t n = (size_t)snprintf(s, cap, "crystalbench eval");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int plain = a[0] != '\0';
        for (const char *c = a; *c && plain; c++)
            plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *c) != NULL;
        s[n++] = ' ';
        if (plain) {
            memcpy(s + n, a, strlen(a));
            n += strlen(a);
            continue;
        }
        s[n++] = '\'';
        for (const char *c = a; *c; c++) {
            if (*c == '\'') {
                memcpy(s + n, "'\\''", 4);
                n += 4;
            } else {
                s[n++] = *c;
            }
        }
        s[n++] = '\'';
    }
    s[n] = '\0';
    return s;
}

int cb_cli_begin_run(int no_db, const char *db, const char *model, const char *task, const char *reference,
                     int argc, char **argv, cb_cli_run *r, cb_error *err)
{
    memset(r, 0, sizeof *r);
    r->id = -1;
    if (no_db) return CB_OK;
    if (!db) db = getenv("CB_DB");
    if (!db || !db[0]) db = "crystalbench.db";
    char hash[CB_SHA256_HEX] = "";
    struct stat sb;
    /* A folder of CIFs has no single file to hash: its runs carry no dataset hash. */
    if (stat(reference, &sb) == 0 && S_ISREG(sb.st_mode)) {
        int rc = cb_sha256_file_hex(reference, hash, err);
        if (rc) return rc;
    }
    char name[512];
    dataset_name(reference, name, sizeof name);
    char *config = command_line(argc, argv);
    if (!config) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    cb_run_info info = {.model = model ? model : "external",
                        .task = task,
                        .dataset = name,
                        .dataset_path = reference,
                        .dataset_hash = hash[0] ? hash : NULL,
                        .split = "external", /* scored as given: we did not train the model */
                        .config = config};
    int rc = cb_store_open(db, &r->store, err);
    if (!rc) rc = cb_store_begin_run(r->store, &info, &r->id, err);
    free(config);
    if (rc) {
        cb_store_close(r->store);
        r->store = NULL;
    }
    return rc;
}

void cb_cli_fail_run(cb_cli_run *r, const char *message)
{
    if (!r->store) return;
    cb_error err;
    if (cb_store_fail_run(r->store, r->id, message, &err)) fprintf(stderr, "crystalbench: %s\n", err.msg);
}


int cb_cli_load(const char *path, const char *what, cb_dataset *ds, cb_error *err)
{
    int rc = cb_dataset_load(path, CB_FORMAT_AUTO, ds, err);
    if (!rc && ds->n == 0) rc = cb_fail(err, CB_ERR_INVALID, "%s: no structures in the %s file", path, what);
    return rc;
}


int cb_cli_start(const char *input, const char *input_what, const char *reference, const char *reference_what,
                 int no_db, const char *db, const char *model, const char *task, int argc, char **argv,
                 cb_cli_run *run)
{
    const char *paths[2] = {input, reference}, *whats[2] = {input_what, reference_what};
    struct stat sb;
    for (int i = 0; i < 2; i++)
        if (stat(paths[i], &sb) != 0) {
            fprintf(stderr, "crystalbench: %s: cannot read the %s file\n", paths[i], whats[i]);
            return CB_EXIT_FAIL;
        }
    cb_error err;
    if (cb_cli_begin_run(no_db, db, model, task, reference, argc, argv, run, &err)) {
        fprintf(stderr, "crystalbench: %s\n", err.msg);
        return CB_EXIT_FAIL;
    }
    return CB_EXIT_OK;
}

/* ---- option parsing shared by the evaluation commands ---- */

int cb_cli_default_threads(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return ncpu > 0 ? (int)(ncpu < 64 ? ncpu : 64) : 1;
}

int cb_cli_model_label(const char *usage, const char *arg)
{
    size_t n = strlen(arg);
    int ok = n > 0 && n <= 64;
    for (const char *c = arg; *c && ok; c++) ok = (unsigned char)*c >= 0x20 && *c != 0x7f;
    if (!ok) return cb_usage_error(usage, "--model needs a label of 1..64 printable characters, not '%s'", arg);
    return CB_EXIT_OK;
}

int cb_cli_threads(const char *usage, const char *arg, int *out)
{
    char *end;
    long t = strtol(arg, &end, 10);
    if (*end || end == arg || t < 1 || t > 256)
        return cb_usage_error(usage, "--threads needs a count in 1..256, not '%s'", arg);
    *out = (int)t;
    return CB_EXIT_OK;
}

int cb_cli_run_id(const char *usage, const char *arg, int64_t **ids, size_t *n_ids)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (*end || end == arg || errno || v < 1)
        return cb_usage_error(usage, "--run needs a run id (an integer >= 1), not '%s'", arg);
    int64_t *grown = realloc(*ids, (*n_ids + 1) * sizeof *grown);
    if (!grown) {
        fprintf(stderr, "crystalbench: out of memory\n");
        return CB_EXIT_FAIL;
    }
    *ids = grown;
    grown[(*n_ids)++] = (int64_t)v;
    return CB_EXIT_OK;
}

int cb_cli_bad_option(const char *usage, int ch, char **argv)
{
    if (ch == ':') return cb_usage_error(usage, "option '%s' needs a value", argv[optind - 1]);
    return cb_usage_error(usage, "unknown option '%s'", argv[optind - 1]);
}

int cb_cli_after_options(const char *usage, int argc, char **argv, const char *db, int no_db)
{
    if (optind != argc) return cb_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    if (db && no_db) return cb_usage_error(usage, "--db and --no-db contradict each other");
    return CB_EXIT_OK;
}
