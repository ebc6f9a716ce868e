/* Plots rendered from the results store (plot.h): which runs feed which plot, the
 * binning, the data files and the gnuplot scripts, and running gnuplot on them.
 * Every number drawn is in the data file, so a test (or a reader) can check the
 * histograms without parsing an image. */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crystalbench/atomic_file.h"

extern char **environ;

#define DENSITY_BINS 60
#define DENSITY_QUANTILE 0.995
#define RMS_BINS 50
#define MAX_ELEMS 100
#define NAME_CAP 512
#define PATH_CAP (4096 + NAME_CAP + 8)

/* Backends' colours (tab10, distinguishable and print-safe); the test set is grey. */
static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                     "#9467bd", "#8c564b", "#e377c2", "#17becf"};
#define N_COLORS (sizeof colors / sizeof colors[0])
static const char ref_color[] = "#c0c0c0";

static const char *color(size_t i) { return colors[i % N_COLORS]; }

/* ---- names ---- */

void cb_plot_file_name(const char *s, char *out, size_t cap)
{
    if (cap == 0) return;
    size_t k = 0;
    for (; s && *s && k + 1 < cap; s++) {
        char c = *s;
        int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                   c == '_' || c == '-';
        out[k++] = keep ? c : '_';
    }
    out[k] = '\0';
    if (k == 0) snprintf(out, cap, "unnamed");
}

/* ---- series and binning ---- */

typedef struct series {
    double *v;
    size_t n;
    int present; /* the run has this series (perhaps empty) */
} series;

/* An absent series is present = 0, not an error. */
static int load_series(cb_store *s, int64_t run_id, const char *name, series *out, cb_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = cb_store_get_series(s, run_id, name, &out->v, &out->n, err);
    if (rc == CB_ERR_EOF) return CB_OK;
    if (!rc) out->present = 1;
    return rc;
}

static size_t n_finite(const series *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) k += isfinite(s->v[i]) != 0;
    return k;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.quantile (linear interpolation) of the finite values; NaN when there are none. */
static int quantile(const series *s, double q, double *out, cb_error *err)
{
    *out = NAN;
    size_t m = n_finite(s);
    if (m == 0) return CB_OK;
    double *x = malloc(m * sizeof *x);
    if (!x) return cb_fail(err, CB_ERR_NOMEM, "out of memory for %zu plot values", m);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (isfinite(s->v[i])) x[k++] = s->v[i];
    qsort(x, m, sizeof *x, cmp_double);
    double pos = q * (double)(m - 1);
    size_t lo = (size_t)floor(pos);
    size_t hi = lo + 1 < m ? lo + 1 : lo;
    *out = x[lo] + (pos - (double)lo) * (x[hi] - x[lo]);
    free(x);
    return CB_OK;
}

/* The largest finite value; NaN when there is none. */
static double max_finite(const series *s)
{
    double m = NAN;
    for (size_t i = 0; i < s->n; i++)
        if (isfinite(s->v[i]) && !(s->v[i] <= m)) m = s->v[i];
    return m;
}

/* x > 0 rounded up to 1, 2, 2.5 or 5 × 10^k: axis ends a reader can read. */
static double nice_ceil(double x)
{
    double e = pow(10.0, floor(log10(x)));
    static const double steps[] = {1, 2, 2.5, 5, 10};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (steps[i] * e >= x * (1 - 1e-12)) return steps[i] * e;
    return 10 * e;
}

/* counts[0..nb) += histogram of the finite values in [0, upper]: v goes to bin
 * floor(v / (upper/nb)), upper itself (and rounding past the end) to the last. */
static void histogram(const series *s, double upper, size_t nb, size_t *counts)
{
    double w = upper / (double)nb;
    for (size_t i = 0; i < s->n; i++) {
        double v = s->v[i];
        if (!isfinite(v) || v < 0 || v > upper) continue;
        size_t b = (size_t)(v / w);
        counts[b < nb ? b : nb - 1]++;
    }
}

/* ---- the writer: files in the plot directory ---- */

typedef struct plotter {
    cb_store *s;
    const cb_plot_opts *o;
    cb_plot_set *set;
    cb_error *err;
} plotter;

static int has_name(const cb_plot_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->names[i], name) == 0) return 1;
    return 0;
}

/* base, or base_2, base_3, … when a plot of that name was already written. */
static void unique_name(const plotter *p, const char *base, char *out, size_t cap)
{
    snprintf(out, cap, "%s", base);
    for (int k = 2; has_name(p->set, out); k++) snprintf(out, cap, "%.*s_%d", (int)cap - 16, base, k);
}

static int path_of(const plotter *p, const char *name, const char *ext, char *buf, size_t cap)
{
    int len = snprintf(buf, cap, "%s/%s.%s", p->o->dir, name, ext);
    if (len < 0 || (size_t)len >= cap) return cb_fail(p->err, CB_ERR_USAGE, "%s: plot path too long", p->o->dir);
    return CB_OK;
}

static void list_file(const plotter *p, const char *name, const char *ext)
{
    if (p->o->listing) fprintf(p->o->listing, "%s/%s.%s\n", p->o->shown_dir, name, ext);
}

/* A gnuplot single-quoted string: a quote inside is doubled. */
static void gp_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

