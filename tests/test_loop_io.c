/* test_loop_io.c — conc_read/write/recv/send/accept/connect/poll inside a
 * task (through the ring) and outside (the plain calls): data, short
 * transfers, timeouts, cancellation, non-blocking fds, shared stacks, and
 * a TCP echo server with 100 concurrent clients on loopback. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <conc.h>
#include "loop_helpers.h"

static int pipe_timeouts(void *arg)
{
	int *p = arg;
	char c;

	if (conc_read(p[0], &c, 1, 10 * MS) != -ETIMEDOUT)
		return -1;
	if (conc_read(p[0], &c, 1, 0) != -ETIMEDOUT)
		return -2;
	if (conc_poll(p[0], POLLIN, 10 * MS) != -ETIMEDOUT)
		return -3;
	if (conc_write(p[1], "xy", 2, BOUND) != 2)
		return -4;
	if (conc_poll(p[0], POLLIN, BOUND) != POLLIN)
		return -5;
	if (conc_read(p[0], &c, 1, BOUND) != 1 || c != 'x')
		return -6;
	return 0;
}

static void pipes_in_and_out(bool nonblock)
{
	int p[2];
	char c;

	need_uring();
	cr_assert_eq(pipe2(p, nonblock ? O_NONBLOCK : 0), 0);
	cr_assert_eq(run(pipe_timeouts, p), 0);
	/* Outside a loop: the same calls, the same answers. */
	cr_assert_eq(conc_read(p[0], &c, 1, BOUND), 1);
	cr_assert_eq(c, 'y');
	cr_assert_eq(conc_read(p[0], &c, 1, 10 * MS), -ETIMEDOUT);
	cr_assert_eq(conc_poll(p[0], POLLIN, 0), -ETIMEDOUT);
	cr_assert_eq(conc_write(p[1], "z", 1, BOUND), 1);
	cr_assert_eq(conc_read(p[0], &c, 1, -1), 1);
	close(p[0]);
	close(p[1]);
}

Test(loop_io, pipe_read_write_poll_timeouts)
{
	pipes_in_and_out(false);
}

Test(loop_io, nonblocking_pipe)
{
	pipes_in_and_out(true);
}

static int reader(void *arg)
{
	char buf[8];

	return (int)conc_read(*(int *)arg, buf, sizeof(buf), BOUND);
}

static int poller(void *arg)
{
	return conc_poll(*(int *)arg, POLLIN, BOUND);
}

static int cancel_io(void *arg)
{
	int *p = arg, code;
	conc_task *t;

	if (conc_go(&t, reader, &p[0], NULL))
		return -1;
	conc_sleep(5 * MS);
	conc_task_cancel(t);
	if (conc_task_join(t, &code, BOUND) || code != -ECANCELED)
		return -2;
	if (conc_go(&t, poller, &p[0], NULL))
		return -3;
	conc_sleep(5 * MS);
	conc_task_cancel(t);
	if (conc_task_join(t, &code, BOUND) || code != -ECANCELED)
		return -4;
	/* A task still reads after a cancelled read: nothing was lost. */
	if (conc_go(&t, reader, &p[0], NULL))
		return -5;
	conc_sleep(5 * MS);
	if (conc_write(p[1], "abc", 3, BOUND) != 3)
		return -6;
	if (conc_task_join(t, &code, BOUND) || code != 3)
		return -7;
	return 0;
}

Test(loop_io, cancel_read_and_poll)
{
	int p[2];

	need_uring();
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(run(cancel_io, p), 0);
	close(p[0]);
	close(p[1]);
}

/* A TCP echo server on loopback: one task per connection. */
struct echo {
	int lfd;
	struct sockaddr_in addr;
	int clients;
	bool shared;
	int ok;
};

static int serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[256];
	ssize_t n;

	while ((n = conc_recv(fd, buf, sizeof(buf), 0, BOUND)) > 0)
		if (conc_send(fd, buf, (size_t)n, MSG_NOSIGNAL, BOUND) != n)
			break;
	close(fd);
	return n < 0 ? (int)n : 0;
}

static int server(void *arg)
{
	struct echo *e = arg;
	conc_task_attr at = { .shared_stack = e->shared };
	int i;

	for (i = 0; i < e->clients; i++) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		int fd = conc_accept(e->lfd, (struct sockaddr *)&peer, &plen,
				     SOCK_CLOEXEC, BOUND);
		conc_task *t;

		if (fd < 0)
			return fd;
		if (plen != sizeof(peer) || peer.sin_family != AF_INET)
			return -EPROTO;
		if (conc_go(&t, serve_conn, (void *)(intptr_t)fd, &at))
			return -ENOMEM;
	}
	return 0;	/* conc_run joins the connections */
}

