/*
 * A side's lock (producers' or consumers'). Its holder may keep it across
 * a wait: while it sleeps for room or a message (queue_sleep.c) or between
 * get_begin and commit (queue_step.c). It says so in `parked`, so that a
 * call with timeout 0, which waits for others' copies, does not wait for
 * that.
 *
 * The lock is robust: a holder's death hands it to the next caller. Its
 * owner is an execution context (tid, ctx), so a second context of the
 * holder's thread (a coroutine) waits for it like any other caller.
 */
#include <errno.h>
#include "ipc/queue_impl.h"
#include "sync/robust.h"	/* __conc_mutex_lock_until */

#define SLICE_NS	1000000		/* a patient caller's look */
#define PATIENCE_NS	1000000000	/* the longest wait for a copy */

/* Wait for a holder that copies a message, not for one that is parked,
 * nor longer than any copy takes (a holder that never lets go is a corrupt
 * or hostile segment), nor past a deadline (> 0) that has one. */
static int lock_patiently(struct side *s, conc_deadline dl)
{
	conc_deadline end = __conc_deadline(PATIENCE_NS);
	bool cancelled = false;
	int64_t now;
	int r;

	if (dl > 0 && dl < end)
		end = dl;
	do {
		if (__atomic_load_n(&s->parked, __ATOMIC_SEQ_CST)) {
			r = -ETIMEDOUT;
			break;
		}
		now = sys_now_ns();
		if (now >= end) {
			r = -ETIMEDOUT;
			break;
		}
		r = __conc_mutex_lock_until(&s->lock, end - now < SLICE_NS
						      ? end : now + SLICE_NS);
		/* A call with timeout 0 only looks and never returns
		 * -ECANCELED (conc_task_cancel(3)): the cancel its wait took
		 * goes back to the task's next wait, and it waits on. */
		if (r == -ECANCELED && dl == DL_TRY) {
			cancelled = true;
			r = -ETIMEDOUT;
		}
	} while (r == -ETIMEDOUT);
	if (cancelled)
		__conc_wait_recancel();
	return r;
}

static int lock_until(struct side *s, conc_deadline dl, bool patient)
{
	if (patient || dl == DL_TRY)
		return lock_patiently(s, dl);
	return __conc_mutex_lock_until(&s->lock, dl);
}

int __conc_q_lock(const conc_queue *qh, struct side *s, conc_deadline dl,
		  bool patient)
{
	int r;

	r = __conc_mutex_lock_until(&s->lock, DL_TRY);
	if (r == -ETIMEDOUT)
		r = lock_until(s, dl, patient);
	if (r == -EOWNERDEAD) {
		/* A dead holder cannot have left a half-done change: commits
		 * are single stores. Only the producers' count may lag. */
		if (s == &qh->q->p)
			__conc_q_repair_tail(qh);
		/* Refused only if a peer took the word meanwhile: not ours
		 * then, but on our robust list until the unlock. */
		if ((r = conc_mutex_consistent(&s->lock)))
			conc_mutex_unlock(&s->lock);
	}
	if (r)
		return r;
	/* A holder that died parked left its mark. */
	if (__atomic_load_n(&s->parked, __ATOMIC_RELAXED))
		__atomic_store_n(&s->parked, 0, __ATOMIC_RELAXED);
	return 0;
}

void __conc_q_unlock(struct side *s)
{
	conc_mutex_unlock(&s->lock);
}

/* seq_cst: a consumer that finds the queue closed and looks at the
 * producers' mark (__conc_q_drain_puts) must see either the mark or, after
 * the producer clears it, the producer must see the close. */
void __conc_q_park(struct side *s, bool on)
{
	__atomic_store_n(&s->parked, on, __ATOMIC_SEQ_CST);
}

/*
 * A consumer found the queue closed and the next slot empty. A put that
 * looked at `closed` before the close may still be about to commit: wait
 * for the producers' lock, whose holder is then either done or will see
 * the close. A parked producer looks at `closed` again when it wakes.
 * Returns 0 when no put is under way any more (the lock was free, its
 * holder is parked, or it is unusable: nothing can commit then), else
 * -ETIMEDOUT (a producer still copies, at dl, or after a second for one
 * without a deadline: the caller waits on) or -ECANCELED: the get must not
 * say -EPIPE then, since the put will return 0 and its message come after.
 */
int __conc_q_drain_puts(const conc_queue *qh, conc_deadline dl)
{
	struct side *p = &qh->q->p;
	int r = __conc_q_lock(qh, p, dl, true);

	if (!r)
		__conc_q_unlock(p);
	else if (r == -ETIMEDOUT &&
		 __atomic_load_n(&p->parked, __ATOMIC_SEQ_CST))
		r = 0;
	return r == -ETIMEDOUT || r == -ECANCELED ? r : 0;
}
