/* test_robust.c — robust conc_mutex: owner death, -EOWNERDEAD, consistent,
 * -ENOTRECOVERABLE, and sharing the kernel's robust list with glibc. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <conc.h>
#include "helpers.h"

/* Everything a test shares with its children. */
struct rs {
	conc_mutex m[8];
	pthread_mutex_t gm[4];
	conc_event ready;
	uint32_t held, release, started;	/* held: the owner's tid */
	uint64_t a, b;		/* a++ then b++ inside the lock */
};

static struct rs *rs_new(unsigned flags)
{
	struct rs *s = shared_alloc(sizeof(*s));

	cr_assert_not_null(s);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(conc_mutex_init(&s->m[i], flags), 0);
	cr_assert_eq(conc_event_init(&s->ready, 0), 0);
	return s;
}

static void rs_free(struct rs *s)
{
	shared_free(s, sizeof(*s));
}

/* For run_in_child(): the result as an exit code (EBUSY for -EBUSY). */
static int child_lock(void *m) { return errcode(conc_mutex_lock(m)); }
static int child_trylock(void *m) { return errcode(conc_mutex_trylock(m)); }
static int child_consistent(void *m) { return errcode(conc_mutex_consistent(m)); }

static int is_eownerdead_or_ok(int r)
{
	return r == 0 || r == -EOWNERDEAD;
}

/* A child that locks s->m[0..n-1] (recursively `depth` times each), tells
 * the parent through the event, then waits to be killed. `how` says how it
 * ends if not killed: 0 waits (to be killed), 1 _exit()s at once. */
static pid_t owner_child(struct rs *s, int n, int depth, int how)
{
	pid_t pid = test_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (int i = 0; i < n; i++)
			for (int d = 0; d < depth; d++)
				if (conc_mutex_lock(&s->m[i]))
					_exit(70 + i);
		conc_event_set(&s->ready);
		if (how == 1)
			_exit(0);
		wait_flag(&s->release, 10000);
		_exit(99);
	}
	cr_assert_eq(conc_event_wait(&s->ready, 5000000000LL), 0,
		     "owner child never locked");
	return pid;
}

static void kill_and_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	int st = wait_child(pid, 5000);
	cr_assert(killed_by(st, SIGKILL), "status %#x", st);
}

/* ---- death of the owner ------------------------------------------------- */

Test(robust, killed_owner_next_locker_gets_eownerdead, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST);

	kill_and_reap(owner_child(s, 1, 1, 0));
	cr_assert_eq(conc_mutex_lock(&s->m[0]), -EOWNERDEAD);
	/* The caller owns it now. */
	cr_assert_eq(conc_mutex_trylock(&s->m[0]), -EBUSY);
	cr_assert_eq(conc_mutex_lock(&s->m[0]), -EDEADLK);
	cr_assert_eq(run_in_child(child_trylock, &s->m[0], 5000),
		     EBUSY);
	cr_assert_eq(conc_mutex_consistent(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_consistent(&s->m[0]), -EINVAL, "already consistent");
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	/* Works normally again, here and elsewhere. */
	cr_assert_eq(conc_mutex_lock(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	cr_assert_eq(run_in_child(child_lock, &s->m[0], 5000), 0);
	rs_free(s);
}

Test(robust, trylock_and_timedlock_also_report_eownerdead, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST);

	kill_and_reap(owner_child(s, 3, 1, 0));
	cr_assert_eq(conc_mutex_trylock(&s->m[0]), -EOWNERDEAD);
	cr_assert_eq(conc_mutex_timedlock(&s->m[1], 0), -EOWNERDEAD);
	cr_assert_eq(conc_mutex_timedlock(&s->m[2], 1000000), -EOWNERDEAD);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(conc_mutex_consistent(&s->m[i]), 0);
		cr_assert_eq(conc_mutex_unlock(&s->m[i]), 0);
		cr_assert_eq(conc_mutex_trylock(&s->m[i]), 0);
		cr_assert_eq(conc_mutex_unlock(&s->m[i]), 0);
	}
	rs_free(s);
}

