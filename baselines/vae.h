/* vae.h — the Gaussian-encoder VAE parts shared by the VAE-family models (VAE, β-VAE,
 * FactorVAE, β-TCVAE): encoder q(z|x) = N(mu, diag e^logvar), reparameterised sample, decoder
 * p(x|z) = Bernoulli(sigmoid(logits)), the reconstruction term, and the model-class encode and
 * decode functions built on them.
 *
 * The encoder (models/arch.h, prefix "enc") maps images to [n × 2·z_dim]: the first z_dim
 * columns are the means, the rest the log-variances; the decoder (prefix "dec") maps codes to
 * Bernoulli logits.  Both register their parameters in the group given (the model's "main").
 *
 * A model using bh_gvae_class_encode / bh_gvae_class_decode puts its bh_gvae FIRST in the
 * struct m->impl points to, so that m->impl can be read as a bh_gvae.
 */
#ifndef BH_BASELINES_VAE_H
#define BH_BASELINES_VAE_H

#include <gsl/gsl_rng.h>

#include "core/graph.h"
#include "core/params.h"
#include "models/arch.h"
#include "models/model.h"

typedef struct bh_gvae {
  bh_net *enc; /* images [n × c·h·w] -> [n × 2·z_dim] (mu | logvar) */
  bh_net *dec; /* codes [n × z_dim] -> logits [n × c·h·w] */
  int z_dim;
  int c, h, w; /* image shape */
} bh_gvae;

/* Build the encoder and decoder for m->data's image shape with z_dim = the "z_dim" key of
 * m->cfg, their parameters in p ("enc.*", "dec.*") drawn from init (NULL: left zero).  Does not
 * touch m.  BH_OK, or an error status with a message (z_dim < 1, bad architecture); on failure
 * g holds no networks (parameters already registered in p stay there). */
int bh_gvae_init(bh_gvae *g, const bh_model *m, bh_params *p, gsl_rng *init);
/* Free the networks (the parameters belong to their group).  g may be zero-filled. */
void bh_gvae_free(bh_gvae *g);

/* A batch's images as a tensor view [n × c × h × w] (no gradient). */
bh_tensor *bh_gvae_images(bh_ctx *ctx, const bh_gvae *g, const bh_batch *b);

/* x [n × c·h·w] (any rank, rows = shape[0]) -> *mu, *logvar [n × z_dim].  BH_OK or an error
 * status (the message of the failed op). */
int bh_gvae_encode(const bh_gvae *g, bh_ctx *ctx, bh_tensor *x, bh_tensor **mu,
                   bh_tensor **logvar);
/* z [n × z_dim] -> logits [n × c·h·w] */
bh_tensor *bh_gvae_decode(const bh_gvae *g, bh_ctx *ctx, bh_tensor *z);
/* logits [n × c·h·w], x the n images (c·h·w floats each, in [0, 1]) -> [n]:
 * −log p(x|z) = Σ_pixels BCE(logits, x), the Bernoulli negative log-likelihood per example */
bh_tensor *bh_gvae_recon(bh_ctx *ctx, bh_tensor *logits, const float *x);

/* One pass of the VAE on a batch: x -> (mu, logvar) -> z = mu + e^{logvar/2}·ε (ε from
 * `noise`, the run's "noise" stream) -> logits -> recon.  The KL (or any other prior term) is
 * left to the model: bh_kl_normal_std(ctx, pass.mu, pass.logvar). */
typedef struct bh_gvae_pass {
  bh_tensor *x;          /* [n × c × h × w] the batch's images (a view) */
  bh_tensor *mu, *logvar;/* [n × z_dim] */
  bh_tensor *z;          /* [n × z_dim] */
  bh_tensor *logits;     /* [n × c·h·w] */
  bh_tensor *recon;      /* [n] Bernoulli negative log-likelihood, summed over pixels */
} bh_gvae_pass;

/* BH_OK, or an error status with a message (every field then undefined). */
int bh_gvae_run(const bh_gvae *g, bh_ctx *ctx, const bh_batch *b, gsl_rng *noise,
                bh_gvae_pass *out);
/* The ELBO's two parts, the start of every Gaussian VAE's loss: bh_gvae_run with the "noise"
 * stream, then the batch means *recon = mean_b −log p(x|z) and *kl = mean_b KL(q(z|x) ‖ N(0, I))
 * (each [1]).  BH_OK or an error status. */
int bh_gvae_elbo(const bh_gvae *g, bh_ctx *ctx, const bh_batch *b, bh_rng *rng, bh_gvae_pass *out,
                 bh_tensor **recon, bh_tensor **kl);

/* bh_model_class.encode / .decode for a model whose impl starts with a bh_gvae: the encoder
 * means and log-variances; the decoder's logits. */
int bh_gvae_class_encode(bh_model *m, bh_ctx *ctx, bh_tensor *x, bh_tensor **mu,
                         bh_tensor **logvar);
bh_tensor *bh_gvae_class_decode(bh_model *m, bh_ctx *ctx, bh_tensor *z);

/* The permuted sample of q(z) a total-correlation discriminator sees (FactorVAE's permute_dims;
 * BHiVAE's per-block version): z [n × d] -> [n × d], column block b (widths[b] columns, Σ = d;
 * widths NULL: nblocks = d blocks of width 1) takes its rows through its own fresh permutation
 * π_b of the batch, out[i, block b] = z[π_b(i), block b].  The permutations are drawn from perm
 * (the "perm" stream) by bh_rng_permutation, for b = 0, 1, ... in order.  Gradients flow to z
 * (detach first when none should). */
bh_tensor *bh_permute_dims(bh_ctx *ctx, bh_tensor *z, int nblocks, const int *widths,
                           gsl_rng *perm);

/* The single "main" group of a model trained by one Adam (bh_model_main_adam) in one phase, one
 * batch per step: sets m->group[0], ngroups, group_name, adam, nphases, phase_group,
 * batches_per_step.  BH_OK or BH_ENOMEM. */
int bh_gvae_main_group(bh_model *m);

/* A copy of a [rows × cols] tensor kept from one phase of a step to a later one (FactorVAE's
 * and Guided-VAE's detached z): owned memory, so it survives a tape reset between phases (the
 * gradient checker resets).  Zero-initialise; bh_stash_free releases. */
typedef struct bh_stash {
  float *data;
  size_t cap;
  int rows, cols; /* rows 0: empty */
} bh_stash;
int bh_stash_put(bh_stash *s, const bh_tensor *t);  /* BH_OK or BH_ENOMEM */
bh_tensor *bh_stash_view(bh_ctx *ctx, bh_stash *s); /* [rows × cols] view, no gradient */
void bh_stash_free(bh_stash *s);

#endif
