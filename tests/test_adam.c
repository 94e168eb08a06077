/* test_adam.c — Adam / AdamW against an independent double-precision reference, the closed-form
 * first step, weight-decay variants, bit-exactness across thread counts, convergence on a
 * quadratic, and the error paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/adam.h"
#include "core/error.h"
#include "core/threads.h"

/* A group of two tensors (so there is alignment padding between them): "a" [3×4], "b" [5]. */
static bh_params *two_tensor_group(void) {
  bh_params *p = bh_params_alloc();
  int sa[2] = {3, 4}, sb[1] = {5};
  assert_non_null(bh_params_add(p, "a", 2, sa));
  assert_non_null(bh_params_add(p, "b", 1, sb));
  return p;
}

/* Uniform in ±[lo, hi] (random sign), so no gradient is near 0 when lo > 0. */
static float signed_uniform(gsl_rng *r, float lo, float hi) {
  float u = lo + (hi - lo) * (float)gsl_rng_uniform(r);
  return gsl_rng_uniform(r) < 0.5 ? -u : u;
}

static void fill_group(bh_params *p, gsl_rng *r, float lo, float hi, int grad) {
  for (int i = 0; i < p->n; i++)
    for (size_t j = 0; j < p->t[i]->size; j++)
      (grad ? p->t[i]->grad : p->t[i]->data)[j] = signed_uniform(r, lo, hi);
}

/* ---- the reference: textbook Adam (Kingma & Ba, with PyTorch's weight-decay options), double ----
 * m̂ = m/(1−β1^t), v̂ = v/(1−β2^t), θ −= lr·m̂/(√v̂ + eps) */
typedef struct ref {
  size_t n;
  double *th, *m, *v;
  double *mabs; /* m's recurrence on |g|: the scale of m's rounding error when terms cancel */
} ref;

static ref ref_from_group(const bh_params *p) {
  size_t n = bh_params_count(p), k = 0;
  ref R = {n, calloc(n, sizeof(double)), calloc(n, sizeof(double)), calloc(n, sizeof(double)),
           calloc(n, sizeof(double))};
  for (int i = 0; i < p->n; i++)
    for (size_t j = 0; j < p->t[i]->size; j++) R.th[k++] = p->t[i]->data[j];
  return R;
}

static void ref_free(ref *R) {
  free(R->th);
  free(R->m);
  free(R->v);
  free(R->mabs);
}

/* One step with the group's current gradients. */
static void ref_step(ref *R, const bh_params *p, bh_adam_config c, int t) {
  size_t k = 0;
  double b1 = c.beta1, b2 = c.beta2, lr = c.lr, wd = c.weight_decay;
  for (int i = 0; i < p->n; i++)
    for (size_t j = 0; j < p->t[i]->size; j++, k++) {
      double g = p->t[i]->grad[j];
      if (c.decoupled)
        R->th[k] -= lr * wd * R->th[k];
      else
        g += wd * R->th[k];
      R->m[k] = b1 * R->m[k] + (1 - b1) * g;
      R->mabs[k] = b1 * R->mabs[k] + (1 - b1) * fabs(g);
      R->v[k] = b2 * R->v[k] + (1 - b2) * g * g;
      double mhat = R->m[k] / (1 - pow(b1, t)), vhat = R->v[k] / (1 - pow(b2, t));
      R->th[k] -= lr * mhat / (sqrt(vhat) + c.eps);
    }
}

/* Compare θ (absolute tol) and the moments (relative tol; for m relative to the size of its
 * terms, since gradients of both signs cancel) with the reference. */
static void expect_group_near(const bh_adam *a, const ref *R, double th_tol, double mv_rtol) {
  const bh_params *p = a->p;
  size_t k = 0;
  for (int i = 0; i < p->n; i++)
    for (size_t j = 0; j < p->t[i]->size; j++, k++) {
      size_t off = p->offset[i] + j;
      if (fabs(p->t[i]->data[j] - R->th[k]) > th_tol)
        fail_msg("%s[%zu]: theta %.9g, reference %.9g", p->names[i], j, p->t[i]->data[j],
                 R->th[k]);
      if (fabs(a->m[off] - R->m[k]) > mv_rtol * R->mabs[k] + 1e-12)
        fail_msg("%s[%zu]: m %.9g, reference %.9g", p->names[i], j, a->m[off], R->m[k]);
      if (fabs(a->v[off] - R->v[k]) > mv_rtol * fabs(R->v[k]) + 1e-15)
        fail_msg("%s[%zu]: v %.9g, reference %.9g", p->names[i], j, a->v[off], R->v[k]);
    }
}

