/* test_metrics_dci_chen.c — DCI (dci.c) and Chen et al.'s full-dataset MIG (mig_chen.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "core/error.h"
#include "metrics/metrics.h"

/* ---------------------------------------------------------------- helpers */

static bh_codes codes_new(size_t n, int d) {
  bh_codes c = {n, d, calloc(n * (size_t)d, sizeof(float))};
  return c;
}

static bh_factors factors_new(size_t n, int k) {
  bh_factors f = {n, k, calloc(n * (size_t)k, sizeof(int))};
  return f;
}

/* Factors drawn uniformly, sizes[k] values each. */
static void factors_random(bh_factors *f, const int *sizes, gsl_rng *r) {
  for (size_t i = 0; i < f->n * (size_t)f->k; i++)
    f->y[i] = (int)gsl_rng_uniform_int(r, (unsigned long)sizes[i % (size_t)f->k]);
}

static double detail(const bh_metric_result *res, const char *key) {
  json_t *v = json_object_get(res->details, key);
  assert_non_null(v);
  return json_number_value(v);
}

/* ---------------------------------------------------------------- DCI formulas */

static void check_scores(const double *imp, int d, int k, double want_d, double want_c) {
  double dis = -1, com = -1;
  assert_int_equal(bh_dci_scores(imp, d, k, &dis, &com), BH_OK);
  assert_true(fabs(dis - want_d) < 1e-7);
  assert_true(fabs(com - want_c) < 1e-7);
}

/* disentanglement_lib's dci_test.py pure-matrix anchors (metrics-spec §11.1). */
static void test_dci_formula_dlib_anchors(void **state) {
  (void)state;
  double diag[25] = {0}, two[6] = {1, 0, 0, 1, 0, 0}, zeros[100] = {0};
  double vst[50] = {0}, hst[50] = {0};
  for (int i = 0; i < 5; i++) {
    diag[i * 5 + i] = 5;
    vst[i * 5 + i] = vst[(i + 5) * 5 + i] = 5; /* 10 codes × 5 factors */
    hst[i * 10 + i] = hst[i * 10 + i + 5] = 5; /* 5 codes × 10 factors */
  }
  const double l = log(2) / log(10);
  check_scores(diag, 5, 5, 1, 1);
  check_scores(two, 3, 2, 1, 1);
  check_scores(zeros, 10, 10, 0, 0);
  check_scores(vst, 10, 5, 1, 1 - l);
  check_scores(diag, 2, 5, 1, 1); /* diag[:2, :] */
  check_scores(hst, 5, 10, 1 - l, 1);
}

/* R = [[1, 1], [2, 0]] by hand:
 *   code 0: p = (½, ½), H₂ = 1 → 0; code 1: p = (1, 0) → 1; weights ½, ½ → D = 0.5.
 *   factor 0: p = (⅓, ⅔), H₂ = log₂3 − ⅔ = 0.9182958340544896 → 0.0817041659455104;
 *   factor 1: p = (1, 0) → 1; weights ¾, ¼ → C = 0.75 · 0.0817041659 + 0.25 = 0.3112781245. */
static void test_dci_formula_by_hand(void **state) {
  (void)state;
  double r[4] = {1, 1, 2, 0};
  check_scores(r, 2, 2, 0.5, 0.3112781244591328);
  /* the same matrix transposed swaps the roles */
  double t[4] = {1, 2, 1, 0};
  check_scores(t, 2, 2, 0.3112781244591328, 0.5);
  double bad[4] = {1, -1, 0, 0}, dd, cc;
  assert_int_equal(bh_dci_scores(bad, 2, 2, &dd, &cc), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "dci"));
}

/* ---------------------------------------------------------------- DCI end to end */

static const int DCI_SIZES[3] = {4, 6, 10};

/* Axis-aligned code: code_j = factor_j + N(0, 0.05²) on 3 factors. */
static void oracle_codes(bh_codes *c, const bh_factors *f, gsl_rng *r) {
  for (size_t i = 0; i < c->n; i++)
    for (int j = 0; j < c->d; j++)
      c->x[i * c->d + j] = (float)(f->y[i * f->k + j] + gsl_ran_gaussian(r, 0.05));
}

