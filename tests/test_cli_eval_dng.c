/* crystalbench eval dng as a user runs it: the DNG metrics of the two published sample
 * files against MP-20 test agree with the reference evaluation's values
 * (shared/data/reference/dng_*.json: validity to the sample, COV within 0.1 percentage
 * point, the other metrics within 1e-3 relative), usage errors and bad input, and the
 * run and the reference fingerprints recorded in the results store.
 *
 * The CLI runs in a child process (not traced by scripts/memcheck): fingerprinting the
 * 9,046 reference crystals under valgrind would take an hour. */
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

#include "crystalbench/dng.h"
#include "crystalbench/hash.h"
#include "crystalbench/store.h"
#include "testutil.h"


static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (cJSON_IsNull(v)) return NAN;
    if (!cJSON_IsNumber(v)) fail_msg("JSON has no number '%s'", key);
    return v->valuedouble;
}

/* eval dng --json with the arguments; the parsed object, or a failed test. */
static cJSON *eval_json(const char *args)
{
    int st;
    char *out = cb_test_runf(&st, "%s eval dng --json %s 2>&1", cb_test_cli(), args);
    if (st != 0) fail_msg("eval dng %s: exit %d\n%s", args, st, out);
    const char *last = strrchr(out, '{');
    cJSON *o = last ? cJSON_Parse(last) : NULL;
    if (!o) fail_msg("eval dng %s: no JSON object on stdout:\n%s", args, out);
    free(out);
    return o;
}

/* The CI gate: the stored run must equal the committed baseline (results/baseline/),
 * every metric within 1e-9 and every count exactly. */
static void regress_gate(const char *db, const char *label)
{
    const char *src = getenv("CB_SOURCE_DIR");
    if (!src) src = ".";
    int st;
    char *out = cb_test_runf(&st, "%s regress --baseline '%s/results/baseline/dng_%s_mp20.json' --db '%s' 2>&1",
                             cb_test_cli(), src, label, db);
    printf("%s", out);
    if (st != 0) fail_msg("regress gate for %s: exit %d", label, st);
    free(out);
}

/* One published sample file against MP-20 test, all valid samples in the property
 * metrics, as the reference file says it was computed. */
static void check_reference(const char *ref_json, const char *label)
{
    const char *path = cb_test_data_file(ref_json);
    if (!path) skip();
    size_t len;
    char *text = cb_test_read_file(path, &len);
    assert_non_null(text);
    cJSON *ref = cJSON_Parse(text);
    free(text);
    assert_non_null(ref);
    char samples[4096], test[4096], args[16384];
    snprintf(samples, sizeof samples, "%s", cb_test_data_file(cJSON_GetObjectItem(ref, "samples")->valuestring));
    snprintf(test, sizeof test, "%s", cb_test_data_file(cJSON_GetObjectItem(ref, "reference")->valuestring));
    char db[4096];
    snprintf(db, sizeof db, "%s/published.db", cb_test_scratch());
    snprintf(args, sizeof args,
             "--samples '%s' --reference '%s' --dataset mp20 --protocol cdvae --subset all --model %s --db '%s'",
             samples, test, label, db);
    cJSON *got = eval_json(args);
    const cJSON *want = cJSON_GetObjectItem(ref, "metrics");
    size_t n_gen = (size_t)num(ref, "n_generated");
    assert_true((size_t)num(got, "n_generated") == n_gen);
    printf("%s (%zu samples):\n", ref_json, n_gen);
    const cJSON *m;
    cJSON_ArrayForEach(m, want)
    {
        double w = m->valuedouble, g = num(got, m->string);
        const char *name = m->string;
        int ok;
        if (strstr(name, "valid")) /* to the sample */
            ok = llround(g * (double)n_gen) == llround(w * (double)n_gen);
        else if (strncmp(name, "cov_", 4) == 0) /* 0.1 percentage point */
            ok = fabs(g - w) <= 1e-3;
        else
            ok = fabs(g - w) <= 1e-3 * fabs(w);
        printf("  %-16s %.10f  reference %.10f  %s\n", name, g, w, ok ? "ok" : "DIFFERS");
        if (!ok) fail_msg("%s: %s = %.12g, reference %.12g", ref_json, name, g, w);
    }
    cJSON_Delete(got);
    cJSON_Delete(ref);
    regress_gate(db, label);
}

static void test_cdvae_samples(void **state)
{
    (void)state;
    check_reference("reference/dng_cdvae_mp20_metastable.json", "cdvae");
}

static void test_llama_samples(void **state)
{
    (void)state;
    check_reference("reference/dng_llama2_7b_t1.0_p1.0_mp20_metastable.json", "llama2");
}

/* Writes a small CSV of CIFs: the first `rows` rows of src. */
static void head_csv(const char *src, const char *dst, int rows)
{
    int st;
    char *out = cb_test_runf(&st, "python3 - '%s' '%s' %d <<'EOF'\n"
                                  "import csv, sys\n"
                                  "csv.field_size_limit(1 << 30)\n"
                                  "r = list(csv.reader(open(sys.argv[1])))\n"
                                  "csv.writer(open(sys.argv[2], 'w', newline='')).writerows(r[:int(sys.argv[3]) + 1])\n"
                                  "EOF",
                             src, dst, rows);
    if (st != 0) fail_msg("cannot write %s: %s", dst, out);
    free(out);
}

