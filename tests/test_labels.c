/* test_labels.c — the label spec (models/labels.c): each form parses to the right entries,
 * classes and canonical text; "auto" takes the caller's default; every malformed or
 * data-incompatible spec gives BH_EINVAL and its exact one-line message; the labels of an
 * example and of hand-built batches for each source (plain and "=v" one-vs-rest), and the
 * batch errors (missing source, value out of range).  Expected values are written by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/graph.h"
#include "models/labels.h"

#define WHO "who-sup"
#define KEY "attributes"

/* 10 classes, 3 binary attributes, 4 factors of sizes 3, 6, 1, 40 */
static const bh_data_info full = {.c = 1, .h = 2, .w = 2, .n = 3, .nclasses = 10, .nattrs = 3,
                                  .nfactors = 4, .factor_sizes = {3, 6, 1, 40}};
static const bh_data_info bare = {.c = 1, .h = 2, .w = 2, .n = 3};

static bh_label_spec parse_ok(const char *spec, const char *auto_spec, const bh_data_info *d) {
  bh_label_spec s;
  bh_error_clear();
  if (bh_label_spec_parse(&s, spec, auto_spec, d, WHO, KEY) != BH_OK)
    fail_msg("'%s': %s", spec, bh_error_message());
  return s;
}

/* entries as parallel lists: index, eq, k */
static void expect_entries(const bh_label_spec *s, int source, int n, const int *index,
                           const int *eq, const int *k, const char *text) {
  assert_int_equal(s->source, source);
  assert_int_equal(s->n, n);
  for (int a = 0; a < n; a++) {
    assert_int_equal(s->index[a], index[a]);
    assert_int_equal(s->eq[a], eq[a]);
    assert_int_equal(s->k[a], k[a]);
  }
  assert_string_equal(s->text, text);
}

static void test_forms(void **state) {
  (void)state;
  bh_label_spec s = parse_ok("labels", NULL, &full);
  expect_entries(&s, BH_LABEL_CLASSES, 1, (int[]){0}, (int[]){-1}, (int[]){10}, "labels");
  s = parse_ok("attrs:2,0", NULL, &full);
  expect_entries(&s, BH_LABEL_ATTRS, 2, (int[]){2, 0}, (int[]){-1, -1}, (int[]){2, 2},
                 "attrs:2,0");
  s = parse_ok("attrs:1=0,1=1", NULL, &full);
  expect_entries(&s, BH_LABEL_ATTRS, 2, (int[]){1, 1}, (int[]){0, 1}, (int[]){2, 2},
                 "attrs:1=0,1=1");
  s = parse_ok("factors:1,3,0", NULL, &full);
  expect_entries(&s, BH_LABEL_FACTORS, 3, (int[]){1, 3, 0}, (int[]){-1, -1, -1},
                 (int[]){6, 40, 3}, "factors:1,3,0");
  /* "=v": binary, K = 2 whatever the factor's size; the largest value v = size − 1 is allowed */
  s = parse_ok("factors:1=5,0,3=0", NULL, &full);
  expect_entries(&s, BH_LABEL_FACTORS, 3, (int[]){1, 0, 3}, (int[]){5, -1, 0}, (int[]){2, 3, 2},
                 "factors:1=5,0,3=0");
  /* the canonical text drops leading zeros */
  s = parse_ok("factors:01=02", NULL, &full);
  expect_entries(&s, BH_LABEL_FACTORS, 1, (int[]){1}, (int[]){2}, (int[]){2}, "factors:1=2");
  /* exactly BH_LABEL_MAX entries, repeats allowed */
  s = parse_ok("attrs:0,1,2,0,1,2,0,1,2,0,1,2,0,1,2,0", NULL, &full);
  assert_int_equal(s.n, 16);
  assert_int_equal(s.index[15], 0);
  assert_int_equal(s.index[14], 2);
  assert_string_equal(s.text, "attrs:0,1,2,0,1,2,0,1,2,0,1,2,0,1,2,0");
}

