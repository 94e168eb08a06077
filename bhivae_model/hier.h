/* hier.h — the blocked, hierarchical encoder and decoder of BHiVAE (paper §3.2, Fig. 1), shared
 * by the unsupervised (bhivae.c) and supervised (bhivae_sup.c) models.
 *
 * (The folder is bhivae_model/, not bhivae/, because the top build folder already holds the
 * `bhivae` command itself.)
 *
 * Encoder (Fig. 1a).  Level i (i = 1..L) encodes its input h^{i-1} (h^0 = x) into
 *     z^i = (s^i ; h^i),   d(z^i) = d(z) − Σ_{j<i} d(s^j)   (the funnel of the spec, §1)
 * s^i is the block of level i (width blocks[i-1], default 2), h^i goes down to level i+1, and
 * h^L is the content part c^L.  The representation is z = (s^1; ...; s^L; c^L).
 *   level 1: the baselines' encoder trunk (models/arch.h: fc 4096→1200→1200, or conv) with a
 *            linear head to out_1;
 *   level i ≥ 2: an MLP d(h^{i-1}) → level_hidden... → out_i, ReLU  [choice: "level_hidden"].
 * Deterministic levels (unsupervised) have out_i = d(z^i).  Stochastic blocks (supervised)
 * have out_i = d(z^i) + d(s^i): columns [μ(s^i) | log σ²(s^i) | h^i]; s^i = μ + σ·ε.
 *
 * Decoder (Fig. 1b).  Each part p of z (s^1, ..., s^L, c^L) goes through its own small MLP
 * d(p) → part_hidden → part_out (tanh hidden, tanh after the output), the L+1 outputs are
 * concatenated, [n × (L+1)·part_out], and the shared decoder (models/arch.h, "dec_hidden",
 * as the baselines) maps them to Bernoulli logits.
 *
 * Prior blocks.  The block layout of z^i for the correlated prior N(0, Σ) and for traversals:
 * s^i, s^{i+1}, ..., s^L, then c^L cut into chunks of c_block units (the last one smaller).
 *
 * Parameters go into one group (the model's "main") under "enc.*" (level 1 trunk),
 * "lvl<i>.*" (levels ≥ 2), "part<p>.*" and "dec.*".
 */
#ifndef BH_BHIVAE_HIER_H
#define BH_BHIVAE_HIER_H

#include <gsl/gsl_rng.h>

#include "core/graph.h"
#include "core/layers.h"
#include "core/ops.h"
#include "core/params.h"
#include "models/arch.h"
#include "models/model.h"

#define BH_HIER_MAX_LEVELS 8

/* The keys of the hierarchy, shared by both BHiVAE classes: blocks ("2,2,2": d(s^1..s^L), L =
 * count), c_block, level_hidden, part_hidden, part_out.  {NULL}-terminated; a class lists them
 * in its own key table through BH_HIER_KEYS. */
#define BH_HIER_KEYS                                                                              \
  {"blocks", BH_CFG_INTLIST, "2,2,2",                                                             \
   "widths of the blocks s^1..s^L, one per level (L = count; the ablation's single unit: "        \
   "1,2,2); c^L takes the rest of z_dim"},                                                        \
  {"c_block", BH_CFG_INT, "2",                                                                    \
   "units per block of the content part c^L (prior covariance blocks and traversals)"},           \
  {"level_hidden", BH_CFG_INTLIST, "256,256",                                                     \
   "hidden widths of the encoders of levels 2..L (ReLU) [choice]"},                               \
  {"part_hidden", BH_CFG_INT, "128", "hidden width of each part decoder (tanh) [choice]"},        \
  {"part_out", BH_CFG_INT, "128",                                                                 \
   "output width of each part decoder; the shared decoder reads (L+1)·part_out [choice]"}

