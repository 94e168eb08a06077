/* test_hier.c — BHiVAE's blocked hierarchical encoder and part-wise decoder (bhivae_model/hier.c)
 * on a hand-made model (a key table of the common, architecture and hierarchy keys), without the
 * model classes: the layout (d(z^i), c^L, the prior blocks of every level) and its errors,
 * parameter counts worked out by hand (tiny) and against the baseline VAE (default FC), encoder
 * and decoder values against a naive double-precision recomputation from the parameter tensors,
 * the reparameterised blocks against ε drawn from a generator seeded the same way, the
 * correlated prior's covariance and log-determinant in closed form, and finite-difference
 * gradients of decode(encode(x)) with respect to every parameter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baselines/baselines.h"
#include "bhivae_model/hier.h"
#include "core/error.h"
#include "tests/gradcheck.h"

static const bh_cfg_key hier_keys[] = {BH_HIER_KEYS, {NULL, 0, NULL, NULL}};
static const bh_model_class hier_class = {"hiertest", "", hier_keys, NULL, NULL,
                                          NULL,       NULL, NULL,    NULL};

/* The class's configuration with "key=value" assignments applied (NULL-terminated). */
static bh_config *hier_config(const char *const *sets) {
  bh_config *c = bh_model_config_new(&hier_class);
  assert_non_null(c);
  for (int i = 0; sets && sets[i]; i++)
    if (bh_config_set_assignment(c, sets[i], "test") != BH_OK)
      fail_msg("setting %s: %s", sets[i], bh_error_message());
  return c;
}

/* A model shell that bh_hier_init reads: class name, configuration, image shape. */
static bh_model shell(bh_config *cfg, int c, int h, int w) {
  bh_model m;
  memset(&m, 0, sizeof m);
  m.cls = &hier_class;
  m.cfg = cfg;
  m.data.c = c, m.data.h = h, m.data.w = w;
  return m;
}

static gsl_rng *make_rng(unsigned long seed) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  return r;
}

/* A hierarchy on its own: the configuration, the model shell, the parameters, the bh_hier. */
typedef struct fixture {
  bh_config *cfg;
  bh_model m;
  bh_params *p;
  bh_hier h;
} fixture;

/* The configuration with sets, a shell on 1×height×width images, bh_hier_init(stochastic, r)
 * (r NULL: the parameters stay zero) succeeding. */
static void fixture_open(fixture *f, const char *const *sets, int height, int width,
                         int stochastic, gsl_rng *r) {
  f->cfg = hier_config(sets);
  f->m = shell(f->cfg, 1, height, width);
  f->p = bh_params_alloc();
  assert_int_equal(bh_hier_init(&f->h, &f->m, f->p, stochastic, r), BH_OK);
}

static void fixture_free(fixture *f) {
  bh_hier_free(&f->h);
  bh_params_free(f->p);
  bh_config_free(f->cfg);
}

/* ---------------------------------------------------------------- layout */

static void expect_blocks(const bh_hier *h, int level, const int *want, int nwant) {
  int sizes[64];
  int n = bh_hier_level_blocks(h, level, sizes);
  if (n != nwant) fail_msg("level %d: %d blocks, want %d", level, n, nwant);
  for (int b = 0; b < n; b++)
    if (sizes[b] != want[b]) fail_msg("level %d block %d: %d, want %d", level, b, sizes[b], want[b]);
}

/* The units of the class hook's blocks (bh_hier_class_blocks on the shell), which must number
 * nwant (any when nwant < 0). */
static int class_blocks_sum(fixture *f, int nwant) {
  int sizes[64], sum = 0;
  f->m.impl = &f->h;
  int n = bh_hier_class_blocks(&f->m, sizes);
  if (nwant >= 0) assert_int_equal(n, nwant);
  for (int b = 0; b < n; b++) sum += sizes[b];
  return sum;
}

/* tiny networks: the layout does not depend on them */
#define TINY "enc_hidden=3", "dec_hidden=3", "level_hidden=3", "part_hidden=2", "part_out=2"

