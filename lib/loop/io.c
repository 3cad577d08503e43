/*
 * conc_read, conc_write, conc_recv, conc_send, conc_accept, conc_connect,
 * conc_poll. Inside a task the op goes to the ring with a linked absolute
 * timeout; an fd in O_NONBLOCK mode answers -EAGAIN there too, and then
 * the task polls and tries again. Outside: io_plain.c; a shared-stack
 * task: io_bounce.c.
 */
#include <errno.h>
#include <signal.h>
#include "loop/io.h"
#include "sys/net.h"

static void prep(struct io_uring_sqe *sqe, const struct io *a, bool more)
{
	switch (a->kind) {
	case IO_READ:
		io_uring_prep_read(sqe, a->fd, a->buf, (unsigned)a->len, (uint64_t)-1);
		break;
	case IO_WRITE:
		io_uring_prep_write(sqe, a->fd, a->buf, (unsigned)a->len, (uint64_t)-1);
		break;
	case IO_RECV:
		io_uring_prep_recv(sqe, a->fd, a->buf, a->len, a->flags);
		/* Unless the last recv left data behind, the socket is most
		 * likely empty (a reply is awaited): wait for data first
		 * rather than fail a recv, then wait (5.19; older kernels
		 * ignore the flag... and 6.1 is the minimum). */
		if (!more)
			sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
		break;
	case IO_SEND:
		io_uring_prep_send(sqe, a->fd, a->buf, a->len, a->flags);
		break;
	case IO_ACCEPT:
		io_uring_prep_accept(sqe, a->fd, a->addr, a->alen, a->flags);
		break;
	default:
		io_uring_prep_connect(sqe, a->fd, a->addr, a->clen);
	}
}

/* The ring's send never raises SIGPIPE (io_uring adds MSG_NOSIGNAL);
 * send(2) raises it in the thread that sent, which conc_send outside a
 * loop and its first try here do: the same here. */
static void sigpipe(void)
{
	sys_tgkill(sys_getpid(), sys_gettid(), SIGPIPE);
}

long __conc_io_ring(struct conc_task *t, const struct io *a,
		    conc_deadline dl)
{
	/* A request over 2 GiB goes as a short transfer, as read(2) would. */
	struct io b = *a;
	long r;

	if (b.len > IO_MAX_LEN)
		b.len = IO_MAX_LEN;
	for (;;) {
		struct io_uring_sqe *sqe = __conc_ring_op(t, dl);

		if (!sqe)
			return -ECANCELED;
		prep(sqe, &b, t->recv_more);
		r = __conc_ring_wait(t, sqe, dl);
		if (a->kind == IO_RECV)
			t->recv_more = t->op.more;
		if (r == -EINPROGRESS && a->kind == IO_CONNECT)
			return __conc_io_connected(a, dl);
		if (r == -EPIPE && a->kind == IO_SEND && !(a->flags & MSG_NOSIGNAL))
			sigpipe();
		if (r != -EAGAIN)
			return r;
		r = __conc_wait_fd(a->fd, __conc_io_events(a->kind), dl);
		if (r < 0)
			return r;
	}
}

/* MSG_DONTWAIT asks for recv(2)'s answer now, -EAGAIN included, in a
 * task as outside: the one call, no wait whatever the timeout. */
static bool dontwait(const struct io *a)
{
	return (a->kind == IO_RECV || a->kind == IO_SEND) &&
	       (a->flags & MSG_DONTWAIT);
}

static long io(struct conc_task *t, const struct io *a, conc_deadline dl)
{
	if (a->kind == IO_SEND) {
		/* A send usually finds room in the socket buffer: done in one
		 * system call, without the ring or a switch (and on the
		 * task's own stack, so no bounce either). */
		long r = sys_send(a->fd, a->buf, a->len, a->flags | MSG_DONTWAIT);

		if (r != -EAGAIN)
			return r;
	}
	return t->shared ? __conc_io_bounce(t, a, dl) : __conc_io_ring(t, a, dl);
}

/* The call with a deadline that has passed: what is ready now, or
 * -ETIMEDOUT. */
