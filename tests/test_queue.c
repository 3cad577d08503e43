/* test_queue.c — conc_queue_*: every call and error, between threads and
 * between processes; timeouts, close and drain, two-step gets, named
 * queues, corrupt segments, the system-call-free fast path, and stress
 * tests that count every message. Crash tests: test_queue_crash.c. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <conc.h>
#include "helpers.h"

#define MS 1000000LL
#define SEC 1000000000LL

static const char *qname(const char *tag)
{
	static char buf[8][96];
	static int i;
	char *b = buf[i++ % 8];

	snprintf(b, sizeof(buf[0]), "conc-test-queue-%d-%s", (int)getpid(), tag);
	return b;
}

static conc_queue *new_queue(uint32_t cap, uint32_t max)
{
	conc_queue_attr a = { .capacity = cap, .max_msg = max };
	conc_queue *q;

	cr_assert_eq(conc_queue_create(&q, &a), 0);
	return q;
}

static void put_u32(conc_queue *q, uint32_t v, int64_t t)
{
	cr_assert_eq(conc_queue_put(q, &v, sizeof(v), t), 0, "put %u", v);
}

static uint32_t get_u32(conc_queue *q, int64_t t)
{
	uint32_t v;

	cr_assert_eq(conc_queue_get(q, &v, sizeof(v), t), (ssize_t)sizeof(v));
	return v;
}

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* ---- basics ------------------------------------------------------------ */

Test(queue, defaults_hold_64_messages_of_8192_bytes, .timeout = 10)
{
	static char big[8193];
	conc_queue *q;
	char buf[16];

	cr_assert_eq(conc_queue_create(&q, NULL), 0);
	cr_assert_eq(conc_queue_put(q, "hello", 5, 0), 0);
	cr_assert_eq(conc_queue_size(q), 1);
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 0), 5);
	cr_assert(!memcmp(buf, "hello", 5));
	cr_assert_eq(conc_queue_size(q), 0);
	for (uint32_t i = 0; i < 64; i++)
		put_u32(q, i, 0);
	cr_assert_eq(conc_queue_put(q, "x", 1, 0), -ETIMEDOUT, "full at 64");
	cr_assert_eq(conc_queue_size(q), 64);
	cr_assert_eq(get_u32(q, 0), 0);
	cr_assert_eq(conc_queue_put(q, big, 8193, 0), -EMSGSIZE);
	cr_assert_eq(conc_queue_put(q, big, 8192, 0), 0);
	cr_assert_eq(conc_queue_destroy(q), 0);
}

Test(queue, fifo_order_across_many_wrap_arounds, .timeout = 10)
{
	conc_queue *q = new_queue(4, 4);
	uint32_t next = 0;

	for (uint32_t i = 0; i < 3; i++)
		put_u32(q, i, 0);
	for (uint32_t i = 3; i < 10000; i++) {
		put_u32(q, i, 0);
		cr_assert_eq(get_u32(q, 0), next++);
		cr_assert_eq(conc_queue_size(q), 3);
	}
	while (next < 10000)
		cr_assert_eq(get_u32(q, 0), next++);
	cr_assert_eq(conc_queue_get(q, &next, 4, 0), -ETIMEDOUT);
	conc_queue_destroy(q);
}

Test(queue, messages_of_every_length_up_to_max_msg, .timeout = 10)
{
	conc_queue *q = new_queue(3, 300);
	unsigned char in[301], out[301];

	for (int i = 0; i < 301; i++)
		in[i] = (unsigned char)(i * 7 + 1);
	for (size_t len = 0; len <= 300; len++) {
		memset(out, 0, sizeof(out));
		cr_assert_eq(conc_queue_put(q, in, len, 0), 0);
		cr_assert_eq(conc_queue_get(q, out, sizeof(out), 0), (ssize_t)len);
		cr_assert(!memcmp(in, out, len), "length %zu", len);
	}
	/* Zero-length messages need no buffer at all. */
	cr_assert_eq(conc_queue_put(q, NULL, 0, 0), 0);
	cr_assert_eq(conc_queue_get(q, NULL, 0, 0), 0);
	cr_assert_eq(conc_queue_put(q, in, 301, 0), -EMSGSIZE);
	cr_assert_eq(conc_queue_put(q, in, SIZE_MAX, 0), -EMSGSIZE);
	cr_assert_eq(conc_queue_size(q), 0, "a refused put leaves nothing");
	conc_queue_destroy(q);
}

Test(queue, too_small_a_buffer_loses_nothing, .timeout = 10)
{
	conc_queue *q = new_queue(4, 100);
	char msg[100], buf[100];

	memset(msg, 'm', sizeof(msg));
	cr_assert_eq(conc_queue_put(q, msg, 100, 0), 0);
	cr_assert_eq(conc_queue_put(q, "next", 4, 0), 0);
	cr_assert_eq(conc_queue_get(q, buf, 99, 0), -EMSGSIZE);
	cr_assert_eq(conc_queue_get(q, NULL, 0, 0), -EMSGSIZE);
	cr_assert_eq(conc_queue_get_begin(q, buf, 10, 0), -EMSGSIZE);
	cr_assert_eq(conc_queue_get_commit(q), -EINVAL, "no two-step get pending");
	cr_assert_eq(conc_queue_size(q), 2);
	cr_assert_eq(conc_queue_get(q, buf, 100, 0), 100);
	cr_assert(!memcmp(buf, msg, 100));
	cr_assert_eq(conc_queue_get(q, buf, 4, 0), 4);
	cr_assert(!memcmp(buf, "next", 4));
	conc_queue_destroy(q);
}

