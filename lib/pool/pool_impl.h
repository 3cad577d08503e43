/*
 * The pool's internals, shared by the files of lib/pool. Not installed.
 *
 * Tasks live in slots of one anonymous shared segment. A slot is owned by
 * the parent while FREE, DONE or ABANDONED, by a worker while RUNNING(id);
 * the indices of QUEUED slots travel to the workers through a conc_queue.
 * A worker takes an index with get_begin, claims the slot by CAS QUEUED ->
 * RUNNING(id) and only then commits: killed in between, the index stays in
 * the queue. So an index may be in the queue twice; whoever finds its slot
 * not QUEUED commits and skips it.
 */
#ifndef CONC_POOL_IMPL_H
#define CONC_POOL_IMPL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <conc/mutex.h>
#include <conc/proc.h>
#include <conc/queue.h>
#include <conc/shm.h>
#include <conc/pool.h>
#include "sys/self.h"
#include "wait/wait.h"
#include "task/proc_impl.h"
#include "task/lock.h"

#define SLOT_FREE	0u
#define SLOT_QUEUED	1u
#define SLOT_DONE	2u
#define SLOT_ABANDONED	3u	/* failed by the parent, worker still alive */
#define SLOT_RUNNING	16u	/* + the worker's id */
#define CHUNK_MAX	256u	/* items in one slot */
#define SLOTS_PER_WORKER 4u

/* The shared part of a slot; lens[] (CHUNK_MAX int64), the argument area
 * and the result area follow it. */
struct slot {
	uint32_t state;
	uint32_t nitems;	/* items in the chunk: 1 for a submit */
	uint32_t done;		/* items finished, lens[] written below */
	uint32_t pad;
	int64_t started;	/* CLOCK_MONOTONIC when the item began; 0 unknown */
	conc_task_fn fn;
	uint64_t in_size;	/* bytes per argument */
	uint64_t out_size;	/* result capacity per item */
	char pad2[16];
};

struct worker {
	conc_proc *proc;	/* NULL: no process in this place */
	uint32_t id;
	int abandoned;		/* slot freed at its death, or -1 */
	int64_t not_before;	/* no replacement before (CLOCK_MONOTONIC) */
};

struct conc_future {
	conc_pool *pool;	/* NULL once the pool is destroyed */
	struct conc_future *prev, *next;	/* the pool's live futures */
	int state;		/* CONC_FUTURE_PENDING or 0 */
	int status;		/* the status of item 0 */
	uint32_t nitems;
	ssize_t *lens;		/* per item: length or result code */
	char *result;		/* nitems * out_size bytes */
	size_t out_size;
	void (*done)(conc_future *, void *);
	void (*error)(conc_future *, void *);
	void *cb_arg;
	conc_future *cb_next;	/* on the list of callbacks to run */
	bool cb_pending;	/* finished, callback not yet run */
	bool released;		/* free once finished and called back */
};

struct conc_pool {
	conc_mutex lock;
	/* Rounds ended: a futex word, bumped and woken (lock held) after each
	 * round, which the threads not supervising sleep on (unlocked). */
	uint32_t progress;
	bool supervising;	/* a thread is in a round */
	bool closed, terminated;
	conc_pool_attr attr;
	conc_shm *shm;
	conc_queue *q;
	int efd;		/* workers write it when a task ends */
	char *base;
	size_t stride;
	uint32_t nslots, nfree;
	conc_future **owner;	/* per slot: its future */
	struct worker *w;
	uint32_t nworkers, next_id;
	conc_future *futures;	/* live futures */
	pid_t pid;		/* the creator: workers are its children */
};

static inline struct slot *__conc_pool_slot(conc_pool *p, uint32_t i)
{
	return (struct slot *)(p->base + (size_t)i * p->stride);
}

static inline int64_t *__conc_pool_lens(struct slot *s)
{
	return (int64_t *)(s + 1);
}

static inline char *__conc_pool_arg(struct slot *s)
{
	return (char *)(__conc_pool_lens(s) + CHUNK_MAX);
}

static inline char *__conc_pool_res(conc_pool *p, struct slot *s)
{
	return __conc_pool_arg(s) + p->attr.max_arg;
}

/* The caller is not the pool's creator: a worker, or a fork child of the
 * program. Its copy of the pool shares the slots, the queue, the eventfd
 * and the workers' pidfds with the real one, so every call that would
 * touch them is refused there (-EPERM). */
/* The pool's lock, taken by a call with deadline dl before it changes
 * anything: 0, or -ECANCELED (without it) in a cancelled coroutine. A
 * call whose deadline has passed (timeout 0) only looks and never returns
 * -ECANCELED (conc_task_cancel(3)): it takes the lock whatever happens and
 * leaves a cancel its wait took to the task's next wait. */
