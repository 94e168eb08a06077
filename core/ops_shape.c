/* ops_shape.c — concat and slice along the feature axis, row gathers (whole rows, or each
 * column block through its own index array).
 *
 * Every op here only moves floats, so backward moves them back: a straight copy into a gradient
 * that is still fresh in this pass (no zero-fill), an add otherwise.  Gathers may repeat rows, so
 * their backward scatter-adds into a zero-filled (bh_grad_acc) buffer.
 */
#include <string.h>

#include "core/error.h"
#include "core/ops.h"

/* dst[i·ld_dst + 0..w-1] (+)= src[i·ld_src + 0..w-1] for n rows: the gradient of a column block.
 * `fresh` overwrites instead of adding (the destination holds no value yet in this pass). */
static void rows_put(float *restrict dst, size_t ld_dst, const float *restrict src, size_t ld_src,
                     int n, size_t w, int fresh) {
  for (int i = 0; i < n; i++) {
    float *d = dst + (size_t)i * ld_dst;
    const float *s = src + (size_t)i * ld_src;
    if (fresh)
      memcpy(d, s, w * sizeof(float));
    else
      for (size_t j = 0; j < w; j++) d[j] += s[j];
  }
}

/* True (and t's grad marked written) when t's gradient is fresh: the first writer may overwrite
 * it instead of zero-filling and adding.  Only valid when the writer covers the whole buffer. */
static int grad_take_fresh(bh_tensor *t) { return bh_grad_beta(t) == 0.0f; }

/* Check that each of the m indices lies in 0..n-1; BH_EINVAL naming op and position if not. */
static int check_indices(const char *op, const int *idx, size_t m, int n) {
  if (!idx) return bh_error(BH_EINVAL, "%s: the index array is NULL", op);
  for (size_t i = 0; i < m; i++)
    if (idx[i] < 0 || idx[i] >= n)
      return bh_error(BH_EINVAL, "%s: idx[%zu] = %d is out of range 0..%d", op, i, idx[i], n - 1);
  return BH_OK;
}

/* ---- concat: xs[k] [n×f_k] -> [n×Σf_k] ---- */

/* The inputs are saved as an arena array, since k may exceed BH_NODE_MAX_IN; the node's in[]
 * holds the first few only (for profiles). */
typedef struct concat_saved {
  int k;
  bh_tensor **xs;
} concat_saved;

static void concat_backward(bh_node *nd) {
  const concat_saved *s = nd->saved;
  bh_tensor *y = nd->out;
  int n = bh_tensor_rows(y);
  size_t ftot = bh_tensor_cols(y), off = 0;
  for (int b = 0; b < s->k; b++) {
    bh_tensor *x = s->xs[b];
    size_t f = bh_tensor_cols(x);
    if (bh_tensor_requires_grad(x)) {
      int fresh = grad_take_fresh(x);
      rows_put(x->grad, f, y->grad + off, ftot, n, f, fresh);
    }
    off += f;
  }
}

bh_tensor *bh_concat(bh_ctx *ctx, bh_tensor *const *xs, int k) {
  if (!xs || k < 1) {
    bh_error(BH_EINVAL, "concat: need at least one input (k = %d)", k);
    return NULL;
  }
  for (int b = 0; b < k; b++)
    if (!xs[b]) return NULL;
  int n = bh_tensor_rows(xs[0]);
  size_t ftot = 0;
  for (int b = 0; b < k; b++) {
    if (bh_tensor_rows(xs[b]) != n)
      return bh_error_shapes("concat", "inputs must have the same number of rows", xs[0], xs[b]);
    ftot += bh_tensor_cols(xs[b]);
  }
  bh_tensor *y = bh_tensor_new2(ctx, n, (int)ftot);
  if (!y) return NULL;
  size_t off = 0;
  for (int b = 0; b < k; b++) {
    size_t f = bh_tensor_cols(xs[b]);
    rows_put(y->data + off, ftot, xs[b]->data, f, n, f, 1);
    off += f;
  }
  if (bh_ctx_wants_grad(ctx, k, xs)) {
    concat_saved *s = bh_ctx_push(ctx, sizeof *s);
    bh_tensor **copy = bh_ctx_push(ctx, (size_t)k * sizeof *copy);
    if (!s || !copy) return NULL;
    memcpy(copy, xs, (size_t)k * sizeof *copy);
    s->k = k, s->xs = copy;
    bh_node *nd = bh_ctx_record(ctx, "concat", concat_backward, y,
                                k < BH_NODE_MAX_IN ? k : BH_NODE_MAX_IN, xs);
    if (!nd) return NULL;
    nd->saved = s;
  }
  return y;
}

/* ---- slice: x [n×f] -> [n×len], columns start..start+len-1 ---- */

static void slice_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0], *y = nd->out;
  int start = nd->ip[0], len = nd->ip[1];
  /* the other columns get no gradient, so they must read zero: zero-fill, then add */
  float *gx = bh_grad_acc(x);
  rows_put(gx + start, bh_tensor_cols(x), y->grad, (size_t)len, bh_tensor_rows(x), (size_t)len, 0);
}