Test(queue, bad_arguments_are_einval, .timeout = 10)
{
	conc_queue_attr a = { 0 };
	conc_queue *q = new_queue(2, 8), *r;
	char buf[8];

	cr_assert_eq(conc_queue_create(NULL, NULL), -EINVAL);
	a.capacity = (1u << 24) + 1;
	cr_assert_eq(conc_queue_create(&r, &a), -EINVAL);
	a.capacity = 2;
	a.max_msg = (1u << 24) + 1;
	cr_assert_eq(conc_queue_create(&r, &a), -EINVAL);
	a.max_msg = 8;
	a.name = "bad/name";
	cr_assert_eq(conc_queue_create(&r, &a), -EINVAL);
	a.name = "";
	cr_assert_eq(conc_queue_create(&r, &a), -EINVAL);
	a.name = NULL;
	a.flags = 0x2;
	cr_assert_eq(conc_queue_create(&r, &a), -EINVAL);
	cr_assert_eq(conc_queue_open(NULL, qname("x")), -EINVAL);
	cr_assert_eq(conc_queue_open(&r, NULL), -EINVAL);
	cr_assert_eq(conc_queue_open(&r, "a/b"), -EINVAL);

	cr_assert_eq(conc_queue_put(NULL, "x", 1, 0), -EINVAL);
	cr_assert_eq(conc_queue_put(q, NULL, 1, 0), -EINVAL);
	cr_assert_eq(conc_queue_get(NULL, buf, 8, 0), -EINVAL);
	cr_assert_eq(conc_queue_get(q, NULL, 8, 0), -EINVAL);
	cr_assert_eq(conc_queue_get_begin(NULL, buf, 8, 0), -EINVAL);
	cr_assert_eq(conc_queue_get_begin(q, NULL, 8, 0), -EINVAL);
	cr_assert_eq(conc_queue_get_commit(NULL), -EINVAL);
	cr_assert_eq(conc_queue_get_abort(NULL), -EINVAL);
	cr_assert_eq(conc_queue_get_commit(q), -EINVAL);
	cr_assert_eq(conc_queue_get_abort(q), -EINVAL);
	cr_assert_eq(conc_queue_size(NULL), -EINVAL);
	cr_assert_eq(conc_queue_close(NULL), -EINVAL);
	cr_assert_eq(conc_queue_destroy(NULL), -EINVAL);
	/* None of it touched the queue. */
	put_u32(q, 7, 0);
	cr_assert_eq(get_u32(q, 0), 7);
	conc_queue_destroy(q);
}

/* ---- timeouts ------------------------------------------------------------ */

Test(queue, full_put_times_out_no_earlier_than_its_timeout, .timeout = 10)
{
	conc_queue *q = new_queue(2, 4);
	int64_t t0;

	put_u32(q, 1, 0);
	put_u32(q, 2, 0);
	cr_assert_eq(conc_queue_put(q, "abcd", 4, 0), -ETIMEDOUT);
	t0 = now_ns();
	cr_assert_eq(conc_queue_put(q, "abcd", 4, 50 * MS), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 50 * MS);
	cr_assert_eq(conc_queue_size(q), 2);
	cr_assert_eq(get_u32(q, 0), 1);
	cr_assert_eq(get_u32(q, 0), 2);
	conc_queue_destroy(q);
}

Test(queue, empty_get_times_out_no_earlier_than_its_timeout, .timeout = 10)
{
	conc_queue *q = new_queue(2, 4);
	char buf[4];
	int64_t t0;

	cr_assert_eq(conc_queue_get(q, buf, 4, 0), -ETIMEDOUT);
	cr_assert_eq(conc_queue_get_begin(q, buf, 4, 0), -ETIMEDOUT);
	t0 = now_ns();
	cr_assert_eq(conc_queue_get(q, buf, 4, 50 * MS), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 50 * MS);
	t0 = now_ns();
	cr_assert_eq(conc_queue_get_begin(q, buf, 4, 30 * MS), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 30 * MS);
	cr_assert_eq(conc_queue_get_abort(q), -EINVAL, "a failed begin holds nothing");
	put_u32(q, 5, 0);
	cr_assert_eq(get_u32(q, 0), 5);
	conc_queue_destroy(q);
}

/* ---- blocking and waking, threads ------------------------------------------ */

struct tctx {
	conc_queue *q;
	pid_t tid;
	int64_t timeout;
	uint32_t value;
	long result;
};

static void *t_get(void *arg)
{
	struct tctx *c = arg;
	uint32_t v = 0;

	__atomic_store_n(&c->tid, my_tid(), __ATOMIC_RELEASE);
	c->result = conc_queue_get(c->q, &v, sizeof(v), c->timeout);
	c->value = v;
	return NULL;
}

static void *t_put(void *arg)
{
	struct tctx *c = arg;

	__atomic_store_n(&c->tid, my_tid(), __ATOMIC_RELEASE);
	c->result = conc_queue_put(c->q, &c->value, sizeof(c->value), c->timeout);
	return NULL;
}

static void start(pthread_t *t, void *(*fn)(void *), struct tctx *c)
{
	cr_assert_eq(pthread_create(t, NULL, fn, c), 0);
	while (!__atomic_load_n(&c->tid, __ATOMIC_ACQUIRE))
		sleep_ns(100000);
	/* Sharpens the test: it is correct whether or not this holds. */
	wait_thread_sleeping(getpid(), c->tid, 2000);
}

Test(queue, blocked_get_is_woken_by_a_put, .timeout = 10)
{
	struct tctx c = { .q = new_queue(2, 4), .timeout = CONC_FOREVER };
	pthread_t t;

	start(&t, t_get, &c);
	put_u32(c.q, 77, 0);
	cr_assert_eq(join_thread(t, 5000, NULL), 0);
	cr_assert_eq(c.result, 4);
	cr_assert_eq(c.value, 77);
	conc_queue_destroy(c.q);
}

Test(queue, blocked_put_is_woken_by_a_get, .timeout = 10)
{
	struct tctx c = { .q = new_queue(1, 4), .timeout = 10 * SEC, .value = 2 };
	pthread_t t;

	put_u32(c.q, 1, 0);
	start(&t, t_put, &c);
	cr_assert_eq(get_u32(c.q, 0), 1);
	cr_assert_eq(join_thread(t, 5000, NULL), 0);
	cr_assert_eq(c.result, 0);
	cr_assert_eq(get_u32(c.q, 0), 2);
	conc_queue_destroy(c.q);
}

Test(queue, every_blocked_getter_is_served, .timeout = 20)
{
	enum { N = 6 };
	struct tctx c[N];
	pthread_t t[N];
	conc_queue *q = new_queue(8, 4);
	uint32_t seen = 0;

	memset(c, 0, sizeof(c));
	for (int i = 0; i < N; i++) {
		c[i].q = q;
		c[i].timeout = CONC_FOREVER;
		start(&t[i], t_get, &c[i]);
	}
	/* One put at a time, so each wakes sleepers that may find nothing. */
	for (uint32_t i = 0; i < N; i++) {
		put_u32(q, 1u << i, 0);
		sleep_ns(2 * MS);
	}
	for (int i = 0; i < N; i++) {
		cr_assert_eq(join_thread(t[i], 5000, NULL), 0, "getter %d stuck", i);
		cr_assert_eq(c[i].result, 4);
		seen |= c[i].value;
	}
	cr_assert_eq(seen, (1u << N) - 1);
	conc_queue_destroy(q);
}

