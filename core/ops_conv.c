/* ops_conv.c — 2-D convolution (cross-correlation, as in PyTorch) and its adjoint, the
 * transposed convolution, by im2col / col2im + cblas_sgemm.
 *
 * Both ops are one linear map seen from its two sides.  Call "image" the side that is unfolded
 * into columns (im_c channels of im_h × im_w pixels, zero-padded by pad, visited with stride)
 * and "features" the other side (m channels at p = ho·wo kernel placements).  With the weights
 * read as a matrix W [m × k], k = im_c·kh·kw:
 *   conv2d            y = W · im2col(x)        image x, features y, m = output channels
 *   conv_transpose2d  y = col2im(Wᵀ · x)       image y, features x, m = input channels
 * so the backward of either op to its input is the forward of the other, and both weight
 * gradients are dW = features · im2col(image)ᵀ.
 *
 * Images go through the GEMMs in groups of g, the columns of image j of a group at j·p, so that
 * every GEMM has about GROUP_COLS columns: the last encoder layers have 4×4 outputs, and one
 * GEMM per image (16 columns) would run far below peak.  The feature side of a group is then a
 * [m × g·p] matrix gathered from / scattered to the [n × m × p] tensor.  The scratch (column
 * buffer and group buffer) comes from the arena in the forward and is reused by the backward.
 */
#include <cblas.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"
#include "core/threads.h"

/* Columns per GEMM.  Measured on the 2-core machines (batch 64, the conv encoder/decoder): with
 * two OpenBLAS threads, 4096 columns run the layers ~20 % faster than 1024 (fewer, larger GEMMs
 * split better across the threads); single-threaded it makes no difference.  The column buffer
 * of a 64-channel k4 layer (1024 rows) is then 16 MiB of arena. */
enum { GROUP_COLS = 4096 };

typedef struct conv_plan {
  int n;                   /* images */
  int im_c, im_h, im_w;    /* image side */
  int kh, kw, stride, pad; /* kernel placements over the zero-padded image */
  int ho, wo, p;           /* placements: ho × wo = p */
  int m, k;                /* W [m × k], k = im_c·kh·kw */
  int g;                   /* images per GEMM */
  float *col;              /* scratch [k × g·p] */
  float *grp;              /* scratch [m × g·p]; NULL when g = 1 */
} conv_plan;

