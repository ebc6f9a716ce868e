/* The small GPT (gpt.h): parameters, forward, backward, and the KV-cache step. */
#include "gpt.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"

#define LN_EPS 1e-5f

int cb_gpt_config_check(const cb_gpt_config *c, cb_error *err)
{
    if (c->vocab < 2 || c->vocab > 1000000 || c->ctx < 1 || c->ctx > 65536 || c->d < 1 || c->d > 65536 ||
        c->layers < 1 || c->layers > CB_GPT_MAX_LAYERS || c->heads < 1 || c->d % c->heads)
        return cb_fail(err, CB_ERR_USAGE, "gpt: vocab %d, ctx %d, d %d, layers %d (1..%d), heads %d (must divide d)",
                       c->vocab, c->ctx, c->d, c->layers, CB_GPT_MAX_LAYERS, c->heads);
    return CB_OK;
}

/* ---- parameters ---------------------------------------------------------------------- */

static int add(cb_nn_params *p, const char *name, size_t rows, size_t cols, size_t *off, cb_error *err)
{
    size_t shape[2] = {rows, cols};
    return cb_nn_params_add(p, name, cols ? 2 : 1, shape, off, err);
}

static int declare(cb_gpt *g, cb_error *err)
{
    const cb_gpt_config *c = &g->cfg;
    size_t d = (size_t)c->d, V = (size_t)c->vocab;
    int rc = add(&g->p, "wte", V, d, &g->wte, err);
    if (!rc) rc = add(&g->p, "wpe", (size_t)c->ctx, d, &g->wpe, err);
    for (int l = 0; l < c->layers && !rc; l++) {
        cb_gpt_layer_off *o = &g->layer[l];
        struct {
            const char *name;
            size_t rows, cols, *off;
        } t[] = {{"ln_1.weight", d, 0, &o->ln1_w},         {"ln_1.bias", d, 0, &o->ln1_b},
                 {"attn.qkv.weight", 3 * d, d, &o->qkv_w}, {"attn.qkv.bias", 3 * d, 0, &o->qkv_b},
                 {"attn.proj.weight", d, d, &o->proj_w},   {"attn.proj.bias", d, 0, &o->proj_b},
                 {"ln_2.weight", d, 0, &o->ln2_w},         {"ln_2.bias", d, 0, &o->ln2_b},
                 {"mlp.fc.weight", 4 * d, d, &o->fc_w},    {"mlp.fc.bias", 4 * d, 0, &o->fc_b},
                 {"mlp.proj.weight", d, 4 * d, &o->fcp_w}, {"mlp.proj.bias", d, 0, &o->fcp_b}};
        for (size_t k = 0; k < sizeof t / sizeof t[0] && !rc; k++) {
            char name[CB_NN_NAME_MAX];
            snprintf(name, sizeof name, "h.%d.%s", l, t[k].name);
            rc = add(&g->p, name, t[k].rows, t[k].cols, t[k].off, err);
        }
    }
    if (!rc) rc = add(&g->p, "ln_f.weight", d, 0, &g->lnf_w, err);
    if (!rc) rc = add(&g->p, "ln_f.bias", d, 0, &g->lnf_b, err);
    if (!rc) rc = add(&g->p, "lm_head.weight", V, d, &g->head_w, err);
    return rc;
}

int cb_gpt_create(cb_gpt *g, const cb_gpt_config *cfg, cb_rng *rng, cb_error *err)
{
    memset(g, 0, sizeof *g);
    int rc = cb_gpt_config_check(cfg, err);
    if (rc) return rc;
    g->cfg = *cfg;
    cb_nn_params_init(&g->p);
    rc = declare(g, err);
    if (!rc) rc = cb_nn_params_alloc(&g->p, err);
    if (rc) {
        cb_nn_params_free(&g->p);
        return rc;
    }
    /* In declaration order: a 2-D weight is N(0, 0.02) (the residual projections scaled
     * down by √(2L)), a bias 0, a layer norm γ = 1 (β 0), wpe N(0, 0.01); no decay for
     * anything 1-D or an embedding. */
    double resid = 0.02 / sqrt(2.0 * cfg->layers);
    for (size_t i = 0; i < g->p.ntensors && !rc; i++) {
        const cb_nn_tensor *t = &g->p.tensors[i];
        float *x = g->p.w + t->offset;
        int ln = strstr(t->name, "ln_") != NULL, emb = strcmp(t->name, "wte") == 0 || strcmp(t->name, "wpe") == 0;
        if (t->ndim == 1)
            cb_nn_init_const(x, t->size, ln && strstr(t->name, ".weight") ? 1.0f : 0.0f);
        else if (strcmp(t->name, "wpe") == 0)
            cb_nn_init_normal(x, t->size, 0, 0.01, rng);
        else
            cb_nn_init_normal(x, t->size, 0, strstr(t->name, ".proj.weight") ? resid : 0.02, rng);
        if (t->ndim == 1 || emb) rc = cb_nn_params_exempt_decay(&g->p, t->name, err);
    }
    if (rc) {
        cb_nn_params_free(&g->p);
        return rc;
    }
    cb_nn_ema_reset(&g->p);
    return CB_OK;
}

