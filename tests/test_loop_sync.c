/* test_loop_sync.c — conc's blocking calls inside tasks suspend only the
 * task: a mutex held by another process, a queue fed by another process,
 * two tasks contending for one mutex, a semaphore, cancellation and
 * timeouts of those waits; each also without IORING_OP_FUTEX_WAIT (the
 * fallback, forced by CONC_LOOP_NO_FUTEX_OP). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <conc.h>
#include "loop_helpers.h"

static void setup(bool fallback)
{
	need_uring();
	if (!fallback && !(conc_features() & CONC_FEAT_URING_FUTEX))
		cr_skip_test("IORING_OP_FUTEX_WAIT needs Linux 6.7");
	if (fallback)
		setenv("CONC_LOOP_NO_FUTEX_OP", "1", 1);
	else
		unsetenv("CONC_LOOP_NO_FUTEX_OP");
}

struct shared {
	conc_mutex m;
	uint32_t locked, release, ticks;
};

static int ticker(void *arg)
{
	struct shared *s = arg;

	while (!__atomic_load_n(&s->release, __ATOMIC_ACQUIRE)) {
		__atomic_fetch_add(&s->ticks, 1, __ATOMIC_RELAXED);
		if (conc_sleep(1 * MS) < 0)
			return 0;
	}
	return 0;
}

static int lock_from_task(void *arg)
{
	struct shared *s = arg;
	conc_task *tk;
	uint32_t before;
	int r;

	if (conc_go(&tk, ticker, s, NULL))
		return -1;
	/* The child holds the mutex: this task waits, the ticker runs. */
	before = __atomic_load_n(&s->ticks, __ATOMIC_RELAXED);
	r = conc_mutex_timedlock(&s->m, BOUND);
	if (r)
		return -2;
	if (__atomic_load_n(&s->ticks, __ATOMIC_RELAXED) < before + 5)
		return -3;
	conc_mutex_unlock(&s->m);
	conc_task_cancel(tk);
	return conc_task_join(tk, NULL, BOUND);
}

static void mutex_held_by_process(bool fallback)
{
	struct shared *s = shared_alloc(sizeof(*s));
	pid_t pid;

	setup(fallback);
	cr_assert_not_null(s);
	pid = test_fork();
	if (pid == 0) {
		conc_mutex_lock(&s->m);
		set_flag(&s->locked, 1);
		/* Hold it until the parent's other task ticked a while. */
		while (__atomic_load_n(&s->ticks, __ATOMIC_ACQUIRE) < 20)
			sleep_ns(1 * MS);
		conc_mutex_unlock(&s->m);
		_exit(0);
	}
	cr_assert(wait_flag(&s->locked, 10000));
	cr_assert_eq(run(lock_from_task, s), 0);
	set_flag(&s->release, 1);
	cr_assert(exited_with(wait_child(pid, 10000), 0));
	shared_free(s, sizeof(*s));
}

Test(loop_sync, mutex_held_by_another_process)
{
	mutex_held_by_process(false);
}

Test(loop_sync, mutex_held_by_another_process_fallback)
{
	mutex_held_by_process(true);
}

struct pair {
	conc_mutex m;
	int order[4], n;
};

static int contender(void *arg)
{
	struct pair *p = arg;
	int r = conc_mutex_lock(&p->m);

	if (r)
		return r;
	p->order[p->n++] = 2;
	conc_mutex_unlock(&p->m);
	return 0;
}

static int contend(void *arg)
{
	struct pair *p = arg;
	conc_task *t;
	int code = -1;

	conc_mutex_init(&p->m, 0);
	if (conc_mutex_lock(&p->m))
		return -1;
	if (conc_go(&t, contender, p, NULL))
		return -2;
	conc_sleep(20 * MS);	/* the other task now waits, no -EDEADLK */
	p->order[p->n++] = 1;
	conc_mutex_unlock(&p->m);
	if (conc_task_join(t, &code, BOUND) || code)
		return -3;
	return 0;
}

