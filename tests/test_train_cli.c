/* test_train_cli.c — `bhivae train`, `encode`, `eval`, `traverse` and `metric --checkpoint`
 * through the built binary, on tiny models (16 hidden units, 4 latents, 30 steps) of generated
 * dSprites and of a small MNIST-format folder written here.  Checked against independent
 * computations: the run files and their contents, a resumed run's log equal to an
 * uninterrupted one's, a signal's checkpoint, the codes of `encode` against the model's encoder
 * run here, eval's MIG against the protocol redone here and against `bhivae metric`, eval's
 * probe against `bhivae metric probe` on the files `encode` wrote, traversal pixels against the
 * decoder run here, and every kind of bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/rng.h"
#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "datasets/image_io.h"
#include "metrics/metrics.h"
#include "models/model.h"
#include "tests/testfiles.h"

/* The tiny architecture every run here uses. */
#define TINY "--set enc_hidden=16 --set dec_hidden=16 --set z_dim=4 --set batch_size=32 --quiet"
#define ZDIM 4
#define PL TF_PATH_MAX /* path buffers */

static char r1[256];    /* dSprites run: 30 steps, subset 512, log every 5, seed 1 */
static char m1[256];    /* MNIST-format run on idx_dir */
static char idx_dir[256];
static uint8_t test_labels[64];
static bh_dataset *dsprites; /* opened once for the checks done here */

/* ---------------------------------------------------------------- helpers */

/* The lines of a JSON-lines file, parsed (n in *n; caller frees with free_lines). */
static json_t **load_lines(const char *path, int *n) {
  size_t len;
  char *text = (char *)tf_read_bytes(path, &len), *save = NULL;
  text[len] = '\0';
  json_t **lines = calloc(len + 1, sizeof *lines);
  assert_non_null(lines);
  *n = 0;
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    json_error_t je;
    if (!(lines[*n] = json_loads(l, 0, &je))) fail_msg("%s: bad line \"%s\"", path, l);
    (*n)++;
  }
  free(text);
  return lines;
}

static void free_lines(json_t **lines, int n) {
  for (int i = 0; i < n; i++) json_decref(lines[i]);
  free(lines);
}

static const char *in_dir(char *out, const char *dir, const char *name) {
  return tf_pathf(out, "%s/%s", dir, name);
}

static bh_array *read_npy(const char *prefix, const char *suffix, int dtype, int ndim,
                          int64_t rows, int64_t cols) {
  char p[PL];
  tf_pathf(p, "%s%s", prefix, suffix);
  bh_array *a = bh_npy_read(p);
  if (!a) fail_msg("%s: %s", p, bh_error_message());
  if (a->dtype != dtype || a->ndim != ndim || a->shape[0] != rows || (ndim == 2 && a->shape[1] != cols))
    fail_msg("%s: dtype %d, %d-D %lld x %lld (want %d, %d-D %lld x %lld)", p, a->dtype, a->ndim,
             (long long)a->shape[0], (long long)(a->ndim > 1 ? a->shape[1] : 0), dtype, ndim,
             (long long)rows, (long long)cols);
  return a;
}

/* ---------------------------------------------------------------- fixtures */

/* Class c: a 3-pixel bar at rows 2c+3..2c+5, plus 20 speckles from an LCG (every image
 * differs). */
static void make_digits(uint8_t *px, uint8_t *lab, size_t n, uint32_t seed) {
  uint32_t s = seed;
  for (size_t i = 0; i < n; i++) {
    uint8_t *im = px + i * 784;
    int c = (int)(i % 10);
    lab[i] = (uint8_t)c;
    memset(im, 0, 784);
    for (int r = 2 * c + 3; r < 2 * c + 6; r++) memset(im + r * 28 + 4, 255, 20);
    for (int k = 0; k < 20; k++) {
      s = s * 1664525u + 1013904223u;
      im[(s >> 8) % 784] = (uint8_t)(s >> 24);
    }
  }
}

