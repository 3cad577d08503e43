/* test_loop_io_edge.c — the I/O calls at their edges, each the same inside
 * a task (own stack and shared stack) and in a plain thread: errors the
 * system call gives at once, signals that interrupt a plain call, SIGPIPE,
 * cancels of every call while it waits (nothing taken), and 10,000
 * connections at once. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <conc.h>
#include "loop_helpers.h"

#define SHORT	(200 * MS)

/* Run fn in a plain thread (the caller), in a task and in a shared-stack
 * task: each must return 0. */
static int in_task(void *arg)
{
	int (*fn)(void) = (int (*)(void))arg;

	return fn();
}

static int in_shared_task(void *arg)
{
	conc_task_attr sh = { .shared_stack = true };
	conc_task *t;
	int code = -1000;

	if (conc_go(&t, in_task, arg, &sh) || conc_task_join(t, &code, BOUND))
		return -1001;
	return code;
}

static void everywhere(int (*fn)(void))
{
	int r = fn();

	cr_assert_eq(r, 0, "plain thread: check %d failed", r);
	need_uring();
	r = run(in_task, (void *)fn);
	cr_assert_eq(r, 0, "task: check %d failed", r);
	r = run(in_shared_task, (void *)fn);
	cr_assert_eq(r, 0, "shared-stack task: check %d failed", r);
}

/* ---- What the system call refuses at once, refused at once ------------ */

static int at_once(void)
{
	int p[2], e, tf, l, r = 0;
	char b[16];

	if (pipe2(p, O_CLOEXEC))
		return 100;
	e = eventfd(0, EFD_CLOEXEC);
	tf = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (e < 0 || tf < 0)
		return 101;
	/* The wrong end of a pipe: read(2) and write(2) say EBADF. */
	if (conc_read(p[1], b, 1, SHORT) != -EBADF)
		r = r ? r : 1;
	if (conc_write(p[0], "x", 1, SHORT) != -EBADF)
		r = r ? r : 2;
	/* Counters read with less than 8 bytes: EINVAL, ready or not. */
	if (conc_read(e, b, 4, SHORT) != -EINVAL)
		r = r ? r : 3;
	if (conc_read(tf, b, 4, SHORT) != -EINVAL)
		r = r ? r : 4;
	if (conc_write(e, b, 4, SHORT) != -EINVAL)
		r = r ? r : 5;
	/* And timeout 0 the same. */
	if (conc_read(p[1], b, 1, 0) != -EBADF || conc_read(e, b, 4, 0) != -EINVAL)
		r = r ? r : 6;
	/* send(2) on a listening socket: EPIPE; outside a loop a send with
	 * a timeout waited for a POLLOUT that never comes. */
	if ((l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 || listen(l, 1))
		return 102;
	if (conc_send(l, "x", 1, MSG_NOSIGNAL, SHORT) != -EPIPE)
		r = r ? r : 7;
	close(l);
	close(p[0]);
	close(p[1]);
	close(e);
	close(tf);
	return r;
}

Test(loop_io_edge, what_the_call_refuses_at_once_is_refused_at_once)
{
	everywhere(at_once);
}

/* A buffer or address the process cannot reach is -EFAULT, as from the
 * system call, in a shared-stack task too: its I/O used to copy every
 * buffer through the heap, and the copy of one it could not read (or
 * into one it could not write) was a SIGSEGV. */
static int bad_pointers(void)
{
	void *bad = (void *)(uintptr_t)8;
	int p[2], sv[2], r = 0;

	if (pipe2(p, O_CLOEXEC) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 100;
	if (write(p[1], "abcd", 4) != 4 || send(sv[1], "abcd", 4, 0) != 4)
		return 101;
	if (conc_read(p[0], bad, 4, SHORT) != -EFAULT)
		r = 1;
	else if (conc_write(p[1], bad, 4, SHORT) != -EFAULT)
		r = 2;
	else if (conc_recv(sv[0], bad, 4, 0, SHORT) != -EFAULT)
		r = 3;
	else if (conc_send(sv[0], bad, 4, MSG_NOSIGNAL, SHORT) != -EFAULT)
		r = 4;
	else if (conc_connect(sv[0], bad, sizeof(struct sockaddr_in), SHORT) != -EFAULT)
		r = 5;
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	return r;
}

Test(loop_io_edge, a_pointer_out_of_reach_is_efault_everywhere)
{
	everywhere(bad_pointers);
}

/* Heap buffers and addresses go to the kernel as they are, in a
 * shared-stack task too: what it reads lands there, what it accepts fills
 * the caller's address. */
static int heap_buffers(void)
{
	struct sockaddr_in *sa = calloc(1, sizeof(*sa));
	socklen_t *len = malloc(sizeof(*len));
	char *b = calloc(1, 8);
	int p[2], l, c = -1, a = -1, r = 0;

	if (!sa || !len || !b || pipe2(p, O_CLOEXEC))
		return 100;
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*len = sizeof(*sa);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)sa, *len) ||
	    getsockname(l, (struct sockaddr *)sa, len) || listen(l, 1))
		return 101;
	if (conc_write(p[1], "abcd", 4, SHORT) != 4)
		r = 1;
	else if (conc_read(p[0], b, 8, SHORT) != 4 || memcmp(b, "abcd", 4))
		r = 2;
	else if (conc_connect(c, (struct sockaddr *)sa, *len, SHORT))
		r = 3;
	else if (memset(sa, 0, sizeof(*sa)), *len = sizeof(*sa),
		 (a = conc_accept(l, (struct sockaddr *)sa, len, SOCK_CLOEXEC, SHORT)) < 0)
		r = 4;
	else if (*len != sizeof(*sa) || sa->sin_family != AF_INET)
		r = 5;
	else if (conc_send(a, "wxyz", 4, MSG_NOSIGNAL, SHORT) != 4 ||
		 conc_recv(c, b, 8, 0, SHORT) != 4 || memcmp(b, "wxyz", 4))
		r = 6;
	if (a >= 0)
		close(a);
	close(c);
	close(l);
	close(p[0]);
	close(p[1]);
	free(sa);
	free(len);
	free(b);
	return r;
}

