/* test_loop_call.c — the loop and other threads: conc_loop_call from four
 * threads and after the loop ended, joins and cancels from a plain thread,
 * conc_to_thread. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <conc.h>
#include "loop_helpers.h"

#define CALLS	250

struct calls {
	conc_loop *loop;
	int count, bad, failed;
	conc_event done;
};

static void called(void *arg)
{
	struct calls *c = arg;

	/* Runs as a task of the loop: it may suspend. */
	if (!conc_task_self() || conc_loop_self() != c->loop)
		c->bad++;
	conc_yield();
	if (++c->count == 4 * CALLS)
		conc_event_set(&c->done);
}

static int caller(void *arg)
{
	struct calls *c = arg;
	int i;

	for (i = 0; i < CALLS; i++)
		if (conc_loop_call(c->loop, called, c))
			__atomic_fetch_add(&c->failed, 1, __ATOMIC_RELAXED);
	return 0;
}

static int call_main(void *arg)
{
	struct calls *c = arg;
	conc_thread *th[4];
	int i, r;

	c->loop = conc_loop_self();
	for (i = 0; i < 4; i++)
		if (conc_thread_start(&th[i], caller, c, NULL))
			return -1;
	r = conc_event_wait(&c->done, BOUND);
	for (i = 0; i < 4; i++)
		conc_thread_join(th[i], NULL, BOUND);
	return r;
}

static void nop(void *arg)
{
	(void)arg;
}

Test(loop_call, from_four_threads_then_epipe)
{
	struct calls c;

	need_uring();
	memset(&c, 0, sizeof(c));
	cr_assert_eq(run(call_main, &c), 0);
	cr_assert_eq(c.count, 4 * CALLS);
	cr_assert_eq(c.bad, 0);
	cr_assert_eq(c.failed, 0);
	cr_assert_eq(conc_loop_call(c.loop, nop, NULL), -EPIPE);
}

static void self_call(void *arg)
{
	*(int *)arg += 1;
}

static int call_self(void *arg)
{
	int i;

	for (i = 0; i < 10; i++)
		if (conc_loop_call(conc_loop_self(), self_call, arg))
			return -1;
	while (*(int *)arg < 10)
		conc_yield();
	return 0;
}

Test(loop_call, from_the_loop_itself)
{
	int n = 0;

	need_uring();
	cr_assert_eq(run(call_self, &n), 0);
	cr_assert_eq(n, 10);
}

struct foreign {
	conc_task *t;
	int code, jr, cr;
	conc_event ready;
	conc_event looked;	/* the joiner's look found it running */
};

/* Ends after the joiner's look (bounded), not after a time: a loaded
 * machine may start the joiner's thread after any time. */
static int slow(void *arg)
{
	struct foreign *f = arg;

	conc_event_wait(&f->looked, BOUND);
	return 11;
}

static int forever(void *arg)
{
	(void)arg;
	return conc_sleep(BOUND) == -ECANCELED ? 12 : 13;
}

static int plain_joiner(void *arg)
{
	struct foreign *f = arg;

	conc_event_wait(&f->ready, BOUND);
	if (conc_task_join(f->t, NULL, 1 * MS) != -ETIMEDOUT)
		return -1;
	conc_event_set(&f->looked);
	f->jr = conc_task_join(f->t, &f->code, BOUND);
	return 0;
}

static int plain_canceller(void *arg)
{
	struct foreign *f = arg;

	conc_event_wait(&f->ready, BOUND);
	f->cr = conc_task_cancel(f->t);
	f->jr = conc_task_join(f->t, &f->code, BOUND);
	return 0;
}

static int foreign_main(void *arg)
{
	struct foreign *f = arg;
	conc_thread *th;
	int (*who)(void *) = f->code ? plain_canceller : plain_joiner;

	if (conc_go(&f->t, f->code ? forever : slow, f, NULL))
		return -1;
	f->code = 0;
	if (conc_thread_start(&th, who, f, NULL))
		return -2;
	conc_event_set(&f->ready);
	/* Stay alive (suspended) until the thread is done with the task. */
	return conc_thread_join(th, NULL, BOUND);
}

