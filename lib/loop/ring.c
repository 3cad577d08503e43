/*
 * The ring: SQEs in, CQEs out. A task that waits on an op is resumed only
 * once every CQE it is owed has come (its op, the linked timeout, the
 * cancels), so the kernel never writes into a buffer or slot after the
 * call returned. SQEs are not submitted at once: the scheduler submits
 * them when it runs out of runnable tasks or every few resumes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "loop/loop_impl.h"

/* Room for n SQEs in a row (a linked op and its timeout must not be split
 * by a submit). When the SQ is full, submit; if the kernel refuses for a
 * full CQ, reap first. */
static void room(struct loop *l, unsigned n)
{
	while (io_uring_sq_space_left(&l->ring) < n) {
		int r = io_uring_submit(&l->ring);

		l->queued = 0;
		if (r == -EBUSY || r == -EAGAIN) {
			if (l->deferred)
				io_uring_get_events(&l->ring);
			__conc_ring_reap(l);
		}
	}
}

struct io_uring_sqe *__conc_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe;

	room(l, 1);
	sqe = io_uring_get_sqe(&l->ring);
	l->queued++;
	return sqe;
}

static void slot_arm(struct opslot *s, struct conc_task *t)
{
	s->t = t;
	s->res = 0;
	s->pending = true;
}

/* The task's one op, prepared by the caller in the SQE this returns (with
 * room left for its timeout). NULL when a pending cancellation comes first:
 * the caller returns -ECANCELED without starting anything. */
struct io_uring_sqe *__conc_ring_op(struct conc_task *t, conc_deadline dl)
{
	if (__conc_take_cancel_dl(t, dl))
		return NULL;
	room(t->loop, 2);
	return __conc_sqe(t->loop);
}

static int finish(struct conc_task *t, int res)
{
	/* An op that completed despite a cancel or timeout keeps its
	 * result; the cancel then waits for the next suspending call. */
	if (res != -ECANCELED && res != -EINTR)
		return res;
	if (t->timed_out)
		return -ETIMEDOUT;
	if (__conc_take_cancel(t))
		return -ECANCELED;
	return res;
}

int __conc_ring_wait(struct conc_task *t, struct io_uring_sqe *sqe, int64_t dl)
{
	struct loop *l = t->loop;

	slot_arm(&t->op, t);
	io_uring_sqe_set_data(sqe, &t->op);
	t->inflight = 1;
	l->ops++;
	t->timed_out = false;
	t->wake_first = false;
	if (dl >= 0) {
		struct io_uring_sqe *ts;

		sqe->flags |= IOSQE_IO_LINK;
		sys_kts_abs(dl, &t->ts);
		ts = __conc_sqe(l);
		io_uring_prep_link_timeout(ts, &t->ts, IORING_TIMEOUT_ABS);
		slot_arm(&t->tmo, t);
		io_uring_sqe_set_data64(ts, (uint64_t)(uintptr_t)&t->tmo | TAG_TIMEOUT);
		t->inflight = 2;
		l->ops++;
	}
	t->state = T_RING;
	__conc_suspend(t);
	return finish(t, t->op.res);
}

/* Ask the kernel to end the op of slot s early (its CQE then comes with
 * -ECANCELED, or with its result if it raced); the cancel's own CQE is
 * counted too. */
static void cancel_slot(struct conc_task *t, struct opslot *s)
{
	struct io_uring_sqe *sqe = __conc_sqe(t->loop);
	uint64_t ud = (uint64_t)(uintptr_t)s | (s == &t->tmo ? TAG_TIMEOUT : 0);

	io_uring_prep_cancel64(sqe, ud, 0);
	io_uring_sqe_set_data64(sqe, UD_NONE);
}

void __conc_ring_cancel(struct conc_task *t)
{
	unsigned i;

	if (t->wake_first) {
		/* Several polls: the task cancels them itself when it runs. */
		t->wake_first = false;
		__conc_runq_push(t->loop, t);
		return;
	}
	if (t->op.pending)
		cancel_slot(t, &t->op);
	for (i = 0; i < t->nops; i++)
		if (t->ops[i].pending)
			cancel_slot(t, &t->ops[i]);
}

/* Several ops at once (polls on n fds): resumes at the first CQE; the
 * caller then calls __conc_ring_settle() to cancel the rest and wait. */
