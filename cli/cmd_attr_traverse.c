/* cmd_attr_traverse.c — `bhivae attr-traverse`: the paper's Fig. 7.  Per label i (i = 1..L) a
 * logistic regression ("an attribute classifier of the representation") is fitted on the
 * encoder means of N images; then for N other images every unit of latent block i is set to
 * t (the diagonal y = x of a 2-unit block), t on K points from -R to R, the code is decoded,
 * the picture re-encoded, and classifier i applied to the re-encoded code.  Re-encoding is the
 * point: the classifier judges the picture the traversal made; applied to the written code it
 * would only show its own decision boundary.  The curve of block i is the mean over the images
 * (P(label = 1) for a binary label, the predicted class / (K_i - 1) otherwise) with its
 * standard error: a block that controls its attribute shows a threshold.
 *
 * Outputs (each through a .tmp name and a rename; on a failure the ones already written are
 * removed): PREFIX.dat, PREFIX.gp, PREFIX.png (drawn here, no gnuplot needed), PREFIX.json,
 * and PREFIX-gnuplot.png when gnuplot is on PATH. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_model.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"
#include "datasets/dataset.h"
#include "metrics/metrics.h"
#include "models/labels.h"
#include "models/model.h"

#define CMD "attr-traverse"
#define MAX_STEPS 64
#define PLOT_W 640 /* PREFIX.png */
#define PLOT_H 400
#define MARGIN 24

static const char usage_text[] =
    "Usage: bhivae attr-traverse DIR --out PREFIX [options]\n"
    "       bhivae attr-traverse --checkpoint FILE --out PREFIX [options]\n"
    "\n"
    "The paper's Fig. 7: per label i (i = 1..L) a logistic regression on the encoder means of\n"
    "N images (the train split, or a seeded draw where the data has no split) predicts label i;\n"
    "its accuracy is measured on N other images (the test split, or the rest of the draw).\n"
    "For those N images, every unit of latent block i is set to t (the diagonal of the block),\n"
    "t on K points from -R to R; the code is decoded, the picture re-encoded and classifier i\n"
    "applied to the re-encoded code, so it judges the picture the traversal made.  Curve i:\n"
    "the mean over the images of P(label = 1) (binary labels) or of the predicted class\n"
    "divided by K_i - 1 (labels with K_i > 2 classes), with its standard error.  Blocks are\n"
    "the model's latent blocks (BHiVAE: s^1, s^2, s^3, ...), else one per latent unit; label\n"
    "i goes with block i.\n"
    "\n"
    "Writes (each through FILE.tmp and a rename; nothing is left when a write fails):\n"
    "  PREFIX.dat          t, then per block the mean and its standard error; a header\n"
    "                      naming the blocks, labels and the classifiers' accuracies\n"
    "  PREFIX.gp           a gnuplot script drawing PREFIX.dat into PREFIX-gnuplot.png (or\n"
    "                      the file named by gnuplot -e \"outfile='...'\")\n"
    "  PREFIX.png          the curves drawn without gnuplot: y from 0 to 1 (grey lines at\n"
    "                      0, .25, .5, .75, 1), t from -R to R (a grey line at 0), block i\n"
    "                      in colour i of tab10 (blue, orange, green, red, ...), the band\n"
    "                      one standard error\n"
    "  PREFIX.json         model, checkpoint, step, seed, n, steps, range, labels, per block\n"
    "                      the classifier (accuracies; weights w, b scoring raw encoder means)\n"
    "                      and the curve; the test images' indices; threads and versions\n"
    "  PREFIX-gnuplot.png  PREFIX.gp run by gnuplot, when gnuplot is on PATH\n"
    "\n"
    "Options:\n"
    "  --labels SPEC  one label per block, first block first (models/labels.h): e.g.\n"
    "                 factors:0=2,1,2 (dSprites: shape is heart, scale, orientation) or\n"
    "                 attrs:8,4,20 (CelebA); default: the model's key 'attributes'\n"
    "                 (bhivae-sup, guidedvae-sup) when it names the labels\n"
    "  --n N          images for the classifiers and for the curves (default 1000, at most\n"
    "                 the split's size, half the data without a split)\n"
    "  --steps K      points of t (default 13, 2..64)\n"
    "  --range R      t from -R to R (default 3)\n"
    "  --seed S       the draw of the images (default 0)\n"
    "  --threads T    threads for the networks (default: the cores)\n";

