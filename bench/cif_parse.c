/* CIF parse throughput: every row of a dataset CSV read and parsed into cb_crystal
 * (CSV scanning included), against pymatgen's Structure.from_str on the same CIF
 * strings (CSV reading excluded on the Python side, so the ratio favours pymatgen).
 *
 *   bench_cif_parse [CSV] [--repeat N] [--no-python]
 * CSV defaults to $CB_SHARED_DIR/data/mp_20/test.csv (or ../shared/...). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/dataset.h"
#include "crystalbench/progress.h"

static double time_one_pass(const char *path, size_t *n_rows, size_t *n_sites)
{
    cb_error err;
    cb_reader *r;
    if (cb_reader_open(path, CB_FORMAT_CSV, &r, &err)) {
        fprintf(stderr, "bench_cif_parse: %s\n", err.msg);
        exit(1);
    }
    double t0 = cb_now();
    size_t rows = 0, sites = 0;
    for (;;) {
        cb_crystal c;
        int rc = cb_reader_next(r, &c, &err);
        if (rc == CB_ERR_EOF) break;
        if (rc) {
            fprintf(stderr, "bench_cif_parse: %s\n", err.msg);
            exit(1);
        }
        rows++;
        sites += (size_t)c.n;
        cb_crystal_free(&c);
    }
    double dt = cb_now() - t0;
    cb_reader_close(r);
    *n_rows = rows;
    *n_sites = sites;
    return dt;
}

/* Runs bench/py/cif_parse.py; returns pymatgen's seconds per CIF, or 0 when unavailable. */
static double python_seconds_per_cif(const char *path, const char *python)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s bench/py/cif_parse.py '%s' 2>/dev/null", python, path);
    FILE *p = popen(cmd, "r");
    if (!p) return 0;
    double per = 0;
    if (fscanf(p, "%lf", &per) != 1) per = 0;
    pclose(p);
    return per;
}

int main(int argc, char **argv)
{
    openblas_set_num_threads(1); /* as the CLI: no BLAS worker threads for 3x3 LAPACK calls */
    const char *path = NULL;
    int repeat = 5, with_python = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-python") == 0)
            with_python = 0;
        else
            path = argv[i];
    }
    static char def[4096];
    if (!path) {
        const char *shared = getenv("CB_SHARED_DIR");
        snprintf(def, sizeof def, "%s/data/mp_20/test.csv", shared ? shared : "../shared");
        path = def;
    }
    double best = 1e30;
    size_t rows = 0, sites = 0;
    for (int i = 0; i < (repeat > 0 ? repeat : 1); i++) {
        double dt = time_one_pass(path, &rows, &sites);
        if (dt < best) best = dt;
    }
    printf("bench_cif_parse: %s\n", path);
    printf("  crystalbench: %zu CIFs (%zu sites) in %.3f s (best of %d) = %.0f CIF/s, %.2f us/CIF\n", rows,
           sites, best, repeat, (double)rows / best, 1e6 * best / (double)rows);
    if (with_python) {
        const char *python = getenv("CB_PYTHON");
        double per = python_seconds_per_cif(path, python ? python : "/usr/bin/python3");
        if (per > 0)
            printf("  pymatgen Structure.from_str: %.0f CIF/s, %.1f us/CIF\n  ratio: %.0fx\n", 1.0 / per,
                   1e6 * per, per / (best / (double)rows));
        else
            printf("  pymatgen: not available (python3-pymatgen not installed)\n");
    }
    return 0;
}
