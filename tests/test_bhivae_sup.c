/* test_bhivae_sup.c — the supervised BHiVAE (bhivae_model/bhivae_sup.c): the key checks, the
 * group/phase layout, every loss term of both phases against an independent double computation
 * from the same forward quantities (the encoder's μ, log σ², s, h and the decoder's logits, got
 * through hier.h with the same noise; the classifier, adversary and projection recomputed in
 * double from their parameters; KL in closed form for N(0, I) and for N(0, Σ) with the 2×2
 * inverse written out; CE; entropy), with the labels of each level taken by hand from the
 * column the "attributes" key names, whole-model finite differences of both phases, the
 * detachment of phase 1 and the freeze of each group in the other's phase, and a short training
 * run on a set whose labels are visible in the image.
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

#include "bhivae_model/bhivae.h"
#include "bhivae_model/hier.h"
#include "core/adam.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "models/train.h"
#include "tests/modelcheck.h"

#define SIDE 8
#define IMG (SIDE * SIDE) /* 1 × 8 × 8 */
#define HID 8             /* cls_hidden */
#define L 3               /* blocks 2,2,2 with z_dim 8: d(z^i) = 8, 6, 4; d(h^i) = 6, 4, 2 */
#define MAXN 64
#define MAXK 8
#ifndef EPS
#define EPS 2e-3
#endif

static const char *const base_sets[] = {"arch=fc",       "enc_hidden=16", "dec_hidden=16",
                                        "level_hidden=8", "part_hidden=8", "part_out=8",
                                        "cls_hidden=8",   "z_dim=8",       NULL};

static bh_model *try_model(const bh_data_info *data, const char *const *sets, uint64_t seed) {
  return mc_model_try(&bh_bhivae_sup_class, data, base_sets, sets, seed);
}

static bh_model *make_model(const bh_data_info *data, const char *const *sets, uint64_t seed) {
  return mc_model_make(&bh_bhivae_sup_class, data, base_sets, sets, seed);
}

static const bh_tensor *param(const bh_params *p, const char *fmt, int level, const char *leaf) {
  char name[64];
  snprintf(name, sizeof name, fmt, level, leaf);
  const bh_tensor *t = bh_params_find(p, name);
  if (!t) fail_msg("no parameter %s", name);
  return t;
}

/* ---- double recomputations ---- */

/* the head "<prefix><level>": in -> HID -> HID -> k, LeakyReLU(0.2) */
static void head_double(const bh_params *p, const char *prefix, int level, const double *in,
                        int nin, double *out, int k) {
  char name[32];
  snprintf(name, sizeof name, "%s%d", prefix, level);
  const int widths[4] = {nin, HID, HID, k};
  mc_mlp_double(p, name, 3, widths, in, out);
}

static double entropy_double(const double *l, int k) {
  double mx = l[0], z = 0.0, h = 0.0;
  for (int j = 1; j < k; j++) mx = fmax(mx, l[j]);
  for (int j = 0; j < k; j++) z += exp(l[j] - mx);
  for (int j = 0; j < k; j++) {
    double p = exp(l[j] - mx) / z;
    if (p > 0) h -= p * log(p);
  }
  return h;
}

/* KL(N(μ, diag e^lv) ‖ N(0, I)) */
static double kl_std(const float *mu, const float *lv, int d) {
  double s = 0.0;
  for (int j = 0; j < d; j++) s += 0.5 * ((double)mu[j] * mu[j] + exp(lv[j]) - lv[j] - 1.0);
  return s;
}

/* KL(N(μ, diag e^lv) ‖ N(0, [[1, ρ], [ρ, 1]])): Σ⁻¹ = [[1, −ρ], [−ρ, 1]] / (1 − ρ²) */
static double kl_block2(const float *mu, const float *lv, double rho) {
  double det = 1.0 - rho * rho;
  double tr = (exp(lv[0]) + exp(lv[1])) / det;
  double quad = ((double)mu[0] * mu[0] + (double)mu[1] * mu[1] - 2.0 * rho * mu[0] * mu[1]) / det;
  return 0.5 * (tr + quad - 2.0 + log(det) - lv[0] - lv[1]);
}

