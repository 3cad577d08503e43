/*
 * The one wait/wake pair every blocking primitive in sync/ and ipc/ uses,
 * so that a later event loop can suspend a coroutine instead of the thread
 * in one place. Also the small helpers every primitive shares.
 */
#ifndef CONC_SYNC_WAIT_H
#define CONC_SYNC_WAIT_H

#include <stdint.h>
#include <stdbool.h>
#include <linux/futex.h>
#include <conc/base.h>
#include "sys/sys.h"
#include "sys/self.h"

#define __CONC_HIDDEN __attribute__((visibility("hidden")))

/* Sleep while *word == expected, until woken or the deadline (< 0: none).
 * Returns 0 after a wake-up, a changed value or a signal (the caller looks
 * again), or -ETIMEDOUT once the deadline has passed. */
int __conc_wait(const uint32_t *word, uint32_t expected,
		conc_deadline deadline, unsigned flags) __CONC_HIDDEN;

/* Wake up to n waiters on word. */
void __conc_wake(uint32_t *word, int n, unsigned flags) __CONC_HIDDEN;

/* NULL, or not aligned for the futex words inside (the kernel refuses a
 * misaligned futex, so a wait could never sleep): bad input. */
#define __CONC_BAD(p) (!(p) || ((uintptr_t)(p) & 3))

/* The absolute deadline for a relative timeout (CONC_FOREVER: none). */
static inline conc_deadline __conc_deadline(int64_t timeout_ns)
{
	int64_t now;

	if (timeout_ns < 0)
		return -1;
	now = sys_now_ns();
	return timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
}

static inline bool __conc_expired(conc_deadline d)
{
	return d >= 0 && sys_now_ns() >= d;
}

static inline int __conc_futex_private(unsigned flags)
{
	return (flags & CONC_PRIVATE) ? FUTEX_PRIVATE_FLAG : 0;
}

/*
 * Spin a short, bounded while for *word to stop being `busy` before a waiter
 * goes to sleep: a cross-CPU wake-up costs tens of microseconds on small
 * VMs, a lock hold time or a peer's answer is often far less. The bound
 * adapts per thread: it doubles when a spin pays off and halves when it
 * does not (the peer was not running: it shares our CPU), down to a few
 * iterations. Never spins on one CPU. Returns the last value read.
 */
#define __CONC_SPIN_MAX 4096
#define __CONC_SPIN_MIN 8
#define __CONC_SPIN_LOCK 256
extern __thread uint32_t __conc_spin_budget
	__attribute__((tls_model("initial-exec")));

static inline uint32_t __conc_spin_while_max(const uint32_t *word,
					      uint32_t busy, uint32_t max)
{
	uint32_t v = __atomic_load_n(word, __ATOMIC_RELAXED);
	uint32_t limit, i, k, gap;

	if (v != busy || __conc_ncpu() == 1)
		return v;
	limit = __conc_spin_budget ? __conc_spin_budget : __CONC_SPIN_MAX;
	if (limit > max)
		limit = max;
	/* Waiting for a lock, look at the word less and less often: each
	 * look takes its cache line away from the owner, who is about to
	 * write it again. Waiting for a hand-over, look at once. */
	for (i = 0, gap = 1; v == busy && i < limit; i += gap) {
		for (k = 0; k < gap; k++)
			sys_cpu_relax();
		if (gap < 16 && max <= __CONC_SPIN_LOCK)
			gap *= 2;
		v = __atomic_load_n(word, __ATOMIC_RELAXED);
	}
	if (v != busy)
		__conc_spin_budget = limit * 2 > __CONC_SPIN_MAX ? __CONC_SPIN_MAX
								 : limit * 2;
	else
		__conc_spin_budget = limit / 2 < __CONC_SPIN_MIN ? __CONC_SPIN_MIN
								 : limit / 2;
	return v;
}

/* Locks: a holder that is not done within a few microseconds is unlikely
 * to be soon. Hand-overs between threads (a job, its result) may cover a
 * wake-up elsewhere, and use the whole budget. */
static inline uint32_t __conc_spin_while(const uint32_t *word, uint32_t busy)
{
	return __conc_spin_while_max(word, busy, __CONC_SPIN_LOCK);
}

#endif
