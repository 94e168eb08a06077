/* tc_estimate.c — β-TCVAE's minibatch estimators of log q(z) and log Π_j q(z_j) (MWS, MSS), the
 * MSS weight matrix (intended and the public implementations'), and the logsumexp over the
 * middle axis of a 3-D tensor that both estimators reduce with.  See tc_estimate.h.
 */
#include "baselines/tc_estimate.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/fastmath.h"
#include "core/ops.h"

int bh_tc_estimator_from_name(const char *name) {
  if (!name) return -1;
  if (strcmp(name, "mws") == 0) return BH_TC_MWS;
  if (strcmp(name, "mss") == 0) return BH_TC_MSS;
  return -1;
}

const char *bh_tc_estimator_name(int estimator) {
  return estimator == BH_TC_MWS ? "mws" : estimator == BH_TC_MSS ? "mss" : "?";
}

/* ---- the MSS weight matrix ----
 *
 * Why the intended rows sum to 1.  q(z_b) = (1/N) Σ_n q(z_b|x_n) is a mixture whose weights sum
 * to 1; an estimate of it from weighted components must keep that sum, or a z whose components
 * all have the same density q would be estimated as q·Σ_c W[b,c] ≠ q.  Sample z_b was drawn
 * from its own component x_b, which is in the mixture with its exact weight 1/N: W[b,b] = 1/N.
 * The other N − 1 examples carry (N − 1)/N together and are represented by the M = B − 1 other
 * members of the batch: M − 1 of them at 1/M each and one (stratum member W[b, b+1], wrapping to
 * column 0 on the last row) at the remainder (N − M)/(N·M), since
 *     (M − 1)/M + (N − M)/(N·M) = (N·M − M)/(N·M) = (N − 1)/N,
 * and the row sums to 1/N + (N − 1)/N = 1.  These are the three constants of Chen et al.'s code;
 * this is their only placement with the sample's own component on the diagonal and unit rows.
 *
 * What the public code builds (checked against the source of rtqichen/beta-tcvae vae_quant.py
 * _log_importance_weight_matrix and YannDubs/disentangling-vae disvae/utils/math.py
 * log_importance_weight_matrix, which are the same lines):
 *     W = fill(B, B, 1/M); W.view(-1)[::M+1] = 1/N; W.view(-1)[1::M+1] = strat; W[M-1, 0] = strat
 * With M + 1 = B, the flat stride B lands on (k, 0) for k = 0..B−1 — it walks down column 0,
 * not the diagonal (that would need stride B + 1) — and the offset-1 slice walks down column 1.
 * Result: column 0 = 1/N, column 1 = strat, then W[B−2, 0] = strat, every other entry 1/M.  Rows
 * other than B−2 still sum to 1 (1/N + strat + (M−1)/M), row B−2 to 1 + strat − 1/N; but the
 * sample's own component x_b has weight 1/N only in row 0 (row 1 gives it strat, the others
 * 1/M), so the estimator does not single out the component z_b came from.  (Even read as the
 * diagonal, W[M−1, 0] would wrap the wrong row: the last row is M.) */

void bh_mss_log_weights(int B, size_t N, int compat, float *logw) {
  if (B < 2) return; /* no stratum without another batch member (callers check, see header) */
  const double n = (double)N, m = (double)(B - 1);
  const double own = log(1.0 / n), strat = log((n - m) / (n * m)), other = log(1.0 / m);
  const size_t bb = (size_t)B;
  for (size_t k = 0; k < bb * bb; k++) logw[k] = (float)other;
  if (!compat) {
    for (size_t b = 0; b < bb; b++) {
      logw[b * bb + b] = (float)own;
      logw[b * bb + (b + 1) % bb] = (float)strat;
    }
    return;
  }
  /* the public code's flat-index writes, literally: stride M + 1 = B from offsets 0 and 1 */
  for (size_t k = 0; k < bb * bb; k += bb) logw[k] = (float)own;
  for (size_t k = 1; k < bb * bb; k += bb) logw[k] = (float)strat;
  logw[(bb - 2) * bb + 0] = (float)strat; /* W[M-1, 0] */
}

/* ---- logsumexp over the middle axis: x [b×m×d], logw [b×m] or NULL -> [b×d] ----
 * Forward keeps, per output (i, k), the max mx of x[i,·,k] + logw[i,·] and ls = log Σ e^{· − mx}
 * (summed in double); backward forms the softmax weights as e^{(x + w − mx) − ls}, exact where
 * e^{x + w − y} would inherit the rounding of y. */

typedef struct lse_mid_saved {
  const float *logw; /* the caller's weights, or NULL */
  float *mx, *ls;    /* [b×d] each */
} lse_mid_saved;

