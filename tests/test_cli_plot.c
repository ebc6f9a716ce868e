/* crystalbench plot as a user runs it, on a store built through the store API with
 * known values: two DNG runs (density, num_elems, the test set's, metrics), one CSP run
 * (rms with NaN = unmatched targets), one run with a training log.  The data files
 * must hold exactly the histogram counts worked out by hand below (so a wrong binning
 * fails), the SVGs must be whole and carry the axis labels and model names, and
 * without gnuplot the data and scripts must still be written.  The parts that draw are
 * skipped, with the reason, when gnuplot is not installed. */
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

#include "crystalbench/store.h"
#include "testutil.h"

static char g_db[4096];

static int have_gnuplot(void)
{
    int st;
    char *out = cb_test_runf(&st, "command -v gnuplot >/dev/null 2>&1");
    free(out);
    if (st != 0) printf("SKIP: gnuplot is not installed (apt-get install gnuplot-nox): nothing is drawn\n");
    return st == 0;
}

static int exists(const char *dir, const char *name)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat sb;
    return stat(path, &sb) == 0;
}

static char *read_in(const char *dir, const char *name)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = cb_test_read_file(path, NULL);
    if (!text) fail_msg("cannot read %s", path);
    return text;
}

/* ---- the store ---- */

static int64_t begin(cb_store *s, const char *model, const char *task, const char *dataset, const char *split)
{
    cb_run_info ri = {.model = model, .task = task, .dataset = dataset, .split = split, .git_rev = "test"};
    int64_t id;
    assert_int_equal(cb_store_begin_run(s, &ri, &id, NULL), CB_OK);
    return id;
}

static void put(cb_store *s, int64_t id, const char *name, const double *v, size_t n)
{
    assert_int_equal(cb_store_put_series(s, id, name, v, n, NULL), CB_OK);
}

/* The test set, shared by both DNG runs. */
static const double ref_density[] = {2.0, 3.0, 3.0, 4.0, 5.0, 6.0};
static const double ref_elems[] = {1, 2, 3, 3, 3, 4};

static void build_store(void)
{
    snprintf(g_db, sizeof g_db, "%s/runs.db", cb_test_scratch());
    cb_store *s;
    assert_int_equal(cb_store_open(g_db, &s, NULL), CB_OK);

    /* Run 1: cdvae, DNG on mp_20. */
    int64_t id = begin(s, "cdvae", "dng", "mp_20", NULL);
    const double d1[] = {1.0, 2.2, 2.3, NAN, 3.1}, e1[] = {1, 2, 2, 3};
    put(s, id, "density", d1, 5);
    put(s, id, "num_elems", e1, 4);
    put(s, id, "ref_density", ref_density, 6);
    put(s, id, "ref_num_elems", ref_elems, 6);
    const char *mn[] = {"comp_valid", "struct_valid", "cov_recall", "cov_precision", "wdist_density"};
    const double mv1[] = {0.9, 0.95, 0.5, 0.75, 0.1};
    assert_int_equal(cb_store_finish_run_with_metrics(s, id, mn, mv1, 5, NULL), CB_OK);

    /* Run 2: llama2, DNG on mp_20, no cov_precision; 30.0 lies past the upper end. */
    id = begin(s, "llama2", "dng", "mp_20", NULL);
    const double d2[] = {0.5, 8.0, 8.0, 30.0}, e2[] = {2, 2, 2, 5};
    put(s, id, "density", d2, 4);
    put(s, id, "num_elems", e2, 4);
    put(s, id, "ref_density", ref_density, 6);
    put(s, id, "ref_num_elems", ref_elems, 6);
    const double mv2[] = {0.8, 0.85, 0.4};
    assert_int_equal(cb_store_finish_run_with_metrics(s, id, mn, mv2, 3, NULL), CB_OK);

    /* Run 3: flowmm, CSP on perov_5: 5 of 7 targets matched. */
    id = begin(s, "flowmm", "csp", "perov_5", NULL);
    const double rms[] = {0.015, 0.025, 0.125, 0.305, NAN, NAN, 0.0251};
    put(s, id, "rms", rms, 7);
    const char *cn[] = {"match_rate"};
    const double cv[] = {5.0 / 7.0};
    assert_int_equal(cb_store_finish_run_with_metrics(s, id, cn, cv, 1, NULL), CB_OK);

    /* Run 4: flowmm training on mp_20 with a training log (and no series). */
    id = begin(s, "flowmm", "dng", "mp_20", "val-minus-10%");
    for (int step = 0; step <= 1000; step += 100) {
        const char *ln[] = {"loss", "val_loss"};
        const double lv[] = {1.0 / (1 + step), 2.0 / (1 + step)};
        assert_int_equal(cb_store_log_train(s, id, step, ln, lv, 2, NULL), CB_OK);
    }
    assert_int_equal(cb_store_finish_run(s, id, NULL), CB_OK);

    /* Run 5: a baseline fitted in one pass logs a single step: no training figure. */
    id = begin(s, "random", "dng", "perov_5", "val-minus-10%");
    const char *one[] = {"val_nll"};
    const double onev[] = {2.5};
    assert_int_equal(cb_store_log_train(s, id, 0, one, onev, 1, NULL), CB_OK);
    assert_int_equal(cb_store_finish_run(s, id, NULL), CB_OK);
    cb_store_close(s);
}

