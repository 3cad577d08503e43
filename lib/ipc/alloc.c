/*
 * The arena's allocator: boundary tags, segregated free lists (one per
 * power of two, doubly linked), first fit, splitting, and merging of free
 * neighbours on free. Every store goes through the journal, so a call
 * undone after a crash gives its blocks back exactly as they were.
 *
 * Journal entries: unlink 2, push 6; alloc = unlink + the two links the
 * caller's payload overwrites + push of the split-off rest + the block's
 * two tags + used = 13; free = two unlinks + push + used = 11.
 */
#include "arena.h"

#define USED	  1ull
#define MIN_BLOCK 32u
#define SCAN	  16	/* blocks of the right class tried before larger ones */

static uint64_t *word(struct arena *a, uint64_t off)
{
	return __conc_arena_at(a, off);
}

static void set(struct arena *a, uint64_t off, uint64_t v)
{
	__conc_arena_set(a, word(a, off), v);
}

static uint64_t tag_size(uint64_t tag)
{
	return tag & ~(uint64_t)15;
}

static void unlink_free(struct arena *a, uint64_t b, uint64_t size)
{
	uint64_t next = *word(a, b + 8), prev = *word(a, b + 16);

	if (prev)
		set(a, prev + 8, next);
	else
		__conc_arena_set(a, &a->free[__conc_arena_class(size)], next);
	if (next)
		set(a, next + 16, prev);
}

static void push_free(struct arena *a, uint64_t b, uint64_t size)
{
	uint64_t *head = &a->free[__conc_arena_class(size)];
	uint64_t first = *head;

	set(a, b, size);
	set(a, b + size - 8, size);
	set(a, b + 8, first);
	set(a, b + 16, 0);
	if (first)
		set(a, first + 16, b);
	__conc_arena_set(a, head, b);
}

static uint64_t first_fit(struct arena *a, unsigned c, uint64_t need,
			  uint64_t scan)
{
	uint64_t b;

	for (b = a->free[c]; b && scan--; b = *word(a, b + 8))
		if (tag_size(*word(a, b)) >= need)
			return b;
	return 0;
}

uint64_t __conc_arena_alloc(struct arena *a, uint64_t n)
{
	uint64_t need, b, size;
	unsigned c, k;

	if (n > a->heap_end - a->heap)
		return 0;
	need = (n + 16 + 15) & ~(uint64_t)15;
	if (need < MIN_BLOCK)
		need = MIN_BLOCK;
	c = __conc_arena_class(need);
	/* A fitting block of the same class if one is near the head, else
	 * the head of any larger class (every one fits), else a full scan. */
	b = first_fit(a, c, need, SCAN);
	for (k = c + 1; !b && k < ARENA_NCLASS; k++)
		b = a->free[k];
	if (!b)
		b = first_fit(a, c, need, UINT64_MAX);
	if (!b)
		return 0;
	size = tag_size(*word(a, b));
	unlink_free(a, b, size);
	/* The caller writes over these without a journal. */
	set(a, b + 8, *word(a, b + 8));
	set(a, b + 16, *word(a, b + 16));
	if (size - need >= MIN_BLOCK) {
		push_free(a, b + need, size - need);
		size = need;
	}
	set(a, b, size | USED);
	set(a, b + size - 8, size | USED);
	__conc_arena_set(a, &a->used, a->used + size);
	return b + 8;
}

void __conc_arena_free(struct arena *a, uint64_t off)
{
	uint64_t b = off - 8, size = tag_size(*word(a, b)), t;
	uint64_t used = a->used - size;

	if (b > a->heap && !((t = *word(a, b - 8)) & USED)) {
		unlink_free(a, b - tag_size(t), tag_size(t));
		b -= tag_size(t);
		size += tag_size(t);
	}
	if (b + size < a->heap_end && !((t = *word(a, b + size)) & USED)) {
		unlink_free(a, b + size, tag_size(t));
		size += tag_size(t);
	}
	push_free(a, b, size);
	__conc_arena_set(a, &a->used, used);
}

uint64_t __conc_arena_capacity(struct arena *a, uint64_t off)
{
	return tag_size(*word(a, off - 8)) - 16;
}
