/* bench-models — training throughput of every baseline model through the real training step
 * (bh_train_step: every phase, backward and Adam), beside the GEMM-only bound of the VAE step
 * measured in the same run.
 *
 * Setting (issue 5, item 6): the FC pair (encoder 4096 →1200 →1200 → 2·10 ReLU, decoder
 * 10 →1200 →1200 →1200 → 4096 tanh), batch 64, generated dSprites batches (random examples,
 * fetched into memory before the timed steps: no file I/O), --threads T for OpenBLAS and the
 * bhivae pool (default 2).  Supervised models (bhivae-sup on dSprites) read the batches'
 * ground-truth factors (and class labels or attributes where a dataset has them), fetched with
 * the images.  Every model is made first and takes 3 warm-up steps; then rounds of
 * a block of steps of the GEMM-only bound and of each model in turn (see main), until --steps N
 * steps of each are timed.  Per model: median step time;
 * images/s = batch_size · batches_per_step / step time (FactorVAE reads two batches a step);
 * the bound ratio = GEMM-only step time / model step time; the VAE ratio = VAE step time / model
 * step time; Adam ms = median of an extra bh_adam_step of every group after each block of
 * steps; data ms = fetching one
 * step's random examples from the dataset (the loop does it before each step; not in the step
 * time); the step's arena peak and page faults per step.  The GEMM-only bound is
 * bench_gemm.h's: the 20 sgemm calls of the VAE step.
 *
 * Targets (issue 5): VAE and β-VAE at ≥ 0.80 of the GEMM-only bound; FactorVAE and β-TCVAE
 * within 25 % of the VAE step, i.e. a VAE ratio ≥ 0.80.  The images/s ratio to the VAE is
 * printed too: FactorVAE's step reads two batches (and its 6 × 1000 discriminator alone more
 * than doubles the step's GEMM work).  --json prints one JSON object.  Never run by make check:
 * figures, not a test.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench/bench_gemm.h"
#include "bench/bench_util.h"
#include "core/error.h"
#include "core/threads.h"
#include "models/model.h"
#include "models/train.h"

#define WARM 3
#define NBUF 8 /* distinct steps' worth of batches, cycled */
#define BLOCK 6 /* steps in a row of one kind, the first not timed */
#define MAX_MODELS 8

typedef struct model_result {
  const char *name;
  int batches_per_step;
  double step_s, adam_s, data_s, faults_per_step, arena_mib, loss;
  size_t params;
  int ok;
} model_result;

static double peak_rss_mib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0;
}

static long page_faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt + ru.ru_majflt;
}

/* Random examples of ds into x (count images) and, where not NULL, their class labels,
 * attributes (count × nattrs) and factors (count × nfactors). */
static int fetch(bh_dataset *ds, gsl_rng *r, size_t count, float *x, int *labels, uint8_t *attrs,
                 int *factors) {
  size_t *idx = malloc(count * sizeof *idx);
  if (!idx) return bh_error(BH_ENOMEM, "bench-models: out of memory");
  for (size_t i = 0; i < count; i++) idx[i] = gsl_rng_uniform_int(r, ds->n);
  int st = bh_dataset_images(ds, idx, count, x);
  if (st == BH_OK && labels) st = bh_dataset_labels(ds, idx, count, labels);
  if (st == BH_OK && attrs) st = bh_dataset_attrs(ds, idx, count, attrs);
  for (size_t i = 0; st == BH_OK && factors && i < count; i++)
    bh_dataset_factors_of(ds, idx[i], factors + i * (size_t)ds->nfactors);
  free(idx);
  return st;
}

/* One model being measured: everything a step needs, allocated before the first. */
typedef struct model_run {
  bh_model *m;
  bh_rng *rng;
  bh_adam *adam[BH_MODEL_MAX_GROUPS];
  bh_ctx *ctx;
  float *x; /* NBUF steps' worth of batches */
  int *labels, *factors; /* the same examples' labels and factors, or NULL (none) */
  uint8_t *attrs;
  size_t per_step, D;
  bh_terms terms;
  double *t;      /* step times */
  double *t_adam; /* times of an extra Adam update of every group, one per round */
  int nadam;
  double data_s; /* fetching one step's batches from the dataset */
  long faults;
} model_run;

