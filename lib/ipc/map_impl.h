/*
 * The map's layout in its arena (arena.h): a fixed table of bucket heads,
 * sized from the segment so the load stays low even when the heap is full
 * of the smallest entries, each the offset of a chain of entries {next,
 * hash, klen, vlen, key, value}. A new entry is written whole into a fresh
 * block before one journaled store links it; a replaced or deleted one is
 * unlinked by one store, then freed. At most 1 + 13 + 1 + 11 journal
 * entries a call.
 */
#ifndef CONC_IPC_MAP_IMPL_H
#define CONC_IPC_MAP_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <conc/map.h>
#include <conc/shm.h>
#include "ipc/arena.h"

#define MAP_LAYOUT	0x4d415031u	/* "MAP1" */

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

/* The hash of a key, the same in every process: no per-process seed. */
uint64_t __conc_map_hash(const void *key, size_t klen) __CONC_HIDDEN;

/* The link that points at key's entry (*e), or the chain's last link
 * (*e NULL). */
uint64_t *__conc_map_find(struct map *h, const void *key, size_t klen,
			  uint64_t hv, struct entry **e) __CONC_HIDDEN;

static inline struct entry *__conc_map_entry(struct map *h, uint64_t off)
{
	return __conc_arena_at(&h->a, off);
}

static inline uint64_t *__conc_map_bucket(struct map *h, uint64_t hv)
{
	return (uint64_t *)__conc_arena_at(&h->a, h->buckets) +
	       (hv & (h->nbuckets - 1));
}

#endif
