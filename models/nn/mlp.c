/* Linear–ReLU–Linear heads (mlp.h). */
#include "mlp.h"

#include <stdio.h>
#include <string.h>

#include "layers.h"

int cb_nn_mlp_declare(cb_nn_params *p, const char *prefix, int in, int hidden, int out, cb_nn_mlp *m,
                      cb_error *err)
{
    if (in < 1 || hidden < 1 || out < 1)
        return cb_fail(err, CB_ERR_USAGE, "mlp %s: sizes %d, %d, %d", prefix, in, hidden, out);
    char name[CB_NN_NAME_MAX];
    *m = (cb_nn_mlp){.in = in, .hidden = hidden, .out = out};
    snprintf(name, sizeof name, "%s.0", prefix);
    int rc = cb_nn_params_add_linear(p, name, (size_t)in, (size_t)hidden, &m->w1, &m->b1, err);
    snprintf(name, sizeof name, "%s.2", prefix);
    if (!rc) rc = cb_nn_params_add_linear(p, name, (size_t)hidden, (size_t)out, &m->w2, &m->b2, err);
    return rc;
}

void cb_nn_mlp_init(const cb_nn_mlp *m, float *w, cb_rng *rng)
{
    cb_nn_init_linear(w + m->w1, w + m->b1, (size_t)m->in, (size_t)m->hidden, rng);
    cb_nn_init_linear(w + m->w2, w + m->b2, (size_t)m->hidden, (size_t)m->out, rng);
}

void cb_nn_mlp_forward(const cb_nn_mlp *m, const float *w, const float *in, int rows, float *pre, float *act,
                       float *out)
{
    cb_nn_linear_forward(pre, in, w + m->w1, w + m->b1, rows, m->in, m->hidden);
    cb_nn_relu_forward(act, pre, (size_t)rows * (size_t)m->hidden);
    cb_nn_linear_forward(out, act, w + m->w2, w + m->b2, rows, m->hidden, m->out);
}

void cb_nn_mlp_backward(const cb_nn_mlp *m, const float *w, float *grad, const float *in, const float *pre,
                        const float *act, const float *d_out, int rows, float *d_in, float *scratch)
{
    size_t nh = (size_t)rows * (size_t)m->hidden;
    memset(scratch, 0, nh * sizeof *scratch);
    cb_nn_linear_backward(scratch, grad + m->w2, grad + m->b2, d_out, act, w + m->w2, rows, m->hidden, m->out);
    cb_nn_relu_backward_inplace(scratch, pre, nh);
    cb_nn_linear_backward(d_in, grad + m->w1, grad + m->b1, scratch, in, w + m->w1, rows, m->in, m->hidden);
}
