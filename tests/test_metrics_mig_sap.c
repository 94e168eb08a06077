/* test_metrics_mig_sap.c — discretisation, discrete MI/entropy, disentanglement_lib MIG and SAP
 * (both variants), code/factor file loading and input checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gsl/gsl_rng.h>
#include <linear.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/npy.h"
#include "metrics/discrete.h"
#include "metrics/metrics.h"
#include "tests/testfiles.h"

static const int DSPRITES_SIZES[5] = {3, 6, 40, 32, 32};

static void assert_msg_has(const char *needle) {
  const char *m = bh_error_message();
  if (!strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m, needle);
}

/* n uniform dSprites factor rows (shape, scale, orientation, posX, posY). */
static bh_factors dsprites_factors(gsl_rng *r, size_t n) {
  bh_factors f = {n, 5, malloc(n * 5 * sizeof(int))};
  for (size_t i = 0; i < n * 5; i++)
    f.y[i] = (int)gsl_rng_uniform_int(r, (unsigned long)DSPRITES_SIZES[i % 5]);
  return f;
}

/* The oracle code: code dimension j = factor j's index. */
static bh_codes oracle_codes(const bh_factors *f) {
  bh_codes c = {f->n, f->k, malloc(f->n * f->k * sizeof(float))};
  for (size_t i = 0; i < f->n * f->k; i++) c.x[i] = (float)f->y[i];
  return c;
}

static bh_codes noise_codes(gsl_rng *r, size_t n, int d) {
  bh_codes c = {n, d, malloc(n * d * sizeof(float))};
  for (size_t i = 0; i < n * (size_t)d; i++) c.x[i] = (float)(gsl_rng_uniform(r) * 2 - 1);
  return c;
}

/* ------------------------------------------------------- plain reference implementations */

/* np.histogram edges (linspace in double, rounded to float) then np.digitize(x, edges[:-1]),
 * written as the definition: count the edges <= x, O(n·bins). */