static void two_tasks_one_mutex(bool fallback)
{
	struct pair p;

	setup(fallback);
	memset(&p, 0, sizeof(p));
	cr_assert_eq(run(contend, &p), 0);
	cr_assert_eq(p.n, 2);
	cr_assert_eq(p.order[0], 1);
	cr_assert_eq(p.order[1], 2);
}

Test(loop_sync, two_tasks_contend_for_one_mutex)
{
	two_tasks_one_mutex(false);
}

Test(loop_sync, two_tasks_contend_for_one_mutex_fallback)
{
	two_tasks_one_mutex(true);
}

#define NMSG 200

static int consume(void *arg)
{
	conc_queue *q = arg;
	int i, v;

	for (i = 0; i < NMSG; i++) {
		ssize_t n = conc_queue_get(q, &v, sizeof(v), BOUND);

		if (n != sizeof(v))
			return (int)(n < 0 ? n : -EPROTO);
		if (v != i)
			return -EILSEQ;
	}
	return 0;
}

static int consume_with_company(void *arg)
{
	struct { conc_queue *q; struct shared s; } *c = arg;
	conc_task *t, *tk;
	int code = -1;

	if (conc_go(&tk, ticker, &c->s, NULL) || conc_go(&t, consume, c->q, NULL))
		return -1;
	if (conc_task_join(t, &code, BOUND))
		return -2;
	conc_task_cancel(tk);
	conc_task_join(tk, NULL, BOUND);
	return code;
}

static void queue_from_process(bool fallback)
{
	struct { conc_queue *q; struct shared s; } c;
	conc_queue *q;
	pid_t pid;

	setup(fallback);
	memset(&c, 0, sizeof(c));
	cr_assert_eq(conc_queue_create(&q, NULL), 0);
	c.q = q;
	pid = test_fork();
	if (pid == 0) {
		int i;

		for (i = 0; i < NMSG; i++) {
			if (conc_queue_put(q, &i, sizeof(i), BOUND))
				_exit(1);
			if (i % 50 == 0)
				sleep_ns(5 * MS);	/* let the consumer sleep */
		}
		_exit(0);
	}
	cr_assert_eq(run(consume_with_company, &c), 0);
	cr_assert(exited_with(wait_child(pid, 10000), 0));
	conc_queue_destroy(q);
}

Test(loop_sync, queue_fed_by_another_process)
{
	queue_from_process(false);
}

Test(loop_sync, queue_fed_by_another_process_fallback)
{
	queue_from_process(true);
}

static int sem_waiter(void *arg)
{
	return conc_sem_wait(arg);
}

static int sem_cancel_and_timeout(void *arg)
{
	conc_sem *s = arg;
	conc_task *t;
	int code = 1;

	conc_sem_init(s, 0, CONC_PRIVATE);
	if (conc_sem_timedwait(s, 20 * MS) != -ETIMEDOUT)
		return -1;
	if (conc_go(&t, sem_waiter, s, NULL))
		return -2;
	conc_sleep(10 * MS);
	conc_task_cancel(t);
	if (conc_task_join(t, &code, BOUND) || code != -ECANCELED)
		return -3;
	/* A post wakes a waiting task. */
	if (conc_go(&t, sem_waiter, s, NULL))
		return -4;
	conc_sleep(5 * MS);
	conc_sem_post(s);
	if (conc_task_join(t, &code, BOUND) || code != 0)
		return -5;
	return 0;
}

static void sem_waits(bool fallback)
{
	conc_sem s;

	setup(fallback);
	cr_assert_eq(run(sem_cancel_and_timeout, &s), 0);
}

Test(loop_sync, sem_wait_times_out_is_cancelled_and_woken)
{
	sem_waits(false);
}

Test(loop_sync, sem_wait_times_out_is_cancelled_and_woken_fallback)
{
	sem_waits(true);
}

struct xthread {
	conc_sem sem;
	conc_event ev;
};

static int post_later(void *arg)
{
	struct xthread *x = arg;

	sleep_ns(20 * MS);
	conc_event_set(&x->ev);
	return conc_sem_post(&x->sem);
}

static int woken_by_thread(void *arg)
{
	struct xthread *x = arg;
	conc_thread *th;
	int r;

	if (conc_thread_start(&th, post_later, x, NULL))
		return -1;
	if (conc_event_wait(&x->ev, BOUND))
		return -2;
	r = conc_sem_timedwait(&x->sem, BOUND);
	conc_thread_join(th, NULL, BOUND);
	return r;
}

