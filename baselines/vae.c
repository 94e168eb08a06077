/* vae.c — the Gaussian-encoder VAE parts (vae.h) and the VAE and β-VAE classes.
 *
 * VAE (Kingma & Welling 2014), per example x with one sample z ~ q(z|x):
 *     recon = −log p(x|z) = Σ_pixels BCE(decoder(z), x)
 *     kl    = KL(q(z|x) ‖ N(0, I)) = ½ Σ_j (mu_j² + e^{lv_j} − lv_j − 1)
 *     loss  = mean_b [recon + kl]
 * β-VAE (Higgins et al. 2017): loss = mean_b [recon + β·kl].
 */
#include "baselines/vae.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "baselines/baselines.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"

/* ---------------- shared Gaussian-encoder parts ---------------- */

int bh_gvae_init(bh_gvae *g, const bh_model *m, bh_params *p, gsl_rng *init) {
  memset(g, 0, sizeof *g);
  long z_dim = bh_config_int(m->cfg, "z_dim");
  if (z_dim < 1 || z_dim > 100000)
    return bh_error(BH_EINVAL, "%s: key 'z_dim' must be in 1..100000 (got %ld)", m->cls->name,
                    z_dim);
  const bh_data_info *d = &m->data;
  g->z_dim = (int)z_dim;
  g->c = d->c, g->h = d->h, g->w = d->w;
  g->enc = bh_encoder_alloc(m->cfg, p, "enc", d->c, d->h, d->w, 2 * g->z_dim, init);
  if (!g->enc) return bh_error_code() ? bh_error_code() : BH_EINVAL;
  g->dec = bh_decoder_alloc(m->cfg, p, "dec", g->z_dim, d->c, d->h, d->w, init);
  if (!g->dec) {
    int st = bh_error_code() ? bh_error_code() : BH_EINVAL;
    bh_gvae_free(g);
    return st;
  }
  return BH_OK;
}

void bh_gvae_free(bh_gvae *g) {
  bh_net_free(g->enc);
  bh_net_free(g->dec);
  g->enc = g->dec = NULL;
}

bh_tensor *bh_gvae_images(bh_ctx *ctx, const bh_gvae *g, const bh_batch *b) {
  int shape[4] = {b->n, g->c, g->h, g->w};
  /* a view only: nothing writes through it (it takes no gradient) */
  return bh_tensor_view(ctx, (float *)b->x, 4, shape);
}

int bh_gvae_encode(const bh_gvae *g, bh_ctx *ctx, bh_tensor *x, bh_tensor **mu,
                   bh_tensor **logvar) {
  bh_tensor *h = bh_net_forward(ctx, g->enc, x); /* [n × 2·z_dim] */
  *mu = bh_slice(ctx, h, 0, g->z_dim);            /* [n × z_dim] */
  *logvar = bh_slice(ctx, h, g->z_dim, g->z_dim); /* [n × z_dim] */
  if (*mu && *logvar) return BH_OK;
  return bh_error_code() ? bh_error_code() : BH_EINVAL;
}

bh_tensor *bh_gvae_decode(const bh_gvae *g, bh_ctx *ctx, bh_tensor *z) {
  return bh_net_forward(ctx, g->dec, z); /* [n × c·h·w] */
}

bh_tensor *bh_gvae_recon(bh_ctx *ctx, bh_tensor *logits, const float *x) {
  return bh_bce_logits(ctx, logits, x); /* [n] */
}

int bh_gvae_run(const bh_gvae *g, bh_ctx *ctx, const bh_batch *b, gsl_rng *noise,
                bh_gvae_pass *out) {
  out->x = bh_gvae_images(ctx, g, b);
  if (!out->x) return bh_error_code() ? bh_error_code() : BH_ENOMEM;
  int st = bh_gvae_encode(g, ctx, out->x, &out->mu, &out->logvar);
  if (st != BH_OK) return st;
  out->z = bh_reparam(ctx, out->mu, out->logvar, noise);  /* z = mu + e^{lv/2}·ε */
  out->logits = bh_gvae_decode(g, ctx, out->z);
  out->recon = bh_gvae_recon(ctx, out->logits, b->x);     /* −log p(x|z) */
  if (out->recon) return BH_OK;
  return bh_error_code() ? bh_error_code() : BH_EINVAL;
}

int bh_gvae_elbo(const bh_gvae *g, bh_ctx *ctx, const bh_batch *b, bh_rng *rng, bh_gvae_pass *out,
                 bh_tensor **recon, bh_tensor **kl) {
  int st = bh_gvae_run(g, ctx, b, bh_rng_stream(rng, "noise"), out);
  if (st != BH_OK) return st;
  *recon = bh_mean(ctx, out->recon, BH_AXIS_ALL);                               /* [1] */
  *kl = bh_mean(ctx, bh_kl_normal_std(ctx, out->mu, out->logvar), BH_AXIS_ALL); /* [1] */
  if (*kl) return BH_OK;
  return bh_error_code() ? bh_error_code() : BH_ENOMEM;
}

int bh_gvae_class_encode(bh_model *m, bh_ctx *ctx, bh_tensor *x, bh_tensor **mu,
                         bh_tensor **logvar) {
  bh_tensor *lv = NULL;
  int st = bh_gvae_encode((const bh_gvae *)m->impl, ctx, x, mu, &lv);
  if (logvar) *logvar = lv;
  return st;
}

bh_tensor *bh_gvae_class_decode(bh_model *m, bh_ctx *ctx, bh_tensor *z) {
  return bh_gvae_decode((const bh_gvae *)m->impl, ctx, z);
}

