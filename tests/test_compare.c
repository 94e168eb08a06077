/* test_compare.c — `bhivae compare BASE NEW` (cli/cmd_compare.c) through the built binary, on
 * summaries fabricated here: equal summaries pass; a metric beyond its family's default
 * tolerance (or a --tol) fails with its row marked; a missing run or metric fails; the
 * throughput rule is only judged with --speed-tol; bad input is one line and exit 2.  Every
 * expected delta and verdict below is worked out by hand from the fabricated numbers.
 * Also the driver of the CI profile, the bench-all script, with a stand-in bhivae (a shell
 * script answering bench list/budget/check/run and report): resuming, redoing a corrupt
 * result, a failed run still followed by the report, and its bad-input messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testfiles.h"

/* ---------------------------------------------------------------- fixtures */

/* The baseline: two Table 1 runs and a Table 2 run, numbers chosen so each family's default
 * tolerance (mig/sap 0.02, dci 0.03, zdiff/factorvae/probe 2.0 points) can be straddled. */
#define RUN_T1_VAE \
  "\"t1-vae-s1\": {\"metrics\": {\"mig\": 0.50, \"sap\": 0.30, \"dci\": 0.40, " \
  "\"zdiff\": 60.0, \"zdiff-multinomial\": 61.0, \"factorvae\": 55.0}, \"images_per_s\": 800}"
#define RUN_T1_BHIVAE \
  "\"t1-bhivae-s1\": {\"metrics\": {\"mig\": 0.25, \"sap\": 0.10, \"dci\": 0.20, " \
  "\"zdiff\": 80.0, \"zdiff-multinomial\": 79.0, \"factorvae\": 70.0}, \"images_per_s\": 400}"
#define RUN_T2_VAE "\"t2-vae-d10-s1\": {\"metrics\": {\"probe\": 90.0}, \"images_per_s\": 900}"

/* A summary with the given runs (a JSON object body) and throughput (an object body). */
static const char *summary(const char *name, const char *runs, const char *throughput) {
  static char paths[16][256];
  static int next;
  char *path = paths[next++ % 16], text[4096];
  snprintf(text, sizeof text,
           "{\"schema\": \"bhivae-summary/1\", \"profile\": \"ci\", \"seeds\": 1,\n"
           " \"runs\": {%s},\n \"aggregate\": {},\n \"throughput\": {%s}}\n",
           runs, throughput);
  tf_path(path, name);
  tf_write_bytes(path, text, strlen(text));
  return path;
}

static const char *base_summary(void) {
  return summary("base.json", RUN_T1_VAE ", " RUN_T1_BHIVAE ", " RUN_T2_VAE,
                 "\"vae\": 850.0, \"bhivae\": 400.0");
}

/* A summary like the baseline with one run replaced by `t1vae` (NULL: left out). */
static const char *new_summary(const char *t1vae, const char *throughput) {
  char runs[2048];
  snprintf(runs, sizeof runs, "%s%s" RUN_T1_BHIVAE ", " RUN_T2_VAE, t1vae ? t1vae : "",
           t1vae ? ", " : "");
  return summary("new.json", runs,
                 throughput ? throughput : "\"vae\": 850.0, \"bhivae\": 400.0");
}

/* t1-vae-s1 with its metrics body replaced. */
static const char *new_t1vae(const char *metrics) {
  static char run[1024];
  snprintf(run, sizeof run, "\"t1-vae-s1\": {\"metrics\": {%s}, \"images_per_s\": 800}", metrics);
  return new_summary(run, NULL);
}

#define T1VAE_METRICS(mig, dci, zdiff) \
  "\"mig\": " mig ", \"sap\": 0.30, \"dci\": " dci ", \"zdiff\": " zdiff \
  ", \"zdiff-multinomial\": 61.0, \"factorvae\": 55.0"

/* ---------------------------------------------------------------- reading the table */

/* The table row of (run, metric): its delta column and status (the rest of the line); a
 * failure when there is no such row. */
