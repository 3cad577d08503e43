/* tests/test_sync_errors.c — every error the sync pages (conc_mutex_lock(3),
 * conc_mutex_consistent(3), conc_rwlock_rdlock(3), conc_cond_wait(3),
 * conc_sem_wait(3), conc_event_wait(3), conc_barrier_wait(3), conc_once(3))
 * list under ERRORS, provoked as a user would, table by table, with the
 * timeouts a user may pass: 0, negative, tiny, and so large that the
 * deadline would overflow (INT64_MAX). Children leave with _exit(). */
#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <conc.h>
#include "helpers.h"

#define MS(ms)	((int64_t)(ms) * 1000000)

/* Timeouts that must behave as "wait" when the object is free. */
static const int64_t any_timeout[] = {
	0, 1, MS(1), -1, -2, INT64_MIN, INT64_MAX, INT64_MAX - 1,
	INT64_MAX / 2, (int64_t)1 << 62,
};
#define N_ANY (sizeof(any_timeout) / sizeof(any_timeout[0]))

/* Timeouts that end by themselves (0 or short) when the object is taken. */
static const int64_t short_timeout[] = { 0, 1, 1000, MS(1), MS(5) };
#define N_SHORT (sizeof(short_timeout) / sizeof(short_timeout[0]))

/* ---- a thread that holds something until told ---- */

struct holder {
	int (*take)(void *);
	int (*give)(void *);
	void *obj;
	uint32_t held, release;
	int took, gave;
	pthread_t th;
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;

	h->took = h->take(h->obj);
	set_flag(&h->held, 1);
	wait_flag(&h->release, 15000);
	h->gave = h->took == 0 ? h->give(h->obj) : 0;
	return NULL;
}

static void hold(struct holder *h, int (*take)(void *), int (*give)(void *),
		 void *obj)
{
	memset(h, 0, sizeof(*h));
	h->take = take;
	h->give = give;
	h->obj = obj;
	cr_assert_eq(pthread_create(&h->th, NULL, holder_main, h), 0);
	cr_assert(wait_flag(&h->held, 10000), "the holder never took it");
	cr_assert_eq(h->took, 0, "the holder could not take it: %d", h->took);
}

static void unhold(struct holder *h)
{
	set_flag(&h->release, 1);
	pthread_join(h->th, NULL);
	cr_assert_eq(h->gave, 0, "the holder could not give it back: %d", h->gave);
}

/* ==== mutex: conc_mutex_lock(3) ==== */

static const unsigned mutex_kinds[] = {
	0, CONC_PRIVATE, CONC_RECURSIVE, CONC_RECURSIVE | CONC_PRIVATE,
	CONC_ROBUST, CONC_ROBUST | CONC_RECURSIVE, CONC_ROBUST | CONC_PRIVATE,
	CONC_ROBUST | CONC_RECURSIVE | CONC_PRIVATE,
};
#define N_KINDS (sizeof(mutex_kinds) / sizeof(mutex_kinds[0]))

static int m_lock(void *m) { return conc_mutex_lock(m); }
static int m_unlock(void *m) { return conc_mutex_unlock(m); }

