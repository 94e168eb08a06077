/* guidedvae.c — unsupervised Guided-VAE (Ding et al., CVPR 2020; official code
 * mlpc-ucsd/Guided-VAE, model.py unGuidedVAE.light_decode and losses.py loss_unsupervised).
 *
 * A Gaussian VAE (the shared encoder/decoder of models/arch.h, so every model shares one
 * architecture; the official code's own MNIST conv net is not used) whose codes also drive a
 * "light" guide decoder, a deformable template:
 *     z[0] scale code, z[1] rotation code,
 *     z[2], z[3] translation codes (key translation = 1; our extension for dSprites, where
 *                position is a factor — not in the official code),
 *     the remaining n_content codes z_c (n_content = z_dim − 2, or − 4 with translation).
 *     template  T   = sigmoid(W·z_c + b)              (Linear n_content → c·h·w) [n×c×h×w]
 *     rotation  a   = w_r·z[1] + b_r                  (Linear 1 → 1)
 *               T'  = grid_sample(T, affine_grid([[cos a, sin a, 0], [−sin a, cos a, 0]]))
 *     scale     (s1, s2) = Linear(1 → 2)(z[0]); translation (tx, ty) = Linear(2 → 2)(z[2:4])
 *               T'' = grid_sample(T', affine_grid([[s1, 0, tx], [0, s2, ty]]))
 * Two grid_samples in sequence, rotation first, as the official code does (so the result is
 * exactly the official one; composing into one θ would interpolate once and differ slightly).
 * Translation, when on, rides in the second transform.  Grids: align_corners = 0, bilinear,
 * zero padding (PyTorch's defaults in the official code).
 *
 * Loss, per example averaged over the batch, plus the orthogonality penalty:
 *     loss = mean_b [recon + kl + w_guide·guide] + w_org·ORG
 *     recon = Σ_pixels BCE(main decoder logits, x)        (bh_gvae_recon)
 *     kl    = KL(q(z|x) ‖ N(0, I))
 *     guide = Σ_pixels −[x log(T'' + ε) + (1 − x) log(1 − T'' + ε)],  ε = 1e-7
 *     ORG   = Σ_{i≠j} |(WᵀW)_ij|  over the template's n_content weight columns
 * The official loss is a sum over the batch: BCE + KLD + 0.5·BCE_light + ORG; so w_guide = 0.5
 * is the official weighting, and the official ORG weight relative to our per-example mean is
 * 1/batch_size (w_org = 1 here, as chosen for this project, penalises non-orthogonal columns
 * batch_size times more; the columns can be made exactly orthogonal, so both drive ORG to ~0).
 * PyTorch's binary_cross_entropy clamps the logs at −100; we add ε instead (in float32,
 * 1 + ε rounds to 1 + 2⁻²³).  The images are used as the dataset gives them (the official
 * code feeds MNIST's grey levels; so do we for MNIST-format data).
 * One parameter group ("main": encoder, decoder and guide decoder, "guide.*"), one Adam, one
 * phase.  encode/decode are the shared Gaussian VAE's (the main decoder).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "baselines/baselines.h"
#include "baselines/vae.h"
#include "core/error.h"
#include "core/layers.h"
#include "core/ops.h"
#include "core/rng.h"

#define GUIDE_EPS 1e-7f /* inside the guide BCE's logs */

typedef struct bh_guidedvae {
  bh_gvae g;             /* first: bh_gvae_class_encode/decode read it */
  bh_linear_layer tmpl;  /* z_c [n × n_content] -> [n × c·h·w] */
  bh_linear_layer rot;   /* z[1] [n × 1] -> a [n × 1] */
  bh_linear_layer scale; /* z[0] [n × 1] -> (s1, s2) [n × 2] */
  bh_linear_layer trans; /* z[2:4] [n × 2] -> (tx, ty) [n × 2]; translation only */
  int translation;
  int n_geo;     /* 2, or 4 with translation: the content codes start here */
  int n_content;
  double w_guide, w_org;
} bh_guidedvae;

