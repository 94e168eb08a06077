/* adam.h — Adam over one parameter group, one fused multi-threaded pass per step.
 *
 * The update follows PyTorch's torch.optim.Adam (amsgrad off), step t = 1, 2, ...:
 *     g  = grad + wd·θ                       (weight decay as L2, PyTorch Adam's weight_decay)
 *     m  = β1·m + (1 − β1)·g
 *     v  = β2·v + (1 − β2)·g²
 *     θ -= lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + eps)
 * With cfg.decoupled set it is AdamW instead: no wd·θ in g, and θ *= 1 − lr·wd before the update
 * (torch.optim.AdamW).  The bias-correction scalars are computed once per step in double.
 *
 * The moments m and v are flat arrays laid out exactly like p->data (same offsets, padding
 * included), so a checkpoint stores them per parameter with p->offset[i] and p->t[i]->size.
 * Frozen tensors still move while their moments are non-zero (their gradient reads as 0):
 * give each optimiser its own parameter group.
 */
#ifndef BH_ADAM_H
#define BH_ADAM_H

#include <stddef.h>

#include "core/params.h"

/* Doubles, as PyTorch's Python floats: the per-step scalars (1 − β2, lr/(1 − β1^t), ...) are
 * formed in double and rounded to float once, so 1 − 0.999 is 0.001f, not 1 − 0.999f. */
typedef struct bh_adam_config {
  double lr;           /* learning rate */
  double beta1, beta2; /* moment decay rates, in [0, 1) */
  double eps;          /* added to the bias-corrected sqrt(v) */
  double weight_decay; /* L2 (PyTorch Adam) or decoupled (AdamW), see `decoupled` */
  int decoupled;       /* 0: Adam with L2 weight decay; 1: AdamW */
} bh_adam_config;

/* lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay: PyTorch's defaults. */
bh_adam_config bh_adam_config_default(void);

typedef struct bh_adam {
  bh_params *p;       /* not owned */
  bh_adam_config cfg; /* may be changed between steps (learning-rate schedules) */
  float *m, *v;       /* first and second moments, `size` floats each, laid out like p->data */
  size_t size;        /* p->size when the optimiser was made */
  long step;          /* steps taken; the next step uses t = step + 1 */
} bh_adam;

/* Moments zero, step 0.  NULL (with bh_error set) for an out-of-range config or no memory. */
bh_adam *bh_adam_alloc(bh_params *p, bh_adam_config cfg);
void bh_adam_free(bh_adam *a);

/* bh_params_grad_finish(p), then one update of every parameter.  BH_EINVAL when the group grew
 * after bh_adam_alloc (its new tensors would have no moments). */
int bh_adam_step(bh_adam *a);

/* Checkpoints: the moments of every tensor as "<prefix>.m.<name>" / "<prefix>.v.<name>", the
 * step count as "<prefix>.step" and the config as "<prefix>.lr" etc.  Loading checks that every
 * tensor is present with its shape and restores step and moments (the config stays as given,
 * so a resumed run may change its learning rate). */
struct bh_ckpt_writer;
struct bh_ckpt;
int bh_adam_save(const bh_adam *a, struct bh_ckpt_writer *w, const char *prefix);
int bh_adam_load(bh_adam *a, const struct bh_ckpt *ck, const char *prefix);

#endif
