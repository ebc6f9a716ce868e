/* CSPNet (models/nn/cspnet.h): whole-network gradients, symmetries, parameter counts,
 * batch topology and the contracts of the API.
 *
 * Gradient check, in double: the test holds its own double-precision forward of the
 * network, written from models.md §2.2–§2.4 with the PLAIN concatenation
 * x_e = [unit ‖ g_s ‖ g_d ‖ lat ‖ φ ‖ T_n[:, N_b]] and one product W1 x_e per edge (not
 * the per-node split the library uses), edges enumerated on its own from the atom counts.
 * J = Σ R⊙outputs with fixed random R; ∂J/∂θ by central differences of that double
 * forward (step 1e-5; truncation and rounding ~1e-10) at the float parameters, compared
 * with the float backward given d_out = R. The error of one entry is
 * |a − n| / max(|a|, |n|, 1e-3·max_tensor|n|) (the floor keeps entries that are ~0 by
 * cancellation from dominating); every tensor must stay below 1e-3 — the bound —
 * and in practice stays near 1e-5. Every entry of every tensor is checked (the tiny
 * configs have a few thousand), plus the gradients with respect to the dense node
 * input, lat_in and t. The same reference checks the float forward (relative 1e-4).
 *
 * Symmetry checks run the float network and compare to float rounding: the maximal
 * difference over all outputs, relative to the largest output magnitude, must stay below
 * INVARIANCE_TOL (1e-5); the measured values are printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/nn/cspnet.h"
#include "../models/nn/train.h"
#include "crystalbench/rng.h"

#define PI 3.14159265358979323846
#define GRAD_TOLERANCE 1e-3
#define FORWARD_TOLERANCE 1e-4
#define INVARIANCE_TOL 1e-5
#define FD_STEP 1e-5

#define MAXB 4
#define MAXN 16
#define MAXE (MAXN * MAXN)
#define MAXH 16
#define MAXDA 100
#define MAXDIN 256
#define LATD 6
#define MAXDC 4 /* conditioning width */

/* ---- a problem: config, parameters, inputs (float batch + exact double copies) ------- */

typedef struct problem {
    cb_cspnet_config cfg;
    cb_nn_params p;
    cb_cspnet_batch batch;
    cb_cspnet_cache cache;
    int B, N;
    int num_atoms[MAXB];
    /* double copies of the float inputs the reference reads (and perturbs) */
    double node_in[MAXN * MAXDA], lat_in[MAXB * LATD], t[MAXB * MAXDC], frac[MAXN * 3], lattice[MAXB * 9];
    int types[MAXN];
    double *wd; /* double copy of p.w */
    /* the loss J = Σ R⊙out */
    double r_coord[MAXN * 3], r_lat[MAXB * LATD], r_types[MAXN * MAXDA];
    float out_coord[MAXN * 3], out_lat[MAXB * LATD], out_types[MAXN * MAXDA];
} problem;

static cb_rng rng;

static double normal(double scale) { return scale * cb_rng_normal(&rng); }

/* f as float, then its exact double value (so the reference sees the float inputs). */
static double as_float(double x) { return (double)(float)x; }

static void tiny_config(cb_cspnet_config *cfg, int dng)
{
    cb_cspnet_config_flowmm(cfg, dng);
    cfg->hidden = 8;
    cfg->layers = 2;
    cfg->n_freq = 4;
    cfg->time_dim = 4;
}

/* Random lattice rows: a near-orthorhombic cell with shear, lengths 3–7 Å. */
static void random_lattice(double *L)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            L[3 * i + j] = as_float(i == j ? 3.0 + 4.0 * cb_rng_uniform(&rng) : normal(0.8));
}

/* lat_in from L: the caller's invariant feature; here (a, b, c in units of 5 Å, and
 * the three angles in units of 90°), the role FlowMM's z-scored parameters play. */
static void lattice_feature(const double *L, double *feat)
{
    double len[3];
    for (int i = 0; i < 3; i++)
        len[i] =
            sqrt(L[3 * i] * L[3 * i] + L[3 * i + 1] * L[3 * i + 1] + L[3 * i + 2] * L[3 * i + 2]);
    static const int pair[3][2] = {{1, 2}, {0, 2}, {0, 1}};
    for (int k = 0; k < 3; k++) {
        const double *u = L + 3 * pair[k][0], *v = L + 3 * pair[k][1];
        double c = (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]) / (len[pair[k][0]] * len[pair[k][1]]);
        feat[3 + k] = as_float(acos(c) * 180.0 / PI / 90.0);
        feat[k] = as_float(len[k] / 5.0);
    }
}

/* Copies the double inputs into the float batch (exactly: they are float values). */
static void sync_batch(problem *pr)
{
    cb_cspnet_batch *b = &pr->batch;
    const cb_cspnet_config *cfg = &pr->cfg;
    for (int g = 0; g < pr->B; g++) {
        for (int j = 0; j < cfg->cond_dim; j++) b->t[g * cfg->cond_dim + j] = (float)pr->t[g * cfg->cond_dim + j];
        for (int k = 0; k < cfg->lat_dim; k++)
            b->lat_in[g * cfg->lat_dim + k] = (float)pr->lat_in[g * cfg->lat_dim + k];
        for (int k = 0; k < 9; k++) b->lattice[9 * g + k] = (float)pr->lattice[9 * g + k];
    }
    for (int i = 0; i < pr->N; i++) {
        b->types[i] = pr->types[i];
        for (int k = 0; k < cfg->atom_dim; k++)
            b->node_in[i * cfg->atom_dim + k] = (float)pr->node_in[i * cfg->atom_dim + k];
        for (int k = 0; k < 3; k++) b->frac[3 * i + k] = (float)pr->frac[3 * i + k];
    }
}

