/*
 * The list's ring: it grows and shrinks by copying into a new block and
 * swapping three words, all journaled.
 *
 * A pop in the middle closes the gap from the nearer end: an unbounded
 * number of stores, too many for the undo journal. So pop first frees the
 * element under the journal, then commits a roll-forward record (ARENA_REDO)
 * and moves the slots one by one, keeping `pos` current; after a death the
 * next caller finishes the moves (__conc_list_finish_pop). A move reads a
 * slot that no earlier move wrote, so doing one again is harmless.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ipc/list_impl.h"

#define MIN_CAP		8

void __conc_list_finish_pop(struct arena *a)
{
	struct list *l = (struct list *)a;
	int64_t k;

	while ((k = l->pos) != l->end) {
		__atomic_store_n(__conc_list_slot(l, (uint64_t)k),
				 *__conc_list_slot(l, (uint64_t)(k + l->dir)), __ATOMIC_RELAXED);
		__conc_arena_barrier();
		__conc_arena_fi_point();
		__atomic_store_n(&l->pos, k + l->dir, __ATOMIC_RELAXED);
		__conc_arena_barrier();
		__conc_arena_fi_point();
	}
	__atomic_store_n(&l->head, l->new_head, __ATOMIC_RELAXED);
	__atomic_store_n(&l->count, l->new_count, __ATOMIC_RELAXED);
	__conc_arena_barrier();
	__conc_arena_fi_point();
}

int __conc_list_lock(struct list *l)
{
	return __conc_arena_lock(&l->a, __conc_list_finish_pop);
}

/* Python's index: < 0 counts from the end. */
int __conc_list_locate(struct list *l, ssize_t index, uint64_t *i)
{
	if (index < 0)
		index += (ssize_t)l->count;
	if (index < 0 || (uint64_t)index >= l->count)
		return -ENOENT;
	*i = (uint64_t)index;
	return 0;
}

/* Move the elements into a new ring of cap slots (0: none), journaled. */
static int resize(struct list *l, uint64_t cap)
{
	uint64_t ring = 0, old = l->ring, i, *p;

	if (cap) {
		if (!(ring = __conc_arena_alloc(&l->a, cap * 8)))
			return -ENOSPC;
		p = __conc_arena_at(&l->a, ring);
		for (i = 0; i < l->count; i++)
			p[i] = *__conc_list_slot(l, i);
	}
	__conc_arena_set(&l->a, &l->ring, ring);
	__conc_arena_set(&l->a, &l->cap, cap);
	__conc_arena_set(&l->a, &l->head, 0);
	if (old)
		__conc_arena_free(&l->a, old);
	return 0;
}

int __conc_list_grow(struct list *l)
{
	uint64_t c = l->cap;

	if (!c)
		return resize(l, MIN_CAP);
	/* A full heap may still hold a smaller step. */
	if (!resize(l, c * 2) || !resize(l, c + c / 2) || !resize(l, c + 1))
		return 0;
	return -ENOSPC;
}

/* After a pop, in a call of its own: a shrink that finds no room is
 * skipped, the pop stays done. */
void __conc_list_shrink(struct list *l)
{
	uint64_t want = l->cap / 2 < MIN_CAP ? MIN_CAP : l->cap / 2;

	if (l->count ? l->cap <= MIN_CAP || l->count > l->cap / 4
		     : !l->cap)
		return;
	if (resize(l, l->count ? want : 0))
		return;
	__conc_arena_commit(&l->a, 0);
}
