/*
 * test_queue_tool.c — bin/conc-queue put -t with several messages: the
 * timeout is a deadline for the whole command (as timeout(1) gives), not
 * one for each message. The put is stopped (SIGSTOP) while it waits for
 * room for its first message, past its deadline; then it gets room for
 * that one: the second finds the deadline passed, only tries, and the put
 * exits 1. A put that gave the second message a timeout of its own would
 * sleep on the queue again: the test then makes room, and that put would
 * put it and exit 0. Whether the test sees that sleep in time or not, a
 * right put exits 1: no verdict depends on timing. It needs the kernel to
 * say where a task sleeps (/proc/PID/wchan); it is skipped where not.
 * conc-queue is found at $CONC_BIN/conc-queue, or at bin/ of the tree.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <conc.h>
#include "helpers.h"

#define T_NS	1000000000LL	/* put -t 1 */

static char state_of(pid_t pid)
{
	char path[64], buf[256], *p = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	if (fgets(buf, sizeof(buf), f))
		p = strrchr(buf, ')');
	fclose(f);
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Whether pid (single-threaded) sleeps on a futex (the queue) now. */
static bool on_a_futex(pid_t pid)
{
	char w[128];

	if (state_of(pid) != 'S')
		return false;
	thread_wchan(pid, pid, w, sizeof(w));
	return strstr(w, "futex") != NULL;
}

/* Until pid sleeps on a futex (true), has exited (false) or timeout_ms. */
static bool until_on_a_futex(pid_t pid, int timeout_ms)
{
	int64_t end = now_ns() + (int64_t)timeout_ms * 1000000;
	char s;

	while (now_ns() < end) {
		if (on_a_futex(pid))
			return true;
		s = state_of(pid);
		if (!s || s == 'Z' || s == 'X')
			return false;
		sleep_ns(200000);
	}
	return false;
}

Test(queue_tool, put_t_is_a_deadline_for_the_whole_command, .timeout = 120)
{
	conc_queue_attr a = { .capacity = 1, .max_msg = 64 };
	char tool[PATH_MAX + 32], name[64], buf[64];
	conc_queue *q;
	int64_t seen;
	ssize_t n;
	pid_t pid;
	int st;

	cr_assert_eq(tool_path("conc-queue", tool, sizeof(tool)), 0,
		     "conc-queue not built: %s", tool);
	snprintf(name, sizeof(name), "conc-tq-%d-dl", (int)getpid());
	a.name = name;
	cr_assert_eq(conc_queue_create(&q, &a), 0);
	cr_assert_eq(conc_queue_put(q, "x", 1, 0), 0);	/* full */
	pid = test_fork();
	if (pid == 0) {
		execl(tool, "conc-queue", "put", "-t", "1", name, "a", "b",
		      (char *)NULL);
		_exit(99);
	}
	cr_assert_gt(pid, 0);
	/* Asleep waiting for room for "a": its deadline is set, at most
	 * T_NS after now. */
	if (!until_on_a_futex(pid, 10000)) {
		kill(pid, SIGKILL);
		wait_child(pid, 10000);
		conc_queue_destroy(q);
		conc_shm_unlink(name);
		cr_skip_test("the kernel does not say where a task sleeps");
	}
	seen = now_ns();
	cr_assert_eq(kill(pid, SIGSTOP), 0);
	while (state_of(pid) != 'T' && now_ns() < seen + 10 * T_NS)
		sleep_ns(200000);
	cr_assert_eq(state_of(pid), 'T');
	while (now_ns() < seen + T_NS + 10000000)
		sleep_ns(1000000);
	/* Past its deadline: room for "a", and on it goes. */
	cr_assert_eq(conc_queue_get(q, buf, sizeof(buf), 0), 1);
	cr_assert_eq(buf[0], 'x');
	cr_assert_eq(kill(pid, SIGCONT), 0);
	if (until_on_a_futex(pid, 10000)) {
		/* Waiting for room for "b" after its deadline: room then. */
		n = conc_queue_get(q, buf, sizeof(buf), 0);
		cr_assert_eq(n, 1);
		cr_assert_eq(buf[0], 'a');
	}
	st = wait_child(pid, 30000);
	cr_assert(exited_with(st, 1), "put: status %#x (b went in after the deadline)", st);
	while ((n = conc_queue_get(q, buf, sizeof(buf), 0)) >= 0)
		cr_assert(n == 1 && buf[0] == 'a', "%zd %c", n, buf[0]);
	cr_assert_eq(conc_queue_destroy(q), 0);
	cr_assert_eq(conc_shm_unlink(name), 0);
}

/* get -t: the timeout is a deadline for the message the command waits
 * for, kept when it grows its buffer for a message larger than the one it
 * has (64 KiB first) and takes the next again. The get is stopped (by
 * lib_growstop.so) between finding a 100,000-byte message too large and
 * taking it again; the test takes that message meanwhile and lets the get
 * go on past its deadline: it finds the queue empty, only tries, and exits
 * 1. A get that gave the second try the whole timeout again would sleep
 * on the queue: the test then puts a message, which that get would take
 * and exit 0. A right get exits 1 whether or not the test sees it. */
Test(queue_tool, get_t_is_kept_when_the_buffer_grows, .timeout = 120)
{
	conc_queue_attr a = { .capacity = 2, .max_msg = 1 << 20 };
	char tool[PATH_MAX + 32], lib[PATH_MAX + 64], name[64];
	static char big[100000];
	char *argv[] = { "conc-queue", "get", "-t", "1", name, NULL };
	siginfo_t si;
	int64_t seen;
	conc_queue *q;
	ssize_t n;
	pid_t pid;
	int st;

	cr_assert_eq(tool_path("conc-queue", tool, sizeof(tool)), 0,
		     "conc-queue not built: %s", tool);
	cr_assert_eq(test_lib_path("lib_growstop.so", lib, sizeof(lib)), 0,
		     "%s missing: build the test libraries (make tests)", lib);
	snprintf(name, sizeof(name), "conc-tq-%d-grow", (int)getpid());
	a.name = name;
	cr_assert_eq(conc_queue_create(&q, &a), 0);
	memset(big, 'm', sizeof(big));
	cr_assert_eq(conc_queue_put(q, big, sizeof(big), 0), 0);
	pid = run_until_stopped(tool, argv, lib, "CONC_TEST_STOP_AT_GROW", &si, 60000);
	cr_assert_gt(pid, 0, "the get did not stop");
	cr_assert_eq(si.si_code, CLD_STOPPED, "the get ended before it grew its buffer");
	seen = now_ns();
	n = conc_queue_get(q, big, sizeof(big), 0);
	cr_assert_eq(n, (ssize_t)sizeof(big));
	/* Its deadline was set before it stopped: past it now. */
	while (now_ns() < seen + T_NS + 10000000)
		sleep_ns(1000000);
	cr_assert_eq(kill(pid, SIGCONT), 0);
	if (until_on_a_futex(pid, 10000))
		cr_assert_eq(conc_queue_put(q, "late", 4, 0), 0);
	st = wait_child(pid, 30000);
	cr_assert(exited_with(st, 1), "get: status %#x (it waited past its deadline)", st);
	cr_assert_eq(conc_queue_destroy(q), 0);
	cr_assert_eq(conc_shm_unlink(name), 0);
}
