/* test_guidedvae.c — the unsupervised Guided-VAE class (baselines/guidedvae.c): the rotation θ
 * op by finite differences and closed form; the guide decoder against independent
 * double-precision recomputations (the identity transform reproduces the template; a 90°
 * rotation, followed by a flip, permutes the pixels of a 4×4 template in the official order; a
 * one-pixel translation shifts in zeros); ORG by hand; whole-model finite-difference checks on
 * tiny networks, with and without translation; and a short run that lowers the guide term.
 *
 * Hand-set guide decoders: with the template weights W zero, T = sigmoid(b) for every example
 * whatever the codes; with the rotation/scale/translation weights zero, their outputs are their
 * biases.  So the guide term is a known function of b and the batch alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gsl/gsl_rng.h>
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
#include "tests/gradcheck.h"
#include "tests/modelcheck.h"

/* A guidedvae on 1×side×side images, fc networks of width 6, z_dim and extra settings. */
static bh_model *make_model(int side, int z_dim, int translation, uint64_t seed) {
  bh_config *cfg = bh_model_config_new(&bh_guidedvae_class);
  assert_non_null(cfg);
  char zs[32], ts[32];
  snprintf(zs, sizeof zs, "z_dim=%d", z_dim);
  snprintf(ts, sizeof ts, "translation=%d", translation);
  const char *sets[] = {"arch=fc", "enc_hidden=6", "dec_hidden=6", zs, ts, NULL};
  for (int i = 0; sets[i]; i++)
    if (bh_config_set_assignment(cfg, sets[i], "test") != BH_OK)
      fail_msg("setting %s: %s", sets[i], bh_error_message());
  bh_data_info d = {.c = 1, .h = side, .w = side, .n = 64};
  bh_rng *rng = bh_rng_alloc(seed);
  bh_model *m = bh_model_create(&bh_guidedvae_class, cfg, &d, rng);
  bh_rng_free(rng);
  if (!m) fail_msg("bh_model_create: %s", bh_error_message());
  return m;
}

static bh_tensor *param(bh_model *m, const char *name) {
  bh_tensor *t = bh_params_find(m->group[0], name);
  if (!t) fail_msg("no parameter %s", name);
  return t;
}

/* Template T = sigmoid(logit(tmpl)) for every example; rotation a, scale (s1, s2), translation
 * (tx, ty) when the model has it — all independent of z. */
static void set_guide(bh_model *m, const double *tmpl, double a, double s1, double s2,
                      double tx, double ty) {
  bh_tensor *w = param(m, "guide.template.w"), *b = param(m, "guide.template.b");
  memset(w->data, 0, w->size * sizeof(float));
  for (size_t j = 0; j < b->size; j++) b->data[j] = (float)log(tmpl[j] / (1.0 - tmpl[j]));
  param(m, "guide.rotation.w")->data[0] = 0.0f;
  param(m, "guide.rotation.b")->data[0] = (float)a;
  bh_tensor *sw = param(m, "guide.scale.w"), *sb = param(m, "guide.scale.b");
  sw->data[0] = sw->data[1] = 0.0f;
  sb->data[0] = (float)s1, sb->data[1] = (float)s2;
  bh_tensor *tw = bh_params_find(m->group[0], "guide.translation.w");
  if (tw) {
    memset(tw->data, 0, tw->size * sizeof(float));
    bh_tensor *tb = param(m, "guide.translation.b");
    tb->data[0] = (float)tx, tb->data[1] = (float)ty;
  }
}

/* The guide term of one loss evaluation (terms["guide"]), and the terms. */
static double guide_term(bh_model *m, const float *x, int n, bh_terms *t) {
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(9);
  bh_batch b = {.n = n, .x = x};
  bh_terms_clear(t);
  bh_tensor *loss = m->cls->loss(m, ctx, 0, &b, rng, t);
  if (!loss) fail_msg("loss: %s", bh_error_message());
  double g = bh_terms_get(t, "guide");
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  return g;
}

/* mean_i Σ_j −[x log(p + ε) + (1 − x) log(1 − p + ε)], p the same for every example */
static double bce_ref(const double *p, const float *x, int n, int size) {
  double s = 0.0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < size; j++) {
      double xv = x[i * size + j];
      s -= xv * log(p[j] + 1e-7) + (1.0 - xv) * log(1.0 - p[j] + 1e-7);
    }
  return s / n;
}

static void random_template(double *t, int size, unsigned long seed) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  for (int j = 0; j < size; j++) t[j] = 0.05 + 0.9 * gsl_rng_uniform(r);
  gsl_rng_free(r);
}

