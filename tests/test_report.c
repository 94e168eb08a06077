/* test_report.c — `bhivae report` (reports/report.c, cli/cmd_report.c) through the built binary,
 * on result files fabricated here with known scores: the tables' mean ± std against values
 * worked out by hand (below, next to the scores), the paper's published figures beside them,
 * untrustworthy result files skipped with a warning naming them, summary.json, the gnuplot data
 * agreeing with the tables, the copied pictures, index.md's links, and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/testfiles.h"

static char root[TF_PATH_MAX];

/* ---------------------------------------------------------------- fixtures */

static void make_dir(const char *fmt, const char *a) {
  char p[TF_PATH_MAX];
  tf_pathf(p, fmt, root, a);
  if (mkdir(p, 0777) != 0) {
    struct stat s;
    assert_int_equal(stat(p, &s), 0);
  }
}

static void write_text(const char *path, const char *text) {
  tf_write_bytes(path, text, strlen(text));
}

/* One result file results/<run>.json (and runs/<run>/ with log.jsonl and traverse.png), its
 * metrics given as "key", score pairs ending with NULL. */
static void result(const char *dir, const char *run, const char *profile, const char *table,
                   const char *model, const char *variant, int seed, int zdim, double ips, ...) {
  json_t *m = json_object();
  va_list ap;
  va_start(ap, ips);
  const char *key;
  while ((key = va_arg(ap, const char *))) {
    double v = va_arg(ap, double);
    char var[128];
    snprintf(var, sizeof var, "protocol of %s", key);
    json_object_set_new(m, key, json_pack("{s:f, s:s, s:i, s:i}", "score", v, "variant", var,
                                          "n_train", 10000, "n_test",
                                          strcmp(key, "mig") == 0 ? 0 : 5000));
  }
  va_end(ap);
  json_t *o = json_pack(
      "{s:s, s:b, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:o, s:{s:i, s:i, s:s}, s:{}, s:{s:i},"
      " s:{s:i, s:f, s:f}, s:o, s:{s:s, s:s}, s:i, s:{s:s}, s:s}",
      "schema", "bhivae-result/1", "complete", 1, "run", run, "profile", profile, "table", table,
      "model", model, "data", "dsprites", "seed", seed, "z_dim", zdim, "variant",
      variant ? json_string(variant) : json_null(), "budget", "steps", 600, "batch_size", 64,
      "description", "quick: 600 steps of batch 64 per run", "config", "params", "total", 1000,
      "train", "steps", 600, "seconds", 10.0, "images_per_s", ips, "metrics", m, "files",
      "traverse", "runs/x/traverse.png", "log", "runs/x/log.jsonl", "threads", 2, "versions",
      "bhivae", "0.1.0", "created", "2026-01-01T00:00:00Z");
  assert_non_null(o);
  char p[TF_PATH_MAX];
  tf_pathf(p, "%s/%s/%s.json", root, dir, run);
  assert_int_equal(json_dump_file(o, p, 0), 0);
  json_decref(o);
  make_dir("%s/runs/%s", run);
  /* log: steps 100, 200, 300; loss 1000 + seed*10 - step, recon 500 - step/10 */
  char log[1024];
  int k = 0;
  for (int s = 100; s <= 300; s += 100)
    k += snprintf(log + k, sizeof log - (size_t)k,
                  "{\"step\": %d, \"time_s\": 1.0, \"loss\": %d, \"recon\": %d, \"kl\": 1}\n",
                  s, 1000 + seed * 10 - s, 500 - s / 10);
  tf_pathf(p, "%s/runs/%s/log.jsonl", root, run);
  write_text(p, log);
  tf_pathf(p, "%s/runs/%s/traverse.png", root, run);
  write_text(p, run); /* the bytes name the run: the copies are checked against them */
}

