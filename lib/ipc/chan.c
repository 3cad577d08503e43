/*
 * Making and closing a pair of channel ends (chan_end.h): two pipes, one
 * per direction, or one for a one-way pair; packet pipes where the kernel
 * lets the write end switch O_DIRECT on and off (Linux 3.4).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include "chan_end.h"

static conc_chan *end_new(bool rx)
{
	conc_chan *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->rfd = c->wfd = -1;
	c->page = getauxval(AT_PAGESZ) > PIPE_BUF ? getauxval(AT_PAGESZ) : PIPE_BUF;
	conc_mutex_init(&c->rlock, CONC_PRIVATE);
	conc_mutex_init(&c->wlock, CONC_PRIVATE);
	if (rx && !(c->rbuf = malloc(CHAN_RBUF_MIN))) {
		free(c);
		return NULL;
	}
	c->rcap = rx ? CHAN_RBUF_MIN : 0;
	return c;
}

static void end_free(conc_chan *c)
{
	if (!c)
		return;
	if (c->rfd >= 0)
		sys_close(c->rfd);
	if (c->wfd >= 0)
		sys_close(c->wfd);
	free(c->rbuf);
	free(c);
}

/* A bigger pipe buffer (up to what an unprivileged process may ask for,
 * 1 MiB by default) lets a large message cross in one go instead of many
 * rounds of fill and drain. Best effort: the default still works. */
static void grow(int fd)
{
	int size;

	for (size = 1 << 20; size > (1 << 16); size >>= 1)
		if (sys_fcntl(fd, F_SETPIPE_SZ, size) >= 0)
			return;
}

static int pipe_for(conc_chan *rx, conc_chan *tx)
{
	int fd[2], r = sys_pipe2(fd, O_CLOEXEC | O_NONBLOCK);

	if (r)
		return r;
	rx->rfd = fd[0];
	tx->wfd = fd[1];
	grow(fd[1]);
	rx->rpkt = tx->wpkt =
		!sys_fcntl(fd[1], F_SETFL, O_NONBLOCK | O_DIRECT);
	return 0;
}

int conc_chan_pair(conc_chan **a, conc_chan **b, unsigned flags)
{
	bool duplex = !(flags & CONC_CHAN_ONEWAY);
	conc_chan *x, *y;
	int r;

	if (!a || !b || a == b || (flags & ~CONC_CHAN_ONEWAY))
		return -EINVAL;
	x = end_new(true);
	y = end_new(duplex);
	if (!x || !y)
		r = -ENOMEM;
	else if (!(r = pipe_for(x, y)) && duplex)
		r = pipe_for(y, x);
	if (r) {
		end_free(x);
		end_free(y);
		return r;
	}
	*a = x;
	*b = y;
	return 0;
}

int conc_chan_rfd(const conc_chan *c)
{
	return !c ? -EINVAL : c->rfd >= 0 ? c->rfd : -EBADF;
}

int conc_chan_wfd(const conc_chan *c)
{
	int fd;

	if (!c)
		return -EINVAL;
	/* A torn send closes wfd under wlock, wdead set before (chan_send.c). */
	fd = __atomic_load_n(&c->wfd, __ATOMIC_ACQUIRE);
	if (fd >= 0)
		return fd;
	return __atomic_load_n(&c->wdead, __ATOMIC_RELAXED) ? -EPIPE : -EBADF;
}

int conc_chan_close(conc_chan *c)
{
	if (!c)
		return -EINVAL;
	end_free(c);
	return 0;
}
