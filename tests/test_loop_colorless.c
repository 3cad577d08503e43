/* test_loop_colorless.c — the waits of issue 10 as a user calls them, at
 * their edges: after a cancel the next call waits and is woken as usual;
 * a timeout or cancel undoes what the call had begun (a writer that gave
 * up lets readers in, a barrier is broken for the parties of a thread and
 * of a process, an rsem's one slot is free again); joins of processes and
 * futures that timed out or were cancelled still deliver; a cancel waits
 * for a call that waits; conc_to_thread never writes through ret after it
 * returned, and a function that ends its thread has returned; a recursive
 * robust mutex of a killed task is the next locker's once; loop calls of
 * one thread start in order; a task's overflow reaches the program's own
 * SIGSEGV handler when the program did not opt in. Futex waits also
 * without IORING_OP_FUTEX_WAIT (CONC_LOOP_NO_FUTEX_OP), process joins
 * without IORING_OP_WAITID (CONC_LOOP_NO_WAITID_OP). */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <conc.h>
#include "loop_helpers.h"

TestSuite(colorless, .fini = plain_mode);

/* What tasks, threads and processes share (MAP_SHARED). */
struct sh {
	conc_mutex m;
	conc_sem sem;
	conc_event ev;
	conc_cond cond;
	conc_mutex cm;
	conc_barrier bar;
	conc_rwlock rw;
	conc_queue *q;
	conc_chan *a, *b;
	conc_rsem *rs;
	uint32_t stage, ticks, stop, flag;
	int peer_rc, thread_rc;
	bool shared;		/* waiters on the shared stack */
	int kind;
};

static int64_t deadline_in(int64_t ns)
{
	return now_ns() + ns;
}

/* Wait for *w >= v within BOUND, from a task (sleeping) or a thread. */
static int until(uint32_t *w, uint32_t v)
{
	int64_t end = deadline_in(BOUND);

	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) < v) {
		if (now_ns() > end)
			return -1;
		if (conc_task_self())
			conc_sleep(1 * MS);
		else
			sleep_ns(1 * MS);
	}
	return 0;
}

static __attribute__((noinline)) void stage(struct sh *s, uint32_t v)
{
	__atomic_store_n(&s->stage, v, __ATOMIC_RELEASE);
}

static int ticker(void *arg)
{
	struct sh *s = arg;

	tick_until(&s->ticks, &s->stop);
	return 0;	/* a cancelled ticker just ends */
}

/* Go with the waiter's attributes. */
static int go(struct sh *s, conc_task **t, int (*fn)(void *), void *arg)
{
	conc_task_attr a = { .shared_stack = s->shared };

	return conc_go(t, fn, arg, &a);
}

/* ---- 1. Cancelled once, the next call waits and is woken by a thread --- */

enum kind { K_SEM, K_MUTEX, K_RMUTEX, K_ROBUST, K_EVENT, K_COND, K_RDLOCK,
	    K_WRLOCK, K_QGET, K_QPUT, K_CRECV, K_RSEM, NKIND };
static const char *const kind_name[] = { "sem", "mutex", "recursive mutex",
	"robust mutex", "event", "cond", "rdlock", "wrlock", "queue_get",
	"queue_put", "chan_recv", "rsem" };

/* The call, untimed where the API has an untimed form. */
static int call(struct sh *s)
{
	char b[16];
	int r;

	switch (s->kind) {
	case K_SEM: return conc_sem_wait(&s->sem);
	case K_MUTEX: case K_RMUTEX: case K_ROBUST:
		r = conc_mutex_lock(&s->m);
		if (r == -EOWNERDEAD)
			return -1000;
		return r ? r : conc_mutex_unlock(&s->m);
	case K_EVENT: return conc_event_wait(&s->ev, CONC_FOREVER);
	case K_COND:
		if ((r = conc_mutex_lock(&s->cm)))
			return -2000 + r;
		while (r == 0 && !__atomic_load_n(&s->flag, __ATOMIC_ACQUIRE))
			r = conc_cond_wait(&s->cond, &s->cm, CONC_FOREVER);
		/* the mutex is ours again, whatever r */
		if (conc_mutex_unlock(&s->cm))
			return -3000;
		return r;
	case K_RDLOCK:
		r = conc_rwlock_rdlock(&s->rw);
		return r ? r : conc_rwlock_unlock(&s->rw);
	case K_WRLOCK:
		r = conc_rwlock_wrlock(&s->rw);
		return r ? r : conc_rwlock_unlock(&s->rw);
	case K_QGET:
		r = (int)conc_queue_get(s->q, b, sizeof(b), CONC_FOREVER);
		return r == 3 ? 0 : r < 0 ? r : -4000;
	case K_QPUT: return conc_queue_put(s->q, "new", 4, CONC_FOREVER);
	case K_CRECV:
		r = (int)conc_chan_recv(s->a, b, sizeof(b), CONC_FOREVER);
		return r == 3 ? 0 : r < 0 ? r : -4000;
	case K_RSEM:
		r = conc_rsem_wait(s->rs);
		return r ? r : conc_rsem_post(s->rs);
	default: return -5000;
	}
}

/* The peer thread: holds the object, lets the waiter be cancelled, then
 * releases it once the waiter waits again. */
