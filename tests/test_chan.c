/* tests/test_chan.c — conc_chan: framed messages over pipes, between
 * threads and processes; EOF, protocol errors, timeouts, SIGPIPE, fds.
 * Every wait is bounded; children leave with _exit(). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <conc.h>
#include "helpers.h"

#define MS(ms)	((int64_t)(ms) * 1000000)
#define BOUND	MS(20000)	/* a wait that must end */
#define REAP_MS	20000
#define MIB	(1u << 20)

/* ---- helpers ---- */

static void pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((i ^ (i >> 9)) * 31 + seed);
}

static int pattern_ok(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)((i ^ (i >> 9)) * 31 + seed))
			return 0;
	return 1;
}

static unsigned char *big(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n ? n : 1);

	cr_assert_not_null(p);
	pattern(p, n, seed);
	return p;
}

/* The wire format the man page documents: "Cc", 1, 0, length (LE). */
static void frame_hdr(unsigned char h[8], uint32_t len)
{
	h[0] = 'C';
	h[1] = 'c';
	h[2] = 1;
	h[3] = 0;
	h[4] = (unsigned char)len;
	h[5] = (unsigned char)(len >> 8);
	h[6] = (unsigned char)(len >> 16);
	h[7] = (unsigned char)(len >> 24);
}

static void raw_write(int fd, const void *p, size_t n)
{
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
}

/* The tests queue tens of KiB, some a MiB, before anyone reads: they need
 * the 1 MiB pipes conc_chan_pair asks for. A user past
 * fs.pipe-user-pages-soft (64 MiB of pipes, root excepted) gets 2 pages
 * and no F_SETPIPE_SZ: the tests skip then, saying so. */
static void pair(conc_chan **a, conc_chan **b, unsigned flags)
{
	int size;

	cr_assert_eq(conc_chan_pair(a, b, flags), 0);
	cr_assert_not_null(*a);
	cr_assert_not_null(*b);
	size = fcntl(conc_chan_wfd(*a), F_GETPIPE_SZ);
	if (size < (int)MIB)
		cr_skip_test("pipes of %d bytes, not 1 MiB (fs.pipe-max-size, "
			     "fs.pipe-user-pages-soft)", size);
}

/* A pair, then a fork: the child (pid 0) and the parent both hold both. */
static pid_t pair_fork(conc_chan **a, conc_chan **b)
{
	pid_t pid;

	pair(a, b, 0);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	return pid;
}

static void send_str(conc_chan *c, const char *s)
{
	cr_assert_eq(conc_chan_send(c, s, strlen(s), BOUND), 0);
}

static void recv_str(conc_chan *c, const char *want)
{
	char buf[256];
	ssize_t n = conc_chan_recv(c, buf, sizeof(buf) - 1, BOUND);

	cr_assert_eq(n, (ssize_t)strlen(want), "recv = %zd, want \"%s\"", n, want);
	buf[n] = 0;
	cr_assert_str_eq(buf, want);
}

static uint64_t sigmask_now(void)
{
	sigset_t s;
	uint64_t v = 0;

	sigprocmask(SIG_BLOCK, NULL, &s);
	memcpy(&v, &s, sizeof(v));
	return v;
}

static int sigpipe_pending(void)
{
	sigset_t s;

	sigpending(&s);
	return sigismember(&s, SIGPIPE);
}

/* ---- arguments ---- */

Test(chan, pair_rejects_bad_arguments)
{
	conc_chan *a = (conc_chan *)1, *b = (conc_chan *)2;
	int fds = count_fds();

	cr_assert_eq(conc_chan_pair(NULL, &b, 0), -EINVAL);
	cr_assert_eq(conc_chan_pair(&a, NULL, 0), -EINVAL);
	cr_assert_eq(conc_chan_pair(&a, &a, 0), -EINVAL);
	cr_assert_eq(conc_chan_pair(&a, &b, 0x2), -EINVAL);
	cr_assert_eq(conc_chan_pair(&a, &b, ~0u), -EINVAL);
	cr_assert_eq(a, (conc_chan *)1, "a refused pair wrote *a");
	cr_assert_eq(b, (conc_chan *)2, "a refused pair wrote *b");
	cr_assert_eq(count_fds(), fds);
}

Test(chan, null_and_bad_arguments)
{
	static char one[1];
	conc_chan *a, *b;
	char buf[8];

	cr_assert_eq(conc_chan_send(NULL, "x", 1, 0), -EINVAL);
	cr_assert_eq(conc_chan_recv(NULL, buf, sizeof(buf), 0), -EINVAL);
	cr_assert_eq(conc_chan_rfd(NULL), -EINVAL);
	cr_assert_eq(conc_chan_wfd(NULL), -EINVAL);
	cr_assert_eq(conc_chan_close(NULL), -EINVAL);

	pair(&a, &b, 0);
	cr_assert_eq(conc_chan_send(a, NULL, 1, 0), -EINVAL);
	cr_assert_eq(conc_chan_recv(b, NULL, 1, 0), -EINVAL);
	/* Too large: refused before a byte is read from msg or written. */
	cr_assert_eq(conc_chan_send(a, one, (size_t)CONC_CHAN_MAX_MSG + 1, 0),
		     -EMSGSIZE);
	cr_assert_eq(conc_chan_send(a, one, SIZE_MAX, 0), -EMSGSIZE);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), 0), -ETIMEDOUT,
		     "a refused send left something in the pipe");
	cr_assert_eq(conc_chan_close(a), 0);
	cr_assert_eq(conc_chan_close(b), 0);
}

Test(chan, fds_are_distinct_nonblocking_cloexec)
{
	conc_chan *a, *b;
	int fd[4];

	pair(&a, &b, 0);
	fd[0] = conc_chan_rfd(a);
	fd[1] = conc_chan_wfd(a);
	fd[2] = conc_chan_rfd(b);
	fd[3] = conc_chan_wfd(b);
	for (int i = 0; i < 4; i++) {
		cr_assert_geq(fd[i], 0);
		cr_assert(fcntl(fd[i], F_GETFL) & O_NONBLOCK, "fd %d blocks", fd[i]);
		cr_assert(fcntl(fd[i], F_GETFD) & FD_CLOEXEC, "fd %d not cloexec", fd[i]);
		for (int j = 0; j < i; j++)
			cr_assert_neq(fd[i], fd[j]);
	}
	/* Wiring: a's write end feeds b's read end, and back. */
	cr_assert_eq(fcntl(fd[1], F_GETFL) & O_ACCMODE, O_WRONLY);
	cr_assert_eq(fcntl(fd[0], F_GETFL) & O_ACCMODE, O_RDONLY);
	conc_chan_close(a);
	conc_chan_close(b);
}

Test(chan, poll_shows_messages_and_room)
{
	struct pollfd p = { .events = POLLIN };
	conc_chan *a, *b;
	char buf[16];

	pair(&a, &b, 0);
	p.fd = conc_chan_rfd(b);
	cr_assert_eq(poll(&p, 1, 0), 0);
	send_str(a, "ping");
	cr_assert_eq(poll(&p, 1, 1000), 1);
	cr_assert(p.revents & POLLIN);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), 0), 4);
	cr_assert_eq(poll(&p, 1, 0), 0, "readable with nothing left");

	p.fd = conc_chan_wfd(b);
	p.events = POLLOUT;
	cr_assert_eq(poll(&p, 1, 0), 1);
	cr_assert(p.revents & POLLOUT);
	conc_chan_close(a);
	conc_chan_close(b);
}

/* ---- messages ---- */

Test(chan, messages_keep_boundaries_and_order, .timeout = 30)
{
	static const size_t sizes[] = { 0, 1, 7, 8, 9, 100, 4087, 4088, 4096,
					5000, 30000 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	unsigned char *buf = malloc(65536);
	conc_chan *a, *b;

	cr_assert_not_null(buf);
	pair(&a, &b, 0);
	/* Both directions, all queued first (about 40 KiB each way). */
	for (size_t i = 0; i < N; i++) {
		unsigned char *m = big(sizes[i], (unsigned)i);

		cr_assert_eq(conc_chan_send(a, m, sizes[i], 0), 0, "size %zu", sizes[i]);
		pattern(m, sizes[i], (unsigned)i + 100);
		cr_assert_eq(conc_chan_send(b, m, sizes[i], 0), 0, "size %zu", sizes[i]);
		free(m);
	}
	for (size_t i = 0; i < N; i++) {
		cr_assert_eq(conc_chan_recv(b, buf, 65536, 0), (ssize_t)sizes[i]);
		cr_assert(pattern_ok(buf, sizes[i], (unsigned)i));
		cr_assert_eq(conc_chan_recv(a, buf, 65536, 0), (ssize_t)sizes[i]);
		cr_assert(pattern_ok(buf, sizes[i], (unsigned)i + 100));
	}
	cr_assert_eq(conc_chan_recv(a, buf, 65536, 0), -ETIMEDOUT);
	cr_assert_eq(conc_chan_recv(b, buf, 65536, 0), -ETIMEDOUT);
	conc_chan_close(a);
	conc_chan_close(b);
	free(buf);
}

Test(chan, empty_message)
{
	conc_chan *a, *b;
	char buf[4];

	pair(&a, &b, 0);
	cr_assert_eq(conc_chan_send(a, NULL, 0, 0), 0);
	cr_assert_eq(conc_chan_send(a, "", 0, 0), 0);
	cr_assert_eq(conc_chan_recv(b, NULL, 0, 0), 0);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), 0), 0);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), 0), -ETIMEDOUT);
	conc_chan_close(a);
	conc_chan_close(b);
}

Test(chan, hand_built_frame_is_accepted)
{
	unsigned char f[8 + 5];
	conc_chan *a, *b;

	pair(&a, &b, 0);
	frame_hdr(f, 5);
	memcpy(f + 8, "hello", 5);
	raw_write(conc_chan_wfd(a), f, sizeof(f));
	recv_str(b, "hello");
	conc_chan_close(a);
	conc_chan_close(b);
}

Test(chan, oneway_ends)
{
	conc_chan *a, *b;
	char buf[8];

	pair(&a, &b, CONC_CHAN_ONEWAY);
	cr_assert_geq(conc_chan_rfd(a), 0);
	cr_assert_eq(conc_chan_wfd(a), -EBADF);
	cr_assert_eq(conc_chan_rfd(b), -EBADF);
	cr_assert_geq(conc_chan_wfd(b), 0);
	cr_assert_eq(conc_chan_send(a, "x", 1, 0), -EBADF);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), 0), -EBADF);
	send_str(b, "one way");
	recv_str(a, "one way");
	cr_assert_eq(conc_chan_close(b), 0);
	cr_assert_eq(conc_chan_recv(a, buf, sizeof(buf), BOUND), -EPIPE);
	cr_assert_eq(conc_chan_close(a), 0);
}

Test(chan, oneway_send_to_closed_receiver_is_epipe)
{
	conc_chan *a, *b;

	signal(SIGPIPE, SIG_DFL);
	pair(&a, &b, CONC_CHAN_ONEWAY);
	conc_chan_close(a);
	cr_assert_eq(conc_chan_send(b, "x", 1, BOUND), -EPIPE);
	cr_assert_not(sigpipe_pending());
	conc_chan_close(b);
}

Test(chan, max_size_message, .timeout = 60)
{
	size_t n = CONC_CHAN_MAX_MSG;
	unsigned char *m = big(n, 5), *r = malloc(n);
	conc_chan *a, *b;
	pid_t pid;

	cr_assert_not_null(r);
	pid = pair_fork(&a, &b);
	if (pid == 0) {
		conc_chan_close(b);
		_exit(conc_chan_send(a, m, n, BOUND) == 0 ? 0 : 1);
	}
	conc_chan_close(a);
	cr_assert_eq(conc_chan_recv(b, r, n, BOUND), (ssize_t)n);
	cr_assert(pattern_ok(r, n, 5));
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
	conc_chan_close(b);
	free(m);
	free(r);
}

/* ---- end of file, SIGPIPE ---- */

Test(chan, eof_after_draining_is_epipe)
{
	conc_chan *a, *b;
	char buf[8];

	pair(&a, &b, 0);
	send_str(b, "1");
	send_str(b, "22");
	cr_assert_eq(conc_chan_send(b, NULL, 0, 0), 0);
	conc_chan_close(b);
	recv_str(a, "1");
	recv_str(a, "22");
	cr_assert_eq(conc_chan_recv(a, buf, sizeof(buf), 0), 0);
	cr_assert_eq(conc_chan_recv(a, buf, sizeof(buf), 0), -EPIPE);
	cr_assert_eq(conc_chan_recv(a, buf, sizeof(buf), BOUND), -EPIPE);
	cr_assert_eq(conc_chan_recv(a, buf, sizeof(buf), CONC_FOREVER), -EPIPE);
	conc_chan_close(a);
}

