/* bench-step — one full training step of the dSprites fully connected VAE, and the bare sgemm
 * sequence of that step, in the same run.
 *
 * Model (β-TCVAE's MLP pair for 64×64 binary images, batch 64):
 *   encoder 4096 →1200 relu →1200 relu → 2·10 (mu, logvar)
 *   decoder 10 →1200 tanh →1200 tanh →1200 tanh → 4096 Bernoulli logits
 *   loss = mean_batch[ BCE-with-logits summed over pixels + KL(q(z|x) || N(0, I)) ]
 * A step is forward, backward and one Adam update.  The GEMM-only run issues the step's 20
 * sgemm calls (7 forward, 7 weight gradients, 6 input gradients: the first layer needs none)
 * with the same shapes and order, on the same threads: the bound the full step is compared to
 * (bench_gemm.h, shared with bench-models).
 *
 * Prints images/s, achieved GFLOP/s, peak RSS and the ratio (full step)/(GEMM only);
 * --json prints one JSON object instead.  Never run by make check: figures, not a test.
 */
#include <cblas.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/bench_gemm.h"
#include "bench/bench_util.h"
#include "core/adam.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/params.h"
#include "core/rng.h"
#include "core/threads.h"

#define BATCH BENCH_FC_BATCH
#define NPIX BENCH_FC_NPIX
#define ZDIM BENCH_FC_ZDIM
#define NLAYERS BENCH_FC_NLAYERS
#define LAYER_IN BENCH_FC_IN
#define LAYER_OUT BENCH_FC_OUT

typedef struct vae {
  bh_params *params;
  bh_tensor *w[NLAYERS], *b[NLAYERS];
} vae;

static int vae_init(vae *m, gsl_rng *r) {
  m->params = bh_params_alloc();
  if (!m->params) return -1;
  for (int l = 0; l < NLAYERS; l++) {
    char name[32];
    int ws[2] = {LAYER_OUT[l], LAYER_IN[l]}, bs = LAYER_OUT[l];
    snprintf(name, sizeof name, "l%d.w", l);
    m->w[l] = bh_params_add(m->params, name, 2, ws);
    snprintf(name, sizeof name, "l%d.b", l);
    m->b[l] = bh_params_add(m->params, name, 1, &bs);
    if (!m->w[l] || !m->b[l]) return -1;
  }
  /* PyTorch's default Linear init: U(-1/sqrt(in), 1/sqrt(in)) */
  for (int l = 0; l < NLAYERS; l++) {
    float bound = 1.0f / sqrtf((float)LAYER_IN[l]);
    for (size_t i = 0; i < m->w[l]->size; i++)
      m->w[l]->data[i] = bound * (float)(2.0 * gsl_rng_uniform(r) - 1.0);
    for (size_t i = 0; i < m->b[l]->size; i++)
      m->b[l]->data[i] = bound * (float)(2.0 * gsl_rng_uniform(r) - 1.0);
  }
  return 0;
}

/* The loss of one batch, built on the tape. x [64×4096] in {0, 1}. */
static bh_tensor *vae_loss(bh_ctx *ctx, vae *m, bh_tensor *x, gsl_rng *noise) {
  bh_tensor *h = bh_relu(ctx, bh_linear(ctx, x, m->w[0], m->b[0]));
  h = bh_relu(ctx, bh_linear(ctx, h, m->w[1], m->b[1]));
  bh_tensor *stats = bh_linear(ctx, h, m->w[2], m->b[2]); /* [64×20] */
  bh_tensor *mu = bh_slice(ctx, stats, 0, ZDIM), *logvar = bh_slice(ctx, stats, ZDIM, ZDIM);
  bh_tensor *z = bh_reparam(ctx, mu, logvar, noise);
  bh_tensor *d = bh_tanh(ctx, bh_linear(ctx, z, m->w[3], m->b[3]));
  d = bh_tanh(ctx, bh_linear(ctx, d, m->w[4], m->b[4]));
  d = bh_tanh(ctx, bh_linear(ctx, d, m->w[5], m->b[5]));
  bh_tensor *logits = bh_linear(ctx, d, m->w[6], m->b[6]);
  bh_tensor *per_example = bh_add(ctx, bh_bce_logits(ctx, logits, x->data),
                                  bh_kl_normal_std(ctx, mu, logvar));
  return bh_mean(ctx, per_example, BH_AXIS_ALL);
}

static void usage(void) {
  fprintf(stderr, "usage: bench-step [--steps N] [--threads T] [--json]\n");
}

