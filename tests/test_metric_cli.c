/* test_metric_cli.c — `bhivae metric NAME` (cli/cmd_metric.c), through the built binary on CSV
 * and .npy fixtures written here: scores with known values (computed by hand below), the JSON
 * output, and every kind of bad input (one line naming the file, exit 1; usage errors exit 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/npy.h"
#include "tests/testfiles.h"

/* ---------------------------------------------------------------- running the binary */

typedef tf_run_result run_result;
#define bhivae_path tf_bhivae_path

/* Run `bhivae metric <args>` (the fixture paths need no quoting: mkdtemp names). */
#define run_metric(r, ...) tf_run_bhivae((r), "metric " __VA_ARGS__)

/* The score of the human line "<name>: <score> ...". */
static double line_score(const run_result *r, const char *name) {
  size_t n = strlen(name);
  if (strncmp(r->out, name, n) != 0 || r->out[n] != ':')
    fail_msg("stdout does not start with \"%s:\": %s", name, r->out);
  char *end;
  double v = strtod(r->out + n + 1, &end);
  if (end == r->out + n + 1) fail_msg("no score in: %s", r->out);
  const char *nl = strchr(r->out, '\n');
  if (!nl || nl[1] != '\0') fail_msg("stdout is not one line: %s", r->out);
  return v;
}

static json_t *parse_json(const run_result *r) {
  json_error_t je;
  json_t *o = json_loads(r->out, 0, &je);
  if (!o) fail_msg("bad JSON (%s): %s", je.text, r->out);
  return o;
}

/* ---------------------------------------------------------------- fixtures */

/* A text file in the fixture folder; returns its path (kept in a ring of 64). */
static const char *write_text(const char *name, const char *text) {
  static char paths[64][256];
  static int next;
  char *p = paths[next++ % 64];
  tf_path(p, name);
  tf_write_bytes(p, text, strlen(text));
  return p;
}

/* rows × cols values as CSV ("%.17g": doubles round-trip exactly); the path into `path`. */
static void write_csv(const char *name, const double *v, size_t rows, int cols, char *path) {
  size_t cap = rows * (size_t)cols * 24 + 1, len = 0;
  char *s = malloc(cap);
  assert_non_null(s);
  for (size_t i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++)
      len += (size_t)snprintf(s + len, cap - len, "%.17g%c", v[i * (size_t)cols + (size_t)j],
                              j + 1 < cols ? ',' : '\n');
  tf_path(path, name);
  tf_write_bytes(path, s, len);
  free(s);
}

static void write_npy(const char *name, int dtype, const double *v, size_t rows, int cols,
                      char *path) {
  int64_t shape[2] = {(int64_t)rows, cols};
  bh_array *a = bh_array_alloc(dtype, 2, shape);
  assert_non_null(a);
  for (size_t i = 0; i < rows * (size_t)cols; i++) {
    if (dtype == BH_DTYPE_F32) ((float *)a->data)[i] = (float)v[i];
    else if (dtype == BH_DTYPE_I64) ((int64_t *)a->data)[i] = (int64_t)v[i];
    else fail_msg("write_npy: dtype %d", dtype);
  }
  tf_path(path, name);
  assert_int_equal(bh_npy_write(path, a, 0), 0);
  bh_array_free(a);
}

/* grid40: every combination of factor A (40 values) and factor B (2 values) once, 80 rows; the
 * perfect code is (A, B).  Known disentanglement_lib MIG with 20 bins: code 0 puts exactly two
 * A values in each of the 20 bins (width 39/20 = 1.95), so I(bin; A) = ln 20 against H(A) =
 * ln 40; code 1 is B itself, I = H(B).  In a full grid the other code is exactly independent of
 * each factor (every contingency term is ln 1 = 0), so the gaps are ln20/ln40 and 1:
 * MIG = (ln 20 / ln 40 + 1) / 2 = 0.90605. */
#define G40 80
static char codes_csv[256], factors_csv[256], codes_npy[256], factors_npy[256];
static char swapped_csv[256], logvar_csv[256];
/* grid2: factors (C, D) both binary, each combination 10 times, 40 rows; perfect code. */
#define G2 40
static char g2_codes[256], g2_factors[256];
/* probe: three well separated clusters in 2-D; labels in one column. */
static char pr_codes[256], pr_labels[256], pr_tcodes[256], pr_tlabels[256];