static void test_layout(void **state) {
  (void)state;
  const char *sets[] = {TINY, "z_dim=10", "blocks=2,2,2", NULL};
  fixture f;
  fixture_open(&f, sets, 3, 3, 0, NULL);
  const bh_hier *h = &f.h;
  assert_int_equal(h->levels, 3);
  assert_int_equal(h->z_dim, 10);
  assert_int_equal(h->zin[0], 10);
  assert_int_equal(h->zin[1], 8);
  assert_int_equal(h->zin[2], 6);
  assert_int_equal(h->c_dim, 4);
  assert_int_equal(h->c_block, 2);
  const int l0[] = {2, 2, 2, 2, 2}, l1[] = {2, 2, 2, 2}, l2[] = {2, 2, 2};
  expect_blocks(h, 0, l0, 5);
  expect_blocks(h, 1, l1, 4);
  expect_blocks(h, 2, l2, 3);
  /* the class hook: level 0, sums to z_dim */
  assert_int_equal(class_blocks_sum(&f, 5), 10);
  fixture_free(&f);

  /* the ablation's single unit: c^L = 10 − 5 = 5 in chunks of 2 */
  const char *sets2[] = {TINY, "z_dim=10", "blocks=1,2,2", NULL};
  fixture_open(&f, sets2, 3, 3, 1, NULL);
  assert_int_equal(h->c_dim, 5);
  assert_int_equal(h->zin[1], 9);
  assert_int_equal(h->zin[2], 7);
  const int m0[] = {1, 2, 2, 2, 2, 1}, m2[] = {2, 2, 2, 1};
  expect_blocks(h, 0, m0, 6);
  expect_blocks(h, 2, m2, 4);
  assert_int_equal(class_blocks_sum(&f, -1), 10);
  fixture_free(&f);

  /* c_block 3 at z_dim 16: c = 10 → 3,3,3,1 */
  const char *sets3[] = {TINY, "z_dim=16", "blocks=2,2,2", "c_block=3", NULL};
  fixture_open(&f, sets3, 3, 3, 0, NULL);
  const int k0[] = {2, 2, 2, 3, 3, 3, 1};
  expect_blocks(h, 0, k0, 7);
  assert_int_equal(class_blocks_sum(&f, -1), 16);
  fixture_free(&f);
}

static void expect_no_networks(const bh_hier *h) {
  assert_null(h->enc1);
  assert_null(h->dec);
  for (int i = 0; i < BH_HIER_MAX_LEVELS; i++) assert_null(h->enc[i]);
  for (int i = 0; i <= BH_HIER_MAX_LEVELS; i++) assert_null(h->part[i]);
}

/* bh_hier_init fails with BH_EINVAL, a message naming key, and no networks left (h zeroed
 * first, as the classes calloc their impl: a layout error returns before touching h) */
static void expect_init_error(const char *z_dim, const char *blocks, const char *c_block,
                              const char *key) {
  char a[64], b[64], c[64];
  snprintf(a, sizeof a, "z_dim=%s", z_dim);
  snprintf(b, sizeof b, "blocks=%s", blocks);
  snprintf(c, sizeof c, "c_block=%s", c_block);
  const char *sets[] = {TINY, a, b, c, NULL};
  bh_config *cfg = hier_config(sets);
  bh_model m = shell(cfg, 1, 3, 3);
  bh_params *p = bh_params_alloc();
  bh_hier h;
  bh_error_clear();
  for (int st = 0; st <= 1; st++) {
    memset(&h, 0, sizeof h);
    if (bh_hier_init(&h, &m, p, st, NULL) != BH_EINVAL)
      fail_msg("z_dim %s blocks %s c_block %s: not refused", z_dim, blocks, c_block);
    char want[64];
    snprintf(want, sizeof want, "'%s'", key);
    if (!strstr(bh_error_message(), want) || !strstr(bh_error_message(), "hiertest"))
      fail_msg("message does not name %s: %s", want, bh_error_message());
    if (strchr(bh_error_message(), '\n')) fail_msg("not one line: %s", bh_error_message());
    expect_no_networks(&h);
    bh_hier_free(&h); /* harmless after a failure */
  }
  assert_int_equal(bh_params_count(p), 0);
  bh_params_free(p);
  bh_config_free(cfg);
}

