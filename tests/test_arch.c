/* test_arch.c — the shared encoder/decoder networks: output shapes of both families, parameter
 * names and counts (worked out by hand), PyTorch-default initialisation bounds, forward values
 * against a naive double-precision reference (loops over the layers' own weights, written
 * independently of im2col/sgemm), the errors, and finite-difference gradients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"
#include "models/arch.h"
#include "tests/gradcheck.h"

/* A configuration with the architecture keys; arch and widths as given (NULL: default). */
static bh_config *arch_config(const char *arch, const char *enc, const char *dec) {
  bh_config *c = bh_config_alloc();
  assert_int_equal(bh_config_declare(c, bh_arch_keys), BH_OK);
  if (arch) assert_int_equal(bh_config_set(c, "arch", arch, "test"), BH_OK);
  if (enc) assert_int_equal(bh_config_set(c, "enc_hidden", enc, "test"), BH_OK);
  if (dec) assert_int_equal(bh_config_set(c, "dec_hidden", dec, "test"), BH_OK);
  return c;
}

static gsl_rng *make_rng(unsigned long seed) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  return r;
}

static const float *param(const bh_params *p, const char *name) {
  bh_tensor *t = bh_params_find(p, name);
  if (!t) fail_msg("no parameter '%s'", name);
  return t->data;
}

/* Run net on n rows of x (gradients off); returns a malloc'ed copy of the output. */
static float *run_net(const bh_net *net, const float *x, int n) {
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_ctx_set_grad(ctx, 0);
  int shape[2] = {n, bh_net_in_size(net)};
  bh_tensor *xt = bh_tensor_view(ctx, (float *)x, 2, shape);
  bh_tensor *y = bh_net_forward(ctx, net, xt);
  if (!y) fail_msg("forward failed: %s", bh_error_message());
  assert_int_equal(y->ndim, 2);
  assert_int_equal(y->shape[0], n);
  assert_int_equal(y->shape[1], bh_net_out_size(net));
  float *out = malloc(y->size * sizeof *out);
  memcpy(out, y->data, y->size * sizeof *out);
  bh_ctx_free(ctx);
  return out;
}

static float *random_input(size_t n, unsigned long seed) {
  float *x = malloc(n * sizeof *x);
  gsl_rng *r = make_rng(seed);
  for (size_t i = 0; i < n; i++) x[i] = (float)gsl_rng_uniform(r);
  gsl_rng_free(r);
  return x;
}

/* ---------------------------------------------------------------- naive reference */

/* y[o] = b[o] + Σ_i w[o, i]·x[i], one row */
static void ref_linear(const bh_params *p, const char *name, int in, int out, const double *x,
                       double *y) {
  char wn[64], bn[64];
  snprintf(wn, sizeof wn, "%s.w", name);
  snprintf(bn, sizeof bn, "%s.b", name);
  const float *w = param(p, wn), *b = param(p, bn);
  for (int o = 0; o < out; o++) {
    double s = b[o];
    for (int i = 0; i < in; i++) s += (double)w[(size_t)o * in + i] * x[i];
    y[o] = s;
  }
}

/* Direct convolution of one image, zero padding: x [ci×h×h] → y [co×ho×ho]. */
static void ref_conv(const bh_params *p, const char *name, int ci, int co, int k, int s, int pad,
                     int h, const double *x, double *y, int *ho_out) {
  char wn[64], bn[64];
  snprintf(wn, sizeof wn, "%s.w", name);
  snprintf(bn, sizeof bn, "%s.b", name);
  const float *w = param(p, wn), *b = param(p, bn);
  int ho = (h + 2 * pad - k) / s + 1;
  for (int o = 0; o < co; o++)
    for (int i = 0; i < ho; i++)
      for (int j = 0; j < ho; j++) {
        double acc = b[o];
        for (int c = 0; c < ci; c++)
          for (int a = 0; a < k; a++)
            for (int bb = 0; bb < k; bb++) {
              int r = i * s - pad + a, q = j * s - pad + bb;
              if (r < 0 || r >= h || q < 0 || q >= h) continue;
              acc += (double)w[((size_t)(o * ci + c) * k + a) * k + bb] * x[(c * h + r) * h + q];
            }
        y[(o * ho + i) * ho + j] = acc;
      }
  *ho_out = ho;
}

