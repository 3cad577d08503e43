/* test_loop.c — the loop's core: run, go, join, gather, yield, sleep,
 * cancel, timeouts, task_self, loop_self, wrong use. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <conc.h>
#include "loop_helpers.h"

static int ret_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

Test(loop, run_returns_main_code)
{
	need_uring();
	cr_assert_eq(run(ret_arg, (void *)42), 42);
	cr_assert_eq(run(ret_arg, (void *)-7), -7);
	cr_assert_null(conc_loop_self());
	cr_assert_null(conc_task_self());
}

Test(loop, bad_arguments)
{
	conc_task *t;

	cr_assert_eq(conc_run(NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(conc_go(&t, ret_arg, NULL, NULL), -EINVAL, "outside a loop");
	cr_assert_eq(conc_task_join(NULL, NULL, 0), -EINVAL);
	cr_assert_eq(conc_task_cancel(NULL), -EINVAL);
	cr_assert_eq(conc_gather(NULL, 1, NULL, 0, 0), -EINVAL);
	cr_assert_eq(conc_sleep(-1), -EINVAL);
	cr_assert_eq(conc_yield(), 0);
	cr_assert_eq(conc_loop_call(NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(conc_to_thread(NULL, NULL, NULL, 0), -EINVAL);
}

static int nested(void *arg)
{
	conc_task *t;
	(void)arg;
	if (conc_run(ret_arg, NULL, NULL) != -EBUSY)
		return 1;
	if (conc_go(NULL, ret_arg, NULL, NULL) != -EINVAL)
		return 2;
	if (conc_go(&t, NULL, NULL, NULL) != -EINVAL)
		return 3;
	if (conc_task_self() == NULL || conc_loop_self() == NULL)
		return 4;
	if (conc_task_join(conc_task_self(), NULL, 0) != -EDEADLK)
		return 5;
	/* The sizes conc_go(3) refuses. */
	{
		conc_task_attr big = { .stack_size = ((size_t)1 << 30) + 1 };
		conc_task_attr sh = { .stack_size = (256 << 10) + 1,
				      .shared_stack = true };

		if (conc_go(&t, ret_arg, NULL, &big) != -EINVAL ||
		    conc_go(&t, ret_arg, NULL, &sh) != -EINVAL)
			return 6;
	}
	return 0;
}

Test(loop, nested_run_busy_and_self)
{
	need_uring();
	cr_assert_eq(run(nested, NULL), 0);
}

struct trace {
	char buf[64];
	int n;
};

static void mark(struct trace *tr, char c)
{
	if (tr->n < 63)
		tr->buf[tr->n++] = c;
}

static int yielder(void *arg)
{
	struct trace *tr = arg;
	conc_task *self = conc_task_self();
	char c = self ? 'a' : '?';
	int i;

	for (i = 0; i < 3; i++) {
		mark(tr, c);
		conc_yield();
	}
	return 0;
}

static int yielder_b(void *arg)
{
	struct trace *tr = arg;
	int i;

	for (i = 0; i < 3; i++) {
		mark(tr, 'b');
		conc_yield();
	}
	return 5;
}

static int go_join(void *arg)
{
	struct trace *tr = arg;
	conc_task *a, *b;
	int ca = -1, cb = -1;

	if (conc_go(&a, yielder, tr, NULL) || conc_go(&b, yielder_b, tr, NULL))
		return -1;
	if (conc_task_join(a, &ca, BOUND) || conc_task_join(b, &cb, BOUND))
		return -2;
	return ca == 0 && cb == 5 ? 0 : -3;
}

Test(loop, yields_interleave_and_join_returns_codes)
{
	struct trace tr = { .n = 0 };

	need_uring();
	cr_assert_eq(run(go_join, &tr), 0);
	cr_assert_str_eq(tr.buf, "ababab");
}

static int sleeper(void *arg)
{
	return conc_sleep((int64_t)(intptr_t)arg * MS) == 0 ? 1 : -1;
}