Test(loop_io_edge, heap_buffers_are_used_in_place_everywhere)
{
	everywhere(heap_buffers);
}

/* A length beyond what one call moves is cut short everywhere: outside a
 * loop a read with a timeout said -EINVAL for a length beyond SSIZE_MAX
 * (preadv2 refuses it) where a task read the bytes there were. */
static int huge_lengths(void)
{
	/* Not on a stack: the kernel refuses (-EFAULT) a range that runs
	 * past the top of the address space, where a stack may lie. */
	static char b[16];
	int p[2], sv[2], r = 0;

	if (pipe2(p, O_CLOEXEC) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 100;
	if (write(p[1], "abc", 3) != 3 || send(sv[1], "abc", 3, 0) != 3)
		return 101;
	if (conc_read(p[0], b, SIZE_MAX, SHORT) != 3)
		r = 1;
	else if (write(p[1], "abc", 3) != 3)
		r = 101;
	else if (conc_read(p[0], b, (size_t)SSIZE_MAX + 1, CONC_FOREVER) != 3)
		r = 2;
	else if (conc_recv(sv[0], b, SIZE_MAX, 0, SHORT) != 3)
		r = 3;
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	return r;
}

Test(loop_io_edge, a_length_beyond_one_call_is_cut_short_everywhere)
{
	everywhere(huge_lengths);
}

/* What accept4(2) refuses at once, refused at once too: outside a loop a
 * call with a timeout waited for readiness first (till its timeout, for
 * a socket that never becomes readable). */
static int accept_at_once(void)
{
	int sv[2], u, l, p[2], r = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) || pipe2(p, O_CLOEXEC))
		return 100;
	u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (u < 0 || l < 0 || listen(l, 1))
		return 101;
	if (conc_accept(sv[0], NULL, NULL, 0, SHORT) != -EINVAL)	/* not listening */
		r = 1;
	else if (conc_accept(u, NULL, NULL, 0, SHORT) != -EOPNOTSUPP)	/* no connections */
		r = 2;
	else if (conc_accept(l, NULL, NULL, 0x40000000, SHORT) != -EINVAL)	/* flags */
		r = 3;
	else if (conc_accept(p[0], NULL, NULL, 0, SHORT) != -ENOTSOCK)
		r = 4;
	else if (conc_accept(l, NULL, NULL, SOCK_CLOEXEC, 1 * MS) != -ETIMEDOUT)
		r = 5;		/* and a listening socket still waits */
	close(sv[0]);
	close(sv[1]);
	close(u);
	close(l);
	close(p[0]);
	close(p[1]);
	return r;
}

Test(loop_io_edge, what_accept_refuses_is_refused_at_once)
{
	everywhere(accept_at_once);
}

/* ---- A signal handler does not end a plain call ------------------------ */

static void on_usr1(int sig)
{
	(void)sig;
}

struct kick {
	pthread_t victim;
	int fd, what;		/* 0: write a byte to fd; 1: read from fd; 2: connect to port */
	uint16_t port;
	uint32_t waiting;
};

/* Interrupt the victim (once it said it calls) with signals, then give it
 * what it waits for. */
