/* The order parameters and the site fingerprint (metrics/order_params.c, metrics.md
 * §4.1, §4.4):
 *   - the preset table against pymatgen's cn_opt_params.yaml / op_params.yaml as
 *     matminer loads them;
 *   - every (CN, op, parameters) of the 'ops' preset against pymatgen 2022.11.7's
 *     LocalStructOrderParams on thousands of seeded neighbour sets (random, ideal
 *     polyhedra with distortions, degenerate ones around the 1e-12 flags) from
 *     tests/py/order_params_reference.py: None-ness identical, values within 1e-12;
 *   - the 61-entry site fingerprints of shared/data/reference/reference_vectors.json
 *     (matminer 0.9.0) from pymatgen's CrystalNN environments, within 1e-9, and the
 *     structure fingerprints (mean over sites) of every record;
 *   - without pymatgen: ideal polyhedra, known Steinhardt values, None branches,
 *     invariances, the fingerprint layout, and the time per site. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../metrics/order_params.h"
#include "crystalbench/rng.h"
#include "testutil.h"

#define OP_TOL 1e-12 /* order parameter vs pymatgen */
#define FP_TOL 1e-9  /* fingerprint entries vs matminer (metrics.md §7.4) */
#define MAX_OPS 5

/* ---- parsing the reference script's output ---- */

typedef struct cfg {
    int cn, n;
    char tag[64];
    double center[3];
    double (*pts)[3];
    int n_vals;
    double vals[MAX_OPS];
    unsigned char none[MAX_OPS];
} cfg;

typedef struct preset_line {
    int cn, index;
    char type[32];
    int n_kv;
    char key[12][64];
    double val[12];
} preset_line;

typedef struct site_rec {
    cb_site_env env;
    double (*storage[CB_CN_MAX + 1])[3];
} site_rec;

typedef struct crystal_rec {
    char name[64];
    int n_sites, failed;
    site_rec *sites;
} crystal_rec;

static struct {
    int have_ops, have_sites;
    cfg *cfgs;
    int n_cfgs, cap_cfgs;
    preset_line presets[64];
    int n_presets;
    crystal_rec *recs;
    int n_recs, cap_recs;
} g;

static int parse_doubles(const char *s, double *out, int n)
{
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = strtod(s, &end);
        if (end == s) return 1;
        s = end;
    }
    return 0;
}

static int parse_preset(const char *rest)
{
    if (g.n_presets == 64) return 1;
    preset_line *p = &g.presets[g.n_presets++];
    memset(p, 0, sizeof *p);
    int used = 0;
    if (sscanf(rest, "%d %d %31s%n", &p->cn, &p->index, p->type, &used) != 3) return 1;
    const char *s = rest + used;
    char tok[64];
    int u;
    while (sscanf(s, "%63s%n", tok, &u) == 1) {
        s += u;
        char *eq = strchr(tok, '=');
        if (!eq || p->n_kv == 12) return 1;
        *eq = '\0';
        snprintf(p->key[p->n_kv], sizeof p->key[0], "%s", tok);
        p->val[p->n_kv++] = strtod(eq + 1, NULL);
    }
    return 0;
}

static int parse_values(const char *s, cfg *c)
{
    char tok[64];
    int u;
    c->n_vals = 0;
    while (sscanf(s, "%63s%n", tok, &u) == 1) {
        s += u;
        if (c->n_vals == MAX_OPS) return 1;
        int i = c->n_vals++;
        c->none[i] = strcmp(tok, "None") == 0;
        c->vals[i] = c->none[i] ? 0.0 : strtod(tok, NULL);
    }
    return 0;
}

/* Reads "N x y z" lines into a new array of n points. */
static double (*read_points(char **save, int n))[3]
{
    double(*p)[3] = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (!p) return NULL;
    for (int i = 0; i < n; i++) {
        char *line = strtok_r(NULL, "\n", save);
        if (!line || line[0] != 'N' || parse_doubles(line + 1, p[i], 3)) {
            free(p);
            return NULL;
        }
    }
    return p;
}

