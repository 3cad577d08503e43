/*
 * A ring of fixed-size slots in a segment. Producers serialise on a robust
 * mutex and consumers on another, so one producer and one consumer never
 * contend for a lock. The commit points are single stores: message i is in
 * the queue exactly when slot i % capacity has seq i + 1, and out exactly
 * when `head` has passed i. Consumers look at the slot, whose line they
 * fetch anyway, rather than at a shared index. `tail` is the producers'
 * own count, stored just after the commit; a producer killed between the
 * two leaves a committed slot that the next producer counts (repair_tail).
 * A process killed anywhere else in a call has changed nothing the others
 * can see, and the robust mutex lets the next caller in.
 *
 * Sleeping. Each side has a sleep word (not_empty for consumers, not_full
 * for producers), 0 or RUNG. A sleeper, holding its side's lock, swaps the
 * word to 0, looks at the queue again, and only then sleeps while the word
 * is 0. A waker that commits and then finds the word 0 sets it to RUNG and
 * wakes every sleeper. So the word is 0 whenever some sleeper has not been
 * woken since it announced itself, and a waker that finds RUNG may skip the
 * system call. Every sleeper is woken, not one: no wake-up then rests on a
 * single process living long enough to use it.
 *
 * Deaths. From its commit to its wake-up, a waker's robust list_op_pending
 * points at the word: if it dies in between, the kernel finds no owner bits
 * in the word (0 and RUNG have none) and wakes one sleeper. A sleeper keeps
 * list_op_pending on its own word while it sleeps and until it holds its
 * lock again, so that if it dies woken but before acting, another is woken.
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
#include "wait/wait.h"
#include "sys/self.h"

#define DEFAULT_CAPACITY 64
#define DEFAULT_MAX_MSG	 8192
#define LIMIT		 (1u << 24)
#define RUNG_BIT	 30
#define RUNG		 (1u << RUNG_BIT)	/* outside FUTEX_TID_MASK: see above */
#define UNSET		 INT64_MIN	/* a deadline not yet read off the clock */
#define SLICE_NS	 1000000	/* a poller's look for a two-step get */

/* Message i lives in slot i % capacity, and is there exactly when the
 * slot's seq is i + 1: consumers look at the slot itself, whose line they
 * must fetch anyway, not at a shared index. */
struct slot {
	uint32_t seq;
	uint32_t len;
	unsigned char data[];
};

struct shared {
	uint32_t init;			/* 0 new, 1 being set up, 2 ready */
	uint32_t capacity, max_msg, slot_size, closed;
	uint32_t not_empty, not_full;	/* sleep words: 0 or RUNG */
	/* Each index has a line of its own: the other side reads it while
	 * spinning, and must not pull the lock's line away from its owner. */
	_Alignas(64) conc_mutex plock;
	uint32_t head_seen;		/* producers' last look at head */
	_Alignas(64) uint32_t tail;
	_Alignas(64) conc_mutex clock;
	uint32_t reserved;		/* clock held by a two-step get */
	_Alignas(64) uint32_t head;
	_Alignas(64) unsigned char slots[];
};

/* The geometry is copied here once checked, so that nothing written into
 * the segment later can send a copy outside it. */
struct conc_queue {
	conc_shm *seg;
	struct shared *q;
	uint32_t cap, max, slot_size;
	pid_t getter;		/* thread between get_begin and commit/abort */
};

static struct slot *slot_at(const conc_queue *qh, uint32_t i)
{
	return (struct slot *)(qh->q->slots + (size_t)(i % qh->cap) * qh->slot_size);
}

static bool ready_at(const conc_queue *qh, uint32_t h)
{
	return __atomic_load_n(&slot_at(qh, h)->seq, __ATOMIC_SEQ_CST) == h + 1;
}

/*
 * Wait a little for the other side's index to move before sleeping. Looks
 * at it less and less often: every look pulls its cache line away from the
 * writer, so a reader that looks after each message makes the writer pay
 * a transfer per message; looking after several lets it write a batch.
 */
