/*
 * seq: bumped by every signal and broadcast; waiters sleep on it.
 * waiters: how many may sleep, so a signal without waiters is one load.
 * mutex_off/mutex_pid: where the waiters' mutex lies relative to the
 * condition, and in which process that was measured. A broadcast can then
 * wake one waiter and requeue the rest onto the mutex's futex; they are let
 * in one by one as the mutex is unlocked, instead of all waking to fight
 * for it. Only a CONC_PRIVATE condition does that: in shared memory the
 * offset is whatever a peer wrote there, and following it would let any
 * peer steer a broadcast to an address of its choosing. A shared
 * condition's broadcast wakes everyone.
 *
 * The flag itself is in the condition, so a peer can forge it too, with
 * an offset and a pid: the broadcast must then never read through the
 * offset (nothing may be mapped there). The waiter therefore records, in
 * bit 0 of mutex_off, that the mutex's futex is a private one; a private
 * requeue only names the address, which the kernel does not touch. A forged
 * offset can only misplace this process's waiters, whom the peer keeps
 * from their wake-up anyway by forging CONC_PRIVATE: they wait until
 * their timeout.
 */
#include <errno.h>
#include <stddef.h>
#include <conc/cond.h>
#include "robust.h"

int conc_cond_init(conc_cond *c, unsigned flags)
{
	if (__CONC_BAD(c) || (flags & ~CONC_PRIVATE))
		return -EINVAL;
	*c = (conc_cond)CONC_COND_INIT;
	c->flags = flags;
	return 0;
}

#define OFF_PRIVATE 1	/* in mutex_off: the mutex's futex is private */

static void note_mutex(conc_cond *c, conc_mutex *m, pid_t pid)
{
	ptrdiff_t off = (char *)m - (char *)c;
	unsigned mf = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);

	if (off < INT32_MIN || off > INT32_MAX)
		off = 0;
	/* Robust mutexes always use shared futexes. */
	else if ((mf & (CONC_PRIVATE | CONC_ROBUST)) == CONC_PRIVATE)
		off |= OFF_PRIVATE;
	if (__atomic_load_n(&c->mutex_off, __ATOMIC_RELAXED) != (int32_t)off ||
	    __atomic_load_n(&c->mutex_pid, __ATOMIC_RELAXED) != pid) {
		__atomic_store_n(&c->mutex_off, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&c->mutex_pid, pid, __ATOMIC_RELAXED);
		__atomic_store_n(&c->mutex_off, (int32_t)off, __ATOMIC_RELEASE);
	}
}

int conc_cond_wait(conc_cond *c, conc_mutex *m, int64_t timeout_ns)
{
	struct __conc_self *self;
	conc_deadline dl;
	uint32_t seq;
	bool cancelled = false;
	int r, r2;

	if (__CONC_BAD(c) || __CONC_BAD(m))
		return -EINVAL;
	self = __conc_self();
	if (!__conc_mutex_owned(m, self) || m->count)
		return -EPERM;
	dl = timeout_ns == 0 ? 0 : __conc_deadline(timeout_ns);
	if (c->flags & CONC_PRIVATE)
		note_mutex(c, m, self->pid);
	__atomic_fetch_add(&c->waiters, 1, __ATOMIC_SEQ_CST);
	seq = __atomic_load_n(&c->seq, __ATOMIC_SEQ_CST);
	r = conc_mutex_unlock(m);
	/* A signal, a spurious wake-up or a re-check is not a notify: sleep
	 * on until seq moves or the deadline passes. */
	while (r == 0 && __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) == seq)
		r = dl == 0 ? -ETIMEDOUT : __conc_wait(&c->seq, seq, dl, c->flags);
	__atomic_fetch_sub(&c->waiters, 1, __ATOMIC_RELAXED);
	if (r == -ETIMEDOUT && __atomic_load_n(&c->seq, __ATOMIC_RELAXED) != seq)
		r = 0;
	/* m is the caller's again whatever happens, as the page says: a
	 * cancel that comes while it waits for m is the call's result once
	 * m is taken (asyncio's Condition.wait does the same). */
	while ((r2 = __conc_mutex_lock_queued(m, -1)) == -ECANCELED)
		cancelled = true;
	/* A timeout of 0 only looks and never returns -ECANCELED
	 * (conc_task_cancel(3)): a cancel its wait for m took (a thread took
	 * m in between) is given back, for the task's next wait. */
	if (cancelled && dl == 0) {
		__conc_wait_recancel();
		cancelled = false;
	}
	if (r2)
		return r2;
	return cancelled ? -ECANCELED : r;
}

int conc_cond_signal(conc_cond *c)
{
	if (__CONC_BAD(c))
		return -EINVAL;
	if (!__atomic_load_n(&c->waiters, __ATOMIC_SEQ_CST))
		return 0;
	__atomic_fetch_add(&c->seq, 1, __ATOMIC_SEQ_CST);
	__conc_wake(&c->seq, 1, c->flags);
	return 0;
}

/* Requeue needs both words hashed the same way: private, as the
 * condition's. The mutex is never read here (see the top), nor even taken
 * for one: a forged offset may name any multiple of 4, where no mutex
 * (aligned to 8) could start. Only the address of its word (the first)
 * goes to the kernel. */
static uint32_t *requeue_target(conc_cond *c, pid_t pid)
{
	int32_t off = __atomic_load_n(&c->mutex_off, __ATOMIC_ACQUIRE);

	if (!(c->flags & CONC_PRIVATE) || (off & 3) != OFF_PRIVATE ||
	    __atomic_load_n(&c->mutex_pid, __ATOMIC_RELAXED) != pid)
		return NULL;
	_Static_assert(offsetof(conc_mutex, word) == 0, "the word comes first");
	return (uint32_t *)((uintptr_t)c + (uintptr_t)(intptr_t)(off & ~3));
}

int conc_cond_broadcast(conc_cond *c)
{
	uint32_t seq, *mw;

	if (__CONC_BAD(c))
		return -EINVAL;
	if (!__atomic_load_n(&c->waiters, __ATOMIC_SEQ_CST))
		return 0;
	seq = __atomic_add_fetch(&c->seq, 1, __ATOMIC_SEQ_CST);
	mw = requeue_target(c, __conc_self()->pid);
	if (mw && __conc_requeue(&c->seq, 1, INT32_MAX, mw, seq,
				 c->flags) >= 0)
		return 0;
	__conc_wake(&c->seq, INT32_MAX, c->flags);
	return 0;
}
