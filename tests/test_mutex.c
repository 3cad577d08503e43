/* test_mutex.c — conc_mutex: plain, recursive, private; threads and processes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <conc.h>
#include "helpers.h"

/* ---- one call from another thread ------------------------------------ */

enum op { OP_LOCK, OP_TRYLOCK, OP_TIMEDLOCK, OP_UNLOCK, OP_CONSISTENT };

struct call {
	conc_mutex *m;
	enum op op;
	int64_t timeout;
	int ret;
};

static int do_op(conc_mutex *m, enum op op, int64_t timeout)
{
	switch (op) {
	case OP_LOCK:		return conc_mutex_lock(m);
	case OP_TRYLOCK:	return conc_mutex_trylock(m);
	case OP_TIMEDLOCK:	return conc_mutex_timedlock(m, timeout);
	case OP_UNLOCK:		return conc_mutex_unlock(m);
	case OP_CONSISTENT:	return conc_mutex_consistent(m);
	}
	return 12345;
}

static void *call_thread(void *arg)
{
	struct call *c = arg;

	c->ret = do_op(c->m, c->op, c->timeout);
	return NULL;
}

/* Run one operation in a new thread; return its result. */
static int in_thread(conc_mutex *m, enum op op, int64_t timeout)
{
	struct call c = { m, op, timeout, 12345 };
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, call_thread, &c), 0);
	cr_assert_eq(join_thread(t, 8000, NULL), 0, "thread stuck");
	return c.ret;
}

/* Run one operation in a forked child; return its result as an errno
 * (EBUSY for -EBUSY, 0 for success), or -1 if the child did not exit. */
struct pcall {
	conc_mutex *m;
	enum op op;
	int64_t timeout;
};

static int pcall_fn(void *arg)
{
	struct pcall *c = arg;

	return errcode(do_op(c->m, c->op, c->timeout));
}

static int in_child(conc_mutex *m, enum op op, int64_t timeout)
{
	struct pcall c = { m, op, timeout };

	return run_in_child(pcall_fn, &c, 8000);
}

/* ---- a thread that holds a mutex until told to let go ------------------ */

struct holder {
	conc_mutex *m;
	uint32_t held, release;
	int lock_r, unlock_r;
	pthread_t t;
};

static void *holder_thread(void *arg)
{
	struct holder *h = arg;

	h->lock_r = conc_mutex_lock(h->m);
	set_flag(&h->held, 1);
	if (!wait_flag(&h->release, 8000))
		h->unlock_r = 999;
	else
		h->unlock_r = conc_mutex_unlock(h->m);
	return NULL;
}

static void holder_start(struct holder *h, conc_mutex *m)
{
	memset(h, 0, sizeof(*h));
	h->m = m;
	cr_assert_eq(pthread_create(&h->t, NULL, holder_thread, h), 0);
	cr_assert(wait_flag(&h->held, 5000), "holder never locked");
	cr_assert_eq(h->lock_r, 0);
}

static void holder_stop(struct holder *h)
{
	set_flag(&h->release, 1);
	cr_assert_eq(join_thread(h->t, 8000, NULL), 0, "holder stuck");
	cr_assert_eq(h->unlock_r, 0, "holder unlock: %d", h->unlock_r);
}

/* ---- a process that holds a shared mutex until told to let go ----------- */

struct shared_hold {
	conc_mutex m;
	uint32_t held, release;
};

static pid_t holder_proc_start(struct shared_hold *s)
{
	pid_t pid = test_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int r = conc_mutex_lock(&s->m);
		if (r)
			_exit(100 + errcode(r) % 100);
		set_flag(&s->held, 1);
		if (!wait_flag(&s->release, 8000))
			_exit(99);
		_exit(errcode(conc_mutex_unlock(&s->m)));
	}
	cr_assert(wait_flag(&s->held, 5000), "holder process never locked");
	return pid;
}

static void holder_proc_stop(struct shared_hold *s, pid_t pid)
{
	set_flag(&s->release, 1);
	int st = wait_child(pid, 8000);
	cr_assert(exited_with(st, 0), "holder process status %#x", st);
}

/* ---- argument checking ------------------------------------------------- */

Test(mutex_args, null_is_einval, .timeout = 10)
{
	cr_assert_eq(conc_mutex_init(NULL, 0), -EINVAL);
	cr_assert_eq(conc_mutex_init(NULL, CONC_ROBUST), -EINVAL);
	cr_assert_eq(conc_mutex_lock(NULL), -EINVAL);
	cr_assert_eq(conc_mutex_trylock(NULL), -EINVAL);
	cr_assert_eq(conc_mutex_timedlock(NULL, 0), -EINVAL);
	cr_assert_eq(conc_mutex_timedlock(NULL, 1000), -EINVAL);
	cr_assert_eq(conc_mutex_timedlock(NULL, CONC_FOREVER), -EINVAL);
	cr_assert_eq(conc_mutex_unlock(NULL), -EINVAL);
	cr_assert_eq(conc_mutex_consistent(NULL), -EINVAL);
}