static int setup(void **state) {
  (void)state;
  if (tf_tmpdir_make("report")) return -1;
  tf_path(root, "");
  root[strlen(root) - 1] = 0; /* no trailing slash */
  make_dir("%s/%s", "results");
  make_dir("%s/%s", "runs");
  make_dir("%s/%s", "mixed");
  /* Table 1.  betavae: zdiff 80, 82 -> 81.00 ± sqrt(2) = 1.41; sap .10, .20 -> .150 ± .0707;
   * mig .30, .50 -> .400 ± .1414; factorvae 70, 71 -> 70.50 ± .7071; dci .5, .7 -> .600 ±
   * .1414; images/s 100, 300 -> 200.  vae: one seed.  bhivae: 90, 94 -> 92.00 ± 2.83. */
  result("results", "t1-betavae-s1", "quick", "t1", "betavae", NULL, 1, 10, 100.0, "zdiff", 80.0,
         "sap", 0.10, "mig", 0.30, "factorvae", 70.0, "dci", 0.5, NULL);
  result("results", "t1-betavae-s2", "quick", "t1", "betavae", NULL, 2, 10, 300.0, "zdiff", 82.0,
         "sap", 0.20, "mig", 0.50, "factorvae", 71.0, "dci", 0.7, NULL);
  result("results", "t1-vae-s1", "quick", "t1", "vae", NULL, 1, 10, 50.0, "zdiff", 60.0, "sap",
         0.05, "mig", 0.20, NULL);
  result("results", "t1-bhivae-s2", "quick", "t1", "bhivae", NULL, 2, 10, 80.0, "zdiff", 94.0,
         "sap", 0.4, "mig", 0.6, NULL);
  result("results", "t1-bhivae-s1", "quick", "t1", "bhivae", NULL, 1, 10, 80.0, "zdiff", 90.0,
         "sap", 0.4, "mig", 0.6, NULL);
  /* Table 2.  vae d10: 95, 97 -> 96.00 ± 1.41; d16: 90, 93 -> 91.50 ± 3/sqrt(2) = 2.12 */
  result("results", "t2-vae-d10-s1", "quick", "t2", "vae", NULL, 1, 10, 500.0, "probe", 95.0, NULL);
  result("results", "t2-vae-d10-s2", "quick", "t2", "vae", NULL, 2, 10, 500.0, "probe", 97.0, NULL);
  result("results", "t2-vae-d16-s1", "quick", "t2", "vae", NULL, 1, 16, 500.0, "probe", 90.0, NULL);
  result("results", "t2-vae-d16-s2", "quick", "t2", "vae", NULL, 2, 16, 500.0, "probe", 93.0, NULL);
  /* Fig. 8, d10: block 88, 90 -> 89.00 ± 1.41; single 80, 84 -> 82.00 ± 2.83 */
  result("results", "f8-block-d10-s1", "quick", "f8", "bhivae-sup", "block", 1, 10, 90.0, "probe",
         88.0, NULL);
  result("results", "f8-block-d10-s2", "quick", "f8", "bhivae-sup", "block", 2, 10, 90.0, "probe",
         90.0, NULL);
  result("results", "f8-single-d10-s1", "quick", "f8", "bhivae-sup", "single", 1, 10, 90.0,
         "probe", 80.0, NULL);
  result("results", "f8-single-d10-s2", "quick", "f8", "bhivae-sup", "single", 2, 10, 90.0,
         "probe", 84.0, NULL);
  /* untrustworthy: not JSON; not complete; named for another run; a score that is a string */
  char p[TF_PATH_MAX];
  write_text(tf_pathf(p, "%s/results/t1-factorvae-s1.json", root), "{\"schema\": \"bhivae-re");
  result("results", "t1-btcvae-s1", "quick", "t1", "btcvae", NULL, 1, 10, 1.0, "zdiff", 1.0, NULL);
  json_t *o = tf_load_json(tf_pathf(p, "%s/results/t1-btcvae-s1.json", root));
  json_object_set_new(o, "complete", json_false());
  json_dump_file(o, p, 0);
  json_decref(o);
  result("results", "t1-guidedvae-s1", "quick", "t1", "guidedvae", NULL, 1, 10, 1.0, "zdiff", 1.0,
         NULL);
  o = tf_load_json(tf_pathf(p, "%s/results/t1-guidedvae-s1.json", root));
  json_object_set_new(o, "run", json_string("t1-guidedvae-s9"));
  json_dump_file(o, p, 0);
  json_decref(o);
  result("results", "t1-factorvae-s2", "quick", "t1", "factorvae", NULL, 2, 10, 1.0, "zdiff", 1.0,
         NULL);
  o = tf_load_json(tf_pathf(p, "%s/results/t1-factorvae-s2.json", root));
  json_object_set_new(json_object_get(json_object_get(o, "metrics"), "zdiff"), "score",
                      json_string("99"));
  json_dump_file(o, p, 0);
  json_decref(o);
  /* Fig. 3: the t1 bhivae runs' scatters (seed 1's is the one shown) */
  for (int s = 1; s <= 2; s++) {
    write_text(tf_pathf(p, "%s/runs/t1-bhivae-s%d/scatter.png", root, s), s == 1 ? "S1" : "S2");
    write_text(tf_pathf(p, "%s/runs/t1-bhivae-s%d/scatter.dat", root, s), "0 0 0\n1 1 1\n");
    write_text(tf_pathf(p, "%s/runs/t1-bhivae-s%d/scatter.gp", root, s),
               "if (!exists(\"outfile\")) outfile = 'runs/t1-bhivae-s1/scatter.png'\n"
               "plot 'runs/t1-bhivae-s1/scatter.dat' index 0 using 1:2 with points\n");
  }
  /* Fig. 7: the f8 block runs' attr-traverse (seed 1's is the one shown) */
  for (int s = 1; s <= 2; s++) {
    write_text(tf_pathf(p, "%s/runs/f8-block-d10-s%d/attr-traverse.png", root, s),
               s == 1 ? "A1" : "A2");
    write_text(tf_pathf(p, "%s/runs/f8-block-d10-s%d/attr-traverse.dat", root, s),
               "-3 0 0\n3 1 0\n");
    write_text(tf_pathf(p, "%s/runs/f8-block-d10-s%d/attr-traverse.json", root, s), "{}\n");
    write_text(tf_pathf(p, "%s/runs/f8-block-d10-s%d/attr-traverse.gp", root, s),
               "if (!exists(\"outfile\")) outfile = "
               "'runs/f8-block-d10-s1/attr-traverse-gnuplot.png'\n"
               "plot 'runs/f8-block-d10-s1/attr-traverse.dat' using 1:2:3 with yerrorlines\n");
  }
  /* results of two profiles */
  result("mixed", "t1-vae-s1", "quick", "t1", "vae", NULL, 1, 10, 1.0, "zdiff", 1.0, NULL);
  result("mixed", "t1-vae-s2", "paper", "t1", "vae", NULL, 2, 10, 1.0, "zdiff", 3.0, NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  return tf_tmpdir_remove();
}

/* ---------------------------------------------------------------- helpers */

/* The report of results into out (no gnuplot unless asked); its stderr checked by callers. */
static void report(tf_run_result *r, const char *out, const char *extra) {
  tf_run_bhivae(r, "report --results %s/results --runs %s/runs --out %s/%s %s", root, root, root,
                out, extra);
}

static char *read_out(const char *out, const char *name) {
  char p[TF_PATH_MAX];
  size_t n;
  char *t = (char *)tf_read_bytes(tf_pathf(p, "%s/%s/%s", root, out, name), &n);
  t[n] = 0; /* the spare byte */
  return t;
}

/* text holds the whole line `line`. */
static void expect_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; (p = strstr(p, line)); p++)
    if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == 0)) return;
  fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void expect_has(const char *text, const char *part) {
  if (!strstr(text, part)) fail_msg("no \"%s\" in:\n%s", part, text);
}

