/*
 * The loop's insides: tasks, the scheduler, the ring, timers, the door.
 *
 * One loop per thread. The scheduler runs on the thread's own stack (the
 * one conc_run was called on); each task runs on a stack of its own (or on
 * the loop's shared stack). A task that suspends switches straight to the
 * next runnable task when both have stacks of their own, else back to the
 * scheduler, so a shared-stack task is copied out and in while no task
 * runs on that stack (sched.c).
 *
 * A task waits in one of two ways:
 *   PARKED   nothing in flight in the kernel: a timer (sleep, fallback
 *            futex wait), a join, a yield-like park. wake() ends it.
 *   RING     ops in flight in the ring (t->inflight CQEs still to come);
 *            it resumes once the last CQE came, never before, so the
 *            kernel never writes into a task that has moved on.
 * Cancelling a PARKED task wakes it with -ECANCELED; a RING task gets an
 * ASYNC_CANCEL for its op and resumes once all its CQEs came.
 */
#ifndef CONC_LOOP_IMPL_H
#define CONC_LOOP_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <liburing.h>
#include <conc/loop.h>
#include "wait/wait.h"
#include "loop/coro.h"

#define __CONC_LOOP_HIDDEN __attribute__((visibility("hidden")))

enum task_state { T_NEW, T_RUNNABLE, T_RUNNING, T_PARKED, T_RING, T_DONE };

/* What one joiner or gatherer waits with (lib/loop/join.c): seq counts the
 * watched tasks that have ended; co is the waiting task when it waits
 * parked on the very loop of the tasks, else the waiter sleeps on seq. */
struct jwait {
	uint32_t seq;
	uint32_t failed;	/* a watched task returned < 0 */
	struct conc_task *co;
};

/* A message through a loop's door (lib/loop/door.c). */
struct msg {
	struct msg *next;
	int kind;			/* MSG_CALL, MSG_CANCEL, MSG_FREE */
	void (*fn)(void *);
	void *arg;
};
enum { MSG_CALL, MSG_CANCEL, MSG_FREE };

/* One op in flight for a task: a CQE's user_data is a slot's address,
 * tagged in its low bit when it is a timeout (which only counts, and marks
 * the task timed out when it fired). */
struct opslot {
	struct conc_task *t;
	int res;
	bool pending;
	bool more;			/* a recv left data in the socket */
} __attribute__((aligned(16)));
#define TAG_TIMEOUT	1u
#define TAG_MASK	15u
#define UD_DOOR		((uint64_t)2)	/* the door's eventfd read */
#define UD_NONE		((uint64_t)0)	/* fire and forget (cancels) */

struct conc_task {
	struct __conc_coro_ctx ctx;
	struct loop *loop;
	struct conc_task *next;		/* run queue */
	struct conc_task *all_prev, *all_next;	/* every task of the loop */
	int (*fn)(void *);
	void *arg;
	enum task_state state;
	uint32_t id;			/* execution context (wait.h) */
	bool shared, started, detached, cancel;
	bool is_main;			/* conc_run's: its loop frees it */
	bool recv_more;			/* its last recv left data behind */
	bool timed_out;			/* the op's linked timeout fired */
	bool wake_first;		/* RING: resume at the first CQE */
	int wake_res;			/* what park() returns */
	unsigned inflight;		/* CQEs still to come */
	union {
		struct {
			struct opslot op, tmo;	/* the op and its timeout */
		};
		struct msg freemsg;	/* once ended: a foreign join frees
					 * it through the door; before its
					 * first run, a conc_loop_call task's
					 * call (door.c) */
	};
	struct opslot *ops;		/* several polls at once, or NULL */
	struct door *door;		/* its loop's: outlives the loop, for
					 * a foreign join or cancel then */
	union {
		/* RING: the timeout, read when its SQE is submitted, which
		 * is before the task can resume and park. */
		struct __kernel_timespec ts;
		/* PARKED with a timer in the loop's list of ascending
		 * deadlines: the one before (the one after is next). */
		struct conc_task *tprev;
	};
	uint32_t heap_i;		/* index + 1 in the timer heap, 0: none,
					 * TIMER_LISTED: in the list */
	uint32_t door_gen;		/* its loop's generation of the door */
	union {
		int64_t when;		/* timer deadline */
		uint64_t fpctl;		/* before the first run: the FP
					 * control words of its creator */
	};
	int exit_code;
	unsigned nops;
	struct jwait *watch;		/* who joins it; WATCH_DONE once ended,
					 * WATCH_CLAIMED by its joiner */
	struct jwait jw;		/* its own, when it joins others */
	union {
		struct __conc_stack stack;	/* its own stack */
		struct __conc_saved_stack saved; /* shared: its part, copied out */
	};
	bool linked;			/* on the loop's list of tasks */
	/* Asleep on a shared futex word (watch.c): its group, and the
	 * group's other sleepers. */
	struct fwatch *fw;
	struct conc_task *fw_prev, *fw_next;
	char name[16];
} __attribute__((aligned(16)));

