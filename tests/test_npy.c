/* test_npy.c — .npy read/write/streaming and .npz archives (reader, writer, ZIP64, CRC). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tests/testfiles.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/npz.h"

/* ---------------------------------------------------------------- helpers */

static int setup_dir(void **state) {
  (void)state;
  return tf_tmpdir_make("npy");
}

static int remove_dir(void **state) {
  (void)state;
  return tf_tmpdir_remove();
}

/* An npy file written the way numpy does it: magic, version, length, dict, spaces up to a
 * multiple of 64 minus one, '\n', data.  Built plainly here so it does not share code with the
 * library's encoder. */
static unsigned char *make_npy(int major, const char *dict, const void *data, size_t dn,
                               size_t *len) {
  size_t fixed = major == 1 ? 10 : 12, dl = strlen(dict);
  size_t total = fixed + dl + 1;
  while (total % 64) total++;
  size_t hl = total - fixed;
  unsigned char *b = malloc(total + dn);
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (unsigned char)major;
  b[7] = 0;
  b[8] = (unsigned char)(hl & 0xff);
  b[9] = (unsigned char)(hl >> 8);
  if (major != 1) b[10] = b[11] = 0;
  memcpy(b + fixed, dict, dl);
  memset(b + fixed + dl, ' ', hl - dl - 1);
  b[total - 1] = '\n';
  if (dn) memcpy(b + total, data, dn);
  *len = total + dn;
  return b;
}

static void assert_msg_has(const char *needle) {
  const char *m = bh_error_message();
  if (!strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m, needle);
}

/* Reading these bytes must fail with BH_EFORMAT and a message holding `needle` and the name,
 * both from a file and from memory. */
static void expect_npy_error(const void *bytes, size_t n, const char *needle) {
  char p[256];
  tf_write_bytes(tf_path(p, "bad.npy"), bytes, n);
  bh_error_clear();
  assert_null(bh_npy_read(p));
  assert_int_equal(bh_error_code(), BH_EFORMAT);
  assert_msg_has(needle);
  assert_msg_has(p);
  bh_error_clear();
  assert_null(bh_npy_read_mem(bytes, n, "fixture"));
  assert_int_equal(bh_error_code(), BH_EFORMAT);
  assert_msg_has(needle);
  assert_msg_has("fixture");
}

/* Deterministic contents for every dtype: bytes i*37+11 (bools 0/1). */
static void fill_pattern(bh_array *a) {
  unsigned char *b = a->data;
  size_t n = bh_array_bytes(a);
  for (size_t i = 0; i < n; i++)
    b[i] = a->dtype == BH_DTYPE_BOOL ? (unsigned char)(i % 3 == 0) : (unsigned char)(i * 37 + 11);
}

static void assert_same_array(const bh_array *a, const bh_array *b) {
  assert_int_equal(a->dtype, b->dtype);
  assert_int_equal(a->ndim, b->ndim);
  for (int i = 0; i < a->ndim; i++) assert_int_equal(a->shape[i], b->shape[i]);
  assert_int_equal(a->count, b->count);
  assert_memory_equal(a->data, b->data, bh_array_bytes(a));
}

/* ---------------------------------------------------------------- npy */

static const int ALL_DTYPES[] = {BH_DTYPE_F32, BH_DTYPE_F64, BH_DTYPE_I32,
                                 BH_DTYPE_I64, BH_DTYPE_U8,  BH_DTYPE_BOOL};

static void test_npy_roundtrip_all_dtypes(void **state) {
  (void)state;
  const int64_t shapes[3][3] = {{0}, {7}, {2, 3, 4}};
  const int ndims[3] = {0, 1, 3};
  char p[256];
  tf_path(p, "rt.npy");
  for (size_t d = 0; d < sizeof ALL_DTYPES / sizeof ALL_DTYPES[0]; d++)
    for (int s = 0; s < 3; s++)
      for (int version = 1; version <= 2; version++) {
        bh_array *a = bh_array_alloc(ALL_DTYPES[d], ndims[s], shapes[s]);
        assert_non_null(a);
        fill_pattern(a);
        assert_int_equal(bh_npy_write(p, a, version), BH_OK);
        assert_false(tf_file_exists(tf_path((char[256]){0}, "rt.npy.tmp")));
        size_t n;
        unsigned char *raw = tf_read_bytes(p, &n);
        /* the file: magic, the requested version, data at a multiple of 64, exact size */
        assert_memory_equal(raw, "\x93NUMPY", 6);
        assert_int_equal(raw[6], version);
        assert_int_equal((n - bh_array_bytes(a)) % 64, 0);
        assert_int_equal(raw[n - bh_array_bytes(a) - 1], '\n');
        free(raw);
        bh_array *b = bh_npy_read(p);
        assert_non_null(b);
        assert_same_array(a, b);
        bh_array_free(a);
        bh_array_free(b);
      }
}

