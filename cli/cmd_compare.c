/* cmd_compare.c — `bhivae compare BASE.json NEW.json`: a bench-all summary (reports/<profile>/
 * summary.json, schema "bhivae-summary/1") checked against a baseline, metric by metric, each
 * within an absolute tolerance, and the throughput figures against a fraction of the baseline's.
 * CI runs the small deterministic `ci` profile and compares its summary with the committed
 * bench/baseline-ci.json: a change beyond tolerance, either way, means the code computes
 * something else than it did, which is either a bug or a reason to refresh the baseline.
 *
 * Exit statuses: 0 every check passed, 1 a regression or a missing run/metric, 2 bad input (a
 * file that is not JSON or not a summary) or a usage error. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/commands.h"

#define CMD "compare"
#define SUMMARY_SCHEMA "bhivae-summary/1"
#define MAX_TOL 64
#define DEFAULT_SPEED_TOL 0.5

static const char usage_text[] =
    "Usage: bhivae compare BASE.json NEW.json [--tol METRIC=ABS ...] [--speed-tol FRACTION]\n"
    "\n"
    "Compare two bench-all summaries (OUT/reports/<profile>/summary.json, schema\n"
    SUMMARY_SCHEMA "): for every run of BASE and every metric it has, the NEW value must\n"
    "satisfy |new - base| <= tolerance.  A difference beyond it in either direction fails:\n"
    "the baseline records what the code computes, so a change is a bug or a reason to refresh\n"
    "the baseline (worse: REGRESSION, better: CHANGED).  A run or metric of BASE that NEW\n"
    "lacks is MISSING and fails; runs only NEW has are listed, never a failure.\n"
    "\n"
    "Default tolerances (absolute, by metric family = the key up to its first '-'):\n"
    "  mig, sap (mig-chen, sap-continuous ...)     0.02   (scores in 0..1)\n"
    "  dci (dci-completeness ...)                  0.03   (scores in 0..1)\n"
    "  zdiff, factorvae, probe (... -multinomial)  2.0    (percentage points)\n"
    "  any other metric                            0.02\n"
    "\n"
    "Options:\n"
    "  --tol METRIC=ABS     the tolerance of METRIC, a metric key (zdiff-multinomial) or a\n"
    "                       family (zdiff: every zdiff variant); the exact key wins over the\n"
    "                       family.  Repeatable.\n"
    "  --speed-tol FRACTION throughput (the summary's \"throughput\" figures: images/s of\n"
    "                       each model, and the rates - *_per_s, *gflops - of benchmark\n"
    "                       objects such as bench_step) must be at least (1 - FRACTION) x\n"
    "                       the baseline's.  Without this option the rule uses 0.5 and is\n"
    "                       only reported (SLOWER), never a failure: CI machines differ in\n"
    "                       speed.  Given, a slower figure is a REGRESSION and a missing one\n"
    "                       MISSING.\n"
    "\n"
    "Output: one table row per check (run, metric, base, new, delta, tolerance, status) and\n"
    "a last line counting them.  Exit status: 0 every check passed, 1 a REGRESSION, CHANGED\n"
    "or MISSING, 2 bad input (not JSON, not a summary) or a usage error.\n"
    "\n"
    "CI: ./bench-all --profile ci --out DIR, then\n"
    "    bhivae compare bench/baseline-ci.json DIR/reports/ci/summary.json\n"
    "When a change of the numbers is intended, refresh the baseline from a fresh DIR:\n"
    "    cp DIR/reports/ci/summary.json bench/baseline-ci.json\n";

/* ---------------------------------------------------------------- tolerances */

typedef struct metric_family {
  const char *name;
  double tol;
} metric_family;

/* Headroom for another machine (BLAS kernels, summation order): a few hundredths of a 0..1
 * score, a point or two of a percentage.  On one machine the ci profile repeats exactly. */
static const metric_family families[] = {
    {"mig", 0.02}, {"sap", 0.02}, {"dci", 0.03}, {"zdiff", 2.0}, {"factorvae", 2.0},
    {"probe", 2.0}};
#define NFAMILIES ((int)(sizeof families / sizeof families[0]))
#define OTHER_TOL 0.02

