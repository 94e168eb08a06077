/* params.h — a parameter group: named tensors over one flat value buffer and one flat gradient
 * buffer, so an optimiser updates the whole group in one fused loop and a checkpoint stores it
 * by name.  A model has one group per optimiser (main, each adversary).
 */
#ifndef BH_PARAMS_H
#define BH_PARAMS_H

#include <stddef.h>

#include "core/tensor.h"

typedef struct bh_params {
  int n;            /* number of tensors */
  bh_tensor **t;    /* persistent tensor structs; t[i]->data and ->grad point into the buffers */
  char **names;     /* t[i]->name == names[i] */
  size_t *offset;   /* float offset of t[i] in the buffers (64-byte aligned) */
  size_t size;      /* floats in use (with alignment padding) */
  size_t capacity;  /* floats allocated */
  float *data, *grad;
  int cap_tensors;
} bh_params;

bh_params *bh_params_alloc(void);
void bh_params_free(bh_params *p);

/* A new zero-filled parameter tensor; the name must be unique in the group.  Pointers returned
 * earlier stay valid (the structs are stable; their data pointers are updated on growth). */
bh_tensor *bh_params_add(bh_params *p, const char *name, int ndim, const int *shape);
bh_tensor *bh_params_find(const bh_params *p, const char *name);
/* Number of scalar parameters (without padding). */
size_t bh_params_count(const bh_params *p);

/* Start a backward pass: every grad becomes fresh (overwritten by its first writer). */
void bh_params_zero_grad(bh_params *p);
/* End of the passes before an update: grads nobody wrote are set to zero. */
void bh_params_grad_finish(bh_params *p);
/* Freeze (0) or unfreeze (1) the whole group: frozen tensors take no gradient. */
void bh_params_set_requires_grad(bh_params *p, int on);

#endif
