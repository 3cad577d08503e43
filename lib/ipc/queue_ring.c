/*
 * Puts and gets: the commit protocol (queue_impl.h). Each side works under
 * its own lock; a call that must wait sleeps keeping it (queue_sleep.c).
 */
#include <errno.h>
#include <string.h>
#include "ipc/queue_impl.h"

/* The deadline has passed: timeout 0 without reading the clock. */
static bool past(conc_deadline dl)
{
	return dl == DL_TRY || __conc_expired(dl);
}

/* A producer may have died between its commit (the slot's seq) and its
 * count (tail): count what it committed. */
void __conc_q_repair_tail(const conc_queue *qh)
{
	struct shared *q = qh->q;
	uint32_t t = q->tail, n;

	for (n = 0; n < qh->cap && __conc_q_ready_at(qh, t); n++)
		t++;
	__atomic_store_n(&q->tail, t, __ATOMIC_RELAXED);
}

static bool has_room(const conc_queue *qh)
{
	struct shared *q = qh->q;

	return __atomic_load_n(&q->closed, __ATOMIC_SEQ_CST) ||
	       q->tail - __atomic_load_n(&q->head, __ATOMIC_SEQ_CST) < qh->cap;
}

static bool has_msg(const conc_queue *qh)
{
	struct shared *q = qh->q;

	return __atomic_load_n(&q->closed, __ATOMIC_SEQ_CST) ||
	       __conc_q_ready_at(qh, q->head);
}

/* With the producers' lock held: wait for room. Returns the slot's index,
 * or (negative) an error with the lock let go. */
static int64_t wait_room(conc_queue *qh, conc_deadline dl)
{
	struct shared *q = qh->q;
	bool spun = false;
	uint32_t t;
	int r;

	for (;;) {
		/* seq_cst: a producer that slept parked must see a close that
		 * a consumer saw before its look at the mark. */
		if (__atomic_load_n(&q->closed, __ATOMIC_SEQ_CST)) {
			__conc_q_unlock(&q->p);
			return __conc_q_closed(q);
		}
		t = q->tail;
		if (t - q->head_seen < qh->cap)
			return t;
		q->head_seen = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
		if (t - q->head_seen < qh->cap)
			return t;
		/* Under the lock, with tail repaired, 0 <= tail - head <= cap. */
		if (t - q->head_seen > qh->cap) {
			__conc_q_unlock(&q->p);
			return -EPROTO;
		}
		if (past(dl)) {
			__conc_q_unlock(&q->p);
			return -ETIMEDOUT;
		}
		if (!spun) {
			spun = true;
			if (__conc_spin_while_max(&q->head, q->head_seen,
						  __CONC_SPIN_MAX) != q->head_seen)
				continue;
		}
		r = __conc_q_sleep(qh, &q->p, &q->not_full, has_room, dl);
		if (r)
			return r;
	}
}

int conc_queue_put(conc_queue *qh, const void *msg, size_t len,
		   int64_t timeout_ns)
{
	conc_deadline dl;
	struct shared *q;
	struct slot *s;
	int64_t t;
	int r;

	if (!qh || (!msg && len))
		return -EINVAL;
	if (len > qh->max)
		return -EMSGSIZE;
	q = qh->q;
	dl = timeout_ns ? __conc_deadline(timeout_ns) : DL_TRY;
	if ((r = __conc_q_lock(qh, &q->p, dl, false)))
		return r;
	if ((t = wait_room(qh, dl)) < 0)
		return (int)t;
	s = __conc_q_slot(qh, (uint32_t)t);
	s->len = (uint32_t)len;
	if (len)
		memcpy(s->data, msg, len);
	__conc_q_publish(&s->seq, (uint32_t)t + 1, &q->tail, &q->not_empty);
	__conc_q_unlock(&q->p);
	return 0;
}

/* With the consumers' lock held: wait for the next message. Returns its
 * index, or (negative) an error with the lock let go. */
