/* test_ops_reduce.c — sum, mean, logsumexp (all axes), softmax, log_softmax, softmax_entropy:
 * values against double-precision brute force, finite-difference gradients, stability at large
 * logits, infinite rows, invalid axes, NULL propagation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"
#include "tests/gradcheck.h"

/* Smooth ops on inputs in [-2, 2], eps 1e-2: truncation ≈ |f'''|·eps²/6 ≲ 1e-4 (the third
 * derivatives of logsumexp/softmax/entropy are O(1) there), rounding ≈ 1e-7·|L|/eps ≲ 1e-4;
 * atol 1e-3 + rtol 1e-3 leave a margin of ~5×.  sum and mean are linear: exact up to rounding. */
static const gc_opts TOL = {1e-2, 1e-3, 1e-3, 0};

static const int AXES[3] = {BH_AXIS_ALL, BH_AXIS_ROWS, BH_AXIS_COLS};
static const char *const AXIS_NAME[3] = {"ALL", "ROWS", "COLS"};

/* ---- brute-force references in double over the n×f view ---- */

/* The lines of an axis: ALL one line of everything; ROWS line j = column j; COLS line i = row i.
 * Element k of line l sits at index line_at(...). */
static size_t n_lines(int axis, size_t n, size_t f) {
  return axis == BH_AXIS_ALL ? 1 : axis == BH_AXIS_ROWS ? f : n;
}
static size_t line_len(int axis, size_t n, size_t f) {
  return axis == BH_AXIS_ALL ? n * f : axis == BH_AXIS_ROWS ? n : f;
}
static size_t line_at(int axis, size_t n, size_t f, size_t l, size_t k) {
  (void)n;
  return axis == BH_AXIS_ALL ? k : axis == BH_AXIS_ROWS ? k * f + l : l * f + k;
}

static double ref_sum(const float *x, int axis, size_t n, size_t f, size_t l) {
  double s = 0;
  for (size_t k = 0; k < line_len(axis, n, f); k++) s += x[line_at(axis, n, f, l, k)];
  return s;
}

static double ref_lse(const float *x, int axis, size_t n, size_t f, size_t l) {
  double m = -INFINITY, s = 0;
  for (size_t k = 0; k < line_len(axis, n, f); k++) m = fmax(m, x[line_at(axis, n, f, l, k)]);
  for (size_t k = 0; k < line_len(axis, n, f); k++) s += exp(x[line_at(axis, n, f, l, k)] - m);
  return m + log(s);
}

/* ---- sum and mean ---- */

static bh_tensor *reduce_op(bh_ctx *ctx, int which, bh_tensor *x, int axis) {
  return which == 0 ? bh_sum(ctx, x, axis) : which == 1 ? bh_mean(ctx, x, axis)
                                                         : bh_logsumexp(ctx, x, axis);
}
static const char *const REDUCE_NAME[3] = {"sum", "mean", "logsumexp"};

/* Values and output shapes of sum, mean, logsumexp on a 2-D [4×5] and a 3-D [2×3×4] input
 * (read as 2 × 12) along every axis. */
static void test_reduce_values(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  int s3[3] = {2, 3, 4};
  for (int three_d = 0; three_d < 2; three_d++) {
    bh_tensor *x = three_d ? bh_tensor_alloc(3, s3, 0) : bh_tensor_alloc2(4, 5, 0);
    gc_fill_uniform(x, 3 + (unsigned long)three_d, -3, 3);
    size_t n = (size_t)x->shape[0], f = x->size / n;
    for (int which = 0; which < 3; which++)
      for (int a = 0; a < 3; a++) {
        bh_tensor *y = reduce_op(ctx, which, x, AXES[a]);
        assert_non_null(y);
        assert_int_equal(y->ndim, 1);
        assert_int_equal(y->size, n_lines(AXES[a], n, f));
        for (size_t l = 0; l < y->size; l++) {
          double want = which == 2 ? ref_lse(x->data, AXES[a], n, f, l)
                                   : ref_sum(x->data, AXES[a], n, f, l);
          if (which == 1) want /= (double)line_len(AXES[a], n, f);
          if (fabs(y->data[l] - want) > 3e-7 * fabs(want) + 1e-6) {
            fprintf(stderr, "%s %s line %zu: %.9g, want %.9g\n", REDUCE_NAME[which],
                    AXIS_NAME[a], l, y->data[l], want);
            fail();
          }
        }
      }
    bh_tensor_free(x);
  }
  bh_ctx_free(ctx);
}