static void *holder(void *arg)
{
	struct sh *s = arg;
	char b[16];
	int r = 0;

	switch (s->kind) {
	case K_MUTEX: case K_RMUTEX: case K_ROBUST:
		r = conc_mutex_lock(&s->m);
		if (!r && s->kind == K_RMUTEX)
			r = conc_mutex_lock(&s->m);
		break;
	case K_RDLOCK: r = conc_rwlock_wrlock(&s->rw); break;
	case K_WRLOCK: r = conc_rwlock_rdlock(&s->rw); break;
	case K_QPUT: r = conc_queue_put(s->q, "old", 4, BOUND); break;
	case K_RSEM: r = conc_rsem_wait(s->rs); break;
	default: break;
	}
	if (r) {
		s->thread_rc = 1;
		return NULL;
	}
	stage(s, 1);
	/* stage 20: the waiter was cancelled and waits again (not 10, "about
	 * to wait": releasing then raced the cancel, and a waiter that got
	 * the object before its cancel came returned 0; seen in CI) */
	if (until(&s->stage, 20) || until(&s->ticks, s->ticks + 3)) {
		s->thread_rc = 2;
		return NULL;
	}
	switch (s->kind) {
	case K_SEM: r = conc_sem_post(&s->sem); break;
	case K_MUTEX: case K_ROBUST: r = conc_mutex_unlock(&s->m); break;
	case K_RMUTEX:
		r = conc_mutex_unlock(&s->m);
		if (!r)
			r = conc_mutex_unlock(&s->m);
		break;
	case K_EVENT: r = conc_event_set(&s->ev); break;
	case K_COND:
		if ((r = conc_mutex_lock(&s->cm)))
			break;
		__atomic_store_n(&s->flag, 1, __ATOMIC_RELEASE);
		r = conc_cond_broadcast(&s->cond);
		conc_mutex_unlock(&s->cm);
		break;
	case K_RDLOCK: case K_WRLOCK: r = conc_rwlock_unlock(&s->rw); break;
	case K_QGET: r = conc_queue_put(s->q, "hi", 3, BOUND); break;
	case K_QPUT:
		r = (int)conc_queue_get(s->q, b, sizeof(b), BOUND);
		r = r == 4 && !strcmp(b, "old") ? 0 : -1;
		break;
	case K_CRECV: r = conc_chan_send(s->b, "hi", 3, BOUND); break;
	case K_RSEM: r = conc_rsem_post(s->rs); break;
	default: break;
	}
	s->thread_rc = r ? 3 : 0;
	return NULL;
}

static int cancelled_then_woken(void *arg)
{
	struct sh *s = arg;
	int r;

	stage(s, 10);	/* about to wait */
	r = call(s);
	if (r != -ECANCELED)
		return r == 0 ? -9999 : r - 20000;
	/* Cancelled once: the same call waits again, and is woken. */
	stage(s, 20);
	return call(s);
}

static int cancel_main(void *arg)
{
	struct sh *s = arg;
	conc_task *w, *tk;
	int code = -1;

	if (conc_go(&tk, ticker, s, NULL) || go(s, &w, cancelled_then_woken, s))
		return -1;
	if (until(&s->stage, 10))
		return -2;
	/* the waiter is suspended in its call by now, or will be */
	conc_sleep(2 * MS);
	conc_task_cancel(w);
	if (conc_task_join(w, &code, 3 * BOUND))
		return -3;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	conc_task_join(tk, NULL, BOUND);
	return code;
}

static void cancel_then_wake(enum kind k, bool shared)
{
	struct sh *s = shared_alloc(sizeof(*s));
	conc_queue_attr qa = { .capacity = 1, .max_msg = 16 };
	conc_rsem_attr ra = { 0 };
	pthread_t th;
	int r;

	cr_assert_not_null(s);
	s->kind = k;
	s->shared = shared;
	conc_mutex_init(&s->m, k == K_RMUTEX ? CONC_RECURSIVE :
			k == K_ROBUST ? CONC_ROBUST : 0);
	conc_mutex_init(&s->cm, 0);
	conc_sem_init(&s->sem, 0, 0);
	conc_event_init(&s->ev, 0);
	conc_cond_init(&s->cond, 0);
	conc_rwlock_init(&s->rw, 0);
	cr_assert_eq(conc_queue_create(&s->q, &qa), 0);
	cr_assert_eq(conc_chan_pair(&s->a, &s->b, 0), 0);
	ra.permits = 1;
	cr_assert_eq(conc_rsem_create(&s->rs, &ra), 0);
	cr_assert_eq(pthread_create(&th, NULL, holder, s), 0);
	cr_assert_eq(until(&s->stage, 1), 0);
	r = run(cancel_main, s);
	cr_assert_eq(join_thread(th, 10000, NULL), 0);
	cr_expect_eq(r, 0, "%s%s: the waiter: %d", kind_name[k],
		     shared ? " (shared stack)" : "", r);
	cr_expect_eq(s->thread_rc, 0, "%s: the thread: %d", kind_name[k],
		     s->thread_rc);
	conc_queue_destroy(s->q);
	conc_chan_close(s->a);
	conc_chan_close(s->b);
	conc_rsem_destroy(s->rs);
	shared_free(s, sizeof(*s));
}

static void cancel_then_wake_all(enum kind k)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		cancel_then_wake(k, false);
		cancel_then_wake(k, true);
	}
}

Test(colorless, cancel_then_woken_sem) { cancel_then_wake_all(K_SEM); }
Test(colorless, cancel_then_woken_mutex) { cancel_then_wake_all(K_MUTEX); }
Test(colorless, cancel_then_woken_recursive_mutex) { cancel_then_wake_all(K_RMUTEX); }
Test(colorless, cancel_then_woken_robust_mutex) { cancel_then_wake_all(K_ROBUST); }
Test(colorless, cancel_then_woken_event) { cancel_then_wake_all(K_EVENT); }
Test(colorless, cancel_then_woken_cond) { cancel_then_wake_all(K_COND); }
Test(colorless, cancel_then_woken_rdlock) { cancel_then_wake_all(K_RDLOCK); }
Test(colorless, cancel_then_woken_wrlock) { cancel_then_wake_all(K_WRLOCK); }
Test(colorless, cancel_then_woken_queue_get) { cancel_then_wake_all(K_QGET); }
Test(colorless, cancel_then_woken_queue_put) { cancel_then_wake_all(K_QPUT); }
Test(colorless, cancel_then_woken_chan_recv) { cancel_then_wake_all(K_CRECV); }
Test(colorless, cancel_then_woken_rsem) { cancel_then_wake_all(K_RSEM); }

/* ---- 2. A barrier broken by a task for a thread and a process ---------- */

static void *bar_thread(void *arg)
{
	struct sh *s = arg;

	s->thread_rc = conc_barrier_wait_timed(&s->bar, BOUND);
	return NULL;
}

static int bar_proc(void *arg)
{
	struct sh *s = arg;

	return errcode(conc_barrier_wait_timed(&s->bar, BOUND));
}

static int bar_cancelled(void *arg)
{
	struct sh *s = arg;

	stage(s, 10);
	return conc_barrier_wait(&s->bar);
}

/* The task gives up (a timeout, or a cancel) while a thread and a process
 * wait: both get -EPIPE at once, not at their own timeout. */
