/* cmd_metric.c — `bhivae metric NAME`: one disentanglement metric (metrics/metrics.h) on codes
 * and factors read from files, on the oracle representation sampled through a dataset's ground
 * truth, or on a trained model's representation of a dataset (--checkpoint), printed as one line
 * or as JSON (the result, its inputs, seed, threads and library versions).  The model path is
 * shared with `bhivae eval` (bh_cli_metric_model). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <linear.h>

#include "cli/cli_model.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"
#include "datasets/dataset.h"
#include "metrics/metrics.h"
#include "models/model.h"

#define CMD "metric"

static const char usage_text[] =
    "Usage: bhivae metric NAME [inputs] [options] [--json]\n"
    "\n"
    "Metrics (NAME) and their inputs:\n"
    "  mig        --codes FILE --factors FILE [--bins 20]\n"
    "             disentanglement_lib MIG (equal-width bins, plug-in MI, / factor entropy)\n"
    "  sap        --codes FILE --factors FILE --test-codes FILE --test-factors FILE\n"
    "             [--continuous]  (discrete: linear SVM accuracy; continuous: squared\n"
    "             correlation on the training files, the test files optional)\n"
    "  dci        --codes FILE --factors FILE --test-codes FILE --test-factors FILE\n"
    "  probe      --codes FILE --factors FILE --test-codes FILE --test-factors FILE [--mlp]\n"
    "             (the factors files hold one label column)\n"
    "  mig-chen   --mu FILE --logvar FILE --factors FILE [--skip-factor K ...]\n"
    "             [--mig-samples 10000]  (factor sizes = largest value + 1 per column)\n"
    "  zdiff      --data NAME --oracle [--zdiff-variant liblinear|multinomial]\n"
    "             [--batch 64] [--num-train 10000] [--num-eval 5000]\n"
    "  factorvae  --data NAME --oracle [--batch 64] [--num-train 10000] [--num-eval 5000]\n"
    "\n"
    "  Files: .npy (codes f4/f8, factors i8/i4/u1) or CSV (one row per sample, no header,\n"
    "  comma-separated; factors integer class indices from 0).\n"
    "  --oracle           the representation is each image's true factor vector (a sanity check)\n"
    "  --seed S           random draws of zdiff, factorvae, mig-chen and probe (default 0)\n"
    "  --json             print the result as JSON: \"score\" is the headline number\n"
    "\n"
    "A trained model instead of the inputs above (every metric):\n"
    "  --checkpoint FILE  a run folder DIR (DIR/model.ckpt) or a checkpoint file; the\n"
    "                     representation is the encoder means\n"
    "  --data NAME        the dataset (default: the one the model was trained on)\n"
    "  --seed S           the draws of the protocol (default 0), for every metric\n"
    "  The inputs are drawn as disentanglement_lib draws them: mig encodes --num-train\n"
    "  (10000) images of uniformly drawn factor vectors; sap and dci --num-train (10000) and\n"
    "  then --num-eval (5000) more; mig-chen encodes the whole dataset (means and\n"
    "  log-variances) and skips the factor named shape unless --skip-factor says otherwise;\n"
    "  probe encodes the train and test splits of a labelled dataset (every example).\n";

/* ---------------------------------------------------------------- the metrics */

typedef enum { IN_CODES, IN_CHEN, IN_SAMPLER } input_kind;

/* Which options a metric takes. */
enum {
  O_CODES = 1u << 0,   /* --codes, --factors */
  O_TEST = 1u << 1,    /* --test-codes, --test-factors */
  O_CHEN = 1u << 2,    /* --mu, --logvar, --factors, --skip-factor, --mig-samples */
  O_DATA = 1u << 3,    /* --data, --oracle, --batch */
  O_SEED = 1u << 4,    /* --seed */
  O_BINS = 1u << 5,    /* --bins */
  O_CONT = 1u << 6,    /* --continuous */
  O_ZVAR = 1u << 7,    /* --zdiff-variant */
  O_MLP = 1u << 8,     /* --mlp */
  O_NUM = 1u << 9      /* --num-train, --num-eval */
};

typedef struct metric_def {
  const char *name;
  input_kind input;
  unsigned opts;
  int percent; /* the score is a percentage */
} metric_def;

static const metric_def metric_defs[] = {
    {"zdiff", IN_SAMPLER, O_DATA | O_NUM | O_SEED | O_ZVAR, 1},
    {"sap", IN_CODES, O_CODES | O_TEST | O_CONT, 0},
    {"mig", IN_CODES, O_CODES | O_BINS, 0},
    {"mig-chen", IN_CHEN, O_CHEN | O_SEED, 0},
    {"factorvae", IN_SAMPLER, O_DATA | O_NUM | O_SEED, 1},
    {"dci", IN_CODES, O_CODES | O_TEST, 0},
    {"probe", IN_CODES, O_CODES | O_TEST | O_SEED | O_MLP, 1},
};
#define NMETRICS (sizeof metric_defs / sizeof metric_defs[0])
#define METRIC_NAMES "zdiff, sap, mig, mig-chen, factorvae, dci, probe"

