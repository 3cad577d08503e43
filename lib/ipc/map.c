/*
 * The map's calls on its entries (layout: map_impl.h): put, get, delete,
 * contains, len, iterate; each under the arena's lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ipc/map_impl.h"

static int lock(struct map *h)
{
	return __conc_arena_lock(&h->a, NULL);
}

static int bad_key(const conc_map *m, const void *key, size_t klen)
{
	return !m || !key || !klen;
}

int conc_map_put(conc_map *m, const void *key, size_t klen, const void *val,
		 size_t vlen)
{
	struct entry *e, *old;
	uint64_t hv, off, *link;
	struct map *h;
	int r;

	if (bad_key(m, key, klen) || (!val && vlen))
		return -EINVAL;
	h = m->h;
	if (klen > h->a.size || vlen > h->a.size)
		return -ENOSPC;
	hv = __conc_map_hash(key, klen);
	if ((r = lock(h)))
		return r;
	link = __conc_map_find(h, key, klen, hv, &old);
	off = __conc_arena_alloc(&h->a, sizeof(*e) + klen + vlen);
	if (!off) {
		__conc_arena_unlock(&h->a);
		return -ENOSPC;
	}
	e = __conc_map_entry(h, off);
	e->hash = hv;
	e->klen = klen;
	e->vlen = vlen;
	memcpy(e->bytes, key, klen);
	if (vlen)
		memcpy(e->bytes + klen, val, vlen);
	if (old) {
		e->next = old->next;
		__conc_arena_set(&h->a, link, off);
		__conc_arena_free(&h->a, __conc_arena_off(&h->a, old));
	} else {
		link = __conc_map_bucket(h, hv);
		e->next = *link;
		__conc_arena_set(&h->a, link, off);
		__conc_arena_set(&h->a, &h->count, h->count + 1);
	}
	__conc_arena_commit(&h->a, 0);
	__conc_arena_unlock(&h->a);
	return 0;
}

ssize_t conc_map_get(conc_map *m, const void *key, size_t klen, void *buf,
		     size_t cap)
{
	struct entry *e;
	ssize_t n;
	int r;

	if (bad_key(m, key, klen) || (!buf && cap))
		return -EINVAL;
	if ((r = lock(m->h)))
		return r;
	__conc_map_find(m->h, key, klen, __conc_map_hash(key, klen), &e);
	if (!e)
		n = -ENOENT;
	else if (buf && e->vlen > cap)
		n = -EMSGSIZE;
	else
		n = (ssize_t)e->vlen;
	if (n > 0 && buf)
		memcpy(buf, e->bytes + klen, (size_t)n);
	__conc_arena_unlock(&m->h->a);
	return n;
}

int conc_map_delete(conc_map *m, const void *key, size_t klen)
{
	struct map *h;
	struct entry *e;
	uint64_t *link;
	int r;

	if (bad_key(m, key, klen))
		return -EINVAL;
	h = m->h;
	if ((r = lock(h)))
		return r;
	link = __conc_map_find(h, key, klen, __conc_map_hash(key, klen), &e);
	if (!e) {
		__conc_arena_unlock(&h->a);
		return -ENOENT;
	}
	__conc_arena_set(&h->a, link, e->next);
	__conc_arena_set(&h->a, &h->count, h->count - 1);
	__conc_arena_free(&h->a, __conc_arena_off(&h->a, e));
	__conc_arena_commit(&h->a, 0);
	__conc_arena_unlock(&h->a);
	return 0;
}

bool conc_map_contains(conc_map *m, const void *key, size_t klen)
{
	struct entry *e;

	if (bad_key(m, key, klen) || lock(m->h))
		return false;
	__conc_map_find(m->h, key, klen, __conc_map_hash(key, klen), &e);
	__conc_arena_unlock(&m->h->a);
	return e != NULL;
}

ssize_t conc_map_len(conc_map *m)
{
	ssize_t n;
	int r;

	if (!m)
		return -EINVAL;
	if ((r = lock(m->h)))
		return r;
	n = (ssize_t)m->h->count;
	__conc_arena_unlock(&m->h->a);
	return n;
}

int conc_map_iterate(conc_map *m,
		     int (*fn)(const void *key, size_t klen, const void *val,
			       size_t vlen, void *arg),
		     void *arg)
{
	struct map *h;
	struct entry *e;
	uint64_t i, off;
	int r;

	if (!m || !fn)
		return -EINVAL;
	h = m->h;
	if ((r = lock(h)))
		return r;
	for (i = 0; i < h->nbuckets && !r; i++)
		for (off = *__conc_map_bucket(h, i); off && !r; off = e->next) {
			e = __conc_map_entry(h, off);
			r = fn(e->bytes, e->klen, e->bytes + e->klen, e->vlen, arg);
		}
	__conc_arena_unlock(&h->a);
	return r;
}
