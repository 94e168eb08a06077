/* rng.c — named random streams (see rng.h). */
#include "core/rng.h"

#include <gsl/gsl_randist.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define RNG_MAGIC "BHRNG1\0\0"
#define RNG_MAGIC_LEN 8

typedef struct stream {
  char name[BH_RNG_NAME_MAX + 1];
  gsl_rng *g;
} stream;

struct bh_rng {
  uint64_t seed;
  int n, cap;
  stream *s;
};

/* The generator of every stream: MT19937 (long period, 2.5 KB state, GSL's default). */
static const gsl_rng_type *rng_type(void) { return gsl_rng_mt19937; }
static const char *rng_type_name(void) { return rng_type()->name; }

static uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t fnv1a64(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

unsigned long bh_rng_stream_seed(uint64_t seed, const char *name) {
  /* The name hash goes through splitmix64 too, so names differing in one byte land far apart. */
  uint64_t h = splitmix64(seed ^ splitmix64(fnv1a64(name)));
  return (unsigned long)(h & 0xffffffffull); /* MT19937 keeps 32 bits of its seed */
}

bh_rng *bh_rng_alloc(uint64_t seed) {
  bh_rng *r = calloc(1, sizeof *r);
  if (!r) {
    bh_error(BH_ENOMEM, "rng: out of memory");
    return NULL;
  }
  r->seed = seed;
  return r;
}

void bh_rng_free(bh_rng *r) {
  if (!r) return;
  for (int i = 0; i < r->n; i++) gsl_rng_free(r->s[i].g);
  free(r->s);
  free(r);
}

uint64_t bh_rng_seed(const bh_rng *r) { return r->seed; }

static stream *stream_find(const bh_rng *r, const char *name, size_t len) {
  for (int i = 0; i < r->n; i++)
    if (strlen(r->s[i].name) == len && memcmp(r->s[i].name, name, len) == 0) return &r->s[i];
  return NULL;
}

/* Find or create stream name[0..len-1] (len already checked: 1 .. BH_RNG_NAME_MAX). */
static stream *stream_get(bh_rng *r, const char *name, size_t len) {
  stream *s = stream_find(r, name, len);
  if (s) return s;
  if (r->n == r->cap) {
    int cap = r->cap ? 2 * r->cap : 8;
    stream *ns = realloc(r->s, (size_t)cap * sizeof *ns);
    if (!ns) goto nomem;
    r->s = ns;
    r->cap = cap;
  }
  s = &r->s[r->n];
  memcpy(s->name, name, len);
  s->name[len] = '\0';
  s->g = gsl_rng_alloc(rng_type());
  if (!s->g) goto nomem;
  gsl_rng_set(s->g, bh_rng_stream_seed(r->seed, s->name));
  r->n++;
  return s;
nomem:
  bh_error(BH_ENOMEM, "rng: out of memory creating stream '%.*s'", (int)len, name);
  return NULL;
}

gsl_rng *bh_rng_stream(bh_rng *r, const char *name) {
  size_t len = name ? strlen(name) : 0;
  if (len == 0 || len > BH_RNG_NAME_MAX) {
    bh_error(BH_EINVAL, "rng: stream name must have 1 to %d characters", BH_RNG_NAME_MAX);
    return NULL;
  }
  stream *s = stream_get(r, name, len);
  return s ? s->g : NULL;
}

/* ---- state bytes: explicit little-endian fields, so files move between hosts ---- */

static unsigned char *put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
  return p + 4;
}

static unsigned char *put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
  return p + 8;
}

static unsigned char *put_bytes(unsigned char *p, const void *src, size_t n) {
  memcpy(p, src, n);
  return p + n;
}

size_t bh_rng_state_size(const bh_rng *r) {
  size_t n = RNG_MAGIC_LEN + 4 + strlen(rng_type_name()) + 8 + 4;
  for (int i = 0; i < r->n; i++) n += 4 + strlen(r->s[i].name) + 4 + gsl_rng_size(r->s[i].g);
  return n;
}