static double mig_want; /* (ln 20 / ln 40 + 1) / 2, set in setup */

static void write_grid40(void) {
  double f[G40 * 2], sw[G40 * 2], lv[G40 * 2];
  for (int a = 0; a < 40; a++)
    for (int b = 0; b < 2; b++) {
      int i = a * 2 + b;
      f[2 * i] = a;
      f[2 * i + 1] = b;
      sw[2 * i] = b;
      sw[2 * i + 1] = a;
      lv[2 * i] = lv[2 * i + 1] = -10.0;
    }
  write_csv("codes.csv", f, G40, 2, codes_csv);
  write_csv("factors.csv", f, G40, 2, factors_csv);
  write_csv("swapped.csv", sw, G40, 2, swapped_csv);
  write_csv("logvar.csv", lv, G40, 2, logvar_csv);
  write_npy("codes.npy", BH_DTYPE_F32, f, G40, 2, codes_npy);
  write_npy("factors.npy", BH_DTYPE_I64, f, G40, 2, factors_npy);
  mig_want = (log(20.0) / log(40.0) + 1.0) / 2.0;
}

static void write_grid2(void) {
  double f[G2 * 2];
  for (int i = 0; i < G2; i++) {
    f[2 * i] = (i / 2) % 2;
    f[2 * i + 1] = i % 2;
  }
  write_csv("g2_codes.csv", f, G2, 2, g2_codes);
  write_csv("g2_factors.csv", f, G2, 2, g2_factors);
}

static void write_probe(void) {
  double c[30 * 2], y[30];
  for (int i = 0; i < 30; i++) {
    int k = i % 3;
    double jit = 0.01 * (i % 7) - 0.03;
    c[2 * i] = 5.0 * k + jit;
    c[2 * i + 1] = -3.0 * k - jit;
    y[i] = k;
  }
  write_csv("pr_codes.csv", c, 30, 2, pr_codes);
  write_csv("pr_labels.csv", y, 30, 1, pr_labels);
  write_csv("pr_tcodes.csv", c + 10, 15, 2, pr_tcodes); /* rows 5..19 */
  write_csv("pr_tlabels.csv", y + 5, 15, 1, pr_tlabels);
}

static int setup(void **state) {
  (void)state;
  if (tf_tmpdir_make("metric_cli")) return -1;
  write_grid40();
  write_grid2();
  write_probe();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  return tf_tmpdir_remove();
}

/* ---------------------------------------------------------------- scores */

/* MIG of the perfect grid40 code: the known value from CSV and from .npy (f4 codes, i8
 * factors), unchanged by swapping the code columns (the factors then pair with the other
 * code). */
static void test_mig_files(void **state) {
  (void)state;
  if (access(bhivae_path(), X_OK) != 0) fail_msg("no bhivae binary at %s", bhivae_path());
  run_result r;
  run_metric(&r, "mig --codes %s --factors %s", codes_csv, factors_csv);
  tf_expect_status(&r, 0);
  assert_float_equal(line_score(&r, "mig"), mig_want, 0.6e-4); /* printed with 4 decimals */
  assert_non_null(strstr(r.out, "80 points, 2 factors"));
  assert_string_equal(r.err, "");

  run_metric(&r, "mig --codes %s --factors %s", codes_npy, factors_npy);
  tf_expect_status(&r, 0);
  assert_float_equal(line_score(&r, "mig"), mig_want, 0.6e-4);
  run_metric(&r, "mig --codes=%s --factors %s --bins 20", swapped_csv, factors_npy);
  tf_expect_status(&r, 0);
  assert_float_equal(line_score(&r, "mig"), mig_want, 0.6e-4);
  /* 40 bins: code 0 now resolves all 40 A values, so both gaps are 1. */
  run_metric(&r, "mig --codes %s --factors %s --bins 40", codes_csv, factors_csv);
  tf_expect_status(&r, 0);
  assert_float_equal(line_score(&r, "mig"), 1.0, 0.6e-4);
}

