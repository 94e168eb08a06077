/* ops_reduce.c — sums, means, logsumexp, and the row-wise softmax family.
 *
 * x is read as an n×f matrix (rows = shape[0]).  Axis: BH_AXIS_ALL -> [1], BH_AXIS_ROWS (reduce
 * over the rows, one value per column) -> [f], BH_AXIS_COLS (over the columns, one value per
 * row) -> [n].  Sums over a whole tensor or along a row accumulate in double
 * (bh_fast_sum_f64): losses are sums of many terms.  Column sums (ROWS) accumulate in a double
 * scratch row, vectorised across columns.
 *
 * Exponentials are max-shifted: e^{x − m} ≤ 1, so nothing overflows at logits of ±1000.
 * Infinite lines: logsumexp of an all −inf line is −inf (log 0) with a zero gradient, and any
 * line holding +inf gives +inf, also with a zero gradient.  softmax, log_softmax and the entropy
 * of an all −inf row are undefined and come out NaN.
 */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/fastmath.h"
#include "core/ops.h"

/* ---- shared helpers ---- */

static int axis_valid(const char *op, int axis) {
  if (axis == BH_AXIS_ALL || axis == BH_AXIS_ROWS || axis == BH_AXIS_COLS) return 1;
  bh_error(BH_EINVAL, "%s: axis %d is not BH_AXIS_ALL (-1), BH_AXIS_ROWS (0) or BH_AXIS_COLS (1)",
           op, axis);
  return 0;
}

/* The reduced tensor: [1], [f] or [n]. */
static bh_tensor *reduced_new(bh_ctx *ctx, const bh_tensor *x, int axis) {
  if (axis == BH_AXIS_ALL) return bh_tensor_new1(ctx, 1);
  if (axis == BH_AXIS_ROWS) return bh_tensor_new1(ctx, (int)bh_tensor_cols(x));
  return bh_tensor_new1(ctx, bh_tensor_rows(x));
}

static int is_finite(float v) { return fabsf(v) < INFINITY; }

/* e[j] = e^{x[j] − m} over a row of c values with max m, and log Σ_j e[j] in double.  The max
 * term is exactly 1, so the log is taken as log1p(sum of the others): a near one-hot row keeps
 * its tiny entropy and log-probability instead of rounding 1 + 1e-26 to 1.  (For m = ±inf or a
 * NaN the result is not finite anyway and comes from the plain sum.) */
static double log_sum_exp_shifted(const float *x, size_t c, float m, float *e) {
  for (size_t j = 0; j < c; j++) e[j] = bh_fast_expf(x[j] - m);
  size_t top = 0;
  while (top < c && !(x[top] == m)) top++;
  if (!is_finite(m) || top == c) return log(bh_fast_sum_f64(e, c));
  e[top] = 0.0f;
  double rest = bh_fast_sum_f64(e, c);
  e[top] = 1.0f;
  return log1p(rest);
}

/* ---- sum and mean: x [n×f] -> [1] / [f] / [n], times `scale` (1 or 1/count) ---- */

static void sum_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0];
  int axis = nd->ip[0];
  size_t n = (size_t)bh_tensor_rows(x), f = bh_tensor_cols(x);
  float scale = nd->fp[0], *dx = bh_grad_acc(x);
  const float *g = nd->out->grad;
  if (axis == BH_AXIS_ALL) { /* dx += s·g */
    float gs = scale * g[0];
    for (size_t i = 0; i < x->size; i++) dx[i] += gs;
  } else if (axis == BH_AXIS_ROWS) { /* dx[i, j] += s·g[j] */
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < f; j++) dx[i * f + j] += scale * g[j];
  } else { /* dx[i, j] += s·g[i] */
    for (size_t i = 0; i < n; i++) {
      float gs = scale * g[i];
      for (size_t j = 0; j < f; j++) dx[i * f + j] += gs;
    }
  }
}

