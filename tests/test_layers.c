/* test_layers.c — initialisers (bounds, variances, fans), layers and the MLP builder (names,
 * counts, forward values, gradients), and the error paths. */
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
#include "core/layers.h"
#include "core/ops.h"
#include "core/rng.h"
#include "tests/gradcheck.h"

/* ---- statistics of a tensor ---- */

typedef struct stats {
  double mean, var, min, max;
} stats;

static stats tensor_stats(const bh_tensor *t) {
  stats s = {0, 0, INFINITY, -INFINITY};
  for (size_t i = 0; i < t->size; i++) {
    s.mean += t->data[i];
    s.min = fmin(s.min, t->data[i]);
    s.max = fmax(s.max, t->data[i]);
  }
  s.mean /= (double)t->size;
  for (size_t i = 0; i < t->size; i++) s.var += (t->data[i] - s.mean) * (t->data[i] - s.mean);
  s.var /= (double)(t->size - 1);
  return s;
}

/* Uniform on [−a, a]: all inside, extremes close to ±a, variance a²/3.  The sample variance of
 * n draws has relative sd √(4/5 / n) (x² has variance a⁴·4/45 around a²/3); allow 5 sd.  The
 * largest of n uniform draws misses a by about 2a/n, so 1 % of a is far out. */
static void expect_uniform(const bh_tensor *t, double a) {
  stats s = tensor_stats(t);
  double n = (double)t->size;
  assert_true(s.min >= -a && s.max <= a);
  assert_true(s.min < -0.99 * a && s.max > 0.99 * a);
  assert_true(fabs(s.mean) < 5.0 * a / sqrt(3.0 * n));
  if (fabs(s.var / (a * a / 3.0) - 1.0) > 5.0 * sqrt(0.8 / n))
    fail_msg("uniform(±%g): variance %g, expected %g", a, s.var, a * a / 3.0);
}

/* Normal with sd σ: the sample variance has relative sd √(2/n); allow 5 sd. */
static void expect_normal(const bh_tensor *t, double sigma) {
  stats s = tensor_stats(t);
  double n = (double)t->size;
  assert_true(fabs(s.mean) < 5.0 * sigma / sqrt(n));
  if (fabs(s.var / (sigma * sigma) - 1.0) > 5.0 * sqrt(2.0 / n))
    fail_msg("normal(%g): variance %g, expected %g", sigma, s.var, sigma * sigma);
  /* and really Gaussian-shaped: beyond 4σ has probability 6e-5, so some but few */
  int tail = 0;
  for (size_t i = 0; i < t->size; i++) tail += fabs(t->data[i]) > 4.0 * sigma;
  assert_true(tail < 30);
}

static void test_fans(void **state) {
  (void)state;
  int fi, fo;
  bh_tensor *lin = bh_tensor_alloc2(30, 40, 0);
  bh_init_fans(lin, &fi, &fo);
  assert_int_equal(fi, 40);
  assert_int_equal(fo, 30);
  int cs[4] = {8, 3, 4, 4}; /* conv2d [out, in, k, k] */
  bh_tensor *conv = bh_tensor_alloc(4, cs, 0);
  bh_init_fans(conv, &fi, &fo);
  assert_int_equal(fi, 3 * 16);
  assert_int_equal(fo, 8 * 16);
  int ts[4] = {3, 8, 4, 4}; /* conv-transpose [in, out, k, k]: PyTorch takes dim 1 as fan_in */
  bh_tensor *tr = bh_tensor_alloc(4, ts, 0);
  bh_init_fans(tr, &fi, &fo);
  assert_int_equal(fi, 8 * 16);
  assert_int_equal(fo, 3 * 16);
  bh_tensor_free(lin);
  bh_tensor_free(conv);
  bh_tensor_free(tr);
}

