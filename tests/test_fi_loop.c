/*
 * test_fi_loop.c — races of the loop held open with the test build's
 * fault-injection points (lib/loop/loop_impl.h), so that a window a few
 * instructions wide is taken every time.
 *
 * A plain thread's join times out; before it gives the task back, the task
 * ends (claimed by that join) and conc_run ends: the handle must be freed
 * by the joiner then (no loop is left to do it), once.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <conc.h>
#include "loop_helpers.h"

extern void (*__conc_fi_loop_unwatch)(void);
extern long __conc_fi_loop_tasks;

static struct held {
	conc_task *t;
	conc_thread *th;
	pid_t joiner;
	conc_event never;
	uint32_t in_window, loop_done;
	int jr;
} h;

/* In the joiner, after its wait failed and before it lets go. */
static void hold_the_window(void)
{
	if (conc_gettid() != h.joiner)
		return;
	set_flag(&h.in_window, 1);
	wait_flag(&h.loop_done, 10000);
}

static int waits_for_ever(void *arg)
{
	(void)arg;
	return conc_event_wait(&h.never, BOUND) == -ECANCELED ? 5 : 6;
}

static int times_out(void *arg)
{
	(void)arg;
	h.joiner = conc_gettid();
	h.jr = conc_task_join(h.t, NULL, 20 * MS);
	return 0;
}

static int ends_while_a_thread_lets_go(void *arg)
{
	(void)arg;
	if (conc_go(&h.t, waits_for_ever, NULL, NULL) ||
	    conc_thread_start(&h.th, times_out, NULL, NULL))
		return -1;
	/* Suspended (the task waits), until the joiner is in the window. */
	while (!__atomic_load_n(&h.in_window, __ATOMIC_ACQUIRE))
		if (conc_sleep(MS))
			return -2;
	return 0;
}

Test(fi_loop, a_join_that_times_out_as_the_loop_ends_frees_the_task)
{
	int i;

	need_uring();
	__conc_fi_loop_unwatch = hold_the_window;
	for (i = 0; i < 3; i++) {
		memset(&h, 0, sizeof(h));
		h.jr = 1;
		cr_assert_eq(run(ends_while_a_thread_lets_go, NULL), 0);
		set_flag(&h.loop_done, 1);
		cr_assert_eq(conc_thread_join(h.th, NULL, BOUND), 0);
		cr_assert_eq(h.jr, -ETIMEDOUT);
		cr_assert_eq(__atomic_load_n(&__conc_fi_loop_tasks, __ATOMIC_RELAXED), 0,
			     "round %d: %ld task(s) never freed", i, __conc_fi_loop_tasks);
	}
	__conc_fi_loop_unwatch = NULL;
}
