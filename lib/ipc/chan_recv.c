/*
 * Receiving one message. Most take one read: the header into a local
 * buffer, the bytes straight into the caller's, and a spill area in rbuf
 * that makes the read ask for a whole packet (chan_frame.h). Anything
 * else — part of a header, a frame longer than the caller's buffer,
 * bytes a waiting send took in — goes the general way, through rbuf.
 *
 * The deadline holds for every wait. When it passes in the middle of a
 * frame, what came of it goes back to rbuf and the next receive takes it
 * up; when it passes while a message too long for the caller is thrown
 * away, skip remembers how much is left to throw, and the next receive
 * finishes the job and reports -EMSGSIZE. Either way the channel stays in
 * step.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/uio.h>
#include "chan_end.h"
#include "chan_frame.h"

#define SLOW	LONG_MIN	/* fast(): go the general way */

/* Read what comes next onto the end of rbuf: > 0, 0 at end of file,
 * -ETIMEDOUT, -errno. */
static long fill(conc_chan *c, conc_deadline dl)
{
	struct iovec v;
	long r;

	if ((r = __chan_room(c, CHAN_READ_MIN)))
		return r;
	v.iov_base = c->rbuf + c->rpos + c->rlen;
	v.iov_len = c->rcap - c->rpos - c->rlen;
	if ((r = __chan_readv(c, &v, 1, dl)) > 0)
		c->rlen += (size_t)r;
	return r;
}

/* Throw away the next c->skip bytes of the stream. */
static long discard(conc_chan *c, conc_deadline dl)
{
	size_t n;
	long r;

	for (;;) {
		n = c->rlen < c->skip ? c->rlen : c->skip;
		__chan_consume(c, n);
		c->skip -= n;
		if (!c->skip)
			return 0;
		if ((r = fill(c, dl)) <= 0)
			return r ? r : -EPROTO;
	}
}

/* Read the rest of a frame of len bytes straight into buf, *got of which
 * are there already. The read's spill area lies behind what rbuf holds
 * (the frame's own first bytes, if any): only a peer that packs the start
 * of the next frame into the same packet fills it. 0, or -errno with
 * *got telling how far it came. */
static long rest(conc_chan *c, char *buf, size_t *got, size_t len,
		 conc_deadline dl)
{
	struct iovec v[2];
	long r;

	while (*got < len) {
		if ((r = __chan_room(c, CHAN_READ_MIN)))
			return r;
		v[0].iov_base = buf + *got;
		v[0].iov_len = len - *got;
		v[1].iov_base = c->rbuf + c->rpos + c->rlen;
		v[1].iov_len = CHAN_READ_MIN;
		if ((r = __chan_readv(c, v, 2, dl)) <= 0)
			return r ? r : -EPROTO;
		if ((size_t)r > len - *got) {
			c->rlen += (size_t)r - (len - *got);
			r = (long)(len - *got);
		}
		*got += (size_t)r;
	}
	return 0;
}

/* The deadline cut a frame short: append to rbuf the header (if it is not
 * there yet) and what rest() put in buf beyond the `from` bytes rbuf
 * holds, so that rbuf again begins with the whole of what came. */
static long keep(conc_chan *c, const unsigned char *hdr, const char *buf,
		 size_t from, size_t got)
{
	size_t h = hdr ? CHAN_HDR : 0;
	char *p;

	if (__chan_room(c, h + got - from))
		return -ENOMEM;
	p = c->rbuf + c->rpos + c->rlen;
	if (hdr)
		memcpy(p, hdr, h);
	memcpy(p + h, buf + from, got - from);
	c->rlen += h + got - from;
	return 0;
}

