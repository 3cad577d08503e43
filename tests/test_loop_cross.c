/* test_loop_cross.c — a task waits on a conc object woken by a peer of
 * each kind: another task of its loop, a plain thread, another process
 * over shared memory; the loop's other tasks run meanwhile (the peer wakes
 * only once a ticker task has ticked, so a blocked loop fails by timeout
 * rather than by a timing assertion). Each also without
 * IORING_OP_FUTEX_WAIT (CONC_LOOP_NO_FUTEX_OP). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <conc.h>
#include "loop_helpers.h"

enum prim { MUTEX, SEM, EVENT, COND, BARRIER, RDLOCK, WRLOCK, QGET, QPUT,
	    CRECV, CSEND, NPRIM };
enum peer { P_TASK, P_THREAD, P_PROC, P_LOOP_THREAD, P_LOOP_PROC, NPEER };

static const char *const prim_name[] = { "mutex", "sem", "event", "cond",
	"barrier", "rdlock", "wrlock", "queue_get", "queue_put", "chan_recv",
	"chan_send" };
static const char *const peer_name[] = { "task", "thread", "process",
	"a task of a loop on another thread", "a task of a loop in another process" };

struct sh {
	conc_mutex m, cm;
	conc_sem sem;
	conc_event ev;
	conc_cond cond;
	conc_barrier bar;
	conc_rwlock rw;
	uint32_t ready, waiting, ticks, t0, flag, stop;
	int peer_rc;
	enum prim prim;
	conc_queue *q;
	conc_chan *mine, *theirs;
};

/* Every test runs with IORING_OP_FUTEX_WAIT (where the kernel has it) and
 * with the fallback; each kind of an object in turn. */
#define EACH_KIND(k, kinds) \
	for ((k) = 0; (k) < sizeof(kinds) / sizeof((kinds)[0]); (k)++)

TestSuite(loop_cross, .fini = plain_mode);

/* Join n tasks within bound each: how many failed or returned non-zero. */
static int join_all(conc_task **t, int n, int64_t bound)
{
	int i, c, bad = 0;

	for (i = 0; i < n; i++)
		if (conc_task_join(t[i], &c, bound) || c)
			bad++;
	return bad;
}

/* A pause the peer can take: a sleep of its task, or of its thread. */
static void nap(void)
{
	if (conc_task_self())
		conc_sleep(1 * MS);
	else
		sleep_ns(1 * MS);
}

/* Wait for *w >= v within BOUND; 0 or -1. */
static int until(uint32_t *w, uint32_t v)
{
	int64_t end = now_ns() + BOUND;

	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) < v) {
		if (now_ns() > end)
			return -1;
		nap();
	}
	return 0;
}

/* The peer: takes its side (holds the lock, fills the queue), says ready,
 * waits until the waiter waits and the ticker ticked 5 times, then wakes. */
static int peer(void *arg)
{
	struct sh *s = arg;
	char b[16];
	int r = 0;

	switch (s->prim) {
	case MUTEX: r = conc_mutex_lock(&s->m); break;
	case RDLOCK: r = conc_rwlock_wrlock(&s->rw); break;
	case WRLOCK: r = conc_rwlock_rdlock(&s->rw); break;
	case QPUT: r = conc_queue_put(s->q, "full", 5, BOUND); break;
	case CSEND:	/* fill it: the waiter's send waits for room */
		while (conc_chan_send(s->mine, "fill", 5, 0) == 0)
			;
		break;
	default: break;
	}
	if (r)
		return 10;
	__atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);
	if (until(&s->waiting, 1))
		return 11;
	if (until(&s->ticks, __atomic_load_n(&s->t0, __ATOMIC_ACQUIRE) + 5))
		return 12;
	switch (s->prim) {
	case MUTEX: r = conc_mutex_unlock(&s->m); break;
	case SEM: r = conc_sem_post(&s->sem); break;
	case EVENT: r = conc_event_set(&s->ev); break;
	case COND:
		if (conc_mutex_lock(&s->cm))
			return 13;
		__atomic_store_n(&s->flag, 1, __ATOMIC_RELEASE);
		r = conc_cond_signal(&s->cond);
		conc_mutex_unlock(&s->cm);
		break;
	case BARRIER:
		r = conc_barrier_wait_timed(&s->bar, BOUND);
		r = r == CONC_BARRIER_SERIAL ? 0 : r;
		break;
	case RDLOCK: case WRLOCK: r = conc_rwlock_unlock(&s->rw); break;
	case QGET: r = conc_queue_put(s->q, "hello", 6, BOUND); break;
	case QPUT:
		r = (int)conc_queue_get(s->q, b, sizeof(b), BOUND);
		r = r == 5 ? 0 : -1;
		break;
	case CRECV: r = conc_chan_send(s->theirs, "hello", 6, BOUND); break;
	case CSEND:
		do
			r = (int)conc_chan_recv(s->theirs, b, sizeof(b), BOUND);
		while (r == 5);
		r = r == 6 ? 0 : -1;
		break;
	default: break;
	}
	return r ? 14 : 0;
}

static int ticker(void *arg)
{
	struct sh *s = arg;

	tick_until(&s->ticks, &s->stop);
	return 0;	/* a cancelled ticker just ends */
}

/* The waiter's one call; 0 when it was woken as it should be. */
static int wait_one(struct sh *s)
{
	char b[16];
	int r;

	switch (s->prim) {
	case MUTEX:
		r = conc_mutex_lock(&s->m);
		return r ? r : conc_mutex_unlock(&s->m);
	case SEM: return conc_sem_wait(&s->sem);
	case EVENT: return conc_event_wait(&s->ev, CONC_FOREVER);
	case COND:
		if ((r = conc_mutex_lock(&s->cm)))
			return r;
		while (!__atomic_load_n(&s->flag, __ATOMIC_ACQUIRE) && r == 0)
			r = conc_cond_wait(&s->cond, &s->cm, CONC_FOREVER);
		conc_mutex_unlock(&s->cm);
		return r;
	case BARRIER:
		r = conc_barrier_wait(&s->bar);
		return r == CONC_BARRIER_SERIAL ? 0 : r;
	case RDLOCK:
		r = conc_rwlock_rdlock(&s->rw);
		return r ? r : conc_rwlock_unlock(&s->rw);
	case WRLOCK:
		r = conc_rwlock_wrlock(&s->rw);
		return r ? r : conc_rwlock_unlock(&s->rw);
	case QGET:
		r = (int)conc_queue_get(s->q, b, sizeof(b), CONC_FOREVER);
		return r == 6 && !strcmp(b, "hello") ? 0 : r < 0 ? r : -1000;
	case QPUT: return conc_queue_put(s->q, "next", 5, CONC_FOREVER);
	case CRECV:
		r = (int)conc_chan_recv(s->mine, b, sizeof(b), CONC_FOREVER);
		return r == 6 && !strcmp(b, "hello") ? 0 : r < 0 ? r : -1000;
	case CSEND: return conc_chan_send(s->mine, "hello", 6, CONC_FOREVER);
	default: return -1;
	}
}

/* The same wait, timed; nothing comes (the peer holds on). */
static int wait_timed(struct sh *s, int64_t t)
{
	char b[16];
	int r;

	switch (s->prim) {
	case MUTEX:
		r = conc_mutex_timedlock(&s->m, t);
		return r ? r : -1000 - conc_mutex_unlock(&s->m);
	case SEM: return conc_sem_timedwait(&s->sem, t);
	case EVENT: return conc_event_wait(&s->ev, t);
	case COND:
		if ((r = conc_mutex_lock(&s->cm)))
			return -2000 + r;
		r = conc_cond_wait(&s->cond, &s->cm, t);
		/* owned again, whatever the result */
		return conc_mutex_unlock(&s->cm) ? -3000 : r;
	case RDLOCK: return conc_rwlock_timedrdlock(&s->rw, t);
	case WRLOCK: return conc_rwlock_timedwrlock(&s->rw, t);
	case QGET: return (int)conc_queue_get(s->q, b, sizeof(b), t);
	case QPUT: return conc_queue_put(s->q, "lost", 5, t);
	case CRECV: return (int)conc_chan_recv(s->mine, b, sizeof(b), t);
	case CSEND: return conc_chan_send(s->mine, "lost", 5, t);
	default: return -1;
	}
}

static int cancelled_wait(void *arg)
{
	return wait_timed(arg, BOUND);
}

/* Before the peer wakes the object: a timeout, then a cancel, each
 * leaving the object as it was. */
static int timeout_and_cancel(struct sh *s)
{
	conc_task *t;
	int r, code = -1;

	if (s->prim == BARRIER)	/* either would break it (-EPIPE) */
		return 0;
	if ((r = wait_timed(s, 5 * MS)) != -ETIMEDOUT)
		return -10000 + r;
	if (conc_go(&t, cancelled_wait, s, NULL))
		return -20000;
	conc_sleep(5 * MS);
	conc_task_cancel(t);
	if (conc_task_join(t, &code, BOUND))
		return -20001;
	if (code != -ECANCELED)
		return -30000 + code;
	switch (s->prim) {
	case MUTEX: return conc_mutex_trylock(&s->m) == -EBUSY ? 0 : -40000;
	case SEM: return conc_sem_value(&s->sem) == 0 ? 0 : -40001;
	case QGET: return conc_queue_size(s->q) == 0 ? 0 : -40002;
	case QPUT: return conc_queue_size(s->q) == 1 ? 0 : -40003;
	case RDLOCK: return conc_rwlock_tryrdlock(&s->rw) ? 0 : -40004;
	case WRLOCK: return conc_rwlock_trywrlock(&s->rw) ? 0 : -40005;
	case EVENT: return conc_event_wait(&s->ev, 0) == -ETIMEDOUT ? 0 : -40006;
	default: return 0;
	}
}

struct run_arg {
	struct sh *s;
	enum peer kind;
	bool plain;	/* the waiter is a plain thread, no loop */
	bool shared;	/* the waiter and ticker are shared-stack tasks */
};

static void *thread_ticker(void *arg)
{
	struct sh *s = arg;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		__atomic_fetch_add(&s->ticks, 1, __ATOMIC_RELEASE);
		sleep_ns(1 * MS);
	}
	return NULL;
}

