/* probe.c — representation probes for Table 2: a classifier trained on frozen codes of the
 * training split, accuracy (%) on the test split.  Inputs are standardised with the training
 * split's per-dimension mean and sd (both classifiers), so the probe is invariant to affine
 * rescaling of code dimensions and the optimisers are well conditioned.
 *   mlp = 0: multinomial logistic regression, C = 1, GSL vector_bfgs2 (deterministic; r unused);
 *   mlp = 1: one hidden layer of PROBE_HIDDEN ReLU units on the core (bh_mlp, Adam,
 *            bh_cross_entropy), initialised and shuffled from r, PROBE_EPOCHS epochs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/adam.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/layers.h"
#include "core/ops.h"
#include "core/params.h"
#include "core/rng.h"
#include "metrics/linear_models.h"
#include "metrics/metrics.h"

enum { PROBE_HIDDEN = 64, PROBE_EPOCHS = 50, PROBE_BATCH = 128, PROBE_LR_MAXITER = 1000 };
static const double PROBE_LR = 1e-3;

/* Per column of the training rows: the mean and 1/sd (sd 0 → 1). */
static void column_stats(const bh_codes *tr, int j, double *mean, double *inv) {
  const int d = tr->d;
  double m = 0.0, ss = 0.0;
  for (size_t i = 0; i < tr->n; i++) m += tr->x[i * d + j];
  m /= (double)tr->n;
  for (size_t i = 0; i < tr->n; i++) {
    double e = tr->x[i * d + j] - m;
    ss += e * e;
  }
  double sd = sqrt(ss / (double)tr->n);
  *mean = m;
  *inv = sd > 0.0 ? 1.0 / sd : 1.0;
}

/* (x − mean) / sd per column, statistics of the training rows (sd 0 → 1). */
static void standardise(const bh_codes *tr, const bh_codes *te, float *xtr, float *xte) {
  const int d = tr->d;
  for (int j = 0; j < d; j++) {
    double mean, inv;
    column_stats(tr, j, &mean, &inv);
    for (size_t i = 0; i < tr->n; i++) xtr[i * d + j] = (float)((tr->x[i * d + j] - mean) * inv);
    for (size_t i = 0; i < te->n; i++) xte[i * d + j] = (float)((te->x[i * d + j] - mean) * inv);
  }
}

static double accuracy_of(const int *pred, const int *y, size_t n) {
  size_t hits = 0;
  for (size_t i = 0; i < n; i++) hits += pred[i] == y[i];
  return n ? (double)hits / (double)n : 0.0;
}

static int fit_linear(const float *xtr, size_t ntr, const int *ytr, int d, int nclasses,
                      bh_linmodel *m) {
  return bh_logreg_fit_multinomial(xtr, ntr, d, ytr, nclasses, 1.0, PROBE_LR_MAXITER, 1e-6, m);
}

static int probe_linear(const float *xtr, size_t ntr, const int *ytr, const float *xte,
                        size_t nte, int d, int nclasses, int *pred_tr, int *pred_te,
                        json_t *det) {
  bh_linmodel m;
  int st = fit_linear(xtr, ntr, ytr, d, nclasses, &m);
  if (st) return st;
  bh_linmodel_predict(&m, xtr, ntr, pred_tr);
  bh_linmodel_predict(&m, xte, nte, pred_te);
  json_object_set_new(det, "iterations", json_integer(m.iterations));
  json_object_set_new(det, "converged", json_boolean(m.converged));
  bh_linmodel_free(&m);
  return BH_OK;
}

/* Class predictions of the MLP for n rows, in batches, without a tape. */
static int mlp_predict(bh_ctx *ctx, const bh_mlp *net, const float *x, size_t n, int d,
                       int nclasses, int *pred) {
  bh_ctx_set_grad(ctx, 0);
  for (size_t s = 0; s < n; s += 1024) {
    int m = (int)(n - s < 1024 ? n - s : 1024);
    bh_ctx_reset(ctx);
    int shape[2] = {m, d};
    bh_tensor *xb = bh_tensor_view(ctx, (float *)x + s * d, 2, shape);
    bh_tensor *z = bh_mlp_forward(ctx, net, xb);
    if (!z) return bh_error_code() ? bh_error_code() : BH_EINVAL;
    for (int i = 0; i < m; i++) {
      const float *zi = z->data + (size_t)i * nclasses;
      int best = 0;
      for (int c = 1; c < nclasses; c++)
        if (zi[c] > zi[best]) best = c;
      pred[s + i] = best;
    }
  }
  bh_ctx_set_grad(ctx, 1);
  return BH_OK;
}