Test(mutex_args, unknown_flags_are_einval, .timeout = 10)
{
	static const unsigned bad[] = { 0x8, 0x10, 0x80, 0x100, 0x200, 0x400,
					0x10000, 0x80000000u, ~0u,
					CONC_ROBUST | 0x8, CONC_PRIVATE | 0x100 };
	conc_mutex m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&m, 0, sizeof(m));
		cr_assert_eq(conc_mutex_init(&m, bad[i]), -EINVAL, "flags %#x", bad[i]);
	}
}

Test(mutex_args, every_valid_flag_combination_works, .timeout = 10)
{
	for (unsigned f = 0; f <= (CONC_PRIVATE | CONC_RECURSIVE | CONC_ROBUST); f++) {
		conc_mutex m;

		memset(&m, 0xa5, sizeof(m));	/* init must not rely on zeroes */
		cr_assert_eq(conc_mutex_init(&m, f), 0, "flags %#x", f);
		cr_assert_eq(conc_mutex_lock(&m), 0, "flags %#x", f);
		cr_assert_eq(in_thread(&m, OP_TRYLOCK, 0), -EBUSY, "flags %#x", f);
		cr_assert_eq(conc_mutex_unlock(&m), 0, "flags %#x", f);
		cr_assert_eq(conc_mutex_trylock(&m), 0, "flags %#x", f);
		cr_assert_eq(conc_mutex_unlock(&m), 0, "flags %#x", f);
		cr_assert_eq(conc_mutex_timedlock(&m, 0), 0, "flags %#x", f);
		cr_assert_eq(conc_mutex_unlock(&m), 0, "flags %#x", f);
		cr_assert_eq(conc_mutex_timedlock(&m, 1000000), 0, "flags %#x", f);
		cr_assert_eq(conc_mutex_unlock(&m), 0, "flags %#x", f);
		cr_assert_eq(conc_mutex_unlock(&m), -EPERM, "flags %#x", f);
		cr_assert_eq(in_thread(&m, OP_TRYLOCK, 0), 0, "flags %#x", f);
	}
}

Test(mutex_args, bad_init_leaves_a_held_mutex_alone, .timeout = 10)
{
	conc_mutex m = CONC_MUTEX_INIT;

	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_mutex_init(&m, 0x8), -EINVAL);
	cr_assert_eq(in_thread(&m, OP_TRYLOCK, 0), -EBUSY);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
}

Test(mutex_args, static_initialiser_and_zeroes, .timeout = 10)
{
	conc_mutex a = CONC_MUTEX_INIT, b;

	memset(&b, 0, sizeof(b));
	cr_assert_eq(conc_mutex_lock(&a), 0);
	cr_assert_eq(conc_mutex_lock(&b), 0);
	cr_assert_eq(conc_mutex_lock(&a), -EDEADLK, "zeroed mutex is non-recursive");
	cr_assert_eq(conc_mutex_unlock(&b), 0);
	cr_assert_eq(conc_mutex_unlock(&a), 0);
	/* Zeroed is not robust. */
	cr_assert_eq(conc_mutex_lock(&b), 0);
	cr_assert_eq(conc_mutex_consistent(&b), -EINVAL);
	cr_assert_eq(conc_mutex_unlock(&b), 0);
}

/* ---- plain mutex, one owner -------------------------------------------- */

Test(mutex_plain, relock_by_owner_is_edeadlk, .timeout = 10)
{
	conc_mutex m;

	cr_assert_eq(conc_mutex_init(&m, 0), 0);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_mutex_lock(&m), -EDEADLK);
	cr_assert_eq(conc_mutex_timedlock(&m, 1000000), -EDEADLK);
	cr_assert_eq(conc_mutex_timedlock(&m, CONC_FOREVER), -EDEADLK);
	cr_assert_eq(conc_mutex_timedlock(&m, 0), -EDEADLK);
	cr_assert_eq(conc_mutex_trylock(&m), -EBUSY, "trylock by owner");
	/* Still held exactly once. */
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), -EPERM);
}

Test(mutex_plain, private_relock_by_owner_is_edeadlk, .timeout = 10)
{
	conc_mutex m;

	cr_assert_eq(conc_mutex_init(&m, CONC_PRIVATE), 0);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_mutex_lock(&m), -EDEADLK);
	cr_assert_eq(conc_mutex_trylock(&m), -EBUSY);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
}

Test(mutex_plain, unlock_of_unlocked_is_eperm, .timeout = 10)
{
	conc_mutex m = CONC_MUTEX_INIT;

	cr_assert_eq(conc_mutex_unlock(&m), -EPERM);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), -EPERM);
	/* ... and the failed unlock did not break it. */
	cr_assert_eq(in_thread(&m, OP_TRYLOCK, 0), 0);
}

