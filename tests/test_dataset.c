/* test_dataset.c — the generic dataset layer (datasets/dataset.c) and `bhivae data`:
 * the source registry, mixed-radix factor indexing against the official dSprites formula, the
 * uniform factor sampler, argument checks in front of the sources, the checksum against a plain
 * FNV-1a written here, and the built `bhivae` binary on an IDX fixture and on bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_rng.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "datasets/dataset.h"
#include "tests/testfiles.h"

/* ---------------------------------------------------------------- helpers */

static void assert_msg_has(const char *needle) {
  const char *m = bh_error_message();
  if (!strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m, needle);
}

/* The plain FNV-1a 64 of the checksum definition, written independently of dataset.c. */
static uint64_t ref_fnv(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}
#define REF_FNV_START 14695981039346656037ull

/* ---------------------------------------------------------------- a fake source
 * A dataset built here, so that the generic layer is tested on its own: image i has pixel j =
 * ((i·7 + j·3) mod 256)/255 (so every 8-bit level is exact), label i mod 10, and attribute a of
 * example i = (i + a) mod 2.  It counts calls so tests can check that a rejected request never
 * reaches the source. */

typedef struct fake {
  int images_calls;
  int fail; /* images fails with BH_EIO when set */
} fake;

static int fake_images(bh_dataset *ds, const size_t *idx, size_t count, float *out) {
  fake *f = ds->impl;
  f->images_calls++;
  if (f->fail) return bh_error(BH_EIO, "fake: read failed");
  size_t isz = bh_dataset_image_size(ds);
  for (size_t i = 0; i < count; i++)
    for (size_t j = 0; j < isz; j++)
      out[i * isz + j] = (float)((idx[i] * 7 + j * 3) % 256) / 255.0f;
  return BH_OK;
}

static int fake_labels(bh_dataset *ds, const size_t *idx, size_t count, int *out) {
  (void)ds;
  for (size_t i = 0; i < count; i++) out[i] = (int)(idx[i] % 10);
  return BH_OK;
}

static int fake_attrs(bh_dataset *ds, const size_t *idx, size_t count, uint8_t *out) {
  for (size_t i = 0; i < count; i++)
    for (int a = 0; a < ds->nattrs; a++) out[i * ds->nattrs + a] = (uint8_t)((idx[i] + a) % 2);
  return BH_OK;
}

static void fake_free(bh_dataset *ds) { (void)ds; }

static const bh_dataset_ops fake_ops = {fake_images, fake_labels, fake_attrs, fake_free};

/* The dSprites factor grid (5 factors, posY fastest) over 2×2 images. */
static bh_dataset fake_dsprites(fake *f) {
  bh_dataset ds = {.kind = "fake", .source = "fake-dsprites", .n = 737280, .c = 1, .h = 2,
                   .w = 2, .nfactors = 5, .ops = &fake_ops, .impl = f};
  static const char *names[] = {"shape", "scale", "orientation", "posX", "posY"};
  static const int sizes[] = {3, 6, 40, 32, 32};
  for (int k = 0; k < 5; k++) {
    ds.factor_names[k] = names[k];
    ds.factor_sizes[k] = sizes[k];
  }
  return ds;
}

/* ---------------------------------------------------------------- factor indexing */

/* Every one of the 737,280 factor vectors: index_of equals the official formula, and
 * factors_of inverts it. */
