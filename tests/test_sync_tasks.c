/* tests/test_sync_tasks.c — the sync objects between two tasks of one
 * loop, as conc(7) and the pages' NOTES promise: the same calls as between
 * threads, the holder is the task (not its thread), so the second task
 * waits where a second thread would wait (never -EDEADLK), and a task
 * that does not hold a lock cannot release it (-EPERM). Every wait is
 * bounded. */
#include <criterion/criterion.h>
#include <conc.h>
#include "loop_helpers.h"

/* Each scenario with the loop's futex operations (IORING_OP_FUTEX_WAIT)
 * and with its fallback, as tests/test_loop_sync.c does. */
static void mode(bool fallback)
{
	need_uring();
	if (!fallback && !(conc_features() & CONC_FEAT_URING_FUTEX))
		cr_skip_test("IORING_OP_FUTEX_WAIT needs Linux 6.7");
	if (fallback)
		setenv("CONC_LOOP_NO_FUTEX_OP", "1", 1);
	else
		unsetenv("CONC_LOOP_NO_FUTEX_OP");
}

#define BOTH(name, t) \
	Test(sync_tasks, name, .timeout = t) { mode(false); name(); } \
	Test(sync_tasks, name##_fallback, .timeout = t) { mode(true); name(); }

struct two {
	conc_mutex m;
	conc_rwlock rw;
	conc_cond c;
	conc_sem s;
	conc_event e;
	conc_barrier b;
	conc_once_t o;
	int step;		/* written by the task that runs */
	int ready;
	int r;			/* the second task's result */
};

/* Start fn as a second task, let it run up to its first wait, then go on. */
static int start(conc_task **t, int (*fn)(void *), struct two *p)
{
	int r = conc_go(t, fn, p, NULL);

	if (r)
		return r;
	return conc_sleep(10 * MS);
}

static int join(conc_task *t)
{
	int code = -12345, r = conc_task_join(t, &code, BOUND);

	return r ? r : code;
}

/* ---- mutex, every kind: the second task waits; it cannot unlock ---- */

static int mutex_second(void *arg)
{
	struct two *p = arg;
	int r;

	if (conc_mutex_unlock(&p->m) != -EPERM)
		return -100;
	if ((r = conc_mutex_trylock(&p->m)) != -EBUSY)
		return -101;
	if ((r = conc_mutex_timedlock(&p->m, 0)) != -ETIMEDOUT)
		return -102;
	if ((r = conc_mutex_timedlock(&p->m, BOUND)) != 0)
		return r;
	if (p->step != 1)
		return -103;	/* got in before the holder let go */
	return conc_mutex_unlock(&p->m);
}

static unsigned kind;

static int mutex_main(void *arg)
{
	struct two *p = arg;
	conc_task *t;
	int r;

	if ((r = conc_mutex_init(&p->m, kind)) || (r = conc_mutex_lock(&p->m)))
		return r;
	if ((kind & CONC_RECURSIVE) && (r = conc_mutex_lock(&p->m)))
		return r;
	if ((r = start(&t, mutex_second, p)))
		return r;
	p->step = 1;
	if ((kind & CONC_RECURSIVE) && (r = conc_mutex_unlock(&p->m)))
		return r;
	if ((r = conc_mutex_unlock(&p->m)))
		return r;
	return join(t);
}

static void mutex_every_kind(void)
{
	static const unsigned kinds[] = {
		0, CONC_PRIVATE, CONC_RECURSIVE, CONC_ROBUST,
		CONC_ROBUST | CONC_RECURSIVE,
	};
	struct two p;
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		memset(&p, 0, sizeof(p));
		kind = kinds[i];
		cr_expect_eq(run(mutex_main, &p), 0, "kind %#x", kinds[i]);
	}
}

/* ---- rwlock: a writer task keeps the other out; read locks belong to
 * the task that took them ---- */

static int rw_second(void *arg)
{
	struct two *p = arg;
	int r;

	if (conc_rwlock_unlock(&p->rw) != -EPERM)
		return -200;
	if (conc_rwlock_tryrdlock(&p->rw) != -EBUSY ||
	    conc_rwlock_trywrlock(&p->rw) != -EBUSY)
		return -201;
	if ((r = conc_rwlock_timedrdlock(&p->rw, BOUND)))
		return r;	/* -EDEADLK would be a thread's answer */
	if (p->step != 1)
		return -202;
	if ((r = conc_rwlock_unlock(&p->rw)))
		return r;
	if ((r = conc_rwlock_timedwrlock(&p->rw, BOUND)))
		return r;
	return conc_rwlock_unlock(&p->rw);
}

static int rw_reader(void *arg)
{
	struct two *p = arg;

	/* The main task holds a read lock, this one none. */
	if (conc_rwlock_unlock(&p->rw) != -EPERM)
		return -210;
	return 0;
}

