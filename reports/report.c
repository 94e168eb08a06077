/* report.c — `bhivae report` (reports/report.h): load and check the results, aggregate them per
 * (table, model, d, variant) over seeds, and write the tables, the figures' data and scripts,
 * summary.json and index.md.
 *
 * Statistics: mean and the sample standard deviation (n − 1) of the per-seed scores; with one
 * seed the deviation is 0 in summary.json and left out of the tables, which show "(n=k)" when a
 * row holds fewer seeds than the table's fullest row. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/error.h"
#include "core/npy.h"
#include "reports/gnuplot.h"
#include "reports/report.h"

/* ---------------------------------------------------------------- the paper's figures */

typedef struct paper_row {
  const char *model, *md, *tex, *ascii; /* name, labels in Markdown, LaTeX, gnuplot data */
  const char *t1[3];                    /* Z-diff, SAP, MIG */
  const char *t2[3];                    /* d = 10, 16, 32 */
} paper_row;

static const paper_row paper[] = {
    {"vae", "VAE", "VAE", "VAE", {"67.1", "0.14", "0.23"},
     {"97.21 ± 0.42", "96.62 ± 0.51", "96.41 ± 0.22"}},
    {"betavae", "β-VAE (β=6)", "$\\beta$-VAE ($\\beta=6$)", "beta-VAE", {"97.3", "0.17", "0.41"},
     {"94.32 ± 0.48", "95.22 ± 0.36", "94.78 ± 0.53"}},
    {"factorvae", "FactorVAE (γ=7)", "FactorVAE ($\\gamma=7$)", "FactorVAE",
     {"98.4", "0.19", "0.44"}, {"93.7 ± 0.07", "94.62 ± 0.12", "93.69 ± 0.26"}},
    {"btcvae", "β-TCVAE (α=1, β=8, γ=2)", "$\\beta$-TCVAE ($\\alpha=1, \\beta=8, \\gamma=2$)",
     "beta-TCVAE", {"96.5", "0.41", "0.49"}, {"98.4 ± 0.04", "98.6 ± 0.05", "98.9 ± 0.11"}},
    {"guidedvae", "Guided-VAE", "Guided-VAE", "Guided-VAE", {"99.2", "0.4320", "0.57"},
     {"98.2 ± 0.08", "98.2 ± 0.07", "98.40 ± 0.08"}},
    {"bhivae", "BHiVAE (β=10, γ=3)", "BHiVAE ($\\beta=10, \\gamma=3$)", "BHiVAE",
     {"99.0", "0.4312", "0.61"}, {"98.2 ± 0.09", "98.7 ± 0.10", "99.0 ± 0.05"}},
};
#define NMODELS ((int)(sizeof paper / sizeof paper[0]))

static const char *t1_keys[3] = {"zdiff", "sap", "mig"};
static const char *t1_names[3] = {"Z-diff", "SAP", "MIG"};
static const int dims[3] = {10, 16, 32};
static const char *f8_variants[2] = {"block", "single"};
/* Table 1's second table: these first, then any other metric of the t1 results. */
static const char *extra_keys[] = {"sap-continuous", "zdiff-multinomial", "factorvae", "dci"};
#define NEXTRA_KNOWN 4
#define MAX_EXTRA 16

static const paper_row *paper_find(const char *model) {
  for (int i = 0; i < NMODELS; i++)
    if (strcmp(paper[i].model, model) == 0) return &paper[i];
  return NULL;
}

const char *bh_report_paper_t1(const char *model, const char *metric) {
  const paper_row *p = model && metric ? paper_find(model) : NULL;
  for (int k = 0; p && k < 3; k++)
    if (strcmp(metric, t1_keys[k]) == 0) return p->t1[k];
  return NULL;
}

const char *bh_report_paper_t2(const char *model, int d) {
  const paper_row *p = model ? paper_find(model) : NULL;
  for (int k = 0; p && k < 3; k++)
    if (dims[k] == d) return p->t2[k];
  return NULL;
}

/* ---------------------------------------------------------------- text buffers */

typedef struct buf {
  char *p;
  size_t n, cap;
  int oom;
} buf;

static void bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->n;
    int k = vsnprintf(b->p ? b->p + b->n : NULL, room, fmt, ap);
    va_end(ap);
    if (k < 0) {
      b->oom = 1;
      return;
    }
    if ((size_t)k < room) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->n <= (size_t)k) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
}

static void bfree(buf *b) {
  free(b->p);
  *b = (buf){NULL, 0, 0, 0};
}

/* A path from a format (a too long one is cut: opening it then fails, naming it). */
static void pathf(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, cap, fmt, ap);
  va_end(ap);
}

/* n bytes into path through path.tmp and a rename. */
static int write_bytes(const char *path, const void *p, size_t n) {
  bh_atomic_file af;
  if (bh_atomic_open(&af, path) != BH_OK) return bh_error_code();
  if (n && bh_atomic_write(&af, p, n) != BH_OK) {
    bh_atomic_abort(&af);
    return bh_error_code();
  }
  return bh_atomic_commit(&af);
}

/* The buffer into OUT/name, then emptied. */
static int write_buf(const char *out, const char *name, buf *b) {
  char path[4096];
  if (b->oom) return bh_error(BH_ENOMEM, "%s: out of memory", name);
  if (snprintf(path, sizeof path, "%s/%s", out, name) >= (int)sizeof path)
    return bh_error(BH_EINVAL, "%s/%s: path too long", out, name);
  int st = write_bytes(path, b->p ? b->p : "", b->n);
  b->n = 0;
  return st;
}

/* The whole file, malloc'ed; NULL when it cannot be read. */
static char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  buf b = {0};
  char chunk[65536];
  size_t k;
  while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (b.cap - b.n < k + 1) {
      size_t cap = b.cap ? b.cap * 2 : 65536;
      while (cap - b.n < k + 1) cap *= 2;
      char *q = realloc(b.p, cap);
      if (!q) {
        free(b.p);
        fclose(f);
        return NULL;
      }
      b.p = q;
      b.cap = cap;
    }
    memcpy(b.p + b.n, chunk, k);
    b.n += k;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(b.p);
    return NULL;
  }
  if (!b.p && !(b.p = malloc(1))) return NULL;
  b.p[b.n] = 0;
  *n = b.n;
  return b.p;
}