static void test_errors(void **state) {
  (void)state;
  expect_init_error("6", "2,2,2", "2", "z_dim");  /* z_dim = Σ blocks */
  expect_init_error("5", "2,2,2", "2", "z_dim");  /* z_dim < Σ blocks */
  expect_init_error("20", "1,1,1,1,1,1,1,1,1", "2", "blocks"); /* 9 levels */
  expect_init_error("100", "2,65", "2", "blocks");             /* a block too wide */
  expect_init_error("10", "2,2,2", "0", "c_block");
  expect_init_error("10", "2,2,2", "-1", "c_block");
  expect_init_error("10", "2,2,2", "65", "c_block");
  /* a block of 0 units: the configuration already refuses it, naming the key */
  bh_config *cfg = hier_config(NULL);
  assert_int_equal(bh_config_set(cfg, "blocks", "2,0,2", "--set"), BH_EINVAL);
  if (!strstr(bh_error_message(), "blocks")) fail_msg("message: %s", bh_error_message());
  bh_config_free(cfg);
  /* a level width out of range names its key */
  const char *bad_level[] = {TINY, "level_hidden=3,100001", NULL};
  cfg = hier_config(bad_level);
  bh_model m0 = shell(cfg, 1, 3, 3);
  bh_params *p0 = bh_params_alloc();
  bh_hier h0;
  memset(&h0, 0, sizeof h0);
  assert_int_equal(bh_hier_init(&h0, &m0, p0, 0, NULL), BH_EINVAL);
  if (!strstr(bh_error_message(), "'level_hidden'")) fail_msg("message: %s", bh_error_message());
  expect_no_networks(&h0);
  bh_params_free(p0);
  bh_config_free(cfg);
  /* a failure while making the networks (conv needs 64×64 images) leaves none */
  const char *conv[] = {TINY, "arch=conv", NULL};
  cfg = hier_config(conv);
  m0 = shell(cfg, 1, 3, 3);
  p0 = bh_params_alloc();
  memset(&h0, 0, sizeof h0);
  assert_int_not_equal(bh_hier_init(&h0, &m0, p0, 1, NULL), BH_OK);
  if (!strlen(bh_error_message())) fail_msg("no message");
  expect_no_networks(&h0);
  bh_params_free(p0);
  bh_config_free(cfg);
  /* 8 levels is the most allowed */
  const char *sets[] = {TINY, "z_dim=20", "blocks=1,1,1,1,1,1,1,1", NULL};
  fixture f;
  fixture_open(&f, sets, 3, 3, 0, NULL);
  assert_int_equal(f.h.levels, 8);
  assert_int_equal(f.h.c_dim, 12);
  fixture_free(&f);
}

/* ---------------------------------------------------------------- parameter counts */

/* a linear layer in → out with bias */
static size_t lin(size_t in, size_t out) { return in * out + out; }

static void test_count_tiny(void **state) {
  (void)state;
  /* images 1×2×2 (D = 4), z_dim 6, blocks 1,2 (L = 2): zin {6, 5}, c = 3 */
  const char *sets[] = {"enc_hidden=5", "dec_hidden=4", "level_hidden=3", "part_hidden=2",
                        "part_out=3",   "z_dim=6",      "blocks=1,2",     NULL};
  for (int st = 0; st <= 1; st++) {
    fixture f;
    fixture_open(&f, sets, 2, 2, st, NULL);
    const bh_params *p = f.p;
    /* level 1: 4 → 5 → d(z^1) [+ d(s^1) for the log-variances] */
    size_t enc1 = lin(4, 5) + lin(5, 6 + (st ? 1 : 0));
    /* level 2 on h^1 (5 wide): 5 → 3 → d(z^2) [+ d(s^2)] */
    size_t lvl2 = lin(5, 3) + lin(3, 5 + (st ? 2 : 0));
    /* part decoders s^1 (1), s^2 (2), c (3): d → 2 → 3 */
    size_t parts = lin(1, 2) + lin(2, 3) + lin(2, 2) + lin(2, 3) + lin(3, 2) + lin(2, 3);
    /* shared decoder 3·3 → 4 → 4 */
    size_t dec = lin(9, 4) + lin(4, 4);
    size_t want = enc1 + lvl2 + parts + dec;
    assert_int_equal(want, st ? 218 : 204); /* the arithmetic once by hand */
    if (bh_params_count(p) != want)
      fail_msg("stochastic %d: %zu parameters, want %zu", st, bh_params_count(p), want);
    assert_non_null(bh_params_find(p, "enc.1.w"));
    assert_non_null(bh_params_find(p, "lvl2.1.b"));
    assert_non_null(bh_params_find(p, "part3.1.w"));
    assert_non_null(bh_params_find(p, "dec.1.b"));
    assert_null(bh_params_find(p, "lvl1.0.w"));
    fixture_free(&f);
  }
}

