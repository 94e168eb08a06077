/* test_train.c — the training loop (models/train.c) on tiny models and a small generated
 * dSprites subset:
 *   - one step: phases in order, each with only its own group trainable and its own Adam step,
 *     every group trainable again afterwards (a two-group test model with a known answer);
 *   - data order: every epoch a fresh order of distinct examples from one fixed subset, the
 *     incomplete last batch dropped, images, labels and factors of the same examples;
 *   - resume: 40 steps straight and 17 + 23 steps (stopped, then resumed) give the same log
 *     lines (timings aside) and the same checkpoint entries byte for byte, for β-VAE and for
 *     FactorVAE (two phases, two batches per step);
 *   - NaN/Inf: the run stops with "step N: term 'kl' is nan (last good checkpoint: ...)" and
 *     the earlier checkpoint stays loadable;
 *   - SIGTERM during a long run: BH_TRAIN_STOPPED, a checkpoint at the step reached, the
 *     caller's handler restored;
 *   - 200 steps of a small β-VAE lower the loss; the log names every term.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "baselines/baselines.h"
#include "core/error.h"
#include "core/ops.h"
#include "models/train.h"
#include "tests/testfiles.h"

static bh_dataset *g_ds; /* generated dSprites, opened once */

/* ---- helpers ---- */

static bh_config *config_with(const bh_model_class *cls, const char *const *settings) {
  bh_config *cfg = bh_model_config_new(cls);
  assert_non_null(cfg);
  for (int i = 0; settings && settings[i]; i++)
    if (bh_config_set_assignment(cfg, settings[i], "test") != BH_OK)
      fail_msg("%s: %s", settings[i], bh_error_message());
  return cfg;
}

/* A model of class cls with the settings; data.n set from "subset" as the CLI does.  init NULL:
 * zero parameters (about to resume). */
static bh_model *model_make(const bh_model_class *cls, const char *const *settings, bh_rng *init) {
  bh_config *cfg = config_with(cls, settings);
  bh_data_info info;
  bh_data_info_from_dataset(g_ds, &info);
  long subset = bh_config_int(cfg, "subset");
  if (subset > 0) info.n = (size_t)subset;
  bh_model *m = bh_model_create(cls, cfg, &info, init);
  if (!m) fail_msg("%s", bh_error_message());
  return m;
}

/* Run (or resume) a run in dir: a new model and rng of seed 5 each time, as the CLI does. */
static int run_in(const bh_model_class *cls, const char *const *settings, const char *dir,
                  int resume, long stop_at, bh_train_summary *sum) {
  bh_rng *rng = bh_rng_alloc(5);
  bh_model *m = model_make(cls, settings, resume ? NULL : rng);
  bh_train_opts o = {.out_dir = dir, .resume = resume, .progress = 0, .stop_at = stop_at,
                     .data_spec = "dsprites"};
  int st = bh_train_run(m, g_ds, rng, &o, sum);
  bh_model_free(m);
  bh_rng_free(rng);
  return st;
}

static const char *sub(char *out, const char *name) { return tf_path(out, name); }

static char *read_text(const char *path) {
  size_t n = 0;
  unsigned char *b = tf_read_bytes(path, &n);
  b[n] = '\0';
  return (char *)b;
}

/* The log's lines without their timings: `"time_s": ..., "images_per_s": ..., ` cut out. */
static char *log_without_timings(const char *path, int *nlines) {
  char *text = read_text(path);
  char *out = malloc(strlen(text) + 1), *o = out;
  *nlines = 0;
  for (char *line = text; *line;) {
    char *end = strchr(line, '\n');
    assert_non_null(end);
    char *t = strstr(line, "\"time_s\": ");
    assert_true(t && t < end);
    char *r = strstr(t, "\"images_per_s\": ");
    assert_true(r && r < end);
    char *rest = strchr(r, ',');
    if (rest && rest < end) rest += 2; /* past ", " */
    else rest = strchr(r, '}');        /* a step with no terms */
    memcpy(o, line, (size_t)(t - line));
    o += t - line;
    memcpy(o, rest, (size_t)(end + 1 - rest));
    o += end + 1 - rest;
    line = end + 1;
    (*nlines)++;
  }
  *o = '\0';
  free(text);
  return out;
}

