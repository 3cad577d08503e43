/*
 * tests/test_proc_spawn_wait.c — conc_proc_spawn's wait for the child's
 * exec has a deadline, and in a coroutine it suspends only the caller.
 * A file action that opens a FIFO holds the child before its exec until
 * somebody opens the other end: the one way a spawn's wait lasts as long
 * as a test wants, without timing.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "loop_helpers.h"

static char dir[64], fifo[96];

static void make_fifo(void)
{
	snprintf(dir, sizeof(dir), "/tmp/conc-spawnwait.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/gate", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0, "%s", strerror(errno));
}

static void remove_fifo(void)
{
	unlink(fifo);
	rmdir(dir);
	plain_mode();
}

TestSuite(spawn_wait, .init = make_fifo, .fini = remove_fifo, .timeout = 60);

/* The child's stdin is the FIFO (held until a writer comes), its stdout
 * a pipe to us. */
static const conc_fileop gate_op[] = {
	{ .op = CONC_FILE_OPEN, .fd = 0, .path = fifo, .oflag = O_RDONLY },
};

static void gated(conc_proc_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->fileops = gate_op;
	a->nfileops = 1;
	a->flags = CONC_SPAWN_PIPE_STDOUT;
}

static char *cat_argv[] = { "cat", NULL };

/* Open the FIFO for writing, which succeeds only once the child is in its
 * open for reading (before, O_NONBLOCK gives ENXIO), write text (if not
 * NULL: a child that never reads it may be gone, and SIGPIPE with it),
 * close. */