static int parse_ops_output(char *text)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "PRESET ", 7) == 0) {
            if (parse_preset(line + 7)) return 1;
            continue;
        }
        if (strncmp(line, "CFG ", 4) != 0) return 1;
        if (g.n_cfgs == g.cap_cfgs) {
            g.cap_cfgs = g.cap_cfgs ? 2 * g.cap_cfgs : 1024;
            cfg *c = realloc(g.cfgs, (size_t)g.cap_cfgs * sizeof *c);
            if (!c) return 1;
            g.cfgs = c;
        }
        cfg *c = &g.cfgs[g.n_cfgs];
        memset(c, 0, sizeof *c);
        if (sscanf(line + 4, "%d %d %63s", &c->cn, &c->n, c->tag) != 3 || c->n < 0 || c->n > CB_OP_MAX_NBRS)
            return 1;
        char *x = strtok_r(NULL, "\n", &save);
        if (!x || x[0] != 'X' || parse_doubles(x + 1, c->center, 3)) return 1;
        if (!(c->pts = read_points(&save, c->n))) return 1;
        g.n_cfgs++;
        char *v = strtok_r(NULL, "\n", &save);
        if (!v || strncmp(v, "VAL", 3) != 0 || parse_values(v + 3, c)) return 1;
    }
    return 0;
}

static int parse_sites_output(char *text)
{
    char *save = NULL;
    crystal_rec *rec = NULL;
    site_rec *site = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "REC ", 4) == 0 || strncmp(line, "FAIL ", 5) == 0) {
            if (g.n_recs == g.cap_recs) {
                g.cap_recs = g.cap_recs ? 2 * g.cap_recs : 32;
                crystal_rec *r = realloc(g.recs, (size_t)g.cap_recs * sizeof *r);
                if (!r) return 1;
                g.recs = r;
            }
            rec = &g.recs[g.n_recs++];
            memset(rec, 0, sizeof *rec);
            site = NULL;
            if (line[0] == 'F') {
                rec->failed = 1;
                if (sscanf(line + 5, "%63s", rec->name) != 1) return 1;
                rec = NULL;
                continue;
            }
            if (sscanf(line + 4, "%63s %d", rec->name, &rec->n_sites) != 2 || rec->n_sites < 1) return 1;
            rec->sites = calloc((size_t)rec->n_sites, sizeof *rec->sites);
            if (!rec->sites) return 1;
        } else if (strncmp(line, "SITE ", 5) == 0) {
            int idx, used;
            if (!rec || sscanf(line + 5, "%d%n", &idx, &used) != 1 || idx < 0 || idx >= rec->n_sites) return 1;
            site = &rec->sites[idx];
            if (parse_doubles(line + 5 + used, site->env.center, 3)) return 1;
        } else if (strncmp(line, "W ", 2) == 0) {
            int cn, n, used;
            double w;
            if (!site || sscanf(line + 2, "%d %lf %d%n", &cn, &w, &n, &used) != 3 || cn < 1 || cn > CB_CN_MAX ||
                n < 0 || n > CB_OP_MAX_NBRS)
                return 1;
            if (!(site->storage[cn] = read_points(&save, n))) return 1;
            site->env.env[cn] = (cb_cn_env){.weight = w, .n = n, .points = (const double(*)[3])site->storage[cn]};
        } else {
            return 1;
        }
    }
    return 0;
}

/* Runs the reference script; NULL (after printing why) when it cannot. */
static char *run_reference(const char *args)
{
    const char *py = cb_test_pymatgen_python();
    if (!py) return NULL;
    int status = 0;
    char *out = cb_test_runf(&status, "%s tests/py/order_params_reference.py %s", py, args);
    if (status != 0) {
        printf("SKIP: tests/py/order_params_reference.py %s failed (status %d)\n", args, status);
        free(out);
        return NULL;
    }
    return out;
}

