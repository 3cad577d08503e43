/*
 * The kernel's robust futex list (set_robust_list(2)), shared with the C
 * library. A robust conc_mutex is linked into the list of the thread that
 * holds it, so that when the thread dies the kernel marks the futex word
 * FUTEX_OWNER_DIED and wakes a waiter.
 *
 * The kernel knows one list head per thread, with one futex_offset for every
 * entry. glibc registers a head for each of its threads (offset -32: the lock
 * word sits 32 bytes before the `next` link of a pthread_mutex_t) and links
 * entries both ways, writing the `prev` slot 8 bytes before each `next`.
 * conc_mutex mirrors that shape, so its entries sit in glibc's list beside
 * glibc's own robust mutexes, and either library can unlink the other's.
 * A thread with no head (a raw thread, or a C library that registers none)
 * gets one of conc's, with the same shape.
 */
#ifndef CONC_SYNC_ROBUST_H
#define CONC_SYNC_ROBUST_H

#include <conc/mutex.h>
#include "wait/wait.h"

struct robust_list_head;

/* The caller's list head, or NULL if the thread's registered head has a
 * shape conc cannot join. */
struct robust_list_head *__conc_robust_head(struct __conc_self *s) __CONC_HIDDEN;

#include <linux/futex.h>

static inline void __conc_robust_barrier(void)
{
	/* The kernel reads the list only after the thread died, so program
	 * order is all that matters: keep the compiler from reordering. */
	__asm__ __volatile__("" ::: "memory");
}

static inline void __conc_robust_pending(struct robust_list_head *h, conc_mutex *m)
{
	__conc_robust_barrier();
	h->list_op_pending = m ? (struct robust_list *)&m->robust_next : NULL;
	__conc_robust_barrier();
}

static inline void **__conc_slot_before(void *entry)
{
	return (void **)((uintptr_t)entry & ~(uintptr_t)1) - 1;
}

/*
 * The links of a held robust mutex live in the mutex, hence in shared
 * memory that every peer can write: a peer that rewrites them must not
 * steer the owner's unlink into writing where it chooses. So the owner
 * keeps, in its own memory, the robust mutexes it holds (the registry),
 * and unlinks a registered mutex from what the registry says its
 * neighbours are, never reading its links. Only glibc's robust mutexes
 * can put entries in the list that the registry does not know; once one
 * may be there ("mixed", until the list is seen empty) the links beside it
 * are trusted as glibc trusts them, after checking that they point back.
 */
void __conc_robust_enqueue(struct robust_list_head *h, conc_mutex *m,
			   uint32_t ctx) __CONC_HIDDEN;
void __conc_robust_dequeue(struct robust_list_head *h, conc_mutex *m) __CONC_HIDDEN;

/*
 * What the registry knows of a robust mutex the thread linked: which of its
 * contexts locked it and how many times more (a recursive one). The mutex's
 * own flags, count and ctx are shared memory a peer may rewrite; the unlock
 * (and the repair) of a registered mutex trusts this instead, so that no rewrite can make it
 * skip the unlink and leave the registry naming memory the caller may then
 * unmap (every later link or unlink writes beside the newest entries).
 * __conc_self()->robust_held counts the entries, so that a thread with none
 * pays nothing on a plain unlock.
 */
struct __conc_robust_ent {
	conc_mutex *m;
	uint32_t ctx;
	uint32_t depth;
	bool inconsistent;	/* taken with -EOWNERDEAD, not yet repaired */
};

/* m's entry in the caller's registry, or NULL. */
struct __conc_robust_ent *__conc_robust_entry(const conc_mutex *m) __CONC_HIDDEN;

/* A thread's life ends without the kernel seeing it (a parked thread):
 * do what the kernel does at exit for every entry of h the thread tid
 * still holds, then empty the list. */
void __conc_robust_release_all(struct robust_list_head *h, pid_t tid) __CONC_HIDDEN;

/* NULL, or called by __conc_robust_release_all after it released
 * something, for records elsewhere that name the thread (rsem_track.c). */
extern void (*__conc_robust_released)(pid_t tid) __CONC_HIDDEN;

/*
 * Point the kernel's list_op_pending at a plain futex word (not a mutex)
 * for the few instructions between publishing something and waking its
 * waiters: if the thread dies there, the kernel finds the word through the
 * pending entry and, the word being 0, wakes one waiter on it (a shared
 * wake). NULL word clears it. h may be NULL (no robust list: no cover).
 */
static inline void __conc_robust_doorbell(struct robust_list_head *h,
					  uint32_t *word)
{
	if (!h)
		return;
	__conc_robust_barrier();
	h->list_op_pending = word ? (struct robust_list *)((char *)word -
							   h->futex_offset)
				  : NULL;
	__conc_robust_barrier();
}

int __conc_mutex_lock_queued(conc_mutex *m, conc_deadline dl) __CONC_HIDDEN;
int __conc_mutex_lock_until(conc_mutex *m, conc_deadline dl) __CONC_HIDDEN;

/* Whether the calling context owns m. */
bool __conc_mutex_owned(const conc_mutex *m, const struct __conc_self *s) __CONC_HIDDEN;

#endif