static int waiter_body(void *arg)
{
	struct run_arg *a = arg;
	struct sh *s = a->s;
	conc_task_attr at = { .shared_stack = a->shared };
	conc_task *tk = NULL, *pt = NULL;
	pthread_t tth;
	int r, code = -1;

	if (a->plain ? pthread_create(&tth, NULL, thread_ticker, s) :
	    conc_go(&tk, ticker, s, &at))
		return -1;
	if (a->kind == P_TASK && conc_go(&pt, peer, s, NULL))
		return -2;
	if (until(&s->ready, 1))
		return -3;
	if (!a->plain && (r = timeout_and_cancel(s)))
		return r;
	__atomic_store_n(&s->t0, __atomic_load_n(&s->ticks, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
	__atomic_store_n(&s->waiting, 1, __ATOMIC_RELEASE);
	r = wait_one(s);
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	if (tk)
		conc_task_join(tk, NULL, BOUND);
	else
		join_thread(tth, 10000, NULL);
	if (pt && (conc_task_join(pt, &code, BOUND) || code))
		return -100 - code;
	return r;
}

static int waiter_main(void *arg)
{
	struct run_arg *a = arg;
	conc_task_attr at = { .shared_stack = true };
	conc_task *t;
	int code = -1;

	if (!a->shared)
		return waiter_body(a);
	if (conc_go(&t, waiter_body, a, &at) || conc_task_join(t, &code, 3 * BOUND))
		return -50000;
	return code;
}

static void *peer_thread(void *arg)
{
	struct sh *s = arg;

	s->peer_rc = peer(s);
	return NULL;
}

/* The peer as the main task of a loop of its own. */
static int peer_loop(void *arg)
{
	int code = -1, r = conc_run(peer, arg, &code);

	return r ? 20 : code;
}

static void *peer_loop_thread(void *arg)
{
	struct sh *s = arg;

	s->peer_rc = peer_loop(s);
	return NULL;
}

static void cross(enum prim p, enum peer kind, bool plain, bool shared)
{
	struct sh *s = shared_alloc(sizeof(*s));
	struct run_arg a = { .s = s, .kind = kind, .plain = plain,
			     .shared = shared };
	pthread_t th;
	pid_t pid = -1;
	int r, st;

	cr_assert_not_null(s);
	s->prim = p;
	conc_mutex_init(&s->m, 0);
	conc_mutex_init(&s->cm, 0);
	conc_sem_init(&s->sem, 0, 0);
	conc_event_init(&s->ev, 0);
	conc_cond_init(&s->cond, 0);
	conc_barrier_init(&s->bar, 2, 0);
	conc_rwlock_init(&s->rw, 0);
	if (p == QGET || p == QPUT) {
		conc_queue_attr qa = { .capacity = 1, .max_msg = 16 };

		cr_assert_eq(conc_queue_create(&s->q, &qa), 0);
	}
	if (p == CRECV || p == CSEND)
		cr_assert_eq(conc_chan_pair(&s->mine, &s->theirs, 0), 0);
	if (kind == P_THREAD || kind == P_LOOP_THREAD)
		cr_assert_eq(pthread_create(&th, NULL, kind == P_THREAD ?
					    peer_thread : peer_loop_thread, s), 0);
	if (kind == P_PROC || kind == P_LOOP_PROC) {
		pid = fork_child(kind == P_PROC ? peer : peer_loop, s);
		cr_assert_gt(pid, 0);
	}
	r = plain ? waiter_main(&a) : run(waiter_main, &a);
	if (kind == P_THREAD || kind == P_LOOP_THREAD)
		cr_assert_eq(join_thread(th, 10000, NULL), 0);
	if (kind == P_PROC || kind == P_LOOP_PROC) {
		st = wait_child(pid, 10000);
		cr_expect(exited_with(st, 0), "%s/%s: the process peer: %d",
			  prim_name[p], peer_name[kind], st);
	}
	cr_expect_eq(r, 0, "%s/%s%s%s: %d", prim_name[p], peer_name[kind],
		     plain ? " (waiter outside a loop)" : "",
		     shared ? " (waiter on the shared stack)" : "", r);
	if (kind == P_THREAD || kind == P_LOOP_THREAD)
		cr_expect_eq(s->peer_rc, 0, "%s/%s: the thread peer: %d",
			     prim_name[p], peer_name[kind], s->peer_rc);
	if (s->q)
		conc_queue_destroy(s->q);
	if (s->mine) {
		conc_chan_close(s->mine);
		conc_chan_close(s->theirs);
	}
	shared_free(s, sizeof(*s));
}

static void cross_all(enum prim p)
{
	int fb, k;

	EACH_FUTEX_MODE(fb) {
		for (k = 0; k < NPEER; k++)
			cross(p, (enum peer)k, false, false);
		/* the waiter on the shared stack */
		cross(p, P_THREAD, false, true);
		cross(p, P_PROC, false, true);
		/* wakes from inside a loop reach a plain thread */
		cross(p, P_LOOP_THREAD, true, false);
		cross(p, P_LOOP_PROC, true, false);
	}
}

Test(loop_cross, mutex) { cross_all(MUTEX); }
Test(loop_cross, sem) { cross_all(SEM); }
Test(loop_cross, event) { cross_all(EVENT); }
Test(loop_cross, cond) { cross_all(COND); }
Test(loop_cross, barrier) { cross_all(BARRIER); }
Test(loop_cross, rdlock) { cross_all(RDLOCK); }
Test(loop_cross, wrlock) { cross_all(WRLOCK); }
Test(loop_cross, queue_get) { cross_all(QGET); }
Test(loop_cross, queue_put) { cross_all(QPUT); }
Test(loop_cross, chan_recv) { cross_all(CRECV); }
Test(loop_cross, chan_send) { cross_all(CSEND); }

/* A robust mutex whose holder, another process, is killed while a task
 * waits for it: the task gets it with -EOWNERDEAD, the loop runs on. */
static pid_t holder_pid;

static int hold_and_hang(void *arg)
{
	struct sh *s = arg;

	if (conc_mutex_lock(&s->m))
		return 1;
	__atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);
	for (;;)
		sleep_ns(1 * MS);
}

static int owner_dies_main(void *arg)
{
	struct sh *s = arg;
	conc_task *tk;
	int r;

	if (conc_go(&tk, ticker, s, NULL))
		return -1;
	if (until(&s->ready, 1))
		return -3;
	r = conc_mutex_timedlock(&s->m, 0);
	if (r != -ETIMEDOUT && r != -EBUSY)
		return -4;
	s->t0 = s->ticks;
	s->waiting = 1;
	r = conc_mutex_timedlock(&s->m, BOUND);
	if (r == -EOWNERDEAD) {
		if (conc_mutex_consistent(&s->m) || conc_mutex_unlock(&s->m))
			return -5;
		if (conc_mutex_lock(&s->m) || conc_mutex_unlock(&s->m))
			return -6;
	}
	s->stop = 1;
	conc_task_join(tk, NULL, BOUND);
	return r;
}

static void *killer(void *arg)
{
	struct sh *s = arg;

	if (until(&s->waiting, 1) == 0 && until(&s->ticks, s->t0 + 5) == 0)
		kill(holder_pid, SIGKILL);
	return NULL;
}

Test(loop_cross, robust_owner_killed)
{
	int fb, r;

	EACH_FUTEX_MODE(fb) {
		struct sh *s = shared_alloc(sizeof(*s));
		pthread_t th;

		conc_mutex_init(&s->m, CONC_ROBUST);
		holder_pid = fork_child(hold_and_hang, s);
		cr_assert_gt(holder_pid, 0);
		pthread_create(&th, NULL, killer, s);
		r = run(owner_dies_main, s);
		join_thread(th, 10000, NULL);
		kill(holder_pid, SIGKILL);
		wait_child(holder_pid, 10000);
		cr_expect_eq(r, -EOWNERDEAD, "fallback %d: %d", fb, r);
		shared_free(s, sizeof(*s));
	}
}

/* Two tasks of one loop contend for a mutex of each kind: the second
 * waits (no -EDEADLK), a recursive one counts per task. */
struct two {
	conc_mutex m;
	unsigned flags;
	int in, max_in, order;
};

static int contend(void *arg)
{
	struct two *t = arg;
	int i, r, depth = (t->flags & CONC_RECURSIVE) ? 3 : 1;

	for (i = 0; i < 20; i++) {
		int d;

		for (d = 0; d < depth; d++) {
			r = conc_mutex_timedlock(&t->m, BOUND);
			if (r)
				return r;
		}
		if (++t->in > t->max_in)
			t->max_in = t->in;
		conc_yield();
		conc_sleep(0);
		t->in--;
		for (d = 0; d < depth; d++)
			if ((r = conc_mutex_unlock(&t->m)))
				return r - 100;
		conc_yield();
	}
	return 0;
}

/* Two tasks run fn(t): the first's exit code, else the second's - 1000. */
static int two_tasks(int (*fn)(void *), struct two *t)
{
	conc_task *a, *b;
	int ca = -1, cb = -1;

	if (conc_go(&a, fn, t, NULL) || conc_go(&b, fn, t, NULL))
		return -1;
	if (conc_task_join(a, &ca, BOUND) || conc_task_join(b, &cb, BOUND))
		return -2;
	return ca ? ca : cb ? cb - 1000 : 0;
}

static int two_main(void *arg)
{
	struct two *t = arg;
	int r = two_tasks(contend, t);

	return r ? r : t->max_in == 1 ? 0 : -3;
}

Test(loop_cross, two_tasks_each_kind)
{
	static const unsigned kinds[] = { 0, CONC_RECURSIVE, CONC_ROBUST,
		CONC_ROBUST | CONC_RECURSIVE, CONC_PRIVATE,
		CONC_PRIVATE | CONC_RECURSIVE };
	int fb;
	unsigned k;

	EACH_FUTEX_MODE(fb) {
		EACH_KIND(k, kinds) {
			struct two t = { .flags = kinds[k] };
			int r;

			conc_mutex_init(&t.m, kinds[k]);
			r = run(two_main, &t);
			cr_expect_eq(r, 0, "fallback %d flags %#x: %d", fb, kinds[k], r);
		}
	}
}

/* A task and a plain thread of the same process contend. */
static void *thread_contend(void *arg)
{
	struct two *t = arg;
	int i, d, depth = (t->flags & CONC_RECURSIVE) ? 3 : 1;

	for (i = 0; i < 200; i++) {
		for (d = 0; d < depth; d++)
			if (conc_mutex_timedlock(&t->m, BOUND))
				return (void *)1;
		if (__atomic_add_fetch(&t->in, 1, __ATOMIC_SEQ_CST) != 1)
			t->max_in = 2;
		__atomic_sub_fetch(&t->in, 1, __ATOMIC_SEQ_CST);
		for (d = 0; d < depth; d++)
			if (conc_mutex_unlock(&t->m))
				return (void *)2;
	}
	return NULL;
}

static int task_contend(void *arg)
{
	struct two *t = arg;
	int i, d, r, depth = (t->flags & CONC_RECURSIVE) ? 3 : 1;

	for (i = 0; i < 200; i++) {
		for (d = 0; d < depth; d++)
			if ((r = conc_mutex_timedlock(&t->m, BOUND)))
				return r;
		if (__atomic_add_fetch(&t->in, 1, __ATOMIC_SEQ_CST) != 1)
			t->max_in = 2;
		if (i % 8 == 0)
			conc_yield();
		__atomic_sub_fetch(&t->in, 1, __ATOMIC_SEQ_CST);
		for (d = 0; d < depth; d++)
			if ((r = conc_mutex_unlock(&t->m)))
				return r - 100;
	}
	return 0;
}

static int mixed_main(void *arg)
{
	return two_tasks(task_contend, arg);
}

Test(loop_cross, task_and_thread_contend)
{
	static const unsigned kinds[] = { 0, CONC_RECURSIVE, CONC_ROBUST,
		CONC_PRIVATE };
	int fb;
	unsigned k;

	EACH_FUTEX_MODE(fb) {
		EACH_KIND(k, kinds) {
			struct two t = { .flags = kinds[k] };
			pthread_t th;
			void *tr = (void *)-1;
			int r;

			conc_mutex_init(&t.m, kinds[k]);
			pthread_create(&th, NULL, thread_contend, &t);
			r = run(mixed_main, &t);
			cr_expect_eq(join_thread(th, 20000, &tr), 0);
			cr_expect_eq(r, 0, "fallback %d flags %#x: %d", fb, kinds[k], r);
			cr_expect_null(tr, "fallback %d flags %#x: thread %p", fb, kinds[k], tr);
			cr_expect_eq(t.max_in, 0, "both inside");
		}
	}
}

/* 1000 tasks wait on one semaphore posted by another process, one post
 * at a time: every task gets one permit, none is lost. */
#define MANY 1000

struct many {
	conc_sem sem;
	uint32_t done, ready;
	bool one;	/* one waiter at a time: each sleeps alone */
};

static int many_waiter(void *arg)
{
	struct many *m = arg;
	int r = conc_sem_timedwait(&m->sem, 30 * SEC);

	if (r == 0)
		__atomic_fetch_add(&m->done, 1, __ATOMIC_RELEASE);
	return r;
}

static int many_main(void *arg)
{
	struct many *m = arg;
	static conc_task *ts[MANY];
	int i, bad = 0;

	if (m->one) {
		__atomic_store_n(&m->ready, 1, __ATOMIC_RELEASE);
		for (i = 0; i < MANY; i++)
			if (many_waiter(m))
				bad++;
		return bad;
	}
	for (i = 0; i < MANY; i++)
		if (conc_go(&ts[i], many_waiter, m, NULL))
			return -1;
	conc_yield();
	__atomic_store_n(&m->ready, 1, __ATOMIC_RELEASE);
	bad += join_all(ts, MANY, 40 * SEC);
	return bad;
}

static int many_poster(void *arg)
{
	struct many *m = arg;
	int i;

	if (until(&m->ready, 1))
		return 1;
	for (i = 0; i < MANY; i++) {
		int64_t end = now_ns() + BOUND;

		if (conc_sem_post(&m->sem))
			return 2;
		/* one by one: the next once this one was taken */
		while (conc_sem_value(&m->sem) > 0)
			if (now_ns() > end)
				return 3;
			else
				sleep_ns(20000);
	}
	return 0;
}

Test(loop_cross, many_tasks_one_sem_posted_by_a_process, .timeout = 120)
{
	int fb, r, st;

	EACH_FUTEX_MODE(fb) {
		struct many *m = shared_alloc(sizeof(*m));
		pid_t pid;

		conc_sem_init(&m->sem, 0, 0);
		pid = fork_child(many_poster, m);
		r = run(many_main, m);
		st = wait_child(pid, 60000);
		cr_expect(exited_with(st, 0), "fallback %d: poster %d", fb, st);
		cr_expect_eq(r, 0, "fallback %d: %d failed", fb, r);
		cr_expect_eq(m->done, MANY, "fallback %d: %u done", fb, m->done);
		shared_free(m, sizeof(*m));
	}
}

static void *many_poster_thread(void *arg)
{
	return (void *)(intptr_t)many_poster(arg);
}

/* The same with a private semaphore posted by a thread (no re-check hides
 * a lost wake-up there), and with one task that waits a thousand times
 * (a lone sleeper sleeps without the re-check). */
Test(loop_cross, many_tasks_one_private_sem_posted_by_a_thread, .timeout = 120)
{
	int fb, r;

	EACH_FUTEX_MODE(fb) {
		struct many m = { .done = 0 };
		pthread_t th;
		void *tr = (void *)-1;

		conc_sem_init(&m.sem, 0, CONC_PRIVATE);
		pthread_create(&th, NULL, many_poster_thread, &m);
		r = run(many_main, &m);
		cr_expect_eq(join_thread(th, 60000, &tr), 0);
		cr_expect_null(tr, "fallback %d: poster %p", fb, tr);
		cr_expect_eq(r, 0, "fallback %d: %d failed", fb, r);
		cr_expect_eq(m.done, MANY, "fallback %d: %u done", fb, m.done);
	}
}

Test(loop_cross, one_task_waits_a_thousand_times_on_posts_of_a_process, .timeout = 120)
{
	int fb, r, st;

	EACH_FUTEX_MODE(fb) {
		struct many *m = shared_alloc(sizeof(*m));
		pid_t pid;

		conc_sem_init(&m->sem, 0, 0);
		m->one = true;
		pid = fork_child(many_poster, m);
		r = run(many_main, m);
		st = wait_child(pid, 60000);
		cr_expect(exited_with(st, 0), "fallback %d: poster %d", fb, st);
		cr_expect_eq(r, 0, "fallback %d: %d failed", fb, r);
		cr_expect_eq(m->done, MANY, "fallback %d: %u done", fb, m->done);
		shared_free(m, sizeof(*m));
	}
}

/* A wake from a thread and a cancel at the same moment: the cancelled
 * task either got the permit/item/lock (0) or left it for the other
 * waiter, which then gets it: nothing consumed twice, nothing lost. */
#define RACES 200

struct race {
	conc_sem sem;
	conc_mutex m;
	conc_queue *q;
	enum prim prim;
	uint32_t next, go, locked, taken;
	bool timed;	/* the first waiter times out instead of a cancel */
};

/* As until(), spinning: the wake comes as close to the cancel as it can. */
static int spin_until(uint32_t *w, uint32_t v)
{
	int64_t end = now_ns() + BOUND;
	unsigned n = 0;

	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) < v)
		if (++n % 1024 == 0 && now_ns() > end)
			return -1;
	return 0;
}

