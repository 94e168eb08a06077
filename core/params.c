/* params.c — flat parameter groups (see params.h). */
#include "core/params.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"

#define PARAM_ALIGN_FLOATS 16 /* 64 bytes */

bh_params *bh_params_alloc(void) {
  bh_params *p = calloc(1, sizeof *p);
  if (!p) bh_error(BH_ENOMEM, "out of memory allocating a parameter group");
  return p;
}

void bh_params_free(bh_params *p) {
  if (!p) return;
  for (int i = 0; i < p->n; i++) {
    free(p->names[i]);
    free(p->t[i]);
  }
  free(p->t);
  free(p->names);
  free(p->offset);
  bh_big_free(p->data, p->capacity * sizeof(float));
  bh_big_free(p->grad, p->capacity * sizeof(float));
  free(p);
}

bh_tensor *bh_params_find(const bh_params *p, const char *name) {
  for (int i = 0; i < p->n; i++)
    if (strcmp(p->names[i], name) == 0) return p->t[i];
  return NULL;
}

static int params_grow(bh_params *p, size_t need) {
  size_t cap = p->capacity ? p->capacity : 1 << 16;
  while (cap < need) cap *= 2;
  float *data = bh_big_alloc(cap * sizeof(float));
  float *grad = bh_big_alloc(cap * sizeof(float));
  if (!data || !grad) {
    bh_big_free(data, cap * sizeof(float));
    bh_big_free(grad, cap * sizeof(float));
    return BH_ENOMEM;
  }
  if (p->data) {
    memcpy(data, p->data, p->size * sizeof(float));
    memcpy(grad, p->grad, p->size * sizeof(float));
    bh_big_free(p->data, p->capacity * sizeof(float));
    bh_big_free(p->grad, p->capacity * sizeof(float));
  }
  p->data = data;
  p->grad = grad;
  p->capacity = cap;
  for (int i = 0; i < p->n; i++) {
    p->t[i]->data = data + p->offset[i];
    if (p->t[i]->grad) p->t[i]->grad = grad + p->offset[i];
  }
  return BH_OK;
}

bh_tensor *bh_params_add(bh_params *p, const char *name, int ndim, const int *shape) {
  if (bh_params_find(p, name)) {
    bh_error(BH_EINVAL, "parameter '%s' defined twice", name);
    return NULL;
  }
  bh_tensor *t = calloc(1, sizeof *t);
  char *nm = strdup(name);
  if (!t || !nm) goto nomem;
  if (bh_tensor_set_shape(t, ndim, shape) != BH_OK) {
    free(t);
    free(nm);
    return NULL;
  }
  if (p->n == p->cap_tensors) {
    int cap = p->cap_tensors ? 2 * p->cap_tensors : 16;
    bh_tensor **tt = realloc(p->t, (size_t)cap * sizeof *tt);
    if (tt) p->t = tt;
    char **nn = realloc(p->names, (size_t)cap * sizeof *nn);
    if (nn) p->names = nn;
    size_t *oo = realloc(p->offset, (size_t)cap * sizeof *oo);
    if (oo) p->offset = oo;
    if (!tt || !nn || !oo) goto nomem;
    p->cap_tensors = cap;
  }
  size_t off = (p->size + PARAM_ALIGN_FLOATS - 1) / PARAM_ALIGN_FLOATS * PARAM_ALIGN_FLOATS;
  if (off + t->size > p->capacity && params_grow(p, off + t->size) != BH_OK) goto nomem;
  t->data = p->data + off;
  t->grad = p->grad + off;
  t->flags = BH_PARAM | BH_REQUIRES_GRAD;
  t->name = nm;
  p->t[p->n] = t;
  p->names[p->n] = nm;
  p->offset[p->n] = off;
  p->n++;
  p->size = off + t->size;
  return t;
nomem:
  free(t);
  free(nm);
  bh_error(BH_ENOMEM, "out of memory adding parameter '%s'", name);
  return NULL;
}

size_t bh_params_count(const bh_params *p) {
  size_t n = 0;
  for (int i = 0; i < p->n; i++) n += p->t[i]->size;
  return n;
}

void bh_params_zero_grad(bh_params *p) {
  for (int i = 0; i < p->n; i++) p->t[i]->flags |= BH_GRAD_FRESH;
}

void bh_params_grad_finish(bh_params *p) {
  for (int i = 0; i < p->n; i++) {
    bh_tensor *t = p->t[i];
    if (t->flags & BH_GRAD_FRESH) {
      memset(t->grad, 0, t->size * sizeof(float));
      t->flags &= ~BH_GRAD_FRESH;
    }
  }
}

void bh_params_set_requires_grad(bh_params *p, int on) {
  for (int i = 0; i < p->n; i++) {
    if (on)
      p->t[i]->flags |= BH_REQUIRES_GRAD;
    else
      p->t[i]->flags &= ~BH_REQUIRES_GRAD;
  }
}
