/* cmd_traverse.c — `bhivae traverse`: a PNG grid of what a trained model's decoder makes of one
 * latent (or latent block) at a time.  Row b moves block b from -R to R in K steps (a block's
 * units together, along the diagonal) with every other latent fixed at the encoder mean of one
 * example; the first column shows the example itself. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_model.h"
#include "cli/commands.h"
#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/image_io.h"
#include "models/model.h"

#define CMD "traverse"
#define MAX_STEPS 64

static const char usage_text[] =
    "Usage: bhivae traverse DIR --out FILE.png [options]\n"
    "       bhivae traverse --checkpoint FILE --out FILE.png [options]\n"
    "\n"
    "A grid of decoded images (pixel probabilities) of the model trained in DIR\n"
    "(DIR/model.ckpt, or a checkpoint file): one row per latent, or per latent block for\n"
    "models with blocks (the block's units move together along the diagonal); column 1 is\n"
    "the example, columns 2..K+1 set the row's latent to K values evenly spaced from -R to R,\n"
    "every other latent at the example's encoder mean.\n"
    "\n"
    "Options:\n"
    "  --data NAME    the dataset of the example (default: the one the model was trained on)\n"
    "  --index I      the example (default 0)\n"
    "  --range R      the values run from -R to R (default 3)\n"
    "  --steps K      values per row (default 10, 2..64)\n"
    "\n"
    "The PNG is (K+1)*W + K*2 pixels wide and rows*H + (rows-1)*2 tall (2-pixel grey\n"
    "separators), written through FILE.png.tmp and a rename.\n";

typedef struct traverse_args {
  const char *path, *checkpoint, *data, *index_arg, *range_arg, *steps_arg, *out;
  int help;
  long index, steps;
  double range;
} traverse_args;

static int parse_values(traverse_args *a) {
  int st;
  a->steps = 10;
  a->range = 3.0;
  if (a->index_arg && (st = bh_cli_long(CMD, "index", a->index_arg, 0, 1L << 40, &a->index)))
    return st;
  if (a->steps_arg && (st = bh_cli_long(CMD, "steps", a->steps_arg, 2, MAX_STEPS, &a->steps)))
    return st;
  if (a->range_arg && (st = bh_cli_positive(CMD, "range", a->range_arg, 1e6, &a->range)))
    return st;
  return BH_EXIT_OK;
}

int bh_cli_model_blocks(const bh_model *m, int *sizes) {
  int nb = m->z_dim, sum = 0, bad = 0;
  if (m->cls->blocks) nb = m->cls->blocks(m, sizes);
  else
    for (int i = 0; i < nb; i++) sizes[i] = 1;
  for (int b = 0; b < nb && nb <= m->z_dim; b++) {
    bad |= sizes[b] < 1;
    sum += sizes[b];
  }
  if (bad || nb < 1 || nb > m->z_dim || sum != m->z_dim) {
    bh_cli_fail("model %s: its latent blocks do not cover its %d latents", m->cls->name,
                m->z_dim);
    return -1;
  }
  return nb;
}

/* Codes z (nb*K rows of z_dim): row b*K + k is base with block b set to -R + 2Rk/(K-1). */
static void traversal_codes(const float *base, int d, const int *sizes, int nb, int K, double R,
                            float *z) {
  for (int b = 0, u0 = 0; b < nb; u0 += sizes[b++])
    for (int k = 0; k < K; k++) {
      float *row = z + ((size_t)b * K + (size_t)k) * (size_t)d;
      memcpy(row, base, (size_t)d * sizeof *row);
      for (int u = u0; u < u0 + sizes[b]; u++)
        row[u] = (float)(-R + 2.0 * R * (double)k / (double)(K - 1));
    }
}

