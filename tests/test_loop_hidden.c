/* test_loop_hidden.c — issue 10's colorless waits as a user calls them,
 * in the combinations the other loop tests leave out: every blocking call,
 * in a task with a stack of its own and in a shared-stack task, with and
 * without IORING_OP_FUTEX_WAIT, times out, is cancelled once, then waits
 * while a ticker task of the same loop runs and is woken by a thread and
 * by a process; recursion counts and rwlock sides per task; gather with
 * CONC_GATHER_CANCEL that times out; conc_thread_exit in a task (conc_run
 * (3): the thread ends at once, its loop abandoned) and what its thread
 * does after; nested conc_run from a shared-stack task and a loop call;
 * process joins in shared-stack tasks without IORING_OP_WAITID. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <conc.h>
#include "loop_helpers.h"

static void plain_mode(void)
{
	unsetenv("CONC_LOOP_NO_FUTEX_OP");
	unsetenv("CONC_LOOP_NO_WAITID_OP");
}

TestSuite(hidden, .fini = plain_mode);

enum kind { K_MUTEX, K_RMUTEX, K_ROBUST, K_SEM, K_EVENT, K_COND, K_RDLOCK,
	    K_WRLOCK, K_QGET, K_QPUT, K_CRECV, K_RSEM, K_BARRIER, NKIND };

static const char *const kname[NKIND] = {
	"mutex", "recursive mutex", "robust mutex", "sem", "event", "cond",
	"rdlock", "wrlock", "queue get", "queue put", "chan recv", "rsem",
	"barrier (timed)",
};

/* What the waiter's loop, its peer thread or process share (MAP_SHARED). */
struct sh {
	conc_mutex m, cm;
	conc_sem sem;
	conc_event ev;
	conc_cond cond;
	conc_barrier bar;
	conc_rwlock rw;
	conc_queue *q;
	conc_chan *a, *b;
	conc_rsem *rs;
	enum kind kind;
	bool shared;
	uint32_t phase, ticks, stop, t0, flag, peer_ok;
	int err;		/* the waiter's first failure */
	conc_task *waiter;
};

/* Wait for *w >= v within BOUND, from a task (sleeping) or a thread. */
static int until(uint32_t *w, uint32_t v)
{
	int64_t end = now_ns() + BOUND;

	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) < v) {
		if (now_ns() > end)
			return -ETIMEDOUT;
		if (conc_task_self())
			conc_sleep(100000);
		else
			sleep_ns(100000);
	}
	return 0;
}

static void set(uint32_t *w, uint32_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
}

/* The peer takes what the waiter will wait for. */
static int peer_take(struct sh *s)
{
	switch (s->kind) {
	case K_MUTEX: case K_RMUTEX: case K_ROBUST:
		return conc_mutex_lock(&s->m);
	case K_RDLOCK: return conc_rwlock_wrlock(&s->rw);
	case K_WRLOCK: return conc_rwlock_rdlock(&s->rw);
	case K_RSEM: return conc_rsem_wait(s->rs);
	default: return 0;
	}
}

/* The peer gives what the waiter waits for. */
static int peer_give(struct sh *s)
{
	char c = 'x';
	int r;

	switch (s->kind) {
	case K_MUTEX: case K_RMUTEX: case K_ROBUST:
		return conc_mutex_unlock(&s->m);
	case K_RDLOCK: case K_WRLOCK: return conc_rwlock_unlock(&s->rw);
	case K_RSEM: return conc_rsem_post(s->rs);
	case K_SEM: return conc_sem_post(&s->sem);
	case K_EVENT: return conc_event_set(&s->ev);
	case K_COND:
		/* The waiter holds cm until it waits: ours once it does. */
		if ((r = conc_mutex_lock(&s->cm)))
			return r;
		set(&s->flag, 1);
		r = conc_cond_signal(&s->cond);
		return conc_mutex_unlock(&s->cm) ? -1 : r;
	case K_QGET: return conc_queue_put(s->q, &c, 1, BOUND);
	case K_QPUT: {
		char b[8];
		ssize_t n = conc_queue_get(s->q, b, sizeof(b), BOUND);

		return n == 1 ? 0 : (int)n - 1000;
	}
	case K_CRECV: return conc_chan_send(s->b, &c, 1, BOUND);
	case K_BARRIER: {
		r = conc_barrier_wait_timed(&s->bar, BOUND);
		return r == 0 || r == CONC_BARRIER_SERIAL ? 0 : r;
	}
	default: return -1;
	}
}

