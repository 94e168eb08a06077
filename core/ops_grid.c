/* ops_grid.c — spatial transformer: affine sampling grids and bilinear sampling (Guided-VAE).
 *
 * Semantics are PyTorch's affine_grid and grid_sample (mode bilinear, padding zeros).  Grid
 * coordinates are normalised: x = −1 is the left edge of the image and x = 1 the right edge
 * (align_corners = 0), or the centres of the first and last pixels (align_corners = 1).
 */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"

/* Normalised coordinate of pixel j of `size` (PyTorch's base grid: linspace(−1, 1, size),
 * scaled by (size − 1)/size when align_corners = 0; a single pixel sits at −1 or 0). */
static float base_coord(int j, int size, int align_corners) {
  if (align_corners) return size > 1 ? -1.0f + 2.0f * (float)j / (float)(size - 1) : -1.0f;
  return (2.0f * (float)j + 1.0f) / (float)size - 1.0f;
}

/* ---- affine_grid: theta [n×2×3] (or [n×6]) -> grid [n×h×w×2] ----
 * grid[i, y, x] = theta_i · (x_n, y_n, 1) with x_n, y_n the normalised pixel coordinates. */

static void affine_grid_backward(bh_node *nd) {
  bh_tensor *theta = nd->in[0];
  int n = nd->ip[0], h = nd->ip[1], w = nd->ip[2], ac = nd->ip[3];
  float *dth = bh_grad_acc(theta);
  const float *dg = nd->out->grad;
  for (int i = 0; i < n; i++) {
    double s[6] = {0}; /* Σ dgx·(xn, yn, 1) and Σ dgy·(xn, yn, 1), accumulated in double */
    for (int y = 0; y < h; y++) {
      float yn = base_coord(y, h, ac);
      const float *g = dg + ((size_t)i * h + y) * w * 2;
      for (int x = 0; x < w; x++) {
        float xn = base_coord(x, w, ac), gx = g[2 * x], gy = g[2 * x + 1];
        s[0] += gx * xn, s[1] += gx * yn, s[2] += gx;
        s[3] += gy * xn, s[4] += gy * yn, s[5] += gy;
      }
    }
    for (int j = 0; j < 6; j++) dth[6 * i + j] += (float)s[j];
  }
}

bh_tensor *bh_affine_grid(bh_ctx *ctx, bh_tensor *theta, int h, int w, int align_corners) {
  if (!theta) return NULL;
  int n = bh_tensor_rows(theta);
  if (bh_tensor_cols(theta) != 6 || theta->ndim > 3 || (theta->ndim == 3 && theta->shape[1] != 2))
    return bh_error_shapes("affine_grid", "theta must be [n x 2 x 3] (or [n x 6])", theta, NULL);
  if (h < 1 || w < 1) {
    bh_error(BH_EINVAL, "affine_grid: output size %d x %d must be positive", h, w);
    return NULL;
  }
  int shape[4] = {n, h, w, 2};
  bh_tensor *grid = bh_tensor_new(ctx, 4, shape);
  if (!grid) return NULL;
  for (int i = 0; i < n; i++) {
    const float *t = theta->data + 6 * (size_t)i;
    for (int y = 0; y < h; y++) {
      float yn = base_coord(y, h, align_corners);
      float *g = grid->data + ((size_t)i * h + y) * w * 2;
      for (int x = 0; x < w; x++) {
        float xn = base_coord(x, w, align_corners);
        g[2 * x] = t[0] * xn + t[1] * yn + t[2];
        g[2 * x + 1] = t[3] * xn + t[4] * yn + t[5];
      }
    }
  }
  if (bh_ctx_wants_grad(ctx, 1, &theta)) {
    bh_node *nd = bh_ctx_record(ctx, "affine_grid", affine_grid_backward, grid, 1, &theta);
    if (!nd) return NULL;
    nd->ip[0] = n, nd->ip[1] = h, nd->ip[2] = w, nd->ip[3] = align_corners != 0;
  }
  return grid;
}

