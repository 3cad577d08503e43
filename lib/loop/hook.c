/*
 * The wait point's hook (struct __conc_waiter, lib/wait/wait.h): what the
 * loop installs while a task runs, so that every blocking call of conc
 * suspends only that task.
 *
 * Futex words: IORING_OP_FUTEX_WAIT (6.7), a shared futex unless the
 * caller asked for CONC_PRIVATE, so a wake from any thread or process
 * reaches the task; the loop's watch (watch.c) looks at the shared words
 * now and then, for wake-ups lost with a killed process. Kernels without
 * it (6.1 to 6.6): a few yields while other tasks run, then the task parks
 * and the watch looks at its word every LOOP_FALLBACK_NS: the loop never
 * blocks, at the price of that latency.
 * Fds: IORING_OP_POLL_ADD, one per fd; its POLLRDHUP, which the kernel
 * adds to every poll, is left out unless asked for, as poll(2) does, and
 * a poll that ended on it alone looks again every LOOP_FALLBACK_NS.
 * Processes: IORING_OP_WAITID (6.7) on the pidfd, WNOWAIT so that the
 * caller reaps as a thread would; where the kernel lacks it, or the
 * process is no child of ours (ECHILD), a poll on the pidfd.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/wait.h>
#include "loop/loop_impl.h"

#define OP_WAITID	50
#define OP_FUTEX_WAIT	51
#define FUTEX2_U32	0x02
#define FUTEX2_PRIV	128
#define YIELDS		8

/*
 * Until when a task sleeps before it looks again, where the watch cannot
 * look for it (no memory for it; a poll that ended unasked): every `every`
 * ns, spaced out as the loop holds more tasks, so that 100,000 sleepers
 * cost a few thousand re-checks a second rather than a million.
 */
static conc_deadline recheck_at(const struct loop *l, conc_deadline dl,
				int64_t every)
{
	conc_deadline at = sys_now_ns() + every * (int64_t)(1 + l->alive / 1024);

	return dl >= 0 && dl < at ? dl : at;
}

static int futex_ring(struct conc_task *t, const uint32_t *word,
		      uint32_t expected, conc_deadline dl, unsigned flags)
{
	struct io_uring_sqe *sqe = __conc_ring_op(t, dl);
	int r;

	if (!sqe)
		return -ECANCELED;
	io_uring_prep_rw(OP_FUTEX_WAIT, sqe,
			 FUTEX2_U32 | ((flags & CONC_PRIVATE) ? FUTEX2_PRIV : 0),
			 word, 0, expected);
	sqe->rw_flags = 0;		/* futex_flags: none */
	sqe->addr3 = 0xffffffffu;	/* the bitset: any wake */
	r = __conc_ring_wait(t, sqe, dl);
	/* As __conc_wait: a word that differed (-EAGAIN) is looked at
	 * again, but not past the deadline (a peer may change it without
	 * end); a wake-up stays 0. */
	if (r == -EAGAIN && __conc_expired(dl))
		return -ETIMEDOUT;
	return r == -ETIMEDOUT || r == -ECANCELED ? r : 0;
}

static int futex_fallback(struct conc_task *t, const uint32_t *word,
			  uint32_t expected, conc_deadline dl, unsigned flags)
{
	conc_deadline until;
	int i, r;

	if (__conc_take_cancel_dl(t, dl))
		return -ECANCELED;
	/* A look: no yield, which could take a cancel the look leaves. Past
	 * the deadline a changed word is no reason to look again either (a
	 * peer may change it without end): the caller looks once more. */
	if (__conc_expired(dl))
		return -ETIMEDOUT;
	for (i = 0; i < YIELDS && t->loop->rq_head; i++) {
		if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != expected)
			return 0;
		__conc_runq_push(t->loop, t);
		__conc_suspend(t);
		if (__conc_take_cancel(t))
			return -ECANCELED;
	}
	if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != expected)
		return 0;
	if (__conc_watch_add(t, word, expected, flags) == 0) {
		r = __conc_park(t, dl);
		__conc_watch_del(t);
		return r;
	}
	until = recheck_at(t->loop, dl, LOOP_FALLBACK_NS);
	r = __conc_park(t, until);
	if (r == -ETIMEDOUT && until != dl)
		return 0;
	return r;
}

