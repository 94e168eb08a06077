/* test_celeba.c — image I/O (JPEG/PNG read, PNG write, grids) and the CelebA source.
 *
 * Every image is made here: JPEGs through libjpeg, PNGs through bh_png_write or libpng directly
 * (for the layouts our writer does not produce: 16-bit, alpha, palette, 1-bit, interlaced).  The
 * crop + area resize is checked against a plain double-precision box filter written below, on
 * images whose pixels are known exactly (PNG) or read back (JPEG, lossy), and against a few
 * values computed by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "core/error.h"
#include "datasets/celeba.h"
#include "datasets/image_io.h"
#include "tests/testfiles.h"

/* ---------------------------------------------------------------- helpers */

static void assert_msg_has(const char *needle) {
  const char *m = bh_error_message();
  if (!strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m, needle);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb;
  (void)flag;
  return f->level == 0 ? 0 : remove(p);
}

static int setup_dir(void **state) {
  (void)state;
  return tf_tmpdir_make("celeba");
}

/* Everything below the temporary folder (the CelebA folders have subfolders), then the folder. */
static int remove_dir(void **state) {
  (void)state;
  char p[256];
  tf_path(p, "");
  nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return tf_tmpdir_remove();
}

/* A deterministic byte stream (an LCG's high bits). */
static uint32_t lcg_state = 12345;
static uint8_t lcg_byte(void) {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return (uint8_t)(lcg_state >> 24);
}

static unsigned char *jpeg_encode(const uint8_t *pix, int w, int h, int comps, int quality,
                                  unsigned long *size) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr e;
  unsigned char *buf = NULL;
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  *size = 0;
  jpeg_mem_dest(&c, &buf, size);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = comps;
  c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = (JSAMPROW)(pix + (size_t)c.next_scanline * w * comps);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  return buf;
}

static void write_jpeg(const char *path, const uint8_t *pix, int w, int h, int comps) {
  unsigned long n;
  unsigned char *b = jpeg_encode(pix, w, h, comps, 95, &n);
  tf_write_bytes(path, b, n);
  free(b);
}

/* A PNG in any layout, through libpng directly (rows already packed for depth and type). */
static void write_png_raw(const char *path, int w, int h, int depth, int type, int interlace,
                          uint8_t **rows, const png_color *pal, int npal) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  assert_non_null(info);
  if (setjmp(png_jmpbuf(png))) fail_msg("libpng failed writing %s", path);
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, type, interlace,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (pal) png_set_PLTE(png, info, pal, npal);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  assert_int_equal(fclose(f), 0);
}

/* Append a PNG chunk (length, type, data, CRC) at b + *n. */
static void png_chunk(uint8_t *b, size_t *n, const char *type, const uint8_t *data, uint32_t len) {
  uint8_t *p = b + *n;
  p[0] = (uint8_t)(len >> 24), p[1] = (uint8_t)(len >> 16), p[2] = (uint8_t)(len >> 8),
  p[3] = (uint8_t)len;
  memcpy(p + 4, type, 4);
  if (len) memcpy(p + 8, data, len);
  uint32_t crc = (uint32_t)crc32(0, p + 4, 4 + len);
  p[8 + len] = (uint8_t)(crc >> 24), p[9 + len] = (uint8_t)(crc >> 16),
  p[10 + len] = (uint8_t)(crc >> 8), p[11 + len] = (uint8_t)crc;
  *n += 12 + len;
}

/* A small PNG whose IHDR claims w×h (depth, type), followed by a few IDAT bytes and IEND. */
static size_t png_fake_header(uint8_t *b, uint32_t w, uint32_t h, int depth, int type) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                      (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h,
                      (uint8_t)depth, (uint8_t)type, 0, 0, 0};
  uint8_t idat[10] = {0};
  size_t n = 8;
  memcpy(b, sig, 8);
  png_chunk(b, &n, "IHDR", ihdr, 13);
  png_chunk(b, &n, "IDAT", idat, 10);
  png_chunk(b, &n, "IEND", NULL, 0);
  return n;
}

/* Decoding these bytes must fail with BH_EFORMAT and a message naming the file and `needle`. */
static void expect_decode_error(const uint8_t *b, size_t n, const char *needle) {
  bh_image im = BH_IMAGE_INIT;
  bh_error_clear();
  assert_int_equal(bh_image_decode(b, n, "fixture.img", &im), BH_EFORMAT);
  assert_int_equal(im.w, 0);
  assert_msg_has("fixture.img");
  assert_msg_has(needle);
  bh_image_release(&im);
}

/* Offset of the first JPEG marker FF `code` at or after `from`. */
static size_t jpeg_find_marker(const uint8_t *b, size_t n, uint8_t code, size_t from) {
  for (size_t i = from; i + 1 < n; i++)
    if (b[i] == 0xff && b[i + 1] == code) return i;
  fail_msg("no JPEG marker FF %02X", code);
  return 0;
}

/* ---------------------------------------------------------------- reference resize */

/* The plain box filter: centred square crop, then output pixel (oy, ox) = mean over the source
 * square [ox·s, (ox+1)·s) × [oy·s, (oy+1)·s) of the crop, each source pixel weighted by the
 * area of its unit square inside the box.  Channel-major, /255. */
