/*
 * The scheduler: run queue, park and wake, and the loop that resumes tasks.
 * The wait hook is installed once per resume from here; the context id is
 * set at every switch, straight from task to task (__conc_suspend) or from
 * here. A shared-stack task is copied out and in here, while no task runs
 * on that stack.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "loop/loop_impl.h"

__thread struct loop *__conc_loop_tls __attribute__((tls_model("initial-exec")));

void __conc_loop_forget(void)
{
	struct __conc_self *s = __conc_self();

	__conc_loop_tls = NULL;
	s->waiter = NULL;
	s->ctx = s->base;
}

/* Reap the ring every REAP_EVERY resumes even when tasks stay runnable, so
 * a busy loop still sees I/O completions and timers. */
#define REAP_EVERY 64
/* Lines of a resuming task's stack asked for ahead (enter). */
#define RESUME_LINES 4

void __conc_runq_push(struct loop *l, struct conc_task *t)
{
	t->state = T_RUNNABLE;
	t->next = NULL;
	if (l->rq_tail)
		l->rq_tail->next = t;
	else
		l->rq_head = t;
	l->rq_tail = t;
}

static struct conc_task *runq_pop(struct loop *l)
{
	struct conc_task *t = l->rq_head;

	if (t && !(l->rq_head = t->next))
		l->rq_tail = NULL;
	return t;
}

static void enter(struct loop *l, struct conc_task *t)
{
	struct conc_task *n = l->rq_head;

	/* With many tasks, the next one's frames (or the top of its stack,
	 * where its first frame goes) are far from the caches and the TLB:
	 * ask for them now, while this one runs, and for the struct of the
	 * one after. A task resumes through the frames of its switch, its
	 * wait and their callers: their first lines (a sleeper's resume
	 * misses a line at each return otherwise: 100,000 woken sleepers,
	 * 48 -> 36 ms). A few tasks stay cached: nothing to ask. */
	if (l->alive > 256 && n && !n->shared) {
		char *p = n->started ? (char *)n->ctx.sp : n->stack.hi - 64;
		char *e = n->started ? p + RESUME_LINES * 64 : n->stack.hi;

		for (e = e < n->stack.hi ? e : n->stack.hi; p < e; p += 64)
			__builtin_prefetch(p, 1);
		__builtin_prefetch(n->next, 1);
	}
	l->cur = t;
	t->state = T_RUNNING;
	t->started = true;
	l->self->ctx = t->id;
	/* For the overflow report (lib/loop/coro.h): whose guard is whose. */
	__conc_stack_running(t->shared ? &l->sstack : &t->stack, t->name);
}

/*
 * Give the thread to the next runnable task. Between two tasks on stacks
 * of their own this is one switch, straight from task to task: the
 * scheduler's work for it (pop, context id) is done here. The scheduler's
 * own stack is needed to end a task (its stack is freed), to copy a
 * shared-stack task out or in, and every REAP_EVERY switches to look at
 * the ring and the timers.
 */
void __conc_suspend(struct conc_task *t)
{
	struct loop *l = t->loop;
	struct conc_task *next = l->rq_head;
	/* errno is the thread's, and the tasks share the thread: each finds
	 * its own again, as a thread's blocking call would leave it, not
	 * what the tasks that ran meanwhile left there. */
	int err = errno;

	if (next && !next->shared && !t->shared && t->state != T_DONE &&
	    l->since_reap < REAP_EVERY) {
		l->since_reap++;
		if (!(l->rq_head = next->next))
			l->rq_tail = NULL;
		if (!next->started)
			__conc_coro_init_ctl(&next->ctx, next->stack.hi, __conc_task_entry,
					     next, next->fpctl);
		enter(l, next);
		__conc_coro_switch(&t->ctx, &next->ctx);
	} else {
		__conc_coro_switch(&t->ctx, &l->sched);
	}
	errno = err;
}