/* ---- close ------------------------------------------------------------------ */

Test(queue, close_refuses_puts_and_drains_gets, .timeout = 10)
{
	conc_queue *q = new_queue(4, 4);
	char buf[4];

	put_u32(q, 1, 0);
	put_u32(q, 2, 0);
	cr_assert_eq(conc_queue_close(q), 0);
	cr_assert_eq(conc_queue_close(q), 0, "idempotent");
	cr_assert_eq(conc_queue_put(q, "x", 1, 0), -EPIPE);
	cr_assert_eq(conc_queue_put(q, "x", 1, CONC_FOREVER), -EPIPE);
	cr_assert_eq(conc_queue_size(q), 2);
	cr_assert_eq(get_u32(q, CONC_FOREVER), 1);
	cr_assert_eq(conc_queue_get_begin(q, buf, 4, CONC_FOREVER), 4);
	cr_assert_eq(conc_queue_get_commit(q), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(conc_queue_get(q, buf, 4, CONC_FOREVER), -EPIPE);
		cr_assert_eq(conc_queue_get(q, buf, 4, 0), -EPIPE);
		cr_assert_eq(conc_queue_get(q, buf, 4, 10 * MS), -EPIPE);
		cr_assert_eq(conc_queue_get_begin(q, buf, 4, 0), -EPIPE);
	}
	conc_queue_destroy(q);
}

Test(queue, close_wakes_every_blocked_getter_and_putter, .timeout = 20)
{
	enum { N = 4 };
	struct tctx g[N], p[N];
	pthread_t tg[N], tp[N];
	conc_queue *empty = new_queue(2, 4), *full = new_queue(1, 4);

	memset(g, 0, sizeof(g));
	memset(p, 0, sizeof(p));
	put_u32(full, 0, 0);
	for (int i = 0; i < N; i++) {
		g[i].q = empty;
		g[i].timeout = CONC_FOREVER;
		start(&tg[i], t_get, &g[i]);
		p[i].q = full;
		p[i].timeout = CONC_FOREVER;
		start(&tp[i], t_put, &p[i]);
	}
	cr_assert_eq(conc_queue_close(empty), 0);
	cr_assert_eq(conc_queue_close(full), 0);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(join_thread(tg[i], 5000, NULL), 0);
		cr_assert_eq(g[i].result, -EPIPE);
		cr_assert_eq(join_thread(tp[i], 5000, NULL), 0);
		cr_assert_eq(p[i].result, -EPIPE);
	}
	cr_assert_eq(get_u32(full, 0), 0, "what was in stays to be drained");
	conc_queue_destroy(empty);
	conc_queue_destroy(full);
}

static int child_get_forever(void *arg)
{
	uint32_t v;
	ssize_t n = conc_queue_get(arg, &v, sizeof(v), CONC_FOREVER);

	return n == 4 ? (int)(v & 0x7f) : errcode((int)n);
}

Test(queue, close_wakes_getters_in_other_processes, .timeout = 20)
{
	enum { N = 3 };
	conc_queue *q = new_queue(2, 4);
	pid_t pid[N];

	for (int i = 0; i < N; i++) {
		pid[i] = fork_child(child_get_forever, q);
		cr_assert_geq(pid[i], 0);
		wait_thread_sleeping(pid[i], pid[i], 2000);
	}
	cr_assert_eq(conc_queue_close(q), 0);
	for (int i = 0; i < N; i++)
		cr_assert(exited_with(wait_child(pid[i], 5000), EPIPE));
	conc_queue_destroy(q);
}

/* ---- two-step gets ------------------------------------------------------------ */

Test(queue, begin_then_abort_or_commit, .timeout = 10)
{
	conc_queue *q = new_queue(4, 8);
	char buf[8];

	cr_assert_eq(conc_queue_put(q, "one", 3, 0), 0);
	cr_assert_eq(conc_queue_put(q, "two", 3, 0), 0);
	cr_assert_eq(conc_queue_get_begin(q, buf, 8, 0), 3);
	cr_assert(!memcmp(buf, "one", 3));
	cr_assert_eq(conc_queue_size(q), 2, "not removed yet");
	/* One two-step get at a time per thread. */
	cr_assert_eq(conc_queue_get(q, buf, 8, 0), -EINVAL);
	cr_assert_eq(conc_queue_get_begin(q, buf, 8, 0), -EINVAL);
	cr_assert_eq(conc_queue_get_abort(q), 0);
	cr_assert_eq(conc_queue_get_abort(q), -EINVAL);
	cr_assert_eq(conc_queue_size(q), 2);
	cr_assert_eq(conc_queue_get_begin(q, buf, 8, 0), 3);
	cr_assert(!memcmp(buf, "one", 3), "an abort leaves it first");
	cr_assert_eq(conc_queue_get_commit(q), 0);
	cr_assert_eq(conc_queue_get_commit(q), -EINVAL);
	cr_assert_eq(conc_queue_size(q), 1);
	cr_assert_eq(conc_queue_get(q, buf, 8, 0), 3);
	cr_assert(!memcmp(buf, "two", 3));
	conc_queue_destroy(q);
}

/* A two-step get holds the consumer side: other consumers of the same
 * handle wait for it, within their timeouts, and cannot commit it. */
struct hold {
	conc_queue *q;
	uint32_t begun, release;
	long got, commit;
};

static void *t_hold(void *arg)
{
	struct hold *h = arg;
	uint32_t v;

	h->got = conc_queue_get_begin(h->q, &v, sizeof(v), 0);
	set_flag(&h->begun, 1);
	wait_flag(&h->release, 30000);
	h->commit = conc_queue_get_commit(h->q);
	return NULL;
}

