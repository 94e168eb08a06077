/* dsprites_npz.c — the official dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz into a bit store.
 *
 * The archive (np.savez_compressed, deflated members, ZIP64 size fields for imgs) holds
 *   imgs             uint8 (737280, 64, 64), values 0/1 — 2.8 GiB once inflated
 *   latents_classes  int64 (737280, 6): color, shape, scale, orientation, posX, posY indices
 *   latents_values   float64 (737280, 6), optional here: only its header is checked
 *   metadata         a pickled Python object: never read (everything in it is hard-coded in
 *                    dsprites.h)
 * imgs is inflated in chunks of IMG_CHUNK images and packed to bits as it streams, so at most
 * one chunk of bytes is ever held besides the 360 MiB bit store.  latents_classes is checked
 * against the index formula first (it is small), so a file in another order fails before the
 * long inflate.  Every member is read to its end, so its CRC is always verified.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/npz.h"
#include "datasets/dsprites.h"

#define IMG_BYTES (BH_DSPRITES_SIDE * BH_DSPRITES_SIDE)
#define IMG_CHUNK 1024  /* images inflated per read: 4 MiB */
#define LAT_CHUNK 4096  /* latents_classes rows per read: 192 KiB */
#define LAT_COLS 6

/* A member read as an npy stream over our own handle on the zip reader, so that after the
 * array data we can read on and prove the member ends there (which also delivers its last byte
 * and so triggers the CRC check). */
typedef struct member {
  bh_npz_reader *r;
  bh_npy_stream *s;
  char what[600]; /* "PATH: member 'imgs.npy'" */
} member;

static int64_t member_read_cb(void *user, void *buf, size_t n) {
  return bh_npz_reader_read(user, buf, n);
}

static int member_open(bh_npz *z, const char *path, const char *name, member *m) {
  memset(m, 0, sizeof *m);
  int i = bh_npz_find(z, name);
  if (i < 0) return bh_error_code();
  snprintf(m->what, sizeof m->what, "%s: member '%s'", path, bh_npz_member_at(z, i)->name);
  m->r = bh_npz_reader_open(z, i);
  if (!m->r) return bh_error_code();
  m->s = bh_npy_stream_open(member_read_cb, NULL, m->r, m->what); /* the reader stays ours */
  if (!m->s) {
    bh_npz_reader_close(m->r);
    m->r = NULL;
    return bh_error_code();
  }
  return BH_OK;
}

static void member_close(member *m) {
  bh_npy_stream_close(m->s);
  bh_npz_reader_close(m->r);
  m->s = NULL;
  m->r = NULL;
}

/* After all array data: the member must end here. */
static int member_finish(member *m) {
  char extra;
  int64_t got = bh_npz_reader_read(m->r, &extra, 1);
  if (got < 0) return bh_error_code();
  if (got > 0) return bh_error(BH_EFORMAT, "%s: trailing bytes after the array data", m->what);
  return BH_OK;
}

static void shape_text(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t len = (size_t)snprintf(buf, cap, "(");
  for (int d = 0; d < ndim && len < cap; d++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64, d ? ", " : "", shape[d]);
  if (len < cap) snprintf(buf + len, cap - len, ndim == 1 ? ",)" : ")");
}

/* The member's dtype and shape must be exactly these. */
static int member_expect(const member *m, int dtype, int ndim, const int64_t *shape) {
  const bh_npy_header *h = bh_npy_stream_header(m->s);
  int ok = h->dtype == dtype && h->ndim == ndim;
  for (int d = 0; ok && d < ndim; d++) ok = h->shape[d] == shape[d];
  if (ok) return BH_OK;
  char want[128], got[128];
  shape_text(want, sizeof want, ndim, shape);
  shape_text(got, sizeof got, h->ndim, h->shape);
  return bh_error(BH_EFORMAT, "%s: %s %s, expected %s %s (not the dSprites layout)", m->what,
                  bh_dtype_descr(h->dtype), got, bh_dtype_descr(dtype), want);
}

static int has_member(const bh_npz *z, const char *name) {
  size_t len = strlen(name);
  for (int i = 0; i < bh_npz_count(z); i++) {
    const char *mn = bh_npz_member_at(z, i)->name;
    if (strncmp(mn, name, len) == 0 && (mn[len] == 0 || strcmp(mn + len, ".npy") == 0)) return 1;
  }
  return 0;
}