static int file_exists(const char *path) {
  struct stat s;
  return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

/* ---------------------------------------------------------------- results */

typedef struct run {
  char *id;                     /* = the file name without .json */
  const char *table, *model, *variant, *profile;
  int seed, z_dim;
  json_t *root, *metrics;
  double images_per_s;          /* NAN when absent */
} run;

typedef struct run_set {
  run *r;
  size_t n, cap;
  const char *runs_dir;
} run_set;

static void warn(const char *file, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(const char *file, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bhivae: warning: %s: ", file);
  vfprintf(stderr, fmt, ap);
  fputs(" (skipped)\n", stderr);
  va_end(ap);
}

static const char *jstr(const json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}

/* A finite number (integer or real) under key; 0 when there is none. */
static int jnum(const json_t *o, const char *key, double *v) {
  const json_t *x = json_object_get(o, key);
  if (!x || !json_is_number(x)) return 0;
  *v = json_number_value(x);
  return isfinite(*v);
}

/* Why the result root of file `id` cannot be used, else NULL. */
static const char *result_problem(const json_t *root, const char *id, char *why, size_t cap) {
  const char *s;
  double v;
  if (!json_is_object(root)) return "not a JSON object";
  if (!(s = jstr(root, "schema")) || strcmp(s, "bhivae-result/1") != 0)
    return "schema is not \"bhivae-result/1\"";
  if (!json_is_true(json_object_get(root, "complete"))) return "not complete";
  if (!(s = jstr(root, "run")) || strcmp(s, id) != 0) {
    snprintf(why, cap, "\"run\" is %s%s%s, not the file's name %s", s ? "\"" : "",
             s ? s : "missing", s ? "\"" : "", id);
    return why;
  }
  if (!jstr(root, "profile")) return "no \"profile\"";
  if (!jstr(root, "model")) return "no \"model\"";
  if (!(s = jstr(root, "table")) ||
      (strcmp(s, "t1") && strcmp(s, "t2") && strcmp(s, "f8")))
    return "\"table\" is not t1, t2 or f8";
  if (strcmp(s, "f8") == 0) {
    const char *var = jstr(root, "variant");
    if (!var || (strcmp(var, "block") && strcmp(var, "single")))
      return "an f8 result whose \"variant\" is not block or single";
  }
  if (!jnum(root, "seed", &v) || v != floor(v) || v < 0 || v > 1e9)
    return "\"seed\" is not a non-negative integer";
  if (!jnum(root, "z_dim", &v) || v != floor(v) || v < 1 || v > 1e6)
    return "\"z_dim\" is not a positive integer";
  const json_t *m = json_object_get(root, "metrics");
  if (!json_is_object(m) || json_object_size(m) == 0) return "no \"metrics\"";
  const char *key;
  const json_t *e;
  json_object_foreach((json_t *)m, key, e) {
    if (!json_is_object(e) || !jnum(e, "score", &v)) {
      snprintf(why, cap, "metric \"%s\" has no finite score", key);
      return why;
    }
  }
  return NULL;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json file names of dir, sorted; NULL with an error. */
static char **list_json(const char *dir, size_t *count) {
  DIR *d = opendir(dir);
  if (!d) {
    bh_error(BH_EIO, "%s: cannot open the results folder: %s", dir, strerror(errno));
    return NULL;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len <= 5 || strcmp(e->d_name + len - 5, ".json") != 0 || e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **q = realloc(names, cap * sizeof *q);
      if (!q) break;
      names = q;
    }
    if (!(names[n] = strdup(e->d_name))) break;
    n++;
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, name_cmp);
  *count = n;
  if (!names && !(names = calloc(1, sizeof *names)))
    bh_error(BH_ENOMEM, "%s: out of memory", dir);
  return names;
}

static void runs_free(run_set *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->r[i].id);
    json_decref(s->r[i].root);
  }
  free(s->r);
  s->r = NULL;
  s->n = s->cap = 0;
}

/* Every usable result of dir (of profile, or the one profile they hold) into s. */
static int runs_load(run_set *s, const char *dir, const char *profile) {
  size_t count;
  char **names = list_json(dir, &count);
  if (!names) return bh_error_code();
  int st = BH_OK;
  for (size_t i = 0; i < count && st == BH_OK; i++) {
    char path[4096], why[512];
    pathf(path, sizeof path, "%s/%s", dir, names[i]);
    names[i][strlen(names[i]) - 5] = 0; /* the run id */
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
      warn(path, "not valid JSON (line %d: %s)", jerr.line, jerr.text);
      continue;
    }
    const char *problem = result_problem(root, names[i], why, sizeof why);
    if (problem) {
      warn(path, "%s", problem);
      json_decref(root);
      continue;
    }
    if (profile && strcmp(jstr(root, "profile"), profile) != 0) { /* another profile's run */
      json_decref(root);
      continue;
    }
    if (s->n == s->cap) {
      size_t cap = s->cap ? 2 * s->cap : 64;
      run *q = realloc(s->r, cap * sizeof *q);
      if (!q) {
        json_decref(root);
        st = bh_error(BH_ENOMEM, "%s: out of memory", dir);
        break;
      }
      s->r = q;
      s->cap = cap;
    }
    run *r = &s->r[s->n];
    double v = 0;
    r->root = root;
    r->id = names[i];
    names[i] = NULL;
    r->table = jstr(root, "table");
    r->model = jstr(root, "model");
    r->variant = jstr(root, "variant");
    r->profile = jstr(root, "profile");
    jnum(root, "seed", &v);
    r->seed = (int)v;
    jnum(root, "z_dim", &v);
    r->z_dim = (int)v;
    r->metrics = json_object_get(root, "metrics");
    r->images_per_s = NAN;
    if (jnum(json_object_get(root, "train"), "images_per_s", &v)) r->images_per_s = v;
    s->n++;
  }
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
  if (st) return st;
  if (s->n == 0)
    return bh_error(BH_EINVAL, "%s: no valid result file (<run>.json)%s%s", dir,
                    profile ? " of profile " : "", profile ? profile : "");
  for (size_t i = 1; i < s->n; i++)
    if (strcmp(s->r[i].profile, s->r[0].profile) != 0)
      return bh_error(BH_EINVAL, "%s: results of profiles %s and %s; choose one with --profile",
                      dir, s->r[0].profile, s->r[i].profile);
  return BH_OK;
}

/* ---------------------------------------------------------------- aggregation */

/* Which runs a cell takes: table, and model / d / f8 variant when set. */
typedef struct sel {
  const char *table, *model, *variant;
  int d; /* 0: any */
} sel;

static int sel_match(const sel *q, const run *r) {
  if (strcmp(q->table, r->table) != 0) return 0;
  if (q->model && strcmp(q->model, r->model) != 0) return 0;
  if (q->variant && (!r->variant || strcmp(q->variant, r->variant) != 0)) return 0;
  return !q->d || q->d == r->z_dim;
}

typedef struct stat1 {
  int n;
  double mean, std;
  const json_t *entry; /* the first run's metric entry (its variant, sample sizes) */
  int mixed;           /* the runs name different variants of the metric */
} stat1;

/* Mean and sample standard deviation of metric `key` over the runs q selects. */
static stat1 cell(const run_set *s, const sel *q, const char *key) {
  stat1 c = {0, 0.0, 0.0, NULL, 0};
  double sum = 0.0, sq = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    const json_t *e = sel_match(q, &s->r[i]) ? json_object_get(s->r[i].metrics, key) : NULL;
    double v;
    if (!e || !jnum(e, "score", &v)) continue;
    if (!c.entry) {
      c.entry = e;
    } else {
      const char *a = jstr(c.entry, "variant"), *b = jstr(e, "variant");
      if ((a || b) && (!a || !b || strcmp(a, b) != 0)) c.mixed = 1;
    }
    c.n++;
    sum += v;
  }
  if (!c.n) return c;
  c.mean = sum / c.n;
  for (size_t i = 0; i < s->n; i++) {
    const json_t *e = sel_match(q, &s->r[i]) ? json_object_get(s->r[i].metrics, key) : NULL;
    double v;
    if (e && jnum(e, "score", &v)) sq += (v - c.mean) * (v - c.mean);
  }
  c.std = c.n > 1 ? sqrt(sq / (c.n - 1)) : 0.0;
  return c;
}

/* Digits after the point: percentages get 2, fractions 3. */
static int digits(const char *key) {
  return strncmp(key, "zdiff", 5) == 0 || strncmp(key, "factorvae", 9) == 0 ||
                 strncmp(key, "probe", 5) == 0
             ? 2
             : 3;
}

/* "m ± s", "m ± s (n=k)" when k < full, "m (n=1)", or "—"; tex: LaTeX. */
static void fmt_cell(char *out, size_t cap, const stat1 *c, int dig, int full, int tex) {
  if (!c->n) {
    snprintf(out, cap, "%s", tex ? "--" : "—");
    return;
  }
  int k = 0;
  k += snprintf(out + k, cap - (size_t)k, "%.*f", dig, c->mean);
  if (c->n > 1 && (size_t)k < cap)
    k += snprintf(out + k, cap - (size_t)k, tex ? " $\\pm$ %.*f" : " ± %.*f", dig, c->std);
  if (c->n < full && (size_t)k < cap)
    snprintf(out + k, cap - (size_t)k, tex ? " ($n=%d$)" : " (n=%d)", c->n);
}

