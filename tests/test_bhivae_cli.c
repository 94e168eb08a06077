/* test_bhivae_cli.c — the two BHiVAE models (bhivae, bhivae-sup) through the built binary, on
 * tiny networks (z_dim 8: blocks s^1, s^2, s^3 of 2 units and c^3 of 2) and a 256-example
 * subset of generated dSprites: a resumed run's log equal to an uninterrupted one's; encode's
 * codes against the encoder run here; eval's MIG/SAP and its probe with --probe-target
 * factors:0=2 against the protocol redone here (the seeded draw, the binary target, the probe
 * fitted here); traverse's block rows against the decoder run here; scatter's files (.dat
 * against encode's codes and factors of the same draw, .json's mean, covariance and KL
 * recomputed from the .dat, the PNG's size and its prior contour); the ablation blocks=1,2,2;
 * and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gsl/gsl_randist.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/npy.h"
#include "core/rng.h"
#include "datasets/dataset.h"
#include "datasets/image_io.h"
#include "metrics/metrics.h"
#include "models/model.h"
#include "tests/testfiles.h"

#define TINY                                                                                  \
  "--data dsprites --set enc_hidden=16 --set dec_hidden=16 --set z_dim=8 --set batch_size=32 " \
  "--set level_hidden=8 --set part_hidden=8 --set part_out=8 --set subset=256 "                \
  "--set log_every=2 --seed 5 --threads 1 --quiet"
#define ZDIM 8
#define STEPS 8 /* the straight runs; the resumed ones stop at STEPS/2 first */
#define PL TF_PATH_MAX /* path buffers */
#define NMODELS 2

static const char *const models[NMODELS] = {"bhivae", "bhivae-sup"};
static const char *const extra[NMODELS] = {"--set d_hidden=8 --set d_layers=1",
                                           "--set cls_hidden=8"};
static char run[NMODELS][256]; /* the straight runs every test reads */
static bh_dataset *dsprites;

/* ---------------------------------------------------------------- helpers */

static bh_array *read_npy(const char *prefix, const char *suffix) {
  char p[PL];
  bh_array *a = bh_npy_read(tf_pathf(p, "%s%s", prefix, suffix));
  if (!a) fail_msg("%s: %s", p, bh_error_message());
  return a;
}

/* The rows of a scatter .dat: sections separated by blank lines, "x y class" each. */
typedef struct dat_file {
  int sections;
  size_t rows[16];
  double *x[16], *y[16];
  int *c[16];
} dat_file;

static void dat_read(const char *path, dat_file *d) {
  size_t len;
  char *text = (char *)tf_read_bytes(path, &len), *save = NULL;
  text[len] = '\0';
  memset(d, 0, sizeof *d);
  d->sections = 0;
  int in_section = 0;
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    if (l[0] == '#') { /* every section starts with its comment */
      assert_true(d->sections < 16);
      int k = d->sections++;
      d->x[k] = malloc(len * sizeof(double) / 4 + 8);
      d->y[k] = malloc(len * sizeof(double) / 4 + 8);
      d->c[k] = malloc(len * sizeof(int) / 4 + 8);
      in_section = 1;
      continue;
    }
    assert_true(in_section);
    int k = d->sections - 1;
    size_t i = d->rows[k]++;
    if (sscanf(l, "%lf %lf %d", &d->x[k][i], &d->y[k][i], &d->c[k][i]) != 3)
      fail_msg("%s: bad row \"%s\"", path, l);
  }
  free(text);
}

static void dat_free(dat_file *d) {
  for (int k = 0; k < d->sections; k++) free(d->x[k]), free(d->y[k]), free(d->c[k]);
}

/* ---------------------------------------------------------------- fixtures */

static int setup(void **state) {
  (void)state;
  tf_run_result r;
  if (tf_tmpdir_make("bhivaecli")) return -1;
  for (int k = 0; k < NMODELS; k++) {
    tf_path(run[k], models[k]);
    tf_run_bhivae(&r, "train --model %s " TINY " %s --set steps=%d --out %s", models[k], extra[k],
                  STEPS, run[k]);
    if (r.status != 0) return fprintf(stderr, "train %s: %s", models[k], r.err), -1;
  }
  return (dsprites = bh_dataset_open("dsprites", BH_SPLIT_ALL)) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  bh_dataset_free(dsprites);
  return tf_tmpdir_remove();
}

/* ---------------------------------------------------------------- train */

