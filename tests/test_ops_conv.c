/* test_ops_conv.c — conv2d and conv_transpose2d: values against direct nested-loop references,
 * the adjoint identity between the two, finite-difference gradients (x, w, bias) in every
 * stride/pad form, fresh-vs-accumulated gradient buffers, and shape errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"
#include "tests/gradcheck.h"

/* Both ops are linear in x and in w (bilinear jointly), so the central difference has no
 * truncation error; what is left is float32 rounding of the forward, about
 * 1e-7·|y|·sqrt(#outputs touched)/eps ≈ 1e-7·3·8/1e-2 ≈ 2.4e-4 with |y| ≲ 3 and ≲ 64 outputs
 * touched per input element.  eps 1e-2 with atol = rtol = 1e-3: measured, every single-op case
 * still passes at 1e-4, so the margin is 10×. */
static const gc_opts TOL = {1e-2, 1e-3, 1e-3, 0};
/* Two ops chained (test_grad_fresh_and_accumulated): |y| grows and a bias element moves every
 * output (up to 15 K of them), so at eps 1e-2 the rounding noise reaches ~1e-3.  The chain is
 * quadratic in w and linear in x and b, so the central difference stays exact with a larger
 * step: at eps 5e-2 the check passes at atol = rtol = 3e-4 (measured), 1e-3 leaves 3×. */
static const gc_opts TOL_CHAIN = {5e-2, 1e-3, 1e-3, 0};

/* x [n×c×h×w]; conv2d weights [o×c×kh×kw]; conv_transpose2d weights [c×o×kh×kw] */
typedef struct conv_case {
  int n, c, o, h, w, kh, kw, stride, pad, out_pad;
} conv_case;

static int conv_out(int size, int k, int s, int p) { return (size + 2 * p - k) / s + 1; }
static int convt_out(int size, int k, int s, int p, int op) {
  return (size - 1) * s - 2 * p + k + op;
}

static bh_tensor *alloc4(int a, int b, int c, int d, int grad) {
  int shape[4] = {a, b, c, d};
  return bh_tensor_alloc(4, shape, grad);
}

static bh_tensor *alloc1(int a, int grad) { return bh_tensor_alloc(1, &a, grad); }

/* ---- direct references, in double ----
 * out[oy, ox] of conv2d = Σ_{ci,a,b} x[ci, oy·s − p + a, ox·s − p + b] · w[oc, ci, a, b]; the
 * transposed conv scatters each input pixel through the kernel instead. |terms| sums bound the
 * float32 rounding of each output. */

static void ref_conv2d(const conv_case *k, const float *x, const float *w, const float *b,
                       double *y, double *mag) {
  int ho = conv_out(k->h, k->kh, k->stride, k->pad), wo = conv_out(k->w, k->kw, k->stride, k->pad);
  for (int i = 0; i < k->n; i++)
    for (int oc = 0; oc < k->o; oc++)
      for (int oy = 0; oy < ho; oy++)
        for (int ox = 0; ox < wo; ox++) {
          double s = b ? b[oc] : 0.0, m = b ? fabs(b[oc]) : 0.0;
          for (int ci = 0; ci < k->c; ci++)
            for (int a = 0; a < k->kh; a++)
              for (int bb = 0; bb < k->kw; bb++) {
                int iy = oy * k->stride - k->pad + a, ix = ox * k->stride - k->pad + bb;
                if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                double t = (double)x[((i * k->c + ci) * k->h + iy) * k->w + ix] *
                           w[((oc * k->c + ci) * k->kh + a) * k->kw + bb];
                s += t, m += fabs(t);
              }
          size_t j = (((size_t)i * k->o + oc) * ho + oy) * wo + ox;
          y[j] = s, mag[j] = m;
        }
}

