/* model.h — the one interface every model implements (VAE, β-VAE, FactorVAE, β-TCVAE,
 * Guided-VAE, BHiVAE), so training, checkpoints, encoding, metrics and reports never
 * special-case a model.
 *
 * A model class is a table of functions (bh_model_class).  A model (bh_model) owns:
 *   - its configuration (every key with the value used; written into every result),
 *   - the shape of the data it was made for (bh_data_info),
 *   - one or more parameter groups, each with its own Adam configuration: group 0 is the main
 *     network; adversaries (FactorVAE's discriminator, Guided-VAE's inhibition classifier,
 *     BHiVAE's per-level discriminators) are further groups,
 *   - a list of update phases per training step: phase p minimises loss(p) over the parameters
 *     of group phase_group[p] only.
 * One training step (models/train.c): reset the tape; for each phase in order: freeze every
 * group except phase_group[p], build loss(p) on the tape, backward, one Adam step of that group.
 * The tape is not reset between the phases of a step, so a later phase may use tensors made by
 * an earlier one — detached (bh_detach), so no gradient flows back into an earlier phase's graph.
 *
 * Randomness: models draw from named streams of the run's bh_rng ("noise" for
 * reparameterisation, "perm" for FactorVAE's permutations, ...), never from a global generator,
 * so a resumed run continues every sequence bit-exactly.
 */
#ifndef BH_MODELS_MODEL_H
#define BH_MODELS_MODEL_H

#include <gsl/gsl_rng.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/adam.h"
#include "core/checkpoint.h"
#include "core/graph.h"
#include "core/params.h"
#include "core/rng.h"
#include "datasets/dataset.h"
#include "metrics/metric.h"
#include "models/config.h"

#define BH_MODEL_MAX_GROUPS 8
#define BH_MODEL_MAX_PHASES 8
#define BH_TERMS_MAX 24

/* What a model needs to know of its data; stored in checkpoints so a model loads without
 * opening the dataset. */
typedef struct bh_data_info {
  int c, h, w;    /* image shape */
  size_t n;       /* training examples (β-TCVAE's dataset size N) */
  int nclasses;   /* 0: no labels */
  int nattrs;     /* 0: no binary attributes */
  int nfactors;   /* 0: no ground-truth factors */
  int factor_sizes[BH_DATASET_MAX_FACTORS];
} bh_data_info;

void bh_data_info_from_dataset(const bh_dataset *ds, bh_data_info *info);

/* One minibatch, as the training loop hands it to a model. */
typedef struct bh_batch {
  int n;                 /* examples */
  const float *x;        /* n × c·h·w in [0, 1] */
  const int *labels;     /* n class labels, or NULL */
  const uint8_t *attrs;  /* n × nattrs 0/1, or NULL */
  const int *factors;    /* n × nfactors class indices, or NULL */
} bh_batch;

/* Named scalar loss terms of one step, for the progress line and the log.  Names are string
 * literals (not copied).  Setting a name again replaces its value. */
typedef struct bh_terms {
  int n;
  const char *name[BH_TERMS_MAX];
  double value[BH_TERMS_MAX];
} bh_terms;

void bh_terms_clear(bh_terms *t);
void bh_terms_set(bh_terms *t, const char *name, double value);
/* The value of a term, NAN when absent. */
double bh_terms_get(const bh_terms *t, const char *name);

typedef struct bh_model bh_model;

typedef struct bh_model_class {
  const char *name;    /* command-line name: "vae", "betavae", "factorvae", "btcvae", ... */
  const char *summary; /* one line for --help */
  /* The class's own keys and its overrides of common defaults, {NULL}-terminated.  The common
   * keys (bh_model_common_keys, bh_arch_keys) are declared first. */
  const bh_cfg_key *keys;

  /* Build the networks from m->cfg and m->data: allocate m->group[] (bh_params_alloc), set
   * m->ngroups, m->group_name[], m->adam[], m->nphases, m->phase_group[], m->batches_per_step
   * (1, or 2 for FactorVAE's two batches), m->z_dim and m->impl.  init NULL: parameters left
   * zero (about to load a checkpoint).  BH_OK or an error status with a message. */
  int (*create)(bh_model *m, gsl_rng *init);

  /* The scalar loss of update phase `phase` on the step's batches (m->batches_per_step of
   * them), built on the tape; terms filled for logging (phase 0 sets "loss", the objective
   * minimised, and its parts: "recon", "kl", "tc", ...; adversary phases their own: "d_loss",
   * ...).  NULL with a message on failure. */
  bh_tensor *(*loss)(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *batches, bh_rng *rng,
                     bh_terms *terms);

  /* The representation of images x [n × c·h·w]: *mu [n × z_dim] (the code metrics use: the
   * encoder means) and, for a Gaussian encoder, *logvar [n × z_dim] (NULL for a deterministic
   * one).  Runs under whatever gradient mode ctx is in.  BH_OK or an error status. */
  int (*encode)(bh_model *m, bh_ctx *ctx, bh_tensor *x, bh_tensor **mu, bh_tensor **logvar);

  /* Codes z [n × z_dim] → Bernoulli logits [n × c·h·w]. */
  bh_tensor *(*decode)(bh_model *m, bh_ctx *ctx, bh_tensor *z);

  /* Free m->impl (the groups and the configuration are freed by bh_model_free).  May be NULL. */
  void (*destroy)(bh_model *m);

  /* Optional: the latent blocks for traversals (BHiVAE's 2-unit blocks traverse along their
   * diagonal): fills sizes (Σ = z_dim) and returns the count.  NULL: one block per unit. */
  int (*blocks)(const bh_model *m, int *sizes);
} bh_model_class;

