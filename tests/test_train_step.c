/* test_train_step.c — whole training steps of a small VAE: the same seed and thread count give
 * bit-identical parameters and losses; a different seed does not; the loss goes down; a
 * steady-state step allocates nothing new in its arena. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/adam.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/params.h"
#include "core/rng.h"

#define B 16
#define NX 64
#define NH 32
#define NZ 4

typedef struct small_vae {
  bh_params *p;
  bh_tensor *w1, *b1, *w2, *b2, *w3, *b3, *w4, *b4;
  bh_adam *adam;
  bh_rng *rng;
  bh_ctx *ctx;
  float data[4][B * NX];
} small_vae;

static bh_tensor *add_param(small_vae *m, const char *name, int rows, int cols) {
  int s[2] = {rows, cols};
  bh_tensor *t = cols ? bh_params_add(m->p, name, 2, s) : bh_params_add(m->p, name, 1, s);
  gsl_rng *r = bh_rng_stream(m->rng, "init");
  for (size_t i = 0; i < t->size; i++) t->data[i] = (float)(0.4 * (gsl_rng_uniform(r) - 0.5));
  return t;
}

static void small_vae_init(small_vae *m, uint64_t seed) {
  memset(m, 0, sizeof *m);
  m->rng = bh_rng_alloc(seed);
  m->p = bh_params_alloc();
  m->w1 = add_param(m, "w1", NH, NX), m->b1 = add_param(m, "b1", NH, 0);
  m->w2 = add_param(m, "w2", 2 * NZ, NH), m->b2 = add_param(m, "b2", 2 * NZ, 0);
  m->w3 = add_param(m, "w3", NH, NZ), m->b3 = add_param(m, "b3", NH, 0);
  m->w4 = add_param(m, "w4", NX, NH), m->b4 = add_param(m, "b4", NX, 0);
  bh_adam_config cfg = bh_adam_config_default();
  cfg.lr = 3e-3f;
  m->adam = bh_adam_alloc(m->p, cfg);
  m->ctx = bh_ctx_alloc(1 << 20);
  /* four fixed batches of two "patterns" with noise: the data set, the same for every seed */
  bh_rng *data_rng = bh_rng_alloc(2024);
  gsl_rng *r = bh_rng_stream(data_rng, "data");
  for (int k = 0; k < 4; k++)
    for (int i = 0; i < B; i++)
      for (int j = 0; j < NX; j++) {
        int on = ((i % 2) ? j < NX / 2 : j % 2) ^ (gsl_rng_uniform(r) < 0.05);
        m->data[k][i * NX + j] = (float)on;
      }
  bh_rng_free(data_rng);
}

static void small_vae_free(small_vae *m) {
  bh_ctx_free(m->ctx);
  bh_adam_free(m->adam);
  bh_params_free(m->p);
  bh_rng_free(m->rng);
}

static float small_vae_step(small_vae *m, int k) {
  bh_ctx *ctx = m->ctx;
  bh_ctx_reset(ctx);
  int shape[2] = {B, NX};
  bh_tensor *x = bh_tensor_view(ctx, m->data[k % 4], 2, shape);
  bh_params_zero_grad(m->p);
  bh_tensor *h = bh_relu(ctx, bh_linear(ctx, x, m->w1, m->b1));
  bh_tensor *st = bh_linear(ctx, h, m->w2, m->b2);
  bh_tensor *mu = bh_slice(ctx, st, 0, NZ), *lv = bh_slice(ctx, st, NZ, NZ);
  bh_tensor *z = bh_reparam(ctx, mu, lv, bh_rng_stream(m->rng, "noise"));
  bh_tensor *d = bh_tanh(ctx, bh_linear(ctx, z, m->w3, m->b3));
  bh_tensor *logits = bh_linear(ctx, d, m->w4, m->b4);
  bh_tensor *loss = bh_mean(
      ctx, bh_add(ctx, bh_bce_logits(ctx, logits, x->data), bh_kl_normal_std(ctx, mu, lv)),
      BH_AXIS_ALL);
  assert_non_null(loss);
  assert_int_equal(bh_backward(ctx, loss), BH_OK);
  bh_adam_step(m->adam);
  return loss->data[0];
}

