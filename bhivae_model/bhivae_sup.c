/* bhivae_sup.c — supervised BHiVAE (paper §3.2.1, §4.3; design/bhivae-spec.md §3).
 *
 * The blocked hierarchy of hier.h with stochastic blocks: level i (i = 1..L) reads h^{i-1}
 * (h^0 = x) and gives
 *     q(s^i | h^{i-1}) = N(μ_i, diag σ_i²),  s^i = μ_i + σ_i·ε  (the "noise" stream),
 *     h^i deterministic,                      z = (s^1; ...; s^L; c^L = h^L).
 * The first A levels (A ≤ L, key "attributes") each carry a label y^i with K_i classes; levels
 * beyond A have none and keep only their prior term ("none": A = 0, no classifier at all).
 *
 * Phase 0 (group "main": encoder, decoder, classifiers C_i, projections P_i), one batch:
 *     loss = mean_b −log p(x | z)                                   ("recon", Bernoulli, Σ pixels)
 *          + Σ_{i≤L} mean_b KL(q(s^i | h^{i-1}) ‖ p(s))              ("kl", closed form)
 *          + β · Σ_{i≤A} mean_b CE(C_i(s^i), y^i)                    ("cls", excitation, eq. 9)
 *          + γ · Σ_{i≤A} mean_b −H(softmax(A_i(h^i)))                ("neg_ent", eq. 10)
 *   p(s) = N(0, I) (prior "std", [choice], the spec) or N(0, Σ) with 1 on the diagonal and ρ off
 *   it over the whole block s^i (prior "block": the unsupervised model's correlated prior).
 *   The logged "cls" and "neg_ent" are the unweighted sums, so loss = recon + kl + β·cls +
 *   γ·neg_ent; "acc" is C_i's argmax accuracy on the sampled s^i over all labelled levels;
 *   "kl<i>", "cls<i>", "acc<i>" per level (levels 1..5).  −H reaches its minimum −log K_i when
 *   A_i's prediction from h^i is uniform.
 * Phase 1 (group "adv": the adversaries A_i), on phase 0's h^i, detached (a copy kept here):
 *     adv_loss = Σ_{i≤A} mean_b CE(A_i(h^i), y^i)
 *   The training loop freezes "adv" in phase 0 (the encoder moves A_i's input, never A_i) and
 *   "main" in phase 1.
 *
 * shared_classifier = 1 (the paper's literal "h^i shares the classifier C_i", spec §3): no
 * adversary and no phase 1; h^i goes through a learned linear projection P_i: d(h^i) → d(s^i)
 * (group main) and the entropy term reads C_i(P_i(h^i)).  The whole phase-0 objective is
 * minimised over group main, C_i included (one objective, as the paper writes it), so C_i is
 * asked to be certain on s^i and uncertain on P_i(h^i).  Caveat: P_i may collapse h^i to a
 * point where C_i is uncertain, so this variant is weaker than the adversary; it exists for the
 * comparison.
 *
 * Networks: C_i: d(s^i) → cls_hidden → cls_hidden → K_i, A_i: d(h^i) → cls_hidden → cls_hidden
 * → K_i, LeakyReLU(0.2), PyTorch default init.  The adversaries have their own Adam (adv_lr,
 * adv_beta1, adv_beta2, common adam_eps, no weight decay).
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
#include "models/labels.h"

#define BS_NAME "bhivae-sup"
#define BS_MAX_LEVELS BH_HIER_MAX_LEVELS
#define BS_TERM_LEVELS 5 /* per-level terms for the first 5 levels (BH_TERMS_MAX) */

enum { BS_MAIN = 0, BS_ADV = 1 };