static int write_idx_folder(void) {
  static uint8_t train[256 * 784], trl[256], test[64 * 784];
  char p[PL];
  make_digits(train, trl, 256, 1);
  make_digits(test, test_labels, 64, 2);
  tf_path(idx_dir, "idx");
  if (mkdir(idx_dir, 0777) != 0) return -1;
  return bh_idx_write_images(in_dir(p, idx_dir, "train-images-idx3-ubyte"), train, 256, 28, 28) ||
         bh_idx_write_labels(in_dir(p, idx_dir, "train-labels-idx1-ubyte"), trl, 256) ||
         bh_idx_write_images(in_dir(p, idx_dir, "t10k-images-idx3-ubyte.gz"), test, 64, 28, 28) ||
         bh_idx_write_labels(in_dir(p, idx_dir, "t10k-labels-idx1-ubyte.gz"), test_labels, 64);
}

/* The two runs every test reads (trained once). */
static int setup(void **state) {
  (void)state;
  tf_run_result r;
  if (tf_tmpdir_make("traincli") || write_idx_folder()) return -1;
  tf_path(r1, "r1");
  tf_path(m1, "m1");
  tf_run_bhivae(&r, "train --model vae --data dsprites " TINY " --set steps=30 --set subset=512 "
                    "--set log_every=5 --seed 1 --out %s", r1);
  if (r.status != 0) return fprintf(stderr, "train r1: %s", r.err), -1;
  if (strncmp(r.out, "vae on dsprites: step 30/30 ", 28) != 0)
    return fprintf(stderr, "train r1 summary: %s", r.out), -1;
  tf_run_bhivae(&r, "train --model betavae --data idx:%s " TINY " --set steps=30 --out %s",
                idx_dir, m1);
  if (r.status != 0) return fprintf(stderr, "train m1: %s", r.err), -1;
  return (dsprites = bh_dataset_open("dsprites", BH_SPLIT_ALL)) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  bh_dataset_free(dsprites);
  return tf_tmpdir_remove();
}

/* ---------------------------------------------------------------- train */

/* The run folder: config.json (model, configuration with the --set values), log.jsonl (steps
 * 5..30, every term finite), train.json and the checkpoint at step 30. */
static void test_train_files(void **state) {
  (void)state;
  char p[PL];
  json_t *cfg = tf_load_json(in_dir(p, r1, "config.json"));
  assert_string_equal(json_string_value(json_object_get(cfg, "model")), "vae");
  json_t *c = json_object_get(cfg, "config");
  assert_int_equal((int)tf_json_num(c, "z_dim"), ZDIM);
  assert_int_equal((int)tf_json_num(c, "seed"), 1);
  assert_int_equal((int)tf_json_num(c, "subset"), 512);
  assert_string_equal(json_string_value(json_object_get(c, "data")), "dsprites");
  assert_int_equal(json_integer_value(json_array_get(json_object_get(c, "enc_hidden"), 0)), 16);
  json_decref(cfg);

  int n;
  json_t **lines = load_lines(in_dir(p, r1, "log.jsonl"), &n);
  assert_int_equal(n, 6);
  for (int i = 0; i < n; i++) {
    assert_int_equal((int)tf_json_num(lines[i], "step"), 5 * (i + 1));
    const char *terms[] = {"loss", "recon", "kl", "time_s", "images_per_s"};
    for (int t = 0; t < 5; t++) assert_true(isfinite(tf_json_num(lines[i], terms[t])));
  }
  json_t *sum = tf_load_json(in_dir(p, r1, "train.json"));
  assert_int_equal((int)tf_json_num(sum, "steps"), 30);
  assert_true(tf_json_num(json_object_get(sum, "terms"), "loss") ==
              tf_json_num(lines[n - 1], "loss"));
  json_decref(sum);
  free_lines(lines, n);

  bh_ckpt *ck = bh_ckpt_read(in_dir(p, r1, "model.ckpt"));
  int64_t step = 0;
  assert_non_null(ck);
  assert_int_equal(bh_ckpt_find_i64(ck, "train.step", &step), BH_OK);
  assert_int_equal(step, 30);
  bh_ckpt_free(ck);

  /* the model's keys with their defaults */
  tf_run_result r;
  tf_run_bhivae(&r, "train --model btcvae --help");
  tf_expect_status(&r, 0);
  assert_non_null(strstr(r.out, "estimator"));
  assert_non_null(strstr(r.out, "enc_hidden"));
}