/* Transposed convolution as a scatter (the definition): every input pixel (c, i, j) adds
 * x·w[c, o, a, b] at output (i·s − pad + a, j·s − pad + b).  x [ci×h×h] → y [co×ho×ho]. */
static void ref_deconv(const bh_params *p, const char *name, int ci, int co, int k, int s, int pad,
                       int h, const double *x, double *y, int *ho_out) {
  char wn[64], bn[64];
  snprintf(wn, sizeof wn, "%s.w", name);
  snprintf(bn, sizeof bn, "%s.b", name);
  const float *w = param(p, wn), *b = param(p, bn);
  int ho = (h - 1) * s - 2 * pad + k;
  for (int o = 0; o < co; o++)
    for (int i = 0; i < ho * ho; i++) y[o * ho * ho + i] = b[o];
  for (int c = 0; c < ci; c++)
    for (int i = 0; i < h; i++)
      for (int j = 0; j < h; j++)
        for (int o = 0; o < co; o++)
          for (int a = 0; a < k; a++)
            for (int bb = 0; bb < k; bb++) {
              int r = i * s - pad + a, q = j * s - pad + bb;
              if (r < 0 || r >= ho || q < 0 || q >= ho) continue;
              y[(o * ho + r) * ho + q] +=
                  (double)w[((size_t)(c * co + o) * k + a) * k + bb] * x[(c * h + i) * h + j];
            }
  *ho_out = ho;
}

static void relu(double *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
}

static void expect_close(const float *got, const double *want, size_t n, double tol,
                         const char *what) {
  for (size_t i = 0; i < n; i++)
    if (fabs(got[i] - want[i]) > tol * (1.0 + fabs(want[i])))
      fail_msg("%s: element %zu is %.8g, reference %.8g", what, i, got[i], want[i]);
}

/* ---------------------------------------------------------------- shapes and counts */

static void test_fc_shapes_and_counts(void **state) {
  (void)state;
  bh_config *cfg = arch_config(NULL, NULL, NULL); /* defaults 1200,1200 / 1200,1200,1200 */
  bh_params *pe = bh_params_alloc(), *pd = bh_params_alloc();
  bh_net *enc = bh_encoder_alloc(cfg, pe, "enc", 1, 64, 64, 20, NULL);
  bh_net *dec = bh_decoder_alloc(cfg, pd, "dec", 10, 1, 64, 64, NULL);
  assert_non_null(enc);
  assert_non_null(dec);
  assert_int_equal(bh_net_in_size(enc), 4096);
  assert_int_equal(bh_net_out_size(enc), 20);
  assert_int_equal(bh_net_in_size(dec), 10);
  assert_int_equal(bh_net_out_size(dec), 4096);
  /* 4096·1200+1200 + 1200·1200+1200 + 1200·20+20 */
  assert_int_equal(bh_params_count(pe), 6381620);
  /* 10·1200+1200 + 2·(1200·1200+1200) + 1200·4096+4096 */
  assert_int_equal(bh_params_count(pd), 7814896);
  assert_int_equal(pe->n, 6);
  assert_int_equal(pd->n, 8);
  assert_non_null(bh_params_find(pe, "enc.0.w"));
  assert_non_null(bh_params_find(pd, "dec.3.b"));
  /* r NULL: zeros */
  for (size_t i = 0; i < pe->size; i++)
    if (pe->data[i] != 0.0f) fail_msg("encoder parameter %zu not zero", i);
  bh_net_free(enc);
  bh_net_free(dec);
  bh_params_free(pe);
  bh_params_free(pd);

  /* 28×28 images */
  pe = bh_params_alloc();
  pd = bh_params_alloc();
  enc = bh_encoder_alloc(cfg, pe, "enc", 1, 28, 28, 20, NULL);
  dec = bh_decoder_alloc(cfg, pd, "dec", 10, 1, 28, 28, NULL);
  assert_int_equal(bh_net_in_size(enc), 784);
  assert_int_equal(bh_net_out_size(dec), 784);
  assert_int_equal(bh_params_count(pe), 784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 20 + 20);
  float *x = random_input(3 * 784, 1);
  float *y = run_net(enc, x, 3);
  free(y);
  float z[30] = {0};
  y = run_net(dec, z, 3);
  free(y);
  free(x);
  bh_net_free(enc);
  bh_net_free(dec);
  bh_params_free(pe);
  bh_params_free(pd);
  bh_config_free(cfg);
}