/* ---- rotation θ: angles [n × 1] -> [n × 2 × 3] ----
 * θ_i = [[cos a, sin a, 0], [−sin a, cos a, 0]];
 * da += dθ0·(−sin a) + dθ1·cos a + dθ3·(−cos a) + dθ4·(−sin a). */

static void rotation_theta_backward(bh_node *nd) {
  bh_tensor *a = nd->in[0];
  const float *dth = nd->out->grad;
  float *da = bh_grad_acc(a);
  for (size_t i = 0; i < a->size; i++) {
    double c = cos(a->data[i]), s = sin(a->data[i]);
    const float *d = dth + 6 * i;
    da[i] += (float)(-d[0] * s + d[1] * c - d[3] * c - d[4] * s);
  }
}

bh_tensor *bh_guidedvae_rotation_theta(bh_ctx *ctx, bh_tensor *angle) {
  if (!angle) return NULL;
  if (bh_tensor_cols(angle) != 1)
    return bh_error_shapes("guidedvae_rotation_theta", "angle must be [n x 1]", angle, NULL);
  int n = bh_tensor_rows(angle), shape[3] = {n, 2, 3};
  bh_tensor *th = bh_tensor_new(ctx, 3, shape);
  if (!th) return NULL;
  for (int i = 0; i < n; i++) {
    float c = (float)cos(angle->data[i]), s = (float)sin(angle->data[i]);
    float *t = th->data + 6 * (size_t)i;
    t[0] = c, t[1] = s, t[2] = 0.0f, t[3] = -s, t[4] = c, t[5] = 0.0f;
  }
  if (bh_ctx_wants_grad(ctx, 1, &angle) &&
      !bh_ctx_record(ctx, "guidedvae_rotation_theta", rotation_theta_backward, th, 1, &angle))
    return NULL;
  return th;
}

/* [n × 1] zeros, no gradient */
static bh_tensor *zero_column(bh_ctx *ctx, int n) {
  bh_tensor *t = bh_tensor_new2(ctx, n, 1);
  if (t) memset(t->data, 0, t->size * sizeof(float));
  return t;
}

/* θ = [[s1, 0, tx], [0, s2, ty]] from s [n × 2] and t [n × 2] (NULL: no translation) ->
 * [n × 6] */
static bh_tensor *scale_theta(bh_ctx *ctx, bh_tensor *s, bh_tensor *t) {
  if (!s) return NULL;
  int n = bh_tensor_rows(s);
  bh_tensor *zero = zero_column(ctx, n);
  bh_tensor *tx = t ? bh_slice(ctx, t, 0, 1) : zero, *ty = t ? bh_slice(ctx, t, 1, 1) : zero;
  bh_tensor *parts[6] = {bh_slice(ctx, s, 0, 1), zero, tx, zero, bh_slice(ctx, s, 1, 1), ty};
  for (int k = 0; k < 6; k++)
    if (!parts[k]) return NULL;
  return bh_concat(ctx, parts, 6);
}

/* The guide decoder: codes z [n × z_dim] -> T'' [n × c × h × w], probabilities. */
static bh_tensor *guide_decode(const bh_guidedvae *v, bh_ctx *ctx, bh_tensor *z) {
  const bh_gvae *g = &v->g;
  int n = bh_tensor_rows(z), shape[4] = {n, g->c, g->h, g->w};
  bh_tensor *zc = bh_slice(ctx, z, v->n_geo, v->n_content);
  bh_tensor *tmpl = bh_sigmoid(ctx, bh_linear_layer_forward(ctx, &v->tmpl, zc));
  tmpl = tmpl ? bh_reshape(ctx, tmpl, 4, shape) : NULL; /* [n × c × h × w] */
  bh_tensor *a = bh_linear_layer_forward(ctx, &v->rot, bh_slice(ctx, z, 1, 1)); /* [n × 1] */
  bh_tensor *th_r = bh_guidedvae_rotation_theta(ctx, a);
  bh_tensor *rotated = bh_grid_sample(ctx, tmpl, bh_affine_grid(ctx, th_r, g->h, g->w, 0), 0);
  bh_tensor *s = bh_linear_layer_forward(ctx, &v->scale, bh_slice(ctx, z, 0, 1)); /* [n × 2] */
  bh_tensor *t = NULL;
  if (v->translation) {
    t = bh_linear_layer_forward(ctx, &v->trans, bh_slice(ctx, z, 2, 2)); /* [n × 2] */
    if (!t) return NULL;
  }
  bh_tensor *th_s = scale_theta(ctx, s, t);
  return bh_grid_sample(ctx, rotated, bh_affine_grid(ctx, th_s, g->h, g->w, 0), 0);
}

