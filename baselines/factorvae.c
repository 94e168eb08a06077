/* factorvae.c — FactorVAE (Kim & Mnih 2018): a VAE penalised by γ times the total correlation
 * of q(z), estimated with a discriminator D that tells samples of q(z) from samples of ∏_j q(z_j).
 *
 * Phase 0 (group "main": encoder and decoder), batch 0, one sample z ~ q(z|x) per example:
 *     TC     ≈ mean_b [D(z)_0 − D(z)_1]        (= log D/(1 − D), class 0 = joint sample of q(z))
 *     loss   = mean_b [recon + kl] + γ·TC
 * Phase 1 (group "disc": D), z' ~ q(z|x') for batch 1 (batch 0 when two_batches = 0), encoded
 * with the parameters after phase 0's update (as 1Konny's solver does) and without gradients:
 *     d_loss = ½ [mean_b CE(D(z), 0) + mean_b CE(D(perm(z')), 1)]
 * where z is phase 0's sample (a copy kept in the model) and perm permutes every latent
 * dimension independently across the batch (the "perm" stream; bh_permute_dims).
 *
 * The VAE loss back-propagates through D into the encoder, but D's parameters do not learn from
 * it: the training loop (models/train.c) freezes every group but the phase's own, so in phase 0
 * D's parameters take no gradient, and in phase 1 the encoder none.
 *
 * D is disentanglement_lib's fc_discriminator (FactorVAE Appendix A): z_dim → d_layers × d_hidden
 * LeakyReLU(0.2) → 2 logits, PyTorch's default initialisation; its own Adam (d_lr, d_beta1,
 * d_beta2), with the common adam_eps and no weight decay.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "baselines/baselines.h"
#include "baselines/vae.h"
#include "core/error.h"
#include "core/layers.h"
#include "core/ops.h"
#include "core/rng.h"

enum { FV_MAIN = 0, FV_DISC = 1 };

typedef struct bh_factorvae {
  bh_gvae g;      /* first: bh_gvae_class_encode/decode read it */
  bh_mlp *disc;   /* D: z [n × z_dim] -> logits [n × 2] */
  double gamma;   /* weight on the TC */
  bh_stash z0; /* phase 0's sample z [n0 × z_dim], for phase 1 */
} bh_factorvae;

/* mean_b [D(z)_0 − D(z)_1], from D's logits [n × 2] -> [1] */
static bh_tensor *tc_estimate(bh_ctx *ctx, bh_tensor *logits) {
  bh_tensor *diff = bh_sub(ctx, bh_slice(ctx, logits, 0, 1), bh_slice(ctx, logits, 1, 1));
  return bh_mean(ctx, diff, BH_AXIS_ALL);
}

static bh_tensor *vae_phase(bh_factorvae *f, bh_ctx *ctx, const bh_batch *batch, bh_rng *rng,
                            bh_terms *terms) {
  bh_gvae_pass p;
  bh_tensor *recon, *kl; /* [1] each */
  if (bh_gvae_elbo(&f->g, ctx, batch, rng, &p, &recon, &kl) != BH_OK) return NULL;
  bh_tensor *tc = tc_estimate(ctx, bh_mlp_forward(ctx, f->disc, p.z));             /* [1] */
  bh_tensor *loss = bh_add(ctx, bh_add(ctx, recon, kl), bh_scale(ctx, tc, (float)f->gamma));
  if (!loss || bh_stash_put(&f->z0, p.z) != BH_OK) return NULL;
  bh_terms_set(terms, "loss", loss->data[0]);
  bh_terms_set(terms, "recon", recon->data[0]);
  bh_terms_set(terms, "kl", kl->data[0]);
  bh_terms_set(terms, "tc", tc->data[0]);
  return loss;
}