static int bar_main(void *arg)
{
	struct sh *s = arg;
	conc_task *w;
	int r, code = -1;

	if (until(&s->ticks, 2))	/* thread and process wait */
		return -1;
	if (s->kind == 0) {
		r = conc_barrier_wait_timed(&s->bar, 20 * MS);
		if (r != -ETIMEDOUT)
			return r == 0 ? -9999 : r - 10000;
	} else {
		if (go(s, &w, bar_cancelled, s) || until(&s->stage, 10))
			return -2;
		conc_sleep(5 * MS);
		conc_task_cancel(w);
		if (conc_task_join(w, &code, BOUND))
			return -3;
		if (code != -ECANCELED)
			return code == 0 ? -9998 : code - 20000;
	}
	/* and later callers get -EPIPE */
	r = conc_barrier_wait_timed(&s->bar, BOUND);
	return r == -EPIPE ? 0 : r - 30000;
}

static void barrier_broken(int how)
{
	struct sh *s;
	pthread_t th;
	pid_t pid;
	int fb, r, st;

	EACH_FUTEX_MODE(fb) {
		s = shared_alloc(sizeof(*s));
		cr_assert_not_null(s);
		s->kind = how;
		s->shared = fb;	/* the shared stack in one of the modes */
		conc_barrier_init(&s->bar, 4, 0);
		cr_assert_eq(pthread_create(&th, NULL, bar_thread, s), 0);
		pid = fork_child(bar_proc, s);
		cr_assert_gt(pid, 0);
		/* Both wait before the task comes: the thread's and the
		 * process's arrivals are seen in the barrier's count, which
		 * is not public; give them time, then count them as ticks.
		 * A late one gets -EPIPE all the same (a later caller). */
		sleep_ns(50 * MS);
		__atomic_store_n(&s->ticks, 2, __ATOMIC_RELEASE);
		r = run(bar_main, s);
		cr_assert_eq(join_thread(th, 15000, NULL), 0);
		st = wait_child(pid, 15000);
		cr_expect_eq(r, 0, "the task (%s, %s): %d",
			     how ? "cancel" : "timeout", fb ? "fallback" : "futex op", r);
		cr_expect_eq(s->thread_rc, -EPIPE, "the thread: %d", s->thread_rc);
		cr_expect(exited_with(st, EPIPE), "the process: %d", st);
		shared_free(s, sizeof(*s));
	}
}

Test(colorless, a_task_timing_out_breaks_the_barrier_for_a_thread_and_a_process)
{
	barrier_broken(0);
}

Test(colorless, a_cancelled_task_breaks_the_barrier_for_a_thread_and_a_process)
{
	barrier_broken(1);
}

/* A thread's timeout breaks it for a task: the task gets -EPIPE. */
static int bar_task_waits(void *arg)
{
	struct sh *s = arg;
	conc_task *tk;
	int r;

	if (conc_go(&tk, ticker, s, NULL))
		return -1;
	r = conc_barrier_wait_timed(&s->bar, BOUND);
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	conc_task_join(tk, NULL, BOUND);
	return r;
}

static void *bar_thread_gives_up(void *arg)
{
	struct sh *s = arg;

	if (until(&s->ticks, 5)) {
		s->thread_rc = -1;
		return NULL;
	}
	s->thread_rc = conc_barrier_wait_timed(&s->bar, 10 * MS);
	return NULL;
}

Test(colorless, a_thread_timing_out_breaks_the_barrier_for_a_task)
{
	struct sh *s;
	pthread_t th;
	int fb, r;

	EACH_FUTEX_MODE(fb) {
		s = shared_alloc(sizeof(*s));
		cr_assert_not_null(s);
		conc_barrier_init(&s->bar, 3, 0);
		cr_assert_eq(pthread_create(&th, NULL, bar_thread_gives_up, s), 0);
		r = run(bar_task_waits, s);
		cr_assert_eq(join_thread(th, 15000, NULL), 0);
		cr_expect_eq(s->thread_rc, -ETIMEDOUT);
		cr_expect_eq(r, -EPIPE, "the task: %d", r);
		shared_free(s, sizeof(*s));
	}
}

/* ---- 3. A writer that gave up lets readers in -------------------------- */

static int rd_holder(void *arg)
{
	struct sh *s = arg;
	int r = conc_rwlock_rdlock(&s->rw);

	if (r)
		return 1;
	stage(s, 1);
	if (until(&s->stop, 1))
		return 2;
	return conc_rwlock_unlock(&s->rw) ? 3 : 0;
}

static int wr_gives_up(void *arg)
{
	struct sh *s = arg;

	stage(s, 10);
	return conc_rwlock_wrlock(&s->rw);
}

static int late_reader(void *arg)
{
	struct sh *s = arg;
	int r = conc_rwlock_timedrdlock(&s->rw, BOUND);

	return r ? r : conc_rwlock_unlock(&s->rw);
}

static void *late_reader_thread(void *arg)
{
	struct sh *s = arg;

	s->thread_rc = late_reader(s);
	return NULL;
}

static int wr_main(void *arg)
{
	struct sh *s = arg;
	conc_task *w, *rd;
	conc_proc *p;
	pthread_t th;
	int r, st = -1, code = -1;

	/* a timeout */
	r = conc_rwlock_timedwrlock(&s->rw, 10 * MS);
	if (r != -ETIMEDOUT)
		return r == 0 ? -9999 : r - 10000;
	if (conc_go(&rd, late_reader, s, NULL) ||
	    conc_task_join(rd, &code, BOUND) || code)
		return -100 + code;
	if (pthread_create(&th, NULL, late_reader_thread, s))
		return -4;
	while (join_thread(th, 0, NULL))
		conc_sleep(1 * MS);	/* a bounded sleep: the thread has BOUND */
	if (s->thread_rc)
		return -200 + s->thread_rc;
	/* a cancel */
	if (go(s, &w, wr_gives_up, s) || until(&s->stage, 10))
		return -5;
	conc_sleep(5 * MS);
	conc_task_cancel(w);
	if (conc_task_join(w, &code, BOUND) || code != -ECANCELED)
		return -300 + code;
	if (conc_go(&rd, late_reader, s, NULL) ||
	    conc_task_join(rd, &code, BOUND) || code)
		return -400 + code;
	/* a reader of another process is let in too (a child of a task is
	 * started with conc_proc_start: it runs outside any loop) */
	if (conc_proc_start(&p, late_reader, s, NULL))
		return -500;
	r = conc_proc_join(p, &st, BOUND);
	conc_proc_release(p);
	return r ? r - 600 : WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -700;
}

