/*
 * Futex word: the owner's thread id in the low 30 bits (FUTEX_TID_MASK),
 * FUTEX_WAITERS when someone may sleep on it, FUTEX_OWNER_DIED when the
 * kernel found a robust owner dead. The tid is the format the kernel's
 * robust-list walk expects; ctx tells the contexts of that thread apart
 * (wait/wait.h), so the owner is (tid, ctx). Robust mutexes always use
 * shared futexes, because the kernel's wake-up at owner death is a shared one.
 *
 * Wake-ups are never lost with a waiter that dies: an unlock that finds
 * FUTEX_WAITERS leaves it set in the free word, so whoever locks next (even
 * the old owner, at once) takes the slow path and keeps the bit, and its
 * unlock wakes the next sleeper although the one woken before died without
 * running. The bit is dropped only when a wake-up finds nobody asleep. What
 * is left (the lock stays free and nobody comes) is covered by the wait
 * point's periodic re-check of shared words.
 *
 * list_op_pending is set only between steps that never wait, so that no
 * other context of the thread can run (and set it) in between.
 */
#define CONC_NO_INLINE	/* this file defines what the header inlines */
#include <errno.h>
#include "robust.h"

#define M_USER		(CONC_PRIVATE | CONC_RECURSIVE | CONC_ROBUST)
#define M_INCONSISTENT	0x100u	/* locked with -EOWNERDEAD, not yet repaired */
#define M_UNRECOVERABLE	0x200u
#define LOCK_OWN	1u	/* lock_slow: one of the library's own locks */

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

static bool unrecoverable(conc_mutex *m)
{
	return __atomic_load_n(&m->flags, __ATOMIC_ACQUIRE) & M_UNRECOVERABLE;
}

/* Hand a word that became ours by mistake back, waking every sleeper. */
static void give_back(conc_mutex *m)
{
	if (__atomic_exchange_n(&m->word, 0, __ATOMIC_RELEASE) & FUTEX_WAITERS)
		__conc_wake(&m->word, INT32_MAX, 0);
}

/* The word is ours: finish a robust lock. */
static int robust_taken(conc_mutex *m, struct robust_list_head *h, uint32_t w)
{
	if (unrecoverable(m)) {
		/* Made unrecoverable while we were on our way in: the word is
		 * ours but the mutex is not; pass the news to every sleeper. */
		give_back(m);
		__conc_robust_pending(h, NULL);
		return -ENOTRECOVERABLE;
	}
	__conc_robust_enqueue(h, m, m->ctx);
	__conc_robust_pending(h, NULL);
	if (w & FUTEX_OWNER_DIED) {
		struct __conc_robust_ent *e = __conc_robust_entry(m);

		if (e)
			e->inconsistent = true;
		__atomic_fetch_or(&m->flags, M_INCONSISTENT, __ATOMIC_RELAXED);
		return -EOWNERDEAD;
	}
	return 0;
}

/* dl: 0 only tries, < 0 waits forever. sleepers: FUTEX_WAITERS to keep the
 * bit on when taking the word (a waiter moved here by a requeue); LOCK_OWN
 * for a lock of the library's own, never recursive whatever its flags say
 * (see __conc_mutex_lock_until). */
