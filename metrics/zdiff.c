/* zdiff.c — Higgins et al.'s BetaVAE score (Z-diff) as disentanglement_lib computes it
 * (metrics-spec §1): per point a factor k uniform, two batches of factor vectors sharing factor
 * k row by row, feature = mean over the batch of |R1 − R2|, label k; a logistic regression is
 * fitted on n_train points, then scored on n_eval fresh points drawn afterwards from the same
 * generator.  Score = eval accuracy in %. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/linear_models.h"
#include "metrics/metrics.h"

/* The two batches live back to back (F1 then F2), so each point costs one image fetch and one
 * call of the representation on 2·batch rows. */
typedef struct zdiff_buf {
  int *f;        /* 2·batch × K factor vectors: F1 rows then F2 rows */
  float *images; /* 2·batch × image size */
  float *codes;  /* 2·batch × D: R1 rows then R2 rows */
} zdiff_buf;

static void zdiff_buf_free(zdiff_buf *b) { free(b->f), free(b->images), free(b->codes); }

static int zdiff_buf_alloc(zdiff_buf *b, const bh_dataset *ds, int batch, int dim) {
  size_t nb = 2 * (size_t)batch;
  b->f = malloc(nb * ds->nfactors * sizeof *b->f);
  b->images = malloc(nb * bh_dataset_image_size(ds) * sizeof *b->images);
  b->codes = malloc(nb * dim * sizeof *b->codes);
  if (b->f && b->images && b->codes) return BH_OK;
  zdiff_buf_free(b);
  return bh_error(BH_ENOMEM, "zdiff: no memory for batches of %d", batch);
}

/* One point (feature row of D, label) in dlib's draw order: k, F1, F2. */
static int zdiff_point(bh_dataset *ds, const bh_repr *rep, gsl_rng *r, int batch, zdiff_buf *b,
                       float *feature, int *label) {
  const int K = ds->nfactors, D = rep->dim;
  const size_t nb = (size_t)batch;
  int *f1 = b->f, *f2 = b->f + nb * K;
  int k = (int)gsl_rng_uniform_int(r, (unsigned long)K);
  int st = bh_dataset_sample_factors(ds, r, nb, f1);
  if (!st) st = bh_dataset_sample_factors(ds, r, nb, f2);
  if (st) return st;
  for (size_t i = 0; i < nb; i++) f2[i * K + k] = f1[i * K + k];
  if ((st = bh_metric_encode_factors(ds, rep, b->f, 2 * nb, b->images, b->codes))) return st;
  const float *r1 = b->codes, *r2 = b->codes + nb * D;
  for (int j = 0; j < D; j++) {
    double s = 0.0;
    for (size_t i = 0; i < nb; i++) s += fabs((double)r1[i * D + j] - (double)r2[i * D + j]);
    feature[j] = (float)(s / batch);
  }
  *label = k;
  return BH_OK;
}

static int zdiff_points(bh_dataset *ds, const bh_repr *rep, gsl_rng *r, int batch, size_t n,
                        zdiff_buf *b, float *x, int *y) {
  for (size_t i = 0; i < n; i++) {
    int st = zdiff_point(ds, rep, r, batch, b, x + i * (size_t)rep->dim, y + i);
    if (st) return st;
  }
  return BH_OK;
}

static int zdiff_check(const bh_dataset *ds, const bh_repr *rep, gsl_rng *r, int batch,
                       size_t n_train, size_t n_eval, int variant, bh_metric_result *out) {
  if (!ds || !rep || !rep->fn || !r || !out)
    return bh_error(BH_EINVAL, "zdiff: missing dataset, representation, generator or result");
  if (ds->nfactors < 2)
    return bh_error(BH_EINVAL, "zdiff: %s has %d ground-truth factors, need >= 2", ds->source,
                    ds->nfactors);
  if (rep->dim <= 0 || batch <= 0 || n_train == 0 || n_eval == 0)
    return bh_error(BH_EINVAL, "zdiff: dim %d, batch %d, n_train %zu, n_eval %zu must be > 0",
                    rep->dim, batch, n_train, n_eval);
  if (variant != BH_ZDIFF_LIBLINEAR_OVR && variant != BH_ZDIFF_MULTINOMIAL)
    return bh_error(BH_EINVAL, "zdiff: unknown classifier variant %d", variant);
  return BH_OK;
}

