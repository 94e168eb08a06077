/* test_rng.c — named streams: reproducibility, independence, state save/restore, helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

#define N 1000

static void draw(gsl_rng *g, unsigned long *out, int n) {
  for (int i = 0; i < n; i++) out[i] = gsl_rng_get(g);
}

static int same(const unsigned long *a, const unsigned long *b, int n) {
  return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* The stream seeds are part of every run's reproducibility: pin them.  The values were
 * computed independently (Python) from splitmix64(seed ^ splitmix64(fnv1a64(name))) mod 2^32. */
static void test_stream_seed_golden(void **state) {
  (void)state;
  assert_int_equal(bh_rng_stream_seed(42, "data"), 814415979ul);
  assert_int_equal(bh_rng_stream_seed(0, "init"), 232614391ul);
  assert_int_equal(bh_rng_stream_seed(UINT64_MAX, "noise"), 4038517243ul);
  /* and a stream starts exactly where an MT19937 seeded with that value starts */
  bh_rng *r = bh_rng_alloc(42);
  gsl_rng *ref = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(ref, 814415979ul);
  unsigned long a[N], b[N];
  draw(bh_rng_stream(r, "data"), a, N);
  draw(ref, b, N);
  assert_true(same(a, b, N));
  gsl_rng_free(ref);
  bh_rng_free(r);
}

static void test_same_seed_same_draws(void **state) {
  (void)state;
  bh_rng *r1 = bh_rng_alloc(1234), *r2 = bh_rng_alloc(1234);
  unsigned long a[N], b[N];
  draw(bh_rng_stream(r1, "init"), a, N);
  draw(bh_rng_stream(r2, "init"), b, N);
  assert_true(same(a, b, N));
  /* the same pointer on every call for one name */
  assert_ptr_equal(bh_rng_stream(r1, "init"), bh_rng_stream(r1, "init"));
  assert_int_equal(bh_rng_seed(r1), 1234);
  bh_rng_free(r1);
  bh_rng_free(r2);
}

static void test_different_names_and_seeds_differ(void **state) {
  (void)state;
  const char *names[] = {"init", "data", "noise", "adversary", "adversary2", "x"};
  const int k = sizeof names / sizeof *names;
  bh_rng *r = bh_rng_alloc(7), *r8 = bh_rng_alloc(8);
  static unsigned long d[6][N];
  for (int i = 0; i < k; i++) draw(bh_rng_stream(r, names[i]), d[i], N);
  for (int i = 0; i < k; i++)
    for (int j = i + 1; j < k; j++) assert_false(same(d[i], d[j], N));
  unsigned long e[N];
  draw(bh_rng_stream(r8, "init"), e, N);
  assert_false(same(d[0], e, N));
  bh_rng_free(r);
  bh_rng_free(r8);
}

static void test_streams_are_independent(void **state) {
  (void)state;
  /* r1 uses "noise" heavily before and between "data" draws; r2 never touches "noise".
   * "data" must yield the same sequence in both, whatever the creation order. */
  bh_rng *r1 = bh_rng_alloc(99), *r2 = bh_rng_alloc(99);
  unsigned long a[N], b[N], junk[N];
  draw(bh_rng_stream(r1, "noise"), junk, N);
  draw(bh_rng_stream(r1, "data"), a, N / 2);
  draw(bh_rng_stream(r1, "noise"), junk, 17);
  draw(bh_rng_stream(r1, "data"), a + N / 2, N / 2);
  draw(bh_rng_stream(r2, "data"), b, N);
  assert_true(same(a, b, N));
  bh_rng_free(r1);
  bh_rng_free(r2);
}

static void test_state_save_restore(void **state) {
  (void)state;
  bh_rng *r = bh_rng_alloc(2024);
  unsigned long junk[N];
  draw(bh_rng_stream(r, "init"), junk, 300);
  draw(bh_rng_stream(r, "data"), junk, 55);
  size_t size = bh_rng_state_size(r);
  unsigned char *buf = malloc(size);
  assert_int_equal(bh_rng_state_get(r, buf, size - 1), BH_EINVAL); /* too small */
  assert_int_equal(bh_rng_state_get(r, buf, size), BH_OK);

  /* the next 1000 draws of each stream, and of a stream created only after the save */
  unsigned long want_init[N], want_data[N], want_noise[N], got[N];
  draw(bh_rng_stream(r, "init"), want_init, N);
  draw(bh_rng_stream(r, "data"), want_data, N);
  draw(bh_rng_stream(r, "noise"), want_noise, N);

  /* restore into the same object */
  assert_int_equal(bh_rng_state_set(r, buf, size), BH_OK);
  draw(bh_rng_stream(r, "init"), got, N);
  assert_true(same(got, want_init, N));
  draw(bh_rng_stream(r, "data"), got, N);
  assert_true(same(got, want_data, N));

  /* restore into a fresh object of another seed: the saved seed comes back too, so a stream
   * first used after the resume starts as in the original run */
  bh_rng *fresh = bh_rng_alloc(1);
  assert_int_equal(bh_rng_state_set(fresh, buf, size), BH_OK);
  assert_int_equal(bh_rng_seed(fresh), 2024);
  draw(bh_rng_stream(fresh, "data"), got, N);
  assert_true(same(got, want_data, N));
  draw(bh_rng_stream(fresh, "init"), got, N);
  assert_true(same(got, want_init, N));
  draw(bh_rng_stream(fresh, "noise"), got, N);
  assert_true(same(got, want_noise, N));
  bh_rng_free(fresh);
  free(buf);
  bh_rng_free(r);
}