static void row_of(const tf_run_result *r, const char *run, const char *metric, char *delta,
                   char *status) {
  for (const char *line = r->out; *line;) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    char buf[512], c0[128], c1[128], c2[64], c3[64], c4[64], c5[64];
    int n = 0;
    if (len < sizeof buf) {
      memcpy(buf, line, len);
      buf[len] = '\0';
      if (sscanf(buf, "%127s %127s %63s %63s %63s %63s %n", c0, c1, c2, c3, c4, c5, &n) == 6 &&
          n > 0 && strcmp(c0, run) == 0 && strcmp(c1, metric) == 0) {
        strcpy(delta, c4);
        strcpy(status, buf + n);
        return;
      }
    }
    line += len + (nl != NULL);
  }
  fail_msg("no row for %s %s in:\n%s", run, metric, r->out);
}

static void expect_row(const tf_run_result *r, const char *run, const char *metric,
                       const char *want_status) {
  char delta[64], status[256];
  row_of(r, run, metric, delta, status);
  if (strcmp(status, want_status) != 0)
    fail_msg("%s %s: status '%s', expected '%s'\n%s", run, metric, status, want_status, r->out);
}

static double row_delta(const tf_run_result *r, const char *run, const char *metric) {
  char delta[64], status[256];
  row_of(r, run, metric, delta, status);
  return strtod(delta, NULL);
}

/* The count of rows whose status is exactly s. */
static int rows_with(const tf_run_result *r, const char *s) {
  int n = 0;
  size_t len = strlen(s);
  for (const char *p = r->out; (p = strstr(p, s)) != NULL; p += len)
    if ((p[len] == '\n' || p[len] == '\0') && p > r->out && p[-1] == ' ') n++;
  return n;
}

/* ---------------------------------------------------------------- tests */

static void test_equal_passes(void **state) {
  (void)state;
  tf_run_result r;
  const char *b = base_summary(), *n = new_t1vae(T1VAE_METRICS("0.50", "0.40", "60.0"));
  tf_run_bhivae(&r, "compare %s %s", b, n);
  tf_expect_status(&r, 0);
  /* 6 + 6 + 1 metric rows, 2 throughput rows, all OK */
  assert_int_equal(rows_with(&r, "OK"), 15);
  expect_row(&r, "t2-vae-d10-s1", "probe", "OK");
  assert_non_null(strstr(r.out, "passed"));
  /* the same file on both sides too */
  tf_run_bhivae(&r, "compare %s %s", b, b);
  tf_expect_status(&r, 0);
}

/* mig 0.50 -> 0.47: |delta| 0.03 > 0.02, worse. */
static void test_regression_marked(void **state) {
  (void)state;
  tf_run_result r;
  const char *b = base_summary(), *n = new_t1vae(T1VAE_METRICS("0.47", "0.40", "60.0"));
  tf_run_bhivae(&r, "compare %s %s", b, n);
  tf_expect_status(&r, 1);
  expect_row(&r, "t1-vae-s1", "mig", "REGRESSION");
  assert_true(fabs(row_delta(&r, "t1-vae-s1", "mig") - (-0.03)) < 1e-9);
  expect_row(&r, "t1-vae-s1", "sap", "OK");
  expect_row(&r, "t1-bhivae-s1", "mig", "OK");
  assert_int_equal(rows_with(&r, "REGRESSION"), 1);
}

/* The families' defaults: dci moves 0.025 (within 0.03, beyond 0.02); zdiff 1.9 points (within
 * 2) passes; zdiff 2.1 points fails; mig 0.019 passes. */
static void test_family_defaults(void **state) {
  (void)state;
  tf_run_result r;
  const char *b = base_summary(), *n = new_t1vae(T1VAE_METRICS("0.481", "0.375", "58.1"));
  tf_run_bhivae(&r, "compare %s %s", b, n);
  tf_expect_status(&r, 0);
  expect_row(&r, "t1-vae-s1", "dci", "OK");
  expect_row(&r, "t1-vae-s1", "zdiff", "OK");
  expect_row(&r, "t1-vae-s1", "mig", "OK");
  n = new_t1vae(T1VAE_METRICS("0.50", "0.40", "57.9"));
  tf_run_bhivae(&r, "compare %s %s", b, n);
  tf_expect_status(&r, 1);
  expect_row(&r, "t1-vae-s1", "zdiff", "REGRESSION");
  n = new_t1vae(T1VAE_METRICS("0.50", "0.365", "60.0")); /* dci 0.035 > 0.03 */
  tf_run_bhivae(&r, "compare %s %s", b, n);
  tf_expect_status(&r, 1);
  expect_row(&r, "t1-vae-s1", "dci", "REGRESSION");
}

/* Better beyond tolerance is a change, and fails too: the baseline no longer describes the
 * code. */
