/* test_vae_factorvae.c — the VAE, β-VAE and FactorVAE classes (baselines/vae.c, factorvae.c):
 * every loss term against an independent double-precision computation on hand-built networks
 * (disentanglement_lib's KL anchors, the Bernoulli NLL, β on the KL only, FactorVAE's TC sign
 * convention and discriminator loss), the per-dimension permutation, whole-model
 * finite-difference gradient checks of every phase on tiny networks, and short training runs.
 *
 * Hand-built networks: with every weight and bias of the encoder zero except its output bias,
 * every example gets mu and logvar equal to that bias; likewise a decoder whose only non-zero
 * tensor is its output bias gives those logits whatever z is.  The tiny fc networks (one hidden
 * layer of 6 units) register their layers in order, so a network's output bias is
 * the last 1-D tensor under its prefix.
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
#include "baselines/vae.h"
#include "core/adam.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "models/train.h"
#include "tests/modelcheck.h"

#define IMG 16 /* 1 × 4 × 4 */

static const bh_data_info tiny_data = {.c = 1, .h = 4, .w = 4, .n = 64};

/* A model of class cls on 1×4×4 images, fc networks of width 6, with extra "key=value"
 * settings (NULL-terminated); parameters from the "init" stream of seed. */
static bh_model *make_model(const bh_model_class *cls, const char *const *sets, uint64_t seed) {
  static const char *const base[] = {"arch=fc", "enc_hidden=6", "dec_hidden=6", "z_dim=3", NULL};
  return mc_model_make(cls, &tiny_data, base, sets, seed);
}

/* An encoder giving every example mean mu[j] and log-variance lv[j] in dimension j. */
static void set_constant_encoder(bh_model *m, const float *mu, const float *lv) {
  int d = m->z_dim;
  mc_params_zero_prefix(m->group[0], "enc");
  bh_tensor *b = mc_params_output_bias(m->group[0], "enc", (size_t)(2 * d));
  for (int j = 0; j < d; j++) b->data[j] = mu[j], b->data[d + j] = lv[j];
}

/* ---- KL anchors (metrics-spec §11.2, disentanglement_lib vae_test.py) ----
 * A 10 × 10 (mean, logvar) batch: KL summed over the 10 dimensions, averaged over the 10 rows:
 * (0, 0) → [0, 0.01]; (1, 0) → [5, 5.01]; (1, 1) → [8.58, 8.6] (= 5(e − 1)). */
static void test_kl_anchors(void **state) {
  (void)state;
  const char *sets[] = {"z_dim=10", NULL};
  bh_model *m = make_model(&bh_vae_class, sets, 1);
  assert_int_equal(m->z_dim, 10);
  float x[10 * IMG];
  mc_random_binary_images(x, 10, IMG, 5, 0.5);
  bh_batch b = {.n = 10, .x = x};
  const struct { float mu, lv; double lo, hi, exact; } anchors[] = {
      {0, 0, 0.0, 0.01, 0.0}, {1, 0, 5.0, 5.01, 5.0}, {1, 1, 8.58, 8.6, 5.0 * (exp(1.0) - 1.0)}};
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  for (int a = 0; a < 3; a++) {
    float mu[10], lv[10];
    for (int j = 0; j < 10; j++) mu[j] = anchors[a].mu, lv[j] = anchors[a].lv;
    set_constant_encoder(m, mu, lv);
    bh_ctx_reset(ctx);
    bh_rng *rng = bh_rng_alloc(7);
    bh_terms t;
    bh_terms_clear(&t);
    bh_tensor *loss = mc_run_loss(m, ctx, 0, &b, rng, &t);
    double kl = bh_terms_get(&t, "kl");
    if (!(kl >= anchors[a].lo && kl <= anchors[a].hi))
      fail_msg("KL(mean %g, logvar %g) = %.6g, outside [%g, %g]", anchors[a].mu, anchors[a].lv,
               kl, anchors[a].lo, anchors[a].hi);
    mc_expect_close("kl closed form", kl, anchors[a].exact, 1e-6);
    mc_expect_close("loss = recon + kl", loss->data[0], bh_terms_get(&t, "recon") + kl, 1e-6);
    assert_float_equal(bh_terms_get(&t, "loss"), loss->data[0], 0.0);
    bh_rng_free(rng);
  }
  bh_ctx_free(ctx);
  bh_model_free(m);
}