static int gather_sleepers(void *arg)
{
	conc_task *ts[3];
	int codes[3], i;
	int64_t t0 = now_ns(), el;

	(void)arg;
	for (i = 0; i < 3; i++)
		if (conc_go(&ts[i], sleeper, (void *)(intptr_t)(50 * (i + 1)), NULL))
			return -1;
	if (conc_gather(ts, 3, codes, 0, BOUND) != 0)
		return -2;
	el = now_ns() - t0;
	for (i = 0; i < 3; i++)
		if (codes[i] != 1)
			return -3;
	/* Concurrent: about the longest sleep, not their sum (bounded
	 * loosely: a loaded machine may be slow, never this fast). */
	return el >= 150 * MS ? 0 : -4;
}

Test(loop, gather_runs_sleepers_concurrently)
{
	need_uring();
	cr_assert_eq(run(gather_sleepers, NULL), 0);
}

/* Timers in deadline order go to a list, the others to a heap (timer.c):
 * sleeps of mixed lengths, some cancelled out of either (the list's
 * middle too), twice in one loop. None wakes early, the cancelled ones get
 * -ECANCELED, and every one wakes (a lost timer would hang). */
static int timed_sleeper(void *arg)
{
	int64_t d = (int64_t)(intptr_t)arg * MS, t0 = now_ns();
	int r = conc_sleep(d);

	if (r == -ECANCELED)
		return 2;
	return r == 0 && now_ns() - t0 >= d ? 1 : -1;
}

static int mixed_timers(void *arg)
{
	/* In the order the tasks go to sleep: 2, 4 and 5000 to the list,
	 * 6 and 4900 to the heap, 5100 and 5200 to the list (the 5000 is
	 * now in its middle), ... Those of 4900 ms and more are cancelled:
	 * long enough never to wake first. */
	static const int ms[] = { 2, 4, 5000, 6, 4900, 5100, 5200, 3, 8, 4950, 12, 5300 };
	enum { N = sizeof(ms) / sizeof(ms[0]) };
	conc_task *ts[N];
	int codes[N];

	(void)arg;
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++)
			if (conc_go(&ts[i], timed_sleeper, (void *)(intptr_t)ms[i], NULL))
				return -1;
		/* They all go to sleep before this task runs again. */
		if (conc_yield())
			return -2;
		for (int i = 0; i < N; i++)
			if (ms[i] >= 4900 && conc_task_cancel(ts[i]))
				return -3;
		if (conc_gather(ts, N, codes, 0, BOUND) != 0)
			return -4;
		for (int i = 0; i < N; i++)
			if (codes[i] != (ms[i] >= 4900 ? 2 : 1))
				return -10 - i;
	}
	return 0;
}

Test(loop, timers_in_and_out_of_deadline_order)
{
	need_uring();
	cr_assert_eq(run(mixed_timers, NULL), 0);
}

static int fail_soon(void *arg)
{
	(void)arg;
	conc_sleep(10 * MS);
	return -EIO;
}

static int sleep_long(void *arg)
{
	int r = conc_sleep(BOUND);

	*(int *)arg = r;
	return r == -ECANCELED ? 7 : 8;
}

static int gather_cancel(void *arg)
{
	conc_task *ts[2];
	int codes[2] = { 0, 0 }, seen = 0, r;

	(void)arg;
	if (conc_go(&ts[0], sleep_long, &seen, NULL) ||
	    conc_go(&ts[1], fail_soon, NULL, NULL))
		return -1;
	r = conc_gather(ts, 2, codes, CONC_GATHER_CANCEL, BOUND);
	if (r != -EIO)
		return -2;
	if (codes[0] != 7 || codes[1] != -EIO || seen != -ECANCELED)
		return -3;
	return 0;
}

Test(loop, gather_cancel_cancels_the_others)
{
	need_uring();
	cr_assert_eq(run(gather_cancel, NULL), 0);
}

