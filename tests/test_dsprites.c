/* test_dsprites.c — the bit store, the generated dSprites (grid, ordering, geometry) and the
 * .npz loader (fixtures written with core/npz.h's writer).
 *
 * The full generated set (737,280 images, ~1 s) is made once by the group setup and shared; the
 * per-image pixel counts are computed once from the packed bytes with a plain bit loop written
 * here (not bh_bitstore_popcount, which is tested separately). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/npy.h"
#include "core/npz.h"
#include "datasets/bitstore.h"
#include "datasets/dsprites.h"
#include "tests/testfiles.h"

#define N BH_DSPRITES_N
#define NPIX 4096

static bh_dataset *g_ds;          /* the generated set */
static const bh_bitstore *g_bs;   /* its store */
static uint16_t *g_count;         /* pixels set, per image */

/* ---------------------------------------------------------------- helpers */

static void assert_msg_has(const char *needle) {
  const char *m = bh_error_message();
  if (!strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m, needle);
}

/* Pixel (r, c) of image i, read bit by bit from the documented layout (MSB first). */
static int pix(const bh_bitstore *bs, size_t i, int r, int c) {
  size_t p = (size_t)r * bs->w + c;
  return (bs->data[i * bs->stride + p / 8] >> (7 - p % 8)) & 1;
}

static size_t idx5(int shape, int scale, int orient, int px, int py) {
  /* the formula written out, independently of bh_dsprites_index_of */
  return 245760u * shape + 40960u * scale + 1024u * orient + 32u * px + py;
}

static void centroid(size_t i, double *row, double *col) {
  double sr = 0, sc = 0, n = 0;
  for (int r = 0; r < 64; r++)
    for (int c = 0; c < 64; c++)
      if (pix(g_bs, i, r, c)) sr += r, sc += c, n++;
  *row = sr / n;
  *col = sc / n;
}

static int image_diff(size_t a, size_t b) {
  int d = 0;
  for (size_t k = 0; k < 512; k++)
    d += __builtin_popcount(g_bs->data[a * 512 + k] ^ g_bs->data[b * 512 + k]);
  return d;
}

static int setup(void **state) {
  (void)state;
  g_ds = bh_dsprites_generate();
  if (!g_ds) return -1;
  g_bs = g_ds->impl;
  g_count = malloc(sizeof *g_count * N);
  for (size_t i = 0; i < N; i++) {
    int c = 0;
    for (int p = 0; p < NPIX; p++) c += (g_bs->data[i * 512 + p / 8] >> (7 - p % 8)) & 1;
    g_count[i] = (uint16_t)c;
  }
  return tf_tmpdir_make("dsprites");
}

static int teardown(void **state) {
  (void)state;
  g_ds->ops->free(g_ds);
  free(g_count);
  return tf_tmpdir_remove();
}

/* ---------------------------------------------------------------- bit store */

