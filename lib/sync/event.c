/*
 * word: bit 0 set, bit 1 someone may sleep, bits 2.. a generation bumped by
 * every set. A waiter that saw generation g returns as soon as the word
 * shows another, so a set followed at once by a clear still releases
 * everyone who was waiting (Python's Event behaves the same way).
 */
#include <errno.h>
#include <conc/event.h>
#include "wait/wait.h"

#define E_SET	1u
#define E_WAIT	2u
#define E_GEN	4u

int conc_event_init(conc_event *e, unsigned flags)
{
	if (__CONC_BAD(e) || (flags & ~CONC_PRIVATE))
		return -EINVAL;
	e->word = 0;
	e->flags = flags;
	return 0;
}

int conc_event_set(conc_event *e)
{
	uint32_t v;

	if (__CONC_BAD(e))
		return -EINVAL;
	v = __atomic_load_n(&e->word, __ATOMIC_RELAXED);
	do {
		if (v & E_SET)
			return 0;
	} while (!__atomic_compare_exchange_n(&e->word, &v,
					      ((v + E_GEN) & ~E_WAIT) | E_SET, 0,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	if (v & E_WAIT)
		__conc_wake(&e->word, INT32_MAX, e->flags);
	return 0;
}

int conc_event_clear(conc_event *e)
{
	if (__CONC_BAD(e))
		return -EINVAL;
	__atomic_fetch_and(&e->word, ~E_SET, __ATOMIC_RELAXED);
	return 0;
}

bool conc_event_is_set(const conc_event *e)
{
	return e && (__atomic_load_n(&e->word, __ATOMIC_ACQUIRE) & E_SET);
}

int conc_event_wait(conc_event *e, int64_t timeout_ns)
{
	uint32_t v, gen;
	conc_deadline dl;
	int r;

	if (__CONC_BAD(e))
		return -EINVAL;
	v = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
	if (v & E_SET)
		return 0;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	gen = v & ~(E_SET | E_WAIT);
	v = __conc_spin_while_max(&e->word, v, __CONC_SPIN_MAX);
	dl = __conc_deadline(timeout_ns);
	for (;;) {
		if ((v & E_SET) || (v & ~(E_SET | E_WAIT)) != gen) {
			(void)__atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
			return 0;
		}
		if (!(v & E_WAIT) &&
		    !__atomic_compare_exchange_n(&e->word, &v, v | E_WAIT, 0,
						 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			continue;
		/* A set wakes every sleeper. */
		r = __conc_wait(&e->word, v | E_WAIT, dl,
				e->flags | __CONC_WAIT_ALONE);
		v = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
		if (r == -ECANCELED)
			return r;
		if (r == -ETIMEDOUT && !(v & E_SET) &&
		    (v & ~(E_SET | E_WAIT)) == gen)
			return r;
	}
}
