/*
 * Workers: kernel tasks made by clone(2) with a mapping of their own
 * (guard page, stack, static TLS, TCB). A worker that finishes a job parks
 * on a futex and is handed the next one, which makes a start a wake-up and
 * keeps libc's per-thread state (malloc's cache) from leaking at every
 * thread exit. At most MAX_IDLE park; a worker idle for IDLE_NS exits for
 * real, and its mapping is freed by a later start once the kernel has
 * cleared its tid word (CLONE_CHILD_CLEARTID): not before, since it is still
 * running on that stack until then. What it leaves of libc's per-thread
 * state (malloc's cache above all, which glibc frees only for its own
 * pthreads) is a legacy that the next new worker takes up instead of a
 * fresh one, as a parked worker keeps its own: the cache is never lost, and
 * what is kept is bounded by the most threads that ever ran at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sched.h>
#include <conc/mutex.h>
#include "sys/sys.h"
#include "sys/self.h"
#include "wait/wait.h"
#include "thread.h"
#include "fork_lock.h"

#define MAX_IDLE	16
#define IDLE_NS		(10 * 1000000000LL)
#define GUARD		4096
#define PAGE		4096

__thread struct worker *__conc_current_worker
	__attribute__((tls_model("initial-exec")));

/* An ended worker's libc state (__conc_libc_state_save). */
struct legacy {
	struct legacy *next;
	_Alignas(16) unsigned char state[];
};

static struct __conc_fork_lock lock = __CONC_FORK_LOCK_INIT;
static struct worker *idle, *zombies;
static struct legacy *legacies;
static int nidle;
static uint32_t spinners;

static size_t round_page(size_t n)
{
	return (n + PAGE - 1) & ~(size_t)(PAGE - 1);
}

/* After fork only the forking thread exists: the parent's workers, and
 * whoever held the lock, are gone. Forget them (their memory stays); a
 * spinner counted at the fork would keep the child's from ever spinning.
 * Run once per fork child, before any worker of its own exists. */
static void forget_workers(void)
{
	/* A legacy half pushed or popped at the fork may be torn: lost to
	 * this child (its memory stays), never followed. */
	legacies = NULL;
	idle = zombies = NULL;
	nidle = 0;
	__atomic_store_n(&spinners, 0, __ATOMIC_RELAXED);
}

/* Starting a thread is no wait: a cancel is left for the next. */
static void lock_workers(void)
{
	__conc_fork_lock(&lock, forget_workers);
}

static void reap_zombies(void)
{
	struct worker **pp = &zombies, *w;

	while ((w = *pp)) {
		if (__atomic_load_n(__conc_libc_tid_word(w->tp), __ATOMIC_ACQUIRE)) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		__conc_libc_tcb_destroy(w->tp);
		sys_munmap(w->map, w->map_len);
	}
}

/* The last job's number; not static: a test starts it near its wrap. */
uint32_t __conc_jobs __attribute__((visibility("hidden")));

/* Each job is an execution context of its own (__CONC_CTX_JOB keeps it
 * apart from a loop's task ids and from 0, sys/self.h): a lock the last
 * job on this worker ended holding is not the next job's to unlock or
 * lock again. */
static uint32_t job_ctx(void)
{
	return __CONC_CTX_JOB |
	       (__atomic_add_fetch(&__conc_jobs, 1, __ATOMIC_RELAXED) & ~__CONC_CTX_JOB);
}

/* Run the job; returns its handle, with its code in *code. */
static conc_thread *run_job(struct worker *w, int *code)
{
	struct __conc_self *s = __conc_self();
	uint64_t all = ~0ULL;

	s->base = s->ctx = job_ctx();
	__conc_current_worker = w;
	if (!w->named || strcmp(w->name, w->shown))
		sys_prctl(PR_SET_NAME, (unsigned long)w->name, 0, 0, 0);
	memcpy(w->shown, w->name, sizeof(w->shown));
	w->named = true;
	sys_sigprocmask(SIG_SETMASK, (sigset_t *)&w->mask, NULL);
	if (__builtin_setjmp(w->jb) == 0)
		w->exit_code = w->fn(w->arg);
	/* Between jobs the task must not take the process's signals: the
	 * program may block one everywhere else to sigwait for it. */
	sys_sigprocmask(SIG_SETMASK, (sigset_t *)&all, NULL);
	__conc_libc_thread_leave(w->tp);
	__conc_current_worker = NULL;
	*code = w->exit_code;
	return w->h;
}

/*
 * Offer the worker for the next job: true if it is now parked (from here
 * on a starter may fill in its job fields at any time), false if enough
 * park already, or the job's daemon children must die with it, and it must
 * exit. Done before the finished job is
 * published, so a joiner that starts again at once finds it waiting.
 */
