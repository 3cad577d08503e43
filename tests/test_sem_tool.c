/*
 * test_sem_tool.c — bin/conc-sem on a semaphore whose table of holders is
 * full while permits are free (more holders than CONC_RSEM_HOLDERS_MAX, or
 * a table a program made smaller, as here: 3 permits, room for 1 holder,
 * held by this test). conc-sem waits for room as for a permit: -w gives up
 * with 124, and a waiting conc-sem runs its command once the holder goes.
 * conc-sem is found at $CONC_BIN/conc-sem, or at bin/ of the build tree.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <conc.h>
#include "helpers.h"

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