static void test_auto(void **state) {
  (void)state;
  bh_label_spec s = parse_ok("auto", "factors:1,3", &full);
  expect_entries(&s, BH_LABEL_FACTORS, 2, (int[]){1, 3}, (int[]){-1, -1}, (int[]){6, 40},
                 "factors:1,3");
  s = parse_ok("auto", "labels", &full);
  assert_int_equal(s.source, BH_LABEL_CLASSES);
  assert_string_equal(s.text, "labels");
  /* the default is checked like any spec */
  bh_label_spec t;
  assert_int_equal(bh_label_spec_parse(&t, "auto", "labels", &bare, WHO, KEY), BH_EINVAL);
  assert_string_equal(bh_error_message(), "who-sup: key 'attributes': 'labels' needs class "
                                          "labels (at least 2 classes; the data has 0)");
  /* an explicit spec ignores the default */
  s = parse_ok("attrs:2", "labels", &full);
  assert_string_equal(s.text, "attrs:2");
}

/* spec on d fails with exactly `msg` */
static void expect_error(const char *spec, const char *auto_spec, const bh_data_info *d,
                         const char *msg) {
  bh_label_spec s;
  bh_error_clear();
  int st = bh_label_spec_parse(&s, spec, auto_spec, d, WHO, KEY);
  if (st != BH_EINVAL) fail_msg("'%s': status %d, expected BH_EINVAL", spec, st);
  assert_int_equal(bh_error_code(), BH_EINVAL);
  if (strcmp(bh_error_message(), msg) != 0)
    fail_msg("'%s':\n  got      %s\n  expected %s", spec, bh_error_message(), msg);
}

#define PRE "who-sup: key 'attributes': "

static void test_errors(void **state) {
  (void)state;
  /* unknown forms; the list names auto only when there is a default */
  expect_error("colour", "labels", &full,
               PRE "unknown value 'colour' (auto, labels, attrs:i,j,..., factors:i,j,...; an "
                   "index may carry =v)");
  const char *unknown[] = {"attrs", "", "labels:1", NULL};
  for (int i = 0; unknown[i]; i++) {
    char msg[256];
    snprintf(msg, sizeof msg, PRE "unknown value '%s' (labels, attrs:i,j,..., factors:i,j,...; an "
             "index may carry =v)", unknown[i]);
    expect_error(unknown[i], NULL, &full, msg);
  }
  expect_error("auto", NULL, &full,
               PRE "'auto' has no default here (labels, attrs:i,j,..., factors:i,j,...)");
  /* empty lists */
  expect_error("attrs:", NULL, &full, PRE "no index in 'attrs:'");
  expect_error("factors:", NULL, &full, PRE "no index in 'factors:'");
  /* malformed lists */
  const char *bad[] = {"factors:1,,2", "factors:-1", "factors:a", "factors:1=", "factors:1=x",
                       "factors: 1",   "factors:+1", "factors:=1", "factors:1000000",
                       "factors:0=1000000", NULL};
  for (int i = 0; bad[i]; i++) {
    char msg[256];
    snprintf(msg, sizeof msg, PRE "bad index list in '%s' (non-negative integers up to 100000, "
             "each optionally '=v', comma-separated)", bad[i]);
    expect_error(bad[i], NULL, &full, msg);
  }
  expect_error("factors:1;2", NULL, &full, PRE "unexpected ';' in 'factors:1;2'");
  expect_error("factors:1,", NULL, &full, PRE "unexpected ',' in 'factors:1,'");
  expect_error("attrs:1=0=1", NULL, &full, PRE "unexpected '=' in 'attrs:1=0=1'");
  /* indices out of range: the first index past the end */
  expect_error("attrs:0,3", NULL, &full,
               PRE "attribute 3 out of range (the data has 3 binary attributes)");
  expect_error("factors:4", NULL, &full, PRE "factor 4 out of range (the data has 4 factors)");
  expect_error("factors:0,4=1", NULL, &full, PRE "factor 4 out of range (the data has 4 factors)");
  /* a constant factor, with or without =v */
  expect_error("factors:2", NULL, &full, PRE "factor 2 has 1 value(s); need at least 2");
  expect_error("factors:2=0", NULL, &full, PRE "factor 2 has 1 value(s); need at least 2");
  /* v out of range: attributes are 0/1, factor 1 has values 0..5 */
  expect_error("attrs:0=2", NULL, &full, PRE "attribute 0=2: a binary attribute is 0 or 1");
  expect_error("factors:1=6", NULL, &full, PRE "factor 1=6: the factor's values are 0..5");
  /* 17 entries */
  expect_error("attrs:0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0", NULL, &full,
               PRE "too many entries in 'attrs:0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0' (at most 16)");
  /* the data lacks the source */
  expect_error("labels", NULL, &bare,
               PRE "'labels' needs class labels (at least 2 classes; the data has 0)");
  bh_data_info one = full;
  one.nclasses = 1;
  expect_error("labels", NULL, &one,
               PRE "'labels' needs class labels (at least 2 classes; the data has 1)");
  expect_error("attrs:0", NULL, &bare, PRE "'attrs:...' but the data has no binary attributes");
  expect_error("factors:0", NULL, &bare,
               PRE "'factors:...' but the data has no ground-truth factors");
}

