/* test_metrics_sampler.c — the sampler-based metrics (Z-diff in both classifier variants,
 * FactorVAE score) and the representation probe, on known answers:
 *   - a "factor-coded" dataset with dSprites' factor sizes (taken from the generated dSprites)
 *     whose images are their own factor vector, so an oracle representation reads the factors
 *     back exactly: Z-diff and FactorVAE ≈ 100 %;
 *   - a noise representation: near chance (1/5 for five factors);
 *   - permuting code dimensions leaves scores unchanged; the same seed gives the same result;
 *   - the real dSprites images with a centroid/mass code (identifies x, y, and scale only);
 *   - the linear models on small exact cases, the probe on separable / noise / XOR codes.
 * Sample counts are reduced from the protocol's 10,000 / 5,000 for speed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/linear_models.h"
#include "metrics/metrics.h"

/* ---------------------------------------------------------------- factor-coded dataset */

static const bh_dataset_ops coded_ops;

static int coded_images(bh_dataset *ds, const size_t *idx, size_t count, float *out) {
  int f[BH_DATASET_MAX_FACTORS];
  for (size_t i = 0; i < count; i++) {
    bh_dataset_factors_of(ds, idx[i], f);
    for (int k = 0; k < ds->nfactors; k++) out[i * ds->nfactors + k] = (float)f[k];
  }
  return BH_OK;
}

static const bh_dataset_ops coded_ops = {coded_images, NULL, NULL, NULL};

/* Factor names and sizes from the real generated dSprites (so the test follows it). */
static void coded_init(bh_dataset *ds, const bh_dataset *real) {
  memset(ds, 0, sizeof *ds);
  ds->kind = "coded";
  snprintf(ds->source, sizeof ds->source, "factor-coded %.400s", real->source);
  ds->nfactors = real->nfactors;
  ds->n = 1;
  for (int k = 0; k < real->nfactors; k++) {
    ds->factor_names[k] = real->factor_names[k];
    ds->factor_sizes[k] = real->factor_sizes[k];
    ds->n *= (size_t)real->factor_sizes[k];
  }
  ds->c = ds->h = 1;
  ds->w = real->nfactors;
  ds->ops = &coded_ops;
}

static bh_dataset *g_dsprites;
static bh_dataset g_coded;

static int setup(void **state) {
  (void)state;
  g_dsprites = bh_dataset_open("dsprites", BH_SPLIT_ALL);
  if (!g_dsprites) return -1;
  coded_init(&g_coded, g_dsprites);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  bh_dataset_free(g_dsprites);
  return 0;
}

/* ---------------------------------------------------------------- representations */

/* Oracle: codes = factors, dimension perm[j] holding factor j scaled by scale[j] + shift, plus
 * N(0, noise_sd) drawn in factor order (so a permuted oracle gets the same values, permuted). */
typedef struct oracle {
  int k;
  int perm[BH_DATASET_MAX_FACTORS];
  double scale[BH_DATASET_MAX_FACTORS];
  double noise_sd;
  gsl_rng *r;
} oracle;

static int oracle_fn(void *user, const float *images, size_t n, float *codes) {
  const oracle *o = user;
  for (size_t i = 0; i < n; i++)
    for (int j = 0; j < o->k; j++) {
      double e = o->noise_sd > 0 ? gsl_ran_gaussian(o->r, o->noise_sd) : 0.0;
      codes[i * o->k + o->perm[j]] = (float)(o->scale[j] * images[i * o->k + j] + 0.25 * j + e);
    }
  return BH_OK;
}

static oracle oracle_identity(int k) {
  oracle o = {.k = k};
  for (int j = 0; j < k; j++) o.perm[j] = j, o.scale[j] = 1.0;
  return o;
}

/* Noise: codes ~ N(0, 1) from its own generator, independent of the images. */
typedef struct noise {
  int dim;
  gsl_rng *r;
} noise;

static int noise_fn(void *user, const float *images, size_t n, float *codes) {
  (void)images;
  noise *z = user;
  for (size_t i = 0; i < n * (size_t)z->dim; i++) codes[i] = (float)gsl_ran_gaussian(z->r, 1.0);
  return BH_OK;
}

