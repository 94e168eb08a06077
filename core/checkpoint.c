/* checkpoint.c — checkpoint files (format in checkpoint.h). */
#include "core/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/error.h"
#include "core/npy.h"

static const char CKPT_MAGIC[8] = {'B', 'H', 'I', 'V', 'C', 'K', 'P', 'T'};
#define HEADER_SIZE 32
#define RECORD_SIZE 24 /* fixed part of a table record, before dims and name */
#define TRAILER_SIZE 4
#define ALIGN 64 /* payload alignment: tensors can be used in place by vectorised loops */

static size_t align_up(size_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

static const char *kind_name(int kind) {
  switch (kind) {
    case BH_CKPT_TENSOR:
      return "tensor";
    case BH_CKPT_BYTES:
      return "bytes";
    case BH_CKPT_I64:
      return "int64";
    case BH_CKPT_F64:
      return "double";
    default:
      return "entry";
  }
}

/* "[3 x 4]" */
static const char *shape_str(int ndim, const int *shape, char *buf, size_t len) {
  size_t n = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < ndim && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s%d", i ? " x " : "", shape[i]);
  if (n < len) snprintf(buf + n, len - n, "]");
  return buf;
}

/* ======================================================================= writer */

typedef struct {
  char *name;
  int kind, ndim;
  int shape[BH_CKPT_MAX_DIMS];
  void *data;
  size_t nbytes;
} wentry;

struct bh_ckpt_writer {
  int n, cap;
  wentry *e;
  int failed;
  char errmsg[512];
};

bh_ckpt_writer *bh_ckpt_writer_alloc(void) {
  bh_ckpt_writer *w = calloc(1, sizeof *w);
  if (!w) bh_error(BH_ENOMEM, "checkpoint writer: out of memory");
  return w;
}

void bh_ckpt_writer_free(bh_ckpt_writer *w) {
  if (!w) return;
  for (int i = 0; i < w->n; i++) {
    free(w->e[i].name);
    free(w->e[i].data);
  }
  free(w->e);
  free(w);
}

static int wfail(bh_ckpt_writer *w, int rc) {
  if (!w->failed) {
    w->failed = rc;
    snprintf(w->errmsg, sizeof w->errmsg, "%s", bh_error_message());
  }
  return rc;
}

/* A new entry holding a copy of `len` bytes. */
static int add_entry(bh_ckpt_writer *w, const char *name, int kind, int ndim, const int *shape,
                     const void *data, size_t len) {
  size_t nl = strlen(name);
  if (nl == 0 || nl > BH_CKPT_MAX_NAME)
    return wfail(w, bh_error(BH_EINVAL, "checkpoint: entry name of %zu bytes (need 1..%d)", nl,
                             BH_CKPT_MAX_NAME));
  for (int i = 0; i < w->n; i++)
    if (strcmp(w->e[i].name, name) == 0)
      return wfail(w, bh_error(BH_EINVAL, "checkpoint: entry '%s' added twice", name));
  if (w->n == w->cap) {
    int cap = w->cap ? 2 * w->cap : 16;
    wentry *e = realloc(w->e, (size_t)cap * sizeof *e);
    if (!e) return wfail(w, bh_error(BH_ENOMEM, "checkpoint: out of memory"));
    w->e = e;
    w->cap = cap;
  }
  wentry *e = &w->e[w->n];
  memset(e, 0, sizeof *e);
  e->name = strdup(name);
  e->data = malloc(len ? len : 1);
  if (!e->name || !e->data) {
    free(e->name);
    free(e->data);
    return wfail(w, bh_error(BH_ENOMEM, "checkpoint: out of memory for '%s'", name));
  }
  if (len) memcpy(e->data, data, len);
  e->kind = kind;
  e->ndim = ndim;
  for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
  e->nbytes = len;
  w->n++;
  return BH_OK;
}

int bh_ckpt_add_tensor(bh_ckpt_writer *w, const char *name, int ndim, const int *shape,
                       const float *data) {
  if (ndim < 0 || ndim > BH_CKPT_MAX_DIMS)
    return wfail(w, bh_error(BH_EINVAL, "checkpoint: tensor '%s' has %d dims (at most %d)", name,
                             ndim, BH_CKPT_MAX_DIMS));
  size_t count = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0 || (shape[i] && count > SIZE_MAX / sizeof(float) / (size_t)shape[i]))
      return wfail(w, bh_error(BH_EINVAL, "checkpoint: tensor '%s' has a bad shape", name));
    count *= (size_t)shape[i];
  }
  return add_entry(w, name, BH_CKPT_TENSOR, ndim, shape, data, count * sizeof(float));
}

