/*
 * The arena's allocator: boundary tags, segregated free lists (one per
 * power of two, doubly linked), first fit, splitting, and merging of free
 * neighbours on free. Every store goes through the journal, so a call
 * undone after a crash gives its blocks back exactly as they were.
 *
 * Every block and link is checked before it is used (arena.h): a tag must
 * agree with its footer and lie inside the heap, a link must be a block
 * start or 0, and a scan stops after as many blocks as the heap can hold.
 *
 * Journal entries: unlink 2, push 6; alloc = unlink + the two links the
 * caller's payload overwrites + push of the split-off rest + the block's
 * two tags + used = 13; free = two unlinks + push + used = 11.
 */
#include <stddef.h>
#include "arena.h"

#define USED	  1ull
#define MIN_BLOCK 32u
#define SCAN	  16	/* blocks of the right class tried before larger ones */
#define USED_OFF  offsetof(struct arena, used)
#define HEAD(k)	  (offsetof(struct arena, free) + 8 * (uint64_t)(k))

static uint64_t get(struct arena_call *c, uint64_t off)
{
	return __conc_arena_get(c, off);
}

static void set(struct arena_call *c, uint64_t off, uint64_t v)
{
	__conc_arena_set(c, off, v);
}

static uint64_t tag_size(uint64_t tag)
{
	return tag & ~(uint64_t)15;
}

static bool block_ok(const struct arena_call *c, uint64_t b)
{
	return b >= c->heap && !(b & 15) && b <= c->heap_end - MIN_BLOCK;
}

/* A free-list link: 0 or a block start. */
static uint64_t checked_link(struct arena_call *c, uint64_t b)
{
	if (b && !block_ok(c, b)) {
		__conc_arena_bad(c);
		return 0;
	}
	return b;
}

/* The size of the block at b, whose tags must agree and be marked used
 * (USED) or free (0); 0, and the call marked bad, if they are not. */
static uint64_t block_size(struct arena_call *c, uint64_t b, uint64_t used)
{
	uint64_t t, size;

	if (!block_ok(c, b))
		goto bad;
	t = get(c, b);
	size = tag_size(t);
	if ((t & 15) != used || size < MIN_BLOCK || size > c->heap_end - b ||
	    get(c, b + size - 8) != t)
		goto bad;
	return size;
bad:
	__conc_arena_bad(c);
	return 0;
}

static void unlink_free(struct arena_call *c, uint64_t b, uint64_t size)
{
	uint64_t next = checked_link(c, get(c, b + 8)), prev = checked_link(c, get(c, b + 16));
	uint64_t head = HEAD(__conc_arena_class(size));

	if (prev)
		set(c, prev + 8, next);
	else if (get(c, head) == b)
		set(c, head, next);
	else
		__conc_arena_bad(c);
	if (next)
		set(c, next + 16, prev);
}

static void push_free(struct arena_call *c, uint64_t b, uint64_t size)
{
	uint64_t head = HEAD(__conc_arena_class(size));
	uint64_t first = checked_link(c, get(c, head));

	set(c, b, size);
	set(c, b + size - 8, size);
	set(c, b + 8, first);
	set(c, b + 16, 0);
	if (first)
		set(c, first + 16, b);
	set(c, head, b);
}

/* The first block of class k with need bytes among its first scan blocks
 * (0: the whole list, which cannot be longer than the heap's blocks). */
static uint64_t first_fit(struct arena_call *c, unsigned k, uint64_t need,
			  uint64_t scan)
{
	uint64_t b, n, limit = scan ? scan : __conc_arena_max_blocks(c);

	/* Only the header is read here, checked against the heap's end;
	 * alloc checks the chosen block whole. */
	for (b = checked_link(c, get(c, HEAD(k))), n = 0; b && n < limit;
	     b = checked_link(c, get(c, b + 8)), n++)
		if (tag_size(get(c, b)) >= need &&
		    tag_size(get(c, b)) <= c->heap_end - b)
			return b;
	if (b && !scan)
		__conc_arena_bad(c);	/* a cycle */
	return 0;
}

uint64_t __conc_arena_alloc(struct arena_call *c, uint64_t n)
{
	uint64_t need, b, size;
	unsigned k, j;

	if (c->err || n > c->heap_end - c->heap)
		return 0;
	need = (n + 16 + 15) & ~(uint64_t)15;
	if (need < MIN_BLOCK)
		need = MIN_BLOCK;
	k = __conc_arena_class(need);
	/* A fitting block of the same class if one is near the head, else
	 * the head of any larger class (every one fits), else a full scan. */
	b = first_fit(c, k, need, SCAN);
	for (j = k + 1; !b && !c->err && j < ARENA_NCLASS; j++)
		b = checked_link(c, get(c, HEAD(j)));
	if (!b && !c->err)
		b = first_fit(c, k, need, 0);
	if (!b || c->err)
		return 0;
	size = block_size(c, b, 0);
	if (size < need) {
		__conc_arena_bad(c);
		return 0;
	}
	unlink_free(c, b, size);
	/* The caller writes over these without a journal. */
	set(c, b + 8, get(c, b + 8));
	set(c, b + 16, get(c, b + 16));
	if (size - need >= MIN_BLOCK) {
		push_free(c, b + need, size - need);
		size = need;
	}
	set(c, b, size | USED);
	set(c, b + size - 8, size | USED);
	set(c, USED_OFF, get(c, USED_OFF) + size);
	return c->err ? 0 : b + 8;
}

void __conc_arena_free(struct arena_call *c, uint64_t off)
{
	uint64_t b = off - 8, size = block_size(c, b, USED), used, t, s;

	if (!size)
		return;
	used = get(c, USED_OFF) - size;
	if (b > c->heap && !((t = get(c, b - 8)) & USED)) {
		s = tag_size(t);
		if (s < MIN_BLOCK || s > b - c->heap ||
		    block_size(c, b - s, 0) != s) {
			__conc_arena_bad(c);
			return;
		}
		unlink_free(c, b - s, s);
		b -= s;
		size += s;
	}
	if (b + size < c->heap_end && !(get(c, b + size) & USED)) {
		if (!(s = block_size(c, b + size, 0)))
			return;
		unlink_free(c, b + size, s);
		size += s;
	}
	push_free(c, b, size);
	set(c, USED_OFF, used);
}