typedef struct user_tol {
  char name[64];
  double tol;
} user_tol;

typedef struct compare_args {
  const char *base, *new_, *speed_arg;
  int help;
  user_tol tols[MAX_TOL];
  int ntols;
  double speed_tol;
  int speed_judged; /* --speed-tol given: throughput can fail */
} compare_args;

/* The length of a metric key's family: its text up to the first '-'. */
static size_t family_len(const char *key) { return strcspn(key, "-"); }

static double tolerance_of(const compare_args *a, const char *key) {
  size_t flen = family_len(key);
  for (int i = 0; i < a->ntols; i++) /* the exact key first */
    if (strcmp(a->tols[i].name, key) == 0) return a->tols[i].tol;
  for (int i = 0; i < a->ntols; i++)
    if (strlen(a->tols[i].name) == flen && strncmp(a->tols[i].name, key, flen) == 0)
      return a->tols[i].tol;
  for (int i = 0; i < NFAMILIES; i++)
    if (strlen(families[i].name) == flen && strncmp(families[i].name, key, flen) == 0)
      return families[i].tol;
  return OTHER_TOL;
}

/* A non-negative finite number, all of text. */
static int parse_nonneg(const char *text, double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end || !isfinite(v) || v < 0.0) return -1;
  *out = v;
  return 0;
}

static int parse_tol(compare_args *a, const char *spec) {
  const char *eq = strchr(spec, '=');
  size_t len = eq ? (size_t)(eq - spec) : 0;
  double v;
  if (!eq || len == 0 || len >= sizeof a->tols[0].name)
    return bh_cli_usage(CMD, "--tol: expected METRIC=ABS, got '%s'", spec);
  if (parse_nonneg(eq + 1, &v))
    return bh_cli_usage(CMD, "--tol %s: expected a non-negative number after '='", spec);
  user_tol *t = &a->tols[a->ntols++];
  memcpy(t->name, spec, len);
  t->name[len] = '\0';
  t->tol = v;
  return BH_EXIT_OK;
}

/* ---------------------------------------------------------------- reading summaries */

/* Bad input: one line, exit 2 (no pointer to --help: the command line was fine). */
static int bad_input(const char *path, const char *what) {
  fprintf(stderr, "bhivae: %s: %s\n", path, what);
  return BH_EXIT_USAGE;
}

/* A metric's value: a number, or an object with a numeric "score" (the result files' form).
 * 1 = a value, 0 = absent (no entry or null), -1 = neither. */
static int metric_value(const json_t *v, double *out) {
  if (!v || json_is_null(v)) return 0;
  if (json_is_object(v)) v = json_object_get(v, "score");
  if (!json_is_number(v)) return -1;
  *out = json_number_value(v);
  return 1;
}

/* The summary in path, checked far enough for the comparison: the schema, "runs" an object of
 * objects each with a "metrics" object of numbers (or nulls), "throughput" (when present) an
 * object.  NULL after the one line (exit 2). */
static json_t *load_summary(const char *path) {
  json_error_t je;
  char msg[512];
  json_t *s = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!s) {
    if (je.line < 1)
      snprintf(msg, sizeof msg, "cannot read: %s", je.text);
    else
      snprintf(msg, sizeof msg, "not JSON (line %d: %s)", je.line, je.text);
    bad_input(path, msg);
    return NULL;
  }
  const char *schema = json_string_value(json_object_get(s, "schema"));
  const json_t *runs = json_object_get(s, "runs"), *tp = json_object_get(s, "throughput");
  const char *key, *mkey;
  json_t *run, *m;
  if (!json_is_object(s) || !schema || strcmp(schema, SUMMARY_SCHEMA) != 0) {
    snprintf(msg, sizeof msg, "not a bench-all summary (\"schema\" is not \"%s\")",
             SUMMARY_SCHEMA);
    goto bad;
  }
  if (!json_is_object(runs)) {
    snprintf(msg, sizeof msg, "\"runs\": expected an object of runs");
    goto bad;
  }
  json_object_foreach((json_t *)runs, key, run) {
    const json_t *ms = json_object_get(run, "metrics");
    if (!json_is_object(ms)) {
      snprintf(msg, sizeof msg, "runs.%.200s: expected an object with \"metrics\"", key);
      goto bad;
    }
    json_object_foreach((json_t *)ms, mkey, m) {
      double v;
      if (metric_value(m, &v) < 0) {
        snprintf(msg, sizeof msg,
                 "runs.%.200s.metrics.%.100s: expected a number (or {\"score\": number})", key,
                 mkey);
        goto bad;
      }
    }
  }
  if (tp && !json_is_object(tp)) {
    snprintf(msg, sizeof msg, "\"throughput\": expected an object");
    goto bad;
  }
  return s;