/* One epoch of minibatch Adam on a fresh permutation from r. */
static int mlp_epoch(bh_ctx *ctx, const bh_mlp *net, bh_params *p, bh_adam *opt, gsl_rng *r,
                     const float *x, const int *y, size_t n, int d, int *perm, float *xb,
                     int *yb, double *loss_sum) {
  bh_rng_permutation(r, perm, (int)n);
  for (size_t s = 0; s < n; s += PROBE_BATCH) {
    int m = (int)(n - s < PROBE_BATCH ? n - s : PROBE_BATCH);
    for (int i = 0; i < m; i++) {
      memcpy(xb + (size_t)i * d, x + (size_t)perm[s + i] * d, (size_t)d * sizeof *xb);
      yb[i] = y[perm[s + i]];
    }
    bh_ctx_reset(ctx);
    bh_params_zero_grad(p);
    int shape[2] = {m, d};
    bh_tensor *z = bh_mlp_forward(ctx, net, bh_tensor_view(ctx, xb, 2, shape));
    bh_tensor *loss = bh_mean(ctx, bh_cross_entropy(ctx, z, yb), BH_AXIS_ALL);
    if (!loss) return bh_error_code() ? bh_error_code() : BH_EINVAL;
    int st = bh_backward(ctx, loss);
    if (!st) st = bh_adam_step(opt);
    if (st) return st;
    *loss_sum += loss->data[0] * m;
  }
  return BH_OK;
}

static int probe_mlp(const float *xtr, size_t ntr, const int *ytr, const float *xte, size_t nte,
                     int d, int nclasses, gsl_rng *r, int *pred_tr, int *pred_te, json_t *det) {
  if (ntr > (size_t)INT32_MAX) return bh_error(BH_EINVAL, "probe: %zu rows is too many", ntr);
  int st = BH_OK;
  bh_params *p = bh_params_alloc();
  int widths[3] = {d, PROBE_HIDDEN, nclasses};
  bh_mlp *net = p ? bh_mlp_alloc(p, "probe", 3, widths, bh_act_relu(), r) : NULL;
  bh_adam_config cfg = bh_adam_config_default();
  cfg.lr = PROBE_LR;
  bh_adam *opt = net ? bh_adam_alloc(p, cfg) : NULL;
  bh_ctx *ctx = bh_ctx_alloc(1 << 20);
  int *perm = malloc(ntr * sizeof *perm), *yb = malloc(PROBE_BATCH * sizeof *yb);
  float *xb = malloc((size_t)PROBE_BATCH * d * sizeof *xb);
  if (!p || !net || !opt || !ctx || !perm || !yb || !xb) {
    st = bh_error_code() ? bh_error_code()
                         : bh_error(BH_ENOMEM, "probe: no memory for the MLP");
    goto done;
  }
  double loss = 0.0;
  for (int e = 0; e < PROBE_EPOCHS && !st; e++) {
    loss = 0.0;
    st = mlp_epoch(ctx, net, p, opt, r, xtr, ytr, ntr, d, perm, xb, yb, &loss);
  }
  if (!st) st = mlp_predict(ctx, net, xtr, ntr, d, nclasses, pred_tr);
  if (!st) st = mlp_predict(ctx, net, xte, nte, d, nclasses, pred_te);
  if (!st) json_object_set_new(det, "final_train_loss", json_real(loss / (double)ntr));
done:
  free(perm), free(yb), free(xb);
  if (ctx) bh_ctx_free(ctx);
  if (opt) bh_adam_free(opt);
  if (net) bh_mlp_free(net);
  if (p) bh_params_free(p);
  return st;
}

static int probe_check(const bh_codes *trc, const int *try_, const bh_codes *tec,
                       const int *tey, int nclasses, int mlp, gsl_rng *r) {
  if (!trc || !tec || !try_ || !tey || !trc->x || !tec->x)
    return bh_error(BH_EINVAL, "probe: missing codes, labels or result");
  if (trc->n == 0 || tec->n == 0 || trc->d <= 0 || trc->d != tec->d || nclasses < 2)
    return bh_error(BH_EINVAL, "probe: train %zu × %d and test %zu × %d codes with %d classes "
                    "(need rows, equal widths, >= 2 classes)", trc->n, trc->d, tec->n, tec->d,
                    nclasses);
  if (mlp && !r) return bh_error(BH_EINVAL, "probe: the MLP needs a generator");
  for (size_t i = 0; i < trc->n; i++)
    if (try_[i] < 0 || try_[i] >= nclasses)
      return bh_error(BH_EINVAL, "probe: training label %d of row %zu outside 0..%d", try_[i], i,
                      nclasses - 1);
  for (size_t i = 0; i < tec->n; i++)
    if (tey[i] < 0 || tey[i] >= nclasses)
      return bh_error(BH_EINVAL, "probe: test label %d of row %zu outside 0..%d", tey[i], i,
                      nclasses - 1);
  for (size_t i = 0; i < trc->n * (size_t)trc->d; i++)
    if (!isfinite(trc->x[i])) return bh_error(BH_ENUM, "probe: non-finite training code");
  for (size_t i = 0; i < tec->n * (size_t)tec->d; i++)
    if (!isfinite(tec->x[i])) return bh_error(BH_ENUM, "probe: non-finite test code");
  return BH_OK;
}