static int peer(void *arg)
{
	struct sh *s = arg;
	int r;

	if ((r = peer_take(s)))
		return 10;
	set(&s->phase, 1);
	if (until(&s->phase, 3))
		return 11;
	/* The waiter waits now: the loop's ticker must go on meanwhile. */
	if (until(&s->ticks, __atomic_load_n(&s->t0, __ATOMIC_ACQUIRE) + 3) == 0)
		set(&s->peer_ok, 1);
	if ((r = peer_give(s)))
		return 12;
	return until(&s->phase, 4) ? 13 : 0;
}

static void *peer_thread(void *arg)
{
	return (void *)(intptr_t)peer(arg);
}

/* One wait of the kind; timeout_ns as given. */
static int wait_one(struct sh *s, int64_t timeout_ns)
{
	char b[8];
	ssize_t n;
	int r;

	switch (s->kind) {
	case K_MUTEX: case K_RMUTEX: case K_ROBUST:
		return conc_mutex_timedlock(&s->m, timeout_ns);
	case K_SEM: return conc_sem_timedwait(&s->sem, timeout_ns);
	case K_EVENT: return conc_event_wait(&s->ev, timeout_ns);
	case K_COND:
		if ((r = conc_mutex_lock(&s->cm)))
			return -2000 + r;
		if (timeout_ns == BOUND)
			set(&s->phase, 3);
		r = 0;
		while (!__atomic_load_n(&s->flag, __ATOMIC_ACQUIRE) && r == 0)
			r = conc_cond_wait(&s->cond, &s->cm, timeout_ns);
		/* every return holds the mutex again */
		if (conc_mutex_unlock(&s->cm))
			return -3000;
		return r;
	case K_RDLOCK: return conc_rwlock_timedrdlock(&s->rw, timeout_ns);
	case K_WRLOCK: return conc_rwlock_timedwrlock(&s->rw, timeout_ns);
	case K_QGET:
		n = conc_queue_get(s->q, b, sizeof(b), timeout_ns);
		return n == 1 ? 0 : n < 0 ? (int)n : -4000;
	case K_QPUT: return conc_queue_put(s->q, "y", 1, timeout_ns);
	case K_CRECV:
		n = conc_chan_recv(s->a, b, sizeof(b), timeout_ns);
		return n == 1 ? 0 : n < 0 ? (int)n : -5000;
	case K_RSEM: return conc_rsem_timedwait(s->rs, timeout_ns);
	case K_BARRIER:
		r = conc_barrier_wait_timed(&s->bar, timeout_ns);
		return r == CONC_BARRIER_SERIAL ? 0 : r;
	default: return -1;
	}
}

/* Give back what the waiter took. */
static int undo(struct sh *s)
{
	switch (s->kind) {
	case K_MUTEX: case K_RMUTEX: case K_ROBUST:
		return conc_mutex_unlock(&s->m);
	case K_RDLOCK: case K_WRLOCK: return conc_rwlock_unlock(&s->rw);
	case K_RSEM: return conc_rsem_post(s->rs);
	default: return 0;
	}
}

static int ticker(void *arg)
{
	struct sh *s = arg;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		__atomic_fetch_add(&s->ticks, 1, __ATOMIC_RELEASE);
		if (conc_sleep(1 * MS))
			return -1;
	}
	return 0;
}

static int canceller(void *arg)
{
	struct sh *s = arg;
	int i;

	if (until(&s->phase, 2))
		return -1;
	/* Most often it waits by now; if not, the cancel waits for it. */
	for (i = 0; i < 3; i++)
		conc_yield();
	return conc_task_cancel(s->waiter);
}