static void ref_crop_resize(const uint8_t *rgb, int w, int h, double *out) {
  const int S = 64, side = w < h ? w : h, x0 = (w - side) / 2, y0 = (h - side) / 2;
  const double s = (double)side / S;
  for (int c = 0; c < 3; c++)
    for (int oy = 0; oy < S; oy++)
      for (int ox = 0; ox < S; ox++) {
        double ylo = oy * s, yhi = (oy + 1) * s, xlo = ox * s, xhi = (ox + 1) * s, sum = 0;
        for (int y = (int)floor(ylo); y < (int)ceil(yhi); y++)
          for (int x = (int)floor(xlo); x < (int)ceil(xhi); x++) {
            double ay = fmin(yhi, y + 1.0) - fmax(ylo, (double)y);
            double ax = fmin(xhi, x + 1.0) - fmax(xlo, (double)x);
            sum += ay * ax * rgb[((size_t)(y0 + y) * w + x0 + x) * 3 + c];
          }
        out[(c * S + oy) * S + ox] = sum / (s * s) / 255.0;
      }
}

/* ---------------------------------------------------------------- the CelebA fixture */

static const char *ATTR_NAMES[BH_CELEBA_NATTRS] = {
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive",       "Bags_Under_Eyes",
    "Bald",             "Bangs",           "Big_Lips",         "Big_Nose",
    "Black_Hair",       "Blond_Hair",      "Blurry",           "Brown_Hair",
    "Bushy_Eyebrows",   "Chubby",          "Double_Chin",      "Eyeglasses",
    "Goatee",           "Gray_Hair",       "Heavy_Makeup",     "High_Cheekbones",
    "Male",             "Mouth_Slightly_Open", "Mustache",     "Narrow_Eyes",
    "No_Beard",         "Oval_Face",       "Pale_Skin",        "Pointy_Nose",
    "Receding_Hairline", "Rosy_Cheeks",    "Sideburns",        "Smiling",
    "Straight_Hair",    "Wavy_Hair",       "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young"};

/* Image i's (1-based) attribute k in the files: +1 or −1. */
static int attr_value(int i, int k) { return (i * 7 + k * 3) % 5 < 2 ? 1 : -1; }

#define NIMG 5
/* Listed names; where they are stored; the partition of each. */
static const char *LISTED[NIMG] = {"000001.jpg", "000002.jpg", "000003.png", "000004.jpg",
                                   "000005.jpg"};
static const int PART[NIMG] = {0, 0, 1, 2, 2};
/* The pixels as the dataset must see them (PNG: as made; JPEG: as decoded), and sizes. */
static uint8_t *fixture_rgb[NIMG];
static int fixture_w[NIMG], fixture_h[NIMG];

static void append(char *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(char *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsprintf(b + strlen(b), fmt, ap);
  va_end(ap);
}

/* Line 1 and 2 of list_attr_celeba.txt as the real file has them (trailing blank included). */
static void attr_header(char *b, int declared, int nnames) {
  sprintf(b, "%d\n", declared);
  for (int k = 0; k < nnames; k++) append(b, "%s ", ATTR_NAMES[k]);
  append(b, "\n");
}

/* One record with nvalues values (the real layout: " 1" padded to two columns); value k
 * replaced by `bad` when k == bad_k. */
static void attr_record(char *b, const char *name, int i, int nvalues, int bad_k,
                        const char *bad) {
  append(b, "%s", name);
  for (int k = 0; k < nvalues; k++)
    if (k == bad_k)
      append(b, " %s", bad);
    else
      append(b, attr_value(i, k) > 0 ? "  1" : " -1");
  append(b, "\n");
}

static const char *folder_make(char *out, const char *sub) {
  char p[512];
  tf_path(out, sub);
  assert_int_equal(mkdir(out, 0700), 0);
  snprintf(p, sizeof p, "%s/" BH_CELEBA_IMAGE_DIR, out);
  assert_int_equal(mkdir(p, 0700), 0);
  return out;
}

static void folder_write(const char *dir, const char *name, const char *text) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  tf_write_bytes(p, text, strlen(text));
}

static void image_path(char *out, const char *dir, const char *name) {
  snprintf(out, 512, "%s/" BH_CELEBA_IMAGE_DIR "/%s", dir, name);
}

/* Image 3: grey blocks whose area averages are easy by hand.  Rows outside the crop (0..19,
 * 198..217) are 255; in the crop, the top half (crop rows 0..88) is 100 left of column 45 and
 * 200 from it on, the bottom half (crop rows 89..177) is 40. */
static uint8_t grey_blocks(int x, int y) {
  if (y < 20 || y >= 198) return 255;
  if (y - 20 >= 89) return 40;
  return x < 45 ? 100 : 200;
}

/* Write the good folder: five 178×218 or odd-sized images covering RGB JPEG, grey JPEG, RGB
 * PNG stored as .png for a listed .jpg, grey PNG, and PNG content under a .jpg name. */
static char good_dir[256];