static int setup(void **state)
{
    (void)state;
    char *out = run_reference("ops");
    if (out) {
        if (parse_ops_output(out) == 0)
            g.have_ops = 1;
        else
            printf("could not parse the output of order_params_reference.py ops\n");
        free(out);
    }
    const char *json = cb_test_data_file("reference/reference_vectors.json");
    if (json) {
        char args[4200];
        snprintf(args, sizeof args, "sites '%s'", json);
        out = run_reference(args);
        if (out) {
            if (parse_sites_output(out) == 0)
                g.have_sites = 1;
            else
                printf("could not parse the output of order_params_reference.py sites\n");
            free(out);
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < g.n_cfgs; i++) free(g.cfgs[i].pts);
    free(g.cfgs);
    for (int r = 0; r < g.n_recs; r++) {
        for (int s = 0; s < g.recs[r].n_sites; s++)
            for (int cn = 0; cn <= CB_CN_MAX; cn++) free(g.recs[r].sites[s].storage[cn]);
        free(g.recs[r].sites);
    }
    free(g.recs);
    return 0;
}

/* ---- helpers ---- */

static double op_value(const cb_op *op, const double center[3], const double (*p)[3], int n, int *none)
{
    double v;
    int rc = cb_order_param(op, center, p, n, &v);
    assert_true(rc == 0 || rc == 1);
    if (none) *none = rc;
    return v;
}

static double value_of(cb_op_type t, const double (*p)[3], int n)
{
    static const double origin[3] = {0, 0, 0};
    int none;
    double v = op_value(cb_op_default(t), origin, p, n, &none);
    assert_false(none);
    return v;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const double OCT[6][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}};
static const double TET[4][3] = {{1, 1, 1}, {1, -1, -1}, {-1, 1, -1}, {-1, -1, 1}};
static const double CUBE[8][3] = {{-1, -1, -1}, {-1, -1, 1}, {-1, 1, -1}, {-1, 1, 1},
                                  {1, -1, -1},  {1, -1, 1},  {1, 1, -1},  {1, 1, 1}};
static const double CUBOCT[12][3] = {{1, 1, 0},  {1, -1, 0},  {-1, 1, 0},  {-1, -1, 0},
                                     {1, 0, 1},  {1, 0, -1},  {-1, 0, 1},  {-1, 0, -1},
                                     {0, 1, 1},  {0, 1, -1},  {0, -1, 1},  {0, -1, -1}};

/* k points on a circle of radius 1 at height z, first at angle phase */
static void ring(double (*p)[3], int k, double z, double phase)
{
    for (int i = 0; i < k; i++) {
        double a = phase + 2 * M_PI * i / k;
        p[i][0] = cos(a);
        p[i][1] = sin(a);
        p[i][2] = z;
    }
}

/* ---- against pymatgen ---- */

static int key_is(const preset_line *p, int i, const char *k) { return strcmp(p->key[i], k) == 0; }

/* The C preset must be the one matminer builds from pymatgen's yaml files: same types,
 * same order, and every parameter pymatgen holds equal to the C field (bit for bit). */
static void test_preset_matches_pymatgen(void **state)
{
    (void)state;
    if (!g.have_ops) {
        printf("SKIP: no pymatgen reference (see the messages above)\n");
        skip();
    }
    int total = 0;
    for (int cn = 1; cn <= 12; cn++) {
        const cb_op *ops;
        total += cb_op_preset(cn, &ops);
    }
    assert_int_equal(total, g.n_presets);
    for (int i = 0; i < g.n_presets; i++) {
        const preset_line *p = &g.presets[i];
        const cb_op *ops;
        int n = cb_op_preset(p->cn, &ops);
        assert_true(p->index < n);
        const cb_op *op = &ops[p->index];
        assert_string_equal(cb_op_name(op->type), p->type);
        for (int k = 0; k < p->n_kv; k++) {
            double c = NAN;
            if (key_is(p, k, "TA")) c = op->ta;
            else if (key_is(p, k, "IGW_TA")) c = op->igw_ta;
            else if (key_is(p, k, "IGW_EP")) c = op->igw_ep;
            else if (key_is(p, k, "min_SPP")) c = op->min_spp;
            else if (key_is(p, k, "IGW_SPP")) c = op->igw_spp;
            else if (key_is(p, k, "w_SPP")) c = op->w_spp;
            else if (key_is(p, k, "fac_AA")) c = op->fac_aa;
            else if (key_is(p, k, "exp_cos_AA")) c = op->exp_cos_aa;
            else if (key_is(p, k, "2")) c = op->p2;
            else if (key_is(p, k, "4")) c = op->p4;
            else if (key_is(p, k, "5")) c = op->p5;
            else if (key_is(p, k, "6")) c = op->p6;
            else fail_msg("CN %d %s: unknown parameter %s", p->cn, p->type, p->key[k]);
            if (c != p->val[k])
                fail_msg("CN %d %s: %s = %.17g in C, %.17g in pymatgen", p->cn, p->type, p->key[k], c, p->val[k]);
        }
    }
    printf("preset: %d order parameters over CN 1..12 match pymatgen's parameter dicts\n", g.n_presets);
}

typedef struct op_stats {
    long compared, identical, nones, none_mismatch, value_mismatch;
    double max_diff;
} op_stats;

static void test_ops_vs_pymatgen(void **state)
{
    (void)state;
    if (!g.have_ops) {
        printf("SKIP: no pymatgen reference (see the messages above)\n");
        skip();
    }
    op_stats per[13][MAX_OPS], all = {0};
    memset(per, 0, sizeof per);
    long n_configs = 0;
    for (int i = 0; i < g.n_cfgs; i++) {
        const cfg *c = &g.cfgs[i];
        const cb_op *ops;
        int n_ops = cb_op_preset(c->cn, &ops);
        assert_int_equal(n_ops, c->n_vals);
        n_configs++;
        for (int k = 0; k < n_ops; k++) {
            int none;
            double v = op_value(&ops[k], c->center, (const double(*)[3])c->pts, c->n, &none);
            op_stats *s = &per[c->cn][k];
            s->compared++;
            if (none != c->none[k]) {
                s->none_mismatch++;
                printf("None mismatch: CN %d %s (n = %d, %s): C %s, pymatgen %s\n", c->cn,
                       cb_op_name(ops[k].type), c->n, c->tag, none ? "None" : "value",
                       c->none[k] ? "None" : "value");
                continue;
            }
            if (none) {
                s->nones++;
                continue;
            }
            double d = fabs(v - c->vals[k]);
            if (!(d <= OP_TOL)) {
                s->value_mismatch++;
                printf("mismatch: CN %d %s (n = %d, %s): C %.17g, pymatgen %.17g\n", c->cn, cb_op_name(ops[k].type),
                       c->n, c->tag, v, c->vals[k]);
            }
            if (v == c->vals[k]) s->identical++;
            if (d > s->max_diff || isnan(d)) s->max_diff = isnan(d) ? INFINITY : d;
        }
    }
    printf("order parameters vs pymatgen on %ld configurations:\n", n_configs);
    printf("  CN  #  op              values  bit-identical  None  None-mismatch  >1e-12  max|diff|\n");
    for (int cn = 1; cn <= 12; cn++) {
        const cb_op *ops;
        int n_ops = cb_op_preset(cn, &ops);
        for (int k = 0; k < n_ops; k++) {
            const op_stats *s = &per[cn][k];
            printf("  %2d  %d  %-14s  %6ld  %13ld  %4ld  %13ld  %6ld  %.3g\n", cn, k, cb_op_name(ops[k].type),
                   s->compared, s->identical, s->nones, s->none_mismatch, s->value_mismatch, s->max_diff);
            all.compared += s->compared;
            all.identical += s->identical;
            all.nones += s->nones;
            all.none_mismatch += s->none_mismatch;
            all.value_mismatch += s->value_mismatch;
            if (s->max_diff > all.max_diff) all.max_diff = s->max_diff;
        }
    }
    printf("  all: %ld values compared, %ld bit-identical, %ld None on both sides, %ld None mismatches, "
           "%ld beyond 1e-12, max |diff| %.3g\n",
           all.compared, all.identical, all.nones, all.none_mismatch, all.value_mismatch, all.max_diff);
    assert_true(all.compared >= 5000);
    assert_int_equal(all.none_mismatch, 0);
    assert_int_equal(all.value_mismatch, 0);
}

/* ---- the site fingerprints of the reference crystals ---- */

static const cJSON *find_crystal(const cJSON *root, const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "crystals"))
    {
        const cJSON *nm = cJSON_GetObjectItem(c, "name");
        if (cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0) return c;
    }
    return NULL;
}