/* z' ~ q(z|x') of a batch, then perm(z'), all without gradients: [n × z_dim] */
static bh_tensor *permuted_sample(bh_factorvae *f, bh_ctx *ctx, const bh_batch *batch,
                                  bh_rng *rng) {
  int was = bh_ctx_set_grad(ctx, 0);
  bh_tensor *mu = NULL, *logvar = NULL, *zp = NULL;
  if (bh_gvae_encode(&f->g, ctx, bh_gvae_images(ctx, &f->g, batch), &mu, &logvar) == BH_OK) {
    zp = bh_reparam(ctx, mu, logvar, bh_rng_stream(rng, "noise"));
    zp = bh_permute_dims(ctx, zp, f->g.z_dim, NULL, bh_rng_stream(rng, "perm"));
  }
  bh_ctx_set_grad(ctx, was);
  return zp;
}

/* Rows of logits [n × 2] that D classifies as `label` (argmax, ties to class 0). */
static int count_correct(const bh_tensor *logits, int label) {
  int n = bh_tensor_rows(logits), k = 0;
  for (int i = 0; i < n; i++) k += ((logits->data[2 * i + 1] > logits->data[2 * i]) == label);
  return k;
}

static int *constant_labels(bh_ctx *ctx, int n, int label) {
  int *l = bh_ctx_push(ctx, (size_t)n * sizeof(int));
  if (l)
    for (int i = 0; i < n; i++) l[i] = label;
  return l;
}

static bh_tensor *disc_phase(bh_model *m, bh_factorvae *f, bh_ctx *ctx, const bh_batch *batch,
                             bh_rng *rng, bh_terms *terms) {
  if (!f->z0.rows) {
    bh_error(BH_EINVAL, "%s: phase 1 needs the sample of phase 0 (run phase 0 first)",
             m->cls->name);
    return NULL;
  }
  bh_tensor *z = bh_stash_view(ctx, &f->z0);           /* [n0 × z_dim], no gradient */
  bh_tensor *zp = permuted_sample(f, ctx, batch, rng);      /* [n1 × z_dim], no gradient */
  if (!z || !zp) return NULL;
  int n0 = f->z0.rows, n1 = bh_tensor_rows(zp);
  int *joint = constant_labels(ctx, n0, 0), *perm = constant_labels(ctx, n1, 1);
  if (!joint || !perm) return NULL;
  bh_tensor *d_joint = bh_mlp_forward(ctx, f->disc, z); /* [n0 × 2] */
  bh_tensor *d_perm = bh_mlp_forward(ctx, f->disc, zp); /* [n1 × 2] */
  bh_tensor *ce_joint = bh_mean(ctx, bh_cross_entropy(ctx, d_joint, joint), BH_AXIS_ALL);
  bh_tensor *ce_perm = bh_mean(ctx, bh_cross_entropy(ctx, d_perm, perm), BH_AXIS_ALL);
  bh_tensor *d_loss = bh_scale(ctx, bh_add(ctx, ce_joint, ce_perm), 0.5f); /* [1] */
  if (!d_loss) return NULL;
  double acc = (double)(count_correct(d_joint, 0) + count_correct(d_perm, 1)) / (n0 + n1);
  bh_terms_set(terms, "d_loss", d_loss->data[0]);
  bh_terms_set(terms, "d_acc", acc);
  return d_loss;
}

static bh_tensor *factorvae_loss(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *batches,
                                 bh_rng *rng, bh_terms *terms) {
  bh_factorvae *f = m->impl;
  if (phase == 0) return vae_phase(f, ctx, &batches[0], rng, terms);
  if (phase == 1) return disc_phase(m, f, ctx, &batches[m->batches_per_step - 1], rng, terms);
  bh_error(BH_EINVAL, "%s: no update phase %d (phases 0 and 1)", m->cls->name, phase);
  return NULL;
}

static void factorvae_destroy(bh_model *m) {
  bh_factorvae *f = m->impl;
  if (!f) return;
  bh_gvae_free(&f->g);
  bh_mlp_free(f->disc);
  bh_stash_free(&f->z0);
  free(f);
  m->impl = NULL;
}