static void *race_thread(void *arg)
{
	struct race *r = arg;
	uint32_t i;

	for (i = 1; i <= RACES; i++) {
		if (r->prim == MUTEX) {
			/* not before the last round's waiters are done */
			if (until(&r->next, i) || conc_mutex_lock(&r->m))
				return (void *)1;
			__atomic_store_n(&r->locked, i, __ATOMIC_RELEASE);
		}
		if (spin_until(&r->go, i))
			return (void *)2;
		if (r->prim == SEM)
			conc_sem_post(&r->sem);
		else if (r->prim == QGET)
			conc_queue_put(r->q, "x", 2, BOUND);
		else
			conc_mutex_unlock(&r->m);
	}
	return NULL;
}

static int race_wait_for(struct race *r, int64_t t)
{
	char b[8];
	int x;

	switch (r->prim) {
	case SEM: return conc_sem_timedwait(&r->sem, t);
	case QGET:
		x = (int)conc_queue_get(r->q, b, sizeof(b), t);
		return x == 2 ? 0 : x < 0 ? x : -1000;
	default:
		x = conc_mutex_timedlock(&r->m, t);
		return x ? x : conc_mutex_unlock(&r->m);
	}
}

static int race_wait(void *arg)
{
	return race_wait_for(arg, BOUND);
}

/* The first waiter of a timed round: its timeout comes with the wake. */
static int race_wait_short(void *arg)
{
	return race_wait_for(arg, 1 * MS);
}

static int race_main(void *arg)
{
	struct race *r = arg;
	uint32_t i;

	for (i = 1; i <= RACES; i++) {
		conc_task *a, *b;
		int ca = -1, cb = -1, k;

		__atomic_store_n(&r->next, i, __ATOMIC_RELEASE);
		if (r->prim == MUTEX && until(&r->locked, i))
			return -1;
		if (conc_go(&a, r->timed ? race_wait_short : race_wait, r, NULL) ||
		    conc_go(&b, race_wait, r, NULL))
			return -2;
		for (k = 0; k < 3; k++)
			conc_yield();
		if (r->timed) {
			conc_sleep(1 * MS);
			for (k = 0; k < (int)(i % 32) * 500; k++)
				__asm__ __volatile__("" ::: "memory");
		}
		__atomic_store_n(&r->go, i, __ATOMIC_RELEASE);
		for (k = 0; k < (int)(i % 32) * 50; k++)
			__asm__ __volatile__("" ::: "memory");
		if (!r->timed)
			conc_task_cancel(a);
		if (conc_task_join(a, &ca, BOUND))
			return -3;
		if (ca == 0) {
			r->taken++;
			conc_task_cancel(b);
		}
		if (conc_task_join(b, &cb, BOUND))
			return -4;
		if (ca == 0 && cb == 0 && r->prim != MUTEX)
			return -5;	/* one wake taken twice */
		if (ca != 0 && ca != (r->timed ? -ETIMEDOUT : -ECANCELED))
			return -6;
		if (ca < 0 && cb != 0)
			return -1000 + cb;	/* the other waiter lost it */
		if (r->prim == SEM && conc_sem_value(&r->sem) != 0)
			return -7;
		if (r->prim == QGET && conc_queue_size(r->q) != 0)
			return -8;
		if (r->prim == MUTEX && conc_mutex_trylock(&r->m) == 0)
			conc_mutex_unlock(&r->m);
		else if (r->prim == MUTEX)
			return -9;	/* left locked */
	}
	return 0;
}

static void race(enum prim p, unsigned flags, bool timed)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct race *r = shared_alloc(sizeof(*r));
		pthread_t th;
		void *tr = (void *)-1;
		int x;

		r->prim = p;
		r->timed = timed;
		conc_sem_init(&r->sem, 0, flags);
		conc_mutex_init(&r->m, flags);
		if (p == QGET)
			cr_assert_eq(conc_queue_create(&r->q, NULL), 0);
		pthread_create(&th, NULL, race_thread, r);
		x = run(race_main, r);
		if (x) {	/* let the thread end */
			__atomic_store_n(&r->next, RACES, __ATOMIC_RELEASE);
			__atomic_store_n(&r->go, RACES, __ATOMIC_RELEASE);
		}
		cr_expect_eq(join_thread(th, 20000, &tr), 0);
		if (getenv("PROBE_VERBOSE"))
			fprintf(stderr, "%s %#x fb%d: cancelled one took %u of %d\n",
				prim_name[p], flags, fb, r->taken, RACES);
		cr_expect_eq(x, 0, "%s flags %#x fallback %d: %d", prim_name[p],
			     flags, fb, x);
		if (r->q)
			conc_queue_destroy(r->q);
		shared_free(r, sizeof(*r));
	}
}

Test(loop_cross, cancel_races_sem_post, .timeout = 120) { race(SEM, 0, false); }
Test(loop_cross, cancel_races_queue_put, .timeout = 120) { race(QGET, 0, false); }
Test(loop_cross, cancel_races_mutex_unlock, .timeout = 120) { race(MUTEX, 0, false); }
/* Private objects: no periodic re-check hides a lost wake-up. */
Test(loop_cross, cancel_races_private_sem_post, .timeout = 120) { race(SEM, CONC_PRIVATE, false); }
Test(loop_cross, cancel_races_private_mutex_unlock, .timeout = 120) { race(MUTEX, CONC_PRIVATE, false); }
Test(loop_cross, cancel_races_robust_mutex_unlock, .timeout = 120) { race(MUTEX, CONC_ROBUST, false); }
/* The same with a timeout instead of the cancel. */
Test(loop_cross, timeout_races_sem_post, .timeout = 120) { race(SEM, 0, true); }
Test(loop_cross, timeout_races_private_sem_post, .timeout = 120) { race(SEM, CONC_PRIVATE, true); }
Test(loop_cross, timeout_races_queue_put, .timeout = 120) { race(QGET, 0, true); }
Test(loop_cross, timeout_races_mutex_unlock, .timeout = 120) { race(MUTEX, 0, true); }
Test(loop_cross, timeout_races_private_mutex_unlock, .timeout = 120) { race(MUTEX, CONC_PRIVATE, true); }

/* A writer that waits behind a reader (a thread) keeps new readers out;
 * cancelled, it must let the reader that queued behind it in. */
struct rwc {
	conc_rwlock rw;
	uint32_t held, release;
};

static void *rw_reader_thread(void *arg)
{
	struct rwc *c = arg;

	if (conc_rwlock_rdlock(&c->rw))
		return (void *)1;
	__atomic_store_n(&c->held, 1, __ATOMIC_RELEASE);
	until(&c->release, 1);
	return conc_rwlock_unlock(&c->rw) ? (void *)2 : NULL;
}

static int rw_wr(void *arg)
{
	struct rwc *c = arg;
	int r = conc_rwlock_timedwrlock(&c->rw, BOUND);

	if (r == 0)
		conc_rwlock_unlock(&c->rw);
	return r;
}

static int rw_rd(void *arg)
{
	struct rwc *c = arg;
	int r = conc_rwlock_timedrdlock(&c->rw, BOUND);

	if (r == 0)
		r = conc_rwlock_unlock(&c->rw);
	return r;
}

static int rw_cancel_main(void *arg)
{
	struct rwc *c = arg;
	conc_task *w, *rd;
	int cw = -1, cr = -1, r;

	if (until(&c->held, 1))
		return -1;
	if (conc_go(&w, rw_wr, c, NULL))
		return -2;
	conc_sleep(5 * MS);
	if (conc_go(&rd, rw_rd, c, NULL))
		return -3;
	conc_sleep(5 * MS);
	conc_task_cancel(w);
	if (conc_task_join(w, &cw, BOUND))
		return -4;
	r = conc_task_join(rd, &cr, BOUND);
	__atomic_store_n(&c->release, 1, __ATOMIC_RELEASE);
	if (r)	/* the reader is still stuck behind the cancelled writer */
		return conc_task_join(rd, &cr, BOUND) ? -5 : -6;
	if (cw != -ECANCELED)
		return -100 + cw;
	return cr ? -200 + cr : 0;
}

