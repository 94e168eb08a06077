/* npy.c — numpy .npy reading (streamed) and writing; atomic file helper (see npy.h). */
#include "core/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c reads and writes little-endian data in place: a big-endian host needs byte swaps"
#endif

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
/* No legitimate header is anywhere near this; a larger length field means a corrupt file, and
 * refusing it avoids a huge allocation. */
#define NPY_HEADER_LIMIT (1u << 20)

/* ---- dtypes ---- */

static const struct {
  const char *descr;
  int dtype;
} DESCRS[] = {
    {"<f4", BH_DTYPE_F32}, {"<f8", BH_DTYPE_F64}, {"<i4", BH_DTYPE_I32}, {"<i8", BH_DTYPE_I64},
    {"|u1", BH_DTYPE_U8},  {"<u1", BH_DTYPE_U8},  {">u1", BH_DTYPE_U8},  {"|b1", BH_DTYPE_BOOL},
};

size_t bh_dtype_size(int dtype) {
  switch (dtype) {
    case BH_DTYPE_F32:
    case BH_DTYPE_I32:
      return 4;
    case BH_DTYPE_F64:
    case BH_DTYPE_I64:
      return 8;
    case BH_DTYPE_U8:
    case BH_DTYPE_BOOL:
      return 1;
    default:
      return 0;
  }
}

const char *bh_dtype_descr(int dtype) {
  /* the first table entry of each dtype is the spelling numpy writes */
  for (size_t i = 0; i < sizeof DESCRS / sizeof DESCRS[0]; i++)
    if (DESCRS[i].dtype == dtype) return DESCRS[i].descr;
  return "?";
}

void bh_dtype_to_f32(int dtype, const void *src, float *dst, size_t n) {
  switch (dtype) {
    case BH_DTYPE_F32:
      memcpy(dst, src, n * sizeof(float));
      break;
    case BH_DTYPE_F64: {
      const double *s = src;
      for (size_t i = 0; i < n; i++) dst[i] = (float)s[i];
      break;
    }
    case BH_DTYPE_I32: {
      const int32_t *s = src;
      for (size_t i = 0; i < n; i++) dst[i] = (float)s[i];
      break;
    }
    case BH_DTYPE_I64: {
      const int64_t *s = src;
      for (size_t i = 0; i < n; i++) dst[i] = (float)s[i];
      break;
    }
    case BH_DTYPE_U8:
    case BH_DTYPE_BOOL: {
      const uint8_t *s = src;
      for (size_t i = 0; i < n; i++) dst[i] = (float)s[i];
      break;
    }
    default:
      break;
  }
}

/* ---- arrays ---- */

/* count = product of shape, checked so that count × itemsize fits in size_t. */
static int shape_count(int ndim, const int64_t *shape, size_t itemsize, size_t *count) {
  size_t c = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return BH_EINVAL;
    uint64_t d = (uint64_t)shape[i];
    if (d && c > SIZE_MAX / itemsize / d) return BH_EINVAL;
    c *= (size_t)d;
  }
  *count = c;
  return BH_OK;
}

bh_array *bh_array_alloc(int dtype, int ndim, const int64_t *shape) {
  size_t isz = bh_dtype_size(dtype), count;
  if (!isz) {
    bh_error(BH_EINVAL, "array_alloc: unknown dtype %d", dtype);
    return NULL;
  }
  if (ndim < 0 || ndim > BH_NPY_MAX_DIMS) {
    bh_error(BH_EINVAL, "array_alloc: ndim %d outside 0..%d", ndim, BH_NPY_MAX_DIMS);
    return NULL;
  }
  if (shape_count(ndim, shape, isz, &count) != BH_OK) {
    bh_error(BH_EINVAL, "array_alloc: negative dimension or size overflow");
    return NULL;
  }
  bh_array *a = calloc(1, sizeof *a);
  /* calloc(0) may return NULL legitimately; ask for at least one element */
  void *data = calloc(count ? count : 1, isz);
  if (!a || !data) {
    free(a);
    free(data);
    bh_error(BH_ENOMEM, "array_alloc: out of memory for %zu elements of %s", count,
             bh_dtype_descr(dtype));
    return NULL;
  }
  a->dtype = dtype;
  a->ndim = ndim;
  for (int i = 0; i < ndim; i++) a->shape[i] = shape[i];
  a->count = count;
  a->data = data;
  return a;
}

