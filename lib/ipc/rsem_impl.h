/*
 * The robust semaphore. Its truth is the holder table alone: a permit is
 * held exactly while a slot's robust mutex is locked by a live thread,
 * count permits per slot. Free permits are permits minus what the live
 * slots hold; no counter says it, so none can be left half updated.
 *
 * Taking: under the table lock (a robust mutex), look at every slot, take
 * back those whose holder died (the kernel marked their word
 * FUTEX_OWNER_DIED when it walked the dead thread's robust list), and if
 * the live ones leave a permit, write a free slot (count 1, pid, time) and
 * lock its mutex: that lock is the commit. A taker killed before it has
 * taken nothing; after it, the kernel hands the slot back. The table lock
 * only keeps two takers from both counting the same last permit; a dead
 * lock holder leaves nothing to repair.
 *
 * Posting: unlock the slot's mutex (or lower its count): one store, no
 * table lock, never waits. Then bump seq and wake one sleeper.
 *
 * Sleeping: on seq, which every post and every take-back bumps. A sleeper
 * raises waiters before it reads seq and looks; a poster bumps seq before
 * it reads waiters: one of them sees the other. A wake-up lost to a
 * process that died (a poster before its bump, a woken sleeper before it
 * looked) costs at most the wait point's 100 ms re-check of shared words,
 * which is also how sleepers notice that a holder died.
 *
 * Liveness is the kernel's word, not a pid: a tid stays in a slot only
 * while its thread lives, unless the kernel could not walk the thread's
 * list (a peer rewrote its links). For that case alone, a full table is
 * checked with tgkill(pid, tid, 0): -ESRCH proves the thread gone (by the
 * time it is unhashed the kernel has done its walk), while a recycled tid
 * only makes a dead holder look alive (a permit kept, never two given).
 *
 * Everything in the segment is input: the slot count comes from the
 * segment's size checked at open, counts are summed in 64 bits, permits
 * is clamped, no wait is on a slot word (trylock only), and every wait is
 * bounded by the caller's deadline.
 */
#ifndef CONC_IPC_RSEM_IMPL_H
#define CONC_IPC_RSEM_IMPL_H

#include <stdbool.h>
#include <conc/mutex.h>
#include <conc/rsem.h>
#include <conc/shm.h>
#include "sync/robust.h"
#include "wait/wait.h"

struct rsem_slot {
	/* A line each: a holder's post must not stall the takers' scan of
	 * its neighbours. */
	_Alignas(64) conc_mutex m;	/* locked by the holder while it holds */
	uint32_t count;		/* permits held */
	int32_t pid;		/* the holder's process */
	int64_t since;		/* CLOCK_REALTIME ns */
};

struct rsem_shared {
	uint32_t permits;	/* 0 until set up, then fixed */
	uint32_t seq;		/* the sleep word: bumped when permits come free */
	uint32_t waiters;	/* callers that may sleep on seq */
	uint32_t died;		/* take-backs not yet told to a taker */
	_Alignas(64) conc_mutex lock;	/* serialises takers */
	_Alignas(64) struct rsem_slot slots[];
};

_Static_assert(sizeof(struct rsem_slot) == 64, "a slot is a cache line");

/* What this handle knows of a slot it locked, in private memory: a slot
 * is the caller's only if it locked it through this very mapping, for
 * its robust list links the lock at this address (and unlocking it at
 * another address would leave that link behind). */
struct rsem_own {
	uint32_t tid, ctx;
	uint32_t count;		/* permits taken: the slot's count is only
				 * written from here, as a peer may rewrite
				 * it (a lie there must not keep the holder
				 * from giving back what it took) */
};

struct conc_rsem {
	conc_shm *seg;
	struct rsem_shared *sh;
	struct rsem_own *own;	/* nslots entries */
	uint32_t nslots;	/* from the segment's checked size */
	uint32_t hint;		/* where this process last took a slot */
	int64_t probed;		/* when holders were last checked with tgkill */
	conc_rsem *next;	/* the process's handles (rsem_track.c) */
};

/* What a look at the table found. */
struct rsem_look {
	uint64_t held;		/* permits held by live slots */
	uint32_t dead;		/* slots whose holder died, not yet taken back */
	int mine;		/* the caller's slot, or -1 */
	int free;		/* a free slot, or -1 */
};

/* permits, clamped: a peer may write anything there. */
static inline uint32_t __conc_rsem_permits(const conc_rsem *s)
{
	uint32_t p = __atomic_load_n(&s->sh->permits, __ATOMIC_ACQUIRE);

	return p > CONC_RSEM_PERMITS_MAX ? CONC_RSEM_PERMITS_MAX : p;
}

/* A slot's word: held by a live thread, dead, or free. */
static inline bool __conc_rsem_live(uint32_t w)
{
	return (w & FUTEX_TID_MASK) && !(w & FUTEX_OWNER_DIED);
}

static inline bool __conc_rsem_dead(uint32_t w)
{
	return !(w & FUTEX_TID_MASK) && (w & FUTEX_OWNER_DIED);
}

/* Whether slot i is the calling context's, through this handle: what the
 * caller itself recorded (its claim, and the lock on its thread's robust
 * registry), never the slot's word, context or time, which a peer may
 * rewrite: a slot of the caller's that stopped looking like its own made
 * the caller claim a second one, and post only one of them. */
static inline bool __conc_rsem_mine(const conc_rsem *s, uint32_t i,
				    const struct __conc_self *me)
{
	const struct rsem_own *o = &s->own[i];

	return __atomic_load_n(&o->tid, __ATOMIC_RELAXED) == (uint32_t)me->tid &&
	       __atomic_load_n(&o->ctx, __ATOMIC_RELAXED) == __conc_ctx(me) &&
	       me->robust_held && __conc_robust_entry(&s->sh->slots[i].m);
}

void __conc_rsem_look(conc_rsem *s, const struct __conc_self *me,
		      struct rsem_look *l) __CONC_HIDDEN;

/* Holders whose thread is gone though their word says live (see the
 * top): with the table lock held (locked), mark them dead; without it,
 * only count them. Rate-limited per handle. */
uint32_t __conc_rsem_probe(conc_rsem *s, bool locked) __CONC_HIDDEN;

/* With the table lock held: take back every dead slot; how many. */
uint32_t __conc_rsem_reclaim(conc_rsem *s) __CONC_HIDDEN;

/* Enter a new handle in, or take it out of, the process's list, whose
 * records of a conc thread are wiped when its function returns. */
void __conc_rsem_track(conc_rsem *s) __CONC_HIDDEN;
void __conc_rsem_untrack(conc_rsem *s) __CONC_HIDDEN;

/* Bump seq and wake up to n sleepers. */
void __conc_rsem_ring(conc_rsem *s, int n) __CONC_HIDDEN;

#endif