/* STEPS/2 steps, then --resume to STEPS: the same log (every term to the last bit, the
 * adversaries' included) as STEPS in one go. */
static void test_resume(void **state) {
  (void)state;
  for (int k = 0; k < NMODELS; k++) {
    char s[PL], p[PL], name[64];
    tf_run_result r;
    snprintf(name, sizeof name, "resumed-%s", models[k]);
    tf_path(s, name);
    tf_run_bhivae(&r, "train --model %s " TINY " %s --set steps=%d --out %s", models[k],
                  extra[k], STEPS / 2, s);
    tf_expect_status(&r, 0);
    tf_run_bhivae(&r, "train --resume --out %s --set steps=%d --threads 1 --quiet", s, STEPS);
    tf_expect_status(&r, 0);
    char *a = tf_log_without_times(tf_pathf(p, "%s/log.jsonl", run[k]));
    char *b = tf_log_without_times(tf_pathf(p, "%s/log.jsonl", s));
    assert_string_equal(a, b);
    assert_non_null(strstr(a, k == 0 ? "\"d_loss\"" : "\"adv_loss\""));
    assert_non_null(strstr(a, "\"kl3\""));
    free(a);
    free(b);
  }
}

/* ---------------------------------------------------------------- encode */

/* 200 codes: the encoder means of the model run here on the indices encode drew. */
static void test_encode(void **state) {
  (void)state;
  for (int k = 0; k < NMODELS; k++) {
    char pre[PL];
    tf_run_result r;
    tf_run_bhivae(&r, "encode %s --n 200 --seed 2 --out %s", run[k],
                  tf_pathf(pre, "%s/enc", run[k]));
    tf_expect_status(&r, 0);
    bh_array *c = read_npy(pre, ".codes.npy"), *ix = read_npy(pre, ".index.npy");
    assert_int_equal(c->shape[0], 200);
    assert_int_equal(c->shape[1], ZDIM);
    bh_model *m = bh_model_load_path(run[k], NULL);
    assert_non_null(m);
    size_t at[200];
    float *x = malloc(200 * 4096 * sizeof *x), mu[200 * ZDIM];
    for (int i = 0; i < 200; i++) at[i] = (size_t)((int64_t *)ix->data)[i];
    assert_int_equal(bh_dataset_images(dsprites, at, 200, x), BH_OK);
    assert_int_equal(bh_model_encode_images(m, x, 200, mu, NULL), BH_OK);
    for (int i = 0; i < 200 * ZDIM; i++)
      assert_float_equal(((float *)c->data)[i], mu[i], 1e-5 * (1 + fabsf(mu[i])));
    free(x);
    bh_model_free(m);
    bh_array_free(c);
    bh_array_free(ix);
  }
}

/* ---------------------------------------------------------------- eval */

/* The probe of --probe-target factors:0=2 redone here: stream "metric" of the seed draws 15,000
 * distinct examples (selection sampling), shuffles them, the first 10,000 train and the rest
 * test; the target is [shape == 2]; the linear probe fitted here on the model's codes. */
static double probe_by_hand(const char *dir, unsigned long long seed) {
  const size_t n = 737280, total = 15000, ntr = 10000;
  size_t *all = malloc(total * sizeof *all), chosen = 0;
  bh_rng *rng = bh_rng_alloc(seed);
  gsl_rng *g = bh_rng_stream(rng, "metric");
  for (size_t i = 0; i < n && chosen < total; i++)
    if ((double)(n - i) * gsl_rng_uniform(g) < (double)(total - chosen)) all[chosen++] = i;
  gsl_ran_shuffle(g, all, total, sizeof *all);
  bh_model *m = bh_model_load_path(dir, NULL);
  assert_non_null(m);
  float *z = malloc(total * ZDIM * sizeof *z), *x = malloc(500 * 4096 * sizeof *x);
  int *y = malloc(total * sizeof *y), f[BH_DATASET_MAX_FACTORS];
  for (size_t i = 0; i < total; i += 500) {
    assert_int_equal(bh_dataset_images(dsprites, all + i, 500, x), BH_OK);
    assert_int_equal(bh_model_encode_images(m, x, 500, z + i * ZDIM, NULL), BH_OK);
  }
  for (size_t i = 0; i < total; i++) {
    bh_dataset_factors_of(dsprites, all[i], f);
    y[i] = f[0] == 2;
  }
  bh_codes tr = {ntr, ZDIM, z}, te = {total - ntr, ZDIM, z + ntr * ZDIM};
  bh_metric_result res;
  bh_metric_result_init(&res, "probe");
  assert_int_equal(bh_metric_probe(&tr, y, &te, y + ntr, 2, 0, g, &res), BH_OK);
  double s = res.score;
  bh_metric_result_free(&res);
  bh_model_free(m);
  bh_rng_free(rng);
  free(all), free(z), free(x), free(y);
  return s;
}

