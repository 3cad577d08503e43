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
 * Create a queue (NULL attr: the defaults, anonymous). Returns 0,
 * -EINVAL (capacity or max_msg beyond 1<<24, a bad name), and what
 * conc_shm_create() returns.
 */
int conc_queue_create(conc_queue **q, const conc_queue_attr *attr);

/* Open a named queue created by another process: 0 or what
 * conc_shm_open() returns (-EPROTO: not a queue). */
int conc_queue_open(conc_queue **q, const char *name);

/*
 * Put a copy of len bytes. Returns 0, -EMSGSIZE (len > max_msg), -EPIPE
 * (closed), -ETIMEDOUT when still full after timeout_ns (0: at once),
 * -EINVAL. No system call when the queue is not full and no consumer
 * sleeps. A put is wholly in the queue or not at all, even if the caller
 * is killed during it.
 */
int conc_queue_put(conc_queue *q, const void *msg, size_t len,
		   int64_t timeout_ns);

/*
 * Take the oldest message into buf. Returns its length, -ETIMEDOUT when
 * still empty after timeout_ns, -EPIPE when the queue is closed and empty,
 * -EMSGSIZE when cap is smaller than the message (which stays in the queue
 * for a call with a larger buffer), -EINVAL.
 * A consumer killed after this returned loses the message it took; use
 * conc_queue_get_begin() to lose nothing.
 */
ssize_t conc_queue_get(conc_queue *q, void *buf, size_t cap,
		       int64_t timeout_ns);

/*
 * Two-step get: begin copies the oldest message into buf without removing
 * it, and holds the consumer side until conc_queue_get_commit() removes it
 * or conc_queue_get_abort() leaves it for the next consumer. If the caller
 * is killed in between, the message stays in the queue (it may then be
 * delivered twice, never lost). Returns as conc_queue_get().
 */
ssize_t conc_queue_get_begin(conc_queue *q, void *buf, size_t cap,
			     int64_t timeout_ns);
int conc_queue_get_commit(conc_queue *q);
int conc_queue_get_abort(conc_queue *q);

/* Messages in the queue now (a snapshot), or -EINVAL. */
ssize_t conc_queue_size(conc_queue *q);

/* No more puts (-EPIPE); gets drain what is left, then get -EPIPE. Wakes
 * every waiter. Idempotent: 0 or -EINVAL. */
int conc_queue_close(conc_queue *q);

/* Unmap and free this process's handle (the queue lives on in others);
 * a named queue's name stays until conc_shm_unlink(). 0 or -EINVAL. */
int conc_queue_destroy(conc_queue *q);

#endif
