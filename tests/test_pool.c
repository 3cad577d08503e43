/* tests/test_pool.c — conc_pool: submit/apply/map/imap, futures and
 * callbacks, crash recovery (segfault, exit, SIGKILL at random during
 * 10,000 tasks), task timeouts, max tasks per worker, close/join/terminate,
 * bad input. Every wait is bounded; workers leave with _exit() (the pool
 * does it). Behaviour is asserted, never timing. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <conc/pool.h>
#include <conc.h>
#include "helpers.h"
#include "cancel_waiter.h"
#include "pool/pool_impl.h"	/* the slot layout, to scribble on it */

#define MS(ms)	((int64_t)(ms) * 1000000)
#define BOUND	MS(20000)	/* a wait that must end gives up here */

/* ---- tasks (they run in the workers) ---- */

static ssize_t t_square(const void *arg, size_t len, void *res, size_t cap)
{
	int64_t v;

	if (len != sizeof(v) || cap < sizeof(v))
		return -EINVAL;
	memcpy(&v, arg, sizeof(v));
	v *= v;
	memcpy(res, &v, sizeof(v));
	return sizeof(v);
}

/* arg: an int; fails with -ENOENT when it is odd, else returns 2 * it. */
static ssize_t t_even(const void *arg, size_t len, void *res, size_t cap)
{
	int v;

	(void)len;
	(void)cap;
	memcpy(&v, arg, sizeof(v));
	if (v & 1)
		return -ENOENT;
	v *= 2;
	memcpy(res, &v, sizeof(v));
	return sizeof(v);
}

static ssize_t t_echo(const void *arg, size_t len, void *res, size_t cap)
{
	if (len > cap)
		return -EMSGSIZE;
	memcpy(res, arg, len);
	return (ssize_t)len;
}

static volatile int *volatile segv_ptr;	/* NULL */

static ssize_t t_segv(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's handler (UBSan's check before it) would exit(1). */
	signal(SIGSEGV, SIG_DFL);
	raise(SIGSEGV);
#endif
	return *segv_ptr = 1;
}

static ssize_t t_exit(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	_exit(7);
}

static ssize_t t_hang(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	for (;;)
		pause();
	return 0;
}

static ssize_t t_hang_on_5(const void *arg, size_t len, void *res, size_t cap)
{
	int v;

	memcpy(&v, arg, sizeof(v));
	if (v == 5)
		return t_hang(arg, len, res, cap);
	return t_even(arg, len, res, cap);
}

static ssize_t t_sleep(const void *arg, size_t len, void *res, size_t cap)
{
	int ms;

	(void)len, (void)res, (void)cap;
	memcpy(&ms, arg, sizeof(ms));
	sleep_ns(MS(ms));
	return 0;
}

static ssize_t t_pid(const void *arg, size_t len, void *res, size_t cap)
{
	pid_t pid = getpid();

	(void)arg, (void)len, (void)cap;
	memcpy(res, &pid, sizeof(pid));
	return sizeof(pid);
}

static int init_value;

static int initializer(void *arg)
{
	init_value = *(int *)arg;
	return 0;
}

static ssize_t t_init(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)cap;
	memcpy(res, &init_value, sizeof(init_value));
	return sizeof(init_value);
}

/* ---- helpers ---- */

static conc_pool *make(unsigned workers)
{
	conc_pool_attr a = { .workers = workers };
	conc_pool *p;
	int r = conc_pool_create(&p, &a);

	cr_assert_eq(r, 0, "create: %s", strerror(-r));
	return p;
}

static void finish(conc_pool *p)
{
	cr_assert_eq(conc_pool_close(p), 0);
	cr_assert_eq(conc_pool_join(p), 0);
	cr_assert_eq(conc_pool_destroy(p), 0);
}

static int64_t square_of(conc_pool *p, int64_t v)
{
	int64_t out = 0;
	ssize_t r = conc_pool_apply(p, t_square, &v, sizeof(v), &out,
				    sizeof(out));

	cr_assert_eq(r, (ssize_t)sizeof(out), "apply: %zd", r);
	return out;
}

/* ---- tasks that write where they must not (issue 9) ---- */

/* The slot of a map item, from its argument: item j of its chunk. */
static struct slot *slot_of(const void *arg, size_t in_size, size_t j)
{
	return (struct slot *)((const char *)arg - j * in_size -
			       CHUNK_MAX * sizeof(int64_t)) - 1;
}

/* arg: an int64 v, in chunks of 2. The odd item of each chunk scribbles
 * on its slot — lengths, counters, sizes — then returns v (v == 1: dies
 * instead). */
static ssize_t t_scribble(const void *arg, size_t len, void *res, size_t cap)
{
	struct slot *s;
	int64_t v;

	(void)cap;
	memcpy(&v, arg, sizeof(v));
	s = slot_of(arg, len, (size_t)(v & 1));
	if (v & 1) {
		__conc_pool_lens(s)[0] = (int64_t)1 << 30;
		if (v == 1)
			raise(SIGKILL);
		__conc_pool_lens(s)[1] = -((int64_t)1 << 40);
		s->done = 100000;
		s->nitems = 100000;
		s->out_size = (uint64_t)1 << 40;
		s->in_size = (uint64_t)1 << 40;
	}
	memcpy(res, &v, sizeof(v));
	return sizeof(v);
}

/* Writes 8 KiB past its result capacity, once the next slot holds a
 * queued task (so that, were the result buffer the slot's, that task
 * would be the one written over). */
static ssize_t t_overrun(const void *arg, size_t len, void *res, size_t cap)
{
	size_t stride = (sizeof(struct slot) + CHUNK_MAX * sizeof(int64_t) +
			 64 * 1024 + 64 * 1024 + 63) & ~(size_t)63;
	struct slot *next = (struct slot *)((char *)slot_of(arg, len, 0) + stride);
	int64_t end = now_ns() + MS(5000);

	while (__atomic_load_n(&next->state, __ATOMIC_ACQUIRE) != SLOT_QUEUED &&
	       now_ns() < end)
		sleep_ns(MS(1));
	/* ASan's SEGV handler would exit(1): die of the signal itself. Byte
	 * by byte, so the first store past the end meets the guard page: a
	 * memset would have ASan check the whole range first, and whatever
	 * ASan keeps beyond the guard could make it report instead of the
	 * fault coming (it did once in three ASan runs). */
	signal(SIGSEGV, SIG_DFL);
	for (size_t i = 0; i < cap + 8192; i++)
		((volatile char *)res)[i] = 0x5a;
	return 8;
}

/* ---- create, submit, futures ---- */

Test(pool, create_defaults_and_destroy)
{
	conc_pool *p;

	cr_assert_eq(conc_pool_create(&p, NULL), 0);
	cr_assert_eq(square_of(p, 12), 144);
	cr_assert_eq(conc_pool_destroy(p), 0);
}

Test(pool, create_bad_input)
{
	conc_pool_attr big = { .workers = 1, .max_arg = ((size_t)1 << 30) + 1 };
	conc_pool_attr many = { .workers = 100000 };
	conc_pool *p;

	cr_assert_eq(conc_pool_create(NULL, NULL), -EINVAL);
	cr_assert_eq(conc_pool_create(&p, &big), -EINVAL);
	cr_assert_eq(conc_pool_create(&p, &many), -EINVAL);
}

Test(pool, submit_wait_result_status_release)
{
	conc_pool *p = make(2);
	conc_future *f[16];
	int64_t v, out;
	int i;

	for (i = 0; i < 16; i++) {
		v = i;
		cr_assert_eq(conc_pool_submit(p, t_square, &v, sizeof(v), &f[i]), 0);
	}
	for (i = 0; i < 16; i++) {
		cr_assert_eq(conc_future_wait(f[i], BOUND), 0);
		cr_assert_eq(conc_future_status(f[i]), 0);
		cr_assert_eq(conc_future_result(f[i], &out, sizeof(out)),
			     (ssize_t)sizeof(out));
		cr_assert_eq(out, (int64_t)i * i);
		cr_assert_eq(conc_future_result(f[i], &out, 3), -EMSGSIZE);
		cr_assert_eq(conc_future_release(f[i]), 0);
	}
	finish(p);
}

