/* tensor.h — float32 tensors up to 4-D, row-major.
 *
 * A tensor is a view: `data` (and `grad`, when a gradient flows through it) point either into a
 * step arena (activations, owned by a bh_ctx), into a parameter store (bh_params), or into memory
 * of a standalone tensor (bh_tensor_alloc / bh_tensor_free).  Ops treat an N-D tensor as a matrix
 * of shape[0] rows and size/shape[0] columns unless they say otherwise.
 */
#ifndef BH_TENSOR_H
#define BH_TENSOR_H

#include <stddef.h>

#define BH_MAX_DIMS 4

enum {
  BH_REQUIRES_GRAD = 1u << 0, /* a gradient buffer exists and backward writes into it */
  BH_GRAD_FRESH = 1u << 1,    /* grad holds no value yet in this backward pass (see graph.h) */
  BH_PARAM = 1u << 2,         /* lives in a bh_params store */
  BH_OWNS_DATA = 1u << 3      /* standalone: bh_tensor_free releases data and grad */
};

typedef struct bh_tensor {
  float *data;
  float *grad; /* same shape as data; NULL unless BH_REQUIRES_GRAD */
  int ndim;
  int shape[BH_MAX_DIMS];
  size_t size; /* product of shape */
  unsigned flags;
  const char *name; /* optional, for messages */
} bh_tensor;

/* Rows and columns of the 2-D view. */
static inline int bh_tensor_rows(const bh_tensor *t) { return t->shape[0]; }
static inline size_t bh_tensor_cols(const bh_tensor *t) {
  return t->shape[0] ? t->size / (size_t)t->shape[0] : 0;
}
static inline int bh_tensor_requires_grad(const bh_tensor *t) {
  return t && (t->flags & BH_REQUIRES_GRAD);
}

/* Set ndim/shape/size from a shape array; BH_EINVAL for ndim outside 1..4 or a dim < 0. */
int bh_tensor_set_shape(bh_tensor *t, int ndim, const int *shape);
/* "[64 x 1200]" into buf (for error messages); returns buf. */
const char *bh_tensor_shape_str(const bh_tensor *t, char *buf, size_t len);
int bh_tensor_same_shape(const bh_tensor *a, const bh_tensor *b);

/* Standalone tensors (malloc'ed, zero-filled): inputs of tests and tools, data outside steps. */
bh_tensor *bh_tensor_alloc(int ndim, const int *shape, int requires_grad);
bh_tensor *bh_tensor_alloc2(int rows, int cols, int requires_grad);
void bh_tensor_free(bh_tensor *t);

#endif
