/* tensor.c — shapes and standalone tensors (see tensor.h). */
#include "core/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int bh_tensor_set_shape(bh_tensor *t, int ndim, const int *shape) {
  if (ndim < 1 || ndim > BH_MAX_DIMS)
    return bh_error(BH_EINVAL, "tensor rank %d outside 1..%d", ndim, BH_MAX_DIMS);
  size_t size = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return bh_error(BH_EINVAL, "negative tensor dimension %d", shape[i]);
    size *= (size_t)shape[i];
  }
  t->ndim = ndim;
  for (int i = 0; i < BH_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
  t->size = size;
  return BH_OK;
}

const char *bh_tensor_shape_str(const bh_tensor *t, char *buf, size_t len) {
  size_t off = 0;
  off += (size_t)snprintf(buf + off, len - off, "[");
  for (int i = 0; i < t->ndim && off < len; i++)
    off += (size_t)snprintf(buf + off, len - off, i ? " x %d" : "%d", t->shape[i]);
  if (off < len) snprintf(buf + off, len - off, "]");
  return buf;
}

int bh_tensor_same_shape(const bh_tensor *a, const bh_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

bh_tensor *bh_tensor_alloc(int ndim, const int *shape, int requires_grad) {
  bh_tensor *t = calloc(1, sizeof *t);
  if (!t) {
    bh_error(BH_ENOMEM, "out of memory allocating a tensor");
    return NULL;
  }
  if (bh_tensor_set_shape(t, ndim, shape) != BH_OK) {
    free(t);
    return NULL;
  }
  size_t n = t->size ? t->size : 1;
  t->data = calloc(n, sizeof(float));
  if (requires_grad) t->grad = calloc(n, sizeof(float));
  if (!t->data || (requires_grad && !t->grad)) {
    free(t->data);
    free(t->grad);
    free(t);
    bh_error(BH_ENOMEM, "out of memory allocating a tensor of %zu floats", n);
    return NULL;
  }
  t->flags = BH_OWNS_DATA | (requires_grad ? BH_REQUIRES_GRAD : 0u);
  return t;
}

bh_tensor *bh_tensor_alloc2(int rows, int cols, int requires_grad) {
  int shape[2] = {rows, cols};
  return bh_tensor_alloc(2, shape, requires_grad);
}

void bh_tensor_free(bh_tensor *t) {
  if (!t) return;
  if (t->flags & BH_OWNS_DATA) {
    free(t->data);
    free(t->grad);
  }
  free(t);
}