static bool offer(struct worker *w, bool reusable)
{
	bool parked = false;

	lock_workers();
	if (nidle < MAX_IDLE && !w->daemons && reusable) {
		__atomic_store_n(&w->go, 0, __ATOMIC_RELAXED);
		w->next = idle;
		idle = w;
		nidle++;
		parked = true;
	} else {
		w->next = zombies;
		zombies = w;
	}
	conc_mutex_unlock(&lock.m);
	return parked;
}

static bool same_sched(const struct sys_sched_attr *a,
		       const struct sys_sched_attr *b)
{
	return a->policy == b->policy && a->flags == b->flags &&
	       a->nice == b->nice && a->priority == b->priority &&
	       a->runtime == b->runtime && a->deadline == b->deadline &&
	       a->period == b->period;
}

/* A job may have changed its nice value, policy or priority (they are
 * per thread); a new thread has its creator's. Set back those the job
 * began with: a later job is handed this worker only by a creator with
 * the same ones. Where that is refused (a lower nice value needs
 * privilege), the worker ends instead of parking. */
static bool sched_restored(struct worker *w)
{
	struct sys_sched_attr now;

	if (!w->sched_known)
		return true;
	if (sys_sched_getattr(0, &now) == 0 && same_sched(&now, &w->sched))
		return true;
	now = w->sched;
	if (sys_sched_setattr(0, &now) < 0)
		return false;
	return sys_sched_getattr(0, &now) == 0 && same_sched(&now, &w->sched);
}

/* Whether parked worker w may take the job: it runs with the attributes
 * of its last job's creator, which a new thread of this one would get. */
static bool sched_fits(const struct worker *w, const struct worker *job)
{
	return !job->sched_known ||
	       (w->sched_known && same_sched(&w->sched, &job->sched));
}

/* Wait until handed a job (true) or until idle too long (false). */
static bool await_job(struct worker *w)
{
	conc_deadline dl = sys_now_ns() + IDLE_NS;

	/* Only the last worker parked is handed the next job (the idle list
	 * is a stack): one spinner is enough, more would only take CPU time
	 * from the threads still running. */
	if (__atomic_fetch_add(&spinners, 1, __ATOMIC_RELAXED) == 0)
		__conc_spin_while_max(&w->go, 0, __CONC_SPIN_MAX);
	__atomic_fetch_sub(&spinners, 1, __ATOMIC_RELAXED);
	for (;;) {
		if (__atomic_load_n(&w->go, __ATOMIC_ACQUIRE))
			return true;
		if (__conc_wait(&w->go, 0, dl, CONC_PRIVATE) != -ETIMEDOUT)
			continue;
		lock_workers();
		if (!__atomic_load_n(&w->go, __ATOMIC_ACQUIRE)) {
			struct worker **pp = &idle;

			while (*pp != w)
				pp = &(*pp)->next;
			*pp = w->next;
			nidle--;
			w->next = zombies;
			zombies = w;
			conc_mutex_unlock(&lock.m);
			return false;
		}
		conc_mutex_unlock(&lock.m);
	}
}

/* The worker's task ends: leave its libc state to the next new worker.
 * The copy is the last use of it here: nothing from the copy to the task's
 * end calls malloc, or libc at all (every signal is blocked). */
static void bequeath(void)
{
	size_t n = __conc_libc_state_size();
	struct legacy *l;

	if (!n || !(l = malloc(sizeof(*l) + n)))
		return;
	lock_workers();
	__conc_libc_state_save(l->state);
	l->next = legacies;
	legacies = l;
	conc_mutex_unlock(&lock.m);
}

static void legacy_push(struct legacy *l)
{
	lock_workers();
	l->next = legacies;
	legacies = l;
	conc_mutex_unlock(&lock.m);
}

static int worker_main(void *arg)
{
	struct worker *w = arg;
	struct __conc_self self;
	conc_thread *h;
	bool parked;
	int code;

	__conc_libc_thread_enter(w->tp);
	for (;;) {
		h = run_job(w, &code);
		/* The job called fork() and this is the child: the only thread
		 * of a process of its own, whose end this is, as main's return
		 * would be (atexit handlers, stdio flushed, threads the child
		 * started joined). Parking would keep it alive for IDLE_NS, to
		 * end with 0. h and the counts belong to the parent. */
		if (w->pid != __conc_self()->pid)
			exit(code);
		/* A signal sent to this thread alone and left pending dies
		 * with a pthread: a worker that parked would hand it to its
		 * next job, which may not block it. The kernel drops it when
		 * the task ends. */
		parked = offer(w, sched_restored(w) &&
				  !__conc_thread_signals_pending());
		__conc_thread_finish(h, code);
		if (!parked || !await_job(w)) {
			bequeath();
			return 0;
		}
		/* A new thread, as far as the job can tell: fresh program TLS,
		 * global locale, no alternate signal stack, its creator's CPUs. */
		self = __conc_self_tls;
		__conc_libc_thread_reset_tls();
		__conc_self_tls = self;
		sys_sigaltstack_disable();
		sys_sched_setaffinity(0, sizeof(w->cpus), w->cpus);
	}
}