int bh_ckpt_add_bytes(bh_ckpt_writer *w, const char *name, const void *data, size_t len) {
  return add_entry(w, name, BH_CKPT_BYTES, 0, NULL, data, len);
}

int bh_ckpt_add_i64(bh_ckpt_writer *w, const char *name, int64_t v) {
  unsigned char b[8];
  bh_le_put64(b, (uint64_t)v);
  return add_entry(w, name, BH_CKPT_I64, 0, NULL, b, 8);
}

int bh_ckpt_add_f64(bh_ckpt_writer *w, const char *name, double v) {
  uint64_t u;
  unsigned char b[8];
  memcpy(&u, &v, 8);
  bh_le_put64(b, u);
  return add_entry(w, name, BH_CKPT_F64, 0, NULL, b, 8);
}

/* prefix + name into buf; BH_EINVAL when it does not fit. */
static int join_name(char *buf, size_t len, const char *prefix, const char *name) {
  if ((size_t)snprintf(buf, len, "%s%s", prefix ? prefix : "", name) >= len)
    return bh_error(BH_EINVAL, "checkpoint: name '%s%s' too long", prefix ? prefix : "", name);
  return BH_OK;
}

int bh_ckpt_add_params(bh_ckpt_writer *w, const char *prefix, const bh_params *p) {
  char name[BH_CKPT_MAX_NAME + 2];
  for (int i = 0; i < p->n; i++) {
    const bh_tensor *t = p->t[i];
    int rc = join_name(name, sizeof name, prefix, p->names[i]);
    if (rc != BH_OK) return wfail(w, rc);
    if ((rc = bh_ckpt_add_tensor(w, name, t->ndim, t->shape, t->data)) != BH_OK) return rc;
  }
  return BH_OK;
}

typedef struct {
  bh_atomic_file af;
  uLong crc;
} ck_out;

static int put(ck_out *o, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t done = 0; done < n;) {
    size_t k = n - done < (1u << 30) ? n - done : (1u << 30);
    o->crc = crc32(o->crc, b + done, (uInt)k);
    done += k;
  }
  return bh_atomic_write(&o->af, p, n);
}

static int put_zeros(ck_out *o, size_t n) {
  static const unsigned char zeros[ALIGN];
  return put(o, zeros, n);
}

static size_t record_size(const wentry *e) {
  return RECORD_SIZE + 8 * (size_t)e->ndim + strlen(e->name) + 1;
}

static int write_table(ck_out *o, const bh_ckpt_writer *w, size_t data_offset) {
  size_t off = data_offset;
  int rc = BH_OK;
  for (int i = 0; i < w->n && rc == BH_OK; i++) {
    const wentry *e = &w->e[i];
    unsigned char r[RECORD_SIZE + 8 * BH_CKPT_MAX_DIMS];
    size_t nl = strlen(e->name);
    bh_le_put16(r, (uint16_t)e->kind);
    bh_le_put16(r + 2, (uint16_t)e->ndim);
    bh_le_put32(r + 4, (uint32_t)nl);
    bh_le_put64(r + 8, off);
    bh_le_put64(r + 16, e->nbytes);
    for (int d = 0; d < e->ndim; d++) bh_le_put64(r + RECORD_SIZE + 8 * d, (uint64_t)e->shape[d]);
    rc = put(o, r, RECORD_SIZE + 8 * (size_t)e->ndim);
    if (rc == BH_OK) rc = put(o, e->name, nl + 1); /* with its NUL */
    off = align_up(off + e->nbytes);
  }
  return rc;
}

