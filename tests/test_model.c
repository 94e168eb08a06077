/* test_model.c — the model interface: loss terms, the registry and the common keys, model
 * creation and its checks, checkpoint round trips (bit-identical codes after save → load) and
 * their one-line errors, the inference helpers against direct computations, run metadata, and
 * the whole-model gradient check of tests/modelcheck.h (on a toy class with two phases, which
 * also shows that the check catches a wrong gradient). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "baselines/baselines.h"
#include "core/error.h"
#include "core/ops.h"
#include "models/model.h"
#include "tests/modelcheck.h"
#include "tests/testfiles.h"

static int setup_dir(void **state) {
  (void)state;
  return tf_tmpdir_make("model");
}

static int remove_dir(void **state) {
  (void)state;
  return tf_tmpdir_remove();
}

static void assert_msg(const char *want) {
  if (strcmp(bh_error_message(), want) != 0)
    fail_msg("message \"%s\", expected \"%s\"", bh_error_message(), want);
}

/* The message is one line and mentions `needle`. */
static void assert_one_line_with(const char *needle) {
  const char *m = bh_error_message();
  if (!*m || strchr(m, '\n') || !strstr(m, needle))
    fail_msg("message \"%s\" is not one line naming \"%s\"", m, needle);
}

/* ---------------------------------------------------------------- terms */

static void test_terms(void **state) {
  (void)state;
  bh_terms t;
  bh_terms_clear(&t);
  assert_int_equal(t.n, 0);
  assert_true(isnan(bh_terms_get(&t, "loss")));
  bh_terms_set(&t, "loss", 3.5);
  bh_terms_set(&t, "kl", 1.25);
  assert_int_equal(t.n, 2);
  assert_true(bh_terms_get(&t, "loss") == 3.5);
  assert_true(bh_terms_get(&t, "kl") == 1.25);
  /* same name (another pointer to equal text) replaces */
  char name[8] = "loss";
  bh_terms_set(&t, name, -2.0);
  assert_int_equal(t.n, 2);
  assert_true(bh_terms_get(&t, "loss") == -2.0);
  assert_string_equal(t.name[0], "loss");
  assert_true(isnan(bh_terms_get(&t, "tc")));
  /* full: further names are dropped, existing ones still update */
  static const char *const names[] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7",
                                      "t8", "t9", "t10", "t11", "t12", "t13", "t14", "t15",
                                      "t16", "t17", "t18", "t19", "t20", "t21", "t22", "t23"};
  for (int i = 0; i < 24; i++) bh_terms_set(&t, names[i], i);
  assert_int_equal(t.n, BH_TERMS_MAX);
  assert_true(isnan(bh_terms_get(&t, "t23")));
  assert_true(bh_terms_get(&t, "t21") == 21.0);
  bh_terms_set(&t, "kl", 7.0);
  assert_true(bh_terms_get(&t, "kl") == 7.0);
  bh_terms_clear(&t);
  assert_int_equal(t.n, 0);
  assert_true(isnan(bh_terms_get(&t, "kl")));
}

/* ---------------------------------------------------------------- registry and keys */

static void test_registry(void **state) {
  (void)state;
  assert_int_equal(bh_model_class_count(), 8);
  static const char *const names[] = {"vae",       "betavae",       "factorvae", "btcvae",
                                      "guidedvae", "guidedvae-sup", "bhivae",    "bhivae-sup"};
  for (int i = 0; i < 8; i++) {
    assert_string_equal(bh_model_class_at(i)->name, names[i]);
    assert_ptr_equal(bh_model_class_find(names[i]), bh_model_class_at(i));
  }
  assert_ptr_equal(bh_model_class_find("btcvae"), &bh_btcvae_class);
  assert_null(bh_model_class_at(-1));
  assert_null(bh_model_class_at(8));
  assert_null(bh_model_class_find("bvae"));
  assert_msg("unknown model 'bvae' (known: vae, betavae, factorvae, btcvae, guidedvae, guidedvae-sup, bhivae, bhivae-sup)");
}