typedef struct reduce_case {
  int which, axis;
} reduce_case;

static bh_tensor *build_reduce(bh_ctx *ctx, bh_tensor **in, void *user) {
  const reduce_case *c = user;
  return reduce_op(ctx, c->which, in[0], c->axis);
}

static void test_reduce_grad(void **state) {
  (void)state;
  int s3[3] = {2, 3, 4};
  for (int three_d = 0; three_d < 2; three_d++)
    for (int which = 0; which < 3; which++)
      for (int a = 0; a < 3; a++) {
        bh_tensor *x = three_d ? bh_tensor_alloc(3, s3, 1) : bh_tensor_alloc2(4, 5, 1);
        gc_fill_uniform(x, 20 + (unsigned long)(which * 3 + a), -2, 2);
        reduce_case c = {which, AXES[a]};
        char label[48];
        snprintf(label, sizeof label, "%s %s %s", REDUCE_NAME[which], AXIS_NAME[a],
                 three_d ? "3-D" : "2-D");
        assert_int_equal(gc_check(label, build_reduce, &x, 1, &c, TOL), 0);
        bh_tensor_free(x);
      }
}

/* A whole-tensor sum of a million terms is accumulated in double: a float accumulator would be
 * off by ~1% here. */
static void test_sum_all_precision(void **state) {
  (void)state;
  int n = 1000003;
  bh_tensor *x = bh_tensor_alloc(1, &n, 0);
  double ref = 0;
  for (int i = 0; i < n; i++) {
    x->data[i] = 0.1f + 1e-3f * (float)(i % 13);
    ref += x->data[i];
  }
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *s = bh_sum(ctx, x, BH_AXIS_ALL), *m = bh_mean(ctx, x, BH_AXIS_ALL);
  assert_true(fabs(s->data[0] - ref) <= 1e-7 * ref);
  assert_true(fabs(m->data[0] - ref / n) <= 1e-7 * ref / n);
  bh_tensor_free(x);
  bh_ctx_free(ctx);
}

/* logsumexp at ±1000 (a naive log Σ e^x overflows or underflows to ±inf), and lines of −inf. */
static void test_logsumexp_stable_and_infinite(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *x = bh_tensor_alloc2(4, 3, 1);
  const float ninf = -INFINITY;
  const float xv[] = {1000, 1000, 999,      /* 1000 + log(2 + e^-1) */
                      -1000, -1000, -1000,  /* −1000 + log 3 */
                      ninf, ninf, ninf,     /* log 0 = −inf */
                      0, ninf, 0};          /* log 2 */
  memcpy(x->data, xv, sizeof xv);
  bh_tensor *y = bh_logsumexp(ctx, x, BH_AXIS_COLS);
  assert_float_equal(y->data[0], 1000.0 + log(2.0 + exp(-1.0)), 1e-4);
  assert_float_equal(y->data[1], -1000.0 + log(3.0), 1e-4);
  assert_true(y->data[2] == -INFINITY);
  assert_float_equal(y->data[3], log(2.0), 1e-7);
  /* gradient: softmax weights for finite rows, 0 (not NaN) for the all −inf row */
  const float seed[4] = {1, 1, 1, 1};
  bh_tensor_zero_grad(x);
  assert_int_equal(bh_backward_seed(ctx, y, seed), BH_OK);
  double e = exp(-1.0), w[12] = {1 / (2 + e), 1 / (2 + e), e / (2 + e), 1. / 3, 1. / 3, 1. / 3,
                                 0, 0, 0, 0.5, 0, 0.5};
  for (int i = 0; i < 12; i++) assert_float_equal(x->grad[i], w[i], 1e-6);
  /* the same along columns (ROWS) and over everything (ALL) */
  bh_ctx_reset(ctx);
  bh_tensor *xt = bh_tensor_alloc2(3, 2, 0);
  const float xtv[] = {1000, ninf, 1000, ninf, 999, ninf};
  memcpy(xt->data, xtv, sizeof xtv);
  bh_tensor *yc = bh_logsumexp(ctx, xt, BH_AXIS_ROWS);
  assert_float_equal(yc->data[0], 1000.0 + log(2.0 + exp(-1.0)), 1e-4);
  assert_true(yc->data[1] == -INFINITY);
  bh_tensor *ya = bh_logsumexp(ctx, xt, BH_AXIS_ALL);
  assert_float_equal(ya->data[0], 1000.0 + log(2.0 + exp(-1.0)), 1e-4);
  const float all_ninf[6] = {ninf, ninf, ninf, ninf, ninf, ninf};
  memcpy(xt->data, all_ninf, sizeof all_ninf);
  assert_true(bh_logsumexp(ctx, xt, BH_AXIS_ALL)->data[0] == -INFINITY);
  /* +inf anywhere gives +inf */
  xt->data[3] = INFINITY;
  assert_true(bh_logsumexp(ctx, xt, BH_AXIS_ALL)->data[0] == INFINITY);
  bh_tensor_free(x);
  bh_tensor_free(xt);
  bh_ctx_free(ctx);
}