static int is_finite(float v) { return fabsf(v) < INFINITY; }

static void lse_mid_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0];
  const lse_mid_saved *s = nd->saved;
  const size_t b = (size_t)x->shape[0], m = (size_t)x->shape[1], d = (size_t)x->shape[2];
  const float *g = nd->out->grad;
  float *dx = bh_grad_acc(x);
  for (size_t i = 0; i < b; i++) {
    const float *mx = s->mx + i * d, *ls = s->ls + i * d, *gi = g + i * d;
    for (size_t j = 0; j < m; j++) {
      const float w = s->logw ? s->logw[i * m + j] : 0.0f;
      const float *xr = x->data + (i * m + j) * d;
      float *dr = dx + (i * m + j) * d;
      for (size_t k = 0; k < d; k++)
        dr[k] += bh_fm_select(is_finite(mx[k]), gi[k] * bh_fast_expf((xr[k] + w - mx[k]) - ls[k]),
                              0.0f);
    }
  }
}

/* Row helpers with restrict pointers, so the loops over k vectorise; exponentials go through a
 * float scratch row e before the double accumulation (a fused float→double sum does not). */
static inline void row_max(size_t d, const float *restrict xr, float w, float *restrict mx) {
  for (size_t k = 0; k < d; k++) mx[k] = xr[k] + w > mx[k] ? xr[k] + w : mx[k];
}

static inline void row_sum_exp(size_t d, const float *restrict xr, float w,
                               const float *restrict mx, float *restrict e,
                               double *restrict acc) {
  for (size_t k = 0; k < d; k++) e[k] = bh_fast_expf((xr[k] + w) - mx[k]);
  for (size_t k = 0; k < d; k++) acc[k] += (double)e[k];
}

/* d = 1 (the joint estimate): the line runs along j, contiguous; e is m floats of scratch. */
static void lse_mid_line(const float *restrict xi, const float *restrict wi, size_t m,
                         float *restrict e, float *mx, float *ls, float *y) {
  float top = -INFINITY;
  if (wi) {
    for (size_t j = 0; j < m; j++) e[j] = xi[j] + wi[j];
    xi = e;
  }
  for (size_t j = 0; j < m; j++) top = xi[j] > top ? xi[j] : top;
  for (size_t j = 0; j < m; j++) e[j] = bh_fast_expf(xi[j] - top);
  *mx = top;
  *ls = is_finite(top) ? (float)log(bh_fast_sum_f64(e, m)) : 0.0f;
  *y = top + *ls;
}

/* One output row i: mx, ls, y [d]; e (max(m, d) floats) and acc (d doubles) are scratch. */
static void lse_mid_row(const float *xi, const float *wi, size_t m, size_t d, float *mx,
                        float *ls, float *y, float *e, double *acc) {
  if (d == 1) {
    lse_mid_line(xi, wi, m, e, mx, ls, y);
    return;
  }
  for (size_t k = 0; k < d; k++) mx[k] = -INFINITY, acc[k] = 0.0;
  for (size_t j = 0; j < m; j++) row_max(d, xi + j * d, wi ? wi[j] : 0.0f, mx);
  for (size_t j = 0; j < m; j++) row_sum_exp(d, xi + j * d, wi ? wi[j] : 0.0f, mx, e, acc);
  for (size_t k = 0; k < d; k++) {
    ls[k] = is_finite(mx[k]) ? (float)log(acc[k]) : 0.0f;
    y[k] = mx[k] + ls[k];
  }
}

bh_tensor *bh_tc_logsumexp_mid(bh_ctx *ctx, bh_tensor *x, const float *logw) {
  if (!x) return NULL;
  if (x->ndim != 3) {
    char s[64];
    bh_error(BH_EINVAL, "tc_logsumexp_mid: x must be 3-D [b x m x d], it is %s",
             bh_tensor_shape_str(x, s, sizeof s));
    return NULL;
  }
  const size_t b = (size_t)x->shape[0], m = (size_t)x->shape[1], d = (size_t)x->shape[2];
  bh_tensor *y = bh_tensor_new2(ctx, x->shape[0], x->shape[2]);
  const size_t bd = b * d > 0 ? b * d : 1;
  float *mx = bh_ctx_push(ctx, 2 * bd * sizeof(float));
  double *acc = bh_ctx_push(ctx, (d ? d : 1) * sizeof(double));
  float *e = bh_ctx_push(ctx, (m > d ? m : d > 0 ? d : 1) * sizeof(float));
  if (!y || !mx || !acc || !e) return NULL;
  float *ls = mx + b * d;
  for (size_t i = 0; i < b; i++)
    lse_mid_row(x->data + i * m * d, logw ? logw + i * m : NULL, m, d, mx + i * d, ls + i * d,
                y->data + i * d, e, acc);
  if (bh_ctx_wants_grad(ctx, 1, &x)) {
    lse_mid_saved *s = bh_ctx_push(ctx, sizeof *s);
    if (!s) return NULL;
    s->logw = logw, s->mx = mx, s->ls = ls;
    bh_node *nd = bh_ctx_record(ctx, "tc_logsumexp_mid", lse_mid_backward, y, 1, &x);
    if (!nd) return NULL;
    nd->saved = s;
  }
  return y;
}