static void test_config_new(void **state) {
  (void)state;
  bh_config *c = bh_model_config_new(&bh_betavae_class);
  assert_non_null(c);
  static const char *const order[] = {"steps",      "batch_size", "lr",        "beta1",
                                      "beta2",      "adam_eps",   "weight_decay", "z_dim",
                                      "log_every",  "ckpt_every", "subset",    "seed",
                                      "data",       "arch",       "enc_hidden", "dec_hidden",
                                      "beta"};
  assert_int_equal(bh_config_count(c), 17);
  for (int i = 0; i < 17; i++) assert_string_equal(bh_config_key_at(c, i)->key, order[i]);
  assert_int_equal(bh_config_int(c, "steps"), 30000);
  assert_int_equal(bh_config_int(c, "batch_size"), 64);
  assert_true(bh_config_num(c, "lr") == 1e-4);
  assert_int_equal(bh_config_int(c, "z_dim"), 10);
  assert_int_equal(bh_config_int(c, "log_every"), 100);
  assert_int_equal(bh_config_int(c, "ckpt_every"), 2000);
  assert_int_equal(bh_config_int(c, "subset"), 0);
  assert_int_equal(bh_config_int(c, "seed"), 0);
  assert_string_equal(bh_config_str(c, "data"), "dsprites");
  assert_string_equal(bh_config_str(c, "arch"), "fc");
  bh_adam_config a = bh_model_main_adam(c);
  assert_true(a.lr == 1e-4 && a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8);
  assert_true(a.weight_decay == 0.0 && a.decoupled == 0);
  assert_int_equal(bh_config_set(c, "lr", "3e-3", "--set"), BH_OK);
  assert_int_equal(bh_config_set(c, "weight_decay", "0.5", "--set"), BH_OK);
  a = bh_model_main_adam(c);
  assert_true(a.lr == 3e-3 && a.weight_decay == 0.5);
  bh_config_free(c);
  /* a class without keys of its own */
  bh_model_class bare = {"bare", "", NULL, NULL, NULL, NULL, NULL, NULL, NULL};
  c = bh_model_config_new(&bare);
  assert_int_equal(bh_config_count(c), 16);
  bh_config_free(c);
}

/* ---------------------------------------------------------------- a toy class
 * Two groups and two phases, so the model checks and modelcheck have something small and exact:
 *   phase 0 (group "main", w0 [4]):  s = w0 ⊙ mean_rows(x) + ε  (ε ~ N(0,1) from "noise"),
 *                                    loss0 = Σ s²; stashes detach(w0 ⊙ mean_rows(x))
 *   phase 1 (group "adv", w1 [4]):   loss1 = Σ stash ⊙ w1²
 * encode: mu = the first 2 columns of x (deterministic: no logvar); decode: logits = [z, z]. */

typedef struct toy {
  bh_tensor *w0, *w1;
  bh_tensor *stash;
  int broken; /* phase 0 detaches one factor: the analytic gradient is half the true one */
  int bad;    /* what create leaves wrong (model checks) */
} toy;

static int toy_setup(bh_model *m, gsl_rng *init, int broken, int bad) {
  toy *t = calloc(1, sizeof *t);
  m->impl = t;
  t->broken = broken;
  int four[1] = {4};
  m->group[0] = bh_params_alloc();
  m->group[1] = bh_params_alloc();
  t->w0 = bh_params_add(m->group[0], "w0", 1, four);
  t->w1 = bh_params_add(m->group[1], "w1", 1, four);
  if (init) {
    for (int i = 0; i < 4; i++) {
      t->w0->data[i] = (float)(gsl_rng_uniform(init) * 2 - 1);
      t->w1->data[i] = (float)(gsl_rng_uniform(init) * 2 - 1);
    }
  }
  m->ngroups = 2;
  m->group_name[0] = "main";
  m->group_name[1] = "adv";
  m->nphases = 2;
  m->phase_group[0] = 0;
  m->phase_group[1] = 1;
  m->z_dim = 2;
  if (bad == 1) m->ngroups = 0;
  if (bad == 2) m->phase_group[1] = 2;
  if (bad == 3) m->z_dim = 0;
  if (bad == 4) m->nphases = 0;
  if (bad == 5) return bh_error(BH_EINVAL, "toy: refused");
  return BH_OK;
}

