/* train.c — the one training loop of every model (see train.h).
 *
 * Data order.  The training examples are the whole split, or with the key "subset" = k > 0 a
 * fixed random k of them: k distinct indices drawn once from stream "subset" (a partial
 * Fisher–Yates over 0..n-1) and then sorted, so the subset is a set and does not depend on the
 * order of the draw.  The order of an epoch is a shuffle (stream "data") of the previous epoch's
 * order; batches are consecutive runs of batch_size examples in it, a step takes
 * m->batches_per_step consecutive batches (crossing into the next epoch when needed), and the
 * examples left over at the end of an epoch (fewer than batch_size) are skipped.  The checkpoint
 * stores the order itself ("data.perm": the dataset indices, u32 little-endian), so a resumed run
 * needs neither the subset draw nor the past shuffles.
 *
 * Steady state.  Every buffer is allocated before the first step (batches with bh_big_alloc, the
 * graph in one ctx arena that is rewound each step), and the loop calls no allocator between
 * checkpoints and log lines: after the first step a step touches no new page.
 *
 * Files.  config.json and train.json go through path.tmp + rename; log.jsonl is appended a line
 * at a time (flushed) and, on resume, rewritten through path.tmp + rename with the lines past the
 * checkpoint's step removed.  A log line's time_s is the wall time of the run's steps so far
 * (earlier invocations included, setup not), images_per_s the rate since the previous line.  A
 * fresh run (no resume) removes a model.ckpt and train.json left in the folder by an earlier run,
 * so the folder never mixes two runs.
 *
 * Stops.  A non-finite term or loss is reported as BH_ENUM (error.h's code for a NaN where a
 * number was required) before that phase's backward, so no update uses it.  SIGINT/SIGTERM set
 * a flag (the handlers are installed for the loop only and then restored; a second signal takes
 * the default action, which is safe as checkpoints are replaced atomically).
 */
#include "models/train.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/threads.h"

/* ---- one step ---- */

/* Let only group g take gradients (g < 0: every group). */
static void set_trainable(bh_model *m, int g) {
  for (int k = 0; k < m->ngroups; k++) bh_params_set_requires_grad(m->group[k], g < 0 || k == g);
}

static const char *nonfinite_name(double v) {
  return isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
}

/* BH_ENUM naming the first non-finite term (or the phase's loss when no term is). */
static int check_finite(const bh_terms *t, double loss, int phase) {
  for (int i = 0; i < t->n; i++)
    if (!isfinite(t->value[i]))
      return bh_error(BH_ENUM, "term '%s' is %s", t->name[i], nonfinite_name(t->value[i]));
  if (!isfinite(loss))
    return bh_error(BH_ENUM, "the loss of phase %d is %s", phase, nonfinite_name(loss));
  return BH_OK;
}

int bh_train_step(bh_model *m, bh_ctx *ctx, bh_adam **adam, const bh_batch *batches,
                  bh_rng *rng, bh_terms *terms) {
  if (!m || !ctx || !adam || !batches || !rng || !terms)
    return bh_error(BH_EINVAL, "bh_train_step: NULL argument");
  bh_error_clear();
  bh_ctx_reset(ctx);
  bh_terms_clear(terms);
  int st = BH_OK;
  for (int p = 0; p < m->nphases && st == BH_OK; p++) {
    int g = m->phase_group[p];
    if (g < 0 || g >= m->ngroups || !adam[g]) {
      st = bh_error(BH_EINVAL, "model %s: phase %d updates group %d of %d", m->cls->name, p, g,
                    m->ngroups);
      break;
    }
    set_trainable(m, g);
    bh_params_zero_grad(m->group[g]);
    bh_tensor *loss = m->cls->loss(m, ctx, p, batches, rng, terms);
    if (!loss) {
      st = bh_error_code();
      if (st == BH_OK)
        st = bh_error(BH_EINVAL, "model %s: phase %d returned no loss", m->cls->name, p);
      break;
    }
    if (loss->size != 1) {
      st = bh_error(BH_EINVAL, "model %s: the loss of phase %d has %zu values, not 1",
                    m->cls->name, p, loss->size);
      break;
    }
    /* before backward: a non-finite loss must not reach the parameters */
    st = check_finite(terms, loss->data[0], p);
    if (st == BH_OK) st = bh_backward(ctx, loss);
    if (st == BH_OK) st = bh_adam_step(adam[g]);
  }
  set_trainable(m, -1);
  return st;
}