/* The default FC hierarchy on D-pixel images vs the baseline VAE of the same z_dim. */
static void count_default(int side, int z_dim) {
  size_t D = (size_t)side * side;
  char z[32];
  snprintf(z, sizeof z, "z_dim=%d", z_dim);
  const char *sets[] = {z, NULL};
  fixture f;
  fixture_open(&f, sets, side, side, 0, NULL);
  size_t hier = bh_params_count(f.p);
  /* by hand: blocks 2,2,2; level_hidden 256,256; parts d → 128 → 128; dec 4·128 → 1200³ → D */
  size_t zd = (size_t)z_dim, c = zd - 6;
  size_t want = lin(D, 1200) + lin(1200, 1200) + lin(1200, zd) + lin(zd - 2, 256) +
                lin(256, 256) + lin(256, zd - 2) + lin(zd - 4, 256) + lin(256, 256) +
                lin(256, zd - 4) + 3 * (lin(2, 128) + lin(128, 128)) + lin(c, 128) +
                lin(128, 128) + lin(4 * 128, 1200) + 2 * lin(1200, 1200) + lin(1200, D);
  if (hier != want) fail_msg("%zu parameters, want %zu", hier, want);
  fixture_free(&f);

  bh_config *vcfg = bh_model_config_new(&bh_vae_class);
  assert_int_equal(bh_config_set(vcfg, "z_dim", z + 6, "test"), BH_OK);
  bh_data_info d;
  memset(&d, 0, sizeof d);
  d.c = 1, d.h = side, d.w = side, d.n = 1000;
  bh_model *vae = bh_model_create(&bh_vae_class, vcfg, &d, NULL);
  if (!vae) fail_msg("vae: %s", bh_error_message());
  size_t base = bh_model_param_count(vae);
  if (side == 64 && z_dim == 10) assert_int_equal(base, 6381620 + 7814896);
  double ratio = (double)hier / (double)base;
  print_message("%dx%d z_dim %2d: bhivae hierarchy %zu parameters, vae %zu, ratio %.4f\n", side,
                side, z_dim, hier, base, ratio);
  if (fabs(ratio - 1.0) > 0.20) fail_msg("ratio %.4f outside 1 ± 0.20", ratio);
  bh_model_free(vae);
}

static void test_count_default(void **state) {
  (void)state;
  const int zs[] = {10, 16, 32};
  for (int i = 0; i < 3; i++) count_default(64, zs[i]);
  for (int i = 0; i < 3; i++) count_default(28, zs[i]);
}

/* ---------------------------------------------------------------- naive reference */

static const float *param(const bh_params *p, const char *name) {
  bh_tensor *t = bh_params_find(p, name);
  if (!t) fail_msg("no parameter '%s'", name);
  return t->data;
}

/* y = W x + b of layer "<prefix>.<l>" (in → out), one row in double */
static void ref_linear(const bh_params *p, const char *prefix, int l, int in, int out,
                       const double *x, double *y) {
  char wn[64], bn[64];
  snprintf(wn, sizeof wn, "%s.%d.w", prefix, l);
  snprintf(bn, sizeof bn, "%s.%d.b", prefix, l);
  const float *w = param(p, wn), *b = param(p, bn);
  assert_int_equal(bh_params_find(p, wn)->size, (size_t)in * out);
  for (int o = 0; o < out; o++) {
    double s = b[o];
    for (int i = 0; i < in; i++) s += (double)w[(size_t)o * in + i] * x[i];
    y[o] = s;
  }
}

enum { ACT_RELU, ACT_TANH };

/* widths[0] → ... → widths[n-1] (each ≤ 64), act after every layer but the last, one row */
static void ref_mlp(const bh_params *p, const char *prefix, int n, const int *widths, int act,
                    const double *x, double *y) {
  double a[64], b[64];
  memcpy(a, x, (size_t)widths[0] * sizeof *a);
  for (int l = 0; l + 1 < n; l++) {
    ref_linear(p, prefix, l, widths[l], widths[l + 1], a, b);
    if (l + 2 < n)
      for (int j = 0; j < widths[l + 1]; j++) b[j] = act == ACT_RELU ? fmax(b[j], 0) : tanh(b[j]);
    memcpy(a, b, (size_t)widths[l + 1] * sizeof *a);
  }
  memcpy(y, a, (size_t)widths[n - 1] * sizeof *y);
}

static void expect_close(const float *got, const double *want, int n, double tol,
                         const char *what, int row) {
  for (int i = 0; i < n; i++)
    if (!(fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i]))))
      fail_msg("%s row %d: element %d is %.8g, reference %.8g", what, row, i, got[i], want[i]);
}

static void expect_equal_rows(const bh_tensor *t, int row, const float *want, int n,
                              const char *what) {
  assert_int_equal(t->ndim, 2);
  for (int j = 0; j < n; j++)
    if (t->data[(size_t)row * t->shape[1] + j] != want[j])
      fail_msg("%s row %d col %d: %.8g, want %.8g", what, row, j,
               t->data[(size_t)row * t->shape[1] + j], want[j]);
}

static void expect_shape(const bh_tensor *t, int rows, int cols, const char *what) {
  if (!t) fail_msg("%s missing", what);
  if (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols)
    fail_msg("%s: shape [%d × %d] (ndim %d), want [%d × %d]", what, t->shape[0],
             t->ndim > 1 ? t->shape[1] : -1, t->ndim, rows, cols);
}