void cb_gpt_free(cb_gpt *g) { cb_nn_params_free(&g->p); }

/* ---- activations --------------------------------------------------------------------- */

void cb_gpt_acts_init(cb_gpt_acts *a) { memset(a, 0, sizeof *a); }

/* The float buffers, in the order cb_gpt_acts_reserve sizes them. */
enum { N_FIELDS = 25 };

static void fields(cb_gpt_acts *a, float **f[N_FIELDS])
{
    float **all[N_FIELDS] = {&a->encoded, &a->ln1,     &a->ln1_mean, &a->ln1_rstd, &a->qkv,      &a->att,
                             &a->atty,    &a->res2,    &a->ln2,      &a->ln2_mean, &a->ln2_rstd, &a->fch,
                             &a->fch_gelu, &a->res3,   &a->lnf,      &a->lnf_mean, &a->lnf_rstd, &a->logits,
                             &a->d_res,   &a->d_ln,    &a->d_qkv,    &a->d_atty,   &a->d_fcg,    &a->d_fch,
                             &a->d_p};
    memcpy(f, all, sizeof all);
}

void cb_gpt_acts_free(cb_gpt_acts *a)
{
    float **f[N_FIELDS];
    fields(a, f);
    for (size_t i = 0; i < N_FIELDS; i++) free(*f[i]);
    free(a->tokens);
    free(a->targets);
    cb_gpt_acts_init(a);
}

int cb_gpt_acts_reserve(cb_gpt_acts *a, const cb_gpt_config *cfg, int B, int T, cb_error *err)
{
    if (T > cfg->ctx || B < 1 || T < 1) return cb_fail(err, CB_ERR_USAGE, "gpt: a batch of %d × %d (ctx %d)", B, T, cfg->ctx);
    if (a->encoded && B <= a->cap_b && T <= a->cap_t) return CB_OK;
    int cb = B > a->cap_b ? B : a->cap_b, ct = T > a->cap_t ? T : a->cap_t;
    cb_gpt_acts_free(a);
    size_t BT = (size_t)cb * ct, d = (size_t)cfg->d, L = (size_t)cfg->layers, V = (size_t)cfg->vocab,
           H = (size_t)cfg->heads, TT = (size_t)ct * ct;
    size_t sizes[] = {BT * d,     L * BT * d, L * BT,     L * BT, L * BT * 3 * d, L * cb * H * TT,
                      L * BT * d, L * BT * d, L * BT * d, L * BT, L * BT,         L * BT * 4 * d,
                      L * BT * 4 * d, L * BT * d, BT * d, BT,     BT,             BT * V,
                      BT * d,     BT * d,     BT * 3 * d, BT * d, BT * 4 * d,     BT * 4 * d, TT};
    _Static_assert(sizeof sizes / sizeof sizes[0] == N_FIELDS, "one size per buffer");
    float **f[N_FIELDS];
    fields(a, f);
    int ok = 1;
    for (size_t i = 0; ok && i < N_FIELDS; i++) ok = (*f[i] = malloc(sizes[i] * sizeof(float))) != NULL;
    a->tokens = malloc(BT * sizeof *a->tokens);
    a->targets = malloc(BT * sizeof *a->targets);
    if (!ok || !a->tokens || !a->targets) {
        cb_gpt_acts_free(a);
        return cb_fail(err, CB_ERR_NOMEM, "gpt: out of memory for %d × %d activations", cb, ct);
    }
    a->cap_b = cb;
    a->cap_t = ct;
    return CB_OK;
}

/* ---- attention ----------------------------------------------------------------------- */

/* Causal attention of sequence b, head h, on T positions: P (T×T, zero above the
 * diagonal) and O into atty's columns of the head. */
