/* mig.c — disentanglement_lib's MIG (evaluation/metrics/mig.py; metrics-spec §3): each code
 * dimension discretised into `bins` equal-width bins over its own min..max, plug-in MI in nats
 * with every factor, divided by the factor's entropy; score = mean over factors of the gap
 * between the two largest normalised MIs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "metrics/discrete.h"
#include "metrics/metrics.h"

int bh_metric_mig(const bh_codes *c, const bh_factors *f, int bins, bh_metric_result *out) {
  int st = bh_metric_check_inputs(c, f, "mig");
  if (st) return st;
  if (c->d < 2) return bh_error(BH_EINVAL, "mig: needs at least 2 code dimensions, got %d", c->d);
  if (bins < 2) return bh_error(BH_EINVAL, "mig: bins must be >= 2, got %d", bins);
  size_t n = c->n;
  int d = c->d, k = f->k;
  /* Contiguous label columns: d code labels (1..bins) and k dense factor labels. */
  int *lab = malloc(n * (size_t)(d + k) * sizeof *lab);
  int *ncls = malloc((size_t)k * sizeof *ncls);
  double *m = malloc((size_t)d * k * sizeof *m), *h = malloc((size_t)k * sizeof *h);
  double *gap = malloc((size_t)k * sizeof *gap);
  int *table = NULL;
  if (!lab || !ncls || !m || !h || !gap) {
    st = bh_error(BH_ENOMEM, "mig: out of memory");
    goto done;
  }
  for (int i = 0; i < d && !st; i++)
    st = bh_discretize_histogram(c->x + i, n, (size_t)d, bins, lab + (size_t)i * n);
  int maxcls = 0;
  for (int j = 0; j < k && !st; j++) {
    st = bh_discrete_relabel(f->y + j, n, (size_t)k, lab + (size_t)(d + j) * n, &ncls[j], NULL);
    maxcls = ncls[j] > maxcls ? ncls[j] : maxcls;
  }
  if (st) goto done;
  table = malloc(((size_t)(bins + 1) * maxcls + bins + 1 + maxcls) * sizeof *table);
  if (!table) {
    st = bh_error(BH_ENOMEM, "mig: out of memory");
    goto done;
  }
  double total = 0;
  for (int j = 0; j < k; j++) {
    const int *y = lab + (size_t)(d + j) * n;
    h[j] = bh_discrete_entropy(y, ncls[j], n, table);
    /* labels run 1..bins: row 0 of the table simply stays empty */
    for (int i = 0; i < d; i++)
      m[(size_t)i * k + j] =
          bh_discrete_mutual_info(lab + (size_t)i * n, bins + 1, y, ncls[j], n, table);
    double a = -INFINITY, b = -INFINITY; /* largest and second largest over code dims */
    for (int i = 0; i < d; i++) {
      double v = m[(size_t)i * k + j];
      if (v > a) {
        b = a;
        a = v;
      } else if (v > b) {
        b = v;
      }
    }
    gap[j] = (a - b) / h[j]; /* h > 0: every factor has two values (checked) */
    total += gap[j];
  }
  out->score = total / k;
  out->n_train = n;
  out->n_test = 0;
  snprintf(out->variant, sizeof out->variant,
           "disentanglement_lib discrete MIG: %d equal-width bins per code dimension over its "
           "min..max (np.histogram + np.digitize), plug-in MI in nats / factor entropy, mean "
           "gap over %d factors",
           bins, k);
  json_object_set_new(out->details, "per_factor", bh_metric_json_vector(gap, k));
  json_object_set_new(out->details, "factor_entropy", bh_metric_json_vector(h, k));
  json_object_set_new(out->details, "mutual_info", bh_metric_json_matrix(m, d, k));
  json_object_set_new(out->details, "bins", json_integer(bins));
  json_object_set_new(out->details, "num_codes", json_integer(d));
done:
  free(lab);
  free(ncls);
  free(m);
  free(h);
  free(gap);
  free(table);
  return st;
}
