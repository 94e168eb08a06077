/* npz.h — numpy .npz archives: ZIP files whose members are .npy files ("imgs.npy", ...).
 *
 * Reader: finds the end-of-central-directory record (and the ZIP64 locator / end record when
 * present), reads the central directory (ZIP64 extra fields included), and opens members stored
 * (method 0) or deflated (method 8, raw inflate) as byte streams that are inflated on the fly in
 * chunks.  The CRC32 and the declared sizes of a member are checked when its last byte is
 * delivered, so a streaming caller sees a corrupted member as a failed final read.
 * np.savez / np.savez_compressed output reads as is (numpy forces ZIP64 local extra fields).
 *
 * Writer: members stored or deflated, optionally with ZIP64 fields forced everywhere (local and
 * central extra fields, ZIP64 end record and locator) to produce fixtures shaped like numpy's
 * output for big arrays.  The archive is written to path.tmp and renamed on close.
 */
#ifndef BH_NPZ_H
#define BH_NPZ_H

#include <stdint.h>

#include "core/npy.h"

/* ---- reader ---- */

typedef struct bh_npz_member {
  char *name;            /* as stored, e.g. "imgs.npy" */
  uint64_t size;         /* uncompressed bytes */
  uint64_t csize;        /* bytes in the archive */
  uint64_t local_offset; /* of the local file header */
  uint32_t crc;          /* CRC32 of the uncompressed bytes */
  int method;            /* 0 stored, 8 deflate (others are listed but cannot be opened) */
  unsigned flags;        /* general-purpose bit flags */
} bh_npz_member;

typedef struct bh_npz bh_npz;

/* Open an archive and read its central directory; NULL with a message naming the file when it
 * is not a ZIP archive, is truncated, spans several disks or has an inconsistent directory. */
bh_npz *bh_npz_open(const char *path);
/* Close the archive (member streams opened from it must be closed first). */
void bh_npz_close(bh_npz *z);

int bh_npz_count(const bh_npz *z);
const bh_npz_member *bh_npz_member_at(const bh_npz *z, int i);
/* Index of the member called `name` or `name`.npy (numpy's np.load strips ".npy"); -1 with a
 * message listing what the archive holds when there is none. */
int bh_npz_find(const bh_npz *z, const char *name);

/* A member's uncompressed bytes as a stream.  Reads may be of any size; the final read (the one
 * that delivers the last byte) fails with BH_EFORMAT on a CRC or size mismatch. */
typedef struct bh_npz_reader bh_npz_reader;
bh_npz_reader *bh_npz_reader_open(bh_npz *z, int i);
/* Up to n bytes (fewer only at the end, 0 at the end), or -1 with bh_error set. */
int64_t bh_npz_reader_read(bh_npz_reader *r, void *buf, size_t n);
void bh_npz_reader_close(bh_npz_reader *r);

/* The member `name` (or `name`.npy) as an npy stream: header parsed, data pulled in chunks. */
bh_npy_stream *bh_npz_open_npy(bh_npz *z, const char *name);
/* The member `name` (or `name`.npy) read fully. */
bh_array *bh_npz_read_array(bh_npz *z, const char *name);

/* ---- writer ---- */

enum {
  BH_NPZ_DEFLATE = 1 << 0, /* compress members (else store them) */
  BH_NPZ_ZIP64 = 1 << 1    /* force ZIP64 fields even where 32 bits would do */
};

typedef struct bh_npz_writer bh_npz_writer;

/* Start writing path.tmp; flags apply to the members added next. */
bh_npz_writer *bh_npz_writer_open(const char *path, int flags);
void bh_npz_writer_set_flags(bh_npz_writer *w, int flags);
/* Add `a` as the member name + ".npy".  After a failed add the writer only fails. */
int bh_npz_writer_add(bh_npz_writer *w, const char *name, const bh_array *a);
/* Add arbitrary bytes under the exact member name. */
int bh_npz_writer_add_raw(bh_npz_writer *w, const char *member, const void *data, size_t n);
/* Write the central directory, fsync and rename path.tmp to path; frees w.  On any earlier or
 * current failure the temporary file is removed and the status returned. */
int bh_npz_writer_close(bh_npz_writer *w);
/* Give up: remove path.tmp and free w. */
void bh_npz_writer_abort(bh_npz_writer *w);

#endif
