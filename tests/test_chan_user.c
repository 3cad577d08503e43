/* test_chan_user.c — conc_chan as a user's program calls it, one promise
 * of conc_chan_pair(3) at a time: sizes at the limits, buffers too small,
 * timeouts of every sign, a message whole in the pipe taken with timeout
 * 0, many senders on one end, and the same calls from conc threads and
 * coroutine tasks (only the task waits; a cancel gives -ECANCELED once).
 * Every wait is bounded; children leave with _exit(). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <conc.h>
#include "helpers.h"
#include "loop_helpers.h"


static void pair(conc_chan **a, conc_chan **b, unsigned flags)
{
	cr_assert_eq(conc_chan_pair(a, b, flags), 0);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 7 + seed + (i >> 12));
}

static int same(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 7 + seed + (i >> 12)))
			return 0;
	return 1;
}

/* ---- sizes and buffers ---- */

Test(chan_user, one_byte_over_the_limit_is_emsgsize_and_sends_nothing)
{
	conc_chan *a, *b;
	char c = 'c';

	pair(&a, &b, 0);
	cr_assert_eq(conc_chan_send(a, &c, (size_t)CONC_CHAN_MAX_MSG + 1, 0),
		     -EMSGSIZE);
	cr_assert_eq(conc_chan_send(a, &c, SIZE_MAX, CONC_FOREVER), -EMSGSIZE);
	cr_assert_eq(conc_chan_send(a, &c, (size_t)UINT32_MAX + 2, 0), -EMSGSIZE);
	cr_assert_eq(conc_chan_recv(b, &c, 1, 0), -ETIMEDOUT);
	cr_assert_eq(conc_chan_send(a, "k", 1, 0), 0);
	cr_assert_eq(conc_chan_recv(b, &c, 1, 0), 1);
	conc_chan_close(a);
	conc_chan_close(b);
}

/* A message one byte longer than the buffer is thrown away, whatever its
 * size (one packet, packets, a stream); the next is received. */
Test(chan_user, a_buffer_one_byte_short_loses_that_message_only, .timeout = 60)
{
	size_t sizes[] = { 1, 100, 4088, 4089, 8000, 16384, 16385, 200000 };
	unsigned char *m = malloc(200000), *r = malloc(200000);
	conc_chan *a, *b;

	cr_assert(m && r);
	pair(&a, &b, 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];

		fill(m, n, (unsigned)i);
		cr_assert_eq(conc_chan_send(a, m, n, BOUND), 0);
		cr_assert_eq(conc_chan_send(a, m, n, BOUND), 0);
		cr_assert_eq(conc_chan_recv(b, n == 1 ? NULL : r, n - 1, BOUND),
			     -EMSGSIZE, "size %zu", n);
		memset(r, 0, n);
		cr_assert_eq(conc_chan_recv(b, r, n, BOUND), (ssize_t)n, "size %zu", n);
		cr_assert(same(r, n, (unsigned)i), "size %zu", n);
	}
	cr_assert_eq(conc_chan_recv(b, r, 1, 0), -ETIMEDOUT);
	conc_chan_close(a);
	conc_chan_close(b);
	free(m);
	free(r);
}

/* "It returns once the whole message is in the pipe": a message that
 * fits in the pipe is then there, whole, and a receive with timeout 0
 * takes it in one call, whatever its size. */
Test(chan_user, a_sent_message_is_received_whole_with_timeout_zero, .timeout = 60)
{
	size_t sizes[] = { 0, 1, 4088, 4089, 4096, 12000, 16377, 16384, 65536,
			   300000 };
	unsigned char *m = malloc(300000), *r = malloc(300000);
	conc_chan *a, *b;

	cr_assert(m && r);
	pair(&a, &b, 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];

		fill(m, n, (unsigned)i + 3);
		cr_assert_eq(conc_chan_send(a, m, n, BOUND), 0);
		cr_assert_eq(conc_chan_send(b, m, n, BOUND), 0);
		cr_assert_eq(conc_chan_recv(b, r, 300000, 0), (ssize_t)n, "size %zu", n);
		cr_assert(same(r, n, (unsigned)i + 3));
		cr_assert_eq(conc_chan_recv(a, r, 300000, 0), (ssize_t)n, "size %zu", n);
		cr_assert(same(r, n, (unsigned)i + 3));
		cr_assert_eq(conc_chan_recv(b, r, 300000, 0), -ETIMEDOUT);
	}
	conc_chan_close(a);
	conc_chan_close(b);
	free(m);
	free(r);
}

