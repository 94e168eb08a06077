/* bhivae.c — the unsupervised BHiVAE (paper §3.2.2, §4.2; spec bhivae-spec.md §2).
 *
 * A deterministic hierarchical encoder (hier.h) maps x to z^i = (s^i; h^i), i = 1..L, and the
 * part-wise decoder maps z = (s^1; ...; s^L; c^L) back to Bernoulli logits.  Each level has one
 * discriminator D_i: z^i -> 3 logits l, which tells apart
 *     class 0: encoded samples z^i ~ q(z^i)                       (the "true" distribution)
 *     class 1: prior samples N(0, Σ_i), Σ_i = 1 on the diagonal, ρ inside each block (§4.2)
 *     class 2: q(s^i) q(h^i): z^i with s^i and h^i permuted independently across the batch.
 * With D_i near its optimum, log softmax ratios estimate the two KL terms (density-ratio trick):
 *     KL_i = D_KL(q(z^i) ‖ N(0, Σ_i))        ≈ mean_b [l_0 − l_1]      (prior matching)
 *     TC_i = I(s^i; h^i) = KL(q(z^i) ‖ q(s^i) q(h^i)) ≈ mean_b [l_0 − l_2]  (eq. 16–17)
 *
 * Phase 0 (group "main": encoder and decoder) on batch 0, eq. 15 and 19:
 *     loss = β · Recon(x, x̂) + Σ_i ( KL_i + γ · TC_i )
 * Recon = Bernoulli NLL summed over pixels, batch mean ("recon" = "sum", default), or per pixel
 * ("mean": the same / (c·h·w)) [choice].  β weights the relevance term, as in the information
 * bottleneck, not the KL as in β-VAE.  Each z^i is kept (a copy) for phase 1.
 * Phase 1 (group "disc": every D_i), on the kept z^i, no gradient to the encoder:
 *     d_loss = Σ_i ⅓ [mean_b CE(D_i(z^i), 0) + mean_b CE(D_i(p^i), 1) + mean_b CE(D_i(π(z^i)), 2)]
 * (= the mean CE over the 3·n rows of level i), p^i ~ N(0, Σ_i) drawn from the "prior" stream
 * (bh_blockdiag_sample: L_Σ ε), π from the "perm" stream (bh_permute_dims), level by level.
 * π moves whole blocks: "perm" = "split" permutes s^i and h^i as two blocks (exactly the
 * product of marginals of I(s^i; h^i), default), "blocks" permutes every prior block of z^i
 * on its own (bh_hier_level_blocks) [choice]; units inside a block never separate.
 *
 * As in FactorVAE, phase 0's gradient flows through D_i into the encoder, but the training loop
 * freezes every group but the phase's own, so D_i's parameters learn only in phase 1.
 *
 * D_i: d(z^i) → d_layers × d_hidden LeakyReLU(0.2) → 3, prefix "disc<i>", PyTorch's default
 * initialisation, its own Adam (d_lr, d_beta1, d_beta2; no weight decay).  [choice] 3 × 256
 * units, not FactorVAE's 6 × 1000, which would triple the cost of a step with three levels.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baselines/vae.h"
#include "bhivae_model/bhivae.h"
#include "bhivae_model/hier.h"
#include "core/error.h"
#include "core/layers.h"
#include "core/ops.h"
#include "core/rng.h"

enum { BV_MAIN = 0, BV_DISC = 1 };
enum { BV_CLASSES = 3 }; /* encoded, prior, permuted */

typedef struct bh_bhivae {
  bh_hier h;                                 /* first: bh_hier_class_* read it */
  bh_mlp *disc[BH_HIER_MAX_LEVELS];          /* D_i: z^i [n × d(z^i)] -> logits [n × 3] */
  bh_blockdiag *prior[BH_HIER_MAX_LEVELS];   /* Σ_i of z^i */
  double beta, gamma;
  int recon_sum;                             /* 1: summed over pixels; 0: per-pixel mean */
  int perm_split;                            /* 1: (s^i, h^i); 0: every block of z^i */
  bh_stash z0[BH_HIER_MAX_LEVELS];           /* phase 0's z^i, for phase 1 */
} bh_bhivae;

/* Term names must be string literals (bh_terms does not copy them). */
static const char *const kl_name[BH_HIER_MAX_LEVELS] = {"kl1", "kl2", "kl3", "kl4",
                                                        "kl5", "kl6", "kl7", "kl8"};
static const char *const tc_name[BH_HIER_MAX_LEVELS] = {"tc1", "tc2", "tc3", "tc4",
                                                        "tc5", "tc6", "tc7", "tc8"};
static const char *const dl_name[BH_HIER_MAX_LEVELS] = {"d_loss1", "d_loss2", "d_loss3",
                                                        "d_loss4", "d_loss5", "d_loss6",
                                                        "d_loss7", "d_loss8"};