/* rbuf begins with a frame, or with part of one. */
static long slow(conc_chan *c, char *buf, size_t cap, conc_deadline dl)
{
	size_t len, have, got;
	long r;

	while (c->rlen < CHAN_HDR)
		if ((r = fill(c, dl)) <= 0)
			return r ? r : c->rlen ? -EPROTO : -EPIPE;
	if ((r = __chan_hdr_get((unsigned char *)c->rbuf + c->rpos)) < 0)
		return r;
	len = (size_t)r;
	have = c->rlen - CHAN_HDR < len ? c->rlen - CHAN_HDR : len;
	if (len > cap) {
		__chan_consume(c, CHAN_HDR + have);
		c->skip = len - have;
		return (r = discard(c, dl)) ? r : -EMSGSIZE;
	}
	if (have)
		memcpy(buf, c->rbuf + c->rpos + CHAN_HDR, have);
	got = have;
	if ((r = rest(c, buf, &got, len, dl)))
		return r == -ETIMEDOUT && keep(c, NULL, buf, have, got) ? -ENOMEM : r;
	__chan_consume(c, CHAN_HDR + have);
	return (long)len;
}

/* All that one read brought in, put in rbuf in the order it came. */
static long to_rbuf(conc_chan *c, const unsigned char *hdr, const char *buf,
		    size_t cap, size_t n)
{
	size_t h = n < CHAN_HDR ? n : CHAN_HDR;
	size_t b = n - h < cap ? n - h : cap;

	c->rlen = n - h - b;	/* the spill, at the front of rbuf */
	if (__chan_room(c, h + b))
		return -ENOMEM;
	memmove(c->rbuf + h + b, c->rbuf, c->rlen);
	memcpy(c->rbuf, hdr, h);
	if (b)
		memcpy(c->rbuf + h, buf, b);
	c->rlen += h + b;
	return SLOW;
}

/* rbuf is empty. */
static long fast(conc_chan *c, char *buf, size_t cap, conc_deadline dl)
{
	unsigned char hdr[CHAN_HDR];
	struct iovec v[3] = {
		{ hdr, CHAN_HDR }, { buf, cap }, { c->rbuf, CHAN_READ_MIN },
	};
	size_t len, got;
	long r = __chan_readv(c, v, 3, dl);

	if (r <= 0)
		return r ? r : -EPIPE;
	got = (size_t)r;
	if (got < CHAN_HDR)
		return to_rbuf(c, hdr, buf, cap, got);
	if ((r = __chan_hdr_get(hdr)) < 0)
		return r;
	len = (size_t)r;
	got -= CHAN_HDR;
	if (len > cap || got > len)
		return to_rbuf(c, hdr, buf, cap, got + CHAN_HDR);
	if ((r = rest(c, buf, &got, len, dl)))
		return r == -ETIMEDOUT && keep(c, hdr, buf, 0, got) ? -ENOMEM : r;
	return (long)len;
}

static long recv_frame(conc_chan *c, char *buf, size_t cap, conc_deadline dl)
{
	long r;

	if (c->skip)
		return (r = discard(c, dl)) ? r : -EMSGSIZE;
	if (!c->rlen && (r = fast(c, buf, cap, dl)) != SLOW)
		return r;
	return slow(c, buf, cap, dl);
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
	/* No frame is longer; a larger cap would only make readv refuse. */
	if (cap > CONC_CHAN_MAX_MSG)
		cap = CONC_CHAN_MAX_MSG;
	dl = __conc_deadline(timeout_ns);
	if ((r = conc_mutex_timedlock(&c->rlock, timeout_ns)))
		return r;
	if (c->broken) {
		r = -EPROTO;
	} else if ((r = recv_frame(c, buf, cap, dl)) < 0 && r != -ETIMEDOUT &&
		   r != -EPIPE && r != -EMSGSIZE) {
		/* A bad header, a frame cut short by the end of the stream,
		 * or a part of one that could not be kept: where the next
		 * frame starts is unknown. */
		c->broken = true;
		c->rpos = c->rlen = c->skip = 0;
	}
	__chan_shrink(c);
	conc_mutex_unlock(&c->rlock);
	return r;
}