static void ref_discretize(const float *x, size_t n, size_t stride, int bins, int *lab) {
  double lo = x[0], hi = x[0];
  for (size_t i = 0; i < n; i++) {
    lo = fmin(lo, x[i * stride]);
    hi = fmax(hi, x[i * stride]);
  }
  if (lo == hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  for (size_t i = 0; i < n; i++) {
    int c = 0;
    for (int t = 0; t < bins; t++) c += (float)(t * ((hi - lo) / bins) + lo) <= x[i * stride];
    lab[i] = c;
  }
}

/* Plug-in MI in nats, Σ p_ab ln(p_ab / (p_a p_b)), labels in [0, 64). */
static double ref_mi(const int *a, size_t sa, const int *b, size_t sb, size_t n) {
  static double joint[64][64];
  double pa[64] = {0}, pb[64] = {0}, mi = 0;
  memset(joint, 0, sizeof joint);
  for (size_t i = 0; i < n; i++) {
    joint[a[i * sa]][b[i * sb]] += 1.0 / n;
    pa[a[i * sa]] += 1.0 / n;
    pb[b[i * sb]] += 1.0 / n;
  }
  for (int i = 0; i < 64; i++)
    for (int j = 0; j < 64; j++)
      if (joint[i][j] > 0) mi += joint[i][j] * log(joint[i][j] / (pa[i] * pb[j]));
  return mi;
}

/* dlib MIG by the definition, from the reference pieces above. */
static double ref_mig(const bh_codes *c, const bh_factors *f, int bins, double *per) {
  int *lab = malloc(c->n * sizeof(int));
  double *m = malloc((size_t)c->d * f->k * sizeof(double)), total = 0;
  for (int i = 0; i < c->d; i++) {
    ref_discretize(c->x + i, c->n, (size_t)c->d, bins, lab);
    for (int j = 0; j < f->k; j++) m[i * f->k + j] = ref_mi(lab, 1, f->y + j, (size_t)f->k, c->n);
  }
  for (int j = 0; j < f->k; j++) {
    double h = ref_mi(f->y + j, (size_t)f->k, f->y + j, (size_t)f->k, c->n), a = -1, b = -1;
    for (int i = 0; i < c->d; i++) {
      double v = m[i * f->k + j];
      if (v > a) {
        b = a;
        a = v;
      } else if (v > b) {
        b = v;
      }
    }
    per[j] = (a - b) / h;
    total += per[j];
  }
  free(lab);
  free(m);
  return total / f->k;
}

static double mig_of(const bh_codes *c, const bh_factors *f, bh_metric_result *res) {
  bh_metric_result_init(res, "mig");
  assert_int_equal(bh_metric_mig(c, f, 20, res), BH_OK);
  return res->score;
}

static double sap_of(const bh_codes *trc, const bh_factors *trf, const bh_codes *tec,
                     const bh_factors *tef, int continuous) {
  bh_metric_result res;
  bh_metric_result_init(&res, "sap");
  int st = bh_metric_sap(trc, trf, tec, tef, continuous, &res);
  if (st) fail_msg("sap failed: %s", bh_error_message());
  double s = res.score;
  bh_metric_result_free(&res);
  return s;
}

/* ------------------------------------------------- dlib utils_test.py exact cases (§11.1) */

static void test_dlib_histogram_case(void **state) {
  (void)state;
  /* the two rows of dlib's test, as two columns of a 6 × 2 row-major array */
  const float x[12] = {.1f, .6f, .2f, .5f, .3f, .4f, .4f, .3f, .5f, .2f, .6f, .1f};
  const int want0[6] = {1, 1, 2, 2, 3, 3}, want1[6] = {3, 3, 2, 2, 1, 1};
  int lab[6];
  assert_int_equal(bh_discretize_histogram(x, 6, 2, 3, lab), BH_OK);
  assert_memory_equal(lab, want0, sizeof lab);
  int table[64];
  assert_float_equal(bh_discrete_entropy(lab, 4, 6, table), log(3.0), 1e-15);
  assert_int_equal(bh_discretize_histogram(x + 1, 6, 2, 3, lab), BH_OK);
  assert_memory_equal(lab, want1, sizeof lab);
  assert_float_equal(bh_discrete_entropy(lab, 4, 6, table), log(3.0), 1e-15);
}

static void test_dlib_mutual_info_case(void **state) {
  (void)state;
  /* xs = [[1,2,1,2],[1,1,2,2]], ys = [[1,2,1,2],[2,2,1,1]] → [[ln 2, 0], [0, ln 2]] */
  const int xs[2][4] = {{1, 2, 1, 2}, {1, 1, 2, 2}}, ys[2][4] = {{1, 2, 1, 2}, {2, 2, 1, 1}};
  int table[64];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      double m = bh_discrete_mutual_info(xs[i], 3, ys[j], 3, 4, table);
      assert_float_equal(m, i == j ? log(2.0) : 0.0, 1e-15);
    }
  /* a single-valued variable has no information (sklearn returns exactly 0) */
  const int one[4] = {2, 2, 2, 2};
  assert_true(bh_discrete_mutual_info(xs[0], 3, one, 3, 4, table) == 0.0);
  assert_true(bh_discrete_entropy(one, 3, 4, table) == 0.0);
}

/* numpy's edge and max behaviour: a value on an edge goes up, the max goes to the top bin, a
 * constant column gets label 11 of 20. */
static void test_histogram_edges(void **state) {
  (void)state;
  float x[21];
  int lab[21];
  for (int i = 0; i <= 20; i++) x[i] = (float)i; /* edges 0, 1, ..., 19 (+ 20) */
  assert_int_equal(bh_discretize_histogram(x, 21, 1, 20, lab), BH_OK);
  for (int i = 0; i < 20; i++) assert_int_equal(lab[i], i + 1);
  assert_int_equal(lab[20], 20);
  float k[5] = {3.25f, 3.25f, 3.25f, 3.25f, 3.25f};
  assert_int_equal(bh_discretize_histogram(k, 5, 1, 20, lab), BH_OK);
  for (int i = 0; i < 5; i++) assert_int_equal(lab[i], 11);
  /* random float data: the fast binning equals the definition everywhere */
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 7);
  enum { N = 20000 };
  float *y = malloc(N * sizeof *y);
  int *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
  for (int i = 0; i < N; i++)
    y[i] = i % 5 == 0 ? (float)(gsl_rng_uniform_int(r, 41) * 0.1 - 2) : (float)(gsl_rng_uniform(r) * 4 - 2);
  assert_int_equal(bh_discretize_histogram(y, N, 1, 20, a), BH_OK);
  ref_discretize(y, N, 1, 20, b);
  assert_memory_equal(a, b, N * sizeof *a);
  float nan1[2] = {0.f, NAN};
  assert_int_equal(bh_discretize_histogram(nan1, 2, 1, 20, a), BH_ENUM);
  free(y);
  free(a);
  free(b);
  gsl_rng_free(r);
}

