/* crystalbench table as a user runs it, on a store built through the store API: DNG
 * runs of three models on mp_20 (one without COV-R), a model whose label needs
 * escaping on perov_5, CSP runs on two datasets (one with k = 20), a failed run, a
 * running one and an older run superseded by a newer one of the same key.  Checks
 * which cells are bold in Markdown, which runs make the rows (by default and with
 * --run), CSV values read back bit for bit, LaTeX and HTML structure and escaping,
 * the notes under the tables, --out, and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crystalbench/store.h"
#include "testutil.h"

/* ---- the fixture store ---- */

#define MAX_METRICS 8

typedef struct fixture_run {
    const char *model, *task, *dataset, *split;
    const char *names[MAX_METRICS];
    double values[MAX_METRICS];
    int64_t id;
} fixture_run;

/* Values chosen so that the best of each column is known; some are not exactly
 * representable at any short precision (1/3, 0.1 + 0.2) for the CSV round trip. */
static fixture_run g_runs[] = {
    /* 0: superseded by run 1 (same key, finished earlier); would be best if shown. */
    {"flowmm", "dng", "mp_20", NULL,
     {"comp_valid", "struct_valid", "cov_recall", "cov_precision", "wdist_density", "wdist_num_elems", "n_generated"},
     {0.97, 0.5, 0.99, 0.99, 0.01, 0.01, 10000}, 0},
    {"flowmm", "dng", "mp_20", NULL,
     {"comp_valid", "struct_valid", "cov_recall", "cov_precision", "wdist_density", "wdist_num_elems", "n_generated"},
     {0.95, 0.98, 0.8, 0.96, 0.3, 0.25, 1000}, 0},
    {"cdvae", "dng", "mp_20", NULL,
     {"comp_valid", "struct_valid", "cov_recall", "cov_precision", "wdist_density", "wdist_num_elems", "n_generated"},
     {0.9, 0.99, NAN, 0.95, 0.5, 1.0 / 3.0, 1000}, 0},
    {"textar", "dng", "mp_20", "val-minus-10%",
     {"comp_valid", "struct_valid", "cov_recall", "cov_precision", "wdist_density", "wdist_num_elems", "n_generated"},
     {0.85, 0.99, 0.7, 0.9, 0.6, 0.1, 500}, 0},
    {"a<&>b_{x}", "dng", "perov_5", NULL,
     {"comp_valid", "struct_valid", "cov_recall", "cov_precision", "wdist_density", "wdist_num_elems", "n_generated"},
     {0.1 + 0.2, 0.5, 0.25, 0.125, 2.5e-7, 1e300, 42}, 0},
    {"cdvae", "csp", "perov_5", NULL, {"match_rate", "rms_dist", "k"}, {0.45, 0.12, 1}, 0},
    {"cdvae", "csp", "mp_20", NULL, {"match_rate", "rms_dist", "k"}, {0.3, 0.05, 1}, 0},
    {"flowmm", "csp", "mp_20", NULL, {"match_rate", "rms_dist", "k"}, {0.6, 0.08, 20}, 0},
};
enum { N_RUNS = sizeof g_runs / sizeof g_runs[0], SUPERSEDED = 0 };
static int64_t g_failed_id, g_running_id;
static char g_db[1024];

static size_t n_metrics(const fixture_run *r)
{
    size_t n = 0;
    while (n < MAX_METRICS && r->names[n]) n++;
    return n;
}