/* ---- the reconstruction term is the Bernoulli NLL summed over pixels, averaged over rows ---- */
static void test_recon_bernoulli(void **state) {
  (void)state;
  bh_model *m = make_model(&bh_vae_class, NULL, 2);
  mc_params_zero_prefix(m->group[0], "dec");
  bh_tensor *bias = mc_params_output_bias(m->group[0], "dec", IMG);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 11);
  for (int j = 0; j < IMG; j++) bias->data[j] = (float)(4.0 * gsl_rng_uniform(r) - 2.0);
  enum { N = 7 };
  float x[N * IMG];
  for (int k = 0; k < N * IMG; k++) /* binary pixels and a few grey ones */
    x[k] = k % 5 == 0 ? (float)gsl_rng_uniform(r) : (gsl_rng_uniform(r) < 0.4 ? 1.0f : 0.0f);
  gsl_rng_free(r);

  double want = 0.0; /* mean_i Σ_j −[x log σ(l) + (1 − x) log(1 − σ(l))] */
  for (int i = 0; i < N; i++)
    for (int j = 0; j < IMG; j++) {
      double l = bias->data[j], t = x[i * IMG + j];
      want += (t * mc_softplus(-l) + (1.0 - t) * mc_softplus(l)) / N;
    }
  bh_batch b = {.n = N, .x = x};
  bh_terms t;
  mc_phase0_terms(m, &b, 3, &t);
  mc_expect_close("recon", bh_terms_get(&t, "recon"), want, 2e-6);
  assert_true(bh_terms_get(&t, "kl") > 0.0); /* random encoder: a non-zero KL */
  bh_model_free(m);
}

/* ---- β multiplies the KL and nothing else; the VAE is β = 1 ---- */
static void run_terms(const bh_model_class *cls, const char *beta, bh_terms *t) {
  const char *sets[] = {beta, NULL};
  bh_model *m = make_model(cls, beta ? sets : NULL, 4);
  float x[8 * IMG];
  mc_random_binary_images(x, 8, IMG, 9, 0.3);
  bh_batch b = {.n = 8, .x = x};
  mc_phase0_terms(m, &b, 12, t);
  bh_model_free(m);
}

static void test_beta_scales_kl(void **state) {
  (void)state;
  bh_terms v, b1, b4, b6;
  run_terms(&bh_vae_class, NULL, &v);
  run_terms(&bh_betavae_class, "beta=1", &b1);
  run_terms(&bh_betavae_class, "beta=4", &b4);
  run_terms(&bh_betavae_class, NULL, &b6); /* the default, 6 */
  /* the same parameters and noise: identical recon and KL in every model */
  assert_float_equal(v.value[0], b1.value[0], 0.0);
  for (int k = 0; k < 3; k++) {
    bh_terms *t = k == 0 ? &b1 : k == 1 ? &b4 : &b6;
    assert_float_equal(bh_terms_get(t, "recon"), bh_terms_get(&v, "recon"), 0.0);
    assert_float_equal(bh_terms_get(t, "kl"), bh_terms_get(&v, "kl"), 0.0);
  }
  double recon = bh_terms_get(&v, "recon"), kl = bh_terms_get(&v, "kl");
  assert_true(kl > 0.01);
  mc_expect_close("vae loss", bh_terms_get(&v, "loss"), recon + kl, 1e-6);
  mc_expect_close("beta=1 loss", bh_terms_get(&b1, "loss"), recon + kl, 1e-6);
  mc_expect_close("beta=4 loss", bh_terms_get(&b4, "loss"), recon + 4.0 * kl, 1e-6);
  mc_expect_close("beta=6 loss", bh_terms_get(&b6, "loss"), recon + 6.0 * kl, 1e-6);
}

