/*
 * state: bit 31 write-locked, bit 30 readers may sleep on state, bits
 * 16..29 writers waiting, bits 0..15 readers inside. Readers stay out while
 * any writer waits, so writers cannot starve. Writers sleep on wseq, which
 * every hand-over to a writer bumps: a writer reads wseq before its last
 * look at state, so a hand-over between the two is never missed.
 */
#include <errno.h>
#include <string.h>
#include <conc/rwlock.h>
#include "wait/wait.h"

#define RW_WRITER	0x80000000u
#define RW_RSLEEP	0x40000000u
#define RW_W1		0x00010000u
#define RW_WMASK	0x3fff0000u
#define RW_RMASK	0x0000ffffu

int conc_rwlock_init(conc_rwlock *rw, unsigned flags)
{
	if (__CONC_BAD(rw) || (flags & ~CONC_PRIVATE))
		return -EINVAL;
	*rw = (conc_rwlock)CONC_RWLOCK_INIT;
	rw->flags = flags;
	return 0;
}

/*
 * The read locks this thread's contexts hold, by lock and context, so that
 * a read-unlock by a context that holds none is refused (-EPERM) instead of
 * letting a writer in while a reader is inside. The state word only counts
 * readers; this private table says who they are. Beyond READS_MAX locks
 * held at once, `untracked` counts the rest, and an unlock that matches no
 * entry is let through while it is non-zero.
 */
#define READS_MAX 16
static __thread struct {
	struct { const conc_rwlock *rw; uint32_t ctx, n; } e[READS_MAX];
	uint32_t untracked;
	int32_t pid;	/* the process the table was filled in */
} reads __attribute__((tls_model("initial-exec")));

/* The caller's context. A fork child inherits the table of the thread
 * that forked, but none of its read locks: an unlock there would release
 * the parent's (on a lock in shared memory), letting a writer in while the
 * parent reads. So the table is emptied in a new process. */
static uint32_t reads_ctx(void)
{
	struct __conc_self *s = __conc_self();

	if (__builtin_expect(reads.pid != s->pid, 0)) {
		memset(&reads, 0, sizeof(reads));
		reads.pid = s->pid;
	}
	return __conc_ctx(s);
}

static void read_taken(const conc_rwlock *rw)
{
	uint32_t ctx = reads_ctx(), i, fr = READS_MAX;

	for (i = 0; i < READS_MAX; i++) {
		if (reads.e[i].n && reads.e[i].rw == rw && reads.e[i].ctx == ctx) {
			reads.e[i].n++;
			return;
		}
		if (!reads.e[i].n && fr == READS_MAX)
			fr = i;
	}
	if (fr == READS_MAX) {
		reads.untracked++;
		return;
	}
	reads.e[fr].rw = rw;
	reads.e[fr].ctx = ctx;
	reads.e[fr].n = 1;
}

/* Whether the caller may give a read lock of rw back; counts it given. */
static bool read_given(const conc_rwlock *rw)
{
	uint32_t ctx = reads_ctx(), i;

	for (i = 0; i < READS_MAX; i++)
		if (reads.e[i].n && reads.e[i].rw == rw && reads.e[i].ctx == ctx) {
			reads.e[i].n--;
			return true;
		}
	if (!reads.untracked)
		return false;
	reads.untracked--;
	return true;
}

static void read_ungiven(const conc_rwlock *rw)
{
	read_taken(rw);
}

static void wake_writer(conc_rwlock *rw)
{
	__atomic_fetch_add(&rw->wseq, 1, __ATOMIC_RELEASE);
	__conc_wake(&rw->wseq, 1, rw->flags);
}

static bool writer_is_me(const conc_rwlock *rw)
{
	struct __conc_self *s = __conc_self();

	return __atomic_load_n(&rw->owner, __ATOMIC_RELAXED) == (uint32_t)s->tid &&
	       __atomic_load_n(&rw->ctx, __ATOMIC_RELAXED) == __conc_ctx(s);
}

