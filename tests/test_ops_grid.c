/* test_ops_grid.c — affine_grid and grid_sample (PyTorch semantics, bilinear, zero padding):
 * hand-computed values, identity / rotation / translation, finite-difference gradients to the
 * image, to a grid and to theta through affine_grid, and shape errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"
#include "tests/gradcheck.h"

/* Gradient checks.  grid_sample is linear in the image, and inside one pixel cell it is
 * bilinear in the source point (ix, iy); each grid or theta component moves only ix or only
 * iy, linearly, so as long as no sample crosses a pixel line within ±eps the loss is linear in
 * the perturbed component and the central difference is exact.  test_* assert that margin
 * (every sample at least 2·eps·d(pixel)/d(normalised) away from an integer pixel coordinate).
 * What remains is float32 rounding, ~1e-7·|y|·sqrt(#outputs)/eps ≈ 1e-7·1·7/1e-2 ≈ 1e-4 at
 * eps 1e-2, so atol = rtol = 1e-3 has a 10× margin. */
static const gc_opts TOL = {1e-2, 1e-3, 1e-3, 0};

static bh_tensor *alloc4(int a, int b, int c, int d, int grad) {
  int shape[4] = {a, b, c, d};
  return bh_tensor_alloc(4, shape, grad);
}

static bh_tensor *alloc_theta(int n, int grad) {
  int shape[3] = {n, 2, 3};
  return bh_tensor_alloc(3, shape, grad);
}

static void set_theta(bh_tensor *t, int i, float a, float b, float c, float d, float e, float f) {
  float *p = t->data + 6 * i;
  p[0] = a, p[1] = b, p[2] = c, p[3] = d, p[4] = e, p[5] = f;
}

/* scale·rotation(angle) + translation */
static void set_theta_rot(bh_tensor *t, int i, double s, double ang, double tx, double ty) {
  set_theta(t, i, (float)(s * cos(ang)), (float)(-s * sin(ang)), (float)tx, (float)(s * sin(ang)),
            (float)(s * cos(ang)), (float)ty);
}

/* ---- affine_grid ---- */

static void test_affine_grid_values(void **state) {
  (void)state;
  bh_tensor *th = alloc_theta(1, 0);
  set_theta(th, 0, 1, 2, 3, 4, 5, 6);
  bh_ctx *ctx = bh_ctx_alloc(0);
  /* align_corners 1: x_n ∈ {−1, 0, 1}, y_n ∈ {−1, 1}; g = (x_n + 2y_n + 3, 4x_n + 5y_n + 6) */
  bh_tensor *g = bh_affine_grid(ctx, th, 2, 3, 1);
  assert_non_null(g);
  assert_int_equal(g->ndim, 4);
  assert_int_equal(g->shape[1], 2);
  assert_int_equal(g->shape[2], 3);
  assert_int_equal(g->shape[3], 2);
  const float want1[] = {0, -3, 1, 1, 2, 5, 4, 7, 5, 11, 6, 15};
  for (int i = 0; i < 12; i++) assert_float_equal(g->data[i], want1[i], 1e-6);
  /* align_corners 0: x_n ∈ {−2/3, 0, 2/3}, y_n ∈ {−1/2, 1/2} (pixel centres) */
  g = bh_affine_grid(ctx, th, 2, 3, 0);
  assert_non_null(g);
  assert_float_equal(g->data[0], 4.0 / 3.0, 1e-6);   /* −2/3 − 1 + 3 */
  assert_float_equal(g->data[1], 5.0 / 6.0, 1e-6);   /* −8/3 − 5/2 + 6 */
  assert_float_equal(g->data[2], 2.0, 1e-6);         /* 0 − 1 + 3 */
  assert_float_equal(g->data[10], 14.0 / 3.0, 1e-6); /* 2/3 + 1 + 3 */
  assert_float_equal(g->data[11], 67.0 / 6.0, 1e-6); /* 8/3 + 5/2 + 6 */
  /* one pixel: PyTorch's linspace(−1, 1, 1) = [−1], scaled by 0 without align_corners */
  set_theta(th, 0, 1, 0, 0, 0, 1, 0);
  g = bh_affine_grid(ctx, th, 1, 1, 1);
  assert_float_equal(g->data[0], -1.0, 1e-7);
  assert_float_equal(g->data[1], -1.0, 1e-7);
  g = bh_affine_grid(ctx, th, 1, 1, 0);
  assert_float_equal(g->data[0], 0.0, 1e-7);
  assert_float_equal(g->data[1], 0.0, 1e-7);
  /* a [n x 6] theta (a linear layer's output) is accepted too */
  bh_tensor *th6 = bh_tensor_alloc2(1, 6, 0);
  memcpy(th6->data, th->data, 6 * sizeof(float));
  assert_non_null(bh_affine_grid(ctx, th6, 2, 2, 0));
  bh_ctx_free(ctx);
  bh_tensor_free(th);
  bh_tensor_free(th6);
}