/* Every entry of two checkpoints equal byte for byte, except the wall time. */
static void assert_checkpoints_equal(const char *pa, const char *pb) {
  bh_ckpt *a = bh_ckpt_read(pa), *b = bh_ckpt_read(pb);
  if (!a || !b) fail_msg("%s", bh_error_message());
  assert_int_equal(bh_ckpt_count(a), bh_ckpt_count(b));
  for (int i = 0; i < bh_ckpt_count(a); i++) {
    const char *name = bh_ckpt_name(a, i);
    int kind = bh_ckpt_kind(a, i);
    if (!strcmp(name, "train.seconds")) continue;
    if (kind == BH_CKPT_TENSOR) {
      int nda, ndb, sa[BH_CKPT_MAX_DIMS], sb[BH_CKPT_MAX_DIMS];
      const float *da = bh_ckpt_find_tensor(a, name, &nda, sa);
      const float *db = bh_ckpt_find_tensor(b, name, &ndb, sb);
      assert_non_null(da);
      if (!db) fail_msg("%s missing from %s", name, pb);
      assert_int_equal(nda, ndb);
      size_t n = 1;
      for (int k = 0; k < nda; k++) {
        assert_int_equal(sa[k], sb[k]);
        n *= (size_t)sa[k];
      }
      if (memcmp(da, db, n * sizeof(float)) != 0) fail_msg("tensor %s differs", name);
    } else if (kind == BH_CKPT_BYTES) {
      size_t la, lb;
      const void *da = bh_ckpt_find_bytes(a, name, &la), *db = bh_ckpt_find_bytes(b, name, &lb);
      if (!db || la != lb || memcmp(da, db, la) != 0) fail_msg("entry %s differs", name);
    } else if (kind == BH_CKPT_I64) {
      int64_t va, vb;
      assert_int_equal(bh_ckpt_find_i64(a, name, &va), BH_OK);
      assert_int_equal(bh_ckpt_find_i64(b, name, &vb), BH_OK);
      if (va != vb) fail_msg("%s: %lld != %lld", name, (long long)va, (long long)vb);
    } else {
      double va, vb;
      assert_int_equal(bh_ckpt_find_f64(a, name, &va), BH_OK);
      assert_int_equal(bh_ckpt_find_f64(b, name, &vb), BH_OK);
      assert_memory_equal(&va, &vb, sizeof va);
    }
  }
  bh_ckpt_free(a);
  bh_ckpt_free(b);
}

static int64_t ckpt_i64(const char *path, const char *name) {
  bh_ckpt *ck = bh_ckpt_read(path);
  if (!ck) fail_msg("%s", bh_error_message());
  int64_t v = -1;
  assert_int_equal(bh_ckpt_find_i64(ck, name, &v), BH_OK);
  bh_ckpt_free(ck);
  return v;
}

static void make_dir(const char *path) { assert_int_equal(mkdir(path, 0755), 0); }

/* ---- a two-group test model with a known answer ----
 * Groups "main" (a scalar a) and "adv" (a scalar b); phase 0 minimises a·b over a, phase 1
 * minimises a·b over b.  Adam's first step moves a parameter by lr·sign(gradient) (m̂ = g,
 * v̂ = g²), so from a = 0.05, b = 2, lr = 0.1: phase 0 makes a = 0.05 − 0.1 = −0.05, and
 * phase 1, which must see the new a, makes b = 2 − 0.1·sign(−0.05) = 2.1 (2 − 0.1 = 1.9 had it
 * seen the old one).  The loss records which groups were trainable, a term "kl" that becomes
 * NaN at the phase-0 call `nan_at`, and the examples of every batch (their factors). */

#define PROBE_MAX_CALLS 64
#define PROBE_MAX_B 32

typedef struct probe {
  bh_tensor *a, *b;
  int calls;             /* phase-0 calls */
  int nan_at;            /* 0: never */
  int a_trainable[2], b_trainable[2];
  int batch_n;
  size_t seen[PROBE_MAX_CALLS][PROBE_MAX_B]; /* dataset index of each example, per call */
  int images_ok, labels_seen;
} probe;

static probe g_probe;

