/*
 * The adaptive spin, in one place. A waiter spins a short, bounded while
 * for *word to stop being `busy` before it sleeps: a cross-CPU wake-up
 * costs tens of microseconds on small VMs, a lock hold time or a peer's
 * answer is often far less. The bound adapts per thread: it doubles when a
 * spin pays off and halves when it does not (the peer was not running: it
 * shares our CPU), down to a few iterations. Never spins on one CPU.
 *
 * At that floor a spin catches only a peer that answers within a few
 * hundred nanoseconds: one that must first be woken, or a loop's task that
 * answers through the ring, never does, so the budget could never grow back
 * and both sides would sleep at every turn for good once a busy moment had
 * made them. So at the floor one wait in __conc_spin_every spins the whole
 * `max` (a probe); a probe that fails makes the next one twice as far
 * (__CONC_PROBE_MIN to __CONC_PROBE_MAX waits), one that pays restores the
 * budget. Idle loops probe the same way (lib/loop/idle_spin.c).
 *
 * A loop's task spins only while its loop has nothing else to do (the
 * waiter's idle hook: no other task runnable, no completion, no timer due),
 * the spin the loop would otherwise make on its ring before it sleeps; it
 * stops as soon as other work comes. Caught there, the answer costs no
 * trip through the ring, and the peer no wake-up system call.
 */
#ifndef CONC_WAIT_SPIN_H
#define CONC_WAIT_SPIN_H

#include <stdint.h>
#include "sys/sys.h"
#include "sys/self.h"

#define __CONC_SPIN_MAX 4096
#define __CONC_SPIN_MIN 8
#define __CONC_SPIN_LOCK 256
#define __CONC_PROBE_MIN 64
#define __CONC_PROBE_MAX 4096
extern __thread uint32_t __conc_spin_budget, __conc_spin_skip,
	__conc_spin_every __attribute__((tls_model("initial-exec")));

/* Returns the last value read. */
static inline uint32_t __conc_spin_while_max(const uint32_t *word,
					      uint32_t busy, uint32_t max)
{
	uint32_t v = __atomic_load_n(word, __ATOMIC_RELAXED);
	struct __conc_waiter *w;
	uint32_t limit, i, k, gap, look = 64;
	bool probe = false;

	if (v != busy || __conc_ncpu() == 1)
		return v;
	/* Inside a loop's task a spin would hold up every other task of the
	 * loop, the one that may be about to change the word among them:
	 * only while the loop is idle. */
	w = __conc_self_tls.waiter;
	if (w && (!w->idle || !w->idle(w)))
		return v;
	limit = __conc_spin_budget ? __conc_spin_budget : __CONC_SPIN_MAX;
	if (limit > max)
		limit = max;
	if (limit <= __CONC_SPIN_MIN) {
		if (!__conc_spin_every)
			__conc_spin_every = __CONC_PROBE_MIN;
		if (++__conc_spin_skip >= __conc_spin_every) {
			__conc_spin_skip = 0;
			limit = max;
			probe = true;
		}
	}
	/* Waiting for a lock, look at the word less and less often: each
	 * look takes its cache line away from the owner, who is about to
	 * write it again. Waiting for a hand-over, look at once. */
	for (i = 0, gap = 1; v == busy && i < limit; i += gap) {
		for (k = 0; k < gap; k++)
			sys_cpu_relax();
		if (gap < 16 && max <= __CONC_SPIN_LOCK)
			gap *= 2;
		v = __atomic_load_n(word, __ATOMIC_RELAXED);
		/* Other work for the loop: leave the budget as it was. */
		if (w && i + gap >= look) {
			look += 64;
			if (v == busy && !w->idle(w))
				return v;
		}
	}
	if (v != busy) {
		__conc_spin_budget = limit * 2 > __CONC_SPIN_MAX ? __CONC_SPIN_MAX
								 : limit * 2;
		__conc_spin_every = __CONC_PROBE_MIN;
	} else if (probe) {
		if (__conc_spin_every < __CONC_PROBE_MAX)
			__conc_spin_every *= 2;
	} else {
		__conc_spin_budget = limit / 2 < __CONC_SPIN_MIN ? __CONC_SPIN_MIN
								 : limit / 2;
	}
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