static bh_tensor *build_affine_grid(bh_ctx *ctx, bh_tensor **in, void *user) {
  const int *ac = user;
  return bh_affine_grid(ctx, in[0], 3, 4, *ac);
}

static void test_affine_grid_grad(void **state) {
  (void)state;
  for (int ac = 0; ac < 2; ac++) {
    bh_tensor *th = alloc_theta(2, 1);
    gc_fill_uniform(th, 10 + ac, -1, 1);
    bh_tensor *in[1] = {th};
    /* linear in theta: exact central difference, TOL as above */
    assert_int_equal(
        gc_check(ac ? "affine_grid ac=1" : "affine_grid ac=0", build_affine_grid, in, 1, &ac, TOL),
        0);
    bh_tensor_free(th);
  }
}

/* ---- grid_sample values ---- */

/* One 3×3 image, channel 0 = 3y + x (bilinear interpolation reproduces a linear function
 * exactly where all four taps are inside), channel 1 = 1 (shows the weight that falls inside
 * the image).  Points are given in pixel units and mapped to the normalised grid. */
static void test_grid_sample_hand(void **state) {
  (void)state;
  bh_tensor *img = alloc4(1, 2, 3, 3, 0);
  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 3; x++)
      img->data[3 * y + x] = (float)(3 * y + x), img->data[9 + 3 * y + x] = 1;
  bh_ctx *ctx = bh_ctx_alloc(0);
  /* align_corners 1: ix = gx + 1 on a 3-pixel axis */
  {
    const float pts[][2] = {{0, 0}, {-0.5f, 0.25f}, {1.5f, 0}, {1, 1}, {3, 3}, {-1.25f, 1}};
    /* (1,1) → 4; (0.5,1.25) → 3·1.25 + 0.5; (2.5,1): half the weight on pixel (1,2) = 5, half
     * outside; (2,2) → 8; (4,4): all outside; (−0.25, 2): 0.75 on pixel (2,0) = 6 */
    const float want0[] = {4, 4.25f, 2.5f, 8, 0, 4.5f}, want1[] = {1, 1, 0.5f, 1, 0, 0.75f};
    int np = 6, gs[4] = {1, 1, np, 2};
    bh_tensor *grid = bh_tensor_alloc(4, gs, 0);
    memcpy(grid->data, pts, sizeof pts);
    bh_tensor *y = bh_grid_sample(ctx, img, grid, 1);
    assert_non_null(y);
    assert_int_equal(y->shape[1], 2);
    assert_int_equal(y->shape[3], np);
    for (int i = 0; i < np; i++) {
      assert_float_equal(y->data[i], want0[i], 1e-6);
      assert_float_equal(y->data[np + i], want1[i], 1e-6);
    }
    bh_tensor_free(grid);
  }
  /* align_corners 0: ix = ((gx + 1)·3 − 1)/2 */
  {
    const float pts[][2] = {{0, 0}, {1, 1}, {1.0f / 3, -1.0f / 3}, {-1, -1}};
    /* (1,1) → 4; (2.5,2.5): a quarter of pixel (2,2) = 8; (1.5,0.5) → 3·0.5 + 1.5;
     * (−0.5,−0.5): a quarter of pixel (0,0) */
    const float want0[] = {4, 2, 3, 0}, want1[] = {1, 0.25f, 1, 0.25f};
    int np = 4, gs[4] = {1, 1, np, 2};
    bh_tensor *grid = bh_tensor_alloc(4, gs, 0);
    memcpy(grid->data, pts, sizeof pts);
    bh_tensor *y = bh_grid_sample(ctx, img, grid, 0);
    assert_non_null(y);
    for (int i = 0; i < np; i++) {
      assert_float_equal(y->data[i], want0[i], 1e-6);
      assert_float_equal(y->data[np + i], want1[i], 1e-6);
    }
    bh_tensor_free(grid);
  }
  bh_ctx_free(ctx);
  bh_tensor_free(img);
}