static void test_site_fingerprints_vs_matminer(void **state)
{
    (void)state;
    if (!g.have_sites) {
        printf("SKIP: no pymatgen CrystalNN environments (see the messages above)\n");
        skip();
    }
    cJSON *root = cb_test_reference_vectors();
    if (!root) skip();
    long sites_compared = 0, site_bad = 0, structs_compared = 0, struct_bad = 0, fails = 0;
    double max_site = 0, max_struct = 0;
    for (int r = 0; r < g.n_recs; r++) {
        const crystal_rec *rec = &g.recs[r];
        const cJSON *cj = find_crystal(root, rec->name);
        assert_non_null(cj);
        const cJSON *sfp = cJSON_GetObjectItem(cj, "struct_fp");
        if (rec->failed) { /* CrystalNN raised: matminer gives no fingerprint */
            fails++;
            assert_true(sfp == NULL || cJSON_IsNull(sfp));
            continue;
        }
        const cJSON *site_fps = cJSON_GetObjectItem(cj, "site_fps");
        double sum[CB_SITE_FP_LEN] = {0};
        for (int s = 0; s < rec->n_sites; s++) {
            double fp[CB_SITE_FP_LEN];
            cb_site_fingerprint(&rec->sites[s].env, fp);
            for (int i = 0; i < CB_SITE_FP_LEN; i++) sum[i] += fp[i];
            if (!cJSON_IsArray(site_fps)) continue;
            double ref[CB_SITE_FP_LEN];
            assert_int_equal(cb_test_json_doubles(cJSON_GetArrayItem(site_fps, s), ref, CB_SITE_FP_LEN),
                             CB_SITE_FP_LEN);
            int bad = 0;
            for (int i = 0; i < CB_SITE_FP_LEN; i++) {
                double d = fabs(fp[i] - ref[i]);
                if (!(d <= FP_TOL)) {
                    bad = 1;
                    printf("%s site %d entry %d: C %.17g, matminer %.17g\n", rec->name, s, i, fp[i], ref[i]);
                }
                if (d > max_site) max_site = d;
            }
            sites_compared++;
            site_bad += bad;
        }
        if (sfp == NULL || cJSON_IsNull(sfp)) continue;
        double ref[CB_SITE_FP_LEN];
        assert_int_equal(cb_test_json_doubles(sfp, ref, CB_SITE_FP_LEN), CB_SITE_FP_LEN);
        int bad = 0;
        for (int i = 0; i < CB_SITE_FP_LEN; i++) {
            double d = fabs(sum[i] / rec->n_sites - ref[i]);
            if (!(d <= FP_TOL)) {
                bad = 1;
                printf("%s struct_fp entry %d: C %.17g, matminer %.17g\n", rec->name, i, sum[i] / rec->n_sites,
                       ref[i]);
            }
            if (d > max_struct) max_struct = d;
        }
        structs_compared++;
        struct_bad += bad;
    }
    cJSON_Delete(root);
    printf("site fingerprints (pymatgen CrystalNN environments, C order parameters) vs matminer:\n"
           "  %ld sites with site_fps: %ld differ beyond 1e-9, max |diff| %.3g\n"
           "  %ld structure fingerprints (mean over sites): %ld differ beyond 1e-9, max |diff| %.3g\n"
           "  %ld records where CrystalNN raised (no fingerprint in the reference either)\n",
           sites_compared, site_bad, max_site, structs_compared, struct_bad, max_struct, fails);
    assert_true(sites_compared >= 20);
    assert_true(structs_compared >= 10);
    assert_int_equal(site_bad, 0);
    assert_int_equal(struct_bad, 0);
}

