/*
 * Sending one message. A frame of up to PIPE_BUF bytes goes in with one
 * write, whole or not at all, so a deadline that passes leaves nothing
 * behind. A longer one may go in parts; if the deadline passes between
 * two, the peer holds a torn frame and the stream is out of step for good:
 * the write end is closed, so that the peer, once it has received the
 * messages before, sees the frame cut short (-EPROTO) instead of waiting
 * for the rest, and later sends on this end fail with -EPIPE.
 */
#include <errno.h>
#include <sys/uio.h>
#include "chan_end.h"
#include "chan_frame.h"
#include "chan_sigpipe.h"
#include "sys/io.h"

static void tear(conc_chan *c)
{
	int fd = c->wfd;

	__atomic_store_n(&c->wdead, true, __ATOMIC_RELAXED);
	__atomic_store_n(&c->wfd, -1, __ATOMIC_RELAXED);
	sys_close(fd);
}

static int write_frame(conc_chan *c, const void *msg, size_t len,
		       conc_deadline dl)
{
	unsigned char hdr[CHAN_HDR];
	struct iovec iov[2] = { { hdr, CHAN_HDR }, { (void *)msg, len } }, *v = iov;
	bool begun = false;
	int cnt = 2;
	long n;

	__chan_hdr_put(hdr, (uint32_t)len);
	for (;;) {
		n = sys_writev(c->wfd, v, cnt);
		if (n > 0) {
			begun = true;
			while (cnt && (size_t)n >= v->iov_len) {
				n -= (long)v->iov_len;
				v++;
				cnt--;
			}
			if (!cnt)
				return 0;
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= (size_t)n;
		} else if (n == -EINTR) {
			continue;
		} else if (n != -EAGAIN || (n = __chan_wait_room(c, dl)) < 0) {
			if (begun)
				tear(c);
			return (int)n;
		}
	}
}

int conc_chan_send(conc_chan *c, const void *msg, size_t len,
		   int64_t timeout_ns)
{
	struct chan_sigpipe sp;
	conc_deadline dl;
	int r;

	if (!c || (!msg && len))
		return -EINVAL;
	if (__atomic_load_n(&c->wfd, __ATOMIC_RELAXED) < 0 &&
	    !__atomic_load_n(&c->wdead, __ATOMIC_RELAXED))
		return -EBADF;
	if (len > CONC_CHAN_MAX_MSG)
		return -EMSGSIZE;
	dl = __conc_deadline(timeout_ns);
	if ((r = conc_mutex_timedlock(&c->wlock, timeout_ns)))
		return r;
	if (c->wdead) {
		r = -EPIPE;
	} else {
		__chan_sigpipe_hold(&sp);
		r = write_frame(c, msg, len, dl);
		__chan_sigpipe_release(&sp, r);
	}
	conc_mutex_unlock(&c->wlock);
	return r;
}