Test(pool, pending_future_and_wait_timeout)
{
	conc_pool *p = make(1);
	conc_future *f;
	int ms = 300;
	char b[4];

	cr_assert_eq(conc_pool_submit(p, t_sleep, &ms, sizeof(ms), &f), 0);
	cr_assert_eq(conc_future_status(f), CONC_FUTURE_PENDING);
	cr_assert_eq(conc_future_result(f, b, sizeof(b)), -EAGAIN);
	cr_assert_eq(conc_future_wait(f, 0), -ETIMEDOUT);
	cr_assert_eq(conc_future_wait(f, MS(10)), -ETIMEDOUT);
	cr_assert_eq(conc_future_wait(f, BOUND), 0);
	cr_assert_eq(conc_future_result(f, b, sizeof(b)), 0);
	cr_assert_eq(conc_future_release(f), 0);
	finish(p);
}

Test(pool, release_pending_future)
{
	conc_pool *p = make(1);
	conc_future *f;
	int ms = 50;

	cr_assert_eq(conc_pool_submit(p, t_sleep, &ms, sizeof(ms), &f), 0);
	cr_assert_eq(conc_future_release(f), 0);
	finish(p);	/* join waits for it; ASan sees no leak or reuse */
}

Test(pool, task_error_is_its_status)
{
	conc_pool *p = make(1);
	conc_future *f;
	int v = 3, out;

	cr_assert_eq(conc_pool_submit(p, t_even, &v, sizeof(v), &f), 0);
	cr_assert_eq(conc_future_wait(f, BOUND), 0);
	cr_assert_eq(conc_future_status(f), -ENOENT);
	cr_assert_eq(conc_future_result(f, &out, sizeof(out)), -ENOENT);
	conc_future_release(f);
	v = 4;
	cr_assert_eq(conc_pool_apply(p, t_even, &v, sizeof(v), &out, sizeof(out)),
		     (ssize_t)sizeof(out));
	cr_assert_eq(out, 8);
	finish(p);
}

Test(pool, apply_and_sizes)
{
	conc_pool_attr a = { .workers = 1, .max_arg = 100, .max_result = 50 };
	conc_pool *p;
	char in[101], out[100];

	memset(in, 'x', sizeof(in));
	cr_assert_eq(conc_pool_create(&p, &a), 0);
	cr_assert_eq(conc_pool_apply(p, t_echo, in, 10, out, sizeof(out)), 10);
	cr_assert_eq(memcmp(in, out, 10), 0);
	cr_assert_eq(conc_pool_apply(p, t_echo, in, 101, out, sizeof(out)), -EMSGSIZE);
	/* 60 bytes do not fit the result area: the task's own -EMSGSIZE. */
	cr_assert_eq(conc_pool_apply(p, t_echo, in, 60, out, sizeof(out)), -EMSGSIZE);
	cr_assert_eq(conc_pool_apply(p, t_echo, in, 20, out, 5), -EMSGSIZE);
	cr_assert_eq(conc_pool_apply(p, t_echo, NULL, 0, out, sizeof(out)), 0);
	finish(p);
}

Test(pool, bad_input)
{
	conc_pool *p = make(1);
	conc_future *f;
	int v = 1;
	char buf[4];

	cr_assert_eq(conc_pool_submit(p, NULL, &v, sizeof(v), &f), -EINVAL);
	cr_assert_eq(conc_pool_submit(NULL, t_even, &v, sizeof(v), &f), -EINVAL);
	cr_assert_eq(conc_pool_submit(p, t_even, &v, sizeof(v), NULL), -EINVAL);
	cr_assert_eq(conc_pool_submit(p, t_even, NULL, 4, &f), -EINVAL);
	cr_assert_eq(conc_pool_submit(p, t_echo, buf, 65 * 1024, &f), -EMSGSIZE);
	cr_assert_eq(conc_pool_apply(p, NULL, &v, sizeof(v), buf, 4), -EINVAL);
	cr_assert_eq(conc_future_wait(NULL, 0), -EINVAL);
	cr_assert_eq(conc_future_status(NULL), -EINVAL);
	cr_assert_eq(conc_future_result(NULL, buf, 4), -EINVAL);
	cr_assert_eq(conc_future_release(NULL), -EINVAL);
	cr_assert_eq(conc_pool_map(p, NULL, &v, 1, 4, buf, 4, 0), -EINVAL);
	cr_assert_eq(conc_pool_map(p, t_even, &v, 1, 0, buf, 4, 0), -EINVAL);
	cr_assert_eq(conc_pool_map(p, t_even, &v, 1, 4, buf, 65 * 1024, 0), -EMSGSIZE);
	cr_assert_eq(conc_pool_imap_unordered(p, t_even, &v, 1, 4, 0, NULL), -EINVAL);
	cr_assert_eq(conc_imap_next(NULL, NULL, buf, 4, 0), -EINVAL);
	cr_assert_eq(conc_imap_release(NULL), -EINVAL);
	cr_assert_eq(conc_pool_poll(NULL, 0), -EINVAL);
	cr_assert_eq(conc_pool_close(NULL), -EINVAL);
	cr_assert_eq(conc_pool_join(NULL), -EINVAL);
	cr_assert_eq(conc_pool_join(p), -EINVAL, "join of an open pool");
	cr_assert_eq(conc_pool_terminate(NULL), -EINVAL);
	cr_assert_eq(conc_pool_destroy(NULL), -EINVAL);
	finish(p);
}

Test(pool, submit_after_close_is_epipe)
{
	conc_pool *p = make(1);
	conc_future *f;
	conc_imap *it;
	int v = 2, out;

	cr_assert_eq(conc_pool_close(p), 0);
	cr_assert_eq(conc_pool_close(p), 0);
	cr_assert_eq(conc_pool_submit(p, t_even, &v, sizeof(v), &f), -EPIPE);
	cr_assert_eq(conc_pool_apply(p, t_even, &v, sizeof(v), &out, 4), -EPIPE);
	cr_assert_eq(conc_pool_map(p, t_even, &v, 1, 4, &out, 4, 0), -EPIPE);
	cr_assert_eq(conc_pool_imap_unordered(p, t_even, &v, 1, 4, 0, &it), -EPIPE);
	/* No item at all: the pool is closed all the same. */
	cr_assert_eq(conc_pool_map(p, t_even, NULL, 0, 4, NULL, 4, 0), -EPIPE);
	cr_assert_eq(conc_pool_map_status(p, t_even, NULL, 0, 4, NULL, 4, 0, NULL), -EPIPE);
	cr_assert_eq(conc_pool_imap_unordered(p, t_even, NULL, 0, 4, 0, &it), -EPIPE);
	cr_assert_eq(conc_pool_join(p), 0);
	cr_assert_eq(conc_pool_destroy(p), 0);
}

/* ---- crashes and timeouts ---- */

Test(pool, segfaulting_task_fails_alone)
{
	conc_pool *p = make(2);
	conc_future *f;
	int st;

	cr_assert_eq(conc_pool_submit(p, t_segv, NULL, 0, &f), 0);
	cr_assert_eq(conc_future_wait(f, BOUND), 0);
	st = conc_future_status(f);
	cr_assert(CONC_FUTURE_IS_SIGNALED(st), "status %#x", st);
	cr_assert_eq(CONC_FUTURE_TERMSIG(st), SIGSEGV);
	cr_assert_eq(st, CONC_FUTURE_SIGNALED(SIGSEGV));
	cr_assert_eq(conc_future_result(f, NULL, 0), -ECHILD);
	conc_future_release(f);
	cr_assert_eq(square_of(p, 9), 81, "the pool keeps working");
	finish(p);
}