static void test_index_round_trip(void **state) {
  (void)state;
  fake f = {0};
  bh_dataset ds = fake_dsprites(&f);
  int v[5], back[5];
  size_t seen = 0;
  for (v[0] = 0; v[0] < 3; v[0]++)
    for (v[1] = 0; v[1] < 6; v[1]++)
      for (v[2] = 0; v[2] < 40; v[2]++)
        for (v[3] = 0; v[3] < 32; v[3]++)
          for (v[4] = 0; v[4] < 32; v[4]++) {
            size_t official = 245760u * v[0] + 40960u * v[1] + 1024u * v[2] + 32u * v[3] + v[4];
            size_t got = bh_dataset_index_of(&ds, v);
            if (got != official) fail_msg("index_of = %zu, official %zu", got, official);
            bh_dataset_factors_of(&ds, official, back);
            if (memcmp(back, v, sizeof v)) fail_msg("factors_of(%zu) differs", official);
            seen++;
          }
  assert_int_equal(seen, ds.n);
  /* A few by hand: the last example and one in the middle. */
  bh_dataset_factors_of(&ds, 737279, back);
  int last[5] = {2, 5, 39, 31, 31};
  assert_memory_equal(back, last, sizeof last);
  int mid[5] = {1, 2, 3, 4, 5};
  assert_int_equal(bh_dataset_index_of(&ds, mid), 245760 + 81920 + 3072 + 128 + 5);
}

static void test_factor_checks(void **state) {
  (void)state;
  fake f = {0};
  bh_dataset ds = fake_dsprites(&f);
  int bad[5] = {3, 0, 0, 0, 0};
  bh_error_clear();
  assert_true(bh_dataset_index_of(&ds, bad) == SIZE_MAX);
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_msg_has("shape = 3");
  int neg[5] = {0, 0, 0, 0, -1};
  bh_error_clear();
  assert_true(bh_dataset_index_of(&ds, neg) == SIZE_MAX);
  assert_msg_has("posY = -1");
  int back[5];
  bh_error_clear();
  bh_dataset_factors_of(&ds, 737280, back);
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_msg_has("737280 out of range");
  for (int k = 0; k < 5; k++) assert_int_equal(back[k], -1);
  /* A dataset without factors refuses every factor function. */
  bh_dataset plain = ds;
  plain.nfactors = 0;
  bh_error_clear();
  assert_true(bh_dataset_index_of(&plain, bad) == SIZE_MAX);
  assert_msg_has("has no factors");
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  assert_int_equal(bh_dataset_sample_factors(&plain, r, 1, back), BH_EINVAL);
  gsl_rng_free(r);
  float img[4];
  assert_int_equal(bh_dataset_images_of(&plain, bad, 1, img), BH_EINVAL);
  assert_int_equal(f.images_calls, 0);
}

/* ---------------------------------------------------------------- sampler */

/* Pearson's chi-square p-value of counts[0..k-1] against the uniform distribution. */
static double chi2_uniform_p(const long *counts, int k, long total) {
  double e = (double)total / k, x = 0;
  for (int i = 0; i < k; i++) x += ((double)counts[i] - e) * ((double)counts[i] - e) / e;
  return gsl_cdf_chisq_Q(x, k - 1);
}

/* 100,000 factor vectors from a fixed seed: each factor's histogram and the joint
 * (shape, scale) histogram pass a chi-square test at p > 1e-4 (a correct sampler fails that
 * with probability 1e-4 per seed; the seed is fixed, so the test is deterministic). The same
 * check rejects a histogram tilted by 2 % on one value (shown below), so it has power. */
static void test_sample_factors_uniform(void **state) {
  (void)state;
  fake f = {0};
  bh_dataset ds = fake_dsprites(&f);
  enum { N = 100000 };
  int *v = malloc(sizeof(int) * N * 5);
  assert_non_null(v);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 12345);
  assert_int_equal(bh_dataset_sample_factors(&ds, r, N, v), BH_OK);
  long counts[40], joint[18] = {0};
  for (int k = 0; k < 5; k++) {
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < N; i++) {
      int x = v[i * 5 + k];
      assert_true(x >= 0 && x < ds.factor_sizes[k]);
      counts[x]++;
    }
    double p = chi2_uniform_p(counts, ds.factor_sizes[k], N);
    if (p < 1e-4) fail_msg("factor %s: chi-square p = %g", ds.factor_names[k], p);
  }
  for (int i = 0; i < N; i++) joint[v[i * 5] * 6 + v[i * 5 + 1]]++;
  assert_true(chi2_uniform_p(joint, 18, N) > 1e-4);
  /* Power: a 3-valued histogram of 100,000 with one value 2 % heavy is rejected. */
  long tilted[3] = {N / 3 + 667, N / 3 - 333, N / 3 - 334};
  assert_true(chi2_uniform_p(tilted, 3, N) < 1e-4);
  free(v);
  gsl_rng_free(r);
}