Test(mutex_plain, trylock_busy_when_held_by_thread, .timeout = 10)
{
	conc_mutex m = CONC_MUTEX_INIT;
	struct holder h;

	holder_start(&h, &m);
	cr_assert_eq(conc_mutex_trylock(&m), -EBUSY);
	cr_assert_eq(conc_mutex_timedlock(&m, 0), -ETIMEDOUT,
		     "timedlock(0) gives up like any timed wait");
	holder_stop(&h);
	cr_assert_eq(conc_mutex_trylock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
}

Test(mutex_plain, unlock_by_other_thread_is_eperm, .timeout = 10)
{
	for (unsigned f = 0; f <= (CONC_PRIVATE | CONC_RECURSIVE | CONC_ROBUST); f++) {
		conc_mutex m;
		struct holder h;

		conc_mutex_init(&m, f);
		holder_start(&h, &m);
		cr_assert_eq(conc_mutex_unlock(&m), -EPERM, "flags %#x", f);
		cr_assert_eq(in_thread(&m, OP_UNLOCK, 0), -EPERM, "flags %#x", f);
		/* Still held by the holder. */
		cr_assert_eq(conc_mutex_trylock(&m), -EBUSY, "flags %#x", f);
		holder_stop(&h);
	}
}

struct waiter {
	conc_mutex *m;
	int r, unlock_r;
	uint32_t started;
	pid_t tid;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;

	w->tid = conc_gettid();
	set_flag(&w->started, 1);
	w->r = conc_mutex_lock(w->m);
	if (w->r == 0 || w->r == -EOWNERDEAD)
		w->unlock_r = conc_mutex_unlock(w->m);
	return NULL;
}

Test(mutex_plain, unlock_by_non_owner_with_a_sleeper_is_eperm, .timeout = 10)
{
	/* With FUTEX_WAITERS set the unlock takes the slow path: it must
	 * still refuse a non-owner and must not let the sleeper in. */
	conc_mutex m = CONC_MUTEX_INIT;
	struct holder h;
	struct waiter w = { &m, 12345, 12345, 0, 0 };
	pthread_t t;

	holder_start(&h, &m);
	cr_assert_eq(pthread_create(&t, NULL, waiter_thread, &w), 0);
	cr_assert(wait_flag(&w.started, 5000));
	wait_thread_sleeping(getpid(), w.tid, 2000);
	cr_assert_eq(conc_mutex_unlock(&m), -EPERM);
	sleep_ns(20000000);
	cr_assert_eq(w.r, 12345, "waiter got in while the holder held it");
	holder_stop(&h);
	cr_assert_eq(join_thread(t, 8000, NULL), 0, "waiter never woken");
	cr_assert_eq(w.r, 0);
	cr_assert_eq(w.unlock_r, 0);
}

Test(mutex_plain, blocked_locker_gets_it_after_unlock, .timeout = 10)
{
	for (unsigned f = 0; f <= (CONC_PRIVATE | CONC_RECURSIVE | CONC_ROBUST); f++) {
		conc_mutex m;
		struct waiter w = { &m, 12345, 12345, 0, 0 };
		pthread_t t;

		conc_mutex_init(&m, f);
		cr_assert_eq(conc_mutex_lock(&m), 0);
		cr_assert_eq(pthread_create(&t, NULL, waiter_thread, &w), 0);
		cr_assert(wait_flag(&w.started, 5000));
		wait_thread_sleeping(getpid(), w.tid, 2000);
		cr_assert_eq(w.r, 12345, "flags %#x: waiter got a held mutex", f);
		cr_assert_eq(conc_mutex_unlock(&m), 0);
		cr_assert_eq(join_thread(t, 8000, NULL), 0, "flags %#x: lost wake-up", f);
		cr_assert_eq(w.r, 0, "flags %#x", f);
		cr_assert_eq(w.unlock_r, 0, "flags %#x", f);
	}
}

Test(mutex_plain, many_sleepers_all_get_in, .timeout = 15)
{
	for (unsigned f = 0; f <= (CONC_PRIVATE | CONC_RECURSIVE | CONC_ROBUST); f++) {
		enum { N = 6 };
		conc_mutex m;
		struct waiter w[N];
		pthread_t t[N];

		conc_mutex_init(&m, f);
		cr_assert_eq(conc_mutex_lock(&m), 0);
		for (int i = 0; i < N; i++) {
			w[i] = (struct waiter){ &m, 12345, 12345, 0, 0 };
			cr_assert_eq(pthread_create(&t[i], NULL, waiter_thread, &w[i]), 0);
		}
		for (int i = 0; i < N; i++) {
			cr_assert(wait_flag(&w[i].started, 5000));
			wait_thread_sleeping(getpid(), w[i].tid, 2000);
		}
		cr_assert_eq(conc_mutex_unlock(&m), 0);
		for (int i = 0; i < N; i++) {
			cr_assert_eq(join_thread(t[i], 8000, NULL), 0,
				     "flags %#x: waiter %d never woken", f, i);
			cr_assert_eq(w[i].r, 0);
			cr_assert_eq(w[i].unlock_r, 0);
		}
		cr_assert_eq(conc_mutex_trylock(&m), 0);
		cr_assert_eq(conc_mutex_unlock(&m), 0);
	}
}

/* ---- between processes ------------------------------------------------- */

Test(mutex_proc, trylock_busy_when_held_by_other_process, .timeout = 10)
{
	struct shared_hold *s = shared_alloc(sizeof(*s));

	cr_assert_not_null(s);
	pid_t pid = holder_proc_start(s);
	cr_assert_eq(conc_mutex_trylock(&s->m), -EBUSY);
	cr_assert_eq(conc_mutex_timedlock(&s->m, 0), -ETIMEDOUT);
	cr_assert_eq(conc_mutex_unlock(&s->m), -EPERM, "unlock by another process");
	cr_assert_eq(in_thread(&s->m, OP_UNLOCK, 0), -EPERM);
	holder_proc_stop(s, pid);
	cr_assert_eq(conc_mutex_trylock(&s->m), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m), 0);
	shared_free(s, sizeof(*s));
}