/* ---- timeouts ---- */

/* A peer thread that acts only once the test's thread (tid), past go, is
 * seen waiting in its call: in a receive's read or poll, or a send's poll
 * for room. Never before: the call would find the answer there already
 * and the test would pass without the wait it means to test. */
struct later {
	conc_chan *c;
	int what;	/* 0: send "late"; 1: receive one; 2: close */
	size_t n;
	pid_t tid;
	uint32_t go;
};

static int later_fn(void *arg)
{
	static const long in_wait[] = { SYS_read, SYS_readv, SYS_ppoll, -1 };
	struct later *l = arg;
	unsigned char *b;
	int r;

	if (!wait_blocked_in(l->tid, &l->go, in_wait, 30000))
		return 9;
	switch (l->what) {
	case 0:
		return conc_chan_send(l->c, "late", 4, BOUND);
	case 1:
		b = malloc(l->n ? l->n : 1);
		r = conc_chan_recv(l->c, b, l->n, BOUND) == (ssize_t)l->n ? 0 : 1;
		free(b);
		return r;
	default:
		return conc_chan_close(l->c);
	}
}

/* Start l's peer; the caller's next call is the wait it ends. */
static conc_thread *later_start(struct later *l)
{
	conc_thread *t;

	l->tid = conc_gettid();
	l->go = 0;
	cr_assert_eq(conc_thread_start(&t, later_fn, l, NULL), 0);
	set_flag(&l->go, 1);
	return t;
}

/* Any negative timeout waits without limit (INT64_MIN too), and the
 * largest positive one is a long wait, not an overflow into the past. */
Test(chan_user, negative_and_huge_timeouts_wait, .timeout = 60)
{
	int64_t tmo[] = { -1, -5, INT64_MIN, INT64_MAX, INT64_MAX - 1 };
	size_t big = 3u << 20;	/* more than the pipe holds */
	unsigned char *m = malloc(big);
	conc_chan *a, *b;
	char buf[8];

	cr_assert_not_null(m);
	fill(m, big, 1);
	pair(&a, &b, 0);
	for (size_t i = 0; i < sizeof(tmo) / sizeof(tmo[0]); i++) {
		struct later l = { .c = a, .what = 0 };
		conc_thread *t;
		int code = -1;

		t = later_start(&l);
		cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), tmo[i]), 4, "%zu", i);
		cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
		cr_assert_eq(code, 0);

		l = (struct later){ .c = b, .what = 1, .n = big };
		t = later_start(&l);
		cr_assert_eq(conc_chan_send(a, m, big, tmo[i]), 0, "%zu", i);
		cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
		cr_assert_eq(code, 0);
	}
	conc_chan_close(a);
	conc_chan_close(b);
	free(m);
}

/* A conc thread blocked in a receive without a timeout wakes with -EPIPE
 * when the peer end is closed, and a sender blocked on a full pipe too. */
Test(chan_user, blocked_calls_in_conc_threads_see_the_peer_close, .timeout = 60)
{
	size_t big = 3u << 20;
	unsigned char *m = malloc(big);
	conc_chan *a, *b;
	struct later l;
	conc_thread *t;
	int code = -1;
	char buf[8];

	cr_assert_not_null(m);
	pair(&a, &b, 0);
	l = (struct later){ .c = a, .what = 2 };
	t = later_start(&l);
	cr_assert_eq(conc_chan_recv(b, buf, sizeof(buf), CONC_FOREVER), -EPIPE);
	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	cr_assert_eq(code, 0);
	signal(SIGPIPE, SIG_DFL);
	cr_assert_eq(conc_chan_send(b, m, big, CONC_FOREVER), -EPIPE);
	conc_chan_close(b);

	pair(&a, &b, 0);
	l = (struct later){ .c = b, .what = 2 };
	t = later_start(&l);
	cr_assert_eq(conc_chan_send(a, m, big, CONC_FOREVER), -EPIPE);
	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	cr_assert_eq(code, 0);
	cr_assert_eq(conc_chan_recv(a, buf, sizeof(buf), 0), -EPIPE);
	conc_chan_close(a);
	free(m);
}

/* ---- many senders ---- */

struct snd {
	conc_chan *c;
	unsigned id, n;
};

static size_t size_of(unsigned id, unsigned k)
{
	static const size_t s[] = { 8, 100, 4088, 4089, 9000, 20000, 70000 };

	return s[(id * 3 + k) % 7];
}