Test(loop_call, join_from_a_plain_thread)
{
	struct foreign f;

	need_uring();
	memset(&f, 0, sizeof(f));
	cr_assert_eq(run(foreign_main, &f), 0);
	cr_assert_eq(f.jr, 0);
	cr_assert_eq(f.code, 11);
}

Test(loop_call, cancel_and_join_from_a_plain_thread)
{
	struct foreign f;

	need_uring();
	memset(&f, 0, sizeof(f));
	f.code = 1;
	cr_assert_eq(run(foreign_main, &f), 0);
	cr_assert_eq(f.cr, 0);
	cr_assert_eq(f.jr, 0);
	cr_assert_eq(f.code, 12);
}

/* A process started by a task holds a copy of the loop's handle, not the
 * loop: a call from there never runs (the message would land in the
 * child's copy of the door), so it is refused as after the loop's end. */
static int call_from_child(void *arg)
{
	int r = conc_loop_call(arg, nop, NULL);

	return r == -EPIPE ? 0 : r == 0 ? 1 : 2;
}

static int call_from_child_main(void *arg)
{
	conc_proc *p;
	int st = -1;

	(void)arg;
	if (conc_proc_start(&p, call_from_child, conc_loop_self(), NULL))
		return -1;
	if (conc_proc_join(p, &st, BOUND) || conc_proc_release(p))
		return -2;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -3;
}

Test(loop_call, from_a_process_started_by_a_task_is_refused)
{
	need_uring();
	cr_assert_eq(run(call_from_child_main, NULL), 0);
}

/* A cancel that came before conc_to_thread: -ECANCELED, and fn runs all
 * the same, as after a cancel while the task waits (the caller cannot
 * tell the two apart: whether fn ran must not depend on which). */
static int sets_flag(void *arg)
{
	set_flag(arg, 1);
	return 0;
}

static int cancelled_offload(void *arg)
{
	if (conc_task_cancel(conc_task_self()))
		return -1;
	return conc_to_thread(sets_flag, arg, NULL, BOUND);
}

Test(loop_call, to_thread_after_a_cancel_still_runs_fn)
{
	uint32_t ran = 0;

	need_uring();
	cr_assert_eq(run(cancelled_offload, &ran), -ECANCELED);
	cr_assert(wait_flag(&ran, 10000), "fn ran");
}

/* conc_task_cancel(3): a call with a timeout of 0 only looks and never
 * returns -ECANCELED (a caller that reads its failure as "not yet" would
 * lose the cancel); conc_to_thread with 0 is such a look: it starts fn,
 * returns 0 or -ETIMEDOUT and leaves the cancel to the next call that
 * waits. fn waits for go, which is set only after the look returned, so
 * that look cannot find fn ended. */
struct look {
	conc_event go;
	uint32_t ran, quick;
	int r[6], ret;
};

static int waits_for_go(void *arg)
{
	struct look *l = arg;

	if (conc_event_wait(&l->go, BOUND) == 0)
		set_flag(&l->ran, 1);
	return 0;
}

static int sets_quick(void *arg)
{
	struct look *l = arg;

	set_flag(&l->quick, 1);
	return 4;
}

static int look_task(void *arg)
{
	struct look *l = arg;

	if (conc_task_cancel(conc_task_self()))
		return -1;
	l->r[0] = conc_to_thread(waits_for_go, l, NULL, 0);
	l->r[1] = conc_sleep(MS);
	l->r[2] = conc_sleep(MS);
	conc_event_set(&l->go);
	if (conc_task_cancel(conc_task_self()))
		return -1;
	l->r[3] = conc_to_thread(sets_quick, l, &l->ret, 0);
	l->r[4] = conc_sleep(MS);
	l->r[5] = conc_sleep(MS);
	return 0;
}

static int look_main(void *arg)
{
	conc_task *t;
	int code = -1;

	if (conc_go(&t, look_task, arg, NULL))
		return -1;
	if (conc_task_join(t, &code, BOUND))
		return -2;
	return code;
}

