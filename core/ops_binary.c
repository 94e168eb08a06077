/* ops_binary.c — y = a ∘ b for ∘ in {+, −, ×}, with b broadcast over a's [n×f] view.
 *
 * b may be: a's shape; one element; a row [f] or [1×f] (the same for every row of a); a column
 * [n×1] (one value per row).  All four reduce to one loop over "rows" of a, where b supplies
 * either a whole row of values (SAME, ROW) or a single value (SCALAR, COLUMN), and steps to its
 * next row or not.  SAME and SCALAR run as one long row, so every inner loop is long and
 * contiguous.  In backward, b's gradient is reduced back to b's shape along the same rows: whole
 * rows accumulate elementwise, single values take a row sum (double accumulator).
 */
#include "core/error.h"
#include "core/fastmath.h"
#include "core/ops.h"

enum { OP_ADD, OP_SUB, OP_MUL };

static const char *const OP_NAME[] = {"add", "sub", "mul"};

/* How b lines up with a: `rows` runs of `cols` elements of a; in run i, b's values start at
 * b + i·b_step and are either `cols` values (b_whole_row) or one. */
typedef struct bcast {
  size_t rows, cols, b_step;
  int b_whole_row;
} bcast;

/* Classify b against a; BH_EINVAL (message naming op) when b fits none of the four forms. */
static int bcast_classify(const char *op, const bh_tensor *a, const bh_tensor *b, bcast *g) {
  size_t n = (size_t)bh_tensor_rows(a), f = bh_tensor_cols(a);
  int is_row = (b->ndim == 1 && (size_t)b->shape[0] == f) ||
               (b->ndim == 2 && b->shape[0] == 1 && (size_t)b->shape[1] == f);
  int is_col = b->ndim == 2 && b->shape[1] == 1 && (size_t)b->shape[0] == n;
  if (bh_tensor_same_shape(a, b))
    *g = (bcast){1, a->size, 0, 1};
  else if (b->size == 1)
    *g = (bcast){1, a->size, 0, 0};
  else if (is_row)
    *g = (bcast){n, f, 0, 1};
  else if (is_col)
    *g = (bcast){n, f, 1, 0};
  else {
    bh_error_shapes(op, "b must have a's shape, one element, a's row shape [f] or [1 x f], or "
                        "a's column shape [n x 1]", a, b);
    return BH_EINVAL;
  }
  return BH_OK;
}

/* ---- kernels: y = a ∘ b over n elements, b a vector or a scalar ---- */

static void apply_vec(int op, const float *a, const float *b, float *y, size_t n) {
  switch (op) {
  case OP_ADD:
    for (size_t j = 0; j < n; j++) y[j] = a[j] + b[j];
    break;
  case OP_SUB:
    for (size_t j = 0; j < n; j++) y[j] = a[j] - b[j];
    break;
  default:
    for (size_t j = 0; j < n; j++) y[j] = a[j] * b[j];
  }
}

static void apply_scalar(int op, const float *a, float s, float *y, size_t n) {
  switch (op) {
  case OP_ADD:
    for (size_t j = 0; j < n; j++) y[j] = a[j] + s;
    break;
  case OP_SUB:
    for (size_t j = 0; j < n; j++) y[j] = a[j] - s;
    break;
  default:
    for (size_t j = 0; j < n; j++) y[j] = a[j] * s;
  }
}

/* d += g·w (w a vector) and d += g·s; s = ±1 multiplies exactly */
static void acc_mul_vec(float *d, const float *g, const float *w, size_t n) {
  for (size_t j = 0; j < n; j++) d[j] += g[j] * w[j];
}

static void acc_mul_scalar(float *d, const float *g, float s, size_t n) {
  for (size_t j = 0; j < n; j++) d[j] += g[j] * s;
}

/* ---- backward: da = dy (·b for mul), db = reduce(±dy or dy·a) to b's shape ---- */

static void binary_backward(bh_node *nd) {
  bh_tensor *a = nd->in[0], *b = nd->in[1], *y = nd->out;
  int op = nd->ip[0];
  bcast g;
  bcast_classify(OP_NAME[op], a, b, &g); /* succeeded in forward */
  const float *dy = y->grad;
  if (bh_tensor_requires_grad(a)) {
    float *da = bh_grad_acc(a);
    for (size_t i = 0; i < g.rows; i++) {
      size_t o = i * g.cols;
      const float *br = b->data + i * g.b_step;
      if (op != OP_MUL)
        acc_mul_scalar(da + o, dy + o, 1.0f, g.cols);
      else if (g.b_whole_row)
        acc_mul_vec(da + o, dy + o, br, g.cols);
      else
        acc_mul_scalar(da + o, dy + o, br[0], g.cols);
    }
  }
  if (bh_tensor_requires_grad(b)) {
    float *db = bh_grad_acc(b), sign = op == OP_SUB ? -1.0f : 1.0f;
    for (size_t i = 0; i < g.rows; i++) {
      size_t o = i * g.cols;
      float *dbr = db + i * g.b_step;
      if (g.b_whole_row && op == OP_MUL)
        acc_mul_vec(dbr, dy + o, a->data + o, g.cols);
      else if (g.b_whole_row)
        acc_mul_scalar(dbr, dy + o, sign, g.cols);
      else if (op == OP_MUL)
        dbr[0] += (float)bh_fast_dot_f64(dy + o, a->data + o, g.cols);
      else
        dbr[0] += sign * (float)bh_fast_sum_f64(dy + o, g.cols);
    }
  }
}

/* ---- forward: a [n×f] (any shape), b as above -> a's shape ---- */

static bh_tensor *binary_run(bh_ctx *ctx, int op, bh_tensor *a, bh_tensor *b) {
  if (!a || !b) return NULL;
  bcast g;
  if (bcast_classify(OP_NAME[op], a, b, &g) != BH_OK) return NULL;
  bh_tensor *y = bh_tensor_new(ctx, a->ndim, a->shape);
  if (!y) return NULL;
  for (size_t i = 0; i < g.rows; i++) {
    size_t o = i * g.cols;
    const float *br = b->data + i * g.b_step;
    if (g.b_whole_row)
      apply_vec(op, a->data + o, br, y->data + o, g.cols);
    else
      apply_scalar(op, a->data + o, br[0], y->data + o, g.cols);
  }
  bh_tensor *in[2] = {a, b};
  if (bh_ctx_wants_grad(ctx, 2, in)) {
    bh_node *nd = bh_ctx_record(ctx, OP_NAME[op], binary_backward, y, 2, in);
    if (!nd) return NULL;
    nd->ip[0] = op;
  }
  return y;
}

bh_tensor *bh_add(bh_ctx *ctx, bh_tensor *a, bh_tensor *b) { return binary_run(ctx, OP_ADD, a, b); }
bh_tensor *bh_sub(bh_ctx *ctx, bh_tensor *a, bh_tensor *b) { return binary_run(ctx, OP_SUB, a, b); }
bh_tensor *bh_mul(bh_ctx *ctx, bh_tensor *a, bh_tensor *b) { return binary_run(ctx, OP_MUL, a, b); }
