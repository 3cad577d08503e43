/*
 * The map's calls on its entries (layout: map_impl.h): put, get, delete,
 * contains, len, iterate; each under the arena's lock, each on its own
 * copy of the handle's checked bounds (struct arena_call).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include "ipc/map_impl.h"

#define COUNT_OFF offsetof(struct map, count)

/* A key no segment of this size could hold is bad input. */
static int bad_key(const conc_map *m, const void *key, size_t klen)
{
	return !m || !key || !klen || klen > m->c.size;
}

int conc_map_put(conc_map *m, const void *key, size_t klen, const void *val,
		 size_t vlen)
{
	struct arena_call c;
	struct entry_view old;
	struct entry *e;
	uint64_t hv, off, link;
	int r;

	if (!m || !key || !klen || (!val && vlen))
		return -EINVAL;
	c = m->c;
	if (klen > c.size || vlen > c.size)
		return -ENOSPC;
	hv = __conc_map_hash(key, klen);
	if ((r = __conc_map_lock(m, &c)))
		return r;
	if ((r = __conc_map_find(m, &c, key, klen, hv, &link, &old)))
		goto out;
	off = __conc_arena_alloc(&c, sizeof(*e) + klen + vlen);
	e = off ? __conc_arena_bytes(&c, off, sizeof(*e) + klen + vlen) : NULL;
	if (!e) {
		r = __conc_arena_commit(&c, 0);	/* undoes a failed alloc */
		r = r ? r : -ENOSPC;
		goto out;
	}
	e->hash = hv;
	e->klen = klen;
	e->vlen = vlen;
	memcpy(e->bytes, key, klen);
	if (vlen)
		memcpy(e->bytes + klen, val, vlen);
	if (old.off) {
		e->next = old.next;
		__conc_arena_set(&c, link, off);
		__conc_arena_free(&c, old.off);
	} else {
		link = __conc_map_bucket(m, hv);
		e->next = __conc_arena_get(&c, link);
		__conc_arena_set(&c, link, off);
		__conc_arena_set(&c, COUNT_OFF, __conc_arena_get(&c, COUNT_OFF) + 1);
	}
	r = __conc_arena_commit(&c, 0);
out:
	__conc_arena_unlock(&c);
	return r;
}

ssize_t conc_map_get(conc_map *m, const void *key, size_t klen, void *buf,
		     size_t cap)
{
	struct arena_call c;
	struct entry_view e;
	uint64_t link;
	ssize_t n;
	int r;

	if (bad_key(m, key, klen) || (!buf && cap))
		return -EINVAL;
	c = m->c;
	if ((r = __conc_map_lock(m, &c)))
		return r;
	if ((r = __conc_map_find(m, &c, key, klen, __conc_map_hash(key, klen),
				 &link, &e)))
		n = r;
	else if (!e.off)
		n = -ENOENT;
	else if (buf && e.vlen > cap)
		n = -EMSGSIZE;
	else
		n = (ssize_t)e.vlen;
	if (n > 0 && buf)
		memcpy(buf, e.bytes + klen, (size_t)n);
	__conc_arena_unlock(&c);
	return n;
}

int conc_map_delete(conc_map *m, const void *key, size_t klen)
{
	struct arena_call c;
	struct entry_view e;
	uint64_t link;
	int r;

	if (bad_key(m, key, klen))
		return -EINVAL;
	c = m->c;
	if ((r = __conc_map_lock(m, &c)))
		return r;
	r = __conc_map_find(m, &c, key, klen, __conc_map_hash(key, klen),
			    &link, &e);
	if (!r && !e.off)
		r = -ENOENT;
	if (!r) {
		__conc_arena_set(&c, link, e.next);
		__conc_arena_set(&c, COUNT_OFF, __conc_arena_get(&c, COUNT_OFF) - 1);
		__conc_arena_free(&c, e.off);
		r = __conc_arena_commit(&c, 0);
	}
	__conc_arena_unlock(&c);
	return r;
}

bool conc_map_contains(conc_map *m, const void *key, size_t klen)
{
	struct arena_call c;
	struct entry_view e;
	uint64_t link;
	int r;

	if (bad_key(m, key, klen))
		return false;
	c = m->c;
	if (__conc_map_lock(m, &c))
		return false;
	r = __conc_map_find(m, &c, key, klen, __conc_map_hash(key, klen),
			    &link, &e);
	__conc_arena_unlock(&c);
	return !r && e.off;
}

ssize_t conc_map_len(conc_map *m)
{
	struct arena_call c;
	uint64_t n;
	int r;

	if (!m)
		return -EINVAL;
	c = m->c;
	if ((r = __conc_map_lock(m, &c)))
		return r;
	n = __conc_arena_get(&c, COUNT_OFF);
	__conc_arena_unlock(&c);
	return n > __conc_arena_max_blocks(&c) ? -EPROTO : (ssize_t)n;
}

int conc_map_iterate(conc_map *m,
		     int (*fn)(const void *key, size_t klen, const void *val,
			       size_t vlen, void *arg),
		     void *arg)
{
	struct arena_call c;
	struct entry_view e;
	uint64_t i, off, left;
	int r;

	if (!m || !fn)
		return -EINVAL;
	c = m->c;
	if ((r = __conc_map_lock(m, &c)))
		return r;
	left = __conc_arena_max_blocks(&c);
	for (i = 0; i < m->nbuckets && !r; i++)
		for (off = __conc_arena_get(&c, m->buckets + 8 * i); off && !r;
		     off = e.next) {
			if (!left-- || __conc_map_entry(&c, off, &e)) {
				r = __conc_arena_bad(&c);
				break;
			}
			r = fn(e.bytes, e.klen, e.bytes + e.klen, e.vlen, arg);
		}
	__conc_arena_unlock(&c);
	return r;
}