Test(loop_call, to_thread_with_timeout_0_leaves_a_pending_cancel)
{
	struct look l = { .ret = -1 };

	need_uring();
	conc_event_init(&l.go, 0);
	cr_assert_eq(run(look_main, &l), 0);
	cr_expect_eq(l.r[0], -ETIMEDOUT, "a look at fn that waits: %d", l.r[0]);
	cr_expect_eq(l.r[1], -ECANCELED, "the cancel stayed for the next wait: %d", l.r[1]);
	cr_expect_eq(l.r[2], 0, "once: %d", l.r[2]);
	cr_expect(l.r[3] == -ETIMEDOUT || (l.r[3] == 0 && l.ret == 4),
		  "a look at a quick fn: %d (ret %d)", l.r[3], l.ret);
	cr_expect_eq(l.r[4], -ECANCELED, "the cancel stayed for the next wait: %d", l.r[4]);
	cr_expect_eq(l.r[5], 0, "once: %d", l.r[5]);
	cr_assert(wait_flag(&l.ran, 10000), "fn ran after the look");
	cr_assert(wait_flag(&l.quick, 10000), "the quick fn ran");
}

/* Many conc_to_thread calls in flight from two loops, half of them left to
 * run on (timeout 0): more workers than park, so those that end beyond
 * the parked ones exit, and a start on another thread frees their
 * mapping, which the start that made one must no longer touch. */
static int short_nap(void *arg)
{
	(void)arg;
	sleep_ns(100000);
	return 0;
}

static int offloader(void *arg)
{
	(void)arg;
	for (int k = 0; k < 200; k++) {
		int r = conc_to_thread(short_nap, NULL, NULL, (k % 2) * MS);

		if (r && r != -ETIMEDOUT)
			return r;
		if (conc_sleep((k % 3) * 100000))
			return -1;
	}
	return 0;
}

static int offload_main(void *arg)
{
	conc_task *ts[16];

	(void)arg;
	for (int i = 0; i < 16; i++)
		if (conc_go(&ts[i], offloader, NULL, NULL))
			return -1;
	return conc_gather(ts, 16, NULL, 0, 6 * BOUND);
}

static int offload_loop(void *arg)
{
	int code = -1, r = conc_run(offload_main, arg, &code);

	return r ? r : code;
}

Test(loop_call, to_thread_from_two_loops_many_at_once, .timeout = 120)
{
	need_uring();
	for (int rep = 0; rep < 10; rep++) {
		conc_thread *th[2];
		int code[2] = { -1, -1 };

		for (int i = 0; i < 2; i++)
			cr_assert_eq(conc_thread_start(&th[i], offload_loop, NULL, NULL), 0);
		for (int i = 0; i < 2; i++) {
			cr_assert_eq(conc_thread_join(th[i], &code[i], 6 * BOUND), 0);
			cr_assert_eq(code[i], 0, "round %d, loop %d: %d", rep, i, code[i]);
		}
	}
}

/* A cancel from another thread waits in the loop's door until the loop
 * next looks there; a join on the loop's thread that came after it must
 * not free the task under it (the cancel then read freed memory). */
struct late {
	conc_task *t;
	uint32_t posted;
	int cr, jr, code;
};

static int ends_at_once(void *arg)
{
	(void)arg;
	return 21;
}

static int late_canceller(void *arg)
{
	struct late *x = arg;

	x->cr = conc_task_cancel(x->t);
	set_flag(&x->posted, 1);
	return 0;
}

static int late_main(void *arg)
{
	struct late *x = arg;
	conc_thread *th;

	if (conc_go(&x->t, ends_at_once, NULL, NULL))
		return -1;
	conc_yield();		/* it runs and ends */
	if (conc_thread_start(&th, late_canceller, x, NULL))
		return -2;
	/* The loop's thread blocks without suspending: the cancel stays in
	 * the door until the join freed the task. */
	if (!wait_flag(&x->posted, 10000))
		return -3;
	x->jr = conc_task_join(x->t, &x->code, BOUND);
	conc_sleep(1 * MS);	/* the loop looks at its door */
	return conc_thread_join(th, NULL, BOUND);
}