static int sigpipe_seen;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipe_seen++;
}

Test(chan, send_to_closed_peer_is_epipe_and_raises_no_sigpipe)
{
	conc_chan *a, *b;
	uint64_t mask;

	signal(SIGPIPE, SIG_DFL);	/* a SIGPIPE would kill the test */
	pair(&a, &b, 0);
	conc_chan_close(b);
	mask = sigmask_now();
	cr_assert_eq(conc_chan_send(a, "x", 1, 0), -EPIPE);
	cr_assert_eq(conc_chan_send(a, "x", 1, BOUND), -EPIPE);
	cr_assert_eq(sigmask_now(), mask, "the signal mask changed");
	cr_assert_not(sigpipe_pending());

	signal(SIGPIPE, on_sigpipe);
	cr_assert_eq(conc_chan_send(a, "x", 1, CONC_FOREVER), -EPIPE);
	cr_assert_eq(sigpipe_seen, 0, "the SIGPIPE handler ran");
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(conc_chan_send(a, "x", 1, 0), -EPIPE);
	signal(SIGPIPE, SIG_DFL);
	cr_assert_eq(sigmask_now(), mask);
	cr_assert_not(sigpipe_pending());
	conc_chan_close(a);
}

Test(chan, sigpipe_blocked_by_caller_stays_blocked_not_pending)
{
	conc_chan *a, *b;
	sigset_t s;
	uint64_t mask;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	sigprocmask(SIG_BLOCK, &s, NULL);
	mask = sigmask_now();
	pair(&a, &b, 0);
	conc_chan_close(b);
	cr_assert_eq(conc_chan_send(a, "x", 1, 0), -EPIPE);
	cr_assert_eq(sigmask_now(), mask);
	cr_assert_not(sigpipe_pending(), "conc_chan_send left a SIGPIPE pending");
	conc_chan_close(a);
}

Test(chan, sigpipe_already_pending_is_left_alone)
{
	struct timespec zero = { 0, 0 };
	conc_chan *a, *b;
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	sigprocmask(SIG_BLOCK, &s, NULL);
	cr_assert_eq(syscall(SYS_tgkill, getpid(), gettid(), SIGPIPE), 0);
	cr_assert(sigpipe_pending());
	pair(&a, &b, 0);
	conc_chan_close(b);
	cr_assert_eq(conc_chan_send(a, "x", 1, 0), -EPIPE);
	cr_assert(sigpipe_pending(), "the caller's own SIGPIPE was taken");
	cr_assert_eq(sigtimedwait(&s, NULL, &zero), SIGPIPE);
	cr_assert_not(sigpipe_pending());
	conc_chan_close(a);
}

/* A child blocked in a large send sees the parent close its end. */
Test(chan, peer_closing_ends_a_blocked_send, .timeout = 30)
{
	struct pollfd p = { .events = POLLIN };
	conc_chan *a, *b;
	pid_t pid;

	pair(&a, &b, 0);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		unsigned char *m = malloc(MIB);
		int r;

		signal(SIGPIPE, SIG_DFL);
		conc_chan_close(b);
		memset(m, 'x', MIB);
		r = conc_chan_send(a, m, MIB, BOUND);
		_exit(r == -EPIPE ? 0 : errcode(r));
	}
	conc_chan_close(a);
	/* Some of the message is in: the child is inside its send. */
	p.fd = conc_chan_rfd(b);
	cr_assert_eq(poll(&p, 1, 10000), 1);
	conc_chan_close(b);
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0),
		  "the child did not get -EPIPE (or died of SIGPIPE)");
}

/* ---- protocol errors ---- */

static void expect_broken(conc_chan *b)
{
	char buf[64];

	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), 0), -EPROTO);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), BOUND), -EPROTO);
}

Test(chan, torn_header_then_eof_is_eproto, .timeout = 30)
{
	unsigned char h[8];
	conc_chan *a, *b;
	char buf[8];

	pair(&a, &b, 0);
	frame_hdr(h, 4);
	raw_write(conc_chan_wfd(a), h, 3);
	conc_chan_close(a);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), BOUND), -EPROTO);
	expect_broken(b);
	conc_chan_close(b);
}

Test(chan, torn_payload_then_eof_is_eproto, .timeout = 30)
{
	unsigned char f[8 + 50];
	conc_chan *a, *b;
	char buf[200];

	pair(&a, &b, 0);
	frame_hdr(f, 100);
	memset(f + 8, 'p', 50);
	raw_write(conc_chan_wfd(a), f, sizeof(f));
	conc_chan_close(a);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), BOUND), -EPROTO);
	expect_broken(b);
	conc_chan_close(b);
}

Test(chan, torn_discarded_payload_then_eof_is_eproto, .timeout = 30)
{
	unsigned char f[8 + 50];
	conc_chan *a, *b;
	char buf[10];

	pair(&a, &b, 0);
	frame_hdr(f, 100);
	memset(f + 8, 'p', 50);
	raw_write(conc_chan_wfd(a), f, sizeof(f));
	conc_chan_close(a);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), BOUND), -EPROTO);
	expect_broken(b);
	conc_chan_close(b);
}

/* An oversize or foreign header is refused at once, the peer still open;
 * the end stays broken, and the other direction keeps working. */
static void bad_header(const unsigned char h[8])
{
	conc_chan *a, *b;

	pair(&a, &b, 0);
	raw_write(conc_chan_wfd(a), h, 8);
	send_str(a, "valid");
	cr_assert_eq(conc_chan_recv(b, NULL, 0, BOUND), -EPROTO);
	expect_broken(b);
	send_str(b, "still sends");
	recv_str(a, "still sends");
	conc_chan_close(a);
	conc_chan_close(b);
}

Test(chan, oversize_header_is_eproto, .timeout = 30)
{
	unsigned char h[8];

	frame_hdr(h, CONC_CHAN_MAX_MSG + 1);
	bad_header(h);
	frame_hdr(h, UINT32_MAX);
	bad_header(h);
}

Test(chan, foreign_header_is_eproto, .timeout = 30)
{
	unsigned char h[8];

	bad_header((const unsigned char *)"hello, w");
	frame_hdr(h, 4);
	h[2] = 2;		/* another version */
	bad_header(h);
	frame_hdr(h, 4);
	h[3] = 1;		/* flags we do not know */
	bad_header(h);
}

/* ---- -EMSGSIZE ---- */

Test(chan, too_small_buffer_discards_one_message)
{
	unsigned char m[100];
	conc_chan *a, *b;
	char buf[10];

	pair(&a, &b, 0);
	memset(m, 'A', sizeof(m));
	cr_assert_eq(conc_chan_send(a, m, sizeof(m), 0), 0);
	send_str(a, "B");
	send_str(a, "CC");
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), 0), -EMSGSIZE);
	recv_str(b, "B");
	cr_assert_eq(conc_chan_recv(b, NULL, 0, 0), -EMSGSIZE);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), 0), -ETIMEDOUT);
	conc_chan_close(a);
	conc_chan_close(b);
}

Test(chan, large_discarded_message_keeps_step_between_processes, .timeout = 30)
{
	conc_chan *a, *b;
	char buf[16];
	pid_t pid;

	pair(&a, &b, 0);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		unsigned char *m = malloc(3 * MIB + 7);
		int r;

		conc_chan_close(b);
		memset(m, 'z', 3 * MIB + 7);
		r = conc_chan_send(a, m, 3 * MIB + 7, BOUND);
		if (!r)
			r = conc_chan_send(a, "next", 4, BOUND);
		_exit(errcode(r));
	}
	conc_chan_close(a);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), BOUND), -EMSGSIZE);
	recv_str(b, "next");
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), BOUND), -EPIPE);
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
	conc_chan_close(b);
}

/* ---- timeouts ---- */

Test(chan, recv_times_out_no_earlier, .timeout = 30)
{
	static const int64_t tmo[] = { 1, MS(1), MS(20), MS(60) };
	conc_chan *a, *b;
	char buf[8];

	pair(&a, &b, 0);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), 0), -ETIMEDOUT);
	for (size_t i = 0; i < sizeof(tmo) / sizeof(tmo[0]); i++) {
		int64_t t0 = now_ns();
		ssize_t r = conc_chan_recv(b, buf, sizeof(buf), tmo[i]);
		int64_t dt = now_ns() - t0;

		cr_assert_eq(r, -ETIMEDOUT);
		cr_assert_geq(dt, tmo[i], "timed out after %lld ns < %lld ns",
			      (long long)dt, (long long)tmo[i]);
	}
	conc_chan_close(a);
	conc_chan_close(b);
}

/* Fill the pipe with frames that fit in one atomic write; then a send times
 * out and writes nothing: the channel is still in step. */
Test(chan, send_times_out_no_earlier_and_writes_nothing, .timeout = 30)
{
	unsigned char m[1000], r[1000];
	conc_chan *a, *b;
	int n = 0, rc;

	pair(&a, &b, 0);
	for (;;) {
		pattern(m, sizeof(m), (unsigned)n);
		rc = conc_chan_send(a, m, sizeof(m), 0);
		if (rc == -ETIMEDOUT)
			break;
		cr_assert_eq(rc, 0);
		cr_assert_lt(++n, 100000, "the pipe never filled");
	}
	cr_assert_gt(n, 0);
	for (int i = 0; i < 3; i++) {
		int64_t tmo = MS(20) * i, t0 = now_ns(), dt;

		rc = conc_chan_send(a, m, sizeof(m), tmo);
		dt = now_ns() - t0;
		cr_assert_eq(rc, -ETIMEDOUT);
		cr_assert_geq(dt, tmo);
	}
	for (int i = 0; i < n; i++) {
		cr_assert_eq(conc_chan_recv(b, r, sizeof(r), 0), (ssize_t)sizeof(r));
		cr_assert(pattern_ok(r, sizeof(r), (unsigned)i), "message %d", i);
	}
	cr_assert_eq(conc_chan_recv(b, r, sizeof(r), 0), -ETIMEDOUT);
	conc_chan_close(a);
	conc_chan_close(b);
}

struct late_reader {
	conc_chan *c;
	size_t n;
	int64_t delay;
	ssize_t r;
	int ok;
};

static void *late_reader(void *arg)
{
	struct late_reader *l = arg;
	unsigned char *buf = malloc(l->n ? l->n : 1);

	sleep_ns(l->delay);
	l->r = conc_chan_recv(l->c, buf, l->n, BOUND);
	l->ok = l->r == (ssize_t)l->n && pattern_ok(buf, l->n, 9);
	free(buf);
	return NULL;
}

/* A message that fits in the pipe's free room goes whole, however short
 * the timeout: with nobody reading yet (the receive comes after the send
 * returned), a timeout 0 send returns 0 and the message comes whole. A
 * quarter of the pipe, whatever size it got (pair()). */
Test(chan, send_that_fits_completes_whatever_its_timeout, .timeout = 30)
{
	conc_chan *a, *b;
	unsigned char *m, *buf;
	size_t n;
	int size;

	cr_assert_eq(conc_chan_pair(&a, &b, 0), 0);
	size = fcntl(conc_chan_wfd(a), F_GETPIPE_SZ);
	cr_assert_gt(size, 0);
	n = (size_t)size / 4;
	m = big(n, 9);
	buf = malloc(n);
	cr_assert_not_null(buf);
	cr_assert_eq(conc_chan_send(a, m, n, 0), 0, "%zu bytes in a pipe of %d", n, size);
	cr_assert_eq(conc_chan_recv(b, buf, n, BOUND), (ssize_t)n);
	cr_assert(pattern_ok(buf, n, 9));
	conc_chan_close(a);
	conc_chan_close(b);
	free(buf);
	free(m);
}

/* A child sends "before", then a message larger than the pipe to a peer
 * that never reads: the send must give up at its deadline (timeout 0 or
 * a short one), close its sending side (later sends: -EPIPE, wfd: -EPIPE)
 * and the peer, once it has "before", sees the torn frame as -EPROTO. */
static void torn_send(int64_t tmo)
{
	conc_chan *a, *b;
	char buf[64];
	pid_t pid;

	pair(&a, &b, 0);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		size_t n = 4 * MIB;
		unsigned char *m = big(n, 1);
		int64_t t0;
		int r;

		conc_chan_close(b);
		if (conc_chan_send(a, "before", 6, BOUND))
			_exit(1);
		t0 = now_ns();
		r = conc_chan_send(a, m, n, tmo);
		if (r != -ETIMEDOUT)
			_exit(10 + errcode(r) % 100);
		if (now_ns() - t0 < tmo)
			_exit(2);
		if (conc_chan_send(a, "x", 1, BOUND) != -EPIPE)
			_exit(3);
		if (conc_chan_wfd(a) != -EPIPE)
			_exit(4);
		/* The other direction still works. */
		if (conc_chan_recv(a, buf, sizeof(buf), BOUND) != 5 ||
		    memcmp(buf, "reply", 5))
			_exit(5);
		_exit(0);
	}
	conc_chan_close(a);
	send_str(b, "reply");
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0),
		  "the child's torn send did not end as it should");
	recv_str(b, "before");
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), BOUND), -EPROTO);
	expect_broken(b);
	conc_chan_close(b);
}