static void gp_strf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gp_strf(FILE *f, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    gp_str(f, buf);
}

/* A panel title on two lines (the label, then the numbers), so that long model labels
 * in side-by-side panels do not run into each other: gnuplot's string concatenation
 * with a double-quoted newline between two single-quoted (unescaped) strings. */
static void gp_title2(FILE *f, const char *label, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void gp_title2(FILE *f, const char *label, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fputs("set title ", f);
    gp_str(f, label);
    fputs(".\"\\n\".", f);
    gp_str(f, buf);
}

static int open_file(const plotter *p, const char *name, const char *ext, cb_atomic_file *a)
{
    char path[PATH_CAP];
    int rc = path_of(p, name, ext, path, sizeof path);
    return rc ? rc : cb_atomic_open(a, path, p->err);
}

static int commit_file(const plotter *p, const char *name, const char *ext, cb_atomic_file *a)
{
    int rc = cb_atomic_commit(a, p->err);
    if (!rc) list_file(p, name, ext);
    return rc;
}

static const char png_terminal[] =
    "# pngcairo when this gnuplot has it (gnuplot-nox does), else libgd's png\n"
    "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
    "    set terminal pngcairo size 1200,800 font ',12' noenhanced\n"
    "} else {\n"
    "    set terminal png size 1200,800 font ',12' noenhanced\n"
    "}\n";
static const char svg_terminal[] = "set terminal svg size 1200,800 dynamic font ',12' noenhanced\n";

/* NAME.gp: the body (which starts with `reset`) once per format; then NAME joins the
 * set.  noenhanced: labels such as mp_20 are text, not subscripts. */
static int write_script(plotter *p, const char *name, const char *body)
{
    cb_atomic_file a;
    char script[PATH_CAP], image[PATH_CAP];
    int rc = path_of(p, name, "gp", script, sizeof script);
    if (!rc) rc = open_file(p, name, "gp", &a);
    if (rc) return rc;
    fprintf(a.f,
            "# %s: written by crystalbench plot from %s.\n"
            "# The numbers are in %s.dat; every path is absolute, so\n"
            "#   gnuplot %s\n"
            "# redraws the plot from any directory.\n"
            "set encoding utf8\n",
            name, cb_store_path(p->s), name, script);
    static const struct {
        unsigned flag;
        const char *ext, *terminal;
    } formats[] = {{CB_PLOT_PNG, "png", png_terminal}, {CB_PLOT_SVG, "svg", svg_terminal}};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0] && !rc; i++) {
        if (!(p->o->formats & formats[i].flag)) continue;
        if ((rc = path_of(p, name, formats[i].ext, image, sizeof image))) break;
        fprintf(a.f, "\n%sset output ", formats[i].terminal);
        gp_str(a.f, image);
        fprintf(a.f, "\n%sset output\n", body);
    }
    if (rc) {
        cb_atomic_abort(&a);
        return rc;
    }
    if ((rc = commit_file(p, name, "gp", &a))) return rc;
    char **names = realloc(p->set->names, (p->set->n + 1) * sizeof *names);
    char *copy = strdup(name);
    if (!names || !copy) {
        free(copy);
        if (names) p->set->names = names;
        return cb_fail(p->err, CB_ERR_NOMEM, "out of memory");
    }
    p->set->names = names;
    names[p->set->n++] = copy;
    return CB_OK;
}

/* A script body is built in memory, since it is written once per format. */
typedef struct body {
    char *text;
    size_t len;
    FILE *f;
} body;

static int body_open(body *b, const plotter *p)
{
    b->text = NULL;
    b->len = 0;
    b->f = open_memstream(&b->text, &b->len);
    if (!b->f) return cb_fail(p->err, CB_ERR_NOMEM, "out of memory for a plot script");
    fputs("reset\nset encoding utf8\n", b->f);
    return CB_OK;
}

/* Closes the body and writes the script; frees the body either way. */
static int body_commit(body *b, plotter *p, const char *name)
{
    int bad = ferror(b->f);
    bad |= fclose(b->f) != 0;
    int rc = bad ? cb_fail(p->err, CB_ERR_NOMEM, "out of memory for a plot script") : write_script(p, name, b->text);
    free(b->text);
    return rc;
}

/* rows × cols for n panels on a 3:2 canvas: columns first. */
static void layout(size_t n, size_t *rows, size_t *cols)
{
    size_t c = (size_t)ceil(sqrt(1.5 * (double)n));
    if (c < 1) c = 1;
    if (c > n) c = n;
    *cols = c;
    *rows = (n + c - 1) / c;
}

/* The y range's top as a multiple of the highest bar, so that the two-line key in the
 * top right corner sits above the data in panels of any height (a key outside the
 * panels collides with the multiplot title or the x label). */
static double headroom(size_t rows)
{
    double plot_h = 760.0 / (double)rows - 80; /* pixels inside the axes, about */
    return plot_h > 100 ? 1.05 / (1 - 50 / plot_h) : 2.0;
}

/* ---- panels: one run each ---- */

typedef struct panel {
    const cb_run *run;
    char label[192];
    series a, b; /* DNG: density, num_elems; CSP: rms */
} panel;

static void panels_free(panel *pn, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(pn[i].a.v);
        free(pn[i].b.v);
    }
    free(pn);
}

