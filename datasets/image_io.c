/* image_io.c — see image_io.h.
 *
 * Both libraries report errors through a callback that must not return; ours record the
 * message and longjmp back to the decoder, which frees the library state and returns an error.
 * Between setjmp and a possible longjmp the decoders only write through pointers (library
 * structs, the image buffers), never to local variables read after the jump, so nothing needs
 * to be volatile.
 */
#include "datasets/image_io.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>

#include "core/error.h"
#include "core/npy.h"

/* Encoded files larger than this are refused before reading (a 16384² PNG of noise is ~800 MB). */
#define MAX_FILE_BYTES ((uint64_t)1 << 30)
/* DEFLATE expands at most 1032:1 (a 258-byte match costs at least 2 bits), so a PNG of len bytes
 * holds at most ~1032·len bytes of filtered rows; a header claiming more is refused before the
 * pixel buffer is allocated. */
#define PNG_MAX_RATIO 1032
/* A JPEG spends at least one bit per 8×8 block of some component holding at least a quarter of
 * the image's blocks (sampling factors are at most 4), i.e. at least 1 bit per 2048 pixels; twice
 * that margin keeps every real file while a 100-byte file cannot claim a gigapixel. */
#define JPEG_MAX_PIXELS_PER_BYTE 4096

void bh_image_release(bh_image *img) {
  free(img->rgb);
  free(img->file);
  *img = (bh_image)BH_IMAGE_INIT;
}

/* Grow *buf to at least need bytes (contents are not kept: every caller overwrites them). */
static int buffer_reserve(uint8_t **buf, size_t *cap, size_t need, const char *name) {
  if (need <= *cap) return BH_OK;
  free(*buf);
  *cap = 0;
  if (!(*buf = malloc(need))) return bh_error(BH_ENOMEM, "%s: out of memory (%zu bytes)", name, need);
  *cap = need;
  return BH_OK;
}

static int check_dims(const char *name, const char *format, uint64_t w, uint64_t h) {
  if (w == 0 || h == 0)
    return bh_error(BH_EFORMAT, "%s: %s image of %llu×%llu pixels is empty", name, format,
                    (unsigned long long)w, (unsigned long long)h);
  if (w > BH_IMAGE_MAX_SIDE || h > BH_IMAGE_MAX_SIDE || w * h > BH_IMAGE_MAX_PIXELS)
    return bh_error(BH_EFORMAT,
                    "%s: %s image of %llu×%llu pixels is too large (at most %d a side, %llu in all)",
                    name, format, (unsigned long long)w, (unsigned long long)h, BH_IMAGE_MAX_SIDE,
                    (unsigned long long)BH_IMAGE_MAX_PIXELS);
  return BH_OK;
}

/* Claims a file of len bytes cannot back (see PNG_MAX_RATIO, JPEG_MAX_PIXELS_PER_BYTE). */
static int check_backed(const char *name, const char *format, uint64_t w, uint64_t h,
                        uint64_t need, uint64_t limit, size_t len) {
  if (need <= limit) return BH_OK;
  return bh_error(BH_EFORMAT, "%s: %s header claims %llu×%llu pixels, more than %zu bytes can hold",
                  name, format, (unsigned long long)w, (unsigned long long)h, len);
}

/* Expand n grey bytes at the start of row to RGB in place (backwards: the write stays behind
 * the read). */
static void grey_to_rgb(uint8_t *row, size_t n) {
  for (size_t x = n; x-- > 0;) {
    uint8_t v = row[x];
    row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = v;
  }
}

/* ---------------------------------------------------------------- JPEG */

typedef struct jpeg_fail {
  struct jpeg_error_mgr pub; /* first: libjpeg hands back a pointer to it */
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX];
} jpeg_fail;

static void jpeg_fail_exit(j_common_ptr cinfo) {
  jpeg_fail *f = (jpeg_fail *)cinfo->err;
  f->pub.format_message(cinfo, f->msg);
  longjmp(f->jump, 1);
}

/* Level −1 is a warning: premature end of data or corrupt entropy data, after which libjpeg
 * would fill in grey and go on.  We want no silently damaged training images, so it is an
 * error.  Trace messages (level ≥ 0) are ignored. */
static void jpeg_fail_emit(j_common_ptr cinfo, int level) {
  if (level < 0) jpeg_fail_exit(cinfo);
}

