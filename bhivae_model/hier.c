/* hier.c — BHiVAE's blocked hierarchical encoder and part-wise decoder (hier.h, paper Fig. 1). */
#include "bhivae_model/hier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int fail_code(void) { return bh_error_code() ? bh_error_code() : BH_EINVAL; }

/* widths {in, hidden..., out} of an MLP into w (room for BH_CFG_INTLIST_MAX + 2) */
static int mlp_widths(int *w, int in, const int *hidden, int nhidden, int out) {
  w[0] = in;
  for (int i = 0; i < nhidden; i++) w[1 + i] = hidden[i];
  w[nhidden + 1] = out;
  return nhidden + 2;
}

/* Read and check the layout keys into h (no networks yet). */
static int layout_read(bh_hier *h, const bh_model *m, int stochastic) {
  const bh_config *cfg = m->cfg;
  memset(h, 0, sizeof *h); /* "no networks" also when a check below fails */
  int s[BH_CFG_INTLIST_MAX];
  long z_dim = bh_config_int(cfg, "z_dim"), c_block = bh_config_int(cfg, "c_block");
  int levels = bh_config_intlist(cfg, "blocks", s);
  const char *who = m->cls->name;
  if (levels < 1 || levels > BH_HIER_MAX_LEVELS)
    return bh_error(BH_EINVAL, "%s: key 'blocks' needs 1..%d block widths (got %d)", who,
                    BH_HIER_MAX_LEVELS, levels);
  long used = 0;
  for (int i = 0; i < levels; i++) {
    if (s[i] < 1 || s[i] > 64)
      return bh_error(BH_EINVAL, "%s: key 'blocks': width %d of s^%d must be in 1..64", who,
                      s[i], i + 1);
    used += s[i];
  }
  if (z_dim <= used)
    return bh_error(BH_EINVAL, "%s: key 'z_dim' (%ld) leaves no room for the content part c^%d "
                    "after the blocks %s (need z_dim > %ld)", who, z_dim, levels,
                    bh_config_str(cfg, "blocks"), used);
  if (c_block < 1 || c_block > 64)
    return bh_error(BH_EINVAL, "%s: key 'c_block' must be in 1..64 (got %ld)", who, c_block);
  long part_hidden = bh_config_int(cfg, "part_hidden"), part_out = bh_config_int(cfg, "part_out");
  if (part_hidden < 1 || part_hidden > 100000 || part_out < 1 || part_out > 100000)
    return bh_error(BH_EINVAL, "%s: keys 'part_hidden' and 'part_out' must be in 1..100000",
                    who);
  h->levels = levels;
  h->z_dim = (int)z_dim;
  h->c_dim = (int)(z_dim - used);
  h->c_block = (int)c_block;
  h->stochastic = stochastic;
  h->part_out = (int)part_out;
  h->c = m->data.c, h->h = m->data.h, h->w = m->data.w;
  h->zin[0] = (int)z_dim;
  for (int i = 0; i < levels; i++) {
    h->s[i] = s[i];
    if (i > 0) h->zin[i] = h->zin[i - 1] - s[i - 1];
  }
  return BH_OK;
}

/* columns level i's network emits: [s^i | h^i], or [μ(s^i) | log σ²(s^i) | h^i] */
static int level_out(const bh_hier *h, int i) { return h->zin[i] + (h->stochastic ? h->s[i] : 0); }

