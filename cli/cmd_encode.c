/* cmd_encode.c — `bhivae encode`: a trained model's codes of a dataset (encoder means, and the
 * log-variances of a Gaussian encoder) with the examples' factors, labels or attributes, as .npy
 * files; and the helpers of every command that runs a trained model on a dataset (encode, eval,
 * metric --checkpoint, traverse), declared where they are used. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cli/cli_model.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/npy.h"
#include "core/rng.h"
#include "core/threads.h"
#include "datasets/dataset.h"
#include "models/model.h"

#define CMD "encode"
#define ENCODE_CHUNK 512 /* images fetched and encoded at a time */

static const char usage_text[] =
    "Usage: bhivae encode DIR --out PREFIX [options]\n"
    "       bhivae encode --checkpoint FILE --out PREFIX [options]\n"
    "\n"
    "The codes of a trained model (the run folder DIR, i.e. DIR/model.ckpt, or a checkpoint\n"
    "file) for a dataset's examples, in the dataset's order:\n"
    "  PREFIX.codes.npy    float32 n x z_dim: the encoder means\n"
    "  PREFIX.logvar.npy   float32 n x z_dim: the encoder log-variances (Gaussian encoders)\n"
    "  PREFIX.factors.npy  int64 n x k: factor class indices (datasets with factors)\n"
    "  PREFIX.labels.npy   int64 n: class labels (labelled datasets)\n"
    "  PREFIX.attrs.npy    uint8 n x a: binary attributes (CelebA)\n"
    "  PREFIX.index.npy    int64 n: the examples' indices (with --n below the dataset's size)\n"
    "\n"
    "Options:\n"
    "  --data NAME     the dataset (default: the one the model was trained on; see\n"
    "                  'bhivae data --help')\n"
    "  --split SPLIT   all (default), train, test, valid (CelebA only)\n"
    "  --n N           a random subset of N examples (default: every example), drawn\n"
    "                  without replacement, in ascending order\n"
    "  --seed S        the subset's draw (default 0)\n"
    "  --threads T     threads for the encoder (default: the cores)\n"
    "\n"
    "Files are written through FILE.tmp and renamed, so a stopped run leaves no half file.\n";

/* ---------------------------------------------------------------- shared helpers */

/* Open dataset `spec` (NULL: the model's "data" key) for split; with a model, its images must
 * have the shape the model was made for.  A bad name or split is a usage error of cmd (the
 * library's line, exit 2), a missing or bad file a failure; the line is printed. */
int bh_cli_model_data(const char *cmd, const bh_model *m, const char *spec, bh_split split,
                      bh_dataset **out) {
  *out = NULL;
  if (!spec && m) spec = bh_config_str(m->cfg, "data");
  if (!spec || !*spec) return bh_cli_usage(cmd, "--data: missing (e.g. --data dsprites)");
  bh_error_clear();
  bh_dataset *ds = bh_dataset_open(spec, split);
  if (!ds) {
    if (bh_error_code() != BH_EINVAL) return bh_cli_fail_lib();
    bh_cli_fail_lib();
    return BH_EXIT_USAGE;
  }
  if (m && (ds->c != m->data.c || ds->h != m->data.h || ds->w != m->data.w)) {
    int st = bh_cli_fail("%s: images are %dx%dx%d, the model was trained on %dx%dx%d", spec,
                         ds->c, ds->h, ds->w, m->data.c, m->data.h, m->data.w);
    bh_dataset_free(ds);
    return st;
  }
  *out = ds;
  return BH_EXIT_OK;
}

/* Encoder means (and log-variances when logvar is not NULL) of examples idx[0..n-1] of ds
 * (idx NULL: examples 0..n-1) into mu (n x z_dim), fetched in chunks, with a progress line on
 * a terminal.  BH_OK or the library's status (message set). */
