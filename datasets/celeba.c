/* celeba.c — see celeba.h.
 *
 * Opening parses list_attr_celeba.txt into one entry per image (name, line, 40 attribute bytes),
 * indexes the names in a hash table to catch duplicates and to resolve the partition file,
 * keeps the entries of the requested split (compacted in place, file order kept) and checks
 * that each has its image file.  Batches decode each image into one reused bh_image and resize
 * it with precomputed area weights, separably: a horizontal pass over the crop's rows, then a
 * vertical pass over whole output rows (the inner loop runs over 64 contiguous floats).
 */
#include "datasets/celeba.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/error.h"
#include "datasets/image_io.h"

#define MAX_TEXT_BYTES ((size_t)1 << 30) /* the real attribute file is 26 MB */
#define MAX_NAME 255                     /* longest image file name accepted */
#define NO_PART 0xff                     /* an entry the partition file has not named (yet) */

typedef struct celeba {
  char *img_dir;        /* DIR/img_align_celeba */
  char *path;           /* scratch: img_dir/NAME */
  size_t n;             /* entries: every listed image while opening, then the split */
  char **name;          /* while opening: into the attribute text; then into `names` */
  char *names;          /* the split's names, NUL-terminated one after the other */
  uint32_t *line;       /* the entry's line in list_attr_celeba.txt */
  uint8_t *part;        /* 0 train, 1 valid, 2 test, NO_PART */
  uint8_t *is_png;      /* the image exists only as NAME with .jpg replaced by .png */
  uint8_t *attrs;       /* n × 40, 0/1 (bh_big_alloc, attrs_bytes) */
  size_t attrs_bytes;
  char *attr_name_buf;  /* the 40 names, NUL-separated */
  const char *attr_names[BH_CELEBA_NATTRS];
  bh_image img;         /* decode scratch, reused from image to image */
  int rs_side, rs_taps; /* area weights for a side×side crop → 64×64 */
  int rs_first[BH_CELEBA_SIDE], rs_count[BH_CELEBA_SIDE];
  float *rs_wt;         /* 64 × rs_taps */
  float *rs_tmp;        /* side × 3 × 64: the crop after the horizontal pass */
} celeba;

/* ---------------------------------------------------------------- text files */

typedef struct text {
  char path[4096];
  char *buf; /* len bytes and a NUL */
  size_t len;
  char *p;   /* start of the next line */
  uint32_t line;
} text;