/* Builds parameters (PyTorch init, then LayerNorm γ, β moved off 1, 0 so their
 * gradients are tested), a batch of the given crystals with random inputs, the cache and
 * the loss weights R. */
static void problem_setup(problem *pr, const cb_cspnet_config *cfg, int B, const int *num_atoms,
                          uint64_t seed)
{
    memset(pr, 0, sizeof *pr);
    cb_rng_seed(&rng, seed);
    pr->cfg = *cfg;
    pr->B = B;
    cb_error err;
    assert_int_equal(cb_cspnet_params_create(&pr->p, cfg, &rng, &err), CB_OK);
    for (size_t i = 0; i < pr->p.ntensors; i++) {
        const cb_nn_tensor *t = &pr->p.tensors[i];
        if (strstr(t->name, "layer_norm.weight"))
            for (size_t j = 0; j < t->size; j++)
                pr->p.w[t->offset + j] = (float)(1.0 + normal(0.3));
        if (strstr(t->name, "layer_norm.bias"))
            for (size_t j = 0; j < t->size; j++) pr->p.w[t->offset + j] = (float)normal(0.3);
    }
    cb_nn_ema_reset(&pr->p); /* θ̄ = θ, the modified θ */
    pr->wd = calloc(pr->p.count, sizeof *pr->wd);
    assert_non_null(pr->wd);
    for (size_t j = 0; j < pr->p.count; j++) pr->wd[j] = pr->p.w[j];

    cb_cspnet_batch_init(&pr->batch);
    assert_int_equal(cb_cspnet_batch_build(&pr->batch, cfg, B, num_atoms, &err), CB_OK);
    pr->N = pr->batch.n_nodes;
    assert_true(pr->N <= MAXN && cfg->hidden <= MAXH && cfg->atom_dim <= MAXDA &&
                cfg->lat_dim == LATD && cfg->cond_dim <= MAXDC);
    for (int g = 0; g < B; g++) {
        pr->num_atoms[g] = num_atoms[g];
        for (int j = 0; j < cfg->cond_dim; j++) pr->t[g * cfg->cond_dim + j] = as_float(cb_rng_uniform(&rng));
        random_lattice(pr->lattice + 9 * g);
        for (int k = 0; k < LATD; k++) pr->lat_in[g * LATD + k] = as_float(normal(1.0));
    }
    for (int i = 0; i < pr->N; i++) {
        pr->types[i] = (int)cb_rng_below(&rng, (uint64_t)cfg->atom_dim);
        for (int k = 0; k < cfg->atom_dim; k++) /* analog bits ±1 plus noise, as x_t in DNG */
            pr->node_in[i * cfg->atom_dim + k] =
                as_float((cb_rng_uniform(&rng) < 0.5 ? -1.0 : 1.0) + normal(0.3));
        for (int k = 0; k < 3; k++) pr->frac[3 * i + k] = as_float(cb_rng_uniform(&rng));
    }
    sync_batch(pr);
    for (int i = 0; i < pr->N * 3; i++) pr->r_coord[i] = as_float(normal(1.0));
    for (int i = 0; i < B * cfg->lat_out_dim; i++) pr->r_lat[i] = as_float(normal(1.0));
    for (int i = 0; i < pr->N * cfg->atom_dim; i++) pr->r_types[i] = as_float(normal(1.0));
    int E = (int)cb_cspnet_edge_count(cfg, B, num_atoms);
    assert_int_equal(cb_cspnet_cache_alloc(&pr->cache, &pr->p, cfg, B, pr->N, E, &err), CB_OK);
}

static void problem_free(problem *pr)
{
    cb_cspnet_cache_free(&pr->cache);
    cb_cspnet_batch_free(&pr->batch);
    cb_nn_params_free(&pr->p);
    free(pr->wd);
}

static cb_cspnet_out outputs(problem *pr)
{
    cb_cspnet_out o = {pr->out_coord, pr->out_lat, pr->out_types};
    return o;
}

static void run_forward(problem *pr, const float *w)
{
    cb_error err;
    cb_cspnet_out o = outputs(pr);
    int rc = cb_cspnet_forward(&pr->p, w, &pr->cfg, &pr->batch, &pr->cache, &o, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, CB_OK);
}

/* ---- the double reference, written from the formulas (plain concatenation) ----------- */

typedef struct ref_out {
    double coord[MAXN * 3], lat[MAXB * LATD], types[MAXN * MAXDA];
} ref_out;

static const double *tensor(const problem *pr, const double *wd, const char *fmt, ...)
{
    char bare[CB_NN_NAME_MAX], name[CB_NN_NAME_MAX + 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bare, sizeof bare, fmt, ap);
    va_end(ap);
    snprintf(name, sizeof name, "%s%s", pr->cfg.prefix, bare);
    const cb_nn_tensor *t = cb_nn_params_find(&pr->p, name);
    if (!t) fprintf(stderr, "missing tensor %s\n", name);
    assert_non_null(t);
    return wd + t->offset;
}

static double silu(double x) { return x / (1.0 + exp(-x)); }

static void layernorm(double *y, const double *x, const double *gm, const double *bt, int n)
{
    double mu = 0.0, var = 0.0;
    for (int i = 0; i < n; i++) mu += x[i];
    mu /= n;
    for (int i = 0; i < n; i++) var += (x[i] - mu) * (x[i] - mu);
    var /= n;
    double r = 1.0 / sqrt(var + 1e-5);
    for (int i = 0; i < n; i++) y[i] = gm[i] * (x[i] - mu) * r + bt[i];
}

/* y = W x (+ b), W [out × in] row-major (PyTorch layout). */
static void linear(double *y, const double *W, const double *b, const double *x, int in, int out)
{
    for (int o = 0; o < out; o++) {
        double acc = b ? b[o] : 0.0;
        for (int i = 0; i < in; i++) acc += W[o * in + i] * x[i];
        y[o] = acc;
    }
}