/* ---------------------------------------------------------------- argument checks */

static void test_argument_checks(void **state) {
  (void)state;
  fake f = {0};
  bh_dataset ds = fake_dsprites(&f);
  float img[3 * 4];
  size_t idx[3] = {0, 737279, 737280};
  bh_error_clear();
  assert_int_equal(bh_dataset_images(&ds, idx, 3, img), BH_EINVAL);
  assert_msg_has("index 737280 out of range");
  assert_msg_has("fake-dsprites");
  assert_int_equal(f.images_calls, 0);
  assert_int_equal(bh_dataset_images(&ds, idx, 2, img), BH_OK);
  assert_int_equal(f.images_calls, 1);
  assert_int_equal(bh_dataset_images(&ds, NULL, 0, NULL), BH_OK); /* nothing asked */
  assert_int_equal(bh_dataset_images(&ds, NULL, 1, img), BH_EINVAL);
  assert_int_equal(bh_dataset_images(NULL, idx, 1, img), BH_EINVAL);

  /* Labels and attributes only where the source has them. */
  int lab[2];
  uint8_t at[4];
  bh_error_clear();
  assert_int_equal(bh_dataset_labels(&ds, idx, 2, lab), BH_EINVAL);
  assert_msg_has("no class labels");
  assert_int_equal(bh_dataset_attrs(&ds, idx, 2, at), BH_EINVAL);
  assert_msg_has("no attributes");
  ds.nclasses = 10;
  ds.nattrs = 2;
  assert_int_equal(bh_dataset_labels(&ds, idx, 2, lab), BH_OK);
  assert_int_equal(lab[1], 737279 % 10);
  assert_int_equal(bh_dataset_attrs(&ds, idx, 2, at), BH_OK);
  assert_int_equal(at[2], 1); /* example 737279, attribute 0 */
  assert_int_equal(bh_dataset_labels(&ds, idx, 3, lab), BH_EINVAL);

  /* images_of checks every factor vector before any image is fetched. */
  int fv[10] = {0, 0, 0, 0, 0, 1, 6, 0, 0, 0};
  f.images_calls = 0;
  bh_error_clear();
  assert_int_equal(bh_dataset_images_of(&ds, fv, 2, img), BH_EINVAL);
  assert_msg_has("scale = 6");
  assert_int_equal(f.images_calls, 0);

  /* A failing source: its status and message come through. */
  f.fail = 1;
  bh_error_clear();
  assert_int_equal(bh_dataset_images(&ds, idx, 1, img), BH_EIO);
  assert_msg_has("fake: read failed");
}

/* images_of returns, for each factor vector, the image of the index the formula gives —
 * across more than one internal chunk (600 vectors). */
static void test_images_of(void **state) {
  (void)state;
  fake f = {0};
  bh_dataset ds = fake_dsprites(&f);
  enum { M = 600 };
  int *fv = malloc(sizeof(int) * M * 5);
  float *got = malloc(sizeof(float) * M * 4), want[4];
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  assert_int_equal(bh_dataset_sample_factors(&ds, r, M, fv), BH_OK);
  assert_int_equal(bh_dataset_images_of(&ds, fv, M, got), BH_OK);
  for (int i = 0; i < M; i++) {
    const int *v = fv + 5 * i;
    size_t index = 245760u * v[0] + 40960u * v[1] + 1024u * v[2] + 32u * v[3] + v[4];
    assert_int_equal(fake_images(&ds, &index, 1, want), BH_OK);
    assert_memory_equal(got + 4 * i, want, sizeof want);
  }
  gsl_rng_free(r);
  free(fv);
  free(got);
}

