/*
 * conc_queue: a ring of fixed-size slots in a segment, shared by the files
 * queue_*.c, one concept each:
 *   queue_ring.c   the commit protocol of puts and gets (below);
 *   queue_sleep.c  the sleep words: how a side sleeps and is woken;
 *   queue_side.c   a side's lock, held across a sleep or a two-step get;
 *   queue_step.c   the two-step get (begin, commit, abort);
 *   queue.c        create, open, validation, destroy.
 *
 * Commits. Producers serialise on one robust lock and consumers on
 * another, so one producer and one consumer never contend for a lock. The
 * commit points are single stores: message i is in the queue exactly when
 * slot i % ring has seq i + 1, and out exactly when `head` has passed i.
 * The ring is the capacity rounded up to a power of two: indices are 32-bit
 * and wrap, and only a power of two divides 2^32, so that message 2^32 - 1
 * and message 0 (its successor) sit in neighbouring slots; with i % capacity
 * a queue of capacity 5 lost a message and hung after 2^32 of them. Consumers look at the slot, whose line they fetch anyway, rather than
 * at a shared index. `tail` is the producers' own count, stored just after
 * the commit; a producer killed between the two leaves a committed slot
 * that the next producer counts (repair_tail). A process killed anywhere
 * else in a call has changed nothing the others can see, and the robust
 * lock lets the next caller in.
 *
 * The segment is input: another process may write any byte of it. The
 * geometry is checked once and copied into the handle; every index is
 * taken modulo the copied capacity, every length checked against the
 * copied max_msg, every walk bounded, every wait bounded by the caller's
 * deadline.
 */
#ifndef CONC_IPC_QUEUE_IMPL_H
#define CONC_IPC_QUEUE_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <conc/mutex.h>
#include <conc/queue.h>
#include <conc/shm.h>
#include "wait/wait.h"

#define QUEUE_LIMIT	 (1u << 24)
#define RUNG_BIT	 30
#define RUNG		 (1u << RUNG_BIT)	/* outside FUTEX_TID_MASK */
#define DL_TRY		 0	/* timeout 0: a deadline that has always passed */
/* init once set up. 2 meant the layout whose slot was i % capacity, which
 * a process of this version must not share: it is refused (-EPROTO). */
#define QUEUE_READY	 3
#define QUEUE_OLD_READY	 2

/* Message i lives in slot i % ring, and is there exactly when the slot's
 * seq is i + 1. */
struct slot {
	uint32_t seq;
	uint32_t len;
	unsigned char data[];
};

/* One side (producers or consumers): its lock, and what the holder tells
 * the others while it holds the lock across a wait (queue_side.c). */
struct side {
	conc_mutex lock;
	uint32_t parked;	/* 1: the holder sleeps or is in a two-step get */
};

struct shared {
	uint32_t init;			/* 0 new, 1 being set up, QUEUE_READY */
	uint32_t capacity, max_msg, slot_size, closed;
	uint32_t not_empty, not_full;	/* sleep words: 0 or RUNG */
	/* Each index has a line of its own: the other side reads it while
	 * spinning, and must not pull the lock's line away from its owner. */
	_Alignas(64) struct side p;
	uint32_t head_seen;		/* producers' last look at head */
	_Alignas(64) uint32_t tail;
	_Alignas(64) struct side c;
	_Alignas(64) uint32_t head;
	_Alignas(64) unsigned char slots[];
};

/* The geometry is copied here once checked, so that nothing written into
 * the segment later can send a copy outside it. */
struct conc_queue {
	conc_shm *seg;
	struct shared *q;
	uint32_t cap, max, slot_size;
	uint32_t ring;		/* slots: cap rounded up to a power of two */
	uint64_t getter;	/* (ctx << 32 | tid) between get_begin and
				 * commit/abort, else 0 */
};

/* The slots a queue of capacity cap has (cap <= QUEUE_LIMIT, a power of
 * two itself, so this never overflows). */
static inline uint32_t __conc_q_ring(uint32_t cap)
{
	uint32_t r = 1;

	while (r < cap)
		r <<= 1;
	return r;
}

static inline struct slot *__conc_q_slot(const conc_queue *qh, uint32_t i)
{
	return (struct slot *)(qh->q->slots + (size_t)(i & (qh->ring - 1)) * qh->slot_size);
}

static inline bool __conc_q_ready_at(const conc_queue *qh, uint32_t h)
{
	return __atomic_load_n(&__conc_q_slot(qh, h)->seq, __ATOMIC_SEQ_CST) == h + 1;
}

/* queue_side.c */
int __conc_q_lock(const conc_queue *qh, struct side *s, conc_deadline dl,
		  bool patient) __CONC_HIDDEN;
void __conc_q_unlock(struct side *s) __CONC_HIDDEN;
void __conc_q_park(struct side *s, bool on) __CONC_HIDDEN;
int __conc_q_drain_puts(const conc_queue *qh, conc_deadline dl) __CONC_HIDDEN;

/* queue_sleep.c */
void __conc_q_publish(uint32_t *index, uint32_t v, uint32_t *count,
		      uint32_t *word) __CONC_HIDDEN;
int __conc_q_sleep(const conc_queue *qh, struct side *s, uint32_t *word,
		   bool (*ready)(const conc_queue *), conc_deadline dl) __CONC_HIDDEN;
int __conc_q_closed(struct shared *q) __CONC_HIDDEN;

/* queue_ring.c */
ssize_t __conc_q_get_locked(conc_queue *qh, void *buf, size_t cap,
			    int64_t timeout_ns) __CONC_HIDDEN;
void __conc_q_take(conc_queue *qh) __CONC_HIDDEN;
void __conc_q_repair_tail(const conc_queue *qh) __CONC_HIDDEN;

/* queue_step.c */
bool __conc_q_mine(const conc_queue *qh) __CONC_HIDDEN;

#endif