int bh_cli_model_encode(bh_model *m, bh_dataset *ds, const size_t *idx, size_t n, float *mu,
                        float *logvar) {
  size_t D = bh_dataset_image_size(ds), z = (size_t)m->z_dim;
  float *x = malloc(ENCODE_CHUNK * D * sizeof *x);
  size_t *run = malloc(ENCODE_CHUNK * sizeof *run);
  if (!x || !run) {
    free(x);
    free(run);
    return bh_error(BH_ENOMEM, "%s: out of memory for the images", ds->source);
  }
  bh_cli_progress p;
  bh_cli_progress_start(&p, "bhivae: encoding");
  int st = BH_OK;
  for (size_t i0 = 0; i0 < n && st == BH_OK; i0 += ENCODE_CHUNK) {
    size_t k = n - i0 < ENCODE_CHUNK ? n - i0 : ENCODE_CHUNK;
    for (size_t i = 0; i < k; i++) run[i] = idx ? idx[i0 + i] : i0 + i;
    st = bh_dataset_images(ds, run, k, x);
    if (st == BH_OK)
      st = bh_model_encode_images(m, x, k, mu + i0 * z, logvar ? logvar + i0 * z : NULL);
    bh_cli_progress_update(i0 + k, n, &p);
  }
  bh_cli_progress_end(&p);
  free(x);
  free(run);
  return st;
}

/* 1 when the model's encoder is Gaussian (encode returns log-variances), 0 when it is
 * deterministic, -1 on failure (message set): asked of the class on one blank image. */
int bh_cli_model_gaussian(bh_model *m) {
  int D = m->data.c * m->data.h * m->data.w, shape[2] = {1, D}, gaussian = -1;
  float *x = calloc((size_t)D, sizeof *x);
  bh_ctx *ctx = x ? bh_ctx_alloc((size_t)1 << 20) : NULL;
  if (ctx) {
    bh_ctx_set_grad(ctx, 0);
    bh_tensor *t = bh_tensor_view(ctx, x, 2, shape), *mu = NULL, *lv = NULL;
    if (t && m->cls->encode(m, ctx, t, &mu, &lv) == BH_OK) gaussian = lv != NULL;
  } else {
    bh_error(BH_ENOMEM, "model %s: out of memory", m->cls->name);
  }
  bh_ctx_free(ctx);
  free(x);
  return gaussian;
}

/* --threads T: OpenBLAS's threads and the core's pool. */
int bh_cli_threads(const char *cmd, const char *text) {
  long t;
  int st = bh_cli_long(cmd, "threads", text, 1, BH_THREADS_MAX, &t);
  if (st) return st;
  openblas_set_num_threads((int)t);
  bh_threads_set((int)t);
  return BH_EXIT_OK;
}

static const bh_cli_opt *opt_named(const bh_cli_opt *opts, const char *name) {
  for (; opts->name; opts++)
    if (strcmp(opts->name, name) == 0) return opts;
  return NULL;
}

/* `bhivae CMD [DIR] [options]`: the run folder, when given, comes first; opts has the entries
 * "checkpoint" (a value) and "help" (a flag).  *path: DIR or --checkpoint's FILE, exactly one of
 * them (unless --help is given). */
int bh_cli_parse_run(const char *cmd, int argc, char **argv, const bh_cli_opt *opts,
                     const char **path) {
  int first = 1, st;
  *path = argc > 1 && argv[1][0] != '-' ? argv[first++] : NULL;
  if ((st = bh_cli_parse(cmd, argc, argv, first, opts))) return st;
  const char *ck = *opt_named(opts, "checkpoint")->value;
  if (*opt_named(opts, "help")->flag) return BH_EXIT_OK;
  if (*path && ck)
    return bh_cli_usage(cmd, "--checkpoint: given with the run folder %s (one of them)", *path);
  if (!*path && !(*path = ck))
    return bh_cli_usage(cmd, "missing the run folder (DIR or --checkpoint FILE)");
  return BH_EXIT_OK;
}

/* ---------------------------------------------------------------- encode */

typedef struct encode_args {
  const char *path, *checkpoint, *data, *split, *n, *seed, *out, *threads;
  int help;
} encode_args;

static int parse_split(const char *text, bh_split *out) {
  static const char *const names[] = {"all", "train", "valid", "test"}; /* bh_split order */
  for (int i = 0; i < 4; i++)
    if (strcmp(text, names[i]) == 0) {
      *out = (bh_split)i;
      return BH_EXIT_OK;
    }
  return bh_cli_usage(CMD, "--split: %s: expected all, train, test or valid", text);
}