static void conv_counts(int c) {
  bh_config *cfg = arch_config("conv", NULL, NULL);
  bh_params *pe = bh_params_alloc(), *pd = bh_params_alloc();
  gsl_rng *r = make_rng(5);
  bh_net *enc = bh_encoder_alloc(cfg, pe, "enc", c, 64, 64, 20, r);
  bh_net *dec = bh_decoder_alloc(cfg, pd, "dec", 10, c, 64, 64, r);
  assert_non_null(enc);
  assert_non_null(dec);
  assert_int_equal(bh_net_in_size(enc), c * 4096);
  assert_int_equal(bh_net_out_size(dec), c * 4096);
  /* conv 32·c·16+32, 32·32·16+32, 64·32·4+64, 64·64·4+64; fc 1024·256+256, 256·20+20 */
  size_t enc_n = (size_t)(32 * c * 16 + 32) + 16416 + 8256 + 16448 + 262400 + 5140;
  /* fc 10·256+256, 256·1024+1024; convT 64·64·16+64, 64·32·16+32, 32·32·16+32, 32·c·16+c */
  size_t dec_n = 2816 + 263168 + 65600 + 32800 + 16416 + (size_t)(32 * c * 16 + c);
  assert_int_equal(bh_params_count(pe), enc_n);
  assert_int_equal(bh_params_count(pd), dec_n);
  if (c == 1) {
    assert_int_equal(bh_params_count(pe), 309204);
    assert_int_equal(bh_params_count(pd), 381313);
  }
  /* weight shapes in PyTorch layout */
  bh_tensor *w0 = bh_params_find(pe, "enc.conv0.w"), *t3 = bh_params_find(pd, "dec.deconv3.w");
  assert_non_null(w0);
  assert_non_null(t3);
  int e0[4] = {32, c, 4, 4}, e3[4] = {32, c, 4, 4};
  assert_memory_equal(w0->shape, e0, sizeof e0);
  assert_memory_equal(t3->shape, e3, sizeof e3);
  /* PyTorch default init: every tensor inside ±1/√fan_in of its weight, and not degenerate */
  for (int g = 0; g < 2; g++) {
    bh_params *p = g ? pd : pe;
    for (int i = 0; i < p->n; i++) {
      bh_tensor *t = p->t[i];
      size_t len = strlen(p->names[i]);
      int is_bias = p->names[i][len - 1] == 'b';
      bh_tensor *w = is_bias ? p->t[i - 1] : t;
      int fi, fo;
      bh_init_fans(w, &fi, &fo);
      double bound = 1.0 / sqrt(fi), mx = 0;
      for (size_t j = 0; j < t->size; j++) mx = fmax(mx, fabs(t->data[j]));
      /* (the maximum of ≥ 32 uniform draws is within half the bound but for p < 2^-32) */
      if (mx > bound || (t->size >= 32 && mx < 0.5 * bound)) fail_msg("%s: max |x| %g, bound %g", p->names[i], mx, bound);
    }
  }
  /* shapes of a forward pass */
  float *x = random_input((size_t)2 * c * 4096, 3);
  float *y = run_net(enc, x, 2);
  float z[20];
  memcpy(z, y, sizeof z);
  free(y);
  y = run_net(dec, z, 2);
  free(y);
  free(x);
  gsl_rng_free(r);
  bh_net_free(enc);
  bh_net_free(dec);
  bh_params_free(pe);
  bh_params_free(pd);
  bh_config_free(cfg);
}

