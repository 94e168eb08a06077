/* layers.c — layers, MLP and initialisers (see layers.h). */
#include "core/layers.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/ops.h"

/* ---------------- initialisers ---------------- */

void bh_init_fans(const bh_tensor *w, int *fan_in, int *fan_out) {
  if (w->ndim < 2) {
    *fan_in = *fan_out = (int)w->size;
    return;
  }
  int receptive = 1;
  for (int d = 2; d < w->ndim; d++) receptive *= w->shape[d];
  *fan_in = w->shape[1] * receptive;
  *fan_out = w->shape[0] * receptive;
}

void bh_init_uniform(bh_tensor *t, gsl_rng *r, float lo, float hi) {
  for (size_t i = 0; i < t->size; i++) t->data[i] = lo + (hi - lo) * (float)gsl_rng_uniform(r);
}

void bh_init_normal(bh_tensor *t, gsl_rng *r, float mean, float std) {
  for (size_t i = 0; i < t->size; i++)
    t->data[i] = mean + (float)gsl_ran_gaussian_ziggurat(r, (double)std);
}

void bh_init_constant(bh_tensor *t, float value) {
  for (size_t i = 0; i < t->size; i++) t->data[i] = value;
}

void bh_init_torch_default(bh_tensor *w, bh_tensor *b, gsl_rng *r) {
  int fan_in, fan_out;
  bh_init_fans(w, &fan_in, &fan_out);
  /* kaiming_uniform(a = √5): gain √(2/(1+5)) = √(1/3), bound gain·√(3/fan_in) = 1/√fan_in */
  float bound = fan_in > 0 ? (float)(1.0 / sqrt((double)fan_in)) : 0.0f;
  bh_init_uniform(w, r, -bound, bound);
  if (b) bh_init_uniform(b, r, -bound, bound);
}

static double xavier_var(const bh_tensor *w, float gain) {
  int fan_in, fan_out;
  bh_init_fans(w, &fan_in, &fan_out);
  return (double)gain * gain * 2.0 / (double)(fan_in + fan_out);
}

void bh_init_xavier_uniform(bh_tensor *w, gsl_rng *r, float gain) {
  float a = (float)sqrt(3.0 * xavier_var(w, gain)); /* U(±a) has variance a²/3 */
  bh_init_uniform(w, r, -a, a);
}

void bh_init_xavier_normal(bh_tensor *w, gsl_rng *r, float gain) {
  bh_init_normal(w, r, 0.0f, (float)sqrt(xavier_var(w, gain)));
}

/* ---------------- activations ---------------- */

bh_tensor *bh_act_apply(bh_ctx *ctx, bh_tensor *x, bh_act act) {
  if (!x) return NULL;
  switch (act.kind) {
    case BH_ACT_NONE: return x;
    case BH_ACT_RELU: return bh_relu(ctx, x);
    case BH_ACT_LEAKY_RELU: return bh_leaky_relu(ctx, x, act.slope);
    case BH_ACT_TANH: return bh_tanh(ctx, x);
  }
  bh_error(BH_EINVAL, "activation: unknown kind %d", (int)act.kind);
  return NULL;
}

/* ---------------- parameter registration, shared by the layers ---------------- */

/* Add "<prefix>.<suffix>" to p. */
static bh_tensor *add_param(bh_params *p, const char *prefix, const char *suffix, int ndim,
                            const int *shape) {
  char name[256];
  if (snprintf(name, sizeof name, "%s.%s", prefix, suffix) >= (int)sizeof name) {
    bh_error(BH_EINVAL, "layer '%s': name prefix too long", prefix);
    return NULL;
  }
  return bh_params_add(p, name, ndim, shape);
}

/* Weight of the given shape and an optional bias of `nbias`, torch-default initialised. */
static int add_weight_bias(bh_params *p, const char *prefix, int ndim, const int *wshape,
                           int nbias, int bias, gsl_rng *r, bh_tensor **w, bh_tensor **b) {
  *b = NULL;
  *w = add_param(p, prefix, "w", ndim, wshape);
  if (!*w) return bh_error_code();
  if (bias && !(*b = add_param(p, prefix, "b", 1, &nbias))) return bh_error_code();
  if (r) bh_init_torch_default(*w, *b, r);
  return BH_OK;
}

/* ---------------- linear ---------------- */

int bh_linear_layer_init(bh_linear_layer *l, bh_params *p, const char *prefix, int in, int out,
                         int bias, gsl_rng *r) {
  if (in < 1 || out < 1)
    return bh_error(BH_EINVAL, "linear layer '%s': widths must be >= 1 (got %d -> %d)", prefix,
                    in, out);
  int shape[2] = {out, in};
  *l = (bh_linear_layer){.in = in, .out = out};
  return add_weight_bias(p, prefix, 2, shape, out, bias, r, &l->w, &l->b);
}