Test(sync_errors, mutex_null_and_bad_flags_are_einval, .timeout = 20)
{
	static const unsigned bad[] = { 0x8, 0x10, 0x100, 0x200, 0x80000000u, ~0u,
					CONC_ROBUST | 0x40 };
	conc_mutex m;
	size_t i;

	cr_expect_eq(conc_mutex_init(NULL, 0), -EINVAL);
	cr_expect_eq(conc_mutex_lock(NULL), -EINVAL);
	cr_expect_eq(conc_mutex_trylock(NULL), -EINVAL);
	cr_expect_eq(conc_mutex_unlock(NULL), -EINVAL);
	cr_expect_eq(conc_mutex_consistent(NULL), -EINVAL);
	for (i = 0; i < N_ANY; i++)
		cr_expect_eq(conc_mutex_timedlock(NULL, any_timeout[i]), -EINVAL,
			     "timedlock(NULL, %lld)", (long long)any_timeout[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(conc_mutex_init(&m, bad[i]), -EINVAL, "flags %#x", bad[i]);
}

/* Every kind, free: every timeout takes it; the owner's unlock is 0 and a
 * second unlock -EPERM. */
Test(sync_errors, mutex_free_is_taken_with_any_timeout, .timeout = 20)
{
	conc_mutex m;
	size_t k, i;

	for (k = 0; k < N_KINDS; k++) {
		cr_assert_eq(conc_mutex_init(&m, mutex_kinds[k]), 0);
		cr_expect_eq(conc_mutex_unlock(&m), -EPERM, "kind %#x: unlock of a free mutex",
			     mutex_kinds[k]);
		for (i = 0; i < N_ANY; i++) {
			cr_expect_eq(conc_mutex_timedlock(&m, any_timeout[i]), 0,
				     "kind %#x timeout %lld", mutex_kinds[k],
				     (long long)any_timeout[i]);
			cr_expect_eq(conc_mutex_unlock(&m), 0);
			cr_expect_eq(conc_mutex_unlock(&m), -EPERM);
		}
		cr_expect_eq(conc_mutex_trylock(&m), 0);
		cr_expect_eq(conc_mutex_unlock(&m), 0);
	}
}

/* The owner locks again: a plain mutex says -EDEADLK to lock and
 * timedlock (whatever the timeout: never a wait, never -ETIMEDOUT) and
 * -EBUSY to trylock; a recursive one counts. */
Test(sync_errors, mutex_relock_by_owner, .timeout = 20)
{
	conc_mutex m;
	size_t k, i;
	unsigned f;

	for (k = 0; k < N_KINDS; k++) {
		f = mutex_kinds[k];
		cr_assert_eq(conc_mutex_init(&m, f), 0);
		cr_assert_eq(conc_mutex_lock(&m), 0);
		if (f & CONC_RECURSIVE) {
			cr_expect_eq(conc_mutex_lock(&m), 0, "kind %#x", f);
			cr_expect_eq(conc_mutex_trylock(&m), 0, "kind %#x", f);
			for (i = 0; i < N_ANY; i++)
				cr_expect_eq(conc_mutex_timedlock(&m, any_timeout[i]), 0,
					     "kind %#x timeout %lld", f,
					     (long long)any_timeout[i]);
			for (i = 0; i < N_ANY + 2; i++)
				cr_expect_eq(conc_mutex_unlock(&m), 0, "kind %#x", f);
		} else {
			cr_expect_eq(conc_mutex_lock(&m), -EDEADLK, "kind %#x", f);
			cr_expect_eq(conc_mutex_trylock(&m), -EBUSY, "kind %#x", f);
			for (i = 0; i < N_ANY; i++)
				cr_expect_eq(conc_mutex_timedlock(&m, any_timeout[i]),
					     -EDEADLK, "kind %#x timeout %lld", f,
					     (long long)any_timeout[i]);
		}
		cr_expect_eq(conc_mutex_unlock(&m), 0, "kind %#x", f);
		cr_expect_eq(conc_mutex_unlock(&m), -EPERM, "kind %#x", f);
	}
}

/* Held by another thread: -EBUSY, -ETIMEDOUT, -EPERM; the holder's own
 * unlock still works afterwards, and then any timeout takes it. */
Test(sync_errors, mutex_held_by_another_thread, .timeout = 30)
{
	struct holder h;
	conc_mutex m;
	size_t k, i;
	unsigned f;

	for (k = 0; k < N_KINDS; k++) {
		f = mutex_kinds[k];
		cr_assert_eq(conc_mutex_init(&m, f), 0);
		hold(&h, m_lock, m_unlock, &m);
		cr_expect_eq(conc_mutex_trylock(&m), -EBUSY, "kind %#x", f);
		cr_expect_eq(conc_mutex_unlock(&m), -EPERM, "kind %#x", f);
		for (i = 0; i < N_SHORT; i++)
			cr_expect_eq(conc_mutex_timedlock(&m, short_timeout[i]),
				     -ETIMEDOUT, "kind %#x timeout %lld", f,
				     (long long)short_timeout[i]);
		if (f & CONC_ROBUST)
			cr_expect_eq(conc_mutex_consistent(&m), -EPERM, "kind %#x", f);
		else
			cr_expect_eq(conc_mutex_consistent(&m), -EINVAL, "kind %#x", f);
		unhold(&h);
		cr_expect_eq(conc_mutex_timedlock(&m, INT64_MAX), 0, "kind %#x", f);
		cr_expect_eq(conc_mutex_unlock(&m), 0, "kind %#x", f);
	}
}

static void *release_later(void *arg)
{
	struct holder *h = arg;

	sleep_ns(MS(20));
	set_flag(&h->release, 1);
	return NULL;
}

/* A waiter with a huge timeout is not turned away by the deadline
 * arithmetic: it waits and gets the mutex once the holder lets go. */
Test(sync_errors, mutex_huge_timeout_waits_for_the_holder, .timeout = 30)
{
	static const int64_t huge[] = { INT64_MAX, INT64_MAX - 1, -1, INT64_MIN };
	struct holder h;
	pthread_t rel;
	conc_mutex m;
	size_t k, i;

	for (k = 0; k < N_KINDS; k += 2)
		for (i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
			cr_assert_eq(conc_mutex_init(&m, mutex_kinds[k]), 0);
			hold(&h, m_lock, m_unlock, &m);
			pthread_create(&rel, NULL, release_later, &h);
			cr_expect_eq(conc_mutex_timedlock(&m, huge[i]), 0,
				     "kind %#x timeout %lld", mutex_kinds[k],
				     (long long)huge[i]);
			pthread_join(rel, NULL);
			pthread_join(h.th, NULL);
			cr_expect_eq(h.gave, 0);
			cr_expect_eq(conc_mutex_unlock(&m), 0);
		}
}

/* conc_mutex_consistent(3) on mutexes that were never inconsistent. */
Test(sync_errors, mutex_consistent_refusals, .timeout = 20)
{
	conc_mutex m;
	size_t k;
	unsigned f;

	for (k = 0; k < N_KINDS; k++) {
		f = mutex_kinds[k];
		cr_assert_eq(conc_mutex_init(&m, f), 0);
		/* Free: nobody owns it; not robust: -EINVAL either way. */
		cr_expect_eq(conc_mutex_consistent(&m),
			     (f & CONC_ROBUST) ? -EPERM : -EINVAL, "kind %#x", f);
		cr_assert_eq(conc_mutex_lock(&m), 0);
		cr_expect_eq(conc_mutex_consistent(&m), -EINVAL, "kind %#x", f);
		cr_expect_eq(conc_mutex_unlock(&m), 0, "kind %#x", f);
		/* The refused call changed nothing. */
		cr_expect_eq(conc_mutex_trylock(&m), 0, "kind %#x", f);
		cr_expect_eq(conc_mutex_unlock(&m), 0, "kind %#x", f);
	}
}

/* A robust mutex whose owner process died: each of the three locking
 * calls reports -EOWNERDEAD and owns it; consistent() then 0, a second
 * consistent() -EINVAL; unlocking without it makes every later lock
 * -ENOTRECOVERABLE, until conc_mutex_init(). */
static int die_holding(void *arg)
{
	return conc_mutex_lock(arg) == 0 ? 0 : 1;	/* _exit while holding */
}

static void owner_dies(conc_mutex *m)
{
	pid_t pid = fork_child(die_holding, m);

	cr_assert_gt(pid, 0);
	cr_assert(exited_with(wait_child(pid, 10000), 0));
}

enum { BY_LOCK, BY_TRY, BY_TIMED0, BY_TIMED, BY_TIMED_HUGE, BY_TIMED_NEG };

static int lock_by(conc_mutex *m, int how)
{
	switch (how) {
	case BY_LOCK: return conc_mutex_lock(m);
	case BY_TRY: return conc_mutex_trylock(m);
	case BY_TIMED0: return conc_mutex_timedlock(m, 0);
	case BY_TIMED: return conc_mutex_timedlock(m, MS(100));
	case BY_TIMED_HUGE: return conc_mutex_timedlock(m, INT64_MAX);
	default: return conc_mutex_timedlock(m, -7);
	}
}

Test(sync_errors, mutex_robust_owner_death_by_each_locking_call, .timeout = 30)
{
	static const unsigned robust[] = { CONC_ROBUST, CONC_ROBUST | CONC_RECURSIVE };
	conc_mutex *m = shared_alloc(sizeof(*m));
	size_t k;
	int how;

	cr_assert(m);
	for (k = 0; k < 2; k++)
		for (how = BY_LOCK; how <= BY_TIMED_NEG; how++) {
			unsigned f = robust[k];

			cr_assert_eq(conc_mutex_init(m, f), 0);
			owner_dies(m);
			cr_expect_eq(lock_by(m, how), -EOWNERDEAD, "kind %#x how %d", f, how);
			if (f & CONC_RECURSIVE) {
				/* Relocking an inconsistent recursive mutex
				 * counts; it stays inconsistent. */
				cr_expect_eq(conc_mutex_lock(m), 0);
				cr_expect_eq(conc_mutex_unlock(m), 0);
			} else {
				cr_expect_eq(lock_by(m, how),
					     how == BY_TRY ? -EBUSY : -EDEADLK,
					     "kind %#x how %d", f, how);
			}
			if (how % 2) {
				cr_expect_eq(conc_mutex_consistent(m), 0);
				cr_expect_eq(conc_mutex_consistent(m), -EINVAL);
				cr_expect_eq(conc_mutex_unlock(m), 0);
				cr_expect_eq(lock_by(m, how), 0, "repaired: kind %#x how %d", f, how);
				cr_expect_eq(conc_mutex_unlock(m), 0);
			} else {
				cr_expect_eq(conc_mutex_unlock(m), 0);
				cr_expect_eq(lock_by(m, how), -ENOTRECOVERABLE,
					     "kind %#x how %d", f, how);
				cr_expect_eq(conc_mutex_lock(m), -ENOTRECOVERABLE);
				cr_expect_eq(conc_mutex_trylock(m), -ENOTRECOVERABLE);
				cr_expect_eq(conc_mutex_timedlock(m, 0), -ENOTRECOVERABLE);
				cr_expect_eq(conc_mutex_timedlock(m, INT64_MAX), -ENOTRECOVERABLE);
				cr_expect_eq(conc_mutex_unlock(m), -EPERM);
				cr_expect_eq(conc_mutex_consistent(m), -EPERM);
				cr_assert_eq(conc_mutex_init(m, f), 0);
				cr_expect_eq(lock_by(m, how), 0, "re-initialised");
				cr_expect_eq(conc_mutex_unlock(m), 0);
			}
		}
	shared_free(m, sizeof(*m));
}

/* ==== rwlock: conc_rwlock_rdlock(3) ==== */

static int rw_rd(void *rw) { return conc_rwlock_rdlock(rw); }
static int rw_wr(void *rw) { return conc_rwlock_wrlock(rw); }
static int rw_un(void *rw) { return conc_rwlock_unlock(rw); }

Test(sync_errors, rwlock_null_and_bad_flags_are_einval, .timeout = 20)
{
	static const unsigned bad[] = { CONC_RECURSIVE, CONC_ROBUST, 0x100, ~0u };
	conc_rwlock rw;
	size_t i;

	cr_expect_eq(conc_rwlock_init(NULL, 0), -EINVAL);
	cr_expect_eq(conc_rwlock_rdlock(NULL), -EINVAL);
	cr_expect_eq(conc_rwlock_wrlock(NULL), -EINVAL);
	cr_expect_eq(conc_rwlock_tryrdlock(NULL), -EINVAL);
	cr_expect_eq(conc_rwlock_trywrlock(NULL), -EINVAL);
	cr_expect_eq(conc_rwlock_unlock(NULL), -EINVAL);
	for (i = 0; i < N_ANY; i++) {
		cr_expect_eq(conc_rwlock_timedrdlock(NULL, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_rwlock_timedwrlock(NULL, any_timeout[i]), -EINVAL);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(conc_rwlock_init(&rw, bad[i]), -EINVAL, "flags %#x", bad[i]);
}

Test(sync_errors, rwlock_free_held_and_relocked, .timeout = 30)
{
	static const unsigned kinds[] = { 0, CONC_PRIVATE };
	struct holder h;
	conc_rwlock rw;
	size_t k, i;

	for (k = 0; k < 2; k++) {
		cr_assert_eq(conc_rwlock_init(&rw, kinds[k]), 0);
		cr_expect_eq(conc_rwlock_unlock(&rw), -EPERM, "nobody holds it");
		for (i = 0; i < N_ANY; i++) {
			cr_expect_eq(conc_rwlock_timedrdlock(&rw, any_timeout[i]), 0,
				     "rd timeout %lld", (long long)any_timeout[i]);
			cr_expect_eq(conc_rwlock_unlock(&rw), 0);
			cr_expect_eq(conc_rwlock_timedwrlock(&rw, any_timeout[i]), 0,
				     "wr timeout %lld", (long long)any_timeout[i]);
			/* The writer asks again, for either lock: -EDEADLK
			 * from every locking function, never a wait. */
			cr_expect_eq(conc_rwlock_wrlock(&rw), -EDEADLK);
			cr_expect_eq(conc_rwlock_rdlock(&rw), -EDEADLK);
			cr_expect_eq(conc_rwlock_trywrlock(&rw), -EDEADLK);
			cr_expect_eq(conc_rwlock_tryrdlock(&rw), -EDEADLK);
			cr_expect_eq(conc_rwlock_timedwrlock(&rw, any_timeout[i]), -EDEADLK);
			cr_expect_eq(conc_rwlock_timedrdlock(&rw, any_timeout[i]), -EDEADLK);
			cr_expect_eq(conc_rwlock_unlock(&rw), 0);
			cr_expect_eq(conc_rwlock_unlock(&rw), -EPERM);
		}

		/* Another thread writes: -EBUSY, -ETIMEDOUT, -EPERM. */
		hold(&h, rw_wr, rw_un, &rw);
		cr_expect_eq(conc_rwlock_tryrdlock(&rw), -EBUSY);
		cr_expect_eq(conc_rwlock_trywrlock(&rw), -EBUSY);
		cr_expect_eq(conc_rwlock_unlock(&rw), -EPERM);
		for (i = 0; i < N_SHORT; i++) {
			cr_expect_eq(conc_rwlock_timedrdlock(&rw, short_timeout[i]), -ETIMEDOUT);
			cr_expect_eq(conc_rwlock_timedwrlock(&rw, short_timeout[i]), -ETIMEDOUT);
		}
		unhold(&h);

		/* Another thread reads: readers get in, writers wait; an
		 * unlock by this thread, which holds no read lock, is
		 * refused and does not count the holder out. */
		hold(&h, rw_rd, rw_un, &rw);
		cr_expect_eq(conc_rwlock_unlock(&rw), -EPERM);
		cr_expect_eq(conc_rwlock_trywrlock(&rw), -EBUSY);
		for (i = 0; i < N_SHORT; i++)
			cr_expect_eq(conc_rwlock_timedwrlock(&rw, short_timeout[i]), -ETIMEDOUT);
		cr_expect_eq(conc_rwlock_tryrdlock(&rw), 0);
		cr_expect_eq(conc_rwlock_unlock(&rw), 0);
		cr_expect_eq(conc_rwlock_unlock(&rw), -EPERM);
		unhold(&h);
		cr_expect_eq(conc_rwlock_trywrlock(&rw), 0, "everyone left");
		cr_expect_eq(conc_rwlock_unlock(&rw), 0);
	}
}

/* ==== cond: conc_cond_wait(3) ==== */

Test(sync_errors, cond_null_bad_flags_and_ownership, .timeout = 30)
{
	static const unsigned bad[] = { CONC_RECURSIVE, CONC_ROBUST, 0x100, ~0u };
	struct holder h;
	conc_cond c;
	conc_mutex m;
	size_t i, k;

	cr_expect_eq(conc_cond_init(NULL, 0), -EINVAL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(conc_cond_init(&c, bad[i]), -EINVAL, "flags %#x", bad[i]);
	cr_assert_eq(conc_cond_init(&c, 0), 0);
	cr_assert_eq(conc_mutex_init(&m, 0), 0);
	cr_expect_eq(conc_cond_signal(NULL), -EINVAL);
	cr_expect_eq(conc_cond_broadcast(NULL), -EINVAL);
	cr_expect_eq(conc_cond_signal(&c), 0, "nobody waits");
	cr_expect_eq(conc_cond_broadcast(&c), 0, "nobody waits");
	for (i = 0; i < N_ANY; i++) {
		cr_expect_eq(conc_cond_wait(NULL, &m, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_cond_wait(&c, NULL, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_cond_wait(NULL, NULL, any_timeout[i]), -EINVAL);
		/* Not owned (free): -EPERM, at once, whatever the timeout. */
		cr_expect_eq(conc_cond_wait(&c, &m, any_timeout[i]), -EPERM,
			     "free mutex, timeout %lld", (long long)any_timeout[i]);
	}
	for (k = 0; k < N_KINDS; k++) {
		cr_assert_eq(conc_mutex_init(&m, mutex_kinds[k]), 0);
		hold(&h, m_lock, m_unlock, &m);
		for (i = 0; i < N_ANY; i++)
			cr_expect_eq(conc_cond_wait(&c, &m, any_timeout[i]), -EPERM,
				     "kind %#x held by another thread", mutex_kinds[k]);
		unhold(&h);
		/* Owned: timeout 0 and short timeouts come back -ETIMEDOUT
		 * with the mutex owned again. */
		cr_assert_eq(conc_mutex_lock(&m), 0);
		for (i = 0; i < N_SHORT; i++) {
			cr_expect_eq(conc_cond_wait(&c, &m, short_timeout[i]), -ETIMEDOUT,
				     "kind %#x timeout %lld", mutex_kinds[k],
				     (long long)short_timeout[i]);
			cr_expect_eq(conc_mutex_trylock(&m),
				     (mutex_kinds[k] & CONC_RECURSIVE) ? 0 : -EBUSY,
				     "owned again after the timeout");
			if (mutex_kinds[k] & CONC_RECURSIVE) {
				/* Owned twice: -EPERM, nothing unlocked. */
				cr_expect_eq(conc_cond_wait(&c, &m, short_timeout[i]), -EPERM);
				cr_expect_eq(conc_mutex_unlock(&m), 0);
			}
		}
		cr_expect_eq(conc_mutex_unlock(&m), 0, "kind %#x", mutex_kinds[k]);
		cr_expect_eq(conc_mutex_unlock(&m), -EPERM, "kind %#x", mutex_kinds[k]);
	}
}

/* A huge timeout waits (no overflow into the past): a signal from
 * another thread ends it with 0. */
struct cond_pair {
	conc_cond c;
	conc_mutex m;
	uint32_t waiting, ready;
};

static void *signal_until_done(void *arg)
{
	struct cond_pair *p = arg;

	while (!__atomic_load_n(&p->ready, __ATOMIC_ACQUIRE)) {
		conc_mutex_lock(&p->m);
		conc_cond_signal(&p->c);
		conc_mutex_unlock(&p->m);
		sleep_ns(MS(2));
	}
	return NULL;
}

Test(sync_errors, cond_huge_timeout_waits_for_a_signal, .timeout = 30)
{
	static const int64_t huge[] = { INT64_MAX, INT64_MAX - 1, (int64_t)1 << 62, -1 };
	struct cond_pair p;
	pthread_t th;
	size_t i;

	for (i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		memset(&p, 0, sizeof(p));
		cr_assert_eq(conc_mutex_lock(&p.m), 0);
		pthread_create(&th, NULL, signal_until_done, &p);
		cr_expect_eq(conc_cond_wait(&p.c, &p.m, huge[i]), 0,
			     "timeout %lld", (long long)huge[i]);
		set_flag(&p.ready, 1);
		cr_expect_eq(conc_mutex_unlock(&p.m), 0);
		pthread_join(th, NULL);
	}
}

/* ==== sem: conc_sem_wait(3) ==== */

Test(sync_errors, sem_table, .timeout = 20)
{
	static const unsigned bad[] = { CONC_RECURSIVE, CONC_ROBUST, 0x100, ~0u };
	conc_sem s;
	size_t i;

	cr_expect_eq(conc_sem_init(NULL, 0, 0), -EINVAL);
	cr_expect_eq(conc_sem_post(NULL), -EINVAL);
	cr_expect_eq(conc_sem_wait(NULL), -EINVAL);
	cr_expect_eq(conc_sem_trywait(NULL), -EINVAL);
	cr_expect_eq(conc_sem_value(NULL), -EINVAL);
	for (i = 0; i < N_ANY; i++)
		cr_expect_eq(conc_sem_timedwait(NULL, any_timeout[i]), -EINVAL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(conc_sem_init(&s, 1, bad[i]), -EINVAL, "flags %#x", bad[i]);
	cr_expect_eq(conc_sem_init(&s, (unsigned)CONC_SEM_VALUE_MAX + 1, 0), -EINVAL);
	cr_expect_eq(conc_sem_init(&s, UINT_MAX, 0), -EINVAL);

	/* At the maximum: post is -EOVERFLOW and changes nothing. */
	cr_assert_eq(conc_sem_init(&s, CONC_SEM_VALUE_MAX, CONC_PRIVATE), 0);
	cr_expect_eq(conc_sem_value(&s), CONC_SEM_VALUE_MAX);
	cr_expect_eq(conc_sem_post(&s), -EOVERFLOW);
	cr_expect_eq(conc_sem_value(&s), CONC_SEM_VALUE_MAX);
	cr_expect_eq(conc_sem_trywait(&s), 0);
	cr_expect_eq(conc_sem_post(&s), 0);
	cr_expect_eq(conc_sem_post(&s), -EOVERFLOW);

	/* Empty: trywait -EAGAIN, short timeouts -ETIMEDOUT; value stays 0. */
	cr_assert_eq(conc_sem_init(&s, 0, 0), 0);
	cr_expect_eq(conc_sem_trywait(&s), -EAGAIN);
	for (i = 0; i < N_SHORT; i++)
		cr_expect_eq(conc_sem_timedwait(&s, short_timeout[i]), -ETIMEDOUT,
			     "timeout %lld", (long long)short_timeout[i]);
	cr_expect_eq(conc_sem_value(&s), 0);

	/* A permit free: every timeout takes it at once. */
	for (i = 0; i < N_ANY; i++) {
		cr_expect_eq(conc_sem_post(&s), 0);
		cr_expect_eq(conc_sem_timedwait(&s, any_timeout[i]), 0,
			     "timeout %lld", (long long)any_timeout[i]);
		cr_expect_eq(conc_sem_value(&s), 0);
	}
}

static void *post_later(void *arg)
{
	sleep_ns(MS(20));
	conc_sem_post(arg);
	return NULL;
}

Test(sync_errors, sem_huge_timeout_waits_for_a_post, .timeout = 30)
{
	static const int64_t huge[] = { INT64_MAX, INT64_MAX - 1, (int64_t)1 << 62, -1 };
	conc_sem s;
	pthread_t th;
	size_t i;

	for (i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		conc_sem_init(&s, 0, i % 2 ? CONC_PRIVATE : 0);
		pthread_create(&th, NULL, post_later, &s);
		cr_expect_eq(conc_sem_timedwait(&s, huge[i]), 0,
			     "timeout %lld", (long long)huge[i]);
		pthread_join(th, NULL);
	}
}

/* ==== event: conc_event_wait(3) ==== */

static void *set_later(void *arg)
{
	sleep_ns(MS(20));
	conc_event_set(arg);
	return NULL;
}

Test(sync_errors, event_table, .timeout = 30)
{
	static const unsigned bad[] = { CONC_RECURSIVE, CONC_ROBUST, 0x100, ~0u };
	static const int64_t huge[] = { INT64_MAX, INT64_MAX - 1, -1, INT64_MIN };
	conc_event e;
	pthread_t th;
	size_t i;

	cr_expect_eq(conc_event_init(NULL, 0), -EINVAL);
	cr_expect_eq(conc_event_set(NULL), -EINVAL);
	cr_expect_eq(conc_event_clear(NULL), -EINVAL);
	cr_expect_eq(conc_event_is_set(NULL), false);
	for (i = 0; i < N_ANY; i++)
		cr_expect_eq(conc_event_wait(NULL, any_timeout[i]), -EINVAL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(conc_event_init(&e, bad[i]), -EINVAL, "flags %#x", bad[i]);

	cr_assert_eq(conc_event_init(&e, 0), 0);
	for (i = 0; i < N_SHORT; i++)
		cr_expect_eq(conc_event_wait(&e, short_timeout[i]), -ETIMEDOUT);
	/* A wait that timed out leaves the event working. */
	cr_expect_eq(conc_event_set(&e), 0);
	cr_expect_eq(conc_event_set(&e), 0, "setting a set event does nothing");
	cr_expect(conc_event_is_set(&e));
	for (i = 0; i < N_ANY; i++)
		cr_expect_eq(conc_event_wait(&e, any_timeout[i]), 0);
	cr_expect_eq(conc_event_clear(&e), 0);
	cr_expect_eq(conc_event_clear(&e), 0);
	cr_expect(!conc_event_is_set(&e));
	cr_expect_eq(conc_event_wait(&e, 0), -ETIMEDOUT);

	for (i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		cr_assert_eq(conc_event_init(&e, i % 2 ? CONC_PRIVATE : 0), 0);
		pthread_create(&th, NULL, set_later, &e);
		cr_expect_eq(conc_event_wait(&e, huge[i]), 0,
			     "timeout %lld", (long long)huge[i]);
		pthread_join(th, NULL);
	}
}

/* ==== barrier: conc_barrier_wait(3) ==== */

struct party { conc_barrier *b; int64_t timeout; int r; };

static void *party_main(void *arg)
{
	struct party *p = arg;

	p->r = conc_barrier_wait_timed(p->b, p->timeout);
	return NULL;
}

Test(sync_errors, barrier_table, .timeout = 30)
{
	static const unsigned bad_n[] = { 0, (unsigned)INT32_MAX + 1, UINT_MAX };
	static const unsigned bad_f[] = { CONC_RECURSIVE, CONC_ROBUST, 0x100, ~0u };
	conc_barrier b, z;
	size_t i;

	memset(&z, 0, sizeof(z));
	cr_expect_eq(conc_barrier_init(NULL, 1, 0), -EINVAL);
	for (i = 0; i < sizeof(bad_n) / sizeof(bad_n[0]); i++)
		cr_expect_eq(conc_barrier_init(&b, bad_n[i], 0), -EINVAL, "n %u", bad_n[i]);
	for (i = 0; i < sizeof(bad_f) / sizeof(bad_f[0]); i++)
		cr_expect_eq(conc_barrier_init(&b, 2, bad_f[i]), -EINVAL, "flags %#x", bad_f[i]);
	cr_expect_eq(conc_barrier_wait(NULL), -EINVAL);
	cr_expect_eq(conc_barrier_wait(&z), -EINVAL, "never initialised");
	for (i = 0; i < N_ANY; i++) {
		cr_expect_eq(conc_barrier_wait_timed(NULL, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_barrier_wait_timed(&z, any_timeout[i]), -EINVAL);
	}

	/* One party: every call is a whole round, whatever the timeout. */
	cr_assert_eq(conc_barrier_init(&b, 1, 0), 0);
	cr_expect_eq(conc_barrier_wait(&b), CONC_BARRIER_SERIAL);
	for (i = 0; i < N_ANY; i++)
		cr_expect_eq(conc_barrier_wait_timed(&b, any_timeout[i]),
			     CONC_BARRIER_SERIAL, "timeout %lld", (long long)any_timeout[i]);

	/* Two parties, one comes: each short timeout breaks it, then every
	 * call is -EPIPE until init, whatever its timeout. */
	for (i = 0; i < N_SHORT; i++) {
		size_t j;

		cr_assert_eq(conc_barrier_init(&b, 2, i % 2 ? CONC_PRIVATE : 0), 0);
		cr_expect_eq(conc_barrier_wait_timed(&b, short_timeout[i]), -ETIMEDOUT,
			     "timeout %lld", (long long)short_timeout[i]);
		cr_expect_eq(conc_barrier_wait(&b), -EPIPE);
		for (j = 0; j < N_ANY; j++)
			cr_expect_eq(conc_barrier_wait_timed(&b, any_timeout[j]), -EPIPE,
				     "broken, timeout %lld", (long long)any_timeout[j]);
	}
}

/* After a break and conc_barrier_init(), two parties with huge timeouts
 * meet again: one CONC_BARRIER_SERIAL, one 0. */
Test(sync_errors, barrier_reinit_after_break_and_huge_timeouts, .timeout = 30)
{
	static const int64_t huge[] = { INT64_MAX, INT64_MAX - 1, -1, INT64_MIN };
	struct party p;
	conc_barrier b;
	pthread_t th;
	size_t i;
	int r;

	for (i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		cr_assert_eq(conc_barrier_init(&b, 2, 0), 0);
		cr_expect_eq(conc_barrier_wait_timed(&b, 0), -ETIMEDOUT);
		cr_expect_eq(conc_barrier_wait_timed(&b, huge[i]), -EPIPE);
		cr_assert_eq(conc_barrier_init(&b, 2, 0), 0);
		p.b = &b;
		p.timeout = huge[i];
		pthread_create(&th, NULL, party_main, &p);
		r = conc_barrier_wait_timed(&b, huge[i]);
		pthread_join(th, NULL);
		cr_expect((r == CONC_BARRIER_SERIAL && p.r == 0) ||
			  (r == 0 && p.r == CONC_BARRIER_SERIAL),
			  "timeout %lld: %d and %d", (long long)huge[i], r, p.r);
	}
}

/* ==== once: conc_once(3) ==== */

static int once_runs;
static void once_fn(void) { once_runs++; }

static conc_once_t slow_flag;
static uint32_t slow_started, slow_release;

static void slow_fn(void)
{
	set_flag(&slow_started, 1);
	wait_flag(&slow_release, 15000);
}

static void *run_slow(void *arg)
{
	(void)arg;
	conc_once(&slow_flag, slow_fn);
	return NULL;
}

Test(sync_errors, once_table, .timeout = 30)
{
	static const int64_t huge[] = { INT64_MAX, INT64_MAX - 1, -1, INT64_MIN };
	conc_once_t o = CONC_ONCE_INIT;
	pthread_t th;
	size_t i;

	cr_expect_eq(conc_once(NULL, once_fn), -EINVAL);
	cr_expect_eq(conc_once(&o, NULL), -EINVAL);
	for (i = 0; i < N_ANY; i++) {
		cr_expect_eq(conc_once_timed(NULL, once_fn, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_once_timed(&o, NULL, any_timeout[i]), -EINVAL);
	}
	cr_expect_eq(once_runs, 0, "refused calls ran nothing");
	for (i = 0; i < N_ANY; i++)
		cr_expect_eq(conc_once_timed(&o, once_fn, any_timeout[i]), 0);
	cr_expect_eq(conc_once(&o, once_fn), 0);
	cr_expect_eq(once_runs, 1);

	/* fn running in another thread: short timeouts -ETIMEDOUT; huge
	 * ones wait for it. */
	pthread_create(&th, NULL, run_slow, NULL);
	cr_assert(wait_flag(&slow_started, 10000));
	for (i = 0; i < N_SHORT; i++)
		cr_expect_eq(conc_once_timed(&slow_flag, once_fn, short_timeout[i]),
			     -ETIMEDOUT, "timeout %lld", (long long)short_timeout[i]);
	set_flag(&slow_release, 1);
	for (i = 0; i < sizeof(huge) / sizeof(huge[0]); i++)
		cr_expect_eq(conc_once_timed(&slow_flag, once_fn, huge[i]), 0,
			     "timeout %lld", (long long)huge[i]);
	pthread_join(th, NULL);
	cr_expect_eq(once_runs, 1, "fn of another flag never ran");
}

/* ==== every call on a misaligned object: -EINVAL (the pages' ERRORS;
 * the kernel refuses a futex word that is not 4-byte aligned) ==== */

static void noop(void) { }

Test(sync_errors, misaligned_objects_are_einval_everywhere, .timeout = 20)
{
	static _Alignas(64) unsigned char buf[256];
	void *p = buf + 2;
	size_t i;

	memset(buf, 0, sizeof(buf));
	cr_expect_eq(conc_mutex_init(p, 0), -EINVAL);
	cr_expect_eq(conc_mutex_lock(p), -EINVAL);
	cr_expect_eq(conc_mutex_trylock(p), -EINVAL);
	cr_expect_eq(conc_mutex_unlock(p), -EINVAL);
	cr_expect_eq(conc_mutex_consistent(p), -EINVAL);
	cr_expect_eq(conc_rwlock_init(p, 0), -EINVAL);
	cr_expect_eq(conc_rwlock_rdlock(p), -EINVAL);
	cr_expect_eq(conc_rwlock_wrlock(p), -EINVAL);
	cr_expect_eq(conc_rwlock_tryrdlock(p), -EINVAL);
	cr_expect_eq(conc_rwlock_trywrlock(p), -EINVAL);
	cr_expect_eq(conc_rwlock_unlock(p), -EINVAL);
	cr_expect_eq(conc_cond_init(p, 0), -EINVAL);
	cr_expect_eq(conc_cond_signal(p), -EINVAL);
	cr_expect_eq(conc_cond_broadcast(p), -EINVAL);
	cr_expect_eq(conc_sem_init(p, 1, 0), -EINVAL);
	cr_expect_eq(conc_sem_post(p), -EINVAL);
	cr_expect_eq(conc_sem_wait(p), -EINVAL);
	cr_expect_eq(conc_sem_trywait(p), -EINVAL);
	cr_expect_eq(conc_sem_value(p), -EINVAL);
	cr_expect_eq(conc_event_init(p, 0), -EINVAL);
	cr_expect_eq(conc_event_set(p), -EINVAL);
	cr_expect_eq(conc_event_clear(p), -EINVAL);
	cr_expect_eq(conc_barrier_init(p, 2, 0), -EINVAL);
	cr_expect_eq(conc_barrier_wait(p), -EINVAL);
	cr_expect_eq(conc_once(p, noop), -EINVAL);
	for (i = 0; i < N_ANY; i++) {
		conc_mutex m;

		conc_mutex_init(&m, 0);
		conc_mutex_lock(&m);
		cr_expect_eq(conc_mutex_timedlock(p, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_rwlock_timedrdlock(p, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_rwlock_timedwrlock(p, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_cond_wait(p, &m, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_sem_timedwait(p, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_event_wait(p, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_barrier_wait_timed(p, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_once_timed(p, noop, any_timeout[i]), -EINVAL);
		cr_expect_eq(conc_mutex_unlock(&m), 0, "the good mutex is untouched");
	}
	for (i = 0; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], 0, "a refused call wrote byte %zu", i);
}

/* ==== fork: conc_mutex_lock(3) NOTES: a mutex in private memory that was
 * locked at the fork stays locked in the child (unlock -EPERM, lock waits:
 * -EBUSY, -ETIMEDOUT), whatever its kind; the child's own robust mutexes
 * work; conc_rwlock_rdlock(3): a held write lock stays held ==== */

static conc_mutex fork_m[N_KINDS];
static conc_rwlock fork_rw;

static int fork_child_checks(void *arg)
{
	conc_mutex mine;
	size_t k;

	(void)arg;
	for (k = 0; k < N_KINDS; k++) {
		if (conc_mutex_unlock(&fork_m[k]) != -EPERM)
			return 10 + (int)k;
		if (conc_mutex_trylock(&fork_m[k]) != -EBUSY)
			return 20 + (int)k;
		if (conc_mutex_timedlock(&fork_m[k], MS(2)) != -ETIMEDOUT)
			return 30 + (int)k;
		if (conc_mutex_consistent(&fork_m[k]) !=
		    ((mutex_kinds[k] & CONC_ROBUST) ? -EPERM : -EINVAL))
			return 40 + (int)k;
	}
	if (conc_rwlock_unlock(&fork_rw) != -EPERM ||
	    conc_rwlock_tryrdlock(&fork_rw) != -EBUSY ||
	    conc_rwlock_timedwrlock(&fork_rw, MS(2)) != -ETIMEDOUT)
		return 50;
	if (conc_mutex_init(&mine, CONC_ROBUST) || conc_mutex_lock(&mine) ||
	    conc_mutex_unlock(&mine) || conc_mutex_unlock(&mine) != -EPERM)
		return 60;
	return 0;
}

Test(sync_errors, locks_held_at_fork_stay_held_in_the_child, .timeout = 30)
{
	size_t k;
	pid_t pid;
	int st;

	for (k = 0; k < N_KINDS; k++) {
		cr_assert_eq(conc_mutex_init(&fork_m[k], mutex_kinds[k]), 0);
		cr_assert_eq(conc_mutex_lock(&fork_m[k]), 0);
	}
	cr_assert_eq(conc_rwlock_init(&fork_rw, 0), 0);
	cr_assert_eq(conc_rwlock_wrlock(&fork_rw), 0);
	pid = fork_child(fork_child_checks, NULL);
	cr_assert_gt(pid, 0);
	st = wait_child(pid, 15000);
	cr_expect(exited_with(st, 0), "child: status %#x (exit %d)", st,
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	for (k = 0; k < N_KINDS; k++)
		cr_expect_eq(conc_mutex_unlock(&fork_m[k]), 0, "kind %#x", mutex_kinds[k]);
	cr_expect_eq(conc_rwlock_unlock(&fork_rw), 0);
}

/* conc_cond_wait(3): waiting with a robust mutex still inconsistent (got
 * with -EOWNERDEAD, not repaired) unlocks it as conc_mutex_unlock() would:
 * it becomes unrecoverable and the wait returns -ENOTRECOVERABLE, without
 * the mutex. */
Test(sync_errors, cond_wait_with_an_inconsistent_robust_mutex, .timeout = 30)
{
	conc_mutex *m = shared_alloc(sizeof(*m));
	conc_cond c = CONC_COND_INIT;

	cr_assert(m);
	cr_assert_eq(conc_mutex_init(m, CONC_ROBUST), 0);
	owner_dies(m);
	cr_assert_eq(conc_mutex_lock(m), -EOWNERDEAD);
	cr_expect_eq(conc_cond_wait(&c, m, MS(1)), -ENOTRECOVERABLE);
	cr_expect_eq(conc_mutex_unlock(m), -EPERM, "not owned after the wait");
	cr_expect_eq(conc_mutex_trylock(m), -ENOTRECOVERABLE);
	shared_free(m, sizeof(*m));
}

/* conc_rwlock_rdlock(3): "an unlock by a context that holds no read lock
 * is refused with -EPERM rather than letting a writer in while a reader
 * is inside". A child forked while its parent holds a read lock on a
 * shared rwlock holds none: its unlock must not release the parent's. */
static conc_rwlock *shared_rw;

static int child_unlocks_parents_read_lock(void *arg)
{
	(void)arg;
	if (conc_rwlock_unlock(shared_rw) != -EPERM)
		return 1;
	/* The parent still reads: no writer may get in. */
	if (conc_rwlock_trywrlock(shared_rw) != -EBUSY)
		return 2;
	/* Its own read lock it may give back, once. */
	if (conc_rwlock_rdlock(shared_rw) || conc_rwlock_unlock(shared_rw) ||
	    conc_rwlock_unlock(shared_rw) != -EPERM)
		return 3;
	return 0;
}

Test(sync_errors, forked_child_cannot_release_the_parents_read_lock, .timeout = 30)
{
	static const unsigned kinds[] = { 0, CONC_PRIVATE };
	size_t k;
	pid_t pid;
	int st;

	shared_rw = shared_alloc(sizeof(*shared_rw));
	cr_assert(shared_rw);
	for (k = 0; k < 2; k++) {
		/* CONC_PRIVATE: the child's is a copy; the answer is the same. */
		cr_assert_eq(conc_rwlock_init(shared_rw, kinds[k]), 0);
		cr_assert_eq(conc_rwlock_rdlock(shared_rw), 0);
		pid = fork_child(child_unlocks_parents_read_lock, NULL);
		cr_assert_gt(pid, 0);
		st = wait_child(pid, 15000);
		cr_expect(exited_with(st, 0), "kind %#x: child exit %d", kinds[k],
			  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		cr_expect_eq(conc_rwlock_unlock(shared_rw), 0, "the parent's own unlock");
		cr_expect_eq(conc_rwlock_trywrlock(shared_rw), 0);
		cr_expect_eq(conc_rwlock_unlock(shared_rw), 0);
	}
	shared_free(shared_rw, sizeof(*shared_rw));
}

/* ==== every timed call: -ETIMEDOUT no earlier than its timeout (a lower
 * bound only: a loaded machine may return later) ==== */

#define T_NS MS(20)

static int64_t since(int64_t t0) { return now_ns() - t0; }

static int once_timed_call(void)
{
	return conc_once_timed(&slow_flag, once_fn, T_NS);
}

Test(sync_errors, every_timeout_is_no_earlier_than_asked, .timeout = 60)
{
	struct holder h;
	conc_mutex m, mine;
	conc_rwlock rw;
	conc_cond c;
	conc_sem s;
	conc_event e;
	conc_barrier b;
	pthread_t th;
	int64_t t0;
	int r;

	conc_mutex_init(&m, 0);
	hold(&h, m_lock, m_unlock, &m);
	t0 = now_ns();
	r = conc_mutex_timedlock(&m, T_NS);
	cr_expect(r == -ETIMEDOUT && since(t0) >= T_NS, "mutex %d", r);
	unhold(&h);

	conc_rwlock_init(&rw, 0);
	hold(&h, rw_wr, rw_un, &rw);
	t0 = now_ns();
	r = conc_rwlock_timedrdlock(&rw, T_NS);
	cr_expect(r == -ETIMEDOUT && since(t0) >= T_NS, "rdlock %d", r);
	t0 = now_ns();
	r = conc_rwlock_timedwrlock(&rw, T_NS);
	cr_expect(r == -ETIMEDOUT && since(t0) >= T_NS, "wrlock %d", r);
	unhold(&h);

	conc_cond_init(&c, 0);
	conc_mutex_init(&mine, 0);
	conc_mutex_lock(&mine);
	t0 = now_ns();
	r = conc_cond_wait(&c, &mine, T_NS);
	cr_expect(r == -ETIMEDOUT && since(t0) >= T_NS, "cond %d", r);
	conc_mutex_unlock(&mine);

	conc_sem_init(&s, 0, 0);
	t0 = now_ns();
	r = conc_sem_timedwait(&s, T_NS);
	cr_expect(r == -ETIMEDOUT && since(t0) >= T_NS, "sem %d", r);

	conc_event_init(&e, 0);
	t0 = now_ns();
	r = conc_event_wait(&e, T_NS);
	cr_expect(r == -ETIMEDOUT && since(t0) >= T_NS, "event %d", r);

	conc_barrier_init(&b, 2, 0);
	t0 = now_ns();
	r = conc_barrier_wait_timed(&b, T_NS);
	cr_expect(r == -ETIMEDOUT && since(t0) >= T_NS, "barrier %d", r);

	slow_started = slow_release = 0;
	memset(&slow_flag, 0, sizeof(slow_flag));
	pthread_create(&th, NULL, run_slow, NULL);
	cr_assert(wait_flag(&slow_started, 10000));
	t0 = now_ns();
	r = once_timed_call();
	cr_expect(r == -ETIMEDOUT && since(t0) >= T_NS, "once %d", r);
	set_flag(&slow_release, 1);
	pthread_join(th, NULL);
}

/* conc_rwlock_rdlock(3): "A thread tracks up to 16 read-held locks
 * exactly; beyond that, an unlock that matches none of them is let
 * through as long as the thread holds untracked read locks." Twenty held
 * at once all come back, twice for one taken twice, and no more. */
Test(sync_errors, more_read_locks_than_the_table_holds, .timeout = 20)
{
	conc_rwlock rw[20];
	int i;

	for (i = 0; i < 20; i++) {
		cr_assert_eq(conc_rwlock_init(&rw[i], i % 2 ? CONC_PRIVATE : 0), 0);
		cr_assert_eq(conc_rwlock_rdlock(&rw[i]), 0);
	}
	cr_assert_eq(conc_rwlock_rdlock(&rw[19]), 0);
	cr_expect_eq(conc_rwlock_unlock(&rw[19]), 0);
	for (i = 0; i < 20; i++)
		cr_expect_eq(conc_rwlock_unlock(&rw[i]), 0, "lock %d", i);
	for (i = 0; i < 20; i++) {
		cr_expect_eq(conc_rwlock_unlock(&rw[i]), -EPERM, "lock %d again", i);
		cr_expect_eq(conc_rwlock_trywrlock(&rw[i]), 0, "lock %d free", i);
		cr_expect_eq(conc_rwlock_unlock(&rw[i]), 0);
	}
}

/* conc_event_wait(3) NOTES: conc_event_set() is async-signal-safe, "the
 * way to hand a signal to code that waits": a handler that runs on the
 * very thread that waits sets the event, and that wait returns 0. The
 * same for conc_sem_post() (conc_sem_wait(3)). */
static conc_event sig_event;
static conc_sem sig_sem;

static void on_usr1(int sig)
{
	(void)sig;
	conc_event_set(&sig_event);
	conc_sem_post(&sig_sem);
}

struct kicker { pthread_t target; uint32_t stop; };

static void *kick(void *arg)
{
	struct kicker *k = arg;

	while (!__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE)) {
		sleep_ns(MS(10));
		pthread_kill(k->target, SIGUSR1);
	}
	return NULL;
}

Test(sync_errors, a_signal_handler_sets_what_its_own_thread_waits_for, .timeout = 30)
{
	struct sigaction sa;
	struct kicker k = { pthread_self(), 0 };
	pthread_t th;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;	/* no SA_RESTART */
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	conc_event_init(&sig_event, 0);
	conc_sem_init(&sig_sem, 0, 0);
	pthread_create(&th, NULL, kick, &k);
	cr_expect_eq(conc_event_wait(&sig_event, MS(10000)), 0);
	cr_expect_eq(conc_sem_timedwait(&sig_sem, MS(10000)), 0);
	set_flag(&k.stop, 1);
	pthread_join(th, NULL);
	signal(SIGUSR1, SIG_IGN);
}
