/* fuzz_seeds.c — writes a small corpus of valid inputs for each fuzz target into DIR/<target>/
 * (run by fuzz/run.sh; the files are made with the package's own writers and with libjpeg and
 * libpng directly, so every seed is a file the readers accept).
 *
 * Usage: fuzz-seeds DIR   (DIR/npy, DIR/npz, DIR/idx, DIR/celeba, DIR/jpeg, DIR/png) */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "core/error.h"
#include "core/npy.h"
#include "core/npz.h"
#include "datasets/idx.h"

static const char *root;

static void die(const char *what) {
  fprintf(stderr, "fuzz-seeds: %s: %s\n", what, *bh_error_message() ? bh_error_message()
                                                                       : strerror(errno));
  exit(1);
}

/* DIR/<target>/<name>, the folder created on the way. */
static const char *seed_path(const char *target, const char *name) {
  static char p[1024];
  snprintf(p, sizeof p, "%s/%s", root, target);
  if (mkdir(p, 0755) != 0 && errno != EEXIST) die(p);
  snprintf(p, sizeof p, "%s/%s/%s", root, target, name);
  return p;
}

static void write_bytes(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) die(path);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) die(path);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*n + 1);
  if (!b || fread(b, 1, *n, f) != *n) die(path);
  fclose(f);
  return b;
}

/* ---------------------------------------------------------------- npy, npz */

static bh_array *pattern(int dtype, int ndim, const int64_t *shape) {
  bh_array *a = bh_array_alloc(dtype, ndim, shape);
  if (!a) die("bh_array_alloc");
  unsigned char *b = a->data;
  for (size_t i = 0; i < bh_array_bytes(a); i++)
    b[i] = dtype == BH_DTYPE_BOOL ? (unsigned char)(i & 1) : (unsigned char)(i * 37 + 11);
  return a;
}

static void seeds_npy(void) {
  static const struct {
    int dtype, ndim, version;
    int64_t shape[3];
    const char *name;
  } s[] = {{BH_DTYPE_F32, 2, 1, {2, 3, 0}, "f4-2x3.npy"},
           {BH_DTYPE_U8, 3, 1, {2, 4, 4}, "u1-2x4x4.npy"},
           {BH_DTYPE_I64, 1, 2, {5, 0, 0}, "i8-5-v2.npy"},
           {BH_DTYPE_F64, 0, 1, {0, 0, 0}, "f8-scalar.npy"},
           {BH_DTYPE_BOOL, 1, 1, {7, 0, 0}, "b1-7.npy"},
           {BH_DTYPE_I32, 2, 1, {0, 3, 0}, "i4-0x3.npy"}};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    bh_array *a = pattern(s[i].dtype, s[i].ndim, s[i].shape);
    if (bh_npy_write(seed_path("npy", s[i].name), a, s[i].version)) die(s[i].name);
    bh_array_free(a);
  }
}

static void seeds_npz(void) {
  static const struct {
    int flags;
    const char *name;
  } s[] = {{0, "stored.npz"},
           {BH_NPZ_DEFLATE, "deflated.npz"},
           {BH_NPZ_ZIP64, "stored-zip64.npz"},
           {BH_NPZ_DEFLATE | BH_NPZ_ZIP64, "deflated-zip64.npz"}};
  int64_t ishape[3] = {3, 4, 4}, lshape[2] = {3, 6};
  bh_array *imgs = pattern(BH_DTYPE_U8, 3, ishape), *lat = pattern(BH_DTYPE_I64, 2, lshape);
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    bh_npz_writer *w = bh_npz_writer_open(seed_path("npz", s[i].name), s[i].flags);
    if (!w || bh_npz_writer_add(w, "imgs", imgs) || bh_npz_writer_add(w, "latents_classes", lat) ||
        bh_npz_writer_add_raw(w, "metadata.npy", "\x93NUMPY", 6) || bh_npz_writer_close(w))
      die(s[i].name);
  }
  bh_array_free(imgs);
  bh_array_free(lat);
}

/* ---------------------------------------------------------------- idx */

/* The fuzz-idx layout: u32le length of the image file, the image file, the label file. */
static void seed_idx_pair(const char *name, const char *ext, size_t n, int rows, int cols) {
  char pi[1024], pl[1024];
  snprintf(pi, sizeof pi, "%s/idx-images%s", root, ext);
  snprintf(pl, sizeof pl, "%s/idx-labels%s", root, ext);
  uint8_t *pix = malloc(n * (size_t)rows * cols), *lab = malloc(n);
  for (size_t i = 0; i < n * (size_t)rows * cols; i++) pix[i] = (uint8_t)(i * 13);
  for (size_t i = 0; i < n; i++) lab[i] = (uint8_t)(i % 10);
  if (bh_idx_write_images(pi, pix, n, rows, cols) || bh_idx_write_labels(pl, lab, n)) die(name);
  size_t ni, nl;
  unsigned char *bi = read_bytes(pi, &ni), *bl = read_bytes(pl, &nl);
  unsigned char *out = malloc(4 + ni + nl);
  for (int k = 0; k < 4; k++) out[k] = (unsigned char)(ni >> (8 * k));
  memcpy(out + 4, bi, ni);
  memcpy(out + 4 + ni, bl, nl);
  write_bytes(seed_path("idx", name), out, 4 + ni + nl);
  unlink(pi);
  unlink(pl);
  free(pix), free(lab), free(bi), free(bl), free(out);
}

