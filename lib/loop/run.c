/*
 * conc_run: a loop on the calling thread for as long as its main task
 * runs; then the other tasks are cancelled and joined, the door is shut
 * and everything but the door is freed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include "loop/loop_impl.h"

#define RING_ENTRIES	1024
#define MAIN_STACK	(256 * 1024)

static int ring_up(struct loop *l)
{
	/* Completions are handled only when the loop enters the ring to
	 * wait (DEFER_TASKRUN, 6.1; it needs the one thread that submits,
	 * which a loop is): no interruption of the running tasks, and one
	 * batch of completions per wait. Else when it enters anyway
	 * (COOP_TASKRUN, 5.19). With DEFER_TASKRUN, TASKRUN_FLAG (5.19)
	 * says in memory that completions wait: the loop spins on it before
	 * it sleeps (idle_spin.c). */
	static const unsigned flags[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	unsigned i;
	int r = -EINVAL;

	for (i = 0; i < 4 && r == -EINVAL; i++) {
		r = io_uring_queue_init(RING_ENTRIES, &l->ring, flags[i]);
		l->deferred = r == 0 && i <= 1;
		l->taskrun_flag = r == 0 && i == 0;
	}
	/* No io_uring in this kernel, or switched off by the sysctl
	 * kernel.io_uring_disabled: both mean the loop cannot exist. */
	if (r == -ENOSYS || r == -EPERM)
		return -ENOSYS;
	/* Every wait enters the ring: with its fd registered (5.18), the
	 * kernel skips looking it up and pinning it each time. Best effort;
	 * io_uring_queue_exit unregisters it. */
	if (r == 0)
		io_uring_register_ring_fd(&l->ring);
	return r;
}

/* Every task has ended and the door is shut: no joiner's message comes
 * any more. A task that a joiner of elsewhere (a thread, a task of
 * another loop) has claimed is left to it, marked so: it frees it, even
 * if it gives it back (join.c). Every other one is freed here, after
 * marking it gone: a joiner that claims it first wins the exchange. Off
 * the list first: once left to its joiner, it may be gone at once. */
static void let_go(struct loop *l)
{
	struct conc_task *t;

	while ((t = l->all)) {
		struct jwait *w = __atomic_load_n(&t->watch, __ATOMIC_ACQUIRE), *to;

		__conc_task_unlink(l, t);
		do
			to = (uintptr_t)w & 2 ? (struct jwait *)((uintptr_t)w | WATCH_ORPHAN) :
				WATCH_GONE;
		while (!__atomic_compare_exchange_n(&t->watch, &w, to, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
		if (to == WATCH_GONE)
			__conc_task_dealloc(t);
	}
}

/* Loops running in this process: pid << 32 | count, so that a fork child
 * (a copy that runs none of its parent's loops) starts again from 0. */
static uint64_t loops;

static void loops_add(int d, bool *last)
{
	uint64_t me = (uint64_t)(uint32_t)__conc_self()->pid << 32;
	uint64_t v = __atomic_load_n(&loops, __ATOMIC_RELAXED), n;

	do {
		uint32_t count = (v & ~(uint64_t)UINT32_MAX) == me ? (uint32_t)v : 0;

		n = me | (uint32_t)(count + d);
	} while (!__atomic_compare_exchange_n(&loops, &v, n, true,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	*last = (uint32_t)n == 0;
}

/* What the loop's thread keeps goes to the process; the last loop to end
 * gives what nobody uses back to the kernel. */
static void let_go_stacks(void)
{
	bool last;

	__conc_stack_release();
	loops_add(-1, &last);
	if (last)
		__conc_stack_unmap_free();
}

static int run(struct loop *l, int (*main)(void *), void *arg, int *code)
{
	conc_task_attr ma = { .stack_size = MAIN_STACK, .name = "main" };
	int r = __conc_task_new(l, &l->main, main, arg, &ma);

	if (r < 0)
		return r;
	l->main->is_main = true;
	__conc_door_arm(l);
	__conc_sched_run(l);
	*code = l->main->exit_code;
	do {
		__conc_door_shut(l);
		__conc_sched_run(l);
	} while (l->alive);
	let_go(l);
	return 0;
}

/* Task ids (execution contexts, wait.h) go on from the last one this
 * thread's loops gave (__conc_self()->task_ids, kept across the jobs of a
 * reused conc thread), so that a task of a later loop is not taken for
 * the owner of what an ended task of an earlier one still holds (owners
 * are (tid, ctx) pairs). */

/*
 * The thread ends inside a task, or the process exits there (wait.h's
 * leave): the loop is abandoned where it stands, its tasks never to run
 * again (conc_run(3)). The thread forgets it, so that its waits block it
 * from here on, and the ids go on as after an end. The door shuts, after
 * the forgetting (a sender still inside is waited for as a thread): a
 * conc_loop_call now gets -EPIPE, not a 0 for a call that would never run.
 */
static void leave(struct __conc_waiter *w)
{
	struct loop *l = (struct loop *)((char *)w - offsetof(struct loop, waiter));

	l->self->task_ids = l->next_id;
	__conc_loop_forget();
	__conc_stack_running(NULL, NULL);
	__conc_door_shut(l);
}

int conc_run(int (*main)(void *), void *arg, int *exit_code)
{
	struct loop *l;
	int r, code = 0;
	bool last;

	if (!main)
		return -EINVAL;
	if (__conc_loop())
		return -EBUSY;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	r = ring_up(l);
	if (r < 0) {
		free(l);
		return r;
	}
	r = __conc_door_open(l);
	if (r < 0) {
		io_uring_queue_exit(&l->ring);
		free(l);
		return r;
	}
	l->self = __conc_self();
	l->pid = l->self->pid;
	loops_add(1, &last);
	__conc_ring_probe(l);
	__conc_idle_spin_init(l);
	__conc_hook_init(l);
	l->waiter.leave = leave;
	__conc_loop_tls = l;
	l->next_id = l->self->task_ids;
	r = run(l, main, arg, &code);
	l->self->task_ids = l->next_id;
	__conc_loop_tls = NULL;
	io_uring_queue_exit(&l->ring);
	__conc_door_close(l);
	if (l->sstack.hi)
		__conc_stack_put(&l->sstack);
	free(l->heap);
	__conc_watch_free(l);
	free(l);
	let_go_stacks();
	if (r == 0 && exit_code)
		*exit_code = code;
	return r;
}