bh_tensor *bh_linear_layer_forward(bh_ctx *ctx, const bh_linear_layer *l, bh_tensor *x) {
  return bh_linear(ctx, x, l->w, l->b);
}

/* ---------------- conv2d, conv-transpose2d ---------------- */

static int conv_args_check(const char *what, const char *prefix, int in_ch, int out_ch, int k,
                           int stride, int pad) {
  if (in_ch < 1 || out_ch < 1 || k < 1 || stride < 1 || pad < 0)
    return bh_error(BH_EINVAL,
                    "%s layer '%s': need channels, kernel, stride >= 1 and pad >= 0 "
                    "(got %d -> %d, k %d, stride %d, pad %d)",
                    what, prefix, in_ch, out_ch, k, stride, pad);
  return BH_OK;
}

int bh_conv2d_layer_init(bh_conv2d_layer *l, bh_params *p, const char *prefix, int in_ch,
                         int out_ch, int k, int stride, int pad, int bias, gsl_rng *r) {
  if (conv_args_check("conv2d", prefix, in_ch, out_ch, k, stride, pad)) return BH_EINVAL;
  int shape[4] = {out_ch, in_ch, k, k};
  *l = (bh_conv2d_layer){.in_ch = in_ch, .out_ch = out_ch, .k = k, .stride = stride, .pad = pad};
  return add_weight_bias(p, prefix, 4, shape, out_ch, bias, r, &l->w, &l->b);
}

bh_tensor *bh_conv2d_layer_forward(bh_ctx *ctx, const bh_conv2d_layer *l, bh_tensor *x) {
  return bh_conv2d(ctx, x, l->w, l->b, l->stride, l->pad);
}

int bh_conv_transpose2d_layer_init(bh_conv_transpose2d_layer *l, bh_params *p,
                                   const char *prefix, int in_ch, int out_ch, int k, int stride,
                                   int pad, int out_pad, int bias, gsl_rng *r) {
  if (conv_args_check("conv_transpose2d", prefix, in_ch, out_ch, k, stride, pad)) return BH_EINVAL;
  if (out_pad < 0 || out_pad >= stride)
    return bh_error(BH_EINVAL, "conv_transpose2d layer '%s': out_pad must be in [0, stride) (got %d)",
                    prefix, out_pad);
  int shape[4] = {in_ch, out_ch, k, k};
  *l = (bh_conv_transpose2d_layer){.in_ch = in_ch, .out_ch = out_ch, .k = k, .stride = stride,
                                   .pad = pad, .out_pad = out_pad};
  return add_weight_bias(p, prefix, 4, shape, out_ch, bias, r, &l->w, &l->b);
}

bh_tensor *bh_conv_transpose2d_layer_forward(bh_ctx *ctx, const bh_conv_transpose2d_layer *l,
                                             bh_tensor *x) {
  return bh_conv_transpose2d(ctx, x, l->w, l->b, l->stride, l->pad, l->out_pad);
}

/* ---------------- MLP ---------------- */

bh_mlp *bh_mlp_alloc(bh_params *p, const char *prefix, int nwidths, const int *widths,
                     bh_act hidden, gsl_rng *r) {
  if (nwidths < 2) {
    bh_error(BH_EINVAL, "mlp '%s': need at least 2 widths (got %d)", prefix, nwidths);
    return NULL;
  }
  if (hidden.kind < BH_ACT_NONE || hidden.kind > BH_ACT_TANH) {
    bh_error(BH_EINVAL, "mlp '%s': unknown activation kind %d", prefix, (int)hidden.kind);
    return NULL;
  }
  bh_mlp *m = calloc(1, sizeof *m);
  bh_linear_layer *layers = calloc((size_t)nwidths - 1, sizeof *layers);
  if (!m || !layers) {
    free(m);
    free(layers);
    bh_error(BH_ENOMEM, "mlp '%s': out of memory", prefix);
    return NULL;
  }
  m->nlayers = nwidths - 1;
  m->layers = layers;
  m->hidden = hidden;
  for (int i = 0; i < m->nlayers; i++) {
    char name[256];
    snprintf(name, sizeof name, "%s.%d", prefix, i); /* a long prefix fails in add_param */
    if (bh_linear_layer_init(&layers[i], p, name, widths[i], widths[i + 1], 1, r) != BH_OK) {
      bh_mlp_free(m);
      return NULL;
    }
  }
  return m;
}

void bh_mlp_free(bh_mlp *m) {
  if (!m) return;
  free(m->layers);
  free(m);
}

bh_tensor *bh_mlp_forward(bh_ctx *ctx, const bh_mlp *m, bh_tensor *x) {
  for (int i = 0; i < m->nlayers && x; i++) {
    x = bh_linear_layer_forward(ctx, &m->layers[i], x);
    if (i + 1 < m->nlayers) x = bh_act_apply(ctx, x, m->hidden);
  }
  return x;
}