#define MAX_SKIP 64

typedef struct metric_args {
  const metric_def *def;
  /* option texts as given (NULL when absent) */
  const char *codes, *factors, *test_codes, *test_factors, *mu, *logvar, *data, *checkpoint;
  const char *seed_arg, *bins_arg, *zvar_arg, *batch_arg, *ntrain_arg, *neval_arg, *samples_arg;
  const char *skip_arg[MAX_SKIP];
  int nskip;
  int oracle, continuous, mlp, json, help;
  /* parsed values */
  unsigned long long seed;
  long bins, batch, n_train, n_eval, samples, skip[MAX_SKIP];
  int zvariant;
} metric_args;

/* ---------------------------------------------------------------- options */

/* An option given to a metric that does not take it is a usage error (never silently ignored:
 * a number must not look as if it had been computed with settings it was not). */
static int check_applicable(const metric_args *a) {
  unsigned allowed = a->def->opts;
  /* a model's inputs are drawn: every metric takes --seed, the sampled code metrics the sizes */
  if (a->checkpoint)
    allowed |= O_SEED | ((a->def->opts & O_CODES) && !(a->def->opts & O_MLP) ? O_NUM : 0);
  const struct {
    int given;
    unsigned bits;
    const char *name;
  } used[] = {
      {a->codes != NULL, O_CODES, "codes"},
      {a->factors != NULL, O_CODES | O_CHEN, "factors"},
      {a->test_codes != NULL, O_TEST, "test-codes"},
      {a->test_factors != NULL, O_TEST, "test-factors"},
      {a->mu != NULL, O_CHEN, "mu"},
      {a->logvar != NULL, O_CHEN, "logvar"},
      {a->nskip > 0, O_CHEN, "skip-factor"},
      {a->samples_arg != NULL, O_CHEN, "mig-samples"},
      {a->oracle, O_DATA, "oracle"},
      {a->batch_arg != NULL, O_DATA, "batch"},
      {a->ntrain_arg != NULL, O_NUM, "num-train"},
      {a->neval_arg != NULL, O_NUM, "num-eval"},
      {a->seed_arg != NULL, O_SEED, "seed"},
      {a->bins_arg != NULL, O_BINS, "bins"},
      {a->continuous, O_CONT, "continuous"},
      {a->zvar_arg != NULL, O_ZVAR, "zdiff-variant"},
      {a->mlp, O_MLP, "mlp"},
  };
  for (size_t i = 0; i < sizeof used / sizeof used[0]; i++)
    if (used[i].given && !(allowed & used[i].bits))
      return bh_cli_usage(CMD, "--%s: not an option of metric %s", used[i].name, a->def->name);
  if (a->checkpoint && a->neval_arg && strcmp(a->def->name, "mig") == 0)
    return bh_cli_usage(CMD, "--num-eval: not an option of metric mig (no test points)");
  return BH_EXIT_OK; /* --data: see parse_args (it also names a --checkpoint's dataset) */
}

/* Numbers and the variant name, with their defaults. */
static int parse_values(metric_args *a) {
  int st = BH_EXIT_OK;
  a->bins = 20;
  a->batch = 64;
  a->n_train = 10000;
  a->n_eval = 5000;
  a->samples = 10000;
  a->zvariant = BH_ZDIFF_LIBLINEAR_OVR;
  if (a->seed_arg && (st = bh_cli_u64(CMD, "seed", a->seed_arg, &a->seed))) return st;
  if (a->bins_arg && (st = bh_cli_long(CMD, "bins", a->bins_arg, 2, 1000000, &a->bins))) return st;
  if (a->batch_arg && (st = bh_cli_long(CMD, "batch", a->batch_arg, 2, 1000000, &a->batch)))
    return st;
  if (a->ntrain_arg &&
      (st = bh_cli_long(CMD, "num-train", a->ntrain_arg, 1, 100000000, &a->n_train)))
    return st;
  if (a->neval_arg && (st = bh_cli_long(CMD, "num-eval", a->neval_arg, 1, 100000000, &a->n_eval)))
    return st;
  if (a->samples_arg &&
      (st = bh_cli_long(CMD, "mig-samples", a->samples_arg, 1, 100000000, &a->samples)))
    return st;
  for (int i = 0; i < a->nskip; i++)
    if ((st = bh_cli_long(CMD, "skip-factor", a->skip_arg[i], 0, 1000000, &a->skip[i])))
      return st;
  if (a->zvar_arg) {
    if (strcmp(a->zvar_arg, "liblinear") == 0) a->zvariant = BH_ZDIFF_LIBLINEAR_OVR;
    else if (strcmp(a->zvar_arg, "multinomial") == 0) a->zvariant = BH_ZDIFF_MULTINOMIAL;
    else
      return bh_cli_usage(CMD, "--zdiff-variant: %s: expected liblinear or multinomial",
                          a->zvar_arg);
  }
  return BH_EXIT_OK;
}

