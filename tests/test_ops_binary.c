/* test_ops_binary.c — add, sub, mul in every broadcast form: values against a plain reference,
 * finite-difference gradients for a and b (b's reduced back to its shape), a tensor used as both
 * operands, shape mismatches, NULL propagation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"
#include "tests/gradcheck.h"

enum { ADD, SUB, MUL };
static const char *const NAMES[] = {"add", "sub", "mul"};

static bh_tensor *apply(bh_ctx *ctx, int op, bh_tensor *a, bh_tensor *b) {
  return op == ADD ? bh_add(ctx, a, b) : op == SUB ? bh_sub(ctx, a, b) : bh_mul(ctx, a, b);
}

/* A broadcast form: a's shape, b's shape, and where b's value for a[i, j] lives (a is read as
 * rows × cols). */
enum { SAME, SCALAR, ROW, COL };

typedef struct form {
  const char *name;
  int a_ndim, a_shape[4];
  int b_ndim, b_shape[4];
  int kind;
} form;

static const form FORMS[] = {
    {"same [4x5]", 2, {4, 5}, 2, {4, 5}, SAME},
    {"scalar [1]", 2, {4, 5}, 1, {1}, SCALAR},
    {"scalar [1x1]", 2, {4, 5}, 2, {1, 1}, SCALAR},
    {"row [5]", 2, {4, 5}, 1, {5}, ROW},
    {"row [1x5]", 2, {4, 5}, 2, {1, 5}, ROW},
    {"col [4x1]", 2, {4, 5}, 2, {4, 1}, COL},
    {"4-D same", 4, {2, 3, 2, 2}, 4, {2, 3, 2, 2}, SAME},
    {"4-D row [12]", 4, {2, 3, 2, 2}, 1, {12}, ROW},
    {"4-D col [2x1]", 4, {2, 3, 2, 2}, 2, {2, 1}, COL},
    {"1-D a [6], scalar", 1, {6}, 1, {1}, SCALAR},
};
#define NFORMS ((int)(sizeof FORMS / sizeof FORMS[0]))

static size_t b_index(const form *f, size_t i, size_t j, size_t cols) {
  switch (f->kind) {
  case SAME: return i * cols + j;
  case SCALAR: return 0;
  case ROW: return j;
  default: return i;
  }
}

static void alloc_pair(const form *f, int grad_a, int grad_b, bh_tensor **a, bh_tensor **b,
                       unsigned long seed) {
  *a = bh_tensor_alloc(f->a_ndim, f->a_shape, grad_a);
  *b = bh_tensor_alloc(f->b_ndim, f->b_shape, grad_b);
  gc_fill_uniform(*a, seed, -2, 2);
  gc_fill_uniform(*b, seed + 1, -2, 2);
}

/* Values: out[i, j] = a[i, j] ∘ b[b_index(i, j)], the same single float operation, so exact. */
static void test_binary_values(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  for (int k = 0; k < NFORMS; k++)
    for (int op = ADD; op <= MUL; op++) {
      bh_tensor *a, *b;
      alloc_pair(&FORMS[k], 0, 0, &a, &b, 10 + (unsigned long)k);
      bh_tensor *y = apply(ctx, op, a, b);
      assert_non_null(y);
      assert_true(bh_tensor_same_shape(y, a));
      size_t rows = (size_t)a->shape[0], cols = a->size / rows;
      for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
          float u = a->data[i * cols + j], v = b->data[b_index(&FORMS[k], i, j, cols)];
          float want = op == ADD ? u + v : op == SUB ? u - v : u * v;
          if (y->data[i * cols + j] != want) {
            fprintf(stderr, "%s %s at (%zu, %zu): %g, want %g\n", NAMES[op], FORMS[k].name, i, j,
                    y->data[i * cols + j], want);
            fail();
          }
        }
      bh_tensor_free(a);
      bh_tensor_free(b);
    }
  bh_ctx_free(ctx);
}

static bh_tensor *build_binary(bh_ctx *ctx, bh_tensor **in, void *user) {
  return apply(ctx, *(const int *)user, in[0], in[1]);
}

/* Gradients of every op in every form; both inputs, then each alone (the other constant).  The
 * ops are at most bilinear, so the central difference is exact up to rounding (≈ 1e-7·|L|/eps
 * ≈ 1e-4 with eps 1e-2 and |L| ≲ 10); atol 1e-3, rtol 1e-3 leave a 10× margin. */
static void test_binary_grad(void **state) {
  (void)state;
  const gc_opts tol = {1e-2, 1e-3, 1e-3, 0};
  for (int k = 0; k < NFORMS; k++)
    for (int op = ADD; op <= MUL; op++)
      for (int which = 0; which < 3; which++) { /* 0: both, 1: a only, 2: b only */
        bh_tensor *a, *b;
        alloc_pair(&FORMS[k], which != 2, which != 1, &a, &b, 40 + (unsigned long)k);
        bh_tensor *in[2] = {a, b};
        char label[80];
        snprintf(label, sizeof label, "%s %s (%s)", NAMES[op], FORMS[k].name,
                 which == 0 ? "a, b" : which == 1 ? "a" : "b");
        assert_int_equal(gc_check(label, build_binary, in, 2, &op, tol), 0);
        bh_tensor_free(a);
        bh_tensor_free(b);
      }
}