Test(mutex_proc, held_by_parent_child_sees_it_held, .timeout = 10)
{
	/* The child inherits the parent's cached tid: unless the cache is
	 * refreshed after fork, it would think it owns the mutex. */
	for (unsigned f = 0; f <= (CONC_RECURSIVE | CONC_ROBUST); f++) {
		conc_mutex *m = shared_alloc(sizeof(*m));

		cr_assert_not_null(m);
		conc_mutex_init(m, f);
		cr_assert_eq(conc_mutex_lock(m), 0);
		cr_assert_eq(in_child(m, OP_UNLOCK, 0), EPERM, "flags %#x", f);
		cr_assert_eq(in_child(m, OP_TRYLOCK, 0), EBUSY, "flags %#x", f);
		cr_assert_eq(in_child(m, OP_TIMEDLOCK, 20000000), ETIMEDOUT, "flags %#x", f);
		cr_assert_eq(in_child(m, OP_TIMEDLOCK, 0), ETIMEDOUT, "flags %#x", f);
		cr_assert_eq(conc_mutex_unlock(m), 0, "flags %#x", f);
		cr_assert_eq(in_child(m, OP_TRYLOCK, 0), 0, "flags %#x", f);
		shared_free(m, sizeof(*m));
	}
}

Test(mutex_proc, left_locked_by_exited_child_stays_locked, .timeout = 10)
{
	/* A plain (non-robust) mutex is not released by its owner's death. */
	conc_mutex *m = shared_alloc(sizeof(*m));

	cr_assert_not_null(m);
	cr_assert_eq(in_child(m, OP_LOCK, 0), 0);
	cr_assert_eq(conc_mutex_trylock(m), -EBUSY);
	cr_assert_eq(conc_mutex_unlock(m), -EPERM);
	shared_free(m, sizeof(*m));
}

struct zeroed_shared {
	conc_mutex m;
	uint32_t started;
	int child_r;
};

Test(mutex_proc, zeroed_mutex_wakes_a_sleeping_process, .timeout = 10)
{
	struct zeroed_shared *s = shared_alloc(sizeof(*s));

	cr_assert_not_null(s);
	memset(s, 0, sizeof(*s));
	cr_assert_eq(conc_mutex_lock(&s->m), 0);
	pid_t pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		set_flag(&s->started, 1);
		int r = conc_mutex_lock(&s->m);
		if (r)
			_exit(errcode(r));
		_exit(errcode(conc_mutex_unlock(&s->m)));
	}
	cr_assert(wait_flag(&s->started, 5000));
	wait_thread_sleeping(pid, pid, 2000);
	cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "child got a held mutex");
	cr_assert_eq(conc_mutex_unlock(&s->m), 0);
	int st = wait_child(pid, 8000);
	cr_assert(exited_with(st, 0), "status %#x", st);
	shared_free(s, sizeof(*s));
}

Test(mutex_proc, private_flag_is_kept_within_the_process, .timeout = 10)
{
	/* A CONC_PRIVATE mutex in shared memory still excludes a child (the
	 * word is shared); only its wake-ups are process-local. */
	conc_mutex *m = shared_alloc(sizeof(*m));

	cr_assert_not_null(m);
	conc_mutex_init(m, CONC_PRIVATE);
	cr_assert_eq(conc_mutex_lock(m), 0);
	cr_assert_eq(in_child(m, OP_TRYLOCK, 0), EBUSY);
	cr_assert_eq(in_child(m, OP_UNLOCK, 0), EPERM);
	cr_assert_eq(conc_mutex_unlock(m), 0);
	shared_free(m, sizeof(*m));
}

/* ---- recursive --------------------------------------------------------- */