/* A send that only tries (timeout 0) of a frame longer than PIPE_BUF
 * that the pipe has no room for by its bytes (a message in the pipe
 * before it, or longer than the pipe) sends nothing, and the end goes on;
 * one that fits the empty pipe goes. */
Test(chan, send_timeout_zero_of_a_long_frame_sends_it_whole_or_nothing, .timeout = 60)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n, huge = 4 * MIB;
	unsigned char *m, *h, *got;
	conc_chan *a, *b;
	int size;

	pair(&a, &b, 0);
	size = fcntl(conc_chan_wfd(a), F_GETPIPE_SZ);
	cr_assert_gt(size, 0);
	cr_assert_gt((size_t)size, 4 * page);
	n = (size_t)size - page;	/* with header and pad, the whole pipe */
	m = big(n, 3);
	h = big(huge, 4);
	got = malloc(n);
	cr_assert_not_null(got);
	send_str(a, "before");
	cr_assert_eq(conc_chan_send(a, m, n, 0), -ETIMEDOUT);
	cr_assert_eq(conc_chan_send(a, h, huge, 0), -ETIMEDOUT);
	cr_assert_geq(conc_chan_wfd(a), 0, "the sending side was closed");
	send_str(a, "after");
	recv_str(b, "before");
	recv_str(b, "after");
	cr_assert_eq(conc_chan_recv(b, got, n, 0), -ETIMEDOUT);
	cr_assert_eq(conc_chan_send(a, m, n, 0), 0);
	cr_assert_eq(conc_chan_recv(b, got, n, BOUND), (ssize_t)n);
	cr_assert(pattern_ok(got, n, 3));
	send_str(a, "last");
	recv_str(b, "last");
	conc_chan_close(a);
	conc_chan_close(b);
	free(m);
	free(h);
	free(got);
}

Test(chan, send_timeout_mid_frame_tears_and_closes, .timeout = 60)
{
	torn_send(MS(30));
}

/* Part of a header: -ETIMEDOUT, and the next call picks up from there. */
Test(chan, partial_header_times_out_and_resumes, .timeout = 30)
{
	unsigned char f[8 + 5];
	conc_chan *a, *b;
	char buf[8];

	pair(&a, &b, 0);
	frame_hdr(f, 5);
	memcpy(f + 8, "hello", 5);
	raw_write(conc_chan_wfd(a), f, 3);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), 0), -ETIMEDOUT);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), MS(20)), -ETIMEDOUT);
	raw_write(conc_chan_wfd(a), f + 3, sizeof(f) - 3);
	recv_str(b, "hello");
	conc_chan_close(a);
	conc_chan_close(b);
}

/* The peer stalls after a header and part of the bytes: every receive
 * returns -ETIMEDOUT at its deadline (run in a child, so that a receive
 * that waits for ever fails the test instead of hanging it); what came is
 * kept, and once the rest arrives the message is received whole. */
static int stalled_frame(void *arg)
{
	static const int64_t tmo[] = { 0, MS(1), MS(20) };
	size_t split = *(size_t *)arg;
	unsigned char f[8 + 10];
	conc_chan *a, *b;
	char buf[16];

	if (conc_chan_pair(&a, &b, 0))
		return 1;
	frame_hdr(f, 10);
	memcpy(f + 8, "0123456789", 10);
	if (write(conc_chan_wfd(a), f, split) != (ssize_t)split)
		return 2;
	for (size_t i = 0; i < sizeof(tmo) / sizeof(tmo[0]); i++) {
		int64_t t0 = now_ns();

		if (conc_chan_recv(b, buf, sizeof(buf), tmo[i]) != -ETIMEDOUT)
			return 3;
		if (now_ns() - t0 < tmo[i])
			return 4;
	}
	if (write(conc_chan_wfd(a), f + split, sizeof(f) - split) !=
	    (ssize_t)(sizeof(f) - split))
		return 5;
	if (conc_chan_recv(b, buf, sizeof(buf), 0) != 10 ||
	    memcmp(buf, "0123456789", 10))
		return 6;
	if (conc_chan_recv(b, buf, sizeof(buf), 0) != -ETIMEDOUT)
		return 7;
	return 0;
}

Test(chan, recv_timeout_mid_frame_keeps_what_came, .timeout = 60)
{
	/* Within the header, right after it, within the bytes. */
	static size_t splits[] = { 3, 8, 12 };

	for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++)
		cr_assert_eq(run_in_child(stalled_frame, &splits[i], REAP_MS), 0,
			     "split at %zu", splits[i]);
}

/* A message too long for the buffer, cut short: -ETIMEDOUT, then, once
 * the rest came, -EMSGSIZE for it and the next message as usual. */
static int stalled_discard(void *arg)
{
	unsigned char f[8 + 100];
	conc_chan *a, *b;
	char buf[10];

	(void)arg;
	if (conc_chan_pair(&a, &b, 0))
		return 1;
	frame_hdr(f, 100);
	memset(f + 8, 'd', 100);
	if (write(conc_chan_wfd(a), f, 30) != 30)
		return 2;
	if (conc_chan_recv(b, buf, sizeof(buf), MS(20)) != -ETIMEDOUT)
		return 3;
	if (write(conc_chan_wfd(a), f + 30, sizeof(f) - 30) != sizeof(f) - 30)
		return 4;
	if (conc_chan_send(a, "next", 4, 0))
		return 5;
	if (conc_chan_recv(b, buf, sizeof(buf), 0) != -EMSGSIZE)
		return 6;
	if (conc_chan_recv(b, buf, sizeof(buf), 0) != 4 || memcmp(buf, "next", 4))
		return 7;
	return 0;
}

Test(chan, recv_timeout_while_discarding_then_emsgsize, .timeout = 30)
{
	cr_assert_eq(run_in_child(stalled_discard, NULL, REAP_MS), 0);
}

/* An event loop: poll rfd, receive with timeout 0. A message many times
 * the pipe's size arrives in parts; each receive takes what is there and
 * the last one returns the whole message. */
Test(chan, poll_loop_receives_a_large_message_in_parts, .timeout = 60)
{
	size_t n = 3 * MIB + 5;
	unsigned char *m = big(n, 4), *r = malloc(n);
	struct pollfd p = { .events = POLLIN };
	conc_chan *a, *b;
	ssize_t got = -ETIMEDOUT;
	int tries = 0;
	pid_t pid;

	cr_assert_not_null(r);
	pair(&a, &b, 0);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		conc_chan_close(b);
		_exit(errcode(conc_chan_send(a, m, n, BOUND)));
	}
	conc_chan_close(a);
	p.fd = conc_chan_rfd(b);
	while (got == -ETIMEDOUT) {
		cr_assert_eq(poll(&p, 1, 10000), 1, "rfd never became readable");
		got = conc_chan_recv(b, r, n, 0);
		tries++;
	}
	cr_assert_eq(got, (ssize_t)n, "recv = %zd", got);
	cr_assert(pattern_ok(r, n, 4));
	cr_assert_gt(tries, 0);
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
	conc_chan_close(b);
	free(m);
	free(r);
}

/* A large hand-built frame of n bytes written in two parts, the first of
 * split bytes, then receives with timeout 0 and 10 ms: -ETIMEDOUT, what
 * came kept; once the rest is there the message comes whole. */
static void frame_in_two(size_t n, size_t split, unsigned seed)
{
	unsigned char *f = malloc(8 + n), *r = malloc(n);
	conc_chan *a, *b;

	cr_assert_not_null(f);
	cr_assert_not_null(r);
	pair(&a, &b, 0);
	frame_hdr(f, (uint32_t)n);
	pattern(f + 8, n, seed);
	raw_write(conc_chan_wfd(a), f, split);
	cr_assert_eq(conc_chan_recv(b, r, n, 0), -ETIMEDOUT);
	cr_assert_eq(conc_chan_recv(b, r, n, MS(10)), -ETIMEDOUT);
	raw_write(conc_chan_wfd(a), f + split, 8 + n - split);
	cr_assert_eq(conc_chan_recv(b, r, n, 0), (ssize_t)n);
	cr_assert(pattern_ok(r, n, seed));
	cr_assert_eq(conc_chan_recv(b, r, n, 0), -ETIMEDOUT);
	send_str(a, "after");
	recv_str(b, "after");
	conc_chan_close(a);
	conc_chan_close(b);
	free(f);
	free(r);
}

Test(chan, large_frame_in_two_halves_resumes, .timeout = 30)
{
	frame_in_two(600 * 1024, (8 + 600 * 1024) / 2, 6);
}

/* The header itself split, the second write holding all the rest (a read
 * within the header must not cut the packet that follows). */
Test(chan, large_frame_with_split_header_is_received, .timeout = 30)
{
	frame_in_two(300 * 1024, 3, 8);
}

/* A receive takes one message and never a byte of the next: rfd stays
 * readable while one waits, also behind a message larger than a page. */
Test(chan, rfd_stays_readable_while_a_message_waits, .timeout = 30)
{
	struct pollfd p = { .events = POLLIN };
	unsigned char *m = big(100000, 2), *r = malloc(100000);
	conc_chan *a, *b;

	cr_assert_not_null(r);
	pair(&a, &b, 0);
	p.fd = conc_chan_rfd(b);
	send_str(a, "one");
	cr_assert_eq(conc_chan_send(a, m, 100000, 0), 0);
	send_str(a, "two");
	recv_str(b, "one");
	cr_assert_eq(poll(&p, 1, 0), 1);
	cr_assert_eq(conc_chan_recv(b, r, 100000, 0), 100000);
	cr_assert(pattern_ok(r, 100000, 2));
	cr_assert_eq(poll(&p, 1, 0), 1, "the large receive took the next message");
	recv_str(b, "two");
	cr_assert_eq(poll(&p, 1, 0), 0);
	conc_chan_close(a);
	conc_chan_close(b);
	free(m);
	free(r);
}

struct holder {
	conc_chan *c;
	ssize_t r;
	pid_t tid;
	uint32_t go;	/* tid is set: the thread is about to receive */
};

static void *blocked_recv(void *arg)
{
	struct holder *h = arg;
	char buf[16];

	h->tid = gettid();
	set_flag(&h->go, 1);
	h->r = conc_chan_recv(h->c, buf, sizeof(buf), BOUND);
	return NULL;
}

/* A thread waits in a receive on c, holding its receiving side (seen
 * asleep in its poll: else the test's call could come first and take the
 * side itself)... */
static void hold_recv(struct holder *h, conc_chan *c, pthread_t *t)
{
	static const long in_poll[] = { SYS_ppoll, -1 };

	*h = (struct holder){ .c = c };
	cr_assert_eq(pthread_create(t, NULL, blocked_recv, h), 0);
	cr_assert(wait_flag(&h->go, 30000));
	cr_assert(wait_blocked_in(h->tid, NULL, in_poll, 30000),
		  "the thread never waited in its receive");
}

/* ...until the peer sends it a message. */
static void release_recv(struct holder *h, conc_chan *peer, pthread_t t)
{
	send_str(peer, "for the thread");
	cr_assert_eq(join_thread(t, REAP_MS, NULL), 0);
	cr_assert_eq(h->r, 14);
}

/* Another thread inside a receive on the same end: the timeout covers the
 * wait for it too. */
Test(chan, timeout_covers_waiting_for_another_thread, .timeout = 30)
{
	struct holder h;
	conc_chan *a, *b;
	pthread_t t;
	char buf[16];
	int64_t t0;

	pair(&a, &b, 0);
	hold_recv(&h, b, &t);
	t0 = now_ns();
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), MS(30)), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, MS(30));
	release_recv(&h, a, t);
	conc_chan_close(a);
	conc_chan_close(b);
}

/* A send waiting for room while another thread of the same end waits in
 * a receive (so the send cannot take in): its deadline still holds, and
 * nothing is sent. */