Test(colorless, a_writer_that_gave_up_lets_readers_in)
{
	struct sh *s;
	pid_t pid;
	int fb, r;

	EACH_FUTEX_MODE(fb) {
		s = shared_alloc(sizeof(*s));
		cr_assert_not_null(s);
		conc_rwlock_init(&s->rw, 0);
		pid = fork_child(rd_holder, s);
		cr_assert_gt(pid, 0);
		cr_assert_eq(until(&s->stage, 1), 0);
		s->shared = fb;
		r = run(wr_main, s);
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
		cr_expect(exited_with(wait_child(pid, 10000), 0));
		cr_expect_eq(r, 0, "%s: %d", fb ? "fallback" : "futex op", r);
		shared_free(s, sizeof(*s));
	}
}

/* ---- 4. conc_to_thread: a timed-out call's ret is never written -------- */

struct tt {
	uint32_t go, started, done;
	int value;
};

static int slow_fn(void *arg)
{
	struct tt *t = arg;

	__atomic_store_n(&t->started, 1, __ATOMIC_RELEASE);
	until(&t->go, 1);
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return t->value;
}

static int quick_fn(void *arg)
{
	return (int)(intptr_t)arg;
}

static int tt_task(void *arg)
{
	struct tt *t = arg;
	int *ret = malloc(sizeof(*ret)), r, i, v;

	if (!ret)
		return -1;
	*ret = -777;
	r = conc_to_thread(slow_fn, t, ret, 5 * MS);
	if (r != -ETIMEDOUT) {
		free(ret);
		return r == 0 ? -9999 : r - 10000;
	}
	/* While slow_fn runs on: other calls give their own results, into
	 * a variable on this task's stack (the shared one, maybe). */
	for (i = 0; i < 20; i++) {
		v = -1;
		if (conc_to_thread(quick_fn, (void *)(intptr_t)(100 + i), &v, BOUND) ||
		    v != 100 + i) {
			free(ret);
			return -20000 - i;
		}
	}
	__atomic_store_n(&t->go, 1, __ATOMIC_RELEASE);
	if (until(&t->done, 1)) {
		free(ret);
		return -3;
	}
	/* let the thread finish and drop the result */
	conc_sleep(20 * MS);
	r = *ret == -777 ? 0 : -30000;
	free(ret);
	return r;
}

static int tt_main(void *arg)
{
	conc_task_attr a = { .shared_stack = true };
	conc_task *t;
	int code = -1;

	if (conc_go(&t, tt_task, arg, &a) || conc_task_join(t, &code, 3 * BOUND))
		return -1;
	return code;
}

Test(colorless, to_thread_timed_out_keeps_its_hands_off_ret)
{
	struct tt *t = calloc(1, sizeof(*t));

	need_uring();
	t->value = 4242;
	cr_expect_eq(run(tt_task, t), 0);
	memset(t, 0, sizeof(*t));
	t->value = 4343;
	cr_expect_eq(run(tt_main, t), 0);
	free(t);
}

/* ---- 5. Joins of a process that timed out or were cancelled ------------ */

static int child_waits(void *arg)
{
	struct sh *s = arg;

	if (until(&s->flag, 1))
		return 99;
	return 7;
}

static int pj_cancelled(void *arg)
{
	conc_proc *p = arg;
	int st = -1, r = conc_proc_join(p, &st, BOUND);

	if (r != -ECANCELED)
		return r == 0 ? -9999 : r - 10000;
	return 0;
}

static int pj_main(void *arg)
{
	struct sh *s = arg;
	conc_proc *p;
	conc_task *w, *tk;
	int st = -1, r, code = -1;

	if (conc_proc_start(&p, child_waits, s, NULL))
		return -1;
	if (conc_go(&tk, ticker, s, NULL))
		return -2;
	r = conc_proc_join(p, &st, 10 * MS);
	if (r != -ETIMEDOUT)
		return r == 0 ? -9999 : r - 10000;
	if (go(s, &w, pj_cancelled, p))
		return -3;
	conc_sleep(5 * MS);
	conc_task_cancel(w);
	if (conc_task_join(w, &code, BOUND) || code)
		return -20000 + code;
	/* the process is still ours to join, and its status is kept */
	if ((r = conc_proc_try_join(p, &st)) != -EAGAIN)
		return -50000 + r;
	__atomic_store_n(&s->flag, 1, __ATOMIC_RELEASE);
	r = conc_proc_join(p, &st, BOUND);
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	conc_task_join(tk, NULL, BOUND);
	if (r)
		return r - 30000;
	conc_proc_release(p);
	return WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : -40000 - st;
}

Test(colorless, a_process_join_that_timed_out_or_was_cancelled_joins_later)
{
	struct sh *s;
	int w, r;

	need_uring();
	for (w = 0; w < 2; w++) {
		s = shared_alloc(sizeof(*s));
		cr_assert_not_null(s);
		if (w)
			setenv("CONC_LOOP_NO_WAITID_OP", "1", 1);
		s->shared = w;
		r = run(pj_main, s);
		cr_expect_eq(r, 0, "%s: %d", w ? "poll of the pidfd" : "waitid", r);
		unsetenv("CONC_LOOP_NO_WAITID_OP");
		shared_free(s, sizeof(*s));
	}
}

/* ---- 6. A future wait that timed out or was cancelled ------------------ */

static ssize_t slow_job(const void *arg, size_t len, void *res, size_t cap)
{
	const uint32_t *flag = *(uint32_t *const *)arg;
	int v = 31;

	(void)len;
	if (until((uint32_t *)flag, 1))
		return -ETIMEDOUT;
	if (cap < sizeof(v))
		return -ENOSPC;
	memcpy(res, &v, sizeof(v));
	return sizeof(v);
}

static int fw_cancelled(void *arg)
{
	int r = conc_future_wait(arg, BOUND);

	return r == -ECANCELED ? 0 : r == 0 ? -9999 : r - 10000;
}