static int toy_create(bh_model *m, gsl_rng *init) { return toy_setup(m, init, 0, 0); }
static int toy_create_broken(bh_model *m, gsl_rng *init) { return toy_setup(m, init, 1, 0); }

static bh_tensor *toy_loss(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *batches,
                           bh_rng *rng, bh_terms *terms) {
  toy *t = m->impl;
  if (phase == 1) {
    bh_tensor *l = bh_sum(ctx, bh_mul(ctx, t->stash, bh_square(ctx, t->w1)), BH_AXIS_ALL);
    if (l) bh_terms_set(terms, "d_loss", l->data[0]);
    return l;
  }
  int shape[2] = {batches[0].n, 4};
  bh_tensor *x = bh_tensor_view(ctx, (float *)batches[0].x, 2, shape);
  bh_tensor *xm = bh_mean(ctx, x, BH_AXIS_ROWS); /* [4] */
  bh_tensor *eps = bh_tensor_new1(ctx, 4);
  bh_rng_fill_normal(bh_rng_stream(rng, "noise"), eps->data, 4);
  bh_tensor *wx = bh_mul(ctx, t->w0, xm);
  bh_tensor *s = bh_add(ctx, wx, eps);
  bh_tensor *sq = t->broken ? bh_mul(ctx, bh_detach(ctx, s), s) : bh_square(ctx, s);
  bh_tensor *l = bh_sum(ctx, sq, BH_AXIS_ALL);
  t->stash = bh_detach(ctx, wx);
  if (l) bh_terms_set(terms, "loss", l->data[0]);
  return l;
}

static int toy_encode(bh_model *m, bh_ctx *ctx, bh_tensor *x, bh_tensor **mu,
                      bh_tensor **logvar) {
  (void)m;
  *mu = bh_slice(ctx, x, 0, 2);
  *logvar = NULL;
  return *mu ? BH_OK : bh_error_code();
}

static bh_tensor *toy_decode(bh_model *m, bh_ctx *ctx, bh_tensor *z) {
  (void)m;
  bh_tensor *zz[2] = {z, z};
  return bh_concat(ctx, zz, 2);
}

static void toy_destroy(bh_model *m) { free(m->impl); }

static const bh_model_class toy_class = {"toy", "", NULL, toy_create, toy_loss, toy_encode,
                                         toy_decode, toy_destroy, NULL};
static const bh_model_class toy_broken_class = {"toy", "", NULL, toy_create_broken, toy_loss,
                                                toy_encode, toy_decode, toy_destroy, NULL};

static bh_data_info toy_data(void) {
  bh_data_info d;
  memset(&d, 0, sizeof d);
  d.c = 1, d.h = 2, d.w = 2, d.n = 100;
  return d;
}

static bh_model *toy_model(const bh_model_class *cls, uint64_t seed) {
  bh_data_info d = toy_data();
  bh_rng *rng = bh_rng_alloc(seed);
  bh_model *m = bh_model_create(cls, bh_model_config_new(cls), &d, rng);
  bh_rng_free(rng);
  if (!m) fail_msg("create: %s", bh_error_message());
  return m;
}

/* create functions leaving one thing wrong each */
#define BAD_CREATE(k)                                                                           \
  static int toy_create_bad##k(bh_model *m, gsl_rng *init) { return toy_setup(m, init, 0, k); }