static int rw_main(void *arg)
{
	struct two *p = arg;
	conc_task *t;
	int r;

	if ((r = conc_rwlock_wrlock(&p->rw)) || (r = start(&t, rw_second, p)))
		return r;
	p->step = 1;
	if ((r = conc_rwlock_unlock(&p->rw)) || (r = join(t)))
		return r;
	if ((r = conc_rwlock_rdlock(&p->rw)) || (r = start(&t, rw_reader, p)) ||
	    (r = join(t)))
		return r;
	if ((r = conc_rwlock_unlock(&p->rw)))
		return r;
	return conc_rwlock_unlock(&p->rw) == -EPERM ? 0 : -211;
}

static void rwlock(void)
{
	struct two p;

	memset(&p, 0, sizeof(p));
	cr_expect_eq(run(rw_main, &p), 0);
}

/* ---- cond: a task waits, another signals; the waiter owns the mutex
 * again; a task that does not own the mutex gets -EPERM ---- */

static int cond_waiter(void *arg)
{
	struct two *p = arg;
	int r = 0;

	if ((r = conc_mutex_lock(&p->m)))
		return r;
	while (!p->ready && r == 0)
		r = conc_cond_wait(&p->c, &p->m, BOUND);
	if (r)
		return r;
	p->step = 2;
	return conc_mutex_unlock(&p->m);
}

static int cond_main(void *arg)
{
	struct two *p = arg;
	conc_task *t;
	int r;

	if ((r = start(&t, cond_waiter, p)))
		return r;
	if ((r = conc_mutex_lock(&p->m)))
		return r;
	p->ready = 1;
	if ((r = conc_cond_signal(&p->c)) || (r = conc_mutex_unlock(&p->m)))
		return r;
	if ((r = join(t)))
		return r;
	if (p->step != 2)
		return -300;
	return 0;
}

static int cond_not_owner(void *arg)
{
	struct two *p = arg;

	return conc_cond_wait(&p->c, &p->m, BOUND) == -EPERM ? 0 : -301;
}

static int cond_main2(void *arg)
{
	struct two *p = arg;
	conc_task *t;
	int r;

	if ((r = cond_main(p)))
		return r;
	if ((r = conc_mutex_lock(&p->m)) || (r = conc_go(&t, cond_not_owner, p, NULL)) ||
	    (r = join(t)))
		return r;
	return conc_mutex_unlock(&p->m);
}

static void cond(void)
{
	struct two p;

	memset(&p, 0, sizeof(p));
	cr_expect_eq(run(cond_main2, &p), 0);
}

/* ---- sem, event, barrier, once: the second task waits for the first ---- */

static int sem_second(void *arg)
{
	struct two *p = arg;
	int r = conc_sem_timedwait(&p->s, BOUND);

	return r ? r : (p->step == 1 ? 0 : -400);
}

static int event_second(void *arg)
{
	struct two *p = arg;
	int r = conc_event_wait(&p->e, BOUND);

	return r ? r : (p->step == 1 ? 0 : -401);
}

static int barrier_second(void *arg)
{
	struct two *p = arg;

	return conc_barrier_wait_timed(&p->b, BOUND);
}

static struct two *once_p;

static void once_fn(void)
{
	conc_sleep(20 * MS);	/* suspends: the other task must wait */
	once_p->step++;
}

static int once_second(void *arg)
{
	struct two *p = arg;
	int r = conc_once_timed(&p->o, once_fn, BOUND);

	return r ? r : (p->step == 1 ? 0 : -402);
}

static int others_main(void *arg)
{
	struct two *p = arg;
	conc_task *t;
	int r, r2;

	if ((r = start(&t, sem_second, p)))
		return r;
	p->step = 1;
	if ((r = conc_sem_post(&p->s)) || (r = join(t)))
		return r;

	p->step = 0;
	if ((r = start(&t, event_second, p)))
		return r;
	p->step = 1;
	if ((r = conc_event_set(&p->e)) || (r = join(t)))
		return r;

	if ((r = conc_barrier_init(&p->b, 2, 0)) || (r = start(&t, barrier_second, p)))
		return r;
	r = conc_barrier_wait_timed(&p->b, BOUND);
	r2 = join(t);
	if (!((r == CONC_BARRIER_SERIAL && r2 == 0) || (r == 0 && r2 == CONC_BARRIER_SERIAL)))
		return -403;
	/* A task that times out breaks it for the next. */
	if (conc_barrier_wait_timed(&p->b, MS) != -ETIMEDOUT ||
	    conc_barrier_wait_timed(&p->b, BOUND) != -EPIPE)
		return -404;

	p->step = 0;
	once_p = p;
	if ((r = conc_go(&t, once_second, p, NULL)))
		return r;
	if ((r = conc_once(&p->o, once_fn)) || (r = join(t)))
		return r;
	return p->step == 1 ? 0 : -405;
}

static void sem_event_barrier_once(void)
{
	struct two p;

	memset(&p, 0, sizeof(p));
	cr_expect_eq(run(others_main, &p), 0);
}

/* ---- cond broadcast to several tasks, CONC_PRIVATE (the requeue path)
 * and shared, from a task and from a plain thread ---- */