static int fw_main(void *arg)
{
	struct sh *s = arg;
	uint32_t *flag = &s->flag;
	conc_pool *p;
	conc_future *f;
	conc_task *w;
	int r, v = 0, code = -1;

	if (conc_pool_create(&p, &(conc_pool_attr){ .workers = 1 }))
		return -1;
	if (conc_pool_submit(p, slow_job, &flag, sizeof(flag), &f))
		return -2;
	r = conc_future_wait(f, 10 * MS);
	if (r != -ETIMEDOUT)
		return r == 0 ? -9999 : r - 10000;
	if (go(s, &w, fw_cancelled, f))
		return -3;
	conc_sleep(5 * MS);
	conc_task_cancel(w);
	if (conc_task_join(w, &code, BOUND) || code)
		return -20000 + code;
	__atomic_store_n(&s->flag, 1, __ATOMIC_RELEASE);
	r = conc_future_wait(f, BOUND);
	if (r)
		return r - 30000;
	if (conc_future_result(f, &v, sizeof(v)) != sizeof(v) || v != 31)
		return -4;
	conc_future_release(f);
	conc_pool_destroy(p);
	return 0;
}

Test(colorless, a_future_wait_that_timed_out_or_was_cancelled_gets_the_result)
{
	struct sh *s;
	int fb, r;

	EACH_FUTEX_MODE(fb) {
		s = shared_alloc(sizeof(*s));
		cr_assert_not_null(s);
		s->shared = fb;
		r = run(fw_main, s);
		cr_expect_eq(r, 0, "%s: %d", fb ? "fallback" : "futex op", r);
		shared_free(s, sizeof(*s));
	}
}

/* ---- 7. A task's overflow, not opted in, reaches the program's handler - */

static void on_segv(int sig)
{
	(void)sig;
	_exit(42);
}

static int deep(int n)
{
	volatile char pad[512];

	pad[0] = (char)n;
	return n == 0 ? pad[0] : deep(n - 1) + pad[0];
}

static int overflow(void *arg)
{
	return deep((int)(intptr_t)arg);
}

static int ov_main(void *arg)
{
	conc_task_attr a = { .stack_size = 16 * 1024, .name = "deep",
			     .shared_stack = arg != NULL };
	conc_task *t;

	if (conc_go(&t, overflow, (void *)(intptr_t)100000, &a))
		return 1;
	conc_task_join(t, NULL, BOUND);
	return 2;
}

static int ov_child(void *arg)
{
	static char alt[64 * 1024];
	stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) };
	struct sigaction sa = { .sa_handler = on_segv, .sa_flags = SA_ONSTACK };
	int code;

	unsetenv("CONC_LOOP_GUARD");
	if (sigaltstack(&ss, NULL) || sigaction(SIGSEGV, &sa, NULL))
		return 3;
	if (conc_run(ov_main, arg, &code))
		return 4;
	return 5;
}

Test(colorless, an_overflow_without_opt_in_reaches_the_programs_handler)
{
	int st;

	need_uring();
	st = run_in_child(ov_child, NULL, 10000);
	cr_expect_eq(st, 42, "own stack: %d", st);
	st = run_in_child(ov_child, (void *)1, 10000);
	cr_expect_eq(st, 42, "shared stack: %d", st);
}

/* ---- 8. A cancel pending while nothing needs to wait ------------------- */

/* As the page says (and as Python's await that need not suspend): a call
 * that finds what it waits for takes it, the cancel stays pending until a
 * call that waits, or conc_sleep (even of 0 ns); conc_yield is no such
 * call. */
struct pc {
	conc_sem sem;
	conc_mutex m[3];
	conc_event ev;
	conc_queue *q;
	conc_chan *a, *b;
	conc_proc *p;
	conc_rwlock rw;
	conc_rsem *rs;
	conc_barrier bar;
	conc_task *ended;
	int res[20];
};

static int done_fn(void *arg)
{
	(void)arg;
	return 3;
}

static int pc_task(void *arg)
{
	struct pc *p = arg;
	char b[8];
	int i = 0, k;

	conc_yield();	/* cancelled here: not taken */
	p->res[i++] = conc_sem_wait(&p->sem);
	for (k = 0; k < 3; k++) {
		p->res[i++] = conc_mutex_lock(&p->m[k]);
		conc_mutex_unlock(&p->m[k]);
	}
	p->res[i++] = conc_event_wait(&p->ev, BOUND);
	p->res[i++] = (int)conc_queue_get(p->q, b, sizeof(b), BOUND);
	p->res[i++] = (int)conc_chan_recv(p->a, b, sizeof(b), BOUND);
	p->res[i++] = conc_task_join(p->ended, NULL, BOUND);
	p->res[i++] = conc_proc_join(p->p, NULL, BOUND);
	p->res[i++] = conc_rwlock_rdlock(&p->rw);
	conc_rwlock_unlock(&p->rw);
	p->res[i++] = conc_rsem_wait(p->rs);
	conc_rsem_post(p->rs);
	p->res[i++] = conc_barrier_wait(&p->bar);
	p->res[i++] = conc_yield();
	p->res[i++] = conc_sleep(0);	/* takes it */
	p->res[i++] = conc_sleep(1 * MS);	/* once */
	return i;
}

static int pc_main(void *arg)
{
	struct pc *p = arg;
	conc_task *t;
	int code = -1;

	if (conc_go(&p->ended, done_fn, NULL, NULL) || conc_go(&t, pc_task, p, NULL))
		return -1;
	conc_yield();	/* both ran: t yields back, ended has ended */
	conc_task_cancel(t);
	if (conc_task_join(t, &code, BOUND))
		return -2;
	return code;
}

Test(colorless, a_cancel_waits_for_a_call_that_waits)
{
	static const int want[] = { 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0,
		CONC_BARRIER_SERIAL, 0, -ECANCELED, 0 };
	struct pc p;
	int i, st, n;

	need_uring();
	memset(&p, 0, sizeof(p));
	conc_sem_init(&p.sem, 1, 0);
	conc_mutex_init(&p.m[0], 0);
	conc_mutex_init(&p.m[1], CONC_RECURSIVE);
	conc_mutex_init(&p.m[2], CONC_ROBUST);
	conc_event_init(&p.ev, 0);
	conc_event_set(&p.ev);
	cr_assert_eq(conc_queue_create(&p.q, NULL), 0);
	cr_assert_eq(conc_queue_put(p.q, "x", 2, BOUND), 0);
	cr_assert_eq(conc_chan_pair(&p.a, &p.b, 0), 0);
	cr_assert_eq(conc_chan_send(p.b, "m", 2, BOUND), 0);
	cr_assert_eq(conc_proc_start(&p.p, done_fn, NULL, NULL), 0);
	/* it has ended before the task looks */
	cr_assert_eq(poll(&(struct pollfd){ .fd = conc_proc_pidfd(p.p),
					    .events = POLLIN }, 1, 10000), 1);
	conc_rwlock_init(&p.rw, 0);
	cr_assert_eq(conc_rsem_create(&p.rs, NULL), 0);
	conc_barrier_init(&p.bar, 1, 0);
	n = run(pc_main, &p);
	cr_assert_eq(n, (int)(sizeof(want) / sizeof(want[0])));
	for (i = 0; i < n; i++)
		cr_expect_eq(p.res[i], want[i], "call %d: %d, not %d", i,
			     p.res[i], want[i]);
	if (p.res[8] != 0)	/* not joined there */
		conc_proc_join(p.p, &st, BOUND);
	conc_proc_release(p.p);
	conc_queue_destroy(p.q);
	conc_chan_close(p.a);
	conc_chan_close(p.b);
	conc_rsem_destroy(p.rs);
}