static int setup(void **state)
{
    if (cb_test_scratch_setup(state)) return -1;
    build_store();
    return 0;
}

/* ---- data files ---- */

/* The numeric rows of a data file (comment lines skipped): rows × cols doubles, with
 * "NaN" read as NaN and a leading word (the metric name) skipped. */
static size_t read_rows(const char *text, double *out, size_t cols, size_t max_rows)
{
    size_t r = 0;
    for (const char *line = text; *line && r < max_rows;) {
        const char *nl = strchr(line, '\n');
        if (*line != '#' && *line != '\n') {
            const char *c = line;
            if (*c >= 'a' && *c <= 'z') /* a metric's name */
                while (*c && *c != ' ') c++;
            for (size_t k = 0; k < cols; k++) {
                char *end;
                out[r * cols + k] = strtod(c, &end);
                if (end == c) fail_msg("data row %zu has fewer than %zu columns: %.80s", r, cols, line);
                c = end;
            }
            r++;
        }
        if (!nl) break;
        line = nl + 1;
    }
    return r;
}

static void expect_counts(const double *rows, size_t n_rows, size_t cols, size_t col, const size_t *bins,
                          const size_t *counts, size_t n, const char *what)
{
    for (size_t b = 0; b < n_rows; b++) {
        size_t want = 0;
        for (size_t i = 0; i < n; i++)
            if (bins[i] == b) want = counts[i];
        if (rows[b * cols + col] != (double)want)
            fail_msg("%s: bin %zu holds %g, expected %zu", what, b, rows[b * cols + col], want);
    }
}

static void check_density_data(const char *dir)
{
    char *text = read_in(dir, "dng_density_mp_20.dat");
    /* The upper end: the largest 99.5 % quantile (linear interpolation) of the sets:
     * test set 5 + 0.975·1 = 5.975, cdvae 2.3 + 0.985·0.8 = 3.088, llama2 8 + 0.985·22
     * = 29.67; 60 bins of 0.4945.  Columns: lo hi mid, then count pdf of the test set,
     * cdvae (run 1), llama2 (run 2). */
    assert_non_null(strstr(text, "4 5 test set (n = 6, from run 1)"));
    assert_non_null(strstr(text, "6 7 cdvae (run 1, n = 4)"));
    assert_non_null(strstr(text, "8 9 llama2 (run 2, n = 4)"));
    double rows[61 * 9];
    size_t n = read_rows(text, rows, 9, 61);
    assert_int_equal(n, 60);
    assert_true(fabs(rows[59 * 9 + 1] - 29.67) < 1e-6);
    const double w = 29.67 / 60;
    assert_true(fabs(rows[1 * 9 + 0] - w) < 1e-6);
    /* test set: 2 → bin 4, 3 → 6 (twice), 4 → 8, 5 → 10, 6 → 12. */
    const size_t rb[] = {4, 6, 8, 10, 12}, rc[] = {1, 2, 1, 1, 1};
    expect_counts(rows, n, 9, 3, rb, rc, 5, "test set density");
    /* cdvae: 1.0 → 2, 2.2 and 2.3 → 4, 3.1 → 6; NaN nowhere. */
    const size_t cb[] = {2, 4, 6}, cc[] = {1, 2, 1};
    expect_counts(rows, n, 9, 5, cb, cc, 3, "cdvae density");
    /* llama2: 0.5 → 1, 8.0 → 16 (twice), 30.0 past the end. */
    const size_t lb[] = {1, 16}, lc[] = {1, 2};
    expect_counts(rows, n, 9, 7, lb, lc, 2, "llama2 density");
    /* pdf = count / (n · width), n = 4 finite values (30.0 included). */
    assert_true(fabs(rows[16 * 9 + 8] - 2 / (4 * w)) < 1e-6);
    assert_true(fabs(rows[4 * 9 + 4] - 1 / (6 * w)) < 1e-6);
    free(text);
}