Test(loop_sync, task_woken_by_a_thread)
{
	struct xthread x;

	setup(false);
	memset(&x, 0, sizeof(x));
	cr_assert_eq(run(woken_by_thread, &x), 0);
}

/*
 * A kernel of 6.1 to 6.6: io_uring, but its probe lists neither
 * IORING_OP_FUTEX_WAIT nor IORING_OP_WAITID. Here IORING_REGISTER_PROBE
 * fails under a seccomp filter, so the loop's own probe (not
 * CONC_LOOP_NO_FUTEX_OP) picks both fallbacks: a task waits on a
 * semaphore a process posts, then joins that process through its pidfd,
 * while a ticker task runs (the process posts only once it ticked).
 */
#define IORING_REGISTER_PROBE_OP 8	/* liburing 2.3's enum has no macro */

struct oldk {
	conc_sem sem;
	uint32_t waiting, ticks, stop;
};

static int oldk_ticker(void *arg)
{
	struct oldk *o = arg;

	tick_until(&o->ticks, &o->stop);
	return 0;
}

static int oldk_poster(void *arg)
{
	struct oldk *o = arg;
	uint32_t t0;
	int i;

	if (!wait_flag(&o->waiting, 10000))
		return 1;
	t0 = __atomic_load_n(&o->ticks, __ATOMIC_ACQUIRE);
	/* Bounded: a loop blocked in the wait never ticks, and fails below. */
	for (i = 0; i < 10000 && __atomic_load_n(&o->ticks, __ATOMIC_ACQUIRE) < t0 + 5; i++)
		sleep_ns(1 * MS);
	conc_sem_post(&o->sem);
	return 7;
}

static int oldk_main(void *arg)
{
	struct oldk *o = arg;
	conc_task *tk;
	conc_proc *p;
	uint32_t t0;
	int st = 0, r;

	if (conc_go(&tk, oldk_ticker, o, NULL))
		return 10;
	if (conc_proc_start(&p, oldk_poster, o, NULL))
		return 11;
	t0 = __atomic_load_n(&o->ticks, __ATOMIC_ACQUIRE);
	set_flag(&o->waiting, 1);
	r = conc_sem_timedwait(&o->sem, BOUND);
	if (r)
		return 12;
	if (__atomic_load_n(&o->ticks, __ATOMIC_ACQUIRE) < t0 + 5)
		return 13;	/* the wait blocked the loop */
	if (conc_proc_join(p, &st, BOUND) || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
		return 14;
	conc_proc_release(p);
	set_flag(&o->stop, 1);
	return conc_task_join(tk, NULL, BOUND) ? 15 : 0;
}

/* In a child, before any conc call caches what the kernel offers. */
static int old_kernel(void *arg)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_register, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IORING_REGISTER_PROBE_OP, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof(f) / sizeof(f[0])), f };
	uint32_t feat;
	int code = -1;

	unsetenv("CONC_LOOP_NO_FUTEX_OP");
	unsetenv("CONC_LOOP_NO_WAITID_OP");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 70;
	feat = conc_features();
	if (!(feat & CONC_FEAT_IO_URING))
		return 77;
	if (feat & (CONC_FEAT_URING_FUTEX | CONC_FEAT_URING_WAITID))
		return 71;	/* probed before the filter */
	if (conc_run(oldk_main, arg, &code))
		return 72;
	return code;
}

Test(loop_sync, a_kernel_without_futex_wait_and_waitid_ops, .timeout = 60)
{
	struct oldk *o = shared_alloc(sizeof(*o));
	int r;

	if (!seccomp_available())
		cr_skip_test("seccomp filters are not available here");
	cr_assert_not_null(o);
	conc_sem_init(&o->sem, 0, 0);
	r = run_in_child(old_kernel, o, 30000);
	if (r == 77)
		cr_skip_test("io_uring is not available in this kernel");
	cr_assert_eq(r, 0, "the child said %d", r);
	shared_free(o, sizeof(*o));
}
