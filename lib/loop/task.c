/*
 * A task's life: made (conc_go), run, ended (its joiner told), freed (by
 * its join, or by conc_run at the end).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "loop/loop_impl.h"

/* Every shared-stack task of a loop runs on this one stack. */
#define SHARED_STACK_SIZE (256 * 1024)

void __conc_task_entry(void *arg)
{
	struct conc_task *t = arg;

	t->exit_code = t->fn(t->arg);
	t->state = T_DONE;
	__conc_suspend(t);
	__builtin_unreachable();
}

static int stack_for(struct loop *l, struct conc_task *t,
		     const conc_task_attr *a)
{
	if (!a || !a->shared_stack)
		return __conc_stack_get(&t->stack, a ? a->stack_size : 0);
	if (a->stack_size > SHARED_STACK_SIZE)
		return -EINVAL;
	t->shared = true;
	if (l->sstack.hi)
		return 0;
	return __conc_stack_get(&l->sstack, SHARED_STACK_SIZE);
}

/* "task <id>" unless named: by hand, as snprintf would cost more than
 * the rest of a task's creation. */
static void name(struct conc_task *t, const char *given)
{
	char digits[10];
	size_t n = 0, i = 0;
	uint32_t id = t->id;

	if (given) {
		strncpy(t->name, given, sizeof(t->name) - 1);
		return;
	}
	memcpy(t->name, "task ", 5);
	do
		digits[n++] = (char)('0' + id % 10);
	while ((id /= 10) && n < sizeof(digits));
	while (n)
		t->name[5 + i++] = digits[--n];
}

#ifdef CONC_FAULT_INJECTION
long __conc_fi_loop_tasks;
#endif

static struct conc_task *task_alloc(void)
{
	struct conc_task *t = aligned_alloc(16, sizeof(*t));

	if (t) {
		memset(t, 0, sizeof(*t));
		CONC_FI_LOOP_COUNT(__conc_fi_loop_tasks, 1);
	}
	return t;
}

void __conc_task_dealloc(struct conc_task *t)
{
	CONC_FI_LOOP_COUNT(__conc_fi_loop_tasks, -1);
	free(t);
}

void __conc_task_link(struct loop *l, struct conc_task *t, int (*fn)(void *),
		      void *arg, const char *given)
{
	/* The frame is made at the first run (sched.c): the stack's page is
	 * touched once, right before it is used. */
	t->fpctl = __conc_coro_ctl();
	t->loop = l;
	t->door = l->door;
	t->door_gen = l->door->gen;
	t->fn = fn;
	t->arg = arg;
	t->id = l->next_id = __conc_task_id_next(l->next_id);
	name(t, given);
	t->all_next = l->all;
	if (l->all)
		l->all->all_prev = t;
	l->all = t;
	t->linked = true;
	l->alive++;
	/* Made while the loop winds down: cancelled from the start. */
	t->cancel = l->ending;
	__conc_runq_push(l, t);
}

int __conc_task_new(struct loop *l, struct conc_task **out, int (*fn)(void *),
		    void *arg, const conc_task_attr *attr)
{
	struct conc_task *t = task_alloc();
	int r;

	if (!t)
		return -ENOMEM;
	r = stack_for(l, t, attr);
	if (r < 0) {
		__conc_task_dealloc(t);
		return r;
	}
	__conc_task_link(l, t, fn, arg, attr ? attr->name : NULL);
	*out = t;
	return 0;
}

int __conc_task_new_call(struct conc_task **out)
{
	struct conc_task *t = task_alloc();
	int r;

	if (!t)
		return -ENOMEM;
	r = __conc_loop() ? __conc_stack_get(&t->stack, 0) :
		__conc_stack_get_lean(&t->stack, 0);
	if (r < 0) {
		__conc_task_dealloc(t);
		return r;
	}
	*out = t;
	return 0;
}

void __conc_task_drop_call(struct conc_task *t)
{
	if (__conc_loop())
		__conc_stack_put(&t->stack);
	else
		__conc_stack_put_lean(&t->stack);
	__conc_task_dealloc(t);
}

void __conc_task_unlink(struct loop *l, struct conc_task *t)
{
	if (!t->linked)
		return;
	if (t->all_prev)
		t->all_prev->all_next = t->all_next;
	else
		l->all = t->all_next;
	if (t->all_next)
		t->all_next->all_prev = t->all_prev;
	t->linked = false;
}

void __conc_task_free(struct loop *l, struct conc_task *t)
{
	__conc_task_unlink(l, t);
	__conc_task_dealloc(t);
}

static void wind_down(struct loop *l)
{
	struct conc_task *t;

	l->ending = true;
	__atomic_store_n(&l->door->ending, 1, __ATOMIC_RELAXED);
	for (t = l->all; t; t = t->all_next)
		if (t->state != T_DONE)
			__conc_task_cancel_here(t);
}

/* Runs on the scheduler's stack once t's function returned: its stack
 * goes back to the pool at once, and its joiner (if any) learns. */
void __conc_task_ended(struct loop *l, struct conc_task *t)
{
	struct jwait *p;

	l->alive--;
	if (t->shared)
		__conc_sstack_free(&t->saved);
	else
		__conc_stack_put(&t->stack);
	/* acq_rel: the exit code is seen by whoever sees it ended; the
	 * joiner's registration is seen here, and stays as its claim. */
	p = __atomic_load_n(&t->watch, __ATOMIC_ACQUIRE);
	while (!__atomic_compare_exchange_n(&t->watch, &p,
					    p ? WATCH_CLAIMED(p) : WATCH_DONE,
					    true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
	if (p) {
		struct conc_task *co = p->co;

		if (t->exit_code < 0)
			__atomic_store_n(&p->failed, 1, __ATOMIC_RELAXED);
		/* The count goes up after the claim: a waiter that read seq
		 * before it saw the task still running sees seq move. */
		__atomic_fetch_add(&p->seq, 1, __ATOMIC_SEQ_CST);
		if (co && co->loop == l) {
			/* A task of this loop, parked or about to look again. */
			if (co->state == T_PARKED)
				__conc_wake_task(co, 0);
		} else {
			__conc_wake(&p->seq, 1, CONC_PRIVATE);
		}
	}
	if (t == l->main)
		wind_down(l);
	if (t->detached) {
		/* A cancel another thread made while it ran may still wait in
		 * the door, naming it (as for a join: join.c). */
		__conc_door_drain(l);
		__conc_task_free(l, t);
	}
}

void __conc_task_cancel_here(struct conc_task *t)
{
	switch (t->state) {
	case T_DONE:
		return;
	case T_PARKED:
		__conc_wake_task(t, -ECANCELED);
		return;
	case T_RING:
		t->cancel = true;
		__conc_ring_cancel(t);
		return;
	default:
		t->cancel = true;
	}
}

int conc_go(conc_task **t, int (*fn)(void *), void *arg,
	    const conc_task_attr *attr)
{
	struct loop *l = __conc_loop();

	if (!t || !fn || !l)
		return -EINVAL;
	return __conc_task_new(l, t, fn, arg, attr);
}

conc_task *conc_task_self(void)
{
	return __conc_cur();
}

int conc_task_cancel(conc_task *t)
{
	struct msg *m;
	int r;

	if (!t)
		return -EINVAL;
	if (__conc_task_here(t)) {
		__conc_task_cancel_here(t);
		return 0;
	}
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->kind = MSG_CANCEL;
	m->arg = t;
	r = __conc_door_post(t->door, t->door_gen, m);
	if (r < 0)
		free(m);
	return r == -EPIPE ? 0 : r;
}