/* A missing required option: a usage error naming it. */
static int need(const char *value, const char *opt, const char *what) {
  return value ? BH_EXIT_OK : bh_cli_usage(CMD, "--%s: missing (%s)", opt, what);
}

/* ---------------------------------------------------------------- inputs from files */

typedef struct metric_inputs {
  bh_codes c, tc, mu, lv; /* codes, test codes, mu and logvar (mig-chen) */
  bh_factors f, tf;
  int have_test;
  int skipped; /* mig-chen: factors left out */
} metric_inputs;

static void inputs_free(metric_inputs *in) {
  bh_codes_free(&in->c);
  bh_codes_free(&in->tc);
  bh_codes_free(&in->mu);
  bh_codes_free(&in->lv);
  bh_factors_free(&in->f);
  bh_factors_free(&in->tf);
}

/* Load a codes file and its factors file and check them together; the messages name the
 * files (the loaders name the file and row, the cross-file checks both files). */
static int load_pair(const char *cpath, const char *fpath, bh_codes *c, bh_factors *f) {
  if (bh_codes_load(cpath, c) != BH_OK || bh_factors_load(fpath, f) != BH_OK)
    return bh_cli_fail_lib();
  if (c->n != f->n)
    return bh_cli_fail("%s: %zu rows, but %s has %zu", cpath, c->n, fpath, f->n);
  if (bh_metric_check_inputs(c, f, fpath) != BH_OK) return bh_cli_fail_lib();
  return BH_EXIT_OK;
}

/* The test pair has the training pair's columns. */
static int check_test_pair(const metric_args *a, const metric_inputs *in) {
  if (in->tc.d != in->c.d)
    return bh_cli_fail("%s: %d columns, but %s has %d", a->test_codes, in->tc.d, a->codes,
                       in->c.d);
  if (in->tf.k != in->f.k)
    return bh_cli_fail("%s: %d columns, but %s has %d", a->test_factors, in->tf.k, a->factors,
                       in->f.k);
  return BH_EXIT_OK;
}

static int load_codes_inputs(const metric_args *a, metric_inputs *in) {
  int st, test_needed = !(strcmp(a->def->name, "sap") == 0 && a->continuous);
  if ((st = need(a->codes, "codes", "the code file: one row per sample"))) return st;
  if ((st = need(a->factors, "factors", "the factor file: one row per sample"))) return st;
  in->have_test = (a->def->opts & O_TEST) && (a->test_codes || a->test_factors);
  if ((a->def->opts & O_TEST) && (test_needed || in->have_test)) {
    if ((st = need(a->test_codes, "test-codes", "the test split's codes"))) return st;
    if ((st = need(a->test_factors, "test-factors", "the test split's factors"))) return st;
  }
  if ((st = load_pair(a->codes, a->factors, &in->c, &in->f))) return st;
  if (in->have_test) {
    if ((st = load_pair(a->test_codes, a->test_factors, &in->tc, &in->tf))) return st;
    if ((st = check_test_pair(a, in))) return st;
  }
  return BH_EXIT_OK;
}

/* ---------------------------------------------------------------- running each kind */

/* The largest value of column j, + 1. */
static int column_size(const bh_factors *f, int j) {
  int m = 0;
  for (size_t i = 0; i < f->n; i++)
    if (f->y[i * f->k + j] > m) m = f->y[i * f->k + j];
  return m + 1;
}

static int run_probe(const metric_args *a, metric_inputs *in, gsl_rng *g, bh_metric_result *r) {
  if (in->f.k != 1)
    return bh_cli_fail("%s: expected one label column, found %d", a->factors, in->f.k);
  int nclasses = column_size(&in->f, 0), t = column_size(&in->tf, 0);
  if (t > nclasses) nclasses = t;
  if (bh_metric_probe(&in->c, in->f.y, &in->tc, in->tf.y, nclasses, a->mlp, g, r) != BH_OK)
    return bh_cli_fail_lib();
  return BH_EXIT_OK;
}

/* mig, sap, dci or probe on the inputs in `in` (the training pair, and the test pair when
 * in->have_test; continuous SAP without test files scores on the training pair). */
static int codes_metric(const metric_args *a, metric_inputs *in, gsl_rng *g,
                        bh_metric_result *r) {
  const char *name = a->def->name;
  int st;
  if (strcmp(name, "mig") == 0) st = bh_metric_mig(&in->c, &in->f, (int)a->bins, r);
  else if (strcmp(name, "sap") == 0)
    st = in->have_test ? bh_metric_sap(&in->c, &in->f, &in->tc, &in->tf, a->continuous, r)
                       : bh_metric_sap(&in->c, &in->f, &in->c, &in->f, a->continuous, r);
  else if (strcmp(name, "dci") == 0) st = bh_metric_dci(&in->c, &in->f, &in->tc, &in->tf, r);
  else return run_probe(a, in, g, r);
  return st == BH_OK ? BH_EXIT_OK : bh_cli_fail_lib();
}

