/* Datasets: every shared CSV reads with no failures and the README's row counts; spot
 * values agree with pymatgen; CSV -> CIF folder -> extxyz -> CSV round trips keep the
 * crystals; .csv.gz reads as .csv; malformed inputs fail with one-line messages that
 * name the file and record (tests/data/malformed/csv.tsv, reused by the CLI tests:
 * "file<TAB>expected substring<TAB>expected cb_status name"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "crystalbench/cif.h"
#include "crystalbench/dataset.h"
#include "crystalbench/progress.h"
#include "testutil.h"

#define MALFORMED "tests/data/malformed"

/* A one-line message that names `path`. */
static void assert_good_message(const cb_error *e, const char *path)
{
    if (!strstr(e->msg, path)) fail_msg("message does not name %s: %s", path, e->msg);
    if (strchr(e->msg, '\n')) fail_msg("message is not one line: %s", e->msg);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Lattice and coordinates to tol, species and ids exactly. */
static void assert_same_crystals(const cb_dataset *a, const cb_dataset *b, double tol, int check_ids)
{
    assert_int_equal(a->n, b->n);
    for (size_t k = 0; k < a->n; k++) {
        const cb_crystal *x = &a->items[k], *y = &b->items[k];
        if (x->n != y->n) fail_msg("crystal %zu: %d vs %d sites", k, x->n, y->n);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                if (fabs(x->lattice[i][j] - y->lattice[i][j]) > tol)
                    fail_msg("crystal %zu (%s): lattice[%d][%d] %.12g vs %.12g", k, x->id, i, j,
                             x->lattice[i][j], y->lattice[i][j]);
        for (int s = 0; s < x->n; s++) {
            if (x->z[s] != y->z[s]) fail_msg("crystal %zu site %d: Z %d vs %d", k, s, x->z[s], y->z[s]);
            for (int j = 0; j < 3; j++)
                if (fabs(x->frac[s][j] - y->frac[s][j]) > tol)
                    fail_msg("crystal %zu (%s) site %d: frac %.12g vs %.12g", k, x->id, s, x->frac[s][j],
                             y->frac[s][j]);
        }
        if (check_ids) {
            assert_non_null(x->id);
            assert_non_null(y->id);
            assert_string_equal(x->id, y->id);
        }
    }
}

/* Reads the first `limit` records of path (all when limit is 0) into ds. */
static void read_some(const char *path, size_t limit, cb_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    cb_reader *r;
    cb_error e;
    if (cb_reader_open(path, CB_FORMAT_AUTO, &r, &e)) fail_msg("%s", e.msg);
    cb_crystal c;
    int rc;
    while ((limit == 0 || ds->n < limit) && (rc = cb_reader_next(r, &c, &e)) != CB_ERR_EOF) {
        if (rc) fail_msg("%s", e.msg);
        assert_int_equal(cb_dataset_take(ds, &c, &e), CB_OK);
    }
    cb_reader_close(r);
}

/* ------------------------------------------------------------------ formats */

static void test_format_names_and_guess(void **state)
{
    (void)state;
    assert_int_equal(cb_format_guess("a/b.csv"), CB_FORMAT_CSV);
    assert_int_equal(cb_format_guess("a/b.CSV.gz"), CB_FORMAT_CSV);
    assert_int_equal(cb_format_guess("x.cif"), CB_FORMAT_CIF);
    assert_int_equal(cb_format_guess("x.xyz"), CB_FORMAT_EXTXYZ);
    assert_int_equal(cb_format_guess("x.extxyz.gz"), CB_FORMAT_EXTXYZ);
    assert_int_equal(cb_format_guess("tests"), CB_FORMAT_CIF_DIR); /* an existing directory */
    assert_int_equal(cb_format_guess("new-output-dir/"), CB_FORMAT_CIF_DIR);
    assert_int_equal(cb_format_guess("x.json"), CB_FORMAT_AUTO);
    assert_int_equal(cb_format_guess(""), CB_FORMAT_AUTO);
    const cb_format all[] = {CB_FORMAT_CSV, CB_FORMAT_CIF_DIR, CB_FORMAT_CIF, CB_FORMAT_EXTXYZ};
    for (int i = 0; i < 4; i++) assert_int_equal(cb_format_from_name(cb_format_name(all[i])), all[i]);
    assert_int_equal(cb_format_from_name("nonsense"), CB_FORMAT_AUTO);

    cb_dataset ds;
    cb_error e;
    assert_int_equal(cb_dataset_load("x.json", CB_FORMAT_AUTO, &ds, &e), CB_ERR_USAGE);
    assert_good_message(&e, "x.json");
    assert_int_equal(cb_dataset_load("no/such/file.csv", CB_FORMAT_AUTO, &ds, &e), CB_ERR_IO);
    assert_good_message(&e, "no/such/file.csv");
}

/* ------------------------------------------------------------------ shared datasets */

static const struct {
    const char *file;
    long rows;
} shared_csvs[] = {
    {"mp_20/test.csv", 9046},     {"mp_20/val.csv", 9047},    {"perov_5/val.csv", 3787},
    {"perov_5/test.csv", 3785},   {"carbon_24/val.csv", 2032}, {"carbon_24/test.csv", 2030},
    {"mpts_52/val.csv", 5000},    {"mpts_52/test.csv", 8096},
    {"samples/cdvae_mp20_metastable.csv", 2208},
    {"samples/llama2_7b_t1.0_p1.0_mp20_metastable.csv", 1825},
};

static void test_every_shared_csv_row_parses(void **state)
{
    (void)state;
    if (!cb_test_shared_data()) skip();
    for (size_t f = 0; f < sizeof shared_csvs / sizeof *shared_csvs; f++) {
        const char *path = cb_test_data_file(shared_csvs[f].file);
        if (!path) skip();
        double t0 = cb_now();
        cb_reader *r;
        cb_error e;
        if (cb_reader_open(path, CB_FORMAT_AUTO, &r, &e)) fail_msg("%s", e.msg);
        long rows = 0, failures = 0, sites = 0;
        cb_crystal c;
        int rc;
        while ((rc = cb_reader_next(r, &c, &e)) != CB_ERR_EOF) {
            rows++;
            assert_int_equal(cb_reader_record(r), rows);
            if (rc) {
                if (failures++ < 5) print_message("%s\n", e.msg);
                continue;
            }
            if (!c.id || !*c.id) fail_msg("%s row %ld: no id", path, rows);
            sites += c.n;
            cb_crystal_free(&c);
        }
        cb_reader_close(r);
        print_message("%-50s %5ld rows %7ld sites %.3f s\n", shared_csvs[f].file, rows, sites,
                      cb_now() - t0);
        assert_int_equal(failures, 0);
        assert_int_equal(rows, shared_csvs[f].rows);
    }
}

static void assert_near(double a, double b, double tol)
{
    if (!(fabs(a - b) <= tol)) fail_msg("%.17g vs %.17g", a, b);
}

/* Values from pymatgen 2022.11.7 (Structure.from_str on the row's cif) and the CSV. */
static void test_spot_values(void **state)
{
    (void)state;
    const char *path = cb_test_data_file("mp_20/test.csv");
    if (!path) skip();
    cb_dataset ds;
    read_some(path, 2, &ds);
    const cb_crystal *c = &ds.items[0];
    assert_string_equal(c->id, "mp-10009");
    assert_int_equal(c->n, 8);
    double p[6];
    cb_lattice_parameters(c->lattice, p);
    assert_near(p[0], 4.13459945, 1e-12);
    assert_near(p[2], 18.42557, 1e-12);
    assert_near(c->lattice[1][0], -2.06729917567377, 1e-12);
    assert_near(c->lattice[1][1], 3.580668475326758, 1e-12);
    assert_int_equal(c->z[0], 31); /* Ga */
    assert_near(c->frac[0][2], 0.182959, 1e-12);
    assert_string_equal(cb_crystal_prop(c, "band_gap"), "0.8979999999999997");
    assert_string_equal(cb_crystal_prop(c, "pretty_formula"), "GaTe");
    assert_string_equal(cb_crystal_prop(c, "elements"), "['Ga', 'Te']");
    assert_string_equal(cb_crystal_prop(c, "source"), "canonical");
    assert_null(cb_crystal_prop(c, "cif"));
    assert_null(cb_crystal_prop(c, "material_id"));
    assert_null(cb_crystal_prop(c, "")); /* the index column is dropped */
    assert_int_equal(c->n_props, 7);
    cb_dataset_free(&ds);

    struct {
        const char *file, *id;
        int n, z0;
        double a, f00;
    } more[] = {
        {"perov_5/test.csv", "3961", 5, 22, 4.0563216, 0.60921094},
        {"carbon_24/test.csv", "C-13927-8536-14", 10, 6, 2.48771, 0.86007107},
        {"mpts_52/test.csv", "mp-31117", 20, 60, 5.609458, 0.984479},
        {"samples/cdvae_mp20_metastable.csv", "0", 12, 60, 3.79821018, 0.62688305}, /* id = index */
        {"mp_20/val.csv", "mp-865981", 4, 69, 5.0488004, 0.0},
    };
    for (size_t i = 0; i < sizeof more / sizeof *more; i++) {
        const char *pth = cb_test_data_file(more[i].file);
        if (!pth) skip();
        read_some(pth, 1, &ds);
        c = &ds.items[0];
        assert_string_equal(c->id, more[i].id);
        assert_int_equal(c->n, more[i].n);
        assert_int_equal(c->z[0], more[i].z0);
        cb_lattice_parameters(c->lattice, p);
        assert_near(p[0], more[i].a, 1e-9);
        assert_near(c->frac[0][0], more[i].f00, 1e-12);
        cb_dataset_free(&ds);
    }
}

/* `data stats` must take under 2 s with CIF parsing and spglib: reading is a fraction. */
static void test_read_speed(void **state)
{
    (void)state;
    const char *path = cb_test_data_file("mp_20/test.csv");
    if (!path) skip();
    double t0 = cb_now();
    cb_dataset ds;
    cb_error e;
    if (cb_dataset_load(path, CB_FORMAT_AUTO, &ds, &e)) fail_msg("%s", e.msg);
    double dt = cb_now() - t0;
    print_message("cb_dataset_load(mp_20/test.csv): %zu crystals in %.3f s\n", ds.n, dt);
    size_t n = ds.n;
    cb_dataset_free(&ds);
    assert_int_equal(n, 9046);
    /* Timing means something only in an optimized build outside valgrind and sanitizers. */
    const char *preload = getenv("LD_PRELOAD");
    int instrumented = preload && strstr(preload, "valgrind");
#if !defined(__OPTIMIZE__) || defined(__SANITIZE_ADDRESS__)
    instrumented = 1;
#endif
    if (!instrumented) assert_true(dt < 1.0);
}

/* ------------------------------------------------------------------ round trips */

static void gzip_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    assert_non_null(in);
    gzFile out = gzopen(dst, "wb6");
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(gzwrite(out, buf, (unsigned)n), (int)n);
    fclose(in);
    assert_int_equal(gzclose(out), Z_OK);
}