/* FactorVAE (two optimisers, two batches a step, a subset) on the MNIST-format folder: 20
 * steps, then --resume to 40: the same log (loss terms to the last bit) as 40 steps in one go,
 * same seed and thread count; the stored configuration holds except for steps. */
static void test_resume_matches(void **state) {
  (void)state;
  char u[PL], s[PL], p[PL];
  tf_run_result r;
  tf_path(u, "uninterrupted");
  tf_path(s, "resumed");
  tf_run_bhivae(&r, "train --model factorvae --data idx:%s " TINY " --set subset=200 "
                    "--set d_hidden=8 --set d_layers=2 --set log_every=2 --set steps=40 "
                    "--seed 3 --threads 1 --out %s", idx_dir, u);
  tf_expect_status(&r, 0);
  tf_run_bhivae(&r, "train --model factorvae --data idx:%s " TINY " --set subset=200 "
                    "--set d_hidden=8 --set d_layers=2 --set log_every=2 --set steps=20 "
                    "--seed 3 --threads 1 --out %s", idx_dir, s);
  tf_expect_status(&r, 0);
  tf_run_bhivae(&r, "train --resume --out %s --set z_dim=5", s);
  tf_expect_usage(&r, "cannot change 'z_dim' when resuming");
  tf_run_bhivae(&r, "train --resume --out %s --seed 4", s);
  tf_expect_usage(&r, "cannot change 'seed'");
  tf_run_bhivae(&r, "train --resume --out %s --model vae", s);
  tf_expect_usage(&r, "is a factorvae model");
  tf_run_bhivae(&r, "train --resume --out %s --set steps=40 --threads 1 --quiet", s);
  tf_expect_status(&r, 0);
  assert_non_null(strstr(r.out, "step 40/40"));
  char *a = tf_log_without_times(in_dir(p, u, "log.jsonl"));
  char *b = tf_log_without_times(in_dir(p, s, "log.jsonl"));
  assert_string_equal(a, b);
  assert_non_null(strstr(a, "\"d_loss\"")); /* the adversary's terms are logged too */
  free(a);
  free(b);
  /* killed after the last checkpoint, before train.json: a resume with nothing left to train
   * says so and writes train.json from the checkpoint and the log's last line */
  json_t *before = tf_load_json(in_dir(p, s, "train.json"));
  assert_int_equal(remove(p), 0);
  tf_run_bhivae(&r, "train --resume --out %s --threads 1 --quiet", s);
  tf_expect_status(&r, 0);
  assert_non_null(strstr(r.out, "already at step 40/40, nothing to train"));
  json_t *after = tf_load_json(in_dir(p, s, "train.json"));
  assert_int_equal(json_integer_value(json_object_get(after, "steps")), 40);
  assert_int_equal(json_integer_value(json_object_get(after, "steps_this_run")), 0);
  assert_true(json_real_value(json_object_get(after, "images_per_s")) > 0);
  assert_true(json_equal(json_object_get(before, "terms"), json_object_get(after, "terms")));
  json_decref(before);
  json_decref(after);
}

