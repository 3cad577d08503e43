/* Internal: the handle and the worker (a kernel task with its mapping)
 * that runs one handle's function at a time, then parks for the next. */
#ifndef CONC_TASK_THREAD_H
#define CONC_TASK_THREAD_H

#include <stdint.h>
#include <conc/thread.h>
#include "libc.h"
#include "sys/sys.h"

#define T_DONE		1u
#define T_DETACHED	2u
#define T_JOINWAIT	4u

struct conc_thread {
	uint32_t state;
	int code;
	bool daemon;
};

struct worker {
	void *map;
	size_t map_len;
	size_t stack_size;
	void *tp;
	pid_t pid;		/* the process it was made in */
	/* the job */
	int (*fn)(void *);
	void *arg;
	conc_thread *h;
	uint64_t mask;
	unsigned long cpus[16];	/* the creator's affinity (1024 CPUs) */
	/* The creator's scheduling attributes (nice value, policy, priority)
	 * as a thread it clones would get them; unknown if !sched_known
	 * (sched_getattr refused), when any worker will do. */
	struct sys_sched_attr sched;
	bool sched_known;
	char name[16];
	char shown[16];		/* the name the task has now, */
	bool named;		/* once a job set it (a new task has its
				 * creator's, whatever the job asks) */
	int exit_code;
	void *jb[5];
	/* The job made a daemon child, whose PDEATHSIG fires when this task
	 * ends: the worker then ends with the job instead of parking. */
	bool daemons;
	/* parking: 0 parked, 1 has a job */
	uint32_t go;
	struct worker *next;
};

extern __thread struct worker *__conc_current_worker
	__attribute__((tls_model("initial-exec")));

/* A daemon child was made on the calling thread. The kernel kills it when
 * the task that made it ends, which for a conc thread should be the end of
 * its job (conc_proc_start(3)), not of a worker parked for other jobs. */
static inline void __conc_worker_made_daemon(void)
{
	if (__conc_current_worker)
		__conc_current_worker->daemons = true;
}

/* Take a parked worker with at least stack_size, or create one, and give
 * it the job already stored in the returned worker. */
int __conc_worker_run(struct worker *job, size_t stack_size) __CONC_HIDDEN;

/* Wait until every non-daemon thread of this process has finished: the
 * wait at exit, and at the end of a conc_proc_start child's fn. */
void __conc_thread_wait_all(void) __CONC_HIDDEN;

/* Publish the end of the job of h: DONE, and wake or free. */
void __conc_thread_finish(conc_thread *h, int code) __CONC_HIDDEN;

#endif
