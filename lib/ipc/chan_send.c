/*
 * Sending one message. A frame of up to PIPE_BUF bytes goes in with one
 * write, whole or not at all, so a deadline that passes leaves nothing
 * behind; in a packet pipe it is one packet. A longer one goes in as
 * packets of a page, or beyond STREAM_MIN as a byte stream padded to
 * whole pages (chan_end.h, chan_frame.h), and may go in parts; if the deadline passes between two, the peer holds a torn
 * frame and the stream is out of step for good: the write end is closed,
 * so that the peer, once it has received the messages before, sees the
 * frame cut short (-EPROTO) instead of waiting for the rest, and later
 * sends on this end fail with -EPIPE. A send that only tries (timeout 0)
 * does not begin a frame the pipe surely has no room for (no_room_now).
 *
 * SIGPIPE: a write asks the kernel not to raise it (RWF_NOSIGNAL, Linux
 * 6.18); where the kernel does not know the flag, the send holds SIGPIPE
 * blocked around each write (chan_sigpipe.h, put).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include "chan_end.h"
#include "chan_frame.h"
#include "chan_sigpipe.h"
#include "sys/io.h"

static void tear(conc_chan *c)
{
	int fd = c->wfd;

	/* wdead first: whoever sees wfd gone sees why (dead, below). */
	__atomic_store_n(&c->wdead, true, __ATOMIC_RELAXED);
	__atomic_store_n(&c->wfd, -1, __ATOMIC_RELEASE);
	sys_close(fd);
}

/* Whether a torn send closed wfd, which the caller saw at -1: read only
 * then, the hot path keeps its one relaxed load. wfd never comes back, so
 * loading it again with acquire (no fence: TSan does not know fences)
 * reads tear's -1, and wdead with it. */
static bool dead(const conc_chan *c)
{
	(void)__atomic_load_n(&c->wfd, __ATOMIC_ACQUIRE);
	return __atomic_load_n(&c->wdead, __ATOMIC_RELAXED);
}

/* A frame this short is copied behind its header: one buffer is a little
 * cheaper for the kernel to take than two. */
#define CHAN_COPY_MAX	256u

/* The kernel does not know RWF_NOSIGNAL (see chan_sigpipe.h). */
static bool no_nosignal;

/* Without RWF_NOSIGNAL, SIGPIPE is held blocked around each write alone,
 * never across a wait: in a loop a wait lets other tasks of the thread
 * run, and one that sends too would find SIGPIPE blocked, take that for
 * its caller's mask, and leave it to whichever send ends first to unblock
 * it under the other's write. */
static long put(conc_chan *c, const struct iovec *v, int cnt, bool nosig)
{
	struct chan_sigpipe sp;
	long r;

	if (nosig)
		return sys_pwritev2(c->wfd, v, cnt, RWF_NOSIGNAL);
	__chan_sigpipe_hold(&sp);
	/* A vector of one buffer costs the kernel more than write(2). */
	r = cnt == 1 ? sys_write(c->wfd, v->iov_base, v->iov_len)
		     : sys_writev(c->wfd, v, cnt);
	__chan_sigpipe_release(&sp, (int)r);
	return r;
}

/* The write end as a byte stream (for long frames) or as packets. The
 * mode stays until a frame of the other kind comes. */
static void stream_mode(conc_chan *c, bool stream)
{
	if (c->wstream != stream &&
	    !sys_fcntl(c->wfd, F_SETFL, O_NONBLOCK | (stream ? 0 : O_DIRECT)))
		c->wstream = stream;
}

/* A frame up to this size goes in as packets (a page each, read one by
 * one); a longer one as a padded byte stream (read in two reads), whose
 * pad costs less than the reads it saves. */
#define STREAM_MIN	(4 * PIPE_BUF)

/* Zero bytes for the pad, ZERO_CHUNK at a time; a page of up to 64 KiB. */
#define ZERO_CHUNK	4096u
#define IOV_MAX_PAD	(65536u / ZERO_CHUNK)
static const unsigned char zeros[ZERO_CHUNK];

/* Write the frame (v, cnt), waiting for room until dl: 0, -EOPNOTSUPP
 * (the kernel does not know RWF_NOSIGNAL; nothing was written),
 * -ETIMEDOUT or -errno. */
static long push(conc_chan *c, struct iovec *v, int cnt, conc_deadline dl,
		 bool nosig, bool *begun)
{
	long r;

	while (cnt) {
		r = put(c, v, cnt, nosig);
		if (r > 0) {
			*begun = true;
			while (cnt && (size_t)r >= v->iov_len) {
				r -= (long)v->iov_len;
				v++;
				cnt--;
			}
			if (cnt) {
				v->iov_base = (char *)v->iov_base + r;
				v->iov_len -= (size_t)r;
			}
		} else if ((r == -EOPNOTSUPP || r == -ENOSYS) && nosig && !*begun) {
			__atomic_store_n(&no_nosignal, true, __ATOMIC_RELAXED);
			return -EOPNOTSUPP;
		} else if (r != -EINTR &&
			   (r != -EAGAIN || (r = __chan_wait_room(c, dl)) < 0)) {
			return r;
		}
	}
	return 0;
}

