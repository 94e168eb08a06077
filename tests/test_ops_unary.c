/* test_ops_unary.c — core/fastmath.h accuracy and edge cases; the elementwise ops of
 * core/ops_unary.c: values against double-precision libm, finite-difference gradients (2-D and
 * 4-D inputs), detach, NULL propagation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/fastmath.h"
#include "core/ops.h"
#include "tests/gradcheck.h"

/* ================= fastmath: accuracy over dense sweeps ================= */

/* Worst errors of f against the double reference over a set of inputs: relative error where
 * the true value is a normal float, and absolute error in units of the smallest subnormal
 * (2^-149) where it is below FLT_MIN, where relative error means nothing. */
typedef struct sweep_stats {
  double rel, sub_ulps;
  float rel_at;
  long count;
} sweep_stats;

typedef float (*f32_fn)(float);
typedef double (*f64_fn)(double);

static void sweep_one(sweep_stats *st, f32_fn f, f64_fn ref, float x) {
  double r = ref((double)x), y = (double)f(x);
  st->count++;
  if (isnan(r)) {
    if (!isnan(y)) st->rel = INFINITY, st->rel_at = x;
    return;
  }
  if (fabs(r) > FLT_MAX) { /* overflows in float: must be the same infinity */
    if (y != (r > 0 ? INFINITY : -INFINITY)) st->rel = INFINITY, st->rel_at = x;
    return;
  }
  if (fabs(r) < FLT_MIN) {
    double u = fabs(y - r) / 0x1p-149;
    if (u > st->sub_ulps) st->sub_ulps = u;
    return;
  }
  double e = fabs(y - r) / fabs(r);
  if (!(e <= st->rel)) st->rel = e, st->rel_at = x; /* also catches NaN */
}

/* Every `stride`-th float bit pattern of both signs, kept when in [lo, hi]; plus every float
 * in each window [w[2k], w[2k+1]] (the branch switches and range edges, where errors hide). */
static sweep_stats sweep(f32_fn f, f64_fn ref, float lo, float hi, const float *w, int nw) {
  sweep_stats st = {0, 0, 0, 0};
  const uint32_t stride = 257; /* odd: visits every residue of the low mantissa bits */
  for (uint32_t sign = 0; sign < 2; sign++)
    for (uint32_t b = 0; b < 0x7f800000u; b += stride) {
      float x = bh_fm_float(b | (sign << 31));
      if (x >= lo && x <= hi) sweep_one(&st, f, ref, x);
    }
  for (int k = 0; k < nw; k++)
    for (float x = w[2 * k]; x <= w[2 * k + 1]; x = nextafterf(x, INFINITY)) sweep_one(&st, f, ref, x);
  return st;
}

static void report(const char *name, sweep_stats st) {
  printf("  %-10s %9ld points: max rel err %.3g (x = %.9g), subnormal results max %.2f x 2^-149\n",
         name, st.count, st.rel, (double)st.rel_at, st.sub_ulps);
}

/* Relative error bound of the brief: 2e-7, about 1.7 ulp at worst.  Subnormal results: within
 * one subnormal step (they are rounded once from an accurate normal value). */
#define REL_TOL 2e-7
#define SUB_TOL 1.0

static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

static void test_fast_exp_accuracy(void **state) {
  (void)state;
  /* windows: the overflow edge (88.72), the start and end of the subnormal range */
  const float w[] = {88.6f, 88.8f, -87.4f, -87.2f, -104.0f, -103.9f};
  sweep_stats st = sweep(bh_fast_expf, exp, -110.0f, 100.0f, w, 3);
  report("exp", st);
  assert_true(st.rel <= REL_TOL);
  assert_true(st.sub_ulps <= SUB_TOL);
}

static void test_fast_tanh_accuracy(void **state) {
  (void)state;
  /* windows: the switch from polynomial to exponential at |x| = 1, tiny x */
  const float w[] = {0.999f, 1.001f, -1.001f, -0.999f, 1e-30f, 1.00001e-30f};
  sweep_stats st = sweep(bh_fast_tanhf, tanh, -FLT_MAX, FLT_MAX, w, 3);
  report("tanh", st);
  assert_true(st.rel <= REL_TOL);
  assert_true(st.sub_ulps <= SUB_TOL);
}

