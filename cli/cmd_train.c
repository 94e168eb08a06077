/* cmd_train.c — `bhivae train`: make a model of a class for a dataset from its configuration
 * (defaults < --config FILE < --set key=value < --seed and --data) and run the training loop
 * (models/train.h) into a run folder; or continue a run from its checkpoint (--resume), where
 * only the length of the run and its log and checkpoint periods may change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_model.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/rng.h"
#include "datasets/dataset.h"
#include "models/config.h"
#include "models/model.h"
#include "models/train.h"

#define CMD "train"
#define MAX_SETS 256
#define EXIT_STOPPED 130 /* 128 + SIGINT, for SIGTERM too: the loop does not say which came */

static const char usage_text[] =
    "Usage: bhivae train --model M --data NAME --out DIR [options]\n"
    "       bhivae train --resume --out DIR [--set steps=N ...] [--threads T] [--quiet]\n"
    "       bhivae train --model M --help     (the model's configuration keys)\n"
    "\n"
    "Train a model on a dataset's training split into the run folder DIR:\n"
    "  config.json  the configuration, data, seed, threads and library versions\n"
    "  log.jsonl    one JSON object per logged step: step, time_s, images_per_s and every\n"
    "               loss term by name\n"
    "  model.ckpt   the checkpoint (every ckpt_every steps, at the end, and on a signal)\n"
    "  train.json   when the run finishes: steps, wall time, images/s, the last loss terms\n"
    "\n"
    "Options:\n"
    "  --model M        the model (see the list below)\n"
    "  --data NAME      the dataset (see 'bhivae data --help'); sets the key data\n"
    "  --config FILE    configuration: a JSON object or 'key = value' lines ('#' comments)\n"
    "  --set key=value  one configuration key (repeatable; after --config)\n"
    "  --seed S         the seed of every random stream (sets the key seed; default 0)\n"
    "  --out DIR        the run folder (created if missing; refused if it holds a run)\n"
    "  --resume         continue the run in DIR from DIR/model.ckpt with its stored\n"
    "                   configuration: --set may change steps, log_every and ckpt_every;\n"
    "                   the losses are those an uninterrupted run would have had (same\n"
    "                   seed and thread count)\n"
    "  --threads T      threads for OpenBLAS and the core's loops (default: the cores)\n"
    "  --quiet          no progress lines on stderr (the summary line is still printed)\n"
    "\n"
    "Precedence: the model's defaults < --config < --set < --seed and --data.\n"
    "SIGINT or SIGTERM (Ctrl-C) stops after the current step, saves the checkpoint and exits\n"
    "with status 130 (for both signals); continue with 'bhivae train --resume --out DIR'.\n";

typedef struct train_args {
  const char *model, *data, *config, *seed, *out, *threads;
  const char *set[MAX_SETS];
  int nset, resume, quiet, help;
} train_args;

/* The keys --set may change when resuming: how long the run is and how often it reports. */
static const char *const resumable_keys[] = {"steps", "log_every", "ckpt_every", NULL};

/* ---------------------------------------------------------------- models and help */

static void print_models(FILE *f) {
  fputs("\nModels (--model):\n", f);
  for (int i = 0; i < bh_model_class_count(); i++) {
    const bh_model_class *c = bh_model_class_at(i);
    fprintf(f, "  %-10s %s\n", c->name, c->summary ? c->summary : "");
  }
}

/* The class of --model; unknown: a usage error with the library's list of names. */
static int find_class(const char *name, const bh_model_class **cls) {
  bh_error_clear();
  if ((*cls = bh_model_class_find(name))) return BH_EXIT_OK;
  return bh_cli_usage(CMD, "--model: %s", bh_error_message());
}

static int print_help(const train_args *a) {
  const bh_model_class *cls;
  int st;
  fputs(usage_text, stdout);
  if (!a->model) {
    print_models(stdout);
    fputs("\n'bhivae train --model M --help' lists the model's configuration keys.\n", stdout);
    return BH_EXIT_OK;
  }
  if ((st = find_class(a->model, &cls))) return st;
  bh_config *cfg = bh_model_config_new(cls);
  if (!cfg) return bh_cli_fail_lib();
  printf("\nConfiguration keys of %s (%s), with their defaults:\n", cls->name,
         cls->summary ? cls->summary : "");
  bh_config_print_help(cfg, stdout);
  bh_config_free(cfg);
  return BH_EXIT_OK;
}

/* ---------------------------------------------------------------- configuration */

/* A configuration message as a usage error (--set, --seed and --data are arguments). */
static int config_usage(int st) {
  return st ? bh_cli_usage(CMD, "%s", bh_error_message()) : BH_EXIT_OK;
}