/*
 * Whether a frame of total bytes (pad included) surely cannot go into the
 * pipe whole now: a send that only tries then sends nothing rather than a
 * part that would tear it. The pipe says its size (a buffer of a page per
 * slot) and its bytes (FIONREAD), not its slots in use: each holds a page
 * at most, so at least bytes / page are taken. Whether the rest is free is
 * not known (a short message takes a whole slot): such a send is tried,
 * and may still go in part. Nothing else writes to the pipe meanwhile
 * (one process uses an end, its threads one at a time: wlock), and the
 * peer only makes room. An error: not sure.
 */
static bool no_room_now(const conc_chan *c, size_t total)
{
	int size = sys_fcntl(c->wfd, F_GETPIPE_SZ, 0), queued = 0;
	size_t slots, used;

	if (size <= 0 || sys_ioctl(c->wfd, FIONREAD, &queued) < 0 || queued < 0)
		return false;
	slots = (size_t)size / c->page;
	used = ((size_t)queued + c->page - 1) / c->page;
	return used > slots || (total + c->page - 1) / c->page > slots - used;
}

static int write_frame(conc_chan *c, const void *msg, size_t len,
		       conc_deadline dl, bool nosig, bool try_only)
{
	unsigned char hdr[CHAN_HDR + CHAN_COPY_MAX];
	struct iovec iov[2 + IOV_MAX_PAD];
	size_t total = CHAN_HDR + len, pad = 0;
	bool begun = false;
	int cnt = 2;
	long r;

	/* A long frame goes in as a byte stream, padded to whole pages
	 * (with 64 KiB pages, anything shorter than a page is one packet). */
	if (c->wpkt && c->page <= 65536)
		stream_mode(c, total > STREAM_MIN && total >= c->page);
	if (c->wpkt && c->wstream)
		pad = __chan_pad(len, c->page);
	__chan_hdr_put(hdr, (uint32_t)len, pad ? CHAN_F_PAD : 0);
	iov[0] = (struct iovec){ hdr, CHAN_HDR };
	iov[1] = (struct iovec){ (void *)msg, len };
	if (len <= CHAN_COPY_MAX) {
		if (len)
			memcpy(hdr + CHAN_HDR, msg, len);
		iov[0].iov_len = total;
		cnt = 1;
	}
	/* Up to PIPE_BUF bytes go in whole or not at all anyway. */
	if (try_only && total + pad > PIPE_BUF && no_room_now(c, total + pad))
		return -ETIMEDOUT;
	for (; pad; pad -= iov[cnt++].iov_len)
		iov[cnt] = (struct iovec){ (void *)zeros,
					   pad < ZERO_CHUNK ? pad : ZERO_CHUNK };
	r = push(c, iov, cnt, dl, nosig, &begun);
	if (r < 0 && begun)
		tear(c);
	return (int)r;
}

/* The common case, kept short: a frame of up to CHAN_COPY_MAX bytes, in
 * one buffer behind its header, as one packet with RWF_NOSIGNAL (a vector
 * of one buffer costs the kernel little more than a plain write's). Such
 * a write goes in whole or not at all: 0, -EPIPE, or -EAGAIN for
 * write_frame to take it from the start (no room, a signal, a kernel
 * without RWF_NOSIGNAL, a write end sending long frames). */
static int send_small(conc_chan *c, const void *msg, size_t len)
{
	unsigned char f[CHAN_HDR + CHAN_COPY_MAX];
	struct iovec v = { f, CHAN_HDR + len };
	long r;

	if (len > CHAN_COPY_MAX || c->wstream ||
	    __atomic_load_n(&no_nosignal, __ATOMIC_RELAXED))
		return -EAGAIN;
	__chan_hdr_put(f, (uint32_t)len, 0);
	if (len)
		memcpy(f + CHAN_HDR, msg, len);
	r = sys_pwritev2(c->wfd, &v, 1, RWF_NOSIGNAL);
	return r == (long)v.iov_len ? 0 : r == -EPIPE ? -EPIPE : -EAGAIN;
}

int conc_chan_send(conc_chan *c, const void *msg, size_t len,
		   int64_t timeout_ns)
{
	conc_deadline dl;
	int r;

	if (!c || (!msg && len))
		return -EINVAL;
	if (__atomic_load_n(&c->wfd, __ATOMIC_RELAXED) < 0 && !dead(c))
		return -EBADF;
	if (len > CONC_CHAN_MAX_MSG)
		return -EMSGSIZE;
	dl = __conc_deadline(timeout_ns);
	/* A torn sending side stays so for every sharer: another thread's
	 * send that holds the lock (as briefly as it takes to say -EPIPE)
	 * makes no -ETIMEDOUT, which would say to try again. */
	if ((r = conc_mutex_timedlock(&c->wlock, timeout_ns)))
		return r == -ETIMEDOUT &&
		       __atomic_load_n(&c->wdead, __ATOMIC_RELAXED) ? -EPIPE : r;
	if (c->wdead) {
		r = -EPIPE;
	} else if ((r = send_small(c, msg, len)) != -EAGAIN) {
		/* done */
	} else if (__atomic_load_n(&no_nosignal, __ATOMIC_RELAXED) ||
		   (r = write_frame(c, msg, len, dl, true, !timeout_ns)) == -EOPNOTSUPP) {
		r = write_frame(c, msg, len, dl, false, !timeout_ns);
	}
	conc_mutex_unlock(&c->wlock);
	return r;
}
