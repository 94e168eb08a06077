/* test_attr_traverse.c — `bhivae attr-traverse` (the paper's Fig. 7) through the built binary,
 * on a tiny supervised BHiVAE (z_dim 8: s^1, s^2, s^3 of 2 units and c^3 of 2; labels
 * factors:0=2,1,2) trained a few steps on a 256-example subset of generated dSprites: the .dat's
 * shape and its values against the .json's; curve points and a classifier's accuracy redone
 * here from the model API, the dataset and the classifier weights the .json records; the same
 * seed giving the same bytes; and bad input (one line, non-zero exit, no PREFIX.* files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "tests/testfiles.h"

#define TINY                                                                                  \
  "--data dsprites --set enc_hidden=16 --set dec_hidden=16 --set z_dim=8 --set batch_size=32 " \
  "--set level_hidden=8 --set part_hidden=8 --set part_out=8 --set subset=256 "                \
  "--set log_every=2 --seed 5 --threads 1 --quiet"
#define LABELS "factors:0=2,1,2"
#define N 150 /* images */
#define K 5   /* points of t */
#define L 3   /* labels */
#define ARGS "--n 150 --steps 5 --range 2.5 --seed 3 --threads 1"
#define PL TF_PATH_MAX

static char sup[PL], unsup[PL], prefix[PL];
static bh_dataset *dsprites;

static int setup(void **state) {
  (void)state;
  tf_run_result r;
  if (tf_tmpdir_make("attrtrav")) return -1;
  tf_path(sup, "sup");
  tf_path(unsup, "unsup");
  tf_path(prefix, "f7");
  tf_run_bhivae(&r, "train --model bhivae-sup " TINY " --set cls_hidden=8 --set attributes="
                LABELS " --set steps=6 --out %s", sup);
  if (r.status != 0) return fprintf(stderr, "train bhivae-sup: %s", r.err), -1;
  tf_run_bhivae(&r, "train --model bhivae " TINY " --set d_hidden=8 --set d_layers=1 "
                "--set steps=2 --out %s", unsup);
  if (r.status != 0) return fprintf(stderr, "train bhivae: %s", r.err), -1;
  tf_run_bhivae(&r, "attr-traverse %s --out %s " ARGS, sup, prefix);
  if (r.status != 0) return fprintf(stderr, "attr-traverse: %s", r.err), -1;
  return (dsprites = bh_dataset_open("dsprites", BH_SPLIT_ALL)) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  bh_dataset_free(dsprites);
  return tf_tmpdir_remove();
}

/* ---------------------------------------------------------------- helpers */

/* The data rows of a .dat (comment lines skipped): rows × cols numbers into v (malloc'ed). */
static double *dat_read(const char *path, int *rows, int *cols, char **header) {
  size_t len;
  char *text = (char *)tf_read_bytes(path, &len), *save = NULL;
  text[len] = '\0';
  double *v = malloc(len * sizeof *v);
  int n = 0;
  *rows = 0;
  *cols = -1;
  *header = strdup(text);
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    if (l[0] == '#') continue;
    int c = 0;
    for (char *p = l, *end;; p = end) {
      double x = strtod(p, &end);
      if (end == p) break;
      v[n++] = x, c++;
    }
    if (*cols >= 0 && c != *cols)
      fail_msg("%s: row %d has %d columns, not %d", path, *rows, c, *cols);
    *cols = c;
    (*rows)++;
  }
  free(text);
  return v;
}

static json_t *json_of(const char *prefix_path) {
  char p[PL];
  return tf_load_json(tf_pathf(p, "%s.json", prefix_path));
}

static json_t *block_of(json_t *o, int i) {
  json_t *b = json_array_get(json_object_get(o, "blocks"), (size_t)i);
  if (!b) fail_msg("no block %d in the .json", i);
  return b;
}

/* What classifier c of the .json says of code z: P(class 1) for two classes, else the
 * predicted class / (K - 1); in double, from the recorded weights. */
