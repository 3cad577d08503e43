/*
 * The list's ring: read and checked once a call, grown and shrunk by
 * copying into a new block and swapping three words, all journaled.
 *
 * A pop in the middle closes the gap from the nearer end: an unbounded
 * number of stores, too many for the undo journal. So pop first frees the
 * element under the journal, then commits a roll-forward record (ARENA_REDO)
 * and moves the slots one by one, keeping `pos` current; after a death the
 * next caller finishes the moves (__conc_list_finish_pop). A move reads a
 * slot that no earlier move wrote, so doing one again is harmless.
 */
#include <errno.h>
#include "ipc/list_impl.h"

#define MIN_CAP		8

int __conc_list_ring(struct arena_call *c, struct ring *r)
{
	struct list *l = (struct list *)c->a;

	r->count = __conc_arena_load(&l->count);
	r->cap = __conc_arena_load(&l->cap);
	r->head = __conc_arena_load(&l->head);
	r->ring = __conc_arena_load(&l->ring);
	r->slots = NULL;
	if (!r->cap)
		return r->count || r->ring ? __conc_arena_bad(c) : 0;
	if (r->head >= r->cap || r->count > r->cap ||
	    r->cap > (c->heap_end - c->heap) / 8)
		return __conc_arena_bad(c);
	r->slots = __conc_arena_bytes(c, r->ring, r->cap * 8);
	return c->err;
}

const unsigned char *__conc_list_elem(struct arena_call *c, uint64_t off,
				      uint64_t *len)
{
	struct elem *e = __conc_arena_bytes(c, off, sizeof(*e));

	if (!e)
		return NULL;
	*len = __conc_arena_load(&e->len);
	if (*len > c->heap_end) {
		__conc_arena_bad(c);
		return NULL;
	}
	if (!__conc_arena_bytes(c, off + sizeof(*e), *len))
		return NULL;
	return e->bytes;
}

static void put(uint64_t *w, uint64_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELAXED);
}

int __conc_list_finish_pop(struct arena_call *c)
{
	struct list *l = (struct list *)c->a;
	int64_t k, end, dir;
	uint64_t nh, nc;
	struct ring r;

	if (__conc_list_ring(c, &r))
		return c->err;
	k = (int64_t)__conc_arena_load((uint64_t *)&l->pos);
	end = (int64_t)__conc_arena_load((uint64_t *)&l->end);
	dir = (int64_t)__conc_arena_load((uint64_t *)&l->dir);
	nh = __conc_arena_load(&l->new_head);
	nc = __conc_arena_load(&l->new_count);
	/* Slots are taken modulo cap, so any k in range stays in the ring,
	 * and the moves toward end are at most cap. */
	if (!r.cap || (uint64_t)k >= r.cap || (uint64_t)end >= r.cap ||
	    (dir == 1 ? k > end : dir != -1 || k < end) ||
	    nh >= r.cap || nc > r.cap)
		return __conc_arena_bad(c);
	for (; k != end; k += dir) {
		put(&r.slots[(r.head + (uint64_t)k) % r.cap],
		    __conc_list_slot(&r, (uint64_t)(k + dir)));
		__conc_arena_barrier();
		__conc_arena_fi_point();
		put((uint64_t *)&l->pos, (uint64_t)(k + dir));
		__conc_arena_barrier();
		__conc_arena_fi_point();
	}
	put(&l->head, nh);
	put(&l->count, nc);
	__conc_arena_barrier();
	__conc_arena_fi_point();
	return 0;
}

int __conc_list_lock(struct arena_call *c, struct ring *r, conc_deadline dl)
{
	int e = __conc_arena_lock(c, __conc_list_finish_pop, dl);

	if (!e && (e = __conc_list_ring(c, r)))
		__conc_arena_unlock(c);
	return e;
}

int __conc_list_locate(const struct ring *r, ssize_t index, uint64_t *i)
{
	if (index < 0)
		index += (ssize_t)r->count;
	if (index < 0 || (uint64_t)index >= r->count)
		return -ENOENT;
	*i = (uint64_t)index;
	return 0;
}

/* Move the elements into a new ring of cap slots (0: none), journaled. */
static int resize(struct arena_call *c, struct ring *r, uint64_t cap)
{
	uint64_t ring = 0, old = r->ring, i, *p;

	if (cap) {
		if (!(ring = __conc_arena_alloc(c, cap * 8)))
			return c->err ? c->err : -ENOSPC;
		p = __conc_arena_bytes(c, ring, cap * 8);
		for (i = 0; i < r->count; i++)
			p[i] = __conc_list_slot(r, i);
	}
	__conc_arena_set(c, LIST_OFF(ring), ring);
	__conc_arena_set(c, LIST_OFF(cap), cap);
	__conc_arena_set(c, LIST_OFF(head), 0);
	if (old)
		__conc_arena_free(c, old);
	return c->err ? c->err : __conc_list_ring(c, r);
}

int __conc_list_grow(struct arena_call *c, struct ring *r)
{
	uint64_t n = r->cap;
	int e;

	if (!n)
		return resize(c, r, MIN_CAP);
	/* A full heap may still hold a smaller step. */
	if ((e = resize(c, r, n * 2)) != -ENOSPC ||
	    (e = resize(c, r, n + n / 2)) != -ENOSPC)
		return e;
	return resize(c, r, n + 1);
}

void __conc_list_shrink(struct arena_call *c, struct ring *r)
{
	uint64_t want = r->cap / 2 < MIN_CAP ? MIN_CAP : r->cap / 2;

	if (r->count ? r->cap <= MIN_CAP || r->count > r->cap / 4 : !r->cap)
		return;
	/* No room is no harm: the ring stays as it is. */
	resize(c, r, r->count ? want : 0);
	__conc_arena_commit(c, 0);
}
