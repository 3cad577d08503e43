/*
 * conc_thread: the handle of one start. Its state word is the futex a
 * joiner sleeps on. Non-daemon threads are counted in `live`, which the
 * exit handler waits to see at zero when main calls exit(), as Python
 * joins non-daemon threads before the interpreter ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include "sys/sys.h"
#include "sys/self.h"
#include "wait/wait.h"
#include "thread.h"

#define DEFAULT_STACK	(8u << 20)
#define MIN_STACK	(64u << 10)

static uint32_t live;
static uint64_t live_gen;

/* A fork child has none of its parent's threads: forget their count. */
static void live_refresh(void)
{
	uint64_t g = __conc_self()->gen;

	if (__atomic_load_n(&live_gen, __ATOMIC_RELAXED) != g) {
		__atomic_store_n(&live, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&live_gen, g, __ATOMIC_RELAXED);
	}
}

void __conc_thread_wait_all(void)
{
	uint32_t n;

	live_refresh();
	while ((n = __atomic_load_n(&live, __ATOMIC_ACQUIRE)))
		__conc_wait(&live, n, -1, CONC_PRIVATE);
}

static void join_at_exit(void)
{
	/* exit() called in a task: the loop's other tasks must not run
	 * while the process ends, nor this one resume in its handlers. */
	__conc_wait_leave();
	/* Only main's end waits, as Python waits at the end of its main
	 * thread. exit() called in any other thread, a conc thread or one of
	 * pthread_create, ends the process at once, as in C: waiting here
	 * for the others could never end where they wait for the caller (or
	 * the caller is one of them). The only thread of a fork child is its
	 * main thread (its tid is the child's pid), whichever thread forked:
	 * that process's end waits for the threads it started. */
	if (__conc_self()->tid != __conc_self()->pid)
		return;
	__conc_thread_wait_all();
}

void __conc_thread_finish(conc_thread *h, int code)
{
	bool daemon = h->daemon;
	uint32_t old;

	h->code = code;
	/* release: the code, and all the thread did, before DONE. */
	old = __atomic_fetch_or(&h->state, T_DONE, __ATOMIC_ACQ_REL);
	if (old & T_DETACHED)
		free(h);
	else if (old & T_JOINWAIT)
		__conc_wake(&h->state, INT32_MAX, CONC_PRIVATE);
	if (!daemon && __atomic_sub_fetch(&live, 1, __ATOMIC_RELEASE) == 0)
		__conc_wake(&live, INT32_MAX, CONC_PRIVATE);
}

/* Like pthread_create, a thread takes its creator's name unless given
 * one; the creator's name is read once per thread and process. */
static void default_name(char name[16])
{
	static __thread char cached[16] __attribute__((tls_model("initial-exec")));
	static __thread uint64_t cached_gen __attribute__((tls_model("initial-exec")));
	uint64_t g = __conc_self()->gen;

	if (!cached[0] || cached_gen != g) {
		sys_prctl(PR_GET_NAME, (unsigned long)cached, 0, 0, 0);
		cached_gen = g;
	}
	memcpy(name, cached, 16);
}

#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif

/* The scheduling attributes a thread the caller clones now starts with:
 * the caller's, less what SCHED_FLAG_RESET_ON_FORK takes from a child
 * (the kernel's sched_fork()). A reused worker must match them. */
static bool creator_sched(struct sys_sched_attr *a)
{
	memset(a, 0, sizeof(*a));
	if (sys_sched_getattr(0, a) < 0)
		return false;
	a->size = 0;
	if (a->flags & SCHED_FLAG_RESET_ON_FORK) {
		a->flags &= ~(uint64_t)SCHED_FLAG_RESET_ON_FORK;
		if (a->policy != SCHED_OTHER && a->policy != SCHED_BATCH &&
		    a->policy != SCHED_IDLE) {
			a->policy = SCHED_OTHER;
			a->priority = 0;
			a->nice = 0;
			a->runtime = a->deadline = a->period = 0;
		} else if (a->nice < 0) {
			a->nice = 0;
		}
	}
	return true;
}