Test(robust, owner_exiting_normally_while_holding, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST);
	pid_t pid = owner_child(s, 1, 1, 1);
	int st = wait_child(pid, 5000);

	cr_assert(exited_with(st, 0), "status %#x", st);
	cr_assert_eq(conc_mutex_lock(&s->m[0]), -EOWNERDEAD);
	cr_assert_eq(conc_mutex_consistent(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	rs_free(s);
}

Test(robust, zeroed_then_robust_init_in_shared_memory, .timeout = 10)
{
	/* conc_mutex_init(CONC_ROBUST) on fresh shared memory, not rs_new. */
	conc_mutex *m = shared_alloc(sizeof(*m));

	cr_assert_not_null(m);
	cr_assert_eq(conc_mutex_init(m, CONC_ROBUST | CONC_PRIVATE), 0);
	cr_assert_eq(run_in_child(child_lock, m, 5000), 0);
	cr_assert_eq(conc_mutex_lock(m), -EOWNERDEAD,
		     "CONC_PRIVATE must not stop the owner-death report");
	cr_assert_eq(conc_mutex_consistent(m), 0);
	cr_assert_eq(conc_mutex_unlock(m), 0);
	shared_free(m, sizeof(*m));
}

Test(robust, recursive_owner_death_resets_the_count, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST | CONC_RECURSIVE);
	int r;

	kill_and_reap(owner_child(s, 1, 3, 0));
	cr_assert_eq(conc_mutex_lock(&s->m[0]), -EOWNERDEAD);
	cr_assert_eq(conc_mutex_consistent(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	/* One lock, one unlock: the dead owner's depth is not inherited. */
	r = run_in_child(child_trylock, &s->m[0], 5000);
	cr_assert_eq(r, 0, "still held after the one unlock: %d", r);
	rs_free(s);
}

Test(robust, recursive_relock_while_inconsistent, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST | CONC_RECURSIVE);

	kill_and_reap(owner_child(s, 1, 1, 0));
	cr_assert_eq(conc_mutex_lock(&s->m[0]), -EOWNERDEAD);
	cr_assert_eq(conc_mutex_lock(&s->m[0]), 0, "counted relock by the owner");
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_consistent(&s->m[0]), 0, "still the owner, still dirty");
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_lock(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	rs_free(s);
}

Test(robust, repairer_dying_too_reports_eownerdead_again, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST);

	kill_and_reap(owner_child(s, 1, 1, 0));
	/* A second child gets -EOWNERDEAD and dies before repairing. */
	cr_assert_eq(run_in_child(child_lock, &s->m[0], 5000),
		     EOWNERDEAD);
	cr_assert_eq(conc_mutex_lock(&s->m[0]), -EOWNERDEAD);
	cr_assert_eq(conc_mutex_consistent(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	/* Repaired, then died holding it: reported again. */
	pid_t pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(errcode(conc_mutex_lock(&s->m[0])));
	cr_assert(exited_with(wait_child(pid, 5000), 0));
	cr_assert_eq(conc_mutex_lock(&s->m[0]), -EOWNERDEAD);
	cr_assert_eq(conc_mutex_consistent(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	rs_free(s);
}

Test(robust, several_mutexes_held_by_killed_process, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST);

	kill_and_reap(owner_child(s, 8, 1, 0));
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(conc_mutex_trylock(&s->m[i]), -EOWNERDEAD, "mutex %d", i);
		cr_assert_eq(conc_mutex_consistent(&s->m[i]), 0);
		cr_assert_eq(conc_mutex_unlock(&s->m[i]), 0);
	}
	rs_free(s);
}

Test(robust, only_the_mutexes_still_held_are_reported, .timeout = 10)
{
	/* Lock all eight, release some in an order that unlinks entries from
	 * the head, the middle and the tail of the list, lock one again. */
	struct rs *s = rs_new(CONC_ROBUST);
	static const int drop[] = { 7, 3, 0, 5 };
	pid_t pid = test_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (int i = 0; i < 8; i++)
			if (conc_mutex_lock(&s->m[i]))
				_exit(1);
		for (int i = 0; i < 4; i++)
			if (conc_mutex_unlock(&s->m[drop[i]]))
				_exit(2);
		if (conc_mutex_lock(&s->m[3]))
			_exit(3);
		conc_event_set(&s->ready);
		wait_flag(&s->release, 10000);
		_exit(99);
	}
	cr_assert_eq(conc_event_wait(&s->ready, 5000000000LL), 0);
	kill_and_reap(pid);
	for (int i = 0; i < 8; i++) {
		int held = !(i == 7 || i == 0 || i == 5);
		int r = conc_mutex_trylock(&s->m[i]);

		cr_assert_eq(r, held ? -EOWNERDEAD : 0, "mutex %d: %d", i, r);
		if (held)
			cr_assert_eq(conc_mutex_consistent(&s->m[i]), 0);
		cr_assert_eq(conc_mutex_unlock(&s->m[i]), 0);
	}
	rs_free(s);
}

/* ---- waiters that sleep while the owner dies ----------------------------- */

struct waiter {
	conc_mutex *m;
	int64_t timeout;
	int r;
	uint32_t started;
	pid_t tid;
	int then_consistent;	/* 1: consistent + unlock after -EOWNERDEAD */
	int unlock_r;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;

	w->tid = conc_gettid();
	set_flag(&w->started, 1);
	w->r = conc_mutex_timedlock(w->m, w->timeout);
	if (w->r == -EOWNERDEAD && w->then_consistent)
		conc_mutex_consistent(w->m);
	if (w->r == 0 || (w->r == -EOWNERDEAD && w->then_consistent >= 0))
		w->unlock_r = conc_mutex_unlock(w->m);
	return NULL;
}

static void start_waiter(struct waiter *w, pthread_t *t, conc_mutex *m,
			 int64_t timeout, int then_consistent)
{
	*w = (struct waiter){ m, timeout, 12345, 0, 0, then_consistent, 12345 };
	cr_assert_eq(pthread_create(t, NULL, waiter_thread, w), 0);
	cr_assert(wait_flag(&w->started, 5000));
	wait_thread_sleeping(getpid(), w->tid, 2000);
}

static void wait_futex_waiters(conc_mutex *m)
{
	int64_t end = now_ns() + 2000000000LL;

	while (!(__atomic_load_n(&m->word, __ATOMIC_RELAXED) & FUTEX_WAITERS) &&
	       now_ns() < end)
		sleep_ns(100000);
}

Test(robust, sleeping_waiter_woken_by_owner_death, .timeout = 10)
{
	static const int64_t timeouts[] = { CONC_FOREVER, 8000000000LL };

	for (int i = 0; i < 2; i++) {
		struct rs *s = rs_new(CONC_ROBUST);
		struct waiter w;
		pthread_t t;
		pid_t pid = owner_child(s, 1, 1, 0);

		start_waiter(&w, &t, &s->m[0], timeouts[i], 1);
		wait_futex_waiters(&s->m[0]);
		cr_assert_eq(w.r, 12345, "waiter got a held mutex");
		kill_and_reap(pid);
		cr_assert_eq(join_thread(t, 6000, NULL), 0,
			     "waiter not woken by the owner's death");
		cr_assert_eq(w.r, -EOWNERDEAD, "got %d", w.r);
		cr_assert_eq(w.unlock_r, 0);
		cr_assert_eq(conc_mutex_trylock(&s->m[0]), 0);
		cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
		rs_free(s);
	}
}

Test(robust, sleeping_process_woken_by_owner_death, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST);
	pid_t owner = owner_child(s, 1, 1, 0);
	pid_t w = test_fork();

	cr_assert_geq(w, 0);
	if (w == 0) {
		set_flag(&s->started, 1);
		int r = conc_mutex_lock(&s->m[0]);
		if (r != -EOWNERDEAD)
			_exit(errcode(r));
		if (conc_mutex_consistent(&s->m[0]) || conc_mutex_unlock(&s->m[0]))
			_exit(2);
		_exit(0);
	}
	cr_assert(wait_flag(&s->started, 5000));
	wait_thread_sleeping(w, w, 2000);
	wait_futex_waiters(&s->m[0]);
	kill_and_reap(owner);
	int st = wait_child(w, 6000);
	cr_assert(exited_with(st, 0), "waiter: status %#x (%d = 130 is EOWNERDEAD)",
		  st, st == -1 ? -1 : WEXITSTATUS(st));
	rs_free(s);
}

