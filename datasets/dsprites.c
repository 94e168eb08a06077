/* dsprites.c — the dSprites factor grid, the procedural renderer and the dataset over a bit store.
 *
 * Geometry of the generated images (the official LÖVE drawing code is not public, so these are
 * our choices, made to match the published description: sprites white on black, every sprite
 * inside the canvas, its pixel mass in the central part):
 *
 *   Canvas: x to the right (image column), y downwards (image row), both in [0, 64]; pixel
 *   (row r, column c) is the unit square at [c, c+1] × [r, r+1] and is set when its centre
 *   (c + ½, r + ½) lies inside the sprite (no anti-aliasing: the images are binary).
 *
 *   Position: the sprite centre is (16 + 32·posX, 16 + 32·posY) with posX, posY the factor values
 *   in [0, 1] — the centre sweeps the middle 32×32 square.  posY grows downwards, as y does in
 *   LÖVE's screen coordinates.
 *
 *   Orientation: the sprite is turned by θ = orientation value about its centre, clockwise on
 *   screen (a positive angle in y-down coordinates, LÖVE's convention).  A pixel centre at offset
 *   (dx, dy) from the sprite centre is tested at the sprite-frame point rotated back by −θ:
 *   u = cosθ·dx + sinθ·dy, v = −sinθ·dx + cosθ·dy.  θ = 2π (index 39) is evaluated as θ = 0,
 *   so indices 0 and 39 are bit-identical, as in the official set.
 *
 *   Size: linear in scale s ∈ [0.5, 1]; in sprite-frame pixels at s:
 *     square   |u| ≤ 10s and |v| ≤ 10s                           (side 20s; area 400 px at s = 1)
 *     ellipse  (u / 14s)² + (v / 7s)² ≤ 1, long axis horizontal    (area ≈ 308 px at s = 1)
 *     heart    lobes up, point down: the classic construction of a square standing on a corner
 *              (half-diagonal d = 10.5s) with a disc on each upper edge (centred at the edge's
 *              middle, diameter the edge), centred on its bounding box; left-right symmetric.
 *              Area ≈ 394 px at s = 1.
 *   Each shape's farthest point from its centre is at most 14.15s ≤ 15 px, and every centre is at
 *   least 15.5 px from the centres of the outermost pixel rows and columns (16 − 0.5,
 *   63.5 − 48), so row 0, row 63, column 0 and column 63 are always empty.
 */
#include "datasets/dsprites.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threads.h"

const char *const bh_dsprites_factor_names[BH_DSPRITES_NFACTORS] = {"shape", "scale", "orientation",
                                                                    "posX", "posY"};
const int bh_dsprites_factor_sizes[BH_DSPRITES_NFACTORS] = {3, 6, 40, 32, 32};

/* Mixed-radix bases of the official order (the last factor fastest). */
static const size_t factor_base[BH_DSPRITES_NFACTORS] = {245760, 40960, 1024, 32, 1};

size_t bh_dsprites_index_of(const int *f) {
  size_t index = 0;
  for (int k = 0; k < BH_DSPRITES_NFACTORS; k++) {
    if (f[k] < 0 || f[k] >= bh_dsprites_factor_sizes[k]) return (size_t)-1;
    index += (size_t)f[k] * factor_base[k];
  }
  return index;
}

void bh_dsprites_factors_of(size_t index, int *f) {
  for (int k = 0; k < BH_DSPRITES_NFACTORS; k++) {
    f[k] = (int)(index / factor_base[k] % (size_t)bh_dsprites_factor_sizes[k]);
  }
}

#define TWO_PI 6.283185307179586476925286766559

double bh_dsprites_factor_value(int k, int i) {
  switch (k) {
    case 0: return i + 1.0;              /* shape: 1 square, 2 ellipse, 3 heart */
    case 1: return 0.5 + 0.5 * i / 5.0;  /* scale: linspace(0.5, 1, 6) */
    case 2: return TWO_PI * i / 39.0;    /* orientation: linspace(0, 2π, 40) */
    case 3:
    case 4: return i / 31.0;             /* posX, posY: linspace(0, 1, 32) */
    default: return NAN;
  }
}

/* ------------------------------------------------------------------------------- renderer */

#define SIDE BH_DSPRITES_SIDE
#define SQUARE_HALF 10.0f  /* half side at scale 1 */
#define ELLIPSE_A 14.0f    /* semi-axes at scale 1 */
#define ELLIPSE_B 7.0f
#define HEART_D 10.5f      /* half-diagonal of the heart's square at scale 1 */
#define SQRT1_2 0.70710678118654752f
/* The heart spans y ∈ [−d, (½ + √½)d] upwards from its square's centre; this shift puts the
 * centre of its bounding box at the sprite centre. */
