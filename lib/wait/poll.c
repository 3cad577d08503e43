/*
 * Fd readiness and plain deadlines. ppoll takes a relative time: what is
 * left of the deadline is computed at each call, so a retry after a signal
 * never stretches the wait.
 */
#include <errno.h>
#include <poll.h>
#include "wait/wait.h"

int __conc_wait_fds(struct pollfd *fds, unsigned n, conc_deadline dl)
{
	struct __conc_waiter *w = __conc_self_tls.waiter;
	struct timespec ts;
	int r = -ENOSYS;

	if (w)
		r = w->poll(w, fds, n, dl);
	if (r == -ENOSYS)
		r = sys_ppoll(fds, n, sys_ts_left(dl, &ts));
	if (r == -EINTR)
		return 0;	/* -ECANCELED from a loop goes up as it is */
	if (r == 0)
		return __conc_expired(dl) ? -ETIMEDOUT : 0;
	return r;
}

int __conc_wait_fd(int fd, short events, conc_deadline dl)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = __conc_wait_fds(&p, 1, dl);

	return r > 0 ? (p.revents ? p.revents : POLLNVAL) : r;
}

int __conc_wait_pidfd(int pidfd, conc_deadline dl)
{
	struct __conc_waiter *w = __conc_self_tls.waiter;

	if (w && w->pidfd) {
		int r = w->pidfd(w, pidfd, dl);

		if (r != -ENOSYS)
			return r;
	}
	/* A pidfd is readable once the process has exited. */
	return __conc_wait_fd(pidfd, POLLIN, dl);
}

int __conc_sleep_until(conc_deadline dl)
{
	int r;

	if (dl < 0)
		return -EINVAL;
	do
		r = __conc_wait_fds(NULL, 0, dl);
	while (r == 0 || r > 0);
	return r == -ETIMEDOUT ? 0 : r;
}
