/*
 * Workers: kernel tasks made by clone(2) with a mapping of their own
 * (guard page, stack, static TLS, TCB). A worker that finishes a job parks
 * on a futex and is handed the next one, which makes a start a wake-up and
 * keeps libc's per-thread state (malloc's cache) from leaking at every
 * thread exit. At most MAX_IDLE park; a worker idle for IDLE_NS exits for
 * real, and its mapping is freed by a later start once the kernel has
 * cleared its tid word (CLONE_CHILD_CLEARTID): not before, since it is still
 * running on that stack until then.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sched.h>
#include <conc/mutex.h>
#include "sys/sys.h"
#include "sys/self.h"
#include "sync/wait.h"
#include "thread.h"

#define MAX_IDLE	16
#define IDLE_NS		(10 * 1000000000LL)
#define GUARD		4096
#define PAGE		4096

__thread struct worker *__conc_current_worker
	__attribute__((tls_model("initial-exec")));

static conc_mutex lock = CONC_MUTEX_INIT;
static struct worker *idle, *zombies;
static int nidle;
static uint64_t gen;

static size_t round_page(size_t n)
{
	return (n + PAGE - 1) & ~(size_t)(PAGE - 1);
}

/* After fork only the forking thread exists: the parent's workers, and
 * whoever held the lock, are gone. Forget them (their memory stays). */
static void lock_workers(void)
{
	uint64_t g = __conc_self()->gen;

	if (__atomic_load_n(&gen, __ATOMIC_RELAXED) != g) {
		conc_mutex_init(&lock, CONC_PRIVATE);
		idle = zombies = NULL;
		nidle = 0;
		__atomic_store_n(&gen, g, __ATOMIC_RELAXED);
	}
	conc_mutex_lock(&lock);
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

static void run_job(struct worker *w)
{
	uint64_t all = ~0ULL;

	__conc_current_worker = w;
	sys_prctl(PR_SET_NAME, (unsigned long)w->name, 0, 0, 0);
	sys_sigprocmask(SIG_SETMASK, (sigset_t *)&w->mask, NULL);
	if (__builtin_setjmp(w->jb) == 0)
		w->exit_code = w->fn(w->arg);
	/* Between jobs the task must not take the process's signals: the
	 * program may block one everywhere else to sigwait for it. */
	sys_sigprocmask(SIG_SETMASK, (sigset_t *)&all, NULL);
	__conc_libc_thread_leave(w->tp);
	__conc_current_worker = NULL;
	__conc_thread_finish(w->h, w->exit_code);
}

/* Park until handed a job (true) or until idle too long (false). */
static bool park(struct worker *w)
{
	conc_deadline dl = sys_now_ns() + IDLE_NS;

	lock_workers();
	if (nidle >= MAX_IDLE) {
		w->next = zombies;
		zombies = w;
		conc_mutex_unlock(&lock);
		return false;
	}
	__atomic_store_n(&w->go, 0, __ATOMIC_RELAXED);
	w->next = idle;
	idle = w;
	nidle++;
	conc_mutex_unlock(&lock);
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
			conc_mutex_unlock(&lock);
			return false;
		}
		conc_mutex_unlock(&lock);
	}
}

static int worker_main(void *arg)
{
	struct worker *w = arg;

	__conc_libc_thread_enter(w->tp);
	for (;;) {
		run_job(w);
		if (!park(w))
			return 0;
		/* A new thread, as far as the job can tell: fresh program TLS,
		 * global locale, no alternate signal stack, its creator's CPUs. */
		__conc_libc_thread_reset_tls();
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
	if (r < 0)
		return (int)r;
	w->tid = (pid_t)r;
	return 0;
}

int __conc_worker_run(struct worker *job, size_t stack_size)
{
	struct worker **pp, *w;
	int r = 0;

	lock_workers();
	reap_zombies();
	for (pp = &idle; (w = *pp); pp = &w->next)
		if (w->stack_size >= stack_size)
			break;
	if (w) {
		*pp = w->next;
		nidle--;
	}
	conc_mutex_unlock(&lock);
	if (!w) {
		__conc_libc_go_multithreaded();
		w = worker_create(stack_size, &r);
		if (!w)
			return r;
	}
	w->fn = job->fn;
	w->arg = job->arg;
	w->h = job->h;
	w->mask = job->mask;
	memcpy(w->cpus, job->cpus, sizeof(w->cpus));
	memcpy(w->name, job->name, sizeof(w->name));
	if (w->tid) {
		__atomic_store_n(&w->go, 1, __ATOMIC_RELEASE);
		__conc_wake(&w->go, 1, CONC_PRIVATE);
		return 0;
	}
	r = worker_start(w);
	if (r < 0) {
		__conc_libc_tcb_destroy(w->tp);
		sys_munmap(w->map, w->map_len);
	}
	return r;
}
