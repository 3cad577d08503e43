/* test_loop_watch.c — tasks asleep on a shared futex word: a wake-up lost
 * with a killed process is found by the loop's look at the word (a post
 * whose waker died: the value changed, no wake came), with and without
 * IORING_OP_FUTEX_WAIT; and a thousand tasks asleep on one semaphore do
 * not keep the loop's thread awake (a look at the word now and then, not a
 * re-check per task). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <conc.h>
#include "loop_helpers.h"

/* ---- a post whose waker died ------------------------------------------ */

#define SLEEPERS 2

struct lost {
	conc_sem *sem;		/* shared: in a MAP_SHARED mapping */
	uint32_t got;
};

/* No timeout: a timed wait takes the permit at its deadline anyway, and
 * the test would pass without the look it is about. The gather bounds it. */
static int take(void *arg)
{
	struct lost *x = arg;
	int r = conc_sem_wait(x->sem);

	if (r == 0)
		__atomic_fetch_add(&x->got, 1, __ATOMIC_RELAXED);
	return r;
}

/* What a process killed between its post's add and its futex wake leaves:
 * a permit, and every sleeper still asleep. */
static void post_without_wake(conc_sem *s)
{
	__atomic_fetch_add(&s->value, 1, __ATOMIC_SEQ_CST);
}

static int lost_main(void *arg)
{
	struct lost *x = arg;
	conc_task *t[SLEEPERS];
	int codes[SLEEPERS], i;

	for (i = 0; i < SLEEPERS; i++)
		if (conc_go(&t[i], take, x, NULL))
			return -1;
	/* Both asleep on the word: the semaphore counts them. */
	for (i = 0; i < 10000 && __atomic_load_n(&x->sem->waiters,
						 __ATOMIC_ACQUIRE) < SLEEPERS; i++)
		conc_sleep(1 * MS);
	if (x->sem->waiters < SLEEPERS)
		return -2;
	conc_sleep(20 * MS);	/* into the kernel's (or the fallback's) sleep */
	for (i = 0; i < SLEEPERS; i++)
		post_without_wake(x->sem);
	if (conc_gather(t, SLEEPERS, codes, 0, BOUND)) {
		for (i = 0; i < SLEEPERS; i++)
			conc_task_cancel(t[i]);
		conc_gather(t, SLEEPERS, codes, 0, BOUND);
		return -3;
	}
	return (int)x->got;
}

static void lost_post(bool fallback)
{
	struct lost x = { 0 };
	int code = -100;

	futex_mode_or_skip(fallback);
	x.sem = shared_alloc(sizeof(*x.sem));
	cr_assert_not_null(x.sem);
	cr_assert_eq(conc_sem_init(x.sem, 0, 0), 0);
	cr_assert_eq(conc_run(lost_main, &x, &code), 0);
	cr_expect_eq(code, SLEEPERS, "fallback %d: %d (each sleeper takes a "
		     "permit that came without a wake-up)", fallback, code);
	cr_expect_eq(conc_sem_value(x.sem), 0);
	shared_free(x.sem, sizeof(*x.sem));
}

Test(loop_watch, a_post_whose_waker_died_reaches_the_tasks, .timeout = 120)
{
	lost_post(false);
}

Test(loop_watch, a_post_whose_waker_died_reaches_the_tasks_fallback, .timeout = 120)
{
	lost_post(true);
}

/* ---- a thousand sleepers, a quiet loop ------------------------------- */

#define MANY 1000

static conc_sem many_sem;

static int wait_many(void *arg)
{
	(void)arg;
	return conc_sem_timedwait(&many_sem, BOUND);
}

static long woken(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw;
}

/*
 * The loop's thread sleeps in the ring while its tasks sleep on the word:
 * each time it wakes is a voluntary context switch. A look at the word
 * every tenth of a second wakes it about ten times a second; a re-check of
 * each task on its own woke it hundreds of times. The bound is in looks
 * per second of the time the test measured, so that a slow machine, which
 * can only make the thread wake less often, never fails it.
 */
static int many_main(void *arg)
{
	conc_task **t = calloc(MANY, sizeof(*t));
	int64_t t0, t1;
	long w0, w1, bound;
	int i, r = 0;

	(void)arg;
	if (!t)
		return -1;
	for (i = 0; i < MANY; i++)
		if (conc_go(&t[i], wait_many, NULL, NULL))
			return -2;
	while (__atomic_load_n(&many_sem.waiters, __ATOMIC_ACQUIRE) < MANY)
		conc_sleep(1 * MS);
	conc_sleep(150 * MS);		/* the last ones into their sleep */
	t0 = now_ns();
	w0 = woken();
	conc_sleep(1000 * MS);
	w1 = woken();
	t1 = now_ns();
	bound = 50 + 30 * (t1 - t0) / 1000000000;
	if (w1 - w0 > bound) {
		fprintf(stderr, "the loop woke %ld times in %.2f s (bound %ld)\n",
			w1 - w0, (double)(t1 - t0) / 1e9, bound);
		r = -3;
	}
	for (i = 0; i < MANY; i++)
		conc_sem_post(&many_sem);
	for (i = 0; i < MANY; i++)
		if (conc_task_join(t[i], NULL, BOUND))
			r = -4;
	free(t);
	return r;
}

Test(loop_watch, a_thousand_sleepers_on_a_shared_word_leave_the_loop_asleep,
     .timeout = 120)
{
	int code = -100;

	futex_mode_or_skip(false);
	cr_assert_eq(conc_sem_init(&many_sem, 0, 0), 0);
	cr_assert_eq(conc_run(many_main, NULL, &code), 0);
	cr_expect_eq(code, 0, "%d", code);
}
