/* modelcheck.c — see modelcheck.h. */
#include "tests/modelcheck.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
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

bh_model *mc_model_try(const bh_model_class *cls, const bh_data_info *data,
                       const char *const *base, const char *const *sets, uint64_t seed) {
  bh_config *cfg = bh_model_config_new(cls);
  assert_non_null(cfg);
  for (int i = 0; base && base[i]; i++)
    assert_int_equal(bh_config_set_assignment(cfg, base[i], "test"), BH_OK);
  for (int i = 0; sets && sets[i]; i++)
    if (bh_config_set_assignment(cfg, sets[i], "test") != BH_OK)
      fail_msg("setting %s: %s", sets[i], bh_error_message());
  bh_rng *rng = bh_rng_alloc(seed);
  bh_model *m = bh_model_create(cls, cfg, data, rng);
  bh_rng_free(rng);
  return m;
}

bh_model *mc_model_make(const bh_model_class *cls, const bh_data_info *data,
                        const char *const *base, const char *const *sets, uint64_t seed) {
  bh_model *m = mc_model_try(cls, data, base, sets, seed);
  if (!m) fail_msg("bh_model_create(%s): %s", cls->name, bh_error_message());
  return m;
}

bh_tensor *mc_run_loss(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *b, bh_rng *rng,
                       bh_terms *terms) {
  bh_tensor *loss = m->cls->loss(m, ctx, phase, b, rng, terms);
  if (!loss) fail_msg("%s loss phase %d: %s", m->cls->name, phase, bh_error_message());
  assert_int_equal((int)loss->size, 1);
  return loss;
}

void mc_phase0_terms(bh_model *m, const bh_batch *b, uint64_t rng_seed, bh_terms *t) {
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(rng_seed);
  bh_terms_clear(t);
  mc_run_loss(m, ctx, 0, b, rng, t);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
}

void mc_expect_adversary_layout(const bh_model *m, const char *adv) {
  assert_int_equal(m->ngroups, 2);
  assert_string_equal(m->group_name[0], "main");
  assert_string_equal(m->group_name[1], adv);
  assert_int_equal(m->nphases, 2);
  assert_int_equal(m->phase_group[0], 0);
  assert_int_equal(m->phase_group[1], 1);
  assert_float_equal(m->adam[1].lr, 1e-4, 1e-15);
  assert_float_equal(m->adam[1].beta1, 0.5, 1e-15);
  assert_float_equal(m->adam[1].beta2, 0.9, 1e-15);
}

void mc_expect_close(const char *what, double got, double want, double rel) {
  if (!(fabs(got - want) <= rel * fmax(1.0, fabs(want))))
    fail_msg("%s: got %.9g, expected %.9g", what, got, want);
}

void mc_adams_alloc(bh_model *m, bh_adam **adam) {
  for (int g = 0; g < m->ngroups; g++)
    assert_non_null(adam[g] = bh_adam_alloc(m->group[g], m->adam[g]));
}

void mc_adams_free(const bh_model *m, bh_adam **adam) {
  for (int g = 0; g < m->ngroups; g++) bh_adam_free(adam[g]);
}

float *mc_group_copy(const bh_params *p) {
  float *c = malloc((bh_params_count(p) + 1) * sizeof(float)), *q = c;
  assert_non_null(c);
  for (int i = 0; i < p->n; i++)
    memcpy(q, p->t[i]->data, p->t[i]->size * sizeof(float)), q += p->t[i]->size;
  return c;
}

int mc_group_changed(const bh_params *p, const float *before) {
  int k = 0;
  for (int i = 0; i < p->n; before += p->t[i]->size, i++)
    for (size_t j = 0; j < p->t[i]->size; j++) k += p->t[i]->data[j] != before[j];
  return k;
}

void mc_group_randomise(bh_params *p, unsigned long seed, double scale) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  for (int i = 0; i < p->n; i++)
    for (size_t k = 0; k < p->t[i]->size; k++)
      p->t[i]->data[k] = (float)(scale * (2.0 * gsl_rng_uniform(r) - 1.0));
  gsl_rng_free(r);
}

/* Is name "<prefix>.<anything>"? */
static int mc_under_prefix(const char *name, const char *prefix) {
  size_t len = strlen(prefix);
  return strncmp(name, prefix, len) == 0 && name[len] == '.';
}

void mc_params_zero_prefix(bh_params *p, const char *prefix) {
  for (int i = 0; i < p->n; i++)
    if (mc_under_prefix(p->names[i], prefix))
      memset(p->t[i]->data, 0, p->t[i]->size * sizeof(float));
}

bh_tensor *mc_params_output_bias(const bh_params *p, const char *prefix, size_t size) {
  bh_tensor *found = NULL;
  for (int i = 0; i < p->n; i++)
    if (mc_under_prefix(p->names[i], prefix) && p->t[i]->ndim == 1) found = p->t[i];
  if (!found || found->size != size)
    fail_msg("no output bias of size %zu under '%s'", size, prefix);
  return found;
}

void mc_mlp_double(const bh_params *p, const char *prefix, int nlayers, const int *widths,
                   const double *in, double *out) {
  enum { MAXW = 256 };
  double h[MAXW], next[MAXW];
  assert_true(widths[0] <= MAXW);
  memcpy(h, in, sizeof(double) * (size_t)widths[0]);
  for (int l = 0; l < nlayers; l++) {
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s.%d.w", prefix, l);
    snprintf(bn, sizeof bn, "%s.%d.b", prefix, l);
    const bh_tensor *w = bh_params_find(p, wn), *b = bh_params_find(p, bn);
    if (!w || !b) fail_msg("no parameter %s / %s", wn, bn);
    int nin = widths[l], nout = widths[l + 1];
    assert_true(nout <= MAXW);
    if (w->ndim != 2 || w->shape[0] != nout || w->shape[1] != nin || (int)b->size != nout)
      fail_msg("%s: %d x %d (bias %zu), want %d x %d", wn, w->shape[0],
               w->ndim > 1 ? w->shape[1] : -1, b->size, nout, nin);
    for (int o = 0; o < nout; o++) {
      double s = b->data[o];
      for (int k = 0; k < nin; k++) s += (double)w->data[o * nin + k] * h[k];
      next[o] = l + 1 < nlayers && s < 0 ? 0.2 * s : s; /* LeakyReLU(0.2) on hidden layers */
    }
    memcpy(h, next, sizeof(double) * (size_t)nout);
  }
  memcpy(out, h, sizeof(double) * (size_t)widths[nlayers]);
}

double mc_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

double mc_cross_entropy(const double *l, int k, int y) {
  double mx = l[0], s = 0.0;
  for (int j = 1; j < k; j++) mx = fmax(mx, l[j]);
  for (int j = 0; j < k; j++) s += exp(l[j] - mx);
  return mx + log(s) - l[y];
}

int mc_argmax(const double *l, int k) {
  int best = 0;
  for (int j = 1; j < k; j++)
    if (l[j] > l[best]) best = j;
  return best;
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
