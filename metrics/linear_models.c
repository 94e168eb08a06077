/* linear_models.c — logistic regressions for the metrics (liblinear OvR and multinomial
 * BFGS), their prediction, and the sampler encode helper.  See linear_models.h. */
#include "metrics/linear_models.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>
#include <linear.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int linmodel_alloc(bh_linmodel *m, int d, int nclasses) {
  memset(m, 0, sizeof *m);
  m->d = d;
  m->nclasses = nclasses;
  m->w = calloc((size_t)nclasses * d + 1, sizeof *m->w);
  m->b = calloc((size_t)nclasses, sizeof *m->b);
  if (!m->w || !m->b) {
    bh_linmodel_free(m);
    return bh_error(BH_ENOMEM, "bh_linmodel: no memory for %d × %d weights", nclasses, d);
  }
  return BH_OK;
}

void bh_linmodel_free(bh_linmodel *m) {
  if (!m) return;
  free(m->w);
  free(m->b);
  m->w = m->b = NULL;
}

static int check_fit_args(const char *who, const float *x, size_t n, int d, const int *y,
                          int nclasses) {
  if (!x || !y || n == 0 || d <= 0 || nclasses < 2)
    return bh_error(BH_EINVAL, "%s: need n > 0 rows, d > 0 columns and >= 2 classes (n %zu, d %d, "
                    "classes %d)", who, n, d, nclasses);
  if (n > (size_t)INT32_MAX) return bh_error(BH_EINVAL, "%s: %zu rows is too many", who, n);
  for (size_t i = 0; i < n; i++)
    if (y[i] < 0 || y[i] >= nclasses)
      return bh_error(BH_EINVAL, "%s: label %d of row %zu outside 0..%d", who, y[i], i,
                      nclasses - 1);
  return BH_OK;
}

/* ---------------------------------------------------------------- liblinear */

static void liblinear_quiet(const char *s) { (void)s; }

int bh_logreg_fit_liblinear(const float *x, size_t n, int d, const int *y, int nclasses, double C,
                            bh_linmodel *m) {
  int st = check_fit_args("bh_logreg_fit_liblinear", x, n, d, y, nclasses);
  if (st) return st;
  /* Each row: d features (1-based indices) + the bias feature d+1 + the terminator. */
  struct feature_node *nodes = malloc(n * (size_t)(d + 2) * sizeof *nodes);
  struct feature_node **rows = malloc(n * sizeof *rows);
  double *labels = malloc(n * sizeof *labels);
  if (!nodes || !rows || !labels) {
    free(nodes), free(rows), free(labels);
    return bh_error(BH_ENOMEM, "bh_logreg_fit_liblinear: no memory for %zu rows", n);
  }
  for (size_t i = 0; i < n; i++) {
    struct feature_node *r = nodes + i * (size_t)(d + 2);
    for (int j = 0; j < d; j++) r[j] = (struct feature_node){j + 1, x[i * d + j]};
    r[d] = (struct feature_node){d + 1, 1.0}; /* bias = 1: intercept_scaling 1, penalised */
    r[d + 1] = (struct feature_node){-1, 0.0};
    rows[i] = r;
    labels[i] = y[i];
  }
  struct problem prob = {.l = (int)n, .n = d + 1, .y = labels, .x = rows, .bias = 1.0};
  /* sklearn <= 0.21 passes tol (1e-4) as eps and C unchanged; no class weights. */
  struct parameter par = {.solver_type = L2R_LR, .eps = 1e-4, .C = C};
  set_print_string_function(liblinear_quiet);
  const char *msg = check_parameter(&prob, &par);
  struct model *lm = msg ? NULL : train(&prob, &par);
  free(labels);
  if (!lm) {
    free(nodes), free(rows);
    return bh_error(BH_EINVAL, "bh_logreg_fit_liblinear: liblinear refused: %s",
                    msg ? msg : "train failed");
  }
  st = linmodel_alloc(m, d, nclasses);
  if (st == BH_OK) {
    /* Classes liblinear never saw can never win. */
    for (int c = 0; c < nclasses; c++) m->b[c] = -INFINITY;
    int nc = lm->nr_class;
    if (nc == 1) {
      m->b[lm->label[0]] = 0.0; /* one class only: liblinear predicts it */
    } else if (nc == 2) {
      /* One decision vector: > 0 means label[0].  Scores ±dec/2 give the same argmax. */
      for (int s = 0; s < 2; s++) {
        double sign = s == 0 ? 0.5 : -0.5;
        int c = lm->label[s];
        for (int j = 0; j < d; j++) m->w[(size_t)c * d + j] = sign * lm->w[j];
        m->b[c] = sign * lm->w[d] * lm->bias;
      }
    } else {
      /* w is (d+1) × nr_class, feature-major. */
      for (int s = 0; s < nc; s++) {
        int c = lm->label[s];
        for (int j = 0; j < d; j++) m->w[(size_t)c * d + j] = lm->w[(size_t)j * nc + s];
        m->b[c] = lm->w[(size_t)d * nc + s] * lm->bias;
      }
    }
    m->converged = 1;
  }
  free_and_destroy_model(&lm);
  free(nodes), free(rows);
  return st;
}