/* ---- known values (no pymatgen needed) ---- */

static void test_ideal_polyhedra(void **state)
{
    (void)state;
    double p[12][3];
    /* each motif's own op gives 1 on the ideal motif */
    assert_true(fabs(value_of(CB_OP_OCT_MAX, OCT, 6) - 1) < 1e-12);
    assert_true(fabs(value_of(CB_OP_TET_MAX, TET, 4) - 1) < 1e-12);
    assert_true(fabs(value_of(CB_OP_BCC, CUBE, 8) - 1) < 1e-12);
    assert_true(fabs(value_of(CB_OP_CUBOCT_MAX, CUBOCT, 12) - 1) < 1e-12);
    ring(p, 4, 0, 0.3);
    assert_true(fabs(value_of(CB_OP_SQ_PLAN_MAX, p, 4) - 1) < 1e-12);
    ring(p, 3, 0, 0.1);
    assert_true(fabs(value_of(CB_OP_TRI_PLAN_MAX, p, 3) - 1) < 1e-12);
    ring(p, 5, 0, 0);
    assert_true(fabs(value_of(CB_OP_PENT_PLAN_MAX, p, 5) - 1) < 1e-12);
    ring(p, 6, 0, 0);
    assert_true(fabs(value_of(CB_OP_HEX_PLAN_MAX, p, 6) - 1) < 1e-9);
    /* bipyramids: a ring plus both poles */
    for (int k = 3; k <= 6; k++) {
        ring(p, k, 0, 0.2);
        memcpy(p[k], (double[3]){0, 0, 1.5}, sizeof p[k]);
        memcpy(p[k + 1], (double[3]){0, 0, -0.7}, sizeof p[k]);
        cb_op_type t = k == 3 ? CB_OP_TRI_BIPYR : k == 4 ? CB_OP_OCT_MAX : k == 5 ? CB_OP_PENT_BIPYR : CB_OP_HEX_BIPYR;
        assert_true(fabs(value_of(t, p, k + 2) - 1) < 1e-12);
    }
    /* pyramids: a ring plus one pole */
    for (int k = 4; k <= 6; k++) {
        ring(p, k, 0, 0.5);
        memcpy(p[k], (double[3]){0, 0, 2}, sizeof p[k]);
        cb_op_type t = k == 4 ? CB_OP_SQ_PYR : k == 5 ? CB_OP_PENT_PYR : CB_OP_HEX_PYR;
        assert_true(fabs(value_of(t, p, k + 1) - 1) < 1e-12);
    }
    /* T-shape, rectangular see-saw (octahedron minus a cis pair), bent at the target angle */
    assert_true(fabs(value_of(CB_OP_T, OCT, 3) - 1) < 1e-12);
    const double seesaw[4][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    assert_true(fabs(value_of(CB_OP_SEE_SAW_RECT, seesaw, 4) - 1) < 1e-12);
    const cb_op *two;
    assert_int_equal(cb_op_preset(2, &two), 5);
    for (int k = 0; k < 5; k++) {
        double a = two[k].ta * M_PI, v;
        const double bent[2][3] = {{0, 0, 1}, {sin(a), 0, cos(a)}};
        assert_int_equal(cb_order_param(&two[k], (double[3]){0, 0, 0}, bent, 2, &v), 0);
        assert_true(fabs(v - 1) < 1e-12);
    }
    /* a motif scores low under another motif's op */
    assert_true(value_of(CB_OP_TET_MAX, OCT, 4) < 0.2);
    assert_true(value_of(CB_OP_OCT_MAX, CUBOCT, 6) < 0.9);
    /* sgl_bd: 1 − d1/d2 */
    const double two_bonds[2][3] = {{0, 0, 1}, {0, 2, 0}};
    assert_true(fabs(value_of(CB_OP_SGL_BD, two_bonds, 2) - 0.5) < 1e-15);
    assert_true(value_of(CB_OP_SGL_BD, two_bonds, 1) == 1.0);
}

/* Steinhardt q_l of the fcc (cuboctahedral) and bcc (cube) first shells. */
static void test_steinhardt_known_values(void **state)
{
    (void)state;
    assert_true(fabs(value_of(CB_OP_Q4, CUBOCT, 12) - 0.19094) < 5e-6);
    assert_true(fabs(value_of(CB_OP_Q6, CUBOCT, 12) - 0.57452) < 5e-6);
    assert_true(fabs(value_of(CB_OP_Q4, CUBE, 8) - 0.50918) < 5e-6);
    assert_true(fabs(value_of(CB_OP_Q6, CUBE, 8) - 0.62854) < 5e-6);
    /* cubic shells have no l = 2 component: q2 vanishes to rounding, not to 1e-8 */
    assert_true(value_of(CB_OP_Q2, CUBOCT, 12) < 1e-14);
    assert_true(value_of(CB_OP_Q2, CUBE, 8) < 1e-14);
    assert_true(value_of(CB_OP_Q2, OCT, 6) < 1e-14);
    /* one bond: q_l = 1 for every l */
    assert_true(fabs(value_of(CB_OP_Q6, OCT, 1) - 1) < 1e-14);
    /* against the rotation-invariant Legendre form on random shells */
    cb_rng rng;
    cb_rng_seed(&rng, 11);
    for (int it = 0; it < 200; it++) {
        int n = 1 + (int)cb_rng_below(&rng, 12);
        double p[12][3], u[12][3];
        for (int i = 0; i < n; i++) {
            double len = 0;
            for (int a = 0; a < 3; a++) {
                p[i][a] = cb_rng_normal(&rng);
                len += p[i][a] * p[i][a];
            }
            for (int a = 0; a < 3; a++) u[i][a] = p[i][a] / sqrt(len);
        }
        double s2 = 0, s4 = 0, s6 = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double t = u[i][0] * u[j][0] + u[i][1] * u[j][1] + u[i][2] * u[j][2], t2 = t * t;
                s2 += (3 * t2 - 1) / 2;
                s4 += (35 * t2 * t2 - 30 * t2 + 3) / 8;
                s6 += (231 * t2 * t2 * t2 - 315 * t2 * t2 + 105 * t2 - 5) / 16;
            }
        assert_true(fabs(value_of(CB_OP_Q2, p, n) - sqrt(fmax(s2, 0)) / n) < 1e-6);
        assert_true(fabs(value_of(CB_OP_Q4, p, n) - sqrt(fmax(s4, 0)) / n) < 1e-6);
        assert_true(fabs(value_of(CB_OP_Q6, p, n) - sqrt(fmax(s6, 0)) / n) < 1e-6);
    }
}

