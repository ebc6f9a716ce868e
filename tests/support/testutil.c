#include "testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *cb_test_shared_data(void)
{
    static char path[4096];
    const char *shared = getenv("CB_SHARED_DIR");
    if (!shared) shared = "../shared";
    snprintf(path, sizeof path, "%s/data", shared);
    if (!is_dir(path)) {
        printf("SKIP: %s not found (set CB_SHARED_DIR to the shared/ folder)\n", path);
        return NULL;
    }
    return path;
}

const char *cb_test_data_file(const char *relpath)
{
    static char path[4096];
    const char *data = cb_test_shared_data();
    if (!data) return NULL;
    snprintf(path, sizeof path, "%s/%s", data, relpath);
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("SKIP: %s not found\n", path);
        return NULL;
    }
    return path;
}

const char *cb_test_pymatgen_python(void)
{
    static int checked = 0;
    static const char *python = NULL;
    if (checked) return python;
    checked = 1;
    const char *py = getenv("CB_PYTHON");
    if (!py) py = "/usr/bin/python3";
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s -c 'import pymatgen.core' >/dev/null 2>&1", py);
    if (system(cmd) != 0) {
        printf("SKIP: %s cannot import pymatgen (install python3-pymatgen: scripts/deps --test)\n", py);
        return NULL;
    }
    python = py;
    return python;
}

const char *cb_test_cli(void)
{
    const char *bin = getenv("CB_BIN");
    return bin ? bin : "build/crystalbench";
}

char *cb_test_tmpdir(void)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp) tmp = "/tmp";
    size_t n = strlen(tmp) + 32;
    char *path = malloc(n);
    if (!path) return NULL;
    snprintf(path, n, "%s/cbtest.XXXXXX", tmp);
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

void cb_test_rmtree(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", path);
}

char *cb_test_run(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        pclose(p);
        return NULL;
    }
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
    }
    buf[len] = '\0';
    int st = pclose(p);
    if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return buf;
}

char *cb_test_runf(int *status, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *out = cb_test_run(cmd, status);
    if (!out) {
        fprintf(stderr, "cannot run: %s\n", cmd);
        abort();
    }
    return out;
}

char *cb_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len) *len = (size_t)n;
    }
    return buf;
}

#include <cjson/cJSON.h>
#include <math.h>

cJSON *cb_test_reference_vectors(void)
{
    const char *path = cb_test_data_file("reference/reference_vectors.json");
    if (!path) return NULL;
    char *text = cb_test_read_file(path, NULL);
    if (!text) return NULL;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) printf("SKIP: %s does not parse as JSON\n", path);
    return root;
}

int cb_test_json_doubles(const cJSON *arr, double *out, int cap)
{
    if (!cJSON_IsArray(arr)) return -1;
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (n >= cap) return -1;
        out[n++] = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    }
    return n;
}

static char *g_scratch;

int cb_test_scratch_setup(void **state)
{
    (void)state;
    g_scratch = cb_test_tmpdir();
    return g_scratch ? 0 : -1;
}

int cb_test_scratch_teardown(void **state)
{
    (void)state;
    if (g_scratch) cb_test_rmtree(g_scratch);
    free(g_scratch);
    g_scratch = NULL;
    return 0;
}

const char *cb_test_scratch(void) { return g_scratch; }

#include <setjmp.h>
#include <stddef.h>

#include <cmocka.h>

#include "crystalbench/dataset.h"

void cb_test_write_head(const char *relpath, size_t rows, const char *dst)
{
    const char *src = cb_test_data_file(relpath);
    if (!src) fail_msg("%s is not in the shared data", relpath);
    cb_dataset ds;
    cb_error err;
    if (cb_dataset_load(src, CB_FORMAT_AUTO, &ds, &err)) fail_msg("%s", err.msg);
    if (rows > ds.n) rows = ds.n;
    int rc = cb_dataset_write(dst, CB_FORMAT_CSV, ds.items, rows, &err);
    cb_dataset_free(&ds);
    if (rc) fail_msg("%s", err.msg);
}