/* J = Σ R⊙outputs for weights wd and inputs node_in, lat_in, t (other inputs from pr). */
static double ref_forward(const problem *pr, const double *wd, const double *node_in,
                          const double *lat_in, const double *t, ref_out *out)
{
    const cb_cspnet_config *cfg = &pr->cfg;
    int H = cfg->hidden, dt = cfg->time_dim, da = cfg->atom_dim, nf = cfg->n_freq;
    int din = 3 * cfg->unit_dots + 2 * H + cfg->lat_dim + 6 * nf + H * cfg->num_atoms_emb;
    static double h[MAXN][MAXH], g[MAXN][MAXH], agg[MAXN][MAXH], x[MAXDIN], a[MAXDA];
    static double p1[MAXH], z1[MAXH], m[MAXH], x3[2 * MAXH], z3[MAXH], o4[MAXH];
    static double delta[MAXE][3], unit[MAXE][3];
    static int src[MAXE], dst[MAXE], e2g[MAXE], node2graph[MAXN], first[MAXB];
    static ref_out local;
    if (!out) out = &local;

    /* atoms, edges (fc order is irrelevant to the reference: it sums per source) */
    int n = 0, E = 0;
    for (int b = 0; b < pr->B; b++) {
        first[b] = n;
        for (int i = 0; i < pr->num_atoms[b]; i++) node2graph[n + i] = b;
        for (int i = 0; i < pr->num_atoms[b]; i++)
            for (int j = 0; j < pr->num_atoms[b]; j++)
                if (i != j || cfg->self_edges) src[E] = n + i, dst[E] = n + j, e2g[E] = b, E++;
        n += pr->num_atoms[b];
    }
    for (int e = 0; e < E; e++) {
        const double *L = pr->lattice + 9 * e2g[e];
        double u[3], norm = 0.0;
        for (int c = 0; c < 3; c++) {
            double d = pr->frac[3 * dst[e] + c] - pr->frac[3 * src[e] + c];
            delta[e][c] = d - floor(d + 0.5);
        }
        for (int k = 0; k < 3; k++) { /* (L Lᵀ Δ)_k */
            u[k] = 0.0;
            for (int c = 0; c < 3; c++) {
                double gkc =
                    L[3 * k] * L[3 * c] + L[3 * k + 1] * L[3 * c + 1] + L[3 * k + 2] * L[3 * c + 2];
                u[k] += gkc * delta[e][c];
            }
            norm += u[k] * u[k];
        }
        for (int k = 0; k < 3; k++) unit[e][k] = u[k] / (sqrt(norm) + 1e-12);
    }

    /* h⁰ = W_lat [node_embedding(a) ‖ W_t t] */
    const double *wt = tensor(pr, wd, "time_emb.weight"),
                 *Wn = tensor(pr, wd, "node_embedding.weight");
    const double *Wlat = tensor(pr, wd, "atom_latent_emb.weight");
    for (int i = 0; i < pr->N; i++) {
        for (int k = 0; k < da; k++)
            a[k] =
                cfg->node_input == CB_CSPNET_NODE_DENSE ? node_in[i * da + k] : (k == pr->types[i]);
        linear(x, Wn, NULL, a, da, H);
        for (int k = 0; k < dt; k++) {
            x[H + k] = 0.0;
            for (int j = 0; j < cfg->cond_dim; j++)
                x[H + k] += wt[k * cfg->cond_dim + j] * t[node2graph[i] * cfg->cond_dim + j];
        }
        linear(h[i], Wlat, NULL, x, H + dt, H);
    }
    for (int l = 0; l < cfg->layers; l++) {
        const double *W1 = tensor(pr, wd, "csp_layer_%d.edge_mlp.0.weight", l);
        const double *b1 = tensor(pr, wd, "csp_layer_%d.edge_mlp.0.bias", l);
        const double *W2 = tensor(pr, wd, "csp_layer_%d.edge_mlp.2.weight", l);
        const double *b2 = tensor(pr, wd, "csp_layer_%d.edge_mlp.2.bias", l);
        const double *W3 = tensor(pr, wd, "csp_layer_%d.node_mlp.0.weight", l);
        const double *b3 = tensor(pr, wd, "csp_layer_%d.node_mlp.0.bias", l);
        const double *W4 = tensor(pr, wd, "csp_layer_%d.node_mlp.2.weight", l);
        const double *b4 = tensor(pr, wd, "csp_layer_%d.node_mlp.2.bias", l);
        const double *gm = tensor(pr, wd, "csp_layer_%d.layer_norm.weight", l);
        const double *bt = tensor(pr, wd, "csp_layer_%d.layer_norm.bias", l);
        const double *T =
            cfg->num_atoms_emb ? tensor(pr, wd, "csp_layer_%d.num_atom_embedding.weight", l) : NULL;
        for (int i = 0; i < pr->N; i++) layernorm(g[i], h[i], gm, bt, H);
        for (int i = 0; i < pr->N; i++) {
            int deg = 0;
            for (int j = 0; j < H; j++) agg[i][j] = 0.0;
            for (int e = 0; e < E; e++) {
                if (src[e] != i) continue;
                int pos = 0, b = e2g[e];
                if (cfg->unit_dots)
                    for (int k = 0; k < 3; k++) x[pos++] = unit[e][k];
                for (int j = 0; j < H; j++) x[pos++] = g[src[e]][j];
                for (int j = 0; j < H; j++) x[pos++] = g[dst[e]][j];
                for (int k = 0; k < cfg->lat_dim; k++) x[pos++] = lat_in[b * cfg->lat_dim + k];
                for (int c = 0; c < 3; c++)
                    for (int k = 0; k < nf; k++) x[pos++] = sin(2.0 * PI * k * delta[e][c]);
                for (int c = 0; c < 3; c++)
                    for (int k = 0; k < nf; k++) x[pos++] = cos(2.0 * PI * k * delta[e][c]);
                if (T) /* one_hot(N_b, 100) through Linear(100, H) */
                    for (int j = 0; j < H; j++)
                        x[pos++] = T[j * CB_CSPNET_NUM_ATOMS_CLASSES + pr->num_atoms[b]];
                assert_int_equal(pos, din);
                linear(p1, W1, b1, x, din, H);
                for (int j = 0; j < H; j++) z1[j] = silu(p1[j]);
                linear(m, W2, b2, z1, H, H);
                for (int j = 0; j < H; j++) agg[i][j] += silu(m[j]);
                deg++;
            }
            for (int j = 0; j < H; j++) agg[i][j] = deg ? agg[i][j] / deg : 0.0;
        }
        for (int i = 0; i < pr->N; i++) {
            for (int j = 0; j < H; j++) x3[j] = g[i][j], x3[H + j] = agg[i][j];
            linear(z3, W3, b3, x3, 2 * H, H);
            for (int j = 0; j < H; j++) z3[j] = silu(z3[j]);
            linear(o4, W4, b4, z3, H, H);
            for (int j = 0; j < H; j++) h[i][j] += silu(o4[j]);
        }
    }
    /* heads */
    const double *gf = tensor(pr, wd, "final_layer_norm.weight"),
                 *bf = tensor(pr, wd, "final_layer_norm.bias");
    const double *Wc = tensor(pr, wd, "coord_out.weight");
    const double *WL = tensor(pr, wd, "lattice_out.weight"),
                 *bL = tensor(pr, wd, "lattice_out.bias");
    double J = 0.0;
    for (int i = 0; i < pr->N; i++) {
        layernorm(g[i], h[i], gf, bf, H);
        linear(out->coord + 3 * i, Wc, NULL, g[i], H, 3);
        for (int k = 0; k < 3; k++) J += pr->r_coord[3 * i + k] * out->coord[3 * i + k];
        if (cfg->type_head == CB_CSPNET_TYPE_HEAD_ON) {
            linear(out->types + i * da, tensor(pr, wd, "type_out.weight"),
                   tensor(pr, wd, "type_out.bias"), g[i], H, da);
            for (int k = 0; k < da; k++) J += pr->r_types[i * da + k] * out->types[i * da + k];
        }
    }
    for (int b = 0; b < pr->B; b++) {
        double pool[2 * MAXH] = {0};
        for (int i = first[b]; i < first[b] + pr->num_atoms[b]; i++)
            for (int j = 0; j < H; j++) pool[H + j] += g[i][j];
        for (int j = 0; j < H; j++) pool[j] = pool[H + j] / pr->num_atoms[b];
        linear(out->lat + b * cfg->lat_out_dim, WL, bL, pool, 2 * H, cfg->lat_out_dim);
        for (int k = 0; k < cfg->lat_out_dim; k++)
            J += pr->r_lat[b * cfg->lat_out_dim + k] * out->lat[b * cfg->lat_out_dim + k];
    }
    return J;
}

