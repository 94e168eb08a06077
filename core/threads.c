/* threads.c — persistent, passively waiting worker pool (see threads.h).
 *
 * One job at a time: the caller publishes (fn, arg, n, parts), bumps a generation counter and
 * broadcasts; worker k (1 .. threads-1) wakes, runs part k if there is one, and the last part to
 * finish signals the caller.  Everything waits on condition variables, never in a spin loop, so
 * an idle pool costs nothing to OpenBLAS's threads on the same cores.
 *
 * Placement.  After a GEMM, OpenBLAS's workers keep polling (sched_yield) for ~2^28 cycles
 * (OPENBLAS_THREAD_TIMEOUT), so one core looks busy; the kernel then wakes our worker on the
 * caller's own core and both halves of a job share one core (measured: a 2-thread Adam step at
 * 1-thread speed).  So each worker is pinned to a core other than the caller's: worker k goes to
 * the k-th allowed CPU after the caller's current one.  A yielding OpenBLAS thread on that core
 * gives way at once.  The pin is re-applied only when the caller has moved to another CPU.
 */
#include "core/threads.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct pool {
  pthread_mutex_t mu;
  pthread_cond_t wake; /* workers: a new generation (or quit) */
  pthread_cond_t done; /* caller: pending reached 0 */
  pthread_t tid[BH_THREADS_MAX];
  unsigned long start_gen[BH_THREADS_MAX + 1]; /* gen when worker k was created */
  int nworkers;        /* workers running (threads - 1 once started) */
  unsigned long gen;   /* job counter, bumped per job */
  int quit;
  bh_range_fn fn;      /* the current job */
  void *arg;
  size_t n;
  size_t parts;
  size_t pending; /* parts 1 .. parts-1 not finished yet */
  int pin;        /* pin workers away from the caller's CPU (see the top of this file) */
  int pinned_for; /* caller CPU the current pins were made for; -1 none */
  int ncpus;      /* CPUs the process may run on, listed in cpus[] */
  int cpus[CPU_SETSIZE];
} pool;

static pool P = {.mu = PTHREAD_MUTEX_INITIALIZER,
                 .wake = PTHREAD_COND_INITIALIZER,
                 .done = PTHREAD_COND_INITIALIZER,
                 .pin = 1,
                 .pinned_for = -1};
/* Serialises jobs and pool changes between application threads. */
static pthread_mutex_t submit_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int nthreads; /* 0: not resolved yet (use the default) */
/* Set inside a running part (workers: always), so nested calls run inline, not deadlock. */
static _Thread_local int in_part;

static void run_part(bh_range_fn fn, void *arg, size_t n, size_t parts, size_t k) {
  size_t begin = n * k / parts, end = n * (k + 1) / parts;
  if (begin < end) fn(begin, end, arg);
}

static void *worker_main(void *p) {
  size_t k = (size_t)(uintptr_t)p;
  in_part = 1;
  pthread_mutex_lock(&P.mu);
  /* Not P.gen: the first job may already have been published before this thread ran. */
  unsigned long seen = P.start_gen[k];
  for (;;) {
    while (P.gen == seen && !P.quit) pthread_cond_wait(&P.wake, &P.mu);
    if (P.quit) break;
    seen = P.gen;
    if (k >= P.parts) continue; /* no part for this worker in this job */
    bh_range_fn fn = P.fn;
    void *arg = P.arg;
    size_t n = P.n, parts = P.parts;
    pthread_mutex_unlock(&P.mu);
    run_part(fn, arg, n, parts, k);
    pthread_mutex_lock(&P.mu);
    if (--P.pending == 0) pthread_cond_signal(&P.done);
  }
  pthread_mutex_unlock(&P.mu);
  return NULL;
}

/* Called with submit_mu held, when the workers start. */
static void pool_read_cpus(void) {
  cpu_set_t set;
  P.ncpus = 0;
  P.pinned_for = -1;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &set)) P.cpus[P.ncpus++] = c;
}

/* Called with submit_mu held: worker w (part w+1) to the (w+1)-th allowed CPU after the
 * caller's.  Skipped when there are fewer allowed CPUs than threads (pins would collide). */