int bh_ckpt_write(const bh_ckpt_writer *w, const char *path) {
  if (w->failed) return bh_error(w->failed, "%s: not written: %s", path, w->errmsg);
  /* layout first: the header holds the total size */
  size_t table_end = HEADER_SIZE;
  for (int i = 0; i < w->n; i++) table_end += record_size(&w->e[i]);
  size_t data_offset = align_up(table_end), data_end = data_offset;
  for (int i = 0; i < w->n; i++) data_end = align_up(data_end) + w->e[i].nbytes;
  uint64_t file_size = (uint64_t)data_end + TRAILER_SIZE;

  ck_out o = {.crc = crc32(0L, Z_NULL, 0)};
  int rc = bh_atomic_open(&o.af, path);
  if (rc != BH_OK) return rc;
  unsigned char h[HEADER_SIZE];
  memcpy(h, CKPT_MAGIC, 8);
  bh_le_put32(h + 8, BH_CKPT_VERSION);
  bh_le_put32(h + 12, (uint32_t)w->n);
  bh_le_put64(h + 16, file_size);
  bh_le_put64(h + 24, data_offset);
  rc = put(&o, h, sizeof h);
  if (rc == BH_OK) rc = write_table(&o, w, data_offset);
  if (rc == BH_OK) rc = put_zeros(&o, data_offset - table_end);
  size_t pos = data_offset;
  for (int i = 0; i < w->n && rc == BH_OK; i++) {
    rc = put_zeros(&o, align_up(pos) - pos);
    pos = align_up(pos);
    if (rc == BH_OK) rc = put(&o, w->e[i].data, w->e[i].nbytes);
    pos += w->e[i].nbytes;
  }
  if (rc == BH_OK) {
    unsigned char c[TRAILER_SIZE];
    bh_le_put32(c, (uint32_t)o.crc);
    rc = bh_atomic_write(&o.af, c, sizeof c);
  }
  if (rc != BH_OK) {
    bh_atomic_abort(&o.af);
    return rc;
  }
  return bh_atomic_commit(&o.af);
}

/* ======================================================================= reader */

typedef struct {
  const char *name; /* into the file buffer (NUL-terminated there) */
  int kind, ndim;
  int shape[BH_CKPT_MAX_DIMS];
  const unsigned char *data;
  size_t nbytes;
} rentry;

struct bh_ckpt {
  char *path;
  unsigned char *buf;
  size_t size;
  int n;
  rentry *e;
};

void bh_ckpt_free(bh_ckpt *ck) {
  if (!ck) return;
  free(ck->path);
  free(ck->buf);
  free(ck->e);
  free(ck);
}

static int ckfail(const char *path, const char *problem) {
  return bh_error(BH_EFORMAT, "checkpoint %s: %s", path, problem);
}

/* The whole file into a 64-byte aligned buffer: its size is what the disk holds, so no field
 * of a corrupt file can cause a larger allocation. */
static int slurp(bh_ckpt *ck) {
  FILE *f = fopen(ck->path, "rb");
  if (!f) return bh_error(BH_EIO, "checkpoint %s: cannot open: %s", ck->path, strerror(errno));
  struct stat st;
  int rc = BH_OK;
  if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
    rc = bh_error(BH_EIO, "checkpoint %s: cannot stat: %s", ck->path, strerror(errno));
  } else {
    ck->size = (size_t)st.st_size;
    ck->buf = aligned_alloc(ALIGN, align_up(ck->size ? ck->size : 1));
    if (!ck->buf)
      rc = bh_error(BH_ENOMEM, "checkpoint %s: out of memory for %zu bytes", ck->path, ck->size);
    else if (fread(ck->buf, 1, ck->size, f) != ck->size)
      rc = bh_error(BH_EIO, "checkpoint %s: read error", ck->path);
  }
  fclose(f);
  return rc;
}

/* Header checks, in the order that gives the most telling message. */
static int check_header(const bh_ckpt *ck) {
  char msg[160];
  const unsigned char *b = ck->buf;
  if (ck->size < 8 || memcmp(b, CKPT_MAGIC, 8) != 0)
    return ckfail(ck->path, ck->size < 8 ? "truncated (shorter than the magic string)"
                                         : "not a bhivae checkpoint (bad magic)");
  if (ck->size < HEADER_SIZE + TRAILER_SIZE) {
    snprintf(msg, sizeof msg, "truncated (%zu bytes, a checkpoint has at least %d)", ck->size,
             HEADER_SIZE + TRAILER_SIZE);
    return ckfail(ck->path, msg);
  }
  uint32_t version = bh_le_get32(b + 8);
  if (version != BH_CKPT_VERSION) {
    snprintf(msg, sizeof msg, "unsupported format version %" PRIu32 " (this build reads %d)",
             version, BH_CKPT_VERSION);
    return ckfail(ck->path, msg);
  }
  uint64_t declared = bh_le_get64(b + 16);
  if (declared != ck->size) {
    snprintf(msg, sizeof msg, "%s: file has %zu bytes, header says %" PRIu64,
             declared > ck->size ? "truncated" : "size mismatch", ck->size, declared);
    return ckfail(ck->path, msg);
  }
  uint32_t stored = bh_le_get32(b + ck->size - TRAILER_SIZE);
  uint32_t crc = 0;
  for (size_t done = 0, n = ck->size - TRAILER_SIZE; done < n;) {
    size_t k = n - done < (1u << 30) ? n - done : (1u << 30);
    crc = (uint32_t)crc32(crc, b + done, (uInt)k);
    done += k;
  }
  if (crc != stored) {
    snprintf(msg, sizeof msg,
             "CRC mismatch (stored %08" PRIx32 ", computed %08" PRIx32 "): the file is corrupted",
             stored, crc);
    return ckfail(ck->path, msg);
  }
  return BH_OK;
}

