/* test_bench.c — the bench-all profiles (reports/profiles.h) and `bhivae bench`: every run of
 * every profile has a known model, a unique id of the documented form and settings its
 * model's configuration accepts; the run counts are the tables' sizes worked out by hand; the
 * ci profile's first run end to end through the built binary (list, run, check), then its
 * result corrupted in each way bench check must name, a rerun in a folder without a checkpoint
 * (started over) and a continued one (checkpoint, no train.json) giving the same numbers; and
 * bad input (unknown profile or run, an output folder that cannot be made). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/config.h"
#include "models/model.h"
#include "reports/profiles.h"
#include "tests/testfiles.h"

#define PL TF_PATH_MAX
#define RUN "t1-vae-s1"

/* ---------------------------------------------------------------- the profile table */

static int find_setting(const bh_run_spec *r, const char *key, char *value, size_t cap) {
  size_t kl = strlen(key);
  for (int i = 0; i < r->nsettings; i++)
    if (strncmp(r->settings[i], key, kl) == 0 && r->settings[i][kl] == '=') {
      snprintf(value, cap, "%s", r->settings[i] + kl + 1);
      return 1;
    }
  return 0;
}

/* The id a run must have, made here from its fields. */
static void expected_id(const bh_run_spec *r, char *out, size_t cap) {
  if (strcmp(r->table, "t1") == 0) snprintf(out, cap, "t1-%s-s%d", r->model, r->seed);
  else if (strcmp(r->table, "t2") == 0)
    snprintf(out, cap, "t2-%s-d%d-s%d", r->model, r->z_dim, r->seed);
  else snprintf(out, cap, "f8-%s-d%d-s%d", r->variant ? r->variant : "?", r->z_dim, r->seed);
}

static void check_profile(const bh_profile *p, int seeds, size_t want_runs) {
  bh_run_spec *runs;
  size_t n;
  char id[BH_RUN_ID_MAX], v[BH_RUN_SETTING_LEN];
  assert_int_equal(bh_profile_runs(p, seeds, &runs, &n), BH_OK);
  assert_int_equal(n, want_runs);
  assert_true(strncmp(p->budget, p->name, strlen(p->name)) == 0); /* the statement names it */
  for (size_t i = 0; i < n; i++) {
    const bh_run_spec *r = &runs[i];
    expected_id(r, id, sizeof id);
    if (strcmp(id, r->id) != 0) fail_msg("%s: run id %s, expected %s", p->name, r->id, id);
    for (size_t j = 0; j < i; j++)
      if (strcmp(runs[j].id, r->id) == 0) fail_msg("%s: run id %s twice", p->name, r->id);
    const bh_model_class *cls = bh_model_class_find(r->model);
    if (!cls) fail_msg("%s: %s: %s", p->name, r->id, bh_error_message());
    bh_config *cfg = bh_model_config_new(cls);
    assert_non_null(cfg);
    for (int k = 0; k < r->nsettings; k++)
      if (bh_config_set_assignment(cfg, r->settings[k], "test") != BH_OK)
        fail_msg("%s: %s: %s", p->name, r->id, bh_error_message());
    /* the configuration is what the run says it is */
    assert_int_equal(bh_config_int(cfg, "steps"), r->steps);
    assert_int_equal(bh_config_int(cfg, "z_dim"), r->z_dim);
    assert_int_equal(bh_config_int(cfg, "seed"), r->seed);
    assert_int_equal(bh_config_int(cfg, "batch_size"), 64);
    assert_string_equal(bh_config_str(cfg, "data"), r->data);
    assert_true(r->seed >= 1 && r->seed <= (seeds > 0 ? seeds : p->seeds));
    assert_non_null(r->metrics);
    /* the paper's settings of Table 1 (paper Table 1) */
    if (strcmp(r->model, "betavae") == 0) assert_true(bh_config_num(cfg, "beta") == 6);
    if (strcmp(r->model, "factorvae") == 0) assert_true(bh_config_num(cfg, "gamma") == 7);
    if (strcmp(r->model, "btcvae") == 0)
      assert_true(bh_config_num(cfg, "alpha") == 1 && bh_config_num(cfg, "beta") == 8 &&
                  bh_config_num(cfg, "gamma") == 2);
    if (strcmp(r->model, "bhivae") == 0)
      assert_true(bh_config_num(cfg, "beta") == 10 && bh_config_num(cfg, "gamma") == 3);
    if (strcmp(r->table, "t1") == 0) {
      assert_string_equal(r->data, "dsprites");
      assert_int_equal(r->z_dim, 10);
      assert_non_null(strstr(r->metrics, "zdiff"));
      assert_non_null(strstr(r->metrics, "sap"));
      assert_non_null(strstr(r->metrics, "mig"));
      assert_int_equal(r->steps, p->steps_dsprites);
    } else if (strcmp(r->table, "t2") == 0) {
      assert_string_equal(r->data, "mnist");
      assert_string_equal(r->metrics, "probe");
      assert_int_equal(r->steps, p->steps_mnist);
    } else {
      assert_string_equal(r->table, "f8");
      assert_string_equal(r->model, "bhivae-sup");
      assert_string_equal(r->probe_target, "factors:0=2");
      assert_true(find_setting(r, "blocks", v, sizeof v));
      assert_string_equal(v, strcmp(r->variant, "block") == 0 ? "2,2,2" : "1,2,2");
      assert_int_equal(r->steps, p->steps_f8);
    }
    /* paper: each model's own learning rate; the short budgets 5e-4 */
    if (p->lr) assert_true(bh_config_num(cfg, "lr") == 5e-4);
    else assert_false(find_setting(r, "lr", v, sizeof v));
    bh_config_free(cfg);
  }
  free(runs);
}