static void test_dci_oracle(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 1);
  bh_factors ftr = factors_new(1000, 3), fte = factors_new(500, 3);
  factors_random(&ftr, DCI_SIZES, r);
  factors_random(&fte, DCI_SIZES, r);
  bh_codes ctr = codes_new(1000, 3), cte = codes_new(500, 3);
  oracle_codes(&ctr, &ftr, r);
  oracle_codes(&cte, &fte, r);
  bh_metric_result res;
  assert_int_equal(bh_metric_dci(&ctr, &ftr, &cte, &fte, &res), BH_OK);
  double D = detail(&res, "disentanglement"), C = detail(&res, "completeness");
  double I = detail(&res, "informativeness_test");
  print_message("oracle DCI: D %.4f C %.4f I_test %.4f\n", D, C, I);
  assert_true(D > 0.95);
  assert_true(C > 0.95);
  assert_true(I > 0.99);
  assert_true(res.score == D);
  assert_string_equal(res.name, "dci");
  assert_non_null(strstr(res.variant, "stumps"));
  json_t *m = json_object_get(res.details, "importance_matrix");
  assert_int_equal(json_array_size(m), 3); /* one row per code dim */
  assert_true(json_number_value(json_array_get(json_array_get(m, 1), 1)) > 0.95);
  bh_metric_result_free(&res);
  free(ctr.x), free(cte.x), free(ftr.y), free(fte.y);
  gsl_rng_free(r);
}

/* Codes independent of the factors: importances spread out (low D, C), and the test accuracy is
 * near the majority-class rate (chance ≈ mean of 1/size = 0.22, majority a little above). */
static void test_dci_noise(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 2);
  bh_factors ftr = factors_new(1000, 3), fte = factors_new(1000, 3);
  factors_random(&ftr, DCI_SIZES, r);
  factors_random(&fte, DCI_SIZES, r);
  bh_codes ctr = codes_new(1000, 5), cte = codes_new(1000, 5);
  for (size_t i = 0; i < 5000; i++) {
    ctr.x[i] = (float)gsl_ran_gaussian(r, 1);
    cte.x[i] = (float)gsl_ran_gaussian(r, 1);
  }
  bh_metric_result res;
  assert_int_equal(bh_metric_dci(&ctr, &ftr, &cte, &fte, &res), BH_OK);
  double D = detail(&res, "disentanglement"), C = detail(&res, "completeness");
  double I = detail(&res, "informativeness_test"), It = detail(&res, "informativeness_train");
  print_message("noise DCI: D %.3f C %.3f I_test %.3f I_train %.3f\n", D, C, I, It);
  assert_true(D < 0.2);
  assert_true(C < 0.2);
  assert_true(I < 0.22 + 0.08);
  bh_metric_result_free(&res);
  free(ctr.x), free(cte.x), free(ftr.y), free(fte.y);
  gsl_rng_free(r);
}

/* Permuting code dims permutes the importance rows: D, C and I unchanged. The code mixes
 * factors and noise so that D, C are far from 0 and 1. */
static void test_dci_permutation(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 3);
  size_t n = 600;
  int d = 4, perm[4] = {2, 0, 3, 1};
  bh_factors ftr = factors_new(n, 3), fte = factors_new(n, 3);
  factors_random(&ftr, DCI_SIZES, r);
  factors_random(&fte, DCI_SIZES, r);
  bh_codes c[2] = {codes_new(n, d), codes_new(n, d)}, p[2] = {codes_new(n, d), codes_new(n, d)};
  for (int s = 0; s < 2; s++) {
    const int *y = s ? fte.y : ftr.y;
    for (size_t i = 0; i < n; i++) {
      float *x = c[s].x + i * d;
      x[0] = (float)(y[i * 3] + 0.5 * y[i * 3 + 1] + gsl_ran_gaussian(r, 0.3));
      x[1] = (float)(y[i * 3 + 2] + gsl_ran_gaussian(r, 1.0));
      x[2] = (float)(y[i * 3 + 1] - 0.3 * y[i * 3 + 2] + gsl_ran_gaussian(r, 0.5));
      x[3] = (float)gsl_ran_gaussian(r, 1.0);
      for (int j = 0; j < d; j++) p[s].x[i * d + perm[j]] = x[j];
    }
  }
  bh_metric_result a, b;
  assert_int_equal(bh_metric_dci(&c[0], &ftr, &c[1], &fte, &a), BH_OK);
  assert_int_equal(bh_metric_dci(&p[0], &ftr, &p[1], &fte, &b), BH_OK);
  const char *keys[3] = {"disentanglement", "completeness", "informativeness_test"};
  for (int q = 0; q < 3; q++) assert_true(fabs(detail(&a, keys[q]) - detail(&b, keys[q])) < 1e-9);
  double D = detail(&a, "disentanglement");
  assert_true(D > 0.1 && D < 0.9);
  bh_metric_result_free(&a);
  bh_metric_result_free(&b);
  for (int s = 0; s < 2; s++) free(c[s].x), free(p[s].x);
  free(ftr.y), free(fte.y);
  gsl_rng_free(r);
}