static int gather_plain_first_negative(void *arg)
{
	conc_task *ts[2];
	int codes[2], r;

	(void)arg;
	if (conc_go(&ts[0], sleeper, (void *)(intptr_t)30, NULL) ||
	    conc_go(&ts[1], fail_soon, NULL, NULL))
		return -1;
	r = conc_gather(ts, 2, codes, 0, BOUND);
	return r == -EIO && codes[0] == 1 && codes[1] == -EIO ? 0 : -2;
}

Test(loop, gather_without_cancel_waits_for_all)
{
	need_uring();
	cr_assert_eq(run(gather_plain_first_negative, NULL), 0);
}

static int join_timeout(void *arg)
{
	conc_task *t;
	int code = 0, seen = 0;

	(void)arg;
	if (conc_go(&t, sleep_long, &seen, NULL))
		return -1;
	if (conc_task_join(t, &code, 20 * MS) != -ETIMEDOUT)
		return -2;
	if (conc_gather(&t, 1, &code, 0, 0) != -ETIMEDOUT)
		return -3;
	/* Still joinable: cancel it, join it. */
	if (conc_task_cancel(t) || conc_task_join(t, &code, BOUND))
		return -4;
	return code == 7 && seen == -ECANCELED ? 0 : -5;
}

Test(loop, join_timeout_leaves_task_joinable)
{
	need_uring();
	cr_assert_eq(run(join_timeout, NULL), 0);
}

static int cancel_once(void *arg)
{
	int *rs = arg;

	rs[0] = conc_sleep(BOUND);	/* cancelled */
	rs[1] = conc_sleep(1 * MS);	/* works again */
	return 0;
}

static int cancel_before_run(void *arg)
{
	int *rs = arg;

	rs[2] = conc_sleep(0);
	rs[3] = conc_sleep(0);
	return 3;
}

static int cancels(void *arg)
{
	int *rs = arg;
	conc_task *a, *b;
	int code;

	if (conc_go(&a, cancel_once, rs, NULL))
		return -1;
	conc_sleep(5 * MS);
	conc_task_cancel(a);
	if (conc_task_join(a, &code, BOUND) || code != 0)
		return -2;
	/* Cancelled before it ever ran: its first suspending call. */
	if (conc_go(&b, cancel_before_run, rs, NULL))
		return -3;
	conc_task_cancel(b);
	if (conc_task_join(b, &code, BOUND) || code != 3)
		return -4;
	/* Cancelling an ended task is harmless. */
	return 0;
}

Test(loop, cancel_is_delivered_once)
{
	int rs[4] = { 1, 1, 1, 1 };

	need_uring();
	cr_assert_eq(run(cancels, rs), 0);
	cr_assert_eq(rs[0], -ECANCELED);
	cr_assert_eq(rs[1], 0);
	cr_assert_eq(rs[2], -ECANCELED);
	cr_assert_eq(rs[3], 0);
}

static int self_cancel(void *arg)
{
	(void)arg;
	conc_task_cancel(conc_task_self());
	if (conc_yield() != 0)
		return -1;
	if (conc_sleep(1 * MS) != -ECANCELED)
		return -2;
	return conc_sleep(1 * MS);
}

Test(loop, self_cancel_hits_next_suspend)
{
	need_uring();
	cr_assert_eq(run(self_cancel, NULL), 0);
}

static int leftover(void *arg)
{
	int *seen = arg;

	*seen = conc_sleep(BOUND);
	return 0;
}

static int leave_tasks(void *arg)
{
	conc_task *t;
	int i;

	for (i = 0; i < 10; i++)
		if (conc_go(&t, leftover, (int *)arg + i, NULL))
			return -1;
	conc_yield();
	return 9;
}