/* No FILE.tmp left in dir. */
static void expect_no_tmp(const char *dir) {
  char p[TF_PATH_MAX];
  DIR *d = opendir(tf_pathf(p, "%s/%s", root, dir));
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) fail_msg("%s/%s left", dir, e->d_name);
  }
  closedir(d);
}

/* ---------------------------------------------------------------- tests */

static void test_tables(void **state) {
  (void)state;
  tf_run_result r;
  report(&r, "rep", "--no-gnuplot");
  tf_expect_status(&r, 0);
  /* the four untrustworthy files: a warning line each, naming the file and why */
  expect_has(r.err, "t1-factorvae-s1.json: not valid JSON");
  expect_has(r.err, "t1-btcvae-s1.json: not complete");
  expect_has(r.err, "t1-guidedvae-s1.json: \"run\" is \"t1-guidedvae-s9\"");
  expect_has(r.err, "t1-factorvae-s2.json: metric \"zdiff\" has no finite score");
  int lines = 0;
  for (const char *p = r.err; *p; p++) lines += *p == '\n';
  assert_int_equal(lines, 4);

  char *t1 = read_out("rep", "table1.md");
  expect_line(t1, "| VAE | 60.00 (n=1) | 67.1 | 0.050 (n=1) | 0.14 | 0.200 (n=1) | 0.23 |");
  expect_line(t1, "| β-VAE (β=6) | 81.00 ± 1.41 | 97.3 | 0.150 ± 0.071 | 0.17 | 0.400 ± 0.141 "
                  "| 0.41 |");
  /* the skipped files' models have no value of ours */
  expect_line(t1, "| FactorVAE (γ=7) | — | 98.4 | — | 0.19 | — | 0.44 |");
  expect_line(t1, "| β-TCVAE (α=1, β=8, γ=2) | — | 96.5 | — | 0.41 | — | 0.49 |");
  expect_line(t1, "| Guided-VAE | — | 99.2 | — | 0.4320 | — | 0.57 |");
  expect_line(t1, "| BHiVAE (β=10, γ=3) | 92.00 ± 2.83 | 99.0 | 0.400 ± 0.000 | 0.4312 | "
                  "0.600 ± 0.000 | 0.61 |");
  expect_line(t1, "- Z-diff (`zdiff`): protocol of zdiff; 10000 train / 5000 test points.");
  expect_line(t1, "- MIG (`mig`): protocol of mig; 10000 points."); /* no test split */
  /* Table 1b: our other metrics */
  expect_line(t1, "| β-VAE (β=6) | — | — | 70.50 ± 0.71 | 0.600 ± 0.141 |");
  char *tex = read_out("rep", "table1.tex");
  expect_has(tex, "$\\beta$-VAE ($\\beta=6$) & 81.00 $\\pm$ 1.41 & 97.3 & 0.150 $\\pm$ 0.071 "
                  "& 0.17 & 0.400 $\\pm$ 0.141 & 0.41 \\\\");
  expect_has(tex, "VAE & 60.00 ($n=1$) & 67.1");
  expect_has(tex, "\\end{tabular}");

  char *t2 = read_out("rep", "table2.md");
  expect_line(t2, "| VAE | 96.00 ± 1.41 | 97.21 ± 0.42 | 91.50 ± 2.12 | 96.62 ± 0.51 | — | "
                  "96.41 ± 0.22 |");
  expect_line(t2, "| BHiVAE (β=10, γ=3) | — | 98.2 ± 0.09 | — | 98.7 ± 0.10 | — | 99.0 ± 0.05 |");
  char *t2tex = read_out("rep", "table2.tex");
  expect_has(t2tex, "VAE & 96.00 $\\pm$ 1.41 & 97.21 $\\pm$ 0.42 & 91.50 $\\pm$ 2.12");
  char *f8 = read_out("rep", "fig8.md");
  expect_line(f8, "| 10 | 89.00 ± 1.41 | 82.00 ± 2.83 |");
  expect_line(f8, "| 16 | — | — |");
  expect_no_tmp("rep");
  expect_no_tmp("rep/figures");
  free(t1);
  free(tex);
  free(t2);
  free(t2tex);
  free(f8);
}

