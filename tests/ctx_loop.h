/* ctx_loop.h — a stand-in for a coroutine loop on the test's thread, with
 * the test-only seam __conc_ctx_switch(): while context `self` waits, the
 * wait point calls the installed waiter, which runs `body` once as context
 * `other` (as a loop would run another coroutine) and returns a wake-up;
 * later waits block the thread as usual. Each wait that comes to it also
 * looks at the robust list the kernel holds for the thread: a wait entered
 * with list_op_pending set would let the other context overwrite it
 * (counted in loop.pending). */
#ifndef TEST_CTX_LOOP_H
#define TEST_CTX_LOOP_H

#include <criterion/criterion.h>
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "wait/wait.h"

static struct {
	int ran, waits, pending;
	uint32_t self, other;
	void (*body)(void);
} loop;

static void loop_look(void)
{
	struct robust_list_head *h = NULL;
	size_t len;

	loop.waits++;
	if (syscall(SYS_get_robust_list, 0, &h, &len) == 0 && h &&
	    h->list_op_pending)
		loop.pending++;
}

/* A wait of self: the other context runs once, then waits block. */
static int loop_run_other(void)
{
	loop_look();
	if (loop.ran++)
		return -ENOSYS;
	__conc_ctx_switch(loop.other);
	loop.body();
	__conc_ctx_switch(loop.self);
	return 0;
}

static int loop_futex(struct __conc_waiter *w, const uint32_t *word,
		      uint32_t expected, conc_deadline dl, unsigned flags)
{
	(void)w, (void)word, (void)expected, (void)dl, (void)flags;
	return loop_run_other();
}

static int loop_poll(struct __conc_waiter *w, struct pollfd *fds, unsigned n,
		     conc_deadline dl)
{
	(void)w, (void)fds, (void)n, (void)dl;
	/* A wake-up for a poll is one ready entry: let the thread block
	 * instead, after the look (and the other context's run). */
	loop_run_other();
	return -ENOSYS;
}

static void start_loop(uint32_t self, uint32_t other, void (*body)(void))
{
	static struct __conc_waiter w = { .futex = loop_futex, .poll = loop_poll };

	loop.ran = loop.waits = loop.pending = 0;
	loop.self = self;
	loop.other = other;
	loop.body = body;
	__conc_ctx_switch(self);
	__conc_self()->waiter = &w;
}

static void stop_loop(void)
{
	__conc_self()->waiter = NULL;
	__conc_ctx_switch(0);
}

#endif
