/* npy.h — numpy .npy arrays: an in-memory array type, a header parser, a streaming reader over a
 * read callback, and a writer.
 *
 * Supported: format versions 1.0 and 2.0 (read and write) and 3.0 (read), C order only, dtypes
 * '<f4', '<f8', '<i4', '<i8', '|u1' (also '<u1'/'>u1') and '|b1'.  Everything is little-endian,
 * as numpy writes it on the machines we run on.
 *
 * Every reader goes through bh_npy_stream, which parses the header and then lets the caller pull
 * the data in chunks of any size: the dSprites loader streams a 737,280×64×64 uint8 array out of
 * a deflated npz member (npz.h) without ever holding all of it.  Whole-array readers
 * (bh_npy_read, bh_npy_read_mem, bh_npz_read_array) are thin loops over the same stream.
 *
 * This header also carries the small "write to path.tmp, fsync, rename" helper that the npy, npz
 * and checkpoint writers share, so that an interrupted run never leaves a half-written file under
 * the real name.
 */
#ifndef BH_NPY_H
#define BH_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BH_NPY_MAX_DIMS 8

/* Element types.  0 is "none", so a zero-filled struct is recognisably empty. */
enum bh_dtype {
  BH_DTYPE_F32 = 1, /* '<f4' */
  BH_DTYPE_F64 = 2, /* '<f8' */
  BH_DTYPE_I32 = 3, /* '<i4' */
  BH_DTYPE_I64 = 4, /* '<i8' */
  BH_DTYPE_U8 = 5,  /* '|u1' */
  BH_DTYPE_BOOL = 6 /* '|b1' (one byte, 0 or 1) */
};

/* Bytes per element (0 for an unknown dtype). */
size_t bh_dtype_size(int dtype);
/* The descr numpy writes for the dtype ("<f4", "|u1", ...), or "?" for an unknown one. */
const char *bh_dtype_descr(int dtype);
/* Convert n elements of `dtype` at src to float32 at dst (int64 and float64 round to nearest). */
void bh_dtype_to_f32(int dtype, const void *src, float *dst, size_t n);

/* A dense C-order array.  ndim 0 is a scalar (count 1). */
typedef struct bh_array {
  int dtype;
  int ndim;
  int64_t shape[BH_NPY_MAX_DIMS];
  size_t count; /* product of shape */
  void *data;   /* count * bh_dtype_size(dtype) bytes, owned by the array */
} bh_array;

/* A zero-filled array; NULL (with a message) for a bad dtype, ndim outside 0..8, a negative
 * dimension, a size overflow or out of memory. */
bh_array *bh_array_alloc(int dtype, int ndim, const int64_t *shape);
void bh_array_free(bh_array *a);
/* Bytes of data (count × element size). */
size_t bh_array_bytes(const bh_array *a);
/* A new float32 array with the same shape holding the converted values. */
bh_array *bh_array_to_f32(const bh_array *a);

/* ---- header ---- */

typedef struct bh_npy_header {
  int version; /* major format version: 1, 2 or 3 */
  int dtype;
  int ndim;
  int64_t shape[BH_NPY_MAX_DIMS];
  size_t count;        /* product of shape */
  uint64_t data_bytes; /* count × element size */
  size_t preamble;     /* bytes before the data: magic, version, length field and header */
} bh_npy_header;

/* Parse the header dict text (the part after the length field, `len` bytes, e.g.
 * "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }   \n") into h->dtype/ndim/shape/
 * count/data_bytes.  `what` names the file in messages.  BH_EFORMAT with a message on error. */
int bh_npy_parse_dict(const char *text, size_t len, bh_npy_header *h, const char *what);

/* Encode the full preamble (magic, version, length, padded dict) numpy-style into buf: the total
 * is a multiple of 64 and ends with '\n'.  version 0 picks 1 when the dict fits, else 2.  Returns
 * the preamble length, or 0 (with a message) when cap is too small or the arguments are bad. */
size_t bh_npy_header_encode(int dtype, int ndim, const int64_t *shape, int version, char *buf,
                            size_t cap);
/* A buffer of this size always holds an encoded header. */
#define BH_NPY_HEADER_MAX 1024

/* ---- streaming reader ---- */

/* Read up to n bytes into buf.  Return the count read (fewer than n only at the end of the
 * source, 0 at the end), or -1 with bh_error set. */
typedef int64_t (*bh_read_fn)(void *user, void *buf, size_t n);
/* Release the source (may be NULL). */
typedef void (*bh_close_fn)(void *user);

typedef struct bh_npy_stream bh_npy_stream;

/* Read and parse the header from the source; the stream owns `user` from here on (close_fn is
 * called by bh_npy_stream_close, and on failure here).  `what` names the source in messages. */
bh_npy_stream *bh_npy_stream_open(bh_read_fn read, bh_close_fn close_fn, void *user,
                                  const char *what);
/* A stream over a file on disk. */
bh_npy_stream *bh_npy_stream_open_file(const char *path);
/* A stream over `len` bytes of memory (not copied: the buffer must outlive the stream). */
bh_npy_stream *bh_npy_stream_open_mem(const void *buf, size_t len, const char *what);

const bh_npy_header *bh_npy_stream_header(const bh_npy_stream *s);
/* Bytes of data not yet read. */
uint64_t bh_npy_stream_remaining(const bh_npy_stream *s);
/* Read exactly n bytes of array data (any n up to the remaining count, in any chunking):
 * BH_EINVAL when n exceeds what remains, BH_EFORMAT when the source ends early. */
int bh_npy_stream_read(bh_npy_stream *s, void *buf, size_t n);
/* Read all remaining data into a new array; afterwards checks that the source holds nothing
 * more (a trailing byte means a corrupted file). */
bh_array *bh_npy_stream_read_array(bh_npy_stream *s);
void bh_npy_stream_close(bh_npy_stream *s);

/* ---- whole arrays ---- */

bh_array *bh_npy_read(const char *path);
bh_array *bh_npy_read_mem(const void *buf, size_t len, const char *what);
/* Write `a` to path (via path.tmp + rename).  version 0 = 1.0 when the header fits, else 2.0. */
int bh_npy_write(const char *path, const bh_array *a, int version);

/* ---- atomic file writing (shared by the npy, npz and checkpoint writers) ---- */

typedef struct bh_atomic_file {
  FILE *f;
  char *path; /* the real name */
  char *tmp;  /* path + ".tmp" */
} bh_atomic_file;

/* Create path.tmp for writing.  BH_OK or BH_EIO / BH_ENOMEM with a message. */
int bh_atomic_open(bh_atomic_file *af, const char *path);
/* Flush, fsync, close and rename path.tmp to path (then fsync the directory, best effort).  On
 * any failure the temporary file is removed and the real name is left untouched. */
int bh_atomic_commit(bh_atomic_file *af);
/* Close and remove path.tmp (after a failed write). */
void bh_atomic_abort(bh_atomic_file *af);
/* fwrite n bytes or report BH_EIO naming the file. */
int bh_atomic_write(bh_atomic_file *af, const void *buf, size_t n);

/* ---- little-endian field access (shared by the npz and checkpoint formats) ---- */

static inline void bh_le_put16(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}
static inline void bh_le_put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void bh_le_put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint16_t bh_le_get16(const unsigned char *p) {
  return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}
static inline uint32_t bh_le_get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t bh_le_get64(const unsigned char *p) {
  return (uint64_t)bh_le_get32(p) | (uint64_t)bh_le_get32(p + 4) << 32;
}

#endif
