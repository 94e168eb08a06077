/* ops_matmul.c — matmul, linear and bias add over cblas_sgemm.
 *
 * Backward writes straight into the input gradients with sgemm's beta: 0 when the gradient is
 * still fresh in this pass (overwrite, no zero-fill), 1 when something already wrote it.
 */
#include <cblas.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"

static void gemm(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

/* ---- matmul: op(a) [m×k] · op(b) [k×n] -> [m×n] ---- */

static void matmul_backward(bh_node *nd) {
  bh_tensor *a = nd->in[0], *b = nd->in[1], *c = nd->out;
  int ta = nd->ip[0], tb = nd->ip[1], m = nd->ip[2], n = nd->ip[3], k = nd->ip[4];
  int lda = ta ? m : k, ldb = tb ? k : n;
  const float *dc = c->grad;
  if (bh_tensor_requires_grad(a)) {
    float beta = bh_grad_beta(a);
    if (!ta) /* dA [m×k] = dC · op(b)ᵀ */
      gemm(0, !tb, m, k, n, dc, n, b->data, ldb, beta, a->grad, lda);
    else /* A stored [k×m]: dA = op(b) · dCᵀ */
      gemm(tb, 1, k, m, n, b->data, ldb, dc, n, beta, a->grad, lda);
  }
  if (bh_tensor_requires_grad(b)) {
    float beta = bh_grad_beta(b);
    if (!tb) /* dB [k×n] = op(a)ᵀ · dC */
      gemm(!ta, 0, k, n, m, a->data, lda, dc, n, beta, b->grad, ldb);
    else /* B stored [n×k]: dB = dCᵀ · op(a) */
      gemm(1, ta, n, k, m, dc, n, a->data, lda, beta, b->grad, ldb);
  }
}

bh_tensor *bh_matmul(bh_ctx *ctx, bh_tensor *a, bh_tensor *b, int trans_a, int trans_b) {
  if (!a || !b) return NULL;
  if (a->ndim != 2 || b->ndim != 2) return bh_error_shapes("matmul", "inputs must be 2-D", a, b);
  int m = trans_a ? a->shape[1] : a->shape[0], k = trans_a ? a->shape[0] : a->shape[1];
  int kb = trans_b ? b->shape[1] : b->shape[0], n = trans_b ? b->shape[0] : b->shape[1];
  if (k != kb) return bh_error_shapes("matmul", "inner dimensions differ", a, b);
  bh_tensor *c = bh_tensor_new2(ctx, m, n);
  if (!c) return NULL;
  gemm(trans_a, trans_b, m, n, k, a->data, trans_a ? m : k, b->data, trans_b ? k : n, 0.0f,
       c->data, n);
  bh_tensor *in[2] = {a, b};
  if (bh_ctx_wants_grad(ctx, 2, in)) {
    bh_node *nd = bh_ctx_record(ctx, "matmul", matmul_backward, c, 2, in);
    if (!nd) return NULL;
    nd->ip[0] = trans_a, nd->ip[1] = trans_b, nd->ip[2] = m, nd->ip[3] = n, nd->ip[4] = k;
  }
  return c;
}

/* ---- bias gradient: db[j] += Σ_i dy[i, j] (per column) or Σ over a channel's pixels ---- */

static void bias_grad(bh_tensor *b, const float *dy, int n, int f, int plane) {
  float *db = bh_grad_acc(b);
  if (plane == 1) {
    for (int i = 0; i < n; i++) {
      const float *row = dy + (size_t)i * f;
      for (int j = 0; j < f; j++) db[j] += row[j];
    }
    return;
  }
  for (int i = 0; i < n; i++)
    for (int c = 0; c < f; c++) {
      const float *p = dy + ((size_t)i * f + c) * plane;
      float s = 0.0f;
      for (int q = 0; q < plane; q++) s += p[q];
      db[c] += s;
    }
}

/* ---- linear: x [n×in], w [out×in], b [out] -> y = x wᵀ + b [n×out] ---- */

static void linear_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
  int n = nd->ip[0], fin = nd->ip[1], fout = nd->ip[2];
  const float *dy = y->grad;
  if (bh_tensor_requires_grad(x)) /* dx [n×in] = dy [n×out] · w [out×in] */
    gemm(0, 0, n, fin, fout, dy, fout, w->data, fin, bh_grad_beta(x), x->grad, fin);
  if (bh_tensor_requires_grad(w)) /* dw [out×in] = dyᵀ [out×n] · x [n×in] */
    gemm(1, 0, fout, fin, n, dy, fout, x->data, fin, bh_grad_beta(w), w->grad, fin);
  if (b && bh_tensor_requires_grad(b)) bias_grad(b, dy, n, fout, 1);
}