/* latents_classes (n, 6) int64: row i must be (0, the factors of i). */
static int check_latents_classes(bh_npz *z, const char *path, size_t n) {
  member m;
  int rc = member_open(z, path, "latents_classes", &m);
  if (rc != BH_OK) return rc;
  int64_t shape[2] = {(int64_t)n, LAT_COLS};
  int64_t *rows = malloc(LAT_CHUNK * LAT_COLS * sizeof *rows);
  rc = rows ? member_expect(&m, BH_DTYPE_I64, 2, shape)
            : bh_error(BH_ENOMEM, "%s: out of memory", m.what);
  for (size_t i0 = 0; rc == BH_OK && i0 < n; i0 += LAT_CHUNK) {
    size_t cnt = n - i0 < LAT_CHUNK ? n - i0 : LAT_CHUNK;
    rc = bh_npy_stream_read(m.s, rows, cnt * LAT_COLS * sizeof *rows);
    for (size_t k = 0; rc == BH_OK && k < cnt; k++) {
      int f[BH_DSPRITES_NFACTORS];
      bh_dsprites_factors_of(i0 + k, f);
      const int64_t *row = rows + k * LAT_COLS;
      int ok = row[0] == 0;
      for (int j = 0; j < BH_DSPRITES_NFACTORS; j++) ok = ok && row[1 + j] == f[j];
      if (!ok)
        rc = bh_error(BH_EFORMAT,
                      "%s: row %zu is (%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                      ", %" PRId64 ", %" PRId64 "), the official order has (0, %d, %d, %d, %d, %d)",
                      m.what, i0 + k, row[0], row[1], row[2], row[3], row[4], row[5], f[0], f[1],
                      f[2], f[3], f[4]);
    }
  }
  if (rc == BH_OK) rc = member_finish(&m);
  free(rows);
  member_close(&m);
  return rc;
}

/* latents_values is optional; when present its layout must still be the documented one. */
static int check_latents_values(bh_npz *z, const char *path, size_t n) {
  if (!has_member(z, "latents_values")) return BH_OK;
  member m;
  int rc = member_open(z, path, "latents_values", &m);
  if (rc != BH_OK) return rc;
  int64_t shape[2] = {(int64_t)n, LAT_COLS};
  rc = member_expect(&m, BH_DTYPE_F64, 2, shape);
  member_close(&m);
  return rc;
}

/* The images of one chunk: every byte 0 or 1, then 4096 bytes → 512 packed bytes each. */
static int pack_chunk(const member *m, const uint8_t *bytes, size_t first, size_t cnt,
                      bh_bitstore *bs) {
  uint8_t bad = 0;
  for (size_t p = 0; p < cnt * IMG_BYTES; p++) bad |= bytes[p];
  if (bad & 0xFE) { /* rare: find the culprit for the message */
    for (size_t p = 0;; p++)
      if (bytes[p] > 1)
        return bh_error(BH_EFORMAT, "%s: image %zu has pixel value %d (dSprites pixels are 0/1)",
                        m->what, first + p / IMG_BYTES, bytes[p]);
  }
  for (size_t k = 0; k < cnt; k++) {
    uint8_t *dst = bh_bitstore_image(bs, first + k);
    const uint8_t *src = bytes + k * IMG_BYTES;
    for (size_t b = 0; b < IMG_BYTES / 8; b++) dst[b] = bh_bitstore_pack8(src + 8 * b);
  }
  return BH_OK;
}

/* Stream the rest of imgs (header already checked) into bs. */
static int read_imgs(member *m, bh_bitstore *bs) {
  uint8_t *chunk = malloc((size_t)IMG_CHUNK * IMG_BYTES);
  if (!chunk) return bh_error(BH_ENOMEM, "%s: out of memory", m->what);
  int rc = BH_OK;
  for (size_t i0 = 0; rc == BH_OK && i0 < bs->n; i0 += IMG_CHUNK) {
    size_t cnt = bs->n - i0 < IMG_CHUNK ? bs->n - i0 : IMG_CHUNK;
    rc = bh_npy_stream_read(m->s, chunk, cnt * IMG_BYTES);
    if (rc == BH_OK) rc = pack_chunk(m, chunk, i0, cnt, bs);
  }
  free(chunk);
  return rc == BH_OK ? member_finish(m) : rc;
}

/* Check the layout of every member (imgs first, so that a wrong file is named by its images),
 * then latents_classes' contents, then stream the images. */
static int load(bh_npz *z, const char *path, size_t n, bh_bitstore **out) {
  member img;
  int rc = member_open(z, path, "imgs", &img);
  if (rc != BH_OK) return rc;
  int64_t shape[3] = {(int64_t)n, BH_DSPRITES_SIDE, BH_DSPRITES_SIDE};
  rc = member_expect(&img, BH_DTYPE_U8, 3, shape);
  if (rc == BH_OK) rc = check_latents_values(z, path, n);
  if (rc == BH_OK) rc = check_latents_classes(z, path, n);
  if (rc == BH_OK) {
    *out = bh_bitstore_alloc(n, BH_DSPRITES_SIDE, BH_DSPRITES_SIDE);
    rc = *out ? read_imgs(&img, *out) : bh_error_code();
  }
  member_close(&img);
  return rc;
}

bh_dataset *bh_dsprites_npz_open_n(const char *path, size_t n) {
  if (n == 0 || n > BH_DSPRITES_N) {
    bh_error(BH_EINVAL, "%s: cannot expect %zu dSprites images (1 .. %d)", path, n, BH_DSPRITES_N);
    return NULL;
  }
  bh_npz *z = bh_npz_open(path);
  if (!z) return NULL;
  bh_bitstore *bs = NULL;
  int rc = load(z, path, n, &bs);
  bh_npz_close(z);
  if (rc != BH_OK) {
    bh_bitstore_free(bs);
    return NULL;
  }
  return bh_dsprites_dataset_wrap(bs, "dsprites-npz", path);
}

bh_dataset *bh_dsprites_npz_open(const char *path) {
  return bh_dsprites_npz_open_n(path, BH_DSPRITES_N);
}