int __conc_ring_wait_any(struct conc_task *t, int64_t dl)
{
	if (dl >= 0) {
		struct io_uring_sqe *sqe = __conc_sqe(t->loop);

		sys_kts_abs(dl, &t->ts);
		io_uring_prep_timeout(sqe, &t->ts, 0, IORING_TIMEOUT_ABS);
		slot_arm(&t->tmo, t);
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)&t->tmo | TAG_TIMEOUT);
		t->inflight++;
		t->loop->ops++;
	}
	t->timed_out = false;
	t->wake_first = true;
	t->state = T_RING;
	__conc_suspend(t);
	return 0;
}

void __conc_ring_settle(struct conc_task *t)
{
	unsigned i;

	t->wake_first = false;
	for (i = 0; i < t->nops; i++)
		if (t->ops[i].pending)
			cancel_slot(t, &t->ops[i]);
	if (t->tmo.pending)
		cancel_slot(t, &t->tmo);
	if (t->inflight) {
		t->state = T_RING;
		__conc_suspend(t);
	}
}

/*
 * A linked timeout that fired but found no op to cancel (-ENOENT: the op
 * was between two tries, a poll that woke and a recv with MSG_WAITALL
 * that took part and waits again) leaves the op running with no bound:
 * the task would wait past its deadline for as long as no data came.
 * Cancel it now. Not through __conc_sqe: its room() may reap, and we are
 * in the middle of a batch of completions.
 */
static void cancel_unbounded(struct loop *l, struct conc_task *t)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe) {
		io_uring_submit(&l->ring);
		l->queued = 0;
		sqe = io_uring_get_sqe(&l->ring);
		if (!sqe)
			return;
	}
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&t->op, 0);
	io_uring_sqe_set_data64(sqe, UD_NONE);
	l->queued++;
}

static void cqe_one(struct loop *l, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	struct opslot *s;
	struct conc_task *t;

	if (ud == UD_NONE)
		return;
	if (ud == UD_DOOR) {
		__conc_door_drain(l);
		if (cqe->res >= 0 || cqe->res == -EINTR || cqe->res == -EAGAIN)
			__conc_door_arm(l);
		return;
	}
	s = (struct opslot *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);
	t = s->t;
	s->res = cqe->res;
	s->more = cqe->flags & IORING_CQE_F_SOCK_NONEMPTY;
	s->pending = false;
	/* A timeout that fired reports -ETIME, or (a linked one, on some
	 * kernels) what cancelling its op returned; one that did not fire
	 * was cancelled itself. */
	if ((ud & TAG_TIMEOUT) && cqe->res != -ECANCELED) {
		t->timed_out = true;
		if (cqe->res != -ETIME && s == &t->tmo && t->op.pending)
			cancel_unbounded(l, t);
	}
	t->inflight--;
	l->ops--;
	if (t->state == T_RING && (t->inflight == 0 || t->wake_first)) {
		t->wake_first = false;
		__conc_runq_push(l, t);
	}
}

void __conc_ring_reap(struct loop *l)
{
	struct io_uring_cqe *cqes[64];
	unsigned n, i;

	do {
		n = io_uring_peek_batch_cqe(&l->ring, cqes, 64);
		for (i = 0; i < n; i++)
			cqe_one(l, cqes[i]);
		io_uring_cq_advance(&l->ring, n);
	} while (n == 64);
}

/* Whether this kernel has IORING_OP_FUTEX_WAIT and IORING_OP_WAITID (both
 * 6.7), probed once per process on the first loop's ring. The environment
 * can switch each off, for the tests of the fallbacks. */
#define OP_WAITID	50
#define OP_FUTEX_WAIT	51

static bool has_op(const struct io_uring_probe *p, int op)
{
	return p && p->last_op >= op && (p->ops[op].flags & IO_URING_OP_SUPPORTED);
}

void __conc_ring_probe(struct loop *l)
{
	static int cached;	/* 0 unknown, else 1 | 2 futex | 4 waitid */
	int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);

	if (!c) {
		struct io_uring_probe *p = io_uring_get_probe_ring(&l->ring);

		c = 1 | (has_op(p, OP_FUTEX_WAIT) ? 2 : 0) | (has_op(p, OP_WAITID) ? 4 : 0);
		io_uring_free_probe(p);
		__atomic_store_n(&cached, c, __ATOMIC_RELAXED);
	}
	l->futex_op = (c & 2) && !getenv("CONC_LOOP_NO_FUTEX_OP");
	l->waitid_op = (c & 4) && !getenv("CONC_LOOP_NO_WAITID_OP");
}