#define HEART_SHIFT ((0.5f + SQRT1_2 - 1.0f) * 0.5f)
/* Farthest sprite point from the sprite centre at scale 1 (for the bounding box): square
 * 10√2, ellipse 14, heart (√(½² + (½ − HEART_SHIFT)²) + √½)·d ≈ 1.345d. */
#define SPRITE_RMAX 14.2f

typedef struct sprite {
  int shape;
  float cx, cy;   /* centre in canvas coordinates */
  float cs, sn;   /* cos θ, sin θ */
  float s;        /* scale value */
} sprite;

static void sprite_of(const int *f, sprite *sp) {
  sp->shape = f[0];
  sp->s = (float)bh_dsprites_factor_value(1, f[1]);
  double theta = bh_dsprites_factor_value(2, f[2] % 39); /* 2π evaluated as 0 (see the top) */
  sp->cs = (float)cos(theta);
  sp->sn = (float)sin(theta);
  sp->cx = 16.0f + 32.0f * (float)bh_dsprites_factor_value(3, f[3]);
  sp->cy = 16.0f + 32.0f * (float)bh_dsprites_factor_value(4, f[4]);
}

/* Inside tests in sprite-frame coordinates divided by the scale (u right, v down). */
static inline int in_square(float u, float v) {
  return fabsf(u) <= SQUARE_HALF && fabsf(v) <= SQUARE_HALF;
}

static inline int in_ellipse(float u, float v) {
  float a = u * (1.0f / ELLIPSE_A), b = v * (1.0f / ELLIPSE_B);
  return a * a + b * b <= 1.0f;
}

static inline int in_heart(float u, float v) {
  const float d = HEART_D, r2 = 0.5f * HEART_D * HEART_D; /* disc radius² = (d/√2)² */
  float x = fabsf(u);                  /* symmetric: test the right half */
  float y = HEART_SHIFT * d - v;       /* upwards from the square's centre */
  float ex = x - 0.5f * d, ey = y - 0.5f * d;
  return x + fabsf(y) <= d || ex * ex + ey * ey <= r2;
}

/* One row of pixels [c0, c1] at canvas height y into row[] (0/1), the shape chosen outside the
 * pixel loop so that each loop is a plain, branch-free evaluation. */