/* ---- softmax family ---- */

static void ref_softmax_row(const float *x, size_t c, double *p) {
  double m = -INFINITY, s = 0;
  for (size_t j = 0; j < c; j++) m = fmax(m, x[j]);
  for (size_t j = 0; j < c; j++) s += (p[j] = exp(x[j] - m));
  for (size_t j = 0; j < c; j++) p[j] /= s;
}

static void test_softmax_values(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *x = bh_tensor_alloc2(6, 9, 0);
  gc_fill_uniform(x, 31, -5, 5);
  x->data[0] = 1000, x->data[1] = 999, x->data[2] = -1000; /* a row with huge logits */
  bh_tensor *p = bh_softmax(ctx, x), *lp = bh_log_softmax(ctx, x), *h = bh_softmax_entropy(ctx, x);
  assert_true(bh_tensor_same_shape(p, x) && bh_tensor_same_shape(lp, x));
  assert_int_equal(h->ndim, 1);
  assert_int_equal(h->shape[0], 6);
  double ref[9];
  for (int i = 0; i < 6; i++) {
    ref_softmax_row(x->data + i * 9, 9, ref);
    double rowsum = 0, hr = 0;
    float mx = -INFINITY;
    for (int j = 0; j < 9; j++) mx = fmaxf(mx, x->data[i * 9 + j]);
    for (int j = 0; j < 9; j++) {
      float pj = p->data[i * 9 + j], lpj = lp->data[i * 9 + j];
      rowsum += pj;
      /* float x − m is rounded (by up to 2^-24·|x − m|), and e^{x−m} carries that absolute
       * error as a relative one: on top of ~3e-7 for exp and the normalisation */
      assert_float_equal(pj, ref[j], (3e-7 + 0x1p-24 * fabs(x->data[i * 9 + j] - mx)) * ref[j]);
      if (ref[j] > 0) {
        assert_float_equal(lpj, log(ref[j]), 1e-6 * fabs(log(ref[j])) + 1e-6);
        hr -= ref[j] * log(ref[j]);
      }
    }
    assert_float_equal(rowsum, 1.0, 1e-6);
    assert_float_equal(h->data[i], hr, 1e-6 * hr + 1e-7);
  }
  /* the huge row by hand: p ≈ (e/(e+1), 1/(e+1), 0, ...), log p(−1000) ≈ −2000 */
  assert_float_equal(p->data[0], exp(1.0) / (exp(1.0) + 1), 1e-6);
  assert_float_equal(lp->data[2], -2000.0 - log(1 + exp(-1.0)), 1e-3);
  bh_tensor_free(x);
  bh_ctx_free(ctx);
}

/* log_softmax at ±1000 stays finite and exact: [1000, 0] -> [−e^−1000 ≈ 0, −1000]. */
static void test_log_softmax_large(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *x = bh_tensor_alloc2(2, 2, 0);
  const float xv[] = {1000, 0, -1000, -1000};
  memcpy(x->data, xv, sizeof xv);
  bh_tensor *lp = bh_log_softmax(ctx, x);
  assert_true(lp->data[0] == 0.0f);
  assert_true(lp->data[1] == -1000.0f);
  assert_float_equal(lp->data[2], -log(2.0), 1e-7);
  assert_float_equal(lp->data[3], -log(2.0), 1e-7);
  bh_tensor_free(x);
  bh_ctx_free(ctx);
}

/* Entropy: uniform logits give ln c exactly; a near one-hot row gives ~0 (no cancellation, no
 * NaN); a −inf logit counts as probability 0. */