static bh_tensor *sum_run(bh_ctx *ctx, bh_tensor *x, int axis, const char *op, int mean) {
  if (!x || !axis_valid(op, axis)) return NULL;
  size_t n = (size_t)bh_tensor_rows(x), f = bh_tensor_cols(x);
  size_t count = axis == BH_AXIS_ALL ? x->size : axis == BH_AXIS_ROWS ? n : f;
  double scale = mean ? 1.0 / (double)count : 1.0;
  bh_tensor *y = reduced_new(ctx, x, axis);
  if (!y) return NULL;
  if (axis == BH_AXIS_ALL) {
    y->data[0] = (float)(scale * bh_fast_sum_f64(x->data, x->size));
  } else if (axis == BH_AXIS_ROWS) {
    double *acc = bh_ctx_push(ctx, (f ? f : 1) * sizeof(double));
    if (!acc) return NULL;
    memset(acc, 0, f * sizeof(double));
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < f; j++) acc[j] += (double)x->data[i * f + j];
    for (size_t j = 0; j < f; j++) y->data[j] = (float)(scale * acc[j]);
  } else {
    for (size_t i = 0; i < n; i++) y->data[i] = (float)(scale * bh_fast_sum_f64(x->data + i * f, f));
  }
  if (bh_ctx_wants_grad(ctx, 1, &x)) {
    bh_node *nd = bh_ctx_record(ctx, op, sum_backward, y, 1, &x);
    if (!nd) return NULL;
    nd->ip[0] = axis;
    nd->fp[0] = (float)scale;
  }
  return y;
}

bh_tensor *bh_sum(bh_ctx *ctx, bh_tensor *x, int axis) { return sum_run(ctx, x, axis, "sum", 0); }
bh_tensor *bh_mean(bh_ctx *ctx, bh_tensor *x, int axis) { return sum_run(ctx, x, axis, "mean", 1); }

/* ---- logsumexp: x [n×f] -> [1] / [f] / [n]; y = m + log Σ e^{x − m}, m the max ----
 * Forward keeps, per output line, the max m and ls = log Σ e^{x − m}; backward forms the weights
 * as e^{(x − m) − ls}, which is exact where e^{x − y} would inherit the rounding of y (at
 * y ≈ 1000 that is 3e-5 relative). */

/* Per line: m and ls, or m = ±inf (all −inf, or a +inf) with ls = 0; e (n floats) is scratch. */
static void lse_line(const float *x, size_t n, float *e, float *m, float *ls) {
  *m = bh_fast_max_array(x, n);
  *ls = is_finite(*m) ? (float)log_sum_exp_shifted(x, n, *m, e) : 0.0f;
}

/* Column-wise (BH_AXIS_ROWS): the max and the sum run across each row of x at once, so every
 * loop is contiguous and vectorised over the columns. */
static int lse_columns(bh_ctx *ctx, const float *x, size_t n, size_t f, float *m, float *ls) {
  float *e = bh_ctx_push(ctx, (f ? f : 1) * sizeof(float));
  double *s = bh_ctx_push(ctx, (f ? f : 1) * sizeof(double));
  if (!e || !s) return BH_ENOMEM;
  for (size_t j = 0; j < f; j++) m[j] = -INFINITY, s[j] = 0.0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < f; j++) m[j] = x[i * f + j] > m[j] ? x[i * f + j] : m[j];
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < f; j++) e[j] = bh_fast_expf(x[i * f + j] - m[j]);
    for (size_t j = 0; j < f; j++) s[j] += (double)e[j];
  }
  for (size_t j = 0; j < f; j++) ls[j] = is_finite(m[j]) ? (float)log(s[j]) : 0.0f;
  return BH_OK;
}

/* g·softmax weight of x in a line with max m and log-sum ls; 0 where m is infinite (the
 * gradient of an all −inf or a +inf line is taken as zero).  The select keeps the
 * exponential unconditional so the loops vectorise. */
static inline float lse_grad(float x, float m, float ls, float g) {
  return bh_fm_select(is_finite(m), g * bh_fast_expf((x - m) - ls), 0.0f);
}

