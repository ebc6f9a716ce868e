/* One CDVAE batch (models.md §4.1): encode, reparameterise, the three heads, corrupt the
 * types and coordinates at a noise level per crystal, decode, the six losses, and their
 * backward through decoder, heads, reparameterisation and encoder.
 *
 * Draws from rng, in this order: ε of z for every crystal; then per crystal its
 * coordinate and type noise levels; then per atom its corrupted type (DNG) and its three
 * coordinate normals.
 *
 * Deviations from the reference, all documented in docs/models.md: the cell the decoder
 * sees after teacher forcing (the predicted one) enters as a constant (no gradient to
 * fc_lattice through the decoder); a predicted cell that is not a cell (a length below
 * 0.1 Å, a non-finite value or a volume below 1e-3 Å³) is replaced by the true one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystalbench/crystal.h"
#include "crystalbench/reduce.h"
#include "cdvae.h"

void cdvae_batch_init(cdvae_batch *b)
{
    memset(b, 0, sizeof *b);
    cb_cspnet_batch_init(&b->enc);
    cb_cspnet_batch_init(&b->dec);
}

void cdvae_batch_free(cdvae_batch *b)
{
    cb_cspnet_batch_free(&b->enc);
    cb_cspnet_batch_free(&b->dec);
    free(b->arena);
    free(b->sigma);
    free(b->tau);
    free(b->L_use);
    free(b->target);
    free(b->z_noisy);
    cdvae_batch_init(b);
}

int cdvae_batch_reserve(cdvae_batch *b, const cdvae_config *cfg, int n, int nodes, cb_error *err)
{
    if (n <= b->cap_graphs && nodes <= b->cap_nodes) return CB_OK;
    int B = n > b->cap_graphs ? n : b->cap_graphs, N = nodes > b->cap_nodes ? nodes : b->cap_nodes;
    size_t G = (size_t)B, V = (size_t)N, dz = (size_t)cfg->latent, h = (size_t)cfg->head_hidden,
           hc = (size_t)cfg->comp_hidden, C = CDVAE_CLASSES, dc = (size_t)cfg->dec.cond_dim;
    size_t wide = h > 3 * hc ? h : 3 * hc; /* the heads' backward, or the composition encoder's */
    struct {
        float **p;
        size_t n;
    } parts[] = {
        {&b->enc_in, G * 2 * hc}, {&b->comp_pre, G * hc},    {&b->comp_act, G * hc},  {&b->mu_lv, G * 2 * dz},
        {&b->enc_coord, V * 3},   {&b->eps, G * dz},         {&b->z, G * dz},         {&b->na_pre, G * h},
        {&b->na_act, G * h},      {&b->na_out, G * C},       {&b->la_pre, G * h},     {&b->la_act, G * h},
        {&b->la_out, G * 6},      {&b->co_pre, G * h},       {&b->co_act, G * h},     {&b->co_out, G * C},
        {&b->dec_lat, G},         {&b->dec_coord, V * 3},    {&b->dec_types, V * C},  {&b->d_mu_lv, G * 2 * dz},
        {&b->d_z, G * dz},        {&b->d_na, G * C},         {&b->d_la, G * 6},       {&b->d_co, G * C},
        {&b->d_coord, V * 3},     {&b->d_types, V * C},      {&b->d_cond, G * dc},    {&b->scratch, G * wide},
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) total += parts[i].n;
    float *arena = malloc(total * sizeof *arena);
    double *sigma = malloc(G * sizeof *sigma), *tau = malloc(G * sizeof *tau);
    double(*L)[3][3] = malloc(G * sizeof *L);
    double(*target)[3] = malloc(V * sizeof *target);
    int *zn = malloc(V * sizeof *zn);
    if (!arena || !sigma || !tau || !L || !target || !zn) {
        free(arena), free(sigma), free(tau), free(L), free(target), free(zn);
        return cb_fail(err, CB_ERR_NOMEM, "cdvae: out of memory for a batch of %d atoms", N);
    }
    free(b->arena), free(b->sigma), free(b->tau), free(b->L_use), free(b->target), free(b->z_noisy);
    b->arena = arena;
    b->arena_cap = total;
    size_t at = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        *parts[i].p = arena + at;
        at += parts[i].n;
    }
    b->sigma = sigma, b->tau = tau, b->L_use = L, b->target = target, b->z_noisy = zn;
    b->cap_graphs = B;
    b->cap_nodes = N;
    return CB_OK;
}

