/* profiles.h — the bench-all profiles (ci, quick, standard, paper): what each trains, for how
 * long, with which seeds and settings, and how each run is evaluated.
 *
 * A profile is a budget: a one-line statement of what it costs here, the training steps of its
 * dSprites and MNIST runs, the metric sample sizes, and the runs of Table 1 (dSprites, every
 * model, z_dim 10), Table 2 (MNIST-format data, probe accuracy at d(z) = 10, 16, 32) and Fig. 8
 * (supervised BHiVAE, one 2-unit block vs a single unit for [shape == heart]).  A run is one
 * trained model plus its evaluation; its id names it everywhere (OUT/runs/ID, results/ID.json):
 *   t1-<model>-s<seed>, t2-<model>-d<dim>-s<seed>, f8-<block|single>-d<dim>-s<seed>.
 * The run's configuration is the model's defaults plus the run's settings ("key=value", as
 * `bhivae train --set` takes them), so a result can be checked against what its profile asks
 * for now (bench check). */
#ifndef BH_REPORTS_PROFILES_H
#define BH_REPORTS_PROFILES_H

#include <stddef.h>

#define BH_RUN_ID_MAX 64
#define BH_RUN_SETTINGS_MAX 24
#define BH_RUN_SETTING_LEN 320 /* room for data=dsprites-npz:/a/long/path */

typedef struct bh_profile {
  const char *name;
  const char *budget;        /* one line: what it trains and what it costs here */
  long steps_dsprites;       /* Table 1 training steps */
  long steps_mnist;          /* Table 2 */
  long steps_f8;             /* Fig. 8 (dSprites) */
  int batch_size;
  const char *lr;            /* NULL: each model's own default (the published one) */
  long subset_t1;            /* Table 1 trains on a seeded subset of this many images (0: all) */
  int seeds;                 /* default --seeds */
  const char *const *t1_models;  /* NULL-terminated; NULL: no Table 1 */
  const char *const *t2_models;  /* NULL-terminated; NULL: no Table 2 */
  const int *t2_dims;            /* 0-terminated */
  const int *f8_dims;            /* 0-terminated; NULL: no Fig. 8 */
  const char *t1_metrics;    /* `bhivae eval --metrics` of Table 1 runs */
  long num_train, num_eval;  /* mig/sap/dci and probe draws (0: the protocol's 10000/5000) */
  long sampler_train, sampler_eval; /* zdiff/factorvae points, 64 images each (0: 10000/5000) */
  long log_every, ckpt_every;
} bh_profile;

/* One run of a profile. */
typedef struct bh_run_spec {
  char id[BH_RUN_ID_MAX];
  const char *table;         /* "t1", "t2", "f8" */
  const char *model;         /* bhivae train --model */
  const char *data;          /* dataset spec */
  int seed, z_dim;
  const char *variant;       /* NULL, or "block" / "single" (f8) */
  long steps;
  int batch_size;
  int nsettings;             /* "key=value" for bh_config_set_assignment, in order */
  char settings[BH_RUN_SETTINGS_MAX][BH_RUN_SETTING_LEN];
  const char *metrics;       /* bhivae eval --metrics */
  const char *probe_target;  /* bhivae eval --probe-target, or NULL */
  int traverse, scatter;     /* pictures to make: traversal grid; scatter (bhivae) */
} bh_run_spec;

int bh_profile_count(void);
const bh_profile *bh_profile_at(int i);
/* The profile of a name; NULL with a message (core/error.h) listing the known names. */
const bh_profile *bh_profile_find(const char *name);
/* "ci, quick, standard, paper" */
const char *bh_profile_names(void);

/* Every run of profile p with seeds 1..seeds (seeds <= 0: the profile's default), in the order
 * bench list prints them, into a new array *out (caller frees) of *n runs.  BH_OK or an error. */
int bh_profile_runs(const bh_profile *p, int seeds, bh_run_spec **out, size_t *n);
/* The run of that id; BH_EINVAL with a message naming the id and the profile when it has none. */
int bh_profile_run_find(const bh_profile *p, int seeds, const char *id, bh_run_spec *out);

#endif