static uint32_t spin_backoff(const uint32_t *index, uint32_t seen)
{
	uint32_t v = __atomic_load_n(index, __ATOMIC_ACQUIRE);
	unsigned i, k, gap = 1;

	if (__conc_ncpu() == 1)
		return v;
	for (i = 0; v == seen && i < __CONC_SPIN_MAX; i += gap) {
		for (k = 0; k < gap; k++)
			sys_cpu_relax();
		if (gap < 64)
			gap *= 2;
		v = __atomic_load_n(index, __ATOMIC_ACQUIRE);
	}
	return v;
}

static struct robust_list_head *robust_head(void)
{
	return __conc_robust_head(__conc_self());
}

/* The call's deadline, read off the clock only when first needed. */
static conc_deadline deadline(int64_t timeout_ns, conc_deadline *dl)
{
	if (*dl == UNSET)
		*dl = __conc_deadline(timeout_ns);
	return *dl;
}

/* A producer may have died between its commit (the slot's seq) and its
 * count (tail): count what it committed. */
static void repair_tail(const conc_queue *qh)
{
	struct shared *q = qh->q;
	uint32_t t = q->tail, n;

	for (n = 0; n < qh->cap && ready_at(qh, t); n++)
		t++;
	__atomic_store_n(&q->tail, t, __ATOMIC_RELAXED);
}

/*
 * Lock m within the call's time (timeout_ns < 0: no limit, 0: only try).
 * A dead owner cannot have left a half-done change: commits are single
 * stores.
 */
static int lock_by(const conc_queue *qh, conc_mutex *m, int64_t timeout_ns,
		   conc_deadline *dl)
{
	int64_t left;
	int r;

	if (timeout_ns < 0) {
		r = conc_mutex_lock(m);
	} else {
		r = conc_mutex_timedlock(m, 0);
		if (r == -ETIMEDOUT && timeout_ns > 0) {
			left = deadline(timeout_ns, dl) - sys_now_ns();
			r = conc_mutex_timedlock(m, left > 0 ? left : 0);
		}
	}
	if (r == -EOWNERDEAD) {
		if (m == &qh->q->plock)
			repair_tail(qh);
		r = conc_mutex_consistent(m);
	}
	return r;
}


/*
 * Set *word to RUNG, which stops sleepers still on their way in, and wake
 * every sleeper, in one system call: a waker that dies first leaves the
 * word 0, as the next waker needs to find it if the kernel's one wake-up
 * (the doorbell) is not enough.
 */
static void ring(uint32_t *word)
{
	/* FUTEX_OP() itself shifts a signed 8 into the sign bit. */
	uint32_t op = (uint32_t)(FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT) << 28 |
		      (uint32_t)FUTEX_OP_CMP_EQ << 24 | RUNG_BIT << 12;

	sys_futex(word, FUTEX_WAKE_OP, INT32_MAX, NULL, word, op);
}

/* Commit a new value of an index, then wake the other side's sleepers if
 * one may have announced itself, under the doorbell (see the top). */
static void publish(uint32_t *index, uint32_t v, uint32_t *count,
		    uint32_t *word)
{
	struct robust_list_head *h = robust_head();

	__conc_robust_doorbell(h, word);
	/* Store the index, then load the word; sleep_on() swaps the word,
	 * then loads the index: one of the two must see the other's store.
	 * A full fence here would stall every call on the index's cache
	 * line; when the sleeper runs membarrier(2) between its two steps, a
	 * compiler barrier is enough here. Else both sides are seq_cst. */
	if (__conc_membarrier_register()) {
		__atomic_store_n(index, v, __ATOMIC_RELEASE);
		if (count)
			__atomic_store_n(count, v, __ATOMIC_RELAXED);
		__asm__ __volatile__("" ::: "memory");
		if (!__atomic_load_n(word, __ATOMIC_RELAXED))
			ring(word);
	} else {
		__atomic_store_n(index, v, __ATOMIC_SEQ_CST);
		if (count)
			__atomic_store_n(count, v, __ATOMIC_RELAXED);
		if (!__atomic_load_n(word, __ATOMIC_SEQ_CST))
			ring(word);
	}
	__conc_robust_doorbell(h, NULL);
}

