/* cmd_eval.c — `bhivae eval DIR`: every metric of a trained model on its dataset into one JSON
 * file (DIR/eval.json), each computed exactly as `bhivae metric NAME --checkpoint DIR` computes
 * it (cmd_metric.c, bh_cli_metric_model): the same protocol, a fresh random stream of the same
 * seed for each metric. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli_model.h"
#include "cli/commands.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/threads.h"
#include "datasets/dataset.h"
#include "metrics/metric.h"
#include "models/model.h"

#define CMD "eval"

static const char usage_text[] =
    "Usage: bhivae eval DIR [--data NAME] [--seed S] [--metrics LIST] [--out FILE]\n"
    "                       [--threads T]\n"
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
    "\n"
    "Options:\n"
    "  --data NAME     the dataset (default: the one the model was trained on)\n"
    "  --seed S        the seed of every metric's draws (default 0)\n"
    "  --out FILE      the JSON file (default: eval.json beside the checkpoint)\n"
    "  --threads T     threads for the encoder and the metrics (default: the cores)\n";


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
  const char *path, *checkpoint, *data, *seed_arg, *metrics, *out, *threads;
  int help;
  unsigned long long seed;
} eval_args;

/* What the dataset offers the metrics: ground-truth factors, class labels. */
typedef struct data_kind {
  int nfactors, nclasses;
} data_kind;

static int applies(const eval_metric *e, data_kind k) {
  return e->labels ? k.nclasses > 0 : k.nfactors > 0;
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
      if (!applies(e, ds))
        return bh_cli_usage(CMD, "--metrics: %s needs %s; %s has none", e->key,
                            e->labels ? "class labels" : "ground-truth factors", spec);
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

/* Compute the chosen entries into metrics (an object), printing a line for each. */
static int compute(const eval_args *a, bh_model *m, const char *spec, bh_dataset **split,
                   const int *chosen, json_t *metrics) {
  for (int i = 0; i < NEVAL; i++) {
    const eval_metric *e = &eval_metrics[i];
    if (!chosen[i]) continue;
    bh_metric_result r;
    bh_metric_result_init(&r, e->metric);
    double t0 = now_s();
    int st = bh_cli_metric_model(CMD, m, spec, split, e->metric, e->variant, a->seed, &r);
    double seconds = now_s() - t0;
    json_t *o = st ? NULL : bh_metric_result_json(&r);
    bh_metric_result_free(&r);
    if (st) return st;
    if (!o) return bh_cli_fail("%s: cannot build the JSON result", e->key);
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

/* The whole result through FILE.tmp and a rename. */
static int write_json(const char *path, const json_t *o) {
  bh_atomic_file af;
  if (bh_atomic_open(&af, path) != BH_OK) return bh_cli_fail_lib();
  if (json_dumpf(o, af.f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 || fputc('\n', af.f) == EOF) {
    bh_atomic_abort(&af);
    return bh_cli_fail("%s: write failed", path);
  }
  return bh_atomic_commit(&af) == BH_OK ? BH_EXIT_OK : bh_cli_fail_lib();
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

static int run_eval(const eval_args *a, bh_model *m, const bh_ckpt *ck) {
  char out[4096];
  int chosen[NEVAL], st;
  bh_dataset *split[4] = {NULL, NULL, NULL, NULL};
  const char *spec = a->data ? a->data : bh_config_str(m->cfg, "data");
  if (a->out) snprintf(out, sizeof out, "%s", a->out);
  else if ((st = default_out(a->path, out, sizeof out))) return st;
  /* The model's own data is described by its checkpoint: a metric that cannot apply is an
   * error before the data is opened.  Every split opened stays open for the next metric. */
  data_kind kind = {m->data.nfactors, m->data.nclasses};
  if (!a->data) st = select_metrics(a, kind, spec, chosen);
  if (!st) st = bh_cli_model_data(CMD, m, spec, BH_SPLIT_ALL, &split[BH_SPLIT_ALL]);
  if (!st && a->data) {
    kind.nfactors = split[BH_SPLIT_ALL]->nfactors;
    kind.nclasses = split[BH_SPLIT_ALL]->nclasses;
    st = select_metrics(a, kind, spec, chosen);
  }
  json_t *o = st ? NULL : header_json(a, m, ck, spec);
  if (!st && !o) st = bh_cli_fail("out of memory");
  if (!st) st = compute(a, m, spec, split, chosen, json_object_get(o, "metrics"));
  if (!st) st = write_json(out, o);
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
                       {"help", NULL, &a.help},             {NULL, NULL, NULL}};
  int st = bh_cli_parse_run(CMD, argc, argv, opts, &a.path);
  if (st) return st;
  if (a.help) return fputs(usage_text, stdout), BH_EXIT_OK;
  if (a.seed_arg && (st = bh_cli_u64(CMD, "seed", a.seed_arg, &a.seed))) return st;
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
