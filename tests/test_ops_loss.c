/* test_ops_loss.c — BCE with logits, cross-entropy, the two KL terms, block-diagonal covariances
 * (factoring, rejection, sampling), pairwise Gaussian log-densities and the reparameterisation:
 * values against independent computations, gradients, rejected arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"
#include "tests/gradcheck.h"

/* Smooth nonlinear ops with inputs in [-2, 2] (third derivatives of order e² ≈ 10 at worst):
 * eps 1e-2 gives truncation error ≈ eps²·f'''/6 ≈ 2e-4; the float rounding of the few outputs
 * that move is ≈ 1e-7·|f|/eps ≈ 1e-4.  atol 2e-3 and rtol 5e-3 sit ten times above both, far
 * below the O(1) error of a wrong formula or a missing factor ½. */
static const gc_opts TOL = {1e-2, 2e-3, 5e-3, 0};

static bh_tensor *alloc_uniform(int rows, int cols, int grad, unsigned long seed, float lo,
                                float hi) {
  bh_tensor *t = bh_tensor_alloc2(rows, cols, grad);
  gc_fill_uniform(t, seed, lo, hi);
  return t;
}

/* |a − b| ≤ tol in double (cmocka's assert_float_equal compares in float); fails on NaN too. */
#define assert_near(a, b, tol)                                                                 \
  do {                                                                                         \
    double a_ = (a), b_ = (b), t_ = (tol);                                                     \
    if (!(fabs(a_ - b_) <= t_)) fail_msg("%s = %.10g, want %.10g (tolerance %.3g)", #a, a_, b_, t_); \
  } while (0)

static int has_message(const char *part) { return strstr(bh_error_message(), part) != NULL; }

/* ---- bce_logits ---- */

/* The Bernoulli NLL written plainly in double: −t log σ(l) − (1−t) log(1−σ(l)), with the log of
 * the sigmoid taken in whichever form does not overflow. */
static double bce_ref(double l, double t) {
  double log_sig = l >= 0 ? -log1p(exp(-l)) : l - log1p(exp(l));  /* log σ(l) */
  double log_1msig = l >= 0 ? -l - log1p(exp(-l)) : -log1p(exp(l)); /* log(1 − σ(l)) */
  return -t * log_sig - (1.0 - t) * log_1msig;
}

static void test_bce_values_and_extremes(void **state) {
  (void)state;
  /* 3 rows × 13 columns: a row tail that is not a multiple of the 8 summing lanes */
  const int n = 3, f = 13;
  bh_tensor *l = alloc_uniform(n, f, 1, 61, -6, 6);
  float t[39];
  const float extremes[8] = {50, -50, 30, -30, 88, -88, 0, 1e-3f};
  for (int j = 0; j < 8; j++) l->data[j] = extremes[j]; /* row 0 carries the extremes */
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 62);
  for (int k = 0; k < n * f; k++) t[k] = k % 3 == 0 ? (float)gsl_rng_uniform(r) : (float)(k % 2);
  gsl_rng_free(r);
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *y = bh_bce_logits(ctx, l, t);
  assert_non_null(y);
  assert_int_equal(y->ndim, 1);
  assert_int_equal(y->shape[0], n);
  for (int i = 0; i < n; i++) {
    double want = 0.0;
    for (int j = 0; j < f; j++) want += bce_ref(l->data[i * f + j], t[i * f + j]);
    assert_true(isfinite(y->data[i]));
    /* float terms summed over 13 columns: a relative 1e-5 is ~100 ulps */
    assert_near(y->data[i], want, 1e-5 * fabs(want) + 1e-6);
  }
  /* the gradient σ(l) − t, finite and exact at ±50 and ±88 where e^{|l|} would overflow */
  float ones[3] = {1, 1, 1};
  bh_tensor_zero_grad(l);
  assert_int_equal(bh_backward_seed(ctx, y, ones), BH_OK);
  for (int k = 0; k < n * f; k++) {
    double lk = l->data[k], sig = lk >= 0 ? 1.0 / (1.0 + exp(-lk)) : exp(lk) / (1.0 + exp(lk));
    assert_true(isfinite(l->grad[k]));
    assert_near(l->grad[k], sig - t[k], 1e-6);
  }
  bh_ctx_free(ctx);
  bh_tensor_free(l);
}

