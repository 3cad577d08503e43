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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include <conc.h>
#include "loop_helpers.h"

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
	bool last;	/* the waiter's last wait: the one the peer ends */
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

__attribute__((noinline)) static void set(uint32_t *w, uint32_t v)
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
		/* Only the last wait lets the peer signal: the one that is
		 * to end by a cancel would end by the signal if it came
		 * first. */
		if (s->last)
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

	return tick_until(&s->ticks, &s->stop);
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
	s->last = true;
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
 * run meanwhile, nor does conc_run return into main a second time. The
 * thread ends only once exit has begun (an atexit handler registered after
 * the library's runs first) and the main thread sleeps in a futex wait:
 * an exit that did not wait would have ended the process before. */
struct ex {
	uint32_t runs, at_exit, exiting, thread_done, returned;
};

static struct ex *ex_now;

static void ex_exiting(void)
{
	set(&ex_now->exiting, 1);
}

/* Whether thread tid of this process sleeps in a futex wait (where it is
 * blocked is what /proc says; its state where it cannot say). */
static bool in_futex_wait(pid_t tid)
{
	char path[64], s[256] = "";
	long nr = -1;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	if ((fd = open(path, O_RDONLY)) >= 0) {
		n = read(fd, s, sizeof(s) - 1);
		close(fd);
		if (n > 0 && sscanf(s, "%ld", &nr) == 1)
			return nr == SYS_futex
#ifdef SYS_futex_waitv
			       || nr == SYS_futex_waitv
#endif
				;
		if (n > 0)
			return false;	/* "running" */
	}
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return false;
	n = read(fd, s, sizeof(s) - 1);
	close(fd);
	s[n > 0 ? n : 0] = 0;
	return strstr(s, ") S ") != NULL;
}

static int ex_thread(void *arg)
{
	struct ex *x = arg;
	int i;

	for (i = 0; !__atomic_load_n(&x->exiting, __ATOMIC_ACQUIRE) && i < 30000; i++)
		sleep_ns(1 * MS);
	for (; !in_futex_wait(getpid()) && i < 30000; i++)
		sleep_ns(1 * MS);
	set(&x->thread_done, i < 30000 ? 1 : 2);
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
	ex_now = x;
	if (atexit(ex_exiting))
		return -2;
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
	cr_expect_eq(x->thread_done, 1u, "exit waited for the non-daemon thread (%u)",
		     x->thread_done);
	cr_expect_eq(x->returned, 0u, "conc_run returned after exit");
	cr_expect_eq(x->runs + 10, x->at_exit, "%s stack: the other task ran %d times during exit",
		     shared ? "shared" : "own", (int)(x->runs + 10 - x->at_exit));
	shared_free(x, sizeof(*x));
}

Test(hidden, exit_in_a_task, .timeout = 60) { exit_in_a_task(false); }
Test(hidden, exit_in_a_shared_stack_task, .timeout = 60) { exit_in_a_task(true); }

/* ---- two tasks of one loop, one lock --------------------------------------
 * Ownership is per task: the second waits (no -EDEADLK, no recursion into
 * the first's count, -EPERM for its unlock) and gets the lock once the
 * first released it as many times as it took it. */
struct two {
	conc_mutex m;
	conc_rwlock rw;
	uint32_t stage, got;
	bool shared, rw_mode;
};

static int two_first(void *arg)
{
	struct two *x = arg;

	if (x->rw_mode) {
		if (conc_rwlock_wrlock(&x->rw))
			return -1;
		if (conc_rwlock_wrlock(&x->rw) != -EDEADLK)
			return -2;
	} else if (conc_mutex_lock(&x->m) || conc_mutex_lock(&x->m)) {
		return -1;
	}
	set(&x->stage, 1);
	if (until(&x->stage, 2))
		return -3;
	/* the other waits in its lock now, or will */
	conc_sleep(2 * MS);
	if (x->rw_mode)
		return conc_rwlock_unlock(&x->rw) ? -4 : 0;
	if (conc_mutex_unlock(&x->m))
		return -4;
	conc_sleep(2 * MS);
	if (__atomic_load_n(&x->got, __ATOMIC_ACQUIRE))
		return -5;	/* taken while we still held it once */
	return conc_mutex_unlock(&x->m) ? -6 : 0;
}

static int two_second(void *arg)
{
	struct two *x = arg;
	int r;

	if (until(&x->stage, 1))
		return -10;
	if (x->rw_mode) {
		if ((r = conc_rwlock_tryrdlock(&x->rw)) != -EBUSY && r != -EAGAIN)
			return -11;
		if (conc_rwlock_timedrdlock(&x->rw, 1 * MS) != -ETIMEDOUT ||
		    conc_rwlock_timedwrlock(&x->rw, 1 * MS) != -ETIMEDOUT)
			return -12;
		if (conc_rwlock_unlock(&x->rw) != -EPERM)
			return -13;
		set(&x->stage, 2);
		if ((r = conc_rwlock_wrlock(&x->rw)))
			return -100 + r;
		set(&x->got, 1);
		return conc_rwlock_unlock(&x->rw) ? -14 : 0;
	}
	if (conc_mutex_trylock(&x->m) != -EBUSY)
		return -11;
	if (conc_mutex_timedlock(&x->m, 1 * MS) != -ETIMEDOUT)
		return -12;
	if (conc_mutex_unlock(&x->m) != -EPERM)
		return -13;
	set(&x->stage, 2);
	if ((r = conc_mutex_lock(&x->m)))
		return -100 + r;
	set(&x->got, 1);
	/* our own count, from 1 */
	if (conc_mutex_lock(&x->m) || conc_mutex_unlock(&x->m) ||
	    conc_mutex_unlock(&x->m))
		return -14;
	if (conc_mutex_unlock(&x->m) != -EPERM)
		return -15;
	return 0;
}

static int two_main(void *arg)
{
	struct two *x = arg;
	conc_task_attr at = { .shared_stack = x->shared };
	conc_task *ts[2];
	int codes[2] = { -1, -1 }, r;

	if (conc_go(&ts[0], two_first, x, &at) || conc_go(&ts[1], two_second, x, &at))
		return -1000;
	r = conc_gather(ts, 2, codes, 0, 3 * BOUND);
	if (r)
		return r == -ETIMEDOUT ? -2000 : codes[0] ? codes[0] - 1000 : codes[1];
	/* and free for a plain trylock now */
	if (x->rw_mode)
		return conc_rwlock_trywrlock(&x->rw) || conc_rwlock_unlock(&x->rw) ? -3000 : 0;
	return conc_mutex_trylock(&x->m) || conc_mutex_unlock(&x->m) ? -3000 : 0;
}

static void two_tasks(unsigned flags, bool rw_mode)
{
	int fb;

	EACH_FUTEX_MODE(fb)
		for (int sh = 0; sh < 2; sh++) {
			struct two *x = shared_alloc(sizeof(*x));
			int r;

			cr_assert_not_null(x);
			cr_assert_eq(conc_mutex_init(&x->m, flags), 0);
			x->shared = sh;
			x->rw_mode = rw_mode;
			r = run(two_main, x);
			cr_expect_eq(r, 0, "flags %#x%s, %s stack, %s: %d", flags,
				     rw_mode ? " rwlock" : "", sh ? "shared" : "own",
				     fb ? "fallback" : "futex op", r);
			shared_free(x, sizeof(*x));
		}
}

Test(hidden, two_tasks_one_recursive_mutex, .timeout = 60) { two_tasks(CONC_RECURSIVE, false); }
Test(hidden, two_tasks_one_recursive_robust_mutex, .timeout = 60) { two_tasks(CONC_RECURSIVE | CONC_ROBUST, false); }
Test(hidden, two_tasks_one_rwlock, .timeout = 60) { two_tasks(0, true); }

/* ---- conc_gather with CONC_GATHER_CANCEL that times out -------------------
 * One task fails, one takes its cancel and then cleans up until told, one
 * ends well: the gather cancels and times out; no handle is freed, every
 * one is gathered again, from a task (own or shared stack) or a thread. */
struct ga {
	conc_event ev;
	uint32_t stage;
	int r1, r2, codes[3];
	conc_task *ts[3];
	bool shared;
};

static int ga_fail(void *arg)
{
	(void)arg;
	conc_yield();
	return -EIO;
}

static int ga_stubborn(void *arg)
{
	struct ga *x = arg;
	int r = conc_sleep(BOUND);

	if (r != -ECANCELED)
		return -1000 + r;
	/* cleaning up, long */
	return conc_event_wait(&x->ev, BOUND) ? -2000 : 9;
}

static int ga_quick(void *arg)
{
	(void)arg;
	return 1;
}

static int ga_gather(struct ga *x)
{
	x->r1 = conc_gather(x->ts, 3, x->codes, CONC_GATHER_CANCEL, 20 * MS);
	conc_event_set(&x->ev);
	x->codes[0] = x->codes[1] = x->codes[2] = -77;
	x->r2 = conc_gather(x->ts, 3, x->codes, 0, BOUND);
	return 0;
}

static int ga_task(void *arg)
{
	return ga_gather(arg);
}

static void *ga_thread(void *arg)
{
	struct ga *x = arg;

	ga_gather(x);
	set(&x->stage, 1);
	return NULL;
}

static int ga_main(void *arg)
{
	struct ga *x = arg;
	conc_task_attr at = { .shared_stack = x->shared };
	conc_task *g;
	pthread_t th;
	int code;

	if (conc_go(&x->ts[0], ga_fail, x, &at) ||
	    conc_go(&x->ts[1], ga_stubborn, x, &at) ||
	    conc_go(&x->ts[2], ga_quick, x, &at))
		return -1;
	if (x->stage == 2) {		/* from a plain thread */
		x->stage = 0;
		if (pthread_create(&th, NULL, ga_thread, x))
			return -2;
		if (until(&x->stage, 1))
			return -3;
		return join_thread(th, 10000, NULL) ? -4 : 0;
	}
	if (x->shared)
		return conc_go(&g, ga_task, x, &at) ||
		       conc_task_join(g, &code, 3 * BOUND) ? -5 : code;
	return ga_gather(x);
}

Test(hidden, gather_cancel_that_times_out_frees_nothing, .timeout = 60)
{
	for (int mode = 0; mode < 3; mode++) {
		struct ga *x = calloc(1, sizeof(*x));
		int r;

		need_uring();
		conc_event_init(&x->ev, 0);
		x->shared = mode == 1;
		x->stage = mode == 2 ? 2 : 0;
		r = run(ga_main, x);
		cr_expect_eq(r, 0, "mode %d: %d", mode, r);
		cr_expect_eq(x->r1, -ETIMEDOUT, "mode %d: %d", mode, x->r1);
		cr_expect_eq(x->r2, -EIO, "mode %d: %d", mode, x->r2);
		cr_expect(x->codes[0] == -EIO && x->codes[1] == 9 && x->codes[2] == 1,
			  "mode %d: codes %d %d %d", mode, x->codes[0], x->codes[1],
			  x->codes[2]);
		free(x);
	}
}

/* ---- nested conc_run --------------------------------------------------- */
static int nothing(void *arg)
{
	(void)arg;
	return 5;
}

static uint32_t nest_bad;

static void nest_call(void *arg)
{
	int code = -1;

	(void)arg;
	if (conc_run(nothing, NULL, &code) != -EBUSY || code != -1)
		__atomic_fetch_add(&nest_bad, 1, __ATOMIC_RELAXED);
}

static int nest_in_thread(void *arg)
{
	int code = -1, r = conc_run(nothing, arg, &code);

	return r ? r : code;
}

static int nest_task(void *arg)
{
	int code = -1, r;

	(void)arg;
	if ((r = conc_run(nothing, NULL, &code)) != -EBUSY || code != -1)
		return -1;
	/* the loop is still whole */
	if (!conc_task_self() || !conc_loop_self() || conc_sleep(1 * MS))
		return -2;
	/* a conc thread may run a loop of its own */
	if (conc_thread_support(NULL) == 0 &&
	    (conc_to_thread(nest_in_thread, NULL, &r, BOUND) || r != 5))
		return -3;
	return 0;
}

static int nest_main(void *arg)
{
	conc_task_attr at = { .shared_stack = true };
	conc_task *t[2];
	int codes[2];

	(void)arg;
	if (conc_go(&t[0], nest_task, NULL, &at) || conc_go(&t[1], nest_task, NULL, NULL))
		return -10;
	if (conc_loop_call(conc_loop_self(), nest_call, NULL))
		return -11;
	if (conc_gather(t, 2, codes, 0, BOUND))
		return codes[0] * 100 + codes[1];
	conc_sleep(1 * MS);
	return 0;
}

Test(hidden, nested_run_from_shared_stack_and_call_tasks, .timeout = 60)
{
	need_uring();
	cr_expect_eq(run(nest_main, NULL), 0);
	cr_expect_eq(nest_bad, 0u);
}

/* ---- joins of a process and of a thread from tasks ----------------------
 * Own and shared stacks, with IORING_OP_WAITID and through a poll of the
 * pidfd: -ETIMEDOUT, one -ECANCELED, then a wait during which the ticker
 * runs, woken as the process or thread ends. */
struct pj {
	uint32_t phase, ticks, stop, t0, ok;
	bool shared, thread;
	conc_task *waiter;
};

static int pj_child(void *arg)
{
	struct pj *x = arg;

	if (until(&x->phase, 3))
		return 100;
	if (until(&x->ticks, __atomic_load_n(&x->t0, __ATOMIC_ACQUIRE) + 3) == 0)
		set(&x->ok, 1);
	return 5;
}

static int pj_ticker(void *arg)
{
	struct pj *x = arg;

	while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE)) {
		__atomic_fetch_add(&x->ticks, 1, __ATOMIC_RELEASE);
		if (conc_sleep(1 * MS))
			return -1;
	}
	return 0;
}