Test(mutex_recursive, n_locks_need_n_unlocks, .timeout = 10)
{
	enum { N = 7 };
	conc_mutex m;

	cr_assert_eq(conc_mutex_init(&m, CONC_RECURSIVE), 0);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_mutex_trylock(&m), 0, "trylock by owner counts");
	cr_assert_eq(conc_mutex_timedlock(&m, 0), 0);
	cr_assert_eq(conc_mutex_timedlock(&m, 1000000), 0);
	for (int i = 4; i < N; i++)
		cr_assert_eq(conc_mutex_lock(&m), 0);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(in_thread(&m, OP_TRYLOCK, 0), -EBUSY,
			     "another thread got it after %d of %d unlocks", i, N);
		cr_assert_eq(in_thread(&m, OP_UNLOCK, 0), -EPERM);
		cr_assert_eq(conc_mutex_unlock(&m), 0, "unlock %d", i + 1);
	}
	cr_assert_eq(conc_mutex_unlock(&m), -EPERM, "unlock N+1");
	cr_assert_eq(in_thread(&m, OP_TRYLOCK, 0), 0, "free after N unlocks");
}

Test(mutex_recursive, other_process_waits_for_last_unlock, .timeout = 10)
{
	enum { N = 3 };
	struct zeroed_shared *s = shared_alloc(sizeof(*s));

	cr_assert_not_null(s);
	conc_mutex_init(&s->m, CONC_RECURSIVE);
	for (int i = 0; i < N; i++)
		cr_assert_eq(conc_mutex_lock(&s->m), 0);
	pid_t pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		set_flag(&s->started, 1);
		int r = conc_mutex_lock(&s->m);
		_exit(errcode(r ? r : conc_mutex_unlock(&s->m)));
	}
	cr_assert(wait_flag(&s->started, 5000));
	for (int i = 0; i < N - 1; i++) {
		cr_assert_eq(conc_mutex_unlock(&s->m), 0);
		sleep_ns(5000000);
		cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0,
			     "child got it after %d of %d unlocks", i + 1, N);
	}
	cr_assert_eq(conc_mutex_unlock(&s->m), 0);
	int st = wait_child(pid, 8000);
	cr_assert(exited_with(st, 0), "status %#x", st);
	shared_free(s, sizeof(*s));
}

Test(mutex_recursive, failed_foreign_unlock_keeps_the_count, .timeout = 10)
{
	conc_mutex m;

	conc_mutex_init(&m, CONC_RECURSIVE);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(in_thread(&m, OP_UNLOCK, 0), -EPERM);
	cr_assert_eq(in_thread(&m, OP_UNLOCK, 0), -EPERM);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	cr_assert_eq(in_thread(&m, OP_TRYLOCK, 0), -EBUSY);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), -EPERM);
}

Test(mutex_recursive, count_overflow_is_eagain, .timeout = 10)
{
	/* White box: 2^32 locks take too long, so the count is set directly
	 * to the value it would have after them. */
	conc_mutex m;

	conc_mutex_init(&m, CONC_RECURSIVE);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	m.count = UINT32_MAX;
	cr_assert_eq(conc_mutex_lock(&m), -EAGAIN);
	cr_assert_eq(conc_mutex_trylock(&m), -EAGAIN);
	cr_assert_eq(conc_mutex_timedlock(&m, 1000), -EAGAIN);
	cr_assert_eq(m.count, UINT32_MAX, "a refused lock must not count");
	m.count = 1;
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), -EPERM);
}

/* ---- timed lock -------------------------------------------------------- */

static void check_timeout(unsigned flags, int64_t timeout, int cross_process)
{
	struct shared_hold *s = shared_alloc(sizeof(*s));
	struct holder h;
	pid_t pid = 0;

	cr_assert_not_null(s);
	conc_mutex_init(&s->m, flags);
	if (cross_process)
		pid = holder_proc_start(s);
	else
		holder_start(&h, &s->m);
	int64_t t0 = now_ns();
	int r = conc_mutex_timedlock(&s->m, timeout);
	int64_t dt = now_ns() - t0;
	cr_assert_eq(r, -ETIMEDOUT, "flags %#x: %d", flags, r);
	cr_assert_geq(dt, timeout, "flags %#x: gave up after %lld ns < %lld ns",
		      flags, (long long)dt, (long long)timeout);
	if (cross_process)
		holder_proc_stop(s, pid);
	else
		holder_stop(&h);
	/* A timed-out waiter leaves the mutex usable. */
	cr_assert_eq(conc_mutex_timedlock(&s->m, timeout), 0);
	cr_assert_eq(conc_mutex_unlock(&s->m), 0);
	shared_free(s, sizeof(*s));
}

Test(mutex_timed, etimedout_no_earlier_than_timeout, .timeout = 15)
{
	for (unsigned f = 0; f <= (CONC_PRIVATE | CONC_RECURSIVE | CONC_ROBUST); f++) {
		check_timeout(f, 30000000, 0);
		check_timeout(f, 1, 0);
		check_timeout(f, 1000, 0);
	}
	check_timeout(0, 30000000, 1);
	check_timeout(CONC_RECURSIVE, 30000000, 1);
	check_timeout(CONC_ROBUST, 30000000, 1);
}

