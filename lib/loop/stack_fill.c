/*
 * The top pages of new slabs' stacks, filled in by a thread of the process
 * on another CPU while the loop goes on (MADV_POPULATE_WRITE, one
 * process_madvise a slab, as the loop's thread would do it).
 *
 * A loop that makes many tasks gets a new slab every 100 tasks or so, and
 * each of its stacks' top pages costs about 1.4 us to fill in on this VM
 * (allocate, charge, zero, map): most of what a new task costs. The slab
 * is handed to the filler and its stacks are used at once: filling a page
 * in never changes its contents, so a task that runs first simply faults
 * its page in itself, and the filler finds it there. Slabs are taken in
 * the order they came, the order the loop's tasks run in, and at most
 * QUEUED wait: past that the loop fills a slab in itself, in one call, as
 * it would without the filler. So a filler that has a CPU of its own keeps
 * ahead of the tasks, and one that gets none (a busy machine) leaves the
 * loop's thread doing what it did before, but for the first slabs.
 *
 * Jobs sit under the pool's lock. The filler exits when it has had nothing
 * to do for a while, and the loop that unmaps slabs first drops the jobs
 * and waits for the one in hand, so that no page is filled in at an
 * address that was unmapped, or mapped anew, meanwhile. In the child of a
 * fork the parent's jobs and filler are forgotten (no thread came along).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <conc/thread.h>
#include "loop/stack_impl.h"
#include "sys/self.h"
#include "sys/sys.h"
#include "wait/wait.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define QUEUED	192	/* slabs waiting: 20,000 default stacks; 128 to 256
			 * did as well (100,000 sleepers: 205-225 ms), all
			 * ahead of the loop came to 300 at load 3 */
/* Where the machine is busy, fewer: the filler gets a CPU late, and the
 * loop's tasks fault in the pages of the slabs that wait (100,000
 * sleepers at load 2: 320 ms with 192, 287 with 32, 290 without the
 * filler; 245 with 32 where a CPU is free). Busy: the loop's thread was
 * preempted since one of the last BUSY_PUSHES slabs. */
#define QUEUED_BUSY	32
#define BUSY_PUSHES	64
#define IDLE_NS	(100 * 1000000LL)	/* the filler exits after this idle */
/* Pages a call: the call holds the process's mmap lock for reading, and
 * an mmap (a slab, malloc's) waits for it; 100 pages a call made the
 * loop wait 60 ms in all for 100,000 tasks. */
#define PER_CALL 32

struct job {
	char *first;
	size_t stride, len, n;
};

/* F_FAILED: no thread could be started here (a seccomp filter, a task
 * limit): not tried again, the loop's thread does it all. */
enum { F_NONE, F_STARTING, F_RUNNING, F_FAILED };

/* All but seq and busy under the pool's lock. */
static struct {
	pid_t pid;		/* the process whose jobs these are */
	int state;
	uint32_t seq;		/* counts pushes: the filler sleeps on it */
	uint32_t busy;		/* the filler works on a job it took */
	size_t head, n;		/* waiting: q[head, n) */
	struct job q[QUEUED];
} f;

/* Under the lock: a fork child forgets its parent's filler and jobs. */
static void own(void)
{
	pid_t me = __conc_self()->pid;

	if (f.pid == me)
		return;
	f.pid = me;
	f.state = F_NONE;
	f.head = f.n = 0;
	__atomic_store_n(&f.busy, 0, __ATOMIC_RELAXED);
}