bh_tensor *bh_slice(bh_ctx *ctx, bh_tensor *x, int start, int len) {
  if (!x) return NULL;
  int n = bh_tensor_rows(x);
  size_t f = bh_tensor_cols(x);
  if (start < 0 || len < 1 || (size_t)start + (size_t)len > f) {
    char s[64];
    bh_error(BH_EINVAL, "slice: columns %d..%d (start %d, len %d) outside the %zu columns of %s",
             start, start + len - 1, start, len, f, bh_tensor_shape_str(x, s, sizeof s));
    return NULL;
  }
  bh_tensor *y = bh_tensor_new2(ctx, n, len);
  if (!y) return NULL;
  rows_put(y->data, (size_t)len, x->data + start, f, n, (size_t)len, 1);
  if (bh_ctx_wants_grad(ctx, 1, &x)) {
    bh_node *nd = bh_ctx_record(ctx, "slice", slice_backward, y, 1, &x);
    if (!nd) return NULL;
    nd->ip[0] = start, nd->ip[1] = len;
  }
  return y;
}

/* ---- gather_rows: x [n×f], idx [m] -> [m×f] (x's trailing shape kept), out[i] = x[idx[i]] ---- */

static void gather_rows_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0], *y = nd->out;
  const int *idx = nd->saved;
  int m = bh_tensor_rows(y);
  size_t f = bh_tensor_cols(x);
  /* rows may repeat or be missing: scatter-add into a zero-filled gradient */
  float *gx = bh_grad_acc(x);
  for (int i = 0; i < m; i++) {
    float *restrict d = gx + (size_t)idx[i] * f;
    const float *restrict s = y->grad + (size_t)i * f;
    for (size_t j = 0; j < f; j++) d[j] += s[j];
  }
}

bh_tensor *bh_gather_rows(bh_ctx *ctx, bh_tensor *x, const int *idx, int m) {
  if (!x) return NULL;
  int n = bh_tensor_rows(x);
  if (m < 1) {
    bh_error(BH_EINVAL, "gather_rows: need at least one index (m = %d)", m);
    return NULL;
  }
  if (check_indices("gather_rows", idx, (size_t)m, n) != BH_OK) return NULL;
  int shape[BH_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[0] = m;
  bh_tensor *y = bh_tensor_new(ctx, x->ndim, shape);
  if (!y) return NULL;
  size_t f = bh_tensor_cols(x);
  for (int i = 0; i < m; i++)
    memcpy(y->data + (size_t)i * f, x->data + (size_t)idx[i] * f, f * sizeof(float));
  if (bh_ctx_wants_grad(ctx, 1, &x)) {
    bh_node *nd = bh_ctx_record(ctx, "gather_rows", gather_rows_backward, y, 1, &x);
    if (!nd) return NULL;
    nd->saved = (void *)idx; /* the caller keeps idx valid until backward (ops.h) */
  }
  return y;
}

/* ---- gather_rows_per_block: x [n×f] -> [n×f]; block b: out[i, b] = x[idx[b·n+i], b] ---- */

/* widths and idx are the caller's arrays, valid until backward (ops.h). */
typedef struct per_block_saved {
  const int *widths, *idx;
} per_block_saved;

static void per_block_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0], *y = nd->out;
  const per_block_saved *s = nd->saved;
  int n = bh_tensor_rows(x), nblocks = nd->ip[0];
  size_t f = bh_tensor_cols(x), start = 0;
  float *gx = bh_grad_acc(x); /* scatter: a row index may repeat within a block */
  for (int b = 0; b < nblocks; b++) {
    const int *ib = s->idx + (size_t)b * n;
    size_t w = (size_t)s->widths[b];
    for (int i = 0; i < n; i++) {
      float *restrict d = gx + (size_t)ib[i] * f + start;
      const float *restrict g = y->grad + (size_t)i * f + start;
      for (size_t j = 0; j < w; j++) d[j] += g[j];
    }
    start += w;
  }
}

bh_tensor *bh_gather_rows_per_block(bh_ctx *ctx, bh_tensor *x, int nblocks, const int *widths,
                                    const int *idx) {
  if (!x) return NULL;
  int n = bh_tensor_rows(x);
  size_t f = bh_tensor_cols(x), sum = 0;
  if (nblocks < 1 || !widths) {
    bh_error(BH_EINVAL, "gather_rows_per_block: need at least one block width (nblocks = %d)",
             nblocks);
    return NULL;
  }
  for (int b = 0; b < nblocks; b++) {
    if (widths[b] < 1) {
      bh_error(BH_EINVAL, "gather_rows_per_block: widths[%d] = %d must be positive", b,
               widths[b]);
      return NULL;
    }
    sum += (size_t)widths[b];
  }
  if (sum != f) {
    bh_error(BH_EINVAL, "gather_rows_per_block: block widths sum to %zu, x has %zu columns", sum,
             f);
    return NULL;
  }
  if (check_indices("gather_rows_per_block", idx, (size_t)nblocks * n, n) != BH_OK) return NULL;
  bh_tensor *y = bh_tensor_new(ctx, x->ndim, x->shape);
  if (!y) return NULL;
  size_t start = 0;
  for (int b = 0; b < nblocks; b++) {
    const int *ib = idx + (size_t)b * n;
    size_t w = (size_t)widths[b];
    for (int i = 0; i < n; i++) {
      float *restrict d = y->data + (size_t)i * f + start;
      const float *restrict s = x->data + (size_t)ib[i] * f + start;
      for (size_t j = 0; j < w; j++) d[j] = s[j];
    }
    start += w;
  }
  if (bh_ctx_wants_grad(ctx, 1, &x)) {
    per_block_saved *s = bh_ctx_push(ctx, sizeof *s);
    if (!s) return NULL;
    s->widths = widths, s->idx = idx;
    bh_node *nd = bh_ctx_record(ctx, "gather_rows_per_block", per_block_backward, y, 1, &x);
    if (!nd) return NULL;
    nd->ip[0] = nblocks;
    nd->saved = s;
  }
  return y;
}