void bh_array_free(bh_array *a) {
  if (!a) return;
  free(a->data);
  free(a);
}

size_t bh_array_bytes(const bh_array *a) { return a->count * bh_dtype_size(a->dtype); }

bh_array *bh_array_to_f32(const bh_array *a) {
  bh_array *r = bh_array_alloc(BH_DTYPE_F32, a->ndim, a->shape);
  if (r) bh_dtype_to_f32(a->dtype, a->data, r->data, a->count);
  return r;
}

/* ---- header dict parser ----
 * The header is a Python dict literal.  We accept exactly the three keys numpy writes, in any
 * order, with any whitespace, either quote style, and an optional trailing comma (numpy writes
 * one after the last item and inside 1-tuples). */

typedef struct {
  const char *start, *p, *end;
  const char *what;
} dict_parser;

static void dp_skip_ws(dict_parser *d) {
  while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r')) d->p++;
}

static int dp_fail(dict_parser *d, const char *problem) {
  return bh_error(BH_EFORMAT, "%s: bad npy header: %s (at dict offset %td)", d->what, problem,
                  d->p - d->start);
}

/* Does the next non-space char equal c?  Consumes it if so. */
static int dp_accept(dict_parser *d, char c) {
  dp_skip_ws(d);
  if (d->p < d->end && *d->p == c) {
    d->p++;
    return 1;
  }
  return 0;
}

/* A quoted string into out (at most cap-1 chars). */
static int dp_string(dict_parser *d, char *out, size_t cap) {
  dp_skip_ws(d);
  if (d->p >= d->end || (*d->p != '\'' && *d->p != '"')) return dp_fail(d, "expected a string");
  char q = *d->p++;
  size_t n = 0;
  while (d->p < d->end && *d->p != q) {
    if (n + 1 >= cap) return dp_fail(d, "string too long");
    out[n++] = *d->p++;
  }
  if (d->p >= d->end) return dp_fail(d, "unterminated string");
  d->p++;
  out[n] = '\0';
  return BH_OK;
}

static int dp_word(dict_parser *d, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(d->end - d->p) >= n && memcmp(d->p, w, n) == 0) {
    d->p += n;
    return 1;
  }
  return 0;
}

/* A shape tuple: "()", "(3,)", "(2, 3)", "(2, 3,)"; Python 2 numpy wrote "3L".  "(3)" (no
 * comma, an int in Python) is accepted too: its meaning is unambiguous. */
static int dp_shape(dict_parser *d, bh_npy_header *h) {
  if (!dp_accept(d, '(')) return dp_fail(d, "shape must be a tuple");
  h->ndim = 0;
  while (!dp_accept(d, ')')) {
    dp_skip_ws(d);
    if (d->p >= d->end || *d->p < '0' || *d->p > '9')
      return dp_fail(d, "shape entries must be non-negative integers");
    if (h->ndim == BH_NPY_MAX_DIMS) return dp_fail(d, "more than 8 dimensions");
    int64_t v = 0;
    while (d->p < d->end && *d->p >= '0' && *d->p <= '9') {
      if (v > (INT64_MAX - 9) / 10) return dp_fail(d, "shape entry too large");
      v = v * 10 + (*d->p++ - '0');
    }
    if (d->p < d->end && *d->p == 'L') d->p++;
    h->shape[h->ndim++] = v;
    if (dp_accept(d, ',')) continue;
    dp_skip_ws(d);
    if (d->p >= d->end || *d->p != ')') return dp_fail(d, "expected ',' or ')' in shape");
  }
  return BH_OK;
}

static int descr_to_dtype(const char *descr) {
  for (size_t i = 0; i < sizeof DESCRS / sizeof DESCRS[0]; i++)
    if (strcmp(DESCRS[i].descr, descr) == 0) return DESCRS[i].dtype;
  return 0;
}