static void check_num_elems_data(const char *dir)
{
    char *text = read_in(dir, "dng_num_elems_mp_20.dat");
    double rows[6 * 7];
    size_t n = read_rows(text, rows, 7, 6);
    assert_int_equal(n, 5); /* 1..5: the largest value */
    /* k, then count fraction of: test set, cdvae, llama2. */
    const double want[5][7] = {{1, 1, 1 / 6.0, 1, 0.25, 0, 0},
                               {2, 1, 1 / 6.0, 2, 0.5, 3, 0.75},
                               {3, 3, 0.5, 1, 0.25, 0, 0},
                               {4, 1, 1 / 6.0, 0, 0, 0, 0},
                               {5, 0, 0, 0, 0, 1, 0.25}};
    for (size_t r = 0; r < 5; r++)
        for (size_t c = 0; c < 7; c++)
            if (fabs(rows[r * 7 + c] - want[r][c]) > 1e-9)
                fail_msg("num_elems row %zu column %zu: %g, expected %g", r, c + 1, rows[r * 7 + c], want[r][c]);
    free(text);
}

static void check_metrics_data(const char *dir)
{
    char *text = read_in(dir, "dng_metrics_mp_20.dat");
    double rows[4 * 2];
    assert_int_equal(read_rows(text, rows, 2, 4), 4);
    const double want[4][2] = {{90, 80}, {95, 85}, {50, 40}, {75, NAN}};
    for (size_t r = 0; r < 4; r++)
        for (size_t c = 0; c < 2; c++)
            if (!(fabs(rows[r * 2 + c] - want[r][c]) < 1e-9) && !(isnan(want[r][c]) && isnan(rows[r * 2 + c])))
                fail_msg("metrics row %zu column %zu: %g, expected %g", r, c, rows[r * 2 + c], want[r][c]);
    assert_non_null(strstr(text, "\ncov_precision 75 NaN\n"));
    free(text);
}

static void check_rms_data(const char *dir)
{
    char *text = read_in(dir, "csp_rms_perov_5.dat");
    /* Largest 0.305 → upper end 0.5, 50 bins of 0.01; the two NaN are not counted. */
    assert_non_null(strstr(text, "flowmm (run 3, 5 of 7 targets matched)"));
    double rows[51 * 4];
    size_t n = read_rows(text, rows, 4, 51);
    assert_int_equal(n, 50);
    assert_true(fabs(rows[49 * 4 + 1] - 0.5) < 1e-12);
    const size_t b[] = {1, 2, 12, 30}, c[] = {1, 2, 1, 1};
    expect_counts(rows, n, 4, 3, b, c, 4, "rms");
    double total = 0;
    for (size_t r = 0; r < n; r++) total += rows[r * 4 + 3];
    assert_true(total == 5);
    free(text);
}

static void check_train_data(const char *dir, const char *name)
{
    char file[512];
    snprintf(file, sizeof file, "%s.dat", name);
    char *text = read_in(dir, file);
    assert_non_null(strstr(text, "# loss\n0 1\n100 "));
    assert_non_null(strstr(text, "\n\n\n# val_loss\n0 2\n"));
    free(text);
}

/* ---- images ---- */

