/*
 * The end of a conc_proc_start() child: fn is the child's main, and its
 * return ends the child as main's return ends a program (conc_thread_start(3),
 * conc_proc_start(3)), as Python's Process ends: the non-daemon threads
 * and children fn started are waited for first. Each child here waits for
 * a byte from the test (go), so "it has not ended yet" is a fact, never a
 * matter of timing.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <conc.h>
#include "helpers.h"

#define SEC 1000000000LL

struct pipes {
	int go[2];	/* test -> what fn started */
	int out[2];	/* fn and what it started -> test */
};

static struct pipes pp;

static int waits_for_go(void *p)
{
	char c;

	(void)p;
	/* Bounded: a child left behind by a failed test must end too. */
	if (poll(&(struct pollfd){ pp.go[0], POLLIN, 0 }, 1, 30000) != 1 ||
	    read(pp.go[0], &c, 1) != 1)
		return 1;
	return write(pp.out[1], "T", 1) == 1 ? 0 : 2;
}

static int starts_a_thread(void *p)
{
	conc_thread *t;

	(void)p;
	if (conc_thread_start(&t, waits_for_go, NULL, NULL) || conc_thread_detach(t))
		return 90;
	return write(pp.out[1], "R", 1) == 1 ? 5 : 91;
}

static int starts_a_child(void *p)
{
	conc_proc *c;

	(void)p;
	if (conc_proc_start(&c, waits_for_go, NULL, NULL))
		return 90;
	return write(pp.out[1], "R", 1) == 1 ? 5 : 91;
}

static char read_byte(int fd)
{
	char c = 0;

	cr_assert_eq(poll(&(struct pollfd){ fd, POLLIN, 0 }, 1, 20000), 1);
	cr_assert_eq(read(fd, &c, 1), 1);
	return c;
}

/* fn has returned ('R' read), what it started waits for go: the child
 * must not have ended; once go is given it ends, with fn's code. */
static void ends_after_what_fn_started(int (*fn)(void *))
{
	conc_proc *p;
	int st = -1;

	cr_assert_eq(pipe(pp.go), 0);
	cr_assert_eq(pipe(pp.out), 0);
	cr_assert_eq(conc_proc_start(&p, fn, NULL, NULL), 0);
	cr_assert_eq(read_byte(pp.out[0]), 'R');
	cr_assert_eq(conc_proc_join(p, &st, SEC / 5), -ETIMEDOUT,
		     "the child ended before what fn started (status %#x)", st);
	cr_assert_eq(write(pp.go[1], "g", 1), 1);
	cr_assert_eq(read_byte(pp.out[0]), 'T');
	cr_assert_eq(conc_proc_join(p, &st, 20 * SEC), 0);
	cr_assert(exited_with(st, 5), "status %#x", st);
	cr_assert_eq(conc_proc_release(p), 0);
}

Test(proc_end, waits_for_the_threads_fn_started, .timeout = 60)
{
	const char *why;

	if (conc_thread_support(&why))
		cr_skip_test("no conc threads here: %s", why);
	ends_after_what_fn_started(starts_a_thread);
}

Test(proc_end, joins_the_children_fn_started, .timeout = 60)
{
	ends_after_what_fn_started(starts_a_child);
}