/* ---------------------------------------------------------------- multinomial */

typedef struct mn_problem {
  const float *x;
  const int *y;
  size_t n;
  int d, k;
  double inv_c;
  double *z; /* k scratch */
} mn_problem;

/* Parameters: W (k × d, row-major) then b (k).  f = (Σ_i CE_i + ½‖W‖²/C) / n — the 1/n only
 * rescales the objective (same minimiser), keeping the line search's step sizes O(1). */
static double mn_eval(const gsl_vector *p, void *user, gsl_vector *g) {
  const mn_problem *P = user;
  const int d = P->d, k = P->k;
  const double *w = p->data, *b = p->data + (size_t)k * d;
  double *gw = g ? g->data : NULL, *gb = g ? g->data + (size_t)k * d : NULL;
  if (g) gsl_vector_set_zero(g);
  double f = 0.0;
  for (size_t i = 0; i < P->n; i++) {
    const float *xi = P->x + i * d;
    double zmax = -INFINITY;
    for (int c = 0; c < k; c++) {
      double s = b[c];
      for (int j = 0; j < d; j++) s += w[(size_t)c * d + j] * xi[j];
      P->z[c] = s;
      if (s > zmax) zmax = s;
    }
    double sum = 0.0;
    for (int c = 0; c < k; c++) sum += exp(P->z[c] - zmax);
    double lse = zmax + log(sum);
    f += lse - P->z[P->y[i]];
    if (!g) continue;
    for (int c = 0; c < k; c++) {
      double r = exp(P->z[c] - lse) - (c == P->y[i]);
      gb[c] += r;
      for (int j = 0; j < d; j++) gw[(size_t)c * d + j] += r * xi[j];
    }
  }
  double pen = 0.0;
  for (size_t q = 0; q < (size_t)k * d; q++) {
    pen += w[q] * w[q];
    if (g) gw[q] += P->inv_c * w[q];
  }
  f += 0.5 * P->inv_c * pen;
  double s = 1.0 / (double)P->n;
  if (g) gsl_vector_scale(g, s);
  return f * s;
}

static double mn_f(const gsl_vector *p, void *user) { return mn_eval(p, user, NULL); }
static void mn_df(const gsl_vector *p, void *user, gsl_vector *g) { mn_eval(p, user, g); }
static void mn_fdf(const gsl_vector *p, void *user, double *f, gsl_vector *g) {
  *f = mn_eval(p, user, g);
}