static double ref_loss(const problem *pr)
{
    return ref_forward(pr, pr->wd, pr->node_in, pr->lat_in, pr->t, NULL);
}

/* ---- the check ------------------------------------------------------------------------ */

/* Central difference of J in x[i] (x is one of the arrays ref_loss reads). */
static double fd(problem *pr, double *x, size_t i)
{
    double keep = x[i];
    x[i] = keep + FD_STEP;
    double jp = ref_loss(pr);
    x[i] = keep - FD_STEP;
    double jm = ref_loss(pr);
    x[i] = keep;
    return (jp - jm) / (2.0 * FD_STEP);
}

/* Max relative error of analytic gradient a[0..n) against finite differences of x. */
static double grad_error(problem *pr, double *x, const float *a, size_t n)
{
    double *num = calloc(n, sizeof *num), maxn = 0.0, err = 0.0;
    assert_non_null(num);
    for (size_t i = 0; i < n; i++) {
        num[i] = fd(pr, x, i);
        maxn = fmax(maxn, fabs(num[i]));
    }
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)a[i] - num[i]);
        double scale = fmax(fmax(fabs((double)a[i]), fabs(num[i])), 1e-3 * maxn);
        if (scale == 0.0) continue; /* both exactly 0 (e.g. an unused head) */
        err = fmax(err, diff / scale);
    }
    if (maxn == 0.0) /* a tensor the loss does not reach: its gradient must be exactly 0 */
        for (size_t i = 0; i < n; i++) assert_true(a[i] == 0.0f);
    free(num);
    return err;
}

static double max_abs_diff_rel(const float *f, const double *d, size_t n, double *scale_out)
{
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)f[i] - d[i]));
        scale = fmax(scale, fabs(d[i]));
    }
    if (scale_out) *scale_out = scale;
    return scale > 0.0 ? diff / scale : diff;
}