/* One table record at *pos (bounded by table_end); payload bounded by the data section. */
static int parse_record(bh_ckpt *ck, size_t *pos, size_t data_offset, rentry *e) {
  size_t table_end = data_offset;
  const unsigned char *r = ck->buf + *pos;
  size_t data_end = ck->size - TRAILER_SIZE;
  if (table_end - *pos < RECORD_SIZE) return ckfail(ck->path, "entry table truncated");
  e->kind = bh_le_get16(r);
  e->ndim = bh_le_get16(r + 2);
  uint32_t nl = bh_le_get32(r + 4);
  uint64_t off = bh_le_get64(r + 8), nbytes = bh_le_get64(r + 16);
  if (e->kind < BH_CKPT_TENSOR || e->kind > BH_CKPT_F64)
    return ckfail(ck->path, "unknown entry kind");
  if (e->ndim > BH_CKPT_MAX_DIMS || (e->kind != BH_CKPT_TENSOR && e->ndim != 0))
    return ckfail(ck->path, "bad dimension count in the entry table");
  if (nl == 0 || nl > BH_CKPT_MAX_NAME)
    return ckfail(ck->path, "bad name length in the entry table");
  size_t len = RECORD_SIZE + 8 * (size_t)e->ndim + nl + 1;
  if (table_end - *pos < len) return ckfail(ck->path, "entry table truncated");
  const char *name = (const char *)r + RECORD_SIZE + 8 * e->ndim;
  if (name[nl] != '\0' || memchr(name, '\0', nl)) return ckfail(ck->path, "bad entry name");
  if (off < data_offset || off % ALIGN || off > data_end || nbytes > data_end - off)
    return ckfail(ck->path, "entry data lies outside the data section");
  uint64_t count = 1;
  for (int d = 0; d < e->ndim; d++) {
    uint64_t dim = bh_le_get64(r + RECORD_SIZE + 8 * d);
    if (dim > INT_MAX || (dim && count > nbytes / dim)) return ckfail(ck->path, "bad tensor shape");
    e->shape[d] = (int)dim;
    count *= dim;
  }
  int size_ok = e->kind == BH_CKPT_TENSOR  ? count * sizeof(float) == nbytes
                : e->kind == BH_CKPT_BYTES ? 1
                                           : nbytes == 8;
  if (!size_ok) return ckfail(ck->path, "entry size does not match its kind or shape");
  e->name = name;
  e->data = ck->buf + off;
  e->nbytes = (size_t)nbytes;
  *pos += len;
  return BH_OK;
}

static int parse_table(bh_ckpt *ck) {
  uint32_t n = bh_le_get32(ck->buf + 12);
  uint64_t data_offset = bh_le_get64(ck->buf + 24);
  if (data_offset < HEADER_SIZE || data_offset > ck->size - TRAILER_SIZE || data_offset % ALIGN)
    return ckfail(ck->path, "bad data offset in the header");
  if (n > (data_offset - HEADER_SIZE) / (RECORD_SIZE + 2))
    return ckfail(ck->path, "entry count larger than the table can hold");
  ck->e = calloc(n ? n : 1, sizeof *ck->e);
  if (!ck->e) return bh_error(BH_ENOMEM, "checkpoint %s: out of memory", ck->path);
  size_t pos = HEADER_SIZE;
  for (uint32_t i = 0; i < n; i++) {
    int rc = parse_record(ck, &pos, (size_t)data_offset, &ck->e[i]);
    if (rc != BH_OK) return rc;
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(ck->e[j].name, ck->e[i].name) == 0)
        return ckfail(ck->path, "duplicate entry name");
    ck->n++;
  }
  return BH_OK;
}

