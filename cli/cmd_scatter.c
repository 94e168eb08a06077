/* cmd_scatter.c — `bhivae scatter`: the paper's Fig. 3.  The encoder means of n test images,
 * one panel per 2-unit latent block (BHiVAE's s^1, s^2, s^3 and the 2-unit chunks of c^L),
 * the points coloured by a ground-truth factor or the class label, over the contours of the
 * block's prior N(0, Σ), Σ = [[1, ρ], [ρ, 1]], at Mahalanobis radius 1, 2 and 3.  Per block
 * the Gaussian fit N(m, S) of the points and KL(N(m, S) || N(0, Σ)): the paper's "the KL keeps
 * decreasing with the level" is a statement about these numbers.
 *
 * Outputs (each through a .tmp name and a rename): PREFIX.png drawn here with libpng (no
 * gnuplot needed), PREFIX.dat and PREFIX.gp for gnuplot, PREFIX.json with the statistics, and
 * PREFIX-gnuplot.png when gnuplot is on PATH.  The file helpers below (bh_cli_out_path ...
 * bh_cli_canvas_*) serve attr-traverse too. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_model.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/rng.h"
#include "datasets/dataset.h"
#include "datasets/image_io.h"
#include "models/model.h"
#include "reports/gnuplot.h"

#define CMD "scatter"
#define PANEL 256   /* pixels a side of one panel */
#define PANEL_SEP 4 /* white pixels between panels */
#define PANEL_COLS 4
#define AXIS 4.0 /* panels show at least -AXIS..AXIS on both axes (the prior's 3-sigma ellipse) */
#define MAX_BLOCKS 256

static const char usage_text[] =
    "Usage: bhivae scatter DIR --out PREFIX [options]\n"
    "       bhivae scatter --checkpoint FILE --out PREFIX [options]\n"
    "\n"
    "The paper's Fig. 3: the encoder means of n examples of the test split (the whole data\n"
    "when it has no split: dSprites), one panel per 2-unit latent block of the model (BHiVAE's\n"
    "s^1..s^L and the 2-unit chunks of c^L), the points coloured by a factor or the label, with\n"
    "the contours of the block's prior N(0, [[1,rho],[rho,1]]) at Mahalanobis radius 1, 2, 3\n"
    "(rho: the model's key 'rho'; 0 for a model with the prior 'std' or without the key).\n"
    "\n"
    "Writes (each through FILE.tmp and a rename):\n"
    "  PREFIX.png          the panels (axes -4..4, 4 per row), drawn without gnuplot\n"
    "  PREFIX.dat          gnuplot data: one section per block (index b), columns x y class\n"
    "  PREFIX.gp           a gnuplot script drawing the same figure into PREFIX.png (or into\n"
    "                      the file named by gnuplot -e \"outfile='...'\")\n"
    "  PREFIX.json         per block: units, mean, covariance (1/n) of the points and\n"
    "                      KL(N(mean, cov) || N(0, Sigma)); n, seed, colour, rho\n"
    "  PREFIX-gnuplot.png  PREFIX.gp run by gnuplot, when gnuplot is on PATH\n"
    "\n"
    "Options:\n"
    "  --n N             examples (default 1000, at most the split's size), drawn without\n"
    "                    replacement as 'bhivae encode --n N --seed S' draws them\n"
    "  --seed S          the draw (default 0)\n"
    "  --data NAME       the dataset (default: the one the model was trained on)\n"
    "  --color-factor F  colour by ground-truth factor F (default 0, dSprites' shape)\n"
    "  --color-label     colour by the class label (the default for labelled data)\n"
    "  --blocks LIST     the blocks to draw, by index, e.g. 0,1,2 (default: every block of\n"
    "                    2 units)\n"
    "  --threads T       threads for the encoder (default: the cores)\n";

typedef struct scatter_args {
  const char *path, *checkpoint, *out, *n_arg, *seed_arg, *data, *factor_arg, *blocks_arg;
  const char *threads;
  int color_label, help;
  long n;
  unsigned long long seed;
} scatter_args;