bad:
  bad_input(path, msg);
  json_decref(s);
  return NULL;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of object o, sorted (the table reads in a stable order); the caller frees it. */
static const char **sorted_keys(const json_t *o, size_t *n) {
  *n = json_object_size(o);
  const char **keys = malloc((*n + 1) * sizeof *keys);
  if (!keys) return NULL;
  size_t i = 0;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)o, k, v) keys[i++] = k;
  qsort(keys, *n, sizeof *keys, cmp_str);
  return keys;
}

/* ---------------------------------------------------------------- the table */

typedef struct tally {
  int checked, ok, regression, changed, missing; /* metrics */
  int speed_checked, speed_ok, speed_slower, speed_missing;
  int wrun, wmetric; /* column widths */
} tally;

static void row(const tally *t, const char *run, const char *metric, const char *base,
                const char *new_, const char *delta, const char *tol, const char *status) {
  printf("%-*s  %-*s  %12s  %12s  %10s  %9s  %s\n", t->wrun, run, t->wmetric, metric, base,
         new_, delta, tol, status);
}

static void fmt(char *buf, size_t n, const char *f, double v) { snprintf(buf, n, f, v); }

/* A rate, where higher is better, among the numbers of a benchmark's object (bench-step
 * --json also has milliseconds, batch sizes, losses): "..._per_s" and "...gflops". */
static int is_rate(const char *key) {
  size_t n = strlen(key);
  return (n >= 6 && strcmp(key + n - 6, "_per_s") == 0) ||
         (n >= 6 && strcmp(key + n - 6, "gflops") == 0);
}

static void widen(int *w, int len) {
  if (len > *w) *w = len;
}

/* The widths: the longest run id (of either file) and metric key or throughput figure name of
 * base. */
static void widths(tally *t, const json_t *base, const json_t *new_) {
  const char *key, *mkey;
  json_t *run, *m;
  t->wrun = (int)strlen("throughput");
  t->wmetric = 6;
  json_object_foreach((json_t *)json_object_get(base, "runs"), key, run) {
    widen(&t->wrun, (int)strlen(key));
    json_object_foreach(json_object_get(run, "metrics"), mkey, m)
      widen(&t->wmetric, (int)strlen(mkey));
  }
  json_object_foreach((json_t *)json_object_get(new_, "runs"), key, run)
    widen(&t->wrun, (int)strlen(key));
  json_object_foreach((json_t *)json_object_get(base, "throughput"), key, run) {
    if (json_is_number(run)) widen(&t->wmetric, (int)strlen(key));
    json_object_foreach(run, mkey, m)
      if (json_is_number(m) && is_rate(mkey))
        widen(&t->wmetric, (int)(strlen(key) + 1 + strlen(mkey)));
  }
}

/* One metric of one run. */
static void check_metric(const compare_args *a, tally *t, const char *id, const char *key,
                         const json_t *bm, const json_t *nm) {
  double b, n;
  char sb[32], sn[32] = "-", sd[32] = "-", st[32];
  if (metric_value(bm, &b) <= 0) return; /* the baseline has no value: nothing to hold */
  double tol = tolerance_of(a, key);
  fmt(sb, sizeof sb, "%.4f", b);
  fmt(st, sizeof st, "%g", tol);
  t->checked++;
  if (metric_value(nm, &n) <= 0) {
    t->missing++;
    row(t, id, key, sb, sn, sd, st, "MISSING");
    return;
  }
  double d = n - b;
  fmt(sn, sizeof sn, "%.4f", n);
  fmt(sd, sizeof sd, "%+.4f", d);
  /* a hair of slack: a difference of exactly the tolerance passes despite decimal rounding */
  const char *status = "OK";
  if (fabs(d) > tol * (1.0 + 1e-9) + 1e-12) {
    /* every metric here is higher-is-better */
    status = d < 0 ? "REGRESSION" : "CHANGED";
    if (d < 0)
      t->regression++;
    else
      t->changed++;
  } else {
    t->ok++;
  }
  row(t, id, key, sb, sn, sd, st, status);
}

