/* bench_run — bin/conc-run beside `xargs -P` and GNU parallel, the
 * tools run as a shell user would: 2,000 jobs of `true`, 2,000 of
 * `echo {}` with -k (xargs has no ordering: its figure is without), in
 * jobs per second; and --pipe `wc -l` over a big file beside
 * `parallel --pipe`, in MB/s. Every tool gets as many jobs at once as
 * there are CPUs. GNU parallel is slow enough that a run of it on the
 * full input would not fit the watchdog: it gets fewer jobs (and a
 * smaller file), and its figure is its rate on those. Missing tools are
 * skipped with a note. Environment: CONC_RUN (default bin/conc-run),
 * BENCH_RUN_JOBS, BENCH_RUN_GNU_JOBS, BENCH_RUN_PIPE_MB,
 * BENCH_RUN_GNU_PIPE_MB. */
#include <errno.h>
#include <poll.h>
#include <sys/syscall.h>
#include "bench.h"

#define RUN_LIMIT_S 50		/* one tool run; within BENCH_RUN_S */

static const char *conc_run;
static char jobs_arg[16];
static long jobs_n, gnu_jobs_n, pipe_mb, gnu_pipe_mb;
static int devnull;

struct tool {
	char *const *argv;
	int in;			/* its stdin, read from the start */
	double units;		/* jobs or MB done per run */
};

static long env_num(const char *name, long def)
{
	const char *s = getenv(name);
	long v = s ? strtol(s, NULL, 10) : 0;

	return v > 0 ? v : def;
}

/* Run argv with stdin from in; seconds it took, or -1 (missing tool,
 * failure, or longer than RUN_LIMIT_S: then killed with its family). */