static void gradient_check(const char *label, const cb_cspnet_config *cfg, const int *num_atoms)
{
    problem *pr = calloc(1, sizeof *pr);
    assert_non_null(pr);
    problem_setup(pr, cfg, 2, num_atoms, 42);
    int N = pr->N, B = pr->B;

    /* forward against the reference */
    run_forward(pr, pr->p.w);
    static ref_out ro;
    ref_forward(pr, pr->wd, pr->node_in, pr->lat_in, pr->t, &ro);
    double fe = fmax(max_abs_diff_rel(pr->out_coord, ro.coord, (size_t)N * 3, NULL),
                     max_abs_diff_rel(pr->out_lat, ro.lat, (size_t)B * cfg->lat_out_dim, NULL));
    if (cfg->type_head == CB_CSPNET_TYPE_HEAD_ON)
        fe = fmax(fe, max_abs_diff_rel(pr->out_types, ro.types, (size_t)N * cfg->atom_dim, NULL));
    printf("[%s] %d+%d atoms, %d edges: forward max rel. difference to the double reference %.2e\n",
           label, num_atoms[0], num_atoms[1], pr->batch.n_edges, fe);
    assert_true(fe < FORWARD_TOLERANCE);

    /* backward with d_out = R */
    static float rc[MAXN * 3], rl[MAXB * LATD], rt[MAXN * MAXDA];
    for (int i = 0; i < N * 3; i++) rc[i] = (float)pr->r_coord[i];
    for (int i = 0; i < B * cfg->lat_out_dim; i++) rl[i] = (float)pr->r_lat[i];
    for (int i = 0; i < N * cfg->atom_dim; i++) rt[i] = (float)pr->r_types[i];
    cb_cspnet_out d_out = {rc, rl, rt};
    static float d_node_in[MAXN * MAXDA], d_lat_in[MAXB * LATD], d_t[MAXB * MAXDC];
    memset(d_node_in, 0, sizeof d_node_in);
    memset(d_lat_in, 0, sizeof d_lat_in);
    memset(d_t, 0, sizeof d_t);
    cb_cspnet_input_grad d_in = {cfg->node_input == CB_CSPNET_NODE_DENSE ? d_node_in : NULL,
                                 d_lat_in, d_t};
    cb_nn_params_zero_grad(&pr->p);
    cb_error err;
    assert_int_equal(
        cb_cspnet_backward(&pr->p, cfg, &pr->batch, &pr->cache, &d_out, pr->p.grad, &d_in, &err),
        CB_OK);

    double worst = 0.0;
    size_t checked = 0;
    for (size_t k = 0; k < pr->p.ntensors; k++) {
        const cb_nn_tensor *t = &pr->p.tensors[k];
        double e = grad_error(pr, pr->wd + t->offset, pr->p.grad + t->offset, t->size);
        printf("[%s]   %-40s %5zu entries  max rel. error %.2e\n", label, t->name, t->size, e);
        worst = fmax(worst, e);
        checked += t->size;
    }
    double e_lat = grad_error(pr, pr->lat_in, d_lat_in, (size_t)B * LATD);
    double e_t = grad_error(pr, pr->t, d_t, (size_t)B * cfg->cond_dim);
    printf("[%s]   input lat_in max rel. error %.2e, input t %.2e\n", label, e_lat, e_t);
    worst = fmax(worst, fmax(e_lat, e_t));
    if (cfg->node_input == CB_CSPNET_NODE_DENSE) {
        double e_a = grad_error(pr, pr->node_in, d_node_in, (size_t)N * cfg->atom_dim);
        printf("[%s]   input node_in max rel. error %.2e\n", label, e_a);
        worst = fmax(worst, e_a);
    }
    printf("[%s] %zu parameters, all checked: worst max rel. error %.2e (bound %.0e)\n", label,
           checked, worst, GRAD_TOLERANCE);
    assert_true(worst < GRAD_TOLERANCE);
    problem_free(pr);
    free(pr);
}

static void test_gradients_csp(void **state)
{
    (void)state;
    cb_cspnet_config cfg;
    tiny_config(&cfg, 0); /* FlowMM CSP: one-hot types over 100, type head declared unused */
    gradient_check("csp", &cfg, (const int[]){5, 1});
}

static void test_gradients_dng(void **state)
{
    (void)state;
    cb_cspnet_config cfg;
    tiny_config(&cfg, 1); /* FlowMM DNG: analog bits in, type head on */
    gradient_check("dng", &cfg, (const int[]){5, 1});
}

static void test_gradients_variant(void **state)
{
    (void)state;
    cb_cspnet_config cfg;
    tiny_config(&cfg, 0); /* the other switches: self edges on, no unit dots, no num-atoms */
    cfg.self_edges = 1;
    cfg.unit_dots = 0;
    cfg.num_atoms_emb = 0;
    cfg.atom_dim = 10;
    cfg.type_head = CB_CSPNET_TYPE_HEAD_ON;
    cfg.cond_dim = 3; /* CDVAE's decoder: a latent vector in place of the time */
    snprintf(cfg.prefix, sizeof cfg.prefix, "decoder.");
    gradient_check("self-edges", &cfg, (const int[]){4, 1});
}

/* ---- symmetries ------------------------------------------------------------------------ */

static void invariance_config(cb_cspnet_config *cfg)
{
    cb_cspnet_config_flowmm(cfg, 1);
    cfg->hidden = 16;
    cfg->layers = 2;
    cfg->n_freq = 8;
    cfg->time_dim = 8;
}

typedef struct snapshot {
    float coord[MAXN * 3], lat[MAXB * LATD], types[MAXN * MAXDA];
} snapshot;

static void take(const problem *pr, snapshot *s)
{
    memcpy(s->coord, pr->out_coord, sizeof s->coord);
    memcpy(s->lat, pr->out_lat, sizeof s->lat);
    memcpy(s->types, pr->out_types, sizeof s->types);
}

/* max |a − b| over n entries relative to max |a|. */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - (double)b[i]));
        s = fmax(s, fabs((double)a[i]));
    }
    return s > 0.0 ? d / s : d;
}

static const int inv_atoms[3] = {5, 3, 1};