/* What the points are coloured by. */
typedef struct colouring {
  const char *source; /* "factor", "label" or "none" */
  int factor;         /* the factor's index (source "factor") */
  int classes;
  const char *name;   /* the factor's name, "label" or "none" */
} colouring;

/* The drawn blocks: their index among the model's blocks and first unit. */
typedef struct block_set {
  int nb;                  /* the model's blocks */
  int sizes[MAX_BLOCKS];   /* of every block */
  int count;               /* drawn */
  int index[MAX_BLOCKS];
  int unit[MAX_BLOCKS];
} block_set;

/* Per drawn block: the Gaussian fit of the points and its KL to the prior. */
typedef struct block_stats {
  double mean[2], cov[2][2], kl; /* kl: INFINITY when cov is singular */
  double axis;                   /* the panel shows -axis..axis on both axes */
} block_stats;

/* ---------------------------------------------------------------- data */

/* The test split of dataset spec (NULL: the model's) when the source has one, else every
 * example; images of the model's shape.  *split names the one opened. */
int bh_cli_model_test_data(const char *cmd, const bh_model *m, const char *spec,
                           bh_dataset **out, bh_split *split) {
  if (!spec) spec = bh_config_str(m->cfg, "data");
  if (!spec || !*spec) return bh_cli_usage(cmd, "--data: missing (e.g. --data dsprites)");
  bh_error_clear();
  bh_dataset *ds = bh_dataset_open(spec, BH_SPLIT_TEST);
  *out = NULL;
  *split = BH_SPLIT_TEST;
  if (!ds) {
    if (bh_error_code() != BH_EINVAL) return bh_cli_fail_lib(); /* a missing or bad file */
    /* no test split (dSprites), or a bad name: the whole data says which */
    *split = BH_SPLIT_ALL;
    return bh_cli_model_data(cmd, m, spec, BH_SPLIT_ALL, out);
  }
  if (ds->c != m->data.c || ds->h != m->data.h || ds->w != m->data.w) {
    int st = bh_cli_fail("%s: images are %dx%dx%d, the model was trained on %dx%dx%d", spec,
                         ds->c, ds->h, ds->w, m->data.c, m->data.h, m->data.w);
    bh_dataset_free(ds);
    return st;
  }
  *out = ds;
  return BH_EXIT_OK;
}

/* count distinct indices of 0..n-1, ascending, from stream "encode" of the seed: Knuth's
 * selection sampling, exactly as `bhivae encode --n` draws (so its files show the same points). */
static size_t *choose_subset(size_t n, size_t count, unsigned long long seed) {
  size_t *idx = malloc((count ? count : 1) * sizeof *idx), chosen = 0;
  bh_rng *rng = bh_rng_alloc(seed);
  gsl_rng *g = rng ? bh_rng_stream(rng, "encode") : NULL;
  if (!idx || !g) {
    free(idx);
    bh_rng_free(rng);
    return NULL;
  }
  for (size_t i = 0; i < n && chosen < count; i++)
    if ((double)(n - i) * gsl_rng_uniform(g) < (double)(count - chosen)) idx[chosen++] = i;
  bh_rng_free(rng);
  return idx;
}

/* ---------------------------------------------------------------- options */

/* The model's blocks (cls->blocks, else one unit each) and the drawn ones: --blocks, else
 * every block of 2 units. */