static void model_run_free(model_run *r) {
  for (int g = 0; g < BH_MODEL_MAX_GROUPS; g++) bh_adam_free(r->adam[g]);
  bh_ctx_free(r->ctx);
  free(r->t);
  free(r->t_adam);
  free(r->x);
  free(r->labels);
  free(r->attrs);
  free(r->factors);
  bh_model_free(r->m);
  bh_rng_free(r->rng);
  memset(r, 0, sizeof *r);
}

static void model_run_fail(model_run *r) {
  fprintf(stderr, "bench-models: %s: %s\n", r->m->cls->name, bh_error_message());
  model_run_free(r);
}

static int model_run_init(model_run *r, const bh_model_class *cls, bh_dataset *ds, int steps) {
  memset(r, 0, sizeof *r);
  bh_config *cfg = bh_model_config_new(cls);
  if (!cfg || bh_config_set(cfg, "batch_size", "64", "bench") ||
      bh_config_set(cfg, "z_dim", "10", "bench") || bh_config_set(cfg, "arch", "fc", "bench")) {
    bh_config_free(cfg);
    return bh_error_code() ? bh_error_code() : BH_ENOMEM;
  }
  bh_data_info info;
  bh_data_info_from_dataset(ds, &info);
  r->rng = bh_rng_alloc(1);
  r->m = r->rng ? bh_model_create(cls, cfg, &info, r->rng) : NULL;
  if (!r->m) return bh_error_code();
  r->D = bh_dataset_image_size(ds);
  r->per_step = (size_t)r->m->batches_per_step * BENCH_FC_BATCH;
  r->x = malloc(sizeof(float) * NBUF * r->per_step * r->D);
  r->t = malloc(sizeof(double) * (size_t)steps);
  r->t_adam = malloc(sizeof(double) * (size_t)steps);
  r->ctx = bh_ctx_alloc((size_t)64 << 20);
  if (!r->x || !r->t || !r->t_adam || !r->ctx) return bh_error(BH_ENOMEM, "bench-models: out of memory");
  for (int g = 0; g < r->m->ngroups; g++)
    if (!(r->adam[g] = bh_adam_alloc(r->m->group[g], r->m->adam[g]))) return bh_error_code();
  memset(r->x, 0, sizeof(float) * NBUF * r->per_step * r->D); /* first touch: not the data's */
  size_t count = NBUF * r->per_step;
  if (ds->nclasses > 0 && !(r->labels = malloc(count * sizeof *r->labels)))
    return bh_error(BH_ENOMEM, "bench-models: out of memory");
  if (ds->nattrs > 0 && !(r->attrs = malloc(count * (size_t)ds->nattrs)))
    return bh_error(BH_ENOMEM, "bench-models: out of memory");
  if (ds->nfactors > 0 &&
      !(r->factors = malloc(count * (size_t)ds->nfactors * sizeof *r->factors)))
    return bh_error(BH_ENOMEM, "bench-models: out of memory");
  double t0 = bench_now_s();
  int st = fetch(ds, bh_rng_stream(r->rng, "data"), count, r->x, r->labels, r->attrs,
                 r->factors);
  r->data_s = (bench_now_s() - t0) / NBUF;
  return st;
}

/* Step number s (< 0: warm-up, not recorded) on the s-th buffered batches. */
static int model_run_step(model_run *r, int s) {
  bh_batch batches[BH_MODEL_MAX_PHASES];
  int nb = r->m->batches_per_step, B = BENCH_FC_BATCH;
  float *xs = r->x + (size_t)((s + WARM) % NBUF) * r->per_step * r->D; /* s >= -WARM */
  size_t at = (size_t)((s + WARM) % NBUF) * r->per_step; /* first example of the step */
  const bh_data_info *d = &r->m->data;
  for (int k = 0; k < nb; k++) {
    size_t e = at + (size_t)k * B; /* first example of batch k */
    batches[k] = (bh_batch){.n = B, .x = xs + (size_t)k * B * r->D};
    if (r->labels) batches[k].labels = r->labels + e;
    if (r->attrs) batches[k].attrs = r->attrs + e * (size_t)d->nattrs;
    if (r->factors) batches[k].factors = r->factors + e * (size_t)d->nfactors;
  }
  long f0 = page_faults();
  double t0 = bench_now_s();
  int st = bh_train_step(r->m, r->ctx, r->adam, batches, r->rng, &r->terms);
  double t1 = bench_now_s();
  if (s >= 0) {
    r->t[s] = t1 - t0;
    r->faults += page_faults() - f0;
  }
  return st;
}