static void round_trip(const char *relpath, size_t limit)
{
    const char *p = cb_test_data_file(relpath);
    if (!p) skip();
    char *src = strdup(p);
    char *tmp = cb_test_tmpdir();
    char *dir = join(tmp, "cifs"), *xyz = join(tmp, "all.xyz"), *csv = join(tmp, "back.csv"),
         *gz = join(tmp, "back.csv.gz");
    cb_dataset a, b, c, d, g;
    cb_error e;
    read_some(src, limit, &a);
    if (cb_dataset_write(dir, CB_FORMAT_CIF_DIR, a.items, a.n, &e)) fail_msg("%s", e.msg);
    if (cb_dataset_load(dir, CB_FORMAT_AUTO, &b, &e)) fail_msg("%s", e.msg);
    assert_same_crystals(&a, &b, 1e-8, 1);
    if (cb_dataset_write(xyz, CB_FORMAT_AUTO, b.items, b.n, &e)) fail_msg("%s", e.msg);
    if (cb_dataset_load(xyz, CB_FORMAT_AUTO, &c, &e)) fail_msg("%s", e.msg);
    assert_same_crystals(&b, &c, 1e-10, 1); /* extxyz itself is exact to 1e-12 Å */
    assert_same_crystals(&a, &c, 1e-8, 1);
    if (cb_dataset_write(csv, CB_FORMAT_AUTO, c.items, c.n, &e)) fail_msg("%s", e.msg);
    if (cb_dataset_load(csv, CB_FORMAT_AUTO, &d, &e)) fail_msg("%s", e.msg);
    assert_same_crystals(&a, &d, 1e-8, 1);
    /* compressed output reads back the same */
    if (cb_dataset_write(gz, CB_FORMAT_AUTO, a.items, a.n, &e)) fail_msg("%s", e.msg);
    if (cb_dataset_load(gz, CB_FORMAT_AUTO, &g, &e)) fail_msg("%s", e.msg);
    assert_same_crystals(&a, &g, 1e-8, 1);
    /* the CSV writer keeps the props of the first crystal as columns */
    for (int i = 0; i < a.items[0].n_props; i++)
        assert_string_equal(cb_crystal_prop(&g.items[0], a.items[0].props[i].name), a.items[0].props[i].value);
    struct stat st;
    assert_int_equal(stat(xyz, &st), 0);
    char *tmpname = join(tmp, "all.xyz.tmp");
    assert_int_not_equal(stat(tmpname, &st), 0); /* renamed into place */
    free(tmpname);
    cb_dataset_free(&a);
    cb_dataset_free(&b);
    cb_dataset_free(&c);
    cb_dataset_free(&d);
    cb_dataset_free(&g);
    cb_test_rmtree(tmp);
    free(tmp);
    free(dir);
    free(xyz);
    free(csv);
    free(gz);
    free(src);
}

