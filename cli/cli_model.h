/* cli_model.h — helpers of the commands that run a trained model on a dataset (train, encode,
 * eval, traverse, metric --checkpoint).  Each prints its own one-line message and returns a
 * BH_EXIT_* status. */
#ifndef BH_CLI_MODEL_H
#define BH_CLI_MODEL_H

#include <jansson.h>

#include "cli/commands.h"
#include "datasets/dataset.h"
#include "metrics/metric.h"
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

/* cmd_metric.c: metric `name` of model m on dataset spec with the protocol's defaults; variant
 * NULL, or "continuous" (sap), "multinomial" (zdiff), "mlp" (probe).  split[4] (by bh_split)
 * keeps the splits opened for the next call; the caller frees them. */
int bh_cli_metric_model(const char *cmd, bh_model *m, const char *spec, bh_dataset **split,
                        const char *name, const char *variant, unsigned long long seed,
                        bh_metric_result *r);
/* bh_versions_json() plus liblinear's version. */
json_t *bh_cli_versions_json(void);

#endif