static void test_init_distributions(void **state) {
  (void)state;
  bh_rng *rng = bh_rng_alloc(17);
  gsl_rng *r = bh_rng_stream(rng, "init");
  int bs = 40000;
  bh_tensor *w = bh_tensor_alloc2(300, 400, 0), *b = bh_tensor_alloc(1, &bs, 0);

  /* PyTorch default: U(±1/√fan_in) for both, fan_in = 400 */
  bh_init_torch_default(w, b, r);
  expect_uniform(w, 1.0 / 20.0);
  expect_uniform(b, 1.0 / 20.0);

  /* Xavier: U(±√(6/(fan_in + fan_out))), N(0, 2/(fan_in + fan_out)), times gain */
  bh_init_xavier_uniform(w, r, 1.0f);
  expect_uniform(w, sqrt(6.0 / 700.0));
  bh_init_xavier_uniform(w, r, 2.0f);
  expect_uniform(w, 2.0 * sqrt(6.0 / 700.0));
  bh_init_xavier_normal(w, r, 1.0f);
  expect_normal(w, sqrt(2.0 / 700.0));
  bh_init_xavier_normal(w, r, 0.5f);
  expect_normal(w, 0.5 * sqrt(2.0 / 700.0));

  /* N(0, 0.02) (the dlib conv models) and a shifted normal */
  bh_init_normal(w, r, 0.0f, 0.02f);
  expect_normal(w, 0.02);
  bh_init_normal(w, r, 3.0f, 0.5f);
  stats s = tensor_stats(w);
  assert_true(fabs(s.mean - 3.0) < 5.0 * 0.5 / sqrt(120000.0));

  bh_init_uniform(b, r, 1.0f, 2.0f);
  s = tensor_stats(b);
  assert_true(s.min >= 1.0 && s.max < 2.0 && fabs(s.mean - 1.5) < 0.01);
  bh_init_constant(b, 0.25f);
  for (int i = 0; i < bs; i++) assert_float_equal(b->data[i], 0.25f, 0.0);

  /* conv: fan_in = in·k·k = 3·16, so the bound is 1/√48 */
  int cs[4] = {64, 3, 4, 4};
  bh_tensor *cw = bh_tensor_alloc(4, cs, 0);
  bh_init_torch_default(cw, NULL, r);
  expect_uniform(cw, 1.0 / sqrt(48.0));
  bh_tensor_free(cw);
  bh_tensor_free(w);
  bh_tensor_free(b);
  bh_rng_free(rng);
}

static void test_init_reproducible_from_stream(void **state) {
  (void)state;
  bh_params *p1 = bh_params_alloc(), *p2 = bh_params_alloc(), *p0 = bh_params_alloc();
  bh_rng *r1 = bh_rng_alloc(5), *r2 = bh_rng_alloc(5);
  bh_linear_layer l1, l2, l0;
  assert_int_equal(bh_linear_layer_init(&l1, p1, "fc", 50, 20, 1, bh_rng_stream(r1, "init")), 0);
  assert_int_equal(bh_linear_layer_init(&l2, p2, "fc", 50, 20, 1, bh_rng_stream(r2, "init")), 0);
  assert_int_equal(bh_linear_layer_init(&l0, p0, "fc", 50, 20, 1, NULL), 0);
  assert_memory_equal(l1.w->data, l2.w->data, l1.w->size * sizeof(float));
  assert_memory_equal(l1.b->data, l2.b->data, l1.b->size * sizeof(float));
  int nonzero = 0;
  for (size_t i = 0; i < l1.w->size; i++) nonzero += l1.w->data[i] != 0.0f;
  assert_true(nonzero > 990);
  for (size_t i = 0; i < l0.w->size; i++) assert_float_equal(l0.w->data[i], 0.0f, 0.0);
  bh_rng_free(r1);
  bh_rng_free(r2);
  bh_params_free(p0);
  bh_params_free(p1);
  bh_params_free(p2);
}