/* What every term should be, from the model's own forward quantities. */
typedef struct expect {
  double recon, kl[L], cls[L], negent[L], adv[L];
  int correct[L], adv_correct[L];
} expect;

/* y[i] (NULL for an unlabelled level) the labels of level i, k[i] their classes; rho NAN for
 * prior std; seed the seed of the bh_rng the model's phase 0 gets. */
static void expected_terms(bh_model *m, const bh_batch *b, uint64_t seed, int *const *y,
                           const int *k, double rho, int shared, expect *e) {
  memset(e, 0, sizeof *e);
  const bh_hier *hr = m->impl; /* the bh_hier comes first (hier.h) */
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_ctx_set_grad(ctx, 0);
  bh_rng *rng = bh_rng_alloc(seed);
  bh_hier_pass p;
  assert_int_equal(bh_hier_encode(hr, ctx, bh_hier_images(ctx, hr, b),
                                  bh_rng_stream(rng, "noise"), &p), BH_OK);
  bh_tensor *logits = bh_hier_decode(hr, ctx, p.code);
  assert_non_null(logits);
  for (int i = 0; i < b->n; i++) {
    double r = 0.0;
    for (int j = 0; j < IMG; j++) {
      double l = logits->data[i * IMG + j], t = b->x[i * IMG + j];
      r += fmax(l, 0.0) - l * t + log1p(exp(-fabs(l)));
    }
    e->recon += r / b->n;
  }
  for (int lv = 0; lv < L; lv++) {
    int ds = hr->s[lv], dh = hr->zin[lv] - ds;
    assert_int_equal(ds, 2);
    for (int i = 0; i < b->n; i++) {
      const float *mu = p.s_mu[lv]->data + i * ds, *lvar = p.s_logvar[lv]->data + i * ds;
      e->kl[lv] += (isnan(rho) ? kl_std(mu, lvar, ds) : kl_block2(mu, lvar, rho)) / b->n;
      if (!y[lv]) continue;
      double s[2], h[8], lc[MAXK], la[MAXK];
      for (int j = 0; j < ds; j++) s[j] = p.s[lv]->data[i * ds + j];
      for (int j = 0; j < dh; j++) h[j] = p.h[lv]->data[i * dh + j];
      head_double(m->group[0], "cls", lv + 1, s, ds, lc, k[lv]);
      if (shared) { /* C_i(P_i h^i) */
        const bh_tensor *w = param(m->group[0], "proj%d.%s", lv + 1, "w"),
                        *bb = param(m->group[0], "proj%d.%s", lv + 1, "b");
        double ph[2];
        for (int o = 0; o < ds; o++) {
          ph[o] = bb->data[o];
          for (int j = 0; j < dh; j++) ph[o] += (double)w->data[o * dh + j] * h[j];
        }
        head_double(m->group[0], "cls", lv + 1, ph, ds, la, k[lv]);
      } else {
        head_double(m->group[1], "adv", lv + 1, h, dh, la, k[lv]);
      }
      e->cls[lv] += mc_cross_entropy(lc, k[lv], y[lv][i]) / b->n;
      e->negent[lv] -= entropy_double(la, k[lv]) / b->n;
      e->adv[lv] += mc_cross_entropy(la, k[lv], y[lv][i]) / b->n;
      e->correct[lv] += mc_argmax(lc, k[lv]) == y[lv][i];
      e->adv_correct[lv] += mc_argmax(la, k[lv]) == y[lv][i];
    }
  }
  bh_rng_free(rng);
  bh_ctx_free(ctx);
}

/* Run phase 0 (and phase 1 when the model has it) on batch b with a bh_rng of `seed` and check
 * every term against expected_terms.  beta, gamma: the weights set. */
