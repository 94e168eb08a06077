/* graph.h — the step context: an arena for activations and a tape of ops for reverse mode.
 *
 * Ops run eagerly (forward computed at once, llm.c style) and, when gradients are enabled and
 * some input requires a gradient, record a node: the op's backward function, its inputs, its
 * output and whatever it saved.  bh_backward() walks the tape in reverse.  Op definitions live in
 * core/ops_*.c, each forward beside its backward; this file only schedules them.
 *
 * Gradient buffers are never zeroed in bulk.  A grad marked BH_GRAD_FRESH holds no value yet in
 * the current pass: the first writer overwrites it (sgemm with beta = 0, or bh_grad_acc() which
 * zero-fills just that buffer), later writers accumulate.  Parameter stores mark their grads
 * fresh in bh_params_zero_grad() and zero the untouched ones in bh_params_grad_finish().
 *
 * A step is: bh_ctx_reset(); forward ops; bh_backward(); optimiser step.  After the reset every
 * tensor made in the previous step is invalid.
 */
#ifndef BH_GRAPH_H
#define BH_GRAPH_H

#include <stddef.h>

#include "core/arena.h"
#include "core/tensor.h"

#define BH_NODE_MAX_IN 4

typedef struct bh_node bh_node;
typedef void (*bh_backward_fn)(bh_node *node);

struct bh_node {
  const char *op;          /* op name, for messages and profiles */
  bh_backward_fn backward; /* reads out->grad, accumulates into in[i]->grad where required */
  bh_tensor *out;
  bh_tensor *in[BH_NODE_MAX_IN];
  int nin;
  int ip[8];   /* integer parameters of the op */
  float fp[4]; /* float parameters of the op */
  void *saved; /* op-specific data saved in the arena for backward */
};

typedef struct bh_ctx bh_ctx;

bh_ctx *bh_ctx_alloc(size_t arena_chunk_bytes);
void bh_ctx_free(bh_ctx *ctx);
/* Clear the tape and rewind the arena. */
void bh_ctx_reset(bh_ctx *ctx);
/* Gradients on (default) or off (evaluation: no tape, no grad buffers).  Returns the old value. */
int bh_ctx_set_grad(bh_ctx *ctx, int enabled);
int bh_ctx_grad_enabled(const bh_ctx *ctx);
bh_arena *bh_ctx_arena(bh_ctx *ctx);
int bh_ctx_node_count(const bh_ctx *ctx);
bh_node *bh_ctx_node(bh_ctx *ctx, int i);

/* Scratch memory valid until the next reset (64-byte aligned, uninitialised). */
void *bh_ctx_push(bh_ctx *ctx, size_t bytes);

/* Arena tensors (uninitialised data, no gradient). */
bh_tensor *bh_tensor_new(bh_ctx *ctx, int ndim, const int *shape);
bh_tensor *bh_tensor_new1(bh_ctx *ctx, int n);
bh_tensor *bh_tensor_new2(bh_ctx *ctx, int rows, int cols);
bh_tensor *bh_tensor_new4(bh_ctx *ctx, int n, int c, int h, int w);
/* A tensor over memory owned elsewhere (an input batch); no gradient. */
bh_tensor *bh_tensor_view(bh_ctx *ctx, float *data, int ndim, const int *shape);
/* The same data and shape as x, another shape (same size); shares data, records a node so
 * gradients flow through. */
bh_tensor *bh_reshape(bh_ctx *ctx, bh_tensor *x, int ndim, const int *shape);

/* ---- for op implementations ---- */

/* True when gradients are on and at least one of the n inputs requires one. */
int bh_ctx_wants_grad(const bh_ctx *ctx, int n, bh_tensor *const *in);
/* Give `out` a fresh gradient buffer and append a node; returns the node for the op to fill in
 * (ip, fp, saved).  NULL when out of memory. */
bh_node *bh_ctx_record(bh_ctx *ctx, const char *op, bh_backward_fn backward, bh_tensor *out,
                       int nin, bh_tensor *const *in);

/* The grad of t ready for `+=`: zero-filled first if still fresh in this pass. */
float *bh_grad_acc(bh_tensor *t);
/* For writers that take a beta (sgemm): 0 when t's grad is fresh (overwrite), else 1. */
float bh_grad_beta(bh_tensor *t);

/* Shape error for op `op`: sets BH_EINVAL with both shapes and returns NULL. */
bh_tensor *bh_error_shapes(const char *op, const char *what, const bh_tensor *a,
                           const bh_tensor *b);

/* ---- reverse mode ---- */

/* d(loss)/d(everything upstream), loss a tensor of size 1. */
int bh_backward(bh_ctx *ctx, bh_tensor *loss);
/* Backward from a tensor of any shape with an upstream gradient `seed` (out->size floats). */
int bh_backward_seed(bh_ctx *ctx, bh_tensor *out, const float *seed);

/* Leaves: mark a standalone tensor's grad fresh (the next pass overwrites it). */
void bh_tensor_zero_grad(bh_tensor *t);

#endif
