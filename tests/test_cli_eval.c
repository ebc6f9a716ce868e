/* crystalbench eval csp as a user runs it: usage errors, perov_5 test against itself,
 * against a perturbed copy (σ = 0.05 Å) compared with pymatgen's StructureMatcher on
 * the same files, k predictions per target paired by material_id and by order, and the
 * run recorded in the results store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/dataset.h"
#include "crystalbench/progress.h"
#include "crystalbench/rng.h"
#include "crystalbench/store.h"
#include "crystalbench/validity.h"
#include "testutil.h"

/* Rows compared with pymatgen (~30 s of Python for 1,000; CB_CSP_FULL=1 for all 3,785,
 * ~2 min). */
#define PMG_ROWS 1000

/* Runs eval csp with --json and returns the parsed object (the last line of stdout). */
static cJSON *eval_json(const char *args_fmt, ...) __attribute__((format(printf, 1, 2)));
static cJSON *eval_json(const char *args_fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, args_fmt);
    vsnprintf(args, sizeof args, args_fmt, ap);
    va_end(ap);
    int st;
    char *out = cb_test_runf(&st, "%s eval csp --json %s", cb_test_cli(), args);
    if (st != 0) fail_msg("eval csp %s: exit %d\n%s", args, st, out);
    cJSON *o = cJSON_Parse(out);
    if (!o) fail_msg("eval csp %s: stdout is not one JSON object:\n%s", args, out);
    free(out);
    return o;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (cJSON_IsNull(v)) return NAN;
    if (!cJSON_IsNumber(v)) fail_msg("JSON has no number '%s'", key);
    return v->valuedouble;
}

static void test_usage_and_errors(void **state)
{
    (void)state;
    const char *cli = cb_test_cli();
    int st;
    char *out = cb_test_runf(&st, "%s eval csp --help", cli);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "usage: crystalbench eval csp"));
    free(out);
    out = cb_test_runf(&st, "%s --help", cli);
    assert_non_null(strstr(out, "eval csp"));
    free(out);
    const char *bad[] = {"eval",
                         "eval csp",
                         "eval csp --pred a.csv",
                         "eval csp --target a.csv",
                         "eval csp --pred a.csv --target b.csv --k 0",
                         "eval csp --pred a.csv --target b.csv --k two",
                         "eval csp --pred a.csv --target b.csv --protocol mattergen",
                         "eval csp --pred a.csv --target b.csv --threads 0",
                         "eval csp --pred a.csv --target b.csv --db x.db --no-db",
                         "eval csp --pred a.csv --target b.csv --bogus",
                         "eval csp --pred a.csv --target b.csv extra",
                         "eval csp --pred a.csv --target"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = cb_test_runf(&st, "%s %s 2>&1", cli, bad[i]);
        if (st != 2) fail_msg("'crystalbench %s' exited %d, expected 2:\n%s", bad[i], st, out);
        free(out);
    }
    /* Missing and unreadable files, count mismatch: exit 1 with one line naming the file. */
    char *tmp = cb_test_tmpdir();
    char perov_buf[4096];
    const char *perov = cb_test_data_file("perov_5/test.csv");
    if (perov) perov = strcpy(perov_buf, perov); /* the helper's buffer is reused below */
    struct {
        char args[2048];
        const char *expect;
    } fails[3];
    snprintf(fails[0].args, sizeof fails[0].args, "--pred %s/none.csv --target %s/none.csv", tmp, tmp);
    fails[0].expect = "none.csv: cannot read";
    snprintf(fails[1].args, sizeof fails[1].args, "--pred tests/data/malformed/bad_cif_row.csv --target %s",
             perov ? perov : "tests/data/malformed/bad_cif_row.csv");
    fails[1].expect = "bad_cif_row.csv: row ";
    int n_fails = 2;
    if (perov) {
        const char *val = cb_test_data_file("perov_5/val.csv");
        if (val) {
            snprintf(fails[2].args, sizeof fails[2].args, "--pred %s --target %s", val, perov);
            fails[2].expect = "structures but";
            n_fails = 3;
        }
    }
    for (int i = 0; i < n_fails; i++) {
        out = cb_test_runf(&st, "%s eval csp %s --db %s/runs.db 2>&1", cli, fails[i].args, tmp);
        if (st != 1) fail_msg("eval csp %s: exit %d, expected 1:\n%s", fails[i].args, st, out);
        if (!strstr(out, fails[i].expect)) fail_msg("eval csp %s: output lacks '%s':\n%s", fails[i].args, fails[i].expect, out);
        if (strchr(out, '\n') != strrchr(out, '\n')) fail_msg("eval csp %s: error is not one line:\n%s", fails[i].args, out);
        free(out);
    }
    /* A failed run is recorded as failed, with the message. */
    if (n_fails == 3) {
        char db[1024];
        snprintf(db, sizeof db, "%s/runs.db", tmp);
        cb_store *s;
        assert_int_equal(cb_store_open_existing(db, &s, NULL), CB_OK);
        cb_run_filter f = {.task = "csp", .status = CB_RUN_FAILED};
        cb_run *runs;
        size_t n;
        assert_int_equal(cb_store_list_runs(s, &f, &runs, &n, NULL), CB_OK);
        assert_true(n >= 1);
        assert_non_null(strstr(runs[n - 1].message, "structures but"));
        cb_runs_free(runs, n);
        cb_store_close(s);
    }
    cb_test_rmtree(tmp);
    free(tmp);
}