/* ---- 9. A thread's own context, before and after its loop -------------- */

static int ctx_task(void *arg)
{
	conc_mutex *m = arg;
	int a, b, c;

	a = conc_mutex_timedlock(m, 10 * MS);
	b = conc_mutex_trylock(m);
	c = conc_mutex_unlock(m);
	if (a != -ETIMEDOUT)
		return 1000 - a;
	if (b != -EBUSY)
		return 2000 - b;
	if (c != -EPERM)
		return 3000 - c;
	return 0;
}

Test(colorless, a_mutex_the_thread_held_before_its_loop_is_not_its_tasks)
{
	static const unsigned kinds[] = { 0, CONC_RECURSIVE, CONC_ROBUST,
		CONC_PRIVATE, CONC_ROBUST | CONC_RECURSIVE };
	conc_mutex m;
	unsigned k;
	int fb;

	EACH_FUTEX_MODE(fb)
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		conc_mutex_init(&m, kinds[k]);
		cr_assert_eq(conc_mutex_lock(&m), 0);
		cr_expect_eq(run(ctx_task, &m), 0, "kind %#x", kinds[k]);
		cr_expect_eq(conc_mutex_unlock(&m), 0, "kind %#x", kinds[k]);
		cr_expect_eq(conc_mutex_trylock(&m), 0);
		cr_expect_eq(conc_mutex_unlock(&m), 0);
	}
}

static int rw_ctx_task(void *arg)
{
	conc_rwlock *rw = arg;
	int a, b, c, d;

	a = conc_rwlock_timedwrlock(rw, 10 * MS);
	b = conc_rwlock_unlock(rw);	/* holds nothing */
	c = conc_rwlock_timedrdlock(rw, BOUND);
	d = c ? c : conc_rwlock_unlock(rw);
	if (a != -ETIMEDOUT)
		return 1000 - a;
	if (b != -EPERM)
		return 2000 - b;
	if (c || d)
		return 3000 - c - d;
	return 0;
}

Test(colorless, a_read_lock_the_thread_held_before_its_loop_is_not_its_tasks)
{
	conc_rwlock rw;
	int fb;

	EACH_FUTEX_MODE(fb) {
		conc_rwlock_init(&rw, 0);
		cr_assert_eq(conc_rwlock_rdlock(&rw), 0);
		cr_expect_eq(run(rw_ctx_task, &rw), 0);
		cr_expect_eq(conc_rwlock_unlock(&rw), 0);
		cr_expect_eq(conc_rwlock_trywrlock(&rw), 0);
		cr_expect_eq(conc_rwlock_unlock(&rw), 0);
	}
}

/* ---- 10. Loops in conc's own threads, reused --------------------------- */

static int tiny_main(void *arg)
{
	conc_task *t;
	int code = -1;

	if (conc_go(&t, done_fn, arg, NULL) || conc_task_join(t, &code, BOUND))
		return -1;
	return code + conc_sleep(1 * MS);
}

static int loop_in_thread(void *arg)
{
	int code = -1, r = conc_run(tiny_main, arg, &code);

	return r ? r : code;
}

static int lt_main(void *arg)
{
	int i, ret;

	(void)arg;
	for (i = 0; i < 20; i++) {
		ret = -1;
		if (conc_to_thread(loop_in_thread, NULL, &ret, BOUND) || ret != 3)
			return -100 - i;
	}
	return 0;
}

Test(colorless, a_loop_inside_conc_to_thread_and_conc_threads)
{
	conc_thread *th;
	int i, code;

	need_uring();
	cr_expect_eq(run(lt_main, NULL), 0);
	for (i = 0; i < 10; i++) {
		cr_assert_eq(conc_thread_start(&th, loop_in_thread, NULL, NULL), 0);
		code = -1;
		cr_assert_eq(conc_thread_join(th, &code, BOUND), 0);
		cr_expect_eq(code, 3);
	}
}

/* ---- 11. Many short timeouts and cancels leave the loop clean ---------- */

static int short_waits(void *arg)
{
	struct sh *s = arg;
	char b[8];
	int i, r;

	for (i = 0; i < 2000; i++) {
		int64_t t = i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : 20000;

		if ((r = conc_sem_timedwait(&s->sem, t)) != -ETIMEDOUT)
			return -1000 + r;
		if ((r = conc_mutex_timedlock(&s->m, t)) != -ETIMEDOUT)
			return -2000 + r;
		if ((r = conc_event_wait(&s->ev, t)) != -ETIMEDOUT)
			return -3000 + r;
		if ((r = (int)conc_queue_get(s->q, b, sizeof(b), t)) != -ETIMEDOUT)
			return -4000 + r;
		if ((r = conc_rwlock_timedrdlock(&s->rw, t)) != -ETIMEDOUT)
			return -5000 + r;
	}
	return 0;
}

static void *short_holder(void *arg)
{
	struct sh *s = arg;

	conc_mutex_lock(&s->m);
	conc_rwlock_wrlock(&s->rw);
	stage(s, 1);
	until(&s->stop, 1);
	conc_rwlock_unlock(&s->rw);
	conc_mutex_unlock(&s->m);
	return NULL;
}

static int sw_main(void *arg)
{
	struct sh *s = arg;
	conc_task *t[4], *tk;
	int codes[4], i, r;

	if (conc_go(&tk, ticker, s, NULL))
		return -1;
	for (i = 0; i < 4; i++)
		if (go(s, &t[i], short_waits, s))
			return -2;
	r = conc_gather(t, 4, codes, 0, 6 * BOUND);
	conc_task_cancel(tk);
	conc_task_join(tk, NULL, BOUND);
	for (i = 0; i < 4; i++)
		if (codes[i])
			return codes[i];
	return r;
}