typedef struct bh_bhivae_sup {
  bh_hier hier;                       /* first: bh_hier_class_encode/decode/blocks read it */
  bh_label_spec labels;               /* entry i = the label of level i+1 */
  int nlab;                           /* A */
  int shared;                         /* shared_classifier */
  double beta, gamma;
  bh_blockdiag *prior[BS_MAX_LEVELS]; /* prior "block": N(0, Σ) of s^i; NULL: N(0, I) */
  bh_mlp *cls[BS_MAX_LEVELS];         /* C_i: s^i [n × d(s^i)] -> [n × K_i], group main */
  bh_mlp *adv[BS_MAX_LEVELS];         /* A_i: h^i [n × d(h^i)] -> [n × K_i], group adv */
  bh_linear_layer proj[BS_MAX_LEVELS];/* shared only: P_i: h^i -> [n × d(s^i)], group main */
  bh_stash h0[BS_MAX_LEVELS];         /* phase 0's h^i, for phase 1 */
} bh_bhivae_sup;

static const char *const kl_name[BS_TERM_LEVELS] = {"kl1", "kl2", "kl3", "kl4", "kl5"};
static const char *const cls_name[BS_TERM_LEVELS] = {"cls1", "cls2", "cls3", "cls4", "cls5"};
static const char *const acc_name[BS_TERM_LEVELS] = {"acc1", "acc2", "acc3", "acc4", "acc5"};

/* ---- pieces ---- */

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

/* mean_b KL(N(μ, diag e^lv) ‖ p(s)) of level i -> [1] */
static bh_tensor *level_kl(const bh_bhivae_sup *s, bh_ctx *ctx, const bh_hier_pass *p, int i) {
  bh_tensor *kl = s->prior[i] ? bh_kl_normal_blockdiag(ctx, p->s_mu[i], p->s_logvar[i], s->prior[i])
                              : bh_kl_normal_std(ctx, p->s_mu[i], p->s_logvar[i]); /* [n] */
  return bh_mean(ctx, kl, BH_AXIS_ALL);
}

/* mean_b −H(softmax(logits)) -> [1] */
static bh_tensor *neg_entropy(bh_ctx *ctx, bh_tensor *logits) {
  return bh_scale(ctx, bh_mean(ctx, bh_softmax_entropy(ctx, logits), BH_AXIS_ALL), -1.0f);
}

static bh_tensor *sum_or(bh_ctx *ctx, bh_tensor *acc, bh_tensor *t) {
  return acc ? bh_add(ctx, acc, t) : t;
}

/* ---- phase 0: recon + Σ KL + β·Σ CE + γ·Σ(−H) ---- */

