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
 * CONC_BARRIER_SERIAL to one of them and 0 to the others, or -EINVAL. */
int conc_barrier_wait(conc_barrier *b);

#endif
