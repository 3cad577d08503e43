/*
 * The I/O calls outside a loop: the system call itself when there is no
 * deadline, else the call made not to wait, then waits for readiness
 * through the wait point and tries again; -EAGAIN (an O_NONBLOCK fd) means
 * wait and try again. A signal handler that interrupts a call (-EINTR)
 * does not end it, as no signal ends one in a task: it goes on, within
 * its deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include "loop/io.h"
#include "sys/io.h"
#include "sys/net.h"

long __conc_io_plain(const struct io *a)
{
	switch (a->kind) {
	case IO_READ:
		return sys_read(a->fd, a->buf, a->len);
	case IO_WRITE:
		return sys_write(a->fd, a->buf, a->len);
	case IO_RECV:
		return sys_recv(a->fd, a->buf, a->len, a->flags);
	case IO_SEND:
		return sys_send(a->fd, a->buf, a->len, a->flags);
	case IO_ACCEPT:
		return sys_accept4(a->fd, a->addr, a->alen, a->flags);
	default:
		return sys_connect(a->fd, a->addr, a->clen);
	}
}

/* A connect in progress: wait until the socket is writable, then connect
 * again, which says how it ended and leaves the socket as a connect that
 * saw its end does (as io_uring's connect and a blocking one do): a later
 * connect says EISCONN, or tries anew after a failure. Reading SO_ERROR
 * instead left it "connecting": a second connect then said 0, or
 * ECONNABORTED after a refusal. */
long __conc_io_connected(const struct io *a, conc_deadline dl)
{
	long r;

	do
		r = __conc_wait_fd(a->fd, POLLOUT, dl);
	while (r == 0);
	if (r < 0)
		return r;
	r = __conc_io_plain(a);
	if (r == -EISCONN)
		return 0;
	/* Still under way after all (never seen): the pending error. */
	return r == -EALREADY || r == -EINPROGRESS ? sys_sock_error(a->fd) : r;
}

/* A blocking connect that a signal interrupted goes on in the kernel: its
 * result comes as for one in progress (connect(2) again says EALREADY). */
static long connect_plain(const struct io *a, conc_deadline dl)
{
	long r = __conc_io_plain(a);

	return r == -EINPROGRESS || r == -EINTR ? __conc_io_connected(a, dl) : r;
}

/* Outside a loop, a connect with a deadline must not block in connect(2)
 * itself: the socket is made non-blocking for the call. */
static long connect_timed(const struct io *a, conc_deadline dl)
{
	int fl = sys_fcntl(a->fd, F_GETFL, 0);
	long r;

	if (fl < 0)
		return fl;
	if (!(fl & O_NONBLOCK))
		sys_fcntl(a->fd, F_SETFL, fl | O_NONBLOCK);
	r = connect_plain(a, dl);
	if (!(fl & O_NONBLOCK))
		sys_fcntl(a->fd, F_SETFL, fl);
	return r;
}

/* A regular file or a block device is always "ready": its -EAGAIN under
 * RWF_NOWAIT means pages not yet cached (or blocks not yet allocated),
 * which a plain read or write waits for a short while, never for ever;
 * polling for it would spin to the deadline. */