static void gemm(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

static int min_int(int a, int b) { return a < b ? a : b; }

/* Placements o in [lo, hi) put kernel offset b inside the image: 0 ≤ o·stride − pad + b < size. */
static void inside_span(int b, int pad, int stride, int size, int nout, int *lo, int *hi) {
  int a0 = pad - b, a1 = size + pad - b; /* need o·stride ≥ a0 and o·stride < a1 */
  *lo = min_int(a0 <= 0 ? 0 : (a0 + stride - 1) / stride, nout);
  *hi = min_int(a1 <= 0 ? 0 : (a1 + stride - 1) / stride, nout);
  if (*hi < *lo) *hi = *lo;
}

/* dst[i] = src[i·s]: stride 1 and 2 (every model layer) spelled out so that they vectorise. */
static void gather_strided(float *dst, const float *src, int len, int s) {
  if (s == 1)
    memcpy(dst, src, (size_t)len * sizeof(float));
  else if (s == 2)
    for (int i = 0; i < len; i++) dst[i] = src[2 * i];
  else
    for (int i = 0; i < len; i++) dst[i] = src[i * s];
}

/* dst[i·s] += src[i], likewise. */
static void scatter_add_strided(float *dst, const float *src, int len, int s) {
  if (s == 1)
    for (int i = 0; i < len; i++) dst[i] += src[i];
  else if (s == 2)
    for (int i = 0; i < len; i++) dst[2 * i] += src[i];
  else
    for (int i = 0; i < len; i++) dst[i * s] += src[i];
}

/* ---- im2col / col2im of one channel plane; col has row stride ld ----
 * Row (a, b) of the channel's kh·kw rows, column (oy, ox), holds
 * plane[oy·s − pad + a, ox·s − pad + b], 0 in the padding.  col2im is its adjoint: it adds
 * each column entry back onto its pixel. */

static void im2col_plane(const conv_plan *pl, const float *plane, float *col, int ld) {
  const int s = pl->stride, wo = pl->wo;
  for (int a = 0; a < pl->kh; a++) {
    int ylo, yhi;
    inside_span(a, pl->pad, s, pl->im_h, pl->ho, &ylo, &yhi);
    for (int b = 0; b < pl->kw; b++) {
      int xlo, xhi;
      inside_span(b, pl->pad, s, pl->im_w, wo, &xlo, &xhi);
      float *row = col + (size_t)(a * pl->kw + b) * ld;
      for (int oy = 0; oy < pl->ho; oy++) {
        float *dst = row + (size_t)oy * wo;
        if (oy < ylo || oy >= yhi) {
          memset(dst, 0, (size_t)wo * sizeof(float));
          continue;
        }
        const float *src = plane + (size_t)(oy * s - pl->pad + a) * pl->im_w;
        for (int ox = 0; ox < xlo; ox++) dst[ox] = 0.0f;
        if (xhi > xlo) gather_strided(dst + xlo, src + (xlo * s + b - pl->pad), xhi - xlo, s);
        for (int ox = xhi; ox < wo; ox++) dst[ox] = 0.0f;
      }
    }
  }
}

static void col2im_plane(const conv_plan *pl, const float *col, int ld, float *plane) {
  const int s = pl->stride, wo = pl->wo;
  for (int a = 0; a < pl->kh; a++) {
    int ylo, yhi;
    inside_span(a, pl->pad, s, pl->im_h, pl->ho, &ylo, &yhi);
    for (int b = 0; b < pl->kw; b++) {
      int xlo, xhi;
      inside_span(b, pl->pad, s, pl->im_w, wo, &xlo, &xhi);
      if (xhi <= xlo) continue;
      const float *row = col + (size_t)(a * pl->kw + b) * ld;
      for (int oy = ylo; oy < yhi; oy++) {
        float *dst = plane + (size_t)(oy * s - pl->pad + a) * pl->im_w;
        scatter_add_strided(dst + (xlo * s + b - pl->pad), row + (size_t)oy * wo + xlo, xhi - xlo,
                            s);
      }
    }
  }
}

/* ---- groups of images ----
 * im2col / col2im of a group run over (image j, channel ci) pairs on the thread pool: a pair
 * owns rows ci·kh·kw .. of image j's column block (im2col) and its own plane (col2im), so the
 * parts never overlap.  These passes are memory-bound and run between GEMMs, while OpenBLAS's
 * threads have nothing to do. */

typedef struct group_job {
  const conv_plan *pl;
  float *img; /* the images (read by im2col, written by col2im) */
  int i0, gi, zero_first;
} group_job;

/* Plane of pair t and the start of its block in col. */
static float *pair_plane(const group_job *jb, size_t t, float **col) {
  const conv_plan *pl = jb->pl;
  size_t j = t / (size_t)pl->im_c, ci = t % (size_t)pl->im_c;
  size_t plane = (size_t)pl->im_h * pl->im_w;
  *col = pl->col + ci * pl->kh * pl->kw * (size_t)jb->gi * pl->p + j * pl->p;
  return jb->img + ((jb->i0 + j) * pl->im_c + ci) * plane;
}

static void im2col_part(size_t begin, size_t end, void *arg) {
  const group_job *jb = arg;
  for (size_t t = begin; t < end; t++) {
    float *col, *plane = pair_plane(jb, t, &col);
    im2col_plane(jb->pl, plane, col, jb->gi * jb->pl->p);
  }
}

static void col2im_part(size_t begin, size_t end, void *arg) {
  const group_job *jb = arg;
  for (size_t t = begin; t < end; t++) {
    float *col, *plane = pair_plane(jb, t, &col);
    if (jb->zero_first) memset(plane, 0, (size_t)jb->pl->im_h * jb->pl->im_w * sizeof(float));
    col2im_plane(jb->pl, col, jb->gi * jb->pl->p, plane);
  }
}

/* Pairs per part: at least 64 K column entries, so that small layers run inline. */
static size_t pair_grain(const conv_plan *pl) {
  size_t per = (size_t)pl->kh * pl->kw * pl->p;
  return per >= 65536 ? 1 : 65536 / per;
}

/* col [k × gi·p] <- patches of images i0 .. i0+gi−1 */
static void im2col_group(const conv_plan *pl, const float *img, int i0, int gi) {
  group_job jb = {.pl = pl, .img = (float *)img, .i0 = i0, .gi = gi}; /* only read */
  bh_parallel_for((size_t)gi * pl->im_c, pair_grain(pl), im2col_part, &jb);
}

/* images i0 .. i0+gi−1 += col2im(col); zero_first: overwrite instead of adding */
static void col2im_group(const conv_plan *pl, float *img, int i0, int gi, int zero_first) {
  group_job jb = {.pl = pl, .img = img, .i0 = i0, .gi = gi, .zero_first = zero_first};
  bh_parallel_for((size_t)gi * pl->im_c, pair_grain(pl), col2im_part, &jb);
}

/* y[i, c, :] += bias[c] for images i0 .. i0+gi−1 of a [n × ch × plane] tensor */
static void add_bias_planes(float *y, int i0, int gi, int ch, int plane, const float *bias) {
  for (int i = i0; i < i0 + gi; i++)
    for (int c = 0; c < ch; c++) {
      float *q = y + ((size_t)i * ch + c) * plane;
      for (int t = 0; t < plane; t++) q[t] += bias[c];
    }
}

/* Features [n × m × p] of images i0..i0+gi−1 as one [m × gi·p] matrix: the tensor itself when
 * gi = 1, else gathered into grp. */
static const float *feat_group_in(const conv_plan *pl, const float *feat, int i0, int gi) {
  const size_t p = (size_t)pl->p, mp = (size_t)pl->m * p;
  if (gi == 1) return feat + i0 * mp;
  for (int j = 0; j < gi; j++)
    for (int r = 0; r < pl->m; r++)
      memcpy(pl->grp + (r * (size_t)gi + j) * p, feat + (i0 + j) * mp + r * p, p * sizeof(float));
  return pl->grp;
}

/* Where a GEMM writes the [m × gi·p] features of a group: the tensor when gi = 1, else grp. */
static float *feat_group_out(const conv_plan *pl, float *feat, int i0, int gi) {
  return gi == 1 ? feat + i0 * (size_t)pl->m * pl->p : pl->grp;
}

/* After a GEMM into feat_group_out: scatter grp into the tensor (= or += when acc) and add the
 * bias (bias only with acc = 0). */
static void feat_group_store(const conv_plan *pl, float *feat, int i0, int gi, const float *bias,
                             int acc) {
  const size_t p = (size_t)pl->p, mp = (size_t)pl->m * p;
  if (gi == 1) {
    if (bias) add_bias_planes(feat, i0, 1, pl->m, pl->p, bias);
    return;
  }
  for (int j = 0; j < gi; j++)
    for (int r = 0; r < pl->m; r++) {
      const float *src = pl->grp + (r * (size_t)gi + j) * p;
      float *dst = feat + (i0 + j) * mp + r * p;
      const float b = bias ? bias[r] : 0.0f;
      if (acc)
        for (size_t t = 0; t < p; t++) dst[t] += src[t];
      else
        for (size_t t = 0; t < p; t++) dst[t] = src[t] + b;
    }
}

/* db[c] += Σ over images and pixels of dy[i, c, :] */
static void bias_grad_planes(bh_tensor *b, const float *dy, int n, int ch, int plane) {
  float *db = bh_grad_acc(b);
  for (int i = 0; i < n; i++)
    for (int c = 0; c < ch; c++) {
      const float *q = dy + ((size_t)i * ch + c) * plane;
      float s = 0.0f;
      for (int t = 0; t < plane; t++) s += q[t];
      db[c] += s;
    }
}

/* A plan with its scratch in the arena (kept until the reset, for the backward). */
static conv_plan *plan_alloc(bh_ctx *ctx, int n, int im_c, int im_h, int im_w, int kh, int kw,
                             int stride, int pad, int ho, int wo, int m) {
  conv_plan *pl = bh_ctx_push(ctx, sizeof *pl);
  if (!pl) return NULL;
  memset(pl, 0, sizeof *pl);
  pl->n = n, pl->m = m;
  pl->im_c = im_c, pl->im_h = im_h, pl->im_w = im_w;
  pl->kh = kh, pl->kw = kw, pl->stride = stride, pl->pad = pad;
  pl->ho = ho, pl->wo = wo, pl->p = ho * wo, pl->k = im_c * kh * kw;
  pl->g = min_int((GROUP_COLS + pl->p - 1) / pl->p, n > 0 ? n : 1);
  size_t cols = (size_t)pl->g * pl->p;
  pl->col = bh_ctx_push(ctx, (size_t)pl->k * cols * sizeof(float));
  if (!pl->col) return NULL;
  if (pl->g > 1) {
    pl->grp = bh_ctx_push(ctx, (size_t)m * cols * sizeof(float));
    if (!pl->grp) return NULL;
  }
  return pl;
}

static int check_conv_args(const char *op, const bh_tensor *x, const bh_tensor *w, int stride,
                           int pad) {
  if (x->ndim != 4 || w->ndim != 4) {
    bh_error_shapes(op, "input and weight must be 4-D", x, w);
    return 0;
  }
  if (stride < 1 || pad < 0) {
    bh_error(BH_EINVAL, "%s: stride %d must be >= 1 and pad %d >= 0", op, stride, pad);
    return 0;
  }
  return 1;
}

/* ---- conv2d: x [n×c×h×w], w [o×c×kh×kw], b [o] -> [n×o×ho×wo] ---- */

static void conv2d_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
  const conv_plan *pl = nd->saved;
  const float *dy = y->grad;
  if (bh_tensor_requires_grad(b)) bias_grad_planes(b, dy, pl->n, pl->m, pl->p);
  float *dw = bh_tensor_requires_grad(w) ? w->grad : NULL;
  float *dx = bh_tensor_requires_grad(x) ? bh_grad_acc(x) : NULL; /* col2im adds */
  float beta_w = dw ? bh_grad_beta(w) : 0.0f;
  for (int i0 = 0; i0 < pl->n; i0 += pl->g) {
    int gi = min_int(pl->g, pl->n - i0), cols = gi * pl->p;
    const float *dyg = feat_group_in(pl, dy, i0, gi);
    if (dw) { /* dW [o × k] += dy [o × cols] · im2col(x)ᵀ [cols × k] */
      im2col_group(pl, x->data, i0, gi);
      gemm(0, 1, pl->m, pl->k, cols, dyg, cols, pl->col, cols, beta_w, dw, pl->k);
      beta_w = 1.0f;
    }
    if (dx) { /* dx += col2im(Wᵀ [k × o] · dy [o × cols]) */
      gemm(1, 0, pl->k, cols, pl->m, w->data, pl->k, dyg, cols, 0.0f, pl->col, cols);
      col2im_group(pl, dx, i0, gi, 0);
    }
  }
}