static int choose_blocks(const scatter_args *a, const bh_model *m, block_set *b) {
  int sum = 0;
  if (m->z_dim > MAX_BLOCKS) return bh_cli_fail("model %s: %d latents (at most %d)",
                                                m->cls->name, m->z_dim, MAX_BLOCKS);
  b->nb = m->z_dim;
  if (m->cls->blocks) b->nb = m->cls->blocks(m, b->sizes);
  else
    for (int i = 0; i < b->nb; i++) b->sizes[i] = 1;
  for (int i = 0; i < b->nb && b->nb <= m->z_dim; i++) sum += b->sizes[i] > 0 ? b->sizes[i] : -1;
  if (b->nb < 1 || b->nb > m->z_dim || sum != m->z_dim)
    return bh_cli_fail("model %s: its latent blocks do not cover its %d latents", m->cls->name,
                       m->z_dim);
  int first[MAX_BLOCKS], twos = 0;
  for (int i = 0, u = 0; i < b->nb; u += b->sizes[i++]) {
    first[i] = u;
    twos += b->sizes[i] == 2;
  }
  if (!twos)
    return bh_cli_fail("model %s has no 2-unit latent blocks; scatter needs them", m->cls->name);
  b->count = 0;
  if (!a->blocks_arg) {
    for (int i = 0; i < b->nb; i++)
      if (b->sizes[i] == 2) b->index[b->count] = i, b->unit[b->count++] = first[i];
    return BH_EXIT_OK;
  }
  for (const char *p = a->blocks_arg;;) {
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || errno || (*end && *end != ','))
      return bh_cli_usage(CMD, "--blocks: '%s': expected block indices like 0,1,2",
                          a->blocks_arg);
    if (v < 0 || v >= b->nb)
      return bh_cli_usage(CMD, "--blocks: block %ld out of range (model %s has %d blocks, "
                          "0..%d)", v, m->cls->name, b->nb, b->nb - 1);
    if (b->sizes[v] != 2)
      return bh_cli_usage(CMD, "--blocks: block %ld has %d unit(s); scatter needs 2-unit "
                          "blocks", v, b->sizes[v]);
    for (int j = 0; j < b->count; j++)
      if (b->index[j] == v) return bh_cli_usage(CMD, "--blocks: block %ld given twice", v);
    b->index[b->count] = (int)v;
    b->unit[b->count++] = first[v];
    if (!*end) break;
    p = end + 1;
  }
  return BH_EXIT_OK;
}

/* Colour by --color-factor F, --color-label, else factor 0 (dSprites' shape) for factor data,
 * the label for labelled data, nothing otherwise. */
static int choose_colouring(const scatter_args *a, const bh_dataset *ds, const char *spec,
                            colouring *c) {
  if (a->factor_arg && a->color_label)
    return bh_cli_usage(CMD, "--color-factor and --color-label: one of them");
  if (a->color_label || (!a->factor_arg && ds->nfactors == 0 && ds->nclasses > 0)) {
    if (ds->nclasses <= 0) return bh_cli_usage(CMD, "--color-label: %s has no class labels", spec);
    *c = (colouring){"label", -1, ds->nclasses, "label"};
    return BH_EXIT_OK;
  }
  if (!a->factor_arg && ds->nfactors == 0) {
    *c = (colouring){"none", -1, 1, "none"};
    return BH_EXIT_OK;
  }
  long f = 0;
  if (a->factor_arg) {
    char *end;
    errno = 0;
    f = strtol(a->factor_arg, &end, 10);
    if (end == a->factor_arg || *end || errno)
      return bh_cli_usage(CMD, "--color-factor: '%s': expected a factor index", a->factor_arg);
    if (ds->nfactors == 0)
      return bh_cli_usage(CMD, "--color-factor: %s has no ground-truth factors", spec);
    if (f < 0 || f >= ds->nfactors)
      return bh_cli_usage(CMD, "--color-factor: factor %ld out of range (%s has %d factors, "
                          "0..%d)", f, spec, ds->nfactors, ds->nfactors - 1);
  }
  *c = (colouring){"factor", (int)f, ds->factor_sizes[f],
                   ds->factor_names[f] ? ds->factor_names[f] : "factor"};
  return BH_EXIT_OK;
}

/* The prior's correlation inside a block: key "rho", unless the model's prior is N(0, I)
 * (bhivae-sup's prior "std"); 0 for a model without the key. */
static double prior_rho(const bh_model *m) {
  if (!bh_config_has(m->cfg, "rho")) return 0.0;
  if (bh_config_has(m->cfg, "prior") && strcmp(bh_config_str(m->cfg, "prior"), "std") == 0)
    return 0.0;
  return bh_config_num(m->cfg, "rho");
}

/* ---------------------------------------------------------------- statistics */

/* Mean and covariance (1/n: the maximum-likelihood Gaussian fit) of units u, u+1 of the codes,
 * and KL(N(m, S) || N(0, Σ)) = ½ [tr(Σ⁻¹S) + mᵀΣ⁻¹m − 2 + ln(det Σ / det S)],
 * Σ⁻¹ = [[1, −ρ], [−ρ, 1]] / (1 − ρ²). */
