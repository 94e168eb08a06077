/* checkpoint.h — training checkpoints: a file of named entries (float32 tensors, byte blobs such
 * as RNG states, int64 and double scalars such as step counters and config values).
 *
 * File format, version 1 (all integers little-endian):
 *
 *   header   "BHIVCKPT" | u32 version | u32 entry count | u64 file size | u64 data offset
 *   table    per entry: u16 kind | u16 ndim | u32 name length | u64 data offset | u64 data
 *            bytes | u64 dims[ndim] | name bytes and a NUL
 *   data     each payload at a 64-byte aligned offset, zero padding in between
 *   trailer  u32 CRC32 of every byte before it
 *
 * The whole-file CRC makes a change to any byte detectable (CRC32 catches every error burst of
 * up to 32 bits), and the size field in the header tells truncation from corruption.  Writing
 * goes to path.tmp, is fsynced and renamed over path, so an interrupted run leaves either the
 * previous checkpoint or the new one under the real name, never half a file.
 */
#ifndef BH_CHECKPOINT_H
#define BH_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/params.h"

#define BH_CKPT_VERSION 1
#define BH_CKPT_MAX_DIMS 8
#define BH_CKPT_MAX_NAME 1024

enum { BH_CKPT_TENSOR = 1, BH_CKPT_BYTES = 2, BH_CKPT_I64 = 3, BH_CKPT_F64 = 4 };

/* ---- writer: collect entries (copied), then write them in one go ---- */

typedef struct bh_ckpt_writer bh_ckpt_writer;

bh_ckpt_writer *bh_ckpt_writer_alloc(void);
void bh_ckpt_writer_free(bh_ckpt_writer *w);

/* Each add copies the data.  Names are unique, 1..1024 bytes without NUL.  A failed add
 * (duplicate name, bad shape, out of memory) returns its status, and bh_ckpt_write then fails
 * with the same message, so a caller may check once at the end. */
int bh_ckpt_add_tensor(bh_ckpt_writer *w, const char *name, int ndim, const int *shape,
                       const float *data);
int bh_ckpt_add_bytes(bh_ckpt_writer *w, const char *name, const void *data, size_t len);
int bh_ckpt_add_i64(bh_ckpt_writer *w, const char *name, int64_t v);
int bh_ckpt_add_f64(bh_ckpt_writer *w, const char *name, double v);
/* Every tensor of the group as prefix + name (values only, not gradients). */
int bh_ckpt_add_params(bh_ckpt_writer *w, const char *prefix, const bh_params *p);

/* Write path.tmp, fsync, rename to path.  The writer stays usable (e.g. to retry). */
int bh_ckpt_write(const bh_ckpt_writer *w, const char *path);

/* ---- reader ---- */

typedef struct bh_ckpt bh_ckpt;

/* Read and validate a checkpoint (magic, version, size, CRC, table bounds).  NULL with a
 * one-line message naming the file and the problem when it is missing, truncated, corrupted
 * or of another version. */
bh_ckpt *bh_ckpt_read(const char *path);
void bh_ckpt_free(bh_ckpt *ck);

int bh_ckpt_count(const bh_ckpt *ck);
const char *bh_ckpt_name(const bh_ckpt *ck, int i);
int bh_ckpt_kind(const bh_ckpt *ck, int i);

/* The tensor's values (valid until bh_ckpt_free); ndim and shape (room for BH_CKPT_MAX_DIMS)
 * may be NULL.  NULL with a message when there is no tensor of that name. */
const float *bh_ckpt_find_tensor(const bh_ckpt *ck, const char *name, int *ndim, int *shape);
const void *bh_ckpt_find_bytes(const bh_ckpt *ck, const char *name, size_t *len);
int bh_ckpt_find_i64(const bh_ckpt *ck, const char *name, int64_t *v);
int bh_ckpt_find_f64(const bh_ckpt *ck, const char *name, double *v);

/* Copy prefix + name of the checkpoint into every tensor of the group.  Every tensor must be
 * present with the same shape, else BH_EFORMAT with a message naming the tensor, and the group
 * is left unchanged.  Checkpoint tensors the group does not have are ignored. */
int bh_ckpt_load_params(const bh_ckpt *ck, const char *prefix, bh_params *p);

#endif
