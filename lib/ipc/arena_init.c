/*
 * Setting an arena up, and finding one: the creator claims the init word,
 * sets up, then publishes; an opener waits (bounded) for that.
 */
#include <errno.h>
#include <limits.h>
#include "ipc/arena.h"
#include "ipc/shm_impl.h"
#include "sys/sys.h"
#include "wait/wait.h"

#define ATTACH_WAIT_NS 1000000000LL

void __conc_arena_init(struct arena *a, uint64_t size, uint64_t heap,
		       uint32_t layout)
{
	uint64_t end = size & ~(uint64_t)15;
	uint64_t *blk = (uint64_t *)((char *)a + heap);

	a->layout = layout;
	a->size = size;
	a->heap = heap;
	a->heap_end = end;
	conc_mutex_init(&a->lock, CONC_ROBUST);
	/* One free block spans the heap; __conc_arena_free would do the
	 * same, but there is nothing to journal in a segment nobody sees. */
	blk[0] = end - heap;
	blk[1] = blk[2] = 0;
	*(uint64_t *)((char *)a + end - 8) = end - heap;
	a->free[__conc_arena_class(end - heap)] = heap;
}

int __conc_arena_attach(struct arena_call *c, struct arena *a, size_t size,
			uint32_t layout)
{
	conc_deadline dl = sys_now_ns() + ATTACH_WAIT_NS;
	uint64_t heap, end;
	uint32_t v;
	int r;

	/* Its creator may still be setting it up: it stores 2 and wakes us
	 * (__conc_arena_publish). One that died half way leaves 1 for good. */
	while ((v = __atomic_load_n(&a->init, __ATOMIC_ACQUIRE)) != 2) {
		if (v > 2)
			return -EPROTO;
		r = __conc_wait(&a->init, v, dl, 0);
		/* A cancelled task's wait: final, not swallowed. */
		if (r == -ECANCELED)
			return r;
		if (r == -ETIMEDOUT &&
		    __atomic_load_n(&a->init, __ATOMIC_ACQUIRE) != 2)
			return -EPROTO;
	}
	/* Read once, checked, and from now on only our copies are used. */
	heap = __conc_arena_load(&a->heap);
	end = __conc_arena_load(&a->heap_end);
	if (a->layout != layout || a->size != size ||
	    heap < sizeof(*a) || (heap & 15) ||
	    end > size || (end & 15) || end < heap + 32 ||
	    !(a->lock.flags & CONC_ROBUST))
		return -EPROTO;
	*c = (struct arena_call){ .a = a, .size = size, .heap = heap,
				  .heap_end = end };
	return 0;
}

bool __conc_arena_claim_init(struct arena *a)
{
	return __atomic_compare_exchange_n(&a->init, &(uint32_t){ 0 }, 1, 0,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void __conc_arena_unclaim(struct arena *a)
{
	/* Openers waiting for a creator go on waiting (to their deadline). */
	__atomic_store_n(&a->init, 0, __ATOMIC_RELEASE);
	__conc_wake(&a->init, INT_MAX, 0);
}

void __conc_arena_ranges(struct shm_range *r, size_t size, size_t hdr,
			 uint64_t heap)
{
	r[0] = (struct shm_range){ 0, hdr };
	r[1] = (struct shm_range){ heap, 32 };
	r[2] = (struct shm_range){ size - 32, 32 };
}

int __conc_arena_reserve(const conc_shm *seg, size_t hdr, uint64_t heap)
{
	struct shm_range r[ARENA_RSV_N];
	int i, e = 0;

	__conc_arena_ranges(r, conc_shm_size(seg), hdr, heap);
	for (i = 0; i < ARENA_RSV_N && !e; i++)
		e = __conc_shm_reserve(seg, r[i].off, r[i].len);
	return e;
}

void __conc_arena_publish(struct arena *a)
{
	/* release: the whole set-up before the word that says so. */
	__atomic_store_n(&a->init, 2, __ATOMIC_RELEASE);
	__conc_wake(&a->init, INT_MAX, 0);
}
