/* cmd_eval.c — `bhivae eval DIR`: every metric of a trained model on its dataset into one JSON
 * file (DIR/eval.json), each computed exactly as `bhivae metric NAME --checkpoint DIR` computes
 * it (cmd_metric.c, bh_cli_metric_model): the same protocol, a fresh random stream of the same
 * seed for each metric. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_randist.h>
#include <jansson.h>

#include "cli/cli_model.h"
#include "cli/commands.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/threads.h"
#include "datasets/dataset.h"
#include "metrics/metric.h"
#include "metrics/metrics.h"
#include "models/labels.h"
#include "models/model.h"

#define CMD "eval"
#define PROBE_TRAIN 10000 /* --probe-target on data without a split: the seeded samples */
#define PROBE_TEST 5000

static const char usage_text[] =
    "Usage: bhivae eval DIR [--data NAME] [--seed S] [--metrics LIST] [--out FILE]\n"
    "                       [--probe-target SPEC] [--threads T] [sample sizes]\n"
    "       bhivae eval --checkpoint FILE [options]\n"
    "\n"
    "Every metric of the model trained in DIR (DIR/model.ckpt, or a checkpoint file) into one\n"
    "JSON file: the model, data, checkpoint, step, stored configuration, seed, threads,\n"
    "library versions and, per metric, its result (score, variant, counts, details) and the\n"
    "seconds it took.  Each metric is computed as 'bhivae metric NAME --checkpoint DIR' does,\n"
    "from its own random stream of the seed.\n"
    "\n"
    "Metrics (--metrics takes a comma-separated list of these names; a family name such as\n"
    "sap or zdiff selects every variant of it):\n"
    "  datasets with ground-truth factors (dSprites), all by default:\n"
    "    mig                disentanglement_lib MIG, 10,000 points, 20 bins\n"
    "    sap                SAP, discrete (linear SVM), 10,000 train / 5,000 test points\n"
    "    sap-continuous     SAP, continuous (squared correlation), the same points\n"
    "    zdiff              Z-diff (BetaVAE score), liblinear one-vs-rest logistic regression\n"
    "    zdiff-multinomial  Z-diff, multinomial logistic regression (L-BFGS)\n"
    "    factorvae          FactorVAE score\n"
    "    dci                DCI disentanglement, completeness, informativeness\n"
    "    mig-chen           Chen et al.'s MIG over the whole dataset (slow: minutes; shows its\n"
    "                       progress and ETA)\n"
    "  labelled datasets (MNIST format):\n"
    "    probe              logistic regression on the train split's codes, test accuracy (%)\n"
    "    probe-mlp          the same with a small MLP (only when named)\n"
    "  any dataset, with --probe-target:\n"
    "    probe, probe-mlp   the same probes predicting the target instead of the class\n"
    "\n"
    "--probe-target SPEC: what the probes predict (one label; models/labels.h): labels,\n"
    "attrs:i (CelebA), factors:i (dSprites), or a binary one-vs-rest target such as\n"
    "factors:0=2 ([shape == heart]) or attrs:8=1.  The train and test splits when the data has\n"
    "them (every example), else a seeded draw of 10,000 train and 5,000 test examples, all\n"
    "distinct (fewer when the data is smaller: 2/3 and 1/3 of it).  eval.json's probe entries\n"
    "record the target and the sample.\n"
    "\n"
    "Options:\n"
    "  --data NAME     the dataset (default: the one the model was trained on)\n"
    "  --seed S        the seed of every metric's draws (default 0)\n"
    "  --out FILE      the JSON file (default: eval.json beside the checkpoint)\n"
    "  --threads T     threads for the encoder and the metrics (default: the cores)\n"
    "\n"
    "Sample sizes (default: the protocol's; smaller ones are quicker and noisier, and\n"
    "eval.json records the counts used):\n"
    "  --num-train N, --num-eval N          codes of mig, sap and dci (10000, 5000)\n"
    "  --sampler-train N, --sampler-eval N  points of zdiff and factorvae (10000, 5000)\n";