/* Real dSprites: centroid column, centroid row and pixel mass of the sprite.  These identify
 * x, y exactly and carry scale through the mass, but say little about shape or orientation. */
static int centroid_fn(void *user, const float *images, size_t n, float *codes) {
  const bh_dataset *ds = user;
  const int h = ds->h, w = ds->w;
  for (size_t i = 0; i < n; i++) {
    const float *im = images + i * (size_t)h * w;
    double m = 0.0, sx = 0.0, sy = 0.0;
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        double v = im[y * w + x];
        m += v, sx += v * x, sy += v * y;
      }
    codes[i * 3 + 0] = (float)(m > 0 ? sx / m / w : 0.0);
    codes[i * 3 + 1] = (float)(m > 0 ? sy / m / h : 0.0);
    codes[i * 3 + 2] = (float)(m / (h * w));
  }
  return BH_OK;
}

static double run_zdiff(bh_dataset *ds, const bh_repr *rep, unsigned long seed, int variant,
                        size_t ntr, size_t nev, double *train_acc) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  bh_metric_result res;
  int st = bh_metric_zdiff(ds, rep, r, 64, ntr, nev, variant, &res);
  if (st) fail_msg("zdiff: %s", bh_error_message());
  double s = res.score;
  if (getenv("BH_TEST_VERBOSE")) printf("  zdiff[%d] seed %lu: %g %%\n", variant, seed, s);
  if (train_acc) *train_acc = json_real_value(json_object_get(res.details, "train_accuracy"));
  assert_int_equal(res.n_train, ntr);
  assert_int_equal(res.n_test, nev);
  assert_non_null(strstr(res.variant, variant == BH_ZDIFF_LIBLINEAR_OVR
                                          ? "liblinear-OvR-C=1"
                                          : "multinomial-lbfgs-C=1"));
  bh_metric_result_free(&res);
  gsl_rng_free(r);
  return s;
}

static double run_factorvae(bh_dataset *ds, const bh_repr *rep, unsigned long seed, size_t ntr,
                            size_t nev, bh_metric_result *keep) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  bh_metric_result res;
  int st = bh_metric_factorvae(ds, rep, r, 64, ntr, nev, &res);
  if (st) fail_msg("factorvae: %s", bh_error_message());
  double s = res.score;
  if (getenv("BH_TEST_VERBOSE")) printf("  factorvae seed %lu: %g %%\n", seed, s);
  if (keep)
    *keep = res;
  else
    bh_metric_result_free(&res);
  gsl_rng_free(r);
  return s;
}

/* ---------------------------------------------------------------- linear models */

/* Two well-separated classes on a line: both fits classify perfectly, the multinomial one
 * converges, and its gradient condition holds: at the optimum Σ_i (p_ic − [y_i = c]) = 0 for
 * the unpenalised intercept, i.e. the mean predicted probability of each class equals its
 * frequency. */