static void test_round_trip_mp20(void **state)
{
    (void)state;
    round_trip("mp_20/test.csv", 300);
}

static void test_round_trip_carbon(void **state)
{
    (void)state;
    round_trip("carbon_24/test.csv", 100); /* triclinic cells */
}

static void test_gz_reads_as_plain(void **state)
{
    (void)state;
    const char *p = cb_test_data_file("perov_5/test.csv");
    if (!p) skip();
    char *src = strdup(p);
    char *tmp = cb_test_tmpdir();
    char *gz = join(tmp, "perov.csv.gz");
    gzip_file(src, gz);
    cb_dataset a, b;
    cb_error e;
    if (cb_dataset_load(src, CB_FORMAT_AUTO, &a, &e)) fail_msg("%s", e.msg);
    if (cb_dataset_load(gz, CB_FORMAT_AUTO, &b, &e)) fail_msg("%s", e.msg);
    assert_same_crystals(&a, &b, 0.0, 1);
    for (size_t k = 0; k < a.n; k++) {
        assert_int_equal(a.items[k].n_props, b.items[k].n_props);
        for (int i = 0; i < a.items[k].n_props; i++)
            assert_string_equal(a.items[k].props[i].value, b.items[k].props[i].value);
    }
    cb_dataset_free(&a);
    cb_dataset_free(&b);
    cb_test_rmtree(tmp);
    free(tmp);
    free(gz);
    free(src);
}