/* "97.21 ± 0.42" as LaTeX. */
static void tex_pm(char *out, size_t cap, const char *s) {
  const char *pm = strstr(s, "±");
  if (!pm) {
    snprintf(out, cap, "%s", s);
    return;
  }
  snprintf(out, cap, "%.*s$\\pm$%s", (int)(pm - s), s, pm + strlen("±"));
}

/* Markdown and LaTeX-safe text of a variant string: | and LaTeX specials replaced. */
static void tex_escape(buf *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '_': case '%': case '&': case '#': case '$': case '{': case '}':
      bprintf(b, "\\%c", *s);
      break;
    case '\\': bprintf(b, "\\textbackslash{}"); break;
    case '^': bprintf(b, "\\^{}"); break;
    case '~': bprintf(b, "\\~{}"); break;
    case '<': bprintf(b, "$<$"); break;
    case '>': bprintf(b, "$>$"); break;
    default: bprintf(b, "%c", *s);
    }
  }
}

static void md_escape(buf *b, const char *s) {
  for (; *s; s++) bprintf(b, *s == '|' ? "\\|" : "%c", *s);
}

/* The fullest cell of a table: its seeds count. */
static int full_n(const run_set *s, const char *table) {
  int full = 0;
  for (size_t i = 0; i < s->n; i++) {
    const run *r = &s->r[i];
    if (strcmp(r->table, table) != 0) continue;
    int k = 0;
    for (size_t j = 0; j < s->n; j++) {
      const run *o = &s->r[j];
      k += strcmp(o->table, r->table) == 0 && strcmp(o->model, r->model) == 0 &&
           o->z_dim == r->z_dim &&
           (!r->variant || (o->variant && strcmp(o->variant, r->variant) == 0));
    }
    if (k > full) full = k;
  }
  return full;
}

/* One note line per metric: its name, variant, sample sizes (Markdown and LaTeX). */
static void note_metric(buf *md, buf *tex, const run_set *s, const char *table, const char *name,
                        const char *key) {
  sel q = {table, NULL, NULL, 0};
  stat1 c = cell(s, &q, key);
  if (!c.n) {
    bprintf(md, "- %s (`%s`): no result.\n", name, key);
    bprintf(tex, "\\item %s: no result.\n", name);
    return;
  }
  const char *var = jstr(c.entry, "variant");
  const char *target = jstr(c.entry, "target");
  double ntr = 0, nte = 0;
  jnum(c.entry, "n_train", &ntr);
  jnum(c.entry, "n_test", &nte);
  bprintf(md, "- %s (`%s`): ", name, key);
  md_escape(md, var ? var : "variant not recorded");
  bprintf(tex, "\\item %s: ", name);
  tex_escape(tex, var ? var : "variant not recorded");
  if (nte > 0) {
    bprintf(md, "; %.0f train / %.0f test points", ntr, nte);
    bprintf(tex, "; %.0f train / %.0f test points", ntr, nte);
  } else {
    bprintf(md, "; %.0f points", ntr);
    bprintf(tex, "; %.0f points", ntr);
  }
  if (target) {
    bprintf(md, "; target `%s`", target);
    bprintf(tex, "; target ");
    tex_escape(tex, target);
  }
  if (c.mixed) {
    bprintf(md, " (the runs name different variants: the first run's shown)");
    bprintf(tex, " (the runs name different variants: the first run's shown)");
  }
  bprintf(md, ".\n");
  bprintf(tex, ".\n");
}

/* ---------------------------------------------------------------- tables */

static const char tex_head[] =
    "% bhivae report: needs \\usepackage{booktabs}\n";

static void table1(const run_set *s, buf *md, buf *tex) {
  int full = full_n(s, "t1");
  char a[128], t[160];
  bprintf(md, "### Table 1: disentanglement on dSprites (unsupervised, d(z) = 10)\n\n"
              "| model | Z-diff (ours) | Z-diff (paper) | SAP (ours) | SAP (paper) | MIG (ours) "
              "| MIG (paper) |\n|---|---|---|---|---|---|---|\n");
  bprintf(tex, "%s\\begin{table}[t]\n\\centering\n"
               "\\caption{Disentanglement on dSprites: ours (mean $\\pm$ std over %d seeds) beside "
               "the paper's.}\n\\begin{tabular}{lrrrrrr}\n\\toprule\n"
               "model & \\multicolumn{2}{c}{Z-diff} & \\multicolumn{2}{c}{SAP} & "
               "\\multicolumn{2}{c}{MIG} \\\\\n"
               " & ours & paper & ours & paper & ours & paper \\\\\n\\midrule\n",
          tex_head, full);
  for (int i = 0; i < NMODELS; i++) {
    bprintf(md, "| %s ", paper[i].md);
    bprintf(tex, "%s", paper[i].tex);
    for (int k = 0; k < 3; k++) {
      sel q = {"t1", paper[i].model, NULL, 0};
      stat1 c = cell(s, &q, t1_keys[k]);
      fmt_cell(a, sizeof a, &c, digits(t1_keys[k]), full, 0);
      fmt_cell(t, sizeof t, &c, digits(t1_keys[k]), full, 1);
      bprintf(md, "| %s | %s ", a, paper[i].t1[k]);
      bprintf(tex, " & %s & %s", t, paper[i].t1[k]);
    }
    bprintf(md, "|\n");
    bprintf(tex, " \\\\\n");
  }
  bprintf(md, "\nOurs: mean ± sample std over %d seed%s (n shown when fewer); paper: "
              "published values (the paper does not name its metric variants). Metric variants "
              "used here:\n\n",
          full, full == 1 ? "" : "s");
  bprintf(tex, "\\bottomrule\n\\end{tabular}\n\\begin{itemize}\\footnotesize\n");
  for (int k = 0; k < 3; k++) note_metric(md, tex, s, "t1", t1_names[k], t1_keys[k]);
  bprintf(tex, "\\end{itemize}\n\\end{table}\n");
}

/* The other metrics of the t1 results: the known ones first, then the rest by name. */
static int extra_metrics(const run_set *s, const char **keys) {
  int n = 0;
  for (int k = 0; k < NEXTRA_KNOWN; k++) keys[n++] = extra_keys[k];
  for (size_t i = 0; i < s->n; i++) {
    if (strcmp(s->r[i].table, "t1") != 0) continue;
    const char *key;
    json_t *e;
    json_object_foreach(s->r[i].metrics, key, e) {
      int seen = 0;
      for (int k = 0; k < 3; k++) seen |= strcmp(key, t1_keys[k]) == 0;
      for (int k = 0; k < n; k++) seen |= strcmp(key, keys[k]) == 0;
      if (!seen && n < MAX_EXTRA) keys[n++] = key;
    }
  }
  return n;
}

static void table1_more(const run_set *s, buf *md, buf *tex) {
  const char *keys[MAX_EXTRA];
  int nk = extra_metrics(s, keys), full = full_n(s, "t1");
  char a[128];
  bprintf(md, "\n### Table 1b: our other metrics on the same models (no published values)\n\n"
              "| model |");
  bprintf(tex, "\n\\begin{table}[t]\n\\centering\n\\caption{Our other metrics on the Table 1 "
               "models.}\n\\begin{tabular}{l");
  for (int k = 0; k < nk; k++) bprintf(tex, "r");
  bprintf(tex, "}\n\\toprule\nmodel");
  for (int k = 0; k < nk; k++) {
    bprintf(md, " %s |", keys[k]);
    bprintf(tex, " & ");
    tex_escape(tex, keys[k]);
  }
  bprintf(md, "\n|---|");
  for (int k = 0; k < nk; k++) bprintf(md, "---|");
  bprintf(md, "\n");
  bprintf(tex, " \\\\\n\\midrule\n");
  for (int i = 0; i < NMODELS; i++) {
    bprintf(md, "| %s |", paper[i].md);
    bprintf(tex, "%s", paper[i].tex);
    for (int k = 0; k < nk; k++) {
      sel q = {"t1", paper[i].model, NULL, 0};
      stat1 c = cell(s, &q, keys[k]);
      fmt_cell(a, sizeof a, &c, digits(keys[k]), full, 0);
      bprintf(md, " %s |", a);
      fmt_cell(a, sizeof a, &c, digits(keys[k]), full, 1);
      bprintf(tex, " & %s", a);
    }
    bprintf(md, "\n");
    bprintf(tex, " \\\\\n");
  }
  bprintf(md, "\nMetric variants:\n\n");
  bprintf(tex, "\\bottomrule\n\\end{tabular}\n\\begin{itemize}\\footnotesize\n");
  for (int k = 0; k < nk; k++) note_metric(md, tex, s, "t1", keys[k], keys[k]);
  bprintf(tex, "\\end{itemize}\n\\end{table}\n");
}