static void test_profiles(void **state) {
  (void)state;
  assert_int_equal(bh_profile_count(), 4);
  /* ci: Table 1 of 3 models + Table 2 of 2 models at one width; one seed */
  check_profile(bh_profile_find("ci"), 0, 3 + 2);
  /* quick: 6 models, 6 models x 3 widths, 2 variants x 3 widths; one seed */
  check_profile(bh_profile_find("quick"), 0, 6 + 18 + 6);
  check_profile(bh_profile_find("quick"), 2, 2 * 30);
  check_profile(bh_profile_find("standard"), 0, 3 * 30);
  check_profile(bh_profile_find("paper"), 0, 5 * 30);
  const bh_profile *paper = bh_profile_find("paper");
  assert_int_equal(paper->steps_dsprites, 300000); /* disentanglement_lib's budget */
  assert_int_equal(paper->seeds, 5);
  assert_int_equal(bh_profile_find("ci")->seeds, 1);
  assert_int_equal(bh_profile_find("standard")->seeds, 3);
  /* the ci Table 1 subset is small */
  assert_int_equal(bh_profile_find("ci")->subset_t1, 2048);

  bh_error_clear();
  assert_null(bh_profile_find("qiuck"));
  assert_non_null(strstr(bh_error_message(), "qiuck"));
  assert_non_null(strstr(bh_error_message(), "quick"));
  bh_run_spec r;
  assert_int_not_equal(bh_profile_run_find(bh_profile_find("ci"), 0, "t1-btcvae-s1", &r), BH_OK);
  assert_non_null(strstr(bh_error_message(), "t1-btcvae-s1"));
  assert_int_not_equal(bh_profile_run_find(bh_profile_find("quick"), 0, "t1-vae-s2", &r), BH_OK);
  assert_int_equal(bh_profile_run_find(bh_profile_find("quick"), 2, "t1-vae-s2", &r), BH_OK);
  assert_int_equal(r.seed, 2);
}

/* ---------------------------------------------------------------- the binary */

static char out1[PL], out2[PL];

static int setup(void **state) {
  (void)state;
  if (tf_tmpdir_make("bench")) return -1;
  tf_path(out1, "out1");
  tf_path(out2, "out2");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  return tf_tmpdir_remove();
}

static json_t *result_of(const char *out) {
  char p[PL];
  return tf_load_json(tf_pathf(p, "%s/results/" RUN ".json", out));
}

/* The numbers of a result that a rerun must reproduce: every metric's score, the last loss
 * terms, the configuration. */