Test(chan, send_deadline_holds_while_another_thread_receives, .timeout = 30)
{
	unsigned char m[1000];
	struct holder h;
	conc_chan *a, *b;
	pthread_t t;
	int64_t t0;
	int n = 0;

	pair(&a, &b, 0);
	memset(m, 's', sizeof(m));
	while (conc_chan_send(a, m, sizeof(m), 0) == 0)
		cr_assert_lt(++n, 100000, "the pipe never filled");
	hold_recv(&h, a, &t);
	t0 = now_ns();
	cr_assert_eq(conc_chan_send(a, m, sizeof(m), MS(30)), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, MS(30));
	release_recv(&h, b, t);
	for (int i = 0; i < n; i++)
		cr_assert_eq(conc_chan_recv(b, m, sizeof(m), 0), (ssize_t)sizeof(m));
	cr_assert_eq(conc_chan_recv(b, m, sizeof(m), 0), -ETIMEDOUT);
	conc_chan_close(a);
	conc_chan_close(b);
}

/* ---- between processes ---- */

/*
 * A child that acts on a call of the test's thread only once it waits:
 * a watcher thread of the parent sees the thread blocked in the call
 * (a receive's read or poll, a send's poll for room: /proc) with nothing
 * left in the pipe it receives from, after step k
 * began (after[k]: set by the test's thread before its call, or by the
 * child once it wrote), and then cues the child (cue[k]). A child that
 * acted after a sleep instead could come before the receive waited, and
 * the test would pass without the wake-up it names.
 */
struct cue {
	uint32_t after[2], cue[2];
};

struct watch {
	struct cue *q;
	pid_t tid;
	int fd, steps, seen;
	pthread_t t;
};

static void *watcher(void *arg)
{
	static const long in_recv[] = { SYS_read, SYS_readv, SYS_ppoll, -1 };
	struct watch *w = arg;
	int64_t end = now_ns() + MS(30000);
	int k, left;

	for (k = 0; k < w->steps; k++) {
		if (!wait_flag(&w->q->after[k], 30000))
			return NULL;
		for (;;) {
			if (ioctl(w->fd, FIONREAD, &left) == 0 && left == 0 &&
			    wait_blocked_in(w->tid, NULL, in_recv, 0))
				break;
			if (now_ns() > end)
				return NULL;
			sleep_ns(100000);
		}
		set_flag(&w->q->cue[k], 1);
		w->seen = k + 1;
	}
	return NULL;
}

/* Watch this thread's calls on b; steps cues in all. */
static struct watch *watch_start(conc_chan *b, int steps)
{
	struct watch *w = calloc(1, sizeof(*w));

	cr_assert_not_null(w);
	cr_assert_not_null(w->q = shared_alloc(sizeof(*w->q)));
	w->tid = gettid();
	w->fd = conc_chan_rfd(b);
	w->steps = steps;
	cr_assert_eq(pthread_create(&w->t, NULL, watcher, w), 0);
	return w;
}

/* In the child: wait for cue k (bounded). */
static void cued(struct watch *w, int k)
{
	if (!wait_flag(&w->q->cue[k], 30000))
		_exit(90 + k);
}

/* How many cues were given (-1: the watcher hung); w is freed. */
static int watch_seen(struct watch *w)
{
	int seen = join_thread(w->t, 40000, NULL) ? -1 : w->seen;

	shared_free(w->q, sizeof(*w->q));
	free(w);
	return seen;
}

/* Every cue was given. */
static void watch_end(struct watch *w)
{
	int steps = w->steps, seen = watch_seen(w);

	cr_assert_eq(seen, steps, "the receive was seen waiting %d times", seen);
}

Test(chan, blocked_recv_wakes_on_send_and_on_close, .timeout = 30)
{
	conc_chan *a, *b;
	char buf[16];
	pid_t pid;

	struct watch *w;

	pair(&a, &b, 0);
	w = watch_start(b, 2);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		conc_chan_close(b);
		cued(w, 0);
		if (conc_chan_send(a, "late", 4, BOUND))
			_exit(1);
		cued(w, 1);
		_exit(0);	/* closes a */
	}
	conc_chan_close(a);
	set_flag(&w->q->after[0], 1);
	recv_str(b, "late");
	set_flag(&w->q->after[1], 1);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), BOUND), -EPIPE);
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
	watch_end(w);
	conc_chan_close(b);
}

Test(chan, ping_pong_processes, .timeout = 30)
{
	conc_chan *a, *b;
	uint32_t v;
	pid_t pid;

	pair(&a, &b, 0);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		conc_chan_close(a);
		for (;;) {
			ssize_t n = conc_chan_recv(b, &v, sizeof(v), BOUND);

			if (n == -EPIPE)
				_exit(0);
			if (n != sizeof(v))
				_exit(1);
			v++;
			if (conc_chan_send(b, &v, sizeof(v), BOUND))
				_exit(2);
		}
	}
	conc_chan_close(b);
	for (uint32_t i = 0; i < 2000; i++) {
		cr_assert_eq(conc_chan_send(a, &i, sizeof(i), BOUND), 0);
		cr_assert_eq(conc_chan_recv(a, &v, sizeof(v), BOUND), (ssize_t)sizeof(v));
		cr_assert_eq(v, i + 1);
	}
	conc_chan_close(a);
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
}

static const size_t big_sizes[] = { 65536 - 8, 65536, 65537, MIB, 3 * MIB + 5 };
#define NBIG (sizeof(big_sizes) / sizeof(big_sizes[0]))

/* Each side sends all its large messages before it reads one: without a
 * send that takes in what arrives while it waits, both would block. */
static int all_then_recv(conc_chan *c, unsigned seed_out, unsigned seed_in,
			 int64_t tmo)
{
	unsigned char *buf = malloc(4 * MIB);
	int bad = 0;

	for (size_t i = 0; i < NBIG && !bad; i++) {
		pattern(buf, big_sizes[i], seed_out + (unsigned)i);
		bad = conc_chan_send(c, buf, big_sizes[i], tmo) ? 1 : 0;
	}
	for (size_t i = 0; i < NBIG && !bad; i++) {
		ssize_t n = conc_chan_recv(c, buf, 4 * MIB, tmo);

		if (n != (ssize_t)big_sizes[i] ||
		    !pattern_ok(buf, big_sizes[i], seed_in + (unsigned)i))
			bad = 2;
	}
	free(buf);
	return bad;
}

static int send_all_then_recv(conc_chan *c, unsigned seed_out, unsigned seed_in)
{
	return all_then_recv(c, seed_out, seed_in, BOUND);
}

/* Two processes, each sending all before it receives, with timeout tmo
 * (CONC_FOREVER: every receive that waits does so in its read). */
static void both_ways_processes(int64_t tmo)
{
	conc_chan *a, *b;
	pid_t pid;

	pid = pair_fork(&a, &b);
	if (pid == 0) {
		conc_chan_close(a);
		_exit(all_then_recv(b, 50, 10, tmo));
	}
	conc_chan_close(b);
	cr_assert_eq(all_then_recv(a, 10, 50, tmo), 0);
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
	conc_chan_close(a);
}

Test(chan, large_messages_both_ways_at_once_processes, .timeout = 60)
{
	both_ways_processes(BOUND);
}

struct both {
	conc_chan *c;
	unsigned out, in;
	int r;
};

static void *both_thread(void *arg)
{
	struct both *w = arg;

	w->r = send_all_then_recv(w->c, w->out, w->in);
	return NULL;
}

Test(chan, large_messages_both_ways_at_once_threads, .timeout = 60)
{
	conc_chan *a, *b;
	struct both w;
	pthread_t t;

	pair(&a, &b, 0);
	w = (struct both){ b, 70, 30, -1 };
	cr_assert_eq(pthread_create(&t, NULL, both_thread, &w), 0);
	cr_assert_eq(send_all_then_recv(a, 30, 70), 0);
	cr_assert_eq(join_thread(t, REAP_MS, NULL), 0);
	cr_assert_eq(w.r, 0);
	conc_chan_close(a);
	conc_chan_close(b);
}

/* A message taken in by a waiting send is not on rfd any more; a recv with
 * timeout 0 after the send finds it, as the man page advises. */
Test(chan, message_taken_in_by_a_send_is_received, .timeout = 30)
{
	struct late_reader l = { .n = MIB, .delay = MS(100) };
	unsigned char *m = big(MIB, 9);
	conc_chan *a, *b;
	pthread_t t;

	pair(&a, &b, 0);
	send_str(b, "early");
	l.c = b;
	cr_assert_eq(pthread_create(&t, NULL, late_reader, &l), 0);
	cr_assert_eq(conc_chan_send(a, m, MIB, BOUND), 0);
	recv_str(a, "early");
	cr_assert_eq(conc_chan_recv(a, NULL, 0, 0), -ETIMEDOUT);
	cr_assert_eq(join_thread(t, REAP_MS, NULL), 0);
	cr_assert(l.ok);
	conc_chan_close(a);
	conc_chan_close(b);
	free(m);
}

struct sender_x {
	conc_chan *c;
	int r;
};

static void *send_x_then_after(void *arg)
{
	struct sender_x *x = arg;
	unsigned char *m = big(200000, 3);

	x->r = conc_chan_send(x->c, m, 200000, BOUND);
	if (!x->r)
		x->r = conc_chan_send(x->c, "after", 5, BOUND);
	free(m);
	return NULL;
}

/* A message a send took in, too large for the buffer: discarded whole,
 * partly from what was taken in, partly from the pipe. */
Test(chan, emsgsize_on_a_message_taken_in_keeps_step, .timeout = 30)
{
	struct late_reader l = { .n = MIB, .delay = MS(100) };
	unsigned char *m = big(MIB, 9);
	struct sender_x x;
	conc_chan *a, *b;
	pthread_t t[2];
	char buf[16];

	pair(&a, &b, 0);
	x = (struct sender_x){ b, -1 };
	l.c = b;
	cr_assert_eq(pthread_create(&t[0], NULL, send_x_then_after, &x), 0);
	cr_assert_eq(pthread_create(&t[1], NULL, late_reader, &l), 0);
	cr_assert_eq(conc_chan_send(a, m, MIB, BOUND), 0);
	cr_assert_eq(conc_chan_recv(a, buf, sizeof(buf), BOUND), -EMSGSIZE);
	recv_str(a, "after");
	cr_assert_eq(join_thread(t[0], REAP_MS, NULL), 0);
	cr_assert_eq(join_thread(t[1], REAP_MS, NULL), 0);
	cr_assert_eq(x.r, 0);
	cr_assert(l.ok);
	conc_chan_close(a);
	conc_chan_close(b);
	free(m);
}

struct recv_all {
	conc_chan *c;
	unsigned seed;
	int r;
};

static void *recv_all_big(void *arg)
{
	struct recv_all *w = arg;
	unsigned char *buf = malloc(4 * MIB);

	w->r = 0;
	for (size_t i = 0; i < NBIG && !w->r; i++) {
		ssize_t n = conc_chan_recv(w->c, buf, 4 * MIB, BOUND);

		if (n != (ssize_t)big_sizes[i] ||
		    !pattern_ok(buf, big_sizes[i], w->seed + (unsigned)i))
			w->r = 1;
	}
	free(buf);
	return NULL;
}

/* One end: a thread receives while another sends; the peer sends all before
 * it receives. The sender may find the receiving lock taken and must not
 * spin or stall. */
Test(chan, one_end_sending_and_receiving_threads_large_both_ways, .timeout = 60)
{
	struct recv_all r;
	struct both w;
	conc_chan *a, *b;
	unsigned char *buf = malloc(4 * MIB);
	pthread_t t[2];

	pair(&a, &b, 0);
	r = (struct recv_all){ a, 80, -1 };
	w = (struct both){ b, 80, 40, -1 };
	cr_assert_eq(pthread_create(&t[0], NULL, recv_all_big, &r), 0);
	cr_assert_eq(pthread_create(&t[1], NULL, both_thread, &w), 0);
	for (size_t i = 0; i < NBIG; i++) {
		pattern(buf, big_sizes[i], 40 + (unsigned)i);
		cr_assert_eq(conc_chan_send(a, buf, big_sizes[i], BOUND), 0);
	}
	cr_assert_eq(join_thread(t[0], REAP_MS, NULL), 0);
	cr_assert_eq(join_thread(t[1], REAP_MS, NULL), 0);
	cr_assert_eq(r.r, 0);
	cr_assert_eq(w.r, 0);
	conc_chan_close(a);
	conc_chan_close(b);
	free(buf);
}

/* ---- threads sharing an end ---- */

#define SENDERS 4
#define PER 300

struct tagged {
	uint32_t who, seq, len;
};

static void *sender(void *arg)
{
	conc_chan **cp = arg;
	uint32_t who = (uint32_t)(uintptr_t)cp[1];
	unsigned char *buf = malloc(20000);
	intptr_t bad = 0;

	for (uint32_t s = 0; s < PER && !bad; s++) {
		struct tagged t = { who, s, (s * 977 + who * 131) % 12000 };

		pattern(buf + sizeof(t), t.len, who * 1000 + s);
		memcpy(buf, &t, sizeof(t));
		bad = conc_chan_send(cp[0], buf, sizeof(t) + t.len, BOUND) != 0;
	}
	free(buf);
	return (void *)bad;
}

