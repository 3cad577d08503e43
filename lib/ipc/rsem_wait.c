/* Taking a permit of a robust semaphore (rsem_impl.h). */
#include <errno.h>
#include <limits.h>
#include <time.h>
#include "ipc/rsem_impl.h"

#define TRY_LOCK_NS 10000000LL	/* trywait: another taker's scan, at most */

/* The table lock by dl (0: trywait's short bound; past: only try). A
 * taker that died holding it left nothing half done (rsem_impl.h). The
 * deadline goes down as it is (a timedlock would take it back to a
 * timeout and convert it again); and the lock is the library's own,
 * never recursive: a word that names the caller is a peer's forgery. */
static int lock_table(conc_rsem *s, conc_deadline dl)
{
	conc_mutex *m = &s->sh->lock;
	bool cancelled = false;
	conc_deadline end;
	int r = __conc_mutex_lock_until(m, 0);

	if (r == -ETIMEDOUT) {
		end = dl == 0 ? __conc_deadline(TRY_LOCK_NS) : dl;
		for (;;) {
			r = __conc_mutex_lock_until(m, __conc_expired(end) ? 0 : end);
			/* A try (dl 0) only looks and never returns -ECANCELED
			 * (conc_task_cancel(3)): the cancel its wait took goes
			 * back to the task's next wait, and it waits on. */
			if (r != -ECANCELED || dl != 0)
				break;
			cancelled = true;
		}
		if (cancelled)
			__conc_wait_recancel();
	}
	/* Refused only if a peer took the word meanwhile: not ours then,
	 * but on our robust list until the unlock. */
	if (r == -EOWNERDEAD && (r = conc_mutex_consistent(m)))
		conc_mutex_unlock(m);
	return r;
}

/* A free slot, the table lock held: nobody else touches it, so it is set
 * up afresh, filled in, and then locked; the lock is the commit. */
static int claim(conc_rsem *s, uint32_t i, const struct __conc_self *me)
{
	struct rsem_slot *sl = &s->sh->slots[i];
	int r;

	conc_mutex_init(&sl->m, CONC_ROBUST);
	sl->count = 1;
	sl->pid = me->pid;
	sl->since = sys_clock_ns(CLOCK_REALTIME);
	r = conc_mutex_trylock(&sl->m);
	/* A peer marked the word dead after the set-up: the lock is ours
	 * all the same (and on the robust list), so it is recorded as the
	 * others are, or its post could never find it again. */
	if (r == -EOWNERDEAD && (r = conc_mutex_consistent(&sl->m))) {
		conc_mutex_unlock(&sl->m);
		return -EAGAIN;
	}
	if (!r) {
		__atomic_store_n(&s->own[i].ctx, __conc_ctx(me), __ATOMIC_RELAXED);
		__atomic_store_n(&s->own[i].count, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&s->own[i].tid, (uint32_t)me->tid, __ATOMIC_RELAXED);
		__atomic_store_n(&s->hint, i, __ATOMIC_RELAXED);
	}
	return r == -EBUSY ? -EAGAIN : r;	/* -EBUSY: a peer wrote the word */
}

/* One more permit for a context that holds some: counted from what it
 * took, not from the slot (a peer may have written that). */
static int bump(conc_rsem *s, uint32_t i)
{
	uint32_t c = __atomic_load_n(&s->own[i].count, __ATOMIC_RELAXED);

	if (c >= CONC_RSEM_PERMITS_MAX)
		return -EAGAIN;
	__atomic_store_n(&s->own[i].count, c + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->sh->slots[i].count, c + 1, __ATOMIC_RELAXED);
	return 0;
}

/* One try, dl bounding the wait for the table lock: 0 or -EOWNERDEAD
 * (taken), -EAGAIN (none free), or an error. */
static int attempt(conc_rsem *s, const struct __conc_self *me, conc_deadline dl)
{
	struct rsem_shared *sh = s->sh;
	uint32_t permits = __conc_rsem_permits(s), back, suspects = 0;
	struct rsem_look l;
	int r;

	/* Without the lock first: a full table is the common reason to
	 * sleep, and needs no lock to be seen. */
	__conc_rsem_look(s, me, &l);
	if (!l.dead && l.held >= permits && !(suspects = __conc_rsem_probe(s, false)))
		return -EAGAIN;
	if ((r = lock_table(s, dl)))
		return r;
	if (suspects)
		__conc_rsem_probe(s, true);
	back = __conc_rsem_reclaim(s);
	if (back)
		__atomic_fetch_add(&sh->died, back, __ATOMIC_RELAXED);
	__conc_rsem_look(s, me, &l);
	if (l.held >= permits)
		r = -EAGAIN;
	else if (l.mine >= 0)
		r = bump(s, (uint32_t)l.mine);
	else if (l.free >= 0)
		r = claim(s, (uint32_t)l.free, me);
	else
		r = -EUSERS;
	if (!r && __atomic_exchange_n(&sh->died, 0, __ATOMIC_RELAXED))
		r = -EOWNERDEAD;
	conc_mutex_unlock(&sh->lock);
	if (back)
		__conc_rsem_ring(s, INT_MAX);	/* what came back is for all */
	return r;
}

static int take(conc_rsem *s, int64_t timeout_ns)
{
	const struct __conc_self *me = __conc_self();
	uint32_t *seq = &s->sh->seq, *waiters = &s->sh->waiters, seen;
	conc_deadline dl;
	bool slept = false;
	int r, w = 0;

	if (timeout_ns == 0)
		return attempt(s, me, 0);
	dl = __conc_deadline(timeout_ns);
	/* seq_cst raise, then seq_cst read of seq: pairs with ring(). */
	__atomic_fetch_add(waiters, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		seen = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
		r = attempt(s, me, dl);
		if (r != -EAGAIN || w < 0)
			break;
		w = __conc_wait(seq, seen, dl, 0);
		slept = true;
		if (w < 0 && w != -ETIMEDOUT)
			break;	/* -ECANCELED: final, no further wait */
	}
	__atomic_fetch_sub(waiters, 1, __ATOMIC_RELAXED);
	if (r == -EAGAIN)
		r = w < 0 ? w : -ETIMEDOUT;
	/* Leaving empty-handed, perhaps with a wake-up meant for a permit
	 * that is still free: pass it on. */
	if (slept && r < 0 && r != -EOWNERDEAD && conc_rsem_value(s) > 0)
		__conc_rsem_ring(s, 1);
	return r;
}

int conc_rsem_timedwait(conc_rsem *s, int64_t timeout_ns)
{
	int r;

	if (!s)
		return -EINVAL;
	r = take(s, timeout_ns);
	return r == -EAGAIN ? -ETIMEDOUT : r;
}

int conc_rsem_wait(conc_rsem *s)
{
	return conc_rsem_timedwait(s, CONC_FOREVER);
}

int conc_rsem_trywait(conc_rsem *s)
{
	int r;

	if (!s)
		return -EINVAL;
	r = take(s, 0);
	return r == -ETIMEDOUT ? -EAGAIN : r;
}