Test(loop, run_cancels_and_joins_leftover_tasks)
{
	int seen[10], i;
	int64_t t0 = own_now_ns();	/* load does not count (own_clock.h) */

	need_uring();
	memset(seen, 0, sizeof(seen));
	cr_assert_eq(run(leave_tasks, seen), 9);
	for (i = 0; i < 10; i++)
		cr_assert_eq(seen[i], -ECANCELED);
	cr_assert_lt(own_now_ns() - t0, BOUND);
}

static int plain_thread_sleep(void *arg)
{
	(void)arg;
	return conc_sleep(1 * MS);
}

Test(loop, sleep_outside_a_loop_blocks_the_thread)
{
	cr_assert_eq(plain_thread_sleep(NULL), 0);
}

struct many {
	int n;
	bool shared;
};

static int tiny(void *arg)
{
	(void)arg;
	return conc_sleep(10 * MS) == 0 ? 1 : 0;
}

static int many_tasks(void *arg)
{
	struct many *m = arg;
	conc_task_attr at = { .shared_stack = m->shared };
	conc_task **ts = calloc((size_t)m->n, sizeof(*ts));
	int i, r, sum = 0;
	int *codes = calloc((size_t)m->n, sizeof(int));

	if (!ts || !codes)
		return -ENOMEM;
	for (i = 0; i < m->n; i++)
		if ((r = conc_go(&ts[i], tiny, NULL, &at)) < 0)
			return r;
	r = conc_gather(ts, (size_t)m->n, codes, 0, 60 * SEC);
	for (i = 0; r == 0 && i < m->n; i++)
		sum += codes[i];
	free(ts);
	free(codes);
	return r < 0 ? r : sum;
}

Test(loop, hundred_thousand_sleeping_tasks, .timeout = 120)
{
	struct many m = { 100000, false };

	need_uring();
	cr_assert_eq(run(many_tasks, &m), 100000);
}

Test(loop, hundred_thousand_shared_stack_tasks, .timeout = 120)
{
	struct many m = { 100000, true };

	need_uring();
	cr_assert_eq(run(many_tasks, &m), 100000);
}

/* A fork child inherits the stack pool of its parent's loops (slabs,
 * pooled stacks) and runs its own loop of many tasks all the same, after
 * its parent's loop and from inside one. */
static int many_then_fork(void *arg)
{
	struct many m = { 5000, false };
	int sum = many_tasks(&m), st;
	pid_t pid;

	(void)arg;
	if (sum != 5000)
		return -1;
	pid = test_fork();
	if (pid == 0)	/* the parent's loop is not the child's: one of its own */
		_exit(run(many_tasks, &m) == 5000 ? 0 : 1);
	st = wait_child(pid, 60000);
	return exited_with(st, 0) ? many_tasks(&m) : -2;
}

Test(loop, a_fork_child_fills_its_own_stacks, .timeout = 120)
{
	struct many m = { 5000, false };
	int st;
	pid_t pid;

	need_uring();
	cr_assert_eq(run(many_tasks, &m), 5000);
	pid = test_fork();
	if (pid == 0)
		_exit(run(many_tasks, &m) == 5000 ? 0 : 1);
	st = wait_child(pid, 60000);
	cr_assert(exited_with(st, 0), "status %#x", st);
	cr_assert_eq(run(many_then_fork, NULL), 5000);
}

static int fail_now(void *arg)
{
	(void)arg;
	return -EIO;
}

static int gather_cancel_after_failure(void *arg)
{
	conc_task *ts[2];
	int codes[2] = { 0, 0 }, seen = 0, r;

	(void)arg;
	if (conc_go(&ts[0], fail_now, NULL, NULL) ||
	    conc_go(&ts[1], sleep_long, &seen, NULL))
		return -1;
	conc_yield();	/* the first has ended before the gather */
	r = conc_gather(ts, 2, codes, CONC_GATHER_CANCEL, BOUND);
	return r == -EIO && codes[1] == 7 && seen == -ECANCELED ? 0 : -2;
}