static void expect_same_numbers(json_t *a, json_t *b) {
  const char *key;
  json_t *m;
  json_t *ma = json_object_get(a, "metrics"), *mb = json_object_get(b, "metrics");
  assert_true(json_object_size(ma) >= 3);
  assert_int_equal(json_object_size(ma), json_object_size(mb));
  json_object_foreach(ma, key, m) {
    double x = tf_json_num(m, "score"), y = tf_json_num(json_object_get(mb, key), "score");
    if (x != y) fail_msg("metric %s: %.17g then %.17g", key, x, y);
  }
  assert_true(json_equal(json_object_get(json_object_get(a, "train"), "last"),
                         json_object_get(json_object_get(b, "train"), "last")));
  assert_true(json_equal(json_object_get(a, "config"), json_object_get(b, "config")));
}

/* FILE's JSON with one change made by fn, written to a new file; bench check names why. */
static void corrupt_and_check(const char *src, const char *name, void (*fn)(json_t *),
                              const char *extra, const char *why) {
  tf_run_result rr;
  json_t *o = tf_load_json(src);
  fn(o);
  char full[PL];
  tf_path(full, name);
  assert_int_equal(json_dump_file(o, full, 0), 0);
  json_decref(o);
  tf_run_bhivae(&rr, "bench check %s %s", full, extra);
  tf_expect_fail(&rr, why);
}

static void set_incomplete(json_t *o) { json_object_set_new(o, "complete", json_false()); }
static void set_schema(json_t *o) { json_object_set_new(o, "schema", json_string("other/1")); }
static void set_lr(json_t *o) {
  json_object_set_new(json_object_get(o, "config"), "lr", json_real(1e-3));
}
static void drop_metric(json_t *o) { json_object_del(json_object_get(o, "metrics"), "mig"); }
static void set_short(json_t *o) {
  json_object_set_new(json_object_get(o, "train"), "steps", json_integer(30));
}
static void keep(json_t *o) { (void)o; }

static void test_ci_end_to_end(void **state) {
  (void)state;
  tf_run_result rr;
  char p[PL], res[PL];

  tf_run_bhivae(&rr, "bench list --profile ci");
  tf_expect_status(&rr, 0);
  assert_string_equal(rr.out, "t1-vae-s1\nt1-betavae-s1\nt1-bhivae-s1\nt2-vae-d10-s1\n"
                              "t2-bhivae-d10-s1\n");
  tf_run_bhivae(&rr, "bench budget --profile quick");
  tf_expect_status(&rr, 0);
  assert_non_null(strstr(rr.out, "minutes"));

  tf_run_bhivae(&rr, "bench run --profile ci --run " RUN " --out %s --threads 1", out1);
  tf_expect_status(&rr, 0);
  tf_pathf(res, "%s/results/" RUN ".json", out1);
  assert_true(tf_file_exists(res));
  assert_true(tf_file_exists(tf_pathf(p, "%s/runs/" RUN "/traverse.png", out1)));
  assert_true(tf_file_exists(tf_pathf(p, "%s/runs/" RUN "/eval.json", out1)));
  json_t *a = result_of(out1);
  assert_string_equal(json_string_value(json_object_get(a, "schema")), "bhivae-result/1");
  assert_true(json_is_true(json_object_get(a, "complete")));
  assert_string_equal(json_string_value(json_object_get(a, "run")), RUN);
  assert_string_equal(json_string_value(json_object_get(a, "table")), "t1");
  assert_int_equal((int)tf_json_num(json_object_get(a, "train"), "steps"), 60);
  assert_int_equal((int)tf_json_num(json_object_get(a, "budget"), "steps"), 60);
  assert_int_equal((int)tf_json_num(json_object_get(a, "config"), "subset"), 2048);
  assert_true(tf_json_num(json_object_get(a, "train"), "images_per_s") > 0);
  /* the profile's metric samples reached eval: mig on 1,000 codes */
  assert_int_equal((int)tf_json_num(json_object_get(json_object_get(a, "metrics"), "mig"),
                                    "n_train"), 1000);

  tf_run_bhivae(&rr, "bench check %s", res);
  tf_expect_status(&rr, 0);
  tf_run_bhivae(&rr, "bench check %s --profile ci --run " RUN, res);
  tf_expect_status(&rr, 0);
  /* made with 1 thread: valid for --threads 1, not for another count */
  tf_run_bhivae(&rr, "bench check %s --profile ci --run " RUN " --threads 1", res);
  tf_expect_status(&rr, 0);
  tf_run_bhivae(&rr, "bench check %s --profile ci --run " RUN " --threads 2", res);
  tf_expect_fail(&rr, "made with 1 thread(s), not 2");

  /* every way a result can be wrong, named */
  tf_write_bytes(tf_path(p, "trunc.json"), "{\"schema\": \"bhivae-res", 22);
  tf_run_bhivae(&rr, "bench check %s", p);
  tf_expect_fail(&rr, "not JSON");
  corrupt_and_check(res, "incomplete.json", set_incomplete, "", "complete");
  corrupt_and_check(res, "schema.json", set_schema, "", "schema");
  corrupt_and_check(res, "lr.json", set_lr, "", "config differs");
  corrupt_and_check(res, "nomig.json", drop_metric, "", "metric mig missing");
  corrupt_and_check(res, "short.json", set_short, "", "train.steps");
  corrupt_and_check(res, "p.json", keep, "--profile quick --run " RUN, "profile mismatch");
  corrupt_and_check(res, "r.json", keep, "--profile ci --run t1-betavae-s1", "run mismatch");
  json_decref(a);
}