BAD_CREATE(1)
BAD_CREATE(2)
BAD_CREATE(3)
BAD_CREATE(4)
BAD_CREATE(5)

static void test_create_checks(void **state) {
  (void)state;
  bh_data_info d = toy_data();
  bh_model_class c = toy_class;
  c.create = NULL;
  c.name = "guided";
  assert_null(bh_model_create(&c, bh_model_config_new(&c), &d, NULL));
  assert_msg("model guided is not available");
  int (*bad[5])(bh_model *, gsl_rng *) = {toy_create_bad1, toy_create_bad2, toy_create_bad3,
                                          toy_create_bad4, toy_create_bad5};
  static const char *const msg[5] = {
      "model toy: 0 parameter groups (1..8)", "model toy: phase 1 trains group 2 of 2",
      "model toy: z_dim 0 < 1", "model toy: 0 update phases (1..8)", "toy: refused"};
  for (int k = 0; k < 5; k++) {
    c = toy_class;
    c.create = bad[k];
    assert_null(bh_model_create(&c, bh_model_config_new(&c), &d, NULL));
    assert_msg(msg[k]);
  }
  c = toy_class;
  c.loss = NULL;
  assert_null(bh_model_create(&c, bh_model_config_new(&c), &d, NULL));
  assert_msg("model toy: class lacks loss, encode or decode");
  d.h = 0;
  assert_null(bh_model_create(&toy_class, bh_model_config_new(&toy_class), &d, NULL));
  assert_msg("model toy: bad image shape 1×0×2");

  /* a good one: defaults filled, init from the "init" stream, NULL rng leaves zeros */
  bh_model *m = toy_model(&toy_class, 7);
  assert_int_equal(m->batches_per_step, 1);
  assert_int_equal(bh_model_param_count(m), 8);
  assert_int_equal(bh_model_group_param_count(m, 1), 4);
  assert_int_equal(bh_model_group_param_count(m, 2), 0);
  bh_rng *rng = bh_rng_alloc(7);
  gsl_rng *init = bh_rng_stream(rng, "init");
  for (int i = 0; i < 4; i++) {
    assert_true(m->group[0]->t[0]->data[i] == (float)(gsl_rng_uniform(init) * 2 - 1));
    assert_true(m->group[1]->t[0]->data[i] == (float)(gsl_rng_uniform(init) * 2 - 1));
  }
  bh_rng_free(rng);
  bh_model_free(m);
  d = toy_data();
  m = bh_model_create(&toy_class, bh_model_config_new(&toy_class), &d, NULL);
  assert_non_null(m);
  for (int i = 0; i < 4; i++) assert_true(m->group[0]->t[0]->data[i] == 0.0f);
  bh_model_free(m);
}

/* ---------------------------------------------------------------- modelcheck */

static void test_modelcheck(void **state) {
  (void)state;
  bh_model *m = toy_model(&toy_class, 3);
  float x[5 * 4];
  mc_random_binary_images(x, 5, 4, 9, 0.5);
  int ones = 0;
  for (int i = 0; i < 20; i++) {
    assert_true(x[i] == 0.0f || x[i] == 1.0f);
    ones += x[i] == 1.0f;
  }
  assert_true(ones > 0 && ones < 20);
  bh_batch b = {5, x, NULL, NULL, NULL};
  /* both phases: the second reads what the first stashed */
  assert_int_equal(mc_check_phase(m, 0, &b, 11, 1e-2, 1e-4, 1e-3, 0), 0);
  assert_int_equal(mc_check_phase(m, 1, &b, 11, 1e-2, 1e-4, 1e-3, 0), 0);
  /* the groups are unfrozen afterwards */
  assert_true(bh_tensor_requires_grad(m->group[0]->t[0]));
  assert_true(bh_tensor_requires_grad(m->group[1]->t[0]));
  assert_int_equal(mc_check_phase(m, 2, &b, 11, 1e-2, 1e-4, 1e-3, 0), -1);
  bh_model_free(m);
  /* a wrong gradient is caught */
  m = toy_model(&toy_broken_class, 3);
  assert_int_equal(mc_check_phase(m, 0, &b, 11, 1e-2, 1e-4, 1e-3, 0), -1);
  bh_model_free(m);
}

