/*
 * Processes as a user's program meets them: a caller that reaps every
 * child itself (a SIGCHLD handler with waitpid(-1), or SIGCHLD ignored)
 * while conc_proc_start() is still between its fork and its pidfd; daemon
 * children made by conc threads, whose workers are parked for reuse.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include <conc.h>
#include "helpers.h"

static volatile sig_atomic_t reaped;

static void reap_all(int sig)
{
	int e = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		reaped++;
	errno = e;
}

/* The parent's atfork handler runs between fork() and the pidfd: it waits
 * (10 s at most) until the child has ended and been reaped by the
 * program's own handler or by the kernel (SIGCHLD ignored). */
static int slow_parent;

static void parent_after_fork(void)
{
	siginfo_t si;

	if (!slow_parent)
		return;
	for (int i = 0; i < 10000; i++) {
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
		    errno == ECHILD)
			return;
		sleep_ns(1000000);
	}
}

static int write_and_end(void *arg)
{
	int fd = *(int *)arg;

	return write(fd, "r", 1) == 1 ? 5 : 6;
}

/* The function ran, so the start succeeded: the handle is that of a child
 * reaped elsewhere, whose status is lost (-ECHILD), never an error that
 * tells the caller it did not run. */
static void start_reaped_elsewhere(void)
{
	int fds[2], before, st = -1;
	conc_proc *p;
	char c = 0;

	cr_assert_eq(pipe(fds), 0);
	before = count_fds();
	cr_assert_eq(pthread_atfork(NULL, parent_after_fork, NULL), 0);
	slow_parent = 1;
	cr_assert_eq(conc_proc_start(&p, write_and_end, &fds[1], NULL), 0);
	slow_parent = 0;
	cr_assert_eq(read(fds[0], &c, 1), 1);
	cr_assert_eq(c, 'r');
	cr_assert_gt(conc_proc_pid(p), 0);
	cr_assert_eq(conc_proc_join(p, &st, 1000000000), -ECHILD);
	cr_assert_eq(st, -1);
	cr_assert_eq(conc_proc_try_join(p, &st), -ECHILD);
	cr_assert_eq(conc_proc_kill(p, SIGKILL), -ESRCH);
	cr_assert_eq(conc_proc_pidfd(p), -ECHILD);
	cr_assert_eq(conc_proc_release(p), 0);
	cr_assert_eq(count_fds(), before);
}

Test(reaper, start_whose_child_a_sigchld_handler_reaped, .timeout = 30)
{
	struct sigaction sa = { .sa_handler = reap_all,
				.sa_flags = SA_RESTART | SA_NOCLDSTOP };

	cr_assert_eq(sigaction(SIGCHLD, &sa, NULL), 0);
	start_reaped_elsewhere();
	cr_assert_geq(reaped, 1);
}

Test(reaper, start_whose_child_sigchld_ignored_reaped, .timeout = 30)
{
	cr_assert_neq(signal(SIGCHLD, SIG_IGN), SIG_ERR);
	start_reaped_elsewhere();
}

static int sleep_on(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

struct made {
	conc_proc *p;
	bool spawn;
	bool daemon;
};

static int make_child(void *arg)
{
	struct made *m = arg;
	conc_proc_attr a = { .daemon = m->daemon };
	char *argv[] = { "sleep", "1000", NULL };

	if (m->spawn)
		return conc_proc_spawn(&m->p, "sleep", argv, NULL, &a);
	return conc_proc_start(&m->p, sleep_on, NULL, &a);
}

static int add_one(void *arg)
{
	return (int)(intptr_t)arg + 1;
}

/* conc_proc_start(3): a daemon child started from a thread that then
 * returns is killed at that moment; a conc thread's worker that outlived
 * the job (parked for the next start) killed it only when it left the
 * pool for good, 10 s later or never. Other children live on. */
static void thread_makes(bool spawn, bool daemon)
{
	struct made m = { .spawn = spawn, .daemon = daemon };
	conc_thread *t;
	int code = -1, st = -1;

	cr_assert_eq(conc_thread_start(&t, make_child, &m, NULL), 0);
	cr_assert_eq(conc_thread_join(t, &code, 10000000000LL), 0);
	cr_assert_eq(code, 0);
	/* Threads go on being started and reused meanwhile. */
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(conc_thread_start(&t, add_one, (void *)(intptr_t)i, NULL), 0);
		cr_assert_eq(conc_thread_join(t, &code, 10000000000LL), 0);
		cr_assert_eq(code, i + 1);
	}
	if (daemon) {
		cr_assert_eq(conc_proc_join(m.p, &st, 5000000000LL), 0,
			     "the daemon child outlived its thread");
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%#x", st);
	} else {
		cr_assert_eq(conc_proc_join(m.p, &st, 0), -ETIMEDOUT);
		cr_assert_eq(conc_proc_kill(m.p, SIGTERM), 0);
		cr_assert_eq(conc_proc_join(m.p, &st, 10000000000LL), 0);
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "%#x", st);
	}
	cr_assert_eq(conc_proc_release(m.p), 0);
}

Test(daemon, started_by_a_conc_thread_dies_when_it_ends, .timeout = 30)
{
	thread_makes(false, true);
}

Test(daemon, spawned_by_a_conc_thread_dies_when_it_ends, .timeout = 30)
{
	thread_makes(true, true);
}

Test(daemon, other_children_of_a_conc_thread_live_on, .timeout = 30)
{
	thread_makes(false, false);
	thread_makes(true, false);
}

/* The wait for a daemon child's death signal must not depend on file
 * descriptors that children forked meanwhile by other threads inherit: a
 * long-lived one held the pipe open and its starter waited for ever. */
#define STARTERS 3
#define STARTS 40

static conc_proc *kids[STARTERS][STARTS];

static int start_daemons(void *arg)
{
	conc_proc_attr a = { .daemon = true };
	conc_proc **mine = arg;

	for (int i = 0; i < STARTS; i++)
		if (conc_proc_start(&mine[i], sleep_on, NULL, &a))
			return 1;
	return 0;
}

Test(daemon, started_from_several_threads_at_once, .timeout = 60)
{
	conc_thread *t[STARTERS];
	int code, st;

	for (int i = 0; i < STARTERS; i++)
		cr_assert_eq(conc_thread_start(&t[i], start_daemons, kids[i], NULL), 0);
	for (int i = 0; i < STARTERS; i++) {
		cr_assert_eq(conc_thread_join(t[i], &code, 20000000000LL), 0,
			     "a start waited for another thread's child");
		cr_assert_eq(code, 0);
	}
	for (int i = 0; i < STARTERS; i++)
		for (int j = 0; j < STARTS; j++) {
			cr_assert_eq(conc_proc_join(kids[i][j], &st, 10000000000LL), 0);
			cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
			conc_proc_release(kids[i][j]);
		}
}