/* The gate of the default (DiffCSP) protocol on pred = target: valid targets only. */
static size_t count_valid(const cb_dataset *ds)
{
    size_t n = 0;
    for (size_t i = 0; i < ds->n; i++) {
        cb_validity v;
        assert_int_equal(cb_validity_of_crystal(CB_PROTOCOL_DIFFCSP, 1, &ds->items[i], &v, NULL), CB_OK);
        n += (size_t)v.valid;
    }
    return n;
}

static void test_perov_self(void **state)
{
    (void)state;
    const char *p = cb_test_data_file("perov_5/test.csv");
    if (!p) skip();
    char perov[4096];
    snprintf(perov, sizeof perov, "%s", p);
    cb_dataset ds = {0};
    assert_int_equal(cb_dataset_load(perov, CB_FORMAT_AUTO, &ds, NULL), CB_OK);
    size_t n_valid = count_valid(&ds);
    char *tmp = cb_test_tmpdir();

    /* Without the validity gate: pure structure matching, everything matches itself. */
    cJSON *o = eval_json("--pred %s --target %s --no-validity --db %s/r.db", perov, perov, tmp);
    assert_true(num(o, "match_rate") == 1.0);
    assert_true(num(o, "rms_dist") < 1e-9);
    assert_true(num(o, "n_targets") == 3785);
    assert_true(num(o, "n_matched") == 3785);
    assert_true(num(o, "k") == 1);
    assert_string_equal(cJSON_GetObjectItem(o, "paired_by")->valuestring, "material_id");
    printf("perov_5 test vs itself, no gate: match rate %.6f, RMSE %.3g\n", num(o, "match_rate"), num(o, "rms_dist"));
    cJSON_Delete(o);

    /* The reference protocols: SMACT-invalid targets are misses even against themselves. */
    double t0 = cb_now();
    o = eval_json("--pred %s --target %s --db %s/r.db", perov, perov, tmp);
    double seconds = cb_now() - t0;
    assert_true(num(o, "n_valid") == (double)n_valid);
    assert_true(num(o, "n_matched") == (double)n_valid);
    assert_true(num(o, "match_rate") == (double)n_valid / 3785.0);
    assert_true(num(o, "rms_dist") < 1e-9);
    printf("perov_5 test vs itself (diffcsp): match rate %.6f (%zu of 3785 valid), RMSE %.3g, %.2f s\n",
           num(o, "match_rate"), n_valid, num(o, "rms_dist"), seconds);
    assert_true(seconds < 60); /* "only seconds": ~1 s on 2 cores */

    /* The run is in the store, done, with its metrics. */
    char db[1024];
    snprintf(db, sizeof db, "%s/r.db", tmp);
    cb_store *s;
    assert_int_equal(cb_store_open_existing(db, &s, NULL), CB_OK);
    cb_run r;
    assert_int_equal(cb_store_get_run(s, (int64_t)num(o, "run_id"), &r, NULL), CB_OK);
    assert_int_equal(r.status, CB_RUN_DONE);
    assert_string_equal(r.model, "external");
    assert_string_equal(r.task, "csp");
    assert_string_equal(r.dataset, "perov_5");
    assert_non_null(r.dataset_hash);
    assert_int_equal(strlen(r.dataset_hash), 64);
    assert_non_null(strstr(r.config, "eval csp --json --pred"));
    double v;
    assert_int_equal(cb_store_get_metric(s, r.id, "match_rate", &v, NULL), CB_OK);
    assert_true(v == num(o, "match_rate"));
    assert_int_equal(cb_store_get_metric(s, r.id, "n_matched", &v, NULL), CB_OK);
    assert_true(v == (double)n_valid);
    assert_int_equal(cb_store_get_metric(s, r.id, "n_targets", &v, NULL), CB_OK);
    assert_true(v == 3785);
    assert_int_equal(cb_store_get_metric(s, r.id, "rms_dist", &v, NULL), CB_OK);
    assert_true(v == num(o, "rms_dist"));
    cb_run_free(&r);
    cb_store_close(s);
    cJSON_Delete(o);

    /* The table form names the numbers and the run. */
    int st;
    char *out = cb_test_runf(&st, "%s eval csp --pred %s --target %s --db %s/r.db --protocol cdvae", cb_test_cli(), perov,
                    perov, tmp);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "match rate"));
    assert_non_null(strstr(out, "RMSE"));
    assert_non_null(strstr(out, "(cdvae protocol"));
    free(out);
    cb_dataset_free(&ds);
    cb_test_rmtree(tmp);
    free(tmp);
}