static void *kicker(void *arg)
{
	struct kick *k = arg;
	char buf[65536];
	int i;

	wait_flag(&k->waiting, 10000);
	for (i = 0; i < 5; i++) {
		sleep_ns(2 * MS);
		pthread_kill(k->victim, SIGUSR1);
	}
	if (k->what == 0) {
		if (write(k->fd, "k", 1) != 1)
			return (void *)1;
	} else if (k->what == 1) {
		while (read(k->fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
			;
	} else {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
					 .sin_port = k->port };
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)))
			return (void *)2;
		/* Left open until the test's end: the accept must see it. */
	}
	return NULL;
}

static void start_kick(struct kick *k, pthread_t *th, int fd, int what)
{
	memset(k, 0, sizeof(*k));
	k->victim = pthread_self();
	k->fd = fd;
	k->what = what;
	cr_assert_eq(pthread_create(th, NULL, kicker, k), 0);
}

static void end_kick(struct kick *k, pthread_t th)
{
	void *ret = (void *)-1;

	cr_assert_eq(join_thread(th, 10000, &ret), 0);
	cr_assert_null(ret);
	(void)k;
}

static int full_pipe(int p[2])
{
	int fl;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	fl = fcntl(p[1], F_GETFL);
	fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
	while (write(p[1], "xxxxxxxxxxxxxxxx", 16) == 16)
		;
	return fcntl(p[1], F_SETFL, fl);
}

Test(loop_io_edge, a_signal_does_not_end_a_plain_call_without_timeout, .timeout = 60)
{
	struct sigaction sa;
	struct kick k;
	pthread_t th;
	int p[2], s[2], l, a;
	char b[8];
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;	/* no SA_RESTART */
	sigaction(SIGUSR1, &sa, NULL);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);

	start_kick(&k, &th, p[1], 0);
	set_flag(&k.waiting, 1);
	cr_assert_eq(conc_read(p[0], b, sizeof(b), CONC_FOREVER), 1, "read");
	end_kick(&k, th);

	start_kick(&k, &th, s[1], 0);
	set_flag(&k.waiting, 1);
	cr_assert_eq(conc_recv(s[0], b, sizeof(b), 0, CONC_FOREVER), 1, "recv");
	end_kick(&k, th);

	close(p[0]);
	close(p[1]);
	cr_assert_eq(full_pipe(p), 0);
	start_kick(&k, &th, p[0], 1);
	set_flag(&k.waiting, 1);
	cr_assert_gt(conc_write(p[1], b, sizeof(b), CONC_FOREVER), 0, "write");
	end_kick(&k, th);

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(l, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(listen(l, 4), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&addr, &len), 0);
	start_kick(&k, &th, -1, 2);
	k.port = addr.sin_port;
	set_flag(&k.waiting, 1);
	a = conc_accept(l, NULL, NULL, SOCK_CLOEXEC, CONC_FOREVER);
	cr_assert_geq(a, 0, "accept: %d", a);
	end_kick(&k, th);
	close(a);
	close(l);
	close(p[0]);
	close(p[1]);
	close(s[0]);
	close(s[1]);
	signal(SIGUSR1, SIG_DFL);
}

/* ---- SIGPIPE: as the system call, inside a task too ------------------- */

enum { SP_WRITE_PIPE, SP_SEND, SP_SEND_NOSIGNAL, SP_SEND_FULL, SP_WRITE_SOCK_FULL };

static int sp_kind;
static char sp_big[1 << 20];

/* Where a thread waits in an I/O call, or a loop's thread while its task
 * waits in one (its ring): whatever the call and the context. */
static const long in_io_wait[] = {
	SYS_read, SYS_readv, SYS_preadv2, SYS_recvfrom, SYS_recvmsg,
	SYS_write, SYS_writev, SYS_pwritev2, SYS_sendto, SYS_sendmsg,
	SYS_ppoll, SYS_io_uring_enter, -1
};

/* A peer acts once the caller (tid), past go, is seen waiting in its
 * call: never before it, or the call would find the answer there and
 * the test would pass without the wait it means to test. */
struct io_late {
	int fd;
	pid_t tid;
	uint32_t go;
	int seen;
};

static void io_late_arm(struct io_late *l, int fd)
{
	*l = (struct io_late){ .fd = fd, .tid = gettid() };
}

static int io_late_wait(struct io_late *l)
{
	return l->seen = wait_blocked_in(l->tid, &l->go, in_io_wait, 30000);
}

static struct io_late sp_late;

static void *close_later(void *arg)
{
	(void)arg;
	io_late_wait(&sp_late);
	close(sp_late.fd);
	return NULL;
}

