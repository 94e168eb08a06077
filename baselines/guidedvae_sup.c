/* guidedvae_sup.c — supervised Guided-VAE (Ding et al., CVPR 2020; official code suGuidedVAE):
 * a Gaussian VAE (baselines/vae.h) in which attribute a (a = 0..A−1) owns latent z[a]:
 * an excitation head E_a reads z[a] and must predict the attribute, an inhibition adversary D_a
 * reads the other latents z[j ≠ a] and the encoder is trained to leave it maximally uncertain.
 *
 * Attributes (key "attributes", a label spec of models/labels.h): "labels" (the class label,
 * K = nclasses), "attrs:i,j,..." (binary attributes by index, K = 2), "factors:i,j,..."
 * (ground-truth factors by index, K = factor size), an index "=v" for the binary [value == v];
 * "auto" = labels when the data has classes, else factors:1,2 (dSprites shape and scale) when it
 * has at least 3 factors, else attrs:0.
 *
 * Three update phases per step, as the official code (w = w_cls, CE = categorical
 * cross-entropy; the official binary BCE on one sigmoid logit is the K = 2 case up to the
 * parametrisation of the logits):
 *   phase 0 (group "main": encoder, decoder, excitation heads), z ~ q(z|x):
 *       loss    = mean_b [recon + kl] + w·Σ_a mean_b CE(E_a(z[a]), y_a)       ("excite")
 *   phase 1 (group "adv": the adversaries), on phase 0's z, detached (a copy kept here):
 *       adv_loss = w·Σ_a mean_b CE(D_a(z[others]), y_a)
 *   phase 2 (group "main"), x re-encoded with the updated encoder, a fresh z:
 *       inhibit = w·w_inhibit·Σ_a mean_b CE(D_a(z[others]), uniform)   (w_inhibit = 1),
 *       CE(l, uniform) = −(1/K) Σ_k log softmax(l)_k  (≥ log K, = log K at equal logits).
 * The official code sums over the batch; here every term is a batch mean, so w_cls = 200
 * weighs the classifiers against recon + kl as the official does (both sides scale by 1/n).
 *
 * Heads: MLP 1 → head_hidden → head_hidden → K (E_a) and (z_dim − 1) → head_hidden →
 * head_hidden → K (D_a), LeakyReLU(0.2), PyTorch default init.  The official heads have
 * BatchNorm after each hidden linear layer; the tensor core has no BatchNorm, so it is omitted.
 * The adversaries have their own Adam (lr adv_lr, L2 weight decay adv_wd, as the official).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baselines/baselines.h"
#include "baselines/vae.h"
#include "core/error.h"
#include "core/layers.h"
#include "core/ops.h"
#include "core/rng.h"
#include "models/labels.h"

#define GS_NAME "guidedvae-sup"
#define GS_MAX_ATTRS BH_LABEL_MAX

enum { GS_MAIN = 0, GS_ADV = 1 };

typedef struct bh_guidedvae_sup {
  bh_gvae g;                    /* first: bh_gvae_class_encode/decode read it */
  bh_label_spec attr;           /* the A = attr.n attributes, K_a = attr.k[a] classes each */
  bh_mlp *exc[GS_MAX_ATTRS];    /* E_a: z[a] [n × 1] -> [n × K_a], group main */
  bh_mlp *adv[GS_MAX_ATTRS];    /* D_a: z[others] [n × (z_dim−1)] -> [n × K_a], group adv */
  double w_cls;
  double w_inhibit;             /* factor on the inhibition phase (1; 0 = ablation) */
  bh_stash z0;                  /* phase 0's z [n × z_dim], for phase 1 */
} bh_guidedvae_sup;

/* ---- attributes ---- */

/* The default of key "attributes" for data d: the class label, else dSprites' shape and scale,
 * else the first binary attribute */
static const char *attributes_auto(const bh_data_info *d) {
  return d->nclasses > 0 ? "labels" : d->nfactors >= 3 ? "factors:1,2" : "attrs:0";
}

/* ---- pieces of the losses ---- */

