/*
 * Where a key lives: its hash, its bucket, its place in the chain.
 */
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

uint64_t *__conc_map_find(struct map *h, const void *key, size_t klen,
		      uint64_t hv, struct entry **e)
{
	uint64_t *link = __conc_map_bucket(h, hv);

	for (; *link; link = &(*e)->next) {
		*e = __conc_map_entry(h, *link);
		if ((*e)->hash == hv && (*e)->klen == klen &&
		    !memcmp((*e)->bytes, key, klen))
			return link;
	}
	*e = NULL;
	return link;
}