/* ---------------------------------------------------------------- checksum */

static void count_progress(size_t done, size_t total, void *user) {
  size_t *last = user;
  assert_true(done > *last && done <= total);
  *last = done;
}

/* 10,000 examples of 2×2 (several internal batches): the checksum equals FNV-1a over the
 * 8-bit levels, then the labels as 4-byte little-endian integers, then the attribute bytes. */
static void test_checksum(void **state) {
  (void)state;
  fake f = {0};
  bh_dataset ds = fake_dsprites(&f);
  ds.n = 10000;
  ds.nfactors = 0;
  uint64_t h = REF_FNV_START;
  for (size_t i = 0; i < ds.n; i++)
    for (size_t j = 0; j < 4; j++) {
      uint8_t b = (uint8_t)((i * 7 + j * 3) % 256);
      h = ref_fnv(h, &b, 1);
    }
  assert_true(bh_dataset_checksum(&ds) == h);

  ds.nclasses = 10;
  for (size_t i = 0; i < ds.n; i++) {
    uint8_t le[4] = {(uint8_t)(i % 10), 0, 0, 0};
    h = ref_fnv(h, le, 4);
  }
  size_t last = 0;
  uint64_t sum = 0;
  assert_int_equal(bh_dataset_checksum_run(&ds, count_progress, &last, &sum), BH_OK);
  assert_true(sum == h);
  assert_int_equal(last, ds.n);

  ds.nattrs = 3;
  for (size_t i = 0; i < ds.n; i++)
    for (int a = 0; a < 3; a++) {
      uint8_t b = (uint8_t)((i + a) % 2);
      h = ref_fnv(h, &b, 1);
    }
  assert_true(bh_dataset_checksum(&ds) == h);

  /* A failed read: status and message from the source; the plain function returns 0. */
  f.fail = 1;
  assert_int_equal(bh_dataset_checksum_run(&ds, NULL, NULL, &sum), BH_EIO);
  assert_true(bh_dataset_checksum(&ds) == 0);
}

/* ---------------------------------------------------------------- registry */

static void test_open_unknown(void **state) {
  (void)state;
  bh_error_clear();
  assert_null(bh_dataset_open("mnsit", BH_SPLIT_TRAIN));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_msg_has("mnsit: unknown dataset");
  const char *valid[] = {"dsprites", "dsprites-npz:PATH", "mnist", "fashion-mnist", "idx:DIR",
                         "celeba:DIR"};
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) assert_msg_has(valid[i]);
  assert_null(strchr(bh_error_message(), '\n'));
  assert_null(bh_dataset_open("", BH_SPLIT_ALL));
  assert_null(bh_dataset_open(NULL, BH_SPLIT_ALL));
  bh_error_clear();
  assert_null(bh_dataset_open("idx:", BH_SPLIT_TRAIN));
  assert_msg_has("missing the path");
  bh_error_clear();
  assert_null(bh_dataset_open("dsprites", BH_SPLIT_TEST));
  assert_msg_has("no test split");
  bh_error_clear();
  assert_null(bh_dataset_open("idx:/nonexistent-bhivae-dir", BH_SPLIT_TRAIN));
  assert_msg_has("/nonexistent-bhivae-dir");
  bh_dataset_free(NULL); /* harmless */
}

/* The generated dSprites: 737,280 images of 1×64×64, the 5 factors of the official grid, and
 * image 0 (square, smallest, unrotated, top-left) binary and not empty. */