static double timed(char *const argv[], int in)
{
	uint64_t t0 = bench_now_ns();
	struct pollfd p;
	int st, pidfd;
	pid_t pid;

	if (lseek(in, 0, SEEK_SET) < 0)
		bench_die("lseek");
	fflush(NULL);
	if ((pid = fork()) < 0)
		bench_die("fork");
	if (pid == 0) {
		setpgid(0, 0);
		dup2(in, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	if ((pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0)
		bench_die("pidfd_open");
	p = (struct pollfd){ .fd = pidfd, .events = POLLIN };
	if (poll(&p, 1, RUN_LIMIT_S * 1000) == 0) {
		kill(-pid, SIGKILL);
		waitpid(pid, &st, 0);
		close(pidfd);
		return -1;
	}
	close(pidfd);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    (WEXITSTATUS(st) != 0 && strcmp(argv[0], "xargs")))
		return -1;
	return (double)(bench_now_ns() - t0) / 1e9;
}

static double rate(void *arg)
{
	const struct tool *t = arg;
	double s = timed(t->argv, t->in);

	return s > 0 ? t->units / s : -1;
}

static int memfd_of(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		bench_die("memfd_create");
	return fd;
}

/* n lines: 1 to n. */
static int numbers(long n)
{
	int fd = memfd_of("bench-run-args");
	FILE *f = fdopen(dup(fd), "w");

	if (!f)
		bench_die("fdopen");
	for (long i = 1; i <= n; i++)
		fprintf(f, "%ld\n", i);
	fclose(f);
	return fd;
}

/* mb MiB of text lines of 64 bytes. */
static int text(long mb)
{
	static char block[1 << 20];
	int fd = memfd_of("bench-run-pipe");

	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (i % 64 == 63) ? '\n' : (char)('a' + (i * 7 + i / 64) % 26);
	for (long i = 0; i < mb; i++)
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
			bench_die("writing the pipe input");
	return fd;
}

static int available(const char *prog)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

static void jobs_lines(const char *what, char *const conc[],
		       char *const xargs[], char *const gnu[])
{
	int in = numbers(jobs_n), gin = numbers(gnu_jobs_n);
	struct tool c = { conc, in, (double)jobs_n };
	struct tool x = { xargs, in, (double)jobs_n };
	struct tool g = { gnu, gin, (double)gnu_jobs_n };
	const struct bench_var v[] = {
		{ "conc-run", rate, &c },
		{ "xargs -P", rate, &x },
		{ "GNU parallel", rate, &g },
	};
	struct bench_set s;

	bench_set_run(&s, v, available("parallel") ? 3 : 2);
	bench_cmp(&s, what, "jobs/s", 0, 1, 0);
	if (s.n == 3)
		bench_cmp(&s, what, "jobs/s", 0, 2, 0);
	else
		printf("  (GNU parallel not installed: `apt-get install parallel` for its figure)\n");
	close(in);
	close(gin);
}

static void pipe_lines(void)
{
	char *conc[] = { (char *)conc_run, "--pipe", "-j", jobs_arg, "wc", "-l", NULL };
	char *gnu[] = { "parallel", "--will-cite", "--pipe", "-j", jobs_arg,
			"wc", "-l", NULL };
	int in = text(pipe_mb), gin = text(gnu_pipe_mb);
	struct tool c = { conc, in, (double)pipe_mb };
	struct tool g = { gnu, gin, (double)gnu_pipe_mb };
	const struct bench_var v[] = {
		{ "conc-run", rate, &c },
		{ "GNU parallel", rate, &g },
	};
	struct bench_set s;
	char what[64];

	snprintf(what, sizeof(what), "--pipe wc -l, %ld MiB", pipe_mb);
	if (!available("parallel")) {
		bench_set_run(&s, v, 1);
		bench_fig(&s, what, "MiB/s", 0, "GNU parallel not installed");
	} else {
		bench_set_run(&s, v, 2);
		bench_cmp(&s, what, "MiB/s", 0, 1, 0);
	}
	close(in);
	close(gin);
}

int main(void)
{
	char ntrue[64], necho[64];

	conc_run = getenv("CONC_RUN") ? getenv("CONC_RUN") : "bin/conc-run";
	if (access(conc_run, X_OK))
		bench_die("bin/conc-run missing: make bin/conc-run");
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		bench_die("/dev/null");
	jobs_n = env_num("BENCH_RUN_JOBS", 2000);
	gnu_jobs_n = env_num("BENCH_RUN_GNU_JOBS", 500);
	pipe_mb = env_num("BENCH_RUN_PIPE_MB", 1024);
	gnu_pipe_mb = env_num("BENCH_RUN_GNU_PIPE_MB", 128);
	snprintf(jobs_arg, sizeof(jobs_arg), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	bench_banner("bench_run: conc-run vs xargs -P and GNU parallel");
	printf("   -j %s each; GNU parallel runs %ld jobs and %ld MiB (its rate)\n",
	       jobs_arg, gnu_jobs_n, gnu_pipe_mb);
	snprintf(ntrue, sizeof(ntrue), "%ld jobs of true", jobs_n);
	snprintf(necho, sizeof(necho), "%ld jobs of echo {} (-k)", jobs_n);
	{
		char *conc[] = { (char *)conc_run, "-j", jobs_arg, "true", NULL };
		char *xargs[] = { "xargs", "-P", jobs_arg, "-n", "1", "true", NULL };
		char *gnu[] = { "parallel", "--will-cite", "-j", jobs_arg, "true", NULL };

		jobs_lines(ntrue, conc, xargs, gnu);
	}
	{
		char *conc[] = { (char *)conc_run, "-k", "-j", jobs_arg, "echo", "{}", NULL };
		char *xargs[] = { "xargs", "-P", jobs_arg, "-n", "1", "echo", NULL };
		char *gnu[] = { "parallel", "--will-cite", "-k", "-j", jobs_arg,
				"echo", "{}", NULL };

		jobs_lines(necho, conc, xargs, gnu);
	}
	pipe_lines();
	return 0;
}