int bh_metric_zdiff(bh_dataset *ds, const bh_repr *rep, gsl_rng *r, int batch, size_t n_train,
                    size_t n_eval, int variant, bh_metric_result *out) {
  int st = zdiff_check(ds, rep, r, batch, n_train, n_eval, variant, out);
  if (st) return st;
  const int D = rep->dim, K = ds->nfactors;
  zdiff_buf b = {0};
  if ((st = zdiff_buf_alloc(&b, ds, batch, D))) return st;
  float *xtr = malloc(n_train * D * sizeof *xtr), *xev = malloc(n_eval * D * sizeof *xev);
  int *ytr = malloc(n_train * sizeof *ytr), *yev = malloc(n_eval * sizeof *yev);
  bh_linmodel m = {0};
  if (!xtr || !xev || !ytr || !yev) {
    st = bh_error(BH_ENOMEM, "zdiff: no memory for %zu + %zu points", n_train, n_eval);
    goto done;
  }
  if ((st = zdiff_points(ds, rep, r, batch, n_train, &b, xtr, ytr))) goto done;
  if (variant == BH_ZDIFF_LIBLINEAR_OVR) {
    st = bh_logreg_fit_liblinear(xtr, n_train, D, ytr, K, 1.0, &m);
    /* sklearn seeds liblinear with one draw from the metric's RandomState, which shifts the
     * evaluation draws; the same single draw keeps that order. */
    (void)gsl_rng_get(r);
  } else {
    /* sklearn >= 0.22 lbfgs: max_iter 100, tol 1e-4 on the gradient's max-norm. */
    st = bh_logreg_fit_multinomial(xtr, n_train, D, ytr, K, 1.0, 100, 1e-4, &m);
  }
  if (st) goto done;
  if ((st = zdiff_points(ds, rep, r, batch, n_eval, &b, xev, yev))) goto done;
  double train_acc = bh_linmodel_accuracy(&m, xtr, n_train, ytr);
  double eval_acc = bh_linmodel_accuracy(&m, xev, n_eval, yev);

  bh_metric_result_init(out, "zdiff");
  snprintf(out->variant, sizeof out->variant,
           variant == BH_ZDIFF_LIBLINEAR_OVR
               ? "disentanglement_lib beta_vae_sklearn, batch %d: LogisticRegression "
                 "liblinear-OvR-C=1 (sklearn <= 0.21: L2R_LR, tol 1e-4, penalised intercept)"
               : "disentanglement_lib beta_vae_sklearn, batch %d: LogisticRegression "
                 "multinomial-lbfgs-C=1 (sklearn >= 0.22; GSL vector_bfgs2, max_iter 100, "
                 "unpenalised intercept)",
           batch);
  out->score = 100.0 * eval_acc;
  out->n_train = n_train;
  out->n_test = n_eval;
  json_t *det = json_object();
  json_object_set_new(det, "train_accuracy", json_real(100.0 * train_acc));
  json_object_set_new(det, "eval_accuracy", json_real(100.0 * eval_acc));
  json_object_set_new(det, "batch_size", json_integer(batch));
  json_object_set_new(det, "classifier_iterations", json_integer(m.iterations));
  json_object_set_new(det, "classifier_converged", json_boolean(m.converged));
  json_decref(out->details);
  out->details = det;
done:
  bh_linmodel_free(&m);
  zdiff_buf_free(&b);
  free(xtr), free(xev), free(ytr), free(yev);
  return st;
}