Test(chan, threads_share_a_sending_end, .timeout = 60)
{
	conc_chan *a, *b, *arg[SENDERS][2];
	uint32_t next[SENDERS] = { 0 };
	unsigned char *buf = malloc(20000);
	pthread_t t[SENDERS];
	void *ret;

	pair(&a, &b, 0);
	for (int i = 0; i < SENDERS; i++) {
		arg[i][0] = a;
		arg[i][1] = (conc_chan *)(uintptr_t)i;
		cr_assert_eq(pthread_create(&t[i], NULL, sender, arg[i]), 0);
	}
	for (int k = 0; k < SENDERS * PER; k++) {
		struct tagged tg;
		ssize_t n = conc_chan_recv(b, buf, 20000, BOUND);

		cr_assert_geq(n, (ssize_t)sizeof(tg));
		memcpy(&tg, buf, sizeof(tg));
		cr_assert_lt(tg.who, SENDERS);
		cr_assert_eq(tg.seq, next[tg.who], "thread %u: %u after %u",
			     tg.who, tg.seq, next[tg.who]);
		cr_assert_eq((size_t)n, sizeof(tg) + tg.len);
		cr_assert(pattern_ok(buf + sizeof(tg), tg.len, tg.who * 1000 + tg.seq));
		next[tg.who]++;
	}
	for (int i = 0; i < SENDERS; i++) {
		cr_assert_eq(join_thread(t[i], REAP_MS, &ret), 0);
		cr_assert_null(ret);
	}
	conc_chan_close(a);
	conc_chan_close(b);
	free(buf);
}

struct receiver {
	conc_chan *c;
	int got, bad, eof;
};

static void *receiver(void *arg)
{
	struct receiver *r = arg;
	unsigned char buf[9000];

	for (;;) {
		ssize_t n = conc_chan_recv(r->c, buf, sizeof(buf), BOUND);
		uint32_t seq;

		if (n == -EPIPE) {
			r->eof = 1;
			return NULL;
		}
		if (n < 4) {
			r->bad++;
			return NULL;
		}
		memcpy(&seq, buf, 4);
		if ((size_t)n != 4 + seq % 8000 || !pattern_ok(buf + 4, seq % 8000, seq))
			r->bad++;
		r->got++;
	}
}

Test(chan, threads_share_a_receiving_end, .timeout = 60)
{
	enum { R = 4, N = 2000 };
	struct receiver r[R];
	unsigned char buf[9000];
	conc_chan *a, *b;
	pthread_t t[R];
	int total = 0;

	pair(&a, &b, 0);
	for (int i = 0; i < R; i++) {
		r[i] = (struct receiver){ .c = b };
		cr_assert_eq(pthread_create(&t[i], NULL, receiver, &r[i]), 0);
	}
	for (uint32_t s = 0; s < N; s++) {
		memcpy(buf, &s, 4);
		pattern(buf + 4, s % 8000, s);
		cr_assert_eq(conc_chan_send(a, buf, 4 + s % 8000, BOUND), 0);
	}
	conc_chan_close(a);
	for (int i = 0; i < R; i++) {
		cr_assert_eq(join_thread(t[i], REAP_MS, NULL), 0);
		cr_assert_eq(r[i].bad, 0);
		cr_assert(r[i].eof, "receiver %d did not see -EPIPE", i);
		total += r[i].got;
	}
	cr_assert_eq(total, N);
	conc_chan_close(b);
}

/* ---- fds ---- */

Test(chan, no_fd_leaks, .timeout = 30)
{
	int fds = count_fds();
	conc_chan *a, *b;
	char buf[8];

	for (int i = 0; i < 200; i++) {
		pair(&a, &b, i & 1 ? CONC_CHAN_ONEWAY : 0);
		cr_assert_eq(count_fds(), fds + (i & 1 ? 2 : 4));
		send_str(b, "x");
		cr_assert_eq(conc_chan_recv(a, buf, sizeof(buf), 0), 1);
		cr_assert_eq(conc_chan_close(a), 0);
		cr_assert_eq(conc_chan_close(b), 0);
	}
	cr_assert_eq(count_fds(), fds);
}

/* The lowest fd limit under which exactly `avail` fds are free. */
static rlim_t limit_for(int avail)
{
	int n, free_below = 0;

	for (n = 0; free_below < avail; n++)
		if (fcntl(n, F_GETFD) == -1)
			free_below++;
	return (rlim_t)n;
}

/* Out of fds part way through: -EMFILE and nothing left open. */
Test(chan, emfile_leaves_nothing_open, .timeout = 30)
{
	struct rlimit old, lim;
	int fds = count_fds();
	conc_chan *a, *b;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	/* A duplex pair needs 4 fds, a one-way pair 2. */
	for (int avail = 0; avail <= 4; avail++) {
		for (unsigned flags = 0; flags <= CONC_CHAN_ONEWAY; flags++) {
			int need = flags ? 2 : 4, r;

			lim = old;
			lim.rlim_cur = limit_for(avail);
			cr_assert_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
			r = conc_chan_pair(&a, &b, flags);
			cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
			if (avail >= need) {
				cr_assert_eq(r, 0, "%d free, flags %u: %d", avail, flags, r);
				conc_chan_close(a);
				conc_chan_close(b);
			} else {
				cr_assert_eq(r, -EMFILE, "%d free, flags %u: %d", avail, flags, r);
			}
			cr_assert_eq(count_fds(), fds);
		}
	}
}

/* ---- the seed's scenario ---- */

Test(chan, greeting_between_processes, .timeout = 30)
{
	conc_chan *a, *b;
	pid_t pid;

	pair(&a, &b, 0);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char buf[64];
		ssize_t n;

		conc_chan_close(a);
		if (conc_chan_send(b, "Hello!", 6, BOUND))
			_exit(1);
		n = conc_chan_recv(b, buf, sizeof(buf), BOUND);
		if (n != 6 || memcmp(buf, "Hi yo!", 6))
			_exit(2);
		conc_chan_close(b);
		_exit(0);
	}
	conc_chan_close(b);
	send_str(a, "Hi yo!");
	recv_str(a, "Hello!");
	{
		char buf[8];

		cr_assert_eq(conc_chan_recv(a, buf, sizeof(buf), BOUND), -EPIPE);
	}
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
	conc_chan_close(a);
}

/* ---- packets, padded streams and receives that wait in their read ----
 * A frame of up to a page is one packet; a longer one goes as a byte
 * stream padded to whole pages; a receive without a timeout waits inside
 * its read. These pin down what users rely on across those paths. */

/* Sizes around the edges: a frame (8 + n bytes) of a page less one, a
 * page, a page and one (several packets), two pages, four pages (the last
 * frame sent as packets), four pages and one (a padded stream), odd ones. */
static const size_t edge_sizes[] = { 0, 1, 64, 4087, 4088, 4089, 4096,
				     8184, 8185, 12345, 16376, 16377,
				     65536, 100000 };
#define NEDGE (sizeof(edge_sizes) / sizeof(edge_sizes[0]))

/* Small messages queued behind a long one keep their boundaries and rfd
 * shows each while it waits, whatever the long one's size. */
Test(chan, small_messages_behind_long_ones_keep_boundaries_and_rfd, .timeout = 60)
{
	struct pollfd p = { .events = POLLIN };
	unsigned char *r = malloc(100000);
	conc_chan *a, *b;

	cr_assert_not_null(r);
	pair(&a, &b, 0);
	p.fd = conc_chan_rfd(b);
	for (size_t i = 0; i < NEDGE; i++) {
		unsigned char *m = big(edge_sizes[i], (unsigned)i);

		cr_assert_eq(conc_chan_send(a, m, edge_sizes[i], BOUND), 0);
		send_str(a, "a");
		send_str(a, "bb");
		cr_assert_eq(conc_chan_recv(b, r, 100000, BOUND), (ssize_t)edge_sizes[i]);
		cr_assert(pattern_ok(r, edge_sizes[i], (unsigned)i), "size %zu", edge_sizes[i]);
		cr_assert_eq(poll(&p, 1, 0), 1, "size %zu", edge_sizes[i]);
		recv_str(b, "a");
		cr_assert_eq(poll(&p, 1, 0), 1, "size %zu: \"bb\" hidden", edge_sizes[i]);
		recv_str(b, "bb");
		cr_assert_eq(poll(&p, 1, 0), 0, "size %zu", edge_sizes[i]);
		cr_assert_eq(conc_chan_send(a, m, edge_sizes[i], BOUND), 0);
		send_str(a, "ccc");
		cr_assert_eq(conc_chan_recv(b, r, 100000, CONC_FOREVER), (ssize_t)edge_sizes[i]);
		cr_assert(pattern_ok(r, edge_sizes[i], (unsigned)i));
		cr_assert_eq(poll(&p, 1, 0), 1, "size %zu: \"ccc\" hidden", edge_sizes[i]);
		recv_str(b, "ccc");
		cr_assert_eq(poll(&p, 1, 0), 0, "size %zu: readable with nothing left",
			     edge_sizes[i]);
		free(m);
	}
	conc_chan_close(a);
	conc_chan_close(b);
	free(r);
}

/* A buffer too small for a long (padded) message: -EMSGSIZE, and the
 * next message comes whole. */
Test(chan, too_small_buffer_for_a_long_message_keeps_step, .timeout = 30)
{
	unsigned char *m = big(100000, 9);
	char buf[16];
	conc_chan *a, *b;

	pair(&a, &b, 0);
	for (size_t i = 3; i < NEDGE; i++) {
		cr_assert_eq(conc_chan_send(a, m, edge_sizes[i], BOUND), 0);
		send_str(a, "next");
		cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), CONC_FOREVER), -EMSGSIZE);
		recv_str(b, "next");
	}
	conc_chan_close(a);
	conc_chan_close(b);
	free(m);
}

/* Sends once thread tid, past go, is seen waiting in its receive. */
struct late_send {
	conc_chan *c;
	pid_t tid;
	uint32_t go;
	int seen;
};

static void *delayed_send(void *arg)
{
	static const long in_recv[] = { SYS_read, SYS_readv, SYS_ppoll, -1 };
	struct late_send *l = arg;

	l->seen = wait_blocked_in(l->tid, &l->go, in_recv, 30000);
	conc_chan_send(l->c, "hello", 5, BOUND);
	return NULL;
}

/* After a receive that waited without a timeout (in its read), receives
 * with a timeout still end at their deadline. Run in a child: a receive
 * that waits for ever fails the test instead of hanging it. */
static int timed_after_forever(void *arg)
{
	struct late_send l = { .tid = gettid() };
	conc_chan *a, *b;
	char buf[16];
	pthread_t t;
	int64_t t0;

	(void)arg;
	if (conc_chan_pair(&a, &b, 0))
		return 1;
	/* The receive below has to wait: the send comes once it does. */
	l.c = a;
	if (pthread_create(&t, NULL, delayed_send, &l))
		return 2;
	set_flag(&l.go, 1);
	if (conc_chan_recv(b, buf, sizeof(buf), CONC_FOREVER) != 5)
		return 3;
	pthread_join(t, NULL);
	if (!l.seen)
		return 9;	/* it never waited */
	if (conc_chan_recv(b, buf, sizeof(buf), 0) != -ETIMEDOUT)
		return 4;
	t0 = now_ns();
	if (conc_chan_recv(b, buf, sizeof(buf), MS(20)) != -ETIMEDOUT)
		return 5;
	if (now_ns() - t0 < MS(20))
		return 6;
	if (fcntl(conc_chan_rfd(b), F_GETFD) < 0 || poll(&(struct pollfd){
			.fd = conc_chan_rfd(b), .events = POLLIN }, 1, 0) != 0)
		return 7;
	if (conc_chan_send(a, "again", 5, BOUND) ||
	    conc_chan_recv(b, buf, sizeof(buf), 0) != 5)
		return 8;
	return 0;
}

Test(chan, timed_receives_after_a_waiting_one_still_time_out, .timeout = 30)
{
	cr_assert_eq(run_in_child(timed_after_forever, NULL, REAP_MS), 0);
}

/* The same processes ping-pong with no timeouts at all (every receive
 * waits in its read), messages of every edge size, then EOF. */