Test(loop_cross, cancelled_writer_lets_readers_in)
{
	static const unsigned kinds[] = { 0, CONC_PRIVATE };
	int fb;
	unsigned k;

	EACH_FUTEX_MODE(fb) {
		EACH_KIND(k, kinds) {
			struct rwc c = { .held = 0 };
			pthread_t th;
			void *tr = (void *)-1;
			int r;

			conc_rwlock_init(&c.rw, kinds[k]);
			pthread_create(&th, NULL, rw_reader_thread, &c);
			r = run(rw_cancel_main, &c);
			__atomic_store_n(&c.release, 1, __ATOMIC_RELEASE);
			cr_expect_eq(join_thread(th, 20000, &tr), 0);
			cr_expect_null(tr);
			cr_expect_eq(r, 0, "fallback %d flags %#x: %d", fb, kinds[k], r);
		}
	}
}

/* Two tasks of one loop and a rwlock: each is its own holder. */
static int rw_two_main(void *arg)
{
	struct rwc *c = arg;
	conc_task *t;
	int code = -1;

	if (conc_rwlock_wrlock(&c->rw))
		return -1;
	if (conc_go(&t, rw_rd, c, NULL))
		return -2;
	conc_sleep(5 * MS);	/* it waits: no -EDEADLK */
	if (conc_task_join(t, &code, 0) != -ETIMEDOUT)
		return -3;
	if (conc_rwlock_unlock(&c->rw))
		return -4;
	if (conc_task_join(t, &code, BOUND) || code)
		return -100 + code;
	/* a read lock of this task: another task may not unlock it */
	if (conc_rwlock_rdlock(&c->rw))
		return -5;
	if (conc_go(&t, rw_wr, c, NULL))
		return -6;
	conc_sleep(5 * MS);
	if (conc_task_join(t, &code, 0) != -ETIMEDOUT)
		return -7;
	if (conc_rwlock_unlock(&c->rw))
		return -8;
	if (conc_task_join(t, &code, BOUND) || code)
		return -200 + code;
	return 0;
}

Test(loop_cross, two_tasks_rwlock)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct rwc c = { .held = 0 };
		int r;

		conc_rwlock_init(&c.rw, 0);
		r = run(rw_two_main, &c);
		cr_expect_eq(r, 0, "fallback %d: %d", fb, r);
	}
}

/* Tasks of a process hold robust mutexes, each its own, while suspended
 * (every third unlocks its own meanwhile, out of order and out of the
 * middle of the robust list); the process is killed: each mutex still held
 * comes back with -EOWNERDEAD, the others free. With a few, and with more
 * held at once than the thread's registry keeps (64). */
#define MANYHELD 100

struct held {
	conc_mutex m[MANYHELD];
	uint32_t count, n, started;
};

static int hold_one(void *arg)
{
	struct held *h = arg;
	uint32_t i = __atomic_fetch_add(&h->started, 1, __ATOMIC_RELAXED);

	if (conc_mutex_lock(&h->m[i]))
		return 1;
	conc_sleep((int64_t)(i * 7 % 13) * MS);
	if (i % 3 == 1 && conc_mutex_unlock(&h->m[i]))
		return 2;
	__atomic_fetch_add(&h->n, 1, __ATOMIC_RELEASE);
	conc_sleep(BOUND);
	return 0;
}

static int hold_main(void *arg)
{
	struct held *h = arg;
	conc_task *t;
	uint32_t i;

	for (i = 0; i < h->count; i++)
		if (conc_go(&t, hold_one, h, NULL))
			return 1;
	conc_sleep(BOUND);
	return 0;
}

static int hold_proc(void *arg)
{
	int code = -1;

	conc_run(hold_main, arg, &code);
	return 2;
}

static void killed_holders(uint32_t count)
{
	int fb;
	uint32_t i;

	EACH_FUTEX_MODE(fb) {
		struct held *h = shared_alloc(sizeof(*h));
		pid_t pid;
		int wrong = 0, first = -1, fr = 0;

		h->count = count;
		for (i = 0; i < count; i++)
			conc_mutex_init(&h->m[i], CONC_ROBUST);
		pid = fork_child(hold_proc, h);
		cr_assert(until(&h->n, count) == 0, "fallback %d: %u held", fb, h->n);
		kill(pid, SIGKILL);
		wait_child(pid, 10000);
		for (i = 0; i < count; i++) {
			int r = conc_mutex_timedlock(&h->m[i], 1 * SEC);

			if (r != (i % 3 == 1 ? 0 : -EOWNERDEAD) && wrong++ == 0) {
				first = (int)i;
				fr = r;
			}
			if (r == -EOWNERDEAD)
				conc_mutex_consistent(&h->m[i]);
			if (r == 0 || r == -EOWNERDEAD)
				conc_mutex_unlock(&h->m[i]);
		}
		cr_expect_eq(wrong, 0, "fallback %d: %d wrong, first mutex %d: %d",
			     fb, wrong, first, fr);
		shared_free(h, sizeof(*h));
	}
}

Test(loop_cross, killed_process_tasks_robust_mutexes) { killed_holders(8); }

Test(loop_cross, killed_process_tasks_hold_a_hundred_robust_mutexes)
{
	killed_holders(MANYHELD);
}

/* A thread that ends holding a robust mutex: the task waiting for it gets
 * it with -EOWNERDEAD (the kernel's wake at the thread's death is a shared
 * one, whatever flags the mutex has). */
struct tdeath {
	conc_mutex m;
	uint32_t held, waiting;
	pid_t tid;		/* the loop's thread */
	int (*thread)(void *);	/* takes m and ends without unlocking */
};

/* A loop's thread sleeps in its ring only when none of its tasks can
 * run: a task that said it waits is then suspended in that wait. */
static const long in_ring[] = { SYS_io_uring_enter, -1 };

/* Ends once the task is seen suspended in its lock: the wake-up at the
 * thread's death is what ends the task's wait, in every run. */
static int die_holding(void *arg)
{
	struct tdeath *d = arg;

	if (conc_mutex_lock(&d->m))
		return 1;
	__atomic_store_n(&d->held, 1, __ATOMIC_RELEASE);
	if (until(&d->waiting, 1) ||
	    !wait_blocked_in(d->tid, NULL, in_ring, 30000))
		return 2;
	return 0;
}

static int tdeath_main(void *arg)
{
	struct tdeath *d = arg;
	conc_thread *th;
	int r, code = -1;

	if (conc_thread_start(&th, d->thread, d, NULL))
		return -1;
	if (until(&d->held, 1))
		return -2;
	d->tid = conc_gettid();
	__atomic_store_n(&d->waiting, 1, __ATOMIC_RELEASE);
	r = conc_mutex_timedlock(&d->m, BOUND);
	if (conc_thread_join(th, &code, BOUND) || code)
		return -3;
	if (r == -EOWNERDEAD) {
		conc_mutex_consistent(&d->m);
		conc_mutex_unlock(&d->m);
	}
	return r;
}

Test(loop_cross, thread_ends_holding_a_robust_mutex)
{
	static const unsigned kinds[] = { CONC_ROBUST, CONC_ROBUST | CONC_PRIVATE,
		CONC_ROBUST | CONC_RECURSIVE };
	int fb;
	unsigned k;

	EACH_FUTEX_MODE(fb) {
		EACH_KIND(k, kinds) {
			struct tdeath d = { .thread = die_holding };
			int r;

			conc_mutex_init(&d.m, kinds[k]);
			r = run(tdeath_main, &d);
			cr_expect_eq(r, -EOWNERDEAD, "fallback %d flags %#x: %d",
				     fb, kinds[k], r);
		}
	}
}

/* Robust semaphores: the permit belongs to the task that took it. */
struct rs {
	conc_rsem *s;
	uint32_t held, n;
	int r[4];
	pid_t pid;
};

static int rs_hold(void *arg)
{
	struct rs *x = arg;

	if (conc_rsem_timedwait(x->s, BOUND))
		return 1;
	__atomic_fetch_add(&x->held, 1, __ATOMIC_RELEASE);
	conc_sleep(BOUND);
	return 0;
}

static int rs_holders_main(void *arg)
{
	struct rs *x = arg;
	conc_task *t[4];
	uint32_t i;

	for (i = 0; i < x->n; i++)
		if (conc_go(&t[i], rs_hold, x, NULL))
			return 1;
	conc_sleep(BOUND);
	return 0;
}

static int rs_proc(void *arg)
{
	int code = -1;

	conc_run(rs_holders_main, arg, &code);
	return 2;
}

static int rs_waiter(void *arg)
{
	struct rs *x = arg;
	int r = conc_rsem_timedwait(x->s, BOUND);

	return r;
}

static int rs_wait_main(void *arg)
{
	struct rs *x = arg;
	conc_task *t[4], *tk;
	struct sh s = { .stop = 0 };
	uint32_t i;
	int bad = 0, c;

	if (conc_go(&tk, ticker, &s, NULL))
		return -1;
	for (i = 0; i < x->n; i++)
		if (conc_go(&t[i], rs_waiter, x, NULL))
			return -2;
	/* they wait; the holders die meanwhile */
	conc_sleep(5 * MS);
	kill(x->pid, SIGKILL);
	for (i = 0; i < x->n; i++) {
		if (conc_task_join(t[i], &c, BOUND + SEC))
			return -3;
		if (c != -EOWNERDEAD && c != 0)
			bad = c;
		if (c == -EOWNERDEAD)
			x->r[0]++;
	}
	s.stop = 1;
	conc_task_join(tk, NULL, BOUND);
	return bad;
}

/* Tasks of another process hold every permit; it is killed while tasks
 * here wait: they get them all back, the first told -EOWNERDEAD. */
Test(loop_cross, rsem_holder_tasks_killed)
{
	conc_rsem_attr at = { .permits = 3 };
	struct rs *x = shared_alloc(sizeof(*x));
	pid_t pid;
	int r;

	need_uring();
	cr_assert_eq(conc_rsem_create(&x->s, &at), 0);
	x->n = 3;
	pid = fork_child(rs_proc, x);
	x->pid = pid;
	cr_assert(until(&x->held, 3) == 0);
	r = run(rs_wait_main, x);
	kill(pid, SIGKILL);
	wait_child(pid, 10000);
	cr_expect_eq(r, 0, "%d", r);
	cr_expect_geq(x->r[0], 1, "someone is told of the death");
	conc_rsem_destroy(x->s);
	shared_free(x, sizeof(*x));
}

/* Two tasks of one loop and a one-permit robust semaphore: the second
 * waits for the first, which alone can post it. */
static int rs_second(void *arg)
{
	struct rs *x = arg;

	x->r[1] = conc_rsem_post(x->s);		/* not its permit */
	x->r[2] = conc_rsem_timedwait(x->s, BOUND);
	if (x->r[2] == 0)
		x->r[3] = conc_rsem_post(x->s);
	return 0;
}

static int rs_two_main(void *arg)
{
	struct rs *x = arg;
	conc_task *t;
	int r;

	if ((r = conc_rsem_timedwait(x->s, BOUND)))
		return r;
	if (conc_go(&t, rs_second, x, NULL))
		return -1;
	conc_sleep(5 * MS);
	if (conc_task_join(t, NULL, 0) != -ETIMEDOUT)
		return -2;	/* it did not wait */
	if ((r = conc_rsem_post(x->s)))
		return -100 + r;
	return conc_task_join(t, NULL, BOUND);
}

Test(loop_cross, rsem_two_tasks)
{
	struct rs x = { .n = 0 };
	int r;

	need_uring();
	cr_assert_eq(conc_rsem_create(&x.s, NULL), 0);
	r = run(rs_two_main, &x);
	cr_expect_eq(r, 0, "%d", r);
	cr_expect_eq(x.r[1], -EPERM, "another task posts: %d", x.r[1]);
	cr_expect_eq(x.r[2], 0, "%d", x.r[2]);
	cr_expect_eq(x.r[3], 0, "%d", x.r[3]);
	conc_rsem_destroy(x.s);
}