/* model [split] — and "run ID" where two panels would otherwise read the same. */
static void label_panels(panel *pn, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cb_run *r = pn[i].run;
        if (r->split && strcmp(r->split, "standard") != 0)
            snprintf(pn[i].label, sizeof pn[i].label, "%.80s [%.80s]", r->model, r->split);
        else
            snprintf(pn[i].label, sizeof pn[i].label, "%.160s", r->model);
    }
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < n && !dup; j++)
            dup = j != i && strcmp(pn[i].label, pn[j].label) == 0 && pn[i].run->id != pn[j].run->id;
        if (dup) {
            size_t len = strlen(pn[i].label);
            snprintf(pn[i].label + len, sizeof pn[i].label - len, " run %lld", (long long)pn[i].run->id);
        }
    }
}

/* The runs of a task and dataset, in the given order, as panels (series not loaded). */
static int select_panels(const cb_run *runs, size_t n, const char *task, const char *dataset, panel **out,
                         size_t *n_out, cb_error *err)
{
    *out = NULL;
    *n_out = 0;
    panel *pn = calloc(n ? n : 1, sizeof *pn);
    if (!pn) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (runs[i].task && runs[i].dataset && strcmp(runs[i].task, task) == 0 &&
            strcmp(runs[i].dataset, dataset) == 0)
            pn[k++].run = &runs[i];
    label_panels(pn, k);
    *out = pn;
    *n_out = k;
    return CB_OK;
}

/* The panels whose series (a or b) is present, as indexes into pn. */
static size_t present(const panel *pn, size_t n, int which_b, size_t *idx)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if ((which_b ? pn[i].b.present : pn[i].a.present)) idx[k++] = i;
    return k;
}

/* ---- DNG: density ---- */