/* pymatgen's None cases: no pair (n ≤ 1) for the angular types, n ≤ 3 for bcc, no
 * neighbour for q_l; sgl_bd gives 0 (not None) without neighbours. */
static void test_none_branches(void **state)
{
    (void)state;
    const double c[3] = {0.5, -1, 2};
    for (int t = 0; t < CB_OP_N_TYPES; t++) {
        const cb_op *op = cb_op_default((cb_op_type)t);
        int none0, none1, none3;
        double v0 = op_value(op, c, OCT, 0, &none0);
        op_value(op, c, OCT, 1, &none1);
        op_value(op, c, TET, 3, &none3);
        if (t == CB_OP_SGL_BD) {
            assert_false(none0);
            assert_true(v0 == 0.0);
            assert_false(none1);
        } else if (t == CB_OP_Q2 || t == CB_OP_Q4 || t == CB_OP_Q6) {
            assert_true(none0);
            assert_false(none1);
        } else {
            assert_true(none0);
            assert_true(none1);
            assert_int_equal(none3, t == CB_OP_BCC);
        }
    }
    double v;
    assert_int_equal(cb_order_param(cb_op_default(CB_OP_T), c, OCT, CB_OP_MAX_NBRS + 1, &v), -1);
    assert_int_equal(cb_order_param(cb_op_default(CB_OP_T), c, OCT, -1, &v), -1);
}