static void test_mutual_info_vs_reference(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 11);
  enum { N = 5000 };
  int a[N], b[N], table[64 * 64 + 128];
  for (int rep = 0; rep < 5; rep++) {
    for (int i = 0; i < N; i++) {
      a[i] = (int)gsl_rng_uniform_int(r, 7 + rep);
      b[i] = gsl_rng_uniform(r) < 0.5 ? a[i] % 5 : (int)gsl_rng_uniform_int(r, 9);
    }
    assert_float_equal(bh_discrete_mutual_info(a, 7 + rep, b, 9, N, table), ref_mi(a, 1, b, 1, N),
                       1e-12);
    assert_float_equal(bh_discrete_entropy(a, 7 + rep, N, table), ref_mi(a, 1, a, 1, N), 1e-12);
  }
  gsl_rng_free(r);
}

/* -------------------------------------------------------------------------------- MIG */

static void test_mig_oracle(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 1);
  bh_factors f = dsprites_factors(r, 10000);
  bh_codes c = oracle_codes(&f);
  double per[5];
  double want = ref_mig(&c, &f, 20, per);
  bh_metric_result res;
  double got = mig_of(&c, &f, &res);
  assert_float_equal(got, want, 1e-12);
  /* the 20-bin ceiling: shape, scale 1; orientation ln20/ln40; positions
   * (0.75 ln16 + 0.25 ln32)/ln32; minus a small finite-sample bias (metrics-spec §3) */
  const double cap[5] = {1, 1, log(20) / log(40), (0.75 * log(16) + 0.25 * log(32)) / log(32),
                         (0.75 * log(16) + 0.25 * log(32)) / log(32)};
  json_t *pf = json_object_get(res.details, "per_factor");
  assert_int_equal(json_array_size(pf), 5);
  for (int j = 0; j < 5; j++) {
    double v = json_real_value(json_array_get(pf, j));
    assert_float_equal(v, per[j], 1e-12);
    assert_true(v <= cap[j] + 1e-9 && v > cap[j] - 0.02);
  }
  assert_true(got > 0.88 && got < 0.91);
  assert_non_null(strstr(res.variant, "20 equal-width bins"));
  json_t *js = bh_metric_result_json(&res);
  assert_float_equal(json_real_value(json_object_get(js, "score")), got, 0);
  assert_string_equal(json_string_value(json_object_get(js, "metric")), "mig");
  json_decref(js);
  bh_metric_result_free(&res);
  bh_codes_free(&c);
  bh_factors_free(&f);
  gsl_rng_free(r);
}

static void test_mig_noise_and_duplicate(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 2);
  bh_factors f = dsprites_factors(r, 10000);
  bh_codes c = noise_codes(r, 10000, 10);
  bh_metric_result res;
  double per[5];
  double m = mig_of(&c, &f, &res);
  bh_metric_result_free(&res);
  assert_float_equal(m, ref_mig(&c, &f, 20, per), 1e-12);
  assert_true(m >= 0 && m < 0.01);
  /* duplicated oracle [x, x]: the two best MIs are equal, so every gap is 0 */
  bh_codes o = oracle_codes(&f), dup = {f.n, 10, malloc(f.n * 10 * sizeof(float))};
  for (size_t i = 0; i < f.n; i++)
    for (int j = 0; j < 10; j++) dup.x[i * 10 + j] = o.x[i * 5 + j % 5];
  m = mig_of(&dup, &f, &res);
  bh_metric_result_free(&res);
  assert_float_equal(m, 0.0, 1e-12);
  bh_codes_free(&o);
  bh_codes_free(&dup);
  bh_codes_free(&c);
  bh_factors_free(&f);
  gsl_rng_free(r);
}

