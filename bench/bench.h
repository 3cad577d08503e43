/* bench.h — helpers shared by the benchmarks: clock, statistics, banner,
 * ratio lines, shared memory, fork with a watchdog. Benchmarks are not tests:
 * they print figures, they assert only correctness (counters), never speed.
 * Every figure: median [min median max] of BENCH_REPS runs. */
#ifndef CONC_BENCH_H
#define CONC_BENCH_H

#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>

/* Every figure is measured in BENCH_REPS runs (odd, so the median is one
 * of them) and printed as its median with [min median max]. */
#define BENCH_REPS 7
#define BENCH_MAXV 8		/* variants measured together, at most */
#define BENCH_RUN_S 60		/* watchdog for one run of one variant */
_Static_assert(BENCH_REPS >= 5 && BENCH_REPS % 2 == 1, "an odd count, 5 or more");

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Watchdog: no benchmark may hang. The handler is inherited by fork
 * children (alarm() itself is not: children call bench_guard() again). */
static inline void bench_on_alarm(int sig)
{
	static const char msg[] = "bench: timed out (a wait never ended)\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	_exit(3);
}

static inline void bench_guard(unsigned seconds)
{
	signal(SIGALRM, bench_on_alarm);
	alarm(seconds);
}

static inline void bench_die(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	fflush(NULL);
	_exit(1);		/* also right in a fork child */
}

/* Zeroed memory shared with the children forked later. */
static inline void *bench_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		bench_die("mmap");
	return p;
}

/* Fork a child that runs fn(arg) under a watchdog and leaves with _exit.
 * The watchdog is the run's own (BENCH_RUN_S): a child that serves a run
 * (an echo server) must not be cut short before the run that waits for
 * it, as it was at load 19 with 20 s. */
static inline pid_t bench_fork(void (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bench_die("fork");
	if (pid == 0) {
		bench_guard(BENCH_RUN_S);
		fn(arg);
		_exit(0);
	}
	return pid;
}

/* Wait for a child; die unless it exited with 0. */
static inline void bench_reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		bench_die("a child failed");
}

static inline void bench_banner(const char *title)
{
	struct utsname u;

	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	printf("== %s\n   machine: nproc %ld, %s %s %s; %d runs: median [min median max],\n"
	       "   ratio = conc / anchor per run\n",
	       title, sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release,
	       u.machine, BENCH_REPS);
	fflush(stdout);
}

/* ---- statistics: min, median, max of the runs, and a bimodal flag --- */

struct bench_stat {
	double min, med, max;
	int bimodal;
};

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Bimodal: the runs fall in two clusters, as when a spin sometimes
 * catches the other side and sometimes misses it. Said when the spread is
 * wide (max/min > 1.5) and one gap between neighbours in the sorted runs
 * takes at least half of it (on a log scale: the figures are rates and
 * times), with two runs or more on each side: then the median may land in
 * either cluster from one `make bench` to the next. One stray run (a
 * preemption on a busy machine) is left to min and max: the median is
 * not moved by it. */
static inline int bench_bimodal(const double *s, int n)
{
	double gap = 1;

	if (n < 4 || s[0] <= 0 || s[n - 1] / s[0] <= 1.5)
		return 0;
	for (int i = 1; i + 2 < n; i++)
		if (s[i + 1] / s[i] > gap)
			gap = s[i + 1] / s[i];
	return gap * gap >= s[n - 1] / s[0];
}

static inline struct bench_stat bench_stat_of(const double *v, int n)
{
	struct bench_stat st = { 0, 0, 0, 0 };
	double s[BENCH_REPS];

	if (n <= 0 || n > BENCH_REPS)
		return st;
	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), bench_cmp_double);
	st.min = s[0];
	st.max = s[n - 1];
	st.med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	st.bimodal = bench_bimodal(s, n);
	return st;
}