static block_stats block_fit(const float *z, size_t n, int d, int u, double rho) {
  block_stats s;
  memset(&s, 0, sizeof s);
  for (size_t i = 0; i < n; i++)
    for (int a = 0; a < 2; a++) s.mean[a] += z[i * (size_t)d + (size_t)(u + a)];
  for (int a = 0; a < 2; a++) s.mean[a] /= (double)n;
  for (size_t i = 0; i < n; i++) {
    double e0 = z[i * (size_t)d + (size_t)u] - s.mean[0];
    double e1 = z[i * (size_t)d + (size_t)u + 1] - s.mean[1];
    s.cov[0][0] += e0 * e0;
    s.cov[0][1] += e0 * e1;
    s.cov[1][1] += e1 * e1;
  }
  s.cov[0][0] /= (double)n;
  s.cov[0][1] /= (double)n;
  s.cov[1][1] /= (double)n;
  s.cov[1][0] = s.cov[0][1];
  double det_p = 1.0 - rho * rho, det_s = s.cov[0][0] * s.cov[1][1] - s.cov[0][1] * s.cov[0][1];
  double tr = (s.cov[0][0] + s.cov[1][1] - 2.0 * rho * s.cov[0][1]) / det_p;
  double maha = (s.mean[0] * s.mean[0] + s.mean[1] * s.mean[1] -
                 2.0 * rho * s.mean[0] * s.mean[1]) / det_p;
  s.kl = det_s > 0 ? 0.5 * (tr + maha - 2.0 + log(det_p / det_s)) : INFINITY;
  /* the panel: the prior's contours and every point, so that codes far from the prior (an
   * encoder early in training) are seen rather than cut off; whole units, 5 % margin */
  double far = 0.0;
  for (size_t i = 0; i < n; i++)
    for (int a = 0; a < 2; a++) {
      double v = fabs(z[i * (size_t)d + (size_t)(u + a)]);
      if (isfinite(v) && v > far) far = v;
    }
  s.axis = fmax(AXIS, ceil(1.05 * far));
  return s;
}

/* ---------------------------------------------------------------- outputs */

/* The file helpers of the figure commands (cli_model.h): here, where they were first needed. */

int bh_cli_out_path(char *buf, size_t cap, const char *prefix, const char *suffix) {
  if (snprintf(buf, cap, "%s%s", prefix, suffix) >= (int)cap)
    return bh_cli_fail("%s: path too long", prefix);
  return BH_EXIT_OK;
}

int bh_cli_atomic_finish(bh_atomic_file *af, const char *path) {
  if (ferror(af->f)) {
    bh_atomic_abort(af);
    return bh_cli_fail("%s: write failed", path);
  }
  return bh_atomic_commit(af) == BH_OK ? BH_EXIT_OK : bh_cli_fail_lib();
}

/* PREFIX.dat: per block a comment line, n lines "x y class", two blank lines between blocks
 * (gnuplot's index). */
static int write_dat(const char *prefix, const block_set *b, const float *z, int d,
                     const int *cls, size_t n) {
  char path[4096];
  bh_atomic_file af;
  int st = bh_cli_out_path(path, sizeof path, prefix, ".dat");
  if (st) return st;
  if (bh_atomic_open(&af, path) != BH_OK) return bh_cli_fail_lib();
  for (int k = 0; k < b->count; k++) {
    fprintf(af.f, "%s# block %d: units %d, %d (%zu points: x y class)\n", k ? "\n\n" : "",
            b->index[k], b->unit[k], b->unit[k] + 1, n);
    for (size_t i = 0; i < n; i++)
      fprintf(af.f, "%.9g %.9g %d\n", (double)z[i * (size_t)d + (size_t)b->unit[k]],
              (double)z[i * (size_t)d + (size_t)b->unit[k] + 1], cls[i]);
  }
  return bh_cli_atomic_finish(&af, path);
}

