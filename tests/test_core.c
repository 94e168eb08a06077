/* test_core.c — arena, tensors, tape scheduling and parameter groups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <dlfcn.h>
#include <gsl/gsl_blas.h>

#include "core/error.h"
#include "core/ops.h"
#include "core/params.h"
#include "tests/gradcheck.h"

static void test_arena_alignment_and_reuse(void **state) {
  (void)state;
  bh_arena *a = bh_arena_alloc(1 << 16);
  void *p1 = bh_arena_push(a, 3), *p2 = bh_arena_push(a, 100);
  assert_int_equal((uintptr_t)p1 % 64, 0);
  assert_int_equal((uintptr_t)p2 % 64, 0);
  assert_true((char *)p2 >= (char *)p1 + 3);
  bh_arena_reset(a);
  /* after a reset the same requests land on the same (already touched) memory */
  assert_ptr_equal(bh_arena_push(a, 3), p1);
  assert_ptr_equal(bh_arena_push(a, 100), p2);
  assert_int_equal(bh_arena_used(a), 64 + 128);
  bh_arena_free(a);
}

static void test_arena_spill_and_merge(void **state) {
  (void)state;
  bh_arena *a = bh_arena_alloc(4096);
  char *big = bh_arena_push(a, 10000); /* larger than a chunk: a chunk of its own */
  assert_non_null(big);
  memset(big, 1, 10000);
  for (int i = 0; i < 10; i++) assert_non_null(bh_arena_push(a, 1000));
  size_t peak = bh_arena_peak(a);
  assert_true(peak >= 10000 + 10 * 1000);
  bh_arena_reset(a);
  /* the round spilled: merged into one chunk that now serves the whole round */
  assert_true(bh_arena_reserved(a) >= peak);
  char *first = bh_arena_push(a, 10000);
  for (int i = 0; i < 10; i++) {
    char *p = bh_arena_push(a, 1000);
    assert_true(p > first && p < first + bh_arena_reserved(a));
  }
  assert_int_equal(bh_arena_peak(a), peak);
  bh_arena_free(a);
}

static void test_tensor_shapes(void **state) {
  (void)state;
  int shape[4] = {2, 3, 4, 5};
  bh_tensor *t = bh_tensor_alloc(4, shape, 1);
  assert_int_equal(t->size, 120);
  assert_int_equal(bh_tensor_rows(t), 2);
  assert_int_equal(bh_tensor_cols(t), 60);
  char buf[64];
  assert_string_equal(bh_tensor_shape_str(t, buf, sizeof buf), "[2 x 3 x 4 x 5]");
  assert_non_null(t->grad);
  bh_tensor_free(t);
  int bad[5] = {1, 1, 1, 1, 1};
  assert_null(bh_tensor_alloc(5, bad, 0));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  int neg[2] = {2, -1};
  assert_null(bh_tensor_alloc(2, neg, 0));
}

/* y = x wᵀ used twice (a diamond): the gradient of w must be the sum of both paths. */
static void test_backward_diamond_and_repeat(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *x = bh_tensor_alloc2(1, 2, 0), *w = bh_tensor_alloc2(1, 2, 1);
  x->data[0] = 1, x->data[1] = 2, w->data[0] = 3, w->data[1] = 4;
  for (int pass = 0; pass < 2; pass++) {
    bh_ctx_reset(ctx);
    bh_tensor_zero_grad(w);
    bh_tensor *y = bh_linear(ctx, x, w, NULL);          /* [1×1] = 11 */
    bh_tensor *z = bh_linear(ctx, y, y, NULL);          /* y·y = 121: both inputs are y */
    assert_float_equal(z->data[0], 121.0f, 1e-4);
    assert_int_equal(bh_backward(ctx, z), BH_OK);
    /* dz/dy = 2y = 22; dz/dw = 22·x: the same in both passes (fresh grads, no double count) */
    assert_float_equal(w->grad[0], 22.0f, 1e-4);
    assert_float_equal(w->grad[1], 44.0f, 1e-4);
  }
  /* backward twice over the same tape: node grads are re-freshed, leaves accumulate */
  bh_ctx_reset(ctx);
  bh_tensor_zero_grad(w);
  bh_tensor *y = bh_linear(ctx, x, w, NULL);
  assert_int_equal(bh_backward(ctx, y), BH_OK);
  assert_int_equal(bh_backward(ctx, y), BH_OK);
  assert_float_equal(w->grad[0], 2.0f, 1e-6);
  assert_float_equal(w->grad[1], 4.0f, 1e-6);
  bh_ctx_free(ctx);
  bh_tensor_free(x);
  bh_tensor_free(w);
}