static void check_svg(const char *dir, const char *name, const char *const *texts)
{
    char file[512];
    snprintf(file, sizeof file, "%s.svg", name);
    char *svg = read_in(dir, file);
    const char *start = svg;
    while (*start == ' ' || *start == '\n') start++;
    if (strncmp(start, "<?xml", 5) != 0 && strncmp(start, "<svg", 4) != 0) fail_msg("%s does not start as SVG", file);
    size_t len = strlen(svg);
    while (len > 0 && (svg[len - 1] == '\n' || svg[len - 1] == ' ' || svg[len - 1] == '\r')) len--;
    if (len < 6 || strncmp(svg + len - 6, "</svg>", 6) != 0) fail_msg("%s does not end with </svg>", file);
    for (const char *const *t = texts; *t; t++)
        if (!strstr(svg, *t)) fail_msg("%s lacks the text '%s'", file, *t);
    free(svg);
}

static const char train_name[] = "train_loss_flowmm_mp_20_dng_val-minus-10_";
static const char *const all_plots[] = {"dng_density_mp_20", "dng_num_elems_mp_20", "dng_metrics_mp_20",
                                        "csp_rms_perov_5", train_name};
#define N_PLOTS (sizeof all_plots / sizeof all_plots[0])

static void test_plot_svg(void **state)
{
    (void)state;
    int drawn = have_gnuplot();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/plots", cb_test_scratch());
    int st;
    char *out = cb_test_runf(&st, "%s plot --db '%s' --out '%s' --format svg 2>&1", cb_test_cli(), g_db, dir);
    printf("%s", out);
    if (!drawn) {
        assert_int_equal(st, 1);
    } else if (st != 0) {
        fail_msg("plot: exit %d", st);
    }
    /* One line per file written: data, script, image. */
    size_t lines = 0;
    for (const char *c = out; *c; c++) lines += *c == '\n';
    if (drawn) assert_int_equal(lines, 3 * N_PLOTS);
    free(out);
    for (size_t i = 0; i < N_PLOTS; i++) {
        char f[512];
        snprintf(f, sizeof f, "%s.dat", all_plots[i]);
        if (!exists(dir, f)) fail_msg("%s/%s was not written", dir, f);
        snprintf(f, sizeof f, "%s.gp", all_plots[i]);
        if (!exists(dir, f)) fail_msg("%s/%s was not written", dir, f);
        snprintf(f, sizeof f, "%s.png", all_plots[i]);
        if (exists(dir, f)) fail_msg("%s/%s written with --format svg", dir, f);
    }
    check_density_data(dir);
    check_num_elems_data(dir);
    check_metrics_data(dir);
    check_rms_data(dir);
    check_train_data(dir, train_name);
    if (exists(dir, "train_loss_random_perov_5_dng_val-minus-10_.gp"))
        fail_msg("a one-step training log got a figure");
    if (!drawn) skip();

    const char *density[] = {"density (g/cm³)", "probability density", ">cdvae<", ">llama2<", ">n = 4<",
                             "samples", "test set", NULL};
    check_svg(dir, "dng_density_mp_20", density);
    const char *elems[] = {"number of elements", "fraction of structures", "cdvae", "llama2", NULL};
    check_svg(dir, "dng_num_elems_mp_20", elems);
    const char *metrics[] = {"cdvae", "llama2", "COV-R", "COV-P", "validity: composition", "90.0", NULL};
    check_svg(dir, "dng_metrics_mp_20", metrics);
    const char *rms[] = {"normalised RMS distance", "targets", ">flowmm<", "match rate 71.4 % (5 of 7)", NULL};
    check_svg(dir, "csp_rms_perov_5", rms);
    const char *train[] = {"step", "loss", "val_loss", "flowmm", NULL};
    check_svg(dir, train_name, train);

    /* A script redraws its plot from any directory. */
    out = cb_test_runf(&st, "cd / && gnuplot '%s/%s.gp' 2>&1", dir, all_plots[0]);
    if (st != 0) fail_msg("gnuplot %s.gp from /: exit %d\n%s", all_plots[0], st, out);
    free(out);
}