static void test_improvement_fails(void **state) {
  (void)state;
  tf_run_result r;
  const char *b = base_summary(), *n = new_t1vae(T1VAE_METRICS("0.50", "0.40", "63.0"));
  tf_run_bhivae(&r, "compare %s %s", b, n);
  tf_expect_status(&r, 1);
  expect_row(&r, "t1-vae-s1", "zdiff", "CHANGED");
  assert_true(fabs(row_delta(&r, "t1-vae-s1", "zdiff") - 3.0) < 1e-9);
}

static void test_missing_run_and_metric(void **state) {
  (void)state;
  tf_run_result r;
  const char *b = base_summary(), *n = new_summary(NULL, NULL);
  tf_run_bhivae(&r, "compare %s %s", b, n);
  tf_expect_status(&r, 1);
  expect_row(&r, "t1-vae-s1", "*", "MISSING (no such run)");
  expect_row(&r, "t1-bhivae-s1", "mig", "OK");
  /* a metric left out, and one that is null */
  n = new_t1vae("\"mig\": 0.50, \"sap\": null, \"dci\": 0.40, \"zdiff\": 60.0, "
                "\"factorvae\": 55.0");
  tf_run_bhivae(&r, "compare %s %s", b, n);
  tf_expect_status(&r, 1);
  expect_row(&r, "t1-vae-s1", "sap", "MISSING");
  expect_row(&r, "t1-vae-s1", "zdiff-multinomial", "MISSING");
  assert_int_equal(rows_with(&r, "MISSING"), 2);
  /* a run only the new summary has is listed, never a failure */
  n = summary("more.json",
              RUN_T1_VAE ", " RUN_T1_BHIVAE ", " RUN_T2_VAE
              ", \"t2-vae-d16-s1\": {\"metrics\": {\"probe\": 91.0}}",
              "\"vae\": 850.0, \"bhivae\": 400.0");
  tf_run_bhivae(&r, "compare %s %s", b, n);
  tf_expect_status(&r, 0);
  assert_non_null(strstr(r.out, "t2-vae-d16-s1"));
}

static void test_custom_tolerances(void **state) {
  (void)state;
  tf_run_result r;
  const char *b = base_summary(), *n = new_t1vae(T1VAE_METRICS("0.47", "0.40", "60.0"));
  tf_run_bhivae(&r, "compare %s %s --tol mig=0.05", b, n);
  tf_expect_status(&r, 0);
  expect_row(&r, "t1-vae-s1", "mig", "OK");
  /* tighter than the default: sap 0.30 -> 0.29 fails at 0.005 */
  n = new_t1vae("\"mig\": 0.50, \"sap\": 0.29, \"dci\": 0.40, \"zdiff\": 60.0, "
                "\"zdiff-multinomial\": 61.0, \"factorvae\": 55.0");
  tf_run_bhivae(&r, "compare %s %s --tol=sap=0.005", b, n);
  tf_expect_status(&r, 1);
  expect_row(&r, "t1-vae-s1", "sap", "REGRESSION");
  /* a family covers its variants; the exact key wins over the family */
  n = new_t1vae("\"mig\": 0.50, \"sap\": 0.30, \"dci\": 0.40, \"zdiff\": 56.0, "
                "\"zdiff-multinomial\": 57.0, \"factorvae\": 55.0");
  tf_run_bhivae(&r, "compare %s %s --tol zdiff=5", b, n);
  tf_expect_status(&r, 0);
  tf_run_bhivae(&r, "compare %s %s --tol zdiff-multinomial=1 --tol zdiff=5", b, n);
  tf_expect_status(&r, 1);
  expect_row(&r, "t1-vae-s1", "zdiff", "OK");
  expect_row(&r, "t1-vae-s1", "zdiff-multinomial", "REGRESSION");
}

