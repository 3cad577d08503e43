/*
 * The last of `parties` arrivals resets `arrived` for the next round, then
 * bumps `seq`, which the others sleep on. Nobody of the next round can
 * arrive before seq moves, so the reset cannot lose an arrival.
 */
#include <errno.h>
#include <conc/barrier.h>
#include "wait/wait.h"

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

int conc_barrier_wait(conc_barrier *b)
{
	uint32_t seq, n;

	if (__CONC_BAD(b))
		return -EINVAL;
	n = __atomic_load_n(&b->parties, __ATOMIC_RELAXED);
	if (n == 0)
		return -EINVAL;
	seq = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
	if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == n) {
		__atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED);
		/* release: the reset and everything before the barrier are
		 * seen by those who see the new seq. */
		__atomic_store_n(&b->seq, seq + 1, __ATOMIC_RELEASE);
		if (n > 1)
			__conc_wake(&b->seq, INT32_MAX, b->flags);
		return CONC_BARRIER_SERIAL;
	}
	while (__conc_spin_while_max(&b->seq, seq, __CONC_SPIN_MAX) == seq)
		__conc_wait(&b->seq, seq, -1, b->flags);
	(void)__atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
	return 0;
}