/* Start `bhivae train ...` in the background (stdout and stderr to files); its pid. */
static pid_t spawn_train(const char *out_dir, const char *err_path) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), nul = open("/dev/null", O_RDWR);
    dup2(fd, 2);
    dup2(nul, 1);
    dup2(nul, 0);
    char data[PL];
    snprintf(data, sizeof data, "idx:%s", idx_dir);
    execl(tf_bhivae_path(), "bhivae", "train", "--model", "vae", "--data", data, "--set",
          "enc_hidden=16", "--set", "dec_hidden=16", "--set", "z_dim=4", "--set", "batch_size=32",
          "--set", "steps=1000000", "--set", "log_every=1", "--quiet",
          "--out", out_dir, (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* Wait until the run has logged a few steps (its signal handlers are in place then). */
static void wait_for_steps(const char *log, int steps) {
  for (int i = 0; i < 3000; i++) {
    FILE *f = fopen(log, "r");
    int lines = 0, ch;
    while (f && (ch = fgetc(f)) != EOF) lines += ch == '\n';
    if (f) fclose(f);
    if (lines >= steps) return;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  fail_msg("%s: fewer than %d steps after 30 s", log, steps);
}

/* SIGINT and SIGTERM (runs on the MNIST-format folder): the step finishes, the checkpoint is
 * saved, exit 130 with the line naming the step and how to continue; --resume goes on from that
 * step. */
static void test_signal_stop(void **state) {
  (void)state;
  const int sigs[2] = {SIGINT, SIGTERM};
  for (int k = 0; k < 2; k++) {
    char dir[PL], err[PL], p[PL], want[3 * PL];
    snprintf(p, sizeof p, "signal%d", k);
    tf_path(dir, p);
    tf_path(err, "signal.err");
    pid_t pid = spawn_train(dir, err);
    wait_for_steps(in_dir(p, dir, "log.jsonl"), 3);
    assert_int_equal(kill(pid, sigs[k]), 0);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 130);
    size_t len;
    char *msg = (char *)tf_read_bytes(err, &len);
    msg[len] = '\0';
    long step = -1;
    if (sscanf(msg, "bhivae: stopped at step %ld;", &step) != 1) fail_msg("stderr: %s", msg);
    snprintf(want, sizeof want,
             "checkpoint saved in %s/model.ckpt; continue with: bhivae train --resume --out %s\n",
             dir, dir);
    assert_non_null(strstr(msg, want));
    free(msg);
    bh_ckpt *ck = bh_ckpt_read(in_dir(p, dir, "model.ckpt"));
    int64_t at = 0;
    assert_non_null(ck);
    assert_int_equal(bh_ckpt_find_i64(ck, "train.step", &at), BH_OK);
    assert_int_equal(at, step);
    bh_ckpt_free(ck);
    tf_run_result r;
    tf_run_bhivae(&r, "train --resume --out %s --set steps=%ld --quiet", dir, step + 2);
    tf_expect_status(&r, 0);
    int n;
    json_t **lines = load_lines(in_dir(p, dir, "log.jsonl"), &n);
    assert_int_equal(n, step + 2); /* every step once: the cut log continued */
    for (int i = 0; i < n; i++) assert_int_equal((long)tf_json_num(lines[i], "step"), i + 1);
    free_lines(lines, n);
  }
}

/* ---------------------------------------------------------------- encode */

/* The mixed-radix index of a dSprites factor vector (shape 3, scale 6, orientation 40, posX 32,
 * posY 32; the last fastest). */
static int64_t dsprites_index(const int64_t *f) {
  static const int sizes[5] = {3, 6, 40, 32, 32};
  int64_t i = 0;
  for (int k = 0; k < 5; k++) i = i * sizes[k] + f[k];
  return i;
}

/* A seeded subset of dSprites: ascending distinct indices, factors that match them, codes and
 * log-variances equal to the model's encoder run here on the same images. */
static void test_encode_dsprites(void **state) {
  (void)state;
  char pre[PL], pre2[PL];
  tf_run_result r;
  tf_path(pre, "enc");
  tf_path(pre2, "enc2");
  tf_run_bhivae(&r, "encode %s --n 600 --seed 3 --out %s", r1, pre);
  tf_expect_status(&r, 0);
  bh_array *codes = read_npy(pre, ".codes.npy", BH_DTYPE_F32, 2, 600, ZDIM);
  bh_array *lv = read_npy(pre, ".logvar.npy", BH_DTYPE_F32, 2, 600, ZDIM);
  bh_array *fac = read_npy(pre, ".factors.npy", BH_DTYPE_I64, 2, 600, 5);
  bh_array *ix = read_npy(pre, ".index.npy", BH_DTYPE_I64, 1, 600, 0);
  const int64_t *idx = ix->data, *f = fac->data;
  for (int i = 0; i < 600; i++) {
    assert_true(idx[i] >= 0 && idx[i] < 737280 && (i == 0 || idx[i] > idx[i - 1]));
    assert_int_equal(dsprites_index(f + 5 * i), idx[i]);
  }

  bh_model *m = bh_model_load_path(r1, NULL);
  bh_dataset *ds = dsprites;
  assert_non_null(m);
  size_t at[600];
  float *x = malloc(600 * 4096 * sizeof *x), mu[600 * ZDIM], v[600 * ZDIM];
  for (int i = 0; i < 600; i++) at[i] = (size_t)idx[i];
  assert_int_equal(bh_dataset_images(ds, at, 600, x), BH_OK);
  assert_int_equal(bh_model_encode_images(m, x, 600, mu, v), BH_OK);
  for (int i = 0; i < 600 * ZDIM; i++) {
    assert_float_equal(((float *)codes->data)[i], mu[i], 1e-5 * (1 + fabsf(mu[i])));
    assert_float_equal(((float *)lv->data)[i], v[i], 1e-5 * (1 + fabsf(v[i])));
  }
  free(x);
  bh_model_free(m);

  /* the checkpoint file itself, the same seed: the same subset and codes, bit for bit */
  tf_run_bhivae(&r, "encode --checkpoint %s/model.ckpt --n 600 --seed 3 --out %s", r1, pre2);
  tf_expect_status(&r, 0);
  bh_array *c2 = read_npy(pre2, ".codes.npy", BH_DTYPE_F32, 2, 600, ZDIM);
  assert_memory_equal(c2->data, codes->data, bh_array_bytes(codes));
  bh_array_free(c2);
  bh_array_free(codes);
  bh_array_free(lv);
  bh_array_free(fac);
  bh_array_free(ix);
}

/* The test split of the MNIST-format folder: every example in order, its labels, no index. */
static void test_encode_idx(void **state) {
  (void)state;
  char pre[PL], p[PL];
  tf_run_result r;
  tf_path(pre, "mtest");
  tf_run_bhivae(&r, "encode %s --split test --out %s", m1, pre);
  tf_expect_status(&r, 0);
  bh_array *codes = read_npy(pre, ".codes.npy", BH_DTYPE_F32, 2, 64, ZDIM);
  bh_array *lab = read_npy(pre, ".labels.npy", BH_DTYPE_I64, 1, 64, 0);
  for (int i = 0; i < 64; i++) assert_int_equal(((int64_t *)lab->data)[i], test_labels[i]);
  tf_pathf(p, "%s.index.npy", pre);
  assert_false(tf_file_exists(p));
  tf_pathf(p, "%s.factors.npy", pre);
  assert_false(tf_file_exists(p));
  bh_array_free(codes);
  bh_array_free(lab);
}

/* ---------------------------------------------------------------- eval and metric */

/* disentanglement_lib's MIG protocol redone here: 10,000 factor vectors from stream "metric" of
 * seed 0, the encoder means of their images, 20 bins. */
static double mig_by_hand(const char *run) {
  enum { N = 10000, CHUNK = 500 };
  bh_model *m = bh_model_load_path(run, NULL);
  bh_dataset *ds = dsprites;
  bh_rng *rng = bh_rng_alloc(0);
  assert_non_null(m);
  int *f = malloc(N * 5 * sizeof *f);
  float *codes = malloc(N * ZDIM * sizeof *codes), *x = malloc(CHUNK * 4096 * sizeof *x);
  assert_int_equal(bh_dataset_sample_factors(ds, bh_rng_stream(rng, "metric"), N, f), BH_OK);
  for (int i0 = 0; i0 < N; i0 += CHUNK) {
    assert_int_equal(bh_dataset_images_of(ds, f + i0 * 5, CHUNK, x), BH_OK);
    assert_int_equal(bh_model_encode_images(m, x, CHUNK, codes + i0 * ZDIM, NULL), BH_OK);
  }
  bh_codes c = {N, ZDIM, codes};
  bh_factors fa = {N, 5, f};
  bh_metric_result res;
  bh_metric_result_init(&res, "mig");
  assert_int_equal(bh_metric_mig(&c, &fa, 20, &res), BH_OK);
  double s = res.score;
  bh_metric_result_free(&res);
  free(f);
  free(codes);
  free(x);
  bh_rng_free(rng);
  bh_model_free(m);
  return s;
}

/* eval --metrics mig,sap: eval.json's header, scores in range, MIG equal to the protocol redone
 * here and to `bhivae metric mig --checkpoint`. */
static void test_eval_dsprites(void **state) {
  (void)state;
  char p[PL];
  tf_run_result r;
  tf_run_bhivae(&r, "eval %s --metrics mig,sap --seed 0", r1);
  tf_expect_status(&r, 0);
  json_t *o = tf_load_json(in_dir(p, r1, "eval.json"));
  assert_string_equal(json_string_value(json_object_get(o, "model")), "vae");
  assert_string_equal(json_string_value(json_object_get(o, "data")), "dsprites");
  assert_int_equal((int)tf_json_num(o, "step"), 30);
  assert_int_equal((int)tf_json_num(json_object_get(o, "config"), "z_dim"), ZDIM);
  assert_true(tf_json_num(o, "threads") >= 1);
  assert_non_null(json_object_get(json_object_get(o, "versions"), "openblas"));
  json_t *ms = json_object_get(o, "metrics");
  assert_int_equal(json_object_size(ms), 3); /* mig, sap, sap-continuous */
  const char *keys[] = {"mig", "sap", "sap-continuous"};
  for (int i = 0; i < 3; i++) {
    json_t *e = json_object_get(ms, keys[i]);
    assert_non_null(e);
    double s = tf_json_num(e, "score");
    if (!(s >= 0 && s <= 1)) fail_msg("%s = %g", keys[i], s);
    assert_true(tf_json_num(e, "seconds") >= 0);
    assert_int_equal((int)tf_json_num(e, "n_train"), 10000);
  }
  assert_int_equal((int)tf_json_num(json_object_get(ms, "sap"), "n_test"), 5000);
  assert_non_null(strstr(json_string_value(json_object_get(json_object_get(ms, "sap-continuous"),
                                                           "variant")),
                         "continuous"));
  double mig = tf_json_num(json_object_get(ms, "mig"), "score");
  assert_float_equal(mig, mig_by_hand(r1), 1e-12);

  tf_run_bhivae(&r, "metric mig --checkpoint %s --data dsprites --json", r1);
  tf_expect_status(&r, 0);
  json_t *j = json_loads(r.out, 0, NULL);
  assert_non_null(j);
  assert_true(tf_json_num(j, "score") == mig);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(j, "inputs"), "checkpoint")), r1);
  json_decref(j);
  json_decref(o);

  /* the sampler metrics through the model, small counts: a percentage */
  tf_run_bhivae(&r, "metric factorvae --checkpoint %s/model.ckpt --num-train 100 --num-eval 50",
                r1);
  tf_expect_status(&r, 0);
  double s = strtod(r.out + strlen("factorvae:"), NULL);
  if (strncmp(r.out, "factorvae: ", 11) != 0 || !(s >= 0 && s <= 100)) fail_msg("%s", r.out);
}