/*
 * With m held and the queue not ready for us: sleep until woken, then take
 * m again. Returns 0 with m held (look again), or without it a negative
 * errno: -ETIMEDOUT (the deadline passed and the queue is still not
 * ready), or an error from relocking.
 */
static int sleep_on(const conc_queue *qh, conc_mutex *m, uint32_t *word,
		    bool (*ready)(const conc_queue *), int64_t timeout_ns,
		    conc_deadline *dl)
{
	struct robust_list_head *h;
	uint32_t was;
	int r, r2;

	/* seq_cst swap, then seq_cst look at the queue: pairs with publish()
	 * and conc_queue_close(). */
	was = __atomic_exchange_n(word, 0, __ATOMIC_SEQ_CST);
	__conc_membarrier();
	if (ready(qh)) {
		/* Not sleeping after all. The RUNG we took may be all that
		 * tells a sleeper still on its way into futex_wait that it was
		 * rung: put it back. Only holders of m write 0, so nobody has
		 * announced a sleep since our swap. */
		if (was)
			__atomic_store_n(word, was, __ATOMIC_RELAXED);
		return 0;
	}
	conc_mutex_unlock(m);
	h = robust_head();
	__conc_robust_doorbell(h, word);
	r = __conc_wait(word, 0, deadline(timeout_ns, dl), 0);
	r2 = lock_by(qh, m, timeout_ns, dl);
	if (r2) {
		__conc_robust_doorbell(h, NULL);
		return r2;
	}
	/* Until we commit or let go of m (both clear it). */
	__conc_robust_doorbell(h, word);
	if (r == -ETIMEDOUT && !ready(qh)) {
		conc_mutex_unlock(m);
		return r;
	}
	return 0;
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
	       ready_at(qh, q->head);
}

/* Whoever finds the queue closed makes sure every sleeper was woken: a
 * closer killed before its own wake-ups had the kernel wake only one. A
 * word found RUNG has no sleeper left to wake. */
static int closed(struct shared *q)
{
	if (!__atomic_load_n(&q->not_empty, __ATOMIC_SEQ_CST))
		ring(&q->not_empty);
	if (!__atomic_load_n(&q->not_full, __ATOMIC_SEQ_CST))
		ring(&q->not_full);
	return -EPIPE;
}

int conc_queue_put(conc_queue *qh, const void *msg, size_t len,
		   int64_t timeout_ns)
{
	conc_deadline dl = UNSET;
	struct shared *q;
	struct slot *s;
	bool spun = false;
	uint32_t t;
	int r;

	if (!qh || (!msg && len))
		return -EINVAL;
	q = qh->q;
	if (len > qh->max)
		return -EMSGSIZE;
	/* Producers hold their lock for a copy, never across user code:
	 * waiting for it is not waiting for room, even with timeout 0. */
	r = lock_by(qh, &q->plock, timeout_ns > 0 ? timeout_ns : CONC_FOREVER,
		    &dl);
	if (r)
		return r;
	for (;;) {
		if (__atomic_load_n(&q->closed, __ATOMIC_ACQUIRE)) {
			conc_mutex_unlock(&q->plock);
			return closed(q);
		}
		t = q->tail;
		if (t - q->head_seen < qh->cap)
			break;
		q->head_seen = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
		if (t - q->head_seen < qh->cap)
			break;
		if (timeout_ns == 0) {
			conc_mutex_unlock(&q->plock);
			return -ETIMEDOUT;
		}
		if (!spun) {
			spun = true;
			deadline(timeout_ns, &dl);
			if (spin_backoff(&q->head, q->head_seen) != q->head_seen)
				continue;
		}
		r = sleep_on(qh, &q->plock, &q->not_full, has_room, timeout_ns,
			     &dl);
		if (r)
			return r;
	}
	s = slot_at(qh, t);
	s->len = (uint32_t)len;
	if (len)
		memcpy(s->data, msg, len);
	publish(&s->seq, t + 1, &q->tail, &q->not_empty);
	conc_mutex_unlock(&q->plock);
	return 0;
}