Test(chan, ping_pong_processes_without_timeouts, .timeout = 60)
{
	unsigned char *m = big(100000, 0), *r = malloc(100000);
	conc_chan *a, *b;
	pid_t pid;

	cr_assert_not_null(r);
	pid = pair_fork(&a, &b);
	if (pid == 0) {
		conc_chan_close(a);
		signal(SIGPIPE, SIG_DFL);
		for (;;) {
			ssize_t n = conc_chan_recv(b, r, 100000, CONC_FOREVER);

			if (n == -EPIPE)
				_exit(0);
			if (n < 0 || conc_chan_send(b, r, (size_t)n, CONC_FOREVER))
				_exit(1);
		}
	}
	conc_chan_close(b);
	for (int k = 0; k < 20; k++)
		for (size_t i = 0; i < NEDGE; i++) {
			size_t n = edge_sizes[i];

			pattern(m, n, (unsigned)(k + i));
			cr_assert_eq(conc_chan_send(a, m, n, CONC_FOREVER), 0);
			cr_assert_eq(conc_chan_recv(a, r, 100000, CONC_FOREVER), (ssize_t)n);
			cr_assert(pattern_ok(r, n, (unsigned)(k + i)), "size %zu", n);
		}
	conc_chan_close(a);
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
	free(m);
	free(r);
}

/* Both sides send all their large messages before they read, with no
 * timeouts: the sends take in what arrives while they wait. */
Test(chan, large_messages_both_ways_without_timeouts, .timeout = 60)
{
	both_ways_processes(CONC_FOREVER);
}

/* The peer goes away while a long message is on its way: the send fails
 * with -EPIPE and the process, SIGPIPE at its default, lives. */
static int send_long_to_leaving_peer(void *arg)
{
	conc_chan *a, *b;
	unsigned char *m = big(3 * MIB, 5);
	struct watch *w;
	pid_t pid;
	int r;

	(void)arg;
	signal(SIGPIPE, SIG_DFL);
	if (conc_chan_pair(&a, &b, 0))
		return 1;
	/* The send waits for room in its poll; nothing comes to a. */
	w = watch_start(a, 1);
	pid = test_fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		conc_chan_close(a);
		/* Leave once the send waits for room: the message is three
		 * times the pipe, so the send is part way through it. */
		cued(w, 0);
		_exit(0);
	}
	conc_chan_close(b);
	set_flag(&w->q->after[0], 1);
	r = conc_chan_send(a, m, 3 * MIB, CONC_FOREVER);
	if (!exited_with(wait_child(pid, REAP_MS), 0))
		return 3;
	if (watch_seen(w) != 1)
		return 7;	/* the send never waited */
	if (r != -EPIPE)
		return 4;
	if (conc_chan_send(a, "x", 1, CONC_FOREVER) != -EPIPE)
		return 5;
	if (sigpipe_pending())
		return 6;
	return 0;
}

Test(chan, peer_leaving_mid_message_gives_epipe_not_sigpipe, .timeout = 30)
{
	int r = run_in_child(send_long_to_leaving_peer, NULL, REAP_MS);

	cr_assert_eq(r, 0, "step %d", r);
}

/* A hand-built padded frame (flags 0x80: zero bytes up to a multiple of
 * the page size) cut short inside its pad: -ETIMEDOUT, then once the pad
 * is complete the message, and nothing more. */
Test(chan, padded_frame_cut_in_its_pad_resumes, .timeout = 30)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = page + 1000;
	size_t total = (8 + n + page - 1) / page * page, part = 8 + n + 100;
	unsigned char *f = calloc(1, total), *r = malloc(n);
	conc_chan *a, *b;

	cr_assert_not_null(f);
	cr_assert_not_null(r);
	pair(&a, &b, 0);
	frame_hdr(f, (uint32_t)n);
	f[3] = 0x80;
	pattern(f + 8, n, 4);
	raw_write(conc_chan_wfd(a), f, part);
	cr_assert_eq(conc_chan_recv(b, r, n, 0), -ETIMEDOUT);
	cr_assert_eq(conc_chan_recv(b, r, n, MS(10)), -ETIMEDOUT);
	raw_write(conc_chan_wfd(a), f + part, total - part);
	cr_assert_eq(conc_chan_recv(b, r, n, 0), (ssize_t)n);
	cr_assert(pattern_ok(r, n, 4));
	cr_assert_eq(conc_chan_recv(b, r, n, 0), -ETIMEDOUT, "the pad was taken for a message");
	send_str(a, "after");
	recv_str(b, "after");
	conc_chan_close(a);
	conc_chan_close(b);
	free(f);
	free(r);
}

/* ---- a hostile peer (see also fuzz/fuzz_chan.c) ---- */

/* An empty message in a padded frame, into no buffer at all: the pad is
 * not the message's (it was copied to the NULL buffer, size 0: UB). */
Test(chan, padded_empty_frame_into_no_buffer, .timeout = 30)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *f = calloc(1, page);
	conc_chan *a, *b;

	cr_assert_not_null(f);
	pair(&a, &b, 0);
	frame_hdr(f, 0);
	f[3] = 0x80;
	raw_write(conc_chan_wfd(a), f, page);
	send_str(a, "next");
	cr_assert_eq(conc_chan_recv(b, NULL, 0, BOUND), 0);
	recv_str(b, "next");
	conc_chan_close(a);
	conc_chan_close(b);
	free(f);
}

/* Receive on c with timeout tmo: -ETIMEDOUT, and not before tmo. */
static void times_out(conc_chan *c, void *buf, size_t cap, int64_t tmo)
{
	int64_t t0 = now_ns();

	cr_assert_eq(conc_chan_recv(c, buf, cap, tmo), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, tmo, "returned before its timeout");
}

/* A child writes a torn frame, stalls until told, then dies in it: the
 * parent's receives time out (not early) while it stalls, then -EPROTO,
 * for good; the parent's sends are unaffected. */
/* In a child: the header of a len-byte frame and 10 bytes of it. */
static int torn_frame(conc_chan *a, uint32_t len)
{
	unsigned char f[8 + 10];

	frame_hdr(f, len);
	memset(f + 8, 'z', 10);
	return write(conc_chan_wfd(a), f, sizeof(f)) == sizeof(f) ? 0 : -1;
}

Test(chan, peer_stalls_then_dies_mid_frame, .timeout = 30)
{
	conc_chan *a, *b;
	char buf[64];
	pid_t pid = pair_fork(&a, &b);

	if (pid == 0) {
		conc_chan_close(b);
		if (torn_frame(a, 100000))
			_exit(1);
		_exit(conc_chan_recv(a, buf, sizeof(buf), BOUND) == 2 ? 0 : 2);
	}
	conc_chan_close(a);
	times_out(b, buf, sizeof(buf), MS(30));	/* discarding */
	times_out(b, buf, sizeof(buf), 0);
	send_str(b, "go");
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), CONC_FOREVER), -EPROTO);
	expect_broken(b);
	cr_assert_eq(conc_chan_send(b, "x", 1, BOUND), -EPIPE);
	conc_chan_close(b);
}

/* Garbage from a live peer: receiving is over, sending is not. */
Test(chan, garbage_from_a_live_peer_leaves_sending_working, .timeout = 30)
{
	static const char junk[] = "GET / HTTP/1.1\r\n\r\n";
	conc_chan *a, *b;
	char buf[64];
	pid_t pid = pair_fork(&a, &b);

	if (pid == 0) {
		conc_chan_close(b);
		if (write(conc_chan_wfd(a), junk, sizeof(junk)) != sizeof(junk))
			_exit(1);
		if (conc_chan_recv(a, buf, sizeof(buf), BOUND) != 5 ||
		    memcmp(buf, "after", 5))
			_exit(2);
		_exit(0);
	}
	conc_chan_close(a);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), CONC_FOREVER), -EPROTO);
	send_str(b, "after");
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
	expect_broken(b);
	conc_chan_close(b);
}

/* A receive with no timeout that waits inside its blocking read: the
 * peer dying (without a close call) ends it, -EPIPE between frames,
 * -EPROTO within one. */
static void forever_recv_peer_dies(bool mid_frame)
{
	conc_chan *a, *b;
	char buf[64];
	struct watch *w;
	pid_t pid;

	pair(&a, &b, 0);
	/* Mid-frame: it waits for the frame, then for the rest of it. */
	w = watch_start(b, mid_frame ? 2 : 1);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		conc_chan_close(b);
		cued(w, 0);
		if (mid_frame) {
			if (torn_frame(a, 1000))
				_exit(1);
			set_flag(&w->q->after[1], 1);
			cued(w, 1);
		}
		_exit(0);
	}
	conc_chan_close(a);
	set_flag(&w->q->after[0], 1);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), CONC_FOREVER),
		     mid_frame ? -EPROTO : -EPIPE);
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
	watch_end(w);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), CONC_FOREVER),
		     mid_frame ? -EPROTO : -EPIPE);
	conc_chan_close(b);
}

Test(chan, forever_recv_peer_dies_between_frames_is_epipe, .timeout = 30)
{
	forever_recv_peer_dies(false);
}

Test(chan, forever_recv_peer_dies_mid_frame_is_eproto, .timeout = 30)
{
	forever_recv_peer_dies(true);
}

/* A peer that writes a frame a byte at a time (each byte a packet in
 * the packet pipe), then a long one in odd pieces, slowly: every receive
 * with a timeout returns in time, the messages come out whole. */
static int dribble(void *arg)
{
	conc_chan *a = arg;
	unsigned char *f = malloc(8 + 20000);
	int fd = conc_chan_wfd(a);
	size_t k, n;

	if (!f)
		return 1;
	frame_hdr(f, 100);
	pattern(f + 8, 100, 1);
	for (k = 0; k < 8 + 100; k++) {
		if (write(fd, f + k, 1) != 1)
			return 2;
		if (k % 16 == 0)
			sleep_ns(MS(1));
	}
	frame_hdr(f, 20000);
	pattern(f + 8, 20000, 2);
	for (k = 0; k < 8 + 20000; k += n) {
		n = 8 + 20000 - k < 1237 ? 8 + 20000 - k : 1237;
		if (write(fd, f + k, n) != (ssize_t)n)
			return 3;
		sleep_ns(MS(1));
	}
	free(f);
	return conc_chan_send(a, "end", 3, BOUND) ? 4 : 0;
}

Test(chan, timeouts_hold_while_a_peer_dribbles, .timeout = 60)
{
	unsigned char *r = malloc(20000);
	conc_chan *a, *b;
	size_t want[] = { 100, 20000 };
	ssize_t got;
	pid_t pid;
	int i, tries;

	cr_assert_not_null(r);
	pair(&a, &b, 0);
	pid = fork_child(dribble, a);
	cr_assert_geq(pid, 0);
	conc_chan_close(a);
	for (i = 0; i < 2; i++) {
		for (tries = 0; tries < 20000; tries++) {
			int64_t t0 = now_ns();

			got = conc_chan_recv(b, r, 20000, MS(2));
			if (got != -ETIMEDOUT)
				break;
			cr_assert_geq(now_ns() - t0, MS(2), "returned before its timeout");
		}
		cr_assert_eq(got, (ssize_t)want[i]);
		cr_assert(pattern_ok(r, want[i], (unsigned)i + 1));
	}
	recv_str(b, "end");
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
	cr_assert_eq(conc_chan_recv(b, r, 20000, BOUND), -EPIPE);
	conc_chan_close(b);
	free(r);
}

/* Two threads share a receiving end fed valid frames, then garbage: each
 * gets whole messages, timeouts or -EPROTO, and -EPROTO for good once it
 * came; between them they get every message sent before the garbage. */
#define SHARED_MSGS 200

struct sharer {
	conc_chan *c;
	int got, bad;
	long first_bad, at;	/* the first bad result and where (k, -1: the end) */
};

static void sharer_bad(struct sharer *s, long r, long at)
{
	if (!s->bad++) {
		s->first_bad = r;
		s->at = at;
	}
}

static void *hostile_sharer(void *arg)
{
	struct sharer *s = arg;
	unsigned char buf[5000];
	int k;
	ssize_t r = 0;

	for (k = 0; k < 100000 && r != -EPROTO; k++) {
		r = conc_chan_recv(s->c, buf, sizeof(buf), MS(1));
		if (r >= 0) {
			unsigned seed = buf[0] | (unsigned)buf[1] << 8;

			if (r < 2 || !pattern_ok(buf + 2, (size_t)r - 2, seed))
				sharer_bad(s, r, k);
			s->got++;
		} else if (r != -ETIMEDOUT && r != -EPROTO) {
			sharer_bad(s, r, k);
		}
		/* The lock is not fair: without a pause the sharer that
		 * just had the end takes it again, and the others (and the
		 * hand-over of a part that a timeout kept) never get it. */
		conc_sleep(50000);
	}
	if (r != -EPROTO)
		sharer_bad(s, r, k);
	/* Timeout 0 only tries the lock, which the other sharer may hold:
	 * -EPROTO all the same (chan_recv.c). */
	else if ((r = conc_chan_recv(s->c, buf, sizeof(buf), 0)) != -EPROTO)
		sharer_bad(s, r, -1);
	return NULL;
}