static void fixture_build(void) {
  char p[512];
  folder_make(good_dir, "good");
  const int W = 178, H = 218;
  for (int i = 0; i < NIMG; i++) {
    fixture_w[i] = i == 4 ? 100 : W;
    fixture_h[i] = i == 4 ? 80 : H;
    fixture_rgb[i] = malloc((size_t)fixture_w[i] * fixture_h[i] * 3);
    assert_non_null(fixture_rgb[i]);
  }
  /* 1: RGB JPEG, smooth gradients (R along x, G along y). */
  uint8_t *g = malloc((size_t)W * H * 3);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      uint8_t *q = g + ((size_t)y * W + x) * 3;
      q[0] = (uint8_t)(x * 255 / (W - 1)), q[1] = (uint8_t)(y * 255 / (H - 1)), q[2] = 128;
    }
  image_path(p, good_dir, "000001.jpg");
  write_jpeg(p, g, W, H, 3);
  free(g);
  /* 2: random RGB, stored only as 000002.png. */
  for (size_t k = 0; k < (size_t)W * H * 3; k++) fixture_rgb[1][k] = lcg_byte();
  image_path(p, good_dir, "000002.png");
  assert_int_equal(bh_png_write(p, fixture_rgb[1], W, H, 3), BH_OK);
  /* 3: grey PNG blocks. */
  uint8_t *grey = malloc((size_t)W * H);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      grey[y * W + x] = grey_blocks(x, y);
      memset(fixture_rgb[2] + ((size_t)y * W + x) * 3, grey_blocks(x, y), 3);
    }
  image_path(p, good_dir, "000003.png");
  assert_int_equal(bh_png_write(p, grey, W, H, 1), BH_OK);
  /* 4: grey JPEG, a diagonal gradient. */
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) grey[y * W + x] = (uint8_t)((x + y) * 255 / (W + H - 2));
  image_path(p, good_dir, "000004.jpg");
  write_jpeg(p, grey, W, H, 1);
  free(grey);
  /* 5: random RGB 100×80 (wider than tall: the crop is columns 10..89), PNG under a .jpg name. */
  for (size_t k = 0; k < 100 * 80 * 3; k++) fixture_rgb[4][k] = lcg_byte();
  image_path(p, good_dir, "000005.jpg");
  assert_int_equal(bh_png_write(p, fixture_rgb[4], 100, 80, 3), BH_OK);

  /* The JPEGs as decoded, after checking they are close to what was encoded. */
  bh_image im = BH_IMAGE_INIT;
  for (int i = 0; i < NIMG; i += 3) {
    image_path(p, good_dir, LISTED[i]);
    assert_int_equal(bh_image_read(p, &im), BH_OK);
    assert_int_equal(im.w, W);
    assert_int_equal(im.h, H);
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        for (int c = 0; c < 3; c++) {
          int want = i == 0 ? (c == 0 ? x * 255 / (W - 1) : c == 1 ? y * 255 / (H - 1) : 128)
                            : (x + y) * 255 / (W + H - 2);
          int got = im.rgb[((size_t)y * W + x) * 3 + c];
          /* quality 95 on smooth gradients: a few levels at most */
          if (abs(got - want) > 8) fail_msg("%s (%d,%d,%d): %d vs %d", p, x, y, c, got, want);
        }
    memcpy(fixture_rgb[i], im.rgb, (size_t)W * H * 3);
  }
  bh_image_release(&im);

  char b[8192];
  attr_header(b, NIMG, BH_CELEBA_NATTRS);
  for (int i = 0; i < NIMG; i++) attr_record(b, LISTED[i], i + 1, BH_CELEBA_NATTRS, -1, NULL);
  folder_write(good_dir, BH_CELEBA_ATTR_FILE, b);
  b[0] = 0;
  for (int i = 0; i < NIMG; i++) append(b, "%s %d\r\n", LISTED[i], PART[i]); /* CRLF */
  folder_write(good_dir, BH_CELEBA_PARTITION_FILE, b);
}

static int setup_all(void **state) {
  if (setup_dir(state)) return -1;
  fixture_build();
  return 0;
}

static int teardown_all(void **state) {
  for (int i = 0; i < NIMG; i++) free(fixture_rgb[i]);
  return remove_dir(state);
}

/* ---------------------------------------------------------------- image I/O tests */

static void test_png_roundtrip(void **state) {
  (void)state;
  char p[256];
  bh_image im = BH_IMAGE_INIT;
  uint8_t rgb[7 * 5 * 3], grey[7 * 5];
  for (size_t k = 0; k < sizeof rgb; k++) rgb[k] = lcg_byte();
  for (size_t k = 0; k < sizeof grey; k++) grey[k] = lcg_byte();
  tf_path(p, "rt_rgb.png");
  assert_int_equal(bh_png_write(p, rgb, 7, 5, 3), BH_OK);
  char tmp[300];
  snprintf(tmp, sizeof tmp, "%s.tmp", p);
  assert_false(tf_file_exists(tmp)); /* renamed into place */
  assert_int_equal(bh_image_read(p, &im), BH_OK);
  assert_int_equal(im.w, 7);
  assert_int_equal(im.h, 5);
  assert_memory_equal(im.rgb, rgb, sizeof rgb);
  /* grey comes back as three equal channels; the same bh_image is reused */
  tf_path(p, "rt_grey.png");
  assert_int_equal(bh_png_write(p, grey, 7, 5, 1), BH_OK);
  assert_int_equal(bh_image_read(p, &im), BH_OK);
  for (int k = 0; k < 35; k++)
    for (int c = 0; c < 3; c++) assert_int_equal(im.rgb[3 * k + c], grey[k]);
  bh_image_release(&im);
  assert_null(im.rgb);
  /* bad arguments */
  assert_int_equal(bh_png_write(p, grey, 7, 5, 2), BH_EINVAL);
  assert_int_equal(bh_png_write(p, grey, 0, 5, 1), BH_EFORMAT);
  tf_path(p, "no/such/dir/x.png");
  assert_int_equal(bh_png_write(p, grey, 7, 5, 1), BH_EIO);
  assert_msg_has("x.png");
}

/* Layouts our writer does not make: 16-bit RGBA interlaced, 4-bit palette, 1-bit grey, grey +
 * alpha.  Each must come out as the 8-bit RGB a person would see (alpha dropped, not mixed). */