/* dlib's test_duplicated_latent_space: codes [x, x] of an oracle x.  Every split ties between
 * the two copies, so each factor's importance is shared by two of the 6 dims: D stays ≈ 1 and
 * C ≈ 1 − ln 2 / ln 6 (entropy base = number of codes). */
static void test_dci_duplicated(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 9);
  bh_factors ftr = factors_new(800, 3), fte = factors_new(400, 3);
  factors_random(&ftr, DCI_SIZES, r);
  factors_random(&fte, DCI_SIZES, r);
  bh_codes c[2] = {codes_new(800, 3), codes_new(400, 3)};
  bh_codes dup[2] = {codes_new(800, 6), codes_new(400, 6)};
  oracle_codes(&c[0], &ftr, r);
  oracle_codes(&c[1], &fte, r);
  for (int s = 0; s < 2; s++)
    for (size_t i = 0; i < c[s].n; i++)
      for (int j = 0; j < 6; j++) dup[s].x[i * 6 + j] = c[s].x[i * 3 + j % 3];
  bh_metric_result res;
  assert_int_equal(bh_metric_dci(&dup[0], &ftr, &dup[1], &fte, &res), BH_OK);
  double D = detail(&res, "disentanglement"), C = detail(&res, "completeness");
  print_message("duplicated DCI: D %.4f C %.4f (1 - ln2/ln6 = %.4f)\n", D, C,
                1 - log(2) / log(6));
  assert_true(D > 0.9);
  assert_true(fabs(C - (1 - log(2) / log(6))) < 0.05);
  bh_metric_result_free(&res);
  for (int s = 0; s < 2; s++) free(c[s].x), free(dup[s].x);
  free(ftr.y), free(fte.y);
  gsl_rng_free(r);
}

static void test_dci_rejects_mismatch(void **state) {
  (void)state;
  bh_codes ctr = codes_new(10, 2), cte = codes_new(10, 3);
  bh_factors ftr = factors_new(10, 1), fte = factors_new(10, 1), fbad = factors_new(9, 1);
  bh_metric_result res;
  assert_int_equal(bh_metric_dci(&ctr, &ftr, &cte, &fte, &res), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "dci"));
  assert_int_equal(bh_metric_dci(&ctr, &fbad, &ctr, &fte, &res), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "dci"));
  free(ctr.x), free(cte.x), free(ftr.y), free(fte.y), free(fbad.y);
}

/* ---------------------------------------------------------------- Chen MIG */

static const int CH_SIZES[2] = {4, 5};

/* The 4 × 5 grid repeated `rep` times (example n has combination n mod 20). */
static bh_factors chen_grid(int rep) {
  bh_factors f = factors_new((size_t)20 * rep, 2);
  for (size_t n = 0; n < f.n; n++) {
    f.y[n * 2] = (int)(n % 20) / 5;
    f.y[n * 2 + 1] = (int)(n % 20) % 5;
  }
  return f;
}

static json_t *chen_factor(const bh_metric_result *res, int k) {
  return json_array_get(json_object_get(res->details, "factors"), (size_t)k);
}

/* mu = the factor values, σ = e^{-4} ≈ 0.018: each dim carries ln|V_k| nats about its factor and
 * nothing about the other, so both gaps are ≈ 1 (the narrow bumps barely overlap). */
static void test_chen_oracle(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 4);
  bh_factors f = chen_grid(5);
  bh_codes mu = codes_new(f.n, 2), lv = codes_new(f.n, 2);
  for (size_t n = 0; n < f.n; n++)
    for (int j = 0; j < 2; j++) {
      mu.x[n * 2 + j] = (float)f.y[n * 2 + j];
      lv.x[n * 2 + j] = -8;
    }
  int use[2] = {1, 1};
  bh_metric_result res;
  assert_int_equal(bh_metric_mig_chen(&mu, &lv, &f, CH_SIZES, use, 10000, r, &res), BH_OK);
  assert_true(res.score > 0.98 && res.score < 1.02);
  assert_string_equal(res.name, "mig-chen");
  for (int k = 0; k < 2; k++)
    assert_true(json_number_value(json_object_get(chen_factor(&res, k), "gap")) > 0.98);
  assert_non_null(json_object_get(res.details, "seconds"));
  bh_metric_result_free(&res);
  free(mu.x), free(lv.x), free(f.y);
  gsl_rng_free(r);
}

/* Codes independent of the factors: MI ≈ 0 up to the estimator's small positive bias (the
 * point's own component weighs 1/M, more in the smaller conditional families). */