static int pj_canceller(void *arg)
{
	struct pj *x = arg;

	if (until(&x->phase, 2))
		return -1;
	conc_yield();
	return conc_task_cancel(x->waiter);
}

static int pj_join(struct pj *x, void *h, int *out, int64_t timeout_ns)
{
	return x->thread ? conc_thread_join(h, out, timeout_ns) :
			   conc_proc_join(h, out, timeout_ns);
}

static int pj_waiter(void *arg)
{
	struct pj *x = arg;
	conc_proc *p = NULL;
	conc_thread *th = NULL;
	void *h;
	conc_task *c;
	int r, out = -1, code = -1;

	if (x->thread ? conc_thread_start(&th, pj_child, x, NULL) :
	    conc_proc_start(&p, pj_child, x, NULL))
		return -1;
	h = x->thread ? (void *)th : (void *)p;
	if ((r = pj_join(x, h, &out, 1 * MS)) != -ETIMEDOUT)
		return -200 + r;
	if (conc_go(&c, pj_canceller, x, NULL))
		return -3;
	set(&x->phase, 2);
	r = pj_join(x, h, &out, BOUND);
	if (conc_task_join(c, &code, BOUND) || code)
		return -4;
	if (r != -ECANCELED)
		return -500 + r;
	__atomic_store_n(&x->t0, __atomic_load_n(&x->ticks, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
	set(&x->phase, 3);
	if ((r = pj_join(x, h, &out, 2 * BOUND)))
		return -600 + r;
	if (x->thread ? out != 5 : !(WIFEXITED(out) && WEXITSTATUS(out) == 5))
		return -7;
	if (p)
		conc_proc_release(p);
	return 0;
}

static int pj_main(void *arg)
{
	struct pj *x = arg;
	conc_task_attr at = { .shared_stack = x->shared };
	conc_task *tk, *w;
	int code = -1, tcode = -1;

	if (conc_go(&tk, pj_ticker, x, &at) || conc_go(&w, pj_waiter, x, &at))
		return -1;
	x->waiter = w;
	if (conc_task_join(w, &code, 3 * BOUND))
		code = -2;
	set(&x->stop, 1);
	if (conc_task_join(tk, &tcode, BOUND) || tcode)
		return -3;
	return code;
}

static void joins(bool thread)
{
	need_uring();
	if (thread && conc_thread_support(NULL) < 0)
		cr_skip_test("no conc threads here");
	for (int nowaitid = 0; nowaitid < 2; nowaitid++)
		for (int sh = 0; sh < 2; sh++) {
			struct pj *x = shared_alloc(sizeof(*x));
			int r;

			if (nowaitid)
				setenv("CONC_LOOP_NO_WAITID_OP", "1", 1);
			else
				unsetenv("CONC_LOOP_NO_WAITID_OP");
			x->shared = sh;
			x->thread = thread;
			r = run(pj_main, x);
			cr_expect_eq(r, 0, "%s stack%s: %d", sh ? "shared" : "own",
				     nowaitid ? ", pidfd poll" : "", r);
			cr_expect(x->ok, "%s stack%s: the loop stood still",
				  sh ? "shared" : "own", nowaitid ? ", pidfd poll" : "");
			shared_free(x, sizeof(*x));
		}
}

Test(hidden, proc_join_in_tasks, .timeout = 60) { joins(false); }
Test(hidden, thread_join_in_tasks, .timeout = 60) { joins(true); }

/* ---- a pending cancel and calls that need not wait ----------------------
 * conc_task_cancel(3): a call that finds what it waits for takes it and
 * leaves the cancel pending; a look (timeout 0) never waits, so it leaves
 * it too, for every waiting call alike: joins of tasks, threads and
 * processes, gathers, channels, I/O and polls as much as locks. A look
 * that took it, read by its caller as "not yet", would lose the cancel.
 * conc_sleep takes it always, conc_to_thread unless its timeout is 0
 * (their pages say so). */
struct lk {
	conc_mutex mx, rmx;
	conc_sem sem;
	conc_event ev;
	conc_cond cv;
	conc_mutex cm;
	conc_barrier bar;
	conc_rwlock rw;
	conc_queue *q, *qf;
	conc_chan *ca, *cb;
	conc_rsem *rs;
	int pfd[2], sv[2], lfd;
	uint32_t bad, stop;
	char what[64];
};

static int lk_holder(void *arg)
{
	struct lk *x = arg;

	if (conc_mutex_lock(&x->mx) || conc_mutex_lock(&x->rmx) ||
	    conc_rwlock_wrlock(&x->rw) || conc_rsem_wait(x->rs))
		return -1;
	while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE))
		if (conc_sleep(1 * MS))
			break;
	conc_mutex_unlock(&x->mx);
	conc_mutex_unlock(&x->rmx);
	conc_rwlock_unlock(&x->rw);
	conc_rsem_post(x->rs);
	return 0;
}