/* Sample img [n×c×h×w] through affine_grid(theta) at the image's own size. */
static bh_tensor *transform(bh_ctx *ctx, bh_tensor *img, bh_tensor *th, int ac) {
  bh_tensor *g = bh_affine_grid(ctx, th, img->shape[2], img->shape[3], ac);
  return bh_grid_sample(ctx, img, g, ac);
}

static float px(const bh_tensor *t, int i, int c, int y, int x) {
  return t->data[(((size_t)i * t->shape[1] + c) * t->shape[2] + y) * t->shape[3] + x];
}

static void test_identity(void **state) {
  (void)state;
  bh_tensor *img = alloc4(2, 3, 5, 7, 0), *th = alloc_theta(2, 0);
  gc_fill_uniform(img, 20, -1, 1);
  set_theta(th, 0, 1, 0, 0, 0, 1, 0);
  set_theta(th, 1, 1, 0, 0, 0, 1, 0);
  bh_ctx *ctx = bh_ctx_alloc(0);
  for (int ac = 0; ac < 2; ac++) {
    bh_tensor *y = transform(ctx, img, th, ac);
    assert_non_null(y);
    assert_true(bh_tensor_same_shape(y, img));
    /* the source points are the pixel centres up to float rounding of the coordinates */
    for (size_t j = 0; j < img->size; j++) assert_float_equal(y->data[j], img->data[j], 1e-5);
  }
  bh_ctx_free(ctx);
  bh_tensor_free(img);
  bh_tensor_free(th);
}

static void test_rotation_translation(void **state) {
  (void)state;
  const int h = 5, w = 5;
  bh_tensor *img = alloc4(2, 2, h, w, 0), *th = alloc_theta(2, 0);
  gc_fill_uniform(img, 21, -1, 1);
  bh_ctx *ctx = bh_ctx_alloc(0);
  for (int ac = 0; ac < 2; ac++) {
    /* image 0: 90° rotation, (gx, gy) = (−y_n, x_n), so out[y][x] = img[x][w−1−y] (the base
     * grid is symmetric: −y_n of row y is x_n of column w−1−y).
     * image 1: a shift by one pixel in x and half a pixel in y: out[y][x] = average of
     * img[y][x+1] and img[y+1][x+1], zero past the right/bottom edges. */
    double step_x = ac ? 2.0 / (w - 1) : 2.0 / w, step_y = ac ? 2.0 / (h - 1) : 2.0 / h;
    set_theta(th, 0, 0, -1, 0, 1, 0, 0);
    set_theta(th, 1, 1, 0, (float)step_x, 0, 1, (float)(0.5 * step_y));
    bh_tensor *y = transform(ctx, img, th, ac);
    assert_non_null(y);
    for (int c = 0; c < 2; c++)
      for (int r = 0; r < h; r++)
        for (int x = 0; x < w; x++) {
          assert_float_equal(px(y, 0, c, r, x), px(img, 0, c, x, w - 1 - r), 1e-5);
          float a = x + 1 < w ? px(img, 1, c, r, x + 1) : 0.0f;
          float b = x + 1 < w && r + 1 < h ? px(img, 1, c, r + 1, x + 1) : 0.0f;
          assert_float_equal(px(y, 1, c, r, x), 0.5f * (a + b), 1e-5);
        }
  }
  bh_ctx_free(ctx);
  bh_tensor_free(img);
  bh_tensor_free(th);
}

/* ---- gradients ---- */

typedef struct grid_user {
  int ac, ho, wo;
} grid_user;

static bh_tensor *build_grid_sample(bh_ctx *ctx, bh_tensor **in, void *user) {
  const grid_user *u = user;
  return bh_grid_sample(ctx, in[0], in[1], u->ac);
}