static void test_chen_noise(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 5);
  bh_factors f = chen_grid(50);
  bh_codes mu = codes_new(f.n, 3), lv = codes_new(f.n, 3);
  for (size_t i = 0; i < f.n * 3; i++) {
    mu.x[i] = (float)gsl_ran_gaussian(r, 1);
    lv.x[i] = (float)log(0.25);
  }
  int use[2] = {1, 1};
  bh_metric_result res;
  assert_int_equal(bh_metric_mig_chen(&mu, &lv, &f, CH_SIZES, use, 10000, r, &res), BH_OK);
  print_message("noise Chen MIG: %.4f\n", res.score);
  assert_true(res.score >= 0 && res.score < 0.05);
  bh_metric_result_free(&res);
  free(mu.x), free(lv.x), free(f.y);
  gsl_rng_free(r);
}

/* The estimator written plainly in double, replaying the documented draw order: N·d normals,
 * then per family (marginal, factor 0 values 0.., factor 1 values 0..) a partial Fisher–Yates
 * of the member list when S < M. */
static double brute_family(const double *mu, const double *lv, const double *z, int d,
                           size_t *idx, size_t m, size_t nm, gsl_rng *r, double *h) {
  size_t S = nm < m ? nm : m;
  if (S < m)
    for (size_t i = 0; i < S; i++) {
      size_t k = i + (size_t)gsl_rng_uniform_int(r, (unsigned long)(m - i));
      size_t t = idx[i];
      idx[i] = idx[k];
      idx[k] = t;
    }
  for (int j = 0; j < d; j++) {
    double hs = 0;
    for (size_t p = 0; p < S; p++) {
      double x = z[idx[p] * d + j], q = 0;
      for (size_t i = 0; i < m; i++) {
        double v = exp(lv[idx[i] * d + j]), t = x - mu[idx[i] * d + j];
        q += exp(-t * t / (2 * v)) / sqrt(2 * 3.14159265358979323846 * v);
      }
      hs += -log(q / (double)m);
    }
    h[j] = hs / (double)S;
  }
  return 0;
}

static double brute_chen(const bh_codes *mu, const bh_codes *lv, const bh_factors *f,
                         const int *sizes, const int *use, size_t nm, unsigned long seed,
                         double *gaps) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  size_t N = mu->n;
  int d = mu->d;
  double *m = malloc(sizeof(double) * N * d), *v = malloc(sizeof(double) * N * d);
  double *z = malloc(sizeof(double) * N * d), hm[8], hu[8];
  size_t *idx = malloc(sizeof(size_t) * N);
  for (size_t i = 0; i < N * (size_t)d; i++) {
    m[i] = mu->x[i];
    v[i] = lv->x[i];
    z[i] = m[i] + exp(0.5 * v[i]) * gsl_ran_gaussian(r, 1.0);
  }
  for (size_t i = 0; i < N; i++) idx[i] = i;
  brute_family(m, v, z, d, idx, N, nm, r, hm);
  double score = 0;
  int used = 0;
  for (int k = 0; k < f->k; k++) {
    if (!use[k]) continue;
    double hc[8] = {0};
    for (int u = 0; u < sizes[k]; u++) {
      size_t cnt = 0;
      for (size_t i = 0; i < N; i++)
        if (f->y[i * f->k + k] == u) idx[cnt++] = i;
      brute_family(m, v, z, d, idx, cnt, nm, r, hu);
      for (int j = 0; j < d; j++) hc[j] += (double)cnt / N * hu[j];
    }
    double mi[8] = {0};
    for (int j = 0; j < d; j++) mi[j] = fmax(hm[j] - hc[j], 0) / log(sizes[k]);
    /* top two by a plain sort */
    for (int a = 0; a < d; a++)
      for (int b = a + 1; b < d; b++)
        if (mi[b] > mi[a]) {
          double t = mi[a];
          mi[a] = mi[b];
          mi[b] = t;
        }
    gaps[k] = mi[0] - (d > 1 ? mi[1] : 0);
    score += gaps[k];
    used++;
  }
  free(m), free(v), free(z), free(idx);
  gsl_rng_free(r);
  return score / used;
}

/* 2 × 3 factors, each combination twice (N = 12), 3 dims with random mu/logvar partly tied to
 * the factors.  n_marginal = 5: the marginal (M = 12) and factor 0's families (M = 6) are
 * subsampled, factor 1's (M = 4) are not.  Float32 vs double: agreement to 1e-4. */