/* Throughput: 850 -> 400 is below half (425).  Only reported without --speed-tol. */
static void test_speed_rule(void **state) {
  (void)state;
  tf_run_result r;
  const char *b = base_summary();
  const char *n = new_summary(RUN_T1_VAE, "\"vae\": 400.0, \"bhivae\": 400.0");
  tf_run_bhivae(&r, "compare %s %s", b, n);
  tf_expect_status(&r, 0);
  expect_row(&r, "throughput", "vae", "SLOWER (not judged)");
  expect_row(&r, "throughput", "bhivae", "OK");
  tf_run_bhivae(&r, "compare %s %s --speed-tol 0.5", b, n);
  tf_expect_status(&r, 1);
  expect_row(&r, "throughput", "vae", "REGRESSION");
  /* 400/850 = 0.47: within a 0.6 tolerance (floor 340), not within 0.5 */
  tf_run_bhivae(&r, "compare %s %s --speed-tol 0.6", b, n);
  tf_expect_status(&r, 0);
  /* faster is never a failure; a missing figure is, when judged */
  n = new_summary(RUN_T1_VAE, "\"vae\": 5000.0");
  tf_run_bhivae(&r, "compare %s %s --speed-tol 0.1", b, n);
  tf_expect_status(&r, 1);
  expect_row(&r, "throughput", "vae", "OK");
  expect_row(&r, "throughput", "bhivae", "MISSING");
  tf_run_bhivae(&r, "compare %s %s", b, n);
  tf_expect_status(&r, 0);
  /* a benchmark object: its rates are figures (700 -> 300 is below 350), its milliseconds and
   * sizes are not (no row) */
  b = summary("bbase.json", RUN_T2_VAE,
              "\"bench_step\": {\"images_per_s\": 700, \"gflops\": 50, \"step_ms\": 90}");
  n = summary("bnew.json", RUN_T2_VAE,
              "\"bench_step\": {\"images_per_s\": 300, \"gflops\": 49, \"step_ms\": 200}");
  tf_run_bhivae(&r, "compare %s %s --speed-tol 0.5", b, n);
  tf_expect_status(&r, 1);
  expect_row(&r, "throughput", "bench_step.images_per_s", "REGRESSION");
  expect_row(&r, "throughput", "bench_step.gflops", "OK");
  assert_null(strstr(r.out, "step_ms"));
}

