/* image_io.h — JPEG and PNG in, PNG out, as 8-bit pixels.
 *
 * Reading: any JPEG (libjpeg) or PNG (libpng) becomes 8-bit interleaved RGB, whatever it holds:
 * grey is expanded to three equal channels, a palette is expanded, alpha is dropped (not
 * composited), 16-bit samples keep their high byte.  The format is told by the file's first
 * bytes, not its name.  Both decoders run under setjmp-based error handlers, so a truncated or
 * corrupt file is an error naming the file, never an exit() or a crash.  JPEG warnings (premature
 * end of data, corrupt entropy data) count as errors too: libjpeg would otherwise fill the
 * missing part with grey and carry on.  Sizes are checked right after the header, before any
 * pixel memory is allocated: at most BH_IMAGE_MAX_SIDE pixels a side and BH_IMAGE_MAX_PIXELS in
 * all.
 *
 * A bh_image owns its buffers and keeps them from one read to the next, so a loop that decodes
 * a batch of equally sized images allocates only once.
 *
 * Writing: 8-bit grey or RGB PNG through path.tmp and a rename (core/npy.h's atomic file), and
 * a grid of float images for `bhivae data grid` and the traversal figures.
 */
#ifndef BH_IMAGE_IO_H
#define BH_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

#define BH_IMAGE_MAX_SIDE 16384
#define BH_IMAGE_MAX_PIXELS ((uint64_t)1 << 28)

typedef struct bh_image {
  int w, h;        /* size of the last image decoded */
  uint8_t *rgb;    /* h rows of w pixels, 3 bytes (R, G, B) each */
  size_t rgb_cap;  /* bytes allocated at rgb */
  uint8_t *file;   /* the encoded bytes of the last file read (bh_image_read) */
  size_t file_cap; /* bytes allocated at file */
} bh_image;

#define BH_IMAGE_INIT {0, 0, NULL, 0, NULL, 0}

/* Free the buffers; the image is empty (BH_IMAGE_INIT) afterwards and can be reused. */
void bh_image_release(bh_image *img);

/* Decode a whole JPEG or PNG file held in memory (len bytes); `name` is used in messages.
 * BH_OK, or BH_EFORMAT (not a JPEG or PNG, corrupt, truncated, too large) / BH_ENOMEM with a
 * message naming `name`.  On failure img->w and img->h are 0. */
int bh_image_decode(const uint8_t *data, size_t len, const char *name, bh_image *img);

/* Read the file at path and decode it as above; BH_EIO when it cannot be read. */
int bh_image_read(const char *path, bh_image *img);

/* Write w×h pixels of `channels` bytes each (1: grey, 3: RGB), rows packed, as an 8-bit PNG at
 * path (through path.tmp).  BH_OK or an error naming the file. */
int bh_png_write(const char *path, const uint8_t *pix, int w, int h, int channels);

/* Separator between grid cells, in pixels, and its grey level (also fills unused cells): a
 * mid grey stands out against both the black backgrounds of dSprites/MNIST and white. */
#define BH_GRID_SEP 2
#define BH_GRID_SEP_LEVEL 128

/* n images of c×h×w floats (channel-major; c = 1 grey or 3 RGB), values in [0, 1] (clamped;
 * NaN becomes 0), laid out left to right, top to bottom in `cols` columns (rows = ceil(n/cols)),
 * with BH_GRID_SEP pixels between cells and no outer border: the PNG is
 * cols·w + (cols−1)·SEP wide and rows·h + (rows−1)·SEP tall.  A level v becomes
 * round(255·v). */
int bh_png_write_grid(const char *path, const float *images, int n, int c, int h, int w,
                      int cols);

#endif
