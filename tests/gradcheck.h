/* gradcheck.h — finite-difference gradient check shared by the op tests.
 *
 * The op under test is wrapped in a build function that maps standalone input tensors to an
 * output tensor.  The check seeds backward with fixed random weights R (so every output element
 * carries a different upstream gradient), and compares each analytic input gradient with the
 * central difference of L(x) = Σ R·f(x), accumulated in double:
 *     num = (L(x + eps) − L(x − eps)) / (2 eps).
 * The central difference has truncation error O(eps²·f''') and rounding error about
 * ulp(float)·|f|·sqrt(size)/eps, so with float32 forwards eps ≈ 1e-2 .. 3e-3 balances the two;
 * each test states its eps and tolerance: pass when |num − ana| ≤ atol + rtol·max(|num|, |ana|).
 */
#ifndef BH_TEST_GRADCHECK_H
#define BH_TEST_GRADCHECK_H

#include "core/graph.h"

typedef bh_tensor *(*gc_build_fn)(bh_ctx *ctx, bh_tensor **in, void *user);

typedef struct gc_opts {
  double eps;       /* finite-difference step */
  double atol, rtol;
  int max_elems;    /* elements checked per input (a seeded random subset when larger); 0 = 64 */
} gc_opts;

/* Check every input that requires a gradient.  Prints the worst element of each input and
 * returns 0 when all pass, -1 (with a message on stderr naming label, input and element) when
 * one fails or the forward/backward fails. */
int gc_check(const char *label, gc_build_fn build, bh_tensor **in, int nin, void *user,
             gc_opts opts);

/* Fill a standalone tensor with uniform values in [lo, hi) from a seeded generator. */
void gc_fill_uniform(bh_tensor *t, unsigned long seed, float lo, float hi);
/* The same, but keep |x| ≥ gap (for ops with a kink at 0, like relu). */
void gc_fill_away_from_zero(bh_tensor *t, unsigned long seed, float lo, float hi, float gap);

#endif
