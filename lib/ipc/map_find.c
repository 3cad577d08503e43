/*
 * Where a key lives: its hash, its bucket, its place in the chain. The
 * chain is in shared memory: each entry is checked before it is read,
 * and the walk stops after as many entries as the heap can hold.
 */
#include <stddef.h>
#include <string.h>
#include "ipc/map_impl.h"

static uint64_t fmix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

uint64_t __conc_map_hash(const void *key, size_t n)
{
	const unsigned char *p = key;
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

int __conc_map_entry(struct arena_call *c, uint64_t off, struct entry_view *e)
{
	struct entry *p = __conc_arena_bytes(c, off, sizeof(*p));

	if (!p)
		return c->err;
	e->off = off;
	e->next = __conc_arena_load(&p->next);
	e->hash = __conc_arena_load(&p->hash);
	e->klen = __conc_arena_load(&p->klen);
	e->vlen = __conc_arena_load(&p->vlen);
	e->bytes = p->bytes;
	if (e->klen > c->heap_end || e->vlen > c->heap_end - e->klen ||
	    !__conc_arena_bytes(c, off + sizeof(*p), e->klen + e->vlen))
		return __conc_arena_bad(c);
	return 0;
}

int __conc_map_find(const conc_map *m, struct arena_call *c, const void *key,
		    size_t klen, uint64_t hv, uint64_t *link,
		    struct entry_view *e)
{
	uint64_t at = __conc_map_bucket(m, hv), off, n;

	for (n = 0; (off = __conc_arena_get(c, at)); n++) {
		if (n == __conc_arena_max_blocks(c) || __conc_map_entry(c, off, e))
			return __conc_arena_bad(c);
		if (e->hash == hv && e->klen == klen &&
		    !memcmp(e->bytes, key, klen)) {
			*link = at;
			return 0;
		}
		at = off + offsetof(struct entry, next);
	}
	e->off = 0;
	*link = at;
	return c->err;
}