static void test_logreg_small(void **state) {
  (void)state;
  float x[8] = {-3, -2.5f, -2, -1.5f, 1.5f, 2, 2.5f, 4};
  int y[8] = {0, 0, 0, 0, 1, 1, 1, 1};
  bh_linmodel m;
  assert_int_equal(bh_logreg_fit_multinomial(x, 8, 1, y, 2, 1.0, 200, 1e-9, &m), BH_OK);
  assert_true(m.converged);
  assert_true(bh_linmodel_accuracy(&m, x, 8, y) == 1.0);
  double p1 = 0.0;
  for (int i = 0; i < 8; i++) {
    double z0 = m.b[0] + m.w[0] * x[i], z1 = m.b[1] + m.w[1] * x[i];
    p1 += 1.0 / (1.0 + exp(z0 - z1));
  }
  assert_true(fabs(p1 / 8 - 0.5) < 1e-6);
  /* and the W stationarity condition: Σ_i (p_i1 − y_i) x_i + w_1/C = 0 */
  double g = m.w[1];
  for (int i = 0; i < 8; i++) {
    double z0 = m.b[0] + m.w[0] * x[i], z1 = m.b[1] + m.w[1] * x[i];
    g += (1.0 / (1.0 + exp(z0 - z1)) - y[i]) * x[i];
  }
  assert_true(fabs(g) < 1e-6);
  bh_linmodel_free(&m);

  /* liblinear on the same data, plus a class (2) never seen: never predicted. */
  assert_int_equal(bh_logreg_fit_liblinear(x, 8, 1, y, 3, 1.0, &m), BH_OK);
  assert_true(bh_linmodel_accuracy(&m, x, 8, y) == 1.0);
  float far = 100.0f;
  int c;
  bh_linmodel_predict(&m, &far, 1, &c);
  assert_int_equal(c, 1);
  bh_linmodel_free(&m);

  /* three classes in 2-D (OvR with three weight vectors) */
  float x3[12] = {0, 5, 0.5f, 5.5f, 5, 0, 5.5f, 0.5f, -5, -5, -5.5f, -4.5f};
  int y3[6] = {0, 0, 1, 1, 2, 2};
  assert_int_equal(bh_logreg_fit_liblinear(x3, 6, 2, y3, 3, 1.0, &m), BH_OK);
  assert_true(bh_linmodel_accuracy(&m, x3, 6, y3) == 1.0);
  bh_linmodel_free(&m);

  int bad[8] = {0, 0, 0, 0, 1, 1, 1, 7};
  assert_int_not_equal(bh_logreg_fit_multinomial(x, 8, 1, bad, 2, 1.0, 10, 1e-6, &m), BH_OK);
  assert_non_null(strstr(bh_error_message(), "bh_logreg_fit_multinomial"));
}

/* ---------------------------------------------------------------- Z-diff */

static void test_zdiff_oracle(void **state) {
  (void)state;
  oracle o = oracle_identity(g_coded.nfactors);
  bh_repr rep = {g_coded.nfactors, oracle_fn, &o};
  for (int v = 0; v < 2; v++) {
    double tr;
    double s = run_zdiff(&g_coded, &rep, 1, v, 1000, 500, &tr);
    /* the feature of the shared factor is exactly 0, all others > 0: separable */
    if (s < 99.0 || tr < 99.0) fail_msg("variant %d: oracle Z-diff %g %% (train %g %%)", v, s, tr);
  }
}

/* Five factors: chance is 20 %.  500 eval points: sd of the accuracy ≈ √(.2·.8/500) = 1.8 %;
 * with an overfit classifier on 1000 noisy points allow [12, 28] (> 4 sd). */
static void test_zdiff_noise(void **state) {
  (void)state;
  gsl_rng *nr = gsl_rng_alloc(gsl_rng_mt19937);
  noise z = {g_coded.nfactors, nr};
  bh_repr rep = {z.dim, noise_fn, &z};
  for (int v = 0; v < 2; v++) {
    double s = run_zdiff(&g_coded, &rep, 2, v, 1000, 500, NULL);
    if (s < 12.0 || s > 28.0) fail_msg("variant %d: noise Z-diff %g %%", v, s);
  }
  gsl_rng_free(nr);
}

/* A code that only knows x, y and (through the mass) scale: well above chance, far below the
 * oracle — the real rendered dSprites flow through the sampler. */
static void test_zdiff_dsprites_centroid(void **state) {
  (void)state;
  bh_repr rep = {3, centroid_fn, g_dsprites};
  double s = run_zdiff(g_dsprites, &rep, 3, BH_ZDIFF_MULTINOMIAL, 400, 300, NULL);
  if (s < 45.0 || s > 95.0) fail_msg("centroid Z-diff %g %%", s);
}

/* Permuting the dimensions (and rescaling them by a positive factor for the multinomial case)
 * changes only the order of sums: same draws, same classifier up to rounding. */