/* Adam alone: one more update of every group, on the gradients the last step left. */
static void model_run_adam(model_run *r) {
  double t0 = bench_now_s();
  for (int g = 0; g < r->m->ngroups; g++) bh_adam_step(r->adam[g]);
  r->t_adam[r->nadam++] = bench_now_s() - t0;
}

static void model_run_result(model_run *r, int steps, model_result *res) {
  res->name = r->m->cls->name;
  res->faults_per_step = (double)r->faults / steps;
  res->data_s = r->data_s;
  res->step_s = bench_median(r->t, steps);
  res->loss = bh_terms_get(&r->terms, "loss");
  res->arena_mib = (double)bh_arena_peak(bh_ctx_arena(r->ctx)) / (1 << 20);
  res->params = bh_model_param_count(r->m);
  res->batches_per_step = r->m->batches_per_step;
  res->adam_s = bench_median(r->t_adam, r->nadam);
  res->ok = 1;
}

static void usage(void) {
  fprintf(stderr, "usage: bench-models [--steps N] [--threads T] [--models a,b,...] [--json]\n"
                  "  models: any of the registered names (default vae,betavae,factorvae,btcvae,bhivae,\n"
                  "          bhivae-sup)\n");
}

int main(int argc, char **argv) {
  int steps = 30, threads = 2, json = 0;
  char models[256] = "vae,betavae,factorvae,btcvae,bhivae,bhivae-sup";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--steps") && i + 1 < argc)
      steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--models") && i + 1 < argc)
      snprintf(models, sizeof models, "%s", argv[++i]);
    else if (!strcmp(argv[i], "--json"))
      json = 1;
    else {
      usage();
      return 2;
    }
  }
  if (steps < 3 || threads < 1) {
    fprintf(stderr, "bench-models: --steps must be at least 3 and --threads at least 1\n");
    return 2;
  }
  const bh_model_class *cls[MAX_MODELS];
  int nmodels = 0;
  for (char *tok = strtok(models, ","); tok; tok = strtok(NULL, ",")) {
    if (nmodels == MAX_MODELS || !(cls[nmodels] = bh_model_class_find(tok))) {
      fprintf(stderr, "bench-models: %s\n",
              nmodels == MAX_MODELS ? "too many models" : bh_error_message());
      return 2;
    }
    nmodels++;
  }
  openblas_set_num_threads(threads);
  bh_threads_set(threads);

  double t_gen = bench_now_s();
  bh_dataset *ds = bh_dataset_open("dsprites", BH_SPLIT_ALL);
  if (!ds) {
    fprintf(stderr, "bench-models: %s\n", bh_error_message());
    return 1;
  }
  t_gen = bench_now_s() - t_gen;

  bench_gemm g;
  double *t_gemm = malloc(sizeof(double) * (size_t)steps);
  if (!t_gemm || bench_gemm_alloc(&g, NULL, NULL) != 0) {
    fprintf(stderr, "bench-models: out of memory\n");
    return 1;
  }
  model_run runs[MAX_MODELS];
  model_result res[MAX_MODELS];
  memset(res, 0, sizeof res);
  for (int i = 0; i < nmodels; i++) {
    res[i].name = cls[i]->name;
    if (model_run_init(&runs[i], cls[i], ds, steps) != BH_OK) {
      fprintf(stderr, "bench-models: %s: %s\n", cls[i]->name, bh_error_message());
      model_run_free(&runs[i]);
    }
  }
  /* Rounds of one block of BLOCK steps of the bound and of each model: a slow spell of the
   * shared machine hits all of them alike, while within a block a step runs right after one of
   * its own kind (as in training, with its weights partly still in cache); the first step of a
   * block is not recorded. */
  for (int s = -WARM; s < 0; s++)
    for (int i = 0; i < nmodels; i++)
      if (runs[i].m && model_run_step(&runs[i], s) != BH_OK) model_run_fail(&runs[i]);
  for (int s0 = 0; s0 < steps; s0 += BLOCK - 1) {
    int n = steps - s0 < BLOCK - 1 ? steps - s0 : BLOCK - 1;
    for (int s = s0 - 1; s < s0 + n; s++) {
      double t0 = bench_now_s();
      bench_gemm_step(&g);
      if (s >= s0) t_gemm[s] = bench_now_s() - t0;
    }
    for (int i = 0; i < nmodels; i++) {
      for (int s = s0 - 1; s < s0 + n && runs[i].m; s++)
        if (model_run_step(&runs[i], s < s0 ? -1 : s) != BH_OK) model_run_fail(&runs[i]);
      if (runs[i].m) model_run_adam(&runs[i]);
    }
  }
  for (int i = 0; i < nmodels; i++)
    if (runs[i].m) {
      model_run_result(&runs[i], steps, &res[i]);
      model_run_free(&runs[i]);
    }
  double gemm_s = bench_median(t_gemm, steps);
  double vae_s = 0;
  for (int i = 0; i < nmodels; i++)
    if (res[i].ok && !strcmp(res[i].name, "vae")) vae_s = res[i].step_s;

  const int B = BENCH_FC_BATCH;
  if (json) {
    printf("{\"benchmark\": \"models\", \"batch\": %d, \"steps\": %d, \"threads\": %d, "
           "\"gemm_step_ms\": %.3f, \"gemm_images_per_s\": %.1f, \"models\": [",
           B, steps, threads, 1e3 * gemm_s, B / gemm_s);
    for (int i = 0, first = 1; i < nmodels; i++) {
      const model_result *r = &res[i];
      if (!r->ok) continue;
      printf("%s{\"model\": \"%s\", \"step_ms\": %.3f, \"images_per_s\": %.1f, "
             "\"batches_per_step\": %d, \"ratio_to_bound\": %.4f, ",
             first ? "" : ", ", r->name, 1e3 * r->step_s,
             r->batches_per_step * B / r->step_s, r->batches_per_step, gemm_s / r->step_s);
      if (vae_s > 0)
        printf("\"ratio_to_vae\": %.4f, \"images_ratio_to_vae\": %.4f, ", vae_s / r->step_s,
               r->batches_per_step * vae_s / r->step_s);
      printf("\"adam_ms\": %.3f, \"data_ms\": %.3f, \"params\": %zu, \"arena_peak_mib\": %.2f, "
             "\"page_faults_per_step\": %.1f, \"loss\": %.4f}",
             1e3 * r->adam_s, 1e3 * r->data_s, r->params, r->arena_mib, r->faults_per_step,
             r->loss);
      first = 0;
    }
    printf("], \"data_generation_s\": %.2f, \"peak_rss_mib\": %.1f, \"openblas\": \"%s\"}\n",
           t_gen, peak_rss_mib(), openblas_get_config());
  } else {
    printf("training step of each model, FC pair, batch %d, %d threads, median of %d steps\n",
           B, threads, steps);
    printf("  GEMM-only bound of the VAE step: %7.2f ms  %7.1f images/s\n", 1e3 * gemm_s,
           B / gemm_s);
    printf("  %-10s %8s %9s %7s %7s %8s %8s %8s %9s %7s\n", "model", "step ms", "images/s",
           "/bound", "/vae", "img/vae", "adam ms", "data ms", "arena MiB", "faults");
    for (int i = 0; i < nmodels; i++) {
      const model_result *r = &res[i];
      if (!r->ok) {
        printf("  %-10s failed\n", r->name);
        continue;
      }
      printf("  %-10s %8.2f %9.1f %7.3f %7.3f %8.3f %8.2f %8.2f %9.2f %7.1f\n", r->name,
             1e3 * r->step_s, r->batches_per_step * B / r->step_s, gemm_s / r->step_s,
             vae_s > 0 ? vae_s / r->step_s : NAN,
             vae_s > 0 ? r->batches_per_step * vae_s / r->step_s : NAN, 1e3 * r->adam_s,
             1e3 * r->data_s, r->arena_mib, r->faults_per_step);
    }
    printf("  dSprites generated in %.2f s; peak RSS %.1f MiB; OpenBLAS %s\n", t_gen,
           peak_rss_mib(), openblas_get_config());
  }
  bench_gemm_free(&g);
  free(t_gemm);
  bh_dataset_free(ds);
  int failed = 0;
  for (int i = 0; i < nmodels; i++) failed |= !res[i].ok;
  return failed;
}
