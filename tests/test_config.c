/* test_config.c — configuration keys: declaring, setting from text, assignments, both file
 * formats and JSON, exact error messages, typed JSON output and its round trip, redeclared
 * defaults, help lines, copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/config.h"
#include "tests/testfiles.h"

static const bh_cfg_key keys[] = {
    {"steps", BH_CFG_INT, "100", "training steps"},
    {"beta", BH_CFG_NUM, "1", "KL weight"},
    {"data", BH_CFG_STR, "dsprites", "dataset"},
    {"anneal", BH_CFG_BOOL, "false", "anneal the KL weight"},
    {"hidden", BH_CFG_INTLIST, "1200,1200", "widths"},
    {"gamma", BH_CFG_NUM, NULL, "no default"},
    {NULL, 0, NULL, NULL},
};

static bh_config *make(void) {
  bh_config *c = bh_config_alloc();
  assert_non_null(c);
  assert_int_equal(bh_config_declare(c, keys), BH_OK);
  return c;
}

static void assert_msg(const char *want) {
  if (strcmp(bh_error_message(), want) != 0)
    fail_msg("message \"%s\", expected \"%s\"", bh_error_message(), want);
}

static int setup_dir(void **state) {
  (void)state;
  return tf_tmpdir_make("config");
}

static int remove_dir(void **state) {
  (void)state;
  return tf_tmpdir_remove();
}

static void write_text(const char *path, const char *text) {
  tf_write_bytes(path, text, strlen(text));
}

/* ---------------------------------------------------------------- defaults and types */

static void test_defaults(void **state) {
  (void)state;
  bh_config *c = make();
  assert_int_equal(bh_config_count(c), 6);
  assert_string_equal(bh_config_key_at(c, 0)->key, "steps");
  assert_string_equal(bh_config_key_at(c, 5)->key, "gamma");
  assert_null(bh_config_key_at(c, 6));
  assert_int_equal(bh_config_int(c, "steps"), 100);
  assert_true(bh_config_num(c, "steps") == 100.0); /* INT read as a number */
  assert_true(bh_config_num(c, "beta") == 1.0);
  assert_string_equal(bh_config_str(c, "data"), "dsprites");
  assert_int_equal(bh_config_int(c, "anneal"), 0);
  int v[BH_CFG_INTLIST_MAX];
  assert_int_equal(bh_config_intlist(c, "hidden", v), 2);
  assert_int_equal(v[0], 1200);
  assert_int_equal(v[1], 1200);
  assert_null(bh_config_str(c, "gamma"));
  assert_true(bh_config_has(c, "beta"));
  assert_false(bh_config_has(c, "betta"));
  bh_config_free(c);
}

static void test_set_values(void **state) {
  (void)state;
  bh_config *c = make();
  assert_int_equal(bh_config_set(c, "steps", "-7", "--set"), BH_OK);
  assert_int_equal(bh_config_int(c, "steps"), -7);
  assert_int_equal(bh_config_set(c, "beta", "6.5e-1", "--set"), BH_OK);
  assert_true(bh_config_num(c, "beta") == 0.65);
  assert_string_equal(bh_config_str(c, "beta"), "6.5e-1"); /* numbers keep their text */
  static const char *const yes[] = {"1", "true", "YES", "On"}, *const no[] = {"0", "False", "no", "off"};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(bh_config_set(c, "anneal", yes[i], "--set"), BH_OK);
    assert_int_equal(bh_config_int(c, "anneal"), 1);
    assert_string_equal(bh_config_str(c, "anneal"), "true");
    assert_int_equal(bh_config_set(c, "anneal", no[i], "--set"), BH_OK);
    assert_int_equal(bh_config_int(c, "anneal"), 0);
  }
  assert_int_equal(bh_config_set(c, "hidden", " 3 , 40,500 ", "--set"), BH_OK);
  int v[BH_CFG_INTLIST_MAX];
  assert_int_equal(bh_config_intlist(c, "hidden", v), 3);
  assert_int_equal(v[0], 3);
  assert_int_equal(v[1], 40);
  assert_int_equal(v[2], 500);
  assert_string_equal(bh_config_str(c, "hidden"), "3,40,500");
  assert_int_equal(bh_config_set(c, "data", "celeba:/x y", "--set"), BH_OK);
  assert_string_equal(bh_config_str(c, "data"), "celeba:/x y");
  assert_int_equal(bh_config_set(c, "gamma", "2", "--set"), BH_OK);
  assert_true(bh_config_num(c, "gamma") == 2.0);
  bh_config_free(c);
}