static int decode_jpeg(const uint8_t *data, size_t len, const char *name, bh_image *img) {
  struct jpeg_decompress_struct cinfo;
  jpeg_fail fail;
  int st = BH_OK;
  memset(&cinfo, 0, sizeof cinfo); /* so that destroy is safe whatever step fails */
  cinfo.err = jpeg_std_error(&fail.pub);
  fail.pub.error_exit = jpeg_fail_exit;
  fail.pub.emit_message = jpeg_fail_emit;
  if (setjmp(fail.jump)) {
    jpeg_destroy_decompress(&cinfo);
    img->w = img->h = 0;
    return bh_error(BH_EFORMAT, "%s: corrupt JPEG: %s", name, fail.msg);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, (unsigned long)len);
  jpeg_read_header(&cinfo, TRUE);
  uint64_t w = cinfo.image_width, h = cinfo.image_height;
  if ((st = check_dims(name, "JPEG", w, h)) ||
      (st = check_backed(name, "JPEG", w, h, w * h, (uint64_t)len * JPEG_MAX_PIXELS_PER_BYTE, len)) ||
      (st = buffer_reserve(&img->rgb, &img->rgb_cap, w * h * 3, name))) {
    jpeg_destroy_decompress(&cinfo);
    img->w = img->h = 0;
    return st;
  }
  /* Grey is decoded as grey and expanded here: plain libjpeg cannot convert grey to RGB. */
  int grey = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = grey ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_width != w || cinfo.output_height != h ||
      cinfo.output_components != (grey ? 1 : 3)) {
    jpeg_destroy_decompress(&cinfo);
    img->w = img->h = 0;
    return bh_error(BH_EFORMAT, "%s: JPEG decodes to an unexpected layout", name);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img->rgb + (size_t)cinfo.output_scanline * w * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (grey) grey_to_rgb(row, w);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  img->w = (int)w;
  img->h = (int)h;
  return BH_OK;
}

/* ---------------------------------------------------------------- PNG */

typedef struct png_ctx {
  const uint8_t *p; /* reading: the bytes not yet consumed */
  size_t left;
  jmp_buf jump;
  char msg[160];
} png_ctx;

static void png_fail(png_structp png, png_const_charp msg) {
  png_ctx *c = png_get_error_ptr(png);
  snprintf(c->msg, sizeof c->msg, "%s", msg);
  longjmp(c->jump, 1);
}

/* libpng warns about harmless oddities (a bad ancillary CRC, an unknown profile): ignore them. */
static void png_quiet(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void png_read_mem(png_structp png, png_bytep out, size_t n) {
  png_ctx *c = png_get_io_ptr(png);
  if (n > c->left) png_error(png, "file truncated");
  memcpy(out, c->p, n);
  c->p += n;
  c->left -= n;
}

/* Transforms that turn any PNG into 8-bit RGB without alpha. */
static void png_set_rgb8(png_structp png, png_infop info) {
  int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  if (!(type & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
}

static int decode_png(const uint8_t *data, size_t len, const char *name, bh_image *img) {
  png_ctx ctx = {.p = data, .left = len};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_fail, png_quiet);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  int st;
  img->w = img->h = 0;
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return bh_error(BH_ENOMEM, "%s: out of memory", name);
  }
  if (setjmp(ctx.jump)) {
    png_destroy_read_struct(&png, &info, NULL);
    img->w = img->h = 0;
    return bh_error(BH_EFORMAT, "%s: corrupt PNG: %s", name, ctx.msg);
  }
  png_set_read_fn(png, &ctx, png_read_mem);
  png_read_info(png, info);
  uint64_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  uint64_t raw = h * (png_get_rowbytes(png, info) + 1); /* filtered rows, the filter byte each */
  if ((st = check_dims(name, "PNG", w, h)) ||
      (st = check_backed(name, "PNG", w, h, raw, (uint64_t)len * PNG_MAX_RATIO, len)) ||
      (st = buffer_reserve(&img->rgb, &img->rgb_cap, w * h * 3, name))) {
    png_destroy_read_struct(&png, &info, NULL);
    return st;
  }
  png_set_rgb8(png, info);
  int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != w * 3) {
    png_destroy_read_struct(&png, &info, NULL);
    return bh_error(BH_EFORMAT, "%s: PNG decodes to an unexpected layout", name);
  }
  /* Interlaced images: each pass fills in more pixels of the same rows. */
  for (int pass = 0; pass < passes; pass++)
    for (uint64_t y = 0; y < h; y++) png_read_row(png, img->rgb + y * w * 3, NULL);
  png_read_end(png, NULL);
  png_destroy_read_struct(&png, &info, NULL);
  img->w = (int)w;
  img->h = (int)h;
  return BH_OK;
}

/* ---------------------------------------------------------------- reading */

static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

int bh_image_decode(const uint8_t *data, size_t len, const char *name, bh_image *img) {
  img->w = img->h = 0;
  if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
    return decode_jpeg(data, len, name, img);
  if (len >= 8 && memcmp(data, png_magic, 8) == 0) return decode_png(data, len, name, img);
  return bh_error(BH_EFORMAT, "%s: not a JPEG or PNG file", name);
}

