/* metric.h — the common shapes of every disentanglement metric in metrics/.
 *
 * Each metric is a pure function, of
 *   - codes and factors (MIG, SAP, DCI, probe): codes n×d float32 row-major, factors n×k int
 *     class indices (0..size−1), or
 *   - a representation function and a ground-truth sampler (Z-diff, FactorVAE score), drawing
 *     every random number from the gsl_rng it is given,
 * and fills a bh_metric_result: the headline score, the exact variant that produced it (so no
 * number is ever reported without its protocol), the sample counts and seed, and details as a
 * JSON object (per-factor values, matrices).  Errors follow core/error.h (status + one line).
 */
#ifndef BH_METRIC_H
#define BH_METRIC_H

#include <gsl/gsl_rng.h>
#include <jansson.h>
#include <stddef.h>

#include "datasets/dataset.h"

typedef struct bh_metric_result {
  char name[32];      /* "mig", "mig-chen", "sap", "zdiff", "factorvae", "dci", "probe" */
  char variant[256];  /* e.g. "disentanglement_lib: 20 equal-width bins per code dimension, ..." */
  double score;       /* the headline number (Z-diff and accuracies in %, as reported) */
  size_t n_train, n_test;
  unsigned long seed; /* of the sampler-based metrics; 0 when not used */
  json_t *details;    /* owned; per-factor scores, matrices, counts */
} bh_metric_result;

void bh_metric_result_init(bh_metric_result *r, const char *name);
void bh_metric_result_free(bh_metric_result *r);
/* {"metric", "variant", "score", "n_train", "n_test", "seed", "details"} (new reference) */
json_t *bh_metric_result_json(const bh_metric_result *r);

/* Codes and factors as loaded from files or produced by a sampler. */
typedef struct bh_codes {
  size_t n;
  int d;
  float *x; /* n × d */
} bh_codes;

typedef struct bh_factors {
  size_t n;
  int k;
  int *y; /* n × k class indices */
} bh_factors;

/* A representation function: images (n × c·h·w, as bh_dataset_images gives them) -> codes
 * (n × dim).  Returns BH_OK or an error status. */
typedef struct bh_repr {
  int dim;
  int (*fn)(void *user, const float *images, size_t n, float *codes);
  void *user;
} bh_repr;

#endif
