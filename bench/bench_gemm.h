/* bench_gemm.h — the GEMM-only bound of the FC dSprites VAE step, shared by bench-step and
 * bench-models (not a library: header only).
 *
 * The step of the fully connected pair at batch 64 (encoder 4096 →1200 →1200 → 2·10, decoder
 * 10 →1200 →1200 →1200 → 4096) issues 20 sgemm calls: 7 forward, 7 weight gradients and 6 input
 * gradients (the first layer needs none).  bench_gemm_step issues exactly those, with the same
 * shapes and order, on whatever threads OpenBLAS has: the time a step would take if everything
 * but the GEMMs were free.
 */
#ifndef BH_BENCH_GEMM_H
#define BH_BENCH_GEMM_H

#include <cblas.h>
#include <stdlib.h>

#define BENCH_FC_BATCH 64
#define BENCH_FC_NPIX 4096
#define BENCH_FC_ZDIM 10
#define BENCH_FC_NLAYERS 7

/* widths of the 7 linear layers: in → out */
static const int BENCH_FC_IN[BENCH_FC_NLAYERS] = {BENCH_FC_NPIX, 1200, 1200, BENCH_FC_ZDIM,
                                                  1200,          1200, 1200};
static const int BENCH_FC_OUT[BENCH_FC_NLAYERS] = {1200, 1200, 2 * BENCH_FC_ZDIM, 1200,
                                                   1200, 1200, BENCH_FC_NPIX};

typedef struct bench_gemm {
  float *act[BENCH_FC_NLAYERS + 1];  /* act[l]: input of layer l [64×in] */
  float *dact[BENCH_FC_NLAYERS + 1]; /* its gradient */
  float *w[BENCH_FC_NLAYERS];        /* weights [out×in] */
  float *dw[BENCH_FC_NLAYERS];       /* weight gradients [out×in] */
  int owns_w;
} bench_gemm;

/* GEMM FLOPs of one step: forward, dW, and dX except for the first layer. */
static inline double bench_gemm_flops_per_step(void) {
  double f = 0.0;
  for (int l = 0; l < BENCH_FC_NLAYERS; l++) {
    double mnk = 2.0 * BENCH_FC_BATCH * BENCH_FC_IN[l] * BENCH_FC_OUT[l];
    f += mnk * (l == 0 ? 2.0 : 3.0);
  }
  return f;
}

static inline void bench_gemm_free(bench_gemm *g) {
  for (int l = 0; l <= BENCH_FC_NLAYERS; l++) {
    free(g->act[l]);
    free(g->dact[l]);
  }
  if (g->owns_w)
    for (int l = 0; l < BENCH_FC_NLAYERS; l++) {
      free(g->w[l]);
      free(g->dw[l]);
    }
}

/* Activation buffers, and the weights: w and dw (7 pointers each) when given (a model's own
 * tensors), else buffers of its own.  0, or -1 when out of memory (g freed). */
static inline int bench_gemm_alloc(bench_gemm *g, float *const *w, float *const *dw) {
  *g = (bench_gemm){0};
  size_t rows = BENCH_FC_BATCH, wide = BENCH_FC_NPIX; /* wide enough for any layer's input or
    output (layer 2 writes 20 columns into what layer 3 reads as 10) */
  for (int l = 0; l <= BENCH_FC_NLAYERS; l++) {
    g->act[l] = malloc(rows * wide * sizeof(float));
    g->dact[l] = malloc(rows * wide * sizeof(float));
    if (!g->act[l] || !g->dact[l]) {
      bench_gemm_free(g);
      return -1;
    }
    for (size_t i = 0; i < rows * wide; i++) g->act[l][i] = g->dact[l][i] = 0.01f;
  }
  g->owns_w = !(w && dw);
  for (int l = 0; l < BENCH_FC_NLAYERS; l++) {
    size_t n = (size_t)BENCH_FC_IN[l] * BENCH_FC_OUT[l];
    if (!g->owns_w) {
      g->w[l] = w[l], g->dw[l] = dw[l];
      continue;
    }
    g->w[l] = malloc(n * sizeof(float));
    g->dw[l] = malloc(n * sizeof(float));
    if (!g->w[l] || !g->dw[l]) {
      bench_gemm_free(g);
      return -1;
    }
    for (size_t i = 0; i < n; i++) g->w[l][i] = g->dw[l][i] = 0.01f;
  }
  return 0;
}

/* The step's 20 sgemm calls in training order. */
static inline void bench_gemm_step(bench_gemm *g) {
  const int B = BENCH_FC_BATCH;
  for (int l = 0; l < BENCH_FC_NLAYERS; l++) /* forward: act[l+1] = act[l] · wᵀ */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, BENCH_FC_OUT[l], BENCH_FC_IN[l], 1.0f,
                g->act[l], BENCH_FC_IN[l], g->w[l], BENCH_FC_IN[l], 0.0f, g->act[l + 1],
                BENCH_FC_OUT[l]);
  for (int l = BENCH_FC_NLAYERS - 1; l >= 0; l--) {
    if (l > 0) /* dX = dY · w */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, BENCH_FC_IN[l], BENCH_FC_OUT[l],
                  1.0f, g->dact[l + 1], BENCH_FC_OUT[l], g->w[l], BENCH_FC_IN[l], 0.0f,
                  g->dact[l], BENCH_FC_IN[l]);
    /* dW = dYᵀ · X */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, BENCH_FC_OUT[l], BENCH_FC_IN[l], B,
                1.0f, g->dact[l + 1], BENCH_FC_OUT[l], g->act[l], BENCH_FC_IN[l], 0.0f, g->dw[l],
                BENCH_FC_IN[l]);
  }
}

#endif
