/* metric_io.c — codes and factors from .npy or CSV files, and the input checks every
 * codes/factors metric runs first.  Messages name the file and the 1-based row (and column). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/npy.h"
#include "metrics/metrics.h"

static int has_suffix(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

/* ---- .npy: 1-D (one column) or 2-D (rows × columns) ---- */

static int npy_shape(const bh_array *a, const char *path, size_t *n, int *cols) {
  if (a->ndim != 1 && a->ndim != 2)
    return bh_error(BH_EFORMAT, "%s: expected a 1-D or 2-D array, got %d-D", path, a->ndim);
  *n = (size_t)a->shape[0];
  int64_t c = a->ndim == 2 ? a->shape[1] : 1;
  if (*n == 0 || c == 0) return bh_error(BH_EFORMAT, "%s: empty array", path);
  if (c > INT_MAX) return bh_error(BH_EFORMAT, "%s: too many columns", path);
  *cols = (int)c;
  return BH_OK;
}

static int codes_from_npy(const char *path, bh_codes *out) {
  bh_array *a = bh_npy_read(path);
  if (!a) return bh_error_code();
  int st = BH_OK;
  if (a->dtype != BH_DTYPE_F32 && a->dtype != BH_DTYPE_F64)
    st = bh_error(BH_EFORMAT, "%s: codes must be float32 or float64, got %s", path,
                  bh_dtype_descr(a->dtype));
  if (!st) st = npy_shape(a, path, &out->n, &out->d);
  if (!st && !(out->x = malloc(a->count * sizeof *out->x)))
    st = bh_error(BH_ENOMEM, "%s: out of memory", path);
  for (size_t i = 0; !st && i < a->count; i++) {
    double v = a->dtype == BH_DTYPE_F32 ? ((const float *)a->data)[i]
                                        : ((const double *)a->data)[i];
    out->x[i] = (float)v;
    if (!isfinite(out->x[i]))
      st = bh_error(BH_ENUM, "%s: row %zu, column %zu: code %g is not a finite float32", path,
                    i / (size_t)out->d + 1, i % (size_t)out->d + 1, v);
  }
  bh_array_free(a);
  return st;
}

static int factors_from_npy(const char *path, bh_factors *out) {
  bh_array *a = bh_npy_read(path);
  if (!a) return bh_error_code();
  int st = BH_OK;
  if (a->dtype != BH_DTYPE_I64 && a->dtype != BH_DTYPE_I32 && a->dtype != BH_DTYPE_U8)
    st = bh_error(BH_EFORMAT, "%s: factors must be int64, int32 or uint8, got %s", path,
                  bh_dtype_descr(a->dtype));
  if (!st) st = npy_shape(a, path, &out->n, &out->k);
  if (!st && !(out->y = malloc(a->count * sizeof *out->y)))
    st = bh_error(BH_ENOMEM, "%s: out of memory", path);
  for (size_t i = 0; !st && i < a->count; i++) {
    int64_t v = a->dtype == BH_DTYPE_I64   ? ((const int64_t *)a->data)[i]
                : a->dtype == BH_DTYPE_I32 ? ((const int32_t *)a->data)[i]
                                           : ((const uint8_t *)a->data)[i];
    if (v < 0 || v > INT_MAX)
      st = bh_error(BH_EINVAL, "%s: row %zu, column %zu: factor %lld is not a class index >= 0",
                    path, i / (size_t)out->k + 1, i % (size_t)out->k + 1, (long long)v);
    else
      out->y[i] = (int)v;
  }
  bh_array_free(a);
  return st;
}

/* ---- CSV: numbers separated by commas, one sample per line, no header ---- */

/* The whole file, NUL-terminated. */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    bh_error(BH_EIO, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  while (buf) {
    len += fread(buf + len, 1, cap - 1 - len, f);
    if (len < cap - 1) break;
    char *nb = realloc(buf, cap *= 2);
    if (!nb) free(buf);
    buf = nb;
  }
  int bad = buf && ferror(f);
  fclose(f);
  if (!buf) {
    bh_error(BH_ENOMEM, "%s: out of memory", path);
    return NULL;
  }
  if (bad) {
    free(buf);
    bh_error(BH_EIO, "%s: read error", path);
    return NULL;
  }
  buf[len] = '\0';
  return buf;
}

/* Parse one field as a double (correctly rounded strtod, spaces allowed around it); NULL-free. */
static int parse_field(const char *s, const char *end, double *v) {
  char tmp[128];
  while (s < end && (*s == ' ' || *s == '\t')) s++;
  while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) end--;
  size_t len = (size_t)(end - s);
  if (len == 0 || len >= sizeof tmp) return 0;
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  char *e;
  errno = 0;
  *v = strtod(tmp, &e);
  return *e == '\0';
}

typedef int (*csv_cell_fn)(double v, const char *path, size_t row, int col, void *dst);

static int code_cell(double v, const char *path, size_t row, int col, void *dst) {
  float f = (float)v;
  if (!isfinite(f))
    return bh_error(BH_ENUM, "%s: row %zu, column %d: code %g is not a finite float32", path, row,
                    col, v);
  *(float *)dst = f;
  return BH_OK;
}

