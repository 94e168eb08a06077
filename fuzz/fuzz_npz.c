/* fuzz_npz.c — libFuzzer target: the .npz (ZIP) reader (core/npz.h) on arbitrary bytes.
 *
 * The archive is written to a file (the reader takes a path), opened, and every member read
 * three ways: as raw bytes, as an npy stream, and (when small) as a whole array.  At most
 * READ_CAP uncompressed bytes are pulled per input so that a small, legitimately
 * well-compressed member cannot make one input take seconds. */
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/npz.h"
#include "fuzz/fuzz_util.h"

#define READ_CAP ((uint64_t)8 << 20)

static unsigned char buf[65536];

static void read_raw(bh_npz *z, int i, uint64_t *budget) {
  bh_npz_reader *r = bh_npz_reader_open(z, i);
  if (!r) return;
  while (*budget > 0) {
    size_t k = *budget < sizeof buf ? (size_t)*budget : sizeof buf;
    int64_t got = bh_npz_reader_read(r, buf, k);
    if (got <= 0) break;
    *budget -= (uint64_t)got;
  }
  bh_npz_reader_close(r);
}

static void read_npy(bh_npz *z, const char *name, uint64_t *budget) {
  bh_npy_stream *s = bh_npz_open_npy(z, name);
  if (!s) return;
  uint64_t left;
  while (*budget > 0 && (left = bh_npy_stream_remaining(s)) > 0) {
    size_t k = left < sizeof buf ? (size_t)left : sizeof buf;
    if (k > *budget) k = (size_t)*budget;
    if (bh_npy_stream_read(s, buf, k) != BH_OK) break;
    *budget -= k;
  }
  bh_npy_stream_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bh_npz *z = bh_npz_open(fz_file("fuzz.npz", data, size));
  if (!z) return 0;
  uint64_t budget = READ_CAP;
  int n = bh_npz_count(z);
  for (int i = 0; i < n && budget > 0; i++) {
    const bh_npz_member *m = bh_npz_member_at(z, i);
    read_raw(z, i, &budget);
    read_npy(z, m->name, &budget);
    if (m->size <= 65536 && budget > m->size) {
      bh_array *a = bh_npz_read_array(z, m->name);
      bh_array_free(a);
      budget -= m->size;
    }
  }
  bh_npz_find(z, "imgs");
  bh_npz_close(z);
  bh_error_clear();
  return 0;
}
