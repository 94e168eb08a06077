/* factorvae.c — Kim & Mnih's FactorVAE score as disentanglement_lib computes it
 * (metrics-spec §4): global per-dimension variances (ddof 1) from 10,000 uniformly sampled
 * points encoded in chunks of the batch size; dimensions with sd < 0.05 pruned; each vote fixes
 * one factor k (uniform) to the value of the batch's first row, and votes for the active
 * dimension of least variance relative to its global variance; a majority-vote classifier
 * (per dimension, the factor with most training votes) is scored on fresh votes.  In %. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/discrete.h"
#include "metrics/linear_models.h"
#include "metrics/metrics.h"

enum { FVAE_NUM_VARIANCE = 10000 };
static const double FVAE_PRUNE_SD = 0.05;

typedef struct fvae_buf {
  int *f;        /* batch × K */
  float *images; /* batch × image size */
  float *codes;  /* batch × D */
  double *gvar;  /* D global variances */
  int *active;   /* indices of the active dims */
  int nactive;
} fvae_buf;

static void fvae_buf_free(fvae_buf *b) {
  free(b->f), free(b->images), free(b->codes), free(b->gvar), free(b->active);
}

/* Per-dimension variance with ddof 1 of n rows (two passes, double). */
static void column_variances(const float *x, size_t n, int d, double *var) {
  for (int j = 0; j < d; j++) {
    double mean = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++) mean += x[i * d + j];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
      double e = x[i * d + j] - mean;
      ss += e * e;
    }
    var[j] = n > 1 ? ss / (double)(n - 1) : 0.0;
  }
}

/* Step 1–2: global variances of FVAE_NUM_VARIANCE sampled points and the active dims. */
static int fvae_global(bh_dataset *ds, const bh_repr *rep, gsl_rng *r, int batch, fvae_buf *b) {
  const int D = rep->dim;
  float *all = malloc((size_t)FVAE_NUM_VARIANCE * D * sizeof *all);
  if (!all) return bh_error(BH_ENOMEM, "factorvae: no memory for the variance sample");
  int st = BH_OK;
  for (size_t done = 0; done < FVAE_NUM_VARIANCE && !st; done += (size_t)batch) {
    size_t m = FVAE_NUM_VARIANCE - done < (size_t)batch ? FVAE_NUM_VARIANCE - done : (size_t)batch;
    st = bh_dataset_sample_factors(ds, r, m, b->f);
    if (!st) st = bh_metric_encode_factors(ds, rep, b->f, m, b->images, all + done * D);
  }
  if (!st) {
    column_variances(all, FVAE_NUM_VARIANCE, D, b->gvar);
    b->nactive = 0;
    for (int j = 0; j < D; j++)
      if (sqrt(b->gvar[j]) >= FVAE_PRUNE_SD) b->active[b->nactive++] = j;
  }
  free(all);
  return st;
}

/* Step 3: n votes accumulated into votes (K × nactive). */
static int fvae_votes(bh_dataset *ds, const bh_repr *rep, gsl_rng *r, int batch, size_t n,
                      fvae_buf *b, double *local, double *votes) {
  const int K = ds->nfactors, D = rep->dim;
  for (size_t v = 0; v < n; v++) {
    int k = (int)gsl_rng_uniform_int(r, (unsigned long)K);
    int st = bh_dataset_sample_factors(ds, r, (size_t)batch, b->f);
    if (st) return st;
    for (int i = 1; i < batch; i++) b->f[(size_t)i * K + k] = b->f[k];
    if ((st = bh_metric_encode_factors(ds, rep, b->f, (size_t)batch, b->images, b->codes)))
      return st;
    column_variances(b->codes, (size_t)batch, D, local);
    int best = 0; /* numpy argmin: first minimum, over the compressed active list */
    double bv = INFINITY;
    for (int a = 0; a < b->nactive; a++) {
      double q = local[b->active[a]] / b->gvar[b->active[a]];
      if (q < bv) bv = q, best = a;
    }
    votes[(size_t)k * b->nactive + best] += 1.0;
  }
  return BH_OK;
}

