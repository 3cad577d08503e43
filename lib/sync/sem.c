/*
 * value: free permits. waiters: how many may sleep on value. post makes a
 * futex wake only when waiters is non-zero; a waiter raises waiters before
 * its last look at value, and post reads waiters after its atomic update of
 * value, so one of the two always sees the other.
 */
#include <errno.h>
#include <conc/sem.h>
#include "wait/wait.h"

int conc_sem_init(conc_sem *s, unsigned value, unsigned flags)
{
	if (__CONC_BAD(s) || (flags & ~CONC_PRIVATE) || value > CONC_SEM_VALUE_MAX)
		return -EINVAL;
	s->value = value;
	s->waiters = 0;
	s->flags = flags;
	return 0;
}

static bool take(conc_sem *s, uint32_t v)
{
	while (v > 0)
		if (__atomic_compare_exchange_n(&s->value, &v, v - 1, 0,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	return false;
}

int conc_sem_post(conc_sem *s)
{
	uint32_t v;

	if (__CONC_BAD(s))
		return -EINVAL;
	v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
	do {
		if (v >= CONC_SEM_VALUE_MAX)
			return -EOVERFLOW;
	} while (!__atomic_compare_exchange_n(&s->value, &v, v + 1, 0,
					      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	/* seq_cst: the store to value is ordered before this load. */
	if (__atomic_load_n(&s->waiters, __ATOMIC_SEQ_CST))
		__conc_wake(&s->value, 1, s->flags);
	return 0;
}

int conc_sem_timedwait(conc_sem *s, int64_t timeout_ns)
{
	conc_deadline dl;
	int r = 0;

	if (__CONC_BAD(s))
		return -EINVAL;
	if (take(s, __atomic_load_n(&s->value, __ATOMIC_RELAXED)))
		return 0;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	if (take(s, __conc_spin_while_max(&s->value, 0, __CONC_SPIN_MAX)))
		return 0;
	dl = __conc_deadline(timeout_ns);
	/* A lone sleeper sleeps without the re-check; once it has company,
	 * a post may wake the newcomer (a real-time one goes first), and if
	 * that one dies woken the first would sleep on: wake it to re-check. */
	if (__atomic_fetch_add(&s->waiters, 1, __ATOMIC_SEQ_CST) == 1 &&
	    !(s->flags & CONC_PRIVATE))
		__conc_wake(&s->value, 1, s->flags);
	for (;;) {
		/* A cancelled coroutine's wait is final even if a permit came
		 * meanwhile (that stays for others): taking it would lose the
		 * cancel, which the task gets once (conc(7)). */
		if (r == -ECANCELED)
			break;
		if (take(s, __atomic_load_n(&s->value, __ATOMIC_SEQ_CST))) {
			r = 0;
			break;
		}
		if (r < 0)
			break;
		/* A post wakes one sleeper; one that died woken would strand
		 * the others, unless there are none. */
		r = __conc_wait(&s->value, 0, dl, s->flags |
				(__atomic_load_n(&s->waiters, __ATOMIC_RELAXED) > 1
				 ? 0 : __CONC_WAIT_ALONE));
	}
	__atomic_fetch_sub(&s->waiters, 1, __ATOMIC_RELAXED);
	return r;
}

int conc_sem_wait(conc_sem *s)
{
	return conc_sem_timedwait(s, CONC_FOREVER);
}

int conc_sem_trywait(conc_sem *s)
{
	if (__CONC_BAD(s))
		return -EINVAL;
	return take(s, __atomic_load_n(&s->value, __ATOMIC_RELAXED)) ? 0 : -EAGAIN;
}

int conc_sem_value(const conc_sem *s)
{
	uint32_t v;

	if (__CONC_BAD(s))
		return -EINVAL;
	/* Beyond the max only if a peer wrote it: still a count, not what
	 * a caller would take for an error. */
	v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
	return v > CONC_SEM_VALUE_MAX ? CONC_SEM_VALUE_MAX : (int)v;
}