/* mean_b [l_a − l_b] from D's logits [n × 3] -> [1] */
static bh_tensor *logit_gap(bh_ctx *ctx, bh_tensor *logits, int a, int b) {
  bh_tensor *diff = bh_sub(ctx, bh_slice(ctx, logits, a, 1), bh_slice(ctx, logits, b, 1));
  return bh_mean(ctx, diff, BH_AXIS_ALL);
}

static bh_tensor *main_phase(bh_bhivae *v, bh_ctx *ctx, const bh_batch *batch,
                             bh_terms *terms) {
  bh_hier_pass pass;
  if (bh_hier_encode(&v->h, ctx, bh_hier_images(ctx, &v->h, batch), NULL, &pass) != BH_OK)
    return NULL;
  bh_tensor *logits = bh_hier_decode(&v->h, ctx, pass.code);        /* [n × c·h·w] */
  bh_tensor *recon = bh_hier_recon_mean(ctx, logits, batch->x);     /* [1] */
  if (!v->recon_sum) recon = bh_scale(ctx, recon, 1.0f / (float)(v->h.c * v->h.h * v->h.w));
  bh_tensor *kl = NULL, *tc = NULL; /* Σ_i KL_i, Σ_i TC_i [1] */
  double kl_level[BH_HIER_MAX_LEVELS], tc_level[BH_HIER_MAX_LEVELS];
  for (int i = 0; i < v->h.levels; i++) {
    bh_tensor *l = bh_mlp_forward(ctx, v->disc[i], pass.z[i]); /* [n × 3] */
    bh_tensor *kl_i = logit_gap(ctx, l, 0, 1), *tc_i = logit_gap(ctx, l, 0, 2);
    if (!kl_i || !tc_i || bh_stash_put(&v->z0[i], pass.z[i]) != BH_OK) return NULL;
    kl_level[i] = kl_i->data[0], tc_level[i] = tc_i->data[0];
    kl = kl ? bh_add(ctx, kl, kl_i) : kl_i;
    tc = tc ? bh_add(ctx, tc, tc_i) : tc_i;
  }
  bh_tensor *loss = bh_add(ctx, bh_scale(ctx, recon, (float)v->beta),
                           bh_add(ctx, kl, bh_scale(ctx, tc, (float)v->gamma)));
  if (!loss) return NULL;
  bh_terms_set(terms, "loss", loss->data[0]);
  bh_terms_set(terms, "recon", recon->data[0]);
  bh_terms_set(terms, "kl", kl->data[0]);
  bh_terms_set(terms, "tc", tc->data[0]);
  for (int i = 0; i < v->h.levels; i++) { /* after the totals: the progress line shows those */
    bh_terms_set(terms, kl_name[i], kl_level[i]);
    bh_terms_set(terms, tc_name[i], tc_level[i]);
  }
  return loss;
}

/* Rows of logits [n × 3] whose argmax (ties to the lower class) is `label`. */
static int count_correct(const bh_tensor *logits, int label) {
  int n = bh_tensor_rows(logits), k = 0;
  for (int r = 0; r < n; r++) {
    const float *l = logits->data + (size_t)BV_CLASSES * r;
    int best = 0;
    for (int c = 1; c < BV_CLASSES; c++)
      if (l[c] > l[best]) best = c;
    k += best == label;
  }
  return k;
}

/* The three inputs of D_i for phase 1, all without gradient: the kept z^i, prior samples and
 * the block-permuted z^i, each [n × d(z^i)]. */
static int disc_inputs(bh_bhivae *v, bh_ctx *ctx, int i, bh_rng *rng, bh_tensor *in[3]) {
  int n = v->z0[i].rows, d = v->h.zin[i];
  in[0] = bh_stash_view(ctx, &v->z0[i]);
  in[1] = bh_tensor_new2(ctx, n, d);
  if (!in[0] || !in[1]) return bh_error_code() ? bh_error_code() : BH_ENOMEM;
  bh_blockdiag_sample(v->prior[i], bh_rng_stream(rng, "prior"), n, in[1]->data);
  int widths[BH_HIER_MAX_LEVELS + 256], nb;
  if (v->perm_split) {
    nb = 2, widths[0] = v->h.s[i], widths[1] = d - v->h.s[i];
  } else {
    nb = bh_hier_level_blocks(&v->h, i, widths);
  }
  in[2] = bh_permute_dims(ctx, in[0], nb, widths, bh_rng_stream(rng, "perm"));
  return in[2] ? BH_OK : (bh_error_code() ? bh_error_code() : BH_EINVAL);
}