static void ref_conv_transpose2d(const conv_case *k, const float *x, const float *w, const float *b,
                                 double *y, double *mag) {
  int ho = convt_out(k->h, k->kh, k->stride, k->pad, k->out_pad);
  int wo = convt_out(k->w, k->kw, k->stride, k->pad, k->out_pad);
  size_t ny = (size_t)k->n * k->o * ho * wo;
  for (size_t j = 0; j < ny; j++) y[j] = 0.0, mag[j] = 0.0;
  for (int i = 0; i < k->n; i++)
    for (int ci = 0; ci < k->c; ci++)
      for (int iy = 0; iy < k->h; iy++)
        for (int ix = 0; ix < k->w; ix++)
          for (int oc = 0; oc < k->o; oc++)
            for (int a = 0; a < k->kh; a++)
              for (int bb = 0; bb < k->kw; bb++) {
                int oy = iy * k->stride - k->pad + a, ox = ix * k->stride - k->pad + bb;
                if (oy < 0 || oy >= ho || ox < 0 || ox >= wo) continue;
                double t = (double)x[((i * k->c + ci) * k->h + iy) * k->w + ix] *
                           w[((ci * k->o + oc) * k->kh + a) * k->kw + bb];
                size_t j = (((size_t)i * k->o + oc) * ho + oy) * wo + ox;
                y[j] += t, mag[j] += fabs(t);
              }
  if (b)
    for (int i = 0; i < k->n; i++)
      for (int oc = 0; oc < k->o; oc++)
        for (int q = 0; q < ho * wo; q++) {
          size_t j = ((size_t)i * k->o + oc) * ho * wo + q;
          y[j] += b[oc], mag[j] += fabs(b[oc]);
        }
}

/* float32 sums of ≤ 600 terms: a 2e-6 relative bound on Σ|terms| is ~30 ulps, far above the
 * √K·ulp typical of a GEMM and far below any indexing mistake (an O(|term|) error). */
static void assert_close_to_ref(const bh_tensor *y, const double *ref, const double *mag,
                                const char *what) {
  for (size_t j = 0; j < y->size; j++) {
    double err = fabs(y->data[j] - ref[j]), lim = 1e-6 + 2e-6 * mag[j];
    if (err > lim) {
      fail_msg("%s: element %zu is %.7g, reference %.7g", what, j, y->data[j], ref[j]);
    }
  }
}

/* Cases shared by the value tests: n, c, o, h, w, kh, kw, stride, pad, out_pad. */
static const conv_case VALUE_CASES[] = {
    {2, 3, 4, 5, 5, 3, 3, 1, 1, 0},    /* "same" 3×3 */
    {2, 3, 32, 64, 64, 4, 4, 2, 1, 0}, /* encoder layer 1: conv 32 k4 s2 p1 on 64×64 */
    {2, 32, 16, 8, 8, 4, 4, 2, 1, 0},  /* decoder layer: convT k4 s2 p1, 8×8 -> 16×16 */
    {3, 2, 3, 7, 5, 3, 2, 2, 0, 1},    /* non-square image and kernel, out_pad 1 */
    {2, 2, 3, 6, 9, 1, 1, 3, 0, 2},    /* 1×1 kernel, stride 3 skips pixels, out_pad 2 */
    {1, 2, 2, 4, 3, 3, 3, 1, 2, 0},    /* pad 2 > kernel radius: whole rows of padding */
    {70, 3, 5, 8, 8, 4, 4, 2, 1, 1},   /* many small images in one GEMM (convT: 64 + 6) */
    {5, 2, 3, 32, 32, 3, 3, 1, 1, 0},  /* 32×32 placements: GEMM groups of 4 images, then 1 */
};
enum { N_VALUE_CASES = sizeof VALUE_CASES / sizeof VALUE_CASES[0] };

static void fill_case(const conv_case *k, int transpose, bh_tensor **x, bh_tensor **w,
                      bh_tensor **b, int grad, unsigned long seed) {
  *x = alloc4(k->n, k->c, k->h, k->w, grad);
  *w = transpose ? alloc4(k->c, k->o, k->kh, k->kw, grad) : alloc4(k->o, k->c, k->kh, k->kw, grad);
  *b = alloc1(k->o, grad);
  gc_fill_uniform(*x, seed, -1, 1);
  gc_fill_uniform(*w, seed + 1, -1, 1);
  gc_fill_uniform(*b, seed + 2, -1, 1);
}

