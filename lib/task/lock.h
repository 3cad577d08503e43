/*
 * Internal locks (a handle's, a registry's, a pool's) guard a few
 * instructions. Inside a cancelled coroutine, conc_mutex_lock returns
 * -ECANCELED once without the lock (wait/wait.h): a call that has changed
 * nothing yet returns it as its final result; one that must go on (to put
 * state back, free, unlink) takes the lock anyway and passes the cancel on
 * where it can.
 */
#ifndef CONC_TASK_LOCK_H
#define CONC_TASK_LOCK_H

#include <errno.h>
#include <conc/mutex.h>
#include <conc/once.h>
#include "wait/wait.h"

/* Take m whatever happens: 0, or -ECANCELED if a cancel came meanwhile. */
static inline int __conc_lock_anyway(conc_mutex *m)
{
	int r = 0;

	while (conc_mutex_lock(m) == -ECANCELED)
		r = -ECANCELED;
	return r;
}

/* Take m whatever happens, for a call that has nothing to return a cancel
 * with: one that came meanwhile goes to the next suspending call. */
static inline void __conc_lock_keep(conc_mutex *m)
{
	if (__conc_lock_anyway(m) < 0)
		__conc_wait_recancel();
}

/* Have once's fn run (here or by another caller) whatever happens: 0, or
 * -ECANCELED if a cancel came meanwhile. */
static inline int __conc_once_anyway(conc_once_t *once, void (*fn)(void))
{
	int r = 0;

	while (conc_once(once, fn) == -ECANCELED)
		r = -ECANCELED;
	return r;
}

#endif
