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
	struct arena_call c;	/* each call starts from a copy */
	uint64_t nbuckets, buckets;	/* read once at attach, checked */
	int64_t timeout_ns;	/* for the lock; this process's alone */
};

/* Take the map's lock within the handle's timeout (see arena.h). */
static inline int __conc_map_lock(const conc_map *m, struct arena_call *c)
{
	return __conc_arena_lock(c, NULL, __conc_arena_deadline(m->timeout_ns));
}

/* An entry as found: its words read once, its bytes (key, then value)
 * checked to lie inside the heap. */
struct entry_view {
	uint64_t off, next, hash, klen, vlen;
	const unsigned char *bytes;
};

/* The hash of a key, the same in every process: no per-process seed. */
uint64_t __conc_map_hash(const void *key, size_t klen) __CONC_HIDDEN;

/* The entry at off, checked: 0, or -EPROTO (and the call marked bad). */
int __conc_map_entry(struct arena_call *c, uint64_t off, struct entry_view *e)
	__CONC_HIDDEN;

/* The offset of the bucket head for hash hv. */
static inline uint64_t __conc_map_bucket(const conc_map *m, uint64_t hv)
{
	return m->buckets + 8 * (hv & (m->nbuckets - 1));
}

/* Look key up under the lock: *link is the offset of the word that points
 * at its entry (e->off), or of the chain's last link (e->off 0). Returns
 * 0, or -EPROTO for a chain that leaves the heap or does not end. */
int __conc_map_find(const conc_map *m, struct arena_call *c, const void *key,
		    size_t klen, uint64_t hv, uint64_t *link,
		    struct entry_view *e) __CONC_HIDDEN;

#endif
