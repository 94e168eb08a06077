/* layers.h — parameterised layers (linear, conv2d, conv-transpose2d), an MLP builder and the
 * weight initialisers.
 *
 * A layer registers its tensors in a bh_params group under a name prefix ("enc.0" gives
 * "enc.0.w" and "enc.0.b") and keeps pointers to them; the group owns the memory, so a layer
 * struct needs no free.  Initialisers draw from the gsl_rng passed in (the run's "init" stream,
 * rng.h); a NULL rng leaves the parameters at zero, for a model about to load a checkpoint.
 *
 * Default initialisation is PyTorch's for nn.Linear / nn.Conv2d / nn.ConvTranspose2d:
 * kaiming_uniform with a = √5, i.e. W ~ U(−1/√fan_in, 1/√fan_in), and the bias from the same
 * bound.  Fans follow PyTorch's rule for a weight of shape [d0, d1, k...]: fan_in = d1·Πk,
 * fan_out = d0·Πk (so a conv-transpose weight [in, out, kh, kw] has fan_in = out·kh·kw, as in
 * PyTorch).
 */
#ifndef BH_LAYERS_H
#define BH_LAYERS_H

#include <gsl/gsl_rng.h>

#include "core/graph.h"
#include "core/params.h"

/* ---------------- initialisers ---------------- */

/* fan_in and fan_out of a weight by PyTorch's rule (above); a 1-D tensor has fan_in = fan_out =
 * its size. */
void bh_init_fans(const bh_tensor *w, int *fan_in, int *fan_out);
/* t ~ U[lo, hi) */
void bh_init_uniform(bh_tensor *t, gsl_rng *r, float lo, float hi);
/* t ~ N(mean, std²) */
void bh_init_normal(bh_tensor *t, gsl_rng *r, float mean, float std);
void bh_init_constant(bh_tensor *t, float value);
/* PyTorch's default for Linear/Conv: w ~ U(±1/√fan_in); b (may be NULL) ~ U(±1/√fan_in) with
 * the fan_in of w.  Draws w first, then b. */
void bh_init_torch_default(bh_tensor *w, bh_tensor *b, gsl_rng *r);
/* Glorot/Xavier: w ~ U(±gain·√(6/(fan_in+fan_out))) */
void bh_init_xavier_uniform(bh_tensor *w, gsl_rng *r, float gain);
/* Glorot/Xavier: w ~ N(0, gain²·2/(fan_in+fan_out)) */
void bh_init_xavier_normal(bh_tensor *w, gsl_rng *r, float gain);

/* ---------------- activations ---------------- */

typedef enum bh_act_kind {
  BH_ACT_NONE = 0,   /* identity */
  BH_ACT_RELU,       /* max(x, 0) */
  BH_ACT_LEAKY_RELU, /* x > 0 ? x : slope·x */
  BH_ACT_TANH
} bh_act_kind;

typedef struct bh_act {
  bh_act_kind kind;
  float slope; /* BH_ACT_LEAKY_RELU only */
} bh_act;

static inline bh_act bh_act_none(void) { return (bh_act){BH_ACT_NONE, 0.0f}; }
static inline bh_act bh_act_relu(void) { return (bh_act){BH_ACT_RELU, 0.0f}; }
static inline bh_act bh_act_leaky_relu(float slope) { return (bh_act){BH_ACT_LEAKY_RELU, slope}; }
static inline bh_act bh_act_tanh(void) { return (bh_act){BH_ACT_TANH, 0.0f}; }

/* x -> act(x), same shape; BH_ACT_NONE returns x itself.  NULL for a NULL x or unknown kind. */
bh_tensor *bh_act_apply(bh_ctx *ctx, bh_tensor *x, bh_act act);

/* ---------------- linear ---------------- */

typedef struct bh_linear_layer {
  bh_tensor *w; /* [out × in], "<prefix>.w" */
  bh_tensor *b; /* [out], "<prefix>.b"; NULL without bias */
  int in, out;
} bh_linear_layer;

/* Register "<prefix>.w" (and "<prefix>.b" when bias) in p, initialised by
 * bh_init_torch_default from r (zero when r is NULL).  BH_EINVAL for widths < 1 or a name
 * already in p; BH_ENOMEM. */
int bh_linear_layer_init(bh_linear_layer *l, bh_params *p, const char *prefix, int in, int out,
                         int bias, gsl_rng *r);
/* x [n × in] (any rank, rows = shape[0]) -> [n × out] */
bh_tensor *bh_linear_layer_forward(bh_ctx *ctx, const bh_linear_layer *l, bh_tensor *x);

/* ---------------- conv2d, conv-transpose2d (square kernels) ---------------- */

typedef struct bh_conv2d_layer {
  bh_tensor *w; /* [out_ch × in_ch × k × k] */
  bh_tensor *b; /* [out_ch] or NULL */
  int in_ch, out_ch, k, stride, pad;
} bh_conv2d_layer;

int bh_conv2d_layer_init(bh_conv2d_layer *l, bh_params *p, const char *prefix, int in_ch,
                         int out_ch, int k, int stride, int pad, int bias, gsl_rng *r);
/* x [n × in_ch × h × w] -> [n × out_ch × ho × wo] (bh_conv2d) */
bh_tensor *bh_conv2d_layer_forward(bh_ctx *ctx, const bh_conv2d_layer *l, bh_tensor *x);

typedef struct bh_conv_transpose2d_layer {
  bh_tensor *w; /* [in_ch × out_ch × k × k] (PyTorch layout) */
  bh_tensor *b; /* [out_ch] or NULL */
  int in_ch, out_ch, k, stride, pad, out_pad;
} bh_conv_transpose2d_layer;

int bh_conv_transpose2d_layer_init(bh_conv_transpose2d_layer *l, bh_params *p,
                                   const char *prefix, int in_ch, int out_ch, int k, int stride,
                                   int pad, int out_pad, int bias, gsl_rng *r);
/* x [n × in_ch × h × w] -> [n × out_ch × ho × wo] (bh_conv_transpose2d) */
bh_tensor *bh_conv_transpose2d_layer_forward(bh_ctx *ctx, const bh_conv_transpose2d_layer *l,
                                             bh_tensor *x);

/* ---------------- MLP ---------------- */

/* widths[0] -> widths[1] -> ... -> widths[n-1]: n-1 linear layers "<prefix>.0", "<prefix>.1",
 * ..., each hidden one followed by `hidden`, the last one linear (no activation). */
typedef struct bh_mlp {
  int nlayers;
  bh_linear_layer *layers;
  bh_act hidden;
} bh_mlp;

/* nwidths >= 2.  NULL (with bh_error set) on a bad width or name clash; parameters already
 * registered in p by a failed call stay there. */
bh_mlp *bh_mlp_alloc(bh_params *p, const char *prefix, int nwidths, const int *widths,
                     bh_act hidden, gsl_rng *r);
void bh_mlp_free(bh_mlp *m);
/* x [n × widths[0]] -> [n × widths[nwidths-1]] */
bh_tensor *bh_mlp_forward(bh_ctx *ctx, const bh_mlp *m, bh_tensor *x);

#endif
