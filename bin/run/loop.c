/* The event loop: one poll over the signalfd, stdin (when a job waits for
 * input), and every running job's pidfd, output pipes and --pipe stdin.
 * Jobs start while a slot is free; a job is done when its pidfd is
 * readable; its output is printed whole when done (or in input order with
 * -k), its complete lines as they come with --line-buffer. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include "run.h"

#define GRACE_NS 1000000000	/* TERM, then KILL this much later */
#define HEAP_BUDGET (16u << 20)	/* output held for -k before spilling */
#define MAX_SLOTS 8192

struct run {
	struct opts *o;
	struct input *in;
	struct chunker *ch;
	struct joblog *log;
	struct job **slot;
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

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- -k: the window of jobs from next_print on ---- */

static struct job **win_at(struct run *r, long seq)
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

/* Print the done jobs at the head of the window, in order. */
static void print_ready(struct run *r)
{
	struct job *j;

	while (r->wcap && (j = *win_at(r, r->next_print)) &&
	       j->state != JOB_RUNNING) {
		*win_at(r, r->next_print) = NULL;
		if (!j->killed)
			emit_job(j, r->o);
		job_free(j);
		r->next_print++;
	}
	if (r->o->linebuf && r->wcap && (j = *win_at(r, r->next_print)))
		emit_lines(j, r->o);
}

/* ---- halting (GNU parallel's --halt) ---- */

static void terminate(struct job *j, int sig, int64_t now)
{
	job_signal(j, sig);
	j->kill_stage = 1;
	j->kill_at = now + GRACE_NS;
}

static void halt_check(struct run *r, struct job *j)
{
	const struct halt *h = &r->o->halt;
	long total = r->in ? input_total(r->in) : -1, n;
	double need;

	if (h->when == HALT_NEVER || r->halted)
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
	if (h->what == HALT_SUCCESS)
		r->halt_status = 0;
	else if (h->pct)
		r->halt_status = (int)ceil((double)r->failed * 100 / (double)total);
	else if (h->count == 1)
		r->halt_status = job_signo(j) ? 128 + job_signo(j) :
				 job_exitval(j) & 0xff;
	else
		r->halt_status = r->failed > 100 ? RUN_EXIT_MANY : (int)r->failed;
	fprintf(stderr, PROG ": this job %s: %s\n", h->what == HALT_DONE ?
		"finished" : job_failed(j) ? "failed" : "succeeded", j->cmd);
	if (h->when == HALT_NOW) {
		int64_t now = now_ns();

		for (long s = 0; s < r->o->jobs; s++)
			if (r->slot[s] && !r->slot[s]->exited) {
				r->slot[s]->killed = true;
				terminate(r->slot[s], SIGTERM, now);
			}
	}
}

/* ---- starting and ending jobs ---- */

static void start(struct run *r, struct job *j, int slot);

static void finish(struct run *r, struct job *j)
{
	bool failed = job_failed(j);

	if (j->timed_out)
		fprintf(stderr, PROG ": job %ld timed out, killed: %s\n",
			j->seq, j->cmd);
	if (failed && j->tries < r->o->retries && !r->stop) {
		/* Again, in the same slot, its earlier output dropped. */
		obuf_free(&j->out);
		obuf_free(&j->err);
		j->recv = j->sent = 0;
		j->exited = j->timed_out = false;
		j->status = 0;
		start(r, j, j->slot);
		return;
	}
	/* As GNU parallel: the last attempt only. */
	if (r->log)
		joblog_write(r->log, j);
	r->slot[j->slot - 1] = NULL;
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
		job_shrink(j);
		print_ready(r);
		/* A long queue behind a slow job: its output off the heap. */
		if (obuf_heap() > HEAP_BUDGET) {
			for (long s = r->next_print; s < r->next_seq; s++) {
				struct job *w = *win_at(r, s);

				if (w && w->state == JOB_DONE) {
					obuf_spill(&w->out);
					obuf_spill(&w->err);
				}
			}
		}
		return;
	}
	if (!j->killed)
		emit_job(j, r->o);
	job_free(j);
}