/* eval --metrics mig,sap,probe --probe-target factors:0=2: MIG, SAP in [0, 1] on 10,000
 * points; the probe entry records the target and its samples and scores as redone here. */
static void test_eval(void **state) {
  (void)state;
  for (int k = 0; k < NMODELS; k++) {
    char out[PL];
    tf_run_result r;
    tf_run_bhivae(&r, "eval %s --metrics mig,sap,probe --probe-target factors:0=2 --seed 3 "
                      "--out %s", run[k], tf_pathf(out, "%s/ev.json", run[k]));
    tf_expect_status(&r, 0);
    json_t *o = tf_load_json(out), *ms = json_object_get(o, "metrics");
    assert_int_equal(json_object_size(ms), 4); /* mig, sap, sap-continuous, probe */
    const char *keys[] = {"mig", "sap", "sap-continuous"};
    for (int i = 0; i < 3; i++) {
      double s = tf_json_num(json_object_get(ms, keys[i]), "score");
      if (!(s >= 0 && s <= 1)) fail_msg("%s: %s = %g", models[k], keys[i], s);
    }
    json_t *p = json_object_get(ms, "probe");
    assert_string_equal(json_string_value(json_object_get(p, "target")), "factors:0=2");
    assert_int_equal((int)tf_json_num(p, "n_train"), 10000);
    assert_int_equal((int)tf_json_num(p, "n_test"), 5000);
    assert_int_equal((int)tf_json_num(json_object_get(p, "details"), "nclasses"), 2);
    assert_non_null(strstr(json_string_value(json_object_get(p, "variant")), "logreg"));
    double want = probe_by_hand(run[k], 3);
    assert_float_equal(tf_json_num(p, "score"), want, 1e-9);
    json_decref(o);
  }
}

/* ---------------------------------------------------------------- traverse */

/* A traversal PNG of the run in dir (steps 5, range 2, example 11): nrows rows; in row `row`
 * (the block at units u0..u0+width-1) the middle cell, value 0, is the decoder's output for the
 * example's code with those units at 0, computed here. */
static void check_traverse(const char *dir, int nrows, int row, int u0, int width) {
  char png[PL];
  tf_run_result r;
  tf_run_bhivae(&r, "traverse %s --out %s --index 11 --steps 5 --range 2", dir,
                tf_pathf(png, "%s/trav.png", dir));
  tf_expect_status(&r, 0);
  bh_image img = BH_IMAGE_INIT;
  assert_int_equal(bh_image_read(png, &img), BH_OK);
  assert_int_equal(img.w, 6 * 64 + 5 * BH_GRID_SEP);
  assert_int_equal(img.h, nrows * 64 + (nrows - 1) * BH_GRID_SEP);
  bh_model *m = bh_model_load_path(dir, NULL);
  size_t eleven = 11;
  float x[4096], z[ZDIM], p[4096];
  assert_int_equal(bh_dataset_images(dsprites, &eleven, 1, x), BH_OK);
  assert_int_equal(bh_model_encode_images(m, x, 1, z, NULL), BH_OK);
  for (int u = u0; u < u0 + width; u++) z[u] = 0.0f;
  assert_int_equal(bh_model_decode_codes(m, z, 1, p), BH_OK);
  const int cell = 64 + BH_GRID_SEP, row0 = row * cell, col0 = 3 * cell;
  for (int y = 0; y < 64; y++)
    for (int c = 0; c < 64; c++) {
      int got = img.rgb[3 * ((size_t)(row0 + y) * img.w + (size_t)(col0 + c))];
      int want = (int)lrintf(255.0f * p[y * 64 + c]);
      if (abs(got - want) > 1) fail_msg("%s row %d pixel (%d, %d): %d, want %d", dir, row, y, c,
                                        got, want);
    }
  bh_image_release(&img);
  bh_model_free(m);
}