static void check_terms(bh_model *m, const bh_batch *b, uint64_t seed, int *const *y,
                        const int *k, double rho, int shared, double beta, double gamma,
                        bh_terms *t_out) {
  expect e;
  expected_terms(m, b, seed, y, k, rho, shared, &e);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(seed);
  bh_terms t;
  bh_terms_clear(&t);
  bh_tensor *l0 = mc_run_loss(m, ctx, 0, b, rng, &t);
  double kl = 0, cls = 0, ne = 0, adv = 0;
  int nlab = 0, correct = 0, adv_correct = 0;
  static const char *const kln[] = {"kl1", "kl2", "kl3"}, *const clsn[] = {"cls1", "cls2", "cls3"},
                           *const accn[] = {"acc1", "acc2", "acc3"};
  for (int lv = 0; lv < L; lv++) {
    mc_expect_close(kln[lv], bh_terms_get(&t, kln[lv]), e.kl[lv], 1e-5);
    kl += e.kl[lv];
    if (!y[lv]) {
      assert_true(isnan(bh_terms_get(&t, clsn[lv]))); /* unlabelled: no classifier term */
      continue;
    }
    nlab++;
    mc_expect_close(clsn[lv], bh_terms_get(&t, clsn[lv]), e.cls[lv], 1e-5);
    mc_expect_close(accn[lv], bh_terms_get(&t, accn[lv]), (double)e.correct[lv] / b->n, 1e-9);
    cls += e.cls[lv], ne += e.negent[lv], adv += e.adv[lv];
    correct += e.correct[lv], adv_correct += e.adv_correct[lv];
  }
  mc_expect_close("recon", bh_terms_get(&t, "recon"), e.recon, 1e-5);
  mc_expect_close("kl", bh_terms_get(&t, "kl"), kl, 1e-5);
  double want = e.recon + kl;
  if (nlab) {
    mc_expect_close("cls", bh_terms_get(&t, "cls"), cls, 1e-5);
    mc_expect_close("neg_ent", bh_terms_get(&t, "neg_ent"), ne, 1e-5);
    mc_expect_close("acc", bh_terms_get(&t, "acc"), (double)correct / (b->n * nlab), 1e-9);
    want += beta * cls + gamma * ne;
  } else {
    assert_true(isnan(bh_terms_get(&t, "cls")));
  }
  mc_expect_close("loss (phase 0)", l0->data[0], want, 1e-5);
  assert_float_equal(bh_terms_get(&t, "loss"), l0->data[0], 0.0);
  if (m->nphases == 2) {
    bh_tensor *l1 = mc_run_loss(m, ctx, 1, b, rng, &t);
    mc_expect_close("adv_loss", l1->data[0], adv, 1e-5);
    assert_float_equal(bh_terms_get(&t, "adv_loss"), l1->data[0], 0.0);
    mc_expect_close("adv_acc", bh_terms_get(&t, "adv_acc"), (double)adv_correct / (b->n * nlab),
                 1e-9);
  }
  if (t_out) *t_out = t;
  bh_rng_free(rng);
  bh_ctx_free(ctx);
}

/* ---- toy data ---- */

/* dSprites-like: 4 factors of sizes {1, 3, 6, 4}; "auto" skips the constant factor 0 */
static const bh_data_info factor_data = {
    .c = 1, .h = SIDE, .w = SIDE, .n = 64, .nfactors = 4, .factor_sizes = {1, 3, 6, 4}};

static void random_factors(int *f, int n, const bh_data_info *d, unsigned seed) {
  srand(seed);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d->nfactors; j++) f[i * d->nfactors + j] = rand() % d->factor_sizes[j];
}

/* ---- create: keys, layout ---- */