static void check_runs(const compare_args *a, tally *t, const json_t *base, const json_t *new_) {
  const json_t *bruns = json_object_get(base, "runs"), *nruns = json_object_get(new_, "runs");
  size_t nids, nkeys;
  const char **ids = sorted_keys(bruns, &nids);
  for (size_t i = 0; ids && i < nids; i++) {
    const json_t *bm = json_object_get(json_object_get(bruns, ids[i]), "metrics");
    const json_t *nrun = json_object_get(nruns, ids[i]);
    if (!nrun) {
      t->checked++;
      t->missing++;
      row(t, ids[i], "*", "-", "-", "-", "-", "MISSING (no such run)");
      continue;
    }
    const json_t *nm = json_object_get(nrun, "metrics");
    const char **keys = sorted_keys(bm, &nkeys);
    for (size_t k = 0; keys && k < nkeys; k++)
      check_metric(a, t, ids[i], keys[k], json_object_get(bm, keys[k]),
                   json_object_get(nm, keys[k]));
    free(keys);
  }
  free(ids);
  ids = sorted_keys(nruns, &nids);
  for (size_t i = 0; ids && i < nids; i++)
    if (!json_object_get(bruns, ids[i]))
      row(t, ids[i], "*", "-", "-", "-", "-", "new run (not in the baseline)");
  free(ids);
}

/* ---------------------------------------------------------------- throughput */

/* One throughput figure (images/s): name is "<model>" or "<group>.<figure>". */
static void check_speed(const compare_args *a, tally *t, const char *name, double b,
                        const json_t *nv) {
  char sb[32], sn[32] = "-", sd[32] = "-", st[32];
  double floor = (1.0 - a->speed_tol) * b;
  fmt(sb, sizeof sb, "%.1f", b);
  fmt(st, sizeof st, ">=%.0f%%", 100.0 * (1.0 - a->speed_tol));
  t->speed_checked++;
  if (!json_is_number(nv)) {
    t->speed_missing++;
    row(t, "throughput", name, sb, sn, sd, st,
        a->speed_judged ? "MISSING" : "missing (not judged)");
    return;
  }
  double n = json_number_value(nv);
  fmt(sn, sizeof sn, "%.1f", n);
  if (b > 0) fmt(sd, sizeof sd, "%+.1f%%", 100.0 * (n - b) / b);
  if (n >= floor) {
    t->speed_ok++;
    row(t, "throughput", name, sb, sn, sd, st, "OK");
  } else {
    t->speed_slower++;
    row(t, "throughput", name, sb, sn, sd, st,
        a->speed_judged ? "REGRESSION" : "SLOWER (not judged)");
  }
}

/* Every number of base's "throughput" (images/s of each model), and the rates of its objects
 * one level down ("bench_step.images_per_s"). */
static void check_throughput(const compare_args *a, tally *t, const json_t *base,
                             const json_t *new_) {
  const json_t *bt = json_object_get(base, "throughput");
  const json_t *nt = json_object_get(new_, "throughput");
  if (!bt) return;
  size_t n, m;
  const char **keys = sorted_keys(bt, &n);
  for (size_t i = 0; keys && i < n; i++) {
    const json_t *bv = json_object_get(bt, keys[i]), *nv = json_object_get(nt, keys[i]);
    if (json_is_number(bv)) {
      check_speed(a, t, keys[i], json_number_value(bv), nv);
    } else if (json_is_object(bv)) {
      const char **sub = sorted_keys(bv, &m);
      for (size_t j = 0; sub && j < m; j++) {
        const json_t *b2 = json_object_get(bv, sub[j]);
        char name[160];
        if (!json_is_number(b2) || !is_rate(sub[j])) continue;
        snprintf(name, sizeof name, "%s.%s", keys[i], sub[j]);
        check_speed(a, t, name, json_number_value(b2), json_object_get(nv, sub[j]));
      }
      free(sub);
    }
  }
  free(keys);
}

