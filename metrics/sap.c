/* sap.c — SAP (Kumar et al. 2018) as disentanglement_lib computes it (evaluation/metrics/
 * sap_score.py; metrics-spec §2): a (code dim × factor) score matrix, SAP = mean over factors of
 * the gap between the two largest entries of the factor's column.
 *
 * Discrete (default): entry = test accuracy of sklearn LinearSVC(C = 0.01, class_weight =
 * "balanced") trained on the single code dimension.  We solve the exact primal problem liblinear
 * approximates (squared hinge, L2, intercept as a penalised constant feature; one-vs-rest with
 * the class weight on the positive side only, so negatives cost C):
 *     min ½(w² + b²) + Σ_i c_i max(0, 1 − s_i(w x_i + b))²,
 * a strictly convex, piecewise-quadratic problem in 2 variables, by generalised Newton steps
 * with Armijo backtracking.  Its unique optimum is what liblinear's dual coordinate descent
 * reaches up to its tolerance 1e-4 (and unlike it, ours does not depend on an unseeded RNG).
 * Continuous: entry = squared Pearson correlation on the training set (0 for a code dimension
 * with variance ≤ 1e-12). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threads.h"
#include "metrics/discrete.h"
#include "metrics/metrics.h"

#define SAP_C 0.01

/* Mean over columns of (largest − second largest) entry; per-column gaps into gap[k]. */
static double column_gaps(const double *s, int d, int k, double *gap) {
  double total = 0;
  for (int j = 0; j < k; j++) {
    double a = -INFINITY, b = -INFINITY;
    for (int i = 0; i < d; i++) {
      double v = s[(size_t)i * k + j];
      if (v > a) {
        b = a;
        a = v;
      } else if (v > b) {
        b = v;
      }
    }
    gap[j] = a - b;
    total += gap[j];
  }
  return total / k;
}

/* ---- continuous: squared correlation on the training set ---- */

static void sap_continuous(const bh_codes *c, const bh_factors *f, double *s) {
  size_t n = c->n;
  int d = c->d, k = f->k;
  for (int i = 0; i < d; i++)
    for (int j = 0; j < k; j++) {
      double mx = 0, my = 0;
      for (size_t t = 0; t < n; t++) {
        mx += c->x[t * d + i];
        my += f->y[t * k + j];
      }
      mx /= n;
      my /= n;
      double sxx = 0, syy = 0, sxy = 0;
      for (size_t t = 0; t < n; t++) {
        double dx = c->x[t * d + i] - mx, dy = f->y[t * k + j] - my;
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
      }
      /* np.cov with ddof = 1: the (n − 1) cancels in the ratio but not in the 1e-12 test */
      double vx = sxx / (double)(n - 1);
      s[(size_t)i * k + j] = vx > 1e-12 ? sxy * sxy / (sxx * syy) : 0.0;
    }
}

/* ---- discrete: one-dimensional class-weighted squared-hinge SVMs ----
 *
 * With one feature the active set of the hinge is a threshold on x: positives are active where
 * w x + b < 1, negatives where w x + b > −1.  So with each class's values sorted and prefix sums
 * of 1, x, x² (and the same over all samples), the objective, gradient and Hessian at any (w, b)
 * cost a few binary searches instead of a pass over the data: a dim's sort is shared by every
 * factor and class, and a Newton solve is O(log n) per step. */

/* Sorted values with prefix sums p1[t] = Σ_{u<t} x_u, p2[t] = Σ_{u<t} x_u² (n + 1 entries). */
typedef struct sorted_list {
  const double *x, *p1, *p2;
  size_t n;
} sorted_list;