static long look(struct conc_task *t, const struct io *a)
{
	/* A recv tries at once, not after a poll that the passed deadline
	 * would cut short. */
	t->recv_more = true;
	return io(t, a, sys_now_ns());
}

static long run(struct io *a, int64_t timeout_ns)
{
	conc_deadline dl = __conc_deadline(timeout_ns);
	struct conc_task *t = __conc_cur();

	if (a->fd < 0)
		return -EBADF;
	/* A request over 2 GiB is cut short, as read(2) cuts it, here for
	 * every path: preadv2(2) refuses a length beyond SSIZE_MAX that the
	 * ring (a 32-bit length) and recv(2) take, so the answer would
	 * depend on where the call runs. */
	if (a->len > IO_MAX_LEN)
		a->len = IO_MAX_LEN;
	if (!t)
		return dontwait(a) ? __conc_io_plain(a) : __conc_io_outside(a, dl);
	if (dontwait(a))
		return __conc_io_plain(a);
	/* Cancelled: look once, as a call with timeout 0 does, and take
	 * what is ready, leaving the cancel for the next call that has to
	 * wait (conc_task_cancel(3)); else this is that call. A connect is
	 * not begun, to be given up at once. */
	if (t->cancel && a->kind != IO_CONNECT && !__conc_expired(dl)) {
		long r = look(t, a);

		if (r != -ETIMEDOUT)
			return r;
	}
	if (__conc_take_cancel_dl(t, dl))
		return -ECANCELED;
	return io(t, a, dl);
}

ssize_t conc_read(int fd, void *buf, size_t len, int64_t timeout_ns)
{
	struct io a = { .kind = IO_READ, .fd = fd, .buf = buf, .len = len };

	return run(&a, timeout_ns);
}

ssize_t conc_write(int fd, const void *buf, size_t len, int64_t timeout_ns)
{
	struct io a = { .kind = IO_WRITE, .fd = fd, .buf = (void *)buf, .len = len };

	return run(&a, timeout_ns);
}

ssize_t conc_recv(int fd, void *buf, size_t len, int flags, int64_t timeout_ns)
{
	struct io a = { .kind = IO_RECV, .fd = fd, .buf = buf, .len = len,
			.flags = flags };

	return run(&a, timeout_ns);
}

ssize_t conc_send(int fd, const void *buf, size_t len, int flags,
		  int64_t timeout_ns)
{
	struct io a = { .kind = IO_SEND, .fd = fd, .buf = (void *)buf, .len = len,
			.flags = flags };

	return run(&a, timeout_ns);
}

int conc_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
		int64_t timeout_ns)
{
	struct io a = { .kind = IO_ACCEPT, .fd = fd, .addr = addr,
			.alen = addrlen, .flags = flags };

	if ((addr == NULL) != (addrlen == NULL))
		return -EINVAL;
	return (int)run(&a, timeout_ns);
}

int conc_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
		 int64_t timeout_ns)
{
	struct io a = { .kind = IO_CONNECT, .fd = fd,
			.addr = (struct sockaddr *)addr, .clen = addrlen };

	if (!addr)
		return -EINVAL;
	return (int)run(&a, timeout_ns);
}

int conc_poll(int fd, short events, int64_t timeout_ns)
{
	conc_deadline dl = __conc_deadline(timeout_ns);
	struct conc_task *t;
	int r;

	if (fd < 0)
		return -EBADF;
	/* Cancelled: an fd that is ready now is reported, and the cancel
	 * waits for the next call (as in run()). */
	t = __conc_cur();
	if (t && t->cancel && !__conc_expired(dl)) {
		do
			r = __conc_wait_fd(fd, events, sys_now_ns());
		while (r == 0);
		if (r != -ETIMEDOUT)
			return r > 0 && (r & POLLNVAL) ? -EBADF : r;
	}
	do
		r = __conc_wait_fd(fd, events, dl);
	while (r == 0);
	/* poll(2) reports an fd that is not open as ready with POLLNVAL;
	 * conc's calls say -EBADF, as conc_read() does for it. */
	return r > 0 && (r & POLLNVAL) ? -EBADF : r;
}
