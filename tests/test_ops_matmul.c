/* test_ops_matmul.c — matmul (all transpose cases), linear, bias add: values and gradients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"
#include "tests/gradcheck.h"

/* float32 forward, eps 1e-2: the ops are bilinear, so the central difference is exact up to
 * rounding (≈ 1e-7·|L|/eps ≈ 1e-4 here); atol 1e-3, rtol 1e-3 leave a 10× margin. */
static const gc_opts TOL = {1e-2, 1e-3, 1e-3, 0};

static bh_tensor *build_matmul(bh_ctx *ctx, bh_tensor **in, void *user) {
  const int *t = user;
  return bh_matmul(ctx, in[0], in[1], t[0], t[1]);
}

static void test_matmul_values(void **state) {
  (void)state;
  /* [[1 2 3],[4 5 6]] · [[1 0],[0 1],[1 1]] = [[4 5],[10 11]] */
  bh_tensor *a = bh_tensor_alloc2(2, 3, 0), *b = bh_tensor_alloc2(3, 2, 0);
  const float av[] = {1, 2, 3, 4, 5, 6}, bv[] = {1, 0, 0, 1, 1, 1};
  memcpy(a->data, av, sizeof av);
  memcpy(b->data, bv, sizeof bv);
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *c = bh_matmul(ctx, a, b, 0, 0);
  assert_non_null(c);
  assert_int_equal(c->shape[0], 2);
  assert_int_equal(c->shape[1], 2);
  const float want[] = {4, 5, 10, 11};
  for (int i = 0; i < 4; i++) assert_float_equal(c->data[i], want[i], 1e-6);
  /* aᵀ as a [3×2] stored matrix with trans_a gives the same product */
  bh_tensor *at = bh_tensor_alloc2(3, 2, 0);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) at->data[j * 2 + i] = av[i * 3 + j];
  bh_tensor *c2 = bh_matmul(ctx, at, b, 1, 0);
  for (int i = 0; i < 4; i++) assert_float_equal(c2->data[i], want[i], 1e-6);
  bh_ctx_free(ctx);
  bh_tensor_free(a);
  bh_tensor_free(b);
  bh_tensor_free(at);
}

static void test_matmul_grad_all_transposes(void **state) {
  (void)state;
  const int m = 3, k = 4, n = 5;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      bh_tensor *a = ta ? bh_tensor_alloc2(k, m, 1) : bh_tensor_alloc2(m, k, 1);
      bh_tensor *b = tb ? bh_tensor_alloc2(n, k, 1) : bh_tensor_alloc2(k, n, 1);
      gc_fill_uniform(a, 1 + ta, -1, 1);
      gc_fill_uniform(b, 3 + tb, -1, 1);
      bh_tensor *in[2] = {a, b};
      int t[2] = {ta, tb};
      char label[32];
      snprintf(label, sizeof label, "matmul ta=%d tb=%d", ta, tb);
      assert_int_equal(gc_check(label, build_matmul, in, 2, t, TOL), 0);
      bh_tensor_free(a);
      bh_tensor_free(b);
    }
}

static void test_matmul_shape_mismatch(void **state) {
  (void)state;
  bh_tensor *a = bh_tensor_alloc2(2, 3, 0), *b = bh_tensor_alloc2(4, 2, 0);
  bh_ctx *ctx = bh_ctx_alloc(0);
  assert_null(bh_matmul(ctx, a, b, 0, 0));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "matmul"));
  assert_non_null(strstr(bh_error_message(), "[2 x 3]"));
  /* failure propagates: an op given NULL returns NULL */
  assert_null(bh_linear(ctx, NULL, a, NULL));
  bh_ctx_free(ctx);
  bh_tensor_free(a);
  bh_tensor_free(b);
}

static bh_tensor *build_linear(bh_ctx *ctx, bh_tensor **in, void *user) {
  return bh_linear(ctx, in[0], in[1], user ? in[2] : NULL);
}