static void lattice_to_float(const double L[3][3], float *out)
{
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) out[3 * i + k] = (float)L[i][k];
}

/* ---- encoder ----------------------------------------------------------------------- */

int cdvae_encode(cdvae_net *net, const float *w, cdvae_batch *b, const cdvae_example *const *ex, int n,
                 cb_error *err)
{
    const cdvae_config *c = &net->cfg;
    if (c->encoder == CDVAE_ENCODER_COMPOSITION) {
        /* DeepSets: [mean ‖ sum] of the type embeddings, then the MLP to [μ ‖ log σ²] */
        int hc = c->comp_hidden;
        const float *E = w + net->comp_emb; /* [hc × 100]: type k's embedding is column k */
        for (int g = 0; g < n; g++) {
            float *mean = b->enc_in + (size_t)g * 2 * hc, *sum = mean + hc;
            memset(mean, 0, 2 * (size_t)hc * sizeof *mean);
            for (int i = 0; i < ex[g]->n; i++)
                for (int j = 0; j < hc; j++) sum[j] += E[(size_t)j * CDVAE_CLASSES + ex[g]->z[i] - 1];
            for (int j = 0; j < hc; j++) mean[j] = sum[j] / (float)ex[g]->n;
        }
        cb_nn_mlp_forward(&net->comp_mlp, w, b->enc_in, n, b->comp_pre, b->comp_act, b->mu_lv);
        return CB_OK;
    }
    if (n < 1 || n > 4096) return cb_fail(err, CB_ERR_USAGE, "cdvae: a batch of %d crystals", n);
    int sizes[4096] = {0};
    for (int g = 0; g < n; g++) sizes[g] = ex[g]->n;
    int rc = cb_cspnet_batch_build(&b->enc, &c->enc, n, sizes, err);
    if (rc) return rc;
    cb_cspnet_batch *e = &b->enc;
    for (int g = 0; g < n; g++) {
        e->t[g] = 0.0f; /* no conditioning */
        for (int k = 0; k < 6; k++) e->lat_in[6 * g + k] = (float)ex[g]->scaled_std[k];
        lattice_to_float(ex[g]->lattice, e->lattice + 9 * g);
        for (int i = 0; i < ex[g]->n; i++) {
            int row = e->first[g] + i;
            e->types[row] = ex[g]->z[i] - 1;
            for (int k = 0; k < 3; k++) e->frac[3 * row + k] = (float)ex[g]->f[i][k];
        }
    }
    if ((rc = cb_cspnet_cache_fit(&net->enc_cache, &net->p, &c->enc, e, err))) return rc;
    cb_cspnet_out out = {b->enc_coord, b->mu_lv, NULL};
    return cb_cspnet_forward(&net->p, w, &c->enc, e, &net->enc_cache, &out, err);
}

