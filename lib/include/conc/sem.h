/* conc/sem.h — counting semaphore (threading.Semaphore). */
#ifndef CONC_SEM_H
#define CONC_SEM_H

#include <stdint.h>
#include <conc/base.h>

/* A counting semaphore. All zeroes is a valid semaphore with value 0, usable
 * between processes in shared memory. Do not touch the fields. */
typedef struct conc_sem {
	uint32_t value;
	uint32_t waiters;
	uint32_t flags;
} conc_sem;

#define CONC_SEM_INIT(v) { (v), 0, 0 }
#define CONC_SEM_VALUE_MAX 0x7fffffff

/* Initialise s with value permits and flags (CONC_PRIVATE or 0).
 * Returns 0, or -EINVAL for NULL, unknown flags or value > CONC_SEM_VALUE_MAX. */
int conc_sem_init(conc_sem *s, unsigned value, unsigned flags);

/* Give back one permit, waking one waiter if any. Returns 0, or -EOVERFLOW
 * when the value is already CONC_SEM_VALUE_MAX. */
int conc_sem_post(conc_sem *s);

/* Take one permit, waiting as long as it takes. Returns 0, -EINVAL for NULL
 * or a misaligned s (-ECANCELED in a cancelled task: see
 * conc_task_cancel(3)). */
int conc_sem_wait(conc_sem *s);

/* Take one permit if one is free now; -EAGAIN otherwise. */
int conc_sem_trywait(conc_sem *s);

/* Take one permit, waiting at most timeout_ns: 0, -ETIMEDOUT or -ECANCELED. */
int conc_sem_timedwait(conc_sem *s, int64_t timeout_ns);

/* The number of free permits now (a snapshot), or -EINVAL for NULL. */
int conc_sem_value(const conc_sem *s);

#endif