static void test_bad_input(void **state) {
  (void)state;
  tf_run_result r;
  char bad[256];
  const char *b = base_summary();
  tf_path(bad, "bad.json");
  tf_write_bytes(bad, "{\"schema\": ", 11);
  tf_run_bhivae(&r, "compare %s %s", b, bad);
  tf_expect_status(&r, 2);
  assert_non_null(strstr(r.err, "bad.json"));
  assert_non_null(strstr(r.err, "not JSON"));
  assert_ptr_equal(strchr(r.err, '\n'), r.err + strlen(r.err) - 1); /* one line */
  /* JSON, but not a summary: no schema, a wrong one, runs not an object, a metric a string */
  const char *wrong[] = {"{\"runs\": {}}", "{\"schema\": \"bhivae-result/1\", \"runs\": {}}",
                         "{\"schema\": \"bhivae-summary/1\", \"runs\": []}",
                         "{\"schema\": \"bhivae-summary/1\", \"runs\": {\"a\": {\"metrics\": "
                         "{\"mig\": \"high\"}}}}"};
  const char *names[] = {"schema", "schema", "runs", "runs.a.metrics.mig"};
  for (int i = 0; i < 4; i++) {
    tf_write_bytes(bad, wrong[i], strlen(wrong[i]));
    tf_run_bhivae(&r, "compare %s %s", bad, b);
    tf_expect_status(&r, 2);
    if (!strstr(r.err, names[i]))
      fail_msg("case %d: stderr does not name %s: %s", i, names[i], r.err);
    assert_ptr_equal(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
  }
  tf_run_bhivae(&r, "compare %s %s/nonexistent.json", b, "/nonexistent");
  tf_expect_status(&r, 2);
  /* usage errors */
  tf_run_bhivae(&r, "compare %s", b);
  tf_expect_usage(&r, "two files");
  tf_run_bhivae(&r, "compare %s %s --tol mig", b, b);
  tf_expect_usage(&r, "--tol");
  tf_run_bhivae(&r, "compare %s %s --tol mig=-1", b, b);
  tf_expect_usage(&r, "--tol");
  tf_run_bhivae(&r, "compare %s %s --speed-tol 1.5", b, b);
  tf_expect_usage(&r, "--speed-tol");
  tf_run_bhivae(&r, "compare --help");
  tf_expect_status(&r, 0);
  assert_non_null(strstr(r.out, "0.02"));
}

/* ---------------------------------------------------------------- bench-all */

/* A stand-in for bhivae: profile "mock" has runs r1, r2 and bad-s1 (which fails until the file
 * FIXED exists); a result is valid when it holds "valid-result"; every bench run and report
 * appends a line to CALLS. */
static const char mock_text[] =
    "#!/bin/sh\n"
    "d=$(dirname \"$0\")\n"
    "case \"$1 $2\" in\n"
    "'bench list')\n"
    "  [ \"$4\" = mock ] || { echo \"bhivae: --profile: unknown profile '$4' (known: mock)\" >&2;"
    " exit 2; }\n"
    "  printf 'r1\\nr2\\nbad-s1\\n' ;;\n"
    "'bench budget') echo 'mock: three runs, no time at all' ;;\n"
    "'bench data') echo data >>\"$d/CALLS\"; echo 'mock: 3 training images' ;;\n"
    "'bench check')\n"
    "  grep -q valid-result \"$3\" 2>/dev/null && exit 0\n"
    "  echo \"bhivae: $3: truncated (no \\\"complete\\\")\" >&2; exit 1 ;;\n"
    "'bench run')\n"
    "  echo \"run $6 $9 ${10}\" >>\"$d/CALLS\"\n"
    "  case $6 in bad*) [ -e \"$d/FIXED\" ] || { echo \"bhivae: $6: diverged\" >&2; exit 1; } ;;"
    " esac\n"
    "  echo valid-result >\"$8/results/$6.json.tmp\" && mv \"$8/results/$6.json.tmp\""
    " \"$8/results/$6.json\" ;;\n"
    "'report --results')\n"
    "  echo report >>\"$d/CALLS\"; mkdir -p \"$7\" && echo '# index' >\"$7/index.md\" ;;\n"
    "*) echo \"mock: unexpected: $*\" >&2; exit 3 ;;\n"
    "esac\n";

static char bench_all[TF_PATH_MAX], mock[TF_PATH_MAX], out_dir[TF_PATH_MAX];

/* The script in the source folder ($srcdir under make check); 0 when it is not there. */
static int find_bench_all(void) {
  const char *src = getenv("srcdir");
  tf_pathf(bench_all, "%s/bench-all", src && *src ? src : ".");
  if (access(bench_all, R_OK) != 0) tf_pathf(bench_all, "%s/../bench-all", src ? src : ".");
  return access(bench_all, R_OK) == 0;
}

/* Run `sh bench-all <args>` with BHIVAE set to the stand-in (out/err as tf_run_bhivae). */
static void run_bench_all(tf_run_result *r, const char *args) {
  char cmd[4096], o[256], e[256];
  tf_path(o, "ba-stdout.txt");
  tf_path(e, "ba-stderr.txt");
  snprintf(cmd, sizeof cmd, "BHIVAE='%s' MAKEFLAGS= sh '%s' %s >'%s' 2>'%s' </dev/null", mock,
           bench_all, args, o, e);
  int st = system(cmd);
  assert_true(st != -1 && WIFEXITED(st));
  r->status = WEXITSTATUS(st);
  size_t n;
  unsigned char *b = tf_read_bytes(o, &n);
  snprintf(r->out, sizeof r->out, "%.*s", (int)n, (const char *)b);
  free(b);
  b = tf_read_bytes(e, &n);
  snprintf(r->err, sizeof r->err, "%.*s", (int)n, (const char *)b);
  free(b);
}

/* The lines of the stand-in's CALLS file since the last call (then emptied). */
static void take_calls(char *buf, size_t cap) {
  char calls[TF_PATH_MAX];
  size_t n;
  tf_path(calls, "CALLS");
  buf[0] = '\0';
  if (!tf_file_exists(calls)) return;
  unsigned char *b = tf_read_bytes(calls, &n);
  snprintf(buf, cap, "%.*s", (int)n, (const char *)b);
  free(b);
  remove(calls);
}

static int count_lines_with(const char *text, const char *s) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, s)) != NULL; p += strlen(s)) n++;
  return n;
}