bh_tensor *bh_permute_dims(bh_ctx *ctx, bh_tensor *z, int nblocks, const int *widths,
                           gsl_rng *perm) {
  if (!z) return NULL;
  if (!perm) {
    bh_error(BH_EINVAL, "permute_dims: the random generator is NULL");
    return NULL;
  }
  int n = bh_tensor_rows(z);
  int *ones = NULL;
  if (!widths) { /* one block per column */
    nblocks = (int)bh_tensor_cols(z);
    ones = bh_ctx_push(ctx, (size_t)nblocks * sizeof(int));
    if (!ones) return NULL;
    for (int b = 0; b < nblocks; b++) ones[b] = 1;
    widths = ones;
  }
  /* the index arrays must outlive backward: they live in the step's arena */
  int *idx = bh_ctx_push(ctx, (size_t)nblocks * (size_t)n * sizeof(int));
  if (!idx) return NULL;
  for (int b = 0; b < nblocks; b++) bh_rng_permutation(perm, idx + (size_t)b * n, n);
  return bh_gather_rows_per_block(ctx, z, nblocks, widths, idx);
}

int bh_gvae_main_group(bh_model *m) {
  m->group[0] = bh_params_alloc();
  if (!m->group[0]) return bh_error(BH_ENOMEM, "%s: out of memory", m->cls->name);
  m->ngroups = 1;
  m->group_name[0] = "main";
  m->adam[0] = bh_model_main_adam(m->cfg);
  m->nphases = 1;
  m->phase_group[0] = 0;
  m->batches_per_step = 1;
  return BH_OK;
}

/* ---------------- VAE and β-VAE ---------------- */

typedef struct bh_vae {
  bh_gvae g;   /* first: bh_gvae_class_encode/decode read it */
  double beta; /* weight on the KL: 1 for the VAE */
} bh_vae;

static int vae_create_beta(bh_model *m, gsl_rng *init, double beta) {
  if (!isfinite(beta) || beta < 0)
    return bh_error(BH_EINVAL, "%s: key 'beta' must be a number >= 0 (got %g)", m->cls->name,
                    beta);
  bh_vae *v = calloc(1, sizeof *v);
  if (!v) return bh_error(BH_ENOMEM, "%s: out of memory", m->cls->name);
  int st = bh_gvae_main_group(m);
  if (st == BH_OK) st = bh_gvae_init(&v->g, m, m->group[0], init);
  if (st != BH_OK) {
    free(v);
    return st;
  }
  v->beta = beta;
  m->z_dim = v->g.z_dim;
  m->impl = v;
  return BH_OK;
}

static int vae_create(bh_model *m, gsl_rng *init) { return vae_create_beta(m, init, 1.0); }

static int betavae_create(bh_model *m, gsl_rng *init) {
  return vae_create_beta(m, init, bh_config_num(m->cfg, "beta"));
}

static bh_tensor *vae_loss(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *batches,
                           bh_rng *rng, bh_terms *terms) {
  bh_vae *v = m->impl;
  if (phase != 0) {
    bh_error(BH_EINVAL, "%s: no update phase %d (one phase)", m->cls->name, phase);
    return NULL;
  }
  bh_gvae_pass p;
  bh_tensor *recon, *kl; /* [1] each */
  if (bh_gvae_elbo(&v->g, ctx, &batches[0], rng, &p, &recon, &kl) != BH_OK) return NULL;
  bh_tensor *loss = bh_add(ctx, recon, bh_scale(ctx, kl, (float)v->beta));              /* [1] */
  if (!loss) return NULL;
  bh_terms_set(terms, "loss", loss->data[0]);
  bh_terms_set(terms, "recon", recon->data[0]);
  bh_terms_set(terms, "kl", kl->data[0]);
  return loss;
}

static void vae_destroy(bh_model *m) {
  bh_vae *v = m->impl;
  if (!v) return;
  bh_gvae_free(&v->g);
  free(v);
  m->impl = NULL;
}

static const bh_cfg_key vae_keys[] = {{NULL, 0, NULL, NULL}};

static const bh_cfg_key betavae_keys[] = {
    {"beta", BH_CFG_NUM, "6", "weight on the KL term (6: the paper's Table 1 setting)"},
    {NULL, 0, NULL, NULL}};

const bh_model_class bh_vae_class = {
    "vae", "VAE (Kingma & Welling): Bernoulli reconstruction + KL to N(0, I)",
    vae_keys, vae_create, vae_loss, bh_gvae_class_encode, bh_gvae_class_decode, vae_destroy,
    NULL};

const bh_model_class bh_betavae_class = {
    "betavae", "β-VAE (Higgins et al.): reconstruction + beta·KL",
    betavae_keys, betavae_create, vae_loss, bh_gvae_class_encode, bh_gvae_class_decode,
    vae_destroy, NULL};

/* ---- bh_stash ---- */

int bh_stash_put(bh_stash *s, const bh_tensor *t) {
  if (t->size > s->cap) {
    float *p = realloc(s->data, t->size * sizeof(float));
    if (!p) return bh_error(BH_ENOMEM, "stash: out of memory (%zu floats)", t->size);
    s->data = p;
    s->cap = t->size;
  }
  memcpy(s->data, t->data, t->size * sizeof(float));
  s->rows = bh_tensor_rows(t);
  s->cols = (int)(t->size / (size_t)s->rows);
  return BH_OK;
}

bh_tensor *bh_stash_view(bh_ctx *ctx, bh_stash *s) {
  int shape[2] = {s->rows, s->cols};
  return bh_tensor_view(ctx, s->data, 2, shape);
}

void bh_stash_free(bh_stash *s) {
  free(s->data);
  *s = (bh_stash){0};
}
