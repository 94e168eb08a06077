/* bench-data — dSprites data path figures: the full generated set (time, bit-packed memory) and
 * a random batch of 64 images unpacked to float32 (median of many), optionally the time to load
 * the real .npz (--npz PATH).
 *
 * The batch is timed the way training uses it: 64 indices drawn uniformly from all 737,280
 * examples (a fresh draw per repetition, so the images come from all over the 360 MiB store and
 * the cache holds nothing useful), unpacked into one 64×4096 float buffer that is reused.
 * --json prints one JSON object instead.  Never run by make check: figures, not a test.
 */
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/bench_util.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"
#include "datasets/bitstore.h"
#include "datasets/dsprites.h"

#define BATCH 64

/* Median, and the 90th percentile, of reps random-batch unpacks (seconds). */
static int time_batches(bh_dataset *ds, int reps, gsl_rng *g, double *med, double *p90) {
  float *out = malloc(sizeof(float) * BATCH * bh_dataset_image_size(ds));
  double *t = malloc(sizeof(double) * (size_t)reps);
  if (!out || !t) {
    free(out);
    free(t);
    return bh_error(BH_ENOMEM, "bench-data: out of memory");
  }
  size_t idx[BATCH];
  int rc = BH_OK;
  for (int r = -10; r < reps && rc == BH_OK; r++) { /* 10 warm-up batches */
    for (int k = 0; k < BATCH; k++) idx[k] = gsl_rng_uniform_int(g, ds->n);
    double t0 = bench_now_s();
    rc = ds->ops->images(ds, idx, BATCH, out);
    if (r >= 0) t[r] = bench_now_s() - t0;
  }
  if (rc == BH_OK) {
    *med = bench_median(t, reps); /* sorts t */
    *p90 = t[(size_t)(0.9 * (reps - 1))];
  }
  free(out);
  free(t);
  return rc;
}

static void usage(void) {
  fprintf(stderr, "usage: bench-data [--reps N] [--threads T] [--npz PATH] [--json]\n");
}

int main(int argc, char **argv) {
  int reps = 2000, threads = 0, json = 0;
  const char *npz = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--npz") && i + 1 < argc)
      npz = argv[++i];
    else if (!strcmp(argv[i], "--json"))
      json = 1;
    else {
      usage();
      return 2;
    }
  }
  if (reps < 3) {
    fprintf(stderr, "bench-data: --reps must be at least 3\n");
    return 2;
  }
  if (threads > 0) bh_threads_set(threads);
  threads = bh_threads_get();

  double t0 = bench_now_s();
  bh_dataset *ds = bh_dsprites_generate();
  double gen_s = bench_now_s() - t0;
  if (!ds) {
    fprintf(stderr, "bench-data: %s\n", bh_error_message());
    return 1;
  }
  const bh_bitstore *bs = ds->impl;
  double mib = (double)bs->bytes / (1 << 20);

  bh_rng *rng = bh_rng_alloc(1);
  double med = 0, p90 = 0;
  if (!rng || time_batches(ds, reps, bh_rng_stream(rng, "batches"), &med, &p90) != BH_OK) {
    fprintf(stderr, "bench-data: %s\n", bh_error_message());
    return 1;
  }

  double npz_s = -1, npz_mib = 0, npz_batch = 0, npz_p90 = 0;
  if (npz) {
    t0 = bench_now_s();
    bh_dataset *real = bh_dsprites_npz_open(npz);
    npz_s = bench_now_s() - t0;
    if (!real || time_batches(real, reps, bh_rng_stream(rng, "npz"), &npz_batch, &npz_p90)) {
      fprintf(stderr, "bench-data: %s\n", bh_error_message());
      return 1;
    }
    npz_mib = (double)((const bh_bitstore *)real->impl)->bytes / (1 << 20);
    real->ops->free(real);
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double peak_mib = (double)ru.ru_maxrss / 1024.0;

  if (json) {
    printf("{\"benchmark\": \"dsprites-data\", \"threads\": %d, \"images\": %zu, "
           "\"generate_s\": %.3f, \"bitstore_mib\": %.1f, \"batch\": %d, \"reps\": %d, "
           "\"batch_f32_median_us\": %.2f, \"batch_f32_p90_us\": %.2f, \"peak_rss_mib\": %.1f",
           threads, ds->n, gen_s, mib, BATCH, reps, 1e6 * med, 1e6 * p90, peak_mib);
    if (npz)
      printf(", \"npz_load_s\": %.3f, \"npz_bitstore_mib\": %.1f, \"npz_batch_f32_median_us\": "
             "%.2f",
             npz_s, npz_mib, 1e6 * npz_batch);
    printf("}\n");
  } else {
    printf("dSprites data path, %d threads\n", threads);
    printf("  generate all %zu images : %8.3f s\n", ds->n, gen_s);
    printf("  bit-packed store         : %8.1f MiB (%zu bytes an image)\n", mib, bs->stride);
    printf("  random batch of %d f32   : %8.2f µs median, %.2f µs p90 (%d batches)\n", BATCH,
           1e6 * med, 1e6 * p90, reps);
    if (npz) {
      printf("  load %s : %.3f s, %.1f MiB\n", npz, npz_s, npz_mib);
      printf("  random batch from it     : %8.2f µs median\n", 1e6 * npz_batch);
    }
    printf("  peak RSS                 : %8.1f MiB\n", peak_mib);
  }
  ds->ops->free(ds);
  bh_rng_free(rng);
  return 0;
}