/* ---- grid_sample: img [n×c×hi×wi], grid [n×ho×wo×2] -> [n×c×ho×wo] ----
 * Each output pixel reads four taps (the corners around the source point).  A tap outside the
 * image has weight 0 (zero padding) and a clamped, harmless index.  With the source point
 * (ix, iy) in pixels, x0 = floor(ix), fx = ix − x0 (likewise y), the weights are
 *   w00 = (1−fy)(1−fx), w01 = (1−fy)fx, w10 = fy(1−fx), w11 = fy·fx,
 * and the tap also keeps ∂w/∂ix and ∂w/∂iy for the gradient to the grid. */

typedef struct grid_tap {
  int idx[4];                 /* pixel offsets in the image plane */
  float w[4], dwx[4], dwy[4]; /* weight and its derivatives in pixel units; 0 outside */
} grid_tap;

/* Pixel coordinate of normalised g along an axis of `size` pixels, and d(pixel)/d(g). */
static float unnormalise(float g, int size, int align_corners, float *scale) {
  if (align_corners) {
    *scale = 0.5f * (float)(size - 1);
    return (g + 1.0f) * 0.5f * (float)(size - 1);
  }
  *scale = 0.5f * (float)size;
  return ((g + 1.0f) * (float)size - 1.0f) * 0.5f;
}

static void make_tap(grid_tap *t, float ix, float iy, int hi, int wi) {
  memset(t, 0, sizeof *t);
  /* all four corners are outside (or the point is NaN): no value, no gradient; this also keeps
   * floor() of huge values away from the int conversion */
  if (!(ix > -1.0f && ix < (float)wi && iy > -1.0f && iy < (float)hi)) return;
  float x0f = floorf(ix), y0f = floorf(iy);
  int x0 = (int)x0f, y0 = (int)y0f;
  float fx = ix - x0f, fy = iy - y0f;
  const float wy[2] = {1.0f - fy, fy}, wx[2] = {1.0f - fx, fx};
  const float dwy[2] = {-1.0f, 1.0f}, dwx[2] = {-1.0f, 1.0f};
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++) {
      int y = y0 + a, x = x0 + b, k = 2 * a + b;
      if (y < 0 || y >= hi || x < 0 || x >= wi) continue;
      t->idx[k] = y * wi + x;
      t->w[k] = wy[a] * wx[b];
      t->dwx[k] = wy[a] * dwx[b];
      t->dwy[k] = dwy[a] * wx[b];
    }
}

typedef struct grid_plan {
  int n, c, hi, wi, ho, wo, align_corners;
  float sx, sy;   /* d(pixel)/d(normalised) along x and y */
  grid_tap *taps; /* scratch: the taps of one image [ho·wo] */
} grid_plan;

/* Taps of image i from its grid. */
static void plan_taps(const grid_plan *pl, const float *grid, int i) {
  const size_t p = (size_t)pl->ho * pl->wo;
  const float *g = grid + (size_t)i * p * 2;
  float sc;
  for (size_t q = 0; q < p; q++) {
    float ix = unnormalise(g[2 * q], pl->wi, pl->align_corners, &sc);
    float iy = unnormalise(g[2 * q + 1], pl->hi, pl->align_corners, &sc);
    make_tap(&pl->taps[q], ix, iy, pl->hi, pl->wi);
  }
}

