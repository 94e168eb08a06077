/* test_ops_shape.c — concat, slice, gather_rows, gather_rows_per_block: values, gradients,
 * rejected arguments. */
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

/* These ops only copy or add floats, so L is linear in every input and the central difference is
 * exact up to rounding of L (≈ 1e-7·|L|/eps ≈ 1e-5 here): eps 1e-2, atol 1e-3, rtol 1e-3 leave
 * a wide margin while a wrong index or a dropped row (an error of order 1) still fails. */
static const gc_opts TOL = {1e-2, 1e-3, 1e-3, 0};

/* x[r, c] = 100 r + c: every value tells its source row and column. */
static void fill_coords(bh_tensor *x) {
  int n = bh_tensor_rows(x);
  size_t f = bh_tensor_cols(x);
  for (int r = 0; r < n; r++)
    for (size_t c = 0; c < f; c++) x->data[r * f + c] = (float)(100 * r + (int)c);
}

/* ---- concat ---- */

static void test_concat_values(void **state) {
  (void)state;
  bh_tensor *a = bh_tensor_alloc2(2, 1, 0), *b = bh_tensor_alloc2(2, 2, 0);
  int cs[4] = {2, 1, 1, 2}; /* a 4-D input is read as [2 × 2] */
  bh_tensor *c = bh_tensor_alloc(4, cs, 0);
  const float av[] = {1, 2}, bv[] = {3, 4, 5, 6}, cv[] = {7, 8, 9, 10};
  memcpy(a->data, av, sizeof av);
  memcpy(b->data, bv, sizeof bv);
  memcpy(c->data, cv, sizeof cv);
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *xs[3] = {a, b, c};
  bh_tensor *y = bh_concat(ctx, xs, 3);
  assert_non_null(y);
  assert_int_equal(y->ndim, 2);
  assert_int_equal(y->shape[0], 2);
  assert_int_equal(y->shape[1], 5);
  const float want[] = {1, 3, 4, 7, 8, 2, 5, 6, 9, 10};
  for (int i = 0; i < 10; i++) assert_float_equal(y->data[i], want[i], 0);
  bh_ctx_free(ctx);
  bh_tensor_free(a);
  bh_tensor_free(b);
  bh_tensor_free(c);
}

typedef struct concat_case {
  int k;
  const int *which; /* which of the inputs goes in each slot (repeats allowed) */
} concat_case;

static bh_tensor *build_concat(bh_ctx *ctx, bh_tensor **in, void *user) {
  const concat_case *cc = user;
  bh_tensor *xs[8];
  for (int i = 0; i < cc->k; i++) xs[i] = in[cc->which[i]];
  return bh_concat(ctx, xs, cc->k);
}

static void test_concat_grad(void **state) {
  (void)state;
  bh_tensor *in[6];
  for (int i = 0; i < 6; i++) {
    in[i] = bh_tensor_alloc2(3, 1 + i % 3, 1);
    gc_fill_uniform(in[i], 20 + i, -1, 1);
  }
  /* three distinct inputs */
  const int w3[] = {0, 1, 2};
  concat_case c3 = {3, w3};
  assert_int_equal(gc_check("concat k=3", build_concat, in, 3, &c3, TOL), 0);
  /* six inputs: more than a node's in[] holds, the backward must reach all of them */
  const int w6[] = {0, 1, 2, 3, 4, 5};
  concat_case c6 = {6, w6};
  assert_int_equal(gc_check("concat k=6", build_concat, in, 6, &c6, TOL), 0);
  /* the same tensor twice: its second gradient block must be added, not overwrite the first */
  const int wrep[] = {1, 0, 1};
  concat_case crep = {3, wrep};
  assert_int_equal(gc_check("concat repeated input", build_concat, in, 2, &crep, TOL), 0);
  for (int i = 0; i < 6; i++) bh_tensor_free(in[i]);
}

