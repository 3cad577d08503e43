/* bench_proc — processes: conc_proc_start + join against fork + waitpid;
 * conc_proc_spawn of /bin/true against posix_spawn and fork + execve, from
 * a small parent and from one with 512 MiB of touched memory (where a
 * vfork-style spawn does not copy page tables and fork does). */
#include <spawn.h>
#include <conc.h>
#include "bench.h"

#define STARTS	100	/* processes per run, start + join */
#define SPAWNS	50	/* programs per run */
#define BIG_SPAWNS 20
#define BIG	(512u << 20)

extern char **environ;
static char *true_argv[] = { "true", NULL };
static int spawns = SPAWNS;

static int nothing(void *arg)
{
	(void)arg;
	return 0;
}

static void conc_check(conc_proc *p, int r)
{
	int st;

	if (r || conc_proc_join(p, &st, CONC_FOREVER) || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		bench_die("conc_proc start/spawn/join");
	conc_proc_release(p);
}

static void fork_check(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		bench_die("fork/waitpid");
}

/* Each run returns microseconds per process, from start to reaped. */
static double conc_start(void *arg)
{
	uint64_t t0 = bench_now_ns();
	conc_proc *p;

	(void)arg;
	for (int i = 0; i < STARTS; i++)
		conc_check(p, conc_proc_start(&p, nothing, NULL, NULL));
	return (double)(bench_now_ns() - t0) / STARTS / 1e3;
}

static double fork_wait(void *arg)
{
	uint64_t t0 = bench_now_ns();
	pid_t pid;

	(void)arg;
	for (int i = 0; i < STARTS; i++) {
		if ((pid = fork()) == 0)
			_exit(0);
		fork_check(pid);
	}
	return (double)(bench_now_ns() - t0) / STARTS / 1e3;
}

static double conc_spawn(void *arg)
{
	uint64_t t0 = bench_now_ns();
	conc_proc *p;

	(void)arg;
	for (int i = 0; i < spawns; i++)
		conc_check(p, conc_proc_spawn(&p, "/bin/true", true_argv, NULL,
					      NULL));
	return (double)(bench_now_ns() - t0) / spawns / 1e3;
}

static double posix_spawn_true(void *arg)
{
	uint64_t t0 = bench_now_ns();
	pid_t pid;

	(void)arg;
	for (int i = 0; i < spawns; i++) {
		if (posix_spawn(&pid, "/bin/true", NULL, NULL, true_argv,
				environ))
			bench_die("posix_spawn");
		fork_check(pid);
	}
	return (double)(bench_now_ns() - t0) / spawns / 1e3;
}

static double fork_exec(void *arg)
{
	uint64_t t0 = bench_now_ns();
	pid_t pid;

	(void)arg;
	for (int i = 0; i < spawns; i++) {
		if ((pid = fork()) == 0) {
			execve("/bin/true", true_argv, environ);
			_exit(127);
		}
		fork_check(pid);
	}
	return (double)(bench_now_ns() - t0) / spawns / 1e3;
}

static void spawn_lines(const char *size)
{
	const struct bench_var v[] = {
		{ "conc", conc_spawn, NULL },
		{ "posix_spawn", posix_spawn_true, NULL },
		{ "fork + execve", fork_exec, NULL },
	};
	struct bench_set s;
	char what[64];

	bench_set_run(&s, v, 3);
	snprintf(what, sizeof(what), "spawn /bin/true + join, %s", size);
	bench_cmp(&s, what, "us", 0, 1, 1);
	bench_cmp(&s, what, "us", 0, 2, 1);
}

int main(void)
{
	const struct bench_var v[] = {
		{ "conc", conc_start, NULL },
		{ "fork + waitpid", fork_wait, NULL },
	};
	struct bench_set s;
	char *big;

	bench_banner("bench_proc: conc_proc_start/spawn vs fork, posix_spawn");
	bench_set_run(&s, v, 2);
	bench_cmp(&s, "process start + join (fork semantics)", "us", 0, 1, 1);
	spawn_lines("small parent");

	/* Small pages, every one touched: fork copies 131072 page-table
	 * entries, a CLONE_VM spawn none. */
	big = mmap(NULL, BIG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (big == MAP_FAILED)
		bench_die("mmap");
	madvise(big, BIG, MADV_NOHUGEPAGE);
	memset(big, 1, BIG);
	spawns = BIG_SPAWNS;
	spawn_lines("512 MiB parent");
	munmap(big, BIG);
	return 0;
}