/* z [n × d] -> the columns other than a [n × (d − 1)] */
static bh_tensor *other_dims(bh_ctx *ctx, bh_tensor *z, int a, int d) {
  bh_tensor *parts[2];
  int k = 0;
  if (a > 0) parts[k++] = bh_slice(ctx, z, 0, a);
  if (a < d - 1) parts[k++] = bh_slice(ctx, z, a + 1, d - 1 - a);
  return k == 1 ? parts[0] : bh_concat(ctx, parts, k);
}

/* logits [n × K] -> [1]: mean_b −(1/K) Σ_k log softmax(l_b)_k, the cross-entropy against the
 * uniform distribution */
static bh_tensor *uniform_ce(bh_ctx *ctx, bh_tensor *logits) {
  if (!logits) return NULL;
  int k = (int)bh_tensor_cols(logits);
  bh_tensor *s = bh_sum(ctx, bh_log_softmax(ctx, logits), BH_AXIS_COLS); /* [n] */
  return bh_scale(ctx, bh_mean(ctx, s, BH_AXIS_ALL), -1.0f / (float)k);
}

/* rows of logits [n × K] whose argmax (first on ties) is y */
static int count_correct(const bh_tensor *logits, const int *y) {
  int n = bh_tensor_rows(logits), k = (int)bh_tensor_cols(logits), c = 0;
  for (int i = 0; i < n; i++) {
    const float *l = logits->data + (size_t)i * k;
    int best = 0;
    for (int j = 1; j < k; j++)
      if (l[j] > l[best]) best = j;
    c += best == y[i];
  }
  return c;
}

/* ---- the three phases ---- */

static bh_tensor *excite_phase(bh_model *m, bh_guidedvae_sup *s, bh_ctx *ctx, const bh_batch *b,
                               bh_rng *rng, bh_terms *terms) {
  bh_gvae_pass p;
  bh_tensor *recon, *kl; /* [1] each */
  if (bh_gvae_elbo(&s->g, ctx, b, rng, &p, &recon, &kl) != BH_OK) return NULL;
  bh_tensor *excite = NULL;
  int correct = 0;
  for (int a = 0; a < s->attr.n; a++) {
    int *y = bh_label_spec_batch(&s->attr, a, &m->data, ctx, b, GS_NAME); /* [n] */
    if (!y) return NULL;
    bh_tensor *l = bh_mlp_forward(ctx, s->exc[a], bh_slice(ctx, p.z, a, 1)); /* [n × K] */
    bh_tensor *ce = bh_mean(ctx, bh_cross_entropy(ctx, l, y), BH_AXIS_ALL);  /* [1] */
    if (!ce) return NULL;
    correct += count_correct(l, y);
    excite = excite ? bh_add(ctx, excite, ce) : ce;
  }
  excite = bh_scale(ctx, excite, (float)s->w_cls);
  bh_tensor *loss = bh_add(ctx, bh_add(ctx, recon, kl), excite);
  if (!loss || bh_stash_put(&s->z0, p.z) != BH_OK) return NULL;
  bh_terms_set(terms, "loss", loss->data[0]);
  bh_terms_set(terms, "recon", recon->data[0]);
  bh_terms_set(terms, "kl", kl->data[0]);
  bh_terms_set(terms, "excite", excite->data[0]);
  bh_terms_set(terms, "excite_acc", (double)correct / ((double)b->n * s->attr.n));
  return loss;
}

static bh_tensor *adversary_phase(bh_model *m, bh_guidedvae_sup *s, bh_ctx *ctx,
                                  const bh_batch *b, bh_terms *terms) {
  if (!s->z0.rows || s->z0.rows != b->n) {
    bh_error(BH_EINVAL, GS_NAME ": phase 1 needs the sample of phase 0 (run phase 0 first)");
    return NULL;
  }
  bh_tensor *z = bh_stash_view(ctx, &s->z0); /* [n × z_dim], no gradient */
  bh_tensor *total = NULL;
  int correct = 0;
  for (int a = 0; a < s->attr.n && z; a++) {
    int *y = bh_label_spec_batch(&s->attr, a, &m->data, ctx, b, GS_NAME); /* [n] */
    if (!y) return NULL;
    bh_tensor *l = bh_mlp_forward(ctx, s->adv[a], other_dims(ctx, z, a, s->g.z_dim));
    bh_tensor *ce = bh_mean(ctx, bh_cross_entropy(ctx, l, y), BH_AXIS_ALL);
    if (!ce) return NULL;
    correct += count_correct(l, y);
    total = total ? bh_add(ctx, total, ce) : ce;
  }
  bh_tensor *loss = bh_scale(ctx, total, (float)s->w_cls);
  if (!loss) return NULL;
  bh_terms_set(terms, "adv_loss", loss->data[0]);
  bh_terms_set(terms, "adv_acc", (double)correct / ((double)b->n * s->attr.n));
  return loss;
}

