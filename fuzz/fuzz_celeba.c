/* fuzz_celeba.c — libFuzzer target: the CelebA attribute and partition files (datasets/celeba.h).
 *
 * Input layout: a 4-byte little-endian length L, then L bytes of list_attr_celeba.txt, then
 * list_eval_partition.txt (the rest; no partition file when it is empty).  The folder also holds
 * img_align_celeba/000001.jpg .. 000004.jpg (tiny PNGs: the format goes by content), so a listing
 * that names them opens; the set is then opened for every split and read whole: attributes
 * (0/1), images (3×64×64 in [0, 1]) and the checksum. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/error.h"
#include "datasets/celeba.h"
#include "datasets/dataset.h"
#include "datasets/image_io.h"
#include "fuzz/fuzz_util.h"

static void make_images(void) {
  static int done;
  if (done) return;
  done = 1;
  char p[512];
  snprintf(p, sizeof p, "%s/%s", fz_dir(), BH_CELEBA_IMAGE_DIR);
  if (mkdir(p, 0755) != 0) abort();
  uint8_t pix[10 * 8 * 3];
  for (size_t i = 0; i < sizeof pix; i++) pix[i] = (uint8_t)(i * 11);
  for (int k = 1; k <= 4; k++) {
    snprintf(p, sizeof p, "%s/%s/%06d.jpg", fz_dir(), BH_CELEBA_IMAGE_DIR, k);
    if (bh_png_write(p, pix, 8, 10, 3) != BH_OK) abort();
  }
}

static void read_all(bh_dataset *ds) {
  enum { B = 4 };
  size_t idx[B];
  uint8_t at[B * BH_CELEBA_NATTRS];
  float *img = malloc(B * bh_dataset_image_size(ds) * sizeof *img);
  if (!img) return;
  if (ds->nattrs != BH_CELEBA_NATTRS || !ds->attr_names) __builtin_trap();
  for (int a = 0; a < ds->nattrs; a++)
    if (!ds->attr_names[a]) __builtin_trap();
  for (size_t done = 0; done < ds->n; done += B) {
    size_t m = ds->n - done < B ? ds->n - done : B;
    for (size_t i = 0; i < m; i++) idx[i] = done + i;
    if (bh_dataset_attrs(ds, idx, m, at) != BH_OK) __builtin_trap();
    for (size_t i = 0; i < m * BH_CELEBA_NATTRS; i++)
      if (at[i] > 1) __builtin_trap();
    if (bh_dataset_images(ds, idx, m, img) == BH_OK)
      for (size_t i = 0; i < m * bh_dataset_image_size(ds); i++)
        if (!(img[i] >= 0.0f && img[i] <= 1.0f)) __builtin_trap();
  }
  free(img);
  bh_dataset_checksum(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  make_images();
  size_t l = fz_le32(data, size), rest = size > 4 ? size - 4 : 0;
  if (l > rest) l = rest;
  const uint8_t *text = data + (size < 4 ? size : 4);
  fz_file(BH_CELEBA_ATTR_FILE, text, l);
  char part[512];
  snprintf(part, sizeof part, "%s/%s", fz_dir(), BH_CELEBA_PARTITION_FILE);
  if (rest > l) fz_file(BH_CELEBA_PARTITION_FILE, text + l, rest - l);
  else remove(part);
  static const bh_split splits[] = {BH_SPLIT_ALL, BH_SPLIT_TRAIN, BH_SPLIT_VALID, BH_SPLIT_TEST};
  for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
    bh_dataset *ds = bh_celeba_open(fz_dir(), splits[s]);
    if (!ds) continue;
    if (ds->n == 0 || ds->c != 3 || ds->h != BH_CELEBA_SIDE || ds->w != BH_CELEBA_SIDE)
      __builtin_trap();
    read_all(ds);
    bh_dataset_free(ds);
  }
  bh_error_clear();
  return 0;
}