int bh_logreg_fit_multinomial(const float *x, size_t n, int d, const int *y, int nclasses,
                              double C, int max_iter, double gtol, bh_linmodel *m) {
  int st = check_fit_args("bh_logreg_fit_multinomial", x, n, d, y, nclasses);
  if (st) return st;
  if (!(C > 0.0) || max_iter < 1)
    return bh_error(BH_EINVAL, "bh_logreg_fit_multinomial: C %g and max_iter %d must be > 0", C,
                    max_iter);
  const size_t np = (size_t)nclasses * (d + 1);
  /* GSL's default handler aborts on an allocation failure: report it as a status instead. */
  gsl_error_handler_t *old_handler = gsl_set_error_handler_off();
  double *z = malloc((size_t)nclasses * sizeof *z);
  gsl_vector *p0 = gsl_vector_calloc(np);
  gsl_multimin_fdfminimizer *s =
      gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, np);
  if (!z || !p0 || !s) {
    st = bh_error(BH_ENOMEM, "bh_logreg_fit_multinomial: no memory for %zu parameters", np);
    goto done;
  }
  mn_problem P = {x, y, n, d, nclasses, 1.0 / C, z};
  gsl_multimin_function_fdf fn = {mn_f, mn_df, mn_fdf, np, &P};
  /* First step 0.1, line-search tolerance 0.1 (GSL's recommendation for bfgs2). */
  gsl_multimin_fdfminimizer_set(s, &fn, p0, 0.1, 0.1);
  if ((st = linmodel_alloc(m, d, nclasses))) goto done;
  int it = 0, conv = 0;
  while (it < max_iter) {
    double gmax = gsl_vector_max(s->gradient), gmin = gsl_vector_min(s->gradient);
    if (fmax(gmax, -gmin) <= gtol) {
      conv = 1;
      break;
    }
    it++;
    /* GSL_ENOPROG: the line search can improve no further — the optimum to float precision. */
    if (gsl_multimin_fdfminimizer_iterate(s) != GSL_SUCCESS) {
      conv = 1;
      break;
    }
  }
  const double *p = s->x->data;
  memcpy(m->w, p, (size_t)nclasses * d * sizeof *m->w);
  memcpy(m->b, p + (size_t)nclasses * d, (size_t)nclasses * sizeof *m->b);
  m->iterations = it;
  m->converged = conv;
done:
  if (s) gsl_multimin_fdfminimizer_free(s);
  if (p0) gsl_vector_free(p0);
  free(z);
  gsl_set_error_handler(old_handler);
  return st;
}

/* ---------------------------------------------------------------- prediction */

void bh_linmodel_predict(const bh_linmodel *m, const float *x, size_t n, int *out) {
  const int d = m->d;
  for (size_t i = 0; i < n; i++) {
    const float *xi = x + i * d;
    int best = 0;
    double bs = -INFINITY;
    for (int c = 0; c < m->nclasses; c++) {
      double s = m->b[c];
      if (s == -INFINITY) continue;
      for (int j = 0; j < d; j++) s += m->w[(size_t)c * d + j] * xi[j];
      if (s > bs) bs = s, best = c;
    }
    out[i] = best;
  }
}

void bh_linmodel_proba(const bh_linmodel *m, const float *x, size_t n, double *p) {
  const int d = m->d, k = m->nclasses;
  for (size_t i = 0; i < n; i++) {
    const float *xi = x + i * d;
    double *pi = p + i * (size_t)k, top = -INFINITY, sum = 0.0;
    for (int c = 0; c < k; c++) {
      double s = m->b[c];
      if (s != -INFINITY)
        for (int j = 0; j < d; j++) s += m->w[(size_t)c * d + j] * xi[j];
      pi[c] = s;
      top = fmax(top, s);
    }
    for (int c = 0; c < k; c++) sum += (pi[c] = pi[c] == -INFINITY ? 0.0 : exp(pi[c] - top));
    for (int c = 0; c < k; c++) pi[c] /= sum;
  }
}

double bh_linmodel_accuracy(const bh_linmodel *m, const float *x, size_t n, const int *y) {
  size_t hits = 0;
  for (size_t i = 0; i < n; i++) {
    int c;
    bh_linmodel_predict(m, x + i * (size_t)m->d, 1, &c);
    hits += c == y[i];
  }
  return n ? (double)hits / (double)n : 0.0;
}

/* ---------------------------------------------------------------- sampler helper */

int bh_metric_encode_factors(bh_dataset *ds, const bh_repr *rep, const int *factors,
                             size_t count, float *images, float *codes) {
  int st = bh_dataset_images_of(ds, factors, count, images);
  if (st) return st;
  return rep->fn(rep->user, images, count, codes);
}