static void pool_pin(void) {
  if (!P.pin || P.ncpus < P.nworkers + 1) return;
  int cpu = sched_getcpu(), at = -1;
  if (cpu < 0 || cpu == P.pinned_for) return;
  for (int i = 0; i < P.ncpus; i++)
    if (P.cpus[i] == cpu) at = i;
  if (at < 0) return;
  for (int w = 0; w < P.nworkers; w++) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(P.cpus[(at + 1 + w) % P.ncpus], &one);
    pthread_setaffinity_np(P.tid[w], sizeof one, &one);
  }
  P.pinned_for = cpu;
}

/* A forked child has none of the parent's workers: forget them, so that its first parallel
 * call starts its own (the locks are re-made in case another thread held them at the fork). */
static void pool_after_fork_child(void) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  submit_mu = m;
  P.mu = m;
  P.wake = c;
  P.done = c;
  P.nworkers = 0;
  P.quit = 0;
  P.pinned_for = -1;
}

static void pool_register_fork_handler(void) {
  pthread_atfork(NULL, NULL, pool_after_fork_child);
}

/* Called with submit_mu held. */
static void pool_start(int want) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, pool_register_fork_handler);
  if (P.nworkers == 0 && want > 0) pool_read_cpus();
  while (P.nworkers < want) {
    size_t k = (size_t)P.nworkers + 1;
    P.start_gen[k] = P.gen; /* gen only moves under submit_mu, which we hold */
    if (pthread_create(&P.tid[P.nworkers], NULL, worker_main, (void *)(uintptr_t)k) != 0)
      return; /* fewer workers: parts are capped to what runs */
    P.nworkers++;
  }
}

/* Called with submit_mu held. */
static void pool_stop(void) {
  if (P.nworkers == 0) return;
  pthread_mutex_lock(&P.mu);
  P.quit = 1;
  pthread_cond_broadcast(&P.wake);
  pthread_mutex_unlock(&P.mu);
  for (int i = 0; i < P.nworkers; i++) pthread_join(P.tid[i], NULL);
  P.nworkers = 0;
  P.quit = 0;
}

int bh_threads_get(void) {
  int t = atomic_load(&nthreads);
  if (t > 0) return t;
  t = openblas_get_num_threads();
  return t < 1 ? 1 : t > BH_THREADS_MAX ? BH_THREADS_MAX : t;
}

void bh_threads_set(int n) {
  pthread_mutex_lock(&submit_mu);
  pool_stop();
  atomic_store(&nthreads, n <= 0 ? 0 : n > BH_THREADS_MAX ? BH_THREADS_MAX : n);
  pthread_mutex_unlock(&submit_mu);
}

void bh_threads_set_pinning(int on) {
  pthread_mutex_lock(&submit_mu);
  P.pin = on != 0;
  if (!P.pin && P.pinned_for >= 0) { /* release the workers to every allowed CPU */
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int i = 0; i < P.ncpus; i++) CPU_SET(P.cpus[i], &all);
    for (int w = 0; w < P.nworkers; w++) pthread_setaffinity_np(P.tid[w], sizeof all, &all);
  }
  P.pinned_for = -1;
  pthread_mutex_unlock(&submit_mu);
}

void bh_parallel_for(size_t n, size_t grain, bh_range_fn fn, void *arg) {
  if (n == 0) return;
  size_t threads = (size_t)bh_threads_get();
  size_t parts = n / (grain ? grain : 1);
  if (parts > threads) parts = threads;
  if (parts <= 1 || in_part) {
    fn(0, n, arg);
    return;
  }
  pthread_mutex_lock(&submit_mu);
  pool_start((int)threads - 1);
  if (parts > (size_t)P.nworkers + 1) parts = (size_t)P.nworkers + 1;
  pool_pin();
  pthread_mutex_lock(&P.mu);
  P.fn = fn, P.arg = arg, P.n = n, P.parts = parts, P.pending = parts - 1;
  P.gen++;
  if (parts > 1) pthread_cond_broadcast(&P.wake);
  pthread_mutex_unlock(&P.mu);

  in_part = 1;
  run_part(fn, arg, n, parts, 0);
  in_part = 0;

  pthread_mutex_lock(&P.mu);
  while (P.pending > 0) pthread_cond_wait(&P.done, &P.mu);
  pthread_mutex_unlock(&P.mu);
  pthread_mutex_unlock(&submit_mu);
}
