/* loop.h — the state of conc-run's loop, shared by its parts: loop.c
 * (start, finish), tasks.c and watch.c (the waits on the coroutine loop),
 * poll.c (the waits without io_uring), order.c (-k), halt.c, stop.c
 * (signals, timeouts), setup.c. */
#ifndef CONC_RUN_LOOP_H
#define CONC_RUN_LOOP_H

#include <poll.h>
#include "run.h"

#define GRACE_NS 1000000000	/* TERM, then KILL this much later */
#define HEAP_BUDGET (16u << 20)	/* output held for -k before spilling */
#define MAX_SLOTS 8192

struct run {
	struct opts *o;
	struct input *in;
	struct chunker *ch;
	struct joblog *log;
	struct job **act;	/* the running jobs, in no order */
	long nact;
	int *freev;		/* free slots, a stack */
	long nfree;
	const struct host **slot_host;
	struct host *host;
	int nhost;
	long nrun, next_seq;
	struct job **win;	/* -k: jobs by seq from next_print */
	size_t wcap;
	long next_print, failed, succeeded, done;
	long started;		/* tries started, each --retries one too */
	bool input_end, stop, halted;
	bool failed_input;	/* an error in the input: 255 */
	bool cut;		/* -k: a killed job printed, none after */
	int halt_status, sig, sfd, devnull;
	int64_t next_start;
	int64_t timeout_ns;	/* now: --timeout's, or of its P% (0: none) */
	struct median *median;	/* --timeout P%: the run times */
	struct progress prog;
	struct pollfd *pfd;	/* poll.c */
	struct job **pjob;
	conc_task *main;	/* tasks.c: the task that starts jobs */
	conc_task **dead;	/* ended job tasks, for main to join */
	size_t ndead, deadcap;
};

void run_setup(struct run *r, struct opts *o);

/* Start jobs while slots are free and input is there; false once all
 * is done. */
bool run_more(struct run *r);
/* Before a wait: signal the jobs overdue, redraw the progress line, flush
 * our output. The input fd to wait for (-1: none) in *in_fd; returns the
 * next deadline (--timeout, its grace, --delay, progress) or -1. */
int64_t run_due(struct run *r, int64_t now, int *in_fd);
/* Read the input (after its fd was readable). */
void run_input(struct run *r);
/* After j ended: retry it, or log, count and print it (may free j). */
void finish(struct run *r, struct job *j);

/* Run the jobs on the coroutine loop: 0, or -ENOSYS (no io_uring: then
 * nothing was done), or another -errno. */
int tasks_run(struct run *r);
/* Wake the task that starts jobs: a slot is free, or a signal came. */
void tasks_wake(struct run *r);
/* Run j's task: it reads j's pipes, feeds --pipe, waits for its end and
 * finishes it. */
void watch_job(struct run *r, struct job *j);

/* Run the jobs waiting in one poll (no io_uring). */
void poll_run(struct run *r);

/* -k: where the job seq waits; print the done ones at the head. */
struct job **order_slot(struct run *r, long seq);
void order_print(struct run *r);

/* --halt: after j ended, stop if the rule says so. */
void halt_check(struct run *r, struct job *j);

/* Signal a job, SIGKILL it GRACE_NS later if it is still there. */
void stop_job(struct job *j, int sig, int64_t now);
/* Start no more jobs; signal the running ones (their output dropped). */
void stop_all(struct run *r, int sig);
/* Read the signalfd: signal the jobs, start no more. */
void stop_on_signal(struct run *r);
/* The timeouts and graces due: signal them; the next deadline or -1. */
int64_t stop_overdue(struct run *r, int64_t now);
/* --timeout P%: the jobs running and those to come get pct of median_ns
 * from their start (the median changed), a second at least. */
void stop_retime(struct run *r, int64_t median_ns, double pct);
/* --timeout P%: add a run time (of a job that succeeded); the median of
 * them all in ns (*m: NULL at first). */
struct median;
int64_t median_add(struct median **m, double secs);
/* Before j's reap: a hold on its group when j is being stopped (else
 * -1); after it, while stop_group_left says true (something is left in
 * the group and the grace runs), look again a little later; at the
 * grace's end it KILLs what is left. Close the hold then. */
#define STOP_LOOK_NS 10000000
int stop_group_hold(const struct job *j);
bool stop_group_left(int gfd, pid_t pgid, int64_t kill_at, int64_t now);

#endif
