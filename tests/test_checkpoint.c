/* test_checkpoint.c — checkpoint files: bit-exact round trip, corruption and truncation
 * detection, parameter groups, atomic replacement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include "tests/testfiles.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/params.h"

/* ---------------------------------------------------------------- helpers */

static int setup_dir(void **state) {
  (void)state;
  return tf_tmpdir_make("ckpt");
}

static int remove_dir(void **state) {
  (void)state;
  return tf_tmpdir_remove();
}

static void assert_msg_has(const char *needle) {
  const char *m = bh_error_message();
  if (!strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m, needle);
}

/* Values that a lossy path would alter: negative zero, a subnormal, a NaN payload, extremes. */
static float tricky(size_t i) {
  static const uint32_t bits[] = {0x80000000u, 0x00000001u, 0x7fc01234u,
                                  0x7f7fffffu, 0xff800000u, 0x3eaaaaabu};
  if (i % 7 < 6) {
    float f;
    memcpy(&f, &bits[i % 7], 4);
    return f;
  }
  return (float)i * 0.37f - 11.0f;
}

/* A main parameter group shaped like a small encoder. */
static bh_params *make_params(float offset) {
  bh_params *p = bh_params_alloc();
  const int w1[2] = {32, 12}, b1[1] = {32}, c1[4] = {8, 1, 4, 4};
  bh_tensor *t[3] = {bh_params_add(p, "enc.fc1.w", 2, w1), bh_params_add(p, "enc.fc1.b", 1, b1),
                     bh_params_add(p, "enc.conv1.w", 4, c1)};
  for (int k = 0; k < 3; k++) {
    assert_non_null(t[k]);
    for (size_t i = 0; i < t[k]->size; i++) t[k]->data[i] = tricky(i + 3 * (size_t)k) + offset;
  }
  return p;
}

/* The fixture checkpoint: tensors, blobs, scalars and a parameter group. */
static const int T2[2] = {5, 3}, T4[4] = {2, 3, 2, 2}, T0[1] = {0};
static float g_t2[15], g_t4[24];
static unsigned char g_rng[2500];

static bh_ckpt_writer *make_writer(bh_params *p) {
  for (size_t i = 0; i < 15; i++) g_t2[i] = tricky(i);
  for (size_t i = 0; i < 24; i++) g_t4[i] = tricky(100 + i);
  for (size_t i = 0; i < sizeof g_rng; i++) g_rng[i] = (unsigned char)(i * 131 + 7);
  bh_ckpt_writer *w = bh_ckpt_writer_alloc();
  assert_non_null(w);
  assert_int_equal(bh_ckpt_add_tensor(w, "t2", 2, T2, g_t2), BH_OK);
  assert_int_equal(bh_ckpt_add_tensor(w, "t4", 4, T4, g_t4), BH_OK);
  assert_int_equal(bh_ckpt_add_tensor(w, "empty", 1, T0, NULL), BH_OK);
  assert_int_equal(bh_ckpt_add_tensor(w, "scalar", 0, NULL, (float[]){-0.0f}), BH_OK);
  assert_int_equal(bh_ckpt_add_bytes(w, "rng", g_rng, sizeof g_rng), BH_OK);
  assert_int_equal(bh_ckpt_add_bytes(w, "nothing", NULL, 0), BH_OK);
  assert_int_equal(bh_ckpt_add_i64(w, "step", INT64_C(123456789012)), BH_OK);
  assert_int_equal(bh_ckpt_add_i64(w, "min", INT64_MIN), BH_OK);
  assert_int_equal(bh_ckpt_add_f64(w, "lr", 3e-4), BH_OK);
  assert_int_equal(bh_ckpt_add_f64(w, "negzero", -0.0), BH_OK);
  assert_int_equal(bh_ckpt_add_params(w, "main.", p), BH_OK);
  return w;
}

static void write_fixture(const char *path) {
  bh_params *p = make_params(0);
  bh_ckpt_writer *w = make_writer(p);
  assert_int_equal(bh_ckpt_write(w, path), BH_OK);
  bh_ckpt_writer_free(w);
  bh_params_free(p);
}

/* ---------------------------------------------------------------- tests */