/* The probe of the MNIST-format run: eval's equals `bhivae metric probe` on the files `encode`
 * wrote for the train and test splits (same seed, same protocol). */
static void test_eval_probe(void **state) {
  (void)state;
  char out[PL], tr[PL], te[PL];
  tf_run_result r;
  tf_path(out, "m1-eval.json");
  tf_run_bhivae(&r, "eval %s --out %s", m1, out);
  tf_expect_status(&r, 0);
  json_t *o = tf_load_json(out);
  json_t *ms = json_object_get(o, "metrics");
  assert_int_equal(json_object_size(ms), 1); /* probe alone: no factors, mlp only when named */
  double acc = tf_json_num(json_object_get(ms, "probe"), "score");
  assert_true(acc >= 0 && acc <= 100);
  assert_int_equal((int)tf_json_num(json_object_get(ms, "probe"), "n_test"), 64);
  json_decref(o);
  tf_path(tr, "ptrain");
  tf_path(te, "ptest");
  tf_run_bhivae(&r, "encode %s --split train --out %s", m1, tr);
  tf_expect_status(&r, 0);
  tf_run_bhivae(&r, "encode %s --split test --out %s", m1, te);
  tf_expect_status(&r, 0);
  tf_run_bhivae(&r, "metric probe --codes %s.codes.npy --factors %s.labels.npy --test-codes "
                    "%s.codes.npy --test-factors %s.labels.npy --json", tr, tr, te, te);
  tf_expect_status(&r, 0);
  json_t *j = json_loads(r.out, 0, NULL);
  assert_non_null(j);
  assert_true(tf_json_num(j, "score") == acc);
  json_decref(j);
  tf_run_bhivae(&r, "metric probe --checkpoint %s --json", m1);
  tf_expect_status(&r, 0);
  j = json_loads(r.out, 0, NULL);
  assert_non_null(j);
  assert_true(tf_json_num(j, "score") == acc);
  json_decref(j);
}

