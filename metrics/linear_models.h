/* linear_models.h — the linear classifiers the metrics train (Z-diff, probe), and the
 * ground-truth sampler helper shared by the sampler-based metrics (Z-diff, FactorVAE).
 *
 * Two logistic regressions, each reproducing one scikit-learn era of LogisticRegression():
 *   - bh_logreg_fit_liblinear: sklearn <= 0.21 — liblinear L2R_LR (primal trust-region
 *     Newton), one-vs-rest, C, tol 1e-4, intercept as a constant-1 feature (liblinear bias 1,
 *     so the intercept is penalised like a weight);
 *   - bh_logreg_fit_multinomial: sklearn >= 0.22 — softmax over all classes, loss
 *     Σ_i CE_i + ½‖W‖²/C (intercept unpenalised), minimised by GSL's vector_bfgs2 from zero
 *     (deterministic: no random draws, no threads).
 * Both give a dense model: one score row per class, prediction = argmax (lowest class on ties).
 */
#ifndef BH_LINEAR_MODELS_H
#define BH_LINEAR_MODELS_H

#include <stddef.h>

#include "metrics/metric.h"

typedef struct bh_linmodel {
  int d, nclasses;
  double *w; /* nclasses × d */
  double *b; /* nclasses */
  int iterations; /* solver iterations (multinomial) or 0 */
  int converged;  /* 1 when the stopping test was met before the iteration cap */
} bh_linmodel;

/* x: n × d row-major, y: n labels in 0..nclasses-1.  Classes absent from y get score −∞
 * rows (never predicted), as sklearn only knows the classes it saw. */
int bh_logreg_fit_liblinear(const float *x, size_t n, int d, const int *y, int nclasses, double C,
                            bh_linmodel *m);
/* max_iter: BFGS iterations (sklearn's default is 100); stops earlier when the max-norm of the
 * gradient of the loss divided by n falls below gtol (sklearn >= 1.1 scales its loss by 1/n the
 * same way and passes tol = 1e-4 as L-BFGS-B's pgtol), or when the line search can make no
 * further progress. */
int bh_logreg_fit_multinomial(const float *x, size_t n, int d, const int *y, int nclasses,
                              double C, int max_iter, double gtol, bh_linmodel *m);
void bh_linmodel_free(bh_linmodel *m);
void bh_linmodel_predict(const bh_linmodel *m, const float *x, size_t n, int *out);
/* Class probabilities softmax(w·x + b) of n rows into p (n × nclasses); an unseen class's −∞
 * score gets probability 0. */
void bh_linmodel_proba(const bh_linmodel *m, const float *x, size_t n, double *p);
/* Fraction in [0, 1] of rows whose prediction equals y. */
double bh_linmodel_accuracy(const bh_linmodel *m, const float *x, size_t n, const int *y);

/* Sampler helper: the codes (count × rep->dim) of the images of count factor vectors of ds,
 * encoded in one call of rep->fn; images is scratch of count × image-size floats. */
int bh_metric_encode_factors(bh_dataset *ds, const bh_repr *rep, const int *factors,
                             size_t count, float *images, float *codes);

#endif