static int fvae_check(const bh_dataset *ds, const bh_repr *rep, gsl_rng *r, int batch,
                      size_t n_train, size_t n_eval, bh_metric_result *out) {
  if (!ds || !rep || !rep->fn || !r || !out)
    return bh_error(BH_EINVAL, "factorvae: missing dataset, representation, generator or result");
  if (ds->nfactors < 1)
    return bh_error(BH_EINVAL, "factorvae: %s has no ground-truth factors", ds->source);
  if (rep->dim <= 0 || batch < 2 || n_train == 0 || n_eval == 0)
    return bh_error(BH_EINVAL, "factorvae: dim %d, n_train %zu, n_eval %zu must be > 0 and "
                    "batch %d >= 2", rep->dim, n_train, n_eval, batch);
  return BH_OK;
}

int bh_metric_factorvae(bh_dataset *ds, const bh_repr *rep, gsl_rng *r, int batch,
                        size_t n_train, size_t n_eval, bh_metric_result *out) {
  int st = fvae_check(ds, rep, r, batch, n_train, n_eval, out);
  if (st) return st;
  const int K = ds->nfactors, D = rep->dim;
  fvae_buf b = {0};
  double *local = malloc((size_t)D * sizeof *local);
  double *vtr = calloc((size_t)K * D, sizeof *vtr), *vev = calloc((size_t)K * D, sizeof *vev);
  b.f = malloc((size_t)batch * K * sizeof *b.f);
  b.images = malloc((size_t)batch * bh_dataset_image_size(ds) * sizeof *b.images);
  b.codes = malloc((size_t)batch * D * sizeof *b.codes);
  b.gvar = malloc((size_t)D * sizeof *b.gvar);
  b.active = malloc((size_t)D * sizeof *b.active);
  if (!local || !vtr || !vev || !b.f || !b.images || !b.codes || !b.gvar || !b.active) {
    st = bh_error(BH_ENOMEM, "factorvae: no memory for batches of %d", batch);
    goto done;
  }
  if ((st = fvae_global(ds, rep, r, batch, &b))) goto done;
  double train_acc = 0.0, eval_acc = 0.0;
  const int A = b.nactive;
  if (A > 0) {
    if ((st = fvae_votes(ds, rep, r, batch, n_train, &b, local, vtr)) ||
        (st = fvae_votes(ds, rep, r, batch, n_eval, &b, local, vev)))
      goto done;
    double hit_tr = 0.0, hit_ev = 0.0;
    for (int a = 0; a < A; a++) {
      int arg = 0; /* numpy argmax: first maximum → lowest factor */
      for (int k = 1; k < K; k++)
        if (vtr[(size_t)k * A + a] > vtr[(size_t)arg * A + a]) arg = k;
      hit_tr += vtr[(size_t)arg * A + a];
      hit_ev += vev[(size_t)arg * A + a];
    }
    train_acc = hit_tr / (double)n_train;
    eval_acc = hit_ev / (double)n_eval;
  }

  bh_metric_result_init(out, "factorvae");
  snprintf(out->variant, sizeof out->variant,
           "disentanglement_lib factor_vae_score: batch %d, %d points for the global variances "
           "(ddof 1), dims with sd < %.2f pruned, majority-vote classifier",
           batch, FVAE_NUM_VARIANCE, FVAE_PRUNE_SD);
  out->score = 100.0 * eval_acc;
  out->n_train = n_train;
  out->n_test = n_eval;
  json_t *det = out->details;
  json_object_set_new(det, "train_accuracy", json_real(100.0 * train_acc));
  json_object_set_new(det, "eval_accuracy", json_real(100.0 * eval_acc));
  json_object_set_new(det, "num_active_dims", json_integer(A));
  /* dlib reports the length of its boolean mask here (= D), a quirk kept for comparison */
  json_object_set_new(det, "num_active_dims_dlib", json_integer(D));
  json_object_set_new(det, "num_variance_estimate", json_integer(FVAE_NUM_VARIANCE));
  json_object_set_new(det, "global_variances", bh_metric_json_vector(b.gvar, D));
  json_t *act = json_array();
  for (int a = 0; a < A; a++) json_array_append_new(act, json_integer(b.active[a]));
  json_object_set_new(det, "active_dims", act);
  /* rows: factors, columns: active dims in the order of active_dims */
  json_object_set_new(det, "train_votes", bh_metric_json_matrix(vtr, K, A));
  json_object_set_new(det, "eval_votes", bh_metric_json_matrix(vev, K, A));
done:
  fvae_buf_free(&b);
  free(local), free(vtr), free(vev);
  return st;
}