/* A code that carries the factors with noise: dimension j ≈ factor j + noise, plus pure noise. */
static bh_codes noisy_oracle(gsl_rng *r, const bh_factors *f, int d) {
  bh_codes c = {f->n, d, malloc(f->n * d * sizeof(float))};
  for (size_t i = 0; i < f->n; i++)
    for (int j = 0; j < d; j++)
      c.x[i * d + j] = (float)((j < f->k ? f->y[i * f->k + j] : 0) + 3 * gsl_rng_uniform(r));
  return c;
}

/* Permute the code columns by perm and map column j to a[j]·x + b[j]. */
static bh_codes transform(const bh_codes *c, const int *perm, const double *a, const double *b) {
  bh_codes t = {c->n, c->d, malloc(c->n * c->d * sizeof(float))};
  for (size_t i = 0; i < c->n; i++)
    for (int j = 0; j < c->d; j++)
      t.x[i * c->d + j] = (float)(a[j] * c->x[i * c->d + perm[j]] + b[j]);
  return t;
}

static void test_mig_sap_invariances(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 3);
  bh_factors f = dsprites_factors(r, 4000), tf = dsprites_factors(r, 2000);
  bh_codes c = noisy_oracle(r, &f, 7), tc = noisy_oracle(r, &tf, 7);
  const int perm[7] = {4, 0, 6, 2, 1, 5, 3}, id[7] = {0, 1, 2, 3, 4, 5, 6};
  const double one[7] = {1, 1, 1, 1, 1, 1, 1}, zero[7] = {0};
  const double a[7] = {2.5, -0.3, 7, -11, 0.01, 1e3, -1}, b[7] = {1, -4, 100, 0.5, -3, 2e3, 0};
  bh_codes p = transform(&c, perm, one, zero), s = transform(&c, id, a, b);
  bh_codes tp = transform(&tc, perm, one, zero);
  bh_metric_result res;
  double m0 = mig_of(&c, &f, &res);
  bh_metric_result_free(&res);
  assert_true(m0 > 0.1); /* a non-trivial value, so equality below means something */
  assert_float_equal(mig_of(&p, &f, &res), m0, 1e-12);
  bh_metric_result_free(&res);
  /* rescaled bins move with min/max; only float rounding of the codes can move a label */
  assert_float_equal(mig_of(&s, &f, &res), m0, 1e-6);
  bh_metric_result_free(&res);
  double s0 = sap_of(&c, &f, NULL, NULL, 1);
  assert_true(s0 > 0.1);
  assert_float_equal(sap_of(&p, &f, NULL, NULL, 1), s0, 1e-12);
  assert_float_equal(sap_of(&s, &f, NULL, NULL, 1), s0, 1e-6);
  /* discrete SAP: permutation-invariant; its SVM penalises w and b, so it is NOT invariant to
   * rescaling (disentanglement_lib's isn't either) */
  double d0 = sap_of(&c, &f, &tc, &tf, 0);
  assert_true(d0 > 0.05);
  assert_float_equal(sap_of(&p, &f, &tp, &tf, 0), d0, 1e-12);
  bh_codes *all[] = {&c, &tc, &p, &s, &tp};
  for (int i = 0; i < 5; i++) bh_codes_free(all[i]);
  bh_factors_free(&f);
  bh_factors_free(&tf);
  gsl_rng_free(r);
}

/* -------------------------------------------------------------------------------- SAP */

static void test_sap_continuous_oracle_noise_duplicate(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 4);
  bh_factors f = dsprites_factors(r, 10000);
  bh_codes o = oracle_codes(&f), nz = noise_codes(r, 10000, 10);
  double s = sap_of(&o, &f, NULL, NULL, 1);
  assert_true(s > 0.99 && s <= 1.0);
  /* by hand: R²(oracle j, factor j) = 1, cross terms are squared sample correlations of
   * independent factors (~1e-4), so SAP = 1 − mean of each column's largest cross term */
  s = sap_of(&nz, &f, NULL, NULL, 1);
  assert_true(s >= 0 && s < 0.01);
  bh_codes dup = {f.n, 10, malloc(f.n * 10 * sizeof(float))};
  for (size_t i = 0; i < f.n; i++)
    for (int j = 0; j < 10; j++) dup.x[i * 10 + j] = o.x[i * 5 + j % 5];
  assert_float_equal(sap_of(&dup, &f, NULL, NULL, 1), 0.0, 1e-12);
  bh_codes_free(&dup);
  bh_codes_free(&o);
  bh_codes_free(&nz);
  bh_factors_free(&f);
  gsl_rng_free(r);
}