typedef struct at_args {
  const char *path, *checkpoint, *out, *labels_arg, *n_arg, *steps_arg, *range_arg, *seed_arg;
  const char *threads;
  int help;
  long n, steps;
  double range;
  unsigned long long seed;
} at_args;

/* The labels and the blocks they go with. */
typedef struct at_setup {
  bh_label_spec spec;
  const char *spec_from;    /* "--labels" or "attributes" (the model's key) */
  int nb, *sizes;           /* the model's blocks */
  int first[BH_LABEL_MAX];  /* first unit of block i, i < spec.n */
  char name[BH_LABEL_MAX][96]; /* label i in words: "shape=2", "Black_Hair", "label" */
} at_setup;

/* The images: the classifiers' (fit) and the curves' (test), their codes and labels. */
typedef struct at_sample {
  bh_dataset *fit_ds, *test_ds; /* the same pool when the data has no split */
  int split;                    /* 1: train and test splits */
  size_t n, *fit_idx, *test_idx;
  float *fit_z, *test_z;        /* n × z_dim encoder means */
  int *fit_y, *test_y;          /* per label: n values */
} at_sample;

/* Per label: the classifier and its curve over the K values of t. */
typedef struct at_result {
  bh_linmodel lm[BH_LABEL_MAX];
  double acc_fit[BH_LABEL_MAX], acc_test[BH_LABEL_MAX];
  double *t, *mean, *se; /* K; L × K; L × K */
} at_result;

/* ---------------------------------------------------------------- options */

static int parse_values(at_args *a) {
  int st;
  a->n = 1000;
  a->steps = 13;
  a->range = 3.0;
  if (!a->out) return bh_cli_usage(CMD, "--out: missing (the prefix of the files to write)");
  if (a->n_arg && (st = bh_cli_long(CMD, "n", a->n_arg, 1, 1L << 40, &a->n))) return st;
  if (a->steps_arg && (st = bh_cli_long(CMD, "steps", a->steps_arg, 2, MAX_STEPS, &a->steps)))
    return st;
  if (a->range_arg && (st = bh_cli_positive(CMD, "range", a->range_arg, 1e6, &a->range)))
    return st;
  if (a->seed_arg && (st = bh_cli_u64(CMD, "seed", a->seed_arg, &a->seed))) return st;
  if (a->threads && (st = bh_cli_threads(CMD, a->threads))) return st;
  return BH_EXIT_OK;
}

/* PREFIX's folder exists and is writable, and PREFIX.dat is not a folder: checked before the
 * work, so a bad --out costs nothing and leaves nothing. */