/* --json: the result object ("score" the headline), plus inputs, threads and versions. */
static void test_mig_json(void **state) {
  (void)state;
  run_result r;
  run_metric(&r, "mig --codes %s --factors %s --json", codes_csv, factors_csv);
  tf_expect_status(&r, 0);
  json_t *o = parse_json(&r);
  json_t *score = json_object_get(o, "score");
  assert_true(json_is_number(score));
  assert_float_equal(json_number_value(score), mig_want, 1e-9);
  assert_string_equal(json_string_value(json_object_get(o, "metric")), "mig");
  assert_non_null(json_string_value(json_object_get(o, "variant")));
  json_t *in = json_object_get(o, "inputs");
  assert_string_equal(json_string_value(json_object_get(in, "codes")), codes_csv);
  assert_string_equal(json_string_value(json_object_get(in, "factors")), factors_csv);
  assert_true(json_integer_value(json_object_get(o, "threads")) >= 1);
  json_t *v = json_object_get(o, "versions");
  assert_non_null(json_string_value(json_object_get(v, "openblas")));
  assert_non_null(json_string_value(json_object_get(v, "gsl")));
  assert_non_null(json_string_value(json_object_get(v, "jansson")));
  assert_true(json_integer_value(json_object_get(v, "liblinear")) > 0);
  json_decref(o);
}

/* SAP.  Continuous on grid40: the squared correlation of each code with its own factor is 1
 * and with the other factor exactly 0 (full grid), so SAP = 1 (the test files are optional).
 * Discrete on grid2: the SVM on the matching code separates 0 from 1 (accuracy 1; the C = 0.01
 * optimum puts the threshold at 0.22, worked out by hand from the squared-hinge objective),
 * while the other code is independent and balanced, so every classifier scores exactly 0.5
 * on it: SAP = 0.5. */
static void test_sap(void **state) {
  (void)state;
  run_result r;
  run_metric(&r, "sap --continuous --codes %s --factors %s", codes_csv, factors_csv);
  tf_expect_status(&r, 0);
  assert_float_equal(line_score(&r, "sap"), 1.0, 0.6e-4);
  run_metric(&r, "sap --codes %s --factors %s --test-codes %s --test-factors %s --json", g2_codes,
             g2_factors, g2_codes, g2_factors);
  tf_expect_status(&r, 0);
  json_t *o = parse_json(&r);
  assert_float_equal(json_number_value(json_object_get(o, "score")), 0.5, 1e-9);
  json_decref(o);
  /* the discrete variant needs its test split */
  run_metric(&r, "sap --codes %s --factors %s", g2_codes, g2_factors);
  tf_expect_status(&r, 2);
  assert_non_null(strstr(r.err, "--test-codes: missing"));
}

/* DCI on the perfect grid2 code: each code is informative about one factor only, so
 * disentanglement (the headline) is near 1 (disentanglement_lib's own test accepts 0.9..1). */
static void test_dci(void **state) {
  (void)state;
  run_result r;
  run_metric(&r, "dci --codes %s --factors %s --test-codes %s --test-factors %s --json", g2_codes,
             g2_factors, g2_codes, g2_factors);
  tf_expect_status(&r, 0);
  json_t *o = parse_json(&r);
  double s = json_number_value(json_object_get(o, "score"));
  if (!(s >= 0.9 && s <= 1.0 + 1e-9)) fail_msg("dci %g not in 0.9..1", s);
  json_decref(o);
  /* the human line carries completeness and informativeness too; both are 1 here (each
   * factor is explained by one code, and the test rows are the training rows) */
  run_metric(&r, "dci --codes %s --factors %s --test-codes %s --test-factors %s", g2_codes,
             g2_factors, g2_codes, g2_factors);
  tf_expect_status(&r, 0);
  if (!strstr(r.out, ", completeness 1.0000, informativeness 1.0000 ("))
    fail_msg("no completeness/informativeness 1 in: %s", r.out);
}

/* Probe: three clusters 3 apart on a line are linearly separable: 100 % on the test rows. */
static void test_probe(void **state) {
  (void)state;
  run_result r;
  run_metric(&r, "probe --codes %s --factors %s --test-codes %s --test-factors %s --seed 3",
             pr_codes, pr_labels, pr_tcodes, pr_tlabels);
  tf_expect_status(&r, 0);
  assert_float_equal(line_score(&r, "probe"), 100.0, 1e-9);
  /* the labels file must hold one column */
  run_metric(&r, "probe --codes %s --factors %s --test-codes %s --test-factors %s", codes_csv,
             factors_csv, codes_csv, factors_csv);
  tf_expect_fail(&r, factors_csv);
}

/* Chen et al.'s MIG with a near-deterministic posterior (logvar -10, sigma 0.007 against
 * factor steps of 1): each code carries all of its factor's entropy ln|V| and none of the
 * other's, so MIG is 1 up to the sampling noise of the entropy estimates (about 0.02 here). */