Test(mutex_timed, zero_only_tries, .timeout = 10)
{
	conc_mutex m = CONC_MUTEX_INIT;
	struct holder h;

	cr_assert_eq(conc_mutex_timedlock(&m, 0), 0, "free: taken");
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	holder_start(&h, &m);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(conc_mutex_timedlock(&m, 0), -ETIMEDOUT);
	holder_stop(&h);
	cr_assert_eq(conc_mutex_timedlock(&m, 0), 0);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
}

static void *release_later(void *arg)
{
	struct holder *h = arg;

	sleep_ns(20000000);
	set_flag(&h->release, 1);
	return NULL;
}

static void timed_gets_it(int64_t timeout)
{
	conc_mutex m = CONC_MUTEX_INIT;
	struct holder h;
	pthread_t t;

	holder_start(&h, &m);
	cr_assert_eq(pthread_create(&t, NULL, release_later, &h), 0);
	cr_assert_eq(conc_mutex_timedlock(&m, timeout), 0, "timeout %lld",
		     (long long)timeout);
	cr_assert_eq(join_thread(t, 8000, NULL), 0);
	cr_assert_eq(join_thread(h.t, 8000, NULL), 0);
	cr_assert_eq(h.unlock_r, 0);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
}

Test(mutex_timed, released_within_timeout_is_taken, .timeout = 15)
{
	timed_gets_it(5000000000LL);
	timed_gets_it(CONC_FOREVER);
	timed_gets_it(-12345);		/* any negative value waits forever */
	timed_gets_it(INT64_MIN);
	timed_gets_it(INT64_MAX);	/* must not overflow into the past */
}

/* ---- signals ------------------------------------------------------------ */

static void on_usr1(int sig)
{
	(void)sig;
}

static void no_restart_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;	/* no SA_RESTART: futex returns EINTR */
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
}

struct sig_waiter {
	conc_mutex *m;
	int64_t timeout, elapsed;
	int r;
	uint32_t done;
};

static void *sig_waiter_thread(void *arg)
{
	struct sig_waiter *w = arg;
	int64_t t0 = now_ns();

	w->r = conc_mutex_timedlock(w->m, w->timeout);
	w->elapsed = now_ns() - t0;
	if (w->r == 0)
		conc_mutex_unlock(w->m);
	set_flag(&w->done, 1);
	return NULL;
}

/* Signal the waiter every 1 ms until it returns; bounded by limit_ms. */
static void pester(pthread_t t, struct sig_waiter *w, int limit_ms)
{
	int64_t t0 = now_ns();

	while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) &&
	       now_ns() - t0 < (int64_t)limit_ms * 1000000) {
		pthread_kill(t, SIGUSR1);
		sleep_ns(1000000);
	}
}

Test(mutex_timed, signals_do_not_cut_a_timed_wait_short, .timeout = 10)
{
	for (unsigned f = 0; f <= (CONC_PRIVATE | CONC_ROBUST); f += CONC_PRIVATE) {
		conc_mutex m;
		struct holder h;
		struct sig_waiter w = { &m, 100000000, 0, 12345, 0 };
		pthread_t t;

		no_restart_handler();
		conc_mutex_init(&m, f);
		holder_start(&h, &m);
		cr_assert_eq(pthread_create(&t, NULL, sig_waiter_thread, &w), 0);
		pester(t, &w, 3000);
		cr_assert_eq(join_thread(t, 5000, NULL), 0);
		cr_assert_eq(w.r, -ETIMEDOUT, "flags %#x: %d", f, w.r);
		cr_assert_geq(w.elapsed, w.timeout, "flags %#x: after %lld ns", f,
			      (long long)w.elapsed);
		holder_stop(&h);
	}
}

Test(mutex_plain, signals_do_not_break_a_blocking_lock, .timeout = 10)
{
	for (unsigned f = 0; f <= (CONC_PRIVATE | CONC_ROBUST); f += CONC_PRIVATE) {
		conc_mutex m;
		struct holder h;
		struct sig_waiter w = { &m, CONC_FOREVER, 0, 12345, 0 };
		pthread_t t;

		no_restart_handler();
		conc_mutex_init(&m, f);
		holder_start(&h, &m);
		cr_assert_eq(pthread_create(&t, NULL, sig_waiter_thread, &w), 0);
		pester(t, &w, 50);
		cr_assert_eq(w.done, 0, "flags %#x: lock returned %d while held", f, w.r);
		holder_stop(&h);
		cr_assert_eq(join_thread(t, 5000, NULL), 0);
		cr_assert_eq(w.r, 0, "flags %#x: %d", f, w.r);
	}
}

/* ---- contention -------------------------------------------------------- */

struct counter {
	conc_mutex m;
	uint32_t inside;
	uint32_t violations;
	uint64_t count;
	uint32_t go;
};

