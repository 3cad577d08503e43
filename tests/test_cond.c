/* tests/test_cond.c — conc_cond with conc_mutex, between threads and between
 * processes. Every wait is bounded; children leave with _exit(). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <conc.h>
#include "helpers.h"

#define MS(ms)	((int64_t)(ms) * 1000000)
/* A wait that must end gives up after BOUND: longer than any join or reap
 * bound below, so that a lost wake-up shows as a stuck worker, not a slow one. */
#define BOUND	MS(30000)
#define REAP_MS	15000

enum { OK = 0, E_LOCK = 10, E_WAIT, E_UNLOCK, E_EXCL, E_OTHER };

/* ---- a crew: n workers, as threads or as forked processes ---- */

enum { MAXN = 16 };

typedef int (*work_fn)(void *arg, int idx);

struct crew {
	int n;
	bool procs;
	work_fn fn;
	void *arg;
	pthread_t t[MAXN];
	pid_t pid[MAXN];
	int idx[MAXN];
	int ret[MAXN];
};

static struct crew *crew_of_thread;	/* one crew at a time per test */

static void *crew_thread(void *p)
{
	int i = *(int *)p;

	crew_of_thread->ret[i] = crew_of_thread->fn(crew_of_thread->arg, i);
	return NULL;
}

static void crew_start(struct crew *c, work_fn fn, void *arg, int n, bool procs)
{
	int i;

	cr_assert_leq(n, MAXN);
	c->n = n;
	c->procs = procs;
	c->fn = fn;
	c->arg = arg;
	crew_of_thread = c;
	for (i = 0; i < n; i++) {
		pid_t parent = getpid();

		c->idx[i] = i;
		c->ret[i] = -1;
		if (procs) {
			c->pid[i] = fork();
			cr_assert_geq(c->pid[i], 0);
			if (c->pid[i] == 0) {
				/* Die with the test process: a failed test
				 * leaves no worker behind. */
				if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 ||
				    getppid() != parent)
					_exit(127);
				_exit(fn(arg, i) & 0xff);
			}
		} else {
			cr_assert_eq(pthread_create(&c->t[i], NULL, crew_thread,
						    &c->idx[i]), 0);
		}
	}
}

static void crew_finish(struct crew *c)
{
	int i;

	for (i = 0; i < c->n; i++) {
		if (c->procs) {
			int st = wait_child(c->pid[i], REAP_MS);

			cr_assert(exited_with(st, OK), "worker %d: status %#x", i, st);
		} else {
			cr_assert_eq(join_thread(c->t[i], REAP_MS, NULL), 0,
				     "worker %d stuck", i);
			cr_assert_eq(c->ret[i], OK, "worker %d returned %d", i, c->ret[i]);
		}
	}
}

/* Wait until worker i (whose kernel thread id is tid) sleeps. */
static void crew_wait_sleeping(struct crew *c, int i, pid_t tid)
{
	cr_assert(wait_thread_sleeping(c->procs ? tid : getpid(), tid, 5000),
		  "worker %d never went to sleep", i);
}

static void *shalloc(size_t n)
{
	void *p = shared_alloc(n);

	cr_assert_not_null(p);
	return p;
}

static void wait_count(const uint32_t *v, uint32_t want)
{
	int64_t end = now_ns() + MS(5000);

	while (__atomic_load_n(v, __ATOMIC_ACQUIRE) < want && now_ns() < end)
		sleep_ns(MS(1) / 4);
	cr_assert_geq(__atomic_load_n(v, __ATOMIC_ACQUIRE), want,
		      "count %u never reached %u", *v, want);
}

/* ---- contract: arguments and ownership ---- */

Test(cond, init_and_null_arguments)
{
	conc_cond c = CONC_COND_INIT;
	conc_mutex m = CONC_MUTEX_INIT;

	cr_assert_eq(conc_cond_init(NULL, 0), -EINVAL);
	cr_assert_eq(conc_cond_init(&c, CONC_RECURSIVE), -EINVAL);
	cr_assert_eq(conc_cond_init(&c, CONC_ROBUST), -EINVAL);
	cr_assert_eq(conc_cond_init(&c, CONC_PRIVATE | 0x40), -EINVAL);
	cr_assert_eq(conc_cond_init(&c, ~0u), -EINVAL);
	cr_assert_eq(conc_cond_init(&c, 0), 0);
	cr_assert_eq(conc_cond_init(&c, CONC_PRIVATE), 0);

	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_cond_wait(NULL, &m, 0), -EINVAL);
	cr_assert_eq(conc_cond_wait(NULL, &m, CONC_FOREVER), -EINVAL);
	cr_assert_eq(conc_cond_wait(&c, NULL, 0), -EINVAL);
	cr_assert_eq(conc_cond_wait(&c, NULL, CONC_FOREVER), -EINVAL);
	cr_assert_eq(conc_cond_signal(NULL), -EINVAL);
	cr_assert_eq(conc_cond_broadcast(NULL), -EINVAL);
	/* The refused waits did not touch the mutex. */
	cr_assert_eq(conc_mutex_unlock(&m), 0);

	/* Nobody waits: both are no-ops. */
	cr_assert_eq(conc_cond_signal(&c), 0);
	cr_assert_eq(conc_cond_broadcast(&c), 0);
}

