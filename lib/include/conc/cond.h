/* conc/cond.h — condition variable (threading.Condition). */
#ifndef CONC_COND_H
#define CONC_COND_H

#include <stdint.h>
#include <conc/base.h>
#include <conc/mutex.h>

/* A condition variable. All zeroes is valid and usable between processes in
 * shared memory. Do not touch the fields. */
typedef struct conc_cond {
	uint32_t seq;
	uint32_t waiters;
	uint32_t flags;
	int32_t mutex_off;
	int32_t mutex_pid;
} conc_cond;

#define CONC_COND_INIT { 0, 0, 0, 0, 0 }

/* Initialise c with flags (CONC_PRIVATE or 0): 0 or -EINVAL. */
int conc_cond_init(conc_cond *c, unsigned flags);

/*
 * Atomically unlock m (which the caller must own, exactly once) and wait for
 * a signal or broadcast on c, then lock m again before returning. Returns 0
 * (also on a spurious wake-up: check the predicate in a loop), -ETIMEDOUT
 * after timeout_ns, -EPERM if the caller does not own m, -EINVAL for NULL;
 * and, with a robust mutex, what conc_mutex_lock() returns on relocking.
 */
int conc_cond_wait(conc_cond *c, conc_mutex *m, int64_t timeout_ns);

/* Wake at least one waiter, if any wait. No system call without waiters. */
int conc_cond_signal(conc_cond *c);

/* Wake every waiter. Waiters are moved onto the mutex's queue (requeue) and
 * let in one at a time, instead of all racing for the mutex. */
int conc_cond_broadcast(conc_cond *c);

#endif