static int run_codes(const metric_args *a, metric_inputs *in, gsl_rng *g, bh_metric_result *r) {
  int st = load_codes_inputs(a, in);
  return st ? st : codes_metric(a, in, g, r);
}

/* Chen et al.'s MIG on in->mu, in->lv and in->f, the factors of the given sizes; factors the
 * --skip-factor options name are skipped, or without them those named in default_skip (k of
 * them, may be NULL).  `what` names the factors' source in messages. */
static int chen_metric(const metric_args *a, metric_inputs *in, const int *sizes,
                       const int *default_skip, const char *what, gsl_rng *g,
                       bh_metric_result *r) {
  int k = in->f.k, used = k, st = BH_EXIT_OK;
  int *use = malloc((size_t)k * sizeof *use);
  if (!use) return bh_cli_fail("out of memory");
  for (int j = 0; j < k; j++) use[j] = !(a->nskip == 0 && default_skip && default_skip[j]);
  for (int i = 0; !st && i < a->nskip; i++) {
    if (a->skip[i] >= k)
      st = bh_cli_usage(CMD, "--skip-factor: %ld out of range (%s has %d factors)", a->skip[i],
                        what, k);
    else use[a->skip[i]] = 0;
  }
  for (int j = 0; j < k; j++) used -= !use[j];
  in->skipped = k - used;
  if (!st && used == 0) st = bh_cli_usage(CMD, "--skip-factor: every factor skipped");
  if (!st && bh_metric_mig_chen(&in->mu, &in->lv, &in->f, sizes, use, (size_t)a->samples, g,
                                r) != BH_OK)
    st = bh_cli_fail_lib();
  free(use);
  return st;
}

static int run_chen(const metric_args *a, metric_inputs *in, gsl_rng *g, bh_metric_result *r) {
  int st;
  if ((st = need(a->mu, "mu", "the encoder means: one row per example"))) return st;
  if ((st = need(a->logvar, "logvar", "the encoder log-variances: one row per example")))
    return st;
  if ((st = need(a->factors, "factors", "the factor file: one row per example"))) return st;
  if (bh_codes_load(a->logvar, &in->lv) != BH_OK) return bh_cli_fail_lib();
  if ((st = load_pair(a->mu, a->factors, &in->mu, &in->f))) return st;
  if (in->lv.n != in->mu.n || in->lv.d != in->mu.d)
    return bh_cli_fail("%s: %zu x %d, but %s is %zu x %d", a->logvar, in->lv.n, in->lv.d, a->mu,
                       in->mu.n, in->mu.d);
  int k = in->f.k, *sizes = malloc((size_t)k * sizeof *sizes);
  if (!sizes) return bh_cli_fail("out of memory");
  for (int j = 0; j < k; j++) sizes[j] = column_size(&in->f, j);
  st = chen_metric(a, in, sizes, NULL, a->factors, g, r);
  free(sizes);
  return st;
}

/* The oracle's view of a factor dataset: the same factors, but each "image" is one float, the
 * example's index (exact in float up to 2^24 examples), and the representation reads the true
 * factor vector back from it.  So the representation is a pure function of its images, like an
 * encoder, whatever order or chunking the metric fetches and encodes them in — and costs
 * nothing to render. */
static int oracle_images(bh_dataset *ds, const size_t *idx, size_t count, float *out) {
  (void)ds;
  for (size_t i = 0; i < count; i++) out[i] = (float)idx[i];
  return BH_OK;
}

static const bh_dataset_ops oracle_ops = {oracle_images, NULL, NULL, NULL};

static int oracle_repr(void *user, const float *images, size_t n, float *codes) {
  const bh_dataset *view = user;
  int f[BH_DATASET_MAX_FACTORS], k = view->nfactors;
  for (size_t i = 0; i < n; i++) {
    if (!(images[i] >= 0.0f && images[i] < (float)view->n))
      return bh_error(BH_EINVAL, "oracle: image %zu is not an example index of %s", i,
                      view->source);
    bh_dataset_factors_of(view, (size_t)images[i], f);
    for (int j = 0; j < k; j++) codes[i * (size_t)k + (size_t)j] = (float)f[j];
  }
  return BH_OK;
}

/* A factor dataset's open check: a usage error of cmd when it has no factors. */
static int need_factors(const char *cmd, const bh_dataset *ds, const char *spec,
                        const char *metric) {
  if (ds->nfactors > 0) return BH_EXIT_OK;
  return bh_cli_usage(cmd, "--data: %s has no ground-truth factors (metric %s needs them)", spec,
                      metric);
}

/* zdiff or factorvae of representation rep on the factor dataset ds. */
static int sampler_metric(const metric_args *a, bh_dataset *ds, const bh_repr *rep, gsl_rng *g,
                          bh_metric_result *r) {
  int st;
  if (strcmp(a->def->name, "zdiff") == 0)
    st = bh_metric_zdiff(ds, rep, g, (int)a->batch, (size_t)a->n_train, (size_t)a->n_eval,
                         a->zvariant, r);
  else
    st = bh_metric_factorvae(ds, rep, g, (int)a->batch, (size_t)a->n_train, (size_t)a->n_eval,
                             r);
  return st == BH_OK ? BH_EXIT_OK : bh_cli_fail_lib();
}