static void test_png_layouts(void **state) {
  (void)state;
  char p[256];
  bh_image im = BH_IMAGE_INIT;
  /* 16-bit RGBA, Adam7: 5×7; high byte of each sample is the expected level */
  enum { W = 5, H = 7 };
  uint8_t rows16[H][W * 8], *r16[H];
  for (int y = 0; y < H; y++) {
    r16[y] = rows16[y];
    for (int x = 0; x < W; x++)
      for (int c = 0; c < 4; c++) {
        rows16[y][x * 8 + 2 * c] = (uint8_t)(40 * c + 3 * x + 17 * y);
        rows16[y][x * 8 + 2 * c + 1] = lcg_byte();
      }
  }
  tf_path(p, "rgba16_adam7.png");
  write_png_raw(p, W, H, 16, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_ADAM7, r16, NULL, 0);
  assert_int_equal(bh_image_read(p, &im), BH_OK);
  assert_int_equal(im.w, W);
  assert_int_equal(im.h, H);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      for (int c = 0; c < 3; c++)
        assert_int_equal(im.rgb[(y * W + x) * 3 + c], 40 * c + 3 * x + 17 * y);
  /* 4-bit palette, 3×2: indices 0 1 2 / 2 1 0 */
  png_color pal[3] = {{10, 20, 30}, {200, 0, 100}, {1, 2, 3}};
  uint8_t p0[2] = {0x01, 0x20}, p1[2] = {0x21, 0x00}, *rp[2] = {p0, p1};
  tf_path(p, "pal4.png");
  write_png_raw(p, 3, 2, 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, rp, pal, 3);
  assert_int_equal(bh_image_read(p, &im), BH_OK);
  const int idx[6] = {0, 1, 2, 2, 1, 0};
  for (int k = 0; k < 6; k++) {
    assert_int_equal(im.rgb[3 * k], pal[idx[k]].red);
    assert_int_equal(im.rgb[3 * k + 1], pal[idx[k]].green);
    assert_int_equal(im.rgb[3 * k + 2], pal[idx[k]].blue);
  }
  /* 1-bit grey, 9×1: bits 1 0 1 1 0 0 0 0 | 1 → 255 0 255 255 0 0 0 0 255 */
  uint8_t b1[2] = {0xb0, 0x80}, *rb[1] = {b1};
  tf_path(p, "grey1.png");
  write_png_raw(p, 9, 1, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, rb, NULL, 0);
  assert_int_equal(bh_image_read(p, &im), BH_OK);
  const int lev[9] = {255, 0, 255, 255, 0, 0, 0, 0, 255};
  for (int k = 0; k < 9; k++)
    for (int c = 0; c < 3; c++) assert_int_equal(im.rgb[3 * k + c], lev[k]);
  /* grey + alpha 8-bit, 2×1: (77, α 0), (200, α 255) → grey levels unchanged by alpha */
  uint8_t ga[4] = {77, 0, 200, 255}, *rga[1] = {ga};
  tf_path(p, "greyalpha.png");
  write_png_raw(p, 2, 1, 8, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, rga, NULL, 0);
  assert_int_equal(bh_image_read(p, &im), BH_OK);
  for (int c = 0; c < 3; c++) {
    assert_int_equal(im.rgb[c], 77);
    assert_int_equal(im.rgb[3 + c], 200);
  }
  bh_image_release(&im);
}

static void test_png_bad(void **state) {
  (void)state;
  char p[256];
  uint8_t pix[16 * 12 * 3];
  for (size_t k = 0; k < sizeof pix; k++) pix[k] = lcg_byte();
  tf_path(p, "bad_src.png");
  assert_int_equal(bh_png_write(p, pix, 16, 12, 3), BH_OK);
  size_t n;
  uint8_t *b = tf_read_bytes(p, &n);
  /* truncated anywhere: in the signature, in IHDR, in IDAT, before IEND, one byte short */
  const size_t cuts[] = {5, 20, 40, n / 2, n - 12, n - 1};
  for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++)
    expect_decode_error(b, cuts[k], cuts[k] < 8 ? "not a JPEG or PNG" : "PNG");
  /* a flipped byte in IHDR (CRC mismatch) and one in the compressed data */
  uint8_t *c = malloc(n);
  memcpy(c, b, n);
  c[18] ^= 0x40;
  expect_decode_error(c, n, "corrupt PNG");
  memcpy(c, b, n);
  c[n / 2] ^= 0x01;
  expect_decode_error(c, n, "corrupt PNG");
  free(c);
  free(b);
  /* headers claiming too much, rejected before the pixel buffer: a side over 16384 ... */
  uint8_t h[128];
  size_t hn = png_fake_header(h, 20000, 10, 8, PNG_COLOR_TYPE_RGB);
  expect_decode_error(h, hn, "too large");
  hn = png_fake_header(h, 10, 16385, 8, PNG_COLOR_TYPE_GRAY);
  expect_decode_error(h, hn, "too large");
  /* ... or 16384² 16-bit RGBA (2 GiB of rows) from a 70-byte file */
  hn = png_fake_header(h, 16384, 16384, 16, PNG_COLOR_TYPE_RGB_ALPHA);
  expect_decode_error(h, hn, "bytes can hold");
  /* a plausible header over an IDAT that is not zlib data */
  hn = png_fake_header(h, 4, 4, 8, PNG_COLOR_TYPE_RGB);
  expect_decode_error(h, hn, "corrupt PNG");
  /* not an image at all; an unreadable path */
  expect_decode_error((const uint8_t *)"hello, world", 12, "not a JPEG or PNG");
  bh_image im = BH_IMAGE_INIT;
  tf_path(p, "missing.png");
  assert_int_equal(bh_image_read(p, &im), BH_EIO);
  assert_msg_has("missing.png");
  tf_path(p, "");
  assert_int_not_equal(bh_image_read(p, &im), BH_OK); /* a folder */
  bh_image_release(&im);
}