/* ---------------------------------------------------------------- inference helpers */

static void test_inference_toy(void **state) {
  (void)state;
  bh_model *m = toy_model(&toy_class, 1);
  enum { N = 600 }; /* three chunks, the last partial */
  float *x = malloc(sizeof(float) * N * 4), mu[N * 2], lv[N * 2], z[N * 2], p[N * 4];
  for (int i = 0; i < N * 4; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
  memset(lv, 0xff, sizeof lv);
  assert_int_equal(bh_model_encode_images(m, x, N, mu, lv), BH_OK);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < 2; j++) {
      assert_true(mu[i * 2 + j] == x[i * 4 + j]);
      assert_true(lv[i * 2 + j] == 0.0f); /* deterministic encoder: zeros */
    }
  assert_int_equal(bh_model_encode_images(m, x, N, mu, NULL), BH_OK);
  for (int i = 0; i < N * 2; i++) z[i] = (float)(i % 13) - 6.0f;
  assert_int_equal(bh_model_decode_codes(m, z, N, p), BH_OK);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < 4; j++) {
      double want = 1.0 / (1.0 + exp(-(double)z[i * 2 + j % 2]));
      if (fabs(p[i * 4 + j] - want) > 1e-6) fail_msg("decode %d,%d: %g vs %g", i, j, p[i * 4 + j], want);
    }
  bh_repr r = bh_model_repr(m);
  assert_int_equal(r.dim, 2);
  float codes[N * 2];
  assert_int_equal(r.fn(r.user, x, N, codes), BH_OK);
  assert_memory_equal(codes, mu, sizeof codes);
  free(x);
  bh_model_free(m);
}

/* ---------------------------------------------------------------- checkpoints (a real VAE) */

static bh_model *tiny_vae(uint64_t seed) {
  bh_config *cfg = bh_model_config_new(&bh_betavae_class);
  assert_int_equal(bh_config_set(cfg, "enc_hidden", "8", "t"), BH_OK);
  assert_int_equal(bh_config_set(cfg, "dec_hidden", "7,6", "t"), BH_OK);
  assert_int_equal(bh_config_set(cfg, "z_dim", "3", "t"), BH_OK);
  assert_int_equal(bh_config_set(cfg, "beta", "0.30000000000000004", "t"), BH_OK);
  bh_data_info d;
  memset(&d, 0, sizeof d);
  d.c = 1, d.h = 4, d.w = 5, d.n = 12345678901ull;
  d.nfactors = 2, d.factor_sizes[0] = 3, d.factor_sizes[1] = 40;
  bh_rng *rng = bh_rng_alloc(seed);
  bh_model *m = bh_model_create(&bh_betavae_class, cfg, &d, rng);
  bh_rng_free(rng);
  if (!m) fail_msg("create: %s", bh_error_message());
  return m;
}

static void save(const bh_model *m, const char *path) {
  bh_ckpt_writer *w = bh_ckpt_writer_alloc();
  assert_int_equal(bh_model_save(m, w), BH_OK);
  assert_int_equal(bh_ckpt_write(w, path), BH_OK);
  bh_ckpt_writer_free(w);
}