static int sharer_task(void *arg)
{
	hostile_sharer(arg);
	return 0;
}

/* Two tasks of one loop share the end (a receive that waits for the rest
 * of a message suspends its task holding the end; the other task then
 * waits for it in the loop). */
static int two_sharer_tasks(void *arg)
{
	struct sharer *s = arg;
	conc_task *t[2];

	if (conc_go(&t[0], sharer_task, &s[0], NULL) ||
	    conc_go(&t[1], sharer_task, &s[1], NULL))
		return 1;
	return conc_gather(t, 2, NULL, 0, BOUND) ? 2 : 0;
}

static void *sharer_loop(void *arg)
{
	int code = -1, r = conc_run(two_sharer_tasks, arg, &code);

	return (void *)(intptr_t)(r ? r : code);
}

/* A raw write once wfd has room: wfd does not block, and sharers that
 * have not run yet may leave the pipe full (a slot for each packet). */
static void raw_write_room(int fd, const void *p, size_t n)
{
	struct pollfd q = { .fd = fd, .events = POLLOUT };

	cr_assert_eq(poll(&q, 1, 20000), 1, "the sharers never drained the pipe");
	raw_write(fd, p, n);
}

/* The frame of m as conc sends it into a packet pipe (a page, then the
 * rest), with a pause between the two that outlasts the sharers' 1 ms
 * timeouts: the one that holds the end keeps the first part, and the
 * next to get the end takes the message up. */
static void send_split(conc_chan *a, const unsigned char *m, size_t len)
{
	unsigned char f[8 + 4500];
	int left = 1, k;

	/* Once the sharers caught up, one of them waits for this frame. */
	for (k = 0; k < 200000 && left; k++) {
		cr_assert_eq(ioctl(conc_chan_wfd(a), FIONREAD, &left), 0);
		if (left)
			sleep_ns(100000);
	}
	frame_hdr(f, (uint32_t)len);
	memcpy(f + 8, m, len);
	raw_write_room(conc_chan_wfd(a), f, 4096);
	sleep_ns(MS(2));
	raw_write_room(conc_chan_wfd(a), f + 4096, 8 + len - 4096);
}

/* nthreads plain threads share the end, and with tasks two tasks of a
 * loop on another thread. */
static void shared_garbage(int nthreads, bool tasks)
{
	unsigned char m[4500];
	struct sharer s[4];
	pthread_t t[3];
	conc_chan *a, *b;
	void *ret;
	int i, n = nthreads + (tasks ? 2 : 0);

	if (tasks && !(conc_features() & CONC_FEAT_IO_URING))
		cr_skip_test("io_uring is not available in this kernel");
	pair(&a, &b, 0);
	for (i = 0; i < n; i++)
		s[i] = (struct sharer){ .c = b };
	for (i = 0; i < nthreads; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, hostile_sharer, &s[i]), 0);
	if (tasks)
		cr_assert_eq(pthread_create(&t[i], NULL, sharer_loop, &s[i]), 0);
	for (i = 0; i < SHARED_MSGS; i++) {
		size_t len = 2 + (size_t)i * 97 % 4400;

		m[0] = (unsigned char)i;
		m[1] = (unsigned char)(i >> 8);
		pattern(m + 2, len - 2, (unsigned)i);
		if (8 + len > 4096 && i % 5 == 0 && sysconf(_SC_PAGESIZE) == 4096)
			send_split(a, m, len);
		else
			cr_assert_eq(conc_chan_send(a, m, len, BOUND), 0);
	}
	raw_write_room(conc_chan_wfd(a), "Cc\1\1junk", 8);
	for (i = 0; i < nthreads + (tasks ? 1 : 0); i++) {
		cr_assert_eq(join_thread(t[i], 30000, &ret), 0);
		cr_assert_null(ret, "the loop: %ld", (long)(intptr_t)ret);
	}
	for (i = 0; i < n; i++)
		cr_assert_eq(s[i].bad, 0, "sharer %d: %d bad, the first %ld at %ld",
			     i, s[i].bad, s[i].first_bad, s[i].at);
	for (i = 1; i < n; i++)
		s[0].got += s[i].got;
	cr_assert_eq(s[0].got, SHARED_MSGS);
	send_str(b, "still sends");
	recv_str(a, "still sends");
	conc_chan_close(a);
	conc_chan_close(b);
}

Test(chan, threads_sharing_an_end_meet_garbage, .timeout = 60)
{
	shared_garbage(2, false);
}

Test(chan, tasks_and_a_thread_sharing_an_end_meet_garbage, .timeout = 60)
{
	shared_garbage(1, true);
}

/* Once an end is broken, a receive that finds another thread's receive
 * holding the end (here a timeout of 0, which only tries the lock) still
 * says -EPROTO, never -ETIMEDOUT: the end is over for every sharer. So
 * is a torn sending side: -EPIPE for every later send. */
#define BROKEN_TRIES 200000

struct broken_sharer {
	conc_chan *c;
	int *go;
	bool send;
	int other;
};

static void *broken_sharer(void *arg)
{
	struct broken_sharer *s = arg;
	char buf[64];
	long r;
	int k, spins;

	__atomic_add_fetch(s->go, 1, __ATOMIC_RELAXED);
	for (spins = 0; spins < 100000000 &&
	     __atomic_load_n(s->go, __ATOMIC_RELAXED) < 2; spins++)
		;
	for (k = 0; k < BROKEN_TRIES; k++) {
		r = s->send ? conc_chan_send(s->c, "x", 1, 0)
			    : conc_chan_recv(s->c, buf, sizeof(buf), 0);
		if (r != (s->send ? -EPIPE : -EPROTO))
			s->other++;
	}
	return NULL;
}

/* Two threads hammer end c with calls that must all fail the same way. */
static void broken_sharers(conc_chan *c, bool send)
{
	struct broken_sharer s[2];
	pthread_t t[2];
	int i, go = 0;

	for (i = 0; i < 2; i++) {
		s[i] = (struct broken_sharer){ .c = c, .go = &go, .send = send };
		cr_assert_eq(pthread_create(&t[i], NULL, broken_sharer, &s[i]), 0);
	}
	for (i = 0; i < 2; i++)
		cr_assert_eq(join_thread(t[i], 30000, NULL), 0);
	cr_assert_eq(s[0].other + s[1].other, 0);
}

Test(chan, a_broken_end_says_eproto_to_every_sharer, .timeout = 60)
{
	conc_chan *a, *b;

	pair(&a, &b, 0);
	raw_write(conc_chan_wfd(a), "Cc\1\1junk", 8);
	cr_assert_eq(conc_chan_recv(b, NULL, 0, BOUND), -EPROTO);
	broken_sharers(b, false);
	conc_chan_close(a);
	conc_chan_close(b);
}

Test(chan, a_torn_send_says_epipe_to_every_sharer, .timeout = 60)
{
	size_t n = 4 * MIB;	/* beyond the pipe: the send is cut short */
	unsigned char *m = big(n, 1);
	conc_chan *a, *b;

	pair(&a, &b, 0);
	/* Not 0: a send that only tries does not begin it. */
	cr_assert_eq(conc_chan_send(a, m, n, MS(20)), -ETIMEDOUT);
	broken_sharers(a, true);
	cr_assert_eq(conc_chan_wfd(a), -EPIPE);
	conc_chan_close(a);
	conc_chan_close(b);
	free(m);
}

/* A child that only closes its copies of both ends leaves the pair as it
 * was: the child's close is no close of the ends. */
Test(chan, fork_and_close_in_the_child_changes_nothing, .timeout = 30)
{
	conc_chan *a, *b;
	pid_t pid = pair_fork(&a, &b);

	if (pid == 0) {
		conc_chan_close(a);
		conc_chan_close(b);
		_exit(0);
	}
	cr_assert(exited_with(wait_child(pid, REAP_MS), 0));
	send_str(a, "a to b");
	send_str(b, "b to a");
	recv_str(b, "a to b");
	recv_str(a, "b to a");
	conc_chan_close(a);
	cr_assert_eq(conc_chan_recv(b, NULL, 0, BOUND), -EPIPE);
	cr_assert_eq(conc_chan_send(b, "x", 1, BOUND), -EPIPE);
	conc_chan_close(b);
}

/* A header that announces the largest message, then a page and the end:
 * -ETIMEDOUT while it may still come (what came is kept, no more), then
 * -EPROTO, whether the buffer takes the message or not. */
static void max_header_then_close(size_t cap)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *f = calloc(1, page), *r = malloc(cap ? cap : 1);
	conc_chan *a, *b;

	cr_assert_not_null(f);
	cr_assert_not_null(r);
	pair(&a, &b, 0);
	frame_hdr(f, CONC_CHAN_MAX_MSG);
	raw_write(conc_chan_wfd(a), f, page);
	times_out(b, r, cap, 0);
	times_out(b, r, cap, MS(10));
	conc_chan_close(a);
	cr_assert_eq(conc_chan_recv(b, r, cap, BOUND), -EPROTO);
	expect_broken(b);
	conc_chan_close(b);
	free(f);
	free(r);
}

Test(chan, max_size_header_then_close_is_eproto, .timeout = 30)
{
	max_header_then_close(CONC_CHAN_MAX_MSG);
	max_header_then_close(16);
}

/* A one-way pair: garbage into the receiving end breaks it; the sending
 * end does not receive, the receiving one does not send. */
Test(chan, oneway_garbage_is_eproto, .timeout = 30)
{
	conc_chan *a, *b;
	char buf[16];

	pair(&a, &b, CONC_CHAN_ONEWAY);
	send_str(b, "first");
	raw_write(conc_chan_wfd(b), "not a frame", 11);
	recv_str(a, "first");
	cr_assert_eq(conc_chan_recv(a, buf, sizeof(buf), BOUND), -EPROTO);
	expect_broken(a);
	cr_assert_eq(conc_chan_send(a, "x", 1, 0), -EBADF);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), 0), -EBADF);
	conc_chan_close(b);
	cr_assert_eq(conc_chan_recv(a, buf, sizeof(buf), 0), -EPROTO);
	conc_chan_close(a);
}

/* A kernel without one of the per-call flags of pwritev2/preadv2, forced:
 * a seccomp filter fails the call nr with -EOPNOTSUPP when its flags
 * (the sixth argument) hold flag, as such a kernel does. */
static int refuse_flag(long nr, uint32_t flag)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[5])),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, flag, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EOPNOTSUPP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof(f) / sizeof(f[0])), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) ? -1 : 0;
}

/* The send's SIGPIPE fallback (kernels without RWF_NOSIGNAL, Linux 6.18),
 * forced. With SIGPIPE at its default (or a handler), a send to a closed
 * peer returns -EPIPE, the process lives, and the mask and pending set
 * are as they were; sends to a live peer go on working. */
static int refuse_nosignal(void)
{
	return refuse_flag(SYS_pwritev2, 0x100 /* RWF_NOSIGNAL */);
}

static int sigpipe_fallback(void *arg)
{
	unsigned char *m = big(3 * MIB, 9), *r = malloc(3 * MIB);
	conc_chan *a, *b;
	uint64_t mask;
	pid_t pid;

	(void)arg;
	if (!r || refuse_nosignal())
		return 1;
	signal(SIGPIPE, SIG_DFL);
	mask = sigmask_now();
	if (conc_chan_pair(&a, &b, 0))
		return 2;
	/* Through the fallback, a message of any size still goes. */
	pid = test_fork();
	if (pid == 0) {
		ssize_t n = conc_chan_recv(b, r, 3 * MIB, BOUND);

		_exit(n == 3 * MIB && pattern_ok(r, 3 * MIB, 9) ? 0 : 1);
	}
	if (pid < 0 || conc_chan_send(a, m, 3 * MIB, BOUND) ||
	    !exited_with(wait_child(pid, REAP_MS), 0))
		return 3;
	conc_chan_close(b);
	if (conc_chan_send(a, "x", 1, 0) != -EPIPE ||
	    conc_chan_send(a, m, 3 * MIB, BOUND) != -EPIPE)
		return 4;
	signal(SIGPIPE, on_sigpipe);
	if (conc_chan_send(a, "x", 1, CONC_FOREVER) != -EPIPE || sigpipe_seen)
		return 5;
	if (sigmask_now() != mask || sigpipe_pending())
		return 6;
	conc_chan_close(a);
	return 0;
}

/* fn in a child, where it forces a fallback: 0, or the step that
 * failed (-1: killed, by SIGPIPE?). */
