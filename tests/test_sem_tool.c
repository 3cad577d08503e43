/*
 * test_sem_tool.c — bin/conc-sem on a semaphore whose table of holders is
 * full while permits are free (more holders than CONC_RSEM_HOLDERS_MAX, or
 * a table a program made smaller, as here: 3 permits, room for 1 holder,
 * held by this test). conc-sem waits for room as for a permit: -w gives up
 * with 124, and a waiting conc-sem runs its command once the holder goes.
 * conc-sem is found at $CONC_BIN/conc-sem, or at bin/ of the build tree.
 * Also the signals that come between its permit and its command, with
 * lib_semstop.so preloaded to stop it there.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <conc.h>
#include "helpers.h"

#define MS_NS 1000000LL

static void sem_tool(char *out, size_t n)
{
	cr_assert_eq(tool_path("conc-sem", out, n), 0, "conc-sem not built: %s", out);
}

static pid_t start(const char *tool, const char *wait, const char *name,
		   const char *code)
{
	pid_t pid = test_fork();

	if (pid == 0) {
		execl(tool, "conc-sem", "-w", wait, name, "sh", "-c",
		      code, (char *)NULL);
		_exit(99);
	}
	cr_assert_gt(pid, 0);
	return pid;
}

static int status_of(pid_t pid)
{
	int st = wait_child(pid, 60000);

	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(sem_tool, a_full_table_of_holders_is_waited_for_as_a_permit, .timeout = 120)
{
	conc_rsem_attr a = { .permits = 3, .holders = 1 };
	char tool[PATH_MAX + 32], name[64];
	conc_rsem *s;
	pid_t pid;

	sem_tool(tool, sizeof(tool));
	snprintf(name, sizeof(name), "conc-ts-%d-full", (int)getpid());
	a.name = name;
	cr_assert_eq(conc_rsem_create(&s, &a), 0);
	cr_assert_eq(conc_rsem_wait(s), 0);	/* the one place */
	cr_assert_eq(conc_rsem_value(s), 2);
	/* -w 0 only tries, -w 0.05 waits a little: neither finds room. */
	cr_assert_eq(status_of(start(tool, "0", name, "exit 7")), 124);
	cr_assert_eq(status_of(start(tool, "0.05", name, "exit 7")), 124);
	/* One that waits gets the place when this holder lets go (whether
	 * it found the table full before or not: the verdict is the same). */
	pid = start(tool, "60", name, "exit 7");
	wait_thread_sleeping(pid, pid, 2000);
	cr_assert_eq(conc_rsem_post(s), 0);
	cr_assert_eq(status_of(pid), 7);
	cr_assert_eq(conc_rsem_value(s), 3);
	cr_assert_eq(conc_rsem_destroy(s), 0);
	cr_assert_eq(conc_shm_unlink(name), 0);
}

/* lib_semstop.so (tests/lib_semstop.c), built beside the plain test
 * binaries: here, or in build/tests for the ASan build of this test. */
static void stop_lib(char *out, size_t n)
{
	cr_assert_eq(test_lib_path("lib_semstop.so", out, n), 0,
		     "%s missing: build the test libraries (make tests)", out);
}

/* conc-sem NAME COMMAND... (NAME made of what, into name), stopped
 * (SIGSTOP) once it holds the permit and before it starts the command,
 * sent SIGTERM there, and let go on: its pid. */
static pid_t term_at_permit(const char *what, char *name, size_t n,
			    char *const cmd[])
{
	char tool[PATH_MAX + 32], lib[PATH_MAX + 64], *argv[8];
	siginfo_t si;
	size_t i;
	pid_t pid;

	sem_tool(tool, sizeof(tool));
	stop_lib(lib, sizeof(lib));
	snprintf(name, n, "conc-ts-%d-%s", (int)getpid(), what);
	argv[0] = "conc-sem";
	argv[1] = (char *)name;
	for (i = 0; cmd[i] && i < 5; i++)
		argv[2 + i] = cmd[i];
	argv[2 + i] = NULL;
	pid = run_until_stopped(tool, argv, lib, "CONC_TEST_STOP_AT_PERMIT", &si, 60000);
	cr_assert_gt(pid, 0, "conc-sem did not stop at its permit");
	cr_assert_eq(si.si_code, CLD_STOPPED, "conc-sem ended before it held a permit");
	cr_assert_eq(kill(pid, SIGTERM), 0);
	cr_assert_eq(kill(pid, SIGCONT), 0);
	return pid;
}

/* Whether the permit came back as a post gives it, not as a dead
 * holder's (-EOWNERDEAD): taken and given back again here. */
static void permit_back(const char *name)
{
	conc_rsem *s;
	int r;

	cr_assert_eq(conc_rsem_open(&s, name), 0);
	r = conc_rsem_trywait(s);
	cr_expect_eq(r, 0, "the permit came back as a killed holder's: %s", strerror(-r));
	cr_expect_eq(conc_rsem_post(s), 0);
	cr_expect_eq(conc_rsem_value(s), 1);
	cr_assert_eq(conc_rsem_destroy(s), 0);
	cr_assert_eq(conc_shm_unlink(name), 0);
}

/* conc-sem(1): a signal that comes after the permit and before the
 * command runs is held and passed to the command once it runs (before,
 * SIGTERM there killed conc-sem: 143 from a kill, the command never run,
 * the permit back only as a dead holder's). */
Test(sem_tool, a_signal_before_the_command_starts_is_passed_to_it, .timeout = 120)
{
	static char *const cmd[] = { "sleep", "600", NULL };
	char name[64];
	pid_t pid = term_at_permit("window", name, sizeof(name), cmd);
	int st = wait_child(pid, 60000);

	/* The command got it: sleep ends (a bounded wait), and conc-sem
	 * ends by the command's signal, as for any command a signal ended
	 * (conc-sem(1)). Had SIGTERM killed conc-sem before the command
	 * ran, the status would be the same: the permit tells them apart,
	 * back by conc-sem's post rather than as a killed holder's. */
	cr_expect(killed_by(st, SIGTERM), "status %#x, not SIGTERM", st);
	permit_back(name);
}

/* If the command cannot start, a signal held meanwhile ends conc-sem as
 * its default action does, once the permit is given back. */
Test(sem_tool, a_signal_held_for_a_command_that_cannot_start_ends_conc_sem, .timeout = 120)
{
	static char *const cmd[] = { "/no/such/command", NULL };
	char name[64];
	pid_t pid = term_at_permit("nocmd", name, sizeof(name), cmd);

	cr_expect(killed_by(wait_child(pid, 60000), SIGTERM));
	permit_back(name);
}
