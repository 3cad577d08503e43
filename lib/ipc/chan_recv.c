/*
 * Receiving one message. A receive reads exactly the frame it returns,
 * never a byte of the next, so rfd stays readable while a message waits:
 * the first read into rbuf (unless a waiting send took the frame in
 * already) takes the header, and in a packet pipe a whole small frame
 * (chan_cursor.c); what is left of a longer one goes straight into the
 * caller's buffer.
 *
 * The deadline holds for every wait, and against a peer that keeps the
 * pipe from running dry with bytes in dribbles (dribble). When it passes
 * in the middle of a frame, what came of it goes back to rbuf and the
 * next receive takes it up; when it passes while a message too long for
 * the caller is thrown away, skip remembers how much is left to throw,
 * and the next receive finishes the job and reports -EMSGSIZE. Either way
 * the channel stays in step.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include "chan_end.h"
#include "chan_frame.h"
#include "sys/io.h"

/* Read up to n more bytes onto the end of rbuf: > 0, 0 at end of file,
 * -ETIMEDOUT, -errno. */
static long fill(conc_chan *c, size_t n, conc_deadline dl)
{
	long r;

	if (__chan_room(c, n))
		return -ENOMEM;
	if ((r = __chan_read(c, c->rbuf + c->rpos + c->rlen, n, dl)) > 0)
		c->rlen += (size_t)r;
	return r;
}

/* A read of r bytes, short of the frame's end, says to stop: the deadline
 * passed and it was less than a page. A frame conc sent comes in whole
 * pages (packets, or a padded stream) but for its end, so only a peer
 * that dribbles gets here; one that dribbles as fast as we read would
 * otherwise hold the receive past its deadline, up to 64 MiB a byte at
 * a time. What came is kept as for any timeout. */
static bool dribble(const conc_chan *c, long r, conc_deadline dl)
{
	return r > 0 && (size_t)r < c->page && __conc_expired(dl);
}

/* Throw away the next c->skip bytes of the stream. */
static long discard(conc_chan *c, conc_deadline dl)
{
	size_t n;
	long r = 0;

	for (;;) {
		n = c->rlen < c->skip ? c->rlen : c->skip;
		__chan_consume(c, n);
		c->skip -= n;
		if (!c->skip)
			return 0;
		if (dribble(c, r, dl))
			return -ETIMEDOUT;
		/* At least a page a read: less is a dribble (64 KiB pages). */
		n = CHAN_RBUF_MIN > c->page ? CHAN_RBUF_MIN : c->page;
		n = c->skip < n ? c->skip : n;
		if ((r = fill(c, n, dl)) <= 0)
			return r ? r : -EPROTO;
	}
}

/* The deadline cut a frame short after got bytes of it (counted after
 * the header: the message's len bytes, then its pad) came in, those of
 * the message into buf: append to rbuf, behind the header and the `from`
 * bytes it holds already, what came beyond them, so that rbuf again
 * begins with all that came of the frame. */
static long keep(conc_chan *c, const char *buf, size_t from, size_t got,
		 size_t len)
{
	size_t msg = got < len ? got : len;

	if (__chan_room(c, got - from))
		return -ENOMEM;
	if (from < msg) {
		memcpy(c->rbuf + c->rpos + c->rlen, buf + from, msg - from);
		c->rlen += msg - from;
		from = msg;
	}
	memset(c->rbuf + c->rpos + c->rlen, 0, got - from);	/* pad */
	c->rlen += got - from;
	return 0;
}

/* The rest of the frame from the pipe, exactly, not a byte of the next:
 * the message's bytes straight into buf, its pad (if any) into rbuf's
 * spare room, which it leaves as it found it. */
static long rest(conc_chan *c, char *buf, size_t len, size_t flen,
		 size_t have, conc_deadline dl)
{
	struct iovec v[2];
	size_t got;
	long r;
	int n;

	if (flen > len && __chan_room(c, flen - len))
		return -ENOMEM;
	for (got = have; got < flen; got += (size_t)r) {
		n = 0;
		if (got < len)
			v[n++] = (struct iovec){ buf + got, len - got };
		v[n++] = (struct iovec){ c->rbuf + c->rpos + c->rlen,
					 flen - (got > len ? got : len) };
		if (!v[n - 1].iov_len)
			n--;
		if ((r = __chan_readv(c, v, n, dl)) > 0 &&
		    (got + (size_t)r == flen || !dribble(c, r, dl)))
			continue;
		if (r > 0) {
			got += (size_t)r;
			r = -ETIMEDOUT;
		}
		if ((r == -ETIMEDOUT || r == -ECANCELED) &&
		    keep(c, buf, have, got, len))
			return -ENOMEM;
		return r ? r : -EPROTO;
	}
	return 0;
}