int bh_metric_probe(const bh_codes *train_c, const int *train_y, const bh_codes *test_c,
                    const int *test_y, int nclasses, int mlp, gsl_rng *r,
                    bh_metric_result *out) {
  int st = out ? probe_check(train_c, train_y, test_c, test_y, nclasses, mlp, r)
               : bh_error(BH_EINVAL, "probe: missing codes, labels or result");
  if (st) return st;
  const size_t ntr = train_c->n, nte = test_c->n;
  const int d = train_c->d;
  float *xtr = malloc(ntr * d * sizeof *xtr), *xte = malloc(nte * d * sizeof *xte);
  int *ptr = malloc(ntr * sizeof *ptr), *pte = malloc(nte * sizeof *pte);
  json_t *det = json_object();
  if (!xtr || !xte || !ptr || !pte || !det) {
    st = bh_error(BH_ENOMEM, "probe: no memory for %zu + %zu codes", ntr, nte);
    goto done;
  }
  standardise(train_c, test_c, xtr, xte);
  st = mlp ? probe_mlp(xtr, ntr, train_y, xte, nte, d, nclasses, r, ptr, pte, det)
           : probe_linear(xtr, ntr, train_y, xte, nte, d, nclasses, ptr, pte, det);
  if (st) goto done;
  double acc_tr = accuracy_of(ptr, train_y, ntr), acc_te = accuracy_of(pte, test_y, nte);
  bh_metric_result_init(out, "probe");
  if (mlp)
    snprintf(out->variant, sizeof out->variant,
             "mlp-%d-relu: standardised codes, one hidden layer of %d ReLU units, Adam lr %g, "
             "batch %d, %d epochs, cross-entropy",
             PROBE_HIDDEN, PROBE_HIDDEN, PROBE_LR, PROBE_BATCH, PROBE_EPOCHS);
  else
    snprintf(out->variant, sizeof out->variant,
             "multinomial-logreg-C=1: standardised codes, softmax cross-entropy + ½‖W‖²/C "
             "(intercept unpenalised), GSL vector_bfgs2, max %d iterations",
             PROBE_LR_MAXITER);
  out->score = 100.0 * acc_te;
  out->n_train = ntr;
  out->n_test = nte;
  json_object_set_new(det, "train_accuracy", json_real(100.0 * acc_tr));
  json_object_set_new(det, "test_accuracy", json_real(100.0 * acc_te));
  json_object_set_new(det, "nclasses", json_integer(nclasses));
  json_decref(out->details);
  out->details = det;
  det = NULL;
done:
  json_decref(det);
  free(xtr), free(xte), free(ptr), free(pte);
  return st;
}

int bh_metric_probe_fit(const bh_codes *train_c, const int *train_y, int nclasses,
                        bh_linmodel *out) {
  bh_codes none = {0, train_c ? train_c->d : 0, NULL};
  int st = out ? probe_check(train_c, train_y, train_c, train_y, nclasses, 0, NULL)
               : bh_error(BH_EINVAL, "probe: missing the model to fit");
  if (st) return st;
  const size_t n = train_c->n;
  const int d = train_c->d;
  float *x = malloc(n * d * sizeof *x);
  double *mean = malloc((size_t)d * sizeof *mean), *inv = malloc((size_t)d * sizeof *inv);
  if (!x || !mean || !inv) {
    st = bh_error(BH_ENOMEM, "probe: no memory for %zu codes", n);
    goto done;
  }
  standardise(train_c, &none, x, NULL);
  if ((st = fit_linear(x, n, train_y, d, nclasses, out))) goto done;
  /* fold the standardisation in: w·(x − mean)·inv + b = (w·inv)·x + (b − Σ w·inv·mean);
   * an unseen class's −∞ score stays −∞ */
  for (int j = 0; j < d; j++) column_stats(train_c, j, &mean[j], &inv[j]);
  for (int c = 0; c < nclasses; c++) {
    double shift = 0.0;
    for (int j = 0; j < d; j++) {
      double *w = &out->w[(size_t)c * d + j];
      *w *= inv[j];
      shift += *w * mean[j];
    }
    out->b[c] -= shift;
  }
done:
  free(x), free(mean), free(inv);
  return st;
}