/* ---- the run ---- */

static volatile sig_atomic_t g_stop_signal;

static void on_stop_signal(int sig) { g_stop_signal = sig; }

typedef struct train_run {
  bh_model *m;
  bh_dataset *ds;
  bh_rng *rng;
  const bh_train_opts *opts;

  long steps, batch, log_every, ckpt_every, subset;
  int nb;                /* batches per step */
  size_t n_used;         /* training examples (the subset or the split) */
  int *perm;             /* n_used dataset indices, the current epoch's order */
  long pos, epoch;       /* next example of the epoch; epochs begun before this one */
  gsl_rng *data_stream;

  long step;             /* steps done */
  long start_step;       /* step when this invocation began */
  long last_ckpt;        /* step of the last checkpoint on disk, -1 none */
  double elapsed0;       /* wall time of earlier invocations */
  double t0;             /* start of this invocation */
  double t_log;          /* time of the last log line */
  long step_log;         /* step of the last log line */
  double t_draw;         /* time of the last redrawn progress line */
  int progress;          /* 0 none, 1 plain lines, 2 redrawn line */

  bh_adam *adam[BH_MODEL_MAX_GROUPS];
  bh_ctx *ctx;
  bh_terms terms;

  /* batch buffers: nb batches back to back */
  size_t x_bytes;
  float *x;
  int *labels, *factors;
  uint8_t *attrs;
  size_t *idx;
  bh_batch *batches;

  FILE *log;
  char ckpt_path[4096], log_path[4096], config_path[4096], summary_path[4096];
} train_run;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* mkdir -p */
static int make_dirs(const char *path) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) return bh_error(BH_EINVAL, "--out: bad folder name '%s'", path);
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char c = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return bh_error(BH_EIO, "%s: cannot create folder: %s", buf, strerror(errno));
    buf[i] = c;
  }
  struct stat sb;
  if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return bh_error(BH_EIO, "%s: not a folder", path);
  return BH_OK;
}

static int join_path(char *out, size_t cap, const char *dir, const char *name) {
  int k = snprintf(out, cap, "%s/%s", dir, name);
  if (k < 0 || (size_t)k >= cap) return bh_error(BH_EINVAL, "%s: path too long", dir);
  return BH_OK;
}

static int write_text_atomic(const char *path, const char *text, size_t len) {
  bh_atomic_file af;
  int st = bh_atomic_open(&af, path);
  if (st != BH_OK) return st;
  if ((st = bh_atomic_write(&af, text, len)) != BH_OK) {
    bh_atomic_abort(&af);
    return st;
  }
  return bh_atomic_commit(&af);
}

/* Write obj (stolen) as indented JSON through path.tmp + rename. */
static int write_json_atomic(const char *path, json_t *obj) {
  if (!obj) return bh_error(BH_ENOMEM, "%s: out of memory", path);
  char *text = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(obj);
  if (!text) return bh_error(BH_ENOMEM, "%s: out of memory", path);
  size_t n = strlen(text);
  char *with_nl = realloc(text, n + 2);
  if (!with_nl) {
    free(text);
    return bh_error(BH_ENOMEM, "%s: out of memory", path);
  }
  with_nl[n] = '\n';
  with_nl[n + 1] = '\0';
  int st = write_text_atomic(path, with_nl, n + 1);
  free(with_nl);
  return st;
}

static long cfg_long(const bh_config *cfg, const char *key, int *ok) {
  if (!bh_config_has(cfg, key)) {
    *ok = 0;
    bh_error(BH_EINVAL, "configuration: key '%s' is not declared", key);
    return 0;
  }
  return bh_config_int(cfg, key);
}

static int read_settings(train_run *r) {
  const bh_config *cfg = r->m->cfg;
  int ok = 1;
  r->steps = cfg_long(cfg, "steps", &ok);
  if (ok) r->batch = cfg_long(cfg, "batch_size", &ok);
  if (ok) r->log_every = cfg_long(cfg, "log_every", &ok);
  if (ok) r->ckpt_every = cfg_long(cfg, "ckpt_every", &ok);
  if (ok) r->subset = cfg_long(cfg, "subset", &ok);
  if (!ok) return BH_EINVAL;
  if (r->steps < 0) return bh_error(BH_EINVAL, "steps: %ld is negative", r->steps);
  if (r->batch < 1 || r->batch > (1 << 20))
    return bh_error(BH_EINVAL, "batch_size: %ld is outside 1..%d", r->batch, 1 << 20);
  if (r->subset < 0) return bh_error(BH_EINVAL, "subset: %ld is negative", r->subset);
  r->nb = r->m->batches_per_step;
  if (r->nb < 1 || r->nb > 64)
    return bh_error(BH_EINVAL, "model %s: %d batches per step", r->m->cls->name, r->nb);
  return BH_OK;
}

