/* test_guidedvae_sup.c — the supervised Guided-VAE (baselines/guidedvae_sup.c): the attribute
 * key's validation, each phase's loss against an independent double computation on hand-set
 * heads (a head whose weights are all zero outputs its last bias for every input), the
 * uniform-target cross-entropy (= log K at equal logits), the phase/group layout and the
 * detachment of phase 1, whole-model finite-difference checks of phases 0, 1, 2, and a short
 * training run on a set whose label is visible in the image: the excitation head reads it off
 * z[0] and the inhibition adversary on the other latents is pushed towards chance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baselines/baselines.h"
#include "core/adam.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "models/train.h"
#include "tests/modelcheck.h"

#define IMG 16 /* 1 × 4 × 4 */
#ifndef EPS
#define EPS 2e-3
#endif

static const char *const base_sets[] = {"arch=fc", "enc_hidden=6", "dec_hidden=6", "z_dim=4",
                                        "head_hidden=5", NULL};

static bh_model *try_model(const bh_data_info *data, const char *const *sets, uint64_t seed) {
  return mc_model_try(&bh_guidedvae_sup_class, data, base_sets, sets, seed);
}

static bh_model *make_model(int nclasses, const char *const *sets, uint64_t seed) {
  bh_data_info d = {.c = 1, .h = 4, .w = 4, .n = 64, .nclasses = nclasses};
  return mc_model_make(&bh_guidedvae_sup_class, &d, base_sets, sets, seed);
}

/* every tensor of group p under "<prefix>." set to zero; returns the last 1-D one (the output
 * bias: layers register in order), which must have `size` elements */
static bh_tensor *zero_head(bh_params *p, const char *prefix, size_t size) {
  mc_params_zero_prefix(p, prefix);
  return mc_params_output_bias(p, prefix, size);
}

/* −log softmax(l)[y] in double of float logits */
static double ce_double(const float *l, int k, int y) {
  double d[16];
  assert_true(k <= 16);
  for (int j = 0; j < k; j++) d[j] = l[j];
  return mc_cross_entropy(d, k, y);
}

/* ---- create: attribute validation, groups and phases ---- */
static void test_create(void **state) {
  (void)state;
  bh_data_info none = {.c = 1, .h = 4, .w = 4, .n = 8};
  const char *labels[] = {"attributes=labels", NULL};
  assert_null(try_model(&none, labels, 1));
  assert_non_null(strstr(bh_error_message(), "labels"));
  bh_data_info attrs = {.c = 1, .h = 4, .w = 4, .n = 8, .nattrs = 3};
  const char *bad_attr[] = {"attributes=attrs:1,3", NULL};
  assert_null(try_model(&attrs, bad_attr, 1));
  assert_non_null(strstr(bh_error_message(), "out of range"));
  const char *junk[] = {"attributes=colour", NULL};
  assert_null(try_model(&attrs, junk, 1));
  const char *too_many[] = {"attributes=attrs:0,1,2,0", NULL}; /* 4 attributes, z_dim 4 */
  assert_null(try_model(&attrs, too_many, 1));
  assert_non_null(strstr(bh_error_message(), "z_dim"));
  /* auto on factor data: factors 1 and 2 */
  bh_data_info fac = {.c = 1, .h = 4, .w = 4, .n = 8, .nfactors = 3, .factor_sizes = {1, 3, 6}};
  bh_model *m = try_model(&fac, NULL, 1);
  if (!m) fail_msg("%s", bh_error_message());
  assert_non_null(bh_params_find(m->group[1], "adv1.2.b"));
  assert_int_equal((int)bh_params_find(m->group[1], "adv0.2.b")->size, 3);
  assert_int_equal((int)bh_params_find(m->group[1], "adv1.2.b")->size, 6);
  assert_int_equal((int)bh_params_find(m->group[0], "excite1.0.w")->size, 5); /* 1 -> 5 */
  assert_int_equal((int)bh_params_find(m->group[1], "adv0.0.w")->size, 5 * 3); /* 3 -> 5 */
  bh_model_free(m);
  m = make_model(10, NULL, 1);
  assert_int_equal(m->ngroups, 2);
  assert_string_equal(m->group_name[1], "adv");
  assert_int_equal(m->nphases, 3);
  assert_int_equal(m->phase_group[0], 0);
  assert_int_equal(m->phase_group[1], 1);
  assert_int_equal(m->phase_group[2], 0);
  assert_float_equal(m->adam[1].lr, 1e-4, 1e-12);
  assert_float_equal(m->adam[1].weight_decay, 1e-4, 1e-12);
  assert_int_equal((int)bh_params_find(m->group[0], "excite0.2.b")->size, 10);
  bh_model_free(m);
}