static void test_conv_shapes_and_counts(void **state) {
  (void)state;
  conv_counts(1);
  conv_counts(3);
}

/* ---------------------------------------------------------------- values */

static void test_fc_values(void **state) {
  (void)state;
  bh_config *cfg = arch_config("fc", "7,5", "6,4,3");
  bh_params *p = bh_params_alloc();
  gsl_rng *r = make_rng(11);
  bh_net *enc = bh_encoder_alloc(cfg, p, "enc", 2, 3, 2, 4, r);
  bh_net *dec = bh_decoder_alloc(cfg, p, "dec", 4, 2, 3, 2, r);
  assert_non_null(enc);
  assert_non_null(dec);
  enum { N = 3 };
  float *x = random_input(N * 12, 4);
  for (int i = 0; i < N * 12; i++) x[i] = 4.0f * x[i] - 2.0f;
  float *ye = run_net(enc, x, N);
  float codes[N * 4]; /* the first 4 inputs of each row as codes */
  for (int n = 0; n < N; n++)
    for (int j = 0; j < 4; j++) codes[n * 4 + j] = x[n * 12 + j];
  float *yd = run_net(dec, codes, N);
  for (int n = 0; n < N; n++) {
    double a[12], h1[7], h2[5], o[4];
    for (int j = 0; j < 12; j++) a[j] = x[n * 12 + j];
    ref_linear(p, "enc.0", 12, 7, a, h1);
    relu(h1, 7);
    ref_linear(p, "enc.1", 7, 5, h1, h2);
    relu(h2, 5);
    ref_linear(p, "enc.2", 5, 4, h2, o);
    expect_close(ye + n * 4, o, 4, 1e-5, "fc encoder");

    double zc[4], d1[6], d2[4], d3[3], out[12];
    for (int j = 0; j < 4; j++) zc[j] = codes[n * 4 + j];
    ref_linear(p, "dec.0", 4, 6, zc, d1);
    for (int j = 0; j < 6; j++) d1[j] = tanh(d1[j]);
    ref_linear(p, "dec.1", 6, 4, d1, d2);
    for (int j = 0; j < 4; j++) d2[j] = tanh(d2[j]);
    ref_linear(p, "dec.2", 4, 3, d2, d3);
    for (int j = 0; j < 3; j++) d3[j] = tanh(d3[j]);
    ref_linear(p, "dec.3", 3, 12, d3, out);
    expect_close(yd + n * 12, out, 12, 1e-5, "fc decoder");
  }
  free(x);
  free(ye);
  free(yd);
  gsl_rng_free(r);
  bh_net_free(enc);
  bh_net_free(dec);
  bh_params_free(p);
  bh_config_free(cfg);
}