Test(robust, two_sleepers_one_dead_report_then_normal, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST);
	struct waiter w[2];
	pthread_t t[2];
	pid_t pid = owner_child(s, 1, 1, 0);

	start_waiter(&w[0], &t[0], &s->m[0], 8000000000LL, 1);
	start_waiter(&w[1], &t[1], &s->m[0], 8000000000LL, 1);
	wait_futex_waiters(&s->m[0]);
	kill_and_reap(pid);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(join_thread(t[i], 9000, NULL), 0, "waiter %d stuck", i);
		cr_assert_eq(w[i].unlock_r, 0, "waiter %d", i);
	}
	/* Exactly one learnt of the death; the other got a repaired mutex. */
	cr_assert((w[0].r == -EOWNERDEAD && w[1].r == 0) ||
		  (w[0].r == 0 && w[1].r == -EOWNERDEAD),
		  "results %d %d", w[0].r, w[1].r);
	rs_free(s);
}

/* ---- owner thread (not process) exits ------------------------------------ */

static void *lock_and_leave(void *arg)
{
	intptr_t r = conc_mutex_lock(arg);

	return (void *)r;
}

static void *lock_and_pthread_exit(void *arg)
{
	conc_mutex_lock(arg);
	pthread_exit((void *)1);
}

Test(robust, owner_thread_exits_while_holding, .timeout = 10)
{
	conc_mutex m;
	pthread_t t;
	void *ret;

	cr_assert_eq(conc_mutex_init(&m, CONC_ROBUST), 0);
	cr_assert_eq(pthread_create(&t, NULL, lock_and_leave, &m), 0);
	cr_assert_eq(join_thread(t, 5000, &ret), 0);
	cr_assert_eq((intptr_t)ret, 0);
	cr_assert_eq(conc_mutex_lock(&m), -EOWNERDEAD);
	cr_assert_eq(conc_mutex_consistent(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), 0);

	cr_assert_eq(pthread_create(&t, NULL, lock_and_pthread_exit, &m), 0);
	cr_assert_eq(join_thread(t, 5000, &ret), 0);
	cr_assert_eq(conc_mutex_trylock(&m), -EOWNERDEAD);
	cr_assert_eq(conc_mutex_consistent(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
}

struct hold_arg {
	conc_mutex *m;
	uint32_t held, go;
};

static void *hold_then_exit(void *arg)
{
	struct hold_arg *h = arg;

	if (conc_mutex_lock(h->m))
		return (void *)1;
	set_flag(&h->held, 1);
	wait_flag(&h->go, 8000);
	return NULL;
}

Test(robust, main_sleeping_while_owner_thread_exits, .timeout = 10)
{
	conc_mutex m;
	struct hold_arg h = { &m, 0, 0 };
	struct waiter w;
	pthread_t t, wt;

	cr_assert_eq(conc_mutex_init(&m, CONC_ROBUST), 0);
	cr_assert_eq(pthread_create(&t, NULL, hold_then_exit, &h), 0);
	cr_assert(wait_flag(&h.held, 5000));
	start_waiter(&w, &wt, &m, 8000000000LL, 1);
	wait_futex_waiters(&m);
	set_flag(&h.go, 1);
	cr_assert_eq(join_thread(t, 5000, NULL), 0);
	cr_assert_eq(join_thread(wt, 9000, NULL), 0, "waiter not woken");
	cr_assert_eq(w.r, -EOWNERDEAD);
	cr_assert_eq(w.unlock_r, 0);
}

/* ---- not recoverable ------------------------------------------------------ */

Test(robust, unlock_without_consistent_is_not_recoverable, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST);

	kill_and_reap(owner_child(s, 1, 1, 0));
	cr_assert_eq(conc_mutex_lock(&s->m[0]), -EOWNERDEAD);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(conc_mutex_lock(&s->m[0]), -ENOTRECOVERABLE);
		cr_assert_eq(conc_mutex_trylock(&s->m[0]), -ENOTRECOVERABLE);
		cr_assert_eq(conc_mutex_timedlock(&s->m[0], 0), -ENOTRECOVERABLE);
		cr_assert_eq(conc_mutex_timedlock(&s->m[0], 1000000), -ENOTRECOVERABLE);
	}
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), -EPERM, "nobody owns it");
	cr_assert_neq(conc_mutex_consistent(&s->m[0]), 0);
	struct waiter w;
	pthread_t t;
	start_waiter(&w, &t, &s->m[0], 5000000000LL, 1);
	cr_assert_eq(join_thread(t, 6000, NULL), 0);
	cr_assert_eq(w.r, -ENOTRECOVERABLE, "another thread: %d", w.r);
	cr_assert_eq(run_in_child(child_lock, &s->m[0], 5000),
		     ENOTRECOVERABLE);
	/* Re-initialising is the only way back. */
	cr_assert_eq(conc_mutex_init(&s->m[0], CONC_ROBUST), 0);
	cr_assert_eq(conc_mutex_lock(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	rs_free(s);
}

Test(robust, sleeping_waiters_learn_not_recoverable, .timeout = 10)
{
	enum { N = 3 };
	struct rs *s = rs_new(CONC_ROBUST);
	struct waiter w[N];
	pthread_t t[N];

	kill_and_reap(owner_child(s, 1, 1, 0));
	cr_assert_eq(conc_mutex_lock(&s->m[0]), -EOWNERDEAD);
	pid_t wp = test_fork();
	cr_assert_geq(wp, 0);
	if (wp == 0) {
		set_flag(&s->started, 1);
		_exit(errcode(conc_mutex_timedlock(&s->m[0], 8000000000LL)));
	}
	for (int i = 0; i < N; i++)
		start_waiter(&w[i], &t[i], &s->m[0], i ? 8000000000LL : CONC_FOREVER, -1);
	cr_assert(wait_flag(&s->started, 5000));
	wait_thread_sleeping(wp, wp, 2000);
	wait_futex_waiters(&s->m[0]);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);	/* not repaired */
	for (int i = 0; i < N; i++) {
		cr_assert_eq(join_thread(t[i], 9000, NULL), 0, "waiter %d never woken", i);
		cr_assert_eq(w[i].r, -ENOTRECOVERABLE, "waiter %d: %d", i, w[i].r);
	}
	int st = wait_child(wp, 9000);
	cr_assert(exited_with(st, ENOTRECOVERABLE), "waiting process: status %#x", st);
	rs_free(s);
}