/* The dSprites FC encoder and decoder: names, shapes, parameter count. */
static void test_mlp_names_and_count(void **state) {
  (void)state;
  bh_params *p = bh_params_alloc();
  bh_rng *rng = bh_rng_alloc(1);
  gsl_rng *r = bh_rng_stream(rng, "init");
  const int enc_w[4] = {4096, 1200, 1200, 20}, dec_w[5] = {10, 1200, 1200, 1200, 4096};
  bh_mlp *enc = bh_mlp_alloc(p, "enc", 4, enc_w, bh_act_relu(), r);
  assert_non_null(enc);
  assert_int_equal(enc->nlayers, 3);
  size_t enc_count = 4096 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 20 + 20;
  assert_int_equal(bh_params_count(p), enc_count);
  const char *names[6] = {"enc.0.w", "enc.0.b", "enc.1.w", "enc.1.b", "enc.2.w", "enc.2.b"};
  const int rows[3] = {1200, 1200, 20}, cols[3] = {4096, 1200, 1200};
  assert_int_equal(p->n, 6);
  for (int i = 0; i < 6; i++) {
    assert_string_equal(p->names[i], names[i]);
    bh_tensor *t = bh_params_find(p, names[i]);
    assert_non_null(t);
    int layer = i / 2;
    if (i % 2 == 0) {
      assert_ptr_equal(t, enc->layers[layer].w);
      assert_int_equal(t->ndim, 2);
      assert_int_equal(t->shape[0], rows[layer]);
      assert_int_equal(t->shape[1], cols[layer]);
    } else {
      assert_ptr_equal(t, enc->layers[layer].b);
      assert_int_equal(t->ndim, 1);
      assert_int_equal(t->shape[0], rows[layer]);
    }
  }
  bh_mlp *dec = bh_mlp_alloc(p, "dec", 5, dec_w, bh_act_tanh(), r);
  assert_non_null(dec);
  size_t dec_count = 10 * 1200 + 1200 + 2 * (1200 * 1200 + 1200) + 1200 * 4096 + 4096;
  assert_int_equal(bh_params_count(p), enc_count + dec_count);
  assert_non_null(bh_params_find(p, "dec.3.w"));
  assert_null(bh_params_find(p, "dec.4.w"));
  /* the first layer got torch's default bound 1/√4096 */
  expect_uniform(enc->layers[0].w, 1.0 / 64.0);
  bh_mlp_free(enc);
  bh_mlp_free(dec);
  bh_rng_free(rng);
  bh_params_free(p);
}

/* ---- MLP forward against a plain double-precision composition ---- */

static double act_ref(double x, bh_act a) {
  switch (a.kind) {
    case BH_ACT_RELU: return x > 0 ? x : 0;
    case BH_ACT_LEAKY_RELU: return x > 0 ? x : a.slope * x;
    case BH_ACT_TANH: return tanh(x);
    default: return x;
  }
}

static void test_mlp_forward_values(void **state) {
  (void)state;
  const bh_act acts[4] = {bh_act_none(), bh_act_relu(), bh_act_leaky_relu(0.2f), bh_act_tanh()};
  const int widths[4] = {5, 7, 6, 3}, n = 4;
  for (int ai = 0; ai < 4; ai++) {
    bh_params *p = bh_params_alloc();
    bh_rng *rng = bh_rng_alloc(100 + ai);
    bh_mlp *m = bh_mlp_alloc(p, "net", 4, widths, acts[ai], bh_rng_stream(rng, "init"));
    assert_non_null(m);
    bh_tensor *x = bh_tensor_alloc2(n, 5, 0);
    gc_fill_uniform(x, 7 + ai, -2, 2);
    bh_ctx *ctx = bh_ctx_alloc(0);
    bh_tensor *y = bh_mlp_forward(ctx, m, x);
    assert_non_null(y);
    assert_int_equal(y->shape[0], n);
    assert_int_equal(y->shape[1], 3);

    /* plain loops in double: h ← act(W h + b) for the hidden layers, the last one linear */
    for (int i = 0; i < n; i++) {
      double h[8], next[8];
      for (int j = 0; j < 5; j++) h[j] = x->data[i * 5 + j];
      for (int l = 0; l < 3; l++) {
        const bh_linear_layer *L = &m->layers[l];
        for (int o = 0; o < L->out; o++) {
          double s = L->b->data[o];
          for (int j = 0; j < L->in; j++) s += (double)L->w->data[o * L->in + j] * h[j];
          next[o] = l < 2 ? act_ref(s, acts[ai]) : s;
        }
        memcpy(h, next, sizeof h);
      }
      for (int o = 0; o < 3; o++) assert_float_equal(y->data[i * 3 + o], h[o], 1e-5);
    }

    /* and bit-equal to the same composition written with the ops */
    bh_tensor *z = x;
    for (int l = 0; l < 3; l++) {
      z = bh_linear(ctx, z, m->layers[l].w, m->layers[l].b);
      if (l < 2) z = bh_act_apply(ctx, z, acts[ai]);
    }
    assert_memory_equal(y->data, z->data, y->size * sizeof(float));
    bh_ctx_free(ctx);
    bh_tensor_free(x);
    bh_mlp_free(m);
    bh_rng_free(rng);
    bh_params_free(p);
  }
}