static int sender(void *arg)
{
	struct snd *s = arg;
	unsigned char *m = malloc(70000);

	if (!m)
		return 1;
	for (unsigned k = 0; k < s->n; k++) {
		size_t n = size_of(s->id, k);

		fill(m, n, s->id * 1000 + k);
		memcpy(m, &s->id, 4);
		memcpy(m + 4, &k, 4);
		if (conc_chan_send(s->c, m, n, BOUND)) {
			free(m);
			return 2;
		}
	}
	free(m);
	return 0;
}

/* Threads share a sending end, messages of every kind of size: each
 * arrives whole, and each sender's in its order. */
Test(chan_user, many_senders_one_receiver_keep_each_senders_order, .timeout = 120)
{
	enum { P = 4, N = 150 };
	unsigned char *r = malloc(70000);
	unsigned next[P] = { 0 }, id, k;
	struct snd s[P];
	conc_thread *t[P];
	conc_chan *a, *b;

	cr_assert_not_null(r);
	pair(&a, &b, CONC_CHAN_ONEWAY);
	for (unsigned i = 0; i < P; i++) {
		s[i] = (struct snd){ b, i, N };
		cr_assert_eq(conc_thread_start(&t[i], sender, &s[i], NULL), 0);
	}
	for (unsigned j = 0; j < P * N; j++) {
		ssize_t n = conc_chan_recv(a, r, 70000, BOUND);

		cr_assert_geq(n, 8);
		memcpy(&id, r, 4);
		memcpy(&k, r + 4, 4);
		cr_assert_lt(id, P);
		cr_assert_eq(k, next[id], "sender %u: %u after %u", id, k, next[id]);
		cr_assert_eq((size_t)n, size_of(id, k));
		next[id]++;
	}
	for (unsigned i = 0; i < P; i++) {
		int code = -1;

		cr_assert_eq(conc_thread_join(t[i], &code, BOUND), 0);
		cr_assert_eq(code, 0);
	}
	conc_chan_close(b);
	cr_assert_eq(conc_chan_recv(a, r, 70000, BOUND), -EPIPE);
	conc_chan_close(a);
	free(r);
}

/* ---- coroutine tasks ---- */

struct tc {
	conc_chan *a, *b;
	int got, ticks;
	conc_task *t;
};

static int task_recv(void *arg)
{
	struct tc *k = arg;
	char buf[8];

	k->got = (int)conc_chan_recv(k->b, buf, sizeof(buf), CONC_FOREVER);
	return 0;
}

static int task_ticker(void *arg)
{
	struct tc *k = arg;

	for (int i = 0; i < 5; i++) {
		conc_sleep(MS);
		k->ticks++;
	}
	return conc_chan_send(k->a, "hi", 2, BOUND);
}

static int only_the_task_waits(void *arg)
{
	return go_two(task_recv, task_ticker, arg);
}

/* A task blocked in a receive without a timeout suspends only itself,
 * also once a plain receive without a timeout made rfd blocking (the man
 * page: such receives then wait inside read(2)). */
Test(chan_user, in_a_task_only_the_task_waits, .timeout = 60)
{
	struct tc k = { .got = -1 };
	struct later l;
	conc_thread *t;
	char buf[8];
	int code;

	pair(&k.a, &k.b, 0);
	need_uring();
	cr_assert_eq(run(only_the_task_waits, &k), 0);
	cr_assert_eq(k.got, 2);
	cr_assert_eq(k.ticks, 5);

	/* A plain receive that waits without a timeout, in this thread. */
	l = (struct later){ .c = k.a, .what = 0 };
	t = later_start(&l);
	cr_assert_eq(conc_chan_recv(k.b, buf, sizeof(buf), CONC_FOREVER), 4);
	cr_assert_eq(conc_thread_join(t, &code, BOUND), 0);
	cr_assert_eq(code, 0);
	k.got = -1;
	k.ticks = 0;
	need_uring();
	cr_assert_eq(run(only_the_task_waits, &k), 0);
	cr_assert_eq(k.got, 2);
	cr_assert_eq(k.ticks, 5);
	conc_chan_close(k.a);
	conc_chan_close(k.b);
}