static bh_tensor *main_phase(bh_model *m, bh_bhivae_sup *s, bh_ctx *ctx, const bh_batch *b,
                             bh_rng *rng, bh_terms *terms) {
  const bh_hier *hr = &s->hier;
  bh_hier_pass p;
  if (bh_hier_encode(hr, ctx, bh_hier_images(ctx, hr, b), bh_rng_stream(rng, "noise"), &p) !=
      BH_OK)
    return NULL;
  bh_tensor *recon = bh_hier_recon_mean(ctx, bh_hier_decode(hr, ctx, p.code), b->x); /* [1] */
  bh_tensor *kl = NULL, *cls = NULL, *nent = NULL;
  double kl_lv[BS_MAX_LEVELS], cls_lv[BS_MAX_LEVELS], acc_lv[BS_MAX_LEVELS];
  int correct = 0;
  for (int i = 0; i < hr->levels; i++) {
    bh_tensor *kl_i = level_kl(s, ctx, &p, i);
    if (!kl_i) return NULL;
    kl_lv[i] = kl_i->data[0];
    kl = sum_or(ctx, kl, kl_i);
    if (i >= s->nlab) continue; /* unlabelled level: its KL only */
    int *y = bh_label_spec_batch(&s->labels, i, &m->data, ctx, b, BS_NAME);
    if (!y) return NULL;
    bh_tensor *lc = bh_mlp_forward(ctx, s->cls[i], p.s[i]);                  /* [n × K_i] */
    bh_tensor *ce = bh_mean(ctx, bh_cross_entropy(ctx, lc, y), BH_AXIS_ALL); /* [1] */
    bh_tensor *la = s->shared ? bh_mlp_forward(ctx, s->cls[i],
                                               bh_linear_layer_forward(ctx, &s->proj[i], p.h[i]))
                              : bh_mlp_forward(ctx, s->adv[i], p.h[i]);      /* [n × K_i] */
    bh_tensor *ne = neg_entropy(ctx, la);                                    /* [1] */
    if (!ce || !ne) return NULL;
    int c = count_correct(lc, y);
    correct += c;
    cls_lv[i] = ce->data[0], acc_lv[i] = (double)c / b->n;
    cls = sum_or(ctx, cls, ce);
    nent = sum_or(ctx, nent, ne);
    if (!s->shared && bh_stash_put(&s->h0[i], p.h[i]) != BH_OK) return NULL;
  }
  bh_tensor *loss = bh_add(ctx, recon, kl);
  if (cls)
    loss = bh_add(ctx, bh_add(ctx, loss, bh_scale(ctx, cls, (float)s->beta)),
                  bh_scale(ctx, nent, (float)s->gamma));
  if (!loss) return NULL;
  bh_terms_set(terms, "loss", loss->data[0]);
  bh_terms_set(terms, "recon", recon->data[0]);
  bh_terms_set(terms, "kl", kl->data[0]);
  if (cls) {
    bh_terms_set(terms, "cls", cls->data[0]);
    bh_terms_set(terms, "neg_ent", nent->data[0]);
    bh_terms_set(terms, "acc", (double)correct / ((double)b->n * s->nlab));
  }
  for (int i = 0; i < hr->levels && i < BS_TERM_LEVELS; i++) { /* after the totals: the
                                                                  progress line shows those */
    bh_terms_set(terms, kl_name[i], kl_lv[i]);
    if (i >= s->nlab) continue;
    bh_terms_set(terms, cls_name[i], cls_lv[i]);
    bh_terms_set(terms, acc_name[i], acc_lv[i]);
  }
  return loss;
}

/* ---- phase 1: the adversaries learn to read y^i from the detached h^i ---- */

static bh_tensor *adversary_phase(bh_model *m, bh_bhivae_sup *s, bh_ctx *ctx, const bh_batch *b,
                                  bh_terms *terms) {
  bh_tensor *total = NULL;
  int correct = 0;
  for (int i = 0; i < s->nlab; i++) {
    if (s->h0[i].rows != b->n) {
      bh_error(BH_EINVAL, BS_NAME ": phase 1 needs h^%d of phase 0 (run phase 0 first)", i + 1);
      return NULL;
    }
    int *y = bh_label_spec_batch(&s->labels, i, &m->data, ctx, b, BS_NAME);
    if (!y) return NULL;
    bh_tensor *h = bh_stash_view(ctx, &s->h0[i]);                           /* no gradient */
    bh_tensor *la = bh_mlp_forward(ctx, s->adv[i], h);                      /* [n × K_i] */
    bh_tensor *ce = bh_mean(ctx, bh_cross_entropy(ctx, la, y), BH_AXIS_ALL); /* [1] */
    if (!ce) return NULL;
    correct += count_correct(la, y);
    total = sum_or(ctx, total, ce);
  }
  if (!total) return NULL;
  bh_terms_set(terms, "adv_loss", total->data[0]);
  bh_terms_set(terms, "adv_acc", (double)correct / ((double)b->n * s->nlab));
  return total;
}

static bh_tensor *bhivae_sup_loss(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *batches,
                                  bh_rng *rng, bh_terms *terms) {
  bh_bhivae_sup *s = m->impl;
  if (phase == 0) return main_phase(m, s, ctx, &batches[0], rng, terms);
  if (phase == 1 && m->nphases == 2) return adversary_phase(m, s, ctx, &batches[0], terms);
  bh_error(BH_EINVAL, BS_NAME ": no update phase %d (%s)", phase,
           m->nphases == 2 ? "phases 0 and 1" : "phase 0 only: no adversary");
  return NULL;
}