typedef struct bh_hier {
  int levels;                         /* L */
  int z_dim;                          /* d(z) */
  int s[BH_HIER_MAX_LEVELS];          /* d(s^i), i = 0..L-1 */
  int zin[BH_HIER_MAX_LEVELS];        /* d(z^i) */
  int c_dim;                          /* d(c^L) = d(z) − Σ d(s^i) (≥ 1) */
  int c_block;
  int stochastic;                     /* s^i ~ N(μ, σ²) (supervised) */
  int part_out;
  bh_net *enc1;                       /* level 1: images -> [n × out_1] */
  bh_mlp *enc[BH_HIER_MAX_LEVELS];    /* levels 2..L (enc[0] unused) */
  bh_mlp *part[BH_HIER_MAX_LEVELS + 1]; /* part decoders: s^1..s^L, c^L */
  bh_net *dec;                        /* shared: [n × (L+1)·part_out] -> logits */
  int c, h, w;
} bh_hier;

/* Build from m->cfg (z_dim and the hierarchy keys) and m->data, parameters in p drawn from init
 * (NULL: zero).  BH_OK, or BH_EINVAL with one line (more than BH_HIER_MAX_LEVELS levels, a block
 * < 1, no room left for c^L, ...); on failure h holds no networks. */
int bh_hier_init(bh_hier *h, const bh_model *m, bh_params *p, int stochastic, gsl_rng *init);
void bh_hier_free(bh_hier *h);

/* One encoder pass. */
typedef struct bh_hier_pass {
  bh_tensor *z[BH_HIER_MAX_LEVELS];      /* z^i = (s^i; h^i) [n × d(z^i)] (s^i sampled when
                                            stochastic and sampling) */
  bh_tensor *s[BH_HIER_MAX_LEVELS];      /* s^i [n × d(s^i)] */
  bh_tensor *h[BH_HIER_MAX_LEVELS];      /* h^i [n × d(h^i)]; h[L-1] = c^L */
  bh_tensor *s_mu[BH_HIER_MAX_LEVELS];   /* stochastic only: μ(s^i), log σ²(s^i) */
  bh_tensor *s_logvar[BH_HIER_MAX_LEVELS];
  bh_tensor *code;                       /* z = (s^1; ...; s^L; c^L) [n × d(z)] */
} bh_hier_pass;

/* x [n × c·h·w] (any rank, rows = shape[0]) -> the pass.  Stochastic blocks are sampled with ε
 * from noise (the "noise" stream; s^i in level order); noise NULL: s^i = μ (the code metrics
 * use).  h^i never depends on the sample.  BH_OK or an error status. */
int bh_hier_encode(const bh_hier *h, bh_ctx *ctx, bh_tensor *x, gsl_rng *noise,
                   bh_hier_pass *out);
/* z [n × d(z)] -> logits [n × c·h·w] */
bh_tensor *bh_hier_decode(const bh_hier *h, bh_ctx *ctx, bh_tensor *z);

/* The block layout of z^i (level i = 0..L-1; i = 0 is the whole z): widths into sizes (room
 * for d(z) entries), returns the count (prior blocks, above). */
int bh_hier_level_blocks(const bh_hier *h, int level, int *sizes);
/* The correlated prior N(0, Σ) of z^i: 1 on the diagonal, rho inside each block of
 * bh_hier_level_blocks.  NULL with a message when not positive definite. */
bh_blockdiag *bh_hier_prior_alloc(const bh_hier *h, int level, double rho);

/* bh_model_class.blocks for a model whose impl starts with a bh_hier: the blocks of z (level 0
 * layout), for the diagonal traversals. */
int bh_hier_class_blocks(const bh_model *m, int *sizes);
/* bh_model_class.decode for a model whose impl starts with a bh_hier. */
bh_tensor *bh_hier_class_decode(bh_model *m, bh_ctx *ctx, bh_tensor *z);
/* bh_model_class.encode: the means code (s = μ), logvar NULL. */
int bh_hier_class_encode(bh_model *m, bh_ctx *ctx, bh_tensor *x, bh_tensor **mu,
                         bh_tensor **logvar);

/* Bernoulli −log p(x|z) summed over pixels, batch mean [1]: the reconstruction both variants
 * use (bh_gvae_recon, averaged). */
bh_tensor *bh_hier_recon_mean(bh_ctx *ctx, bh_tensor *logits, const float *x);
/* The batch's images as a [n × c × h × w] view (no gradient). */
bh_tensor *bh_hier_images(bh_ctx *ctx, const bh_hier *h, const bh_batch *b);

#endif
