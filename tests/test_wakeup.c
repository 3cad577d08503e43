/* test_wakeup.c — a waiter that is woken and dies before it acts must not
 * take the wake-up with it: the other sleepers still get the object.
 * Everyone shares one CPU and the sleepers run as SCHED_IDLE, so a woken
 * sleeper cannot run while the test goes on: it is woken in the kernel,
 * then killed before it ever looks. (A stopped process would not do: a
 * stop takes a sleeper off the futex queue.) */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <conc.h>
#include "helpers.h"

struct obj {
	conc_mutex m;
	conc_sem sem;
	conc_rwlock rw;
	uint32_t got;
};

enum kind { MUTEX, ROBUST, SEM, RWLOCK };

#define BOUND	(10 * (int64_t)1000000000)

/* Every take is bounded: a bug fails the test instead of hanging it. */
static int take(struct obj *o, enum kind k)
{
	int r;

	switch (k) {
	case MUTEX:
	case ROBUST:
		r = conc_mutex_timedlock(&o->m, BOUND);
		return r == -EOWNERDEAD ? conc_mutex_consistent(&o->m) : r;
	case SEM:
		return conc_sem_timedwait(&o->sem, BOUND);
	default:
		return conc_rwlock_timedwrlock(&o->rw, BOUND);
	}
}

static int release(struct obj *o, enum kind k)
{
	switch (k) {
	case MUTEX:
	case ROBUST:
		return conc_mutex_unlock(&o->m);
	case SEM:
		return conc_sem_post(&o->sem);
	default:
		return conc_rwlock_unlock(&o->rw);
	}
}

static void give(struct obj *o, enum kind k)
{
	cr_assert_eq(release(o, k), 0);
}

/* A sleeper gives back what it took before it exits: a woken sleeper that
 * the scheduler ran after all (SCHED_IDLE makes that rare, not
 * impossible: a tick may preempt the test between its give and its take)
 * must not leave the object taken by a dead process. */
static pid_t sleeper(struct obj *o, enum kind k)
{
	pid_t pid = test_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sched_param sp = { 0 };

		if (sched_setscheduler(0, SCHED_IDLE, &sp))
			_exit(2);
		if (take(o, k))
			_exit(1);
		__atomic_add_fetch(&o->got, 1, __ATOMIC_SEQ_CST);
		_exit(release(o, k) ? 3 : 0);
	}
	cr_assert(wait_thread_sleeping(pid, pid, 5000), "sleeper never slept");
	return pid;
}

/* One round: false when the woken sleeper ran before it was killed, so
 * that the round tested nothing (the caller tries again). */
static bool woken_then_killed_once(enum kind k)
{
	struct obj *o = shared_alloc(sizeof(*o));
	pid_t w, s;
	int st, wst;

	cr_assert_not_null(o);
	cr_assert_eq(conc_mutex_init(&o->m, k == ROBUST ? CONC_ROBUST : 0), 0);
	cr_assert_eq(conc_sem_init(&o->sem, 0, 0), 0);
	if (k != SEM)
		cr_assert_eq(take(o, k), 0);
	w = sleeper(o, k);	/* first in line: the one a wake-up picks */
	s = sleeper(o, k);
	give(o, k);		/* wakes w, which should not run before we sleep */
	if (k != SEM)
		cr_assert_eq(take(o, k), 0, "the owner takes it back");
	kill(w, SIGKILL);
	wst = wait_child(w, 5000);
	if (k != SEM)
		give(o, k);	/* s must get it now */
	else if (exited_with(wst, 0))
		give(o, k);	/* w took the one post: s needs another */
	st = wait_child(s, 15000);
	cr_assert(exited_with(st, 0), "the other sleeper was stranded: %#x", st);
	if (exited_with(wst, 0)) {
		cr_assert_eq(o->got, 2);
		shared_free(o, sizeof(*o));
		return false;
	}
	cr_assert(killed_by(wst, SIGKILL), "w: %#x", wst);
	cr_assert_eq(o->got, 1);
	shared_free(o, sizeof(*o));
	return true;
}

/* A round tests nothing when a tick let the woken SCHED_IDLE sleeper run
 * before the kill; beside nice-0 hogs on the CPU (a loaded machine) that
 * comes more often. Rounds are cheap and a failed one is told apart, so
 * there are many: one that tests is enough. */
#define ROUNDS 50

static void woken_then_killed(enum kind k)
{
	cpu_set_t one;
	int i;

	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	for (i = 0; i < ROUNDS && !woken_then_killed_once(k); i++)
		;
	cr_assert_lt(i, ROUNDS, "the woken sleeper ran first in every round");
}

Test(wakeup, mutex_woken_waiter_killed, .timeout = 120)
{
	woken_then_killed(MUTEX);
}

Test(wakeup, robust_mutex_woken_waiter_killed, .timeout = 120)
{
	woken_then_killed(ROBUST);
}

Test(wakeup, sem_woken_waiter_killed, .timeout = 120)
{
	woken_then_killed(SEM);
}

Test(wakeup, rwlock_woken_writer_killed, .timeout = 120)
{
	woken_then_killed(RWLOCK);
}