static inline int __conc_pool_lock(conc_pool *p, conc_deadline dl)
{
	if (!__conc_expired(dl))
		return conc_mutex_lock(&p->lock);
	__conc_lock_keep(&p->lock);
	return 0;
}

/* The lock again within a call (state to put back): 0, or -ECANCELED if
 * a cancel came meanwhile, which a call past its deadline leaves to the
 * task's next wait as above. */
static inline int __conc_pool_relock(conc_pool *p, conc_deadline dl)
{
	if (!__conc_expired(dl))
		return __conc_lock_anyway(&p->lock);
	__conc_lock_keep(&p->lock);
	return 0;
}

static inline bool __conc_pool_foreign(const conc_pool *p)
{
	return __conc_self()->pid != p->pid;
}

/* Fork the worker of place i: 0 or -errno. Lock held. */
int __conc_pool_spawn(conc_pool *p, uint32_t i) __CONC_HIDDEN;

/* Queue a chunk of nitems arguments of in_size bytes for f (its
 * out_size: the result capacity of each); wait (supervising) for a slot
 * until dl: -ETIMEDOUT when none came free. Lock not held. On error f is
 * not linked to the pool: the caller frees it. */
int __conc_pool_queue(conc_pool *p, conc_task_fn fn, const void *arg,
		 uint32_t nitems, size_t in_size, conc_future *f,
		 conc_deadline dl) __CONC_HIDDEN;

/* conc_pool_submit_cb with a deadline; fp may be NULL. */
int __conc_pool_submit(conc_pool *p, conc_task_fn fn, const void *arg,
		       size_t len,
		       void (*done)(conc_future *f, void *cb_arg),
		       void (*error)(conc_future *f, void *cb_arg),
		       void *cb_arg, conc_future **fp, conc_deadline dl)
	__CONC_HIDDEN;

/* conc_future_wait with a deadline. */
int __conc_future_wait_until(conc_future *f, conc_deadline dl) __CONC_HIDDEN;

/* A pending future of nitems results of out_size bytes, or NULL. */
conc_future *__conc_pool_future_new(uint32_t nitems, size_t out_size)
	__CONC_HIDDEN;

/* One round of supervision, or a wait for the round of another thread,
 * until something happens or the deadline. Lock held on entry and on
 * return (dropped meanwhile; callbacks run unlocked). 0 or -ETIMEDOUT. */
int __conc_pool_round(conc_pool *p, conc_deadline dl) __CONC_HIDDEN;

/* A round has ended: wake the threads waiting for it. Lock held. */
void __conc_pool_progress(conc_pool *p) __CONC_HIDDEN;

/* Finish f with status (its lens/result filled for items done); moves it
 * to the callback list *cbs. Lock held. */
void __conc_pool_finish(conc_pool *p, conc_future *f, int status,
		   conc_future **cbs) __CONC_HIDDEN;

/* Copy the items of slot i that finished into its future, fail the rest
 * with cause (0: none), free the slot, finish the future. Lock held. */
void __conc_pool_collect(conc_pool *p, uint32_t i, int cause, conc_future **cbs)
	__CONC_HIDDEN;

/* Run the callbacks of the list, unlocked, then free the released. */
void __conc_pool_callbacks(conc_pool *p, conc_future *cbs) __CONC_HIDDEN;

/* Free a future (lock held if it has a pool). */
void __conc_pool_future_free(conc_future *f) __CONC_HIDDEN;

/* Items per chunk for map and imap: chunk, or about n / (4 * workers),
 * within CHUNK_MAX and the slot's argument and result areas. */
size_t __conc_pool_chunk(conc_pool *p, size_t n, size_t in_size, size_t out_size,
		    size_t chunk) __CONC_HIDDEN;

/* The checks map and imap share, by deadline dl (the pool's lock, as
 * __conc_pool_lock): 0, -EINVAL, -EPERM, -EMSGSIZE, -EPIPE (closed),
 * -ECANCELED. Lock not held. */
int __conc_pool_map_check(conc_pool *p, conc_task_fn fn, const void *in, size_t n,
		     size_t in_size, size_t out_size, conc_deadline dl) __CONC_HIDDEN;

/* Status -> what conc_future_result returns. */
static inline ssize_t __conc_pool_code(int status)
{
	if (status == CONC_FUTURE_TIMEOUT)
		return -ETIMEDOUT;
	if (CONC_FUTURE_IS_SIGNALED(status) || CONC_FUTURE_IS_EXITED(status))
		return -ECHILD;
	return status;
}

#endif