static double agg(json_t *s, const char *a, const char *b, const char *c, const char *d,
                  const char *what) {
  json_t *o = json_object_get(json_object_get(s, "aggregate"), a);
  o = json_object_get(json_object_get(o, b), c);
  if (d) o = json_object_get(o, d);
  if (!o) fail_msg("no aggregate %s.%s.%s.%s", a, b, c, d ? d : "");
  return tf_json_num(o, what);
}

static void test_summary(void **state) {
  (void)state;
  tf_run_result r;
  report(&r, "rep", "--no-gnuplot");
  tf_expect_status(&r, 0);
  char p[TF_PATH_MAX];
  json_t *s = tf_load_json(tf_pathf(p, "%s/rep/summary.json", root));
  assert_string_equal(json_string_value(json_object_get(s, "schema")), "bhivae-summary/1");
  assert_string_equal(json_string_value(json_object_get(s, "profile")), "quick");
  assert_int_equal(tf_json_num(s, "seeds"), 2);
  assert_float_equal(agg(s, "t1", "betavae", "zdiff", NULL, "mean"), 81.0, 1e-12);
  assert_float_equal(agg(s, "t1", "betavae", "zdiff", NULL, "std"), sqrt(2.0), 1e-12);
  assert_int_equal(agg(s, "t1", "betavae", "zdiff", NULL, "n"), 2);
  assert_float_equal(agg(s, "t1", "betavae", "sap", NULL, "std"), 0.1 / sqrt(2.0), 1e-12);
  assert_float_equal(agg(s, "t1", "vae", "mig", NULL, "mean"), 0.2, 1e-12);
  assert_int_equal(agg(s, "t1", "vae", "mig", NULL, "n"), 1);
  assert_float_equal(agg(s, "t2", "vae", "d16", "probe", "mean"), 91.5, 1e-12);
  assert_float_equal(agg(s, "t2", "vae", "d16", "probe", "std"), 3.0 / sqrt(2.0), 1e-12);
  assert_float_equal(agg(s, "f8", "single", "d10", "probe", "std"), 4.0 / sqrt(2.0), 1e-12);
  json_t *runs = json_object_get(s, "runs");
  assert_int_equal(json_object_size(runs), 13); /* 17 files, 4 skipped */
  assert_null(json_object_get(runs, "t1-factorvae-s2"));
  json_t *b2 = json_object_get(runs, "t1-betavae-s2");
  assert_float_equal(tf_json_num(json_object_get(b2, "metrics"), "zdiff"), 82.0, 0);
  assert_float_equal(tf_json_num(b2, "images_per_s"), 300.0, 0);
  assert_float_equal(tf_json_num(json_object_get(s, "throughput"), "betavae"), 200.0, 1e-12);
  assert_int_equal(tf_json_num(s, "threads"), 2);
  json_decref(s);
}