Test(pool, exiting_task_reports_exit_code)
{
	conc_pool *p = make(1);
	conc_future *f;
	int st;

	cr_assert_eq(conc_pool_submit(p, t_exit, NULL, 0, &f), 0);
	cr_assert_eq(conc_future_wait(f, BOUND), 0);
	st = conc_future_status(f);
	cr_assert(CONC_FUTURE_IS_EXITED(st), "status %#x", st);
	cr_assert_eq(CONC_FUTURE_EXITCODE(st), 7);
	cr_assert(!CONC_FUTURE_IS_SIGNALED(st));
	cr_assert_eq(conc_future_result(f, NULL, 0), -ECHILD);
	conc_future_release(f);
	cr_assert_eq(square_of(p, 5), 25);
	finish(p);
}

Test(pool, hanging_task_times_out)
{
	conc_pool_attr a = { .workers = 2, .task_timeout_ns = MS(200) };
	conc_pool *p;
	conc_future *f, *g;
	int ms = 10;

	cr_assert_eq(conc_pool_create(&p, &a), 0);
	cr_assert_eq(conc_pool_submit(p, t_hang, NULL, 0, &f), 0);
	cr_assert_eq(conc_pool_submit(p, t_sleep, &ms, sizeof(ms), &g), 0);
	cr_assert_eq(conc_future_wait(f, BOUND), 0);
	cr_assert_eq(conc_future_status(f), CONC_FUTURE_TIMEOUT);
	cr_assert_eq(conc_future_result(f, NULL, 0), -ETIMEDOUT);
	cr_assert_eq(conc_future_wait(g, BOUND), 0);
	cr_assert_eq(conc_future_status(g), 0, "the other task completes");
	conc_future_release(f);
	conc_future_release(g);
	cr_assert_eq(square_of(p, 7), 49, "the pool keeps working");
	finish(p);
}

/* ---- timeouts on every call that waits ---- */

/* A pool of one worker whose four slots hold hanging tasks. */
static conc_pool *full_pool(conc_future *f[4])
{
	conc_pool *p = make(1);

	for (int i = 0; i < 4; i++)
		cr_assert_eq(conc_pool_submit(p, t_hang, NULL, 0, &f[i]), 0);
	return p;
}

static void release_all(conc_future *f[4])
{
	for (int i = 0; i < 4; i++)
		conc_future_release(f[i]);
}

static int cb_calls;

static void count_calls(conc_future *f, void *arg)
{
	(void)f, (void)arg;
	cb_calls++;
}

Test(pool_timed, submit_without_a_free_slot_times_out)
{
	conc_future *f[4], *g = (conc_future *)&g;
	conc_pool *p = full_pool(f);
	int64_t v = 3;

	cr_assert_eq(conc_pool_submit_timed(p, t_square, &v, sizeof(v), &g, 0),
		     -ETIMEDOUT);
	cr_assert_null(g, "nothing was submitted");
	cr_assert_eq(conc_pool_submit_timed(p, t_square, &v, sizeof(v), &g,
					    MS(20)), -ETIMEDOUT);
	cr_assert_eq(conc_pool_submit_cb_timed(p, t_square, &v, sizeof(v),
					       count_calls, count_calls, NULL,
					       NULL, MS(20)), -ETIMEDOUT);
	cr_assert_eq(conc_pool_submit_timed(p, t_square, &v, sizeof(v), NULL,
					    0), -EINVAL);
	cr_assert_eq(conc_pool_terminate(p), 0);
	cr_assert_eq(cb_calls, 0, "the refused task has no callback");
	cr_assert_eq(conc_future_status(f[0]), -ECANCELED);
	release_all(f);
	cr_assert_eq(conc_pool_destroy(p), 0);
}

Test(pool_timed, submit_timed_takes_a_free_slot)
{
	conc_pool *p = make(1);
	conc_future *f;
	int64_t v = 6, out = 0;

	cr_assert_eq(conc_pool_submit_timed(p, t_square, &v, sizeof(v), &f, 0), 0);
	cr_assert_eq(conc_future_wait(f, BOUND), 0);
	cr_assert_eq(conc_future_result(f, &out, sizeof(out)), 8);
	cr_assert_eq(out, 36);
	conc_future_release(f);
	cr_assert_eq(conc_pool_submit_cb_timed(p, t_square, &v, sizeof(v),
					       count_calls, NULL, NULL, NULL,
					       BOUND), 0);
	cr_assert_eq(conc_pool_apply_timed(p, t_square, &v, sizeof(v), &out,
					   sizeof(out), BOUND), 8);
	cr_assert_eq(out, 36);
	finish(p);
	cr_assert_eq(cb_calls, 1);
}

Test(pool_timed, apply_leaves_a_late_task_running)
{
	conc_pool *p = make(2);
	int64_t v = 4, out = 0;
	conc_future *f[4];

	/* Not finished in time: it runs on, holding a worker. */
	cr_assert_eq(conc_pool_apply_timed(p, t_hang, NULL, 0, NULL, 0, MS(20)),
		     -ETIMEDOUT);
	cr_assert_eq(conc_pool_apply_timed(p, t_square, &v, sizeof(v), &out,
					   sizeof(out), BOUND), 8,
		     "the other worker still serves");
	cr_assert_eq(out, 16);
	cr_assert_eq(conc_pool_terminate_timed(p, BOUND), 0);
	cr_assert_eq(conc_pool_destroy(p), 0);

	/* No free slot in time: nothing submitted. */
	p = full_pool(f);
	cr_assert_eq(conc_pool_apply_timed(p, t_square, &v, sizeof(v), &out,
					   sizeof(out), MS(20)), -ETIMEDOUT);
	release_all(f);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
}

Test(pool_timed, map_reports_the_items_that_did_not_finish)
{
	conc_pool *p = make(2);
	int in[10], out[10];
	ssize_t lens[10];
	int i;

	for (i = 0; i < 10; i++)
		in[i] = i;
	cr_assert_eq(conc_pool_map_status_timed(p, t_hang_on_5, in, 10,
						sizeof(int), out, sizeof(int),
						1, lens, MS(200)), -ETIMEDOUT);
	cr_assert_eq(lens[5], -ETIMEDOUT);
	for (i = 0; i < 10; i++) {
		if (i & 1)
			cr_assert(lens[i] == -ENOENT || lens[i] == -ETIMEDOUT,
				  "item %d: %zd", i, lens[i]);
		else if (i != 5 && lens[i] != -ETIMEDOUT)
			cr_assert(lens[i] == 4 && out[i] == 2 * i,
				  "item %d: %zd", i, lens[i]);
	}
	cr_assert_eq(conc_pool_map_timed(p, t_hang_on_5, in, 10, sizeof(int),
					 out, sizeof(int), 1, MS(20)),
		     -ETIMEDOUT);
	/* Each item 5 runs on: both workers hang now. */
	cr_assert_eq(conc_pool_terminate_timed(p, BOUND), 0);
	cr_assert_eq(conc_pool_destroy(p), 0);

	/* In time, it is the plain map. */
	p = make(2);
	in[5] = 4;
	cr_assert_eq(conc_pool_map_timed(p, t_hang_on_5, in, 10, sizeof(int),
					 out, sizeof(int), 0, BOUND), 4, "the odd ones");
	for (i = 0; i < 10; i++)
		if (!(in[i] & 1))
			cr_assert_eq(out[i], 2 * in[i]);
	finish(p);
}