static void test_save_load(void **state) {
  (void)state;
  if (!bh_vae_class.create) skip();
  bh_model *a = tiny_vae(5);
  assert_int_equal(a->z_dim, 3);
  char dir[256], path[300], buf[320];
  tf_path(dir, "run");
  assert_int_equal(mkdir(dir, 0777), 0);
  snprintf(path, sizeof path, "%s/model.ckpt", dir);
  save(a, path);

  assert_string_equal(bh_model_checkpoint_path(dir, buf, sizeof buf), path);
  snprintf(buf, sizeof buf, "%s//", dir);
  char out[320];
  assert_string_equal(bh_model_checkpoint_path(buf, out, sizeof out), path);
  assert_string_equal(bh_model_checkpoint_path(path, out, sizeof out), path);
  assert_null(bh_model_checkpoint_path(dir, out, 10));

  bh_ckpt *ck = NULL;
  bh_model *b = bh_model_load_path(dir, &ck); /* the folder */
  if (!b) fail_msg("load: %s", bh_error_message());
  assert_non_null(ck);
  bh_ckpt_free(ck);
  assert_ptr_equal(b->cls, &bh_betavae_class);
  assert_int_equal(b->z_dim, 3);
  assert_memory_equal(&a->data, &b->data, sizeof a->data);
  assert_true(bh_config_num(b->cfg, "beta") == 0.30000000000000004);
  json_t *ja = bh_config_json(a->cfg), *jb = bh_config_json(b->cfg);
  assert_true(json_equal(ja, jb));
  json_decref(ja);
  json_decref(jb);
  assert_int_equal(bh_model_param_count(a), bh_model_param_count(b));
  /* 20·8+8 + 8·6+6 (enc) + 3·7+7 + 7·6+6 + 6·20+20 (dec) */
  assert_int_equal(bh_model_param_count(a), 168 + 54 + 28 + 48 + 140);
  assert_memory_equal(a->group[0]->data, b->group[0]->data, a->group[0]->size * sizeof(float));

  enum { N = 300 };
  float *x = malloc(sizeof(float) * N * 20);
  mc_random_binary_images(x, N, 20, 4, 0.3);
  float mua[N * 3], mub[N * 3], lva[N * 3], lvb[N * 3];
  assert_int_equal(bh_model_encode_images(a, x, N, mua, lva), BH_OK);
  assert_int_equal(bh_model_encode_images(b, x, N, mub, lvb), BH_OK);
  assert_memory_equal(mua, mub, sizeof mua);
  assert_memory_equal(lva, lvb, sizeof lva);
  float *pa = malloc(sizeof(float) * N * 20), *pb = malloc(sizeof(float) * N * 20);
  assert_int_equal(bh_model_decode_codes(a, mua, N, pa), BH_OK);
  assert_int_equal(bh_model_decode_codes(b, mua, N, pb), BH_OK);
  assert_memory_equal(pa, pb, sizeof(float) * N * 20);

  /* the helpers agree with the class's encode on one context (no chunking) */
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_ctx_set_grad(ctx, 0);
  int shape[2] = {N, 20};
  bh_tensor *xt = bh_tensor_view(ctx, x, 2, shape), *mu, *lv;
  assert_int_equal(a->cls->encode(a, ctx, xt, &mu, &lv), BH_OK);
  for (int i = 0; i < N * 3; i++) {
    assert_true(fabsf(mu->data[i] - mua[i]) <= 1e-5f * (1 + fabsf(mua[i])));
    assert_true(fabsf(lv->data[i] - lva[i]) <= 1e-5f * (1 + fabsf(lva[i])));
  }
  bh_ctx_free(ctx);

  /* a different seed gives different parameters */
  bh_model *c = tiny_vae(6);
  assert_true(memcmp(a->group[0]->data, c->group[0]->data, a->group[0]->size * sizeof(float)));
  bh_model_free(c);
  free(x);
  free(pa);
  free(pb);
  bh_model_free(a);
  bh_model_free(b);
  assert_int_equal(unlink(path), 0); /* the folder's removal leaves subfolders to us */
  assert_int_equal(rmdir(dir), 0);
}