/* ---- gradients of the MLP's parameters ---- */

typedef struct mlp_case {
  bh_mlp *m;
} mlp_case;

/* in[0] is the input x; in[1..] are the MLP's own parameter tensors, which the forward reads,
 * so gc_check's perturbations of them change the output. */
static bh_tensor *build_mlp(bh_ctx *ctx, bh_tensor **in, void *user) {
  return bh_mlp_forward(ctx, ((mlp_case *)user)->m, in[0]);
}

static void check_mlp_grad(bh_act act, unsigned long seed) {
  bh_params *p = bh_params_alloc();
  bh_rng *rng = bh_rng_alloc(seed);
  const int widths[4] = {6, 8, 5, 4};
  mlp_case mc = {bh_mlp_alloc(p, "g", 4, widths, act, bh_rng_stream(rng, "init"))};
  assert_non_null(mc.m);
  bh_tensor *x = bh_tensor_alloc2(3, 6, 1);
  gc_fill_uniform(x, seed, -1.5, 1.5);
  bh_tensor *in[8];
  in[0] = x;
  for (int i = 0; i < p->n; i++) in[1 + i] = p->t[i]; /* w0 b0 w1 b1 w2 b2 */
  /* float32 forward, eps 3e-3: L's rounding (~1e-6) over 2·eps gives ~2e-4 of noise, the
   * truncation eps²·f'''/6 ~ 1e-6; atol 1e-3, rtol 1e-2 leave a margin.  The preactivations of
   * this seed stay more than eps away from relu's kink (a crossing would show as a failure). */
  gc_opts opts = {3e-3, 1e-3, 1e-2, 64};
  assert_int_equal(gc_check("mlp", build_mlp, in, 1 + p->n, &mc, opts), 0);
  /* not vacuous: every parameter got a non-zero analytic gradient (left by gc_check) */
  for (int i = 0; i < p->n; i++) {
    double s = 0;
    for (size_t j = 0; j < p->t[i]->size; j++) s += fabs(p->t[i]->grad[j]);
    if (!(s > 0)) fail_msg("%s: no gradient reached it", p->names[i]);
  }
  bh_tensor_free(x);
  bh_mlp_free(mc.m);
  bh_rng_free(rng);
  bh_params_free(p);
}

static void test_mlp_gradients(void **state) {
  (void)state;
  check_mlp_grad(bh_act_tanh(), 1);
  check_mlp_grad(bh_act_leaky_relu(0.1f), 2);
  check_mlp_grad(bh_act_relu(), 3);
}

/* The parameter gradients land in the group's flat buffer (what Adam reads), and a group
 * whose tensors a pass never reached reads zero after bh_params_grad_finish. */
