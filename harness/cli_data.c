/* crystalbench data stats | data convert */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crystalbench/dataset.h"
#include "crystalbench/elements.h"
#include "crystalbench/progress.h"
#include "crystalbench/reduce.h"

const char cb_usage_data_stats[] =
    "usage: crystalbench data stats FILE [--format F] [--spacegroups] [--symprec X] [--max-errors N]\n"
    "\n"
    "Reads every structure of FILE (CSV with a 'cif' column, .csv.gz, a folder of CIFs,\n"
    "a .cif file, or extxyz) and prints: the number of structures, the elements and how\n"
    "many structures contain each, a histogram of atoms per cell, density quantiles\n"
    "(g/cm^3), and every unreadable row with its row number and reason; with\n"
    "--spacegroups also the space-group counts found by spglib.  Exits 1 when any row is\n"
    "unreadable.\n"
    "\n"
    "  --format F       csv | cif-dir | cif | extxyz (default: from the path)\n"
    "  --spacegroups    count space groups with spglib (slow: spglib 2.0 needs ~5-10 ms\n"
    "                   a structure, ~1 min for MP-20 test; reading alone takes ~0.2 s)\n"
    "  --symprec X      spglib distance tolerance in A (default 0.1, as Materials Project)\n"
    "  --max-errors N   list at most N unreadable rows (default: all)\n";

const char cb_usage_data_convert[] =
    "usage: crystalbench data convert IN OUT [--from F] [--to F]\n"
    "\n"
    "Converts structures between layouts: CSV (CDVAE layout, .csv or .csv.gz in), a\n"
    "folder of CIF files, one .cif file, extxyz.  Formats come from the paths (an\n"
    "existing or new path without an extension is a CIF folder) unless given.  Fails on\n"
    "the first unreadable row, naming it; OUT is written only when all rows were read.\n"
    "\n"
    "  --from F, --to F  csv | cif-dir | cif | extxyz\n";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.quantile's default (linear interpolation between order statistics). */
static double quantile(const double *sorted, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    double t = pos - (double)lo;
    return sorted[lo] + t * (sorted[hi] - sorted[lo]);
}

typedef struct sg_count {
    int number;
    char symbol[16];
    size_t count;
} sg_count;

typedef struct stats {
    size_t n_ok, n_bad;
    size_t elem_structs[CB_MAX_Z + 1];
    size_t *natoms_hist; /* index = atoms per cell */
    int max_atoms;
    double *density;
    size_t density_cap;
    sg_count sg[231]; /* index 0: spglib found no space group */
    size_t sg_failed;
} stats;

static int grow_hist(stats *s, int n)
{
    if (n <= s->max_atoms) return 0;
    size_t *h = realloc(s->natoms_hist, (size_t)(n + 1) * sizeof *h);
    if (!h) return -1;
    for (int i = s->max_atoms + 1; i <= n; i++) h[i] = 0;
    s->natoms_hist = h;
    s->max_atoms = n;
    return 0;
}

static int add_crystal(stats *s, const cb_crystal *c, double symprec)
{
    int seen[CB_MAX_Z + 1] = {0};
    for (int i = 0; i < c->n; i++)
        if (!seen[c->z[i]]) {
            seen[c->z[i]] = 1;
            s->elem_structs[c->z[i]]++;
        }
    if (grow_hist(s, c->n)) return -1;
    s->natoms_hist[c->n]++;
    if (s->n_ok == s->density_cap) {
        size_t cap = s->density_cap ? 2 * s->density_cap : 1024;
        double *d = realloc(s->density, cap * sizeof *d);
        if (!d) return -1;
        s->density = d;
        s->density_cap = cap;
    }
    s->density[s->n_ok++] = cb_crystal_density(c);
    if (symprec > 0) {
        cb_spacegroup sg;
        if (cb_spacegroup_get(c, symprec, CB_SPG_ANGLE_TOL, &sg, NULL) == CB_OK && sg.number >= 1 && sg.number <= 230) {
            s->sg[sg.number].number = sg.number;
            snprintf(s->sg[sg.number].symbol, sizeof s->sg[sg.number].symbol, "%s", sg.international);
            s->sg[sg.number].count++;
        } else {
            s->sg_failed++;
        }
    }
    return 0;
}

