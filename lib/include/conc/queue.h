/* conc/queue.h — bounded MPMC queue of byte messages, between threads and
 * processes, that survives a process killed in the middle of any call
 * (multiprocessing.Queue, queue.Queue). */
#ifndef CONC_QUEUE_H
#define CONC_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <conc/base.h>

/* A process's handle on a queue; the queue itself lives in a segment. */
typedef struct conc_queue conc_queue;

typedef struct conc_queue_attr {
	uint32_t capacity;	/* messages; 0: 64 */
	uint32_t max_msg;	/* bytes per message; 0: 8192 */
	const char *name;	/* NULL: anonymous, shared with children forked
				 * later; else a name under /dev/shm */
	unsigned flags;		/* CONC_SHM_EXCL, CONC_SHM_MODE(m) */
} conc_queue_attr;

/*
 * Create a queue (NULL attr: the defaults, anonymous), with capacity
 * rounded up to a power of two slots of max_msg + 8 bytes (so that the
 * order holds across the wrap of its 32-bit counts). Without
 * CONC_SHM_EXCL, an existing named queue is opened instead, and must have
 * the same capacity and max_msg. Returns 0, -EINVAL (capacity or max_msg
 * beyond 1<<24, slots of more than 1<<40 bytes in all, a bad name or
 * flags, an existing queue of another
 * geometry), -EPROTO (the name holds something else), -ENOSPC
 * (/dev/shm or memory has no room for the header's page, the only one
 * set-up writes; the slots' pages come as messages touch them), and what
 * conc_shm_create() returns.
 */
int conc_queue_create(conc_queue **q, const conc_queue_attr *attr);

/* Open a named queue created by another process: 0 or what
 * conc_shm_open() returns (-EPROTO: not a queue, or one whose creator died
 * before setting it up, or whose geometry is corrupt, or one made by a
 * conc built before 2026-12-07, whose slots were laid out otherwise). */
int conc_queue_open(conc_queue **q, const char *name);

/* As conc_queue_open(), for a segment's fd (dup'ed; the caller keeps fd),
 * with conc_shm_open_fd()'s checks: no owner or mode check, the caller
 * vouches for the file. -EBADF: fd is not open; -EINVAL: fd negative. */
int conc_queue_open_fd(conc_queue **q, int fd);

/* The queue's segment fd (the handle's: do not close it; close-on-exec),
 * to pass to another process, or -EINVAL (NULL q). */
int conc_queue_fd(const conc_queue *q);

/*
 * Put a copy of len bytes, waiting up to timeout_ns for room (CONC_FOREVER:
 * as long as it takes; 0: not at all). Returns 0, -EMSGSIZE (len >
 * max_msg), -EPIPE (closed), -ETIMEDOUT when still full after timeout_ns
 * (at once for 0), -EINVAL, -ENOTSUP (see conc_mutex_lock()), -EPROTO or
 * -ENOTRECOVERABLE or -EDEADLK (the segment was written by something
 * else: a side's lock left unusable, or naming the caller; -EDEADLK also
 * for a signal handler's put while its thread is inside a put, and the
 * same for gets). Another
 * producer in the middle of its put (a copy) is waited for even with 0,
 * for at most a second; one asleep on a full queue is not.
 * No system call when the queue is not full and no consumer sleeps. A put
 * is wholly in the queue or not at all, even if the caller is killed
 * during it. Never -EINTR: signal handlers do not end the wait.
 */
int conc_queue_put(conc_queue *q, const void *msg, size_t len,
		   int64_t timeout_ns);

/*
 * Take the oldest message into buf, waiting up to timeout_ns. Returns its
 * length, -ETIMEDOUT when still empty after timeout_ns (at once for 0),
 * -EPIPE when the queue is closed and empty (a put that began before the
 * close and still copies is waited for: -ETIMEDOUT if the timeout passes
 * first, at most a second for 0), -EMSGSIZE when cap is smaller
 * than the message (which stays in the queue for a call with a larger
 * buffer), -EPROTO (a recorded length beyond max_msg: the segment was
 * written by something else; also -ENOTRECOVERABLE), -EINVAL (also: the
 * caller is between conc_queue_get_begin() and its commit on this handle),
 * -EDEADLK (the same, on another handle of the queue), -ENOTSUP.
 * timeout_ns also bounds the wait for a consumer between get_begin and
 * commit, which holds the consumer side meanwhile; with 0, a get waits for
 * other gets to finish (a copy each), not for that.
 * A consumer killed inside this call leaves the message in the queue or
 * loses it, as if the call had been whole; one killed after it returned
 * loses the message it took. Use conc_queue_get_begin() to lose nothing.
 */
ssize_t conc_queue_get(conc_queue *q, void *buf, size_t cap,
		       int64_t timeout_ns);

/*
 * Two-step get: begin copies the oldest message into buf without removing
 * it, and holds the consumer side until conc_queue_get_commit() removes it
 * or conc_queue_get_abort() leaves it for the next consumer; both must be
 * called by the execution context (thread, or coroutine on it) that began
 * (others get -EINVAL), and other consumers, on this handle or any other,
 * other coroutines of the same thread included, wait meanwhile. If the caller
 * is killed in between, or its thread ends, the message stays in the queue
 * (it may then be delivered twice, never lost), and nothing stays pending
 * (a later thread with the same tid, or job of a reused conc thread, is
 * another caller). Returns as conc_queue_get(); commit and
 * abort return 0 or -EINVAL (no two-step get of this caller pending).
 * conc_queue_destroy() of the handle aborts a pending one (another
 * thread's makes it -EBUSY).
 */
ssize_t conc_queue_get_begin(conc_queue *q, void *buf, size_t cap,
			     int64_t timeout_ns);
int conc_queue_get_commit(conc_queue *q);
int conc_queue_get_abort(conc_queue *q);

/* Messages in the queue now (a snapshot, between 0 and the capacity;
 * one taken by a pending two-step get still counts), or -EINVAL. */
ssize_t conc_queue_size(conc_queue *q);

/* No more puts (-EPIPE); gets drain what is left, then get -EPIPE. Wakes
 * every waiter, even if the caller is killed during the call. Never waits.
 * Idempotent: 0 or -EINVAL. */
int conc_queue_close(conc_queue *q);

/* Unmap and free this process's handle (the queue lives on in others);
 * a named queue's name stays until conc_shm_unlink(). No call may be under
 * way on the handle (close the queue to wake waiters, join them, then
 * destroy). 0, -EINVAL, or -EBUSY (another thread or coroutine has a
 * two-step get pending on it: its lock is on that thread's robust list;
 * nothing is done). */
int conc_queue_destroy(conc_queue *q);

#endif
