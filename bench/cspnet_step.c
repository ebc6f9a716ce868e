/* One FlowMM training step on the CPU: the flow-matching draws, CSPNet forward and
 * backward, clipping, AdamW and the EMA update, on a fixed batch of real MP-20
 * crystals; the matrix products' achieved GFLOP/s against cblas_sgemm's rate on large
 * square matrices measured in the same run with the same threads; and, with --python,
 * the same step in PyTorch (bench/py/cspnet_step.py: the same architecture written the
 * way the reference is, on Debian's python3-torch) on a batch of the same shape.
 *
 *   bench_cspnet_step [CSV] [--threads N] [--batch B] [--steps S] [--hidden H]
 *                     [--layers L] [--freq F] [--python]
 * Defaults: the CPU config — hidden 256, 4 layers, 32 frequencies, time
 * embedding 64, batch 64 — the first B crystals of data/mp_20/val.csv (else
 * $CB_SHARED_DIR/data/mp_20/val.csv), 2 threads, 20 timed steps (median). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crystalbench/dataset.h"
#include "crystalbench/progress.h"
#include "../models/flowmm/flowmm.h"

static const char *default_csv(void)
{
    static char path[4096];
    if (access("data/mp_20/val.csv", R_OK) == 0) return "data/mp_20/val.csv";
    const char *shared = getenv("CB_SHARED_DIR");
    snprintf(path, sizeof path, "%s/data/mp_20/val.csv", shared && *shared ? shared : "../shared");
    return path;
}

static void die(const char *what, const cb_error *err)
{
    fprintf(stderr, "bench_cspnet_step: %s: %s\n", what, err->msg);
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* cblas_sgemm on n×n×n, best of 5: GFLOP/s. */
static double sgemm_peak(int n)
{
    float *a = malloc(sizeof(float) * (size_t)n * (size_t)n), *b = malloc(sizeof(float) * (size_t)n * (size_t)n),
          *c = malloc(sizeof(float) * (size_t)n * (size_t)n);
    for (size_t i = 0; i < (size_t)n * (size_t)n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    double best = 1e30;
    for (int r = 0; r < 6; r++) {
        double t0 = cb_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double dt = cb_now() - t0;
        if (r > 0 && dt < best) best = dt; /* the first call warms up the threads */
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * n * (double)n * n / best / 1e9;
}

int main(int argc, char **argv)
{
    const char *csv = NULL;
    int threads = 2, batch = 64, steps = 20, python = 0;
    char hidden[16] = "256", layers[16] = "4", freq[16] = "32";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--threads") && more) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--batch") && more) batch = atoi(argv[++i]);
        else if (!strcmp(a, "--steps") && more) steps = atoi(argv[++i]);
        else if (!strcmp(a, "--hidden") && more) snprintf(hidden, sizeof hidden, "%s", argv[++i]);
        else if (!strcmp(a, "--layers") && more) snprintf(layers, sizeof layers, "%s", argv[++i]);
        else if (!strcmp(a, "--freq") && more) snprintf(freq, sizeof freq, "%s", argv[++i]);
        else if (!strcmp(a, "--python")) python = 1;
        else if (a[0] != '-') csv = a;
        else {
            fprintf(stderr, "usage: bench_cspnet_step [CSV] [--threads N] [--batch B] [--steps S] [--hidden H] "
                            "[--layers L] [--freq F] [--python]\n");
            return 2;
        }
    }
    if (threads < 1 || batch < 1 || batch > 4096 || steps < 1) {
        fprintf(stderr, "bench_cspnet_step: threads, batch (<= 4096) and steps must be positive\n");
        return 2;
    }
    if (!csv) csv = default_csv();
    openblas_set_num_threads(threads);

    cb_error err;
    cb_dataset ds;
    flowmm_data data;
    if (cb_dataset_load(csv, CB_FORMAT_AUTO, &ds, &err)) die("data", &err);
    if (flowmm_data_prepare(&ds, &data, &err)) die("data", &err);
    if (data.n < (size_t)batch) {
        fprintf(stderr, "bench_cspnet_step: %s has %zu usable crystals, fewer than the batch\n", csv, data.n);
        return 1;
    }

    cb_config cfg;
    char b[16];
    snprintf(b, sizeof b, "%d", batch);
    const char *kv[][2] = {{"hidden", hidden}, {"layers", layers}, {"n_freq", freq}, {"time_dim", "64"}, {"batch", b}};
    if (cb_config_init(&cfg, "bench", &err)) die("config", &err);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (cb_config_set(&cfg, kv[i][0], kv[i][1], &err)) die("config", &err);
    flowmm_net net = {0};
    if (flowmm_config_read(&cfg, CB_TASK_CSP, &net.cfg, &err)) die("config", &err);
    cb_rng rng;
    cb_rng_seed(&rng, 1);
    if (cb_cspnet_params_create(&net.p, &net.cfg.net, &rng, &err)) die("parameters", &err);
    if (cb_flowmm_stats_compute(&data.kept, 1, &rng, &net.stats, &err)) die("statistics", &err);

    const flowmm_example **ex = malloc((size_t)batch * sizeof *ex);
    int atoms = 0, edges = 0;
    for (int g = 0; g < batch; g++) {
        ex[g] = &data.ex[g];
        atoms += ex[g]->n;
        edges += ex[g]->n * (ex[g]->n - 1);
    }
    flowmm_batch fb;
    flowmm_batch_init(&fb);
    cb_nn_adamw adam = {0.9, 0.999, 1e-8, 0};
    double *t = malloc((size_t)steps * sizeof *t);
    for (int s = -3; s < steps; s++) {
        double t0 = cb_now(), loss;
        cb_nn_params_zero_grad(&net.p);
        if (flowmm_loss(&net, net.p.w, &fb, ex, batch, &rng, 1, &loss, &err)) die("step", &err);
        cb_nn_clip_grad_value(&net.p, 0.5f);
        cb_nn_adamw_step(&net.p, &adam, 3e-4);
        cb_nn_ema_update(&net.p, 0.999, 1);
        if (s >= 0) t[s] = cb_now() - t0;
    }
    qsort(t, (size_t)steps, sizeof *t, cmp_double);
    double ms = 1e3 * t[steps / 2];
    double flops = 3.0 * cb_cspnet_forward_flops(&net.cfg.net, batch, atoms, edges); /* backward ≈ 2 forwards */
    double peak = sgemm_peak(2048);
    printf("bench_cspnet_step: %s, first %d crystals (%d atoms, %d edges), hidden %s, %s layers, %s frequencies, "
           "%zu parameters, %d threads\n",
           csv, batch, atoms, edges, hidden, layers, freq, net.p.count, threads);
    printf("crystalbench: %.1f ms/step (median of %d), %.2f steps/s, %.1f GFLOP/s in the products "
           "(%.2f GFLOP a step); cblas_sgemm 2048^3: %.1f GFLOP/s -> %.0f%% of it\n",
           ms, steps, 1e3 / ms, flops / (ms / 1e3) / 1e9, flops / 1e9, peak, 100 * flops / (ms / 1e3) / 1e9 / peak);
    if (python) {
        char sizes[] = "/tmp/cb_cspnet_sizes_XXXXXX";
        int fd = mkstemp(sizes);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f) {
            fprintf(stderr, "bench_cspnet_step: cannot write the batch shape\n");
            return 1;
        }
        for (int g = 0; g < batch; g++) fprintf(f, "%d\n", ex[g]->n);
        fclose(f);
        const char *py = getenv("CB_PYTHON");
        char cmd[8192], line[512] = "";
        snprintf(cmd, sizeof cmd, "'%s' bench/py/cspnet_step.py %s %s %s %s 64 %d %d", py && *py ? py : "/usr/bin/python3",
                 sizes, hidden, layers, freq, threads, steps);
        FILE *p = popen(cmd, "r");
        double tms = 0;
        char ver[64] = "";
        while (p && fgets(line, sizeof line, p))
            if (sscanf(line, "torch %63s threads %*d ms_per_step %lf", ver, &tms) == 2) break;
        if (p) pclose(p);
        remove(sizes);
        if (tms > 0)
            printf("pytorch %s: %.1f ms/step (same shape, %d threads) -> crystalbench %.2fx its step rate\n", ver, tms,
                   threads, tms / ms);
        else
            printf("pytorch: not measured (`%s` failed: python3-torch installed? run from the source tree)\n", cmd);
    }
    free(t);
    free(ex);
    flowmm_batch_free(&fb);
    cb_cspnet_cache_free(&net.cache);
    cb_nn_params_free(&net.p);
    flowmm_data_free(&data);
    cb_dataset_free(&ds);
    cb_config_free(&cfg);
    return 0;
}