static int check_data(train_run *r) {
  const bh_dataset *ds = r->ds;
  const bh_data_info *d = &r->m->data;
  if (ds->n > (size_t)INT32_MAX)
    return bh_error(BH_EINVAL, "%s: %zu examples, more than the loop handles", ds->source, ds->n);
  if (ds->c != d->c || ds->h != d->h || ds->w != d->w)
    return bh_error(BH_EINVAL, "%s: images are %d×%d×%d, the model was made for %d×%d×%d",
                    ds->source, ds->c, ds->h, ds->w, d->c, d->h, d->w);
  if (r->subset > 0 && (size_t)r->subset > ds->n)
    return bh_error(BH_EINVAL, "subset: %ld is more than the %zu examples of %s", r->subset,
                    ds->n, ds->source);
  r->n_used = r->subset > 0 ? (size_t)r->subset : ds->n;
  if (d->n != r->n_used)
    return bh_error(BH_EINVAL,
                    "model %s was made for %zu training examples, the run uses %zu (%s%s)",
                    r->m->cls->name, d->n, r->n_used, ds->source,
                    r->subset > 0 ? ", subset" : "");
  if (r->n_used < (size_t)r->batch)
    return bh_error(BH_EINVAL, "batch_size: %ld is more than the %zu training examples",
                    r->batch, r->n_used);
  return BH_OK;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* The first epoch's order: the training indices (subset drawn from stream "subset", sorted),
 * shuffled with stream "data". */
static int data_order_init(train_run *r) {
  size_t n = r->ds->n;
  r->data_stream = bh_rng_stream(r->rng, "data");
  if (!r->data_stream) return bh_error_code();
  if (r->subset > 0) {
    gsl_rng *g = bh_rng_stream(r->rng, "subset");
    int *all = malloc(n * sizeof *all);
    if (!g || !all) {
      free(all);
      return bh_error(BH_ENOMEM, "subset: out of memory");
    }
    for (size_t i = 0; i < n; i++) all[i] = (int)i;
    for (size_t i = 0; i < r->n_used; i++) { /* partial Fisher–Yates: all[0..i] is the draw */
      size_t j = i + gsl_rng_uniform_int(g, n - i);
      int t = all[i];
      all[i] = all[j];
      all[j] = t;
    }
    memcpy(r->perm, all, r->n_used * sizeof *all);
    free(all);
    qsort(r->perm, r->n_used, sizeof *r->perm, cmp_int);
  } else {
    for (size_t i = 0; i < n; i++) r->perm[i] = (int)i;
  }
  bh_rng_shuffle_int(r->data_stream, r->perm, (int)r->n_used);
  r->pos = 0;
  r->epoch = 0;
  return BH_OK;
}

static int alloc_buffers(train_run *r) {
  size_t B = (size_t)r->batch, nb = (size_t)r->nb, D = bh_dataset_image_size(r->ds);
  const bh_dataset *ds = r->ds;
  r->perm = malloc(r->n_used * sizeof *r->perm);
  r->idx = malloc(B * sizeof *r->idx);
  r->batches = calloc(nb, sizeof *r->batches);
  r->x_bytes = nb * B * D * sizeof(float);
  r->x = bh_big_alloc(r->x_bytes);
  if (ds->nclasses > 0) r->labels = malloc(nb * B * sizeof *r->labels);
  if (ds->nattrs > 0) r->attrs = malloc(nb * B * (size_t)ds->nattrs);
  if (ds->nfactors > 0) r->factors = malloc(nb * B * (size_t)ds->nfactors * sizeof(int));
  r->ctx = bh_ctx_alloc((size_t)64 << 20);
  if (!r->perm || !r->idx || !r->batches || !r->x || !r->ctx ||
      (ds->nclasses > 0 && !r->labels) || (ds->nattrs > 0 && !r->attrs) ||
      (ds->nfactors > 0 && !r->factors))
    return bh_error(BH_ENOMEM, "training buffers: out of memory");
  for (size_t k = 0; k < nb; k++) {
    bh_batch *b = &r->batches[k];
    b->n = (int)B;
    b->x = r->x + k * B * D;
    b->labels = r->labels ? r->labels + k * B : NULL;
    b->attrs = r->attrs ? r->attrs + k * B * (size_t)ds->nattrs : NULL;
    b->factors = r->factors ? r->factors + k * B * (size_t)ds->nfactors : NULL;
  }
  for (int g = 0; g < r->m->ngroups; g++) {
    r->adam[g] = bh_adam_alloc(r->m->group[g], r->m->adam[g]);
    if (!r->adam[g]) return bh_error_code() ? bh_error_code() : BH_ENOMEM;
  }
  return BH_OK;
}

static void free_buffers(train_run *r) {
  for (int g = 0; g < BH_MODEL_MAX_GROUPS; g++) bh_adam_free(r->adam[g]);
  bh_ctx_free(r->ctx);
  if (r->x) bh_big_free(r->x, r->x_bytes);
  free(r->labels);
  free(r->attrs);
  free(r->factors);
  free(r->idx);
  free(r->batches);
  free(r->perm);
  if (r->log) fclose(r->log);
}

/* Fill the step's batches from the data order. */
static int fetch_batches(train_run *r) {
  bh_dataset *ds = r->ds;
  size_t B = (size_t)r->batch;
  for (int k = 0; k < r->nb; k++) {
    if ((size_t)r->pos + B > r->n_used) { /* the rest of the epoch is dropped */
      bh_rng_shuffle_int(r->data_stream, r->perm, (int)r->n_used);
      r->pos = 0;
      r->epoch++;
    }
    for (size_t i = 0; i < B; i++) r->idx[i] = (size_t)r->perm[(size_t)r->pos + i];
    r->pos += (long)B;
    bh_batch *b = &r->batches[k];
    int st = bh_dataset_images(ds, r->idx, B, (float *)b->x);
    if (st == BH_OK && b->labels) st = bh_dataset_labels(ds, r->idx, B, (int *)b->labels);
    if (st == BH_OK && b->attrs) st = bh_dataset_attrs(ds, r->idx, B, (uint8_t *)b->attrs);
    if (st != BH_OK) return st;
    if (b->factors)
      for (size_t i = 0; i < B; i++)
        bh_dataset_factors_of(ds, r->idx[i], (int *)b->factors + i * (size_t)ds->nfactors);
  }
  return BH_OK;
}

/* ---- checkpoints ---- */

static int write_checkpoint(train_run *r) {
  bh_ckpt_writer *w = bh_ckpt_writer_alloc();
  if (!w) return bh_error(BH_ENOMEM, "%s: out of memory", r->ckpt_path);
  int st = bh_model_save(r->m, w);
  for (int g = 0; g < r->m->ngroups && st == BH_OK; g++) {
    char prefix[256];
    snprintf(prefix, sizeof prefix, "adam.%s", r->m->group_name[g]);
    st = bh_adam_save(r->adam[g], w, prefix);
  }
  size_t rn = bh_rng_state_size(r->rng);
  unsigned char *buf = malloc(rn > r->n_used * 4 ? rn : r->n_used * 4);
  if (!buf && st == BH_OK) st = bh_error(BH_ENOMEM, "%s: out of memory", r->ckpt_path);
  if (st == BH_OK) st = bh_rng_state_get(r->rng, buf, rn);
  if (st == BH_OK) st = bh_ckpt_add_bytes(w, "rng", buf, rn);
  if (st == BH_OK) {
    for (size_t i = 0; i < r->n_used; i++) bh_le_put32(buf + 4 * i, (uint32_t)r->perm[i]);
    st = bh_ckpt_add_bytes(w, "data.perm", buf, r->n_used * 4);
  }
  if (st == BH_OK) st = bh_ckpt_add_i64(w, "data.pos", r->pos);
  if (st == BH_OK) st = bh_ckpt_add_i64(w, "data.epoch", r->epoch);
  if (st == BH_OK) st = bh_ckpt_add_i64(w, "train.step", r->step);
  if (st == BH_OK) st = bh_ckpt_add_f64(w, "train.seconds", r->elapsed0 + now_s() - r->t0);
  if (st == BH_OK) st = bh_ckpt_write(w, r->ckpt_path);
  free(buf);
  bh_ckpt_writer_free(w);
  if (st == BH_OK) r->last_ckpt = r->step;
  return st;
}

static int resume_error(const char *path, const char *what) {
  return bh_error(BH_EFORMAT, "%s: %s", path, what);
}

/* Restore parameters, optimisers, RNG streams, data order and step from DIR/model.ckpt. */
static int load_checkpoint(train_run *r) {
  const char *path = r->ckpt_path;
  bh_ckpt *ck = bh_ckpt_read(path);
  if (!ck) return bh_error_code();
  int st = BH_OK;
  char prefix[256];
  for (int g = 0; g < r->m->ngroups && st == BH_OK; g++) {
    snprintf(prefix, sizeof prefix, "param.%s.", r->m->group_name[g]);
    st = bh_ckpt_load_params(ck, prefix, r->m->group[g]);
    if (st == BH_OK) {
      snprintf(prefix, sizeof prefix, "adam.%s", r->m->group_name[g]);
      st = bh_adam_load(r->adam[g], ck, prefix);
    }
  }
  size_t len = 0;
  const unsigned char *bytes = NULL;
  int64_t step = 0, pos = 0, epoch = 0;
  double seconds = 0;
  if (st == BH_OK) {
    bytes = bh_ckpt_find_bytes(ck, "rng", &len);
    st = bytes ? bh_rng_state_set(r->rng, bytes, len) : bh_error_code();
  }
  if (st == BH_OK) st = bh_ckpt_find_i64(ck, "train.step", &step);
  if (st == BH_OK) st = bh_ckpt_find_i64(ck, "data.pos", &pos);
  if (st == BH_OK) st = bh_ckpt_find_i64(ck, "data.epoch", &epoch);
  if (st == BH_OK) st = bh_ckpt_find_f64(ck, "train.seconds", &seconds);
  if (st == BH_OK) {
    bytes = bh_ckpt_find_bytes(ck, "data.perm", &len);
    if (!bytes) st = bh_error_code();
    else if (len != r->n_used * 4)
      st = bh_error(BH_EINVAL, "%s: the data order is for %zu examples, the run uses %zu", path,
                    len / 4, r->n_used);
  }
  if (st == BH_OK && (step < 0 || pos < 0 || (uint64_t)pos > r->n_used || epoch < 0))
    st = resume_error(path, "train.step, data.pos or data.epoch out of range");
  for (size_t i = 0; st == BH_OK && i < r->n_used; i++) {
    uint32_t v = bh_le_get32(bytes + 4 * i);
    if (v >= r->ds->n) st = resume_error(path, "data.perm names an example the data does not have");
    r->perm[i] = (int)v;
  }
  /* after the restore: a stream made before it would change the streams' order in the state */
  if (st == BH_OK && !(r->data_stream = bh_rng_stream(r->rng, "data"))) st = bh_error_code();
  if (st == BH_OK) {
    r->step = r->start_step = r->last_ckpt = (long)step;
    r->pos = (long)pos;
    r->epoch = (long)epoch;
    r->elapsed0 = seconds;
  }
  bh_ckpt_free(ck);
  return st;
}

/* Keep the lines of log.jsonl whose step is at most `step` (a torn last line goes too). */
static int cut_log(const char *path, long step) {
  FILE *f = fopen(path, "rb");
  if (!f) return errno == ENOENT ? BH_OK : bh_error(BH_EIO, "%s: %s", path, strerror(errno));
  char *kept = NULL, *line = NULL;
  size_t kept_len = 0, kept_cap = 0, line_cap = 0;
  ssize_t n;
  int st = BH_OK;
  while (st == BH_OK && (n = getline(&line, &line_cap, f)) > 0) {
    if (line[n - 1] != '\n') break; /* torn */
    json_t *obj = json_loadb(line, (size_t)n, 0, NULL);
    json_t *s = obj ? json_object_get(obj, "step") : NULL;
    int keep = s && json_is_integer(s) && json_integer_value(s) <= step;
    json_decref(obj);
    if (!keep) continue;
    if (kept_len + (size_t)n > kept_cap) {
      size_t cap = 2 * (kept_len + (size_t)n) + 4096;
      char *k = realloc(kept, cap);
      if (!k) {
        st = bh_error(BH_ENOMEM, "%s: out of memory", path);
        break;
      }
      kept = k, kept_cap = cap;
    }
    memcpy(kept + kept_len, line, (size_t)n);
    kept_len += (size_t)n;
  }
  if (st == BH_OK && ferror(f)) st = bh_error(BH_EIO, "%s: read failed", path);
  fclose(f);
  free(line);
  if (st == BH_OK) st = write_text_atomic(path, kept ? kept : "", kept_len);
  free(kept);
  return st;
}

/* ---- metadata ---- */

static json_t *data_json(const train_run *r) {
  const bh_dataset *ds = r->ds;
  const bh_data_info *d = &r->m->data;
  json_t *o = json_object(), *sizes = json_array();
  for (int k = 0; k < d->nfactors; k++)
    json_array_append_new(sizes, json_integer(d->factor_sizes[k]));
  const char *spec = r->opts->data_spec;
  json_object_set_new(o, "spec", spec ? json_string(spec) : json_null());
  json_object_set_new(o, "kind", json_string(ds->kind ? ds->kind : ""));
  json_object_set_new(o, "source", json_string(ds->source));
  json_object_set_new(o, "examples", json_integer((json_int_t)ds->n));
  json_object_set_new(o, "examples_used", json_integer((json_int_t)r->n_used));
  json_object_set_new(o, "c", json_integer(d->c));
  json_object_set_new(o, "h", json_integer(d->h));
  json_object_set_new(o, "w", json_integer(d->w));
  json_object_set_new(o, "nclasses", json_integer(d->nclasses));
  json_object_set_new(o, "nattrs", json_integer(d->nattrs));
  json_object_set_new(o, "nfactors", json_integer(d->nfactors));
  json_object_set_new(o, "factor_sizes", sizes);
  return o;
}

static int write_config(const train_run *r) {
  const bh_model *m = r->m;
  json_t *o = json_object(), *params = json_object();
  for (int g = 0; g < m->ngroups; g++)
    json_object_set_new(params, m->group_name[g],
                        json_integer((json_int_t)bh_model_group_param_count(m, g)));
  json_object_set_new(params, "total", json_integer((json_int_t)bh_model_param_count(m)));
  json_object_set_new(o, "model", json_string(m->cls->name));
  json_object_set_new(o, "config", bh_config_json(m->cfg));
  json_object_set_new(o, "data", data_json(r));
  json_object_set_new(o, "seed", json_integer((json_int_t)bh_rng_seed(r->rng)));
  json_object_set_new(o, "threads", json_integer(openblas_get_num_threads()));
  json_object_set_new(o, "pool_threads", json_integer(bh_threads_get()));
  json_object_set_new(o, "batches_per_step", json_integer(m->batches_per_step));
  json_object_set_new(o, "params", params);
  if (r->opts->resume) json_object_set_new(o, "resumed_from_step", json_integer(r->step));
  json_object_set_new(o, "versions", bh_versions_json());
  return write_json_atomic(r->config_path, o);
}

static json_t *terms_json(const bh_terms *t) {
  json_t *o = json_object();
  for (int i = 0; i < t->n; i++) json_object_set_new(o, t->name[i], json_real(t->value[i]));
  return o;
}

static double images_per_step(const train_run *r) { return (double)r->batch * r->nb; }

/* The loss terms of log.jsonl's line for step (every key but step, time_s, images_per_s), or
 * NULL when the log has no such line: what a resume with nothing left to do can say of the
 * last step, which it did not run. */
static json_t *logged_terms(const char *path, long step) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  json_t *terms = NULL;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0) {
    json_t *obj = json_loadb(line, (size_t)n, 0, NULL);
    json_t *s = obj ? json_object_get(obj, "step") : NULL;
    if (s && json_is_integer(s) && json_integer_value(s) == step) {
      json_decref(terms);
      terms = json_deep_copy(obj);
      json_object_del(terms, "step");
      json_object_del(terms, "time_s");
      json_object_del(terms, "images_per_s");
    }
    json_decref(obj);
  }
  free(line);
  fclose(f);
  return terms;
}