static int open_gate(const char *text, int (*pause)(void))
{
	int64_t end = now_ns() + BOUND;
	int fd;

	while ((fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		if (errno != ENXIO || now_ns() > end)
			return -1;
		pause();
	}
	if (text && write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int pause_thread(void)
{
	sleep_ns(1000000);
	return 0;
}

static int pause_task(void)
{
	return conc_sleep(1000000);
}

/* What the child wrote to stdout until its end is text, and it exited
 * 0: 0, else a negative code (no assertion: tasks call it too). */
static int output_is(conc_proc *p, const char *text)
{
	char buf[256];
	ssize_t n, got = 0;
	int status = -1;

	while ((n = conc_read(conc_proc_stdout(p), buf + got,
			      sizeof(buf) - 1 - (size_t)got, BOUND)) > 0)
		got += n;
	buf[got] = 0;
	if (conc_proc_join(p, &status, BOUND) || conc_proc_release(p))
		return -201;
	if (n || strcmp(buf, text))
		return -202;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -203;
}

Test(spawn_wait, a_child_held_before_its_exec_times_out)
{
	conc_proc_attr a;
	conc_proc *p = (conc_proc *)&a;
	int fds = count_fds();

	gated(&a);
	cr_assert_eq(conc_proc_spawn_timed(&p, "cat", cat_argv, NULL, &a,
					   100 * MS), -ETIMEDOUT);
	cr_assert_eq(p, (conc_proc *)&a, "the handle was written");
	assert_no_children();
	cr_assert_eq(count_fds(), fds, "an fd is left");
	/* Nobody reads the FIFO any more: the child is gone for good. */
	cr_assert_eq(open(fifo, O_WRONLY | O_NONBLOCK), -1);
	cr_assert_eq(errno, ENXIO);
}

Test(spawn_wait, timeout_zero_only_tries)
{
	conc_proc_attr a;
	conc_proc *p;

	gated(&a);
	cr_assert_eq(conc_proc_spawn_timed(&p, "cat", cat_argv, NULL, &a, 0),
		     -ETIMEDOUT);
	assert_no_children();
}

static void *writer(void *arg)
{
	return (void *)(intptr_t)open_gate(arg, pause_thread);
}

Test(spawn_wait, a_held_child_starts_once_released)
{
	conc_proc_attr a;
	conc_proc *p;
	pthread_t t;
	void *r;

	gated(&a);
	cr_assert_eq(pthread_create(&t, NULL, writer, "through the gate\n"), 0);
	cr_assert_eq(conc_proc_spawn_timed(&p, "cat", cat_argv, NULL, &a,
					   BOUND), 0);
	cr_assert_eq(join_thread(t, 10000, &r), 0);
	cr_assert_null(r, "the writer failed");
	cr_assert_eq(output_is(p, "through the gate\n"), 0);
}

Test(spawn_wait, errors_still_come_back)
{
	static const conc_fileop bad[] = {
		{ .op = CONC_FILE_OPEN, .fd = 0, .path = "/nonexistent/x",
		  .oflag = O_RDONLY },
	};
	conc_proc_attr a = { .fileops = bad, .nfileops = 1 };
	conc_proc *p;

	cr_assert_eq(conc_proc_spawn_timed(&p, "cat", cat_argv, NULL, &a,
					   BOUND), -ENOENT);
	cr_assert_eq(conc_proc_spawn_timed(&p, "/nonexistent/prog", cat_argv,
					   NULL, NULL, BOUND), -ENOENT);
	assert_no_children();
}

/* ---- in a loop ---- */

struct loopcase {
	uint32_t ticks, stop;
	int spawned;		/* the spawner's result */
	uint32_t before, after;	/* ticks around a spawn that timed out */
	bool shared;		/* spawn from a shared-stack task */
};

static int ticker(void *arg)
{
	struct loopcase *lc = arg;

	return tick_until(&lc->ticks, &lc->stop);
}

static int opener(void *arg)
{
	return open_gate(arg ? NULL : "from a task\n", pause_task);
}

/* Spawn cat held by the FIFO; a task of the same loop opens it. With a
 * spawn that held the loop's thread, that task never ran. */
static int spawn_released(void *arg)
{
	struct loopcase *lc = arg;
	conc_proc_attr a;
	conc_proc *p;
	conc_task *o;
	int code = -1;

	gated(&a);
	if (conc_go(&o, opener, NULL, NULL))
		return -100;
	lc->spawned = conc_proc_spawn_timed(&p, "cat", cat_argv, NULL, &a,
					    BOUND);
	if (conc_task_join(o, &code, BOUND) || code)
		return -101;
	if (lc->spawned)
		return lc->spawned;
	return output_is(p, "from a task\n");
}

static int spawn_times_out(void *arg)
{
	struct loopcase *lc = arg;
	conc_proc_attr a;
	conc_proc *p;

	gated(&a);
	lc->before = __atomic_load_n(&lc->ticks, __ATOMIC_ACQUIRE);
	lc->spawned = conc_proc_spawn_timed(&p, "cat", cat_argv, NULL, &a,
					    200 * MS);
	lc->after = __atomic_load_n(&lc->ticks, __ATOMIC_ACQUIRE);
	return 0;
}

static int with_ticker(int (*body)(void *), struct loopcase *lc)
{
	conc_task *t, *b;
	int tc = -1, bc = -1;

	if (conc_go(&t, ticker, lc, NULL))
		return 1;
	/* The ticker counts once before the body starts. */
	while (!__atomic_load_n(&lc->ticks, __ATOMIC_ACQUIRE))
		conc_yield();
	if (conc_go(&b, body, lc, NULL) || conc_task_join(b, &bc, BOUND))
		return 2;
	__atomic_store_n(&lc->stop, 1, __ATOMIC_RELEASE);
	if (conc_task_join(t, &tc, BOUND) || tc)
		return 3;
	return bc;
}

static int main_released(void *arg)
{
	return with_ticker(spawn_released, arg);
}

static int main_times_out(void *arg)
{
	return with_ticker(spawn_times_out, arg);
}

Test(spawn_wait, in_a_task_the_loop_runs_on_until_the_exec)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct loopcase lc = { 0 };

		cr_assert_eq(run(main_released, &lc), 0, "fallback %d: spawn %d",
			     fb, lc.spawned);
		assert_no_children();
	}
}

Test(spawn_wait, in_a_task_a_timeout_kills_the_child)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct loopcase lc = { 0 };

		cr_assert_eq(run(main_times_out, &lc), 0);
		cr_assert_eq(lc.spawned, -ETIMEDOUT, "fallback %d", fb);
		cr_assert_gt(lc.after, lc.before,
			     "fallback %d: the ticker stood still", fb);
		assert_no_children();
	}
}