/*
 * A locker that is already inside conc_mutex_lock() -- past its first look
 * at the mutex, spinning rather than asleep -- when the owner unlocks an
 * inconsistent mutex must still get -ENOTRECOVERABLE, never the mutex.
 */
struct racer {
	conc_mutex *m;
	uint32_t started;
	int r;
};

static void *racer_thread(void *arg)
{
	struct racer *x = arg;

	set_flag(&x->started, 1);
	x->r = conc_mutex_timedlock(x->m, 5000000000LL);
	if (x->r == 0)
		conc_mutex_unlock(x->m);
	return NULL;
}

Test(robust, in_flight_locker_never_gets_a_not_recoverable_mutex, .timeout = 20)
{
	int got = 0, iters = 400;

	for (int i = 0; i < iters; i++) {
		conc_mutex m;
		struct racer x = { &m, 0, 12345 };
		pthread_t t;

		conc_mutex_init(&m, CONC_ROBUST);
		cr_assert_eq(pthread_create(&t, NULL, lock_and_leave, &m), 0);
		cr_assert_eq(join_thread(t, 5000, NULL), 0);
		cr_assert_eq(conc_mutex_lock(&m), -EOWNERDEAD);
		cr_assert_eq(pthread_create(&t, NULL, racer_thread, &x), 0);
		while (!__atomic_load_n(&x.started, __ATOMIC_ACQUIRE))
			;
		for (volatile int d = 0; d < (i % 40) * 50; d++)
			;
		cr_assert_eq(conc_mutex_unlock(&m), 0);
		cr_assert_eq(join_thread(t, 6000, NULL), 0);
		if (x.r == 0)
			got++;
		else
			cr_assert_eq(x.r, -ENOTRECOVERABLE, "iteration %d: %d", i, x.r);
		cr_assert_eq(conc_mutex_lock(&m), -ENOTRECOVERABLE,
			     "iteration %d: later lock", i);
	}
	cr_assert_eq(got, 0, "%d of %d lockers racing the unlock of an inconsistent "
		     "mutex were given it (0) instead of -ENOTRECOVERABLE", got, iters);
}

/* ---- conc_mutex_consistent() errors ----------------------------------------- */

