/*
 * Per-thread facts conc caches to avoid a system call on every lock: the
 * kernel thread id, and the robust-list head the sync layer uses. The cache
 * is tagged with the process's fork generation, kept in a MADV_WIPEONFORK
 * page: a fork child finds the page zeroed, so every cached entry is
 * refreshed there before it is trusted.
 */
#ifndef CONC_SYS_SELF_H
#define CONC_SYS_SELF_H

#include <stdint.h>
#include <sys/types.h>

#include <conc/inline.h>

struct __conc_self *__conc_self_refresh(void)
	__attribute__((visibility("hidden")));

/* The caller's cache entry, valid in the current process. */
static inline struct __conc_self *__conc_self(void)
{
	struct __conc_self *s = __conc_self_cached();

	return __builtin_expect(s != NULL, 1) ? s : __conc_self_refresh();
}

/*
 * Execution contexts of one thread (__conc_self()->ctx, wait/wait.h): 0 is
 * its own code, 1..__CONC_CTX_TASK_MAX a loop's tasks (loop/task.c), and a
 * conc thread's jobs have the high bit (task/worker.c): each counter wraps
 * within its own range, so a task is never taken for the job or the
 * thread it runs in, nor a job for a thread's own code. What is left: after
 * a full cycle (2^31 tasks on one thread, 2^31 jobs in the process) an id
 * comes again, and a lock still held by the context that had it (a task
 * that lives that long, or one that ended holding it) is then the new
 * one's. Owners are 32-bit in the objects (mutex.h), so ids cannot grow.
 */
#define __CONC_CTX_TASK_MAX	0x7fffffffu
#define __CONC_CTX_JOB		0x80000000u

/* The task id after id: 1..__CONC_CTX_TASK_MAX, then 1 again (an id from
 * anywhere is brought into the range). */
static inline uint32_t __conc_task_id_next(uint32_t id)
{
	id = (id & __CONC_CTX_TASK_MAX) + 1;
	return id > __CONC_CTX_TASK_MAX ? 1 : id;
}

/* Register this process (once per fork generation) for the asymmetric
 * fence: 1 if the caller may then replace a full fence by a compiler
 * barrier, provided the other side calls __conc_membarrier(). */
int __conc_membarrier_register(void) __attribute__((visibility("hidden")));
void __conc_membarrier(void) __attribute__((visibility("hidden")));

/* Number of CPUs this process may run on (at least 1), probed once. */
int __conc_ncpu(void) __attribute__((visibility("hidden")));

/* Whether thread tid of this process has begun to exit (it runs no user
 * code again); false once it is gone, or when /proc cannot say. */
_Bool __conc_thread_exiting(pid_t tid) __attribute__((visibility("hidden")));

/* Whether a signal sent to the calling thread alone is pending on it
 * (blocked), not only to its process; true where /proc cannot tell. */
_Bool __conc_thread_signals_pending(void) __attribute__((visibility("hidden")));

#endif
