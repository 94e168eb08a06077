/* graph.c — step context, tape and backward scheduling (see graph.h). */
#include "core/graph.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct bh_ctx {
  bh_arena *arena;
  bh_node **nodes;
  int n_nodes, cap_nodes;
  int grad_enabled;
};

bh_ctx *bh_ctx_alloc(size_t arena_chunk_bytes) {
  bh_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) {
    bh_error(BH_ENOMEM, "out of memory allocating a context");
    return NULL;
  }
  ctx->arena = bh_arena_alloc(arena_chunk_bytes ? arena_chunk_bytes : (size_t)64 << 20);
  if (!ctx->arena) {
    free(ctx);
    return NULL;
  }
  ctx->grad_enabled = 1;
  return ctx;
}

void bh_ctx_free(bh_ctx *ctx) {
  if (!ctx) return;
  bh_arena_free(ctx->arena);
  free(ctx->nodes);
  free(ctx);
}

void bh_ctx_reset(bh_ctx *ctx) {
  ctx->n_nodes = 0;
  bh_arena_reset(ctx->arena);
}

int bh_ctx_set_grad(bh_ctx *ctx, int enabled) {
  int old = ctx->grad_enabled;
  ctx->grad_enabled = enabled != 0;
  return old;
}

int bh_ctx_grad_enabled(const bh_ctx *ctx) { return ctx->grad_enabled; }
bh_arena *bh_ctx_arena(bh_ctx *ctx) { return ctx->arena; }
int bh_ctx_node_count(const bh_ctx *ctx) { return ctx->n_nodes; }
bh_node *bh_ctx_node(bh_ctx *ctx, int i) { return ctx->nodes[i]; }

void *bh_ctx_push(bh_ctx *ctx, size_t bytes) { return bh_arena_push(ctx->arena, bytes); }

bh_tensor *bh_tensor_new(bh_ctx *ctx, int ndim, const int *shape) {
  bh_tensor *t = bh_arena_push(ctx->arena, sizeof *t);
  if (!t) return NULL;
  memset(t, 0, sizeof *t);
  if (bh_tensor_set_shape(t, ndim, shape) != BH_OK) return NULL;
  t->data = bh_arena_push(ctx->arena, t->size * sizeof(float));
  return t->data ? t : NULL;
}

bh_tensor *bh_tensor_new1(bh_ctx *ctx, int n) { return bh_tensor_new(ctx, 1, &n); }

bh_tensor *bh_tensor_new2(bh_ctx *ctx, int rows, int cols) {
  int shape[2] = {rows, cols};
  return bh_tensor_new(ctx, 2, shape);
}

bh_tensor *bh_tensor_new4(bh_ctx *ctx, int n, int c, int h, int w) {
  int shape[4] = {n, c, h, w};
  return bh_tensor_new(ctx, 4, shape);
}

bh_tensor *bh_tensor_view(bh_ctx *ctx, float *data, int ndim, const int *shape) {
  bh_tensor *t = bh_arena_push(ctx->arena, sizeof *t);
  if (!t) return NULL;
  memset(t, 0, sizeof *t);
  if (bh_tensor_set_shape(t, ndim, shape) != BH_OK) return NULL;
  t->data = data;
  return t;
}

int bh_ctx_wants_grad(const bh_ctx *ctx, int n, bh_tensor *const *in) {
  if (!ctx->grad_enabled) return 0;
  for (int i = 0; i < n; i++)
    if (bh_tensor_requires_grad(in[i])) return 1;
  return 0;
}

