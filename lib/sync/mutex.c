/*
 * Futex word: the owner's thread id in the low 30 bits (FUTEX_TID_MASK),
 * FUTEX_WAITERS when someone may sleep on it, FUTEX_OWNER_DIED when the
 * kernel found a robust owner dead. Keeping the tid lets any mutex refuse
 * an unlock by a non-owner, and is the format the kernel's robust-list
 * walk expects. Robust mutexes always use shared futexes, because the
 * kernel's wake-up at owner death is a shared one.
 */
#include <errno.h>
#include "robust.h"

#define M_USER		(CONC_PRIVATE | CONC_RECURSIVE | CONC_ROBUST)
#define M_INCONSISTENT	0x100u	/* locked with -EOWNERDEAD, not yet repaired */
#define M_UNRECOVERABLE	0x200u

int conc_mutex_init(conc_mutex *m, unsigned flags)
{
	if (__CONC_BAD(m) || (flags & ~M_USER))
		return -EINVAL;
	*m = (conc_mutex)CONC_MUTEX_INIT;
	m->flags = flags;
	return 0;
}

static unsigned futex_flags(unsigned f)
{
	return (f & CONC_ROBUST) ? 0 : f;
}

static int lock_slow(conc_mutex *m, int64_t timeout_ns, uint32_t sleepers)
{
	unsigned f = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
	pid_t tid = __conc_self()->tid;
	struct robust_list_head *h = NULL;
	conc_deadline dl = -1;
	uint32_t w, want;
	bool spun = false;
	int r;

	w = __atomic_load_n(&m->word, __ATOMIC_RELAXED);
	if ((w & FUTEX_TID_MASK) == (uint32_t)tid) {
		if (!(f & CONC_RECURSIVE))
			return -EDEADLK;
		if (m->count == UINT32_MAX)
			return -EAGAIN;
		m->count++;
		return 0;
	}
	if (f & CONC_ROBUST) {
		if (__atomic_load_n(&m->flags, __ATOMIC_ACQUIRE) & M_UNRECOVERABLE)
			return -ENOTRECOVERABLE;
		h = __conc_robust_head(__conc_self());
		if (!h)
			return -ENOTSUP;
		/* From here until the entry is linked, a death is still seen
		 * by the kernel through list_op_pending. */
		__conc_robust_pending(h, m);
	}
	if (timeout_ns > 0)
		dl = __conc_deadline(timeout_ns);
	for (;;) {
		w = __atomic_load_n(&m->word, __ATOMIC_RELAXED);
		if (!(w & FUTEX_TID_MASK)) {
			/* Free, perhaps with FUTEX_OWNER_DIED left by the
			 * kernel. A waiter that slept keeps FUTEX_WAITERS on:
			 * others may still sleep behind it. */
			want = (uint32_t)tid | (w & FUTEX_WAITERS) | sleepers;
			if (__atomic_compare_exchange_n(&m->word, &w, want, 0,
							__ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED))
				break;
			continue;
		}
		if (timeout_ns == 0) {
			r = -ETIMEDOUT;
			goto fail;
		}
		if (!spun) {
			spun = true;
			__conc_spin_while(&m->word, w);
			continue;
		}
		if (!(w & FUTEX_WAITERS) &&
		    !__atomic_compare_exchange_n(&m->word, &w, w | FUTEX_WAITERS,
						 0, __ATOMIC_RELAXED,
						 __ATOMIC_RELAXED))
			continue;
		r = __conc_wait(&m->word, w | FUTEX_WAITERS, dl, futex_flags(f));
		if (r == -ETIMEDOUT)
			goto fail;
		sleepers = FUTEX_WAITERS;
		if ((f & CONC_ROBUST) &&
		    (__atomic_load_n(&m->flags, __ATOMIC_ACQUIRE) & M_UNRECOVERABLE)) {
			r = -ENOTRECOVERABLE;
			goto fail;
		}
	}
	m->count = 0;
	if (!h)
		return 0;
	if (__atomic_load_n(&m->flags, __ATOMIC_ACQUIRE) & M_UNRECOVERABLE) {
		r = -ENOTRECOVERABLE;
		goto give_back;
	}
	__conc_robust_enqueue(h, m);
	__conc_robust_pending(h, NULL);
	if (w & FUTEX_OWNER_DIED) {
		__atomic_fetch_or(&m->flags, M_INCONSISTENT, __ATOMIC_RELAXED);
		return -EOWNERDEAD;
	}
	return 0;
give_back:
	/* Made unrecoverable while we were on our way in: the word is ours
	 * but the mutex is not; pass the news to every sleeper. */
	if (__atomic_exchange_n(&m->word, 0, __ATOMIC_RELEASE) & FUTEX_WAITERS)
		__conc_wake(&m->word, INT32_MAX, 0);
fail:
	if (h)
		__conc_robust_pending(h, NULL);
	return r;
}

/* Free robust mutex, list head known: one compare-and-swap, bracketed by
 * the list_op_pending stores the kernel needs if the thread dies here. */