static int factor_cell(double v, const char *path, size_t row, int col, void *dst) {
  if (!(v >= 0 && v <= INT_MAX && v == floor(v)))
    return bh_error(BH_EINVAL, "%s: row %zu, column %d: factor %g is not an integer class index "
                    ">= 0", path, row, col, v);
  *(int *)dst = (int)v;
  return BH_OK;
}

/* Reads a CSV into a malloc'ed n × cols array of `elem`-byte cells converted by `cell`. */
static int csv_read(const char *path, size_t elem, csv_cell_fn cell, void **data, size_t *n_out,
                    int *cols_out) {
  char *text = slurp(path);
  if (!text) return bh_error_code();
  /* Trailing blank lines are tolerated; blank lines elsewhere are errors. */
  size_t len = strlen(text);
  while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
    text[--len] = '\0';
  if (len == 0) {
    free(text);
    return bh_error(BH_EFORMAT, "%s: empty file", path);
  }
  size_t rows = 1, cols = 1;
  for (size_t i = 0; i < len; i++) rows += text[i] == '\n';
  for (const char *p = text; *p && *p != '\n'; p++) cols += *p == ',';
  unsigned char *out = malloc(rows * cols * elem);
  if (!out) {
    free(text);
    return bh_error(BH_ENOMEM, "%s: out of memory", path);
  }
  int st = BH_OK;
  const char *p = text;
  for (size_t r = 0; r < rows && !st; r++) {
    const char *eol = strchr(p, '\n');
    if (!eol) eol = p + strlen(p);
    size_t c = 0;
    for (const char *f = p;; c++) {
      const char *comma = memchr(f, ',', (size_t)(eol - f));
      const char *fe = comma ? comma : eol;
      double v;
      if (c >= cols) {
        st = bh_error(BH_EFORMAT, "%s: row %zu has more than %zu columns (ragged file)", path,
                      r + 1, cols);
        break;
      }
      if (!parse_field(f, fe, &v)) {
        st = bh_error(BH_EFORMAT, "%s: row %zu, column %zu: '%.*s' is not a number", path, r + 1,
                      c + 1, (int)(fe - f < 40 ? fe - f : 40), f);
        break;
      }
      st = cell(v, path, r + 1, (int)c + 1, out + (r * cols + c) * elem);
      if (st || !comma) break;
      f = comma + 1;
    }
    if (!st && c + 1 != cols)
      st = bh_error(BH_EFORMAT, "%s: row %zu has %zu columns, row 1 has %zu (ragged file)", path,
                    r + 1, c + 1, cols);
    p = eol + 1;
  }
  free(text);
  if (!st && cols > INT_MAX) st = bh_error(BH_EFORMAT, "%s: too many columns", path);
  if (st) {
    free(out);
    return st;
  }
  *data = out;
  *n_out = rows;
  *cols_out = (int)cols;
  return BH_OK;
}

int bh_codes_load(const char *path, bh_codes *out) {
  memset(out, 0, sizeof *out);
  int st = has_suffix(path, ".npy")
               ? codes_from_npy(path, out)
               : csv_read(path, sizeof(float), code_cell, (void **)&out->x, &out->n, &out->d);
  if (st) bh_codes_free(out);
  return st;
}

int bh_factors_load(const char *path, bh_factors *out) {
  memset(out, 0, sizeof *out);
  int st = has_suffix(path, ".npy")
               ? factors_from_npy(path, out)
               : csv_read(path, sizeof(int), factor_cell, (void **)&out->y, &out->n, &out->k);
  if (st) bh_factors_free(out);
  return st;
}

void bh_codes_free(bh_codes *c) {
  if (!c) return;
  free(c->x);
  memset(c, 0, sizeof *c);
}

void bh_factors_free(bh_factors *f) {
  if (!f) return;
  free(f->y);
  memset(f, 0, sizeof *f);
}

int bh_metric_check_inputs(const bh_codes *c, const bh_factors *f, const char *what) {
  if (!c || !f || !c->x || !f->y || c->n == 0 || f->n == 0 || c->d < 1 || f->k < 1)
    return bh_error(BH_EINVAL, "%s: empty codes or factors", what);
  if (c->n != f->n)
    return bh_error(BH_EINVAL, "%s: codes have %zu rows but factors have %zu", what, c->n, f->n);
  size_t d = (size_t)c->d, k = (size_t)f->k;
  for (size_t i = 0; i < c->n * d; i++)
    if (!isfinite(c->x[i]))
      return bh_error(BH_ENUM, "%s: code at row %zu, column %zu is not finite", what, i / d + 1,
                      i % d + 1);
  for (size_t j = 0; j < k; j++) {
    int first = f->y[j], varies = 0;
    for (size_t i = 0; i < f->n; i++) {
      int v = f->y[i * k + j];
      if (v < 0)
        return bh_error(BH_EINVAL, "%s: factor at row %zu, column %zu is negative (%d)", what,
                        i + 1, j + 1, v);
      varies |= v != first;
    }
    if (!varies)
      return bh_error(BH_EINVAL, "%s: factor %zu takes a single value (%d); it needs at least two",
                      what, j + 1, first);
  }
  return BH_OK;
}