static void free3(bh_tensor *a, bh_tensor *b, bh_tensor *c) {
  bh_tensor_free(a);
  bh_tensor_free(b);
  bh_tensor_free(c);
}

static void test_conv2d_hand(void **state) {
  (void)state;
  /* [[1 2 3],[4 5 6],[7 8 9]] ⋆ [[1 0],[0 -1]] (cross-correlation) = [[1-5, 2-6],[4-8, 5-9]];
   * with pad 1 and stride 2 the placements sit at rows/cols −1 and 1:
   * (−1,−1): −x[0][0] = −1; (−1,1): −x[0][2] = −3; (1,−1): −x[2][0] = −7; (1,1): 5 − 9 = −4 */
  bh_tensor *x = alloc4(1, 1, 3, 3, 0), *w = alloc4(1, 1, 2, 2, 0);
  for (int i = 0; i < 9; i++) x->data[i] = (float)(i + 1);
  const float wv[] = {1, 0, 0, -1};
  memcpy(w->data, wv, sizeof wv);
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *y = bh_conv2d(ctx, x, w, NULL, 1, 0);
  assert_non_null(y);
  assert_int_equal(y->shape[2], 2);
  assert_int_equal(y->shape[3], 2);
  for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], -4.0f, 1e-6);
  y = bh_conv2d(ctx, x, w, NULL, 2, 1);
  assert_non_null(y);
  const float want[] = {-1, -3, -7, -4};
  for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], want[i], 1e-6);
  bh_ctx_free(ctx);
  bh_tensor_free(x);
  bh_tensor_free(w);
}

static void test_conv_transpose2d_hand(void **state) {
  (void)state;
  /* x = [[1 2],[3 4]], 2×2 kernel of ones.  Stride 2: each pixel becomes a 2×2 block.
   * Stride 1: the overlapping sums [[1 3 2],[4 10 6],[3 7 4]].  Bias 0.5 added everywhere. */
  bh_tensor *x = alloc4(1, 1, 2, 2, 0), *w = alloc4(1, 1, 2, 2, 0), *b = alloc1(1, 0);
  for (int i = 0; i < 4; i++) x->data[i] = (float)(i + 1), w->data[i] = 1.0f;
  b->data[0] = 0.5f;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *y = bh_conv_transpose2d(ctx, x, w, b, 2, 0, 0);
  assert_non_null(y);
  assert_int_equal(y->shape[2], 4);
  assert_int_equal(y->shape[3], 4);
  const float want2[] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
  for (int i = 0; i < 16; i++) assert_float_equal(y->data[i], want2[i] + 0.5f, 1e-6);
  y = bh_conv_transpose2d(ctx, x, w, NULL, 1, 0, 0);
  assert_non_null(y);
  assert_int_equal(y->shape[2], 3);
  const float want1[] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
  for (int i = 0; i < 9; i++) assert_float_equal(y->data[i], want1[i], 1e-6);
  /* out_pad 1 with pad 1, stride 2: size (2−1)·2 − 2 + 2 + 1 = 3; the block grid is shifted by
   * one pixel and cropped: rows/cols 1..3 of the 4×4 result above, the last row/col extra */
  y = bh_conv_transpose2d(ctx, x, w, NULL, 2, 1, 1);
  assert_non_null(y);
  assert_int_equal(y->shape[2], 3);
  const float want3[] = {1, 2, 2, 3, 4, 4, 3, 4, 4};
  for (int i = 0; i < 9; i++) assert_float_equal(y->data[i], want3[i], 1e-6);
  bh_ctx_free(ctx);
  free3(x, w, b);
}

