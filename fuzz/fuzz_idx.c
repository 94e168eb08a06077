/* fuzz_idx.c — libFuzzer target: the IDX (MNIST-format) reader (datasets/idx.h).
 *
 * Input layout: a 4-byte little-endian length L, then L bytes of the image file, then the label
 * file (the rest).  Either file may be gzip (the reader goes by the magic).  A pair that opens
 * is read whole through the dataset interface: images, labels and the checksum. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "fuzz/fuzz_util.h"

/* Every image and label, in batches of up to 64. */
static void read_all(bh_dataset *ds) {
  enum { B = 64 };
  size_t idx[B];
  int lab[B];
  float *img = malloc(B * bh_dataset_image_size(ds) * sizeof *img);
  if (!img) return;
  for (size_t done = 0; done < ds->n; done += B) {
    size_t m = ds->n - done < B ? ds->n - done : B;
    for (size_t i = 0; i < m; i++) idx[i] = done + i;
    if (bh_dataset_images(ds, idx, m, img) != BH_OK) __builtin_trap();
    if (bh_dataset_labels(ds, idx, m, lab) != BH_OK) __builtin_trap();
    for (size_t i = 0; i < m; i++)
      if (lab[i] < 0 || lab[i] >= ds->nclasses) __builtin_trap();
    for (size_t i = 0; i < m * bh_dataset_image_size(ds); i++)
      if (!(img[i] >= 0.0f && img[i] <= 1.0f)) __builtin_trap();
  }
  free(img);
  bh_dataset_checksum(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t l = fz_le32(data, size);
  size_t rest = size > 4 ? size - 4 : 0;
  if (l > rest) l = rest;
  const uint8_t *img = data + (size < 4 ? size : 4);
  const char *pi = fz_file("images-idx3-ubyte", img, l);
  const char *pl = fz_file("labels-idx1-ubyte", img + l, rest - l);
  bh_dataset *ds = bh_idx_open_files(pi, pl);
  if (ds) {
    /* What was opened must be consistent with the bytes it came from. */
    if (ds->n == 0 || ds->c != 1 || ds->h < 1 || ds->w < 1 || ds->nclasses < 1) __builtin_trap();
    read_all(ds);
    bh_dataset_free(ds);
  }
  bh_error_clear();
  return 0;
}