/* Translation, rotation and (except bcc) permutation do not change the values. */
static void test_invariances(void **state)
{
    (void)state;
    cb_rng rng;
    cb_rng_seed(&rng, 5);
    for (int it = 0; it < 300; it++) {
        int cn = 2 + (int)cb_rng_below(&rng, 11);
        const cb_op *ops;
        int n_ops = cb_op_preset(cn, &ops);
        double p[12][3], q[12][3], moved[12][3], c0[3] = {0, 0, 0}, c1[3], rot[3][3];
        for (int i = 0; i < cn; i++)
            for (int a = 0; a < 3; a++) p[i][a] = (i < 6 ? OCT[i][a] * 2 : 0) + 0.3 * cb_rng_normal(&rng);
        /* a rotation from a random unit quaternion */
        double w = cb_rng_normal(&rng), x = cb_rng_normal(&rng), y = cb_rng_normal(&rng), z = cb_rng_normal(&rng);
        double l = sqrt(w * w + x * x + y * y + z * z);
        w /= l, x /= l, y /= l, z /= l;
        double r[3][3] = {{1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)},
                          {2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)},
                          {2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)}};
        memcpy(rot, r, sizeof rot);
        for (int a = 0; a < 3; a++) c1[a] = 10 * cb_rng_normal(&rng);
        int perm[12];
        for (int i = 0; i < cn; i++) perm[i] = i;
        for (int i = cn - 1; i > 0; i--) {
            int j = (int)cb_rng_below(&rng, (uint64_t)i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int i = 0; i < cn; i++)
            for (int a = 0; a < 3; a++) {
                moved[i][a] = c1[a] + rot[a][0] * p[i][0] + rot[a][1] * p[i][1] + rot[a][2] * p[i][2];
                q[i][a] = p[perm[i]][a];
            }
        for (int k = 0; k < n_ops; k++) {
            int n0, n1, n2;
            double v0 = op_value(&ops[k], c0, p, cn, &n0), v1 = op_value(&ops[k], c1, moved, cn, &n1);
            double v2 = op_value(&ops[k], c0, q, cn, &n2);
            assert_int_equal(n0, n1);
            assert_int_equal(n0, n2);
            if (fabs(v0 - v1) > 1e-9)
                fail_msg("CN %d %s not invariant under rotation: %.17g vs %.17g", cn, cb_op_name(ops[k].type), v0, v1);
            if (ops[k].type != CB_OP_BCC && fabs(v0 - v2) > 1e-12)
                fail_msg("CN %d %s depends on the neighbour order", cn, cb_op_name(ops[k].type));
        }
    }
}

