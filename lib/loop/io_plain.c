/*
 * The I/O calls outside a loop: the system call itself when there is no
 * deadline, else a wait for readiness through the wait point first, then
 * the call made not to wait; -EAGAIN (an O_NONBLOCK fd) means wait and try
 * again.
 */
#include <errno.h>
#include <fcntl.h>
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

/* A connect in progress: wait until the socket is writable, then its
 * result is the socket's pending error. */
long __conc_io_connected(const struct io *a, conc_deadline dl)
{
	int r;

	do
		r = __conc_wait_fd(a->fd, POLLOUT, dl);
	while (r == 0);
	return r < 0 ? r : sys_sock_error(a->fd);
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
	r = __conc_io_plain(a);
	if (r == -EINPROGRESS)
		r = __conc_io_connected(a, dl);
	if (!(fl & O_NONBLOCK))
		sys_fcntl(a->fd, F_SETFL, fl);
	return r;
}

/* A regular file or a block device is always "ready": its -EAGAIN under
 * RWF_NOWAIT means pages not yet cached, which a plain read waits for a
 * short while, never for ever. */
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
		return r == -EOPNOTSUPP ? __conc_io_plain(a) : r;
	case IO_SEND:
	case IO_RECV:
		b.flags |= MSG_DONTWAIT;
		return __conc_io_plain(&b);
	default:
		return __conc_io_plain(a);
	}
}

long __conc_io_outside(const struct io *a, conc_deadline dl)
{
	/* read(2) and write(2) of nothing return at once, in a task too. */
	bool first = dl < 0 ||
		     (a->len == 0 && (a->kind == IO_READ || a->kind == IO_WRITE));
	long r;

	if (a->kind == IO_CONNECT && dl >= 0)
		return connect_timed(a, dl);
	if (a->kind == IO_CONNECT)
		return (r = __conc_io_plain(a)) == -EINPROGRESS ? __conc_io_connected(a, dl) : r;
	for (;;) {
		if (!first) {
			r = __conc_wait_fd(a->fd, __conc_io_events(a->kind), dl);
			if (r < 0)
				return r;
			if (r == 0)
				continue;	/* a signal: look again */
		}
		r = first ? __conc_io_plain(a) : nowait(a);
		first = false;
		if (r != -EAGAIN)
			return r;
	}
}
