/* dsprites.h — dSprites: procedurally generated (the official factor grid and ordering, our own
 * drawing) or read from the official .npz.
 *
 * Factors (5, as disentanglement_lib's dsprites_full exposes them; the official 6th, color, has
 * one value and is left out):
 *   shape        3   square, ellipse, heart
 *   scale        6   linspace(0.5, 1, 6)
 *   orientation 40   linspace(0, 2π, 40), both ends included (0 and 39 look the same)
 *   posX        32   linspace(0, 1, 32), the horizontal axis (image column), left to right
 *   posY        32   linspace(0, 1, 32), the vertical axis (image row), top to bottom
 * Example index = 245760·shape + 40960·scale + 1024·orientation + 32·posX + posY (the last factor
 * fastest), n = 737,280; images 64×64, one channel, 0/1.
 *
 * The generated set reproduces the grid, the ordering and the kind of picture, not the official
 * pixels (the official drawing code was never published); see dsprites.c for the geometry.
 */
#ifndef BH_DSPRITES_H
#define BH_DSPRITES_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/bitstore.h"
#include "datasets/dataset.h"

#define BH_DSPRITES_N 737280
#define BH_DSPRITES_SIDE 64
#define BH_DSPRITES_NFACTORS 5

enum { BH_DSPRITES_SQUARE = 0, BH_DSPRITES_ELLIPSE = 1, BH_DSPRITES_HEART = 2 };

extern const char *const bh_dsprites_factor_names[BH_DSPRITES_NFACTORS];
extern const int bh_dsprites_factor_sizes[BH_DSPRITES_NFACTORS];

/* The generated set: all 737,280 images rendered into a bit store (0.7–0.8 s on our 2 cores).
 * For every dSprites dataset (generated or npz) ds->impl is its bh_bitstore. */
bh_dataset *bh_dsprites_generate(void);
/* The official dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz, `imgs` streamed into a bit
 * store; shapes, dtypes and latents_classes checked (about 7–9 s, nearly all of it inflating
 * 2.8 GiB; peak memory the 360 MiB store plus a 4 MiB chunk). */
bh_dataset *bh_dsprites_npz_open(const char *path);
/* The same for a file holding only the first n examples of the official order (test fixtures):
 * imgs (n, 64, 64), latents_classes (n, 6).  n = BH_DSPRITES_N is bh_dsprites_npz_open. */
bh_dataset *bh_dsprites_npz_open_n(const char *path, size_t n);

/* Index ↔ factors (5 ints: shape, scale, orientation, posX, posY) by the formula above.
 * index_of returns (size_t)-1 when a factor is out of range. */
size_t bh_dsprites_index_of(const int *factors);
void bh_dsprites_factors_of(size_t index, int *factors);

/* The value of factor k (0..4) at class i, as in the official latents_values: shape 1, 2, 3;
 * scale 0.5 .. 1; orientation 0 .. 2π in radians; posX, posY 0 .. 1. */
double bh_dsprites_factor_value(int k, int i);

/* Render one example as 64×64 bytes 0/1 (row-major); BH_EINVAL for an out-of-range factor. */
int bh_dsprites_render(const int *factors, uint8_t *pixels);
/* Render examples [begin, end) into bs (64×64 images, n >= end), image i at index i. */
int bh_dsprites_render_range(bh_bitstore *bs, size_t begin, size_t end);

/* A dSprites dataset over a filled bit store of n 64×64 images (taken over: freed with the
 * dataset, also on failure).  kind is "dsprites" or "dsprites-npz"; source is copied. */
bh_dataset *bh_dsprites_dataset_wrap(bh_bitstore *bs, const char *kind, const char *source);

#endif
