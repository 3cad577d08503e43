/*
 * The wait point: the one door through which every blocking call of the
 * library waits — on a futex word, on fd readiness (pipes, eventfds, pidfds)
 * or only until a deadline — and wakes others. Nothing else in lib/ calls
 * futex, ppoll, blocking waitid or sched_yield (`make check` greps for it).
 *
 * Outside a coroutine these block the thread. A loop that runs coroutines on
 * the thread installs a waiter (struct __conc_waiter) while one runs; then the
 * same calls suspend only that coroutine. sync/ never includes loop/: the
 * loop reaches down through this hook.
 *
 * Deadlines inside, timeouts at the edge: a public call turns its timeout_ns
 * into an absolute CLOCK_MONOTONIC deadline once (__conc_deadline) and passes
 * the deadline down; nothing below converts back and forth.
 *
 * Who: the owner or waiter of an object is an execution context — the thread,
 * or a coroutine on it once a loop runs — named by (tid, ctx). The kernel
 * needs the tid (robust futex words, the robust list); ctx tells contexts of
 * one thread apart. A thread's own context is ctx 0.
 */
#ifndef CONC_WAIT_WAIT_H
#define CONC_WAIT_WAIT_H

#include <stdint.h>
#include <stdbool.h>
#include <linux/futex.h>
#include <conc/base.h>
#include "sys/sys.h"
#include "sys/self.h"

#define __CONC_HIDDEN __attribute__((visibility("hidden")))

/* NULL, or not aligned for the futex words inside (the kernel refuses a
 * misaligned futex, so a wait could never sleep): bad input. */
#define __CONC_BAD(p) (!(p) || ((uintptr_t)(p) & 3))

/* The absolute deadline for a relative timeout (CONC_FOREVER: none). */
static inline conc_deadline __conc_deadline(int64_t timeout_ns)
{
	int64_t now;

	if (timeout_ns < 0)
		return -1;
	now = sys_now_ns();
	return timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
}

static inline bool __conc_expired(conc_deadline d)
{
	return d >= 0 && sys_now_ns() >= d;
}

static inline int __conc_futex_private(unsigned flags)
{
	return (flags & CONC_PRIVATE) ? FUTEX_PRIVATE_FLAG : 0;
}

/*
 * What a loop installs on its thread (self->waiter) while a coroutine runs.
 * Each hook has the contract of the call of the same name below and
 * suspends only the running coroutine. A hook may return -ENOSYS to let the
 * thread block instead (a wait the loop cannot take over).
 */
struct pollfd;
struct __conc_waiter {
	int (*futex)(struct __conc_waiter *w, const uint32_t *word,
		     uint32_t expected, conc_deadline dl, unsigned flags);
	int (*poll)(struct __conc_waiter *w, struct pollfd *fds, unsigned n,
		    conc_deadline dl);
	/* NULL, or -ENOSYS from it: a pidfd is waited on as an fd. */
	int (*pidfd)(struct __conc_waiter *w, int pidfd, conc_deadline dl);
	/* NULL, or whether the running coroutine may spin on a word now
	 * (lib/wait/spin.h): only while nothing else wants its thread. */
	bool (*idle)(struct __conc_waiter *w);
	/* NULL, or hand the running coroutine back a cancellation one of
	 * its waits took (see __conc_wait_recancel). */
	void (*recancel)(struct __conc_waiter *w);
	/* NULL, or the thread stops running coroutines from inside the
	 * running one (it ends, or the process exits there): the loop lets
	 * go of the thread, whose waits then block it (__conc_wait_leave). */
	void (*leave)(struct __conc_waiter *w);
	/* NULL, or whether the loop winds down (its main task returned):
	 * the cancel its tasks get then is final, no wake-up to look again. */
	bool (*ending)(struct __conc_waiter *w);
};

/* The caller's execution context within its thread (0: the thread itself). */
static inline uint32_t __conc_ctx(const struct __conc_self *s)
{
	return s->ctx;
}

/* A flag for __conc_wait: every wake-up of this word wakes all its sleepers,
 * or the caller knows it sleeps alone, so a dead woken process cannot
 * strand it: no periodic re-check. */
