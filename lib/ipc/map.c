/*
 * A hash map in an arena (arena.h): a fixed table of bucket heads, sized
 * from the segment so the load stays low even when the heap is full of the
 * smallest entries, each the offset of a chain of entries {next, hash,
 * klen, vlen, key, value}. A new entry is written whole into a fresh block
 * before one journaled store links it; a replaced or deleted one is
 * unlinked by one store, then freed. At most 1 + 13 + 1 + 11 journal
 * entries a call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <conc/map.h>
#include <conc/shm.h>
#include "arena.h"

#define LAYOUT		0x4d415031u	/* "MAP1" */
#define DEFAULT_SIZE	((size_t)1 << 20)
#define BYTES_PER_BUCKET 128		/* the smallest entry takes 48 */

struct map {
	struct arena a;
	uint64_t count;
	uint64_t nbuckets;	/* a power of two */
	uint64_t buckets;	/* offset of nbuckets entry offsets */
};

struct entry {
	uint64_t next;
	uint64_t hash;
	uint64_t klen, vlen;
	unsigned char bytes[];	/* key, then value */
};

struct conc_map {
	conc_shm *seg;
	struct map *h;
};

static uint64_t fmix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* The same in every process: no per-process seed. */
static uint64_t hash(const unsigned char *p, size_t n)
{
	uint64_t h = fmix(n + 1), w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, p, n);
	return fmix(h ^ w);
}

static struct entry *entry_at(struct map *h, uint64_t off)
{
	return __conc_arena_at(&h->a, off);
}

static uint64_t *bucket(struct map *h, uint64_t hv)
{
	return (uint64_t *)__conc_arena_at(&h->a, h->buckets) +
	       (hv & (h->nbuckets - 1));
}

/* The link that points at key's entry (*e), or the chain's last link
 * (*e NULL). */
static uint64_t *find(struct map *h, const void *key, size_t klen,
		      uint64_t hv, struct entry **e)
{
	uint64_t *link = bucket(h, hv);

	for (; *link; link = &(*e)->next) {
		*e = entry_at(h, *link);
		if ((*e)->hash == hv && (*e)->klen == klen &&
		    !memcmp((*e)->bytes, key, klen))
			return link;
	}
	*e = NULL;
	return link;
}

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
	hv = hash(key, klen);
	if ((r = lock(h)))
		return r;
	link = find(h, key, klen, hv, &old);
	off = __conc_arena_alloc(&h->a, sizeof(*e) + klen + vlen);
	if (!off) {
		__conc_arena_unlock(&h->a);
		return -ENOSPC;
	}
	e = entry_at(h, off);
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
		link = bucket(h, hv);
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
	find(m->h, key, klen, hash(key, klen), &e);
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
	link = find(h, key, klen, hash(key, klen), &e);
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
	find(m->h, key, klen, hash(key, klen), &e);
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
		for (off = *bucket(h, i); off && !r; off = e->next) {
			e = entry_at(h, off);
			r = fn(e->bytes, e->klen, e->bytes + e->klen, e->vlen, arg);
		}
	__conc_arena_unlock(&h->a);
	return r;
}

static uint64_t align16(uint64_t v)
{
	return (v + 15) & ~(uint64_t)15;
}

static void setup(struct map *h, size_t size)
{
	uint64_t n = 16;

	while (n * 2 <= size / BYTES_PER_BUCKET)
		n *= 2;
	h->nbuckets = n;
	h->buckets = align16(sizeof(*h));
	__conc_arena_init(&h->a, size, align16(h->buckets + n * 8), LAYOUT);
}

static int attach(conc_map **out, conc_shm *seg)
{
	struct map *h = conc_shm_data(seg);
	size_t size = conc_shm_size(seg);
	conc_map *m;
	int r;

	if (size < ARENA_MIN)
		return -EPROTO;
	if ((r = __conc_arena_attach(&h->a, size, LAYOUT)))
		return r;
	if (!h->nbuckets || (h->nbuckets & (h->nbuckets - 1)) ||
	    h->buckets != align16(sizeof(*h)) ||
	    h->nbuckets > (h->a.heap - h->buckets) / 8)
		return -EPROTO;
	if (!(m = malloc(sizeof(*m))))
		return -ENOMEM;
	m->seg = seg;
	m->h = h;
	*out = m;
	return 0;
}

int conc_map_create(conc_map **out, const conc_map_attr *attr)
{
	size_t size = attr && attr->size ? attr->size : DEFAULT_SIZE;
	struct map *h;
	conc_shm *seg;
	int r;

	if (!out || size < ARENA_MIN)
		return -EINVAL;
	r = conc_shm_create(&seg, attr ? attr->name : NULL, size, CONC_SHM_MAP,
			    attr ? attr->flags : 0);
	if (r)
		return r;
	h = conc_shm_data(seg);
	/* An existing named map is opened, not set up again. */
	if (__atomic_compare_exchange_n(&h->a.init, &(uint32_t){ 0 }, 1, 0,
					__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		setup(h, size);
		/* release: the whole set-up before the word that says so. */
		__atomic_store_n(&h->a.init, 2, __ATOMIC_RELEASE);
	}
	if ((r = attach(out, seg)))
		conc_shm_close(seg);
	return r;
}

int conc_map_open(conc_map **out, const char *name)
{
	conc_shm *seg;
	int r;

	if (!out)
		return -EINVAL;
	if ((r = conc_shm_open(&seg, name, CONC_SHM_MAP)))
		return r;
	if ((r = attach(out, seg)))
		conc_shm_close(seg);
	return r;
}

int conc_map_destroy(conc_map *m)
{
	if (!m)
		return -EINVAL;
	conc_shm_close(m->seg);
	free(m);
	return 0;
}

static int bad(struct __conc_arena_stat *st, const char *why)
{
	st->why = why;
	return -EPROTO;
}

static int check_chains(struct map *h, struct __conc_arena_stat *st,
			const uint64_t *used, bool *seen, size_t n)
{
	uint64_t i, off, cap;
	struct entry *e;

	for (i = 0; i < h->nbuckets; i++)
		for (off = *bucket(h, i); off; off = e->next) {
			if (!__conc_arena_claim(used, seen, n, off))
				return bad(st, "entry not a block in use, or reached twice");
			e = entry_at(h, off);
			cap = __conc_arena_capacity(&h->a, off) - sizeof(*e);
			if (!e->klen || e->klen > cap || e->vlen > cap - e->klen)
				return bad(st, "entry larger than its block");
			if (hash(e->bytes, e->klen) != e->hash)
				return bad(st, "entry hash does not match its key");
			if ((e->hash & (h->nbuckets - 1)) != i)
				return bad(st, "entry in the wrong bucket");
			st->entries++;
		}
	if (st->entries != h->count)
		return bad(st, "count differs from the entries");
	if (st->entries != n)
		return bad(st, "block in use that no entry reaches (leak)");
	return 0;
}

int __conc_map_check(conc_map *m, struct __conc_arena_stat *st)
{
	uint64_t *used = NULL;
	bool *seen;
	size_t n;
	int r;

	if (!m || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	if ((r = lock(m->h)))
		return r;
	r = __conc_arena_check(&m->h->a, st, &used, &n);
	if (!r) {
		seen = calloc(n + 1, sizeof(*seen));
		r = seen ? check_chains(m->h, st, used, seen, n) : -ENOMEM;
		free(seen);
	}
	free(used);
	__conc_arena_unlock(&m->h->a);
	return r;
}