static int probe_create(bh_model *m, gsl_rng *init) {
  (void)init;
  int one = 1;
  for (int g = 0; g < 2; g++) m->group[g] = bh_params_alloc();
  m->ngroups = 2;
  m->group_name[0] = "main";
  m->group_name[1] = "adv";
  g_probe.a = bh_params_add(m->group[0], "a", 1, &one);
  g_probe.b = bh_params_add(m->group[1], "b", 1, &one);
  g_probe.a->data[0] = 0.05f;
  g_probe.b->data[0] = 2.0f;
  m->adam[0] = m->adam[1] = bh_model_main_adam(m->cfg);
  m->nphases = 2;
  m->phase_group[0] = 0;
  m->phase_group[1] = 1;
  m->batches_per_step = 1;
  m->z_dim = 1;
  return BH_OK;
}

static void probe_record(const bh_batch *b) {
  probe *p = &g_probe;
  if (p->calls >= PROBE_MAX_CALLS || b->n > PROBE_MAX_B) return;
  size_t D = bh_dataset_image_size(g_ds);
  float *img = malloc((size_t)b->n * D * sizeof(float));
  /* the images must be those of the factors handed alongside */
  if (bh_dataset_images_of(g_ds, b->factors, (size_t)b->n, img) != BH_OK ||
      memcmp(img, b->x, (size_t)b->n * D * sizeof(float)) != 0)
    p->images_ok = 0;
  free(img);
  p->batch_n = b->n;
  for (int i = 0; i < b->n; i++)
    p->seen[p->calls][i] = bh_dataset_index_of(g_ds, b->factors + (size_t)i * g_ds->nfactors);
  if (b->labels) p->labels_seen = 1;
}

static bh_tensor *probe_loss(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *batches,
                             bh_rng *rng, bh_terms *terms) {
  (void)m, (void)rng;
  probe *p = &g_probe;
  p->a_trainable[phase] = bh_tensor_requires_grad(p->a);
  p->b_trainable[phase] = bh_tensor_requires_grad(p->b);
  if (phase == 0) {
    probe_record(&batches[0]);
    p->calls++;
  }
  bh_tensor *loss = bh_mul(ctx, p->a, p->b);
  if (!loss) return NULL;
  bh_terms_set(terms, phase ? "adv_loss" : "loss", loss->data[0]);
  if (phase == 0) bh_terms_set(terms, "kl", p->calls == p->nan_at ? NAN : 1.0);
  return loss;
}

static int probe_encode(bh_model *m, bh_ctx *ctx, bh_tensor *x, bh_tensor **mu,
                        bh_tensor **logvar) {
  (void)m, (void)ctx, (void)x, (void)mu, (void)logvar;
  return bh_error(BH_EINVAL, "probe: no encoder");
}

static bh_tensor *probe_decode(bh_model *m, bh_ctx *ctx, bh_tensor *z) {
  (void)m, (void)ctx, (void)z;
  bh_error(BH_EINVAL, "probe: no decoder");
  return NULL;
}

static const bh_cfg_key probe_keys[] = {{NULL, 0, NULL, NULL}};
static const bh_model_class probe_class = {"probe", "test model", probe_keys, probe_create,
                                           probe_loss, probe_encode, probe_decode, NULL, NULL};

static void probe_reset(void) {
  memset(&g_probe, 0, sizeof g_probe);
  g_probe.images_ok = 1;
}

