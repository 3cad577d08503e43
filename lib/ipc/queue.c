/*
 * A ring of fixed-size slots in a segment. Producers serialise on a robust
 * mutex and consumers on another, so one producer and one consumer never
 * contend for a lock. `tail` (producers) and `head` (consumers) are the
 * commit points: a message is in the queue exactly when a store of tail
 * covers it, and out exactly when a store of head does. A process killed
 * anywhere else in a call has changed nothing the others can see, and the
 * robust mutex lets the next caller in with nothing to repair.
 *
 * Sleepers wait on a word (not_empty / not_full) they set to 0 first; a
 * waker sets it to 1 and wakes in one FUTEX_WAKE_OP, so no wake-up is
 * lost between the two. From the commit to that wake-up, the kernel's
 * robust list_op_pending points at the word: a waker killed in between
 * leaves it 0 with sleepers on it, and the kernel wakes one of them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <conc/mutex.h>
#include <conc/queue.h>
#include <conc/shm.h>
#include "sys/sys.h"
#include "sync/robust.h"
#include "sync/wait.h"

#define DEFAULT_CAPACITY 64
#define DEFAULT_MAX_MSG	 8192
#define LIMIT		 (1u << 24)

struct slot {
	uint32_t len;
	uint32_t pad;
	unsigned char data[];
};

struct shared {
	uint32_t init;			/* 0 new, 1 being set up, 2 ready */
	uint32_t capacity, max_msg, slot_size, closed;
	uint32_t not_empty, not_full;	/* sleep words */
	uint32_t cwait, pwait;		/* consumers, producers that may sleep */
	_Alignas(64) conc_mutex plock;
	uint32_t tail;
	uint32_t head_seen;		/* producers' last look at head */
	_Alignas(64) conc_mutex clock;
	uint32_t head;
	uint32_t tail_seen;		/* consumers' last look at tail */
	_Alignas(64) unsigned char slots[];
};

struct conc_queue {
	conc_shm *seg;
	struct shared *q;
	bool in_get;		/* between get_begin and commit/abort */
};

static struct slot *slot_at(struct shared *q, uint32_t i)
{
	return (struct slot *)(q->slots + (size_t)(i % q->capacity) * q->slot_size);
}

static int lock(conc_mutex *m)
{
	int r = conc_mutex_lock(m);

	/* The dead owner cannot have left a half-done change: commits are
	 * single stores. */
	if (r == -EOWNERDEAD)
		r = conc_mutex_consistent(m);
	return r;
}

static struct robust_list_head *robust_head(void)
{
	return __conc_robust_head(__conc_self());
}

/* Set *word to 1 and wake one sleeper on it, atomically. */
static void ring(uint32_t *word, int n)
{
	sys_futex(word, FUTEX_WAKE_OP, (uint32_t)n, NULL, word,
		  FUTEX_OP(FUTEX_OP_SET, 1, FUTEX_OP_CMP_EQ, 0));
}

/* Commit a new value of an index, then wake a sleeper of the other side
 * if there may be one, under the doorbell (see the top of the file). */
static void publish(uint32_t *index, uint32_t v, uint32_t *word,
		    uint32_t *waiting)
{
	struct robust_list_head *h = robust_head();

	__conc_robust_doorbell(h, word);
	__atomic_store_n(index, v, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(waiting, __ATOMIC_SEQ_CST))
		ring(word, 1);
	__conc_robust_doorbell(h, NULL);
}

/*
 * Sleep until *word is set, the deadline passes or a signal comes, with
 * m released meanwhile; ready() is looked at again after announcing the
 * sleep, so a change made before it is not slept through. Returns with m
 * held: 0, -ETIMEDOUT, or an error from relocking.
 */
