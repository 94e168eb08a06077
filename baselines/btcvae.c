/* btcvae.c — β-TCVAE (Chen et al., "Isolating Sources of Disentanglement in VAEs", 2018).
 *
 * The KL term of the ELBO, averaged over the data, splits into three parts (Chen et al. Eq. 2),
 * each estimated per example from one sample z ~ q(z|x) and the minibatch:
 *     index-code MI      mi   = log q(z|x) − log q(z)
 *     total correlation  tc   = log q(z) − log Π_j q(z_j)
 *     dimension-wise KL  dwkl = log Π_j q(z_j) − log p(z)
 * and the objective weighs them separately:
 *     loss = mean_b [recon + α·mi + β·tc + γ·dwkl],  recon = −log p(x|z) (Bernoulli).
 * With α = β = γ = 1 the estimates of log q(z) cancel and this is the single-sample ELBO
 * recon + log q(z|x) − log p(z); rtqichen's `--tcvae` is α = γ = 1.  log q(z) and
 * log Π_j q(z_j) come from baselines/tc_estimate.h (MWS or MSS) with N the training set size.
 *
 * Parametrisation: the encoder gives (mu, logvar) like every model here, where rtqichen's gives
 * (mu, log σ); logvar = 2 log σ is a reparametrisation of the same diagonal Gaussian family, so
 * the densities, estimators and objective are the same functions of the distribution.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "baselines/baselines.h"
#include "baselines/tc_estimate.h"
#include "baselines/vae.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"

#define LOG_2PI 1.8378770664093453 /* ln 2π */

typedef struct bh_btcvae {
  bh_gvae g;                 /* first: bh_gvae_class_encode/decode read it */
  double alpha, beta, gamma; /* weights of mi, tc, dwkl */
  int estimator;             /* BH_TC_MWS or BH_TC_MSS */
  int mss_compat;            /* MSS with the public implementations' weight matrix */
  size_t n_train;            /* N of the estimators: the training set size */
} bh_btcvae;

static int check_weight(const bh_model *m, const char *key, double v) {
  if (isfinite(v) && v >= 0) return BH_OK;
  return bh_error(BH_EINVAL, "%s: key '%s' must be a number >= 0 (got %g)", m->cls->name, key, v);
}

static int btcvae_read_config(const bh_model *m, bh_btcvae *t) {
  t->alpha = bh_config_num(m->cfg, "alpha");
  t->beta = bh_config_num(m->cfg, "beta");
  t->gamma = bh_config_num(m->cfg, "gamma");
  int st = check_weight(m, "alpha", t->alpha);
  if (st == BH_OK) st = check_weight(m, "beta", t->beta);
  if (st == BH_OK) st = check_weight(m, "gamma", t->gamma);
  if (st != BH_OK) return st;
  const char *est = bh_config_str(m->cfg, "estimator");
  t->estimator = bh_tc_estimator_from_name(est);
  if (t->estimator < 0)
    return bh_error(BH_EINVAL, "%s: key 'estimator' must be 'mws' or 'mss' (got '%s')",
                    m->cls->name, est);
  t->mss_compat = (int)bh_config_int(m->cfg, "mss_compat");
  /* the examples trained on (with key "subset", the subset: models/train.c checks that
   * m->data.n is the number it draws batches from) */
  t->n_train = m->data.n;
  long batch = bh_config_int(m->cfg, "batch_size");
  if (batch < 1 || (size_t)batch > t->n_train)
    return bh_error(BH_EINVAL, "%s: key 'batch_size' (%ld) must be in 1..N, the training set size "
                    "(%zu), for the estimators of log q(z)", m->cls->name, batch, t->n_train);
  if (t->estimator == BH_TC_MSS && batch < 2)
    return bh_error(BH_EINVAL, "%s: estimator 'mss' needs key 'batch_size' >= 2 (got %ld)",
                    m->cls->name, batch);
  return BH_OK;
}

static int btcvae_create(bh_model *m, gsl_rng *init) {
  bh_btcvae *t = calloc(1, sizeof *t);
  if (!t) return bh_error(BH_ENOMEM, "%s: out of memory", m->cls->name);
  int st = btcvae_read_config(m, t);
  if (st == BH_OK) st = bh_gvae_main_group(m);
  if (st == BH_OK) st = bh_gvae_init(&t->g, m, m->group[0], init);
  if (st != BH_OK) {
    free(t);
    return st;
  }
  m->z_dim = t->g.z_dim;
  m->impl = t;
  return BH_OK;
}