static void test_permutation(void **state)
{
    (void)state;
    cb_cspnet_config cfg;
    invariance_config(&cfg);
    problem *pr = calloc(1, sizeof *pr);
    assert_non_null(pr);
    problem_setup(pr, &cfg, 3, inv_atoms, 7);
    run_forward(pr, pr->p.w);
    static snapshot before;
    take(pr, &before);
    /* new atom first+i is old atom first+perm[i], within each crystal */
    int perm[MAXN];
    for (int g = 0, off = 0; g < pr->B; off += pr->num_atoms[g], g++) {
        size_t idx[MAXN];
        for (int i = 0; i < pr->num_atoms[g]; i++) idx[i] = (size_t)i;
        cb_rng_shuffle(&rng, idx, (size_t)pr->num_atoms[g]);
        for (int i = 0; i < pr->num_atoms[g]; i++) perm[off + i] = off + (int)idx[i];
    }
    problem *old = malloc(sizeof *old);
    assert_non_null(old);
    memcpy(old, pr, sizeof *old);
    int da = cfg.atom_dim;
    for (int i = 0; i < pr->N; i++) {
        int j = perm[i];
        pr->types[i] = old->types[j];
        memcpy(pr->node_in + i * da, old->node_in + j * da, (size_t)da * sizeof(double));
        memcpy(pr->frac + 3 * i, old->frac + 3 * j, 3 * sizeof(double));
    }
    free(old);
    sync_batch(pr);
    run_forward(pr, pr->p.w);
    static snapshot expect;
    for (int i = 0; i < pr->N; i++) {
        memcpy(expect.coord + 3 * i, before.coord + 3 * perm[i], 3 * sizeof(float));
        memcpy(expect.types + i * da, before.types + perm[i] * da, (size_t)da * sizeof(float));
    }
    double dc = rel_diff(expect.coord, pr->out_coord, (size_t)pr->N * 3);
    double dty = rel_diff(expect.types, pr->out_types, (size_t)pr->N * da);
    double dl = rel_diff(before.lat, pr->out_lat, (size_t)pr->B * LATD);
    printf("permutation: coord %.2e, types %.2e (permuted), lattice %.2e (unchanged); tolerance "
           "%.0e\n",
           dc, dty, dl, INVARIANCE_TOL);
    assert_true(dc < INVARIANCE_TOL && dty < INVARIANCE_TOL && dl < INVARIANCE_TOL);
    problem_free(pr);
    free(pr);
}

static void test_translation(void **state)
{
    (void)state;
    cb_cspnet_config cfg;
    invariance_config(&cfg);
    problem *pr = calloc(1, sizeof *pr);
    assert_non_null(pr);
    problem_setup(pr, &cfg, 3, inv_atoms, 8);
    run_forward(pr, pr->p.w);
    static snapshot before;
    take(pr, &before);
    double worst = 0.0;
    for (int trial = 0; trial < 4; trial++) {
        /* one common shift per crystal, wrapped back into [0, 1) as FlowMM's projx does;
         * the last trial shifts by whole cells (no wrap) */
        for (int g = 0, off = 0; g < pr->B; off += pr->num_atoms[g], g++) {
            double v[3];
            for (int k = 0; k < 3; k++)
                v[k] = trial == 3 ? (double)(int)cb_rng_below(&rng, 5) - 2.0 : cb_rng_uniform(&rng);
            for (int i = off; i < off + pr->num_atoms[g]; i++)
                for (int k = 0; k < 3; k++) {
                    double f = pr->frac[3 * i + k] + v[k];
                    pr->batch.frac[3 * i + k] = (float)(trial == 3 ? f : f - floor(f));
                }
        }
        run_forward(pr, pr->p.w);
        double d = fmax(rel_diff(before.coord, pr->out_coord, (size_t)pr->N * 3),
                        fmax(rel_diff(before.lat, pr->out_lat, (size_t)pr->B * LATD),
                             rel_diff(before.types, pr->out_types, (size_t)pr->N * cfg.atom_dim)));
        worst = fmax(worst, d);
    }
    printf("translation: max rel. change of all outputs %.2e; tolerance %.0e\n", worst,
           INVARIANCE_TOL);
    assert_true(worst < INVARIANCE_TOL);
    problem_free(pr);
    free(pr);
}

/* A random rotation from a unit quaternion. */
static void random_rotation(double R[3][3])
{
    double q[4], n = 0.0;
    for (int k = 0; k < 4; k++) q[k] = normal(1.0), n += q[k] * q[k];
    n = sqrt(n);
    double w = q[0] / n, x = q[1] / n, y = q[2] / n, z = q[3] / n;
    double M[3][3] = {{1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)},
                      {2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)},
                      {2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)}};
    memcpy(R, M, sizeof M);
}

static void test_rotation(void **state)
{
    (void)state;
    cb_cspnet_config cfg;
    invariance_config(&cfg);
    problem *pr = calloc(1, sizeof *pr);
    assert_non_null(pr);
    problem_setup(pr, &cfg, 3, inv_atoms, 9);
    for (int g = 0; g < pr->B; g++) lattice_feature(pr->lattice + 9 * g, pr->lat_in + g * LATD);
    sync_batch(pr);
    run_forward(pr, pr->p.w);
    static snapshot before;
    take(pr, &before);
    double worst = 0.0, worst_gram = 0.0;
    for (int trial = 0; trial < 4; trial++) {
        double R[3][3];
        random_rotation(R);
        for (int g = 0; g < pr->B; g++) {
            const double *L = pr->lattice + 9 * g;
            double Lr[9], gram[2][9], feat[LATD];
            for (int i = 0; i < 3; i++) /* L' = L Rᵀ: each lattice row rotated */
                for (int j = 0; j < 3; j++)
                    Lr[3 * i + j] = as_float(L[3 * i] * R[j][0] + L[3 * i + 1] * R[j][1] +
                                             L[3 * i + 2] * R[j][2]);
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    gram[0][3 * i + j] = L[3 * i] * L[3 * j] + L[3 * i + 1] * L[3 * j + 1] +
                                         L[3 * i + 2] * L[3 * j + 2];
                    gram[1][3 * i + j] = Lr[3 * i] * Lr[3 * j] + Lr[3 * i + 1] * Lr[3 * j + 1] +
                                         Lr[3 * i + 2] * Lr[3 * j + 2];
                }
            double gmax = 0.0, gd = 0.0;
            for (int k = 0; k < 9; k++)
                gmax = fmax(gmax, fabs(gram[0][k])), gd = fmax(gd, fabs(gram[0][k] - gram[1][k]));
            worst_gram = fmax(worst_gram, gd / gmax);
            lattice_feature(Lr, feat);
            for (int k = 0; k < 9; k++) pr->batch.lattice[9 * g + k] = (float)Lr[k];
            for (int k = 0; k < LATD; k++) pr->batch.lat_in[g * LATD + k] = (float)feat[k];
        }
        run_forward(pr, pr->p.w);
        double d = fmax(rel_diff(before.coord, pr->out_coord, (size_t)pr->N * 3),
                        fmax(rel_diff(before.lat, pr->out_lat, (size_t)pr->B * LATD),
                             rel_diff(before.types, pr->out_types, (size_t)pr->N * cfg.atom_dim)));
        worst = fmax(worst, d);
    }
    printf("rotation L -> L R^T: L L^T max rel. change %.2e; outputs max rel. change %.2e; "
           "tolerance %.0e\n",
           worst_gram, worst, INVARIANCE_TOL);
    assert_true(worst_gram < 1e-6);
    assert_true(worst < INVARIANCE_TOL);
    problem_free(pr);
    free(pr);
}