Test(pool_timed, join_times_out_and_stays_joinable)
{
	conc_pool *p = make(1);
	conc_future *f;
	int ms = 300;

	cr_assert_eq(conc_pool_join_timed(p, 0), -EINVAL, "not closed");
	cr_assert_eq(conc_pool_submit(p, t_hang, NULL, 0, &f), 0);
	cr_assert_eq(conc_pool_close(p), 0);
	cr_assert_eq(conc_pool_join_timed(p, 0), -ETIMEDOUT);
	cr_assert_eq(conc_pool_join_timed(p, MS(20)), -ETIMEDOUT);
	cr_assert_eq(conc_future_status(f), CONC_FUTURE_PENDING,
		     "the task runs on");
	cr_assert_eq(conc_pool_terminate(p), 0);
	cr_assert_eq(conc_pool_join_timed(p, BOUND), 0);
	conc_future_release(f);
	cr_assert_eq(conc_pool_destroy(p), 0);

	/* Joined in time: every task done. */
	p = make(2);
	cr_assert_eq(conc_pool_submit(p, t_sleep, &ms, sizeof(ms), &f), 0);
	cr_assert_eq(conc_pool_close(p), 0);
	cr_assert_eq(conc_pool_join_timed(p, BOUND), 0);
	cr_assert_eq(conc_future_status(f), 0);
	conc_future_release(f);
	cr_assert_eq(conc_pool_destroy(p), 0);
}

Test(pool_timed, terminate_and_destroy_with_no_time_to_wait)
{
	conc_future *f[4], *g;
	conc_pool *p = full_pool(f);
	int r;

	/* Killed at once, perhaps not gone yet: the tasks are finished
	 * either way and the pool takes no more. */
	r = conc_pool_terminate_timed(p, 0);
	cr_assert(r == 0 || r == -ETIMEDOUT, "terminate: %d", r);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(conc_future_status(f[i]), -ECANCELED);
	cr_assert_eq(conc_pool_submit(p, t_hang, NULL, 0, &g), -EPIPE);
	cr_assert_eq(conc_pool_terminate_timed(p, BOUND), 0, "reaped now");
	release_all(f);
	cr_assert_eq(conc_pool_destroy_timed(p, 0), 0, "nothing left to wait for");

	p = full_pool(f);
	r = conc_pool_destroy_timed(p, 0);
	cr_assert(r == 0 || r == -ETIMEDOUT, "destroy: %d", r);
	if (r == -ETIMEDOUT)	/* still a pool */
		cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(conc_future_status(f[i]), -ECANCELED);
	release_all(f);
}

Test(pool_timed, a_cancelled_wait_is_final)
{
	conc_pool *p = make(1);
	conc_future *f;

	cr_assert_eq(conc_pool_submit(p, t_hang, NULL, 0, &f), 0);
	cancels = 1;
	__conc_self_tls.waiter = &cancelling;
	cr_assert_eq(conc_future_wait(f, MS(5000)), -ECANCELED);
	__conc_self_tls.waiter = NULL;
	cr_assert_eq(conc_future_status(f), CONC_FUTURE_PENDING);
	cr_assert_eq(conc_pool_terminate(p), 0);
	conc_future_release(f);
	cr_assert_eq(conc_pool_destroy(p), 0);
}

/* Holds the pool's lock until told to let go. */
struct holder {
	conc_mutex *m;
	conc_event held, release;
};

static void *hold_lock(void *arg)
{
	struct holder *h = arg;

	conc_mutex_lock(h->m);
	conc_event_set(&h->held);
	conc_event_wait(&h->release, BOUND);
	conc_mutex_unlock(h->m);
	return NULL;
}

Test(pool_timed, a_cancel_while_waiting_for_the_pools_lock)
{
	conc_pool *p = make(1);
	struct holder h = { .m = &p->lock };
	int64_t v = 9, out = 0;
	conc_future *f;
	pthread_t t;

	cr_assert_eq(conc_pool_submit(p, t_square, &v, sizeof(v), &f), 0);
	conc_event_init(&h.held, 0);
	conc_event_init(&h.release, 0);
	cr_assert_eq(pthread_create(&t, NULL, hold_lock, &h), 0);
	cr_assert_eq(conc_event_wait(&h.held, BOUND), 0);
	/* The lock is not taken: the call ends, changing nothing. */
	futex_cancels = 1;
	__conc_self_tls.waiter = &cancelling;
	cr_assert_eq(conc_future_wait(f, BOUND), -ECANCELED);
	cr_assert_eq(futex_cancels, 0);
	__conc_self_tls.waiter = NULL;
	conc_event_set(&h.release);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(conc_future_wait(f, BOUND), 0);
	cr_assert_eq(conc_future_result(f, &out, sizeof(out)), 8);
	cr_assert_eq(out, 81);
	conc_future_release(f);
	cr_assert_eq(square_of(p, 3), 9, "the lock works as before");
	finish(p);
}

/* The pids of the workers, recorded by their initializer in shared memory. */
struct pids {
	uint32_t n;
	pid_t pid[4096];
};

static int record_pid(void *arg)
{
	struct pids *s = arg;
	uint32_t i = __atomic_fetch_add(&s->n, 1, __ATOMIC_RELAXED);

	if (i < 4096)
		s->pid[i] = getpid();
	return 0;
}

struct killer {
	struct pids *pids;
	volatile int stop;
	int kills;
};

/* SIGKILL a live worker now and then: through a pidfd opened on the pid,
 * and only if that process is our child, so never a recycled pid. */
static void *killer(void *arg)
{
	struct killer *k = arg;
	unsigned seed = 12345;
	char path[64], line[256];

	while (!k->stop) {
		uint32_t n = __atomic_load_n(&k->pids->n, __ATOMIC_RELAXED);
		pid_t pid = n ? k->pids->pid[rand_r(&seed) % (n < 4096 ? n : 4096)] : 0;
		int fd = pid ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
		FILE *fp;

		if (fd >= 0) {
			snprintf(path, sizeof(path), "/proc/%d/stat", pid);
			if ((fp = fopen(path, "r"))) {
				int ppid = 0;
				char *c;

				if (fgets(line, sizeof(line), fp) &&
				    (c = strrchr(line, ')')) &&
				    sscanf(c + 2, "%*c %d", &ppid) == 1 &&
				    ppid == getpid() &&
				    syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) == 0)
					__atomic_fetch_add(&k->kills, 1, __ATOMIC_RELAXED);
				fclose(fp);
			}
			close(fd);
		}
		sleep_ns(MS(2) + rand_r(&seed) % MS(3));
	}
	return NULL;
}

static ssize_t t_work(const void *arg, size_t len, void *res, size_t cap)
{
	int64_t v;
	volatile int spin;

	(void)len, (void)cap;
	memcpy(&v, arg, sizeof(v));
	for (spin = 0; spin < 100000; spin++)
		;
	v = v * 3 + 1;
	memcpy(res, &v, sizeof(v));
	return sizeof(v);
}

static void count_cb(conc_future *f, void *arg)
{
	(void)f;
	__atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
}