static void test_bce_wide_rows(void **state) {
  (void)state;
  /* the training shape's width (4096 columns, 2 rows here): the lane-split sum stays accurate */
  const int n = 2, f = 4096;
  bh_tensor *l = alloc_uniform(n, f, 0, 63, -8, 8);
  float *t = malloc(sizeof(float) * n * f);
  for (int k = 0; k < n * f; k++) t[k] = (float)((k * 7919) % 101) / 100.0f;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *y = bh_bce_logits(ctx, l, t);
  assert_non_null(y);
  for (int i = 0; i < n; i++) {
    double want = 0.0;
    for (int j = 0; j < f; j++) want += bce_ref(l->data[i * f + j], t[i * f + j]);
    assert_near(y->data[i], want, 2e-5 * fabs(want));
  }
  bh_ctx_free(ctx);
  free(t);
  bh_tensor_free(l);
}

static bh_tensor *build_bce(bh_ctx *ctx, bh_tensor **in, void *user) {
  return bh_bce_logits(ctx, in[0], user);
}

/* Two consumers of the same logits: the second backward adds into a gradient already written. */
static bh_tensor *build_bce_twice(bh_ctx *ctx, bh_tensor **in, void *user) {
  bh_tensor *two[2] = {bh_bce_logits(ctx, in[0], user),
                       bh_bce_logits(ctx, in[0], (const float *)user + in[0]->size)};
  return bh_concat(ctx, two, 2);
}

static void test_bce_grad(void **state) {
  (void)state;
  bh_tensor *l = alloc_uniform(4, 11, 1, 64, -4, 4);
  float t[176]; /* two targets: build_bce_twice reads both halves */
  for (int k = 0; k < 176; k++) t[k] = (float)((k * 37) % 11) / 10.0f;
  assert_int_equal(gc_check("bce_logits", build_bce, &l, 1, t, TOL), 0);
  assert_int_equal(gc_check("bce_logits twice", build_bce_twice, &l, 1, t, TOL), 0);
  bh_tensor_free(l);
}

static void test_rejects_and_null_inputs(void **state) {
  (void)state;
  bh_tensor *l = bh_tensor_alloc2(2, 3, 0);
  bh_ctx *ctx = bh_ctx_alloc(0);
  assert_null(bh_bce_logits(ctx, l, NULL));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_true(has_message("bce_logits"));
  /* a NULL input (an upstream failure) propagates as NULL without a new message */
  float t[6] = {0};
  const int labels[2] = {0, 0};
  bh_blockdiag *s = bh_blockdiag_alloc_uniform(3, 3, 0.0);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  bh_error_clear();
  assert_null(bh_bce_logits(ctx, NULL, t));
  assert_null(bh_cross_entropy(ctx, NULL, labels));
  assert_null(bh_kl_normal_std(ctx, l, NULL));
  assert_null(bh_kl_normal_blockdiag(ctx, NULL, l, s));
  assert_null(bh_gauss_log_density_pairwise(ctx, l, NULL, l));
  assert_null(bh_reparam_eps(ctx, NULL, l, t));
  assert_null(bh_reparam(ctx, l, NULL, r));
  assert_int_equal(bh_error_code(), BH_OK);
  gsl_rng_free(r);
  bh_blockdiag_free(s);
  bh_ctx_free(ctx);
  bh_tensor_free(l);
}

/* ---- cross_entropy ---- */

