/*
 * The last of `parties` arrivals resets `arrived` for the next round, then
 * moves `seq` on, which the others sleep on. Nobody of the next round can
 * arrive before seq moves, so the reset cannot lose an arrival.
 *
 * A waiter that gives up (timeout) breaks the barrier, as in Python: it
 * sets BROKEN in seq, unless the round completed first, and everyone
 * waiting or arriving later gets -EPIPE until conc_barrier_init(). Both the
 * round's end and the break are compare-and-swaps on seq, so exactly one
 * of them happens to a round.
 */
#include <errno.h>
#include <conc/barrier.h>
#include "wait/wait.h"

#define BROKEN 0x80000000u

int conc_barrier_init(conc_barrier *b, unsigned n, unsigned flags)
{
	if (__CONC_BAD(b) || n == 0 || n > INT32_MAX || (flags & ~CONC_PRIVATE))
		return -EINVAL;
	b->parties = n;
	b->arrived = 0;
	b->seq = 0;
	b->flags = flags;
	return 0;
}

static int end_round(conc_barrier *b, uint32_t seq, uint32_t n)
{
	__atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED);
	/* release: the reset and everything before the barrier are seen by
	 * those who see the new seq. */
	if (!__atomic_compare_exchange_n(&b->seq, &seq, (seq + 1) & ~BROKEN, 0,
					 __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		return -EPIPE;
	if (n > 1)
		__conc_wake(&b->seq, INT32_MAX, b->flags);
	return CONC_BARRIER_SERIAL;
}

int conc_barrier_wait_timed(conc_barrier *b, int64_t timeout_ns)
{
	conc_deadline dl;
	uint32_t seq, n, v;
	int r = 0;	/* the last wait's result */

	if (__CONC_BAD(b))
		return -EINVAL;
	n = __atomic_load_n(&b->parties, __ATOMIC_RELAXED);
	if (n == 0)
		return -EINVAL;
	seq = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
	if (seq & BROKEN)
		return -EPIPE;
	if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == n)
		return end_round(b, seq, n);
	dl = timeout_ns == 0 ? 0 : __conc_deadline(timeout_ns);
	while ((v = __conc_spin_while_max(&b->seq, seq, __CONC_SPIN_MAX)) == seq) {
		if (r < 0 || dl == 0) {
			/* Timed out or cancelled: break the round. */
			if (__atomic_compare_exchange_n(&b->seq, &v, seq | BROKEN,
							0, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED)) {
				__conc_wake(&b->seq, INT32_MAX, b->flags);
				return r < 0 ? r : -ETIMEDOUT;
			}
			break;
		}
		/* The round's end and a break wake every sleeper. */
		r = __conc_wait(&b->seq, seq, dl, b->flags | __CONC_WAIT_ALONE);
	}
	v = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
	/* Cancelled as the round ended (or broke) without us: the round's
	 * result is this call's, and the cancel goes to the coroutine's next
	 * suspending call instead of being lost. */
	if (r == -ECANCELED)
		__conc_wait_recancel();
	return v & BROKEN ? -EPIPE : 0;
}

int conc_barrier_wait(conc_barrier *b)
{
	return conc_barrier_wait_timed(b, CONC_FOREVER);
}
