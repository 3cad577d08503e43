/*
 * Timers of parked tasks (sleeps, timed joins, the fallback futex wait):
 * a binary min-heap on the deadline in user space, so 100,000 sleepers cost
 * no kernel timer each; the loop sleeps in the ring until the earliest.
 * A task's heap_i is its index + 1 (0: not in the heap). Each entry
 * carries its deadline, so that sifting reads the array, not the tasks.
 */
#include <errno.h>
#include <stdlib.h>
#include "loop/loop_impl.h"

static void put(struct loop *l, size_t i, struct timer e)
{
	l->heap[i] = e;
	e.t->heap_i = (uint32_t)(i + 1);
}

static void up(struct loop *l, size_t i)
{
	struct timer e = l->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (l->heap[p].when <= e.when)
			break;
		put(l, i, l->heap[p]);
		i = p;
	}
	put(l, i, e);
}

static void down(struct loop *l, size_t i)
{
	struct timer e = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->heap_n)
			break;
		if (c + 1 < l->heap_n && l->heap[c + 1].when < l->heap[c].when)
			c++;
		if (l->heap[c].when >= e.when)
			break;
		put(l, i, l->heap[c]);
		i = c;
	}
	put(l, i, e);
}

int __conc_timer_add(struct loop *l, struct conc_task *t)
{
	if (l->heap_n >= UINT32_MAX - 1)	/* heap_i is 32 bits */
		return -ENOMEM;
	if (l->heap_n == l->heap_cap) {
		size_t cap = l->heap_cap ? 2 * l->heap_cap : 64;
		struct timer *h = realloc(l->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->heap_cap = cap;
	}
	l->heap[l->heap_n] = (struct timer){ t->when, t };
	up(l, l->heap_n++);
	return 0;
}

void __conc_timer_del(struct loop *l, struct conc_task *t)
{
	size_t i = t->heap_i - 1;
	struct timer last = l->heap[--l->heap_n];

	t->heap_i = 0;
	if (i == l->heap_n)
		return;
	put(l, i, last);
	if (i > 0 && l->heap[(i - 1) / 2].when > last.when)
		up(l, i);
	else
		down(l, i);
}

void __conc_timer_fire(struct loop *l, int64_t now)
{
	while (l->heap_n && l->heap[0].when <= now)
		__conc_wake_task(l->heap[0].t, -ETIMEDOUT);
}
