/*
 * A process-wide lock of the library's own (a list of parked workers, of
 * rsem handles) that a fork child sets up again: after fork only the
 * forking thread exists, so whoever held it in the parent is gone. The
 * lock carries the fork generation (sys/self.h) it was set up for; the
 * first caller of a new generation claims the set-up with a marker (the
 * generation's even neighbour, never a generation: those are odd), sets
 * up lock and list, and publishes; a caller that finds the marker waits
 * for it. Nobody takes the lock of another generation, so nobody takes
 * it while it is set up, and it is set up once. The uncontended path is
 * one load and a compare.
 */
#ifndef CONC_TASK_FORK_LOCK_H
#define CONC_TASK_FORK_LOCK_H

#include <stdint.h>
#include "task/lock.h"

struct __conc_fork_lock {
	conc_mutex m;
	/* The generation m was set up for, or (g & ~1) while a caller of
	 * generation g sets it up; half[]: the futex word its waiters sleep
	 * on, the low 32 bits (a marker's differ from its generation's). */
	union {
		uint64_t gen;
		uint32_t half[2];
	};
};

#define __CONC_FORK_LOCK_INIT { CONC_MUTEX_INIT, { 0 } }

void __conc_fork_lock_renew(struct __conc_fork_lock *l, void (*reset)(void))
	__attribute__((visibility("hidden")));

/* Take l (a cancel meanwhile is left for the next wait, as with
 * __conc_lock_keep), first setting it up, with reset() for what it
 * guards, if this process is a fork child that has not yet. */
static inline void __conc_fork_lock(struct __conc_fork_lock *l, void (*reset)(void))
{
	if (__builtin_expect(__atomic_load_n(&l->gen, __ATOMIC_ACQUIRE) !=
			     __conc_self()->gen, 0))
		__conc_fork_lock_renew(l, reset);
	__conc_lock_keep(&l->m);
}

#ifdef CONC_FAULT_INJECTION
/* Test builds: called by the claimer between its claim and its publishing
 * (where 0), and by a caller about to wait for a set-up (where 1). */
extern void (*__conc_fi_fork_lock)(const void *lock, int where);
#define CONC_FI_FORK_LOCK(l, where) \
	do { if (__conc_fi_fork_lock) __conc_fi_fork_lock(l, where); } while (0)
#else
#define CONC_FI_FORK_LOCK(l, where) ((void)0)
#endif

#endif