static void test_mig_chen(void **state) {
  (void)state;
  run_result r;
  run_metric(&r, "mig-chen --mu %s --logvar %s --factors %s --json", codes_csv, logvar_csv,
             factors_csv);
  tf_expect_status(&r, 0);
  json_t *o = parse_json(&r);
  assert_float_equal(json_number_value(json_object_get(o, "score")), 1.0, 0.1);
  assert_int_equal(json_integer_value(json_object_get(o, "seed")), 0);
  json_decref(o);
  run_metric(&r, "mig-chen --mu %s --logvar %s --factors %s --skip-factor 0 --seed 5", codes_csv,
             logvar_csv, factors_csv);
  tf_expect_status(&r, 0);
  assert_float_equal(line_score(&r, "mig-chen"), 1.0, 0.1);
  assert_non_null(strstr(r.out, "(1 skipped)"));
  run_metric(&r, "mig-chen --mu %s --logvar %s --factors %s --skip-factor 2", codes_csv,
             logvar_csv, factors_csv);
  tf_expect_status(&r, 2);
  assert_non_null(strstr(r.err, "--skip-factor: 2 out of range"));
  run_metric(&r, "mig-chen --mu %s --logvar %s --factors %s --skip-factor 0 --skip-factor=1",
             codes_csv, logvar_csv, factors_csv);
  tf_expect_status(&r, 2);
  assert_non_null(strstr(r.err, "every factor skipped"));
  /* logvar of another shape */
  run_metric(&r, "mig-chen --mu %s --logvar %s --factors %s", codes_csv, g2_codes, factors_csv);
  tf_expect_fail(&r, g2_codes);
}

/* The sampler metrics with the oracle representation (the true factors of each image) on
 * dSprites: the FactorVAE vote always finds the fixed factor (its variance is exactly 0), so
 * 100 %; Z-diff's feature is exactly 0 in the shared factor's coordinate, which a linear
 * classifier separates (disentanglement_lib's test accepts 90..100 %). */
static void test_sampler_oracle(void **state) {
  (void)state;
  run_result r;
  run_metric(&r, "factorvae --data dsprites --oracle --num-train 300 --num-eval 200 --json");
  tf_expect_status(&r, 0);
  json_t *o = parse_json(&r);
  assert_float_equal(json_number_value(json_object_get(o, "score")), 100.0, 1e-9);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(o, "inputs"), "representation")),
      "oracle");
  json_decref(o);
  run_metric(&r, "zdiff --data dsprites --oracle --num-train 300 --num-eval 200 --seed 1");
  tf_expect_status(&r, 0);
  double s = line_score(&r, "zdiff");
  if (!(s >= 90.0 && s <= 100.0)) fail_msg("zdiff %g not in 90..100", s);
  run_metric(&r, "zdiff --data dsprites --oracle --num-train 300 --num-eval 200 "
                 "--zdiff-variant multinomial");
  tf_expect_status(&r, 0);
  s = line_score(&r, "zdiff");
  if (!(s >= 90.0 && s <= 100.0)) fail_msg("zdiff (multinomial) %g not in 90..100", s);
  /* a checkpoint that does not exist: one line naming it (trained models: test_train_cli) */
  run_metric(&r, "zdiff --data dsprites --checkpoint model.ckpt");
  tf_expect_fail(&r, "model.ckpt: cannot open");
  run_metric(&r, "mig --data dsprites --checkpoint model.ckpt");
  tf_expect_fail(&r, "model.ckpt");
  run_metric(&r, "zdiff --data dsprites");
  tf_expect_status(&r, 2);
  assert_non_null(strstr(r.err, "--oracle: missing"));
}

/* ---------------------------------------------------------------- bad input */

/* `mig` on codes and factors with one problem: exit 1, one line naming `bad`. */
static void expect_bad(const char *codes, const char *factors, const char *bad) {
  run_result r;
  run_metric(&r, "mig --codes %s --factors %s", codes, factors);
  tf_expect_fail(&r, bad);
  assert_string_equal(r.out, "");
}