static void test_step_phases_and_groups(void **state) {
  (void)state;
  probe_reset();
  const char *set[] = {"lr=0.1", "batch_size=4", NULL};
  bh_model *m = model_make(&probe_class, set, NULL);
  bh_rng *rng = bh_rng_alloc(1);
  bh_adam *adam[2] = {bh_adam_alloc(m->group[0], m->adam[0]),
                      bh_adam_alloc(m->group[1], m->adam[1])};
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  size_t D = bh_dataset_image_size(g_ds);
  float *x = calloc(4 * D, sizeof(float));
  int factors[4 * 5] = {0};
  bh_batch batch = {.n = 4, .x = x, .factors = factors};
  bh_terms terms;
  assert_int_equal(bh_train_step(m, ctx, adam, &batch, rng, &terms), BH_OK);

  assert_true(g_probe.a_trainable[0] && !g_probe.b_trainable[0]);
  assert_true(!g_probe.a_trainable[1] && g_probe.b_trainable[1]);
  assert_true(bh_tensor_requires_grad(g_probe.a) && bh_tensor_requires_grad(g_probe.b));
  assert_float_equal(g_probe.a->data[0], -0.05, 1e-6);
  assert_float_equal(g_probe.b->data[0], 2.1, 1e-6);
  assert_int_equal(adam[0]->step, 1);
  assert_int_equal(adam[1]->step, 1);
  /* the terms of both phases: a·b before each update */
  assert_int_equal(terms.n, 3);
  assert_float_equal(bh_terms_get(&terms, "loss"), 0.05 * 2, 1e-6);
  assert_float_equal(bh_terms_get(&terms, "adv_loss"), -0.05 * 2, 1e-6);
  assert_float_equal(bh_terms_get(&terms, "kl"), 1.0, 0);

  /* a NaN term stops the step before its update: a and b keep their values */
  g_probe.nan_at = 2;
  float a1 = g_probe.a->data[0], b1 = g_probe.b->data[0];
  assert_int_equal(bh_train_step(m, ctx, adam, &batch, rng, &terms), BH_ENUM);
  assert_string_equal(bh_error_message(), "term 'kl' is nan");
  assert_true(g_probe.a->data[0] == a1 && g_probe.b->data[0] == b1);
  assert_true(bh_tensor_requires_grad(g_probe.a) && bh_tensor_requires_grad(g_probe.b));

  free(x);
  bh_ctx_free(ctx);
  bh_adam_free(adam[0]);
  bh_adam_free(adam[1]);
  bh_rng_free(rng);
  bh_model_free(m);
}

/* subset 40, batch 16: an epoch is 2 batches (8 examples dropped); 10 epochs. */
static void test_data_order(void **state) {
  (void)state;
  probe_reset();
  char dir[256];
  sub(dir, "order");
  const char *set[] = {"steps=20", "batch_size=16", "subset=40", "ckpt_every=0", "lr=1e-3",
                       NULL};
  bh_train_summary sum;
  assert_int_equal(run_in(&probe_class, set, dir, 0, 0, &sum), BH_OK);
  assert_int_equal(sum.steps_done, 20);
  assert_int_equal(g_probe.calls, 20);
  assert_int_equal(g_probe.batch_n, 16);
  assert_true(g_probe.images_ok);
  assert_false(g_probe.labels_seen); /* dSprites has no labels */

  size_t subset[40 * 20];
  int nsubset = 0;
  for (int e = 0; e < 10; e++) {
    size_t epoch[32]; /* the epoch's two batches */
    memcpy(epoch, g_probe.seen[2 * e], 16 * sizeof(size_t));
    memcpy(epoch + 16, g_probe.seen[2 * e + 1], 16 * sizeof(size_t));
    for (int i = 0; i < 32; i++) {
      assert_true(epoch[i] < g_ds->n);
      for (int j = 0; j < i; j++)
        if (epoch[i] == epoch[j]) fail_msg("epoch %d: example %zu twice", e, epoch[i]);
      int known = 0;
      for (int k = 0; k < nsubset; k++) known |= subset[k] == epoch[i];
      if (!known) subset[nsubset++] = epoch[i];
    }
  }
  /* one fixed subset of 40 (each of 10 epochs leaves out 8: all 40 show up) */
  assert_int_equal(nsubset, 40);
  /* a new order each epoch */
  assert_memory_not_equal(g_probe.seen[0], g_probe.seen[2], 16 * sizeof(size_t));

  /* the same seed draws the same subset and order */
  size_t first[2][PROBE_MAX_B];
  memcpy(first, g_probe.seen, sizeof first);
  probe_reset();
  assert_int_equal(run_in(&probe_class, set, dir, 0, 0, &sum), BH_OK);
  assert_memory_equal(first, g_probe.seen, sizeof first);
}