/* Returns -errno for the child's exit code, unless a signal killed it. */
static int sigpipe_act(void)
{
	int p[2], s[2];
	pthread_t th;
	long r;

	if (pipe2(p, O_CLOEXEC) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s))
		return 100;
	switch (sp_kind) {
	case SP_WRITE_PIPE:
		close(p[0]);
		return (int)conc_write(p[1], "x", 1, BOUND);
	case SP_SEND:
		close(s[1]);
		return (int)conc_send(s[0], "x", 1, 0, BOUND);
	case SP_SEND_NOSIGNAL:
		close(s[1]);
		return (int)conc_send(s[0], "x", 1, MSG_NOSIGNAL, BOUND);
	default:
		/* The buffer fills; the peer goes while the call waits. */
		io_late_arm(&sp_late, s[1]);
		if (pthread_create(&th, NULL, close_later, NULL))
			return 101;
		set_flag(&sp_late.go, 1);
		do
			r = sp_kind == SP_SEND_FULL ?
				conc_send(s[0], sp_big, sizeof(sp_big), 0, BOUND) :
				conc_write(s[0], sp_big, sizeof(sp_big), BOUND);
		while (r > 0);
		pthread_join(th, NULL);
		return sp_late.seen ? (int)r : 103;	/* 103: it never waited */
	}
}

static int sigpipe_task(void *arg)
{
	(void)arg;
	return sigpipe_act();
}

static int sigpipe_child(void *arg)
{
	int code = 0;

	signal(SIGPIPE, SIG_DFL);
	if (arg) {
		if (conc_run(sigpipe_task, NULL, &code))
			return 102;
	} else {
		code = sigpipe_act();
	}
	return errcode(code);
}

static void sigpipe_case(int kind, bool killed)
{
	int in;

	sp_kind = kind;
	for (in = 0; in < 2; in++) {
		pid_t pid;
		int st;

		if (in && !(conc_features() & CONC_FEAT_IO_URING))
			break;
		pid = fork_child(sigpipe_child, in ? (void *)1 : NULL);
		cr_assert_gt(pid, 0);
		st = wait_child(pid, 30000);
		if (killed)
			cr_assert(killed_by(st, SIGPIPE), "case %d %s: not killed by SIGPIPE (status %#x)",
				  kind, in ? "in a task" : "outside", st);
		else
			cr_assert(exited_with(st, EPIPE), "case %d %s: status %#x", kind,
				  in ? "in a task" : "outside", st);
	}
}

Test(loop_io_edge, sigpipe_as_the_system_call_inside_and_outside, .timeout = 120)
{
	sigpipe_case(SP_WRITE_PIPE, true);
	sigpipe_case(SP_SEND, true);
	sigpipe_case(SP_SEND_NOSIGNAL, false);
	sigpipe_case(SP_SEND_FULL, true);
	sigpipe_case(SP_WRITE_SOCK_FULL, true);
}

/* ---- A cancel while each call waits: -ECANCELED, and nothing taken ---- */

enum { C_READ, C_RECV, C_WRITE, C_SEND, C_ACCEPT, C_CONNECT, C_POLL, C_N };

struct cw {
	int kind, fd, r;
	struct sockaddr_in addr;
	char buf[64];
	uint32_t started;
};

static char cw_big[1 << 16];

static int cancelled_waiter(void *arg)
{
	struct cw *c = arg;

	set_flag(&c->started, 1);
	switch (c->kind) {
	case C_READ:
		c->r = (int)conc_read(c->fd, c->buf, sizeof(c->buf), BOUND);
		break;
	case C_RECV:
		c->r = (int)conc_recv(c->fd, c->buf, sizeof(c->buf), 0, BOUND);
		break;
	case C_WRITE:
		c->r = (int)conc_write(c->fd, cw_big, sizeof(cw_big), BOUND);
		break;
	case C_SEND:
		c->r = (int)conc_send(c->fd, cw_big, sizeof(cw_big), 0, BOUND);
		break;
	case C_ACCEPT:
		c->r = conc_accept(c->fd, NULL, NULL, SOCK_CLOEXEC, BOUND);
		break;
	case C_CONNECT:
		c->r = conc_connect(c->fd, (struct sockaddr *)&c->addr, sizeof(c->addr), BOUND);
		break;
	default:
		c->r = conc_poll(c->fd, POLLIN, BOUND);
	}
	return 0;
}

/* Fill what fd writes into without blocking: the bytes it took. */
static long fill(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	long n = 0, w;

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while ((w = write(fd, cw_big, sizeof(cw_big))) > 0)
		n += w;
	while ((w = write(fd, cw_big, 1)) > 0)
		n += w;
	fcntl(fd, F_SETFL, fl);
	return n;
}

static long drain(int fd)
{
	long n = 0, r;

	while ((r = conc_read(fd, cw_big, sizeof(cw_big), 20 * MS)) > 0)
		n += r;
	return n;
}

static int listener(struct sockaddr_in *addr, int backlog)
{
	socklen_t len = sizeof(*addr);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)addr, sizeof(*addr)) || listen(l, backlog) ||
	    getsockname(l, (struct sockaddr *)addr, &len))
		return -1;
	return l;
}

/* One kind, in a task of its own or on the shared stack: 0, or where it
 * failed. */
