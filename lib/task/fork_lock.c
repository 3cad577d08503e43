/* The slow path of __conc_fork_lock (fork_lock.h): a new generation. */
#include <errno.h>
#include <limits.h>
#include "fork_lock.h"

#ifdef CONC_FAULT_INJECTION
void (*__conc_fi_fork_lock)(const void *lock, int where);
#endif

void __conc_fork_lock_renew(struct __conc_fork_lock *l, void (*reset)(void))
{
	uint64_t g = __conc_self()->gen, mark = g & ~1ULL, old;
	uint32_t *word = &l->half[__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__];
	bool cancelled = false;

	/* g == 0 (no fork detection, sys/self.c): never set up again. */
	for (;;) {
		old = __atomic_load_n(&l->gen, __ATOMIC_ACQUIRE);
		if (old == g || g == 0)
			break;
		/* Another generation's value, or its marker: a parent's
		 * thread was setting it up at the fork and is gone. */
		if (old != mark) {
			if (!__atomic_compare_exchange_n(&l->gen, &old, mark, 0,
							 __ATOMIC_ACQUIRE,
							 __ATOMIC_RELAXED))
				continue;
			CONC_FI_FORK_LOCK(l, 0);
			conc_mutex_init(&l->m, CONC_PRIVATE);
			if (reset)
				reset();
			__atomic_store_n(&l->gen, g, __ATOMIC_RELEASE);
			__conc_wake(word, INT_MAX, CONC_PRIVATE);
			break;
		}
		CONC_FI_FORK_LOCK(l, 1);
		/* Any result: look again (the set-up takes no wait). */
		if (__conc_wait(word, (uint32_t)mark, -1, CONC_PRIVATE) == -ECANCELED)
			cancelled = true;
	}
	if (cancelled)
		__conc_wait_recancel();
}