static void test_roundtrip_bit_exact(void **state) {
  (void)state;
  char path[256], tmp[256];
  tf_path(path, "rt.ckpt");
  tf_path(tmp, "rt.ckpt.tmp");
  bh_params *p = make_params(0);
  bh_ckpt_writer *w = make_writer(p);
  assert_int_equal(bh_ckpt_write(w, path), BH_OK);
  bh_ckpt_writer_free(w);
  assert_true(tf_file_exists(path));
  assert_false(tf_file_exists(tmp));

  bh_ckpt *ck = bh_ckpt_read(path);
  if (!ck) fail_msg("%s", bh_error_message());
  assert_int_equal(bh_ckpt_count(ck), 10 + 3);
  assert_string_equal(bh_ckpt_name(ck, 0), "t2");
  assert_string_equal(bh_ckpt_name(ck, 12), "main.enc.conv1.w");
  assert_int_equal(bh_ckpt_kind(ck, 4), BH_CKPT_BYTES);

  int ndim, shape[BH_CKPT_MAX_DIMS];
  const float *v = bh_ckpt_find_tensor(ck, "t2", &ndim, shape);
  assert_non_null(v);
  assert_int_equal(ndim, 2);
  assert_true(shape[0] == 5 && shape[1] == 3);
  assert_memory_equal(v, g_t2, sizeof g_t2);
  assert_int_equal((uintptr_t)v % 64, 0); /* usable in place by aligned loops */
  v = bh_ckpt_find_tensor(ck, "t4", &ndim, shape);
  assert_non_null(v);
  assert_int_equal(ndim, 4);
  assert_memory_equal(shape, T4, sizeof T4);
  assert_memory_equal(v, g_t4, sizeof g_t4);
  assert_non_null(bh_ckpt_find_tensor(ck, "empty", &ndim, shape));
  assert_true(ndim == 1 && shape[0] == 0);
  v = bh_ckpt_find_tensor(ck, "scalar", &ndim, NULL);
  assert_int_equal(ndim, 0);
  assert_memory_equal(v, (float[]){-0.0f}, 4);

  size_t len;
  const void *rng = bh_ckpt_find_bytes(ck, "rng", &len);
  assert_int_equal(len, sizeof g_rng);
  assert_memory_equal(rng, g_rng, sizeof g_rng);
  assert_non_null(bh_ckpt_find_bytes(ck, "nothing", &len));
  assert_int_equal(len, 0);

  int64_t i64;
  double f64;
  assert_int_equal(bh_ckpt_find_i64(ck, "step", &i64), BH_OK);
  assert_true(i64 == INT64_C(123456789012));
  assert_int_equal(bh_ckpt_find_i64(ck, "min", &i64), BH_OK);
  assert_true(i64 == INT64_MIN);
  assert_int_equal(bh_ckpt_find_f64(ck, "lr", &f64), BH_OK);
  assert_memory_equal(&f64, &(double){3e-4}, 8);
  assert_int_equal(bh_ckpt_find_f64(ck, "negzero", &f64), BH_OK);
  assert_true(f64 == 0.0 && signbit(f64));

  /* the group loads into a fresh one bit-exactly */
  bh_params *q = make_params(1.0f);
  assert_int_equal(bh_ckpt_load_params(ck, "main.", q), BH_OK);
  for (int k = 0; k < p->n; k++)
    assert_memory_equal(q->t[k]->data, p->t[k]->data, p->t[k]->size * 4);
  /* the same values, read back as plain tensors */
  v = bh_ckpt_find_tensor(ck, "main.enc.fc1.b", &ndim, shape);
  assert_true(ndim == 1 && shape[0] == 32);
  assert_memory_equal(v, p->t[1]->data, 32 * 4);

  /* lookups that must fail: absent names and wrong kinds */
  assert_null(bh_ckpt_find_tensor(ck, "nope", NULL, NULL));
  assert_msg_has("no tensor 'nope'");
  assert_msg_has(path);
  assert_null(bh_ckpt_find_tensor(ck, "rng", NULL, NULL));
  assert_msg_has("entry 'rng' has kind bytes, wanted tensor");
  assert_int_equal(bh_ckpt_find_i64(ck, "lr", &i64), BH_EINVAL);
  assert_msg_has("entry 'lr' has kind double, wanted int64");
  assert_int_equal(bh_ckpt_find_f64(ck, "absent", &f64), BH_EINVAL);
  assert_null(bh_ckpt_find_bytes(ck, "t2", &len));
  bh_ckpt_free(ck);
  bh_params_free(p);
  bh_params_free(q);
}