static void test_zdiff_permutation_and_seed(void **state) {
  (void)state;
  const int K = g_coded.nfactors;
  gsl_rng *nr = gsl_rng_alloc(gsl_rng_mt19937);
  /* a weak code, so the score is not pinned at 100 %: factor j plus N(0, 8²) noise */
  oracle o = oracle_identity(K);
  o.noise_sd = 8.0;
  o.r = nr;
  oracle p = o;
  for (int j = 0; j < K; j++) p.perm[j] = (j + 2) % K;
  bh_repr ro = {K, oracle_fn, &o}, rp = {K, oracle_fn, &p};
  for (int v = 0; v < 2; v++) {
    gsl_rng_set(nr, 4);
    double a = run_zdiff(&g_coded, &ro, 4, v, 600, 300, NULL);
    gsl_rng_set(nr, 4);
    double b = run_zdiff(&g_coded, &rp, 4, v, 600, 300, NULL);
    if (getenv("BH_TEST_VERBOSE")) printf("variant %d: weak %g, permuted %g\n", v, a, b);
    if (a > 90.0 || a < 30.0) fail_msg("variant %d: weak code scored %g %%", v, a);
    if (fabs(a - b) > 0.5) fail_msg("variant %d: permuted %g vs %g", v, b, a);
  }
  noise z = {K, nr};
  bh_repr rz = {K, noise_fn, &z};
  gsl_rng_set(nr, 9);
  double a = run_zdiff(&g_coded, &rz, 5, BH_ZDIFF_LIBLINEAR_OVR, 300, 200, NULL);
  gsl_rng_set(nr, 9);
  double b = run_zdiff(&g_coded, &rz, 5, BH_ZDIFF_LIBLINEAR_OVR, 300, 200, NULL);
  assert_true(a == b);
  gsl_rng_set(nr, 9);
  double c = run_zdiff(&g_coded, &rz, 6, BH_ZDIFF_LIBLINEAR_OVR, 300, 200, NULL);
  assert_true(c != a); /* a different seed really changes the draws (≈ 1/200 collision) */
  gsl_rng_free(nr);
}

static void test_zdiff_errors(void **state) {
  (void)state;
  oracle o = oracle_identity(g_coded.nfactors);
  bh_repr rep = {g_coded.nfactors, oracle_fn, &o};
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  bh_metric_result res;
  assert_int_equal(bh_metric_zdiff(&g_coded, &rep, r, 64, 10, 10, 7, &res), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "zdiff"));
  assert_int_equal(bh_metric_zdiff(&g_coded, &rep, r, 0, 10, 10, 0, &res), BH_EINVAL);
  assert_int_equal(bh_metric_factorvae(&g_coded, &rep, r, 1, 10, 10, &res), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "factorvae"));
  gsl_rng_free(r);
}

/* ---------------------------------------------------------------- FactorVAE */

static void test_factorvae_oracle(void **state) {
  (void)state;
  const int K = g_coded.nfactors;
  oracle o = oracle_identity(K);
  bh_repr rep = {K, oracle_fn, &o};
  bh_metric_result res;
  double s = run_factorvae(&g_coded, &rep, 7, 1000, 500, &res);
  /* the fixed factor's dimension has local variance exactly 0: every vote is right, shape
   * (3 values) and orientation included */
  if (s != 100.0) fail_msg("oracle FactorVAE %g %%", s);
  assert_int_equal(json_integer_value(json_object_get(res.details, "num_active_dims")), K);
  assert_true(json_real_value(json_object_get(res.details, "train_accuracy")) == 100.0);
  /* global variance of a uniform factor with m values is (m² − 1)/12 */
  json_t *gv = json_object_get(res.details, "global_variances");
  for (int k = 0; k < K; k++) {
    double m = g_coded.factor_sizes[k], want = (m * m - 1.0) / 12.0;
    double got = json_real_value(json_array_get(gv, (size_t)k));
    if (fabs(got - want) > 0.05 * want) fail_msg("factor %d: variance %g, want %g", k, got, want);
  }
  bh_metric_result_free(&res);

  /* permuted and rescaled dims: same votes, up to relabelling of the columns */
  oracle p = o;
  for (int j = 0; j < K; j++) p.perm[j] = (j + 3) % K, p.scale[j] = 0.5 + j;
  bh_repr rp = {K, oracle_fn, &p};
  assert_true(run_factorvae(&g_coded, &rp, 7, 1000, 500, NULL) == 100.0);
}