Test(robust, consistent_errors, .timeout = 10)
{
	conc_mutex plain = CONC_MUTEX_INIT, rec, rob;

	conc_mutex_init(&rec, CONC_RECURSIVE);
	conc_mutex_init(&rob, CONC_ROBUST);
	/* Not robust: -EINVAL, locked or not. */
	cr_assert_eq(conc_mutex_consistent(&plain), -EINVAL);
	cr_assert_eq(conc_mutex_lock(&plain), 0);
	cr_assert_eq(conc_mutex_consistent(&plain), -EINVAL);
	cr_assert_eq(conc_mutex_unlock(&plain), 0);
	cr_assert_eq(conc_mutex_lock(&rec), 0);
	cr_assert_eq(conc_mutex_consistent(&rec), -EINVAL);
	cr_assert_eq(conc_mutex_unlock(&rec), 0);
	/* Robust but unlocked: the caller does not own it. */
	cr_assert_eq(conc_mutex_consistent(&rob), -EPERM);
	/* Robust, owned, but not inconsistent. */
	cr_assert_eq(conc_mutex_lock(&rob), 0);
	cr_assert_eq(conc_mutex_consistent(&rob), -EINVAL);
	cr_assert_eq(conc_mutex_unlock(&rob), 0);
	/* Still fine afterwards (the failed call changed nothing). */
	cr_assert_eq(conc_mutex_lock(&rob), 0);
	cr_assert_eq(conc_mutex_unlock(&rob), 0);
}

static void *consistent_in_thread(void *arg)
{
	return (void *)(intptr_t)conc_mutex_consistent(arg);
}

Test(robust, consistent_by_non_owner_is_eperm, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST);
	pthread_t t;
	void *ret;

	kill_and_reap(owner_child(s, 1, 1, 0));
	/* Nobody owns it yet (free with OWNER_DIED): not the caller's. */
	cr_assert_eq(conc_mutex_consistent(&s->m[0]), -EPERM);
	cr_assert_eq(conc_mutex_lock(&s->m[0]), -EOWNERDEAD);
	cr_assert_eq(pthread_create(&t, NULL, consistent_in_thread, &s->m[0]), 0);
	cr_assert_eq(join_thread(t, 5000, &ret), 0);
	cr_assert_eq((intptr_t)ret, -EPERM);
	cr_assert_eq(run_in_child(child_consistent, &s->m[0], 5000),
		     EPERM);
	/* The refused calls did not repair it for the owner. */
	cr_assert_eq(conc_mutex_consistent(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_lock(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	rs_free(s);
}

/* ---- living beside glibc's robust mutexes ------------------------------------ */

/* The kernel's robust list of the calling thread, as glibc and conc share it. */
static struct robust_list_head *my_head(void)
{
	struct robust_list_head *h = NULL;
	size_t len = 0;

	cr_assert_eq(syscall(SYS_get_robust_list, 0, &h, &len), 0);
	cr_assert_not_null(h);
	return h;
}

/* Number of entries in the list; -1 if it does not end at the head within
 * 64 steps (a corrupted list). Checks that every entry's prev slot (8 bytes
 * before next, as glibc keeps it) points back at the previous next link. */
static int list_len(struct robust_list_head *h)
{
	struct robust_list *e = h->list.next, *prev = &h->list;
	int n = 0;

	while (e != &h->list) {
		if (++n > 64)
			return -1;
		if (((void **)e)[-1] != (void *)prev)
			return -2;
		prev = e;
		e = e->next;
	}
	return h->list_op_pending ? -3 : n;
}

static void pm_init(pthread_mutex_t *pm)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	cr_assert_eq(pthread_mutex_init(pm, &a), 0);
	pthread_mutexattr_destroy(&a);
}

Test(robust_glibc, interleaved_in_one_thread, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST);
	pthread_mutex_t *g = &s->gm[0];
	conc_mutex *c = &s->m[0];
	struct robust_list_head *h = my_head();

	pm_init(g);
	cr_assert_eq(list_len(h), 0);
	/* Every order of lock G/C and unlock G/C. */
	for (int order = 0; order < 4; order++) {
		int c_first = order & 1, c_unlock_first = order & 2;

		if (c_first) {
			cr_assert_eq(conc_mutex_lock(c), 0);
			cr_assert_eq(pthread_mutex_lock(g), 0);
		} else {
			cr_assert_eq(pthread_mutex_lock(g), 0);
			cr_assert_eq(conc_mutex_lock(c), 0);
		}
		cr_assert_eq(list_len(h), 2, "order %d", order);
		if (c_unlock_first) {
			cr_assert_eq(conc_mutex_unlock(c), 0);
			cr_assert_eq(list_len(h), 1, "order %d", order);
			cr_assert_eq(pthread_mutex_unlock(g), 0);
		} else {
			cr_assert_eq(pthread_mutex_unlock(g), 0);
			cr_assert_eq(list_len(h), 1, "order %d", order);
			cr_assert_eq(conc_mutex_unlock(c), 0);
		}
		cr_assert_eq(list_len(h), 0, "order %d: list not empty", order);
	}
	/* Three of each, released out of order. */
	for (int i = 0; i < 3; i++) {
		pm_init(&s->gm[i + 1]);
	}
	cr_assert_eq(conc_mutex_lock(&s->m[1]), 0);
	cr_assert_eq(pthread_mutex_lock(&s->gm[1]), 0);
	cr_assert_eq(conc_mutex_lock(&s->m[2]), 0);
	cr_assert_eq(pthread_mutex_lock(&s->gm[2]), 0);
	cr_assert_eq(conc_mutex_lock(&s->m[3]), 0);
	cr_assert_eq(pthread_mutex_lock(&s->gm[3]), 0);
	cr_assert_eq(list_len(h), 6);
	cr_assert_eq(pthread_mutex_unlock(&s->gm[2]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[3]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[1]), 0);
	cr_assert_eq(list_len(h), 3);
	cr_assert_eq(pthread_mutex_unlock(&s->gm[3]), 0);
	cr_assert_eq(pthread_mutex_unlock(&s->gm[1]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[2]), 0);
	cr_assert_eq(list_len(h), 0);
	rs_free(s);
}

