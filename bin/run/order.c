/* -k: the jobs from next_print on, by seq, in a ring that grows; the
 * done ones at its head are printed and leave it. */
#include <stdlib.h>
#include <string.h>
#include "loop.h"

struct job **order_slot(struct run *r, long seq)
{
	if ((size_t)(seq - r->next_print) >= r->wcap) {
		size_t cap = r->wcap ? r->wcap : 64;
		struct job **w;

		while ((size_t)(seq - r->next_print) >= cap)
			cap *= 2;
		w = run_alloc(cap * sizeof(*w));
		memset(w, 0, cap * sizeof(*w));
		for (long s = r->next_print; s < r->next_print + (long)r->wcap; s++)
			w[(size_t)s & (cap - 1)] = r->win[(size_t)s & (r->wcap - 1)];
		free(r->win);
		r->win = w;
		r->wcap = cap;
	}
	return &r->win[(size_t)seq & (r->wcap - 1)];
}

/* Print the done jobs at the head of the window, in order. From one we
 * killed (a signal to us, --halt now, an input error) on, nothing is: as
 * GNU parallel, which reaps no job after its killall, so what waits
 * behind that one is never printed. Their log lines are still put. */
void order_print(struct run *r)
{
	struct job *j;

	while (r->wcap && (j = *order_slot(r, r->next_print)) &&
	       j->state != JOB_RUNNING) {
		*order_slot(r, r->next_print) = NULL;
		r->cut |= j->killed;
		if (!r->cut)
			emit_job(j, r->o);
		if (j->logline) {
			joblog_put(r->log, j->logline, j->loglen);
			j->logline = NULL;
		}
		job_free(j);
		r->next_print++;
	}
	if (r->o->linebuf && !r->cut && r->wcap &&
	    (j = *order_slot(r, r->next_print)))
		emit_lines(j, r->o);
}
