#include <errno.h>
#include "wait/wait.h"

__thread uint32_t __conc_spin_budget, __conc_spin_skip, __conc_spin_every
	__attribute__((tls_model("initial-exec")));

/*
 * A shared word is re-checked at least every __CONC_RECHECK_NS: a process that is
 * woken and killed before it acts takes its wake-up with it, and the others
 * must not sleep on for ever behind it. The price: a clock read and a
 * kernel timer per sleep (about a tenth of a 1-CPU semaphore ping-pong),
 * and a sleeper that waits long wakes ten times a second. So a caller whose
 * word is woken for all its sleepers at once, or who sleeps alone on it,
 * says so with __CONC_WAIT_ALONE and pays nothing.
 */

void __conc_wait_recancel(void)
{
	struct __conc_waiter *w = __conc_self_tls.waiter;

	if (w && w->recancel)
		w->recancel(w);
}

bool __conc_wait_ending(void)
{
	struct __conc_waiter *w = __conc_self_tls.waiter;

	return w && w->ending && w->ending(w);
}

void __conc_wait_leave(void)
{
	struct __conc_waiter *w = __conc_self_tls.waiter;

	if (w && w->leave)
		w->leave(w);
}

int __conc_wait(const uint32_t *word, uint32_t expected,
		conc_deadline deadline, unsigned flags)
{
	struct __conc_waiter *w = __conc_self_tls.waiter;
	conc_deadline dl = deadline;
	int r = -ENOSYS;

	/* A loop spaces its tasks' re-checks itself (hundreds of thousands
	 * of tasks may sleep on one word): it gets the caller's deadline. */
	if (w)
		r = w->futex(w, word, expected, deadline, flags);
	if (r != -ENOSYS)
		return r == -ECANCELED || r == -ETIMEDOUT ? r : 0;
	if (!(flags & (CONC_PRIVATE | __CONC_WAIT_ALONE))) {
		conc_deadline cap = sys_now_ns() + __CONC_RECHECK_NS;

		if (dl < 0 || dl > cap)
			dl = cap;
	}
	r = sys_futex_wait(word, expected, dl, __conc_futex_private(flags));
	if (r == -ECANCELED)
		return r;
	if (r == -ETIMEDOUT)
		return dl == deadline ? r : 0;
	/* The word had changed (or a signal came): the caller looks again,
	 * but not past its deadline. A peer that changes a shared word all
	 * the time would bring it back here on every look, and the futex
	 * compares the word before it reads the clock. A wake-up (0) stays
	 * 0 whatever the time: it is the caller's to act on, or the other
	 * sleepers would lose it. */
	if (r && deadline >= 0 && sys_now_ns() >= deadline)
		return -ETIMEDOUT;
	return 0;
}

int __conc_wake(uint32_t *word, int n, unsigned flags)
{
	int r = sys_futex_wake(word, n, __conc_futex_private(flags));

	return r > 0 ? r : 0;
}

void __conc_wake_op(uint32_t *word1, int n1, uint32_t *word2, int n2,
		    uint32_t op, unsigned flags)
{
	sys_futex(word1, FUTEX_WAKE_OP | __conc_futex_private(flags),
		  (uint32_t)n1, (void *)(long)n2, word2, op);
}

int __conc_requeue(uint32_t *from, int nwake, int nmove, uint32_t *to,
		   uint32_t cmp, unsigned flags)
{
	return sys_futex_cmp_requeue(from, nwake, nmove, to, cmp,
				     __conc_futex_private(flags));
}

void __conc_ctx_switch(uint32_t ctx)
{
	__conc_self()->ctx = ctx;
}