/* numpy 1.x's exact header for np.array([1.5, -2, 3.25], dtype=np.float32). */
static void test_npy_numpy_fixture_and_encoder(void **state) {
  (void)state;
  const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
  const unsigned char data[12] = {0x00, 0x00, 0xc0, 0x3f,  /* 1.5f */
                                  0x00, 0x00, 0x00, 0xc0,  /* -2.0f */
                                  0x00, 0x00, 0x50, 0x40}; /* 3.25f */
  size_t n;
  unsigned char *f = make_npy(1, dict, data, sizeof data, &n);
  assert_int_equal(n, 128 + 12); /* 10 + 57 + 1 bytes of preamble pad to 128 */
  bh_array *a = bh_npy_read_mem(f, n, "fixture");
  assert_non_null(a);
  assert_int_equal(a->dtype, BH_DTYPE_F32);
  assert_int_equal(a->ndim, 1);
  assert_int_equal(a->shape[0], 3);
  const float *v = a->data;
  assert_true(v[0] == 1.5f && v[1] == -2.0f && v[2] == 3.25f);
  /* the encoder writes those very bytes */
  char hdr[BH_NPY_HEADER_MAX];
  size_t hl = bh_npy_header_encode(BH_DTYPE_F32, 1, a->shape, 0, hdr, sizeof hdr);
  assert_int_equal(hl, 128);
  assert_memory_equal(hdr, f, 128);
  /* and a 2-D version-2 header numpy-style: "(2, 3)" without a trailing comma */
  int64_t sh[2] = {2, 3};
  hl = bh_npy_header_encode(BH_DTYPE_I64, 2, sh, 2, hdr, sizeof hdr);
  size_t n2;
  unsigned char *f2 =
      make_npy(2, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", NULL, 0, &n2);
  assert_int_equal(hl, n2);
  assert_memory_equal(hdr, f2, n2);
  free(f);
  free(f2);
  bh_array_free(a);
}

/* Headers as other writers spell them: key order, spacing, quotes, versions 2 and 3, Python 2
 * longs, scalars, a header with no padding at all. */
static void test_npy_header_variants(void **state) {
  (void)state;
  const int64_t vals[6] = {1, -2, 3, -4, 5, 1LL << 40};
  struct {
    int major;
    const char *dict;
    int dtype, ndim;
    int64_t s0, s1;
  } cases[] = {
      {1, "{'shape': (2, 3), 'descr': '<i8', 'fortran_order': False}", BH_DTYPE_I64, 2, 2, 3},
      {2, "{\"descr\":\"<i8\",\"fortran_order\":False,\"shape\":(6,)}", BH_DTYPE_I64, 1, 6, 0},
      {3, "{ 'fortran_order' : False ,\t'shape' : ( 3 , 2 , ) , 'descr' : '<i8' , }", BH_DTYPE_I64,
       2, 3, 2},
      {1, "{'descr': '<i8', 'fortran_order': False, 'shape': (6L,), }", BH_DTYPE_I64, 1, 6, 0},
      {1, "{'descr': '<i8', 'fortran_order': True, 'shape': (6,), }", BH_DTYPE_I64, 1, 6, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t n;
    unsigned char *f = make_npy(cases[c].major, cases[c].dict, vals, sizeof vals, &n);
    bh_array *a = bh_npy_read_mem(f, n, "variant");
    if (!a) fail_msg("case %zu: %s", c, bh_error_message());
    assert_int_equal(a->dtype, cases[c].dtype);
    assert_int_equal(a->ndim, cases[c].ndim);
    assert_int_equal(a->shape[0], cases[c].s0);
    if (a->ndim > 1) assert_int_equal(a->shape[1], cases[c].s1);
    assert_memory_equal(a->data, vals, sizeof vals);
    bh_array_free(a);
    free(f);
  }
  /* a scalar; a zero-size array; '|u1' spelled '<u1'; '|b1' */
  size_t n;
  unsigned char one = 1, bytes[4] = {0, 1, 1, 0};
  unsigned char *f = make_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
                              (double[]){2.5}, 8, &n);
  bh_array *a = bh_npy_read_mem(f, n, "scalar");
  assert_non_null(a);
  assert_int_equal(a->ndim, 0);
  assert_int_equal(a->count, 1);
  assert_true(((double *)a->data)[0] == 2.5);
  bh_array_free(a);
  free(f);
  f = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", NULL, 0, &n);
  assert_non_null(a = bh_npy_read_mem(f, n, "empty"));
  assert_int_equal(a->count, 0);
  bh_array_free(a);
  free(f);
  f = make_npy(1, "{'descr': '<u1', 'fortran_order': False, 'shape': (1,), }", &one, 1, &n);
  assert_non_null(a = bh_npy_read_mem(f, n, "u1"));
  assert_int_equal(a->dtype, BH_DTYPE_U8);
  bh_array_free(a);
  free(f);
  f = make_npy(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }", bytes, 4, &n);
  assert_non_null(a = bh_npy_read_mem(f, n, "b1"));
  assert_int_equal(a->dtype, BH_DTYPE_BOOL);
  assert_memory_equal(a->data, bytes, 4);
  bh_array_free(a);
  free(f);
  /* unaligned: 10 + 58 bytes of preamble (the spec asks for alignment, readers need not) */
  const char raw[] =
      "\x93NUMPY\x01\x00\x3a\x00{'descr':'|u1','fortran_order':False,'shape':(3,)}"
      "       \n\x07\x08\x09";
  assert_non_null(a = bh_npy_read_mem(raw, sizeof raw - 1, "tight"));
  assert_memory_equal(a->data, "\x07\x08\x09", 3);
  bh_array_free(a);
}

static void test_npy_errors(void **state) {
  (void)state;
  const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  float data[4] = {1, 2, 3, 4};
  size_t n;
  unsigned char *f = make_npy(1, good, data, sizeof data, &n);
  /* truncations: inside the magic, inside the header, inside the data */
  expect_npy_error(f, 4, "bad magic");
  expect_npy_error(f, 9, "truncated npy header");
  expect_npy_error(f, 40, "truncated npy header");
  expect_npy_error(f, n - 1, "truncated npy data");
  expect_npy_error(f, 128, "truncated npy data"); /* header complete, no data */
  /* a byte too many */
  unsigned char *g = malloc(n + 1);
  memcpy(g, f, n);
  g[n] = 0;
  expect_npy_error(g, n + 1, "trailing bytes");
  free(g);
  /* bad magic, unknown versions */
  f[1] = 'n';
  expect_npy_error(f, n, "bad magic");
  f[1] = 'N';
  f[6] = 4;
  expect_npy_error(f, n, "unsupported npy format version 4.0");
  f[6] = 1;
  f[7] = 1;
  expect_npy_error(f, n, "unsupported npy format version 1.1");
  free(f);
  /* a v2 header length that would ask for 4 GiB */
  const unsigned char huge[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xff, 0xff, 0xff, 0xff, '{'};
  expect_npy_error(huge, sizeof huge, "implausible");
  /* dict problems */
  static const struct {
    const char *dict, *needle;
  } bad[] = {
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (4,), }", "expected ':'"},
      {"{'descr': '<f4', 'fortran_order': False, }", "missing key 'shape'"},
      {"{'descr': '<f4', 'shape': (4,), }", "missing key 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}",
       "unexpected or repeated key 'x'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}",
       "repeated key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,)} x", "text after the closing"},
      {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (4,)}", "True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-4,)}", "non-negative integers"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': 4}", "shape must be a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 1", "expected ',' or ')'"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (4,)}", "expected ',' or '}'"},
      {"'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", "expected '{'"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,)}", "structured"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,)}", "more than 8"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "too large"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
       "shape too large"},
      /* valid dicts the library refuses */
      {"{'descr': '<c8', 'fortran_order': False, 'shape': (4,)}", "unsupported npy dtype '<c8'"},
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (4,)}", "unsupported npy dtype '>f4'"},
      {"{'descr': '|O', 'fortran_order': False, 'shape': (4,)}", "unsupported npy dtype '|O'"},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", "fortran_order"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    f = make_npy(1, bad[i].dict, data, sizeof data, &n);
    expect_npy_error(f, n, bad[i].needle);
    free(f);
  }
  /* a missing file is an I/O error naming it */
  char p[256];
  assert_null(bh_npy_read(tf_path(p, "nonexistent.npy")));
  assert_int_equal(bh_error_code(), BH_EIO);
  assert_msg_has("nonexistent.npy");
}

