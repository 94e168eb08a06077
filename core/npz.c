/* npz.c — ZIP archives of .npy members: reader with on-the-fly inflate, writer (see npz.h).
 *
 * Field layouts follow the PKWARE APPNOTE; offsets in the comments are from each record's
 * signature.  All integers are little-endian.
 */
#include "core/npz.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define LOCAL_SIZE 30
#define CENTRAL_SIZE 46
#define EOCD_SIZE 22
#define LOCATOR64_SIZE 20
#define EOCD64_SIZE 56
#define MAX_COMMENT 65535
#define SENTINEL32 0xffffffffu /* "the real value is in the ZIP64 extra field" */
#define SENTINEL16 0xffffu
#define ZIP64_EXTRA_ID 0x0001
#define FLAG_ENCRYPTED 0x0001u
#define FLAG_DESCRIPTOR 0x0008u /* sizes and CRC follow the data; local fields are zero */
#define METHOD_STORED 0
#define METHOD_DEFLATE 8
#define DOS_DATE_1980 0x0021 /* 1980-01-01: a fixed stamp keeps archives reproducible */
#define IO_CHUNK (1u << 16)
#define MAX_STEP (1u << 30) /* zlib counts in uInt: feed it at most this much per call */

/* ======================================================================= reader */

struct bh_npz {
  int fd;
  char *path;
  uint64_t file_size;
  uint64_t cd_offset; /* member data must end before the central directory */
  int n;
  bh_npz_member *m;
};