static int rdlock(conc_rwlock *rw, int64_t timeout_ns)
{
	conc_deadline dl = -1;
	bool spun = false;
	int r;
	uint32_t v;

	if (__CONC_BAD(rw))
		return -EINVAL;
	v = __atomic_load_n(&rw->state, __ATOMIC_RELAXED);
	for (;;) {
		if (!(v & (RW_WRITER | RW_WMASK))) {
			if ((v & RW_RMASK) == RW_RMASK)
				return -EAGAIN;
			if (__atomic_compare_exchange_n(&rw->state, &v, v + 1, 0,
							__ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED)) {
				read_taken(rw);
				return 0;
			}
			continue;
		}
		if ((v & RW_WRITER) && writer_is_me(rw))
			return -EDEADLK;
		if (timeout_ns == 0)
			return -ETIMEDOUT;
		if (!spun) {
			spun = true;
			v = __conc_spin_while(&rw->state, v);
			dl = __conc_deadline(timeout_ns);
			continue;
		}
		if (!(v & RW_RSLEEP) &&
		    !__atomic_compare_exchange_n(&rw->state, &v, v | RW_RSLEEP, 0,
						 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			continue;
		/* Readers are woken all at once. */
		r = __conc_wait(&rw->state, v | RW_RSLEEP, dl,
				rw->flags | __CONC_WAIT_ALONE);
		if (r < 0)
			return r;	/* -ETIMEDOUT, -ECANCELED */
		v = __atomic_load_n(&rw->state, __ATOMIC_RELAXED);
	}
}

/* A waiting writer gives up: if it was the last, let sleeping readers in;
 * if it may have swallowed a hand-over, pass it on. */
static void writer_leaves(conc_rwlock *rw)
{
	uint32_t v = __atomic_load_n(&rw->state, __ATOMIC_RELAXED), n;

	do {
		n = v - RW_W1;
		if (!(n & RW_WMASK))
			n &= ~RW_RSLEEP;
	} while (!__atomic_compare_exchange_n(&rw->state, &v, n, 0,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	if ((v & RW_RSLEEP) && !(n & RW_RSLEEP))
		__conc_wake(&rw->state, INT32_MAX, rw->flags);
	if (n & RW_WMASK)
		wake_writer(rw);
}

static int wrlock(conc_rwlock *rw, int64_t timeout_ns)
{
	uint32_t v, seq, queued = 0;
	conc_deadline dl = -1;
	bool spun = false;
	int r;

	if (__CONC_BAD(rw))
		return -EINVAL;
	v = __atomic_load_n(&rw->state, __ATOMIC_RELAXED);
	for (;;) {
		if (!(v & (RW_WRITER | RW_RMASK))) {
			if (__atomic_compare_exchange_n(&rw->state, &v,
							(v | RW_WRITER) - queued,
							0, __ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED)) {
				struct __conc_self *s = __conc_self();

				__atomic_store_n(&rw->owner, (uint32_t)s->tid,
						 __ATOMIC_RELAXED);
				__atomic_store_n(&rw->ctx, __conc_ctx(s),
						 __ATOMIC_RELAXED);
				return 0;
			}
			continue;
		}
		if ((v & RW_WRITER) && writer_is_me(rw))
			return queued ? (writer_leaves(rw), -EDEADLK) : -EDEADLK;
		if (timeout_ns == 0)
			return -ETIMEDOUT;
		if (!spun) {
			spun = true;
			v = __conc_spin_while(&rw->state, v);
			dl = __conc_deadline(timeout_ns);
			continue;
		}
		if (!queued) {
			if ((v & RW_WMASK) == RW_WMASK)
				return -EAGAIN;
			if (__atomic_compare_exchange_n(&rw->state, &v, v + RW_W1,
							0, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
				queued = RW_W1;
			continue;
		}
		seq = __atomic_load_n(&rw->wseq, __ATOMIC_ACQUIRE);
		v = __atomic_load_n(&rw->state, __ATOMIC_SEQ_CST);
		if (!(v & (RW_WRITER | RW_RMASK)))
			continue;
		r = __conc_wait(&rw->wseq, seq, dl, rw->flags);
		if (r < 0) {
			writer_leaves(rw);
			return r;
		}
		v = __atomic_load_n(&rw->state, __ATOMIC_RELAXED);
	}
}

int conc_rwlock_unlock(conc_rwlock *rw)
{
	uint32_t v, n;

	if (__CONC_BAD(rw))
		return -EINVAL;
	v = __atomic_load_n(&rw->state, __ATOMIC_RELAXED);
	if (v & RW_WRITER) {
		if (!writer_is_me(rw))
			return -EPERM;
		__atomic_store_n(&rw->owner, 0, __ATOMIC_RELAXED);
		do {
			n = v & ~RW_WRITER;
			if (!(n & RW_WMASK))
				n &= ~RW_RSLEEP;
		} while (!__atomic_compare_exchange_n(&rw->state, &v, n, 0,
						      __ATOMIC_RELEASE,
						      __ATOMIC_RELAXED));
		if (n & RW_WMASK)
			wake_writer(rw);
		else if (v & RW_RSLEEP)
			__conc_wake(&rw->state, INT32_MAX, rw->flags);
		return 0;
	}
	if (!read_given(rw))
		return -EPERM;
	do {
		if (!(v & RW_RMASK)) {
			read_ungiven(rw);
			return -EPERM;
		}
	} while (!__atomic_compare_exchange_n(&rw->state, &v, v - 1, 0,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	if ((v & RW_RMASK) == 1 && (v & RW_WMASK))
		wake_writer(rw);
	return 0;
}

int conc_rwlock_rdlock(conc_rwlock *rw)
{
	return rdlock(rw, CONC_FOREVER);
}

int conc_rwlock_timedrdlock(conc_rwlock *rw, int64_t timeout_ns)
{
	return rdlock(rw, timeout_ns < 0 ? CONC_FOREVER : timeout_ns);
}

int conc_rwlock_tryrdlock(conc_rwlock *rw)
{
	int r = rdlock(rw, 0);

	return r == -ETIMEDOUT ? -EBUSY : r;
}

int conc_rwlock_wrlock(conc_rwlock *rw)
{
	return wrlock(rw, CONC_FOREVER);
}

int conc_rwlock_timedwrlock(conc_rwlock *rw, int64_t timeout_ns)
{
	return wrlock(rw, timeout_ns < 0 ? CONC_FOREVER : timeout_ns);
}

int conc_rwlock_trywrlock(conc_rwlock *rw)
{
	int r = wrlock(rw, 0);

	return r == -ETIMEDOUT ? -EBUSY : r;
}
