/*
 * test_fi_fork.c — the library's list locks (parked workers, rsem
 * handles) in a fork child, where the first caller sets each up again:
 * a second thread whose first call comes while the first is still at it
 * must wait for it, neither take the lock nor set it up a second time.
 *
 * The test build's hook (__conc_fi_fork_lock, lib/task/fork_lock.h) holds
 * the window open: the thread that claimed the set-up stops there until
 * the other thread has either come to wait (right) or got through its call
 * (wrong: it used the lock before it was set up again). No verdict depends
 * on timing: the only bounded wait that may expire is a failure either way.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <conc.h>
#include "loop_helpers.h"

extern void (*__conc_fi_fork_lock)(const void *lock, int where);

/* In the child only (its own copy of everything). */
static struct {
	uint32_t armed, go, waiting, done, early, setups;
	const void *lock;	/* the first lock claimed once armed */
	int which;	/* 0: rsem handles, 1: workers */
	int result;
} h;

static int nothing(void *arg)
{
	(void)arg;
	return 0;
}

static int use_list(int which)
{
	conc_rsem *s;
	conc_thread *t;
	int code = -1, r;

	if (which == 0) {
		r = conc_rsem_create(&s, NULL);
		return r ? r : conc_rsem_destroy(s);
	}
	r = conc_thread_start(&t, nothing, NULL, NULL);
	if (r)
		return r;
	r = conc_thread_join(t, &code, BOUND);
	return r ? r : code;
}

/* where 0: the claimer, between its claim and its publishing; 1: a
 * caller about to wait for the set-up. */
static void hold_the_window(const void *lock, int where)
{
	const void *none = NULL;

	if (!__atomic_load_n(&h.armed, __ATOMIC_ACQUIRE))
		return;
	/* Another of the library's lists (a thread's end may walk the rsem
	 * handles) is no part of the test. */
	__atomic_compare_exchange_n(&h.lock, &none, lock, 0, __ATOMIC_ACQ_REL,
				    __ATOMIC_ACQUIRE);
	if (__atomic_load_n(&h.lock, __ATOMIC_ACQUIRE) != lock)
		return;
	if (where == 1) {
		set_flag(&h.waiting, 1);
		return;
	}
	if (__atomic_add_fetch(&h.setups, 1, __ATOMIC_RELAXED) > 1)
		return;		/* a second set-up: counted, failed below */
	set_flag(&h.go, 1);
	/* Bounded: expiring means the other thread neither waited nor got
	 * through, which fails below too. */
	for (int i = 0; i < 100000; i++) {
		if (__atomic_load_n(&h.waiting, __ATOMIC_ACQUIRE))
			return;
		if (__atomic_load_n(&h.done, __ATOMIC_ACQUIRE)) {
			set_flag(&h.early, 1);
			return;
		}
		sleep_ns(100000);
	}
	set_flag(&h.early, 2);
}

static void *second(void *arg)
{
	(void)arg;
	if (!wait_flag(&h.go, 10000))
		return (void *)1;
	h.result = use_list(h.which);
	set_flag(&h.done, 1);
	return NULL;
}

static int child(int which)
{
	pthread_t t;
	void *ret;
	int r;

	h.which = which;
	__conc_fi_fork_lock = hold_the_window;
	if (pthread_create(&t, NULL, second, NULL))
		return 10;
	set_flag(&h.armed, 1);
	r = use_list(which);
	if (join_thread(t, 10000, &ret) || ret)
		return 11;
	if (r)
		return 12;
	if (h.result)
		return 13;
	if (h.early == 1)
		return 14;	/* the second got through before the set-up */
	if (h.early)
		return 15;
	if (h.setups != 1)
		return 16;	/* set up twice */
	return 0;
}

static void forks_and_checks(int which)
{
	int st, code = -1;

	/* The parent's generation used both lists: the child's is new. */
	cr_assert_eq(use_list(0), 0);
	cr_assert_eq(use_list(1), 0);
	pid_t pid = test_fork();

	if (pid == 0)
		_exit(child(which));
	cr_assert_gt(pid, 0);
	st = wait_child(pid, 30000);
	if (st != -1 && WIFEXITED(st))
		code = WEXITSTATUS(st);
	cr_assert_eq(code, 0, "child: status %#x", st);
}

Test(fi_fork, a_second_first_call_to_the_rsem_list_waits_for_the_set_up, .timeout = 60)
{
	forks_and_checks(0);
}

Test(fi_fork, a_second_first_call_to_the_worker_list_waits_for_the_set_up, .timeout = 60)
{
	forks_and_checks(1);
}
