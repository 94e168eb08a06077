/* metric.c — the shared result record of every metric and its JSON form. */
#include "metrics/metric.h"
#include "metrics/discrete.h"

#include <math.h>
#include <string.h>

void bh_metric_result_init(bh_metric_result *r, const char *name) {
  memset(r, 0, sizeof *r);
  if (name) {
    strncpy(r->name, name, sizeof r->name - 1);
  }
  r->score = NAN; /* a metric that fails never leaves a plausible-looking number behind */
  r->details = json_object();
}

void bh_metric_result_free(bh_metric_result *r) {
  if (!r) return;
  json_decref(r->details);
  r->details = NULL;
}

json_t *bh_metric_result_json(const bh_metric_result *r) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "metric", json_string(r->name));
  json_object_set_new(o, "variant", json_string(r->variant));
  /* JSON has no NaN: a missing score is null. */
  json_object_set_new(o, "score", isfinite(r->score) ? json_real(r->score) : json_null());
  json_object_set_new(o, "n_train", json_integer((json_int_t)r->n_train));
  json_object_set_new(o, "n_test", json_integer((json_int_t)r->n_test));
  json_object_set_new(o, "seed", json_integer((json_int_t)r->seed));
  json_object_set_new(o, "details", r->details ? json_incref(r->details) : json_object());
  return o;
}

json_t *bh_metric_json_matrix(const double *m, int rows, int cols) {
  json_t *a = json_array();
  for (int i = 0; i < rows; i++) json_array_append_new(a, bh_metric_json_vector(m + (size_t)i * cols, cols));
  return a;
}

json_t *bh_metric_json_vector(const double *v, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
  return a;
}