static int client(void *arg)
{
	struct echo *e = arg;
	char msg[64], back[64];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), i, r;
	size_t len;

	if (fd < 0)
		return -errno;
	r = conc_connect(fd, (struct sockaddr *)&e->addr, sizeof(e->addr), BOUND);
	if (r) {
		close(fd);
		return r;
	}
	for (i = 0; i < 10; i++) {
		size_t got = 0;

		len = (size_t)snprintf(msg, sizeof(msg), "hello %p %d", (void *)&msg, i);
		if (conc_send(fd, msg, len, MSG_NOSIGNAL, BOUND) != (ssize_t)len)
			break;
		while (got < len) {
			ssize_t n = conc_recv(fd, back + got, len - got, 0, BOUND);

			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (got != len || memcmp(msg, back, len))
			break;
	}
	close(fd);
	return i == 10 ? 0 : -EIO;
}

static int echo_main(void *arg)
{
	struct echo *e = arg;
	conc_task_attr at = { .shared_stack = e->shared };
	conc_task *srv, **cs = calloc((size_t)e->clients, sizeof(*cs));
	int *codes = calloc((size_t)e->clients, sizeof(int)), i, r, code;

	if (!cs || !codes)
		return -ENOMEM;
	if (conc_go(&srv, server, e, NULL))
		return -1;
	for (i = 0; i < e->clients; i++)
		if (conc_go(&cs[i], client, e, &at))
			return -2;
	r = conc_gather(cs, (size_t)e->clients, codes, 0, 4 * BOUND);
	for (i = 0; i < e->clients; i++)
		e->ok += codes[i] == 0;
	if (conc_task_join(srv, &code, BOUND) || code)
		return -3;
	free(cs);
	free(codes);
	return r;
}

static void echo(bool shared)
{
	struct echo e = { .clients = 100, .shared = shared };
	socklen_t len = sizeof(e.addr);

	need_uring();
	e.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(e.lfd, 0);
	e.addr.sin_family = AF_INET;
	e.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(e.lfd, (struct sockaddr *)&e.addr, sizeof(e.addr)), 0);
	cr_assert_eq(listen(e.lfd, 128), 0);
	cr_assert_eq(getsockname(e.lfd, (struct sockaddr *)&e.addr, &len), 0);
	cr_assert_eq(run(echo_main, &e), 0);
	cr_assert_eq(e.ok, 100);
	close(e.lfd);
}

Test(loop_io, tcp_echo_100_clients, .timeout = 60)
{
	echo(false);
}

Test(loop_io, tcp_echo_100_clients_shared_stack, .timeout = 60)
{
	echo(true);
}

static int accept_timeout(void *arg)
{
	int lfd = *(int *)arg;

	if (conc_accept(lfd, NULL, NULL, 0, 10 * MS) != -ETIMEDOUT)
		return -1;
	if (conc_accept(lfd, (struct sockaddr *)&lfd, NULL, 0, 0) != -EINVAL)
		return -2;
	return 0;
}

Test(loop_io, accept_times_out_inside_and_outside)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int lfd;

	need_uring();
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	cr_assert_eq(run(accept_timeout, &lfd), 0);
	cr_assert_eq(conc_accept(lfd, NULL, NULL, 0, 10 * MS), -ETIMEDOUT);
	close(lfd);
}

/* MSG_DONTWAIT: recv(2)'s answer at once, -EAGAIN included, whatever the
 * timeout; the same in a task and outside. */
static int dontwait(void *arg)
{
	int *sv = arg;
	char buf[4096] = { 0 };
	ssize_t r;

	if (conc_recv(sv[0], buf, 1, MSG_DONTWAIT, CONC_FOREVER) != -EAGAIN)
		return -1;
	if (conc_send(sv[1], "x", 1, MSG_DONTWAIT, CONC_FOREVER) != 1)
		return -2;
	if (conc_recv(sv[0], buf, 2, MSG_DONTWAIT, BOUND) != 1 || buf[0] != 'x')
		return -3;
	do	/* fill sv[1]'s way until it is full */
		r = conc_send(sv[1], buf, sizeof(buf), MSG_DONTWAIT, BOUND);
	while (r > 0);
	if (r != -EAGAIN)
		return -4;
	while (conc_recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT, 0) > 0)
		;
	return 0;
}

Test(loop_io, msg_dontwait_answers_at_once)
{
	int sv[2];

	need_uring();
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(run(dontwait, sv), 0);
	cr_assert_eq(dontwait(sv), 0);
	close(sv[0]);
	close(sv[1]);
}