static void test_usage_and_bad_input(void **state)
{
    (void)state;
    const char *cli = cb_test_cli();
    int st;
    char *out = cb_test_runf(&st, "%s eval dng --help", cli);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "usage: crystalbench eval dng"));
    free(out);
    const char *usage_cases[] = {"--samples a.csv",
                                 "--samples a.csv --reference b.csv",      /* dataset unknown from the path */
                                 "--samples a --reference b --dataset moon", /* unknown dataset */
                                 "--samples a --reference b --dataset mp20 --protocol nope",
                                 "--samples a --reference b --dataset mp20 --subset 0",
                                 "--samples a --reference b --dataset mp20 --seed -3",
                                 "--samples a --reference b --dataset mp20 --db x --no-db"};
    for (size_t i = 0; i < sizeof usage_cases / sizeof usage_cases[0]; i++) {
        out = cb_test_runf(&st, "%s eval dng %s 2>&1", cli, usage_cases[i]);
        if (st != 2) fail_msg("'%s': exit %d, want 2\n%s", usage_cases[i], st, out);
        assert_non_null(strstr(out, "crystalbench:"));
        free(out);
    }
    /* missing and malformed files: exit 1, the file named */
    out = cb_test_runf(&st, "%s eval dng --samples /nonexistent.csv --reference /nonexistent2.csv --dataset mp20 "
                            "--no-db 2>&1",
                       cli);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "/nonexistent.csv"));
    free(out);
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/bad.csv", cb_test_scratch());
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("material_id,cif\nx,\"data_x\n_cell_length_a 3\n\"\n", f);
    fclose(f);
    out = cb_test_runf(&st, "%s eval dng --samples '%s' --reference '%s' --dataset mp20 --no-db 2>&1", cli, bad, bad);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "bad.csv"));
    free(out);

    /* more valid samples asked for than exist: the reference raises, so do we */
    const char *src = cb_test_data_file("perov_5/test.csv");
    if (!src) skip();
    char small[4096];
    snprintf(small, sizeof small, "%s/perov_small.csv", cb_test_scratch());
    head_csv(src, small, 40);
    out = cb_test_runf(&st, "%s eval dng --samples '%s' --reference '%s' --dataset perov --no-db 2>&1", cli, small, small);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "fewer than the 1000"));
    free(out);
}

/* A small evaluation recorded in a store: the run is done with its metrics, the
 * reference records are cached under the file's SHA-256, and the second run (from the
 * cache) gives the same numbers. */
static void test_store_and_cache(void **state)
{
    (void)state;
    const char *src = cb_test_data_file("perov_5/test.csv");
    if (!src) skip();
    char gen[4096], ref[4096], db[4096], args[16384];
    snprintf(gen, sizeof gen, "%s/gen.csv", cb_test_scratch());
    snprintf(ref, sizeof ref, "%s/perov_5_ref.csv", cb_test_scratch());
    snprintf(db, sizeof db, "%s/runs.db", cb_test_scratch());
    head_csv(src, gen, 60);
    head_csv(src, ref, 120);
    snprintf(args, sizeof args, "--samples '%s' --reference '%s' --subset 20 --seed 7 --db '%s'", gen, ref, db);
    cJSON *a = eval_json(args), *b = eval_json(args);
    const char *keys[] = {"valid", "cov_recall", "cov_precision", "amsd_recall", "amcd_precision", "wdist_density",
                          "wdist_num_elems", "comp_div", "struct_div"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (num(a, keys[i]) != num(b, keys[i])) fail_msg("%s differs between the fresh and the cached run", keys[i]);
    assert_true(num(a, "n_subsample") == 20);
    assert_true(num(a, "n_reference") == 120);
    /* the samples are the first 60 references: every one is covered */
    assert_true(num(a, "cov_precision") == num(a, "n_generated_fp") / 60.0);
    assert_true(num(a, "amsd_precision") == 0.0);

    cb_store *s;
    cb_error err;
    assert_int_equal(cb_store_open(db, &s, &err), CB_OK);
    char hash[CB_SHA256_HEX], kind[64];
    assert_int_equal(cb_sha256_file_hex(ref, hash, &err), CB_OK);
    snprintf(kind, sizeof kind, "dng_records/cdvae/%zu", sizeof(cb_dng_record));
    void *blob;
    size_t len;
    assert_int_equal(cb_store_cache_get(s, hash, kind, 1, &blob, &len, &err), CB_OK);
    assert_int_equal(len, 120 * sizeof(cb_dng_record));
    free(blob);
    cb_store_close(s);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_and_bad_input),
        cmocka_unit_test(test_store_and_cache),
        cmocka_unit_test(test_cdvae_samples),
        cmocka_unit_test(test_llama_samples),
    };
    return cmocka_run_group_tests(tests, cb_test_scratch_setup, cb_test_scratch_teardown);
}