static int64_t wait_msg(conc_queue *qh, conc_deadline dl)
{
	struct shared *q = qh->q;
	bool spun = false;
	uint32_t h, seq;
	int r;

	for (;;) {
		h = q->head;
		seq = __atomic_load_n(&__conc_q_slot(qh, h)->seq, __ATOMIC_ACQUIRE);
		if (seq == h + 1)
			return h;
		/* A put committed before the close is seen once closed is;
		 * one still on its way is waited for. */
		if (__atomic_load_n(&q->closed, __ATOMIC_SEQ_CST)) {
			if (__conc_q_ready_at(qh, h))
				return h;
			r = __conc_q_drain_puts(qh, dl);
			if (__conc_q_ready_at(qh, h))
				return h;
			/* A producer stopped in its copy keeps what it holds
			 * until it continues: wait on for it without a
			 * deadline, else time out, never -EPIPE before it. */
			if (r == -ETIMEDOUT && dl < 0)
				continue;
			__conc_q_unlock(&q->c);
			return r ? r : __conc_q_closed(q);
		}
		if (past(dl)) {
			__conc_q_unlock(&q->c);
			return -ETIMEDOUT;
		}
		if (!spun) {
			spun = true;
			if (__conc_spin_while_max(&__conc_q_slot(qh, h)->seq, seq,
						  __CONC_SPIN_MAX) != seq)
				continue;
		}
		r = __conc_q_sleep(qh, &q->c, &q->not_empty, has_msg, dl);
		if (r)
			return r;
	}
}

/* The first step of both gets: the oldest message copied into buf, with
 * the consumers' lock held (only when the result is a length). */
ssize_t __conc_q_get_locked(conc_queue *qh, void *buf, size_t cap,
			    int64_t timeout_ns)
{
	conc_deadline dl;
	struct shared *q;
	int64_t h;
	uint32_t n;
	int r;

	if (!qh || (!buf && cap) || __conc_q_mine(qh))
		return -EINVAL;
	q = qh->q;
	dl = timeout_ns ? __conc_deadline(timeout_ns) : DL_TRY;
	if ((r = __conc_q_lock(qh, &q->c, dl, false)))
		return r;
	if ((h = wait_msg(qh, dl)) < 0)
		return h;
	/* Read once: the length decides how much is copied. */
	n = __atomic_load_n(&__conc_q_slot(qh, (uint32_t)h)->len, __ATOMIC_RELAXED);
	r = n > qh->max ? -EPROTO : n > cap ? -EMSGSIZE : 0;
	if (r) {
		__conc_q_unlock(&q->c);
		return r;
	}
	if (n)
		memcpy(buf, __conc_q_slot(qh, (uint32_t)h)->data, n);
	return n;
}

void __conc_q_take(conc_queue *qh)
{
	struct shared *q = qh->q;

	__conc_q_publish(&q->head, q->head + 1, NULL, &q->not_full);
	__conc_q_unlock(&q->c);
}

ssize_t conc_queue_get(conc_queue *qh, void *buf, size_t cap,
		       int64_t timeout_ns)
{
	ssize_t n = __conc_q_get_locked(qh, buf, cap, timeout_ns);

	if (n >= 0)
		__conc_q_take(qh);
	return n;
}

ssize_t conc_queue_size(conc_queue *qh)
{
	uint32_t h, t;

	if (!qh)
		return -EINVAL;
	/* head first: read apart, the two may straddle other calls, which
	 * can only make the difference too large. */
	h = __atomic_load_n(&qh->q->head, __ATOMIC_ACQUIRE);
	t = __atomic_load_n(&qh->q->tail, __ATOMIC_ACQUIRE);
	/* A producer that died between its commit and its count leaves
	 * tail behind until the next put repairs it. */
	if ((int32_t)(t - h) < 0)
		return 0;
	return t - h > qh->cap ? (ssize_t)qh->cap : (ssize_t)(t - h);
}