static int filler(void *arg)
{
	(void)arg;
	for (;;) {
		uint32_t s = __atomic_load_n(&f.seq, __ATOMIC_ACQUIRE);
		struct job j;
		bool got = false;

		__conc_stack_pool_lock();
		if (f.head < f.n) {
			j = f.q[f.head++];	/* the oldest */
			if (f.head == f.n)
				f.head = f.n = 0;
			got = true;
			__atomic_store_n(&f.busy, 1, __ATOMIC_RELAXED);
		}
		__conc_stack_pool_unlock();
		if (got) {
			for (size_t i = 0; i < j.n; i += PER_CALL)
				__conc_stack_advise(j.first + i * j.stride, j.stride,
						    j.len, j.n - i < PER_CALL ?
						    j.n - i : PER_CALL,
						    MADV_POPULATE_WRITE);
			/* Release: a dropper that sees 0 may unmap. */
			__atomic_store_n(&f.busy, 0, __ATOMIC_RELEASE);
			__conc_wake(&f.busy, INT_MAX, CONC_PRIVATE);
			continue;
		}
		if (__conc_wait(&f.seq, s, __conc_deadline(IDLE_NS),
				CONC_PRIVATE) == -ETIMEDOUT) {
			bool left = false;

			__conc_stack_pool_lock();
			if (f.head == f.n && __atomic_load_n(&f.seq, __ATOMIC_RELAXED) == s) {
				f.state = F_NONE;
				left = true;
			}
			__conc_stack_pool_unlock();
			if (left)
				return 0;
		}
	}
}

/* Under the lock, which it drops and takes again around the start. */
static void start(void)
{
	conc_thread_attr at = { .stack_size = 64 << 10, .name = "conc stacks",
				.daemon = true };
	uint64_t all = ~0ULL, old;
	conc_thread *th;
	int r;

	f.state = F_STARTING;
	__conc_stack_pool_unlock();
	/* The thread starts with every signal blocked (it takes the mask
	 * of the one that starts it): a signal for the process must not
	 * come to it, where a program that blocks the signal to sigwait
	 * for it would be killed by its default action instead. */
	sys_sigprocmask(SIG_SETMASK, (sigset_t *)&all, (sigset_t *)&old);
	r = conc_thread_start(&th, filler, NULL, &at);
	sys_sigprocmask(SIG_SETMASK, (sigset_t *)&old, NULL);
	if (r == 0)
		conc_thread_detach(th);
	__conc_stack_pool_lock();
	own();
	if (f.state == F_STARTING)
		f.state = r == 0 ? F_RUNNING : F_FAILED;
}

/* Whether the calling thread was preempted lately (see QUEUED_BUSY). */
static bool busy_here(void)
{
	static __thread long csw;
	static __thread unsigned left;
	struct rusage ru;

	if (__CONC_SC(SYS_getrusage, RUSAGE_THREAD, &ru) < 0)
		return false;
	if (ru.ru_nivcsw != csw) {
		csw = ru.ru_nivcsw;
		left = BUSY_PUSHES;
	} else if (left) {
		left--;
	}
	return left > 0;
}

int __conc_stack_fill_later(char *first, size_t stride, size_t len, size_t n)
{
	size_t most;
	int r = -1;

	if (__conc_ncpu() < 2)
		return -1;
	most = busy_here() ? QUEUED_BUSY : QUEUED;
	__conc_stack_pool_lock();
	own();
	if (f.state == F_NONE)
		start();
	if (f.n == QUEUED && f.head) {	/* room at the front */
		memmove(f.q, f.q + f.head, (f.n - f.head) * sizeof(*f.q));
		f.n -= f.head;
		f.head = 0;
	}
	if ((f.state == F_STARTING || f.state == F_RUNNING) &&
	    f.n < QUEUED && f.n - f.head < most) {
		f.q[f.n++] = (struct job){ first, stride, len, n };
		r = 0;
	}
	__conc_stack_pool_unlock();
	if (r == 0) {
		__atomic_add_fetch(&f.seq, 1, __ATOMIC_RELEASE);
		__conc_wake(&f.seq, 1, CONC_PRIVATE);
	}
	return r;
}

void __conc_stack_fill_drop(void)
{
	bool mine;

	__conc_stack_pool_lock();
	own();
	f.head = f.n = 0;
	mine = f.state == F_STARTING || f.state == F_RUNNING;
	__conc_stack_pool_unlock();
	while (mine && __atomic_load_n(&f.busy, __ATOMIC_ACQUIRE))
		__conc_wait(&f.busy, 1, -1, CONC_PRIVATE);
}
