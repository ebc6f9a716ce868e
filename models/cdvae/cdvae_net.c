/* CDVAE's parameter set and lattice scaler (cdvae.h).  One contiguous set, declared in
 * the order the reference builds its modules: the encoder ("encoder." CSPNet, or the
 * composition encoder "comp_encoder."), fc_num_atoms, fc_lattice, fc_composition, then
 * the decoder ("decoder." CSPNet); initialised in the same order from one stream. */
#include <math.h>
#include <string.h>

#include "cdvae.h"

void cdvae_scaled_lattice(const double params[6], int n, double out[6])
{
    double s = cbrt((double)n);
    for (int k = 0; k < 3; k++) out[k] = params[k] / s;
    for (int k = 3; k < 6; k++) out[k] = params[k];
}

int cdvae_scaler_fit(const cb_dataset *train, cdvae_scaler *s, cb_error *err)
{
    /* StandardScalerTorch on the training cells (already preprocessed by the caller):
     * the mean and the biased std plus 1e-5, two passes in double, in dataset order. */
    if (!train->n) return cb_fail(err, CB_ERR_INVALID, "cdvae: no training crystal to fit the lattice scaler on");
    double sum[6] = {0}, sq[6] = {0};
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < train->n; i++) {
            const cb_crystal *c = &train->items[i];
            double params[6], sc[6];
            cb_lattice_parameters(c->lattice, params);
            cdvae_scaled_lattice(params, c->n, sc);
            for (int k = 0; k < 6; k++) {
                if (pass == 0) sum[k] += sc[k];
                else sq[k] += (sc[k] - s->mean[k]) * (sc[k] - s->mean[k]);
            }
            if (pass == 0 && i + 1 == train->n)
                for (int k = 0; k < 6; k++) s->mean[k] = sum[k] / (double)train->n;
        }
    for (int k = 0; k < 6; k++) s->std[k] = sqrt(sq[k] / (double)train->n) + 1e-5;
    return CB_OK;
}

void cdvae_net_free(cdvae_net *n)
{
    cb_nn_params_free(&n->p);
    cb_cspnet_cache_free(&n->enc_cache);
    cb_cspnet_cache_free(&n->dec_cache);
}

static int declare(cdvae_net *n, cb_error *err)
{
    const cdvae_config *c = &n->cfg;
    int rc = CB_OK;
    if (c->encoder == CDVAE_ENCODER_STRUCTURE) {
        rc = cb_cspnet_declare(&n->p, &c->enc, err);
    } else {
        size_t shape[2] = {(size_t)c->comp_hidden, CDVAE_CLASSES};
        rc = cb_nn_params_add(&n->p, "comp_encoder.embedding.weight", 2, shape, &n->comp_emb, err);
        if (!rc)
            rc = cb_nn_mlp_declare(&n->p, "comp_encoder.mlp", 2 * c->comp_hidden, c->comp_hidden, 2 * c->latent,
                                   &n->comp_mlp, err);
    }
    if (!rc)
        rc = cb_nn_mlp_declare(&n->p, "fc_num_atoms", c->latent, c->head_hidden, CDVAE_MAX_ATOMS + 1, &n->fc_natom,
                               err);
    if (!rc) rc = cb_nn_mlp_declare(&n->p, "fc_lattice", c->latent, c->head_hidden, 6, &n->fc_lattice, err);
    if (!rc)
        rc = cb_nn_mlp_declare(&n->p, "fc_composition", c->latent, c->head_hidden, CDVAE_CLASSES, &n->fc_comp, err);
    if (!rc) rc = cb_cspnet_declare(&n->p, &c->dec, err);
    return rc;
}

int cdvae_net_create(cdvae_net *n, const cdvae_config *cfg, cb_rng *rng, cb_error *err)
{
    memset(n, 0, sizeof *n);
    n->cfg = *cfg;
    cb_nn_params_init(&n->p);
    int rc = declare(n, err);
    if (!rc) rc = cb_nn_params_alloc(&n->p, err);
    if (rc) {
        cdvae_net_free(n);
        return rc;
    }
    float *w = n->p.w;
    if (cfg->encoder == CDVAE_ENCODER_STRUCTURE) {
        cb_cspnet_init_weights(&n->p, w, &cfg->enc, rng);
    } else {
        /* nn.Embedding-like table for the one-hot types: N(0, 1) */
        cb_nn_init_normal(w + n->comp_emb, (size_t)cfg->comp_hidden * CDVAE_CLASSES, 0, 1, rng);
        cb_nn_mlp_init(&n->comp_mlp, w, rng);
    }
    cb_nn_mlp_init(&n->fc_natom, w, rng);
    cb_nn_mlp_init(&n->fc_lattice, w, rng);
    cb_nn_mlp_init(&n->fc_comp, w, rng);
    cb_cspnet_init_weights(&n->p, w, &cfg->dec, rng);
    cb_nn_ema_reset(&n->p);
    return CB_OK;
}