/* Exactly n bytes at off; a short read means the archive is shorter than its records say. */
static int read_at(const bh_npz *z, void *buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(z->fd, (char *)buf + got, n - got, (off_t)(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return bh_error(BH_EIO, "%s: read error: %s", z->path, strerror(errno));
    if (r == 0)
      return bh_error(BH_EFORMAT, "%s: truncated archive (nothing at offset %" PRIu64 ")", z->path,
                      off + got);
    got += (size_t)r;
  }
  return BH_OK;
}

static int zfail(const bh_npz *z, const char *problem) {
  return bh_error(BH_EFORMAT, "%s: %s", z->path, problem);
}

/* Replace the fields holding SENTINEL32 by the values of the ZIP64 extra field, which lists
 * them in the fixed order size, csize, offset (each only when its field is a sentinel).  A
 * local header carries both sizes whenever either is a sentinel (APPNOTE 4.5.3). */
static int apply_zip64_extra(const unsigned char *ex, size_t len, int local, uint64_t *size,
                             uint64_t *csize, uint64_t *offset) {
  while (len >= 4) {
    size_t id = bh_le_get16(ex), sz = bh_le_get16(ex + 2);
    if (sz > len - 4) return BH_EFORMAT;
    if (id == ZIP64_EXTRA_ID) {
      int both = local && (*size == SENTINEL32 || *csize == SENTINEL32);
      uint64_t *field[3] = {size, csize, offset};
      const unsigned char *p = ex + 4;
      for (int i = 0; i < 3; i++) {
        if (!field[i] || !(*field[i] == SENTINEL32 || (both && i < 2))) continue;
        if (p + 8 > ex + 4 + sz) return BH_EFORMAT;
        *field[i] = bh_le_get64(p);
        p += 8;
      }
      return BH_OK;
    }
    ex += 4 + sz;
    len -= 4 + sz;
  }
  return BH_OK;
}

typedef struct {
  uint64_t entries, cd_size, cd_offset;
  uint64_t dir_end; /* where the records after the central directory begin */
} zip_tail;

/* The ZIP64 end record, found through the locator that sits right before the end record. */
static int read_zip64_end(bh_npz *z, uint64_t eocd_at, zip_tail *t) {
  unsigned char loc[LOCATOR64_SIZE], rec[EOCD64_SIZE];
  if (eocd_at < LOCATOR64_SIZE) return BH_OK;
  int rc = read_at(z, loc, sizeof loc, eocd_at - LOCATOR64_SIZE);
  if (rc != BH_OK) return rc;
  if (bh_le_get32(loc) != SIG_LOCATOR64) return BH_OK;
  uint64_t at = bh_le_get64(loc + 8);
  if (bh_le_get32(loc + 16) > 1) return zfail(z, "multi-disk archives are not supported");
  if (at > eocd_at - LOCATOR64_SIZE || eocd_at - LOCATOR64_SIZE - at < EOCD64_SIZE)
    return zfail(z, "ZIP64 locator points outside the file (corrupt archive)");
  if ((rc = read_at(z, rec, sizeof rec, at)) != BH_OK) return rc;
  if (bh_le_get32(rec) != SIG_EOCD64)
    return zfail(z, "bad ZIP64 end-of-directory record (corrupt archive)");
  if (bh_le_get32(rec + 16) != 0 || bh_le_get32(rec + 20) != 0 ||
      bh_le_get64(rec + 24) != bh_le_get64(rec + 32))
    return zfail(z, "multi-disk archives are not supported");
  t->entries = bh_le_get64(rec + 32);
  t->cd_size = bh_le_get64(rec + 40);
  t->cd_offset = bh_le_get64(rec + 48);
  t->dir_end = at;
  return BH_OK;
}

/* Scan back from the end for the end-of-central-directory record (it may be followed by a
 * comment of up to 64 KiB, whose length must reach exactly to the end of the file). */
static int read_tail(bh_npz *z, zip_tail *t) {
  if (z->file_size < EOCD_SIZE) return zfail(z, "not a zip archive (too short; truncated?)");
  size_t tail =
      z->file_size < EOCD_SIZE + MAX_COMMENT ? (size_t)z->file_size : EOCD_SIZE + MAX_COMMENT;
  unsigned char *buf = malloc(tail);
  if (!buf) return bh_error(BH_ENOMEM, "%s: out of memory", z->path);
  int rc = read_at(z, buf, tail, z->file_size - tail);
  size_t i = tail - EOCD_SIZE + 1;
  while (rc == BH_OK && i-- > 0)
    if (bh_le_get32(buf + i) == SIG_EOCD && i + EOCD_SIZE + bh_le_get16(buf + i + 20) == tail)
      break;
  if (rc != BH_OK || i == (size_t)-1) {
    free(buf);
    return rc != BH_OK ? rc
                       : zfail(z,
                               "no end-of-central-directory record (not a zip archive, "
                               "or truncated)");
  }
  const unsigned char *e = buf + i;
  uint64_t eocd_at = z->file_size - tail + i;
  int multi = bh_le_get16(e + 4) != 0 || bh_le_get16(e + 6) != 0 ||
              bh_le_get16(e + 8) != bh_le_get16(e + 10);
  t->entries = bh_le_get16(e + 10);
  t->cd_size = bh_le_get32(e + 12);
  t->cd_offset = bh_le_get32(e + 16);
  t->dir_end = eocd_at;
  free(buf);
  /* a ZIP64 end record, when present, is authoritative (the 32-bit fields may be sentinels) */
  if ((rc = read_zip64_end(z, eocd_at, t)) != BH_OK) return rc;
  if (multi && t->dir_end == eocd_at) return zfail(z, "multi-disk archives are not supported");
  if (t->cd_offset > t->dir_end || t->cd_size != t->dir_end - t->cd_offset)
    return zfail(z,
                 "central directory does not end where the end record begins (corrupt or "
                 "truncated archive)");
  if (t->entries > t->cd_size / CENTRAL_SIZE)
    return zfail(z, "entry count larger than the central directory can hold (corrupt archive)");
  return BH_OK;
}

static int parse_central(bh_npz *z, const unsigned char *cd, const zip_tail *t) {
  z->m = calloc(t->entries ? t->entries : 1, sizeof *z->m);
  if (!z->m) return bh_error(BH_ENOMEM, "%s: out of memory", z->path);
  const unsigned char *p = cd, *end = cd + t->cd_size;
  for (uint64_t k = 0; k < t->entries; k++) {
    if (end - p < CENTRAL_SIZE || bh_le_get32(p) != SIG_CENTRAL)
      return zfail(z, "bad central directory entry (corrupt archive)");
    size_t nl = bh_le_get16(p + 28), el = bh_le_get16(p + 30), cl = bh_le_get16(p + 32);
    if ((size_t)(end - p) < CENTRAL_SIZE + nl + el + cl)
      return zfail(z, "central directory entry runs past the directory (corrupt archive)");
    bh_npz_member *m = &z->m[z->n];
    m->flags = bh_le_get16(p + 8);
    m->method = bh_le_get16(p + 10);
    m->crc = bh_le_get32(p + 16);
    m->csize = bh_le_get32(p + 20);
    m->size = bh_le_get32(p + 24);
    m->local_offset = bh_le_get32(p + 42);
    m->name = strndup((const char *)p + CENTRAL_SIZE, nl);
    if (!m->name) return bh_error(BH_ENOMEM, "%s: out of memory", z->path);
    z->n++;
    if (apply_zip64_extra(p + CENTRAL_SIZE + nl, el, 0, &m->size, &m->csize, &m->local_offset) !=
        BH_OK)
      return zfail(z, "malformed ZIP64 extra field in the central directory");
    p += CENTRAL_SIZE + nl + el + cl;
  }
  return BH_OK;
}

bh_npz *bh_npz_open(const char *path) {
  bh_npz *z = calloc(1, sizeof *z);
  if (!z || !(z->path = strdup(path))) {
    free(z);
    bh_error(BH_ENOMEM, "%s: out of memory", path);
    return NULL;
  }
  z->fd = open(path, O_RDONLY);
  struct stat st;
  if (z->fd < 0 || fstat(z->fd, &st) != 0) {
    bh_error(BH_EIO, "%s: cannot open: %s", path, strerror(errno));
    bh_npz_close(z);
    return NULL;
  }
  z->file_size = (uint64_t)st.st_size;
  zip_tail t = {0, 0, 0, 0};
  unsigned char *cd = NULL;
  int rc = read_tail(z, &t);
  if (rc == BH_OK) {
    /* bounded by the file size (checked in read_tail): a corrupt field cannot ask for more */
    cd = malloc(t.cd_size ? t.cd_size : 1);
    rc = cd ? read_at(z, cd, t.cd_size, t.cd_offset)
            : bh_error(BH_ENOMEM, "%s: out of memory", path);
  }
  if (rc == BH_OK) rc = parse_central(z, cd, &t);
  free(cd);
  if (rc != BH_OK) {
    bh_npz_close(z);
    return NULL;
  }
  z->cd_offset = t.cd_offset;
  return z;
}

void bh_npz_close(bh_npz *z) {
  if (!z) return;
  if (z->fd >= 0) close(z->fd);
  for (int i = 0; i < z->n; i++) free(z->m[i].name);
  free(z->m);
  free(z->path);
  free(z);
}

int bh_npz_count(const bh_npz *z) { return z->n; }

const bh_npz_member *bh_npz_member_at(const bh_npz *z, int i) {
  return i >= 0 && i < z->n ? &z->m[i] : NULL;
}

int bh_npz_find(const bh_npz *z, const char *name) {
  size_t nl = strlen(name);
  for (int i = 0; i < z->n; i++) {
    const char *m = z->m[i].name;
    if (strcmp(m, name) == 0) return i;
    if (strncmp(m, name, nl) == 0 && strcmp(m + nl, ".npy") == 0) return i;
  }
  char list[256] = "";
  size_t used = 0;
  for (int i = 0; i < z->n && used < sizeof list - 1; i++)
    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", z->m[i].name);
  bh_error(BH_EINVAL, "%s: no member '%s' (members: %s)", z->path, name, z->n ? list : "none");
  return -1;
}

/* ---- member streams ---- */

struct bh_npz_reader {
  bh_npz *z;
  const bh_npz_member *m;
  uint64_t in_pos;    /* file offset of the next compressed byte */
  uint64_t in_left;   /* compressed bytes not yet fed */
  uint64_t out_total; /* uncompressed bytes delivered */
  uint32_t crc;
  int failed, verified, stream_end, inflating;
  z_stream zs;
  unsigned char *inbuf;
};

static int64_t rfail(bh_npz_reader *r, const char *problem) {
  r->failed = 1;
  bh_error(BH_EFORMAT, "%s: member '%s': %s", r->z->path, r->m->name, problem);
  return -1;
}

/* Check the local header against the central directory and locate the data. */
static int locate_data(bh_npz *z, const bh_npz_member *m, uint64_t *data_at) {
  unsigned char h[LOCAL_SIZE];
  char msg[160];
  int rc = read_at(z, h, sizeof h, m->local_offset);
  if (rc != BH_OK) return rc;
  size_t nl = bh_le_get16(h + 26), el = bh_le_get16(h + 28);
  unsigned char *ne = malloc(nl + el + 1);
  if (!ne) return bh_error(BH_ENOMEM, "%s: out of memory", z->path);
  rc = read_at(z, ne, nl + el, m->local_offset + LOCAL_SIZE);
  if (rc == BH_OK) {
    unsigned flags = bh_le_get16(h + 6);
    uint64_t crc = bh_le_get32(h + 14), csize = bh_le_get32(h + 18), size = bh_le_get32(h + 22);
    const char *bad = NULL;
    if (bh_le_get32(h) != SIG_LOCAL)
      bad = "no local header where the central directory points";
    else if (nl != strlen(m->name) || memcmp(ne, m->name, nl) != 0)
      bad = "local header name differs from the central directory";
    else if (bh_le_get16(h + 8) != m->method)
      bad = "local header method differs from the central directory";
    else if (apply_zip64_extra(ne + nl, el, 1, &size, &csize, NULL) != BH_OK)
      bad = "malformed ZIP64 extra field in the local header";
    else if (!(flags & FLAG_DESCRIPTOR) && (crc != m->crc || csize != m->csize || size != m->size))
      bad = "local header sizes/CRC differ from the central directory";
    if (bad) {
      snprintf(msg, sizeof msg, "member '%s': %s (corrupt archive)", m->name, bad);
      rc = zfail(z, msg);
    }
  }
  free(ne);
  if (rc != BH_OK) return rc;
  *data_at = m->local_offset + LOCAL_SIZE + nl + el;
  if (*data_at > z->cd_offset || m->csize > z->cd_offset - *data_at) {
    snprintf(msg, sizeof msg, "member '%s': data runs into the central directory (corrupt)",
             m->name);
    return zfail(z, msg);
  }
  return BH_OK;
}

bh_npz_reader *bh_npz_reader_open(bh_npz *z, int i) {
  const bh_npz_member *m = bh_npz_member_at(z, i);
  char msg[160];
  uint64_t data_at = 0;
  if (!m) {
    bh_error(BH_EINVAL, "%s: no member #%d", z->path, i);
    return NULL;
  }
  if (m->flags & FLAG_ENCRYPTED) {
    snprintf(msg, sizeof msg, "member '%s' is encrypted (not supported)", m->name);
    zfail(z, msg);
    return NULL;
  }
  if (m->method != METHOD_STORED && m->method != METHOD_DEFLATE) {
    snprintf(msg, sizeof msg, "member '%s' uses compression method %d (only stored and deflate)",
             m->name, m->method);
    zfail(z, msg);
    return NULL;
  }
  if (m->method == METHOD_STORED && m->csize != m->size) {
    snprintf(msg, sizeof msg, "stored member '%s' has differing sizes (corrupt)", m->name);
    zfail(z, msg);
    return NULL;
  }
  if (locate_data(z, m, &data_at) != BH_OK) return NULL;
  bh_npz_reader *r = calloc(1, sizeof *r);
  if (!r) {
    bh_error(BH_ENOMEM, "%s: out of memory", z->path);
    return NULL;
  }
  r->z = z;
  r->m = m;
  r->in_pos = data_at;
  r->in_left = m->csize;
  r->crc = (uint32_t)crc32(0L, Z_NULL, 0);
  if (m->method == METHOD_DEFLATE) {
    r->inbuf = malloc(IO_CHUNK);
    /* windowBits -15: raw deflate, no zlib header or trailer (ZIP keeps its own CRC) */
    if (!r->inbuf || inflateInit2(&r->zs, -15) != Z_OK) {
      free(r->inbuf);
      free(r);
      bh_error(BH_ENOMEM, "%s: cannot start inflate", z->path);
      return NULL;
    }
    r->inflating = 1;
  }
  return r;
}

/* Inflate up to n bytes into buf; returns the count (fewer when the deflate stream ends). */
static int64_t inflate_some(bh_npz_reader *r, void *buf, size_t n) {
  r->zs.next_out = buf;
  r->zs.avail_out = (uInt)n;
  while (r->zs.avail_out > 0 && !r->stream_end) {
    if (r->zs.avail_in == 0 && r->in_left > 0) {
      size_t k = r->in_left < IO_CHUNK ? (size_t)r->in_left : IO_CHUNK;
      if (read_at(r->z, r->inbuf, k, r->in_pos) != BH_OK) {
        r->failed = 1;
        return -1;
      }
      r->in_pos += k;
      r->in_left -= k;
      r->zs.next_in = r->inbuf;
      r->zs.avail_in = (uInt)k;
    }
    int ret = inflate(&r->zs, Z_NO_FLUSH);
    if (ret == Z_STREAM_END)
      r->stream_end = 1;
    else if (ret == Z_BUF_ERROR && r->zs.avail_in == 0 && r->in_left == 0)
      return rfail(r, "compressed data ends early (truncated)");
    else if (ret != Z_OK && ret != Z_BUF_ERROR) {
      char msg[160];
      snprintf(msg, sizeof msg, "corrupt deflate data (%s)", r->zs.msg ? r->zs.msg : "?");
      return rfail(r, msg);
    }
  }
  return (int64_t)(n - r->zs.avail_out);
}

/* After the last declared byte: the deflate stream must end here and the CRC must match. */
static int reader_verify(bh_npz_reader *r) {
  if (r->verified) return BH_OK;
  if (r->inflating && !r->stream_end) {
    unsigned char extra;
    int64_t k = inflate_some(r, &extra, 1);
    if (k < 0) return BH_EFORMAT;
    if (k > 0) {
      rfail(r, "holds more data than its declared size");
      return BH_EFORMAT;
    }
  }
  uint32_t crc = r->crc;
  if (crc != r->m->crc) {
    char msg[96];
    snprintf(msg, sizeof msg,
             "CRC mismatch (archive says %08" PRIx32 ", data gives %08" PRIx32 "): corrupt",
             r->m->crc, crc);
    rfail(r, msg);
    return BH_EFORMAT;
  }
  r->verified = 1;
  return BH_OK;
}

int64_t bh_npz_reader_read(bh_npz_reader *r, void *buf, size_t n) {
  if (r->failed) return -1;
  uint64_t left = r->m->size - r->out_total;
  if (left == 0) return reader_verify(r) == BH_OK ? 0 : -1;
  if (n > left) n = (size_t)left;
  if (n > MAX_STEP) n = MAX_STEP;
  int64_t got;
  if (r->inflating) {
    if ((got = inflate_some(r, buf, n)) < 0) return -1;
    if ((size_t)got < n) return rfail(r, "deflate stream ends before the declared size");
  } else {
    if (read_at(r->z, buf, n, r->in_pos) != BH_OK) {
      r->failed = 1;
      return -1;
    }
    r->in_pos += n;
    got = (int64_t)n;
  }
  r->crc = (uint32_t)crc32(r->crc, buf, (uInt)got);
  r->out_total += (uint64_t)got;
  /* verify on the read that completes the member: a caller reading exactly the declared size
   * never comes back for the final 0 */
  if (r->out_total == r->m->size && reader_verify(r) != BH_OK) return -1;
  return got;
}

void bh_npz_reader_close(bh_npz_reader *r) {
  if (!r) return;
  if (r->inflating) inflateEnd(&r->zs);
  free(r->inbuf);
  free(r);
}

static int64_t reader_read_cb(void *user, void *buf, size_t n) {
  return bh_npz_reader_read(user, buf, n);
}
static void reader_close_cb(void *user) { bh_npz_reader_close(user); }

bh_npy_stream *bh_npz_open_npy(bh_npz *z, const char *name) {
  int i = bh_npz_find(z, name);
  if (i < 0) return NULL;
  bh_npz_reader *r = bh_npz_reader_open(z, i);
  if (!r) return NULL;
  char what[512];
  snprintf(what, sizeof what, "%s: member '%s'", z->path, z->m[i].name);
  return bh_npy_stream_open(reader_read_cb, reader_close_cb, r, what);
}

bh_array *bh_npz_read_array(bh_npz *z, const char *name) {
  bh_npy_stream *s = bh_npz_open_npy(z, name);
  if (!s) return NULL;
  bh_array *a = bh_npy_stream_read_array(s);
  bh_npy_stream_close(s);
  return a;
}

/* ======================================================================= writer */

typedef struct {
  char *name;
  uint64_t offset, size, csize;
  uint32_t crc;
  int method, zip64;
} wmember;

struct bh_npz_writer {
  bh_atomic_file af;
  int flags;
  int failed;       /* status of the first failure */
  char errmsg[512]; /* its message, repeated by close */
  int any_zip64;    /* a forced member asks for the ZIP64 end records too */
  int deflating;    /* zs holds a live deflate state */
  uint64_t pos;     /* bytes written so far */
  wmember *m;
  int n, cap;
  z_stream zs;
  unsigned char *zbuf;
};

static int wfail(bh_npz_writer *w, int rc) {
  if (!w->failed) {
    w->failed = rc;
    snprintf(w->errmsg, sizeof w->errmsg, "%s", bh_error_message());
  }
  return rc;
}

static int wwrite(bh_npz_writer *w, const void *p, size_t n) {
  int rc = bh_atomic_write(&w->af, p, n);
  if (rc != BH_OK) return wfail(w, rc);
  w->pos += n;
  return BH_OK;
}

bh_npz_writer *bh_npz_writer_open(const char *path, int flags) {
  bh_npz_writer *w = calloc(1, sizeof *w);
  unsigned char *zbuf = malloc(IO_CHUNK);
  if (!w || !zbuf) {
    free(w);
    free(zbuf);
    bh_error(BH_ENOMEM, "%s: out of memory", path);
    return NULL;
  }
  w->zbuf = zbuf;
  w->flags = flags;
  if (bh_atomic_open(&w->af, path) != BH_OK) {
    free(w->zbuf);
    free(w);
    return NULL;
  }
  return w;
}

void bh_npz_writer_set_flags(bh_npz_writer *w, int flags) { w->flags = flags; }

/* Local header with placeholder CRC and sizes, patched by member_end once they are known. */
static int member_begin(bh_npz_writer *w, const char *name, uint64_t size, wmember **out) {
  size_t nl = strlen(name);
  if (nl == 0 || nl > SENTINEL16)
    return wfail(w, bh_error(BH_EINVAL, "%s: bad member name length %zu", w->af.path, nl));
  if (w->n == w->cap) {
    int cap = w->cap ? 2 * w->cap : 8;
    wmember *m = realloc(w->m, (size_t)cap * sizeof *m);
    if (!m) return wfail(w, bh_error(BH_ENOMEM, "%s: out of memory", w->af.path));
    w->m = m;
    w->cap = cap;
  }
  wmember *m = &w->m[w->n];
  memset(m, 0, sizeof *m);
  if (!(m->name = strdup(name)))
    return wfail(w, bh_error(BH_ENOMEM, "%s: out of memory", w->af.path));
  w->n++;
  m->offset = w->pos;
  m->size = size;
  m->method = (w->flags & BH_NPZ_DEFLATE) ? METHOD_DEFLATE : METHOD_STORED;
  /* deflate can expand incompressible data by ~5 bytes per 16 KiB block: leave room for it */
  m->zip64 = (w->flags & BH_NPZ_ZIP64) || size + size / 2048 + 1024 >= SENTINEL32;
  if (w->flags & BH_NPZ_ZIP64) w->any_zip64 = 1;
  m->crc = (uint32_t)crc32(0L, Z_NULL, 0);
  unsigned char h[LOCAL_SIZE + 20] = {0};
  size_t el = m->zip64 ? 20 : 0;
  bh_le_put32(h, SIG_LOCAL);
  bh_le_put16(h + 4, m->zip64 ? 45 : 20);
  bh_le_put16(h + 8, (uint16_t)m->method);
  bh_le_put16(h + 12, DOS_DATE_1980);
  bh_le_put16(h + 26, (uint16_t)nl);
  bh_le_put16(h + 28, (uint16_t)el);
  if (m->zip64) {
    bh_le_put32(h + 18, SENTINEL32);
    bh_le_put32(h + 22, SENTINEL32);
    bh_le_put16(h + LOCAL_SIZE, ZIP64_EXTRA_ID);
    bh_le_put16(h + LOCAL_SIZE + 2, 16);
  }
  int rc;
  if ((rc = wwrite(w, h, LOCAL_SIZE)) != BH_OK || (rc = wwrite(w, name, nl)) != BH_OK ||
      (rc = wwrite(w, h + LOCAL_SIZE, el)) != BH_OK)
    return rc;
  if (m->method == METHOD_DEFLATE) {
    memset(&w->zs, 0, sizeof w->zs);
    if (deflateInit2(&w->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      return wfail(w, bh_error(BH_ENOMEM, "%s: cannot start deflate", w->af.path));
    w->deflating = 1;
  }
  *out = m;
  return BH_OK;
}

/* Run deflate over the pending input, writing every full output buffer. */
static int deflate_pump(bh_npz_writer *w, wmember *m, int flush) {
  int ret;
  do {
    w->zs.next_out = w->zbuf;
    w->zs.avail_out = IO_CHUNK;
    ret = deflate(&w->zs, flush);
    if (ret == Z_STREAM_ERROR) return wfail(w, bh_error(BH_EIO, "%s: deflate failed", w->af.path));
    size_t k = IO_CHUNK - w->zs.avail_out;
    int rc = wwrite(w, w->zbuf, k);
    if (rc != BH_OK) return rc;
    m->csize += k;
  } while (w->zs.avail_out == 0 || (flush == Z_FINISH && ret != Z_STREAM_END));
  return BH_OK;
}

static int member_data(bh_npz_writer *w, wmember *m, const void *data, size_t n) {
  const unsigned char *p = data;
  while (n > 0) {
    size_t k = n < MAX_STEP ? n : MAX_STEP;
    m->crc = (uint32_t)crc32(m->crc, p, (uInt)k);
    int rc;
    if (m->method == METHOD_DEFLATE) {
      w->zs.next_in = (unsigned char *)p;
      w->zs.avail_in = (uInt)k;
      rc = deflate_pump(w, m, Z_NO_FLUSH);
    } else {
      rc = wwrite(w, p, k);
      m->csize += k;
    }
    if (rc != BH_OK) return rc;
    p += k;
    n -= k;
  }
  return BH_OK;
}

static int member_end(bh_npz_writer *w, wmember *m) {
  if (m->method == METHOD_DEFLATE) {
    int rc = deflate_pump(w, m, Z_FINISH);
    deflateEnd(&w->zs);
    w->deflating = 0;
    if (rc != BH_OK) return rc;
  }
  if (!m->zip64 && m->csize >= SENTINEL32)
    return wfail(w, bh_error(BH_EINVAL, "%s: member '%s' compressed beyond 4 GiB without ZIP64",
                             w->af.path, m->name));
  unsigned char f[12], x[16];
  bh_le_put32(f, m->crc);
  bh_le_put32(f + 4, m->zip64 ? SENTINEL32 : (uint32_t)m->csize);
  bh_le_put32(f + 8, m->zip64 ? SENTINEL32 : (uint32_t)m->size);
  bh_le_put64(x, m->size);
  bh_le_put64(x + 8, m->csize);
  FILE *fp = w->af.f;
  off_t base = (off_t)m->offset;
  int ok = fseeko(fp, base + 14, SEEK_SET) == 0 && fwrite(f, 1, sizeof f, fp) == sizeof f;
  if (ok && m->zip64)
    ok = fseeko(fp, base + LOCAL_SIZE + (off_t)strlen(m->name) + 4, SEEK_SET) == 0 &&
         fwrite(x, 1, sizeof x, fp) == sizeof x;
  if (!ok || fseeko(fp, 0, SEEK_END) != 0)
    return wfail(w, bh_error(BH_EIO, "%s: write failed: %s", w->af.path, strerror(errno)));
  return BH_OK;
}

int bh_npz_writer_add_raw(bh_npz_writer *w, const char *member, const void *data, size_t n) {
  wmember *m;
  if (w->failed) return w->failed;
  int rc = member_begin(w, member, n, &m);
  if (rc == BH_OK) rc = member_data(w, m, data, n);
  if (rc == BH_OK) rc = member_end(w, m);
  return rc;
}

int bh_npz_writer_add(bh_npz_writer *w, const char *name, const bh_array *a) {
  if (w->failed) return w->failed;
  char hdr[BH_NPY_HEADER_MAX], member[1024];
  size_t hl = bh_npy_header_encode(a->dtype, a->ndim, a->shape, 0, hdr, sizeof hdr);
  if (!hl) return wfail(w, bh_error_code());
  if ((size_t)snprintf(member, sizeof member, "%s.npy", name) >= sizeof member)
    return wfail(w, bh_error(BH_EINVAL, "%s: member name too long", w->af.path));
  wmember *m;
  size_t bytes = bh_array_bytes(a);
  int rc = member_begin(w, member, hl + bytes, &m);
  if (rc == BH_OK) rc = member_data(w, m, hdr, hl);
  if (rc == BH_OK) rc = member_data(w, m, a->data, bytes);
  if (rc == BH_OK) rc = member_end(w, m);
  return rc;
}

/* One central directory entry; the ZIP64 extra field carries whichever values overflow, or all
 * three for a forced-ZIP64 member. */
static int write_central(bh_npz_writer *w, const wmember *m) {
  unsigned char h[CENTRAL_SIZE], x[4 + 24];
  size_t nl = strlen(m->name), xl = 4;
  int big_size = m->zip64 || m->size >= SENTINEL32, big_csize = m->zip64 || m->csize >= SENTINEL32,
      big_off = m->zip64 || m->offset >= SENTINEL32;
  if (big_size) bh_le_put64(x + xl, m->size), xl += 8;
  if (big_csize) bh_le_put64(x + xl, m->csize), xl += 8;
  if (big_off) bh_le_put64(x + xl, m->offset), xl += 8;
  if (xl == 4) xl = 0;
  bh_le_put16(x, ZIP64_EXTRA_ID);
  bh_le_put16(x + 2, (uint16_t)(xl ? xl - 4 : 0));
  memset(h, 0, sizeof h);
  bh_le_put32(h, SIG_CENTRAL);
  bh_le_put16(h + 4, xl ? 45 : 20);
  bh_le_put16(h + 6, xl || m->zip64 ? 45 : 20);
  bh_le_put16(h + 10, (uint16_t)m->method);
  bh_le_put16(h + 14, DOS_DATE_1980);
  bh_le_put32(h + 16, m->crc);
  bh_le_put32(h + 20, big_csize ? SENTINEL32 : (uint32_t)m->csize);
  bh_le_put32(h + 24, big_size ? SENTINEL32 : (uint32_t)m->size);
  bh_le_put16(h + 28, (uint16_t)nl);
  bh_le_put16(h + 30, (uint16_t)xl);
  bh_le_put32(h + 42, big_off ? SENTINEL32 : (uint32_t)m->offset);
  int rc;
  if ((rc = wwrite(w, h, sizeof h)) != BH_OK || (rc = wwrite(w, m->name, nl)) != BH_OK) return rc;
  return wwrite(w, x, xl);
}

/* The end records: ZIP64 end record and locator when forced or needed, then the classic one
 * (its fields set to sentinels when the ZIP64 record holds the values). */
static int write_end(bh_npz_writer *w, uint64_t cd_off, uint64_t cd_size) {
  uint64_t n = (uint64_t)w->n;
  int z64 = w->any_zip64 || n >= SENTINEL16 || cd_off >= SENTINEL32 || cd_size >= SENTINEL32;
  unsigned char e[EOCD64_SIZE + LOCATOR64_SIZE + EOCD_SIZE] = {0}, *p = e;
  if (z64) {
    uint64_t at = w->pos;
    bh_le_put32(p, SIG_EOCD64);
    bh_le_put64(p + 4, EOCD64_SIZE - 12); /* size of the rest of the record */
    bh_le_put16(p + 12, 45);
    bh_le_put16(p + 14, 45);
    bh_le_put64(p + 24, n);
    bh_le_put64(p + 32, n);
    bh_le_put64(p + 40, cd_size);
    bh_le_put64(p + 48, cd_off);
    p += EOCD64_SIZE;
    bh_le_put32(p, SIG_LOCATOR64);
    bh_le_put64(p + 8, at);
    bh_le_put32(p + 16, 1);
    p += LOCATOR64_SIZE;
  }
  bh_le_put32(p, SIG_EOCD);
  bh_le_put16(p + 8, z64 ? SENTINEL16 : (uint16_t)n);
  bh_le_put16(p + 10, z64 ? SENTINEL16 : (uint16_t)n);
  bh_le_put32(p + 12, z64 ? SENTINEL32 : (uint32_t)cd_size);
  bh_le_put32(p + 16, z64 ? SENTINEL32 : (uint32_t)cd_off);
  p += EOCD_SIZE;
  return wwrite(w, e, (size_t)(p - e));
}

static void writer_free(bh_npz_writer *w) {
  if (w->deflating) deflateEnd(&w->zs);
  for (int i = 0; i < w->n; i++) free(w->m[i].name);
  free(w->m);
  free(w->zbuf);
  free(w);
}

int bh_npz_writer_close(bh_npz_writer *w) {
  uint64_t cd_off = w->pos;
  for (int i = 0; i < w->n && !w->failed; i++) write_central(w, &w->m[i]);
  if (!w->failed) write_end(w, cd_off, w->pos - cd_off);
  int rc = w->failed;
  if (rc) {
    bh_atomic_abort(&w->af);
    bh_error(rc, "%s", w->errmsg);
  } else {
    rc = bh_atomic_commit(&w->af);
  }
  writer_free(w);
  return rc;
}

void bh_npz_writer_abort(bh_npz_writer *w) {
  if (!w) return;
  bh_atomic_abort(&w->af);
  writer_free(w);
}