/* The tiny hierarchy of the value tests: images 1×3×3, enc 9 → 5 → out_1, levels ... → 4 → out_i,
 * z_dim 8, blocks 1,2,2 (not a palindrome: a reversed order shows): zin {8, 7, 5}, c = 3; parts d → 3 → 2; shared 4·2 → 5 → 9. */
static const char *const value_sets[] = {"enc_hidden=5", "dec_hidden=5", "level_hidden=4",
                                         "part_hidden=3", "part_out=2",  "z_dim=8",
                                         "blocks=1,2,2", NULL};
#define VN 3 /* rows */
#define VD 9 /* pixels */

static void fixture_init(fixture *f, int stochastic, unsigned long seed) {
  gsl_rng *r = make_rng(seed);
  fixture_open(f, value_sets, 3, 3, stochastic, r);
  gsl_rng_free(r);
}

/* The output columns of level i (0-based) from its input row, by hand. */
static void ref_level(const fixture *f, int i, int stochastic, const double *in, double *o) {
  const bh_hier *h = &f->h;
  int out = h->zin[i] + (stochastic ? h->s[i] : 0);
  if (i == 0) {
    int w[3] = {VD, 5, out};
    ref_mlp(f->p, "enc", 3, w, ACT_RELU, in, o);
  } else {
    char name[16];
    snprintf(name, sizeof name, "lvl%d", i + 1);
    int w[3] = {h->zin[i - 1] - h->s[i - 1], 4, out};
    ref_mlp(f->p, name, 3, w, ACT_RELU, in, o);
  }
}

static void random_fill(float *x, size_t n, unsigned long seed, double lo, double hi) {
  gsl_rng *r = make_rng(seed);
  for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * gsl_rng_uniform(r));
  gsl_rng_free(r);
}

static void test_encode_deterministic(void **state) {
  (void)state;
  fixture f;
  fixture_init(&f, 0, 11);
  const bh_hier *h = &f.h;
  float x[VN * VD];
  random_fill(x, VN * VD, 3, 0.0, 1.0);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  int shape[4] = {VN, 1, 3, 3};
  bh_hier_pass pass;
  assert_int_equal(bh_hier_encode(h, ctx, bh_tensor_view(ctx, x, 4, shape), NULL, &pass),
                   BH_OK);
  const int s[3] = {1, 2, 2}, zin[3] = {8, 7, 5};
  char what[32];
  for (int i = 0; i < 3; i++) {
    snprintf(what, sizeof what, "z^%d", i + 1);
    expect_shape(pass.z[i], VN, zin[i], what);
    snprintf(what, sizeof what, "s^%d", i + 1);
    expect_shape(pass.s[i], VN, s[i], what);
    snprintf(what, sizeof what, "h^%d", i + 1);
    expect_shape(pass.h[i], VN, zin[i] - s[i], what);
    assert_null(pass.s_mu[i]);
    assert_null(pass.s_logvar[i]);
  }
  expect_shape(pass.code, VN, 8, "code");
  for (int r = 0; r < VN; r++) {
    /* level by level by hand; the next level reads the hand h^i (so the chain is checked too) */
    double in[VD], o[16];
    for (int j = 0; j < VD; j++) in[j] = x[r * VD + j];
    double code[8];
    for (int i = 0; i < 3; i++) {
      ref_level(&f, i, 0, in, o);
      snprintf(what, sizeof what, "z^%d", i + 1);
      expect_close(pass.z[i]->data + r * zin[i], o, zin[i], 1e-5, what, r);
      snprintf(what, sizeof what, "s^%d", i + 1);
      expect_close(pass.s[i]->data + r * s[i], o, s[i], 1e-5, what, r);
      snprintf(what, sizeof what, "h^%d", i + 1);
      expect_close(pass.h[i]->data + r * (zin[i] - s[i]), o + s[i], zin[i] - s[i], 1e-5, what,
                   r);
      memcpy(code + (i == 0 ? 0 : i == 1 ? 1 : 3), o, (size_t)s[i] * sizeof *o);
      memcpy(in, o + s[i], (size_t)(zin[i] - s[i]) * sizeof *o);
    }
    memcpy(code + 5, in, 3 * sizeof *in); /* c^L = h^3 */
    expect_close(pass.code->data + r * 8, code, 8, 1e-5, "code", r);

    /* level 2 recomputed from the pass's own h^1 */
    double h1[7];
    for (int j = 0; j < 7; j++) h1[j] = pass.h[0]->data[r * 7 + j];
    ref_level(&f, 1, 0, h1, o);
    expect_close(pass.z[1]->data + r * 7, o, 7, 1e-5, "z^2 from h^1", r);
  }
  bh_ctx_free(ctx);
  fixture_free(&f);
}