static int cancelled_calls(void *arg)
{
	struct tc *k = arg;
	size_t big = 3u << 20;
	unsigned char *m;
	char buf[8];
	int r;

	r = (int)conc_chan_recv(k->b, buf, sizeof(buf), CONC_FOREVER);
	if (r != -ECANCELED)
		return 10;
	if (conc_chan_recv(k->b, buf, sizeof(buf), MS) != -ETIMEDOUT)
		return 11;
	/* A send that waits for room before any of it went in: cancelled,
	 * it sends nothing, and the end goes on working. */
	if (!(m = malloc(big)))
		return 12;
	memset(m, 'x', big);
	while ((r = conc_chan_send(k->a, m, 4000, 0)) == 0)
		;
	if (r != -ETIMEDOUT)
		return 13;
	k->got = 1;
	r = conc_chan_send(k->a, m, 4000, BOUND);
	free(m);
	if (r != -ECANCELED)
		return 14;
	if (conc_chan_send(k->a, "y", 1, MS) != -ETIMEDOUT)
		return 15;
	k->got = 2;
	return 0;
}

static int cancel_main(void *arg)
{
	struct tc *k = arg;
	int code = -1;

	if (conc_go(&k->t, cancelled_calls, k, NULL))
		return 1;
	conc_sleep(5 * MS);
	if (conc_task_cancel(k->t))
		return 2;
	for (int i = 0; i < 20000 && k->got != 1; i++)
		conc_sleep(MS);
	conc_sleep(5 * MS);
	if (conc_task_cancel(k->t))
		return 3;
	if (conc_task_join(k->t, &code, BOUND))
		return 4;
	return code;
}

Test(chan_user, a_cancelled_task_gets_ecanceled_once, .timeout = 60)
{
	struct tc k = { .got = -1 };
	char buf[4000];
	ssize_t n;
	int count = 0;

	pair(&k.a, &k.b, 0);
	need_uring();
	cr_assert_eq(run(cancel_main, &k), 0);
	cr_assert_eq(k.got, 2);
	/* Whole messages of 4000 bytes, nothing of the cancelled one. */
	while ((n = conc_chan_recv(k.b, buf, sizeof(buf), 0)) == 4000)
		count++;
	cr_assert_eq(n, -ETIMEDOUT);
	cr_assert_gt(count, 0);
	cr_assert_eq(conc_chan_send(k.a, "z", 1, 0), 0);
	cr_assert_eq(conc_chan_recv(k.b, buf, sizeof(buf), 0), 1);
	conc_chan_close(k.a);
	conc_chan_close(k.b);
}

/* Two tasks of one thread, one on each end, each sends three messages
 * three times the pipe's size before it receives any: a send that waits
 * for room takes in what the peer sends (the man page), in a task too,
 * so neither waits for the other for ever. */
struct both {
	conc_chan *mine;
	unsigned seed;
};

static int send_then_receive(void *arg)
{
	struct both *w = arg;
	size_t big = 3u << 20;
	unsigned char *m = malloc(big), *r = malloc(big);
	int bad = 0;

	if (!m || !r)
		bad = 1;
	for (unsigned i = 0; i < 3 && !bad; i++) {
		fill(m, big, w->seed + i);
		if (conc_chan_send(w->mine, m, big, BOUND))
			bad = 2;
	}
	for (unsigned i = 0; i < 3 && !bad; i++)
		if (conc_chan_recv(w->mine, r, big, BOUND) != (ssize_t)big ||
		    !same(r, big, (w->seed ^ 100) + i))
			bad = 3;
	free(m);
	free(r);
	return bad;
}

static int two_tasks(void *arg)
{
	struct both *w = arg;
	conc_task *t[2];
	int codes[2] = { -1, -1 };

	if (conc_go(&t[0], send_then_receive, &w[0], NULL) ||
	    conc_go(&t[1], send_then_receive, &w[1], NULL))
		return 1;
	if (conc_gather(t, 2, codes, 0, BOUND))
		return 2;
	return codes[0] ? 10 + codes[0] : codes[1] ? 20 + codes[1] : 0;
}

Test(chan_user, two_tasks_send_large_messages_both_ways_at_once, .timeout = 120)
{
	struct both w[2] = { { .seed = 0 }, { .seed = 100 } };

	pair(&w[0].mine, &w[1].mine, 0);
	need_uring();
	cr_assert_eq(run(two_tasks, w), 0);
	conc_chan_close(w[0].mine);
	conc_chan_close(w[1].mine);
}

/* Two tasks of one thread receive on one end at once: the second waits
 * for the first's receive (the end's receive lock, held by a task that is
 * suspended), in either futex mode of the loop; each gets one message. */