/* The file layout as documented in checkpoint.h: magic, version, count, size, and a trailing
 * CRC32 (computed here with zlib directly) over everything before it. */
static void test_layout(void **state) {
  (void)state;
  char path[256];
  write_fixture(tf_path(path, "layout.ckpt"));
  size_t n;
  unsigned char *b = tf_read_bytes(path, &n);
  assert_memory_equal(b, "BHIVCKPT", 8);
  assert_int_equal(b[8] | b[9] << 8, BH_CKPT_VERSION);
  assert_int_equal(b[12], 13);
  uint64_t size = 0;
  for (int i = 0; i < 8; i++) size |= (uint64_t)b[16 + i] << (8 * i);
  assert_int_equal(size, n);
  uint32_t crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), b, (uInt)(n - 4));
  uint32_t stored = (uint32_t)b[n - 4] | (uint32_t)b[n - 3] << 8 | (uint32_t)b[n - 2] << 16 |
                    (uint32_t)b[n - 1] << 24;
  assert_int_equal(crc, stored);
  free(b);
}

/* Changing any one byte anywhere — header, table, padding, data, CRC — is detected. */
static void test_every_byte_flip_detected(void **state) {
  (void)state;
  char path[256], bad[256];
  write_fixture(tf_path(path, "good.ckpt"));
  tf_path(bad, "flipped.ckpt");
  size_t n;
  unsigned char *b = tf_read_bytes(path, &n);
  assert_true(n > 4000 && n < 20000);
  const unsigned char masks[3] = {0x01, 0x80, 0xff};
  int checked = 0;
  for (size_t pos = 0; pos < n; pos++) {
    /* every byte of the first 512 and last 64, one in 7 elsewhere */
    if (pos >= 512 && pos + 64 < n && pos % 7) continue;
    unsigned char m = masks[pos % 3];
    b[pos] ^= m;
    tf_write_bytes(bad, b, n);
    b[pos] ^= m;
    bh_error_clear();
    bh_ckpt *ck = bh_ckpt_read(bad);
    if (ck) fail_msg("flipping byte %zu (mask %02x) went unnoticed", pos, m);
    assert_int_equal(bh_error_code(), BH_EFORMAT);
    assert_msg_has(bad);
    checked++;
  }
  assert_true(checked > 1000);
  /* the precise messages for a few places */
  b[3] ^= 1;
  tf_write_bytes(bad, b, n);
  assert_null(bh_ckpt_read(bad));
  assert_msg_has("bad magic");
  b[3] ^= 1;
  b[8] ^= 2;
  tf_write_bytes(bad, b, n);
  assert_null(bh_ckpt_read(bad));
  assert_msg_has("unsupported format version 3");
  b[8] ^= 2;
  b[n - 1] ^= 1;
  tf_write_bytes(bad, b, n);
  assert_null(bh_ckpt_read(bad));
  assert_msg_has("CRC mismatch");
  b[n - 1] ^= 1;
  b[n / 2] ^= 1;
  tf_write_bytes(bad, b, n);
  assert_null(bh_ckpt_read(bad));
  assert_msg_has("CRC mismatch");
  free(b);
}

static void test_truncation_detected(void **state) {
  (void)state;
  char path[256], cut[256];
  write_fixture(tf_path(path, "full.ckpt"));
  tf_path(cut, "cut.ckpt");
  size_t n;
  unsigned char *b = tf_read_bytes(path, &n);
  const size_t lens[] = {0, 1, 7, 8, 20, 31, 32, 35, 36, 100, n / 3, n / 2, n - 5, n - 4, n - 1};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    tf_write_bytes(cut, b, lens[i]);
    bh_error_clear();
    assert_null(bh_ckpt_read(cut));
    assert_int_equal(bh_error_code(), BH_EFORMAT);
    assert_msg_has(cut);
    assert_msg_has("truncated");
  }
  /* appended garbage is caught as well */
  unsigned char *longer = malloc(n + 3);
  memcpy(longer, b, n);
  memset(longer + n, 0, 3);
  tf_write_bytes(cut, longer, n + 3);
  assert_null(bh_ckpt_read(cut));
  assert_msg_has("size mismatch");
  free(longer);
  free(b);
  /* and a file that does not exist */
  assert_null(bh_ckpt_read(tf_path(cut, "missing.ckpt")));
  assert_int_equal(bh_error_code(), BH_EIO);
  assert_msg_has("missing.ckpt");
}

