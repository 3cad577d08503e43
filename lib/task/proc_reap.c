/*
 * Reaping: waitid with WNOHANG only. A child is waited for through the wait
 * point (its pidfd), never inside waitid, so that every wait of the library
 * can be a coroutine's suspension.
 */
#include <errno.h>
#include <sys/wait.h>
#include "proc_impl.h"

#define LOOK_NS 1000000	/* no pidfd: how often to look */

int __conc_proc_reap(idtype_t idtype, id_t id, siginfo_t *si)
{
	int r;

	si->si_pid = 0;
	r = sys_waitid(idtype, id, si, WEXITED | WNOHANG, NULL);
	if (r == -EINTR)
		return 0;
	return r < 0 ? r : si->si_pid != 0;
}

bool __conc_proc_ours(int pidfd)
{
	siginfo_t si;

	return sys_waitid(P_PIDFD, (id_t)pidfd, &si,
			  WEXITED | WNOHANG | WNOWAIT, NULL) != -ECHILD;
}

int __conc_proc_reap_ending(pid_t pid, int pidfd)
{
	siginfo_t si;
	int r, cancelled = 0;

	if (pidfd >= 0) {
		/* A cancelled coroutine's wait returns -ECANCELED once: the
		 * next one waits; the cancel is reported after the reaping. */
		while (__conc_proc_reap(P_PIDFD, (id_t)pidfd, &si) == 0)
			if ((r = __conc_wait_pidfd(pidfd, -1)) == -ECANCELED)
				cancelled = r;
			else if (r < 0)
				break;
		return cancelled;
	}
	/* Without a pidfd (pidfd_open failed) nothing can be waited on: look
	 * again and again. The child is dying, so this is short. */
	while (__conc_proc_reap(P_PID, (id_t)pid, &si) == 0)
		if (__conc_sleep_until(__conc_deadline(LOOK_NS)) == -ECANCELED)
			cancelled = -ECANCELED;
	return cancelled;
}