/* ---------------------------------------------------------------- the command */

static void print_header(const compare_args *a, const json_t *base, const json_t *new_) {
  const char *bp = json_string_value(json_object_get(base, "profile"));
  const char *np = json_string_value(json_object_get(new_, "profile"));
  printf("base: %s (profile %s)\nnew:  %s (profile %s)\n", a->base, bp ? bp : "?", a->new_,
         np ? np : "?");
  if (bp && np && strcmp(bp, np) != 0)
    printf("note: the profiles differ; runs of one are missing from the other\n");
}

static int compare(const compare_args *a, const json_t *base, const json_t *new_) {
  tally t;
  memset(&t, 0, sizeof t);
  widths(&t, base, new_);
  print_header(a, base, new_);
  row(&t, "run", "metric", "base", "new", "delta", "tol", "status");
  check_runs(a, &t, base, new_);
  check_throughput(a, &t, base, new_);
  int failed = t.regression + t.changed + t.missing +
               (a->speed_judged ? t.speed_slower + t.speed_missing : 0);
  printf("compare: %d metric checks: %d OK, %d REGRESSION, %d CHANGED, %d MISSING", t.checked,
         t.ok, t.regression, t.changed, t.missing);
  if (t.speed_checked)
    printf("; throughput: %d checks, %d OK, %d slower, %d missing%s", t.speed_checked,
           t.speed_ok, t.speed_slower, t.speed_missing,
           a->speed_judged ? "" : " (not judged: no --speed-tol)");
  printf("; %s\n", failed ? "FAILED" : "passed");
  return failed ? BH_EXIT_FAIL : BH_EXIT_OK;
}

int bh_cmd_compare(int argc, char **argv) {
  compare_args a;
  memset(&a, 0, sizeof a);
  char **rest = malloc((size_t)(argc + 1) * sizeof *rest);
  const char *tolv[MAX_TOL];
  int nrest = 0, ntol = 0, st, npos = 1;
  if (!rest) return bh_cli_fail("out of memory");
  st = bh_cli_take_repeated(CMD, "tol", argc, argv, 1, rest, &nrest, tolv, &ntol, MAX_TOL);
  /* BASE and NEW come first */
  while (!st && npos < nrest && npos < 3 && rest[npos][0] != '-') npos++;
  bh_cli_opt opts[] = {{"speed-tol", &a.speed_arg, NULL}, {"help", NULL, &a.help},
                       {NULL, NULL, NULL}};
  if (!st) st = bh_cli_parse(CMD, nrest, rest, npos, opts);
  if (!st && !a.help) {
    if (npos < 3) st = bh_cli_usage(CMD, "expected two files: BASE.json NEW.json");
    else {
      a.base = rest[1];
      a.new_ = rest[2];
    }
  }
  free(rest);
  if (st) return st;
  if (a.help) return fputs(usage_text, stdout), BH_EXIT_OK;
  for (int i = 0; i < ntol; i++)
    if ((st = parse_tol(&a, tolv[i]))) return st;
  a.speed_tol = DEFAULT_SPEED_TOL;
  if (a.speed_arg) {
    if (parse_nonneg(a.speed_arg, &a.speed_tol) || a.speed_tol > 1.0)
      return bh_cli_usage(CMD, "--speed-tol: expected a fraction in 0..1, got '%s'",
                          a.speed_arg);
    a.speed_judged = 1;
  }
  json_t *base = load_summary(a.base);
  if (!base) return BH_EXIT_USAGE;
  json_t *new_ = load_summary(a.new_);
  if (!new_) {
    json_decref(base);
    return BH_EXIT_USAGE;
  }
  st = compare(&a, base, new_);
  json_decref(base);
  json_decref(new_);
  return st;
}