int bh_npy_parse_dict(const char *text, size_t len, bh_npy_header *h, const char *what) {
  dict_parser d = {text, text, text + len, what};
  char key[32], descr[64] = "";
  int have_descr = 0, have_fortran = 0, have_shape = 0, fortran = 0, rc;
  if (!dp_accept(&d, '{')) return dp_fail(&d, "expected '{'");
  while (!dp_accept(&d, '}')) {
    if ((rc = dp_string(&d, key, sizeof key)) != BH_OK) return rc;
    if (!dp_accept(&d, ':')) return dp_fail(&d, "expected ':' after a key");
    dp_skip_ws(&d);
    if (strcmp(key, "descr") == 0 && !have_descr) {
      if (d.p < d.end && *d.p != '\'' && *d.p != '"')
        return dp_fail(&d, "descr is not a string (structured dtypes are not supported)");
      if ((rc = dp_string(&d, descr, sizeof descr)) != BH_OK) return rc;
      have_descr = 1;
    } else if (strcmp(key, "fortran_order") == 0 && !have_fortran) {
      if (dp_word(&d, "True"))
        fortran = 1;
      else if (!dp_word(&d, "False"))
        return dp_fail(&d, "fortran_order must be True or False");
      have_fortran = 1;
    } else if (strcmp(key, "shape") == 0 && !have_shape) {
      if ((rc = dp_shape(&d, h)) != BH_OK) return rc;
      have_shape = 1;
    } else {
      char msg[96];
      snprintf(msg, sizeof msg, "unexpected or repeated key '%s'", key);
      return dp_fail(&d, msg);
    }
    if (dp_accept(&d, ',')) continue;
    dp_skip_ws(&d);
    if (d.p >= d.end || *d.p != '}') return dp_fail(&d, "expected ',' or '}'");
  }
  dp_skip_ws(&d);
  if (d.p != d.end) return dp_fail(&d, "text after the closing '}'");
  if (!have_descr || !have_fortran || !have_shape)
    return bh_error(BH_EFORMAT, "%s: bad npy header: missing key '%s'", what,
                    !have_descr     ? "descr"
                    : !have_fortran ? "fortran_order"
                                    : "shape");
  h->dtype = descr_to_dtype(descr);
  if (!h->dtype)
    return bh_error(BH_EFORMAT,
                    "%s: unsupported npy dtype '%s' (supported: <f4 <f8 <i4 <i8 |u1 |b1)", what,
                    descr);
  /* up to one dimension both orders are the same bytes */
  if (fortran && h->ndim > 1)
    return bh_error(BH_EFORMAT,
                    "%s: fortran_order arrays are not supported (save with C order, e.g. "
                    "np.ascontiguousarray)",
                    what);
  size_t isz = bh_dtype_size(h->dtype);
  if (shape_count(h->ndim, h->shape, isz, &h->count) != BH_OK)
    return bh_error(BH_EFORMAT, "%s: npy shape too large", what);
  h->data_bytes = (uint64_t)h->count * isz;
  return BH_OK;
}

/* ---- header writer ---- */

size_t bh_npy_header_encode(int dtype, int ndim, const int64_t *shape, int version, char *buf,
                            size_t cap) {
  if (!bh_dtype_size(dtype) || ndim < 0 || ndim > BH_NPY_MAX_DIMS || version < 0 || version > 2) {
    bh_error(BH_EINVAL, "npy_header_encode: bad dtype %d, ndim %d or version %d", dtype, ndim,
             version);
    return 0;
  }
  char dict[512];
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                   bh_dtype_descr(dtype));
  for (int i = 0; i < ndim; i++)
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%" PRId64, i ? ", " : "", shape[i]);
  n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", ndim == 1 ? "," : "");
  size_t dlen = (size_t)n;
  if (version == 0) version = 10 + dlen + 1 + 63 <= 65535 ? 1 : 2;
  size_t fixed = version == 1 ? 10 : 12;
  /* numpy pads with spaces so that the data starts at a multiple of 64, then ends with '\n' */
  size_t total = (fixed + dlen + 1 + 63) / 64 * 64;
  if (total > cap || (version == 1 && total - fixed > 65535)) {
    bh_error(BH_EINVAL, "npy_header_encode: header of %zu bytes does not fit", total);
    return 0;
  }
  size_t hlen = total - fixed;
  memcpy(buf, NPY_MAGIC, 6);
  buf[6] = (char)version;
  buf[7] = 0;
  if (version == 1)
    bh_le_put16((unsigned char *)buf + 8, (uint16_t)hlen);
  else
    bh_le_put32((unsigned char *)buf + 8, (uint32_t)hlen);
  memcpy(buf + fixed, dict, dlen);
  memset(buf + fixed + dlen, ' ', hlen - dlen - 1);
  buf[total - 1] = '\n';
  return total;
}