/* ---- the estimators ---- */

static int check_args(const bh_tensor *z, const bh_tensor *mu, const bh_tensor *logvar, size_t N,
                      int estimator) {
  if (!z || !mu || !logvar)
    return bh_error_code() != BH_OK ? bh_error_code()
                                    : bh_error(BH_EINVAL, "tc_log_qz: an input is NULL");
  if (estimator != BH_TC_MWS && estimator != BH_TC_MSS)
    return bh_error(BH_EINVAL, "tc_log_qz: unknown estimator %d (BH_TC_MWS or BH_TC_MSS)",
                    estimator);
  if (z->ndim != 2 || mu->ndim != 2 || !bh_tensor_same_shape(mu, logvar) ||
      z->shape[1] != mu->shape[1] || z->shape[0] < 1 || mu->shape[0] < 1) {
    char a[64], b[64], c[64];
    return bh_error(BH_EINVAL,
                    "tc_log_qz: want z [b x d], mu and logvar [m x d]; got z %s, mu %s, logvar %s",
                    bh_tensor_shape_str(z, a, sizeof a), bh_tensor_shape_str(mu, b, sizeof b),
                    bh_tensor_shape_str(logvar, c, sizeof c));
  }
  const int m = mu->shape[0];
  if (N < 1) return bh_error(BH_EINVAL, "tc_log_qz: the dataset size N must be at least 1");
  if (estimator == BH_TC_MSS) {
    if (z->shape[0] != m)
      return bh_error(BH_EINVAL, "tc_log_qz: MSS needs one sample per component (%d samples, %d "
                                 "components)", z->shape[0], m);
    if (m < 2) return bh_error(BH_EINVAL, "tc_log_qz: MSS needs a batch of at least 2, got %d", m);
    if (N < (size_t)m)
      return bh_error(BH_EINVAL, "tc_log_qz: MSS needs the dataset size N = %zu to be at least "
                                 "the batch size %d", N, m);
  }
  return BH_OK;
}

int bh_tc_log_qz(bh_ctx *ctx, bh_tensor *z, bh_tensor *mu, bh_tensor *logvar, size_t N,
                 int estimator, int mss_compat, bh_tensor **log_qz, bh_tensor **log_qz_prod) {
  if (log_qz) *log_qz = NULL;
  if (log_qz_prod) *log_qz_prod = NULL;
  int st = check_args(z, mu, logvar, N, estimator);
  if (st != BH_OK) return st;
  const int b = z->shape[0], m = mu->shape[0], d = z->shape[1];
  float *logw = NULL;
  if (estimator == BH_TC_MSS) {
    logw = bh_ctx_push(ctx, (size_t)m * m * sizeof(float)); /* read again by backward */
    if (!logw) return bh_error_code();
    bh_mss_log_weights(m, N, mss_compat, logw);
  }
  /* MWS weights every component 1/(N·m): the constant leaves the logsumexps */
  const double log_nm = log((double)N * (double)m);

  bh_tensor *q = bh_gauss_log_density_pairwise(ctx, z, mu, logvar); /* [b×m×d] */
  if (!q) return bh_error_code();
  if (log_qz) {
    int flat[2] = {b * m, d}, cube[3] = {b, m, 1}, vec[1] = {b};
    bh_tensor *joint = bh_sum(ctx, bh_reshape(ctx, q, 2, flat), BH_AXIS_COLS); /* [b·m] */
    bh_tensor *t = bh_tc_logsumexp_mid(ctx, bh_reshape(ctx, joint, 3, cube), logw); /* [b×1] */
    t = bh_reshape(ctx, t, 1, vec);
    if (estimator == BH_TC_MWS) t = bh_add_scalar(ctx, t, (float)-log_nm);
    if (!t) return bh_error_code();
    *log_qz = t;
  }
  if (log_qz_prod) {
    bh_tensor *t = bh_sum(ctx, bh_tc_logsumexp_mid(ctx, q, logw), BH_AXIS_COLS); /* [b] */
    if (estimator == BH_TC_MWS) t = bh_add_scalar(ctx, t, (float)(-(double)d * log_nm));
    if (!t) return bh_error_code();
    *log_qz_prod = t;
  }
  return BH_OK;
}
