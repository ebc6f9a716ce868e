/* Neural-network layer kernels shared by the trained backends (llm.c style; design:
 * architecture.md "Neural-network code", models.md §2).
 *
 * Every layer is a pair of plain functions on row-major float arrays with explicit
 * shapes: X_forward(out, caches…, in, params…, dims…) and
 * X_backward(d_in, d_params…, d_out, caches/inputs…, dims…). A tensor written
 * [rows × dim] is rows·dim floats, row r at offset r·dim. Index arrays are int and
 * must hold valid row numbers of the tensor they index (not checked).
 *
 * Conventions, uniform across this header:
 *  - Forward functions OVERWRITE their outputs (except the ones named *_add, which
 *    add into them, and say so).
 *  - Backward functions ACCUMULATE (+=) into every gradient they are given, input
 *    gradients and parameter gradients alike, as llm.c does: parameters are shared
 *    across rows and batches, and an input that feeds several consumers (a node state
 *    feeding the edge and the node MLP) sums their gradients for free. The caller
 *    zeroes gradient buffers once per step.
 *  - A NULL gradient pointer means "not needed" and that term is skipped (network
 *    inputs such as φ or t are constants of the loss, models.md §2.8).
 *  - Outputs and gradients never alias inputs unless a function says otherwise.
 *  - Deterministic: every reduction runs in a fixed order on one thread; the only
 *    threads are OpenBLAS's inside cblas_sgemm, which give the same result for the
 *    same thread count, and those of element-wise loops (parallel.h), which give the
 *    same result for any. No atomics.
 *  - rows = 0 (e.g. a batch whose crystals all have one atom, hence no edges) is
 *    valid everywhere and does nothing.
 */
#ifndef CB_NN_LAYERS_H
#define CB_NN_LAYERS_H

#include <stddef.h>

/* ---- Linear (linear.c) --------------------------------------------------------------
 * out[rows × out_dim] = in[rows × in_dim] · Wᵀ + b, with W [out_dim × in_dim] row-major
 * as PyTorch's nn.Linear stores it (so weights compare with a PyTorch state_dict
 * directly) and b [out_dim] or NULL for a bias-free layer. One cblas_sgemm. */
void cb_nn_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                          int rows, int in_dim, int out_dim);
/* d_in += d_out·W ; d_weight += d_outᵀ·in ; d_bias += Σ_rows d_out (sgemm; the bias sum
 * runs over rows in order). Any of d_in, d_weight, d_bias may be NULL. */
void cb_nn_linear_backward(float *d_in, float *d_weight, float *d_bias, const float *d_out,
                           const float *in, const float *weight, int rows, int in_dim, int out_dim);

/* Column block of a wider weight, for the per-node split of the first edge linear
 * (models.md §2.7): W1 = [W1u | W1s | W1d | W1l | W1φ | W1n] stays one PyTorch-layout
 * [out_dim × ldw] matrix and each block is used in place. `weight` points at the
 * block's first column (W1 + column offset), ldw is the full row length (≥ in_dim).
 *   out[rows × out_dim] += in[rows × in_dim] · W_blockᵀ        (no bias; adds into out)
 * Backward: d_in += d_out·W_block ; d_weight block += d_outᵀ·in, where d_weight points
 * at the same column offset of a gradient buffer with the same layout. */
void cb_nn_linear_block_forward_add(float *out, const float *in, const float *weight, int ldw,
                                    int rows, int in_dim, int out_dim);
void cb_nn_linear_block_backward(float *d_in, float *d_weight, const float *d_out, const float *in,
                                 const float *weight, int ldw, int rows, int in_dim, int out_dim);

/* ---- SiLU (activations.c) -----------------------------------------------------------
 * out[i] = x·σ(x), σ(x) = 1/(1+e^{−x}), over n elements. out may equal in (in place),
 * but backward needs the pre-activation, so keep it when a backward pass follows. */
void cb_nn_silu_forward(float *out, const float *in, size_t n);
/* d_in += d_out · σ(x)·(1 + x(1−σ(x))), x = the forward's input. */
void cb_nn_silu_backward(float *d_in, const float *d_out, const float *in, size_t n);
/* ReLU: out[i] = max(x, 0) (CDVAE's heads); out may equal in.  The backward zeroes, in
 * place, the gradient entries whose forward input was ≤ 0 (torch's threshold_backward). */
void cb_nn_relu_forward(float *out, const float *in, size_t n);
void cb_nn_relu_backward_inplace(float *d, const float *in, size_t n);
/* GELU, GPT-2's tanh approximation: y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³).
 * Backward: d_in += d_out·(½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)),
 * x the forward's input.  Element-wise, threaded like SiLU. */
void cb_nn_gelu_forward(float *out, const float *in, size_t n);
void cb_nn_gelu_backward(float *d_in, const float *d_out, const float *in, size_t n);
/* The exponential σ uses: e^x within 2 ulp of expf for x in [−87, 88], clamped outside. */
float cb_nn_expf(float x);

/* ---- Layer norm (layernorm.c) -------------------------------------------------------
 * Over the last dimension, as torch.nn.LayerNorm: μ = mean(x), v = mean((x−μ)²)
 * (biased), r = 1/√(v+eps), out = γ⊙(x−μ)r + β. weight γ and bias β are [dim].
 * Caches mean[rows] and rstd[rows] for the backward pass (which recomputes x̂ from in).
 * Row sums are accumulated in double, in index order. */
#define CB_NN_LAYERNORM_EPS 1e-5f
void cb_nn_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                             const float *weight, const float *bias, int rows, int dim, float eps);
/* dγ += Σ_rows d_out⊙x̂ ; dβ += Σ_rows d_out ;
 * d_in += r·(dx̂ − mean(dx̂) − x̂⊙mean(dx̂⊙x̂)) with dx̂ = d_out⊙γ (models.md §2.8). */