static void test_jpeg_decode_and_bad(void **state) {
  (void)state;
  enum { W = 40, H = 24 };
  uint8_t pix[W * H * 3];
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      pix[(y * W + x) * 3] = (uint8_t)(6 * x), pix[(y * W + x) * 3 + 1] = (uint8_t)(10 * y),
      pix[(y * W + x) * 3 + 2] = 90;
    }
  unsigned long n;
  uint8_t *b = jpeg_encode(pix, W, H, 3, 95, &n);
  bh_image im = BH_IMAGE_INIT;
  assert_int_equal(bh_image_decode(b, n, "ok.jpg", &im), BH_OK);
  assert_int_equal(im.w, W);
  assert_int_equal(im.h, H);
  for (int k = 0; k < W * H * 3; k++)
    if (abs(im.rgb[k] - pix[k]) > 10) fail_msg("pixel %d: %d vs %d", k, im.rgb[k], pix[k]);
  /* truncated: in the header, at the scan start, in the middle of the scan, before EOI */
  size_t sos = jpeg_find_marker(b, n, 0xda, 2);
  const size_t cuts[] = {10, sos + 4, sos + (n - sos) / 2, n - 2};
  for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++)
    expect_decode_error(b, cuts[k], "corrupt JPEG");
  uint8_t *c = malloc(n);
  /* an EOI marker in the middle of the entropy-coded data: libjpeg only warns */
  memcpy(c, b, n);
  c[sos + (n - sos) / 2] = 0xff, c[sos + (n - sos) / 2 + 1] = 0xd9;
  expect_decode_error(c, n, "corrupt JPEG");
  /* an unsupported sample precision in SOF0 */
  size_t sof = jpeg_find_marker(b, n, 0xc0, 2);
  memcpy(c, b, n);
  c[sof + 4] = 7;
  expect_decode_error(c, n, "corrupt JPEG");
  /* oversized frames, rejected before decoding: a side over 16384 ... */
  memcpy(c, b, n);
  c[sof + 5] = 0x4e, c[sof + 6] = 0x20; /* height 20000 */
  expect_decode_error(c, n, "too large");
  /* ... and 16000×16000 claimed by a file of about 700 bytes */
  memcpy(c, b, n);
  c[sof + 5] = c[sof + 7] = 0x3e, c[sof + 6] = c[sof + 8] = 0x80;
  expect_decode_error(c, n, "bytes can hold");
  /* garbage after the SOI */
  memcpy(c, b, n);
  memset(c + 3, 0, n - 3);
  expect_decode_error(c, n, "corrupt JPEG");
  free(c);
  free(b);
  bh_image_release(&im);
}

static void test_grid(void **state) {
  (void)state;
  char p[256];
  bh_image im = BH_IMAGE_INIT;
  /* 5 grey images of 3×4 in 3 columns: 2 rows, 16×8 pixels with the 2-pixel separators */
  float g[5 * 12];
  for (int i = 0; i < 5; i++)
    for (int k = 0; k < 12; k++) g[i * 12 + k] = (float)(i * 12 + k) / 59.0f;
  g[4 * 12 + 5] = 0.2f;  /* image 4, row 1, col 1 → 51 */
  g[0] = -0.3f;          /* clamped to 0 */
  g[1] = 1.7f;           /* clamped to 255 */
  g[2] = NAN;            /* 0 */
  tf_path(p, "grid1.png");
  assert_int_equal(bh_png_write_grid(p, g, 5, 1, 3, 4, 3), BH_OK);
  assert_int_equal(bh_image_read(p, &im), BH_OK);
  assert_int_equal(im.w, 3 * 4 + 2 * BH_GRID_SEP);
  assert_int_equal(im.h, 2 * 3 + 1 * BH_GRID_SEP);
  const int W = im.w;
#define PX(x, y, c) im.rgb[((y) * W + (x)) * 3 + (c)]
  /* image 4 is row 1, column 1: cell origin (6, 5) */
  for (int c = 0; c < 3; c++) assert_int_equal(PX(6 + 1, 5 + 1, c), 51);
  assert_int_equal(PX(0, 0, 0), 0);
  assert_int_equal(PX(1, 0, 0), 255);
  assert_int_equal(PX(2, 0, 0), 0);
  /* image 1, pixel (row 2, col 3): 1·12 + 2·4 + 3 = 23 → round(255·23/59) = 99 */
  assert_int_equal(PX(6 + 3, 2, 0), 99);
  /* separators and the empty sixth cell */
  assert_int_equal(PX(4, 0, 0), BH_GRID_SEP_LEVEL);
  assert_int_equal(PX(5, 7, 0), BH_GRID_SEP_LEVEL);
  assert_int_equal(PX(0, 3, 0), BH_GRID_SEP_LEVEL);
  assert_int_equal(PX(13, 6, 1), BH_GRID_SEP_LEVEL);
  /* RGB: 2 images of 3×2×2 in 4 columns (clipped to 2): 6×2; channel order kept */
  float rgb[2 * 12];
  for (int k = 0; k < 24; k++) rgb[k] = 0;
  rgb[12 + 0 * 4 + 3] = 1.0f; /* image 1, R, pixel (1, 1) */
  rgb[12 + 2 * 4 + 2] = 0.5f; /* image 1, B, pixel (1, 0) → 128 */
  tf_path(p, "grid3.png");
  assert_int_equal(bh_png_write_grid(p, rgb, 2, 3, 2, 2, 4), BH_OK);
  assert_int_equal(bh_image_read(p, &im), BH_OK);
  assert_int_equal(im.w, 2 * 2 + BH_GRID_SEP);
  assert_int_equal(im.h, 2);
  const int W3 = im.w;
#undef PX
#define PX(x, y, c) im.rgb[((y) * W3 + (x)) * 3 + (c)]
  assert_int_equal(PX(4 + 1, 1, 0), 255);
  assert_int_equal(PX(4 + 1, 1, 1), 0);
  assert_int_equal(PX(4 + 0, 1, 2), 128);
  assert_int_equal(PX(4 + 0, 1, 0), 0);
  assert_int_equal(PX(2, 0, 0), BH_GRID_SEP_LEVEL);
#undef PX
  /* bad shapes */
  assert_int_equal(bh_png_write_grid(p, rgb, 2, 2, 2, 2, 4), BH_EINVAL);
  assert_msg_has("grid3.png");
  assert_int_equal(bh_png_write_grid(p, rgb, 0, 3, 2, 2, 4), BH_EINVAL);
  assert_int_equal(bh_png_write_grid(p, rgb, 2, 3, 2, 10000, 2), BH_EFORMAT);
  assert_msg_has("too large");
  bh_image_release(&im);
}

