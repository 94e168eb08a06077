/* modelcheck.c — see modelcheck.h. */
#include "tests/modelcheck.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void mc_random_binary_images(float *x, int n, int size, unsigned long seed, double p_one) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  for (size_t i = 0; i < (size_t)n * (size_t)size; i++)
    x[i] = gsl_rng_uniform(r) < p_one ? 1.0f : 0.0f;
  gsl_rng_free(r);
}

/* Freeze every group except g. */
static void mc_freeze_except(bh_model *m, int g) {
  for (int i = 0; i < m->ngroups; i++) bh_params_set_requires_grad(m->group[i], i == g);
}

/* Reset the tape, run the loss functions of phases 0..phase−1 with gradients off, then
 * loss(phase) with gradients `grad`; all from a fresh rng of the given seed, which *rng_out
 * receives (the caller frees it).  NULL with a message on failure. */
static bh_tensor *mc_loss(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *batches,
                          uint64_t seed, int grad, bh_rng **rng_out) {
  bh_ctx_reset(ctx);
  bh_rng *rng = bh_rng_alloc(seed);
  *rng_out = rng;
  if (!rng) return NULL;
  bh_terms terms;
  int old = bh_ctx_set_grad(ctx, 0);
  for (int q = 0; q < phase; q++) {
    bh_terms_clear(&terms);
    if (!m->cls->loss(m, ctx, q, batches, rng, &terms)) {
      bh_ctx_set_grad(ctx, old);
      return NULL;
    }
  }
  bh_ctx_set_grad(ctx, grad);
  bh_terms_clear(&terms);
  bh_tensor *loss = m->cls->loss(m, ctx, phase, batches, rng, &terms);
  bh_ctx_set_grad(ctx, old);
  if (loss && loss->size != 1) {
    bh_error(BH_EINVAL, "loss of phase %d has %zu elements, not 1", phase, loss->size);
    return NULL;
  }
  return loss;
}

/* The loss value with gradients off, in double. */
static int mc_loss_value(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *batches,
                         uint64_t seed, double *v) {
  bh_rng *rng = NULL;
  bh_tensor *loss = mc_loss(m, ctx, phase, batches, seed, 0, &rng);
  if (loss) *v = loss->data[0];
  bh_rng_free(rng);
  return loss ? 0 : -1;
}

/* Numeric vs analytic gradient of one tensor; 0 when every checked element passes. */
static int mc_check_tensor(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *batches,
                           uint64_t seed, bh_tensor *t, const float *ana, gsl_rng *pick,
                           double eps, double atol, double rtol, int max_elems) {
  size_t size = t->size, count = size < (size_t)max_elems ? size : (size_t)max_elems;
  double worst = 0.0, worst_num = 0.0, worst_ana = 0.0;
  size_t worst_j = 0;
  for (size_t c = 0; c < count; c++) {
    size_t j = size <= (size_t)max_elems ? c : gsl_rng_uniform_int(pick, size);
    float x0 = t->data[j];
    double lp = 0.0, lm = 0.0;
    t->data[j] = (float)(x0 + eps);
    double hp = (double)t->data[j] - x0; /* the step float really took */
    int e1 = mc_loss_value(m, ctx, phase, batches, seed, &lp);
    t->data[j] = (float)(x0 - eps);
    double hm = x0 - (double)t->data[j];
    int e2 = e1 ? -1 : mc_loss_value(m, ctx, phase, batches, seed, &lm);
    t->data[j] = x0;
    if (e1 || e2) {
      fprintf(stderr, "modelcheck %s phase %d: loss failed at %s[%zu]: %s\n", m->cls->name,
              phase, t->name, j, bh_error_message());
      return -1;
    }
    double num = (lp - lm) / (hp + hm), a = ana[j];
    double err = fabs(num - a), lim = atol + rtol * fmax(fabs(num), fabs(a));
    double ratio = err / lim;
    if (!(ratio <= worst)) worst = ratio, worst_j = j, worst_num = num, worst_ana = a;
  }
  printf("modelcheck %s phase %d: %-24s worst %s[%zu] numeric %.6g analytic %.6g "
         "(err/limit %.3g, %zu of %zu elements)\n",
         m->cls->name, phase, t->name, t->name, worst_j, worst_num, worst_ana, worst, count, size);
  if (!(worst <= 1.0)) {
    fprintf(stderr,
            "modelcheck %s phase %d: %s element %zu: numeric %.6g analytic %.6g "
            "(err/limit %.3g)\n",
            m->cls->name, phase, t->name, worst_j, worst_num, worst_ana, worst);
    return -1;
  }
  return 0;
}

int mc_check_phase(bh_model *m, int phase, const bh_batch *batches, uint64_t rng_seed,
                   double eps, double atol, double rtol, int max_elems_per_tensor) {
  if (!m || phase < 0 || phase >= m->nphases) {
    fprintf(stderr, "modelcheck: no phase %d\n", phase);
    return -1;
  }
  int max_elems = max_elems_per_tensor > 0 ? max_elems_per_tensor : 32;
  int g = m->phase_group[phase];
  bh_params *p = m->group[g];
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  float *ana = malloc((p->size ? p->size : 1) * sizeof *ana);
  gsl_rng *pick = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(pick, 2024);
  int status = 0;

  /* analytic */
  mc_freeze_except(m, g);
  bh_params_zero_grad(p);
  bh_rng *rng = NULL;
  bh_tensor *loss = mc_loss(m, ctx, phase, batches, rng_seed, 1, &rng);
  if (!loss || bh_backward(ctx, loss) != BH_OK) {
    fprintf(stderr, "modelcheck %s phase %d: loss/backward failed: %s\n", m->cls->name, phase,
            bh_error_message());
    status = -1;
  }
  bh_rng_free(rng);
  if (status == 0) {
    bh_params_grad_finish(p);
    memcpy(ana, p->grad, p->size * sizeof *ana);
    printf("modelcheck %s phase %d (group %s): loss %.6g\n", m->cls->name, phase,
           m->group_name[g] ? m->group_name[g] : "?", loss->data[0]);
  }

  /* numeric, tensor by tensor */
  for (int i = 0; i < p->n && status == 0; i++)
    status = mc_check_tensor(m, ctx, phase, batches, rng_seed, p->t[i], ana + p->offset[i], pick,
                             eps, atol, rtol, max_elems);

  for (int i = 0; i < m->ngroups; i++) bh_params_set_requires_grad(m->group[i], 1);
  gsl_rng_free(pick);
  free(ana);
  bh_ctx_free(ctx);
  return status;
}