/* 4 block rows (s^1, s^2, s^3, c^3), row 1 (units 2, 3) moving both units. */
static void test_traverse(void **state) {
  (void)state;
  for (int k = 0; k < NMODELS; k++) check_traverse(run[k], 4, 1, 2, 2);
}

/* ---------------------------------------------------------------- scatter */

/* Mean, covariance (1/n) and KL(N(m, S) || N(0, Σ)) of one .dat section, Σ = [[1,ρ],[ρ,1]]:
 * the KL by the general formula with Σ⁻¹ and the determinants computed here. */
static void fit_by_hand(const double *x, const double *y, size_t n, double rho, double *mean,
                        double cov[2][2], double *kl) {
  double sx = 0, sy = 0;
  for (size_t i = 0; i < n; i++) sx += x[i], sy += y[i];
  mean[0] = sx / n, mean[1] = sy / n;
  double a = 0, b = 0, c = 0;
  for (size_t i = 0; i < n; i++) {
    a += (x[i] - mean[0]) * (x[i] - mean[0]);
    b += (x[i] - mean[0]) * (y[i] - mean[1]);
    c += (y[i] - mean[1]) * (y[i] - mean[1]);
  }
  cov[0][0] = a / n, cov[0][1] = cov[1][0] = b / n, cov[1][1] = c / n;
  double S[2][2] = {{1, rho}, {rho, 1}}, det_p = S[0][0] * S[1][1] - S[0][1] * S[1][0];
  double inv[2][2] = {{S[1][1] / det_p, -S[0][1] / det_p}, {-S[1][0] / det_p, S[0][0] / det_p}};
  double tr = 0, q = 0;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      tr += inv[i][j] * cov[j][i];
      q += mean[i] * inv[i][j] * mean[j];
    }
  double det_s = cov[0][0] * cov[1][1] - cov[0][1] * cov[1][0];
  *kl = 0.5 * (tr + q - 2 + log(det_p) - log(det_s));
}

/* Scatter of run dir with `opts`: the files, the .dat (nsec sections of n rows, section s the
 * units units[s], equal to encode's codes of the same draw and coloured by factor `factor`),
 * the .json (per block recomputed from the .dat), the PNG (size, a prior contour pixel). */