static void test_same_seed_bit_identical(void **state) {
  (void)state;
  small_vae *a = malloc(sizeof *a), *b = malloc(sizeof *b), *c = malloc(sizeof *c);
  small_vae_init(a, 42);
  small_vae_init(b, 42);
  small_vae_init(c, 43);
  for (int s = 0; s < 20; s++) {
    float la = small_vae_step(a, s), lb = small_vae_step(b, s);
    small_vae_step(c, s);
    assert_memory_equal(&la, &lb, sizeof la);
  }
  assert_memory_equal(a->p->data, b->p->data, a->p->size * sizeof(float));
  assert_memory_not_equal(a->p->data, c->p->data, a->p->size * sizeof(float));
  small_vae_free(a);
  small_vae_free(b);
  small_vae_free(c);
  free(a);
  free(b);
  free(c);
}

static void test_loss_decreases_and_arena_is_steady(void **state) {
  (void)state;
  small_vae *m = malloc(sizeof *m);
  small_vae_init(m, 7);
  float first = 0, last = 0;
  size_t reserved_after_warmup = 0;
  for (int s = 0; s < 300; s++) {
    float l = small_vae_step(m, s);
    assert_true(isfinite(l));
    if (s < 4) first += l / 4;
    if (s >= 296) last += l / 4;
    if (s == 2) reserved_after_warmup = bh_arena_reserved(bh_ctx_arena(m->ctx));
  }
  /* 64 Bernoulli pixels start near 64·ln 2 ≈ 44 nats; two clean patterns are easy to learn */
  assert_true(last < 0.5f * first);
  assert_int_equal(bh_arena_reserved(bh_ctx_arena(m->ctx)), reserved_after_warmup);
  small_vae_free(m);
  free(m);
}

static int save_state(small_vae *m, const char *path) {
  bh_ckpt_writer *w = bh_ckpt_writer_alloc();
  size_t n = bh_rng_state_size(m->rng);
  unsigned char *rng_state = malloc(n);
  int st = bh_ckpt_add_params(w, "model.", m->p);
  if (st == BH_OK) st = bh_adam_save(m->adam, w, "adam");
  if (st == BH_OK) st = bh_rng_state_get(m->rng, rng_state, n);
  if (st == BH_OK) st = bh_ckpt_add_bytes(w, "rng", rng_state, n);
  if (st == BH_OK) st = bh_ckpt_write(w, path);
  free(rng_state);
  bh_ckpt_writer_free(w);
  return st;
}

static int load_state(small_vae *m, const char *path) {
  bh_ckpt *ck = bh_ckpt_read(path);
  if (!ck) return bh_error_code();
  size_t n = 0;
  const void *rng_state = bh_ckpt_find_bytes(ck, "rng", &n);
  int st = bh_ckpt_load_params(ck, "model.", m->p);
  if (st == BH_OK) st = bh_adam_load(m->adam, ck, "adam");
  if (st == BH_OK) st = rng_state ? bh_rng_state_set(m->rng, rng_state, n) : BH_EFORMAT;
  bh_ckpt_free(ck);
  return st;
}

/* Train 10 steps, checkpoint, train 10 more; a fresh model (another seed) loaded from the
 * checkpoint must produce the same 10 losses and final parameters bit for bit. */
static void test_resume_bit_exact(void **state) {
  (void)state;
  char path[] = "test_train_step.ckpt";
  small_vae *a = malloc(sizeof *a), *b = malloc(sizeof *b);
  small_vae_init(a, 11);
  small_vae_init(b, 999);
  float la[10], lb[10];
  for (int s = 0; s < 10; s++) small_vae_step(a, s);
  assert_int_equal(save_state(a, path), BH_OK);
  for (int s = 10; s < 20; s++) la[s - 10] = small_vae_step(a, s);
  assert_int_equal(load_state(b, path), BH_OK);
  for (int s = 10; s < 20; s++) lb[s - 10] = small_vae_step(b, s);
  assert_memory_equal(la, lb, sizeof la);
  assert_memory_equal(a->p->data, b->p->data, a->p->size * sizeof(float));
  assert_memory_equal(a->adam->m, b->adam->m, a->p->size * sizeof(float));
  assert_int_equal(a->adam->step, b->adam->step);
  remove(path);
  small_vae_free(a);
  small_vae_free(b);
  free(a);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_seed_bit_identical),
      cmocka_unit_test(test_loss_decreases_and_arena_is_steady),
      cmocka_unit_test(test_resume_bit_exact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
