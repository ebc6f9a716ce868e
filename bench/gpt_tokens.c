/* The text backend's throughput: training tokens per second (forward, backward and AdamW
 * on batches of MP-20 crystal sequences, the default gpt-s) and sampling tokens per
 * second (the KV-cache step, one sequence per worker, as the sampler runs).
 *
 *   bench_gpt_tokens [CSV] [--threads N] [--batch B] [--steps S]
 * Defaults: data/mp_20/val.csv (else $CB_SHARED_DIR/data/mp_20/val.csv), 2 threads,
 * batch 32, 10 timed steps (median); sampling times 8 × 200 tokens on one thread. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crystalbench/dataset.h"
#include "crystalbench/progress.h"
#include "../models/text/text.h"

static void die(const char *what, const cb_error *err)
{
    fprintf(stderr, "bench_gpt_tokens: %s: %s\n", what, err->msg);
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *csv = NULL;
    int threads = 2, batch = 32, steps = 10;
    for (int i = 1; i < argc; i++) {
        int more = i + 1 < argc;
        if (!strcmp(argv[i], "--threads") && more) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && more) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && more) steps = atoi(argv[++i]);
        else if (argv[i][0] != '-') csv = argv[i];
        else {
            fprintf(stderr, "usage: bench_gpt_tokens [CSV] [--threads N] [--batch B] [--steps S]\n");
            return 2;
        }
    }
    if (threads < 1 || batch < 1 || batch > 4096 || steps < 1) return 2;
    static char path[4096];
    if (!csv) {
        const char *shared = getenv("CB_SHARED_DIR");
        snprintf(path, sizeof path, "%s/data/mp_20/val.csv", shared && *shared ? shared : "../shared");
        csv = access("data/mp_20/val.csv", R_OK) == 0 ? "data/mp_20/val.csv" : path;
    }
    openblas_set_num_threads(threads);
    cb_error err;
    cb_dataset ds;
    if (cb_dataset_load(csv, CB_FORMAT_AUTO, &ds, &err)) die("data", &err);
    if (ds.n < (size_t)batch) return fprintf(stderr, "bench_gpt_tokens: fewer crystals than the batch\n"), 1;
    cb_config cfg;
    if (cb_config_init(&cfg, "bench", &err)) die("config", &err);
    text_config c;
    if (text_config_read(&cfg, CB_TASK_DNG, &c, &err)) die("config", &err);
    cb_gpt g;
    cb_rng rng;
    cb_rng_seed(&rng, 1);
    if (cb_gpt_create(&g, &c.gpt, &rng, &err)) die("model", &err);

    /* a batch of the first crystals' DNG sequences, right-padded */
    int ctx = c.gpt.ctx, *tokens = calloc((size_t)batch * ctx, sizeof *tokens),
        *targets = malloc((size_t)batch * ctx * sizeof *targets), *seq = malloc(((size_t)ctx + 1) * sizeof *seq);
    int T = 0, len[4096], prompt[4096];
    long real = 0;
    for (int b = 0; b < batch; b++) {
        if (text_sequence(&c, &ds.items[b], CB_TASK_DNG, NULL, seq, ctx + 1, &len[b], &prompt[b], &err)) die("text", &err);
        if (len[b] - 1 > T) T = len[b] - 1;
        real += len[b] - 1;
    }
    for (int b = 0; b < batch; b++) {
        if (text_sequence(&c, &ds.items[b], CB_TASK_DNG, NULL, seq, ctx + 1, &len[b], &prompt[b], &err)) die("text", &err);
        for (int t = 0; t < T; t++) {
            tokens[b * T + t] = t < len[b] - 1 ? seq[t] : CB_TOK_PAD;
            targets[b * T + t] = t < len[b] - 1 && t >= prompt[b] ? seq[t + 1] : -1;
        }
    }
    cb_gpt_acts acts;
    cb_gpt_acts_init(&acts);
    cb_nn_adamw adam = {0.9, 0.95, 1e-8, 0.1};
    double *times = malloc((size_t)steps * sizeof *times), loss;
    for (int s = -2; s < steps; s++) {
        double t0 = cb_now();
        cb_nn_params_zero_grad(&g.p);
        if (cb_gpt_forward(&g, g.p.w, &acts, tokens, targets, batch, T, &loss, &err)) die("forward", &err);
        if (cb_gpt_backward(&g, &acts, &err)) die("backward", &err);
        cb_nn_clip_grad_norm(&g.p, 1.0);
        cb_nn_adamw_step(&g.p, &adam, 1e-3);
        if (s >= 0) times[s] = cb_now() - t0;
    }
    qsort(times, (size_t)steps, sizeof *times, cmp_double);
    double step = times[steps / 2], flops = 3.0 * cb_gpt_forward_flops(&c.gpt, batch, T);
    printf("bench_gpt_tokens: %s, gpt d=%d layers=%d heads=%d (%zu parameters), %d threads\n", csv, c.gpt.d,
           c.gpt.layers, c.gpt.heads, g.p.count, threads);
    printf("train: batch %d × %d positions (%ld real tokens): %.1f ms/step, %.0f tokens/s (%.0f padded positions/s), "
           "%.1f GFLOP/s\n",
           batch, T, real, 1e3 * step, (double)real / step, (double)batch * T / step, flops / step / 1e9);

    /* sampling: the KV-cache step, one thread, as each sampling worker runs */
    openblas_set_num_threads(1);
    cb_gpt_kv kv;
    if (cb_gpt_kv_alloc(&kv, &c.gpt, &err)) die("kv", &err);
    float logits[CB_TOK_VOCAB];
    int n_tok = ctx < 200 ? ctx : 200, reps = 8;
    double t0 = cb_now();
    for (int r = 0; r < reps; r++) {
        kv.len = 0;
        int tok = CB_TOK_BOS;
        for (int t = 0; t < n_tok; t++) {
            if (cb_gpt_step(&g, g.p.w, &kv, tok, logits, &err)) die("step", &err);
            tok = text_pick(logits, CB_TOK_VOCAB, 0.9, 0.9, &rng);
        }
    }
    double dt = cb_now() - t0;
    printf("sample: %d sequences × %d tokens on one thread: %.0f tokens/s per worker (%.2f ms/token)\n", reps, n_tok,
           reps * n_tok / dt, 1e3 * dt / (reps * n_tok));
    cb_gpt_kv_free(&kv);
    cb_gpt_acts_free(&acts);
    cb_gpt_free(&g);
    free(tokens), free(targets), free(seq), free(times);
    cb_config_free(&cfg);
    cb_dataset_free(&ds);
    return 0;
}
