/* A job's task: with --line-buffer a task per output pipe reads it as it
 * fills and prints its complete lines (grouped output waits in memfds,
 * read at the reap), one feeds --pipe's chunk, and the job's task waits
 * for its pidfd; then it stops them, reaps the job, reads what is left
 * and finishes it. */
#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include "loop.h"

#define REAP_RETRY_NS 1000000	/* pidfd readable, not yet reapable */

/* One process runs one loop: the run its tasks belong to. */
static struct run *run_of;

static void die_go(int e)
{
	run_die("cannot start a task", e);
}

static int read_pipe(struct job *j, int *fd)
{
	const struct opts *o = run_of->o;

	while (*fd >= 0) {
		int e = conc_poll(*fd, POLLIN, -1);

		if (e == -EINTR)
			continue;
		if (e < 0)
			return e;
		job_read(j, o, *fd);
		if (o->linebuf && (!o->keep || j->seq == run_of->next_print)) {
			emit_lines(j, o);
			out_flush();
		}
	}
	return 0;
}

static int out_task(void *arg)
{
	struct job *j = arg;

	return read_pipe(j, &j->ofd);
}

static int err_task(void *arg)
{
	struct job *j = arg;

	return read_pipe(j, &j->efd);
}

static int feed_task(void *arg)
{
	struct job *j = arg;

	while (j->ifd >= 0) {
		int e = conc_poll(j->ifd, POLLOUT, -1);

		if (e < 0 && e != -EINTR)
			return e;
		job_feed(j);
	}
	return 0;
}

/* The pipe tasks end (those still waiting, cancelled) before the reap
 * reads the rest and closes the fds they wait on. */
static void stop_all_of(conc_task **t, int n)
{
	for (int i = 0; i < n; i++) {
		conc_task_cancel(t[i]);
		while (conc_task_join(t[i], NULL, -1) == -ECANCELED)
			;
	}
}

static int job_task(void *arg)
{
	struct job *j = arg;
	struct run *r = run_of;
	conc_task *t[3];
	int n = 0, e, g;

	if (j->ofd >= 0 && (e = conc_go(&t[n++], out_task, j, NULL)) < 0)
		die_go(e);
	if (j->efd >= 0 && (e = conc_go(&t[n++], err_task, j, NULL)) < 0)
		die_go(e);
	if (j->ifd >= 0 && (e = conc_go(&t[n++], feed_task, j, NULL)) < 0)
		die_go(e);
	/* Cancelled only as the loop ends, which waits for no job: then
	 * look anyway. */
	while ((e = conc_poll(j->pidfd, POLLIN, -1)) == -EINTR)
		;
	stop_all_of(t, n);
	g = stop_group_hold(j);
	for (;;) {
		job_reap(j, r->o);
		if (j->exited)
			break;
		conc_sleep(REAP_RETRY_NS);
	}
	if (g >= 0) {
		while (stop_group_left(g, j->pid, j->kill_at, now_ns()))
			conc_sleep(STOP_LOOK_NS);
		close(g);
	}
	/* May start j again (--retries), in a task of its own. */
	finish(r, j);
	if (r->ndead == r->deadcap) {
		r->deadcap = r->deadcap ? r->deadcap * 2 : 64;
		r->dead = run_realloc(r->dead, sizeof(*r->dead) * r->deadcap);
	}
	r->dead[r->ndead++] = conc_task_self();
	tasks_wake(r);
	return 0;
}

void watch_job(struct run *r, struct job *j)
{
	conc_task *t;
	int e;

	run_of = r;
	if (j->exited)
		return;
	if ((e = conc_go(&t, job_task, j, NULL)) < 0)
		die_go(e);
}