static bool never_waits(int fd)
{
	struct stat st;

	return sys_fstat(fd, &st) == 0 &&
	       (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

/*
 * With a deadline, the call after the fd was ready must not wait itself: a
 * write or send larger than the room left would block past the deadline,
 * and a read or recv would when another reader came first and took the
 * data (two threads reading one pipe: the loser waited for the next byte).
 * A file that cannot tell (-EOPNOTSUPP: a tty, or no pwritev2 at all under
 * a seccomp filter or qemu-user 7.2) gets a plain write of at most
 * PIPE_BUF bytes, which the room that POLLOUT promised takes at once
 * (short, as a write with a timeout may be); a whole 1 MiB blocked past
 * the deadline. A plain read there still waits when another reader took
 * the bytes first.
 */
static long nowait(const struct io *a)
{
	struct io b = *a;
	long r;

	switch (a->kind) {
	case IO_READ:
		r = sys_read_nowait(a->fd, a->buf, a->len);
		if (r == -EOPNOTSUPP || (r == -EAGAIN && never_waits(a->fd)))
			return __conc_io_plain(a);
		return r;
	case IO_WRITE:
		r = sys_write_nowait(a->fd, a->buf, a->len);
		if (r == -EAGAIN && never_waits(a->fd))
			return __conc_io_plain(a);
		if (r == -EOPNOTSUPP && !never_waits(a->fd) && b.len > PIPE_BUF)
			b.len = PIPE_BUF;
		return r == -EOPNOTSUPP ? __conc_io_plain(&b) : r;
	case IO_SEND:
	case IO_RECV:
		b.flags |= MSG_DONTWAIT;
		return __conc_io_plain(&b);
	default:
		return __conc_io_plain(a);
	}
}

/* accept4(2) has no flag that keeps it from waiting: what it refuses at
 * once (flags it does not know, a socket that does not listen, one of a
 * type that has no connections, no socket) is found out before the first
 * wait, as in a task; -EAGAIN where it would have to wait. */
static long accept_early(const struct io *a)
{
	int v = 0;
	socklen_t len = sizeof(v);
	long r;

	if (a->flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	r = __CONC_SC(SYS_getsockopt, a->fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len);
	if (r < 0 || v)
		return r < 0 ? r : -EAGAIN;
	r = __CONC_SC(SYS_getsockopt, a->fd, SOL_SOCKET, SO_TYPE, &v, &len);
	if (r < 0)
		return r;
	return v == SOCK_DGRAM || v == SOCK_RAW || v == SOCK_RDM ? -EOPNOTSUPP : -EINVAL;
}

/*
 * Before any wait, a read or write that cannot block (RWF_NOWAIT): what
 * the call refuses at once (the wrong end of a pipe, an eventfd read of
 * less than 8 bytes) is refused at once, as in a task, not after the
 * timeout for want of readiness; a send is tried (MSG_DONTWAIT), an
 * accept is checked (accept_early). A recv waits first, as a task's
 * does (IORING_RECVSEND_POLL_FIRST).
 * -EAGAIN where it would have to wait, or where the file cannot say
 * (-EOPNOTSUPP: a tty): wait, then nowait().
 */
static long early(const struct io *a)
{
	long r;

	if (a->kind == IO_READ) {
		r = sys_read_nowait(a->fd, a->buf, a->len);
		if (r == -EAGAIN && never_waits(a->fd))
			return __conc_io_plain(a);
	} else if (a->kind == IO_WRITE) {
		r = sys_write_nowait(a->fd, a->buf, a->len);
		if (r == -EAGAIN && never_waits(a->fd))
			return __conc_io_plain(a);
	} else if (a->kind == IO_SEND) {
		/* What send(2) refuses (a listening socket: EPIPE) it
		 * refuses before any wait, as in a task, whose send tries
		 * first too; and room in the buffer takes it at once. */
		return nowait(a);
	} else {
		return a->kind == IO_ACCEPT ? accept_early(a) : -EAGAIN;
	}
	return r == -EOPNOTSUPP ? -EAGAIN : r;
}

static long once(const struct io *a, conc_deadline dl);

/* Whether a recv with a deadline must gather: MSG_WAITALL on a stream
 * socket (on others the flag means nothing; a peek reads the same bytes
 * again). */
static bool gathers(const struct io *a, conc_deadline dl)
{
	int type = 0;
	socklen_t len = sizeof(type);

	return a->kind == IO_RECV && dl >= 0 &&
	       (a->flags & (MSG_WAITALL | MSG_PEEK)) == MSG_WAITALL &&
	       __CONC_SC(SYS_getsockopt, a->fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	       type == SOCK_STREAM;
}

/* MSG_WAITALL within a deadline: what came so far is returned once the
 * deadline passes (or at the end of the stream, or an error), as a task's
 * recv through the ring does; -ETIMEDOUT only when nothing came. The one
 * non-blocking recv would return the first part at once. */
static long recv_all(const struct io *a, conc_deadline dl)
{
	struct io b = *a;
	size_t got = 0;
	long r;

	do {
		b.buf = (char *)a->buf + got;
		b.len = a->len - got;
		r = once(&b, dl);
		if (r <= 0)
			return got ? (long)got : r;
		got += (size_t)r;
	} while (got < a->len);
	return (long)got;
}

long __conc_io_outside(const struct io *a, conc_deadline dl)
{
	return gathers(a, dl) ? recv_all(a, dl) : once(a, dl);
}

static long once(const struct io *a, conc_deadline dl)
{
	bool rw = a->kind == IO_READ || a->kind == IO_WRITE;
	long r;

	if (a->kind == IO_CONNECT)
		return dl >= 0 ? connect_timed(a, dl) : connect_plain(a, dl);
	/* No deadline, or nothing to move (read(2) and write(2) of nothing
	 * return at once, in a task too): the call itself. */
	if (dl < 0 || (rw && a->len == 0)) {
		do
			r = __conc_io_plain(a);
		while (r == -EINTR);
	} else {
		r = early(a);
	}
	while (r == -EAGAIN || r == -EINTR) {
		r = __conc_wait_fd(a->fd, __conc_io_events(a->kind), dl);
		if (r < 0)
			return r;
		/* 0: a signal, look again. */
		r = r ? nowait(a) : -EAGAIN;
	}
	return r;
}