static void t_pack8(void **state) {
  (void)state;
  /* first pixel in the top bit (np.packbits order) */
  const uint8_t a[8] = {1, 0, 0, 0, 0, 0, 0, 1}, b[8] = {1, 1, 0, 1, 0, 0, 0, 0},
                c[8] = {0, 0, 0, 0, 0, 0, 0, 0}, d[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  assert_int_equal(bh_bitstore_pack8(a), 0x81);
  assert_int_equal(bh_bitstore_pack8(b), 0xD0);
  assert_int_equal(bh_bitstore_pack8(c), 0x00);
  assert_int_equal(bh_bitstore_pack8(d), 0xFF);
  /* every byte value: the multiply trick against a plain shift loop */
  for (int v = 0; v < 256; v++) {
    uint8_t p[8];
    for (int j = 0; j < 8; j++) p[j] = (v >> (7 - j)) & 1;
    assert_int_equal(bh_bitstore_pack8(p), v);
  }
}

/* An odd size (5×7 = 35 pixels: 4 full bytes and a 3-pixel tail) against plain references. */
static void t_bitstore_roundtrip(void **state) {
  (void)state;
  enum { H = 5, W = 7, P = H * W, NI = 9 };
  bh_bitstore *bs = bh_bitstore_alloc(NI, H, W);
  assert_non_null(bs);
  assert_int_equal(bs->stride, 5);
  assert_int_equal(bs->bytes, 45);
  uint8_t in[NI][P], want[NI][P];
  unsigned s = 12345;
  for (int i = 0; i < NI; i++)
    for (int p = 0; p < P; p++) {
      s = s * 1103515245u + 12345u;
      int v = (s >> 16) % 3; /* 0, 1 or 2: nonzero counts as set */
      in[i][p] = (uint8_t)(v == 2 ? 7 : v);
      want[i][p] = v != 0;
    }
  for (int i = 0; i < NI; i++) assert_int_equal(bh_bitstore_set_bytes(bs, i, in[i]), BH_OK);
  uint8_t got[P];
  for (int i = 0; i < NI; i++) {
    assert_int_equal(bh_bitstore_get_bytes(bs, i, got), BH_OK);
    assert_memory_equal(got, want[i], P);
    size_t c = 0;
    for (int p = 0; p < P; p++) c += want[i][p];
    assert_int_equal(bh_bitstore_popcount(bs, i), c);
    assert_int_equal(bs->data[i * 5 + 4] & 0x1F, 0); /* tail padding stays 0 */
  }
  /* a batch in an arbitrary order with a repeat */
  size_t idx[5] = {8, 0, 3, 3, 5};
  float out[5 * P];
  assert_int_equal(bh_bitstore_unpack(bs, idx, 5, out), BH_OK);
  for (int k = 0; k < 5; k++)
    for (int p = 0; p < P; p++) assert_true(out[k * P + p] == (float)want[idx[k]][p]);
  /* floats: > 0.5 is set */
  float f[P];
  for (int p = 0; p < P; p++) f[p] = p % 4 == 0 ? 0.5f : p % 4 == 1 ? 0.51f : p % 4 == 2 ? 1.0f : 0;
  assert_int_equal(bh_bitstore_set_floats(bs, 2, f), BH_OK);
  assert_int_equal(bh_bitstore_get_bytes(bs, 2, got), BH_OK);
  for (int p = 0; p < P; p++) assert_int_equal(got[p], p % 4 == 1 || p % 4 == 2);
  /* errors */
  bh_error_clear();
  size_t bad[2] = {1, 9};
  assert_int_equal(bh_bitstore_unpack(bs, bad, 2, out), BH_EINVAL);
  assert_msg_has("index 9 out of range");
  assert_int_equal(bh_bitstore_set_bytes(bs, 9, in[0]), BH_EINVAL);
  bh_bitstore_free(bs);
  assert_null(bh_bitstore_alloc(4, 0, 3));
  assert_msg_has("bad image size");
}

/* ---------------------------------------------------------------- grid and ordering */

static void t_index_formula(void **state) {
  (void)state;
  int f[5];
  for (size_t i = 0; i < N; i++) {
    bh_dsprites_factors_of(i, f);
    assert_int_equal(idx5(f[0], f[1], f[2], f[3], f[4]), i);
    assert_int_equal(bh_dsprites_index_of(f), i);
  }
  int g[5] = {1, 2, 3, 4, 5};
  assert_int_equal(bh_dsprites_index_of(g), 245760 + 2 * 40960 + 3 * 1024 + 4 * 32 + 5);
  bh_dsprites_factors_of(N - 1, f);
  int last[5] = {2, 5, 39, 31, 31};
  assert_memory_equal(f, last, sizeof last);
  int bad[5] = {0, 6, 0, 0, 0};
  assert_true(bh_dsprites_index_of(bad) == (size_t)-1);
  /* the values of the official latents_values */
  assert_true(bh_dsprites_factor_value(0, 2) == 3.0);
  assert_true(fabs(bh_dsprites_factor_value(1, 0) - 0.5) < 1e-15);
  assert_true(fabs(bh_dsprites_factor_value(1, 1) - 0.6) < 1e-15);
  assert_true(fabs(bh_dsprites_factor_value(1, 5) - 1.0) < 1e-15);
  assert_true(fabs(bh_dsprites_factor_value(2, 1) - 0.16110731556870733) < 1e-15);
  assert_true(fabs(bh_dsprites_factor_value(2, 39) - 6.283185307179586) < 1e-15);
  assert_true(fabs(bh_dsprites_factor_value(3, 31) - 1.0) < 1e-15);
  assert_true(fabs(bh_dsprites_factor_value(4, 1) - 1.0 / 31) < 1e-15);
}

static void t_dataset_fields(void **state) {
  (void)state;
  assert_string_equal(g_ds->kind, "dsprites");
  assert_int_equal(g_ds->n, N);
  assert_int_equal(g_ds->c, 1);
  assert_int_equal(g_ds->h, 64);
  assert_int_equal(g_ds->w, 64);
  assert_int_equal(g_ds->nfactors, 5);
  const char *names[5] = {"shape", "scale", "orientation", "posX", "posY"};
  const int sizes[5] = {3, 6, 40, 32, 32};
  for (int k = 0; k < 5; k++) {
    assert_string_equal(g_ds->factor_names[k], names[k]);
    assert_int_equal(g_ds->factor_sizes[k], sizes[k]);
  }
  assert_int_equal(g_ds->nclasses, 0);
  assert_int_equal(g_ds->nattrs, 0);
  assert_int_equal(g_bs->bytes, (size_t)N * 512); /* 360 MiB */
  assert_null(g_ds->ops->labels);
  /* the batch path returns what the single-image renderer draws, index by index */
  size_t idx[6] = {0, N - 1, 123457, 500000, 245760 + 7 * 1024 + 5, 123457};
  float *out = malloc(sizeof(float) * 6 * NPIX);
  assert_int_equal(g_ds->ops->images(g_ds, idx, 6, out), BH_OK);
  uint8_t px[NPIX];
  for (int k = 0; k < 6; k++) {
    int f[5];
    bh_dsprites_factors_of(idx[k], f);
    assert_int_equal(bh_dsprites_render(f, px), BH_OK);
    for (int p = 0; p < NPIX; p++) assert_true(out[k * NPIX + p] == (float)px[p]);
  }
  free(out);
  int bad[5] = {0, 0, 40, 0, 0};
  bh_error_clear();
  assert_int_equal(bh_dsprites_render(bad, px), BH_EINVAL);
  assert_msg_has("orientation = 40");
}

/* ---------------------------------------------------------------- geometry */

/* Every image has a sprite; none touches row 0, row 63, column 0 or column 63 (each sprite lies
 * within 14.15s ≤ 15 px of a centre 15.5 px from those pixel centres, see dsprites.c), while the
 * sprites do reach near the edges (the lit rows and columns span 2 .. 61: a centre at 16 minus
 * a reach of 14.15 px covers pixel centres down to 2.5), so the border test is not vacuous. */
static void t_inside_canvas(void **state) {
  (void)state;
  int rmin = 64, rmax = -1, cmin = 64, cmax = -1;
  for (size_t i = 0; i < N; i++) {
    assert_true(g_count[i] > 0);
    const uint8_t *b = g_bs->data + i * 512;
    for (int k = 0; k < 8; k++) assert_int_equal(b[k] | b[504 + k], 0); /* rows 0, 63 */
    uint8_t rows_or[8] = {0};
    int r0 = 64, r1 = -1;
    for (int r = 0; r < 64; r++) {
      assert_int_equal(b[8 * r] & 0x80, 0);    /* column 0 */
      assert_int_equal(b[8 * r + 7] & 0x01, 0); /* column 63 */
      int any = 0;
      for (int k = 0; k < 8; k++) rows_or[k] |= b[8 * r + k], any |= b[8 * r + k];
      if (any) r0 = r0 < r ? r0 : r, r1 = r;
    }
    rmin = r0 < rmin ? r0 : rmin;
    rmax = r1 > rmax ? r1 : rmax;
    for (int c = 0; c < 64; c++)
      if ((rows_or[c / 8] >> (7 - c % 8)) & 1) cmin = c < cmin ? c : cmin, cmax = c > cmax ? c : cmax;
  }
  assert_int_equal(rmin, 2);
  assert_int_equal(cmin, 2);
  assert_int_equal(rmax, 61);
  assert_int_equal(cmax, 61);
}

/* Size grows with scale: for every shape, orientation and position, each scale step adds
 * pixels, and the largest sprite has 3.3–4.8× the pixels of the smallest (area ∝ scale², i.e.
 * 4×, give or take the pixelisation of a 10-pixel-wide sprite). */
static void t_scale_monotone(void **state) {
  (void)state;
  for (int sh = 0; sh < 3; sh++)
    for (int o = 0; o < 40; o++)
      for (int px = 0; px < 32; px++)
        for (int py = 0; py < 32; py++) {
          for (int sc = 0; sc < 5; sc++)
            if (g_count[idx5(sh, sc + 1, o, px, py)] <= g_count[idx5(sh, sc, o, px, py)])
              fail_msg("shape %d orientation %d pos (%d, %d): scale %d has %d px, scale %d %d",
                       sh, o, px, py, sc + 1, g_count[idx5(sh, sc + 1, o, px, py)], sc,
                       g_count[idx5(sh, sc, o, px, py)]);
          double ratio = (double)g_count[idx5(sh, 5, o, px, py)] / g_count[idx5(sh, 0, o, px, py)];
          assert_true(ratio > 3.3 && ratio < 4.8);
        }
  /* the areas of dsprites.c's shapes at scale 1 (400, π·14·7 ≈ 308, (2 + π/2)·10.5² ≈ 394),
   * counted at the centre position, to within the pixelisation of the outline (±4 %) */
  const double area[3] = {400.0, M_PI * 14 * 7, (2 + M_PI / 2) * 10.5 * 10.5};
  for (int sh = 0; sh < 3; sh++) {
    double got = g_count[idx5(sh, 5, 0, 16, 16)];
    if (fabs(got - area[sh]) > 0.04 * area[sh]) fail_msg("shape %d: %g px, area %g", sh, got, area[sh]);
  }
}

/* posX moves the sprite right (column), posY down (row), and neither moves it along the other
 * axis.  A step is 32/31 px; sampling the outline at pixel centres moves a centroid by up to
 * ½ px either way (measured: a 10-px square steps 2 px at once where its edges cross pixel
 * centres), so each step must move the centroid forward by more than 0 and less than 2.1 px,
 * sideways by less than 1 px, and the whole sweep 0 → 31 by 32 ± 1 px.  For the centrally
 * symmetric square and ellipse the centroid is the sprite centre itself (16 + 32·pos in canvas
 * units, minus ½ in pixel-index units) to within ½ px. */
static void t_position(void **state) {
  (void)state;
  const int orients[4] = {0, 7, 13, 30};
  for (int sh = 0; sh < 3; sh++)
    for (int sc = 0; sc < 6; sc += 5)
      for (int oi = 0; oi < 4; oi++)
        for (int a = 0; a < 32; a++) {
          int b = (a * 7 + 3) % 32; /* the other coordinate, varied too */
          double r0, c0, r1, c1;
          if (a < 31) {
            centroid(idx5(sh, sc, orients[oi], a, b), &r0, &c0);
            centroid(idx5(sh, sc, orients[oi], a + 1, b), &r1, &c1);
            if (!(c1 - c0 > 0 && c1 - c0 < 2.1)) /* right */
              fail_msg("shape %d scale %d orient %d posX %d→%d: column %g → %g", sh, sc,
                       orients[oi], a, a + 1, c0, c1);
            assert_true(fabs(r1 - r0) < 1.0); /* not down */
            centroid(idx5(sh, sc, orients[oi], b, a), &r0, &c0);
            centroid(idx5(sh, sc, orients[oi], b, a + 1), &r1, &c1);
            if (!(r1 - r0 > 0 && r1 - r0 < 2.1)) /* down */
              fail_msg("shape %d scale %d orient %d posY %d→%d: row %g → %g", sh, sc,
                       orients[oi], a, a + 1, r0, r1);
            assert_true(fabs(c1 - c0) < 1.0);
          } else { /* the whole sweep: 32 px, to within the two ends' sampling */
            centroid(idx5(sh, sc, orients[oi], 0, b), &r0, &c0);
            centroid(idx5(sh, sc, orients[oi], 31, b), &r1, &c1);
            assert_true(fabs(c1 - c0 - 32) < 1.0);
            centroid(idx5(sh, sc, orients[oi], b, 0), &r0, &c0);
            centroid(idx5(sh, sc, orients[oi], b, 31), &r1, &c1);
            assert_true(fabs(r1 - r0 - 32) < 1.0);
          }
          if (sh == BH_DSPRITES_HEART) continue;
          centroid(idx5(sh, sc, orients[oi], a, b), &r0, &c0);
          assert_true(fabs(c0 - (16 + 32.0 * a / 31 - 0.5)) < 0.5);
          assert_true(fabs(r0 - (16 + 32.0 * b / 31 - 0.5)) < 0.5);
        }
}

/* linspace(0, 2π, 40) includes both ends: orientation 39 is orientation 0, bit for bit. */
static void t_orientation_ends(void **state) {
  (void)state;
  for (int sh = 0; sh < 3; sh++)
    for (int sc = 0; sc < 6; sc++)
      for (int px = 0; px < 32; px++)
        for (int py = 0; py < 32; py++)
          assert_memory_equal(g_bs->data + 512 * idx5(sh, sc, 0, px, py),
                              g_bs->data + 512 * idx5(sh, sc, 39, px, py), 512);
  /* and other orientations do differ from 0 */
  assert_true(image_diff(idx5(2, 5, 0, 16, 16), idx5(2, 5, 1, 16, 16)) > 10);
}

/* Orientation index 10 is 10·2π/39 = 92.31°, a quarter turn plus δ = 0.0403 rad.  A square is
 * unchanged by the quarter turn, so the two images differ by the sliver between the square and
 * itself turned by δ: for half side h, 8 triangles of legs h and hδ, area 4h²δ (4 px at scale
 * 0.5, 16 at scale 1).  Pixel centres sample that area, so the mean pixel difference over all
 * 1024 positions matches 4h²δ (within 15 %), and even the worst position differs far less than
 * orientation 5 (45.9°, the square on its corner) does anywhere. */
static void t_square_quarter_turn(void **state) {
  (void)state;
  double delta = 2 * M_PI * 10 / 39 - M_PI / 2;
  for (int sc = 0; sc < 6; sc++) {
    double h = 10 * bh_dsprites_factor_value(1, sc), sum = 0;
    int worst10 = 0, best5 = NPIX;
    for (int px = 0; px < 32; px++)
      for (int py = 0; py < 32; py++) {
        int d10 = image_diff(idx5(0, sc, 0, px, py), idx5(0, sc, 10, px, py));
        int d5 = image_diff(idx5(0, sc, 0, px, py), idx5(0, sc, 5, px, py));
        sum += d10;
        worst10 = d10 > worst10 ? d10 : worst10;
        best5 = d5 < best5 ? d5 : best5;
      }
    double mean = sum / 1024, want = 4 * h * h * delta;
    if (fabs(mean - want) > 0.15 * want) fail_msg("scale %d: mean %g px, expected %g", sc, mean, want);
    assert_true(worst10 < best5);
  }
  /* the ellipse has no quarter-turn symmetry: orientation 10 differs a lot */
  assert_true(image_diff(idx5(1, 5, 0, 16, 16), idx5(1, 5, 10, 16, 16)) > 150);
}

/* The three shapes at the same scale, orientation and position differ substantially. */
static void t_shapes_differ(void **state) {
  (void)state;
  for (int sc = 0; sc < 6; sc++)
    for (int o = 0; o < 40; o += 3)
      for (int p = 0; p < 32; p += 5) {
        size_t s = idx5(0, sc, o, p, 31 - p), e = idx5(1, sc, o, p, 31 - p),
               h = idx5(2, sc, o, p, 31 - p);
        int minimum = sc == 0 ? 15 : 30;
        assert_true(image_diff(s, e) > minimum);
        assert_true(image_diff(s, h) > minimum);
        assert_true(image_diff(e, h) > minimum);
      }
}

/* Runs of set pixels in row r of image i. */
static int runs(size_t i, int r, int *len) {
  int n = 0, prev = 0;
  *len = 0;
  for (int c = 0; c < 64; c++) {
    int v = pix(g_bs, i, r, c);
    if (v && !prev) n++;
    *len += v;
    prev = v;
  }
  return n;
}

/* The heart at orientation 0 is mirror-symmetric left-right (checked where the centre falls on
 * a pixel boundary: posX 0 → x = 16, posX 31 → x = 48), has two lobes on top (one of its first
 * three rows has two separate runs) and a point at the bottom (its last row is one run of at
 * most 3 pixels).  The notch between the lobes is 0.207·d deep (d = 10.5·scale): 1.1 px at
 * scale 0.5 and 1.3 px at 0.6, which the pixel centres miss at some sub-pixel offsets (measured:
 * 158 resp. 30 of the 1024 positions), so the lobes are required from scale 0.7 (1.5 px) on. */
static void t_heart(void **state) {
  (void)state;
  for (int sc = 0; sc < 6; sc++)
    for (int py = 0; py < 32; py++)
      for (int e = 0; e < 2; e++) {
        int px = e ? 31 : 0, axis2 = e ? 95 : 31; /* column c mirrors to axis2 − c */
        size_t i = idx5(2, sc, 0, px, py);
        for (int r = 0; r < 64; r++)
          for (int c = 0; c < 64; c++)
            if (pix(g_bs, i, r, c) && !pix(g_bs, i, r, axis2 - c))
              fail_msg("heart scale %d pos (%d, %d): (%d, %d) set, mirror not", sc, px, py, r, c);
        int top = 0, bottom = 63, len;
        while (!runs(i, top, &len)) top++;
        while (!runs(i, bottom, &len)) bottom--;
        /* the lobes: within the top few rows some row has two runs */
        int two = 0;
        for (int r = top; r < top + 3; r++) two |= runs(i, r, &len) == 2;
        if (!two && sc >= 2) fail_msg("heart scale %d pos (%d, %d): no lobes in rows %d..", sc, px, py, top);
        assert_int_equal(runs(i, bottom, &len), 1);
        assert_true(len <= 3);
      }
  /* a square is symmetric too, an ellipse turned by 7 steps is not: the check can fail */
  size_t i = idx5(1, 5, 7, 0, 16);
  int asym = 0;
  for (int r = 0; r < 64; r++)
    for (int c = 0; c < 32; c++) asym += pix(g_bs, i, r, c) != pix(g_bs, i, r, 31 - c);
  assert_true(asym > 20);
}

/* ---------------------------------------------------------------- npz */

/* What a fixture file gets wrong. */
typedef struct fixture {
  int flags;        /* BH_NPZ_DEFLATE / BH_NPZ_ZIP64 */
  size_t n;         /* images */
  int imgs_f32;     /* imgs as float32 */
  int imgs_cols;    /* imgs width (64 right) */
  int no_imgs, no_classes, no_values;
  int classes_i32;  /* latents_classes as int32 */
  int values_f32;   /* latents_values as float32 */
  long bad_row;     /* latents_classes row given a wrong posY (-1: none) */
  long bad_pixel;   /* image with a pixel value 2 (-1: none) */
  int trailing;     /* imgs member has bytes after the array */
} fixture;

static fixture good(size_t n, int flags) {
  fixture f = {0};
  f.flags = flags;
  f.n = n;
  f.imgs_cols = 64;
  f.bad_row = f.bad_pixel = -1;
  return f;
}

static void add(bh_npz_writer *w, const char *name, bh_array *a) {
  assert_int_equal(bh_npz_writer_add(w, name, a), BH_OK);
  bh_array_free(a);
}

/* The first n generated examples in the official npz layout, plus a pickled-object metadata
 * member the loader must never parse. */
static void write_fixture(const char *path, const fixture *fx) {
  bh_npz_writer *w = bh_npz_writer_open(path, fx->flags);
  assert_non_null(w);
  int64_t n = (int64_t)fx->n;
  if (!fx->no_imgs) {
    int64_t shape[3] = {n, 64, fx->imgs_cols};
    bh_array *a = bh_array_alloc(fx->imgs_f32 ? BH_DTYPE_F32 : BH_DTYPE_U8, 3, shape);
    assert_non_null(a);
    uint8_t px[NPIX];
    for (size_t i = 0; i < fx->n; i++) {
      bh_bitstore_get_bytes(g_bs, i, px);
      for (int r = 0; r < 64; r++)
        for (int c = 0; c < fx->imgs_cols; c++) {
          size_t o = (i * 64 + r) * fx->imgs_cols + c;
          if (fx->imgs_f32)
            ((float *)a->data)[o] = px[r * 64 + c];
          else
            ((uint8_t *)a->data)[o] = px[r * 64 + c];
        }
    }
    if (fx->bad_pixel >= 0) ((uint8_t *)a->data)[(size_t)fx->bad_pixel * NPIX + 777] = 2;
    if (fx->trailing) { /* the npy bytes by hand, 16 bytes too many */
      char pre[BH_NPY_HEADER_MAX];
      size_t pl = bh_npy_header_encode(a->dtype, 3, shape, 0, pre, sizeof pre);
      size_t nb = bh_array_bytes(a);
      uint8_t *raw = calloc(pl + nb + 16, 1);
      memcpy(raw, pre, pl);
      memcpy(raw + pl, a->data, nb);
      assert_int_equal(bh_npz_writer_add_raw(w, "imgs.npy", raw, pl + nb + 16), BH_OK);
      free(raw);
      bh_array_free(a);
    } else {
      add(w, "imgs", a);
    }
  }
  if (!fx->no_classes) {
    int64_t shape[2] = {n, 6};
    bh_array *a = bh_array_alloc(fx->classes_i32 ? BH_DTYPE_I32 : BH_DTYPE_I64, 2, shape);
    for (size_t i = 0; i < fx->n; i++) {
      int f[5];
      bh_dsprites_factors_of(i, f);
      for (int j = 0; j < 6; j++) {
        int64_t v = j == 0 ? 0 : f[j - 1];
        if ((long)i == fx->bad_row && j == 5) v = (v + 1) % 32;
        if (fx->classes_i32)
          ((int32_t *)a->data)[i * 6 + j] = (int32_t)v;
        else
          ((int64_t *)a->data)[i * 6 + j] = v;
      }
    }
    add(w, "latents_classes", a);
  }
  if (!fx->no_values) {
    int64_t shape[2] = {n, 6};
    bh_array *a = bh_array_alloc(fx->values_f32 ? BH_DTYPE_F32 : BH_DTYPE_F64, 2, shape);
    for (size_t i = 0; i < fx->n; i++) {
      int f[5];
      bh_dsprites_factors_of(i, f);
      for (int j = 0; j < 6; j++) {
        double v = j == 0 ? 1.0 : bh_dsprites_factor_value(j - 1, f[j - 1]);
        if (fx->values_f32)
          ((float *)a->data)[i * 6 + j] = (float)v;
        else
          ((double *)a->data)[i * 6 + j] = v;
      }
    }
    add(w, "latents_values", a);
  }
  /* an object array: our npy parser would refuse '|O', so reading it at all would fail */
  const char meta[] = "\x93NUMPY\x01\x00\x36\x00{'descr': '|O', 'fortran_order': False, "
                      "'shape': (), }  \n\x80\x02}q\x00(X\x05\x00\x00\x00titleq\x01.";
  assert_int_equal(bh_npz_writer_add_raw(w, "metadata.npy", meta, sizeof meta - 1), BH_OK);
  assert_int_equal(bh_npz_writer_close(w), BH_OK);
}

/* The first 3000 generated images, through every container variant, read back bit for bit. */
static void t_npz_roundtrip(void **state) {
  (void)state;
  const int flags[4] = {0, BH_NPZ_DEFLATE, BH_NPZ_ZIP64, BH_NPZ_DEFLATE | BH_NPZ_ZIP64};
  for (int v = 0; v < 4; v++) {
    char p[256];
    tf_path(p, "rt.npz");
    fixture fx = good(3000, flags[v]);
    fx.no_values = v == 1; /* latents_values is optional */
    write_fixture(p, &fx);
    bh_dataset *ds = bh_dsprites_npz_open_n(p, 3000);
    if (!ds) fail_msg("variant %d: %s", v, bh_error_message());
    assert_string_equal(ds->kind, "dsprites-npz");
    assert_string_equal(ds->source, p);
    assert_int_equal(ds->n, 3000);
    assert_int_equal(ds->nfactors, 5);
    assert_int_equal(ds->factor_sizes[2], 40);
    const bh_bitstore *bs = ds->impl;
    assert_memory_equal(bs->data, g_bs->data, 3000 * 512);
    size_t idx[3] = {2999, 0, 1024};
    float a[3 * NPIX], b[3 * NPIX];
    assert_int_equal(ds->ops->images(ds, idx, 3, a), BH_OK);
    assert_int_equal(g_ds->ops->images(g_ds, idx, 3, b), BH_OK);
    assert_memory_equal(a, b, sizeof a);
    ds->ops->free(ds);
  }
}

/* Open fixture fx with the loader expecting n images: it must fail naming the file and saying
 * `needle`. */
static void expect_npz_error(const fixture *fx, size_t n, const char *needle) {
  char p[256];
  tf_path(p, "bad.npz");
  write_fixture(p, fx);
  bh_error_clear();
  bh_dataset *ds = n == N ? bh_dsprites_npz_open(p) : bh_dsprites_npz_open_n(p, n);
  if (ds) fail_msg("accepted a fixture that should fail with \"%s\"", needle);
  assert_int_not_equal(bh_error_code(), BH_OK);
  assert_msg_has(p);
  assert_msg_has(needle);
  assert_null(strchr(bh_error_message(), '\n'));
}

static void t_npz_errors(void **state) {
  (void)state;
  for (int v = 0; v < 2; v++) {
    int flags = v ? BH_NPZ_DEFLATE | BH_NPZ_ZIP64 : 0;
    fixture f;
    /* the strict loader wants all 737,280 images */
    f = good(200, flags);
    expect_npz_error(&f, N, "(737280, 64, 64)");
    f = good(200, flags);
    f.imgs_f32 = 1;
    expect_npz_error(&f, 200, "member 'imgs.npy': <f4 (200, 64, 64), expected |u1 (200, 64, 64)");
    f = good(200, flags);
    f.imgs_cols = 32;
    expect_npz_error(&f, 200, "(200, 64, 32)");
    f = good(200, flags);
    f.no_imgs = 1;
    expect_npz_error(&f, 200, "no member 'imgs'");
    f = good(200, flags);
    f.no_classes = 1;
    expect_npz_error(&f, 200, "no member 'latents_classes'");
    f = good(200, flags);
    f.classes_i32 = 1;
    expect_npz_error(&f, 200, "<i4 (200, 6), expected <i8 (200, 6)");
    f = good(200, flags);
    f.values_f32 = 1;
    expect_npz_error(&f, 200, "member 'latents_values.npy': <f4");
    f = good(200, flags);
    f.bad_row = 137;
    expect_npz_error(&f, 200, "row 137 is (0, 0, 0, 0, 4, 10), the official order has (0, 0, 0, 0, 4, 9)");
    f = good(200, flags);
    f.bad_pixel = 150;
    expect_npz_error(&f, 200, "image 150 has pixel value 2");
    f = good(200, flags);
    f.trailing = 1;
    expect_npz_error(&f, 200, "trailing bytes");
  }
  bh_error_clear();
  assert_null(bh_dsprites_npz_open_n("/nonexistent/dsprites.npz", 10));
  assert_msg_has("/nonexistent/dsprites.npz");
  assert_null(bh_dsprites_npz_open_n("/nonexistent/dsprites.npz", 0));
  assert_msg_has("cannot expect 0");
}

/* Cut or corrupted archives fail with one line naming the file, never crash or hang. */
static void t_npz_damaged(void **state) {
  (void)state;
  char p[256], q[256];
  tf_path(p, "whole.npz");
  tf_path(q, "damaged.npz");
  for (int v = 0; v < 2; v++) {
    fixture fx = good(300, v ? BH_NPZ_DEFLATE | BH_NPZ_ZIP64 : 0);
    write_fixture(p, &fx);
    size_t len;
    unsigned char *bytes = tf_read_bytes(p, &len);
    const size_t cuts[6] = {0, 10, 100, len / 3, len / 2, len - 1};
    for (int k = 0; k < 6; k++) {
      tf_write_bytes(q, bytes, cuts[k]);
      bh_error_clear();
      assert_null(bh_dsprites_npz_open_n(q, 300));
      assert_int_not_equal(bh_error_code(), BH_OK);
      assert_msg_has(q);
    }
    /* one pixel of image 200 flipped 0 → 1 inside imgs' data: still 0/1, so only the CRC
     * (checked when the member's last byte is read) or the inflater can tell */
    bh_npz *z = bh_npz_open(p);
    assert_non_null(z);
    const bh_npz_member *m = bh_npz_member_at(z, bh_npz_find(z, "imgs"));
    size_t lo = (size_t)m->local_offset;
    size_t data = lo + 30 + bh_le_get16(bytes + lo + 26) + bh_le_get16(bytes + lo + 28);
    size_t csize = (size_t)m->csize;
    bh_npz_close(z);
    size_t at = v ? data + csize / 2 : data + 128 + 200 * NPIX + 3; /* preamble 128 bytes */
    if (!v) assert_int_equal(bytes[at], 0); /* a background pixel of image 200 */
    bytes[at] ^= v ? 0x55 : 0x01;
    tf_write_bytes(q, bytes, len);
    bh_error_clear();
    assert_null(bh_dsprites_npz_open_n(q, 300));
    assert_msg_has(q);
    if (!v) assert_msg_has("CRC mismatch");
    free(bytes);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_pack8),
      cmocka_unit_test(t_bitstore_roundtrip),
      cmocka_unit_test(t_index_formula),
      cmocka_unit_test(t_dataset_fields),
      cmocka_unit_test(t_inside_canvas),
      cmocka_unit_test(t_scale_monotone),
      cmocka_unit_test(t_position),
      cmocka_unit_test(t_orientation_ends),
      cmocka_unit_test(t_square_quarter_turn),
      cmocka_unit_test(t_shapes_differ),
      cmocka_unit_test(t_heart),
      cmocka_unit_test(t_npz_roundtrip),
      cmocka_unit_test(t_npz_errors),
      cmocka_unit_test(t_npz_damaged),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