/* Noise: votes fall on random dims; the majority classifier fits 5 dims × 5 factors, so eval
 * accuracy ≈ chance 20 % (sd ≈ 1.8 % at 500 votes; band [12, 30] allows the slight optimism of
 * a fitted classifier on small vote counts). */
static void test_factorvae_noise_and_pruning(void **state) {
  (void)state;
  const int K = g_coded.nfactors;
  gsl_rng *nr = gsl_rng_alloc(gsl_rng_mt19937);
  noise z = {K, nr};
  bh_repr rep = {K, noise_fn, &z};
  double s = run_factorvae(&g_coded, &rep, 8, 1000, 500, NULL);
  if (s < 12.0 || s > 30.0) fail_msg("noise FactorVAE %g %%", s);
  gsl_rng_free(nr);

  /* Scaled by 0.01 the oracle's dims have sd < 0.05 except those of the wide factors
   * (orientation 40, x, y 32 values: sd 0.115, 0.092): shape and scale are pruned, so their
   * votes go elsewhere and the score drops to 3/5 of the votes at most. */
  oracle o = oracle_identity(K);
  for (int j = 0; j < K; j++) o.scale[j] = 0.01;
  bh_repr rs = {K, oracle_fn, &o};
  bh_metric_result res;
  s = run_factorvae(&g_coded, &rs, 8, 1000, 500, &res);
  assert_int_equal(json_integer_value(json_object_get(res.details, "num_active_dims")), 3);
  if (s < 50.0 || s > 75.0) fail_msg("pruned oracle FactorVAE %g %%", s);
  bh_metric_result_free(&res);

  /* all dims pruned: score 0, as dlib */
  for (int j = 0; j < K; j++) o.scale[j] = 0.0;
  assert_true(run_factorvae(&g_coded, &rs, 8, 100, 100, NULL) == 0.0);
}

/* ---------------------------------------------------------------- probe */

/* n points of 4-D codes: class c in 0..3 at centre ±3 on dims (c, c+1 mod 4) plus N(0, sep⁻¹). */
static void make_blobs(gsl_rng *r, size_t n, double noise_sd, float *x, int *y) {
  for (size_t i = 0; i < n; i++) {
    int c = (int)gsl_rng_uniform_int(r, 4);
    y[i] = c;
    for (int j = 0; j < 4; j++) {
      double centre = j == c ? 3.0 : (j == (c + 1) % 4 ? -3.0 : 0.0);
      x[i * 4 + j] = (float)(centre + gsl_ran_gaussian(r, noise_sd) + 10.0 * j);
    }
  }
}

static double run_probe(float *xtr, int *ytr, size_t ntr, float *xte, int *yte, size_t nte,
                        int d, int nc, int mlp) {
  bh_codes tr = {ntr, d, xtr}, te = {nte, d, xte};
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 11);
  bh_metric_result res;
  if (bh_metric_probe(&tr, ytr, &te, yte, nc, mlp, r, &res)) fail_msg("%s", bh_error_message());
  assert_non_null(strstr(res.variant, mlp ? "mlp-64-relu" : "multinomial-logreg"));
  double s = res.score;
  if (getenv("BH_TEST_VERBOSE")) {
    char *det = json_dumps(res.details, JSON_COMPACT);
    printf("  probe[%d]: %g %% (%s)\n", mlp, s, det ? det : "");
    free(det);
  }
  bh_metric_result_free(&res);
  gsl_rng_free(r);
  return s;
}