Test(queue, other_threads_wait_for_a_two_step_get, .timeout = 60)
{
	struct hold h = { .q = new_queue(4, 4) };
	struct tctx c = { .timeout = CONC_FOREVER };
	pthread_t t, u;
	char buf[4];
	int64_t t0;

	c.q = h.q;
	put_u32(h.q, 1, 0);
	put_u32(h.q, 2, 0);
	cr_assert_eq(pthread_create(&t, NULL, t_hold, &h), 0);
	cr_assert(wait_flag(&h.begun, 5000));
	cr_assert_eq(h.got, 4);
	cr_assert_eq(conc_queue_get_commit(h.q), -EINVAL, "not this thread's");
	cr_assert_eq(conc_queue_get_abort(h.q), -EINVAL, "not this thread's");
	cr_assert_eq(conc_queue_get(h.q, buf, 4, 0), -ETIMEDOUT);
	t0 = now_ns();
	cr_assert_eq(conc_queue_get(h.q, buf, 4, 30 * MS), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 30 * MS);
	t0 = now_ns();
	cr_assert_eq(conc_queue_get_begin(h.q, buf, 4, 20 * MS), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 20 * MS);
	/* A blocking get waits for the commit, then gets the second. */
	start(&u, t_get, &c);
	set_flag(&h.release, 1);
	cr_assert_eq(join_thread(t, 5000, NULL), 0);
	cr_assert_eq(h.commit, 0);
	cr_assert_eq(join_thread(u, 5000, NULL), 0);
	cr_assert_eq(c.result, 4);
	cr_assert_eq(c.value, 2);
	conc_queue_destroy(h.q);
}

/* Timeout 0 gives up on an empty (or full) queue, not on another
 * consumer (producer) being in the middle of its own call. It waits for
 * another's copy a second at most (conc_queue_put(3)): a holder of the
 * lock that a loaded machine keeps off the CPU longer makes a call that
 * took a second say -ETIMEDOUT, which is no give-up; that call is made
 * again. One that gives up without waiting for the copy takes far less. */
#define PATIENCE_NS 1000000000

struct poll_ctx {
	conc_queue *q;
	uint32_t *go;
	int put;
	long calls, patient;
	ssize_t size_at_timeout;
};

static void *t_poll(void *arg)
{
	struct poll_ctx *c = arg;
	char m[64] = { 0 };
	int64_t t0;
	int r;

	while (!__atomic_load_n(c->go, __ATOMIC_ACQUIRE))
		;
	for (;;) {
		t0 = now_ns();
		r = c->put ? conc_queue_put(c->q, m, sizeof(m), 0)
			   : (int)conc_queue_get(c->q, m, sizeof(m), 0);
		if (r == -ETIMEDOUT && now_ns() - t0 >= PATIENCE_NS) {
			c->patient++;
			continue;
		}
		if (r < 0)
			break;
		c->calls++;
	}
	c->size_at_timeout = r == -ETIMEDOUT ? conc_queue_size(c->q) : -1;
	return NULL;
}

Test(queue, timeout_0_waits_for_other_calls_not_for_messages, .timeout = 30)
{
	enum { N = 50000, T = 2 };
	struct poll_ctx c[T];
	pthread_t t[T];
	conc_queue *q = new_queue(N, 64);
	uint32_t go;

	for (int put = 1; put >= 0; put--) {
		long calls = 0, least = N;

		go = 0;
		for (int i = 0; i < T; i++) {
			c[i] = (struct poll_ctx){ .q = q, .go = &go, .put = put };
			cr_assert_eq(pthread_create(&t[i], NULL, t_poll, &c[i]), 0);
		}
		__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
		for (int i = 0; i < T; i++) {
			cr_assert_eq(join_thread(t[i], 20000, NULL), 0);
			cr_assert_eq(c[i].size_at_timeout, put ? N : 0,
				     "%s gave up with %zd in the queue",
				     put ? "a put" : "a get", c[i].size_at_timeout);
			calls += c[i].calls;
			least = c[i].calls < least ? c[i].calls : least;
		}
		cr_assert_eq(calls, N);
		cr_log_info("%s: the slower thread made %ld calls; %ld waited a second",
			    put ? "put" : "get", least, c[0].patient + c[1].patient);
	}
	conc_queue_destroy(q);
}

Test(queue, destroy_during_a_two_step_get_leaves_the_message, .timeout = 10)
{
	conc_queue_attr a = { .capacity = 2, .max_msg = 4, .name = qname("dtor") };
	conc_queue *q, *r;
	uint32_t v;

	cr_assert_eq(conc_queue_create(&q, &a), 0);
	cr_assert_eq(conc_queue_open(&r, a.name), 0);
	put_u32(q, 9, 0);
	cr_assert_eq(conc_queue_get_begin(r, &v, 4, 0), 4);
	cr_assert_eq(conc_queue_destroy(r), 0);
	cr_assert_eq(get_u32(q, 0), 9);
	conc_queue_destroy(q);
	conc_shm_unlink(a.name);
}

static int child_begin_and_die(void *arg)
{
	uint32_t v;

	if (conc_queue_get_begin(arg, &v, sizeof(v), CONC_FOREVER) != 4)
		return 1;
	raise(SIGKILL);
	return 2;
}

Test(queue, consumer_killed_in_a_two_step_get_loses_nothing, .timeout = 60)
{
	conc_queue *q = new_queue(4, 4);

	for (uint32_t i = 0; i < 3; i++)
		put_u32(q, i, 0);
	for (int k = 0; k < 20; k++) {
		pid_t pid = fork_child(child_begin_and_die, q);

		cr_assert(killed_by(wait_child(pid, 5000), SIGKILL));
	}
	cr_assert_eq(conc_queue_size(q), 3);
	for (uint32_t i = 0; i < 3; i++)
		cr_assert_eq(get_u32(q, 0), i);
	conc_queue_destroy(q);
}

/* ---- named queues -------------------------------------------------------------- */

/* The child opens both queues by name, as an unrelated program would. */
static int child_echo(void *arg)
{
	const char **names = arg;
	conc_queue *req, *rep;
	uint32_t v;

	if (conc_queue_open(&req, names[0]) || conc_queue_open(&rep, names[1]))
		return 1;
	for (int i = 0; i < 100; i++) {
		if (conc_queue_get(req, &v, sizeof(v), 5 * SEC) != 4)
			return 2;
		v += 1000;
		if (conc_queue_put(rep, &v, sizeof(v), 5 * SEC))
			return 3;
	}
	return conc_queue_destroy(req) || conc_queue_destroy(rep) ? 4 : 0;
}

