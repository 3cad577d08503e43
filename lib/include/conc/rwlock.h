/* conc/rwlock.h — reader-writer lock; waiting writers go first. */
#ifndef CONC_RWLOCK_H
#define CONC_RWLOCK_H

#include <stdint.h>
#include <conc/base.h>

/* A reader-writer lock. All zeroes is valid and unlocked, usable between
 * processes in shared memory. Up to 65535 readers at once. Once a writer
 * waits, new readers wait behind it, so writers never starve. */
typedef struct conc_rwlock {
	uint32_t state;
	uint32_t wseq;
	uint32_t flags;
	uint32_t owner;
	uint32_t ctx;
} conc_rwlock;

#define CONC_RWLOCK_INIT { 0, 0, 0, 0, 0 }

/* Initialise rw with flags (CONC_PRIVATE or 0): 0 or -EINVAL. */
int conc_rwlock_init(conc_rwlock *rw, unsigned flags);

/* Take a shared (read) lock. 0, -EAGAIN with 65535 readers in, -EDEADLK if
 * the caller holds the write lock (every locking call says so), -EINVAL
 * for NULL or a misaligned rw, -ECANCELED in a cancelled task. */
int conc_rwlock_rdlock(conc_rwlock *rw);
/* As rdlock but never waits: -EBUSY if a writer holds or waits. */
int conc_rwlock_tryrdlock(conc_rwlock *rw);
/* As rdlock, giving up with -ETIMEDOUT after timeout_ns. */
int conc_rwlock_timedrdlock(conc_rwlock *rw, int64_t timeout_ns);

/* Take the exclusive (write) lock. 0, -EDEADLK if the caller holds it,
 * -EAGAIN with 16383 writers waiting already, -EINVAL, -ECANCELED. */
int conc_rwlock_wrlock(conc_rwlock *rw);
/* As wrlock but never waits: -EBUSY. */
int conc_rwlock_trywrlock(conc_rwlock *rw);
/* As wrlock, giving up with -ETIMEDOUT after timeout_ns. */
int conc_rwlock_timedwrlock(conc_rwlock *rw, int64_t timeout_ns);

/* Release the lock the caller holds (read or write). -EPERM if the write lock
 * is held by another context, if the caller holds no read lock (a fork
 * child holds none of its parent's), or if the lock is not held at all. */
int conc_rwlock_unlock(conc_rwlock *rw);

#endif