int bh_hier_init(bh_hier *h, const bh_model *m, bh_params *p, int stochastic, gsl_rng *init) {
  int st = layout_read(h, m, stochastic);
  if (st != BH_OK) return st;
  const bh_config *cfg = m->cfg;
  int hidden[BH_CFG_INTLIST_MAX], widths[BH_CFG_INTLIST_MAX + 2];
  int nhidden = bh_config_intlist(cfg, "level_hidden", hidden);
  for (int i = 0; i < nhidden; i++)
    if (hidden[i] < 1 || hidden[i] > 100000)
      return bh_error(BH_EINVAL, "%s: key 'level_hidden': widths must be in 1..100000",
                      m->cls->name);
  char name[32];

  /* encoder: level 1 on the images, levels 2..L on h^{i-1} */
  h->enc1 = bh_encoder_alloc(cfg, p, "enc", h->c, h->h, h->w, level_out(h, 0), init);
  if (!h->enc1) st = fail_code();
  for (int i = 1; i < h->levels && st == BH_OK; i++) {
    snprintf(name, sizeof name, "lvl%d", i + 1);
    int n = mlp_widths(widths, h->zin[i], hidden, nhidden, level_out(h, i));
    if (!(h->enc[i] = bh_mlp_alloc(p, name, n, widths, bh_act_relu(), init))) st = fail_code();
  }
  /* decoder: a part MLP per s^i and one for c^L, then the shared network */
  int part_hidden = (int)bh_config_int(cfg, "part_hidden");
  for (int i = 0; i <= h->levels && st == BH_OK; i++) {
    snprintf(name, sizeof name, "part%d", i + 1);
    int n = mlp_widths(widths, i < h->levels ? h->s[i] : h->c_dim, &part_hidden, 1, h->part_out);
    if (!(h->part[i] = bh_mlp_alloc(p, name, n, widths, bh_act_tanh(), init))) st = fail_code();
  }
  if (st == BH_OK) {
    h->dec = bh_decoder_alloc(cfg, p, "dec", (h->levels + 1) * h->part_out, h->c, h->h, h->w,
                              init);
    if (!h->dec) st = fail_code();
  }
  if (st != BH_OK) bh_hier_free(h);
  return st;
}

void bh_hier_free(bh_hier *h) {
  if (!h) return;
  bh_net_free(h->enc1);
  for (int i = 0; i < BH_HIER_MAX_LEVELS; i++) bh_mlp_free(h->enc[i]);
  for (int i = 0; i <= BH_HIER_MAX_LEVELS; i++) bh_mlp_free(h->part[i]);
  bh_net_free(h->dec);
  h->enc1 = NULL, h->dec = NULL;
  memset(h->enc, 0, sizeof h->enc);
  memset(h->part, 0, sizeof h->part);
}

int bh_hier_encode(const bh_hier *h, bh_ctx *ctx, bh_tensor *x, gsl_rng *noise,
                   bh_hier_pass *out) {
  memset(out, 0, sizeof *out);
  bh_tensor *in = x; /* h^{i-1}, h^0 = x */
  for (int i = 0; i < h->levels; i++) {
    int k = h->s[i], hw = h->zin[i] - k;
    bh_tensor *o = i == 0 ? bh_net_forward(ctx, h->enc1, in)   /* [n × out_1] */
                          : bh_mlp_forward(ctx, h->enc[i], in); /* [n × out_i] */
    if (h->stochastic) {
      out->s_mu[i] = bh_slice(ctx, o, 0, k);     /* μ(s^i) [n × k] */
      out->s_logvar[i] = bh_slice(ctx, o, k, k); /* log σ²(s^i) [n × k] */
      out->h[i] = bh_slice(ctx, o, 2 * k, hw);  /* h^i [n × (d(z^i) − k)] */
      out->s[i] = noise ? bh_reparam(ctx, out->s_mu[i], out->s_logvar[i], noise) : out->s_mu[i];
      bh_tensor *sh[2] = {out->s[i], out->h[i]};
      out->z[i] = out->s[i] && out->h[i] ? bh_concat(ctx, sh, 2) : NULL;
    } else {
      out->z[i] = o;                             /* z^i = (s^i; h^i) [n × d(z^i)] */
      out->s[i] = bh_slice(ctx, o, 0, k);
      out->h[i] = bh_slice(ctx, o, k, hw);
    }
    if (!out->z[i] || !out->s[i] || !out->h[i]) return fail_code();
    in = out->h[i];
  }
  /* z = (s^1; ...; s^L; c^L) */
  bh_tensor *parts[BH_HIER_MAX_LEVELS + 1];
  for (int i = 0; i < h->levels; i++) parts[i] = out->s[i];
  parts[h->levels] = out->h[h->levels - 1];
  out->code = bh_concat(ctx, parts, h->levels + 1);
  return out->code ? BH_OK : fail_code();
}