/* ------------------------------------------------------------------ malformed inputs */

static void test_malformed_files(void **state)
{
    (void)state;
    FILE *f = fopen(MALFORMED "/csv.tsv", "r");
    assert_non_null(f);
    char line[1024];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        char *name = strtok(line, "\t"), *sub = strtok(NULL, "\t"), *status = strtok(NULL, "\t");
        assert_non_null(status);
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", MALFORMED, name);
        cb_dataset ds;
        cb_error e;
        memset(&e, 0, sizeof e);
        int rc = cb_dataset_load(path, CB_FORMAT_AUTO, &ds, &e);
        print_message("%-28s %-16s %s\n", name, cb_status_name(rc), e.msg);
        if (rc == CB_OK) fail_msg("%s: loaded without error", path);
        if (strcmp(cb_status_name(rc), status)) fail_msg("%s: %s, expected %s", path, cb_status_name(rc), status);
        if (!strstr(e.msg, sub)) fail_msg("%s: message lacks '%s': %s", path, sub, e.msg);
        assert_good_message(&e, path);
        assert_null(ds.items);
        cases++;
    }
    fclose(f);
    assert_true(cases >= 8);
}

/* A bad record does not stop the reader; a stream error ends it. */
static void expect_sequence(const char *name, const int *codes, int n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", MALFORMED, name);
    cb_reader *r;
    cb_error e;
    if (cb_reader_open(path, CB_FORMAT_AUTO, &r, &e)) fail_msg("%s", e.msg);
    for (int i = 0; i < n; i++) {
        cb_crystal c;
        int rc = cb_reader_next(r, &c, &e);
        if (rc != codes[i]) fail_msg("%s record %d: %s, expected %s (%s)", name, i + 1, cb_status_name(rc),
                                     cb_status_name(codes[i]), rc ? e.msg : "");
        if (rc == CB_OK) cb_crystal_free(&c);
        else if (rc != CB_ERR_EOF) assert_good_message(&e, path);
        /* an empty crystal is left on error */
        if (rc) assert_null(c.z);
    }
    cb_reader_close(r);
}