bh_tensor *bh_conv2d(bh_ctx *ctx, bh_tensor *x, bh_tensor *w, bh_tensor *b, int stride, int pad) {
  if (!x || !w) return NULL;
  if (!check_conv_args("conv2d", x, w, stride, pad)) return NULL;
  int n = x->shape[0], c = x->shape[1], h = x->shape[2], wd = x->shape[3];
  int o = w->shape[0], kh = w->shape[2], kw = w->shape[3];
  if (w->shape[1] != c)
    return bh_error_shapes("conv2d", "weight [o x c x kh x kw] must have the input's channels", x,
                           w);
  if (kh < 1 || kw < 1 || h + 2 * pad < kh || wd + 2 * pad < kw)
    return bh_error_shapes("conv2d", "kernel larger than the padded input: output size <= 0", x, w);
  if (b && (int)b->size != o)
    return bh_error_shapes("conv2d", "bias size must equal the output channels", w, b);
  int ho = (h + 2 * pad - kh) / stride + 1, wo = (wd + 2 * pad - kw) / stride + 1;
  conv_plan *pl = plan_alloc(ctx, n, c, h, wd, kh, kw, stride, pad, ho, wo, o);
  bh_tensor *y = pl ? bh_tensor_new4(ctx, n, o, ho, wo) : NULL;
  if (!y) return NULL;
  for (int i0 = 0; i0 < n; i0 += pl->g) { /* y [o × cols] = W [o × k] · im2col(x) [k × cols] */
    int gi = min_int(pl->g, n - i0), cols = gi * pl->p;
    im2col_group(pl, x->data, i0, gi);
    gemm(0, 0, o, cols, pl->k, w->data, pl->k, pl->col, cols, 0.0f,
         feat_group_out(pl, y->data, i0, gi), cols);
    feat_group_store(pl, y->data, i0, gi, b ? b->data : NULL, 0);
  }
  bh_tensor *in[3] = {x, w, b};
  if (bh_ctx_wants_grad(ctx, b ? 3 : 2, in)) {
    bh_node *nd = bh_ctx_record(ctx, "conv2d", conv2d_backward, y, 3, in);
    if (!nd) return NULL;
    nd->saved = pl;
  }
  return y;
}