/* z, mu, logvar [n×d] -> [n]: Σ_j log N(z_j; mu_j, e^{lv_j}) = −½ Σ_j (ln 2π + lv + (z−mu)² e^{−lv}) */
static bh_tensor *log_density_diag(bh_ctx *ctx, bh_tensor *z, bh_tensor *mu, bh_tensor *lv) {
  bh_tensor *sq = bh_mul(ctx, bh_square(ctx, bh_sub(ctx, z, mu)), bh_exp(ctx, bh_scale(ctx, lv, -1)));
  bh_tensor *s = bh_sum(ctx, bh_add(ctx, sq, lv), BH_AXIS_COLS);
  return bh_add_scalar(ctx, bh_scale(ctx, s, -0.5f),
                       (float)(-0.5 * LOG_2PI * (double)bh_tensor_cols(z)));
}

/* z [n×d] -> [n]: log N(z; 0, I) = −½ Σ_j (ln 2π + z_j²) */
static bh_tensor *log_density_std(bh_ctx *ctx, bh_tensor *z) {
  bh_tensor *s = bh_sum(ctx, bh_square(ctx, z), BH_AXIS_COLS);
  return bh_add_scalar(ctx, bh_scale(ctx, s, -0.5f),
                       (float)(-0.5 * LOG_2PI * (double)bh_tensor_cols(z)));
}

static double mean_of(const bh_tensor *t) {
  double s = 0;
  for (size_t k = 0; k < t->size; k++) s += t->data[k];
  return t->size ? s / (double)t->size : NAN;
}

static bh_tensor *btcvae_loss(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *batches,
                              bh_rng *rng, bh_terms *terms) {
  bh_btcvae *t = m->impl;
  if (phase != 0) {
    bh_error(BH_EINVAL, "%s: no update phase %d (one phase)", m->cls->name, phase);
    return NULL;
  }
  bh_gvae_pass p;
  if (bh_gvae_run(&t->g, ctx, &batches[0], bh_rng_stream(rng, "noise"), &p) != BH_OK)
    return NULL;
  bh_tensor *log_qzx = log_density_diag(ctx, p.z, p.mu, p.logvar); /* [n] log q(z|x) */
  bh_tensor *log_pz = log_density_std(ctx, p.z);                   /* [n] log p(z) */
  bh_tensor *log_qz, *log_qz_prod;                                  /* [n] each */
  if (bh_tc_log_qz(ctx, p.z, p.mu, p.logvar, t->n_train, t->estimator, t->mss_compat, &log_qz,
                   &log_qz_prod) != BH_OK)
    return NULL;
  bh_tensor *mi = bh_sub(ctx, log_qzx, log_qz);        /* [n] */
  bh_tensor *tc = bh_sub(ctx, log_qz, log_qz_prod);    /* [n] */
  bh_tensor *dwkl = bh_sub(ctx, log_qz_prod, log_pz);  /* [n] */
  bh_tensor *per = bh_add(ctx, p.recon, bh_scale(ctx, mi, (float)t->alpha));
  per = bh_add(ctx, per, bh_scale(ctx, tc, (float)t->beta));
  per = bh_add(ctx, per, bh_scale(ctx, dwkl, (float)t->gamma));
  bh_tensor *loss = bh_mean(ctx, per, BH_AXIS_ALL); /* [1] */
  /* the analytic KL, for reference only: no gradient, no tape */
  bh_tensor *kl = bh_kl_normal_std(ctx, bh_detach(ctx, p.mu), bh_detach(ctx, p.logvar));
  if (!loss || !kl) return NULL;
  bh_terms_set(terms, "loss", loss->data[0]);
  bh_terms_set(terms, "recon", mean_of(p.recon));
  bh_terms_set(terms, "mi", mean_of(mi));
  bh_terms_set(terms, "tc", mean_of(tc));
  bh_terms_set(terms, "dwkl", mean_of(dwkl));
  bh_terms_set(terms, "kl", mean_of(kl));
  return loss;
}

static void btcvae_destroy(bh_model *m) {
  bh_btcvae *t = m->impl;
  if (!t) return;
  bh_gvae_free(&t->g);
  free(t);
  m->impl = NULL;
}

static const bh_cfg_key btcvae_keys[] = {
    {"alpha", BH_CFG_NUM, "1", "weight of the index-code mutual information (BHiVAE Table 1: 1)"},
    {"beta", BH_CFG_NUM, "8", "weight of the total correlation (BHiVAE Table 1: 8)"},
    {"gamma", BH_CFG_NUM, "2", "weight of the dimension-wise KL (BHiVAE Table 1: 2)"},
    {"estimator", BH_CFG_STR, "mws",
     "estimator of log q(z): mws (minibatch weighted) or mss (minibatch stratified)"},
    {"mss_compat", BH_CFG_BOOL, "0",
     "mss with the public implementations' weight matrix (parity runs; not the intended one)"},
    {NULL, 0, NULL, NULL}};

const bh_model_class bh_btcvae_class = {
    "btcvae", "β-TCVAE (Chen et al.): reconstruction + alpha·MI + beta·TC + gamma·dimension-wise KL",
    btcvae_keys, btcvae_create, btcvae_loss, bh_gvae_class_encode, bh_gvae_class_decode,
    btcvae_destroy, NULL};