static void test_bad_input(void **state) {
  (void)state;
  char p[256];
  const char *f2 = factors_csv;
  /* NaN and Inf codes (CSV and .npy) */
  const char *nan_csv = write_text("nan.csv", "0,1\nnan,0\n1,1\n");
  expect_bad(nan_csv, write_text("f3.csv", "0,1\n1,0\n1,1\n"), nan_csv);
  double inf_codes[6] = {0, 1, HUGE_VAL, 0, 1, 1};
  write_npy("inf.npy", BH_DTYPE_F32, inf_codes, 3, 2, p);
  expect_bad(p, write_text("f3b.csv", "0,1\n1,0\n1,1\n"), p);
  /* mismatched rows: 80 codes, 2 factor rows */
  const char *short_f = write_text("short.csv", "0,0\n1,1\n");
  expect_bad(codes_csv, short_f, short_f);
  /* non-integer, negative, single-valued factors */
  const char *c3 = write_text("c3.csv", "0.5,1\n0.25,0\n1,1\n");
  const char *frac = write_text("frac.csv", "0,1\n1.5,0\n1,1\n");
  expect_bad(c3, frac, frac);
  const char *neg = write_text("neg.csv", "0,1\n-1,0\n1,1\n");
  expect_bad(c3, neg, neg);
  const char *one = write_text("one.csv", "0,1\n1,1\n1,1\n");
  expect_bad(c3, one, one);
  /* empty and ragged files, a missing file */
  const char *empty = write_text("empty.csv", "");
  expect_bad(empty, f2, empty);
  const char *ragged = write_text("ragged.csv", "0,1\n2\n1,1\n");
  expect_bad(ragged, write_text("f3c.csv", "0,1\n1,0\n1,1\n"), ragged);
  const char *ragged_f = write_text("ragged_f.csv", "0,1\n1,0,1\n1,1\n");
  expect_bad(c3, ragged_f, ragged_f);
  tf_path(p, "no-such-file.csv");
  expect_bad(p, f2, p);
  /* test split of another width than the training split */
  run_result r;
  const char *wide = write_text("wide.csv", "0,1,2\n1,0,2\n1,1,2\n");
  run_metric(&r, "dci --codes %s --factors %s --test-codes %s --test-factors %s", c3,
             write_text("f3d.csv", "0,1\n1,0\n1,1\n"), wide, write_text("f3e.csv", "0,1\n1,0\n1,1\n"));
  tf_expect_fail(&r, wide);
}

static void test_usage(void **state) {
  (void)state;
  run_result r;
  run_metric(&r, "frobnicate --codes %s --factors %s", codes_csv, factors_csv);
  tf_expect_status(&r, 2);
  assert_non_null(strstr(r.err, "bhivae: metric frobnicate: unknown metric"));
  run_metric(&r, "");
  tf_expect_status(&r, 2);
  run_metric(&r, "mig --codes %s", codes_csv);
  tf_expect_status(&r, 2);
  assert_non_null(strstr(r.err, "bhivae: --factors: missing"));
  run_metric(&r, "mig --codes %s --factors %s --continuous", codes_csv, factors_csv);
  tf_expect_status(&r, 2);
  assert_non_null(strstr(r.err, "--continuous: not an option of metric mig"));
  run_metric(&r, "mig --codes %s --factors %s --bins 1", codes_csv, factors_csv);
  tf_expect_status(&r, 2);
  run_metric(&r, "mig --codes %s --factors %s --bogus", codes_csv, factors_csv);
  tf_expect_status(&r, 2);
  assert_non_null(strstr(r.err, "--bogus: unknown option"));
  run_metric(&r, "mig --codes %s --codes %s --factors %s", codes_csv, codes_csv, factors_csv);
  tf_expect_status(&r, 2);
  run_metric(&r, "zdiff --data dsprites --oracle --zdiff-variant sklearn");
  tf_expect_status(&r, 2);
  run_metric(&r, "zdiff --data nope --oracle");
  tf_expect_status(&r, 2);
  run_metric(&r, "--help");
  tf_expect_status(&r, 0);
  assert_non_null(strstr(r.out, "mig-chen"));
  run_metric(&r, "sap --help");
  tf_expect_status(&r, 0);
  assert_non_null(strstr(r.out, "--continuous"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mig_files), cmocka_unit_test(test_mig_json),
      cmocka_unit_test(test_sap),       cmocka_unit_test(test_dci),
      cmocka_unit_test(test_probe),     cmocka_unit_test(test_mig_chen),
      cmocka_unit_test(test_sampler_oracle), cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_usage),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