/* Continuous SAP entries against a two-pass squared correlation written here. */
static void test_sap_continuous_values(void **state) {
  (void)state;
  const float x[8] = {1, 0, 2, 5, 3, 1, 4, 4}; /* 4 × 2 */
  const int y[4] = {0, 1, 1, 2};
  bh_codes c = {4, 2, (float *)x};
  bh_factors f = {4, 1, (int *)y};
  bh_metric_result res;
  bh_metric_result_init(&res, "sap");
  assert_int_equal(bh_metric_sap(&c, &f, NULL, NULL, 1, &res), BH_OK);
  /* col 0 = 1,2,3,4 vs 0,1,1,2: Σdxdy = 3, Σdx² = 5, Σdy² = 2 → r² = 9/10
   * col 1 = 0,5,1,4 vs 0,1,1,2: Σdxdy = 4, Σdx² = 17, Σdy² = 2 → r² = 16/34 */
  json_t *m = json_object_get(res.details, "score_matrix");
  assert_float_equal(json_real_value(json_array_get(json_array_get(m, 0), 0)), 0.9, 1e-12);
  assert_float_equal(json_real_value(json_array_get(json_array_get(m, 1), 0)), 16.0 / 34, 1e-12);
  assert_float_equal(res.score, 0.9 - 16.0 / 34, 1e-12);
  bh_metric_result_free(&res);
}

/* The discrete entries equal the test accuracy of liblinear itself, trained the way
 * scikit-learn trains LinearSVC(C = 0.01, class_weight = "balanced"): L2-loss SVC (dual),
 * bias feature 1, per-class weights N / (K n_k). */
static double liblinear_accuracy(const double *xtr, const int *ytr, size_t ntr,
                                 const double *xte, const int *yte, size_t nte, int K) {
  struct feature_node *nodes = malloc(ntr * 3 * sizeof *nodes);
  struct feature_node **rows = malloc(ntr * sizeof *rows);
  double *y = malloc(ntr * sizeof *y), w[64];
  int lab[64], cnt[64] = {0};
  for (size_t i = 0; i < ntr; i++) {
    nodes[3 * i] = (struct feature_node){1, xtr[i]};
    nodes[3 * i + 1] = (struct feature_node){2, 1.0};
    nodes[3 * i + 2] = (struct feature_node){-1, 0};
    rows[i] = nodes + 3 * i;
    y[i] = ytr[i];
    cnt[ytr[i]]++;
  }
  for (int k = 0; k < K; k++) {
    lab[k] = k;
    w[k] = (double)ntr / (K * (double)cnt[k]);
  }
  struct problem prob = {(int)ntr, 2, y, rows, 1.0};
  struct parameter par = {.solver_type = L2R_L2LOSS_SVC_DUAL, .eps = 1e-7, .C = 0.01,
                          .nr_weight = K, .weight_label = lab, .weight = w};
  struct model *mod = train(&prob, &par);
  size_t hit = 0;
  for (size_t i = 0; i < nte; i++) {
    struct feature_node q[3] = {{1, xte[i]}, {2, 1.0}, {-1, 0}};
    hit += (int)predict(mod, q) == yte[i];
  }
  free_and_destroy_model(&mod);
  free(nodes);
  free(rows);
  free(y);
  return (double)hit / nte;
}

static void silent(const char *s) { (void)s; }