/* Two-step gets and tasks: a second task of the same loop waits for the
 * first's commit; a process killed between begin and commit leaves the
 * message to the task waiting here. */
struct qb {
	conc_queue *q;
	uint32_t begun;
	int r[4];
	char got[4][8];
	struct sh s;	/* the ticker's, while the get waits */
};

static int qb_second(void *arg)
{
	struct qb *x = arg;

	x->r[1] = (int)conc_queue_get(x->q, x->got[1], sizeof(x->got[1]), BOUND);
	return 0;
}

static int qb_main(void *arg)
{
	struct qb *x = arg;
	conc_task *t;

	if (conc_queue_put(x->q, "one", 4, BOUND) || conc_queue_put(x->q, "two", 4, BOUND))
		return -1;
	x->r[0] = (int)conc_queue_get_begin(x->q, x->got[0], sizeof(x->got[0]), BOUND);
	if (x->r[0] != 4)
		return -2;
	if (conc_go(&t, qb_second, x, NULL))
		return -3;
	conc_sleep(5 * MS);
	if (conc_task_join(t, NULL, 0) != -ETIMEDOUT)
		return -4;	/* it did not wait for the commit */
	if (conc_queue_get_commit(x->q))
		return -5;
	return conc_task_join(t, NULL, BOUND);
}

Test(loop_cross, two_step_get_and_a_second_task)
{
	struct qb x = { .begun = 0 };
	int r;

	need_uring();
	cr_assert_eq(conc_queue_create(&x.q, NULL), 0);
	r = run(qb_main, &x);
	cr_expect_eq(r, 0, "%d", r);
	cr_expect_str_eq(x.got[0], "one");
	cr_expect_eq(x.r[1], 4, "%d", x.r[1]);
	cr_expect_str_eq(x.got[1], "two");
	conc_queue_destroy(x.q);
}

static int qb_begin_and_hang(void *arg)
{
	struct qb *x = arg;
	char b[8];

	if (conc_queue_get_begin(x->q, b, sizeof(b), BOUND) != 4)
		return 1;
	__atomic_store_n(&x->begun, 1, __ATOMIC_RELEASE);
	for (;;)
		sleep_ns(1 * MS);
}

/* The ticker first runs once the get has suspended: its ticks say the get
 * waits and the loop runs on. */
static int qb_wait_main(void *arg)
{
	struct qb *x = arg;
	conc_task *tk;

	if (conc_go(&tk, ticker, &x->s, NULL))
		return -1;
	x->r[0] = (int)conc_queue_get(x->q, x->got[0], sizeof(x->got[0]), BOUND);
	__atomic_store_n(&x->s.stop, 1, __ATOMIC_RELEASE);
	conc_task_join(tk, NULL, BOUND);
	return x->s.ticks > 0 ? 0 : -2;
}

/* Kills the getter once the task's get waits (not after a time: a loaded
 * machine may start the loop after it, and the get then found the dead
 * getter's message at once, before the ticker ran). A get that blocked
 * its thread never lets the ticker tick: no kill, and it times out. */
static void *qb_killer(void *arg)
{
	struct qb *x = arg;

	if (until(&x->s.ticks, 3) == 0)
		kill((pid_t)x->r[3], SIGKILL);
	return NULL;
}

Test(loop_cross, process_killed_between_begin_and_commit)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct qb *x = shared_alloc(sizeof(*x));
		pthread_t th;
		pid_t pid;
		int r;

		cr_assert_eq(conc_queue_create(&x->q, NULL), 0);
		cr_assert_eq(conc_queue_put(x->q, "one", 4, BOUND), 0);
		pid = fork_child(qb_begin_and_hang, x);
		x->r[3] = pid;
		cr_assert(until(&x->begun, 1) == 0);
		pthread_create(&th, NULL, qb_killer, x);
		r = run(qb_wait_main, x);
		join_thread(th, 10000, NULL);
		wait_child(pid, 10000);
		cr_expect_eq(r, 0, "fallback %d: %d", fb, r);
		cr_expect_eq(x->r[0], 4, "fallback %d: %d", fb, x->r[0]);
		cr_expect_str_eq(x->got[0], "one");
		conc_queue_destroy(x->q);
		shared_free(x, sizeof(*x));
	}
}

/* A broadcast to tasks and threads waiting on one condition (a private
 * one requeues the sleepers onto the mutex): every waiter comes back
 * with the mutex, one at a time. */
#define BC_TASKS 50
#define BC_THREADS 2

struct bc {
	conc_mutex m;
	conc_cond c;
	int gen, waiting, done, inside, bad;
};

static int bc_wait(struct bc *b)
{
	int r = conc_mutex_timedlock(&b->m, BOUND);

	if (r)
		return r;
	b->waiting++;
	while (b->gen == 0 && r == 0)
		r = conc_cond_wait(&b->c, &b->m, BOUND);
	if (++b->inside != 1)
		b->bad = 1;
	if (conc_task_self())
		conc_yield();	/* others must not get in meanwhile */
	b->inside--;
	b->done++;
	if (conc_mutex_unlock(&b->m))
		return -1000;
	return r;
}

static int bc_task(void *arg)
{
	return bc_wait(arg);
}

static void *bc_thread(void *arg)
{
	return (void *)(intptr_t)bc_wait(arg);
}

static int bc_main(void *arg)
{
	struct bc *b = arg;
	conc_task *t[BC_TASKS];
	int i, bad = 0, w;
	int64_t end = now_ns() + BOUND;

	for (i = 0; i < BC_TASKS; i++)
		if (conc_go(&t[i], bc_task, b, NULL))
			return -1;
	do {
		conc_sleep(1 * MS);
		conc_mutex_lock(&b->m);
		w = b->waiting;
		conc_mutex_unlock(&b->m);
	} while (w < BC_TASKS + BC_THREADS && now_ns() < end);
	conc_mutex_lock(&b->m);
	b->gen = 1;
	conc_cond_broadcast(&b->c);
	conc_mutex_unlock(&b->m);
	bad += join_all(t, BC_TASKS, BOUND);
	return bad;
}

Test(loop_cross, broadcast_to_tasks_and_threads)
{
	static const unsigned kinds[] = { 0, CONC_PRIVATE };
	int fb;
	unsigned k;

	EACH_FUTEX_MODE(fb) {
		EACH_KIND(k, kinds) {
			struct bc b = { .gen = 0 };
			pthread_t th[BC_THREADS];
			void *tr;
			int i, r;

			conc_mutex_init(&b.m, kinds[k]);
			conc_cond_init(&b.c, kinds[k]);
			for (i = 0; i < BC_THREADS; i++)
				pthread_create(&th[i], NULL, bc_thread, &b);
			r = run(bc_main, &b);
			for (i = 0; i < BC_THREADS; i++) {
				tr = (void *)-1;
				cr_expect_eq(join_thread(th[i], 20000, &tr), 0);
				cr_expect_null(tr, "fallback %d flags %#x thread: %p",
					       fb, kinds[k], tr);
			}
			cr_expect_eq(r, 0, "fallback %d flags %#x: %d tasks failed",
				     fb, kinds[k], r);
			cr_expect_eq(b.done, BC_TASKS + BC_THREADS);
			cr_expect_eq(b.bad, 0, "two inside at once");
		}
	}
}

/* Tasks requeued onto the mutex by a broadcast, cancelled there while
 * the mutex is still held: each comes back once, owning the mutex
 * (-ECANCELED for the cancelled ones, 0 for the others). */
#define RQ 16

struct rq {
	conc_mutex m;
	conc_cond c;
	int gen, waiting, inside, bad, r[RQ];
};

static int rq_task(void *arg)
{
	struct rq *q = arg;
	int i, r = conc_mutex_timedlock(&q->m, BOUND);

	if (r)
		return r;
	i = q->waiting++;
	while (q->gen == 0 && r == 0)
		r = conc_cond_wait(&q->c, &q->m, BOUND);
	q->r[i] = r;
	if (++q->inside != 1)
		q->bad = 1;
	conc_yield();
	q->inside--;
	return conc_mutex_unlock(&q->m) ? -1000 : 0;
}

static int rq_main(void *arg)
{
	struct rq *q = arg;
	conc_task *t[RQ];
	int i, bad = 0;

	for (i = 0; i < RQ; i++)
		if (conc_go(&t[i], rq_task, q, NULL))
			return -1;
	for (i = 0; i < 100 && q->waiting < RQ; i++)
		conc_sleep(1 * MS);
	if (conc_mutex_timedlock(&q->m, BOUND))
		return -2;
	q->gen = 1;
	conc_cond_broadcast(&q->c);
	conc_yield();
	for (i = 0; i < RQ; i += 2)
		conc_task_cancel(t[i]);
	conc_sleep(2 * MS);
	conc_mutex_unlock(&q->m);
	bad += join_all(t, RQ, BOUND);
	return bad;
}

Test(loop_cross, tasks_cancelled_after_a_broadcast)
{
	static const unsigned kinds[] = { 0, CONC_PRIVATE };
	int fb, i;
	unsigned k;

	EACH_FUTEX_MODE(fb) {
		EACH_KIND(k, kinds) {
			struct rq q = { .gen = 0 };
			int r;

			conc_mutex_init(&q.m, kinds[k]);
			conc_cond_init(&q.c, kinds[k]);
			r = run(rq_main, &q);
			cr_expect_eq(r, 0, "fallback %d flags %#x: %d tasks failed",
				     fb, kinds[k], r);
			cr_expect_eq(q.bad, 0, "two inside at once");
			for (i = 0; i < RQ; i++)
				cr_expect(q.r[i] == 0 || q.r[i] == -ECANCELED,
					  "fallback %d flags %#x waiter %d: %d",
					  fb, kinds[k], i, q.r[i]);
		}
	}
}

/* Many tasks and a thread contend for one mutex; many tasks wait on one
 * event set by another process. */
#define CROWD 1000

struct crowd {
	conc_mutex m;
	conc_event ev;
	uint32_t inside, bad, passes, set_now;
};

static int crowd_task(void *arg)
{
	struct crowd *c = arg;
	int i, r;

	for (i = 0; i < 5; i++) {
		if ((r = conc_mutex_timedlock(&c->m, 30 * SEC)))
			return r;
		if (__atomic_add_fetch(&c->inside, 1, __ATOMIC_SEQ_CST) != 1)
			c->bad = 1;
		if (i % 2)
			conc_yield();
		__atomic_sub_fetch(&c->inside, 1, __ATOMIC_SEQ_CST);
		c->passes++;
		if ((r = conc_mutex_unlock(&c->m)))
			return r - 1000;
		conc_yield();
	}
	return 0;
}

static void *crowd_thread(void *arg)
{
	struct crowd *c = arg;
	int i;

	for (i = 0; i < 2000; i++) {
		if (conc_mutex_timedlock(&c->m, 30 * SEC))
			return (void *)1;
		if (__atomic_add_fetch(&c->inside, 1, __ATOMIC_SEQ_CST) != 1)
			c->bad = 1;
		__atomic_sub_fetch(&c->inside, 1, __ATOMIC_SEQ_CST);
		if (conc_mutex_unlock(&c->m))
			return (void *)2;
	}
	return NULL;
}

static int crowd_main(void *arg)
{
	struct crowd *c = arg;
	static conc_task *ts[CROWD];
	int i, bad = 0;

	for (i = 0; i < CROWD; i++)
		if (conc_go(&ts[i], crowd_task, c, NULL))
			return -1;
	bad += join_all(ts, CROWD, 40 * SEC);
	return bad;
}