/* ε of the levels in order, as bh_reparam draws them: n × d(s^i) row-major per level */
static void draw_eps(unsigned long seed, const bh_hier *h, int n, double eps[][VN * 8]) {
  gsl_rng *r = make_rng(seed);
  for (int i = 0; i < h->levels; i++)
    for (int k = 0; k < n * h->s[i]; k++) eps[i][k] = (float)gsl_ran_gaussian_ziggurat(r, 1.0);
  gsl_rng_free(r);
}

static void test_encode_stochastic(void **state) {
  (void)state;
  fixture f;
  fixture_init(&f, 1, 12);
  const bh_hier *h = &f.h;
  float x[VN * VD];
  random_fill(x, VN * VD, 4, 0.0, 1.0);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  int shape[4] = {VN, 1, 3, 3};
  bh_tensor *xt = bh_tensor_view(ctx, x, 4, shape);
  const int s[3] = {1, 2, 2}, zin[3] = {8, 7, 5};
  gsl_rng *noise = make_rng(77);
  bh_hier_pass pass, mean, other;
  assert_int_equal(bh_hier_encode(h, ctx, xt, noise, &pass), BH_OK);
  assert_int_equal(bh_hier_encode(h, ctx, xt, NULL, &mean), BH_OK);
  gsl_rng_set(noise, 78);
  assert_int_equal(bh_hier_encode(h, ctx, xt, noise, &other), BH_OK);
  double eps[3][VN * 8];
  draw_eps(77, h, VN, eps);
  char what[48];
  for (int i = 0; i < 3; i++) {
    expect_shape(pass.s_mu[i], VN, s[i], "mu");
    expect_shape(pass.s_logvar[i], VN, s[i], "logvar");
    expect_shape(pass.s[i], VN, s[i], "s");
    expect_shape(pass.h[i], VN, zin[i] - s[i], "h");
    expect_shape(pass.z[i], VN, zin[i], "z");
    /* bh_reparam_eps with the same ε gives the very same s^i */
    float e[VN * 8];
    for (int k = 0; k < VN * s[i]; k++) e[k] = (float)eps[i][k];
    bh_tensor *re = bh_reparam_eps(ctx, pass.s_mu[i], pass.s_logvar[i], e);
    for (int r = 0; r < VN; r++) expect_equal_rows(pass.s[i], r, re->data + r * s[i], s[i], "s");
  }
  expect_shape(pass.code, VN, 8, "code");
  for (int r = 0; r < VN; r++) {
    double in[VD], o[16], code[8];
    for (int j = 0; j < VD; j++) in[j] = x[r * VD + j];
    int at = 0;
    for (int i = 0; i < 3; i++) {
      int k = s[i], hw = zin[i] - k;
      ref_level(&f, i, 1, in, o); /* [μ | log σ² | h] */
      double sv[4], z[8];
      for (int j = 0; j < k; j++) sv[j] = o[j] + exp(0.5 * o[k + j]) * eps[i][r * k + j];
      snprintf(what, sizeof what, "mu(s^%d)", i + 1);
      expect_close(pass.s_mu[i]->data + r * k, o, k, 1e-5, what, r);
      snprintf(what, sizeof what, "logvar(s^%d)", i + 1);
      expect_close(pass.s_logvar[i]->data + r * k, o + k, k, 1e-5, what, r);
      snprintf(what, sizeof what, "h^%d", i + 1);
      expect_close(pass.h[i]->data + r * hw, o + 2 * k, hw, 1e-5, what, r);
      snprintf(what, sizeof what, "s^%d", i + 1);
      expect_close(pass.s[i]->data + r * k, sv, k, 1e-5, what, r);
      memcpy(z, sv, (size_t)k * sizeof *z);
      memcpy(z + k, o + 2 * k, (size_t)hw * sizeof *z);
      snprintf(what, sizeof what, "z^%d", i + 1);
      expect_close(pass.z[i]->data + r * zin[i], z, zin[i], 1e-5, what, r);
      memcpy(code + at, sv, (size_t)k * sizeof *sv);
      at += k;
      memcpy(in, o + 2 * k, (size_t)hw * sizeof *o);
    }
    memcpy(code + at, in, 3 * sizeof *in);
    expect_close(pass.code->data + r * 8, code, 8, 1e-5, "code", r);

    /* noise NULL: s = μ; h never depends on the noise */
    for (int i = 0; i < 3; i++) {
      int k = s[i], hw = zin[i] - k;
      expect_equal_rows(mean.s[i], r, pass.s_mu[i]->data + r * k, k, "s (no noise) vs mu");
      expect_equal_rows(mean.h[i], r, pass.h[i]->data + r * hw, hw, "h (no noise)");
      expect_equal_rows(other.h[i], r, pass.h[i]->data + r * hw, hw, "h (other noise)");
      expect_equal_rows(mean.s_mu[i], r, pass.s_mu[i]->data + r * k, k, "mu (no noise)");
    }
    /* the means code: μ(s^1..s^L) then c^L */
    float mc[8];
    memcpy(mc, mean.s[0]->data + r * 1, 1 * sizeof *mc);
    memcpy(mc + 1, mean.s[1]->data + r * 2, 2 * sizeof *mc);
    memcpy(mc + 3, mean.s[2]->data + r * 2, 2 * sizeof *mc);
    memcpy(mc + 5, mean.h[2]->data + r * 3, 3 * sizeof *mc);
    expect_equal_rows(mean.code, r, mc, 8, "means code");
  }
  /* another seed moves s (the noise is used at all) */
  int moved = 0;
  for (size_t k = 0; k < pass.code->size; k++) moved += pass.code->data[k] != other.code->data[k];
  assert_true(moved >= 5 * VN);
  gsl_rng_free(noise);
  bh_ctx_free(ctx);
  fixture_free(&f);
}