#define TIMER_LISTED UINT32_MAX

#define WATCH_DONE ((struct jwait *)1)
/* Ended, and claimed by the joiner jw: no other joiner may take it. */
#define WATCH_CLAIMED(jw) ((struct jwait *)((uintptr_t)(jw) | 2))
/* Added to a claim by conc_run's last pass (run.c), which left the task
 * to its joiner: the joiner frees it, also when it gives it back. */
#define WATCH_ORPHAN	((uintptr_t)4)
/* Freed by conc_run's last pass: no joiner had claimed it. */
#define WATCH_GONE ((struct jwait *)5)


/* The door: what other threads may touch. Doors are never freed but
 * reused by later loops, one generation each: a conc_loop handle names a
 * door and its generation (door_table.c), so a stale one gets -EPIPE,
 * never freed memory nor a later loop. */
struct door {
	struct msg *inbox;		/* LIFO of messages; DOOR_SHUT once ended */
	uint32_t busy;			/* senders between push and eventfd write */
	uint32_t gen;			/* the loop's, while it runs; 0: never used */
	int efd;
	uint32_t idx;			/* in the table */
	uint32_t next_free;		/* idx + 1 of the next free door, 0: none */
	uint32_t ending;		/* main returned: calls are refused, so
					 * callers cannot keep the loop alive */
	pid_t pid;			/* the process of the loop that has it:
					 * a fork child holds a copy, no loop */
};
#define DOOR_SHUT ((struct msg *)1)

struct loop {
	struct io_uring ring;
	struct __conc_coro_ctx sched;
	struct conc_task *cur;
	struct conc_task *rq_head, *rq_tail;
	struct conc_task *all;		/* list of every task not yet freed */
	struct timer {
		int64_t when;
		struct conc_task *t;
	} *heap;			/* timers, by deadline (timer.c) */
	size_t heap_n, heap_cap;
	/* Timers that came in deadline order, as sleeps of one length do:
	 * a list through next/tprev, O(1) in and out (timer.c). */
	struct conc_task *tl_head, *tl_tail;
	struct door *door;
	struct __conc_waiter waiter;
	struct __conc_self *self;
	pid_t pid;			/* the process the loop belongs to */
	struct __conc_stack sstack;	/* the shared stack, once needed */
	uint64_t efd_buf;
	uint32_t next_id;
	unsigned since_reap, queued;	/* switches since the last reap; SQEs */
	size_t alive;			/* tasks not yet ended */
	struct conc_task *main;
	bool futex_op;			/* IORING_OP_FUTEX_WAIT works */
	bool waitid_op;			/* IORING_OP_WAITID works */
	bool deferred;			/* DEFER_TASKRUN: CQEs only on enter */
	bool taskrun_flag;		/* IORING_SQ_TASKRUN tells they wait */
	uint32_t spin_ns;		/* idle_spin.c; 0: never spins */
	uint32_t spin_skip, spin_every;
	size_t ops;			/* task ops in flight (not the door's) */
	bool ending;
	/* Groups of tasks asleep on one futex word (watch.c): a hash table
	 * of fw_cap chains, fw_n groups, looked at next at fw_due. */
	struct fwatch **fw_tab;
	size_t fw_cap, fw_n;
	int64_t fw_due;
};

/* Where the kernel has no IORING_OP_FUTEX_WAIT (before 6.7), or a poll
 * ended on what the caller did not ask for: how often a task looks again. */
#define LOOP_FALLBACK_NS	1000000

