/* discrete.c — histogram discretisation (numpy histogram + digitize, as disentanglement_lib
 * uses them) and plug-in discrete mutual information / entropy in nats (as sklearn's
 * mutual_info_score computes them).  Everything is one pass over the samples into a count
 * table; no sorting except in the rare relabel of huge class values. */
#include "metrics/discrete.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Largest `bins` we keep edges for on the stack; MIG uses 20. */
#define BH_DISCRETE_MAX_BINS 4096

int bh_discretize_histogram(const float *x, size_t n, size_t stride, int bins, int *labels) {
  if (bins < 1 || bins > BH_DISCRETE_MAX_BINS)
    return bh_error(BH_EINVAL, "discretize: bins %d outside 1..%d", bins, BH_DISCRETE_MAX_BINS);
  if (n == 0) return bh_error(BH_EINVAL, "discretize: no samples");
  float lo = x[0], hi = x[0];
  for (size_t i = 0; i < n; i++) {
    float v = x[i * stride];
    if (!isfinite(v)) return bh_error(BH_ENUM, "discretize: non-finite value at row %zu", i + 1);
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  /* numpy: np.histogram's range is (min, max), widened by ±0.5 when they are equal; linspace
   * builds edge t = t·step + first in double, and the edges take the float32 input's dtype. */
  double first = lo, last = hi;
  if (first == last) {
    first -= 0.5;
    last += 0.5;
  }
  double step = (last - first) / bins;
  float edge[BH_DISCRETE_MAX_BINS];
  for (int t = 0; t < bins; t++) edge[t] = (float)(t * step + first);
  /* label = #{t < bins : edge[t] <= v}: guess the bin arithmetically, then correct it against
   * the rounded edges so the result equals digitize's exactly. */
  for (size_t i = 0; i < n; i++) {
    float v = x[i * stride];
    double g = (v - first) / step;
    int lab = g <= 0 ? 1 : g >= bins ? bins : (int)g + 1;
    while (lab < bins && edge[lab] <= v) lab++;
    while (lab > 0 && edge[lab - 1] > v) lab--;
    labels[i] = lab;
  }
  return BH_OK;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

int bh_discrete_relabel(const int *y, size_t n, size_t stride, int *out, int *ncls, int *values) {
  int hi = 0;
  for (size_t i = 0; i < n; i++) {
    int v = y[i * stride];
    if (v < 0) return bh_error(BH_EINVAL, "relabel: negative class value %d at row %zu", v, i + 1);
    hi = v > hi ? v : hi;
  }
  /* Small class values (the usual case): a direct value -> index map, O(n + max). */
  if ((size_t)hi <= 2 * n + 64) {
    int *map = malloc(((size_t)hi + 1) * sizeof *map);
    if (!map) return bh_error(BH_ENOMEM, "relabel: out of memory");
    memset(map, 0, ((size_t)hi + 1) * sizeof *map);
    for (size_t i = 0; i < n; i++) map[y[i * stride]] = 1;
    int k = 0;
    for (int v = 0; v <= hi; v++)
      if (map[v]) {
        if (values) values[k] = v;
        map[v] = k++;
      }
    for (size_t i = 0; i < n; i++) out[i] = map[y[i * stride]];
    free(map);
    *ncls = k;
    return BH_OK;
  }
  /* Huge values: sorted distinct values and a binary search per sample. */
  int *u = malloc(n * sizeof *u);
  if (!u) return bh_error(BH_ENOMEM, "relabel: out of memory");
  for (size_t i = 0; i < n; i++) u[i] = y[i * stride];
  qsort(u, n, sizeof *u, cmp_int);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (i == 0 || u[i] != u[k - 1]) u[k++] = u[i];
  for (size_t i = 0; i < n; i++) {
    int *p = bsearch(&y[i * stride], u, k, sizeof *u, cmp_int);
    out[i] = (int)(p - u);
  }
  if (values) memcpy(values, u, k * sizeof *u);
  free(u);
  *ncls = (int)k;
  return BH_OK;
}

/* Number of non-zero counts in c[0..m). */
static int count_present(const int *c, int m) {
  int k = 0;
  for (int i = 0; i < m; i++) k += c[i] > 0;
  return k;
}

double bh_discrete_mutual_info(const int *a, int na, const int *b, int nb, size_t n, int *table) {
  int *joint = table, *ca = table + (size_t)na * nb, *cb = ca + na;
  memset(table, 0, ((size_t)na * nb + na + nb) * sizeof *table);
  for (size_t i = 0; i < n; i++) joint[(size_t)a[i] * nb + b[i]]++;
  for (int i = 0; i < na; i++)
    for (int j = 0; j < nb; j++) {
      ca[i] += joint[(size_t)i * nb + j];
      cb[j] += joint[(size_t)i * nb + j];
    }
  if (count_present(ca, na) <= 1 || count_present(cb, nb) <= 1) return 0.0;
  /* sklearn's term: p·(ln n_ab − ln N) + p·(ln N + ln N − ln(n_a·n_b)), tiny terms zeroed. */
  double N = (double)n, lnN = log(N), mi = 0.0;
  for (int i = 0; i < na; i++)
    for (int j = 0; j < nb; j++) {
      int c = joint[(size_t)i * nb + j];
      if (!c) continue;
      double p = c / N;
      double term = p * (log((double)c) - lnN) + p * (2 * lnN - log((double)ca[i] * cb[j]));
      if (fabs(term) >= DBL_EPSILON) mi += term;
    }
  return mi > 0 ? mi : 0.0;
}

double bh_discrete_entropy(const int *a, int na, size_t n, int *table) {
  memset(table, 0, (size_t)na * sizeof *table);
  for (size_t i = 0; i < n; i++) table[a[i]]++;
  if (count_present(table, na) <= 1) return 0.0;
  /* mutual_info_score(a, a): the joint table is diagonal, n_ab = n_a = n_b. */
  double N = (double)n, lnN = log(N), h = 0.0;
  for (int i = 0; i < na; i++) {
    if (!table[i]) continue;
    double p = table[i] / N, c = table[i];
    double term = p * (log(c) - lnN) + p * (2 * lnN - log(c * c));
    if (fabs(term) >= DBL_EPSILON) h += term;
  }
  return h > 0 ? h : 0.0;
}
