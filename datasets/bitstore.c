/* bitstore.c — bit-packed binary images (see bitstore.h). */
#include "datasets/bitstore.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"

/* Images larger than this many pixels are not binary sprites: refuse rather than overflow. */
#define BITSTORE_MAX_SIDE 65536

bh_bitstore *bh_bitstore_alloc(size_t n, int h, int w) {
  if (h <= 0 || w <= 0 || h > BITSTORE_MAX_SIDE || w > BITSTORE_MAX_SIDE) {
    bh_error(BH_EINVAL, "bitstore: bad image size %d×%d", h, w);
    return NULL;
  }
  size_t stride = ((size_t)h * (size_t)w + 7) / 8;
  if (n > SIZE_MAX / stride) {
    bh_error(BH_EINVAL, "bitstore: %zu images of %d×%d overflow the address space", n, h, w);
    return NULL;
  }
  bh_bitstore *bs = calloc(1, sizeof *bs);
  if (!bs) {
    bh_error(BH_ENOMEM, "bitstore: out of memory");
    return NULL;
  }
  bs->n = n;
  bs->h = h;
  bs->w = w;
  bs->stride = stride;
  bs->bytes = n * stride;
  bs->data = bh_big_alloc(bs->bytes); /* zero-filled: every image starts blank */
  if (!bs->data) {
    free(bs);
    return NULL;
  }
  return bs;
}

void bh_bitstore_free(bh_bitstore *bs) {
  if (!bs) return;
  bh_big_free(bs->data, bs->bytes);
  free(bs);
}

static int check_index(const bh_bitstore *bs, size_t i) {
  if (i >= bs->n)
    return bh_error(BH_EINVAL, "bitstore: image index %zu out of range (%zu images)", i, bs->n);
  return BH_OK;
}

int bh_bitstore_set_bytes(bh_bitstore *bs, size_t i, const uint8_t *pixels) {
  int rc = check_index(bs, i);
  if (rc != BH_OK) return rc;
  size_t npix = (size_t)bs->h * bs->w, full = npix / 8;
  uint8_t *dst = bh_bitstore_image(bs, i);
  for (size_t k = 0; k < full; k++) {
    uint8_t b[8];
    for (int j = 0; j < 8; j++) b[j] = pixels[8 * k + j] != 0;
    dst[k] = bh_bitstore_pack8(b);
  }
  if (npix % 8) { /* the zero-padded tail byte */
    uint8_t b[8] = {0};
    for (size_t j = 0; j < npix % 8; j++) b[j] = pixels[8 * full + j] != 0;
    dst[full] = bh_bitstore_pack8(b);
  }
  return BH_OK;
}

int bh_bitstore_set_floats(bh_bitstore *bs, size_t i, const float *pixels) {
  int rc = check_index(bs, i);
  if (rc != BH_OK) return rc;
  size_t npix = (size_t)bs->h * bs->w;
  uint8_t *dst = bh_bitstore_image(bs, i);
  memset(dst, 0, bs->stride);
  for (size_t p = 0; p < npix; p++)
    if (pixels[p] > 0.5f) dst[p / 8] |= (uint8_t)(0x80u >> (p % 8));
  return BH_OK;
}

int bh_bitstore_get_bytes(const bh_bitstore *bs, size_t i, uint8_t *pixels) {
  int rc = check_index(bs, i);
  if (rc != BH_OK) return rc;
  size_t npix = (size_t)bs->h * bs->w;
  const uint8_t *src = bs->data + i * bs->stride;
  for (size_t p = 0; p < npix; p++) pixels[p] = (src[p / 8] >> (7 - p % 8)) & 1;
  return BH_OK;
}

/* byte value → its 8 pixels as floats, first pixel from the top bit: a compile-time table
 * (8 KiB, stays in L1 during a batch), so there is no initialisation to race on. */
#define BIT_(b, j) (float)(((b) >> (7 - (j))) & 1)
#define ROW_(b) \
  {BIT_(b, 0), BIT_(b, 1), BIT_(b, 2), BIT_(b, 3), BIT_(b, 4), BIT_(b, 5), BIT_(b, 6), BIT_(b, 7)}
#define R2_(b) ROW_(b), ROW_((b) + 1)
#define R4_(b) R2_(b), R2_((b) + 2)
#define R8_(b) R4_(b), R4_((b) + 4)
#define R16_(b) R8_(b), R8_((b) + 8)
#define R32_(b) R16_(b), R16_((b) + 16)
#define R64_(b) R32_(b), R32_((b) + 32)
#define R128_(b) R64_(b), R64_((b) + 64)
static const float unpack_table[256][8] __attribute__((aligned(64))) = {R128_(0), R128_(128)};

/* One image: a 32-byte table copy per packed byte, the partial tail byte pixel by pixel. */
static void unpack_one(const uint8_t *src, size_t npix, float *out) {
  size_t full = npix / 8;
  for (size_t k = 0; k < full; k++) memcpy(out + 8 * k, unpack_table[src[k]], 8 * sizeof(float));
  for (size_t j = 0; j < npix % 8; j++) out[8 * full + j] = unpack_table[src[full]][j];
}

int bh_bitstore_unpack(const bh_bitstore *bs, const size_t *idx, size_t count, float *out) {
  for (size_t k = 0; k < count; k++) {
    int rc = check_index(bs, idx[k]);
    if (rc != BH_OK) return rc;
  }
  size_t npix = (size_t)bs->h * bs->w;
  for (size_t k = 0; k < count; k++) unpack_one(bs->data + idx[k] * bs->stride, npix, out + k * npix);
  return BH_OK;
}

size_t bh_bitstore_popcount(const bh_bitstore *bs, size_t i) {
  if (i >= bs->n) return 0;
  const uint8_t *src = bs->data + i * bs->stride;
  size_t c = 0, k = 0;
  for (; k + 8 <= bs->stride; k += 8) { /* 64 pixels at a time; padding bits are always 0 */
    uint64_t x;
    memcpy(&x, src + k, 8);
    c += (size_t)__builtin_popcountll(x);
  }
  for (; k < bs->stride; k++) c += (size_t)__builtin_popcount(src[k]);
  return c;
}