static void check_resume(const bh_model_class *cls, const char *const *set, const char *tag) {
  char straight[256], split[256], name[64], pa[300], pb[300];
  snprintf(name, sizeof name, "%s-straight", tag);
  sub(straight, name);
  snprintf(name, sizeof name, "%s-split", tag);
  sub(split, name);
  bh_train_summary sum;
  assert_int_equal(run_in(cls, set, straight, 0, 0, &sum), BH_OK);
  assert_int_equal(sum.steps_done, 40);

  assert_int_equal(run_in(cls, set, split, 0, 17, &sum), BH_TRAIN_STOPPED);
  assert_int_equal(sum.steps_done, 17);
  snprintf(pb, sizeof pb, "%s/model.ckpt", split);
  assert_int_equal(ckpt_i64(pb, "train.step"), 17);
  /* a crash after the checkpoint: log lines past it, the last one torn */
  snprintf(pb, sizeof pb, "%s/log.jsonl", split);
  FILE *f = fopen(pb, "ab");
  fputs("{\"step\": 18, \"time_s\": 1, \"images_per_s\": 1, \"loss\": 1}\n{\"step\": 19, \"ti", f);
  fclose(f);
  assert_int_equal(run_in(cls, set, split, 1, 0, &sum), BH_OK);
  assert_int_equal(sum.steps_done, 40);

  int na, nb;
  snprintf(pa, sizeof pa, "%s/log.jsonl", straight);
  char *la = log_without_timings(pa, &na), *lb = log_without_timings(pb, &nb);
  assert_int_equal(na, 40);
  assert_int_equal(nb, 40);
  assert_string_equal(la, lb);
  free(la);
  free(lb);
  snprintf(pa, sizeof pa, "%s/model.ckpt", straight);
  snprintf(pb, sizeof pb, "%s/model.ckpt", split);
  assert_int_equal(ckpt_i64(pa, "train.step"), 40);
  assert_checkpoints_equal(pa, pb);
}

static void test_resume_betavae(void **state) {
  (void)state;
  const char *set[] = {"steps=40",     "batch_size=16",  "subset=200",   "enc_hidden=32,32",
                       "dec_hidden=32,32", "z_dim=4",    "log_every=1",  "ckpt_every=10",
                       "lr=1e-3",      NULL};
  check_resume(&bh_betavae_class, set, "betavae");
}

static void test_resume_factorvae(void **state) {
  (void)state;
  const char *set[] = {"steps=40",   "batch_size=16", "subset=200", "enc_hidden=32",
                       "dec_hidden=32", "z_dim=4",    "d_hidden=16", "d_layers=2",
                       "log_every=1", "ckpt_every=10", "lr=1e-3",   NULL};
  check_resume(&bh_factorvae_class, set, "factorvae");
}

/* The probe's "kl" is NaN at step 5; checkpoints every 2 steps: the run stops with the exact
 * message, and the checkpoint of step 4 is left as it was. */
static void test_nan_stops(void **state) {
  (void)state;
  probe_reset();
  g_probe.nan_at = 5;
  char dir[256], msg[600], ck[300], log[300];
  sub(dir, "nan-probe");
  const char *set[] = {"steps=10", "batch_size=8", "subset=64", "ckpt_every=2", "log_every=1",
                       NULL};
  assert_int_equal(run_in(&probe_class, set, dir, 0, 0, NULL), BH_ENUM);
  snprintf(msg, sizeof msg,
           "step 5: term 'kl' is nan (last good checkpoint: %s/model.ckpt at step 4)", dir);
  assert_string_equal(bh_error_message(), msg);
  snprintf(ck, sizeof ck, "%s/model.ckpt", dir);
  assert_int_equal(ckpt_i64(ck, "train.step"), 4);
  snprintf(log, sizeof log, "%s/log.jsonl", dir);
  int n;
  free(log_without_timings(log, &n));
  assert_int_equal(n, 4);
  snprintf(log, sizeof log, "%s/train.json", dir);
  assert_false(tf_file_exists(log));

  /* a NaN before any checkpoint says so */
  probe_reset();
  g_probe.nan_at = 1;
  assert_int_equal(run_in(&probe_class, set, dir, 0, 0, NULL), BH_ENUM);
  assert_string_equal(bh_error_message(), "step 1: term 'kl' is nan (no checkpoint written yet)");
}

/* A real model diverging (lr 1e30): stopped at the first non-finite step, the checkpoint of the
 * step before loads and holds finite parameters. */