static void test_create(void **state) {
  (void)state;
  bh_model *m = make_model(&factor_data, NULL, 1);
  mc_expect_adversary_layout(m, "adv");
  assert_int_equal(m->z_dim, 8);
  /* auto = factors 1, 2, 3 (K = 3, 6, 4); C_i on d(s^i) = 2, A_i on d(h^i) = 6, 4, 2 */
  assert_int_equal((int)param(m->group[0], "cls%d.%s", 1, "2.b")->size, 3);
  assert_int_equal((int)param(m->group[0], "cls%d.%s", 2, "2.b")->size, 6);
  assert_int_equal((int)param(m->group[0], "cls%d.%s", 3, "2.b")->size, 4);
  assert_int_equal((int)param(m->group[0], "cls%d.%s", 1, "0.w")->size, HID * 2);
  assert_int_equal((int)param(m->group[1], "adv%d.%s", 1, "0.w")->size, HID * 6);
  assert_int_equal((int)param(m->group[1], "adv%d.%s", 3, "0.w")->size, HID * 2);
  int sizes[16];
  assert_int_equal(m->cls->blocks(m, sizes), 4); /* s^1, s^2, s^3, c^3 (2 units each) */
  bh_model_free(m);

  const char *shared[] = {"shared_classifier=1", NULL};
  m = make_model(&factor_data, shared, 1);
  assert_int_equal(m->ngroups, 1);
  assert_int_equal(m->nphases, 1);
  assert_int_equal((int)param(m->group[0], "proj%d.%s", 2, "w")->size, 2 * 4);
  bh_model_free(m);
  const char *none[] = {"attributes=none", NULL};
  m = make_model(&factor_data, none, 1);
  assert_int_equal(m->nphases, 1);
  assert_null(bh_params_find(m->group[0], "cls1.0.w"));
  bh_model_free(m);

  /* errors: one line naming the key */
  const char *too_many[] = {"attributes=factors:1,2,3,3", NULL};
  assert_null(try_model(&factor_data, too_many, 1));
  assert_non_null(strstr(bh_error_message(), "'attributes'"));
  assert_non_null(strstr(bh_error_message(), "levels"));
  const char *two_levels[] = {"blocks=2,2", "attributes=factors:1,2,3", NULL};
  assert_null(try_model(&factor_data, two_levels, 1));
  assert_non_null(strstr(bh_error_message(), "'attributes'"));
  const char *bad_prior[] = {"prior=wishart", NULL};
  assert_null(try_model(&factor_data, bad_prior, 1));
  assert_non_null(strstr(bh_error_message(), "'prior'"));
  const char *bad_rho[] = {"prior=block", "rho=1", NULL};
  assert_null(try_model(&factor_data, bad_rho, 1));
  assert_non_null(strstr(bh_error_message(), "'rho'"));
  const char *bad_beta[] = {"beta=-1", NULL};
  assert_null(try_model(&factor_data, bad_beta, 1));
  assert_non_null(strstr(bh_error_message(), "'beta'"));
  bh_data_info bare = {.c = 1, .h = SIDE, .w = SIDE, .n = 8};
  assert_null(try_model(&bare, NULL, 1));
  assert_non_null(strstr(bh_error_message(), "'attributes'"));
  /* auto with fewer levels than labels keeps the first L */
  const char *one_level[] = {"blocks=2", NULL};
  m = make_model(&factor_data, one_level, 1);
  assert_non_null(bh_params_find(m->group[0], "cls1.0.w"));
  assert_null(bh_params_find(m->group[0], "cls2.0.w"));
  bh_model_free(m);
}

/* ---- every term, labels per level from the factor the key names ---- */

/* The batch's labels of level i from column col[i] of the per-example fields (by hand). */
static void factor_labels(int (*y)[MAXN], const int *f, int n, int nf, const int *col,
                          int nlab) {
  for (int lv = 0; lv < nlab; lv++)
    for (int i = 0; i < n; i++) y[lv][i] = f[i * nf + col[lv]];
}