static void test_fast_sigmoid_accuracy(void **state) {
  (void)state;
  const float w[] = {-5.0f, -4.99f, -87.5f, -87.3f};
  sweep_stats st = sweep(bh_fast_sigmoidf, ref_sigmoid, -FLT_MAX, FLT_MAX, w, 2);
  report("sigmoid", st);
  assert_true(st.rel <= REL_TOL);
  assert_true(st.sub_ulps <= SUB_TOL);
}

static void test_fast_log1p_accuracy(void **state) {
  (void)state;
  /* windows: just above −1, the mantissa split at √2 − 1, and around 1 */
  const float w[] = {-1.0f, -0.99999f, 0.4141f, 0.4143f, 0.9999f, 1.0001f};
  sweep_stats st = sweep(bh_fast_log1pf, log1p, -1.0f, FLT_MAX, w, 3);
  report("log1p", st);
  assert_true(st.rel <= REL_TOL);
  assert_true(st.sub_ulps <= SUB_TOL);
}

static void test_fast_log1p_unit_accuracy(void **state) {
  (void)state;
  /* windows: the exponent switch at 1 + u = √2, and the top of the domain */
  const float w[] = {0.4142f, 0.41422f, 0.9999f, 1.0f};
  sweep_stats st = sweep(bh_fast_log1p_unitf, log1p, 0.0f, 1.0f, w, 2);
  report("log1p[0,1]", st);
  assert_true(st.rel <= REL_TOL);
  assert_true(st.sub_ulps <= SUB_TOL);
  assert_true(bh_fast_log1p_unitf(0.0f) == 0.0f && bh_fast_log1p_unitf(1e-30f) == 1e-30f);
  assert_true(isnan(bh_fast_log1p_unitf(NAN)));
}

static void test_fast_log_accuracy(void **state) {
  (void)state;
  const float w[] = {0.999f, 1.001f, 1e-40f, 1.0001e-40f};
  sweep_stats st = sweep(bh_fast_logf, log, 0.0f, FLT_MAX, w, 2);
  report("log", st);
  assert_true(st.rel <= REL_TOL);
}

static void test_fast_softplus_accuracy(void **state) {
  (void)state;
  const float w[] = {-0.01f, -0.0099f, 15.9f, 16.1f};
  sweep_stats st = sweep(bh_fast_softplusf, ref_softplus, -FLT_MAX, FLT_MAX, w, 2);
  report("softplus", st);
  assert_true(st.rel <= REL_TOL);
  assert_true(st.sub_ulps <= SUB_TOL);
}

/* ================= fastmath: edges ================= */

