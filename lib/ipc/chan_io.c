/*
 * Waiting for an end's fds, always through the wait point and always
 * until the caller's deadline: a read waits for the first byte, a send
 * for room in the pipe.
 */
#include <errno.h>
#include <poll.h>
#include "chan_end.h"

/* How often a waiting send looks again when another thread receives. */
#define BUSY_RETRY_NS	1000000

long __chan_read(conc_chan *c, void *p, size_t n, conc_deadline dl)
{
	long r;
	int w;

	for (;;) {
		r = sys_read(c->rfd, p, n);
		if (r != -EAGAIN && r != -EINTR)
			return r;
		if (r == -EAGAIN && (w = __conc_wait_fd(c->rfd, POLLIN, dl)) < 0)
			return w;
	}
}

int __chan_wait_room(conc_chan *c, conc_deadline dl)
{
	struct pollfd p[2] = {
		{ .fd = c->wfd, .events = POLLOUT },
		{ .fd = c->rfd, .events = POLLIN },
	};
	bool take_in = c->rfd >= 0, busy = false;
	conc_deadline until;
	int r;

	for (;;) {
		/* While another thread holds the receiving side, rfd may stay
		 * readable without our help: look at wfd alone, and again
		 * soon in case that thread is done. */
		until = dl;
		if (busy) {
			until = __conc_deadline(BUSY_RETRY_NS);
			if (dl >= 0 && dl < until)
				until = dl;
		}
		p[0].revents = p[1].revents = 0;
		r = __conc_wait_fds(p, take_in && !busy ? 2 : 1, until);
		if (r == -ETIMEDOUT && until != dl)
			r = 0;
		if (r < 0)
			return r;
		if (p[0].revents)
			return 0;
		busy = false;
		if (p[1].revents)
			take_in = __chan_absorb(c, &busy);
	}
}
