/* test_threads.c — the worker pool: coverage, partition, inline cases, nesting, concurrent
 * callers, thread count, and that idle workers do not spin. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/threads.h"

/* Every call to the body is logged: its range and the thread that ran it. */
#define MAX_CALLS 128
typedef struct calls {
  atomic_int *hits; /* per index: how many times the body saw it */
  atomic_int ncalls;
  size_t begin[MAX_CALLS], end[MAX_CALLS];
  pthread_t who[MAX_CALLS];
} calls;

static void count_body(size_t begin, size_t end, void *arg) {
  calls *c = arg;
  int k = atomic_fetch_add(&c->ncalls, 1);
  if (k < MAX_CALLS) c->begin[k] = begin, c->end[k] = end, c->who[k] = pthread_self();
  for (size_t i = begin; i < end; i++) atomic_fetch_add(&c->hits[i], 1);
}

static calls *calls_new(size_t n) {
  calls *c = calloc(1, sizeof *c);
  c->hits = calloc(n ? n : 1, sizeof *c->hits);
  return c;
}

static void calls_free(calls *c) {
  free(c->hits);
  free(c);
}

/* Sort the logged ranges by begin (few entries: insertion sort). */
static void sort_ranges(calls *c) {
  int n = atomic_load(&c->ncalls);
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && c->begin[j] < c->begin[j - 1]; j--) {
      size_t b = c->begin[j], e = c->end[j];
      c->begin[j] = c->begin[j - 1], c->end[j] = c->end[j - 1];
      c->begin[j - 1] = b, c->end[j - 1] = e;
    }
}

static void test_every_index_once(void **state) {
  (void)state;
  const int threads[] = {1, 2, 3, 4, 7};
  const size_t ns[] = {0, 1, 2, 3, 5, 17, 100, 1000, 4097, 100003};
  const size_t grains[] = {0, 1, 2, 7, 64, 1000, 200000};
  for (size_t ti = 0; ti < sizeof threads / sizeof *threads; ti++) {
    bh_threads_set(threads[ti]);
    assert_int_equal(bh_threads_get(), threads[ti]);
    for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
      for (size_t gi = 0; gi < sizeof grains / sizeof *grains; gi++) {
        size_t n = ns[ni], grain = grains[gi];
        calls *c = calls_new(n);
        bh_parallel_for(n, grain, count_body, c);
        for (size_t i = 0; i < n; i++)
          if (atomic_load(&c->hits[i]) != 1)
            fail_msg("threads %d n %zu grain %zu: index %zu seen %d times", threads[ti], n,
                     grain, i, atomic_load(&c->hits[i]));
        int nc = atomic_load(&c->ncalls);
        /* never more parts than threads, none empty, each at least `grain` long */
        assert_true(nc <= threads[ti]);
        if (n == 0) assert_int_equal(nc, 0);
        sort_ranges(c);
        for (int k = 0; k < nc; k++) {
          assert_true(c->begin[k] < c->end[k]);
          if (nc > 1) assert_true(c->end[k] - c->begin[k] >= grain);
          if (k > 0) assert_true(c->begin[k] == c->end[k - 1]); /* contiguous */
        }
        /* inline when n < grain or one thread: exactly one call over [0, n) */
        if (n > 0 && (n < grain || threads[ti] == 1)) {
          assert_int_equal(nc, 1);
          assert_true(c->begin[0] == 0 && c->end[0] == n);
        }
        calls_free(c);
      }
  }
  bh_threads_set(0);
}

static void test_partition_is_static_and_parallel(void **state) {
  (void)state;
  bh_threads_set(2);
  size_t n = 1000;
  calls *a = calls_new(n), *b = calls_new(n);
  bh_parallel_for(n, 10, count_body, a);
  bh_parallel_for(n, 10, count_body, b);
  assert_int_equal(atomic_load(&a->ncalls), 2);
  sort_ranges(a);
  sort_ranges(b);
  for (int k = 0; k < 2; k++) {
    assert_true(a->begin[k] == b->begin[k] && a->end[k] == b->end[k]);
  }
  /* the documented split: [0, 500), [500, 1000) */
  assert_true(a->end[0] == 500);
  /* the two parts ran on two different threads */
  assert_false(pthread_equal(b->who[0], b->who[1]));
  calls_free(a);
  calls_free(b);
  /* three threads over 10 with grain 1: [0,3) [3,6) [6,10) */
  bh_threads_set(3);
  calls *c = calls_new(10);
  bh_parallel_for(10, 1, count_body, c);
  sort_ranges(c);
  assert_int_equal(atomic_load(&c->ncalls), 3);
  assert_true(c->end[0] == 3 && c->end[1] == 6 && c->end[2] == 10);
  calls_free(c);
  bh_threads_set(0);
}