static void test_fast_edges(void **state) {
  (void)state;
  const float inf = INFINITY;
  /* exp: ±inf, NaN, the last finite value, overflow, total underflow */
  assert_true(bh_fast_expf(inf) == inf);
  assert_true(bh_fast_expf(-inf) == 0.0f);
  assert_true(isnan(bh_fast_expf(NAN)));
  assert_true(bh_fast_expf(0.0f) == 1.0f);
  assert_true(isfinite(bh_fast_expf(88.72283f)) && bh_fast_expf(88.72283f) > 3.4e38f);
  assert_true(bh_fast_expf(88.7229f) == inf);
  assert_true(bh_fast_expf(1000.0f) == inf);
  assert_true(bh_fast_expf(-104.0f) == 0.0f && bh_fast_expf(-1000.0f) == 0.0f);
  assert_true(bh_fast_expf(-103.0f) > 0.0f); /* e^-103 ≈ 1.4e-45 · 1.9: a subnormal */
  /* tanh */
  assert_true(bh_fast_tanhf(inf) == 1.0f && bh_fast_tanhf(-inf) == -1.0f);
  assert_true(bh_fast_tanhf(20.0f) == 1.0f && bh_fast_tanhf(-1e30f) == -1.0f);
  assert_true(isnan(bh_fast_tanhf(NAN)));
  assert_true(bh_fast_tanhf(-0.0f) == 0.0f && signbit(bh_fast_tanhf(-0.0f)));
  assert_true(bh_fast_tanhf(1e-40f) == 1e-40f); /* subnormal in, unchanged */
  /* sigmoid */
  assert_true(bh_fast_sigmoidf(inf) == 1.0f && bh_fast_sigmoidf(-inf) == 0.0f);
  assert_true(bh_fast_sigmoidf(0.0f) == 0.5f);
  assert_true(isnan(bh_fast_sigmoidf(NAN)));
  assert_true(bh_fast_sigmoidf(-200.0f) == 0.0f && bh_fast_sigmoidf(200.0f) == 1.0f);
  /* log1p: the domain edge, tiny arguments kept exactly, ±0 */
  assert_true(bh_fast_log1pf(-1.0f) == -inf);
  assert_true(isnan(bh_fast_log1pf(-1.5f)) && isnan(bh_fast_log1pf(-inf)));
  assert_true(isnan(bh_fast_log1pf(NAN)));
  assert_true(bh_fast_log1pf(inf) == inf);
  assert_true(bh_fast_log1pf(1e-30f) == 1e-30f && bh_fast_log1pf(-1e-30f) == -1e-30f);
  assert_true(bh_fast_log1pf(0.0f) == 0.0f && signbit(bh_fast_log1pf(-0.0f)));
  assert_float_equal(bh_fast_log1pf(FLT_MAX), log((double)FLT_MAX), 1e-4);
  /* log */
  assert_true(bh_fast_logf(0.0f) == -inf && bh_fast_logf(-0.0f) == -inf);
  assert_true(isnan(bh_fast_logf(-1.0f)) && isnan(bh_fast_logf(NAN)));
  assert_true(bh_fast_logf(inf) == inf);
  assert_true(bh_fast_logf(1.0f) == 0.0f);
  assert_float_equal(bh_fast_logf(0x1p-149f), -149.0 * log(2.0), 2e-5);
  /* softplus */
  assert_true(bh_fast_softplusf(inf) == inf && bh_fast_softplusf(-inf) == 0.0f);
  assert_true(bh_fast_softplusf(100.0f) == 100.0f);
  assert_true(isnan(bh_fast_softplusf(NAN)));
}

/* The array forms are the scalar functions elementwise, also in place. */
static void test_fast_arrays_match_scalar(void **state) {
  (void)state;
  enum { N = 1003 }; /* not a multiple of the vector width: the loop tails run too */
  static float x[N], y[N], z[N];
  for (int i = 0; i < N; i++) x[i] = -30.0f + 60.0f * (float)i / N;
  bh_fast_tanh_array(x, y, N);
  for (int i = 0; i < N; i++) assert_true(y[i] == bh_fast_tanhf(x[i]));
  bh_fast_sigmoid_array(x, y, N);
  for (int i = 0; i < N; i++) assert_true(y[i] == bh_fast_sigmoidf(x[i]));
  bh_fast_softplus_array(x, y, N);
  for (int i = 0; i < N; i++) assert_true(y[i] == bh_fast_softplusf(x[i]));
  memcpy(z, x, sizeof z);
  bh_fast_exp_array(z, z, N);
  for (int i = 0; i < N; i++) assert_true(z[i] == bh_fast_expf(x[i]));
  bh_fast_log_array(z, z, N);
  for (int i = 0; i < N; i++) assert_true(z[i] == bh_fast_logf(bh_fast_expf(x[i])));
}