Test(queue, named_queues_opened_by_name_in_a_child, .timeout = 20)
{
	const char *names[2] = { qname("req"), qname("rep") };
	conc_queue_attr a = { .capacity = 1, .max_msg = 4, .flags = CONC_SHM_EXCL };
	conc_queue *req, *rep;
	pid_t pid;

	a.name = names[0];
	cr_assert_eq(conc_queue_create(&req, &a), 0);
	a.name = names[1];
	cr_assert_eq(conc_queue_create(&rep, &a), 0);
	pid = fork_child(child_echo, names);
	for (uint32_t i = 0; i < 100; i++) {
		put_u32(req, i, 5 * SEC);
		cr_assert_eq(get_u32(rep, 5 * SEC), i + 1000);
	}
	cr_assert(exited_with(wait_child(pid, 10000), 0));
	conc_queue_destroy(req);
	conc_queue_destroy(rep);
	conc_shm_unlink(names[0]);
	conc_shm_unlink(names[1]);
}

Test(queue, named_create_open_excl_and_mismatches, .timeout = 10)
{
	conc_queue_attr a = { .capacity = 8, .max_msg = 16, .name = qname("named") };
	conc_queue *q, *r;
	conc_shm *s;

	cr_assert_eq(conc_queue_open(&q, a.name), -ENOENT);
	cr_assert_eq(conc_queue_create(&q, &a), 0);
	a.flags = CONC_SHM_EXCL;
	cr_assert_eq(conc_queue_create(&r, &a), -EEXIST);
	a.flags = 0;
	/* Without EXCL, the same queue. */
	cr_assert_eq(conc_queue_create(&r, &a), 0);
	put_u32(q, 42, 0);
	cr_assert_eq(get_u32(r, 0), 42);
	conc_queue_destroy(r);
	a.capacity = 9;
	cr_assert_eq(conc_queue_create(&r, &a), -EINVAL);
	a.capacity = 8;
	a.max_msg = 24;
	cr_assert_eq(conc_queue_create(&r, &a), -EINVAL);
	a.max_msg = 16;
	cr_assert_eq(conc_queue_open(&r, a.name), 0);
	conc_queue_destroy(r);
	conc_queue_destroy(q);
	cr_assert_eq(conc_shm_unlink(a.name), 0);
	/* Something else by that name is not a queue. */
	cr_assert_eq(conc_shm_create(&s, a.name, 100000, CONC_SHM_RAW, 0), 0);
	cr_assert_eq(conc_queue_open(&r, a.name), -EPROTO);
	cr_assert_eq(conc_queue_create(&r, &a), -EPROTO, "another kind");
	conc_shm_close(s);
	conc_shm_unlink(a.name);
}

/* A file group or others may write: conc_queue_open refuses it, a caller
 * that vouches for the file (conc-queue --mode 666) opens its fd. */
Test(queue, open_fd_takes_a_file_open_refuses, .timeout = 10)
{
	conc_queue_attr a = { .capacity = 4, .max_msg = 16, .name = qname("fd") };
	char path[128];
	conc_queue *q, *r;
	conc_shm *s;
	int fd;

	cr_assert_eq(conc_queue_create(&q, &a), 0);
	snprintf(path, sizeof(path), "/dev/shm/%s", a.name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fchmod(fd, 0666), 0);
	cr_assert_eq(conc_queue_open(&r, a.name), -EACCES);
	cr_assert_eq(conc_queue_open_fd(&r, fd), 0);
	cr_assert_eq(close(fd), 0);	/* dup'ed: the caller's to close */
	put_u32(q, 7, 0);
	cr_assert_eq(get_u32(r, 0), 7);
	put_u32(r, 8, 0);
	cr_assert_eq(get_u32(q, 0), 8);
	conc_queue_destroy(r);
	conc_queue_destroy(q);
	cr_assert_eq(conc_shm_unlink(a.name), 0);
	/* Bad arguments, and a segment of another kind. */
	cr_assert_eq(conc_queue_open_fd(NULL, 0), -EINVAL);
	cr_assert_eq(conc_queue_open_fd(&r, -1), -EINVAL);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(close(fd), 0);
	cr_assert_eq(conc_queue_open_fd(&r, fd), -EBADF);
	cr_assert_eq(conc_shm_create(&s, NULL, 4096, CONC_SHM_RAW, 0), 0);
	cr_assert_eq(conc_queue_open_fd(&r, conc_shm_fd(s)), -EPROTO);
	conc_shm_close(s);
	/* An anonymous queue's fd, as a process would get it over a socket. */
	a.name = NULL;
	cr_assert_eq(conc_queue_create(&q, &a), 0);
	cr_assert_eq(conc_queue_open_fd(&r, conc_queue_fd(q)), 0);
	put_u32(r, 9, 0);
	cr_assert_eq(get_u32(q, 0), 9);
	conc_queue_destroy(r);
	conc_queue_destroy(q);
}

/* A process forked before the queue existed: it gets the anonymous
 * queue's fd over the socket, opens it, takes the parent's message and
 * answers. Its exit code says which step failed. */
static int fd_peer(void *arg)
{
	int sock = *(int *)arg, fd;
	conc_queue *q;
	char m[8];

	if ((fd = recv_fd(sock)) < 0)
		return 2;
	if (conc_queue_open_fd(&q, fd))
		return 3;
	close(fd);		/* dup'ed by the open */
	if (conc_queue_get(q, m, sizeof(m), 10000000000LL) != 4 ||
	    memcmp(m, "ping", 4))
		return 4;
	if (conc_queue_put(q, "pong", 4, 10000000000LL))
		return 5;
	conc_queue_destroy(q);
	return 0;
}