static void render_row(const sprite *sp, float y, int c0, int c1, uint8_t *row) {
  float inv = 1.0f / sp->s, dy = y - sp->cy;
  float ub = sp->sn * dy, vb = sp->cs * dy; /* the dy parts of u and v */
  switch (sp->shape) {
    case BH_DSPRITES_SQUARE:
      for (int c = c0; c <= c1; c++) {
        float dx = (float)c + 0.5f - sp->cx;
        row[c] = (uint8_t)in_square((sp->cs * dx + ub) * inv, (vb - sp->sn * dx) * inv);
      }
      break;
    case BH_DSPRITES_ELLIPSE:
      for (int c = c0; c <= c1; c++) {
        float dx = (float)c + 0.5f - sp->cx;
        row[c] = (uint8_t)in_ellipse((sp->cs * dx + ub) * inv, (vb - sp->sn * dx) * inv);
      }
      break;
    default:
      for (int c = c0; c <= c1; c++) {
        float dx = (float)c + 0.5f - sp->cx;
        row[c] = (uint8_t)in_heart((sp->cs * dx + ub) * inv, (vb - sp->sn * dx) * inv);
      }
      break;
  }
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The example with factors f as 512 packed bytes (see bitstore.h): only the pixels of the
 * sprite's bounding box are evaluated. */
static void render_packed(const int *f, uint8_t *dst) {
  sprite sp;
  sprite_of(f, &sp);
  float R = SPRITE_RMAX * sp.s;
  /* pixel k's centre is k + ½: the box holds the k with |k + ½ − centre| ≤ R */
  int r0 = clampi((int)ceilf(sp.cy - R - 0.5f), 0, SIDE - 1);
  int r1 = clampi((int)floorf(sp.cy + R - 0.5f), 0, SIDE - 1);
  int c0 = clampi((int)ceilf(sp.cx - R - 0.5f), 0, SIDE - 1);
  int c1 = clampi((int)floorf(sp.cx + R - 0.5f), 0, SIDE - 1);
  memset(dst, 0, SIDE * SIDE / 8);
  uint8_t row[SIDE];
  memset(row, 0, sizeof row);
  for (int r = r0; r <= r1; r++) {
    render_row(&sp, (float)r + 0.5f, c0, c1, row);
    for (int k = c0 / 8; k <= c1 / 8; k++) dst[r * (SIDE / 8) + k] = bh_bitstore_pack8(row + 8 * k);
  }
}

static int check_factors(const int *f) {
  for (int k = 0; k < BH_DSPRITES_NFACTORS; k++)
    if (f[k] < 0 || f[k] >= bh_dsprites_factor_sizes[k])
      return bh_error(BH_EINVAL, "dsprites: factor %s = %d out of range 0..%d",
                      bh_dsprites_factor_names[k], f[k], bh_dsprites_factor_sizes[k] - 1);
  return BH_OK;
}

int bh_dsprites_render(const int *factors, uint8_t *pixels) {
  int rc = check_factors(factors);
  if (rc != BH_OK) return rc;
  uint8_t packed[SIDE * SIDE / 8];
  render_packed(factors, packed);
  for (int p = 0; p < SIDE * SIDE; p++) pixels[p] = (packed[p / 8] >> (7 - p % 8)) & 1;
  return BH_OK;
}

typedef struct render_job {
  bh_bitstore *bs;
  size_t first; /* example index of part index 0 */
} render_job;

static void render_part(size_t begin, size_t end, void *arg) {
  const render_job *job = arg;
  int f[BH_DSPRITES_NFACTORS];
  for (size_t i = job->first + begin; i < job->first + end; i++) {
    bh_dsprites_factors_of(i, f);
    render_packed(f, bh_bitstore_image(job->bs, i));
  }
}

int bh_dsprites_render_range(bh_bitstore *bs, size_t begin, size_t end) {
  if (bs->h != SIDE || bs->w != SIDE || begin > end || end > bs->n || end > BH_DSPRITES_N)
    return bh_error(BH_EINVAL, "dsprites: cannot render [%zu, %zu) into %zu images of %d×%d",
                    begin, end, bs->n, bs->h, bs->w);
  /* Parts write disjoint images (512 bytes each), so they need no synchronisation; the grain
   * keeps small ranges (tests, single batches) on the calling thread. */
  render_job job = {bs, begin};
  bh_parallel_for(end - begin, 4096, render_part, &job);
  return BH_OK;
}

/* ------------------------------------------------------------------------------- dataset */

static int ds_images(bh_dataset *ds, const size_t *idx, size_t count, float *out) {
  return bh_bitstore_unpack(ds->impl, idx, count, out);
}

static void ds_free(bh_dataset *ds) {
  if (!ds) return;
  bh_bitstore_free(ds->impl);
  free(ds);
}

static const bh_dataset_ops dsprites_ops = {
    .images = ds_images, .labels = NULL, .attrs = NULL, .free = ds_free};

bh_dataset *bh_dsprites_dataset_wrap(bh_bitstore *bs, const char *kind, const char *source) {
  if (!bs) return NULL;
  if (bs->h != SIDE || bs->w != SIDE) {
    bh_error(BH_EINVAL, "dsprites: images are %d×%d, not 64×64", bs->h, bs->w);
    bh_bitstore_free(bs);
    return NULL;
  }
  bh_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) {
    bh_error(BH_ENOMEM, "dsprites: out of memory");
    bh_bitstore_free(bs);
    return NULL;
  }
  ds->kind = kind;
  snprintf(ds->source, sizeof ds->source, "%s", source);
  ds->n = bs->n;
  ds->c = 1;
  ds->h = SIDE;
  ds->w = SIDE;
  ds->nfactors = BH_DSPRITES_NFACTORS;
  for (int k = 0; k < BH_DSPRITES_NFACTORS; k++) {
    ds->factor_names[k] = bh_dsprites_factor_names[k];
    ds->factor_sizes[k] = bh_dsprites_factor_sizes[k];
  }
  ds->ops = &dsprites_ops;
  ds->impl = bs;
  return ds;
}

bh_dataset *bh_dsprites_generate(void) {
  bh_bitstore *bs = bh_bitstore_alloc(BH_DSPRITES_N, SIDE, SIDE);
  if (!bs) return NULL;
  bh_dsprites_render_range(bs, 0, BH_DSPRITES_N);
  return bh_dsprites_dataset_wrap(bs, "dsprites",
                                  "generated (official factor grid, procedural drawing)");
}