/* ---------------------------------------------------------------- decoder */

static void decode_values(int stochastic) {
  fixture f;
  fixture_init(&f, stochastic, 13 + stochastic);
  const bh_hier *h = &f.h;
  float z[VN * 8];
  random_fill(z, VN * 8, 5, -2.0, 2.0);
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  int shape[2] = {VN, 8};
  bh_tensor *y = bh_hier_decode(h, ctx, bh_tensor_view(ctx, z, 2, shape));
  if (!y) fail_msg("decode: %s", bh_error_message());
  expect_shape(y, VN, VD, "logits");
  const int width[4] = {1, 2, 2, 3}, start[4] = {0, 1, 3, 5};
  for (int r = 0; r < VN; r++) {
    double feat[8], out[VD];
    for (int p = 0; p < 4; p++) {
      double part[3], o[2];
      for (int j = 0; j < width[p]; j++) part[j] = z[r * 8 + start[p] + j];
      char name[16];
      snprintf(name, sizeof name, "part%d", p + 1);
      int w[3] = {width[p], 3, 2};
      ref_mlp(f.p, name, 3, w, ACT_TANH, part, o);
      for (int j = 0; j < 2; j++) feat[p * 2 + j] = tanh(o[j]);
    }
    int w[3] = {8, 5, VD};
    ref_mlp(f.p, "dec", 3, w, ACT_TANH, feat, out);
    expect_close(y->data + r * VD, out, VD, 1e-5, "logits", r);
  }
  bh_ctx_free(ctx);
  fixture_free(&f);
}

static void test_decode(void **state) {
  (void)state;
  decode_values(0);
  decode_values(1);
}

/* ---------------------------------------------------------------- gradients */

typedef struct gc_user {
  const bh_hier *h;
  gsl_rng *noise; /* re-seeded every pass: the same ε in every finite-difference evaluation */
  unsigned long seed;
} gc_user;

/* in[0] the images; the parameters are in[1..] */
static bh_tensor *build_autoencoder(bh_ctx *ctx, bh_tensor **in, void *user) {
  gc_user *u = user;
  bh_hier_pass pass;
  if (u->noise) gsl_rng_set(u->noise, u->seed);
  if (bh_hier_encode(u->h, ctx, in[0], u->noise, &pass) != BH_OK) return NULL;
  return bh_hier_decode(u->h, ctx, pass.code);
}

static void gradcheck(int stochastic, unsigned long seed) {
  fixture f;
  fixture_init(&f, stochastic, seed);
  bh_params *p = f.p;
  bh_tensor **in = calloc((size_t)p->n + 1, sizeof *in);
  in[0] = bh_tensor_alloc2(VN, VD, 1);
  gc_fill_uniform(in[0], seed + 1, 0.0f, 1.0f);
  for (int i = 0; i < p->n; i++) in[i + 1] = p->t[i];
  gc_user u = {&f.h, stochastic ? make_rng(1) : NULL, seed + 2};
  /* float32 forwards of L ~ 1 over a few layers: rounding ~1e-7/eps = 1e-4, truncation
   * eps²·f''' ~ 1e-6; the relus of these seeds stay clear of their kink by more than eps. */
  gc_opts o = {1e-3, 1e-3, 1e-2, 64};
  char label[64];
  snprintf(label, sizeof label, "decode(encode(x)) stochastic %d", stochastic);
  assert_int_equal(gc_check(label, build_autoencoder, in, p->n + 1, &u, o), 0);
  if (u.noise) gsl_rng_free(u.noise);
  bh_tensor_free(in[0]);
  free(in);
  fixture_free(&f);
}

