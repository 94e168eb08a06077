/* ops.h — every differentiable op of the tensor core.
 *
 * Conventions
 * - Each op computes its forward at once into a new arena tensor and, when gradients are on and
 *   an input requires one, records its backward on the tape (graph.h).
 * - A NULL input makes the op return NULL (failure propagates); a shape mismatch sets a
 *   BH_EINVAL message naming the op and both shapes and returns NULL.
 * - "Rows" are examples: a tensor of shape [n, ...] is an n × (size/n) matrix unless said
 *   otherwise.  Axis arguments: BH_AXIS_ALL reduces everything to one element, BH_AXIS_ROWS
 *   reduces over the rows (one value per column, shape [cols]), BH_AXIS_COLS reduces over the
 *   columns (one value per row, shape [rows]).
 * - Integer inputs (labels, permutations) and constant targets are plain arrays that must stay
 *   valid until backward has run; they never take gradients.
 * - Each op's shapes are in a one-line comment: inputs -> output.
 */
#ifndef BH_OPS_H
#define BH_OPS_H

#include <gsl/gsl_rng.h>

#include "core/graph.h"

enum { BH_AXIS_ALL = -1, BH_AXIS_ROWS = 0, BH_AXIS_COLS = 1 };

/* ---------------- ops_matmul.c ---------------- */

/* op(a) [m×k] · op(b) [k×n] -> [m×n]; op = transpose when trans_* is set; a, b 2-D */
bh_tensor *bh_matmul(bh_ctx *ctx, bh_tensor *a, bh_tensor *b, int trans_a, int trans_b);
/* x [n×in] (any rank, rows = shape[0]), w [out×in], b [out] or NULL -> [n×out]; y = x wᵀ + b */
bh_tensor *bh_linear(bh_ctx *ctx, bh_tensor *x, bh_tensor *w, bh_tensor *b);
/* x [n×f], b [f] -> [n×f]; or x [n×c×h×w], b [c] -> same (per channel) */
bh_tensor *bh_bias_add(bh_ctx *ctx, bh_tensor *x, bh_tensor *b);

/* ---------------- ops_unary.c: elementwise, any shape -> same shape ---------------- */

bh_tensor *bh_relu(bh_ctx *ctx, bh_tensor *x);
bh_tensor *bh_leaky_relu(bh_ctx *ctx, bh_tensor *x, float slope);
bh_tensor *bh_tanh(bh_ctx *ctx, bh_tensor *x);
bh_tensor *bh_sigmoid(bh_ctx *ctx, bh_tensor *x);
bh_tensor *bh_exp(bh_ctx *ctx, bh_tensor *x);
bh_tensor *bh_log(bh_ctx *ctx, bh_tensor *x); /* x > 0; log of x <= 0 gives -inf/NaN */
bh_tensor *bh_softplus(bh_ctx *ctx, bh_tensor *x); /* log(1 + e^x), stable for large |x| */
bh_tensor *bh_scale(bh_ctx *ctx, bh_tensor *x, float s); /* s·x */
bh_tensor *bh_add_scalar(bh_ctx *ctx, bh_tensor *x, float c); /* x + c */
bh_tensor *bh_square(bh_ctx *ctx, bh_tensor *x);              /* x² */
/* Identity forward, no gradient flows back (a tensor sharing x's data, not on the tape). */
bh_tensor *bh_detach(bh_ctx *ctx, bh_tensor *x);

/* ---------------- ops_binary.c: elementwise with broadcasting of b ----------------
 * a any shape [n×f] (2-D view); b is one of: the same shape; one element (scalar); a row
 * [f] or [1×f] broadcast over the rows; a column [n×1] broadcast over the columns.
 * Output has a's shape; b's gradient is reduced back to b's shape. */
