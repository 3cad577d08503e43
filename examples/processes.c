/* demo: child processes from a function and from a "class" print their pid and parent pid, then a program is spawned and its errors reported */
/*
 * The seed's multiprocessing example in C: the main process starts three
 * children with conc_proc_start() (Python's Process(target=fun).start()),
 * each prints its own pid and its parent's, "works" for a moment, and ends
 * with an exit code the parent reads back with conc_proc_join(). The
 * seed's second form, a MyProcess class with a run() method, follows.
 * Then conc_proc_spawn() runs a program found in PATH, its output read
 * through a pipe, and tries one that does not exist: the error comes back
 * to the caller as -ENOENT, not as a child exiting 127.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <conc.h>

#define SEC 1000000000LL

static int fun(void *arg)
{
	const char *name = arg;
	struct timespec ts = { 0, 300000000 };

	printf("  %s: my pid is %d, my parent's is %d: start\n", name,
	       (int)getpid(), (int)getppid());
	nanosleep(&ts, NULL);
	printf("  %s: end\n", name);
	return name[1] - '0';	/* p0 exits with 0, p1 with 1, ... */
}

/* Python's `class MyProcess(Process)` with its own fields and a run()
 * method: a struct that carries the fields and a run pointer, started
 * through one trampoline, as threads.c does for threads. */
struct my_process {
	const char *name;
	int steps;
	int (*run)(struct my_process *self);
};

static int my_run(struct my_process *self)
{
	printf("  %s (class style): pid %d, parent %d, %d steps\n", self->name,
	       (int)getpid(), (int)getppid(), self->steps);
	return self->steps;
}

static int start_run(void *arg)
{
	struct my_process *self = arg;

	return self->run(self);
}

static int fail(const char *what, int r)
{
	printf("%s: %s\n", what, strerror(-r));
	return 1;
}

int main(void)
{
	char *names[] = { "p0", "p1", "p2" };
	char *uname[] = { "uname", "-sr", NULL }, *nope[] = { "nope", NULL };
	conc_proc_attr pipe_out = { .flags = CONC_SPAWN_PIPE_STDOUT };
	conc_proc *p[3], *u;
	char buf[256];
	ssize_t n;
	int i, r, st;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("main process: pid %d\n", (int)getpid());
	for (i = 0; i < 3; i++)
		if ((r = conc_proc_start(&p[i], fun, names[i], NULL)))
			return fail("conc_proc_start", r);
	for (i = 0; i < 3; i++) {
		if ((r = conc_proc_join(p[i], &st, 5 * SEC)))
			return fail("conc_proc_join", r);
		printf("joined %s (pid %d): exit code %d\n", names[i],
		       (int)conc_proc_pid(p[i]), WEXITSTATUS(st));
		if (!WIFEXITED(st) || WEXITSTATUS(st) != i)
			return 1;
		conc_proc_release(p[i]);
	}

	{
		struct my_process mp[2] = { { "P1", 1, my_run }, { "P2", 2, my_run } };

		for (i = 0; i < 2; i++)
			if ((r = conc_proc_start(&p[i], start_run, &mp[i], NULL)))
				return fail("conc_proc_start", r);
		for (i = 0; i < 2; i++) {
			if ((r = conc_proc_join(p[i], &st, 5 * SEC)))
				return fail("conc_proc_join", r);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != mp[i].steps)
				return 1;
			conc_proc_release(p[i]);
		}
	}

	printf("spawning `uname -sr` (found in PATH), stdout through a pipe:\n");
	if ((r = conc_proc_spawn(&u, "uname", uname, NULL, &pipe_out)))
		return fail("conc_proc_spawn", r);
	while ((n = read(conc_proc_stdout(u), buf, sizeof(buf) - 1)) > 0) {
		buf[n] = 0;
		printf("  uname says: %s", buf);
	}
	if ((r = conc_proc_join(u, &st, 5 * SEC)) || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return fail("uname", r ? r : -ECHILD);
	conc_proc_release(u);

	r = conc_proc_spawn(&u, "nope", nope, NULL, NULL);
	printf("spawning `nope`: %s (%d), reported by the spawn itself\n",
	       strerror(-r), r);
	return r == -ENOENT ? 0 : 1;
}