static int waiter(void *arg)
{
	struct sh *s = arg;
	conc_task *c;
	int r, code = -1;

	if (until(&s->phase, 1))
		return -100;
	/* A barrier's timeout breaks it: that has its own tests. */
	if (s->kind != K_BARRIER) {
		r = wait_one(s, 1 * MS);
		if (r != -ETIMEDOUT)
			return -200 + (r < 0 ? r : -90);
		if (conc_go(&c, canceller, s, NULL))
			return -300;
		set(&s->phase, 2);
		r = wait_one(s, BOUND);
		if (conc_task_join(c, &code, BOUND) || code)
			return -400;
		if (r != -ECANCELED)
			return -500 + (r < 0 ? r : -90);
	}
	/* Cancelled once: this one waits, and is woken by the peer. */
	__atomic_store_n(&s->t0, __atomic_load_n(&s->ticks, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
	if (s->kind != K_COND)
		set(&s->phase, 3);
	r = wait_one(s, BOUND);
	if (r)
		return -600 + (r < 0 ? r : -90);
	if (undo(s))
		return -700;
	set(&s->phase, 4);
	return 0;
}

static int waiter_main(void *arg)
{
	struct sh *s = arg;
	conc_task_attr at = { .shared_stack = s->shared, .name = "waiter" };
	conc_task *tk, *w;
	int code = -1, tcode = -1;

	if (conc_go(&tk, ticker, s, &at) || conc_go(&w, waiter, s, &at))
		return -1;
	s->waiter = w;
	if (conc_task_join(w, &code, 3 * BOUND))
		code = -2;
	set(&s->stop, 1);
	if (conc_task_join(tk, &tcode, BOUND) || tcode)
		return -3;
	return code;
}

static void one(enum kind k, bool by_process, bool shared, int fb)
{
	struct sh *s = shared_alloc(sizeof(*s));
	conc_queue_attr qa = { .capacity = 1, .max_msg = 8 };
	pthread_t th;
	pid_t pid = -1;
	void *ret = NULL;
	int r, st;

	cr_assert_not_null(s);
	s->kind = k;
	s->shared = shared;
	cr_assert_eq(conc_mutex_init(&s->m, k == K_RMUTEX ? CONC_RECURSIVE :
				     k == K_ROBUST ? CONC_ROBUST : 0), 0);
	conc_barrier_init(&s->bar, 2, 0);
	if (k == K_QGET || k == K_QPUT) {
		cr_assert_eq(conc_queue_create(&s->q, &qa), 0);
		if (k == K_QPUT)
			cr_assert_eq(conc_queue_put(s->q, "f", 1, 0), 0);
	}
	if (k == K_CRECV)
		cr_assert_eq(conc_chan_pair(&s->a, &s->b, 0), 0);
	if (k == K_RSEM)
		cr_assert_eq(conc_rsem_create(&s->rs, NULL), 0);
	if (by_process) {
		pid = fork_child(peer, s);
		cr_assert_gt(pid, 0);
	} else {
		cr_assert_eq(pthread_create(&th, NULL, peer_thread, s), 0);
	}
	r = run(waiter_main, s);
	set(&s->phase, 4);	/* the peer does not wait for a failed waiter */
	if (by_process) {
		st = wait_child(pid, 20000);
		cr_expect(exited_with(st, 0), "%s, process peer: %d",
			  kname[k], WIFEXITED(st) ? WEXITSTATUS(st) : st);
	} else {
		cr_assert_eq(join_thread(th, 20000, &ret), 0);
		cr_expect_eq((intptr_t)ret, 0, "%s, thread peer: %d",
			     kname[k], (int)(intptr_t)ret);
	}
	cr_expect_eq(r, 0, "%s by a %s, %s stack, %s: %d", kname[k],
		     by_process ? "process" : "thread",
		     shared ? "shared" : "own",
		     fb ? "fallback" : "futex op", r);
	cr_expect(s->peer_ok, "%s by a %s, %s stack, %s: the loop stood still "
		  "while its task waited", kname[k],
		  by_process ? "process" : "thread", shared ? "shared" : "own",
		  fb ? "fallback" : "futex op");
	if (s->q)
		conc_queue_destroy(s->q);
	if (s->a) {
		conc_chan_close(s->a);
		conc_chan_close(s->b);
	}
	if (s->rs)
		conc_rsem_destroy(s->rs);
	shared_free(s, sizeof(*s));
}

static void matrix(enum kind k)
{
	int fb;

	EACH_FUTEX_MODE(fb)
		for (int p = 0; p < 2; p++)
			for (int sh = 0; sh < 2; sh++)
				one(k, p, sh, fb);
}

Test(hidden, mutex, .timeout = 120) { matrix(K_MUTEX); }
Test(hidden, recursive_mutex, .timeout = 120) { matrix(K_RMUTEX); }
Test(hidden, robust_mutex, .timeout = 120) { matrix(K_ROBUST); }
Test(hidden, sem, .timeout = 120) { matrix(K_SEM); }
Test(hidden, event, .timeout = 120) { matrix(K_EVENT); }
Test(hidden, cond, .timeout = 120) { matrix(K_COND); }
Test(hidden, rdlock, .timeout = 120) { matrix(K_RDLOCK); }
Test(hidden, wrlock, .timeout = 120) { matrix(K_WRLOCK); }
Test(hidden, queue_get, .timeout = 120) { matrix(K_QGET); }
Test(hidden, queue_put, .timeout = 120) { matrix(K_QPUT); }
Test(hidden, chan_recv, .timeout = 120) { matrix(K_CRECV); }
Test(hidden, rsem, .timeout = 120) { matrix(K_RSEM); }
Test(hidden, barrier_timed, .timeout = 120) { matrix(K_BARRIER); }

/* ---- conc_thread_exit in a task ------------------------------------------
 * conc_run(3): the thread ends at once with that code; the loop is
 * abandoned: its other tasks never run again and a join of one from another
 * thread waits to its timeout. Robust mutexes its tasks held are the next
 * locker's with -EOWNERDEAD, as for any thread that ends holding them. The
 * conc thread, parked and reused, runs the next jobs outside any loop, where
 * waits block the thread and are woken as usual. */
struct te {
	conc_mutex r1, r2;
	conc_sem sem;
	uint32_t held, runs, quiet, stage;
	conc_task *sib;
	conc_loop *loop;
};

static int te_sibling(void *arg)
{
	struct te *x = arg;

	if (conc_mutex_lock(&x->r2))
		return -1;
	set(&x->held, 1);
	for (;;) {
		__atomic_fetch_add(&x->runs, 1, __ATOMIC_RELEASE);
		conc_sleep(1 * MS);
	}
	return 0;
}

static int te_exiter(void *arg)
{
	struct te *x = arg;

	if (conc_mutex_lock(&x->r1) || until(&x->held, 1))
		return -1;
	conc_sleep(1 * MS);
	conc_thread_exit(7);
}

static int te_main(void *arg)
{
	struct te *x = arg;
	conc_task_attr at = { .shared_stack = x->quiet != 0 };
	conc_task *t;
	int code = -1;

	x->loop = conc_loop_self();
	if (conc_go(&x->sib, te_sibling, x, &at) || conc_go(&t, te_exiter, x, &at))
		return -1;
	conc_task_join(t, &code, BOUND);
	return 100 + code;
}

static int te_thread(void *arg)
{
	int code = -1, r = conc_run(te_main, arg, &code);

	return r ? r : code;
}

static void te_never(void *arg)
{
	struct te *x = arg;

	__atomic_fetch_add(&x->runs, 1000, __ATOMIC_RELEASE);
}

/* A job on a reused conc thread: no loop, waits block and time out. */
static int te_plain_job(void *arg)
{
	struct te *x = arg;
	conc_mutex m = CONC_MUTEX_INIT;
	int r;

	if (conc_task_self() || conc_loop_self())
		return 1;
	if ((r = conc_sem_timedwait(&x->sem, 1 * MS)) != -ETIMEDOUT)
		return 200 - r;
	if (conc_sleep(1 * MS) || conc_yield())
		return 3;
	if (conc_mutex_lock(&m) || conc_mutex_lock(&m) != -EDEADLK ||
	    conc_mutex_unlock(&m))
		return 4;
	/* woken by the test's thread */
	__atomic_fetch_add(&x->stage, 1, __ATOMIC_RELEASE);
	if ((r = conc_sem_timedwait(&x->sem, BOUND)))
		return 300 - r;
	return 0;
}

static int te_child(void *arg)
{
	struct te *x = arg;
	conc_thread *th;
	uint32_t before;
	int code = -1, r, i;

	conc_mutex_init(&x->r1, CONC_ROBUST);
	conc_mutex_init(&x->r2, CONC_ROBUST);
	conc_sem_init(&x->sem, 0, 0);
	if (conc_thread_start(&th, te_thread, x, NULL) ||
	    conc_thread_join(th, &code, BOUND))
		return 1;
	if (code != 7)
		return 2;
	/* the loop's other task does not run again, and waits for no one */
	before = __atomic_load_n(&x->runs, __ATOMIC_ACQUIRE);
	if (conc_task_join(x->sib, &code, 20 * MS) != -ETIMEDOUT)
		return 3;
	if (__atomic_load_n(&x->runs, __ATOMIC_ACQUIRE) != before)
		return 4;
	/* a call would never run: refused, as for a loop that ended */
	if ((r = conc_loop_call(x->loop, te_never, x)) != -EPIPE)
		return 40 + (r == 0);
	/* both tasks held a robust mutex: their thread ended */
	if ((r = conc_mutex_timedlock(&x->r1, 1 * SEC)) != -EOWNERDEAD)
		return 50 + (r == -ETIMEDOUT);
	if ((r = conc_mutex_timedlock(&x->r2, 1 * SEC)) != -EOWNERDEAD)
		return 60 + (r == -ETIMEDOUT);
	if (conc_mutex_consistent(&x->r1) || conc_mutex_unlock(&x->r1) ||
	    conc_mutex_consistent(&x->r2) || conc_mutex_unlock(&x->r2))
		return 7;
	for (i = 0; i < 4; i++) {
		if (conc_thread_start(&th, te_plain_job, x, NULL))
			return 8;
		if (until(&x->stage, (uint32_t)i + 1))
			return 10;
		conc_sem_post(&x->sem);
		if (conc_thread_join(th, &code, BOUND))
			return 9;
		if (code)
			return 100 + code;
	}
	return 0;
}

static void thread_exit_in_a_task(bool shared)
{
	struct te *x = shared_alloc(sizeof(*x));
	int st;

	need_uring();
	if (conc_thread_support(NULL) < 0)
		cr_skip_test("no conc threads here");
	x->quiet = shared;
	st = run_in_child(te_child, x, 30000);
	cr_expect_eq(st, 0, "%s stack: %d", shared ? "shared" : "own", st);
	shared_free(x, sizeof(*x));
}

Test(hidden, thread_exit_in_a_task, .timeout = 60) { thread_exit_in_a_task(false); }
Test(hidden, thread_exit_in_a_shared_stack_task, .timeout = 60) { thread_exit_in_a_task(true); }

/* ---- exit(3) in a task -------------------------------------------------
 * The process ends: exit waits for the non-daemon conc thread (conc(7):
 * Python's exit rules), blocking the thread; the loop's other tasks do not
 * run meanwhile, nor does conc_run return into main a second time. */
struct ex {
	uint32_t runs, at_exit, thread_done, returned;
};


static int ex_thread(void *arg)
{
	struct ex *x = arg;

	sleep_ns(30 * MS);
	set(&x->thread_done, 1);
	return 0;
}

static int ex_sibling(void *arg)
{
	struct ex *x = arg;

	for (;;) {
		__atomic_fetch_add(&x->runs, 1, __ATOMIC_RELEASE);
		conc_sleep(1 * MS);
	}
	return 0;
}

static int ex_main(void *arg)
{
	struct ex *x = arg;
	conc_task_attr at = { .shared_stack = x->at_exit == 1 };
	conc_thread *th;
	conc_task *t;

	if (conc_thread_start(&th, ex_thread, x, NULL) ||
	    conc_go(&t, ex_sibling, x, &at))
		return -1;
	conc_sleep(3 * MS);
	x->at_exit = __atomic_load_n(&x->runs, __ATOMIC_ACQUIRE) + 10;
	exit(3);
}

static int ex_child(void *arg)
{
	struct ex *x = arg;
	int code = -1;

	conc_run(ex_main, x, &code);
	set(&x->returned, 1);
	return 4;
}

static void exit_in_a_task(bool shared)
{
	struct ex *x = shared_alloc(sizeof(*x));
	pid_t pid;
	int st;

	need_uring();
	if (conc_thread_support(NULL) < 0)
		cr_skip_test("no conc threads here");
	x->at_exit = shared;
	pid = fork_child(ex_child, x);
	cr_assert_gt(pid, 0);
	st = wait_child(pid, 20000);
	cr_expect(exited_with(st, 3), "%s stack: status %d", shared ? "shared" : "own", st);
	cr_expect(x->thread_done, "exit waited for the non-daemon thread");
	cr_expect_eq(x->returned, 0u, "conc_run returned after exit");
	cr_expect_eq(x->runs + 10, x->at_exit, "%s stack: the other task ran %d times during exit",
		     shared ? "shared" : "own", (int)(x->runs + 10 - x->at_exit));
	shared_free(x, sizeof(*x));
}

Test(hidden, exit_in_a_task, .timeout = 60) { exit_in_a_task(false); }
Test(hidden, exit_in_a_shared_stack_task, .timeout = 60) { exit_in_a_task(true); }
