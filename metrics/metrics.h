/* metrics.h — every metric's entry point (one file each in metrics/), and code/factor files.
 * Protocols: ../shared/design/metrics-spec.md (disentanglement_lib, read from its source) and
 * baselines-spec.md §4.  Every result names its variant in bh_metric_result.variant. */
#ifndef BH_METRICS_H
#define BH_METRICS_H

#include "metrics/linear_models.h"
#include "metrics/metric.h"

/* ---- metric_io.c: codes and factors from .npy (f4/f8 codes; i8/i4/u1 factors) or CSV (one
 * row per sample, no header, comma-separated; factors integer class indices).  Rejects NaN/Inf
 * codes, non-integer or negative factors, empty or ragged files with one line naming the file
 * and the row. ---- */
int bh_codes_load(const char *path, bh_codes *out);
int bh_factors_load(const char *path, bh_factors *out);
void bh_codes_free(bh_codes *c);
void bh_factors_free(bh_factors *f);
/* Same n in both, every factor with at least two values, codes finite: else BH_EINVAL. */
int bh_metric_check_inputs(const bh_codes *c, const bh_factors *f, const char *what);

/* ---- mig.c: disentanglement_lib MIG: each code dimension discretised into `bins` (20)
 * equal-width bins over its min..max, plug-in mutual information in nats with every factor,
 * normalised by the factor's empirical entropy; score = mean over factors of the gap between
 * the two largest normalised MIs. ---- */
int bh_metric_mig(const bh_codes *c, const bh_factors *f, int bins, bh_metric_result *out);

/* ---- sap.c: SAP score matrix (code dim × factor), mean over factors of the gap between the
 * two largest entries.  Discrete (default): per (dim, factor) a linear SVM (liblinear, C = 0.01,
 * class-balanced weights as scikit-learn applies them one-vs-rest) on that single dimension,
 * accuracy on the test set.  Continuous: squared correlation (test set unused). ---- */
int bh_metric_sap(const bh_codes *train_c, const bh_factors *train_f, const bh_codes *test_c,
                  const bh_factors *test_f, int continuous, bh_metric_result *out);

/* ---- dci.c: DCI disentanglement, completeness, informativeness (the importance model is
 * named in the variant). ---- */
int bh_metric_dci(const bh_codes *train_c, const bh_factors *train_f, const bh_codes *test_c,
                  const bh_factors *test_f, bh_metric_result *out);
/* The DCI formulas alone, from an importance matrix R (d codes × k factors, row-major, entries
 * ≥ 0): disentanglement = Σ_i ρ_i (1 − H_k(R_i· normalised)), completeness = Σ_j ρ_j (1 −
 * H_d(R_·j normalised)), entropies with log base k resp. d, 1e-11 added to each entry before
 * normalising, ρ the relative row resp. column sums (uniform when R is all zero). */
int bh_dci_scores(const double *imp, int d, int k, double *disentanglement,
                  double *completeness);

/* ---- mig_chen.c: Chen et al.'s MIG over a whole factor dataset: mu, logvar (n × d) of
 * q(z|x) for every example, factors (n × k) with their sizes; one sampled code per example;
 * entropies through the aggregate posterior estimated on `n_marginal` (10,000) sampled points;
 * factors with use[k] == 0 are skipped (dSprites: shape); normalised by ln |V_k|. ---- */
int bh_metric_mig_chen(const bh_codes *mu, const bh_codes *logvar, const bh_factors *f,
                       const int *factor_sizes, const int *use, size_t n_marginal, gsl_rng *r,
                       bh_metric_result *out);

/* ---- zdiff.c: Higgins et al.'s BetaVAE score (Z-diff), in %: pairs of batches sharing one
 * factor, |difference| of codes averaged over the batch, a linear classifier predicts the
 * factor.  Defaults batch 64, 10,000 train / 5,000 eval points. ---- */
enum { BH_ZDIFF_LIBLINEAR_OVR = 0, /* logistic regression one-vs-rest, C = 1 (sklearn ≤ 0.21) */
       BH_ZDIFF_MULTINOMIAL = 1 /* multinomial logistic regression, L-BFGS (later sklearn) */ };
int bh_metric_zdiff(bh_dataset *ds, const bh_repr *rep, gsl_rng *r, int batch, size_t n_train,
                    size_t n_eval, int variant, bh_metric_result *out);

/* ---- factorvae.c: Kim & Mnih's FactorVAE score, in %: per-dimension scale from 10,000
 * points, votes of argmin normalised variance in batches with one fixed factor, majority-vote
 * classifier; defaults batch 64, 10,000 train / 5,000 eval votes. ---- */
int bh_metric_factorvae(bh_dataset *ds, const bh_repr *rep, gsl_rng *r, int batch,
                        size_t n_train, size_t n_eval, bh_metric_result *out);

/* ---- probe.c: accuracy (%) on the test split of a classifier trained on frozen codes of the
 * training split: multinomial logistic regression (default) or a small MLP (mlp = 1). ---- */
int bh_metric_probe(const bh_codes *train_c, const int *train_y, const bh_codes *test_c,
                    const int *test_y, int nclasses, int mlp, gsl_rng *r,
                    bh_metric_result *out);
/* The probe's logistic regression itself (mlp = 0: standardised codes, C = 1, the same solver
 * and stopping rule), fitted on train_c → train_y, with the standardisation folded into the
 * weights: out scores raw codes, out->w·x + out->b (an unseen class's b is −∞).  For a
 * classifier applied to codes made later (`bhivae attr-traverse`).  Free with
 * bh_linmodel_free. */
int bh_metric_probe_fit(const bh_codes *train_c, const int *train_y, int nclasses,
                        bh_linmodel *out);

#endif