/* b's gradient, by hand, with an all-ones upstream gradient on a [3×2] a:
 * row form: db[j] = Σ_i 1 (add) / −Σ_i 1 (sub) / Σ_i a[i, j] (mul); column: sums along rows. */
static void test_binary_b_grad_values(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *a = bh_tensor_alloc2(3, 2, 0);
  const float av[] = {1, 2, 3, 4, 5, 6}, ones[6] = {1, 1, 1, 1, 1, 1};
  memcpy(a->data, av, sizeof av);
  int f = 2;
  bh_tensor *row = bh_tensor_alloc(1, &f, 1), *col = bh_tensor_alloc2(3, 1, 1);
  int one = 1;
  bh_tensor *sc = bh_tensor_alloc(1, &one, 1);
  struct {
    int op;
    bh_tensor *b;
    float want[3];
  } cases[] = {
      {ADD, row, {3, 3}},  {SUB, row, {-3, -3}},  {MUL, row, {9, 12}},
      {ADD, col, {2, 2, 2}}, {SUB, col, {-2, -2, -2}}, {MUL, col, {3, 7, 11}},
      {ADD, sc, {6}},      {SUB, sc, {-6}},       {MUL, sc, {21}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    bh_ctx_reset(ctx);
    bh_tensor *b = cases[c].b;
    bh_tensor_zero_grad(b);
    bh_tensor *y = apply(ctx, cases[c].op, a, b);
    assert_int_equal(bh_backward_seed(ctx, y, ones), BH_OK);
    for (size_t j = 0; j < b->size; j++) assert_float_equal(b->grad[j], cases[c].want[j], 1e-6);
  }
  bh_tensor_free(a);
  bh_tensor_free(row);
  bh_tensor_free(col);
  bh_tensor_free(sc);
  bh_ctx_free(ctx);
}

/* One tensor as both operands: both gradients land in the same buffer. */
static bh_tensor *build_self(bh_ctx *ctx, bh_tensor **in, void *user) {
  return apply(ctx, *(const int *)user, in[0], in[0]);
}

static void test_binary_same_tensor(void **state) {
  (void)state;
  const gc_opts tol = {1e-2, 1e-3, 1e-3, 0}; /* as test_binary_grad: x², 2x, 0 are exact */
  for (int op = ADD; op <= MUL; op++) {
    bh_tensor *x = bh_tensor_alloc2(3, 4, 1);
    gc_fill_uniform(x, 77, -2, 2);
    char label[32];
    snprintf(label, sizeof label, "%s(x, x)", NAMES[op]);
    assert_int_equal(gc_check(label, build_self, &x, 1, &op, tol), 0);
    bh_tensor_free(x);
  }
}

/* Shapes that fit no form are refused with a message naming the op and both shapes. */
static void test_binary_shape_mismatch(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *a = bh_tensor_alloc2(3, 4, 0);
  int s3 = 3, s344[3] = {3, 4, 1};
  bh_tensor *bad[] = {
      bh_tensor_alloc(1, &s3, 0),    /* [3]: a 1-D b is a row, and a has 4 columns */
      bh_tensor_alloc2(4, 1, 0),     /* [4 x 1]: a column needs 3 rows */
      bh_tensor_alloc2(2, 4, 0),     /* [2 x 4] */
      bh_tensor_alloc2(4, 3, 0),     /* [4 x 3]: same size, not the same shape */
      bh_tensor_alloc(3, s344, 0),   /* [3 x 4 x 1] */
  };
  const char *shape_str[] = {"[3]", "[4 x 1]", "[2 x 4]", "[4 x 3]", "[3 x 4 x 1]"};
  for (int k = 0; k < 5; k++)
    for (int op = ADD; op <= MUL; op++) {
      bh_error_clear();
      assert_null(apply(ctx, op, a, bad[k]));
      assert_int_equal(bh_error_code(), BH_EINVAL);
      const char *msg = bh_error_message();
      assert_true(strncmp(msg, NAMES[op], strlen(NAMES[op])) == 0);
      assert_non_null(strstr(msg, "[3 x 4]"));
      assert_non_null(strstr(msg, shape_str[k]));
    }
  for (int k = 0; k < 5; k++) bh_tensor_free(bad[k]);
  /* NULL propagates without touching the message */
  bh_error_clear();
  assert_null(bh_add(ctx, NULL, a));
  assert_null(bh_mul(ctx, a, NULL));
  assert_int_equal(bh_error_code(), BH_OK);
  bh_tensor_free(a);
  bh_ctx_free(ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_binary_values),
      cmocka_unit_test(test_binary_grad),
      cmocka_unit_test(test_binary_b_grad_values),
      cmocka_unit_test(test_binary_same_tensor),
      cmocka_unit_test(test_binary_shape_mismatch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