static double judge(json_t *c, const float *z, int d, int classes) {
  json_t *w = json_object_get(c, "w"), *b = json_object_get(c, "b");
  double s[64], top = -INFINITY;
  int best = 0;
  assert_true(classes <= 64);
  for (int k = 0; k < classes; k++) {
    json_t *bk = json_array_get(b, (size_t)k);
    s[k] = json_is_null(bk) ? -INFINITY : json_number_value(bk);
    if (s[k] != -INFINITY)
      for (int j = 0; j < d; j++)
        s[k] += json_number_value(json_array_get(json_array_get(w, (size_t)k), (size_t)j)) * z[j];
    if (s[k] > top) top = s[k], best = k;
  }
  if (classes != 2) return (double)best / (double)(classes - 1);
  double e0 = s[0] == -INFINITY ? 0.0 : exp(s[0] - top);
  double e1 = s[1] == -INFINITY ? 0.0 : exp(s[1] - top);
  return e1 / (e0 + e1);
}

/* The folder holds no file whose name starts with "x". */
static void expect_no_outputs(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] == 'x') fail_msg("%s/%s was left", dir, e->d_name);
  closedir(d);
}

/* ---------------------------------------------------------------- tests */

/* K rows of t and a mean and standard error per label, equal to the .json's curves; the
 * header names the blocks, labels and the classifiers' accuracies. */
static void test_dat_json(void **state) {
  (void)state;
  char p[PL], *header;
  int rows, cols;
  double *v = dat_read(tf_pathf(p, "%s.dat", prefix), &rows, &cols, &header);
  assert_int_equal(rows, K);
  assert_int_equal(cols, 1 + 2 * L);
  json_t *o = json_of(prefix);
  assert_int_equal(tf_json_num(o, "n"), N);
  assert_int_equal(tf_json_num(o, "steps"), K);
  assert_int_equal(tf_json_num(o, "seed"), 3);
  assert_float_equal(tf_json_num(o, "range"), 2.5, 0);
  assert_string_equal(json_string_value(json_object_get(o, "labels")), LABELS);
  assert_string_equal(json_string_value(json_object_get(o, "model")), "bhivae-sup");
  assert_int_equal(tf_json_num(o, "step"), 6);
  assert_int_equal(tf_json_num(o, "threads"), 1);
  assert_non_null(json_object_get(json_object_get(o, "versions"), "openblas"));
  json_t *t = json_object_get(o, "t");
  static const char *const label[L] = {"factors:0=2", "factors:1", "factors:2"};
  for (int k = 0; k < K; k++) {
    assert_true(v[k * cols] == json_number_value(json_array_get(t, (size_t)k)));
    assert_float_equal(v[k * cols], -2.5 + 5.0 * k / (K - 1), 1e-15);
  }
  for (int i = 0; i < L; i++) {
    json_t *b = block_of(o, i);
    assert_string_equal(json_string_value(json_object_get(b, "label")), label[i]);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(b, "units"), 0)), 2 * i);
    for (int k = 0; k < K; k++) {
      assert_true(v[k * cols + 1 + 2 * i] ==
                  json_number_value(json_array_get(json_object_get(b, "mean"), (size_t)k)));
      assert_true(v[k * cols + 2 + 2 * i] ==
                  json_number_value(json_array_get(json_object_get(b, "stderr"), (size_t)k)));
      assert_true(v[k * cols + 1 + 2 * i] >= 0 && v[k * cols + 1 + 2 * i] <= 1);
    }
    char want[256];
    snprintf(want, sizeof want, "# block %d (units %d-%d): label %s", i, 2 * i, 2 * i + 1,
             label[i]);
    if (!strstr(header, want)) fail_msg("no \"%s\" in:\n%s", want, header);
    snprintf(want, sizeof want, "classifier accuracy %.4f test",
             tf_json_num(json_object_get(b, "classifier"), "accuracy"));
    if (!strstr(header, want)) fail_msg("no \"%s\" in:\n%s", want, header);
  }
  /* the PNG drawn without gnuplot, and the script reading the .dat */
  unsigned char *png = tf_read_bytes(tf_pathf(p, "%s.png", prefix), &(size_t){0});
  assert_memory_equal(png, "\x89PNG", 4);
  free(png);
  size_t len;
  char *gp = (char *)tf_read_bytes(tf_pathf(p, "%s.gp", prefix), &len);
  gp[len] = '\0';
  assert_non_null(strstr(gp, "using 1:6:7 with yerrorlines"));
  assert_non_null(strstr(gp, "-gnuplot.png'"));
  free(gp);
  json_decref(o);
  free(v);
  free(header);
}

