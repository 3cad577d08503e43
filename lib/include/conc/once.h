/* conc/once.h — run an initialiser exactly once. */
#ifndef CONC_ONCE_H
#define CONC_ONCE_H

#include <stdint.h>
#include <conc/base.h>

/* A once flag. All zeroes means "not run yet". Within one process, or between
 * processes in shared memory for a function both can call. */
typedef struct conc_once {
	uint32_t state;
} conc_once_t;

#define CONC_ONCE_INIT { 0 }

/*
 * Call fn the first time conc_once() is called on once; every other caller
 * waits until that call has returned. Returns 0, -EINVAL for NULL (or a flag
 * holding a value no call writes), or
 * -ECANCELED in a cancelled task (see conc_task_cancel(3)): fn may not have
 * returned yet. fn must not call conc_once() on the same flag (it would
 * wait forever).
 */
int conc_once(conc_once_t *once, void (*fn)(void));

/* As conc_once(), waiting at most timeout_ns for the caller that runs fn:
 * -ETIMEDOUT when fn has not returned by then (it runs on; a later call
 * returns 0 once it has). */
int conc_once_timed(conc_once_t *once, void (*fn)(void), int64_t timeout_ns);

#endif