Test(cond, wait_on_unlocked_mutex_is_eperm, .timeout = 20)
{
	conc_cond c;
	conc_mutex m;

	memset(&c, 0, sizeof(c));
	memset(&m, 0, sizeof(m));
	cr_assert_eq(conc_cond_wait(&c, &m, 0), -EPERM);
	cr_assert_eq(conc_cond_wait(&c, &m, MS(10)), -EPERM);
	cr_assert_eq(conc_cond_wait(&c, &m, CONC_FOREVER), -EPERM);
	/* Still unlocked, and the condition still works. */
	cr_assert_eq(conc_mutex_trylock(&m), 0);
	cr_assert_eq(conc_cond_wait(&c, &m, 0), -ETIMEDOUT);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
}

struct holder {
	conc_mutex *m;
	uint32_t locked, release;
	int r;
};

static void *holder_thread(void *arg)
{
	struct holder *h = arg;

	h->r = conc_mutex_lock(h->m);
	set_flag(&h->locked, 1);
	if (!wait_flag(&h->release, 10000))
		h->r = -ETIMEDOUT;
	if (conc_mutex_unlock(h->m) != 0)
		h->r = -EPERM;
	return NULL;
}

Test(cond, wait_on_mutex_owned_by_another_thread_is_eperm, .timeout = 20)
{
	conc_cond c = CONC_COND_INIT;
	conc_mutex m = CONC_MUTEX_INIT;
	struct holder h = { .m = &m };
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, holder_thread, &h), 0);
	cr_assert(wait_flag(&h.locked, 5000));
	cr_assert_eq(conc_cond_wait(&c, &m, 0), -EPERM);
	cr_assert_eq(conc_cond_wait(&c, &m, CONC_FOREVER), -EPERM);
	/* The holder still holds it: the refused wait unlocked nothing. */
	cr_assert_eq(conc_mutex_trylock(&m), -EBUSY);
	set_flag(&h.release, 1);
	cr_assert_eq(join_thread(t, 10000, NULL), 0);
	cr_assert_eq(h.r, 0);
	cr_assert_eq(conc_mutex_trylock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
}

static int eperm_child(void *arg)
{
	struct { conc_mutex m; conc_cond c; } *s = arg;

	/* The parent holds s->m. */
	if (conc_cond_wait(&s->c, &s->m, CONC_FOREVER) != -EPERM)
		return E_OTHER;
	return conc_mutex_trylock(&s->m) == -EBUSY ? OK : E_LOCK;
}

Test(cond, wait_on_mutex_owned_by_another_process_is_eperm, .timeout = 20)
{
	struct { conc_mutex m; conc_cond c; } *s = shalloc(sizeof(*s));

	cr_assert_eq(conc_mutex_lock(&s->m), 0);
	cr_assert_eq(run_in_child(eperm_child, s, REAP_MS), OK);
	cr_assert_eq(conc_mutex_unlock(&s->m), 0);
	shared_free(s, sizeof(*s));
}

Test(cond, recursive_mutex_held_twice_is_eperm, .timeout = 20)
{
	conc_cond c;
	conc_mutex m;

	cr_assert_eq(conc_cond_init(&c, CONC_PRIVATE), 0);
	cr_assert_eq(conc_mutex_init(&m, CONC_RECURSIVE | CONC_PRIVATE), 0);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_mutex_lock(&m), 0);
	cr_assert_eq(conc_cond_wait(&c, &m, CONC_FOREVER), -EPERM);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	/* Held once: a real wait, which relocks it once. */
	cr_assert_eq(conc_cond_wait(&c, &m, MS(5)), -ETIMEDOUT);
	cr_assert_eq(conc_mutex_unlock(&m), 0);
	cr_assert_eq(conc_mutex_unlock(&m), -EPERM);
}

/* ---- timeouts ---- */

struct prober {
	conc_mutex *m;
	int r;
};

static void *trylock_thread(void *arg)
{
	struct prober *p = arg;

	p->r = conc_mutex_trylock(p->m);
	if (p->r == 0)
		conc_mutex_unlock(p->m);
	return NULL;
}

/* Whether another thread finds m locked (it does not take it). */
static bool locked_elsewhere(conc_mutex *m)
{
	struct prober p = { .m = m, .r = 1 };
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, trylock_thread, &p), 0);
	cr_assert_eq(join_thread(t, 10000, NULL), 0);
	return p.r == -EBUSY;
}

static void timed_wait_relocks(conc_cond *c, conc_mutex *m)
{
	static const int64_t tmo[] = { 0, 1, MS(1), MS(30), MS(60) };
	size_t i;

	for (i = 0; i < sizeof(tmo) / sizeof(tmo[0]); i++) {
		int64_t t0, dt;
		int r;

		cr_assert_eq(conc_mutex_lock(m), 0);
		t0 = now_ns();
		r = conc_cond_wait(c, m, tmo[i]);
		dt = now_ns() - t0;
		cr_assert_eq(r, -ETIMEDOUT, "wait(%lld ns) = %d", (long long)tmo[i], r);
		cr_assert_geq(dt, tmo[i], "timed out after %lld ns < %lld ns",
			      (long long)dt, (long long)tmo[i]);
		/* The mutex is ours again. */
		cr_assert(locked_elsewhere(m), "mutex not relocked after timeout");
		cr_assert_eq(conc_mutex_unlock(m), 0, "caller does not own the mutex");
		cr_assert_not(locked_elsewhere(m));
	}
}

Test(cond, timed_wait_times_out_with_mutex_relocked_zeroed, .timeout = 20)
{
	conc_cond c;
	conc_mutex m;

	memset(&c, 0, sizeof(c));
	memset(&m, 0, sizeof(m));
	timed_wait_relocks(&c, &m);
}

Test(cond, timed_wait_times_out_with_mutex_relocked_private, .timeout = 20)
{
	conc_cond c;
	conc_mutex m;

	cr_assert_eq(conc_cond_init(&c, CONC_PRIVATE), 0);
	cr_assert_eq(conc_mutex_init(&m, CONC_PRIVATE), 0);
	timed_wait_relocks(&c, &m);
}