static bh_tensor *inhibit_phase(bh_guidedvae_sup *s, bh_ctx *ctx, const bh_batch *b,
                                bh_rng *rng, bh_terms *terms) {
  bh_tensor *mu = NULL, *logvar = NULL;
  if (bh_gvae_encode(&s->g, ctx, bh_gvae_images(ctx, &s->g, b), &mu, &logvar) != BH_OK)
    return NULL;
  bh_tensor *z = bh_reparam(ctx, mu, logvar, bh_rng_stream(rng, "noise")); /* [n × z_dim] */
  bh_tensor *total = NULL;
  for (int a = 0; a < s->attr.n && z; a++) {
    bh_tensor *ce =
        uniform_ce(ctx, bh_mlp_forward(ctx, s->adv[a], other_dims(ctx, z, a, s->g.z_dim)));
    if (!ce) return NULL;
    total = total ? bh_add(ctx, total, ce) : ce;
  }
  bh_tensor *loss = bh_scale(ctx, total, (float)(s->w_cls * s->w_inhibit));
  if (!loss) return NULL;
  bh_terms_set(terms, "inhibit", loss->data[0]);
  return loss;
}

static bh_tensor *guidedvae_sup_loss(bh_model *m, bh_ctx *ctx, int phase,
                                     const bh_batch *batches, bh_rng *rng, bh_terms *terms) {
  bh_guidedvae_sup *s = m->impl;
  if (phase == 0) return excite_phase(m, s, ctx, &batches[0], rng, terms);
  if (phase == 1) return adversary_phase(m, s, ctx, &batches[0], terms);
  if (phase == 2) return inhibit_phase(s, ctx, &batches[0], rng, terms);
  bh_error(BH_EINVAL, GS_NAME ": no update phase %d (phases 0, 1, 2)", phase);
  return NULL;
}

/* ---- life cycle ---- */

static void guidedvae_sup_destroy(bh_model *m) {
  bh_guidedvae_sup *s = m->impl;
  if (!s) return;
  bh_gvae_free(&s->g);
  for (int a = 0; a < GS_MAX_ATTRS; a++) bh_mlp_free(s->exc[a]), bh_mlp_free(s->adv[a]);
  bh_stash_free(&s->z0);
  free(s);
  m->impl = NULL;
}

/* in -> hidden -> hidden -> k, LeakyReLU(0.2), under "<prefix><a>" */
static bh_mlp *head_alloc(bh_params *p, const char *prefix, int a, int in, int hidden, int k,
                          gsl_rng *init) {
  char name[32];
  snprintf(name, sizeof name, "%s%d", prefix, a);
  int widths[4] = {in, hidden, hidden, k};
  return bh_mlp_alloc(p, name, 4, widths, bh_act_leaky_relu(0.2f), init);
}

