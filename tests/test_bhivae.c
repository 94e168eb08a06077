/* test_bhivae.c — the unsupervised BHiVAE class (bhivae_model/bhivae.c):
 *   - KL_i, TC_i (phase 0) and the 3-class discriminator loss (phase 1) against a
 *     double-precision forward of hand-set discriminators, with the prior samples and the block
 *     permutations redrawn from a twin of the run's generator (both perm modes);
 *   - the block permutation of the layouts the model uses keeps each block's units together,
 *     each block's rows are a permutation, s^i and h^i get different permutations;
 *   - the sample covariance of 200k prior draws of every level against Σ (also an odd layout);
 *   - β scales only the reconstruction, γ only the TC; recon "mean" = "sum"/(c·h·w); the
 *     summed reconstruction against a double Bernoulli NLL of the decoder's logits;
 *   - whole-model finite-difference checks of both phases (both perm modes);
 *   - phase 0 leaves the discriminators alone and phase 1 gives the main group no gradient;
 *   - a short training run: recon falls and d_loss gets below log 3;
 *   - key errors and structure (groups, optimisers, encode/decode/blocks).
 * Networks are tiny (hidden widths 16/8) on 1×4×4 images, z_dim 8, blocks 2,2,2 (c^3 of 2).
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

#include "baselines/vae.h"
#include "bhivae_model/bhivae.h"
#include "bhivae_model/hier.h"
#include "core/adam.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "models/train.h"
#include "tests/modelcheck.h"

#define IMG 16 /* 1 × 4 × 4 */
#define ZMAX 16

static const bh_data_info tiny_data = {.c = 1, .h = 4, .w = 4, .n = 64};

/* A bhivae on 1×4×4 images with tiny networks, extra "key=value" settings (NULL-terminated). */
static bh_model *make_model(const char *const *sets, uint64_t seed) {
  static const char *const base[] = {"arch=fc",       "enc_hidden=16", "dec_hidden=16",
                                     "level_hidden=8", "part_hidden=8", "part_out=8",
                                     "d_hidden=8",     "d_layers=1",    "z_dim=8",
                                     NULL};
  return mc_model_make(&bh_bhivae_class, &tiny_data, base, sets, seed);
}

/* D_i's logits of one z^i row in double, from the parameters "disc<i>.<l>.w/b" of group 1:
 * d → hidden → ... → 3 (`layers` hidden layers of `hidden` units). */
static void disc_forward(const bh_model *m, int level, int layers, int hidden, const double *z,
                         int d, double out[3]) {
  char prefix[16];
  int widths[ZMAX] = {d};
  for (int l = 1; l <= layers; l++) widths[l] = hidden;
  widths[layers + 1] = 3;
  snprintf(prefix, sizeof prefix, "disc%d", level + 1);
  mc_mlp_double(m->group[1], prefix, layers + 1, widths, z, out);
}

/* z^i of the model's encoder on x [n images], copied into z[i] (n × d(z^i) doubles). */
static void encode_levels(bh_model *m, const float *x, int n, double *z[BH_HIER_MAX_LEVELS]) {
  const bh_hier *h = m->impl;
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_ctx_set_grad(ctx, 0);
  int shape[2] = {n, IMG};
  bh_hier_pass pass;
  assert_int_equal(bh_hier_encode(h, ctx, bh_tensor_view(ctx, (float *)x, 2, shape), NULL, &pass),
                   BH_OK);
  for (int i = 0; i < h->levels; i++) {
    assert_int_equal((int)pass.z[i]->size, n * h->zin[i]);
    z[i] = malloc(sizeof(double) * pass.z[i]->size);
    for (size_t k = 0; k < pass.z[i]->size; k++) z[i][k] = pass.z[i]->data[k];
  }
  bh_ctx_free(ctx);
}