static int hook_futex(struct __conc_waiter *w, const uint32_t *word,
		      uint32_t expected, conc_deadline dl, unsigned flags)
{
	struct conc_task *t = __conc_cur();
	conc_deadline until;
	int r;

	(void)w;
	if (!t)
		return -ENOSYS;
	if (!t->loop->futex_op)
		return futex_fallback(t, word, expected, dl, flags);
	if (flags & (CONC_PRIVATE | __CONC_WAIT_ALONE))
		return futex_ring(t, word, expected, dl, flags);
	if (__conc_watch_add(t, word, expected, flags) == 0) {
		r = futex_ring(t, word, expected, dl, flags);
		__conc_watch_del(t);
		return r;
	}
	until = recheck_at(t->loop, dl, __CONC_RECHECK_NS);
	r = futex_ring(t, word, expected, until, flags);
	return r == -ETIMEDOUT && until != dl ? 0 : r;
}

/* io_uring adds POLLRDHUP to every poll, asked for or not (and POLLERR,
 * POLLHUP, which poll(2) reports anyway): what the caller did not ask for
 * is left out, as poll(2) leaves it. */
static short asked(const struct pollfd *p, int res)
{
	return (short)(res & (p->events | POLLERR | POLLHUP | POLLNVAL));
}

/*
 * The poll ended on POLLRDHUP alone, unasked: a socket whose peer shut
 * down its writing, while the caller waits for room (say). It stays so: a
 * poll again would end at once, and the caller would spin past its
 * deadline. Look again after LOOP_FALLBACK_NS instead, or at the deadline: 0
 * (look again), -ETIMEDOUT or -ECANCELED.
 */
static int unasked(struct conc_task *t, conc_deadline dl)
{
	conc_deadline until;
	int r;

	if (__conc_expired(dl))
		return -ETIMEDOUT;
	if (__conc_take_cancel(t))
		return -ECANCELED;
	until = recheck_at(t->loop, dl, LOOP_FALLBACK_NS);
	r = __conc_park(t, until);
	return r == -ETIMEDOUT && until != dl ? 0 : r;
}

static int poll_one(struct conc_task *t, struct pollfd *p, conc_deadline dl)
{
	for (;;) {
		struct io_uring_sqe *sqe = __conc_ring_op(t, dl);
		int r;

		if (!sqe)
			return -ECANCELED;
		io_uring_prep_poll_add(sqe, p->fd, (unsigned)(unsigned short)p->events);
		r = __conc_ring_wait(t, sqe, dl);
		if (r == -EBADF) {
			p->revents = POLLNVAL;
			return 1;
		}
		if (r < 0)
			return r;
		p->revents = asked(p, r);
		if (p->revents)
			return 1;
		if ((r = unasked(t, dl)) < 0)
			return r;
	}
}