static int run_sampler(const metric_args *a, gsl_rng *g, bh_metric_result *r) {
  int st;
  bh_dataset *ds;
  if ((st = need(a->data, "data", "the ground-truth dataset, e.g. --data dsprites"))) return st;
  if (!a->oracle) return bh_cli_usage(CMD, "--oracle: missing (or --checkpoint FILE)");
  if ((st = bh_cli_model_data(CMD, NULL, a->data, BH_SPLIT_ALL, &ds))) return st;
  if ((st = need_factors(CMD, ds, a->data, a->def->name))) {
    bh_dataset_free(ds);
    return st;
  }
  if (ds->n > (size_t)1 << 24) {
    st = bh_cli_fail("%s: too many examples for the oracle (%zu)", ds->source, ds->n);
    bh_dataset_free(ds);
    return st;
  }
  bh_dataset view = *ds;
  view.c = view.h = view.w = 1;
  view.nclasses = view.nattrs = 0;
  view.attr_names = NULL;
  view.ops = &oracle_ops;
  view.impl = NULL;
  bh_repr rep = {ds->nfactors, oracle_repr, &view};
  st = sampler_metric(a, &view, &rep, g, r);
  bh_dataset_free(ds);
  return st;
}

/* ---------------------------------------------------------------- a trained model */

/* A trained model and the splits of its dataset, each opened when a metric first needs it. */
typedef struct model_src {
  const char *cmd;     /* whose usage errors: "metric" or "eval" */
  bh_model *m;
  const char *spec;    /* the dataset */
  bh_dataset **split;  /* [4], indexed by bh_split; freed by the owner */
} model_src;

static int src_open(model_src *s, bh_split split, bh_dataset **ds) {
  int st = BH_EXIT_OK;
  if (!s->split[split]) st = bh_cli_model_data(s->cmd, s->m, s->spec, split, &s->split[split]);
  *ds = s->split[split];
  return st;
}

/* n factor vectors drawn from g one after another, each factor uniform (disentanglement_lib's
 * generate_batch_factor_code: the draws do not depend on its batch size), and the encoder means
 * of their images: codes c (n x z_dim), factors f (n x k). */
static int sample_codes(model_src *s, bh_dataset *ds, gsl_rng *g, size_t n, bh_codes *c,
                        bh_factors *f) {
  int k = ds->nfactors, st = BH_OK;
  size_t *idx = malloc(n * sizeof *idx);
  f->y = malloc(n * (size_t)k * sizeof *f->y);
  c->x = malloc(n * (size_t)s->m->z_dim * sizeof *c->x);
  if (!idx || !f->y || !c->x) {
    free(idx);
    return bh_cli_fail("out of memory for %zu codes", n);
  }
  c->n = f->n = n;
  c->d = s->m->z_dim;
  f->k = k;
  st = bh_dataset_sample_factors(ds, g, n, f->y);
  for (size_t i = 0; st == BH_OK && i < n; i++) idx[i] = bh_dataset_index_of(ds, f->y + i * k);
  if (st == BH_OK) st = bh_cli_model_encode(s->m, ds, idx, n, c->x, NULL);
  free(idx);
  return st == BH_OK ? BH_EXIT_OK : bh_cli_fail_lib();
}

/* Every example of a labelled split: the encoder means (c) and the labels (f, one column). */
static int encode_split(model_src *s, bh_dataset *ds, bh_codes *c, bh_factors *f) {
  size_t n = ds->n, *idx = malloc((n ? n : 1) * sizeof *idx);
  f->y = malloc((n ? n : 1) * sizeof *f->y);
  c->x = malloc((n ? n : 1) * (size_t)s->m->z_dim * sizeof *c->x);
  if (!idx || !f->y || !c->x) {
    free(idx);
    return bh_cli_fail("out of memory for %zu codes", n);
  }
  c->n = f->n = n;
  c->d = s->m->z_dim;
  f->k = 1;
  for (size_t i = 0; i < n; i++) idx[i] = i;
  int st = bh_dataset_labels(ds, idx, n, f->y);
  if (st == BH_OK) st = bh_cli_model_encode(s->m, ds, idx, n, c->x, NULL);
  free(idx);
  return st == BH_OK ? BH_EXIT_OK : bh_cli_fail_lib();
}

/* probe: trained on the codes of the train split, scored on those of the test split. */
static int model_probe(const metric_args *a, model_src *s, metric_inputs *in, gsl_rng *g,
                       bh_metric_result *r) {
  bh_dataset *train, *test;
  int st = src_open(s, BH_SPLIT_TRAIN, &train);
  if (st) return st;
  if (train->nclasses <= 0)
    return bh_cli_usage(s->cmd, "--data: %s has no class labels (metric probe needs them)",
                        s->spec);
  if ((st = src_open(s, BH_SPLIT_TEST, &test))) return st;
  if ((st = encode_split(s, train, &in->c, &in->f)) || (st = encode_split(s, test, &in->tc, &in->tf)))
    return st;
  in->have_test = 1;
  return run_probe(a, in, g, r);
}

