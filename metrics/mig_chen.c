/* mig_chen.c — Chen et al.'s full-dataset MIG (baselines-spec §4.3 (a); rtqichen/beta-tcvae
 * `disentanglement_metrics.py` mutual_info_metric_shapes + `elbo_decomposition.py`
 * estimate_entropies, read for semantics only).
 *
 * The estimator, as the reference computes it:
 *   1. one code per example, z_n ~ q(z|x_n) = N(mu_n, diag e^{logvar_n}), drawn once and shared
 *      by every entropy below;
 *   2. an entropy "family" is a set of M examples (the whole dataset for H(z_j), the examples
 *      with v_k = u for H(z_j | v_k = u)).  The reference picks S = min(n_marginal, M) of them
 *      with torch.randperm(M)[:S] — without replacement — and uses *their* sampled codes as the
 *      points; for each point z_s and dim j it computes
 *          log q(z_sj) = logsumexp_n∈family log N(z_sj; mu_nj, σ_nj) − ln M
 *      (the point's own example included, uniform weights −ln M), and H_j = −mean_s log q(z_sj);
 *   3. H(z_j | v_k) = Σ_u w_u H_j(family u).  The reference hard-codes w_u = 1/|V_k| (the
 *      dSprites grid is balanced); we use the subset share M_u / N, which is the same number on
 *      a balanced grid and the correct conditional entropy otherwise (values with no example
 *      get weight 0);
 *   4. I(z_j; v_k) = H_j − H(z_j|v_k), clamped at 0, divided by ln |V_k| (the reference's
 *      normaliser, = H(v_k) on the balanced grid); per factor the gap between the two largest
 *      normalised MIs over j; score = mean over factors with use[k] != 0 (dSprites: shape
 *      skipped).  With a single code dimension the second largest is taken as 0.
 *
 * Random draws, in this order, all from the gsl_rng given: the N×d standard normals of step 1
 * (gsl_ran_gaussian, example-major), then for each family (the marginal first, then the used
 * factors in order, values u ascending) a partial Fisher–Yates shuffle of the family's member
 * list when S < M (gsl_rng_uniform_int(r, M − i) for i = 0 .. S−1); no draw when S = M.
 *
 * Cost: S·M·d Gaussian log-densities per family, ~3.7·10^11 on full dSprites.  The loop is
 * blocked (a block of points × a block of examples whose parameters stay in L1), the inner loop
 * is a branch-free 8-lane sum of bh_fast_expf, and the points are split over the cores by
 * bh_parallel_for.  The logsumexp uses one shift per (family, dim): the largest log-normaliser
 * −½ logvar − ½ ln 2π in the family, an upper bound of every log-density, so no term can
 * overflow and no per-block max is needed; a point whose shifted sum underflows (only possible
 * with posterior variances e^{±160} apart) is recomputed exactly in double with its own max.
 * Precision: float32 differences z − mu after centring each dim on its mean of mu (in double),
 * so σ should stay ≫ 1e-7 × the spread of mu; partial sums of the exponentials are per block in
 * float (8 lanes, blocks of 1024) and across blocks in double.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_randist.h>

#include "core/error.h"
#include "core/fastmath.h"
#include "core/threads.h"
#include "metrics/metrics.h"

enum {
  CHEN_BLOCK_N = 1024, /* examples per block: 3 × 4 KB of parameters, L1-resident */
  CHEN_BLOCK_P = 32    /* points sharing one pass over a block */
};

static double chen_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Progress over the whole metric (all families), reported by the thread that runs part 0. */
typedef struct chen_progress {
  _Atomic unsigned long long done; /* density evaluations finished */
  unsigned long long total;
  double t0, last;
  int tty;
} chen_progress;