bh_tensor *bh_add(bh_ctx *ctx, bh_tensor *a, bh_tensor *b);
bh_tensor *bh_sub(bh_ctx *ctx, bh_tensor *a, bh_tensor *b);
bh_tensor *bh_mul(bh_ctx *ctx, bh_tensor *a, bh_tensor *b);

/* ---------------- ops_reduce.c ---------------- */

/* x [n×f] -> [1] (ALL), [f] (ROWS), [n] (COLS) */
bh_tensor *bh_sum(bh_ctx *ctx, bh_tensor *x, int axis);
bh_tensor *bh_mean(bh_ctx *ctx, bh_tensor *x, int axis);
/* log Σ exp along the axis, stable (max-shifted); shapes as bh_sum */
bh_tensor *bh_logsumexp(bh_ctx *ctx, bh_tensor *x, int axis);
/* x [n×c] -> [n×c], along each row */
bh_tensor *bh_softmax(bh_ctx *ctx, bh_tensor *x);
bh_tensor *bh_log_softmax(bh_ctx *ctx, bh_tensor *x);
/* x [n×c] logits -> [n]: H(softmax(x_i)) = -Σ_c p_c log p_c, in nats */
bh_tensor *bh_softmax_entropy(bh_ctx *ctx, bh_tensor *x);

/* ---------------- ops_shape.c ---------------- */

/* xs[k] [n×f_k] -> [n×Σf_k], along the feature axis (columns of the 2-D view) */
bh_tensor *bh_concat(bh_ctx *ctx, bh_tensor *const *xs, int k);
/* x [n×f] -> [n×len], columns start..start+len-1 */
bh_tensor *bh_slice(bh_ctx *ctx, bh_tensor *x, int start, int len);
/* x [n×f], idx [m] in 0..n-1 -> [m×f]; out[i] = x[idx[i]] (a whole-batch permutation when m = n) */
bh_tensor *bh_gather_rows(bh_ctx *ctx, bh_tensor *x, const int *idx, int m);
/* x [n×f] -> [n×f]: column block b (widths[b] columns, Σ widths = f) takes its rows through its
 * own index array idx[b·n .. b·n+n-1]: out[i, block b] = x[idx[b·n+i], block b].  All widths 1
 * is FactorVAE's independent permutation per dimension; widths k keeps each block's units
 * together (BHiVAE). */
bh_tensor *bh_gather_rows_per_block(bh_ctx *ctx, bh_tensor *x, int nblocks, const int *widths,
                                    const int *idx);

/* ---------------- ops_loss.c ---------------- */

/* logits [n×f], target [n×f] (constant floats in [0,1]) -> [n]:
 * Σ_j max(l,0) - l·t + log(1 + e^{-|l|}), the Bernoulli negative log-likelihood per example */
bh_tensor *bh_bce_logits(bh_ctx *ctx, bh_tensor *logits, const float *target);
/* logits [n×c], labels [n] in 0..c-1 -> [n]: -log softmax(logits_i)[labels_i] */
bh_tensor *bh_cross_entropy(bh_ctx *ctx, bh_tensor *logits, const int *labels);
/* mu, logvar [n×d] -> [n]: KL(N(mu, diag e^logvar) || N(0, I)) = ½Σ(mu² + e^lv − lv − 1) */
bh_tensor *bh_kl_normal_std(bh_ctx *ctx, bh_tensor *mu, bh_tensor *logvar);

/* A block-diagonal covariance Σ over d dimensions (blocks of given sizes, each a dense SPD
 * matrix), with its inverse, log-determinant and Cholesky factor precomputed (GSL). */
typedef struct bh_blockdiag {
  int dim, nblocks;
  int *start, *size; /* block b covers dims start[b] .. start[b]+size[b]-1 */
  double *cov;       /* blocks' covariances, row-major, concatenated */
  double *inv;       /* blocks' inverses, same layout */
  double *chol;      /* blocks' lower Cholesky factors, same layout */
  double logdet;     /* log |Σ| */
} bh_blockdiag;
/* Blocks of size k (the last one smaller when k does not divide d) with 1 on the diagonal and
 * rho off it; NULL with an error when not positive definite. */