/* Three significant figures or so, never an exponent. */
static inline void bench_num(double v, int ratio)
{
	double a = v < 0 ? -v : v;

	printf(a >= 1000 || (ratio && a >= 100) ? "%.0f" :
	       (ratio && a < 10) ? "%.2f" : "%.1f", v);
}

/* "label 4.1 ns [3.9 4.1 4.6]", " bimodal" beside it when it is. The
 * line format (fields apart by two spaces or more, none inside one) is
 * what bench/table.sh reads. */
static inline void bench_put(const char *label, const double *v, int n,
			     const char *unit)
{
	int ratio = !strcmp(unit, "x");
	struct bench_stat st = bench_stat_of(v, n);

	printf("  %s ", label);
	bench_num(st.med, ratio);
	printf(ratio ? "%s [" : " %s [", unit);
	bench_num(st.min, ratio);
	putchar(' ');
	bench_num(st.med, ratio);
	putchar(' ');
	bench_num(st.max, ratio);
	printf("]%s", st.bimodal ? " bimodal" : "");
}

/* ---- variants measured together ---------------------------------------
 * Each repetition runs every variant once, in turn (backwards in odd
 * repetitions), so that a drift of the machine (other load, CPU placement)
 * hits conc and its anchors alike, and a ratio can be taken per run. */

struct bench_var {
	const char *name;		/* the anchor's name in the line */
	double (*fn)(void *arg);	/* one run: the figure, < 0 unavailable */
	void *arg;
};

struct bench_set {
	const struct bench_var *var;
	int n;
	int ok[BENCH_MAXV];		/* 0: a run returned < 0, not run again */
	double v[BENCH_MAXV][BENCH_REPS];
};

static inline void bench_set_run(struct bench_set *s,
				 const struct bench_var *var, int n)
{
	if (n < 1 || n > BENCH_MAXV)
		bench_die("bench_set_run: too many variants");
	s->var = var;
	s->n = n;
	for (int j = 0; j < n; j++)
		s->ok[j] = 1;
	for (int i = 0; i < BENCH_REPS; i++)
		for (int k = 0; k < n; k++) {
			int j = i % 2 ? n - 1 - k : k;

			if (!s->ok[j])
				continue;
			bench_guard(BENCH_RUN_S);
			s->v[j][i] = var[j].fn(var[j].arg);
			s->ok[j] = s->v[j][i] >= 0;
		}
	alarm(0);
}

static inline void bench_what(const char *what)
{
	printf("%-42s", what);
}

/* One line: variant c (conc) beside variant a (its anchor), both from the
 * same runs, and their ratio c/a taken run by run. */
static inline void bench_cmp(const struct bench_set *s, const char *what,
			     const char *unit, int c, int a, int lower_is_better)
{
	double r[BENCH_REPS];

	if (!s->ok[c])
		bench_die("a conc run failed");
	bench_what(what);
	bench_put("conc", s->v[c], BENCH_REPS, unit);
	if (!s->ok[a]) {
		printf("  %s: skipped (unavailable or failed)\n", s->var[a].name);
		fflush(stdout);
		return;
	}
	bench_put(s->var[a].name, s->v[a], BENCH_REPS, unit);
	for (int i = 0; i < BENCH_REPS; i++)
		r[i] = s->v[a][i] > 0 ? s->v[c][i] / s->v[a][i] : 0;
	bench_put("ratio", r, BENCH_REPS, "x");
	printf("  (%s is better)\n", lower_is_better ? "lower" : "higher");
	fflush(stdout);
}

/* A figure with no ratio (context only), labelled with its variant's name. */
static inline void bench_fig(const struct bench_set *s, const char *what,
			     const char *unit, int j, const char *why)
{
	bench_what(what);
	if (s->ok[j])
		bench_put(s->var[j].name, s->v[j], BENCH_REPS, unit);
	else
		printf("  %s: unavailable", s->var[j].name);
	printf("  (%s)\n", why);
	fflush(stdout);
}

