/*
 * Timers of parked tasks (sleeps, timed joins, the fallback futex wait),
 * in user space, so 100,000 sleepers cost no kernel timer each; the loop
 * sleeps in the ring until the earliest.
 *
 * A timer whose deadline is not before the latest one of the list goes to
 * the end of that list (sleeps or timeouts of one length, made one after
 * the other, all do): in and out in O(1), and firing walks the list in
 * order. The others go to a binary min-heap. A task's heap_i is its index
 * + 1 in the heap (0: no timer, TIMER_LISTED: in the list). Each heap
 * entry carries its deadline, so that sifting reads the array, not the
 * tasks.
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

static void list_add(struct loop *l, struct conc_task *t)
{
	t->heap_i = TIMER_LISTED;
	t->next = NULL;
	t->tprev = l->tl_tail;
	if (l->tl_tail)
		l->tl_tail->next = t;
	else
		l->tl_head = t;
	l->tl_tail = t;
}

static void list_del(struct loop *l, struct conc_task *t)
{
	if (t->tprev)
		t->tprev->next = t->next;
	else
		l->tl_head = t->next;
	if (t->next)
		t->next->tprev = t->tprev;
	else
		l->tl_tail = t->tprev;
	t->heap_i = 0;
}

int __conc_timer_add(struct loop *l, struct conc_task *t)
{
	if (!l->tl_tail || t->when >= l->tl_tail->when) {
		list_add(l, t);
		return 0;
	}
	if (l->heap_n >= UINT32_MAX - 2)	/* heap_i is 32 bits */
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
	size_t i;
	struct timer last;

	if (t->heap_i == TIMER_LISTED) {
		list_del(l, t);
		return;
	}
	i = t->heap_i - 1;
	last = l->heap[--l->heap_n];
	t->heap_i = 0;
	if (i == l->heap_n)
		return;
	put(l, i, last);
	if (i > 0 && l->heap[(i - 1) / 2].when > last.when)
		up(l, i);
	else
		down(l, i);
}

/* Earliest first, from both; a wake takes the task out of either. The
 * watch's sweep first: a task it wakes leaves its timer. */
void __conc_timer_fire(struct loop *l, int64_t now)
{
	if (l->fw_n && l->fw_due <= now)
		__conc_watch_sweep(l, now);
	for (;;) {
		struct conc_task *h = l->heap_n ? l->heap[0].t : NULL, *f = l->tl_head;

		if (f && (!h || f->when <= l->heap[0].when))
			h = f;
		if (!h || h->when > now)
			return;
		__conc_wake_task(h, -ETIMEDOUT);
	}
}
