/* A figure's files in the plot directory: NAME.dat, the numbers drawn, and NAME.gp,
 * the gnuplot script that draws NAME.png and/or NAME.svg from it.  Both are written
 * atomically and listed once whole; NAME joins the plot set when its script is
 * written. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                     "#9467bd", "#8c564b", "#e377c2", "#17becf"};
#define N_COLORS (sizeof colors / sizeof colors[0])
const char cb_plot_ref_color[] = "#c0c0c0";

const char *cb_plot_color(size_t i) { return colors[i % N_COLORS]; }

/* ---- names and paths ---- */

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

static int commit_file(const plotter *p, const char *name, const char *ext, cb_atomic_file *a)
{
    int rc = cb_atomic_commit(a, p->err);
    if (!rc && p->o->listing) fprintf(p->o->listing, "%s/%s.%s\n", p->o->shown_dir, name, ext);
    return rc;
}

/* ---- NAME.dat ---- */

int cb_plot_open_data(plotter *p, const char *base, char name[CB_PLOT_NAME_CAP], char dat[CB_PLOT_PATH_CAP],
                      cb_atomic_file *a)
{
    unique_name(p, base, name, CB_PLOT_NAME_CAP);
    int rc = path_of(p, name, "dat", dat, CB_PLOT_PATH_CAP);
    return rc ? rc : cb_atomic_open(a, dat, p->err);
}

int cb_plot_open_dataset_data(plotter *p, const char *kind, const char *dataset, char name[CB_PLOT_NAME_CAP],
                              char dat[CB_PLOT_PATH_CAP], cb_atomic_file *a)
{
    char file[CB_PLOT_NAME_CAP], base[CB_PLOT_NAME_CAP];
    cb_plot_file_name(dataset, file, sizeof file);
    snprintf(base, sizeof base, "%s_%.400s", kind, file);
    return cb_plot_open_data(p, base, name, dat, a);
}

int cb_plot_commit_data(plotter *p, const char *name, cb_atomic_file *a) { return commit_file(p, name, "dat", a); }

/* ---- gnuplot strings ---- */

void cb_plot_gp_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

void cb_plot_gp_strf(FILE *f, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cb_plot_gp_str(f, buf);
}

/* ---- NAME.gp ---- */

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
    char script[CB_PLOT_PATH_CAP], image[CB_PLOT_PATH_CAP];
    int rc = path_of(p, name, "gp", script, sizeof script);
    if (!rc) rc = cb_atomic_open(&a, script, p->err);
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
        cb_plot_gp_str(a.f, image);
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

int cb_plot_script_open(plot_script *g, const plotter *p)
{
    g->text = NULL;
    g->len = 0;
    g->f = open_memstream(&g->text, &g->len);
    if (!g->f) return cb_fail(p->err, CB_ERR_NOMEM, "out of memory for a plot script");
    fputs("reset\nset encoding utf8\n", g->f);
    return CB_OK;
}

int cb_plot_script_commit(plot_script *g, plotter *p, const char *name)
{
    int bad = ferror(g->f);
    bad |= fclose(g->f) != 0;
    int rc = bad ? cb_fail(p->err, CB_ERR_NOMEM, "out of memory for a plot script") : write_script(p, name, g->text);
    free(g->text);
    return rc;
}