static void expect_close(const char *what, double got, double want, double rel) {
  if (!(fabs(got - want) <= rel * fmax(1.0, fabs(want))))
    fail_msg("%s: got %.9g, expected %.9g", what, got, want);
}

/* ---- rotation θ: closed form and finite differences ---- */

static bh_tensor *build_rot(bh_ctx *ctx, bh_tensor **in, void *user) {
  (void)user;
  return bh_guidedvae_rotation_theta(ctx, in[0]);
}

static void test_rotation_theta(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(1 << 16);
  bh_tensor *a = bh_tensor_new2(ctx, 7, 1);
  gc_fill_uniform(a, 3, -4.0f, 4.0f);
  bh_tensor *th = bh_guidedvae_rotation_theta(ctx, a);
  assert_non_null(th);
  assert_int_equal(th->ndim, 3);
  for (int i = 0; i < 7; i++) {
    double c = cos(a->data[i]), s = sin(a->data[i]);
    double want[6] = {c, s, 0, -s, c, 0};
    for (int k = 0; k < 6; k++) assert_float_equal(th->data[6 * i + k], want[k], 1e-6);
  }
  /* wrong shape */
  assert_null(bh_guidedvae_rotation_theta(ctx, bh_tensor_new2(ctx, 3, 2)));
  bh_ctx_free(ctx);
}

static void test_rotation_theta_fd(void **state) {
  (void)state;
  bh_tensor *a = bh_tensor_alloc2(9, 1, 1);
  gc_fill_uniform(a, 5, -4.0f, 4.0f);
  bh_tensor *in[1] = {a};
  gc_opts o = {.eps = 3e-3, .atol = 1e-4, .rtol = 1e-3, .max_elems = 0};
  assert_int_equal(gc_check("rotation_theta", build_rot, in, 1, NULL, o), 0);
  bh_tensor_free(a);
}

/* ---- identity transform reproduces the template ---- */

static void test_identity(void **state) {
  (void)state;
  enum { S = 8, SIZE = S * S, N = 5 };
  bh_model *m = make_model(S, 5, 0, 1);
  double tmpl[SIZE];
  random_template(tmpl, SIZE, 21);
  set_guide(m, tmpl, 0.0, 1.0, 1.0, 0.0, 0.0);
  float x[N * SIZE];
  mc_random_binary_images(x, N, SIZE, 4, 0.5);
  bh_terms t;
  double g = guide_term(m, x, N, &t);
  expect_close("identity guide", g, bce_ref(tmpl, x, N, SIZE), 2e-6);
  /* a pixel shift would change the value: the reference with the template mirrored */
  double mir[SIZE];
  for (int j = 0; j < SIZE; j++) mir[j] = tmpl[SIZE - 1 - j];
  assert_true(fabs(g - bce_ref(mir, x, N, SIZE)) > 1e-2);
  /* same with translation codes at zero */
  bh_model_free(m);
  m = make_model(S, 6, 1, 2);
  set_guide(m, tmpl, 0.0, 1.0, 1.0, 0.0, 0.0);
  expect_close("identity guide (translation)", guide_term(m, x, N, &t),
               bce_ref(tmpl, x, N, SIZE), 2e-6);
  bh_model_free(m);
}

/* ---- a 90° rotation, then the scale (1, −1): pixels permute in the official order ----
 * Output pixel (r, c) of an S×S image sits at xn = (2c+1)/S − 1, yn = (2r+1)/S − 1.
 * Rotation by π/2: θ = [[0, 1, 0], [−1, 0, 0]] reads source (yn, −xn): T'[r][c] = T[S−1−c][r].
 * Scale (1, −1) then reads T'' at (xn, −yn): T''[r][c] = T'[S−1−r][c] = T[S−1−c][S−1−r].
 * (The other order would give T[c][r].) */
static void test_rotation_90(void **state) {
  (void)state;
  enum { S = 4, SIZE = S * S, N = 3 };
  bh_model *m = make_model(S, 3, 0, 3);
  double tmpl[SIZE], rot[SIZE], rot_flip[SIZE], other[SIZE];
  random_template(tmpl, SIZE, 22);
  for (int r = 0; r < S; r++)
    for (int c = 0; c < S; c++) {
      rot[r * S + c] = tmpl[(S - 1 - c) * S + r];
      rot_flip[r * S + c] = tmpl[(S - 1 - c) * S + (S - 1 - r)];
      other[r * S + c] = tmpl[c * S + r];
    }
  float x[N * SIZE];
  mc_random_binary_images(x, N, SIZE, 6, 0.5);
  bh_terms t;
  set_guide(m, tmpl, M_PI / 2, 1.0, 1.0, 0.0, 0.0);
  expect_close("rotation 90", guide_term(m, x, N, &t), bce_ref(rot, x, N, SIZE), 1e-5);
  set_guide(m, tmpl, M_PI / 2, 1.0, -1.0, 0.0, 0.0);
  double g = guide_term(m, x, N, &t);
  expect_close("rotation 90 then flip", g, bce_ref(rot_flip, x, N, SIZE), 1e-5);
  assert_true(fabs(g - bce_ref(other, x, N, SIZE)) > 1e-2);
  bh_model_free(m);
}