Test(robust_glibc, killed_holding_both_reports_both, .timeout = 10)
{
	for (int order = 0; order < 2; order++) {
		struct rs *s = rs_new(CONC_ROBUST);

		pm_init(&s->gm[0]);
		pid_t pid = test_fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			if (order ? conc_mutex_lock(&s->m[0]) : pthread_mutex_lock(&s->gm[0]))
				_exit(1);
			if (order ? pthread_mutex_lock(&s->gm[0]) : conc_mutex_lock(&s->m[0]))
				_exit(2);
			conc_event_set(&s->ready);
			wait_flag(&s->release, 10000);
			_exit(99);
		}
		cr_assert_eq(conc_event_wait(&s->ready, 5000000000LL), 0);
		kill_and_reap(pid);
		cr_assert_eq(pthread_mutex_lock(&s->gm[0]), EOWNERDEAD, "order %d", order);
		cr_assert_eq(conc_mutex_lock(&s->m[0]), -EOWNERDEAD, "order %d", order);
		cr_assert_eq(pthread_mutex_consistent(&s->gm[0]), 0);
		cr_assert_eq(conc_mutex_consistent(&s->m[0]), 0);
		cr_assert_eq(pthread_mutex_unlock(&s->gm[0]), 0);
		cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
		rs_free(s);
	}
}

Test(robust_glibc, killed_after_interleaving_reports_exactly_the_held_ones, .timeout = 10)
{
	struct rs *s = rs_new(CONC_ROBUST);

	for (int i = 0; i < 4; i++)
		pm_init(&s->gm[i]);
	pid_t pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* list (newest first) after this: C3 G3 C2 G2 C1 G1 C0 G0 */
		for (int i = 0; i < 4; i++)
			if (pthread_mutex_lock(&s->gm[i]) || conc_mutex_lock(&s->m[i]))
				_exit(1);
		/* Let go of C2, G1, C0 (conc unlinks beside glibc entries),
		 * G3 (glibc unlinks beside conc entries), then take C0 again. */
		if (conc_mutex_unlock(&s->m[2]) || pthread_mutex_unlock(&s->gm[1]) ||
		    conc_mutex_unlock(&s->m[0]) || pthread_mutex_unlock(&s->gm[3]) ||
		    conc_mutex_lock(&s->m[0]))
			_exit(2);
		conc_event_set(&s->ready);
		wait_flag(&s->release, 10000);
		_exit(99);
	}
	cr_assert_eq(conc_event_wait(&s->ready, 5000000000LL), 0);
	kill_and_reap(pid);
	static const int c_held[4] = { 1, 1, 0, 1 }, g_held[4] = { 1, 0, 1, 0 };
	for (int i = 0; i < 4; i++) {
		int r = conc_mutex_trylock(&s->m[i]);
		cr_assert_eq(r, c_held[i] ? -EOWNERDEAD : 0, "conc %d: %d", i, r);
		if (r == -EOWNERDEAD)
			conc_mutex_consistent(&s->m[i]);
		cr_assert_eq(conc_mutex_unlock(&s->m[i]), 0);
		r = pthread_mutex_trylock(&s->gm[i]);
		cr_assert_eq(r, g_held[i] ? EOWNERDEAD : 0, "glibc %d: %d", i, r);
		if (r == EOWNERDEAD)
			pthread_mutex_consistent(&s->gm[i]);
		cr_assert_eq(pthread_mutex_unlock(&s->gm[i]), 0);
	}
	rs_free(s);
}

/* ---- kill the owner at random points ------------------------------------------ */

static int counting_loop(struct rs *s, int mark)
{
	for (;;) {
		int r = conc_mutex_lock(&s->m[0]);

		if (r == -EOWNERDEAD) {
			s->b = s->a;		/* repair */
			conc_mutex_consistent(&s->m[0]);
		} else if (r) {
			return 10 + errcode(r) % 100;
		}
		if (s->a != s->b) {
			conc_mutex_unlock(&s->m[0]);
			return 3;
		}
		s->a++;
		__asm__ __volatile__("" ::: "memory");
		s->b++;
		if (mark)
			set_flag(&s->started, 1);
		if (conc_mutex_unlock(&s->m[0]))
			return 4;
		if (__atomic_load_n(&s->release, __ATOMIC_RELAXED))
			return 0;
	}
}