static void test_conv2d_values(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  for (int t = 0; t < N_VALUE_CASES; t++)
    for (int with_bias = 0; with_bias < 2; with_bias++) {
      const conv_case *k = &VALUE_CASES[t];
      bh_tensor *x, *w, *b;
      fill_case(k, 0, &x, &w, &b, 0, 100 + t);
      bh_ctx_reset(ctx);
      bh_tensor *y = bh_conv2d(ctx, x, w, with_bias ? b : NULL, k->stride, k->pad);
      assert_non_null(y);
      int ho = conv_out(k->h, k->kh, k->stride, k->pad),
          wo = conv_out(k->w, k->kw, k->stride, k->pad);
      assert_int_equal(y->ndim, 4);
      assert_int_equal(y->shape[0], k->n);
      assert_int_equal(y->shape[1], k->o);
      assert_int_equal(y->shape[2], ho);
      assert_int_equal(y->shape[3], wo);
      double *ref = malloc(y->size * sizeof *ref), *mag = malloc(y->size * sizeof *mag);
      ref_conv2d(k, x->data, w->data, with_bias ? b->data : NULL, ref, mag);
      char what[64];
      snprintf(what, sizeof what, "conv2d case %d bias %d", t, with_bias);
      assert_close_to_ref(y, ref, mag, what);
      free(ref);
      free(mag);
      free3(x, w, b);
    }
  bh_ctx_free(ctx);
}

static void test_conv_transpose2d_values(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  for (int t = 0; t < N_VALUE_CASES; t++)
    for (int with_bias = 0; with_bias < 2; with_bias++) {
      const conv_case *k = &VALUE_CASES[t];
      bh_tensor *x, *w, *b;
      fill_case(k, 1, &x, &w, &b, 0, 200 + t);
      /* garbage in the arena, so an output element the op forgets to write shows up */
      bh_ctx_reset(ctx);
      float *junk = bh_ctx_push(ctx, 1 << 22);
      for (int i = 0; i < (1 << 20); i++) junk[i] = 1e6f;
      bh_ctx_reset(ctx);
      bh_tensor *y =
          bh_conv_transpose2d(ctx, x, w, with_bias ? b : NULL, k->stride, k->pad, k->out_pad);
      assert_non_null(y);
      assert_int_equal(y->shape[1], k->o);
      assert_int_equal(y->shape[2], convt_out(k->h, k->kh, k->stride, k->pad, k->out_pad));
      assert_int_equal(y->shape[3], convt_out(k->w, k->kw, k->stride, k->pad, k->out_pad));
      double *ref = malloc(y->size * sizeof *ref), *mag = malloc(y->size * sizeof *mag);
      ref_conv_transpose2d(k, x->data, w->data, with_bias ? b->data : NULL, ref, mag);
      char what[64];
      snprintf(what, sizeof what, "conv_transpose2d case %d bias %d", t, with_bias);
      assert_close_to_ref(y, ref, mag, what);
      free(ref);
      free(mag);
      free3(x, w, b);
    }
  bh_ctx_free(ctx);
}

/* <conv2d(x; w), u> = <x, conv_transpose2d(u; w)> for the same weights w [o×c×kh×kw], read by
 * the transposed conv as [in = o] × [out = c].  out_pad restores the rows conv2d ignores. */