static void grid_sample_backward(bh_node *nd) {
  bh_tensor *img = nd->in[0], *grid = nd->in[1];
  const grid_plan *pl = nd->saved;
  const size_t p = (size_t)pl->ho * pl->wo, plane = (size_t)pl->hi * pl->wi;
  float *dimg = bh_tensor_requires_grad(img) ? bh_grad_acc(img) : NULL;
  float *dgrid = bh_tensor_requires_grad(grid) ? bh_grad_acc(grid) : NULL;
  for (int i = 0; i < pl->n; i++) {
    plan_taps(pl, grid->data, i);
    for (int c = 0; c < pl->c; c++) {
      const float *dy = nd->out->grad + ((size_t)i * pl->c + c) * p;
      const float *im = img->data + ((size_t)i * pl->c + c) * plane;
      float *dim = dimg ? dimg + ((size_t)i * pl->c + c) * plane : NULL;
      float *dg = dgrid ? dgrid + (size_t)i * p * 2 : NULL;
      for (size_t q = 0; q < p; q++) {
        const grid_tap *t = &pl->taps[q];
        if (dim) /* dimg[tap] += w·dy */
          for (int k = 0; k < 4; k++) dim[t->idx[k]] += t->w[k] * dy[q];
        if (dg) { /* dgrid += dy · Σ_k v_k ∂w_k/∂(ix, iy) · d(pixel)/d(normalised) */
          float gx = 0.0f, gy = 0.0f;
          for (int k = 0; k < 4; k++) {
            float v = im[t->idx[k]];
            gx += t->dwx[k] * v, gy += t->dwy[k] * v;
          }
          dg[2 * q] += dy[q] * gx * pl->sx;
          dg[2 * q + 1] += dy[q] * gy * pl->sy;
        }
      }
    }
  }
}

bh_tensor *bh_grid_sample(bh_ctx *ctx, bh_tensor *img, bh_tensor *grid, int align_corners) {
  if (!img || !grid) return NULL;
  if (img->ndim != 4 || grid->ndim != 4 || grid->shape[3] != 2 || grid->shape[0] != img->shape[0])
    return bh_error_shapes("grid_sample", "need img [n x c x h x w] and grid [n x ho x wo x 2]",
                           img, grid);
  if (img->shape[2] < 1 || img->shape[3] < 1)
    return bh_error_shapes("grid_sample", "the image has no pixels", img, grid);
  grid_plan *pl = bh_ctx_push(ctx, sizeof *pl);
  if (!pl) return NULL;
  memset(pl, 0, sizeof *pl);
  pl->n = img->shape[0], pl->c = img->shape[1], pl->hi = img->shape[2], pl->wi = img->shape[3];
  pl->ho = grid->shape[1], pl->wo = grid->shape[2], pl->align_corners = align_corners != 0;
  unnormalise(0.0f, pl->wi, pl->align_corners, &pl->sx);
  unnormalise(0.0f, pl->hi, pl->align_corners, &pl->sy);
  const size_t p = (size_t)pl->ho * pl->wo, plane = (size_t)pl->hi * pl->wi;
  pl->taps = bh_ctx_push(ctx, (p ? p : 1) * sizeof(grid_tap));
  bh_tensor *y = pl->taps ? bh_tensor_new4(ctx, pl->n, pl->c, pl->ho, pl->wo) : NULL;
  if (!y) return NULL;
  for (int i = 0; i < pl->n; i++) {
    plan_taps(pl, grid->data, i);
    for (int c = 0; c < pl->c; c++) {
      const float *im = img->data + ((size_t)i * pl->c + c) * plane;
      float *out = y->data + ((size_t)i * pl->c + c) * p;
      for (size_t q = 0; q < p; q++) {
        const grid_tap *t = &pl->taps[q];
        out[q] = t->w[0] * im[t->idx[0]] + t->w[1] * im[t->idx[1]] + t->w[2] * im[t->idx[2]] +
                 t->w[3] * im[t->idx[3]];
      }
    }
  }
  bh_tensor *in[2] = {img, grid};
  if (bh_ctx_wants_grad(ctx, 2, in)) {
    bh_node *nd = bh_ctx_record(ctx, "grid_sample", grid_sample_backward, y, 2, in);
    if (!nd) return NULL;
    nd->saved = pl;
  }
  return y;
}