/* Both formats by default; --run and --dataset choose the runs. */
static void test_selection(void **state)
{
    (void)state;
    if (!have_gnuplot()) skip();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/sel", cb_test_scratch());
    int st;
    char *out = cb_test_runf(&st, "%s plot --db '%s' --out '%s' --run 3 2>&1", cb_test_cli(), g_db, dir);
    if (st != 0) fail_msg("plot --run 3: exit %d\n%s", st, out);
    free(out);
    assert_true(exists(dir, "csp_rms_perov_5.png") && exists(dir, "csp_rms_perov_5.svg"));
    assert_false(exists(dir, "dng_density_mp_20.gp"));
    char *png = read_in(dir, "csp_rms_perov_5.png");
    assert_int_equal(memcmp(png, "\x89PNG", 4), 0);
    free(png);

    snprintf(dir, sizeof dir, "%s/ds", cb_test_scratch());
    out = cb_test_runf(&st, "%s plot --db '%s' --out '%s' --dataset mp_20 --format png 2>&1", cb_test_cli(), g_db,
                       dir);
    if (st != 0) fail_msg("plot --dataset mp_20: exit %d\n%s", st, out);
    free(out);
    assert_true(exists(dir, "dng_density_mp_20.png"));
    assert_false(exists(dir, "csp_rms_perov_5.gp"));

    out = cb_test_runf(&st, "%s plot --db '%s' --out '%s' --run 99 2>&1", cb_test_cli(), g_db, dir);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "no run 99"));
    free(out);
}

/* gnuplot missing or failing: exit 1 with a message naming it; data and scripts stay. */
static void test_without_gnuplot(void **state)
{
    (void)state;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/nognuplot", cb_test_scratch());
    int st;
    char *out = cb_test_runf(&st, "CB_GNUPLOT=/nonexistent %s plot --db '%s' --out '%s' 2>&1", cb_test_cli(), g_db, dir);
    assert_int_equal(st, 1);
    if (!strstr(out, "gnuplot not found (apt-get install gnuplot-nox); data and scripts written to"))
        fail_msg("no 'gnuplot not found' message:\n%s", out);
    free(out);
    for (size_t i = 0; i < N_PLOTS; i++) {
        char f[512];
        snprintf(f, sizeof f, "%s.gp", all_plots[i]);
        if (!exists(dir, f)) fail_msg("%s/%s was not written without gnuplot", dir, f);
        snprintf(f, sizeof f, "%s.svg", all_plots[i]);
        assert_false(exists(dir, f));
    }
    out = cb_test_runf(&st, "CB_GNUPLOT=/bin/false %s plot --db '%s' --out '%s' 2>&1", cb_test_cli(), g_db, dir);
    assert_int_equal(st, 1);
    if (!strstr(out, "gnuplot failed on ") || !strstr(out, "dng_density_mp_20.gp"))
        fail_msg("no 'gnuplot failed on <script>' message:\n%s", out);
    free(out);
}

static void test_usage_and_errors(void **state)
{
    (void)state;
    const char *cli = cb_test_cli();
    int st;
    char *out = cb_test_runf(&st, "%s plot --help", cli);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "usage: crystalbench plot"));
    free(out);
    const char *bad[] = {"plot --bogus", "plot --format jpg", "plot --run x", "plot --run 0",
                         "plot extra",   "plot --out",        "plot --out ''"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = cb_test_runf(&st, "%s %s 2>&1", cli, bad[i]);
        if (st != 2) fail_msg("'crystalbench %s' exited %d, expected 2:\n%s", bad[i], st, out);
        free(out);
    }
    /* A missing store is an error naming it, and is not created. */
    out = cb_test_runf(&st, "%s plot --db '%s/none.db' --out '%s/x' 2>&1", cli, cb_test_scratch(), cb_test_scratch());
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "none.db"));
    if (strchr(out, '\n') != strrchr(out, '\n')) fail_msg("the error is not one line:\n%s", out);
    free(out);
    assert_false(exists(cb_test_scratch(), "none.db"));
    /* $CB_DB is the default store. */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/env", cb_test_scratch());
    out = cb_test_runf(&st, "CB_DB='%s' CB_GNUPLOT=/nonexistent %s plot --out '%s' 2>&1", g_db, cli, dir);
    assert_int_equal(st, 1);
    free(out);
    assert_true(exists(dir, "csp_rms_perov_5.gp"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_and_errors),
        cmocka_unit_test(test_plot_svg),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_without_gnuplot),
    };
    return cmocka_run_group_tests(tests, setup, cb_test_scratch_teardown);
}