#define WAITERS 4

struct crowd {
	conc_cond c;
	conc_mutex m;
	int go, woke;
	bool from_thread;
};

static int crowd_waiter(void *arg)
{
	struct crowd *p = arg;
	int r = 0;

	if ((r = conc_mutex_lock(&p->m)))
		return r;
	while (!p->go && r == 0)
		r = conc_cond_wait(&p->c, &p->m, BOUND);
	if (r == 0)
		p->woke++;
	conc_mutex_unlock(&p->m);
	return r;
}

static void *crowd_thread(void *arg)
{
	struct crowd *p = arg;

	sleep_ns(20 * MS);
	conc_mutex_lock(&p->m);
	p->go = 1;
	conc_cond_broadcast(&p->c);
	conc_mutex_unlock(&p->m);
	return NULL;
}

static int crowd_main(void *arg)
{
	struct crowd *p = arg;
	conc_task *t[WAITERS];
	pthread_t th;
	int i, r, bad = 0;

	for (i = 0; i < WAITERS; i++)
		if ((r = conc_go(&t[i], crowd_waiter, p, NULL)))
			return r;
	if (p->from_thread) {
		pthread_create(&th, NULL, crowd_thread, p);
	} else {
		conc_sleep(20 * MS);
		if ((r = conc_mutex_lock(&p->m)))
			return r;
		p->go = 1;
		conc_cond_broadcast(&p->c);
		conc_mutex_unlock(&p->m);
	}
	for (i = 0; i < WAITERS; i++)
		if ((r = join(t[i])))
			bad = r;
	if (p->from_thread)
		pthread_join(th, NULL);
	return bad ? bad : (p->woke == WAITERS ? 0 : -500);
}

static void cond_broadcast_to_many_tasks(void)
{
	static const unsigned flags[] = { 0, CONC_PRIVATE };
	struct crowd p;
	int f, th;

	for (f = 0; f < 2; f++)
		for (th = 0; th < 2; th++) {
			memset(&p, 0, sizeof(p));
			conc_cond_init(&p.c, flags[f]);
			conc_mutex_init(&p.m, flags[f]);
			p.from_thread = th;
			cr_expect_eq(run(crowd_main, &p), 0, "flags %#x from %s",
				     flags[f], th ? "a thread" : "a task");
		}
}

BOTH(mutex_every_kind, 30)
BOTH(rwlock, 30)
BOTH(cond, 30)
BOTH(sem_event_barrier_once, 30)
BOTH(cond_broadcast_to_many_tasks, 60)

/* conc_mutex_lock(3) NOTES: "A task that ends holding a mutex leaves it
 * locked by a context that no longer exists: no other task, of its loop or
 * of a later loop on the same thread, owns it (each gets -EBUSY or waits,
 * and -EPERM from an unlock); a robust one is reported with -EOWNERDEAD
 * once its thread ends." */
static conc_mutex left[2];	/* plain, robust */

static int lock_and_leave(void *arg)
{
	(void)arg;
	return conc_mutex_lock(&left[0]) || conc_mutex_lock(&left[1]);
}

static int nobody_owns_it(void)
{
	int k;

	for (k = 0; k < 2; k++)
		if (conc_mutex_trylock(&left[k]) != -EBUSY ||
		    conc_mutex_unlock(&left[k]) != -EPERM ||
		    conc_mutex_timedlock(&left[k], MS) != -ETIMEDOUT)
			return -600 - k;
	return 0;
}

static int leaver_main(void *arg)
{
	conc_task *t;
	int r;

	(void)arg;
	if ((r = conc_go(&t, lock_and_leave, NULL, NULL)) || (r = join(t)))
		return r;
	return nobody_owns_it();
}

static int later_loop_main(void *arg)
{
	(void)arg;
	return nobody_owns_it();
}

/* conc_run() directly: Criterion's asserts belong to the test's thread. */
static void *loop_thread(void *arg)
{
	int c1 = -1, c2 = -1;

	(void)arg;
	if (conc_run(leaver_main, NULL, &c1) || c1 ||
	    conc_run(later_loop_main, NULL, &c2) || c2)
		return (void *)1;
	return NULL;
}

static void task_ends_holding(void)
{
	pthread_t th;
	void *res;

	conc_mutex_init(&left[0], 0);
	conc_mutex_init(&left[1], CONC_ROBUST);
	cr_assert_eq(pthread_create(&th, NULL, loop_thread, NULL), 0);
	pthread_join(th, &res);
	cr_expect_eq(res, NULL, "a task of that thread owned it");
	/* The thread has ended: only the robust one comes back. */
	cr_expect_eq(conc_mutex_timedlock(&left[1], BOUND), -EOWNERDEAD);
	cr_expect_eq(conc_mutex_consistent(&left[1]), 0);
	cr_expect_eq(conc_mutex_unlock(&left[1]), 0);
	cr_expect_eq(conc_mutex_trylock(&left[0]), -EBUSY);
}

BOTH(task_ends_holding, 30)
