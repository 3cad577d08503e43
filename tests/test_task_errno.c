/*
 * errno in tasks: errno belongs to the thread, and the tasks of a loop
 * share their thread. Code written for threads reads errno after calls
 * that may now suspend the task (a lock, a sleep, a log line's write), so
 * each task must find errno as it left it when it suspended, not what the
 * tasks that ran meanwhile left there.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include "loop_helpers.h"

#define TURNS 50

struct side {
	int mine;		/* the errno this task keeps setting */
	int bad;		/* times it found another */
};

static void check(struct side *s)
{
	if (errno != s->mine)
		s->bad++;
	errno = s->mine;
}

static int yields(void *arg)
{
	struct side *s = arg;

	errno = s->mine;
	for (int i = 0; i < TURNS; i++) {
		if (conc_yield())
			return -1;
		check(s);
	}
	return 0;
}

static int sleeps(void *arg)
{
	struct side *s = arg;

	errno = s->mine;
	for (int i = 0; i < TURNS; i++) {
		if (conc_sleep(100 * 1000))
			return -1;
		check(s);
	}
	return 0;
}

static conc_mutex lock;

/* Both take the lock in turn, holding it across a yield: the other
 * suspends in conc_mutex_lock while this one sets its errno. */
static int locks(void *arg)
{
	struct side *s = arg;

	errno = s->mine;
	for (int i = 0; i < TURNS; i++) {
		if (conc_mutex_timedlock(&lock, BOUND))
			return -1;
		check(s);
		if (conc_yield())
			return -1;
		check(s);
		conc_mutex_unlock(&lock);
		if (conc_yield())
			return -1;
		check(s);
	}
	return 0;
}

struct pair {
	int (*fn)(void *);
	bool shared_stack;
	struct side a, b;
};

static int two(void *arg)
{
	struct pair *p = arg;
	conc_task_attr at = { .shared_stack = p->shared_stack };
	conc_task *ta, *tb;
	int ca = -1, cb = -1;

	if (conc_go(&ta, p->fn, &p->a, &at) || conc_go(&tb, p->fn, &p->b, &at))
		return 1;
	if (conc_task_join(ta, &ca, BOUND) || conc_task_join(tb, &cb, BOUND))
		return 2;
	return ca || cb ? 3 : 0;
}

/* Every way a task suspends: a yield, a sleep, a lock another task
 * holds, and a yield on the shared stack (copied out and back in). */
Test(task_errno, each_task_finds_its_own_after_it_suspends, .timeout = 60)
{
	static const struct {
		const char *how;
		int (*fn)(void *);
		bool shared_stack;
	} kinds[] = {
		{ "a yield", yields, false },
		{ "a sleep", sleeps, false },
		{ "a lock another task holds", locks, false },
		{ "a yield on the shared stack", yields, true },
	};

	need_uring();
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct pair p = { kinds[k].fn, kinds[k].shared_stack,
				  { 42, 0 }, { 7, 0 } };

		cr_assert_eq(run(two, &p), 0, "%s", kinds[k].how);
		cr_assert_eq(p.a.bad + p.b.bad, 0,
			     "after %s, tasks found another's errno %d times",
			     kinds[k].how, p.a.bad + p.b.bad);
	}
}