/* One entry of eval.json. */
typedef struct eval_metric {
  const char *key;     /* its name in eval.json and in --metrics */
  const char *family;  /* --metrics selects every entry of a family by this name */
  const char *metric;  /* the metric of cmd_metric.c, and its variant */
  const char *variant;
  int labels;          /* needs class labels (else ground-truth factors) */
  int by_default;
} eval_metric;

static const eval_metric eval_metrics[] = {
    {"mig", "mig", "mig", NULL, 0, 1},
    {"sap", "sap", "sap", NULL, 0, 1},
    {"sap-continuous", "sap", "sap", "continuous", 0, 1},
    {"zdiff", "zdiff", "zdiff", NULL, 0, 1},
    {"zdiff-multinomial", "zdiff", "zdiff", "multinomial", 0, 1},
    {"factorvae", "factorvae", "factorvae", NULL, 0, 1},
    {"dci", "dci", "dci", NULL, 0, 1},
    {"mig-chen", "mig-chen", "mig-chen", NULL, 0, 1},
    {"probe", "probe", "probe", NULL, 1, 1},
    {"probe-mlp", "probe-mlp", "probe", "mlp", 1, 0},
};
#define NEVAL ((int)(sizeof eval_metrics / sizeof eval_metrics[0]))
#define EVAL_NAMES \
  "mig, sap, sap-continuous, zdiff, zdiff-multinomial, factorvae, dci, mig-chen, probe, " \
  "probe-mlp"

typedef struct eval_args {
  const char *path, *checkpoint, *data, *seed_arg, *metrics, *out, *threads, *probe_target;
  const char *size_arg[4]; /* --num-train, --num-eval, --sampler-train, --sampler-eval */
  int help;
  bh_cli_metric_sizes sizes;
  unsigned long long seed;
  bh_label_spec target; /* parsed --probe-target (when given) */
} eval_args;

/* What the dataset offers the metrics: ground-truth factors, class labels. */
typedef struct data_kind {
  int nfactors, nclasses;
  int target; /* --probe-target given: the probes predict it, labels or not */
  int gaussian; /* the model's encoder gives variances (Chen's MIG needs q(z|x)) */
} data_kind;

static int needs_gaussian(const eval_metric *e) { return strcmp(e->metric, "mig-chen") == 0; }

static int applies(const eval_metric *e, data_kind k) {
  if (needs_gaussian(e) && !k.gaussian) return 0;
  return e->labels ? k.nclasses > 0 || k.target : k.nfactors > 0;
}

/* The entries to compute: --metrics (each name a key or a family; one that does not apply to
 * the dataset is a usage error), else every default one that applies. */
