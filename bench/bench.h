/* bench.h — helpers shared by the benchmarks: clock, median, machine banner,
 * ratio lines, shared memory, fork with a watchdog. Benchmarks are not tests:
 * they print figures, they assert only correctness (counters), never speed. */
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

#define BENCH_REPS 7		/* repetitions; every figure is their median */

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). */
static inline double bench_median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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

/* Median over BENCH_REPS calls of fn(arg), each returning one figure;
 * each call must end within 20 s. */
static inline double bench_run(double (*fn)(void *), void *arg)
{
	double v[BENCH_REPS];
	int i;

	for (i = 0; i < BENCH_REPS; i++) {
		bench_guard(20);
		v[i] = fn(arg);
	}
	alarm(0);
	return bench_median(v, BENCH_REPS);
}

/* The same, for n variants run in turn within each repetition, so that a
 * drift of the machine (other load, CPU placement) hits them alike:
 * out[i] = median of fn(arg[i]). At most 8 variants. */
static inline void bench_run_set(double (*fn)(void *), void *const arg[],
				 int n, double out[])
{
	double v[8][BENCH_REPS];
	int i, j;

	for (i = 0; i < BENCH_REPS; i++)
		for (j = 0; j < n && j < 8; j++) {
			bench_guard(20);
			v[j][i] = fn(arg[j]);
		}
	alarm(0);
	for (j = 0; j < n && j < 8; j++)
		out[j] = bench_median(v[j], BENCH_REPS);
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

/* Fork a child that runs fn(arg) under a watchdog and leaves with _exit. */
static inline pid_t bench_fork(void (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bench_die("fork");
	if (pid == 0) {
		bench_guard(20);
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
	printf("== %s\n   machine: nproc %ld, %s %s %s; median of %d runs\n",
	       title, sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release,
	       u.machine, BENCH_REPS);
	fflush(stdout);
}

/* One figure beside its anchor: ratio = conc / anchor. */
static inline void bench_line(const char *what, const char *unit, double conc,
			      const char *anchor, double a, int lower_is_better)
{
	printf("%-38s conc %9.1f %-8s %-20s %9.1f %-8s ratio %5.2fx (%s is better)\n",
	       what, conc, unit, anchor, a, unit, a > 0 ? conc / a : 0.0,
	       lower_is_better ? "lower" : "higher");
	fflush(stdout);
}

/* An extra figure with no conc counterpart (context only). */
static inline void bench_note(const char *what, const char *unit, double v,
			      const char *why)
{
	printf("%-52s %9.1f %-8s (%s)\n", what, v, unit, why);
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