/* ---- the three phases against double computations on hand-set heads ---- */
static void test_phase_losses(void **state) {
  (void)state;
  enum { N = 6, K = 3 };
  const char *sets[] = {"w_cls=2.5", NULL};
  bh_model *m = make_model(K, sets, 3);
  float eb[K] = {0.3f, -1.2f, 0.8f}, ab[K] = {-0.4f, 1.1f, 0.2f};
  memcpy(zero_head(m->group[0], "excite0", K)->data, eb, sizeof eb);
  memcpy(zero_head(m->group[1], "adv0", K)->data, ab, sizeof ab);
  float x[N * IMG];
  mc_random_binary_images(x, N, IMG, 5, 0.4);
  int y[N] = {0, 2, 1, 1, 0, 2};
  bh_batch b = {.n = N, .x = x, .labels = y};
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(9);
  bh_terms t;
  bh_terms_clear(&t);
  bh_tensor *l0 = mc_run_loss(m, ctx, 0, &b, rng, &t);
  double exc = 0.0, adv = 0.0, uni = 0.0;
  int eacc = 0, aacc = 0; /* argmax of eb is 2, of ab is 1 */
  for (int i = 0; i < N; i++) {
    exc += 2.5 * ce_double(eb, K, y[i]) / N;
    adv += 2.5 * ce_double(ab, K, y[i]) / N;
    eacc += y[i] == 2, aacc += y[i] == 1;
  }
  for (int k = 0; k < K; k++) uni += 2.5 * ce_double(ab, K, k) / K;
  mc_expect_close("excite", bh_terms_get(&t, "excite"), exc, 1e-6);
  mc_expect_close("excite_acc", bh_terms_get(&t, "excite_acc"), (double)eacc / N, 1e-12);
  mc_expect_close("loss", l0->data[0],
               bh_terms_get(&t, "recon") + bh_terms_get(&t, "kl") + exc, 1e-6);
  assert_float_equal(bh_terms_get(&t, "loss"), l0->data[0], 0.0);
  bh_tensor *l1 = mc_run_loss(m, ctx, 1, &b, rng, &t);
  mc_expect_close("adv_loss", l1->data[0], adv, 1e-6);
  mc_expect_close("adv_acc", bh_terms_get(&t, "adv_acc"), (double)aacc / N, 1e-12);
  bh_tensor *l2 = mc_run_loss(m, ctx, 2, &b, rng, &t);
  mc_expect_close("inhibit", l2->data[0], uni, 1e-6);
  assert_float_equal(bh_terms_get(&t, "inhibit"), l2->data[0], 0.0);
  /* equal logits: the uniform-target CE is exactly log K per attribute */
  bh_tensor *abias = zero_head(m->group[1], "adv0", K);
  for (int k = 0; k < K; k++) abias->data[k] = 0.7f;
  l2 = mc_run_loss(m, ctx, 2, &b, rng, &t);
  mc_expect_close("inhibit at equal logits", l2->data[0], 2.5 * log((double)K), 1e-6);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

/* ---- phase 0 with a real (random) excitation head against the model's own encoder outputs,
 * recomputed in double: the head is an MLP 1 -> 5 -> 5 -> K on z[0] ---- */
static void head_double(const bh_params *p, const char *prefix, const double *in, int nin,
                        double *out, int k) {
  const int widths[4] = {nin, 5, 5, k};
  mc_mlp_double(p, prefix, 3, widths, in, out);
}

static void test_adversary_on_others(void **state) {
  (void)state;
  enum { N = 5, K = 2 };
  bh_model *m = make_model(K, NULL, 4);
  float x[N * IMG];
  mc_random_binary_images(x, N, IMG, 6, 0.5);
  int y[N] = {1, 0, 0, 1, 1};
  bh_batch b = {.n = N, .x = x, .labels = y};
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(2);
  bh_terms t;
  bh_terms_clear(&t);
  bh_tensor *l0 = mc_run_loss(m, ctx, 0, &b, rng, &t);
  (void)l0;
  /* the stashed z is the sample phase 0 drew: recompute it with the same noise stream */
  bh_rng *rng2 = bh_rng_alloc(2);
  bh_ctx *c2 = bh_ctx_alloc(1 << 20);
  bh_ctx_set_grad(c2, 0);
  int shape[4] = {N, 1, 4, 4};
  bh_tensor *mu, *lv;
  assert_int_equal(m->cls->encode(m, c2, bh_tensor_view(c2, x, 4, shape), &mu, &lv), BH_OK);
  bh_tensor *z = bh_reparam(c2, mu, lv, bh_rng_stream(rng2, "noise"));
  double exc = 0.0, adv = 0.0;
  for (int i = 0; i < N; i++) {
    double z0 = z->data[i * 4], others[3], le[K], la[K];
    for (int j = 1; j < 4; j++) others[j - 1] = z->data[i * 4 + j];
    head_double(m->group[0], "excite0", &z0, 1, le, K);
    head_double(m->group[1], "adv0", others, 3, la, K);
    float fe[K] = {(float)le[0], (float)le[1]}, fa[K] = {(float)la[0], (float)la[1]};
    exc += 200.0 * ce_double(fe, K, y[i]) / N;
    adv += 200.0 * ce_double(fa, K, y[i]) / N;
  }
  mc_expect_close("excite (random head)", bh_terms_get(&t, "excite"), exc, 1e-5);
  /* phase 1 reads the stash: perturbing the encoder after phase 0 changes nothing */
  for (int i = 0; i < m->group[0]->n; i++) m->group[0]->t[i]->data[0] += 0.5f;
  bh_tensor *l1 = mc_run_loss(m, ctx, 1, &b, rng, &t);
  mc_expect_close("adv_loss (random head)", l1->data[0], adv, 1e-5);
  bh_rng_free(rng2);
  bh_ctx_free(c2);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

/* ---- finite differences of every phase ---- */
static void test_gradcheck(void **state) {
  (void)state;
  const char *sets[] = {"w_cls=1", NULL}; /* keep the loss O(10): float rounding */
  bh_model *m = make_model(3, sets, 24);
  enum { N = 5 };
  float x[N * IMG];
  mc_random_binary_images(x, N, IMG, 31, 0.4);
  int y[N] = {0, 1, 2, 2, 1};
  bh_batch b = {.n = N, .x = x, .labels = y};
  for (int phase = 0; phase < 3; phase++)
    if (mc_check_phase(m, phase, &b, 77, EPS, 2e-3, 2e-2, 1000) != 0)
      fail_msg("phase %d: gradient check failed", phase);
  bh_model_free(m);
}

/* ---- groups: one bh_train_step with the main group's lr 0 leaves it unchanged and moves the
 * adversary (phase 1 trains it); with adv_lr 0 the adversary stays put although phases 0 and 2
 * back-propagate through it (the inhibition loss does not train it) and the main group moves ---- */
static void step_groups(const char *lr_key, int *main_moved, int *adv_moved) {
  const char *sets[] = {lr_key, NULL};
  bh_model *m = make_model(2, sets, 8);
  enum { N = 4 };
  float x[N * IMG];
  mc_random_binary_images(x, N, IMG, 7, 0.5);
  int y[N] = {0, 1, 1, 0};
  bh_batch b = {.n = N, .x = x, .labels = y};
  float *m0 = mc_group_copy(m->group[0]), *a0 = mc_group_copy(m->group[1]);
  bh_adam *adam[BH_MODEL_MAX_GROUPS] = {0};
  mc_adams_alloc(m, adam);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(1);
  bh_terms t;
  bh_terms_clear(&t);
  if (bh_train_step(m, ctx, adam, &b, rng, &t) != BH_OK) fail_msg("%s", bh_error_message());
  assert_true(isfinite(bh_terms_get(&t, "inhibit")) && isfinite(bh_terms_get(&t, "adv_loss")));
  *main_moved = mc_group_changed(m->group[0], m0);
  *adv_moved = mc_group_changed(m->group[1], a0);
  mc_adams_free(m, adam);
  free(m0), free(a0);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

static void test_phase_groups(void **state) {
  (void)state;
  int mm, am;
  step_groups("lr=0", &mm, &am);
  assert_false(mm);
  assert_true(am);
  step_groups("adv_lr=0", &mm, &am);
  assert_true(mm);
  assert_false(am);
}

/* ---- excitation and inhibition on a set whose label is visible in the image ----
 * 32 images 4×4 in 4 classes: class c has the bright 2×2 quadrant (row half c / 2, column half
 * c % 2), plus noise pixels.  Two bits and z_dim 2: without inhibition the VAE keeps part of the
 * class in z[1], where an adversary reads it.  Returns the mean excitation and
 * adversary accuracies over the last 50 of `steps` steps. */
static void run_inhibition(const char *w_inh, int steps, double *exc_acc, double *adv_acc) {
  enum { N = 32, K = 4 };
  const char *sets[] = {"w_cls=1", "lr=5e-3", "adv_lr=2e-2", "head_hidden=16", "z_dim=2", w_inh,
                        NULL};
  bh_model *m = make_model(K, sets, 1);
  float x[N * IMG];
  int y[N];
  mc_random_binary_images(x, N, IMG, 12, 0.1);
  for (int i = 0; i < N; i++) {
    y[i] = i % K;
    for (int r = 0; r < 2; r++)
      for (int c = 0; c < 2; c++) x[i * IMG + (r + 2 * (y[i] / 2)) * 4 + c + 2 * (y[i] % 2)] = 1.0f;
  }
  bh_batch b = {.n = N, .x = x, .labels = y};
  bh_adam *adam[BH_MODEL_MAX_GROUPS] = {0};
  mc_adams_alloc(m, adam);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(3);
  *exc_acc = *adv_acc = 0.0;
  for (int s = 0; s < steps; s++) {
    bh_terms t;
    bh_terms_clear(&t);
    if (bh_train_step(m, ctx, adam, &b, rng, &t) != BH_OK)
      fail_msg("step %d: %s", s, bh_error_message());
    assert_true(isfinite(bh_terms_get(&t, "loss")));
    if (s >= steps - 50) {
      *exc_acc += bh_terms_get(&t, "excite_acc") / 50;
      *adv_acc += bh_terms_get(&t, "adv_acc") / 50;
    }
  }
  mc_adams_free(m, adam);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

/* Measured (model seed 1, rng seed 3, 1000 full-batch steps, z_dim 2, w_cls 1): with
 * inhibition (w_inhibit 10) excitation 0.991, adversary 0.258 (chance 0.25); without it
 * (w_inhibit 0, the control that shows the set can fail the test) excitation 0.951,
 * adversary 0.561.  Thresholds with margin: on ≤ 0.35 and > 0.9; off ≥ 0.45.  The control
 * depends on the seed: with model seeds 2 and 5 the VAE alone already keeps the class out of
 * z[1] and both runs sit at chance; seed 1 is one where it does not. */
static void test_inhibition(void **state) {
  (void)state;
  double e1, a1, e0, a0;
  run_inhibition("w_inhibit=10", 1000, &e1, &a1);
  run_inhibition("w_inhibit=0", 1000, &e0, &a0);
  printf("inhibition on: excitation accuracy %.3f, adversary accuracy %.3f (chance 0.25)\n", e1,
         a1);
  printf("inhibition off: excitation accuracy %.3f, adversary accuracy %.3f\n", e0, a0);
  assert_true(e1 > 0.9);
  assert_true(a1 < 0.35);
  assert_true(a0 > 0.45);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create),
      cmocka_unit_test(test_phase_losses),
      cmocka_unit_test(test_adversary_on_others),
      cmocka_unit_test(test_gradcheck),
      cmocka_unit_test(test_phase_groups),
      cmocka_unit_test(test_inhibition),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