static void test_no_grad_and_errors(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *x = bh_tensor_alloc2(2, 2, 0), *w = bh_tensor_alloc2(3, 2, 1);
  bh_ctx_set_grad(ctx, 0);
  bh_tensor *y = bh_linear(ctx, x, w, NULL);
  assert_non_null(y);
  assert_int_equal(bh_ctx_node_count(ctx), 0);
  assert_false(bh_tensor_requires_grad(y));
  assert_int_not_equal(bh_backward(ctx, y), BH_OK); /* not scalar */
  assert_non_null(strstr(bh_error_message(), "one element"));
  bh_ctx_set_grad(ctx, 1);
  y = bh_linear(ctx, x, w, NULL);
  assert_int_equal(bh_ctx_node_count(ctx), 1);
  /* nothing requires a gradient: no node */
  bh_tensor *c = bh_linear(ctx, x, x, NULL);
  assert_int_equal(bh_ctx_node_count(ctx), 1);
  int one = 1;
  bh_tensor *c1 = bh_reshape(ctx, c, 1, &one);
  assert_null(c1); /* 4 elements into 1 */
  assert_non_null(strstr(bh_error_message(), "reshape"));
  assert_int_not_equal(bh_backward(ctx, NULL), BH_OK);
  bh_ctx_free(ctx);
  bh_tensor_free(x);
  bh_tensor_free(w);
}

static void test_reshape_gradient(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  int s4[4] = {2, 1, 1, 3};
  bh_tensor *x = bh_tensor_alloc(4, s4, 1), *w = bh_tensor_alloc2(1, 3, 0);
  for (int i = 0; i < 6; i++) x->data[i] = (float)i;
  w->data[0] = 1, w->data[1] = 10, w->data[2] = 100;
  int s2[2] = {2, 3};
  bh_tensor *x2 = bh_reshape(ctx, x, 2, s2);
  assert_ptr_equal(x2->data, x->data);
  bh_tensor *y = bh_linear(ctx, x2, w, NULL); /* [2×1] */
  const float seed[2] = {1, 2};
  assert_int_equal(bh_backward_seed(ctx, y, seed), BH_OK);
  const float want[6] = {1, 10, 100, 2, 20, 200};
  for (int i = 0; i < 6; i++) assert_float_equal(x->grad[i], want[i], 1e-6);
  bh_ctx_free(ctx);
  bh_tensor_free(x);
  bh_tensor_free(w);
}

static bh_tensor *build_reshape_linear(bh_ctx *ctx, bh_tensor **in, void *user) {
  (void)user;
  int s2[2] = {3, 4};
  return bh_linear(ctx, bh_reshape(ctx, in[0], 2, s2), in[1], NULL);
}

/* reshape is the identity on data, so its gradient check runs through a linear layer (a
 * bilinear map: the central difference is exact up to float rounding, eps 1e-2, tol 1e-3). */