static int hammer(struct counter *c, long n, int mode)
{
	for (long i = 0; i < n; i++) {
		int r;

		switch (mode % 3) {
		case 0:
			r = conc_mutex_lock(&c->m);
			break;
		case 1:
			while ((r = conc_mutex_trylock(&c->m)) == -EBUSY)
				;
			break;
		default:
			r = conc_mutex_timedlock(&c->m, 5000000000LL);
			break;
		}
		if (r)
			return 1;
		if (__atomic_exchange_n(&c->inside, 1, __ATOMIC_RELAXED))
			__atomic_fetch_add(&c->violations, 1, __ATOMIC_RELAXED);
		/* A non-atomic read-modify-write: lost updates show a hole. */
		uint64_t v = c->count;
		__asm__ __volatile__("" ::: "memory");
		c->count = v + 1;
		__atomic_store_n(&c->inside, 0, __ATOMIC_RELAXED);
		if (conc_mutex_unlock(&c->m))
			return 2;
	}
	return 0;
}

struct hammer_arg {
	struct counter *c;
	long n;
	int mode;
	int r;
};

static void *hammer_thread(void *arg)
{
	struct hammer_arg *a = arg;

	while (!__atomic_load_n(&a->c->go, __ATOMIC_ACQUIRE))
		;
	a->r = hammer(a->c, a->n, a->mode);
	return NULL;
}

static void threads_count(unsigned flags, int nthreads, long total, int mixed)
{
	int n = nthreads;
	struct counter *c = calloc(1, sizeof(*c));
	struct hammer_arg a[8];
	pthread_t t[8];

	cr_assert_not_null(c);
	cr_assert_eq(conc_mutex_init(&c->m, flags), 0);
	for (int i = 0; i < nthreads; i++) {
		a[i] = (struct hammer_arg){ c, total / nthreads, mixed ? i : 0, -1 };
		cr_assert_eq(pthread_create(&t[i], NULL, hammer_thread, &a[i]), 0);
	}
	set_flag(&c->go, 1);
	for (int i = 0; i < nthreads; i++) {
		cr_assert_eq(join_thread(t[i], 15000, NULL), 0, "thread %d stuck", i);
		cr_assert_eq(a[i].r, 0, "thread %d: %d", i, a[i].r);
	}
	cr_assert_eq(c->violations, 0, "flags %#x: %u threads inside together",
		     flags, c->violations);
	cr_assert_eq(c->count, (uint64_t)(total / n) * n, "flags %#x: count %llu",
		     flags, (unsigned long long)c->count);
	cr_assert_eq(conc_mutex_trylock(&c->m), 0, "left locked");
	cr_assert_eq(conc_mutex_unlock(&c->m), 0);
	free(c);
}

Test(mutex_contention, four_threads_default, .timeout = 20)
{
	threads_count(0, 4, 1000000, 0);
}

Test(mutex_contention, four_threads_private, .timeout = 20)
{
	threads_count(CONC_PRIVATE, 4, 1000000, 0);
}

Test(mutex_contention, threads_mixed_lock_kinds, .timeout = 20)
{
	threads_count(0, 3, 300000, 1);
	threads_count(CONC_PRIVATE, 3, 300000, 1);
	threads_count(CONC_RECURSIVE, 3, 300000, 1);
	threads_count(CONC_ROBUST, 3, 300000, 1);
	threads_count(CONC_ROBUST | CONC_RECURSIVE, 3, 300000, 1);
}

static void procs_count(unsigned flags, int nprocs, long total, int zeroed)
{
	int n = nprocs;
	struct counter *c = shared_alloc(sizeof(*c));
	pid_t pid[8];

	cr_assert_not_null(c);
	if (!zeroed)
		cr_assert_eq(conc_mutex_init(&c->m, flags), 0);
	for (int i = 0; i < nprocs; i++) {
		pid[i] = test_fork();
		cr_assert_geq(pid[i], 0);
		if (pid[i] == 0) {
			while (!__atomic_load_n(&c->go, __ATOMIC_ACQUIRE))
				;
			_exit(hammer(c, total / nprocs, i));
		}
	}
	set_flag(&c->go, 1);
	for (int i = 0; i < nprocs; i++) {
		int st = wait_child(pid[i], 15000);
		cr_assert(exited_with(st, 0), "process %d: status %#x", i, st);
	}
	cr_assert_eq(c->violations, 0, "flags %#x: %u processes inside together",
		     flags, c->violations);
	cr_assert_eq(c->count, (uint64_t)(total / n) * n, "flags %#x: count %llu",
		     flags, (unsigned long long)c->count);
	cr_assert_eq(conc_mutex_trylock(&c->m), 0, "left locked");
	cr_assert_eq(conc_mutex_unlock(&c->m), 0);
	shared_free(c, sizeof(*c));
}

Test(mutex_contention, processes_zeroed_mutex, .timeout = 20)
{
	procs_count(0, 4, 1000000, 1);
}