bh_node *bh_ctx_record(bh_ctx *ctx, const char *op, bh_backward_fn backward, bh_tensor *out,
                       int nin, bh_tensor *const *in) {
  if (nin > BH_NODE_MAX_IN) {
    bh_error(BH_EINVAL, "%s: %d inputs, at most %d can be recorded", op, nin, BH_NODE_MAX_IN);
    return NULL;
  }
  if (ctx->n_nodes == ctx->cap_nodes) {
    int cap = ctx->cap_nodes ? 2 * ctx->cap_nodes : 256;
    bh_node **nodes = realloc(ctx->nodes, (size_t)cap * sizeof *nodes);
    if (!nodes) {
      bh_error(BH_ENOMEM, "out of memory growing the tape");
      return NULL;
    }
    ctx->nodes = nodes;
    ctx->cap_nodes = cap;
  }
  bh_node *node = bh_arena_push(ctx->arena, sizeof *node);
  if (!node) return NULL;
  memset(node, 0, sizeof *node);
  if (!out->grad) {
    out->grad = bh_arena_push(ctx->arena, out->size * sizeof(float));
    if (!out->grad) return NULL;
  }
  out->flags |= BH_REQUIRES_GRAD | BH_GRAD_FRESH;
  node->op = op;
  node->backward = backward;
  node->out = out;
  node->nin = nin;
  for (int i = 0; i < nin; i++) node->in[i] = in[i];
  ctx->nodes[ctx->n_nodes++] = node;
  return node;
}

float *bh_grad_acc(bh_tensor *t) {
  if (t->flags & BH_GRAD_FRESH) {
    memset(t->grad, 0, t->size * sizeof(float));
    t->flags &= ~BH_GRAD_FRESH;
  }
  return t->grad;
}

float bh_grad_beta(bh_tensor *t) {
  float beta = (t->flags & BH_GRAD_FRESH) ? 0.0f : 1.0f;
  t->flags &= ~BH_GRAD_FRESH;
  return beta;
}

void bh_tensor_zero_grad(bh_tensor *t) {
  if (t && t->grad) t->flags |= BH_GRAD_FRESH;
}

bh_tensor *bh_error_shapes(const char *op, const char *what, const bh_tensor *a,
                           const bh_tensor *b) {
  char sa[64], sb[64];
  bh_error(BH_EINVAL, "%s: %s (%s and %s)", op, what, bh_tensor_shape_str(a, sa, sizeof sa),
           b ? bh_tensor_shape_str(b, sb, sizeof sb) : "-");
  return NULL;
}

/* reshape: a view with another shape; its gradient is the output gradient, reshaped back. */
static void reshape_backward(bh_node *n) {
  bh_tensor *x = n->in[0];
  float *gx = bh_grad_acc(x);
  const float *g = n->out->grad;
  for (size_t i = 0; i < x->size; i++) gx[i] += g[i];
}

bh_tensor *bh_reshape(bh_ctx *ctx, bh_tensor *x, int ndim, const int *shape) {
  if (!x) return NULL;
  bh_tensor *y = bh_arena_push(ctx->arena, sizeof *y);
  if (!y) return NULL;
  memset(y, 0, sizeof *y);
  if (bh_tensor_set_shape(y, ndim, shape) != BH_OK) return NULL;
  if (y->size != x->size) return bh_error_shapes("reshape", "sizes differ", x, y);
  y->data = x->data;
  if (bh_ctx_wants_grad(ctx, 1, &x) && !bh_ctx_record(ctx, "reshape", reshape_backward, y, 1, &x))
    return NULL;
  return y;
}

int bh_backward_seed(bh_ctx *ctx, bh_tensor *out, const float *seed) {
  if (!out)
    return bh_error_code() != BH_OK ? bh_error_code()
                                    : bh_error(BH_EINVAL, "backward: the output is NULL");
  if (!bh_tensor_requires_grad(out))
    return bh_error(BH_EINVAL, "backward: the output does not depend on anything that requires "
                               "a gradient");
  for (int i = 0; i < ctx->n_nodes; i++) ctx->nodes[i]->out->flags |= BH_GRAD_FRESH;
  memcpy(out->grad, seed, out->size * sizeof(float));
  out->flags &= ~BH_GRAD_FRESH;
  for (int i = ctx->n_nodes - 1; i >= 0; i--) {
    bh_node *n = ctx->nodes[i];
    if (n->out->flags & BH_GRAD_FRESH) continue; /* no gradient reached this node */
    n->backward(n);
  }
  return BH_OK;
}

int bh_backward(bh_ctx *ctx, bh_tensor *loss) {
  if (loss && loss->size != 1) {
    char s[64];
    return bh_error(BH_EINVAL, "backward: the loss must have one element, it has shape %s",
                    bh_tensor_shape_str(loss, s, sizeof s));
  }
  const float one = 1.0f;
  return bh_backward_seed(ctx, loss, &one);
}
