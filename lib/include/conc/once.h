/* conc/once.h — run an initialiser exactly once. */
#ifndef CONC_ONCE_H
#define CONC_ONCE_H

#include <stdint.h>

/* A once flag. All zeroes means "not run yet". Within one process, or between
 * processes in shared memory for a function both can call. */
typedef struct conc_once {
	uint32_t state;
} conc_once_t;

#define CONC_ONCE_INIT { 0 }

/*
 * Call fn the first time conc_once() is called on once; every other caller
 * waits until that call has returned. Returns 0, or -EINVAL for NULL.
 * fn must not call conc_once() on the same flag (it would wait forever).
 */
int conc_once(conc_once_t *once, void (*fn)(void));

#endif