Test(colorless, thousands_of_short_timeouts_leave_the_loop_clean, .timeout = 120)
{
	struct sh *s;
	pthread_t th;
	int fb, fds, r;
	conc_queue_attr qa = { .capacity = 1, .max_msg = 8 };

	EACH_FUTEX_MODE(fb) {
		s = shared_alloc(sizeof(*s));
		cr_assert_not_null(s);
		s->shared = fb;
		conc_sem_init(&s->sem, 0, 0);
		conc_event_init(&s->ev, 0);
		conc_mutex_init(&s->m, 0);
		conc_rwlock_init(&s->rw, 0);
		cr_assert_eq(conc_queue_create(&s->q, &qa), 0);
		cr_assert_eq(pthread_create(&th, NULL, short_holder, s), 0);
		cr_assert_eq(until(&s->stage, 1), 0);
		fds = count_fds();
		r = run(sw_main, s);
		cr_expect_eq(r, 0, "%s: %d", fb ? "fallback" : "futex op", r);
		cr_expect_eq(count_fds(), fds);
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
		cr_assert_eq(join_thread(th, 10000, NULL), 0);
		/* nothing was left waiting: the word is free, no sleeper bit */
		cr_expect_eq(conc_mutex_trylock(&s->m), 0);
		cr_expect_eq(conc_mutex_unlock(&s->m), 0);
		cr_expect_eq(s->m.word, 0u, "word %#x", s->m.word);
		conc_queue_destroy(s->q);
		shared_free(s, sizeof(*s));
	}
}

/* ---- 12. A recursive robust mutex of a killed process's task ----------- */

static int rr_hold3(void *arg)
{
	struct sh *s = arg;
	int i;

	for (i = 0; i < 3; i++)
		if (conc_mutex_lock(&s->m))
			return 1;
	stage(s, 1);
	conc_sleep(BOUND * 6);	/* killed meanwhile */
	return 2;
}

static int rr_child(void *arg)
{
	int code = -1;

	return conc_run(rr_hold3, arg, &code) ? 3 : code;
}

static int rr_waiter(void *arg)
{
	struct sh *s = arg;
	int r = conc_mutex_lock(&s->m);

	if (r != -EOWNERDEAD)
		return r == 0 ? -9999 : r - 10000;
	if ((r = conc_mutex_consistent(&s->m)))
		return r - 20000;
	/* ours once, not three times: one unlock frees it */
	if ((r = conc_mutex_unlock(&s->m)))
		return r - 30000;
	if (conc_mutex_unlock(&s->m) != -EPERM)
		return -40000;
	stage(s, 3);
	return 0;
}

static void *rr_other(void *arg)
{
	struct sh *s = arg;

	if (until(&s->stage, 3))
		s->thread_rc = -1;
	else if ((s->thread_rc = conc_mutex_trylock(&s->m)) == 0)
		s->thread_rc = conc_mutex_unlock(&s->m);
	return NULL;
}

static int rr_main(void *arg)
{
	struct sh *s = arg;
	conc_task *w, *tk;
	int code = -1;

	if (conc_go(&tk, ticker, s, NULL) || go(s, &w, rr_waiter, s))
		return -1;
	if (until(&s->ticks, s->ticks + 5))
		return -2;
	kill((pid_t)s->peer_rc, SIGKILL);
	if (conc_task_join(w, &code, BOUND))
		return -3;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	conc_task_join(tk, NULL, BOUND);
	return code;
}

Test(colorless, a_recursive_robust_mutex_of_a_killed_task_is_the_next_lockers_once)
{
	struct sh *s;
	pthread_t th;
	pid_t pid;
	int fb, sh, r;

	EACH_FUTEX_MODE(fb)
	for (sh = 0; sh < 2; sh++) {
		s = shared_alloc(sizeof(*s));
		cr_assert_not_null(s);
		s->shared = sh;
		conc_mutex_init(&s->m, CONC_ROBUST | CONC_RECURSIVE);
		pid = fork_child(rr_child, s);
		cr_assert_gt(pid, 0);
		s->peer_rc = pid;
		cr_assert_eq(until(&s->stage, 1), 0);
		cr_assert_eq(pthread_create(&th, NULL, rr_other, s), 0);
		r = run(rr_main, s);
		cr_assert_eq(join_thread(th, 10000, NULL), 0);
		cr_expect(killed_by(wait_child(pid, 10000), SIGKILL));
		cr_expect_eq(r, 0, "%s%s: %d", fb ? "fallback" : "futex op",
			     sh ? ", shared stack" : "", r);
		cr_expect_eq(s->thread_rc, 0, "a thread after: %d", s->thread_rc);
		shared_free(s, sizeof(*s));
	}
}

/* ---- 13. An rsem whose table has one slot, after a timeout and a cancel */

static int rs_give_up(void *arg)
{
	struct sh *s = arg;

	stage(s, 10);
	return conc_rsem_wait(s->rs);
}

static int rs_main(void *arg)
{
	struct sh *s = arg;
	conc_task *w;
	int r, code = -1;

	if ((r = conc_rsem_timedwait(s->rs, 10 * MS)) != -ETIMEDOUT)
		return r == 0 ? -9999 : r - 10000;
	if (go(s, &w, rs_give_up, s) || until(&s->stage, 10))
		return -1;
	conc_sleep(5 * MS);
	conc_task_cancel(w);
	if (conc_task_join(w, &code, BOUND) || code != -ECANCELED)
		return -20000 + code;
	if (conc_rsem_holders(s->rs, NULL, 0) != 1)
		return -3;
	__atomic_store_n(&s->flag, 1, __ATOMIC_RELEASE);	/* post it */
	/* the slot left by the process is this task's now */
	if ((r = conc_rsem_timedwait(s->rs, BOUND)))
		return r - 30000;
	if (conc_rsem_holders(s->rs, NULL, 0) != 1)
		return -4;
	return conc_rsem_post(s->rs);
}

static int rs_holder(void *arg)
{
	struct sh *s = arg;

	if (conc_rsem_wait(s->rs))
		return 1;
	stage(s, 1);
	if (until(&s->flag, 1))
		return 2;
	return conc_rsem_post(s->rs) ? 3 : 0;
}