static void test_nan_betavae_diverges(void **state) {
  (void)state;
  char dir[256], ck[300];
  sub(dir, "nan-betavae");
  const char *set[] = {"steps=50", "batch_size=16", "subset=64", "enc_hidden=16", "dec_hidden=16",
                       "z_dim=2", "ckpt_every=1", "lr=1e30", NULL};
  assert_int_equal(run_in(&bh_betavae_class, set, dir, 0, 0, NULL), BH_ENUM);
  const char *msg = bh_error_message();
  long step = 0;
  assert_int_equal(sscanf(msg, "step %ld: ", &step), 1);
  assert_true(step >= 2 && step < 50);
  assert_true(strstr(msg, " is nan") || strstr(msg, " is inf") || strstr(msg, " is -inf"));
  char want[400];
  snprintf(want, sizeof want, "(last good checkpoint: %s/model.ckpt at step %ld)", dir, step - 1);
  assert_non_null(strstr(msg, want));
  snprintf(ck, sizeof ck, "%s/model.ckpt", dir);
  bh_model *m = bh_model_load_path(ck, NULL);
  if (!m) fail_msg("%s", bh_error_message());
  assert_int_equal(ckpt_i64(ck, "train.step"), step - 1);
  for (size_t i = 0; i < m->group[0]->size; i++) assert_true(isfinite(m->group[0]->data[i]));
  bh_model_free(m);
}

/* ---- SIGTERM ---- */

static volatile sig_atomic_t g_test_handler_hits;
static void test_handler(int sig) {
  (void)sig;
  g_test_handler_hits++;
}

typedef struct killer {
  char log[300];
  int sent;
} killer;

/* Wait for the run's first log line (its handlers are installed by then), then SIGTERM. */
static void *killer_main(void *arg) {
  killer *k = arg;
  for (int i = 0; i < 2000; i++) {
    struct stat sb;
    if (stat(k->log, &sb) == 0 && sb.st_size > 0) {
      kill(getpid(), SIGTERM);
      k->sent = 1;
      return NULL;
    }
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  }
  return NULL;
}

static void test_sigterm(void **state) {
  (void)state;
  char dir[256], ck[300];
  sub(dir, "sigterm");
  make_dir(dir);
  struct sigaction sa = {0}, before, after;
  sa.sa_handler = test_handler;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGTERM, &sa, &before), 0);

  killer k = {0};
  snprintf(k.log, sizeof k.log, "%s/log.jsonl", dir);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, killer_main, &k), 0);
  const char *set[] = {"steps=100000", "batch_size=8", "subset=64", "enc_hidden=8",
                       "dec_hidden=8", "z_dim=2",      "log_every=50", "ckpt_every=0", NULL};
  bh_train_summary sum;
  int st = run_in(&bh_betavae_class, set, dir, 0, 0, &sum);
  pthread_join(th, NULL);
  assert_true(k.sent);
  assert_int_equal(st, BH_TRAIN_STOPPED);
  assert_true(sum.steps_done >= 50 && sum.steps_done < 100000);
  assert_int_equal(g_test_handler_hits, 0); /* the run's handler took it */
  assert_int_equal(sigaction(SIGTERM, &before, &after), 0);
  assert_true(after.sa_handler == test_handler);

  snprintf(ck, sizeof ck, "%s/model.ckpt", dir);
  assert_int_equal(ckpt_i64(ck, "train.step"), sum.steps_done);
  bh_model *m = bh_model_load_path(dir, NULL);
  if (!m) fail_msg("%s", bh_error_message());
  assert_string_equal(m->cls->name, "betavae");
  bh_model_free(m);
}

/* ---- learning and the log ---- */