static void test_cross_entropy_values(void **state) {
  (void)state;
  /* row 0: logits (1, 2, 3), label 2 → log(1 + e^-1 + e^-2) = 0.407605964...
   * row 1: the same logits shifted by 1000 (max-shift stability), label 0 → 2.407605964...
   * row 2: (0, 0, 0), label 1 → log 3 = 1.098612289 */
  bh_tensor *l = bh_tensor_alloc2(3, 3, 0);
  const float v[9] = {1, 2, 3, 1001, 1002, 1003, 0, 0, 0};
  memcpy(l->data, v, sizeof v);
  const int labels[3] = {2, 0, 1};
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *y = bh_cross_entropy(ctx, l, labels);
  assert_non_null(y);
  assert_int_equal(y->shape[0], 3);
  assert_near(y->data[0], 0.40760596, 1e-6);
  assert_near(y->data[1], 2.40760596, 1e-4); /* ulp(1003) ≈ 6e-5 */
  assert_near(y->data[2], 1.09861229, 1e-6);
  bh_ctx_free(ctx);
  bh_tensor_free(l);
}

static bh_tensor *build_ce(bh_ctx *ctx, bh_tensor **in, void *user) {
  return bh_cross_entropy(ctx, in[0], user);
}

static void test_cross_entropy_grad_and_rejects(void **state) {
  (void)state;
  bh_tensor *l = alloc_uniform(5, 4, 1, 71, -2, 2);
  const int labels[5] = {0, 3, 3, 1, 2};
  assert_int_equal(gc_check("cross_entropy", build_ce, &l, 1, (void *)labels, TOL), 0);
  bh_ctx *ctx = bh_ctx_alloc(0);
  const int high[5] = {0, 1, 4, 1, 2}, neg[5] = {0, 1, 2, -1, 0};
  assert_null(bh_cross_entropy(ctx, l, high));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_true(has_message("cross_entropy"));
  assert_true(has_message("labels[2] = 4"));
  assert_null(bh_cross_entropy(ctx, l, neg));
  assert_true(has_message("labels[3] = -1"));
  assert_null(bh_cross_entropy(ctx, l, NULL));
  assert_true(has_message("cross_entropy"));
  bh_ctx_free(ctx);
  bh_tensor_free(l);
}

/* ---- kl_normal_std ---- */

static void test_kl_std_values(void **state) {
  (void)state;
  /* mu (1, 0), lv (0, ln 2): ½[(1 + 1 − 0 − 1) + (0 + 2 − ln 2 − 1)] = 1 − ln(2)/2 = 0.6534264;
   * a second row at the prior (0, 0) gives exactly 0 */
  bh_tensor *mu = bh_tensor_alloc2(2, 2, 0), *lv = bh_tensor_alloc2(2, 2, 0);
  mu->data[0] = 1, lv->data[1] = (float)log(2.0);
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *y = bh_kl_normal_std(ctx, mu, lv);
  assert_non_null(y);
  assert_near(y->data[0], 0.65342641, 1e-6);
  assert_near(y->data[1], 0.0, 0);
  bh_tensor *bad = bh_tensor_alloc2(2, 3, 0);
  assert_null(bh_kl_normal_std(ctx, mu, bad));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_true(has_message("kl_normal_std"));
  assert_true(has_message("[2 x 3]"));
  bh_ctx_free(ctx);
  bh_tensor_free(mu);
  bh_tensor_free(lv);
  bh_tensor_free(bad);
}

static bh_tensor *build_kl_std(bh_ctx *ctx, bh_tensor **in, void *user) {
  (void)user;
  return bh_kl_normal_std(ctx, in[0], in[1]);
}

static void test_kl_std_grad(void **state) {
  (void)state;
  bh_tensor *mu = alloc_uniform(4, 5, 1, 81, -2, 2), *lv = alloc_uniform(4, 5, 1, 82, -2, 2);
  bh_tensor *in[2] = {mu, lv};
  assert_int_equal(gc_check("kl_normal_std", build_kl_std, in, 2, NULL, TOL), 0);
  /* only logvar requires a gradient */
  bh_tensor *mu0 = alloc_uniform(4, 5, 0, 81, -2, 2);
  bh_tensor *in0[2] = {mu0, lv};
  assert_int_equal(gc_check("kl_normal_std lv only", build_kl_std, in0, 2, NULL, TOL), 0);
  bh_tensor_free(mu);
  bh_tensor_free(mu0);
  bh_tensor_free(lv);
}