static void chen_progress_report(chen_progress *pg, int final) {
  double now = chen_now();
  double every = pg->tty ? 0.5 : 30.0;
  if (!final && now - pg->last < every) return;
  if (final && pg->last == pg->t0) return; /* short runs stay silent */
  pg->last = now;
  double frac = (double)atomic_load(&pg->done) / (double)(pg->total ? pg->total : 1);
  double el = now - pg->t0, eta = frac > 0 ? el * (1 - frac) / frac : 0;
  if (pg->tty)
    fprintf(stderr, "\rmig-chen: %5.1f%%  %.0f s elapsed, ETA %.0f s   %s", 100 * frac, el, eta,
            final ? "\n" : "");
  else
    fprintf(stderr, "mig-chen: %.1f%% after %.0f s, ETA %.0f s\n", 100 * frac, el, eta);
}

/* One family's parameters, dim-major (index j·m + i) so the inner loop is contiguous. */
typedef struct chen_family {
  size_t m;        /* members */
  size_t s;        /* points */
  int d;
  float *mu;       /* d × m: mu − centre_j */
  float *ih;       /* d × m: ½ e^{−logvar} */
  float *ln;       /* d × m: −½ logvar − ½ ln 2π − shift_j */
  double *shift;   /* d */
  float *pts;      /* d × s: the points' sampled codes − centre_j */
  double *logq;    /* d × s: log (1/m Σ_n q(z_sj | x_n)) */
  chen_progress *pg;
} chen_family;