static int encode_backward(cdvae_net *net, cdvae_batch *b, const cdvae_example *const *ex, int n, cb_error *err)
{
    const cdvae_config *c = &net->cfg;
    float *grad = net->p.grad;
    if (c->encoder == CDVAE_ENCODER_STRUCTURE) {
        cb_cspnet_out d_out = {NULL, b->d_mu_lv, NULL};
        return cb_cspnet_backward(&net->p, &c->enc, &b->enc, &net->enc_cache, &d_out, grad, NULL, err);
    }
    int hc = c->comp_hidden;
    float *d_in = b->scratch; /* [n × 2hc]; the MLP's own scratch is [n × hc] after it */
    memset(d_in, 0, (size_t)n * 2 * (size_t)hc * sizeof *d_in);
    cb_nn_mlp_backward(&net->comp_mlp, net->p.w, grad, b->enc_in, b->comp_pre, b->comp_act, b->d_mu_lv, n, d_in,
                       d_in + (size_t)n * 2 * (size_t)hc);
    float *dE = grad + net->comp_emb;
    for (int g = 0; g < n; g++) {
        const float *dmean = d_in + (size_t)g * 2 * hc, *dsum = dmean + hc;
        for (int i = 0; i < ex[g]->n; i++)
            for (int j = 0; j < hc; j++)
                dE[(size_t)j * CDVAE_CLASSES + ex[g]->z[i] - 1] += dmean[j] / (float)ex[g]->n + dsum[j];
    }
    return CB_OK;
}

/* ---- heads and decoder ------------------------------------------------------------- */

void cdvae_heads(const cdvae_net *net, const float *w, cdvae_batch *b, int n)
{
    cb_nn_mlp_forward(&net->fc_natom, w, b->z, n, b->na_pre, b->na_act, b->na_out);
    cb_nn_mlp_forward(&net->fc_lattice, w, b->z, n, b->la_pre, b->la_act, b->la_out);
    cb_nn_mlp_forward(&net->fc_comp, w, b->z, n, b->co_pre, b->co_act, b->co_out);
}

int cdvae_decode(cdvae_net *net, const float *w, cdvae_batch *b, cb_error *err)
{
    const cdvae_config *c = &net->cfg;
    cb_cspnet_batch *d = &b->dec;
    int dz = c->latent, dc = c->dec.cond_dim;
    for (int g = 0; g < d->n_graphs; g++) {
        memcpy(d->t + (size_t)g * dc, b->z + (size_t)g * dz, (size_t)dz * sizeof *d->t);
        if (c->sigma_input) d->t[(size_t)g * dc + dz] = (float)log(b->sigma[g]);
        lattice_to_float(b->L_use[g], d->lattice + 9 * g);
    }
    int rc = cb_cspnet_cache_fit(&net->dec_cache, &net->p, &c->dec, d, err);
    if (rc) return rc;
    cb_cspnet_out out = {b->dec_coord, b->dec_lat, b->dec_types};
    return cb_cspnet_forward(&net->p, w, &c->dec, d, &net->dec_cache, &out, err);
}

/* ---- the loss ---------------------------------------------------------------------- */

/* log Σ exp(x) − x[target] and, with grad, scale·(softmax − onehot) into grad. */
static double cross_entropy(const float *x, int classes, int target, double scale, float *grad)
{
    double mx = x[0];
    for (int k = 1; k < classes; k++) mx = x[k] > mx ? x[k] : mx;
    double s = 0;
    for (int k = 0; k < classes; k++) s += exp(x[k] - mx);
    double lse = mx + log(s);
    if (grad)
        for (int k = 0; k < classes; k++) grad[k] += (float)(scale * (exp(x[k] - lse) - (k == target)));
    return lse - x[target];
}

/* The cell params → matrix, or 0 when it is not a usable cell. */
static int usable_cell(const double params[6], double L[3][3])
{
    for (int k = 0; k < 6; k++)
        if (!isfinite(params[k])) return 0;
    if (params[0] < 0.1 || params[1] < 0.1 || params[2] < 0.1) return 0;
    cb_lattice_from_parameters(params, L);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(L[i][k])) return 0;
    return fabs(cb_lattice_volume(L)) > 1e-3;
}

int cdvae_predicted_cell(const cdvae_net *net, const float *std6, int n, double L[3][3])
{
    double params[6];
    double s = cbrt((double)n);
    for (int k = 0; k < 6; k++) {
        double v = std6[k] * net->scaler.std[k] + net->scaler.mean[k];
        params[k] = k < 3 ? v * s : v;
    }
    return usable_cell(params, L);
}