/* mig-chen: the means and log-variances of every example, in the dataset's order; the factor
 * named "shape" is skipped unless --skip-factor says otherwise (Chen et al.'s protocol). */
static int model_chen(const metric_args *a, model_src *s, bh_dataset *ds, metric_inputs *in,
                      gsl_rng *g, bh_metric_result *r) {
  int gaussian = bh_cli_model_gaussian(s->m), k = ds->nfactors, d = s->m->z_dim;
  int skip[BH_DATASET_MAX_FACTORS];
  size_t n = ds->n;
  if (gaussian < 0) return bh_cli_fail_lib();
  if (!gaussian)
    return bh_cli_fail("mig-chen: model %s has a deterministic encoder (the metric needs the "
                       "variances of q(z|x))", s->m->cls->name);
  in->mu.x = malloc(n * (size_t)d * sizeof(float));
  in->lv.x = malloc(n * (size_t)d * sizeof(float));
  in->f.y = malloc(n * (size_t)k * sizeof(int));
  if (!in->mu.x || !in->lv.x || !in->f.y) return bh_cli_fail("out of memory for %zu codes", n);
  in->mu.n = in->lv.n = in->f.n = n;
  in->mu.d = in->lv.d = d;
  in->f.k = k;
  for (size_t i = 0; i < n; i++) bh_dataset_factors_of(ds, i, in->f.y + i * (size_t)k);
  for (int j = 0; j < k; j++)
    skip[j] = ds->factor_names[j] && strcmp(ds->factor_names[j], "shape") == 0;
  if (bh_cli_model_encode(s->m, ds, NULL, n, in->mu.x, in->lv.x) != BH_OK)
    return bh_cli_fail_lib();
  return chen_metric(a, in, ds->factor_sizes, skip, s->spec, g, r);
}

/* The metric a->def of the model's representation (its encoder means), its inputs drawn as the
 * metric's protocol draws them (see usage_text). */
static int model_metric(const metric_args *a, model_src *s, metric_inputs *in, gsl_rng *g,
                        bh_metric_result *r) {
  const char *name = a->def->name;
  bh_dataset *ds;
  int st;
  if (strcmp(name, "probe") == 0) return model_probe(a, s, in, g, r);
  if ((st = src_open(s, BH_SPLIT_ALL, &ds)) || (st = need_factors(s->cmd, ds, s->spec, name)))
    return st;
  if (a->def->input == IN_SAMPLER) {
    bh_repr rep = bh_model_repr(s->m);
    return sampler_metric(a, ds, &rep, g, r);
  }
  if (a->def->input == IN_CHEN) return model_chen(a, s, ds, in, g, r);
  if ((st = sample_codes(s, ds, g, (size_t)a->n_train, &in->c, &in->f))) return st;
  if (strcmp(name, "mig") != 0) { /* sap, dci: then an independent test set */
    if ((st = sample_codes(s, ds, g, (size_t)a->n_eval, &in->tc, &in->tf))) return st;
    in->have_test = 1;
  }
  return codes_metric(a, in, g, r);
}

/* A metric's random stream: stream "metric" of a run seeded with the seed, fresh for every
 * metric (disentanglement_lib gives each metric its own RandomState(seed)). */
static int model_metric_seeded(const metric_args *a, model_src *s, metric_inputs *in,
                               bh_metric_result *r) {
  bh_rng *rng = bh_rng_alloc(a->seed);
  gsl_rng *g = rng ? bh_rng_stream(rng, "metric") : NULL;
  int st = g ? model_metric(a, s, in, g, r) : bh_cli_fail_lib();
  r->seed = (unsigned long)a->seed;
  bh_rng_free(rng);
  return st;
}

/* Metric `name` of model m on dataset spec with the protocol's defaults; variant NULL, or
 * "continuous" (sap), "multinomial" (zdiff), "mlp" (probe).  split[4] (by bh_split) keeps the
 * splits opened for the next call; the caller frees them.  r: initialised by the caller.
 * BH_EXIT_* with the line printed. */
int bh_cli_metric_model(const char *cmd, bh_model *m, const char *spec, bh_dataset **split,
                        const char *name, const char *variant, unsigned long long seed,
                        bh_metric_result *r) {
  return bh_cli_metric_model_sized(cmd, m, spec, split, name, variant, seed, NULL, r);
}

/* The same with smaller (or larger) samples than the protocol's: sizes NULL or 0 fields keep
 * the defaults. */