static bh_tensor *build_theta_sample(bh_ctx *ctx, bh_tensor **in, void *user) {
  const grid_user *u = user;
  bh_tensor *g = bh_affine_grid(ctx, in[1], u->ho, u->wo, u->ac);
  return bh_grid_sample(ctx, in[0], g, u->ac);
}

/* d(pixel)/d(normalised) along an axis of `size` pixels */
static double pixel_scale(int size, int ac) { return ac ? 0.5 * (size - 1) : 0.5 * size; }

static double to_pixel(double g, int size, int ac) {
  return ac ? (g + 1) * 0.5 * (size - 1) : ((g + 1) * size - 1) * 0.5;
}

/* Smallest distance of any sample's pixel coordinate to an integer (a pixel line). */
static double grid_margin(const bh_tensor *grid, int hi, int wi, int ac) {
  double m = 1.0;
  for (size_t q = 0; q < grid->size / 2; q++) {
    double ix = to_pixel(grid->data[2 * q], wi, ac), iy = to_pixel(grid->data[2 * q + 1], hi, ac);
    m = fmin(m, fmin(fabs(ix - round(ix)), fabs(iy - round(iy))));
  }
  return m;
}

/* counts[0..2]: samples with all four taps inside, some inside, none inside. */
static void count_regimes(const bh_tensor *grid, int hi, int wi, int ac, int counts[3]) {
  counts[0] = counts[1] = counts[2] = 0;
  for (size_t q = 0; q < grid->size / 2; q++) {
    double ix = to_pixel(grid->data[2 * q], wi, ac), iy = to_pixel(grid->data[2 * q + 1], hi, ac);
    if (ix <= -1 || iy <= -1 || ix >= wi || iy >= hi)
      counts[2]++;
    else if (ix < 0 || iy < 0 || ix > wi - 1 || iy > hi - 1)
      counts[1]++;
    else
      counts[0]++;
  }
}

/* A grid whose points lie in pixel cells from −2 (fully outside) to the far edge (partly
 * outside), at fractions 0.15 .. 0.85 of a cell: 0.15 from every pixel line. */
static void fill_grid_cells(bh_tensor *grid, int hi, int wi, int ac, unsigned long seed) {
  bh_tensor *u = bh_tensor_alloc(1, (int[]){(int)grid->size}, 0);
  gc_fill_uniform(u, seed, 0, 1);
  for (size_t q = 0; q < grid->size; q++) {
    int size = q % 2 ? hi : wi;
    double r = u->data[q] * (size + 2); /* cell index −2 .. size−1 */
    double cell = floor(r) - 2, frac = 0.15 + 0.7 * (r - floor(r));
    double p = cell + frac; /* pixel coordinate → normalised */
    grid->data[q] = (float)(ac ? 2 * p / (size - 1) - 1 : (2 * p + 1) / size - 1);
  }
  bh_tensor_free(u);
}