/* --set, then --seed and --data, onto cfg. */
static int apply_arguments(const train_args *a, bh_config *cfg) {
  unsigned long long seed;
  int st = BH_EXIT_OK;
  for (int i = 0; i < a->nset && !st; i++)
    st = config_usage(bh_config_set_assignment(cfg, a->set[i], "--set"));
  if (!st && a->seed && !(st = bh_cli_u64(CMD, "seed", a->seed, &seed)))
    st = config_usage(bh_config_set(cfg, "seed", a->seed, "--seed"));
  if (!st && a->data) st = config_usage(bh_config_set(cfg, "data", a->data, "--data"));
  return st;
}

/* The configuration of a new run: defaults < --config < --set < --seed, --data. */
static int build_config(const train_args *a, const bh_model_class *cls, bh_config **out) {
  bh_config *cfg = bh_model_config_new(cls);
  int st = BH_EXIT_OK;
  if (!cfg) return bh_cli_fail_lib();
  if (a->config && bh_config_load_file(cfg, a->config) != BH_OK) st = bh_cli_fail_lib();
  if (!st) st = apply_arguments(a, cfg);
  if (st) {
    bh_config_free(cfg);
    return st;
  }
  *out = cfg;
  return BH_EXIT_OK;
}

static int is_resumable(const char *key) {
  for (const char *const *k = resumable_keys; *k; k++)
    if (strcmp(*k, key) == 0) return 1;
  return 0;
}

/* Resuming: the arguments onto a copy of the stored configuration; a change to any key but
 * resumable_keys is a usage error.  On success m->cfg is the new configuration. */
static int resume_config(const train_args *a, bh_model *m) {
  bh_config *cfg = bh_config_copy(m->cfg);
  if (!cfg) return bh_cli_fail_lib();
  int st = apply_arguments(a, cfg);
  for (int i = 0; !st && i < bh_config_count(cfg); i++) {
    const char *key = bh_config_key_at(cfg, i)->key;
    if (!is_resumable(key) && strcmp(bh_config_str(cfg, key), bh_config_str(m->cfg, key)) != 0)
      st = bh_cli_usage(CMD, "cannot change '%s' when resuming (only steps, log_every and "
                             "ckpt_every)", key);
  }
  if (st) {
    bh_config_free(cfg);
    return st;
  }
  bh_config_free(m->cfg);
  m->cfg = cfg;
  return BH_EXIT_OK;
}

/* The run's seed (the key "seed"); a negative one is a usage error. */
static int config_seed(const bh_config *cfg, bh_rng **rng) {
  long seed = bh_config_int(cfg, "seed");
  if (seed < 0) return bh_cli_usage(CMD, "seed: %ld is negative", seed);
  return (*rng = bh_rng_alloc((uint64_t)seed)) ? BH_EXIT_OK : bh_cli_fail_lib();
}

/* ---------------------------------------------------------------- running */

static void print_summary(const bh_model *m, const char *spec, const char *out,
                          const bh_train_summary *s) {
  if (s->steps_this_run == 0) {
    printf("%s on %s: already at step %ld/%ld, nothing to train; run folder %s\n",
           m->cls->name, spec, s->steps_done, bh_config_int(m->cfg, "steps"), out);
    return;
  }
  printf("%s on %s: step %ld/%ld in %.2f s (%.0f images/s);", m->cls->name, spec, s->steps_done,
         bh_config_int(m->cfg, "steps"), s->seconds, s->images_per_s);
  for (int i = 0; i < s->last.n; i++) printf(" %s %.6g", s->last.name[i], s->last.value[i]);
  printf("; run folder %s (config.json, log.jsonl, model.ckpt, train.json)\n", out);
}

/* Train m on the training split of its "data" key into --out. */
static int run_training(const train_args *a, bh_model *m, bh_dataset *ds, bh_rng *rng) {
  const char *spec = bh_config_str(m->cfg, "data");
  bh_train_opts o = {a->out, a->resume, a->quiet ? 0 : -1, 0, spec};
  bh_train_summary s;
  memset(&s, 0, sizeof s);
  if (!a->quiet) { /* the size of what trains, before the first progress line */
    fprintf(stderr, "bhivae: %s on %s: %zu parameters (", m->cls->name, spec,
            bh_model_param_count(m));
    for (int g = 0; g < m->ngroups; g++)
      fprintf(stderr, "%s%s %zu", g ? ", " : "", m->group_name[g],
              bh_model_group_param_count(m, g));
    fprintf(stderr, ")\n");
  }
  int st = bh_train_run(m, ds, rng, &o, &s);
  if (st == BH_TRAIN_STOPPED) {
    fprintf(stderr,
            "bhivae: stopped at step %ld; checkpoint saved in %s/model.ckpt; continue with: "
            "bhivae train --resume --out %s\n",
            s.steps_done, a->out, a->out);
    return EXIT_STOPPED;
  }
  if (st != BH_OK) return bh_cli_fail_lib();
  print_summary(m, spec, a->out, &s);
  return fflush(stdout) == 0 ? BH_EXIT_OK : bh_cli_fail("stdout: write failed");
}