static void attention_forward(float *atty, float *P, const float *qkv, int T, int d, int dh, int h)
{
    const float *Q = qkv + (size_t)h * dh, *K = Q + d, *V = Q + 2 * d;
    float scale = 1.0f / sqrtf((float)dh);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, scale, Q, 3 * d, K, 3 * d, 0.0f, P, T);
    for (int i = 0; i < T; i++) {
        float *row = P + (size_t)i * T, mx = row[0];
        for (int j = 1; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
        double sum = 0;
        for (int j = 0; j <= i; j++) sum += row[j] = expf(row[j] - mx);
        float inv = (float)(1.0 / sum);
        for (int j = 0; j <= i; j++) row[j] *= inv;
        for (int j = i + 1; j < T; j++) row[j] = 0.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, 1.0f, P, T, V, 3 * d, 0.0f, atty + (size_t)h * dh,
                d);
}

/* Its backward: d_qkv (zeroed by the caller) receives dQ, dK, dV of the head. */
static void attention_backward(float *d_qkv, float *dP, const float *d_atty, const float *P, const float *qkv, int T,
                               int d, int dh, int h)
{
    const float *Q = qkv + (size_t)h * dh, *K = Q + d, *V = Q + 2 * d, *dO = d_atty + (size_t)h * dh;
    float *dQ = d_qkv + (size_t)h * dh, *dK = dQ + d, *dV = dQ + 2 * d;
    float scale = 1.0f / sqrtf((float)dh);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, 1.0f, dO, d, V, 3 * d, 0.0f, dP, T);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, 1.0f, P, T, dO, d, 1.0f, dV, 3 * d);
    for (int i = 0; i < T; i++) { /* dS = P ⊙ (dP − Σ_j P dP), in place of dP */
        const float *p = P + (size_t)i * T;
        float *row = dP + (size_t)i * T;
        double s = 0;
        for (int j = 0; j <= i; j++) s += (double)p[j] * row[j];
        for (int j = 0; j <= i; j++) row[j] = p[j] * (row[j] - (float)s);
        for (int j = i + 1; j < T; j++) row[j] = 0.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, scale, dP, T, K, 3 * d, 1.0f, dQ, 3 * d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, scale, dP, T, Q, 3 * d, 1.0f, dK, 3 * d);
}

/* ---- forward / backward ------------------------------------------------------------ */