static void test_sap_discrete_vs_liblinear(void **state) {
  (void)state;
  set_print_string_function(silent);
  srand(5); /* liblinear's dual CD shuffles with rand() */
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 5);
  enum { NTR = 1500, NTE = 800, D = 3, K = 3 };
  const int sizes[K] = {2, 4, 7};
  bh_factors f[2];
  bh_codes c[2];
  for (int s = 0; s < 2; s++) {
    size_t n = s ? NTE : NTR;
    f[s] = (bh_factors){n, K, malloc(n * K * sizeof(int))};
    c[s] = (bh_codes){n, D, malloc(n * D * sizeof(float))};
    for (size_t i = 0; i < n; i++) {
      for (int k = 0; k < K; k++) {
        /* unbalanced classes, so the weights matter */
        double u = gsl_rng_uniform(r);
        f[s].y[i * K + k] = (int)(sizes[k] * u * u);
      }
      for (int d = 0; d < D; d++)
        c[s].x[i * D + d] = (float)(f[s].y[i * K + d] * (d + 1) * 0.4 - 1 + (gsl_rng_uniform(r) - 0.5) * 2.4);
    }
  }
  bh_metric_result res;
  bh_metric_result_init(&res, "sap");
  assert_int_equal(bh_metric_sap(&c[0], &f[0], &c[1], &f[1], 0, &res), BH_OK);
  json_t *m = json_object_get(res.details, "score_matrix");
  double xtr[NTR], xte[NTE];
  int ytr[NTR], yte[NTE];
  for (int d = 0; d < D; d++)
    for (int k = 0; k < K; k++) {
      for (int i = 0; i < NTR; i++) xtr[i] = c[0].x[i * D + d], ytr[i] = f[0].y[i * K + k];
      for (int i = 0; i < NTE; i++) xte[i] = c[1].x[i * D + d], yte[i] = f[1].y[i * K + k];
      double want = liblinear_accuracy(xtr, ytr, NTR, xte, yte, NTE, sizes[k]);
      double got = json_real_value(json_array_get(json_array_get(m, d), k));
      /* same optimum up to liblinear's tolerance: at most a couple of test points may flip */
      if (fabs(got - want) > 2.5 / NTE) fail_msg("S[%d][%d] = %g, liblinear %g", d, k, got, want);
    }
  assert_non_null(strstr(res.variant, "C=0.01"));
  bh_metric_result_free(&res);
  for (int s = 0; s < 2; s++) {
    bh_codes_free(&c[s]);
    bh_factors_free(&f[s]);
  }
  gsl_rng_free(r);
}

static void test_sap_discrete_oracle_noise(void **state) {
  (void)state;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 6);
  bh_factors f = dsprites_factors(r, 10000), tf = dsprites_factors(r, 5000);
  bh_codes o = oracle_codes(&f), to = oracle_codes(&tf);
  /* metrics-spec §11.3: a 1-D linear OvR classifier with C = 0.01 separates shape but not the
   * middle classes of the 32/40-valued factors; dlib gives ≈ 0.23–0.25 */
  double s = sap_of(&o, &f, &to, &tf, 0);
  assert_true(s > 0.2 && s < 0.3);
  bh_codes n = noise_codes(r, 10000, 10), tn = noise_codes(r, 5000, 10);
  s = sap_of(&n, &f, &tn, &tf, 0);
  assert_true(s >= 0 && s < 0.03);
  bh_codes *all[] = {&o, &to, &n, &tn};
  for (int i = 0; i < 4; i++) bh_codes_free(all[i]);
  bh_factors_free(&f);
  bh_factors_free(&tf);
  gsl_rng_free(r);
}

/* A collapsed (constant) code dimension: only the intercepts matter, b_c grows with the class
 * count n_c (metrics-spec §2), so the exact optimum predicts the most frequent training class
 * for every test point; its accuracy is that class's test frequency. */
static void test_sap_discrete_constant_dim(void **state) {
  (void)state;
  enum { NTR = 3000, NTE = 1000, K = 10 };
  bh_codes c = {NTR, 2, malloc(NTR * 2 * sizeof(float))}, tc = {NTE, 2, malloc(NTE * 2 * sizeof(float))};
  bh_factors f = {NTR, 1, malloc(NTR * sizeof(int))}, tf = {NTE, 1, malloc(NTE * sizeof(int))};
  /* train: class 7 holds 320 points, the others 298 or 297 (metrics-spec's N 3000, K 10,
   * n 320 case); test: class 7 is 137 of 1000 */
  for (int i = 0; i < NTR; i++) {
    f.y[i] = i < 320 ? 7 : (i - 320) % 9 + (((i - 320) % 9) >= 7);
    c.x[2 * i] = 0.25f;
    c.x[2 * i + 1] = (float)(i % 13);
  }
  for (int i = 0; i < NTE; i++) {
    tf.y[i] = i < 137 ? 7 : i % 7;
    /* x ≡ 0.25 acts as a second intercept feature (w need not be 0): test at the same value */
    tc.x[2 * i] = 0.25f;
    tc.x[2 * i + 1] = (float)(i % 13);
  }
  bh_metric_result res;
  bh_metric_result_init(&res, "sap");
  assert_int_equal(bh_metric_sap(&c, &f, &tc, &tf, 0, &res), BH_OK);
  json_t *m = json_object_get(res.details, "score_matrix");
  assert_float_equal(json_real_value(json_array_get(json_array_get(m, 0), 0)), 0.137, 1e-12);
  bh_metric_result_free(&res);
  bh_codes_free(&c);
  bh_codes_free(&tc);
  bh_factors_free(&f);
  bh_factors_free(&tf);
}