#define __CONC_WAIT_ALONE 0x80000000u

/* How often a shared word's sleeper looks again (see __conc_wait). */
#define __CONC_RECHECK_NS 100000000LL

/* Sleep while *word == expected, until woken or the deadline (< 0: none).
 * Returns 0 after a wake-up, a changed value or a signal (the caller looks
 * again), or -ETIMEDOUT once the deadline has passed. A shared word (no
 * CONC_PRIVATE) also returns 0 every 100 ms (a loop's tasks less often
 * the more of them there are): callers look again, and a
 * wake-up taken by a process that died before it acted is not lost.
 * Inside a coroutine that was cancelled, every wait of this family returns
 * -ECANCELED (once): give it to the caller at once, as a final result. */
int __conc_wait(const uint32_t *word, uint32_t expected,
		conc_deadline deadline, unsigned flags) __CONC_HIDDEN;

/* A call that took a -ECANCELED from a wait but could not return it (it
 * had to take an internal lock anyway, and goes on) gives it back: the
 * coroutine's next suspending call returns it, so no cancel is lost.
 * Nothing outside a coroutine. */
void __conc_wait_recancel(void) __CONC_HIDDEN;

/* Whether the coroutine's loop winds down (conc_run's main task
 * returned): a cancel taken now is the end's, and no call may hold it
 * off, or conc_run never returns. False outside a coroutine. */
bool __conc_wait_ending(void) __CONC_HIDDEN;

/* The calling thread leaves the coroutine it runs for good (it ends in
 * it, or exits the process from it): the loop forgets the thread, so the
 * waits that follow (exit handlers, a parked worker) block the thread
 * rather than suspend a coroutine that will never resume, and nothing of
 * the loop runs again on it. Nothing outside a coroutine. */
void __conc_wait_leave(void) __CONC_HIDDEN;

/* Wake up to n waiters on word; returns how many were woken. */
int __conc_wake(uint32_t *word, int n, unsigned flags) __CONC_HIDDEN;

/* FUTEX_WAKE_OP: apply op (FUTEX_OP(...)) to *word2, wake up to n1 waiters
 * on word1 and, if the op's comparison held, up to n2 on word2. */
void __conc_wake_op(uint32_t *word1, int n1, uint32_t *word2, int n2,
		    uint32_t op, unsigned flags) __CONC_HIDDEN;

/* Wake nwake waiters on from and move up to nmove others onto to, provided
 * *from still equals cmp. Returns >= 0, or -EAGAIN if *from changed. */
int __conc_requeue(uint32_t *from, int nwake, int nmove, uint32_t *to,
		   uint32_t cmp, unsigned flags) __CONC_HIDDEN;

/* Wait until one of fds is ready (ppoll semantics: revents filled in) or
 * the deadline. Returns the number of ready entries (> 0), 0 if a signal
 * came first (look again), -ETIMEDOUT, or another -errno (-EINVAL, -ENOMEM). */
int __conc_wait_fds(struct pollfd *fds, unsigned n, conc_deadline dl) __CONC_HIDDEN;

/* One fd: its revents (> 0), 0 after a signal, -ETIMEDOUT, or -errno. */
int __conc_wait_fd(int fd, short events, conc_deadline dl) __CONC_HIDDEN;

/* A process, by pidfd: > 0 once it has exited (reap it with waitid
 * WNOHANG), 0 after a signal, -ETIMEDOUT, or -errno. */
int __conc_wait_pidfd(int pidfd, conc_deadline dl) __CONC_HIDDEN;

/* Sleep until the deadline (> 0 meaningful; < 0 is refused with -EINVAL:
 * use a real wait to wait forever). Returns 0 once it has passed. */
int __conc_sleep_until(conc_deadline dl) __CONC_HIDDEN;

/* Test-only seam: make the calling thread act as context ctx from now on,
 * standing in for a coroutine switch until the loop exists. */
void __conc_ctx_switch(uint32_t ctx) __CONC_HIDDEN;

#include "wait/spin.h"

#endif