/* tf_write_bytes cannot make folders: make OUT2/runs/RUN first. */
static int setup_out2(void **state) {
  (void)state;
  char p[PL];
  tf_pathf(p, "mkdir -p %s/runs/" RUN " %s/results", out2, out2);
  return system(p) == 0 ? 0 : -1;
}

/* a folder without a checkpoint is started over; the numbers are the same */
static void test_rerun_deterministic(void **state) {
  (void)state;
  tf_run_result rr;
  char p[PL];
  tf_write_bytes(tf_pathf(p, "%s/runs/" RUN "/junk", out2), "x", 1);
  tf_write_bytes(tf_pathf(p, "%s/results/" RUN ".json", out2), "{", 1); /* corrupt: redone */
  tf_run_bhivae(&rr, "bench run --profile ci --run " RUN " --out %s --threads 1", out2);
  tf_expect_status(&rr, 0);
  assert_non_null(strstr(rr.err, "starting over"));
  assert_false(tf_file_exists(tf_pathf(p, "%s/runs/" RUN "/junk", out2)));
  json_t *a = result_of(out1), *b = result_of(out2);
  expect_same_numbers(a, b);
  json_decref(b);

  /* a checkpoint without train.json is continued (not started over): the same numbers */
  remove(tf_pathf(p, "%s/runs/" RUN "/train.json", out1));
  tf_run_bhivae(&rr, "bench run --profile ci --run " RUN " --out %s --threads 1", out1);
  tf_expect_status(&rr, 0);
  b = result_of(out1);
  expect_same_numbers(a, b);
  json_decref(a);
  json_decref(b);
}

static void test_bad_input(void **state) {
  (void)state;
  tf_run_result rr;
  char p[PL];
  tf_run_bhivae(&rr, "bench list --profile fast");
  tf_expect_usage(&rr, "unknown profile 'fast' (known: ci, quick, standard, paper)");
  tf_run_bhivae(&rr, "bench run --profile ci --run t1-nope-s1 --out %s", out1);
  tf_expect_fail(&rr, "t1-nope-s1");
  tf_run_bhivae(&rr, "bench frobnicate --profile ci");
  tf_expect_usage(&rr, "frobnicate");
  /* an output folder below a file cannot be made */
  tf_write_bytes(tf_path(p, "afile"), "x", 1);
  tf_run_bhivae(&rr, "bench run --profile ci --run " RUN " --out %s/sub", p);
  tf_expect_fail(&rr, "cannot create");
  tf_run_bhivae(&rr, "bench check %s", tf_path(p, "missing.json"));
  tf_expect_fail(&rr, "not JSON");
  /* other data for Table 2: a setting of its runs (so bench check tells them apart), and
   * `bench data` names the folder that cannot be opened */
  setenv("BHIVAE_BENCH_MNIST", "idx:/nonexistent-bhivae-dir", 1);
  tf_run_bhivae(&rr, "bench list --profile ci --long");
  tf_expect_status(&rr, 0);
  assert_non_null(strstr(rr.out, "data=idx:/nonexistent-bhivae-dir"));
  tf_run_bhivae(&rr, "bench data --profile ci");
  tf_expect_fail(&rr, "/nonexistent-bhivae-dir: no train-images-idx3-ubyte");
  unsetenv("BHIVAE_BENCH_MNIST");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_profiles),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_ci_end_to_end),
      cmocka_unit_test_setup(test_rerun_deterministic, setup_out2),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