Test(robust_fault, kill_owner_at_random_points, .timeout = 120)
{
	struct rs *s = rs_new(CONC_ROBUST);
	int dead = 0, clean = 0;
	unsigned seed = (unsigned)now_ns();

	for (int i = 0; i < 200; i++) {
		s->started = 0;
		pid_t pid = test_fork();
		cr_assert_geq(pid, 0);
		if (pid == 0)
			_exit(counting_loop(s, 1));
		cr_assert(wait_flag(&s->started, 5000), "iteration %d: child stuck", i);
		sleep_ns(rand_r(&seed) % 1000000);
		kill(pid, SIGKILL);
		int st = wait_child(pid, 5000);
		cr_assert(killed_by(st, SIGKILL), "iteration %d: child status %#x", i, st);

		int r = conc_mutex_timedlock(&s->m[0], 3000000000LL);
		cr_assert(is_eownerdead_or_ok(r), "iteration %d: lock gave %d", i, r);
		if (r == -EOWNERDEAD) {
			dead++;
			cr_assert_leq(s->a - s->b, 1, "iteration %d", i);
			s->b = s->a;
			cr_assert_eq(conc_mutex_consistent(&s->m[0]), 0);
		} else {
			clean++;
			cr_assert_eq(s->a, s->b, "iteration %d: died inside the lock, "
				     "yet the next locker got 0", i);
		}
		cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	}
	cr_log_info("killed inside %d times, outside %d times", dead, clean);
	rs_free(s);
}

Test(robust_fault, survivor_keeps_going_when_a_rival_is_killed, .timeout = 120)
{
	/* Two children contend; one is killed at a random point; the other
	 * must never get stuck, then the parent locks. */
	struct rs *s = rs_new(CONC_ROBUST);
	unsigned seed = (unsigned)now_ns() ^ 0x5eed;

	for (int i = 0; i < 100; i++) {
		s->started = 0;
		s->release = 0;
		pid_t victim = test_fork();
		cr_assert_geq(victim, 0);
		if (victim == 0)
			_exit(counting_loop(s, 1));
		pid_t survivor = test_fork();
		cr_assert_geq(survivor, 0);
		if (survivor == 0)
			_exit(counting_loop(s, 0));
		cr_assert(wait_flag(&s->started, 5000), "iteration %d", i);
		sleep_ns(rand_r(&seed) % 1000000);
		kill(victim, SIGKILL);
		cr_assert(killed_by(wait_child(victim, 5000), SIGKILL));
		sleep_ns(rand_r(&seed) % 300000);
		set_flag(&s->release, 1);
		int st = wait_child(survivor, 5000);
		cr_assert(exited_with(st, 0), "iteration %d: survivor status %#x "
			  "(-1: stuck)", i, st);
		int r = conc_mutex_timedlock(&s->m[0], 3000000000LL);
		cr_assert(is_eownerdead_or_ok(r), "iteration %d: %d", i, r);
		if (r == -EOWNERDEAD) {
			s->b = s->a;
			conc_mutex_consistent(&s->m[0]);
		}
		cr_assert_eq(s->a, s->b, "iteration %d", i);
		cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	}
	rs_free(s);
}

/* ---- every instruction (ptrace single-step) ----------------------------------- */

/*
 * A traced child stops itself right before its lock+unlock (or, with a
 * lock already held, its unlock) of s->m[0]. The parent single-steps it
 * `steps` instructions, then:
 *  STEP_KILL_ARRIVE: a waiter thread arrives (locks, or sleeps on it),
 *		then the child is SIGKILLed;
 *  STEP_KILL_SLEEPER: the waiter was already asleep before the unlock began,
 *		then the child is SIGKILLed;
 *  STEP_RUN_ARRIVE: a waiter arrives, then the child runs on to the end.
 * The waiter must always get the mutex, with -EOWNERDEAD exactly when the
 * child's tid was in the word when it died: nothing stuck, no death lost,
 * no false report, no lost wake-up whatever the interleaving.
 */
enum step_mode { STEP_KILL_ARRIVE, STEP_KILL_SLEEPER, STEP_RUN_ARRIVE };

/* The waiter's bound, and the child's: a step is two context switches, and
 * a loaded machine (load 60 on 2 CPUs) makes the hundreds of them before
 * the kill or the detach take seconds; only a lost wake-up uses it up. */
#define STEP_WAIT_MS	30000
#define STEP_WAIT_NS	(STEP_WAIT_MS * 1000000LL)