/* ----------------------------------------------------------------- files and bad inputs */

static int setup_dir(void **state) {
  (void)state;
  return tf_tmpdir_make("mig_sap");
}

static int remove_dir(void **state) {
  (void)state;
  return tf_tmpdir_remove();
}

static const char *write_text(const char *name, const char *text) {
  static char path[256];
  tf_path(path, name);
  tf_write_bytes(path, text, strlen(text));
  return path;
}

static void test_csv_loading(void **state) {
  (void)state;
  bh_codes c;
  bh_factors f;
  assert_int_equal(bh_codes_load(write_text("c.csv", "0.5,-1e-3, 2\r\n1,2,3\n\n"), &c), BH_OK);
  assert_int_equal(c.n, 2);
  assert_int_equal(c.d, 3);
  assert_true(c.x[0] == 0.5f && c.x[1] == -1e-3f && c.x[2] == 2.f && c.x[5] == 3.f);
  assert_int_equal(bh_factors_load(write_text("f.csv", "0,3\n2,1\n"), &f), BH_OK);
  assert_int_equal(f.n, 2);
  assert_int_equal(f.k, 2);
  assert_true(f.y[0] == 0 && f.y[1] == 3 && f.y[2] == 2 && f.y[3] == 1);
  assert_int_equal(bh_metric_check_inputs(&c, &f, "t"), BH_OK);
  bh_codes_free(&c);
  bh_factors_free(&f);

  assert_int_equal(bh_factors_load(write_text("bad1.csv", "0,1\n1,1.5\n"), &f), BH_EINVAL);
  assert_msg_has("bad1.csv");
  assert_msg_has("row 2, column 2");
  assert_int_equal(bh_factors_load(write_text("bad2.csv", "0,1\n-1,1\n"), &f), BH_EINVAL);
  assert_msg_has("row 2, column 1");
  assert_int_equal(bh_codes_load(write_text("bad3.csv", ""), &c), BH_EFORMAT);
  assert_msg_has("bad3.csv: empty");
  assert_int_equal(bh_codes_load(write_text("bad4.csv", "1,2\n3\n"), &c), BH_EFORMAT);
  assert_msg_has("row 2");
  assert_msg_has("ragged");
  assert_int_equal(bh_codes_load(write_text("bad5.csv", "1,2\n3,4,5\n"), &c), BH_EFORMAT);
  assert_msg_has("ragged");
  assert_int_equal(bh_codes_load(write_text("bad6.csv", "1,2\n3,nan\n"), &c), BH_ENUM);
  assert_msg_has("row 2, column 2");
  assert_int_equal(bh_codes_load(write_text("bad7.csv", "1,2\n3,x\n"), &c), BH_EFORMAT);
  assert_msg_has("not a number");
  assert_int_equal(bh_codes_load(write_text("bad8.csv", "1,2\n3,1e40\n"), &c), BH_ENUM);
  assert_int_equal(bh_codes_load(write_text("bad9.csv", "1,2\n\n3,4\n"), &c), BH_EFORMAT);
  assert_msg_has("row 2");
  char missing[256];
  assert_int_equal(bh_codes_load(tf_path(missing, "nope.csv"), &c), BH_EIO);
  assert_msg_has("nope.csv");
}