static int sleep_on(struct shared *q, conc_mutex *m, uint32_t *word,
		    uint32_t *waiting, bool (*ready)(struct shared *),
		    conc_deadline dl)
{
	int r = 0, r2;

	__atomic_fetch_add(waiting, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(word, 0, __ATOMIC_SEQ_CST);
	if (!ready(q)) {
		conc_mutex_unlock(m);
		r = sys_futex_wait(word, 0, dl, 0);
		r2 = lock(m);
		if (r2) {
			__atomic_fetch_sub(waiting, 1, __ATOMIC_RELAXED);
			return r2;
		}
	}
	__atomic_fetch_sub(waiting, 1, __ATOMIC_RELAXED);
	return r == -ETIMEDOUT ? r : 0;
}

static bool has_room(struct shared *q)
{
	return __atomic_load_n(&q->closed, __ATOMIC_SEQ_CST) ||
	       q->tail - __atomic_load_n(&q->head, __ATOMIC_SEQ_CST) < q->capacity;
}

static bool has_msg(struct shared *q)
{
	return __atomic_load_n(&q->closed, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&q->tail, __ATOMIC_SEQ_CST) != q->head;
}

/* Whoever finds the queue closed wakes everyone: a closer killed before
 * its own wake-ups had the kernel wake one of them. */
static int closed(struct shared *q)
{
	ring(&q->not_empty, INT32_MAX);
	ring(&q->not_full, INT32_MAX);
	return -EPIPE;
}

int conc_queue_put(conc_queue *qh, const void *msg, size_t len,
		   int64_t timeout_ns)
{
	conc_deadline dl = -1;
	struct shared *q;
	struct slot *s;
	bool spun = false;
	uint32_t t;
	int r;

	if (!qh || (!msg && len))
		return -EINVAL;
	q = qh->q;
	if (len > q->max_msg)
		return -EMSGSIZE;
	if ((r = lock(&q->plock)))
		return r;
	for (;;) {
		if (__atomic_load_n(&q->closed, __ATOMIC_ACQUIRE)) {
			conc_mutex_unlock(&q->plock);
			return closed(q);
		}
		t = q->tail;
		if (t - q->head_seen < q->capacity)
			break;
		q->head_seen = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
		if (t - q->head_seen < q->capacity)
			break;
		if (timeout_ns == 0) {
			conc_mutex_unlock(&q->plock);
			return -EAGAIN;
		}
		if (!spun) {
			spun = true;
			dl = __conc_deadline(timeout_ns);
			if (__conc_spin_while_max(&q->head, q->head_seen,
						  __CONC_SPIN_MAX) != q->head_seen)
				continue;
		}
		r = sleep_on(q, &q->plock, &q->not_full, &q->pwait, has_room, dl);
		if (r == -ETIMEDOUT) {
			if (!has_room(q)) {
				conc_mutex_unlock(&q->plock);
				return r;
			}
		} else if (r) {
			return r;
		}
	}
	s = slot_at(q, t);
	s->len = (uint32_t)len;
	if (len)
		memcpy(s->data, msg, len);
	publish(&q->tail, t + 1, &q->not_empty, &q->cwait);
	conc_mutex_unlock(&q->plock);
	return 0;
}

/* With the consumer lock held: wait for a message and copy it out. */
static ssize_t peek(conc_queue *qh, void *buf, size_t cap, int64_t timeout_ns)
{
	struct shared *q = qh->q;
	conc_deadline dl = -1;
	struct slot *s;
	bool spun = false;
	uint32_t h;
	int r;

	for (;;) {
		h = q->head;
		if (h != q->tail_seen)
			break;
		q->tail_seen = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
		if (h != q->tail_seen)
			break;
		/* A put committed before the close is seen once closed is. */
		if (__atomic_load_n(&q->closed, __ATOMIC_ACQUIRE)) {
			q->tail_seen = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
			if (h != q->tail_seen)
				break;
			conc_mutex_unlock(&q->clock);
			return closed(q);
		}
		if (timeout_ns == 0) {
			conc_mutex_unlock(&q->clock);
			return -ETIMEDOUT;
		}
		if (!spun) {
			spun = true;
			dl = __conc_deadline(timeout_ns);
			if (__conc_spin_while_max(&q->tail, h, __CONC_SPIN_MAX) != h)
				continue;
		}
		r = sleep_on(q, &q->clock, &q->not_empty, &q->cwait, has_msg, dl);
		if (r == -ETIMEDOUT) {
			if (__atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) == q->head) {
				conc_mutex_unlock(&q->clock);
				return r;
			}
		} else if (r) {
			return r;
		}
	}
	s = slot_at(q, h);
	if (s->len > q->max_msg) {
		conc_mutex_unlock(&q->clock);
		return -EPROTO;
	}
	if (s->len > cap) {
		conc_mutex_unlock(&q->clock);
		return -EMSGSIZE;
	}
	if (s->len)
		memcpy(buf, s->data, s->len);
	return s->len;
}

static void take(struct shared *q)
{
	publish(&q->head, q->head + 1, &q->not_full, &q->pwait);
	conc_mutex_unlock(&q->clock);
}

ssize_t conc_queue_get(conc_queue *qh, void *buf, size_t cap,
		       int64_t timeout_ns)
{
	ssize_t n;
	int r;

	if (!qh || (!buf && cap) || qh->in_get)
		return -EINVAL;
	if ((r = lock(&qh->q->clock)))
		return r;
	n = peek(qh, buf, cap, timeout_ns);
	if (n >= 0)
		take(qh->q);
	return n;
}

