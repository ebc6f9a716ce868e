/* Baseline files and the comparison rule of the regression gate (regress.h). */
#include "regress.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/atomic_file.h"

#define BASELINE_FORMAT 1

const char *cb_better_name(cb_better b)
{
    switch (b) {
    case CB_BETTER_HIGHER: return "higher";
    case CB_BETTER_LOWER: return "lower";
    default: return "equal";
    }
}

cb_better cb_better_default(const char *m)
{
    static const char *const higher[] = {"comp_valid", "struct_valid", "valid",      "cov_recall",
                                         "cov_precision", "match_rate", "comp_div",  "struct_div"};
    static const char *const lower_prefix[] = {"wdist_", "amsd_", "amcd_", "rms_dist"};
    for (size_t i = 0; i < sizeof higher / sizeof higher[0]; i++)
        if (strcmp(m, higher[i]) == 0) return CB_BETTER_HIGHER;
    for (size_t i = 0; i < sizeof lower_prefix / sizeof lower_prefix[0]; i++)
        if (strncmp(m, lower_prefix[i], strlen(lower_prefix[i])) == 0) return CB_BETTER_LOWER;
    return CB_BETTER_EQUAL;
}

void cb_baseline_free(cb_baseline *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) free(b->metrics[i].name);
    free(b->metrics);
    free(b->model);
    free(b->task);
    free(b->dataset);
    free(b->split);
    memset(b, 0, sizeof *b);
}