int main(int argc, char **argv) {
  int steps = 50, threads = 0, json = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--steps") && i + 1 < argc)
      steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--json"))
      json = 1;
    else {
      usage();
      return 2;
    }
  }
  if (steps < 3) {
    fprintf(stderr, "bench-step: --steps must be at least 3\n");
    return 2;
  }
  if (threads > 0) {
    openblas_set_num_threads(threads);
    bh_threads_set(threads);
  }
  threads = openblas_get_num_threads();

  bh_rng *rng = bh_rng_alloc(1);
  vae m;
  if (!rng || vae_init(&m, bh_rng_stream(rng, "init")) != 0) {
    fprintf(stderr, "bench-step: %s\n", bh_error_message());
    return 1;
  }
  bh_adam_config cfg = bh_adam_config_default();
  cfg.lr = 1e-4f;
  bh_adam *adam = bh_adam_alloc(m.params, cfg);
  bh_ctx *ctx = bh_ctx_alloc((size_t)64 << 20);
  /* a few fixed batches of random binary images (throughput does not depend on content) */
  enum { NBATCH = 4 };
  float *images = malloc(sizeof(float) * NBATCH * BATCH * NPIX);
  gsl_rng *data = bh_rng_stream(rng, "data");
  for (size_t i = 0; i < (size_t)NBATCH * BATCH * NPIX; i++)
    images[i] = gsl_rng_uniform(data) < 0.12 ? 1.0f : 0.0f;

  /* ---- full training steps ---- */
  int warm = 3;
  double *t_step = malloc(sizeof(double) * (size_t)steps);
  double t_fwd = 0, t_bwd = 0, t_adam = 0; /* summed over the timed steps */
  long faults_before = 0;
  float last_loss = 0.0f;
  for (int s = -warm; s < steps; s++) {
    if (s == 0) {
      struct rusage ru0;
      getrusage(RUSAGE_SELF, &ru0);
      faults_before = ru0.ru_minflt + ru0.ru_majflt;
    }
    double t0 = bench_now_s();
    bh_ctx_reset(ctx);
    int shape[2] = {BATCH, NPIX};
    bh_tensor *x = bh_tensor_view(ctx, images + (size_t)((s + warm) % NBATCH) * BATCH * NPIX, 2,
                                  shape);
    bh_params_zero_grad(m.params);
    bh_tensor *loss = vae_loss(ctx, &m, x, bh_rng_stream(rng, "noise"));
    double t1 = bench_now_s();
    if (!loss || bh_backward(ctx, loss) != BH_OK) {
      fprintf(stderr, "bench-step: %s\n", bh_error_message());
      return 1;
    }
    double t2 = bench_now_s();
    bh_adam_step(adam);
    double t3 = bench_now_s();
    last_loss = loss->data[0];
    if (s >= 0) {
      t_step[s] = t3 - t0;
      t_fwd += t1 - t0, t_bwd += t2 - t1, t_adam += t3 - t2;
    }
  }
  struct rusage ru1;
  getrusage(RUSAGE_SELF, &ru1);
  double faults_per_step = (double)(ru1.ru_minflt + ru1.ru_majflt - faults_before) / steps;

  /* ---- the same step's GEMMs alone ---- */
  bench_gemm g;
  float *w[NLAYERS], *dw[NLAYERS];
  for (int l = 0; l < NLAYERS; l++) w[l] = m.w[l]->data, dw[l] = m.w[l]->grad;
  if (bench_gemm_alloc(&g, w, dw) != 0) {
    fprintf(stderr, "bench-step: out of memory\n");
    return 1;
  }
  double *t_gemm = malloc(sizeof(double) * (size_t)steps);
  for (int s = -warm; s < steps; s++) {
    double t0 = bench_now_s();
    bench_gemm_step(&g);
    if (s >= 0) t_gemm[s] = bench_now_s() - t0;
  }

  double step_s = bench_median(t_step, steps), gemm_s = bench_median(t_gemm, steps);
  double flops = bench_gemm_flops_per_step();
  double img_s = BATCH / step_s, gemm_img_s = BATCH / gemm_s;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double peak_mib = (double)ru.ru_maxrss / 1024.0;
  if (json) {
    printf("{\"benchmark\": \"fc-vae-step\", \"batch\": %d, \"steps\": %d, \"threads\": %d, "
           "\"images_per_s\": %.1f, \"gemm_images_per_s\": %.1f, \"ratio\": %.4f, "
           "\"step_ms\": %.3f, \"gemm_ms\": %.3f, \"gflops\": %.2f, \"gemm_gflops\": %.2f, "
           "\"flop_per_step\": %.0f, \"params\": %zu, \"peak_rss_mib\": %.1f, "
           "\"arena_peak_mib\": %.2f, \"page_faults_per_step\": %.1f, \"forward_ms\": %.3f, "
           "\"backward_ms\": %.3f, \"adam_ms\": %.3f, \"loss\": %.4f, \"openblas\": \"%s\"}\n",
           BATCH, steps, threads, img_s, gemm_img_s, img_s / gemm_img_s, 1e3 * step_s,
           1e3 * gemm_s, flops / step_s / 1e9, flops / gemm_s / 1e9, flops,
           bh_params_count(m.params), peak_mib,
           (double)bh_arena_peak(bh_ctx_arena(ctx)) / (1 << 20), faults_per_step,
           1e3 * t_fwd / steps, 1e3 * t_bwd / steps, 1e3 * t_adam / steps, last_loss,
           openblas_get_config());
  } else {
    printf("fc-vae training step, batch %d, %d threads, median of %d steps\n", BATCH, threads,
           steps);
    printf("  full step : %8.1f images/s  %7.2f ms  %6.1f GFLOP/s (GEMM FLOPs)\n", img_s,
           1e3 * step_s, flops / step_s / 1e9);
    printf("  GEMM only : %8.1f images/s  %7.2f ms  %6.1f GFLOP/s\n", gemm_img_s, 1e3 * gemm_s,
           flops / gemm_s / 1e9);
    printf("  ratio     : %8.3f (full step / GEMM only)\n", img_s / gemm_img_s);
    printf("  params %zu, %.2f GFLOP per step, peak RSS %.1f MiB, arena peak %.2f MiB\n",
           bh_params_count(m.params), flops / 1e9, peak_mib,
           (double)bh_arena_peak(bh_ctx_arena(ctx)) / (1 << 20));
    printf("  mean per step: forward %.2f ms, backward %.2f ms, Adam %.2f ms; %.1f page faults\n",
           1e3 * t_fwd / steps, 1e3 * t_bwd / steps, 1e3 * t_adam / steps, faults_per_step);
    printf("  final loss %.4f; OpenBLAS %s\n", last_loss, openblas_get_config());
  }
  bench_gemm_free(&g);
  free(t_step);
  free(t_gemm);
  free(images);
  bh_ctx_free(ctx);
  bh_adam_free(adam);
  bh_params_free(m.params);
  bh_rng_free(rng);
  return 0;
}