/* Minimum-image Cartesian vector from f_from to f_to in L (27 images). */
static void min_image(const double f_to[3], const double f_from[3], const double L[3][3], double out[3])
{
    double best = INFINITY;
    for (int a = -1; a <= 1; a++)
        for (int bb = -1; bb <= 1; bb++)
            for (int cc = -1; cc <= 1; cc++) {
                double d[3] = {f_to[0] - f_from[0] + a, f_to[1] - f_from[1] + bb, f_to[2] - f_from[2] + cc}, r[3];
                cb_lattice_dot_vec(L, d, r);
                double n2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
                if (n2 < best) {
                    best = n2;
                    memcpy(out, r, sizeof r);
                }
            }
}

/* Draws the corrupted type of one atom: onehot(Z − 1) + τ·p, normalised (p detached). */
static int corrupt_type(int z, const double *p, double tau, cb_rng *rng)
{
    double u = cb_rng_uniform(rng) * (1.0 + tau); /* Σ (onehot + τp) = 1 + τ */
    double acc = 0;
    for (int k = 0; k < CDVAE_CLASSES; k++) {
        acc += (k == z - 1) + tau * p[k];
        if (u < acc) return k + 1;
    }
    return z;
}

int cdvae_loss(cdvae_net *net, const float *w, cdvae_batch *b, const cdvae_example *const *ex, int n,
               uint64_t epoch, cb_rng *rng, int backward, double *loss, double parts[CDVAE_PARTS], cb_error *err)
{
    const cdvae_config *c = &net->cfg;
    if (n < 1 || n > 4096) return cb_fail(err, CB_ERR_USAGE, "cdvae: a batch of %d crystals", n);
    int sizes[4096] = {0}, nodes = 0, dng = c->task == CB_TASK_DNG, dz = c->latent;
    for (int g = 0; g < n; g++) nodes += sizes[g] = ex[g]->n;
    int rc = cdvae_batch_reserve(b, c, n, nodes, err);
    if (!rc) rc = cdvae_encode(net, w, b, ex, n, err);
    if (!rc) rc = cb_cspnet_batch_build(&b->dec, &c->dec, n, sizes, err);
    if (rc) return rc;

    /* z = μ + exp(½ log σ²)·ε, then the heads */
    for (int g = 0; g < n; g++)
        for (int d = 0; d < dz; d++) {
            size_t i = (size_t)g * dz + (size_t)d;
            const float *ml = b->mu_lv + (size_t)g * 2 * dz;
            b->eps[i] = (float)cb_rng_normal(rng);
            b->z[i] = ml[d] + expf(0.5f * ml[dz + d]) * b->eps[i];
        }
    cdvae_heads(net, w, b, n);

    /* the decoder's input: cell, noise levels, corrupted types and coordinates */
    int teacher = epoch < (uint64_t)c->teacher_forcing_epochs;
    cb_cspnet_batch *d = &b->dec;
    for (int g = 0; g < n; g++) {
        const cdvae_example *e = ex[g];
        double L[3][3];
        int pred = !teacher && cdvae_predicted_cell(net, b->la_out + 6 * g, e->n, L);
        memcpy(b->L_use[g], pred ? L : e->lattice, sizeof L);
        for (int k = 0; k < 6; k++) d->lat_in[6 * g + k] = pred ? b->la_out[6 * g + k] : (float)e->scaled_std[k];
        b->sigma[g] = cdvae_sigma((int)cb_rng_below(rng, (uint64_t)c->n_sigmas), c->n_sigmas, c->sigma_begin,
                                  c->sigma_end);
        b->tau[g] = cdvae_sigma((int)cb_rng_below(rng, (uint64_t)c->n_sigmas), c->n_sigmas, c->type_sigma_begin,
                                c->type_sigma_end);
    }
    for (int g = 0; g < n; g++) {
        const cdvae_example *e = ex[g];
        double p[CDVAE_CLASSES], inv[3][3];
        if (dng) { /* softmax of the composition head, detached */
            const float *x = b->co_out + (size_t)g * CDVAE_CLASSES;
            double mx = x[0], s = 0;
            for (int k = 1; k < CDVAE_CLASSES; k++) mx = x[k] > mx ? x[k] : mx;
            for (int k = 0; k < CDVAE_CLASSES; k++) s += p[k] = exp(x[k] - mx);
            for (int k = 0; k < CDVAE_CLASSES; k++) p[k] /= s;
        }
        cb_lattice_inv(b->L_use[g], inv);
        for (int i = 0; i < e->n; i++) {
            int row = d->first[g] + i;
            b->z_noisy[row] = dng ? corrupt_type(e->z[i], p, b->tau[g], rng) : e->z[i];
            d->types[row] = b->z_noisy[row] - 1;
            double r[3], fn[3], eps[3];
            cb_lattice_dot_vec(b->L_use[g], e->f[i], r);
            for (int k = 0; k < 3; k++) eps[k] = cb_rng_normal(rng);
            for (int k = 0; k < 3; k++) r[k] += b->sigma[g] * eps[k];
            cb_lattice_dot_vec(inv, r, fn); /* r·L⁻¹ as a row vector */
            for (int k = 0; k < 3; k++) d->frac[3 * row + k] = (float)(fn[k] = cb_wrap01(fn[k]));
            /* the target, in the true cell: Δ/σ from the noisy position back to the atom */
            double delta[3];
            min_image(e->f[i], fn, e->lattice, delta);
            for (int k = 0; k < 3; k++) b->target[row][k] = delta[k] / b->sigma[g];
        }
    }
    if ((rc = cdvae_decode(net, w, b, err))) return rc;

    /* the losses, and their gradients with respect to the outputs */
    size_t C = CDVAE_CLASSES;
    if (backward) {
        memset(b->d_coord, 0, (size_t)nodes * 3 * sizeof *b->d_coord);
        memset(b->d_types, 0, (size_t)nodes * C * sizeof *b->d_types);
        memset(b->d_na, 0, (size_t)n * C * sizeof *b->d_na);
        memset(b->d_co, 0, (size_t)n * C * sizeof *b->d_co);
        memset(b->d_la, 0, (size_t)n * 6 * sizeof *b->d_la);
    }
    double part[CDVAE_PARTS] = {0};
    for (int g = 0; g < n; g++) {
        const cdvae_example *e = ex[g];
        int first = d->first[g], na = e->n;
        double lc = 0, lt = 0, lco = 0;
        for (int i = first; i < first + na; i++) {
            const float *o = b->dec_coord + 3 * (size_t)i;
            double pc[3];
            for (int k = 0; k < 3; k++) pc[k] = o[0] * b->L_use[g][0][k] + o[1] * b->L_use[g][1][k] + o[2] * b->L_use[g][2][k];
            double dpc[3];
            for (int k = 0; k < 3; k++) {
                double diff = pc[k] - b->target[i][k];
                lc += 0.5 * diff * diff;
                dpc[k] = c->cost_coord * diff / ((double)na * n);
            }
            if (backward)
                for (int j = 0; j < 3; j++)
                    b->d_coord[3 * (size_t)i + j] =
                        (float)(dpc[0] * b->L_use[g][j][0] + dpc[1] * b->L_use[g][j][1] + dpc[2] * b->L_use[g][j][2]);
            if (dng) {
                int zi = e->z[i - first];
                lt += cross_entropy(b->dec_types + (size_t)i * C, CDVAE_CLASSES, zi - 1,
                                    c->cost_type / (b->tau[g] * na * n), backward ? b->d_types + (size_t)i * C : NULL) /
                      b->tau[g];
                lco += cross_entropy(b->co_out + (size_t)g * C, CDVAE_CLASSES, zi - 1,
                                     c->cost_composition / ((double)na * n), backward ? b->d_co + (size_t)g * C : NULL);
            }
        }
        part[CDVAE_PART_COORD] += lc / na;
        part[CDVAE_PART_TYPE] += lt / na;
        part[CDVAE_PART_COMP] += lco / na;
        if (dng)
            part[CDVAE_PART_NATOM] += cross_entropy(b->na_out + (size_t)g * C, CDVAE_MAX_ATOMS + 1, na,
                                                    c->cost_natom / n, backward ? b->d_na + (size_t)g * C : NULL);
        for (int k = 0; k < 6; k++) {
            double diff = b->la_out[6 * g + k] - e->scaled_std[k];
            part[CDVAE_PART_LATTICE] += diff * diff / 6.0;
            if (backward) b->d_la[6 * g + k] = (float)(c->cost_lattice * 2 * diff / (6.0 * n));
        }
        const float *ml = b->mu_lv + (size_t)g * 2 * dz;
        double kl = 0;
        for (int j = 0; j < dz; j++) kl += 1 + ml[dz + j] - (double)ml[j] * ml[j] - exp(ml[dz + j]);
        part[CDVAE_PART_KL] += -0.5 * kl;
    }
    for (int k = 0; k < CDVAE_PARTS; k++) part[k] /= n;
    *loss = c->cost_coord * part[CDVAE_PART_COORD] + c->cost_lattice * part[CDVAE_PART_LATTICE] +
            c->beta * part[CDVAE_PART_KL] +
            (dng ? c->cost_type * part[CDVAE_PART_TYPE] + c->cost_composition * part[CDVAE_PART_COMP] +
                       c->cost_natom * part[CDVAE_PART_NATOM]
                 : 0);
    if (parts) {
        memcpy(parts, part, sizeof part);
        if (!dng) parts[CDVAE_PART_NATOM] = parts[CDVAE_PART_COMP] = parts[CDVAE_PART_TYPE] = NAN;
    }
    if (!backward) return CB_OK;

    /* backward: decoder (its conditioning gives dL/dz), heads, reparameterisation, encoder */
    float *grad = net->p.grad;
    int dc = c->dec.cond_dim;
    memset(b->d_cond, 0, (size_t)n * dc * sizeof *b->d_cond);
    cb_cspnet_out d_out = {b->d_coord, NULL, dng ? b->d_types : NULL};
    cb_cspnet_input_grad d_in = {NULL, NULL, b->d_cond};
    if ((rc = cb_cspnet_backward(&net->p, &c->dec, d, &net->dec_cache, &d_out, grad, &d_in, err))) return rc;
    for (int g = 0; g < n; g++)
        memcpy(b->d_z + (size_t)g * dz, b->d_cond + (size_t)g * dc, (size_t)dz * sizeof *b->d_z);
    cb_nn_mlp_backward(&net->fc_lattice, w, grad, b->z, b->la_pre, b->la_act, b->d_la, n, b->d_z, b->scratch);
    if (dng) {
        cb_nn_mlp_backward(&net->fc_natom, w, grad, b->z, b->na_pre, b->na_act, b->d_na, n, b->d_z, b->scratch);
        cb_nn_mlp_backward(&net->fc_comp, w, grad, b->z, b->co_pre, b->co_act, b->d_co, n, b->d_z, b->scratch);
    }
    for (int g = 0; g < n; g++)
        for (int j = 0; j < dz; j++) {
            size_t i = (size_t)g * dz + (size_t)j;
            const float *ml = b->mu_lv + (size_t)g * 2 * dz;
            float *dml = b->d_mu_lv + (size_t)g * 2 * dz;
            double sd = exp(0.5 * ml[dz + j]);
            dml[j] = (float)(b->d_z[i] + c->beta * ml[j] / n);
            dml[dz + j] = (float)(b->d_z[i] * 0.5 * sd * b->eps[i] - c->beta * 0.5 * (1.0 - sd * sd) / n);
        }
    return encode_backward(net, b, ex, n, err);
}
