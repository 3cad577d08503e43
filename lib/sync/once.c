/*
 * state: 0 not run, 1 running, 2 running and someone sleeps, 3 done.
 * Shared futex ops, since a zeroed flag may live in shared memory.
 */
#include <errno.h>
#include <conc/once.h>
#include "wait/wait.h"

enum { NEW, RUNNING, RUNNING_WAITED, DONE };

/* Wait for the caller that runs fn. A cancelled coroutine's -ECANCELED is
 * final even if fn ended meanwhile (swallowed, the cancellation would be
 * lost); -ETIMEDOUT only if fn has not ended. */
static int await_done(conc_once_t *once, uint32_t v, conc_deadline dl)
{
	int r;

	while (v != DONE) {
		/* A flag in shared memory is input: on a value no call writes
		 * every wait would return at once, for ever (a busy loop
		 * past any deadline). */
		if (v != RUNNING && v != RUNNING_WAITED)
			return -EINVAL;
		if (v == RUNNING &&
		    !__atomic_compare_exchange_n(&once->state, &v, RUNNING_WAITED,
						 0, __ATOMIC_ACQUIRE,
						 __ATOMIC_ACQUIRE))
			continue;
		r = __conc_wait(&once->state, RUNNING_WAITED, dl,
				__CONC_WAIT_ALONE);
		v = __atomic_load_n(&once->state, __ATOMIC_ACQUIRE);
		if (r == -ECANCELED || (r < 0 && v != DONE))
			return r;
	}
	return 0;
}

int conc_once_timed(conc_once_t *once, void (*fn)(void), int64_t timeout_ns)
{
	uint32_t v = NEW;

	if (__CONC_BAD(once) || !fn)
		return -EINVAL;
	if (__atomic_load_n(&once->state, __ATOMIC_ACQUIRE) == DONE)
		return 0;
	if (__atomic_compare_exchange_n(&once->state, &v, RUNNING, 0,
					__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
		fn();
		/* release: fn's effects are visible to whoever sees DONE. */
		if (__atomic_exchange_n(&once->state, DONE, __ATOMIC_RELEASE) ==
		    RUNNING_WAITED)
			__conc_wake(&once->state, INT32_MAX, 0);
		return 0;
	}
	/* A look: -ETIMEDOUT while fn runs, but a junk value is -EINVAL. */
	if (timeout_ns == 0 && (v == RUNNING || v == RUNNING_WAITED))
		return -ETIMEDOUT;
	return await_done(once, v, __conc_deadline(timeout_ns));
}

int conc_once(conc_once_t *once, void (*fn)(void))
{
	return conc_once_timed(once, fn, CONC_FOREVER);
}