static int read_text(const char *path, char **out, cb_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cb_fail(err, CB_ERR_IO, "%s: cannot read the baseline file", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *grown = realloc(buf, cap *= 2);
        if (!grown) free(buf);
        buf = grown;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    if (bad) {
        free(buf);
        return cb_fail(err, CB_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    return CB_OK;
}

static int dup_string(const cJSON *o, const char *key, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!cJSON_IsString(v)) return 0;
    *out = strdup(v->valuestring);
    return *out ? 0 : -1;
}

static int parse_metric(const char *path, const cJSON *item, cb_baseline_metric *m, cb_error *err)
{
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return cb_fail(err, CB_ERR_INVALID, "%s: metric %s is not an object with a value", path, name);
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(item, "value");
    const cJSON *better = cJSON_GetObjectItemCaseSensitive(item, "better");
    const cJSON *tol = cJSON_GetObjectItemCaseSensitive(item, "tolerance");
    if (cJSON_IsNumber(value))
        m->value = value->valuedouble;
    else if (cJSON_IsNull(value))
        m->value = NAN;
    else
        return cb_fail(err, CB_ERR_INVALID, "%s: metric %s has no numeric value", path, name);
    m->better = cb_better_default(name);
    if (better) {
        if (!cJSON_IsString(better))
            return cb_fail(err, CB_ERR_INVALID, "%s: metric %s: 'better' must be higher, lower or equal", path, name);
        if (strcmp(better->valuestring, "higher") == 0)
            m->better = CB_BETTER_HIGHER;
        else if (strcmp(better->valuestring, "lower") == 0)
            m->better = CB_BETTER_LOWER;
        else if (strcmp(better->valuestring, "equal") == 0)
            m->better = CB_BETTER_EQUAL;
        else
            return cb_fail(err, CB_ERR_INVALID, "%s: metric %s: 'better' is '%s', not higher, lower or equal", path,
                           name, better->valuestring);
    }
    m->tolerance = 0;
    if (tol) {
        if (!cJSON_IsNumber(tol) || !isfinite(tol->valuedouble) || tol->valuedouble < 0)
            return cb_fail(err, CB_ERR_INVALID, "%s: metric %s: tolerance must be a number >= 0", path, name);
        m->tolerance = tol->valuedouble;
    }
    return CB_OK;
}

int cb_baseline_read(const char *path, cb_baseline *b, cb_error *err)
{
    memset(b, 0, sizeof *b);
    char *text;
    int rc = read_text(path, &text, err);
    if (rc) return rc;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return cb_fail(err, CB_ERR_INVALID, "%s: not valid JSON", path);
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "crystalbench_baseline");
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(root, "metrics");
    if (!cJSON_IsNumber(format) || format->valuedouble != BASELINE_FORMAT)
        rc = cb_fail(err, CB_ERR_INVALID, "%s: not a crystalbench baseline of format %d", path, BASELINE_FORMAT);
    else if (!cJSON_IsObject(metrics) || !metrics->child)
        rc = cb_fail(err, CB_ERR_INVALID, "%s: no metrics", path);
    if (!rc && (dup_string(root, "model", &b->model) || dup_string(root, "task", &b->task) ||
                dup_string(root, "dataset", &b->dataset) || dup_string(root, "split", &b->split)))
        rc = cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    size_t n = rc ? 0 : (size_t)cJSON_GetArraySize(metrics);
    if (!rc && !(b->metrics = calloc(n, sizeof *b->metrics))) rc = cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    for (const cJSON *item = rc ? NULL : metrics->child; item && !rc; item = item->next) {
        cb_baseline_metric *m = &b->metrics[b->n];
        if (!(m->name = strdup(item->string))) {
            rc = cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        b->n++;
        rc = parse_metric(path, item, m, err);
    }
    cJSON_Delete(root);
    if (rc) cb_baseline_free(b);
    return rc;
}

static void add_string(cJSON *o, const char *key, const char *v)
{
    if (v) cJSON_AddStringToObject(o, key, v);
}

int cb_baseline_write(const char *path, const cb_baseline *b, const cb_run *source, cb_error *err)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    cJSON_AddNumberToObject(root, "crystalbench_baseline", BASELINE_FORMAT);
    add_string(root, "model", b->model);
    add_string(root, "task", b->task);
    add_string(root, "dataset", b->dataset);
    add_string(root, "split", b->split);
    if (source) {
        cJSON *src = cJSON_AddObjectToObject(root, "source");
        if (src) {
            cJSON_AddNumberToObject(src, "run_id", (double)source->id);
            add_string(src, "git_rev", source->git_rev);
            add_string(src, "config_hash", source->config_hash);
            add_string(src, "ended_at", source->ended_at);
        }
    }
    cJSON *metrics = cJSON_AddObjectToObject(root, "metrics");
    for (size_t i = 0; metrics && i < b->n; i++) {
        const cb_baseline_metric *m = &b->metrics[i];
        cJSON *o = cJSON_AddObjectToObject(metrics, m->name);
        if (!o) break;
        /* All 17 digits, so that the value reads back bit for bit (cJSON's own printing
         * stops at 15 when that is within an epsilon); NaN as null. */
        char num[32];
        if (isfinite(m->value))
            snprintf(num, sizeof num, "%.17g", m->value);
        else
            snprintf(num, sizeof num, "null");
        cJSON_AddRawToObject(o, "value", num);
        cJSON_AddStringToObject(o, "better", cb_better_name(m->better));
        cJSON_AddNumberToObject(o, "tolerance", m->tolerance);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", path);
    cb_atomic_file f;
    int rc = cb_atomic_open(&f, path, err);
    if (!rc) {
        fputs(text, f.f);
        fputc('\n', f.f);
        rc = cb_atomic_commit(&f, err);
    }
    cJSON_free(text);
    return rc;
}

cb_verdict cb_regress_metric(const cb_baseline_metric *m, int present, double value)
{
    if (!present) return CB_VERDICT_MISSING;
    if (isnan(m->value) || isnan(value)) return isnan(m->value) && isnan(value) ? CB_VERDICT_OK : CB_VERDICT_REGRESSED;
    double d = value - m->value;
    switch (m->better) {
    case CB_BETTER_HIGHER:
        if (d < -m->tolerance) return CB_VERDICT_REGRESSED;
        return d > m->tolerance ? CB_VERDICT_IMPROVED : CB_VERDICT_OK;
    case CB_BETTER_LOWER:
        if (d > m->tolerance) return CB_VERDICT_REGRESSED;
        return d < -m->tolerance ? CB_VERDICT_IMPROVED : CB_VERDICT_OK;
    default: return fabs(d) > m->tolerance ? CB_VERDICT_REGRESSED : CB_VERDICT_OK;
    }
}