static void test_reader_recovers_or_stops(void **state)
{
    (void)state;
    const int bad_middle[] = {CB_OK, CB_ERR_PARSE, CB_OK, CB_ERR_EOF, CB_ERR_EOF};
    expect_sequence("bad_cif_row.csv", bad_middle, 5);
    expect_sequence("wrong_field_count.csv", bad_middle, 5);
    expect_sequence("stray_quote.csv", bad_middle, 5);
    const int stream_end[] = {CB_OK, CB_ERR_PARSE, CB_ERR_EOF, CB_ERR_EOF};
    expect_sequence("unterminated_quote.csv", stream_end, 4);
    expect_sequence("truncated_frame.xyz", stream_end, 4);
    expect_sequence("bad_count.xyz", stream_end, 4);
    const int frame_error[] = {CB_OK, CB_ERR_INVALID, CB_ERR_EOF};
    expect_sequence("unknown_species.xyz", frame_error, 3);

    /* the truncated gzip gives its complete rows, then one error, then the end */
    cb_reader *r;
    cb_error e;
    assert_int_equal(cb_reader_open(MALFORMED "/truncated.csv.gz", CB_FORMAT_AUTO, &r, &e), CB_OK);
    cb_crystal c;
    int rc, ok = 0;
    while ((rc = cb_reader_next(r, &c, &e)) == CB_OK) {
        ok++;
        cb_crystal_free(&c);
    }
    assert_int_equal(rc, CB_ERR_IO);
    assert_true(ok > 0 && ok < 20);
    assert_int_equal(cb_reader_next(r, &c, &e), CB_ERR_EOF);
    cb_reader_close(r);
}

/* ------------------------------------------------------------------ extxyz */