int bh_cli_metric_model_sized(const char *cmd, bh_model *m, const char *spec,
                              bh_dataset **split, const char *name, const char *variant,
                              unsigned long long seed, const bh_cli_metric_sizes *sizes,
                              bh_metric_result *r) {
  metric_args a;
  metric_inputs in;
  memset(&a, 0, sizeof a);
  memset(&in, 0, sizeof in);
  for (size_t i = 0; i < NMETRICS; i++)
    if (strcmp(name, metric_defs[i].name) == 0) a.def = &metric_defs[i];
  if (!a.def) return bh_cli_fail("%s: unknown metric", name);
  parse_values(&a); /* no option texts: the defaults */
  if (sizes) { /* the sampler metrics (zdiff, factorvae) count points, the others codes */
    long tr = a.def->input == IN_SAMPLER ? sizes->sampler_train : sizes->n_train;
    long ev = a.def->input == IN_SAMPLER ? sizes->sampler_eval : sizes->n_eval;
    if (tr > 0) a.n_train = tr;
    if (ev > 0) a.n_eval = ev;
  }
  a.seed = seed;
  a.continuous = variant && strcmp(variant, "continuous") == 0;
  a.mlp = variant && strcmp(variant, "mlp") == 0;
  if (variant && strcmp(variant, "multinomial") == 0) a.zvariant = BH_ZDIFF_MULTINOMIAL;
  model_src s = {cmd, m, spec, split};
  int st = model_metric_seeded(&a, &s, &in, r);
  inputs_free(&in);
  return st;
}

/* ---------------------------------------------------------------- output */

static void print_line(const metric_args *a, const metric_inputs *in, const bh_metric_result *r) {
  char counts[640];
  const metric_def *d = a->def;
  if (d->input == IN_SAMPLER)
    snprintf(counts, sizeof counts, "%s, %zu train / %zu eval points, seed %llu", a->data,
             r->n_train, r->n_test, a->seed);
  else if (d->input == IN_CHEN)
    snprintf(counts, sizeof counts, "%zu points, %d factors (%d skipped), seed %llu", in->mu.n,
             in->f.k, in->skipped, a->seed);
  else if (strcmp(d->name, "probe") == 0)
    snprintf(counts, sizeof counts, "%zu train / %zu test points", in->c.n, in->tc.n);
  else if (in->have_test)
    snprintf(counts, sizeof counts, "%zu train / %zu test points, %d factors", in->c.n,
             in->tc.n, in->f.k);
  else snprintf(counts, sizeof counts, "%zu points, %d factors", in->c.n, in->f.k);
  if (a->checkpoint && d->input != IN_SAMPLER) /* the sampler's counts name the data already */
    snprintf(counts + strlen(counts), sizeof counts - strlen(counts), ", %s", a->data);
  if (a->checkpoint && d->input == IN_CODES) /* the others name their seed already */
    snprintf(counts + strlen(counts), sizeof counts - strlen(counts), ", seed %llu", a->seed);
  if (d->percent) printf("%s: %.2f %%", d->name, r->score);
  else printf("%s: %.4f", d->name, r->score);
  /* DCI's headline is disentanglement; its two companion numbers belong on the same line */
  json_t *c = json_object_get(r->details, "completeness"),
         *i = json_object_get(r->details, "informativeness_test");
  if (strcmp(d->name, "dci") == 0 && json_is_number(c) && json_is_number(i))
    printf(", completeness %.4f, informativeness %.4f", json_number_value(c),
           json_number_value(i));
  printf(" (%s; %s)\n", r->variant, counts);
}

static json_t *inputs_json(const metric_args *a) {
  json_t *o = json_object();
  const struct {
    const char *key, *value;
  } files[] = {{"codes", a->codes},   {"factors", a->factors}, {"test_codes", a->test_codes},
               {"test_factors", a->test_factors}, {"mu", a->mu}, {"logvar", a->logvar},
               {"data", a->data}, {"checkpoint", a->checkpoint}};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    if (files[i].value) json_object_set_new(o, files[i].key, json_string(files[i].value));
  if (a->oracle) json_object_set_new(o, "representation", json_string("oracle"));
  if (a->checkpoint)
    json_object_set_new(o, "representation", json_string("encoder means (and log-variances "
                                                         "for mig-chen)"));
  if (a->nskip) {
    json_t *s = json_array();
    for (int i = 0; i < a->nskip; i++) json_array_append_new(s, json_integer(a->skip[i]));
    json_object_set_new(o, "skip_factors", s);
  }
  return o;
}

/* The library versions of every result (bh_versions_json) and liblinear's, which the
 * metrics use. */
json_t *bh_cli_versions_json(void) {
  json_t *o = bh_versions_json();
  if (o) json_object_set_new(o, "liblinear", json_integer(LIBLINEAR_VERSION));
  return o;
}

static int print_json(const metric_args *a, const bh_metric_result *r) {
  json_t *o = bh_metric_result_json(r);
  if (!o) return bh_cli_fail("%s: cannot build the JSON result", a->def->name);
  json_object_set_new(o, "inputs", inputs_json(a));
  json_object_set_new(o, "threads", json_integer(bh_threads_get()));
  json_object_set_new(o, "versions", bh_cli_versions_json());
  int st = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (st) return bh_cli_fail("stdout: cannot write the JSON");
  putchar('\n');
  return BH_EXIT_OK;
}