/* ---- the permutation of q(z) samples ---- */
static void test_permute_dims(void **state) {
  (void)state;
  enum { N = 40, D = 4 };
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_tensor *z = bh_tensor_new2(ctx, N, D);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < D; j++) z->data[i * D + j] = (float)(i + 1000 * j); /* all distinct */
  bh_rng *rng = bh_rng_alloc(5), *twin = bh_rng_alloc(5);
  bh_tensor *out = bh_permute_dims(ctx, z, 0, NULL, bh_rng_stream(rng, "perm"));
  assert_non_null(out);
  assert_int_equal(out->shape[0], N);
  assert_int_equal(out->shape[1], D);
  int src[D][N], seen[D][N], expect[D][N];
  memset(seen, 0, sizeof seen);
  for (int j = 0; j < D; j++) bh_rng_permutation(bh_rng_stream(twin, "perm"), expect[j], N);
  for (int j = 0; j < D; j++)
    for (int i = 0; i < N; i++) {
      int v = (int)out->data[i * D + j], row = v - 1000 * j;
      assert_true(row >= 0 && row < N); /* stays in its own column */
      src[j][i] = row;
      seen[j][row]++;
      assert_int_equal(row, expect[j][i]); /* documented draw order */
    }
  for (int j = 0; j < D; j++) /* each column keeps its multiset of values */
    for (int i = 0; i < N; i++) assert_int_equal(seen[j][i], 1);
  int differ = 0, moved = 0; /* columns permuted independently, and really permuted */
  for (int j = 1; j < D; j++) differ += memcmp(src[0], src[j], sizeof src[0]) != 0;
  for (int i = 0; i < N; i++) moved += src[0][i] != i;
  assert_int_equal(differ, D - 1);
  assert_true(moved > N / 2);

  /* blocks of width 2 keep their units together */
  int widths[2] = {2, 2};
  bh_tensor *blk = bh_permute_dims(ctx, z, 2, widths, bh_rng_stream(rng, "perm"));
  assert_non_null(blk);
  for (int i = 0; i < N; i++) {
    assert_int_equal((int)blk->data[i * D + 1] - 1000, (int)blk->data[i * D]);
    assert_int_equal((int)blk->data[i * D + 3] - 3000, (int)blk->data[i * D + 2] - 2000);
  }
  bh_rng_free(rng);
  bh_rng_free(twin);
  bh_ctx_free(ctx);
}

/* ---- FactorVAE: TC sign convention and the discriminator loss, by hand ---- */

/* D's logits of one z in double, from the parameters "disc.<l>.w/b" of group 1: z_dim → hidden
 * → ... → 2 (`layers` hidden layers of `hidden` units). */
static void disc_forward(const bh_model *m, int layers, int hidden, const double *z,
                         double out[2]) {
  int widths[16] = {m->z_dim};
  for (int l = 1; l <= layers; l++) widths[l] = hidden;
  widths[layers + 1] = 2;
  mc_mlp_double(m->group[1], "disc", layers + 1, widths, z, out);
}