int conc_thread_start(conc_thread **t, int (*fn)(void *), void *arg,
		      const conc_thread_attr *attr)
{
	static int registered;
	size_t stack = DEFAULT_STACK;
	struct worker job;
	conc_thread *h;
	int r;

	if (!t || !fn)
		return -EINVAL;
	r = __conc_libc_check();
	if (r)
		return r;
	if (attr && attr->stack_size) {
		if (attr->stack_size > SIZE_MAX / 4)
			return -ENOMEM;
		stack = attr->stack_size < MIN_STACK ? MIN_STACK
			: (attr->stack_size + 4095) & ~(size_t)4095;
	}
	if (!__atomic_exchange_n(&registered, 1, __ATOMIC_ACQ_REL) &&
	    atexit(join_at_exit)) {
		__atomic_store_n(&registered, 0, __ATOMIC_RELAXED);
		return -ENOMEM;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->daemon = attr && attr->daemon;
	memset(&job, 0, sizeof(job));
	job.fn = fn;
	job.arg = arg;
	job.h = h;
	sys_sigprocmask(SIG_BLOCK, NULL, (sigset_t *)&job.mask);
	if (sys_sched_getaffinity(0, sizeof(job.cpus), job.cpus) < 0)
		memset(job.cpus, 0xff, sizeof(job.cpus));
	job.sched_known = creator_sched(&job.sched);
	if (attr && attr->name)
		strncpy(job.name, attr->name, sizeof(job.name) - 1);
	else
		default_name(job.name);
	live_refresh();
	if (!h->daemon)
		__atomic_fetch_add(&live, 1, __ATOMIC_RELAXED);
	r = __conc_worker_run(&job, stack);
	if (r < 0) {
		if (!h->daemon)
			__atomic_fetch_sub(&live, 1, __ATOMIC_RELAXED);
		free(h);
		return r == -ENOMEM || r == -EAGAIN ? r : -EAGAIN;
	}
	*t = h;
	return 0;
}

int conc_thread_join(conc_thread *t, int *exit_code, int64_t timeout_ns)
{
	conc_deadline dl = __conc_deadline(timeout_ns);
	uint32_t s;
	int r;

	if (!t)
		return -EINVAL;
	if (__conc_current_worker && __conc_current_worker->h == t)
		return -EDEADLK;
	for (;;) {
		s = __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
		if (s & T_DETACHED)
			return -EINVAL;
		if (s & T_DONE)
			break;
		if (timeout_ns == 0)
			return -ETIMEDOUT;
		if (!(s & T_JOINWAIT) && __conc_spin_while_max(&t->state, s, __CONC_SPIN_MAX) != s)
			continue;
		if (!(s & T_JOINWAIT) &&
		    !__atomic_compare_exchange_n(&t->state, &s, s | T_JOINWAIT, 0,
						 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			continue;
		r = __conc_wait(&t->state, s | T_JOINWAIT, dl, CONC_PRIVATE);
		/* Still joinable. A cancelled task's -ECANCELED is final even
		 * if the thread ended meanwhile: joining would lose it. */
		if (r == -ECANCELED ||
		    (r < 0 && !(__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) & T_DONE)))
			return r;
	}
	if (exit_code)
		*exit_code = t->code;
	free(t);
	return 0;
}

int conc_thread_detach(conc_thread *t)
{
	uint32_t old;

	if (!t)
		return -EINVAL;
	old = __atomic_fetch_or(&t->state, T_DETACHED, __ATOMIC_ACQ_REL);
	if (old & T_DETACHED)
		return -EINVAL;
	if (old & T_DONE)
		free(t);
	return 0;
}

conc_thread *conc_thread_self(void)
{
	return __conc_current_worker ? __conc_current_worker->h : NULL;
}

_Noreturn void conc_thread_exit(int code)
{
	struct worker *w = __conc_current_worker;

	/* From a task: its loop is abandoned (conc_run(3)), the thread
	 * waits as a plain one from here on, parked or in exit handlers. */
	__conc_wait_leave();
	if (!w)
		exit(code);
	w->exit_code = code;
	__builtin_longjmp(w->jb, 1);
}