/* ---- translation by one pixel: tx = 2/S reads column c + 1; the last column is outside the
 * image (zero padding: p = 0) ---- */
static void test_translation(void **state) {
  (void)state;
  enum { S = 4, SIZE = S * S, N = 3 };
  bh_model *m = make_model(S, 5, 1, 4);
  double tmpl[SIZE], shifted[SIZE];
  random_template(tmpl, SIZE, 23);
  for (int r = 0; r < S; r++)
    for (int c = 0; c < S; c++) shifted[r * S + c] = c + 1 < S ? tmpl[r * S + c + 1] : 0.0;
  float x[N * SIZE];
  mc_random_binary_images(x, N, SIZE, 7, 0.5);
  set_guide(m, tmpl, 0.0, 1.0, 1.0, 2.0 / S, 0.0);
  bh_terms t;
  expect_close("translation", guide_term(m, x, N, &t), bce_ref(shifted, x, N, SIZE), 1e-5);
  bh_model_free(m);
}

/* ---- ORG by hand, and the loss adds up ---- */
static void test_org(void **state) {
  (void)state;
  enum { S = 4, SIZE = S * S, N = 2, K = 3 };
  bh_model *m = make_model(S, 2 + K, 0, 5);
  bh_tensor *w = param(m, "guide.template.w"); /* [SIZE × K] */
  assert_int_equal(w->shape[0], SIZE);
  assert_int_equal(w->shape[1], K);
  gc_fill_uniform(w, 8, -1.0f, 1.0f);
  double org = 0.0;
  for (int i = 0; i < K; i++)
    for (int j = 0; j < K; j++) {
      if (i == j) continue;
      double g = 0.0;
      for (int p = 0; p < SIZE; p++) g += (double)w->data[p * K + i] * w->data[p * K + j];
      org += fabs(g);
    }
  float x[N * SIZE];
  mc_random_binary_images(x, N, SIZE, 9, 0.5);
  bh_terms t;
  guide_term(m, x, N, &t);
  expect_close("org", bh_terms_get(&t, "org"), org, 1e-5);
  double want = bh_terms_get(&t, "recon") + bh_terms_get(&t, "kl") +
                0.5 * bh_terms_get(&t, "guide") + 1.0 * org;
  expect_close("loss = recon + kl + 0.5 guide + org", bh_terms_get(&t, "loss"), want, 1e-5);
  bh_model_free(m);
}

/* ---- configuration errors ---- */
static void test_errors(void **state) {
  (void)state;
  const char *bad[][2] = {{"z_dim=2", "translation=0"}, {"z_dim=4", "translation=1"},
                          {"w_guide=-1", "z_dim=5"}, {"w_org=-1", "z_dim=5"}};
  for (int k = 0; k < 4; k++) {
    bh_config *cfg = bh_model_config_new(&bh_guidedvae_class);
    assert_int_equal(bh_config_set_assignment(cfg, "arch=fc", "t"), BH_OK);
    assert_int_equal(bh_config_set_assignment(cfg, bad[k][0], "t"), BH_OK);
    assert_int_equal(bh_config_set_assignment(cfg, bad[k][1], "t"), BH_OK);
    bh_data_info d = {.c = 1, .h = 4, .w = 4, .n = 8};
    bh_model *m = bh_model_create(&bh_guidedvae_class, cfg, &d, NULL);
    assert_null(m);
    assert_non_null(strstr(bh_error_message(), "guidedvae"));
  }
}

/* ---- whole-model finite differences ----
 * Bilinear sampling is piecewise smooth: where a sample point crosses a pixel line the slope
 * jumps by (second difference of the sampled image) × (the point's speed), and with a random
 * template such a jump inside [θ − eps, θ + eps] spoils a central difference (seen: a slope
 * change of 1.4 in the loss at 1e-3 from a rotation weight).  So the check runs on a smooth
 * template — logits a gentle linear ramp plus small random weights — whose bilinear samples
 * are nearly linear, and a guide scale of about 1/3, so every sample point of both passes reads
 * the template's interior (no zero padding, T'' bounded away from 0, where the guide BCE's
 * curvature 1/(T'' + ε)² would also swamp a finite difference).  Tolerances allow the float32
 * rounding, about 1e-7·|L|/eps. */