/* ---- block-diagonal covariance ---- */

/* Dense Gauss–Jordan inverse with partial pivoting, in double; returns det(a).  a is d×d. */
static double dense_inverse(int d, const double *a, double *inv) {
  double *w = malloc(sizeof(double) * d * d);
  memcpy(w, a, sizeof(double) * d * d);
  for (int i = 0; i < d * d; i++) inv[i] = i / d == i % d;
  double det = 1.0;
  for (int c = 0; c < d; c++) {
    int p = c;
    for (int r = c + 1; r < d; r++)
      if (fabs(w[r * d + c]) > fabs(w[p * d + c])) p = r;
    if (p != c) {
      for (int k = 0; k < d; k++) {
        double s = w[c * d + k];
        w[c * d + k] = w[p * d + k], w[p * d + k] = s;
        s = inv[c * d + k];
        inv[c * d + k] = inv[p * d + k], inv[p * d + k] = s;
      }
      det = -det;
    }
    double piv = w[c * d + c];
    det *= piv;
    for (int k = 0; k < d; k++) w[c * d + k] /= piv, inv[c * d + k] /= piv;
    for (int r = 0; r < d; r++) {
      if (r == c) continue;
      double m = w[r * d + c];
      for (int k = 0; k < d; k++) w[r * d + k] -= m * w[c * d + k], inv[r * d + k] -= m * inv[c * d + k];
    }
  }
  free(w);
  return det;
}

/* The dense d×d matrix of a block-diagonal Σ of uniform blocks (size k, the last one shorter). */
static void dense_uniform(int d, int k, double rho, double *a) {
  for (int i = 0; i < d; i++)
    for (int j = 0; j < d; j++) a[i * d + j] = i == j ? 1.0 : (i / k == j / k ? rho : 0.0);
}

/* KL(N(mu, diag e^lv) || N(0, a)) from the dense formula, in double. */
static double kl_dense(int d, const double *a, const float *mu, const float *lv) {
  double *inv = malloc(sizeof(double) * d * d);
  double det = dense_inverse(d, a, inv), s = 0.0;
  for (int u = 0; u < d; u++) {
    s += inv[u * d + u] * exp(lv[u]) - lv[u] - 1.0;
    for (int v = 0; v < d; v++) s += mu[u] * inv[u * d + v] * mu[v];
  }
  free(inv);
  return 0.5 * (s + log(det));
}

static void test_blockdiag_factors(void **state) {
  (void)state;
  /* a general 3×3 SPD block and a 1×1 block: Σ Σ⁻¹ = I, L Lᵀ = Σ, log|Σ| vs Gauss–Jordan */
  const int sizes[2] = {3, 1};
  const double cov[10] = {2.0, 0.6, -0.4, 0.6, 1.5, 0.3, -0.4, 0.3, 1.0, 0.25};
  bh_blockdiag *s = bh_blockdiag_alloc(2, sizes, cov);
  assert_non_null(s);
  assert_int_equal(s->dim, 4);
  assert_int_equal(s->nblocks, 2);
  assert_int_equal(s->start[1], 3);
  double dense[16] = {0}, inv[16];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) dense[i * 4 + j] = cov[i * 3 + j];
  dense[15] = 0.25;
  assert_near(s->logdet, log(dense_inverse(4, dense, inv)), 1e-12);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      double p = 0.0, llt = 0.0;
      for (int k = 0; k < 3; k++) {
        p += cov[i * 3 + k] * s->inv[k * 3 + j];
        llt += s->chol[i * 3 + k] * s->chol[j * 3 + k];
      }
      assert_near(p, i == j, 1e-12);
      assert_near(llt, cov[i * 3 + j], 1e-12);
      assert_near(s->inv[i * 3 + j], inv[i * 4 + j], 1e-12);
      if (j > i) assert_near(s->chol[i * 3 + j], 0.0, 0); /* lower triangular */
    }
  assert_near(s->inv[9], 4.0, 1e-12);
  assert_near(s->chol[9], 0.5, 1e-12);
  bh_blockdiag_free(s);
}