static int cancel_one(int kind, bool shared)
{
	conc_task_attr at = { .shared_stack = shared };
	int p[2] = { -1, -1 }, l = -1, c = -1, c1 = -1, r = 0, i;
	struct cw w;
	conc_task *t;
	long filled = 0;

	memset(&w, 0, sizeof(w));
	w.kind = kind;
	switch (kind) {
	case C_READ:
	case C_POLL:
		if (pipe2(p, O_CLOEXEC))
			return 1;
		w.fd = p[0];
		break;
	case C_RECV:
	case C_SEND:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p))
			return 1;
		w.fd = kind == C_RECV ? p[0] : p[1];
		if (kind == C_SEND)
			filled = fill(p[1]);
		break;
	case C_WRITE:
		if (pipe2(p, O_CLOEXEC))
			return 1;
		w.fd = p[1];
		filled = fill(p[1]);
		break;
	case C_ACCEPT:
		if ((l = listener(&w.addr, 4)) < 0)
			return 1;
		w.fd = l;
		break;
	default:
		/* A listener whose queue is full: the next SYN is dropped, so
		 * the connect waits (for its retransmission, a second on). */
		if ((l = listener(&w.addr, 0)) < 0)
			return 1;
		c1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c1 < 0 || connect(c1, (struct sockaddr *)&w.addr, sizeof(w.addr)))
			return 1;
		w.fd = c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		break;
	}
	if (conc_go(&t, cancelled_waiter, &w, &at))
		return 2;
	/* Let it start its call (if the cancel came first, the call says
	 * -ECANCELED all the same). */
	for (i = 0; i < 3; i++)
		conc_sleep(MS);
	if (conc_task_cancel(t) || conc_task_join(t, NULL, BOUND))
		return 3;
	if (w.r != -ECANCELED)
		return 4;
	/* Nothing was taken by the call that was cancelled. */
	switch (kind) {
	case C_READ:
	case C_RECV:
		if (write(p[1], "abc", 3) != 3 || conc_read(p[0], w.buf, sizeof(w.buf), BOUND) != 3)
			r = 5;
		break;
	case C_WRITE:
	case C_SEND:
		if (drain(p[0]) != filled)
			r = 6;
		break;
	case C_ACCEPT:
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0 || conc_connect(c, (struct sockaddr *)&w.addr, sizeof(w.addr), BOUND))
			r = 7;
		else if ((i = conc_accept(l, NULL, NULL, SOCK_CLOEXEC, BOUND)) < 0)
			r = 8;
		else
			close(i);
		break;
	}
	close(p[0]);
	close(p[1]);
	close(l);
	close(c);
	close(c1);
	return r;
}

static int cancel_each(void *arg)
{
	int k, r;

	(void)arg;
	for (k = 0; k < C_N; k++) {
		if ((r = cancel_one(k, false)))
			return 100 * (k + 1) + r;
		if ((r = cancel_one(k, true)))
			return 100 * (k + 1) + 10 + r;
	}
	return 0;
}

Test(loop_io_edge, a_cancel_while_each_call_waits_takes_nothing, .timeout = 60)
{
	need_uring();
	cr_assert_eq(run(cancel_each, NULL), 0);
}

/* ---- 10,000 connections at once ---------------------------------------- */

#define CONNS 10000

struct many {
	struct sockaddr_in addr;
	int l, accepted, served, bad;
	conc_sem connecting;	/* connects not yet accepted, so SYNs are not dropped */
	conc_event all_echoed;
	int echoed;
};

static int serve_one(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char b[16];
	long n;

	while ((n = conc_recv(fd, b, sizeof(b), 0, 60 * SEC)) > 0)
		if (conc_send(fd, b, (size_t)n, MSG_NOSIGNAL, 60 * SEC) != n)
			break;
	close(fd);
	return n == 0 ? 0 : -1;
}

static int server_main(void *arg)
{
	struct many *m = arg;
	conc_task_attr sh = { .shared_stack = true };
	conc_task **ts = calloc(CONNS, sizeof(*ts));
	int *codes = calloc(CONNS, sizeof(*codes)), i, r = 0;

	if (!ts || !codes)
		return -1;
	for (i = 0; i < CONNS; i++) {
		int fd = conc_accept(m->l, NULL, NULL, SOCK_CLOEXEC, 60 * SEC);

		if (fd < 0 || conc_go(&ts[i], serve_one, (void *)(intptr_t)fd, &sh)) {
			r = -2;
			break;
		}
	}
	if (conc_gather(ts, (size_t)i, codes, 0, 120 * SEC))
		r = r ? r : -3;
	free(ts);
	free(codes);
	return r;
}

