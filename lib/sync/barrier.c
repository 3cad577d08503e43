/*
 * `arrived` hands out tickets, `seq` counts the rounds that ended. Tickets
 * run modulo W, the largest multiple of n below 2^32, so a ticket t always
 * belongs to round t / n (of W / n rounds, counted modulo that in seq), and
 * the party with ticket t % n == n - 1 is its last. As with Python's
 * Barrier, a caller beyond the nth of a round simply gets the next round's
 * ticket and waits for it: the round is named by the ticket, not by the
 * value of seq the caller saw, which another round may have moved meanwhile.
 *
 * Rounds may end out of order (the last party of one round can be slower
 * than that of the next): seq only moves forward, and a round counts as
 * ended once seq is past it by up to half the rounds of W, far more than
 * can be waiting at once.
 *
 * A waiter that gives up (timeout) breaks the barrier, as in Python: it
 * sets BROKEN in seq, unless its round ended first, and everyone waiting or
 * arriving later gets -EPIPE until conc_barrier_init(). Both the round's
 * end and the break are compare-and-swaps on seq, so what a round's parties
 * see is one or the other.
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

/* Whether round r has ended by seq value v (rounds counted modulo nr). */
static bool ended(uint32_t v, uint32_t r, uint32_t nr)
{
	uint32_t d = ((v & ~BROKEN) % nr + nr - r) % nr;

	return d != 0 && d <= nr / 2;
}

/* The last party of round r: move seq past it, unless a later round's last
 * party did already, or someone broke the barrier first. */
static int end_round(conc_barrier *b, uint32_t r, uint32_t nr)
{
	uint32_t v = __atomic_load_n(&b->seq, __ATOMIC_RELAXED);

	for (;;) {
		if (v & BROKEN)
			return -EPIPE;
		if (ended(v, r, nr))
			break;
		/* release: everything before the barrier is seen by those
		 * who see the new seq. */
		if (__atomic_compare_exchange_n(&b->seq, &v, (r + 1) % nr, 0,
						__ATOMIC_RELEASE,
						__ATOMIC_RELAXED)) {
			__conc_wake(&b->seq, INT32_MAX, b->flags);
			break;
		}
	}
	return CONC_BARRIER_SERIAL;
}

/* Take a ticket; the arrival goes into the ticket's round. */
static uint32_t arrive(conc_barrier *b, uint64_t w)
{
	uint32_t a = __atomic_load_n(&b->arrived, __ATOMIC_RELAXED), t;

	/* acq_rel: the parties' arrivals chain to the last one's, whose
	 * release of seq then carries all of them. */
	do
		t = (uint32_t)(a % w);
	while (!__atomic_compare_exchange_n(&b->arrived, &a,
					    (uint32_t)((t + 1) % w), 0,
					    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return t;
}

int conc_barrier_wait_timed(conc_barrier *b, int64_t timeout_ns)
{
	conc_deadline dl;
	uint32_t n, nr, t, r, v, u;
	uint64_t w;
	int ret, rw = 0;	/* rw: the last wait's result */

	if (__CONC_BAD(b))
		return -EINVAL;
	n = __atomic_load_n(&b->parties, __ATOMIC_RELAXED);
	if (n == 0 || n > INT32_MAX)
		return -EINVAL;
	if (__atomic_load_n(&b->seq, __ATOMIC_ACQUIRE) & BROKEN)
		return -EPIPE;
	if (n == 1)
		return CONC_BARRIER_SERIAL;
	w = ((uint64_t)1 << 32) / n * n;
	nr = (uint32_t)(w / n);	/* 2 .. 2^31: fits seq beside BROKEN */
	t = arrive(b, w);
	r = t / n;
	if (t % n == n - 1)
		return end_round(b, r, nr);
	dl = timeout_ns == 0 ? 0 : __conc_deadline(timeout_ns);
	v = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
	for (;;) {
		if (ended(v, r, nr)) {
			ret = 0;
			break;
		}
		if (v & BROKEN) {
			ret = -EPIPE;
			break;
		}
		if (rw < 0 || dl == 0) {
			/* Timed out or cancelled: break the round. */
			if (__atomic_compare_exchange_n(&b->seq, &v, v | BROKEN,
							0, __ATOMIC_ACQUIRE,
							__ATOMIC_ACQUIRE)) {
				__conc_wake(&b->seq, INT32_MAX, b->flags);
				return rw < 0 ? rw : -ETIMEDOUT;
			}
			continue;
		}
		u = __conc_spin_while_max(&b->seq, v, __CONC_SPIN_MAX);
		if (u == v)
			/* The round's end and a break wake every sleeper. */
			rw = __conc_wait(&b->seq, v, dl,
					 b->flags | __CONC_WAIT_ALONE);
		v = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
	}
	/* Cancelled as the round ended (or broke) without us: the round's
	 * result is this call's, and the cancel goes to the coroutine's next
	 * suspending call instead of being lost. */
	if (rw == -ECANCELED)
		__conc_wait_recancel();
	return ret;
}

int conc_barrier_wait(conc_barrier *b)
{
	return conc_barrier_wait_timed(b, CONC_FOREVER);
}