/* p [n × ...] probabilities, x [n × ...] constant targets -> [n]:
 * Σ −[x log(p + ε) + (1 − x) log(1 − p + ε)] = −Σ [lq + x·(lp − lq)] */
static bh_tensor *bce_prob(bh_ctx *ctx, bh_tensor *p, bh_tensor *x) {
  bh_tensor *lp = bh_log(ctx, bh_add_scalar(ctx, p, GUIDE_EPS));
  bh_tensor *lq = bh_log(ctx, bh_add_scalar(ctx, bh_scale(ctx, p, -1.0f), 1.0f + GUIDE_EPS));
  bh_tensor *ll = bh_add(ctx, lq, bh_mul(ctx, bh_sub(ctx, lp, lq), x));
  return bh_scale(ctx, bh_sum(ctx, ll, BH_AXIS_COLS), -1.0f);
}

/* ORG = Σ_{i≠j} |(WᵀW)_ij| of W [c·h·w × n_content] -> [1]; |x| = relu(x) + relu(−x) */
static bh_tensor *org_penalty(bh_ctx *ctx, bh_tensor *w) {
  int k = (int)bh_tensor_cols(w);
  bh_tensor *gram = bh_matmul(ctx, w, w, 1, 0); /* [k × k] */
  bh_tensor *absg = bh_add(ctx, bh_relu(ctx, gram), bh_relu(ctx, bh_scale(ctx, gram, -1.0f)));
  bh_tensor *mask = bh_tensor_new2(ctx, k, k); /* 1 off the diagonal, no gradient */
  if (!mask) return NULL;
  for (int i = 0; i < k; i++)
    for (int j = 0; j < k; j++) mask->data[i * k + j] = i != j;
  return bh_sum(ctx, bh_mul(ctx, absg, mask), BH_AXIS_ALL);
}

static bh_tensor *guidedvae_loss(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *batches,
                                 bh_rng *rng, bh_terms *terms) {
  bh_guidedvae *v = m->impl;
  if (phase != 0) {
    bh_error(BH_EINVAL, "%s: no update phase %d (one phase)", m->cls->name, phase);
    return NULL;
  }
  bh_gvae_pass p;
  bh_tensor *recon, *kl; /* [1] each */
  if (bh_gvae_elbo(&v->g, ctx, &batches[0], rng, &p, &recon, &kl) != BH_OK) return NULL;
  bh_tensor *guide = bh_mean(ctx, bce_prob(ctx, guide_decode(v, ctx, p.z), p.x), BH_AXIS_ALL);
  bh_tensor *org = org_penalty(ctx, v->tmpl.w);                                       /* [1] */
  bh_tensor *loss = bh_add(ctx, bh_add(ctx, recon, kl),
                           bh_add(ctx, bh_scale(ctx, guide, (float)v->w_guide),
                                  bh_scale(ctx, org, (float)v->w_org)));
  if (!loss) return NULL;
  bh_terms_set(terms, "loss", loss->data[0]);
  bh_terms_set(terms, "recon", recon->data[0]);
  bh_terms_set(terms, "kl", kl->data[0]);
  bh_terms_set(terms, "guide", guide->data[0]);
  bh_terms_set(terms, "org", org->data[0]);
  return loss;
}