Test(mutex_contention, processes_other_kinds, .timeout = 20)
{
	procs_count(CONC_RECURSIVE, 2, 200000, 0);
	procs_count(CONC_ROBUST, 2, 200000, 0);
	procs_count(CONC_ROBUST | CONC_RECURSIVE, 3, 200000, 0);
}

Test(mutex_contention, threads_in_two_processes, .timeout = 20)
{
	struct counter *c = shared_alloc(sizeof(*c));
	enum { T = 2, P = 2, PER = 100000 };

	cr_assert_not_null(c);
	pid_t pid[P];

	for (int p = 0; p < P; p++) {
		pid[p] = test_fork();
		cr_assert_geq(pid[p], 0);
		if (pid[p] == 0) {
			struct hammer_arg a[T];
			pthread_t t[T];

			for (int i = 0; i < T; i++) {
				a[i] = (struct hammer_arg){ c, PER, i, -1 };
				if (pthread_create(&t[i], NULL, hammer_thread, &a[i]))
					_exit(50);
			}
			for (int i = 0; i < T; i++)
				if (join_thread(t[i], 12000, NULL) || a[i].r)
					_exit(60 + i);
			_exit(0);
		}
	}
	set_flag(&c->go, 1);
	for (int p = 0; p < P; p++) {
		int st = wait_child(pid[p], 15000);
		cr_assert(exited_with(st, 0), "process %d: status %#x", p, st);
	}
	cr_assert_eq(c->violations, 0);
	cr_assert_eq(c->count, (uint64_t)T * P * PER);
	shared_free(c, sizeof(*c));
}

/* A futex word must be 4-byte aligned or the kernel refuses to sleep on
 * it: a misaligned object is bad input, refused before any wait. */
Test(mutex_args, misaligned_objects_are_einval, .timeout = 10)
{
	_Alignas(8) char buf[128] = { 0 };
	void *odd = buf + 1;

	cr_assert_eq(conc_mutex_init(odd, 0), -EINVAL);
	cr_assert_eq(conc_mutex_lock(odd), -EINVAL);
	cr_assert_eq(conc_mutex_timedlock(odd, 1000000), -EINVAL);
	cr_assert_eq(conc_mutex_unlock(odd), -EINVAL);
	cr_assert_eq(conc_sem_timedwait((conc_sem *)odd, 1000000), -EINVAL);
	cr_assert_eq(conc_sem_post((conc_sem *)odd), -EINVAL);
	cr_assert_eq(conc_event_wait((conc_event *)odd, 1000000), -EINVAL);
	cr_assert_eq(conc_rwlock_wrlock((conc_rwlock *)odd), -EINVAL);
	cr_assert_eq(conc_barrier_wait((conc_barrier *)odd), -EINVAL);
	cr_assert_eq(conc_cond_signal((conc_cond *)odd), -EINVAL);
}

/*
 * conc threads run on reused kernel threads (a worker parks between jobs,
 * under the same tid): the lock one of them ended holding was still its
 * worker's, so the next conc thread there unlocked it (0, not -EPERM),
 * relocked it (-EDEADLK instead of -EBUSY) and added to its recursion.
 */
static conc_mutex reused_m;

static int reused_lock(void *arg)
{
	(void)arg;
	return conc_mutex_lock(&reused_m);	/* and ends holding it */
}

static int reused_try(void *arg)
{
	(void)arg;
	return conc_mutex_trylock(&reused_m);
}

static int reused_unlock(void *arg)
{
	(void)arg;
	return conc_mutex_unlock(&reused_m);
}

static int run_conc_thread(int (*fn)(void *))
{
	conc_thread *t;
	int code = INT32_MIN, r = conc_thread_start(&t, fn, NULL, NULL);

	if (r == -ENOTSUP)
		cr_skip_test("conc threads not supported here");
	cr_assert_eq(r, 0);
	cr_assert_eq(conc_thread_join(t, &code, 10 * 1000000000LL), 0);
	return code;
}

Test(mutex_plain, a_lock_a_conc_thread_ended_holding_is_not_the_next_ones, .timeout = 20)
{
	unsigned kinds[] = { 0, CONC_PRIVATE, CONC_RECURSIVE, CONC_RECURSIVE | CONC_PRIVATE };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		cr_assert_eq(conc_mutex_init(&reused_m, kinds[k]), 0);
		cr_assert_eq(run_conc_thread(reused_lock), 0, "flags %#x", kinds[k]);
		for (int i = 0; i < 4; i++) {
			cr_assert_eq(run_conc_thread(reused_try), -EBUSY, "flags %#x", kinds[k]);
			cr_assert_eq(run_conc_thread(reused_unlock), -EPERM, "flags %#x", kinds[k]);
		}
		cr_assert_eq(conc_mutex_trylock(&reused_m), -EBUSY);
		cr_assert_eq(conc_mutex_unlock(&reused_m), -EPERM);
	}
}