static int poll_many(struct conc_task *t, struct pollfd *fds, unsigned n,
		     conc_deadline dl)
{
	struct opslot *ops;
	unsigned i;
	int count = 0;
	bool only_unasked = false;

	if (__conc_take_cancel_dl(t, dl))
		return -ECANCELED;
	ops = calloc(n, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	t->ops = ops;
	t->nops = n;
	t->inflight = 0;
	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe;

		fds[i].revents = 0;
		if (fds[i].fd < 0)
			continue;
		sqe = __conc_sqe(t->loop);
		io_uring_prep_poll_add(sqe, fds[i].fd,
				       (unsigned)(unsigned short)fds[i].events);
		ops[i].t = t;
		ops[i].pending = true;
		io_uring_sqe_set_data(sqe, &ops[i]);
		t->inflight++;
		t->loop->ops++;
	}
	__conc_ring_wait_any(t, dl);
	__conc_ring_settle(t);
	for (i = 0; i < n; i++) {
		if (fds[i].fd < 0)
			continue;
		if (ops[i].res > 0)
			fds[i].revents = asked(&fds[i], ops[i].res);
		else if (ops[i].res == -EBADF)
			fds[i].revents = POLLNVAL;
		count += fds[i].revents != 0;
		only_unasked |= ops[i].res > 0 && !fds[i].revents;
	}
	t->ops = NULL;
	t->nops = 0;
	free(ops);
	if (count)
		return count;
	/* A look (dl passed at the start) left a pending cancel alone. */
	if (t->timed_out)
		return -ETIMEDOUT;
	if (__conc_take_cancel(t))
		return -ECANCELED;
	return only_unasked ? unasked(t, dl) : 0;
}

static int hook_poll(struct __conc_waiter *w, struct pollfd *fds, unsigned n,
		     conc_deadline dl)
{
	struct conc_task *t = __conc_cur();

	(void)w;
	if (!t)
		return -ENOSYS;
	if (n == 0) {
		if (__conc_take_cancel_dl(t, dl))
			return -ECANCELED;
		return __conc_park(t, dl);
	}
	if (n == 1)
		return poll_one(t, fds, dl);
	return poll_many(t, fds, n, dl);
}

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int hook_pidfd(struct __conc_waiter *w, int pidfd, conc_deadline dl)
{
	struct conc_task *t = __conc_cur();
	struct io_uring_sqe *sqe;
	int r;

	(void)w;
	if (!t || !t->loop->waitid_op)
		return -ENOSYS;
	sqe = __conc_ring_op(t, dl);
	if (!sqe)
		return -ECANCELED;
	/* waitid(P_PIDFD, pidfd, NULL, WEXITED | WNOWAIT): the id in fd, the
	 * id type in len, the options in file_index, no siginfo (addr2). */
	io_uring_prep_rw(OP_WAITID, sqe, pidfd, NULL, P_PIDFD, 0);
	sqe->file_index = WEXITED | WNOWAIT;
	r = __conc_ring_wait(t, sqe, dl);
	if (r == 0)
		return 1;	/* exited: the caller reaps it */
	if (r == -ETIMEDOUT || r == -ECANCELED)
		return r;
	return -ENOSYS;
}

/*
 * Whether the running task may spin on a word (lib/wait/spin.h): only when
 * its loop has nothing else to do, so that the spin is the one the loop
 * would make on its ring before it sleeps (idle_spin.c), minus the trip
 * through the ring: no other task runnable, no SQE to submit, no completion
 * waiting (IORING_SQ_TASKRUN says so for the deferred ones: without that
 * flag the loop never spins), no timer due.
 */
static bool hook_idle(struct __conc_waiter *w)
{
	struct loop *l = (struct loop *)((char *)w - offsetof(struct loop, waiter));

	if (l->rq_head || l->queued || !l->taskrun_flag ||
	    io_uring_cq_ready(&l->ring) ||
	    (__atomic_load_n(l->ring.sq.kflags, __ATOMIC_ACQUIRE) &
	     IORING_SQ_TASKRUN))
		return false;
	return !__conc_timer_any(l) || __conc_timer_first(l) > sys_now_ns();
}

static void hook_recancel(struct __conc_waiter *w)
{
	struct conc_task *t = __conc_cur();

	(void)w;
	if (t)
		t->cancel = true;
}

static bool hook_ending(struct __conc_waiter *w)
{
	return ((struct loop *)((char *)w - offsetof(struct loop, waiter)))->ending;
}

void __conc_hook_init(struct loop *l)
{
	l->waiter.futex = hook_futex;
	l->waiter.poll = hook_poll;
	l->waiter.pidfd = hook_pidfd;
	l->waiter.idle = hook_idle;
	l->waiter.recancel = hook_recancel;
	l->waiter.ending = hook_ending;
}