static void test_adjoint(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  for (int t = 0; t < N_VALUE_CASES; t++) {
    conv_case k = VALUE_CASES[t];
    int s = k.stride, rh = (k.h + 2 * k.pad - k.kh) % s;
    /* one out_pad serves both axes: widen the image until both remainders agree */
    while ((k.w + 2 * k.pad - k.kw) % s != rh) k.w++;
    bh_tensor *x, *w, *b;
    fill_case(&k, 0, &x, &w, &b, 0, 300 + t);
    bh_ctx_reset(ctx);
    bh_tensor *y = bh_conv2d(ctx, x, w, NULL, s, k.pad);
    assert_non_null(y);
    bh_tensor *u = bh_tensor_alloc(4, y->shape, 0);
    gc_fill_uniform(u, 400 + t, -1, 1);
    bh_tensor *v = bh_conv_transpose2d(ctx, u, w, NULL, s, k.pad, rh);
    assert_non_null(v);
    assert_true(bh_tensor_same_shape(v, x));
    double lhs = 0, rhs = 0, mag = 0;
    for (size_t j = 0; j < y->size; j++)
      lhs += (double)y->data[j] * u->data[j], mag += fabs((double)y->data[j] * u->data[j]);
    for (size_t j = 0; j < x->size; j++) rhs += (double)x->data[j] * v->data[j];
    if (fabs(lhs - rhs) > 1e-6 * (1.0 + mag))
      fail_msg("adjoint case %d: <conv x, u> = %.9g, <x, convT u> = %.9g", t, lhs, rhs);
    bh_tensor_free(u);
    free3(x, w, b);
  }
  bh_ctx_free(ctx);
}

/* ---- gradients ---- */

typedef struct gc_user {
  const conv_case *k;
  int bias, chain; /* chain: apply the op twice with the same weights (c = o) */
} gc_user;

static bh_tensor *build_conv2d(bh_ctx *ctx, bh_tensor **in, void *user) {
  const gc_user *u = user;
  bh_tensor *b = u->bias ? in[2] : NULL;
  bh_tensor *y = bh_conv2d(ctx, in[0], in[1], b, u->k->stride, u->k->pad);
  if (u->chain) y = bh_conv2d(ctx, y, in[1], b, u->k->stride, u->k->pad);
  return y;
}

static bh_tensor *build_conv_transpose2d(bh_ctx *ctx, bh_tensor **in, void *user) {
  const gc_user *u = user;
  bh_tensor *b = u->bias ? in[2] : NULL;
  const conv_case *k = u->k;
  bh_tensor *y = bh_conv_transpose2d(ctx, in[0], in[1], b, k->stride, k->pad, k->out_pad);
  if (u->chain) y = bh_conv_transpose2d(ctx, y, in[1], b, k->stride, k->pad, k->out_pad);
  return y;
}

static const conv_case GRAD_CASES[] = {
    {2, 2, 3, 5, 5, 3, 3, 1, 0, 0},   /* stride 1, no pad */
    {2, 2, 3, 5, 4, 3, 3, 1, 1, 0},   /* stride 1, pad 1, non-square */
    {2, 2, 3, 8, 8, 4, 4, 2, 1, 0},   /* the model layer: k4 s2 p1 */
    {1, 2, 2, 7, 6, 3, 2, 2, 0, 1},   /* non-square kernel, stride 2, out_pad 1 */
    {2, 1, 2, 6, 7, 2, 3, 3, 2, 2},   /* stride 3, pad 2, out_pad 2 */
    {70, 2, 2, 8, 8, 4, 4, 2, 1, 0},  /* many images per GEMM (gathered features) */
    {5, 1, 2, 32, 32, 3, 3, 1, 1, 0}, /* GEMM groups of 4 images, then a group of 1 */
};
enum { N_GRAD_CASES = sizeof GRAD_CASES / sizeof GRAD_CASES[0] };

static void run_grad_cases(int transpose) {
  gc_build_fn build = transpose ? build_conv_transpose2d : build_conv2d;
  for (int t = 0; t < N_GRAD_CASES; t++)
    for (int with_bias = 0; with_bias < 2; with_bias++) {
      bh_tensor *x, *w, *b;
      fill_case(&GRAD_CASES[t], transpose, &x, &w, &b, 1, 500 + t);
      bh_tensor *in[3] = {x, w, b};
      gc_user u = {&GRAD_CASES[t], with_bias, 0};
      char label[64];
      snprintf(label, sizeof label, "%s case %d bias %d", transpose ? "convT" : "conv2d", t,
               with_bias);
      assert_int_equal(gc_check(label, build, in, with_bias ? 3 : 2, &u, TOL), 0);
      free3(x, w, b);
    }
}

static void test_conv2d_grad(void **state) {
  (void)state;
  run_grad_cases(0);
}

