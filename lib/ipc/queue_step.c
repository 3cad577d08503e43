/*
 * The two-step get: begin copies the oldest message out and keeps the
 * consumers' lock, parked, across the caller's code; commit removes the
 * message, abort leaves it first in line. A getter killed in between
 * leaves the lock to the kernel, the message in the queue.
 *
 * The getter is an execution context, (tid, ctx): the kernel needs the
 * tid (the lock is robust), and two contexts of one thread are two
 * getters, the second waiting for the first's lock.
 */
#include <errno.h>
#include "ipc/queue_impl.h"
#include "sync/robust.h"	/* __conc_robust_entry */

static uint64_t me(void)
{
	struct __conc_self *s = __conc_self();

	return (uint64_t)__conc_ctx(s) << 32 | (uint32_t)s->tid;
}

/* Whether the caller is between get_begin and commit on qh: it is the
 * getter, and still holds the consumers' lock (by the test the mutex makes
 * of its owner: the word's tid, and the ctx in the thread's registry, or in
 * the mutex when the registry is full). A thread that ended in between
 * lost the lock (the kernel, or conc for a parked thread, marked it
 * owner-dead), but its identity may come back: a reused conc thread's next
 * job, or a new thread given the same tid. That one is another caller,
 * with nothing pending; the stale mark is dropped.
 * A peer that rewrote the word meanwhile took the lock away too, but the
 * getter's registry still names it, and so does its robust list: the
 * unlock takes it off (it says -EPERM and leaves the word alone). Else
 * nothing would: commit, abort and destroy all see nothing pending, and
 * the destroy unmaps what the list still links (the kernel writes there
 * at the thread's exit). */
bool __conc_q_mine(const conc_queue *qh)
{
	conc_mutex *m = &qh->q->c.lock;
	struct __conc_robust_ent *e;
	uint64_t id = me(), g = __atomic_load_n(&qh->getter, __ATOMIC_RELAXED);
	uint32_t w;

	if (g != id)
		return false;
	e = __conc_robust_entry(m);
	w = __atomic_load_n(&m->word, __ATOMIC_RELAXED);
	if ((w & FUTEX_TID_MASK) == (uint32_t)id &&
	    (e ? e->ctx : __atomic_load_n(&m->ctx, __ATOMIC_RELAXED)) ==
		    (uint32_t)(id >> 32))
		return true;
	if (e && e->ctx == (uint32_t)(id >> 32))
		conc_mutex_unlock(m);
	__atomic_compare_exchange_n(&((conc_queue *)qh)->getter, &g, 0, 0,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	return false;
}

ssize_t conc_queue_get_begin(conc_queue *qh, void *buf, size_t cap,
			     int64_t timeout_ns)
{
	ssize_t n = __conc_q_get_locked(qh, buf, cap, timeout_ns);

	if (n >= 0) {
		__conc_q_park(&qh->q->c, true);
		__atomic_store_n(&qh->getter, me(), __ATOMIC_RELAXED);
	}
	return n;
}

static int end(conc_queue *qh)
{
	if (!qh || !__conc_q_mine(qh))
		return -EINVAL;
	__atomic_store_n(&qh->getter, 0, __ATOMIC_RELAXED);
	__conc_q_park(&qh->q->c, false);
	return 0;
}

int conc_queue_get_commit(conc_queue *qh)
{
	int r = end(qh);

	if (!r)
		__conc_q_take(qh);
	return r;
}

int conc_queue_get_abort(conc_queue *qh)
{
	int r = end(qh);

	if (!r)
		__conc_q_unlock(&qh->q->c);
	return r;
}