/* With the consumer lock held: wait for a message and copy it out. The
 * lock is kept on success and let go on failure. */
static ssize_t peek(conc_queue *qh, void *buf, size_t cap, int64_t timeout_ns,
		    conc_deadline *dl)
{
	struct shared *q = qh->q;
	bool spun = false;
	uint32_t h, n, seq;
	int r;

	for (;;) {
		h = q->head;
		seq = __atomic_load_n(&slot_at(qh, h)->seq, __ATOMIC_ACQUIRE);
		if (seq == h + 1)
			break;
		/* A put committed before the close is seen once closed is. */
		if (__atomic_load_n(&q->closed, __ATOMIC_ACQUIRE)) {
			if (ready_at(qh, h))
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
			deadline(timeout_ns, dl);
			if (spin_backoff(&slot_at(qh, h)->seq, seq) != seq)
				continue;
		}
		r = sleep_on(qh, &q->clock, &q->not_empty, has_msg, timeout_ns, dl);
		if (r)
			return r;
	}
	/* Read once: the length decides how much is copied. */
	n = slot_at(qh, h)->len;
	r = n > qh->max ? -EPROTO : n > cap ? -EMSGSIZE : 0;
	if (r) {
		conc_mutex_unlock(&q->clock);
		return r;
	}
	if (n)
		memcpy(buf, slot_at(qh, h)->data, n);
	return n;
}

static void take(conc_queue *qh)
{
	struct shared *q = qh->q;

	publish(&q->head, q->head + 1, NULL, &q->not_full);
	conc_mutex_unlock(&q->clock);
}

/*
 * The consumer lock, within the get's timeout. A two-step get holds it
 * across its caller's code: a get with timeout 0 waits for other gets (a
 * copy each) but gives up on finding a two-step get there.
 */
static int lock_consumers(conc_queue *qh, int64_t timeout_ns, conc_deadline *dl)
{
	struct shared *q = qh->q;
	conc_deadline slice;
	int r;

	if (timeout_ns)
		r = lock_by(qh, &q->clock, timeout_ns, dl);
	else
		do {
			slice = UNSET;
			r = lock_by(qh, &q->clock, SLICE_NS, &slice);
		} while (r == -ETIMEDOUT &&
			 !__atomic_load_n(&q->reserved, __ATOMIC_RELAXED));
	/* A two-step get that died left its mark. */
	if (!r)
		__atomic_store_n(&q->reserved, 0, __ATOMIC_RELAXED);
	return r;
}

/* Whether the calling thread is between get_begin and commit on qh. */
static bool mine(const conc_queue *qh)
{
	return __atomic_load_n(&qh->getter, __ATOMIC_RELAXED) ==
	       __conc_self()->tid;
}

/* The first step of both gets: the oldest message copied into buf, with
 * the consumer lock held (only when the result is a length). */
static ssize_t get_locked(conc_queue *qh, void *buf, size_t cap,
			  int64_t timeout_ns)
{
	conc_deadline dl = UNSET;
	int r;

	if (!qh || (!buf && cap) || mine(qh))
		return -EINVAL;
	if ((r = lock_consumers(qh, timeout_ns, &dl)))
		return r;
	return peek(qh, buf, cap, timeout_ns, &dl);
}

ssize_t conc_queue_get(conc_queue *qh, void *buf, size_t cap,
		       int64_t timeout_ns)
{
	ssize_t n = get_locked(qh, buf, cap, timeout_ns);

	if (n >= 0)
		take(qh);
	return n;
}

ssize_t conc_queue_get_begin(conc_queue *qh, void *buf, size_t cap,
			     int64_t timeout_ns)
{
	ssize_t n = get_locked(qh, buf, cap, timeout_ns);

	if (n >= 0) {
		__atomic_store_n(&qh->q->reserved, 1, __ATOMIC_RELAXED);
		/* Nothing in the caller's code may leave the kernel pointed
		 * into this segment. */
		__conc_robust_doorbell(robust_head(), NULL);
		__atomic_store_n(&qh->getter, __conc_self()->tid,
				 __ATOMIC_RELAXED);
	}
	return n;
}