static void test_open_dsprites(void **state) {
  (void)state;
  bh_dataset *ds = bh_dataset_open("dsprites", BH_SPLIT_ALL);
  if (!ds) fail_msg("dsprites: %s", bh_error_message());
  assert_int_equal(ds->n, 737280);
  assert_int_equal(ds->c, 1);
  assert_int_equal(ds->h, 64);
  assert_int_equal(ds->w, 64);
  assert_int_equal(ds->nfactors, 5);
  static const int sizes[] = {3, 6, 40, 32, 32};
  for (int k = 0; k < 5; k++) assert_int_equal(ds->factor_sizes[k], sizes[k]);
  assert_string_equal(ds->factor_names[0], "shape");
  float img[4096];
  int f0[5] = {0, 0, 0, 0, 0};
  assert_int_equal(bh_dataset_images_of(ds, f0, 1, img), BH_OK);
  int on = 0;
  for (int i = 0; i < 4096; i++) {
    assert_true(img[i] == 0.0f || img[i] == 1.0f);
    on += img[i] == 1.0f;
  }
  assert_true(on > 0);
  /* The train split is the whole set. */
  bh_dataset *tr = bh_dataset_open("dsprites", BH_SPLIT_TRAIN);
  assert_non_null(tr);
  assert_int_equal(tr->n, 737280);
  bh_dataset_free(tr);
  bh_dataset_free(ds);
}

/* ---------------------------------------------------------------- IDX fixture */

enum { FIX_TRAIN = 12, FIX_TEST = 5, FIX_ROWS = 5, FIX_COLS = 4 };

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint8_t fix_pixel(size_t i, size_t j, int test) {
  return (uint8_t)(i * 31 + j * 17 + (size_t)test * 101);
}
static uint8_t fix_label(size_t i, int test) { return (uint8_t)((i * 3 + (size_t)test) % 10); }

/* An IDX pair written byte by byte (not with the library's writer). */
static void write_idx_pair(const char *prefix, size_t n, int test) {
  char p[256], name[64];
  size_t isz = FIX_ROWS * FIX_COLS;
  uint8_t *b = malloc(16 + n * isz);
  put_be32(b, 0x00000803);
  put_be32(b + 4, (uint32_t)n);
  put_be32(b + 8, FIX_ROWS);
  put_be32(b + 12, FIX_COLS);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < isz; j++) b[16 + i * isz + j] = fix_pixel(i, j, test);
  snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
  tf_write_bytes(tf_path(p, name), b, 16 + n * isz);
  put_be32(b, 0x00000801);
  for (size_t i = 0; i < n; i++) b[8 + i] = fix_label(i, test);
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
  tf_write_bytes(tf_path(p, name), b, 8 + n);
  free(b);
}

/* The checksum of the train split, from the fixture bytes. */
static uint64_t fixture_checksum(void) {
  uint64_t h = REF_FNV_START;
  for (size_t i = 0; i < FIX_TRAIN; i++)
    for (size_t j = 0; j < FIX_ROWS * FIX_COLS; j++) {
      uint8_t b = fix_pixel(i, j, 0);
      h = ref_fnv(h, &b, 1);
    }
  for (size_t i = 0; i < FIX_TRAIN; i++) {
    uint8_t le[4] = {fix_label(i, 0), 0, 0, 0};
    h = ref_fnv(h, le, 4);
  }
  return h;
}

static char fixture_dir[256];

static int setup_fixture(void **state) {
  (void)state;
  if (tf_tmpdir_make("dataset")) return -1;
  write_idx_pair("train", FIX_TRAIN, 0);
  write_idx_pair("t10k", FIX_TEST, 1);
  tf_path(fixture_dir, "");
  fixture_dir[strlen(fixture_dir) - 1] = '\0'; /* drop the trailing '/' */
  return 0;
}

static int remove_fixture(void **state) {
  (void)state;
  return tf_tmpdir_remove();
}

/* Through the registry: "idx:DIR" opens the train pair, images are bytes/255, and the checksum
 * matches the one computed from the bytes. */
