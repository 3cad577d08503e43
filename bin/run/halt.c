/* --halt as GNU parallel's: after N (or a share of all) jobs failed,
 * succeeded or ended, start no more (soon) or also kill the running ones
 * (now); the exit status follows its rules. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include "loop.h"

void halt_check(struct run *r, struct job *j)
{
	const struct halt *h = &r->o->halt;
	long total = r->in ? input_total(r->in) : -1, n;
	double need;

	/* One we killed (a signal to us, an input error) is no news: GNU
	 * parallel reaps none after its killall. */
	if (h->when == HALT_NEVER || r->halted || j->killed)
		return;
	n = h->what == HALT_FAIL ? r->failed :
	    h->what == HALT_SUCCESS ? r->succeeded : r->done;
	if (h->what == HALT_FAIL && !job_failed(j))
		return;
	if (h->what == HALT_SUCCESS && job_failed(j))
		return;
	if (total < 0)
		total = r->next_seq - 1;
	need = h->pct ? h->count * (double)total : h->count;
	if ((double)n < need)
		return;
	r->halted = r->stop = true;
	/* GNU parallel's rules: a limit of one job (fail=1, or a share that
	 * makes one) gives that job's status, else a percentage or a count.
	 * One we killed (--timeout) has its log's Exitval, -1: 255 there. */
	/* A limit of 0 (fail=0, done=0%: the first such job) ends with 0,
	 * as GNU parallel's (its status is then undefined, perl's 0). */
	if (h->what == HALT_SUCCESS || !h->count)
		r->halt_status = 0;
	else if (need == 1)
		r->halt_status = job_exitval(j) < 0 ? 255 :
				 job_signo(j) ? 128 + job_signo(j) :
				 job_exitval(j) & 0xff;
	else if (h->pct)
		r->halt_status = (int)ceil((double)r->failed * 100 / (double)total);
	else
		r->halt_status = r->failed > 100 ? RUN_EXIT_MANY : (int)r->failed;
	fprintf(stderr, PROG ": this job %s: %s\n", h->what == HALT_DONE ?
		"finished" : job_failed(j) ? "failed" : "succeeded", j->cmd);
	if (h->when == HALT_NOW)
		stop_all(r, SIGTERM);
}