void cb_nn_layernorm_backward(float *d_in, float *d_weight, float *d_bias, const float *d_out,
                              const float *in, const float *weight, const float *mean,
                              const float *rstd, int rows, int dim);

/* ---- Sinusoidal embeddings (embed.c); no parameters ---------------------------------
 * Time (DiffCSP, models.md §2.2): half = dim/2, ω_k = exp(−k·ln(10000)/(half−1)),
 *   out[r] = [ sin(t_r ω_0) … sin(t_r ω_{half−1}) ‖ cos(t_r ω_0) … cos(t_r ω_{half−1}) ]
 * for out [rows × dim], t [rows]; dim even and ≥ 4. Computed in double and rounded
 * (t reaches 1000, where a float argument would lose ~1e-4). FlowMM's time embedding
 * is a bias-free Linear(1, d_t): use cb_nn_linear_* with in_dim = 1. */
void cb_nn_time_embed_forward(float *out, const float *t, int rows, int dim);
/* d_t += Σ_k ω_k (cos(tω_k)·d_sin_k − sin(tω_k)·d_cos_k). Not needed for training
 * (t is an input), provided so the formula is tested. */
void cb_nn_time_embed_backward(float *d_t, const float *d_out, const float *t, int rows, int dim);

/* Fractional differences (CSPNet's SinusoidsEmbedding, models.md §2.2): n_freq
 * frequencies 2πk, k = 0..n_freq−1 (k starts at 0: the first sin of each component is
 * 0 and the first cos 1). For delta [rows × 3] and out [rows × 6·n_freq]:
 *   out[e][c·n_freq + k]            = sin(2πk·Δ_e[c])
 *   out[e][3·n_freq + c·n_freq + k] = cos(2πk·Δ_e[c])
 * kΔ is reduced modulo 1 (into [−½, ½)) exactly in double before the float sin/cos, so
 * Δ and Δ±1 (the mod-1 and log-map conventions) give bit-identical features and large
 * k lose no accuracy. */
void cb_nn_frac_embed_forward(float *out, const float *delta, int rows, int n_freq);
/* d_delta[e][c] += Σ_k 2πk (cos(2πkΔ)·d_sin − sin(2πkΔ)·d_cos). Not needed for
 * training (Δ is an input), provided so the formula is tested. */
void cb_nn_frac_embed_backward(float *d_delta, const float *d_out, const float *delta, int rows,
                               int n_freq);

/* ---- Graph operations (graph.c) -----------------------------------------------------
 * Gather rows: out[r] = src[index[r]] for r < rows, rows of `dim` floats. Covers edge
 * endpoints (index = s(e) or d(e)), per-crystal broadcast to edges or atoms
 * (index = g(e)) and embedding tables (src = table, index = Z−1 or N_b). The _add
 * variant adds into out (p1_e = A_s + Bd_d + C_g + D_e of models.md §2.7). */
void cb_nn_gather_forward(float *out, const float *src, const int *index, int rows, int dim);
void cb_nn_gather_add_forward(float *out, const float *src, const int *index, int rows, int dim);
/* Backward of both: a scatter-add d_src[index[r]] += d_out[r], r in increasing order. */
void cb_nn_gather_backward(float *d_src, const float *d_out, const int *index, int rows, int dim);

/* Scatter-mean (message aggregation, models.md §2.3): for out [n_out × dim] and
 * src [rows × dim], out[i] = (Σ_{r: index[r]=i} src[r]) / count[i], and 0 when no row
 * maps to i (a one-atom crystal without self edges). Writes count[n_out] (the
 * degrees) as the cache for the backward pass. Sums run over r in increasing order,
 * then divide, as torch_scatter's scatter_mean. */
void cb_nn_scatter_mean_forward(float *out, int *count, const float *src, const int *index,
                                int rows, int n_out, int dim);
/* d_src[r] += d_out[index[r]] / count[index[r]]. */
void cb_nn_scatter_mean_backward(float *d_src, const float *d_out, const int *index,
                                 const int *count, int rows, int dim);

/* Pooling of nodes per graph (read-out heads, models.md §2.4). Graph b owns the
 * contiguous node rows [first[b], first[b] + size[b]) of in [N × dim] (the batch
 * layout of models.md §1.6); out is [n_graphs × dim]. Mean pooling of an empty graph
 * gives 0. FlowMM's [mean ‖ sum] pooling is both, then cb_nn_concat_forward. */
void cb_nn_mean_pool_forward(float *out, const float *in, const int *first, const int *size,
                             int n_graphs, int dim);
/* d_in[i] += d_out[b] / size[b] for every node i of graph b. */
void cb_nn_mean_pool_backward(float *d_in, const float *d_out, const int *first, const int *size,
                              int n_graphs, int dim);
void cb_nn_sum_pool_forward(float *out, const float *in, const int *first, const int *size,
                            int n_graphs, int dim);
/* d_in[i] += d_out[b] for every node i of graph b. */
void cb_nn_sum_pool_backward(float *d_in, const float *d_out, const int *first, const int *size,
                             int n_graphs, int dim);

/* Concatenation along features: out[r] = [parts[0][r] ‖ parts[1][r] ‖ …] for out
 * [rows × Σ dims] and parts[p] [rows × dims[p]]. */
void cb_nn_concat_forward(float *out, const float *const *parts, const int *dims, int n_parts,
                          int rows);
/* d_parts[p] += the matching column block of d_out; a NULL d_parts[p] is skipped. */
void cb_nn_concat_backward(float *const *d_parts, const float *d_out, const int *dims, int n_parts,
                           int rows);

#endif