/* Cancelled while its child is held: the spawn still ends as it would
 * have (here: the program runs once the opener lets it), and the cancel
 * comes with the task's next suspending call. */
static int spawn_then_sleep(void *arg)
{
	struct loopcase *lc = arg;
	conc_proc_attr a;
	conc_proc *p;
	int slept;

	gated(&a);
	lc->spawned = conc_proc_spawn_timed(&p, "cat", cat_argv, NULL, &a,
					    BOUND);
	slept = conc_sleep(1000000);
	if (lc->spawned)
		return -300;
	if (output_is(p, "from a task\n"))
		return -301;
	return slept == -ECANCELED ? 0 : -302;
}

static int main_cancels(void *arg)
{
	struct loopcase *lc = arg;
	conc_task *t, *o;
	int code = -1, ocode = -1;

	lc->spawned = 1;
	if (conc_go(&t, spawn_then_sleep, lc, NULL))
		return 1;
	/* It reaches its wait at our first suspension. */
	if (conc_sleep(20 * MS) || conc_task_cancel(t))
		return 2;
	if (conc_go(&o, opener, NULL, NULL))
		return 3;
	if (conc_task_join(t, &code, BOUND) || conc_task_join(o, &ocode, BOUND))
		return 4;
	return code ? code : ocode;
}

Test(spawn_wait, a_cancel_waits_for_the_exec_and_comes_next)
{
	int fb;

	EACH_FUTEX_MODE(fb) {
		struct loopcase lc = { 0 };

		cr_assert_eq(run(main_cancels, &lc), 0, "fallback %d: spawn %d",
			     fb, lc.spawned);
		assert_no_children();
	}
}

/* The loop winds down (its main task returns) while a task's spawn waits,
 * with no deadline, for a child held before its exec: the cancel of the
 * end is final, not one to defer, or conc_run would never return. The
 * child is killed and reaped, and the spawn returns -ECANCELED. Run in a
 * child of ours, so that a hang is a failure, not a stuck test. */
static int spawn_forever(void *arg)
{
	struct loopcase *lc = arg;
	conc_proc_attr a;
	conc_proc *p;

	gated(&a);
	lc->spawned = conc_proc_spawn(&p, "cat", cat_argv, NULL, &a);
	return 0;
}

static int main_leaves(void *arg)
{
	conc_task *t;

	if (conc_go(&t, spawn_forever, arg, NULL))
		return 1;
	/* It runs until its spawn suspends it; then we end the loop. */
	return conc_yield() ? 2 : 0;
}

static int loop_ends(void *arg)
{
	struct loopcase lc = { .spawned = 1 };
	siginfo_t si = { 0 };
	int code = -1;

	(void)arg;
	if (conc_run(main_leaves, &lc, &code) || code)
		return 10 + (code & 7);
	if (lc.spawned != -ECANCELED)
		return 20;
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != -1 ||
	    errno != ECHILD)
		return 21;
	/* Nobody reads the FIFO any more: the child is gone for good. */
	if (open(fifo, O_WRONLY | O_NONBLOCK) != -1 || errno != ENXIO)
		return 22;
	return 0;
}

Test(spawn_wait, the_loops_end_kills_a_child_held_before_its_exec)
{
	int fb;

	EACH_FUTEX_MODE(fb)
		cr_assert_eq(run_in_child(loop_ends, NULL, 2 * BOUND / MS), 0,
			     "fallback %d", fb);
}

/* ---- a shared-stack task: its locals move while it waits ---- */

#define SCRIBBLERS 4

static int scribble(void *arg)
{
	volatile char junk[4096];
	int i;

	(void)arg;
	for (i = 0; i < 20; i++) {
		memset((char *)junk, 0x55, sizeof(junk));
		if (conc_yield())
			return -1;
	}
	return junk[100] == 0x55 ? 0 : -1;
}