static int cmp_sg(const void *a, const void *b)
{
    const sg_count *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return x->number - y->number;
}

static void print_stats(const char *path, cb_format fmt, stats *s, double seconds, double symprec)
{
    printf("%s: %zu structures, %zu unreadable (%s, %.2f s)\n", path, s->n_ok, s->n_bad,
           cb_format_name(fmt), seconds);
    if (s->n_ok == 0) return;

    int n_elems = 0;
    for (int z = 1; z <= CB_MAX_Z; z++) n_elems += s->elem_structs[z] > 0;
    printf("\nelements: %d distinct (structures containing each)\n", n_elems);
    int col = 0;
    for (int z = 1; z <= CB_MAX_Z; z++) {
        if (!s->elem_structs[z]) continue;
        printf("  %-2s %6zu", cb_element_symbol(z), s->elem_structs[z]);
        if (++col % 6 == 0) putchar('\n');
    }
    if (col % 6) putchar('\n');

    printf("\natoms per cell:\n");
    size_t peak = 0;
    for (int n = 0; n <= s->max_atoms; n++)
        if (s->natoms_hist[n] > peak) peak = s->natoms_hist[n];
    for (int n = 1; n <= s->max_atoms; n++) {
        if (!s->natoms_hist[n]) continue;
        int width = (int)(40.0 * (double)s->natoms_hist[n] / (double)peak + 0.5);
        printf("  %4d %7zu ", n, s->natoms_hist[n]);
        for (int i = 0; i < width; i++) putchar('#');
        putchar('\n');
    }

    qsort(s->density, s->n_ok, sizeof *s->density, cmp_double);
    printf("\ndensity (g/cm^3): min %.4f  p5 %.4f  p25 %.4f  median %.4f  p75 %.4f  p95 %.4f  max %.4f\n",
           s->density[0], quantile(s->density, s->n_ok, 0.05), quantile(s->density, s->n_ok, 0.25),
           quantile(s->density, s->n_ok, 0.5), quantile(s->density, s->n_ok, 0.75),
           quantile(s->density, s->n_ok, 0.95), s->density[s->n_ok - 1]);

    if (symprec > 0) {
        sg_count sorted[231];
        int n_sg = 0;
        for (int i = 1; i <= 230; i++)
            if (s->sg[i].count) sorted[n_sg++] = s->sg[i];
        qsort(sorted, (size_t)n_sg, sizeof *sorted, cmp_sg);
        printf("\nspace groups (spglib, symprec %g A): %d distinct", symprec, n_sg);
        if (s->sg_failed) printf(", %zu structures without one", s->sg_failed);
        putchar('\n');
        for (int i = 0; i < n_sg; i++) {
            printf("  %3d %-10s %6zu", sorted[i].number, sorted[i].symbol, sorted[i].count);
            if ((i + 1) % 4 == 0 || i + 1 == n_sg) putchar('\n');
        }
    }
}