/* The double-accumulating reductions: a float accumulator would be off by ~1% here. */
static void test_fast_reductions(void **state) {
  (void)state;
  enum { N = 1000003 };
  static float x[N], w[N];
  double ref = 0.0, dref = 0.0;
  for (int i = 0; i < N; i++) {
    x[i] = 0.1f + (float)(i % 7) * 1e-3f;
    w[i] = (i % 3) - 1.0f;
    ref += x[i];
    dref += (double)x[i] * w[i];
  }
  assert_true(fabs(bh_fast_sum_f64(x, N) - ref) <= 1e-9 * ref);
  assert_true(fabs(bh_fast_dot_f64(x, w, N) - dref) <= 1e-9 * fabs(ref));
  float a[11] = {-3, 1, NAN, 7, -INFINITY, 2, 7.5f, 0, 1, 2, 3};
  assert_true(bh_fast_max_array(a, 11) == 7.5f); /* NaN ignored, tail element counted */
  assert_true(bh_fast_max_array(a, 0) == -INFINITY);
  float b[3] = {-INFINITY, -INFINITY, -INFINITY};
  assert_true(bh_fast_max_array(b, 3) == -INFINITY);
}

/* ================= the ops ================= */

enum { U_RELU, U_LEAKY, U_TANH, U_SIGMOID, U_EXP, U_LOG, U_SOFTPLUS, U_SCALE, U_ADDC, U_SQUARE };

typedef struct unary_case {
  const char *name;
  int kind;
  float p;      /* slope, scale or constant */
  float lo, hi; /* input range */
  int kink;     /* inputs kept ≥ 0.1 away from 0 (relu family) */
} unary_case;

static bh_tensor *apply_unary(bh_ctx *ctx, bh_tensor *x, const unary_case *c) {
  switch (c->kind) {
  case U_RELU: return bh_relu(ctx, x);
  case U_LEAKY: return bh_leaky_relu(ctx, x, c->p);
  case U_TANH: return bh_tanh(ctx, x);
  case U_SIGMOID: return bh_sigmoid(ctx, x);
  case U_EXP: return bh_exp(ctx, x);
  case U_LOG: return bh_log(ctx, x);
  case U_SOFTPLUS: return bh_softplus(ctx, x);
  case U_SCALE: return bh_scale(ctx, x, c->p);
  case U_ADDC: return bh_add_scalar(ctx, x, c->p);
  default: return bh_square(ctx, x);
  }
}

/* The reference, in double, written plainly. */
static double ref_unary(double x, const unary_case *c) {
  switch (c->kind) {
  case U_RELU: return x > 0 ? x : 0;
  case U_LEAKY: return x > 0 ? x : c->p * x;
  case U_TANH: return tanh(x);
  case U_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case U_EXP: return exp(x);
  case U_LOG: return log(x);
  case U_SOFTPLUS: return log1p(exp(x));
  case U_SCALE: return c->p * x;
  case U_ADDC: return x + c->p;
  default: return x * x;
  }
}