/* ---------------------------------------------------------------- CelebA tests */

static bh_dataset *open_ok(const char *dir, bh_split split) {
  bh_dataset *ds = bh_celeba_open(dir, split);
  if (!ds) fail_msg("bh_celeba_open: %s", bh_error_message());
  return ds;
}

static void test_celeba_splits_and_attrs(void **state) {
  (void)state;
  const size_t want_n[4] = {5, 2, 1, 2};
  const int first[4] = {0, 0, 2, 3}; /* the first entry of each split */
  for (int s = BH_SPLIT_ALL; s <= BH_SPLIT_TEST; s++) {
    bh_dataset *ds = open_ok(good_dir, (bh_split)s);
    assert_string_equal(ds->kind, "celeba");
    assert_int_equal(ds->n, want_n[s]);
    assert_int_equal(ds->c, 3);
    assert_int_equal(ds->h, 64);
    assert_int_equal(ds->w, 64);
    assert_int_equal(ds->nattrs, 40);
    assert_int_equal(ds->nclasses, 0);
    assert_int_equal(ds->nfactors, 0);
    for (int k = 0; k < 40; k++) assert_string_equal(ds->attr_names[k], ATTR_NAMES[k]);
    size_t idx[5];
    uint8_t a[5 * 40];
    for (size_t i = 0; i < ds->n; i++) idx[i] = ds->n - 1 - i; /* reversed */
    assert_int_equal(ds->ops->attrs(ds, idx, ds->n, a), BH_OK);
    for (size_t i = 0; i < ds->n; i++) {
      int img = first[s] + (int)idx[i] + 1; /* 1-based image number */
      for (int k = 0; k < 40; k++) assert_int_equal(a[i * 40 + k], attr_value(img, k) > 0);
    }
    idx[0] = ds->n;
    assert_int_equal(ds->ops->attrs(ds, idx, 1, a), BH_EINVAL);
    ds->ops->free(ds);
  }
  /* the attribute pattern really has both values in it (so the check above can fail) */
  int ones = 0;
  for (int k = 0; k < 40; k++) ones += attr_value(3, k) > 0;
  assert_true(ones > 5 && ones < 35);
}

static void test_celeba_images(void **state) {
  (void)state;
  bh_dataset *ds = open_ok(good_dir, BH_SPLIT_ALL);
  const size_t S = 3 * 64 * 64;
  float *out = malloc(NIMG * S * sizeof *out);
  double *ref = malloc(S * sizeof *ref);
  size_t idx[NIMG] = {0, 1, 2, 3, 4};
  assert_int_equal(ds->ops->images(ds, idx, NIMG, out), BH_OK);
  for (int i = 0; i < NIMG; i++) {
    ref_crop_resize(fixture_rgb[i], fixture_w[i], fixture_h[i], ref);
    /* float accumulation over ≤ 16 taps of values ≤ 1: error ~1e-6 */
    for (size_t k = 0; k < S; k++)
      if (fabs(out[i * S + k] - ref[k]) > 1e-5)
        fail_msg("image %d value %zu: %.7f vs reference %.7f", i + 1, k, out[i * S + k], ref[k]);
  }
  /* image 3 by hand: s = 178/64 = 2.78125; crop rows 0..88 are output rows 0..31 exactly
   * (32·s = 89); output column 15 ends at 44.5 < 45, column 16 covers [44.5, 47.28125): half a
   * pixel of 100 and 2.28125 of 200. */
  const float *im3 = out + 2 * S;
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < 64; y++) {
      const float *row = im3 + (c * 64 + y) * 64;
      if (y < 32) {
        assert_float_equal(row[0], 100 / 255.0, 1e-6);
        assert_float_equal(row[15], 100 / 255.0, 1e-6);
        assert_float_equal(row[16], (0.5 * 100 + 2.28125 * 200) / 2.78125 / 255, 1e-6);
        assert_float_equal(row[17], 200 / 255.0, 1e-6);
        assert_float_equal(row[63], 200 / 255.0, 1e-6);
      } else {
        assert_float_equal(row[0], 40 / 255.0, 1e-6);
        assert_float_equal(row[63], 40 / 255.0, 1e-6);
      }
    }
  /* image 1: blue is 128 everywhere up to JPEG error; red grows along x, green along y */
  const float *im1 = out;
  assert_true(im1[0 * 4096 + 10 * 64 + 60] > im1[0 * 4096 + 10 * 64 + 3] + 0.8f);
  assert_true(im1[1 * 4096 + 60 * 64 + 10] > im1[1 * 4096 + 3 * 64 + 10] + 0.6f);
  assert_float_equal(im1[2 * 4096 + 32 * 64 + 32], 128 / 255.0, 4 / 255.0);
  /* every value in [0, 1] */
  for (size_t k = 0; k < NIMG * S; k++) assert_true(out[k] >= 0.0f && out[k] <= 1.0f);
  /* a split sees the same pixels: test = images 4 and 5, asked for in reverse */
  bh_dataset *te = open_ok(good_dir, BH_SPLIT_TEST);
  float *out2 = malloc(2 * S * sizeof *out2);
  size_t idx2[2] = {1, 0};
  assert_int_equal(te->ops->images(te, idx2, 2, out2), BH_OK);
  assert_memory_equal(out2, out + 4 * S, S * sizeof *out2);
  assert_memory_equal(out2 + S, out + 3 * S, S * sizeof *out2);
  idx2[0] = 2;
  assert_int_equal(te->ops->images(te, idx2, 1, out2), BH_EINVAL);
  te->ops->free(te);
  free(out2);
  free(ref);
  free(out);
  ds->ops->free(ds);
}