static void test_blockdiag_rejects(void **state) {
  (void)state;
  /* rho = 1 is singular; blocks of 3 need rho > −1/2 */
  assert_null(bh_blockdiag_alloc_uniform(6, 2, 1.0));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_true(has_message("not positive definite"));
  assert_null(bh_blockdiag_alloc_uniform(6, 3, -0.6));
  assert_true(has_message("not positive definite"));
  bh_blockdiag *ok = bh_blockdiag_alloc_uniform(6, 3, -0.4); /* just inside */
  assert_non_null(ok);
  bh_blockdiag_free(ok);
  /* indefinite and asymmetric dense blocks, a zero-size block, a zero dimension */
  const int sizes[1] = {2};
  const double indef[4] = {1, 2, 2, 1}, asym[4] = {1, 0.5, 0.1, 1};
  assert_null(bh_blockdiag_alloc(1, sizes, indef));
  assert_true(has_message("blockdiag: block 0"));
  assert_true(has_message("not positive definite"));
  assert_null(bh_blockdiag_alloc(1, sizes, asym));
  assert_true(has_message("not symmetric"));
  const int zero[2] = {2, 0};
  assert_null(bh_blockdiag_alloc(2, zero, indef));
  assert_true(has_message("block 1 has size 0"));
  assert_null(bh_blockdiag_alloc_uniform(0, 2, 0.0));
  assert_true(has_message("blockdiag"));
}

static void test_kl_blockdiag_values(void **state) {
  (void)state;
  const int n = 3, d = 5;
  bh_tensor *mu = alloc_uniform(n, d, 0, 91, -1.5f, 1.5f);
  bh_tensor *lv = alloc_uniform(n, d, 0, 92, -1.5f, 1.5f);
  bh_ctx *ctx = bh_ctx_alloc(0);
  /* (a) rho = 0: Σ = I, the same numbers as kl_normal_std */
  bh_blockdiag *id = bh_blockdiag_alloc_uniform(d, 2, 0.0);
  assert_non_null(id);
  bh_tensor *y0 = bh_kl_normal_blockdiag(ctx, mu, lv, id);
  bh_tensor *ys = bh_kl_normal_std(ctx, mu, lv);
  assert_non_null(y0);
  for (int i = 0; i < n; i++) assert_near(y0->data[i], ys->data[i], 1e-5);
  /* (b) rho = 0.5, k = 2 over d = 5 (blocks 2, 2, 1) against the dense formula */
  bh_blockdiag *s = bh_blockdiag_alloc_uniform(d, 2, 0.5);
  assert_non_null(s);
  assert_int_equal(s->nblocks, 3);
  assert_int_equal(s->size[2], 1);
  assert_near(s->logdet, 2.0 * log(0.75), 1e-12);
  double a[25];
  dense_uniform(d, 2, 0.5, a);
  bh_tensor *y = bh_kl_normal_blockdiag(ctx, mu, lv, s);
  assert_non_null(y);
  for (int i = 0; i < n; i++) {
    double want = kl_dense(d, a, mu->data + i * d, lv->data + i * d);
    assert_near(y->data[i], want, 1e-5 * fabs(want) + 1e-6);
    /* and not the identity prior's value: the correlation must matter */
    assert_true(fabs(y->data[i] - y0->data[i]) > 1e-3);
  }
  /* Σ over 5 dimensions, mu with 4 columns */
  bh_tensor *mu4 = bh_tensor_alloc2(3, 4, 0);
  assert_null(bh_kl_normal_blockdiag(ctx, mu4, mu4, s));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_true(has_message("kl_normal_blockdiag"));
  assert_null(bh_kl_normal_blockdiag(ctx, mu, mu4, s));
  assert_true(has_message("kl_normal_blockdiag"));
  bh_ctx_free(ctx);
  bh_blockdiag_free(id);
  bh_blockdiag_free(s);
  bh_tensor_free(mu);
  bh_tensor_free(mu4);
  bh_tensor_free(lv);
}