static void test_grid_sample_grad_image_and_grid(void **state) {
  (void)state;
  const int n = 2, c = 2, hi = 4, wi = 5, ho = 3, wo = 6;
  for (int ac = 0; ac < 2; ac++) {
    bh_tensor *img = alloc4(n, c, hi, wi, 1), *grid = alloc4(n, ho, wo, 2, 1);
    gc_fill_uniform(img, 30 + ac, -1, 1);
    fill_grid_cells(grid, hi, wi, ac, 40 + ac);
    double need = 2 * TOL.eps * fmax(pixel_scale(wi, ac), pixel_scale(hi, ac));
    assert_true(grid_margin(grid, hi, wi, ac) > need);
    /* the random grid must exercise all three regimes: inside, partly and fully outside */
    int counts[3];
    count_regimes(grid, hi, wi, ac, counts);
    assert_true(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
    bh_tensor *in[2] = {img, grid};
    grid_user u = {ac, ho, wo};
    assert_int_equal(
        gc_check(ac ? "grid_sample ac=1" : "grid_sample ac=0", build_grid_sample, in, 2, &u, TOL),
        0);
    bh_tensor_free(img);
    bh_tensor_free(grid);
  }
}

static void test_grid_sample_grad_theta(void **state) {
  (void)state;
  const int n = 2, c = 2, hi = 4, wi = 5, ho = 3, wo = 4;
  for (int ac = 0; ac < 2; ac++) {
    bh_tensor *img = alloc4(n, c, hi, wi, 1), *th = alloc_theta(n, 1);
    gc_fill_uniform(img, 50 + ac, -1, 1);
    /* zoom out (scale > 1: part of the output falls outside the image) and rotate; values
     * chosen so every sample keeps ≥ 0.06 pixel from a pixel line */
    if (ac) {
      set_theta_rot(th, 0, 1.3, 0.4, 0.05, 0.1);
      set_theta_rot(th, 1, 1.1, 0.5, 0.1, -0.05);
    } else {
      set_theta_rot(th, 0, 1.2, 0.4, 0.15, -0.05);
      set_theta_rot(th, 1, 0.9, 0.6, 0.05, -0.05);
    }
    bh_ctx *ctx = bh_ctx_alloc(0);
    bh_tensor *grid = bh_affine_grid(ctx, th, ho, wo, ac);
    assert_non_null(grid);
    /* a theta component moves a sample by at most eps·1·pixel_scale (|x_n|, |y_n| ≤ 1) */
    double need = 2 * TOL.eps * fmax(pixel_scale(wi, ac), pixel_scale(hi, ac));
    double margin = grid_margin(grid, hi, wi, ac);
    if (margin <= need)
      fail_msg("ac=%d: samples %.3g from a pixel line, need %.3g", ac, margin, need);
    int counts[3]; /* some samples must straddle the edge (taps partly in the zero padding) */
    count_regimes(grid, hi, wi, ac, counts);
    assert_true(counts[0] > 0 && counts[1] > 0);
    bh_ctx_free(ctx);
    bh_tensor *in[2] = {img, th};
    grid_user u = {ac, ho, wo};
    assert_int_equal(gc_check(ac ? "theta ac=1" : "theta ac=0", build_theta_sample, in, 2, &u, TOL),
                     0);
    bh_tensor_free(img);
    bh_tensor_free(th);
  }
}

/* ---- errors ---- */

static void expect_error(bh_tensor *y, const char *op) {
  assert_null(y);
  assert_int_equal(bh_error_code(), BH_EINVAL);
  if (!strstr(bh_error_message(), op))
    fail_msg("message '%s' should name %s", bh_error_message(), op);
  bh_error_clear();
}

static void test_shape_errors(void **state) {
  (void)state;
  bh_ctx *ctx = bh_ctx_alloc(0);
  bh_tensor *img = alloc4(2, 1, 4, 4, 0);
  bh_tensor *g3 = alloc4(2, 3, 3, 3, 0); /* last dim must be 2 */
  bh_tensor *gn = alloc4(3, 3, 3, 2, 0); /* batch differs */
  bh_tensor *th_bad = bh_tensor_alloc2(2, 4, 0);
  bh_tensor *th = alloc_theta(2, 0);
  expect_error(bh_grid_sample(ctx, img, g3, 0), "grid_sample");
  expect_error(bh_grid_sample(ctx, img, gn, 1), "grid_sample");
  expect_error(bh_affine_grid(ctx, th_bad, 4, 4, 0), "affine_grid");
  expect_error(bh_affine_grid(ctx, th, 0, 4, 0), "affine_grid");
  assert_null(bh_grid_sample(ctx, NULL, g3, 0));
  assert_null(bh_affine_grid(ctx, NULL, 4, 4, 0));
  bh_ctx_free(ctx);
  bh_tensor_free(img);
  bh_tensor_free(g3);
  bh_tensor_free(gn);
  bh_tensor_free(th_bad);
  bh_tensor_free(th);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_affine_grid_values),
      cmocka_unit_test(test_affine_grid_grad),
      cmocka_unit_test(test_grid_sample_hand),
      cmocka_unit_test(test_identity),
      cmocka_unit_test(test_rotation_translation),
      cmocka_unit_test(test_grid_sample_grad_image_and_grid),
      cmocka_unit_test(test_grid_sample_grad_theta),
      cmocka_unit_test(test_shape_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