static void test_open_idx(void **state) {
  (void)state;
  char spec[300];
  snprintf(spec, sizeof spec, "idx:%s", fixture_dir);
  bh_dataset *ds = bh_dataset_open(spec, BH_SPLIT_TRAIN);
  if (!ds) fail_msg("%s: %s", spec, bh_error_message());
  assert_int_equal(ds->n, FIX_TRAIN);
  assert_int_equal(ds->c, 1);
  assert_int_equal(ds->h, FIX_ROWS);
  assert_int_equal(ds->w, FIX_COLS);
  assert_int_equal(ds->nfactors, 0);
  float img[FIX_ROWS * FIX_COLS];
  size_t i = 7;
  assert_int_equal(bh_dataset_images(ds, &i, 1, img), BH_OK);
  for (int j = 0; j < FIX_ROWS * FIX_COLS; j++)
    assert_float_equal(img[j], fix_pixel(7, (size_t)j, 0) / 255.0f, 1e-6);
  assert_true(bh_dataset_checksum(ds) == fixture_checksum());
  bh_dataset_free(ds);
  bh_dataset *te = bh_dataset_open(spec, BH_SPLIT_TEST);
  assert_non_null(te);
  assert_int_equal(te->n, FIX_TEST);
  bh_dataset_free(te);
}

/* ---------------------------------------------------------------- the bhivae binary */

typedef tf_run_result run_result;
#define bhivae_path tf_bhivae_path

/* Run `bhivae <args>` (args already shell-quoted where needed). */
static void run_bhivae(run_result *r, const char *args) { tf_run_bhivae(r, "%s", args); }

/* stderr is exactly one line starting with `prefix`. */
static void assert_one_line(const run_result *r, const char *prefix) {
  const char *nl = strchr(r->err, '\n');
  if (strncmp(r->err, prefix, strlen(prefix)) != 0)
    fail_msg("stderr \"%s\" does not start with \"%s\"", r->err, prefix);
  if (!nl || nl[1] != '\0') fail_msg("stderr is not one line: \"%s\"", r->err);
}

static void test_cli_info(void **state) {
  (void)state;
  if (access(bhivae_path(), X_OK) != 0) fail_msg("no bhivae binary at %s", bhivae_path());
  run_result r;
  char args[512], want[64];
  snprintf(args, sizeof args, "data info --data 'idx:%s' --split train", fixture_dir);
  run_bhivae(&r, args);
  if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
  assert_non_null(strstr(r.out, "examples:   12\n"));
  assert_non_null(strstr(r.out, "image:      1 x 5 x 4 (C x H x W)\n"));
  assert_non_null(strstr(r.out, "split:      train\n"));
  assert_non_null(strstr(r.out, fixture_dir));
  snprintf(want, sizeof want, "checksum:   fnv1a64:%016llx\n",
           (unsigned long long)fixture_checksum());
  if (!strstr(r.out, want)) fail_msg("no \"%s\" in:\n%s", want, r.out);
  assert_string_equal(r.err, ""); /* stderr is not a terminal: no progress display */

  /* --json: the same facts, machine-readable. */
  snprintf(args, sizeof args, "data info --data 'idx:%s' --split=test --json", fixture_dir);
  run_bhivae(&r, args);
  if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
  json_error_t je;
  json_t *o = json_loads(r.out, 0, &je);
  if (!o) fail_msg("bad JSON (%s): %s", je.text, r.out);
  assert_int_equal(json_integer_value(json_object_get(o, "n")), FIX_TEST);
  assert_string_equal(json_string_value(json_object_get(o, "split")), "test");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "image"), "h")),
                   FIX_ROWS);
  assert_int_equal(json_array_size(json_object_get(o, "factors")), 0);
  const char *sum = json_string_value(json_object_get(o, "checksum"));
  assert_non_null(sum);
  assert_int_equal(strlen(sum), 8 + 16);
  json_decref(o);
}

