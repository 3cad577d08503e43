/* loop.h — the state of conc-run's loop, shared by its parts: loop.c
 * (start, finish, wait), order.c (-k), halt.c, stop.c (signals,
 * timeouts), setup.c. */
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
	bool input_end, stop, halted;
	int halt_status, sig, sfd, devnull;
	int64_t next_start;
	struct progress prog;
	struct pollfd *pfd;
	struct job **pjob;
};

void run_setup(struct run *r, struct opts *o);

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

#endif