/* The numbers of the data line starting with `label` (at most 16). */
static int dat_row(const char *dat, const char *label, double *v) {
  const char *p = dat;
  size_t n = strlen(label);
  while (p && strncmp(p, label, n) != 0) {
    p = strchr(p, '\n');
    if (p) p++;
  }
  if (!p) fail_msg("no row %s in:\n%s", label, dat);
  p += n;
  int k = 0;
  while (k < 16) {
    char *end;
    while (*p == ' ') p++;
    if (*p == '\n' || !*p) break;
    v[k] = strncmp(p, "NaN", 3) == 0 ? NAN : strtod(p, &end);
    if (strncmp(p, "NaN", 3) == 0) end = (char *)p + 3;
    if (end == p) break;
    p = end;
    k++;
  }
  return k;
}

static void test_figures(void **state) {
  (void)state;
  tf_run_result r;
  report(&r, "rep", "--no-gnuplot");
  tf_expect_status(&r, 0);
  double v[16];
  char *dat = read_out("rep", "figures/table1-bars.dat");
  /* Z-diff mean std paper 0, SAP ..., MIG ... */
  assert_int_equal(dat_row(dat, "\"beta-VAE\"", v), 12);
  const double want[12] = {81, sqrt(2.0), 97.3, 0, 0.15, 0.1 / sqrt(2.0), 0.17, 0,
                           0.4, 0.2 / sqrt(2.0), 0.41, 0};
  for (int k = 0; k < 12; k++) assert_float_equal(v[k], want[k], 1e-7);
  assert_int_equal(dat_row(dat, "\"FactorVAE\"", v), 12);
  assert_true(isnan(v[0]) && v[2] == 98.4);
  char *gp = read_out("rep", "figures/table1-bars.gp");
  expect_has(gp, "plot 'table1-bars.dat' using 2:3:xtic(1) title 'ours', '' using 4:5 title "
                 "'paper'");
  expect_has(gp, "using 10:11:xtic(1)");
  free(dat);
  free(gp);
  dat = read_out("rep", "figures/fig8.dat");
  assert_int_equal(dat_row(dat, "\"d=10\"", v), 4);
  assert_float_equal(v[0], 89.0, 1e-7);
  assert_float_equal(v[2], 82.0, 1e-7);
  assert_float_equal(v[3], 4.0 / sqrt(2.0), 1e-7);
  free(dat);
  dat = read_out("rep", "figures/table2-bars.dat");
  assert_int_equal(dat_row(dat, "\"VAE\"", v), 12);
  assert_float_equal(v[0], 96.0, 1e-7);
  assert_float_equal(v[2], 97.21, 1e-9);
  assert_float_equal(v[3], 0.42, 1e-9);
  assert_float_equal(v[4], 91.5, 1e-7);
  free(dat);
  /* training curves: one section per valid t1 run with its log rows; the script's indexes */
  dat = read_out("rep", "figures/training-t1.dat");
  int sections = 0;
  for (const char *p = dat; (p = strstr(p, "# t1-")); p++) sections++;
  assert_int_equal(sections, 5);
  expect_has(dat, "# t1-betavae-s2: step loss recon\n100 920 490\n200 820 480\n300 720 470\n");
  gp = read_out("rep", "figures/training-t1.gp");
  expect_has(gp, "index 4 using 1:2");
  assert_null(strstr(gp, "index 5 "));
  expect_has(gp, "set title 'betavae'");
  free(dat);
  free(gp);
  /* Fig. 3 from seed 1's scatter, its script made to read the copy */
  char *png = read_out("rep", "figures/fig3-scatter.png");
  assert_string_equal(png, "S1");
  free(png);
  gp = read_out("rep", "figures/fig3-scatter.gp");
  expect_has(gp, "plot 'fig3-scatter.dat' index 0");
  assert_null(strstr(gp, "runs/"));
  free(gp);
  /* Fig. 7 from the f8 block run of seed 1, its script made to read the copy */
  png = read_out("rep", "figures/fig7-attr-traverse.png");
  assert_string_equal(png, "A1");
  free(png);
  gp = read_out("rep", "figures/fig7-attr-traverse.gp");
  expect_has(gp, "outfile = 'fig7-attr-traverse-gnuplot.png'");
  expect_has(gp, "plot 'fig7-attr-traverse.dat' using 1:2:3");
  assert_null(strstr(gp, "runs/"));
  free(gp);
  char *js = read_out("rep", "figures/fig7-attr-traverse.json");
  assert_string_equal(js, "{}\n");
  free(js);
  /* traversals: the lowest seed of each model copied */
  png = read_out("rep", "figures/traverse-t1-betavae-s1.png");
  assert_string_equal(png, "t1-betavae-s1");
  free(png);
  char p[TF_PATH_MAX];
  assert_false(tf_file_exists(tf_pathf(p, "%s/rep/figures/traverse-t1-betavae-s2.png", root)));
  assert_false(tf_file_exists(tf_pathf(p, "%s/rep/figures/table1-bars.png", root)));
}