static void test_bench_all_runs_and_resumes(void **state) {
  (void)state;
  if (!find_bench_all()) skip();
  tf_run_result r;
  char calls[4096], args[1024], path[TF_PATH_MAX];
  tf_path(mock, "bhivae");
  tf_write_bytes(mock, mock_text, strlen(mock_text));
  assert_int_equal(chmod(mock, 0755), 0);
  tf_path(out_dir, "bench-out");
  snprintf(args, sizeof args, "--profile mock --out %s --jobs 2", out_dir);
  take_calls(calls, sizeof calls);

  /* first time: every run; bad-s1 fails, the report runs anyway, exit 1 */
  run_bench_all(&r, args);
  if (r.status != 1) fail_msg("status %d\n%s\n%s", r.status, r.out, r.err);
  take_calls(calls, sizeof calls);
  assert_int_equal(count_lines_with(calls, "run "), 3);
  assert_non_null(strstr(calls, "run r1 --threads 1\n"));
  assert_non_null(strstr(calls, "report"));
  assert_int_equal(count_lines_with(calls, "data\n"), 1); /* the data, once, before the runs */
  assert_true(strstr(calls, "data\n") < strstr(calls, "run "));
  assert_non_null(strstr(r.out, "mock: three runs")); /* the budget statement */
  assert_non_null(strstr(r.out, "index.md"));
  assert_non_null(strstr(r.out, "wall time"));
  assert_non_null(strstr(r.out, "bad-s1: FAILED"));
  assert_true(tf_file_exists(tf_pathf(path, "%s/results/r1.json", out_dir)));
  assert_false(tf_file_exists(tf_pathf(path, "%s/results/bad-s1.json", out_dir)));
  assert_true(tf_file_exists(tf_pathf(path, "%s/reports/mock/index.md", out_dir)));
  assert_true(tf_file_exists(tf_pathf(path, "%s/plan.mk", out_dir)));

  /* again: only the failed run is redone (and the report) */
  run_bench_all(&r, args);
  assert_int_equal(r.status, 1);
  take_calls(calls, sizeof calls);
  assert_int_equal(count_lines_with(calls, "run "), 1);
  assert_non_null(strstr(calls, "run bad-s1"));
  assert_non_null(strstr(calls, "report"));

  /* a corrupt result is named, set aside and redone; with the bad run fixed, exit 0 */
  tf_pathf(path, "%s/results/r2.json", out_dir);
  tf_write_bytes(path, "{\"schema\": ", 11);
  tf_path(path, "FIXED"); /* beside the stand-in */
  tf_write_bytes(path, "", 0);
  run_bench_all(&r, args);
  if (r.status != 0) fail_msg("status %d\n%s\n%s", r.status, r.out, r.err);
  take_calls(calls, sizeof calls);
  assert_int_equal(count_lines_with(calls, "run "), 2);
  assert_non_null(strstr(calls, "run r2"));
  char want[2 * TF_PATH_MAX];
  snprintf(want, sizeof want, "bench-all: %s/results/r2.json: truncated (no \"complete\"); "
           "redoing it", out_dir);
  if (!strstr(r.err, want)) fail_msg("stderr lacks '%s':\n%s", want, r.err);
  remove(path);
}

static void test_bench_all_bad_input(void **state) {
  (void)state;
  if (!find_bench_all()) skip();
  tf_run_result r;
  char args[1024], file[TF_PATH_MAX];
  tf_path(mock, "bhivae");
  tf_write_bytes(mock, mock_text, strlen(mock_text));
  assert_int_equal(chmod(mock, 0755), 0);
  /* an unknown profile: bhivae's reason, exit 2 */
  run_bench_all(&r, "--profile fancy");
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "bench-all: --profile: unknown profile 'fancy'"));
  /* an output folder that cannot be made (below a plain file: root can write anywhere) */
  tf_path(file, "plain-file");
  tf_write_bytes(file, "x", 1);
  snprintf(args, sizeof args, "--profile mock --out %s/out", file);
  run_bench_all(&r, args);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "cannot create the output folder"));
  assert_ptr_equal(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
  /* usage errors */
  run_bench_all(&r, "--jobs 0");
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "--jobs"));
  run_bench_all(&r, "--colour blue");
  assert_int_equal(r.status, 2);
}

static int setup(void **state) {
  (void)state;
  return tf_tmpdir_make("compare");
}

static int teardown(void **state) {
  (void)state;
  return tf_tmpdir_remove();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_equal_passes),      cmocka_unit_test(test_regression_marked),
      cmocka_unit_test(test_family_defaults),   cmocka_unit_test(test_improvement_fails),
      cmocka_unit_test(test_missing_run_and_metric), cmocka_unit_test(test_custom_tolerances),
      cmocka_unit_test(test_speed_rule),        cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_bench_all_runs_and_resumes),
      cmocka_unit_test(test_bench_all_bad_input),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
