/*
 * A list in an arena (arena.h): a ring of slots (the offsets of the
 * elements, {len, bytes}) in one heap block, so that an index is found at
 * once and popping at either end moves nothing. The ring grows and shrinks
 * by copying into a new block and swapping three words.
 *
 * A pop in the middle closes the gap from the nearer end: an unbounded
 * number of stores, too many for the undo journal. So pop first frees the
 * element under the journal, then commits a roll-forward record (ARENA_REDO)
 * and moves the slots one by one, keeping `pos` current; after a death the
 * next caller finishes the moves (finish_pop). A move reads a slot that no
 * earlier move wrote, so doing one again is harmless.
 *
 * Journal entries a call: append 13 + (grow 13 + 3 + 11) + 2; set
 * 13 + 1 + 11; pop 11, then a shrink 13 + 3 + 11.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <conc/map.h>
#include <conc/shm.h>
#include "arena.h"

#define LAYOUT		0x4c535431u	/* "LST1" */
#define DEFAULT_SIZE	((size_t)1 << 20)
#define MIN_CAP		8

struct list {
	struct arena a;
	uint64_t count, cap, head;
	uint64_t ring;		/* offset of cap slots, 0 while cap is 0 */
	/* The pop being finished (ARENA_REDO): slot[pos] = slot[pos + dir]
	 * until pos reaches end, then head and count take their new values. */
	int64_t pos, end, dir;
	uint64_t new_head, new_count;
};

struct elem {
	uint64_t len;
	unsigned char bytes[];
};

struct conc_list {
	conc_shm *seg;
	struct list *l;
};

static uint64_t *slot(struct list *l, uint64_t i)
{
	return (uint64_t *)__conc_arena_at(&l->a, l->ring) + (l->head + i) % l->cap;
}

static struct elem *elem_at(struct list *l, uint64_t off)
{
	return __conc_arena_at(&l->a, off);
}

static void finish_pop(struct arena *a)
{
	struct list *l = (struct list *)a;
	int64_t k;

	while ((k = l->pos) != l->end) {
		__atomic_store_n(slot(l, (uint64_t)k),
				 *slot(l, (uint64_t)(k + l->dir)), __ATOMIC_RELAXED);
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

static int lock(struct list *l)
{
	return __conc_arena_lock(&l->a, finish_pop);
}

static void unlock(struct list *l)
{
	__conc_arena_unlock(&l->a);
}

/* Python's index: < 0 counts from the end. */
static int locate(struct list *l, ssize_t index, uint64_t *i)
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
			p[i] = *slot(l, i);
	}
	__conc_arena_set(&l->a, &l->ring, ring);
	__conc_arena_set(&l->a, &l->cap, cap);
	__conc_arena_set(&l->a, &l->head, 0);
	if (old)
		__conc_arena_free(&l->a, old);
	return 0;
}

static int grow(struct list *l)
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
static void shrink(struct list *l)
{
	uint64_t want = l->cap / 2 < MIN_CAP ? MIN_CAP : l->cap / 2;

	if (l->count ? l->cap <= MIN_CAP || l->count > l->cap / 4
		     : !l->cap)
		return;
	if (resize(l, l->count ? want : 0))
		return;
	__conc_arena_commit(&l->a, 0);
}

static uint64_t new_elem(struct list *l, const void *val, size_t len)
{
	uint64_t off = __conc_arena_alloc(&l->a, sizeof(struct elem) + len);
	struct elem *e;

	if (off) {
		e = elem_at(l, off);
		e->len = len;
		if (len)
			memcpy(e->bytes, val, len);
	}
	return off;
}

int conc_list_append(conc_list *lh, const void *val, size_t len)
{
	struct list *l;
	uint64_t off;
	int r;

	if (!lh || (!val && len))
		return -EINVAL;
	l = lh->l;
	if (len > l->a.size)
		return -ENOSPC;
	if ((r = lock(l)))
		return r;
	if (!(off = new_elem(l, val, len)) ||
	    (l->count == l->cap && grow(l))) {
		__conc_arena_rollback(&l->a);
		unlock(l);
		return -ENOSPC;
	}
	__conc_arena_set(&l->a, slot(l, l->count), off);
	__conc_arena_set(&l->a, &l->count, l->count + 1);
	__conc_arena_commit(&l->a, 0);
	unlock(l);
	return 0;
}

ssize_t conc_list_get(conc_list *lh, ssize_t index, void *buf, size_t cap)
{
	struct elem *e;
	uint64_t i;
	ssize_t n;
	int r;

	if (!lh || (!buf && cap))
		return -EINVAL;
	if ((r = lock(lh->l)))
		return r;
	if ((n = locate(lh->l, index, &i)) == 0) {
		e = elem_at(lh->l, *slot(lh->l, i));
		if (buf && e->len > cap)
			n = -EMSGSIZE;
		else
			n = (ssize_t)e->len;
		if (n > 0 && buf)
			memcpy(buf, e->bytes, (size_t)n);
	}
	unlock(lh->l);
	return n;
}

int conc_list_set(conc_list *lh, ssize_t index, const void *val, size_t len)
{
	uint64_t i, off = 0, old;
	struct list *l;
	int r;

	if (!lh || (!val && len))
		return -EINVAL;
	l = lh->l;
	if (len > l->a.size)
		return -ENOSPC;
	if ((r = lock(l)))
		return r;
	if (!(r = locate(l, index, &i)) && !(off = new_elem(l, val, len)))
		r = -ENOSPC;
	if (r) {
		unlock(l);
		return r;
	}
	old = *slot(l, i);
	__conc_arena_set(&l->a, slot(l, i), off);
	__conc_arena_free(&l->a, old);
	__conc_arena_commit(&l->a, 0);
	unlock(l);
	return 0;
}