bh_tensor *bh_linear(bh_ctx *ctx, bh_tensor *x, bh_tensor *w, bh_tensor *b) {
  if (!x || !w) return NULL;
  int n = bh_tensor_rows(x), fin = (int)bh_tensor_cols(x);
  if (w->ndim != 2 || w->shape[1] != fin)
    return bh_error_shapes("linear", "weight must be [out x in] with in = input columns", x, w);
  int fout = w->shape[0];
  if (b && (int)b->size != fout)
    return bh_error_shapes("linear", "bias size must equal the output width", w, b);
  bh_tensor *y = bh_tensor_new2(ctx, n, fout);
  if (!y) return NULL;
  if (b)
    for (int i = 0; i < n; i++) memcpy(y->data + (size_t)i * fout, b->data, fout * sizeof(float));
  gemm(0, 1, n, fout, fin, x->data, fin, w->data, fin, b ? 1.0f : 0.0f, y->data, fout);
  bh_tensor *in[3] = {x, w, b};
  if (bh_ctx_wants_grad(ctx, b ? 3 : 2, in)) {
    bh_node *nd = bh_ctx_record(ctx, "linear", linear_backward, y, 3, in);
    if (!nd) return NULL;
    nd->ip[0] = n, nd->ip[1] = fin, nd->ip[2] = fout;
  }
  return y;
}

/* ---- bias add: x [n×f] + b [f], or x [n×c×h×w] + b [c] per channel ---- */

static void bias_add_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0], *b = nd->in[1], *y = nd->out;
  int n = nd->ip[0], f = nd->ip[1], plane = nd->ip[2];
  if (bh_tensor_requires_grad(x)) {
    float *dx = bh_grad_acc(x);
    for (size_t i = 0; i < y->size; i++) dx[i] += y->grad[i];
  }
  if (bh_tensor_requires_grad(b)) bias_grad(b, y->grad, n, f, plane);
}

bh_tensor *bh_bias_add(bh_ctx *ctx, bh_tensor *x, bh_tensor *b) {
  if (!x || !b) return NULL;
  int n = bh_tensor_rows(x), f, plane;
  if (x->ndim == 4) {
    f = x->shape[1];
    plane = x->shape[2] * x->shape[3];
  } else {
    f = (int)bh_tensor_cols(x);
    plane = 1;
  }
  if ((int)b->size != f)
    return bh_error_shapes("bias_add", "bias size must equal the features (or channels)", x, b);
  bh_tensor *y = bh_tensor_new(ctx, x->ndim, x->shape);
  if (!y) return NULL;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < f; c++) {
      const float *px = x->data + ((size_t)i * f + c) * plane;
      float *py = y->data + ((size_t)i * f + c) * plane;
      for (int q = 0; q < plane; q++) py[q] = px[q] + b->data[c];
    }
  bh_tensor *in[2] = {x, b};
  if (bh_ctx_wants_grad(ctx, 2, in)) {
    bh_node *nd = bh_ctx_record(ctx, "bias_add", bias_add_backward, y, 2, in);
    if (!nd) return NULL;
    nd->ip[0] = n, nd->ip[1] = f, nd->ip[2] = plane;
  }
  return y;
}