/* ---- life cycle ---- */

static void bhivae_sup_destroy(bh_model *m) {
  bh_bhivae_sup *s = m->impl;
  if (!s) return;
  bh_hier_free(&s->hier);
  for (int i = 0; i < BS_MAX_LEVELS; i++) {
    bh_blockdiag_free(s->prior[i]);
    bh_mlp_free(s->cls[i]);
    bh_mlp_free(s->adv[i]);
    bh_stash_free(&s->h0[i]);
  }
  free(s);
  m->impl = NULL;
}

/* The "auto" attributes for data d and L levels, into buf: the class label (MNIST: level 1),
 * CelebA's Black_Hair, Bald, Male (attrs 8, 4, 20) when there are more than 20 attributes, else
 * the first attributes, else the first factors with ≥ 2 values (dSprites: shape, scale,
 * orientation); at most min(3, L) entries.  NULL when the data has no labels of any kind. */
static const char *auto_attributes(const bh_data_info *d, int levels, char *buf, size_t cap) {
  int want = levels < 3 ? levels : 3, n = 0;
  size_t len = 0;
  if (d->nclasses > 0) return "labels";
  if (d->nattrs > 20) {
    static const int celeba[3] = {8, 4, 20};
    len = (size_t)snprintf(buf, cap, "attrs:");
    for (n = 0; n < want; n++)
      len += (size_t)snprintf(buf + len, cap - len, "%s%d", n ? "," : "", celeba[n]);
    return buf;
  }
  if (d->nattrs > 0) {
    len = (size_t)snprintf(buf, cap, "attrs:");
    for (n = 0; n < want && n < d->nattrs; n++)
      len += (size_t)snprintf(buf + len, cap - len, "%s%d", n ? "," : "", n);
    return buf;
  }
  if (d->nfactors > 0) {
    len = (size_t)snprintf(buf, cap, "factors:");
    for (int f = 0; f < d->nfactors && n < want; f++)
      if (d->factor_sizes[f] >= 2)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", n++ ? "," : "", f);
    if (n) return buf;
  }
  return NULL;
}

/* in -> hidden -> hidden -> k, LeakyReLU(0.2), under "<prefix><level>" (levels from 1) */
static bh_mlp *head_alloc(bh_params *p, const char *prefix, int level, int in, int hidden, int k,
                          gsl_rng *init) {
  char name[32];
  snprintf(name, sizeof name, "%s%d", prefix, level);
  int widths[4] = {in, hidden, hidden, k};
  return bh_mlp_alloc(p, name, 4, widths, bh_act_leaky_relu(0.2f), init);
}

static int check_keys(const bh_config *cfg, double *beta, double *gamma, long *hidden) {
  *beta = bh_config_num(cfg, "beta");
  *gamma = bh_config_num(cfg, "gamma");
  *hidden = bh_config_int(cfg, "cls_hidden");
  const char *prior = bh_config_str(cfg, "prior");
  if (!isfinite(*beta) || *beta < 0)
    return bh_error(BH_EINVAL, BS_NAME ": key 'beta' must be >= 0 (got %g)", *beta);
  if (!isfinite(*gamma) || *gamma < 0)
    return bh_error(BH_EINVAL, BS_NAME ": key 'gamma' must be >= 0 (got %g)", *gamma);
  if (*hidden < 1 || *hidden > 100000)
    return bh_error(BH_EINVAL, BS_NAME ": key 'cls_hidden' must be in 1..100000 (got %ld)",
                    *hidden);
  if (strcmp(prior, "std") != 0 && strcmp(prior, "block") != 0)
    return bh_error(BH_EINVAL, BS_NAME ": key 'prior' must be 'std' or 'block' (got '%s')",
                    prior);
  double rho = bh_config_num(cfg, "rho");
  if (!(rho > -1.0 && rho < 1.0))
    return bh_error(BH_EINVAL, BS_NAME ": key 'rho' must be in (-1, 1) (got %g)", rho);
  return BH_OK;
}