/* Every "](target)" of index.md names a file under out. */
static void check_links(const char *out, const char *index, int *images) {
  int n = 0;
  *images = 0;
  for (const char *p = index; (p = strstr(p, "](")); p++) {
    const char *e = strchr(p + 2, ')');
    assert_non_null(e);
    char rel[256], path[TF_PATH_MAX];
    snprintf(rel, sizeof rel, "%.*s", (int)(e - p - 2), p + 2);
    if (!tf_file_exists(tf_pathf(path, "%s/%s/%s", root, out, rel)))
      fail_msg("index.md links %s, which is missing", rel);
    size_t k = strlen(rel);
    *images += k > 4 && strcmp(rel + k - 4, ".png") == 0;
    n++;
  }
  assert_true(n >= 10);
}

static void test_index(void **state) {
  (void)state;
  tf_run_result r;
  report(&r, "rep", "--no-gnuplot");
  tf_expect_status(&r, 0);
  char *ix = read_out("rep", "index.md");
  expect_has(ix, "# bhivae report: profile quick");
  expect_has(ix, "quick: 600 steps of batch 64 per run");
  expect_has(ix, "Threads: 2");
  expect_has(ix, "bhivae 0.1.0");
  expect_line(ix, "| VAE | 96.00 ± 1.41 | 97.21 ± 0.42 | 91.50 ± 2.12 | 96.62 ± 0.51 | — | "
                  "96.41 ± 0.22 |");
  expect_has(ix, "![t1-vae-s1](figures/traverse-t1-vae-s1.png)");
  expect_has(ix, "(f8-block-d10-s1): [data](figures/fig7-attr-traverse.dat)");
  expect_has(ix, "![Fig. 7](figures/fig7-attr-traverse.png)");
  int images;
  check_links("rep", ix, &images);
  free(ix);
}