static void test_assignment(void **state) {
  (void)state;
  bh_config *c = make();
  assert_int_equal(bh_config_set_assignment(c, "beta=4", "--set"), BH_OK);
  assert_true(bh_config_num(c, "beta") == 4.0);
  assert_int_equal(bh_config_set_assignment(c, "  steps =  12 ", "--set"), BH_OK);
  assert_int_equal(bh_config_int(c, "steps"), 12);
  assert_int_equal(bh_config_set_assignment(c, "data=a=b", "--set"), BH_OK);
  assert_string_equal(bh_config_str(c, "data"), "a=b");
  assert_int_equal(bh_config_set_assignment(c, "beta", "--set"), BH_EINVAL);
  assert_msg("--set: 'beta' is not key=value");
  assert_int_equal(bh_config_set_assignment(c, "=3", "--set"), BH_EINVAL);
  assert_msg("--set: '=3' is not key=value");
  assert_int_equal(bh_config_set_assignment(c, "betta=3", "--set"), BH_EINVAL);
  assert_msg("--set: unknown key 'betta' (known: steps, beta, data, anneal, hidden, gamma)");
  bh_config_free(c);
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void **state) {
  (void)state;
  bh_config *c = make();
  struct {
    const char *key, *value, *msg;
    int code;
  } cases[] = {
      {"beta", "abc", "--set: beta: 'abc' is not a number", BH_EINVAL},
      {"beta", "", "--set: beta: '' is not a number", BH_EINVAL},
      {"beta", "1.5x", "--set: beta: '1.5x' is not a number", BH_EINVAL},
      {"beta", "nan", "--set: beta: 'nan' is not a finite number", BH_ENUM},
      {"beta", "-inf", "--set: beta: '-inf' is not a finite number", BH_ENUM},
      {"beta", "1e999", "--set: beta: '1e999' is not a finite number", BH_ENUM},
      {"steps", "1.5", "--set: steps: '1.5' is not an integer", BH_EINVAL},
      {"steps", "12a", "--set: steps: '12a' is not an integer", BH_EINVAL},
      {"steps", "99999999999999999999", "--set: steps: '99999999999999999999' is out of range",
       BH_EINVAL},
      {"anneal", "maybe",
       "--set: anneal: 'maybe' is not a boolean (0/1, true/false, yes/no, on/off)", BH_EINVAL},
      {"hidden", "", "--set: hidden: '': empty list", BH_EINVAL},
      {"hidden", "  ", "--set: hidden: '  ': empty list", BH_EINVAL},
      {"hidden", "1200,0", "--set: hidden: '1200,0' has a non-positive entry 0", BH_EINVAL},
      {"hidden", "-3", "--set: hidden: '-3' has a non-positive entry -3", BH_EINVAL},
      {"hidden", "10,,10", "--set: hidden: '10,,10': not a list of positive integers", BH_EINVAL},
      {"hidden", "10,", "--set: hidden: '10,': not a list of positive integers", BH_EINVAL},
      {"hidden", "3000000000", "--set: hidden: '3000000000': an entry is out of range",
       BH_EINVAL},
      {"hidden", "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1",
       "--set: hidden: '1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1' has more than 16 entries", BH_EINVAL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int st = bh_config_set(c, cases[i].key, cases[i].value, "--set");
    assert_int_equal(st, cases[i].code);
    assert_msg(cases[i].msg);
  }
  /* failed sets leave the values alone */
  assert_true(bh_config_num(c, "beta") == 1.0);
  assert_int_equal(bh_config_int(c, "steps"), 100);
  int v[BH_CFG_INTLIST_MAX];
  assert_int_equal(bh_config_intlist(c, "hidden", v), 2);
  /* 16 entries is the maximum */
  assert_int_equal(bh_config_set(c, "hidden", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", "x"),
                   BH_OK);
  assert_int_equal(bh_config_intlist(c, "hidden", v), 16);
  assert_int_equal(v[15], 16);
  assert_int_equal(bh_config_set(c, "betta", "6", "run.cfg:3"), BH_EINVAL);
  assert_msg("run.cfg:3: unknown key 'betta' (known: steps, beta, data, anneal, hidden, gamma)");
  bh_config_free(c);
}

static void test_bad_default(void **state) {
  (void)state;
  bh_config *c = bh_config_alloc();
  const bh_cfg_key bad[] = {{"lr", BH_CFG_NUM, "fast", "oops"}, {NULL, 0, NULL, NULL}};
  assert_int_equal(bh_config_declare(c, bad), BH_EINVAL);
  assert_msg("config (default): lr: 'fast' is not a number");
  assert_false(bh_config_has(c, "lr"));
  bh_config_free(c);
}

/* ---------------------------------------------------------------- redeclaring */

static void test_redeclare(void **state) {
  (void)state;
  bh_config *c = make();
  const bh_cfg_key over[] = {
      {"beta", BH_CFG_NUM, "6", "β of this model"},
      {"extra", BH_CFG_INT, "3", "a new key"},
      {"steps", BH_CFG_INT, "5", "fewer steps"},
      {NULL, 0, NULL, NULL},
  };
  assert_int_equal(bh_config_set(c, "steps", "42", "--set"), BH_OK);
  assert_int_equal(bh_config_declare(c, over), BH_OK);
  assert_int_equal(bh_config_count(c), 7);
  /* keeps its place, takes the new default and doc */
  assert_string_equal(bh_config_key_at(c, 1)->key, "beta");
  assert_string_equal(bh_config_key_at(c, 1)->def, "6");
  assert_string_equal(bh_config_key_at(c, 1)->doc, "β of this model");
  assert_true(bh_config_num(c, "beta") == 6.0);
  assert_string_equal(bh_config_key_at(c, 6)->key, "extra");
  /* a value set before stays */
  assert_int_equal(bh_config_int(c, "steps"), 42);
  /* ... and is re-checked against a new type */
  const bh_cfg_key retype[] = {{"data", BH_CFG_INT, "1", ""}, {NULL, 0, NULL, NULL}};
  assert_int_equal(bh_config_set(c, "data", "mnist", "--set"), BH_OK);
  assert_int_equal(bh_config_declare(c, retype), BH_EINVAL);
  assert_msg("config: data: 'mnist' is not an integer");
  bh_config_free(c);
}

/* ---------------------------------------------------------------- files */

static void test_file_lines(void **state) {
  (void)state;
  char path[256];
  tf_path(path, "run.cfg");
  write_text(path,
             "# a run\n"
             "\n"
             "steps = 250   # fewer\n"
             "  beta=4\n"
             "data = \"idx:/a b\"\n"
             "hidden = 10, 20\n"
             "anneal = yes");
  bh_config *c = make();
  assert_int_equal(bh_config_load_file(c, path), BH_OK);
  assert_int_equal(bh_config_int(c, "steps"), 250);
  assert_true(bh_config_num(c, "beta") == 4.0);
  assert_string_equal(bh_config_str(c, "data"), "idx:/a b");
  int v[BH_CFG_INTLIST_MAX];
  assert_int_equal(bh_config_intlist(c, "hidden", v), 2);
  assert_int_equal(v[1], 20);
  assert_int_equal(bh_config_int(c, "anneal"), 1);

  write_text(path, "steps = 3\n# comment\nbetta = 6\n");
  assert_int_equal(bh_config_load_file(c, path), BH_EINVAL);
  char want[512];
  snprintf(want, sizeof want,
           "%s:3: unknown key 'betta' (known: steps, beta, data, anneal, hidden, gamma)", path);
  assert_msg(want);
  write_text(path, "\n\nbeta = abc\n");
  assert_int_equal(bh_config_load_file(c, path), BH_EINVAL);
  snprintf(want, sizeof want, "%s:3: beta: 'abc' is not a number", path);
  assert_msg(want);
  write_text(path, "steps 3\n");
  assert_int_equal(bh_config_load_file(c, path), BH_EINVAL);
  snprintf(want, sizeof want, "%s:1: expected 'key = value', not 'steps 3'", path);
  assert_msg(want);
  tf_path(path, "missing.cfg");
  assert_int_equal(bh_config_load_file(c, path), BH_EIO);
  snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
  assert_msg(want);
  bh_config_free(c);
}

static void test_file_json(void **state) {
  (void)state;
  char path[256], want[512];
  tf_path(path, "run.json");
  write_text(path, "  {\"beta\": 6, \"steps\": 7, \"data\": \"mnist\", \"anneal\": true,\n"
                   "   \"hidden\": [3, 4, 5], \"gamma\": 0.25}\n");
  bh_config *c = make();
  assert_int_equal(bh_config_load_file(c, path), BH_OK);
  assert_true(bh_config_num(c, "beta") == 6.0);
  assert_int_equal(bh_config_int(c, "steps"), 7);
  assert_string_equal(bh_config_str(c, "data"), "mnist");
  assert_int_equal(bh_config_int(c, "anneal"), 1);
  int v[BH_CFG_INTLIST_MAX];
  assert_int_equal(bh_config_intlist(c, "hidden", v), 3);
  assert_int_equal(v[2], 5);
  assert_true(bh_config_num(c, "gamma") == 0.25);

  write_text(path, "{\"betta\": 6}");
  assert_int_equal(bh_config_load_file(c, path), BH_EINVAL);
  snprintf(want, sizeof want,
           "%s: unknown key 'betta' (known: steps, beta, data, anneal, hidden, gamma)", path);
  assert_msg(want);
  write_text(path, "{\"steps\": 2.5}");
  assert_int_equal(bh_config_load_file(c, path), BH_EINVAL);
  snprintf(want, sizeof want, "%s: steps: '2.5' is not an integer", path);
  assert_msg(want);
  write_text(path, "{\"hidden\": []}");
  assert_int_equal(bh_config_load_file(c, path), BH_EINVAL);
  snprintf(want, sizeof want, "%s: hidden: empty list", path);
  assert_msg(want);
  write_text(path, "{\"hidden\": [3, 0]}");
  assert_int_equal(bh_config_load_file(c, path), BH_EINVAL);
  snprintf(want, sizeof want, "%s: hidden: '3,0' has a non-positive entry 0", path);
  assert_msg(want);
  write_text(path, "{\"hidden\": [3, \"a\"]}");
  assert_int_equal(bh_config_load_file(c, path), BH_EINVAL);
  snprintf(want, sizeof want, "%s: hidden: list entry 1 is not an integer", path);
  assert_msg(want);
  write_text(path, "{\"beta\": {}}");
  assert_int_equal(bh_config_load_file(c, path), BH_EINVAL);
  snprintf(want, sizeof want, "%s: beta: not a number, string, boolean or list", path);
  assert_msg(want);
  write_text(path, "{\"beta\": 1,\n \"steps\": }");
  assert_int_equal(bh_config_load_file(c, path), BH_EFORMAT);
  assert_non_null(strstr(bh_error_message(), ":2: "));
  bh_config_free(c);
}

/* ---------------------------------------------------------------- JSON output */

static void test_json_round_trip(void **state) {
  (void)state;
  bh_config *c = make();
  assert_int_equal(bh_config_set(c, "beta", "0.1", "x"), BH_OK);
  assert_int_equal(bh_config_set(c, "anneal", "on", "x"), BH_OK);
  assert_int_equal(bh_config_set(c, "hidden", "7,8", "x"), BH_OK);
  json_t *o = bh_config_json(c);
  assert_non_null(o);
  char *text = json_dumps(o, JSON_COMPACT);
  /* declaration order, typed values; the unset key is null */
  assert_string_equal(text, "{\"steps\":100,\"beta\":0.10000000000000001,\"data\":\"dsprites\","
                            "\"anneal\":true,\"hidden\":[7,8],\"gamma\":null}");
  free(text);
  assert_true(json_is_integer(json_object_get(o, "steps")));
  assert_true(json_is_real(json_object_get(o, "beta")));

  bh_config *d = make();
  assert_int_equal(bh_config_set_json(d, o, "ckpt"), BH_OK);
  assert_true(bh_config_num(d, "beta") == 0.1);
  assert_string_equal(bh_config_str(d, "beta"), "0.1"); /* shortest round-trip text */
  assert_int_equal(bh_config_int(d, "anneal"), 1);
  assert_string_equal(bh_config_str(d, "hidden"), "7,8");
  assert_null(bh_config_str(d, "gamma"));
  json_t *o2 = bh_config_json(d);
  assert_true(json_equal(o, o2));
  json_decref(o2);
  json_decref(o);

  /* exact doubles survive */
  assert_int_equal(bh_config_set(c, "gamma", "0.30000000000000004", "x"), BH_OK);
  o = bh_config_json(c);
  assert_int_equal(bh_config_set_json(d, o, "ckpt"), BH_OK);
  assert_true(bh_config_num(d, "gamma") == 0.30000000000000004);
  assert_true(bh_config_num(d, "gamma") != 0.3);
  json_decref(o);
  /* null over a value is an error */
  o = json_pack("{s:n}", "beta");
  assert_int_equal(bh_config_set_json(d, o, "ckpt"), BH_EINVAL);
  assert_msg("ckpt: beta: null is not a value");
  json_decref(o);
  o = json_array();
  assert_int_equal(bh_config_set_json(d, o, "ckpt"), BH_EINVAL);
  assert_msg("ckpt: not a JSON object");
  json_decref(o);
  bh_config_free(c);
  bh_config_free(d);
}

static void test_copy(void **state) {
  (void)state;
  bh_config *c = make();
  assert_int_equal(bh_config_set(c, "steps", "9", "x"), BH_OK);
  bh_config *d = bh_config_copy(c);
  assert_non_null(d);
  assert_int_equal(bh_config_set(c, "steps", "10", "x"), BH_OK);
  assert_int_equal(bh_config_int(d, "steps"), 9);
  assert_int_equal(bh_config_count(d), 6);
  assert_string_equal(bh_config_key_at(d, 4)->doc, "widths");
  bh_config_free(c);
  /* the copy remembers what was set: a redeclaration keeps it */
  const bh_cfg_key over[] = {{"steps", BH_CFG_INT, "1", ""}, {NULL, 0, NULL, NULL}};
  assert_int_equal(bh_config_declare(d, over), BH_OK);
  assert_int_equal(bh_config_int(d, "steps"), 9);
  bh_config_free(d);
}

static void test_help(void **state) {
  (void)state;
  bh_config *c = make();
  char buf[4096] = {0};
  FILE *f = fmemopen(buf, sizeof buf - 1, "w");
  bh_config_print_help(c, f);
  fclose(f);
  assert_non_null(strstr(buf, "  steps   (int, default 100)"));
  assert_non_null(strstr(buf, "training steps\n"));
  assert_non_null(strstr(buf, "  hidden  (int list, default 1200,1200)"));
  assert_non_null(strstr(buf, "  gamma   (number, no default)"));
  int lines = 0;
  for (char *p = buf; *p; p++) lines += *p == '\n';
  assert_int_equal(lines, 6);
  bh_config_free(c);
}

/* Getters on an undeclared key or a key of another type are programming errors: abort(). */
static void expect_abort(void (*fn)(const bh_config *), const char *what) {
  bh_config *c = make();
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit no_core = {0, 0}; /* no core file from the abort */
    setrlimit(RLIMIT_CORE, &no_core);
    if (!freopen("/dev/null", "w", stderr)) _exit(2);
    fn(c);
    _exit(0);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) fail_msg("%s did not abort", what);
  bh_config_free(c);
}

static void get_undeclared(const bh_config *c) { (void)bh_config_int(c, "betta"); }
static void get_int_of_num(const bh_config *c) { (void)bh_config_int(c, "beta"); }
static void get_num_of_str(const bh_config *c) { (void)bh_config_num(c, "data"); }
static void get_list_of_int(const bh_config *c) {
  int v[BH_CFG_INTLIST_MAX];
  (void)bh_config_intlist(c, "steps", v);
}
static void get_unset(const bh_config *c) { (void)bh_config_num(c, "gamma"); }
static void get_str_undeclared(const bh_config *c) { (void)bh_config_str(c, "nope"); }

static void test_getter_abort(void **state) {
  (void)state;
  expect_abort(get_undeclared, "int of an undeclared key");
  expect_abort(get_int_of_num, "int of a number key");
  expect_abort(get_num_of_str, "num of a string key");
  expect_abort(get_list_of_int, "intlist of an int key");
  expect_abort(get_unset, "num of a key without value");
  expect_abort(get_str_undeclared, "str of an undeclared key");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),        cmocka_unit_test(test_set_values),
      cmocka_unit_test(test_assignment),      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_bad_default),     cmocka_unit_test(test_redeclare),
      cmocka_unit_test(test_file_lines),      cmocka_unit_test(test_file_json),
      cmocka_unit_test(test_json_round_trip), cmocka_unit_test(test_copy),
      cmocka_unit_test(test_help),            cmocka_unit_test(test_getter_abort),
  };
  return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