Test(queue, fd_passed_over_a_socket_opens_the_anonymous_queue, .timeout = 30)
{
	conc_queue_attr a = { .capacity = 4, .max_msg = 8 };
	conc_queue *q;
	char m[8];
	int sv[2], fd, st;
	pid_t pid;

	cr_assert_eq(conc_queue_fd(NULL), -EINVAL);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork_child(fd_peer, &sv[1]);	/* before the queue exists */
	cr_assert_gt(pid, 0);
	cr_assert_eq(conc_queue_create(&q, &a), 0);
	fd = conc_queue_fd(q);
	cr_assert_geq(fd, 0);
	cr_assert_eq(conc_queue_fd(q), fd, "the handle's own, not a new one");
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	cr_assert_eq(conc_queue_put(q, "ping", 4, 0), 0);
	cr_assert_eq(send_fd(sv[0], fd), 0);
	st = wait_child(pid, 10000);
	cr_assert(exited_with(st, 0), "the peer failed at step %d",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	cr_assert_eq(conc_queue_get(q, m, sizeof(m), 0), 4);
	cr_assert_eq(memcmp(m, "pong", 4), 0);
	/* Still the handle's: the queue works after the send. */
	cr_assert_eq(conc_queue_put(q, "x", 1, 0), 0);
	conc_queue_destroy(q);
	close(sv[0]);
	close(sv[1]);
}

/* ---- corrupt segments ---------------------------------------------------------- */

/* The queue's segment, mapped raw, and the offset of the first place that
 * holds `marker` (a message put there on purpose). */
static unsigned char *find(conc_shm *s, const char *marker)
{
	unsigned char *d = conc_shm_data(s);
	size_t n = strlen(marker);

	for (size_t i = 0; i + n <= conc_shm_size(s); i++)
		if (!memcmp(d + i, marker, n))
			return d + i;
	return NULL;
}

Test(queue, a_segment_never_set_up_as_a_queue_is_eproto, .timeout = 10)
{
	const char *name = qname("raw");
	conc_queue *q;
	conc_shm *s;

	/* The right kind, but the queue inside was never set up. */
	cr_assert_eq(conc_shm_create(&s, name, 100000, CONC_SHM_QUEUE, 0), 0);
	cr_assert_eq(conc_queue_open(&q, name), -EPROTO);
	conc_shm_close(s);
	conc_shm_unlink(name);
}

Test(queue, corrupt_geometry_is_eproto, .timeout = 10)
{
	conc_queue_attr a = { .capacity = 4, .max_msg = 32, .name = qname("geom") };
	/* struct shared starts with init, capacity, max_msg, slot_size. */
	struct { int field; uint32_t value; } bad[] = {
		{ 1, 0 }, { 1, 1u << 25 }, { 1, 4000 },	/* capacity */
		{ 2, 1u << 25 }, { 2, 100 },		/* max_msg */
		{ 3, 8 }, { 3, 41 }, { 3, 1u << 30 },	/* slot_size */
		{ 0, 1 },	/* a creator that died setting it up */
	};
	conc_queue *q;
	conc_shm *s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t *hdr, saved;

		cr_assert_eq(conc_queue_create(&q, &a), 0);
		cr_assert_eq(conc_shm_open(&s, a.name, CONC_SHM_QUEUE), 0);
		hdr = conc_shm_data(s);
		saved = hdr[bad[i].field];
		hdr[bad[i].field] = bad[i].value;
		cr_assert_eq(conc_queue_open(&q, a.name), -EPROTO, "case %zu", i);
		hdr[bad[i].field] = saved;
		/* The handle opened before still works. */
		put_u32(q, (uint32_t)i, 0);
		cr_assert_eq(get_u32(q, 0), (uint32_t)i);
		conc_shm_close(s);
		conc_queue_destroy(q);
		conc_shm_unlink(a.name);
	}
}

Test(queue, truncated_queue_file_is_einval, .timeout = 10)
{
	conc_queue_attr a = { .capacity = 64, .max_msg = 1000, .name = qname("trunc") };
	char path[160];
	conc_queue *q;

	cr_assert_eq(conc_queue_create(&q, &a), 0);
	conc_queue_destroy(q);
	snprintf(path, sizeof(path), "/dev/shm/%s", a.name);
	cr_assert_eq(truncate(path, 8192), 0);
	cr_assert_eq(conc_queue_open(&q, a.name), -EINVAL);
	cr_assert_eq(conc_queue_create(&q, &a), -EINVAL);
	conc_shm_unlink(a.name);
}

Test(queue, a_message_length_beyond_max_msg_is_eproto_not_a_crash, .timeout = 10)
{
	conc_queue_attr a = { .capacity = 4, .max_msg = 64, .name = qname("len") };
	uint32_t *len, saved;
	unsigned char *m;
	char buf[64];
	conc_queue *q;
	conc_shm *s;

	cr_assert_eq(conc_queue_create(&q, &a), 0);
	cr_assert_eq(conc_queue_put(q, "MARKER-for-the-len-test", 23, 0), 0);
	cr_assert_eq(conc_shm_open(&s, a.name, CONC_SHM_QUEUE), 0);
	m = find(s, "MARKER-for-the-len-test");
	cr_assert_not_null(m);
	len = (uint32_t *)(m - 4);	/* struct slot: seq, len, data */
	cr_assert_eq(*len, 23);
	saved = *len;
	*len = 1u << 30;
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 0), -EPROTO);
	cr_assert_eq(conc_queue_get_begin(q, buf, sizeof(buf), 0), -EPROTO);
	*len = 65;
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 0), -EPROTO);
	*len = saved;
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 0), 23, "still there");
	/* Geometry changed after open cannot move copies outside the
	 * segment: the handle keeps what it checked. */
	((uint32_t *)conc_shm_data(s))[1] = 1u << 24;	/* capacity */
	((uint32_t *)conc_shm_data(s))[3] = 1u << 30;	/* slot_size */
	for (uint32_t i = 0; i < 10; i++) {
		put_u32(q, i, 0);
		cr_assert_eq(get_u32(q, 0), i);
	}
	conc_shm_close(s);
	conc_queue_destroy(q);
	conc_shm_unlink(a.name);
}

/* ---- the fast path makes no system call -------------------------------------------- */

static void warm_up(void)
{
	conc_mutex m;

	/* The first robust lock in a process caches its tid and robust list. */
	conc_mutex_init(&m, CONC_ROBUST);
	conc_mutex_lock(&m);
	conc_mutex_unlock(&m);
}

/* In the child: put and get `rounds` times with seccomp killing at any
 * system call. */