/* The streaming reader delivers the data in any chunking, and refuses to overrun. */
static void test_npy_stream_chunks(void **state) {
  (void)state;
  int64_t shape[3] = {50, 8, 8};
  bh_array *a = bh_array_alloc(BH_DTYPE_U8, 3, shape);
  fill_pattern(a);
  char p[256];
  assert_int_equal(bh_npy_write(tf_path(p, "s.npy"), a, 0), BH_OK);
  bh_npy_stream *s = bh_npy_stream_open_file(p);
  assert_non_null(s);
  const bh_npy_header *h = bh_npy_stream_header(s);
  assert_int_equal(h->version, 1);
  assert_int_equal(h->dtype, BH_DTYPE_U8);
  assert_int_equal(h->ndim, 3);
  assert_int_equal(h->shape[0], 50);
  assert_int_equal(h->data_bytes, 3200);
  assert_int_equal(h->preamble, 128); /* 10 + 63-byte dict + '\n' = 74, padded to 128 */
  unsigned char buf[3200];
  size_t got = 0, step = 1;
  while (got < sizeof buf) {
    size_t k = step < sizeof buf - got ? step : sizeof buf - got;
    assert_int_equal(bh_npy_stream_read(s, buf + got, k), BH_OK);
    got += k;
    step = step * 3 + 1; /* 1, 4, 13, 40, ...: odd sizes straddling everything */
    assert_int_equal(bh_npy_stream_remaining(s), sizeof buf - got);
  }
  assert_memory_equal(buf, a->data, sizeof buf);
  assert_int_equal(bh_npy_stream_read(s, buf, 1), BH_EINVAL);
  assert_msg_has("only 0 remain");
  bh_npy_stream_close(s);
  bh_array_free(a);
}