static void logsumexp_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0];
  int axis = nd->ip[0];
  size_t n = (size_t)bh_tensor_rows(x), f = bh_tensor_cols(x), lines = nd->out->size;
  const float *m = nd->saved, *ls = m + lines, *g = nd->out->grad, *xd = x->data;
  float *dx = bh_grad_acc(x);
  if (axis == BH_AXIS_ALL) {
    for (size_t i = 0; i < x->size; i++) dx[i] += lse_grad(xd[i], m[0], ls[0], g[0]);
  } else if (axis == BH_AXIS_ROWS) {
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < f; j++) dx[i * f + j] += lse_grad(xd[i * f + j], m[j], ls[j], g[j]);
  } else {
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < f; j++) dx[i * f + j] += lse_grad(xd[i * f + j], m[i], ls[i], g[i]);
  }
}

bh_tensor *bh_logsumexp(bh_ctx *ctx, bh_tensor *x, int axis) {
  if (!x || !axis_valid("logsumexp", axis)) return NULL;
  size_t n = (size_t)bh_tensor_rows(x), f = bh_tensor_cols(x);
  bh_tensor *y = reduced_new(ctx, x, axis);
  if (!y) return NULL;
  size_t lines = y->size;
  float *m = bh_ctx_push(ctx, (lines ? 2 * lines : 1) * sizeof(float)), *ls = m + lines;
  if (!m) return NULL;
  if (axis == BH_AXIS_ROWS) {
    if (lse_columns(ctx, x->data, n, f, m, ls) != BH_OK) return NULL;
  } else {
    size_t len = axis == BH_AXIS_ALL ? x->size : f;
    float *e = bh_ctx_push(ctx, (len ? len : 1) * sizeof(float));
    if (!e) return NULL;
    for (size_t i = 0; i < lines; i++) lse_line(x->data + i * len, len, e, m + i, ls + i);
  }
  for (size_t i = 0; i < lines; i++)
    y->data[i] = is_finite(m[i]) ? (float)((double)m[i] + (double)ls[i]) : m[i];
  if (bh_ctx_wants_grad(ctx, 1, &x)) {
    bh_node *nd = bh_ctx_record(ctx, "logsumexp", logsumexp_backward, y, 1, &x);
    if (!nd) return NULL;
    nd->ip[0] = axis;
    nd->saved = m;
  }
  return y;
}

/* ---- softmax: x [n×c] -> [n×c] along rows; dx = y ⊙ (dy − Σ_j dy_j y_j) ---- */

static void softmax_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0], *y = nd->out;
  size_t n = (size_t)bh_tensor_rows(x), c = bh_tensor_cols(x);
  float *dx = bh_grad_acc(x);
  for (size_t i = 0; i < n; i++) {
    const float *yr = y->data + i * c, *gr = y->grad + i * c;
    float *dxr = dx + i * c, dot = (float)bh_fast_dot_f64(gr, yr, c);
    for (size_t j = 0; j < c; j++) dxr[j] += yr[j] * (gr[j] - dot);
  }
}

bh_tensor *bh_softmax(bh_ctx *ctx, bh_tensor *x) {
  if (!x) return NULL;
  size_t n = (size_t)bh_tensor_rows(x), c = bh_tensor_cols(x);
  bh_tensor *y = bh_tensor_new(ctx, x->ndim, x->shape);
  if (!y) return NULL;
  for (size_t i = 0; i < n; i++) {
    const float *xr = x->data + i * c;
    float *yr = y->data + i * c, m = bh_fast_max_array(xr, c);
    for (size_t j = 0; j < c; j++) yr[j] = bh_fast_expf(xr[j] - m);
    float inv = (float)(1.0 / bh_fast_sum_f64(yr, c));
    for (size_t j = 0; j < c; j++) yr[j] *= inv;
  }
  if (bh_ctx_wants_grad(ctx, 1, &x) && !bh_ctx_record(ctx, "softmax", softmax_backward, y, 1, &x))
    return NULL;
  return y;
}

/* ---- log_softmax: x [n×c] -> [n×c]; y = (x − m) − log Σ e^{x − m}; dx = dy − e^y·Σ_j dy_j ---- */

static void log_softmax_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0], *y = nd->out;
  size_t n = (size_t)bh_tensor_rows(x), c = bh_tensor_cols(x);
  float *dx = bh_grad_acc(x);
  for (size_t i = 0; i < n; i++) {
    const float *yr = y->data + i * c, *gr = y->grad + i * c;
    float *dxr = dx + i * c, gsum = (float)bh_fast_sum_f64(gr, c);
    for (size_t j = 0; j < c; j++) dxr[j] += gr[j] - bh_fast_expf(yr[j]) * gsum;
  }
}