/* A body that itself calls bh_parallel_for: must run inline, not deadlock. */
typedef struct nested {
  calls *inner;
  size_t m;
} nested;

static void nested_body(size_t begin, size_t end, void *arg) {
  nested *nd = arg;
  for (size_t i = begin; i < end; i++) {
    calls local = {0};
    local.hits = nd->inner->hits + i * nd->m;
    bh_parallel_for(nd->m, 1, count_body, &local);
    assert_int_equal(atomic_load(&local.ncalls), 1); /* inline: one call */
  }
}

static void test_nested_calls_run_inline(void **state) {
  (void)state;
  bh_threads_set(2);
  size_t n = 8, m = 100;
  nested nd = {calls_new(n * m), m};
  bh_parallel_for(n, 1, nested_body, &nd);
  for (size_t i = 0; i < n * m; i++) assert_int_equal(atomic_load(&nd.inner->hits[i]), 1);
  calls_free(nd.inner);
  bh_threads_set(0);
}

/* Several application threads submitting at once are serialised, each job complete. */
static void *submitter(void *arg) {
  calls *c = arg;
  for (int r = 0; r < 200; r++) bh_parallel_for(5000, 100, count_body, c);
  return NULL;
}

static void test_concurrent_callers(void **state) {
  (void)state;
  bh_threads_set(2);
  calls *c[3];
  pthread_t t[3];
  for (int i = 0; i < 3; i++) {
    c[i] = calls_new(5000);
    pthread_create(&t[i], NULL, submitter, c[i]);
  }
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 3; i++) {
    for (size_t j = 0; j < 5000; j++) assert_int_equal(atomic_load(&c[i]->hits[j]), 200);
    calls_free(c[i]);
  }
  bh_threads_set(0);
}

static void test_thread_count(void **state) {
  (void)state;
  bh_threads_set(0);
  int def = openblas_get_num_threads();
  assert_int_equal(bh_threads_get(), def < 1 ? 1 : def);
  bh_threads_set(5);
  assert_int_equal(bh_threads_get(), 5);
  bh_threads_set(100000);
  assert_int_equal(bh_threads_get(), BH_THREADS_MAX);
  bh_threads_set(-3);
  assert_int_equal(bh_threads_get(), def < 1 ? 1 : def);
  /* pinning off and on again keeps the pool working */
  bh_threads_set(2);
  bh_threads_set_pinning(0);
  calls *c = calls_new(1000);
  bh_parallel_for(1000, 1, count_body, c);
  bh_threads_set_pinning(1);
  bh_parallel_for(1000, 1, count_body, c);
  for (size_t i = 0; i < 1000; i++) assert_int_equal(atomic_load(&c->hits[i]), 2);
  calls_free(c);
  bh_threads_set(0);
}

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* Idle workers must wait passively.  OpenBLAS's own threads poll for ~2^28 cycles (~0.13 s)
 * after they start, so wait that out first; then a 200 ms idle window must cost the whole
 * process (3 idle pool workers included) well under 200 ms of CPU: one spinning worker alone
 * would burn all of it.  20 ms allows for timer ticks and a loaded machine. */
static void test_idle_workers_do_not_spin(void **state) {
  (void)state;
  bh_threads_set(4);
  calls *c = calls_new(1000);
  bh_parallel_for(1000, 1, count_body, c); /* start the workers */
  sleep_ms(400);
  double t0 = cpu_seconds();
  sleep_ms(200);
  double used = cpu_seconds() - t0;
  assert_true(used < 0.020);
  /* and they still answer afterwards */
  bh_parallel_for(1000, 1, count_body, c);
  for (size_t i = 0; i < 1000; i++) assert_int_equal(atomic_load(&c->hits[i]), 2);
  calls_free(c);
  bh_threads_set(0);
}

/* A forked child (the CLI may fork) gets a working pool of its own. */
static void test_pool_after_fork(void **state) {
  (void)state;
  bh_threads_set(2);
  calls *c = calls_new(1000);
  bh_parallel_for(1000, 1, count_body, c); /* the parent's workers are running */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(10); /* a child stuck waiting for the parent's workers dies: the test fails, not hangs */
    calls *d = calls_new(1000);
    bh_parallel_for(1000, 1, count_body, d);
    int ok = atomic_load(&d->ncalls) == 2;
    for (size_t i = 0; i < 1000; i++) ok &= atomic_load(&d->hits[i]) == 1;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  calls_free(c);
  bh_threads_set(0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_index_once),
      cmocka_unit_test(test_partition_is_static_and_parallel),
      cmocka_unit_test(test_nested_calls_run_inline),
      cmocka_unit_test(test_concurrent_callers),
      cmocka_unit_test(test_thread_count),
      cmocka_unit_test(test_idle_workers_do_not_spin),
      cmocka_unit_test(test_pool_after_fork),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