int cb_gpt_forward(const cb_gpt *g, const float *w, cb_gpt_acts *a, const int *tokens, const int *targets, int B,
                   int T, double *loss, cb_error *err)
{
    const cb_gpt_config *c = &g->cfg;
    int rc = cb_gpt_acts_reserve(a, c, B, T, err);
    if (rc) return rc;
    int d = c->d, V = c->vocab, H = c->heads, dh = d / H, BT = B * T;
    size_t sBT = (size_t)a->cap_b * a->cap_t, sd = sBT * (size_t)d, sTT = (size_t)a->cap_t * a->cap_t;
    for (int i = 0; i < BT; i++) {
        if (tokens[i] < 0 || tokens[i] >= V || targets[i] < -1 || targets[i] >= V)
            return cb_fail(err, CB_ERR_USAGE, "gpt: token %d / target %d outside the vocabulary", tokens[i], targets[i]);
    }
    a->B = B, a->T = T, a->w = w;
    memcpy(a->tokens, tokens, (size_t)BT * sizeof *tokens);
    memcpy(a->targets, targets, (size_t)BT * sizeof *targets);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *x = a->encoded + ((size_t)b * T + t) * d;
            const float *te = w + g->wte + (size_t)tokens[b * T + t] * d, *pe = w + g->wpe + (size_t)t * d;
            for (int k = 0; k < d; k++) x[k] = te[k] + pe[k];
        }
    const float *x = a->encoded;
    for (int l = 0; l < c->layers; l++) {
        const cb_gpt_layer_off *o = &g->layer[l];
        float *ln1 = a->ln1 + l * sd, *qkv = a->qkv + l * 3 * sd, *atty = a->atty + l * sd, *res2 = a->res2 + l * sd;
        float *ln2 = a->ln2 + l * sd, *fch = a->fch + l * 4 * sd, *fcg = a->fch_gelu + l * 4 * sd;
        float *res3 = a->res3 + l * sd, *att = a->att + (size_t)l * a->cap_b * H * sTT;
        cb_nn_layernorm_forward(ln1, a->ln1_mean + l * sBT, a->ln1_rstd + l * sBT, x, w + o->ln1_w, w + o->ln1_b, BT,
                                d, LN_EPS);
        cb_nn_linear_forward(qkv, ln1, w + o->qkv_w, w + o->qkv_b, BT, d, 3 * d);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                attention_forward(atty + (size_t)b * T * d, att + ((size_t)b * H + h) * sTT,
                                  qkv + (size_t)b * T * 3 * d, T, d, dh, h);
        cb_nn_linear_forward(res2, atty, w + o->proj_w, w + o->proj_b, BT, d, d);
        for (size_t i = 0; i < (size_t)BT * d; i++) res2[i] += x[i];
        cb_nn_layernorm_forward(ln2, a->ln2_mean + l * sBT, a->ln2_rstd + l * sBT, res2, w + o->ln2_w, w + o->ln2_b,
                                BT, d, LN_EPS);
        cb_nn_linear_forward(fch, ln2, w + o->fc_w, w + o->fc_b, BT, d, 4 * d);
        cb_nn_gelu_forward(fcg, fch, (size_t)BT * 4 * d);
        cb_nn_linear_forward(res3, fcg, w + o->fcp_w, w + o->fcp_b, BT, 4 * d, d);
        for (size_t i = 0; i < (size_t)BT * d; i++) res3[i] += res2[i];
        x = res3;
    }
    cb_nn_layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, x, w + g->lnf_w, w + g->lnf_b, BT, d, LN_EPS);
    cb_nn_linear_forward(a->logits, a->lnf, w + g->head_w, NULL, BT, d, V);
    /* the cross-entropy, and its gradient in place of the logits */
    long m = 0;
    for (int i = 0; i < BT; i++) m += targets[i] >= 0;
    a->supervised = m;
    double sum = 0;
    for (int i = 0; i < BT; i++) {
        float *z = a->logits + (size_t)i * V;
        if (targets[i] < 0) {
            memset(z, 0, (size_t)V * sizeof *z);
            continue;
        }
        double mx = z[0], s = 0;
        for (int k = 1; k < V; k++) mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < V; k++) s += exp(z[k] - mx);
        double lse = mx + log(s);
        sum += lse - z[targets[i]];
        for (int k = 0; k < V; k++) z[k] = (float)((exp(z[k] - lse) - (k == targets[i])) / (double)m);
    }
    *loss = m ? sum / (double)m : 0;
    return CB_OK;
}

