/* modelcheck.h — whole-model checks shared by the model tests: a finite-difference gradient
 * check of one update phase over every tensor of the parameter group it trains, on tiny
 * networks.
 *
 * The analytic gradient comes from the model's own loss(phase) and backward, with every group
 * but m->phase_group[phase] frozen; the numeric one is the central difference
 *     num = (L(θ + eps) − L(θ − eps)) / (2 eps)
 * of the same scalar loss, evaluated with gradients off.  Every evaluation (analytic and numeric)
 * starts from a reset tape and a fresh bh_rng of the same seed, so the reparameterisation noise,
 * permutations etc. are identical each time, and first runs the loss functions of the earlier
 * phases 0..phase−1 (gradients off) so a later phase finds whatever they stashed.
 * Pass when |num − ana| ≤ atol + rtol·max(|num|, |ana|) for every checked element.  The loss is
 * float32, so its rounding error is about 1e-7·|L|/eps: choose eps ≈ 1e-2 .. 1e-3 and
 * tolerances accordingly (each test states its own).
 */
#ifndef BH_TEST_MODELCHECK_H
#define BH_TEST_MODELCHECK_H

#include <stdint.h>

#include "core/adam.h"
#include "models/model.h"

/* Check the gradient of loss(phase) with respect to every tensor of group
 * m->phase_group[phase], on all elements of a tensor of at most max_elems_per_tensor elements
 * and a seeded random subset of that many otherwise (0: 32).  Prints the worst element of each
 * tensor; returns 0 when all pass, -1 with a message on stderr naming the tensor and element
 * when one fails (or when the loss or backward fails).  Leaves every group unfrozen and the
 * parameters as they were. */
int mc_check_phase(bh_model *m, int phase, const bh_batch *batches, uint64_t rng_seed,
                   double eps, double atol, double rtol, int max_elems_per_tensor);

/* x[0 .. n·size−1] = 1 with probability p_one, else 0, from a generator seeded with seed. */
void mc_random_binary_images(float *x, int n, int size, unsigned long seed, double p_one);

/* ---- toy models (CMocka assertion failures) ---- */

/* A model of class cls on data: the class's configuration with the "key=value" settings of
 * base, then of sets (both NULL-terminated, either NULL), parameters from a bh_rng of seed.
 * NULL when bh_model_create refuses it (the message in bh_error_message()). */
bh_model *mc_model_try(const bh_model_class *cls, const bh_data_info *data,
                       const char *const *base, const char *const *sets, uint64_t seed);
/* The same, a failure naming the class when bh_model_create refuses it. */
bh_model *mc_model_make(const bh_model_class *cls, const bh_data_info *data,
                        const char *const *base, const char *const *sets, uint64_t seed);

/* m->cls->loss of one phase; a failure when it fails or is not a scalar. */
bh_tensor *mc_run_loss(bh_model *m, bh_ctx *ctx, int phase, const bh_batch *b, bh_rng *rng,
                       bh_terms *terms);

/* Phase 0's loss on batch b from a fresh tape and a bh_rng of rng_seed; its terms into *t. */
void mc_phase0_terms(bh_model *m, const bh_batch *b, uint64_t rng_seed, bh_terms *t);

/* The layout of a model with one adversary (FactorVAE's and BHiVAE's discriminators,
 * BHiVAE-sup's adversaries): groups "main" and adv, phase 0 trains main and phase 1 adv, whose
 * Adam has lr 1e-4 and betas (0.5, 0.9). */
void mc_expect_adversary_layout(const bh_model *m, const char *adv);

/* |got − want| ≤ rel·max(1, |want|), else a failure naming what. */
void mc_expect_close(const char *what, double got, double want, double rel);

/* One optimiser a group (m->adam[g]) into adam[0 .. m->ngroups−1]; freed by mc_adams_free. */
void mc_adams_alloc(bh_model *m, bh_adam **adam);
void mc_adams_free(const bh_model *m, bh_adam **adam);

/* The group's parameters (every tensor, no padding), malloc'ed. */
float *mc_group_copy(const bh_params *p);
/* How many of the group's parameters differ from the copy `before`. */
int mc_group_changed(const bh_params *p, const float *before);
/* Every parameter of the group = scale·U(−1, 1) from a generator seeded with seed. */
void mc_group_randomise(bh_params *p, unsigned long seed, double scale);

/* Every tensor of the group under "<prefix>." set to zero. */
void mc_params_zero_prefix(bh_params *p, const char *prefix);
/* The output bias of network "<prefix>.*": the last 1-D tensor registered under the prefix
 * (layers register in order); a failure unless it has `size` elements. */
bh_tensor *mc_params_output_bias(const bh_params *p, const char *prefix, size_t size);

/* ---- double-precision recomputations ---- */

/* One row through the MLP "<prefix>.<l>.w/b", l = 0 .. nlayers−1, in double: widths[0] →
 * widths[1] → ... → widths[nlayers] (each ≤ 256; a failure unless every w is widths[l+1] ×
 * widths[l]), LeakyReLU(0.2) after every layer but the last. */
void mc_mlp_double(const bh_params *p, const char *prefix, int nlayers, const int *widths,
                   const double *in, double *out);
double mc_softplus(double x);
/* −log softmax(l)[y] over k logits */
double mc_cross_entropy(const double *l, int k, int y);
/* The first index of the largest of k values. */
int mc_argmax(const double *l, int k);

#endif