static int lock_slow(conc_mutex *m, conc_deadline dl, uint32_t sleepers)
{
	unsigned f = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
	struct __conc_self *s = __conc_self();
	uint32_t tid = (uint32_t)s->tid, ctx = __conc_ctx(s);
	struct robust_list_head *h = NULL;
	struct __conc_robust_ent *e;
	uint32_t w, want;
	bool spun = false;
	int r;

	e = s->robust_held ? __conc_robust_entry(m) : NULL;
	w = __atomic_load_n(&m->word, __ATOMIC_RELAXED);
	if ((w & FUTEX_TID_MASK) == tid && (e ? e->ctx : m->ctx) == ctx) {
		if (!(f & CONC_RECURSIVE) || (sleepers & LOCK_OWN))
			return -EDEADLK;
		if ((e ? e->depth : m->count) == UINT32_MAX)
			return -EAGAIN;
		m->count = e ? ++e->depth : m->count + 1;
		return 0;
	}
	if (f & CONC_ROBUST) {
		if (unrecoverable(m))
			return -ENOTRECOVERABLE;
		h = __conc_robust_head(s);
		if (!h)
			return -ENOTSUP;
	}
	for (;;) {
		w = __atomic_load_n(&m->word, __ATOMIC_RELAXED);
		if (!(w & FUTEX_TID_MASK)) {
			/* Free, perhaps with FUTEX_OWNER_DIED left by the
			 * kernel, perhaps with FUTEX_WAITERS left by an
			 * unlock: keep that one, others may sleep. */
			want = tid | (w & FUTEX_WAITERS) |
			       (sleepers & FUTEX_WAITERS);
			/* From here until the entry is linked, a death is
			 * seen by the kernel through list_op_pending. */
			if (h)
				__conc_robust_pending(h, m);
			if (__atomic_compare_exchange_n(&m->word, &w, want, 0,
							__ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED))
				break;
			if (h)
				__conc_robust_pending(h, NULL);
			continue;
		}
		if (dl == 0)
			return -ETIMEDOUT;
		/* Spinning for another context of this very thread would
		 * only keep it from running. */
		if (!spun && (w & FUTEX_TID_MASK) != tid) {
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
		if (r < 0)
			return r;	/* -ETIMEDOUT, -ECANCELED */
		if (h && unrecoverable(m))
			return -ENOTRECOVERABLE;
	}
	m->count = 0;
	m->ctx = ctx;
	return h ? robust_taken(m, h, w) : 0;
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
	if (unrecoverable(m)) {
		/* Lost a race with the unlock that made it unrecoverable. */
		give_back(m);
		__conc_robust_pending(h, NULL);
		return false;
	}
	m->count = 0;
	m->ctx = __conc_ctx(s);
	__conc_robust_enqueue(h, m, m->ctx);
	__conc_robust_pending(h, NULL);
	return true;
}

/*
 * The fast paths of a plain mutex: no call, no saved register, nothing but
 * the loads that prove the cached thread id is this thread's, and one
 * compare-and-swap. Anything else takes the general path.
 */
static inline bool plain(const conc_mutex *m)
{
	return !__CONC_BAD(m) &&
	       !(__atomic_load_n(&m->flags, __ATOMIC_RELAXED) &
		 (CONC_RECURSIVE | CONC_ROBUST));
}

/* An uncontended lock without the slow path: a free plain word, or a robust
 * one through the registry. */
static inline bool fast_lock(conc_mutex *m, struct __conc_self *s)
{
	unsigned f = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
	uint32_t zero = 0;

	if (!(f & (CONC_RECURSIVE | CONC_ROBUST))) {
		if (!__atomic_compare_exchange_n(&m->word, &zero, (uint32_t)s->tid,
						 0, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			return false;
		m->ctx = __conc_ctx(s);
		return true;
	}
	return (f & (CONC_ROBUST | M_UNRECOVERABLE)) == CONC_ROBUST &&
	       robust_fast_lock(m, s);
}

__attribute__((noinline)) int conc_mutex_timedlock(conc_mutex *m, int64_t timeout_ns)
{
	if (__CONC_BAD(m))
		return -EINVAL;
	if (fast_lock(m, __conc_self()))
		return 0;
	return lock_slow(m, timeout_ns == 0 ? 0 : __conc_deadline(timeout_ns), 0);
}

/* For the library's own locks in shared memory (a queue's sides, an
 * arena's), with a deadline already (0: only try, < 0: none). They are
 * created plain or robust, never recursive: one that names the caller as
 * its owner is a peer's forgery, -EDEADLK, even with CONC_RECURSIVE forged
 * beside it (the call would otherwise go on as if it held the lock, or
 * fail with the -EAGAIN of a count a peer set to its maximum). */
int __conc_mutex_lock_until(conc_mutex *m, conc_deadline dl)
{
	if (fast_lock(m, __conc_self()))
		return 0;
	return lock_slow(m, dl, LOCK_OWN);
}

/* Lock as a context that slept: leave FUTEX_WAITERS set, for others may
 * sleep on the word without having set it (moved there by a requeue). */
int __conc_mutex_lock_queued(conc_mutex *m, conc_deadline dl)
{
	return lock_slow(m, dl, FUTEX_WAITERS);
}

int conc_mutex_lock(conc_mutex *m)
{
	struct __conc_self *s;
	uint32_t zero = 0;

	if (__builtin_expect(plain(m) && (s = __conc_self_cached()) &&
			     __atomic_compare_exchange_n(&m->word, &zero,
							 (uint32_t)s->tid, 0,
							 __ATOMIC_ACQUIRE,
							 __ATOMIC_RELAXED), 1)) {
		/* Mostly it is the same context again: no store, which the
		 * unlock's compare-and-swap would wait for. */
		if (__builtin_expect(m->ctx != __conc_ctx(s), 0))
			m->ctx = __conc_ctx(s);
		return 0;
	}
	return conc_mutex_timedlock(m, CONC_FOREVER);
}

int conc_mutex_trylock(conc_mutex *m)
{
	int r = conc_mutex_timedlock(m, 0);

	return r == -ETIMEDOUT || r == -EDEADLK ? -EBUSY : r;
}

bool __conc_mutex_owned(const conc_mutex *m, const struct __conc_self *s)
{
	struct __conc_robust_ent *e = s->robust_held ? __conc_robust_entry(m)
						     : NULL;

	return (__atomic_load_n(&m->word, __ATOMIC_RELAXED) & FUTEX_TID_MASK) ==
	       (uint32_t)s->tid && (e ? e->ctx : m->ctx) == __conc_ctx(s);
}

/* Free the word. Sleepers keep FUTEX_WAITERS (see the top); it goes only
 * when a wake-up finds nobody asleep. */
static void release(conc_mutex *m, int wake, unsigned f)
{
	uint32_t old = __atomic_load_n(&m->word, __ATOMIC_RELAXED), w;

	do
		w = (old & FUTEX_WAITERS) && wake == 1 ? FUTEX_WAITERS : 0;
	while (!__atomic_compare_exchange_n(&m->word, &old, w, 0,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	if ((old & FUTEX_WAITERS) &&
	    __conc_wake(&m->word, wake, futex_flags(f)) == 0 && w) {
		w = FUTEX_WAITERS;
		__atomic_compare_exchange_n(&m->word, &w, 0, 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
}

static int unlock_slow(conc_mutex *m)
{
	unsigned f = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
	struct __conc_self *s = __conc_self();
	struct robust_list_head *h = NULL;
	struct __conc_robust_ent *e;
	int wake = 1;

	e = s->robust_held ? __conc_robust_entry(m) : NULL;
	if (e) {
		/* Linked by this thread: the registry says who and how deep,
		 * and it is unlinked whatever the flags say now. */
		if (e->ctx != __conc_ctx(s))
			return -EPERM;	/* another context of this thread */
		if ((__atomic_load_n(&m->word, __ATOMIC_RELAXED) &
		     FUTEX_TID_MASK) != (uint32_t)s->tid) {
			/* A peer wrote the word: not ours to release, and not
			 * ours to keep linked either. */
			__conc_robust_dequeue(s->robust, m);
			return -EPERM;
		}
		if (e->depth) {
			m->count = --e->depth;
			return 0;
		}
		f |= CONC_ROBUST | (e->inconsistent ? M_INCONSISTENT : 0);
	} else {
		if (!__conc_mutex_owned(m, s))
			return -EPERM;
		if (m->count) {
			m->count--;
			return 0;
		}
	}
	if (f & CONC_ROBUST) {
		if (f & M_INCONSISTENT) {
			/* Unlocked without conc_mutex_consistent(): nobody may
			 * trust the data again; let every waiter find out. */
			__atomic_fetch_or(&m->flags, M_UNRECOVERABLE, __ATOMIC_RELEASE);
			__atomic_fetch_and(&m->flags, ~M_INCONSISTENT, __ATOMIC_RELAXED);
			wake = INT32_MAX;
		}
		h = __conc_robust_head(s);
		__conc_robust_pending(h, m);
		__conc_robust_dequeue(h, m);
	}
	release(m, wake, f);
	/* Only now: a death before the wake leaves a word that the kernel
	 * finds through list_op_pending. */
	if (h)
		__conc_robust_pending(h, NULL);
	return 0;
}

/* A mutex the flags call plain and the registry does not know: nobody
 * waiting, one compare-and-swap that also proves the caller's thread is
 * the owner. */
static int unlock_plain(conc_mutex *m, struct __conc_self *s, unsigned f)
{
	uint32_t tid = (uint32_t)s->tid;

	if (!(f & (CONC_RECURSIVE | CONC_ROBUST)) && m->ctx == __conc_ctx(s) &&
	    __atomic_compare_exchange_n(&m->word, &tid, 0, 0, __ATOMIC_RELEASE,
					__ATOMIC_RELAXED))
		return 0;
	return unlock_slow(m);
}

static __attribute__((noinline)) int unlock_general(conc_mutex *m)
{
	struct __conc_self *s;
	struct robust_list_head *h;
	struct __conc_robust_ent *e = NULL;
	uint32_t tid;
	unsigned f;

	if (__CONC_BAD(m))
		return -EINVAL;
	f = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
	s = __conc_self();
	tid = (uint32_t)s->tid;
	if (s->robust_held) {
		e = __conc_robust_entry(m);
		if (!e)
			return (f & CONC_ROBUST) ? unlock_slow(m)
						 : unlock_plain(m, s, f);
		if (e->ctx != __conc_ctx(s) || e->depth || e->inconsistent)
			return unlock_slow(m);
		f = (f & ~CONC_RECURSIVE) | CONC_ROBUST;
	} else if (m->ctx != __conc_ctx(s)) {
		return unlock_slow(m);
	}
	if (!e && !(f & (CONC_RECURSIVE | CONC_ROBUST)))
		return unlock_plain(m, s, f);
	h = s->robust;
	if ((f & (CONC_ROBUST | M_INCONSISTENT)) != CONC_ROBUST || !h ||
	    (!e && m->count) ||
	    __atomic_load_n(&m->word, __ATOMIC_RELAXED) != tid)
		return unlock_slow(m);
	__conc_robust_pending(h, m);
	__conc_robust_dequeue(h, m);
	if (!__atomic_compare_exchange_n(&m->word, &tid, 0, 0, __ATOMIC_RELEASE,
					 __ATOMIC_RELAXED))
		release(m, 1, f);	/* a waiter came between look and swap */
	__conc_robust_pending(h, NULL);
	return 0;
}

int conc_mutex_unlock(conc_mutex *m)
{
	struct __conc_self *s;
	uint32_t tid;

	if (__builtin_expect(plain(m) && (s = __conc_self_cached()) &&
			     m->ctx == __conc_ctx(s) && !s->robust_held, 1)) {
		tid = (uint32_t)s->tid;
		if (__atomic_compare_exchange_n(&m->word, &tid, 0, 0,
						__ATOMIC_RELEASE,
						__ATOMIC_RELAXED))
			return 0;
	}
	return unlock_general(m);
}

int conc_mutex_consistent(conc_mutex *m)
{
	struct __conc_self *s;
	struct __conc_robust_ent *e;
	unsigned f;

	if (__CONC_BAD(m))
		return -EINVAL;
	s = __conc_self();
	e = s->robust_held ? __conc_robust_entry(m) : NULL;
	if (e && e->inconsistent) {
		/* Our own record of the -EOWNERDEAD: flags a peer cleared
		 * meanwhile do not refuse the repair. */
		if (!__conc_mutex_owned(m, s))
			return -EPERM;
		e->inconsistent = false;
		__atomic_fetch_and(&m->flags, ~M_INCONSISTENT, __ATOMIC_RELAXED);
		return 0;
	}
	f = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
	if (!(f & CONC_ROBUST))
		return -EINVAL;
	if (!__conc_mutex_owned(m, __conc_self()))
		return -EPERM;
	if (!(f & M_INCONSISTENT))
		return -EINVAL;
	__atomic_fetch_and(&m->flags, ~M_INCONSISTENT, __ATOMIC_RELAXED);
	return 0;
}