static void seeds_idx(void) {
  seed_idx_pair("plain-3x4x5", "", 3, 4, 5);
  seed_idx_pair("gzip-2x28x28", ".gz", 2, 28, 28);
  seed_idx_pair("plain-1x1x1", "", 1, 1, 1);
}

/* ---------------------------------------------------------------- CelebA text files */

/* The celeba target's layout: u32le length of the attribute file, the attribute file, the
 * partition file (the rest; none when empty). */
static void seed_text(const char *name, const char *attr, const char *part) {
  size_t na = strlen(attr), np = strlen(part);
  unsigned char *b = malloc(4 + na + np);
  for (int k = 0; k < 4; k++) b[k] = (unsigned char)(na >> (8 * k));
  memcpy(b + 4, attr, na);
  memcpy(b + 4 + na, part, np);
  write_bytes(seed_path("celeba", name), b, 4 + na + np);
  free(b);
}

static void seeds_celeba(void) {
  static const char *names[40] = {
      "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
      "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
      "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
      "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
      "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
      "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
      "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young"};
  char text[8192];
  size_t at = (size_t)snprintf(text, sizeof text, "3\n");
  for (int a = 0; a < 40; a++) at += (size_t)snprintf(text + at, sizeof text - at, "%s ", names[a]);
  at += (size_t)snprintf(text + at, sizeof text - at, "\n");
  for (int i = 0; i < 3; i++) {
    at += (size_t)snprintf(text + at, sizeof text - at, "%06d.jpg", i + 1);
    for (int a = 0; a < 40; a++)
      at += (size_t)snprintf(text + at, sizeof text - at, " %s", (i + a) % 3 ? "-1" : " 1");
    at += (size_t)snprintf(text + at, sizeof text - at, "\n");
  }
  seed_text("attr-partition.bin", text, "000001.jpg 0\n000002.jpg 1\n000003.jpg 2\n");
  seed_text("attr-only.bin", text, "");
  seed_text("attr-partition-crlf.bin", text, "000001.jpg 0\r\n000002.jpg 0\r\n000003.jpg 2\r\n");
}

/* ---------------------------------------------------------------- JPEG, PNG */

static void seed_jpeg(const char *name, int w, int h, int comps, int quality, int progressive) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr err;
  unsigned char *mem = NULL;
  unsigned long len = 0;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, &mem, &len);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = comps;
  c.in_color_space = comps == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  unsigned char *row = malloc((size_t)w * comps);
  while (c.next_scanline < c.image_height) {
    for (int x = 0; x < w * comps; x++) row[x] = (unsigned char)(x * 9 + c.next_scanline * 5);
    JSAMPROW r = row;
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  write_bytes(seed_path("jpeg", name), mem, len);
  free(mem);
  free(row);
}

static void seed_png(const char *name, int w, int h, int color, int depth, int interlace) {
  FILE *f = fopen(seed_path("png", name), "wb");
  if (!f) die(name);
  png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(p);
  if (setjmp(png_jmpbuf(p))) die(name);
  png_init_io(p, f);
  png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, depth, color, interlace,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (color == PNG_COLOR_TYPE_PALETTE) {
    png_color pal[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {255, 255, 255}};
    png_set_PLTE(p, info, pal, 4);
  }
  png_write_info(p, info);
  int ch = color == PNG_COLOR_TYPE_RGB ? 3 : color == PNG_COLOR_TYPE_RGBA ? 4
           : color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
  size_t rb = ((size_t)w * ch * depth + 7) / 8;
  unsigned char *row = malloc(rb);
  int passes = png_set_interlace_handling(p);
  for (int pass = 0; pass < passes; pass++)
    for (int y = 0; y < h; y++) {
      for (size_t x = 0; x < rb; x++) row[x] = (unsigned char)(x * 7 + (size_t)y * 3);
      if (color == PNG_COLOR_TYPE_PALETTE && depth == 8)
        for (size_t x = 0; x < rb; x++) row[x] &= 3;
      png_write_row(p, row);
    }
  png_write_end(p, info);
  png_destroy_write_struct(&p, &info);
  fclose(f);
  free(row);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz-seeds DIR\n");
    return 2;
  }
  root = argv[1];
  if (mkdir(root, 0755) != 0 && errno != EEXIST) die(root);
  seeds_npy();
  seeds_npz();
  seeds_idx();
  seeds_celeba();
  seed_jpeg("rgb-13x9.jpg", 13, 9, 3, 90, 0);
  seed_jpeg("gray-8x8.jpg", 8, 8, 1, 75, 0);
  seed_jpeg("rgb-progressive-20x24.jpg", 20, 24, 3, 80, 1);
  seed_png("rgb-5x4.png", 5, 4, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE);
  seed_png("gray-7x3.png", 7, 3, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE);
  seed_png("rgba16-4x4.png", 4, 4, PNG_COLOR_TYPE_RGBA, 16, PNG_INTERLACE_NONE);
  seed_png("palette-6x6.png", 6, 6, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE);
  seed_png("gray1-9x5-interlaced.png", 9, 5, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_ADAM7);
  return 0;
}