int bh_rng_state_get(const bh_rng *r, void *buf, size_t cap) {
  size_t need = bh_rng_state_size(r);
  if (cap < need)
    return bh_error(BH_EINVAL, "rng: state needs %zu bytes, buffer has %zu", need, cap);
  const char *type = rng_type_name();
  unsigned char *p = buf;
  p = put_bytes(p, RNG_MAGIC, RNG_MAGIC_LEN);
  p = put_u32(p, (uint32_t)strlen(type));
  p = put_bytes(p, type, strlen(type));
  p = put_u64(p, r->seed);
  p = put_u32(p, (uint32_t)r->n);
  for (int i = 0; i < r->n; i++) {
    size_t len = strlen(r->s[i].name), sz = gsl_rng_size(r->s[i].g);
    p = put_u32(p, (uint32_t)len);
    p = put_bytes(p, r->s[i].name, len);
    p = put_u32(p, (uint32_t)sz);
    p = put_bytes(p, gsl_rng_state(r->s[i].g), sz);
  }
  return BH_OK;
}

/* A bounds-checked reader over the state bytes. */
typedef struct reader {
  const unsigned char *p, *end;
  int bad;
} reader;

static const unsigned char *take(reader *rd, size_t n) {
  if (rd->bad || (size_t)(rd->end - rd->p) < n) {
    rd->bad = 1;
    return NULL;
  }
  const unsigned char *q = rd->p;
  rd->p += n;
  return q;
}

static uint64_t take_uint(reader *rd, int bytes) {
  const unsigned char *q = take(rd, (size_t)bytes);
  uint64_t v = 0;
  for (int i = 0; q && i < bytes; i++) v |= (uint64_t)q[i] << (8 * i);
  return v;
}

/* One stream record: name and state (pointers into the buffer). */
typedef struct record {
  const char *name;
  size_t name_len;
  const unsigned char *state;
  size_t state_len;
} record;

static int read_record(reader *rd, record *rc) {
  rc->name_len = take_uint(rd, 4);
  rc->name = (const char *)take(rd, rc->name_len);
  rc->state_len = take_uint(rd, 4);
  rc->state = take(rd, rc->state_len);
  return !rd->bad;
}

/* Parse the header; returns the stream count or -1. */
static long read_header(reader *rd, uint64_t *seed) {
  const char *type = rng_type_name();
  const unsigned char *magic = take(rd, RNG_MAGIC_LEN);
  if (!magic || memcmp(magic, RNG_MAGIC, RNG_MAGIC_LEN) != 0) return -1;
  size_t tlen = take_uint(rd, 4);
  const unsigned char *t = take(rd, tlen);
  if (!t || tlen != strlen(type) || memcmp(t, type, tlen) != 0) return -1;
  *seed = take_uint(rd, 8);
  long n = (long)take_uint(rd, 4);
  return rd->bad ? -1 : n;
}

int bh_rng_state_set(bh_rng *r, const void *buf, size_t len) {
  const size_t state_size = rng_type()->size;
  reader rd = {buf, (const unsigned char *)buf + len, 0};
  uint64_t seed;
  long n = read_header(&rd, &seed);
  if (n < 0) return bh_error(BH_EFORMAT, "rng: state is not a saved %s stream set", rng_type_name());
  /* Validate every record before touching r. */
  reader check = rd;
  for (long i = 0; i < n; i++) {
    record rc;
    if (!read_record(&check, &rc) || rc.name_len == 0 || rc.name_len > BH_RNG_NAME_MAX ||
        rc.state_len != state_size)
      return bh_error(BH_EFORMAT, "rng: saved state of stream %ld is malformed", i);
  }
  if (check.p != check.end) return bh_error(BH_EFORMAT, "rng: trailing bytes after the saved state");
  r->seed = seed; /* streams created from now on start as in the saved run */
  for (long i = 0; i < n; i++) {
    record rc;
    read_record(&rd, &rc);
    stream *s = stream_get(r, rc.name, rc.name_len);
    if (!s) return BH_ENOMEM;
    memcpy(gsl_rng_state(s->g), rc.state, state_size);
  }
  return BH_OK;
}

/* ---- helpers ---- */

void bh_rng_shuffle_int(gsl_rng *g, int *perm, int n) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)gsl_rng_uniform_int(g, (unsigned long)i + 1);
    int t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

void bh_rng_permutation(gsl_rng *g, int *perm, int n) {
  for (int i = 0; i < n; i++) perm[i] = i;
  bh_rng_shuffle_int(g, perm, n);
}

void bh_rng_fill_normal(gsl_rng *g, float *out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = (float)gsl_ran_gaussian_ziggurat(g, 1.0);
}

void bh_rng_fill_uniform(gsl_rng *g, float *out, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) out[i] = lo + (hi - lo) * (float)gsl_rng_uniform(g);
}