static void gradcheck(int z_dim, int translation) {
  enum { S = 8, SIZE = S * S, N = 4 };
  bh_model *m = make_model(S, z_dim, translation, 11);
  bh_tensor *w = param(m, "guide.template.w"), *tb0 = param(m, "guide.template.b");
  gc_fill_uniform(w, 31, -0.05f, 0.05f);
  for (int r = 0; r < S; r++)
    for (int c = 0; c < S; c++)
      tb0->data[r * S + c] = 0.4f * ((2 * c + 1.0f) / S - 1) + 0.3f * ((2 * r + 1.0f) / S - 1);
  bh_tensor *sw = param(m, "guide.scale.w"), *sb = param(m, "guide.scale.b");
  sw->data[0] = 0.03f, sw->data[1] = -0.02f, sb->data[0] = 0.35f, sb->data[1] = 0.3f;
  if (translation) {
    bh_tensor *tw = param(m, "guide.translation.w"), *tb = param(m, "guide.translation.b");
    for (int k = 0; k < 4; k++) tw->data[k] = 0.02f * (float)(k - 1.5);
    tb->data[0] = 0.03f, tb->data[1] = -0.02f;
  }
  assert_int_equal(m->nphases, 1);
  float x[N * SIZE];
  mc_random_binary_images(x, N, SIZE, 12, 0.4);
  bh_batch b = {.n = N, .x = x};
  assert_int_equal(mc_check_phase(m, 0, &b, 13, 2e-3, 5e-3, 3e-2, 24), 0);
  bh_model_free(m);
}

static void test_gradcheck(void **state) {
  (void)state;
  gradcheck(5, 0);
}

static void test_gradcheck_translation(void **state) {
  (void)state;
  gradcheck(6, 1);
}

/* ---- a short run lowers the guide term ----
 * 32 images of 8×8: a bar through the centre at one of 8 angles, of one of 2 lengths. */
static void bars(float *x, int n) {
  enum { S = 8 };
  for (int i = 0; i < n; i++) {
    double ang = M_PI * (i % 8) / 8.0, len = (i / 8) % 2 ? 3.5 : 2.0;
    double cx = cos(ang), sy = sin(ang);
    for (int r = 0; r < S; r++)
      for (int c = 0; c < S; c++) {
        double px = c + 0.5 - S / 2.0, py = r + 0.5 - S / 2.0;
        double along = px * cx + py * sy, across = -px * sy + py * cx;
        x[(i * S + r) * S + c] = fabs(across) < 0.8 && fabs(along) < len ? 1.0f : 0.0f;
      }
  }
}

static void test_train_lowers_guide(void **state) {
  (void)state;
  enum { S = 8, SIZE = S * S, N = 32, STEPS = 150 };
  bh_model *m = make_model(S, 5, 0, 17);
  /* lr 1e-2: the tiny net learns within 150 steps */
  bh_config_set(m->cfg, "lr", "1e-2", "test");
  m->adam[0] = bh_model_main_adam(m->cfg);
  float x[N * SIZE];
  bars(x, N);
  bh_adam *adam[1] = {bh_adam_alloc(m->group[0], m->adam[0])};
  assert_non_null(adam[0]);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(3);
  bh_batch b = {.n = N, .x = x};
  double first = 0.0, last = 0.0;
  for (int s = 0; s < STEPS; s++) {
    bh_terms t;
    bh_terms_clear(&t);
    if (bh_train_step(m, ctx, adam, &b, rng, &t) != BH_OK)
      fail_msg("step %d: %s", s, bh_error_message());
    double g = bh_terms_get(&t, "guide");
    assert_true(isfinite(g) && isfinite(bh_terms_get(&t, "loss")));
    if (s < 10) first += g / 10;
    if (s >= STEPS - 10) last += g / 10;
  }
  printf("guidedvae: guide %.4f -> %.4f\n", first, last);
  if (!(last < 0.8 * first)) fail_msg("guide %.4f -> %.4f: did not fall by 20%%", first, last);
  bh_adam_free(adam[0]);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rotation_theta),
      cmocka_unit_test(test_rotation_theta_fd),
      cmocka_unit_test(test_identity),
      cmocka_unit_test(test_rotation_90),
      cmocka_unit_test(test_translation),
      cmocka_unit_test(test_org),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_gradcheck),
      cmocka_unit_test(test_gradcheck_translation),
      cmocka_unit_test(test_train_lowers_guide),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
