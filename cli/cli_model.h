/* cli_model.h — helpers of the commands that run a trained model on a dataset (train, encode,
 * eval, traverse, metric --checkpoint).  Each prints its own one-line message and returns a
 * BH_EXIT_* status. */
#ifndef BH_CLI_MODEL_H
#define BH_CLI_MODEL_H

#include <gsl/gsl_rng.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/commands.h"
#include "core/npy.h"
#include "datasets/dataset.h"
#include "metrics/metric.h"
#include "models/labels.h"
#include "models/model.h"

/* cmd_encode.c: open dataset `spec` (NULL: the model's "data" key) for split; with a model,
 * its images must have the shape the model was made for. */
int bh_cli_model_data(const char *cmd, const bh_model *m, const char *spec, bh_split split,
                      bh_dataset **out);
/* cmd_scatter.c: the test split of dataset spec (NULL: the model's) when the source has one
 * (MNIST, CelebA), else every example (dSprites); *split says which was opened. */
int bh_cli_model_test_data(const char *cmd, const bh_model *m, const char *spec,
                           bh_dataset **out, bh_split *split);
/* Encoder means (and log-variances when logvar is non-NULL) of n examples idx (NULL: 0..n-1). */
int bh_cli_model_encode(bh_model *m, bh_dataset *ds, const size_t *idx, size_t n, float *mu,
                        float *logvar);
/* 1 when the model's encoder is Gaussian (it returns log-variances). */
int bh_cli_model_gaussian(bh_model *m);
/* --threads T: OpenBLAS and the thread pool. */
int bh_cli_threads(const char *cmd, const char *text);
/* Options plus one run folder or --checkpoint FILE into *path. */
int bh_cli_parse_run(const char *cmd, int argc, char **argv, const bh_cli_opt *opts,
                     const char **path);

/* cmd_traverse.c: the model's latent blocks (class->blocks, else one unit each) into sizes
 * (z_dim entries); the count, or -1 (line printed) when they do not cover z_dim. */
int bh_cli_model_blocks(const bh_model *m, int *sizes);
/* cmd_eval.c: count distinct examples of 0..n-1 into out: a selection sample from g (in
 * ascending order), then shuffled by g. */
void bh_cli_draw_shuffled(size_t n, size_t count, gsl_rng *g, size_t *out);
/* cmd_eval.c: entry `entry` of label spec t for examples idx[0..n-1] of ds into y, from their
 * factors, labels or attributes; an example without a value is a failure naming `what` (the
 * option that gave the spec) and the example. */
int bh_cli_label_values(const bh_label_spec *t, int entry, bh_dataset *ds, const size_t *idx,
                        size_t n, const char *what, int *y);

/* cmd_scatter.c: the files of the figure commands (scatter, attr-traverse).  Each writes
 * through FILE.tmp and a rename (core/npy.h's atomic files) and prints its own line. */
/* prefix + suffix into buf (cap bytes); a failure naming prefix when too long. */
int bh_cli_out_path(char *buf, size_t cap, const char *prefix, const char *suffix);
/* Commit an atomic file written with fprintf (a write error shows in ferror: aborted). */
int bh_cli_atomic_finish(bh_atomic_file *af, const char *path);
/* o as indented JSON (keys in order, 17 digits) plus a newline at path. */
int bh_cli_write_json(const char *path, const json_t *o);
/* s as a single-quoted gnuplot string ('' inside). */
void bh_cli_gp_quote(FILE *f, const char *s);
/* PREFIX.gp run by gnuplot into PREFIX-gnuplot.png (through .tmp), when gnuplot is on PATH;
 * a failure is a warning line (the command's own PREFIX.png does not need gnuplot). */
void bh_cli_run_gnuplot(const char *prefix);
/* Ten distinct colours (matplotlib's tab10), for classes or curves, cycled beyond ten. */
extern const uint8_t bh_cli_palette[10][3];
/* An RGB picture drawn pixel by pixel, for the PNGs made without gnuplot. */
typedef struct bh_cli_canvas {
  int w, h;
  uint8_t *px; /* RGB */
} bh_cli_canvas;
/* w × h white pixels; a failure naming path when out of memory. */
int bh_cli_canvas_init(bh_cli_canvas *cv, int w, int h, const char *path);
/* Pixel (x, y) (y down) set to rgb; outside the canvas: nothing. */
void bh_cli_canvas_put(bh_cli_canvas *cv, int x, int y, const uint8_t *rgb);
/* The canvas as an RGB PNG at path, then freed (also on failure). */
int bh_cli_canvas_write(bh_cli_canvas *cv, const char *path);

/* cmd_metric.c: metric `name` of model m on dataset spec with the protocol's defaults; variant
 * NULL, or "continuous" (sap), "multinomial" (zdiff), "mlp" (probe).  split[4] (by bh_split)
 * keeps the splits opened for the next call; the caller frees them. */
int bh_cli_metric_model(const char *cmd, bh_model *m, const char *spec, bh_dataset **split,
                        const char *name, const char *variant, unsigned long long seed,
                        bh_metric_result *r);
/* Sample sizes of the drawn metrics, 0 for the protocol's default: n_train / n_eval codes of
 * mig, sap and dci (10000 / 5000), sampler_train / sampler_eval points of zdiff and factorvae
 * (10000 / 5000, each from a batch of 64 images).  bench's quick profiles cut them. */
typedef struct bh_cli_metric_sizes {
  long n_train, n_eval, sampler_train, sampler_eval;
} bh_cli_metric_sizes;
int bh_cli_metric_model_sized(const char *cmd, bh_model *m, const char *spec,
                              bh_dataset **split, const char *name, const char *variant,
                              unsigned long long seed, const bh_cli_metric_sizes *sizes,
                              bh_metric_result *r);
/* bh_versions_json() plus liblinear's version. */
json_t *bh_cli_versions_json(void);

#endif