bh_ckpt *bh_ckpt_read(const char *path) {
  bh_ckpt *ck = calloc(1, sizeof *ck);
  if (!ck || !(ck->path = strdup(path))) {
    free(ck);
    bh_error(BH_ENOMEM, "checkpoint %s: out of memory", path);
    return NULL;
  }
  if (slurp(ck) != BH_OK || check_header(ck) != BH_OK || parse_table(ck) != BH_OK) {
    bh_ckpt_free(ck);
    return NULL;
  }
  return ck;
}

int bh_ckpt_count(const bh_ckpt *ck) { return ck->n; }
const char *bh_ckpt_name(const bh_ckpt *ck, int i) {
  return i >= 0 && i < ck->n ? ck->e[i].name : NULL;
}
int bh_ckpt_kind(const bh_ckpt *ck, int i) { return i >= 0 && i < ck->n ? ck->e[i].kind : 0; }

/* The entry called `name` of the given kind; NULL with a message naming both otherwise. */
static const rentry *find(const bh_ckpt *ck, const char *name, int kind) {
  for (int i = 0; i < ck->n; i++) {
    if (strcmp(ck->e[i].name, name) != 0) continue;
    if (ck->e[i].kind == kind) return &ck->e[i];
    bh_error(BH_EINVAL, "checkpoint %s: entry '%s' has kind %s, wanted %s", ck->path, name,
             kind_name(ck->e[i].kind), kind_name(kind));
    return NULL;
  }
  bh_error(BH_EINVAL, "checkpoint %s: no %s '%s'", ck->path, kind_name(kind), name);
  return NULL;
}

const float *bh_ckpt_find_tensor(const bh_ckpt *ck, const char *name, int *ndim, int *shape) {
  const rentry *e = find(ck, name, BH_CKPT_TENSOR);
  if (!e) return NULL;
  if (ndim) *ndim = e->ndim;
  if (shape)
    for (int i = 0; i < e->ndim; i++) shape[i] = e->shape[i];
  return (const float *)e->data;
}

const void *bh_ckpt_find_bytes(const bh_ckpt *ck, const char *name, size_t *len) {
  const rentry *e = find(ck, name, BH_CKPT_BYTES);
  if (!e) return NULL;
  if (len) *len = e->nbytes;
  return e->data;
}

int bh_ckpt_find_i64(const bh_ckpt *ck, const char *name, int64_t *v) {
  const rentry *e = find(ck, name, BH_CKPT_I64);
  if (!e) return bh_error_code();
  *v = (int64_t)bh_le_get64(e->data);
  return BH_OK;
}

int bh_ckpt_find_f64(const bh_ckpt *ck, const char *name, double *v) {
  const rentry *e = find(ck, name, BH_CKPT_F64);
  if (!e) return bh_error_code();
  uint64_t u = bh_le_get64(e->data);
  memcpy(v, &u, 8);
  return BH_OK;
}

int bh_ckpt_load_params(const bh_ckpt *ck, const char *prefix, bh_params *p) {
  char name[BH_CKPT_MAX_NAME + 2], a[96], b[96];
  /* check everything before copying anything, so a mismatch leaves the group as it was */
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < p->n; i++) {
      bh_tensor *t = p->t[i];
      if (join_name(name, sizeof name, prefix, p->names[i]) != BH_OK) return BH_EINVAL;
      int ndim, shape[BH_CKPT_MAX_DIMS];
      const float *v = bh_ckpt_find_tensor(ck, name, &ndim, shape);
      if (!v) return bh_error(BH_EFORMAT, "checkpoint %s: tensor '%s' missing", ck->path, name);
      int same = ndim == t->ndim;
      for (int d = 0; same && d < ndim; d++) same = shape[d] == t->shape[d];
      if (!same)
        return bh_error(BH_EFORMAT, "checkpoint %s: tensor '%s' has shape %s, the model has %s",
                        ck->path, name, shape_str(ndim, shape, a, sizeof a),
                        shape_str(t->ndim, t->shape, b, sizeof b));
      if (pass == 1) memcpy(t->data, v, t->size * sizeof(float));
    }
  }
  return BH_OK;
}