/* ---------------------------------------------------------------- CelebA errors */

static int err_seq;

/* A new folder with these two lists (partition NULL: none); open must fail naming `needle`. */
static void expect_open_error(const char *attr, const char *part, bh_split split,
                              const char *needle) {
  char dir[256], sub[32];
  snprintf(sub, sizeof sub, "err%02d", ++err_seq);
  folder_make(dir, sub);
  if (attr) folder_write(dir, BH_CELEBA_ATTR_FILE, attr);
  if (part) folder_write(dir, BH_CELEBA_PARTITION_FILE, part);
  bh_error_clear();
  bh_dataset *ds = bh_celeba_open(dir, split);
  if (ds) fail_msg("%s: opened, expected an error with \"%s\"", sub, needle);
  assert_int_not_equal(bh_error_code(), BH_OK);
  assert_msg_has(needle);
}

/* Two records, 000001.jpg (train) and 000002.jpg (test), with attr record 2 changed by `bad`. */
static void two_records(char *b, int declared, int bad_k, const char *bad) {
  attr_header(b, declared, 40);
  attr_record(b, "000001.jpg", 1, 40, -1, NULL);
  attr_record(b, "000002.jpg", 2, 40, bad_k, bad);
}

static const char PART2[] = "000001.jpg 0\n000002.jpg 2\n";

static void test_celeba_attr_errors(void **state) {
  (void)state;
  char b[4096];
  /* no folder, no attribute file */
  bh_error_clear();
  assert_null(bh_celeba_open("/nonexistent/celeba", BH_SPLIT_ALL));
  assert_msg_has("/nonexistent/celeba/list_attr_celeba.txt: cannot open");
  expect_open_error(NULL, PART2, BH_SPLIT_ALL, "list_attr_celeba.txt: cannot open");
  /* bad values */
  two_records(b, 2, 7, "0");
  expect_open_error(b, PART2, BH_SPLIT_ALL, "list_attr_celeba.txt:4: Big_Nose = '0', expected 1 or -1");
  /* fuzz/regress/celeba: the names line is the file's last, without a newline (read past the
   * buffer before the fix): an error, not a crash */
  attr_header(b, 1, 40);
  b[strlen(b) - 1] = '\0';
  expect_open_error(b, PART2, BH_SPLIT_ALL, "list_attr_celeba.txt");
  two_records(b, 2, 39, "+1x");
  expect_open_error(b, PART2, BH_SPLIT_ALL, "list_attr_celeba.txt:4: Young = '+1x'");
  /* count mismatches: fewer and more records than declared */
  two_records(b, 3, -1, NULL);
  expect_open_error(b, PART2, BH_SPLIT_ALL, "line 1 declares 3 images but 2 are listed");
  two_records(b, 1, -1, NULL);
  expect_open_error(b, PART2, BH_SPLIT_ALL, "list_attr_celeba.txt:4: more images than the 1 declared");
  /* a bad count line, 39 names, a record with 39 values */
  two_records(b, 2, -1, NULL);
  b[0] = 'x';
  expect_open_error(b, PART2, BH_SPLIT_ALL, "list_attr_celeba.txt:1: expected the number of images");
  attr_header(b, 1, 39);
  attr_record(b, "000001.jpg", 1, 40, -1, NULL);
  expect_open_error(b, PART2, BH_SPLIT_ALL, "list_attr_celeba.txt:2: expected 40 attribute names, got 39");
  attr_header(b, 1, 40);
  attr_record(b, "000001.jpg", 1, 39, -1, NULL);
  expect_open_error(b, PART2, BH_SPLIT_ALL, "list_attr_celeba.txt:3: expected a file name and 40 values, got 40 fields");
  /* a name listed twice; a name with a folder in it */
  attr_header(b, 2, 40);
  attr_record(b, "000001.jpg", 1, 40, -1, NULL);
  attr_record(b, "000001.jpg", 2, 40, -1, NULL);
  expect_open_error(b, PART2, BH_SPLIT_ALL, "list_attr_celeba.txt:4: image 000001.jpg listed twice (also on line 3)");
  attr_header(b, 1, 40);
  attr_record(b, "../000001.jpg", 1, 40, -1, NULL);
  expect_open_error(b, PART2, BH_SPLIT_ALL, "list_attr_celeba.txt:3: bad image file name");
  expect_open_error("", PART2, BH_SPLIT_ALL, "list_attr_celeba.txt:1: expected the number");
}