static void test_loss_decreases_and_log(void **state) {
  (void)state;
  char dir[256], path[300];
  sub(dir, "learn");
  const char *set[] = {"steps=200",     "batch_size=32", "subset=512", "enc_hidden=64,64",
                       "dec_hidden=64,64", "z_dim=4",    "beta=1",     "lr=1e-3",
                       "log_every=1",   "ckpt_every=100", NULL};
  bh_train_summary sum;
  assert_int_equal(run_in(&bh_betavae_class, set, dir, 0, 0, &sum), BH_OK);
  assert_int_equal(sum.steps_done, 200);
  assert_true(sum.images_per_s > 0);

  snprintf(path, sizeof path, "%s/log.jsonl", dir);
  char *text = read_text(path);
  double first = 0, last = 0;
  int n = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), n++) {
    json_t *o = json_loads(line, 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "step")), n + 1);
    assert_true(json_is_number(json_object_get(o, "time_s")));
    assert_true(json_is_number(json_object_get(o, "images_per_s")));
    const char *names[] = {"loss", "recon", "kl"};
    for (int i = 0; i < 3; i++) assert_true(json_is_number(json_object_get(o, names[i])));
    for (int i = 0; i < sum.last.n; i++) assert_non_null(json_object_get(o, sum.last.name[i]));
    double loss = json_number_value(json_object_get(o, "loss"));
    if (n < 20) first += loss / 20;
    if (n >= 180) last += loss / 20;
    if (n == 199) /* the last line holds the summary's terms */
      assert_float_equal(loss, bh_terms_get(&sum.last, "loss"), 0);
    json_decref(o);
  }
  free(text);
  assert_int_equal(n, 200);
  /* 4096 Bernoulli pixels start near 4096·ln 2 ≈ 2839 nats; sprites cover a few % of them */
  assert_true(last < 0.5 * first);

  /* config.json and train.json */
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_t *c = json_load_file(path, 0, NULL);
  assert_non_null(c);
  assert_string_equal(json_string_value(json_object_get(c, "model")), "betavae");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "config"), "steps")),
                   200);
  assert_int_equal(json_integer_value(json_object_get(c, "seed")), 5);
  assert_true(json_integer_value(json_object_get(c, "threads")) >= 1);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "data"),
                                                      "examples_used")), 512);
  json_t *params = json_object_get(c, "params");
  bh_model *m = bh_model_load_path(dir, NULL);
  assert_non_null(m);
  assert_int_equal(json_integer_value(json_object_get(params, "main")), bh_model_param_count(m));
  bh_model_free(m);
  assert_non_null(json_object_get(json_object_get(c, "versions"), "openblas"));
  json_decref(c);
  snprintf(path, sizeof path, "%s/train.json", dir);
  json_t *t = json_load_file(path, 0, NULL);
  assert_non_null(t);
  assert_int_equal(json_integer_value(json_object_get(t, "steps")), 200);
  assert_true(json_is_number(json_object_get(json_object_get(t, "terms"), "kl")));
  json_decref(t);
}

/* ---- argument errors ---- */

static void test_bad_runs(void **state) {
  (void)state;
  char dir[256];
  sub(dir, "bad");
  /* data.n must be the examples the run uses */
  bh_rng *rng = bh_rng_alloc(1);
  const char *set[] = {"subset=100", "enc_hidden=8", "dec_hidden=8", "z_dim=2", NULL};
  bh_model *m = model_make(&bh_vae_class, set, rng);
  m->data.n = 99;
  bh_train_opts o = {.out_dir = dir, .progress = 0};
  assert_int_equal(bh_train_run(m, g_ds, rng, &o, NULL), BH_EINVAL);
  assert_non_null(strstr(bh_error_message(), "99 training examples"));
  /* resuming without a checkpoint names the file */
  m->data.n = 100;
  o.resume = 1;
  assert_int_not_equal(bh_train_run(m, g_ds, rng, &o, NULL), BH_OK);
  assert_non_null(strstr(bh_error_message(), "model.ckpt"));
  bh_model_free(m);
  bh_rng_free(rng);
}

static int setup(void **state) {
  (void)state;
  g_ds = bh_dataset_open("dsprites", BH_SPLIT_ALL);
  if (!g_ds) {
    fprintf(stderr, "%s\n", bh_error_message());
    return -1;
  }
  return tf_tmpdir_make("train");
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static int teardown(void **state) {
  (void)state;
  bh_dataset_free(g_ds);
  char dir[256];
  tf_path(dir, ""); /* "<folder>/": the run folders are nested in it */
  return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_step_phases_and_groups),
      cmocka_unit_test(test_data_order),
      cmocka_unit_test(test_resume_betavae),
      cmocka_unit_test(test_resume_factorvae),
      cmocka_unit_test(test_nan_stops),
      cmocka_unit_test(test_nan_betavae_diverges),
      cmocka_unit_test(test_sigterm),
      cmocka_unit_test(test_loss_decreases_and_log),
      cmocka_unit_test(test_bad_runs),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