/* Put a little-endian value and fix up the CRC: a file that is well-formed at the byte level
 * but lies in its table must still be rejected, without a crash or a large allocation. */
static void put_le(unsigned char *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void refresh_crc(unsigned char *b, size_t n) {
  put_le(b + n - 4, crc32(crc32(0, Z_NULL, 0), b, (uInt)(n - 4)), 4);
}

static void test_lying_table_rejected(void **state) {
  (void)state;
  char path[256], bad[256];
  write_fixture(tf_path(path, "src.ckpt"));
  tf_path(bad, "lying.ckpt");
  size_t n;
  unsigned char *b = tf_read_bytes(path, &n);
  unsigned char *c = malloc(n);
  /* first record (t2, [5 x 3]) starts at 32: kind, ndim, name length, offset, bytes, dims */
  static const struct {
    size_t at;
    int bytes;
    uint64_t v;
    const char *needle;
  } lies[] = {
      {12, 4, 0xffffffffu, "entry count"},           /* 4 G entries */
      {24, 8, UINT64_C(1) << 60, "bad data offset"}, /* data section past the end */
      {32, 2, 9, "unknown entry kind"},
      {34, 2, 200, "bad dimension count"},
      {36, 4, 0xfffffff0u, "bad name length"},
      {40, 8, UINT64_C(1) << 62, "outside the data section"}, /* payload offset */
      {48, 8, UINT64_C(1) << 62, "outside the data section"}, /* payload bytes */
      {48, 8, 64, "does not match its kind or shape"},        /* 16 floats, shape says 15 */
      {56, 8, UINT64_C(1) << 40, "bad tensor shape"},
  };
  for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
    memcpy(c, b, n);
    put_le(c + lies[i].at, lies[i].v, lies[i].bytes);
    refresh_crc(c, n);
    tf_write_bytes(bad, c, n);
    assert_null(bh_ckpt_read(bad));
    assert_int_equal(bh_error_code(), BH_EFORMAT);
    assert_msg_has(lies[i].needle);
  }
  free(c);
  free(b);
}

static void test_load_params_mismatch(void **state) {
  (void)state;
  char path[256];
  write_fixture(tf_path(path, "p.ckpt"));
  bh_ckpt *ck = bh_ckpt_read(path);
  assert_non_null(ck);
  /* a group with one tensor the checkpoint lacks: nothing is copied */
  bh_params *q = make_params(5.0f);
  const int extra[1] = {4};
  bh_tensor *x = bh_params_add(q, "enc.fc2.w", 1, extra);
  assert_non_null(x);
  float before = q->t[0]->data[0];
  assert_int_equal(bh_ckpt_load_params(ck, "main.", q), BH_EFORMAT);
  assert_msg_has("tensor 'main.enc.fc2.w' missing");
  assert_msg_has(path);
  assert_true(q->t[0]->data[0] == before);
  bh_params_free(q);
  /* a tensor of another shape */
  q = bh_params_alloc();
  const int w1[2] = {12, 32};
  assert_non_null(bh_params_add(q, "enc.fc1.w", 2, w1));
  assert_int_equal(bh_ckpt_load_params(ck, "main.", q), BH_EFORMAT);
  assert_msg_has("'main.enc.fc1.w' has shape [32 x 12], the model has [12 x 32]");
  bh_params_free(q);
  /* the wrong prefix finds nothing */
  q = make_params(0);
  assert_int_equal(bh_ckpt_load_params(ck, "adv.", q), BH_EFORMAT);
  assert_msg_has("'adv.enc.fc1.w' missing");
  bh_params_free(q);
  bh_ckpt_free(ck);
}