Test(cond, timed_wait_times_out_with_robust_mutex, .timeout = 20)
{
	conc_cond c = CONC_COND_INIT;
	conc_mutex m;

	cr_assert_eq(conc_mutex_init(&m, CONC_ROBUST), 0);
	timed_wait_relocks(&c, &m);
}

Test(cond, timed_wait_times_out_with_recursive_mutex, .timeout = 20)
{
	conc_cond c = CONC_COND_INIT;
	conc_mutex m;

	cr_assert_eq(conc_mutex_init(&m, CONC_RECURSIVE), 0);
	timed_wait_relocks(&c, &m);
}

/* ---- signals ---- */

static void on_signal(int sig)
{
	(void)sig;
}

struct sigwait {
	conc_mutex m;
	conc_cond c;
	uint32_t pred, started;
	int r;
};

/* Wait for pred in a loop; any result other than 0 ends it. */
static void *sig_waiter(void *arg)
{
	struct sigwait *w = arg;
	int r = 0;

	if (conc_mutex_lock(&w->m) != 0)
		r = E_LOCK;
	set_flag(&w->started, 1);
	while (r == 0 && !w->pred)
		r = conc_cond_wait(&w->c, &w->m, CONC_FOREVER);
	if (conc_mutex_unlock(&w->m) != 0 && r == 0)
		r = E_UNLOCK;
	__atomic_store_n(&w->r, r, __ATOMIC_RELEASE);
	return NULL;
}

Test(cond, signals_do_not_break_waits, .timeout = 20)
{
	struct sigwait w;
	struct sigaction sa;
	pthread_t t;
	int64_t end;

	memset(&w, 0, sizeof(w));
	w.r = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	cr_assert_eq(pthread_create(&t, NULL, sig_waiter, &w), 0);
	cr_assert(wait_flag(&w.started, 5000));
	for (end = now_ns() + MS(50); now_ns() < end; sleep_ns(MS(1) / 2))
		pthread_kill(t, SIGUSR1);
	cr_assert_eq(__atomic_load_n(&w.r, __ATOMIC_ACQUIRE), 1,
		     "the wait failed under signals");
	cr_assert_eq(conc_mutex_lock(&w.m), 0);
	w.pred = 1;
	cr_assert_eq(conc_cond_signal(&w.c), 0);
	cr_assert_eq(conc_mutex_unlock(&w.m), 0);
	cr_assert_eq(join_thread(t, 10000, NULL), 0);
	cr_assert_eq(w.r, 0);
}

/* ---- the shared state of the wake-up tests ---- */

struct cv {
	conc_mutex m;
	conc_cond c;
	uint32_t ready;		/* waiters counted in, under m */
	uint32_t pred;		/* the predicate waited for */
	uint32_t tickets;	/* signal tests: one per signal */
	uint32_t woken;
	uint32_t inside;	/* holders of m now: must stay <= 1 */
	uint32_t viol;
	pid_t tid[MAXN + 1];
	int64_t timeout;	/* per wait */
};

/* Enter and leave a critical section under m, checking nobody else is in. */
static int exclusive(struct cv *v)
{
	int bad = 0;

	if (__atomic_add_fetch(&v->inside, 1, __ATOMIC_SEQ_CST) != 1)
		bad = 1;
	sched_yield();
	if (__atomic_sub_fetch(&v->inside, 1, __ATOMIC_SEQ_CST) != 0)
		bad = 1;
	if (bad)
		__atomic_fetch_add(&v->viol, 1, __ATOMIC_RELAXED);
	return bad ? E_EXCL : OK;
}

/* Wait for pred under m; on return, check mutual exclusion. */
static int pred_waiter(void *arg, int idx)
{
	struct cv *v = arg;
	int r = OK;

	__atomic_store_n(&v->tid[idx], gettid(), __ATOMIC_RELEASE);
	if (conc_mutex_timedlock(&v->m, BOUND) != 0)
		return E_LOCK;
	__atomic_fetch_add(&v->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&v->pred, __ATOMIC_RELAXED)) {
		if (conc_cond_wait(&v->c, &v->m, v->timeout) != 0) {
			r = E_WAIT;
			break;
		}
	}
	if (exclusive(v) != OK)
		r = E_EXCL;
	__atomic_fetch_add(&v->woken, 1, __ATOMIC_RELAXED);
	if (conc_mutex_unlock(&v->m) != 0)
		return E_UNLOCK;
	return r;
}

static void *pred_waiter_thread(void *arg)
{
	return (void *)(intptr_t)pred_waiter(arg, MAXN);
}

/* All n workers counted in and asleep. */
static void wait_all_asleep(struct crew *cr, struct cv *v, uint32_t n)
{
	int i;

	wait_count(&v->ready, n);
	for (i = 0; i < cr->n; i++)
		crew_wait_sleeping(cr, i, __atomic_load_n(&v->tid[i], __ATOMIC_ACQUIRE));
}

static void set_pred_and_broadcast(struct cv *v)
{
	cr_assert_eq(conc_mutex_lock(&v->m), 0);
	v->pred = 1;
	cr_assert_eq(conc_cond_broadcast(&v->c), 0);
	cr_assert_eq(conc_mutex_unlock(&v->m), 0);
}

/*
 * N workers sleep on the condition; one broadcast wakes every one of them,
 * and they get the mutex one at a time. Within one process the waiters are
 * requeued onto the mutex when both words are hashed alike.
 */