/* three examples of `full`: class labels, 3 attributes each, 4 factors each */
static const int lab[3] = {9, 0, 4};
static const uint8_t att[9] = {1, 0, 0, /**/ 0, 0, 1, /**/ 1, 1, 0};
static const int fac[12] = {2, 5, 0, 39, /**/ 0, 2, 0, 0, /**/ 1, 2, 0, 17};

static void test_value(void **state) {
  (void)state;
  bh_label_spec s = parse_ok("factors:1=2,1,3,0=0", NULL, &full);
  /* example 0: factors 2 5 0 39 */
  assert_int_equal(bh_label_spec_value(&s, 0, -1, NULL, 0, fac, 4), 0); /* 5 != 2 */
  assert_int_equal(bh_label_spec_value(&s, 1, -1, NULL, 0, fac, 4), 5);
  assert_int_equal(bh_label_spec_value(&s, 2, -1, NULL, 0, fac, 4), 39);
  assert_int_equal(bh_label_spec_value(&s, 3, -1, NULL, 0, fac, 4), 0); /* 2 != 0 */
  /* example 1: factors 0 2 0 0 */
  assert_int_equal(bh_label_spec_value(&s, 0, -1, NULL, 0, fac + 4, 4), 1); /* 2 == 2 */
  assert_int_equal(bh_label_spec_value(&s, 3, -1, NULL, 0, fac + 4, 4), 1); /* 0 == 0 */
  /* missing field, short row, out of range, entry out of range */
  assert_int_equal(bh_label_spec_value(&s, 1, -1, NULL, 0, NULL, 0), -1);
  assert_int_equal(bh_label_spec_value(&s, 2, -1, NULL, 0, fac, 3), -1);
  int wild[4] = {0, 6, 0, -1};
  assert_int_equal(bh_label_spec_value(&s, 1, -1, NULL, 0, wild, 4), -1); /* 6 > 5 */
  assert_int_equal(bh_label_spec_value(&s, 2, -1, NULL, 0, wild, 4), -1); /* −1 */
  assert_int_equal(bh_label_spec_value(&s, 4, -1, NULL, 0, fac, 4), -1);
  assert_int_equal(bh_label_spec_value(&s, -1, -1, NULL, 0, fac, 4), -1);
  /* attributes: 0/1 only */
  s = parse_ok("attrs:2,0=0", NULL, &full);
  assert_int_equal(bh_label_spec_value(&s, 0, -1, att + 3, 3, NULL, 0), 1);
  assert_int_equal(bh_label_spec_value(&s, 1, -1, att + 3, 3, NULL, 0), 1); /* 0 == 0 */
  assert_int_equal(bh_label_spec_value(&s, 1, -1, att, 3, NULL, 0), 0);     /* 1 != 0 */
  uint8_t two[3] = {2, 0, 2};
  assert_int_equal(bh_label_spec_value(&s, 0, -1, two, 3, NULL, 0), -1);
  assert_int_equal(bh_label_spec_value(&s, 1, -1, two, 3, NULL, 0), -1);
  assert_int_equal(bh_label_spec_value(&s, 0, -1, NULL, 0, NULL, 0), -1);
  /* classes */
  s = parse_ok("labels", NULL, &full);
  assert_int_equal(bh_label_spec_value(&s, 0, 7, NULL, 0, NULL, 0), 7);
  assert_int_equal(bh_label_spec_value(&s, 0, 10, NULL, 0, NULL, 0), -1);
  assert_int_equal(bh_label_spec_value(&s, 0, -1, NULL, 0, NULL, 0), -1);
}

static bh_ctx *ctx;

static int ctx_up(void **state) {
  (void)state;
  ctx = bh_ctx_alloc(1 << 14);
  return ctx ? 0 : -1;
}

static int ctx_down(void **state) {
  (void)state;
  bh_ctx_free(ctx);
  return 0;
}