static int no_syscalls(void *arg)
{
	conc_queue *q = arg;
	uint32_t v;

	warm_up();
	/* One round first: a sleep word left 0 by a dead sleeper costs one
	 * wake-up, once. */
	if (conc_queue_put(q, &v, 4, 0) || conc_queue_get(q, &v, 4, 0) != 4)
		return 1;
	if (seccomp_kill_at(-1))
		return 100;
	for (uint32_t i = 0; i < 1000; i++) {
		if (conc_queue_put(q, &i, 4, 0) || conc_queue_put(q, &i, 4, CONC_FOREVER))
			syscall(SYS_exit_group, 2);
		if (conc_queue_get(q, &v, 4, 0) != 4 || v != i ||
		    conc_queue_get_begin(q, &v, 4, CONC_FOREVER) != 4 || v != i ||
		    conc_queue_get_commit(q))
			syscall(SYS_exit_group, 3);
		if (conc_queue_size(q) != 0)
			syscall(SYS_exit_group, 4);
	}
	syscall(SYS_exit_group, 0);
	return 5;
}

static void assert_no_syscalls(conc_queue *q)
{
	int st = run_in_child(no_syscalls, q, 10000);

	if (st == 100)
		cr_skip_test("seccomp filters are not available here");
	cr_assert_eq(st, 0, "the fast path made a system call (or failed: %d)", st);
}

Test(queue, fast_path_makes_no_system_call, .timeout = 20)
{
	conc_queue *q = new_queue(8, 4);

	if (!seccomp_available())
		cr_skip_test("seccomp filters are not available here");
	assert_no_syscalls(q);
	conc_queue_destroy(q);
}

static int child_put_forever(void *arg)
{
	uint32_t v = 1;

	return errcode(conc_queue_put(arg, &v, sizeof(v), CONC_FOREVER));
}

/* A process killed while it sleeps must not leave every later call paying
 * for a wake-up. */
Test(queue, fast_path_stays_free_after_sleepers_were_killed, .timeout = 20)
{
	conc_queue *q = new_queue(2, 4);
	pid_t pid;

	if (!seccomp_available())
		cr_skip_test("seccomp filters are not available here");
	for (int k = 0; k < 3; k++) {
		pid = fork_child(child_get_forever, q);
		cr_assert(wait_thread_sleeping(pid, pid, 5000));
		kill(pid, SIGKILL);
		cr_assert(killed_by(wait_child(pid, 5000), SIGKILL));
	}
	assert_no_syscalls(q);
	put_u32(q, 0, 0);
	put_u32(q, 1, 0);
	for (int k = 0; k < 3; k++) {
		pid = fork_child(child_put_forever, q);
		cr_assert(wait_thread_sleeping(pid, pid, 5000));
		kill(pid, SIGKILL);
		cr_assert(killed_by(wait_child(pid, 5000), SIGKILL));
	}
	cr_assert_eq(get_u32(q, 0), 0);
	cr_assert_eq(get_u32(q, 0), 1);
	assert_no_syscalls(q);
	conc_queue_destroy(q);
}

/* ---- stress: every message exactly once ---------------------------------------------- */

/* A message: who, which, and a checksum over a payload of varying length. */
struct msg {
	uint32_t who, seq, len, sum;
	unsigned char pay[200];
};

static uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352d;
	x ^= x >> 15;
	x *= 0x846ca68b;
	return x ^ (x >> 16);
}

static size_t make_msg(struct msg *m, uint32_t who, uint32_t seq)
{
	m->who = who;
	m->seq = seq;
	m->len = mix(who * 7919 + seq) % sizeof(m->pay);
	m->sum = 0;
	for (uint32_t i = 0; i < m->len; i++) {
		m->pay[i] = (unsigned char)mix(seq + i * 31 + who);
		m->sum = m->sum * 31 + m->pay[i];
	}
	return offsetof(struct msg, pay) + m->len;
}

static int check_msg(const struct msg *m, ssize_t n)
{
	uint32_t sum = 0;

	if (n < (ssize_t)offsetof(struct msg, pay) ||
	    (size_t)n != offsetof(struct msg, pay) + m->len)
		return 0;
	for (uint32_t i = 0; i < m->len; i++)
		sum = sum * 31 + m->pay[i];
	return sum == m->sum;
}

enum { SP = 4, SC = 4, SN = 20000 };

struct stress {
	conc_queue *q;
	uint32_t id;
	uint32_t *count;	/* [SP][SN], shared */
	uint32_t *bad;
	uint32_t *got;
};

static void *stress_producer(void *arg)
{
	struct stress *s = arg;
	struct msg m;

	for (uint32_t i = 0; i < SN; i++) {
		size_t n = make_msg(&m, s->id, i);
		/* Mix blocking and timed puts. */
		int r = conc_queue_put(s->q, &m, n, i % 3 ? CONC_FOREVER : 10 * SEC);

		if (r) {
			__atomic_fetch_add(s->bad, 1, __ATOMIC_RELAXED);
			break;
		}
	}
	return NULL;
}