/* The common case, at the start of a frame with nothing kept in a packet
 * pipe: one read of a page into rbuf. A whole unpadded frame that fits
 * is handed out at once (the cursor stays at a frame's start); anything
 * else is left in rbuf, the cursor moved over it, for recv_frame. */
static long one_read(conc_chan *c, char *buf, size_t cap, conc_deadline dl)
{
	struct iovec v = { c->rbuf + c->rpos, c->page };
	const unsigned char *h = v.iov_base;
	size_t len;
	long r = -EAGAIN;

	/* A receive that may wait in its read (chan_io.c) reads at once. */
	if (c->rblock && dl < 0 && !__conc_self_tls.waiter)
		r = sys_read(c->rfd, v.iov_base, v.iov_len);
	if (r == -EAGAIN || r == -EINTR)
		r = __chan_read_raw(c, &v, 1, dl);
	if (r <= 0)
		return r ? r : -EPIPE;
	/* A packet shorter than a header leaves h[4..7] as they were, maybe
	 * never written (valgrind): decide nothing on them. */
	len = (size_t)r < CHAN_HDR ? 0 : h[4] | (size_t)h[5] << 8 |
					 (size_t)h[6] << 16 | (size_t)h[7] << 24;
	if ((size_t)r == CHAN_HDR + len && len <= cap && h[0] == 'C' &&
	    h[1] == 'c' && h[2] == CHAN_VERSION && !h[3]) {
		if (len)	/* buf may be NULL then */
			memcpy(buf, h + CHAN_HDR, len);
		return (long)len;
	}
	__chan_advance(c, h, (size_t)r);
	c->rlen = (size_t)r;
	return -EAGAIN;	/* recv_frame goes on from rbuf */
}

static long recv_frame(conc_chan *c, char *buf, size_t cap, conc_deadline dl)
{
	size_t len, pad, flen, have;
	long r;

	if (c->skip)
		return (r = discard(c, dl)) ? r : -EMSGSIZE;
	if (!c->rlen && c->rpkt && !c->phave && !c->plost &&
	    (c->rcap - c->rpos >= c->page || !__chan_room(c, c->page)) &&
	    (r = one_read(c, buf, cap, dl)) != -EAGAIN)
		return r;
	while (c->rlen < CHAN_HDR)
		if ((r = fill(c, c->page, dl)) <= 0)
			return r ? r : c->rlen ? -EPROTO : -EPIPE;
	r = __chan_hdr_get((unsigned char *)c->rbuf + c->rpos, c->page, &pad);
	if (r < 0)
		return r;
	len = (size_t)r;
	flen = len + pad;
	have = c->rlen - CHAN_HDR < flen ? c->rlen - CHAN_HDR : flen;
	if (len > cap) {
		__chan_consume(c, CHAN_HDR + have);
		c->skip = flen - have;
		return (r = discard(c, dl)) ? r : -EMSGSIZE;
	}
	/* Only the message's bytes: buf may be NULL for an empty message
	 * whose pad came in. */
	if (have && len)
		memcpy(buf, c->rbuf + c->rpos + CHAN_HDR, have < len ? have : len);
	if (have < flen && (r = rest(c, buf, len, flen, have, dl)))
		return r;
	__chan_consume(c, CHAN_HDR + have);
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
	/* A broken end stays so for every sharer: another thread's receive
	 * that holds the lock (as briefly as it takes to say -EPROTO) makes
	 * no -ETIMEDOUT, which would say to try again. */
	if ((r = conc_mutex_timedlock(&c->rlock, timeout_ns)))
		return r == -ETIMEDOUT &&
		       __atomic_load_n(&c->broken, __ATOMIC_RELAXED) ? -EPROTO : r;
	if (c->broken) {
		r = -EPROTO;
	} else if ((r = recv_frame(c, buf, cap, dl)) < 0 && r != -ETIMEDOUT &&
		   r != -ECANCELED && r != -EPIPE && r != -EMSGSIZE) {
		/* A bad header, a frame cut short by the end of the stream,
		 * or a part of one that could not be kept: where the next
		 * frame starts is unknown. */
		__atomic_store_n(&c->broken, true, __ATOMIC_RELAXED);
		c->rpos = c->rlen = c->skip = 0;
	}
	__chan_shrink(c);
	conc_mutex_unlock(&c->rlock);
	return r;
}
