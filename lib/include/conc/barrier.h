/* conc/barrier.h — N parties meet before any goes on (threading.Barrier). */
#ifndef CONC_BARRIER_H
#define CONC_BARRIER_H

#include <stdint.h>
#include <conc/base.h>

/* A barrier. Must be initialised with conc_barrier_init() (a zeroed barrier
 * has no parties and every wait on it fails with -EINVAL). Usable between
 * processes in shared memory. Reusable: rounds follow each other. */
typedef struct conc_barrier {
	uint32_t parties;
	uint32_t arrived;
	uint32_t seq;
	uint32_t flags;
} conc_barrier;

/* Returned to exactly one caller of each round. */
#define CONC_BARRIER_SERIAL 1

/* Initialise b for n parties with flags (CONC_PRIVATE or 0).
 * Returns 0 or -EINVAL (NULL, n == 0, n > INT32_MAX, unknown flags). */
int conc_barrier_init(conc_barrier *b, unsigned n, unsigned flags);

/* Wait until n parties have called it in this round. Returns
 * CONC_BARRIER_SERIAL to one of them and 0 to the others, -EPIPE if the
 * barrier is broken (a waiter timed out), or -EINVAL. */
int conc_barrier_wait(conc_barrier *b);

/*
 * As conc_barrier_wait(), giving up after timeout_ns (CONC_FOREVER waits
 * forever, 0 only completes a round if the caller is its last party).
 * A timeout breaks the barrier for everyone, as Python's Barrier.wait(timeout)
 * does: the caller gets -ETIMEDOUT, every party waiting in that round and
 * every later caller -EPIPE, until conc_barrier_init() is called again
 * (when nobody waits). If the round completes before the timeout is acted
 * upon, the caller gets 0 instead.
 */
int conc_barrier_wait_timed(conc_barrier *b, int64_t timeout_ns);

#endif