/* The model's data shape from the training split; the subset the loop trains on (the key
 * "subset", drawn by models/train.c) is the model's n (β-TCVAE's dataset size). */
static void data_info(const bh_dataset *ds, const bh_config *cfg, bh_data_info *info) {
  long subset = bh_config_int(cfg, "subset");
  bh_data_info_from_dataset(ds, info);
  if (subset > 0 && (size_t)subset < ds->n) info->n = (size_t)subset;
}

static int train_new(const train_args *a) {
  const bh_model_class *cls;
  bh_config *cfg = NULL;
  char ck[4096];
  int st;
  if (!a->model) return bh_cli_usage(CMD, "--model: missing (or --resume)");
  if ((st = find_class(a->model, &cls)) || (st = build_config(a, cls, &cfg))) return st;
  snprintf(ck, sizeof ck, "%s/model.ckpt", a->out);
  if (access(ck, F_OK) == 0) {
    bh_config_free(cfg);
    return bh_cli_fail("%s: a run is already there (continue it with --resume, or choose "
                       "another --out)", ck);
  }
  bh_dataset *ds = NULL;
  bh_rng *rng = NULL;
  bh_model *m = NULL;
  bh_data_info info;
  st = bh_cli_model_data(CMD, NULL, bh_config_str(cfg, "data"), BH_SPLIT_TRAIN, &ds);
  if (!st) st = config_seed(cfg, &rng);
  if (!st) {
    data_info(ds, cfg, &info);
    m = bh_model_create(cls, cfg, &info, rng); /* owns cfg from here, also on failure */
    cfg = NULL;
    st = m ? run_training(a, m, ds, rng) : bh_cli_fail_lib();
  }
  bh_config_free(cfg);
  bh_model_free(m);
  bh_rng_free(rng);
  bh_dataset_free(ds);
  return st;
}

static int train_resume(const train_args *a) {
  if (a->config)
    return bh_cli_usage(CMD, "--config: not with --resume (the run's configuration is in its "
                             "checkpoint)");
  char ck[4096];
  snprintf(ck, sizeof ck, "%s/model.ckpt", a->out); /* --out is a folder, even a missing one */
  bh_model *m = bh_model_load_path(ck, NULL);
  if (!m) return bh_cli_fail_lib();
  bh_dataset *ds = NULL;
  bh_rng *rng = NULL;
  int st = BH_EXIT_OK;
  if (a->model && strcmp(a->model, m->cls->name) != 0)
    st = bh_cli_usage(CMD, "--model: the run in %s is a %s model, not %s", a->out,
                      m->cls->name, a->model);
  if (!st) st = resume_config(a, m);
  if (!st) st = bh_cli_model_data(CMD, m, NULL, BH_SPLIT_TRAIN, &ds);
  if (!st) st = config_seed(m->cfg, &rng);
  if (!st) st = run_training(a, m, ds, rng);
  bh_rng_free(rng);
  bh_dataset_free(ds);
  bh_model_free(m);
  return st;
}

int bh_cmd_train(int argc, char **argv) {
  train_args a;
  memset(&a, 0, sizeof a);
  bh_cli_opt opts[] = {{"model", &a.model, NULL},     {"data", &a.data, NULL},
                       {"config", &a.config, NULL},   {"seed", &a.seed, NULL},
                       {"out", &a.out, NULL},         {"threads", &a.threads, NULL},
                       {"resume", NULL, &a.resume},   {"quiet", NULL, &a.quiet},
                       {"help", NULL, &a.help},       {NULL, NULL, NULL}};
  char **rest = malloc(((size_t)argc + 1) * sizeof *rest);
  int nrest = 0, st;
  if (!rest) return bh_cli_fail("out of memory");
  st = bh_cli_take_repeated(CMD, "set", argc, argv, 1, rest, &nrest, a.set, &a.nset, MAX_SETS);
  if (!st) st = bh_cli_parse(CMD, nrest, rest, 1, opts);
  free(rest);
  if (st) return st;
  if (a.help) return print_help(&a);
  if (!a.out) return bh_cli_usage(CMD, "--out: missing (the run folder)");
  if (a.threads && (st = bh_cli_threads(CMD, a.threads))) return st;
  return a.resume ? train_resume(&a) : train_new(&a);
}