Test(colorless, an_rsem_of_one_slot_after_a_timeout_and_a_cancel)
{
	conc_rsem_attr ra = { .permits = 1, .holders = 1 };
	struct sh *s;
	pid_t pid;
	int fb, r;

	EACH_FUTEX_MODE(fb) {
		s = shared_alloc(sizeof(*s));
		cr_assert_not_null(s);
		s->shared = fb;
		cr_assert_eq(conc_rsem_create(&s->rs, &ra), 0);
		pid = fork_child(rs_holder, s);
		cr_assert_gt(pid, 0);
		cr_assert_eq(until(&s->stage, 1), 0);
		r = run(rs_main, s);
		__atomic_store_n(&s->flag, 1, __ATOMIC_RELEASE);
		cr_expect(exited_with(wait_child(pid, 10000), 0));
		cr_expect_eq(r, 0, "%s: %d", fb ? "fallback" : "futex op", r);
		cr_expect_eq(conc_rsem_value(s->rs), 1);
		conc_rsem_destroy(s->rs);
		shared_free(s, sizeof(*s));
	}
}

/* ---- 15. conc_loop_call: calls from one thread start in their order ---- */

#define LC_THREADS 3
#define LC_CALLS 3000

struct lc {
	conc_loop *loop;
	uint32_t ready, started, done;
	uint32_t last[LC_THREADS + 1];
	uint32_t bad, ran;
	uint32_t stop;
};

static struct lc *lc_now;

static void lc_fn(void *arg)
{
	uintptr_t v = (uintptr_t)arg;
	uint32_t who = (uint32_t)(v >> 24), seq = (uint32_t)(v & 0xffffff);

	/* runs on the loop's thread: no race on last[] */
	if (seq != lc_now->last[who] + 1)
		lc_now->bad++;
	lc_now->last[who] = seq;
	lc_now->ran++;
	if (seq % 7 == 0)
		conc_yield();	/* a call that yields keeps its place */
}

static void *lc_thread(void *arg)
{
	uintptr_t who = (uintptr_t)arg;
	uint32_t i;

	for (i = 1; i <= LC_CALLS; i++)
		while (conc_loop_call(lc_now->loop, lc_fn,
				      (void *)((who << 24) | i)) == -ENOMEM)
			sleep_ns(1 * MS);
	__atomic_fetch_add(&lc_now->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int lc_main(void *arg)
{
	struct lc *x = arg;
	pthread_t th[LC_THREADS];
	uintptr_t i;
	int64_t end = deadline_in(6 * BOUND);

	x->loop = conc_loop_self();
	for (i = 0; i < LC_THREADS; i++)
		if (pthread_create(&th[i], NULL, lc_thread, (void *)(i + 1)))
			return -1;
	/* the loop's own calls, in between */
	for (i = 1; i <= LC_CALLS; i++) {
		if (conc_loop_call(x->loop, lc_fn, (void *)(i)))
			return -2;
		if (i % 100 == 0)
			conc_yield();
	}
	while (__atomic_load_n(&x->ran, __ATOMIC_RELAXED) < (LC_THREADS + 1) * LC_CALLS &&
	       now_ns() < end)
		conc_sleep(1 * MS);
	for (i = 0; i < LC_THREADS; i++)
		join_thread(th[i], 10000, NULL);
	return x->ran == (LC_THREADS + 1) * LC_CALLS ? 0 : -3;
}

Test(colorless, loop_calls_of_one_thread_start_in_order, .timeout = 120)
{
	struct lc *x = calloc(1, sizeof(*x));
	int r;

	need_uring();
	lc_now = x;
	r = run(lc_main, x);
	cr_expect_eq(r, 0, "%d (ran %u)", r, x->ran);
	cr_expect_eq(x->bad, 0u, "%u calls out of order", x->bad);
	free(x);
}

/* ---- 16. conc_thread_exit in a function of conc_to_thread -------------- */

static int exits_thread(void *arg)
{
	(void)arg;
	conc_thread_exit(9);
}

static int te_main(void *arg)
{
	int ret = -1, r;

	(void)arg;
	r = conc_to_thread(exits_thread, NULL, &ret, 2 * SEC);
	if (r)
		return r - 1000;
	/* and the next call still works */
	if (conc_to_thread(quick_fn, (void *)5, &r, BOUND) || r != 5)
		return -2000;
	return ret;
}

Test(colorless, a_function_of_to_thread_that_exits_its_thread)
{
	int ret = -1, r;

	need_uring();
	cr_expect_eq(run(te_main, NULL), 9);
	r = conc_to_thread(exits_thread, NULL, &ret, 2 * SEC);
	cr_expect_eq(r, 0, "from a plain thread: %d", r);
	cr_expect_eq(ret, 9);
}

/* ---- 17. conc_thread_exit in a task of a loop on a conc thread --------- */

/* conc_run(3): the thread ends at once with that code, its loop abandoned;
 * the conc threads reused later carry nothing of it. In a child: what the
 * abandoned loop holds is not given back. */
static int task_exits_thread(void *arg)
{
	(void)arg;
	conc_sleep(1 * MS);
	conc_thread_exit(7);
}

static int loop_then_exit(void *arg)
{
	conc_task *t;
	int code = -1;

	if (conc_go(&t, task_exits_thread, arg, NULL))
		return -1;
	conc_task_join(t, &code, BOUND);
	return 100 + code;
}

static int exit_thread_body(void *arg)
{
	int code = -1, r = conc_run(loop_then_exit, arg, &code);

	return r ? r : code;
}

static int not_in_a_loop(void *arg)
{
	(void)arg;
	return conc_task_self() == NULL && conc_loop_self() == NULL ? 0 : 1;
}

static int te_child(void *arg)
{
	conc_thread *th;
	int i, code = -1, ret;

	(void)arg;
	if (conc_thread_start(&th, exit_thread_body, NULL, NULL) ||
	    conc_thread_join(th, &code, BOUND))
		return 1;
	/* the parked threads run outside any loop, and run loops */
	for (i = 0; i < 8; i++) {
		if (conc_to_thread(not_in_a_loop, NULL, &ret, BOUND) || ret)
			return 2;
		if (conc_to_thread(loop_in_thread, NULL, &ret, BOUND) || ret != 3)
			return 3;
	}
	return code == 7 ? 0 : 4;
}

Test(colorless, a_task_that_ends_its_conc_thread)
{
	int st;

	need_uring();
	st = run_in_child(te_child, NULL, 20000);
	cr_expect_eq(st, 0, "%d", st);
}