static int text_load(text *t, const char *dir, const char *name) {
  memset(t, 0, sizeof *t);
  if ((size_t)snprintf(t->path, sizeof t->path, "%s/%s", dir, name) >= sizeof t->path)
    return bh_error(BH_EINVAL, "%s: path too long", dir);
  FILE *f = fopen(t->path, "rb");
  if (!f) return bh_error(BH_EIO, "%s: cannot open: %s", t->path, strerror(errno));
  struct stat sb;
  int st = BH_OK;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
    st = bh_error(BH_EIO, "%s: not a readable regular file", t->path);
  else if ((uint64_t)sb.st_size > MAX_TEXT_BYTES)
    st = bh_error(BH_EFORMAT, "%s: %lld bytes is too large for a CelebA list", t->path,
                  (long long)sb.st_size);
  else if (!(t->buf = malloc((size_t)sb.st_size + 1)))
    st = bh_error(BH_ENOMEM, "%s: out of memory", t->path);
  else if (fread(t->buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size)
    st = bh_error(BH_EIO, "%s: read failed", t->path);
  fclose(f);
  if (st) return st;
  t->len = (size_t)sb.st_size;
  t->buf[t->len] = 0;
  t->p = t->buf;
  if (memchr(t->buf, 0, t->len)) return bh_error(BH_EFORMAT, "%s: not a text file", t->path);
  return BH_OK;
}

static void text_free(text *t) {
  free(t->buf);
  t->buf = NULL;
}

/* The next line, NUL-terminated in place, or NULL at the end. */
static char *text_line(text *t) {
  char *end = t->buf + t->len;
  if (t->p > end || (t->p == end && t->line > 0)) return NULL;
  char *s = t->p, *nl = memchr(s, '\n', (size_t)(end - s));
  if (!nl) nl = end;
  *nl = 0;
  t->p = nl + 1;
  t->line++;
  return s;
}

/* Upper bound on the lines left (for sizing arrays by the file, not by a declared count). */
static size_t text_lines_left(const text *t) {
  /* after a last line without '\n', text_line() leaves p one past the end (fuzz/fuzz-celeba) */
  if (t->p >= t->buf + t->len) return 1;
  size_t n = 1;
  for (const char *q = t->p; (q = memchr(q, '\n', (size_t)(t->buf + t->len - q))); q++) n++;
  return n;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Split a line at blanks into at most max fields (NUL-terminated in place); returns how many
 * fields the line has, which may exceed max. */
static int fields_split(char *s, char **f, int max) {
  int n = 0;
  for (;;) {
    while (is_space(*s)) s++;
    if (!*s) return n;
    if (n < max) f[n] = s;
    n++;
    while (*s && !is_space(*s)) s++;
    if (*s) *s++ = 0;
  }
}

/* A plain file name: no folder part, nothing that walks out of img_align_celeba. */
static int name_ok(const char *s) {
  size_t len = strlen(s);
  return len <= MAX_NAME && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

/* ---------------------------------------------------------------- name index */

typedef struct name_index {
  size_t mask;
  uint32_t *slot; /* entry + 1, 0 when empty */
} name_index;

static uint64_t name_hash(const char *s) {
  uint64_t h = 14695981039346656037ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

/* The slot holding `s`, or the empty slot where it would go. */
static uint32_t *index_slot(const name_index *ix, char *const *name, const char *s) {
  size_t i = name_hash(s) & ix->mask;
  while (ix->slot[i] && strcmp(name[ix->slot[i] - 1], s)) i = (i + 1) & ix->mask;
  return &ix->slot[i];
}

/* Index every entry; a name listed twice is an error naming both lines. */
static int index_build(name_index *ix, const celeba *cb, const char *path) {
  size_t size = 16;
  while (size < 2 * cb->n) size *= 2;
  ix->mask = size - 1;
  if (!(ix->slot = calloc(size, sizeof *ix->slot)))
    return bh_error(BH_ENOMEM, "%s: out of memory", path);
  for (size_t e = 0; e < cb->n; e++) {
    uint32_t *s = index_slot(ix, cb->name, cb->name[e]);
    if (*s)
      return bh_error(BH_EFORMAT, "%s:%u: image %s listed twice (also on line %u)", path,
                      cb->line[e], cb->name[e], cb->line[*s - 1]);
    *s = (uint32_t)e + 1;
  }
  return BH_OK;
}

/* ---------------------------------------------------------------- list_attr_celeba.txt */

/* Line 1: the count, digits only. */
static int attr_count(text *t, size_t *count) {
  char *line = text_line(t), *f[2];
  if (!line) return bh_error(BH_EFORMAT, "%s: empty file", t->path);
  int nf = fields_split(line, f, 2);
  size_t len = nf == 1 ? strlen(f[0]) : 0;
  if (nf != 1 || len > 9 || strspn(f[0], "0123456789") != len || (*count = strtoul(f[0], NULL, 10)) == 0)
    return bh_error(BH_EFORMAT, "%s:1: expected the number of images (a positive integer)",
                    t->path);
  return BH_OK;
}

/* Line 2: exactly 40 names, kept in cb->attr_name_buf. */
static int attr_names(text *t, celeba *cb) {
  char *line = text_line(t), *f[BH_CELEBA_NATTRS];
  if (!line) return bh_error(BH_EFORMAT, "%s:2: missing the attribute names", t->path);
  int nf = fields_split(line, f, BH_CELEBA_NATTRS);
  if (nf != BH_CELEBA_NATTRS)
    return bh_error(BH_EFORMAT, "%s:2: expected %d attribute names, got %d", t->path,
                    BH_CELEBA_NATTRS, nf);
  size_t total = 0;
  for (int a = 0; a < nf; a++) total += strlen(f[a]) + 1;
  if (!(cb->attr_name_buf = malloc(total))) return bh_error(BH_ENOMEM, "%s: out of memory", t->path);
  char *q = cb->attr_name_buf;
  for (int a = 0; a < nf; a++) {
    size_t len = strlen(f[a]) + 1;
    cb->attr_names[a] = memcpy(q, f[a], len);
    q += len;
  }
  return BH_OK;
}

/* One record: a file name and 40 values 1 / -1, into entry cb->n. */
static int attr_record(text *t, celeba *cb, char *line) {
  char *f[1 + BH_CELEBA_NATTRS];
  int nf = fields_split(line, f, 1 + BH_CELEBA_NATTRS);
  if (nf != 1 + BH_CELEBA_NATTRS)
    return bh_error(BH_EFORMAT, "%s:%u: expected a file name and %d values, got %d fields",
                    t->path, t->line, BH_CELEBA_NATTRS, nf);
  if (!name_ok(f[0]))
    return bh_error(BH_EFORMAT, "%s:%u: bad image file name '%.40s'", t->path, t->line, f[0]);
  uint8_t *a = cb->attrs + cb->n * BH_CELEBA_NATTRS;
  for (int k = 0; k < BH_CELEBA_NATTRS; k++) {
    const char *v = f[1 + k];
    if (strcmp(v, "1") == 0)
      a[k] = 1;
    else if (strcmp(v, "-1") == 0)
      a[k] = 0;
    else
      return bh_error(BH_EFORMAT, "%s:%u: %s = '%.20s', expected 1 or -1", t->path, t->line,
                      cb->attr_names[k], v);
  }
  cb->name[cb->n] = f[0];
  cb->line[cb->n] = t->line;
  cb->n++;
  return BH_OK;
}

static int attr_parse(text *t, celeba *cb) {
  size_t count;
  int st;
  if ((st = attr_count(t, &count)) || (st = attr_names(t, cb))) return st;
  size_t cap = text_lines_left(t);
  if (cap > count) cap = count;
  cb->attrs_bytes = cap * BH_CELEBA_NATTRS;
  cb->name = malloc(cap * sizeof *cb->name);
  cb->line = malloc(cap * sizeof *cb->line);
  cb->part = malloc(cap);
  cb->is_png = calloc(cap, 1);
  cb->attrs = bh_big_alloc(cb->attrs_bytes);
  if (!cb->name || !cb->line || !cb->part || !cb->is_png || !cb->attrs)
    return bh_error(BH_ENOMEM, "%s: out of memory for %zu images", t->path, cap);
  memset(cb->part, NO_PART, cap);
  char *line;
  while ((line = text_line(t))) {
    if (line[strspn(line, " \t\r")] == 0) continue; /* blank */
    if (cb->n == cap)
      return bh_error(BH_EFORMAT, "%s:%u: more images than the %zu declared on line 1", t->path,
                      t->line, count);
    if ((st = attr_record(t, cb, line))) return st;
  }
  if (cb->n != count)
    return bh_error(BH_EFORMAT, "%s: line 1 declares %zu images but %zu are listed", t->path,
                    count, cb->n);
  return BH_OK;
}

/* ---------------------------------------------------------------- list_eval_partition.txt */

static int partition_parse(text *t, celeba *cb, const name_index *ix) {
  char *line, *f[2];
  while ((line = text_line(t))) {
    int nf = fields_split(line, f, 2);
    if (nf == 0) continue;
    if (nf != 2 || strlen(f[1]) != 1 || f[1][0] < '0' || f[1][0] > '2')
      return bh_error(BH_EFORMAT, "%s:%u: expected a file name and 0, 1 or 2", t->path, t->line);
    uint32_t e = *index_slot(ix, cb->name, f[0]);
    if (!e)
      return bh_error(BH_EFORMAT, "%s:%u: image %.*s is not in " BH_CELEBA_ATTR_FILE, t->path,
                      t->line, MAX_NAME, f[0]);
    if (cb->part[e - 1] != NO_PART)
      return bh_error(BH_EFORMAT, "%s:%u: image %s listed twice", t->path, t->line, f[0]);
    cb->part[e - 1] = (uint8_t)(f[1][0] - '0');
  }
  for (size_t e = 0; e < cb->n; e++)
    if (cb->part[e] == NO_PART)
      return bh_error(BH_EFORMAT, "%s: no entry for image %s (" BH_CELEBA_ATTR_FILE " line %u)",
                      t->path, cb->name[e], cb->line[e]);
  return BH_OK;
}

/* Keep the entries of partition `part` (-1: all), in order. */
static void entries_select(celeba *cb, int part) {
  if (part < 0) return;
  size_t k = 0;
  for (size_t e = 0; e < cb->n; e++) {
    if (cb->part[e] != part) continue;
    cb->name[k] = cb->name[e];
    cb->line[k] = cb->line[e];
    memmove(cb->attrs + k * BH_CELEBA_NATTRS, cb->attrs + e * BH_CELEBA_NATTRS, BH_CELEBA_NATTRS);
    k++;
  }
  cb->n = k;
}

/* ---------------------------------------------------------------- image files */

/* NAME.jpg → NAME.png in out (MAX_NAME + 1 bytes); 0 when the name does not end in .jpg. */
static int png_alternative(const char *name, char *out) {
  size_t len = strlen(name);
  if (len < 4 || strcmp(name + len - 4, ".jpg")) return 0;
  memcpy(out, name, len - 4);
  memcpy(out + len - 4, ".png", 5);
  return 1;
}

/* Every entry's image exists (as listed, or as its .png twin). */
static int images_check(celeba *cb, const char *attr_path) {
  int dfd = open(cb->img_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return bh_error(BH_EIO, "%s: cannot open the image folder: %s", cb->img_dir,
                               strerror(errno));
  char alt[MAX_NAME + 1];
  int st = BH_OK;
  for (size_t e = 0; e < cb->n && !st; e++) {
    if (faccessat(dfd, cb->name[e], R_OK, 0) == 0) continue;
    if (png_alternative(cb->name[e], alt) && faccessat(dfd, alt, R_OK, 0) == 0)
      cb->is_png[e] = 1;
    else
      st = bh_error(BH_EFORMAT, "%s:%u: image %s not found in %s", attr_path, cb->line[e],
                    cb->name[e], cb->img_dir);
  }
  close(dfd);
  return st;
}

/* Copy the split's names out of the attribute text (which is then freed). */
static int names_compact(celeba *cb) {
  size_t total = 1;
  for (size_t e = 0; e < cb->n; e++) total += strlen(cb->name[e]) + 1;
  if (!(cb->names = malloc(total))) return bh_error(BH_ENOMEM, "%s: out of memory", cb->img_dir);
  char *q = cb->names;
  for (size_t e = 0; e < cb->n; e++) {
    size_t len = strlen(cb->name[e]) + 1;
    cb->name[e] = memcpy(q, cb->name[e], len);
    q += len;
  }
  return BH_OK;
}

/* ---------------------------------------------------------------- crop and area resize */

/* Weights for side → 64: output o covers source [o·s, (o+1)·s) with s = side/64; source pixel
 * j gets the length of [j, j+1) inside it, over s.  All the bounds are multiples of 1/64, so the
 * overlaps are exact in double. */
static int resizer_prepare(celeba *cb, int side) {
  if (cb->rs_side == side) return BH_OK;
  const int S = BH_CELEBA_SIDE, taps = side / S + 2;
  free(cb->rs_wt);
  free(cb->rs_tmp);
  cb->rs_side = 0;
  cb->rs_wt = malloc((size_t)S * taps * sizeof *cb->rs_wt);
  cb->rs_tmp = malloc((size_t)side * 3 * S * sizeof *cb->rs_tmp);
  if (!cb->rs_wt || !cb->rs_tmp) return bh_error(BH_ENOMEM, "%s: out of memory", cb->img_dir);
  double s = (double)side / S;
  for (int o = 0; o < S; o++) {
    int j0 = (int)((int64_t)o * side / S), j1 = (int)(((int64_t)(o + 1) * side + S - 1) / S);
    double lo = o * s, hi = (o + 1) * s;
    cb->rs_first[o] = j0;
    cb->rs_count[o] = j1 - j0;
    for (int j = j0; j < j1; j++) {
      double a = lo > j ? lo : j, b = hi < j + 1 ? hi : j + 1;
      cb->rs_wt[o * taps + (j - j0)] = (float)((b - a) / s);
    }
  }
  cb->rs_side = side;
  cb->rs_taps = taps;
  return BH_OK;
}

/* 3×64×64 floats in [0, 1] from the centred square crop of cb->img. */
static int celeba_resize(celeba *cb, float *out) {
  const bh_image *im = &cb->img;
  const int S = BH_CELEBA_SIDE, side = im->w < im->h ? im->w : im->h;
  const int x0 = (im->w - side) / 2, y0 = (im->h - side) / 2;
  int st = resizer_prepare(cb, side);
  if (st) return st;
  const int T = cb->rs_taps;
  float *tmp = cb->rs_tmp; /* [side][3][64] */
  /* Horizontal: each crop row → 64 columns per channel, /255 folded in. */
  for (int y = 0; y < side; y++) {
    const uint8_t *row = im->rgb + ((size_t)(y0 + y) * im->w + x0) * 3;
    float *t = tmp + (size_t)y * 3 * S;
    for (int o = 0; o < S; o++) {
      const uint8_t *p = row + (size_t)cb->rs_first[o] * 3;
      const float *wt = cb->rs_wt + o * T;
      float r = 0, g = 0, b = 0;
      for (int k = 0; k < cb->rs_count[o]; k++) {
        r += wt[k] * p[3 * k];
        g += wt[k] * p[3 * k + 1];
        b += wt[k] * p[3 * k + 2];
      }
      t[o] = r * (1.0f / 255);
      t[S + o] = g * (1.0f / 255);
      t[2 * S + o] = b * (1.0f / 255);
    }
  }
  /* Vertical: output row o of channel c mixes whole rows of tmp. */
  for (int c = 0; c < 3; c++)
    for (int o = 0; o < S; o++) {
      float *dst = out + ((size_t)c * S + o) * S;
      const float *wt = cb->rs_wt + o * T;
      for (int x = 0; x < S; x++) dst[x] = 0;
      for (int k = 0; k < cb->rs_count[o]; k++) {
        const float *src = tmp + ((size_t)(cb->rs_first[o] + k) * 3 + c) * S;
        for (int x = 0; x < S; x++) dst[x] += wt[k] * src[x];
      }
      /* The weights sum to 1 only up to rounding: keep a white pixel at exactly ≤ 1. */
      for (int x = 0; x < S; x++) dst[x] = dst[x] < 1.0f ? dst[x] : 1.0f;
    }
  return BH_OK;
}

/* ---------------------------------------------------------------- dataset ops */

static int celeba_images(bh_dataset *ds, const size_t *idx, size_t count, float *out) {
  celeba *cb = ds->impl;
  size_t dlen = strlen(cb->img_dir);
  for (size_t i = 0; i < count; i++) {
    if (idx[i] >= cb->n)
      return bh_error(BH_EINVAL, "%s: image index %zu out of range (n = %zu)", ds->source,
                      idx[i], cb->n);
    char *name = cb->path + dlen + 1;
    if (!cb->is_png[idx[i]] || !png_alternative(cb->name[idx[i]], name))
      strcpy(name, cb->name[idx[i]]);
    int st = bh_image_read(cb->path, &cb->img);
    if (!st) st = celeba_resize(cb, out + i * bh_dataset_image_size(ds));
    if (st) return st;
  }
  return BH_OK;
}

static int celeba_attrs(bh_dataset *ds, const size_t *idx, size_t count, uint8_t *out) {
  celeba *cb = ds->impl;
  for (size_t i = 0; i < count; i++) {
    if (idx[i] >= cb->n)
      return bh_error(BH_EINVAL, "%s: image index %zu out of range (n = %zu)", ds->source,
                      idx[i], cb->n);
    memcpy(out + i * BH_CELEBA_NATTRS, cb->attrs + idx[i] * BH_CELEBA_NATTRS, BH_CELEBA_NATTRS);
  }
  return BH_OK;
}

static void celeba_free(bh_dataset *ds) {
  if (!ds) return;
  celeba *cb = ds->impl;
  if (cb) {
    free(cb->img_dir);
    free(cb->path);
    free(cb->name);
    free(cb->names);
    free(cb->line);
    free(cb->part);
    free(cb->is_png);
    if (cb->attrs) bh_big_free(cb->attrs, cb->attrs_bytes);
    free(cb->attr_name_buf);
    bh_image_release(&cb->img);
    free(cb->rs_wt);
    free(cb->rs_tmp);
    free(cb);
  }
  free(ds);
}

static const bh_dataset_ops celeba_ops = {
    .images = celeba_images, .labels = NULL, .attrs = celeba_attrs, .free = celeba_free};

/* ---------------------------------------------------------------- open */

/* The partition value a split keeps: -1 for all, else 0 / 1 / 2. */
static int split_part(bh_split split) {
  switch (split) {
    case BH_SPLIT_TRAIN: return 0;
    case BH_SPLIT_VALID: return 1;
    case BH_SPLIT_TEST: return 2;
    default: return -1;
  }
}

static const char *split_name(bh_split split) {
  static const char *names[] = {"all", "train", "valid", "test"};
  return names[split_part(split) + 1];
}

/* Everything after allocation: parse, check, select. */
static int celeba_load(celeba *cb, const char *dir, bh_split split) {
  text attr, part = {.buf = NULL};
  name_index ix = {0, NULL};
  int st = text_load(&attr, dir, BH_CELEBA_ATTR_FILE);
  if (!st) st = attr_parse(&attr, cb);
  if (!st) st = index_build(&ix, cb, attr.path);
  /* BH_SPLIT_ALL does without the partition file, but checks it when there is one. */
  char ppath[4096];
  snprintf(ppath, sizeof ppath, "%s/" BH_CELEBA_PARTITION_FILE, dir);
  if (!st && (split != BH_SPLIT_ALL || access(ppath, F_OK) == 0)) {
    st = text_load(&part, dir, BH_CELEBA_PARTITION_FILE);
    if (!st) st = partition_parse(&part, cb, &ix);
  }
  free(ix.slot);
  text_free(&part);
  if (!st) {
    entries_select(cb, split_part(split));
    if (cb->n == 0)
      st = bh_error(BH_EFORMAT, "%s: no images in the %s split", ppath, split_name(split));
  }
  if (!st) st = images_check(cb, attr.path);
  if (!st) st = names_compact(cb);
  text_free(&attr);
  return st;
}

bh_dataset *bh_celeba_open(const char *dir, bh_split split) {
  if (!dir || !*dir) {
    bh_error(BH_EINVAL, "celeba: no folder given");
    return NULL;
  }
  if (split < BH_SPLIT_ALL || split > BH_SPLIT_TEST) {
    bh_error(BH_EINVAL, "%s: unknown split %d", dir, (int)split);
    return NULL;
  }
  bh_dataset *ds = calloc(1, sizeof *ds);
  celeba *cb = calloc(1, sizeof *cb);
  if (!ds || !cb) {
    free(ds);
    free(cb);
    bh_error(BH_ENOMEM, "%s: out of memory", dir);
    return NULL;
  }
  ds->impl = cb;
  ds->ops = &celeba_ops;
  size_t dlen = strlen(dir);
  cb->img_dir = malloc(dlen + sizeof "/" BH_CELEBA_IMAGE_DIR);
  cb->path = malloc(dlen + sizeof "/" BH_CELEBA_IMAGE_DIR + 1 + MAX_NAME + 1);
  if (!cb->img_dir || !cb->path) {
    bh_error(BH_ENOMEM, "%s: out of memory", dir);
    celeba_free(ds);
    return NULL;
  }
  sprintf(cb->img_dir, "%s/" BH_CELEBA_IMAGE_DIR, dir);
  sprintf(cb->path, "%s/", cb->img_dir);
  if (celeba_load(cb, dir, split)) {
    celeba_free(ds);
    return NULL;
  }
  ds->kind = "celeba";
  snprintf(ds->source, sizeof ds->source, "%s", dir);
  ds->n = cb->n;
  ds->c = 3;
  ds->h = ds->w = BH_CELEBA_SIDE;
  ds->nattrs = BH_CELEBA_NATTRS;
  ds->attr_names = cb->attr_names;
  return ds;
}