static void test_concat_rejects(void **state) {
  (void)state;
  bh_tensor *a = bh_tensor_alloc2(2, 3, 0), *b = bh_tensor_alloc2(3, 3, 0);
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *xs[2] = {a, b};
  assert_null(bh_concat(ctx, xs, 2));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "concat"));
  assert_non_null(strstr(bh_error_message(), "[3 x 3]"));
  assert_null(bh_concat(ctx, xs, 0));
  assert_non_null(strstr(bh_error_message(), "concat"));
  /* failure propagates without a new message */
  bh_error_clear();
  bh_tensor *xn[2] = {a, NULL};
  assert_null(bh_concat(ctx, xn, 2));
  assert_int_equal(bh_error_code(), BH_OK);
  bh_ctx_free(ctx);
  bh_tensor_free(a);
  bh_tensor_free(b);
}

/* ---- slice ---- */

static void test_slice_values(void **state) {
  (void)state;
  bh_tensor *x = bh_tensor_alloc2(3, 5, 0);
  fill_coords(x);
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *y = bh_slice(ctx, x, 1, 3);
  assert_non_null(y);
  assert_int_equal(y->shape[0], 3);
  assert_int_equal(y->shape[1], 3);
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) assert_float_equal(y->data[r * 3 + c], 100 * r + c + 1, 0);
  /* the whole row is a valid slice, one past the end is not */
  assert_non_null(bh_slice(ctx, x, 0, 5));
  assert_null(bh_slice(ctx, x, 3, 3));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "slice"));
  assert_null(bh_slice(ctx, x, -1, 2));
  assert_non_null(strstr(bh_error_message(), "slice"));
  assert_null(bh_slice(ctx, x, 0, 0));
  assert_non_null(strstr(bh_error_message(), "slice"));
  bh_ctx_free(ctx);
  bh_tensor_free(x);
}

static bh_tensor *build_slice(bh_ctx *ctx, bh_tensor **in, void *user) {
  const int *s = user;
  return bh_slice(ctx, in[0], s[0], s[1]);
}

/* Two overlapping slices of one input, concatenated: the second slice's backward adds into a
 * gradient the first already wrote. */
static bh_tensor *build_two_slices(bh_ctx *ctx, bh_tensor **in, void *user) {
  (void)user;
  bh_tensor *xs[2] = {bh_slice(ctx, in[0], 0, 3), bh_slice(ctx, in[0], 2, 4)};
  return bh_concat(ctx, xs, 2);
}

static void test_slice_grad(void **state) {
  (void)state;
  bh_tensor *x = bh_tensor_alloc2(4, 7, 1);
  gc_fill_uniform(x, 31, -1, 1);
  const int mid[2] = {2, 3}, first[2] = {0, 1}, last[2] = {6, 1};
  assert_int_equal(gc_check("slice middle", build_slice, &x, 1, (void *)mid, TOL), 0);
  assert_int_equal(gc_check("slice first column", build_slice, &x, 1, (void *)first, TOL), 0);
  assert_int_equal(gc_check("slice last column", build_slice, &x, 1, (void *)last, TOL), 0);
  assert_int_equal(gc_check("two overlapping slices", build_two_slices, &x, 1, NULL, TOL), 0);
  bh_tensor_free(x);
}

/* ---- gather_rows ---- */

static void test_gather_rows_values(void **state) {
  (void)state;
  int xs[4] = {4, 2, 1, 3}; /* [4 × 2 × 1 × 3]: rows of 6 values, shape kept */
  bh_tensor *x = bh_tensor_alloc(4, xs, 0);
  fill_coords(x);
  bh_ctx *ctx = bh_ctx_alloc(0);
  const int idx[5] = {3, 0, 3, 1, 1};
  bh_tensor *y = bh_gather_rows(ctx, x, idx, 5);
  assert_non_null(y);
  assert_int_equal(y->ndim, 4);
  assert_int_equal(y->shape[0], 5);
  assert_int_equal(y->shape[1], 2);
  assert_int_equal(y->shape[3], 3);
  for (int i = 0; i < 5; i++)
    for (int c = 0; c < 6; c++) assert_float_equal(y->data[i * 6 + c], 100 * idx[i] + c, 0);
  bh_ctx_free(ctx);
  bh_tensor_free(x);
}