static void table2(const run_set *s, buf *md, buf *tex) {
  int full = full_n(s, "t2");
  char a[128], t[160], p[64];
  bprintf(md, "### Table 2: probe accuracy (%%) on the frozen representation, MNIST-format "
              "data\n\n| model | d=10 (ours) | d=10 (paper) | d=16 (ours) | d=16 (paper) | d=32 "
              "(ours) | d=32 (paper) |\n|---|---|---|---|---|---|---|\n");
  bprintf(tex, "%s\\begin{table}[t]\n\\centering\n\\caption{Probe accuracy (\\%%) on MNIST-format "
               "data: ours (mean $\\pm$ std over %d seeds) beside the paper's.}\n"
               "\\begin{tabular}{lrrrrrr}\n\\toprule\n"
               "model & \\multicolumn{2}{c}{$d=10$} & \\multicolumn{2}{c}{$d=16$} & "
               "\\multicolumn{2}{c}{$d=32$} \\\\\n"
               " & ours & paper & ours & paper & ours & paper \\\\\n\\midrule\n",
          tex_head, full);
  for (int i = 0; i < NMODELS; i++) {
    bprintf(md, "| %s ", paper[i].md);
    bprintf(tex, "%s", paper[i].tex);
    for (int k = 0; k < 3; k++) {
      sel q = {"t2", paper[i].model, NULL, dims[k]};
      stat1 c = cell(s, &q, "probe");
      fmt_cell(a, sizeof a, &c, 2, full, 0);
      fmt_cell(t, sizeof t, &c, 2, full, 1);
      tex_pm(p, sizeof p, paper[i].t2[k]);
      bprintf(md, "| %s | %s ", a, paper[i].t2[k]);
      bprintf(tex, " & %s & %s", t, p);
    }
    bprintf(md, "|\n");
    bprintf(tex, " \\\\\n");
  }
  bprintf(md, "\nOurs: mean ± sample std over %d seed%s (n shown when fewer).\n\n", full,
          full == 1 ? "" : "s");
  bprintf(tex, "\\bottomrule\n\\end{tabular}\n\\begin{itemize}\\footnotesize\n");
  note_metric(md, tex, s, "t2", "Probe", "probe");
  bprintf(tex, "\\end{itemize}\n\\end{table}\n");
}

static void fig8_table(const run_set *s, buf *md) {
  int full = full_n(s, "f8");
  char a[128];
  bprintf(md, "### Fig. 8: block (k=2) vs single (k=1) unit for one attribute, probe accuracy "
              "(%%)\n\n| d(z) | block | single |\n|---|---|---|\n");
  for (int k = 0; k < 3; k++) {
    bprintf(md, "| %d |", dims[k]);
    for (int v = 0; v < 2; v++) {
      sel q = {"f8", NULL, f8_variants[v], dims[k]};
      stat1 c = cell(s, &q, "probe");
      fmt_cell(a, sizeof a, &c, 2, full, 0);
      bprintf(md, " %s |", a);
    }
    bprintf(md, "\n");
  }
  buf none = {0};
  bprintf(md, "\nOurs: mean ± sample std over %d seed%s.\n\n", full, full == 1 ? "" : "s");
  note_metric(md, &none, s, "f8", "Probe", "probe");
  bfree(&none);
}

/* ---------------------------------------------------------------- gnuplot */

/* The head of every script: the output file (gnuplot -e "outfile='x.png'" overrides it) and a
 * PNG terminal (pngcairo when built in). */
static void gp_head(buf *b, const char *name, const char *what, int w, int h) {
  bprintf(b, "# bhivae report: %s\n# gnuplot %s.gp  (reads %s.dat from the current folder)\n"
             "if (!exists(\"outfile\")) outfile = '%s.png'\n"
             "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
             "  set terminal pngcairo size %d,%d font ',10'\n} else {\n"
             "  set terminal png size %d,%d\n}\nset output outfile\n"
             "set datafile missing 'NaN'\n",
          what, name, name, name, w, h, w, h);
}

static void gp_bars(buf *b) {
  bprintf(b, "set style data histograms\nset style histogram errorbars gap 2 lw 1\n"
             "set style fill solid 0.7 border -1\nset boxwidth 0.9\nset grid ytics\nset yrange [0:*]\n"
             "set xtics rotate by -30 noenhanced\nset key top left noenhanced\n");
}

static void dat_stat(buf *b, const stat1 *c) {
  if (c->n)
    bprintf(b, " %.9g %.9g", c->mean, c->std);
  else
    bprintf(b, " NaN NaN");
}

/* Three panels side by side, one per column group k of dat (ours: mean, std in columns 2+4k,
 * 3+4k; the paper's: value, ± in 4+4k, 5+4k), titled titles[k]. */
static void gp_ours_paper_panels(buf *b, const char *dat, char titles[3][64]) {
  bprintf(b, "set multiplot layout 1,3\n");
  for (int k = 0; k < 3; k++)
    bprintf(b, "set title '%s'\nplot '%s' using %d:%d:xtic(1) title 'ours', '' using %d:%d "
               "title 'paper'\n",
            titles[k], dat, 2 + 4 * k, 3 + 4 * k, 4 + 4 * k, 5 + 4 * k);
  bprintf(b, "unset multiplot\n");
}

/* table1-bars: one panel per Table 1 metric, ours beside the paper's. */
static int fig_t1(const run_set *s, const char *fig, buf *b) {
  bprintf(b, "# Table 1 per model: for Z-diff, SAP, MIG: ours_mean ours_std paper 0\n");
  for (int i = 0; i < NMODELS; i++) {
    bprintf(b, "\"%s\"", paper[i].ascii);
    for (int k = 0; k < 3; k++) {
      sel q = {"t1", paper[i].model, NULL, 0};
      stat1 c = cell(s, &q, t1_keys[k]);
      dat_stat(b, &c);
      bprintf(b, " %s 0", paper[i].t1[k]);
    }
    bprintf(b, "\n");
  }
  int st = write_buf(fig, "table1-bars.dat", b);
  if (st) return st;
  gp_head(b, "table1-bars", "Table 1 metric bars per model, ours (mean ± std) and the paper's",
          1500, 450);
  gp_bars(b);
  char titles[3][64];
  for (int k = 0; k < 3; k++) snprintf(titles[k], sizeof titles[k], "%s%s", t1_names[k],
                                       k == 0 ? " (%)" : "");
  gp_ours_paper_panels(b, "table1-bars.dat", titles);
  return write_buf(fig, "table1-bars.gp", b);
}

