/*
 * The door: how other threads reach a loop (conc_loop_call, a cancel or a
 * join from elsewhere). Senders push onto a lock-free stack; the first push
 * onto an empty stack writes the loop's eventfd, which the loop always has
 * a read pending on in its ring. The door outlives its loop (it is small
 * and never freed) so that a late sender gets -EPIPE, not freed memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include "loop/loop_impl.h"

/* The doors stay reachable, so that leak checkers do not count them. */
static struct conc_loop *doors;

int __conc_door_open(struct loop *l)
{
	struct conc_loop *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->efd = sys_eventfd(0, EFD_CLOEXEC);
	if (d->efd < 0) {
		int r = d->efd;

		free(d);
		return r;
	}
	d->impl = l;
	l->door = d;
	d->older = __atomic_load_n(&doors, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&doors, &d->older, d, true,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
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

int __conc_door_post(struct conc_loop *d, struct msg *m)
{
	struct msg *head;
	uint32_t left;

	/* busy up before looking at the inbox, and the loop shuts the inbox
	 * before it reads busy (both seq_cst): either we see DOOR_SHUT or
	 * the loop sees us busy and waits before closing the eventfd. */
	__atomic_fetch_add(&d->busy, 1, __ATOMIC_SEQ_CST);
	head = __atomic_load_n(&d->inbox, __ATOMIC_SEQ_CST);
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
	struct msg *m = arg;
	void (*fn)(void *) = m->fn;
	void *a = m->arg;

	free(m);
	fn(a);
	return 0;
}

static void deliver(struct loop *l, struct msg *m)
{
	struct conc_task *t;

	switch (m->kind) {
	case MSG_CALL:
		if (__conc_task_new(l, &t, call_entry, m, NULL) == 0)
			t->detached = true;
		else
			free(m);	/* no memory: the call is lost */
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
	struct conc_loop *d = l->door;
	struct msg *m = __atomic_exchange_n(&d->inbox, DOOR_SHUT, __ATOMIC_SEQ_CST);
	uint32_t b;

	if (m == DOOR_SHUT)
		return;
	while ((b = __atomic_load_n(&d->busy, __ATOMIC_SEQ_CST)) != 0)
		__conc_wait(&d->busy, b, -1, CONC_PRIVATE);
	deliver_all(l, m);
}

/* The eventfd can go once the ring no longer reads it. */
void __conc_door_close(struct loop *l)
{
	struct conc_loop *d = l->door;

	sys_close(d->efd);
	d->efd = -1;
	d->impl = NULL;
}

conc_loop *conc_loop_self(void)
{
	struct loop *l = __conc_loop();

	return l ? l->door : NULL;
}

int conc_loop_call(conc_loop *d, void (*fn)(void *), void *arg)
{
	struct msg *m;
	int r;

	if (!d || !fn)
		return -EINVAL;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->kind = MSG_CALL;
	m->fn = fn;
	m->arg = arg;
	if (__conc_loop() && __conc_loop_tls->door == d &&
	    !__atomic_load_n(&d->inbox, __ATOMIC_RELAXED)) {
		/* From the loop itself: no need to go round the eventfd. */
		deliver(__conc_loop_tls, m);
		return 0;
	}
	r = __conc_door_post(d, m);
	if (r < 0)
		free(m);
	return r;
}
