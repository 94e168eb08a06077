/* ops_unary.c — elementwise ops: x (any shape) -> y (same shape).
 *
 * Every op is a forward loop and a backward loop over the flat data, run by unary_run(), which
 * allocates y in the arena and records the backward when x needs a gradient.  Backward
 * accumulates dx += dy·f'(x) and, where it is cheaper, reads f' off the saved output y instead of
 * recomputing f (tanh: 1 − y², sigmoid: y(1 − y), exp: y).  tanh, sigmoid, exp, log and softplus
 * use core/fastmath.h: vectorised, within 2e-7 relative of libm, and faster than glibc's scalar
 * calls by 1.2× (exp, sigmoid), 1.5× (log), 3× (softplus) and 5× (tanh: 1.8 ns per element).
 */
#include "core/fastmath.h"
#include "core/ops.h"
#include "core/threads.h"

/* y[i] = f(x[i]) for n elements; p is the op's float parameter (slope, scale, constant). */
typedef void (*unary_forward_fn)(const float *x, float *y, size_t n, float p);

/* Large forwards are split over the thread pool (elementwise, so the result does not depend on
 * the split); below this many elements a second thread costs more than it saves. */
#define UNARY_GRAIN 32768

typedef struct unary_job {
  unary_forward_fn forward;
  const float *x;
  float *y;
  float p;
} unary_job;

static void unary_part(size_t begin, size_t end, void *arg) {
  const unary_job *j = arg;
  j->forward(j->x + begin, j->y + begin, end - begin, j->p);
}

/* Forward into a new tensor shaped like x, and record `backward` (with fp[0] = p) when x needs
 * a gradient.  NULL in, NULL out. */
static bh_tensor *unary_run(bh_ctx *ctx, bh_tensor *x, const char *op, unary_forward_fn forward,
                            bh_backward_fn backward, float p) {
  if (!x) return NULL;
  bh_tensor *y = bh_tensor_new(ctx, x->ndim, x->shape);
  if (!y) return NULL;
  unary_job job = {forward, x->data, y->data, p};
  bh_parallel_for(x->size, UNARY_GRAIN, unary_part, &job);
  if (bh_ctx_wants_grad(ctx, 1, &x)) {
    bh_node *nd = bh_ctx_record(ctx, op, backward, y, 1, &x);
    if (!nd) return NULL;
    nd->fp[0] = p;
  }
  return y;
}

/* ---- relu: y = max(x, 0); dx = dy where y > 0 ---- */

static void relu_forward(const float *x, float *y, size_t n, float p) {
  (void)p;
  for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN passes through */
}

static void relu_backward(bh_node *nd) {
  const float *y = nd->out->data, *dy = nd->out->grad;
  float *dx = bh_grad_acc(nd->in[0]);
  for (size_t i = 0; i < nd->out->size; i++) {
    float g = dy[i]; /* loaded unconditionally, so the select vectorises */
    dx[i] += y[i] > 0.0f ? g : 0.0f;
  }
}

bh_tensor *bh_relu(bh_ctx *ctx, bh_tensor *x) {
  return unary_run(ctx, x, "relu", relu_forward, relu_backward, 0.0f);
}

/* ---- leaky relu: y = x for x ≥ 0, slope·x below; dx = dy or slope·dy by the sign of x ---- */

static void leaky_relu_forward(const float *x, float *y, size_t n, float slope) {
  /* a select of the factor (bh_fm_select: see fastmath.h), then an unconditional multiply;
   * with a plain `?:` gcc turns x·1 back into a branch around the multiply (no vectorising) */
  for (size_t i = 0; i < n; i++) y[i] = x[i] * bh_fm_select(x[i] < 0.0f, slope, 1.0f);
}

static void leaky_relu_backward(bh_node *nd) {
  const float *x = nd->in[0]->data, *dy = nd->out->grad;
  float slope = nd->fp[0], *dx = bh_grad_acc(nd->in[0]);
  /* the sign of x, not of y: y's sign equals x's only for a positive slope */
  for (size_t i = 0; i < nd->out->size; i++) dx[i] += dy[i] * bh_fm_select(x[i] < 0.0f, slope, 1.0f);
}

bh_tensor *bh_leaky_relu(bh_ctx *ctx, bh_tensor *x, float slope) {
  return unary_run(ctx, x, "leaky_relu", leaky_relu_forward, leaky_relu_backward, slope);
}

/* ---- tanh: dx = dy·(1 − y²) ---- */

static void tanh_forward(const float *x, float *y, size_t n, float p) {
  (void)p;
  bh_fast_tanh_array(x, y, n);
}

