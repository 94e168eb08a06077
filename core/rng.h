/* rng.h — named random streams over GSL, one seed per run.
 *
 * A run has one seed; each consumer draws from its own stream ("init" for parameter
 * initialisation, "data" for the data order, "noise" for reparameterisation, "adversary" for a
 * discriminator, or any other name).  Stream `name` is a GSL MT19937 generator seeded with
 * splitmix64(seed ^ splitmix64(FNV-1a-64(name))) (low 32 bits, all MT19937 takes), so a draw
 * added to one stream never shifts what another yields, whatever order streams are created in.
 *
 * For checkpoints the state of every stream serialises to bytes (names included) and restores
 * bit-exactly: a resumed run continues the same sequences.
 */
#ifndef BH_RNG_H
#define BH_RNG_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bh_rng bh_rng;

/* The streams of one run; NULL (with bh_error set) when out of memory. */
bh_rng *bh_rng_alloc(uint64_t seed);
void bh_rng_free(bh_rng *r);
uint64_t bh_rng_seed(const bh_rng *r);

/* The generator of stream `name`, created on first use; the same pointer on every call.  Owned
 * by r.  NULL (with bh_error set) when out of memory or the name is empty or too long
 * (BH_RNG_NAME_MAX). */
gsl_rng *bh_rng_stream(bh_rng *r, const char *name);
#define BH_RNG_NAME_MAX 63

/* The 32-bit seed that stream `name` of run `seed` starts from (exposed for tests and logs). */
unsigned long bh_rng_stream_seed(uint64_t seed, const char *name);

/* ---- state, for checkpoints ----
 * Layout (little-endian): "BHRNG1\0\0", u32 length + GSL generator name, u64 seed, u32 stream
 * count, then per stream: u32 name length, name bytes, u32 state length, gsl_rng_state bytes.
 * Streams are in creation order. */

/* Bytes needed by bh_rng_state_get for the streams that exist now. */
size_t bh_rng_state_size(const bh_rng *r);
/* Write the state into buf (cap bytes); BH_EINVAL when cap is too small. */
int bh_rng_state_get(const bh_rng *r, void *buf, size_t cap);
/* Restore from bytes written by bh_rng_state_get: every stream named there takes its saved
 * state (created if missing); streams not named there are left as they are.  BH_EFORMAT when
 * the bytes are malformed or were written by another generator type; r unchanged then. */
int bh_rng_state_set(bh_rng *r, const void *buf, size_t len);

/* ---- helpers ---- */

/* perm[0..n-1] = a uniformly random permutation of 0..n-1 (Fisher–Yates). */
void bh_rng_permutation(gsl_rng *g, int *perm, int n);
/* Shuffle perm[0..n-1] in place (Fisher–Yates). */
void bh_rng_shuffle_int(gsl_rng *g, int *perm, int n);
/* out[0..n-1] ~ N(0, 1) i.i.d. (GSL's ziggurat). */
void bh_rng_fill_normal(gsl_rng *g, float *out, size_t n);
/* out[0..n-1] ~ U[lo, hi) i.i.d. */
void bh_rng_fill_uniform(gsl_rng *g, float *out, size_t n, float lo, float hi);

#endif