static void test_terms_factors(void **state) {
  (void)state;
  enum { N = 7 };
  float x[N * IMG];
  int f[N * 4], y[L][MAXN], *yp[L] = {y[0], y[1], y[2]};
  mc_random_binary_images(x, N, IMG, 5, 0.4);
  random_factors(f, N, &factor_data, 11);
  bh_batch b = {.n = N, .x = x, .factors = f};
  const int col[L] = {1, 2, 3}, k[L] = {3, 6, 4};
  factor_labels(y, f, N, 4, col, L);
  /* default: prior std, beta 10, gamma 3 */
  bh_model *m = make_model(&factor_data, NULL, 2);
  check_terms(m, &b, 9, yp, k, NAN, 0, 10.0, 3.0, NULL);
  bh_model_free(m);
  /* explicit order: level i's label is the i-th listed factor */
  const int col2[L] = {3, 1, 2}, k2[L] = {4, 3, 6};
  factor_labels(y, f, N, 4, col2, L);
  const char *order[] = {"attributes=factors:3,1,2", NULL};
  m = make_model(&factor_data, order, 2);
  check_terms(m, &b, 9, yp, k2, NAN, 0, 10.0, 3.0, NULL);
  bh_model_free(m);
  /* prior block with ρ = 0.3 */
  factor_labels(y, f, N, 4, col, L);
  const char *block[] = {"prior=block", "rho=0.3", NULL};
  m = make_model(&factor_data, block, 2);
  check_terms(m, &b, 9, yp, k, 0.3, 0, 10.0, 3.0, NULL);
  bh_model_free(m);
  /* shared classifier */
  const char *shared[] = {"shared_classifier=1", NULL};
  m = make_model(&factor_data, shared, 2);
  check_terms(m, &b, 9, yp, k, NAN, 1, 10.0, 3.0, NULL);
  bh_model_free(m);
}

/* β and γ scale only their terms: the same model (same seed) with other weights has the same
 * recon, kl, cls, neg_ent and a loss that follows the formula. */
static void test_weights(void **state) {
  (void)state;
  enum { N = 6 };
  float x[N * IMG];
  int f[N * 4], y[L][MAXN], *yp[L] = {y[0], y[1], y[2]};
  mc_random_binary_images(x, N, IMG, 15, 0.5);
  random_factors(f, N, &factor_data, 3);
  bh_batch b = {.n = N, .x = x, .factors = f};
  const int col[L] = {1, 2, 3}, k[L] = {3, 6, 4};
  factor_labels(y, f, N, 4, col, L);
  bh_terms t1, t2, t3;
  bh_model *m = make_model(&factor_data, NULL, 4);
  check_terms(m, &b, 1, yp, k, NAN, 0, 10.0, 3.0, &t1);
  bh_model_free(m);
  const char *w2[] = {"beta=0.25", "gamma=7", NULL};
  m = make_model(&factor_data, w2, 4);
  check_terms(m, &b, 1, yp, k, NAN, 0, 0.25, 7.0, &t2);
  bh_model_free(m);
  const char *w3[] = {"beta=0", "gamma=0", NULL};
  m = make_model(&factor_data, w3, 4);
  check_terms(m, &b, 1, yp, k, NAN, 0, 0.0, 0.0, &t3);
  bh_model_free(m);
  const char *names[] = {"recon", "kl", "cls", "neg_ent", "adv_loss"};
  for (int i = 0; i < 5; i++) {
    assert_float_equal(bh_terms_get(&t1, names[i]), bh_terms_get(&t2, names[i]), 0.0);
    assert_float_equal(bh_terms_get(&t1, names[i]), bh_terms_get(&t3, names[i]), 0.0);
  }
  mc_expect_close("loss at beta = gamma = 0", bh_terms_get(&t3, "loss"),
               bh_terms_get(&t3, "recon") + bh_terms_get(&t3, "kl"), 1e-6);
  /* −H ≤ 0, ≥ −Σ log K_i */
  double ne = bh_terms_get(&t1, "neg_ent");
  assert_true(ne < 0 && ne >= -(log(3.0) + log(6.0) + log(4.0)) - 1e-6);
}