/* The labels of the levels into s->labels, s->nlab ("none": A = 0). */
static int labels_read(bh_model *m, bh_bhivae_sup *s) {
  char buf[64];
  const char *spec = bh_config_str(m->cfg, "attributes");
  const char *auto_spec = auto_attributes(&m->data, s->hier.levels, buf, sizeof buf);
  if (strcmp(spec, "none") == 0) {
    s->nlab = 0;
    snprintf(s->labels.text, sizeof s->labels.text, "none");
    return BH_OK;
  }
  if (strcmp(spec, "auto") == 0 && !auto_spec)
    return bh_error(BH_EINVAL, BS_NAME ": key 'attributes' is 'auto' but the data has no class "
                    "labels, attributes or factors (use 'none' for no labels)");
  int st = bh_label_spec_parse(&s->labels, spec, auto_spec, &m->data, BS_NAME, "attributes");
  if (st != BH_OK) return st;
  s->nlab = s->labels.n;
  if (s->nlab > s->hier.levels)
    return bh_error(BH_EINVAL, BS_NAME ": key 'attributes' ('%s') has %d labels but the model has "
                    "%d levels (key 'blocks'): at most one label per level", s->labels.text,
                    s->nlab, s->hier.levels);
  return BH_OK;
}

/* labels, priors, heads; after the hierarchy is built */
static int build_levels(bh_model *m, bh_bhivae_sup *s, int hidden, gsl_rng *init) {
  const bh_config *cfg = m->cfg;
  const bh_hier *hr = &s->hier;
  int st = labels_read(m, s);
  if (st != BH_OK) return st;
  double rho = bh_config_num(cfg, "rho");
  if (strcmp(bh_config_str(cfg, "prior"), "block") == 0)
    for (int i = 0; i < hr->levels; i++)
      if (!(s->prior[i] = bh_blockdiag_alloc_uniform(hr->s[i], hr->s[i], rho)))
        return bh_error(BH_EINVAL, BS_NAME ": key 'rho' (%g): the block prior of s^%d (%d units) "
                        "is not positive definite", rho, i + 1, hr->s[i]);
  for (int i = 0; i < s->nlab; i++) {
    int k = s->labels.k[i], dh = hr->zin[i] - hr->s[i]; /* d(h^i) */
    if (!(s->cls[i] = head_alloc(m->group[BS_MAIN], "cls", i + 1, hr->s[i], hidden, k, init)))
      return bh_error_code() ? bh_error_code() : BH_EINVAL;
    if (s->shared) {
      char name[32];
      snprintf(name, sizeof name, "proj%d", i + 1);
      st = bh_linear_layer_init(&s->proj[i], m->group[BS_MAIN], name, dh, hr->s[i], 1, init);
    } else if (!(s->adv[i] = head_alloc(m->group[BS_ADV], "adv", i + 1, dh, hidden, k, init))) {
      st = bh_error_code() ? bh_error_code() : BH_EINVAL;
    }
    if (st != BH_OK) return st;
  }
  return BH_OK;
}

