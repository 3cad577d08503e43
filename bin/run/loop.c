/* The jobs' lives: they start while a slot is free; a job is done when its
 * pidfd is readable; its output is printed whole when done (or in input
 * order with -k), its complete lines as they come with --line-buffer. The
 * waiting is on the coroutine loop (tasks.c, watch.c), or where the kernel
 * has no io_uring on one poll (poll.c). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "loop.h"

static void start(struct run *r, struct job *j, int slot);

void finish(struct run *r, struct job *j)
{
	bool failed = job_failed(j);

	/* As GNU parallel: each attempt that succeeded counts, and the
	 * jobs running get the new timeout too. */
	if (r->o->timeout_pct && !failed)
		stop_retime(r, median_add(&r->median, j->runtime),
			    r->o->timeout_pct);
	if (j->timed_out)
		fprintf(stderr, PROG ": job %ld timed out, killed: %s\n",
			j->seq, j->cmd);
	if (failed && j->tries < r->o->retries && !r->stop) {
		/* Again, in the same slot, its earlier output dropped. */
		obuf_free(&j->out);
		obuf_free(&j->err);
		j->recv = j->sent = 0;
		j->chunk_off = 0;
		j->exited = j->timed_out = false;
		j->status = 0;
		start(r, j, j->slot);
		return;
	}
	/* As GNU parallel: the last attempt only, after its output. */
	if (r->log && r->o->keep)
		j->logline = joblog_line(j, &j->loglen);
	r->act[j->act] = r->act[--r->nact];
	r->act[j->act]->act = j->act;
	r->freev[r->nfree++] = j->slot;
	r->nrun--;
	r->done++;
	if (failed)
		r->failed++;
	else
		r->succeeded++;
	r->prog.done = r->done;
	r->prog.failed = r->failed;
	r->prog.running = r->nrun;
	halt_check(r, j);
	if (r->o->keep) {
		bool waits = j->seq != r->next_print;

		job_shrink(j);
		if (waits)
			job_take_mem(j);
		/* A long queue behind a slow job: once the heap holds the
		 * budget, what joins the queue goes to the spill file (each
		 * job once, so no walk over the queue). */
		if (waits && obuf_heap() > HEAP_BUDGET) {
			obuf_spill(&j->out);
			obuf_spill(&j->err);
		}
		order_print(r);
		return;
	}
	if (!j->killed)
		emit_job(j, r->o);
	if (r->log)
		joblog_write(r->log, j);
	job_free(j);
}

static void start(struct run *r, struct job *j, int slot)
{
	int e;

	if (!j->tries++) {
		j->slot = slot;
		j->act = r->nact;
		r->act[r->nact++] = j;
	}
	if (!j->cmd)
		j->cmd = cmd_build(r->o, &j->a, j->seq, slot, &j->argv);
	j->host = r->slot_host[slot - 1];
	if (j->host->ssh && !j->wrap)
		j->wrap = ssh_wrap(r->o, j->host, &j->a, j->seq, slot, j->cmd);
	if (r->o->tag && !j->tag)
		j->tag = cmd_tag(r->o, &j->a, j->seq, slot);
	if (r->o->verbose && !r->o->results)
		emit_verbose(j, r->o);
	if (r->o->trace)
		emit_trace(j);
	r->started++;
	/* Running from here: the spawn suspends this task until the exec,
	 * and what runs meanwhile (-k's printing, a stop on a signal or a
	 * halt) must take it for a job that runs. */
	j->state = JOB_RUNNING;
	if ((e = job_spawn(j, r->o, r->devnull)) < 0) {
		char what[300];

		snprintf(what, sizeof(what), "cannot run %.200s", j->cmd);
		run_warn(what, e);
		j->state = JOB_DONE;
		finish(r, j);
		return;
	}
	if (j->killed) {
		/* Stopped while it was spawned, before it could be
		 * signalled: now, and its grace from now. */
		stop_job(j, j->stop_sig, now_ns());
	} else if (r->timeout_ns) {
		j->kill_at = j->t0 + r->timeout_ns;
		j->kill_stage = 0;
	} else {
		j->kill_at = -1;
	}
	if (j->ifd >= 0) {
		fcntl(j->ifd, F_SETPIPE_SZ, 1 << 20);
		job_feed(j);
	}
	if (r->main)
		watch_job(r, j);
}

/* The next job's input: 1, 0 (wait for stdin), -1 (no more). */
static int next_input(struct run *r, struct args *a, char **chunk,
		      size_t *clen)
{
	a->v = NULL;
	a->n = a->width = 0;
	*chunk = NULL;
	if (r->ch) {
		int got = chunker_next(r->ch, chunk, clen);

		/* As GNU parallel: {} (any of them) is '' for a chunk. */
		if (got == 1) {
			a->v = run_alloc(sizeof(*a->v));
			a->v[0] = run_strdup("");
			a->n = 1;
		}
		return got;
	}
	return input_next(r->in, a);
}