int cb_gpt_backward(cb_gpt *g, cb_gpt_acts *a, cb_error *err)
{
    const cb_gpt_config *c = &g->cfg;
    if (!a->B || a->w != g->p.w) return cb_fail(err, CB_ERR_USAGE, "gpt: backward without a forward on p.w");
    const float *w = a->w;
    float *grad = g->p.grad;
    int B = a->B, T = a->T, d = c->d, V = c->vocab, H = c->heads, dh = d / H, BT = B * T;
    size_t sBT = (size_t)a->cap_b * a->cap_t, sd = sBT * (size_t)d, sTT = (size_t)a->cap_t * a->cap_t;
    size_t nd = (size_t)BT * d;
    const float *x_last = c->layers ? a->res3 + (size_t)(c->layers - 1) * sd : a->encoded;
    /* head and final layer norm */
    memset(a->d_ln, 0, nd * sizeof *a->d_ln);
    cb_nn_linear_backward(a->d_ln, grad + g->head_w, NULL, a->logits, a->lnf, w + g->head_w, BT, d, V);
    memset(a->d_res, 0, nd * sizeof *a->d_res);
    cb_nn_layernorm_backward(a->d_res, grad + g->lnf_w, grad + g->lnf_b, a->d_ln, x_last, w + g->lnf_w, a->lnf_mean,
                             a->lnf_rstd, BT, d);
    for (int l = c->layers - 1; l >= 0; l--) {
        const cb_gpt_layer_off *o = &g->layer[l];
        const float *x = l ? a->res3 + (size_t)(l - 1) * sd : a->encoded;
        const float *ln1 = a->ln1 + l * sd, *qkv = a->qkv + l * 3 * sd, *atty = a->atty + l * sd,
                    *res2 = a->res2 + l * sd, *ln2 = a->ln2 + l * sd, *fch = a->fch + l * 4 * sd,
                    *fcg = a->fch_gelu + l * 4 * sd, *att = a->att + (size_t)l * a->cap_b * H * sTT;
        /* MLP branch: d_res flows to res2 unchanged, plus the branch's gradient */
        memset(a->d_fcg, 0, nd * 4 * sizeof *a->d_fcg);
        cb_nn_linear_backward(a->d_fcg, grad + o->fcp_w, grad + o->fcp_b, a->d_res, fcg, w + o->fcp_w, BT, 4 * d, d);
        memset(a->d_fch, 0, nd * 4 * sizeof *a->d_fch);
        cb_nn_gelu_backward(a->d_fch, a->d_fcg, fch, nd * 4);
        memset(a->d_ln, 0, nd * sizeof *a->d_ln);
        cb_nn_linear_backward(a->d_ln, grad + o->fc_w, grad + o->fc_b, a->d_fch, ln2, w + o->fc_w, BT, d, 4 * d);
        cb_nn_layernorm_backward(a->d_res, grad + o->ln2_w, grad + o->ln2_b, a->d_ln, res2, w + o->ln2_w,
                                 a->ln2_mean + l * sBT, a->ln2_rstd + l * sBT, BT, d);
        /* attention branch */
        memset(a->d_atty, 0, nd * sizeof *a->d_atty);
        cb_nn_linear_backward(a->d_atty, grad + o->proj_w, grad + o->proj_b, a->d_res, atty, w + o->proj_w, BT, d, d);
        memset(a->d_qkv, 0, nd * 3 * sizeof *a->d_qkv);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                attention_backward(a->d_qkv + (size_t)b * T * 3 * d, a->d_p, a->d_atty + (size_t)b * T * d,
                                   att + ((size_t)b * H + h) * sTT, qkv + (size_t)b * T * 3 * d, T, d, dh, h);
        memset(a->d_ln, 0, nd * sizeof *a->d_ln);
        cb_nn_linear_backward(a->d_ln, grad + o->qkv_w, grad + o->qkv_b, a->d_qkv, ln1, w + o->qkv_w, BT, d, 3 * d);
        cb_nn_layernorm_backward(a->d_res, grad + o->ln1_w, grad + o->ln1_b, a->d_ln, x, w + o->ln1_w,
                                 a->ln1_mean + l * sBT, a->ln1_rstd + l * sBT, BT, d);
    }
    /* embeddings, in position order */
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *dx = a->d_res + ((size_t)b * T + t) * d;
            float *te = grad + g->wte + (size_t)a->tokens[b * T + t] * d, *pe = grad + g->wpe + (size_t)t * d;
            for (int k = 0; k < d; k++) te[k] += dx[k], pe[k] += dx[k];
        }
    return CB_OK;
}

/* ---- the KV-cache step --------------------------------------------------------------- */

int cb_gpt_kv_alloc(cb_gpt_kv *kv, const cb_gpt_config *cfg, cb_error *err)
{
    memset(kv, 0, sizeof *kv);
    size_t d = (size_t)cfg->d, kvn = (size_t)cfg->layers * cfg->ctx * d;
    kv->k = malloc(kvn * sizeof *kv->k);
    kv->v = malloc(kvn * sizeof *kv->v);
    kv->x = malloc(d * sizeof *kv->x);
    kv->h = malloc(d * sizeof *kv->h);
    kv->qkv = malloc(3 * d * sizeof *kv->qkv);
    kv->att = malloc(d * sizeof *kv->att);
    kv->y = malloc(d * sizeof *kv->y);
    kv->fc = malloc(4 * d * sizeof *kv->fc);
    kv->fcg = malloc(4 * d * sizeof *kv->fcg);
    kv->mean = malloc(sizeof *kv->mean);
    kv->rstd = malloc(sizeof *kv->rstd);
    kv->scores = malloc((size_t)cfg->ctx * sizeof *kv->scores);
    if (!kv->k || !kv->v || !kv->x || !kv->h || !kv->qkv || !kv->att || !kv->y || !kv->fc || !kv->fcg || !kv->mean ||
        !kv->rstd || !kv->scores) {
        cb_gpt_kv_free(kv);
        return cb_fail(err, CB_ERR_NOMEM, "gpt: out of memory for the KV cache");
    }
    return CB_OK;
}

void cb_gpt_kv_free(cb_gpt_kv *kv)
{
    free(kv->k), free(kv->v), free(kv->x), free(kv->h), free(kv->qkv), free(kv->att), free(kv->y);
    free(kv->fc), free(kv->fcg), free(kv->mean), free(kv->rstd), free(kv->scores);
    memset(kv, 0, sizeof *kv);
}

