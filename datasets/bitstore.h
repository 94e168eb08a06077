/* bitstore.h — n binary images of h×w pixels, one bit per pixel, in one big buffer.
 *
 * All of dSprites is 737,280 images of 64×64 pixels: 2.8 GiB as bytes, 11.25 GiB as float32,
 * but 360 MiB as bits (512 bytes an image).  Keeping the set bit-packed makes it fit in memory
 * and makes loading cheap (first-touch page faults scale with the bytes touched).
 *
 * Layout: image i occupies `stride` = ceil(h·w / 8) bytes at data + i·stride.  Pixels are taken
 * row-major and packed eight to a byte, the first pixel in the most significant bit (the order
 * of numpy's np.packbits), so a 64-pixel row is 8 bytes; a final partial byte is zero-padded.
 *
 * Unpacking a batch to float32 goes through a 256-entry table of 8 floats per byte value: one
 * 32-byte copy per 8 pixels, no per-pixel branch.
 */
#ifndef BH_BITSTORE_H
#define BH_BITSTORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct bh_bitstore {
  size_t n;      /* images */
  int h, w;      /* pixels per image: h rows of w */
  size_t stride; /* bytes per image: ceil(h·w / 8) */
  size_t bytes;  /* n · stride: the size of data */
  uint8_t *data; /* from bh_big_alloc, zero-filled at allocation */
} bh_bitstore;

/* n images of h×w, all pixels 0; NULL with a message for bad sizes or when out of memory. */
bh_bitstore *bh_bitstore_alloc(size_t n, int h, int w);
void bh_bitstore_free(bh_bitstore *bs);

/* The packed bytes of image i (stride bytes; no bounds check: i < n). */
static inline uint8_t *bh_bitstore_image(bh_bitstore *bs, size_t i) {
  return bs->data + i * bs->stride;
}

/* Pack 8 pixel bytes, each 0 or 1, into one byte (first pixel in the top bit).  Any other value
 * gives garbage: callers normalise to 0/1 first. */
static inline uint8_t bh_bitstore_pack8(const uint8_t *p) {
  uint64_t x;
  __builtin_memcpy(&x, p, 8); /* pixel j in bits 8j .. 8j+7 (little-endian load) */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
  x = __builtin_bswap64(x);
#endif
  /* The product holds pixel j at bit 63 − j: the partial products b_j · 2^(8j + 63 − 9k) all
   * fall on distinct bits, and only k == j lands in the top byte, so no carries mix pixels. */
  return (uint8_t)((x * UINT64_C(0x8040201008040201)) >> 56);
}

/* Set image i from h·w pixel bytes (nonzero = 1), resp. floats (> 0.5 = 1). */
int bh_bitstore_set_bytes(bh_bitstore *bs, size_t i, const uint8_t *pixels);
int bh_bitstore_set_floats(bh_bitstore *bs, size_t i, const float *pixels);
/* Image i as h·w bytes 0/1. */
int bh_bitstore_get_bytes(const bh_bitstore *bs, size_t i, uint8_t *pixels);

/* Images idx[0..count-1] as float32 0/1, h·w values each, one after the other.  BH_EINVAL
 * naming the bad index when one is >= n. */
int bh_bitstore_unpack(const bh_bitstore *bs, const size_t *idx, size_t count, float *out);

/* Pixels set in image i. */
size_t bh_bitstore_popcount(const bh_bitstore *bs, size_t i);

#endif