static void test_grads_reach_the_group(void **state) {
  (void)state;
  bh_params *p = bh_params_alloc();
  bh_rng *rng = bh_rng_alloc(9);
  const int widths[3] = {4, 3, 2};
  bh_mlp *m = bh_mlp_alloc(p, "m", 3, widths, bh_act_tanh(), bh_rng_stream(rng, "init"));
  bh_linear_layer extra;
  assert_int_equal(bh_linear_layer_init(&extra, p, "unused", 2, 2, 1, NULL), BH_OK);
  for (size_t i = 0; i < p->size; i++) p->grad[i] = 7.0f; /* stale */
  bh_tensor *x = bh_tensor_alloc2(2, 4, 0);
  gc_fill_uniform(x, 3, -1, 1);
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_params_zero_grad(p);
  bh_tensor *y = bh_mlp_forward(ctx, m, x);
  const float ones[4] = {1, 1, 1, 1}; /* d(Σy)/dy */
  assert_int_equal(bh_backward_seed(ctx, y, ones), BH_OK);
  bh_params_grad_finish(p);
  /* d(Σy)/db_last = number of rows, for every output */
  bh_tensor *b1 = bh_params_find(p, "m.1.b");
  for (int j = 0; j < 2; j++) assert_float_equal(b1->grad[j], 2.0f, 1e-6);
  assert_ptr_equal(b1->grad, p->grad + p->offset[3]);
  for (size_t i = 0; i < extra.w->size; i++) assert_float_equal(extra.w->grad[i], 0.0f, 0.0);
  bh_ctx_free(ctx);
  bh_tensor_free(x);
  bh_mlp_free(m);
  bh_rng_free(rng);
  bh_params_free(p);
}

/* ---- conv layers: parameters and the op call ---- */

static void test_conv_layers(void **state) {
  (void)state;
  bh_params *p = bh_params_alloc();
  bh_rng *rng = bh_rng_alloc(4);
  gsl_rng *r = bh_rng_stream(rng, "init");
  bh_conv2d_layer c;
  assert_int_equal(bh_conv2d_layer_init(&c, p, "enc.conv0", 3, 8, 4, 2, 1, 1, r), BH_OK);
  assert_ptr_equal(bh_params_find(p, "enc.conv0.w"), c.w);
  assert_ptr_equal(bh_params_find(p, "enc.conv0.b"), c.b);
  assert_int_equal(c.w->shape[0], 8);
  assert_int_equal(c.w->shape[1], 3);
  assert_int_equal(c.w->shape[2], 4);
  assert_int_equal(c.w->shape[3], 4);
  for (size_t i = 0; i < c.w->size; i++) assert_true(fabsf(c.w->data[i]) <= 1.0f / sqrtf(48.0f));
  bh_conv_transpose2d_layer t;
  assert_int_equal(
      bh_conv_transpose2d_layer_init(&t, p, "dec.deconv0", 8, 3, 4, 2, 1, 0, 0, r), BH_OK);
  assert_null(t.b);
  assert_null(bh_params_find(p, "dec.deconv0.b"));
  assert_int_equal(t.w->shape[0], 8); /* PyTorch layout [in, out, k, k] */
  assert_int_equal(t.w->shape[1], 3);
  /* PyTorch's fan_in for a transposed conv is out·k·k = 48 */
  for (size_t i = 0; i < t.w->size; i++) assert_true(fabsf(t.w->data[i]) <= 1.0f / sqrtf(48.0f));
  assert_int_equal(bh_params_count(p), 8 * 3 * 16 + 8 + 8 * 3 * 16);

  /* forward = the op with the layer's stride and padding: 16×16 -> 8×8 -> 16×16 */
  int xs[4] = {2, 3, 16, 16};
  bh_tensor *x = bh_tensor_alloc(4, xs, 0);
  gc_fill_uniform(x, 1, -1, 1);
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *h = bh_conv2d_layer_forward(ctx, &c, x);
  assert_non_null(h);
  assert_int_equal(h->shape[1], 8);
  assert_int_equal(h->shape[2], 8);
  assert_int_equal(h->shape[3], 8);
  bh_tensor *h2 = bh_conv2d(ctx, x, c.w, c.b, 2, 1);
  assert_memory_equal(h->data, h2->data, h->size * sizeof(float));
  bh_tensor *y = bh_conv_transpose2d_layer_forward(ctx, &t, h);
  assert_non_null(y);
  assert_int_equal(y->shape[1], 3);
  assert_int_equal(y->shape[2], 16);
  assert_int_equal(y->shape[3], 16);
  bh_tensor *y2 = bh_conv_transpose2d(ctx, h, t.w, NULL, 2, 1, 0);
  assert_memory_equal(y->data, y2->data, y->size * sizeof(float));
  /* a wrong channel count is the op's shape error */
  int bad[4] = {1, 5, 16, 16};
  bh_tensor *xb = bh_tensor_alloc(4, bad, 0);
  assert_null(bh_conv2d_layer_forward(ctx, &c, xb));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  bh_tensor_free(xb);
  bh_ctx_free(ctx);
  bh_tensor_free(x);
  bh_rng_free(rng);
  bh_params_free(p);
}