/* Σ_i e^{ln_i − (z − mu_i)² ih_i} over one block, in 8 float lanes (vectorisable). */
static float chen_block_sum(float z, const float *mu, const float *ih, const float *ln,
                            size_t len) {
  float acc[8] = {0};
  size_t nb = len / 8;
  for (size_t b = 0; b < nb; b++)
    for (size_t l = 0; l < 8; l++) {
      size_t i = 8 * b + l;
      float t = z - mu[i];
      acc[l] += bh_fast_expf(ln[i] - t * t * ih[i]);
    }
  for (size_t i = 8 * nb; i < len; i++) {
    float t = z - mu[i];
    acc[i - 8 * nb] += bh_fast_expf(ln[i] - t * t * ih[i]);
  }
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/* Exact fallback for one point: logsumexp with its own max, in double. */
static double chen_point_exact(const chen_family *fa, int j, float z) {
  const float *mu = fa->mu + (size_t)j * fa->m, *ih = fa->ih + (size_t)j * fa->m;
  const float *ln = fa->ln + (size_t)j * fa->m;
  double mx = -INFINITY;
  for (size_t i = 0; i < fa->m; i++) {
    double t = (double)z - mu[i], a = ln[i] - t * t * ih[i];
    if (a > mx) mx = a;
  }
  double s = 0;
  for (size_t i = 0; i < fa->m; i++) {
    double t = (double)z - mu[i], a = ln[i] - t * t * ih[i];
    s += exp(a - mx);
  }
  return fa->shift[j] + mx + log(s) - log((double)fa->m);
}

/* Tasks t = j·s + p (dim j, point p): a contiguous range, walked dim by dim in groups of
 * CHEN_BLOCK_P points, each group sweeping the examples block by block. */
static void chen_range(size_t begin, size_t end, void *arg) {
  chen_family *fa = arg;
  size_t m = fa->m, S = fa->s;
  double acc[CHEN_BLOCK_P];
  for (size_t t = begin; t < end;) {
    int j = (int)(t / S);
    size_t p0 = t % S, p1 = p0 + CHEN_BLOCK_P;
    if (p1 > S) p1 = S;
    if (p1 - p0 > end - t) p1 = p0 + (end - t);
    const float *mu = fa->mu + (size_t)j * m, *ih = fa->ih + (size_t)j * m;
    const float *ln = fa->ln + (size_t)j * m, *pts = fa->pts + (size_t)j * S;
    for (size_t p = p0; p < p1; p++) acc[p - p0] = 0;
    for (size_t n0 = 0; n0 < m; n0 += CHEN_BLOCK_N) {
      size_t len = m - n0 < CHEN_BLOCK_N ? m - n0 : CHEN_BLOCK_N;
      for (size_t p = p0; p < p1; p++)
        acc[p - p0] += chen_block_sum(pts[p], mu + n0, ih + n0, ln + n0, len);
    }
    for (size_t p = p0; p < p1; p++) {
      double v = acc[p - p0];
      fa->logq[(size_t)j * S + p] =
          v > 1e-30 ? fa->shift[j] + log(v) - log((double)m) : chen_point_exact(fa, j, pts[p]);
    }
    atomic_fetch_add(&fa->pg->done, (unsigned long long)(p1 - p0) * m);
    if (begin == 0) chen_progress_report(fa->pg, 0);
    t += p1 - p0;
  }
}

/* Entropies H_j (d values) of the family `idx` (m members): fills the family from the global
 * arrays, picks the points, runs the blocked loop. */
static int chen_family_entropy(const double *mu_c, const double *lv, const float *z, int d,
                               size_t *idx, size_t m, size_t n_points, gsl_rng *r,
                               chen_progress *pg, double *h) {
  chen_family fa = {.m = m, .s = n_points < m ? n_points : m, .d = d, .pg = pg};
  size_t S = fa.s;
  fa.mu = malloc(sizeof(float) * (size_t)d * m);
  fa.ih = malloc(sizeof(float) * (size_t)d * m);
  fa.ln = malloc(sizeof(float) * (size_t)d * m);
  fa.shift = malloc(sizeof(double) * (size_t)d);
  fa.pts = malloc(sizeof(float) * (size_t)d * S);
  fa.logq = malloc(sizeof(double) * (size_t)d * S);
  int st = BH_OK;
  if (!fa.mu || !fa.ih || !fa.ln || !fa.shift || !fa.pts || !fa.logq) {
    st = bh_error(BH_ENOMEM, "mig-chen: out of memory for a family of %zu examples", m);
    goto done;
  }
  /* Points: the first S members after a partial shuffle (randperm(M)[:S] in the reference). */
  if (S < m)
    for (size_t i = 0; i < S; i++) {
      size_t k = i + (size_t)gsl_rng_uniform_int(r, (unsigned long)(m - i));
      size_t tmp = idx[i];
      idx[i] = idx[k];
      idx[k] = tmp;
    }
  const double half_ln2pi = 0.91893853320467274178; /* ½ ln 2π */
  for (int j = 0; j < d; j++) {
    double sh = -INFINITY;
    for (size_t i = 0; i < m; i++) {
      double l = -0.5 * lv[idx[i] * (size_t)d + (size_t)j] - half_ln2pi;
      if (l > sh) sh = l;
    }
    fa.shift[j] = sh;
    for (size_t i = 0; i < m; i++) {
      size_t o = idx[i] * (size_t)d + (size_t)j, q = (size_t)j * m + i;
      fa.mu[q] = (float)mu_c[o];
      fa.ih[q] = (float)(0.5 * exp(-lv[o]));
      fa.ln[q] = (float)(-0.5 * lv[o] - half_ln2pi - sh);
    }
    for (size_t p = 0; p < S; p++) fa.pts[(size_t)j * S + p] = z[idx[p] * (size_t)d + (size_t)j];
  }
  size_t grain = 100000 / m + 1;
  bh_parallel_for((size_t)d * S, grain, chen_range, &fa);
  for (int j = 0; j < d; j++) {
    double s = 0;
    for (size_t p = 0; p < S; p++) s += fa.logq[(size_t)j * S + p];
    h[j] = -s / (double)S;
  }
done:
  free(fa.mu);
  free(fa.ih);
  free(fa.ln);
  free(fa.shift);
  free(fa.pts);
  free(fa.logq);
  return st;
}

static int chen_check(const bh_codes *mu, const bh_codes *logvar, const bh_factors *f,
                      const int *sizes, const int *use, size_t n_marginal) {
  if (!mu || !logvar || !f || !sizes || !use || !mu->x || !logvar->x || !f->y)
    return bh_error(BH_EINVAL, "mig-chen: NULL argument");
  if (mu->n == 0 || mu->d < 1 || logvar->n != mu->n || logvar->d != mu->d || f->n != mu->n)
    return bh_error(BH_EINVAL, "mig-chen: mu %zu×%d, logvar %zu×%d and factors %zu×%d disagree",
                    mu->n, mu->d, logvar->n, logvar->d, f->n, f->k);
  if (n_marginal < 1) return bh_error(BH_EINVAL, "mig-chen: n_marginal must be ≥ 1");
  int nused = 0;
  for (int k = 0; k < f->k; k++) {
    if (!use[k]) continue;
    nused++;
    if (sizes[k] < 2)
      return bh_error(BH_EINVAL, "mig-chen: factor %d has size %d (needs ≥ 2)", k, sizes[k]);
  }
  if (!nused) return bh_error(BH_EINVAL, "mig-chen: no factor is used");
  for (size_t n = 0; n < mu->n; n++) {
    for (int k = 0; k < f->k; k++) {
      int v = f->y[n * (size_t)f->k + (size_t)k];
      if (use[k] && (v < 0 || v >= sizes[k]))
        return bh_error(BH_EINVAL, "mig-chen: row %zu: factor %d value %d outside 0..%d", n, k,
                        v, sizes[k] - 1);
    }
    for (int j = 0; j < mu->d; j++) {
      size_t o = n * (size_t)mu->d + (size_t)j;
      if (!isfinite(mu->x[o]) || !isfinite(logvar->x[o]))
        return bh_error(BH_ENUM, "mig-chen: row %zu: non-finite mu or logvar", n);
    }
  }
  return BH_OK;
}

static json_t *chen_json_vec(const double *v, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
  return a;
}

int bh_metric_mig_chen(const bh_codes *mu, const bh_codes *logvar, const bh_factors *f,
                       const int *factor_sizes, const int *use, size_t n_marginal, gsl_rng *r,
                       bh_metric_result *out) {
  int st = chen_check(mu, logvar, f, factor_sizes, use, n_marginal);
  if (st) return st;
  if (!r || !out) return bh_error(BH_EINVAL, "mig-chen: NULL rng or result");
  size_t N = mu->n;
  int d = mu->d, K = f->k;
  double t0 = chen_now();

  double *mu_c = malloc(sizeof(double) * N * (size_t)d);
  double *lv = malloc(sizeof(double) * N * (size_t)d);
  float *z = malloc(sizeof(float) * N * (size_t)d);
  size_t *idx = malloc(sizeof(size_t) * N);
  double *hm = malloc(sizeof(double) * (size_t)d);
  double *hc = calloc((size_t)K * (size_t)d, sizeof(double));
  double *hu = malloc(sizeof(double) * (size_t)d);
  double *mi = calloc((size_t)K * (size_t)d, sizeof(double));
  double *centre = calloc((size_t)d, sizeof(double));
  if (!mu_c || !lv || !z || !idx || !hm || !hc || !hu || !mi || !centre) {
    st = bh_error(BH_ENOMEM, "mig-chen: out of memory for %zu × %d codes", N, d);
    goto done;
  }
  /* Step 1: the sampled codes, and everything centred per dim (precision of float z − mu). */
  for (size_t n = 0; n < N; n++)
    for (int j = 0; j < d; j++) centre[j] += mu->x[n * (size_t)d + (size_t)j];
  for (int j = 0; j < d; j++) centre[j] /= (double)N;
  for (size_t n = 0; n < N; n++)
    for (int j = 0; j < d; j++) {
      size_t o = n * (size_t)d + (size_t)j;
      double eps = gsl_ran_gaussian(r, 1.0);
      lv[o] = logvar->x[o];
      mu_c[o] = mu->x[o] - centre[j];
      z[o] = (float)(mu_c[o] + exp(0.5 * lv[o]) * eps);
    }

  chen_progress pg = {.t0 = t0, .last = t0, .tty = isatty(STDERR_FILENO)};
  atomic_init(&pg.done, 0ULL);
  size_t *count = NULL;
  /* Total work for the ETA: S·M·d per family. */
  {
    unsigned long long tot = (unsigned long long)(n_marginal < N ? n_marginal : N) * N;
    for (int k = 0; k < K; k++) {
      if (!use[k]) continue;
      count = calloc((size_t)factor_sizes[k], sizeof(size_t));
      if (!count) {
        st = bh_error(BH_ENOMEM, "mig-chen: out of memory");
        goto done;
      }
      for (size_t n = 0; n < N; n++) count[f->y[n * (size_t)K + (size_t)k]]++;
      for (int u = 0; u < factor_sizes[k]; u++)
        tot += (unsigned long long)(n_marginal < count[u] ? n_marginal : count[u]) * count[u];
      free(count);
      count = NULL;
    }
    pg.total = tot * (unsigned long long)d;
  }

  /* Step 2: H(z_j) over the whole dataset. */
  for (size_t n = 0; n < N; n++) idx[n] = n;
  st = chen_family_entropy(mu_c, lv, z, d, idx, N, n_marginal, r, &pg, hm);
  if (st) goto done;

  /* Step 3: H(z_j | v_k) = Σ_u (M_u / N) H_j(examples with v_k = u). */
  json_t *fac = json_array();
  double score = 0;
  int nused = 0;
  for (int k = 0; k < K; k++) {
    if (!use[k]) {
      json_array_append_new(fac, json_null());
      continue;
    }
    for (int u = 0; u < factor_sizes[k]; u++) {
      size_t m = 0;
      for (size_t n = 0; n < N; n++)
        if (f->y[n * (size_t)K + (size_t)k] == u) idx[m++] = n;
      if (m == 0) continue;
      st = chen_family_entropy(mu_c, lv, z, d, idx, m, n_marginal, r, &pg, hu);
      if (st) {
        json_decref(fac);
        goto done;
      }
      for (int j = 0; j < d; j++) hc[(size_t)k * d + j] += (double)m / (double)N * hu[j];
    }
    /* Step 4: clamped, normalised MI and the gap of the two largest. */
    double top1 = 0, top2 = 0, lnv = log((double)factor_sizes[k]);
    for (int j = 0; j < d; j++) {
      double v = hm[j] - hc[(size_t)k * d + j];
      v = (v > 0 ? v : 0) / lnv;
      mi[(size_t)k * d + j] = v;
      if (v > top1) {
        top2 = top1;
        top1 = v;
      } else if (v > top2) {
        top2 = v;
      }
    }
    score += top1 - top2;
    nused++;
    json_t *o = json_object();
    json_object_set_new(o, "factor", json_integer(k));
    json_object_set_new(o, "gap", json_real(top1 - top2));
    json_object_set_new(o, "mi_normalised", chen_json_vec(mi + (size_t)k * d, d));
    json_object_set_new(o, "conditional_entropies", chen_json_vec(hc + (size_t)k * d, d));
    json_array_append_new(fac, o);
  }
  chen_progress_report(&pg, 1);

  bh_metric_result_init(out, "mig-chen");
  snprintf(out->variant, sizeof out->variant,
           "Chen et al. beta-tcvae: one z~q(z|x) per example; H(z_j), H(z_j|v_k=u) = -mean log "
           "(1/M sum_n q(z_j|x_n)) over S=min(%zu,M) points w/o replacement; conditionals "
           "weighted M_u/N; MI clamped >= 0, / ln|V_k|; mean top-2 gap",
           n_marginal);
  out->score = score / nused;
  out->n_train = N;
  out->n_test = 0;
  out->seed = 0;
  json_t *det = json_object();
  json_object_set_new(det, "marginal_entropies", chen_json_vec(hm, d));
  json_object_set_new(det, "factors", fac);
  json_object_set_new(det, "n_marginal", json_integer((json_int_t)n_marginal));
  json_object_set_new(det, "density_evaluations", json_real((double)pg.total));
  json_object_set_new(det, "threads", json_integer(bh_threads_get()));
  json_object_set_new(det, "seconds", json_real(chen_now() - t0));
  json_decref(out->details);
  out->details = det;

done:
  free(mu_c);
  free(lv);
  free(z);
  free(idx);
  free(hm);
  free(hc);
  free(hu);
  free(mi);
  free(centre);
  return st;
}