struct bh_model {
  const bh_model_class *cls;
  bh_config *cfg;        /* owned: every key with the value in use */
  bh_data_info data;
  int z_dim;             /* width of the representation encode() returns */
  int ngroups;
  bh_params *group[BH_MODEL_MAX_GROUPS];          /* owned */
  const char *group_name[BH_MODEL_MAX_GROUPS];    /* "main", "disc", ...: checkpoint prefixes */
  bh_adam_config adam[BH_MODEL_MAX_GROUPS];
  int nphases;
  int phase_group[BH_MODEL_MAX_PHASES];
  int batches_per_step;
  void *impl;
  bh_ctx *infer_ctx; /* private: the tape-less context of the inference helpers (lazily made) */
};

/* ---- registry (models/registry.c) ---- */

/* The class of a command-line name, or NULL with a message listing the known names. */
const bh_model_class *bh_model_class_find(const char *name);
int bh_model_class_count(void);
const bh_model_class *bh_model_class_at(int i);

/* Keys every model has: steps, batch_size, lr, beta1, beta2, adam_eps, weight_decay, z_dim,
 * log_every, ckpt_every, subset (train on a fixed seeded random subset of this many examples;
 * 0 = all), seed, data.  {NULL}-terminated. */
extern const bh_cfg_key bh_model_common_keys[];

/* A configuration with the common keys, the architecture keys and the class's keys declared
 * (defaults set).  NULL when out of memory. */
bh_config *bh_model_config_new(const bh_model_class *cls);

/* The Adam configuration of group 0 from the common keys (lr, beta1, beta2, adam_eps,
 * weight_decay). */
bh_adam_config bh_model_main_adam(const bh_config *cfg);
/* The Adam configuration of an adversary group (a discriminator, a classifier): the common
 * adam_eps, learning rate and betas from the class's own keys (e.g. "d_lr", "d_beta1",
 * "d_beta2"), no weight decay. */
bh_adam_config bh_model_adversary_adam(const bh_config *cfg, const char *lr_key,
                                       const char *beta1_key, const char *beta2_key);

/* ---- life cycle (models/model.c) ---- */

/* Make a model of class cls (takes ownership of cfg, also on failure) for data of the given
 * shape, parameters initialised from the "init" stream of rng (NULL rng: zero, about to load). */
bh_model *bh_model_create(const bh_model_class *cls, bh_config *cfg, const bh_data_info *data,
                          bh_rng *rng);
void bh_model_free(bh_model *m);
size_t bh_model_param_count(const bh_model *m); /* all groups */
size_t bh_model_group_param_count(const bh_model *m, int g);

/* Checkpoint entries of the model itself: "model.name", "model.config" (JSON text),
 * "model.data" (the bh_data_info), and every group's tensors as "param.<group>.<tensor>". */
int bh_model_save(const bh_model *m, bh_ckpt_writer *w);
/* The model of a checkpoint (class, configuration, data shape, parameters).  `what` names the
 * file in messages.  NULL with one line naming the file and the problem. */
bh_model *bh_model_load(const bh_ckpt *ck, const char *what);
/* Path of a run folder's checkpoint ("DIR/model.ckpt") or the file itself; opens, reads and
 * loads.  *ck_out (may be NULL) receives the open checkpoint (caller frees). */
bh_model *bh_model_load_path(const char *path, bh_ckpt **ck_out);
/* "DIR/model.ckpt" for a folder, path itself for a file, into out (size cap). */
const char *bh_model_checkpoint_path(const char *path, char *out, size_t cap);

/* ---- inference helpers (models/model.c): no tape, in chunks of at most 256 ---- */

/* Encoder means (and log-variances when logvar is non-NULL; zero-filled for a deterministic
 * encoder) of n images (n × c·h·w floats) into mu (n × z_dim). */
int bh_model_encode_images(bh_model *m, const float *images, size_t n, float *mu, float *logvar);
/* Pixel probabilities sigmoid(decode(z)) of n codes into out (n × c·h·w). */
int bh_model_decode_codes(bh_model *m, const float *z, size_t n, float *out);
/* A representation function over the model's means, for the sampler-based metrics. */
bh_repr bh_model_repr(bh_model *m);

/* ---- run metadata (models/model.c) ---- */

/* {"openblas", "gsl", "jansson", "zlib", "libpng", "compiler", "bhivae"}: versions for every
 * result file.  New reference. */
json_t *bh_versions_json(void);

#endif