/* ---- conv_transpose2d: x [n×c×h×w], w [c×o×kh×kw], b [o] -> [n×o×ho×wo] ----
 * The image side is the output y (o channels, ho × wo); the placements are x's h × w pixels:
 * a conv2d of y with the same stride and pad has exactly h × w outputs when out_pad < stride. */

static void conv_transpose2d_backward(bh_node *nd) {
  bh_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
  const conv_plan *pl = nd->saved;
  const float *dy = y->grad;
  if (bh_tensor_requires_grad(b)) bias_grad_planes(b, dy, pl->n, pl->im_c, pl->im_h * pl->im_w);
  int want_x = bh_tensor_requires_grad(x), want_w = bh_tensor_requires_grad(w);
  if (!want_x && !want_w) return;
  float beta_x = want_x ? bh_grad_beta(x) : 0.0f; /* images are disjoint: one beta for all */
  float beta_w = want_w ? bh_grad_beta(w) : 0.0f;
  for (int i0 = 0; i0 < pl->n; i0 += pl->g) {
    int gi = min_int(pl->g, pl->n - i0), cols = gi * pl->p;
    im2col_group(pl, dy, i0, gi);
    if (want_w) { /* dW [c × k] += x [c × cols] · im2col(dy)ᵀ [cols × k] */
      const float *xg = feat_group_in(pl, x->data, i0, gi);
      gemm(0, 1, pl->m, pl->k, cols, xg, cols, pl->col, cols, beta_w, w->grad, pl->k);
      beta_w = 1.0f;
    }
    if (want_x) { /* dx [c × cols] = W [c × k] · im2col(dy) [k × cols] */
      gemm(0, 0, pl->m, cols, pl->k, w->data, pl->k, pl->col, cols, gi == 1 ? beta_x : 0.0f,
           feat_group_out(pl, x->grad, i0, gi), cols);
      feat_group_store(pl, x->grad, i0, gi, NULL, beta_x != 0.0f);
    }
  }
}