static void in_fallback_child(int (*fn)(void *))
{
	int r;

	if (!seccomp_available())
		cr_skip_test("no seccomp filters here");
	r = run_in_child(fn, NULL, REAP_MS);
	cr_assert_eq(r, 0, "step %d (-1: killed, by SIGPIPE?)", r);
}

Test(chan, sigpipe_fallback_forced_raises_none, .timeout = 30)
{
	in_fallback_child(sigpipe_fallback);
}

/* Reads without RWF_NOWAIT (a kernel whose pipes refuse it), forced: rfd
 * is then never made blocking, so a receive with a timeout still ends at
 * it and one without waits in the wait point; messages short and long
 * still cross whole, and the peer's end shows as -EPIPE. */
static int nowait_fallback(void *arg)
{
	unsigned char *m = big(3 * MIB, 4), *r = malloc(3 * MIB);
	char buf[16];
	conc_chan *a, *b;
	pid_t pid;
	ssize_t n;
	int fl;

	(void)arg;
	if (!r || refuse_flag(SYS_preadv2, 0x8 /* RWF_NOWAIT */))
		return 1;
	if (conc_chan_pair(&a, &b, 0))
		return 2;
	if (conc_chan_recv(a, buf, sizeof(buf), MS(20)) != -ETIMEDOUT)
		return 3;
	pid = test_fork();
	if (pid == 0) {
		n = conc_chan_recv(b, r, 3 * MIB, CONC_FOREVER);
		_exit(n == 3 * MIB && pattern_ok(r, 3 * MIB, 4) &&
		      !conc_chan_send(b, "pong", 4, BOUND) &&
		      !conc_chan_send(b, r, 3 * MIB, BOUND) ? 0 : 1);
	}
	conc_chan_close(b);
	memset(r, 0, 3 * MIB);
	if (pid < 0 || conc_chan_send(a, m, 3 * MIB, BOUND) ||
	    conc_chan_recv(a, buf, sizeof(buf), CONC_FOREVER) != 4 ||
	    memcmp(buf, "pong", 4) ||
	    conc_chan_recv(a, r, 3 * MIB, CONC_FOREVER) != 3 * MIB ||
	    !pattern_ok(r, 3 * MIB, 4))
		return 4;
	if (!exited_with(wait_child(pid, REAP_MS), 0))
		return 5;
	if (conc_chan_recv(a, buf, sizeof(buf), CONC_FOREVER) != -EPIPE)
		return 6;
	fl = fcntl(conc_chan_rfd(a), F_GETFL);
	if (fl < 0 || !(fl & O_NONBLOCK))
		return 7;
	if (conc_chan_recv(a, buf, sizeof(buf), MS(20)) != -EPIPE)
		return 8;
	conc_chan_close(a);
	return 0;
}

Test(chan, reads_without_rwf_nowait_keep_rfd_nonblocking, .timeout = 30)
{
	in_fallback_child(nowait_fallback);
}

/* A send that finds no room with its deadline passed takes one look: it
 * takes in at most one read of what the peer sent, not all that keeps
 * coming (a peer writing as fast as the send reads would hold it past its
 * deadline, up to the 64 MiB it may take in). */
Test(chan, send_past_its_deadline_does_not_drain_the_peer, .timeout = 30)
{
	struct pollfd p = { .events = POLLIN };
	unsigned char m[4000] = { 0 };
	conc_chan *a, *b;
	int i;

	pair(&a, &b, 0);
	for (i = 0; conc_chan_send(a, m, sizeof(m), 0) == 0; i++)
		cr_assert_lt(i, 100000);
	for (i = 0; i < 200; i++)
		cr_assert_eq(conc_chan_send(b, NULL, 0, 0), 0);
	cr_assert_eq(conc_chan_send(a, "x", 1, 0), -ETIMEDOUT);
	p.fd = conc_chan_rfd(a);
	cr_assert_eq(poll(&p, 1, 0), 1, "the send drained the peer's messages");
	for (i = 0; i < 200; i++)
		cr_assert_eq(conc_chan_recv(a, NULL, 0, 0), 0);
	cr_assert_eq(conc_chan_recv(a, NULL, 0, 0), -ETIMEDOUT);
	while (conc_chan_recv(b, m, sizeof(m), 0) == (ssize_t)sizeof(m))
		;
	conc_chan_close(a);
	cr_assert_eq(conc_chan_recv(b, m, sizeof(m), BOUND), -EPIPE);
	conc_chan_close(b);
}

/* A frame that waits in the pipe as a header and 200 one-byte packets: a
 * receive whose deadline passed stops at a dribble, leaving the rest in
 * the pipe (a peer writing bytes as fast as they are read would hold it
 * past its deadline); receives with timeout 0 put the message (or its
 * discarding) together, and one with time to spare takes it whole. */
static void dribbled_frame(int fd, unsigned seed)
{
	unsigned char f[8 + 200];
	int k;

	frame_hdr(f, 200);
	pattern(f + 8, 200, seed);
	raw_write(fd, f, 8);
	for (k = 0; k < 200; k++)
		raw_write(fd, f + 8 + k, 1);
}

static void dribble_past_deadline(size_t cap)
{
	struct pollfd p = { .events = POLLIN };
	unsigned char r[200];
	conc_chan *a, *b;
	ssize_t got = -ETIMEDOUT;
	int k;

	pair(&a, &b, 0);
	p.fd = conc_chan_rfd(b);
	dribbled_frame(conc_chan_wfd(a), 1);
	cr_assert_eq(conc_chan_recv(b, r, cap, 0), -ETIMEDOUT);
	cr_assert_eq(poll(&p, 1, 0), 1, "the receive read on past its deadline");
	for (k = 0; k < 1000 && got == -ETIMEDOUT; k++)
		got = conc_chan_recv(b, r, cap, 0);
	cr_assert_eq(got, cap < 200 ? -EMSGSIZE : 200);
	cr_assert(cap < 200 || pattern_ok(r, 200, 1));
	dribbled_frame(conc_chan_wfd(a), 2);
	cr_assert_eq(conc_chan_recv(b, r, sizeof(r), BOUND), 200);
	cr_assert(pattern_ok(r, 200, 2));
	cr_assert_eq(conc_chan_recv(b, r, sizeof(r), 0), -ETIMEDOUT);
	conc_chan_close(a);
	conc_chan_close(b);
}

Test(chan, receive_past_its_deadline_stops_at_a_dribble, .timeout = 30)
{
	dribble_past_deadline(200);
}

Test(chan, discard_past_its_deadline_stops_at_a_dribble, .timeout = 30)
{
	dribble_past_deadline(10);
}

/* The fallback in tasks of a loop: a send that waits for room is a task
 * that yields, and another task of the same thread may send meanwhile.
 * Task x waits with a timeout, task y waits for a reader that then goes;
 * x timing out first must not leave y's write with SIGPIPE unblocked. */
static int timed_sender(void *arg)
{
	unsigned char m[4000] = { 0 };

	return conc_chan_send(arg, m, sizeof(m), MS(30)) == -ETIMEDOUT ? 0 : 1;
}

static int epipe_sender(void *arg)
{
	unsigned char m[4000] = { 0 };

	return conc_chan_send(arg, m, sizeof(m), BOUND) == -EPIPE ? 0 : 2;
}

struct two_pairs {
	conc_chan *a[2], *b[2];
};

static int two_senders(void *arg)
{
	struct two_pairs *t = arg;
	conc_task *x, *y;
	int ex = 1, ey = 2;

	if (conc_go(&x, timed_sender, t->a[0], NULL) ||
	    conc_go(&y, epipe_sender, t->a[1], NULL))
		return 3;
	conc_sleep(MS(100));	/* x timed out meanwhile; y waits on */
	conc_chan_close(t->b[1]);
	if (conc_task_join(x, &ex, BOUND) || conc_task_join(y, &ey, BOUND))
		return 4;
	return ex | ey;
}

static int sigpipe_fallback_tasks(void *arg)
{
	unsigned char m[4000] = { 0 };
	struct two_pairs t;
	uint64_t mask;
	int i, k, code = 5, r;

	(void)arg;
	if (refuse_nosignal())
		return 10;
	signal(SIGPIPE, SIG_DFL);
	mask = sigmask_now();
	for (i = 0; i < 2; i++) {
		if (conc_chan_pair(&t.a[i], &t.b[i], 0))
			return 11;
		for (k = 0; conc_chan_send(t.a[i], m, sizeof(m), 0) == 0; k++)
			if (k > 100000)
				return 12;
	}
	r = conc_run(two_senders, &t, &code);
	if (r == -ENOSYS)
		return 0;	/* no io_uring here: no loop to test */
	if (r || code)
		return 20 + code;
	return sigmask_now() != mask || sigpipe_pending() ? 13 : 0;
}

Test(chan, sigpipe_fallback_in_tasks_raises_none, .timeout = 30)
{
	in_fallback_child(sigpipe_fallback_tasks);
}

/* A task cancelled while it receives, in the middle of a frame a peer
 * stalls in: -ECANCELED, the part that came is kept, and the next
 * receive gets the message whole. The same while it throws a message
 * too long for it away: then -EMSGSIZE and the next message. */
struct cancel_case {
	conc_chan *a, *b;
	size_t cap;
};

static int cancelled_recv(void *arg)
{
	struct cancel_case *k = arg;
	unsigned char buf[3000];

	return (int)-conc_chan_recv(k->b, buf, k->cap, CONC_FOREVER);
}

static int cancel_mid_frame(void *arg)
{
	struct cancel_case *k = arg;
	unsigned char f[8 + 3000], r[3000];
	conc_task *t;
	int code = 0;

	frame_hdr(f, 3000);
	pattern(f + 8, 3000, 6);
	if (write(conc_chan_wfd(k->a), f, 1000) != 1000 ||
	    conc_go(&t, cancelled_recv, k, NULL))
		return 1;
	conc_sleep(MS(20));
	if (conc_task_cancel(t) || conc_task_join(t, &code, BOUND))
		return 2;
	if (code != ECANCELED)
		return 3;
	if (write(conc_chan_wfd(k->a), f + 1000, sizeof(f) - 1000) !=
	    sizeof(f) - 1000)
		return 4;
	if (k->cap < 3000)
		return conc_chan_recv(k->b, r, k->cap, BOUND) == -EMSGSIZE &&
		       conc_chan_send(k->a, "x", 1, BOUND) == 0 &&
		       conc_chan_recv(k->b, r, k->cap, BOUND) == 1 ? 0 : 5;
	return conc_chan_recv(k->b, r, sizeof(r), BOUND) == 3000 &&
	       pattern_ok(r, 3000, 6) ? 0 : 6;
}

static void cancel_case_run(size_t cap)
{
	struct cancel_case k = { .cap = cap };
	int r, code = -1;

	pair(&k.a, &k.b, 0);
	r = conc_run(cancel_mid_frame, &k, &code);
	if (r != -ENOSYS) {
		cr_assert_eq(r, 0);
		cr_assert_eq(code, 0, "step %d", code);
	}
	conc_chan_close(k.a);
	conc_chan_close(k.b);
}

Test(chan, task_cancelled_mid_frame_keeps_step, .timeout = 30)
{
	cancel_case_run(3000);
	cancel_case_run(10);
}

/* Messages a waiting send took in, part of a long one among them (to an
 * odd byte of a page), are whole for receives with timeout 0: the rest of
 * the long one comes in one read across its pages, no dribble
 * (chan_recv.c). */
Test(chan, long_message_partly_taken_in_is_received_at_timeout_zero, .timeout = 30)
{
	unsigned char m[4000] = { 0 }, *big_in = big(40000, 8), *r = malloc(40000);
	conc_chan *a, *b;
	int i;

	cr_assert_not_null(r);
	pair(&a, &b, 0);
	for (i = 0; conc_chan_send(a, m, sizeof(m), 0) == 0; i++)
		cr_assert_lt(i, 100000);
	send_str(b, "hello");
	cr_assert_eq(conc_chan_send(b, big_in, 40000, BOUND), 0);
	/* Each send takes in one read, then times out: "hello", a page of
	 * the long one, then as much as rbuf has room for (not all). */
	for (i = 0; i < 3; i++)
		cr_assert_eq(conc_chan_send(a, "x", 1, 0), -ETIMEDOUT);
	cr_assert_eq(conc_chan_recv(a, r, 40000, 0), 5);
	cr_assert_eq(conc_chan_recv(a, r, 40000, 0), 40000);
	cr_assert(pattern_ok(r, 40000, 8));
	cr_assert_eq(conc_chan_recv(a, r, 40000, 0), -ETIMEDOUT);
	conc_chan_close(a);
	conc_chan_close(b);
	free(big_in);
	free(r);
}