static void test_cli_errors(void **state) {
  (void)state;
  run_result r;
  /* An unknown dataset: a usage error, one line naming it. */
  run_bhivae(&r, "data info --data nope");
  assert_int_equal(r.status, 2);
  assert_one_line(&r, "bhivae: nope: unknown dataset: valid ones are dsprites");
  /* A missing folder: a failure naming it. */
  run_bhivae(&r, "data info --data idx:/nonexistent-bhivae-dir");
  assert_int_equal(r.status, 1);
  assert_one_line(&r, "bhivae: ");
  assert_non_null(strstr(r.err, "/nonexistent-bhivae-dir"));
  /* A corrupted file: wrong magic in the training images. */
  char args[512], p[256];
  snprintf(args, sizeof args, "data info --data 'idx:%s' --split train", fixture_dir);
  uint8_t junk[16] = {0, 0, 8, 4};
  tf_write_bytes(tf_path(p, "train-images-idx3-ubyte"), junk, sizeof junk);
  run_bhivae(&r, args);
  write_idx_pair("train", FIX_TRAIN, 0); /* restore the fixture first */
  assert_int_equal(r.status, 1);
  assert_one_line(&r, "bhivae: ");
  assert_non_null(strstr(r.err, "train-images-idx3-ubyte"));
  /* Usage errors: exit 2, the problem, then a pointer to --help. */
  run_bhivae(&r, "data info --data dsprites --bogus");
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "bhivae: --bogus: unknown option\n"));
  run_bhivae(&r, "data info");
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "bhivae: --data: missing"));
  run_bhivae(&r, "data info --data dsprites --split sideways");
  assert_int_equal(r.status, 2);
  run_bhivae(&r, "data grid --data dsprites --n 0 --out x.png");
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "--n: expected an integer in 1..4096, got '0'"));
  run_bhivae(&r, "frobnicate");
  assert_int_equal(r.status, 2);
  run_bhivae(&r, "--version");
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "bhivae "));
  run_bhivae(&r, "--help");
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "data"));
}

/* grid: a PNG appears under the given name (no .tmp left behind); a bad --index is refused. */
static void test_cli_grid(void **state) {
  (void)state;
  run_result r;
  char args[768], png[256], tmp[300];
  tf_path(png, "grid.png");
  snprintf(args, sizeof args, "data grid --data 'idx:%s' --split train --n 6 --cols 3 --out '%s'",
           fixture_dir, png);
  run_bhivae(&r, args);
  if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
  size_t n;
  unsigned char *b = tf_read_bytes(png, &n);
  assert_true(n > 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0);
  free(b);
  snprintf(tmp, sizeof tmp, "%s.tmp", png);
  assert_false(tf_file_exists(tmp));
  unlink(png);
  snprintf(args, sizeof args,
           "data grid --data 'idx:%s' --split train --index 0,3,99 --out '%s'", fixture_dir, png);
  run_bhivae(&r, args);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "--index: 99 out of range (12 examples)"));
  assert_false(tf_file_exists(png));
  snprintf(args, sizeof args, "data grid --data 'idx:%s' --factors shape=1 --out '%s'",
           fixture_dir, png);
  run_bhivae(&r, args);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "has no factors"));
}

int main(void) {
  const struct CMUnitTest generic[] = {
      cmocka_unit_test(test_index_round_trip), cmocka_unit_test(test_factor_checks),
      cmocka_unit_test(test_sample_factors_uniform), cmocka_unit_test(test_argument_checks),
      cmocka_unit_test(test_images_of), cmocka_unit_test(test_checksum),
      cmocka_unit_test(test_open_unknown), cmocka_unit_test(test_open_dsprites),
  };
  const struct CMUnitTest files[] = {
      cmocka_unit_test(test_open_idx),
      cmocka_unit_test(test_cli_info),
      cmocka_unit_test(test_cli_errors),
      cmocka_unit_test(test_cli_grid),
  };
  int fails = cmocka_run_group_tests_name("dataset", generic, NULL, NULL);
  fails += cmocka_run_group_tests_name("dataset files and CLI", files, setup_fixture,
                                       remove_fixture);
  return fails ? 1 : 0;
}
