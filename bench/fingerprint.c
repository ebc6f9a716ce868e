/* Structure fingerprint throughput (CrystalNN 'ops' preset, metrics.md §4), one thread,
 * over every structure of a dataset CSV, against the reference (matminer's featurize,
 * bench/py/fingerprint.py) timed on COUNT of the same structures.
 *
 *   bench_fingerprint [CSV] [--python COUNT]
 * CSV defaults to data/mp_20/test.csv (scripts/get-data), else
 * $CB_SHARED_DIR/data/mp_20/test.csv (or ../shared/...). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/dataset.h"
#include "crystalbench/dng.h"
#include "crystalbench/progress.h"

static const char *default_csv(void)
{
    static char path[4096];
    FILE *f = fopen("data/mp_20/test.csv", "r");
    if (f) {
        fclose(f);
        return "data/mp_20/test.csv";
    }
    const char *shared = getenv("CB_SHARED_DIR");
    snprintf(path, sizeof path, "%s/data/mp_20/test.csv", shared && *shared ? shared : "../shared");
    return path;
}

int main(int argc, char **argv)
{
    openblas_set_num_threads(1);
    const char *path = NULL;
    int py_count = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--python") == 0 && i + 1 < argc)
            py_count = atoi(argv[++i]);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: bench_fingerprint [CSV] [--python COUNT]\n");
            return 2;
        } else
            path = argv[i];
    }
    if (!path) path = default_csv();
    cb_dataset ds;
    cb_error err;
    if (cb_dataset_load(path, CB_FORMAT_AUTO, &ds, &err)) {
        fprintf(stderr, "bench_fingerprint: %s\n", err.msg);
        return 1;
    }
    size_t sites = 0, failed = 0;
    double fp[CB_STRUCT_FP_LEN], t0 = cb_now();
    for (size_t i = 0; i < ds.n; i++) {
        sites += (size_t)ds.items[i].n;
        if (cb_struct_fingerprint(&ds.items[i], fp, &err)) failed++;
    }
    double dt = cb_now() - t0;
    printf("bench_fingerprint: %s\n", path);
    printf("crystalbench: %zu structures (%zu sites, %zu fingerprint failures) in %.2f s: %.0f structures/s, "
           "%.1f us/structure, %.1f us/site\n",
           ds.n, sites, failed, dt, (double)ds.n / dt, 1e6 * dt / (double)ds.n, 1e6 * dt / (double)sites);
    if (py_count > 0) {
        const char *py = getenv("CB_PYTHON");
        char cmd[9000];
        snprintf(cmd, sizeof cmd, "OPENBLAS_NUM_THREADS=1 '%s' bench/py/fingerprint.py '%s' %d",
                 py && *py ? py : "/usr/bin/python3", path, py_count);
        FILE *p = popen(cmd, "r");
        long n = 0, ns = 0;
        double t = 0;
        if (p && fscanf(p, "%ld %ld %lf", &n, &ns, &t) == 3 && n > 0) {
            double per_py = t / (double)ns, per_c = dt / (double)sites;
            printf("reference (matminer featurize via pymatgen, one thread): %ld structures (%ld sites) in %.2f s: "
                   "%.1f ms/structure, %.2f ms/site\n",
                   n, ns, t, 1e3 * t / (double)n, 1e3 * per_py);
            printf("ratio per site: %.0fx\n", per_py / per_c);
        } else {
            printf("reference: `%s` failed (needs pymatgen and the source tree)\n", cmd);
        }
        if (p) pclose(p);
    }
    cb_dataset_free(&ds);
    return 0;
}
