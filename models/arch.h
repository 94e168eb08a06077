/* arch.h — the encoder and decoder networks every model shares.
 *
 * Two families, chosen by the configuration key "arch":
 *   "fc"    the fully connected pair β-TCVAE uses for binary images (Chen et al., vae_quant.py):
 *           encoder in → 1200 → 1200 → out, ReLU; decoder in → 1200 → 1200 → 1200 → out, tanh;
 *           the widths come from the keys "enc_hidden" and "dec_hidden" (tests use tiny ones);
 *           the image size follows the dataset (784 for 28×28, 4096 for 64×64).
 *   "conv"  disentanglement_lib's pair (methods/shared/architectures.py conv_encoder /
 *           deconv_decoder), for 64×64 images with any channel count: encoder conv 32 k4 s2,
 *           32 k4 s2, 64 k2 s2, 64 k2 s2 (TF "same" padding = pad 1, 1, 0, 0 here), ReLU, FC 256
 *           ReLU, FC out; decoder FC 256 ReLU, FC 1024 ReLU → 64×4×4, conv-transpose 64, 32, 32,
 *           C (k4 s2 p1, ReLU between), logits.
 * The encoder maps images [n × c·h·w] to [n × out] (out = 2·z_dim for a Gaussian encoder: the
 * first z_dim columns are the means, the rest the log-variances); the decoder maps codes
 * [n × in] to Bernoulli logits [n × c·h·w].  All parameters go into the group given, under the
 * prefix given ("enc", "dec").
 */
#ifndef BH_MODELS_ARCH_H
#define BH_MODELS_ARCH_H

#include <gsl/gsl_rng.h>

#include "core/graph.h"
#include "core/layers.h"
#include "core/params.h"
#include "models/config.h"

/* The common keys of both families: arch, enc_hidden, dec_hidden. */
extern const bh_cfg_key bh_arch_keys[];

typedef struct bh_net bh_net;

/* An encoder images → [n × out] for images of c×h×w, or NULL with a message (unknown arch,
 * conv on images that are not 64×64, bad widths).  r NULL: parameters left zero (a model about
 * to load a checkpoint). */
bh_net *bh_encoder_alloc(const bh_config *cfg, bh_params *p, const char *prefix, int c, int h,
                         int w, int out, gsl_rng *r);
/* A decoder codes [n × in] → logits [n × c·h·w]. */
bh_net *bh_decoder_alloc(const bh_config *cfg, bh_params *p, const char *prefix, int in, int c,
                         int h, int w, gsl_rng *r);
void bh_net_free(bh_net *n);
/* x [n × in_size] (any rank with rows = shape[0]) → [n × out_size] (2-D) */
bh_tensor *bh_net_forward(bh_ctx *ctx, const bh_net *n, bh_tensor *x);
int bh_net_in_size(const bh_net *n);
int bh_net_out_size(const bh_net *n);

#endif