static void test_conv_transpose2d_grad(void **state) {
  (void)state;
  run_grad_cases(1);
}

/* One input at a time requiring a gradient: the x and w paths must not depend on each other. */
static void test_grad_single_inputs(void **state) {
  (void)state;
  const conv_case *k = &GRAD_CASES[2];
  for (int transpose = 0; transpose < 2; transpose++)
    for (int which = 0; which < 3; which++) {
      bh_tensor *x, *w, *b;
      fill_case(k, transpose, &x, &w, &b, 1, 600);
      bh_tensor *all[3] = {x, w, b};
      for (int i = 0; i < 3; i++)
        if (i != which) all[i]->flags &= ~(unsigned)BH_REQUIRES_GRAD;
      gc_user u = {k, 1, 0};
      assert_int_equal(gc_check(transpose ? "convT single" : "conv2d single",
                                transpose ? build_conv_transpose2d : build_conv2d, all, 3, &u, TOL),
                       0);
      free3(x, w, b);
    }
}

/* The op applied twice with the same w and b: their gradients get two writers.  Finite
 * differences check the sum.  Then three backward passes with the same seed: into zeroed
 * buffers (G), into buffers already holding G0 (must give G0 + G: writers accumulate), and into
 * fresh buffers full of garbage (must give G: the first writer overwrites, later ones add). */
static void test_grad_fresh_and_accumulated(void **state) {
  (void)state;
  /* "same" 3×3 convs (c = o): 32×32 images go 4 per GEMM (GROUP_COLS = 4096 columns), so n = 5
   * ends with a one-image group (written in place) after a gathered one; 70 4×4 images share
   * one gathered GEMM (split 64 + 6 were GROUP_COLS 1024). */
  static const conv_case cases[2] = {{5, 3, 3, 32, 32, 3, 3, 1, 1, 0},
                                     {70, 3, 3, 4, 4, 3, 3, 1, 1, 0}};
  for (int t = 0; t < 4; t++) {
    const conv_case k = cases[t / 2];
    int transpose = t % 2;
    gc_build_fn build = transpose ? build_conv_transpose2d : build_conv2d;
    gc_user u = {&k, 1, 1};
    bh_tensor *x, *w, *b;
    fill_case(&k, transpose, &x, &w, &b, 1, 700 + t);
    bh_tensor *in[3] = {x, w, b};
    assert_int_equal(
        gc_check(transpose ? "convT chain" : "conv2d chain", build, in, 3, &u, TOL_CHAIN), 0);
    bh_ctx *ctx = bh_ctx_alloc(0);
    float *want[3] = {NULL, NULL, NULL};
    float *seed = NULL;
    for (int pass = 0; pass < 3; pass++) {
      for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < in[i]->size; j++) /* pass 1: G0 = 0.5 + j mod 7 */
          in[i]->grad[j] = pass == 0 ? 0.0f : pass == 1 ? 0.5f + (float)(j % 7) : 1e6f;
      if (pass == 2)
        for (int i = 0; i < 3; i++) bh_tensor_zero_grad(in[i]);
      bh_ctx_reset(ctx);
      bh_tensor *y = build(ctx, in, &u);
      assert_non_null(y);
      if (!seed) {
        seed = malloc(y->size * sizeof *seed);
        for (size_t j = 0; j < y->size; j++) seed[j] = (float)sin(0.37 * (double)j);
      }
      assert_int_equal(bh_backward_seed(ctx, y, seed), BH_OK);
      for (int i = 0; i < 3; i++) {
        if (pass == 0) {
          want[i] = malloc(in[i]->size * sizeof(float));
          memcpy(want[i], in[i]->grad, in[i]->size * sizeof(float));
          continue;
        }
        for (size_t j = 0; j < in[i]->size; j++) {
          float expect = want[i][j] + (pass == 1 ? 0.5f + (float)(j % 7) : 0.0f);
          if (fabsf(in[i]->grad[j] - expect) > 1e-4f * (1.0f + fabsf(expect)))
            fail_msg("%s pass %d: grad of input %d element %zu is %g, expected %g",
                     transpose ? "convT" : "conv2d", pass, i, j, in[i]->grad[j], expect);
        }
      }
    }
    for (int i = 0; i < 3; i++) free(want[i]);
    free(seed);
    bh_ctx_free(ctx);
    free3(x, w, b);
  }
}