static void test_chen_brute_force(void **state) {
  (void)state;
  static const int sizes[2] = {2, 3};
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 6);
  bh_factors f = factors_new(12, 2);
  bh_codes mu = codes_new(12, 3), lv = codes_new(12, 3);
  for (size_t n = 0; n < 12; n++) {
    f.y[n * 2] = (int)(n % 6) / 3;
    f.y[n * 2 + 1] = (int)(n % 6) % 3;
    mu.x[n * 3] = (float)(f.y[n * 2] + gsl_ran_gaussian(g, 0.3));
    mu.x[n * 3 + 1] = (float)(0.5 * f.y[n * 2 + 1] + gsl_ran_gaussian(g, 0.3));
    mu.x[n * 3 + 2] = (float)gsl_ran_gaussian(g, 1);
    for (int j = 0; j < 3; j++) lv.x[n * 3 + j] = (float)(-2 + gsl_rng_uniform(g));
  }
  int use[2] = {1, 1};
  for (size_t nm = 5; nm <= 1000; nm += 995) {
    double gaps[2];
    double want = brute_chen(&mu, &lv, &f, sizes, use, nm, 77, gaps);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 77);
    bh_metric_result res;
    assert_int_equal(bh_metric_mig_chen(&mu, &lv, &f, sizes, use, nm, r, &res), BH_OK);
    print_message("brute force n_marginal %zu: %.8f, mig_chen %.8f\n", nm, want, res.score);
    assert_true(fabs(res.score - want) < 1e-4);
    assert_true(want > 0.05); /* a non-trivial value */
    for (int k = 0; k < 2; k++)
      assert_true(fabs(json_number_value(json_object_get(chen_factor(&res, k), "gap")) -
                       gaps[k]) < 1e-4);
    bh_metric_result_free(&res);
    gsl_rng_free(r);
  }
  free(mu.x), free(lv.x), free(f.y);
  gsl_rng_free(g);
}

/* use = {1, 0}: factor 1 skipped (null in details) and the score is factor 0's gap, the same
 * gap as when both are used (factor 0's draws come before factor 1's). */
static void test_chen_skip_factor(void **state) {
  (void)state;
  bh_factors f = chen_grid(4);
  bh_codes mu = codes_new(f.n, 2), lv = codes_new(f.n, 2);
  for (size_t n = 0; n < f.n; n++) {
    mu.x[n * 2] = (float)f.y[n * 2];
    mu.x[n * 2 + 1] = (float)(0.2 * f.y[n * 2 + 1]); /* factor 1 barely resolved: gap < 1 */
    lv.x[n * 2] = lv.x[n * 2 + 1] = -2;
  }
  int both[2] = {1, 1}, one[2] = {1, 0};
  bh_metric_result a, b;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 8);
  assert_int_equal(bh_metric_mig_chen(&mu, &lv, &f, CH_SIZES, both, 50, r, &a), BH_OK);
  gsl_rng_set(r, 8);
  assert_int_equal(bh_metric_mig_chen(&mu, &lv, &f, CH_SIZES, one, 50, r, &b), BH_OK);
  double g0 = json_number_value(json_object_get(chen_factor(&a, 0), "gap"));
  double g1 = json_number_value(json_object_get(chen_factor(&a, 1), "gap"));
  assert_true(fabs(g0 - g1) > 0.05);
  assert_true(json_is_null(chen_factor(&b, 1)));
  assert_true(b.score == g0);
  assert_true(fabs(a.score - 0.5 * (g0 + g1)) < 1e-12);
  bh_metric_result_free(&a);
  bh_metric_result_free(&b);
  /* factor sizes too small or a value outside them: rejected */
  int bad[2] = {4, 1};
  assert_int_equal(bh_metric_mig_chen(&mu, &lv, &f, bad, both, 50, r, &a), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "mig-chen"));
  bh_codes short_lv = {f.n - 1, 2, lv.x};
  assert_int_equal(bh_metric_mig_chen(&mu, &short_lv, &f, CH_SIZES, both, 50, r, &a), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "mig-chen"));
  gsl_rng_free(r);
  free(mu.x), free(lv.x), free(f.y);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dci_formula_dlib_anchors),
      cmocka_unit_test(test_dci_formula_by_hand),
      cmocka_unit_test(test_dci_oracle),
      cmocka_unit_test(test_dci_noise),
      cmocka_unit_test(test_dci_permutation),
      cmocka_unit_test(test_dci_duplicated),
      cmocka_unit_test(test_dci_rejects_mismatch),
      cmocka_unit_test(test_chen_oracle),
      cmocka_unit_test(test_chen_noise),
      cmocka_unit_test(test_chen_brute_force),
      cmocka_unit_test(test_chen_skip_factor),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