/* ---- streaming reader ---- */

struct bh_npy_stream {
  bh_read_fn read;
  bh_close_fn close;
  void *user;
  bh_npy_header h;
  uint64_t remaining;
  char what[256];
};

/* Read until n bytes or the end of the source; returns the count or -1. */
static int64_t read_full(bh_npy_stream *s, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    int64_t r = s->read(s->user, (char *)buf + got, n - got);
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (int64_t)got;
}

static int stream_header(bh_npy_stream *s) {
  unsigned char pre[12];
  int64_t r = read_full(s, pre, 8);
  if (r < 0) return bh_error_code();
  if (r < 8 || memcmp(pre, NPY_MAGIC, 6) != 0)
    return bh_error(BH_EFORMAT, "%s: not an npy file (bad magic)%s", s->what,
                    r < 8 ? " or truncated" : "");
  int major = pre[6], minor = pre[7];
  if (major < 1 || major > 3 || minor != 0)
    return bh_error(BH_EFORMAT, "%s: unsupported npy format version %d.%d (need 1.0, 2.0, 3.0)",
                    s->what, major, minor);
  size_t lsize = major == 1 ? 2 : 4;
  if ((r = read_full(s, pre + 8, lsize)) < 0) return bh_error_code();
  if ((size_t)r < lsize) return bh_error(BH_EFORMAT, "%s: truncated npy header", s->what);
  uint32_t hlen = major == 1 ? bh_le_get16(pre + 8) : bh_le_get32(pre + 8);
  if (hlen > NPY_HEADER_LIMIT)
    return bh_error(BH_EFORMAT, "%s: npy header length %u is implausible (corrupt file?)", s->what,
                    hlen);
  char *text = malloc(hlen ? hlen : 1);
  if (!text) return bh_error(BH_ENOMEM, "%s: out of memory for the npy header", s->what);
  r = read_full(s, text, hlen);
  int rc = r < 0                ? bh_error_code()
           : (uint32_t)r < hlen ? bh_error(BH_EFORMAT, "%s: truncated npy header", s->what)
                                : bh_npy_parse_dict(text, hlen, &s->h, s->what);
  free(text);
  if (rc != BH_OK) return rc;
  s->h.version = major;
  s->h.preamble = 8 + lsize + hlen;
  s->remaining = s->h.data_bytes;
  return BH_OK;
}

bh_npy_stream *bh_npy_stream_open(bh_read_fn read, bh_close_fn close_fn, void *user,
                                  const char *what) {
  bh_npy_stream *s = calloc(1, sizeof *s);
  if (!s) {
    bh_error(BH_ENOMEM, "%s: out of memory", what);
    if (close_fn) close_fn(user);
    return NULL;
  }
  s->read = read;
  s->close = close_fn;
  s->user = user;
  snprintf(s->what, sizeof s->what, "%s", what);
  if (stream_header(s) != BH_OK) {
    bh_npy_stream_close(s);
    return NULL;
  }
  return s;
}

const bh_npy_header *bh_npy_stream_header(const bh_npy_stream *s) { return &s->h; }
uint64_t bh_npy_stream_remaining(const bh_npy_stream *s) { return s->remaining; }

