/* fuzz_npy.c — libFuzzer target: the .npy reader (core/npy.h) on arbitrary bytes.
 *
 * Each input goes through the whole-array reader, the streaming reader in odd-sized chunks, and
 * the header-dict parser alone.  A header that parses must survive a round trip through the
 * encoder (parse(encode(h)) == h), or the target traps. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "core/npy.h"

static void check_round_trip(const bh_npy_header *h) {
  char buf[BH_NPY_HEADER_MAX];
  size_t len = bh_npy_header_encode(h->dtype, h->ndim, h->shape, 0, buf, sizeof buf);
  if (len == 0) return; /* e.g. a shape too long to encode in version 1/2 within the buffer */
  bh_npy_stream *s = bh_npy_stream_open_mem(buf, len, "round-trip");
  if (!s) __builtin_trap();
  const bh_npy_header *g = bh_npy_stream_header(s);
  if (g->dtype != h->dtype || g->ndim != h->ndim || g->count != h->count ||
      memcmp(g->shape, h->shape, sizeof(int64_t) * (size_t)h->ndim) != 0)
    __builtin_trap();
  bh_npy_stream_close(s);
}

static void read_stream(const uint8_t *data, size_t size) {
  bh_npy_stream *s = bh_npy_stream_open_mem(data, size, "fuzz.npy");
  if (!s) return;
  check_round_trip(bh_npy_stream_header(s));
  unsigned char buf[777];
  uint64_t left;
  while ((left = bh_npy_stream_remaining(s)) > 0) {
    size_t k = left < sizeof buf ? (size_t)left : sizeof buf;
    if (bh_npy_stream_read(s, buf, k) != BH_OK) break;
  }
  bh_npy_stream_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bh_array *a = bh_npy_read_mem(data, size, "fuzz.npy");
  if (a) {
    bh_array *f = bh_array_to_f32(a);
    bh_array_free(f);
    bh_array_free(a);
  }
  read_stream(data, size);
  bh_npy_header h;
  memset(&h, 0, sizeof h);
  bh_npy_parse_dict((const char *)data, size, &h, "fuzz-dict");
  bh_error_clear();
  return 0;
}