/* The hand computation of both phases for one perm mode. */
static void check_by_hand(const char *perm_mode) {
  enum { N = 7, LAYERS = 2 };
  char perm_set[32];
  snprintf(perm_set, sizeof perm_set, "perm=%s", perm_mode);
  const char *sets[] = {"d_hidden=5", "d_layers=2", "beta=2.5", "gamma=1.5", perm_set, NULL};
  bh_model *m = make_model(sets, 6);
  const bh_hier *h = m->impl;
  int split = strcmp(perm_mode, "split") == 0;
  mc_group_randomise(m->group[1], 17, 1.0); /* D_i ~ U(−1, 1): logits of order 1 */
  float x[N * IMG];
  mc_random_binary_images(x, N, IMG, 1, 0.5);
  bh_batch batch = {.n = N, .x = x};
  double *z[BH_HIER_MAX_LEVELS] = {0};
  encode_levels(m, x, N, z);

  /* the draws the model makes, level by level: N prior rows ("prior") and one permutation per
   * permuted block ("perm") */
  bh_rng *twin = bh_rng_alloc(99);
  double kl_sum = 0.0, tc_sum = 0.0, d_loss = 0.0, kl[8], tc[8];
  int correct = 0, rows = 0;
  for (int i = 0; i < h->levels; i++) {
    int d = h->zin[i];
    int widths[ZMAX], nb;
    if (split) {
      nb = 2, widths[0] = h->s[i], widths[1] = d - h->s[i];
    } else {
      nb = bh_hier_level_blocks(h, i, widths);
    }
    bh_blockdiag *prior = bh_hier_prior_alloc(h, i, 0.5);
    assert_non_null(prior);
    float *p = malloc(sizeof(float) * N * (size_t)d);
    bh_blockdiag_sample(prior, bh_rng_stream(twin, "prior"), N, p);
    bh_blockdiag_free(prior);
    int perm[ZMAX][N];
    for (int b = 0; b < nb; b++) bh_rng_permutation(bh_rng_stream(twin, "perm"), perm[b], N);

    double ce[3] = {0, 0, 0};
    kl[i] = tc[i] = 0.0;
    for (int r = 0; r < N; r++) {
      double in[3][ZMAX], l[3];
      for (int j = 0, b = 0, at = 0; j < d; j++) {
        if (j == at + widths[b]) at += widths[b++];
        in[0][j] = z[i][r * d + j];
        in[1][j] = p[r * d + j];
        in[2][j] = z[i][perm[b][r] * d + j]; /* out[r, block b] = z[π_b(r), block b] */
      }
      for (int c = 0; c < 3; c++) {
        disc_forward(m, i, LAYERS, 5, in[c], d, l); /* d_hidden 5 */
        ce[c] += mc_cross_entropy(l, 3, c) / N;
        correct += mc_argmax(l, 3) == c;
        if (c == 0) kl[i] += (l[0] - l[1]) / N, tc[i] += (l[0] - l[2]) / N;
      }
    }
    rows += 3 * N;
    kl_sum += kl[i], tc_sum += tc[i];
    d_loss += (ce[0] + ce[1] + ce[2]) / 3.0;
    free(p);
  }
  bh_rng_free(twin);

  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(99);
  bh_terms t;
  bh_terms_clear(&t);
  bh_tensor *loss = mc_run_loss(m, ctx, 0, &batch, rng, &t);
  char name[16];
  for (int i = 0; i < h->levels; i++) {
    snprintf(name, sizeof name, "kl%d", i + 1);
    mc_expect_close(name, bh_terms_get(&t, name), kl[i], 2e-5);
    snprintf(name, sizeof name, "tc%d", i + 1);
    mc_expect_close(name, bh_terms_get(&t, name), tc[i], 2e-5);
  }
  mc_expect_close("kl = sum_i mean(l0 - l1)", bh_terms_get(&t, "kl"), kl_sum, 2e-5);
  mc_expect_close("tc = sum_i mean(l0 - l2)", bh_terms_get(&t, "tc"), tc_sum, 2e-5);
  mc_expect_close("loss = beta recon + kl + gamma tc", loss->data[0],
               2.5 * bh_terms_get(&t, "recon") + kl_sum + 1.5 * tc_sum, 2e-5);
  assert_float_equal(bh_terms_get(&t, "loss"), loss->data[0], 0.0);
  /* phase 1 on the same tape, as the training loop runs it */
  bh_tensor *dl = mc_run_loss(m, ctx, 1, &batch, rng, &t);
  printf("perm=%s: kl %.5f tc %.5f d_loss %.5f d_acc %.4f\n", perm_mode, kl_sum, tc_sum, d_loss,
         (double)correct / rows);
  mc_expect_close("d_loss", dl->data[0], d_loss, 2e-5);
  assert_float_equal(bh_terms_get(&t, "d_loss"), dl->data[0], 0.0);
  assert_float_equal(bh_terms_get(&t, "d_acc"), (double)correct / rows, 1e-12);
  assert_true(!isnan(bh_terms_get(&t, "tc"))); /* phase 0's terms stay */
  for (int i = 0; i < h->levels; i++) free(z[i]);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

static void test_terms_by_hand_split(void **state) {
  (void)state;
  check_by_hand("split");
}

static void test_terms_by_hand_blocks(void **state) {
  (void)state;
  check_by_hand("blocks");
}

/* ---- the block permutation keeps blocks whole ---- */

/* z [N × d] with distinct entries 1000·j + r; check out = per-block row permutation. */
static void check_block_permutation(int nb, const int *widths, int d, int expect_differ) {
  enum { N = 30 };
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_tensor *z = bh_tensor_new2(ctx, N, d);
  for (int r = 0; r < N; r++)
    for (int j = 0; j < d; j++) z->data[r * d + j] = (float)(1000 * j + r);
  bh_rng *rng = bh_rng_alloc(4);
  bh_tensor *out = bh_permute_dims(ctx, z, nb, widths, bh_rng_stream(rng, "perm"));
  assert_non_null(out);
  int src[ZMAX][N];
  for (int b = 0, at = 0; b < nb; at += widths[b++]) {
    int seen[N] = {0};
    for (int r = 0; r < N; r++) {
      int row = (int)out->data[r * d + at] - 1000 * at; /* the source row of block b */
      assert_true(row >= 0 && row < N);
      for (int j = at; j < at + widths[b]; j++) /* every unit of the block from that row */
        assert_int_equal((int)out->data[r * d + j], 1000 * j + row);
      src[b][r] = row;
      seen[row]++;
    }
    for (int r = 0; r < N; r++) assert_int_equal(seen[r], 1); /* a permutation of the rows */
  }
  int differ = 0;
  for (int b = 1; b < nb; b++) differ += memcmp(src[0], src[b], sizeof src[0]) != 0;
  if (expect_differ) assert_int_equal(differ, nb - 1);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
}

static void test_block_permutation(void **state) {
  (void)state;
  const char *sets[] = {"blocks=2,1,2", "c_block=2", "z_dim=9", NULL}; /* c^3 of 4: 2,2 */
  bh_model *m = make_model(sets, 3);
  const bh_hier *h = m->impl;
  for (int i = 0; i < h->levels; i++) {
    int d = h->zin[i], split[2] = {h->s[i], d - h->s[i]}, widths[ZMAX];
    check_block_permutation(2, split, d, 1); /* "split": s^i and h^i, different permutations */
    int nb = bh_hier_level_blocks(h, i, widths), total = 0;
    for (int b = 0; b < nb; b++) total += widths[b];
    assert_int_equal(total, d);
    check_block_permutation(nb, widths, d, 1); /* "blocks" */
  }
  bh_model_free(m);
}

/* ---- the prior N(0, Σ_i): sample covariance of 200k draws ---- */
static void check_prior_covariance(const char *blocks) {
  enum { N = 200000 };
  char set[32];
  snprintf(set, sizeof set, "blocks=%s", blocks);
  const char *sets[] = {set, NULL};
  bh_model *m = make_model(sets, 2);
  const bh_hier *h = m->impl;
  const double rho = 0.5;
  float *x = malloc(sizeof(float) * (size_t)N * ZMAX);
  bh_rng *rng = bh_rng_alloc(8);
  for (int i = 0; i < h->levels; i++) {
    int d = h->zin[i], sizes[ZMAX], nb = bh_hier_level_blocks(h, i, sizes);
    int blk[ZMAX]; /* block index of each unit */
    for (int b = 0, j = 0; b < nb; b++)
      for (int k = 0; k < sizes[b]; k++) blk[j++] = b;
    bh_blockdiag *prior = bh_hier_prior_alloc(h, i, rho);
    assert_non_null(prior);
    assert_int_equal(prior->dim, d);
    bh_blockdiag_sample(prior, bh_rng_stream(rng, "prior"), N, x);
    bh_blockdiag_free(prior);
    double worst = 0.0;
    for (int a = 0; a < d; a++) {
      double mean = 0.0;
      for (int r = 0; r < N; r++) mean += x[(size_t)r * d + a] / (double)N;
      if (fabs(mean) > 0.02) fail_msg("blocks %s level %d: mean of unit %d = %g", blocks, i + 1, a, mean);
      for (int b = 0; b < d; b++) {
        double c = 0.0;
        for (int r = 0; r < N; r++) c += (double)x[(size_t)r * d + a] * x[(size_t)r * d + b];
        c /= N;
        double want = a == b ? 1.0 : blk[a] == blk[b] ? rho : 0.0;
        worst = fmax(worst, fabs(c - want));
        if (fabs(c - want) > 0.02)
          fail_msg("blocks %s level %d: cov[%d][%d] = %.4f, expected %.2f", blocks, i + 1, a, b,
                   c, want);
      }
    }
    printf("blocks %s level %d (d = %d, %d blocks): worst |cov - Sigma| %.4f\n", blocks, i + 1,
           d, nb, worst);
  }
  bh_rng_free(rng);
  free(x);
  bh_model_free(m);
}

static void test_prior_covariance(void **state) {
  (void)state;
  check_prior_covariance("2,2,2"); /* z^1: 2,2,2,2 */
  check_prior_covariance("1,2,2"); /* z^1: 1,2,2,2,1 (c^3 of 3 in c_block 2) */
}

/* ---- β scales only recon, γ only TC; recon "mean" = "sum"/(c·h·w) ---- */
static void phase0_terms(const char *const *sets, bh_terms *t, const float *x, int n) {
  bh_model *m = make_model(sets, 4);
  mc_group_randomise(m->group[1], 5, 1.0);
  bh_batch b = {.n = n, .x = x};
  mc_phase0_terms(m, &b, 12, t);
  bh_model_free(m);
}

static void test_beta_gamma_recon(void **state) {
  (void)state;
  enum { N = 6 };
  float x[N * IMG];
  mc_random_binary_images(x, N, IMG, 9, 0.3);
  const char *s_unit[] = {"beta=1", "gamma=0", NULL}, *s_beta[] = {"beta=4", "gamma=0", NULL},
             *s_gamma[] = {"beta=1", "gamma=5", NULL}, *s_mean[] = {"recon=mean", NULL};
  bh_terms u, b4, g5, def, mean;
  phase0_terms(s_unit, &u, x, N);
  phase0_terms(s_beta, &b4, x, N);
  phase0_terms(s_gamma, &g5, x, N);
  phase0_terms(NULL, &def, x, N);
  phase0_terms(s_mean, &mean, x, N);
  double recon = bh_terms_get(&u, "recon"), kl = bh_terms_get(&u, "kl"),
         tc = bh_terms_get(&u, "tc");
  assert_true(fabs(kl) > 1e-3 && fabs(tc) > 1e-3 && recon > 1.0);
  bh_terms *all[4] = {&b4, &g5, &def, &mean};
  for (int k = 0; k < 4; k++) { /* the same parameters: identical kl, tc */
    assert_float_equal(bh_terms_get(all[k], "kl"), kl, 0.0);
    assert_float_equal(bh_terms_get(all[k], "tc"), tc, 0.0);
  }
  assert_float_equal(bh_terms_get(&b4, "recon"), recon, 0.0);
  assert_float_equal(bh_terms_get(&def, "recon"), recon, 0.0);
  mc_expect_close("beta=1 gamma=0", bh_terms_get(&u, "loss"), recon + kl, 1e-6);
  mc_expect_close("beta=4 gamma=0", bh_terms_get(&b4, "loss"), 4 * recon + kl, 1e-6);
  mc_expect_close("beta=1 gamma=5", bh_terms_get(&g5, "loss"), recon + kl + 5 * tc, 1e-6);
  mc_expect_close("defaults beta=10 gamma=3", bh_terms_get(&def, "loss"), 10 * recon + kl + 3 * tc,
               1e-6);
  mc_expect_close("recon mean = sum / 16", bh_terms_get(&mean, "recon"), recon / IMG, 1e-6);
  mc_expect_close("recon=mean loss", bh_terms_get(&mean, "loss"), 10 * recon / IMG + kl + 3 * tc,
               1e-6);

  /* the summed recon is mean_b Σ_j BCE of the decoder's logits of the code */
  bh_model *m = make_model(s_unit, 4);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_ctx_set_grad(ctx, 0);
  int shape[2] = {N, IMG};
  bh_tensor *code = NULL, *lv = (bh_tensor *)1;
  assert_int_equal(m->cls->encode(m, ctx, bh_tensor_view(ctx, x, 2, shape), &code, &lv), BH_OK);
  assert_null(lv);
  if (code->shape[1] != 8) fail_msg("code %d x %d ndim %d m->z_dim %d", code->shape[0], code->shape[1], code->ndim, m->z_dim);
  bh_tensor *logits = m->cls->decode(m, ctx, code);
  assert_non_null(logits);
  double want = 0.0;
  for (int k = 0; k < N * IMG; k++) {
    double l = logits->data[k], t = x[k];
    want += (t * mc_softplus(-l) + (1.0 - t) * mc_softplus(l)) / N;
  }
  mc_expect_close("recon by hand", recon, want, 2e-6);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

/* ---- whole-model finite differences ----
 * β = 1 keeps the float32 loss ≈ 10 (β = 10 makes it ≈ 100, whose rounding noise ≈ 1e-5 would
 * swamp the quotient): noise ≈ 1e-6 on the loss, ≈ 1e-3 on the quotient at eps 1e-3, hence
 * atol 3e-3.  Larger steps cross the ReLU/LeakyReLU kinks of the level encoders and D_i. */
static void gradcheck(const char *const *sets, int phase) {
  bh_model *m = make_model(sets, 21);
  enum { N = 5 };
  float x[N * IMG];
  mc_random_binary_images(x, N, IMG, 31, 0.4);
  bh_batch b = {.n = N, .x = x};
  if (mc_check_phase(m, phase, &b, 77, 1e-3, 3e-3, 2e-2, 1000) != 0)
    fail_msg("bhivae phase %d: gradient check failed", phase);
  bh_model_free(m);
}

static void test_gradcheck_split(void **state) {
  (void)state;
  const char *sets[] = {"beta=1", NULL};
  gradcheck(sets, 0);
  gradcheck(sets, 1);
}

static void test_gradcheck_blocks(void **state) {
  (void)state;
  const char *sets[] = {"perm=blocks", "blocks=1,2,2", "d_layers=2", "beta=1", "recon=mean",
                        NULL};
  gradcheck(sets, 0);
  gradcheck(sets, 1);
}

/* ---- each phase trains its own group only ---- */
static void test_phase_groups(void **state) {
  (void)state;
  enum { N = 8 };
  bh_model *m = make_model(NULL, 13);
  float x[N * IMG];
  mc_random_binary_images(x, N, IMG, 2, 0.5);
  bh_batch b = {.n = N, .x = x};
  bh_adam *adam[BH_MODEL_MAX_GROUPS] = {0};
  mc_adams_alloc(m, adam);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(5);
  bh_terms t;

  /* phase 0 alone through the training loop: main moves, the discriminators do not */
  float *main0 = mc_group_copy(m->group[0]), *disc0 = mc_group_copy(m->group[1]);
  m->nphases = 1;
  assert_int_equal(bh_train_step(m, ctx, adam, &b, rng, &t), BH_OK);
  m->nphases = 2;
  assert_true(mc_group_changed(m->group[0], main0) > 0);
  assert_int_equal(mc_group_changed(m->group[1], disc0), 0);

  /* phase 1 with every group unfrozen, on the tape of phase 0 (as in the training loop): no
   * gradient reaches main (detached inputs) */
  bh_ctx_reset(ctx);
  bh_terms_clear(&t);
  for (int g = 0; g < 2; g++) bh_params_set_requires_grad(m->group[g], 1);
  mc_run_loss(m, ctx, 0, &b, rng, &t);
  for (int g = 0; g < 2; g++) {
    bh_params_set_requires_grad(m->group[g], 1);
    bh_params_zero_grad(m->group[g]);
  }
  bh_tensor *dl = mc_run_loss(m, ctx, 1, &b, rng, &t);
  assert_int_equal(bh_backward(ctx, dl), BH_OK);
  double gmain = 0.0, gdisc = 0.0;
  for (int g = 0; g < 2; g++) bh_params_grad_finish(m->group[g]);
  for (size_t i = 0; i < m->group[0]->size; i++) gmain += fabs(m->group[0]->grad[i]);
  for (size_t i = 0; i < m->group[1]->size; i++) gdisc += fabs(m->group[1]->grad[i]);
  printf("phase 1 gradient: |main| %g, |disc| %g\n", gmain, gdisc);
  assert_float_equal(gmain, 0.0, 0.0);
  assert_true(gdisc > 0.0);

  /* a whole step moves both */
  free(main0), free(disc0);
  main0 = mc_group_copy(m->group[0]), disc0 = mc_group_copy(m->group[1]);
  assert_int_equal(bh_train_step(m, ctx, adam, &b, rng, &t), BH_OK);
  assert_true(mc_group_changed(m->group[0], main0) > 0);
  assert_true(mc_group_changed(m->group[1], disc0) > 0);
  mc_adams_free(m, adam);
  free(main0), free(disc0);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

/* ---- training on tiny synthetic images ---- */
static void test_train(void **state) {
  (void)state;
  enum { N = 16, STEPS = 200 };
  const char *sets[] = {"lr=1e-3", "d_lr=1e-3", NULL};
  bh_model *m = make_model(sets, 5);
  float proto[4 * IMG], x[N * IMG];
  mc_random_binary_images(proto, 4, IMG, 44, 0.5);
  for (int i = 0; i < N; i++) memcpy(x + i * IMG, proto + (i % 4) * IMG, IMG * sizeof(float));
  bh_adam *adam[BH_MODEL_MAX_GROUPS] = {0};
  mc_adams_alloc(m, adam);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(3);
  bh_batch b = {.n = N, .x = x};
  const char *names[] = {"loss", "recon", "kl", "tc", "kl1", "kl2", "kl3", "tc1", "tc2", "tc3",
                         "d_loss", "d_acc", NULL};
  const char *level_d[3] = {"d_loss1", "d_loss2", "d_loss3"};
  double first = 0.0, last = 0.0, min_d = INFINITY, min_level[3] = {INFINITY, INFINITY, INFINITY};
  for (int s = 0; s < STEPS; s++) {
    bh_terms t;
    if (bh_train_step(m, ctx, adam, &b, rng, &t) != BH_OK)
      fail_msg("step %d: %s", s, bh_error_message());
    for (int k = 0; names[k]; k++)
      if (!isfinite(bh_terms_get(&t, names[k])))
        fail_msg("step %d: term %s missing or not finite", s, names[k]);
    double recon = bh_terms_get(&t, "recon"), dl = bh_terms_get(&t, "d_loss");
    if (s < 10) first += recon / 10;
    if (s >= STEPS - 10) last += recon / 10;
    min_d = fmin(min_d, dl / 3.0); /* d_loss sums the 3 levels */
    for (int i = 0; i < 3; i++) min_level[i] = fmin(min_level[i], bh_terms_get(&t, level_d[i]));
    if (s % 40 == 0 || s == STEPS - 1) {
      printf("step %3d:", s);
      for (int k = 0; names[k]; k++) printf(" %s %.3f", names[k], bh_terms_get(&t, names[k]));
      printf("\n");
    }
  }
  printf("recon %.4f -> %.4f; lowest mean per-level d_loss %.4f (log 3 = %.4f)\n", first, last,
         min_d, log(3.0));
  if (!(last < first - 1.0)) fail_msg("recon %.4f -> %.4f: did not fall", first, last);
  printf("lowest d_loss per level: %.4f %.4f %.4f\n", min_level[0], min_level[1], min_level[2]);
  if (!(min_d < log(3.0))) fail_msg("d_loss never below log 3 per level (lowest %.4f)", min_d);
  for (int i = 0; i < 3; i++) /* every D_i learns something: below chance */
    if (!(min_level[i] < log(3.0)))
      fail_msg("%s never below log 3 (lowest %.4f)", level_d[i], min_level[i]);
  mc_adams_free(m, adam);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

/* ---- structure and errors ---- */
static void expect_create_fails(const char *set, const char *key) {
  bh_config *cfg = bh_model_config_new(&bh_bhivae_class);
  assert_int_equal(bh_config_set_assignment(cfg, set, "test"), BH_OK);
  bh_rng *rng = bh_rng_alloc(1);
  bh_error_clear();
  bh_model *m = bh_model_create(&bh_bhivae_class, cfg, &tiny_data, rng);
  bh_rng_free(rng);
  assert_null(m);
  if (!strstr(bh_error_message(), key) || strchr(bh_error_message(), '\n'))
    fail_msg("error for %s does not name '%s' on one line: %s", set, key, bh_error_message());
}

static void test_structure_and_errors(void **state) {
  (void)state;
  bh_config *cfg = bh_model_config_new(&bh_bhivae_class);
  assert_float_equal(bh_config_num(cfg, "beta"), 10.0, 0.0);
  assert_float_equal(bh_config_num(cfg, "gamma"), 3.0, 0.0);
  assert_float_equal(bh_config_num(cfg, "rho"), 0.5, 0.0);
  assert_int_equal(bh_config_int(cfg, "d_hidden"), 256);
  assert_int_equal(bh_config_int(cfg, "d_layers"), 3);
  assert_string_equal(bh_config_str(cfg, "recon"), "sum");
  assert_string_equal(bh_config_str(cfg, "perm"), "split");
  assert_string_equal(bh_config_str(cfg, "blocks"), "2,2,2");
  bh_config_free(cfg);

  bh_model *m = make_model(NULL, 8);
  mc_expect_adversary_layout(m, "disc");
  assert_int_equal(m->batches_per_step, 1);
  assert_int_equal(m->z_dim, 8);
  /* D_i: d(z^i) → 8 → 3 for d(z^i) = 8, 6, 4 */
  size_t want = 0;
  for (int d = 8; d >= 4; d -= 2) want += (size_t)(d * 8 + 8) + (8 * 3 + 3);
  assert_int_equal((int)bh_model_group_param_count(m, 1), (int)want);
  int sizes[ZMAX];
  assert_non_null(m->cls->blocks);
  assert_int_equal(m->cls->blocks(m, sizes), 4); /* s^1, s^2, s^3, c^3 */
  for (int b = 0; b < 4; b++) assert_int_equal(sizes[b], 2);

  /* phase errors */
  float x[4 * IMG];
  mc_random_binary_images(x, 4, IMG, 3, 0.5);
  bh_batch b = {.n = 4, .x = x};
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(1);
  bh_terms t;
  bh_terms_clear(&t);
  assert_null(m->cls->loss(m, ctx, 1, &b, rng, &t)); /* no phase-0 codes yet */
  assert_non_null(strstr(bh_error_message(), "phase 0"));
  assert_null(m->cls->loss(m, ctx, 2, &b, rng, &t));
  assert_non_null(strstr(bh_error_message(), "phase"));
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);

  expect_create_fails("beta=-1", "beta");
  expect_create_fails("gamma=-0.5", "gamma");
  expect_create_fails("rho=1", "rho");
  expect_create_fails("rho=-1", "rho");
  expect_create_fails("d_hidden=0", "d_hidden");
  expect_create_fails("d_layers=-1", "d_layers");
  expect_create_fails("d_layers=65", "d_layers");
  expect_create_fails("recon=median", "recon");
  expect_create_fails("perm=all", "perm");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_structure_and_errors),
      cmocka_unit_test(test_terms_by_hand_split),
      cmocka_unit_test(test_terms_by_hand_blocks),
      cmocka_unit_test(test_block_permutation),
      cmocka_unit_test(test_prior_covariance),
      cmocka_unit_test(test_beta_gamma_recon),
      cmocka_unit_test(test_gradcheck_split),
      cmocka_unit_test(test_gradcheck_blocks),
      cmocka_unit_test(test_phase_groups),
      cmocka_unit_test(test_train),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