/* table2-bars: one panel per d, ours beside the paper's (its ± as the error bar). */
static int fig_t2(const run_set *s, const char *fig, buf *b) {
  bprintf(b, "# Table 2 per model: for d = 10, 16, 32: ours_mean ours_std paper paper_std\n");
  for (int i = 0; i < NMODELS; i++) {
    bprintf(b, "\"%s\"", paper[i].ascii);
    for (int k = 0; k < 3; k++) {
      sel q = {"t2", paper[i].model, NULL, dims[k]};
      stat1 c = cell(s, &q, "probe");
      dat_stat(b, &c);
      double pm = 0, ps = 0;
      if (sscanf(paper[i].t2[k], "%lf", &pm) != 1) pm = NAN;
      const char *x = strstr(paper[i].t2[k], "±");
      if (!x || sscanf(x + strlen("±"), "%lf", &ps) != 1) ps = 0;
      bprintf(b, " %.9g %.9g", pm, ps);
    }
    bprintf(b, "\n");
  }
  int st = write_buf(fig, "table2-bars.dat", b);
  if (st) return st;
  gp_head(b, "table2-bars", "Table 2 probe accuracy per model and d, ours and the paper's",
          1500, 450);
  gp_bars(b);
  char titles[3][64];
  for (int k = 0; k < 3; k++)
    snprintf(titles[k], sizeof titles[k], "probe accuracy (%%), d=%d", dims[k]);
  gp_ours_paper_panels(b, "table2-bars.dat", titles);
  return write_buf(fig, "table2-bars.gp", b);
}

/* fig8: per d, block and single. */
static int fig_f8(const run_set *s, const char *fig, buf *b) {
  bprintf(b, "# Fig. 8 per d(z): block_mean block_std single_mean single_std (probe accuracy %%)\n");
  for (int k = 0; k < 3; k++) {
    bprintf(b, "\"d=%d\"", dims[k]);
    for (int v = 0; v < 2; v++) {
      sel q = {"f8", NULL, f8_variants[v], dims[k]};
      stat1 c = cell(s, &q, "probe");
      dat_stat(b, &c);
    }
    bprintf(b, "\n");
  }
  int st = write_buf(fig, "fig8.dat", b);
  if (st) return st;
  gp_head(b, "fig8", "Fig. 8, block (k=2) vs single (k=1) unit for one attribute", 700, 450);
  gp_bars(b);
  bprintf(b, "set title 'probe accuracy (%%) of the attribute from z'\n"
             "plot 'fig8.dat' using 2:3:xtic(1) title 'block (k=2)', '' using 4:5 title "
             "'single (k=1)'\n");
  return write_buf(fig, "fig8.gp", b);
}

/* training-<table>: per run of the table, its log.jsonl (step loss recon), one gnuplot index
 * each; one panel per model (per variant for f8).  0 panels: nothing written, *made 0. */
static int fig_curves(const run_set *s, const char *table, const char *fig, buf *dat, buf *gp,
                      int *made) {
  char name[64], path[4096];
  snprintf(name, sizeof name, "training-%s", table);
  *made = 0;
  int *index = calloc(s->n ? s->n : 1, sizeof *index), count = 0;
  if (!index) return bh_error(BH_ENOMEM, "%s: out of memory", name);
  for (size_t i = 0; i < s->n; i++) {
    const run *r = &s->r[i];
    index[i] = -1;
    if (strcmp(r->table, table) != 0) continue;
    pathf(path, sizeof path, "%s/%s/log.jsonl", s->runs_dir, r->id);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    char *line = NULL;
    size_t cap = 0;
    int rows = 0;
    while (getline(&line, &cap, f) > 0) {
      json_t *o = json_loads(line, 0, NULL);
      double step, loss, recon = NAN;
      if (o && jnum(o, "step", &step) && jnum(o, "loss", &loss)) {
        if (!rows) bprintf(dat, "%s# %s: step loss recon\n", count ? "\n\n" : "", r->id);
        if (!jnum(o, "recon", &recon)) recon = NAN;
        bprintf(dat, "%.9g %.9g %.9g\n", step, loss, recon);
        rows++;
      }
      json_decref(o);
    }
    free(line);
    fclose(f);
    if (rows) index[i] = count++;
  }
  if (!count) {
    free(index);
    return BH_OK;
  }
  char file[80];
  snprintf(file, sizeof file, "%s.dat", name);
  int st = write_buf(fig, file, dat);
  /* the panels: distinct models (f8: variants) in the order of the runs */
  const char *panel[64];
  int np = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (index[i] < 0) continue;
    const char *key = strcmp(table, "f8") == 0 ? s->r[i].variant : s->r[i].model;
    int seen = 0;
    for (int p = 0; p < np; p++) seen |= strcmp(panel[p], key) == 0;
    if (!seen && np < 64) panel[np++] = key;
  }
  int cols = np < 3 ? np : 3, rows = (np + 2) / 3;
  gp_head(gp, name, "training curves (loss and reconstruction per step), one panel per model",
          cols * 500, rows * 360);
  bprintf(gp, "set multiplot layout %d,%d\nset key top right noenhanced\nset xlabel 'step'\n"
              "set grid\n", rows, cols);
  for (int p = 0; p < np; p++) {
    bprintf(gp, "set title '%s' noenhanced\nplot ", panel[p]);
    int first = 1;
    for (size_t i = 0; i < s->n; i++) {
      const char *key = strcmp(table, "f8") == 0 ? s->r[i].variant : s->r[i].model;
      if (index[i] < 0 || strcmp(key, panel[p]) != 0) continue;
      bprintf(gp, "%s'%s' index %d using 1:2 with lines title '%s loss', '' index %d using 1:3 "
                  "with lines dt 2 title '%s recon'",
              first ? "" : ", \\\n     ", file, index[i], s->r[i].id, index[i], s->r[i].id);
      first = 0;
    }
    bprintf(gp, "\n");
  }
  bprintf(gp, "unset multiplot\n");
  snprintf(file, sizeof file, "%s.gp", name);
  if (!st) st = write_buf(fig, file, gp);
  free(index);
  if (!st) *made = 1;
  return st;
}

/* ---------------------------------------------------------------- copied figures */

/* Copy src to fig/name; 0 when src is missing, 1 when copied, <0 with an error. */
static int copy_file(const char *src, const char *fig, const char *name) {
  size_t n;
  if (!file_exists(src)) return 0;
  char *p = read_all(src, &n);
  if (!p) return 0;
  char path[4096];
  pathf(path, sizeof path, "%s/%s", fig, name);
  int st = write_bytes(path, p, n);
  free(p);
  return st ? -1 : 1;
}

/* The lowest-seed run of each (table, model, d, variant) in seed order: the one whose pictures
 * are shown. */
static int first_of_group(const run_set *s, size_t i) {
  const run *r = &s->r[i];
  for (size_t j = 0; j < s->n; j++) {
    const run *o = &s->r[j];
    if (j == i || strcmp(o->table, r->table) || strcmp(o->model, r->model) ||
        o->z_dim != r->z_dim || (r->variant && (!o->variant || strcmp(o->variant, r->variant))))
      continue;
    if (o->seed < r->seed || (o->seed == r->seed && j < i)) return 0;
  }
  return 1;
}

/* The figure files of run r (the prefix from its result's files.<key>, a .png, else stem) as
 * <to>.png, .dat, .json, -gnuplot.png and <to>.gp, the script made to read <to>.dat and write
 * <to>-gnuplot.png.  1 when copied, 0 when the run has no such PNG, <0 with an error. */