static void test_extxyz_frames(void **state)
{
    (void)state;
    cb_dataset ds;
    cb_error e;
    if (cb_dataset_load("tests/data/xyz/frames.xyz", CB_FORMAT_AUTO, &ds, &e)) fail_msg("%s", e.msg);
    assert_int_equal(ds.n, 3);
    const cb_crystal *a = &ds.items[0], *b = &ds.items[1], *c = &ds.items[2];
    assert_string_equal(a->id, "nacl-1");
    assert_string_equal(cb_crystal_prop(a, "energy"), "-3.5");
    assert_string_equal(cb_crystal_prop(a, "note"), "two words");
    assert_null(cb_crystal_prop(a, "pbc"));
    assert_int_equal(a->z[0], 11);
    assert_int_equal(a->z[1], 17);
    assert_near(a->frac[1][0], 0.5, 1e-15);
    /* frame 2: species and pos found by Properties, other columns skipped by width */
    assert_string_equal(b->id, "2");
    assert_int_equal(b->n, 3);
    assert_int_equal(b->z[0], 8);
    assert_int_equal(b->z[2], 26);
    const double want[3][3] = {{0.0, 0.0, 0.0}, {1.0 / 3, 1.0 / 3, 0.5}, {2.0 / 3, 2.0 / 3, 0.25}};
    for (int s = 0; s < 3; s++)
        for (int j = 0; j < 3; j++) assert_near(b->frac[s][j], want[s][j], 1e-12);
    assert_near(b->lattice[1][1], 2.598076211353316, 0);
    assert_string_equal(cb_crystal_prop(b, "escaped"), "a \"quoted\" word");
    assert_string_equal(cb_crystal_prop(b, "is_relaxed"), "T");
    assert_string_equal(cb_crystal_prop(b, "tag"), "x");
    /* frame 3: CRLF, default Properties */
    assert_int_equal(c->z[0], 29);
    assert_near(c->frac[0][2], 0.5, 1e-15);

    /* props survive an extxyz round trip, awkward values quoted or left out */
    cb_crystal x;
    assert_int_equal(cb_crystal_copy(&x, a, &e), CB_OK);
    assert_int_equal(cb_crystal_add_prop(&x, "quote", "say \"hi\" \\ there", &e), CB_OK);
    assert_int_equal(cb_crystal_add_prop(&x, "empty", "", &e), CB_OK);
    assert_int_equal(cb_crystal_add_prop(&x, "bad key", "dropped", &e), CB_OK);
    assert_int_equal(cb_crystal_add_prop(&x, "multi", "two\nlines", &e), CB_OK);
    assert_int_equal(cb_crystal_set_id(&x, "id with spaces", &e), CB_OK);
    char *tmp = cb_test_tmpdir();
    char *out = join(tmp, "x.extxyz.gz");
    assert_int_equal(cb_dataset_write(out, CB_FORMAT_AUTO, &x, 1, &e), CB_OK);
    cb_dataset back;
    if (cb_dataset_load(out, CB_FORMAT_AUTO, &back, &e)) fail_msg("%s", e.msg);
    assert_int_equal(back.n, 1);
    assert_string_equal(back.items[0].id, "id with spaces");
    assert_string_equal(cb_crystal_prop(&back.items[0], "quote"), "say \"hi\" \\ there");
    assert_string_equal(cb_crystal_prop(&back.items[0], "empty"), "");
    assert_string_equal(cb_crystal_prop(&back.items[0], "note"), "two words");
    assert_null(cb_crystal_prop(&back.items[0], "bad key"));
    assert_null(cb_crystal_prop(&back.items[0], "multi"));
    cb_dataset_free(&back);
    cb_crystal_free(&x);
    cb_dataset_free(&ds);
    cb_test_rmtree(tmp);
    free(tmp);
    free(out);
}

/* ------------------------------------------------------------------ CSV layout quirks */

static const char *CUNI =
    "data_CuNi\n_cell_length_a 2.44746156\n_cell_length_b 2.44746210\n_cell_length_c 4.14065300\n"
    "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 115.28643781\n"
    "_symmetry_space_group_name_H-M 'P 1'\nloop_\n_atom_site_type_symbol\n_atom_site_label\n"
    "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n"
    "Cu Cu0 0.5 0.5 0.5 1\nNi Ni1 0 0 0 1\n";

static void test_csv_layout_variants(void **state)
{
    (void)state;
    char *tmp = cb_test_tmpdir();
    char *p = join(tmp, "v.csv");
    size_t cap = 8192;
    char *text = malloc(cap);
    cb_dataset ds;
    cb_error e;

    /* BOM, CRLF, blank lines, cif first, no material_id: the index column gives the id;
     * an extra unnamed column is named as pandas names it. */
    char *crlf = malloc(cap);
    size_t w = 0;
    for (const char *s = CUNI; *s; s++) {
        if (*s == '\n') crlf[w++] = '\r';
        crlf[w++] = *s;
    }
    crlf[w] = '\0';
    snprintf(text, cap, "\xEF\xBB\xBF" "cif,,x,\r\n\"%s\",7,1,a\r\n\r\n\"%s\",8,2,b\r\n", crlf, crlf);
    write_text(p, text);
    if (cb_dataset_load(p, CB_FORMAT_AUTO, &ds, &e)) fail_msg("%s", e.msg);
    assert_int_equal(ds.n, 2);
    assert_string_equal(ds.items[0].id, "7");
    assert_string_equal(ds.items[1].id, "8");
    assert_string_equal(cb_crystal_prop(&ds.items[1], "x"), "2");
    assert_string_equal(cb_crystal_prop(&ds.items[1], "Unnamed: 3"), "b");
    assert_int_equal(ds.items[0].z[0], 29);
    cb_dataset_free(&ds);

    /* no index and no material_id: the row number; an empty material_id falls back too */
    snprintf(text, cap, "material_id,cif\n,\"%s\"\nmp-9,\"%s\"", CUNI, CUNI);
    write_text(p, text);
    if (cb_dataset_load(p, CB_FORMAT_AUTO, &ds, &e)) fail_msg("%s", e.msg);
    assert_int_equal(ds.n, 2);
    assert_string_equal(ds.items[0].id, "1");
    assert_string_equal(ds.items[1].id, "mp-9");
    cb_dataset_free(&ds);

    /* header only: an empty dataset, not an error */
    write_text(p, ",material_id,cif\n");
    assert_int_equal(cb_dataset_load(p, CB_FORMAT_AUTO, &ds, &e), CB_OK);
    assert_int_equal(ds.n, 0);
    cb_dataset_free(&ds);

    free(crlf);
    free(text);
    free(p);
    cb_test_rmtree(tmp);
    free(tmp);
}