static void perturb_all(cb_dataset *ds, double sigma, uint64_t seed)
{
    cb_rng rng;
    cb_rng_seed(&rng, seed);
    for (size_t i = 0; i < ds->n; i++) {
        cb_crystal *c = &ds->items[i];
        double inv[3][3];
        assert_true(cb_mat3_inverse(c->lattice, inv));
        for (int s = 0; s < c->n; s++) {
            double cart[3];
            cb_frac_to_cart(c->lattice, c->frac[s], cart);
            for (int k = 0; k < 3; k++) cart[k] += sigma * cb_rng_normal(&rng);
            cb_cart_to_frac(inv, cart, c->frac[s]);
        }
    }
}

static const char pmg_script[] =
    "import sys, csv, json, warnings\n"
    "warnings.filterwarnings('ignore')\n"
    "from pymatgen.core import Structure\n"
    "from pymatgen.analysis.structure_matcher import StructureMatcher\n"
    "csv.field_size_limit(1 << 30)\n"
    "def read(p):\n"
    "    with open(p, newline='') as f:\n"
    "        return [(r['material_id'], Structure.from_str(r['cif'], fmt='cif')) for r in csv.DictReader(f)]\n"
    "pred, gt = read(sys.argv[1]), read(sys.argv[2])\n"
    "m = StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)\n"
    "out = []\n"
    "for (i1, s1), (i2, s2) in zip(pred, gt):\n"
    "    assert i1 == i2\n"
    "    try:\n"
    "        r = m.get_rms_dist(s1, s2)\n"
    "    except Exception:\n"
    "        r = None\n"
    "    out.append(None if r is None else r[0])\n"
    "print(json.dumps(out))\n";

/* Match rate and RMSE from pymatgen's per-pair rms over the pairs with mask[i]. */
static void pmg_metrics(const cJSON *rms, const unsigned char *mask, size_t n, double *rate, double *mean,
                        size_t *matched)
{
    double sum = 0;
    *matched = 0;
    for (size_t i = 0; i < n; i++) {
        const cJSON *r = cJSON_GetArrayItem(rms, (int)i);
        if (!mask[i] || !cJSON_IsNumber(r)) continue;
        (*matched)++;
        sum += r->valuedouble;
    }
    *rate = (double)*matched / (double)n;
    *mean = *matched ? sum / (double)*matched : NAN;
}