static void start_jobs(struct run *r)
{
	while (!r->stop && !r->input_end && r->nrun < r->o->jobs) {
		struct args a;
		struct job *j;
		char *chunk;
		size_t clen = 0;
		int got;

		if (r->o->delay_ns && now_ns() < r->next_start)
			return;
		if ((got = next_input(r, &a, &chunk, &clen)) <= 0) {
			r->input_end = got < 0;
			/* As GNU parallel (its wait_and_exit(255)): the jobs
			 * running are killed, their output dropped. */
			if (got == -2) {
				r->failed_input = true;
				stop_all(r, SIGTERM);
			}
			return;
		}
		j = job_new(r->next_seq++, &a);
		j->chunk = chunk;
		j->chunk_len = clen;
		if (r->o->dry && r->o->results) {
			int ofd, efd;

			/* As GNU parallel: the files, nothing printed but
			 * their names with --line-buffer. */
			j->resname = results_open(r->o, &j->a, j->seq, true,
						  &ofd, &efd);
			if (j->resname) {
				if (r->o->tag)
					j->tag = cmd_tag(r->o, &j->a, j->seq, 1);
				emit_job(j, r->o);
			}
			job_free(j);
			continue;
		}
		if (r->o->dry) {
			j->cmd = cmd_build(r->o, &j->a, j->seq, 1, &j->argv);
			if (r->o->tag) {	/* as GNU parallel: the tag first */
				j->tag = cmd_tag(r->o, &j->a, j->seq, 1);
				out_write(1, j->tag, strlen(j->tag));
			}
			out_write(1, j->cmd, strlen(j->cmd));
			out_write(1, "\n", 1);
			if (r->o->trace)
				emit_trace(j);
			job_free(j);
			/* The loop is not reached before the input ends, which
			 * may be a billion lines away: look at the output and
			 * the signals here. */
			if (out_error())
				r->stop = true;
			else if (!(r->next_seq & 255))
				stop_on_signal(r);
			continue;
		}
		if (r->log && joblog_skip(r->log, j->seq)) {
			j->state = JOB_SKIPPED;
			if (r->o->keep) {
				*order_slot(r, j->seq) = j;
				order_print(r);
			} else {
				job_free(j);
			}
			continue;
		}
		if (r->o->keep)
			*order_slot(r, j->seq) = j;
		r->nrun++;
		r->prog.running = r->nrun;
		r->next_start = now_ns() + r->o->delay_ns;
		start(r, j, r->freev[--r->nfree]);
	}
}

bool run_more(struct run *r)
{
	start_jobs(r);
	if (!r->nrun && (r->input_end || r->stop))
		return false;
	/* Nowhere to print: what runs would print for nothing. */
	if (out_error() && !r->stop)
		stop_all(r, SIGTERM);
	return true;
}

int64_t run_due(struct run *r, int64_t now, int *in_fd)
{
	int64_t next = stop_overdue(r, now), t;

	*in_fd = -1;
	if (!r->stop && !r->input_end && r->nrun < r->o->jobs &&
	    (!r->o->delay_ns || now >= r->next_start))
		*in_fd = r->ch ? chunker_fd(r->ch) : input_fd(r->in);
	if (!r->stop && !r->input_end && r->o->delay_ns && now < r->next_start &&
	    r->nrun < r->o->jobs && (next < 0 || r->next_start < next))
		next = r->next_start;
	if (r->prog.on) {
		progress_draw(&r->prog, r->o, now, false);
		t = now + 100000000;
		if (next < 0 || t < next)
			next = t;
	}
	out_flush();
	return next;
}

void run_input(struct run *r)
{
	if (r->ch)
		chunker_fill(r->ch);
	else
		input_fill(r->in);
}

/* A reader gone: once the jobs are stopped, end as GNU parallel (and
 * cat) do, of the SIGPIPE (141 in the shell, which pipefail scripts
 * know), even where we were started with it ignored, as GNU parallel's
 * perl ends. Where that fails, the caller's 255. */
static void die_of_sigpipe(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	/* The EPIPE's own SIGPIPE waits, blocked: unblocked, it comes. */
	raise(SIGPIPE);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int run_loop(struct opts *o)
{
	struct run r;
	int e;

	run_setup(&r, o);
	if ((e = tasks_run(&r)) == -ENOSYS)
		poll_run(&r);
	else if (e < 0)
		run_die("cannot start the loop", e);
	out_flush();
	progress_draw(&r.prog, o, now_ns(), true);
	progress_end(&r.prog);
	/* A reader that went away (EPIPE) is no news to anyone. */
	if (out_error() && out_error() != EPIPE)
		run_warn("cannot write the output", -out_error());
	if (out_error() == EPIPE && !r.sig)
		die_of_sigpipe();
	if (r.sig || out_error() || r.failed_input)
		return RUN_EXIT_ERROR;
	if (r.halted)
		return r.halt_status;
	/* --halt with a share that was never reached: the share that failed,
	 * in percent of the tries started (each retry counts), as GNU
	 * parallel. A limit of 0 ends with 0, as there. */
	if (o->halt.when != HALT_NEVER && !o->halt.count)
		return 0;
	if (o->halt.when != HALT_NEVER && o->halt.pct && r.started)
		return (int)((r.failed * 100 + r.started - 1) / r.started);
	return r.failed > 100 ? RUN_EXIT_MANY : (int)r.failed;
}