static void check_scatter(const char *dir, const char *opts, int n, int seed, int nsec,
                          const int *units, int factor, double rho) {
  char pre[PL], p[PL], enc[PL];
  tf_run_result r;
  tf_run_bhivae(&r, "scatter %s --out %s --n %d --seed %d %s", dir,
                tf_pathf(pre, "%s/sc", dir), n, seed, opts);
  tf_expect_status(&r, 0);
  tf_run_bhivae(&r, "encode %s --n %d --seed %d --out %s", dir, n, seed,
                tf_pathf(enc, "%s/scenc", dir));
  tf_expect_status(&r, 0);
  bh_array *codes = read_npy(enc, ".codes.npy"), *fac = read_npy(enc, ".factors.npy");
  const float *z = codes->data;
  const int64_t *f = fac->data;
  dat_file d;
  dat_read(tf_pathf(p, "%s.dat", pre), &d);
  assert_int_equal(d.sections, nsec);
  json_t *o = tf_load_json(tf_pathf(p, "%s.json", pre)), *blocks = json_object_get(o, "blocks");
  assert_int_equal((int)tf_json_num(o, "n"), n);
  assert_int_equal((int)tf_json_num(o, "seed"), seed);
  assert_float_equal(tf_json_num(o, "rho"), rho, 1e-12);
  assert_int_equal((int)tf_json_num(json_object_get(o, "color"), "factor"), factor);
  assert_int_equal((int)json_array_size(blocks), nsec);
  for (int s = 0; s < nsec; s++) {
    assert_int_equal((int)d.rows[s], n);
    for (int i = 0; i < n; i++) {
      assert_float_equal(d.x[s][i], z[i * ZDIM + units[s]], 1e-6 * (1 + fabs(d.x[s][i])));
      assert_float_equal(d.y[s][i], z[i * ZDIM + units[s] + 1], 1e-6 * (1 + fabs(d.y[s][i])));
      assert_int_equal(d.c[s][i], (int)f[i * 5 + factor]);
    }
    json_t *b = json_array_get(blocks, s);
    assert_int_equal((int)json_integer_value(json_array_get(json_object_get(b, "units"), 0)),
                     units[s]);
    double mean[2], cov[2][2], kl;
    fit_by_hand(d.x[s], d.y[s], d.rows[s], rho, mean, cov, &kl);
    for (int i = 0; i < 2; i++) {
      double m = json_real_value(json_array_get(json_object_get(b, "mean"), i));
      assert_float_equal(m, mean[i], 1e-6 * (1e-3 + fabs(mean[i])));
      for (int j = 0; j < 2; j++) {
        double c = json_number_value(
            json_array_get(json_array_get(json_object_get(b, "cov"), i), j));
        if (fabs(c - cov[i][j]) > 1e-5 * (1e-6 + fabs(cov[i][j])))
          fail_msg("block %d cov[%d][%d] = %.9g, recomputed %.9g", s, i, j, c, cov[i][j]);
      }
    }
    double jkl = tf_json_num(b, "kl");
    assert_true(isfinite(jkl));
    if (fabs(jkl - kl) > 1e-4 * (1 + fabs(kl))) fail_msg("block %d KL %.9g, recomputed %.9g", s,
                                                         jkl, kl);
  }
  /* the PNG: panels of 256 (4 a row, 4 pixels apart); the contour at radius 1 passes through
   * (1, ρ) (t = 0), drawn black over the points */
  bh_image img = BH_IMAGE_INIT;
  assert_int_equal(bh_image_read(tf_pathf(p, "%s.png", pre), &img), BH_OK);
  int cols = nsec < 4 ? nsec : 4, rows = (nsec + 3) / 4;
  assert_int_equal(img.w, cols * 256 + (cols - 1) * 4);
  assert_int_equal(img.h, rows * 256 + (rows - 1) * 4);
  /* block 0's panel spans -axis..axis: at least the prior's -4..4, wider to show every point */
  double ax = tf_json_num(json_array_get(blocks, 0), "axis"), far = 0;
  for (size_t i = 0; i < d.rows[0]; i++) far = fmax(far, fmax(fabs(d.x[0][i]), fabs(d.y[0][i])));
  assert_float_equal(ax, fmax(4.0, ceil(1.05 * far)), 0);
  int px = (int)lrint((1.0 + ax) / (2 * ax) * 255), py = 255 - (int)lrint((rho + ax) / (2 * ax) * 255);
  const uint8_t *pix = img.rgb + 3 * ((size_t)py * img.w + (size_t)px);
  if (pix[0] || pix[1] || pix[2]) fail_msg("no contour at (%d, %d): %d %d %d", px, py, pix[0],
                                           pix[1], pix[2]);
  bh_image_release(&img);
  assert_true(tf_file_exists(tf_pathf(p, "%s.gp", pre)));
  assert_false(tf_file_exists(tf_pathf(p, "%s.png.tmp", pre)));
  if (system("command -v gnuplot >/dev/null 2>&1") == 0) { /* the optional gnuplot figure */
    assert_int_equal(bh_image_read(tf_pathf(p, "%s-gnuplot.png", pre), &img), BH_OK);
    bh_image_release(&img);
  }
  json_decref(o);
  dat_free(&d);
  bh_array_free(codes);
  bh_array_free(fac);
}

/* Every 2-unit block by default (s^1..s^3, c^3); --blocks picks; --color-factor colours;
 * ρ: bhivae's key (0.5), bhivae-sup's prior "std" (0). */
static void test_scatter(void **state) {
  (void)state;
  const int all[4] = {0, 2, 4, 6}, some[2] = {6, 2};
  check_scatter(run[0], "", 300, 4, 4, all, 0, 0.5);
  check_scatter(run[0], "--blocks 3,1 --color-factor 3", 150, 9, 2, some, 3, 0.5);
  check_scatter(run[1], "", 300, 4, 4, all, 0, 0.0);
}

/* ---------------------------------------------------------------- the ablation */

/* blocks=1,2,2: s^1 has 1 unit, c^3 (3 units) is cut 2 + 1: 5 traversal rows, row 0 moving
 * unit 0 alone; scatter draws the three 2-unit blocks (units 1, 3, 5). */
static void test_ablation(void **state) {
  (void)state;
  char dir[PL];
  tf_run_result r;
  tf_path(dir, "ablation");
  tf_run_bhivae(&r, "train --model bhivae " TINY " %s --set blocks=1,2,2 --set steps=4 --out %s",
                extra[0], dir);
  tf_expect_status(&r, 0);
  check_traverse(dir, 5, 0, 0, 1);
  const int units[3] = {1, 3, 5};
  check_scatter(dir, "", 100, 1, 3, units, 0, 0.5);
  tf_run_bhivae(&r, "scatter %s --out %s/x --blocks 0", dir, dir);
  tf_expect_usage(&r, "--blocks: block 0 has 1 unit(s)");
}