int conc_queue_get_commit(conc_queue *qh)
{
	if (!qh || !mine(qh))
		return -EINVAL;
	__atomic_store_n(&qh->getter, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&qh->q->reserved, 0, __ATOMIC_RELAXED);
	take(qh);
	return 0;
}

int conc_queue_get_abort(conc_queue *qh)
{
	if (!qh || !mine(qh))
		return -EINVAL;
	__atomic_store_n(&qh->getter, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&qh->q->reserved, 0, __ATOMIC_RELAXED);
	conc_mutex_unlock(&qh->q->clock);
	return 0;
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

int conc_queue_close(conc_queue *qh)
{
	conc_deadline dl = UNSET;
	struct robust_list_head *h;
	struct shared *q;
	uint32_t *word;
	int r;

	if (!qh)
		return -EINVAL;
	q = qh->q;
	/* Under the producer lock, so no put is half way past its check. */
	if ((r = lock_by(qh, &q->plock, CONC_FOREVER, &dl)))
		return r;
	/* The doorbell covers one word: that of the side that may be asleep
	 * (consumers of an empty queue, else producers). Whoever the kernel
	 * wakes finds the queue closed and wakes the rest (closed()). */
	word = q->tail == __atomic_load_n(&q->head, __ATOMIC_ACQUIRE) ?
	       &q->not_empty : &q->not_full;
	h = robust_head();
	__conc_robust_doorbell(h, word);
	/* seq_cst: pairs with the sleepers' swap and look (sleep_on()). */
	__atomic_store_n(&q->closed, 1, __ATOMIC_SEQ_CST);
	ring(&q->not_empty);
	ring(&q->not_full);
	__conc_robust_doorbell(h, NULL);
	conc_mutex_unlock(&q->plock);
	return 0;
}

static int attach(conc_queue **out, conc_shm *seg)
{
	struct shared *q = conc_shm_data(seg);
	conc_deadline dl = sys_now_ns() + 1000000000;
	uint32_t cap, max, slot;
	conc_queue *qh;

	/* Its creator may still be setting it up. */
	while (__atomic_load_n(&q->init, __ATOMIC_ACQUIRE) != 2)
		if (__conc_expired(dl))
			return -EPROTO;
		else
			sys_sched_yield();

	cap = q->capacity;
	max = q->max_msg;
	slot = q->slot_size;
	if (!cap || cap > LIMIT || max > LIMIT || slot % 8 ||
	    slot < sizeof(struct slot) + max ||
	    sizeof(*q) + (size_t)cap * slot > conc_shm_size(seg))
		return -EPROTO;
	qh = calloc(1, sizeof(*qh));
	if (!qh)
		return -ENOMEM;
	qh->seg = seg;
	qh->q = q;
	qh->cap = cap;
	qh->max = max;
	qh->slot_size = slot;
	*out = qh;
	return 0;
}

int conc_queue_create(conc_queue **out, const conc_queue_attr *attr)
{
	uint32_t cap = attr && attr->capacity ? attr->capacity : DEFAULT_CAPACITY;
	uint32_t max = attr && attr->max_msg ? attr->max_msg : DEFAULT_MAX_MSG;
	/* Whole cache lines: neighbouring slots, filled and emptied by
	 * different CPUs, never share one. */
	uint32_t slot = (uint32_t)((sizeof(struct slot) + max + 63) & ~63u);
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
		/* Nobody sleeps yet: the first commits need not wake anyone. */
		q->not_empty = q->not_full = RUNG;
		conc_mutex_init(&q->plock, CONC_ROBUST);
		conc_mutex_init(&q->clock, CONC_ROBUST);
		__atomic_store_n(&q->init, 2, __ATOMIC_RELEASE);
	}
	r = attach(out, seg);
	if (!r && ((*out)->cap != cap || (*out)->max != max)) {
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
	if (mine(qh))
		conc_queue_get_abort(qh);
	conc_shm_close(qh->seg);
	free(qh);
	return 0;
}