/* ---- parameter counts, names, topology, contracts ---------------------------------------- */

static size_t count_of(const cb_cspnet_config *cfg)
{
    cb_nn_params p;
    cb_nn_params_init(&p);
    assert_int_equal(cb_cspnet_declare(&p, cfg, NULL), CB_OK);
    size_t n = p.count;
    cb_nn_params_free(&p);
    return n;
}

static void test_parameter_counts(void **state)
{
    (void)state;
    cb_cspnet_config dng, csp;
    cb_cspnet_config_flowmm(&dng, 1);
    cb_cspnet_config_flowmm(&csp, 0);
    assert_int_equal(cb_cspnet_edge_in_dim(&dng), 2313); /* models.md §2.3 */
    size_t n_dng = count_of(&dng), n_csp = count_of(&csp);
    printf("FlowMM reference: DNG %zu (models.md 14131981), CSP %zu (14227306)\n", n_dng, n_csp);
    assert_int_equal(n_dng, 14131981);
    assert_int_equal(n_csp, 14227306);
    /* cspnet-s (models.md §2.6 [REC]): H 128, d_t 64, 4 layers, n_f 16 */
    dng.hidden = csp.hidden = 128;
    dng.time_dim = csp.time_dim = 64;
    dng.layers = csp.layers = 4;
    dng.n_freq = csp.n_freq = 16;
    assert_int_equal(count_of(&dng), 595405);
    assert_int_equal(count_of(&csp), 619306);
    /* without the head, CSP loses exactly the unused 51,300 (at reference size) */
    cb_cspnet_config_flowmm(&csp, 0);
    csp.type_head = CB_CSPNET_TYPE_HEAD_NONE;
    assert_int_equal(count_of(&csp), 14227306 - 51300);
}

static void test_parameter_names(void **state)
{
    (void)state;
    cb_cspnet_config cfg;
    tiny_config(&cfg, 1);
    cb_nn_params p;
    cb_nn_params_init(&p);
    assert_int_equal(cb_cspnet_declare(&p, &cfg, NULL), CB_OK);
    /* FlowMM's state_dict order and shapes */
    static const char *const names[] = {"time_emb.weight",
                                        "node_embedding.weight",
                                        "atom_latent_emb.weight",
                                        "csp_layer_0.num_atom_embedding.weight",
                                        "csp_layer_0.edge_mlp.0.weight",
                                        "csp_layer_0.edge_mlp.0.bias",
                                        "csp_layer_0.edge_mlp.2.weight",
                                        "csp_layer_0.edge_mlp.2.bias",
                                        "csp_layer_0.node_mlp.0.weight",
                                        "csp_layer_0.node_mlp.0.bias",
                                        "csp_layer_0.node_mlp.2.weight",
                                        "csp_layer_0.node_mlp.2.bias",
                                        "csp_layer_0.layer_norm.weight",
                                        "csp_layer_0.layer_norm.bias"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_string_equal(p.tensors[i].name, names[i]);
    static const char *const tail[] = {
        "coord_out.weight", "lattice_out.weight",      "lattice_out.bias",     "type_out.weight",
        "type_out.bias",    "final_layer_norm.weight", "final_layer_norm.bias"};
    size_t n = p.ntensors;
    for (size_t i = 0; i < 7; i++) assert_string_equal(p.tensors[n - 7 + i].name, tail[i]);
    const cb_nn_tensor *t = cb_nn_params_find(&p, "csp_layer_1.edge_mlp.0.weight");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 8);
    assert_int_equal(t->shape[1], 3 + 3 * 8 + 6 + 6 * 4);
    t = cb_nn_params_find(&p, "time_emb.weight");
    assert_int_equal(t->shape[0], 4);
    assert_int_equal(t->shape[1], 1);
    cb_nn_params_free(&p);
}