static void broadcast_wakes_all(bool procs, unsigned cflags, unsigned mflags,
				int rounds)
{
	enum { N = 8 };
	struct cv *v = shalloc(sizeof(*v));
	struct crew cr;
	int round;

	for (round = 0; round < rounds; round++) {
		memset(v, 0, sizeof(*v));
		v->timeout = BOUND;
		if (cflags)
			cr_assert_eq(conc_cond_init(&v->c, cflags), 0);
		if (mflags)
			cr_assert_eq(conc_mutex_init(&v->m, mflags), 0);
		crew_start(&cr, pred_waiter, v, N, procs);
		wait_all_asleep(&cr, v, N);
		set_pred_and_broadcast(v);
		crew_finish(&cr);
		cr_assert_eq(v->woken, N);
		cr_assert_eq(v->viol, 0);
		cr_assert_eq(v->inside, 0);
	}
	shared_free(v, sizeof(*v));
}

Test(cond, broadcast_wakes_all_threads_private, .timeout = 20)
{
	broadcast_wakes_all(false, CONC_PRIVATE, CONC_PRIVATE, 10);
}

Test(cond, broadcast_wakes_all_threads_zeroed, .timeout = 20)
{
	broadcast_wakes_all(false, 0, 0, 10);
}

Test(cond, broadcast_wakes_all_threads_mixed_flags, .timeout = 20)
{
	broadcast_wakes_all(false, CONC_PRIVATE, 0, 5);
	broadcast_wakes_all(false, 0, CONC_PRIVATE, 5);
}

Test(cond, broadcast_wakes_all_threads_recursive_mutex, .timeout = 20)
{
	broadcast_wakes_all(false, 0, CONC_RECURSIVE, 5);
}

Test(cond, broadcast_wakes_all_processes_zeroed, .timeout = 20)
{
	broadcast_wakes_all(true, 0, 0, 5);
}

/* A robust mutex uses shared futexes: requeued onto from a shared
 * condition, woken one by one from a private one. */
Test(cond, broadcast_wakes_all_with_robust_mutex, .timeout = 20)
{
	broadcast_wakes_all(false, 0, CONC_ROBUST, 5);
	broadcast_wakes_all(false, CONC_PRIVATE, CONC_ROBUST, 5);
	broadcast_wakes_all(true, 0, CONC_ROBUST, 3);
}

/*
 * The same across processes, but the last waiter is a thread of the
 * broadcasting process: the broadcast then requeues the other processes'
 * waiters onto the shared mutex instead of waking them all.
 */
Test(cond, broadcast_requeue_across_processes, .timeout = 20)
{
	enum { N = 6 };
	struct cv *v = shalloc(sizeof(*v));
	struct crew cr;
	pthread_t t;
	void *ret;
	int round;

	for (round = 0; round < 5; round++) {
		memset(v, 0, sizeof(*v));
		v->timeout = BOUND;
		crew_start(&cr, pred_waiter, v, N, true);
		wait_all_asleep(&cr, v, N);
		cr_assert_eq(pthread_create(&t, NULL, pred_waiter_thread, v), 0);
		wait_count(&v->ready, N + 1);
		cr_assert(wait_thread_sleeping(getpid(),
					       __atomic_load_n(&v->tid[MAXN], __ATOMIC_ACQUIRE),
					       5000));
		set_pred_and_broadcast(v);
		cr_assert_eq(join_thread(t, REAP_MS, &ret), 0);
		cr_assert_eq((intptr_t)ret, OK);
		crew_finish(&cr);
		cr_assert_eq(v->woken, N + 1);
		cr_assert_eq(v->viol, 0);
	}
	shared_free(v, sizeof(*v));
}

/* The broadcaster keeps the mutex a while after the broadcast: the waiters
 * must still all come through once it lets go. */
Test(cond, broadcast_while_holding_then_unlock_late, .timeout = 20)
{
	enum { N = 8 };
	struct cv *v = shalloc(sizeof(*v));
	struct crew cr;

	v->timeout = BOUND;
	cr_assert_eq(conc_cond_init(&v->c, CONC_PRIVATE), 0);
	cr_assert_eq(conc_mutex_init(&v->m, CONC_PRIVATE), 0);
	crew_start(&cr, pred_waiter, v, N, false);
	wait_all_asleep(&cr, v, N);
	cr_assert_eq(conc_mutex_lock(&v->m), 0);
	v->pred = 1;
	cr_assert_eq(conc_cond_broadcast(&v->c), 0);
	sleep_ns(MS(20));
	cr_assert_eq(v->woken, 0, "a waiter returned without the mutex");
	cr_assert_eq(conc_mutex_unlock(&v->m), 0);
	crew_finish(&cr);
	cr_assert_eq(v->woken, N);
	cr_assert_eq(v->viol, 0);
	shared_free(v, sizeof(*v));
}

/* ---- signal ---- */

static int ticket_waiter(void *arg, int idx)
{
	struct cv *v = arg;
	int r = OK;

	__atomic_store_n(&v->tid[idx], gettid(), __ATOMIC_RELEASE);
	if (conc_mutex_timedlock(&v->m, BOUND) != 0)
		return E_LOCK;
	__atomic_fetch_add(&v->ready, 1, __ATOMIC_RELEASE);
	while (v->tickets == 0) {
		if (conc_cond_wait(&v->c, &v->m, v->timeout) != 0) {
			r = E_WAIT;
			break;
		}
	}
	if (r == OK) {
		v->tickets--;
		__atomic_fetch_add(&v->woken, 1, __ATOMIC_RELEASE);
	}
	if (exclusive(v) != OK)
		r = E_EXCL;
	if (conc_mutex_unlock(&v->m) != 0)
		return E_UNLOCK;
	return r;
}

