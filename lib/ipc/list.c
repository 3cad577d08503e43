/*
 * The list's calls (layout: list_impl.h): append, get, set, pop, len; each
 * under the arena's lock.
 *
 * Journal entries a call: append 13 + (grow 13 + 3 + 11) + 2; set
 * 13 + 1 + 11; pop 11, then a shrink 13 + 3 + 11.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ipc/list_impl.h"

static uint64_t new_elem(struct list *l, const void *val, size_t len)
{
	uint64_t off = __conc_arena_alloc(&l->a, sizeof(struct elem) + len);
	struct elem *e;

	if (off) {
		e = __conc_list_elem(l, off);
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
	if ((r = __conc_list_lock(l)))
		return r;
	if (!(off = new_elem(l, val, len)) ||
	    (l->count == l->cap && __conc_list_grow(l))) {
		__conc_arena_rollback(&l->a);
		__conc_arena_unlock(&l->a);
		return -ENOSPC;
	}
	__conc_arena_set(&l->a, __conc_list_slot(l, l->count), off);
	__conc_arena_set(&l->a, &l->count, l->count + 1);
	__conc_arena_commit(&l->a, 0);
	__conc_arena_unlock(&l->a);
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
	if ((r = __conc_list_lock(lh->l)))
		return r;
	if ((n = __conc_list_locate(lh->l, index, &i)) == 0) {
		e = __conc_list_elem(lh->l, *__conc_list_slot(lh->l, i));
		if (buf && e->len > cap)
			n = -EMSGSIZE;
		else
			n = (ssize_t)e->len;
		if (n > 0 && buf)
			memcpy(buf, e->bytes, (size_t)n);
	}
	__conc_arena_unlock(&lh->l->a);
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
	if ((r = __conc_list_lock(l)))
		return r;
	if (!(r = __conc_list_locate(l, index, &i)) && !(off = new_elem(l, val, len)))
		r = -ENOSPC;
	if (r) {
		__conc_arena_unlock(&l->a);
		return r;
	}
	old = *__conc_list_slot(l, i);
	__conc_arena_set(&l->a, __conc_list_slot(l, i), off);
	__conc_arena_free(&l->a, old);
	__conc_arena_commit(&l->a, 0);
	__conc_arena_unlock(&l->a);
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
	if ((r = __conc_list_lock(l)))
		return r;
	if ((r = __conc_list_locate(l, index, &i))) {
		__conc_arena_unlock(&l->a);
		return r;
	}
	off = *__conc_list_slot(l, i);
	e = __conc_list_elem(l, off);
	if (e->len > cap) {
		__conc_arena_unlock(&l->a);
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
	__conc_list_finish_pop(&l->a);
	__conc_arena_commit(&l->a, 0);
	__conc_list_shrink(l);
	__conc_arena_unlock(&l->a);
	return n;
}

ssize_t conc_list_len(conc_list *lh)
{
	ssize_t n;
	int r;

	if (!lh)
		return -EINVAL;
	if ((r = __conc_list_lock(lh->l)))
		return r;
	n = (ssize_t)lh->l->count;
	__conc_arena_unlock(&lh->l->a);
	return n;
}