static void expect_batch(const char *spec, int a, const bh_batch *b, const int *want) {
  bh_label_spec s = parse_ok(spec, NULL, &full);
  int *y = bh_label_spec_batch(&s, a, &full, ctx, b, WHO);
  if (!y) fail_msg("'%s' entry %d: %s", spec, a, bh_error_message());
  for (int i = 0; i < b->n; i++)
    if (y[i] != want[i]) fail_msg("'%s' entry %d example %d: %d, expected %d", spec, a, i, y[i],
                                  want[i]);
}

static void expect_batch_error(const char *spec, int a, const bh_batch *b, const char *msg) {
  bh_label_spec s = parse_ok(spec, NULL, &full);
  bh_error_clear();
  assert_null(bh_label_spec_batch(&s, a, &full, ctx, b, WHO));
  assert_int_equal(bh_error_code(), BH_EINVAL);
  if (strcmp(bh_error_message(), msg) != 0)
    fail_msg("'%s':\n  got      %s\n  expected %s", spec, bh_error_message(), msg);
}

static void test_batch(void **state) {
  (void)state;
  bh_batch b = {.n = 3, .labels = lab, .attrs = att, .factors = fac};
  expect_batch("labels", 0, &b, (int[]){9, 0, 4});
  expect_batch("attrs:0", 0, &b, (int[]){1, 0, 1});
  expect_batch("attrs:0,2", 1, &b, (int[]){0, 1, 0});
  expect_batch("attrs:1=0", 0, &b, (int[]){1, 1, 0});
  expect_batch("attrs:2=1", 0, &b, (int[]){0, 1, 0});
  expect_batch("factors:1", 0, &b, (int[]){5, 2, 2});
  expect_batch("factors:1,3", 1, &b, (int[]){39, 0, 17});
  expect_batch("factors:0,1=2", 1, &b, (int[]){0, 1, 1});
  expect_batch("factors:0=0", 0, &b, (int[]){0, 1, 0});
  expect_batch("factors:3=17", 0, &b, (int[]){0, 0, 1});
  /* a batch without the source */
  bh_batch nolab = {.n = 3, .attrs = att, .factors = fac};
  expect_batch_error("labels", 0, &nolab, "who-sup: the batch has no class labels (labels "
                                          "'labels')");
  bh_batch noatt = {.n = 3, .labels = lab, .factors = fac};
  expect_batch_error("attrs:1=1", 0, &noatt, "who-sup: the batch has no binary attributes "
                                             "(labels 'attrs:1=1')");
  bh_batch nofac = {.n = 3, .labels = lab, .attrs = att};
  expect_batch_error("factors:0", 0, &nofac, "who-sup: the batch has no ground-truth factors "
                                             "(labels 'factors:0')");
  /* values out of the data's range: plain and under =v (where [r == v] alone would be 0) */
  int badlab[3] = {1, 10, 2};
  bh_batch bl = {.n = 3, .labels = badlab};
  expect_batch_error("labels", 0, &bl, "who-sup: example 1: class value 10 out of 0..9 (labels "
                                       "'labels', entry 0)");
  int badfac[12] = {0, 0, 0, 0, /**/ 0, 0, 0, 0, /**/ 0, 6, 0, 0};
  bh_batch bf = {.n = 3, .factors = badfac};
  expect_batch_error("factors:0,1=2", 1, &bf, "who-sup: example 2: factor value 6 out of 0..5 "
                                              "(labels 'factors:0,1=2', entry 1)");
  expect_batch("factors:0,1=2", 0, &bf, (int[]){0, 0, 0}); /* entry 0 reads a good factor */
  badfac[4] = -1;
  expect_batch_error("factors:0=0", 0, &bf, "who-sup: example 1: factor value -1 out of 0..2 "
                                            "(labels 'factors:0=0', entry 0)");
  uint8_t badatt[9] = {0, 0, 0, /**/ 0, 0, 0, /**/ 0, 0, 3};
  bh_batch ba = {.n = 3, .attrs = badatt};
  expect_batch_error("attrs:2=0", 0, &ba, "who-sup: example 2: attribute value 3 out of 0..1 "
                                          "(labels 'attrs:2=0', entry 0)");
  /* no such entry */
  expect_batch_error("attrs:2", 1, &b, "who-sup: no label entry 1 in 'attrs:2' (1 entries)");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forms), cmocka_unit_test(test_auto),  cmocka_unit_test(test_errors),
      cmocka_unit_test(test_value), cmocka_unit_test(test_batch),
  };
  return cmocka_run_group_tests(tests, ctx_up, ctx_down);
}