static int select_metrics(const eval_args *a, data_kind ds, const char *spec, int *chosen) {
  int any = 0;
  for (int i = 0; i < NEVAL; i++) chosen[i] = !a->metrics && eval_metrics[i].by_default &&
                                              applies(&eval_metrics[i], ds);
  for (const char *p = a->metrics; p && *p;) {
    size_t len = strcspn(p, ",");
    int found = 0;
    for (int i = 0; i < NEVAL; i++) {
      const eval_metric *e = &eval_metrics[i];
      if (!((strlen(e->key) == len && strncmp(e->key, p, len) == 0) ||
            (strlen(e->family) == len && strncmp(e->family, p, len) == 0)))
        continue;
      if (needs_gaussian(e) && !ds.gaussian)
        return bh_cli_usage(CMD, "--metrics: %s needs a Gaussian encoder (the variances of "
                            "q(z|x)); this model's encoder is deterministic", e->key);
      if (!applies(e, ds))
        return bh_cli_usage(CMD, "--metrics: %s needs %s; %s has none", e->key,
                            e->labels ? "class labels (or --probe-target)"
                                      : "ground-truth factors", spec);
      chosen[i] = found = 1;
    }
    if (!found)
      return bh_cli_usage(CMD, "--metrics: '%.*s': unknown metric (" EVAL_NAMES ")", (int)len, p);
    p += len + (p[len] == ',');
  }
  for (int i = 0; i < NEVAL; i++) any |= chosen[i];
  if (!any)
    return bh_cli_fail("%s: no metric applies (no ground-truth factors, no class labels)", spec);
  return BH_EXIT_OK;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- --probe-target */

/* The probe's examples: codes and target values of idx[0..n-1] of ds. */
typedef struct probe_part {
  size_t n;
  size_t *idx;
  int *y;
  float *x;
} probe_part;

static void probe_part_free(probe_part *p) {
  free(p->idx);
  free(p->y);
  free(p->x);
  memset(p, 0, sizeof *p);
}

int bh_cli_label_values(const bh_label_spec *t, int entry, bh_dataset *ds, const size_t *idx,
                        size_t n, const char *what, int *y) {
  int *labels = NULL, f[BH_DATASET_MAX_FACTORS], st = BH_EXIT_OK;
  uint8_t *attrs = NULL;
  if (t->source == BH_LABEL_CLASSES) labels = malloc((n ? n : 1) * sizeof *labels);
  if (t->source == BH_LABEL_ATTRS) attrs = malloc((n ? n : 1) * (size_t)ds->nattrs);
  if ((t->source == BH_LABEL_CLASSES && !labels) || (t->source == BH_LABEL_ATTRS && !attrs))
    st = bh_cli_fail("out of memory for %zu labels", n);
  else if ((labels && bh_dataset_labels(ds, idx, n, labels) != BH_OK) ||
           (attrs && bh_dataset_attrs(ds, idx, n, attrs) != BH_OK))
    st = bh_cli_fail_lib();
  for (size_t i = 0; !st && i < n; i++) {
    if (t->source == BH_LABEL_FACTORS) bh_dataset_factors_of(ds, idx[i], f);
    y[i] = bh_label_spec_value(t, entry, labels ? labels[i] : -1,
                               attrs ? attrs + i * (size_t)ds->nattrs : NULL, ds->nattrs,
                               t->source == BH_LABEL_FACTORS ? f : NULL, ds->nfactors);
    if (y[i] < 0)
      st = bh_cli_fail("%s %s: example %zu of %s has no value", what, t->text, idx[i],
                       ds->source);
  }
  free(labels);
  free(attrs);
  return st;
}

/* The target of examples p->idx (from their factors, labels or attributes, whichever the spec
 * reads) and their encoder means. */
static int probe_part_fill(const eval_args *a, bh_model *m, bh_dataset *ds, probe_part *p) {
  size_t n = p->n;
  int st = BH_EXIT_OK;
  p->y = malloc((n ? n : 1) * sizeof *p->y);
  p->x = malloc((n ? n : 1) * (size_t)m->z_dim * sizeof *p->x);
  if (!p->y || !p->x) st = bh_cli_fail("out of memory for %zu probe examples", n);
  else st = bh_cli_label_values(&a->target, 0, ds, p->idx, n, "--probe-target", p->y);
  if (!st && bh_cli_model_encode(m, ds, p->idx, n, p->x, NULL) != BH_OK) st = bh_cli_fail_lib();
  return st;
}

/* Every example of a split, in order. */
static int probe_part_all(probe_part *p, size_t n) {
  p->n = n;
  if (!(p->idx = malloc((n ? n : 1) * sizeof *p->idx)))
    return bh_cli_fail("out of memory for %zu probe examples", n);
  for (size_t i = 0; i < n; i++) p->idx[i] = i;
  return BH_EXIT_OK;
}

void bh_cli_draw_shuffled(size_t n, size_t count, gsl_rng *g, size_t *out) {
  size_t chosen = 0;
  for (size_t i = 0; i < n && chosen < count; i++)
    if ((double)(n - i) * gsl_rng_uniform(g) < (double)(count - chosen)) out[chosen++] = i;
  gsl_ran_shuffle(g, out, count, sizeof *out);
}

/* PROBE_TRAIN + PROBE_TEST distinct examples of n (2/3 and 1/3 of n when n is smaller): a
 * selection sample from g, shuffled by g, cut in two. */
static int probe_parts_draw(size_t n, gsl_rng *g, probe_part *tr, probe_part *te) {
  size_t total = n < PROBE_TRAIN + PROBE_TEST ? n : PROBE_TRAIN + PROBE_TEST;
  tr->n = n < PROBE_TRAIN + PROBE_TEST ? 2 * n / 3 : PROBE_TRAIN;
  te->n = total - tr->n;
  size_t *all = malloc((total ? total : 1) * sizeof *all);
  tr->idx = malloc((tr->n ? tr->n : 1) * sizeof *tr->idx);
  te->idx = malloc((te->n ? te->n : 1) * sizeof *te->idx);
  if (!all || !tr->idx || !te->idx) {
    free(all);
    return bh_cli_fail("out of memory for %zu probe examples", total);
  }
  bh_cli_draw_shuffled(n, total, g, all);
  memcpy(tr->idx, all, tr->n * sizeof *all);
  memcpy(te->idx, all + tr->n, te->n * sizeof *all);
  free(all);
  return BH_EXIT_OK;
}

/* probe / probe-mlp (variant "mlp") predicting --probe-target: on the train and test splits
 * when the data has them, else on a seeded draw from every example (split[BH_SPLIT_ALL]); from
 * stream "metric" of the seed, as every metric.  *sampled: 1 for the draw. */
static int probe_target_metric(const eval_args *a, bh_model *m, const char *spec,
                               bh_dataset **split, const char *variant, bh_metric_result *r,
                               int *sampled) {
  bh_rng *rng = bh_rng_alloc(a->seed);
  gsl_rng *g = rng ? bh_rng_stream(rng, "metric") : NULL;
  probe_part tr = {0, NULL, NULL, NULL}, te = {0, NULL, NULL, NULL};
  bh_dataset *dtr = split[BH_SPLIT_ALL], *dte = split[BH_SPLIT_ALL];
  int st = g ? BH_EXIT_OK : bh_cli_fail_lib();
  if (!st && !split[BH_SPLIT_TEST]) { /* has the source a test split?  (dSprites: no) */
    bh_error_clear();
    bh_dataset *t = bh_dataset_open(spec, BH_SPLIT_TEST);
    if (!t && bh_error_code() != BH_EINVAL) st = bh_cli_fail_lib();
    if (t) {
      bh_dataset_free(t);
      st = bh_cli_model_data(CMD, m, spec, BH_SPLIT_TEST, &split[BH_SPLIT_TEST]);
    }
    bh_error_clear();
  }
  if (!st && split[BH_SPLIT_TEST] && !split[BH_SPLIT_TRAIN])
    st = bh_cli_model_data(CMD, m, spec, BH_SPLIT_TRAIN, &split[BH_SPLIT_TRAIN]);
  *sampled = !split[BH_SPLIT_TEST];
  if (!st && !*sampled) {
    dtr = split[BH_SPLIT_TRAIN];
    dte = split[BH_SPLIT_TEST];
    if (!(st = probe_part_all(&tr, dtr->n))) st = probe_part_all(&te, dte->n);
  } else if (!st) {
    st = probe_parts_draw(dtr->n, g, &tr, &te);
  }
  if (!st) st = probe_part_fill(a, m, dtr, &tr);
  if (!st) st = probe_part_fill(a, m, dte, &te);
  if (!st) {
    bh_codes ctr = {tr.n, m->z_dim, tr.x}, cte = {te.n, m->z_dim, te.x};
    int mlp = variant && strcmp(variant, "mlp") == 0;
    if (bh_metric_probe(&ctr, tr.y, &cte, te.y, a->target.k[0], mlp, g, r) != BH_OK)
      st = bh_cli_fail_lib();
    r->seed = (unsigned long)a->seed;
  }
  probe_part_free(&tr);
  probe_part_free(&te);
  bh_rng_free(rng);
  return st;
}

/* --probe-target against the data d: one entry, else a usage error. */
static int parse_target(eval_args *a, const bh_data_info *d) {
  if (bh_label_spec_parse(&a->target, a->probe_target, NULL, d, "eval", "--probe-target") !=
      BH_OK)
    return bh_cli_usage(CMD, "%s", bh_error_message());
  if (a->target.n != 1)
    return bh_cli_usage(CMD, "--probe-target: '%s' has %d entries; the probe predicts one",
                        a->probe_target, a->target.n);
  return BH_EXIT_OK;
}

/* ---------------------------------------------------------------- computing */

/* Compute the chosen entries into metrics (an object), printing a line for each. */
static int compute(const eval_args *a, bh_model *m, const char *spec, bh_dataset **split,
                   const int *chosen, json_t *metrics) {
  for (int i = 0; i < NEVAL; i++) {
    const eval_metric *e = &eval_metrics[i];
    if (!chosen[i]) continue;
    bh_metric_result r;
    bh_metric_result_init(&r, e->metric);
    double t0 = now_s();
    int target = a->probe_target && e->labels, sampled = 0;
    int st = target ? probe_target_metric(a, m, spec, split, e->variant, &r, &sampled)
                    : bh_cli_metric_model_sized(CMD, m, spec, split, e->metric, e->variant,
                                                a->seed, &a->sizes, &r);
    double seconds = now_s() - t0;
    json_t *o = st ? NULL : bh_metric_result_json(&r);
    bh_metric_result_free(&r);
    if (st) return st;
    if (!o) return bh_cli_fail("%s: cannot build the JSON result", e->key);
    if (target) {
      json_object_set_new(o, "target", json_string(a->target.text));
      json_object_set_new(o, "sample", json_string(sampled ? "seeded draw of distinct examples"
                                                           : "train and test splits"));
    }
    json_object_set_new(o, "seconds", json_real(seconds));
    json_object_set_new(metrics, e->key, o);
    printf("%-18s %10.4f  (%.1f s)\n", e->key, json_number_value(json_object_get(o, "score")),
           seconds);
    fflush(stdout);
  }
  return BH_EXIT_OK;
}

/* eval.json beside the checkpoint: DIR/eval.json, or FILE's folder for a checkpoint file. */
static int default_out(const char *path, char *out, size_t cap) {
  char ck[4096];
  if (!bh_model_checkpoint_path(path, ck, sizeof ck)) return bh_cli_fail_lib();
  const char *slash = strrchr(ck, '/');
  int len = slash ? (int)(slash - ck) + 1 : 0;
  if (snprintf(out, cap, "%.*seval.json", len, ck) >= (int)cap)
    return bh_cli_fail("%s: path too long", path);
  return BH_EXIT_OK;
}

/* The run's description: model, data, checkpoint, step, configuration, seed, threads,
 * versions (the metrics are added to "metrics"). */
static json_t *header_json(const eval_args *a, const bh_model *m, const bh_ckpt *ck,
                           const char *spec) {
  char path[4096];
  int64_t step;
  json_t *o = json_object();
  json_object_set_new(o, "model", json_string(m->cls->name));
  json_object_set_new(o, "data", json_string(spec));
  json_object_set_new(o, "checkpoint", bh_model_checkpoint_path(a->path, path, sizeof path)
                                           ? json_string(path)
                                           : json_string(a->path));
  json_object_set_new(o, "step", bh_ckpt_find_i64(ck, "train.step", &step) == BH_OK
                                     ? json_integer((json_int_t)step)
                                     : json_null());
  bh_error_clear(); /* a checkpoint without a step is not an error */
  json_object_set_new(o, "config", bh_config_json(m->cfg));
  json_object_set_new(o, "seed", json_integer((json_int_t)a->seed));
  json_object_set_new(o, "threads", json_integer(bh_threads_get()));
  json_object_set_new(o, "versions", bh_cli_versions_json());
  json_object_set_new(o, "metrics", json_object());
  return o;
}

static int run_eval(eval_args *a, bh_model *m, const bh_ckpt *ck) {
  char out[4096];
  int chosen[NEVAL], st;
  bh_dataset *split[4] = {NULL, NULL, NULL, NULL};
  const char *spec = a->data ? a->data : bh_config_str(m->cfg, "data");
  if (a->out) snprintf(out, sizeof out, "%s", a->out);
  else if ((st = default_out(a->path, out, sizeof out))) return st;
  /* The model's own data is described by its checkpoint: a metric that cannot apply is an
   * error before the data is opened.  Every split opened stays open for the next metric. */
  data_kind kind = {m->data.nfactors, m->data.nclasses, a->probe_target != NULL,
                    bh_cli_model_gaussian(m)};
  if (!a->data && a->probe_target) st = parse_target(a, &m->data);
  if (!st && !a->data) st = select_metrics(a, kind, spec, chosen);
  if (!st) st = bh_cli_model_data(CMD, m, spec, BH_SPLIT_ALL, &split[BH_SPLIT_ALL]);
  if (!st && a->data) {
    bh_data_info info;
    bh_data_info_from_dataset(split[BH_SPLIT_ALL], &info);
    kind.nfactors = split[BH_SPLIT_ALL]->nfactors;
    kind.nclasses = split[BH_SPLIT_ALL]->nclasses;
    if (a->probe_target) st = parse_target(a, &info);
    if (!st) st = select_metrics(a, kind, spec, chosen);
  }
  json_t *o = st ? NULL : header_json(a, m, ck, spec);
  if (!st && !o) st = bh_cli_fail("out of memory");
  if (!st) st = compute(a, m, spec, split, chosen, json_object_get(o, "metrics"));
  if (!st) st = bh_cli_write_json(out, o);
  if (!st) printf("wrote %s\n", out);
  json_decref(o);
  for (int i = 0; i < 4; i++) bh_dataset_free(split[i]);
  return st;
}

int bh_cmd_eval(int argc, char **argv) {
  eval_args a;
  memset(&a, 0, sizeof a);
  bh_cli_opt opts[] = {{"checkpoint", &a.checkpoint, NULL}, {"data", &a.data, NULL},
                       {"seed", &a.seed_arg, NULL},         {"metrics", &a.metrics, NULL},
                       {"out", &a.out, NULL},               {"threads", &a.threads, NULL},
                       {"probe-target", &a.probe_target, NULL}, {"help", NULL, &a.help},
                       {"num-train", &a.size_arg[0], NULL}, {"num-eval", &a.size_arg[1], NULL},
                       {"sampler-train", &a.size_arg[2], NULL},
                       {"sampler-eval", &a.size_arg[3], NULL}, {NULL, NULL, NULL}};
  static const char *const size_names[4] = {"num-train", "num-eval", "sampler-train",
                                            "sampler-eval"};
  long *size_vals[4] = {&a.sizes.n_train, &a.sizes.n_eval, &a.sizes.sampler_train,
                        &a.sizes.sampler_eval};
  int st = bh_cli_parse_run(CMD, argc, argv, opts, &a.path);
  if (st) return st;
  if (a.help) return fputs(usage_text, stdout), BH_EXIT_OK;
  if (a.seed_arg && (st = bh_cli_u64(CMD, "seed", a.seed_arg, &a.seed))) return st;
  for (int i = 0; i < 4; i++)
    if (a.size_arg[i] &&
        (st = bh_cli_long(CMD, size_names[i], a.size_arg[i], 1, 100000000, size_vals[i])))
      return st;
  if (a.metrics && !*a.metrics) return bh_cli_usage(CMD, "--metrics: empty list");
  if (a.threads && (st = bh_cli_threads(CMD, a.threads))) return st;
  bh_ckpt *ck = NULL;
  bh_model *m = bh_model_load_path(a.path, &ck);
  if (!m) return bh_cli_fail_lib();
  st = run_eval(&a, m, ck);
  bh_model_free(m);
  bh_ckpt_free(ck);
  return st;
}
