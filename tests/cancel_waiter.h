/* tests/cancel_waiter.h — a stand-in for a loop's waiter (lib/wait/wait.h)
 * whose fd waits report a cancelled coroutine (-ECANCELED) `cancels` times,
 * and futex waits `futex_cancels` times, then let the thread block. Install it on the calling thread with
 * __conc_self_tls.waiter = &cancelling; NULL again after. */
#ifndef CONC_TEST_CANCEL_WAITER_H
#define CONC_TEST_CANCEL_WAITER_H

#include <errno.h>
#include <poll.h>
#include "wait/wait.h"

static int cancels, futex_cancels;

static int cancel_poll(struct __conc_waiter *w, struct pollfd *fds,
		       unsigned n, conc_deadline dl)
{
	(void)w, (void)fds, (void)n, (void)dl;
	return cancels > 0 && cancels-- ? -ECANCELED : -ENOSYS;
}

static int pass_futex(struct __conc_waiter *w, const uint32_t *word,
		      uint32_t expected, conc_deadline dl, unsigned flags)
{
	(void)w, (void)word, (void)expected, (void)dl, (void)flags;
	return futex_cancels > 0 && futex_cancels-- ? -ECANCELED : -ENOSYS;
}

/* No pidfd hook: a process wait goes through cancel_poll as an fd's. */
static __attribute__((unused)) struct __conc_waiter cancelling = {
	.futex = pass_futex, .poll = cancel_poll
};

#endif