static void test_npy_loading(void **state) {
  (void)state;
  char pc[256], pf[256], pb[256];
  int64_t shp[2] = {3, 2};
  bh_array *a = bh_array_alloc(BH_DTYPE_F64, 2, shp);
  double *ad = a->data;
  for (int i = 0; i < 6; i++) ad[i] = i * 0.25 - 0.5;
  assert_int_equal(bh_npy_write(tf_path(pc, "c.npy"), a, 0), BH_OK);
  ad[3] = INFINITY;
  assert_int_equal(bh_npy_write(tf_path(pb, "cinf.npy"), a, 0), BH_OK);
  bh_array_free(a);
  a = bh_array_alloc(BH_DTYPE_I64, 1, shp);
  int64_t *fi = a->data;
  fi[0] = 4, fi[1] = 0, fi[2] = 4;
  assert_int_equal(bh_npy_write(tf_path(pf, "f.npy"), a, 0), BH_OK);
  bh_codes c;
  bh_factors f;
  assert_int_equal(bh_codes_load(pc, &c), BH_OK);
  assert_true(c.n == 3 && c.d == 2 && c.x[0] == -0.5f && c.x[5] == 0.75f);
  assert_int_equal(bh_factors_load(pf, &f), BH_OK); /* 1-D = one factor column */
  assert_true(f.n == 3 && f.k == 1 && f.y[0] == 4 && f.y[1] == 0);
  assert_int_equal(bh_metric_check_inputs(&c, &f, "t"), BH_OK);
  bh_codes_free(&c);
  bh_factors_free(&f);
  assert_int_equal(bh_codes_load(pb, &c), BH_ENUM);
  assert_msg_has("cinf.npy: row 2, column 2");
  fi[1] = -2;
  assert_int_equal(bh_npy_write(tf_path(pf, "fneg.npy"), a, 0), BH_OK);
  assert_int_equal(bh_factors_load(pf, &f), BH_EINVAL);
  assert_msg_has("fneg.npy: row 2");
  assert_int_equal(bh_codes_load(pf, &c), BH_EFORMAT); /* int64 codes: wrong dtype */
  assert_msg_has("float32 or float64");
  bh_array_free(a);
}

static void test_bad_inputs(void **state) {
  (void)state;
  float x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  int y[4] = {0, 1, 0, 1}, one[4] = {2, 2, 2, 2}, neg[4] = {0, 1, -1, 1};
  bh_codes c = {4, 2, x}, c3 = {3, 2, x};
  bh_factors f = {4, 1, y}, f1 = {4, 1, one}, fn = {4, 1, neg};
  bh_metric_result res;
  bh_metric_result_init(&res, "mig");
  assert_int_equal(bh_metric_mig(&c3, &f, 20, &res), BH_EINVAL);
  assert_msg_has("3 rows but factors have 4");
  assert_int_equal(bh_metric_mig(&c, &f1, 20, &res), BH_EINVAL);
  assert_msg_has("single value");
  assert_int_equal(bh_metric_mig(&c, &fn, 20, &res), BH_EINVAL);
  assert_msg_has("negative");
  x[5] = NAN;
  assert_int_equal(bh_metric_mig(&c, &f, 20, &res), BH_ENUM);
  assert_msg_has("row 3, column 2");
  assert_int_equal(bh_metric_sap(&c, &f, &c, &f, 0, &res), BH_ENUM);
  assert_msg_has("sap");
  x[5] = 5;
  bh_codes c1 = {4, 1, x};
  assert_int_equal(bh_metric_sap(&c1, &f, &c1, &f, 1, &res), BH_EINVAL);
  assert_msg_has("at least 2 code dimensions");
  assert_true(isnan(res.score)); /* nothing written on failure */
  bh_metric_result_free(&res);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dlib_histogram_case),
      cmocka_unit_test(test_dlib_mutual_info_case),
      cmocka_unit_test(test_histogram_edges),
      cmocka_unit_test(test_mutual_info_vs_reference),
      cmocka_unit_test(test_mig_oracle),
      cmocka_unit_test(test_mig_noise_and_duplicate),
      cmocka_unit_test(test_mig_sap_invariances),
      cmocka_unit_test(test_sap_continuous_oracle_noise_duplicate),
      cmocka_unit_test(test_sap_continuous_values),
      cmocka_unit_test(test_sap_discrete_vs_liblinear),
      cmocka_unit_test(test_sap_discrete_oracle_noise),
      cmocka_unit_test(test_sap_discrete_constant_dim),
      cmocka_unit_test(test_csv_loading),
      cmocka_unit_test(test_npy_loading),
      cmocka_unit_test(test_bad_inputs),
  };
  return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
