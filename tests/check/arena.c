/*
 * The heap half of a container check (tests): walk every block in address
 * order, then every free list, and compare.
 */
#include <errno.h>
#include <stdlib.h>
#include "check.h"

#define USED 1ull

static int bad(struct __conc_arena_stat *st, const char *why)
{
	st->why = why;
	return -EPROTO;
}

static uint64_t word(struct arena *a, uint64_t off)
{
	return *(uint64_t *)__conc_check_at(a, off);
}

static int walk(struct arena *a, struct __conc_arena_stat *st, uint64_t *used)
{
	uint64_t b, t, size, prev_free = 0, n = 0, bytes = 0;

	for (b = a->heap; b < a->heap_end; b += size) {
		t = word(a, b);
		size = t & ~(uint64_t)15;
		if ((t & 14) || size < 32 || size > a->heap_end - b)
			return bad(st, "block header out of range");
		if (word(a, b + size - 8) != t)
			return bad(st, "block footer differs from header");
		st->blocks++;
		if (t & USED) {
			if (used)
				used[n] = b + 8;
			n++;
			bytes += size;
			prev_free = 0;
			continue;
		}
		if (prev_free)
			return bad(st, "two free blocks side by side");
		prev_free = 1;
		st->free_blocks++;
		st->free_bytes += size;
		if (size > st->largest_free)
			st->largest_free = size;
	}
	if (bytes != a->used)
		return bad(st, "used bytes differ from the blocks in use");
	return (int)(n > 0);
}

static int lists(struct arena *a, struct __conc_arena_stat *st)
{
	uint64_t b, prev, n = 0;
	unsigned c;

	for (c = 0; c < ARENA_NCLASS; c++) {
		prev = 0;
		for (b = a->free[c]; b; prev = b, b = word(a, b + 8)) {
			if (b < a->heap || b > a->heap_end - 32 || (b & 15))
				return bad(st, "free list link out of range");
			if (word(a, b) & USED)
				return bad(st, "block in use on a free list");
			if (__conc_arena_class(word(a, b)) != c)
				return bad(st, "free block on the wrong list");
			if (word(a, b + 16) != prev)
				return bad(st, "free list back link broken");
			if (++n > st->free_blocks)
				return bad(st, "free lists longer than the free blocks");
		}
	}
	if (n != st->free_blocks)
		return bad(st, "free block missing from the free lists");
	return 0;
}

int __conc_arena_check(struct arena *a, struct __conc_arena_stat *st,
		       uint64_t **used, size_t *n)
{
	uint64_t *offs;
	int r;

	st->size = a->size;
	st->heap_bytes = a->heap_end - a->heap;
	st->used = a->used;
	st->deaths = a->deaths;
	st->recovered = a->recovered;
	st->why = NULL;
	if (a->jstate)
		return bad(st, "journal not empty after a call");
	r = walk(a, st, NULL);
	if (r < 0)
		return r;
	if ((r = lists(a, st)))
		return r;
	offs = malloc((st->blocks - st->free_blocks + 1) * sizeof(*offs));
	if (!offs)
		return -ENOMEM;
	st->blocks = st->free_blocks = st->free_bytes = st->largest_free = 0;
	walk(a, st, offs);
	*used = offs;
	*n = st->blocks - st->free_blocks;
	return 0;
}

bool __conc_arena_claim(const uint64_t *used, bool *seen, size_t n,
			uint64_t off)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (used[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n || used[lo] != off || seen[lo])
		return false;
	seen[lo] = true;
	return true;
}