/* count distinct indices of 0..n-1 drawn from stream "encode" of the seed, ascending: Knuth's
 * selection sampling (each index kept with probability wanted / left), as gsl_ran_choose. */
static int choose_subset(size_t n, size_t count, unsigned long long seed, size_t **out) {
  size_t *idx = malloc(count * sizeof *idx), chosen = 0;
  bh_rng *rng = bh_rng_alloc(seed);
  gsl_rng *g = rng ? bh_rng_stream(rng, "encode") : NULL;
  int st = BH_EXIT_OK;
  if (!idx || !g) {
    st = bh_cli_fail("--n: out of memory for the subset");
    free(idx);
    idx = NULL;
  }
  for (size_t i = 0; idx && i < n && chosen < count; i++)
    if ((double)(n - i) * gsl_rng_uniform(g) < (double)(count - chosen)) idx[chosen++] = i;
  bh_rng_free(rng);
  *out = idx;
  return st;
}

/* PREFIX + suffix, written through .tmp; a failure names the file. */
static int write_array(const char *prefix, const char *suffix, const bh_array *a) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s%s", prefix, suffix) >= (int)sizeof path)
    return bh_cli_fail("%s: path too long", prefix);
  return bh_npy_write(path, a, 0) == BH_OK ? BH_EXIT_OK : bh_cli_fail_lib();
}

static bh_array *array2(int dtype, size_t rows, int cols) {
  int64_t shape[2] = {(int64_t)rows, cols};
  return bh_array_alloc(dtype, cols > 0 ? 2 : 1, shape);
}

/* The examples' factors, labels and attributes, and the subset's indices, as .npy files. */
static int write_ground_truth(const encode_args *a, bh_dataset *ds, const size_t *idx, size_t n,
                              int subset) {
  int st = BH_EXIT_OK, k = ds->nfactors;
  if (k > 0) {
    bh_array *f = array2(BH_DTYPE_I64, n, k);
    int v[BH_DATASET_MAX_FACTORS];
    if (!f) return bh_cli_fail_lib();
    for (size_t i = 0; i < n; i++) {
      bh_dataset_factors_of(ds, idx[i], v);
      for (int j = 0; j < k; j++) ((int64_t *)f->data)[i * (size_t)k + (size_t)j] = v[j];
    }
    st = write_array(a->out, ".factors.npy", f);
    bh_array_free(f);
  }
  if (!st && ds->nclasses > 0) {
    bh_array *l = array2(BH_DTYPE_I64, n, 0);
    int *y = malloc((n ? n : 1) * sizeof *y);
    if (!l || !y) st = bh_cli_fail("%s: out of memory for the labels", ds->source);
    else if (bh_dataset_labels(ds, idx, n, y) != BH_OK) st = bh_cli_fail_lib();
    for (size_t i = 0; !st && i < n; i++) ((int64_t *)l->data)[i] = y[i];
    if (!st) st = write_array(a->out, ".labels.npy", l);
    bh_array_free(l);
    free(y);
  }
  if (!st && ds->nattrs > 0) {
    bh_array *t = array2(BH_DTYPE_U8, n, ds->nattrs);
    if (!t) st = bh_cli_fail_lib();
    else if (bh_dataset_attrs(ds, idx, n, t->data) != BH_OK) st = bh_cli_fail_lib();
    if (!st) st = write_array(a->out, ".attrs.npy", t);
    bh_array_free(t);
  }
  if (!st && subset) {
    bh_array *ix = array2(BH_DTYPE_I64, n, 0);
    if (!ix) return bh_cli_fail_lib();
    for (size_t i = 0; i < n; i++) ((int64_t *)ix->data)[i] = (int64_t)idx[i];
    st = write_array(a->out, ".index.npy", ix);
    bh_array_free(ix);
  }
  return st;
}