static int copy_run_figure(const run_set *s, const run *r, const char *key,
                           const char *stem_default, const char *fig, const char *to) {
  char stem[256], src[4096], name[512], png[512];
  snprintf(stem, sizeof stem, "%s", stem_default);
  const char *given = jstr(json_object_get(r->root, "files"), key);
  if (given) {
    const char *base = strrchr(given, '/');
    base = base ? base + 1 : given;
    size_t len = strlen(base);
    if (len > 4 && strcmp(base + len - 4, ".png") == 0 && len - 4 < sizeof stem)
      snprintf(stem, sizeof stem, "%.*s", (int)(len - 4), base);
  }
  static const char *ext[4] = {".png", ".dat", ".json", "-gnuplot.png"};
  for (int k = 0; k < 4; k++) {
    pathf(src, sizeof src, "%s/%s/%s%s", s->runs_dir, r->id, stem, ext[k]);
    snprintf(name, sizeof name, "%s%s", to, ext[k]);
    int st = copy_file(src, fig, name);
    if (st < 0 || (k == 0 && st == 0)) return st;
  }
  /* the script: its quoted .dat and .png names rewritten to the copies' */
  pathf(src, sizeof src, "%s/%s/%s.gp", s->runs_dir, r->id, stem);
  size_t n;
  char *gp = file_exists(src) ? read_all(src, &n) : NULL;
  if (!gp) return 1;
  buf b = {0};
  snprintf(png, sizeof png, "%s-gnuplot.png", to);
  for (char *p = gp; *p;) {
    char *q = strchr(p, '\'');
    char *e = q ? strchr(q + 1, '\'') : NULL;
    if (!q || !e) {
      bprintf(&b, "%s", p);
      break;
    }
    size_t len = (size_t)(e - q - 1);
    bprintf(&b, "%.*s", (int)(q - p), p);
    if (len >= 4 && strncmp(e - 4, ".dat", 4) == 0)
      bprintf(&b, "'%s.dat'", to);
    else if (len >= 4 && strncmp(e - 4, ".png", 4) == 0)
      bprintf(&b, "'%s'", png);
    else
      bprintf(&b, "%.*s", (int)(e - q + 1), q);
    p = e + 1;
  }
  free(gp);
  snprintf(name, sizeof name, "%s.gp", to);
  int w = write_buf(fig, name, &b);
  bfree(&b);
  return w ? -1 : 1;
}

/* Fig. 3: the t1 BHiVAE run's scatter (lowest seed) as fig3-scatter.*.  1 when copied. */
static int copy_fig3(const run_set *s, const char *fig, char *from, size_t cap) {
  const run *best = NULL;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->r[i].table, "t1") == 0 && strcmp(s->r[i].model, "bhivae") == 0 &&
        (!best || s->r[i].seed < best->seed))
      best = &s->r[i];
  if (!best) return 0;
  snprintf(from, cap, "%s", best->id);
  return copy_run_figure(s, best, "scatter", "scatter", fig, "fig3-scatter");
}

/* Fig. 7: the attribute classifiers along the traversals of the f8 block run of the lowest
 * d(z), lowest seed, as fig7-attr-traverse.*.  1 when copied. */
static int copy_fig7(const run_set *s, const char *fig, char *from, size_t cap) {
  const run *best = NULL;
  for (size_t i = 0; i < s->n; i++) {
    const run *r = &s->r[i];
    if (strcmp(r->table, "f8") != 0 || !r->variant || strcmp(r->variant, "block") != 0) continue;
    if (!best || r->z_dim < best->z_dim || (r->z_dim == best->z_dim && r->seed < best->seed))
      best = r;
  }
  if (!best) return 0;
  snprintf(from, cap, "%s", best->id);
  return copy_run_figure(s, best, "attr_traverse", "attr-traverse", fig, "fig7-attr-traverse");
}

/* ---------------------------------------------------------------- running gnuplot */