Test(loop_cross, a_thousand_tasks_and_a_thread_contend, .timeout = 120)
{
	static const unsigned kinds[] = { 0, CONC_PRIVATE, CONC_ROBUST };
	int fb;
	unsigned k;

	EACH_FUTEX_MODE(fb) {
		EACH_KIND(k, kinds) {
			struct crowd c = { .inside = 0 };
			pthread_t th;
			void *tr = (void *)-1;
			int r;

			conc_mutex_init(&c.m, kinds[k]);
			pthread_create(&th, NULL, crowd_thread, &c);
			r = run(crowd_main, &c);
			cr_expect_eq(join_thread(th, 60000, &tr), 0);
			cr_expect_null(tr);
			cr_expect_eq(r, 0, "fallback %d flags %#x: %d tasks failed",
				     fb, kinds[k], r);
			cr_expect_eq(c.bad, 0, "two inside at once");
			cr_expect_eq(c.passes, CROWD * 5);
		}
	}
}

static int crowd_event_task(void *arg)
{
	struct crowd *c = arg;
	int r = conc_event_wait(&c->ev, 30 * SEC);

	if (r == 0)
		__atomic_fetch_add(&c->passes, 1, __ATOMIC_RELAXED);
	return r;
}

static int crowd_event_main(void *arg)
{
	struct crowd *c = arg;
	static conc_task *ts[CROWD];
	int i, bad = 0;

	for (i = 0; i < CROWD; i++)
		if (conc_go(&ts[i], crowd_event_task, c, NULL))
			return -1;
	conc_sleep(2 * MS);
	__atomic_store_n(&c->set_now, 1, __ATOMIC_RELEASE);
	bad += join_all(ts, CROWD, 40 * SEC);
	return bad;
}

static int crowd_setter(void *arg)
{
	struct crowd *c = arg;

	if (until(&c->set_now, 1))
		return 1;
	return conc_event_set(&c->ev) ? 2 : 0;
}

Test(loop_cross, a_thousand_tasks_wait_on_an_event_set_by_a_process, .timeout = 120)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct crowd *c = shared_alloc(sizeof(*c));
		pid_t pid;
		int r, st;

		conc_event_init(&c->ev, 0);
		pid = fork_child(crowd_setter, c);
		r = run(crowd_event_main, c);
		st = wait_child(pid, 10000);
		cr_expect(exited_with(st, 0));
		cr_expect_eq(r, 0, "fallback %d: %d tasks failed", fb, r);
		cr_expect_eq(c->passes, CROWD);
		shared_free(c, sizeof(*c));
	}
}

/* Several tasks wait on futures of one pool at once, one of whose
 * workers dies (replaced from inside the loop): every task gets its
 * result or the worker's death, and the loop runs meanwhile. */
#define FUTS 8

static ssize_t fut_fn(const void *arg, size_t len, void *out, size_t cap)
{
	int i = *(const int *)arg;

	(void)len;
	sleep_ns(10 * MS);
	if (i == 3)
		raise(SIGKILL);
	if (cap < sizeof(i))
		return -EIO;
	memcpy(out, &i, sizeof(i));
	return sizeof(i);
}

struct fut {
	conc_pool *p;
	int i, r;
};

static int fut_task(void *arg)
{
	struct fut *f = arg;
	conc_future *fu;
	int v = -1, r;
	ssize_t n;

	if ((r = conc_pool_submit(f->p, fut_fn, &f->i, sizeof(f->i), &fu)))
		return r;
	r = conc_future_wait(fu, BOUND);
	if (r == 0) {
		n = conc_future_result(fu, &v, sizeof(v));
		r = f->i == 3 ? (n == -ECHILD ? 0 : -2000) :
		    n == sizeof(v) && v == f->i ? 0 : -1000;
	}
	conc_future_release(fu);
	return r;
}

static int fut_main(void *arg)
{
	struct fut *f = arg;
	conc_task *t[FUTS], *tk;
	struct sh s = { .stop = 0 };
	int i, c, bad = 0;

	if (conc_go(&tk, ticker, &s, NULL))
		return -1;
	for (i = 0; i < FUTS; i++)
		if (conc_go(&t[i], fut_task, &f[i], NULL))
			return -2;
	for (i = 0; i < FUTS; i++) {
		if (conc_task_join(t[i], &c, BOUND + SEC))
			return -3;
		f[i].r = c;
		if (c)
			bad++;
	}
	s.stop = 1;
	conc_task_join(tk, NULL, BOUND);
	return bad;
}

Test(loop_cross, tasks_wait_on_futures_of_one_pool, .timeout = 60)
{
	conc_pool_attr a = { .workers = 2 };
	struct fut f[FUTS];
	conc_pool *p;
	int i, r;

	need_uring();
	cr_assert_eq(conc_pool_create(&p, &a), 0);
	for (i = 0; i < FUTS; i++)
		f[i] = (struct fut){ .p = p, .i = i, .r = -1 };
	r = run(fut_main, f);
	for (i = 0; i < FUTS; i++)
		cr_expect_eq(f[i].r, 0, "task %d: %d", i, f[i].r);
	cr_expect_eq(r, 0, "%d", r);
	cr_expect_eq(conc_pool_destroy(p), 0);
}

/* A cancel that comes as the round ends: the task either gets -ECANCELED
 * from the barrier, or passes it and gets the cancel from its next
 * suspending call; never neither (a cancel lost would leave a task that
 * conc_run's end cannot stop). */
struct bcan {
	conc_barrier b;
	int yields, r1, r2;
};

static int bcan_task(void *arg)
{
	struct bcan *x = arg;

	x->r1 = conc_barrier_wait_timed(&x->b, BOUND);
	x->r2 = x->r1 == -ECANCELED ? -ECANCELED : conc_sleep(50 * MS);
	return 0;
}

static int bcan_main(void *arg)
{
	struct bcan *x = arg;
	conc_task *t;
	int i;

	if (conc_go(&t, bcan_task, x, NULL))
		return -1;
	conc_sleep(1 * MS);	/* it sleeps on the barrier */
	conc_task_cancel(t);
	for (i = 0; i < x->yields; i++)
		conc_yield();
	conc_barrier_wait_timed(&x->b, 0);
	return conc_task_join(t, NULL, BOUND);
}

Test(loop_cross, barrier_cancel_as_the_round_ends)
{
	int fb, y;

	EACH_FUTEX_MODE(fb) {
		for (y = 0; y < 4; y++) {
			struct bcan x = { .yields = y, .r1 = 1, .r2 = 1 };
			int r;

			conc_barrier_init(&x.b, 2, 0);
			r = run(bcan_main, &x);
			cr_expect_eq(r, 0);
			cr_expect(x.r1 == -ECANCELED || x.r1 == 0 || x.r1 == CONC_BARRIER_SERIAL,
				  "fallback %d yields %d: barrier %d", fb, y, x.r1);
			cr_expect_eq(x.r2, -ECANCELED,
				     "fallback %d yields %d: barrier %d, then %d: the cancel was lost",
				     fb, y, x.r1, x.r2);
		}
	}
}

/* The same with the last party a thread, racing the cancel. */
struct bcan2 {
	conc_barrier b;
	uint32_t go, ended;
	int lost, passed;
};

static void *bcan2_thread(void *arg)
{
	struct bcan2 *x = arg;
	uint32_t i;

	for (i = 1; i <= RACES; i++) {
		if (spin_until(&x->go, i))
			return (void *)1;
		conc_barrier_wait_timed(&x->b, 0);
		__atomic_store_n(&x->ended, i, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int bcan2_task(void *arg)
{
	struct bcan2 *x = arg;
	int r = conc_barrier_wait_timed(&x->b, BOUND);

	if (r == -ECANCELED)
		return 0;
	x->passed++;
	/* passed: the cancel is still there for the next call (a sleep
	 * that ends with 0 is a cancel lost, however long it is) */
	return conc_sleep(50 * MS) == -ECANCELED ? 0 : 1;
}

static int bcan2_main(void *arg)
{
	struct bcan2 *x = arg;
	uint32_t i;

	for (i = 1; i <= RACES; i++) {
		conc_task *t;
		int k, c = -1;

		conc_barrier_init(&x->b, 2, 0);
		if (conc_go(&t, bcan2_task, x, NULL))
			return -1;
		conc_yield();
		conc_yield();
		__atomic_store_n(&x->go, i, __ATOMIC_RELEASE);
		for (k = 0; k < (int)(i % 32) * 50; k++)
			__asm__ __volatile__("" ::: "memory");
		conc_task_cancel(t);
		if (conc_task_join(t, &c, BOUND))
			return -2;
		if (c)
			x->lost++;
		if (until(&x->ended, i))
			return -3;
	}
	return 0;
}

Test(loop_cross, barrier_cancel_racing_a_thread_arrival, .timeout = 120)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct bcan2 x = { .go = 0 };
		pthread_t th;
		void *tr = (void *)-1;
		int r;

		pthread_create(&th, NULL, bcan2_thread, &x);
		r = run(bcan2_main, &x);
		if (r)
			__atomic_store_n(&x.go, RACES, __ATOMIC_RELEASE);
		cr_expect_eq(join_thread(th, 20000, &tr), 0);
		if (getenv("PROBE_VERBOSE"))
			fprintf(stderr, "barrier fb%d: passed %d of %d, lost %d\n",
				fb, x.passed, RACES, x.lost);
		cr_expect_eq(r, 0, "fallback %d: %d", fb, r);
		cr_expect_eq(x.lost, 0, "fallback %d: %d cancels lost (%d passed)",
			     fb, x.lost, x.passed);
	}
}

/* A long message's send cancelled after a part went: as after a timeout,
 * the peer gets what came before, then -EPROTO; later sends -EPIPE. A long
 * receive cancelled half way: the next receive takes the message up. */
#define BIG (1 << 20)

struct big {
	conc_chan *a, *b;
	char *buf;
	uint32_t go;
	int r[4];
};

/* A channel pair and a buffer of BIG bytes; main runs as a loop's task. */
static void big_run(struct big *x, int (*main)(void *))
{
	int r;

	need_uring();
	x->buf = calloc(1, BIG);
	cr_assert_not_null(x->buf);
	cr_assert_eq(conc_chan_pair(&x->a, &x->b, 0), 0);
	r = run(main, x);
	cr_expect_eq(r, 0, "%d", r);
}

static void big_end(struct big *x)
{
	conc_chan_close(x->a);
	conc_chan_close(x->b);
	free(x->buf);
}

static int big_send(void *arg)
{
	struct big *x = arg;

	return conc_chan_send(x->a, x->buf, BIG, BOUND);
}

static int big_send_main(void *arg)
{
	struct big *x = arg;
	conc_task *t;
	char small[8];
	int c = 1;

	if (conc_chan_send(x->a, "first", 6, BOUND))
		return -1;
	if (conc_go(&t, big_send, x, NULL))
		return -2;
	conc_sleep(5 * MS);	/* it filled the pipe and waits for room */
	conc_task_cancel(t);
	if (conc_task_join(t, &c, BOUND))
		return -3;
	x->r[0] = c;
	x->r[1] = (int)conc_chan_recv(x->b, small, sizeof(small), BOUND);
	x->r[2] = (int)conc_chan_recv(x->b, x->buf, BIG, 100 * MS);
	x->r[3] = conc_chan_send(x->a, "later", 6, BOUND);
	return 0;
}

Test(loop_cross, long_send_cancelled_half_way)
{
	struct big x = { .go = 0 };

	big_run(&x, big_send_main);
	cr_expect_eq(x.r[0], -ECANCELED, "send: %d", x.r[0]);
	cr_expect_eq(x.r[1], 6, "the message before: %d", x.r[1]);
	cr_expect_eq(x.r[2], -EPROTO, "the torn one: %d", x.r[2]);
	cr_expect_eq(x.r[3], -EPIPE, "a later send: %d", x.r[3]);
	big_end(&x);
}

/* The long receive's sender is a child that the main task stops (SIGSTOP)
 * before the receive starts, while the pipe holds a part of a message four
 * times the pipe's size: the receive takes every byte that came and waits
 * for the rest, whatever the load, when it is cancelled. */
struct bigr {
	conc_chan *a, *b;
	char *buf;
	size_t len;
	pid_t pid;
	int r[3];
};

static int bigr_send(void *arg)
{
	struct bigr *x = arg;
	char *m = malloc(x->len);

	if (!m)
		return 1;
	memset(m, 7, x->len);
	return conc_chan_send(x->a, m, x->len, BOUND) ? 2 : 0;
}

static int bigr_recv(void *arg)
{
	struct bigr *x = arg;

	return (int)conc_chan_recv(x->b, x->buf, x->len, BOUND);
}

/* Bytes waiting in the pipe of fd, -1 if unknown. */
static int pipe_holds(int fd)
{
	int n = -1;

	return ioctl(fd, FIONREAD, &n) ? -1 : n;
}

static int bigr_main(void *arg)
{
	struct bigr *x = arg;
	int fd = conc_chan_rfd(x->b), c = 1, i;
	conc_task *t;
	siginfo_t si;

	/* The thread sleeps, not the task: nothing reads meanwhile. */
	for (i = 0; pipe_holds(fd) <= 0 && i < 30000; i++)
		sleep_ns(1 * MS);
	if (pipe_holds(fd) <= 0)
		return -6;	/* nothing came in 30 s */
	if (kill(x->pid, SIGSTOP) ||
	    waitid(P_PID, (id_t)x->pid, &si, WSTOPPED))
		return -1;
	if (conc_go(&t, bigr_recv, x, NULL))
		return -2;
	for (i = 0; pipe_holds(fd) && i < 10000; i++)
		conc_sleep(1 * MS);
	if (pipe_holds(fd))
		return -3;	/* the receive took nothing */
	conc_task_cancel(t);
	if (conc_task_join(t, &c, BOUND))
		return -4;
	x->r[0] = c;
	kill(x->pid, SIGCONT);
	x->r[1] = (int)conc_chan_recv(x->b, x->buf, x->len, BOUND);
	for (i = 0; i < (int)x->len; i++)
		if (x->buf[i] != 7)
			return -5;
	return 0;
}

Test(loop_cross, long_receive_cancelled_half_way)
{
	struct bigr x = { .pid = -1 };
	int r, size;

	need_uring();
	cr_assert_eq(conc_chan_pair(&x.a, &x.b, 0), 0);
	size = fcntl(conc_chan_wfd(x.a), F_GETPIPE_SZ);
	cr_assert_gt(size, 0);
	x.len = 4 * (size_t)size;
	x.buf = calloc(1, x.len);
	cr_assert_not_null(x.buf);
	x.pid = fork_child(bigr_send, &x);
	cr_assert_gt(x.pid, 0);
	r = run(bigr_main, &x);
	kill(x.pid, SIGCONT);
	x.r[2] = wait_child(x.pid, 30000);
	cr_expect_eq(r, 0, "%d", r);
	cr_expect_eq(x.r[0], -ECANCELED, "receive: %d", x.r[0]);
	cr_expect_eq(x.r[1], (int)x.len, "taken up again: %d", x.r[1]);
	cr_expect(exited_with(x.r[2], 0), "the sender: %d", x.r[2]);
	conc_chan_close(x.a);
	conc_chan_close(x.b);
	free(x.buf);
}

/* Tasks consume a queue fed by another process while the main task
 * cancels them at random: every message is received once, or is still in
 * the queue; none lost, none twice. */
#define QMSGS 3000
#define QTASKS 20

struct qx {
	conc_queue *q;
	uint32_t fed, stop;
	uint8_t seen[QMSGS];
	int dup, bad;
};

static int qx_producer(void *arg)
{
	struct qx *x = arg;
	uint32_t i;

	for (i = 0; i < QMSGS; i++)
		if (conc_queue_put(x->q, &i, sizeof(i), BOUND))
			return 1;
	__atomic_store_n(&x->fed, 1, __ATOMIC_RELEASE);
	return 0;
}

static void qx_take(struct qx *x, uint32_t v, ssize_t n)
{
	if (n != sizeof(v) || v >= QMSGS) {
		x->bad++;
		return;
	}
	if (x->seen[v]++)
		x->dup++;
}

static int qx_consumer(void *arg)
{
	struct qx *x = arg;
	uint32_t v;
	ssize_t n;

	for (;;) {
		n = conc_queue_get(x->q, &v, sizeof(v), 20 * MS);
		if (n == -ECANCELED)
			return 0;
		if (n == -ETIMEDOUT) {
			if (__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE))
				return 0;
			continue;
		}
		if (n < 0)
			return (int)n;
		qx_take(x, v, n);
	}
}