static void test_writer_errors(void **state) {
  (void)state;
  char path[256];
  tf_path(path, "never.ckpt");
  bh_ckpt_writer *w = bh_ckpt_writer_alloc();
  const int s[1] = {2};
  assert_int_equal(bh_ckpt_add_tensor(w, "a", 1, s, (float[]){1, 2}), BH_OK);
  assert_int_equal(bh_ckpt_add_i64(w, "a", 3), BH_EINVAL);
  assert_msg_has("'a' added twice");
  assert_int_equal(bh_ckpt_add_tensor(w, "", 1, s, (float[]){1, 2}), BH_EINVAL);
  assert_int_equal(bh_ckpt_add_tensor(w, "b", 9, s, NULL), BH_EINVAL);
  /* the first failure is what write reports; nothing is created */
  assert_int_equal(bh_ckpt_write(w, path), BH_EINVAL);
  assert_msg_has("'a' added twice");
  assert_msg_has(path);
  assert_false(tf_file_exists(path));
  bh_ckpt_writer_free(w);
  /* a directory that does not exist */
  w = bh_ckpt_writer_alloc();
  assert_int_equal(bh_ckpt_write(w, "/nonexistent-dir/x.ckpt"), BH_EIO);
  assert_msg_has("/nonexistent-dir/x.ckpt");
  bh_ckpt_writer_free(w);
}

/* An interrupted write (here: the file size limit stops it midway, as a full disk would) leaves
 * the previous checkpoint intact under the real name and no temporary file behind; a finished
 * write replaces it. */
static void test_atomic_replace(void **state) {
  (void)state;
  char path[256], tmp[256];
  tf_path(path, "atomic.ckpt");
  tf_path(tmp, "atomic.ckpt.tmp");
  bh_ckpt_writer *w = bh_ckpt_writer_alloc();
  assert_int_equal(bh_ckpt_add_i64(w, "step", 1), BH_OK);
  assert_int_equal(bh_ckpt_write(w, path), BH_OK);
  bh_ckpt_writer_free(w);

  /* a new checkpoint of 256 KiB */
  static float big[65536];
  for (size_t i = 0; i < 65536; i++) big[i] = (float)i;
  const int s[1] = {65536};
  w = bh_ckpt_writer_alloc();
  assert_int_equal(bh_ckpt_add_i64(w, "step", 2), BH_OK);
  assert_int_equal(bh_ckpt_add_tensor(w, "big", 1, s, big), BH_OK);

  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  lim = old;
  lim.rlim_cur = 16384;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN); /* get EFBIG instead of being killed */
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  int rc = bh_ckpt_write(w, path);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, prev);
  assert_int_equal(rc, BH_EIO);
  assert_msg_has(path);
  assert_false(tf_file_exists(tmp));
  bh_ckpt *ck = bh_ckpt_read(path);
  assert_non_null(ck);
  int64_t step;
  assert_int_equal(bh_ckpt_find_i64(ck, "step", &step), BH_OK);
  assert_int_equal(step, 1);
  bh_ckpt_free(ck);

  /* without the limit the same writer succeeds and replaces the old file */
  assert_int_equal(bh_ckpt_write(w, path), BH_OK);
  assert_false(tf_file_exists(tmp));
  ck = bh_ckpt_read(path);
  assert_non_null(ck);
  assert_int_equal(bh_ckpt_find_i64(ck, "step", &step), BH_OK);
  assert_int_equal(step, 2);
  assert_memory_equal(bh_ckpt_find_tensor(ck, "big", NULL, NULL), big, sizeof big);
  bh_ckpt_free(ck);
  bh_ckpt_writer_free(w);

  /* a stale temporary file from a crashed run neither blocks nor confuses the next write */
  tf_write_bytes(tmp, "half a file", 11);
  w = bh_ckpt_writer_alloc();
  assert_int_equal(bh_ckpt_add_i64(w, "step", 3), BH_OK);
  assert_int_equal(bh_ckpt_write(w, path), BH_OK);
  bh_ckpt_writer_free(w);
  assert_false(tf_file_exists(tmp));
  assert_non_null(ck = bh_ckpt_read(path));
  assert_int_equal(bh_ckpt_find_i64(ck, "step", &step), BH_OK);
  assert_int_equal(step, 3);
  bh_ckpt_free(ck);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_bit_exact),
      cmocka_unit_test(test_layout),
      cmocka_unit_test(test_every_byte_flip_detected),
      cmocka_unit_test(test_truncation_detected),
      cmocka_unit_test(test_lying_table_rejected),
      cmocka_unit_test(test_load_params_mismatch),
      cmocka_unit_test(test_writer_errors),
      cmocka_unit_test(test_atomic_replace),
  };
  return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