static int client_one(void *arg)
{
	struct many *m = arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char b[8];
	int r = 0;

	if (fd < 0)
		return -1;
	/* The permit goes back after the echo, which the server sends only
	 * once it accepted: a connect is complete at the handshake, before
	 * the accept, and a server slower than its clients (a loaded
	 * machine) would let the accept queue fill; its SYNs then dropped,
	 * a connect backs off past its timeout. */
	if (conc_sem_timedwait(&m->connecting, 60 * SEC))
		r = -2;
	else {
		if (conc_connect(fd, (struct sockaddr *)&m->addr, sizeof(m->addr), 60 * SEC))
			r = -3;
		else if (conc_send(fd, "12345678", 8, MSG_NOSIGNAL, 60 * SEC) != 8 ||
			 conc_recv(fd, b, 8, MSG_WAITALL, 60 * SEC) != 8 ||
			 memcmp(b, "12345678", 8))
			r = -4;
		conc_sem_post(&m->connecting);
	}
	/* Every connection stays open until all have echoed. */
	if (++m->echoed == CONNS)
		conc_event_set(&m->all_echoed);
	if (conc_event_wait(&m->all_echoed, 120 * SEC))
		r = r ? r : -5;
	close(fd);
	return r;
}

static int clients_main(void *arg)
{
	struct many *m = arg;
	conc_task_attr sh = { .shared_stack = true };
	conc_task **ts = calloc(CONNS, sizeof(*ts));
	int *codes = calloc(CONNS, sizeof(*codes)), i, r;

	/* Private: only this process's tasks use it. A shared word's
	 * sleepers look again now and then (lib/wait/futex.c), here 10,000
	 * of them about once a second each: on a CPU shared with much else
	 * that work alone outran the loop, and connects stood still until an
	 * accept's 60 s ran out. */
	if (!ts || !codes || conc_sem_init(&m->connecting, 256, CONC_PRIVATE))
		return 1;
	for (i = 0; i < CONNS; i++)
		if (conc_go(&ts[i], client_one, m, &sh))
			return 2;
	r = conc_gather(ts, CONNS, codes, 0, 180 * SEC);
	free(ts);
	free(codes);
	return r == 0 ? 0 : 3;
}

static int clients_child(void *arg)
{
	int code = -1;

	if (conc_run(clients_main, arg, &code))
		return 10;
	return code;
}

static bool enough_fds(rlim_t n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return false;
	if (rl.rlim_cur >= n)
		return true;
	if (rl.rlim_max < n)
		return false;
	rl.rlim_cur = n;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

Test(loop_io_edge, ten_thousand_connections_at_once, .timeout = 300)
{
	struct many m;
	pid_t pid;
	int st;

	need_uring();
	/* Each side holds 10,000 sockets: the clients in a child process. */
	if (!enough_fds(CONNS + 256))
		cr_skip_test("RLIMIT_NOFILE cannot be raised to %d here", CONNS + 256);
	memset(&m, 0, sizeof(m));
	m.l = listener(&m.addr, 4096);
	cr_assert_geq(m.l, 0);
	pid = fork_child(clients_child, &m);
	cr_assert_gt(pid, 0);
	cr_assert_eq(run(server_main, &m), 0);
	st = wait_child(pid, 200000);
	cr_assert(exited_with(st, 0), "clients: status %#x", st);
	close(m.l);
}

/* ---- A connect that ended, connected again ------------------------------ */

static int connects_again(void)
{
	struct sockaddr_in addr;
	int l = listener(&addr, 4), c, nb, r = 0;

	if (l < 0)
		return 100;
	/* A non-blocking connect that completes (waited for, forever or
	 * with a timeout): a second connect says EISCONN. */
	for (nb = 0; nb < 2; nb++) {
		c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (conc_connect(c, (struct sockaddr *)&addr, sizeof(addr), nb ? BOUND : CONC_FOREVER))
			r = r ? r : 1 + nb;
		if (conc_connect(c, (struct sockaddr *)&addr, sizeof(addr), BOUND) != -EISCONN)
			r = r ? r : 3 + nb;
		close(c);
	}
	/* A refused connect, with a timeout: the next one is refused too. */
	close(l);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conc_connect(c, (struct sockaddr *)&addr, sizeof(addr), BOUND) != -ECONNREFUSED)
		r = r ? r : 5;
	if (conc_connect(c, (struct sockaddr *)&addr, sizeof(addr), CONC_FOREVER) != -ECONNREFUSED)
		r = r ? r : 6;
	close(c);
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (conc_connect(c, (struct sockaddr *)&addr, sizeof(addr), CONC_FOREVER) != -ECONNREFUSED)
		r = r ? r : 7;
	if (conc_connect(c, (struct sockaddr *)&addr, sizeof(addr), BOUND) != -ECONNREFUSED)
		r = r ? r : 8;
	close(c);
	return r;
}