/* ---------------------------------------------------------------- bad input */

static void test_bad_input(void **state) {
  (void)state;
  char x[PL], bv[PL];
  tf_run_result r;
  tf_path(x, "never");
  tf_run_bhivae(&r, "train --model bhivae --set nokey=1 --out %s", x);
  tf_expect_usage(&r, "unknown key 'nokey'");
  tf_run_bhivae(&r, "train --model bhivae-sup " TINY " --set z_dim=4 --set blocks=2,2,2 --out %s",
                x);
  tf_expect_fail(&r, "leaves no room for the content part");
  tf_run_bhivae(&r, "train --model bhivae " TINY " --set z_dim=4 --set blocks=2,2,2 --out %s", x);
  tf_expect_fail(&r, "leaves no room for the content part");
  assert_false(tf_file_exists(x));

  tf_path(bv, "betavae");
  tf_run_bhivae(&r, "train --model betavae --data dsprites --set enc_hidden=16 --set dec_hidden=16 "
                    "--set z_dim=4 --set subset=64 --set steps=1 --quiet --out %s", bv);
  tf_expect_status(&r, 0);
  tf_run_bhivae(&r, "scatter %s --out %s/s", bv, bv);
  tf_expect_fail(&r, "model betavae has no 2-unit latent blocks; scatter needs them");

  tf_run_bhivae(&r, "scatter %s --out %s/s --blocks 9", run[0], run[0]);
  tf_expect_usage(&r, "--blocks: block 9 out of range");
  tf_run_bhivae(&r, "scatter %s --out %s/s --blocks 1,x", run[0], run[0]);
  tf_expect_usage(&r, "--blocks: '1,x'");
  tf_run_bhivae(&r, "scatter %s --out %s/s --blocks 1,1", run[0], run[0]);
  tf_expect_usage(&r, "given twice");
  tf_run_bhivae(&r, "scatter %s --out %s/s --color-factor 5", run[0], run[0]);
  tf_expect_usage(&r, "--color-factor: factor 5 out of range");
  tf_run_bhivae(&r, "scatter %s --out %s/s --color-label", run[0], run[0]);
  tf_expect_usage(&r, "--color-label: dsprites has no class labels");
  tf_run_bhivae(&r, "scatter %s --out %s/s --n 0", run[0], run[0]);
  tf_expect_usage(&r, "--n");
  tf_run_bhivae(&r, "scatter %s --out /nonexistent-dir/s --n 10", run[0]);
  tf_expect_fail(&r, "/nonexistent-dir/s");
  tf_run_bhivae(&r, "scatter %s", run[0]);
  tf_expect_usage(&r, "--out: missing");

  tf_run_bhivae(&r, "eval %s --metrics probe --probe-target factors:7", run[0]);
  tf_expect_usage(&r, "factor 7 out of range");
  tf_run_bhivae(&r, "eval %s --metrics probe --probe-target factors:0=9", run[0]);
  tf_expect_usage(&r, "--probe-target");
  tf_run_bhivae(&r, "eval %s --metrics probe --probe-target labels", run[0]);
  tf_expect_usage(&r, "needs class labels");
  tf_run_bhivae(&r, "eval %s --metrics probe --probe-target factors:0,1", run[0]);
  tf_expect_usage(&r, "the probe predicts one");
  tf_run_bhivae(&r, "eval %s --metrics probe --probe-target nonsense", run[0]);
  tf_expect_usage(&r, "--probe-target");
  /* Chen's MIG needs q(z|x)'s variances: refused before any work for the deterministic
   * encoder of bhivae (and never among its defaults) */
  tf_run_bhivae(&r, "eval %s --metrics mig-chen", run[0]);
  tf_expect_usage(&r, "mig-chen needs a Gaussian encoder");
  tf_run_bhivae(&r, "eval %s --metrics probe", run[0]); /* without a target: unchanged */
  tf_expect_usage(&r, "probe needs class labels");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resume),   cmocka_unit_test(test_encode),
      cmocka_unit_test(test_eval),     cmocka_unit_test(test_traverse),
      cmocka_unit_test(test_scatter),  cmocka_unit_test(test_ablation),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