/* ------------------------------------------------------------------ CIF files */

static void test_cif_folder_and_file(void **state)
{
    (void)state;
    cb_error e;
    cb_crystal c;
    assert_int_equal(cb_cif_parse_one(CUNI, strlen(CUNI), "CUNI", &c, &e), CB_OK);
    cb_crystal_free(&c);
    char *tmp = cb_test_tmpdir();
    char *dir = join(tmp, "in");
    assert_int_equal(mkdir(dir, 0777), 0);
    char *two = join(dir, "b_two.cif"), *one = join(dir, "a_one.CIF"), *junk = join(dir, "notes.txt");
    char *blk = malloc(strlen(CUNI) * 2 + 64);
    sprintf(blk, "%s\n%s", CUNI, CUNI);
    /* second block renamed so the two differ */
    char *second = strstr(blk + 1, "data_CuNi");
    memcpy(second, "data_CuNz", 9);
    write_text(two, blk);
    write_text(one, CUNI);
    write_text(junk, "not a cif");

    cb_dataset ds;
    if (cb_dataset_load(dir, CB_FORMAT_AUTO, &ds, &e)) fail_msg("%s", e.msg);
    assert_int_equal(ds.n, 3);
    assert_string_equal(ds.items[0].id, "a_one");
    assert_string_equal(ds.items[1].id, "b_two:CuNi");
    assert_string_equal(ds.items[2].id, "b_two:CuNz");
    cb_dataset_free(&ds);

    /* one .cif file: a crystal per block, named by block */
    if (cb_dataset_load(two, CB_FORMAT_AUTO, &ds, &e)) fail_msg("%s", e.msg);
    assert_int_equal(ds.n, 2);
    assert_string_equal(ds.items[1].id, "CuNz");
    cb_dataset_free(&ds);

    /* a broken file is one bad record naming the file; the folder goes on */
    write_text(one, "data_x\n_cell_length_a 'unterminated\n");
    cb_reader *r;
    assert_int_equal(cb_reader_open(dir, CB_FORMAT_CIF_DIR, &r, &e), CB_OK);
    assert_int_not_equal(cb_reader_next(r, &c, &e), CB_OK);
    assert_good_message(&e, one);
    assert_int_equal(cb_reader_record(r), 1);
    assert_int_equal(cb_reader_next(r, &c, &e), CB_OK);
    assert_int_equal(cb_reader_record(r), 2);
    cb_crystal_free(&c);
    cb_reader_close(r);

    /* writer: ids sanitized, order kept, the .cif writer keeps ids as block names */
    assert_int_equal(cb_cif_parse_one(CUNI, strlen(CUNI), "CUNI", &c, &e), CB_OK);
    cb_crystal items[12];
    for (int i = 0; i < 12; i++) {
        assert_int_equal(cb_crystal_copy(&items[i], &c, &e), CB_OK);
        char id[32];
        snprintf(id, sizeof id, i == 3 ? "we/ird id %d" : "x-%d", i);
        assert_int_equal(cb_crystal_set_id(&items[i], id, &e), CB_OK);
    }
    char *out = join(tmp, "out");
    assert_int_equal(cb_dataset_write(out, CB_FORMAT_CIF_DIR, items, 12, &e), CB_OK);
    char *f3 = join(out, "03_we_ird_id_3.cif");
    struct stat st;
    assert_int_equal(stat(f3, &st), 0);
    if (cb_dataset_load(out, CB_FORMAT_AUTO, &ds, &e)) fail_msg("%s", e.msg);
    assert_int_equal(ds.n, 12);
    assert_string_equal(ds.items[11].id, "x-11");
    assert_string_equal(ds.items[3].id, "we_ird_id_3");
    cb_dataset_free(&ds);
    /* rewriting replaces our own output ... */
    assert_int_equal(cb_dataset_write(out, CB_FORMAT_CIF_DIR, items, 2, &e), CB_OK);
    if (cb_dataset_load(out, CB_FORMAT_AUTO, &ds, &e)) fail_msg("%s", e.msg);
    assert_int_equal(ds.n, 2);
    assert_string_equal(ds.items[1].id, "x-1");
    cb_dataset_free(&ds);
    /* ... but never a folder holding other files */
    assert_int_equal(cb_dataset_write(dir, CB_FORMAT_CIF_DIR, items, 2, &e), CB_ERR_IO);
    assert_good_message(&e, dir);
    assert_int_equal(stat(junk, &st), 0);

    char *single = join(tmp, "all.cif");
    assert_int_equal(cb_dataset_write(single, CB_FORMAT_AUTO, items, 12, &e), CB_OK);
    if (cb_dataset_load(single, CB_FORMAT_AUTO, &ds, &e)) fail_msg("%s", e.msg);
    assert_int_equal(ds.n, 12);
    assert_string_equal(ds.items[0].id, "x-0");
    cb_dataset_free(&ds);

    for (int i = 0; i < 12; i++) cb_crystal_free(&items[i]);
    cb_crystal_free(&c);
    free(single);
    free(f3);
    free(out);
    free(blk);
    free(two);
    free(one);
    free(junk);
    free(dir);
    cb_test_rmtree(tmp);
    free(tmp);
}