Test(loop_io_edge, a_connect_that_ended_is_seen_so_by_the_next_one)
{
	everywhere(connects_again);
}

/* conc_task_cancel(3): conc_connect takes a pending cancel rather than
 * begin a connection (no SYN: the listener has nothing to accept), unless
 * its timeout is 0: that one only looks, as every call with 0, so it
 * begins the connection, says 0 or -ETIMEDOUT, never -ECANCELED, and the
 * cancel stays for the next call that waits. */
static int connect_cancel_pending(void)
{
	struct sockaddr_in addr;
	int l = listener(&addr, 4), c = -1, d = -1, a, r = 0;

	if (l < 0)
		return 100;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	d = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || d < 0 || conc_task_cancel(conc_task_self()))
		r = 101;
	/* a look: begun, not cancelled */
	else if ((a = conc_connect(c, (struct sockaddr *)&addr, sizeof(addr), 0)) != 0 &&
		 a != -ETIMEDOUT)
		r = 1;
	else if (conc_sleep(MS) != -ECANCELED)
		r = 2;		/* the cancel was left for this wait */
	else if (conc_sleep(MS) != 0)
		r = 3;		/* once */
	else if ((a = conc_connect(c, (struct sockaddr *)&addr, sizeof(addr), BOUND)) !=
		 0 && a != -EISCONN)
		r = 4;		/* the look's connection ends as begun */
	else if ((a = conc_accept(l, NULL, NULL, SOCK_CLOEXEC, BOUND)) < 0)
		r = 5;
	else if (close(a), conc_task_cancel(conc_task_self()))
		r = 102;
	/* with a timeout: the cancel, and no connection begun */
	else if (conc_connect(d, (struct sockaddr *)&addr, sizeof(addr), BOUND) != -ECANCELED)
		r = 6;
	else if (conc_accept(l, NULL, NULL, SOCK_CLOEXEC, 0) != -ETIMEDOUT)
		r = 7;
	else if (conc_connect(d, (struct sockaddr *)&addr, sizeof(addr), BOUND) != 0)
		r = 8;		/* the next one works */
	else if ((a = conc_accept(l, NULL, NULL, SOCK_CLOEXEC, BOUND)) < 0)
		r = 9;
	else
		close(a);
	close(c);
	close(d);
	close(l);
	return r;
}

Test(loop_io_edge, a_connect_with_timeout_0_leaves_a_pending_cancel)
{
	need_uring();
	cr_assert_eq(run(in_task, (void *)connect_cancel_pending), 0, "task");
	cr_assert_eq(run(in_shared_task, (void *)connect_cancel_pending), 0,
		     "shared-stack task");
}

/* ---- MSG_WAITALL with a timeout ----------------------------------------- */

/* Not on the caller's stack: a shared-stack task's is elsewhere while it
 * waits. */
static struct io_late rest_late;

static void *rest_later(void *arg)
{
	struct io_late *l = arg;

	io_late_wait(l);
	return write(l->fd, "de", 2) == 2 ? NULL : (void *)1;
}

static int waits_for_all(void)
{
	int s[2], d[2], r = 0;
	char b[16];
	long n;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, d))
		return 100;
	/* Part of it there: what came is returned at the deadline, never
	 * lost; with timeout 0 too (the op must not outlive its deadline). */
	if (write(s[1], "abc", 3) != 3)
		return 101;
	if ((n = conc_recv(s[0], b, 5, MSG_WAITALL, 30 * MS)) != 3)
		r = r ? r : 1;
	if (write(s[1], "abc", 3) != 3)
		return 102;
	if ((n = conc_recv(s[0], b, 5, MSG_WAITALL, 0)) != 3)
		r = r ? r : 2;
	if (write(s[1], "abcdef", 6) != 6)
		return 103;
	/* All of it there: all of it, and the rest stays. */
	if (conc_recv(s[0], b, 5, MSG_WAITALL, 0) != 5 || memcmp(b, "abcde", 5) ||
	    conc_recv(s[0], b, 5, 0, 0) != 1)
		r = r ? r : 3;
	/* Nothing there: -ETIMEDOUT. */
	if (conc_recv(s[0], b, 5, MSG_WAITALL, 0) != -ETIMEDOUT ||
	    conc_recv(s[0], b, 5, MSG_WAITALL, 10 * MS) != -ETIMEDOUT)
		r = r ? r : 4;
	/* The end of the stream after a part: the part. */
	if (write(s[1], "xy", 2) != 2 || close(s[1]))
		return 104;
	if (conc_recv(s[0], b, 5, MSG_WAITALL, BOUND) != 2 ||
	    conc_recv(s[0], b, 5, MSG_WAITALL, BOUND) != 0)
		r = r ? r : 5;
	/* The rest comes later, within the timeout: all of it. */
	{
		struct io_late *l = &rest_late;
		int t[2];
		pthread_t th;

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t) || write(t[1], "abc", 3) != 3)
			return 105;
		io_late_arm(l, t[1]);
		if (pthread_create(&th, NULL, rest_later, l))
			return 105;
		set_flag(&l->go, 1);
		if (conc_recv(t[0], b, 5, MSG_WAITALL, BOUND) != 5 || memcmp(b, "abcde", 5))
			r = r ? r : 7;
		pthread_join(th, NULL);
		if (!l->seen)
			r = r ? r : 8;	/* it never waited for the rest */
		close(t[0]);
		close(t[1]);
	}
	/* A datagram is one message whatever the flag. */
	if (write(d[1], "ab", 2) != 2 || write(d[1], "cd", 2) != 2 ||
	    conc_recv(d[0], b, 4, MSG_WAITALL, BOUND) != 2)
		r = r ? r : 6;
	close(s[0]);
	close(d[0]);
	close(d[1]);
	return r;
}