/* Curve points redone here: the recorded test images through the model API (encode, block i
 * set to t, decode, re-encode) and the recorded classifier; classifier 0's accuracy from the
 * images' own shapes. */
static void test_point(void **state) {
  (void)state;
  char p[PL], *header;
  int rows, cols;
  double *v = dat_read(tf_pathf(p, "%s.dat", prefix), &rows, &cols, &header);
  json_t *o = json_of(prefix), *ix = json_object_get(o, "test_index");
  assert_int_equal(json_array_size(ix), N);
  bh_model *m = bh_model_load_path(sup, NULL);
  if (!m) fail_msg("%s", bh_error_message());
  int d = m->z_dim;
  size_t D = 64 * 64, idx[N];
  for (size_t e = 0; e < N; e++) {
    idx[e] = (size_t)json_integer_value(json_array_get(ix, e));
    assert_true(idx[e] < dsprites->n);
    for (size_t f = 0; f < e; f++) assert_true(idx[f] != idx[e]); /* distinct */
  }
  float *x = malloc(N * D * sizeof *x), *z0 = malloc(N * (size_t)d * sizeof *z0);
  float *z = malloc(N * (size_t)d * sizeof *z);
  assert_int_equal(bh_dataset_images(dsprites, idx, N, x), BH_OK);
  assert_int_equal(bh_model_encode_images(m, x, N, z0, NULL), BH_OK);
  /* classifier 0's accuracy on [shape == heart] of the same images */
  json_t *c0 = json_object_get(block_of(o, 0), "classifier");
  size_t hits = 0;
  for (size_t e = 0; e < N; e++) {
    int f[BH_DATASET_MAX_FACTORS];
    bh_dataset_factors_of(dsprites, idx[e], f);
    hits += (judge(c0, z0 + e * (size_t)d, d, 2) > 0.5) == (f[0] == 2);
  }
  assert_float_equal(tf_json_num(c0, "accuracy"), (double)hits / N, 1e-12);
  /* block 0 (binary) at the first t, block 1 (6 classes) at the last */
  const int blocks[2] = {0, 1}, ks[2] = {0, K - 1}, classes[2] = {2, 6};
  for (int q = 0; q < 2; q++) {
    int i = blocks[q], k = ks[q];
    double t = v[k * cols], sum = 0.0, ss = 0.0, val[N];
    memcpy(z, z0, N * (size_t)d * sizeof *z);
    for (size_t e = 0; e < N; e++) /* block i: units 2i, 2i + 1 */
      z[e * (size_t)d + 2 * i] = z[e * (size_t)d + 2 * i + 1] = (float)t;
    assert_int_equal(bh_model_decode_codes(m, z, N, x), BH_OK);
    assert_int_equal(bh_model_encode_images(m, x, N, z, NULL), BH_OK);
    json_t *c = json_object_get(block_of(o, i), "classifier");
    for (size_t e = 0; e < N; e++) sum += val[e] = judge(c, z + e * (size_t)d, d, classes[q]);
    double mean = sum / N;
    for (size_t e = 0; e < N; e++) ss += (val[e] - mean) * (val[e] - mean);
    assert_float_equal(v[k * cols + 1 + 2 * i], mean, 1e-9);
    assert_float_equal(v[k * cols + 2 + 2 * i], sqrt(ss / (N - 1) / N), 1e-9);
  }
  free(x), free(z0), free(z), free(v), free(header);
  bh_model_free(m);
  json_decref(o);
}