static int check_prefix(const char *prefix) {
  char dir[4096], dat[4096];
  struct stat sb;
  int st = bh_cli_out_path(dat, sizeof dat, prefix, ".dat");
  if (st) return st;
  const char *slash = strrchr(prefix, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else snprintf(dir, sizeof dir, "%.*s", slash == prefix ? 1 : (int)(slash - prefix), prefix);
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return bh_cli_fail("%s: cannot write: %s is not a folder", dat, dir);
  if (access(dir, W_OK) != 0)
    return bh_cli_fail("%s: cannot write in %s (%s)", dat, dir, strerror(errno));
  if (stat(dat, &sb) == 0 && S_ISDIR(sb.st_mode))
    return bh_cli_fail("%s: is a folder", dat);
  return BH_EXIT_OK;
}

/* Label i in words, from the data's factor and attribute names. */
static void label_name(const bh_label_spec *s, int i, const bh_dataset *ds, char *out,
                       size_t cap) {
  const char *base = "label";
  if (s->source == BH_LABEL_FACTORS && ds->factor_names[s->index[i]])
    base = ds->factor_names[s->index[i]];
  else if (s->source == BH_LABEL_ATTRS && ds->attr_names && ds->attr_names[s->index[i]])
    base = ds->attr_names[s->index[i]];
  if (s->eq[i] >= 0) snprintf(out, cap, "%s=%d", base, s->eq[i]);
  else snprintf(out, cap, "%s", base);
}

/* --labels, else the model's key 'attributes' when it names labels; one per block. */
static int choose_labels(const at_args *a, bh_model *m, at_setup *su) {
  const char *text = a->labels_arg;
  su->spec_from = "--labels";
  if (!text) {
    const char *key = bh_config_has(m->cfg, "attributes") ? bh_config_str(m->cfg, "attributes")
                                                          : NULL;
    if (!key || strcmp(key, "auto") == 0 || strcmp(key, "none") == 0)
      return bh_cli_usage(CMD, "--labels: missing, and model %s %s; give them, e.g. --labels "
                          "factors:0=2,1,2", m->cls->name,
                          key ? "has key 'attributes' without explicit labels"
                              : "stores no labels");
    text = key;
    su->spec_from = "attributes";
  }
  if (bh_label_spec_parse(&su->spec, text, NULL, &m->data, CMD, su->spec_from) != BH_OK)
    return bh_cli_usage(CMD, "%s", bh_error_message());
  if (!(su->sizes = malloc((size_t)m->z_dim * sizeof *su->sizes)))
    return bh_cli_fail("out of memory");
  if ((su->nb = bh_cli_model_blocks(m, su->sizes)) < 0) return BH_EXIT_FAIL;
  if (su->spec.n > su->nb)
    return bh_cli_usage(CMD, "%s: '%s' has %d labels but model %s has %d latent blocks (one "
                        "label per block)", su->spec_from, su->spec.text, su->spec.n,
                        m->cls->name, su->nb);
  for (int i = 0, u = 0; i < su->spec.n; u += su->sizes[i++]) su->first[i] = u;
  return BH_EXIT_OK;
}

/* ---------------------------------------------------------------- the images */

static void sample_free(at_sample *s) {
  if (s->fit_ds != s->test_ds) bh_dataset_free(s->fit_ds);
  bh_dataset_free(s->test_ds);
  free(s->fit_idx), free(s->test_idx), free(s->fit_z), free(s->test_z);
  free(s->fit_y), free(s->test_y);
  memset(s, 0, sizeof *s);
}

/* The splits (train for the classifiers, test for the curves) or, without a split, one pool;
 * n capped to what they hold. */
static int sample_open(const at_args *a, bh_model *m, at_sample *s) {
  bh_split split;
  int st = bh_cli_model_test_data(CMD, m, NULL, &s->test_ds, &split);
  if (st) return st;
  s->split = split == BH_SPLIT_TEST;
  s->fit_ds = s->test_ds;
  if (s->split && (st = bh_cli_model_data(CMD, m, NULL, BH_SPLIT_TRAIN, &s->fit_ds))) return st;
  size_t cap = s->split ? (s->fit_ds->n < s->test_ds->n ? s->fit_ds->n : s->test_ds->n)
                        : s->test_ds->n / 2;
  s->n = (size_t)a->n < cap ? (size_t)a->n : cap;
  if (s->n < 2) return bh_cli_fail("%s: too few examples (%zu) for two samples", s->test_ds->source,
                                   s->test_ds->n);
  return BH_EXIT_OK;
}

/* The seeded draw (stream "attr-traverse"): n of the train split then n of the test split, or
 * 2n distinct examples of the pool cut in two; their codes and labels. */
static int sample_fill(const at_args *a, bh_model *m, const at_setup *su, at_sample *s) {
  size_t n = s->n, d = (size_t)m->z_dim, L = (size_t)su->spec.n;
  bh_rng *rng = bh_rng_alloc(a->seed);
  gsl_rng *g = rng ? bh_rng_stream(rng, "attr-traverse") : NULL;
  s->fit_idx = malloc(2 * n * sizeof *s->fit_idx);
  s->test_idx = malloc(n * sizeof *s->test_idx);
  s->fit_z = malloc(n * d * sizeof *s->fit_z);
  s->test_z = malloc(n * d * sizeof *s->test_z);
  s->fit_y = malloc(n * L * sizeof *s->fit_y);
  s->test_y = malloc(n * L * sizeof *s->test_y);
  int st = BH_EXIT_OK;
  if (!g || !s->fit_idx || !s->test_idx || !s->fit_z || !s->test_z || !s->fit_y || !s->test_y)
    st = bh_cli_fail("out of memory for %zu images", 2 * n);
  else if (s->split) {
    bh_cli_draw_shuffled(s->fit_ds->n, n, g, s->fit_idx);
    bh_cli_draw_shuffled(s->test_ds->n, n, g, s->test_idx);
  } else {
    bh_cli_draw_shuffled(s->test_ds->n, 2 * n, g, s->fit_idx);
    memcpy(s->test_idx, s->fit_idx + n, n * sizeof *s->test_idx);
  }
  bh_rng_free(rng);
  for (size_t i = 0; !st && i < L; i++)
    if (!(st = bh_cli_label_values(&su->spec, (int)i, s->fit_ds, s->fit_idx, n, su->spec_from,
                                   s->fit_y + i * n)))
      st = bh_cli_label_values(&su->spec, (int)i, s->test_ds, s->test_idx, n, su->spec_from,
                               s->test_y + i * n);
  if (!st && (bh_cli_model_encode(m, s->fit_ds, s->fit_idx, n, s->fit_z, NULL) != BH_OK ||
              bh_cli_model_encode(m, s->test_ds, s->test_idx, n, s->test_z, NULL) != BH_OK))
    st = bh_cli_fail_lib();
  return st;
}

/* ---------------------------------------------------------------- the classifiers, the curves */

static void result_free(at_result *r, int L) {
  for (int i = 0; i < L; i++) bh_linmodel_free(&r->lm[i]);
  free(r->t), free(r->mean), free(r->se);
}

/* Classifier i: the probe's logistic regression on the fit codes; accuracies on both. */
static int fit_classifiers(bh_model *m, const at_setup *su, const at_sample *s, at_result *r) {
  for (int i = 0; i < su->spec.n; i++) {
    bh_codes c = {s->n, m->z_dim, s->fit_z};
    const int *y = s->fit_y + (size_t)i * s->n;
    if (bh_metric_probe_fit(&c, y, su->spec.k[i], &r->lm[i]) != BH_OK) return bh_cli_fail_lib();
    r->acc_fit[i] = bh_linmodel_accuracy(&r->lm[i], s->fit_z, s->n, y);
    r->acc_test[i] = bh_linmodel_accuracy(&r->lm[i], s->test_z, s->n, s->test_y + (size_t)i * s->n);
  }
  return BH_EXIT_OK;
}

/* What classifier lm says of codes z (n rows) per image: P(class 1) for two classes, the
 * predicted class / (K - 1) otherwise; mean and standard error over the images. */
static void judge(const bh_linmodel *lm, const float *z, size_t n, double *p, int *pred,
                  double *mean, double *se) {
  int K = lm->nclasses;
  double sum = 0.0, ss = 0.0;
  if (K == 2) bh_linmodel_proba(lm, z, n, p);
  else bh_linmodel_predict(lm, z, n, pred);
  for (size_t i = 0; i < n; i++) {
    double v = K == 2 ? p[2 * i + 1] : (double)pred[i] / (double)(K - 1);
    sum += v;
    p[i] = v; /* the values, over the probabilities already read */
  }
  *mean = sum / (double)n;
  for (size_t i = 0; i < n; i++) ss += (p[i] - *mean) * (p[i] - *mean);
  *se = n > 1 ? sqrt(ss / (double)(n - 1) / (double)n) : 0.0;
}

/* Block i at t for every test image, decoded, re-encoded, judged by classifier i. */
static int traverse(bh_model *m, const at_args *a, const at_setup *su, const at_sample *s,
                    at_result *r) {
  int K = (int)a->steps, L = su->spec.n, d = m->z_dim;
  size_t n = s->n, D = (size_t)m->data.c * (size_t)m->data.h * (size_t)m->data.w;
  float *z = malloc(n * (size_t)d * sizeof *z), *x = malloc(n * D * sizeof *x);
  double *p = malloc(2 * n * sizeof *p);
  int *pred = malloc(n * sizeof *pred), st = BH_EXIT_OK;
  r->t = malloc((size_t)K * sizeof *r->t);
  r->mean = malloc((size_t)L * (size_t)K * sizeof *r->mean);
  r->se = malloc((size_t)L * (size_t)K * sizeof *r->se);
  if (!z || !x || !p || !pred || !r->t || !r->mean || !r->se)
    st = bh_cli_fail("out of memory for %zu images", n);
  bh_cli_progress prog;
  bh_cli_progress_start(&prog, "bhivae: attr-traverse");
  for (int k = 0; !st && k < K; k++) r->t[k] = -a->range + 2.0 * a->range * k / (double)(K - 1);
  for (int i = 0; !st && i < L; i++)
    for (int k = 0; !st && k < K; k++) {
      memcpy(z, s->test_z, n * (size_t)d * sizeof *z);
      for (size_t e = 0; e < n; e++)
        for (int u = su->first[i]; u < su->first[i] + su->sizes[i]; u++)
          z[e * (size_t)d + (size_t)u] = (float)r->t[k];
      if (bh_model_decode_codes(m, z, n, x) != BH_OK ||
          bh_model_encode_images(m, x, n, z, NULL) != BH_OK)
        st = bh_cli_fail_lib();
      else
        judge(&r->lm[i], z, n, p, pred, &r->mean[i * K + k], &r->se[i * K + k]);
      bh_cli_progress_update((size_t)(i * K + k + 1), (size_t)(L * K), &prog);
    }
  bh_cli_progress_end(&prog);
  free(z), free(x), free(p), free(pred);
  return st;
}

/* ---------------------------------------------------------------- outputs */

/* What curve i shows, for headers, legends and the JSON, into out. */
static const char *y_meaning(const at_setup *su, int i, char *out, size_t cap) {
  if (su->spec.k[i] == 2) snprintf(out, cap, "P(label = 1)");
  else snprintf(out, cap, "mean predicted class / %d (K - 1)", su->spec.k[i] - 1);
  return out;
}

/* Label i as a spec of its own ("factors:0=2") into out. */
static void entry_spec(const bh_label_spec *s, int i, char *out, size_t cap) {
  const char *src = s->source == BH_LABEL_CLASSES ? "labels"
                    : s->source == BH_LABEL_ATTRS ? "attrs:" : "factors:";
  if (s->source == BH_LABEL_CLASSES) snprintf(out, cap, "%s", src);
  else if (s->eq[i] >= 0) snprintf(out, cap, "%s%d=%d", src, s->index[i], s->eq[i]);
  else snprintf(out, cap, "%s%d", src, s->index[i]);
}

static int write_dat(const char *path, const at_args *a, const bh_model *m, const at_setup *su,
                     const at_sample *s, const at_result *r) {
  bh_atomic_file af;
  char ck[4096];
  int K = (int)a->steps, L = su->spec.n;
  if (!bh_model_checkpoint_path(a->path, ck, sizeof ck)) snprintf(ck, sizeof ck, "%s", a->path);
  if (bh_atomic_open(&af, path) != BH_OK) return bh_cli_fail_lib();
  fprintf(af.f, "# bhivae attr-traverse: model %s (%s), labels %s, seed %llu, %zu images; every "
                "unit of block i set to t, decoded, re-encoded, classifier i applied\n",
          m->cls->name, ck, su->spec.text, a->seed, s->n);
  for (int i = 0; i < L; i++) {
    char e[64], y[64];
    entry_spec(&su->spec, i, e, sizeof e);
    fprintf(af.f, "# block %d (units %d-%d): label %s (%s, %d classes): %s; classifier accuracy "
                  "%.4f test, %.4f fit\n", i, su->first[i], su->first[i] + su->sizes[i] - 1, e,
            su->name[i], su->spec.k[i], y_meaning(su, i, y, sizeof y), r->acc_test[i],
            r->acc_fit[i]);
  }
  fprintf(af.f, "# t");
  for (int i = 0; i < L; i++) fprintf(af.f, " mean_%d stderr_%d", i, i);
  fputc('\n', af.f);
  for (int k = 0; k < K; k++) {
    fprintf(af.f, "%.17g", r->t[k]);
    for (int i = 0; i < L; i++) fprintf(af.f, " %.17g %.17g", r->mean[i * K + k], r->se[i * K + k]);
    fputc('\n', af.f);
  }
  return bh_cli_atomic_finish(&af, path);
}

static int write_gp(const char *path, const char *prefix, const at_args *a, const at_setup *su) {
  char dat[4096], png[4096];
  bh_atomic_file af;
  int st = bh_cli_out_path(dat, sizeof dat, prefix, ".dat");
  if (!st) st = bh_cli_out_path(png, sizeof png, prefix, "-gnuplot.png");
  if (st) return st;
  if (bh_atomic_open(&af, path) != BH_OK) return bh_cli_fail_lib();
  FILE *f = af.f;
  fprintf(f, "# bhivae attr-traverse: classifier i on the re-encoded traversal of block i\n"
             "# gnuplot %s.gp   (or: gnuplot -e \"outfile='other.png'\" %s.gp)\n",
          prefix, prefix);
  fputs("if (!exists(\"outfile\")) outfile = ", f);
  bh_cli_gp_quote(f, png);
  fprintf(f, "\nset terminal png size 800,560\nset output outfile\n"
             "set xrange [%.17g:%.17g]\nset yrange [-0.05:1.05]\nset grid\n"
             "set xlabel 't (every unit of the block)'\n"
             "set ylabel 'classifier on the re-encoded picture'\n"
             "set key below noenhanced\n",
          -a->range, a->range);
  for (int i = 0; i < su->spec.n; i++)
    fprintf(f, "set linetype %d lc rgb '#%02x%02x%02x'\n", i + 1, bh_cli_palette[i % 10][0],
            bh_cli_palette[i % 10][1], bh_cli_palette[i % 10][2]);
  fputs("plot ", f);
  for (int i = 0; i < su->spec.n; i++) {
    char title[256], y[64];
    snprintf(title, sizeof title, "block %d: %s, %s", i, su->name[i],
             y_meaning(su, i, y, sizeof y));
    if (i) fputs(", \\\n     ", f);
    bh_cli_gp_quote(f, dat);
    fprintf(f, " using 1:%d:%d with yerrorlines lt %d pt 7 title ", 2 * i + 2, 2 * i + 3, i + 1);
    bh_cli_gp_quote(f, title);
  }
  fputc('\n', f);
  return bh_cli_atomic_finish(&af, path);
}

/* ---- PREFIX.png */

static void line(bh_cli_canvas *cv, int x0, int y0, int x1, int y1, const uint8_t *rgb) {
  int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  for (int err = dx + dy;;) { /* Bresenham */
    bh_cli_canvas_put(cv, x0, y0, rgb);
    bh_cli_canvas_put(cv, x0, y0 + 1, rgb); /* two pixels thick */
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

/* Plot coordinates of (t, v): v = 0 at the bottom, 1 at the top of the plot area. */
static int px_x(double t, double R) {
  return MARGIN + (int)lrint((t + R) / (2.0 * R) * (PLOT_W - 2 * MARGIN - 1));
}
static int px_y(double v) {
  return PLOT_H - MARGIN - 1 - (int)lrint(fmin(fmax(v, -0.05), 1.05) * (PLOT_H - 2 * MARGIN - 1));
}

static int write_png(const char *path, const at_args *a, const at_setup *su, const at_result *r) {
  static const uint8_t grey[3] = {210, 210, 210}, black[3] = {0, 0, 0};
  bh_cli_canvas cv;
  int K = (int)a->steps, st = bh_cli_canvas_init(&cv, PLOT_W, PLOT_H, path);
  double R = a->range;
  if (st) return st;
  for (int q = 0; q <= 4; q++) /* grey lines at 0, .25, .5, .75, 1 and t = 0; ticks at each t */
    line(&cv, px_x(-R, R), px_y(q / 4.0), px_x(R, R), px_y(q / 4.0), grey);
  line(&cv, px_x(0, R), px_y(0), px_x(0, R), px_y(1), grey);
  for (int k = 0; k < K; k++)
    line(&cv, px_x(r->t[k], R), px_y(0), px_x(r->t[k], R), px_y(0) + 4, black);
  for (int i = 0; i < su->spec.n; i++) {
    const uint8_t *c = bh_cli_palette[i % 10];
    uint8_t pale[3]; /* the error bars: the colour two thirds of the way to white */
    for (int ch = 0; ch < 3; ch++) pale[ch] = (uint8_t)(c[ch] + (255 - c[ch]) * 2 / 3);
    const double *mu = r->mean + i * K, *se = r->se + i * K;
    for (int k = 0; k < K; k++) { /* the error bars, then the curve over them */
      int x = px_x(r->t[k], R);
      line(&cv, x, px_y(mu[k] - se[k]), x, px_y(mu[k] + se[k]), pale);
    }
    for (int k = 0; k + 1 < K; k++)
      line(&cv, px_x(r->t[k], R), px_y(mu[k]), px_x(r->t[k + 1], R), px_y(mu[k + 1]), c);
    for (int k = 0; k < K; k++)
      for (int dy = -2; dy <= 2; dy++)
        for (int dx = -2; dx <= 2; dx++)
          bh_cli_canvas_put(&cv, px_x(r->t[k], R) + dx, px_y(mu[k]) + dy, c);
  }
  for (int x = px_x(-R, R); x <= px_x(R, R); x++) /* the frame: y from -0.05 to 1.05 */
    bh_cli_canvas_put(&cv, x, px_y(-1), black), bh_cli_canvas_put(&cv, x, px_y(2), black);
  for (int y = px_y(2); y <= px_y(-1); y++)
    bh_cli_canvas_put(&cv, px_x(-R, R), y, black), bh_cli_canvas_put(&cv, px_x(R, R), y, black);
  return bh_cli_canvas_write(&cv, path);
}

/* ---- PREFIX.json */

static json_t *doubles_json(const double *v, int n) {
  json_t *o = json_array();
  for (int i = 0; i < n; i++)
    json_array_append_new(o, isfinite(v[i]) ? json_real(v[i]) : json_null());
  return o;
}

static json_t *classifier_json(const bh_linmodel *lm, double acc_fit, double acc_test) {
  json_t *w = json_array();
  for (int c = 0; c < lm->nclasses; c++)
    json_array_append_new(w, doubles_json(lm->w + (size_t)c * (size_t)lm->d, lm->d));
  return json_pack("{sf sf so so ss si sb}", "accuracy", acc_test, "fit_accuracy", acc_fit, "w", w,
                   "b", doubles_json(lm->b, lm->nclasses),
                   "scores", "w[c] . z + b[c] on raw encoder means z; b null: class never seen",
                   "iterations", lm->iterations, "converged", lm->converged);
}

static int write_json(const char *path, const at_args *a, const bh_model *m, const bh_ckpt *ck,
                      const at_setup *su, const at_sample *s, const at_result *r) {
  char ckpath[4096];
  int64_t step;
  int K = (int)a->steps;
  json_t *o = json_object(), *blocks = json_array(), *idx = json_array();
  json_object_set_new(o, "command", json_string(CMD));
  json_object_set_new(o, "model", json_string(m->cls->name));
  json_object_set_new(o, "data", json_string(bh_config_str(m->cfg, "data")));
  json_object_set_new(o, "checkpoint",
                      json_string(bh_model_checkpoint_path(a->path, ckpath, sizeof ckpath)
                                      ? ckpath : a->path));
  json_object_set_new(o, "step", bh_ckpt_find_i64(ck, "train.step", &step) == BH_OK
                                     ? json_integer((json_int_t)step) : json_null());
  bh_error_clear(); /* a checkpoint without a step is not an error */
  json_object_set_new(o, "seed", json_integer((json_int_t)a->seed));
  json_object_set_new(o, "n", json_integer((json_int_t)s->n));
  json_object_set_new(o, "steps", json_integer(K));
  json_object_set_new(o, "range", json_real(a->range));
  json_object_set_new(o, "labels", json_string(su->spec.text));
  json_object_set_new(o, "labels_from", json_string(su->spec_from));
  json_object_set_new(o, "sample", json_string(s->split ? "classifiers: train split; curves "
                                                          "and accuracy: test split"
                                                        : "seeded draw of 2n distinct examples: "
                                                          "classifiers the first n, curves "
                                                          "and accuracy the rest"));
  json_object_set_new(o, "t", doubles_json(r->t, K));
  for (int i = 0; i < su->spec.n; i++) {
    char e[64], y[64];
    entry_spec(&su->spec, i, e, sizeof e);
    json_t *units = json_array();
    for (int u = su->first[i]; u < su->first[i] + su->sizes[i]; u++)
      json_array_append_new(units, json_integer(u));
    json_array_append_new(
        blocks, json_pack("{si so ss ss si ss sf so so so}", "block", i, "units", units, "label", e,
                          "name", su->name[i], "classes", su->spec.k[i], "y",
                          y_meaning(su, i, y, sizeof y),
                          "accuracy", r->acc_test[i],
                          "classifier", classifier_json(&r->lm[i], r->acc_fit[i], r->acc_test[i]),
                          "mean", doubles_json(r->mean + i * K, K),
                          "stderr", doubles_json(r->se + i * K, K)));
  }
  json_object_set_new(o, "blocks", blocks);
  for (size_t e = 0; e < s->n; e++)
    json_array_append_new(idx, json_integer((json_int_t)s->test_idx[e]));
  json_object_set_new(o, "test_index", idx);
  json_object_set_new(o, "threads", json_integer(bh_threads_get()));
  json_object_set_new(o, "versions", bh_cli_versions_json());
  int st = bh_cli_write_json(path, o);
  json_decref(o);
  return st;
}

/* Every file, or none: a failure removes the ones this run wrote. */
static int write_all(const at_args *a, const bh_model *m, const bh_ckpt *ck, const at_setup *su,
                     const at_sample *s, const at_result *r) {
  static const char *const ext[4] = {".dat", ".gp", ".png", ".json"};
  char path[4][4096];
  int st = BH_EXIT_OK, done = 0;
  for (int k = 0; k < 4 && !st; k++) st = bh_cli_out_path(path[k], sizeof path[k], a->out, ext[k]);
  if (!st && !(st = write_dat(path[0], a, m, su, s, r))) done++;
  if (!st && !(st = write_gp(path[1], a->out, a, su))) done++;
  if (!st && !(st = write_png(path[2], a, su, r))) done++;
  if (!st && !(st = write_json(path[3], a, m, ck, su, s, r))) done++;
  if (st)
    while (done > 0) remove(path[--done]);
  return st;
}

/* ---------------------------------------------------------------- the command */

static int run_attr_traverse(const at_args *a, bh_model *m, const bh_ckpt *ck) {
  at_setup su;
  at_sample s;
  at_result r;
  memset(&su, 0, sizeof su);
  memset(&s, 0, sizeof s);
  memset(&r, 0, sizeof r);
  int st = choose_labels(a, m, &su);
  if (!st) st = sample_open(a, m, &s);
  for (int i = 0; !st && i < su.spec.n; i++)
    label_name(&su.spec, i, s.test_ds, su.name[i], sizeof su.name[i]);
  if (!st) st = sample_fill(a, m, &su, &s);
  if (!st) st = fit_classifiers(m, &su, &s, &r);
  if (!st) st = traverse(m, a, &su, &s, &r);
  if (!st) st = write_all(a, m, ck, &su, &s, &r);
  if (!st) {
    bh_cli_run_gnuplot(a->out);
    printf("%s.png: %d block(s) x %ld values of t in [%g, %g], %zu images; classifier accuracy",
           a->out, su.spec.n, a->steps, -a->range, a->range, s.n);
    for (int i = 0; i < su.spec.n; i++) printf(" %s:%.3f", su.name[i], r.acc_test[i]);
    printf("\n");
  }
  result_free(&r, su.spec.n);
  sample_free(&s);
  free(su.sizes);
  return st;
}

int bh_cmd_attr_traverse(int argc, char **argv) {
  at_args a;
  memset(&a, 0, sizeof a);
  bh_cli_opt opts[] = {{"checkpoint", &a.checkpoint, NULL}, {"out", &a.out, NULL},
                       {"labels", &a.labels_arg, NULL},     {"n", &a.n_arg, NULL},
                       {"steps", &a.steps_arg, NULL},       {"range", &a.range_arg, NULL},
                       {"seed", &a.seed_arg, NULL},         {"threads", &a.threads, NULL},
                       {"help", NULL, &a.help},             {NULL, NULL, NULL}};
  int st = bh_cli_parse_run(CMD, argc, argv, opts, &a.path);
  if (st) return st;
  if (a.help) return fputs(usage_text, stdout), BH_EXIT_OK;
  if ((st = parse_values(&a)) || (st = check_prefix(a.out))) return st;
  bh_ckpt *ck = NULL;
  bh_model *m = bh_model_load_path(a.path, &ck);
  if (!m) return bh_cli_fail_lib();
  st = run_attr_traverse(&a, m, ck);
  bh_model_free(m);
  bh_ckpt_free(ck);
  return st;
}