bh_tensor *bh_conv_transpose2d(bh_ctx *ctx, bh_tensor *x, bh_tensor *w, bh_tensor *b, int stride,
                               int pad, int out_pad) {
  if (!x || !w) return NULL;
  if (!check_conv_args("conv_transpose2d", x, w, stride, pad)) return NULL;
  int n = x->shape[0], c = x->shape[1], h = x->shape[2], wd = x->shape[3];
  int o = w->shape[1], kh = w->shape[2], kw = w->shape[3];
  if (w->shape[0] != c)
    return bh_error_shapes("conv_transpose2d",
                           "weight [c x o x kh x kw] must have the input's channels first", x, w);
  if (out_pad < 0 || out_pad >= stride) {
    bh_error(BH_EINVAL, "conv_transpose2d: out_pad %d must be in 0 .. stride-1 = %d", out_pad,
             stride - 1);
    return NULL;
  }
  int ho = (h - 1) * stride - 2 * pad + kh + out_pad;
  int wo = (wd - 1) * stride - 2 * pad + kw + out_pad;
  if (kh < 1 || kw < 1 || h < 1 || wd < 1 || ho < 1 || wo < 1)
    return bh_error_shapes("conv_transpose2d", "output size <= 0 (pad too large for the kernel)", x,
                           w);
  if (b && (int)b->size != o)
    return bh_error_shapes("conv_transpose2d", "bias size must equal the output channels", w, b);
  conv_plan *pl = plan_alloc(ctx, n, o, ho, wo, kh, kw, stride, pad, h, wd, c);
  bh_tensor *y = pl ? bh_tensor_new4(ctx, n, o, ho, wo) : NULL;
  if (!y) return NULL;
  for (int i0 = 0; i0 < n; i0 += pl->g) { /* y = col2im(Wᵀ [k × c] · x [c × cols]) + b */
    int gi = min_int(pl->g, n - i0), cols = gi * pl->p;
    const float *xg = feat_group_in(pl, x->data, i0, gi);
    gemm(1, 0, pl->k, cols, c, w->data, pl->k, xg, cols, 0.0f, pl->col, cols);
    col2im_group(pl, y->data, i0, gi, 1);
    if (b) add_bias_planes(y->data, i0, gi, o, ho * wo, b->data);
  }
  bh_tensor *in[3] = {x, w, b};
  if (bh_ctx_wants_grad(ctx, b ? 3 : 2, in)) {
    bh_node *nd = bh_ctx_record(ctx, "conv_transpose2d", conv_transpose2d_backward, y, 3, in);
    if (!nd) return NULL;
    nd->saved = pl;
  }
  return y;
}
