/* tc_estimate.h — β-TCVAE's minibatch estimators of the aggregate posterior (Chen et al. 2018,
 * §3 and Appendix C): log q(z) and log Π_j q(z_j) at each sample of a minibatch, differentiable,
 * built on the tensor core.
 *
 * q(z) = (1/N) Σ_n q(z|x_n) is a mixture over the N training examples; a minibatch of B
 * examples with one sample z_b ~ q(z|x_b) each estimates it from the B components in the batch.
 * With Q[b,c,j] = log N(z_bj; mu_cj, e^{logvar_cj}) (bh_gauss_log_density_pairwise):
 *   MWS (minibatch weighted sampling)
 *     log q(z_b)        ≈ logsumexp_c Σ_j Q[b,c,j] − ln(N·B)
 *     log Π_j q(z_bj)   ≈ Σ_j [logsumexp_c Q[b,c,j] − ln(N·B)]
 *   MSS (minibatch stratified sampling), with the B×B weights W of bh_mss_log_weights
 *     log q(z_b)        ≈ logsumexp_c (ln W[b,c] + Σ_j Q[b,c,j])
 *     log Π_j q(z_bj)   ≈ Σ_j logsumexp_c (ln W[b,c] + Q[b,c,j])
 * MWS's weights 1/(N·B) sum to 1/N over the batch, not 1 (Chen et al.'s formula, kept as in
 * rtqichen's code): its log q(z) sits about ln N below MSS's and its log Π_j q(z_j) about d·ln N
 * below, which shifts reported MI, TC and dimension-wise KL by constants (+ln N, +(d−1)·ln N,
 * −d·ln N) and leaves every gradient unchanged.
 * disentanglement_lib's total_correlation is MWS without the constants: its TC equals
 * mean_b[log q(z_b) − log Π_j q(z_bj)] (MWS, here) − (d − 1)·ln(N·B).
 */
#ifndef BH_TC_ESTIMATE_H
#define BH_TC_ESTIMATE_H

#include <stddef.h>

#include "core/graph.h"

typedef enum bh_tc_estimator {
  BH_TC_MWS = 0, /* minibatch weighted sampling */
  BH_TC_MSS = 1  /* minibatch stratified sampling */
} bh_tc_estimator;

/* "mws" -> BH_TC_MWS, "mss" -> BH_TC_MSS, anything else -> -1. */
int bh_tc_estimator_from_name(const char *name);
/* The name of an estimator ("mws", "mss"), "?" for another value. */
const char *bh_tc_estimator_name(int estimator);

/* logw [B×B] = ln W, the MSS importance weights of a batch of B ≥ 2 from a dataset of N ≥ B
 * examples (row b: the sample z_b; column c: the component q(z|x_c)); M = B − 1.
 *   compat 0 (intended): W[b,b] = 1/N, W[b,(b+1) mod B] = (N−M)/(N·M), every other entry 1/M;
 *            each row sums to 1 (derivation in tc_estimate.c).
 *   compat 1: the matrix of the public implementations (rtqichen/beta-tcvae vae_quant.py and
 *            YannDubs/disentangling-vae disvae/utils/math.py, log_importance_weight_matrix):
 *            column 0 = 1/N except W[B−2, 0] = (N−M)/(N·M), column 1 = (N−M)/(N·M), every
 *            other entry 1/M.  For parity runs only. */
void bh_mss_log_weights(int B, size_t N, int compat, float *logw);

/* x [b×m×d], logw [b×m] constant or NULL (valid until backward) -> [b×d]:
 * y[i,k] = log Σ_j exp(x[i,j,k] + logw[i,j]), max-shifted.  The reduction over the middle axis
 * that the estimators need (core's bh_logsumexp reduces rows or columns of a 2-D view only).
 * A line of all −inf gives −inf, a line holding +inf gives +inf, both with a zero gradient. */
bh_tensor *bh_tc_logsumexp_mid(bh_ctx *ctx, bh_tensor *x, const float *logw);

/* The estimates at each sample z_b: z [b×d], mu, logvar [m×d] (the B components of the batch;
 * m = b for a minibatch), N the training set size -> *log_qz [b] and *log_qz_prod [b] (either
 * output pointer may be NULL when not wanted).  MSS needs b = m ≥ 2 and N ≥ m; MWS needs N ≥ 1
 * and allows b ≠ m (samples evaluated against a larger batch of components, for chunked
 * evaluation; the constant is then ln(N·m)).  mss_compat selects the public implementations'
 * weight matrix (ignored for MWS).  BH_OK, or an error status with a message. */
int bh_tc_log_qz(bh_ctx *ctx, bh_tensor *z, bh_tensor *mu, bh_tensor *logvar, size_t N,
                 int estimator, int mss_compat, bh_tensor **log_qz, bh_tensor **log_qz_prod);

#endif