static void test_linear_grad(void **state) {
  (void)state;
  for (int with_bias = 0; with_bias < 2; with_bias++) {
    bh_tensor *x = bh_tensor_alloc2(4, 6, 1), *w = bh_tensor_alloc2(3, 6, 1);
    int bs = 3;
    bh_tensor *b = bh_tensor_alloc(1, &bs, 1);
    gc_fill_uniform(x, 5, -1, 1);
    gc_fill_uniform(w, 6, -1, 1);
    gc_fill_uniform(b, 7, -1, 1);
    bh_tensor *in[3] = {x, w, b};
    assert_int_equal(gc_check("linear", build_linear, in, with_bias ? 3 : 2,
                              with_bias ? (void *)1 : NULL, TOL),
                     0);
    bh_tensor_free(x);
    bh_tensor_free(w);
    bh_tensor_free(b);
  }
}

static void test_linear_values_and_4d_input(void **state) {
  (void)state;
  /* a [2×1×2×1] input is read as 2 rows of 2 features */
  int xs[4] = {2, 1, 2, 1};
  bh_tensor *x = bh_tensor_alloc(4, xs, 0), *w = bh_tensor_alloc2(1, 2, 0);
  int one = 1;
  bh_tensor *b = bh_tensor_alloc(1, &one, 0);
  const float xv[] = {1, 2, 3, 4};
  memcpy(x->data, xv, sizeof xv);
  w->data[0] = 0.5f, w->data[1] = -1.0f, b->data[0] = 10.0f;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *y = bh_linear(ctx, x, w, b);
  assert_non_null(y);
  assert_float_equal(y->data[0], 10.0f + 0.5f - 2.0f, 1e-6);
  assert_float_equal(y->data[1], 10.0f + 1.5f - 4.0f, 1e-6);
  bh_tensor *w3 = bh_tensor_alloc2(1, 3, 0);
  assert_null(bh_linear(ctx, x, w3, b));
  assert_non_null(strstr(bh_error_message(), "linear"));
  bh_ctx_free(ctx);
  bh_tensor_free(x);
  bh_tensor_free(w);
  bh_tensor_free(w3);
  bh_tensor_free(b);
}

static bh_tensor *build_bias_add(bh_ctx *ctx, bh_tensor **in, void *user) {
  (void)user;
  return bh_bias_add(ctx, in[0], in[1]);
}

static void test_bias_add_grad(void **state) {
  (void)state;
  /* 2-D: bias per feature */
  bh_tensor *x = bh_tensor_alloc2(3, 4, 1);
  int f = 4;
  bh_tensor *b = bh_tensor_alloc(1, &f, 1);
  gc_fill_uniform(x, 8, -1, 1);
  gc_fill_uniform(b, 9, -1, 1);
  bh_tensor *in[2] = {x, b};
  assert_int_equal(gc_check("bias_add 2d", build_bias_add, in, 2, NULL, TOL), 0);
  bh_tensor_free(x);
  bh_tensor_free(b);
  /* 4-D: bias per channel */
  int xs[4] = {2, 3, 2, 2}, c = 3;
  x = bh_tensor_alloc(4, xs, 1);
  b = bh_tensor_alloc(1, &c, 1);
  gc_fill_uniform(x, 10, -1, 1);
  gc_fill_uniform(b, 11, -1, 1);
  bh_tensor *in4[2] = {x, b};
  assert_int_equal(gc_check("bias_add 4d", build_bias_add, in4, 2, NULL, TOL), 0);
  bh_tensor_free(x);
  bh_tensor_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matmul_values),
      cmocka_unit_test(test_matmul_grad_all_transposes),
      cmocka_unit_test(test_matmul_shape_mismatch),
      cmocka_unit_test(test_linear_grad),
      cmocka_unit_test(test_linear_values_and_4d_input),
      cmocka_unit_test(test_bias_add_grad),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
