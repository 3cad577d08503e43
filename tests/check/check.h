/* tests/check/check.h — full consistency checks of the containers, for
 * the tests only (linked from build/libcheck.a, never part of libconc.a). */
#ifndef CONC_TEST_CHECK_H
#define CONC_TEST_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <conc/map.h>
#include "ipc/arena.h"

/*
 * For tests: what a full check of a container found. The check takes the
 * lock (recovering as any call does), walks every heap block, every free
 * list and the container's structure, and fails with -EPROTO and `why`
 * unless: every block is well formed, no two free blocks touch, the free
 * lists hold exactly the free blocks, `used` is right, the journal is
 * empty, and the blocks in use are exactly those the container reaches,
 * each once (no leak, no sharing), each entry well formed.
 */
struct __conc_arena_stat {
	uint64_t size, heap_bytes, used, blocks, free_blocks, free_bytes;
	uint64_t largest_free, deaths, recovered, entries;
	const char *why;
};

int __conc_map_check(conc_map *m, struct __conc_arena_stat *st);
int __conc_list_check(conc_list *l, struct __conc_arena_stat *st);

/* The checks read the segment raw: only after __conc_arena_claim has
 * shown an offset to be a block in use. */
static inline void *__conc_check_at(void *a, uint64_t off)
{
	return (char *)a + off;
}

/* Bytes usable in the payload at off (a block in use). */
static inline uint64_t __conc_check_capacity(void *a, uint64_t off)
{
	return (*(uint64_t *)__conc_check_at(a, off - 8) & ~(uint64_t)15) - 16;
}

/* Heap walk behind the checks: fills st, and *used (malloc'ed, address
 * order, *n of them) with the payload offsets of the blocks in use. */
int __conc_arena_check(struct arena *a, struct __conc_arena_stat *st,
		       uint64_t **used, size_t *n);
/* Whether off is one of the n sorted offsets; marks it seen (seen[i]), and
 * fails if it was already. */
bool __conc_arena_claim(const uint64_t *used, bool *seen, size_t n,
			uint64_t off);

#endif