/* Write a checkpoint from the entries of a good one, with one entry replaced or left out. */
static void write_variant(const char *from, const char *to, const char *skip,
                          const char *bytes_name, const void *bytes, size_t len) {
  bh_ckpt *ck = bh_ckpt_read(from);
  assert_non_null(ck);
  bh_ckpt_writer *w = bh_ckpt_writer_alloc();
  for (int i = 0; i < bh_ckpt_count(ck); i++) {
    const char *name = bh_ckpt_name(ck, i);
    if ((skip && strcmp(name, skip) == 0) || (bytes_name && strcmp(name, bytes_name) == 0))
      continue;
    if (bh_ckpt_kind(ck, i) == BH_CKPT_TENSOR) {
      int nd, shape[BH_CKPT_MAX_DIMS];
      const float *v = bh_ckpt_find_tensor(ck, name, &nd, shape);
      assert_int_equal(bh_ckpt_add_tensor(w, name, nd, shape, v), BH_OK);
    } else {
      size_t n;
      const void *v = bh_ckpt_find_bytes(ck, name, &n);
      assert_int_equal(bh_ckpt_add_bytes(w, name, v, n), BH_OK);
    }
  }
  if (bytes_name) assert_int_equal(bh_ckpt_add_bytes(w, bytes_name, bytes, len), BH_OK);
  assert_int_equal(bh_ckpt_write(w, to), BH_OK);
  bh_ckpt_writer_free(w);
  bh_ckpt_free(ck);
}

static void test_load_errors(void **state) {
  (void)state;
  if (!bh_vae_class.create) skip();
  char good[256], bad[256], want[600];
  tf_path(good, "good.ckpt");
  tf_path(bad, "bad.ckpt");
  bh_model *a = tiny_vae(5);
  save(a, good);

  /* corrupted: one byte flipped in the middle */
  size_t n;
  unsigned char *bytes = tf_read_bytes(good, &n);
  bytes[n / 2] ^= 0x10;
  tf_write_bytes(bad, bytes, n);
  free(bytes);
  assert_null(bh_model_load_path(bad, NULL));
  assert_one_line_with(bad);
  /* missing */
  tf_path(want, "nothing.ckpt");
  assert_null(bh_model_load_path(want, NULL));
  assert_one_line_with(want);

  /* another model's name, no name, no config, a bad config, a bad data blob */
  write_variant(good, bad, NULL, "model.name", "bvae", 4);
  assert_null(bh_model_load_path(bad, NULL));
  snprintf(want, sizeof want,
           "%s: unknown model 'bvae' (known: vae, betavae, factorvae, btcvae, guidedvae, guidedvae-sup, bhivae, bhivae-sup)", bad);
  assert_msg(want);
  write_variant(good, bad, "model.name", NULL, NULL, 0);
  assert_null(bh_model_load_path(bad, NULL));
  snprintf(want, sizeof want, "%s: no model.name entry (not a model checkpoint)", bad);
  assert_msg(want);
  write_variant(good, bad, "model.config", NULL, NULL, 0);
  assert_null(bh_model_load_path(bad, NULL));
  snprintf(want, sizeof want, "%s: no model.config entry", bad);
  assert_msg(want);
  const char *cfg = "{\"z_dim\": 3, \"gamma\": 1}";
  write_variant(good, bad, NULL, "model.config", cfg, strlen(cfg));
  assert_null(bh_model_load_path(bad, NULL));
  snprintf(want, sizeof want, "%s: model.config: unknown key 'gamma' (known: steps,", bad);
  assert_non_null(strstr(bh_error_message(), want));
  assert_one_line_with(bad);
  cfg = "{\"z_dim\": 3,";
  write_variant(good, bad, NULL, "model.config", cfg, strlen(cfg));
  assert_null(bh_model_load_path(bad, NULL));
  assert_one_line_with(bad);
  write_variant(good, bad, NULL, "model.data", "0123", 4);
  assert_null(bh_model_load_path(bad, NULL));
  snprintf(want, sizeof want, "%s: model.data is not a version 1 data shape of 72 bytes", bad);
  assert_msg(want);
  /* parameters of another shape: the config says z_dim 4 */
  cfg = "{\"z_dim\": 4, \"enc_hidden\": [8], \"dec_hidden\": [7, 6]}";
  write_variant(good, bad, NULL, "model.config", cfg, strlen(cfg));
  assert_null(bh_model_load_path(bad, NULL));
  assert_one_line_with(bad);
  assert_non_null(strstr(bh_error_message(), "param.main."));
  /* a missing tensor */
  write_variant(good, bad, "param.main.enc.0.w", NULL, NULL, 0);
  assert_null(bh_model_load_path(bad, NULL));
  snprintf(want, sizeof want, "checkpoint %s: tensor 'param.main.enc.0.w' missing", bad);
  assert_msg(want);
  /* the good one still loads, also without the config entries it defaults */
  cfg = "{\"z_dim\": 3, \"enc_hidden\": [8], \"dec_hidden\": [7, 6]}";
  write_variant(good, bad, NULL, "model.config", cfg, strlen(cfg));
  bh_model *b = bh_model_load_path(bad, NULL);
  assert_non_null(b);
  assert_true(bh_config_num(b->cfg, "beta") == 6.0);
  bh_model_free(b);
  bh_model_free(a);
}