int cb_gpt_step(const cb_gpt *g, const float *w, cb_gpt_kv *kv, int token, float *logits, cb_error *err)
{
    const cb_gpt_config *c = &g->cfg;
    int d = c->d, H = c->heads, dh = d / H, t = kv->len;
    if (t >= c->ctx) return cb_fail(err, CB_ERR_USAGE, "gpt: the context (%d) is full", c->ctx);
    if (token < 0 || token >= c->vocab) return cb_fail(err, CB_ERR_USAGE, "gpt: token %d outside the vocabulary", token);
    const float *te = w + g->wte + (size_t)token * d, *pe = w + g->wpe + (size_t)t * d;
    for (int k = 0; k < d; k++) kv->x[k] = te[k] + pe[k];
    float scale = 1.0f / sqrtf((float)dh);
    for (int l = 0; l < c->layers; l++) {
        const cb_gpt_layer_off *o = &g->layer[l];
        float *K = kv->k + ((size_t)l * c->ctx) * d, *V = kv->v + ((size_t)l * c->ctx) * d;
        cb_nn_layernorm_forward(kv->h, kv->mean, kv->rstd, kv->x, w + o->ln1_w, w + o->ln1_b, 1, d, LN_EPS);
        cb_nn_linear_forward(kv->qkv, kv->h, w + o->qkv_w, w + o->qkv_b, 1, d, 3 * d);
        memcpy(K + (size_t)t * d, kv->qkv + d, (size_t)d * sizeof *K);
        memcpy(V + (size_t)t * d, kv->qkv + 2 * d, (size_t)d * sizeof *V);
        for (int h = 0; h < H; h++) {
            const float *q = kv->qkv + (size_t)h * dh;
            float mx = -INFINITY;
            for (int j = 0; j <= t; j++) {
                const float *kj = K + (size_t)j * d + (size_t)h * dh;
                float s = 0;
                for (int e = 0; e < dh; e++) s += q[e] * kj[e];
                kv->scores[j] = s * scale;
                mx = kv->scores[j] > mx ? kv->scores[j] : mx;
            }
            double sum = 0;
            for (int j = 0; j <= t; j++) sum += kv->scores[j] = expf(kv->scores[j] - mx);
            float inv = (float)(1.0 / sum), *out = kv->att + (size_t)h * dh;
            for (int e = 0; e < dh; e++) out[e] = 0;
            for (int j = 0; j <= t; j++) {
                const float *vj = V + (size_t)j * d + (size_t)h * dh;
                float p = kv->scores[j] * inv;
                for (int e = 0; e < dh; e++) out[e] += p * vj[e];
            }
        }
        cb_nn_linear_forward(kv->y, kv->att, w + o->proj_w, w + o->proj_b, 1, d, d);
        for (int k = 0; k < d; k++) kv->x[k] += kv->y[k];
        cb_nn_layernorm_forward(kv->h, kv->mean, kv->rstd, kv->x, w + o->ln2_w, w + o->ln2_b, 1, d, LN_EPS);
        cb_nn_linear_forward(kv->fc, kv->h, w + o->fc_w, w + o->fc_b, 1, d, 4 * d);
        cb_nn_gelu_forward(kv->fcg, kv->fc, (size_t)4 * d);
        cb_nn_linear_forward(kv->y, kv->fcg, w + o->fcp_w, w + o->fcp_b, 1, 4 * d, d);
        for (int k = 0; k < d; k++) kv->x[k] += kv->y[k];
    }
    cb_nn_layernorm_forward(kv->h, kv->mean, kv->rstd, kv->x, w + g->lnf_w, w + g->lnf_b, 1, d, LN_EPS);
    cb_nn_linear_forward(logits, kv->h, w + g->head_w, NULL, 1, d, c->vocab);
    kv->len = t + 1;
    return CB_OK;
}

double cb_gpt_forward_flops(const cb_gpt_config *c, int B, int T)
{
    double BT = (double)B * T, d = c->d;
    double per_layer = BT * d * 3 * d + BT * d * d + 2 * BT * d * 4 * d /* qkv, proj, mlp */
                       + 2.0 * B * (double)T * T * d;                   /* QKᵀ and PV */
    return 2.0 * (c->layers * per_layer + BT * d * c->vocab);
}
