/*
 * Join and kill through the pidfd. Waiting is the wait point's pidfd wait
 * (readable once the child has exited), reaping is waitid(P_PIDFD,
 * WNOHANG), so a timeout never reaps and the child stays joinable.
 */
#include <errno.h>
#include <sys/wait.h>
#include "proc_impl.h"

/* The status word waitpid(2) would have stored. */
static int wait_status(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED:
		return (si->si_status & 0xff) << 8;
	case CLD_KILLED:
		return si->si_status & 0x7f;
	case CLD_DUMPED:
		return (si->si_status & 0x7f) | 0x80;
	}
	return 0;
}

/* 1 once reaped, 0 while it runs, or -errno (-ECHILD: someone else reaped
 * it, e.g. with SIGCHLD ignored; its status is lost). */
static int reap(conc_proc *p)
{
	siginfo_t si;
	int r = 0;

	/* acquire: pairs with the release below, so status is complete. */
	if (__atomic_load_n(&p->joined, __ATOMIC_ACQUIRE))
		return 1;
	/* No pidfd: reaped elsewhere before conc_proc_start() could open one. */
	if (p->pidfd < 0)
		return -ECHILD;
	if ((r = conc_mutex_lock(&p->lock)) < 0)
		return r;	/* -ECANCELED */
	if (!p->joined) {
		r = __conc_proc_reap(P_PIDFD, (id_t)p->pidfd, &si);
		if (r > 0) {
			p->status = wait_status(&si);
			__atomic_store_n(&p->joined, 1, __ATOMIC_RELEASE);
		}
	}
	if (p->joined)
		r = 1;
	conc_mutex_unlock(&p->lock);
	return r;
}

int __conc_proc_join_until(conc_proc *p, int *status, conc_deadline dl)
{
	int r;

	if (!p)
		return -EINVAL;
	/* A wait that returns 0 (a signal) or > 0 (exited) only means: look
	 * again; -ETIMEDOUT comes from the wait once dl has passed. */
	while ((r = reap(p)) == 0)
		if ((r = __conc_wait_pidfd(p->pidfd, dl)) < 0)
			return r;
	if (r < 0)
		return r;
	if (status)
		*status = p->status;
	return 0;
}

int conc_proc_join(conc_proc *p, int *status, int64_t timeout_ns)
{
	return __conc_proc_join_until(p, status, __conc_deadline(timeout_ns));
}

int conc_proc_try_join(conc_proc *p, int *status)
{
	int r;

	if (!p)
		return -EINVAL;
	/* The lock reap() takes is only ever held across one waitid with
	 * WNOHANG: waiting for it is not waiting for the child. */
	if ((r = reap(p)) == 0)
		return -EAGAIN;
	if (r < 0)
		return r;
	if (status)
		*status = p->status;
	return 0;
}

int conc_proc_kill(conc_proc *p, int sig)
{
	if (!p)
		return -EINVAL;
	if (__atomic_load_n(&p->joined, __ATOMIC_ACQUIRE) || p->pidfd < 0)
		return -ESRCH;
	return sys_pidfd_send_signal(p->pidfd, sig, NULL, 0);
}