static void give_ticket(struct cv *v)
{
	cr_assert_eq(conc_mutex_lock(&v->m), 0);
	v->tickets++;
	cr_assert_eq(conc_cond_signal(&v->c), 0);
	cr_assert_eq(conc_mutex_unlock(&v->m), 0);
}

/*
 * N workers asleep; one signal must wake one of them (it takes the only
 * ticket); then N-1 more signals, given back to back, must each wake
 * another: no signal is lost on a waiter that was already woken.
 */
static void signal_wakes_one_each(bool procs, unsigned flags)
{
	enum { N = 6 };
	struct cv *v = shalloc(sizeof(*v));
	struct crew cr;
	int i;

	v->timeout = BOUND;
	if (flags) {
		cr_assert_eq(conc_cond_init(&v->c, flags), 0);
		cr_assert_eq(conc_mutex_init(&v->m, flags), 0);
	}
	crew_start(&cr, ticket_waiter, v, N, procs);
	wait_all_asleep(&cr, v, N);
	give_ticket(v);
	wait_count(&v->woken, 1);
	sleep_ns(MS(5));
	cr_assert_eq(v->woken, 1);
	for (i = 1; i < N; i++)
		give_ticket(v);
	crew_finish(&cr);
	cr_assert_eq(v->woken, N);
	cr_assert_eq(v->tickets, 0);
	cr_assert_eq(v->viol, 0);
	shared_free(v, sizeof(*v));
}

Test(cond, signal_wakes_one_per_signal_threads_private, .timeout = 20)
{
	signal_wakes_one_each(false, CONC_PRIVATE);
}

Test(cond, signal_wakes_one_per_signal_threads_zeroed, .timeout = 20)
{
	signal_wakes_one_each(false, 0);
}

Test(cond, signal_wakes_one_per_signal_processes_zeroed, .timeout = 20)
{
	signal_wakes_one_each(true, 0);
}

/* The waiter really gives the mutex up while it waits. */
Test(cond, wait_releases_the_mutex, .timeout = 20)
{
	struct cv *v = shalloc(sizeof(*v));
	struct crew cr;

	v->timeout = BOUND;
	crew_start(&cr, pred_waiter, v, 1, true);
	wait_all_asleep(&cr, v, 1);
	cr_assert_eq(conc_mutex_timedlock(&v->m, BOUND), 0);
	v->pred = 1;
	cr_assert_eq(conc_cond_signal(&v->c), 0);
	cr_assert_eq(conc_mutex_unlock(&v->m), 0);
	crew_finish(&cr);
	cr_assert_eq(v->woken, 1);
	shared_free(v, sizeof(*v));
}

/* ---- stress: turns ---- */

/*
 * n parties take turns round robin; each waits for its turn, then passes it
 * on with one signal (two parties) or a broadcast (more). The next party
 * often arrives while the previous one is between unlocking the mutex and
 * sleeping: a wake-up lost there stops the game for good.
 */
enum { TURN_ROUNDS = 20000 };

struct turns {
	conc_mutex m;
	conc_cond c;
	uint32_t n, turn, count, inside;
};

static int turn_worker(void *arg, int idx)
{
	struct turns *t = arg;
	int i;

	for (i = 0; i < TURN_ROUNDS; i++) {
		if (conc_mutex_timedlock(&t->m, BOUND) != 0)
			return E_LOCK;
		while (t->turn != (uint32_t)idx)
			if (conc_cond_wait(&t->c, &t->m, BOUND) != 0)
				return E_WAIT;
		if (++t->inside != 1)
			return E_EXCL;
		t->count++;
		t->turn = (t->turn + 1) % t->n;
		t->inside--;
		if ((t->n == 2 ? conc_cond_signal(&t->c)
			       : conc_cond_broadcast(&t->c)) != 0)
			return E_OTHER;
		if (conc_mutex_unlock(&t->m) != 0)
			return E_UNLOCK;
	}
	return OK;
}

static void turns_run(int n, bool procs, unsigned flags)
{
	struct turns *t = shalloc(sizeof(*t));
	struct crew cr;

	t->n = (uint32_t)n;
	if (flags) {
		cr_assert_eq(conc_cond_init(&t->c, flags), 0);
		cr_assert_eq(conc_mutex_init(&t->m, flags), 0);
	}
	crew_start(&cr, turn_worker, t, n, procs);
	crew_finish(&cr);
	cr_assert_eq(t->count, (uint32_t)n * TURN_ROUNDS);
	shared_free(t, sizeof(*t));
}

Test(cond, signal_turns_threads_private, .timeout = 20)
{
	turns_run(2, false, CONC_PRIVATE);
}

Test(cond, signal_turns_processes_zeroed, .timeout = 20)
{
	turns_run(2, true, 0);
}

Test(cond, broadcast_turns_threads_zeroed, .timeout = 20)
{
	turns_run(3, false, 0);
}

Test(cond, broadcast_turns_processes_zeroed, .timeout = 20)
{
	turns_run(3, true, 0);
}

/*
 * A ticker hammers the mutex and, whenever the flag is down, raises it and
 * signals; a waiter lowers it. The ticker is always ready to take the mutex
 * the moment the waiter's wait releases it, so its signal often comes before
 * the waiter sleeps: that signal must not be lost.
 */
enum { TICKS = 20000 };

struct ticker {
	conc_mutex m;
	conc_cond c;
	uint32_t flag, ticks, signals;
	bool outside;		/* signal after unlocking the mutex */
};