static void guidedvae_destroy(bh_model *m) {
  bh_guidedvae *v = m->impl;
  if (!v) return;
  bh_gvae_free(&v->g);
  free(v);
  m->impl = NULL;
}

/* The guide decoder's layers in group p ("guide.*"), PyTorch's default initialisation. */
static int guide_init(bh_guidedvae *v, bh_params *p, int chw, gsl_rng *init) {
  int st = bh_linear_layer_init(&v->tmpl, p, "guide.template", v->n_content, chw, 1, init);
  if (st == BH_OK) st = bh_linear_layer_init(&v->rot, p, "guide.rotation", 1, 1, 1, init);
  if (st == BH_OK) st = bh_linear_layer_init(&v->scale, p, "guide.scale", 1, 2, 1, init);
  if (st == BH_OK && v->translation)
    st = bh_linear_layer_init(&v->trans, p, "guide.translation", 2, 2, 1, init);
  return st;
}

static int guidedvae_create(bh_model *m, gsl_rng *init) {
  const bh_config *cfg = m->cfg;
  double w_guide = bh_config_num(cfg, "w_guide"), w_org = bh_config_num(cfg, "w_org");
  int translation = (int)bh_config_int(cfg, "translation");
  long z_dim = bh_config_int(cfg, "z_dim");
  int n_geo = translation ? 4 : 2;
  if (!isfinite(w_guide) || w_guide < 0)
    return bh_error(BH_EINVAL, "guidedvae: key 'w_guide' must be >= 0 (got %g)", w_guide);
  if (!isfinite(w_org) || w_org < 0)
    return bh_error(BH_EINVAL, "guidedvae: key 'w_org' must be >= 0 (got %g)", w_org);
  if (z_dim - n_geo < 1)
    return bh_error(BH_EINVAL,
                    "guidedvae: key 'z_dim' must be >= %d (%d geometric codes%s + >= 1 content "
                    "code; got %ld)",
                    n_geo + 1, n_geo, translation ? " with translation" : "", z_dim);

  bh_guidedvae *v = calloc(1, sizeof *v);
  if (!v) return bh_error(BH_ENOMEM, "guidedvae: out of memory");
  v->translation = translation;
  v->n_geo = n_geo;
  v->n_content = (int)z_dim - n_geo;
  v->w_guide = w_guide;
  v->w_org = w_org;
  int st = bh_gvae_main_group(m);
  if (st == BH_OK) st = bh_gvae_init(&v->g, m, m->group[0], init);
  if (st == BH_OK) st = guide_init(v, m->group[0], m->data.c * m->data.h * m->data.w, init);
  if (st != BH_OK) {
    bh_gvae_free(&v->g);
    free(v);
    return st;
  }
  m->z_dim = v->g.z_dim;
  m->impl = v;
  return BH_OK;
}

static const bh_cfg_key guidedvae_keys[] = {
    {"w_guide", BH_CFG_NUM, "0.5",
     "weight on the guide decoder's BCE (0.5: the official losses.py)"},
    {"w_org", BH_CFG_NUM, "1",
     "weight on ORG = sum of |W^T W| off the diagonal, the template columns' orthogonality "
     "(added once per batch to the per-example mean loss; the official sum-over-batch loss "
     "corresponds to 1/batch_size)"},
    {"translation", BH_CFG_BOOL, "0",
     "1: z[2], z[3] are translation codes of the guide decoder (our extension for dSprites, "
     "not in the official code)"},
    {NULL, 0, NULL, NULL}};

const bh_model_class bh_guidedvae_class = {
    "guidedvae",
    "Guided-VAE, unsupervised (Ding et al.): VAE + a template guide decoder with scale, "
    "rotation (and translation) codes",
    guidedvae_keys, guidedvae_create, guidedvae_loss, bh_gvae_class_encode,
    bh_gvae_class_decode, guidedvae_destroy, NULL};
