/* celeba.h — CelebA (aligned and cropped faces) with its 40 binary attributes.
 *
 * A CelebA folder holds
 *   img_align_celeba/NNNNNN.jpg   202,599 aligned faces, 178 wide × 218 tall (a PNG copy under
 *                                 the same stem, NNNNNN.png, is accepted in place of a .jpg);
 *   list_attr_celeba.txt          line 1: the image count; line 2: the 40 attribute names; then
 *                                 one line per image: its file name and 40 values, each 1 or -1;
 *   list_eval_partition.txt       one line per image: its file name and 0 (train), 1 (valid) or
 *                                 2 (test) — the official split (162,770 / 19,867 / 19,962).
 * Examples are in the order of list_attr_celeba.txt.  BH_SPLIT_ALL is every listed image; it
 * reads the partition file when there is one (and checks it), the other splits require it.
 *
 * Both text files are checked whole when the set is opened: the declared count against the
 * records, exactly 40 names and 40 values of 1 or -1 per record, file names that are plain
 * names (no '/'), no name listed twice, every partition entry naming a listed image and every
 * listed image having exactly one partition entry, and every image of the split present in
 * img_align_celeba/.  Any violation is one message "FILE:LINE: problem".
 *
 * Images are decoded on demand, one batch at a time (datasets/image_io.h: libjpeg / libpng; the
 * format is told by content), then preprocessed as the Guided-VAE and 1Konny code does: the
 * centred square crop (178×178 out of 178×218: rows 20..197, floor((h − side)/2) from the top)
 * is reduced to 64×64 by area averaging — output pixel (i, j) is the mean of the source square
 * [j·s, (j+1)·s) × [i·s, (i+1)·s) with s = side/64, partly covered pixels weighted by the area
 * covered — giving c = 3 channel-major floats in [0, 1].  Any other image size gets the same
 * treatment (centred square of side min(w, h)).  Attributes are 1 for +1 and 0 for -1.
 *
 * A dataset object decodes through one scratch buffer: use it from one thread at a time.
 */
#ifndef BH_CELEBA_H
#define BH_CELEBA_H

#include "datasets/dataset.h"

#define BH_CELEBA_NATTRS 40
#define BH_CELEBA_SIDE 64 /* output images are 3 × 64 × 64 */
#define BH_CELEBA_IMAGE_DIR "img_align_celeba"
#define BH_CELEBA_ATTR_FILE "list_attr_celeba.txt"
#define BH_CELEBA_PARTITION_FILE "list_eval_partition.txt"

/* The CelebA folder `dir`, one split; NULL with a message naming the file (and line) on failure.
 * An empty split is an error. */
bh_dataset *bh_celeba_open(const char *dir, bh_split split);

#endif