static void test_conv_values(void **state) {
  (void)state;
  enum { C = 2, N = 2 };
  bh_config *cfg = arch_config("conv", NULL, NULL);
  bh_params *p = bh_params_alloc();
  gsl_rng *r = make_rng(12);
  bh_net *enc = bh_encoder_alloc(cfg, p, "enc", C, 64, 64, 6, r);
  bh_net *dec = bh_decoder_alloc(cfg, p, "dec", 3, C, 64, 64, r);
  float *x = random_input((size_t)N * C * 4096, 6);
  float *ye = run_net(enc, x, N);
  float z[N * 3] = {0.5f, -1.0f, 2.0f, -0.3f, 0.8f, 1.5f};
  float *yd = run_net(dec, z, N);
  double *a = malloc(sizeof(double) * 32 * 32 * 32), *b = malloc(sizeof(double) * 32 * 32 * 32);
  for (int n = 0; n < N; n++) {
    /* encoder */
    double *img = malloc(sizeof(double) * C * 4096);
    for (int i = 0; i < C * 4096; i++) img[i] = x[(size_t)n * C * 4096 + i];
    int h;
    ref_conv(p, "enc.conv0", C, 32, 4, 2, 1, 64, img, a, &h);
    assert_int_equal(h, 32);
    relu(a, 32 * 32 * 32);
    ref_conv(p, "enc.conv1", 32, 32, 4, 2, 1, 32, a, b, &h);
    assert_int_equal(h, 16);
    relu(b, 32 * 16 * 16);
    ref_conv(p, "enc.conv2", 32, 64, 2, 2, 0, 16, b, a, &h);
    assert_int_equal(h, 8);
    relu(a, 64 * 8 * 8);
    ref_conv(p, "enc.conv3", 64, 64, 2, 2, 0, 8, a, b, &h);
    assert_int_equal(h, 4);
    relu(b, 1024);
    double f[256], o[6];
    ref_linear(p, "enc.fc0", 1024, 256, b, f);
    relu(f, 256);
    ref_linear(p, "enc.fc1", 256, 6, f, o);
    expect_close(ye + n * 6, o, 6, 1e-4, "conv encoder");
    free(img);

    /* decoder */
    double zc[3] = {z[n * 3], z[n * 3 + 1], z[n * 3 + 2]}, g[256];
    ref_linear(p, "dec.fc0", 3, 256, zc, g);
    relu(g, 256);
    ref_linear(p, "dec.fc1", 256, 1024, g, a);
    relu(a, 1024);
    ref_deconv(p, "dec.deconv0", 64, 64, 4, 2, 1, 4, a, b, &h);
    assert_int_equal(h, 8);
    relu(b, 64 * 64);
    ref_deconv(p, "dec.deconv1", 64, 32, 4, 2, 1, 8, b, a, &h);
    assert_int_equal(h, 16);
    relu(a, 32 * 256);
    ref_deconv(p, "dec.deconv2", 32, 32, 4, 2, 1, 16, a, b, &h);
    assert_int_equal(h, 32);
    relu(b, 32 * 1024);
    double *out = malloc(sizeof(double) * C * 4096);
    ref_deconv(p, "dec.deconv3", 32, C, 4, 2, 1, 32, b, out, &h);
    assert_int_equal(h, 64);
    expect_close(yd + (size_t)n * C * 4096, out, (size_t)C * 4096, 1e-4, "conv decoder");
    free(out);
  }
  free(a);
  free(b);
  free(x);
  free(ye);
  free(yd);
  gsl_rng_free(r);
  bh_net_free(enc);
  bh_net_free(dec);
  bh_params_free(p);
  bh_config_free(cfg);
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void **state) {
  (void)state;
  bh_config *cfg = arch_config("conv", NULL, NULL);
  bh_params *p = bh_params_alloc();
  assert_null(bh_encoder_alloc(cfg, p, "enc", 1, 28, 28, 20, NULL));
  assert_string_equal(bh_error_message(),
                      "arch conv: needs 64×64 images, not 1×28×28 (use arch=fc)");
  assert_null(bh_decoder_alloc(cfg, p, "dec", 10, 3, 32, 32, NULL));
  assert_string_equal(bh_error_message(),
                      "arch conv: needs 64×64 images, not 3×32×32 (use arch=fc)");
  assert_int_equal(p->n, 0);
  assert_int_equal(bh_config_set(cfg, "arch", "resnet", "--set"), BH_OK);
  assert_null(bh_encoder_alloc(cfg, p, "enc", 1, 64, 64, 20, NULL));
  assert_string_equal(bh_error_message(), "arch: unknown architecture 'resnet' (known: fc, conv)");
  assert_int_equal(bh_config_set(cfg, "arch", "fc", "--set"), BH_OK);
  assert_null(bh_encoder_alloc(cfg, p, "enc", 1, 64, 64, 0, NULL));
  assert_string_equal(bh_error_message(), "arch: bad encoder shape 1×64×64 → 0");
  /* a name clash is reported by the layers */
  assert_int_equal(bh_config_set(cfg, "enc_hidden", "3", "--set"), BH_OK);
  bh_net *a = bh_encoder_alloc(cfg, p, "enc", 1, 2, 2, 2, NULL);
  assert_non_null(a);
  assert_null(bh_encoder_alloc(cfg, p, "enc", 1, 2, 2, 2, NULL));
  /* a wrong input width */
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *x = bh_tensor_new2(ctx, 2, 5);
  assert_null(bh_net_forward(ctx, a, x));
  assert_string_equal(bh_error_message(), "arch: network input [2 x 5], expected [n × 4]");
  assert_null(bh_net_forward(ctx, a, NULL));
  bh_ctx_free(ctx);
  bh_net_free(a);
  bh_params_free(p);
  bh_config_free(cfg);
}