static void test_batch_topology(void **state)
{
    (void)state;
    cb_cspnet_config cfg;
    tiny_config(&cfg, 0);
    cb_cspnet_batch b;
    cb_cspnet_batch_init(&b);
    /* dense_to_sparse(block_diag(ones − eye)): row-major, (i, j) with i ≠ j */
    assert_int_equal(cb_cspnet_batch_build(&b, &cfg, 3, (const int[]){3, 1, 2}, NULL), CB_OK);
    assert_int_equal(b.n_nodes, 6);
    assert_int_equal(b.n_edges, 6 + 0 + 2);
    static const int src[] = {0, 0, 1, 1, 2, 2, 4, 5}, dst[] = {1, 2, 0, 2, 0, 1, 5, 4};
    static const int e2g[] = {0, 0, 0, 0, 0, 0, 2, 2};
    for (int e = 0; e < 8; e++) {
        assert_int_equal(b.edge_src[e], src[e]);
        assert_int_equal(b.edge_dst[e], dst[e]);
        assert_int_equal(b.edge2graph[e], e2g[e]);
    }
    assert_int_equal(b.first[2], 4);
    assert_int_equal(b.node2graph[3], 1);
    /* with self edges: N_b² each, (i, i) in place */
    cfg.self_edges = 1;
    assert_int_equal(cb_cspnet_batch_build(&b, &cfg, 2, (const int[]){2, 1}, NULL), CB_OK);
    assert_int_equal(b.n_edges, 5);
    static const int src2[] = {0, 0, 1, 1, 2}, dst2[] = {0, 1, 0, 1, 2};
    for (int e = 0; e < 5; e++) {
        assert_int_equal(b.edge_src[e], src2[e]);
        assert_int_equal(b.edge_dst[e], dst2[e]);
    }
    /* bad sizes */
    cb_error err;
    assert_int_equal(cb_cspnet_batch_build(&b, &cfg, 1, (const int[]){0}, &err), CB_ERR_USAGE);
    assert_int_equal(cb_cspnet_batch_build(&b, &cfg, 1, (const int[]){100}, &err), CB_ERR_USAGE);
    cb_cspnet_batch_free(&b);
}

/* Same inputs twice → bit-identical outputs and gradients; backward accumulates; the
 * EMA buffer is a valid weight pointer; mismatched caches and batches are refused. */
static void test_contracts(void **state)
{
    (void)state;
    cb_cspnet_config cfg;
    invariance_config(&cfg);
    problem *pr = calloc(1, sizeof *pr);
    assert_non_null(pr);
    problem_setup(pr, &cfg, 3, inv_atoms, 11);
    static float rc[MAXN * 3], rl[MAXB * LATD], rt[MAXN * MAXDA];
    for (int i = 0; i < pr->N * 3; i++) rc[i] = (float)pr->r_coord[i];
    for (int i = 0; i < pr->B * LATD; i++) rl[i] = (float)pr->r_lat[i];
    for (int i = 0; i < pr->N * cfg.atom_dim; i++) rt[i] = (float)pr->r_types[i];
    cb_cspnet_out d_out = {rc, rl, rt};
    cb_error err;
    size_t n = pr->p.count;
    float *g1 = malloc(n * sizeof *g1);
    assert_non_null(g1);
    static snapshot first;

    cb_nn_params_zero_grad(&pr->p);
    run_forward(pr, pr->p.w);
    take(pr, &first);
    assert_int_equal(
        cb_cspnet_backward(&pr->p, &cfg, &pr->batch, &pr->cache, &d_out, pr->p.grad, NULL, &err),
        CB_OK);
    memcpy(g1, pr->p.grad, n * sizeof *g1);
    run_forward(pr, pr->p.ema); /* θ̄ = θ after creation: same outputs */
    assert_memory_equal(first.coord, pr->out_coord, (size_t)pr->N * 3 * sizeof(float));
    assert_memory_equal(first.lat, pr->out_lat, (size_t)pr->B * LATD * sizeof(float));
    assert_int_equal(
        cb_cspnet_backward(&pr->p, &cfg, &pr->batch, &pr->cache, &d_out, pr->p.grad, NULL, &err),
        CB_OK);
    /* accumulates: 2·g to rounding (sgemm adds its K-blocks into C one by one, so
     * (g + p1) + p2 need not be exactly 2g) */
    double gmax = 0.0, gdiff = 0.0;
    for (size_t i = 0; i < n; i++) {
        gmax = fmax(gmax, fabs((double)g1[i]));
        gdiff = fmax(gdiff, fabs((double)pr->p.grad[i] - 2.0 * g1[i]));
    }
    assert_true(gdiff <= 1e-6 * gmax);
    cb_nn_params_zero_grad(&pr->p);
    run_forward(pr, pr->p.w);
    assert_int_equal(
        cb_cspnet_backward(&pr->p, &cfg, &pr->batch, &pr->cache, &d_out, pr->p.grad, NULL, &err),
        CB_OK);
    assert_memory_equal(g1, pr->p.grad, n * sizeof *g1);

    /* refusals */
    cb_cspnet_config other = cfg;
    other.n_freq = 4;
    cb_cspnet_out o = outputs(pr);
    assert_int_equal(cb_cspnet_forward(&pr->p, pr->p.w, &other, &pr->batch, &pr->cache, &o, &err),
                     CB_ERR_USAGE);
    cb_cspnet_cache c2;
    assert_int_equal(cb_cspnet_cache_alloc(&c2, &pr->p, &other, 1, 1, 1, &err), CB_ERR_USAGE);
    assert_int_equal(cb_cspnet_cache_alloc(&c2, &pr->p, &cfg, 1, 5, 20, &err), CB_OK);
    assert_int_equal(cb_cspnet_forward(&pr->p, pr->p.w, &cfg, &pr->batch, &c2, &o, &err),
                     CB_ERR_USAGE);
    assert_int_equal(
        cb_cspnet_backward(&pr->p, &cfg, &pr->batch, &c2, &d_out, pr->p.grad, NULL, &err),
        CB_ERR_USAGE);
    cb_cspnet_cache_free(&c2);
    free(g1);
    problem_free(pr);
    free(pr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameter_counts), cmocka_unit_test(test_parameter_names),
        cmocka_unit_test(test_batch_topology),   cmocka_unit_test(test_gradients_csp),
        cmocka_unit_test(test_gradients_dng),    cmocka_unit_test(test_gradients_variant),
        cmocka_unit_test(test_permutation),      cmocka_unit_test(test_translation),
        cmocka_unit_test(test_rotation),         cmocka_unit_test(test_contracts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