Test(loop_io_edge, msg_waitall_within_a_timeout)
{
	everywhere(waits_for_all);
}

/* ---- Only the events asked for ----------------------------------------- */

/* A stream socket whose peer shut down its writing: POLLRDHUP and POLLIN
 * (the end of the stream) hold. io_uring ends every poll on POLLRDHUP,
 * asked for or not; poll(2) reports what was asked for (and POLLERR,
 * POLLHUP) only. A unix socket's send buffer is then filled (full stays
 * full: the peer never reads), a TCP one's is left with room. */
static int half_closed(int sv[2], int tcp)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	char b[4096] = { 0 };
	int l;

	if (!tcp) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			return -1;
		while (send(sv[0], b, sizeof(b), MSG_DONTWAIT) > 0)
			;
		return shutdown(sv[1], SHUT_WR);
	}
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || sv[1] < 0 || bind(l, (struct sockaddr *)&a, al) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al) ||
	    connect(sv[1], (struct sockaddr *)&a, al))
		return -1;
	sv[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	return sv[0] < 0 ? -1 : shutdown(sv[1], SHUT_WR);
}

struct drainer {
	int fd;
	uint32_t stop;
};

/* Read what the peer sent until told to stop: room comes back. */
static void *drain_peer(void *arg)
{
	struct drainer *d = arg;
	char b[65536];

	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE))
		if (recv(d->fd, b, sizeof(b), MSG_DONTWAIT) < 0)
			sleep_ns(1 * MS);
	return NULL;
}

static char unasked_buf[1 << 16];

/* The unix socket, full: nothing to report for POLLOUT, and a write that
 * has to wait for room on it, non-blocking, waits, within its timeout;
 * once the peer reads, a poll for POLLOUT sees the room. */
static int unasked_full(int fd, int peer)
{
	struct drainer d = { .fd = peer };
	pthread_t th;
	int r = 0;

	if (conc_poll(fd, POLLOUT, SHORT) != -ETIMEDOUT)
		return 1;
	if (conc_poll(fd, POLLOUT, 0) != -ETIMEDOUT)
		return 2;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK))
		return 101;
	if (conc_write(fd, unasked_buf, sizeof(unasked_buf), SHORT) != -ETIMEDOUT)
		return 3;
	if (conc_send(fd, unasked_buf, sizeof(unasked_buf), 0, SHORT) != -ETIMEDOUT)
		return 4;
	if (pthread_create(&th, NULL, drain_peer, &d))
		return 102;
	if (conc_poll(fd, POLLOUT, BOUND) != POLLOUT)
		r = 5;
	__atomic_store_n(&d.stop, 1, __ATOMIC_RELEASE);
	if (join_thread(th, 10000, NULL))
		r = 103;
	return r;
}

static int unasked_one(int tcp)
{
	int sv[2], r = 0;

	if (half_closed(sv, tcp))
		return 100;
	if (conc_poll(sv[0], POLLIN, SHORT) != POLLIN)
		r = 10;
	else if (conc_poll(sv[0], POLLIN | POLLRDHUP, SHORT) != (POLLIN | POLLRDHUP))
		r = 11;
	else if (tcp && conc_poll(sv[0], POLLOUT, SHORT) != POLLOUT)
		r = 12;
	else if (!tcp)
		r = unasked_full(sv[0], sv[1]);
	close(sv[0]);
	close(sv[1]);
	return r ? r + tcp * 1000 : 0;
}

static int only_asked(void)
{
	int r = unasked_one(0);

	return r ? r : unasked_one(1);
}

/* Before: in a task the polls said POLLRDHUP too (for POLLOUT on the full
 * socket, as if ready), and the write on the non-blocking socket spun
 * past its timeout. */
Test(loop_io_edge, a_poll_reports_only_what_it_asked_for, .timeout = 60)
{
	everywhere(only_asked);
}