bh_tensor *bh_log_softmax(bh_ctx *ctx, bh_tensor *x) {
  if (!x) return NULL;
  size_t n = (size_t)bh_tensor_rows(x), c = bh_tensor_cols(x);
  bh_tensor *y = bh_tensor_new(ctx, x->ndim, x->shape);
  if (!y) return NULL;
  for (size_t i = 0; i < n; i++) {
    const float *xr = x->data + i * c;
    float *yr = y->data + i * c, m = bh_fast_max_array(xr, c);
    float ls = (float)log_sum_exp_shifted(xr, c, m, yr); /* yr as scratch */
    /* x − m first: exact for nearby values, so large logits (±1000) lose nothing */
    for (size_t j = 0; j < c; j++) yr[j] = (xr[j] - m) - ls;
  }
  if (bh_ctx_wants_grad(ctx, 1, &x) &&
      !bh_ctx_record(ctx, "log_softmax", log_softmax_backward, y, 1, &x))
    return NULL;
  return y;
}

/* ---- softmax entropy: x [n×c] logits -> [n]; H = −Σ p log p ----
 * With m the row max, s = Σ e^{x−m} and p = e^{x−m}/s:
 *   H = log s + d̄,  d̄ = Σ_j p_j (m − x_j) ≥ 0,
 * a sum of two non-negative terms, so a near one-hot row gives a tiny H without cancelling two
 * large numbers (lse − Σ p x would lose ~ulp(max logit)).
 *   dH/dx_k = −p_k ((x_k − m) + d̄)      (from d log p_j/dx_k = δ_jk − p_k)
 * A logit of −inf has p = 0 and contributes 0 to H and to the gradient.
 * Saved per row for backward: m, log s, d̄. */

static void softmax_entropy_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0];
  size_t n = (size_t)bh_tensor_rows(x), c = bh_tensor_cols(x);
  const float *saved = nd->saved, *g = nd->out->grad;
  float *dx = bh_grad_acc(x);
  for (size_t i = 0; i < n; i++) {
    const float *xr = x->data + i * c;
    float *dxr = dx + i * c, m = saved[3 * i], ls = saved[3 * i + 1], dbar = saved[3 * i + 2];
    for (size_t j = 0; j < c; j++) {
      float d = xr[j] - m, p = bh_fast_expf(d - ls);
      dxr[j] += bh_fm_select(p > 0.0f, -g[i] * p * (d + dbar), 0.0f);
    }
  }
}

/* H of one row; e (c floats) is scratch; writes m, log s, d̄ to keep[0..2]. */
static float entropy_row(const float *x, size_t c, float *e, float *keep) {
  float m = bh_fast_max_array(x, c);
  double ls = log_sum_exp_shifted(x, c, m, e), s = exp(ls);
  for (size_t j = 0; j < c; j++) e[j] = bh_fm_select(e[j] > 0.0f, e[j] * (m - x[j]), 0.0f);
  double dbar = bh_fast_sum_f64(e, c) / s;
  keep[0] = m, keep[1] = (float)ls, keep[2] = (float)dbar;
  return (float)(ls + dbar);
}

bh_tensor *bh_softmax_entropy(bh_ctx *ctx, bh_tensor *x) {
  if (!x) return NULL;
  size_t n = (size_t)bh_tensor_rows(x), c = bh_tensor_cols(x);
  bh_tensor *y = bh_tensor_new1(ctx, (int)n);
  float *e = bh_ctx_push(ctx, (c ? c : 1) * sizeof(float));
  float *keep = bh_ctx_push(ctx, (n ? 3 * n : 1) * sizeof(float));
  if (!y || !e || !keep) return NULL;
  for (size_t i = 0; i < n; i++) y->data[i] = entropy_row(x->data + i * c, c, e, keep + 3 * i);
  if (bh_ctx_wants_grad(ctx, 1, &x)) {
    bh_node *nd = bh_ctx_record(ctx, "softmax_entropy", softmax_entropy_backward, y, 1, &x);
    if (!nd) return NULL;
    nd->saved = keep;
  }
  return y;
}
