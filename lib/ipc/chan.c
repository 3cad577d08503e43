/*
 * A channel end owns the read end of one pipe and the write end of the
 * other (a one-way pair: one fd each). A message is a frame: an 8-byte
 * header ("Cc", version, 0, length as 32-bit little-endian) and the bytes.
 * The fds are non-blocking; waits are ppoll(2) with what is left of an
 * absolute deadline.
 *
 * A receive reads exactly the frame it returns, never into the next one,
 * so rfd stays readable while a message waits. The one exception: a send
 * that waits for room takes in what the peer sends meanwhile (into rbuf),
 * or two ends sending large messages to each other at once would both wait
 * for a reader forever.
 *
 * A write to a pipe with no reader raises SIGPIPE, whose default action
 * kills. A send blocks SIGPIPE in the calling thread for its duration, and
 * takes back the one its own write raised (the kernel sends it to the
 * writing thread), so the process's dispositions and the thread's mask and
 * pending set are as they were.
 *
 * One lock per direction lets threads share an end: a send takes wlock,
 * a receive rlock, and a send takes in bytes only when it gets rlock at
 * once (otherwise a receiving thread is draining the pipe anyway).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <conc/chan.h>
#include <conc/mutex.h>
#include "sys/sys.h"
#include "sys/io.h"
#include "wait/wait.h"

#define HDR		8u
#define VERSION		1u
#define RBUF_MIN	16384u
/* What a waiting send takes in at most: one largest frame and change. */
#define ABSORB_MAX	((size_t)CONC_CHAN_MAX_MSG + RBUF_MIN)
/* How often a waiting send looks again when another thread receives. */
#define BUSY_RETRY_NS	1000000
#define PIPE_BIT	(1ull << (SIGPIPE - 1))

struct conc_chan {
	int rfd, wfd;		/* -1 when this end has none */
	bool broken;		/* a bad frame came in: receiving is over */
	conc_mutex rlock, wlock;
	char *rbuf;		/* bytes taken in: rbuf[rpos, rpos + rlen) */
	size_t rcap, rpos, rlen;
};

