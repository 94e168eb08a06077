/* bench-metrics — time of disentanglement_lib-style MIG and SAP (discrete and continuous) on
 * 10,000 × 10 codes with the 5 dSprites factors (5,000 test points for discrete SAP), median of
 * --reps runs; with --chen also one run of Chen et al.'s MIG (mig_chen.c) on a synthetic
 * full-dSprites-sized problem (737,280 × 10 posteriors, 10,000 marginal points).
 *
 * The codes are seeded and synthetic: code j < 5 = factor j's index + uniform noise, the other
 * five pure noise, so every metric does real (non-degenerate) work.  References on this machine
 * (numpy / scikit-learn, metrics-spec §2–3): MIG 0.11–0.15 s, discrete SAP 2.6–3.2 s.
 * --json prints one JSON object.  Never run by make check: figures, not a test.
 */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_util.h"
#include "core/error.h"
#include "core/threads.h"
#include "metrics/metrics.h"

static const int SIZES[5] = {3, 6, 40, 32, 32};

/* n uniform dSprites factor rows and a d-dim code (d ≥ 5) carrying them with noise. */
static int make_set(gsl_rng *g, size_t n, int d, bh_codes *c, bh_factors *f) {
  f->n = c->n = n;
  f->k = 5;
  c->d = d;
  f->y = malloc(n * 5 * sizeof *f->y);
  c->x = malloc(n * (size_t)d * sizeof *c->x);
  if (!f->y || !c->x) return bh_error(BH_ENOMEM, "bench-metrics: out of memory");
  for (size_t i = 0; i < n; i++) {
    for (int j = 0; j < 5; j++)
      f->y[i * 5 + j] = (int)gsl_rng_uniform_int(g, (unsigned long)SIZES[j]);
    for (int j = 0; j < d; j++)
      c->x[i * d + j] = (float)((j < 5 ? f->y[i * 5 + j] : 0) + 4 * gsl_rng_uniform(g));
  }
  return BH_OK;
}

/* Which metric one timed run computes. */
enum { RUN_MIG, RUN_SAP_DISCRETE, RUN_SAP_CONTINUOUS, RUN_COUNT };
static const char *RUN_NAMES[RUN_COUNT] = {"mig", "sap_discrete", "sap_continuous"};

static int run_once(int which, const bh_codes *c, const bh_factors *f, const bh_codes *tc,
                    const bh_factors *tf, double *score) {
  bh_metric_result res;
  bh_metric_result_init(&res, which == RUN_MIG ? "mig" : "sap");
  int st = which == RUN_MIG ? bh_metric_mig(c, f, 20, &res)
                            : bh_metric_sap(c, f, tc, tf, which == RUN_SAP_CONTINUOUS, &res);
  *score = res.score;
  bh_metric_result_free(&res);
  return st;
}

/* ---- Chen et al.'s MIG (mig_chen.c) on a synthetic full-dSprites-sized problem ---- */

static int run_chen(gsl_rng *g, double *secs, double *score) {
  const size_t n = 737280;
  const int d = 10;
  bh_codes mu = {n, d, malloc(n * d * sizeof(float))}, lv = {n, d, malloc(n * d * sizeof(float))};
  bh_factors f = {n, 5, malloc(n * 5 * sizeof(int))};
  int st = BH_OK;
  if (!mu.x || !lv.x || !f.y) st = bh_error(BH_ENOMEM, "bench-metrics: out of memory");
  /* every factor combination once, in dSprites order (posY fastest); the posterior of dim j < 5
   * is centred on factor j's scaled index, the rest are prior-like */
  for (size_t i = 0; !st && i < n; i++) {
    size_t rest = i;
    for (int j = 4; j >= 0; j--) {
      f.y[i * 5 + j] = (int)(rest % (size_t)SIZES[j]);
      rest /= (size_t)SIZES[j];
    }
    for (int j = 0; j < d; j++) {
      double centre = j < 5 ? 2.0 * f.y[i * 5 + j] / SIZES[j] - 1 : 0;
      mu.x[i * d + j] = (float)(centre + 0.05 * (gsl_rng_uniform(g) - 0.5));
      lv.x[i * d + j] = (float)(j < 5 ? -6.0 : -0.1);
    }
  }
  const int use[5] = {0, 1, 1, 1, 1}; /* shape excluded, as in Chen et al. */
  if (!st) {
    bh_metric_result res;
    bh_metric_result_init(&res, "mig-chen");
    double t0 = bench_now_s();
    st = bh_metric_mig_chen(&mu, &lv, &f, SIZES, use, 10000, g, &res);
    *secs = bench_now_s() - t0;
    *score = res.score;
    bh_metric_result_free(&res);
  }
  free(mu.x);
  free(lv.x);
  free(f.y);
  return st;
}

static void usage(void) {
  fprintf(stderr, "usage: bench-metrics [--reps N] [--threads T] [--seed S] [--chen] [--json]\n");
}

int main(int argc, char **argv) {
  int reps = 11, threads = 0, json = 0, chen = 0;
  unsigned long seed = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
      seed = strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--json"))
      json = 1;
    else if (!strcmp(argv[i], "--chen"))
      chen = 1;
    else {
      usage();
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  if (threads > 0) bh_threads_set(threads);
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, seed);
  bh_codes c = {0}, tc = {0};
  bh_factors f = {0}, tf = {0};
  int st = make_set(g, 10000, 10, &c, &f);
  if (!st) st = make_set(g, 5000, 10, &tc, &tf);
  double med[RUN_COUNT], score[RUN_COUNT], *t = malloc((size_t)reps * sizeof *t);
  for (int w = 0; w < RUN_COUNT && !st; w++) {
    st = run_once(w, &c, &f, &tc, &tf, &score[w]); /* warm-up */
    for (int r = 0; r < reps && !st; r++) {
      double t0 = bench_now_s();
      st = run_once(w, &c, &f, &tc, &tf, &score[w]);
      t[r] = bench_now_s() - t0;
    }
    if (!st) med[w] = bench_median(t, reps);
  }
  double chen_s = 0, chen_score = 0;
  if (!st && chen) st = run_chen(g, &chen_s, &chen_score);
  if (st) {
    fprintf(stderr, "bench-metrics: %s\n", bh_error_message());
  } else if (json) {
    printf("{\"n_train\": 10000, \"n_test\": 5000, \"codes\": 10, \"factors\": 5, \"reps\": %d, "
           "\"threads\": %d",
           reps, bh_threads_get());
    for (int w = 0; w < RUN_COUNT; w++)
      printf(", \"%s_median_s\": %.6f, \"%s_score\": %.6f", RUN_NAMES[w], med[w], RUN_NAMES[w],
             score[w]);
    if (chen) printf(", \"mig_chen_s\": %.3f, \"mig_chen_score\": %.6f", chen_s, chen_score);
    printf("}\n");
  } else {
    printf("bench-metrics: 10,000 × 10 codes, 5 dSprites factors, %d threads, median of %d\n",
           bh_threads_get(), reps);
    for (int w = 0; w < RUN_COUNT; w++)
      printf("  %-16s %9.3f ms   (score %.4f)\n", RUN_NAMES[w], 1e3 * med[w], score[w]);
    if (chen)
      printf("  %-16s %9.3f s    (score %.4f, 737,280 × 10, 10,000 marginal points)\n",
             "mig_chen", chen_s, chen_score);
  }
  free(t);
  free(c.x);
  free(f.y);
  free(tc.x);
  free(tf.y);
  gsl_rng_free(g);
  return st ? 1 : 0;
}