bh_tensor *bh_hier_decode(const bh_hier *h, bh_ctx *ctx, bh_tensor *z) {
  bh_tensor *feat[BH_HIER_MAX_LEVELS + 1];
  int at = 0;
  for (int i = 0; i <= h->levels; i++) {
    int width = i < h->levels ? h->s[i] : h->c_dim;
    bh_tensor *part = bh_slice(ctx, z, at, width);                       /* [n × d(part)] */
    feat[i] = bh_tanh(ctx, bh_mlp_forward(ctx, h->part[i], part));      /* [n × part_out] */
    if (!feat[i]) return NULL;
    at += width;
  }
  bh_tensor *cat = bh_concat(ctx, feat, h->levels + 1); /* [n × (L+1)·part_out] */
  return cat ? bh_net_forward(ctx, h->dec, cat) : NULL; /* [n × c·h·w] logits */
}

int bh_hier_level_blocks(const bh_hier *h, int level, int *sizes) {
  int nb = 0;
  for (int i = level; i < h->levels; i++) sizes[nb++] = h->s[i];
  for (int left = h->c_dim; left > 0; left -= h->c_block)
    sizes[nb++] = left < h->c_block ? left : h->c_block;
  return nb;
}

bh_blockdiag *bh_hier_prior_alloc(const bh_hier *h, int level, double rho) {
  int sizes[BH_HIER_MAX_LEVELS + 256], total = 0;
  if (h->z_dim > 256 + BH_HIER_MAX_LEVELS) {
    bh_error(BH_EINVAL, "bhivae: z_dim %d too large for the prior layout", h->z_dim);
    return NULL;
  }
  int nb = bh_hier_level_blocks(h, level, sizes);
  for (int b = 0; b < nb; b++) total += sizes[b] * sizes[b];
  double *cov = malloc((size_t)total * sizeof *cov);
  if (!cov) {
    bh_error(BH_ENOMEM, "bhivae: out of memory");
    return NULL;
  }
  double *c = cov;
  for (int b = 0; b < nb; b++) {
    int k = sizes[b];
    for (int r = 0; r < k; r++)
      for (int q = 0; q < k; q++) *c++ = r == q ? 1.0 : rho;
  }
  bh_blockdiag *s = bh_blockdiag_alloc(nb, sizes, cov);
  free(cov);
  return s;
}

int bh_hier_class_blocks(const bh_model *m, int *sizes) {
  return bh_hier_level_blocks((const bh_hier *)m->impl, 0, sizes);
}

bh_tensor *bh_hier_class_decode(bh_model *m, bh_ctx *ctx, bh_tensor *z) {
  return bh_hier_decode((const bh_hier *)m->impl, ctx, z);
}

int bh_hier_class_encode(bh_model *m, bh_ctx *ctx, bh_tensor *x, bh_tensor **mu,
                         bh_tensor **logvar) {
  bh_hier_pass pass;
  int st = bh_hier_encode((const bh_hier *)m->impl, ctx, x, NULL, &pass);
  *mu = st == BH_OK ? pass.code : NULL;
  if (logvar) *logvar = NULL;
  return st;
}

bh_tensor *bh_hier_recon_mean(bh_ctx *ctx, bh_tensor *logits, const float *x) {
  return bh_mean(ctx, bh_bce_logits(ctx, logits, x), BH_AXIS_ALL); /* [1] */
}

bh_tensor *bh_hier_images(bh_ctx *ctx, const bh_hier *h, const bh_batch *b) {
  int shape[4] = {b->n, h->c, h->h, h->w};
  return bh_tensor_view(ctx, (float *)b->x, 4, shape); /* read only: takes no gradient */
}