/* The same seed: the same bytes; another seed: other images, another curve. */
static void test_same_seed(void **state) {
  (void)state;
  char a[PL], b[PL], c[PL];
  tf_run_result r;
  tf_run_bhivae(&r, "attr-traverse --checkpoint %s/model.ckpt --out %s " ARGS, sup,
                tf_path(b, "again"));
  tf_expect_status(&r, 0);
  size_t na, nb;
  unsigned char *da = tf_read_bytes(tf_pathf(a, "%s.dat", prefix), &na);
  unsigned char *db = tf_read_bytes(tf_pathf(c, "%s.dat", b), &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(da, db, na);
  free(db);
  tf_run_bhivae(&r, "attr-traverse %s --out %s --labels factors:0=2 --n 150 --steps 5 "
                "--range 2.5 --seed 4 --threads 1", sup, tf_path(b, "other"));
  tf_expect_status(&r, 0);
  db = tf_read_bytes(tf_pathf(c, "%s.dat", b), &nb);
  assert_true(na != nb || memcmp(da, db, na) != 0);
  free(da);
  free(db);
}

/* Each bad input: a non-zero exit, one "bhivae: ..." line naming the file or option (usage
 * errors then point to --help), and no PREFIX.* file. */
static void test_bad_input(void **state) {
  (void)state;
  char dir[PL], out[PL], p[PL];
  tf_run_result r;
  tf_path(dir, "bad");
  assert_int_equal(mkdir(dir, 0777), 0);
  tf_pathf(out, "%s/x", dir);
  static const struct {
    const char *args, *has;
    int usage;
  } cases[] = {
      {"attr-traverse %s/nope --out %s", "nope", 0},
      {"attr-traverse --checkpoint %s/nope.ckpt --out %s", "nope.ckpt", 0},
      {"attr-traverse %s --out %s --labels attrs:8", "--labels", 1},
      {"attr-traverse %s --out %s --labels factors:9", "--labels", 1},
      {"attr-traverse %s --out %s --labels factors:0,1,2,3,4", "--labels", 1}, /* 5 > 4 blocks */
      {"attr-traverse %s --out %s --steps 1", "--steps", 1},
      {"attr-traverse %s --out %s --range 0", "--range", 1},
      {"attr-traverse %s --out %s --range -1", "--range", 1},
      {"attr-traverse %s --out %s/nofolder/x", "x.dat", 0},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    if (strstr(cases[k].args, "nofolder")) tf_run_bhivae(&r, cases[k].args, sup, dir);
    else if (strstr(cases[k].args, "nope")) tf_run_bhivae(&r, cases[k].args, dir, out);
    else tf_run_bhivae(&r, cases[k].args, sup, out);
    if (cases[k].usage) {
      tf_expect_usage(&r, cases[k].has);
      assert_string_equal(strchr(r.err, '\n') + 1, "Try 'bhivae attr-traverse --help'.\n");
    } else {
      tf_expect_fail(&r, cases[k].has);
    }
    expect_no_outputs(dir);
  }
  /* PREFIX's folder is a file */
  tf_write_bytes(tf_pathf(p, "%s/afile", dir), "x", 1);
  tf_run_bhivae(&r, "attr-traverse %s --out %s/afile/x", sup, dir);
  tf_expect_fail(&r, "afile");
  /* a model without labels: --labels is asked for */
  tf_run_bhivae(&r, "attr-traverse %s --out %s", unsup, out);
  tf_expect_usage(&r, "--labels");
  expect_no_outputs(dir);
  tf_run_bhivae(&r, "attr-traverse %s", sup);
  tf_expect_usage(&r, "--out");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dat_json),
      cmocka_unit_test(test_point),
      cmocka_unit_test(test_same_seed),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