static conc_chan *end_new(bool rx)
{
	conc_chan *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->rfd = c->wfd = -1;
	conc_mutex_init(&c->rlock, CONC_PRIVATE);
	conc_mutex_init(&c->wlock, CONC_PRIVATE);
	if (rx && !(c->rbuf = malloc(RBUF_MIN))) {
		free(c);
		return NULL;
	}
	c->rcap = rx ? RBUF_MIN : 0;
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

int conc_chan_pair(conc_chan **a, conc_chan **b, unsigned flags)
{
	bool duplex = !(flags & CONC_CHAN_ONEWAY);
	int in[2], out[2], r;
	conc_chan *x, *y;

	if (!a || !b || a == b || (flags & ~CONC_CHAN_ONEWAY))
		return -EINVAL;
	x = end_new(true);
	y = end_new(duplex);
	if (!x || !y) {
		r = -ENOMEM;
		goto fail;
	}
	/* in: b -> a; out: a -> b. */
	if ((r = sys_pipe2(in, O_CLOEXEC | O_NONBLOCK)))
		goto fail;
	x->rfd = in[0];
	y->wfd = in[1];
	grow(in[1]);
	if (duplex) {
		if ((r = sys_pipe2(out, O_CLOEXEC | O_NONBLOCK)))
			goto fail;
		x->wfd = out[1];
		y->rfd = out[0];
		grow(out[1]);
	}
	*a = x;
	*b = y;
	return 0;
fail:
	end_free(x);
	end_free(y);
	return r;
}

int conc_chan_rfd(const conc_chan *c)
{
	return !c ? -EINVAL : c->rfd >= 0 ? c->rfd : -EBADF;
}

int conc_chan_wfd(const conc_chan *c)
{
	return !c ? -EINVAL : c->wfd >= 0 ? c->wfd : -EBADF;
}

int conc_chan_close(conc_chan *c)
{
	if (!c)
		return -EINVAL;
	end_free(c);
	return 0;
}

/* ---- waiting ---- */

/* ppoll until an fd is ready, dl passes (-ETIMEDOUT) or at most cap_ns
 * (0: ppoll returned 0 early on purpose). A signal is a wake-up. */
static int poll_until(struct pollfd *p, unsigned n, conc_deadline dl,
		      int64_t cap_ns)
{
	struct timespec ts, *tp = NULL;
	int64_t left = -1;
	int r;

	if (dl >= 0) {
		left = dl - sys_now_ns();
		if (left <= 0)
			return -ETIMEDOUT;
	}
	if (cap_ns >= 0 && (left < 0 || cap_ns < left))
		left = cap_ns;
	if (left >= 0) {
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tp = &ts;
	}
	r = sys_ppoll(p, n, tp);
	return r < 0 && r != -EINTR ? r : 0;
}

/* Read up to n bytes, waiting for the first until dl: > 0, 0 at end of
 * file, -ETIMEDOUT, -errno. */
static long rd(conc_chan *c, void *p, size_t n, conc_deadline dl)
{
	struct pollfd pfd = { .fd = c->rfd, .events = POLLIN };
	long r;

	for (;;) {
		r = sys_read(c->rfd, p, n);
		if (r >= 0 || (r != -EAGAIN && r != -EINTR))
			return r;
		if (r == -EAGAIN && (r = poll_until(&pfd, 1, dl, -1)))
			return r;
	}
}

/* ---- receiving ---- */

static void consume(conc_chan *c, size_t n)
{
	c->rpos += n;
	c->rlen -= n;
	if (!c->rlen)
		c->rpos = 0;
}

static void put_hdr(unsigned char *h, uint32_t len)
{
	h[0] = 'C';
	h[1] = 'c';
	h[2] = VERSION;
	h[3] = 0;
	h[4] = (unsigned char)len;
	h[5] = (unsigned char)(len >> 8);
	h[6] = (unsigned char)(len >> 16);
	h[7] = (unsigned char)(len >> 24);
}

/* The frame's length, or -EPROTO for a header conc did not write. */
static long get_hdr(const unsigned char *h)
{
	uint32_t len = h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
		       (uint32_t)h[7] << 24;

	if (h[0] != 'C' || h[1] != 'c' || h[2] != VERSION || h[3] != 0 ||
	    len > CONC_CHAN_MAX_MSG)
		return -EPROTO;
	return (long)len;
}

/* Drop len bytes of payload, waiting as long as it takes. */
static long discard(conc_chan *c, size_t len)
{
	size_t n = c->rlen < len ? c->rlen : len;
	long r;

	consume(c, n);
	for (len -= n; len; len -= (size_t)r) {
		r = rd(c, c->rbuf, len < c->rcap ? len : c->rcap, -1);
		if (r <= 0)
			return r ? r : -EPROTO;
	}
	return 0;
}

static long read_frame(conc_chan *c, void *buf, size_t cap, conc_deadline dl)
{
	size_t len, got;
	long r;

	/* The deadline holds until the header is complete: a part of it
	 * stays in rbuf for the next call, so nothing is out of step. */
	if (c->rlen < HDR && c->rpos + HDR > c->rcap) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen);
		c->rpos = 0;
	}
	while (c->rlen < HDR) {
		r = rd(c, c->rbuf + c->rpos + c->rlen, HDR - c->rlen, dl);
		if (r <= 0)
			return r ? r : c->rlen ? -EPROTO : -EPIPE;
		c->rlen += (size_t)r;
	}
	if ((r = get_hdr((unsigned char *)c->rbuf + c->rpos)) < 0)
		return r;
	len = (size_t)r;
	consume(c, HDR);
	/* From here on the frame is finished whatever the deadline. */
	if (len > cap)
		return (r = discard(c, len)) ? r : -EMSGSIZE;
	got = c->rlen < len ? c->rlen : len;
	if (got)
		memcpy(buf, c->rbuf + c->rpos, got);
	consume(c, got);
	for (; got < len; got += (size_t)r)
		if ((r = rd(c, (char *)buf + got, len - got, -1)) <= 0)
			return r ? r : -EPROTO;
	return (long)len;
}

ssize_t conc_chan_recv(conc_chan *c, void *buf, size_t cap,
		       int64_t timeout_ns)
{
	conc_deadline dl;
	long r;

	if (!c || (!buf && cap))
		return -EINVAL;
	if (c->rfd < 0)
		return -EBADF;
	dl = __conc_deadline(timeout_ns);
	if ((r = conc_mutex_timedlock(&c->rlock, timeout_ns)))
		return r;
	if (c->broken) {
		r = -EPROTO;
	} else if ((r = read_frame(c, buf, cap, dl)) < 0 && r != -ETIMEDOUT &&
		   r != -EPIPE && r != -EMSGSIZE) {
		/* A bad header, a frame cut short, or a read that failed
		 * mid-frame: where the next frame starts is unknown. */
		c->broken = true;
		c->rpos = c->rlen = 0;
	}
	if (!c->rlen && c->rcap > RBUF_MIN) {
		char *p = realloc(c->rbuf, RBUF_MIN);

		if (p) {
			c->rbuf = p;
			c->rcap = RBUF_MIN;
		}
	}
	conc_mutex_unlock(&c->rlock);
	return r;
}