static void test_gradcheck(void **state) {
  (void)state;
  gradcheck(0, 31);
  gradcheck(1, 41);
}

/* ---------------------------------------------------------------- prior */

/* Dense Σ of s (dim × dim, row-major) into S. */
static void dense_cov(const bh_blockdiag *s, double *S) {
  int d = s->dim;
  memset(S, 0, sizeof(double) * d * d);
  const double *c = s->cov;
  for (int b = 0; b < s->nblocks; b++) {
    int k = s->size[b], a0 = s->start[b];
    for (int r = 0; r < k; r++)
      for (int q = 0; q < k; q++) S[(a0 + r) * d + a0 + q] = *c++;
  }
}

/* ρ inside the blocks of the layout `sizes` (hand-written), 0 across; logdet in closed form:
 * a k×k block of 1 on the diagonal and ρ off it has det (1 − ρ)^{k−1}(1 + (k − 1)ρ). */
static void expect_prior(const bh_hier *h, int level, double rho, const int *sizes, int nb) {
  bh_blockdiag *s = bh_hier_prior_alloc(h, level, rho);
  if (!s) fail_msg("level %d: %s", level, bh_error_message());
  int d = 0;
  for (int b = 0; b < nb; b++) d += sizes[b];
  assert_int_equal(s->dim, d);
  assert_int_equal(s->dim, h->zin[level]);
  double S[64 * 64];
  dense_cov(s, S);
  int block_of[64];
  double logdet = 0;
  for (int b = 0, at = 0; b < nb; b++) {
    int k = sizes[b];
    for (int j = 0; j < k; j++) block_of[at++] = b;
    logdet += (k - 1) * log(1 - rho) + log(1 + (k - 1) * rho);
  }
  for (int a = 0; a < d; a++)
    for (int b = 0; b < d; b++) {
      double want = a == b ? 1.0 : block_of[a] == block_of[b] ? rho : 0.0;
      if (S[a * d + b] != want)
        fail_msg("level %d: Σ[%d,%d] = %g, want %g", level, a, b, S[a * d + b], want);
    }
  if (fabs(s->logdet - logdet) > 1e-12)
    fail_msg("level %d: logdet %.15g, want %.15g", level, s->logdet, logdet);
  bh_blockdiag_free(s);
}

static void test_prior(void **state) {
  (void)state;
  const char *sets[] = {TINY, "z_dim=10", "blocks=2,2,2", NULL};
  fixture f;
  fixture_open(&f, sets, 3, 3, 0, NULL);
  const bh_hier *h = &f.h;
  const int l0[] = {2, 2, 2, 2, 2}, l1[] = {2, 2, 2, 2}, l2[] = {2, 2, 2};
  expect_prior(h, 0, 0.5, l0, 5);
  expect_prior(h, 1, 0.5, l1, 4);
  expect_prior(h, 2, 0.5, l2, 3);
  /* 2×2 blocks: log(1 − ρ²) each */
  bh_blockdiag *s = bh_hier_prior_alloc(h, 1, 0.5);
  assert_true(fabs(s->logdet - 4 * log(0.75)) < 1e-12);
  bh_blockdiag_free(s);
  /* ρ = 1: singular, refused */
  bh_error_clear();
  assert_null(bh_hier_prior_alloc(h, 0, 1.0));
  assert_int_not_equal(bh_error_code(), BH_OK);
  fixture_free(&f);

  /* blocks 1,2,2 with c_block 3: {1, 2, 2, 3, 2}, a 3×3 block of det (1 − ρ)²(1 + 2ρ) */
  const char *sets2[] = {TINY, "z_dim=10", "blocks=1,2,2", "c_block=3", NULL};
  fixture_open(&f, sets2, 3, 3, 1, NULL);
  const int k0[] = {1, 2, 2, 3, 2}, k1[] = {2, 2, 3, 2};
  expect_prior(h, 0, 0.5, k0, 5);
  expect_prior(h, 1, -0.3, k1, 4);
  s = bh_hier_prior_alloc(h, 0, 0.5);
  assert_true(fabs(s->logdet - (3 * log(0.75) + log(0.5))) < 1e-12);
  bh_blockdiag_free(s);
  fixture_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout),        cmocka_unit_test(test_errors),
      cmocka_unit_test(test_count_tiny),    cmocka_unit_test(test_count_default),
      cmocka_unit_test(test_encode_deterministic), cmocka_unit_test(test_encode_stochastic),
      cmocka_unit_test(test_decode),        cmocka_unit_test(test_gradcheck),
      cmocka_unit_test(test_prior),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