static int plot_density(plotter *p, const char *dataset, const panel *pn, size_t np, const series *ref,
                        const cb_run *ref_run)
{
    size_t *idx = malloc((np ? np : 1) * sizeof *idx);
    if (!idx) return cb_fail(p->err, CB_ERR_NOMEM, "out of memory");
    size_t m = present(pn, np, 0, idx);
    size_t *counts = m ? calloc((m + 1) * DENSITY_BINS, sizeof *counts) : NULL;
    int rc = m && !counts ? cb_fail(p->err, CB_ERR_NOMEM, "out of memory") : CB_OK;
    if (!m || rc) goto done;
    int has_ref = ref && n_finite(ref) > 0;
    double upper = 0, q;
    if (has_ref && !(rc = quantile(ref, DENSITY_QUANTILE, &q, p->err)) && q > upper) upper = q;
    for (size_t k = 0; k < m && !rc; k++)
        if (!(rc = quantile(&pn[idx[k]].a, DENSITY_QUANTILE, &q, p->err)) && q > upper) upper = q;
    if (rc) goto done;
    if (!(upper > 0) || !isfinite(upper)) upper = 1;
    const double w = upper / DENSITY_BINS;
    /* Row 0: the test set; row k+1: panel k. */
    size_t *n_of = calloc(m + 1, sizeof *n_of);
    if (!n_of) {
        rc = cb_fail(p->err, CB_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (has_ref) histogram(ref, upper, DENSITY_BINS, counts);
    n_of[0] = has_ref ? n_finite(ref) : 0;
    for (size_t k = 0; k < m; k++) {
        histogram(&pn[idx[k]].a, upper, DENSITY_BINS, counts + (k + 1) * DENSITY_BINS);
        n_of[k + 1] = n_finite(&pn[idx[k]].a);
    }
    double ymax = 0;
    for (size_t k = 0; k <= m; k++)
        for (size_t b = 0; b < DENSITY_BINS; b++)
            if (n_of[k] && (double)counts[k * DENSITY_BINS + b] / ((double)n_of[k] * w) > ymax)
                ymax = (double)counts[k * DENSITY_BINS + b] / ((double)n_of[k] * w);

    char file[NAME_CAP], base[NAME_CAP], name[NAME_CAP], dat[PATH_CAP];
    cb_plot_file_name(dataset, file, sizeof file);
    snprintf(base, sizeof base, "dng_density_%.400s", file);
    unique_name(p, base, name, sizeof name);
    cb_atomic_file a;
    if ((rc = path_of(p, name, "dat", dat, sizeof dat)) || (rc = open_file(p, name, "dat", &a))) goto free_n;
    fprintf(a.f,
            "# %s: density (g/cm³) of the valid DNG samples and of the test set, dataset %s\n"
            "# %d bins of width %.17g over [0, %.17g]: the upper end is the largest 99.5 %% quantile of the sets\n"
            "# pdf = count / (n · width), n = the set's finite values (those past the upper end included)\n"
            "# columns: 1 bin_lo, 2 bin_hi, 3 bin_mid, then count and pdf of each set:\n"
            "#   4 5 test set (n = %zu",
            name, dataset, DENSITY_BINS, w, upper, n_of[0]);
    if (has_ref) fprintf(a.f, ", from run %lld", (long long)ref_run->id);
    fputs(")\n", a.f);
    for (size_t k = 0; k < m; k++)
        fprintf(a.f, "#   %zu %zu %s (run %lld, n = %zu)\n", 6 + 2 * k, 7 + 2 * k, pn[idx[k]].label,
                (long long)pn[idx[k]].run->id, n_of[k + 1]);
    for (size_t b = 0; b < DENSITY_BINS; b++) {
        fprintf(a.f, "%.10g %.10g %.10g", (double)b * w, (double)(b + 1) * w, ((double)b + 0.5) * w);
        for (size_t k = 0; k <= m; k++) {
            size_t c = counts[k * DENSITY_BINS + b];
            fprintf(a.f, " %zu %.10g", c, n_of[k] ? (double)c / ((double)n_of[k] * w) : 0.0);
        }
        fputc('\n', a.f);
    }
    if ((rc = commit_file(p, name, "dat", &a))) goto free_n;

    body g;
    if ((rc = body_open(&g, p))) goto free_n;
    size_t rows, cols;
    layout(m, &rows, &cols);
    fprintf(g.f, "set multiplot layout %zu,%zu title ", rows, cols);
    gp_strf(g.f, "density of the valid samples against the test set: %s", dataset);
    fprintf(g.f,
            " font ',14'\n"
            "set style fill solid 1.0 noborder\n"
            "set boxwidth %.17g absolute\n"
            "set xrange [0:%.17g]\n"
            "set yrange [0:%.6g]\n"
            "set xlabel 'density (g/cm³)'\n"
            "set ylabel 'probability density'\n"
            "set key top right opaque\n"
            "set tics out nomirror\n",
            w, upper, ymax > 0 ? headroom(rows) * ymax : 1.0);
    for (size_t k = 0; k < m; k++) {
        gp_title2(g.f, pn[idx[k]].label, "n = %zu", n_of[k + 1]);
        fputs("\nplot ", g.f);
        gp_str(g.f, dat);
        if (has_ref) fprintf(g.f, " using 3:5 with boxes fc rgb '%s' title 'test set', ''", ref_color);
        fprintf(g.f, " using 3:%zu with histeps lw 2 lc rgb '%s' title 'samples'\n", 7 + 2 * k, color(k));
    }
    fputs("unset multiplot\n", g.f);
    rc = body_commit(&g, p, name);
free_n:
    free(n_of);
done:
    free(counts);
    free(idx);
    return rc;
}

/* ---- DNG: number of elements ---- */

static int plot_num_elems(plotter *p, const char *dataset, const panel *pn, size_t np, const series *ref,
                          const cb_run *ref_run)
{
    size_t *idx = malloc((np ? np : 1) * sizeof *idx);
    if (!idx) return cb_fail(p->err, CB_ERR_NOMEM, "out of memory");
    size_t m = present(pn, np, 1, idx);
    if (!m) {
        free(idx);
        return CB_OK;
    }
    int has_ref = ref && n_finite(ref) > 0;
    double vmax = has_ref ? max_finite(ref) : NAN;
    for (size_t k = 0; k < m; k++) {
        double v = max_finite(&pn[idx[k]].b);
        if (v > vmax || isnan(vmax)) vmax = v;
    }
    long K = isfinite(vmax) ? lround(vmax) : 1;
    if (K < 1) K = 1;
    if (K > MAX_ELEMS) K = MAX_ELEMS;
    /* Row 0: the test set; row k+1: panel k.  counts[row * K + (value - 1)]. */
    size_t *counts = calloc((m + 1) * (size_t)K, sizeof *counts);
    size_t *n_of = calloc(m + 1, sizeof *n_of);
    int rc = CB_OK;
    if (!counts || !n_of) {
        rc = cb_fail(p->err, CB_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k <= m; k++) {
        const series *s = k == 0 ? (has_ref ? ref : NULL) : &pn[idx[k - 1]].b;
        for (size_t i = 0; s && i < s->n; i++) {
            if (!isfinite(s->v[i])) continue;
            n_of[k]++;
            long e = lround(s->v[i]);
            if (e >= 1 && e <= K) counts[k * (size_t)K + (size_t)(e - 1)]++;
        }
    }
    double ymax = 0;
    for (size_t k = 0; k <= m; k++)
        for (long e = 0; e < K; e++)
            if (n_of[k] && (double)counts[k * (size_t)K + (size_t)e] / (double)n_of[k] > ymax)
                ymax = (double)counts[k * (size_t)K + (size_t)e] / (double)n_of[k];

    char file[NAME_CAP], base[NAME_CAP], name[NAME_CAP], dat[PATH_CAP];
    cb_plot_file_name(dataset, file, sizeof file);
    snprintf(base, sizeof base, "dng_num_elems_%.400s", file);
    unique_name(p, base, name, sizeof name);
    cb_atomic_file a;
    if ((rc = path_of(p, name, "dat", dat, sizeof dat)) || (rc = open_file(p, name, "dat", &a))) goto done;
    fprintf(a.f,
            "# %s: number of elements of the valid DNG samples and of the test set, dataset %s\n"
            "# fraction = count / n, n = the set's finite values\n"
            "# columns: 1 number of elements, then count and fraction of each set:\n"
            "#   2 3 test set (n = %zu",
            name, dataset, n_of[0]);
    if (has_ref) fprintf(a.f, ", from run %lld", (long long)ref_run->id);
    fputs(")\n", a.f);
    for (size_t k = 0; k < m; k++)
        fprintf(a.f, "#   %zu %zu %s (run %lld, n = %zu)\n", 4 + 2 * k, 5 + 2 * k, pn[idx[k]].label,
                (long long)pn[idx[k]].run->id, n_of[k + 1]);
    for (long e = 0; e < K; e++) {
        fprintf(a.f, "%ld", e + 1);
        for (size_t k = 0; k <= m; k++) {
            size_t c = counts[k * (size_t)K + (size_t)e];
            fprintf(a.f, " %zu %.10g", c, n_of[k] ? (double)c / (double)n_of[k] : 0.0);
        }
        fputc('\n', a.f);
    }
    if ((rc = commit_file(p, name, "dat", &a))) goto done;

    body g;
    if ((rc = body_open(&g, p))) goto done;
    size_t rows, cols;
    layout(m, &rows, &cols);
    fprintf(g.f, "set multiplot layout %zu,%zu title ", rows, cols);
    gp_strf(g.f, "number of elements of the valid samples against the test set: %s", dataset);
    fprintf(g.f,
            " font ',14'\n"
            "set style fill solid 0.9 border -1\n"
            "set boxwidth 0.4 absolute\n"
            "set xrange [0.4:%ld.6]\n"
            "set xtics 1,%ld,%ld\n"
            "set yrange [0:%.6g]\n"
            "set xlabel 'number of elements'\n"
            "set ylabel 'fraction of structures'\n"
            "set key top right opaque\n"
            "set tics out nomirror\n",
            K, K > 12 ? 2L : 1L, K, ymax > 0 ? headroom(rows) * ymax : 1.0);
    for (size_t k = 0; k < m; k++) {
        gp_title2(g.f, pn[idx[k]].label, "n = %zu", n_of[k + 1]);
        fputs("\nplot ", g.f);
        gp_str(g.f, dat);
        fprintf(g.f, " using ($1-%s):%zu with boxes fc rgb '%s' title 'samples'", has_ref ? "0.2" : "0", 5 + 2 * k,
                color(k));
        if (has_ref) fprintf(g.f, ", '' using ($1+0.2):3 with boxes fc rgb '%s' title 'test set'", ref_color);
        fputc('\n', g.f);
    }
    fputs("unset multiplot\n", g.f);
    rc = body_commit(&g, p, name);
done:
    free(counts);
    free(n_of);
    free(idx);
    return rc;
}

/* ---- DNG: headline metrics ---- */

static const char *const dng_metrics[] = {"comp_valid", "struct_valid", "cov_recall", "cov_precision"};
static const char *const dng_metric_labels[] = {"validity: composition", "validity: structure",
                                                "coverage recall (COV-R)", "coverage precision (COV-P)"};
#define N_DNG_METRICS (sizeof dng_metrics / sizeof dng_metrics[0])
/* Above this many bars per group the value labels would overlap. */
#define MAX_VALUE_LABELS 6

static int plot_dng_metrics(plotter *p, const char *dataset, const panel *pn, size_t np)
{
    double *v = malloc((np ? np : 1) * N_DNG_METRICS * sizeof *v);
    size_t *idx = malloc((np ? np : 1) * sizeof *idx);
    int rc = CB_OK;
    if (!v || !idx) {
        rc = cb_fail(p->err, CB_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < np; i++) {
        int any = 0;
        for (size_t j = 0; j < N_DNG_METRICS; j++) {
            double x;
            int r = cb_store_get_metric(p->s, pn[i].run->id, dng_metrics[j], &x, p->err);
            if (r && r != CB_ERR_EOF) {
                rc = r;
                goto done;
            }
            v[m * N_DNG_METRICS + j] = r ? NAN : 100 * x;
            any |= !r && isfinite(x);
        }
        if (any) idx[m++] = i;
    }
    if (!m) goto done;

    char file[NAME_CAP], base[NAME_CAP], name[NAME_CAP], dat[PATH_CAP];
    cb_plot_file_name(dataset, file, sizeof file);
    snprintf(base, sizeof base, "dng_metrics_%.400s", file);
    unique_name(p, base, name, sizeof name);
    cb_atomic_file a;
    if ((rc = path_of(p, name, "dat", dat, sizeof dat)) || (rc = open_file(p, name, "dat", &a))) goto done;
    fprintf(a.f, "# %s: headline DNG metrics in %%, dataset %s (NaN = not stored)\n# columns: 1 metric", name,
            dataset);
    for (size_t k = 0; k < m; k++)
        fprintf(a.f, ", %zu %s (run %lld)", k + 2, pn[idx[k]].label, (long long)pn[idx[k]].run->id);
    fputc('\n', a.f);
    for (size_t j = 0; j < N_DNG_METRICS; j++) {
        fputs(dng_metrics[j], a.f);
        for (size_t k = 0; k < m; k++) {
            double x = v[k * N_DNG_METRICS + j];
            if (isfinite(x))
                fprintf(a.f, " %.10g", x);
            else
                fputs(" NaN", a.f);
        }
        fputc('\n', a.f);
    }
    if ((rc = commit_file(p, name, "dat", &a))) goto done;

    body g;
    if ((rc = body_open(&g, p))) goto done;
    double bw = 0.8 / (double)m;
    fputs("set title ", g.f);
    gp_strf(g.f, "headline DNG metrics: %s", dataset);
    fputs(" font ',14'\n"
          "set datafile missing 'NaN'\n"
          "set style fill solid 0.9 border -1\n"
          "set xrange [-0.5:3.5]\n"
          "set yrange [0:108]\n"
          "set ytics 0,20,100 nomirror out\n"
          "set xtics nomirror scale 0\n"
          "set grid ytics\n"
          "set ylabel 'percent of samples / of the test set (%)'\n"
          "set key outside bottom center horizontal box\n"
          "set bmargin 5.5\n",
          g.f);
    fprintf(g.f, "set boxwidth %.6g absolute\nset xtics (", bw);
    for (size_t j = 0; j < N_DNG_METRICS; j++) {
        gp_str(g.f, dng_metric_labels[j]);
        fprintf(g.f, " %zu%s", j, j + 1 < N_DNG_METRICS ? ", " : ")\n");
    }
    fputs("plot ", g.f);
    for (size_t k = 0; k < m; k++) {
        double off = ((double)k - (double)(m - 1) / 2) * bw;
        if (k) fputs(", ", g.f);
        gp_str(g.f, dat);
        fprintf(g.f, " using ($0%+.6g):%zu with boxes fc rgb '%s' title ", off, k + 2, color(k));
        gp_str(g.f, pn[idx[k]].label);
        if (m <= MAX_VALUE_LABELS)
            fprintf(g.f, ", '' using ($0%+.6g):%zu:(sprintf('%%.1f', column(%zu))) with labels offset 0,0.7 "
                         "font ',10' notitle",
                    off, k + 2, k + 2);
    }
    fputc('\n', g.f);
    rc = body_commit(&g, p, name);
done:
    free(v);
    free(idx);
    return rc;
}

/* ---- CSP: RMS distances ---- */

static int plot_csp_rms(plotter *p, const char *dataset, const panel *pn, size_t np)
{
    size_t *idx = malloc((np ? np : 1) * sizeof *idx);
    if (!idx) return cb_fail(p->err, CB_ERR_NOMEM, "out of memory");
    size_t m = present(pn, np, 0, idx);
    if (!m) {
        free(idx);
        return CB_OK;
    }
    double vmax = NAN;
    for (size_t k = 0; k < m; k++) {
        double x = max_finite(&pn[idx[k]].a);
        if (x > vmax || isnan(vmax)) vmax = x;
    }
    double upper = vmax > 0 ? nice_ceil(vmax) : 1;
    const double w = upper / RMS_BINS;
    size_t *counts = calloc(m * RMS_BINS, sizeof *counts);
    int rc = CB_OK;
    if (!counts) {
        free(idx);
        return cb_fail(p->err, CB_ERR_NOMEM, "out of memory");
    }
    size_t cmax = 0;
    for (size_t k = 0; k < m; k++) {
        histogram(&pn[idx[k]].a, upper, RMS_BINS, counts + k * RMS_BINS);
        for (size_t b = 0; b < RMS_BINS; b++)
            if (counts[k * RMS_BINS + b] > cmax) cmax = counts[k * RMS_BINS + b];
    }

    char file[NAME_CAP], base[NAME_CAP], name[NAME_CAP], dat[PATH_CAP];
    cb_plot_file_name(dataset, file, sizeof file);
    snprintf(base, sizeof base, "csp_rms_%.400s", file);
    unique_name(p, base, name, sizeof name);
    cb_atomic_file a;
    if ((rc = path_of(p, name, "dat", dat, sizeof dat)) || (rc = open_file(p, name, "dat", &a))) goto done;
    fprintf(a.f,
            "# %s: normalised RMS distance of the matched CSP targets, dataset %s\n"
            "# %d bins of width %.17g over [0, %.17g]; unmatched targets (NaN) are not counted\n"
            "# columns: 1 bin_lo, 2 bin_hi, 3 bin_mid, then the count of each run:\n",
            name, dataset, RMS_BINS, w, upper);
    for (size_t k = 0; k < m; k++)
        fprintf(a.f, "#   %zu %s (run %lld, %zu of %zu targets matched)\n", 4 + k, pn[idx[k]].label,
                (long long)pn[idx[k]].run->id, n_finite(&pn[idx[k]].a), pn[idx[k]].a.n);
    for (size_t b = 0; b < RMS_BINS; b++) {
        fprintf(a.f, "%.10g %.10g %.10g", (double)b * w, (double)(b + 1) * w, ((double)b + 0.5) * w);
        for (size_t k = 0; k < m; k++) fprintf(a.f, " %zu", counts[k * RMS_BINS + b]);
        fputc('\n', a.f);
    }
    if ((rc = commit_file(p, name, "dat", &a))) goto done;

    body g;
    if ((rc = body_open(&g, p))) goto done;
    size_t rows, cols;
    layout(m, &rows, &cols);
    fprintf(g.f, "set multiplot layout %zu,%zu title ", rows, cols);
    gp_strf(g.f, "CSP: normalised RMS distance of the matched targets: %s", dataset);
    fprintf(g.f,
            " font ',14'\n"
            "set style fill solid 0.9 border -1\n"
            "set boxwidth %.17g absolute\n"
            "set xrange [0:%.17g]\n"
            "set yrange [0:%.6g]\n"
            "set xlabel 'normalised RMS distance'\n"
            "set ylabel 'targets'\n"
            "unset key\n"
            "set tics out nomirror\n",
            w, upper, cmax ? ceil(1.08 * (double)cmax) : 1.0);
    for (size_t k = 0; k < m; k++) {
        const series *s = &pn[idx[k]].a;
        size_t matched = n_finite(s);
        gp_title2(g.f, pn[idx[k]].label, "match rate %.1f %% (%zu of %zu)",
                  s->n ? 100.0 * (double)matched / (double)s->n : 0.0, matched, s->n);
        fputs("\nplot ", g.f);
        gp_str(g.f, dat);
        fprintf(g.f, " using 3:%zu with boxes fc rgb '%s' notitle\n", 4 + k, color(k));
    }
    fputs("unset multiplot\n", g.f);
    rc = body_commit(&g, p, name);
done:
    free(counts);
    free(idx);
    return rc;
}

/* ---- training curves ---- */

static int plot_train_loss(plotter *p, const cb_run *r)
{
    cb_train_point *pt;
    size_t n;
    int rc = cb_store_get_train_log(p->s, r->id, NULL, &pt, &n, p->err);
    if (rc == CB_ERR_EOF) return CB_OK;
    if (rc) return rc;
    /* Points come ordered by name, then step: a run of equal names is one curve.
     * Non-finite values are left out; a name with none left is not drawn. */
    int all_positive = 1;
    size_t n_curves = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(pt[i].value)) continue;
        all_positive &= pt[i].value > 0;
        size_t j = i;
        while (j > 0 && strcmp(pt[j - 1].name, pt[i].name) == 0 && !isfinite(pt[j - 1].value)) j--;
        if (j == 0 || strcmp(pt[j - 1].name, pt[i].name) != 0) n_curves++;
    }
    if (!n_curves) {
        cb_train_points_free(pt, n);
        return CB_OK;
    }
    char model[96], dataset[160], task[64], split[96], base[NAME_CAP], name[NAME_CAP], dat[PATH_CAP];
    cb_plot_file_name(r->model, model, sizeof model);
    cb_plot_file_name(r->dataset, dataset, sizeof dataset);
    cb_plot_file_name(r->task, task, sizeof task);
    int std_split = !r->split || strcmp(r->split, "standard") == 0;
    cb_plot_file_name(std_split ? "" : r->split, split, sizeof split);
    snprintf(base, sizeof base, "train_loss_%s_%s_%s%s%s", model, dataset, task, std_split ? "" : "_",
             std_split ? "" : split);
    unique_name(p, base, name, sizeof name);
    cb_atomic_file a;
    if ((rc = path_of(p, name, "dat", dat, sizeof dat)) || (rc = open_file(p, name, "dat", &a))) goto done;
    fprintf(a.f,
            "# %s: training log of run %lld (%s, %s, %s)\n"
            "# one block per logged name (gnuplot index 0, 1, …): step value\n",
            name, (long long)r->id, r->model, r->dataset, r->task);
    /* names[c], points[c]: what the script needs per curve. */
    const char **names = malloc(n_curves * sizeof *names);
    size_t *points = calloc(n_curves, sizeof *points);
    if (!names || !points) {
        free(names);
        free(points);
        cb_atomic_abort(&a);
        rc = cb_fail(p->err, CB_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t c = 0;
    const char *cur = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(pt[i].value)) continue;
        if (!cur || strcmp(cur, pt[i].name) != 0) {
            fprintf(a.f, "%s# %s\n", cur ? "\n\n" : "", pt[i].name);
            cur = names[c++] = pt[i].name;
        }
        points[c - 1]++;
        fprintf(a.f, "%lld %.10g\n", (long long)pt[i].step, pt[i].value);
    }
    rc = commit_file(p, name, "dat", &a);

    body g;
    if (!rc && !(rc = body_open(&g, p))) {
        fputs("set title ", g.f);
        gp_strf(g.f, "training log: %s on %s (%s, run %lld)", r->model, r->dataset, r->task, (long long)r->id);
        fprintf(g.f,
                " font ',14'\n"
                "set xlabel 'step'\n"
                "set ylabel '%s'\n"
                "%s"
                "set key top right opaque box\n"
                "set grid\n"
                "set tics out nomirror\n"
                "plot ",
                all_positive ? "loss (log scale)" : "loss", all_positive ? "set logscale y\n" : "");
        for (size_t k = 0; k < n_curves; k++) {
            if (k) fputs(", ", g.f);
            gp_str(g.f, dat);
            fprintf(g.f, " index %zu using 1:2 with %s lc rgb '%s' title ", k,
                    points[k] > 1 ? "lines lw 2" : "points pt 7 ps 1.5", color(k));
            gp_str(g.f, names[k]);
        }
        fputc('\n', g.f);
        rc = body_commit(&g, p, name);
    }
    free(names);
    free(points);
done:
    cb_train_points_free(pt, n);
    return rc;
}

/* ---- everything ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The test set is drawn once, from the first run that stored it with a value: *from
 * is set when r's series `name` is that one (then in *out), else *out stays empty. */
static int load_ref(plotter *p, const cb_run *r, const char *name, series *out, const cb_run **from)
{
    int rc = load_series(p->s, r->id, name, out, p->err);
    if (!rc && out->present && n_finite(out)) {
        *from = r;
    } else {
        free(out->v);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

/* The plots of one dataset: DNG histograms and metrics, CSP distances. */
static int plot_dataset(plotter *p, const cb_run *runs, size_t n_runs, const char *dataset)
{
    panel *pn;
    size_t np;
    int rc = select_panels(runs, n_runs, "dng", dataset, &pn, &np, p->err);
    if (rc) return rc;
    series ref_d = {0}, ref_e = {0};
    const cb_run *ref_d_run = NULL, *ref_e_run = NULL;
    for (size_t i = 0; i < np && !rc; i++) {
        rc = load_series(p->s, pn[i].run->id, "density", &pn[i].a, p->err);
        if (!rc) rc = load_series(p->s, pn[i].run->id, "num_elems", &pn[i].b, p->err);
        if (!rc && !ref_d_run) rc = load_ref(p, pn[i].run, "ref_density", &ref_d, &ref_d_run);
        if (!rc && !ref_e_run) rc = load_ref(p, pn[i].run, "ref_num_elems", &ref_e, &ref_e_run);
    }
    if (!rc) rc = plot_density(p, dataset, pn, np, ref_d_run ? &ref_d : NULL, ref_d_run);
    if (!rc) rc = plot_num_elems(p, dataset, pn, np, ref_e_run ? &ref_e : NULL, ref_e_run);
    if (!rc) rc = plot_dng_metrics(p, dataset, pn, np);
    free(ref_d.v);
    free(ref_e.v);
    panels_free(pn, np);
    if (rc) return rc;

    if ((rc = select_panels(runs, n_runs, "csp", dataset, &pn, &np, p->err))) return rc;
    for (size_t i = 0; i < np && !rc; i++) rc = load_series(p->s, pn[i].run->id, "rms", &pn[i].a, p->err);
    if (!rc) rc = plot_csp_rms(p, dataset, pn, np);
    panels_free(pn, np);
    return rc;
}

int cb_plot_write(cb_store *s, const cb_run *runs, size_t n_runs, const cb_plot_opts *o, cb_plot_set *out,
                  cb_error *err)
{
    memset(out, 0, sizeof *out);
    plotter p = {s, o, out, err};
    /* The datasets, each once, in name order. */
    const char **ds = malloc((n_runs ? n_runs : 1) * sizeof *ds);
    if (!ds) return cb_fail(err, CB_ERR_NOMEM, "out of memory");
    size_t nd = 0;
    for (size_t i = 0; i < n_runs; i++)
        if (runs[i].dataset) ds[nd++] = runs[i].dataset;
    qsort(ds, nd, sizeof *ds, cmp_str);
    int rc = CB_OK;
    for (size_t i = 0; i < nd && !rc; i++)
        if (i == 0 || strcmp(ds[i], ds[i - 1]) != 0) rc = plot_dataset(&p, runs, n_runs, ds[i]);
    free(ds);
    for (size_t i = 0; i < n_runs && !rc; i++) rc = plot_train_loss(&p, &runs[i]);
    return rc;
}

void cb_plot_set_free(cb_plot_set *p)
{
    for (size_t i = 0; i < p->n; i++) free(p->names[i]);
    free(p->names);
    p->names = NULL;
    p->n = 0;
}

/* ---- gnuplot ---- */

static int is_executable(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0;
}

int cb_plot_find_gnuplot(char *buf, size_t cap)
{
    const char *want = getenv("CB_GNUPLOT");
    if (!want || !want[0]) want = "gnuplot";
    if (strchr(want, '/')) {
        if (!is_executable(want) || (size_t)snprintf(buf, cap, "%s", want) >= cap) return -1;
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path || !path[0]) path = "/usr/local/bin:/usr/bin:/bin";
    /* Each PATH entry in turn, as execvp would; an empty entry is the current directory. */
    for (const char *dir = path;; dir++) {
        const char *end = strchr(dir, ':');
        size_t len = end ? (size_t)(end - dir) : strlen(dir);
        int n = snprintf(buf, cap, "%.*s/%s", (int)(len ? len : 1), len ? dir : ".", want);
        if (n > 0 && (size_t)n < cap && is_executable(buf)) return 0;
        if (!end) break;
        dir = end;
    }
    return -1;
}

int cb_plot_run_gnuplot(const char *gnuplot, const char *script, cb_error *err)
{
    /* Output so far goes out before gnuplot's own messages. */
    fflush(stdout);
    fflush(stderr);
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa)) return cb_fail(err, CB_ERR_NOMEM, "%s: out of memory", script);
    int rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *argv[] = {(char *)gnuplot, (char *)script, NULL};
    pid_t pid = -1;
    if (!rc) rc = posix_spawn(&pid, gnuplot, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) return cb_fail(err, CB_ERR_EXTERNAL, "%s: cannot run %s: %s", script, gnuplot, strerror(rc));
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return cb_fail(err, CB_ERR_EXTERNAL, "%s: lost gnuplot (pid %ld): %s", script, (long)pid,
                           strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return CB_OK;
    if (WIFEXITED(st))
        return cb_fail(err, CB_ERR_EXTERNAL, "gnuplot failed on %s (exit %d)", script, WEXITSTATUS(st));
    return cb_fail(err, CB_ERR_EXTERNAL, "gnuplot died on %s (signal %d)", script,
                   WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
