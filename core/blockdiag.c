/* blockdiag.c — block-diagonal covariances for BHiVAE's correlated prior N(0, Σ).
 *
 * Each block is factored once with GSL (Cholesky; inverse and log-determinant from the factor),
 * so the KL term and the sampler only read precomputed matrices.  Blocks are small (the units
 * of one latent group), so everything is kept in double.
 */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ops.h"

void bh_blockdiag_free(bh_blockdiag *s) {
  if (!s) return;
  free(s->start);
  free(s->size);
  free(s->cov);
  free(s->inv);
  free(s->chol);
  free(s);
}

/* Factor one k×k block: chol = lower L with L Lᵀ = cov (upper part zero), inv = cov⁻¹;
 * adds log|cov| to *logdet.  BH_EINVAL when the block is not positive definite. */
static int factor_block(int b, int k, const double *cov, double *chol, double *inv,
                        double *logdet) {
  memcpy(chol, cov, (size_t)k * k * sizeof(double));
  gsl_matrix_view l = gsl_matrix_view_array(chol, (size_t)k, (size_t)k);
  /* GSL reports a non-positive-definite matrix through its error handler, which aborts by
   * default; a library must return the error instead, so the handler is off for this call. */
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int st = gsl_linalg_cholesky_decomp1(&l.matrix);
  if (st == GSL_SUCCESS) {
    memcpy(inv, chol, (size_t)k * k * sizeof(double));
    gsl_matrix_view vi = gsl_matrix_view_array(inv, (size_t)k, (size_t)k);
    st = gsl_linalg_cholesky_invert(&vi.matrix);
  }
  gsl_set_error_handler(old);
  if (st != GSL_SUCCESS)
    return bh_error(BH_EINVAL, "blockdiag: block %d (%d x %d) is not positive definite (%s)", b,
                    k, k, gsl_strerror(st));
  for (int i = 0; i < k; i++) {
    double lii = chol[(size_t)i * k + i];
    if (!(lii > 0.0) || !isfinite(lii))
      return bh_error(BH_EINVAL, "blockdiag: block %d is not positive definite (pivot %d = %g)",
                      b, i, lii);
    *logdet += 2.0 * log(lii);
    for (int j = i + 1; j < k; j++) chol[(size_t)i * k + j] = 0.0; /* keep L only */
  }
  return BH_OK;
}

/* BH_EINVAL unless the k×k block is finite and symmetric (to a relative 1e-12). */
static int check_symmetric(int b, int k, const double *a) {
  for (int i = 0; i < k; i++)
    for (int j = 0; j <= i; j++) {
      double x = a[(size_t)i * k + j], y = a[(size_t)j * k + i];
      if (!isfinite(x) || !isfinite(y))
        return bh_error(BH_EINVAL, "blockdiag: block %d has a non-finite entry at (%d, %d)", b,
                        i, j);
      if (fabs(x - y) > 1e-12 * fmax(1.0, fmax(fabs(x), fabs(y))))
        return bh_error(BH_EINVAL, "blockdiag: block %d is not symmetric at (%d, %d): %g vs %g",
                        b, i, j, x, y);
    }
  return BH_OK;
}

bh_blockdiag *bh_blockdiag_alloc(int nblocks, const int *sizes, const double *cov) {
  if (nblocks < 1 || !sizes || !cov) {
    bh_error(BH_EINVAL, "blockdiag: need at least one block with sizes and covariances "
                        "(nblocks = %d)", nblocks);
    return NULL;
  }
  size_t dim = 0, entries = 0;
  for (int b = 0; b < nblocks; b++) {
    if (sizes[b] < 1) {
      bh_error(BH_EINVAL, "blockdiag: block %d has size %d, sizes must be positive", b, sizes[b]);
      return NULL;
    }
    dim += (size_t)sizes[b];
    entries += (size_t)sizes[b] * sizes[b];
  }
  bh_blockdiag *s = calloc(1, sizeof *s);
  if (!s) goto nomem;
  s->dim = (int)dim, s->nblocks = nblocks;
  s->start = malloc((size_t)nblocks * sizeof *s->start);
  s->size = malloc((size_t)nblocks * sizeof *s->size);
  s->cov = malloc(entries * sizeof *s->cov);
  s->inv = malloc(entries * sizeof *s->inv);
  s->chol = malloc(entries * sizeof *s->chol);
  if (!s->start || !s->size || !s->cov || !s->inv || !s->chol) goto nomem;
  memcpy(s->cov, cov, entries * sizeof *s->cov);
  size_t off = 0;
  int start = 0;
  for (int b = 0; b < nblocks; b++) {
    int k = sizes[b];
    s->start[b] = start, s->size[b] = k;
    if (check_symmetric(b, k, s->cov + off) != BH_OK ||
        factor_block(b, k, s->cov + off, s->chol + off, s->inv + off, &s->logdet) != BH_OK) {
      bh_blockdiag_free(s);
      return NULL;
    }
    start += k;
    off += (size_t)k * k;
  }
  return s;
nomem:
  bh_blockdiag_free(s);
  bh_error(BH_ENOMEM, "blockdiag: out of memory for %d blocks over %zu dimensions", nblocks, dim);
  return NULL;
}

bh_blockdiag *bh_blockdiag_alloc_uniform(int d, int k, double rho) {
  if (d < 1 || k < 1) {
    bh_error(BH_EINVAL, "blockdiag: dimension %d and block size %d must be positive", d, k);
    return NULL;
  }
  if (k > d) k = d;
  int nblocks = (d + k - 1) / k;
  int *sizes = malloc((size_t)nblocks * sizeof *sizes);
  double *cov = malloc((size_t)nblocks * k * k * sizeof *cov); /* enough: every block ≤ k */
  bh_blockdiag *s = NULL;
  if (!sizes || !cov) {
    bh_error(BH_ENOMEM, "blockdiag: out of memory for %d blocks", nblocks);
    goto done;
  }
  double *c = cov;
  for (int b = 0; b < nblocks; b++) {
    int kb = b < nblocks - 1 ? k : d - k * (nblocks - 1);
    sizes[b] = kb;
    for (int i = 0; i < kb; i++)
      for (int j = 0; j < kb; j++) *c++ = i == j ? 1.0 : rho;
  }
  s = bh_blockdiag_alloc(nblocks, sizes, cov);
  if (!s && bh_error_code() == BH_EINVAL)
    bh_error(BH_EINVAL,
             "blockdiag: blocks of size %d with correlation %g are not positive definite "
             "(need -1/(k-1) < rho < 1)", k, rho);
done:
  free(sizes);
  free(cov);
  return s;
}

/* Each row is L ε block by block.  ε is drawn into the output row itself and overwritten from the
 * last unit up: L is lower triangular, so unit u needs ε_0..ε_u only, none overwritten yet. */
void bh_blockdiag_sample(const bh_blockdiag *s, gsl_rng *r, int n, float *out) {
  if (!s || !r || !out) return;
  for (int i = 0; i < n; i++) {
    float *row = out + (size_t)i * s->dim;
    for (int j = 0; j < s->dim; j++) row[j] = (float)gsl_ran_gaussian_ziggurat(r, 1.0);
    const double *l = s->chol;
    for (int b = 0; b < s->nblocks; b++) {
      int k = s->size[b];
      float *e = row + s->start[b];
      for (int u = k - 1; u >= 0; u--) {
        double acc = 0.0;
        for (int v = 0; v <= u; v++) acc += l[(size_t)u * k + v] * e[v];
        e[u] = (float)acc;
      }
      l += (size_t)k * k;
    }
  }
}