/* gnuplot NAME.gp in folder fig into NAME.png (through NAME.png.tmp); 0 on success. */
static int gnuplot_run(const char *fig, const char *name) {
  char gp[300], expr[400], tmp[4200], png[4200];
  snprintf(gp, sizeof gp, "%s.gp", name);
  snprintf(expr, sizeof expr, "outfile='%s.png.tmp'", name);
  pathf(tmp, sizeof tmp, "%s/%s.png.tmp", fig, name);
  pathf(png, sizeof png, "%s/%s.png", fig, name);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr) ||
        chdir(fig) != 0)
      _exit(127);
    execlp("gnuplot", "gnuplot", "-e", expr, gp, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0 || !file_exists(tmp) || rename(tmp, png) != 0) {
    remove(tmp);
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- summary.json */

static json_t *jstat(const stat1 *c) {
  return json_pack("{s:f, s:f, s:i}", "mean", c->mean, "std", c->std, "n", c->n);
}

/* Every metric key of the runs q selects, each aggregated, into an object. */
static json_t *agg_metrics(const run_set *s, const sel *q) {
  json_t *o = json_object();
  for (size_t i = 0; i < s->n; i++) {
    if (!sel_match(q, &s->r[i])) continue;
    const char *key;
    json_t *e;
    json_object_foreach(s->r[i].metrics, key, e) {
      if (json_object_get(o, key)) continue;
      stat1 c = cell(s, q, key);
      json_object_set_new(o, key, jstat(&c));
    }
  }
  return o;
}

static int max_seeds(const run_set *s) {
  int m = 0;
  static const char *tables[3] = {"t1", "t2", "f8"};
  for (int t = 0; t < 3; t++) {
    int k = full_n(s, tables[t]);
    if (k > m) m = k;
  }
  return m;
}

/* The step benchmark's object (bench/bench-step --json) at path, or NULL when there is none; a
 * file that is there but not a benchmark object is reported and left out, never trusted. */
static json_t *bench_step_load(const char *path) {
  if (access(path, F_OK) != 0) return NULL;
  json_error_t e;
  json_t *o = json_load_file(path, 0, &e);
  if (!json_is_object(o) || !json_is_number(json_object_get(o, "images_per_s"))) {
    fprintf(stderr, "bhivae: warning: %s: %s; no step figures in the report\n", path,
            o ? "not a bench-step object (no images_per_s)" : e.text);
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *summary(const run_set *s, json_t *bench_step) {
  json_t *root = json_object(), *runs = json_object(), *agg = json_object();
  json_t *t1 = json_object(), *t2 = json_object(), *f8 = json_object(), *tp = json_object();
  json_object_set_new(root, "schema", json_string("bhivae-summary/1"));
  json_object_set_new(root, "profile", json_string(s->r[0].profile));
  json_object_set_new(root, "seeds", json_integer(max_seeds(s)));
  for (size_t i = 0; i < s->n; i++) {
    const run *r = &s->r[i];
    json_t *m = json_object(), *o = json_object();
    const char *key;
    json_t *e;
    json_object_foreach(r->metrics, key, e)
        json_object_set_new(m, key, json_real(json_number_value(json_object_get(e, "score"))));
    json_object_set_new(o, "metrics", m);
    if (isfinite(r->images_per_s))
      json_object_set_new(o, "images_per_s", json_real(r->images_per_s));
    json_object_set_new(runs, r->id, o);
    /* the aggregate cells this run belongs to (made once) */
    char dkey[32];
    snprintf(dkey, sizeof dkey, "d%d", r->z_dim);
    if (strcmp(r->table, "t1") == 0 && !json_object_get(t1, r->model)) {
      sel q = {"t1", r->model, NULL, 0};
      json_object_set_new(t1, r->model, agg_metrics(s, &q));
    } else if (strcmp(r->table, "t2") == 0 || strcmp(r->table, "f8") == 0) {
      int f = r->table[0] == 'f';
      json_t *top = f ? f8 : t2;
      const char *k1 = f ? r->variant : r->model;
      json_t *g = json_object_get(top, k1);
      if (!g) json_object_set_new(top, k1, g = json_object());
      if (!json_object_get(g, dkey)) {
        sel q = {r->table, f ? NULL : r->model, f ? r->variant : NULL, r->z_dim};
        json_object_set_new(g, dkey, agg_metrics(s, &q));
      }
    }
    /* throughput: the mean images/s of the model's dSprites (t1) runs, else of all its runs */
    if (isfinite(r->images_per_s) && !json_object_get(tp, r->model)) {
      int any_t1 = 0;
      for (size_t j = 0; j < s->n; j++)
        any_t1 |= strcmp(s->r[j].model, r->model) == 0 && strcmp(s->r[j].table, "t1") == 0 &&
                  isfinite(s->r[j].images_per_s);
      double sum = 0;
      int n = 0;
      for (size_t j = 0; j < s->n; j++)
        if (strcmp(s->r[j].model, r->model) == 0 && isfinite(s->r[j].images_per_s) &&
            (!any_t1 || strcmp(s->r[j].table, "t1") == 0)) {
          sum += s->r[j].images_per_s;
          n++;
        }
      json_object_set_new(tp, r->model, json_real(sum / n));
    }
  }
  json_object_set_new(root, "runs", runs);
  json_object_set_new(agg, "t1", t1);
  json_object_set_new(agg, "t2", t2);
  json_object_set_new(agg, "f8", f8);
  json_object_set_new(root, "aggregate", agg);
  if (bench_step) json_object_set(tp, "bench_step", bench_step);
  json_object_set_new(root, "throughput", tp);
  json_t *v = json_object_get(s->r[0].root, "versions");
  json_object_set(root, "versions", v ? v : json_null());
  json_t *th = json_object_get(s->r[0].root, "threads");
  json_object_set(root, "threads", th ? th : json_null());
  return root;
}

/* ---------------------------------------------------------------- index.md */

/* Speed: the summary's throughput (each model's training images/s: the mean over its dSprites
 * runs, else over all its runs) and the step benchmark's figures against the GEMMs alone. */
static void index_speed(const json_t *tp, buf *b) {
  bprintf(b, "## Speed\n\n| model | training images/s |\n|---|---|\n");
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)tp, key, v)
      if (json_is_number(v)) bprintf(b, "| %s | %.0f |\n", key, json_number_value(v));
  bprintf(b, "\nThe mean over the model's Table 1 runs (dSprites, 64×64), else over all its runs "
             "(28×28 MNIST for Table 2); each run trains with the profile's thread count while "
             "other runs share the machine, so these are rates under load, not peak speed.\n\n");
  const json_t *step = json_object_get(tp, "bench_step");
  if (!step) {
    bprintf(b, "No step benchmark (bench-step.json) beside the results.\n\n");
    return;
  }
  double ips = json_number_value(json_object_get(step, "images_per_s"));
  double gemm = json_number_value(json_object_get(step, "gemm_images_per_s"));
  double gf = json_number_value(json_object_get(step, "gflops"));
  double ggf = json_number_value(json_object_get(step, "gemm_gflops"));
  json_int_t th = json_integer_value(json_object_get(step, "threads"));
  bprintf(b, "Step benchmark (bench/bench-step: one FC-VAE training step, batch 64, %lld "
             "threads, on the idle machine before the runs): %.0f images/s, %.1f GFLOP/s; "
             "the same step's GEMMs alone %.0f images/s, %.1f GFLOP/s (ratio %.2f).\n\n",
          (long long)th, ips, gf, gemm, ggf, gemm > 0 ? ips / gemm : 0.0);
}

/* The budgets the results state, one line per distinct (table, statement). */
static void index_budget(const run_set *s, buf *b) {
  bprintf(b, "## Budget\n\n");
  for (size_t i = 0; i < s->n; i++) {
    const json_t *g = json_object_get(s->r[i].root, "budget");
    char *text = g ? json_dumps(g, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    int seen = 0;
    for (size_t j = 0; j < i && text; j++) {
      if (strcmp(s->r[j].table, s->r[i].table) != 0) continue;
      const json_t *h = json_object_get(s->r[j].root, "budget");
      char *t2 = h ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
      seen |= t2 && strcmp(t2, text) == 0;
      free(t2);
    }
    if (text && !seen) {
      const char *d = jstr(g, "description");
      double steps = 0, batch = 0;
      jnum(g, "steps", &steps);
      jnum(g, "batch_size", &batch);
      bprintf(b, "- %s: %.0f steps of batch %.0f%s", s->r[i].table, steps, batch,
              d ? ": " : "");
      if (d) md_escape(b, d);
      bprintf(b, "\n");
    }
    free(text);
  }
  bprintf(b, "\n");
}

static void index_figure(buf *b, const char *fig, const char *name, const char *title) {
  char path[4096];
  pathf(path, sizeof path, "%s/%s.png", fig, name);
  bprintf(b, "- %s: [data](figures/%s.dat), [gnuplot script](figures/%s.gp)", title, name, name);
  if (file_exists(path))
    bprintf(b, "\n\n  ![%s](figures/%s.png)\n", title, name);
  else
    bprintf(b, " (no PNG: run `gnuplot %s.gp` in figures/)\n", name);
}

/* ---------------------------------------------------------------- the report */

static int make_dir(const char *path) {
  if (mkdir(path, 0777) == 0 || errno == EEXIST) {
    struct stat s;
    if (stat(path, &s) == 0 && S_ISDIR(s.st_mode)) return BH_OK;
    return bh_error(BH_EIO, "%s: exists and is not a folder", path);
  }
  return bh_error(BH_EIO, "%s: cannot create the folder: %s", path, strerror(errno));
}

/* mkdir -p */
static int make_dirs(const char *path) {
  char p[4096];
  if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
    return bh_error(BH_EINVAL, "%s: path too long", path);
  for (char *q = p + 1; *q; q++) {
    if (*q != '/') continue;
    *q = 0;
    struct stat s;
    if (stat(p, &s) != 0 && mkdir(p, 0777) != 0 && errno != EEXIST)
      return bh_error(BH_EIO, "%s: cannot create the folder: %s", p, strerror(errno));
    *q = '/';
  }
  return make_dir(p);
}

typedef struct made {
  const char *name, *title;
  int ok;
} made;

int bh_report_make(const bh_report_opts *o) {
  run_set s = {NULL, 0, 0, NULL};
  char runs_dir[4096], fig[4096], from[512] = "", from7[512] = "";
  if (!o || !o->results || !o->out) return bh_error(BH_EINVAL, "report: no results or out folder");
  if (o->runs)
    snprintf(runs_dir, sizeof runs_dir, "%s", o->runs);
  else
    snprintf(runs_dir, sizeof runs_dir, "%s/../runs", o->results);
  s.runs_dir = runs_dir;
  int st = runs_load(&s, o->results, o->profile);
  if (!st) st = make_dirs(o->out);
  if (!st && snprintf(fig, sizeof fig, "%s/figures", o->out) >= (int)sizeof fig)
    st = bh_error(BH_EINVAL, "%s: path too long", o->out);
  if (!st) st = make_dir(fig);
  if (!st && access(o->out, W_OK) != 0)
    st = bh_error(BH_EIO, "%s: cannot write there: %s", o->out, strerror(errno));
  if (st) {
    runs_free(&s);
    return st;
  }

  buf md = {0}, tex = {0}, t1md = {0}, t2md = {0}, f8md = {0}, b2 = {0};
  /* the tables */
  table1(&s, &md, &tex);
  table1_more(&s, &md, &tex);
  bprintf(&t1md, "%.*s", (int)md.n, md.p ? md.p : "");
  st = write_buf(o->out, "table1.md", &md);
  if (!st) st = write_buf(o->out, "table1.tex", &tex);
  table2(&s, &md, &tex);
  bprintf(&t2md, "%.*s", (int)md.n, md.p ? md.p : "");
  if (!st) st = write_buf(o->out, "table2.md", &md);
  if (!st) st = write_buf(o->out, "table2.tex", &tex);
  fig8_table(&s, &md);
  bprintf(&f8md, "%.*s", (int)md.n, md.p ? md.p : "");
  if (!st) st = write_buf(o->out, "fig8.md", &md);

  /* the figures' data and scripts */
  made figs[8];
  int nf = 0;
  if (!st && !(st = fig_t1(&s, fig, &md)))
    figs[nf++] = (made){"table1-bars", "Table 1 metric bars per model", 1};
  if (!st && !(st = fig_t2(&s, fig, &md)))
    figs[nf++] = (made){"table2-bars", "Table 2 probe accuracy per model and d", 1};
  int any_f8 = 0;
  for (size_t i = 0; i < s.n; i++) any_f8 |= strcmp(s.r[i].table, "f8") == 0;
  if (!st && any_f8 && !(st = fig_f8(&s, fig, &md))) /* no bars at all: gnuplot would fail */
    figs[nf++] = (made){"fig8", "Fig. 8: block vs single", 1};
  static const char *tables[3] = {"t1", "t2", "f8"};
  static const char *curve_names[3] = {"training-t1", "training-t2", "training-f8"};
  static const char *curve_titles[3] = {"Training curves, Table 1 runs (dSprites)",
                                        "Training curves, Table 2 runs (MNIST-format)",
                                        "Training curves, Fig. 8 runs"};
  for (int t = 0; t < 3 && !st; t++) {
    int ok = 0;
    st = fig_curves(&s, tables[t], fig, &md, &b2, &ok);
    md.n = b2.n = 0;
    if (!st && ok) figs[nf++] = (made){curve_names[t], curve_titles[t], 1};
  }
  int fig3 = st ? 0 : copy_fig3(&s, fig, from, sizeof from);
  if (fig3 < 0) st = bh_error_code();
  int fig7 = st ? 0 : copy_fig7(&s, fig, from7, sizeof from7);
  if (fig7 < 0) st = bh_error_code();

  /* the traversals: one per (table, model, d, variant), its lowest seed */
  buf trav = {0};
  for (size_t k = 0; k < 3 * s.n && !st; k++) { /* t1's, then t2's, then f8's */
    size_t i = k % s.n;
    char src[4096], name[600];
    if (strcmp(s.r[i].table, tables[k / s.n]) != 0 || !first_of_group(&s, i)) continue;
    pathf(src, sizeof src, "%s/%s/traverse.png", runs_dir, s.r[i].id);
    snprintf(name, sizeof name, "traverse-%s.png", s.r[i].id);
    int c = copy_file(src, fig, name);
    if (c < 0) st = bh_error_code();
    if (c > 0) {
      if (strcmp(s.r[i].table, "t1") == 0)
        bprintf(&trav, "- %s (%s, d(z)=%d):\n\n  ![%s](figures/%s)\n", s.r[i].id, s.r[i].model,
                s.r[i].z_dim, s.r[i].id, name);
      else
        bprintf(&trav, "- [%s](figures/%s) (%s, d(z)=%d%s%s)\n", s.r[i].id, name, s.r[i].model,
                s.r[i].z_dim, s.r[i].variant ? ", " : "", s.r[i].variant ? s.r[i].variant : "");
    }
  }

  /* gnuplot, when installed: one warning line for all failures */
  if (!st && o->gnuplot && bh_gnuplot_available()) {
    buf failed = {0};
    for (int k = 0; k < nf; k++)
      if (gnuplot_run(fig, figs[k].name)) bprintf(&failed, " %s.gp", figs[k].name);
    if (failed.n)
      fprintf(stderr, "bhivae: warning: gnuplot failed on%s (in %s; the .dat and .gp are there)\n",
              failed.p, fig);
    bfree(&failed);
  }

  /* the step benchmark bench-all ran before the runs, when there is one */
  char step_path[4096];
  if (o->bench_step)
    snprintf(step_path, sizeof step_path, "%s", o->bench_step);
  else
    snprintf(step_path, sizeof step_path, "%s/../bench-step.json", o->results);
  json_t *step = st ? NULL : bench_step_load(step_path), *sum = NULL;

  /* summary.json */
  if (!st) {
    sum = summary(&s, step);
    char *text = sum ? json_dumps(sum, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) : NULL;
    if (!text) {
      st = bh_error(BH_ENOMEM, "summary.json: cannot build the JSON");
    } else {
      bprintf(&md, "%s\n", text);
      free(text);
      st = write_buf(o->out, "summary.json", &md);
    }
  }

  /* index.md */
  if (!st) {
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    bprintf(&md, "# bhivae report: profile %s\n\nMade %s from %zu result%s in `%s`.\n\n",
            s.r[0].profile, date, s.n, s.n == 1 ? "" : "s", o->results);
    index_budget(&s, &md);
    json_t *th = json_object_get(s.r[0].root, "threads");
    if (th) bprintf(&md, "Threads: %lld.\n\n", (long long)json_integer_value(th));
    index_speed(json_object_get(sum, "throughput"), &md);
    const char *key;
    json_t *v;
    json_t *vers = json_object_get(s.r[0].root, "versions");
    if (json_is_object(vers)) {
      bprintf(&md, "Versions:");
      json_object_foreach(vers, key, v) {
        if (json_is_string(v))
          bprintf(&md, " %s %s;", key, json_string_value(v));
        else if (json_is_number(v))
          bprintf(&md, " %s %g;", key, json_number_value(v));
      }
      bprintf(&md, "\n\n");
    }
    bprintf(&md, "Files: [table1.md](table1.md), [table1.tex](table1.tex), "
                 "[table2.md](table2.md), [table2.tex](table2.tex), [fig8.md](fig8.md), "
                 "[summary.json](summary.json).\n\n## Tables\n\n%.*s\n%.*s\n%.*s\n"
                 "## Figures\n\n",
            (int)t1md.n, t1md.p ? t1md.p : "", (int)t2md.n, t2md.p ? t2md.p : "",
            (int)f8md.n, f8md.p ? f8md.p : "");
    for (int k = 0; k < nf; k++) index_figure(&md, fig, figs[k].name, figs[k].title);
    if (!any_f8) bprintf(&md, "- Fig. 8: no f8 result.\n");
    if (fig3 > 0) {
      bprintf(&md, "- Fig. 3: scatter of the codes with the prior's contours (%s): "
                   "[data](figures/fig3-scatter.dat), [gnuplot script](figures/fig3-scatter.gp)",
              from);
      char p[4096];
      pathf(p, sizeof p, "%s/fig3-scatter.json", fig);
      if (file_exists(p)) bprintf(&md, ", [statistics](figures/fig3-scatter.json)");
      bprintf(&md, "\n\n  ![Fig. 3](figures/fig3-scatter.png)\n");
    } else {
      bprintf(&md, "- Fig. 3: no scatter (no t1 bhivae run with one).\n");
    }
    if (fig7 > 0) {
      bprintf(&md, "- Fig. 7: each label's classifier on the re-encoded pictures as its block "
                   "moves along the diagonal from -3 to 3 (%s): [data](figures/"
                   "fig7-attr-traverse.dat), [gnuplot script](figures/fig7-attr-traverse.gp)",
              from7);
      char p[4096];
      pathf(p, sizeof p, "%s/fig7-attr-traverse.json", fig);
      if (file_exists(p))
        bprintf(&md, ", [classifiers and curves](figures/fig7-attr-traverse.json)");
      bprintf(&md, "\n\n  ![Fig. 7](figures/fig7-attr-traverse.png)\n");
    } else {
      bprintf(&md, "- Fig. 7: needs a Fig. 8 block run (f8-block-*) with attr-traverse.png.\n");
    }
    bprintf(&md, "\n## Traversals (Figs. 4, 5)\n\n%s",
            trav.n ? trav.p : "No run has a traverse.png.\n");
    st = write_buf(o->out, "index.md", &md);
  }
  bfree(&md);
  bfree(&tex);
  bfree(&t1md);
  bfree(&t2md);
  bfree(&f8md);
  bfree(&b2);
  bfree(&trav);
  json_decref(step);
  json_decref(sum);
  runs_free(&s);
  return st;
}
