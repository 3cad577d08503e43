/* The wait on the coroutine loop: conc_run's main task starts jobs and
 * waits for stdin (when a job waits for input), a deadline (--timeout,
 * its grace, --delay, the progress line) or a wake-up; a task reads the
 * signalfd; a task per job watches it (watch.c).
 *
 * The wake-up is conc_task_cancel on the main task: its current or next
 * wait returns -ECANCELED, once, so no wake-up is lost between its look
 * and its wait, and many of them cost one pass. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include "loop.h"

#define IDLE_NS (3600 * (int64_t)1000000000)	/* nothing due: look hourly */

void tasks_wake(struct run *r)
{
	if (r->main && conc_task_self() != r->main)
		conc_task_cancel(r->main);
}

/* A join may see a wake-up meant for the wait: it is the same news (look
 * again), so join again. */
static void join(conc_task *t)
{
	while (conc_task_join(t, NULL, -1) == -ECANCELED)
		;
}

/* The job tasks that ended (they end right after they list themselves). */
static void join_dead(struct run *r)
{
	while (r->ndead)
		join(r->dead[--r->ndead]);
}

static int signal_task(void *arg)
{
	struct run *r = arg;
	int e;

	while ((e = conc_poll(r->sfd, POLLIN, -1)) > 0 || e == -EINTR) {
		stop_on_signal(r);
		tasks_wake(r);
	}
	return 0;
}

static void wait_main(struct run *r)
{
	int64_t now = now_ns(), next, t;
	int in_fd;

	next = run_due(r, now, &in_fd);
	t = next < 0 ? IDLE_NS : next > now ? next - now : 0;
	if (in_fd < 0)
		conc_sleep(t);
	else if (conc_poll(in_fd, POLLIN, t) > 0)
		run_input(r);
}

static int main_task(void *arg)
{
	struct run *r = arg;
	conc_task *sig;
	int e;

	r->main = conc_task_self();
	if ((e = conc_go(&sig, signal_task, r, NULL)) < 0)
		run_die("cannot start a task", e);
	for (;;) {
		join_dead(r);
		if (!run_more(r))
			break;
		wait_main(r);
	}
	join_dead(r);
	conc_task_cancel(sig);
	join(sig);
	free(r->dead);
	r->dead = NULL;
	r->deadcap = 0;
	r->main = NULL;
	return 0;
}

int tasks_run(struct run *r)
{
	return conc_run(main_task, r, NULL);
}
