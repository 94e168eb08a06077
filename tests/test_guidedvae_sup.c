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

static bh_model *try_model(const bh_data_info *data, const char *const *sets, uint64_t seed) {
  bh_config *cfg = bh_model_config_new(&bh_guidedvae_sup_class);
  assert_non_null(cfg);
  const char *base[] = {"arch=fc", "enc_hidden=6", "dec_hidden=6", "z_dim=4", "head_hidden=5",
                        NULL};
  for (int i = 0; base[i]; i++)
    assert_int_equal(bh_config_set_assignment(cfg, base[i], "test"), BH_OK);
  for (int i = 0; sets && sets[i]; i++)
    if (bh_config_set_assignment(cfg, sets[i], "test") != BH_OK)
      fail_msg("setting %s: %s", sets[i], bh_error_message());
  bh_rng *rng = bh_rng_alloc(seed);
  bh_model *m = bh_model_create(&bh_guidedvae_sup_class, cfg, data, rng);
  bh_rng_free(rng);
  return m;
}

static bh_model *make_model(int nclasses, const char *const *sets, uint64_t seed) {
  bh_data_info d = {.c = 1, .h = 4, .w = 4, .n = 64, .nclasses = nclasses};
  bh_model *m = try_model(&d, sets, seed);
  if (!m) fail_msg("bh_model_create: %s", bh_error_message());
  return m;
}

/* every tensor of group p under "<prefix>." set to zero; returns the last 1-D one (the output
 * bias: layers register in order), which must have `size` elements */
static bh_tensor *zero_head(bh_params *p, const char *prefix, size_t size) {
  size_t len = strlen(prefix);
  bh_tensor *bias = NULL;
  for (int i = 0; i < p->n; i++)
    if (strncmp(p->names[i], prefix, len) == 0 && p->names[i][len] == '.') {
      memset(p->t[i]->data, 0, p->t[i]->size * sizeof(float));
      if (p->t[i]->ndim == 1) bias = p->t[i];
    }
  if (!bias || bias->size != size) fail_msg("no output bias of size %zu under '%s'", size, prefix);
  return bias;
}

static void expect_close(const char *what, double got, double want, double rel) {
  if (!(fabs(got - want) <= rel * fmax(1.0, fabs(want))))
    fail_msg("%s: got %.9g, expected %.9g", what, got, want);
}

/* −log softmax(l)[y] in double */
static double ce_double(const float *l, int k, int y) {
  double mx = l[0], s = 0.0;
  for (int j = 1; j < k; j++) mx = fmax(mx, l[j]);
  for (int j = 0; j < k; j++) s += exp(l[j] - mx);
  return mx + log(s) - l[y];
}