/* ---------------------------------------------------------------- dispatch */

/* The metric of a trained model (--checkpoint): the model stays loaded until the result is
 * printed (a->data may point into its configuration). */
static int run_model(metric_args *a, bh_model **m, bh_dataset **split, metric_inputs *in,
                     bh_metric_result *r) {
  if (!(*m = bh_model_load_path(a->checkpoint, NULL))) return bh_cli_fail_lib();
  if (!a->data) a->data = bh_config_str((*m)->cfg, "data");
  model_src s = {CMD, *m, a->data, split};
  return model_metric_seeded(a, &s, in, r);
}

static int run(metric_args *a) {
  metric_inputs in;
  bh_metric_result r;
  bh_model *m = NULL;
  bh_dataset *split[4] = {NULL, NULL, NULL, NULL};
  bh_rng *rng = NULL;
  gsl_rng *g = NULL;
  memset(&in, 0, sizeof in);
  bh_metric_result_init(&r, a->def->name);
  int st = BH_EXIT_OK;
  if (a->checkpoint) st = run_model(a, &m, split, &in, &r);
  else if (!(rng = bh_rng_alloc(a->seed)) || !(g = bh_rng_stream(rng, "metric")))
    st = bh_cli_fail_lib();
  else if (a->def->input == IN_SAMPLER) st = run_sampler(a, g, &r);
  else if (a->def->input == IN_CHEN) st = run_chen(a, &in, g, &r);
  else st = run_codes(a, &in, g, &r);
  if (!st) {
    if (a->def->opts & O_SEED) r.seed = (unsigned long)a->seed;
    if (a->json) st = print_json(a, &r);
    else print_line(a, &in, &r);
    if (!st && (fflush(stdout) != 0 || ferror(stdout))) st = bh_cli_fail("stdout: write failed");
  }
  bh_metric_result_free(&r);
  inputs_free(&in);
  bh_rng_free(rng);
  for (int i = 0; i < 4; i++) bh_dataset_free(split[i]);
  bh_model_free(m);
  return st;
}

static int parse_args(int argc, char **argv, metric_args *a) {
  bh_cli_opt opts[] = {
      {"codes", &a->codes, NULL},           {"factors", &a->factors, NULL},
      {"test-codes", &a->test_codes, NULL}, {"test-factors", &a->test_factors, NULL},
      {"mu", &a->mu, NULL},                 {"logvar", &a->logvar, NULL},
      {"data", &a->data, NULL},             {"checkpoint", &a->checkpoint, NULL},
      {"seed", &a->seed_arg, NULL},         {"bins", &a->bins_arg, NULL},
      {"zdiff-variant", &a->zvar_arg, NULL}, {"batch", &a->batch_arg, NULL},
      {"num-train", &a->ntrain_arg, NULL},  {"num-eval", &a->neval_arg, NULL},
      {"mig-samples", &a->samples_arg, NULL}, {"oracle", NULL, &a->oracle},
      {"continuous", NULL, &a->continuous}, {"mlp", NULL, &a->mlp},
      {"json", NULL, &a->json},             {"help", NULL, &a->help},
      {NULL, NULL, NULL}};
  char **rest = malloc(((size_t)argc + 1) * sizeof *rest);
  int nrest = 0, st;
  if (!rest) return bh_cli_fail("out of memory");
  st = bh_cli_take_repeated(CMD, "skip-factor", argc, argv, 2, rest, &nrest, a->skip_arg,
                            &a->nskip, MAX_SKIP);
  if (!st) st = bh_cli_parse(CMD, nrest, rest, 2, opts);
  free(rest);
  if (st || a->help) return st;
  if ((st = check_applicable(a)) || (st = parse_values(a))) return st;
  if (a->data && !a->checkpoint && !(a->def->opts & O_DATA))
    return bh_cli_usage(CMD, "--data: metric %s reads files (or --checkpoint FILE --data NAME)",
                        a->def->name);
  if (a->checkpoint && (a->oracle || a->codes || a->factors || a->mu || a->logvar ||
                        a->test_codes || a->test_factors))
    return bh_cli_usage(CMD, "--checkpoint: replaces --oracle and the input files");
  return BH_EXIT_OK;
}

int bh_cmd_metric(int argc, char **argv) {
  if (argc < 2) return bh_cli_usage(CMD, "metric: missing the metric name (" METRIC_NAMES ")");
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
    return fputs(usage_text, stdout), BH_EXIT_OK;
  metric_args a;
  memset(&a, 0, sizeof a);
  for (size_t i = 0; i < NMETRICS; i++)
    if (strcmp(name, metric_defs[i].name) == 0) a.def = &metric_defs[i];
  if (!a.def) return bh_cli_usage(CMD, "metric %s: unknown metric (" METRIC_NAMES ")", name);
  int st = parse_args(argc, argv, &a);
  if (st) return st;
  if (a.help) return fputs(usage_text, stdout), BH_EXIT_OK;
  return run(&a);
}