/* Printed under the ping-pong figures, so that they are read right. */
static inline void bench_pp_footnote(void)
{
	printf("  (A conc wait spins briefly before it sleeps; the anchors sleep at once.\n"
	       "   2 CPUs, not pinned: placement left to the scheduler; when the peer\n"
	       "   runs on the other CPU, its answer arrives with no system call.\n"
	       "   1 CPU, pinned early: conc saw one usable CPU and never spins.\n"
	       "   1 CPU, pinned late: conc saw 2 CPUs before the pinning and spins while\n"
	       "   the peer waits for the same CPU, as when the scheduler puts both\n"
	       "   processes on one CPU of a multi-CPU machine.)\n");
	fflush(stdout);
}

/* Pin the caller (and the children it forks later) to the CPU it runs on.
 * Two processes ping-ponging on one CPU must sleep at every wait: this shows
 * the blocking path, where spinning cannot help. conc probes the number of
 * usable CPUs once per process and fork children inherit the answer, so pin
 * in a process that has made no contended conc call yet. */
static inline void bench_pin(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		bench_die("sched_setaffinity");
}

/* ---- ping-pong between two processes ---------------------------------
 * ping: the parent's half of one round trip (signal the child, wait for
 * its answer); pong: the child's half (wait, answer). */
#define BENCH_ROUNDS 10000	/* round trips per run */

struct bench_pp {
	void (*ping)(void *ctx);
	void (*pong)(void *ctx);
	void *ctx;
};

static inline void bench_pp_child(void *arg)
{
	const struct bench_pp *pp = arg;

	for (int i = 0; i <= BENCH_ROUNDS; i++)
		pp->pong(pp->ctx);
}

/* One run: thousands of round trips per second. One untimed round first,
 * so that the child is up and running when the clock starts. */
static inline double bench_pp_run(void *arg)
{
	const struct bench_pp *pp = arg;
	pid_t pid = bench_fork(bench_pp_child, arg);
	uint64_t t0;

	pp->ping(pp->ctx);
	t0 = bench_now_ns();
	for (int i = 0; i < BENCH_ROUNDS; i++)
		pp->ping(pp->ctx);
	t0 = bench_now_ns() - t0;
	bench_reap(pid);
	return BENCH_ROUNDS / ((double)t0 / 1e9) / 1e3;
}

/* Anchors: two eventfds, or two pipes; fd[0] carries parent -> child,
 * fd[1] child -> parent. A pipe pair keeps {read end, write end} of each. */
struct bench_fds {
	int efd[2];
	int to_child[2], to_parent[2];
};

static inline void bench_fds_open(struct bench_fds *f)
{
	f->efd[0] = eventfd(0, EFD_CLOEXEC);
	f->efd[1] = eventfd(0, EFD_CLOEXEC);
	if (f->efd[0] < 0 || f->efd[1] < 0 ||
	    pipe2(f->to_child, O_CLOEXEC) || pipe2(f->to_parent, O_CLOEXEC))
		bench_die("eventfd/pipe2");
}

static inline void bench_efd_post(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		bench_die("eventfd write");
}

static inline void bench_efd_wait(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		bench_die("eventfd read");
}

static inline void bench_efd_ping(void *ctx)
{
	struct bench_fds *f = ctx;

	bench_efd_post(f->efd[0]);
	bench_efd_wait(f->efd[1]);
}

static inline void bench_efd_pong(void *ctx)
{
	struct bench_fds *f = ctx;

	bench_efd_wait(f->efd[0]);
	bench_efd_post(f->efd[1]);
}

static inline void bench_pipe_ping(void *ctx)
{
	struct bench_fds *f = ctx;
	char c = 'x';

	if (write(f->to_child[1], &c, 1) != 1 || read(f->to_parent[0], &c, 1) != 1)
		bench_die("pipe");
}

static inline void bench_pipe_pong(void *ctx)
{
	struct bench_fds *f = ctx;
	char c;

	if (read(f->to_child[0], &c, 1) != 1 || write(f->to_parent[1], &c, 1) != 1)
		bench_die("pipe");
}

#endif