static void start(struct run *r, struct job *j, int slot)
{
	int e;

	j->slot = slot;
	j->tries++;
	r->slot[slot - 1] = j;
	if (!j->cmd)
		j->cmd = cmd_build(r->o, &j->a, j->seq, slot, &j->argv);
	j->host = r->slot_host[slot - 1];
	if (j->host->ssh && !j->wrap)
		j->wrap = ssh_wrap(r->o, j->host, &j->a, j->seq, slot, j->cmd);
	if (r->o->tag && !j->tag)
		j->tag = cmd_tag(&j->a);
	if ((e = job_spawn(j, r->o, r->devnull)) < 0) {
		char what[300];

		snprintf(what, sizeof(what), "cannot run %.200s", j->cmd);
		run_warn(what, e);
		j->state = JOB_DONE;
		finish(r, j);
		return;
	}
	if (r->o->timeout_ns) {
		j->kill_at = j->t0 + r->o->timeout_ns;
		j->kill_stage = 0;
	} else {
		j->kill_at = -1;
	}
	if (j->ifd >= 0) {
		fcntl(j->ifd, F_SETPIPE_SZ, 1 << 20);
		job_feed(j);
	}
}

static int free_slot(struct run *r)
{
	for (long s = 0; s < r->o->jobs; s++)
		if (!r->slot[s])
			return (int)s + 1;
	return 0;
}

/* The next job's input: 1, 0 (wait for stdin), -1 (no more). */
static int next_input(struct run *r, struct args *a, char **chunk,
		      size_t *clen)
{
	a->v = NULL;
	a->n = 0;
	*chunk = NULL;
	if (r->ch)
		return chunker_next(r->ch, chunk, clen);
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
			return;
		}
		j = job_new(r->next_seq++, &a);
		j->chunk = chunk;
		j->chunk_len = clen;
		if (r->o->dry) {
			j->cmd = cmd_build(r->o, &j->a, j->seq, 1, &j->argv);
			out_write(1, j->cmd, strlen(j->cmd));
			out_write(1, "\n", 1);
			job_free(j);
			continue;
		}
		if (r->log && joblog_skip(r->log, j->seq)) {
			j->state = JOB_SKIPPED;
			if (r->o->keep) {
				*win_at(r, j->seq) = j;
				print_ready(r);
			} else {
				job_free(j);
			}
			continue;
		}
		if (r->o->keep)
			*win_at(r, j->seq) = j;
		r->nrun++;
		r->prog.running = r->nrun;
		r->next_start = now_ns() + r->o->delay_ns;
		start(r, j, free_slot(r));
	}
}

/* ---- signals ---- */

static void on_signal(struct run *r)
{
	struct signalfd_siginfo si;
	int64_t now = now_ns();

	while (read(r->sfd, &si, sizeof(si)) == sizeof(si)) {
		int sig = (int)si.ssi_signo;

		if (sig == SIGPIPE)
			continue;
		for (long s = 0; s < r->o->jobs; s++) {
			struct job *j = r->slot[s];

			if (!j || j->exited)
				continue;
			j->killed = true;
			if (r->sig)
				terminate(j, SIGKILL, now);
			else
				terminate(j, sig == SIGHUP ? SIGTERM : sig, now);
		}
		r->sig = sig;
		r->stop = true;
	}
}

