/* CDVAE's read-out heads, build_mlp(in, hidden, fc_num_layers = 1, out): Linear(in,
 * hidden), ReLU, Linear(hidden, out), as a torch.nn.Sequential, so the parameters are
 * "<prefix>.0.{weight,bias}" and "<prefix>.2.{weight,bias}" in a cb_nn_params set. */
#ifndef CB_NN_MLP_H
#define CB_NN_MLP_H

#include "crystalbench/error.h"
#include "crystalbench/rng.h"
#include "train.h"

typedef struct cb_nn_mlp {
    int in, hidden, out;
    size_t w1, b1, w2, b2; /* offsets in the parameter set */
} cb_nn_mlp;

/* Declares the two linears into p (before cb_nn_params_alloc). */
int cb_nn_mlp_declare(cb_nn_params *p, const char *prefix, int in, int hidden, int out, cb_nn_mlp *m,
                      cb_error *err);
/* PyTorch's Linear initialisation of both layers, in order, into w (any buffer of p's layout). */
void cb_nn_mlp_init(const cb_nn_mlp *m, float *w, cb_rng *rng);
/* out[rows × out] = W2 relu(W1 in + b1) + b2, keeping pre = W1 in + b1 and act = relu(pre)
 * ([rows × hidden] each) for the backward. */
void cb_nn_mlp_forward(const cb_nn_mlp *m, const float *w, const float *in, int rows, float *pre, float *act,
                       float *out);
/* Accumulates dL/dθ into grad and, when d_in is non-NULL, dL/din into d_in; scratch holds
 * rows × hidden floats. */
void cb_nn_mlp_backward(const cb_nn_mlp *m, const float *w, float *grad, const float *in, const float *pre,
                        const float *act, const float *d_out, int rows, float *d_in, float *scratch);

#endif