static int lk_sleeper(void *arg)
{
	struct lk *x = arg;

	while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE))
		if (conc_sleep(1 * MS))
			break;
	return 0;
}

static int lk_until_stop(void *arg)
{
	struct lk *x = arg;

	until(&x->stop, 1);
	return 4;
}

/* Cancel ourselves, make the call, then the cancel must still be there. */
#define LOOK(x, name, call, want) do {						\
	long r_;								\
	conc_task_cancel(conc_task_self());					\
	r_ = (long)(call);							\
	if (r_ != (want) && !(x)->bad) {					\
		(x)->bad = 1;							\
		snprintf((x)->what, sizeof((x)->what), "%s: %ld", name, r_);	\
		goto out;							\
	}									\
	if (conc_sleep(0) != -ECANCELED) {					\
		(x)->bad = 2;							\
		snprintf((x)->what, sizeof((x)->what), "%s took the cancel", name); \
		goto out;							\
	}									\
} while (0)

static int lk_main(void *arg)
{
	struct lk *x = arg;
	conc_task *h, *t, *done;
	conc_thread *th;
	conc_proc *p;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	char b[16];
	int c, fd;
	bool threads = conc_thread_support(NULL) == 0;

	if (conc_go(&h, lk_holder, x, NULL) || conc_yield() ||
	    conc_go(&t, lk_sleeper, x, NULL) || conc_go(&done, lk_sleeper, x, NULL) ||
	    conc_proc_start(&p, lk_until_stop, x, NULL) ||
	    (threads && conc_thread_start(&th, lk_until_stop, x, NULL)))
		return -1;
	/* looks at what is not there */
	LOOK(x, "task join", conc_task_join(t, &c, 0), -ETIMEDOUT);
	LOOK(x, "gather", conc_gather(&t, 1, &c, CONC_GATHER_CANCEL, 0), -ETIMEDOUT);
	LOOK(x, "mutex", conc_mutex_timedlock(&x->mx, 0), -ETIMEDOUT);
	LOOK(x, "recursive mutex", conc_mutex_timedlock(&x->rmx, 0), -ETIMEDOUT);
	LOOK(x, "sem", conc_sem_timedwait(&x->sem, 0), -ETIMEDOUT);
	LOOK(x, "event", conc_event_wait(&x->ev, 0), -ETIMEDOUT);
	if (conc_mutex_lock(&x->cm))
		return -2;
	LOOK(x, "cond", conc_cond_wait(&x->cv, &x->cm, 0), -ETIMEDOUT);
	conc_mutex_unlock(&x->cm);
	LOOK(x, "rdlock", conc_rwlock_timedrdlock(&x->rw, 0), -ETIMEDOUT);
	LOOK(x, "wrlock", conc_rwlock_timedwrlock(&x->rw, 0), -ETIMEDOUT);
	LOOK(x, "rsem", conc_rsem_timedwait(x->rs, 0), -ETIMEDOUT);
	LOOK(x, "barrier", conc_barrier_wait_timed(&x->bar, 0), -ETIMEDOUT);
	conc_barrier_init(&x->bar, 2, 0);	/* broken by that timeout */
	LOOK(x, "queue get", conc_queue_get(x->q, b, sizeof(b), 0), -ETIMEDOUT);
	LOOK(x, "queue put", conc_queue_put(x->qf, "y", 1, 0), -ETIMEDOUT);
	LOOK(x, "chan recv", conc_chan_recv(x->ca, b, sizeof(b), 0), -ETIMEDOUT);
	LOOK(x, "proc join", conc_proc_join(p, &c, 0), -ETIMEDOUT);
	if (threads)
		LOOK(x, "thread join", conc_thread_join(th, &c, 0), -ETIMEDOUT);
	LOOK(x, "read", conc_read(x->pfd[0], b, sizeof(b), 0), -ETIMEDOUT);
	LOOK(x, "recv", conc_recv(x->sv[0], b, sizeof(b), 0, 0), -ETIMEDOUT);
	LOOK(x, "recv MSG_DONTWAIT", conc_recv(x->sv[0], b, sizeof(b), MSG_DONTWAIT, BOUND), -EAGAIN);
	LOOK(x, "accept", conc_accept(x->lfd, NULL, NULL, 0, 0), -ETIMEDOUT);
	LOOK(x, "poll", conc_poll(x->pfd[0], POLLIN, 0), -ETIMEDOUT);
	/* calls that find what they wait for, whatever their timeout */
	if (write(x->pfd[1], "abcdef", 6) != 6 || send(x->sv[1], "ghijkl", 6, 0) != 6 ||
	    conc_chan_send(x->cb, "m", 1, 0) || conc_queue_put(x->q, "n", 1, 0))
		return -3;
	LOOK(x, "poll, ready", conc_poll(x->pfd[0], POLLIN, BOUND), POLLIN);
	LOOK(x, "read, ready", conc_read(x->pfd[0], b, 3, BOUND), 3);
	LOOK(x, "read, ready, 0", conc_read(x->pfd[0], b, 3, 0), 3);
	LOOK(x, "recv, ready", conc_recv(x->sv[0], b, 3, 0, BOUND), 3);
	LOOK(x, "recv, ready, 0", conc_recv(x->sv[0], b, 3, 0, 0), 3);
	LOOK(x, "write, room", conc_write(x->pfd[1], "z", 1, BOUND), 1);
	LOOK(x, "send, room", conc_send(x->sv[1], "z", 1, 0, BOUND), 1);
	LOOK(x, "chan recv, ready", conc_chan_recv(x->ca, b, sizeof(b), BOUND), 1);
	LOOK(x, "queue get, ready", conc_queue_get(x->q, b, sizeof(b), BOUND), 1);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	/* connect returns once the client saw the SYN-ACK; the listener
	 * queues the connection when it has the last ACK, which the kernel
	 * may handle later on another CPU (ksoftirqd, under load): ready
	 * is what poll says, or the accept had to wait and took the cancel. */
	if (fd < 0 || getsockname(x->lfd, (struct sockaddr *)&sa, &sl) ||
	    connect(fd, (struct sockaddr *)&sa, sl) ||
	    poll(&(struct pollfd){ .fd = x->lfd, .events = POLLIN }, 1, 10000) != 1)
		return -4;
	LOOK(x, "accept, ready", (c = conc_accept(x->lfd, NULL, NULL, 0, BOUND)) >= 0, 1);
	if (c >= 0)
		close(c);
	close(fd);
	/* and a call that has to wait takes it, once */
	conc_task_cancel(conc_task_self());
	if (conc_read(x->pfd[0], b, sizeof(b), 0) != 1 ||	/* the "z" */
	    conc_read(x->pfd[0], b, sizeof(b), BOUND) != -ECANCELED ||
	    conc_read(x->pfd[0], b, sizeof(b), 1 * MS) != -ETIMEDOUT)
		return -5;
	conc_task_cancel(conc_task_self());
	if (conc_poll(x->pfd[0], POLLIN, BOUND) != -ECANCELED ||
	    conc_poll(x->pfd[0], POLLIN, 1 * MS) != -ETIMEDOUT)
		return -6;
	conc_task_cancel(conc_task_self());
	if (conc_task_join(t, &c, BOUND) != -ECANCELED ||
	    conc_proc_join(p, &c, 1 * MS) != -ETIMEDOUT)
		return -7;
	set(&x->stop, 1);
	if (conc_gather(&t, 1, NULL, 0, BOUND) || conc_task_join(h, &c, BOUND) || c ||
	    conc_task_join(done, NULL, BOUND) || conc_proc_join(p, &c, BOUND) ||
	    !WIFEXITED(c) || WEXITSTATUS(c) != 4 ||
	    (threads && (conc_thread_join(th, &c, BOUND) || c != 4)))
		return -8;
	conc_proc_release(p);
	return 0;
out:
	set(&x->stop, 1);
	return -50;
}