/* train.json.  A run resumed with nothing left to do (killed after its last checkpoint, before
 * this file) gets it too, from the checkpoint's step and wall time and the log's last terms. */
static int write_summary(const train_run *r, double seconds) {
  json_t *o = json_object();
  long done = r->step - r->start_step;
  double rate = seconds > 0 ? done * images_per_step(r) / seconds : 0.0;
  json_t *terms = terms_json(&r->terms);
  if (done == 0) {
    rate = r->elapsed0 > 0 ? r->step * images_per_step(r) / r->elapsed0 : 0.0;
    json_t *logged = logged_terms(r->log_path, r->step);
    if (logged) json_decref(terms), terms = logged;
  }
  json_object_set_new(o, "model", json_string(r->m->cls->name));
  json_object_set_new(o, "steps", json_integer(r->step));
  json_object_set_new(o, "steps_this_run", json_integer(done));
  json_object_set_new(o, "seconds", json_real(seconds));
  json_object_set_new(o, "total_seconds", json_real(r->elapsed0 + seconds));
  json_object_set_new(o, "images_per_s", json_real(rate));
  json_object_set_new(o, "threads", json_integer(openblas_get_num_threads()));
  json_object_set_new(o, "pool_threads", json_integer(bh_threads_get()));
  json_object_set_new(o, "terms", terms);
  return write_json_atomic(r->summary_path, o);
}

