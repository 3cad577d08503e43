/*
 * The shared part of conc's containers (map, list): a segment that begins
 * with a struct arena — a robust lock, an undo journal, the allocator's
 * free lists — followed by the container's own words and a heap.
 * Everything is addressed by offsets from the arena, never by pointers:
 * every process maps the segment at its own address.
 *
 * Crash consistency. A call changes the structure only through
 * __conc_arena_set(), which first appends (offset, old value) to the
 * journal and publishes the new length, then stores the new value. The
 * call ends with __conc_arena_commit(), one store that empties the journal.
 * A process killed in between leaves its robust lock to the next caller
 * (-EOWNERDEAD), who writes the old values back in reverse order: the
 * container is as it was before the dead call. Bytes written into a block
 * allocated by the same call need no journal: until the call commits,
 * undoing the allocation gives the block back. So a block freed by a call
 * is never reused by that same call, whose undo may need its contents.
 *
 * A change too large for a bounded journal (the list's shift of its slots)
 * goes the other way: the call first commits with state REDO, a record of
 * what is left to do, then does it, keeping the record's progress word
 * current; the next caller finishes it after a death (roll forward).
 *
 * Heap blocks: a header and a footer word, size | USED, around the
 * payload; sizes are multiples of 16, at least 32. A free block's payload
 * begins with its next and prev links in the free list of its size class.
 * Free neighbours are always merged, so an empty heap is one free block.
 */
#ifndef CONC_IPC_ARENA_H
#define CONC_IPC_ARENA_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <conc/mutex.h>
#include <conc/shm.h>
#include "wait/wait.h"	/* __CONC_HIDDEN */

#define ARENA_JMAX	64		/* journal entries; the most a call needs is
					 * 42 (list.c, an append that grows) */
#define ARENA_NCLASS	40		/* free lists: one per power of two */
#define ARENA_REDO	(1ull << 63)	/* jstate: a roll-forward record is live */
#define ARENA_MIN	4096u		/* smallest segment a container accepts */

struct arena {
	uint32_t init;		/* 0 new, 1 being set up, 2 ready */
	uint32_t layout;	/* the container's kind and layout version */
	uint64_t size;		/* bytes of the data area, this header included */
	uint64_t heap, heap_end;/* the allocator's range */
	uint64_t used;		/* bytes in allocated blocks (journaled) */
	uint64_t deaths;	/* holders found dead by the next locker */
	uint64_t recovered;	/* of their calls, those undone or finished */
	_Alignas(64) conc_mutex lock;
	uint64_t jstate;	/* entries in the journal, | ARENA_REDO */
	uint64_t free[ARENA_NCLASS];
	struct { uint64_t off, old; } j[ARENA_JMAX];
};

/*
 * A call on an arena, as this process makes it. Every process that maps
 * the segment can write any byte of it at any time, so nothing read from
 * it is followed unchecked: the bounds below are this process's own (the
 * size of its mapping; the heap's range, checked when it attached, which
 * never changes), every offset, length and count read from the segment
 * is checked against them before use and read only once, and every walk
 * is bounded by the number of blocks the heap could hold. The first
 * inconsistency found is kept in err instead of being followed: loads
 * then give 0 (a null link, which ends walks), stores are dropped, and
 * the call ends by undoing its journal and returning -EPROTO.
 */
struct arena_call {
	struct arena *a;
	uint64_t size;		/* bytes mapped, the arena's header included */
	uint64_t heap, heap_end;
	uint64_t jn;		/* journal entries this call has made */
	int err;		/* 0, or -EPROTO */
};

/* The container's roll-forward step, for the next caller after a death in
 * the REDO state (0 or -EPROTO); NULL for a container that never commits
 * REDO. */
typedef int (*arena_redo_fn)(struct arena_call *c);

/* Most blocks the heap can hold: the bound of every walk. */
static inline uint64_t __conc_arena_max_blocks(const struct arena_call *c)
{
	return (c->heap_end - c->heap) / 32;
}

/* Note an inconsistency (the first one counts); returns it. */
static inline int __conc_arena_bad(struct arena_call *c)
{
	if (!c->err)
		c->err = -EPROTO;
	return c->err;
}

/* A word at a place this process chose (not an offset read from the
 * segment), read once: the compiler may not read it again later. */
static inline uint64_t __conc_arena_load(const uint64_t *w)
{
	return __atomic_load_n(w, __ATOMIC_RELAXED);
}

/* The word at off (8-aligned, inside the mapping), read once; else 0 and
 * the call is marked bad. Inline: every step of every walk takes one. */
static inline uint64_t __conc_arena_get(struct arena_call *c, uint64_t off)
{
	if ((off & 7) || off > c->size - 8) {
		__conc_arena_bad(c);
		return 0;
	}
	return __conc_arena_load((const uint64_t *)((char *)c->a + off));
}

/* The len bytes at off, if they lie inside the heap (off 8-aligned);
 * else NULL and the call is marked bad. */
static inline void *__conc_arena_bytes(struct arena_call *c, uint64_t off,
				       uint64_t len)
{
	if ((off & 7) || off < c->heap || off > c->heap_end ||
	    len > c->heap_end - off) {
		__conc_arena_bad(c);
		return NULL;
	}
	return (char *)c->a + off;
}