/* ---------------------------------------------------------------- gradients */

typedef struct gc_net {
  const bh_net *net;
} gc_net;

/* in[0] the input; the network's parameters are in[1..] (they live in the group) */
static bh_tensor *build_net(bh_ctx *ctx, bh_tensor **in, void *user) {
  return bh_net_forward(ctx, ((gc_net *)user)->net, in[0]);
}

/* Check the gradients of the input and every parameter of net. */
static void check_net(const char *label, const bh_net *net, bh_params *p, int rows,
                      unsigned long seed, gc_opts o) {
  bh_tensor **in = calloc((size_t)p->n + 1, sizeof *in);
  in[0] = bh_tensor_alloc2(rows, bh_net_in_size(net), 1);
  gc_fill_uniform(in[0], seed, -1.0f, 1.0f);
  for (int i = 0; i < p->n; i++) in[i + 1] = p->t[i];
  gc_net u = {net};
  assert_int_equal(gc_check(label, build_net, in, p->n + 1, &u, o), 0);
  bh_tensor_free(in[0]);
  free(in);
}

static void test_gradcheck_fc(void **state) {
  (void)state;
  bh_config *cfg = arch_config("fc", "6,5", "5,4,6");
  bh_params *pe = bh_params_alloc(), *pd = bh_params_alloc();
  gsl_rng *r = make_rng(21);
  bh_net *enc = bh_encoder_alloc(cfg, pe, "enc", 1, 3, 3, 4, r);
  bh_net *dec = bh_decoder_alloc(cfg, pd, "dec", 3, 1, 3, 3, r);
  /* float32 forwards of L ~ 1: rounding ~1e-7/eps = 1e-4, truncation eps²·f''' ~ 1e-6.  The
   * preactivations of these seeds stay more than eps·(1 + max|x|) away from relu's kink (a
   * crossing would show as a failure; seed 1 for the encoder's input has one at 4e-4). */
  gc_opts o = {1e-3, 1e-3, 1e-2, 64};
  check_net("fc encoder", enc, pe, 4, 5, o);
  check_net("fc decoder", dec, pd, 4, 2, o);
  gsl_rng_free(r);
  bh_net_free(enc);
  bh_net_free(dec);
  bh_params_free(pe);
  bh_params_free(pd);
  bh_config_free(cfg);
}

/* The largest |gradient| of every tensor (the input first, then the parameters) of
 * L = Σ R·net(x) for a random R ~ U(−1, 1): the scale the tolerances of each tensor follow. */