static void test_perturbed_vs_pymatgen(void **state)
{
    (void)state;
    const char *p = cb_test_data_file("perov_5/test.csv");
    if (!p) skip();
    char perov[4096];
    snprintf(perov, sizeof perov, "%s", p);
    const char *py = cb_test_pymatgen_python();
    cb_dataset target = {0}, pred = {0};
    assert_int_equal(cb_dataset_load(perov, CB_FORMAT_AUTO, &target, NULL), CB_OK);
    assert_int_equal(cb_dataset_load(perov, CB_FORMAT_AUTO, &pred, NULL), CB_OK);
    perturb_all(&pred, 0.05, 20240601);
    char *tmp = cb_test_tmpdir();
    char pred_path[1024], pred_sub[1024], target_sub[1024];
    snprintf(pred_path, sizeof pred_path, "%s/perturbed.csv", tmp);
    assert_int_equal(cb_dataset_write(pred_path, CB_FORMAT_CSV, pred.items, pred.n, NULL), CB_OK);

    /* The whole perturbed set through the CLI. */
    double t0 = cb_now();
    cJSON *full = eval_json("--pred %s --target %s --db %s/r.db", pred_path, perov, tmp);
    printf("perov_5 test vs perturbed copy (sigma 0.05 A, diffcsp): match rate %.6f (%g of %g), RMSE %.6f, %.2f s\n",
           num(full, "match_rate"), num(full, "n_matched"), num(full, "n_targets"), num(full, "rms_dist"),
           cb_now() - t0);
    assert_true(num(full, "n_targets") == 3785);
    assert_true(num(full, "match_rate") > 0.5);
    cJSON_Delete(full);
    if (!py) {
        cb_dataset_free(&target);
        cb_dataset_free(&pred);
        cb_test_rmtree(tmp);
        free(tmp);
        skip();
    }

    /* The pymatgen comparison on the first PMG_ROWS rows (as written, re-read). */
    size_t n = getenv("CB_CSP_FULL") ? target.n : PMG_ROWS;
    if (n > target.n) n = target.n;
    snprintf(pred_sub, sizeof pred_sub, "%s/pred_sub.csv", tmp);
    snprintf(target_sub, sizeof target_sub, "%s/target_sub.csv", tmp);
    assert_int_equal(cb_dataset_write(pred_sub, CB_FORMAT_CSV, pred.items, n, NULL), CB_OK);
    assert_int_equal(cb_dataset_write(target_sub, CB_FORMAT_CSV, target.items, n, NULL), CB_OK);
    cb_dataset_free(&pred);
    cb_dataset_free(&target);
    assert_int_equal(cb_dataset_load(pred_sub, CB_FORMAT_AUTO, &pred, NULL), CB_OK);
    assert_int_equal(cb_dataset_load(target_sub, CB_FORMAT_AUTO, &target, NULL), CB_OK);
    /* DiffCSP gate, computed here so pymatgen (which has no SMACT here) gets the same pairs. */
    unsigned char *all = malloc(n), *gate = malloc(n);
    assert_non_null(all);
    assert_non_null(gate);
    for (size_t i = 0; i < n; i++) {
        cb_validity vp, vt;
        assert_int_equal(cb_validity_of_crystal(CB_PROTOCOL_DIFFCSP, 1, &pred.items[i], &vp, NULL), CB_OK);
        assert_int_equal(cb_validity_of_crystal(CB_PROTOCOL_DIFFCSP, 0, &target.items[i], &vt, NULL), CB_OK);
        all[i] = 1;
        gate[i] = (unsigned char)(vp.valid && vt.valid);
    }

    char script[1024];
    snprintf(script, sizeof script, "%s/csp_ref.py", tmp);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs(pmg_script, f);
    fclose(f);
    int st;
    t0 = cb_now();
    char *out = cb_test_runf(&st, "%s %s %s %s", py, script, pred_sub, target_sub);
    double py_seconds = cb_now() - t0;
    if (st != 0) fail_msg("pymatgen script failed (%d):\n%s", st, out);
    cJSON *rms = cJSON_Parse(out);
    free(out);
    assert_non_null(rms);
    assert_int_equal(cJSON_GetArraySize(rms), (int)n);

    for (int gated = 0; gated <= 1; gated++) {
        t0 = cb_now();
        cJSON *o = eval_json("--pred %s --target %s --db %s/r.db%s", pred_sub, target_sub, tmp,
                             gated ? "" : " --no-validity");
        double c_seconds = cb_now() - t0;
        double rate, mean;
        size_t matched;
        pmg_metrics(rms, gated ? gate : all, n, &rate, &mean, &matched);
        printf("%zu pairs, %s: crystalbench match rate %.6f RMSE %.10f (%.2f s) | pymatgen %.6f %.10f (%zu matched, "
               "%.1f s)\n",
               n, gated ? "diffcsp gate" : "no gate", num(o, "match_rate"), num(o, "rms_dist"), c_seconds, rate, mean,
               matched, py_seconds);
        printf("  |difference|: match rate %.3g, RMSE %.3g\n", fabs(num(o, "match_rate") - rate),
               fabs(num(o, "rms_dist") - mean));
        assert_true(fabs(num(o, "match_rate") - rate) <= 1e-4);
        assert_true(fabs(num(o, "rms_dist") - mean) <= 1e-4);
        cJSON_Delete(o);
    }
    cJSON_Delete(rms);
    free(all);
    free(gate);
    cb_dataset_free(&target);
    cb_dataset_free(&pred);
    cb_test_rmtree(tmp);
    free(tmp);
}

/* k = 2 predictions per target: [perturbed, exact] → best is the exact copy; paired by
 * material_id (ids repeated) and, with other ids, by order. */