ssize_t conc_queue_get_begin(conc_queue *qh, void *buf, size_t cap,
			     int64_t timeout_ns)
{
	ssize_t n;
	int r;

	if (!qh || (!buf && cap) || qh->in_get)
		return -EINVAL;
	if ((r = lock(&qh->q->clock)))
		return r;
	n = peek(qh, buf, cap, timeout_ns);
	qh->in_get = n >= 0;
	return n;
}

int conc_queue_get_commit(conc_queue *qh)
{
	if (!qh || !qh->in_get)
		return -EINVAL;
	qh->in_get = false;
	take(qh->q);
	return 0;
}

int conc_queue_get_abort(conc_queue *qh)
{
	if (!qh || !qh->in_get)
		return -EINVAL;
	qh->in_get = false;
	conc_mutex_unlock(&qh->q->clock);
	return 0;
}

ssize_t conc_queue_size(conc_queue *qh)
{
	struct shared *q;
	uint32_t h, t;

	if (!qh)
		return -EINVAL;
	q = qh->q;
	h = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
	t = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
	return t - h > q->capacity ? 0 : (ssize_t)(t - h);
}

int conc_queue_close(conc_queue *qh)
{
	struct robust_list_head *h;
	struct shared *q;
	int r;

	if (!qh)
		return -EINVAL;
	q = qh->q;
	/* Under the producer lock, so no put is half way past its check. */
	if ((r = lock(&q->plock)))
		return r;
	h = robust_head();
	__conc_robust_doorbell(h, &q->not_empty);
	__atomic_store_n(&q->closed, 1, __ATOMIC_SEQ_CST);
	closed(q);
	__conc_robust_doorbell(h, NULL);
	conc_mutex_unlock(&q->plock);
	return 0;
}

static int attach(conc_queue **out, conc_shm *seg)
{
	struct shared *q = conc_shm_data(seg);
	conc_deadline dl = sys_now_ns() + 1000000000;
	size_t need;
	conc_queue *qh;

	/* Its creator may still be setting it up. */
	while (__atomic_load_n(&q->init, __ATOMIC_ACQUIRE) != 2)
		if (__conc_expired(dl))
			return -EPROTO;
		else
			sys_sched_yield();

	need = sizeof(*q) + (size_t)q->capacity * q->slot_size;
	if (!q->capacity || q->capacity > LIMIT || q->max_msg > LIMIT ||
	    q->slot_size < sizeof(struct slot) + q->max_msg ||
	    need > conc_shm_size(seg))
		return -EPROTO;
	qh = calloc(1, sizeof(*qh));
	if (!qh)
		return -ENOMEM;
	qh->seg = seg;
	qh->q = q;
	*out = qh;
	return 0;
}

int conc_queue_create(conc_queue **out, const conc_queue_attr *attr)
{
	uint32_t cap = attr && attr->capacity ? attr->capacity : DEFAULT_CAPACITY;
	uint32_t max = attr && attr->max_msg ? attr->max_msg : DEFAULT_MAX_MSG;
	uint32_t slot = (uint32_t)((sizeof(struct slot) + max + 7) & ~7u);
	struct shared *q;
	conc_shm *seg;
	int r;

	if (!out || cap > LIMIT || max > LIMIT)
		return -EINVAL;
	r = conc_shm_create(&seg, attr ? attr->name : NULL,
			    sizeof(*q) + (size_t)cap * slot, CONC_SHM_QUEUE,
			    attr ? attr->flags : 0);
	if (r)
		return r;
	q = conc_shm_data(seg);
	/* An existing named queue is opened, not set up again. */
	if (__atomic_compare_exchange_n(&q->init, &(uint32_t){ 0 }, 1, 0,
					__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		q->capacity = cap;
		q->max_msg = max;
		q->slot_size = slot;
		conc_mutex_init(&q->plock, CONC_ROBUST);
		conc_mutex_init(&q->clock, CONC_ROBUST);
		__atomic_store_n(&q->init, 2, __ATOMIC_RELEASE);
	}
	r = attach(out, seg);
	if (!r && (q->capacity != cap || q->max_msg != max)) {
		conc_queue_destroy(*out);
		return -EINVAL;
	}
	if (r)
		conc_shm_close(seg);
	return r;
}

int conc_queue_open(conc_queue **out, const char *name)
{
	conc_shm *seg;
	int r;

	if (!out)
		return -EINVAL;
	r = conc_shm_open(&seg, name, CONC_SHM_QUEUE);
	if (r)
		return r;
	r = attach(out, seg);
	if (r)
		conc_shm_close(seg);
	return r;
}

int conc_queue_destroy(conc_queue *qh)
{
	if (!qh)
		return -EINVAL;
	if (qh->in_get)
		conc_mutex_unlock(&qh->q->clock);
	conc_shm_close(qh->seg);
	free(qh);
	return 0;
}
