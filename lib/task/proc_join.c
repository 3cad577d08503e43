/*
 * Join and kill through the pidfd. Waiting is ppoll on the pidfd (readable
 * once the child has exited), reaping is waitid(P_PIDFD, WNOHANG), so a
 * timeout never reaps and the child stays joinable.
 */
#include <errno.h>
#include <poll.h>
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
	conc_mutex_lock(&p->lock);
	if (!p->joined) {
		si.si_pid = 0;
		r = sys_waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG,
			       NULL);
		if (r == 0 && si.si_pid != 0) {
			p->status = wait_status(&si);
			__atomic_store_n(&p->joined, 1, __ATOMIC_RELEASE);
		}
	}
	if (p->joined)
		r = 1;
	conc_mutex_unlock(&p->lock);
	return r == -EINTR ? 0 : r;
}

/* Sleep until the pidfd is readable or the deadline; EINTR is a wake-up. */
static int wait_exit(int pidfd, conc_deadline dl)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	struct timespec ts, *tp = NULL;
	int64_t left;
	int r;

	if (dl >= 0) {
		left = dl - sys_now_ns();
		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tp = &ts;
	}
	r = sys_ppoll(&pfd, 1, tp);
	return r == -EINTR ? 0 : r;
}

int conc_proc_join(conc_proc *p, int *status, int64_t timeout_ns)
{
	conc_deadline dl;
	int r;

	if (!p)
		return -EINVAL;
	dl = __conc_deadline(timeout_ns);
	while ((r = reap(p)) == 0) {
		if (__conc_expired(dl))
			return -ETIMEDOUT;
		if ((r = wait_exit(p->pidfd, dl)) < 0)
			return r;
	}
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
	if (__atomic_load_n(&p->joined, __ATOMIC_ACQUIRE))
		return -ESRCH;
	return sys_pidfd_send_signal(p->pidfd, sig, NULL, 0);
}