int bh_image_read(const char *path, bh_image *img) {
  img->w = img->h = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return bh_error(BH_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  int st = BH_OK;
  if (fstat(fileno(f), &sb) != 0)
    st = bh_error(BH_EIO, "%s: cannot stat: %s", path, strerror(errno));
  else if (!S_ISREG(sb.st_mode))
    st = bh_error(BH_EIO, "%s: not a regular file", path);
  else if ((uint64_t)sb.st_size > MAX_FILE_BYTES)
    st = bh_error(BH_EFORMAT, "%s: %lld bytes is too large for an image file", path,
                  (long long)sb.st_size);
  size_t len = st ? 0 : (size_t)sb.st_size;
  if (!st) st = buffer_reserve(&img->file, &img->file_cap, len ? len : 1, path);
  if (!st && fread(img->file, 1, len, f) != len)
    st = bh_error(BH_EIO, "%s: read failed: %s", path, ferror(f) ? strerror(errno) : "file shrank");
  fclose(f);
  return st ? st : bh_image_decode(img->file, len, path, img);
}

/* ---------------------------------------------------------------- writing */

int bh_png_write(const char *path, const uint8_t *pix, int w, int h, int channels) {
  if (!path || !pix || (channels != 1 && channels != 3))
    return bh_error(BH_EINVAL, "%s: PNG write: need pixels and 1 or 3 channels", path ? path : "?");
  int st = check_dims(path, "PNG", w > 0 ? (uint64_t)w : 0, h > 0 ? (uint64_t)h : 0);
  if (st) return st;
  bh_atomic_file af;
  if ((st = bh_atomic_open(&af, path))) return st;
  png_ctx ctx = {0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_fail, png_quiet);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    bh_atomic_abort(&af);
    return bh_error(BH_ENOMEM, "%s: out of memory", path);
  }
  if (setjmp(ctx.jump)) {
    png_destroy_write_struct(&png, &info);
    bh_atomic_abort(&af);
    return bh_error(BH_EIO, "%s: PNG write failed: %s", path, ctx.msg);
  }
  png_init_io(png, af.f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
               channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; y++) png_write_row(png, pix + (size_t)y * w * channels);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  return bh_atomic_commit(&af);
}

/* [0, 1] → 0..255, rounding to nearest; NaN and negatives → 0. */
static inline uint8_t level8(float v) {
  if (!(v > 0.0f)) return 0;
  if (v >= 1.0f) return 255;
  return (uint8_t)(v * 255.0f + 0.5f);
}

/* Image i of the grid (c×h×w floats) into its cell of the interleaved W-wide canvas. */
static void grid_put(uint8_t *canvas, int W, const float *im, int c, int h, int w, int x0,
                     int y0) {
  size_t plane = (size_t)h * w;
  for (int y = 0; y < h; y++) {
    uint8_t *dst = canvas + ((size_t)(y0 + y) * W + x0) * c;
    for (int k = 0; k < c; k++) {
      const float *src = im + k * plane + (size_t)y * w;
      for (int x = 0; x < w; x++) dst[(size_t)x * c + k] = level8(src[x]);
    }
  }
}

int bh_png_write_grid(const char *path, const float *images, int n, int c, int h, int w,
                      int cols) {
  const char *p = path ? path : "?";
  if (!path || !images || n < 1 || (c != 1 && c != 3) || h < 1 || w < 1 || cols < 1)
    return bh_error(BH_EINVAL,
                    "%s: PNG grid: need n ≥ 1 images of 1 or 3 channels, h, w, cols ≥ 1 "
                    "(got n=%d c=%d h=%d w=%d cols=%d)", p, n, c, h, w, cols);
  if (cols > n) cols = n;
  int rows = (n + cols - 1) / cols;
  uint64_t W = (uint64_t)cols * w + (uint64_t)(cols - 1) * BH_GRID_SEP;
  uint64_t H = (uint64_t)rows * h + (uint64_t)(rows - 1) * BH_GRID_SEP;
  int st = check_dims(path, "PNG grid", W, H);
  if (st) return st;
  uint8_t *canvas = malloc(W * H * c);
  if (!canvas) return bh_error(BH_ENOMEM, "%s: out of memory for a %llu×%llu grid", path,
                               (unsigned long long)W, (unsigned long long)H);
  memset(canvas, BH_GRID_SEP_LEVEL, W * H * c);
  for (int i = 0; i < n; i++)
    grid_put(canvas, (int)W, images + (size_t)i * c * h * w, c, h, w,
             (i % cols) * (w + BH_GRID_SEP), (i / cols) * (h + BH_GRID_SEP));
  st = bh_png_write(path, canvas, (int)W, (int)H, c);
  free(canvas);
  return st;
}
