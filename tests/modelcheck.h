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

#endif