Test(pool, random_sigkill_during_10000_tasks, .timeout = 120)
{
	enum { N = 10000 };
	struct pids *pids = mmap(NULL, sizeof(*pids), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	conc_pool_attr a = { .workers = 4, .initializer = record_pid };
	struct killer k = { 0 };
	conc_future **f = calloc(N, sizeof(*f));
	int *calls = calloc(N, sizeof(*calls));
	int64_t v, out;
	int i, ok = 0, killed = 0, st, guard;
	conc_pool *p;
	pthread_t th;

	cr_assert(pids != MAP_FAILED && f && calls);
	a.initarg = pids;
	k.pids = pids;
	cr_assert_eq(conc_pool_create(&p, &a), 0);
	cr_assert_eq(pthread_create(&th, NULL, killer, &k), 0);
	for (i = 0; i < N; i++) {
		v = i;
		cr_assert_eq(conc_pool_submit_cb(p, t_work, &v, sizeof(v), count_cb,
						 count_cb, &calls[i], &f[i]), 0);
		/* However the threads are scheduled, kills happen throughout:
		 * one more every 500 submissions at least. */
		for (guard = 0; i % 500 == 499 &&
				__atomic_load_n(&k.kills, __ATOMIC_RELAXED) <= i / 500 &&
				guard < 2000; guard++)
			conc_pool_poll(p, MS(5));
	}
	for (i = 0; i < N; i++) {
		cr_assert_eq(conc_future_wait(f[i], BOUND), 0, "task %d hangs", i);
		cr_assert_eq(calls[i], 1, "task %d: %d callbacks", i, calls[i]);
		st = conc_future_status(f[i]);
		if (st == 0) {
			cr_assert_eq(conc_future_result(f[i], &out, sizeof(out)),
				     (ssize_t)sizeof(out));
			cr_assert_eq(out, (int64_t)i * 3 + 1);
			ok++;
		} else {
			cr_assert_eq(st, CONC_FUTURE_SIGNALED(SIGKILL),
				     "task %d: status %#x", i, st);
			cr_assert_eq(conc_future_result(f[i], &out, sizeof(out)),
				     -ECHILD);
			killed++;
		}
		conc_future_release(f[i]);
	}
	k.stop = 1;
	pthread_join(th, NULL);
	cr_assert_eq(ok + killed, N);
	cr_assert_leq(killed, k.kills, "a failure per kill at most");
	cr_assert_geq(k.kills, N / 500, "the killer killed");
	cr_log_info("%d kills, %d tasks failed, %u workers started", k.kills,
		    killed, pids->n);
	/* Healthy: every task runs again. */
	cr_assert_eq(square_of(p, 11), 121);
	v = 0;
	{
		int64_t in[100], res[100];

		for (i = 0; i < 100; i++)
			in[i] = i;
		cr_assert_eq(conc_pool_map(p, t_square, in, 100, 8, res, 8, 0), 0);
		for (i = 0; i < 100; i++)
			cr_assert_eq(res[i], (int64_t)i * i);
	}
	finish(p);
	for (i = 0; i < N; i++)
		cr_assert_eq(calls[i], 1, "task %d: %d callbacks", i, calls[i]);
	free(calls);
	free(f);
	munmap(pids, sizeof(*pids));
}

Test(pool, idle_worker_killed_is_replaced_silently)
{
	struct pids *pids = mmap(NULL, sizeof(struct pids), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	conc_pool_attr a = { .workers = 2, .initializer = record_pid };
	conc_pool *p;
	int i, guard = 0;

	cr_assert(pids != MAP_FAILED);
	a.initarg = pids;
	cr_assert_eq(conc_pool_create(&p, &a), 0);
	while (__atomic_load_n(&pids->n, __ATOMIC_RELAXED) < 2 && guard++ < 2000)
		sleep_ns(MS(5));
	cr_assert_eq(kill(pids->pid[0], SIGKILL), 0);
	cr_assert_eq(kill(pids->pid[1], SIGKILL), 0);
	guard = 0;
	while (__atomic_load_n(&pids->n, __ATOMIC_RELAXED) < 4 && guard++ < 400)
		conc_pool_poll(p, MS(50));
	cr_assert_eq(pids->n, 4, "both replaced");
	for (i = 0; i < 20; i++)
		cr_assert_eq(square_of(p, i), (int64_t)i * i);
	finish(p);
	munmap(pids, sizeof(struct pids));
}

Test(pool, map_item_timeout)
{
	conc_pool_attr a = { .workers = 2, .task_timeout_ns = MS(200) };
	int in[12], out[12], i;
	ssize_t lens[12];
	conc_pool *p;

	for (i = 0; i < 12; i++)
		in[i] = 2 * i;
	in[5] = 5;
	cr_assert_eq(conc_pool_create(&p, &a), 0);
	cr_assert_eq(conc_pool_map_status(p, t_hang_on_5, in, 12, 4, out, 4, 1,
					  lens), 1);
	for (i = 0; i < 12; i++) {
		if (i == 5) {
			cr_assert_eq(lens[i], -ETIMEDOUT);
		} else {
			cr_assert_eq(lens[i], 4, "item %d: %zd", i, lens[i]);
			cr_assert_eq(out[i], 4 * i);
		}
	}
	/* In a chunk: the items before the hanging one keep their results,
	 * the hanging one and those after it fail with the timeout. */
	cr_assert_eq(conc_pool_map_status(p, t_hang_on_5, in, 12, 4, out, 4, 12,
					  lens), 7);
	for (i = 0; i < 12; i++)
		cr_assert_eq(lens[i], i < 5 ? 4 : -ETIMEDOUT, "item %d: %zd", i,
			     lens[i]);
	finish(p);
}

/* ---- callbacks ---- */

struct counts {
	int done[200], error[200];
	pid_t tid;
	int wrong_thread;
};

static void on_done(conc_future *f, void *arg)
{
	struct counts *c = arg;
	int out = -1;

	cr_assert_eq(conc_future_result(f, &out, sizeof(out)), 4);
	c->done[out / 4]++;
	if (syscall(SYS_gettid) != c->tid)
		c->wrong_thread++;
}

static int cb_index[200];

static void on_error(conc_future *f, void *arg)
{
	struct counts *c = arg;

	cr_assert_eq(conc_future_status(f), -ENOENT);
	c->error[0]++;
	if (syscall(SYS_gettid) != c->tid)
		c->wrong_thread++;
}

Test(pool, callbacks_run_exactly_once)
{
	conc_pool *p = make(3);
	struct counts c = { .tid = (pid_t)syscall(SYS_gettid) };
	conc_future *kept[20];
	int i, total, nk = 0, guard = 0;

	(void)cb_index;
	for (i = 0; i < 200; i++) {
		conc_future **fp = i % 10 == 0 ? &kept[nk++] : NULL;

		cr_assert_eq(conc_pool_submit_cb(p, t_even, &i, sizeof(i), on_done,
						 on_error, &c, fp), 0);
	}
	for (;;) {
		total = c.error[0];
		for (i = 0; i < 200; i++)
			total += c.done[i];
		if (total == 200 || guard++ > 2000)
			break;
		conc_pool_poll(p, MS(10));
	}
	cr_assert_eq(total, 200);
	cr_assert_eq(c.error[0], 100);
	for (i = 0; i < 200; i += 2)
		cr_assert_eq(c.done[i / 2], 1, "item %d called back %d times",
			     i, c.done[i / 2]);
	cr_assert_eq(c.wrong_thread, 0, "callbacks in the polling thread");
	for (i = 0; i < nk; i++) {
		cr_assert_eq(conc_future_wait(kept[i], 0), 0);
		conc_future_release(kept[i]);
	}
	finish(p);
	for (i = 0; i < 100; i++)
		cr_assert_eq(c.done[i], 1);
	cr_assert_eq(c.error[0], 100, "no callback twice after join");
}

static int nested_ok;

static void on_done_submit(conc_future *f, void *arg)
{
	conc_pool *p = arg;
	int64_t v = 6, out = 0;

	(void)f;
	/* A callback may use the pool. */
	if (conc_pool_apply(p, t_square, &v, sizeof(v), &out, sizeof(out)) == 8 &&
	    out == 36)
		nested_ok++;
}

Test(pool, callback_may_use_the_pool)
{
	conc_pool *p = make(2);
	conc_future *f;
	int64_t v = 2;

	cr_assert_eq(conc_pool_submit_cb(p, t_square, &v, sizeof(v),
					 on_done_submit, NULL, p, &f), 0);
	cr_assert_eq(conc_future_wait(f, BOUND), 0);
	cr_assert_eq(nested_ok, 1, "callback ran before the wait returned");
	conc_future_release(f);
	finish(p);
}

/* ---- terminate, close/join ---- */

static int cancelled;

static void on_cancel(conc_future *f, void *arg)
{
	(void)arg;
	if (conc_future_status(f) == -ECANCELED)
		cancelled++;
}

Test(pool, terminate_with_pending_work)
{
	conc_pool *p = make(2);
	conc_future *f[8], *g;
	int ms = 10000, i, v = 2;

	for (i = 0; i < 8; i++)
		cr_assert_eq(conc_pool_submit_cb(p, t_sleep, &ms, sizeof(ms), NULL,
						 on_cancel, NULL, &f[i]), 0);
	conc_future_wait(f[0], MS(50));
	cr_assert_eq(conc_pool_terminate(p), 0);
	cr_assert_eq(cancelled, 8, "error callbacks ran in terminate");
	for (i = 0; i < 8; i++) {
		cr_assert_eq(conc_future_wait(f[i], 0), 0);
		int st = conc_future_status(f[i]);

		cr_assert_eq(st, -ECANCELED, "future %d: status %d", i, st);
		cr_assert_eq(conc_future_result(f[i], NULL, 0), -ECANCELED);
	}
	cr_assert_eq(conc_pool_terminate(p), 0);
	cr_assert_eq(conc_pool_submit(p, t_even, &v, sizeof(v), &g), -EPIPE);
	cr_assert_null(g, "no future on error");
	cr_assert_eq(conc_pool_join(p), 0);
	cr_assert_eq(conc_pool_destroy(p), 0);
	/* Futures outlive the pool. */
	for (i = 0; i < 8; i++) {
		cr_assert_eq(conc_future_status(f[i]), -ECANCELED);
		cr_assert_eq(conc_future_release(f[i]), 0);
	}
}

Test(pool, close_then_join_runs_queued_work)
{
	conc_pool *p = make(2);
	conc_future *f[30];
	int i, out;

	for (i = 0; i < 30; i++) {
		int v = 2 * i;

		cr_assert_eq(conc_pool_submit(p, t_even, &v, sizeof(v), &f[i]), 0);
	}
	cr_assert_eq(conc_pool_close(p), 0);
	cr_assert_eq(conc_pool_join(p), 0);
	for (i = 0; i < 30; i++) {
		cr_assert_eq(conc_future_status(f[i]), 0);
		cr_assert_eq(conc_future_result(f[i], &out, sizeof(out)), 4);
		cr_assert_eq(out, 4 * i);
		conc_future_release(f[i]);
	}
	cr_assert_eq(conc_pool_join(p), 0);
	cr_assert_eq(conc_pool_destroy(p), 0);
}

Test(pool, join_does_not_fork_again_on_a_drained_queue)
{
	struct pids *pids = mmap(NULL, sizeof(struct pids), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	conc_pool_attr a = { .workers = 3, .initializer = record_pid };
	conc_pool *p;
	conc_future *f;
	int ms = 300;

	cr_assert(pids != MAP_FAILED);
	a.initarg = pids;
	cr_assert_eq(conc_pool_create(&p, &a), 0);
	cr_assert_eq(conc_pool_submit(p, t_sleep, &ms, sizeof(ms), &f), 0);
	cr_assert_eq(conc_pool_close(p), 0);
	cr_assert_eq(conc_pool_join(p), 0);
	cr_assert_eq(conc_future_status(f), 0);
	cr_assert_eq(pids->n, 3, "%u workers started", pids->n);
	conc_future_release(f);
	cr_assert_eq(conc_pool_destroy(p), 0);
	munmap(pids, sizeof(struct pids));
}

Test(pool, destroy_without_close)
{
	conc_pool *p = make(2);

	cr_assert_eq(square_of(p, 3), 9);
	cr_assert_eq(conc_pool_destroy(p), 0);
}

/* ---- workers ---- */

Test(pool, max_tasks_per_worker)
{
	conc_pool_attr a = { .workers = 2, .max_tasks_per_worker = 3 };
	conc_pool *p;
	pid_t pids[60], out;
	int i, j, same;

	cr_assert_eq(conc_pool_create(&p, &a), 0);
	for (i = 0; i < 60; i++) {
		cr_assert_eq(conc_pool_apply(p, t_pid, NULL, 0, &out, sizeof(out)),
			     (ssize_t)sizeof(out));
		pids[i] = out;
	}
	for (i = 0; i < 60; i++) {
		for (same = 0, j = 0; j < 60; j++)
			same += pids[j] == pids[i];
		cr_assert_leq(same, 3, "pid %d ran %d tasks", pids[i], same);
	}
	finish(p);
}

Test(pool, initializer_runs_in_each_worker)
{
	int magic = 4242, out = 0, i;
	conc_pool_attr a = { .workers = 2, .initializer = initializer,
			     .initarg = &magic, .max_tasks_per_worker = 2 };
	conc_pool *p;

	cr_assert_eq(conc_pool_create(&p, &a), 0);
	for (i = 0; i < 10; i++) {
		cr_assert_eq(conc_pool_apply(p, t_init, NULL, 0, &out, sizeof(out)), 4);
		cr_assert_eq(out, 4242);
	}
	cr_assert_eq(init_value, 0, "not in the parent");
	finish(p);
}

static int failing_init(void *arg)
{
	record_pid(arg);
	return 3;
}

Test(pool, failing_initializer_is_retried_slowly)
{
	struct pids *pids = mmap(NULL, sizeof(struct pids), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	conc_pool_attr a = { .workers = 1, .initializer = failing_init };
	conc_future *f;
	conc_pool *p;
	int v = 2;

	cr_assert(pids != MAP_FAILED);
	a.initarg = pids;
	cr_assert_eq(conc_pool_create(&p, &a), 0);
	cr_assert_eq(conc_pool_submit(p, t_even, &v, sizeof(v), &f), 0);
	/* A successor comes 100 ms after a failed one at the soonest: a fork
	 * loop would make hundreds in 2 s, a slow machine only fewer. */
	cr_assert_eq(conc_future_wait(f, MS(2000)), -ETIMEDOUT);
	cr_assert_leq(pids->n, 60, "%u forks in 2 s: a fork loop", pids->n);
	/* And one comes: within 2 s on a quiet machine, later on a loaded
	 * one (a fork of this process under ASan and load can take that). */
	for (int64_t end = now_ns() + MS(30000);
	     __atomic_load_n(&pids->n, __ATOMIC_RELAXED) < 2 && now_ns() < end;)
		cr_assert_eq(conc_future_wait(f, MS(100)), -ETIMEDOUT);
	cr_assert_geq(pids->n, 2, "never retried");
	cr_assert_eq(conc_pool_terminate(p), 0);
	cr_assert_eq(conc_future_status(f), -ECANCELED);
	conc_future_release(f);
	cr_assert_eq(conc_pool_destroy(p), 0);
	munmap(pids, sizeof(struct pids));
}

Test(pool, workers_are_not_left_behind)
{
	conc_pool *p = make(3);
	pid_t pid;

	cr_assert_eq(conc_pool_apply(p, t_pid, NULL, 0, &pid, sizeof(pid)), 4);
	cr_assert_neq(pid, getpid());
	finish(p);
	cr_assert_eq(kill(pid, 0), -1, "worker %d still exists", pid);
}

/* ---- map, imap, poll ---- */

Test(pool, a_task_scribbling_its_slot_changes_nothing)
{
	conc_pool *p = make(2);
	int64_t in[8], out[8] = { 0 };
	ssize_t lens[8];
	int i;

	/* Without the item that dies: every length is written again from
	 * the worker's own copy, the chunk's sizes were read before. */
	for (i = 0; i < 6; i++)
		in[i] = i + 2;
	cr_assert_eq(conc_pool_map_status(p, t_scribble, in, 6, 8, out, 8, 2,
					  lens), 0);
	for (i = 0; i < 6; i++) {
		cr_assert_eq(lens[i], 8, "item %d: %zd", i, lens[i]);
		cr_assert_eq(out[i], in[i]);
	}
	cr_assert_eq(square_of(p, 7), 49, "the pool keeps working");
	finish(p);
}

Test(pool, lengths_left_by_a_dead_scribbler_are_checked)
{
	conc_pool *p = make(1);
	int64_t in[2] = { 0, 1 }, out[2] = { 0 };
	ssize_t lens[2];

	/* Item 1 writes a length of 1 GiB for item 0, then dies: item 0's
	 * length is a lie (-EPROTO), item 1 failed with its worker. */
	cr_assert_eq(conc_pool_map_status(p, t_scribble, in, 2, 8, out, 8, 2,
					  lens), 2);
	cr_assert_eq(lens[0], -EPROTO, "item 0: %zd", lens[0]);
	cr_assert_eq(lens[1], -ECHILD, "item 1: %zd", lens[1]);
	cr_assert_eq(square_of(p, 7), 49, "the pool keeps working");
	finish(p);
}

Test(pool, a_task_overrunning_its_result_fails_alone)
{
	conc_pool *p = make(1);
	conc_future *a, *b, *c;
	int64_t v = 5, out = 0;
	int st;

	/* One worker: b and c wait in the slots after a's while a runs. */
	cr_assert_eq(conc_pool_submit(p, t_overrun, &v, sizeof(v), &a), 0);
	cr_assert_eq(conc_pool_submit(p, t_square, &v, sizeof(v), &b), 0);
	cr_assert_eq(conc_pool_submit(p, t_square, &v, sizeof(v), &c), 0);
	cr_assert_eq(conc_future_wait(a, BOUND), 0);
	st = conc_future_status(a);
	cr_assert_eq(st, CONC_FUTURE_SIGNALED(SIGSEGV), "status %#x", st);
	cr_assert_eq(conc_future_wait(b, MS(5000)), 0, "b was written over");
	cr_assert_eq(conc_future_wait(c, MS(5000)), 0, "c was written over");
	cr_assert_eq(conc_future_result(b, &out, sizeof(out)), 8);
	cr_assert_eq(out, 25);
	cr_assert_eq(conc_future_result(c, &out, sizeof(out)), 8);
	cr_assert_eq(out, 25);
	conc_future_release(a);
	conc_future_release(b);
	conc_future_release(c);
	finish(p);
}

Test(pool, map_in_order)
{
	conc_pool *p = make(3);
	int64_t in[1000], out[1000];
	size_t chunks[] = { 0, 1, 7, 1000 };
	unsigned c;
	int i;

	for (i = 0; i < 1000; i++)
		in[i] = i;
	for (c = 0; c < 4; c++) {
		memset(out, 0, sizeof(out));
		cr_assert_eq(conc_pool_map(p, t_square, in, 1000, 8, out, 8, chunks[c]), 0);
		for (i = 0; i < 1000; i++)
			cr_assert_eq(out[i], (int64_t)i * i, "chunk %zu item %d",
				     chunks[c], i);
	}
	cr_assert_eq(conc_pool_map(p, t_square, in, 0, 8, out, 8, 0), 0);
	finish(p);
}

Test(pool, map_status_per_item)
{
	conc_pool *p = make(2);
	int in[100], out[100];
	ssize_t lens[100];
	int i;

	for (i = 0; i < 100; i++)
		in[i] = i;
	cr_assert_eq(conc_pool_map_status(p, t_even, in, 100, 4, out, 4, 3, lens), 50);
	for (i = 0; i < 100; i++) {
		if (i & 1) {
			cr_assert_eq(lens[i], -ENOENT);
		} else {
			cr_assert_eq(lens[i], 4);
			cr_assert_eq(out[i], 2 * i);
		}
	}
	cr_assert_eq(conc_pool_map(p, t_even, in, 100, 4, out, 4, 0), 50);
	finish(p);
}

Test(pool, map_with_a_crashing_item)
{
	conc_pool *p = make(2);
	int64_t in[10], out[10];
	ssize_t lens[10];
	int i;

	for (i = 0; i < 10; i++)
		in[i] = i;
	/* chunk 1: only the item whose worker died fails */
	cr_assert_eq(conc_pool_map_status(p, t_segv, in, 1, 8, out, 8, 1, lens), 1);
	cr_assert_eq(lens[0], -ECHILD);
	cr_assert_eq(conc_pool_map_status(p, t_square, in, 10, 8, out, 8, 1, lens), 0);
	finish(p);
}

Test(pool, imap_unordered_every_item_once)
{
	conc_pool *p = make(3);
	int64_t in[500], out;
	int seen[500] = { 0 };
	conc_imap *it;
	size_t idx;
	ssize_t r;
	int i, n = 0;

	for (i = 0; i < 500; i++)
		in[i] = i;
	cr_assert_eq(conc_pool_imap_unordered(p, t_square, in, 500, 8, 0, &it), 0);
	memset(in, 0, sizeof(in));	/* the arguments were copied */
	while ((r = conc_imap_next(it, &idx, &out, sizeof(out), BOUND)) != -EPIPE) {
		cr_assert_eq(r, 8, "next: %zd", r);
		cr_assert_lt(idx, 500);
		cr_assert_eq(out, (int64_t)idx * (int64_t)idx);
		seen[idx]++;
		cr_assert_leq(++n, 500);
	}
	cr_assert_eq(n, 500);
	for (i = 0; i < 500; i++)
		cr_assert_eq(seen[i], 1);
	cr_assert_eq(conc_imap_next(it, &idx, &out, sizeof(out), 0), -EPIPE);
	cr_assert_eq(conc_imap_release(it), 0);
	finish(p);
}

Test(pool, imap_errors_timeout_and_early_release)
{
	conc_pool *p = make(2);
	int in[20], out, ms = 300;
	conc_imap *it;
	size_t idx;
	int i, fails = 0;
	ssize_t r;

	for (i = 0; i < 20; i++)
		in[i] = i;
	cr_assert_eq(conc_pool_imap_unordered(p, t_even, in, 20, 4, 1, &it), 0);
	for (i = 0; i < 20; i++) {
		r = conc_imap_next(it, &idx, &out, sizeof(out), BOUND);
		if (idx & 1) {
			cr_assert_eq(r, -ENOENT);
			fails++;
		} else
			cr_assert_eq(r, 4);
	}
	cr_assert_eq(fails, 10);
	cr_assert_eq(conc_imap_next(it, &idx, &out, sizeof(out), 0), -EPIPE);
	conc_imap_release(it);

	cr_assert_eq(conc_pool_imap_unordered(p, t_sleep, &ms, 1, 4, 1, &it), 0);
	cr_assert_eq(conc_imap_next(it, &idx, &out, sizeof(out), MS(10)), -ETIMEDOUT);
	cr_assert_eq(conc_imap_release(it), 0, "released with an item running");
	finish(p);
}

Test(pool, imap_next_with_a_null_buffer)
{
	conc_pool *p = make(2);
	int64_t in[3] = { 1, 2, 3 }, out;
	conc_imap *it;
	size_t idx;
	int seen = 0;

	cr_assert_eq(conc_pool_imap_unordered(p, t_square, in, 3, 8, 1, &it), 0);
	/* Refused, and no item is used up by the refusal. */
	cr_assert_eq(conc_imap_next(it, NULL, NULL, 8, BOUND), -EINVAL);
	cr_assert_eq(conc_imap_next(it, &idx, NULL, 8, BOUND), -EINVAL);
	/* cap 0: the result is not wanted; the item is skipped. */
	cr_assert_eq(conc_imap_next(it, &idx, NULL, 0, BOUND), -EMSGSIZE);
	seen |= 1 << idx;
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(conc_imap_next(it, &idx, &out, sizeof(out), BOUND), 8);
		cr_assert_eq(out, in[idx] * in[idx]);
		seen |= 1 << idx;
	}
	cr_assert_eq(seen, 7);
	cr_assert_eq(conc_imap_next(it, NULL, NULL, 8, 0), -EINVAL);
	cr_assert_eq(conc_imap_next(it, NULL, NULL, 0, 0), -EPIPE);
	cr_assert_eq(conc_imap_release(it), 0);
	finish(p);
}

Test(pool, imap_items_not_submitted_before_close_are_cancelled)
{
	conc_pool *p = make(1);
	int in[64] = { 0 }, out, n = 0, cancelled_items = 0, ok = 0;
	conc_imap *it;
	size_t idx;
	ssize_t r;

	/* 64 items, 4 slots: most wait in the iterator, unsubmitted. */
	cr_assert_eq(conc_pool_imap_unordered(p, t_even, in, 64, 4, 1, &it), 0);
	cr_assert_eq(conc_imap_next(it, &idx, &out, sizeof(out), BOUND), 4);
	n++, ok++;
	cr_assert_eq(conc_pool_close(p), 0);
	while ((r = conc_imap_next(it, &idx, &out, sizeof(out), BOUND)) != -EPIPE) {
		cr_assert(r == 4 || r == -ECANCELED, "next: %zd", r);
		if (r == 4)
			ok++;
		else
			cancelled_items++;
		cr_assert_leq(++n, 64);
	}
	cr_assert_eq(n, 64);
	cr_assert_eq(ok + cancelled_items, 64);
	cr_assert_gt(cancelled_items, 0);
	cr_assert_eq(conc_imap_release(it), 0);
	cr_assert_eq(conc_pool_join(p), 0);
	cr_assert_eq(conc_pool_destroy(p), 0);
}

Test(pool, poll_runs_callbacks_and_times_out)
{
	conc_pool *p = make(1);
	struct counts c = { .tid = (pid_t)syscall(SYS_gettid) };
	int v = 4, guard = 0;

	cr_assert_eq(conc_pool_poll(p, 0), -ETIMEDOUT);
	cr_assert_eq(conc_pool_submit_cb(p, t_even, &v, sizeof(v), on_done, NULL,
					 &c, NULL), 0);
	while (!c.done[2] && guard++ < 1000)
		conc_pool_poll(p, MS(20));
	cr_assert_eq(c.done[2], 1);
	finish(p);
}

/* Several threads share one pool. */
static void *thread_user(void *arg)
{
	conc_pool *p = arg;
	int64_t v, out;
	int i;

	for (i = 0; i < 200; i++) {
		v = i;
		if (conc_pool_apply(p, t_square, &v, sizeof(v), &out, sizeof(out)) != 8 ||
		    out != v * v)
			return (void *)1;
	}
	return NULL;
}

Test(pool, shared_by_threads)
{
	conc_pool *p = make(2);
	pthread_t th[4];
	void *ret;
	int i;

	for (i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, thread_user, p), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], &ret);
		cr_assert_null(ret);
	}
	finish(p);
}