/* TERM at the deadline, KILL a grace later. */
static int64_t kills(struct run *r, int64_t now)
{
	int64_t next = -1;

	for (long s = 0; s < r->o->jobs; s++) {
		struct job *j = r->slot[s];

		if (!j || j->exited || j->kill_at < 0)
			continue;
		if (j->kill_at <= now) {
			if (j->kill_stage == 0) {
				j->timed_out = true;
				terminate(j, SIGTERM, now);
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

/* ---- the wait ---- */

static void add_fd(struct run *r, int *n, int fd, short ev, struct job *j)
{
	r->pfd[*n] = (struct pollfd){ .fd = fd, .events = ev };
	r->pjob[(*n)++] = j;
}

static void wait_once(struct run *r)
{
	int64_t now = now_ns(), next = kills(r, now), t;
	int n = 0, in_fd = -1, ms;

	add_fd(r, &n, r->sfd, POLLIN, NULL);
	if (!r->stop && !r->input_end && r->nrun < r->o->jobs &&
	    (!r->o->delay_ns || now >= r->next_start)) {
		in_fd = r->ch ? chunker_fd(r->ch) : input_fd(r->in);
		if (in_fd >= 0)
			add_fd(r, &n, in_fd, POLLIN, NULL);
	}
	if (!r->stop && !r->input_end && r->o->delay_ns && now < r->next_start &&
	    r->nrun < r->o->jobs && (next < 0 || r->next_start < next))
		next = r->next_start;
	for (long s = 0; s < r->o->jobs; s++) {
		struct job *j = r->slot[s];

		if (!j || j->exited)
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
	if (r->prog.on) {
		progress_draw(&r->prog, r->o, now, false);
		t = now + 100000000;
		if (next < 0 || t < next)
			next = t;
	}
	ms = next < 0 ? -1 : (int)((next - now + 999999) / 1000000);
	out_flush();
	if (poll(r->pfd, (nfds_t)n, ms) <= 0)
		return;
	for (int i = 0; i < n; i++) {
		struct job *j = r->pjob[i];
		int fd = r->pfd[i].fd;

		if (!r->pfd[i].revents)
			continue;
		if (!j) {
			if (fd == r->sfd)
				on_signal(r);
			else if (r->ch)
				chunker_fill(r->ch);
			else
				input_fill(r->in);
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
			job_reap(j, r->o);
			if (j->exited)
				finish(r, j);
		}
	}
}

static long slots(long want)
{
	struct rlimit rl;
	long cap = MAX_SLOTS;

	/* Each job holds up to four fds: take the most we may. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    (long)((rl.rlim_cur - 32) / 4) < cap)
			cap = (long)((rl.rlim_cur - 32) / 4);
	}
	if (cap < 1)
		cap = 1;
	return want <= 0 || want > cap ? cap : want;
}

static int setup(struct run *r, struct opts *o)
{
	sigset_t set;

	memset(r, 0, sizeof(*r));
	r->o = o;
	/* Inherited SIG_IGN would let the kernel reap our jobs. */
	signal(SIGCHLD, SIG_DFL);
	r->next_seq = r->next_print = 1;
	/* Slots: each host's, dealt round so that jobs spread over them. */
	o->jobs = slots(o->jobs);
	r->host = hosts_open(o, &r->nhost);
	o->jobs = 0;
	for (int h = 0; h < r->nhost; h++)
		o->jobs += r->host[h].slots;
	o->jobs = slots(o->jobs);
	r->slot_host = run_alloc(sizeof(*r->slot_host) * (size_t)o->jobs);
	for (long k = 0, round = 0; k < o->jobs; round++)
		for (int h = 0; h < r->nhost && k < o->jobs; h++)
			if (round < r->host[h].slots)
				r->slot_host[k++] = &r->host[h];
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* A reader gone: write fails with EPIPE, we end quietly. */
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((r->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		run_die("signalfd", -errno);
	if ((r->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		run_die("cannot open /dev/null", -errno);
	r->slot = run_alloc(sizeof(*r->slot) * (size_t)o->jobs);
	memset(r->slot, 0, sizeof(*r->slot) * (size_t)o->jobs);
	r->pfd = run_alloc(sizeof(*r->pfd) * (size_t)(o->jobs * 4 + 2));
	r->pjob = run_alloc(sizeof(*r->pjob) * (size_t)(o->jobs * 4 + 2));
	if (o->pipe)
		r->ch = chunker_open(0, o->block, o->recend, o->recend_len);
	else
		r->in = input_open(o);
	if (o->joblog && !o->dry)
		r->log = joblog_open(o);
	r->prog.on = (o->bar || o->progress || o->eta) && isatty(2) && !o->dry;
	r->prog.total = r->in ? input_total(r->in) : -1;
	r->prog.t0 = now_ns();
	return 0;
}

int run_loop(struct opts *o)
{
	struct run r;

	setup(&r, o);
	for (;;) {
		start_jobs(&r);
		if (!r.nrun && (r.input_end || r.stop))
			break;
		if (out_error())
			r.stop = true;
		wait_once(&r);
	}
	out_flush();
	progress_draw(&r.prog, o, now_ns(), true);
	progress_end(&r.prog);
	/* A reader that went away (EPIPE) is no news to anyone. */
	if (out_error() && out_error() != EPIPE)
		run_warn("cannot write the output", -out_error());
	if (r.sig || out_error())
		return RUN_EXIT_ERROR;
	if (r.halted)
		return r.halt_status;
	return r.failed > 100 ? RUN_EXIT_MANY : (int)r.failed;
}
