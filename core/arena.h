/* arena.h — a bump allocator reused from one training step to the next.
 *
 * First-touch page faults cost ~15 µs per 4 KiB page on our machines, so activations must not be
 * allocated afresh each step.  The arena hands out 64-byte aligned blocks from large chunks;
 * bh_arena_reset() rewinds it without returning memory, so from the second step on every block
 * lands on pages that are already mapped.  Chunks are mmap'ed with MADV_HUGEPAGE.
 */
#ifndef BH_ARENA_H
#define BH_ARENA_H

#include <stddef.h>

typedef struct bh_arena bh_arena;

/* chunk_bytes: size of each chunk (a request larger than that gets a chunk of its own size). */
bh_arena *bh_arena_alloc(size_t chunk_bytes);
void bh_arena_free(bh_arena *a);

/* A block of `bytes`, 64-byte aligned, uninitialised; NULL (with bh_error set) when out of memory. */
void *bh_arena_push(bh_arena *a, size_t bytes);
/* The same, zero-filled. */
void *bh_arena_push_zero(bh_arena *a, size_t bytes);

/* Rewind: every block handed out since the last reset becomes invalid; memory stays mapped.
 * When the previous round spilled over several chunks they are merged into one, so that a
 * steady-state step is served from a single contiguous chunk. */
void bh_arena_reset(bh_arena *a);

size_t bh_arena_used(const bh_arena *a);     /* bytes handed out since the last reset */
size_t bh_arena_peak(const bh_arena *a);     /* largest bh_arena_used() seen */
size_t bh_arena_reserved(const bh_arena *a); /* bytes mapped in chunks */

/* Allocate `bytes` of zeroed, page-aligned memory outside any arena, advised for huge pages.
 * For large long-lived buffers (parameters, Adam state, datasets). Free with bh_big_free. */
void *bh_big_alloc(size_t bytes);
void bh_big_free(void *p, size_t bytes);

#endif