Test(loop_call, a_join_after_a_cancel_from_a_thread)
{
	struct late x;

	need_uring();
	memset(&x, 0, sizeof(x));
	cr_assert_eq(run(late_main, &x), 0);
	cr_assert_eq(x.cr, 0);
	cr_assert_eq(x.jr, 0);
	cr_assert_eq(x.code, 21);
}

/* The same for a conc_loop_call task, which its loop frees as it ends:
 * a thread cancels it while it runs (its handle, from conc_task_self(),
 * is good until then), and it ends before the loop looked at its door. */
static int cancels_the_call(void *arg)
{
	struct late *x = arg;

	x->cr = conc_task_cancel(x->t);
	set_flag(&x->posted, 1);
	return 0;
}

static void call_ends_after_cancel(void *arg)
{
	struct late *x = arg;
	conc_thread *th;

	x->t = conc_task_self();
	if (conc_thread_start(&th, cancels_the_call, x, NULL)) {
		x->jr = -1;
		return;
	}
	/* No suspend until the cancel is in the door, then the end. */
	if (!wait_flag(&x->posted, 10000))
		x->jr = -2;
	x->code = conc_thread_join(th, NULL, BOUND);
}

static int late_call_main(void *arg)
{
	struct late *x = arg;

	if (conc_loop_call(conc_loop_self(), call_ends_after_cancel, x))
		return -1;
	for (int i = 0; i < 10000 && !x->posted; i++)
		conc_sleep(1 * MS);
	conc_sleep(1 * MS);	/* the loop looks at its door */
	return 0;
}

Test(loop_call, a_call_that_ends_after_a_cancel_from_a_thread)
{
	struct late x;

	need_uring();
	memset(&x, 0, sizeof(x));
	cr_assert_eq(run(late_call_main, &x), 0);
	cr_assert_eq(x.cr, 0);
	cr_assert_eq(x.jr, 0);
}

static int blocking(void *arg)
{
	sleep_ns(*(int *)arg * MS);
	return 77;
}

struct tt {
	int ticks, ret, r, rt;
	int at_return;	/* ticks when the first call returned */
};