static void test_celeba_partition_errors(void **state) {
  (void)state;
  char b[4096];
  two_records(b, 2, -1, NULL);
  expect_open_error(b, "000001.jpg 0\n000009.jpg 2\n", BH_SPLIT_TRAIN,
                    "list_eval_partition.txt:2: image 000009.jpg is not in list_attr_celeba.txt");
  expect_open_error(b, "000001.jpg 3\n000002.jpg 2\n", BH_SPLIT_TRAIN,
                    "list_eval_partition.txt:1: expected a file name and 0, 1 or 2");
  expect_open_error(b, "000001.jpg 0 1\n000002.jpg 2\n", BH_SPLIT_TRAIN,
                    "list_eval_partition.txt:1: expected a file name and 0, 1 or 2");
  expect_open_error(b, "000001.jpg 0\n000001.jpg 2\n", BH_SPLIT_TEST,
                    "list_eval_partition.txt:2: image 000001.jpg listed twice");
  expect_open_error(b, "000001.jpg 0\n", BH_SPLIT_TRAIN,
                    "list_eval_partition.txt: no entry for image 000002.jpg (list_attr_celeba.txt line 4)");
  /* a split needs the partition file; an empty split is refused */
  expect_open_error(b, NULL, BH_SPLIT_TEST, "list_eval_partition.txt: cannot open");
  expect_open_error(b, PART2, BH_SPLIT_VALID, "no images in the valid split");
  /* a bad split value */
  bh_error_clear();
  assert_null(bh_celeba_open(good_dir, (bh_split)7));
  assert_msg_has("unknown split");
}

static void test_celeba_missing_and_corrupt_images(void **state) {
  (void)state;
  char b[4096], dir[256], p[512];
  uint8_t px[178 * 218 * 3];
  for (size_t k = 0; k < sizeof px; k++) px[k] = lcg_byte();
  /* image 2 is missing: an error at open naming the attribute file's line */
  two_records(b, 2, -1, NULL);
  folder_make(dir, "missing");
  folder_write(dir, BH_CELEBA_ATTR_FILE, b);
  folder_write(dir, BH_CELEBA_PARTITION_FILE, PART2);
  image_path(p, dir, "000001.jpg");
  write_jpeg(p, px, 178, 218, 3);
  bh_error_clear();
  assert_null(bh_celeba_open(dir, BH_SPLIT_ALL));
  assert_msg_has("list_attr_celeba.txt:4: image 000002.jpg not found in");
  /* but the train split (image 1 only) does not need it, and without a partition file ALL is
   * fine once image 2 exists — as a truncated JPEG and, after, a truncated PNG */
  bh_dataset *ds = open_ok(dir, BH_SPLIT_TRAIN);
  assert_int_equal(ds->n, 1);
  ds->ops->free(ds);
  size_t n;
  image_path(p, dir, "000001.jpg");
  uint8_t *jpg = tf_read_bytes(p, &n);
  image_path(p, dir, "000002.jpg");
  tf_write_bytes(p, jpg, n * 2 / 3);
  free(jpg);
  snprintf(p, sizeof p, "%s/" BH_CELEBA_PARTITION_FILE, dir);
  assert_int_equal(unlink(p), 0);
  ds = open_ok(dir, BH_SPLIT_ALL);
  float *out = malloc(2 * 3 * 64 * 64 * sizeof *out);
  size_t idx[2] = {0, 1};
  bh_error_clear();
  assert_int_equal(ds->ops->images(ds, idx, 2, out), BH_EFORMAT);
  assert_msg_has("img_align_celeba/000002.jpg: corrupt JPEG");
  /* the first image decoded fine before the failure, and still does after it */
  assert_int_equal(ds->ops->images(ds, idx, 1, out), BH_OK);
  image_path(p, dir, "000002.jpg");
  unlink(p);
  image_path(p, dir, "000002.png");
  assert_int_equal(bh_png_write(p, px, 178, 218, 3), BH_OK);
  uint8_t *png = tf_read_bytes(p, &n);
  tf_write_bytes(p, png, n - 100);
  free(png);
  ds->ops->free(ds);
  ds = open_ok(dir, BH_SPLIT_ALL); /* finds 000002.png for 000002.jpg */
  assert_int_equal(ds->ops->images(ds, idx, 2, out), BH_EFORMAT);
  assert_msg_has("img_align_celeba/000002.png: corrupt PNG");
  /* the image file vanishes after open */
  unlink(p);
  assert_int_equal(ds->ops->images(ds, idx + 1, 1, out), BH_EIO);
  assert_msg_has("000002.png: cannot open");
  ds->ops->free(ds);
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_png_roundtrip),
      cmocka_unit_test(test_png_layouts),
      cmocka_unit_test(test_png_bad),
      cmocka_unit_test(test_jpeg_decode_and_bad),
      cmocka_unit_test(test_grid),
      cmocka_unit_test(test_celeba_splits_and_attrs),
      cmocka_unit_test(test_celeba_images),
      cmocka_unit_test(test_celeba_attr_errors),
      cmocka_unit_test(test_celeba_partition_errors),
      cmocka_unit_test(test_celeba_missing_and_corrupt_images),
  };
  return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