/* Step 1 in closed form: m̂ = g and v̂ = g², so with eps ≪ |g| the update is θ − lr·sign(g). */
static void test_first_step_closed_form(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  bh_params *p = two_tensor_group();
  fill_group(p, r, 0.0f, 1.0f, 0);
  fill_group(p, r, 0.05f, 1.0f, 1); /* |g| >= 0.05, so eps = 1e-12 is negligible */
  float *th0 = malloc(p->size * sizeof(float)), *g = malloc(p->size * sizeof(float));
  memcpy(th0, p->data, p->size * sizeof(float));
  memcpy(g, p->grad, p->size * sizeof(float));
  bh_adam_config c = bh_adam_config_default();
  c.lr = 0.01, c.eps = 1e-12;
  bh_adam *a = bh_adam_alloc(p, c);
  assert_non_null(a);
  assert_int_equal(a->step, 0);
  assert_int_equal(bh_adam_step(a), BH_OK);
  assert_int_equal(a->step, 1);
  for (int i = 0; i < p->n; i++)
    for (size_t j = 0; j < p->t[i]->size; j++) {
      size_t o = p->offset[i] + j;
      float s = g[o] > 0 ? 1.0f : -1.0f;
      /* float rounding of θ (|θ| <= 1) is 6e-8; of lr·m̂/√v̂ ~ 1e-9 */
      assert_float_equal(p->data[o], th0[o] - 0.01f * s, 2e-7);
      assert_float_equal(a->m[o], 0.1f * g[o], 1e-7);      /* (1 − β1)·g */
      assert_float_equal(a->v[o], 0.001f * g[o] * g[o], 1e-9); /* (1 − β2)·g² */
    }
  free(th0);
  free(g);
  bh_adam_free(a);
  bh_params_free(p);
  gsl_rng_free(r);
}

/* Run `steps` steps with fresh random gradients each time, checking against the reference
 * after every step. */
static void run_against_reference(bh_adam_config c, int steps, unsigned long seed) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  bh_params *p = two_tensor_group();
  fill_group(p, r, 0.0f, 1.0f, 0);
  ref R = ref_from_group(p);
  bh_adam *a = bh_adam_alloc(p, c);
  assert_non_null(a);
  for (int t = 1; t <= steps; t++) {
    /* gradients over three decades so that eps and the bias corrections both matter */
    for (int i = 0; i < p->n; i++)
      for (size_t j = 0; j < p->t[i]->size; j++)
        p->t[i]->grad[j] = signed_uniform(r, 0.1f, 1.0f) * powf(10.0f, -(float)(j % 3));
    ref_step(&R, p, c, t);
    assert_int_equal(bh_adam_step(a), BH_OK);
    /* θ: one float rounding (6e-8 for |θ| <= 1) per step plus ~1e-9 from the update;
     * m, v: a few float roundings each step, relative */
    expect_group_near(a, &R, 1e-7 * t, 1e-5);
  }
  assert_int_equal(a->step, steps);
  ref_free(&R);
  bh_adam_free(a);
  bh_params_free(p);
  gsl_rng_free(r);
}

static void test_steps_match_reference(void **state) {
  (void)state;
  bh_adam_config c = bh_adam_config_default();
  c.lr = 0.01;
  run_against_reference(c, 20, 1);
  /* other betas and a large eps (eps comparable to √v̂ for the 1e-2 gradients) */
  c.beta1 = 0.5, c.beta2 = 0.9, c.eps = 1e-3;
  run_against_reference(c, 20, 2);
}

static void test_weight_decay_variants(void **state) {
  (void)state;
  bh_adam_config c = bh_adam_config_default();
  c.lr = 0.01, c.weight_decay = 0.1;
  run_against_reference(c, 15, 3); /* L2: g + wd·θ */
  c.decoupled = 1;
  run_against_reference(c, 15, 3); /* AdamW: θ·(1 − lr·wd) */

  /* the three variants really differ after one step (wd is not ignored) */
  float out[3];
  for (int variant = 0; variant < 3; variant++) {
    bh_params *p = bh_params_alloc();
    int one = 1;
    bh_tensor *t = bh_params_add(p, "x", 1, &one);
    t->data[0] = 2.0f, t->grad[0] = 0.5f;
    bh_adam_config cv = bh_adam_config_default();
    cv.lr = 0.1;
    cv.weight_decay = variant ? 0.5 : 0.0;
    cv.decoupled = variant == 2;
    bh_adam *a = bh_adam_alloc(p, cv);
    bh_adam_step(a);
    out[variant] = t->data[0];
    bh_adam_free(a);
    bh_params_free(p);
  }
  /* none: 2 − 0.1·sign(0.5) = 1.9; L2: g = 0.5 + 0.5·2 > 0, still 1.9 on step 1 (sign only),
   * AdamW: 2·(1 − 0.05) − 0.1 = 1.8 */
  assert_float_equal(out[0], 1.9f, 1e-6);
  assert_float_equal(out[1], 1.9f, 1e-6);
  assert_float_equal(out[2], 1.8f, 1e-6);
}

