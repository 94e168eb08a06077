/* train.h — the one training loop of every model.
 *
 * A run folder (--out DIR) holds:
 *   config.json   the full configuration, the model, data source and checksum-free description,
 *                 seed, thread count and library versions (written at the start);
 *   log.jsonl     one JSON object per logged step: {"step", "time_s", "images_per_s", and every
 *                 loss term by name};
 *   model.ckpt    the checkpoint: model (bh_model_save), every optimiser ("adam.<group>"), the
 *                 RNG streams ("rng"), the data order ("data.perm", "data.pos", "data.epoch") and
 *                 the step ("train.step");
 *   train.json    written when the run finishes: steps, wall time, images/s, final terms.
 *
 * Per step: m->batches_per_step batches of batch_size examples in a seeded shuffled order
 * (stream "data"; a new permutation each epoch; the last incomplete batch of an epoch is
 * dropped), then the model's phases (model.h).  Every term of every step is checked: a NaN or
 * Inf stops the run with "step N: term 'kl' is nan" and the last good checkpoint left as it was.
 * Checkpoints are written every ckpt_every steps, at the end, and when SIGINT or SIGTERM
 * arrives (the loop finishes the step it is in, saves and returns BH_TRAIN_STOPPED).
 *
 * Resume (opts.resume): the checkpoint in DIR restores parameters, optimisers, RNG streams, data
 * order and step, and the log is cut back to that step, so the run continues with the same
 * losses as an uninterrupted run of the same seed and thread count.
 */
#ifndef BH_MODELS_TRAIN_H
#define BH_MODELS_TRAIN_H

#include "core/rng.h"
#include "datasets/dataset.h"
#include "models/model.h"

/* Returned by bh_train_run when a signal (or opts.stop_at) stopped the run after a checkpoint. */
#define BH_TRAIN_STOPPED 100

typedef struct bh_train_opts {
  const char *out_dir;  /* run folder; created if missing */
  int resume;           /* continue from out_dir/model.ckpt */
  int progress;         /* -1 auto (a redrawn line when stderr is a terminal, else a plain line
                           every log_every steps), 0 none, 1 always the plain lines */
  long stop_at;         /* > 0: behave as if interrupted after this step (tests) */
  const char *data_spec;/* for config.json: the dataset spec as given */
} bh_train_opts;

typedef struct bh_train_summary {
  long steps_done;      /* the step reached */
  long steps_this_run;  /* steps this invocation ran (0: a resume with nothing left to do) */
  double seconds;       /* wall time of this invocation's steps */
  double images_per_s;  /* training images per second over this invocation */
  bh_terms last;        /* the terms of the last step */
} bh_train_summary;

/* Train m on ds (the training split) with the run's rng (seeded with the config's "seed").
 * BH_OK when all steps are done, BH_TRAIN_STOPPED after a signal/stop_at checkpoint, an error
 * status (message set) otherwise.  summary may be NULL. */
int bh_train_run(bh_model *m, bh_dataset *ds, bh_rng *rng, const bh_train_opts *opts,
                 bh_train_summary *summary);

/* One training step on given batches, without files or logging (the loop and the tests use
 * it): every phase of the model in order.  adam[g] is the optimiser of group g.  terms
 * receives every phase's terms.  BH_OK or an error status. */
int bh_train_step(bh_model *m, bh_ctx *ctx, bh_adam **adam, const bh_batch *batches,
                  bh_rng *rng, bh_terms *terms);

#endif