struct share {
	conc_chan *a, *b;
	int got[2];
};

static int share_recv(void *arg)
{
	struct share *s = arg;
	char buf[8];
	ssize_t n = conc_chan_recv(s->b, buf, sizeof(buf), CONC_FOREVER);

	if (n == 1 && (buf[0] == '0' || buf[0] == '1'))
		__atomic_add_fetch(&s->got[buf[0] - '0'], 1, __ATOMIC_RELAXED);
	return n == 1 ? 0 : 1;
}

static int share_send(void *arg)
{
	struct share *s = arg;

	sleep_ns(20 * MS);
	if (conc_chan_send(s->a, "0", 1, BOUND))
		return 1;
	sleep_ns(20 * MS);
	return conc_chan_send(s->a, "1", 1, BOUND) ? 2 : 0;
}

static int two_receivers(void *arg)
{
	struct share *s = arg;
	conc_task *t[2];
	conc_thread *th;
	int codes[2] = { -1, -1 }, ct = -1;

	if (conc_go(&t[0], share_recv, s, NULL) || conc_go(&t[1], share_recv, s, NULL) ||
	    conc_thread_start(&th, share_send, s, NULL))
		return 1;
	if (conc_gather(t, 2, codes, 0, BOUND) || conc_thread_join(th, &ct, BOUND))
		return 2;
	return codes[0] || codes[1] || ct ? 3 : 0;
}

Test(chan_user, two_tasks_receive_on_one_end, .timeout = 60)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct share s = { .got = { 0, 0 } };

		pair(&s.a, &s.b, 0);
		cr_assert_eq(run(two_receivers, &s), 0, "fallback %d", fb);
		cr_assert_eq(s.got[0], 1);
		cr_assert_eq(s.got[1], 1);
		conc_chan_close(s.a);
		conc_chan_close(s.b);
	}
}

/* A task cancelled while its long send is half in the pipe: -ECANCELED,
 * "the same as -ETIMEDOUT": the end's sending side is over (later sends
 * and conc_chan_wfd say -EPIPE), and the peer receives the messages sent
 * before, then -EPROTO for the one cut short. */
struct half {
	conc_chan *a;
	int r, after;
	int started;
};

static int long_send(void *arg)
{
	struct half *h = arg;
	size_t big = 3u << 20;
	unsigned char *m = malloc(big);

	if (!m)
		return 1;
	fill(m, big, 9);
	if (conc_chan_send(h->a, "before", 6, BOUND))
		return 2;
	__atomic_store_n(&h->started, 1, __ATOMIC_RELEASE);
	h->r = conc_chan_send(h->a, m, big, CONC_FOREVER);
	h->after = conc_chan_send(h->a, "after", 5, BOUND);
	free(m);
	return 0;
}

static int cancel_long_send(void *arg)
{
	struct half *h = arg;
	conc_task *t;
	int code = -1;

	if (conc_go(&t, long_send, h, NULL))
		return 1;
	for (int i = 0; i < 100000 && !__atomic_load_n(&h->started, __ATOMIC_ACQUIRE); i++)
		conc_sleep(MS / 10);
	conc_sleep(5 * MS);	/* it fills the pipe, then waits for room */
	if (conc_task_cancel(t) || conc_task_join(t, &code, BOUND))
		return 2;
	return code;
}

Test(chan_user, a_task_cancelled_in_a_long_send_tears_that_message_only,
     .timeout = 60)
{
	unsigned char *r = malloc(3u << 20);
	struct half h = { .r = 1, .after = 1 };
	conc_chan *b;

	cr_assert_not_null(r);
	pair(&h.a, &b, 0);
	need_uring();
	cr_assert_eq(run(cancel_long_send, &h), 0);
	cr_assert_eq(h.r, -ECANCELED);
	cr_assert_eq(h.after, -EPIPE);
	cr_assert_eq(conc_chan_wfd(h.a), -EPIPE);
	cr_assert_eq(conc_chan_recv(b, r, 3u << 20, BOUND), 6);
	cr_assert_eq(conc_chan_recv(b, r, 3u << 20, BOUND), -EPROTO);
	/* The other direction still works. */
	cr_assert_eq(conc_chan_send(b, "back", 4, BOUND), 0);
	cr_assert_eq(conc_chan_recv(h.a, r, 16, BOUND), 4);
	conc_chan_close(h.a);
	conc_chan_close(b);
	free(r);
}