static void test_state_rejects_bad_bytes(void **state) {
  (void)state;
  bh_rng *r = bh_rng_alloc(5);
  unsigned long before[N], after[N];
  bh_rng_stream(r, "data");
  size_t size = bh_rng_state_size(r);
  unsigned char *buf = malloc(size), *bad = malloc(size);
  bh_rng_state_get(r, buf, size);
  bh_rng *probe = bh_rng_alloc(6); /* its "data" stream must survive every failed restore */
  gsl_rng *g = bh_rng_stream(probe, "data");
  gsl_rng *copy = gsl_rng_clone(g);
  draw(copy, before, N);

  memcpy(bad, buf, size);
  bad[0] = 'X'; /* magic */
  assert_int_equal(bh_rng_state_set(probe, bad, size), BH_EFORMAT);
  assert_non_null(strstr(bh_error_message(), "rng"));
  assert_int_equal(bh_rng_state_set(probe, buf, size - 1), BH_EFORMAT); /* truncated */
  assert_int_equal(bh_rng_state_set(probe, buf, 5), BH_EFORMAT);
  unsigned char *longer = calloc(1, size + 3);
  memcpy(longer, buf, size);
  assert_int_equal(bh_rng_state_set(probe, longer, size + 3), BH_EFORMAT); /* trailing bytes */
  memcpy(bad, buf, size);
  bad[12] ^= 0x01; /* generator name "mt19937" -> "lt19937" */
  assert_int_equal(bh_rng_state_set(probe, bad, size), BH_EFORMAT);

  draw(g, after, N);
  assert_true(same(before, after, N));
  assert_int_equal(bh_rng_seed(probe), 6);
  gsl_rng_free(copy);
  free(longer);
  free(bad);
  free(buf);
  bh_rng_free(probe);
  bh_rng_free(r);
}

static void test_bad_names(void **state) {
  (void)state;
  bh_rng *r = bh_rng_alloc(1);
  assert_null(bh_rng_stream(r, ""));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "rng"));
  char longname[BH_RNG_NAME_MAX + 2];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_null(bh_rng_stream(r, longname));
  longname[BH_RNG_NAME_MAX] = '\0';
  assert_non_null(bh_rng_stream(r, longname));
  bh_rng_free(r);
}

static void test_permutation(void **state) {
  (void)state;
  bh_rng *r = bh_rng_alloc(3);
  gsl_rng *g = bh_rng_stream(r, "data");
  /* a permutation: each of 0..n-1 exactly once, and not the identity */
  int n = 1000, *perm = malloc((size_t)n * sizeof *perm), *seen = calloc((size_t)n, sizeof *seen);
  bh_rng_permutation(g, perm, n);
  int fixed = 0;
  for (int i = 0; i < n; i++) {
    assert_true(perm[i] >= 0 && perm[i] < n);
    seen[perm[i]]++;
    fixed += perm[i] == i;
  }
  for (int i = 0; i < n; i++) assert_int_equal(seen[i], 1);
  assert_true(fixed < 10); /* expected 1 fixed point; 10 has probability ~1e-7 */
  /* uniform over the 24 permutations of 4: 24000 draws, each count ~ 1000 ± 31 (binomial sd);
   * 6 sd either side */
  int counts[256] = {0};
  for (int t = 0; t < 24000; t++) {
    int p[4];
    bh_rng_permutation(g, p, 4);
    counts[p[0] * 64 + p[1] * 16 + p[2] * 4 + p[3]]++;
  }
  int distinct = 0;
  for (int c = 0; c < 256; c++)
    if (counts[c]) {
      distinct++;
      assert_true(abs(counts[c] - 1000) < 190);
    }
  assert_int_equal(distinct, 24);
  /* n = 0 and 1 are fine */
  bh_rng_permutation(g, perm, 0);
  bh_rng_permutation(g, perm, 1);
  assert_int_equal(perm[0], 0);
  free(perm);
  free(seen);
  bh_rng_free(r);
}

static void test_fill_normal_and_uniform(void **state) {
  (void)state;
  bh_rng *r = bh_rng_alloc(11);
  gsl_rng *g = bh_rng_stream(r, "noise");
  size_t n = 200000;
  float *x = malloc(n * sizeof *x);
  bh_rng_fill_normal(g, x, n);
  double s = 0, s2 = 0, s4 = 0;
  for (size_t i = 0; i < n; i++) s += x[i];
  double mean = s / (double)n;
  for (size_t i = 0; i < n; i++) {
    double d = x[i] - mean;
    s2 += d * d;
    s4 += d * d * d * d;
  }
  double var = s2 / (double)(n - 1), kurt = s4 / (double)n / (var * var);
  /* sd of the mean 1/√n = 0.0022, of the variance √(2/n) = 0.0032, of the kurtosis √(24/n)
   * = 0.011: 5 sd bounds */
  assert_true(fabs(mean) < 0.011);
  assert_true(fabs(var - 1.0) < 0.016);
  assert_true(fabs(kurt - 3.0) < 0.055);
  bh_rng_fill_uniform(g, x, n, -2.0f, 3.0f);
  s = 0;
  for (size_t i = 0; i < n; i++) {
    assert_true(x[i] >= -2.0f && x[i] < 3.0f);
    s += x[i];
  }
  /* mean 0.5, sd of the mean 5/√12/√n = 0.0032 */
  assert_true(fabs(s / (double)n - 0.5) < 0.016);
  free(x);
  bh_rng_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stream_seed_golden),
      cmocka_unit_test(test_same_seed_same_draws),
      cmocka_unit_test(test_different_names_and_seeds_differ),
      cmocka_unit_test(test_streams_are_independent),
      cmocka_unit_test(test_state_save_restore),
      cmocka_unit_test(test_state_rejects_bad_bytes),
      cmocka_unit_test(test_bad_names),
      cmocka_unit_test(test_permutation),
      cmocka_unit_test(test_fill_normal_and_uniform),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
