/*
 * conc_proc_kill_group: signal the process group a spawned child leads.
 * Since Linux 6.9 through the pidfd (PIDFD_SIGNAL_PROCESS_GROUP: the group
 * whose id is that process's pid, so never a group that took the id over);
 * before, kill(-pid) under the handle's lock, so that no join of ours
 * reaps the leader (and frees the id) between our look and the signal.
 */
#include <errno.h>
#include "proc_impl.h"

#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1u << 2)
#endif

/* Set once the kernel refused the flag (before 6.9). */
static int no_group_flag;

static int kill_pgrp_locked(conc_proc *p, int sig)
{
	int r;

	if ((r = conc_mutex_lock(&p->lock)) < 0)
		return r;	/* -ECANCELED */
	r = p->joined ? -ESRCH : sys_kill(-p->pid, sig);
	conc_mutex_unlock(&p->lock);
	return r;
}

int conc_proc_kill_group(conc_proc *p, int sig)
{
	int r;

	/* A bad sig is ours to refuse: the kernel's -EINVAL then only
	 * means it does not know the flag. */
	if (!p || !p->leader || sig < 0 || sig >= 65)
		return -EINVAL;
	if (__atomic_load_n(&p->joined, __ATOMIC_ACQUIRE))
		return -ESRCH;
	if (!__atomic_load_n(&no_group_flag, __ATOMIC_RELAXED)) {
		r = sys_pidfd_send_signal(p->pidfd, sig, NULL,
					  PIDFD_SIGNAL_PROCESS_GROUP);
		if (r != -EINVAL)
			return r;
		__atomic_store_n(&no_group_flag, 1, __ATOMIC_RELAXED);
	}
	return kill_pgrp_locked(p, sig);
}