int bh_npy_stream_read(bh_npy_stream *s, void *buf, size_t n) {
  if (n > s->remaining)
    return bh_error(BH_EINVAL, "%s: asked for %zu bytes, only %" PRIu64 " remain", s->what, n,
                    s->remaining);
  int64_t r = read_full(s, buf, n);
  if (r < 0) return bh_error_code();
  if ((size_t)r < n)
    return bh_error(BH_EFORMAT, "%s: truncated npy data (%" PRIu64 " of %" PRIu64 " bytes)",
                    s->what, s->h.data_bytes - s->remaining + (uint64_t)r, s->h.data_bytes);
  s->remaining -= n;
  return BH_OK;
}

bh_array *bh_npy_stream_read_array(bh_npy_stream *s) {
  /* The header's size is only a claim until the bytes arrive: a 148-byte file may declare
   * 6 GB (found by fuzz/fuzz-npy).  So the array starts with a zero-element buffer that grows
   * by doubling, from at most 64 MiB, as data is read: memory never runs ahead of the data by
   * more than 2×. */
  int64_t none[BH_NPY_MAX_DIMS] = {0};
  bh_array *a = bh_array_alloc(s->h.dtype, 1, none);
  if (!a) return NULL;
  uint64_t total = s->h.data_bytes, got = 0, cap = 0;
  const uint64_t first = (uint64_t)64 << 20, chunk = (uint64_t)1 << 24;
  while (s->remaining) {
    if (got == cap) {
      uint64_t want = cap ? 2 * cap : first;
      if (want > total) want = total;
      char *grown = realloc(a->data, (size_t)want);
      if (!grown) {
        bh_error(BH_ENOMEM, "%s: out of memory reading %" PRIu64 " bytes of npy data", s->what,
                 total);
        bh_array_free(a);
        return NULL;
      }
      a->data = grown;
      cap = want;
    }
    /* chunked so that a zip member's CRC and inflate state are exercised the same way as by a
     * streaming caller */
    uint64_t n = s->remaining;
    if (n > cap - got) n = cap - got;
    if (n > chunk) n = chunk;
    if (bh_npy_stream_read(s, (char *)a->data + got, (size_t)n) != BH_OK) {
      bh_array_free(a);
      return NULL;
    }
    got += n;
  }
  a->ndim = s->h.ndim;
  for (int i = 0; i < BH_NPY_MAX_DIMS; i++) a->shape[i] = i < s->h.ndim ? s->h.shape[i] : 0;
  a->count = bh_dtype_size(s->h.dtype) ? (size_t)(total / bh_dtype_size(s->h.dtype)) : 0;
  char extra;
  int64_t r = read_full(s, &extra, 1);
  if (r != 0) {
    if (r > 0) bh_error(BH_EFORMAT, "%s: trailing bytes after the npy data", s->what);
    bh_array_free(a);
    return NULL;
  }
  return a;
}

void bh_npy_stream_close(bh_npy_stream *s) {
  if (!s) return;
  if (s->close) s->close(s->user);
  free(s);
}

/* File source. */
typedef struct {
  FILE *f;
  char *path;
} file_src;

static int64_t file_read(void *user, void *buf, size_t n) {
  file_src *fs = user;
  size_t r = fread(buf, 1, n, fs->f);
  if (r < n && ferror(fs->f)) {
    bh_error(BH_EIO, "%s: read error: %s", fs->path, strerror(errno));
    return -1;
  }
  return (int64_t)r;
}

static void file_close(void *user) {
  file_src *fs = user;
  fclose(fs->f);
  free(fs->path);
  free(fs);
}

bh_npy_stream *bh_npy_stream_open_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    bh_error(BH_EIO, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  file_src *fs = malloc(sizeof *fs);
  char *p = strdup(path);
  if (!fs || !p) {
    fclose(f);
    free(fs);
    free(p);
    bh_error(BH_ENOMEM, "%s: out of memory", path);
    return NULL;
  }
  fs->f = f;
  fs->path = p;
  return bh_npy_stream_open(file_read, file_close, fs, path);
}

/* Memory source. */
typedef struct {
  const unsigned char *p;
  size_t left;
} mem_src;