static bool robust_fast_lock(conc_mutex *m, struct __conc_self *s)
{
	struct robust_list_head *h = s->robust;
	uint32_t zero = 0;

	if (!h)
		return false;
	__conc_robust_pending(h, m);
	if (!__atomic_compare_exchange_n(&m->word, &zero, (uint32_t)s->tid, 0,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		__conc_robust_pending(h, NULL);
		return false;
	}
	if (__atomic_load_n(&m->flags, __ATOMIC_ACQUIRE) & M_UNRECOVERABLE) {
		/* Lost a race with the unlock that made it unrecoverable. */
		if (__atomic_exchange_n(&m->word, 0, __ATOMIC_RELEASE) &
		    FUTEX_WAITERS)
			__conc_wake(&m->word, INT32_MAX, 0);
		__conc_robust_pending(h, NULL);
		return false;
	}
	m->count = 0;
	__conc_robust_enqueue(h, m);
	__conc_robust_pending(h, NULL);
	return true;
}

int conc_mutex_timedlock(conc_mutex *m, int64_t timeout_ns)
{
	struct __conc_self *s;
	uint32_t zero = 0;
	unsigned f;

	if (__CONC_BAD(m))
		return -EINVAL;
	f = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
	s = __conc_self();
	if (!(f & (CONC_RECURSIVE | CONC_ROBUST))) {
		if (__atomic_compare_exchange_n(&m->word, &zero, (uint32_t)s->tid,
						0, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return 0;
	} else if ((f & (CONC_ROBUST | M_UNRECOVERABLE)) == CONC_ROBUST &&
		   robust_fast_lock(m, s)) {
		return 0;
	}
	if (timeout_ns < 0)
		timeout_ns = CONC_FOREVER;
	return lock_slow(m, timeout_ns, 0);
}

/* Lock as a thread that slept: leave FUTEX_WAITERS set, for others may
 * sleep on the word without having set it (moved there by a requeue). */
int __conc_mutex_lock_queued(conc_mutex *m, int64_t timeout_ns)
{
	return lock_slow(m, timeout_ns, FUTEX_WAITERS);
}

int conc_mutex_lock(conc_mutex *m)
{
	return conc_mutex_timedlock(m, CONC_FOREVER);
}

int conc_mutex_trylock(conc_mutex *m)
{
	int r = conc_mutex_timedlock(m, 0);

	return r == -ETIMEDOUT || r == -EDEADLK ? -EBUSY : r;
}

static int unlock_slow(conc_mutex *m)
{
	unsigned f = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
	pid_t tid = __conc_self()->tid;
	struct robust_list_head *h = NULL;
	uint32_t old;
	int wake = 1;

	old = __atomic_load_n(&m->word, __ATOMIC_RELAXED);
	if ((old & FUTEX_TID_MASK) != (uint32_t)tid)
		return -EPERM;
	if (m->count) {
		m->count--;
		return 0;
	}
	if (f & CONC_ROBUST) {
		if (f & M_INCONSISTENT) {
			/* Unlocked without conc_mutex_consistent(): nobody may
			 * trust the data again; let every waiter find out. */
			__atomic_fetch_or(&m->flags, M_UNRECOVERABLE, __ATOMIC_RELEASE);
			__atomic_fetch_and(&m->flags, ~M_INCONSISTENT, __ATOMIC_RELAXED);
			wake = INT32_MAX;
		}
		h = __conc_robust_head(__conc_self());
		__conc_robust_pending(h, m);
		__conc_robust_dequeue(m);
	}
	old = __atomic_exchange_n(&m->word, 0, __ATOMIC_RELEASE);
	if (old & FUTEX_WAITERS)
		__conc_wake(&m->word, wake, futex_flags(f));
	/* Only now: a death before the wake leaves a free word that the
	 * kernel finds through list_op_pending, and it wakes a waiter. */
	if (h)
		__conc_robust_pending(h, NULL);
	return 0;
}

int conc_mutex_unlock(conc_mutex *m)
{
	struct __conc_self *s;
	struct robust_list_head *h;
	uint32_t tid;
	unsigned f;

	if (__CONC_BAD(m))
		return -EINVAL;
	f = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
	s = __conc_self();
	tid = (uint32_t)s->tid;
	/* Nobody waiting: one compare-and-swap that also proves the caller
	 * is the owner. */
	if (!(f & (CONC_RECURSIVE | CONC_ROBUST)))
		return __atomic_compare_exchange_n(&m->word, &tid, 0, 0,
						   __ATOMIC_RELEASE,
						   __ATOMIC_RELAXED) ? 0
								     : unlock_slow(m);
	h = s->robust;
	if ((f & (CONC_ROBUST | M_INCONSISTENT)) != CONC_ROBUST || !h ||
	    m->count ||
	    __atomic_load_n(&m->word, __ATOMIC_RELAXED) != tid)
		return unlock_slow(m);
	__conc_robust_pending(h, m);
	__conc_robust_dequeue(m);
	if (__atomic_compare_exchange_n(&m->word, &tid, 0, 0, __ATOMIC_RELEASE,
					__ATOMIC_RELAXED)) {
		__conc_robust_pending(h, NULL);
		return 0;
	}
	/* A waiter came between the look and the swap. */
	tid = __atomic_exchange_n(&m->word, 0, __ATOMIC_RELEASE);
	if (tid & FUTEX_WAITERS)
		__conc_wake(&m->word, 1, 0);
	__conc_robust_pending(h, NULL);
	return 0;
}

int conc_mutex_consistent(conc_mutex *m)
{
	unsigned f;

	if (__CONC_BAD(m))
		return -EINVAL;
	f = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
	if (!(f & CONC_ROBUST))
		return -EINVAL;
	if ((__atomic_load_n(&m->word, __ATOMIC_RELAXED) & FUTEX_TID_MASK) !=
	    (uint32_t)__conc_self()->tid)
		return -EPERM;
	if (!(f & M_INCONSISTENT))
		return -EINVAL;
	__atomic_fetch_and(&m->flags, ~M_INCONSISTENT, __ATOMIC_RELAXED);
	return 0;
}
