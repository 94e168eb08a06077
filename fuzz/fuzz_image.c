/* fuzz_image.c — libFuzzer target: the JPEG and PNG decoders (datasets/image_io.h).
 *
 * Built twice: fuzz-jpeg (FUZZ_JPEG) and fuzz-png (FUZZ_PNG).  Each forces its format's
 * signature onto inputs that lack it, so the mutations stay inside one decoder; the decoder
 * itself still picks the format from the bytes.  Every input is decoded twice into the same
 * bh_image (the second time over the buffers of the first, as a batch loop does), and a decoded
 * image must be within the declared limits with every pixel readable. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "datasets/image_io.h"

#if defined(FUZZ_JPEG)
static const uint8_t sig[] = {0xff, 0xd8};
#elif defined(FUZZ_PNG)
static const uint8_t sig[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
#else
#error "define FUZZ_JPEG or FUZZ_PNG"
#endif

static bh_image img = BH_IMAGE_INIT;

static void check(void) {
  if (img.w < 1 || img.h < 1 || img.w > BH_IMAGE_MAX_SIDE || img.h > BH_IMAGE_MAX_SIDE ||
      (uint64_t)img.w * (uint64_t)img.h > BH_IMAGE_MAX_PIXELS ||
      img.rgb_cap < (size_t)img.w * (size_t)img.h * 3)
    __builtin_trap();
  unsigned sum = 0;
  for (size_t i = 0; i < (size_t)img.w * (size_t)img.h * 3; i++) sum += img.rgb[i];
  volatile unsigned sink = sum;
  (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *p = data;
  uint8_t *copy = NULL;
  if (size < sizeof sig || memcmp(data, sig, sizeof sig) != 0) {
    copy = malloc(size + sizeof sig);
    if (!copy) return 0;
    memcpy(copy, sig, sizeof sig);
    memcpy(copy + sizeof sig, data, size);
    p = copy;
    size += sizeof sig;
  }
  for (int round = 0; round < 2; round++) {
    if (bh_image_decode(p, size, "fuzz-image", &img) == BH_OK) check();
    else if (img.w != 0 || img.h != 0) __builtin_trap(); /* failure leaves 0×0 (image_io.h) */
  }
  free(copy);
  bh_error_clear();
  return 0;
}