static void check_factorvae_by_hand(int two_batches) {
  enum { D = 3, LAYERS = 2, N0 = 6, N1 = 5 };
  const char *sets[] = {"d_hidden=5", "d_layers=2", "gamma=2.5",
                        two_batches ? "two_batches=1" : "two_batches=0", NULL};
  bh_model *m = make_model(&bh_factorvae_class, sets, 6);
  assert_int_equal(m->batches_per_step, two_batches ? 2 : 1);
  const float mu[D] = {0.3f, -0.2f, 0.5f}, lv[D] = {0, 0, 0};
  set_constant_encoder(m, mu, lv); /* z = mu + ε */
  mc_group_randomise(m->group[1], 17, 1.0); /* a hand-set D with logits of order 1 */

  float x0[N0 * IMG], x1[N1 * IMG];
  mc_random_binary_images(x0, N0, IMG, 1, 0.5);
  mc_random_binary_images(x1, N1, IMG, 2, 0.5);
  bh_batch batches[2] = {{.n = N0, .x = x0}, {.n = N1, .x = x1}};
  int n1 = two_batches ? N1 : N0;

  /* the draws the model makes: ε of batch 0 (phase 0), ε of batch 1, then one permutation per
   * dimension (phase 1) */
  bh_rng *twin = bh_rng_alloc(99);
  float e0[N0 * D], e1[N0 * D];
  int perm[D][N0];
  bh_rng_fill_normal(bh_rng_stream(twin, "noise"), e0, N0 * D);
  bh_rng_fill_normal(bh_rng_stream(twin, "noise"), e1, (size_t)n1 * D);
  for (int j = 0; j < D; j++) bh_rng_permutation(bh_rng_stream(twin, "perm"), perm[j], n1);
  bh_rng_free(twin);

  double tc = 0.0, ce0 = 0.0, ce1 = 0.0;
  int correct = 0;
  for (int i = 0; i < N0; i++) {
    double z[D], l[2];
    for (int j = 0; j < D; j++) z[j] = (double)mu[j] + e0[i * D + j];
    disc_forward(m, LAYERS, 5, z, l); /* d_hidden 5 */
    tc += (l[0] - l[1]) / N0;
    ce0 += mc_cross_entropy(l, 2, 0) / N0;
    correct += !(l[1] > l[0]);
  }
  for (int i = 0; i < n1; i++) {
    double z[D], l[2];
    for (int j = 0; j < D; j++) z[j] = (double)mu[j] + e1[perm[j][i] * D + j];
    disc_forward(m, LAYERS, 5, z, l); /* d_hidden 5 */
    ce1 += mc_cross_entropy(l, 2, 1) / n1;
    correct += l[1] > l[0];
  }

  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(99);
  bh_terms t;
  bh_terms_clear(&t);
  bh_tensor *loss = mc_run_loss(m, ctx, 0, batches, rng, &t);
  mc_expect_close("tc = mean(l0 - l1)", bh_terms_get(&t, "tc"), tc, 1e-5);
  mc_expect_close("loss = recon + kl + gamma tc", loss->data[0],
               bh_terms_get(&t, "recon") + bh_terms_get(&t, "kl") + 2.5 * tc, 1e-5);
  /* KL of N(mu, I): ½ Σ mu² */
  mc_expect_close("kl", bh_terms_get(&t, "kl"), 0.5 * (0.09 + 0.04 + 0.25), 1e-6);
  /* phase 1 on the same tape, as the training loop runs it */
  bh_tensor *dl = mc_run_loss(m, ctx, 1, batches, rng, &t);
  mc_expect_close("d_loss", dl->data[0], 0.5 * (ce0 + ce1), 1e-5);
  assert_float_equal(bh_terms_get(&t, "d_loss"), dl->data[0], 0.0);
  assert_float_equal(bh_terms_get(&t, "d_acc"), (double)correct / (N0 + n1), 1e-12);
  assert_true(!isnan(bh_terms_get(&t, "tc"))); /* phase 0's terms stay */
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

static void test_factorvae_tc_and_d_loss(void **state) {
  (void)state;
  check_factorvae_by_hand(1);
  check_factorvae_by_hand(0);
}

/* ---- structure: groups, optimisers, keys, encode/decode ---- */
static void test_factorvae_structure(void **state) {
  (void)state;
  const char *sets[] = {"d_hidden=5", "d_layers=2", NULL};
  bh_model *m = make_model(&bh_factorvae_class, sets, 8);
  mc_expect_adversary_layout(m, "disc");
  assert_int_equal(m->batches_per_step, 2);
  assert_float_equal(bh_config_num(m->cfg, "gamma"), 7.0, 0.0);
  /* D: 3 → 5 → 5 → 2 */
  assert_int_equal((int)bh_model_group_param_count(m, 1), (3 * 5 + 5) + (5 * 5 + 5) + (5 * 2 + 2));
  bh_model_free(m);

  /* the paper's defaults: 6 × 1000 hidden units */
  bh_config *cfg = bh_model_config_new(&bh_factorvae_class);
  assert_int_equal(bh_config_int(cfg, "d_hidden"), 1000);
  assert_int_equal(bh_config_int(cfg, "d_layers"), 6);
  assert_int_equal(bh_config_int(cfg, "two_batches"), 1);
  bh_config_free(cfg);
  cfg = bh_model_config_new(&bh_betavae_class);
  assert_float_equal(bh_config_num(cfg, "beta"), 6.0, 0.0);
  bh_config_free(cfg);

  /* encode gives the encoder's mean and log-variance; decode the decoder's logits */
  m = make_model(&bh_betavae_class, NULL, 9);
  assert_int_equal(m->ngroups, 1);
  assert_int_equal(m->nphases, 1);
  assert_int_equal(m->batches_per_step, 1);
  const float mu[3] = {0.1f, -0.7f, 2.0f}, lv[3] = {-1.0f, 0.5f, 0.0f};
  set_constant_encoder(m, mu, lv);
  float x[2 * IMG];
  mc_random_binary_images(x, 2, IMG, 3, 0.5);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_ctx_set_grad(ctx, 0);
  int shape[2] = {2, IMG};
  bh_tensor *xt = bh_tensor_view(ctx, x, 2, shape), *emu = NULL, *elv = NULL;
  assert_int_equal(m->cls->encode(m, ctx, xt, &emu, &elv), BH_OK);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) {
      assert_float_equal(emu->data[i * 3 + j], mu[j], 0.0);
      assert_float_equal(elv->data[i * 3 + j], lv[j], 0.0);
    }
  mc_params_zero_prefix(m->group[0], "dec");
  bh_tensor *bias = mc_params_output_bias(m->group[0], "dec", IMG);
  for (int j = 0; j < IMG; j++) bias->data[j] = (float)j - 7.5f;
  bh_tensor *logits = m->cls->decode(m, ctx, emu);
  assert_non_null(logits);
  assert_int_equal((int)logits->size, 2 * IMG);
  for (int k = 0; k < 2 * IMG; k++) assert_float_equal(logits->data[k], (k % IMG) - 7.5, 0.0);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

/* ---- errors: bad keys, unknown phases, phase 1 without phase 0 ---- */
static void expect_create_fails(const bh_model_class *cls, const char *set, const char *key) {
  bh_config *cfg = bh_model_config_new(cls);
  assert_int_equal(bh_config_set_assignment(cfg, set, "test"), BH_OK);
  bh_rng *rng = bh_rng_alloc(1);
  bh_error_clear();
  bh_model *m = bh_model_create(cls, cfg, &tiny_data, rng);
  bh_rng_free(rng);
  assert_null(m);
  if (!strstr(bh_error_message(), key))
    fail_msg("error for %s does not name '%s': %s", set, key, bh_error_message());
}

static void test_errors(void **state) {
  (void)state;
  expect_create_fails(&bh_betavae_class, "beta=-1", "beta");
  expect_create_fails(&bh_factorvae_class, "gamma=-2", "gamma");
  expect_create_fails(&bh_factorvae_class, "d_hidden=0", "d_hidden");
  expect_create_fails(&bh_factorvae_class, "d_layers=-1", "d_layers");
  expect_create_fails(&bh_vae_class, "z_dim=0", "z_dim");

  float x[4 * IMG];
  mc_random_binary_images(x, 4, IMG, 3, 0.5);
  bh_batch b[2] = {{.n = 4, .x = x}, {.n = 4, .x = x}};
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(1);
  bh_terms t;
  bh_terms_clear(&t);
  bh_model *m = make_model(&bh_vae_class, NULL, 1);
  assert_null(m->cls->loss(m, ctx, 1, b, rng, &t));
  assert_non_null(strstr(bh_error_message(), "phase"));
  bh_model_free(m);
  const char *sets[] = {"d_hidden=5", "d_layers=1", NULL};
  m = make_model(&bh_factorvae_class, sets, 1);
  assert_null(m->cls->loss(m, ctx, 1, b, rng, &t)); /* no phase-0 sample yet */
  assert_non_null(strstr(bh_error_message(), "phase 0"));
  assert_null(m->cls->loss(m, ctx, 2, b, rng, &t));
  bh_model_free(m);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
}

/* ---- whole-model finite-difference gradient checks ----
 * eps 2e-3: the float32 loss (≈ 10) has rounding noise ≈ 1e-6, i.e. ≈ 5e-4 on the difference
 * quotient, inside atol; larger steps start to cross the encoder's ReLU kinks. */
static void gradcheck_model(const bh_model_class *cls, const char *const *sets, int phase) {
  bh_model *m = make_model(cls, sets, 21);
  enum { N = 5 };
  float x0[N * IMG], x1[N * IMG];
  mc_random_binary_images(x0, N, IMG, 31, 0.4);
  mc_random_binary_images(x1, N, IMG, 32, 0.4);
  bh_batch b[2] = {{.n = N, .x = x0}, {.n = N, .x = x1}};
  if (mc_check_phase(m, phase, b, 77, 2e-3, 2e-3, 2e-2, 1000) != 0)
    fail_msg("%s phase %d: gradient check failed", cls->name, phase);
  bh_model_free(m);
}

static void test_gradcheck_vae(void **state) {
  (void)state;
  gradcheck_model(&bh_vae_class, NULL, 0);
}

static void test_gradcheck_betavae(void **state) {
  (void)state;
  gradcheck_model(&bh_betavae_class, NULL, 0); /* β = 6 */
}

static void test_gradcheck_factorvae(void **state) {
  (void)state;
  const char *sets[] = {"d_hidden=5", "d_layers=2", NULL};
  gradcheck_model(&bh_factorvae_class, sets, 0);
  gradcheck_model(&bh_factorvae_class, sets, 1);
}

/* ---- training: the loss falls ---- */

/* `steps` full-batch steps on n images; mean loss of the first and last 10 steps. */
static void train_steps(bh_model *m, const float *x, int n, int steps, double *first,
                        double *last, bh_terms *final) {
  bh_adam *adam[BH_MODEL_MAX_GROUPS] = {0};
  mc_adams_alloc(m, adam);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(3);
  bh_batch b[2] = {{.n = n, .x = x}, {.n = n, .x = x}};
  *first = *last = 0.0;
  for (int s = 0; s < steps; s++) {
    bh_terms t;
    bh_terms_clear(&t);
    if (bh_train_step(m, ctx, adam, b, rng, &t) != BH_OK)
      fail_msg("%s step %d: %s", m->cls->name, s, bh_error_message());
    double loss = bh_terms_get(&t, "loss");
    assert_true(isfinite(loss));
    if (s < 10) *first += loss / 10;
    if (s >= steps - 10) *last += loss / 10;
    *final = t;
  }
  mc_adams_free(m, adam);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
}

/* 16 images of 4×4 pixels: 4 random binary prototypes, each repeated 4 times. */
static void prototype_images(float *x, int n) {
  float proto[4 * IMG];
  mc_random_binary_images(proto, 4, IMG, 44, 0.5);
  for (int i = 0; i < n; i++) memcpy(x + i * IMG, proto + (i % 4) * IMG, IMG * sizeof(float));
}

/* Σ_j H(pixel j's marginal) in nats: the loss of a model that ignores z and has learnt each
 * pixel's frequency (recon = that, KL = 0). */
static double marginal_entropy(const float *x, int n) {
  double h = 0.0;
  for (int j = 0; j < IMG; j++) {
    double p = 0.0;
    for (int i = 0; i < n; i++) p += x[i * IMG + j] / n;
    if (p > 0.0 && p < 1.0) h -= p * log(p) + (1.0 - p) * log(1.0 - p);
  }
  return h;
}

/* From the initial ≈ 16·ln 2 + KL the loss must fall at least to within 0.5 nat of what
 * learning the pixel frequencies alone gives. */
static void test_train_betavae(void **state) {
  (void)state;
  const char *sets[] = {"lr=3e-3", "enc_hidden=32", "dec_hidden=32", NULL}; /* β = 6 */
  bh_model *m = make_model(&bh_betavae_class, sets, 5);
  enum { N = 16 };
  float x[N * IMG];
  prototype_images(x, N);
  double first, last, h = marginal_entropy(x, N);
  bh_terms t;
  train_steps(m, x, N, 200, &first, &last, &t);
  printf("betavae: loss %.4f over the first 10 steps, %.4f over the last 10 (pixel entropy %.4f)\n",
         first, last, h);
  if (!(last < first - 1.0 && last < h + 0.5))
    fail_msg("betavae loss %.4f -> %.4f (pixel entropy %.4f): did not fall", first, last, h);
  bh_model_free(m);
}

static void test_train_factorvae(void **state) {
  (void)state;
  const char *sets[] = {"d_hidden=8", "d_layers=2", "lr=3e-3", "d_lr=1e-3",
                        "enc_hidden=32", "dec_hidden=32", NULL};
  bh_model *m = make_model(&bh_factorvae_class, sets, 5);
  enum { N = 16 };
  float x[N * IMG];
  prototype_images(x, N);
  double first, last;
  bh_terms t;
  train_steps(m, x, N, 100, &first, &last, &t);
  printf("factorvae: loss %.4f -> %.4f, d_loss %.4f, d_acc %.3f\n", first, last,
         bh_terms_get(&t, "d_loss"), bh_terms_get(&t, "d_acc"));
  assert_true(isfinite(bh_terms_get(&t, "tc")));
  assert_true(isfinite(bh_terms_get(&t, "d_loss")) && bh_terms_get(&t, "d_loss") > 0.0);
  double acc = bh_terms_get(&t, "d_acc");
  assert_true(acc >= 0.0 && acc <= 1.0);
  if (!(last < first)) fail_msg("factorvae loss %.4f -> %.4f: did not fall", first, last);
  bh_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kl_anchors),
      cmocka_unit_test(test_recon_bernoulli),
      cmocka_unit_test(test_beta_scales_kl),
      cmocka_unit_test(test_permute_dims),
      cmocka_unit_test(test_factorvae_tc_and_d_loss),
      cmocka_unit_test(test_factorvae_structure),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_gradcheck_vae),
      cmocka_unit_test(test_gradcheck_betavae),
      cmocka_unit_test(test_gradcheck_factorvae),
      cmocka_unit_test(test_train_betavae),
      cmocka_unit_test(test_train_factorvae),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