static int qx_main(void *arg)
{
	struct qx *x = arg;
	conc_task *t[QTASKS];
	unsigned seed = 12345;
	int i, c, bad = 0, rounds = 0;
	uint32_t v;
	ssize_t n;

	for (i = 0; i < QTASKS; i++)
		if (conc_go(&t[i], qx_consumer, x, NULL))
			return -1;
	while (!__atomic_load_n(&x->fed, __ATOMIC_ACQUIRE) && rounds++ < 20000) {
		i = (int)((seed = seed * 1103515245 + 12345) >> 16) % QTASKS;
		conc_task_cancel(t[i]);
		if (conc_task_join(t[i], &c, BOUND) || c)
			bad++;
		if (conc_go(&t[i], qx_consumer, x, NULL))
			return -2;
		conc_yield();
	}
	/* The feeding may outlast the rounds (at 12,000 to 19,000 of them
	 * here with the futex fallback, on a quiet machine): the consumers
	 * take the rest, and stop only once every message is in; stopped
	 * earlier, a pause of the producer longer than their 20 ms left its
	 * last messages to nobody. */
	if (until(&x->fed, 1))
		bad++;
	__atomic_store_n(&x->stop, 1, __ATOMIC_RELEASE);
	bad += join_all(t, QTASKS, BOUND);
	/* what is left */
	while ((n = conc_queue_get(x->q, &v, sizeof(v), 0)) >= 0)
		qx_take(x, v, n);
	return bad;
}

Test(loop_cross, queue_consumers_cancelled_at_random, .timeout = 120)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct qx *x = shared_alloc(sizeof(*x));
		conc_queue_attr qa = { .capacity = 16, .max_msg = 16 };
		pid_t pid;
		int r, st, i, missing = 0;

		cr_assert_eq(conc_queue_create(&x->q, &qa), 0);
		pid = fork_child(qx_producer, x);
		r = run(qx_main, x);
		st = wait_child(pid, 30000);
		cr_expect(exited_with(st, 0), "fallback %d: producer %d", fb, st);
		for (i = 0; i < QMSGS; i++)
			if (!x->seen[i])
				missing++;
		cr_expect_eq(r, 0, "fallback %d: %d", fb, r);
		cr_expect_eq(missing, 0, "fallback %d: %d messages lost", fb, missing);
		cr_expect_eq(x->dup, 0, "fallback %d: %d twice", fb, x->dup);
		cr_expect_eq(x->bad, 0, "fallback %d: %d bad", fb, x->bad);
		conc_queue_destroy(x->q);
		shared_free(x, sizeof(*x));
	}
}

/* The other way: tasks put into a small queue drained by another process
 * while the main task cancels them at random: a put that returned 0 is
 * received once, one that returned -ECANCELED never. */
struct qp {
	conc_queue *q;
	uint32_t next, done;
	uint8_t ok[QMSGS], got[QMSGS];
	int bad;
};

static int qp_consumer(void *arg)
{
	struct qp *x = arg;
	uint32_t v;
	ssize_t n;

	for (;;) {
		n = conc_queue_get(x->q, &v, sizeof(v), 50 * MS);
		if (n == -ETIMEDOUT) {
			if (__atomic_load_n(&x->done, __ATOMIC_ACQUIRE))
				return 0;
			continue;
		}
		if (n != sizeof(v) || v >= QMSGS)
			return 1;
		x->got[v]++;
	}
}

static int qp_producer(void *arg)
{
	struct qp *x = arg;
	uint32_t v;
	int r;

	while ((v = x->next++) < QMSGS) {
		r = conc_queue_put(x->q, &v, sizeof(v), BOUND);
		if (r == -ECANCELED)
			return 0;
		if (r)
			return r;
		x->ok[v] = 1;
	}
	return 0;
}

static int qp_main(void *arg)
{
	struct qp *x = arg;
	conc_task *t[QTASKS];
	unsigned seed = 54321;
	int i, c, bad = 0;

	for (i = 0; i < QTASKS; i++)
		if (conc_go(&t[i], qp_producer, x, NULL))
			return -1;
	while (x->next < QMSGS) {
		i = (int)((seed = seed * 1103515245 + 12345) >> 16) % QTASKS;
		conc_task_cancel(t[i]);
		if (conc_task_join(t[i], &c, BOUND) || c)
			bad++;
		if (conc_go(&t[i], qp_producer, x, NULL))
			return -2;
		conc_yield();
	}
	bad += join_all(t, QTASKS, BOUND);
	return bad;
}

Test(loop_cross, queue_producers_cancelled_at_random, .timeout = 120)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct qp *x = shared_alloc(sizeof(*x));
		conc_queue_attr qa = { .capacity = 4, .max_msg = 16 };
		pid_t pid;
		int r, st, i, wrong = 0, first = -1;

		cr_assert_eq(conc_queue_create(&x->q, &qa), 0);
		pid = fork_child(qp_consumer, x);
		r = run(qp_main, x);
		__atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
		st = wait_child(pid, 30000);
		cr_expect(exited_with(st, 0), "fallback %d: consumer %d", fb, st);
		for (i = 0; i < QMSGS; i++)
			if (x->got[i] != x->ok[i]) {
				wrong++;
				if (first < 0)
					first = i;
			}
		cr_expect_eq(r, 0, "fallback %d: %d", fb, r);
		cr_expect_eq(wrong, 0, "fallback %d: %d wrong (first %d: put %d, got %d)",
			     fb, wrong, first, first >= 0 ? x->ok[first] : 0,
			     first >= 0 ? x->got[first] : 0);
		conc_queue_destroy(x->q);
		shared_free(x, sizeof(*x));
	}
}

/* A task of a loop on another thread holds a robust mutex when its loop
 * ends and the thread with it: the task waiting here gets -EOWNERDEAD. */
static int lend_holder(void *arg)
{
	struct tdeath *x = arg;

	if (conc_mutex_lock(&x->m))
		return 1;
	__atomic_store_n(&x->held, 1, __ATOMIC_RELEASE);
	conc_sleep(BOUND);	/* cancelled as the loop ends, still holding */
	return 0;
}

static int lend_loop_main(void *arg)
{
	struct tdeath *x = arg;
	conc_task *t;

	if (conc_go(&t, lend_holder, x, NULL))
		return 1;
	until(&x->held, 1);
	/* The waiter suspended in its lock: the death is what ends it. */
	if (until(&x->waiting, 1) || !wait_blocked_in(x->tid, NULL, in_ring, 30000))
		return 3;
	return 0;	/* t is cancelled and joined by conc_run */
}

static int lend_thread(void *arg)
{
	int code = -1;

	return conc_run(lend_loop_main, arg, &code) ? 2 : code;
}

Test(loop_cross, robust_mutex_of_a_task_whose_loop_thread_ends)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct tdeath x = { .thread = lend_thread };
		int r;

		conc_mutex_init(&x.m, CONC_ROBUST);
		r = run(tdeath_main, &x);
		cr_expect_eq(r, -EOWNERDEAD, "fallback %d: %d", fb, r);
	}
}

/* A task that ends holding a mutex (a bug of its own, or cancelled at its
 * loop's end) does not hand it to a task of a later loop on the same
 * thread: owners are contexts, and a context of a loop that is gone is
 * nobody's. */
static conc_mutex orphan;
static int orphan_r[3];

static int orphan_holder(void *arg)
{
	(void)arg;
	return conc_mutex_lock(&orphan);
}

static int orphan_loop1(void *arg)
{
	conc_task *t;
	int c = -1;

	(void)arg;
	if (conc_go(&t, orphan_holder, NULL, NULL) || conc_task_join(t, &c, BOUND))
		return -1;
	return c;
}