/* First index with x >= v (strict = 0) or x > v (strict = 1). */
static size_t bound(const double *x, size_t n, double v, int strict) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strict ? x[mid] <= v : x[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Count, Σx, Σx² of the elements with x < thr (below = 1) or x > thr (below = 0). */
static void range_sums(const sorted_list *L, int below, double thr, double s[3]) {
  size_t lo = 0, hi = L->n;
  if (below)
    hi = bound(L->x, L->n, thr, 0);
  else
    lo = bound(L->x, L->n, thr, 1);
  s[0] = (double)(hi - lo);
  s[1] = L->p1[hi] - L->p1[lo];
  s[2] = L->p2[hi] - L->p2[lo];
}

/* Sums over the samples whose margin is violated: `side` +1 for the positives (w x + b < 1),
 * −1 for the negatives (w x + b > −1).  The negatives are everything minus the positives. */
static void active_sums(const sorted_list *all, const sorted_list *pos, int side, double w,
                        double b, double s[3]) {
  if (w == 0) { /* all or nothing, decided by the intercept alone */
    int on = side > 0 ? b < 1 : b > -1;
    const sorted_list *L = pos;
    s[0] = s[1] = s[2] = 0;
    if (!on) return;
    if (side < 0) L = all;
    s[0] = (double)L->n;
    s[1] = L->p1[L->n];
    s[2] = L->p2[L->n];
    if (side < 0) {
      s[0] -= (double)pos->n;
      s[1] -= pos->p1[pos->n];
      s[2] -= pos->p2[pos->n];
    }
    return;
  }
  double thr = (side - b) / w; /* side·(w x + b) < 1  ⇔  x on one side of thr */
  int below = (side > 0) == (w > 0);
  if (side > 0) {
    range_sums(pos, below, thr, s);
  } else {
    double q[3];
    range_sums(all, below, thr, s);
    range_sums(pos, below, thr, q);
    for (int t = 0; t < 3; t++) s[t] -= q[t];
  }
}

/* One binary problem: `pos` the positives' values, `all` every training value; costs cp, cn. */
typedef struct svm1d {
  const sorted_list *all, *pos;
  double cp, cn;
} svm1d;

/* Objective ½(w² + b²) + Σ c·max(0, 1 − s(w x + b))² at (w, b); with g, h non-NULL also the
 * gradient and the (generalised) Hessian [h0 h1; h1 h2]. */
static double svm1d_eval(const svm1d *p, double w, double b, double *g, double *h) {
  double f = 0.5 * (w * w + b * b), gw = w, gb = b, h0 = 1, h1 = 0, h2 = 1;
  for (int side = 1; side >= -1; side -= 2) {
    double S[3], c = side > 0 ? p->cp : p->cn, a = 1 - side * b;
    active_sums(p->all, p->pos, side, w, b, S);
    /* Σ (a − s w x)² expanded; Σ (t − s) and Σ (t − s) x with t = w x + b */
    f += c * (a * a * S[0] - 2 * a * side * w * S[1] + w * w * S[2]);
    gw += 2 * c * (w * S[2] + (b - side) * S[1]);
    gb += 2 * c * (w * S[1] + (b - side) * S[0]);
    h0 += 2 * c * S[2];
    h1 += 2 * c * S[1];
    h2 += 2 * c * S[0];
  }
  if (g) {
    g[0] = gw;
    g[1] = gb;
    h[0] = h0;
    h[1] = h1;
    h[2] = h2;
  }
  return f;
}

/* The optimum (w, b), from (0, 0).  Newton on a piecewise quadratic: the step is exact once
 * the active set settles, so a handful of iterations reach machine precision. */
static void svm1d_solve(const svm1d *p, double *wo, double *bo) {
  double w = 0, b = 0, g[2], h[3];
  double f = svm1d_eval(p, w, b, g, h);
  double g0 = fabs(g[0]) + fabs(g[1]);
  for (int it = 0; it < 100; it++) {
    double gn = fabs(g[0]) + fabs(g[1]);
    if (gn <= 1e-12 * (g0 > 1 ? g0 : 1)) break;
    double det = h[0] * h[2] - h[1] * h[1];
    double dw = -(h[2] * g[0] - h[1] * g[1]) / det, db = -(h[0] * g[1] - h[1] * g[0]) / det;
    double slope = g[0] * dw + g[1] * db, a = 1.0, fn = f;
    for (int ls = 0; ls < 60; ls++, a *= 0.5) {
      fn = svm1d_eval(p, w + a * dw, b + a * db, NULL, NULL);
      if (fn <= f + 1e-4 * a * slope) break;
    }
    if (!(fn < f)) break; /* no decrease possible: at the optimum up to rounding */
    w += a * dw;
    b += a * db;
    f = svm1d_eval(p, w, b, g, h);
  }
  *wo = w;
  *bo = b;
}

/* Everything the parallel jobs read. */
typedef struct sap_job {
  int d, k;
  size_t ntr, nte;
  const double *xtr, *xte;  /* d columns of ntr / nte code values */
  const size_t *order;      /* d columns: train indices sorted by the dim's value */
  const int *ytr;           /* k columns of ntr dense class labels */
  const int *ncls, *counts; /* classes per factor; class counts (offset cls_off[j]) */
  const int *values;        /* class values (offset cls_off[j]) */
  const size_t *cls_off;    /* k + 1 offsets into counts/values */
  const bh_factors *test_f;
  double *score; /* d × k */
  int status;    /* BH_ENOMEM from any job */
} sap_job;

/* qsort has no context argument in C11: sort (value, index) pairs instead. */
typedef struct vi {
  double v;
  size_t i;
} vi;
static int cmp_vi(const void *a, const void *b) {
  double u = ((const vi *)a)->v, v = ((const vi *)b)->v;
  return (u > v) - (u < v);
}

/* Stage 1: per code dim the training order by value. */
static void sap_sort_range(size_t begin, size_t end, void *arg) {
  sap_job *J = arg;
  vi *tmp = malloc(J->ntr * sizeof *tmp);
  if (!tmp) {
    J->status = BH_ENOMEM;
    return;
  }
  for (size_t i = begin; i < end; i++) {
    const double *x = J->xtr + i * J->ntr;
    for (size_t r = 0; r < J->ntr; r++) tmp[r] = (vi){x[r], r};
    qsort(tmp, J->ntr, sizeof *tmp, cmp_vi);
    size_t *o = (size_t *)J->order + i * J->ntr;
    for (size_t r = 0; r < J->ntr; r++) o[r] = tmp[r].i;
  }
  free(tmp);
}

/* Prefix sums of x[0..n) into p1, p2 (n + 1 entries each). */
static void prefix(const double *x, size_t n, double *p1, double *p2) {
  p1[0] = p2[0] = 0;
  for (size_t t = 0; t < n; t++) {
    p1[t + 1] = p1[t] + x[t];
    p2[t + 1] = p2[t] + x[t] * x[t];
  }
}

/* Stage 2: per (code dim, factor): the class-partitioned sorted lists, the K one-vs-rest
 * problems (one when K == 2), and the test accuracy of their argmax. */
static void sap_pair_range(size_t begin, size_t end, void *arg) {
  sap_job *J = arg;
  size_t n = J->ntr;
  int kmax = 0;
  for (int j = 0; j < J->k; j++) kmax = J->ncls[j] > kmax ? J->ncls[j] : kmax;
  double *xs = malloc((2 * n + 1) * sizeof *xs), *p1 = malloc((2 * n + 2 * kmax + 2) * sizeof *p1);
  double *p2 = malloc((2 * n + 2 * kmax + 2) * sizeof *p2), *wb = malloc(2 * kmax * sizeof *wb);
  size_t *start = malloc((kmax + 1) * sizeof *start);
  if (!xs || !p1 || !p2 || !wb || !start) {
    J->status = BH_ENOMEM;
    goto done;
  }
  for (size_t t = begin; t < end; t++) {
    int i = (int)(t / J->k), j = (int)(t % J->k), K = J->ncls[j];
    const double *x = J->xtr + (size_t)i * n;
    const size_t *o = J->order + (size_t)i * n;
    const int *y = J->ytr + (size_t)j * n, *cnt = J->counts + J->cls_off[j];
    /* xs[0..n) = all values sorted; xs[n..2n) = the same, grouped by class (stable) */
    start[0] = 0;
    for (int c = 0; c < K; c++) start[c + 1] = start[c] + (size_t)cnt[c];
    for (size_t r = 0; r < n; r++) xs[r] = x[o[r]];
    {
      size_t fill[1024], *fp = K <= 1024 ? fill : malloc(K * sizeof *fp);
      if (!fp) {
        J->status = BH_ENOMEM;
        goto done;
      }
      memcpy(fp, start, K * sizeof *fp);
      for (size_t r = 0; r < n; r++) xs[n + fp[y[o[r]]]++] = xs[r];
      if (fp != fill) free(fp);
    }
    /* prefix arrays: all at [0, n], class c at [n + 1 + start[c] + c, ... + cnt[c]] */
    prefix(xs, n, p1, p2);
    sorted_list all = {xs, p1, p2, n};
    double N = (double)n;
    int nprob = K == 2 ? 1 : K;
    for (int q = 0; q < nprob; q++) {
      int c = K == 2 ? 1 : q;
      size_t off = n + 1 + start[c] + (size_t)c;
      prefix(xs + n + start[c], (size_t)cnt[c], p1 + off, p2 + off);
      sorted_list pos = {xs + n + start[c], p1 + off, p2 + off, (size_t)cnt[c]};
      /* balanced weight ω_c = N / (K n_c); liblinear one-vs-rest weights only the positives,
       * its binary problem weights both sides */
      svm1d p = {&all, &pos, SAP_C * N / ((double)K * cnt[c]),
                 K == 2 ? SAP_C * N / (2.0 * cnt[0]) : SAP_C};
      svm1d_solve(&p, &wb[2 * q], &wb[2 * q + 1]);
    }
    const double *xt = J->xte + (size_t)i * J->nte;
    const int *val = J->values + J->cls_off[j];
    size_t hit = 0;
    for (size_t r = 0; r < J->nte; r++) {
      int best = 0;
      if (K == 2) {
        best = wb[0] * xt[r] + wb[1] > 0;
      } else {
        double top = wb[0] * xt[r] + wb[1];
        for (int c = 1; c < K; c++) {
          double v = wb[2 * c] * xt[r] + wb[2 * c + 1];
          if (v > top) { /* strict: ties keep the lowest class, as numpy's argmax */
            top = v;
            best = c;
          }
        }
      }
      hit += val[best] == J->test_f->y[r * J->k + j];
    }
    J->score[t] = (double)hit / (double)J->nte;
  }
done:
  free(xs);
  free(p1);
  free(p2);
  free(wb);
  free(start);
}

/* Column i of a row-major n × d float array as doubles. */
static void column(const float *x, size_t n, int d, int i, double *out) {
  for (size_t r = 0; r < n; r++) out[r] = x[r * d + i];
}

static int sap_discrete(const bh_codes *trc, const bh_factors *trf, const bh_codes *tec,
                        const bh_factors *tef, double *score) {
  int d = trc->d, k = trf->k, st = BH_OK;
  size_t ntr = trc->n, nte = tec->n;
  double *xtr = malloc(ntr * d * sizeof *xtr), *xte = malloc(nte * d * sizeof *xte);
  size_t *order = malloc(ntr * d * sizeof *order);
  int *ytr = malloc(ntr * k * sizeof *ytr), *ncls = malloc(k * sizeof *ncls);
  int *values = malloc(ntr * k * sizeof *values), *counts = calloc(ntr * k, sizeof *counts);
  size_t *cls_off = malloc((k + 1) * sizeof *cls_off);
  if (!xtr || !xte || !order || !ytr || !ncls || !values || !counts || !cls_off) {
    st = bh_error(BH_ENOMEM, "sap: out of memory");
    goto done;
  }
  for (int i = 0; i < d; i++) {
    column(trc->x, ntr, d, i, xtr + (size_t)i * ntr);
    column(tec->x, nte, d, i, xte + (size_t)i * nte);
  }
  cls_off[0] = 0;
  for (int j = 0; j < k && !st; j++) {
    int *y = ytr + (size_t)j * ntr;
    st = bh_discrete_relabel(trf->y + j, ntr, (size_t)k, y, &ncls[j], values + cls_off[j]);
    for (size_t r = 0; r < ntr; r++) counts[cls_off[j] + y[r]]++;
    cls_off[j + 1] = cls_off[j] + ncls[j];
  }
  if (st) goto done;
  sap_job J = {.d = d, .k = k, .ntr = ntr, .nte = nte, .xtr = xtr, .xte = xte, .order = order,
               .ytr = ytr, .ncls = ncls, .counts = counts, .values = values,
               .cls_off = cls_off, .test_f = tef, .score = score, .status = BH_OK};
  /* the dims' sorts, then the (dim, factor) SVM sets, are independent: spread over the pool */
  bh_parallel_for((size_t)d, 1, sap_sort_range, &J);
  if (J.status == BH_OK) bh_parallel_for((size_t)d * k, 1, sap_pair_range, &J);
  if (J.status) st = bh_error(J.status, "sap: out of memory");
done:
  free(xtr);
  free(xte);
  free(order);
  free(ytr);
  free(ncls);
  free(values);
  free(counts);
  free(cls_off);
  return st;
}

int bh_metric_sap(const bh_codes *train_c, const bh_factors *train_f, const bh_codes *test_c,
                  const bh_factors *test_f, int continuous, bh_metric_result *out) {
  int st = bh_metric_check_inputs(train_c, train_f, "sap (train)");
  if (st) return st;
  if (train_c->d < 2)
    return bh_error(BH_EINVAL, "sap: needs at least 2 code dimensions, got %d", train_c->d);
  if (!continuous) {
    if ((st = bh_metric_check_inputs(test_c, test_f, "sap (test)"))) return st;
    if (test_c->d != train_c->d || test_f->k != train_f->k)
      return bh_error(BH_EINVAL, "sap: test set has %d codes and %d factors, train set %d and %d",
                      test_c->d, test_f->k, train_c->d, train_f->k);
  }
  int d = train_c->d, k = train_f->k;
  double *s = malloc((size_t)d * k * sizeof *s), *gap = malloc((size_t)k * sizeof *gap);
  if (!s || !gap) {
    free(s);
    free(gap);
    return bh_error(BH_ENOMEM, "sap: out of memory");
  }
  if (continuous)
    sap_continuous(train_c, train_f, s);
  else
    st = sap_discrete(train_c, train_f, test_c, test_f, s);
  if (!st) {
    out->score = column_gaps(s, d, k, gap);
    out->n_train = train_c->n;
    out->n_test = continuous ? 0 : test_c->n;
    snprintf(out->variant, sizeof out->variant, "%s",
             continuous ? "disentanglement_lib SAP, continuous_factors=True: squared Pearson "
                          "correlation of each code dimension with each factor on the training "
                          "set; mean gap of the two largest per factor"
                        : "disentanglement_lib SAP, continuous_factors=False: per (code dim, "
                          "factor) test accuracy of LinearSVC(C=0.01, balanced, sq. hinge, "
                          "penalised intercept, OvR weights on positives) solved exactly; "
                          "mean gap of the two largest per factor");
    json_object_set_new(out->details, "per_factor", bh_metric_json_vector(gap, k));
    json_object_set_new(out->details, "score_matrix", bh_metric_json_matrix(s, d, k));
    json_object_set_new(out->details, "continuous", json_boolean(continuous));
  }
  free(s);
  free(gap);
  return st;
}
