/*
 * Reading from an end's pipe and waiting for its fds, always until the
 * caller's deadline: a read waits for the first byte, a send for room in
 * the pipe. A receive with no deadline outside a coroutine loop waits as
 * a plain pipe reader does, inside one blocking read (rfd is made
 * blocking the first time, chan_end.h); any other wait goes through the
 * wait point, and its reads ask for RWF_NOWAIT.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include "chan_end.h"
#include "sys/io.h"

/* How often a waiting send looks again when another thread receives. */
#define BUSY_RETRY_NS	1000000

/* Whether reads on pipes take RWF_NOWAIT (Linux 5.x): 0 not known yet,
 * 1 yes, -1 no (then rfd stays non-blocking and plain reads do). */
static int nowait_ok;

static long try_read(conc_chan *c, const struct iovec *v, int cnt)
{
	int ok = __atomic_load_n(&nowait_ok, __ATOMIC_RELAXED);
	long r;

	if (ok >= 0) {
		r = sys_preadv2(c->rfd, v, cnt, RWF_NOWAIT);
		if (r != -EOPNOTSUPP && r != -EINVAL && r != -ENOSYS) {
			if (!ok)
				__atomic_store_n(&nowait_ok, 1, __ATOMIC_RELAXED);
			return r;
		}
		__atomic_store_n(&nowait_ok, -1, __ATOMIC_RELAXED);
	}
	/* rfd stays non-blocking then (make_blocking), and one buffer costs
	 * the kernel less through read(2) than through a vector. */
	return cnt == 1 ? sys_read(c->rfd, v->iov_base, v->iov_len)
			: sys_readv(c->rfd, v, cnt);
}

/* Let reads on rfd block, once reads that must not can say so. */
static bool make_blocking(conc_chan *c)
{
	int fl;

	if (c->rblock || __atomic_load_n(&nowait_ok, __ATOMIC_RELAXED) <= 0)
		return false;
	fl = sys_fcntl(c->rfd, F_GETFL, 0);
	if (fl < 0 || sys_fcntl(c->rfd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return false;
	c->rblock = true;
	return true;
}

/* Cut v down to what the cursor lets a read ask for: the entries left. */
static int trim(const conc_chan *c, struct iovec *v, int cnt)
{
	size_t n = 0, ask;
	int k;

	for (k = 0; k < cnt; k++)
		n += v[k].iov_len;
	ask = __chan_ask(c, n);
	for (k = 0; k < cnt && ask; k++) {
		if (v[k].iov_len > ask)
			v[k].iov_len = ask;
		ask -= v[k].iov_len;
	}
	return k;
}

static void moved(conc_chan *c, const struct iovec *v, size_t r)
{
	size_t k;

	for (; r; v++, r -= k) {
		k = v->iov_len < r ? v->iov_len : r;
		__chan_advance(c, v->iov_base, k);
	}
}

long __chan_pull(conc_chan *c, void *p, size_t n)
{
	struct iovec v = { p, n };
	long r;

	trim(c, &v, 1);
	if ((r = try_read(c, &v, 1)) > 0)
		moved(c, &v, (size_t)r);
	return r;
}

long __chan_read_raw(conc_chan *c, const struct iovec *v, int cnt,
		     conc_deadline dl)
{
	bool may_block = dl < 0 && !__conc_self_tls.waiter;
	long r;
	int w;

	for (;;) {
		if (may_block && c->rblock)
			r = cnt == 1 ? sys_read(c->rfd, v->iov_base, v->iov_len)
				     : sys_readv(c->rfd, v, cnt);
		else
			r = try_read(c, v, cnt);
		if (r > 0 || (r != -EINTR && r != -EAGAIN))
			return r;
		if (r == -EINTR || (may_block && make_blocking(c)))
			continue;
		if ((w = __conc_wait_fd(c->rfd, POLLIN, dl)) < 0)
			return w;
	}
}

long __chan_readv(conc_chan *c, struct iovec *v, int cnt, conc_deadline dl)
{
	long r;

	cnt = trim(c, v, cnt);
	if ((r = __chan_read_raw(c, v, cnt, dl)) > 0)
		moved(c, v, (size_t)r);
	return r;
}

long __chan_read(conc_chan *c, void *p, size_t n, conc_deadline dl)
{
	struct iovec v = { p, n };

	return __chan_readv(c, &v, 1, dl);
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
		/* A poll past the deadline still reports a readable rfd: a
		 * peer that keeps writing must not keep the send here. */
		if (__conc_expired(dl))
			return -ETIMEDOUT;
	}
}