/* ---- log and progress ---- */

static int write_log_line(train_run *r, double now) {
  double dt = now - r->t_log;
  double rate = dt > 0 ? (double)(r->step - r->step_log) * images_per_step(r) / dt : 0.0;
  fprintf(r->log, "{\"step\": %ld, \"time_s\": %.3f, \"images_per_s\": %.1f", r->step,
          r->elapsed0 + now - r->t0, rate);
  for (int i = 0; i < r->terms.n; i++)
    fprintf(r->log, ", \"%s\": %.17g", r->terms.name[i], r->terms.value[i]);
  fputs("}\n", r->log);
  if (fflush(r->log) != 0 || ferror(r->log))
    return bh_error(BH_EIO, "%s: write failed: %s", r->log_path, strerror(errno));
  r->t_log = now;
  r->step_log = r->step;
  return BH_OK;
}

static void format_duration(char *out, size_t cap, double s) {
  long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
  if (t >= 3600) snprintf(out, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else if (t >= 60) snprintf(out, cap, "%ldm%02lds", t / 60, t % 60);
  else snprintf(out, cap, "%lds", t);
}

/* "step 120/5000  1693 img/s  ETA 2m53s  loss 95.3  recon 80.1  kl 15.2" into out. */
static void progress_text(const train_run *r, double now, char *out, size_t cap) {
  double dt = now - r->t0;
  double rate = dt > 0 ? (double)(r->step - r->start_step) * images_per_step(r) / dt : 0.0;
  char eta[32];
  format_duration(eta, sizeof eta,
                  rate > 0 ? (double)(r->steps - r->step) * images_per_step(r) / rate : 0.0);
  size_t k = (size_t)snprintf(out, cap, "step %ld/%ld  %.0f img/s  ETA %s", r->step, r->steps,
                              rate, eta);
  for (int i = 0; i < r->terms.n && i < 6 && k < cap; i++)
    k += (size_t)snprintf(out + k, cap - k, "  %s %.4g", r->terms.name[i], r->terms.value[i]);
}

static void progress_update(train_run *r, double now, int logged, int last) {
  char line[512];
  if (r->progress == 1 && logged) {
    progress_text(r, now, line, sizeof line);
    fprintf(stderr, "%s\n", line);
  } else if (r->progress == 2 && (last || now - r->t_draw >= 0.25)) {
    progress_text(r, now, line, sizeof line);
    fprintf(stderr, "\r%s\033[K%s", line, last ? "\n" : "");
    r->t_draw = now;
  }
}

/* ---- the loop ---- */

/* Prefix the current message with "step N: " (and the checkpoint for a NaN). */
static int step_error(const train_run *r, int st) {
  char msg[768];
  snprintf(msg, sizeof msg, "%s", bh_error_message());
  if (st != BH_ENUM) return bh_error(st, "step %ld: %s", r->step + 1, msg);
  if (r->last_ckpt >= 0)
    return bh_error(st, "step %ld: %s (last good checkpoint: %s at step %ld)", r->step + 1, msg,
                    r->ckpt_path, r->last_ckpt);
  return bh_error(st, "step %ld: %s (no checkpoint written yet)", r->step + 1, msg);
}

static int run_loop(train_run *r) {
  const bh_train_opts *o = r->opts;
  double now = now_s();
  r->t_log = r->t_draw = now;
  r->step_log = r->step;
  int st = BH_OK;
  while (r->step < r->steps) {
    st = fetch_batches(r);
    if (st == BH_OK) st = bh_train_step(r->m, r->ctx, r->adam, r->batches, r->rng, &r->terms);
    if (st != BH_OK) return step_error(r, st);
    r->step++;
    now = now_s();
    int last = r->step == r->steps;
    int logged = last || (r->log_every > 0 && r->step % r->log_every == 0);
    if (logged && (st = write_log_line(r, now)) != BH_OK) return st;
    int stop = !last && (g_stop_signal || (o->stop_at > 0 && r->step == o->stop_at));
    progress_update(r, now, logged, last || stop);
    if (last || stop || (r->ckpt_every > 0 && r->step % r->ckpt_every == 0))
      if ((st = write_checkpoint(r)) != BH_OK) return st;
    if (stop) return BH_TRAIN_STOPPED;
  }
  return BH_OK;
}

static int run_setup(train_run *r) {
  const bh_train_opts *o = r->opts;
  int st = read_settings(r);
  if (st == BH_OK) st = check_data(r);
  if (st == BH_OK) st = make_dirs(o->out_dir);
  if (st == BH_OK) st = join_path(r->ckpt_path, sizeof r->ckpt_path, o->out_dir, "model.ckpt");
  if (st == BH_OK) st = join_path(r->log_path, sizeof r->log_path, o->out_dir, "log.jsonl");
  if (st == BH_OK)
    st = join_path(r->config_path, sizeof r->config_path, o->out_dir, "config.json");
  if (st == BH_OK)
    st = join_path(r->summary_path, sizeof r->summary_path, o->out_dir, "train.json");
  if (st == BH_OK) st = alloc_buffers(r);
  if (st != BH_OK) return st;
  if (o->resume) {
    st = load_checkpoint(r);
    if (st == BH_OK) st = cut_log(r->log_path, r->step);
  } else {
    st = data_order_init(r);
    unlink(r->ckpt_path); /* an earlier run's results must not pass for this run's */
    unlink(r->summary_path);
  }
  if (st == BH_OK) st = write_config(r);
  if (st != BH_OK) return st;
  r->log = fopen(r->log_path, o->resume ? "ab" : "wb");
  if (!r->log) return bh_error(BH_EIO, "%s: cannot open: %s", r->log_path, strerror(errno));
  r->progress = o->progress < 0 ? (isatty(STDERR_FILENO) ? 2 : 1) : o->progress > 0 ? 1 : 0;
  return BH_OK;
}

int bh_train_run(bh_model *m, bh_dataset *ds, bh_rng *rng, const bh_train_opts *opts,
                 bh_train_summary *summary) {
  if (!m || !ds || !rng || !opts || !opts->out_dir)
    return bh_error(BH_EINVAL, "bh_train_run: NULL argument");
  train_run *r = calloc(1, sizeof *r);
  if (!r) return bh_error(BH_ENOMEM, "bh_train_run: out of memory");
  r->m = m, r->ds = ds, r->rng = rng, r->opts = opts;
  r->last_ckpt = -1;
  r->t0 = now_s();
  int st = run_setup(r);
  double t_start = now_s();
  if (st == BH_OK) {
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    /* a second Ctrl-C kills at once (checkpoints are written atomically, so that is safe) */
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    g_stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    r->t0 = t_start; /* rates and the log's time_s count the steps only */
    st = run_loop(r);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (st != BH_OK && st != BH_TRAIN_STOPPED && r->progress == 2 && r->step > r->start_step)
      fputc('\n', stderr); /* end the redrawn line before the caller prints the error */
  }
  double seconds = now_s() - t_start;
  /* a resumed run that had nothing left to do keeps the summary of the run that did it, and
   * writes the one that run could not */
  if (st == BH_OK &&
      (!opts->resume || r->step > r->start_step || access(r->summary_path, F_OK) != 0))
    st = write_summary(r, seconds);
  if (summary) {
    summary->steps_done = r->step;
    summary->steps_this_run = r->step - r->start_step;
    summary->seconds = seconds;
    summary->images_per_s =
        seconds > 0 ? (double)(r->step - r->start_step) * images_per_step(r) / seconds : 0.0;
    summary->last = r->terms;
  }
  free_buffers(r);
  free(r);
  return st;
}