static bh_tensor *disc_phase(bh_model *m, bh_bhivae *v, bh_ctx *ctx, bh_rng *rng,
                             bh_terms *terms) {
  bh_tensor *d_loss = NULL;
  int correct = 0, rows = 0;
  double level_loss[BH_HIER_MAX_LEVELS];
  for (int i = 0; i < v->h.levels; i++) {
    if (!v->z0[i].rows) {
      bh_error(BH_EINVAL, "%s: phase 1 needs the codes of phase 0 (run phase 0 first)",
               m->cls->name);
      return NULL;
    }
    bh_tensor *in[BV_CLASSES];
    if (disc_inputs(v, ctx, i, rng, in) != BH_OK) return NULL;
    int n = v->z0[i].rows;
    bh_tensor *ce_sum = NULL; /* Σ_c mean_b CE(D_i(in_c), c) [1] */
    for (int c = 0; c < BV_CLASSES; c++) {
      int *labels = bh_ctx_push(ctx, (size_t)n * sizeof(int)); /* alive until backward */
      if (!labels) return NULL;
      for (int r = 0; r < n; r++) labels[r] = c;
      bh_tensor *l = bh_mlp_forward(ctx, v->disc[i], in[c]); /* [n × 3] */
      bh_tensor *ce = bh_mean(ctx, bh_cross_entropy(ctx, l, labels), BH_AXIS_ALL);
      if (!ce) return NULL;
      correct += count_correct(l, c);
      ce_sum = ce_sum ? bh_add(ctx, ce_sum, ce) : ce;
    }
    bh_tensor *d_i = bh_scale(ctx, ce_sum, 1.0f / BV_CLASSES); /* [1] */
    if (!d_i) return NULL;
    level_loss[i] = d_i->data[0];
    rows += BV_CLASSES * n;
    d_loss = d_loss ? bh_add(ctx, d_loss, d_i) : d_i;
  }
  if (!d_loss) return NULL;
  bh_terms_set(terms, "d_loss", d_loss->data[0]);
  bh_terms_set(terms, "d_acc", (double)correct / rows);
  for (int i = 0; i < v->h.levels; i++) bh_terms_set(terms, dl_name[i], level_loss[i]);
  return d_loss;
}

static bh_tensor *bhivae_loss(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *batches,
                              bh_rng *rng, bh_terms *terms) {
  bh_bhivae *v = m->impl;
  if (phase == 0) return main_phase(v, ctx, &batches[0], terms);
  if (phase == 1) return disc_phase(m, v, ctx, rng, terms);
  bh_error(BH_EINVAL, "%s: no update phase %d (phases 0 and 1)", m->cls->name, phase);
  return NULL;
}

static void bhivae_free(bh_bhivae *v) {
  bh_hier_free(&v->h);
  for (int i = 0; i < BH_HIER_MAX_LEVELS; i++) {
    bh_mlp_free(v->disc[i]);
    bh_blockdiag_free(v->prior[i]);
    bh_stash_free(&v->z0[i]);
  }
  free(v);
}

static void bhivae_destroy(bh_model *m) {
  if (m->impl) bhivae_free(m->impl);
  m->impl = NULL;
}

/* D_i: d(z^i) -> layers × hidden LeakyReLU(0.2) -> 3, in group p under "disc<i>.*" */
static bh_mlp *disc_alloc(bh_params *p, int level, int in, int hidden, int layers,
                          gsl_rng *init) {
  int widths[64 + 2];
  char prefix[16];
  widths[0] = in;
  for (int l = 1; l <= layers; l++) widths[l] = hidden;
  widths[layers + 1] = BV_CLASSES;
  snprintf(prefix, sizeof prefix, "disc%d", level + 1);
  return bh_mlp_alloc(p, prefix, layers + 2, widths, bh_act_leaky_relu(0.2f), init);
}

/* The keys of this class, checked; one line naming the key on error. */
static int read_keys(bh_bhivae *v, const bh_config *cfg, long *hidden, long *layers,
                     double *rho) {
  v->beta = bh_config_num(cfg, "beta");
  v->gamma = bh_config_num(cfg, "gamma");
  *rho = bh_config_num(cfg, "rho");
  *hidden = bh_config_int(cfg, "d_hidden");
  *layers = bh_config_int(cfg, "d_layers");
  const char *recon = bh_config_str(cfg, "recon"), *perm = bh_config_str(cfg, "perm");
  if (!isfinite(v->beta) || v->beta < 0)
    return bh_error(BH_EINVAL, "bhivae: key 'beta' must be >= 0 (got %g)", v->beta);
  if (!isfinite(v->gamma) || v->gamma < 0)
    return bh_error(BH_EINVAL, "bhivae: key 'gamma' must be >= 0 (got %g)", v->gamma);
  if (!(*rho > -1.0 && *rho < 1.0))
    return bh_error(BH_EINVAL, "bhivae: key 'rho' must be in (-1, 1) (got %g)", *rho);
  if (*hidden < 1 || *hidden > 1000000)
    return bh_error(BH_EINVAL, "bhivae: key 'd_hidden' must be in 1..1000000 (got %ld)",
                    *hidden);
  if (*layers < 0 || *layers > 64)
    return bh_error(BH_EINVAL, "bhivae: key 'd_layers' must be in 0..64 (got %ld)", *layers);
  if (strcmp(recon, "sum") != 0 && strcmp(recon, "mean") != 0)
    return bh_error(BH_EINVAL, "bhivae: key 'recon' must be 'sum' or 'mean' (got '%s')", recon);
  if (strcmp(perm, "split") != 0 && strcmp(perm, "blocks") != 0)
    return bh_error(BH_EINVAL, "bhivae: key 'perm' must be 'split' or 'blocks' (got '%s')",
                    perm);
  v->recon_sum = strcmp(recon, "sum") == 0;
  v->perm_split = strcmp(perm, "split") == 0;
  return BH_OK;
}