/* The grid: per row the example, then the row's K decoded images. */
static int write_grid(const traverse_args *a, const bh_dataset *ds, const float *x,
                      const float *dec, int nb) {
  int K = (int)a->steps, cols = K + 1;
  size_t D = bh_dataset_image_size(ds);
  float *grid = malloc((size_t)nb * (size_t)cols * D * sizeof *grid);
  if (!grid) return bh_cli_fail("%s: out of memory for the grid", a->out);
  for (int b = 0; b < nb; b++) {
    float *row = grid + (size_t)b * (size_t)cols * D;
    memcpy(row, x, D * sizeof *row);
    memcpy(row + D, dec + (size_t)b * (size_t)K * D, (size_t)K * D * sizeof *row);
  }
  int st = bh_png_write_grid(a->out, grid, nb * cols, ds->c, ds->h, ds->w, cols) == BH_OK
               ? BH_EXIT_OK
               : bh_cli_fail_lib();
  free(grid);
  return st;
}

static int run_traverse(const traverse_args *a, bh_model *m) {
  bh_dataset *ds;
  int st = bh_cli_model_data(CMD, m, a->data, BH_SPLIT_ALL, &ds);
  if (st) return st;
  int d = m->z_dim, K = (int)a->steps;
  int *sizes = malloc((size_t)d * sizeof *sizes);
  size_t D = bh_dataset_image_size(ds), idx = (size_t)a->index;
  float *x = malloc(D * sizeof *x), *base = malloc((size_t)d * sizeof *base);
  float *z = malloc((size_t)d * (size_t)d * (size_t)K * sizeof *z);
  float *dec = malloc((size_t)d * (size_t)K * D * sizeof *dec);
  int nb = 0;
  if (!sizes || !x || !base || !z || !dec) st = bh_cli_fail("out of memory");
  else if (idx >= ds->n)
    st = bh_cli_usage(CMD, "--index: %zu out of range (the data has %zu examples)", idx, ds->n);
  else if ((nb = bh_cli_model_blocks(m, sizes)) < 0) st = BH_EXIT_FAIL;
  else if (bh_dataset_images(ds, &idx, 1, x) != BH_OK ||
           bh_model_encode_images(m, x, 1, base, NULL) != BH_OK)
    st = bh_cli_fail_lib();
  if (!st) {
    traversal_codes(base, d, sizes, nb, K, a->range, z);
    if (bh_model_decode_codes(m, z, (size_t)nb * (size_t)K, dec) != BH_OK) st = bh_cli_fail_lib();
  }
  if (!st) st = write_grid(a, ds, x, dec, nb);
  if (!st)
    printf("%s: %d %s x %d values from %g to %g, example %zu of %s (first column)\n", a->out, nb,
           m->cls->blocks ? "latent blocks" : "latents", K, -a->range, a->range, idx,
           a->data ? a->data : bh_config_str(m->cfg, "data"));
  free(sizes);
  free(x);
  free(base);
  free(z);
  free(dec);
  bh_dataset_free(ds);
  return st;
}

int bh_cmd_traverse(int argc, char **argv) {
  traverse_args a;
  memset(&a, 0, sizeof a);
  bh_cli_opt opts[] = {{"checkpoint", &a.checkpoint, NULL}, {"data", &a.data, NULL},
                       {"index", &a.index_arg, NULL},       {"range", &a.range_arg, NULL},
                       {"steps", &a.steps_arg, NULL},       {"out", &a.out, NULL},
                       {"help", NULL, &a.help},             {NULL, NULL, NULL}};
  int st = bh_cli_parse_run(CMD, argc, argv, opts, &a.path);
  if (st) return st;
  if (a.help) return fputs(usage_text, stdout), BH_EXIT_OK;
  if (!a.out) return bh_cli_usage(CMD, "--out: missing (the PNG file to write)");
  if ((st = parse_values(&a))) return st;
  bh_model *m = bh_model_load_path(a.path, NULL);
  if (!m) return bh_cli_fail_lib();
  st = run_traverse(&a, m);
  bh_model_free(m);
  return st;
}
