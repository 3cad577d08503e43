/* The fallback wait, for a kernel without io_uring (conc_run returns
 * -ENOSYS): one poll over the signalfd, stdin (when a job waits for
 * input), and every running job's pidfd, output pipes and --pipe stdin. */
#include <poll.h>
#include <unistd.h>
#include "loop.h"

static void add_fd(struct run *r, int *n, int fd, short ev, struct job *j)
{
	r->pfd[*n] = (struct pollfd){ .fd = fd, .events = ev };
	r->pjob[(*n)++] = j;
}

static void wait_once(struct run *r)
{
	int64_t now = now_ns(), next;
	int n = 0, in_fd, ms;

	next = run_due(r, now, &in_fd);
	add_fd(r, &n, r->sfd, POLLIN, NULL);
	if (in_fd >= 0)
		add_fd(r, &n, in_fd, POLLIN, NULL);
	for (long s = 0; s < r->nact; s++) {
		struct job *j = r->act[s];

		if (j->exited)
			continue;
		if (j->ofd >= 0)
			add_fd(r, &n, j->ofd, POLLIN, j);
		if (j->efd >= 0)
			add_fd(r, &n, j->efd, POLLIN, j);
		if (j->ifd >= 0)
			add_fd(r, &n, j->ifd, POLLOUT, j);
		/* Last: finishing may free the job. */
		add_fd(r, &n, j->pidfd, POLLIN, j);
	}
	ms = next < 0 ? -1 : (int)((next - now + 999999) / 1000000);
	if (poll(r->pfd, (nfds_t)n, ms) <= 0)
		return;
	for (int i = 0; i < n; i++) {
		struct job *j = r->pjob[i];
		int fd = r->pfd[i].fd;

		if (!r->pfd[i].revents)
			continue;
		if (!j) {
			if (fd == r->sfd)
				stop_on_signal(r);
			else
				run_input(r);
			continue;
		}
		if (j->exited)
			continue;
		if (fd == j->ifd) {
			job_feed(j);
		} else if (fd == j->ofd || fd == j->efd) {
			job_read(j, r->o, fd);
			if (r->o->linebuf && (!r->o->keep || j->seq == r->next_print))
				emit_lines(j, r->o);
		} else if (fd == j->pidfd) {
			int g = stop_group_hold(j);

			job_reap(j, r->o);
			/* What it left in its group (see stop.c): this loop
			 * waits for it, a grace at most, once per stop. */
			while (g >= 0 && j->exited &&
			       stop_group_left(g, j->pid, j->kill_at, now_ns()))
				conc_sleep(STOP_LOOK_NS);
			if (g >= 0)
				close(g);
			if (j->exited)
				finish(r, j);
		}
	}
}

void poll_run(struct run *r)
{
	while (run_more(r))
		wait_once(r);
}