static int bhivae_create(bh_model *m, gsl_rng *init) {
  const bh_config *cfg = m->cfg;
  bh_bhivae *v = calloc(1, sizeof *v);
  if (!v) return bh_error(BH_ENOMEM, "bhivae: out of memory");
  long hidden, layers;
  double rho;
  int st = read_keys(v, cfg, &hidden, &layers, &rho);
  if (st == BH_OK) st = bh_gvae_main_group(m);
  if (st == BH_OK) st = bh_hier_init(&v->h, m, m->group[BV_MAIN], 0, init);
  if (st == BH_OK && !(m->group[BV_DISC] = bh_params_alloc()))
    st = bh_error(BH_ENOMEM, "bhivae: out of memory");
  if (st == BH_OK) m->ngroups = 2; /* bh_model_free releases the groups */
  for (int i = 0; i < v->h.levels && st == BH_OK; i++) {
    v->disc[i] = disc_alloc(m->group[BV_DISC], i, v->h.zin[i], (int)hidden, (int)layers, init);
    if (!v->disc[i]) st = bh_error_code() ? bh_error_code() : BH_EINVAL;
    if (st == BH_OK && !(v->prior[i] = bh_hier_prior_alloc(&v->h, i, rho)))
      st = bh_error(BH_EINVAL, "bhivae: key 'rho' = %g: the prior covariance of z^%d is not "
                    "positive definite", rho, i + 1);
  }
  if (st != BH_OK) {
    bhivae_free(v);
    return st;
  }
  m->group_name[BV_DISC] = "disc";
  m->adam[BV_DISC] = bh_model_adversary_adam(cfg, "d_lr", "d_beta1", "d_beta2");
  m->nphases = 2;
  m->phase_group[0] = BV_MAIN;
  m->phase_group[1] = BV_DISC;
  m->batches_per_step = 1;
  m->z_dim = v->h.z_dim;
  m->impl = v;
  return BH_OK;
}

static const bh_cfg_key bhivae_keys[] = {
    BH_HIER_KEYS,
    {"beta", BH_CFG_NUM, "10",
     "weight on the reconstruction (the relevance term, eq. 15; the paper's Table 1: 10)"},
    {"gamma", BH_CFG_NUM, "3",
     "weight on each level's information separation I(s^i; h^i) (Table 1: 3)"},
    {"rho", BH_CFG_NUM, "0.5", "correlation inside each block of the prior N(0, Sigma) (§4.2)"},
    {"recon", BH_CFG_STR, "sum",
     "reconstruction: 'sum' (Bernoulli NLL summed over pixels) or 'mean' (per pixel) [choice]"},
    {"perm", BH_CFG_STR, "split",
     "product of marginals for the TC: 'split' permutes s^i and h^i across the batch, 'blocks' "
     "every block of z^i [choice]"},
    {"d_lr", BH_CFG_NUM, "1e-4", "discriminators' Adam learning rate"},
    {"d_beta1", BH_CFG_NUM, "0.5", "discriminators' Adam beta1"},
    {"d_beta2", BH_CFG_NUM, "0.9", "discriminators' Adam beta2"},
    {"d_hidden", BH_CFG_INT, "256", "hidden units per layer of each discriminator [choice]"},
    {"d_layers", BH_CFG_INT, "3",
     "hidden layers of each discriminator (LeakyReLU 0.2) [choice: FactorVAE's 6 x 1000 would "
     "triple the step]"},
    {NULL, 0, NULL, NULL}};

const bh_model_class bh_bhivae_class = {
    "bhivae",
    "BHiVAE (unsupervised): beta·recon + sum_i (KL_i + gamma·TC_i), one 3-class discriminator "
    "per level",
    bhivae_keys, bhivae_create, bhivae_loss, bh_hier_class_encode, bh_hier_class_decode,
    bhivae_destroy, bh_hier_class_blocks};