/* The free list of blocks of size bytes (>= 32): floor(log2(size)) - 5. */
static inline unsigned __conc_arena_class(uint64_t size)
{
	unsigned c = 63 - (unsigned)__builtin_clzll(size) - 5;

	return c < ARENA_NCLASS ? c : ARENA_NCLASS - 1;
}

/* The compiler must keep the order of the stores around it: a process
 * dies at an instruction boundary, and the next locker comes in through
 * the kernel's release of the robust futex and its own acquire, so every
 * store issued before the death is seen; only their program order counts. */
static inline void __conc_arena_barrier(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* Set up a fresh arena of size bytes whose heap starts at heap (16-aligned),
 * for a container of layout. Not published: see __conc_arena_publish. */
void __conc_arena_init(struct arena *a, uint64_t size, uint64_t heap,
		       uint32_t layout) __CONC_HIDDEN;

/* The creator's side: whether this process sets the arena up (it was
 * new), and the store, with a wake-up, that makes it usable; or, when it
 * cannot set it up, the store that hands it back to the next creator. */
bool __conc_arena_claim_init(struct arena *a) __CONC_HIDDEN;
void __conc_arena_publish(struct arena *a) __CONC_HIDDEN;
void __conc_arena_unclaim(struct arena *a) __CONC_HIDDEN;

/* The ranges of a segment's data (size bytes) that __conc_arena_init and
 * a container's set-up write, for a container header of hdr bytes and a
 * heap at heap: the header, the heap's first block, the heap's last word
 * (the bucket table and the rest stay untouched zeros). Filled into
 * r[ARENA_RSV_N]. __conc_arena_reserve gives them their pages in seg
 * first (tmpfs gives a page when it is first touched, and on a full
 * /dev/shm the store would be a SIGBUS): 0, or -ENOSPC (-ENOMEM). */
#define ARENA_RSV_N 3
struct shm_range;
void __conc_arena_ranges(struct shm_range *r, size_t size, size_t hdr,
			 uint64_t heap) __CONC_HIDDEN;
int __conc_arena_reserve(const conc_shm *seg, size_t hdr, uint64_t heap)
	__CONC_HIDDEN;

/* Whether the arena a, found in a mapping of size bytes, is sound enough
 * to use: 0 and c filled in, or -EPROTO. Waits (bounded) for a creator
 * still setting it up. */
int __conc_arena_attach(struct arena_call *c, struct arena *a, size_t size,
			uint32_t layout) __CONC_HIDDEN;

/* A handle's timeout as the deadline of one call: 0 stays 0 (only try,
 * without reading the clock), < 0 none. */
static inline conc_deadline __conc_arena_deadline(int64_t timeout_ns)
{
	return timeout_ns == 0 ? 0 : __conc_deadline(timeout_ns);
}

/* Take the lock, waiting until dl (0: only try; < 0: no deadline), and
 * start a call (c->err, c->jn 0); after a holder's death, undo or finish
 * its call first. 0, or the lock's error (-ETIMEDOUT, -ECANCELED,
 * -ENOTRECOVERABLE, -ENOTSUP), or -EPROTO for a journal that cannot be
 * replayed (the container then stays unusable). */
int __conc_arena_lock(struct arena_call *c, arena_redo_fn redo,
		      conc_deadline dl) __CONC_HIDDEN;
void __conc_arena_unlock(struct arena_call *c) __CONC_HIDDEN;

/* The word at off = v, journaled; off 8-aligned, a word a call may change
 * (else the call is marked bad and nothing is stored). */
void __conc_arena_set(struct arena_call *c, uint64_t off, uint64_t v)
	__CONC_HIDDEN;

/* End the call's changes: the journal empties (state 0) or becomes a
 * roll-forward record (ARENA_REDO), and 0 is returned; or, if the call
 * was marked bad, everything it changed is undone and -EPROTO returned. */
int __conc_arena_commit(struct arena_call *c, uint64_t state) __CONC_HIDDEN;

/* Undo every journaled change of the call in progress. */
void __conc_arena_rollback(struct arena_call *c) __CONC_HIDDEN;

/* A payload of at least n bytes (8-aligned, inside the heap): its offset,
 * or 0 when no free block is large enough (or the call was marked bad).
 * Journaled; at most 13 entries. */
uint64_t __conc_arena_alloc(struct arena_call *c, uint64_t n) __CONC_HIDDEN;

/* Give back the payload at off (marks the call bad if off is not a block
 * in use). Journaled; at most 11 entries. */
void __conc_arena_free(struct arena_call *c, uint64_t off) __CONC_HIDDEN;

/* A fault-injection point (test builds only): see __conc_fi_arena_*. */
#ifdef CONC_FAULT_INJECTION
void __conc_arena_fi_point(void) __CONC_HIDDEN;
#else
static inline void __conc_arena_fi_point(void) {}
#endif

#ifdef CONC_FAULT_INJECTION
/*
 * Test builds: every journaled store, commit, roll-forward step and undo
 * step is a numbered point; the process SIGKILLs itself on reaching point
 * number __conc_fi_arena_kill_at (1-based; 0: never). NO_UNDO makes
 * __conc_arena_set skip the journal, to show the tests catch its absence.
 */
#define CONC_FI_ARENA_NO_UNDO 1u
extern unsigned long __conc_fi_arena_kill_at;
extern unsigned long __conc_fi_arena_points;
extern unsigned __conc_fi_arena_flags;
#endif

#endif
