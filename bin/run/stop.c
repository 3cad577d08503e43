/* Stopping jobs: on a signal to us (the same to every job's process
 * group, SIGKILL on a second one), at a --timeout (TERM), and a grace
 * after either (KILL). */
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "loop.h"

void stop_job(struct job *j, int sig, int64_t now)
{
	j->stop_sig = sig;
	job_signal(j, sig);
	j->kill_stage = 1;
	j->kill_at = now + GRACE_NS;
}

void stop_all(struct run *r, int sig)
{
	int64_t now = now_ns();

	for (long s = 0; s < r->nact; s++) {
		struct job *j = r->act[s];

		if (j->exited)
			continue;
		j->killed = true;
		stop_job(j, sig, now);
	}
	r->stop = true;
}

void stop_on_signal(struct run *r)
{
	struct signalfd_siginfo si;

	while (read(r->sfd, &si, sizeof(si)) == sizeof(si)) {
		int sig = (int)si.ssi_signo;

		if (sig == SIGPIPE)
			continue;
		stop_all(r, r->sig ? SIGKILL : sig == SIGHUP ? SIGTERM : sig);
		r->sig = sig;
	}
}

void stop_retime(struct run *r, int64_t median_ns, double pct)
{
	/* GNU parallel looks at its jobs' deadlines with a clock of whole
	 * seconds: a job of 1 ms is not killed at 3 ms for a jitter of 2. */
	r->timeout_ns = (int64_t)((double)median_ns * pct);
	if (r->timeout_ns < 1000000000)
		r->timeout_ns = 1000000000;
	for (long s = 0; s < r->nact; s++) {
		struct job *j = r->act[s];

		if (!j->exited && j->kill_stage == 0)
			j->kill_at = j->t0 + r->timeout_ns;
	}
}

/* TERM at the deadline, KILL a grace later. */
int64_t stop_overdue(struct run *r, int64_t now)
{
	int64_t next = -1;

	for (long s = 0; s < r->nact; s++) {
		struct job *j = r->act[s];

		if (j->exited || j->kill_at < 0)
			continue;
		if (j->kill_at <= now) {
			if (j->kill_stage == 0) {
				j->timed_out = true;
				stop_job(j, SIGTERM, now);
			} else {
				job_signal(j, SIGKILL);
				j->kill_at = -1;
				continue;
			}
		}
		if (next < 0 || j->kill_at < next)
			next = j->kill_at;
	}
	return next;
}
