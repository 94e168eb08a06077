/* arch.c — the shared encoder and decoder networks (arch.h).
 *
 * "fc": bh_mlp stacks (ReLU hidden layers in the encoder, tanh in the decoder, as vae_quant.py's
 * MLPEncoder / MLPDecoder).  "conv": disentanglement_lib's conv_encoder / deconv_decoder with the
 * PyTorch paddings that give the same shapes as TF's "same":
 *   encoder  [c×64×64] conv 32 k4 s2 p1 → [32×32×32] → conv 32 k4 s2 p1 → [32×16×16]
 *            → conv 64 k2 s2 → [64×8×8] → conv 64 k2 s2 → [64×4×4] = 1024 → FC 256 → FC out
 *            (ReLU after every layer but the last)
 *   decoder  in → FC 256 → FC 1024 → [64×4×4] → convT 64 → [64×8×8] → convT 32 → [32×16×16]
 *            → convT 32 → [32×32×32] → convT c → [c×64×64] logits (k4 s2 p1, ReLU between)
 * Parameter names: "<prefix>.<i>.w/b" for the MLPs; "<prefix>.conv<i>", "<prefix>.fc<i>",
 * "<prefix>.deconv<i>" for the conv pair.
 */
#include "models/arch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

const bh_cfg_key bh_arch_keys[] = {
    {"arch", BH_CFG_STR, "fc",
     "encoder/decoder family: fc (Chen et al.'s MLPs) or conv (disentanglement_lib, 64x64)"},
    {"enc_hidden", BH_CFG_INTLIST, "1200,1200", "hidden widths of the fc encoder"},
    {"dec_hidden", BH_CFG_INTLIST, "1200,1200,1200", "hidden widths of the fc decoder"},
    {NULL, 0, NULL, NULL},
};

typedef enum { NET_MLP, NET_CONV_ENC, NET_CONV_DEC } net_kind;

#define CONV_SIDE 64
#define CONV_NLAYERS 4

struct bh_net {
  net_kind kind;
  int in_size, out_size;
  int c; /* image channels (conv) */
  bh_mlp *mlp;
  bh_conv2d_layer conv[CONV_NLAYERS];
  bh_conv_transpose2d_layer deconv[CONV_NLAYERS];
  bh_linear_layer fc[2];
};

void bh_net_free(bh_net *n) {
  if (!n) return;
  bh_mlp_free(n->mlp);
  free(n);
}

int bh_net_in_size(const bh_net *n) { return n->in_size; }
int bh_net_out_size(const bh_net *n) { return n->out_size; }

/* The family named by the "arch" key: 0 fc, 1 conv, -1 (message set) otherwise. */
static int arch_family(const bh_config *cfg) {
  const char *a = bh_config_str(cfg, "arch");
  if (a && strcmp(a, "fc") == 0) return 0;
  if (a && strcmp(a, "conv") == 0) return 1;
  bh_error(BH_EINVAL, "arch: unknown architecture '%s' (known: fc, conv)", a ? a : "(unset)");
  return -1;
}

static bh_net *net_new(net_kind kind, int in, int out, int c) {
  bh_net *n = calloc(1, sizeof *n);
  if (!n) {
    bh_error(BH_ENOMEM, "arch: out of memory");
    return NULL;
  }
  n->kind = kind;
  n->in_size = in;
  n->out_size = out;
  n->c = c;
  return n;
}

/* in → hidden[key] → out as an MLP with the given hidden activation. */
static bh_net *mlp_net(const bh_config *cfg, const char *key, bh_params *p, const char *prefix,
                       int in, int out, bh_act act, gsl_rng *r) {
  int widths[BH_CFG_INTLIST_MAX + 2];
  int nh = bh_config_intlist(cfg, key, widths + 1);
  if (nh < 1) {
    bh_error(BH_EINVAL, "arch: %s has no widths", key);
    return NULL;
  }
  widths[0] = in;
  widths[nh + 1] = out;
  bh_net *n = net_new(NET_MLP, in, out, 0);
  if (!n) return NULL;
  n->mlp = bh_mlp_alloc(p, prefix, nh + 2, widths, act, r);
  if (!n->mlp) {
    bh_net_free(n);
    return NULL;
  }
  return n;
}

static int conv_shape_ok(int c, int h, int w) {
  if (h == CONV_SIDE && w == CONV_SIDE && c >= 1) return 1;
  bh_error(BH_EINVAL, "arch conv: needs 64×64 images, not %d×%d×%d (use arch=fc)", c, h, w);
  return 0;
}