static void test_entropy_special(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  const int c = 7;
  bh_tensor *x = bh_tensor_alloc2(4, c, 1);
  for (int j = 0; j < c; j++) {
    x->data[j] = 3.7f;                  /* uniform */
    x->data[c + j] = -123.0f;           /* uniform, shifted */
    x->data[2 * c + j] = j ? 0.0f : 60; /* near one-hot: H ≈ 6·61·e^-60 ≈ 3.2e-24 */
    x->data[3 * c + j] = j < 2 ? 0.5f : -INFINITY; /* two equal, rest impossible: ln 2 */
  }
  bh_tensor *h = bh_softmax_entropy(ctx, x);
  assert_float_equal(h->data[0], log((double)c), 1e-7);
  assert_float_equal(h->data[1], log((double)c), 1e-7);
  double one_hot = 6 * exp(-60.0) * 61; /* −Σ p log p, p_j = e^-60 for 6 entries, to first order */
  assert_true(h->data[2] >= 0 && fabs(h->data[2] - one_hot) <= 1e-2 * one_hot);
  assert_float_equal(h->data[3], log(2.0), 1e-7);
  /* gradient: 0 for uniform rows (H is maximal there) and for the −inf logits, finite elsewhere */
  const float seed[4] = {1, 1, 1, 1};
  bh_tensor_zero_grad(x);
  assert_int_equal(bh_backward_seed(ctx, h, seed), BH_OK);
  for (int j = 0; j < 4 * c; j++) assert_true(isfinite(x->grad[j]));
  for (int j = 0; j < c; j++) {
    assert_float_equal(x->grad[j], 0, 1e-7);
    assert_float_equal(x->grad[3 * c + j], 0, 1e-7);
  }
  bh_tensor_free(x);
  bh_ctx_free(ctx);
}

static bh_tensor *build_softmax(bh_ctx *ctx, bh_tensor **in, void *user) {
  int which = *(const int *)user;
  return which == 0 ? bh_softmax(ctx, in[0])
                    : which == 1 ? bh_log_softmax(ctx, in[0]) : bh_softmax_entropy(ctx, in[0]);
}

static void test_softmax_family_grad(void **state) {
  (void)state;
  const char *names[3] = {"softmax", "log_softmax", "softmax_entropy"};
  int s4[4] = {3, 2, 2, 2}; /* read as 3 rows of 8 */
  for (int which = 0; which < 3; which++)
    for (int four_d = 0; four_d < 2; four_d++) {
      bh_tensor *x = four_d ? bh_tensor_alloc(4, s4, 1) : bh_tensor_alloc2(5, 6, 1);
      gc_fill_uniform(x, 50 + (unsigned long)which, -2, 2);
      char label[48];
      snprintf(label, sizeof label, "%s %s", names[which], four_d ? "4-D" : "2-D");
      assert_int_equal(gc_check(label, build_softmax, &x, 1, &which, TOL), 0);
      bh_tensor_free(x);
    }
}

/* Invalid axes are refused with a message naming the op; NULL propagates. */
static void test_reduce_errors(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *x = bh_tensor_alloc2(2, 3, 0);
  for (int which = 0; which < 3; which++) {
    bh_error_clear();
    assert_null(reduce_op(ctx, which, x, 2));
    assert_int_equal(bh_error_code(), BH_EINVAL);
    assert_true(strncmp(bh_error_message(), REDUCE_NAME[which], strlen(REDUCE_NAME[which])) == 0);
    assert_non_null(strstr(bh_error_message(), "axis 2"));
  }
  bh_error_clear();
  for (int which = 0; which < 3; which++) assert_null(reduce_op(ctx, which, NULL, BH_AXIS_ALL));
  assert_null(bh_softmax(ctx, NULL));
  assert_null(bh_log_softmax(ctx, NULL));
  assert_null(bh_softmax_entropy(ctx, NULL));
  assert_int_equal(bh_error_code(), BH_OK);
  bh_tensor_free(x);
  bh_ctx_free(ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reduce_values),
      cmocka_unit_test(test_reduce_grad),
      cmocka_unit_test(test_sum_all_precision),
      cmocka_unit_test(test_logsumexp_stable_and_infinite),
      cmocka_unit_test(test_softmax_values),
      cmocka_unit_test(test_log_softmax_large),
      cmocka_unit_test(test_entropy_special),
      cmocka_unit_test(test_softmax_family_grad),
      cmocka_unit_test(test_reduce_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