static void test_errors(void **state) {
  (void)state;
  bh_params *p = bh_params_alloc();
  bh_linear_layer l;
  assert_int_equal(bh_linear_layer_init(&l, p, "fc", 0, 3, 1, NULL), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "fc"));
  assert_int_equal(bh_linear_layer_init(&l, p, "fc", 2, 3, 1, NULL), BH_OK);
  assert_int_not_equal(bh_linear_layer_init(&l, p, "fc", 2, 3, 1, NULL), BH_OK);
  assert_non_null(strstr(bh_error_message(), "fc.w")); /* the name clash is named */
  const int w1[1] = {4}, w2[3] = {4, -1, 2};
  assert_null(bh_mlp_alloc(p, "m", 1, w1, bh_act_relu(), NULL));
  assert_non_null(strstr(bh_error_message(), "mlp"));
  assert_null(bh_mlp_alloc(p, "m2", 3, w2, bh_act_relu(), NULL));
  bh_act weird = {(bh_act_kind)42, 0.0f};
  const int w3[2] = {4, 2};
  assert_null(bh_mlp_alloc(p, "m3", 2, w3, weird, NULL));
  assert_null(bh_params_find(p, "m3.0.w")); /* rejected before registering anything */
  bh_conv2d_layer c;
  assert_int_equal(bh_conv2d_layer_init(&c, p, "c", 3, 8, 4, 0, 1, 1, NULL), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "conv2d"));
  bh_conv_transpose2d_layer t;
  assert_int_equal(bh_conv_transpose2d_layer_init(&t, p, "t", 3, 8, 4, 2, 1, 2, 1, NULL),
                   BH_EINVAL);
  char longp[300];
  memset(longp, 'x', sizeof longp - 1);
  longp[sizeof longp - 1] = '\0';
  assert_int_equal(bh_linear_layer_init(&l, p, longp, 2, 2, 1, NULL), BH_EINVAL);
  /* activation of an unknown kind and of NULL */
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *x = bh_tensor_alloc2(1, 2, 0);
  assert_null(bh_act_apply(ctx, x, weird));
  assert_non_null(strstr(bh_error_message(), "activation"));
  assert_null(bh_act_apply(ctx, NULL, bh_act_relu()));
  assert_ptr_equal(bh_act_apply(ctx, x, bh_act_none()), x);
  bh_tensor_free(x);
  bh_ctx_free(ctx);
  bh_params_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fans),
      cmocka_unit_test(test_init_distributions),
      cmocka_unit_test(test_init_reproducible_from_stream),
      cmocka_unit_test(test_mlp_names_and_count),
      cmocka_unit_test(test_mlp_forward_values),
      cmocka_unit_test(test_mlp_gradients),
      cmocka_unit_test(test_grads_reach_the_group),
      cmocka_unit_test(test_conv_layers),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