static int lk_shared_main(void *arg)
{
	conc_task_attr at = { .shared_stack = true };
	conc_task *t;
	int code = -1;

	if (conc_go(&t, lk_main, arg, &at) || conc_task_join(t, &code, 3 * BOUND))
		return -100;
	return code;
}

Test(hidden, a_look_or_a_call_that_finds_leaves_the_cancel_pending, .timeout = 60)
{
	conc_queue_attr qa = { .capacity = 1, .max_msg = 8 };
	/* Shared: the process that lk_main starts must see stop, or it lives
	 * out its own 10 s bound and the final join's 10 s may end first. */
	struct lk *x = mmap(NULL, sizeof(*x), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(x, MAP_FAILED);

	int fb;

	EACH_FUTEX_MODE(fb)
	for (int sh = 0; sh < 2; sh++) {
		memset(x, 0, sizeof(*x));
		conc_mutex_init(&x->rmx, CONC_RECURSIVE);
		conc_barrier_init(&x->bar, 2, 0);
		cr_assert_eq(conc_rsem_create(&x->rs, NULL), 0);
		cr_assert_eq(conc_queue_create(&x->q, &qa), 0);
		cr_assert_eq(conc_queue_create(&x->qf, &qa), 0);
		cr_assert_eq(conc_queue_put(x->qf, "f", 1, 0), 0);
		cr_assert_eq(conc_chan_pair(&x->ca, &x->cb, 0), 0);
		cr_assert_eq(pipe(x->pfd), 0);
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, x->sv), 0);
		x->lfd = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert_geq(x->lfd, 0);
		{
			struct sockaddr_in sa = { .sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

			cr_assert_eq(bind(x->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
			cr_assert_eq(listen(x->lfd, 4), 0);
		}
		if (sh) {
			/* the same from a shared-stack task */
			cr_expect_eq(run(lk_shared_main, x), 0, "shared stack");
		} else {
			cr_expect_eq(run(lk_main, x), 0, "own stack");
		}
		cr_expect_eq(x->bad, 0u, "%s stack, %s: %s", sh ? "shared" : "own",
			     fb ? "fallback" : "futex op", x->what);
		conc_queue_destroy(x->q);
		conc_queue_destroy(x->qf);
		conc_chan_close(x->ca);
		conc_chan_close(x->cb);
		conc_rsem_destroy(x->rs);
		close(x->pfd[0]);
		close(x->pfd[1]);
		close(x->sv[0]);
		close(x->sv[1]);
		close(x->lfd);
	}
	munmap(x, sizeof(*x));
}