/* Layout: 61 entries, each CN's block at §4.1's offsets, wt first, 0 where wt = 0. */
static void test_fingerprint_layout(void **state)
{
    (void)state;
    static const int block_start[CB_CN_MAX + 2] = {0,  0,  2,  8,  12, 18, 22, 26, 29, 32, 36, 40, 44,
                                                   49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61};
    for (int cn = 1; cn <= CB_CN_MAX; cn++) {
        const cb_op *ops;
        assert_int_equal(block_start[cn + 1] - block_start[cn], 1 + cb_op_preset(cn, &ops));
    }
    cb_site_env env;
    memset(&env, 0, sizeof env);
    double fp[CB_SITE_FP_LEN];
    cb_site_fingerprint(&env, fp);
    for (int i = 0; i < CB_SITE_FP_LEN; i++) assert_true(fp[i] == 0.0);

    /* every CN carries a weight; CN ≤ 12 get their shells, larger CN just a weight */
    double pts[CB_CN_MAX + 1][CB_CN_MAX][3];
    cb_rng rng;
    cb_rng_seed(&rng, 3);
    env.center[0] = 1, env.center[1] = -2, env.center[2] = 0.5;
    for (int cn = 1; cn <= CB_CN_MAX; cn++) {
        for (int i = 0; i < cn; i++)
            for (int a = 0; a < 3; a++) pts[cn][i][a] = env.center[a] + cb_rng_normal(&rng);
        env.env[cn] = (cb_cn_env){.weight = 0.01 * cn, .n = cn, .points = (const double(*)[3])pts[cn]};
    }
    env.env[4].points = (const double(*)[3])pts[4];
    for (int i = 0; i < 4; i++)
        for (int a = 0; a < 3; a++) pts[4][i][a] = env.center[a] + 1.7 * TET[i][a];
    env.env[6].weight = 0; /* a CN without weight: all its entries 0 */
    cb_site_fingerprint(&env, fp);
    for (int cn = 1; cn <= CB_CN_MAX; cn++) {
        const cb_op *ops;
        int n_ops = cb_op_preset(cn, &ops), at = block_start[cn];
        double wt = env.env[cn].weight;
        assert_true(fp[at] == wt);
        for (int k = 0; k < n_ops; k++) {
            int none;
            double v = op_value(&ops[k], env.center, env.env[cn].points, cn, &none);
            double want = wt == 0 || none || v == 0 ? 0.0 : wt * v;
            assert_true(fp[at + 1 + k] == want);
        }
    }
    assert_true(fabs(fp[block_start[4] + 2] - 0.04) < 1e-15); /* tetrahedral = wt · 1 */
}

/* Time per site of the whole fingerprint on the reference crystals' environments when
 * available (matminer: ~30 ms a site, Voronoi and CrystalNN included), and on single
 * random CN environments. */
static void test_timing(void **state)
{
    (void)state;
    if (g.have_sites) {
        long n_sites = 0;
        double sink = 0, t0 = seconds();
        for (int rep = 0; rep < 200; rep++)
            for (int r = 0; r < g.n_recs; r++)
                for (int s = 0; s < g.recs[r].n_sites; s++) {
                    double fp[CB_SITE_FP_LEN];
                    cb_site_fingerprint(&g.recs[r].sites[s].env, fp);
                    sink += fp[rep % CB_SITE_FP_LEN];
                    n_sites++;
                }
        double dt = seconds() - t0;
        printf("site fingerprint of the reference crystals (order parameters only): %.2f us per site "
               "(%ld evaluations, checksum %g)\n",
               1e6 * dt / (double)n_sites, n_sites, sink);
    }
    for (int cn = 1; cn <= 12; cn++) {
        const cb_op *ops;
        int n_ops = cb_op_preset(cn, &ops);
        double p[12][3];
        cb_rng rng;
        cb_rng_seed(&rng, 9);
        for (int i = 0; i < cn; i++)
            for (int a = 0; a < 3; a++) p[i][a] = cb_rng_normal(&rng);
        cb_site_env env;
        memset(&env, 0, sizeof env);
        env.env[cn] = (cb_cn_env){.weight = 1, .n = cn, .points = (const double(*)[3])p};
        double fp[CB_SITE_FP_LEN], t0 = seconds();
        for (int rep = 0; rep < 2000; rep++) cb_site_fingerprint(&env, fp);
        double dt = (seconds() - t0) / 2000;
        printf("  one random CN-%-2d environment, its %d ops: %.2f us\n", cn, n_ops, 1e6 * dt);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preset_matches_pymatgen),
        cmocka_unit_test(test_ops_vs_pymatgen),
        cmocka_unit_test(test_site_fingerprints_vs_matminer),
        cmocka_unit_test(test_ideal_polyhedra),
        cmocka_unit_test(test_steinhardt_known_values),
        cmocka_unit_test(test_none_branches),
        cmocka_unit_test(test_invariances),
        cmocka_unit_test(test_fingerprint_layout),
        cmocka_unit_test(test_timing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