/* ---------------------------------------------------------------- metadata */

static void test_versions(void **state) {
  (void)state;
  json_t *v = bh_versions_json();
  assert_non_null(v);
  static const char *const keys[] = {"openblas", "gsl", "jansson", "zlib",
                                     "libpng",   "compiler", "bhivae"};
  assert_int_equal(json_object_size(v), 7);
  for (int i = 0; i < 7; i++) {
    const char *s = json_string_value(json_object_get(v, keys[i]));
    assert_non_null(s);
    assert_true(strlen(s) > 0);
  }
  assert_string_equal(json_string_value(json_object_get(v, "bhivae")), PACKAGE_VERSION);
  assert_string_equal(json_string_value(json_object_get(v, "zlib")), ZLIB_VERSION);
  assert_string_equal(json_string_value(json_object_get(v, "libpng")), PNG_LIBPNG_VER_STRING);
  assert_string_equal(json_string_value(json_object_get(v, "jansson")), JANSSON_VERSION);
  json_decref(v);
}

static void test_data_info(void **state) {
  (void)state;
  bh_dataset ds;
  memset(&ds, 0, sizeof ds);
  ds.n = 737280, ds.c = 1, ds.h = 64, ds.w = 64, ds.nfactors = 5;
  int sizes[5] = {3, 6, 40, 32, 32};
  memcpy(ds.factor_sizes, sizes, sizeof sizes);
  ds.nclasses = 0, ds.nattrs = 0;
  bh_data_info d;
  memset(&d, 0x5a, sizeof d);
  bh_data_info_from_dataset(&ds, &d);
  assert_int_equal(d.n, 737280);
  assert_int_equal(d.c, 1);
  assert_int_equal(d.h, 64);
  assert_int_equal(d.w, 64);
  assert_int_equal(d.nfactors, 5);
  assert_memory_equal(d.factor_sizes, sizes, sizeof sizes);
  assert_int_equal(d.factor_sizes[5], 0);
  assert_int_equal(d.nclasses, 0);
  assert_int_equal(d.nattrs, 0);
  ds.nfactors = 0, ds.nclasses = 10, ds.c = 3, ds.h = 28;
  bh_data_info_from_dataset(&ds, &d);
  assert_int_equal(d.nclasses, 10);
  assert_int_equal(d.factor_sizes[0], 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_terms),          cmocka_unit_test(test_registry),
      cmocka_unit_test(test_config_new),     cmocka_unit_test(test_create_checks),
      cmocka_unit_test(test_modelcheck),     cmocka_unit_test(test_inference_toy),
      cmocka_unit_test(test_save_load),      cmocka_unit_test(test_load_errors),
      cmocka_unit_test(test_versions),       cmocka_unit_test(test_data_info),
  };
  return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