static int spawn_from_locals(void *arg)
{
	struct loopcase *lc = arg;
	char word[] = "kept";
	char *argv[] = { "echo", word, NULL };
	char path[sizeof(fifo)];
	conc_fileop op = { .op = CONC_FILE_OPEN, .fd = 3, .path = path,
			   .oflag = O_RDONLY };
	conc_proc_attr a = { .fileops = &op, .nfileops = 1,
			     .flags = CONC_SPAWN_PIPE_STDOUT };
	conc_task *s[SCRIBBLERS], *o;
	conc_proc *p;
	int i, code;

	memcpy(path, fifo, sizeof(path));
	for (i = 0; i < SCRIBBLERS; i++)
		if (conc_go(&s[i], scribble, NULL,
			    &(conc_task_attr){ .shared_stack = true }))
			return -100;
	if (conc_go(&o, opener, "quiet", NULL))
		return -101;
	lc->spawned = conc_proc_spawn_timed(&p, "echo", argv, NULL, &a, BOUND);
	for (i = 0; i < SCRIBBLERS; i++)
		if (conc_task_join(s[i], &code, BOUND) || code)
			return -102;
	if (conc_task_join(o, &code, BOUND) || code)
		return -103;
	if (lc->spawned)
		return lc->spawned;
	return output_is(p, "kept\n");
}

static int main_shared(void *arg)
{
	conc_task *t;
	int code = -1;

	if (conc_go(&t, spawn_from_locals, arg,
		    &(conc_task_attr){ .shared_stack = true }) ||
	    conc_task_join(t, &code, BOUND))
		return -1;
	return code;
}

Test(spawn_wait, a_shared_stack_task_may_spawn_from_its_locals)
{
	struct loopcase lc = { 0 };

	need_uring();
	cr_assert_eq(run(main_shared, &lc), 0, "spawn %d", lc.spawned);
	assert_no_children();
}

/* ---- a parent killed before its child's exec ---- */

/* P's one child, once /proc lists it; 0 if it does not within the bound,
 * -1 where the kernel has no children file. */
static pid_t child_of(pid_t pid)
{
	char path[64];
	int64_t end = now_ns() + BOUND;
	long c = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid,
		 (int)pid);
	while (!c && now_ns() < end) {
		if (!(f = fopen(path, "r")))
			return -1;
		if (fscanf(f, "%ld", &c) != 1)
			c = 0;
		fclose(f);
		if (!c)
			sleep_ns(1000000);
	}
	return (pid_t)c;
}

Test(spawn_wait, a_parent_killed_before_the_exec_leaves_no_child)
{
	int64_t end;
	pid_t p, c;
	int status = 0;

	/* The orphan comes back to us, to be reaped (or seen alive). */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	p = test_fork();
	cr_assert_geq(p, 0);
	if (p == 0) {
		conc_proc_attr a;
		conc_proc *cp;

		gated(&a);
		conc_proc_spawn(&cp, "cat", cat_argv, NULL, &a);
		_exit(1);	/* the gate never opens */
	}
	c = child_of(p);
	if (c < 0) {
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
		cr_skip_test("no /proc/<pid>/task/<tid>/children");
	}
	cr_assert_gt(c, 0, "no child seen");
	end = now_ns() + BOUND;
	while (thread_syscall(c, c) != SYS_openat && now_ns() < end)
		sleep_ns(1000000);
	cr_assert_eq(thread_syscall(c, c), SYS_openat,
		     "the child is not in its FIFO open");
	cr_assert_eq(kill(p, SIGKILL), 0);
	cr_assert_eq(waitpid(p, NULL, 0), p);
	end = now_ns() + BOUND;
	while (waitpid(c, &status, WNOHANG) == 0 && now_ns() < end)
		sleep_ns(1000000);
	if (kill(c, 0) == 0) {
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		cr_assert_fail("the child outlived its parent");
	}
	cr_assert(killed_by(status, SIGKILL), "status %#x", status);
}