static const unary_case CASES[] = {
    {"relu", U_RELU, 0, -2, 2, 1},         {"leaky_relu 0.2", U_LEAKY, 0.2f, -2, 2, 1},
    {"leaky_relu -0.5", U_LEAKY, -0.5f, -2, 2, 1}, {"tanh", U_TANH, 0, -3, 3, 0},
    {"sigmoid", U_SIGMOID, 0, -4, 4, 0},   {"exp", U_EXP, 0, -2, 2, 0},
    {"log", U_LOG, 0, 0.5f, 3, 0},         {"softplus", U_SOFTPLUS, 0, -4, 4, 0},
    {"scale", U_SCALE, -1.5f, -2, 2, 0},   {"add_scalar", U_ADDC, 0.25f, -2, 2, 0},
    {"square", U_SQUARE, 0, -2, 2, 0},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

static void fill_case(bh_tensor *x, const unary_case *c, unsigned long seed) {
  if (c->kink)
    gc_fill_away_from_zero(x, seed, c->lo, c->hi, 0.1f);
  else
    gc_fill_uniform(x, seed, c->lo, c->hi);
}

/* Values: every op on a [5×7] input against the double reference; 4e-7 relative covers the
 * fast functions' 2e-7 plus rounding of the input-independent parts (scale, +c). */
static void test_unary_values(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *x = bh_tensor_alloc2(5, 7, 0);
  for (int k = 0; k < NCASES; k++) {
    fill_case(x, &CASES[k], 100 + (unsigned long)k);
    bh_tensor *y = apply_unary(ctx, x, &CASES[k]);
    assert_non_null(y);
    assert_true(bh_tensor_same_shape(x, y));
    for (size_t i = 0; i < x->size; i++) {
      double r = ref_unary(x->data[i], &CASES[k]);
      if (fabs(y->data[i] - r) > 4e-7 * fabs(r) + 1e-30) {
        fprintf(stderr, "%s(%.9g) = %.9g, want %.9g\n", CASES[k].name, x->data[i], y->data[i], r);
        fail();
      }
    }
  }
  bh_tensor_free(x);
  bh_ctx_free(ctx);
}

/* Values at hand-picked points, including the large arguments where a naive formula breaks. */
static void test_unary_special_values(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  int n = 6;
  bh_tensor *x = bh_tensor_alloc(1, &n, 0);
  const float xv[] = {-100.0f, -30.0f, -1.0f, 0.0f, 30.0f, 100.0f};
  memcpy(x->data, xv, sizeof xv);
  bh_tensor *sp = bh_softplus(ctx, x), *sg = bh_sigmoid(ctx, x), *r = bh_relu(ctx, x);
  bh_tensor *lr = bh_leaky_relu(ctx, x, 0.1f), *t = bh_tanh(ctx, x);
  /* softplus: e^-100 ≈ 3.72e-44 (subnormal), e^-30 ≈ 9.36e-14, ln 2, x itself for large x */
  assert_float_equal(sp->data[0], 3.720076e-44f, 2e-45);
  assert_float_equal(sp->data[1], 9.357623e-14f, 1e-20);
  assert_float_equal(sp->data[3], 0.6931472f, 1e-7);
  assert_true(sp->data[4] == 30.0f && sp->data[5] == 100.0f);
  /* sigmoid saturates without NaN */
  assert_float_equal(sg->data[0], 3.720076e-44f, 2e-45);
  assert_true(sg->data[3] == 0.5f && sg->data[5] == 1.0f);
  /* relu, leaky relu, tanh by hand */
  const float rw[] = {0, 0, 0, 0, 30, 100}, lw[] = {-10, -3, -0.1f, 0, 30, 100};
  for (int i = 0; i < n; i++) {
    assert_float_equal(r->data[i], rw[i], 0);
    assert_float_equal(lr->data[i], lw[i], 1e-6);
  }
  assert_true(t->data[0] == -1.0f && t->data[3] == 0.0f && t->data[5] == 1.0f);
  assert_float_equal(t->data[2], -0.7615942f, 1e-7);
  bh_tensor_free(x);
  bh_ctx_free(ctx);
}

static bh_tensor *build_unary(bh_ctx *ctx, bh_tensor **in, void *user) {
  return apply_unary(ctx, in[0], user);
}

/* Gradients of every op on a 2-D [4×6] and a 4-D [2×3×2×2] input.  Inputs are float, eps 1e-2:
 * the truncation error max|f'''|·eps²/6 is at worst 16·1e-4/6 ≈ 3e-4 (log at x ≥ 0.5, f''' =
 * 2/x³), and the forward's rounding (≤ 2e-7·|f|, not smooth) adds ≤ 2e-7·|f|/eps ≈ 2e-4 for
 * |f| ≤ 10; atol 1e-3 + rtol 1e-3 covers both.  The relu family's inputs stay ≥ 0.1 > eps from
 * the kink, so the difference quotient never straddles it. */
static void test_unary_grad(void **state) {
  (void)state;
  const gc_opts tol = {1e-2, 1e-3, 1e-3, 0};
  int s4[4] = {2, 3, 2, 2};
  for (int k = 0; k < NCASES; k++)
    for (int four_d = 0; four_d < 2; four_d++) {
      bh_tensor *x = four_d ? bh_tensor_alloc(4, s4, 1) : bh_tensor_alloc2(4, 6, 1);
      fill_case(x, &CASES[k], 200 + (unsigned long)k);
      char label[64];
      snprintf(label, sizeof label, "%s %s", CASES[k].name, four_d ? "4-D" : "2-D");
      assert_int_equal(gc_check(label, build_unary, &x, 1, (void *)&CASES[k], tol), 0);
      bh_tensor_free(x);
    }
}

/* Two uses of one input accumulate: d/dx [tanh(x) + x²] through two ops writing x->grad. */
static void test_unary_grad_accumulates(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *x = bh_tensor_alloc2(2, 3, 1);
  gc_fill_uniform(x, 7, -1, 1);
  bh_tensor *y = bh_add(ctx, bh_tanh(ctx, x), bh_square(ctx, x));
  bh_tensor *loss = bh_sum(ctx, y, BH_AXIS_ALL);
  bh_tensor_zero_grad(x);
  assert_int_equal(bh_backward(ctx, loss), BH_OK);
  for (size_t i = 0; i < x->size; i++) {
    double t = tanh(x->data[i]), want = 1.0 - t * t + 2.0 * x->data[i];
    assert_float_equal(x->grad[i], want, 1e-6);
  }
  bh_tensor_free(x);
  bh_ctx_free(ctx);
}

/* detach: same data, no gradient flag, no node; gradient does not flow through it, so
 * d/dx [x · detach(x)] = x (not 2x). */
static void test_detach(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *x = bh_tensor_alloc2(3, 4, 1);
  gc_fill_uniform(x, 9, -2, 2);
  int before = bh_ctx_node_count(ctx);
  bh_tensor *d = bh_detach(ctx, x);
  assert_non_null(d);
  assert_ptr_equal(d->data, x->data);
  assert_true(bh_tensor_same_shape(d, x));
  assert_false(bh_tensor_requires_grad(d));
  assert_null(d->grad);
  assert_int_equal(bh_ctx_node_count(ctx), before);
  bh_tensor *y = bh_mul(ctx, x, d);
  const float seed[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  bh_tensor_zero_grad(x);
  assert_int_equal(bh_backward_seed(ctx, y, seed), BH_OK);
  for (size_t i = 0; i < x->size; i++) assert_float_equal(x->grad[i], x->data[i], 0);
  assert_null(bh_detach(ctx, NULL));
  bh_tensor_free(x);
  bh_ctx_free(ctx);
}

/* NULL in -> NULL out for every op; gradients off -> no tape and no gradient on the output. */
static void test_unary_null_and_no_grad(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  for (int k = 0; k < NCASES; k++) assert_null(apply_unary(ctx, NULL, &CASES[k]));
  bh_tensor *x = bh_tensor_alloc2(2, 2, 1);
  bh_ctx_set_grad(ctx, 0);
  for (int k = 0; k < NCASES; k++) {
    bh_tensor *y = apply_unary(ctx, x, &CASES[k]);
    assert_non_null(y);
    assert_false(bh_tensor_requires_grad(y));
  }
  assert_int_equal(bh_ctx_node_count(ctx), 0);
  bh_ctx_set_grad(ctx, 1);
  assert_non_null(bh_tanh(ctx, x));
  assert_int_equal(bh_ctx_node_count(ctx), 1);
  bh_tensor_free(x);
  bh_ctx_free(ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fast_exp_accuracy),
      cmocka_unit_test(test_fast_tanh_accuracy),
      cmocka_unit_test(test_fast_sigmoid_accuracy),
      cmocka_unit_test(test_fast_log1p_accuracy),
      cmocka_unit_test(test_fast_log1p_unit_accuracy),
      cmocka_unit_test(test_fast_log_accuracy),
      cmocka_unit_test(test_fast_softplus_accuracy),
      cmocka_unit_test(test_fast_edges),
      cmocka_unit_test(test_fast_arrays_match_scalar),
      cmocka_unit_test(test_fast_reductions),
      cmocka_unit_test(test_unary_values),
      cmocka_unit_test(test_unary_special_values),
      cmocka_unit_test(test_unary_grad),
      cmocka_unit_test(test_unary_grad_accumulates),
      cmocka_unit_test(test_detach),
      cmocka_unit_test(test_unary_null_and_no_grad),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
