/* conc/mutex.h — futex mutex: plain, recursive, robust; threads or processes. */
#ifndef CONC_MUTEX_H
#define CONC_MUTEX_H

#include <stdint.h>
#include <conc/base.h>

/*
 * A mutex. All zeroes is a valid, unlocked, non-recursive, non-robust mutex
 * usable between processes when it lives in shared memory.
 * The owner is an execution context: a thread, or one coroutine of a thread
 * that runs a loop. Its thread id is kept in the futex word (the kernel's
 * robust-futex protocol needs it) and which context of that thread in ctx,
 * so unlock by any other context fails with -EPERM, and a second context of
 * the owning thread waits for the mutex like any other would. The two pointers form the node of
 * the kernel's robust list (set_robust_list(2)) while a robust mutex is held;
 * they are meaningful only to the owning thread. Do not touch the fields.
 */
typedef struct conc_mutex {
	uint32_t word;
	uint32_t flags;
	uint32_t count;
	uint32_t ctx;
	uint32_t reserved[2];
	void *robust_prev;
	void *robust_next;
} conc_mutex;

#define CONC_MUTEX_INIT { 0, 0, 0, 0, { 0, 0 }, 0, 0 }

/*
 * Initialise m as unlocked with flags (CONC_PRIVATE, CONC_RECURSIVE,
 * CONC_ROBUST, or 0). Must not be called on a mutex in use.
 * Returns 0, or -EINVAL for NULL or unknown flags.
 */
int conc_mutex_init(conc_mutex *m, unsigned flags);

/*
 * Lock m, waiting as long as it takes. Returns 0; for a robust mutex
 * -EOWNERDEAD (the caller now owns it; the previous owner died holding it:
 * repair the data, then call conc_mutex_consistent()) or -ENOTRECOVERABLE;
 * -EDEADLK if the caller already owns a non-recursive mutex; -EAGAIN if a
 * recursive mutex's count would overflow; -EINVAL for NULL.
 */
int conc_mutex_lock(conc_mutex *m);

/* As conc_mutex_lock(), but never waits: -EBUSY if another thread owns m
 * (and, for a non-recursive mutex, if the caller does). */
int conc_mutex_trylock(conc_mutex *m);

/* As conc_mutex_lock(), giving up with -ETIMEDOUT after timeout_ns
 * (CONC_FOREVER waits forever, 0 only tries). */
int conc_mutex_timedlock(conc_mutex *m, int64_t timeout_ns);

/*
 * Unlock m. Returns 0, or -EPERM if the caller does not own it (any kind of
 * mutex). A robust mutex locked with -EOWNERDEAD and not made consistent
 * becomes permanently unusable (-ENOTRECOVERABLE for every later lock).
 */
int conc_mutex_unlock(conc_mutex *m);

/* Mark a robust mutex, locked by the caller with -EOWNERDEAD, as repaired.
 * Returns 0, -EINVAL if m is not robust or not in that state, -EPERM if the
 * caller does not own it. */
int conc_mutex_consistent(conc_mutex *m);

#ifndef CONC_NO_INLINE
#include <conc/inline.h>

/*
 * The uncontended paths of a plain mutex, inlined: a few loads and one
 * compare-and-swap, no call. Everything else (recursive, robust, taken,
 * bad input, a thread the library has not seen yet) calls the library.
 */
static inline int __conc_mutex_lock_inline(conc_mutex *m)
{
	struct __conc_self *s;
	uint32_t zero = 0;

	if (__builtin_expect(m && !((uintptr_t)m & 3) &&
			     !(__atomic_load_n(&m->flags, __ATOMIC_RELAXED) &
			       (CONC_RECURSIVE | CONC_ROBUST)) &&
			     (s = __conc_self_cached()) &&
			     __atomic_compare_exchange_n(&m->word, &zero,
							 (uint32_t)s->tid, 0,
							 __ATOMIC_ACQUIRE,
							 __ATOMIC_RELAXED), 1)) {
		if (__builtin_expect(m->ctx != s->ctx, 0))
			m->ctx = s->ctx;
		return 0;
	}
	return conc_mutex_lock(m);
}

static inline int __conc_mutex_unlock_inline(conc_mutex *m)
{
	struct __conc_self *s;
	uint32_t tid;

	if (__builtin_expect(m && !((uintptr_t)m & 3) &&
			     !(__atomic_load_n(&m->flags, __ATOMIC_RELAXED) &
			       (CONC_RECURSIVE | CONC_ROBUST)) &&
			     (s = __conc_self_cached()) && s->ctx_held == m->ctx, 1)) {
		tid = (uint32_t)s->tid;
		if (__atomic_compare_exchange_n(&m->word, &tid, 0, 0,
						__ATOMIC_RELEASE,
						__ATOMIC_RELAXED))
			return 0;
	}
	return conc_mutex_unlock(m);
}

#define conc_mutex_lock(m)	__conc_mutex_lock_inline(m)
#define conc_mutex_unlock(m)	__conc_mutex_unlock_inline(m)
#endif

#endif