static int guidedvae_sup_create(bh_model *m, gsl_rng *init) {
  const bh_config *cfg = m->cfg;
  double w_cls = bh_config_num(cfg, "w_cls");
  long hidden = bh_config_int(cfg, "head_hidden");
  double w_inh = bh_config_num(cfg, "w_inhibit");
  if (!isfinite(w_inh) || w_inh < 0)
    return bh_error(BH_EINVAL, GS_NAME ": key 'w_inhibit' must be >= 0 (got %g)", w_inh);
  if (!isfinite(w_cls) || w_cls < 0)
    return bh_error(BH_EINVAL, GS_NAME ": key 'w_cls' must be >= 0 (got %g)", w_cls);
  if (hidden < 1 || hidden > 100000)
    return bh_error(BH_EINVAL, GS_NAME ": key 'head_hidden' must be in 1..100000 (got %ld)",
                    hidden);
  bh_guidedvae_sup *s = calloc(1, sizeof *s);
  if (!s) return bh_error(BH_ENOMEM, GS_NAME ": out of memory");
  m->impl = s; /* so that a failure can be undone by guidedvae_sup_destroy */
  s->w_cls = w_cls;
  s->w_inhibit = w_inh;
  int st = bh_label_spec_parse(&s->attr, bh_config_str(cfg, "attributes"),
                               attributes_auto(&m->data), &m->data, GS_NAME, "attributes");
  long z_dim = bh_config_int(cfg, "z_dim");
  if (st == BH_OK && z_dim < s->attr.n + 1)
    st = bh_error(BH_EINVAL, GS_NAME ": key 'z_dim' (%ld) must exceed the number of attributes "
                  "(%d): one latent per attribute and at least one other", z_dim, s->attr.n);
  if (st == BH_OK) st = bh_gvae_main_group(m);
  if (st == BH_OK) st = bh_gvae_init(&s->g, m, m->group[GS_MAIN], init);
  if (st == BH_OK && !(m->group[GS_ADV] = bh_params_alloc()))
    st = bh_error(BH_ENOMEM, GS_NAME ": out of memory");
  if (st == BH_OK) m->ngroups = 2;
  for (int a = 0; st == BH_OK && a < s->attr.n; a++) {
    int k = s->attr.k[a];
    s->exc[a] = head_alloc(m->group[GS_MAIN], "excite", a, 1, (int)hidden, k, init);
    s->adv[a] =
        s->exc[a] ? head_alloc(m->group[GS_ADV], "adv", a, s->g.z_dim - 1, (int)hidden, k, init)
                  : NULL;
    if (!s->adv[a]) st = bh_error_code() ? bh_error_code() : BH_EINVAL;
  }
  if (st != BH_OK) {
    guidedvae_sup_destroy(m);
    return st;
  }
  bh_adam_config d = bh_model_main_adam(cfg);
  d.lr = bh_config_num(cfg, "adv_lr");
  d.weight_decay = bh_config_num(cfg, "adv_wd");
  d.decoupled = 0; /* PyTorch Adam's L2 weight decay, as the official */
  m->group_name[GS_ADV] = "adv";
  m->adam[GS_ADV] = d;
  m->nphases = 3;
  m->phase_group[0] = GS_MAIN;
  m->phase_group[1] = GS_ADV;
  m->phase_group[2] = GS_MAIN;
  m->batches_per_step = 1;
  m->z_dim = s->g.z_dim;
  return BH_OK;
}

static const bh_cfg_key guidedvae_sup_keys[] = {
    {"attributes", BH_CFG_STR, "auto",
     "supervised attributes, one latent each (z[0], z[1], ...): labels | attrs:i,j,... | "
     "factors:i,j,... (an index may carry =v: the binary [value == v]) | auto (labels if the "
     "data has classes, else factors:1,2, else attrs:0)"},
    {"w_cls", BH_CFG_NUM, "200",
     "weight on the excitation, adversary and inhibition cross-entropies (200: the official; "
     "batch means here, sums there, on both sides of the loss)"},
    {"w_inhibit", BH_CFG_NUM, "1",
     "factor on the inhibition phase's weight w_cls (1: the official; 0: no inhibition, an "
     "ablation)"},
    {"adv_lr", BH_CFG_NUM, "1e-4", "inhibition adversaries' Adam learning rate"},
    {"adv_wd", BH_CFG_NUM, "1e-4", "inhibition adversaries' L2 weight decay (the official)"},
    {"head_hidden", BH_CFG_INT, "32", "hidden units of the excitation and adversary MLPs"},
    {NULL, 0, NULL, NULL}};

const bh_model_class bh_guidedvae_sup_class = {
    "guidedvae-sup",
    "supervised Guided-VAE (Ding et al.): excitation on z[a], inhibition adversary on the rest",
    guidedvae_sup_keys, guidedvae_sup_create, guidedvae_sup_loss, bh_gvae_class_encode,
    bh_gvae_class_decode, guidedvae_sup_destroy, NULL};