Test(loop, gather_cancel_when_one_had_already_failed)
{
	need_uring();
	cr_assert_eq(run(gather_cancel_after_failure, NULL), 0);
}

static int gather_empty_and_twice(void *arg)
{
	conc_task *t, *ts[2];

	(void)arg;
	if (conc_gather(NULL, 0, NULL, 0, 0) != 0)
		return -1;
	if (conc_gather(ts, 1, NULL, 0x80, 0) != -EINVAL)
		return -2;
	if (conc_go(&t, sleeper, (void *)(intptr_t)5, NULL))
		return -3;
	/* The same task twice in one gather: it is joined once. */
	ts[0] = ts[1] = t;
	if (conc_gather(ts, 2, NULL, 0, BOUND) != -EINVAL)
		return -4;
	return conc_task_join(t, NULL, BOUND);
}

Test(loop, gather_of_nothing_and_bad_sets)
{
	need_uring();
	cr_assert_eq(run(gather_empty_and_twice, NULL), 0);
}

/* A refused gather (a bad entry after good ones) leaves every task it
 * looked at joinable, running or ended, with its own code; the error is
 * the entry's, not a conflict's. */
static int gather_refused_late(void *arg)
{
	conc_task *run_t, *end_t, *ts[3];
	int a = 0, b = 0;

	(void)arg;
	if (conc_go(&run_t, sleeper, (void *)(intptr_t)5, NULL) ||
	    conc_go(&end_t, sleeper, (void *)(intptr_t)0, NULL))
		return -1;
	conc_yield();
	conc_yield();
	ts[0] = run_t;
	ts[1] = end_t;
	ts[2] = conc_task_self();
	if (conc_gather(ts, 3, NULL, 0, BOUND) != -EDEADLK)
		return -2;
	ts[2] = NULL;
	if (conc_gather(ts, 3, NULL, 0, BOUND) != -EINVAL)
		return -3;
	/* The same task twice, then self: the first refusal wins. */
	ts[1] = run_t;
	ts[2] = conc_task_self();
	if (conc_gather(ts, 3, NULL, 0, BOUND) != -EDEADLK)
		return -4;
	if (conc_task_join(end_t, &b, BOUND) || conc_task_join(run_t, &a, BOUND))
		return -5;
	return a == 1 && b == 1 ? 0 : -6;
}

Test(loop, gather_refused_leaves_all_joinable)
{
	need_uring();
	cr_assert_eq(run(gather_refused_late, NULL), 0);
}

static int deep(int n)
{
	volatile char buf[512];

	buf[0] = (char)n;
	buf[sizeof(buf) - 1] = (char)n;
	return n <= 0 ? buf[0] : deep(n - 1) + buf[sizeof(buf) - 1];
}

static int overflow(void *arg)
{
	(void)arg;
	return deep(1 << 20);
}

static int overflow_main(void *arg)
{
	conc_task_attr at = { .stack_size = 16 * 1024, .name = "deep" };
	conc_task *t;

	(void)arg;
	if (conc_go(&t, overflow, NULL, &at))
		return -1;
	return conc_task_join(t, NULL, BOUND);
}

Test(loop, stack_overflow_is_reported_with_the_task_name)
{
	char out[512] = "";
	int p[2], st;
	ssize_t n;
	pid_t pid;

	need_uring();
	cr_assert_eq(pipe(p), 0);
	pid = test_fork();
	if (pid == 0) {
		dup2(p[1], 2);
		if (conc_loop_guard_install())
			_exit(2);
		conc_run(overflow_main, NULL, NULL);
		_exit(3);	/* not reached: the overflow aborts */
	}
	close(p[1]);
	st = wait_child(pid, 10000);
	n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = 0;
	cr_assert(killed_by(st, SIGABRT), "status %#x, stderr: %s", st, out);
	cr_assert(strstr(out, "task deep overflowed its stack"), "stderr: %s", out);
}
