/* The handle: allocation, the accessors, release. */
#include <errno.h>
#include <stdlib.h>
#include "proc_impl.h"

conc_proc *__conc_proc_alloc(bool daemon)
{
	conc_proc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	conc_mutex_init(&p->lock, CONC_PRIVATE);
	p->pidfd = p->in = p->out = p->err = -1;
	p->daemon = daemon;
	return p;
}

void __conc_proc_free(conc_proc *p)
{
	if (p->pidfd >= 0)
		sys_close(p->pidfd);
	if (p->in >= 0)
		sys_close(p->in);
	if (p->out >= 0)
		sys_close(p->out);
	if (p->err >= 0)
		sys_close(p->err);
	free(p);
}

pid_t conc_proc_pid(const conc_proc *p)
{
	return p ? p->pid : -EINVAL;
}

int conc_proc_pidfd(const conc_proc *p)
{
	if (!p)
		return -EINVAL;
	/* Reaped elsewhere before conc_proc_start() could open one. */
	return p->pidfd >= 0 ? p->pidfd : -ECHILD;
}

int conc_proc_stdin(const conc_proc *p)
{
	int fd;

	if (!p)
		return -EINVAL;
	fd = __atomic_load_n(&p->in, __ATOMIC_RELAXED);
	return fd >= 0 ? fd : -EBADF;
}

int conc_proc_stdout(const conc_proc *p)
{
	if (!p)
		return -EINVAL;
	return p->out >= 0 ? p->out : -EBADF;
}

int conc_proc_stderr(const conc_proc *p)
{
	if (!p)
		return -EINVAL;
	return p->err >= 0 ? p->err : -EBADF;
}

int conc_proc_close_stdin(conc_proc *p)
{
	int fd;

	if (!p)
		return -EINVAL;
	/* Exchange: two racing callers never close the same number twice. */
	fd = __atomic_exchange_n(&p->in, -1, __ATOMIC_RELAXED);
	if (fd < 0)
		return -EBADF;
	sys_close(fd);
	return 0;
}

int conc_proc_release(conc_proc *p)
{
	if (!p)
		return -EINVAL;
	__conc_proc_untrack(p);
	__conc_proc_free(p);
	return 0;
}