static void *stress_consumer(void *arg)
{
	struct stress *s = arg;
	struct msg m;
	ssize_t n;

	for (uint32_t k = 0;; k++) {
		int two = (k + s->id) % 4 == 0;

		n = two ? conc_queue_get_begin(s->q, &m, sizeof(m), CONC_FOREVER)
			: conc_queue_get(s->q, &m, sizeof(m), k % 5 ? CONC_FOREVER : 10 * SEC);
		if (n == -EPIPE)
			break;
		if (n < 0 || !check_msg(&m, n) || m.who >= SP || m.seq >= SN) {
			__atomic_fetch_add(s->bad, 1, __ATOMIC_RELAXED);
			if (two && n >= 0)
				conc_queue_get_commit(s->q);
			continue;
		}
		__atomic_fetch_add(&s->count[m.who * SN + m.seq], 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(s->got, 1, __ATOMIC_RELEASE);
		if (two && conc_queue_get_commit(s->q))
			__atomic_fetch_add(s->bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Every message arrives, before any close: a lost wake-up shows as a
 * consumer asleep beside a message. */
static void wait_all_received(uint32_t *got, uint32_t want)
{
	int64_t dl = now_ns() + 20 * SEC;

	while (__atomic_load_n(got, __ATOMIC_ACQUIRE) < want && now_ns() < dl)
		sleep_ns(MS);
	cr_assert_eq(__atomic_load_n(got, __ATOMIC_ACQUIRE), want,
		     "messages left undelivered before the close");
}

static void check_counts(const uint32_t *count, uint32_t bad)
{
	cr_assert_eq(bad, 0, "bad messages or errors: %u", bad);
	for (uint32_t i = 0; i < SP * SN; i++)
		cr_assert_eq(count[i], 1, "producer %u seq %u received %u times",
			     i / SN, i % SN, count[i]);
}

Test(queue, threads_mpmc_every_message_exactly_once, .timeout = 60)
{
	size_t sz = SP * SN * sizeof(uint32_t) + 64;
	uint32_t *mem = shared_alloc(sz);
	uint32_t *bad = mem, *got = mem + 1, *count = mem + 16;
	struct stress p[SP], c[SC];
	pthread_t tp[SP], tc[SC];
	conc_queue *q = new_queue(16, sizeof(struct msg));

	for (uint32_t i = 0; i < SC; i++) {
		c[i] = (struct stress){ q, i, count, bad, got };
		cr_assert_eq(pthread_create(&tc[i], NULL, stress_consumer, &c[i]), 0);
	}
	for (uint32_t i = 0; i < SP; i++) {
		p[i] = (struct stress){ q, i, count, bad, got };
		cr_assert_eq(pthread_create(&tp[i], NULL, stress_producer, &p[i]), 0);
	}
	for (int i = 0; i < SP; i++)
		cr_assert_eq(join_thread(tp[i], 30000, NULL), 0);
	wait_all_received(got, SP * SN);
	cr_assert_eq(conc_queue_close(q), 0);
	for (int i = 0; i < SC; i++)
		cr_assert_eq(join_thread(tc[i], 10000, NULL), 0);
	check_counts(count, *bad);
	conc_queue_destroy(q);
	shared_free(mem, sz);
}

static int proc_producer(void *arg)
{
	stress_producer(arg);
	return 0;
}

static int proc_consumer(void *arg)
{
	stress_consumer(arg);
	return 0;
}

Test(queue, processes_mpmc_every_message_exactly_once, .timeout = 60)
{
	size_t sz = SP * SN * sizeof(uint32_t) + 64;
	uint32_t *mem = shared_alloc(sz);
	uint32_t *bad = mem, *got = mem + 1, *count = mem + 16;
	struct stress s;
	pid_t pp[SP], pc[SC];
	conc_queue *q = new_queue(8, sizeof(struct msg));

	for (uint32_t i = 0; i < SC; i++) {
		s = (struct stress){ q, i, count, bad, got };
		pc[i] = fork_child(proc_consumer, &s);
	}
	for (uint32_t i = 0; i < SP; i++) {
		s = (struct stress){ q, i, count, bad, got };
		pp[i] = fork_child(proc_producer, &s);
	}
	for (int i = 0; i < SP; i++)
		cr_assert(exited_with(wait_child(pp[i], 30000), 0));
	wait_all_received(got, SP * SN);
	cr_assert_eq(conc_queue_close(q), 0);
	for (int i = 0; i < SC; i++)
		cr_assert(exited_with(wait_child(pc[i], 10000), 0));
	check_counts(count, *bad);
	conc_queue_destroy(q);
	shared_free(mem, sz);
}

/* Many rounds in which every consumer sleeps on an empty queue and then
 * two producer processes put at once: overlapping wake-ups and sleepers
 * on their way in must not lose a message. */
struct burst {
	conc_queue *q;
	uint32_t round, got, stop;
};

static void *burst_consumer(void *arg)
{
	struct burst *b = arg;
	uint32_t v;

	while (conc_queue_get(b->q, &v, 4, CONC_FOREVER) == 4)
		__atomic_fetch_add(&b->got, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int burst_producer(void *arg)
{
	struct burst *b = arg;
	uint32_t done = 0, r;

	while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
		r = __atomic_load_n(&b->round, __ATOMIC_ACQUIRE);
		if (r == done) {
			sched_yield();
			continue;
		}
		if (conc_queue_put(b->q, &r, 4, 5 * SEC))
			return 1;
		done = r;
	}
	return 0;
}

Test(queue, overlapping_wake_ups_are_not_lost, .timeout = 60)
{
	enum { NC = 3, NP = 2, ROUNDS = 1500 };
	struct burst *b = shared_alloc(sizeof(*b));
	pthread_t tc[NC];
	pid_t pp[NP];

	cr_assert_not_null(b);
	b->q = new_queue(8, 4);
	for (int i = 0; i < NC; i++)
		cr_assert_eq(pthread_create(&tc[i], NULL, burst_consumer, b), 0);
	for (int i = 0; i < NP; i++)
		pp[i] = fork_child(burst_producer, b);
	for (uint32_t r = 1; r <= ROUNDS; r++) {
		int64_t dl = now_ns() + 5 * SEC;

		/* Let the consumers fall asleep now and then. */
		if (r % 4 == 0)
			sleep_ns(200000);
		__atomic_store_n(&b->round, r, __ATOMIC_RELEASE);
		while (__atomic_load_n(&b->got, __ATOMIC_ACQUIRE) < NP * r &&
		       now_ns() < dl)
			sched_yield();
		cr_assert_eq(b->got, NP * r, "round %u: a message was left", r);
	}
	set_flag(&b->stop, 1);
	for (int i = 0; i < NP; i++)
		cr_assert(exited_with(wait_child(pp[i], 5000), 0));
	conc_queue_close(b->q);
	for (int i = 0; i < NC; i++)
		cr_assert_eq(join_thread(tc[i], 5000, NULL), 0);
	conc_queue_destroy(b->q);
	shared_free(b, sizeof(*b));
}

Test(queue, size_is_a_snapshot_between_zero_and_capacity, .timeout = 20)
{
	conc_queue *q = new_queue(5, 4);

	for (uint32_t i = 0; i < 5; i++) {
		cr_assert_eq(conc_queue_size(q), i);
		put_u32(q, i, 0);
	}
	cr_assert_eq(conc_queue_size(q), 5);
	/* While producers and consumers run, it stays in range. */
	pid_t pid = test_fork();

	if (pid == 0) {
		uint32_t v;

		for (int i = 0; i < 20000; i++)
			if (conc_queue_get(q, &v, 4, 5 * SEC) != 4 ||
			    conc_queue_put(q, &v, 4, 5 * SEC))
				_exit(1);
		_exit(0);
	}
	for (int i = 0; i < 20000; i++) {
		ssize_t n = conc_queue_size(q);

		cr_assert(n >= 0 && n <= 5, "size %zd", n);
	}
	cr_assert(exited_with(wait_child(pid, 20000), 0));
	conc_queue_destroy(q);
}