static void test_reshape_gradcheck(void **state) {
  (void)state;
  int s4[4] = {3, 2, 1, 2};
  bh_tensor *x = bh_tensor_alloc(4, s4, 1), *w = bh_tensor_alloc2(5, 4, 1);
  gc_fill_uniform(x, 21, -1, 1);
  gc_fill_uniform(w, 22, -1, 1);
  bh_tensor *in[2] = {x, w};
  gc_opts o = {1e-2, 1e-3, 1e-3, 0};
  assert_int_equal(gc_check("reshape", build_reshape_linear, in, 2, NULL, o), 0);
  bh_tensor_free(x);
  bh_tensor_free(w);
}

static void test_params_group(void **state) {
  (void)state;
  bh_params *p = bh_params_alloc();
  int s1[2] = {3, 5}, s2[1] = {7};
  bh_tensor *a = bh_params_add(p, "a", 2, s1);
  for (size_t i = 0; i < a->size; i++) a->data[i] = (float)i;
  /* grow well past the first capacity: earlier tensors keep their values and identity */
  int big[1] = {1 << 18};
  bh_tensor *b = bh_params_add(p, "b", 1, big);
  bh_tensor *c = bh_params_add(p, "c", 1, s2);
  assert_ptr_equal(bh_params_find(p, "a"), a);
  for (size_t i = 0; i < a->size; i++) assert_float_equal(a->data[i], (float)i, 0);
  assert_int_equal((uintptr_t)b->data % 64, 0);
  assert_int_equal((uintptr_t)c->data % 64, 0);
  assert_true(a->data >= p->data && c->data + c->size <= p->data + p->size);
  assert_int_equal(bh_params_count(p), 15 + (1 << 18) + 7);
  assert_null(bh_params_add(p, "a", 1, s2));
  assert_non_null(strstr(bh_error_message(), "'a'"));
  /* untouched grads are zeroed at finish; written ones kept */
  for (size_t i = 0; i < p->size; i++) p->grad[i] = 5.0f;
  bh_params_zero_grad(p);
  float *ga = bh_grad_acc(a);
  ga[0] += 1.0f;
  bh_params_grad_finish(p);
  assert_float_equal(a->grad[0], 1.0f, 0);
  assert_float_equal(a->grad[1], 0.0f, 0);
  assert_float_equal(c->grad[0], 0.0f, 0);
  bh_params_set_requires_grad(p, 0);
  assert_false(bh_tensor_requires_grad(a));
  bh_params_free(p);
}

/* GSL must run on OpenBLAS's cblas, not on its own slow gslcblas: the symbol GSL's calls
 * resolve to (the global scope) must come from libopenblas, and a GSL BLAS call must work. */
static void test_gsl_runs_on_openblas(void **state) {
  (void)state;
  void *sym = dlsym(RTLD_DEFAULT, "cblas_sgemm");
  assert_non_null(sym);
  Dl_info info;
  assert_true(dladdr(sym, &info) != 0);
  assert_non_null(strstr(info.dli_fname, "openblas"));
  float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[4] = {0};
  gsl_matrix_float_view A = gsl_matrix_float_view_array(a, 2, 2);
  gsl_matrix_float_view Bv = gsl_matrix_float_view_array(b, 2, 2);
  gsl_matrix_float_view C = gsl_matrix_float_view_array(c, 2, 2);
  assert_int_equal(gsl_blas_sgemm(CblasNoTrans, CblasNoTrans, 1.0f, &A.matrix, &Bv.matrix, 0.0f,
                                  &C.matrix),
                   0);
  assert_float_equal(c[3], 4.0f, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_arena_alignment_and_reuse),
      cmocka_unit_test(test_arena_spill_and_merge),
      cmocka_unit_test(test_tensor_shapes),
      cmocka_unit_test(test_backward_diamond_and_repeat),
      cmocka_unit_test(test_no_grad_and_errors),
      cmocka_unit_test(test_reshape_gradient),
      cmocka_unit_test(test_reshape_gradcheck),
      cmocka_unit_test(test_params_group),
      cmocka_unit_test(test_gsl_runs_on_openblas),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