static int setup(void **state)
{
    if (cb_test_scratch_setup(state)) return -1;
    snprintf(g_db, sizeof g_db, "%s/runs.db", cb_test_scratch());
    cb_store *s;
    cb_error err;
    if (cb_store_open(g_db, &s, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    for (size_t i = 0; i < N_RUNS; i++) {
        fixture_run *r = &g_runs[i];
        cb_run_info info = {.model = r->model, .task = r->task, .dataset = r->dataset, .split = r->split};
        if (cb_store_begin_run(s, &info, &r->id, &err) ||
            cb_store_finish_run_with_metrics(s, r->id, r->names, r->values, n_metrics(r), &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return -1;
        }
        if (i == SUPERSEDED) usleep(5000); /* its successor finishes strictly later */
    }
    /* A failed run with good-looking metrics, and one still running (this process is
     * alive, so opening the store leaves it running): neither may appear. */
    cb_run_info failed = {.model = "failedmodel", .task = "dng", .dataset = "mp_20"};
    cb_run_info running = {.model = "runningmodel", .task = "dng", .dataset = "mp_20"};
    if (cb_store_begin_run(s, &failed, &g_failed_id, &err) ||
        cb_store_put_metric(s, g_failed_id, "comp_valid", 1.0, &err) ||
        cb_store_fail_run(s, g_failed_id, "killed", &err) || cb_store_begin_run(s, &running, &g_running_id, &err) ||
        cb_store_put_metric(s, g_running_id, "comp_valid", 1.0, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    cb_store_close(s);
    return 0;
}

/* ---- running the command ---- */

/* stdout of `crystalbench table --db <fixture> ARGS`; the exit status must be want. */
static char *table(int want, const char *args_fmt, ...) __attribute__((format(printf, 2, 3)));
static char *table(int want, const char *args_fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, args_fmt);
    vsnprintf(args, sizeof args, args_fmt, ap);
    va_end(ap);
    int st;
    char *out = cb_test_runf(&st, "%s table --db %s %s", cb_test_cli(), g_db, args);
    if (st != want) fail_msg("table %s: exit %d, expected %d:\n%s", args, st, want, out);
    return out;
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* The text of the Markdown section starting at heading (up to the next heading), as
 * a malloc'd string; fails the test when absent. */
static char *md_section(const char *md, const char *heading)
{
    const char *p = strstr(md, heading);
    if (!p) fail_msg("no section '%s' in:\n%s", heading, md);
    const char *end = strstr(p + 1, "\n### ");
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char *s = malloc(n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

#define MAX_CELLS 16

/* The cells (trimmed) of the Markdown row whose first cell is label; returns the
 * count, or fails the test when there is no such row. */
static int md_row(const char *section, const char *label, char cells[MAX_CELLS][64])
{
    for (const char *line = section; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, "| ", 2) != 0) continue;
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        int n = 0;
        const char *c = line + 1;
        while (c < line + len && n < MAX_CELLS) {
            const char *bar = memchr(c, '|', (size_t)(line + len - c));
            if (!bar) break;
            while (*c == ' ') c++;
            const char *e = bar;
            while (e > c && e[-1] == ' ') e--;
            snprintf(cells[n], 64, "%.*s", (int)(e - c), c);
            n++;
            c = bar + 1;
        }
        if (n > 0 && strcmp(cells[0], label) == 0) return n;
    }
    fail_msg("no row '%s' in:\n%s", label, section);
    return 0;
}

/* ---- tests ---- */

static void test_md_best_cells(void **state)
{
    (void)state;
    char *out = table(0, "--format md");
    char *dng = md_section(out, "### DNG — mp_20");
    char c[MAX_CELLS][64];
    /* Header: grouped names with arrows, N last. */
    assert_int_equal(md_row(dng, "Model", c), 8);
    assert_string_equal(c[1], "Validity Comp. ↑ (%)");
    assert_string_equal(c[5], "Property distribution Density W₁ ↓ (g/cm³)");
    assert_string_equal(c[7], "N");
    /* Rows sorted by label; textar's split differs, so the labels carry note markers. */
    assert_int_equal(md_row(dng, "cdvae¹", c), 8);
    const char *cdvae[] = {"90.00", "**99.00**", "–", "95.00", "0.500", "0.333", "1000"};
    for (int i = 0; i < 7; i++) assert_string_equal(c[i + 1], cdvae[i]);
    md_row(dng, "flowmm¹", c);
    const char *flowmm[] = {"**95.00**", "98.00", "**80.00**", "**96.00**", "**0.300**", "0.250", "1000"};
    for (int i = 0; i < 7; i++) assert_string_equal(c[i + 1], flowmm[i]);
    md_row(dng, "textar²", c);
    const char *textar[] = {"85.00", "**99.00**", "70.00", "90.00", "0.600", "**0.100**", "500"};
    for (int i = 0; i < 7; i++) assert_string_equal(c[i + 1], textar[i]);
    /* Exactly those 7 bold cells (the tie on Struct. marked twice), nothing else. */
    assert_int_equal(count(dng, "**"), 2 * 7);
    /* The superseded, failed and running runs are absent. */
    assert_null(strstr(out, "97.00"));
    assert_null(strstr(out, "10000"));
    assert_null(strstr(out, "failedmodel"));
    assert_null(strstr(out, "runningmodel"));
    char id[32];
    snprintf(id, sizeof id, "#%lld ", (long long)g_runs[SUPERSEDED].id);
    assert_null(strstr(out, id));
    snprintf(id, sizeof id, "flowmm #%lld (", (long long)g_runs[1].id);
    assert_non_null(strstr(dng, id));
    /* Notes: one per split, and the run ids. */
    assert_non_null(strstr(dng, "\n¹ Trained on the dataset's standard training split.\n"));
    assert_non_null(strstr(dng, "\n² Trained on the published validation split minus a seeded 10% hold-out"));
    assert_non_null(strstr(dng, "evaluated on the published test split"));
    assert_int_equal(count(dng, "\nRuns: "), 1);
    free(dng);

    /* A one-row table: its cells may be marked, and a single note has no marker. */
    char *perov = md_section(out, "### DNG — perov_5");
    md_row(perov, "a\\<&\\>b\\_{x}", c);
    assert_string_equal(c[1], "**30.00**");
    assert_string_equal(c[5], "**0.000**");
    assert_string_equal(c[6], "**1.000e+300**");
    assert_non_null(strstr(perov, "\nTrained on the dataset's standard training split.\n"));
    free(perov);

    char *csp = md_section(out, "### CSP");
    assert_int_equal(md_row(csp, "Model", c), 5);
    assert_string_equal(c[1], "mp_20 Match rate ↑ (%)");
    assert_string_equal(c[2], "mp_20 RMSE ↓");
    assert_string_equal(c[3], "perov_5 Match rate ↑ (%)");
    /* cdvae has both datasets in one row; flowmm's k = 20 is in its label. */
    md_row(csp, "cdvae", c);
    const char *cdvae_csp[] = {"30.00", "**0.0500**", "**45.00**", "**0.1200**"};
    for (int i = 0; i < 4; i++) assert_string_equal(c[i + 1], cdvae_csp[i]);
    md_row(csp, "flowmm (k=20)", c);
    const char *flowmm_csp[] = {"**60.00**", "0.0800", "–", "–"};
    for (int i = 0; i < 4; i++) assert_string_equal(c[i + 1], flowmm_csp[i]);
    assert_int_equal(count(csp, "**"), 2 * 4);
    free(csp);
    /* DNG tables by dataset, then CSP. */
    assert_true(strstr(out, "### DNG — mp_20") < strstr(out, "### DNG — perov_5"));
    assert_true(strstr(out, "### DNG — perov_5") < strstr(out, "### CSP"));
    free(out);
}

/* Markdown with only --task / --dataset: the other tables are left out. */
static void test_filters(void **state)
{
    (void)state;
    char *out = table(0, "--task csp");
    assert_null(strstr(out, "### DNG"));
    assert_non_null(strstr(out, "### CSP"));
    free(out);
    out = table(0, "--task dng --dataset perov_5");
    assert_non_null(strstr(out, "### DNG — perov_5"));
    assert_null(strstr(out, "mp_20"));
    assert_null(strstr(out, "### CSP"));
    free(out);
}

/* The CSV rows of out as run ids (in order); returns the count. */
static int csv_ids(const char *out, int64_t *ids, int cap)
{
    int n = 0;
    const char *line = strchr(out, '\n');
    while (line && line[1] && n < cap) {
        line++;
        const char *p = line;
        for (int commas = 0; commas < 4; p++)
            if (*p == ',') commas++;
        ids[n++] = strtoll(p, NULL, 10);
        line = strchr(line, '\n');
    }
    return n;
}

static void test_run_ids(void **state)
{
    (void)state;
    /* Exactly the given runs, the superseded one included, duplicates once. */
    char *out = table(0, "--format csv --run %lld --run %lld --run %lld", (long long)g_runs[7].id,
                      (long long)g_runs[SUPERSEDED].id, (long long)g_runs[7].id);
    int64_t ids[16];
    assert_int_equal(csv_ids(out, ids, 16), 2);
    int64_t a = g_runs[SUPERSEDED].id, b = g_runs[7].id;
    /* csv rows are ordered by task: csp before dng. */
    assert_true(ids[0] == b && ids[1] == a);
    free(out);
    out = table(0, "--run %lld", (long long)g_runs[SUPERSEDED].id);
    char *dng = md_section(out, "### DNG — mp_20");
    char c[MAX_CELLS][64];
    md_row(dng, "flowmm", c);
    assert_string_equal(c[1], "**97.00**");
    assert_null(strstr(out, "cdvae"));
    assert_null(strstr(out, "### CSP"));
    free(dng);
    free(out);

    /* Unknown, failed and running runs are errors naming the id. */
    struct {
        int64_t id;
        const char *expect;
    } bad[] = {{999999, "no run 999999"}, {g_failed_id, "is failed, not done"}, {g_running_id, "is running, not done"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = table(1, "--run %lld --run %lld 2>&1", (long long)g_runs[1].id, (long long)bad[i].id);
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)bad[i].id);
        if (!strstr(out, bad[i].expect) || !strstr(out, id) || count(out, "\n") != 1 ||
            strncmp(out, "crystalbench: ", 14) != 0)
            fail_msg("--run %s: expected one line with '%s':\n%s", id, bad[i].expect, out);
        free(out);
    }
}

static void test_csv_round_trip(void **state)
{
    (void)state;
    char *out = table(0, "--format csv");
    char *save;
    char *line = strtok_r(out, "\n", &save);
    assert_non_null(line);
    /* Header: the fixed columns, then the union of metric names. */
    assert_int_equal(strncmp(line, "task,dataset,model,split,run_id,", 32), 0);
    char *names[64];
    int n_names = 0;
    char *hsave;
    for (char *tok = strtok_r(line + 32, ",", &hsave); tok && n_names < 64; tok = strtok_r(NULL, ",", &hsave))
        names[n_names++] = tok;
    assert_int_equal(n_names, 10); /* 7 DNG + match_rate, rms_dist, k */
    int rows = 0, checked = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        rows++;
        /* Fields by hand: empty fields matter, and a quoted label may hold commas. */
        char *fields[80];
        int nf = 0;
        char *p = line;
        for (;;) {
            if (*p == '"') {
                char *w = ++p;
                fields[nf++] = w;
                while (*p && !(*p == '"' && p[1] != '"')) {
                    if (*p == '"') p++;
                    *w++ = *p++;
                }
                if (*p) p++;
                *w = '\0';
                if (*p == ',') p++; /* the separator after the closing quote */
                else break;
                continue;
            }
            fields[nf++] = p;
            char *comma = strchr(p, ',');
            if (!comma) break;
            *comma = '\0';
            p = comma + 1;
        }
        assert_int_equal(nf, 5 + n_names);
        int64_t id = strtoll(fields[4], NULL, 10);
        const fixture_run *r = NULL;
        for (size_t i = 0; i < N_RUNS; i++)
            if (g_runs[i].id == id) r = &g_runs[i];
        if (!r) fail_msg("csv row of run %lld, which is not a latest done run", (long long)id);
        assert_true(r != &g_runs[SUPERSEDED]);
        assert_string_equal(fields[0], r->task);
        assert_string_equal(fields[1], r->dataset);
        assert_string_equal(fields[2], r->model);
        assert_string_equal(fields[3], r->split ? r->split : "standard");
        for (int j = 0; j < n_names; j++) {
            const char *f = fields[5 + j];
            size_t k = 0;
            while (k < n_metrics(r) && strcmp(r->names[k], names[j]) != 0) k++;
            if (k == n_metrics(r)) {
                if (f[0]) fail_msg("run %lld has no %s but the csv says '%s'", (long long)id, names[j], f);
                continue;
            }
            char *end;
            double v = strtod(f, &end);
            if (*end || end == f) fail_msg("run %lld %s: '%s' is not a number", (long long)id, names[j], f);
            if (isnan(r->values[k]) ? !isnan(v) : memcmp(&v, &r->values[k], sizeof v) != 0)
                fail_msg("run %lld %s: csv %s, stored %.17g", (long long)id, names[j], f, r->values[k]);
            checked++;
        }
    }
    assert_int_equal(rows, N_RUNS - 1);
    assert_int_equal(checked, 4 * 7 + 3 * 3);
    free(out);
}

/* Braces balance, ignoring escaped ones; -1 when a '}' closes nothing. */
static int tex_depth(const char *s)
{
    int depth = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            continue;
        }
        if (*p == '{') depth++;
        if (*p == '}' && --depth < 0) return -1;
    }
    return depth;
}

static void test_tex(void **state)
{
    (void)state;
    char *out = table(0, "--format tex");
    assert_int_equal(tex_depth(out), 0);
    assert_int_equal(count(out, "\\begin{table}"), 3);
    assert_int_equal(count(out, "\\end{table}"), 3);
    assert_int_equal(count(out, "\\begin{tabular}"), 3);
    assert_int_equal(count(out, "\\end{tabular}"), 3);
    assert_int_equal(count(out, "\\toprule"), 3);
    assert_int_equal(count(out, "\\bottomrule"), 3);
    /* Each table's environments nest in order. */
    const char *p = out;
    for (int i = 0; i < 3; i++) {
        const char *b = strstr(p, "\\begin{table}"), *t = strstr(p, "\\begin{tabular}"),
                   *et = strstr(p, "\\end{tabular}"), *e = strstr(p, "\\end{table}");
        assert_true(b && t && et && e && b < t && t < et && et < e);
        p = e + 1;
    }
    assert_non_null(strstr(out, "\\multicolumn{2}{c}{Validity}"));
    assert_non_null(strstr(out, "\\cmidrule(lr){2-3}"));
    assert_non_null(strstr(out, "\\textbf{95.00}"));
    assert_non_null(strstr(out, "Comp. $\\uparrow$ (\\%)"));
    assert_non_null(strstr(out, "RMSE $\\downarrow$"));
    assert_non_null(strstr(out, "a\\textless{}\\&\\textgreater{}b\\_\\{x\\}"));
    assert_non_null(strstr(out, "\\caption{DNG --- mp\\_20}"));
    /* No unescaped specials outside math: every %, # and _ is escaped (the _ in $W_1$ is
     * math), and each DNG row has 7 column separators. */
    for (const char *q = out; *q; q++) {
        if ((*q == '%' || *q == '#') && (q == out || q[-1] != '\\')) fail_msg("unescaped '%c' near: %.40s", *q, q);
        if (*q == '_' && q[-1] != '\\' && strncmp(q - 1, "W_1", 3) != 0) fail_msg("unescaped '_' near: %.40s", q - 10);
    }
    const char *row = strstr(out, "    textar");
    assert_non_null(row);
    int amps = 0;
    for (const char *q = row; *q && *q != '\n'; q++) amps += *q == '&' && q[-1] != '\\';
    assert_int_equal(amps, 7);
    assert_non_null(strstr(row, "$^{2}$"));
    free(out);
}

static void test_html(void **state)
{
    (void)state;
    char *out = table(0, "--format html");
    assert_non_null(strstr(out, "a&lt;&amp;&gt;b_{x}"));
    assert_null(strstr(out, "a<&>b"));
    assert_int_equal(count(out, "<table>"), 3);
    assert_int_equal(count(out, "</table>"), 3);
    const char *tags[] = {"thead", "tbody", "tfoot"};
    for (int i = 0; i < 3; i++) {
        char open[16], close[16];
        snprintf(open, sizeof open, "<%s>", tags[i]);
        snprintf(close, sizeof close, "</%s>", tags[i]);
        assert_int_equal(count(out, open), 3);
        assert_int_equal(count(out, close), 3);
    }
    assert_int_equal(count(out, "<tr>"), count(out, "</tr>"));
    assert_int_equal(count(out, "<td"), count(out, "</td>"));
    assert_non_null(strstr(out, "<th colspan=\"2\">Validity</th>"));
    assert_non_null(strstr(out, "<td><b>95.00</b></td>"));
    assert_non_null(strstr(out, "<td>&ndash;</td>"));
    free(out);
}

static void test_out_file(void **state)
{
    (void)state;
    char path[1200];
    snprintf(path, sizeof path, "%s/table.md", cb_test_scratch());
    char *out = table(0, "--out %s", path);
    assert_string_equal(out, "");
    free(out);
    size_t len;
    char *written = cb_test_read_file(path, &len);
    assert_non_null(written);
    out = table(0, "%s", "");
    assert_string_equal(written, out);
    free(out);
    free(written);
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
}

static void test_errors(void **state)
{
    (void)state;
    const char *cli = cb_test_cli();
    int st;
    char *out = cb_test_runf(&st, "%s table --help", cli);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "usage: crystalbench table"));
    free(out);
    struct {
        const char *args, *expect;
    } usage[] = {{"--bogus", "unknown option '--bogus'"},
                 {"--format pdf", "unknown format 'pdf'"},
                 {"--task gen", "unknown task 'gen'"},
                 {"--run x", "--run needs a run id"},
                 {"--run 3 --task dng", "does not combine"},
                 {"extra", "unexpected argument 'extra'"},
                 {"--format", "needs a value"}};
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        out = cb_test_runf(&st, "%s table --db %s %s 2>&1", cli, g_db, usage[i].args);
        /* The message, then the synopsis (the usage text's first line). */
        if (st != 2 || strncmp(out, "crystalbench: ", 14) != 0 || !strstr(out, usage[i].expect) ||
            !strstr(out, "\nusage: crystalbench table"))
            fail_msg("table %s: exit %d, expected 2 with '%s':\n%s", usage[i].args, st, usage[i].expect, out);
        free(out);
    }
    /* A missing store: one line naming it, and no file created. */
    char missing[1200];
    snprintf(missing, sizeof missing, "%s/none.db", cb_test_scratch());
    out = cb_test_runf(&st, "%s table --db %s 2>&1", cli, missing);
    assert_int_equal(st, 1);
    assert_int_equal(count(out, "\n"), 1);
    assert_non_null(strstr(out, "none.db: no such results database"));
    assert_int_equal(access(missing, F_OK), -1);
    free(out);
    /* $CB_DB is the default store. */
    out = cb_test_runf(&st, "CB_DB=%s %s table 2>&1", missing, cli);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "none.db: no such results database"));
    free(out);
    /* A store without finished runs (and no file left behind by --out). */
    char empty[1200], dest[1300];
    snprintf(empty, sizeof empty, "%s/empty.db", cb_test_scratch());
    snprintf(dest, sizeof dest, "%s/empty.md", cb_test_scratch());
    cb_store *s;
    assert_int_equal(cb_store_open(empty, &s, NULL), CB_OK);
    cb_store_close(s);
    out = cb_test_runf(&st, "%s table --db %s --out %s 2>&1", cli, empty, dest);
    assert_int_equal(st, 1);
    assert_int_equal(count(out, "\n"), 1);
    assert_non_null(strstr(out, "empty.db: no finished runs (run `crystalbench eval dng"));
    assert_int_equal(access(dest, F_OK), -1);
    free(out);
    /* An --out that cannot be written. */
    out = cb_test_runf(&st, "%s table --db %s --out %s/no/such/dir/t.md 2>&1", cli, g_db, cb_test_scratch());
    assert_int_equal(st, 1);
    assert_int_equal(count(out, "\n"), 1);
    assert_non_null(strstr(out, "t.md: cannot write"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md_best_cells), cmocka_unit_test(test_filters),
        cmocka_unit_test(test_run_ids),       cmocka_unit_test(test_csv_round_trip),
        cmocka_unit_test(test_tex),           cmocka_unit_test(test_html),
        cmocka_unit_test(test_out_file),      cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, cb_test_scratch_teardown);
}