/* The update is elementwise, so any partition gives the same bits. */
static void test_threads_bit_exact(void **state) {
  (void)state;
  const int counts[3] = {1, 2, 3};
  const int n = 300001; /* > 2 parts' worth at any grain up to 100k floats */
  bh_params *p[3];
  bh_adam *a[3];
  for (int k = 0; k < 3; k++) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    p[k] = bh_params_alloc();
    int s2[2] = {1000, 300}, s1[1] = {n - 300000};
    bh_params_add(p[k], "w", 2, s2);
    bh_params_add(p[k], "b", 1, s1);
    fill_group(p[k], r, 0.0f, 1.0f, 0);
    bh_adam_config c = bh_adam_config_default();
    c.weight_decay = 0.01;
    a[k] = bh_adam_alloc(p[k], c);
    bh_threads_set(counts[k]);
    for (int t = 0; t < 3; t++) {
      fill_group(p[k], r, 1e-4f, 1.0f, 1);
      assert_int_equal(bh_adam_step(a[k]), BH_OK);
    }
    gsl_rng_free(r);
  }
  bh_threads_set(0);
  for (int k = 1; k < 3; k++) {
    assert_memory_equal(p[0]->data, p[k]->data, p[0]->size * sizeof(float));
    assert_memory_equal(a[0]->m, a[k]->m, a[0]->size * sizeof(float));
    assert_memory_equal(a[0]->v, a[k]->v, a[0]->size * sizeof(float));
  }
  for (int k = 0; k < 3; k++) {
    bh_adam_free(a[k]);
    bh_params_free(p[k]);
  }
}

/* f(θ) = Σ a_i (θ_i − c_i)², ∇ = 2 a_i (θ_i − c_i): Adam must reach the minimum. */
static void test_minimises_quadratic(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  bh_params *p = bh_params_alloc();
  int n = 50;
  bh_tensor *t = bh_params_add(p, "theta", 1, &n);
  float w[50], c[50];
  for (int i = 0; i < n; i++) {
    w[i] = 0.5f + 1.5f * (float)gsl_rng_uniform(r);
    c[i] = signed_uniform(r, 0.0f, 3.0f);
  }
  bh_adam_config cfg = bh_adam_config_default();
  cfg.lr = 0.01;
  bh_adam *a = bh_adam_alloc(p, cfg);
  double f0 = 0, f = 0;
  for (int i = 0; i < n; i++) f0 += w[i] * c[i] * c[i];
  for (int step = 0; step < 3000; step++) {
    bh_params_zero_grad(p);
    float *g = t->grad;
    for (int i = 0; i < n; i++) g[i] = 2.0f * w[i] * (t->data[i] - c[i]);
    t->flags &= ~BH_GRAD_FRESH; /* written by hand, as an op's backward would */
    assert_int_equal(bh_adam_step(a), BH_OK);
  }
  for (int i = 0; i < n; i++) {
    f += w[i] * (t->data[i] - c[i]) * (t->data[i] - c[i]);
    assert_float_equal(t->data[i], c[i], 1e-2);
  }
  assert_true(f < 1e-6 * f0);
  bh_adam_free(a);
  bh_params_free(p);
  gsl_rng_free(r);
}

/* bh_adam_step finishes the gradients: a grad nobody wrote this pass counts as zero, whatever
 * its buffer holds. */
static void test_unwritten_grads_are_zero(void **state) {
  (void)state;
  bh_params *p = two_tensor_group();
  for (size_t i = 0; i < p->size; i++) p->data[i] = 1.0f;
  bh_adam *a = bh_adam_alloc(p, bh_adam_config_default());
  bh_params_zero_grad(p);
  for (size_t i = 0; i < p->size; i++) p->grad[i] = 123.0f; /* stale values from an old pass */
  assert_int_equal(bh_adam_step(a), BH_OK);
  for (int i = 0; i < p->n; i++)
    for (size_t j = 0; j < p->t[i]->size; j++) {
      size_t o = p->offset[i] + j;
      assert_float_equal(p->data[o], 1.0f, 0.0);
      assert_float_equal(a->m[o], 0.0f, 0.0);
      assert_float_equal(p->grad[o], 0.0f, 0.0);
    }
  bh_adam_free(a);
  bh_params_free(p);
}

static void test_errors(void **state) {
  (void)state;
  bh_params *p = two_tensor_group();
  bh_adam_config c = bh_adam_config_default();
  c.beta1 = 1.0;
  assert_null(bh_adam_alloc(p, c));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "adam"));
  c = bh_adam_config_default();
  c.lr = NAN;
  assert_null(bh_adam_alloc(p, c));
  c = bh_adam_config_default();
  c.eps = -1.0;
  assert_null(bh_adam_alloc(p, c));

  bh_adam *a = bh_adam_alloc(p, bh_adam_config_default());
  assert_non_null(a);
  a->cfg.beta2 = -0.5; /* a config broken between steps is caught too */
  assert_int_equal(bh_adam_step(a), BH_EINVAL);
  a->cfg = bh_adam_config_default();
  int big = 1000;
  bh_params_add(p, "late", 1, &big); /* added after the optimiser: no moments for it */
  assert_int_equal(bh_adam_step(a), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "adam"));
  assert_non_null(strstr(bh_error_message(), "grew"));
  assert_int_equal(a->step, 0);
  bh_adam_free(a);
  bh_params_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_first_step_closed_form),
      cmocka_unit_test(test_steps_match_reference),
      cmocka_unit_test(test_weight_decay_variants),
      cmocka_unit_test(test_threads_bit_exact),
      cmocka_unit_test(test_minimises_quadratic),
      cmocka_unit_test(test_unwritten_grads_are_zero),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
