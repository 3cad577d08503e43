/*
 * Where doors live: a table of chunks that only grows (a door's memory
 * stays valid for any thread that still holds its address), with a
 * lock-free list of the doors no loop uses. A loop takes one and gives it
 * back when it ends, after moving its generation on; so 1,000 loops one
 * after the other use one door, and a conc_loop handle, (generation,
 * index), from one of them is told apart from the next one's.
 *
 * A handle is not an address: generation << 32 | (index + 1) << 3, never
 * dereferenced, checked against the table before use.
 */
#include <stdlib.h>
#include "loop/loop_impl.h"

_Static_assert(sizeof(uintptr_t) == 8, "a handle holds 64 bits");

#define CHUNK_BITS	8
#define CHUNK		(1u << CHUNK_BITS)
#define NCHUNK		4096		/* a million loops at once */

static struct door *chunks[NCHUNK];
static uint32_t made;			/* doors handed out by index */
/* The free list: count << 32 | (index + 1) of the first; the count moves
 * at every change, so a pop that read a stale next fails its exchange. */
static uint64_t free_head;

static struct door *at(uint32_t idx)
{
	/* Acquire: the chunk's zeroed doors and their idx as installed. */
	struct door *c = idx < NCHUNK * CHUNK ?
		__atomic_load_n(&chunks[idx >> CHUNK_BITS], __ATOMIC_ACQUIRE) : NULL;

	return c ? &c[idx & (CHUNK - 1)] : NULL;
}

static struct door *make(void)
{
	uint32_t idx = __atomic_fetch_add(&made, 1, __ATOMIC_RELAXED);
	struct door *c, *none = NULL;

	if (idx >= NCHUNK * CHUNK)
		return NULL;
	c = at(idx);
	if (c)
		return c;
	c = calloc(CHUNK, sizeof(*c));
	if (!c)
		return NULL;	/* this index stays unused */
	for (uint32_t i = 0; i < CHUNK; i++)
		c[i].idx = (idx & ~(CHUNK - 1)) + i;
	/* Release: the idx fields before the chunk is seen. */
	if (!__atomic_compare_exchange_n(&chunks[idx >> CHUNK_BITS], &none, c, false,
					 __ATOMIC_RELEASE, __ATOMIC_ACQUIRE)) {
		free(c);
		c = none;
	}
	return &c[idx & (CHUNK - 1)];
}

struct door *__conc_door_get(void)
{
	uint64_t h = __atomic_load_n(&free_head, __ATOMIC_ACQUIRE), n;
	struct door *d;

	do {
		if (!(uint32_t)h)
			return make();
		d = at((uint32_t)h - 1);
		/* A stale next (d popped meanwhile) fails the exchange. */
		n = ((h >> 32) + 1) << 32 | __atomic_load_n(&d->next_free, __ATOMIC_RELAXED);
	} while (!__atomic_compare_exchange_n(&free_head, &h, n, true,
					      __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE));
	return d;
}

void __conc_door_put(struct door *d)
{
	uint64_t h = __atomic_load_n(&free_head, __ATOMIC_RELAXED), n;

	do {
		__atomic_store_n(&d->next_free, (uint32_t)h, __ATOMIC_RELAXED);
		n = ((h >> 32) + 1) << 32 | (d->idx + 1);
	} while (!__atomic_compare_exchange_n(&free_head, &h, n, true,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

conc_loop *__conc_door_handle(const struct door *d)
{
	return (conc_loop *)(uintptr_t)((uint64_t)d->gen << 32 |
					(uint64_t)(d->idx + 1) << 3);
}

struct door *__conc_door_of(const conc_loop *h, uint32_t *gen)
{
	uint64_t v = (uint64_t)(uintptr_t)h;
	uint32_t low = (uint32_t)v;

	if (!h || (low & 7) || !(low >> 3) ||
	    (low >> 3) > __atomic_load_n(&made, __ATOMIC_RELAXED))
		return NULL;
	*gen = (uint32_t)(v >> 32);
	return *gen ? at((low >> 3) - 1) : NULL;
}