#ifdef CONC_FAULT_INJECTION
/* Test builds: called where a race window is, so a test can hold it open
 * (join.c: before a joiner gives its claims back); tasks allocated and
 * not yet freed (task.c). */
extern void (*__conc_fi_loop_unwatch)(void);
extern long __conc_fi_loop_tasks;
#define CONC_FI_LOOP_POINT(p) do { if (p) p(); } while (0)
#define CONC_FI_LOOP_COUNT(v, d) __atomic_fetch_add(&(v), (d), __ATOMIC_RELAXED)
#else
#define CONC_FI_LOOP_POINT(p) ((void)0)
#define CONC_FI_LOOP_COUNT(v, d) ((void)0)
#endif

extern __thread struct loop *__conc_loop_tls
	__attribute__((tls_model("initial-exec")));

void __conc_loop_forget(void) __CONC_LOOP_HIDDEN;

/* The calling thread's loop, or NULL. In the child of a fork made by a
 * task the parent's loop is a copy that shares the parent's ring: there
 * the thread forgets it and waits as a plain thread. */
static inline struct loop *__conc_loop(void)
{
	struct loop *l = __conc_loop_tls;

	if (l && __builtin_expect(__conc_self()->pid != l->pid, 0)) {
		__conc_loop_forget();
		return NULL;
	}
	return l;
}

/* The running task of the calling thread, or NULL. */
static inline struct conc_task *__conc_cur(void)
{
	struct loop *l = __conc_loop();

	return l ? l->cur : NULL;
}

/* sched.c */
void __conc_sched_run(struct loop *l) __CONC_LOOP_HIDDEN;
void __conc_runq_push(struct loop *l, struct conc_task *t) __CONC_LOOP_HIDDEN;
int __conc_park(struct conc_task *t, int64_t dl) __CONC_LOOP_HIDDEN;
void __conc_wake_task(struct conc_task *t, int res) __CONC_LOOP_HIDDEN;
void __conc_suspend(struct conc_task *t) __CONC_LOOP_HIDDEN;

/* idle_spin.c: before the loop sleeps, spin while a completion may come
 * soon from another CPU, up to timer_ns (< 0: no timer). */
void __conc_idle_spin_init(struct loop *l) __CONC_LOOP_HIDDEN;
void __conc_idle_spin(struct loop *l, int64_t timer_ns) __CONC_LOOP_HIDDEN;

/* timer.c */
int __conc_timer_add(struct loop *l, struct conc_task *t) __CONC_LOOP_HIDDEN;
void __conc_timer_del(struct loop *l, struct conc_task *t) __CONC_LOOP_HIDDEN;
void __conc_timer_fire(struct loop *l, int64_t now) __CONC_LOOP_HIDDEN;

/* watch.c: tasks asleep on a shared futex word, grouped by word and
 * expected value, looked at together (add: 0 or -ENOMEM). */
int __conc_watch_add(struct conc_task *t, const uint32_t *word,
		     uint32_t expected, unsigned flags) __CONC_LOOP_HIDDEN;
void __conc_watch_del(struct conc_task *t) __CONC_LOOP_HIDDEN;
void __conc_watch_sweep(struct loop *l, int64_t now) __CONC_LOOP_HIDDEN;
void __conc_watch_free(struct loop *l) __CONC_LOOP_HIDDEN;

/* Whether a timer is set (the watch's sweep is one); the earliest
 * deadline, when one is. */
static inline bool __conc_timer_any(const struct loop *l)
{
	return l->heap_n || l->tl_head || l->fw_n;
}

static inline int64_t __conc_timer_first(const struct loop *l)
{
	int64_t first = INT64_MAX;

	if (l->heap_n)
		first = l->heap[0].when;
	if (l->tl_head && l->tl_head->when < first)
		first = l->tl_head->when;
	if (l->fw_n && l->fw_due < first)
		first = l->fw_due;
	return first;
}

/* ring.c */
struct io_uring_sqe *__conc_sqe(struct loop *l) __CONC_LOOP_HIDDEN;
struct io_uring_sqe *__conc_ring_op(struct conc_task *t,
				    conc_deadline dl) __CONC_LOOP_HIDDEN;
int __conc_ring_wait(struct conc_task *t, struct io_uring_sqe *sqe,
		     int64_t dl) __CONC_LOOP_HIDDEN;