static void tanh_backward(bh_node *nd) {
  const float *y = nd->out->data, *dy = nd->out->grad;
  float *dx = bh_grad_acc(nd->in[0]);
  for (size_t i = 0; i < nd->out->size; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

bh_tensor *bh_tanh(bh_ctx *ctx, bh_tensor *x) {
  return unary_run(ctx, x, "tanh", tanh_forward, tanh_backward, 0.0f);
}

/* ---- sigmoid: dx = dy·y(1 − y) ---- */

static void sigmoid_forward(const float *x, float *y, size_t n, float p) {
  (void)p;
  bh_fast_sigmoid_array(x, y, n);
}

static void sigmoid_backward(bh_node *nd) {
  const float *y = nd->out->data, *dy = nd->out->grad;
  float *dx = bh_grad_acc(nd->in[0]);
  for (size_t i = 0; i < nd->out->size; i++) dx[i] += dy[i] * (y[i] * (1.0f - y[i]));
}

bh_tensor *bh_sigmoid(bh_ctx *ctx, bh_tensor *x) {
  return unary_run(ctx, x, "sigmoid", sigmoid_forward, sigmoid_backward, 0.0f);
}

/* ---- exp: dx = dy·y ---- */

static void exp_forward(const float *x, float *y, size_t n, float p) {
  (void)p;
  bh_fast_exp_array(x, y, n);
}

static void exp_backward(bh_node *nd) {
  const float *y = nd->out->data, *dy = nd->out->grad;
  float *dx = bh_grad_acc(nd->in[0]);
  for (size_t i = 0; i < nd->out->size; i++) dx[i] += dy[i] * y[i];
}

bh_tensor *bh_exp(bh_ctx *ctx, bh_tensor *x) {
  return unary_run(ctx, x, "exp", exp_forward, exp_backward, 0.0f);
}

/* ---- log: dx = dy / x (x ≤ 0 gives −inf/NaN, as libm) ---- */

static void log_forward(const float *x, float *y, size_t n, float p) {
  (void)p;
  bh_fast_log_array(x, y, n);
}

static void log_backward(bh_node *nd) {
  const float *x = nd->in[0]->data, *dy = nd->out->grad;
  float *dx = bh_grad_acc(nd->in[0]);
  for (size_t i = 0; i < nd->out->size; i++) dx[i] += dy[i] / x[i];
}

bh_tensor *bh_log(bh_ctx *ctx, bh_tensor *x) {
  return unary_run(ctx, x, "log", log_forward, log_backward, 0.0f);
}

/* ---- softplus: y = log(1 + e^x); dx = dy·σ(x) ----
 * σ is recomputed from x: from y it would be 1 − e^{−y}, which cancels for very negative x. */

static void softplus_forward(const float *x, float *y, size_t n, float p) {
  (void)p;
  bh_fast_softplus_array(x, y, n);
}

static void softplus_backward(bh_node *nd) {
  const float *x = nd->in[0]->data, *dy = nd->out->grad;
  float *dx = bh_grad_acc(nd->in[0]);
  for (size_t i = 0; i < nd->out->size; i++) dx[i] += dy[i] * bh_fast_sigmoidf(x[i]);
}

bh_tensor *bh_softplus(bh_ctx *ctx, bh_tensor *x) {
  return unary_run(ctx, x, "softplus", softplus_forward, softplus_backward, 0.0f);
}

/* ---- scale: y = s·x; dx = s·dy ---- */

static void scale_forward(const float *x, float *y, size_t n, float s) {
  for (size_t i = 0; i < n; i++) y[i] = s * x[i];
}

static void scale_backward(bh_node *nd) {
  const float *dy = nd->out->grad;
  float s = nd->fp[0], *dx = bh_grad_acc(nd->in[0]);
  for (size_t i = 0; i < nd->out->size; i++) dx[i] += s * dy[i];
}

bh_tensor *bh_scale(bh_ctx *ctx, bh_tensor *x, float s) {
  return unary_run(ctx, x, "scale", scale_forward, scale_backward, s);
}

/* ---- add scalar: y = x + c; dx = dy ---- */

static void add_scalar_forward(const float *x, float *y, size_t n, float c) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] + c;
}

static void add_scalar_backward(bh_node *nd) {
  const float *dy = nd->out->grad;
  float *dx = bh_grad_acc(nd->in[0]);
  for (size_t i = 0; i < nd->out->size; i++) dx[i] += dy[i];
}

bh_tensor *bh_add_scalar(bh_ctx *ctx, bh_tensor *x, float c) {
  return unary_run(ctx, x, "add_scalar", add_scalar_forward, add_scalar_backward, c);
}

/* ---- square: y = x²; dx = 2x·dy ---- */

static void square_forward(const float *x, float *y, size_t n, float p) {
  (void)p;
  for (size_t i = 0; i < n; i++) y[i] = x[i] * x[i];
}

static void square_backward(bh_node *nd) {
  const float *x = nd->in[0]->data, *dy = nd->out->grad;
  float *dx = bh_grad_acc(nd->in[0]);
  for (size_t i = 0; i < nd->out->size; i++) dx[i] += 2.0f * x[i] * dy[i];
}

bh_tensor *bh_square(bh_ctx *ctx, bh_tensor *x) {
  return unary_run(ctx, x, "square", square_forward, square_backward, 0.0f);
}

/* ---- detach: x -> a tensor sharing x's data, with no gradient and no node ---- */

bh_tensor *bh_detach(bh_ctx *ctx, bh_tensor *x) {
  if (!x) return NULL;
  bh_tensor *y = bh_tensor_view(ctx, x->data, x->ndim, x->shape);
  if (!y) return NULL;
  y->name = x->name;
  return y;
}