int cb_cmd_data_stats(int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                         {"symprec", required_argument, 0, 's'},
                                         {"max-errors", required_argument, 0, 'm'},
                                         {"spacegroups", no_argument, 0, 'g'},
                                         {0, 0, 0, 0}};
    cb_format fmt = CB_FORMAT_AUTO;
    double symprec = 0.1;
    int spacegroups = 0;
    long max_errors = -1;
    char *end;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            fmt = cb_format_from_name(optarg);
            if (fmt == CB_FORMAT_AUTO)
                return cb_usage_error(cb_usage_data_stats, "unknown format '%s'", optarg);
            break;
        case 's':
            symprec = strtod(optarg, &end);
            if (*end || !(symprec > 0))
                return cb_usage_error(cb_usage_data_stats, "--symprec needs a number > 0, not '%s'", optarg);
            break;
        case 'g':
            spacegroups = 1;
            break;
        case 'm':
            max_errors = strtol(optarg, &end, 10);
            if (*end || max_errors < 0)
                return cb_usage_error(cb_usage_data_stats, "--max-errors needs a count, not '%s'", optarg);
            break;
        default:
            return cb_usage_error(cb_usage_data_stats, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cb_usage_error(cb_usage_data_stats, "data stats takes exactly one FILE");
    const char *path = argv[optind];
    if (fmt == CB_FORMAT_AUTO) fmt = cb_format_guess(path);
    if (!spacegroups) symprec = 0; /* 0 = no symmetry search below */

    cb_error err;
    cb_reader *r;
    double t0 = cb_now();
    if (cb_reader_open(path, fmt, &r, &err)) {
        fprintf(stderr, "crystalbench: %s\n", err.msg);
        return CB_EXIT_FAIL;
    }
    stats s;
    memset(&s, 0, sizeof s);
    s.max_atoms = -1;
    cb_progress bar;
    cb_progress_start(&bar, spacegroups ? "reading + spglib" : "reading", 0);
    int status = CB_EXIT_OK;
    for (;;) {
        cb_crystal c;
        int rc = cb_reader_next(r, &c, &err);
        if (rc == CB_ERR_EOF) break;
        if (rc != CB_OK) {
            s.n_bad++;
            if (max_errors < 0 || (long)s.n_bad <= max_errors) printf("unreadable: %s\n", err.msg);
            continue;
        }
        int fail = add_crystal(&s, &c, symprec);
        cb_crystal_free(&c);
        if (fail) {
            fprintf(stderr, "crystalbench: out of memory\n");
            status = CB_EXIT_FAIL;
            break;
        }
        cb_progress_update(&bar, s.n_ok + s.n_bad);
    }
    cb_progress_finish(&bar);
    cb_reader_close(r);
    if (status == CB_EXIT_OK) {
        if (s.n_bad && max_errors >= 0 && (long)s.n_bad > max_errors)
            printf("unreadable: ... %zu more not listed\n", s.n_bad - (size_t)max_errors);
        if (s.n_bad) putchar('\n');
        print_stats(path, fmt, &s, cb_now() - t0, symprec);
        if (s.n_bad) status = CB_EXIT_FAIL;
    }
    free(s.natoms_hist);
    free(s.density);
    return status;
}

int cb_cmd_data_convert(int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, 0, 'f'}, {"to", required_argument, 0, 't'}, {0, 0, 0, 0}};
    cb_format from = CB_FORMAT_AUTO, to = CB_FORMAT_AUTO;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        cb_format *which = ch == 'f' ? &from : &to;
        if (ch != 'f' && ch != 't')
            return cb_usage_error(cb_usage_data_convert, "unknown option '%s'", argv[optind - 1]);
        *which = cb_format_from_name(optarg);
        if (*which == CB_FORMAT_AUTO)
            return cb_usage_error(cb_usage_data_convert, "unknown format '%s'", optarg);
    }
    if (optind != argc - 2) return cb_usage_error(cb_usage_data_convert, "data convert takes IN and OUT");
    const char *in = argv[optind], *out = argv[optind + 1];
    if (from == CB_FORMAT_AUTO) from = cb_format_guess(in);
    if (to == CB_FORMAT_AUTO) to = cb_format_guess(out);
    if (to == CB_FORMAT_AUTO) to = CB_FORMAT_CIF_DIR;

    cb_error err;
    cb_dataset ds = {0};
    if (cb_dataset_load(in, from, &ds, &err)) {
        fprintf(stderr, "crystalbench: %s\n", err.msg);
        cb_dataset_free(&ds);
        return CB_EXIT_FAIL;
    }
    int rc = cb_dataset_write(out, to, ds.items, ds.n, &err);
    if (rc)
        fprintf(stderr, "crystalbench: %s\n", err.msg);
    else
        fprintf(stderr, "wrote %zu structures to %s (%s)\n", ds.n, out, cb_format_name(to));
    cb_dataset_free(&ds);
    return rc ? CB_EXIT_FAIL : CB_EXIT_OK;
}