/* With gnuplot: PNGs of every script, linked from index.md; a failing gnuplot: one warning. */
static void test_gnuplot(void **state) {
  (void)state;
  char p[TF_PATH_MAX], old[8192];
  tf_run_result r;
  snprintf(old, sizeof old, "%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
  if (system("command -v gnuplot >/dev/null 2>&1") == 0) {
    report(&r, "plots", "");
    tf_expect_status(&r, 0);
    assert_string_equal(r.err + strlen(r.err) - strlen("(skipped)\n"), "(skipped)\n");
    static const char *names[] = {"table1-bars", "table2-bars", "fig8", "training-t1",
                                  "training-t2", "training-f8"};
    for (int k = 0; k < 6; k++) {
      char *png = read_out("plots", tf_pathf(p, "figures/%s.png", names[k]));
      assert_memory_equal(png, "\x89PNG", 4);
      free(png);
    }
    char *ix = read_out("plots", "index.md");
    expect_has(ix, "![Fig. 8: block vs single](figures/fig8.png)");
    int images;
    check_links("plots", ix, &images);
    assert_true(images >= 6 + 1 + 3);
    free(ix);
    expect_no_tmp("plots/figures");
  }
  /* a gnuplot that fails */
  char bin[TF_PATH_MAX], path[9000];
  make_dir("%s/%s", "fakebin");
  write_text(tf_pathf(bin, "%s/fakebin/gnuplot", root), "#!/bin/sh\nexit 3\n");
  chmod(bin, 0755);
  snprintf(path, sizeof path, "%s/fakebin:%s", root, old);
  setenv("PATH", path, 1);
  report(&r, "failplot", "");
  setenv("PATH", old, 1);
  tf_expect_status(&r, 0);
  const char *w = strstr(r.err, "bhivae: warning: gnuplot failed on table1-bars.gp");
  if (!w) fail_msg("no gnuplot warning in: %s", r.err);
  assert_null(strstr(strchr(w, '\n'), "gnuplot")); /* one line for all the scripts */
  assert_false(tf_file_exists(tf_pathf(p, "%s/failplot/figures/fig8.png", root)));
  expect_no_tmp("failplot/figures");
}

static void test_bad_input(void **state) {
  (void)state;
  tf_run_result r;
  char p[TF_PATH_MAX];
  make_dir("%s/%s", "empty");
  tf_run_bhivae(&r, "report --results %s/empty --out %s/o1", root, root);
  tf_expect_fail(&r, "no valid result file");
  tf_run_bhivae(&r, "report --results %s/nothing --out %s/o1", root, root);
  tf_expect_fail(&r, "nothing: cannot open the results folder");
  write_text(tf_pathf(p, "%s/afile", root), "x");
  tf_run_bhivae(&r, "report --results %s/mixed --profile quick --out %s/afile", root, root);
  tf_expect_fail(&r, "afile: exists and is not a folder");
  tf_run_bhivae(&r, "report --results %s/mixed --profile quick --out %s/afile/sub", root, root);
  tf_expect_fail(&r, "afile");
  tf_run_bhivae(&r, "report --results %s/mixed --out %s/o2", root, root);
  tf_expect_fail(&r, "choose one with --profile");
  tf_run_bhivae(&r, "report --results %s/mixed --out %s/o2 --profile paper --no-gnuplot", root,
                root);
  tf_expect_status(&r, 0);
  char *t1 = read_out("o2", "table1.md");
  expect_line(t1, "| VAE | 3.00 | 67.1 | — | 0.14 | — | 0.23 |");
  free(t1);
  char *ix = read_out("o2", "index.md"); /* no f8 run: Fig. 7 says what it needs */
  expect_has(ix, "- Fig. 7: needs a Fig. 8 block run");
  free(ix);
  tf_run_bhivae(&r, "report --results %s/mixed --out %s/o3 --profile standard", root, root);
  tf_expect_fail(&r, "of profile standard");
  tf_run_bhivae(&r, "report --out %s/o1", root);
  tf_expect_usage(&r, "--results");
  tf_run_bhivae(&r, "report --results %s/results", root);
  tf_expect_usage(&r, "--out");
  tf_run_bhivae(&r, "report --help");
  tf_expect_status(&r, 0);
  expect_has(r.out, "summary.json");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tables),  cmocka_unit_test(test_summary),
      cmocka_unit_test(test_figures), cmocka_unit_test(test_index),
      cmocka_unit_test(test_gnuplot), cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