/* class labels (MNIST-like): level 1 only; levels 2 and 3 keep their KL */
static void test_terms_labels(void **state) {
  (void)state;
  enum { N = 6, K = 5 };
  bh_data_info d = {.c = 1, .h = SIDE, .w = SIDE, .n = 64, .nclasses = K};
  float x[N * IMG];
  int lab[N] = {0, 4, 2, 2, 1, 3}, *yp[L] = {lab, NULL, NULL}, k[L] = {K, 0, 0};
  mc_random_binary_images(x, N, IMG, 8, 0.3);
  bh_batch b = {.n = N, .x = x, .labels = lab};
  bh_model *m = make_model(&d, NULL, 5);
  assert_int_equal(m->nphases, 2);
  assert_null(bh_params_find(m->group[1], "adv2.0.w"));
  check_terms(m, &b, 4, yp, k, NAN, 0, 10.0, 3.0, NULL);
  bh_model_free(m);
  const char *none[] = {"attributes=none", "prior=block", NULL};
  int *no[L] = {NULL, NULL, NULL};
  m = make_model(&d, none, 5);
  check_terms(m, &b, 4, no, k, 0.5, 0, 10.0, 3.0, NULL);
  bh_model_free(m);
}

/* CelebA-like (40 attributes): auto = Black_Hair, Bald, Male (attrs 8, 4, 20); with ≤ 20
 * attributes: 0, 1, 2.  Hand batch: every column differs. */
static void test_terms_attrs(void **state) {
  (void)state;
  enum { N = 8, NA = 40 };
  float x[N * IMG];
  uint8_t at[N * NA];
  int y[L][MAXN], *yp[L] = {y[0], y[1], y[2]}, k[L] = {2, 2, 2};
  mc_random_binary_images(x, N, IMG, 21, 0.5);
  srand(77);
  for (int i = 0; i < N * NA; i++) at[i] = (uint8_t)(rand() % 2);
  bh_batch b = {.n = N, .x = x, .attrs = at};
  bh_data_info d = {.c = 1, .h = SIDE, .w = SIDE, .n = 64, .nattrs = NA};
  const int celeba[L] = {8, 4, 20}, first[L] = {0, 1, 2};
  for (int lv = 0; lv < L; lv++)
    for (int i = 0; i < N; i++) y[lv][i] = at[i * NA + celeba[lv]];
  bh_model *m = make_model(&d, NULL, 6);
  check_terms(m, &b, 2, yp, k, NAN, 0, 10.0, 3.0, NULL);
  bh_model_free(m);
  d.nattrs = 20; /* rows re-read with stride 20 */
  for (int lv = 0; lv < L; lv++)
    for (int i = 0; i < N; i++) y[lv][i] = at[i * 20 + first[lv]];
  m = make_model(&d, NULL, 6);
  check_terms(m, &b, 2, yp, k, NAN, 0, 10.0, 3.0, NULL);
  bh_model_free(m);
}

/* ---- finite differences ---- */

/* On 4×4 images: the float loss is then O(10), so its rounding stays below the tolerance. */
static void gradcheck_config(const char *const *sets, int phases) {
  enum { N = 5, SMALL = 16 };
  float x[N * SMALL];
  int f[N * 4];
  bh_data_info d = factor_data;
  d.h = d.w = 4;
  mc_random_binary_images(x, N, SMALL, 31, 0.4);
  random_factors(f, N, &d, 5);
  bh_batch b = {.n = N, .x = x, .factors = f};
  bh_model *m = make_model(&d, sets, 24);
  assert_int_equal(m->nphases, phases);
  for (int phase = 0; phase < phases; phase++)
    if (mc_check_phase(m, phase, &b, 77, EPS, 3e-3, 2e-2, 40) != 0)
      fail_msg("phase %d: gradient check failed", phase);
  bh_model_free(m);
}

static void test_gradcheck(void **state) {
  (void)state;
  const char *def[] = {"beta=1", "gamma=1", NULL}; /* loss O(50): float rounding */
  gradcheck_config(def, 2);
  const char *block[] = {"beta=1", "gamma=1", "prior=block", NULL};
  gradcheck_config(block, 2);
  const char *shared[] = {"beta=1", "gamma=1", "shared_classifier=1", NULL};
  gradcheck_config(shared, 1);
}

/* ---- detachment and freeze ---- */

/* Phase 1 reads a copy of phase 0's h^i: with every group trainable, its backward writes no
 * gradient into group main, and moving the encoder after phase 0 leaves it unchanged. */