static int ticker_worker(void *arg, int idx)
{
	struct ticker *t = arg;

	if (idx == 0) {
		while (__atomic_load_n(&t->ticks, __ATOMIC_RELAXED) < TICKS) {
			bool raised = false;

			if (conc_mutex_timedlock(&t->m, BOUND) != 0)
				return E_LOCK;
			if (!t->flag && t->ticks < TICKS) {
				t->flag = 1;
				t->signals++;
				raised = true;
				if (!t->outside && conc_cond_signal(&t->c) != 0)
					return E_OTHER;
			}
			if (conc_mutex_unlock(&t->m) != 0)
				return E_UNLOCK;
			if (raised && t->outside && conc_cond_signal(&t->c) != 0)
				return E_OTHER;
		}
		return OK;
	}
	while (__atomic_load_n(&t->ticks, __ATOMIC_RELAXED) < TICKS) {
		if (conc_mutex_timedlock(&t->m, BOUND) != 0)
			return E_LOCK;
		while (!t->flag)
			if (conc_cond_wait(&t->c, &t->m, BOUND) != 0)
				return E_WAIT;
		t->flag = 0;
		__atomic_fetch_add(&t->ticks, 1, __ATOMIC_RELAXED);
		if (conc_mutex_unlock(&t->m) != 0)
			return E_UNLOCK;
	}
	return OK;
}

static void ticker_run(bool procs, unsigned flags, bool outside)
{
	struct ticker *t = shalloc(sizeof(*t));
	struct crew cr;

	t->outside = outside;
	if (flags) {
		cr_assert_eq(conc_cond_init(&t->c, flags), 0);
		cr_assert_eq(conc_mutex_init(&t->m, flags), 0);
	}
	crew_start(&cr, ticker_worker, t, 2, procs);
	crew_finish(&cr);
	cr_assert_eq(t->ticks, TICKS);
	cr_assert_eq(t->signals, TICKS);
	shared_free(t, sizeof(*t));
}

Test(cond, signal_before_waiter_sleeps_threads_private, .timeout = 20)
{
	ticker_run(false, CONC_PRIVATE, false);
}

Test(cond, signal_before_waiter_sleeps_processes_zeroed, .timeout = 20)
{
	ticker_run(true, 0, false);
}

/* conc_cond_wait(3): the signaller need not hold the mutex. */
Test(cond, signal_after_unlock_threads_private, .timeout = 20)
{
	ticker_run(false, CONC_PRIVATE, true);
}

Test(cond, signal_after_unlock_processes_zeroed, .timeout = 20)
{
	ticker_run(true, 0, true);
}

/* ---- stress: a generation barrier made of one mutex and one condition ---- */

enum { GEN_N = 4, GEN_ROUNDS = 1500 };

struct genbar {
	struct cv v;
	uint32_t count, gen;
	uint32_t passed[GEN_ROUNDS];
};

static int genbar_worker(void *arg, int idx)
{
	struct genbar *g = arg;
	int round;

	(void)idx;
	for (round = 0; round < GEN_ROUNDS; round++) {
		uint32_t gen;

		if (conc_mutex_timedlock(&g->v.m, BOUND) != 0)
			return E_LOCK;
		if (exclusive(&g->v) != OK)
			return E_EXCL;
		gen = g->gen;
		if (++g->count == GEN_N) {
			g->count = 0;
			g->gen++;
			if (conc_cond_broadcast(&g->v.c) != 0)
				return E_OTHER;
		} else {
			while (gen == g->gen)
				if (conc_cond_wait(&g->v.c, &g->v.m, BOUND) != 0)
					return E_WAIT;
		}
		/* Nobody leaves a round before all arrived. */
		if (g->gen != (uint32_t)round + 1)
			return E_OTHER;
		g->passed[round]++;
		if (conc_mutex_unlock(&g->v.m) != 0)
			return E_UNLOCK;
	}
	return OK;
}

static void genbar_run(bool procs, unsigned flags)
{
	struct genbar *g = shalloc(sizeof(*g));
	struct crew cr;
	int i;

	if (flags) {
		cr_assert_eq(conc_cond_init(&g->v.c, flags), 0);
		cr_assert_eq(conc_mutex_init(&g->v.m, flags), 0);
	}
	crew_start(&cr, genbar_worker, g, GEN_N, procs);
	crew_finish(&cr);
	cr_assert_eq(g->gen, GEN_ROUNDS);
	for (i = 0; i < GEN_ROUNDS; i++)
		cr_assert_eq(g->passed[i], GEN_N, "round %d", i);
	shared_free(g, sizeof(*g));
}

Test(cond, broadcast_stress_threads_private, .timeout = 20)
{
	genbar_run(false, CONC_PRIVATE);
}

Test(cond, broadcast_stress_threads_zeroed, .timeout = 20)
{
	genbar_run(false, 0);
}

Test(cond, broadcast_stress_processes_zeroed, .timeout = 20)
{
	genbar_run(true, 0);
}

/* ---- stress: bounded buffer, two conditions ---- */

enum { CAP = 8, NPROD = 2, NCONS = 2, PER = 20000, TOTAL = NPROD * PER };

struct bb {
	conc_mutex m;
	conc_cond not_full, not_empty;
	uint32_t buf[CAP];
	uint32_t head, tail, count, taken, inside;
	uint64_t sum;
	uint32_t mine[NCONS];
};

static int bb_enter(struct bb *b)
{
	if (conc_mutex_timedlock(&b->m, BOUND) != 0)
		return E_LOCK;
	return ++b->inside == 1 ? OK : E_EXCL;
}

static int bb_leave(struct bb *b)
{
	b->inside--;
	return conc_mutex_unlock(&b->m) == 0 ? OK : E_UNLOCK;
}

