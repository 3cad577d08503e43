/*
 * The door: how other threads reach a loop (conc_loop_call, a cancel or a
 * join from elsewhere). Senders push onto a lock-free stack; the first push
 * onto an empty stack writes the loop's eventfd, which the loop always has
 * a read pending on in its ring. The door outlives its loop (door_table.c:
 * never freed, reused by a later loop under a new generation), so that a
 * late sender gets -EPIPE, not freed memory nor the later loop.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include "loop/loop_impl.h"

int __conc_door_open(struct loop *l)
{
	struct door *d = __conc_door_get();

	if (!d)
		return -ENOMEM;
	d->efd = sys_eventfd(0, EFD_CLOEXEC);
	if (d->efd < 0) {
		int r = d->efd;

		__conc_door_put(d);
		return r;
	}
	/* A used door went back shut with its generation moved on (close);
	 * a new one is shut here first. Open after: a sender that sees it
	 * open sees the new generation too (post). */
	if (!d->gen) {
		__atomic_store_n(&d->inbox, DOOR_SHUT, __ATOMIC_RELAXED);
		__atomic_store_n(&d->gen, 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&d->ending, 0, __ATOMIC_RELAXED);
	d->pid = __conc_self()->pid;
	__atomic_store_n(&d->inbox, NULL, __ATOMIC_SEQ_CST);
	l->door = d;
	return 0;
}

void __conc_door_arm(struct loop *l)
{
	struct io_uring_sqe *sqe;

	if (l->door->efd < 0)
		return;
	sqe = __conc_sqe(l);
	io_uring_prep_read(sqe, l->door->efd, &l->efd_buf, sizeof(l->efd_buf), 0);
	io_uring_sqe_set_data64(sqe, UD_DOOR);
}

int __conc_door_post(struct door *d, uint32_t gen, struct msg *m)
{
	struct msg *head;
	uint32_t left;

	/* busy up before looking at the inbox, and the loop shuts the inbox
	 * before it reads busy (both seq_cst): either we see DOOR_SHUT or
	 * the loop sees us busy and waits before closing the eventfd. The
	 * generation is read after the inbox: an inbox opened by a later
	 * loop comes with that loop's generation, stored before (open), and
	 * once we hold busy with ours seen open, it cannot change. */
	__atomic_fetch_add(&d->busy, 1, __ATOMIC_SEQ_CST);
	head = __atomic_load_n(&d->inbox, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&d->gen, __ATOMIC_SEQ_CST) != gen)
		head = DOOR_SHUT;
	do {
		if (head == DOOR_SHUT)
			break;
		m->next = head;
	} while (!__atomic_compare_exchange_n(&d->inbox, &head, m, true,
					      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	if (head == NULL) {
		uint64_t one = 1;

		sys_write(d->efd, &one, sizeof(one));
	}
	left = __atomic_sub_fetch(&d->busy, 1, __ATOMIC_SEQ_CST);
	if (left == 0 && __atomic_load_n(&d->inbox, __ATOMIC_SEQ_CST) == DOOR_SHUT)
		__conc_wake(&d->busy, 1, CONC_PRIVATE);
	return head == DOOR_SHUT ? -EPIPE : 0;
}

static int call_entry(void *arg)
{
	struct conc_task *t = arg;
	/* Read before the task's first op, whose slots share the call's
	 * memory (loop_impl.h). */
	void (*fn)(void *) = t->freemsg.fn;
	void *a = t->freemsg.arg;

	fn(a);
	return 0;
}

static void deliver(struct loop *l, struct msg *m)
{
	struct conc_task *t;

	switch (m->kind) {
	case MSG_CALL:
		/* Made by the caller: nothing to allocate, nothing lost. */
		t = (struct conc_task *)((char *)m - offsetof(struct conc_task, freemsg));
		__conc_task_link(l, t, call_entry, t, NULL);
		t->detached = true;
		break;
	case MSG_CANCEL:
		__conc_task_cancel_here(m->arg);
		free(m);
		break;
	case MSG_FREE:
		__conc_task_free(l, m->arg);
		break;
	}
}

/* Oldest first: the stack is reversed. */
static void deliver_all(struct loop *l, struct msg *m)
{
	struct msg *rev = NULL;

	while (m) {
		struct msg *next = m->next;

		m->next = rev;
		rev = m;
		m = next;
	}
	while (rev) {
		struct msg *next = rev->next;

		deliver(l, rev);
		rev = next;
	}
}

void __conc_door_drain(struct loop *l)
{
	struct msg *m = __atomic_load_n(&l->door->inbox, __ATOMIC_RELAXED);

	/* Only this thread shuts the door: once seen open, it stays so for
	 * the exchange (which must never reopen a shut door). */
	if (!m || m == DOOR_SHUT)
		return;
	deliver_all(l, __atomic_exchange_n(&l->door->inbox, NULL, __ATOMIC_ACQUIRE));
}

/* No sender gets in after this; those already in finish their eventfd
 * write before it is closed; what they left is delivered. */
void __conc_door_shut(struct loop *l)
{
	struct door *d = l->door;
	struct msg *m = __atomic_exchange_n(&d->inbox, DOOR_SHUT, __ATOMIC_SEQ_CST);
	uint32_t b;

	if (m == DOOR_SHUT)
		return;
	while ((b = __atomic_load_n(&d->busy, __ATOMIC_SEQ_CST)) != 0)
		__conc_wait(&d->busy, b, -1, CONC_PRIVATE);
	deliver_all(l, m);
}

/* The eventfd can go once the ring no longer reads it; the door, shut,
 * goes to a later loop under the next generation. */
void __conc_door_close(struct loop *l)
{
	struct door *d = l->door;

	sys_close(d->efd);
	d->efd = -1;
	if (++d->gen == 0)
		d->gen = 1;
	__atomic_store_n(&d->gen, d->gen, __ATOMIC_SEQ_CST);
	__conc_door_put(d);
}

conc_loop *conc_loop_self(void)
{
	struct loop *l = __conc_loop();

	return l ? __conc_door_handle(l->door) : NULL;
}

int conc_loop_call(conc_loop *h, void (*fn)(void *), void *arg)
{
	struct conc_task *t;
	struct door *d;
	uint32_t gen;
	int r;

	if (!fn || !(d = __conc_door_of(h, &gen)))
		return -EINVAL;
	/* Once main returned, a call is refused as after the end (one that
	 * came just before still runs, cancelled): else threads that keep
	 * calling would keep conc_run from returning. */
	if (__atomic_load_n(&d->ending, __ATOMIC_RELAXED))
		return -EPIPE;
	/* A fork child's copy of the door reaches no loop (its message would
	 * stay in the copy): as good as ended. */
	if (d->pid != __conc_self()->pid)
		return -EPIPE;
	/* The whole task now, its stack too: the loop cannot run out of
	 * memory for it later, when the caller has been told 0. */
	r = __conc_task_new_call(&t);
	if (r < 0)
		return r;
	t->freemsg.kind = MSG_CALL;
	t->freemsg.fn = fn;
	t->freemsg.arg = arg;
	if (__conc_loop() && __conc_loop_tls->door == d && d->gen == gen &&
	    !__atomic_load_n(&d->inbox, __ATOMIC_RELAXED)) {
		/* From the loop itself: no need to go round the eventfd. */
		deliver(__conc_loop_tls, &t->freemsg);
		return 0;
	}
	r = __conc_door_post(d, gen, &t->freemsg);
	if (r < 0)
		__conc_task_drop_call(t);
	return r;
}