static int bad_fds(void *arg)
{
	char c;
	int p[2], closed;

	(void)arg;
	if (conc_read(-1, &c, 1, 0) != -EBADF || conc_poll(-1, POLLIN, 0) != -EBADF)
		return -1;
	/* An fd that is not open: -EBADF too, as conc_poll(3) says, not
	 * poll(2)'s POLLNVAL; with and without a timeout. */
	if (pipe(p))
		return -2;
	closed = p[0];
	close(p[0]);
	close(p[1]);
	if (conc_read(closed, &c, 1, 0) != -EBADF ||
	    conc_poll(closed, POLLIN, 0) != -EBADF ||
	    conc_poll(closed, POLLIN, BOUND) != -EBADF ||
	    conc_poll(closed, POLLOUT, CONC_FOREVER) != -EBADF)
		return -3;
	return 0;
}

Test(loop_io, bad_fd)
{
	need_uring();
	cr_assert_eq(run(bad_fds, NULL), 0);
	cr_assert_eq(bad_fds(NULL), 0);
}

/* Several fds at once through the wait point's hook (as a channel's send
 * waits on two): one POLL_ADD each, the first ready wins, the rest are
 * cancelled before the call returns. */
#include "wait/wait.h"

static int poll_two(void *arg)
{
	int *p = arg;	/* two pipes: p[0..1], p[2..3] */
	struct pollfd f[3] = {
		{ .fd = p[0], .events = POLLIN },
		{ .fd = -1 },
		{ .fd = p[2], .events = POLLIN },
	};
	conc_deadline dl = __conc_deadline(10 * MS);
	int r;

	if ((r = __conc_wait_fds(f, 3, dl)) != -ETIMEDOUT)
		return -100 + r;
	if (write(p[3], "x", 1) != 1)
		return -2;
	r = __conc_wait_fds(f, 3, __conc_deadline(BOUND));
	if (r != 1 || f[0].revents || f[1].revents || f[2].revents != POLLIN)
		return -3;
	return 0;
}

static int poll_two_forever(void *arg)
{
	int *p = arg;
	struct pollfd f[2] = {
		{ .fd = p[0], .events = POLLIN },
		{ .fd = p[0], .events = POLLIN },
	};

	return __conc_wait_fds(f, 2, -1);
}

static int poll_two_cancel(void *arg)
{
	conc_task *t;
	int code = 0;

	if (conc_go(&t, poll_two_forever, arg, NULL))
		return -1;
	conc_sleep(5 * MS);
	conc_task_cancel(t);
	if (conc_task_join(t, &code, BOUND))
		return -2;
	return code == -ECANCELED ? poll_two(arg) : -4;
}

Test(loop_io, poll_several_fds)
{
	int p[4];

	need_uring();
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pipe(p + 2), 0);
	cr_assert_eq(run(poll_two_cancel, p), 0);
	for (int i = 0; i < 4; i++)
		close(p[i]);
}

/* Outside a loop, two threads read one blocking pipe with a timeout and
 * one byte comes: both were told "ready", one takes the byte, and the
 * other must not then block in read(2) past its deadline (it did, until
 * the next byte came). Readers left blocked after BOUND are released with
 * more bytes and counted as failures. */
#include <pthread.h>

struct race_read {
	int fd;
	uint32_t done;
	ssize_t r[2];
};

static void *race_reader(void *arg)
{
	struct race_read *x = arg;
	char c;
	ssize_t r = conc_read(x->fd, &c, 1, 20 * MS);
	uint32_t i = __atomic_fetch_add(&x->done, 1, __ATOMIC_ACQ_REL);

	if (i < 2)
		x->r[i] = r;
	return NULL;
}

Test(loop_io, two_readers_of_one_pipe_keep_their_timeout, .timeout = 120)
{
	int it, k, stuck = 0, p[2];

	for (it = 0; it < 150; it++) {
		struct race_read x = { .done = 0 };
		pthread_t th[2];

		cr_assert_eq(pipe(p), 0);
		x.fd = p[0];
		cr_assert_eq(pthread_create(&th[0], NULL, race_reader, &x), 0);
		cr_assert_eq(pthread_create(&th[1], NULL, race_reader, &x), 0);
		sleep_ns(1 * MS);
		cr_assert_eq(write(p[1], "x", 1), 1);
		for (k = 0; k < 1000 && __atomic_load_n(&x.done, __ATOMIC_ACQUIRE) < 2; k++)
			sleep_ns(BOUND / 1000);
		if (__atomic_load_n(&x.done, __ATOMIC_ACQUIRE) < 2) {
			stuck++;
			cr_assert_eq(write(p[1], "yy", 2), 2);
		}
		pthread_join(th[0], NULL);
		pthread_join(th[1], NULL);
		/* One byte: read by one of them at most (both may time out
		 * first when this thread is kept off the CPU). */
		for (k = 0; k < 2; k++)
			cr_assert(x.r[k] == 1 || x.r[k] == -ETIMEDOUT, "%zd", x.r[k]);
		cr_assert(x.r[0] != 1 || x.r[1] != 1);
		close(p[0]);
		close(p[1]);
	}
	cr_assert_eq(stuck, 0, "%d reads overran their timeout", stuck);
}