/* ---------------------------------------------------------------- traverse */

/* 4 rows (latents) of 1 + 5 cells: the PNG's size; column 1 is example 7; the cell of latent 2
 * at the middle value 0 is the decoder's output for that code, computed here. */
static void test_traverse(void **state) {
  (void)state;
  char png[PL];
  tf_run_result r;
  tf_path(png, "trav.png");
  tf_run_bhivae(&r, "traverse %s --out %s --index 7 --steps 5 --range 2", r1, png);
  tf_expect_status(&r, 0);
  bh_image img = BH_IMAGE_INIT;
  assert_int_equal(bh_image_read(png, &img), BH_OK);
  assert_int_equal(img.w, 6 * 64 + 5 * BH_GRID_SEP);
  assert_int_equal(img.h, ZDIM * 64 + (ZDIM - 1) * BH_GRID_SEP);

  bh_model *m = bh_model_load_path(r1, NULL);
  bh_dataset *ds = dsprites;
  assert_non_null(m);
  size_t seven = 7;
  float x[4096], z[ZDIM], p[4096];
  assert_int_equal(bh_dataset_images(ds, &seven, 1, x), BH_OK);
  assert_int_equal(bh_model_encode_images(m, x, 1, z, NULL), BH_OK);
  z[2] = 0.0f; /* column 3 of 5 from -2 to 2 */
  assert_int_equal(bh_model_decode_codes(m, z, 1, p), BH_OK);
  const int cell = 64 + BH_GRID_SEP, row0 = 2 * cell, col0 = 3 * cell; /* col 0: the example */
  for (int y = 0; y < 64; y++)
    for (int c = 0; c < 64; c++) {
      const uint8_t *px = img.rgb + 3 * ((size_t)(row0 + y) * img.w + (size_t)c);
      assert_int_equal(px[0], (int)lrintf(255.0f * x[y * 64 + c]));
      int got = img.rgb[3 * ((size_t)(row0 + y) * img.w + (size_t)(col0 + c))];
      int want = (int)lrintf(255.0f * p[y * 64 + c]);
      if (abs(got - want) > 1) fail_msg("pixel (%d, %d): %d, want %d", y, c, got, want);
    }
  bh_image_release(&img);
  bh_model_free(m);
}