static bh_tensor *build_gather(bh_ctx *ctx, bh_tensor **in, void *user) {
  const int *idx = user;
  return bh_gather_rows(ctx, in[0], idx + 1, idx[0]);
}

static void test_gather_rows_grad(void **state) {
  (void)state;
  bh_tensor *x = bh_tensor_alloc2(5, 3, 1);
  gc_fill_uniform(x, 41, -1, 1);
  /* {m, idx...}: a permutation; then repeats (row 2 three times) and a missing row (row 4),
   * whose gradient must be exactly zero */
  const int perm[6] = {5, 4, 2, 0, 1, 3};
  const int rep[8] = {7, 2, 0, 2, 1, 2, 3, 0};
  assert_int_equal(gc_check("gather_rows permutation", build_gather, &x, 1, (void *)perm, TOL), 0);
  assert_int_equal(gc_check("gather_rows repeats", build_gather, &x, 1, (void *)rep, TOL), 0);
  /* a 4-D input: whole [c×h×w] rows move */
  int xs4[4] = {3, 2, 2, 1};
  bh_tensor *x4 = bh_tensor_alloc(4, xs4, 1);
  gc_fill_uniform(x4, 42, -1, 1);
  const int rep4[5] = {4, 2, 2, 0, 2};
  assert_int_equal(gc_check("gather_rows 4-D", build_gather, &x4, 1, (void *)rep4, TOL), 0);
  bh_tensor_free(x4);
  /* direct scatter-add check with an all-ones seed: grad row r = number of times r was taken */
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *y = bh_gather_rows(ctx, x, rep + 1, 7);
  float ones[21];
  for (int i = 0; i < 21; i++) ones[i] = 1.0f;
  bh_tensor_zero_grad(x);
  assert_int_equal(bh_backward_seed(ctx, y, ones), BH_OK);
  const float count[5] = {2, 1, 3, 1, 0};
  for (int r = 0; r < 5; r++)
    for (int c = 0; c < 3; c++) assert_float_equal(x->grad[r * 3 + c], count[r], 0);
  bh_ctx_free(ctx);
  bh_tensor_free(x);
}

static void test_gather_rows_rejects(void **state) {
  (void)state;
  bh_tensor *x = bh_tensor_alloc2(4, 2, 0);
  bh_ctx *ctx = bh_ctx_alloc(0);
  const int high[3] = {0, 4, 1}, neg[2] = {-1, 0};
  assert_null(bh_gather_rows(ctx, x, high, 3));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "gather_rows"));
  assert_non_null(strstr(bh_error_message(), "idx[1] = 4"));
  assert_null(bh_gather_rows(ctx, x, neg, 2));
  assert_non_null(strstr(bh_error_message(), "idx[0] = -1"));
  assert_null(bh_gather_rows(ctx, x, NULL, 2));
  assert_non_null(strstr(bh_error_message(), "gather_rows"));
  assert_null(bh_gather_rows(ctx, x, high, 0));
  assert_non_null(strstr(bh_error_message(), "gather_rows"));
  bh_ctx_free(ctx);
  bh_tensor_free(x);
}

/* ---- gather_rows_per_block ---- */

/* Widths {2, 3, 1} over 6 columns, 4 rows; each block has its own index array. */
static const int PB_W[3] = {2, 3, 1};
static const int PB_IDX[12] = {3, 2, 1, 0, /* block 0: a reversal */
                               1, 1, 0, 2, /* block 1: repeats, row 3 missing */
                               0, 3, 3, 3};