static void test_k_predictions(void **state)
{
    (void)state;
    const char *p = cb_test_data_file("perov_5/test.csv");
    if (!p) skip();
    cb_dataset all = {0}, target = {0}, pred = {0};
    assert_int_equal(cb_dataset_load(p, CB_FORMAT_AUTO, &all, NULL), CB_OK);
    size_t m = 200;
    for (size_t i = 0; i < m; i++) assert_int_equal(cb_dataset_push(&target, &all.items[i], NULL), CB_OK);
    cb_dataset_free(&all);
    cb_dataset noisy = {0};
    for (size_t i = 0; i < m; i++) assert_int_equal(cb_dataset_push(&noisy, &target.items[i], NULL), CB_OK);
    perturb_all(&noisy, 0.1, 99);
    for (size_t i = 0; i < m; i++) {
        assert_int_equal(cb_dataset_push(&pred, &noisy.items[i], NULL), CB_OK);
        assert_int_equal(cb_dataset_push(&pred, &target.items[i], NULL), CB_OK);
    }
    char *tmp = cb_test_tmpdir();
    char tpath[1024], ppath[1024], opath[1024], npath[1024];
    snprintf(tpath, sizeof tpath, "%s/t.csv", tmp);
    snprintf(ppath, sizeof ppath, "%s/p_by_id.xyz", tmp);
    snprintf(opath, sizeof opath, "%s/p_by_order.xyz", tmp);
    snprintf(npath, sizeof npath, "%s/noisy.csv", tmp);
    assert_int_equal(cb_dataset_write(tpath, CB_FORMAT_CSV, target.items, m, NULL), CB_OK);
    assert_int_equal(cb_dataset_write(npath, CB_FORMAT_CSV, noisy.items, m, NULL), CB_OK);
    /* Shuffle the by-id file's rows (pairs reversed) so only the ids can pair them... */
    cb_crystal *rev = malloc(2 * m * sizeof *rev);
    assert_non_null(rev);
    for (size_t i = 0; i < 2 * m; i++) rev[i] = pred.items[2 * m - 1 - i];
    assert_int_equal(cb_dataset_write(ppath, CB_FORMAT_EXTXYZ, rev, 2 * m, NULL), CB_OK);
    free(rev);
    /* ... and give the by-order file ids that pair nothing. */
    for (size_t i = 0; i < 2 * m; i++) {
        char id[32];
        snprintf(id, sizeof id, "sample%zu", i);
        assert_int_equal(cb_crystal_set_id(&pred.items[i], id, NULL), CB_OK);
    }
    assert_int_equal(cb_dataset_write(opath, CB_FORMAT_EXTXYZ, pred.items, 2 * m, NULL), CB_OK);

    cJSON *one = eval_json("--pred %s --target %s --no-db", npath, tpath);
    cJSON *by_id = eval_json("--pred %s --target %s --k 2 --no-db", ppath, tpath);
    cJSON *by_order = eval_json("--pred %s --target %s --k 2 --no-db --threads 1", opath, tpath);
    assert_string_equal(cJSON_GetObjectItem(by_id, "paired_by")->valuestring, "material_id");
    assert_string_equal(cJSON_GetObjectItem(by_order, "paired_by")->valuestring, "order");
    assert_true(num(by_id, "k") == 2);
    /* With the exact copy among the k, every target whose prediction is valid matches
     * with rms ~0 — and match@2 can only improve on the noisy predictions alone. */
    assert_true(num(by_id, "match_rate") == num(by_order, "match_rate"));
    assert_true(num(by_id, "rms_dist") == num(by_order, "rms_dist"));
    assert_true(num(by_id, "match_rate") >= num(one, "match_rate"));
    assert_true(num(by_id, "rms_dist") < 1e-6);
    assert_true(num(by_id, "n_matched") * 2 == num(by_id, "n_valid"));
    printf("k = 2 on %zu targets: match rate %.4f (k = 1 noisy only: %.4f), RMSE %.3g\n", m,
           num(by_id, "match_rate"), num(one, "match_rate"), num(by_id, "rms_dist"));
    /* k = 3 does not fit 400 rows. */
    int st;
    char *out = cb_test_runf(&st, "%s eval csp --pred %s --target %s --k 3 --no-db 2>&1", cb_test_cli(), opath, tpath);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "with k = 3 it needs 600"));
    free(out);
    cJSON_Delete(one);
    cJSON_Delete(by_id);
    cJSON_Delete(by_order);
    cb_dataset_free(&noisy);
    cb_dataset_free(&pred);
    cb_dataset_free(&target);
    cb_test_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_and_errors),
        cmocka_unit_test(test_perov_self),
        cmocka_unit_test(test_perturbed_vs_pymatgen),
        cmocka_unit_test(test_k_predictions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