static bh_tensor *build_kl_bd(bh_ctx *ctx, bh_tensor **in, void *user) {
  return bh_kl_normal_blockdiag(ctx, in[0], in[1], user);
}

static void test_kl_blockdiag_grad(void **state) {
  (void)state;
  bh_tensor *mu = alloc_uniform(4, 5, 1, 93, -1.5f, 1.5f);
  bh_tensor *lv = alloc_uniform(4, 5, 1, 94, -1.5f, 1.5f);
  bh_tensor *in[2] = {mu, lv};
  bh_blockdiag *s = bh_blockdiag_alloc_uniform(5, 2, 0.5);
  assert_int_equal(gc_check("kl_normal_blockdiag rho 0.5", build_kl_bd, in, 2, s, TOL), 0);
  bh_blockdiag_free(s);
  /* a general dense block (3×3) beside a 2×2 one: Σ⁻¹ off-diagonals of both signs */
  const int sizes[2] = {3, 2};
  const double cov[13] = {2.0, 0.6, -0.4, 0.6, 1.5, 0.3, -0.4, 0.3, 1.0, 1.0, -0.7, -0.7, 1.0};
  s = bh_blockdiag_alloc(2, sizes, cov);
  assert_non_null(s);
  assert_int_equal(gc_check("kl_normal_blockdiag dense", build_kl_bd, in, 2, s, TOL), 0);
  bh_blockdiag_free(s);
  bh_tensor_free(mu);
  bh_tensor_free(lv);
}

static void test_blockdiag_sample_covariance(void **state) {
  (void)state;
  /* d = 5, blocks (3, 2): a general 3×3 block and rho = −0.7 */
  const int sizes[2] = {3, 2}, d = 5, n = 200000;
  const double cov[13] = {2.0, 0.6, -0.4, 0.6, 1.5, 0.3, -0.4, 0.3, 1.0, 1.0, -0.7, -0.7, 1.0};
  double dense[25] = {0};
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) dense[i * 5 + j] = cov[i * 3 + j];
  dense[18] = dense[24] = 1.0, dense[19] = dense[23] = -0.7;
  bh_blockdiag *s = bh_blockdiag_alloc(2, sizes, cov);
  assert_non_null(s);
  float *x = malloc(sizeof(float) * n * d);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 101);
  bh_blockdiag_sample(s, r, n, x);
  double mean[5] = {0}, c[25] = {0};
  for (int i = 0; i < n; i++)
    for (int u = 0; u < d; u++) {
      mean[u] += x[i * d + u] / (double)n;
      for (int v = 0; v < d; v++) c[u * d + v] += (double)x[i * d + u] * x[i * d + v] / n;
    }
  /* The sample covariance entry (u,v) has standard error sqrt((Σ_uu Σ_vv + Σ_uv²)/N); with
   * Σ_uu ≤ 2 that is ≤ sqrt(8/2e5) = 0.0063.  Tolerance 0.03 ≈ 5 standard errors (the run is
   * seeded, so it is deterministic; a wrong L — e.g. Lᵀ, or a block's rho ignored — is off by
   * 0.2 or more).  The mean's standard error is ≤ sqrt(2/2e5) = 0.0032: tolerance 0.015. */
  for (int u = 0; u < d; u++) {
    assert_near(mean[u], 0.0, 0.015);
    for (int v = 0; v < d; v++) assert_near(c[u * d + v] - mean[u] * mean[v], dense[u * d + v], 0.03);
  }
  gsl_rng_free(r);
  free(x);
  bh_blockdiag_free(s);
}

/* ---- gauss_log_density_pairwise ---- */