const uint8_t bh_cli_palette[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                       {214, 39, 40},  {148, 103, 189}, {140, 86, 75},
                                       {227, 119, 194}, {127, 127, 127}, {188, 189, 34},
                                       {23, 190, 207}};

void bh_cli_gp_quote(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) fputs(*s == '\'' ? "''" : (char[2]){*s, 0}, f);
  fputc('\'', f);
}

static void panel_grid(int count, int *cols, int *rows) {
  *cols = count < PANEL_COLS ? count : PANEL_COLS;
  *rows = (count + PANEL_COLS - 1) / PANEL_COLS;
}

/* PREFIX.gp: the figure of PREFIX.png, from PREFIX.dat. */
static int write_gp(const char *prefix, const bh_model *m, const block_set *b,
                    const block_stats *s, const colouring *c, double rho, size_t n) {
  char path[4096], dat[4096], png[4096];
  bh_atomic_file af;
  int st = bh_cli_out_path(path, sizeof path, prefix, ".gp");
  if (!st) st = bh_cli_out_path(dat, sizeof dat, prefix, ".dat");
  if (!st) st = bh_cli_out_path(png, sizeof png, prefix, ".png");
  if (st) return st;
  if (bh_atomic_open(&af, path) != BH_OK) return bh_cli_fail_lib();
  FILE *f = af.f;
  int cols, rows;
  panel_grid(b->count, &cols, &rows);
  fprintf(f, "# bhivae scatter: %zu codes of model %s, one panel per 2-unit block, coloured by "
             "%s; the prior N(0, [[1,rho],[rho,1]]) at Mahalanobis radius 1, 2, 3.\n"
             "# gnuplot %s.gp   (or: gnuplot -e \"outfile='other.png'\" %s.gp)\n",
          n, m->cls->name, c->name, prefix, prefix);
  fputs("if (!exists(\"outfile\")) outfile = ", f);
  bh_cli_gp_quote(f, png);
  fprintf(f, "\nset terminal png size %d,%d\nset output outfile\n", cols * (PANEL + 64),
          rows * (PANEL + 64));
  fprintf(f, "rho = %.17g\nsr = sqrt(1 - rho**2)\n", rho);
  for (int k = 0; k < c->classes && k < 256; k++)
    fprintf(f, "set linetype %d lc rgb '#%02x%02x%02x'\n", k + 1, bh_cli_palette[k % 10][0],
            bh_cli_palette[k % 10][1], bh_cli_palette[k % 10][2]);
  fprintf(f, "set multiplot layout %d,%d\nset parametric\nset trange [0:2*pi]\n"
             "set size ratio -1\nunset key\n",
          rows, cols);
  for (int k = 0; k < b->count; k++) {
    fprintf(f, "set xrange [%g:%g]\nset yrange [%g:%g]\n", -s[k].axis, s[k].axis, -s[k].axis,
            s[k].axis);
    fprintf(f, "set title 'block %d: z%d, z%d' noenhanced\nplot ", b->index[k], b->unit[k],
            b->unit[k] + 1);
    bh_cli_gp_quote(f, dat);
    fprintf(f, " index %d using 1:2:($3+1) with points pt 7 ps 0.4 lc variable, \\\n"
               "     for [r=1:3] r*cos(t), r*(rho*cos(t) + sr*sin(t)) with lines lc rgb "
               "'black'\n", k);
  }
  fputs("unset multiplot\n", f);
  return bh_cli_atomic_finish(&af, path);
}

/* ---- PREFIX.png, drawn here */

int bh_cli_canvas_init(bh_cli_canvas *cv, int w, int h, const char *path) {
  cv->w = w;
  cv->h = h;
  if (!(cv->px = malloc((size_t)w * (size_t)h * 3))) return bh_cli_fail("%s: out of memory", path);
  memset(cv->px, 255, (size_t)w * (size_t)h * 3);
  return BH_EXIT_OK;
}

void bh_cli_canvas_put(bh_cli_canvas *cv, int x, int y, const uint8_t *rgb) {
  if (x < 0 || y < 0 || x >= cv->w || y >= cv->h) return;
  memcpy(cv->px + 3 * ((size_t)y * (size_t)cv->w + (size_t)x), rgb, 3);
}