/* Several threads share one pool while its workers are killed at random:
 * each apply ends, with the right result or -ECHILD. */
struct churn {
	conc_pool *p;
	int ok, failed, wrong;
};

static void *churn_user(void *arg)
{
	struct churn *c = arg;
	int64_t v, out;
	ssize_t r;
	int i;

	for (i = 0; i < 500; i++) {
		v = i;
		r = conc_pool_apply(c->p, t_work, &v, sizeof(v), &out, sizeof(out));
		if (r == 8 && out == v * 3 + 1)
			c->ok++;
		else if (r == -ECHILD)
			c->failed++;
		else
			c->wrong++;
	}
	return NULL;
}

Test(pool, shared_by_threads_while_workers_die, .timeout = 120)
{
	struct pids *pids = mmap(NULL, sizeof(struct pids), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	conc_pool_attr a = { .workers = 3, .initializer = record_pid };
	struct killer k = { 0 };
	struct churn c[4] = { { 0 } };
	pthread_t th[4], kt;
	conc_pool *p;
	int i, failed = 0;

	cr_assert(pids != MAP_FAILED);
	a.initarg = pids;
	k.pids = pids;
	cr_assert_eq(conc_pool_create(&p, &a), 0);
	cr_assert_eq(pthread_create(&kt, NULL, killer, &k), 0);
	for (i = 0; i < 4; i++) {
		c[i].p = p;
		cr_assert_eq(pthread_create(&th[i], NULL, churn_user, &c[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(c[i].wrong, 0);
		cr_assert_eq(c[i].ok + c[i].failed, 500);
		failed += c[i].failed;
	}
	k.stop = 1;
	pthread_join(kt, NULL);
	cr_log_info("threads: %d kills, %d tasks failed", k.kills, failed);
	cr_assert_eq(square_of(p, 4), 16, "healthy");
	finish(p);
	munmap(pids, sizeof(struct pids));
}

/* pid runs (exists and is not a zombie waiting for its new parent). */
static int running(pid_t pid)
{
	char path[64], line[256], *c;
	FILE *fp;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!(fp = fopen(path, "r")))
		return 0;
	if (fgets(line, sizeof(line), fp) && (c = strrchr(line, ')')))
		r = c[2] != 'Z' && c[2] != 'X';
	fclose(fp);
	return r;
}

/* No orphans: the parent SIGKILLed, its workers die too. */
Test(pool, workers_die_with_the_parent)
{
	struct pids *pids = mmap(NULL, sizeof(struct pids), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int st, guard = 0, alive;
	uint32_t i;
	pid_t child;

	cr_assert(pids != MAP_FAILED);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		conc_pool_attr a = { .workers = 3, .initializer = record_pid,
				     .initarg = pids };
		conc_pool *p;

		if (conc_pool_create(&p, &a) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	while (__atomic_load_n(&pids->n, __ATOMIC_RELAXED) < 3 && guard++ < 2000)
		sleep_ns(MS(5));
	cr_assert_eq(pids->n, 3);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	for (guard = 0; guard < 1000; guard++) {
		for (alive = 0, i = 0; i < 3; i++)
			alive += running(pids->pid[i]);
		if (!alive)
			break;
		sleep_ns(MS(10));
	}
	cr_assert_eq(alive, 0, "workers outlived their parent");
	munmap(pids, sizeof(struct pids));
}

/* An item that overran the task timeout comes back as -ETIMEDOUT, as a
 * call that found no item in time: *index tells them apart (SIZE_MAX when
 * no item was taken). */
Test(pool, imap_index_tells_a_timed_out_item_from_a_timed_out_call, .timeout = 60)
{
	conc_pool_attr a = { .workers = 2, .task_timeout_ns = MS(200) };
	conc_pool *p;
	conc_imap *it;
	int ms = 30000, out, taken = 0, calls = 0;
	size_t idx;
	ssize_t r;

	cr_assert_eq(conc_pool_create(&p, &a), 0);
	cr_assert_eq(conc_pool_imap_unordered(p, t_sleep, &ms, 1, sizeof(ms), 1, &it), 0);
	for (;;) {
		idx = 7;	/* neither an index of ours nor the mark */
		r = conc_imap_next(it, &idx, &out, sizeof(out), calls++ ? BOUND : MS(10));
		if (r == -EPIPE)
			break;
		cr_assert_eq(r, -ETIMEDOUT);
		cr_assert(idx == SIZE_MAX || idx == 0, "index %zu", idx);
		taken += idx == 0;
		cr_assert_leq(calls, 10);
	}
	cr_assert_eq(idx, SIZE_MAX);
	cr_assert_eq(taken, 1);
	cr_assert_eq(conc_imap_release(it), 0);
	finish(p);
}

/* Every attribute within its limit, but together more shared memory than
 * a segment may have (4096 workers x 4 slots x 2 GiB): -ENOMEM, as the
 * page says of a segment that could not be made, not -EINVAL. */
Test(pool, a_segment_too_large_for_the_attributes_is_enomem)
{
	conc_pool_attr a = { .workers = 4096, .max_arg = 1u << 30,
			     .max_result = 1u << 30 };
	conc_pool *p = NULL;

	cr_assert_eq(conc_pool_create(&p, &a), -ENOMEM);
	cr_assert_null(p);
}