static bh_tensor *run_loss(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *b, bh_rng *rng,
                           bh_terms *t) {
  bh_tensor *loss = m->cls->loss(m, ctx, phase, b, rng, t);
  if (!loss) fail_msg("phase %d: %s", phase, bh_error_message());
  assert_int_equal((int)loss->size, 1);
  return loss;
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
  bh_tensor *l0 = run_loss(m, ctx, 0, &b, rng, &t);
  double exc = 0.0, adv = 0.0, uni = 0.0;
  int eacc = 0, aacc = 0; /* argmax of eb is 2, of ab is 1 */
  for (int i = 0; i < N; i++) {
    exc += 2.5 * ce_double(eb, K, y[i]) / N;
    adv += 2.5 * ce_double(ab, K, y[i]) / N;
    eacc += y[i] == 2, aacc += y[i] == 1;
  }
  for (int k = 0; k < K; k++) uni += 2.5 * ce_double(ab, K, k) / K;
  expect_close("excite", bh_terms_get(&t, "excite"), exc, 1e-6);
  expect_close("excite_acc", bh_terms_get(&t, "excite_acc"), (double)eacc / N, 1e-12);
  expect_close("loss", l0->data[0],
               bh_terms_get(&t, "recon") + bh_terms_get(&t, "kl") + exc, 1e-6);
  assert_float_equal(bh_terms_get(&t, "loss"), l0->data[0], 0.0);
  bh_tensor *l1 = run_loss(m, ctx, 1, &b, rng, &t);
  expect_close("adv_loss", l1->data[0], adv, 1e-6);
  expect_close("adv_acc", bh_terms_get(&t, "adv_acc"), (double)aacc / N, 1e-12);
  bh_tensor *l2 = run_loss(m, ctx, 2, &b, rng, &t);
  expect_close("inhibit", l2->data[0], uni, 1e-6);
  assert_float_equal(bh_terms_get(&t, "inhibit"), l2->data[0], 0.0);
  /* equal logits: the uniform-target CE is exactly log K per attribute */
  bh_tensor *abias = zero_head(m->group[1], "adv0", K);
  for (int k = 0; k < K; k++) abias->data[k] = 0.7f;
  l2 = run_loss(m, ctx, 2, &b, rng, &t);
  expect_close("inhibit at equal logits", l2->data[0], 2.5 * log((double)K), 1e-6);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

/* ---- phase 0 with a real (random) excitation head against the model's own encoder outputs,
 * recomputed in double: the head is an MLP 1 -> 5 -> 5 -> K on z[0] ---- */
static double leaky(double v) { return v > 0 ? v : 0.2 * v; }
static void head_double(const bh_params *p, const char *prefix, const double *in, int nin,
                        double *out, int k) {
  double h[2][8];
  const double *cur = in;
  int widths[4] = {nin, 5, 5, k};
  for (int l = 0; l < 3; l++) {
    char wn[32], bn[32];
    snprintf(wn, sizeof wn, "%s.%d.w", prefix, l);
    snprintf(bn, sizeof bn, "%s.%d.b", prefix, l);
    const bh_tensor *w = bh_params_find(p, wn), *b = bh_params_find(p, bn);
    assert_non_null(w);
    assert_non_null(b);
    double *dst = l == 2 ? out : h[l];
    for (int o = 0; o < widths[l + 1]; o++) {
      double s = b->data[o];
      for (int i = 0; i < widths[l]; i++) s += w->data[o * widths[l] + i] * cur[i];
      dst[o] = l == 2 ? s : leaky(s);
    }
    cur = dst;
  }
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
  bh_tensor *l0 = run_loss(m, ctx, 0, &b, rng, &t);
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
  expect_close("excite (random head)", bh_terms_get(&t, "excite"), exc, 1e-5);
  /* phase 1 reads the stash: perturbing the encoder after phase 0 changes nothing */
  for (int i = 0; i < m->group[0]->n; i++) m->group[0]->t[i]->data[0] += 0.5f;
  bh_tensor *l1 = run_loss(m, ctx, 1, &b, rng, &t);
  expect_close("adv_loss (random head)", l1->data[0], adv, 1e-5);
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
static float *copy_group(const bh_params *p) {
  float *c = malloc(bh_params_count(p) * sizeof(float)), *q = c;
  assert_non_null(c);
  for (int i = 0; i < p->n; i++) memcpy(q, p->t[i]->data, p->t[i]->size * sizeof(float)),
                                 q += p->t[i]->size;
  return c;
}

static int group_changed(const bh_params *p, const float *c) {
  for (int i = 0; i < p->n; i++, c += p->t[i - 1]->size)
    if (memcmp(p->t[i]->data, c, p->t[i]->size * sizeof(float)) != 0) return 1;
  return 0;
}

static void step_groups(const char *lr_key, int *main_moved, int *adv_moved) {
  const char *sets[] = {lr_key, NULL};
  bh_model *m = make_model(2, sets, 8);
  enum { N = 4 };
  float x[N * IMG];
  mc_random_binary_images(x, N, IMG, 7, 0.5);
  int y[N] = {0, 1, 1, 0};
  bh_batch b = {.n = N, .x = x, .labels = y};
  float *m0 = copy_group(m->group[0]), *a0 = copy_group(m->group[1]);
  bh_adam *adam[BH_MODEL_MAX_GROUPS] = {0};
  for (int g = 0; g < m->ngroups; g++) assert_non_null(adam[g] = bh_adam_alloc(m->group[g], m->adam[g]));
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(1);
  bh_terms t;
  bh_terms_clear(&t);
  if (bh_train_step(m, ctx, adam, &b, rng, &t) != BH_OK) fail_msg("%s", bh_error_message());
  assert_true(isfinite(bh_terms_get(&t, "inhibit")) && isfinite(bh_terms_get(&t, "adv_loss")));
  *main_moved = group_changed(m->group[0], m0);
  *adv_moved = group_changed(m->group[1], a0);
  for (int g = 0; g < m->ngroups; g++) bh_adam_free(adam[g]);
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
  for (int g = 0; g < m->ngroups; g++) assert_non_null(adam[g] = bh_adam_alloc(m->group[g], m->adam[g]));
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
  for (int g = 0; g < m->ngroups; g++) bh_adam_free(adam[g]);
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