int bh_cli_canvas_write(bh_cli_canvas *cv, const char *path) {
  int st = bh_png_write(path, cv->px, cv->w, cv->h, 3) == BH_OK ? BH_EXIT_OK : bh_cli_fail_lib();
  free(cv->px);
  cv->px = NULL;
  return st;
}

/* Panel coordinates of a code value (y up) on a panel of -axis..axis; outside when |v| > axis. */
static double to_px(double v, double axis) { return (v + axis) / (2.0 * axis) * (PANEL - 1); }

static void draw_panel(bh_cli_canvas *cv, int x0, int y0, const float *z, int d, int u,
                       const int *cls, size_t n, double rho, double axis) {
  static const uint8_t grey[3] = {200, 200, 200}, black[3] = {0, 0, 0};
  int mid = (int)lrint(to_px(0.0, axis));
  for (int t = 0; t < PANEL; t++) { /* the axes through 0 */
    bh_cli_canvas_put(cv, x0 + t, y0 + mid, grey);
    bh_cli_canvas_put(cv, x0 + mid, y0 + t, grey);
  }
  for (size_t i = 0; i < n; i++) { /* each point a 3x3 square */
    double x = z[i * (size_t)d + (size_t)u], y = z[i * (size_t)d + (size_t)u + 1];
    if (!(fabs(x) <= axis && fabs(y) <= axis)) continue;
    int px = (int)lrint(to_px(x, axis)), py = PANEL - 1 - (int)lrint(to_px(y, axis));
    for (int dy = -1; dy <= 1; dy++)
      for (int dx = -1; dx <= 1; dx++)
        if (px + dx >= 0 && px + dx < PANEL && py + dy >= 0 && py + dy < PANEL)
          bh_cli_canvas_put(cv, x0 + px + dx, y0 + py + dy, bh_cli_palette[cls[i] % 10]);
  }
  /* the contours: r·L(cos t, sin t), L the Cholesky factor of Σ, on top of the points */
  double sr = sqrt(1.0 - rho * rho);
  for (int r = 1; r <= 3; r++)
    for (int t = 0; t < 4000; t++) {
      double a = 2.0 * M_PI * t / 4000.0, x = r * cos(a), y = r * (rho * cos(a) + sr * sin(a));
      if (fabs(x) > axis || fabs(y) > axis) continue;
      bh_cli_canvas_put(cv, x0 + (int)lrint(to_px(x, axis)),
                        y0 + PANEL - 1 - (int)lrint(to_px(y, axis)), black);
    }
  for (int t = 0; t < PANEL; t++) { /* the frame */
    bh_cli_canvas_put(cv, x0 + t, y0, black);
    bh_cli_canvas_put(cv, x0 + t, y0 + PANEL - 1, black);
    bh_cli_canvas_put(cv, x0, y0 + t, black);
    bh_cli_canvas_put(cv, x0 + PANEL - 1, y0 + t, black);
  }
}

static int write_png(const char *prefix, const block_set *b, const block_stats *s,
                     const float *z, int d, const int *cls, size_t n, double rho) {
  char path[4096];
  int cols, rows, st = bh_cli_out_path(path, sizeof path, prefix, ".png");
  if (st) return st;
  panel_grid(b->count, &cols, &rows);
  bh_cli_canvas cv;
  if ((st = bh_cli_canvas_init(&cv, cols * PANEL + (cols - 1) * PANEL_SEP,
                               rows * PANEL + (rows - 1) * PANEL_SEP, path)))
    return st;
  for (int k = 0; k < b->count; k++)
    draw_panel(&cv, (k % PANEL_COLS) * (PANEL + PANEL_SEP), (k / PANEL_COLS) * (PANEL + PANEL_SEP),
               z, d, b->unit[k], cls, n, rho, s[k].axis);
  return bh_cli_canvas_write(&cv, path);
}