static int orphan_later(void *arg)
{
	(void)arg;
	orphan_r[0] = conc_mutex_trylock(&orphan);
	orphan_r[1] = conc_mutex_timedlock(&orphan, 1 * MS);
	orphan_r[2] = conc_mutex_unlock(&orphan);
	return 0;
}

static int orphan_loop2(void *arg)
{
	conc_task *t;

	(void)arg;
	if (conc_go(&t, orphan_later, NULL, NULL) || conc_task_join(t, NULL, BOUND))
		return -1;
	return 0;
}

Test(loop_cross, a_task_of_a_later_loop_does_not_own_what_an_ended_one_held)
{
	static const unsigned kinds[] = { 0, CONC_RECURSIVE, CONC_ROBUST };
	unsigned k;

	need_uring();
	EACH_KIND(k, kinds) {
		conc_mutex_init(&orphan, kinds[k]);
		cr_assert_eq(run(orphan_loop1, NULL), 0);
		cr_assert_eq(run(orphan_loop2, NULL), 0);
		cr_expect_eq(orphan_r[0], -EBUSY, "flags %#x: trylock %d", kinds[k], orphan_r[0]);
		cr_expect_eq(orphan_r[1], -ETIMEDOUT, "flags %#x: lock %d", kinds[k], orphan_r[1]);
		cr_expect_eq(orphan_r[2], -EPERM, "flags %#x: unlock %d", kinds[k], orphan_r[2]);
	}
}

/* The main task returns while the others wait on every kind of object:
 * conc_run cancels them all once, each undoes what it began, conc_run
 * returns, and the objects are left free. */
struct wind {
	conc_mutex m;
	conc_cond c;
	conc_sem sem;
	conc_event ev;
	conc_rwlock rw;
	conc_barrier bar;
	conc_queue *q;
	conc_chan *ca, *cb;
	int r[12];
};

static int wind_holder(void *arg)
{
	struct wind *w = arg;

	if (conc_mutex_lock(&w->m) || conc_rwlock_rdlock(&w->rw))
		return 1;
	w->r[0] = conc_sleep(BOUND);
	conc_rwlock_unlock(&w->rw);
	return conc_mutex_unlock(&w->m);
}

static int wind_waiter(void *arg)
{
	struct wind *w = ((struct wind **)arg)[0];
	int k = (int)(intptr_t)((void **)arg)[1], r = 0;
	char b[8];

	switch (k) {
	case 1:
		/* after the holder: it waits, for the mutex or the condition */
		if ((r = conc_mutex_lock(&w->m)))
			break;
		r = conc_cond_wait(&w->c, &w->m, BOUND);
		if (conc_mutex_unlock(&w->m))
			r = -1000;
		break;
	case 2: r = conc_sem_timedwait(&w->sem, BOUND); break;
	case 3: r = conc_event_wait(&w->ev, BOUND); break;
	case 4:
		r = conc_rwlock_timedwrlock(&w->rw, BOUND);
		if (!r)
			conc_rwlock_unlock(&w->rw);
		break;
	case 5: r = (int)conc_queue_get(w->q, b, sizeof(b), BOUND); break;
	case 6: r = conc_barrier_wait_timed(&w->bar, BOUND); break;
	case 7:
		r = conc_mutex_timedlock(&w->m, BOUND);
		if (!r)
			conc_mutex_unlock(&w->m);
		break;
	case 8: r = (int)conc_chan_recv(w->cb, b, sizeof(b), BOUND); break;
	case 9:
		r = conc_rwlock_timedrdlock(&w->rw, BOUND);
		if (!r)
			conc_rwlock_unlock(&w->rw);
		break;
	}
	w->r[k] = r;
	return 0;
}

static int wind_main(void *arg)
{
	struct wind *w = arg;
	static void *args[10][2];
	conc_task *t;
	int k;

	if (conc_go(&t, wind_holder, w, NULL))
		return 1;
	conc_yield();
	for (k = 1; k < 10; k++) {
		args[k][0] = w;
		args[k][1] = (void *)(intptr_t)k;
		if (conc_go(&t, wind_waiter, args[k], NULL))
			return 2;
	}
	conc_sleep(5 * MS);	/* all of them wait now */
	return 0;
}

Test(loop_cross, the_loop_ends_while_tasks_wait_on_everything, .timeout = 60)
{
	int fb, k;

	EACH_FUTEX_MODE(fb) {
		struct wind w;

		memset(&w, 0, sizeof(w));
		for (k = 0; k < 12; k++)
			w.r[k] = 1;
		conc_mutex_init(&w.m, 0);
		conc_cond_init(&w.c, 0);
		conc_sem_init(&w.sem, 0, 0);
		conc_event_init(&w.ev, 0);
		conc_rwlock_init(&w.rw, 0);
		conc_barrier_init(&w.bar, 3, 0);
		cr_assert_eq(conc_queue_create(&w.q, NULL), 0);
		cr_assert_eq(conc_chan_pair(&w.ca, &w.cb, 0), 0);
		cr_assert_eq(run(wind_main, &w), 0);
		cr_expect_eq(w.r[0], -ECANCELED, "fallback %d: holder %d", fb, w.r[0]);
		for (k = 1; k < 10; k++)
			cr_expect(w.r[k] == -ECANCELED || w.r[k] == 0,
				  "fallback %d: waiter %d: %d", fb, k, w.r[k]);
		cr_expect_eq(conc_mutex_trylock(&w.m), 0, "fallback %d: mutex left held", fb);
		conc_mutex_unlock(&w.m);
		cr_expect_eq(conc_rwlock_trywrlock(&w.rw), 0, "fallback %d: rwlock left held", fb);
		conc_rwlock_unlock(&w.rw);
		cr_expect_eq(conc_sem_value(&w.sem), 0);
		conc_queue_destroy(w.q);
		conc_chan_close(w.ca);
		conc_chan_close(w.cb);
	}
}

/* Two loops in two processes send a long message to each other at once
 * over one channel, then receive: no deadlock (a waiting send takes in
 * what the peer sends), both arrive whole. */
struct duo {
	conc_chan *end;
	uint32_t ticks;
};

static int duo_task(void *arg)
{
	struct duo *d = arg;
	char *out = malloc(BIG), *in = malloc(BIG);
	int r, i;

	if (!out || !in)
		return 1;
	memset(out, 'x', BIG);
	r = conc_chan_send(d->end, out, BIG, BOUND);
	if (r == 0)
		r = (int)conc_chan_recv(d->end, in, BIG, BOUND) == BIG ? 0 : 2;
	for (i = 0; r == 0 && i < BIG; i++)
		if (in[i] != 'x')
			r = 3;
	free(out);
	free(in);
	return r;
}

static int duo_main(void *arg)
{
	struct duo *d = arg;
	struct sh s = { .stop = 0 };
	conc_task *t, *tk;
	int c = -1;

	if (conc_go(&tk, ticker, &s, NULL) || conc_go(&t, duo_task, d, NULL))
		return 100;
	if (conc_task_join(t, &c, 3 * BOUND))
		return 101;
	s.stop = 1;
	conc_task_join(tk, NULL, BOUND);
	return c;
}

static int duo_child(void *arg)
{
	int code = -1;

	return conc_run(duo_main, arg, &code) ? 102 : code;
}

Test(loop_cross, two_loops_send_long_messages_to_each_other, .timeout = 60)
{
	conc_chan *a, *b;
	struct duo da, db;
	pid_t pid;
	int r, st;

	need_uring();
	cr_assert_eq(conc_chan_pair(&a, &b, 0), 0);
	db.end = b;
	pid = fork_child(duo_child, &db);
	cr_assert_gt(pid, 0);
	conc_chan_close(b);
	da.end = a;
	r = run(duo_main, &da);
	st = wait_child(pid, 30000);
	cr_expect_eq(r, 0, "here: %d", r);
	cr_expect(exited_with(st, 0), "there: %d", st);
	conc_chan_close(a);
}

/* Several tasks (and a thread) wait for a robust mutex whose holder
 * process is killed: one gets -EOWNERDEAD and repairs, the others then get
 * it in turn with 0. */
#define RWAIT 6

struct rk {
	conc_mutex m;
	uint32_t ready, dead, ok, bad, waiting;
	pid_t loop_tid, thread_tid;
	uint32_t asleep;	/* all were seen waiting before the kill */
};

static int rk_lock(struct rk *x)
{
	int r;

	__atomic_fetch_add(&x->waiting, 1, __ATOMIC_RELEASE);
	r = conc_mutex_timedlock(&x->m, BOUND);
	if (r == -EOWNERDEAD) {
		__atomic_fetch_add(&x->dead, 1, __ATOMIC_RELAXED);
		if (conc_mutex_consistent(&x->m))
			return -1;
	} else if (r == 0) {
		__atomic_fetch_add(&x->ok, 1, __ATOMIC_RELAXED);
	} else {
		__atomic_fetch_add(&x->bad, 1, __ATOMIC_RELAXED);
		return r;
	}
	if (conc_task_self())
		conc_yield();
	return conc_mutex_unlock(&x->m);
}

static int rk_task(void *arg)
{
	return rk_lock(arg);
}

static void *rk_thread(void *arg)
{
	struct rk *x = arg;

	x->thread_tid = gettid();	/* published by rk_lock's count */
	return (void *)(intptr_t)rk_lock(arg);
}

static int rk_main(void *arg)
{
	struct rk *x = arg;
	conc_task *t[RWAIT];
	int i, bad = 0;

	for (i = 0; i < RWAIT; i++)
		if (conc_go(&t[i], rk_task, x, NULL))
			return -1;
	bad += join_all(t, RWAIT, 2 * BOUND);
	return bad;
}

static int rk_hold(void *arg)
{
	struct rk *x = arg;

	if (conc_mutex_lock(&x->m))
		return 1;
	__atomic_store_n(&x->ready, 1, __ATOMIC_RELEASE);
	for (;;)
		sleep_ns(1 * MS);
}

static void *rk_killer(void *arg)
{
	struct rk *x = arg;

	static const long in_futex[] = { SYS_futex, -1 };

	/* The thread in futex(2), the tasks suspended (their loop in its
	 * ring): the holder's death is what ends their waits. */
	if (until(&x->waiting, RWAIT + 1) == 0 &&
	    wait_blocked_in(x->thread_tid, NULL, in_futex, 30000) &&
	    wait_blocked_in(x->loop_tid, NULL, in_ring, 30000))
		__atomic_store_n(&x->asleep, 1, __ATOMIC_RELAXED);
	kill(holder_pid, SIGKILL);
	return NULL;
}

Test(loop_cross, many_wait_for_a_robust_mutex_whose_holder_is_killed)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct rk *x = shared_alloc(sizeof(*x));
		pthread_t th, kt;
		void *tr = (void *)-1;
		int r;

		conc_mutex_init(&x->m, CONC_ROBUST);
		holder_pid = fork_child(rk_hold, x);
		cr_assert_gt(holder_pid, 0);
		cr_assert(until(&x->ready, 1) == 0);
		x->loop_tid = conc_gettid();
		pthread_create(&th, NULL, rk_thread, x);
		pthread_create(&kt, NULL, rk_killer, x);
		r = run(rk_main, x);
		join_thread(th, 30000, &tr);
		join_thread(kt, 30000, NULL);
		wait_child(holder_pid, 10000);
		cr_expect_eq(r, 0, "fallback %d: %d", fb, r);
		cr_expect_null(tr);
		cr_expect_eq(x->asleep, 1, "fallback %d: never all seen waiting", fb);
		cr_expect_eq(x->dead, 1, "fallback %d: %u told of the death", fb, x->dead);
		cr_expect_eq(x->ok, RWAIT, "fallback %d: %u got it after", fb, x->ok);
		cr_expect_eq(x->bad, 0);
		shared_free(x, sizeof(*x));
	}
}