/* Returns 1 once the child ran to its end within `steps`, else 0. */
static int step_once(struct rs *s, enum step_mode mode, long steps)
{
	int unlock_only = mode == STEP_KILL_SLEEPER;
	struct waiter w;
	pthread_t t;
	int st, done = 0;

	conc_mutex_init(&s->m[0], CONC_ROBUST);
	s->held = 0;
	pid_t pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
			_exit(40);
		/* Warm the caches (tid, robust-list head) so the steps go
		 * through the lock itself, not the first-call set-up. */
		if (conc_mutex_lock(&s->m[1]) || conc_mutex_unlock(&s->m[1]))
			_exit(41);
		if (unlock_only && conc_mutex_lock(&s->m[0]))
			_exit(41);
		set_flag(&s->held, (uint32_t)conc_gettid());
		/* tgkill's return path is a few instructions; raise()'s is
		 * many more, all of them outside the mutex. */
		syscall(SYS_tgkill, getpid(), conc_gettid(), SIGSTOP);
		if (!unlock_only && conc_mutex_lock(&s->m[0]))
			_exit(42);
		if (conc_mutex_unlock(&s->m[0]))
			_exit(43);
		/* Not _exit(): its first call resolves the symbol, hundreds
		 * of instructions to single-step for nothing. */
		syscall(SYS_exit_group, 0);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	if (exited_with(st, 40))
		cr_skip_test("ptrace(PTRACE_TRACEME) is not allowed here");
	cr_assert(WIFSTOPPED(st), "child status %#x", st);
	if (mode == STEP_KILL_SLEEPER) {
		start_waiter(&w, &t, &s->m[0], STEP_WAIT_NS, 1);
		wait_futex_waiters(&s->m[0]);
	}
	for (long i = 0; i < steps; i++) {
		cr_assert_eq(ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL), 0);
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		if (!WIFSTOPPED(st)) {
			cr_assert(exited_with(st, 0), "child status %#x", st);
			done = 1;
			break;
		}
	}
	if (mode != STEP_KILL_SLEEPER)
		start_waiter(&w, &t, &s->m[0], STEP_WAIT_NS, 1);
	/* The child is stopped (or gone): the word can only change by the
	 * waiter, which takes it only when free. */
	uint32_t word = __atomic_load_n(&s->m[0].word, __ATOMIC_RELAXED);
	int owned = (word & FUTEX_TID_MASK) == s->held;
	if (!done && mode == STEP_RUN_ARRIVE) {
		cr_assert_eq(ptrace(PTRACE_DETACH, pid, NULL, NULL), 0);
		st = wait_child(pid, STEP_WAIT_MS);
		cr_assert(exited_with(st, 0), "child status %#x", st);
		owned = 0;
	} else if (!done) {
		kill(pid, SIGKILL);
		st = wait_child(pid, STEP_WAIT_MS);
		cr_assert(killed_by(st, SIGKILL), "status %#x", st);
	}
	cr_assert_eq(join_thread(t, 2 * STEP_WAIT_MS, NULL), 0);
	cr_assert_eq(w.r, owned ? -EOWNERDEAD : 0,
		     "mode %d, after %ld instructions (word %#x, child %u): "
		     "the waiter got %d", mode, steps, word, s->held, w.r);
	cr_assert_eq(w.unlock_r, 0);
	/* And the mutex is fine afterwards. */
	cr_assert_eq(conc_mutex_trylock(&s->m[0]), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m[0]), 0);
	return done;
}

/* Under ASan the instrumented paths are three times longer and every step
 * costs more: try every fourth instruction there to stay fast; the plain
 * build tries every one. */
#if defined(__SANITIZE_ADDRESS__)
#define STEP_STRIDE 4
#else
#define STEP_STRIDE 1
#endif

static void step_through(enum step_mode mode)
{
#if defined(__x86_64__) || defined(__aarch64__)
	struct rs *s = rs_new(CONC_ROBUST);
	long k;

	for (k = 0; k < 20000; k += STEP_STRIDE)
		if (step_once(s, mode, k))
			break;
	cr_assert_lt(k, 20000, "never finished");
	cr_log_info("mode %d: %ld instructions", mode, k);
	rs_free(s);
#else
	(void)mode;
	cr_skip_test("single-stepping not supported on this architecture");
#endif
}

Test(robust_fault, kill_at_every_instruction_with_a_waiter_arriving, .timeout = 300)
{
	step_through(STEP_KILL_ARRIVE);
}

Test(robust_fault, kill_at_every_instruction_of_unlock_with_a_sleeper, .timeout = 300)
{
	step_through(STEP_KILL_SLEEPER);
}

Test(robust_fault, waiter_arriving_at_every_instruction_is_let_in, .timeout = 300)
{
	step_through(STEP_RUN_ARRIVE);
}

/* Between an -EOWNERDEAD and the repair, a peer clears the flags that say
 * "robust" and "inconsistent": the owner's own record still says so, so
 * the repair is not refused (a library caller holding the mutex would
 * otherwise return an error with the mutex still locked and linked), and
 * an unlock without repair still makes it unrecoverable. */
Test(robust, a_peer_clearing_the_flags_cannot_undo_an_eownerdead, .timeout = 10)
{
	conc_mutex *m = shared_alloc(sizeof(*m));

	cr_assert_not_null(m);
	for (int repair = 1; repair >= 0; repair--) {
		cr_assert_eq(conc_mutex_init(m, CONC_ROBUST), 0);
		m->word = FUTEX_OWNER_DIED;	/* as the kernel leaves it */
		cr_assert_eq(conc_mutex_lock(m), -EOWNERDEAD);
		__atomic_fetch_and(&m->flags, ~(0x100u | CONC_ROBUST), __ATOMIC_RELAXED);
		if (repair)
			cr_assert_eq(conc_mutex_consistent(m), 0);
		cr_assert_eq(conc_mutex_unlock(m), 0);
		__atomic_fetch_or(&m->flags, CONC_ROBUST, __ATOMIC_RELAXED);
		cr_assert_eq(conc_mutex_lock(m), repair ? 0 : -ENOTRECOVERABLE);
		if (repair)
			cr_assert_eq(conc_mutex_unlock(m), 0);
	}
	shared_free(m, sizeof(*m));
}