static int bhivae_sup_create(bh_model *m, gsl_rng *init) {
  const bh_config *cfg = m->cfg;
  double beta, gamma;
  long hidden;
  int st = check_keys(cfg, &beta, &gamma, &hidden);
  if (st != BH_OK) return st;
  bh_bhivae_sup *s = calloc(1, sizeof *s);
  if (!s) return bh_error(BH_ENOMEM, BS_NAME ": out of memory");
  m->impl = s; /* so that a failure is undone by bhivae_sup_destroy */
  s->beta = beta, s->gamma = gamma;
  s->shared = (int)bh_config_int(cfg, "shared_classifier");
  if (!(m->group[BS_MAIN] = bh_params_alloc()) || !(m->group[BS_ADV] = bh_params_alloc()))
    st = bh_error(BH_ENOMEM, BS_NAME ": out of memory");
  m->ngroups = m->group[BS_ADV] ? 2 : m->group[BS_MAIN] ? 1 : 0; /* bh_model_free frees them */
  if (st == BH_OK) st = bh_hier_init(&s->hier, m, m->group[BS_MAIN], 1, init);
  if (st == BH_OK) st = build_levels(m, s, (int)hidden, init);
  if (st != BH_OK) {
    bhivae_sup_destroy(m);
    return st;
  }
  m->group_name[BS_MAIN] = "main";
  m->adam[BS_MAIN] = bh_model_main_adam(cfg);
  m->nphases = 1;
  m->phase_group[0] = BS_MAIN;
  if (s->nlab > 0 && !s->shared) { /* the adversaries and their phase */
    m->group_name[BS_ADV] = "adv";
    m->adam[BS_ADV] = bh_model_adversary_adam(cfg, "adv_lr", "adv_beta1", "adv_beta2");
    m->nphases = 2;
    m->phase_group[1] = BS_ADV;
  } else { /* no adversary: one group */
    bh_params_free(m->group[BS_ADV]);
    m->group[BS_ADV] = NULL;
    m->ngroups = 1;
  }
  m->batches_per_step = 1;
  m->z_dim = s->hier.z_dim;
  return BH_OK;
}

static const bh_cfg_key bhivae_sup_keys[] = {
    BH_HIER_KEYS,
    {"attributes", BH_CFG_STR, "auto",
     "one label per level for the first A <= L levels (the rest unlabelled): labels | "
     "attrs:i,j,... | factors:i,j,... | none (A = 0) | auto (labels; CelebA attrs:8,4,20 = "
     "Black_Hair, Bald, Male (paper 4.3), attrs:0,1,2 with <= 20 attributes; factors:0,1,2 = "
     "dSprites shape, scale, orientation, skipping constant factors; at most L)"},
    {"beta", BH_CFG_NUM, "10",
     "weight on the classifiers' cross-entropy CE(C_i(s^i), y^i) [choice]"},
    {"gamma", BH_CFG_NUM, "3", "weight on the negative entropy -H(A_i(h^i)) [choice]"},
    {"prior", BH_CFG_STR, "std",
     "prior of each block s^i: std = N(0, I) [choice], block = N(0, Sigma), rho off the diagonal"},
    {"rho", BH_CFG_NUM, "0.5", "off-diagonal correlation of prior=block (paper 4.2)"},
    {"cls_hidden", BH_CFG_INT, "64",
     "hidden units (2 layers, LeakyReLU 0.2) of the classifiers C_i and adversaries A_i [choice]"},
    {"shared_classifier", BH_CFG_BOOL, "0",
     "1: no adversary; the entropy term reads C_i on a learned linear projection of h^i (the "
     "paper's literal 'shares the classifier')"},
    {"adv_lr", BH_CFG_NUM, "1e-4", "adversaries' Adam learning rate"},
    {"adv_beta1", BH_CFG_NUM, "0.5", "adversaries' Adam beta1 [choice]"},
    {"adv_beta2", BH_CFG_NUM, "0.9", "adversaries' Adam beta2 [choice]"},
    {NULL, 0, NULL, NULL}};

const bh_model_class bh_bhivae_sup_class = {
    "bhivae-sup",
    "supervised BHiVAE: a labelled stochastic block per level, max-entropy adversary on h^i",
    bhivae_sup_keys, bhivae_sup_create, bhivae_sup_loss, bh_hier_class_encode,
    bh_hier_class_decode, bhivae_sup_destroy, bh_hier_class_blocks};