static void test_array_alloc_and_convert(void **state) {
  (void)state;
  int64_t two = 2, neg = -1, big[2] = {INT64_C(1) << 62, 8};
  struct {
    int dtype;
    unsigned char raw[16];
    float want[2];
  } cases[] = {
      {BH_DTYPE_F32, {0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0}, {1.5f, -2.0f}},
      {BH_DTYPE_F64, {0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0, 0, 0, 0, 0, 0, 0x24, 0xc0}, {1.5f, -10.0f}},
      {BH_DTYPE_I32, {7, 0, 0, 0, 0xfd, 0xff, 0xff, 0xff}, {7.0f, -3.0f}},
      {BH_DTYPE_I64,
       {0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
       {256.0f, -1.0f}},
      {BH_DTYPE_U8, {255, 3}, {255.0f, 3.0f}},
      {BH_DTYPE_BOOL, {1, 0}, {1.0f, 0.0f}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    bh_array *a = bh_array_alloc(cases[c].dtype, 1, &two);
    assert_non_null(a);
    memcpy(a->data, cases[c].raw, 2 * bh_dtype_size(cases[c].dtype));
    bh_array *f = bh_array_to_f32(a);
    assert_non_null(f);
    assert_int_equal(f->dtype, BH_DTYPE_F32);
    assert_int_equal(f->shape[0], 2);
    const float *v = f->data;
    assert_true(v[0] == cases[c].want[0] && v[1] == cases[c].want[1]);
    bh_array_free(a);
    bh_array_free(f);
  }
  assert_null(bh_array_alloc(BH_DTYPE_F32, 1, &neg));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_null(bh_array_alloc(BH_DTYPE_F32, 2, big)); /* 2^65 elements: overflow */
  assert_msg_has("overflow");
  assert_null(bh_array_alloc(99, 1, &two));
  assert_msg_has("dtype");
  assert_null(bh_array_alloc(BH_DTYPE_U8, 9, big));
  assert_msg_has("ndim");
}

/* ---------------------------------------------------------------- npz */

/* The test arrays of an archive: f32 2-D, i64 1-D, u8 3-D, f64 scalar, an empty bool array. */
#define NARR 5
static const char *ARR_NAMES[NARR] = {"weights", "labels", "imgs", "scale", "mask"};

static void make_arrays(bh_array **arr) {
  const int64_t s0[2] = {3, 5}, s1[1] = {9}, s2[3] = {4, 16, 16}, s4[2] = {0, 3};
  arr[0] = bh_array_alloc(BH_DTYPE_F32, 2, s0);
  arr[1] = bh_array_alloc(BH_DTYPE_I64, 1, s1);
  arr[2] = bh_array_alloc(BH_DTYPE_U8, 3, s2);
  arr[3] = bh_array_alloc(BH_DTYPE_F64, 0, NULL);
  arr[4] = bh_array_alloc(BH_DTYPE_BOOL, 2, s4);
  for (int i = 0; i < NARR; i++) {
    assert_non_null(arr[i]);
    fill_pattern(arr[i]);
  }
  /* sprite-like u8: mostly zeros, compressible */
  unsigned char *im = arr[2]->data;
  for (size_t i = 0; i < arr[2]->count; i++) im[i] = (i % 16 > 4 && i % 16 < 9) ? 1 : 0;
}

static void write_archive(const char *path, bh_array **arr, int flags) {
  bh_npz_writer *w = bh_npz_writer_open(path, flags);
  assert_non_null(w);
  for (int i = 0; i < NARR; i++)
    assert_int_equal(bh_npz_writer_add(w, ARR_NAMES[i], arr[i]), BH_OK);
  assert_int_equal(bh_npz_writer_close(w), BH_OK);
}

static void check_archive(const char *path, bh_array **arr, int method) {
  bh_npz *z = bh_npz_open(path);
  if (!z) fail_msg("%s", bh_error_message());
  assert_int_equal(bh_npz_count(z), NARR);
  for (int i = 0; i < NARR; i++) {
    const bh_npz_member *m = bh_npz_member_at(z, i);
    char want[64];
    snprintf(want, sizeof want, "%s.npy", ARR_NAMES[i]);
    assert_string_equal(m->name, want);
    assert_int_equal(m->method, method);
    if (method == 0) assert_int_equal(m->csize, m->size);
    /* both spellings find it */
    assert_int_equal(bh_npz_find(z, ARR_NAMES[i]), i);
    assert_int_equal(bh_npz_find(z, want), i);
    bh_array *b = bh_npz_read_array(z, ARR_NAMES[i]);
    if (!b) fail_msg("%s", bh_error_message());
    assert_same_array(arr[i], b);
    bh_array_free(b);
  }
  assert_int_equal(bh_npz_find(z, "nothere"), -1);
  assert_msg_has("no member 'nothere'");
  assert_msg_has("imgs.npy");
  bh_npz_close(z);
}

static void free_arrays(bh_array **arr) {
  for (int i = 0; i < NARR; i++) bh_array_free(arr[i]);
}

static void test_npz_roundtrip(void **state) {
  (void)state;
  bh_array *arr[NARR];
  make_arrays(arr);
  char p[256], t[256];
  tf_path(p, "rt.npz");
  tf_path(t, "rt.npz.tmp");
  const int flags[4] = {0, BH_NPZ_DEFLATE, BH_NPZ_ZIP64, BH_NPZ_DEFLATE | BH_NPZ_ZIP64};
  for (int f = 0; f < 4; f++) {
    write_archive(p, arr, flags[f]);
    assert_false(tf_file_exists(t));
    check_archive(p, arr, (flags[f] & BH_NPZ_DEFLATE) ? 8 : 0);
  }
  /* a mixed archive: stored, then deflated members */
  bh_npz_writer *w = bh_npz_writer_open(p, 0);
  assert_int_equal(bh_npz_writer_add(w, "a", arr[0]), BH_OK);
  bh_npz_writer_set_flags(w, BH_NPZ_DEFLATE);
  assert_int_equal(bh_npz_writer_add(w, "b", arr[2]), BH_OK);
  assert_int_equal(bh_npz_writer_close(w), BH_OK);
  bh_npz *z = bh_npz_open(p);
  assert_non_null(z);
  assert_int_equal(bh_npz_member_at(z, 0)->method, 0);
  assert_int_equal(bh_npz_member_at(z, 1)->method, 8);
  assert_true(bh_npz_member_at(z, 1)->csize < bh_npz_member_at(z, 1)->size);
  bh_array *b = bh_npz_read_array(z, "b");
  assert_same_array(arr[2], b);
  bh_array_free(b);
  bh_npz_close(z);
  free_arrays(arr);
}

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Offset of the first occurrence of a 4-byte signature at or after `from`, or -1. */
static long find_sig(const unsigned char *b, size_t n, uint32_t sig, size_t from) {
  for (size_t i = from; i + 4 <= n; i++)
    if (le32(b + i) == sig) return (long)i;
  return -1;
}

/* Forced ZIP64: every record carries its 64-bit form, as in numpy's big-array output, and the
 * 32-bit fields hold sentinels so that reading must go through the ZIP64 structures. */
static void test_npz_zip64_layout(void **state) {
  (void)state;
  bh_array *arr[NARR];
  make_arrays(arr);
  char p[256];
  write_archive(tf_path(p, "z64.npz"), arr, BH_NPZ_ZIP64 | BH_NPZ_DEFLATE);
  size_t n;
  unsigned char *b = tf_read_bytes(p, &n);
  /* first local header: sizes are sentinels, a 20-byte extra field with id 1 and 16 bytes */
  assert_int_equal(le32(b), 0x04034b50u);
  assert_int_equal(le32(b + 18), 0xffffffffu);
  assert_int_equal(le32(b + 22), 0xffffffffu);
  size_t nl = le16(b + 26);
  assert_int_equal(le16(b + 28), 20);
  assert_int_equal(le16(b + 30 + nl), 1);
  assert_int_equal(le16(b + 30 + nl + 2), 16);
  /* central entries: three 64-bit values (size, csize, offset) */
  long c = find_sig(b, n, 0x02014b50u, 0);
  assert_true(c > 0);
  assert_int_equal(le32(b + c + 42), 0xffffffffu);
  assert_int_equal(le16(b + c + 30), 4 + 24);
  /* ZIP64 end record, locator, classic end record with sentinels, in that order at the end */
  assert_int_equal(le32(b + n - 22), 0x06054b50u);
  assert_int_equal(le16(b + n - 22 + 10), 0xffff);
  assert_int_equal(le32(b + n - 22 - 20), 0x07064b50u);
  assert_int_equal(le32(b + n - 22 - 20 - 56), 0x06064b50u);
  free(b);
  check_archive(p, arr, 8);
  free_arrays(arr);
}

/* Archives made by Python's zipfile exactly as np.savez / np.savez_compressed make them
 * (zf.open(name, 'w', force_zip64=True)): ZIP64 extra fields in the local headers only, plain
 * central directory; and once more written to a pipe, where zipfile cannot seek back and puts
 * sizes and CRC in data descriptors after the data.  x = float32 [1, 2.5], y = int64 [1, -2, 3]. */
/* stored: 522 bytes */
static const unsigned char PY_NPZ_STORED[] = {
    0x50, 0x4b, 0x03, 0x04, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x38, 0xee,
    0x2f, 0x72, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x78, 0x2e,
    0x6e, 0x70, 0x79, 0x01, 0x00, 0x10, 0x00, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x88,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76,
    0x00, 0x7b, 0x27, 0x64, 0x65, 0x73, 0x63, 0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c, 0x66, 0x34, 0x27,
    0x2c, 0x20, 0x27, 0x66, 0x6f, 0x72, 0x74, 0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72,
    0x27, 0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73, 0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65,
    0x27, 0x3a, 0x20, 0x28, 0x32, 0x2c, 0x29, 0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0a, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0x40, 0x50,
    0x4b, 0x03, 0x04, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x74, 0xa8, 0xf3,
    0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x79, 0x2e, 0x6e,
    0x70, 0x79, 0x01, 0x00, 0x10, 0x00, 0x98, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x98, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00,
    0x7b, 0x27, 0x64, 0x65, 0x73, 0x63, 0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c, 0x69, 0x38, 0x27, 0x2c,
    0x20, 0x27, 0x66, 0x6f, 0x72, 0x74, 0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27,
    0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73, 0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27,
    0x3a, 0x20, 0x28, 0x33, 0x2c, 0x29, 0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x0a, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfe, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x4b,
    0x01, 0x02, 0x2d, 0x03, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x38, 0xee,
    0x2f, 0x72, 0x88, 0x00, 0x00, 0x00, 0x88, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x78, 0x2e, 0x6e, 0x70,
    0x79, 0x50, 0x4b, 0x01, 0x02, 0x2d, 0x03, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21,
    0x00, 0x74, 0xa8, 0xf3, 0x30, 0x98, 0x00, 0x00, 0x00, 0x98, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0xbf, 0x00, 0x00, 0x00, 0x79,
    0x2e, 0x6e, 0x70, 0x79, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x02, 0x00,
    0x66, 0x00, 0x00, 0x00, 0x8e, 0x01, 0x00, 0x00, 0x00, 0x00,
};
/* deflated: 388 bytes */
static const unsigned char PY_NPZ_DEFLATED[] = {
    0x50, 0x4b, 0x03, 0x04, 0x2d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x38, 0xee,
    0x2f, 0x72, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x78, 0x2e,
    0x6e, 0x70, 0x79, 0x01, 0x00, 0x10, 0x00, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4c,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9b, 0xec, 0x17, 0xea, 0x1b, 0x10, 0xc9, 0xc8, 0x50,
    0xc6, 0x50, 0xad, 0x9e, 0x92, 0x5a, 0x9c, 0x5c, 0xa4, 0x6e, 0xa5, 0xa0, 0x6e, 0x93, 0x66, 0xa2,
    0xae, 0xa3, 0xa0, 0x9e, 0x96, 0x5f, 0x54, 0x52, 0x94, 0x98, 0x17, 0x9f, 0x5f, 0x94, 0x92, 0x0a,
    0x12, 0x77, 0x4b, 0xcc, 0x29, 0x4e, 0x05, 0x8a, 0x17, 0x67, 0x24, 0x16, 0xa4, 0x02, 0xf9, 0x1a,
    0x46, 0x3a, 0x9a, 0x3a, 0x0a, 0xb5, 0x0a, 0x14, 0x00, 0x2e, 0x06, 0x86, 0x06, 0x7b, 0x06, 0x06,
    0x05, 0x07, 0x00, 0x50, 0x4b, 0x03, 0x04, 0x2d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21,
    0x00, 0x74, 0xa8, 0xf3, 0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x14,
    0x00, 0x79, 0x2e, 0x6e, 0x70, 0x79, 0x01, 0x00, 0x10, 0x00, 0x98, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x4e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9b, 0xec, 0x17, 0xea, 0x1b, 0x10,
    0xc9, 0xc8, 0x50, 0xc6, 0x50, 0xad, 0x9e, 0x92, 0x5a, 0x9c, 0x5c, 0xa4, 0x6e, 0xa5, 0xa0, 0x6e,
    0x93, 0x69, 0xa1, 0xae, 0xa3, 0xa0, 0x9e, 0x96, 0x5f, 0x54, 0x52, 0x94, 0x98, 0x17, 0x9f, 0x5f,
    0x94, 0x92, 0x0a, 0x12, 0x77, 0x4b, 0xcc, 0x29, 0x4e, 0x05, 0x8a, 0x17, 0x67, 0x24, 0x16, 0xa4,
    0x02, 0xf9, 0x1a, 0xc6, 0x3a, 0x9a, 0x3a, 0x0a, 0xb5, 0x0a, 0x14, 0x00, 0x2e, 0x46, 0x06, 0x08,
    0xf8, 0xf7, 0x1f, 0x02, 0x98, 0xa1, 0x7c, 0x00, 0x50, 0x4b, 0x01, 0x02, 0x2d, 0x03, 0x2d, 0x00,
    0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x38, 0xee, 0x2f, 0x72, 0x4c, 0x00, 0x00, 0x00,
    0x88, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x78, 0x2e, 0x6e, 0x70, 0x79, 0x50, 0x4b, 0x01, 0x02, 0x2d,
    0x03, 0x2d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x74, 0xa8, 0xf3, 0x30, 0x4e,
    0x00, 0x00, 0x00, 0x98, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x80, 0x01, 0x83, 0x00, 0x00, 0x00, 0x79, 0x2e, 0x6e, 0x70, 0x79, 0x50, 0x4b,
    0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x02, 0x00, 0x66, 0x00, 0x00, 0x00, 0x08, 0x01,
    0x00, 0x00, 0x00, 0x00,
};

/* deflated to a pipe (data descriptors): 436 bytes */
static const unsigned char PY_NPZ_STREAMED[] = {
    0x50, 0x4b, 0x03, 0x04, 0x2d, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x78, 0x2e,
    0x6e, 0x70, 0x79, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9b, 0xec, 0x17, 0xea, 0x1b, 0x10, 0xc9, 0xc8, 0x50,
    0xc6, 0x50, 0xad, 0x9e, 0x92, 0x5a, 0x9c, 0x5c, 0xa4, 0x6e, 0xa5, 0xa0, 0x6e, 0x93, 0x66, 0xa2,
    0xae, 0xa3, 0xa0, 0x9e, 0x96, 0x5f, 0x54, 0x52, 0x94, 0x98, 0x17, 0x9f, 0x5f, 0x94, 0x92, 0x0a,
    0x12, 0x77, 0x4b, 0xcc, 0x29, 0x4e, 0x05, 0x8a, 0x17, 0x67, 0x24, 0x16, 0xa4, 0x02, 0xf9, 0x1a,
    0x46, 0x3a, 0x9a, 0x3a, 0x0a, 0xb5, 0x0a, 0x14, 0x00, 0x2e, 0x06, 0x86, 0x06, 0x7b, 0x06, 0x06,
    0x05, 0x07, 0x00, 0x50, 0x4b, 0x07, 0x08, 0x38, 0xee, 0x2f, 0x72, 0x4c, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x03, 0x04, 0x2d,
    0x00, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x79, 0x2e, 0x6e, 0x70, 0x79, 0x01, 0x00,
    0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x9b, 0xec, 0x17, 0xea, 0x1b, 0x10, 0xc9, 0xc8, 0x50, 0xc6, 0x50, 0xad, 0x9e, 0x92,
    0x5a, 0x9c, 0x5c, 0xa4, 0x6e, 0xa5, 0xa0, 0x6e, 0x93, 0x69, 0xa1, 0xae, 0xa3, 0xa0, 0x9e, 0x96,
    0x5f, 0x54, 0x52, 0x94, 0x98, 0x17, 0x9f, 0x5f, 0x94, 0x92, 0x0a, 0x12, 0x77, 0x4b, 0xcc, 0x29,
    0x4e, 0x05, 0x8a, 0x17, 0x67, 0x24, 0x16, 0xa4, 0x02, 0xf9, 0x1a, 0xc6, 0x3a, 0x9a, 0x3a, 0x0a,
    0xb5, 0x0a, 0x14, 0x00, 0x2e, 0x46, 0x06, 0x08, 0xf8, 0xf7, 0x1f, 0x02, 0x98, 0xa1, 0x7c, 0x00,
    0x50, 0x4b, 0x07, 0x08, 0x74, 0xa8, 0xf3, 0x30, 0x4e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x98, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x01, 0x02, 0x2d, 0x03, 0x2d, 0x00,
    0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x38, 0xee, 0x2f, 0x72, 0x4c, 0x00, 0x00, 0x00,
    0x88, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x78, 0x2e, 0x6e, 0x70, 0x79, 0x50, 0x4b, 0x01, 0x02, 0x2d,
    0x03, 0x2d, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x74, 0xa8, 0xf3, 0x30, 0x4e,
    0x00, 0x00, 0x00, 0x98, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x80, 0x01, 0x9b, 0x00, 0x00, 0x00, 0x79, 0x2e, 0x6e, 0x70, 0x79, 0x50, 0x4b,
    0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x02, 0x00, 0x66, 0x00, 0x00, 0x00, 0x38, 0x01,
    0x00, 0x00, 0x00, 0x00,
};

static void test_npz_python_fixtures(void **state) {
  (void)state;
  const unsigned char *fx[3] = {PY_NPZ_STORED, PY_NPZ_DEFLATED, PY_NPZ_STREAMED};
  size_t fn[3] = {sizeof PY_NPZ_STORED, sizeof PY_NPZ_DEFLATED, sizeof PY_NPZ_STREAMED};
  char p[256];
  for (int k = 0; k < 3; k++) {
    tf_write_bytes(tf_path(p, "py.npz"), fx[k], fn[k]);
    bh_npz *z = bh_npz_open(p);
    if (!z) fail_msg("%s", bh_error_message());
    assert_int_equal(bh_npz_count(z), 2);
    assert_int_equal(bh_npz_member_at(z, 0)->method, k ? 8 : 0);
    assert_int_equal(bh_npz_member_at(z, 0)->flags & 8, k == 2 ? 8 : 0); /* data descriptor */
    bh_array *x = bh_npz_read_array(z, "x"), *y = bh_npz_read_array(z, "y");
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(x->dtype, BH_DTYPE_F32);
    assert_int_equal(x->shape[0], 2);
    assert_true(((float *)x->data)[0] == 1.0f && ((float *)x->data)[1] == 2.5f);
    assert_int_equal(y->dtype, BH_DTYPE_I64);
    const int64_t *yv = y->data;
    assert_true(yv[0] == 1 && yv[1] == -2 && yv[2] == 3);
    bh_array_free(x);
    bh_array_free(y);
    bh_npz_close(z);
  }
}

/* dSprites-like streaming: a deflated u8 member of 8 MiB pulled through the npy stream in small
 * odd-sized chunks, never held whole. */
static unsigned char sprite_byte(size_t i) {
  size_t img = i / 4096, y = (i / 64) % 64, x = i % 64;
  return (unsigned char)((x + img) % 23 < 7 && (y + 2 * img) % 19 < 9);
}

static void test_npz_stream_large_member(void **state) {
  (void)state;
  const int64_t shape[3] = {2048, 64, 64};
  bh_array *a = bh_array_alloc(BH_DTYPE_U8, 3, shape);
  unsigned char *d = a->data;
  for (size_t i = 0; i < a->count; i++) d[i] = sprite_byte(i);
  char p[256];
  bh_npz_writer *w = bh_npz_writer_open(tf_path(p, "big.npz"), BH_NPZ_DEFLATE | BH_NPZ_ZIP64);
  assert_int_equal(bh_npz_writer_add(w, "imgs", a), BH_OK);
  assert_int_equal(bh_npz_writer_close(w), BH_OK);
  bh_array_free(a);

  bh_npz *z = bh_npz_open(p);
  assert_non_null(z);
  const bh_npz_member *m = bh_npz_member_at(z, 0);
  assert_true(m->csize * 10 < m->size); /* really compressed */
  bh_npy_stream *s = bh_npz_open_npy(z, "imgs");
  assert_non_null(s);
  const bh_npy_header *h = bh_npy_stream_header(s);
  assert_int_equal(h->shape[0], 2048);
  assert_int_equal(h->data_bytes, 2048 * 4096);
  unsigned char buf[3 * 4096 + 7];
  size_t pos = 0, sizes[3] = {1000, sizeof buf, 4096};
  for (int k = 0; pos < h->data_bytes; k++) {
    size_t want = sizes[k % 3];
    if (want > h->data_bytes - pos) want = h->data_bytes - pos;
    assert_int_equal(bh_npy_stream_read(s, buf, want), BH_OK);
    for (size_t i = 0; i < want; i++)
      if (buf[i] != sprite_byte(pos + i)) fail_msg("byte %zu differs", pos + i);
    pos += want;
  }
  bh_npy_stream_close(s);
  /* the raw member stream, read byte by byte at the start, then in 64 KiB blocks */
  bh_npz_reader *r = bh_npz_reader_open(z, 0);
  assert_non_null(r);
  uint64_t total = 0;
  unsigned char c, big[1 << 16];
  for (int i = 0; i < 100; i++) assert_int_equal(bh_npz_reader_read(r, &c, 1), 1);
  total = 100;
  int64_t k;
  while ((k = bh_npz_reader_read(r, big, sizeof big)) > 0) total += (uint64_t)k;
  assert_int_equal(k, 0);
  assert_int_equal(total, m->size);
  bh_npz_reader_close(r);
  bh_npz_close(z);
}

/* A single-member archive of n pattern bytes (stored or deflated); returns its bytes. */
static unsigned char *one_member_archive(const char *path, size_t count, int flags, size_t *n) {
  int64_t shape = (int64_t)count;
  bh_array *a = bh_array_alloc(BH_DTYPE_U8, 1, &shape);
  unsigned char *d = a->data;
  for (size_t i = 0; i < count; i++) d[i] = (unsigned char)(i * 7 % 251);
  bh_npz_writer *w = bh_npz_writer_open(path, flags);
  assert_int_equal(bh_npz_writer_add(w, "v", a), BH_OK);
  assert_int_equal(bh_npz_writer_close(w), BH_OK);
  bh_array_free(a);
  return tf_read_bytes(path, n);
}

static void test_npz_crc_mismatch(void **state) {
  (void)state;
  char p[256];
  size_t n;
  /* stored: flip one data byte early on; the error comes with the read of the last byte */
  unsigned char *b = one_member_archive(tf_path(p, "crc.npz"), 10000, 0, &n);
  size_t data = 30 + le16(b + 26) + le16(b + 28);
  b[data + 1000] ^= 0x10; /* well past the 128-byte npy preamble */
  tf_write_bytes(p, b, n);
  bh_npz *z = bh_npz_open(p);
  assert_non_null(z);
  bh_npy_stream *s = bh_npz_open_npy(z, "v");
  assert_non_null(s);
  unsigned char buf[10000];
  assert_int_equal(bh_npy_stream_read(s, buf, 9000), BH_OK);
  assert_int_equal(bh_npy_stream_read(s, buf + 9000, 1000), BH_EFORMAT);
  assert_msg_has("CRC mismatch");
  assert_msg_has("v.npy");
  assert_msg_has(p);
  bh_npy_stream_close(s);
  assert_null(bh_npz_read_array(z, "v"));
  assert_msg_has("CRC mismatch");
  bh_npz_close(z);
  free(b);

  /* deflated: the data is intact but the recorded CRC (local and central) is off by one bit */
  b = one_member_archive(p, 10000, BH_NPZ_DEFLATE, &n);
  long c = find_sig(b, n, 0x02014b50u, 0);
  b[14] ^= 1;
  b[c + 16] ^= 1;
  tf_write_bytes(p, b, n);
  z = bh_npz_open(p);
  assert_non_null(z);
  assert_null(bh_npz_read_array(z, "v"));
  assert_msg_has("CRC mismatch");
  bh_npz_close(z);
  /* deflated with a corrupted compressed byte: an inflate error or a CRC mismatch */
  b[c + 16] ^= 1;
  b[14] ^= 1;
  b[30 + le16(b + 26) + le16(b + 28) + 40] ^= 0xff;
  tf_write_bytes(p, b, n);
  z = bh_npz_open(p);
  assert_non_null(z);
  assert_null(bh_npz_read_array(z, "v"));
  assert_int_equal(bh_error_code(), BH_EFORMAT);
  assert_msg_has("v.npy");
  bh_npz_close(z);
  /* only the central CRC changed: the local header disagrees */
  b[30 + le16(b + 26) + le16(b + 28) + 40] ^= 0xff;
  b[c + 16] ^= 1;
  tf_write_bytes(p, b, n);
  z = bh_npz_open(p);
  assert_non_null(z);
  assert_null(bh_npz_read_array(z, "v"));
  assert_msg_has("differ from the central directory");
  bh_npz_close(z);
  free(b);
}

static void test_npz_truncated_and_malformed(void **state) {
  (void)state;
  bh_array *arr[NARR];
  make_arrays(arr);
  char p[256], q[256];
  tf_path(p, "full.npz");
  tf_path(q, "cut.npz");
  for (int f = 0; f < 2; f++) {
    write_archive(p, arr, f ? BH_NPZ_DEFLATE | BH_NPZ_ZIP64 : 0);
    size_t n;
    unsigned char *b = tf_read_bytes(p, &n);
    const size_t cuts[] = {0, 10, 21, 100, n / 2, n - 60, n - 22, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
      tf_write_bytes(q, b, cuts[i]);
      bh_error_clear();
      assert_null(bh_npz_open(q));
      assert_int_equal(bh_error_code(), BH_EFORMAT);
      assert_msg_has(q);
      assert_msg_has("truncated");
    }
    /* a middle chunk missing, the end intact: the directory no longer lines up */
    size_t cd = (size_t)find_sig(b, n, 0x02014b50u, 0);
    unsigned char *m = malloc(n);
    memcpy(m, b, 200);
    memcpy(m + 200, b + cd, n - cd);
    tf_write_bytes(q, m, 200 + n - cd);
    assert_null(bh_npz_open(q));
    assert_msg_has("corrupt");
    free(m);
    free(b);
  }
  /* not a zip at all */
  tf_write_bytes(q, "hello, this is not an archive at all", 36);
  assert_null(bh_npz_open(q));
  assert_msg_has("not a zip archive");
  /* a member that is not a supported npy */
  bh_npz_writer *w = bh_npz_writer_open(p, BH_NPZ_DEFLATE);
  size_t n;
  unsigned char *obj =
      make_npy(1, "{'descr': '|O', 'fortran_order': False, 'shape': (), }", "\x80\x04N.", 4, &n);
  assert_int_equal(bh_npz_writer_add_raw(w, "metadata.npy", obj, n), BH_OK);
  assert_int_equal(bh_npz_writer_add(w, "imgs", arr[2]), BH_OK);
  assert_int_equal(bh_npz_writer_close(w), BH_OK);
  free(obj);
  bh_npz *z = bh_npz_open(p);
  assert_non_null(z);
  assert_null(bh_npz_read_array(z, "metadata"));
  assert_msg_has("unsupported npy dtype '|O'");
  assert_msg_has("metadata.npy");
  bh_array *im = bh_npz_read_array(z, "imgs"); /* the other member still reads */
  assert_non_null(im);
  assert_same_array(arr[2], im);
  bh_array_free(im);
  bh_npz_close(z);
  free_arrays(arr);
}

/* fuzz/regress/npy: 148 bytes declaring a 6 GB '|u1' array.  The reader must fail on the
 * missing data without first allocating what the header claims: run under an address-space
 * limit 1 GiB above what the process maps now. */
static void test_npy_hostile_size_no_huge_alloc(void **state) {
  (void)state;
  char buf[256];
  const char dict[] = "{'descr': '|u1', 'fortran_order': False, 'shape': (2999999998, 2), }";
  size_t hl = 64 - 10; /* header padded so that 10 + hl is a multiple of 64 */
  while (hl < sizeof dict) hl += 64;
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (char)(hl & 0xff), buf[9] = (char)(hl >> 8);
  memset(buf + 10, ' ', hl);
  memcpy(buf + 10, dict, sizeof dict - 1);
  buf[10 + hl - 1] = '\n';
  memset(buf + 10 + hl, 1, 20); /* 20 bytes of data */
  size_t len = 10 + hl + 20;

  long pages = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  assert_non_null(f);
  assert_int_equal(fscanf(f, "%ld", &pages), 1);
  fclose(f);
  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
  lim = old;
  lim.rlim_cur = (rlim_t)pages * 4096 + ((rlim_t)1 << 30);
  assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
  bh_error_clear();
  bh_array *a = bh_npy_read_mem(buf, len, "hostile.npy");
  setrlimit(RLIMIT_AS, &old);
  assert_null(a);
  assert_non_null(strstr(bh_error_message(), "hostile.npy"));
  assert_non_null(strstr(bh_error_message(), "truncated"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_npy_hostile_size_no_huge_alloc),
      cmocka_unit_test(test_npy_roundtrip_all_dtypes),
      cmocka_unit_test(test_npy_numpy_fixture_and_encoder),
      cmocka_unit_test(test_npy_header_variants),
      cmocka_unit_test(test_npy_errors),
      cmocka_unit_test(test_npy_stream_chunks),
      cmocka_unit_test(test_array_alloc_and_convert),
      cmocka_unit_test(test_npz_roundtrip),
      cmocka_unit_test(test_npz_zip64_layout),
      cmocka_unit_test(test_npz_python_fixtures),
      cmocka_unit_test(test_npz_stream_large_member),
      cmocka_unit_test(test_npz_crc_mismatch),
      cmocka_unit_test(test_npz_truncated_and_malformed),
  };
  return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