/* ---------------------------------------------------------------- bad input */

static void test_bad_input(void **state) {
  (void)state;
  char bad[PL], baddir[PL], p[PL], x[PL];
  tf_run_result r;
  tf_path(x, "never");
  tf_run_bhivae(&r, "train --model nosuch --data dsprites --out %s", x);
  tf_expect_usage(&r, "unknown model 'nosuch' (known: vae, betavae, factorvae, btcvae, guidedvae, guidedvae-sup, bhivae, bhivae-sup)");
  tf_run_bhivae(&r, "train --model vae --set betta=3 --out %s", x);
  tf_expect_usage(&r, "unknown key 'betta'");
  tf_run_bhivae(&r, "train --model vae --set steps=many --out %s", x);
  tf_expect_usage(&r, "steps");
  tf_run_bhivae(&r, "train --model vae --set lr --out %s", x);
  tf_expect_usage(&r, "not key=value");
  tf_run_bhivae(&r, "train --model vae --seed -3 --out %s", x);
  tf_expect_usage(&r, "--seed");
  tf_run_bhivae(&r, "train --model vae --data dsprites");
  tf_expect_usage(&r, "--out: missing");
  tf_run_bhivae(&r, "train --model vae --data nosuchdata --out %s", x);
  tf_expect_status(&r, 2);
  tf_run_bhivae(&r, "train --model vae --config %s/none.cfg --out %s", x, x);
  tf_expect_fail(&r, "none.cfg");
  tf_run_bhivae(&r, "train --resume --out %s", x);
  tf_expect_fail(&r, "never/model.ckpt");
  tf_run_bhivae(&r, "train --model vae " TINY " --set steps=1 --out %s", r1);
  tf_expect_fail(&r, "a run is already there");
  assert_false(tf_file_exists(x));

  /* a checkpoint with one byte changed: one line naming it, for every command */
  size_t len;
  unsigned char *b = tf_read_bytes(in_dir(p, r1, "model.ckpt"), &len);
  b[len / 2] ^= 0x10;
  tf_path(baddir, "corrupt");
  assert_int_equal(mkdir(baddir, 0777), 0);
  tf_write_bytes(in_dir(bad, baddir, "model.ckpt"), b, len);
  free(b);
  tf_run_bhivae(&r, "encode --checkpoint %s --out %s/e", bad, baddir);
  tf_expect_fail(&r, bad);
  tf_run_bhivae(&r, "eval %s", baddir);
  tf_expect_fail(&r, bad);
  tf_run_bhivae(&r, "traverse %s --out %s/t.png", baddir, baddir);
  tf_expect_fail(&r, bad);
  tf_run_bhivae(&r, "metric mig --checkpoint %s", bad);
  tf_expect_fail(&r, bad);
  tf_run_bhivae(&r, "train --resume --out %s", baddir);
  tf_expect_fail(&r, bad);

  /* options that do not fit the model or its data */
  tf_run_bhivae(&r, "eval %s --metrics probe", r1);
  tf_expect_usage(&r, "probe needs class labels");
  tf_run_bhivae(&r, "eval %s --metrics mig,nope", r1);
  tf_expect_usage(&r, "'nope': unknown metric");
  tf_run_bhivae(&r, "eval %s --data idx:%s --metrics mig", r1, idx_dir);
  tf_expect_fail(&r, "images are 1x28x28, the model was trained on 1x64x64");
  tf_run_bhivae(&r, "metric mig-chen --checkpoint %s", m1);
  tf_expect_usage(&r, "has no ground-truth factors");
  tf_run_bhivae(&r, "metric mig --checkpoint %s --codes %s/e.codes.npy", r1, baddir);
  tf_expect_usage(&r, "--checkpoint: replaces");
  tf_run_bhivae(&r, "encode %s --out %s/e --n 100000", m1, baddir);
  tf_expect_usage(&r, "--n: 100000 is more than");
  tf_run_bhivae(&r, "encode %s --checkpoint %s --out %s/e", m1, bad, baddir);
  tf_expect_usage(&r, "one of them");
  tf_run_bhivae(&r, "encode %s", m1);
  tf_expect_usage(&r, "--out: missing");
  tf_run_bhivae(&r, "traverse %s --out %s/t.png --index 999", m1, baddir);
  tf_expect_usage(&r, "--index: 999 out of range");
  tf_run_bhivae(&r, "traverse %s --out %s/t.png --range -1", m1, baddir);
  tf_expect_usage(&r, "--range");
  tf_run_bhivae(&r, "traverse %s", m1);
  tf_expect_usage(&r, "--out: missing");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_train_files),     cmocka_unit_test(test_resume_matches),
      cmocka_unit_test(test_signal_stop),     cmocka_unit_test(test_encode_dsprites),
      cmocka_unit_test(test_encode_idx),      cmocka_unit_test(test_eval_dsprites),
      cmocka_unit_test(test_eval_probe),      cmocka_unit_test(test_traverse),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