static void test_per_block_keeps_units_together(void **state) {
  (void)state;
  bh_tensor *x = bh_tensor_alloc2(4, 6, 0);
  fill_coords(x);
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *y = bh_gather_rows_per_block(ctx, x, 3, PB_W, PB_IDX);
  assert_non_null(y);
  assert_int_equal(y->shape[0], 4);
  assert_int_equal(y->shape[1], 6);
  const int block_of[6] = {0, 0, 1, 1, 1, 2};
  for (int i = 0; i < 4; i++)
    for (int c = 0; c < 6; c++) {
      int v = (int)y->data[i * 6 + c], src_row = v / 100, src_col = v % 100;
      /* a unit never changes column, and every unit of a block comes from the same row:
       * the one named by that block's index array */
      assert_int_equal(src_col, c);
      assert_int_equal(src_row, PB_IDX[block_of[c] * 4 + i]);
      if (c > 0 && block_of[c] == block_of[c - 1])
        assert_int_equal(src_row, (int)y->data[i * 6 + c - 1] / 100);
    }
  /* all widths 1 (FactorVAE): each column through its own index array */
  const int w1[6] = {1, 1, 1, 1, 1, 1};
  int idx1[24];
  for (int c = 0; c < 6; c++)
    for (int i = 0; i < 4; i++) idx1[c * 4 + i] = (i + c) % 4;
  bh_tensor *y1 = bh_gather_rows_per_block(ctx, x, 6, w1, idx1);
  assert_non_null(y1);
  for (int i = 0; i < 4; i++)
    for (int c = 0; c < 6; c++) assert_float_equal(y1->data[i * 6 + c], 100 * ((i + c) % 4) + c, 0);
  bh_ctx_free(ctx);
  bh_tensor_free(x);
}

typedef struct pb_case {
  int nblocks;
  const int *widths, *idx;
} pb_case;

static bh_tensor *build_per_block(bh_ctx *ctx, bh_tensor **in, void *user) {
  const pb_case *p = user;
  return bh_gather_rows_per_block(ctx, in[0], p->nblocks, p->widths, p->idx);
}

static void test_per_block_grad(void **state) {
  (void)state;
  bh_tensor *x = bh_tensor_alloc2(4, 6, 1);
  gc_fill_uniform(x, 51, -1, 1);
  pb_case blocks = {3, PB_W, PB_IDX};
  assert_int_equal(gc_check("per_block widths 2,3,1", build_per_block, &x, 1, &blocks, TOL), 0);
  const int w1[6] = {1, 1, 1, 1, 1, 1};
  int idx1[24];
  for (int c = 0; c < 6; c++)
    for (int i = 0; i < 4; i++) idx1[c * 4 + i] = (3 * i + c) % 4;
  pb_case ones = {6, w1, idx1};
  assert_int_equal(gc_check("per_block widths 1", build_per_block, &x, 1, &ones, TOL), 0);
  bh_tensor_free(x);
}

static void test_per_block_rejects(void **state) {
  (void)state;
  bh_tensor *x = bh_tensor_alloc2(4, 6, 0);
  bh_ctx *ctx = bh_ctx_alloc(0);
  const int short_w[2] = {2, 3}, zero_w[3] = {2, 0, 4};
  assert_null(bh_gather_rows_per_block(ctx, x, 2, short_w, PB_IDX));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "gather_rows_per_block"));
  assert_non_null(strstr(bh_error_message(), "sum to 5"));
  assert_null(bh_gather_rows_per_block(ctx, x, 3, zero_w, PB_IDX));
  assert_non_null(strstr(bh_error_message(), "widths[1] = 0"));
  int bad[12];
  memcpy(bad, PB_IDX, sizeof bad);
  bad[9] = 4; /* block 2, row 1 */
  assert_null(bh_gather_rows_per_block(ctx, x, 3, PB_W, bad));
  assert_non_null(strstr(bh_error_message(), "gather_rows_per_block"));
  assert_non_null(strstr(bh_error_message(), "idx[9] = 4"));
  assert_null(bh_gather_rows_per_block(ctx, x, 0, PB_W, PB_IDX));
  assert_non_null(strstr(bh_error_message(), "gather_rows_per_block"));
  bh_ctx_free(ctx);
  bh_tensor_free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_concat_values),
      cmocka_unit_test(test_concat_grad),
      cmocka_unit_test(test_concat_rejects),
      cmocka_unit_test(test_slice_values),
      cmocka_unit_test(test_slice_grad),
      cmocka_unit_test(test_gather_rows_values),
      cmocka_unit_test(test_gather_rows_grad),
      cmocka_unit_test(test_gather_rows_rejects),
      cmocka_unit_test(test_per_block_keeps_units_together),
      cmocka_unit_test(test_per_block_grad),
      cmocka_unit_test(test_per_block_rejects),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