static int write_json(const char *prefix, const scatter_args *a, const bh_model *m,
                      const char *spec, bh_split split, const block_set *b,
                      const block_stats *s, const colouring *c, double rho, size_t n) {
  char path[4096];
  int st = bh_cli_out_path(path, sizeof path, prefix, ".json");
  if (st) return st;
  json_t *o = json_object(), *blocks = json_array(), *col = json_object();
  json_object_set_new(o, "model", json_string(m->cls->name));
  json_object_set_new(o, "checkpoint", json_string(a->path));
  json_object_set_new(o, "data", json_string(spec));
  json_object_set_new(o, "split", json_string(split == BH_SPLIT_TEST ? "test" : "all"));
  json_object_set_new(o, "n", json_integer((json_int_t)n));
  json_object_set_new(o, "seed", json_integer((json_int_t)a->seed));
  json_object_set_new(col, "source", json_string(c->source));
  if (c->factor >= 0) json_object_set_new(col, "factor", json_integer(c->factor));
  json_object_set_new(col, "name", json_string(c->name));
  json_object_set_new(col, "classes", json_integer(c->classes));
  json_object_set_new(o, "color", col);
  json_object_set_new(o, "rho", json_real(rho));
  json_object_set_new(o, "kl", json_string("KL(N(mean, cov) || N(0, [[1,rho],[rho,1]])), nats; "
                                           "cov with 1/n; null when cov is singular"));
  for (int k = 0; k < b->count; k++) {
    json_t *e = json_object();
    json_object_set_new(e, "block", json_integer(b->index[k]));
    json_object_set_new(e, "units", json_pack("[ii]", b->unit[k], b->unit[k] + 1));
    json_object_set_new(e, "mean", json_pack("[ff]", s[k].mean[0], s[k].mean[1]));
    json_object_set_new(e, "cov", json_pack("[[ff][ff]]", s[k].cov[0][0], s[k].cov[0][1],
                                            s[k].cov[1][0], s[k].cov[1][1]));
    json_object_set_new(e, "kl", isfinite(s[k].kl) ? json_real(s[k].kl) : json_null());
    json_object_set_new(e, "axis", json_real(s[k].axis));
    json_array_append_new(blocks, e);
  }
  json_object_set_new(o, "blocks", blocks);
  st = bh_cli_write_json(path, o);
  json_decref(o);
  return st;
}

int bh_cli_write_json(const char *path, const json_t *o) {
  bh_atomic_file af;
  if (bh_atomic_open(&af, path) != BH_OK) return bh_cli_fail_lib();
  if (json_dumpf(o, af.f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) ||
      fputc('\n', af.f) == EOF) {
    bh_atomic_abort(&af);
    return bh_cli_fail("%s: write failed", path);
  }
  return bh_cli_atomic_finish(&af, path);
}


void bh_cli_run_gnuplot(const char *prefix) {
  char gp[4096], png[4096], tmp[4200], expr[8600];
  if (!bh_gnuplot_available() || bh_cli_out_path(gp, sizeof gp, prefix, ".gp") ||
      bh_cli_out_path(png, sizeof png, prefix, "-gnuplot.png"))
    return;
  snprintf(tmp, sizeof tmp, "%s.tmp", png);
  size_t k = (size_t)snprintf(expr, sizeof expr, "outfile='");
  for (const char *s = tmp; *s && k + 3 < sizeof expr; s++) {
    if (*s == '\'') expr[k++] = '\'';
    expr[k++] = *s;
  }
  snprintf(expr + k, sizeof expr - k, "'");
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    FILE *nul = freopen("/dev/null", "w", stderr);
    (void)nul;
    if (!freopen("/dev/null", "w", stdout)) _exit(127);
    execlp("gnuplot", "gnuplot", "-e", expr, gp, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0 || rename(tmp, png) != 0) {
    remove(tmp);
    fprintf(stderr, "bhivae: warning: gnuplot %s did not make %s (PREFIX.png is made without "
                    "it)\n", gp, png);
  }
}

/* ---------------------------------------------------------------- the command */

