/* tests/helper_proc.c — a program test_proc runs to watch what conc does
 * when a process *returns from main* (which a Criterion worker must not do).
 * Usage: helper_proc MODE; writes its findings to stdout.
 *   atexit   a non-daemon child (200 ms, writes "C") is joined before the
 *            helper's own earlier atexit handler writes "P": prints "CP".
 *   daemon   prints the pids of a started and a spawned daemon child, both
 *            sleeping 30 s, and returns: exit must kill and reap them.
 *   fork     a daemon child (300 ms, exit 5) must survive a plain fork
 *            child and a conc_proc_start child that both call exit():
 *            prints "ok", or what happened to it.
 *   release  a released non-daemon child (sleeps 30 s, stdout closed) is
 *            not joined at exit: prints its pid and returns at once.
 *   outerr   writes 1 MiB of 'o' to stdout and 1 MiB of 'e' to stderr in
 *            alternate 64 KiB blocks: a reader that drains only one pipe
 *            at a time leaves it blocked on the other, full. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <conc.h>

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void say(const char *s)
{
	if (write(1, s, strlen(s)) < 0)
		_exit(2);
}

static void say_p(void)
{
	say("P");
}

static int late_c(void *arg)
{
	(void)arg;
	sleep_ms(200);
	say("C");
	return 0;
}

static int sleeper(void *arg)
{
	if (arg)
		close(1);
	sleep_ms(30000);
	return 0;
}

static int exit5(void *arg)
{
	(void)arg;
	sleep_ms(300);
	return 5;
}

static int calls_exit(void *arg)
{
	(void)arg;
	exit(0);
}

static int die(const char *what, int r)
{
	fprintf(stderr, "helper_proc: %s: %s\n", what, strerror(-r));
	return 1;
}

static int mode_atexit(void)
{
	conc_proc *p;
	int r;

	atexit(say_p);
	if ((r = conc_proc_start(&p, late_c, NULL, NULL)))
		return die("start", r);
	return 0;
}

static int mode_daemon(void)
{
	char *argv[] = { "sleep", "30", NULL };
	conc_proc_attr a = { .daemon = true };
	conc_proc *p, *q;
	int r;

	if ((r = conc_proc_start(&p, sleeper, NULL, &a)))
		return die("start", r);
	if ((r = conc_proc_spawn(&q, "sleep", argv, NULL, &a)))
		return die("spawn", r);
	printf("%d %d\n", (int)conc_proc_pid(p), (int)conc_proc_pid(q));
	return 0;
}

static int mode_fork(void)
{
	conc_proc_attr a = { .daemon = true };
	conc_proc *d, *c;
	int r, st;
	pid_t pid;

	if ((r = conc_proc_start(&d, exit5, NULL, &a)))
		return die("start", r);
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		exit(0);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return die("fork", -errno);
	if ((r = conc_proc_start(&c, calls_exit, NULL, NULL)) ||
	    (r = conc_proc_join(c, &st, 10000000000)))
		return die("start/join", r);
	if ((r = conc_proc_join(d, &st, 10000000000)))
		return die("join", r);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 5)
		printf("ok\n");
	else
		printf("status %#x\n", st);
	return 0;
}

static int mode_release(void)
{
	conc_proc *p;
	int r;

	if ((r = conc_proc_start(&p, sleeper, "close", NULL)))
		return die("start", r);
	printf("%d\n", (int)conc_proc_pid(p));
	return conc_proc_release(p);
}

static int write_full(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static int mode_outerr(void)
{
	static char o[1 << 16], e[1 << 16];

	memset(o, 'o', sizeof(o));
	memset(e, 'e', sizeof(e));
	for (int i = 0; i < 16; i++)
		if (write_full(1, o, sizeof(o)) || write_full(2, e, sizeof(e)))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";

	if (!strcmp(m, "atexit"))
		return mode_atexit();
	if (!strcmp(m, "daemon"))
		return mode_daemon();
	if (!strcmp(m, "fork"))
		return mode_fork();
	if (!strcmp(m, "release"))
		return mode_release();
	if (!strcmp(m, "outerr"))
		return mode_outerr();
	fprintf(stderr, "usage: helper_proc atexit|daemon|fork|release|outerr\n");
	return 2;
}