static void test_pairwise_values(void **state) {
  (void)state;
  const int b = 3, m = 4, d = 5;
  bh_tensor *z = alloc_uniform(b, d, 0, 111, -2, 2), *mu = alloc_uniform(m, d, 0, 112, -2, 2);
  bh_tensor *lv = alloc_uniform(m, d, 0, 113, -3, 2);
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *y = bh_gauss_log_density_pairwise(ctx, z, mu, lv);
  assert_non_null(y);
  assert_int_equal(y->ndim, 3);
  assert_int_equal(y->shape[0], b);
  assert_int_equal(y->shape[1], m);
  assert_int_equal(y->shape[2], d);
  for (int i = 0; i < b; i++)
    for (int j = 0; j < m; j++)
      for (int k = 0; k < d; k++) {
        double sd = exp(0.5 * lv->data[j * d + k]);
        double want = log(gsl_ran_gaussian_pdf(z->data[i * d + k] - mu->data[j * d + k], sd));
        /* float arithmetic on values up to ~40 in size: 1e-5 relative */
        assert_near(y->data[(i * m + j) * d + k], want, 1e-5 * fabs(want) + 1e-5);
      }
  bh_tensor *z4 = bh_tensor_alloc2(b, 4, 0), *lv3 = bh_tensor_alloc2(3, d, 0);
  assert_null(bh_gauss_log_density_pairwise(ctx, z4, mu, lv));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_true(has_message("gauss_log_density_pairwise"));
  assert_true(has_message("[3 x 4]"));
  assert_null(bh_gauss_log_density_pairwise(ctx, z, mu, lv3));
  assert_true(has_message("gauss_log_density_pairwise"));
  bh_ctx_free(ctx);
  bh_tensor_free(z);
  bh_tensor_free(z4);
  bh_tensor_free(mu);
  bh_tensor_free(lv);
  bh_tensor_free(lv3);
}

static bh_tensor *build_pairwise(bh_ctx *ctx, bh_tensor **in, void *user) {
  (void)user;
  return bh_gauss_log_density_pairwise(ctx, in[0], in[1], in[2]);
}

/* z and mu the same tensor (the density of each code under every other code's mean). */
static bh_tensor *build_pairwise_self(bh_ctx *ctx, bh_tensor **in, void *user) {
  (void)user;
  return bh_gauss_log_density_pairwise(ctx, in[0], in[0], in[1]);
}

static void test_pairwise_grad(void **state) {
  (void)state;
  /* (z − mu)² e^{−lv} grows to ~60 at lv = −1.5: tolerance as TOL, values kept moderate */
  bh_tensor *z = alloc_uniform(3, 5, 1, 121, -1.5f, 1.5f);
  bh_tensor *mu = alloc_uniform(4, 5, 1, 122, -1.5f, 1.5f);
  bh_tensor *lv = alloc_uniform(4, 5, 1, 123, -1.5f, 1.5f);
  bh_tensor *in[3] = {z, mu, lv};
  assert_int_equal(gc_check("pairwise", build_pairwise, in, 3, NULL, TOL), 0);
  /* z as a constant (mu, lv only) */
  bh_tensor *zc = alloc_uniform(3, 5, 0, 121, -1.5f, 1.5f);
  bh_tensor *inc[3] = {zc, mu, lv};
  assert_int_equal(gc_check("pairwise z constant", build_pairwise, inc, 3, NULL, TOL), 0);
  /* z is mu */
  bh_tensor *lv3 = alloc_uniform(3, 5, 1, 124, -1.5f, 1.5f);
  bh_tensor *ins[2] = {z, lv3};
  assert_int_equal(gc_check("pairwise z = mu", build_pairwise_self, ins, 2, NULL, TOL), 0);
  bh_tensor_free(z);
  bh_tensor_free(zc);
  bh_tensor_free(mu);
  bh_tensor_free(lv);
  bh_tensor_free(lv3);
}

/* ---- reparam ---- */

