/*
 * The sleep words: not_empty for consumers, not_full for producers, each
 * 0 or RUNG. Only the holder of a side's lock sleeps, and it keeps the
 * lock while it sleeps: it swaps its word to 0, looks at the queue again,
 * and only then sleeps while the word is 0. A waker that commits and then
 * finds the word 0 sets it to RUNG and wakes the sleeper. So the word is 0
 * whenever a sleeper has not been woken since it announced itself, and a
 * waker that finds RUNG may skip the system call. The rest of a side
 * waits for the lock.
 *
 * Deaths. A waker dies between its commit and its wake-up: from one to
 * the other its robust list_op_pending points at the word, and the kernel,
 * finding no owner bits in it (0 and RUNG have none), wakes one sleeper,
 * the only one there is. A sleeper dies, woken or not, before it acts: it
 * holds its side's lock, so the kernel marks the lock and wakes the next
 * caller waiting for it, who looks at the queue itself. No wake-up rests
 * on a process living long enough to use it, and list_op_pending is never
 * set across a wait (a wait may be a coroutine switch, and another context
 * of the thread would overwrite it).
 */
#include <errno.h>
#include "ipc/queue_impl.h"
#include "sync/robust.h"

static struct robust_list_head *robust_head(void)
{
	return __conc_robust_head(__conc_self());
}

/* Set *word to RUNG, which stops a sleeper still on its way in, and wake
 * every sleeper, in one system call: a waker that dies first leaves the
 * word 0, as the kernel's wake-up through the doorbell needs to find it. */
static void ring(uint32_t *word)
{
	/* FUTEX_OP() itself shifts a signed 8 into the sign bit. */
	uint32_t op = (uint32_t)(FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT) << 28 |
		      (uint32_t)FUTEX_OP_CMP_EQ << 24 | RUNG_BIT << 12;

	__conc_wake_op(word, INT32_MAX, word, 0, op, 0);
}

/* Commit a new value of an index, then wake the other side's sleeper if
 * it may have announced itself, under the doorbell (see the top). */
void __conc_q_publish(uint32_t *index, uint32_t v, uint32_t *count,
		      uint32_t *word)
{
	struct robust_list_head *h = robust_head();

	__conc_robust_doorbell(h, word);
	/* Store the index, then load the word; __conc_q_sleep() swaps the
	 * word, then loads the index: one of the two must see the other's
	 * store. A full fence here would stall every call on the index's
	 * cache line; when the sleeper runs membarrier(2) between its two
	 * steps, a compiler barrier is enough here. Else both are seq_cst. */
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
 * With s's lock held and the queue not ready for us: sleep, keeping the
 * lock, until woken or the deadline. Returns 0 with the lock held (look
 * again), or without it -ETIMEDOUT (the deadline passed and the queue is
 * still not ready) or -ECANCELED (the caller, a coroutine, was cancelled).
 */
int __conc_q_sleep(const conc_queue *qh, struct side *s, uint32_t *word,
		   bool (*ready)(const conc_queue *), conc_deadline dl)
{
	uint32_t was;
	int r;

	__conc_q_park(s, true);
	/* seq_cst swap, then seq_cst look at the queue: pairs with
	 * __conc_q_publish() and conc_queue_close(). */
	was = __atomic_exchange_n(word, 0, __ATOMIC_SEQ_CST);
	__conc_membarrier();
	if (ready(qh)) {
		/* Not sleeping after all: put back the RUNG we took, so the
		 * next waker need not ring. Only holders of the lock write 0,
		 * so nobody has announced a sleep since our swap. */
		if (was)
			__atomic_store_n(word, was, __ATOMIC_RELAXED);
		__conc_q_park(s, false);
		return 0;
	}
	r = __conc_wait(word, 0, dl, 0);
	__conc_q_park(s, false);
	/* A cancelled coroutine's wait is over, whatever the queue holds. */
	if (r == -ECANCELED || (r == -ETIMEDOUT && !ready(qh))) {
		__conc_q_unlock(s);
		return r;
	}
	return 0;
}

/* Whoever finds the queue closed makes sure both sleepers were woken: a
 * closer killed before its own wake-ups had the kernel wake only one. */
int __conc_q_closed(struct shared *q)
{
	if (!__atomic_load_n(&q->not_empty, __ATOMIC_SEQ_CST))
		ring(&q->not_empty);
	if (!__atomic_load_n(&q->not_full, __ATOMIC_SEQ_CST))
		ring(&q->not_full);
	return -EPIPE;
}

/*
 * Without either lock: a sleeper holds its side's lock until it is woken.
 * A put that looked at `closed` before this store may still commit after
 * it; consumers that find the queue closed and empty wait for such a put
 * (__conc_q_drain_puts()).
 */
int conc_queue_close(conc_queue *qh)
{
	struct robust_list_head *h;
	struct shared *q;
	uint32_t *word;

	if (!qh)
		return -EINVAL;
	q = qh->q;
	/* The doorbell covers one word: that of the side that may be asleep
	 * (consumers of an empty queue, else producers). Whoever the kernel
	 * wakes finds the queue closed and wakes the other (__conc_q_closed). */
	word = __atomic_load_n(&q->tail, __ATOMIC_RELAXED) ==
			       __atomic_load_n(&q->head, __ATOMIC_RELAXED) ?
	       &q->not_empty : &q->not_full;
	h = robust_head();
	__conc_robust_doorbell(h, word);
	/* seq_cst: pairs with the sleepers' swap and look. */
	__atomic_store_n(&q->closed, 1, __ATOMIC_SEQ_CST);
	ring(&q->not_empty);
	ring(&q->not_full);
	__conc_robust_doorbell(h, NULL);
	return 0;
}