/* Codes (and log-variances) of examples idx[0..n-1] as PREFIX.codes.npy (PREFIX.logvar.npy). */
static int write_codes(const encode_args *a, bh_model *m, bh_dataset *ds, const size_t *idx,
                       size_t n, int gaussian) {
  bh_array *mu = array2(BH_DTYPE_F32, n, m->z_dim);
  bh_array *lv = gaussian ? array2(BH_DTYPE_F32, n, m->z_dim) : NULL;
  int st = BH_EXIT_OK;
  if (!mu || (gaussian && !lv)) st = bh_cli_fail_lib();
  else if (bh_cli_model_encode(m, ds, idx, n, mu->data, lv ? lv->data : NULL) != BH_OK)
    st = bh_cli_fail_lib();
  if (!st) st = write_array(a->out, ".codes.npy", mu);
  if (!st && lv) st = write_array(a->out, ".logvar.npy", lv);
  bh_array_free(mu);
  bh_array_free(lv);
  return st;
}

static int run_encode(const encode_args *a, bh_model *m) {
  bh_split split = BH_SPLIT_ALL;
  unsigned long long seed = 0;
  long want = 0;
  int st;
  if (a->split && (st = parse_split(a->split, &split))) return st;
  if (a->seed && (st = bh_cli_u64(CMD, "seed", a->seed, &seed))) return st;
  if (a->n && (st = bh_cli_long(CMD, "n", a->n, 1, 1L << 40, &want))) return st;
  bh_dataset *ds;
  if ((st = bh_cli_model_data(CMD, m, a->data, split, &ds))) return st;
  size_t n = ds->n, *idx = NULL;
  int subset = a->n && (size_t)want < ds->n, gaussian = bh_cli_model_gaussian(m);
  if (a->n && (size_t)want > ds->n)
    st = bh_cli_usage(CMD, "--n: %ld is more than the %zu examples of the data", want, ds->n);
  else if (gaussian < 0) st = bh_cli_fail_lib();
  else if (subset) st = choose_subset(ds->n, n = (size_t)want, seed, &idx);
  else if (!(idx = malloc((n ? n : 1) * sizeof *idx))) st = bh_cli_fail("out of memory");
  else
    for (size_t i = 0; i < n; i++) idx[i] = i;
  if (!st) st = write_codes(a, m, ds, idx, n, gaussian);
  if (!st) st = write_ground_truth(a, ds, idx, n, subset);
  if (!st)
    printf("%s: %zu of %zu examples of %s (split %s) -> %s.codes.npy (%zu x %d)%s%s%s%s%s\n",
           m->cls->name, n, ds->n, a->data ? a->data : bh_config_str(m->cfg, "data"),
           a->split ? a->split : "all", a->out, n, m->z_dim,
           gaussian ? ", .logvar.npy" : "", ds->nfactors > 0 ? ", .factors.npy" : "",
           ds->nclasses > 0 ? ", .labels.npy" : "", ds->nattrs > 0 ? ", .attrs.npy" : "",
           subset ? ", .index.npy" : "");
  free(idx);
  bh_dataset_free(ds);
  return st;
}

int bh_cmd_encode(int argc, char **argv) {
  encode_args a;
  memset(&a, 0, sizeof a);
  bh_cli_opt opts[] = {{"checkpoint", &a.checkpoint, NULL}, {"data", &a.data, NULL},
                       {"split", &a.split, NULL},           {"n", &a.n, NULL},
                       {"seed", &a.seed, NULL},             {"out", &a.out, NULL},
                       {"threads", &a.threads, NULL},       {"help", NULL, &a.help},
                       {NULL, NULL, NULL}};
  int st = bh_cli_parse_run(CMD, argc, argv, opts, &a.path);
  if (st) return st;
  if (a.help) return fputs(usage_text, stdout), BH_EXIT_OK;
  if (!a.out) return bh_cli_usage(CMD, "--out: missing (the prefix of the .npy files)");
  if (a.threads && (st = bh_cli_threads(CMD, a.threads))) return st;
  bh_model *m = bh_model_load_path(a.path, NULL);
  if (!m) return bh_cli_fail_lib();
  st = run_encode(&a, m);
  bh_model_free(m);
  return st;
}
