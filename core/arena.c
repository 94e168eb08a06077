/* arena.c — chunked bump allocator (see arena.h). */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/error.h"

#define ARENA_ALIGN 64

typedef struct chunk {
  struct chunk *next;
  size_t size; /* usable bytes after the header */
  size_t used;
  unsigned char *base;
} chunk;

struct bh_arena {
  chunk *first, *cur;
  size_t chunk_bytes;
  size_t used, peak, reserved;
  int spilled; /* this round needed more than one chunk */
};

void *bh_big_alloc(size_t bytes) {
  if (bytes == 0) bytes = 1;
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    bh_error(BH_ENOMEM, "out of memory allocating %zu bytes", bytes);
    return NULL;
  }
#ifdef MADV_HUGEPAGE
  if (bytes >= (2u << 20)) madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return p;
}

void bh_big_free(void *p, size_t bytes) {
  if (p) munmap(p, bytes ? bytes : 1);
}

static chunk *chunk_new(size_t size) {
  chunk *c = malloc(sizeof *c);
  if (!c) {
    bh_error(BH_ENOMEM, "out of memory allocating an arena chunk");
    return NULL;
  }
  c->base = bh_big_alloc(size);
  if (!c->base) {
    free(c);
    return NULL;
  }
  c->next = NULL;
  c->size = size;
  c->used = 0;
  return c;
}

static void chunk_free_list(chunk *c) {
  while (c) {
    chunk *n = c->next;
    bh_big_free(c->base, c->size);
    free(c);
    c = n;
  }
}

bh_arena *bh_arena_alloc(size_t chunk_bytes) {
  bh_arena *a = calloc(1, sizeof *a);
  if (!a) {
    bh_error(BH_ENOMEM, "out of memory allocating an arena");
    return NULL;
  }
  a->chunk_bytes = chunk_bytes < 4096 ? 4096 : chunk_bytes;
  a->first = a->cur = chunk_new(a->chunk_bytes);
  if (!a->first) {
    free(a);
    return NULL;
  }
  a->reserved = a->chunk_bytes;
  return a;
}

void bh_arena_free(bh_arena *a) {
  if (!a) return;
  chunk_free_list(a->first);
  free(a);
}

void *bh_arena_push(bh_arena *a, size_t bytes) {
  size_t need = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (need == 0) need = ARENA_ALIGN;
  chunk *c = a->cur;
  while (c->used + need > c->size) {
    if (!c->next) {
      size_t sz = need > a->chunk_bytes ? need : a->chunk_bytes;
      c->next = chunk_new(sz);
      if (!c->next) return NULL;
      a->reserved += sz;
    }
    c = c->next;
    c->used = 0;
    a->spilled = 1;
  }
  a->cur = c;
  void *p = c->base + c->used;
  c->used += need;
  a->used += need;
  if (a->used > a->peak) a->peak = a->used;
  return p;
}

void *bh_arena_push_zero(bh_arena *a, size_t bytes) {
  void *p = bh_arena_push(a, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

void bh_arena_reset(bh_arena *a) {
  if (a->spilled) {
    /* Merge: one chunk as large as everything this round used (plus the slack of the
     * alignment), so the next round runs from contiguous, soon-to-be-warm memory. */
    size_t want = a->reserved > a->peak ? a->reserved : a->peak;
    chunk *c = chunk_new(want);
    if (c) {
      chunk_free_list(a->first);
      a->first = c;
      a->reserved = want;
    }
    a->spilled = 0;
  }
  for (chunk *c = a->first; c; c = c->next) c->used = 0;
  a->cur = a->first;
  a->used = 0;
}

size_t bh_arena_used(const bh_arena *a) { return a->used; }
size_t bh_arena_peak(const bh_arena *a) { return a->peak; }
size_t bh_arena_reserved(const bh_arena *a) { return a->reserved; }
