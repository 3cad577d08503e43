/*
 * The list's calls (layout: list_impl.h): append, get, set, pop, len; each
 * under the arena's lock, each on its own copy of the handle's checked
 * bounds (struct arena_call) and of the ring (struct ring).
 *
 * Journal entries a call: append 13 + (grow 13 + 3 + 11) + 2; set
 * 13 + 1 + 11; pop 11, then a shrink 13 + 3 + 11.
 */
#include <errno.h>
#include <string.h>
#include "ipc/list_impl.h"

/* Take the lock within the handle's timeout (see arena.h). */
static int lock(const conc_list *lh, struct arena_call *c, struct ring *r)
{
	return __conc_list_lock(c, r, __conc_arena_deadline(lh->timeout_ns));
}

static uint64_t new_elem(struct arena_call *c, const void *val, size_t len)
{
	uint64_t off = __conc_arena_alloc(c, sizeof(struct elem) + len);
	struct elem *e;

	if (off && (e = __conc_arena_bytes(c, off, sizeof(*e) + len))) {
		e->len = len;
		if (len)
			memcpy(e->bytes, val, len);
	}
	return c->err ? 0 : off;
}

int conc_list_append(conc_list *lh, const void *val, size_t len)
{
	struct arena_call c;
	struct ring r;
	uint64_t off;
	int e;

	if (!lh || (!val && len))
		return -EINVAL;
	c = lh->c;
	if (len > c.size)
		return -ENOSPC;
	if ((e = lock(lh, &c, &r)))
		return e;
	if (!(off = new_elem(&c, val, len)))
		e = c.err ? c.err : -ENOSPC;
	else if (r.count == r.cap)
		e = __conc_list_grow(&c, &r);
	if (!e) {
		__conc_arena_set(&c, __conc_list_slot_off(&r, r.count), off);
		__conc_arena_set(&c, LIST_OFF(count), r.count + 1);
		e = __conc_arena_commit(&c, 0);
	} else {
		__conc_arena_rollback(&c);
	}
	__conc_arena_unlock(&c);
	return e;
}

ssize_t conc_list_get(conc_list *lh, ssize_t index, void *buf, size_t cap)
{
	const unsigned char *p;
	struct arena_call c;
	struct ring r;
	uint64_t i, len;
	ssize_t n;

	if (!lh || (!buf && cap))
		return -EINVAL;
	c = lh->c;
	if ((n = lock(lh, &c, &r)))
		return n;
	if ((n = __conc_list_locate(&r, index, &i)) == 0) {
		if (!(p = __conc_list_elem(&c, __conc_list_slot(&r, i), &len)))
			n = c.err;
		else if (buf && len > cap)
			n = -EMSGSIZE;
		else
			n = (ssize_t)len;
		if (n > 0 && buf)
			memcpy(buf, p, (size_t)n);
	}
	__conc_arena_unlock(&c);
	return n;
}

int conc_list_set(conc_list *lh, ssize_t index, const void *val, size_t len)
{
	struct arena_call c;
	uint64_t i, off = 0, old;
	struct ring r;
	int e;

	if (!lh || (!val && len))
		return -EINVAL;
	c = lh->c;
	if (len > c.size)
		return -ENOSPC;
	if ((e = lock(lh, &c, &r)))
		return e;
	if (!(e = __conc_list_locate(&r, index, &i)) &&
	    !(off = new_elem(&c, val, len)))
		e = c.err ? c.err : -ENOSPC;
	if (!e) {
		old = __conc_list_slot(&r, i);
		__conc_arena_set(&c, __conc_list_slot_off(&r, i), off);
		__conc_arena_free(&c, old);
		e = __conc_arena_commit(&c, 0);
	} else {
		__conc_arena_rollback(&c);
	}
	__conc_arena_unlock(&c);
	return e;
}

/* Record how pop closes the gap at i, from the nearer end. Not journaled:
 * these words count only once the REDO record is committed. */
static void plan_pop(struct list *l, const struct ring *r, uint64_t i)
{
	l->pos = (int64_t)i;
	if (i < r->count / 2) {
		l->end = 0;
		l->dir = -1;
		l->new_head = (r->head + 1) % r->cap;
	} else {
		l->end = (int64_t)r->count - 1;
		l->dir = 1;
		l->new_head = r->head;
	}
	l->new_count = r->count - 1;
}

ssize_t conc_list_pop(conc_list *lh, ssize_t index, void *buf, size_t cap)
{
	const unsigned char *p;
	struct arena_call c;
	uint64_t i, off, len;
	struct ring r;
	ssize_t n = 0;
	int e;

	if (!lh || (!buf && cap))
		return -EINVAL;
	c = lh->c;
	if ((e = lock(lh, &c, &r)))
		return e;
	if ((e = __conc_list_locate(&r, index, &i)))
		goto out;
	off = __conc_list_slot(&r, i);
	if (!(p = __conc_list_elem(&c, off, &len))) {
		e = c.err;
		goto out;
	}
	if (len > cap) {
		e = -EMSGSIZE;
		goto out;
	}
	n = (ssize_t)len;
	if (n)
		memcpy(buf, p, (size_t)n);
	__conc_arena_free(&c, off);
	plan_pop(lh->l, &r, i);
	if ((e = __conc_arena_commit(&c, ARENA_REDO)))
		goto out;
	e = __conc_list_finish_pop(&c);
	__conc_arena_commit(&c, 0);
	if (!e && !__conc_list_ring(&c, &r))
		__conc_list_shrink(&c, &r);
out:
	__conc_arena_unlock(&c);
	return e ? e : n;
}

ssize_t conc_list_len(conc_list *lh)
{
	struct arena_call c;
	struct ring r;
	int e;

	if (!lh)
		return -EINVAL;
	c = lh->c;
	if ((e = lock(lh, &c, &r)))
		return e;
	__conc_arena_unlock(&c);
	return (ssize_t)r.count;
}