static void test_probe_separable_and_noise(void **state) {
  (void)state;
  enum { NTR = 2000, NTE = 1000 };
  float *xtr = malloc(NTR * 4 * sizeof *xtr), *xte = malloc(NTE * 4 * sizeof *xte);
  int *ytr = malloc(NTR * sizeof *ytr), *yte = malloc(NTE * sizeof *yte);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  make_blobs(r, NTR, 0.3, xtr, ytr);
  make_blobs(r, NTE, 0.3, xte, yte);
  /* centres 3√2 apart per coordinate pair, noise sd 0.3: linearly separable w.p. ≈ 1 */
  double s = run_probe(xtr, ytr, NTR, xte, yte, NTE, 4, 4, 0);
  if (s < 99.5) fail_msg("separable linear probe %g %%", s);
  s = run_probe(xtr, ytr, NTR, xte, yte, NTE, 4, 4, 1);
  if (s < 99.5) fail_msg("separable MLP probe %g %%", s);
  /* labels independent of the codes: chance 25 %, sd 1.4 % at 1000 → [19, 31] */
  for (size_t i = 0; i < NTR; i++) ytr[i] = (int)gsl_rng_uniform_int(r, 4);
  for (size_t i = 0; i < NTE; i++) yte[i] = (int)gsl_rng_uniform_int(r, 4);
  s = run_probe(xtr, ytr, NTR, xte, yte, NTE, 4, 4, 0);
  if (s < 19.0 || s > 31.0) fail_msg("noise linear probe %g %%", s);
  s = run_probe(xtr, ytr, NTR, xte, yte, NTE, 4, 4, 1);
  if (s < 19.0 || s > 31.0) fail_msg("noise MLP probe %g %%", s);
  /* same seed, same MLP result */
  assert_true(run_probe(xtr, ytr, NTR, xte, yte, NTE, 4, 4, 1) == s);
  gsl_rng_free(r);
  free(xtr), free(xte), free(ytr), free(yte);
}

/* XOR of the signs of two coordinates: no linear classifier beats ≈ 50 % here, one hidden ReLU
 * layer gets nearly all of it. */
static void test_probe_xor(void **state) {
  (void)state;
  enum { NTR = 2000, NTE = 1000 };
  float *xtr = malloc(NTR * 2 * sizeof *xtr), *xte = malloc(NTE * 2 * sizeof *xte);
  int *ytr = malloc(NTR * sizeof *ytr), *yte = malloc(NTE * sizeof *yte);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  for (int set = 0; set < 2; set++) {
    float *x = set ? xte : xtr;
    int *y = set ? yte : ytr;
    size_t n = set ? NTE : NTR;
    for (size_t i = 0; i < n; i++) {
      x[2 * i] = (float)gsl_ran_flat(r, -1, 1);
      x[2 * i + 1] = (float)gsl_ran_flat(r, -1, 1);
      y[i] = (x[2 * i] > 0) != (x[2 * i + 1] > 0);
    }
  }
  double lin = run_probe(xtr, ytr, NTR, xte, yte, NTE, 2, 2, 0);
  double mlp = run_probe(xtr, ytr, NTR, xte, yte, NTE, 2, 2, 1);
  if (lin > 62.0 || mlp < 93.0) fail_msg("XOR: linear %g %%, MLP %g %%", lin, mlp);
  gsl_rng_free(r);
  free(xtr), free(xte), free(ytr), free(yte);
}

static void test_probe_errors(void **state) {
  (void)state;
  float x[4] = {0, 1, NAN, 3};
  int y[4] = {0, 1, 0, 1};
  bh_codes tr = {4, 1, x}, te = {2, 1, x};
  bh_metric_result res;
  assert_int_equal(bh_metric_probe(&tr, y, &te, y, 2, 0, NULL, &res), BH_ENUM);
  assert_non_null(strstr(bh_error_message(), "probe"));
  x[2] = 2;
  int bad[4] = {0, 1, 5, 1};
  assert_int_equal(bh_metric_probe(&tr, bad, &te, y, 2, 0, NULL, &res), BH_EINVAL);
  assert_int_equal(bh_metric_probe(&tr, y, &te, y, 2, 1, NULL, &res), BH_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_logreg_small),
      cmocka_unit_test(test_zdiff_oracle),
      cmocka_unit_test(test_zdiff_noise),
      cmocka_unit_test(test_zdiff_dsprites_centroid),
      cmocka_unit_test(test_zdiff_permutation_and_seed),
      cmocka_unit_test(test_zdiff_errors),
      cmocka_unit_test(test_factorvae_oracle),
      cmocka_unit_test(test_factorvae_noise_and_pruning),
      cmocka_unit_test(test_probe_separable_and_noise),
      cmocka_unit_test(test_probe_xor),
      cmocka_unit_test(test_probe_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
