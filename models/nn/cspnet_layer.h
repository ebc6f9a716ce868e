/* Internal to cspnet_*.c: one CSPLayer (cspnet_layer.c; models.md §2.3, §2.7, §2.8).
 * Reads the weights c->w and the per-forward inputs of c (φ, unit) and b (indices,
 * lat_in, num_atoms); caches layer `layer`'s activations in c. */
#ifndef CB_NN_CSPNET_LAYER_H
#define CB_NN_CSPNET_LAYER_H

#include "cspnet.h"

/* h_out = h_in + CSPLayer(h_in), h_in and h_out [n_nodes × H] (distinct). */
void cb_cspnet_layer_forward(cb_cspnet_cache *c, const cb_cspnet_batch *b, int layer,
                             const float *h_in, float *h_out);
/* Backward of the last forward of this layer: dh holds dL/dh_out on entry and dL/dh_in on
 * return (in place; the residual passes dh through, the pre-norm adds LN_backward). Adds
 * the layer's parameter gradients into grad and, when d_lat_in is not NULL, dL/dlat_in.
 * Uses the cache's scratch buffers (s_n*, s_e*, s_b*). */
void cb_cspnet_layer_backward(cb_cspnet_cache *c, const cb_cspnet_batch *b, int layer,
                              const float *h_in, float *dh, float *grad, float *d_lat_in);

#endif
