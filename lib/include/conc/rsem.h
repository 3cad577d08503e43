/* conc/rsem.h — robust counting semaphore: the permits of a holder that
 * dies come back, and the next taker learns it (multiprocessing.Semaphore
 * that survives kill -9). */
#ifndef CONC_RSEM_H
#define CONC_RSEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <conc/base.h>
#include <conc/shm.h>

/* A process's handle on a robust semaphore; the semaphore itself (its
 * count and its table of holders) lives in a shared segment. */
typedef struct conc_rsem conc_rsem;


/* At most this many holders (contexts holding permits) at once. */
#define CONC_RSEM_HOLDERS_MAX 4096u
#define CONC_RSEM_PERMITS_MAX 0x7fffffffu

typedef struct conc_rsem_attr {
	uint32_t permits;	/* 0: 1 */
	uint32_t holders;	/* room in the holder table; 0: as many as
				 * permits, at most CONC_RSEM_HOLDERS_MAX */
	const char *name;	/* NULL: anonymous, shared with children
				 * forked later; else a name under /dev/shm */
	unsigned flags;		/* CONC_SHM_EXCL, CONC_SHM_MODE(m) */
} conc_rsem_attr;

/*
 * Create a robust semaphore (NULL attr: one permit, anonymous). Without
 * CONC_SHM_EXCL an existing named one is opened instead, and must have
 * the same permits and holders. Returns 0, -EINVAL (permits beyond
 * CONC_RSEM_PERMITS_MAX, holders beyond CONC_RSEM_HOLDERS_MAX, a bad name
 * or flags, an existing one of another geometry), -EPROTO (the name holds
 * something else), -ENOSPC (/dev/shm or memory has no room for the
 * segment, holder table included: it is allocated first, as every take
 * reads it whole), and what conc_shm_create() returns.
 */
int conc_rsem_create(conc_rsem **s, const conc_rsem_attr *attr);

/* Open a named robust semaphore: 0, what conc_shm_open() returns, or
 * -EPROTO (not set up within a second: its creator died first). */
int conc_rsem_open(conc_rsem **s, const char *name);

/* As conc_rsem_open(), for a segment's fd (dup'ed; the caller keeps fd),
 * with conc_shm_open_fd()'s checks: no owner or mode check, the caller
 * vouches for the file. -EBADF: fd is not open; -EINVAL: fd negative. */
int conc_rsem_open_fd(conc_rsem **s, int fd);

/* The semaphore's segment fd (the handle's: do not close it;
 * close-on-exec), to pass to another process, or -EINVAL (NULL s). */
int conc_rsem_fd(const conc_rsem *s);

/* Unmap and free this process's handle: 0, -EINVAL, or -EBUSY while a
 * thread of this process holds permits through it (post them first: a
 * held permit is a robust lock that the thread's robust list points at,
 * and must stay mapped). No call may be under way on the handle. */
int conc_rsem_destroy(conc_rsem *s);

/*
 * Take one permit, waiting at most timeout_ns (CONC_FOREVER: as long as
 * it takes; 0: only try). The permit belongs to the calling context
 * (thread, or coroutine): only it can post it, through the same handle
 * (another handle is another mapping), and it comes back by
 * itself when that thread ends or its process dies, at any instruction.
 * A context may hold several (one holder, counted).
 * Returns 0; -EOWNERDEAD (the permit is taken, and a holder died holding
 * permits since the last taker was told: what they guarded may be half
 * done); -ETIMEDOUT; -EUSERS (a free permit, but the holder table is
 * full: see CONC_RSEM_HOLDERS_MAX); -ENOTSUP (the thread has no usable
 * robust list, see conc_mutex_lock()); -EDEADLK or -ENOTRECOVERABLE
 * (the takers' lock names the caller as its owner, or was marked
 * unrecoverable: a peer wrote the segment; -EDEADLK also from a signal
 * handler that interrupted its thread's own take); -ECANCELED (a cancelled
 * coroutine); -EINVAL.
 * A holder's death is noticed within about 100 ms by those waiting.
 */
int conc_rsem_timedwait(conc_rsem *s, int64_t timeout_ns);

/* conc_rsem_timedwait(s, CONC_FOREVER). */
int conc_rsem_wait(conc_rsem *s);

/* As conc_rsem_timedwait(s, 0), but -EAGAIN when no permit is free. */
int conc_rsem_trywait(conc_rsem *s);

/* Give back one permit the calling context took through s, and wake a
 * waiter. Never waits. 0, -EPERM (it holds none through s), -EINVAL. */
int conc_rsem_post(conc_rsem *s);

/* Free permits now (a snapshot: those of a holder that died are free as
 * soon as the kernel marked them, before a taker takes them back), or
 * -EINVAL. */
int conc_rsem_value(conc_rsem *s);

/* The number of permits the semaphore was created with, or -EINVAL. */
int conc_rsem_permits(conc_rsem *s);

/* A holder: a thread (tid) of process pid holding count permits since
 * since_ns (CLOCK_REALTIME, nanoseconds since the Epoch). */
typedef struct conc_rsem_holder {
	pid_t pid;
	pid_t tid;
	uint32_t count;
	int64_t since_ns;
} conc_rsem_holder;

/* Fill out[0..max) with the live holders now (a snapshot), in table
 * order. Returns how many there are (more than max: only max stored),
 * or -EINVAL. The table is written by every peer: treat it as a report. */
ssize_t conc_rsem_holders(conc_rsem *s, conc_rsem_holder *out, size_t max);

#endif