/* ---- errors ---- */

static void expect_error(bh_tensor *y, const char *op, const char *fragment) {
  assert_null(y);
  assert_int_equal(bh_error_code(), BH_EINVAL);
  if (!strstr(bh_error_message(), op) || (fragment && !strstr(bh_error_message(), fragment)))
    fail_msg("message '%s' should name %s", bh_error_message(), op);
  bh_error_clear();
}

static void test_shape_errors(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *x = alloc4(2, 3, 5, 5, 0);
  bh_tensor *w_bad_c = alloc4(4, 2, 3, 3, 0); /* conv2d expects [o × 3 × kh × kw] */
  bh_tensor *w_big = alloc4(4, 3, 8, 8, 0);   /* larger than the 5×5 (+2·pad) input */
  bh_tensor *w_ok = alloc4(4, 3, 3, 3, 0), *b_bad = alloc1(5, 0);
  bh_tensor *wt_bad = alloc4(4, 3, 3, 3, 0); /* convT expects [3 × o × kh × kw] */
  bh_tensor *wt_ok = alloc4(3, 4, 3, 3, 0);
  expect_error(bh_conv2d(ctx, x, w_bad_c, NULL, 1, 0), "conv2d", "[2 x 3 x 5 x 5]");
  expect_error(bh_conv2d(ctx, x, w_big, NULL, 1, 1), "conv2d", "output size");
  expect_error(bh_conv2d(ctx, x, w_ok, b_bad, 1, 0), "conv2d", "bias");
  expect_error(bh_conv2d(ctx, x, w_ok, NULL, 0, 0), "conv2d", "stride");
  bh_tensor *x2 = bh_tensor_alloc2(2, 75, 0);
  expect_error(bh_conv2d(ctx, x2, w_ok, NULL, 1, 0), "conv2d", "4-D");
  expect_error(bh_conv_transpose2d(ctx, x, wt_bad, NULL, 1, 0, 0), "conv_transpose2d", "channels");
  expect_error(bh_conv_transpose2d(ctx, x, wt_ok, b_bad, 1, 0, 0), "conv_transpose2d", "bias");
  expect_error(bh_conv_transpose2d(ctx, x, wt_ok, NULL, 2, 0, 2), "conv_transpose2d", "out_pad");
  /* 1×1 input, k3, pad 2: (1 − 1)·1 − 4 + 3 = −1 */
  bh_tensor *x1 = alloc4(1, 3, 1, 1, 0);
  expect_error(bh_conv_transpose2d(ctx, x1, wt_ok, NULL, 1, 2, 0), "conv_transpose2d",
               "output size");
  /* failure propagates */
  assert_null(bh_conv2d(ctx, NULL, w_ok, NULL, 1, 0));
  assert_null(bh_conv_transpose2d(ctx, x, NULL, NULL, 1, 0, 0));
  bh_ctx_free(ctx);
  free3(x, w_bad_c, w_big);
  free3(w_ok, b_bad, wt_bad);
  free3(wt_ok, x2, x1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv2d_hand),
      cmocka_unit_test(test_conv_transpose2d_hand),
      cmocka_unit_test(test_conv2d_values),
      cmocka_unit_test(test_conv_transpose2d_values),
      cmocka_unit_test(test_adjoint),
      cmocka_unit_test(test_conv2d_grad),
      cmocka_unit_test(test_conv_transpose2d_grad),
      cmocka_unit_test(test_grad_single_inputs),
      cmocka_unit_test(test_grad_fresh_and_accumulated),
      cmocka_unit_test(test_shape_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
