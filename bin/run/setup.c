/* The loop's start: slots (the -j value, or each host's, within the fd
 * limit), signals to a signalfd, the inputs, the joblog, progress. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include "loop.h"

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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

void run_setup(struct run *r, struct opts *o)
{
	sigset_t set;

	memset(r, 0, sizeof(*r));
	r->o = o;
	shell_check();
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
	/* Inputs read whole at start (:::: files, stdin as one) while a
	 * Ctrl-C still ends us. */
	if (o->pipe)
		r->ch = chunker_open(0, o->block, o->recend, o->recend_len,
				     o->nargs);
	else
		r->in = input_open(o);
	if (o->joblog && !o->dry)
		r->log = joblog_open(o);
	/* --nice N: GNU parallel sets it in each job before the exec
	 * (errors ignored, so a niceness below ours without the right
	 * stays ours); our jobs start from this thread, and inherit its. */
	if (o->nice)
		setpriority(PRIO_PROCESS, 0, (int)o->nice);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* A reader gone: write fails with EPIPE, we end quietly. */
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* The jobs get them as a new process would, as GNU parallel's jobs
	 * (its perl handlers are undone at their exec): a script's command
	 * run with & starts with SIGINT ignored, which a job would inherit,
	 * and then neither die of the SIGINT we pass on nor trap it. Blocked,
	 * each still comes to our signalfd, ignored at our start or not. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&set, sig))
			signal(sig, SIG_DFL);
	if ((r->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		run_die("signalfd", -errno);
	if ((r->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		run_die("cannot open /dev/null", -errno);
	r->act = run_alloc(sizeof(*r->act) * (size_t)o->jobs);
	r->freev = run_alloc(sizeof(*r->freev) * (size_t)o->jobs);
	/* Slot 1 on top: {%} counts from 1 as jobs start. */
	for (long k = o->jobs; k >= 1; k--)
		r->freev[r->nfree++] = (int)k;
	r->pfd = run_alloc(sizeof(*r->pfd) * (size_t)(o->jobs * 4 + 2));
	r->pjob = run_alloc(sizeof(*r->pjob) * (size_t)(o->jobs * 4 + 2));
	r->prog.on = (o->bar || o->progress || o->eta) && isatty(2) && !o->dry;
	r->prog.total = r->in ? input_total(r->in) : -1;
	r->prog.t0 = now_ns();
	/* --timeout P%: none until a job succeeded. */
	r->timeout_ns = o->timeout_ns;
}