static int run_scatter(const scatter_args *a, bh_model *m) {
  block_set b;
  int st = choose_blocks(a, m, &b);
  if (st) return st;
  const char *spec = a->data ? a->data : bh_config_str(m->cfg, "data");
  bh_dataset *ds;
  bh_split split;
  if ((st = bh_cli_model_test_data(CMD, m, spec, &ds, &split))) return st;
  colouring c = {"none", -1, 1, "none"};
  size_t n = a->n_arg ? (size_t)a->n : (ds->n < 1000 ? ds->n : 1000);
  size_t *idx = NULL;
  int *cls = NULL, d = m->z_dim;
  float *z = NULL;
  block_stats *s = NULL;
  double rho = prior_rho(m);
  if ((st = choose_colouring(a, ds, spec, &c))) goto done;
  if (n > ds->n) {
    st = bh_cli_usage(CMD, "--n: %zu is more than the %zu examples of %s", n, ds->n, spec);
    goto done;
  }
  idx = choose_subset(ds->n, n, a->seed);
  cls = calloc(n, sizeof *cls);
  z = malloc(n * (size_t)d * sizeof *z);
  s = malloc((size_t)b.count * sizeof *s);
  if (!idx || !cls || !z || !s) {
    st = bh_cli_fail("out of memory for %zu codes", n);
    goto done;
  }
  if (strcmp(c.source, "label") == 0 && bh_dataset_labels(ds, idx, n, cls) != BH_OK) {
    st = bh_cli_fail_lib();
    goto done;
  }
  if (strcmp(c.source, "factor") == 0)
    for (size_t i = 0; i < n; i++) {
      int f[BH_DATASET_MAX_FACTORS];
      bh_dataset_factors_of(ds, idx[i], f);
      cls[i] = f[c.factor];
    }
  if (bh_cli_model_encode(m, ds, idx, n, z, NULL) != BH_OK) {
    st = bh_cli_fail_lib();
    goto done;
  }
  for (int k = 0; k < b.count; k++) s[k] = block_fit(z, n, d, b.unit[k], rho);
  if ((st = write_dat(a->out, &b, z, d, cls, n)) || (st = write_gp(a->out, m, &b, s, &c, rho, n)) ||
      (st = write_png(a->out, &b, s, z, d, cls, n, rho)) ||
      (st = write_json(a->out, a, m, spec, split, &b, s, &c, rho, n)))
    goto done;
  bh_cli_run_gnuplot(a->out);
  printf("%s.png: %d block(s) of %zu codes of %s (%s split), coloured by %s; KL to the prior "
         "(rho %g):", a->out, b.count, n, spec, split == BH_SPLIT_TEST ? "test" : "no", c.name,
         rho);
  for (int k = 0; k < b.count; k++) printf(" %d:%.4g", b.index[k], s[k].kl);
  printf("\n");
done:
  free(idx);
  free(cls);
  free(z);
  free(s);
  bh_dataset_free(ds);
  return st;
}

int bh_cmd_scatter(int argc, char **argv) {
  scatter_args a;
  memset(&a, 0, sizeof a);
  bh_cli_opt opts[] = {{"checkpoint", &a.checkpoint, NULL},  {"out", &a.out, NULL},
                       {"n", &a.n_arg, NULL},                {"seed", &a.seed_arg, NULL},
                       {"data", &a.data, NULL},              {"color-factor", &a.factor_arg, NULL},
                       {"color-label", NULL, &a.color_label}, {"blocks", &a.blocks_arg, NULL},
                       {"threads", &a.threads, NULL},        {"help", NULL, &a.help},
                       {NULL, NULL, NULL}};
  int st = bh_cli_parse_run(CMD, argc, argv, opts, &a.path);
  if (st) return st;
  if (a.help) return fputs(usage_text, stdout), BH_EXIT_OK;
  if (!a.out) return bh_cli_usage(CMD, "--out: missing (the prefix of the files to write)");
  if (a.n_arg && (st = bh_cli_long(CMD, "n", a.n_arg, 1, 1L << 40, &a.n))) return st;
  if (a.seed_arg && (st = bh_cli_u64(CMD, "seed", a.seed_arg, &a.seed))) return st;
  if (a.threads && (st = bh_cli_threads(CMD, a.threads))) return st;
  bh_model *m = bh_model_load_path(a.path, NULL);
  if (!m) return bh_cli_fail_lib();
  st = run_scatter(&a, m);
  bh_model_free(m);
  return st;
}
