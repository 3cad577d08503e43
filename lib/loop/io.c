/*
 * conc_read, conc_write, conc_recv, conc_send, conc_accept, conc_connect:
 * one description of the call (struct io), run through the ring inside a
 * task or as the plain system call outside.
 *
 * Inside: the op goes to the ring with a linked absolute timeout; an fd in
 * O_NONBLOCK mode answers -EAGAIN there too, and then the task polls and
 * tries again. A shared-stack task's stack is elsewhere while it waits, so
 * the kernel gets heap copies of what it reads or writes (bounce).
 * Outside: the call itself when there is no deadline, else a wait for
 * readiness through the wait point first; -EAGAIN means wait and retry.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include "loop/loop_impl.h"
#include "sys/net.h"

enum { IO_READ, IO_WRITE, IO_RECV, IO_SEND, IO_ACCEPT, IO_CONNECT };

struct io {
	int kind, fd, flags;
	void *buf;
	size_t len;
	struct sockaddr *addr;	/* accept: out; connect: in */
	socklen_t *alen, clen;
};

static short events_of(int kind)
{
	return kind == IO_WRITE || kind == IO_SEND || kind == IO_CONNECT ?
		POLLOUT : POLLIN;
}

static void prep(struct io_uring_sqe *sqe, const struct io *a)
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

static long plain(const struct io *a)
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
static long connected(const struct io *a, conc_deadline dl)
{
	int r;

	do
		r = __conc_wait_fd(a->fd, POLLOUT, dl);
	while (r == 0);
	return r < 0 ? r : sys_sock_error(a->fd);
}

static long in_ring(struct conc_task *t, const struct io *a, conc_deadline dl)
{
	/* A request over 2 GiB goes as a short transfer, as read(2) would. */
	struct io b = *a;
	long r;

	if (b.len > 0x7ffff000)
		b.len = 0x7ffff000;
	for (;;) {
		struct io_uring_sqe *sqe = __conc_ring_op(t);

		if (!sqe)
			return -ECANCELED;
		prep(sqe, &b);
		r = __conc_ring_wait(t, sqe, dl);
		if (r == -EINPROGRESS && a->kind == IO_CONNECT)
			return connected(a, dl);
		if (r != -EAGAIN)
			return r;
		r = __conc_wait_fd(a->fd, events_of(a->kind), dl);
		if (r < 0)
			return r;
	}
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
	r = plain(a);
	if (r == -EINPROGRESS)
		r = connected(a, dl);
	if (!(fl & O_NONBLOCK))
		sys_fcntl(a->fd, F_SETFL, fl);
	return r;
}

static long outside(const struct io *a, conc_deadline dl)
{
	bool first = dl < 0;
	long r;

	if (a->kind == IO_CONNECT && dl >= 0)
		return connect_timed(a, dl);
	if (a->kind == IO_CONNECT)
		return (r = plain(a)) == -EINPROGRESS ? connected(a, dl) : r;
	for (;;) {
		if (!first) {
			r = __conc_wait_fd(a->fd, events_of(a->kind), dl);
			if (r < 0)
				return r;
			if (r == 0)
				continue;	/* a signal: look again */
		}
		first = false;
		r = plain(a);
		if (r != -EAGAIN)
			return r;
	}
}

/* The bounce for a shared-stack task: what the kernel touches lives on the
 * heap while the task's stack is copied out. */
struct bounce {
	struct sockaddr_storage sa;
	socklen_t alen;
	char data[];
};

static long shared_io(struct conc_task *t, const struct io *a, conc_deadline dl)
{
	bool in = a->kind == IO_READ || a->kind == IO_RECV;
	bool out = a->kind == IO_WRITE || a->kind == IO_SEND;
	size_t n = in || out ? (a->len > 0x7ffff000 ? 0x7ffff000 : a->len) : 0;
	struct bounce *b = malloc(sizeof(*b) + n);
	struct io c = *a;
	long r;

	if (!b)
		return -ENOMEM;
	if (in || out)
		c.buf = b->data, c.len = n;
	if (out)
		memcpy(b->data, a->buf, n);
	if (a->kind == IO_ACCEPT && a->addr && a->alen) {
		b->alen = *a->alen < sizeof(b->sa) ? *a->alen : sizeof(b->sa);
		c.addr = (struct sockaddr *)&b->sa;
		c.alen = &b->alen;
	}
	if (a->kind == IO_CONNECT) {
		if (a->clen > sizeof(b->sa)) {
			free(b);
			return -EINVAL;
		}
		memcpy(&b->sa, a->addr, a->clen);
		c.addr = (struct sockaddr *)&b->sa;
	}
	r = in_ring(t, &c, dl);
	if (in && r > 0)
		memcpy(a->buf, b->data, (size_t)r);
	if (a->kind == IO_ACCEPT && r >= 0 && a->addr && a->alen) {
		memcpy(a->addr, &b->sa, b->alen < *a->alen ? b->alen : *a->alen);
		*a->alen = b->alen;
	}
	free(b);
	return r;
}

static long run(struct io *a, int64_t timeout_ns)
{
	conc_deadline dl = __conc_deadline(timeout_ns);
	struct conc_task *t = __conc_cur();

	if (a->fd < 0)
		return -EBADF;
	if (!t)
		return outside(a, dl);
	if (__conc_take_cancel(t))
		return -ECANCELED;
	if (a->kind == IO_SEND) {
		/* A send usually finds room in the socket buffer: done in one
		 * system call, without the ring or a switch (and on the
		 * task's own stack, so no bounce either). */
		long r = sys_send(a->fd, a->buf, a->len, a->flags | MSG_DONTWAIT);

		if (r != -EAGAIN)
			return r;
	}
	return t->shared ? shared_io(t, a, dl) : in_ring(t, a, dl);
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
	int r;

	if (fd < 0)
		return -EBADF;
	do
		r = __conc_wait_fd(fd, events, dl);
	while (r == 0);
	return r;
}