static double *grad_scales(const bh_net *net, bh_params *p, bh_tensor *x, unsigned long seed) {
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  bh_tensor *y = bh_net_forward(ctx, net, x);
  assert_non_null(y);
  float *r = malloc(y->size * sizeof *r);
  gsl_rng *g = make_rng(seed);
  for (size_t i = 0; i < y->size; i++) r[i] = (float)(2.0 * gsl_rng_uniform(g) - 1.0);
  bh_params_zero_grad(p);
  bh_tensor_zero_grad(x);
  assert_int_equal(bh_backward_seed(ctx, y, r), BH_OK);
  bh_params_grad_finish(p);
  double *scale = calloc((size_t)p->n + 1, sizeof *scale);
  for (int t = -1; t < p->n; t++) {
    bh_tensor *T = t < 0 ? x : p->t[t];
    for (size_t j = 0; j < T->size; j++) scale[t + 1] = fmax(scale[t + 1], fabs(T->grad[j]));
    if (!(scale[t + 1] > 0)) fail_msg("%s: no gradient reached it", t < 0 ? "input" : p->names[t]);
  }
  gsl_rng_free(g);
  free(r);
  bh_ctx_free(ctx);
  return scale;
}

/* The conv widths are fixed by disentanglement_lib, so check a batch of 2 on a random subset
 * of each tensor's elements, one tensor at a time with a tolerance scaled to that tensor's
 * gradients (their scales span 1e-4 .. 1e2 here).  Thousands of relus sit within 1e-2 of their
 * kink at PyTorch's initialisation, so a perturbation of eps moves a few across, each shifting
 * the difference quotient by a fraction of one unit's share; float32 rounding of L (≤ 16k
 * outputs) over 2·eps adds ~1e-3 of the scale at eps = 1e-3.  Measured worst errors are ≤ 6 %
 * of the tensor's largest gradient; a wiring error (a missing relu, a transposed reshape) is
 * of the order of the gradient itself, so atol = 15 % of the scale separates them. */
static void check_net_scaled(const char *label, const bh_net *net, bh_params *p, int rows,
                             unsigned long seed, double eps, int max_elems) {
  bh_tensor *x = bh_tensor_alloc2(rows, bh_net_in_size(net), 1);
  bh_tensor *xc = bh_tensor_alloc2(rows, bh_net_in_size(net), 0);
  gc_fill_uniform(x, seed, 0.0f, 1.0f);
  memcpy(xc->data, x->data, x->size * sizeof(float));
  double *scale = grad_scales(net, p, x, seed + 100);
  gc_net u = {net};
  for (int t = -1; t < p->n; t++) {
    char name[128];
    snprintf(name, sizeof name, "%s %s", label, t < 0 ? "input" : p->names[t]);
    bh_tensor *in[2] = {t < 0 ? x : xc, t < 0 ? NULL : p->t[t]};
    gc_opts o = {eps, 0.15 * scale[t + 1], 1e-2, max_elems};
    assert_int_equal(gc_check(name, build_net, in, t < 0 ? 1 : 2, &u, o), 0);
  }
  free(scale);
  bh_tensor_free(x);
  bh_tensor_free(xc);
}

static void test_gradcheck_conv(void **state) {
  (void)state;
  bh_config *cfg = arch_config("conv", NULL, NULL);
  bh_params *pe = bh_params_alloc(), *pd = bh_params_alloc();
  gsl_rng *r = make_rng(22);
  bh_net *enc = bh_encoder_alloc(cfg, pe, "enc", 1, 64, 64, 4, r);
  bh_net *dec = bh_decoder_alloc(cfg, pd, "dec", 3, 2, 64, 64, r);
  check_net_scaled("conv encoder", enc, pe, 2, 3, 1e-3, 12);
  check_net_scaled("conv decoder", dec, pd, 2, 4, 1e-3, 12);
  gsl_rng_free(r);
  bh_net_free(enc);
  bh_net_free(dec);
  bh_params_free(pe);
  bh_params_free(pd);
  bh_config_free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fc_shapes_and_counts), cmocka_unit_test(test_conv_shapes_and_counts),
      cmocka_unit_test(test_fc_values),            cmocka_unit_test(test_conv_values),
      cmocka_unit_test(test_errors),               cmocka_unit_test(test_gradcheck_fc),
      cmocka_unit_test(test_gradcheck_conv),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