bh_net *bh_encoder_alloc(const bh_config *cfg, bh_params *p, const char *prefix, int c, int h,
                         int w, int out, gsl_rng *r) {
  int fam = arch_family(cfg);
  if (fam < 0) return NULL;
  if (c < 1 || h < 1 || w < 1 || out < 1) {
    bh_error(BH_EINVAL, "arch: bad encoder shape %d×%d×%d → %d", c, h, w, out);
    return NULL;
  }
  if (fam == 0) return mlp_net(cfg, "enc_hidden", p, prefix, c * h * w, out, bh_act_relu(), r);
  if (!conv_shape_ok(c, h, w)) return NULL;

  bh_net *n = net_new(NET_CONV_ENC, c * h * w, out, c);
  if (!n) return NULL;
  /* out channels, kernel, padding of each conv (stride 2 throughout) */
  static const int spec[CONV_NLAYERS][3] = {{32, 4, 1}, {32, 4, 1}, {64, 2, 0}, {64, 2, 0}};
  char name[256];
  int st = BH_OK, ch = c;
  for (int i = 0; i < CONV_NLAYERS && !st; i++) {
    snprintf(name, sizeof name, "%s.conv%d", prefix, i);
    st = bh_conv2d_layer_init(&n->conv[i], p, name, ch, spec[i][0], spec[i][1], 2, spec[i][2],
                              1, r);
    ch = spec[i][0];
  }
  if (!st) {
    snprintf(name, sizeof name, "%s.fc0", prefix);
    st = bh_linear_layer_init(&n->fc[0], p, name, 64 * 4 * 4, 256, 1, r);
  }
  if (!st) {
    snprintf(name, sizeof name, "%s.fc1", prefix);
    st = bh_linear_layer_init(&n->fc[1], p, name, 256, out, 1, r);
  }
  if (st) {
    bh_net_free(n);
    return NULL;
  }
  return n;
}

bh_net *bh_decoder_alloc(const bh_config *cfg, bh_params *p, const char *prefix, int in, int c,
                         int h, int w, gsl_rng *r) {
  int fam = arch_family(cfg);
  if (fam < 0) return NULL;
  if (c < 1 || h < 1 || w < 1 || in < 1) {
    bh_error(BH_EINVAL, "arch: bad decoder shape %d → %d×%d×%d", in, c, h, w);
    return NULL;
  }
  if (fam == 0) return mlp_net(cfg, "dec_hidden", p, prefix, in, c * h * w, bh_act_tanh(), r);
  if (!conv_shape_ok(c, h, w)) return NULL;

  bh_net *n = net_new(NET_CONV_DEC, in, c * h * w, c);
  if (!n) return NULL;
  char name[256];
  snprintf(name, sizeof name, "%s.fc0", prefix);
  int st = bh_linear_layer_init(&n->fc[0], p, name, in, 256, 1, r);
  if (!st) {
    snprintf(name, sizeof name, "%s.fc1", prefix);
    st = bh_linear_layer_init(&n->fc[1], p, name, 256, 64 * 4 * 4, 1, r);
  }
  const int outs[CONV_NLAYERS] = {64, 32, 32, c};
  int ch = 64;
  for (int i = 0; i < CONV_NLAYERS && !st; i++) {
    snprintf(name, sizeof name, "%s.deconv%d", prefix, i);
    st = bh_conv_transpose2d_layer_init(&n->deconv[i], p, name, ch, outs[i], 4, 2, 1, 0, 1, r);
    ch = outs[i];
  }
  if (st) {
    bh_net_free(n);
    return NULL;
  }
  return n;
}

/* [n × c·64·64] → [n × out] */
static bh_tensor *conv_enc_forward(bh_ctx *ctx, const bh_net *n, bh_tensor *x) {
  int shape[4] = {bh_tensor_rows(x), n->c, CONV_SIDE, CONV_SIDE};
  bh_tensor *h = bh_reshape(ctx, x, 4, shape);
  for (int i = 0; i < CONV_NLAYERS; i++)
    h = bh_act_apply(ctx, bh_conv2d_layer_forward(ctx, &n->conv[i], h), bh_act_relu());
  /* the linear layer reads [n × 64×4×4] as [n × 1024] */
  h = bh_act_apply(ctx, bh_linear_layer_forward(ctx, &n->fc[0], h), bh_act_relu());
  return bh_linear_layer_forward(ctx, &n->fc[1], h);
}

/* [n × in] → [n × c·64·64] */
static bh_tensor *conv_dec_forward(bh_ctx *ctx, const bh_net *n, bh_tensor *z) {
  int rows = bh_tensor_rows(z);
  bh_tensor *h = bh_act_apply(ctx, bh_linear_layer_forward(ctx, &n->fc[0], z), bh_act_relu());
  h = bh_act_apply(ctx, bh_linear_layer_forward(ctx, &n->fc[1], h), bh_act_relu());
  int s4[4] = {rows, 64, 4, 4};
  h = bh_reshape(ctx, h, 4, s4);
  for (int i = 0; i < CONV_NLAYERS; i++) {
    h = bh_conv_transpose2d_layer_forward(ctx, &n->deconv[i], h);
    if (i < CONV_NLAYERS - 1) h = bh_act_apply(ctx, h, bh_act_relu());
  }
  int s2[2] = {rows, n->out_size};
  return bh_reshape(ctx, h, 2, s2);
}

bh_tensor *bh_net_forward(bh_ctx *ctx, const bh_net *n, bh_tensor *x) {
  if (!x || !n) return NULL;
  if (bh_tensor_rows(x) < 1 || bh_tensor_cols(x) != (size_t)n->in_size) {
    char buf[64];
    bh_error(BH_EINVAL, "arch: network input %s, expected [n × %d]",
             bh_tensor_shape_str(x, buf, sizeof buf), n->in_size);
    return NULL;
  }
  bh_tensor *y;
  switch (n->kind) {
  case NET_MLP: {
    y = bh_mlp_forward(ctx, n->mlp, x);
    if (y && y->ndim != 2) {
      int s2[2] = {bh_tensor_rows(y), n->out_size};
      y = bh_reshape(ctx, y, 2, s2);
    }
    return y;
  }
  case NET_CONV_ENC: return conv_enc_forward(ctx, n, x);
  case NET_CONV_DEC: return conv_dec_forward(ctx, n, x);
  }
  return NULL;
}