static int bb_producer(struct bb *b, int p)
{
	int i, r;

	for (i = 0; i < PER; i++) {
		if ((r = bb_enter(b)) != OK)
			return r;
		while (b->count == CAP) {
			b->inside--;
			if (conc_cond_wait(&b->not_full, &b->m, BOUND) != 0)
				return E_WAIT;
			if (++b->inside != 1)
				return E_EXCL;
		}
		if (b->count > CAP)
			return E_OTHER;
		b->buf[b->tail] = (uint32_t)(p * PER + i + 1);
		b->tail = (b->tail + 1) % CAP;
		b->count++;
		if (conc_cond_signal(&b->not_empty) != 0)
			return E_OTHER;
		if ((r = bb_leave(b)) != OK)
			return r;
	}
	return OK;
}

static int bb_consumer(struct bb *b, int c)
{
	int r;

	for (;;) {
		if ((r = bb_enter(b)) != OK)
			return r;
		while (b->count == 0 && b->taken < TOTAL) {
			b->inside--;
			if (conc_cond_wait(&b->not_empty, &b->m, BOUND) != 0)
				return E_WAIT;
			if (++b->inside != 1)
				return E_EXCL;
		}
		if (b->count == 0)
			return bb_leave(b);	/* all taken */
		b->sum += b->buf[b->head];
		b->head = (b->head + 1) % CAP;
		b->count--;
		b->taken++;
		b->mine[c]++;
		if (conc_cond_signal(&b->not_full) != 0)
			return E_OTHER;
		if (b->taken == TOTAL && conc_cond_broadcast(&b->not_empty) != 0)
			return E_OTHER;
		if ((r = bb_leave(b)) != OK)
			return r;
	}
}

static int bb_worker(void *arg, int idx)
{
	return idx < NPROD ? bb_producer(arg, idx) : bb_consumer(arg, idx - NPROD);
}

static void bb_run(bool procs, unsigned flags)
{
	struct bb *b = shalloc(sizeof(*b));
	struct crew cr;
	uint64_t want = (uint64_t)TOTAL * (TOTAL + 1) / 2;
	uint32_t got = 0;
	int i;

	if (flags) {
		cr_assert_eq(conc_mutex_init(&b->m, flags), 0);
		cr_assert_eq(conc_cond_init(&b->not_full, flags), 0);
		cr_assert_eq(conc_cond_init(&b->not_empty, flags), 0);
	}
	crew_start(&cr, bb_worker, b, NPROD + NCONS, procs);
	crew_finish(&cr);
	for (i = 0; i < NCONS; i++)
		got += b->mine[i];
	cr_assert_eq(b->taken, TOTAL);
	cr_assert_eq(got, TOTAL);
	cr_assert_eq(b->count, 0);
	cr_assert_eq(b->sum, want, "sum %llu, want %llu",
		     (unsigned long long)b->sum, (unsigned long long)want);
	shared_free(b, sizeof(*b));
}

Test(cond, bounded_buffer_threads_private, .timeout = 20)
{
	bb_run(false, CONC_PRIVATE);
}

Test(cond, bounded_buffer_processes_zeroed, .timeout = 20)
{
	bb_run(true, 0);
}

/* ---- chaos: timeouts of every size, signals and broadcasts from everyone ---- */

enum { CHAOS_N = 5, CHAOS_ITERS = 4000 };

struct chaos {
	conc_mutex m;
	conc_cond c;
	uint32_t gen, stop, inside, done;
};