int __conc_ring_wait_any(struct conc_task *t, int64_t dl) __CONC_LOOP_HIDDEN;
void __conc_ring_settle(struct conc_task *t) __CONC_LOOP_HIDDEN;
void __conc_ring_reap(struct loop *l) __CONC_LOOP_HIDDEN;
void __conc_ring_cancel(struct conc_task *t) __CONC_LOOP_HIDDEN;
void __conc_ring_probe(struct loop *l) __CONC_LOOP_HIDDEN;

/* task.c */
int __conc_task_new(struct loop *l, struct conc_task **out, int (*fn)(void *),
		    void *arg, const conc_task_attr *attr) __CONC_LOOP_HIDDEN;
/* A conc_loop_call task in two steps: made by the caller, on any thread
 * (its struct and stack: the loop has nothing left to allocate, so a call
 * that was accepted is never lost), then linked in by the loop; or
 * dropped by the caller when the loop refused it. */
int __conc_task_new_call(struct conc_task **out) __CONC_LOOP_HIDDEN;
void __conc_task_drop_call(struct conc_task *t) __CONC_LOOP_HIDDEN;
void __conc_task_link(struct loop *l, struct conc_task *t, int (*fn)(void *),
		      void *arg, const char *name) __CONC_LOOP_HIDDEN;
void __conc_task_free(struct loop *l, struct conc_task *t) __CONC_LOOP_HIDDEN;
void __conc_task_dealloc(struct conc_task *t) __CONC_LOOP_HIDDEN;
void __conc_task_unlink(struct loop *l, struct conc_task *t) __CONC_LOOP_HIDDEN;
void __conc_task_ended(struct loop *l, struct conc_task *t) __CONC_LOOP_HIDDEN;
void __conc_task_entry(void *arg) __CONC_LOOP_HIDDEN;
void __conc_task_cancel_here(struct conc_task *t) __CONC_LOOP_HIDDEN;

/* hook.c */
void __conc_hook_init(struct loop *l) __CONC_LOOP_HIDDEN;

/* door.c */
int __conc_door_open(struct loop *l) __CONC_LOOP_HIDDEN;
int __conc_door_post(struct door *d, uint32_t gen, struct msg *m) __CONC_LOOP_HIDDEN;
void __conc_door_drain(struct loop *l) __CONC_LOOP_HIDDEN;
void __conc_door_arm(struct loop *l) __CONC_LOOP_HIDDEN;
void __conc_door_shut(struct loop *l) __CONC_LOOP_HIDDEN;
void __conc_door_close(struct loop *l) __CONC_LOOP_HIDDEN;

/* door_table.c: a free door (gen 0 if new) or NULL; one back to the free
 * list; the handle of a door's current generation; the door and the
 * generation a handle names (NULL: not a handle). */
struct door *__conc_door_get(void) __CONC_LOOP_HIDDEN;
void __conc_door_put(struct door *d) __CONC_LOOP_HIDDEN;
conc_loop *__conc_door_handle(const struct door *d) __CONC_LOOP_HIDDEN;
struct door *__conc_door_of(const conc_loop *h, uint32_t *gen) __CONC_LOOP_HIDDEN;

/* Whether t belongs to the calling thread's loop: its door and the
 * door's generation name one loop, however long ago it ended (t->loop
 * may be freed, and a later loop may sit at the same address). */
static inline bool __conc_task_here(const struct conc_task *t)
{
	struct loop *l = __conc_loop();

	return l && l->door == t->door && l->door->gen == t->door_gen;
}

/* A pending cancellation, taken once by the next suspending call. */
static inline bool __conc_take_cancel(struct conc_task *t)
{
	if (!t->cancel)
		return false;
	t->cancel = false;
	return true;
}

/* The same, for a wait about to begin with deadline dl: one whose deadline
 * has passed (timeout 0) only looks, so it leaves the cancel pending for
 * the next call that has to wait (conc_task_cancel(3)): a look that took
 * it, and that the caller reads as "not yet", would lose it. */
static inline bool __conc_take_cancel_dl(struct conc_task *t, conc_deadline dl)
{
	if (!t->cancel || (dl >= 0 && sys_now_ns() >= dl))
		return false;
	t->cancel = false;
	return true;
}

#endif
