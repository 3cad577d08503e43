/*
 * helper_thread_exit.c — how a process with conc threads ends; run by
 * test_thread.c, which checks the output and the exit status.
 *
 *   nondaemon         main prints "main done" and returns; a thread then
 *                     sleeps 300 ms and prints "thread done": exit() waits
 *                     for it.
 *   daemon            a daemon thread waits for what never comes (10 s at
 *                     most), then prints "thread done": it dies with main.
 *   exit-in-thread    the thread calls exit(3) while main joins it: the
 *                     process ends at once with status 3.
 *   exit-in-pthread   a thread of pthread_create calls exit(5) while a
 *                     non-daemon conc thread waits for an event that only
 *                     main would set: the process ends at once with 5.
 *   detached          a detached non-daemon thread is still waited for.
 *   thread-exit-main  conc_thread_exit(4) in main is exit(4): it waits too.
 *   fork-exit         a child forked while a non-daemon thread lives starts
 *                     and joins a thread of its own, then returns from main:
 *                     it must not wait for its parent's thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <conc.h>

#define SLEEP_MS 300

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Set by main once it has printed "main done": what the thread prints
 * comes after it whatever the scheduler does (a main held up longer than
 * the sleep by a loaded machine printed second). never is never set. */
static conc_event printed, never;

static void main_done(void)
{
	printf("main done\n");
	conc_event_set(&printed);
}

/* Prints "thread done" SLEEP_MS after main printed (a process that did not
 * wait for the thread is gone by then); a daemon (arg) waits for never,
 * so only a process that waited for it would let it print. */
static int sleeper(void *arg)
{
	conc_event_wait(arg ? &never : &printed, 10 * 1000000000LL);
	sleep_ms(SLEEP_MS);
	printf("thread done\n");
	return 0;
}

static int exiter(void *arg)
{
	(void)arg;
	sleep_ms(50);
	printf("thread calls exit(3)\n");
	exit(3);
}

static void *pthread_exiter(void *arg)
{
	(void)arg;
	sleep_ms(50);
	printf("pthread calls exit(5)\n");
	exit(5);
}

/* Waits for what never comes: it ends only with the process (or gives up
 * after 10 s, which the test sees in the output). */
static int forgotten(void *arg)
{
	if (conc_event_wait(arg, 10 * 1000000000LL) == -ETIMEDOUT)
		printf("exit waited for the conc thread\n");
	return 0;
}

static int waiter(void *arg)
{
	conc_event_wait(arg, 10 * 1000000000LL);
	printf("parent's thread done\n");
	return 0;
}

static int hello(void *arg)
{
	(void)arg;
	printf("child's thread done\n");
	return 0;
}

static conc_thread *start(int (*fn)(void *), void *arg, bool daemon)
{
	conc_thread_attr a = { .daemon = daemon, .name = "helper" };
	conc_thread *t;
	int r = conc_thread_start(&t, fn, arg, &a);

	if (r) {
		printf("conc_thread_start: %s\n", strerror(-r));
		exit(100);
	}
	return t;
}

/* The child returns from main (exit) at once, even though its parent's
 * thread, copied in its counts, is still running in the parent. */
static int fork_exit(void)
{
	static conc_event ev;	/* zeroes: a valid event, not set */
	conc_thread *t = start(waiter, &ev, false);
	int st, i;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 101;
	if (pid == 0) {
		if (conc_thread_self() != NULL)
			return 102;
		t = start(hello, NULL, false);
		if (conc_thread_join(t, NULL, 10 * 1000000000LL))
			return 103;
		return 0;
	}
	for (i = 0; i < 500 && waitpid(pid, &st, WNOHANG) == 0; i++)
		sleep_ms(10);
	if (i == 500) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		printf("child hung at exit\n");
	} else {
		printf("child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	conc_event_set(&ev);
	if (conc_thread_join(t, NULL, 10 * 1000000000LL))
		return 104;
	printf("main done\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	/* Line by line: a process that ends abruptly keeps what it wrote. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "nondaemon") || !strcmp(mode, "daemon")) {
		bool daemon = !strcmp(mode, "daemon");

		start(sleeper, daemon ? &never : NULL, daemon);
		main_done();
		return 0;
	}
	if (!strcmp(mode, "exit-in-thread")) {
		conc_thread *t = start(exiter, NULL, false);

		conc_thread_join(t, NULL, 10 * 1000000000LL);
		printf("main done\n");
		return 0;
	}
	if (!strcmp(mode, "exit-in-pthread")) {
		static conc_event never;
		pthread_t p;

		start(forgotten, &never, false);
		if (pthread_create(&p, NULL, pthread_exiter, NULL))
			return 106;
		pthread_join(p, NULL);
		printf("main done\n");
		return 0;
	}
	if (!strcmp(mode, "detached")) {
		if (conc_thread_detach(start(sleeper, NULL, false)))
			return 105;
		main_done();
		return 0;
	}
	if (!strcmp(mode, "thread-exit-main")) {
		start(sleeper, NULL, false);
		main_done();
		conc_thread_exit(4);
	}
	if (!strcmp(mode, "fork-exit"))
		return fork_exit();
	fprintf(stderr, "usage: %s nondaemon|daemon|exit-in-thread|"
		"exit-in-pthread|detached|"
		"thread-exit-main|fork-exit\n", argv[0]);
	return 2;
}