static int64_t mem_read(void *user, void *buf, size_t n) {
  mem_src *m = user;
  if (n > m->left) n = m->left;
  memcpy(buf, m->p, n);
  m->p += n;
  m->left -= n;
  return (int64_t)n;
}

bh_npy_stream *bh_npy_stream_open_mem(const void *buf, size_t len, const char *what) {
  mem_src *m = malloc(sizeof *m);
  if (!m) {
    bh_error(BH_ENOMEM, "%s: out of memory", what);
    return NULL;
  }
  m->p = buf;
  m->left = len;
  return bh_npy_stream_open(mem_read, free, m, what);
}

/* ---- whole arrays ---- */

static bh_array *read_and_close(bh_npy_stream *s) {
  if (!s) return NULL;
  bh_array *a = bh_npy_stream_read_array(s);
  bh_npy_stream_close(s);
  return a;
}

bh_array *bh_npy_read(const char *path) { return read_and_close(bh_npy_stream_open_file(path)); }

bh_array *bh_npy_read_mem(const void *buf, size_t len, const char *what) {
  return read_and_close(bh_npy_stream_open_mem(buf, len, what));
}

int bh_npy_write(const char *path, const bh_array *a, int version) {
  char hdr[BH_NPY_HEADER_MAX];
  size_t hl = bh_npy_header_encode(a->dtype, a->ndim, a->shape, version, hdr, sizeof hdr);
  if (!hl) return bh_error_code();
  bh_atomic_file af;
  int rc = bh_atomic_open(&af, path);
  if (rc != BH_OK) return rc;
  if ((rc = bh_atomic_write(&af, hdr, hl)) != BH_OK ||
      (rc = bh_atomic_write(&af, a->data, bh_array_bytes(a))) != BH_OK) {
    bh_atomic_abort(&af);
    return rc;
  }
  return bh_atomic_commit(&af);
}

/* ---- atomic files ---- */

int bh_atomic_open(bh_atomic_file *af, const char *path) {
  memset(af, 0, sizeof *af);
  size_t n = strlen(path);
  af->path = strdup(path);
  af->tmp = malloc(n + 5);
  if (!af->path || !af->tmp) {
    bh_atomic_abort(af);
    return bh_error(BH_ENOMEM, "%s: out of memory", path);
  }
  memcpy(af->tmp, path, n);
  memcpy(af->tmp + n, ".tmp", 5);
  af->f = fopen(af->tmp, "wb");
  if (!af->f) {
    int e = errno;
    bh_atomic_abort(af);
    return bh_error(BH_EIO, "%s: cannot create %s.tmp: %s", path, path, strerror(e));
  }
  return BH_OK;
}

int bh_atomic_write(bh_atomic_file *af, const void *buf, size_t n) {
  if (n && fwrite(buf, 1, n, af->f) != n)
    return bh_error(BH_EIO, "%s: write failed: %s", af->path, strerror(errno));
  return BH_OK;
}

/* Make the rename itself durable; failure here loses nothing already written, so ignore it. */
static void fsync_parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  if (!dir) return;
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(dir);
}

int bh_atomic_commit(bh_atomic_file *af) {
  int e = 0;
  if (fflush(af->f) != 0 || ferror(af->f)) e = errno ? errno : EIO;
  if (!e && fsync(fileno(af->f)) != 0) e = errno;
  if (fclose(af->f) != 0 && !e) e = errno;
  af->f = NULL;
  if (!e && rename(af->tmp, af->path) != 0) e = errno;
  if (e) {
    bh_error(BH_EIO, "%s: write failed: %s", af->path, strerror(e));
    bh_atomic_abort(af);
    return BH_EIO;
  }
  fsync_parent_dir(af->path);
  free(af->path);
  free(af->tmp);
  af->path = af->tmp = NULL;
  return BH_OK;
}

void bh_atomic_abort(bh_atomic_file *af) {
  if (af->f) fclose(af->f);
  if (af->tmp) unlink(af->tmp);
  free(af->path);
  free(af->tmp);
  memset(af, 0, sizeof *af);
}