ssize_t conc_list_pop(conc_list *lh, ssize_t index, void *buf, size_t cap)
{
	struct list *l;
	struct elem *e;
	uint64_t i, off;
	ssize_t n;
	int r;

	if (!lh || (!buf && cap))
		return -EINVAL;
	l = lh->l;
	if ((r = lock(l)))
		return r;
	if ((r = locate(l, index, &i))) {
		unlock(l);
		return r;
	}
	off = *slot(l, i);
	e = elem_at(l, off);
	if (e->len > cap) {
		unlock(l);
		return -EMSGSIZE;
	}
	n = (ssize_t)e->len;
	if (n)
		memcpy(buf, e->bytes, (size_t)n);
	__conc_arena_free(&l->a, off);
	/* Close the gap from the nearer end. */
	l->pos = (int64_t)i;
	if (i < l->count / 2) {
		l->end = 0;
		l->dir = -1;
		l->new_head = (l->head + 1) % l->cap;
	} else {
		l->end = (int64_t)l->count - 1;
		l->dir = 1;
		l->new_head = l->head;
	}
	l->new_count = l->count - 1;
	__conc_arena_commit(&l->a, ARENA_REDO);
	finish_pop(&l->a);
	__conc_arena_commit(&l->a, 0);
	shrink(l);
	unlock(l);
	return n;
}

ssize_t conc_list_len(conc_list *lh)
{
	ssize_t n;
	int r;

	if (!lh)
		return -EINVAL;
	if ((r = lock(lh->l)))
		return r;
	n = (ssize_t)lh->l->count;
	unlock(lh->l);
	return n;
}

static int attach(conc_list **out, conc_shm *seg)
{
	struct list *l = conc_shm_data(seg);
	size_t size = conc_shm_size(seg);
	conc_list *lh;
	int r;

	if (size < ARENA_MIN)
		return -EPROTO;
	if ((r = __conc_arena_attach(&l->a, size, LAYOUT)))
		return r;
	if (!(lh = malloc(sizeof(*lh))))
		return -ENOMEM;
	lh->seg = seg;
	lh->l = l;
	*out = lh;
	return 0;
}

int conc_list_create(conc_list **out, const conc_list_attr *attr)
{
	size_t size = attr && attr->size ? attr->size : DEFAULT_SIZE;
	struct list *l;
	conc_shm *seg;
	int r;

	if (!out || size < ARENA_MIN)
		return -EINVAL;
	r = conc_shm_create(&seg, attr ? attr->name : NULL, size, CONC_SHM_LIST,
			    attr ? attr->flags : 0);
	if (r)
		return r;
	l = conc_shm_data(seg);
	/* An existing named list is opened, not set up again. */
	if (__atomic_compare_exchange_n(&l->a.init, &(uint32_t){ 0 }, 1, 0,
					__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		__conc_arena_init(&l->a, size, (sizeof(*l) + 15) & ~(size_t)15,
				  LAYOUT);
		/* release: the whole set-up before the word that says so. */
		__atomic_store_n(&l->a.init, 2, __ATOMIC_RELEASE);
	}
	if ((r = attach(out, seg)))
		conc_shm_close(seg);
	return r;
}

int conc_list_open(conc_list **out, const char *name)
{
	conc_shm *seg;
	int r;

	if (!out)
		return -EINVAL;
	if ((r = conc_shm_open(&seg, name, CONC_SHM_LIST)))
		return r;
	if ((r = attach(out, seg)))
		conc_shm_close(seg);
	return r;
}

int conc_list_destroy(conc_list *lh)
{
	if (!lh)
		return -EINVAL;
	conc_shm_close(lh->seg);
	free(lh);
	return 0;
}

static int bad(struct __conc_arena_stat *st, const char *why)
{
	st->why = why;
	return -EPROTO;
}

static int check_slots(struct list *l, struct __conc_arena_stat *st,
		       const uint64_t *used, bool *seen, size_t n)
{
	uint64_t i, off;

	if (!l->cap) {
		if (l->count || l->ring || l->head)
			return bad(st, "no ring, yet elements or a head");
	} else {
		if (!__conc_arena_claim(used, seen, n, l->ring))
			return bad(st, "ring not a block in use");
		if (__conc_arena_capacity(&l->a, l->ring) / 8 < l->cap)
			return bad(st, "ring smaller than its capacity");
		if (l->head >= l->cap || l->count > l->cap)
			return bad(st, "head or count beyond the ring");
	}
	for (i = 0; i < l->count; i++) {
		off = *slot(l, i);
		if (!__conc_arena_claim(used, seen, n, off))
			return bad(st, "element not a block in use, or in two slots");
		if (elem_at(l, off)->len >
		    __conc_arena_capacity(&l->a, off) - sizeof(struct elem))
			return bad(st, "element larger than its block");
		st->entries++;
	}
	if (st->entries + (l->cap != 0) != n)
		return bad(st, "block in use that no slot reaches (leak)");
	return 0;
}

int __conc_list_check(conc_list *lh, struct __conc_arena_stat *st)
{
	uint64_t *used = NULL;
	bool *seen;
	size_t n;
	int r;

	if (!lh || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	if ((r = lock(lh->l)))
		return r;
	r = __conc_arena_check(&lh->l->a, st, &used, &n);
	if (!r) {
		seen = calloc(n + 1, sizeof(*seen));
		r = seen ? check_slots(lh->l, st, used, seen, n) : -ENOMEM;
		free(seen);
	}
	free(used);
	unlock(lh->l);
	return r;
}