static struct worker *worker_create(size_t stack_size, int *err)
{
	size_t tls = round_page(__conc_libc_tls_bytes() + sizeof(struct worker) + 256);
	size_t len = GUARD + stack_size + tls;
	struct worker *w;

	if (stack_size > SIZE_MAX / 4) {
		*err = -ENOMEM;
		return NULL;
	}
	char *map, *tp;

	map = sys_mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE,
		       -1, 0);
	if (sys_mmap_failed(map)) {
		*err = (int)(long)map;
		return NULL;
	}
	if (sys_mprotect(map, GUARD, PROT_NONE) < 0 ||
	    !(tp = __conc_libc_tcb_create(map + len))) {
		sys_munmap(map, len);
		*err = -ENOMEM;
		return NULL;
	}
	w = (struct worker *)(((uintptr_t)tp - __conc_libc_tls_bytes() -
			       sizeof(*w)) & ~(uintptr_t)63);
	w->map = map;
	w->map_len = len;
	w->stack_size = stack_size;
	w->tp = tp;
	w->pid = __conc_self()->pid;
	return w;
}

static int worker_start(struct worker *w)
{
	unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			      CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS |
			      CLONE_PARENT_SETTID | CLONE_CHILD_SETTID |
			      CLONE_CHILD_CLEARTID;
	pid_t *tid = __conc_libc_tid_word(w->tp);
	uint64_t all = ~0ULL, old;
	long r;

	if (CONC_FI(CONC_FI_SHARED_TP))
		flags &= ~CLONE_SETTLS;
	/* The new task starts with every signal blocked and takes the job's
	 * mask itself, so no handler runs before its TLS is ready. */
	sys_sigprocmask(SIG_SETMASK, (sigset_t *)&all, (sigset_t *)&old);
	r = __conc_clone(worker_main, (char *)w - 64, flags, w, tid, w->tp, tid);
	sys_sigprocmask(SIG_SETMASK, (sigset_t *)&old, NULL);
	/* Not a byte of w from here on: the worker may already have run its
	 * job, exited (more workers than park) and had its mapping freed by
	 * a start on another thread. The kernel stored its tid (SETTID). */
	return r < 0 ? (int)r : 0;
}

static void give_job(struct worker *w, const struct worker *job)
{
	w->fn = job->fn;
	w->arg = job->arg;
	w->h = job->h;
	w->mask = job->mask;
	memcpy(w->cpus, job->cpus, sizeof(w->cpus));
	w->sched = job->sched;
	w->sched_known = job->sched_known;
	memcpy(w->name, job->name, sizeof(w->name));
}

int __conc_worker_run(struct worker *job, size_t stack_size)
{
	struct worker **pp, *w;
	struct legacy *l = NULL;
	int r = 0;

	lock_workers();
	reap_zombies();
	for (pp = &idle; (w = *pp); pp = &w->next)
		if (w->stack_size >= stack_size && sched_fits(w, job))
			break;
	if (w) {
		/* Handed over under the lock: a worker whose idle time runs
		 * out now finds go set, not itself missing from the list. */
		*pp = w->next;
		nidle--;
		give_job(w, job);
		__atomic_store_n(&w->go, 1, __ATOMIC_RELEASE);
	} else if ((l = legacies)) {
		legacies = l->next;
	}
	conc_mutex_unlock(&lock.m);
	if (w) {
		__conc_wake(&w->go, 1, CONC_PRIVATE);
		return 0;
	}
	__conc_libc_go_multithreaded();
	w = worker_create(stack_size, &r);
	if (w) {
		if (l)
			__conc_libc_state_adopt(w->tp, l->state);
		give_job(w, job);
		r = worker_start(w);
		if (r < 0) {
			__conc_libc_tcb_destroy(w->tp);
			sys_munmap(w->map, w->map_len);
			w = NULL;
		}
	}
	/* Not taken up: it waits for the next new worker. */
	if (l && !w)
		legacy_push(l);
	else
		free(l);
	return r;
}