int __conc_park(struct conc_task *t, int64_t dl)
{
	if (dl >= 0) {
		t->when = dl;
		if (__conc_timer_add(t->loop, t) < 0)
			return -ENOMEM;
	}
	t->state = T_PARKED;
	__conc_suspend(t);
	/* Woken by a cancel: that is its one -ECANCELED, so a second cancel
	 * made before the task ran again (which could only set the flag)
	 * is the same request, as asyncio's Task.cancel() twice is. */
	if (t->wake_res == -ECANCELED)
		t->cancel = false;
	return t->wake_res;
}

void __conc_wake_task(struct conc_task *t, int res)
{
	if (t->state != T_PARKED)
		return;
	if (t->heap_i)
		__conc_timer_del(t->loop, t);
	t->wake_res = res;
	__conc_runq_push(t->loop, t);
}

static void shared_out(struct loop *l, struct conc_task *t)
{
	if (__conc_sstack_save(&t->saved, &l->sstack, t->ctx.sp) < 0) {
		/* The task's stack would be lost: nothing sane is left. */
		fprintf(stderr, "conc: no memory to save shared-stack task %s\n",
			t->name);
		abort();
	}
}

static void resume(struct loop *l, struct conc_task *t)
{
	struct __conc_self *s = l->self;

	if (!t->started)
		__conc_coro_init_ctl(&t->ctx, t->shared ? l->sstack.hi : t->stack.hi,
				     __conc_task_entry, t, t->fpctl);
	else if (t->shared)
		__conc_sstack_restore(&t->saved, &l->sstack);
	enter(l, t);
	s->waiter = &l->waiter;
	__conc_coro_switch(&l->sched, &t->ctx);
	/* Not always t: tasks may have switched among themselves. */
	t = l->cur;
	__conc_stack_running(NULL, NULL);
	s->ctx = s->base;
	s->waiter = NULL;
	l->cur = NULL;
	if (t->state == T_DONE)
		__conc_task_ended(l, t);
	else if (t->shared)
		shared_out(l, t);
}

/* While tasks stay runnable: take the door's messages, submit what is
 * queued and, when the kernel posts completions only on request
 * (DEFER_TASKRUN) and ops are in flight, ask for them; a yield-only loop
 * makes no system call. */
static void look(struct loop *l)
{
	/* Messages from other threads are in memory: no need to wait for
	 * the eventfd's completion, which only a system call would post. */
	if (__atomic_load_n(&l->door->inbox, __ATOMIC_RELAXED))
		__conc_door_drain(l);
	if (l->deferred && l->ops)
		io_uring_submit_and_get_events(&l->ring);
	else if (l->queued)
		io_uring_submit(&l->ring);
	else
		return;
	l->queued = 0;
}

/* Nothing runnable: submit what is queued and sleep in the ring until a
 * completion, the door or the next timer. */
static void idle(struct loop *l)
{
	struct __kernel_timespec kts, *tp = NULL;
	struct io_uring_cqe *cqe;
	bool timer;

	/* No timer, no clock: an I/O-only loop reads it never. */
	if (__conc_timer_any(l))
		__conc_timer_fire(l, sys_now_ns());
	if (l->rq_head)
		return;
	timer = __conc_timer_any(l);
	__conc_idle_spin(l, timer ? sys_ns_left(__conc_timer_first(l)) : -1);
	/* The ring's timeout is relative: what is left after the spin (and
	 * any preemption in it), or the timer fires that much late. */
	if (timer)
		tp = sys_kts_left(__conc_timer_first(l), &kts);
	/* -ETIME, -EINTR: look at the timers and the CQ again anyway. */
	io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, tp, NULL);
	l->queued = 0;
	/* Timers first: one that fell due while the thread was kept off the
	 * CPU came before a completion that ended a later deadline. */
	if (__conc_timer_any(l))
		__conc_timer_fire(l, sys_now_ns());
	__conc_ring_reap(l);
}

void __conc_sched_run(struct loop *l)
{
	struct conc_task *t;

	while (l->alive) {
		while ((t = runq_pop(l))) {
			resume(l, t);
			if (++l->since_reap >= REAP_EVERY) {
				l->since_reap = 0;
				look(l);
				__conc_ring_reap(l);
				if (__conc_timer_any(l))
					__conc_timer_fire(l, sys_now_ns());
			}
		}
		if (l->alive)
			idle(l);
	}
}