static uint32_t xorshift(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static int notify(struct chaos *ch, uint32_t rnd)
{
	bool inside = rnd & 1, all = rnd & 2;
	int r;

	if (conc_mutex_timedlock(&ch->m, BOUND) != 0)
		return E_LOCK;
	ch->gen++;
	if (inside && (all ? conc_cond_broadcast(&ch->c) : conc_cond_signal(&ch->c)))
		return E_OTHER;
	if (conc_mutex_unlock(&ch->m) != 0)
		return E_UNLOCK;
	r = all ? conc_cond_broadcast(&ch->c) : conc_cond_signal(&ch->c);
	return !inside && r ? E_OTHER : OK;
}

static int chaos_enter(struct chaos *ch)
{
	return __atomic_add_fetch(&ch->inside, 1, __ATOMIC_SEQ_CST) == 1 ? OK : E_EXCL;
}

static void chaos_leave(struct chaos *ch)
{
	__atomic_sub_fetch(&ch->inside, 1, __ATOMIC_SEQ_CST);
}

/* One wait: a timed one, or an untimed one until gen moves. */
static int chaos_wait(struct chaos *ch, int64_t t)
{
	uint32_t seen;
	int r;

	if (conc_mutex_timedlock(&ch->m, BOUND) != 0)
		return E_LOCK;
	if (chaos_enter(ch) != OK)
		return E_EXCL;
	seen = ch->gen;
	do {
		chaos_leave(ch);
		r = conc_cond_wait(&ch->c, &ch->m, t);
		if (chaos_enter(ch) != OK)
			return E_EXCL;
		if (r != 0 && !(r == -ETIMEDOUT && t >= 0))
			return E_WAIT;
	} while (t < 0 && ch->gen == seen && !ch->stop);
	chaos_leave(ch);
	return conc_mutex_unlock(&ch->m) == 0 ? OK : E_UNLOCK;
}

static int chaos_worker(void *arg, int idx)
{
	static const int64_t tmo[] = { 0, 1000, 20000, 200000, CONC_FOREVER };
	struct chaos *ch = arg;
	uint32_t x = 0x9e3779b9u * (uint32_t)(idx + 1);
	int i, r;

	if (idx == 0) {
		/* The pacer: keeps notifying until every other worker is done,
		 * so untimed waits always end. */
		while (__atomic_load_n(&ch->done, __ATOMIC_ACQUIRE) < CHAOS_N - 1) {
			if ((r = notify(ch, xorshift(&x))) != OK)
				return r;
			if (x % 4 == 0)
				sched_yield();
		}
		if (conc_mutex_timedlock(&ch->m, BOUND) != 0)
			return E_LOCK;
		ch->stop = 1;
		return conc_mutex_unlock(&ch->m) == 0 ? OK : E_UNLOCK;
	}
	for (i = 0; i < CHAOS_ITERS; i++) {
		uint32_t rnd = xorshift(&x);

		r = rnd % 4 == 0 ? notify(ch, rnd >> 8) : chaos_wait(ch, tmo[(rnd >> 8) % 5]);
		if (r != OK)
			break;
	}
	__atomic_fetch_add(&ch->done, 1, __ATOMIC_RELEASE);
	return r;
}

static void chaos(bool procs, unsigned cflags, unsigned mflags)
{
	struct chaos *ch = shalloc(sizeof(*ch));
	struct crew cr;

	if (cflags)
		cr_assert_eq(conc_cond_init(&ch->c, cflags), 0);
	if (mflags)
		cr_assert_eq(conc_mutex_init(&ch->m, mflags), 0);
	crew_start(&cr, chaos_worker, ch, CHAOS_N, procs);
	crew_finish(&cr);
	cr_assert_eq(ch->inside, 0);
	/* The mutex is free and nobody is left counted as waiting. */
	cr_assert_eq(conc_mutex_trylock(&ch->m), 0);
	cr_assert_eq(conc_cond_wait(&ch->c, &ch->m, 0), -ETIMEDOUT);
	cr_assert_eq(conc_mutex_unlock(&ch->m), 0);
	shared_free(ch, sizeof(*ch));
}

Test(cond, chaos_threads_private, .timeout = 20)
{
	chaos(false, CONC_PRIVATE, CONC_PRIVATE);
}

Test(cond, chaos_threads_zeroed, .timeout = 20)
{
	chaos(false, 0, 0);
}

Test(cond, chaos_threads_robust_mutex, .timeout = 20)
{
	chaos(false, 0, CONC_ROBUST);
}

Test(cond, chaos_processes_zeroed, .timeout = 20)
{
	chaos(true, 0, 0);
}

/* A peer forges a private condition's note in shared memory (the flag, an
 * offset to where nothing is mapped, our pid): the broadcast must not read
 * through it, and a waiter it misplaces still returns at its timeout. */
static int forged_waiter(void *arg)
{
	struct { conc_cond c; conc_mutex m; } *s = arg;
	int r;

	if (conc_mutex_lock(&s->m))
		return 1;
	r = conc_cond_wait(&s->c, &s->m, 50 * 1000000LL);
	conc_mutex_unlock(&s->m);
	return r == 0 || r == -ETIMEDOUT ? 0 : 2;
}

Test(cond, a_forged_note_is_never_followed, .timeout = 20)
{
	struct { conc_cond c; conc_mutex m; } *s = shared_alloc(sizeof(*s));
	conc_thread *t;
	int code = -1;

	cr_assert_not_null(s);
	cr_assert_eq(conc_cond_init(&s->c, 0), 0);
	__atomic_fetch_or(&s->c.flags, CONC_PRIVATE, __ATOMIC_RELAXED);
	s->c.waiters = 1;
	s->c.mutex_pid = getpid();
	s->c.mutex_off = 0x40000000;	/* 1 GiB on: nothing mapped there */
	cr_assert_eq(conc_cond_broadcast(&s->c), 0);
	s->c.mutex_off = 0x40000001;	/* also claiming a private mutex */
	cr_assert_eq(conc_cond_broadcast(&s->c), 0);
	cr_assert_eq(conc_cond_signal(&s->c), 0);
	/* A real waiter (private mutex, so its note is followed) while the
	 * peer rewrites the note under it. */
	cr_assert_eq(conc_mutex_init(&s->m, CONC_PRIVATE), 0);
	s->c.waiters = 0;
	cr_assert_eq(conc_thread_start(&t, forged_waiter, s, NULL), 0);
	for (int i = 0; i < 20; i++) {
		s->c.mutex_off = 0x40000001;
		cr_assert_eq(conc_cond_broadcast(&s->c), 0);
		usleep(1000);
	}
	cr_assert_eq(conc_thread_join(t, &code, 10 * 1000000000LL), 0);
	cr_assert_eq(code, 0);
	shared_free(s, sizeof(*s));
}

/* The note's offset need only be a multiple of 4 (a condition is aligned
 * to 4, a mutex to 8): one that is 4 past a multiple of 8 names no place a
 * mutex could start, and the broadcast must not take it for one (UBSan:
 * a conc_mutex at a misaligned address) — it only names its word to the
 * kernel. Found by fuzz/fuzz_sync. */
Test(cond, a_forged_note_to_a_misaligned_mutex_is_never_followed, .timeout = 20)
{
	struct { conc_cond c; conc_mutex m; } *s = shared_alloc(sizeof(*s));

	cr_assert_not_null(s);
	cr_assert_eq(conc_cond_init(&s->c, CONC_PRIVATE), 0);
	s->c.waiters = 1;
	s->c.mutex_pid = getpid();
	for (int32_t off = -4096; off <= 4096; off += 4) {
		s->c.mutex_off = off | 1;
		cr_assert_eq(conc_cond_broadcast(&s->c), 0);
	}
	shared_free(s, sizeof(*s));
}