/* D: z_dim -> d_layers × d_hidden LeakyReLU(0.2) -> 2, in group "disc" under "disc.*" */
static bh_mlp *disc_alloc(bh_params *p, int z_dim, int hidden, int layers, gsl_rng *init) {
  int *widths = malloc((size_t)(layers + 2) * sizeof(int));
  if (!widths) {
    bh_error(BH_ENOMEM, "factorvae: out of memory");
    return NULL;
  }
  widths[0] = z_dim;
  for (int l = 1; l <= layers; l++) widths[l] = hidden;
  widths[layers + 1] = 2;
  bh_mlp *d = bh_mlp_alloc(p, "disc", layers + 2, widths, bh_act_leaky_relu(0.2f), init);
  free(widths);
  return d;
}

static int factorvae_create(bh_model *m, gsl_rng *init) {
  const bh_config *cfg = m->cfg;
  double gamma = bh_config_num(cfg, "gamma");
  long hidden = bh_config_int(cfg, "d_hidden"), layers = bh_config_int(cfg, "d_layers");
  if (!isfinite(gamma) || gamma < 0)
    return bh_error(BH_EINVAL, "factorvae: key 'gamma' must be >= 0 (got %g)", gamma);
  if (hidden < 1 || hidden > 1000000)
    return bh_error(BH_EINVAL, "factorvae: key 'd_hidden' must be in 1..1000000 (got %ld)",
                    hidden);
  if (layers < 0 || layers > 64)
    return bh_error(BH_EINVAL, "factorvae: key 'd_layers' must be in 0..64 (got %ld)", layers);

  bh_factorvae *f = calloc(1, sizeof *f);
  if (!f) return bh_error(BH_ENOMEM, "factorvae: out of memory");
  int st = bh_gvae_main_group(m);
  if (st == BH_OK) st = bh_gvae_init(&f->g, m, m->group[FV_MAIN], init);
  if (st == BH_OK && !(m->group[FV_DISC] = bh_params_alloc()))
    st = bh_error(BH_ENOMEM, "factorvae: out of memory");
  if (st == BH_OK) {
    m->ngroups = 2;
    f->disc = disc_alloc(m->group[FV_DISC], f->g.z_dim, (int)hidden, (int)layers, init);
    if (!f->disc) st = bh_error_code() ? bh_error_code() : BH_EINVAL;
  }
  if (st != BH_OK) {
    bh_gvae_free(&f->g);
    free(f);
    return st;
  }
  f->gamma = gamma;

  m->group_name[FV_DISC] = "disc";
  m->adam[FV_DISC] = bh_model_adversary_adam(cfg, "d_lr", "d_beta1", "d_beta2");
  m->nphases = 2;
  m->phase_group[0] = FV_MAIN;
  m->phase_group[1] = FV_DISC;
  m->batches_per_step = bh_config_int(cfg, "two_batches") ? 2 : 1;
  m->z_dim = f->g.z_dim;
  m->impl = f;
  return BH_OK;
}

static const bh_cfg_key factorvae_keys[] = {
    {"gamma", BH_CFG_NUM, "7", "weight on the total correlation (7: the paper's Table 1 setting)"},
    {"d_lr", BH_CFG_NUM, "1e-4", "discriminator Adam learning rate"},
    {"d_beta1", BH_CFG_NUM, "0.5", "discriminator Adam beta1"},
    {"d_beta2", BH_CFG_NUM, "0.9", "discriminator Adam beta2"},
    {"d_hidden", BH_CFG_INT, "1000", "discriminator hidden units per layer"},
    {"d_layers", BH_CFG_INT, "6", "discriminator hidden layers (LeakyReLU 0.2)"},
    {"two_batches", BH_CFG_BOOL, "1",
     "1: the discriminator's permuted sample comes from a second batch (the paper's Algorithm 2); "
     "0: from the VAE's batch"},
    {NULL, 0, NULL, NULL}};

const bh_model_class bh_factorvae_class = {
    "factorvae", "FactorVAE (Kim & Mnih): VAE + gamma·TC through a discriminator",
    factorvae_keys, factorvae_create, factorvae_loss, bh_gvae_class_encode,
    bh_gvae_class_decode, factorvae_destroy, NULL};