/* ---- sending ---- */

/*
 * Take in what the peer sent, if no other thread is receiving. Returns
 * true while it is worth looking at rfd again: false at end of file, when
 * the peer's bytes no longer fit, or when a receive broke this end.
 */
static bool absorb(conc_chan *c, bool *busy)
{
	size_t room;
	long r = 0;

	if (conc_mutex_trylock(&c->rlock)) {
		*busy = true;
		return true;
	}
	if (c->broken)
		goto out;
	if (c->rpos) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen);
		c->rpos = 0;
	}
	if (c->rlen == c->rcap && c->rcap < ABSORB_MAX) {
		size_t cap = c->rcap * 2 < ABSORB_MAX ? c->rcap * 2 : ABSORB_MAX;
		char *p = realloc(c->rbuf, cap);

		if (p) {
			c->rbuf = p;
			c->rcap = cap;
		}
	}
	room = c->rcap - c->rlen;
	if (room && (r = sys_read(c->rfd, c->rbuf + c->rlen, room)) > 0)
		c->rlen += (size_t)r;
out:
	conc_mutex_unlock(&c->rlock);
	return r > 0 || r == -EAGAIN || r == -EINTR;
}

/* Wait until wfd has room (or its reader is gone), or dl passes. */
static int wait_room(conc_chan *c, conc_deadline dl)
{
	struct pollfd p[2] = {
		{ .fd = c->wfd, .events = POLLOUT },
		{ .fd = c->rfd, .events = POLLIN },
	};
	bool take_in = c->rfd >= 0, busy = false;
	int r;

	for (;;) {
		p[0].revents = p[1].revents = 0;
		r = poll_until(p, take_in && !busy ? 2 : 1, dl,
			       busy ? BUSY_RETRY_NS : -1);
		if (r)
			return r;
		if (p[0].revents)
			return 0;
		busy = false;
		if (p[1].revents)
			take_in = absorb(c, &busy);
	}
}

static int write_frame(conc_chan *c, const void *msg, size_t len,
		       conc_deadline dl)
{
	unsigned char hdr[HDR];
	struct iovec iov[2] = { { hdr, HDR }, { (void *)msg, len } }, *v = iov;
	int cnt = 2, r;
	long n;

	put_hdr(hdr, (uint32_t)len);
	for (;;) {
		n = sys_writev(c->wfd, v, cnt);
		if (n > 0) {
			while (cnt && (size_t)n >= v->iov_len) {
				n -= (long)v->iov_len;
				v++;
				cnt--;
			}
			if (!cnt)
				return 0;
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= (size_t)n;
			/* Begun: the rest goes whatever the deadline. */
			dl = -1;
		} else if (n == -EAGAIN) {
			if ((r = wait_room(c, dl)))
				return r;
		} else if (n != -EINTR) {
			return (int)n;
		}
	}
}

int conc_chan_send(conc_chan *c, const void *msg, size_t len,
		   int64_t timeout_ns)
{
	uint64_t pipe = PIPE_BIT, old = 0, pending = 0;
	struct timespec zero = { 0, 0 };
	conc_deadline dl;
	int r;

	if (!c || (!msg && len))
		return -EINVAL;
	if (c->wfd < 0)
		return -EBADF;
	if (len > CONC_CHAN_MAX_MSG)
		return -EMSGSIZE;
	dl = __conc_deadline(timeout_ns);
	if ((r = conc_mutex_timedlock(&c->wlock, timeout_ns)))
		return r;
	sys_sigprocmask(SIG_BLOCK, (sigset_t *)&pipe, (sigset_t *)&old);
	/* Only a thread that blocks SIGPIPE itself can have one pending:
	 * leave that one where it is. */
	if (old & PIPE_BIT)
		sys_sigpending(&pending);
	r = write_frame(c, msg, len, dl);
	if (r == -EPIPE && !(pending & PIPE_BIT))
		sys_sigtimedwait(&pipe, NULL, &zero);
	if (!(old & PIPE_BIT))
		sys_sigprocmask(SIG_UNBLOCK, (sigset_t *)&pipe, NULL);
	conc_mutex_unlock(&c->wlock);
	return r;
}