static void test_dataset_push_and_write_errors(void **state)
{
    (void)state;
    cb_error e;
    cb_crystal c;
    assert_int_equal(cb_cif_parse_one(CUNI, strlen(CUNI), "CUNI", &c, &e), CB_OK);
    assert_int_equal(cb_crystal_add_prop(&c, "k", "v", &e), CB_OK);
    cb_dataset ds = {0};
    for (int i = 0; i < 100; i++) assert_int_equal(cb_dataset_push(&ds, &c, &e), CB_OK);
    assert_int_equal(ds.n, 100);
    assert_string_equal(cb_crystal_prop(&ds.items[99], "k"), "v");
    assert_ptr_not_equal(ds.items[99].z, c.z);
    assert_int_equal(cb_dataset_write("/nonexistent-dir/x.csv", CB_FORMAT_AUTO, ds.items, ds.n, &e),
                     CB_ERR_IO);
    assert_good_message(&e, "/nonexistent-dir/x.csv");
    assert_int_equal(cb_dataset_write("x.unknown", CB_FORMAT_AUTO, ds.items, ds.n, &e), CB_ERR_USAGE);
    cb_dataset_free(&ds);
    cb_dataset_free(&ds); /* freeing twice is harmless */
    cb_crystal_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_names_and_guess),
        cmocka_unit_test(test_every_shared_csv_row_parses),
        cmocka_unit_test(test_spot_values),
        cmocka_unit_test(test_read_speed),
        cmocka_unit_test(test_round_trip_mp20),
        cmocka_unit_test(test_round_trip_carbon),
        cmocka_unit_test(test_gz_reads_as_plain),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_reader_recovers_or_stops),
        cmocka_unit_test(test_extxyz_frames),
        cmocka_unit_test(test_csv_layout_variants),
        cmocka_unit_test(test_cif_folder_and_file),
        cmocka_unit_test(test_dataset_push_and_write_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