static void test_reparam_values(void **state) {
  (void)state;
  const int n = 3, d = 4;
  bh_tensor *mu = alloc_uniform(n, d, 0, 131, -2, 2), *lv = alloc_uniform(n, d, 0, 132, -3, 3);
  float eps[12];
  for (int k = 0; k < n * d; k++) eps[k] = (float)(k - 6) / 3.0f;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *y = bh_reparam_eps(ctx, mu, lv, eps);
  assert_non_null(y);
  assert_int_equal(y->shape[0], n);
  assert_int_equal(y->shape[1], d);
  for (int k = 0; k < n * d; k++)
    assert_near(y->data[k], mu->data[k] + exp(0.5 * lv->data[k]) * eps[k], 1e-5);
  /* bh_reparam draws ε ~ N(0, 1) by ziggurat from the generator it is given */
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 133);
  bh_tensor *yr = bh_reparam(ctx, mu, lv, r);
  assert_non_null(yr);
  gsl_rng_set(r, 133);
  for (int k = 0; k < n * d; k++) {
    double e = gsl_ran_gaussian_ziggurat(r, 1.0);
    assert_near(yr->data[k], mu->data[k] + exp(0.5 * lv->data[k]) * e, 1e-5);
  }
  bh_tensor *bad = bh_tensor_alloc2(n, d + 1, 0);
  assert_null(bh_reparam_eps(ctx, mu, bad, eps));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_true(has_message("reparam"));
  assert_null(bh_reparam(ctx, mu, bad, r));
  assert_true(has_message("reparam"));
  assert_null(bh_reparam_eps(ctx, mu, lv, NULL));
  assert_true(has_message("reparam"));
  gsl_rng_free(r);
  bh_ctx_free(ctx);
  bh_tensor_free(mu);
  bh_tensor_free(lv);
  bh_tensor_free(bad);
}

static bh_tensor *build_reparam_eps(bh_ctx *ctx, bh_tensor **in, void *user) {
  return bh_reparam_eps(ctx, in[0], in[1], user);
}

/* The generator is reseeded on every forward, so each finite-difference pass sees the same ε
 * and the backward must use the ε that forward drew (saved in the arena). */
static bh_tensor *build_reparam_rng(bh_ctx *ctx, bh_tensor **in, void *user) {
  gsl_rng *r = user;
  gsl_rng_set(r, 141);
  return bh_reparam(ctx, in[0], in[1], r);
}

static void test_reparam_grad(void **state) {
  (void)state;
  bh_tensor *mu = alloc_uniform(3, 4, 1, 142, -2, 2), *lv = alloc_uniform(3, 4, 1, 143, -2, 2);
  float eps[12];
  for (int k = 0; k < 12; k++) eps[k] = (float)(k - 6) / 3.0f;
  bh_tensor *in[2] = {mu, lv};
  assert_int_equal(gc_check("reparam_eps", build_reparam_eps, in, 2, eps, TOL), 0);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  assert_int_equal(gc_check("reparam rng", build_reparam_rng, in, 2, r, TOL), 0);
  gsl_rng_free(r);
  bh_tensor_free(mu);
  bh_tensor_free(lv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bce_values_and_extremes),
      cmocka_unit_test(test_bce_wide_rows),
      cmocka_unit_test(test_bce_grad),
      cmocka_unit_test(test_rejects_and_null_inputs),
      cmocka_unit_test(test_cross_entropy_values),
      cmocka_unit_test(test_cross_entropy_grad_and_rejects),
      cmocka_unit_test(test_kl_std_values),
      cmocka_unit_test(test_kl_std_grad),
      cmocka_unit_test(test_blockdiag_factors),
      cmocka_unit_test(test_blockdiag_rejects),
      cmocka_unit_test(test_kl_blockdiag_values),
      cmocka_unit_test(test_kl_blockdiag_grad),
      cmocka_unit_test(test_blockdiag_sample_covariance),
      cmocka_unit_test(test_pairwise_values),
      cmocka_unit_test(test_pairwise_grad),
      cmocka_unit_test(test_reparam_values),
      cmocka_unit_test(test_reparam_grad),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
