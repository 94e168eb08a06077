/* threads.h — a small persistent worker pool for the core's elementwise loops (Adam, large maps).
 *
 * The pool shares the machine with OpenBLAS's own pthread pool, so its workers wait passively
 * (a condition variable, i.e. a futex) between jobs and never spin: a busy-waiting pool beside
 * OpenBLAS made 2 threads slower than 1 elsewhere on these 2-core machines.
 *
 * bh_parallel_for splits [0, n) into at most bh_threads_get() contiguous parts of at least
 * `grain` indices each; part k is [n·k/P, n·(k+1)/P) with P the number of parts, so the same
 * thread count always gives the same partition (reductions done per part are reproducible).
 * The calling thread runs part 0 itself and returns when every part is done.
 *
 * A call from inside a running part (nested) runs inline on the caller.  Calls from several
 * application threads at once are serialised.  bh_threads_set must not race with a running
 * bh_parallel_for.
 */
#ifndef BH_THREADS_H
#define BH_THREADS_H

#include <stddef.h>

/* The loop body: handle indices begin .. end-1. */
typedef void (*bh_range_fn)(size_t begin, size_t end, void *arg);

/* Run fn over [0, n) in contiguous parts; inline (one call fn(0, n, arg)) when n < grain, when
 * the thread count is 1, or when called from inside a part.  n == 0 calls nothing. */
void bh_parallel_for(size_t n, size_t grain, bh_range_fn fn, void *arg);

/* Threads used by bh_parallel_for (the caller included).  Default: OpenBLAS's thread count
 * (openblas_get_num_threads(), which follows OPENBLAS_NUM_THREADS or the core count). */
int bh_threads_get(void);
/* Set the count (clamped to 1 .. BH_THREADS_MAX); n <= 0 restores the default.  Workers of the
 * old count are joined; new ones start on the next parallel call.  bh_threads_set(1) thus also
 * releases the pool. */
void bh_threads_set(int n);

#define BH_THREADS_MAX 64

/* Pin each worker to a CPU other than the caller's (on, the default) or let the kernel place
 * them (off).  Pinning keeps a job's parts on distinct cores while OpenBLAS's threads are still
 * polling after a GEMM; see threads.c.  It is skipped when the process may use fewer CPUs than
 * there are threads. */
void bh_threads_set_pinning(int on);

#endif