bh_blockdiag *bh_blockdiag_alloc_uniform(int d, int k, double rho);
/* Blocks of the given sizes with the given dense covariances (row-major, concatenated). */
bh_blockdiag *bh_blockdiag_alloc(int nblocks, const int *sizes, const double *cov);
void bh_blockdiag_free(bh_blockdiag *s);
/* Draw n samples of N(0, Σ) into out [n×d] (row-major): L ε per block, ε ~ N(0, I) from r. */
void bh_blockdiag_sample(const bh_blockdiag *s, gsl_rng *r, int n, float *out);

/* mu, logvar [n×d] -> [n]: KL(N(mu, diag e^lv) || N(0, Σ))
 * = ½[tr(Σ⁻¹ diag e^lv) + muᵀ Σ⁻¹ mu − d + log|Σ| − Σ lv] */
bh_tensor *bh_kl_normal_blockdiag(bh_ctx *ctx, bh_tensor *mu, bh_tensor *logvar,
                                  const bh_blockdiag *sigma);
/* z [b×d], mu [m×d], logvar [m×d] -> [b×m×d]:
 * out[i,j,k] = log N(z_ik; mu_jk, e^{lv_jk}) = −½(log 2π + lv_jk + (z_ik − mu_jk)² e^{−lv_jk}),
 * the pairwise density tensor of β-TCVAE's estimators of log q(z). */
bh_tensor *bh_gauss_log_density_pairwise(bh_ctx *ctx, bh_tensor *z, bh_tensor *mu,
                                         bh_tensor *logvar);
/* mu, logvar [n×d], eps [n×d] constant -> [n×d]: mu + e^{lv/2}·eps */
bh_tensor *bh_reparam_eps(bh_ctx *ctx, bh_tensor *mu, bh_tensor *logvar, const float *eps);
/* The same with ε ~ N(0, I) drawn from r (the "noise" stream) into the arena. */
bh_tensor *bh_reparam(bh_ctx *ctx, bh_tensor *mu, bh_tensor *logvar, gsl_rng *r);

/* ---------------- ops_conv.c (im2col + sgemm) ---------------- */

/* x [n×c×h×w], w [o×c×kh×kw], b [o] or NULL -> [n×o×ho×wo],
 * ho = (h + 2·pad − kh)/stride + 1 (likewise wo); zero padding */
bh_tensor *bh_conv2d(bh_ctx *ctx, bh_tensor *x, bh_tensor *w, bh_tensor *b, int stride, int pad);
/* x [n×c×h×w], w [c×o×kh×kw] (PyTorch layout), b [o] or NULL -> [n×o×ho×wo],
 * ho = (h − 1)·stride − 2·pad + kh + out_pad (likewise wo); the adjoint of conv2d */
bh_tensor *bh_conv_transpose2d(bh_ctx *ctx, bh_tensor *x, bh_tensor *w, bh_tensor *b,
                               int stride, int pad, int out_pad);

/* ---------------- ops_grid.c (spatial transformer, Guided-VAE) ---------------- */

/* theta [n×2×3] -> grid [n×h×w×2] of (x, y) source coordinates in [-1, 1] (PyTorch
 * affine_grid; align_corners as in PyTorch) */
bh_tensor *bh_affine_grid(bh_ctx *ctx, bh_tensor *theta, int h, int w, int align_corners);
/* img [n×c×hi×wi], grid [n×ho×wo×2] -> [n×c×ho×wo]: bilinear sampling, zero padding outside
 * (PyTorch grid_sample, mode bilinear, padding zeros); gradients to img and grid */
bh_tensor *bh_grid_sample(bh_ctx *ctx, bh_tensor *img, bh_tensor *grid, int align_corners);

#endif