static int tick(void *arg)
{
	struct tt *x = arg;

	while (conc_sleep(1 * MS) == 0)
		__atomic_fetch_add(&x->ticks, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Blocks its thread until the loop's ticker has run more than 5 times
 * (bounded): a loop blocked meanwhile never ticks, whatever the load. */
static int blocks_until_ticked(void *arg)
{
	struct tt *x = arg;
	int i;

	for (i = 0; i < 10000 && __atomic_load_n(&x->ticks, __ATOMIC_RELAXED) <= 5; i++)
		sleep_ns(1 * MS);
	return 77;
}

/* Blocks its thread until the call that started it has returned
 * (bounded): a function that slept 300 ms instead had ended before the
 * call looked if the loop's thread lost the CPU that long on a loaded
 * machine, and the call then returned 0, not -ETIMEDOUT. A static word:
 * the thread outlives the test's frame. */
static uint32_t released;

static int blocks_until_released(void *arg)
{
	(void)arg;
	wait_flag(&released, 10000);
	return 78;
}

static int to_thread_main(void *arg)
{
	struct tt *x = arg;
	conc_task *t;

	if (conc_go(&t, tick, x, NULL))
		return -1;
	x->r = conc_to_thread(blocks_until_ticked, x, &x->ret, BOUND);
	x->at_return = __atomic_load_n(&x->ticks, __ATOMIC_RELAXED);
	/* Gives up; the function goes on on its thread. */
	x->rt = conc_to_thread(blocks_until_released, NULL, NULL, 10 * MS);
	set_flag(&released, 1);
	conc_task_cancel(t);
	return conc_task_join(t, NULL, BOUND);
}

Test(loop_call, to_thread_runs_beside_the_loop)
{
	struct tt x;
	int ms = 1, ret = 0;

	need_uring();
	memset(&x, 0, sizeof(x));
	cr_assert_eq(run(to_thread_main, &x), 0);
	cr_assert_eq(x.r, 0);
	cr_assert_eq(x.ret, 77);
	cr_assert_eq(x.rt, -ETIMEDOUT);
	cr_assert_gt(x.at_return, 5, "the loop ran while the thread blocked");
	/* Outside a loop it works too. */
	cr_assert_eq(conc_to_thread(blocking, &ms, &ret, BOUND), 0);
	cr_assert_eq(ret, 77);
}

/* Two loops on two threads: a task of one joins a task of the other (the
 * wake-up crosses threads through a futex word, through both rings). */
struct two {
	conc_task *t;
	conc_event published, joined;
	int code, jr, ticks;
	int joining, t0, ticked;	/* loop B's ticks during its join */
};

/* Ends once loop B has ticked more than 5 times during its join
 * (bounded): a join that blocked B's thread would see no tick. */
static int nap_then_five(void *arg)
{
	struct two *w = arg;
	int i;

	for (i = 0; i < 10000; i++) {
		if (__atomic_load_n(&w->joining, __ATOMIC_ACQUIRE) &&
		    __atomic_load_n(&w->ticks, __ATOMIC_RELAXED) - w->t0 > 5)
			break;
		conc_sleep(1 * MS);
	}
	return 5;
}

static int loop_a(void *arg)
{
	struct two *w = arg;

	if (conc_go(&w->t, nap_then_five, w, NULL))
		return -1;
	conc_event_set(&w->published);
	/* Keeps its loop (and so the task's handle) alive until joined. */
	return conc_event_wait(&w->joined, BOUND);
}

static int thread_a(void *arg)
{
	int code = -1;

	return conc_run(loop_a, arg, &code) ? -100 : code;
}

static int count_ticks(void *arg)
{
	struct two *w = arg;

	while (conc_sleep(1 * MS) == 0)
		__atomic_fetch_add(&w->ticks, 1, __ATOMIC_RELAXED);
	return 0;
}

static int loop_b(void *arg)
{
	struct two *w = arg;
	conc_task *tk;

	if (conc_go(&tk, count_ticks, w, NULL))
		return -1;
	if (conc_event_wait(&w->published, BOUND))
		return -2;
	w->t0 = w->ticks;
	__atomic_store_n(&w->joining, 1, __ATOMIC_RELEASE);
	w->jr = conc_task_join(w->t, &w->code, BOUND);
	w->ticked = w->ticks - w->t0;
	conc_event_set(&w->joined);
	conc_task_cancel(tk);
	return conc_task_join(tk, NULL, BOUND);
}

Test(loop_call, a_task_joins_a_task_of_another_loop)
{
	struct two w;
	conc_thread *ta;
	int ca = -1;

	need_uring();
	memset(&w, 0, sizeof(w));
	cr_assert_eq(conc_thread_start(&ta, thread_a, &w, NULL), 0);
	cr_assert_eq(run(loop_b, &w), 0);
	cr_assert_eq(conc_thread_join(ta, &ca, BOUND), 0);
	cr_assert_eq(ca, 0);
	cr_assert_eq(w.jr, 0);
	cr_assert_eq(w.code, 5);
	cr_assert_gt(w.ticked, 5, "loop B ran its other task while joining: %d",
		     w.ticked);
}

/* A loop whose tasks never stop yielding still takes calls: the door is
 * looked at every few switches, without waiting for the ring. */
static void set_one(void *arg)
{
	*(int *)arg = 1;
}

static int call_later(void *arg)
{
	struct { conc_loop *l; int flag; } *c = arg;

	sleep_ns(5 * MS);
	return conc_loop_call(c->l, set_one, &c->flag);
}

static int busy_main(void *arg)
{
	struct { conc_loop *l; int flag; } *c = arg;
	conc_thread *th;
	int64_t end = now_ns() + BOUND;

	c->l = conc_loop_self();
	if (conc_thread_start(&th, call_later, c, NULL))
		return -1;
	while (!c->flag && now_ns() < end)
		conc_yield();
	conc_thread_join(th, NULL, BOUND);
	return c->flag ? 0 : -2;
}

Test(loop_call, a_busy_loop_still_takes_calls)
{
	struct { conc_loop *l; int flag; } c = { NULL, 0 };

	need_uring();
	cr_assert_eq(run(busy_main, &c), 0);
}
