/* gradcheck.c — see gradcheck.h. */
#include "tests/gradcheck.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void gc_fill_uniform(bh_tensor *t, unsigned long seed, float lo, float hi) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  for (size_t i = 0; i < t->size; i++) t->data[i] = lo + (hi - lo) * (float)gsl_rng_uniform(r);
  gsl_rng_free(r);
}

void gc_fill_away_from_zero(bh_tensor *t, unsigned long seed, float lo, float hi, float gap) {
  gc_fill_uniform(t, seed, lo, hi);
  for (size_t i = 0; i < t->size; i++)
    if (fabsf(t->data[i]) < gap) t->data[i] = t->data[i] < 0 ? -gap - 0.1f : gap + 0.1f;
}

/* L = Σ R·f(in) in double, gradients off. */
static int gc_loss(bh_ctx *ctx, gc_build_fn build, bh_tensor **in, void *user, const float *r,
                   size_t n, double *loss) {
  bh_ctx_reset(ctx);
  int old = bh_ctx_set_grad(ctx, 0);
  bh_tensor *out = build(ctx, in, user);
  bh_ctx_set_grad(ctx, old);
  if (!out || out->size != n) return -1;
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += (double)r[i] * (double)out->data[i];
  *loss = s;
  return 0;
}

int gc_check(const char *label, gc_build_fn build, bh_tensor **in, int nin, void *user,
             gc_opts o) {
  int max_elems = o.max_elems ? o.max_elems : 64;
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(rng, 12345);
  int status = 0;

  /* analytic */
  for (int i = 0; i < nin; i++)
    if (bh_tensor_requires_grad(in[i])) memset(in[i]->grad, 0, in[i]->size * sizeof(float));
  bh_tensor *out = build(ctx, in, user);
  if (!out) {
    fprintf(stderr, "gradcheck %s: forward failed: %s\n", label, bh_error_message());
    status = -1;
    goto done;
  }
  size_t n = out->size;
  float *r = malloc(n * sizeof *r);
  for (size_t i = 0; i < n; i++) r[i] = (float)(2.0 * gsl_rng_uniform(rng) - 1.0);
  if (bh_backward_seed(ctx, out, r) != BH_OK) {
    fprintf(stderr, "gradcheck %s: backward failed: %s\n", label, bh_error_message());
    free(r);
    status = -1;
    goto done;
  }
  float **ana = calloc((size_t)nin, sizeof *ana);
  for (int i = 0; i < nin; i++) {
    if (!bh_tensor_requires_grad(in[i])) continue;
    ana[i] = malloc(in[i]->size * sizeof(float));
    memcpy(ana[i], in[i]->grad, in[i]->size * sizeof(float));
  }

  /* numeric, element by element (a random subset of large inputs) */
  for (int i = 0; i < nin && status == 0; i++) {
    if (!ana[i]) continue;
    size_t size = in[i]->size, count = size < (size_t)max_elems ? size : (size_t)max_elems;
    double worst = 0.0;
    size_t worst_j = 0;
    double worst_num = 0.0, worst_ana = 0.0;
    for (size_t c = 0; c < count; c++) {
      size_t j = size <= (size_t)max_elems ? c : gsl_rng_uniform_int(rng, size);
      float x0 = in[i]->data[j];
      double lp, lm;
      in[i]->data[j] = (float)(x0 + o.eps);
      double hp = (double)in[i]->data[j] - x0; /* the step float really took */
      int e1 = gc_loss(ctx, build, in, user, r, n, &lp);
      in[i]->data[j] = (float)(x0 - o.eps);
      double hm = x0 - (double)in[i]->data[j];
      int e2 = gc_loss(ctx, build, in, user, r, n, &lm);
      in[i]->data[j] = x0;
      if (e1 || e2) {
        fprintf(stderr, "gradcheck %s: forward failed at input %d element %zu: %s\n", label, i,
                j, bh_error_message());
        status = -1;
        break;
      }
      double num = (lp - lm) / (hp + hm), a = ana[i][j];
      double err = fabs(num - a), lim = o.atol + o.rtol * fmax(fabs(num), fabs(a));
      double ratio = err / lim;
      if (ratio > worst) worst = ratio, worst_j = j, worst_num = num, worst_ana = a;
    }
    if (worst > 1.0) {
      fprintf(stderr,
              "gradcheck %s: input %d element %zu: numeric %.6g analytic %.6g (err/limit %.3g)\n",
              label, i, worst_j, worst_num, worst_ana, worst);
      status = -1;
    }
  }
  for (int i = 0; i < nin; i++) free(ana[i]);
  free(ana);
  free(r);
done:
  gsl_rng_free(rng);
  bh_ctx_free(ctx);
  return status;
}