static void test_phase1_detached(void **state) {
  (void)state;
  enum { N = 5 };
  float x[N * IMG];
  int f[N * 4];
  mc_random_binary_images(x, N, IMG, 3, 0.5);
  random_factors(f, N, &factor_data, 9);
  bh_batch b = {.n = N, .x = x, .factors = f};
  bh_model *m = make_model(&factor_data, NULL, 7);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(3);
  bh_terms t;
  bh_terms_clear(&t);
  mc_run_loss(m, ctx, 0, &b, rng, &t);
  for (int g = 0; g < 2; g++) bh_params_zero_grad(m->group[g]);
  bh_tensor *l1 = mc_run_loss(m, ctx, 1, &b, rng, &t);
  assert_int_equal(bh_backward(ctx, l1), BH_OK);
  for (int g = 0; g < 2; g++) bh_params_grad_finish(m->group[g]);
  double main_g = 0.0, adv_g = 0.0;
  for (size_t i = 0; i < m->group[0]->size; i++) main_g += fabs(m->group[0]->grad[i]);
  for (size_t i = 0; i < m->group[1]->size; i++) adv_g += fabs(m->group[1]->grad[i]);
  assert_true(main_g == 0.0);
  assert_true(adv_g > 0.0);
  double before = l1->data[0];
  for (int i = 0; i < m->group[0]->n; i++) m->group[0]->t[i]->data[0] += 0.5f;
  mc_expect_close("adv_loss after moving the encoder", mc_run_loss(m, ctx, 1, &b, rng, &t)->data[0],
               before, 0.0);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

/* One bh_train_step of the first `phases` phases: which groups moved. */
static void step_moves(const char *set, int phases, int *main_moved, int *adv_moved) {
  const char *sets[] = {set, NULL};
  bh_model *m = make_model(&factor_data, sets, 8);
  enum { N = 6 };
  float x[N * IMG];
  int f[N * 4];
  mc_random_binary_images(x, N, IMG, 7, 0.5);
  random_factors(f, N, &factor_data, 4);
  bh_batch b = {.n = N, .x = x, .factors = f};
  float *m0 = mc_group_copy(m->group[0]), *a0 = mc_group_copy(m->group[1]);
  bh_adam *adam[BH_MODEL_MAX_GROUPS] = {0};
  mc_adams_alloc(m, adam);
  m->nphases = phases; /* run only the first phases */
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(1);
  bh_terms t;
  bh_terms_clear(&t);
  if (bh_train_step(m, ctx, adam, &b, rng, &t) != BH_OK) fail_msg("%s", bh_error_message());
  *main_moved = mc_group_changed(m->group[0], m0);
  *adv_moved = mc_group_changed(m->group[1], a0);
  mc_adams_free(m, adam);
  free(m0), free(a0);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

static void test_freeze(void **state) {
  (void)state;
  int mm, am;
  step_moves("gamma=3", 1, &mm, &am); /* phase 0 alone: the encoder moves, A_i does not */
  assert_true(mm);
  assert_false(am);
  step_moves("lr=0", 2, &mm, &am); /* main's own step is 0: phase 1 must not move it */
  assert_false(mm);
  assert_true(am);
}

/* ---- a short training run ----
 * 64 images 8×8 (5 % noise pixels) with the 3 labels drawn in: factor 1 (3 values) lights row
 * 0, 2 or 4; factor 2 (6 values) lights column c of rows 6-7; factor 3 (4 values) lights two
 * pixel pairs at the right edge by its two bits.  Recon and cls fall, acc rises. */
static void make_set(float *x, int *f, int n) {
  random_factors(f, n, &factor_data, 99);
  mc_random_binary_images(x, n, IMG, 17, 0.05);
  for (int i = 0; i < n; i++) {
    float *im = x + i * IMG;
    int a = f[i * 4 + 1], c = f[i * 4 + 2], d = f[i * 4 + 3];
    for (int col = 0; col < SIDE; col++) im[(2 * a) * SIDE + col] = 1.0f; /* row 0, 2 or 4 */
    for (int r = 0; r < 2; r++) im[(6 + r) * SIDE + c] = 1.0f;            /* column c of rows 6-7 */
    if (d & 1) im[7 * SIDE + 7] = im[7 * SIDE + 6] = 1.0f;
    if (d & 2) im[6 * SIDE + 7] = im[5 * SIDE + 7] = 1.0f;
  }
}

/* Train on the set of make_set, full batch, `steps` steps; means over the first and last W
 * steps: out = {recon0, recon1, cls0, cls1, acc0, acc1, adv_acc1}. */
static void run_training(const char *gamma, int steps, double *out) {
  enum { N = 64, W = 15 };
  const char *sets[] = {"lr=3e-3", "adv_lr=3e-3", "beta=10", gamma, "cls_hidden=16",
                        "enc_hidden=64", "dec_hidden=64", NULL};
  bh_model *m = make_model(&factor_data, sets, 1);
  float x[N * IMG];
  int f[N * 4];
  make_set(x, f, N);
  bh_batch b = {.n = N, .x = x, .factors = f};
  bh_adam *adam[BH_MODEL_MAX_GROUPS] = {0};
  mc_adams_alloc(m, adam);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_rng *rng = bh_rng_alloc(3);
  memset(out, 0, 7 * sizeof *out);
  for (int s = 0; s < steps; s++) {
    bh_terms t;
    bh_terms_clear(&t);
    if (bh_train_step(m, ctx, adam, &b, rng, &t) != BH_OK)
      fail_msg("step %d: %s", s, bh_error_message());
    assert_true(isfinite(bh_terms_get(&t, "loss")) && isfinite(bh_terms_get(&t, "adv_loss")));
    double r = bh_terms_get(&t, "recon"), c = bh_terms_get(&t, "cls"), a = bh_terms_get(&t, "acc");
    if (s < W) out[0] += r / W, out[2] += c / W, out[4] += a / W;
    if (s >= steps - W)
      out[1] += r / W, out[3] += c / W, out[5] += a / W, out[6] += bh_terms_get(&t, "adv_acc") / W;
  }
  printf("%s, %d steps: recon %.2f -> %.2f, cls %.3f -> %.3f, acc %.3f -> %.3f, adversary "
         "accuracy %.3f\n", gamma, steps, out[0], out[1], out[2], out[3], out[4], out[5], out[6]);
  mc_adams_free(m, adam);
  bh_rng_free(rng);
  bh_ctx_free(ctx);
  bh_model_free(m);
}

/* Measured (model seed 1, rng seed 3): recon 39 -> 14, cls 4.3 -> 1.5, acc 0.27 -> 0.75. */
static void test_training(void **state) {
  (void)state;
  double v[7];
  run_training("gamma=1", 150, v);
  assert_true(v[1] < 0.8 * v[0]);
  assert_true(v[3] < 0.6 * v[2]);
  assert_true(v[5] > v[4] + 0.3);
}

/* The entropy term keeps y^i out of h^i: after 1000 steps the adversaries' accuracy (chance
 * (1/3 + 1/6 + 1/4)/3 = 0.25) stays low with gamma 3 and is high with gamma 0 (the control).
 * Measured with model seeds 1..4: gamma 3 0.30..0.36, gamma 0 0.63..0.74. */
static void test_max_entropy(void **state) {
  (void)state;
  double on[7], off[7];
  run_training("gamma=3", 1000, on);
  run_training("gamma=0", 1000, off);
  assert_true(on[6] < 0.45);
  assert_true(off[6] > 0.55);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create),        cmocka_unit_test(test_terms_factors),
      cmocka_unit_test(test_weights),       cmocka_unit_test(test_terms_labels),
      cmocka_unit_test(test_terms_attrs),   cmocka_unit_test(test_gradcheck),
      cmocka_unit_test(test_phase1_detached), cmocka_unit_test(test_freeze),
      cmocka_unit_test(test_training),      cmocka_unit_test(test_max_entropy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
