/* tests/test_proc.c — conc_proc: start (fork semantics) and spawn (exec
 * through a CLONE_VM clone), join with timeouts, kill through the pidfd,
 * daemon children, joins at exit, file descriptors, the stderr pipe, the
 * child's process group, try_join. Every wait is bounded;
 * forked children leave with _exit(). Behaviour is asserted, never timing. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <conc.h>
#include "helpers.h"
#include "cancel_waiter.h"

#define MS(ms)		((int64_t)(ms) * 1000000)
#define BOUND		MS(10000)	/* a wait that must end gives up here */
#define BOUND_MS	10000

/* ---- small tools ---- */

/* Join p within BOUND and return its status; fail the test otherwise. */
static int join_ok(conc_proc *p)
{
	int st = -1, r = conc_proc_join(p, &st, BOUND);

	cr_assert_eq(r, 0, "join: %s", strerror(-r));
	return st;
}

/* Join, check, release: the child exited with code. */
static void expect_exit(conc_proc *p, int code)
{
	int st = join_ok(p);

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == code,
		  "status %#x, wanted exit %d", st, code);
	cr_assert_eq(conc_proc_release(p), 0);
}

/* Read fd until end of file, at most size-1 bytes, within BOUND_MS;
 * NUL-terminates. The length, or -1 (timeout or error). */
static ssize_t read_all(int fd, char *buf, size_t size)
{
	int64_t end = now_ns() + MS(BOUND_MS);
	size_t n = 0;
	ssize_t r;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)((end - now_ns()) / 1000000);

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return -1;
		r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0 || (n += (size_t)r) == size - 1)
			break;
	}
	buf[n] = 0;
	return (ssize_t)n;
}

/* Spawn argv with stdout piped, collect the output in buf, join; returns
 * the status. attr may be NULL; PIPE_STDOUT is added. */
static int run_out(const char *path, char *const argv[], char *const envp[],
		   const conc_proc_attr *attr, char *buf, size_t size)
{
	conc_proc_attr a = attr ? *attr : (conc_proc_attr){ 0 };
	conc_proc *p;
	int r, st;

	a.flags |= CONC_SPAWN_PIPE_STDOUT;
	r = conc_proc_spawn(&p, path, argv, envp, &a);
	cr_assert_eq(r, 0, "spawn %s: %s", path, strerror(-r));
	cr_assert_geq(read_all(conc_proc_stdout(p), buf, size), 0,
		      "no end of file from %s", path);
	st = join_ok(p);
	cr_assert_eq(conc_proc_release(p), 0);
	return st;
}

/* A fresh directory under /tmp; removed with rm_tree(). */
static void make_dir(char *dir)
{
	strcpy(dir, "/tmp/conc-proc-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	cr_assert_eq(nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* The helper program, built beside the tests (build/tests/helper_proc;
 * the ASan tests live in build/asan/tests and use the same one). */
static void helper_path(char *out, size_t size)
{
	char exe[PATH_MAX - 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	cr_assert_gt(n, 0);
	exe[n] = 0;
	slash = strrchr(exe, '/');
	*slash = 0;
	snprintf(out, size, "%s/helper_proc", exe);
	if (access(out, X_OK) != 0)
		snprintf(out, size, "%s/../../tests/helper_proc", exe);
	cr_assert_eq(access(out, X_OK), 0,
		     "%s missing: build the test helpers (make tests)", out);
}

/* Run the helper in mode, collect its stdout, return its status. */
static int run_helper(const char *mode, char *buf, size_t size)
{
	char path[PATH_MAX];
	char *argv[] = { "helper_proc", (char *)mode, NULL };

	helper_path(path, sizeof(path));
	return run_out(path, argv, NULL, NULL, buf, size);
}

/* ---- start: fork semantics ---- */

static int ret_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

Test(start, exit_code_is_the_return_value)
{
	conc_proc *p;

	cr_assert_eq(conc_proc_start(&p, ret_arg, (void *)7, NULL), 0);
	expect_exit(p, 7);
	cr_assert_eq(conc_proc_start(&p, ret_arg, (void *)0, NULL), 0);
	expect_exit(p, 0);
	cr_assert_eq(conc_proc_start(&p, ret_arg, (void *)0x1ff, NULL), 0);
	expect_exit(p, 0xff);
}

static int raise_arg(void *arg)
{
	raise((int)(intptr_t)arg);
	return 99;
}

Test(start, death_by_signal_is_decoded)
{
	conc_proc *p;
	int st;

	cr_assert_eq(conc_proc_start(&p, raise_arg, (void *)SIGTERM, NULL), 0);
	st = join_ok(p);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status %#x", st);
	cr_assert_not(WIFEXITED(st));
	conc_proc_release(p);

	cr_assert_eq(conc_proc_start(&p, raise_arg, (void *)SIGKILL, NULL), 0);
	st = join_ok(p);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
	conc_proc_release(p);
}

static int abort_in_dir(void *dir)
{
#ifndef __SANITIZE_ADDRESS__
	/* ASan turns core dumps off, and its would be huge: no core there. */
	struct rlimit rl;

	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_CORE, &rl);
	}
#endif
	if (chdir(dir))
		return 1;
	abort();
}

Test(start, core_dump_is_decoded)
{
	char dir[64];
	conc_proc *p;
	DIR *d;
	int st, files = 0;

	make_dir(dir);
	cr_assert_eq(conc_proc_start(&p, abort_in_dir, dir, NULL), 0);
	st = join_ok(p);
	conc_proc_release(p);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
	/* Whether a core is written depends on the system (core_pattern,
	 * limits); when one was written here, the status must say so. */
	d = opendir(dir);
	cr_assert_not_null(d);
	while (readdir(d))
		files++;
	closedir(d);
	if (files > 2)
		cr_assert(WCOREDUMP(st), "a core was written, status %#x", st);
	rm_tree(dir);
}

static int read_byte(void *arg)
{
	int *fds = arg;
	char c = 0;

	close(fds[1]);
	if (read(fds[0], &c, 1) != 1)
		return 100;
	return c;
}

Test(start, join_timeout_leaves_it_joinable)
{
	int fds[2], st = -1, st2 = -1;
	conc_proc *p;

	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
	cr_assert_eq(conc_proc_start(&p, read_byte, fds, NULL), 0);
	close(fds[0]);
	cr_assert_eq(conc_proc_join(p, &st, 0), -ETIMEDOUT);
	cr_assert_eq(conc_proc_join(p, &st, MS(50)), -ETIMEDOUT);
	cr_assert_eq(st, -1, "a timed-out join stored a status");
	cr_assert_eq(conc_proc_kill(p, 0), 0, "not alive after timeouts");
	cr_assert_eq(write(fds[1], "\x2a", 1), 1);
	close(fds[1]);
	st = join_ok(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 42, "status %#x", st);
	/* Again: the same status, at once, even with timeout 0. */
	cr_assert_eq(conc_proc_join(p, &st2, 0), 0);
	cr_assert_eq(st2, st);
	cr_assert_eq(conc_proc_join(p, NULL, 0), 0);
	conc_proc_release(p);
}

static int sleep_long(void *arg)
{
	(void)arg;
	sleep_ns(MS(30000));
	return 0;
}

Test(start, kill_goes_through_the_pidfd)
{
	conc_proc *p;
	int st;

	cr_assert_eq(conc_proc_start(&p, sleep_long, NULL, NULL), 0);
	cr_assert_eq(conc_proc_kill(p, 0), 0);
	cr_assert_eq(conc_proc_kill(p, SIGKILL), 0);
	st = join_ok(p);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
	/* Joined: the pid may be anyone's now; the handle never signals it. */
	cr_assert_eq(conc_proc_kill(p, SIGKILL), -ESRCH);
	cr_assert_eq(conc_proc_kill(p, 0), -ESRCH);
	conc_proc_release(p);
}

static int report_pid(void *arg)
{
	int *fds = arg;
	pid_t pid = getpid();

	return write(fds[1], &pid, sizeof(pid)) == sizeof(pid) ? 0 : 1;
}

Test(start, accessors)
{
	int fds[2], fl;
	conc_proc *p;
	pid_t pid = 0;

	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
	cr_assert_eq(conc_proc_start(&p, report_pid, fds, NULL), 0);
	cr_assert_eq(read(fds[0], &pid, sizeof(pid)), (ssize_t)sizeof(pid));
	cr_assert_eq(conc_proc_pid(p), pid);
	cr_assert_geq(conc_proc_pidfd(p), 0);
	fl = fcntl(conc_proc_pidfd(p), F_GETFD);
	cr_assert(fl >= 0 && (fl & FD_CLOEXEC), "pidfd without FD_CLOEXEC");
	cr_assert_eq(conc_proc_stdin(p), -EBADF);
	cr_assert_eq(conc_proc_stdout(p), -EBADF);
	cr_assert_eq(conc_proc_close_stdin(p), -EBADF);
	expect_exit(p, 0);
	close(fds[0]);
	close(fds[1]);
}

Test(start, null_and_bad_arguments)
{
	conc_proc *p = NULL;

	cr_assert_eq(conc_proc_start(NULL, ret_arg, NULL, NULL), -EINVAL);
	cr_assert_eq(conc_proc_start(&p, NULL, NULL, NULL), -EINVAL);
	cr_assert_null(p);
	cr_assert_eq(conc_proc_join(NULL, NULL, 0), -EINVAL);
	cr_assert_eq(conc_proc_kill(NULL, SIGTERM), -EINVAL);
	cr_assert_eq(conc_proc_pid(NULL), -EINVAL);
	cr_assert_eq(conc_proc_pidfd(NULL), -EINVAL);
	cr_assert_eq(conc_proc_stdin(NULL), -EINVAL);
	cr_assert_eq(conc_proc_stdout(NULL), -EINVAL);
	cr_assert_eq(conc_proc_close_stdin(NULL), -EINVAL);
	cr_assert_eq(conc_proc_release(NULL), -EINVAL);
	assert_no_children();
}

static int check_parent_and_name(void *arg)
{
	char comm[32] = "";
	FILE *f;

	if (getppid() != *(pid_t *)arg)
		return 1;
	f = fopen("/proc/self/comm", "r");
	if (!f || !fgets(comm, sizeof(comm), f))
		return 2;
	fclose(f);
	return strcmp(comm, "conc-kid\n") ? 3 : 0;
}

Test(start, parent_pid_and_name)
{
	conc_proc_attr a = { .name = "conc-kid" };
	pid_t me = getpid();
	conc_proc *p;

	cr_assert_eq(conc_proc_start(&p, check_parent_and_name, &me, &a), 0);
	expect_exit(p, 0);
}

static int bump(void *arg)
{
	int *v = arg;

	*v += 1;
	return *v;
}

Test(start, the_child_has_a_copy_of_memory)
{
	int v = 5;
	conc_proc *p;

	cr_assert_eq(conc_proc_start(&p, bump, &v, NULL), 0);
	expect_exit(p, 6);
	cr_assert_eq(v, 5);
}

static int print_child(void *arg)
{
	fprintf(arg, "child\n");	/* flushed by the child before _exit */
	return 0;
}

Test(start, stdio_is_written_once)
{
	FILE *f = tmpfile();
	char buf[64] = "";
	conc_proc *p;

	cr_assert_not_null(f);
	cr_assert_eq(setvbuf(f, NULL, _IOFBF, 4096), 0);
	fprintf(f, "parent\n");		/* still in our buffer */
	cr_assert_eq(conc_proc_start(&p, print_child, f, NULL), 0);
	expect_exit(p, 0);
	fflush(f);
	rewind(f);
	cr_assert_eq(fread(buf, 1, sizeof(buf) - 1, f), strlen("parent\nchild\n"));
	cr_assert_str_eq(buf, "parent\nchild\n");
	fclose(f);
}

/* Fork semantics: a child of a parent whose other thread keeps malloc and
 * stdio busy can still use both. */
static volatile int busy_stop;

static void *busy(void *arg)
{
	FILE *devnull = arg;

	while (!__atomic_load_n(&busy_stop, __ATOMIC_RELAXED)) {
		free(malloc(100 + (size_t)(rand() % 5000)));
		fprintf(devnull, "busy\n");
	}
	return NULL;
}

static int use_libc(void *arg)
{
	FILE *devnull = arg;

	for (int i = 0; i < 200; i++) {
		free(malloc(64 + (size_t)i * 37));
		fprintf(devnull, "child %d\n", i);
	}
	fflush(devnull);
	return 0;
}

Test(start, libc_works_in_a_child_of_a_threaded_parent, .timeout = 60)
{
	FILE *devnull = fopen("/dev/null", "w");
	pthread_t t[2];
	conc_proc *p;

	cr_assert_not_null(devnull);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, busy, devnull), 0);
	for (int i = 0; i < 30; i++) {
		cr_assert_eq(conc_proc_start(&p, use_libc, devnull, NULL), 0);
		expect_exit(p, 0);
	}
	__atomic_store_n(&busy_stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(join_thread(t[i], BOUND_MS, NULL), 0);
	fclose(devnull);
}

/* ---- spawn ---- */

Test(spawn, exit_codes)
{
	char *t[] = { "true", NULL }, *f[] = { "false", NULL };
	char *sh[] = { "sh", "-c", "exit 3", NULL };
	conc_proc *p;

	cr_assert_eq(conc_proc_spawn(&p, "/bin/true", t, NULL, NULL), 0);
	cr_assert_gt(conc_proc_pid(p), 0);
	expect_exit(p, 0);
	cr_assert_eq(conc_proc_spawn(&p, "/bin/false", f, NULL, NULL), 0);
	expect_exit(p, 1);
	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", sh, NULL, NULL), 0);
	expect_exit(p, 3);
	/* No '/': searched in PATH. */
	cr_assert_eq(conc_proc_spawn(&p, "true", t, NULL, NULL), 0);
	expect_exit(p, 0);
}

Test(spawn, killed_by_a_signal)
{
	char *sh[] = { "sh", "-c", "kill -USR1 $$; sleep 10", NULL };
	conc_proc *p;
	int st;

	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", sh, NULL, NULL), 0);
	st = join_ok(p);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1, "status %#x", st);
	conc_proc_release(p);
}

Test(spawn, path_search_as_execvp)
{
	char dir[64], a[96], b[96], path[400], out[64];
	char *argv[] = { "hello", NULL };
	conc_proc *p;

	make_dir(dir);
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	cr_assert_eq(mkdir(a, 0755), 0);
	cr_assert_eq(mkdir(b, 0755), 0);
	/* a/hello is not executable, b/hello is: the search goes past a. */
	snprintf(path, sizeof(path), "%s/hello", a);
	write_file(path, "#!/bin/sh\necho from a\n", 0644);
	snprintf(path, sizeof(path), "%s/hello", b);
	write_file(path, "#!/bin/sh\necho from b\n", 0755);
	snprintf(path, sizeof(path), "%s/none:%s:%s", dir, a, b);
	cr_assert_eq(setenv("PATH", path, 1), 0);
	cr_assert(exited_with(run_out("hello", argv, NULL, NULL, out,
				      sizeof(out)), 0));
	cr_assert_str_eq(out, "from b\n");
	/* Only a non-executable one: EACCES, as execvp says. */
	cr_assert_eq(setenv("PATH", a, 1), 0);
	cr_assert_eq(conc_proc_spawn(&p, "hello", argv, NULL, NULL), -EACCES);
	cr_assert_eq(setenv("PATH", dir, 1), 0);
	cr_assert_eq(conc_proc_spawn(&p, "hello", argv, NULL, NULL), -ENOENT);
	assert_no_children();
	rm_tree(dir);
}

Test(spawn, errors_come_back_to_the_parent)
{
	char dir[64], path[128];
	char *argv[] = { "x", NULL };
	conc_fileop bad_open = { .op = CONC_FILE_OPEN, .fd = 0,
				 .path = "/nonexistent/in", .oflag = O_RDONLY };
	conc_fileop bad_dup = { .op = CONC_FILE_DUP2, .fd = 5, .src = 999 };
	conc_proc_attr a = { 0 };
	conc_proc *p = NULL;

	make_dir(dir);
	cr_assert_eq(conc_proc_spawn(&p, "/nonexistent/prog", argv, NULL, NULL),
		     -ENOENT);
	cr_assert_eq(conc_proc_spawn(&p, "no-such-program-conc", argv, NULL,
				     NULL), -ENOENT);
	cr_assert_eq(conc_proc_spawn(&p, "", argv, NULL, NULL), -ENOENT);
	snprintf(path, sizeof(path), "%s/plain", dir);
	write_file(path, "#!/bin/sh\nexit 0\n", 0644);
	cr_assert_eq(conc_proc_spawn(&p, path, argv, NULL, NULL), -EACCES);
	cr_assert_eq(conc_proc_spawn(&p, dir, argv, NULL, NULL), -EACCES);
	snprintf(path, sizeof(path), "%s/garbage", dir);
	write_file(path, "\x01\x02\x03 not a program\n", 0755);
	cr_assert_eq(conc_proc_spawn(&p, path, argv, NULL, NULL), -ENOEXEC);

	a.cwd = "/nonexistent/dir";
	cr_assert_eq(conc_proc_spawn(&p, "/bin/true", argv, NULL, &a), -ENOENT);
	a = (conc_proc_attr){ .fileops = &bad_open, .nfileops = 1 };
	cr_assert_eq(conc_proc_spawn(&p, "/bin/true", argv, NULL, &a), -ENOENT);
	a = (conc_proc_attr){ .fileops = &bad_dup, .nfileops = 1 };
	cr_assert_eq(conc_proc_spawn(&p, "/bin/true", argv, NULL, &a), -EBADF);
	/* A session leader cannot change its process group. */
	a = (conc_proc_attr){ .flags = CONC_SPAWN_SETSID | CONC_SPAWN_SETPGROUP };
	cr_assert_eq(conc_proc_spawn(&p, "/bin/true", argv, NULL, &a), -EPERM);
	cr_assert_null(p, "a failed spawn stored a handle");
	assert_no_children();
	rm_tree(dir);
}

Test(spawn, bad_arguments)
{
	char *argv[] = { "true", NULL };
	conc_fileop neg = { .op = CONC_FILE_CLOSE, .fd = -1 };
	conc_fileop unknown = { .op = 77, .fd = 3 };
	conc_fileop nopath = { .op = CONC_FILE_OPEN, .fd = 3 };
	conc_proc_attr a = { .flags = 0x1000 };
	conc_proc *p = NULL;

	cr_assert_eq(conc_proc_spawn(NULL, "/bin/true", argv, NULL, NULL), -EINVAL);
	cr_assert_eq(conc_proc_spawn(&p, NULL, argv, NULL, NULL), -EINVAL);
	cr_assert_eq(conc_proc_spawn(&p, "/bin/true", NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(conc_proc_spawn(&p, "/bin/true", argv, NULL, &a), -EINVAL);
	a = (conc_proc_attr){ .nfileops = 1 };
	cr_assert_eq(conc_proc_spawn(&p, "/bin/true", argv, NULL, &a), -EINVAL);
	a = (conc_proc_attr){ .fileops = &neg, .nfileops = 1 };
	cr_assert_eq(conc_proc_spawn(&p, "/bin/true", argv, NULL, &a), -EBADF);
	a = (conc_proc_attr){ .fileops = &unknown, .nfileops = 1 };
	cr_assert_eq(conc_proc_spawn(&p, "/bin/true", argv, NULL, &a), -EINVAL);
	a = (conc_proc_attr){ .fileops = &nopath, .nfileops = 1 };
	cr_assert_eq(conc_proc_spawn(&p, "/bin/true", argv, NULL, &a), -EINVAL);
	cr_assert_null(p);
	assert_no_children();
}

Test(spawn, file_actions_redirect_stdout_to_a_file)
{
	char dir[64], path[128], buf[64] = "";
	char *argv[] = { "sh", "-c", "echo hello; echo oops >&2", NULL };
	conc_fileop ops[] = {
		{ .op = CONC_FILE_OPEN, .fd = 1, .path = path,
		  .oflag = O_WRONLY | O_CREAT | O_TRUNC, .mode = 0600 },
		{ .op = CONC_FILE_DUP2, .fd = 2, .src = 1 },	/* 2>&1 */
	};
	conc_proc_attr a = { .fileops = ops, .nfileops = 2 };
	conc_proc *p;
	int fd;

	make_dir(dir);
	snprintf(path, sizeof(path), "%s/out", dir);
	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", argv, NULL, &a), 0);
	expect_exit(p, 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(read(fd, buf, sizeof(buf) - 1), 11);
	cr_assert_str_eq(buf, "hello\noops\n");
	close(fd);
	rm_tree(dir);
}

Test(spawn, dup2_onto_itself_clears_cloexec)
{
	int fds[2];
	char cmd[64], buf[16];
	char *argv[] = { "sh", "-c", cmd, NULL };
	conc_fileop op = { .op = CONC_FILE_DUP2 };
	conc_proc_attr a = { .fileops = &op, .nfileops = 1 };
	conc_proc *p;

	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
	op.fd = op.src = fds[1];
	/* dash takes only fds 0-9 in a redirection: go through /proc. */
	snprintf(cmd, sizeof(cmd), "echo inherited >/proc/self/fd/%d", fds[1]);
	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", argv, NULL, &a), 0);
	close(fds[1]);
	cr_assert_eq(read_all(fds[0], buf, sizeof(buf)), 10);
	cr_assert_str_eq(buf, "inherited\n");
	expect_exit(p, 0);
	close(fds[0]);
}

Test(spawn, close_action)
{
	char *argv[] = { "sh", "-c", "test -e /proc/$$/fd/0 && exit 1; exit 0",
			 NULL };
	conc_fileop op = { .op = CONC_FILE_CLOSE, .fd = 0 };
	conc_fileop twice[] = { op, op };	/* closing a closed fd: fine */
	conc_proc_attr a = { .fileops = twice, .nfileops = 2 };
	conc_proc *p;

	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", argv, NULL, &a), 0);
	expect_exit(p, 0);
}

Test(spawn, pipes_to_stdin_and_from_stdout_with_cat)
{
	static const char msg[] = "hello through cat\n";
	char *argv[] = { "cat", NULL }, buf[64];
	conc_proc_attr a = { .flags = CONC_SPAWN_PIPE_STDIN |
				      CONC_SPAWN_PIPE_STDOUT };
	conc_proc *p;
	int in, out;

	cr_assert_eq(conc_proc_spawn(&p, "cat", argv, NULL, &a), 0);
	in = conc_proc_stdin(p);
	out = conc_proc_stdout(p);
	cr_assert(in >= 0 && out >= 0 && in != out);
	cr_assert(fcntl(in, F_GETFD) & FD_CLOEXEC);
	cr_assert(fcntl(out, F_GETFD) & FD_CLOEXEC);
	cr_assert_eq(write(in, msg, strlen(msg)), (ssize_t)strlen(msg));
	cr_assert_eq(conc_proc_join(p, NULL, MS(20)), -ETIMEDOUT,
		     "cat ended before its end of file");
	cr_assert_eq(conc_proc_close_stdin(p), 0);
	cr_assert_eq(conc_proc_close_stdin(p), -EBADF);
	cr_assert_eq(conc_proc_stdin(p), -EBADF);
	cr_assert_eq(read_all(out, buf, sizeof(buf)), (ssize_t)strlen(msg));
	cr_assert_str_eq(buf, msg);
	expect_exit(p, 0);
}

Test(spawn, a_lot_of_output)
{
	static char buf[1 << 21];
	char *argv[] = { "head", "-c", "1000000", "/dev/zero", NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_PIPE_STDOUT };
	conc_proc *p;

	cr_assert_eq(conc_proc_spawn(&p, "head", argv, NULL, &a), 0);
	cr_assert_eq(read_all(conc_proc_stdout(p), buf, sizeof(buf)), 1000000);
	expect_exit(p, 0);
}

Test(spawn, the_parent_fds_stay_out_of_the_child)
{
	char *argv[] = { "sh", "-c",
			 "read a b c; for f in $a $b $c; do "
			 "[ -e /proc/$$/fd/$f ] && echo leak $f; done; echo done",
			 NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_PIPE_STDIN |
				      CONC_SPAWN_PIPE_STDOUT };
	char line[64], buf[128];
	conc_proc *p;

	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", argv, NULL, &a), 0);
	snprintf(line, sizeof(line), "%d %d %d\n", conc_proc_stdin(p),
		 conc_proc_stdout(p), conc_proc_pidfd(p));
	cr_assert_eq(write(conc_proc_stdin(p), line, strlen(line)),
		     (ssize_t)strlen(line));
	cr_assert_eq(conc_proc_close_stdin(p), 0);
	cr_assert_geq(read_all(conc_proc_stdout(p), buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "done\n");
	expect_exit(p, 0);
}

/* Fields 4 (ppid), 5 (pgrp), 6 (session) of /proc/PID/stat, via cat of
 * its own. */
static void ids_of_child(const conc_proc_attr *attr, pid_t *pid, pid_t *pgrp,
			 pid_t *sid)
{
	char *argv[] = { "cat", "/proc/self/stat", NULL }, buf[1024], *s;
	int ppid;

	cr_assert(exited_with(run_out("/bin/cat", argv, NULL, attr, buf,
				      sizeof(buf)), 0));
	cr_assert_eq(sscanf(buf, "%d", pid), 1);
	s = strrchr(buf, ')');
	cr_assert_not_null(s);
	cr_assert_eq(sscanf(s + 2, "%*c %d %d %d", &ppid, pgrp, sid), 3);
	cr_assert_eq(ppid, getpid());
}

Test(spawn, new_session_and_process_group)
{
	conc_proc_attr a = { .flags = CONC_SPAWN_SETSID };
	pid_t pid, pgrp, sid;

	ids_of_child(&a, &pid, &pgrp, &sid);
	cr_assert_eq(sid, pid);
	cr_assert_eq(pgrp, pid);
	a.flags = CONC_SPAWN_SETPGROUP;
	ids_of_child(&a, &pid, &pgrp, &sid);
	cr_assert_eq(pgrp, pid);
	cr_assert_eq(sid, getsid(0));
	ids_of_child(NULL, &pid, &pgrp, &sid);
	cr_assert_eq(pgrp, getpgrp());
	cr_assert_eq(sid, getsid(0));
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* SigBlk, SigIgn and SigCgt of a cat reading its own status. */
static void signals_of_child(const conc_proc_attr *attr, uint64_t *blk,
			     uint64_t *ign, uint64_t *cgt)
{
	char *argv[] = { "cat", "/proc/self/status", NULL }, buf[4096], *s;

	cr_assert(exited_with(run_out("/bin/cat", argv, NULL, attr, buf,
				      sizeof(buf)), 0));
	cr_assert_not_null(s = strstr(buf, "SigBlk:"));
	*blk = strtoull(s + 7, NULL, 16);
	cr_assert_not_null(s = strstr(buf, "SigIgn:"));
	*ign = strtoull(s + 7, NULL, 16);
	cr_assert_not_null(s = strstr(buf, "SigCgt:"));
	*cgt = strtoull(s + 7, NULL, 16);
}

#define BIT(sig) (1ull << ((sig) - 1))

Test(spawn, signal_mask_and_dispositions)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	conc_proc_attr a = { 0 };
	sigset_t term, now;
	uint64_t blk, ign, cgt;

	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	cr_assert_eq(signal(SIGUSR2, SIG_IGN), SIG_DFL);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &term, NULL), 0);

	/* Default: empty mask, ignored stays ignored, nothing caught. */
	signals_of_child(&a, &blk, &ign, &cgt);
	cr_assert_eq(blk, 0, "SigBlk %#llx", (unsigned long long)blk);
	cr_assert(ign & BIT(SIGUSR2), "SigIgn %#llx", (unsigned long long)ign);
	cr_assert_eq(cgt, 0);

	a.flags = CONC_SPAWN_RESETSIGS;
	signals_of_child(&a, &blk, &ign, &cgt);
	cr_assert_eq(ign, 0, "SigIgn %#llx", (unsigned long long)ign);

	a.flags = CONC_SPAWN_SETSIGMASK;
	sigemptyset(&a.sigmask);
	sigaddset(&a.sigmask, SIGUSR1);
	sigaddset(&a.sigmask, SIGHUP);
	signals_of_child(&a, &blk, &ign, &cgt);
	cr_assert_eq(blk, BIT(SIGUSR1) | BIT(SIGHUP), "SigBlk %#llx",
		     (unsigned long long)blk);

	/* The parent's own mask is as it was. */
	cr_assert_eq(sigprocmask(SIG_BLOCK, NULL, &now), 0);
	cr_assert(sigismember(&now, SIGTERM));
	cr_assert_not(sigismember(&now, SIGUSR1));
	cr_assert_not(sigismember(&now, SIGINT));
}

/* A child process where clone3 fails with err (a kernel before 5.3, a
 * sandbox): spawn must fall back to clone and still run the program with
 * the dispositions it promises. Its exit code names the step that failed
 * (Criterion asserts stay in the test's own process). */
static int spawn_without_clone3(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = f };
	struct sigaction sa = { .sa_handler = on_usr1 };
	char *sh[] = { "sh", "-c", "exit 3", NULL };
	char *cat[] = { "cat", "/proc/self/status", NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_PIPE_STDOUT };
	char buf[4096], *s;
	conc_proc *p;
	int st;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 10;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != err)
		return 11;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGUSR2, SIG_IGN);
	if (conc_proc_spawn(&p, "/bin/sh", sh, NULL, NULL) ||
	    conc_proc_join(p, &st, -1) || conc_proc_release(p) ||
	    !WIFEXITED(st) || WEXITSTATUS(st) != 3)
		return 12;
	if (conc_proc_spawn(&p, "/bin/cat", cat, NULL, &a) ||
	    read_all(conc_proc_stdout(p), buf, sizeof(buf)) < 0 ||
	    conc_proc_join(p, &st, -1) || conc_proc_release(p) || st)
		return 13;
	if (!(s = strstr(buf, "SigIgn:")) ||
	    !(strtoull(s + 7, NULL, 16) & BIT(SIGUSR2)))
		return 14;
	if (!(s = strstr(buf, "SigCgt:")) || strtoull(s + 7, NULL, 16))
		return 15;
	return 0;
}

static void expect_fallback(int err)
{
	pid_t pid = fork();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(spawn_without_clone3(err));
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "step %d failed",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

Test(spawn, falls_back_to_clone_where_clone3_is_refused)
{
	expect_fallback(ENOSYS);
	expect_fallback(EPERM);
	expect_fallback(EINVAL);
}

Test(spawn, working_directory)
{
	char dir[64], real[PATH_MAX], path[128], out[PATH_MAX + 2];
	char *pwd[] = { "pwd", "-P", NULL }, *rel[] = { "prog", NULL };
	conc_proc_attr a = { .cwd = dir };

	make_dir(dir);
	cr_assert_not_null(realpath(dir, real));
	cr_assert(exited_with(run_out("/bin/pwd", pwd, NULL, &a, out,
				      sizeof(out)), 0));
	cr_assert_eq(strlen(out), strlen(real) + 1);
	cr_assert_eq(strncmp(out, real, strlen(real)), 0, "%s", out);
	/* A relative program path is taken from the new directory. */
	snprintf(path, sizeof(path), "%s/prog", dir);
	write_file(path, "#!/bin/sh\necho relative\n", 0755);
	cr_assert(exited_with(run_out("./prog", rel, NULL, &a, out,
				      sizeof(out)), 0));
	cr_assert_str_eq(out, "relative\n");
	rm_tree(dir);
}

Test(spawn, environment)
{
	char *argv[] = { "sh", "-c", "echo \"$FOO-$CONC_TEST_ENV\"", NULL };
	char *env[] = { "FOO=bar", NULL }, out[64];

	cr_assert_eq(setenv("CONC_TEST_ENV", "inherited", 1), 0);
	cr_assert(exited_with(run_out("/bin/sh", argv, env, NULL, out,
				      sizeof(out)), 0));
	cr_assert_str_eq(out, "bar-\n");
	cr_assert(exited_with(run_out("/bin/sh", argv, NULL, NULL, out,
				      sizeof(out)), 0));
	cr_assert_str_eq(out, "-inherited\n");
}

Test(spawn, many_arguments)
{
	static char *argv[1004];	/* and the NULL */
	static char args[1000][8];
	char out[32];

	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = "echo $#";
	for (int i = 0; i < 1000; i++) {
		snprintf(args[i], sizeof(args[i]), "a%d", i);
		argv[3 + i] = args[i];
	}
	cr_assert(exited_with(run_out("/bin/sh", argv, NULL, NULL, out,
				      sizeof(out)), 0));
	cr_assert_str_eq(out, "999\n");	/* $0 is the first */
}

/* Threads start and spawn at once: the registry, the child stacks and the
 * signal mask juggling are per call. */
static void *spawner(void *arg)
{
	char *argv[] = { "true", NULL };
	intptr_t bad = 0;
	conc_proc *p;
	int st;

	(void)arg;
	for (int i = 0; i < 25; i++) {
		/* A start that failed made no handle: nothing to release
		 * (p would be the last one, released already). */
		if (i % 2 ? conc_proc_start(&p, ret_arg, (void *)0, NULL) :
			    conc_proc_spawn(&p, "/bin/true", argv, NULL, NULL)) {
			bad++;
			continue;
		}
		if (conc_proc_join(p, &st, BOUND) ||
		    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
		conc_proc_release(p);
	}
	return (void *)bad;
}

Test(spawn, from_several_threads, .timeout = 60)
{
	pthread_t t[4];
	void *bad;

	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, spawner, NULL), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(join_thread(t[i], 50000, &bad), 0);
		cr_assert_null(bad, "thread %d: %ld failures", i, (long)bad);
	}
	assert_no_children();
}

/* ---- join ---- */

struct joiner {
	conc_proc *p;
	int r, st;
};

static void *join_thread_fn(void *arg)
{
	struct joiner *j = arg;

	j->r = conc_proc_join(j->p, &j->st, BOUND);
	return NULL;
}

Test(join, several_threads_join_one_child)
{
	struct joiner j[4];
	pthread_t t[4];
	int fds[2];
	conc_proc *p;

	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
	cr_assert_eq(conc_proc_start(&p, read_byte, fds, NULL), 0);
	close(fds[0]);
	for (int i = 0; i < 4; i++) {
		j[i] = (struct joiner){ p, -1, -1 };
		cr_assert_eq(pthread_create(&t[i], NULL, join_thread_fn, &j[i]), 0);
	}
	cr_assert_eq(write(fds[1], "\x09", 1), 1);
	close(fds[1]);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(join_thread(t[i], BOUND_MS + 5000, NULL), 0);
		cr_assert_eq(j[i].r, 0, "joiner %d: %s", i, strerror(-j[i].r));
		cr_assert(WIFEXITED(j[i].st) && WEXITSTATUS(j[i].st) == 9,
			  "joiner %d: status %#x", i, j[i].st);
	}
	conc_proc_release(p);
}

Test(join, a_child_reaped_elsewhere_is_echild)
{
	conc_proc *p;
	int st;

	cr_assert_eq(conc_proc_start(&p, ret_arg, (void *)3, NULL), 0);
	cr_assert_eq(waitpid(conc_proc_pid(p), &st, 0), conc_proc_pid(p));
	cr_assert_eq(conc_proc_join(p, &st, BOUND), -ECHILD);
	conc_proc_release(p);
}

Test(join, a_cancelled_wait_is_final_and_the_child_stays_joinable)
{
	conc_proc *p;
	int st;

	cr_assert_eq(conc_proc_start(&p, sleep_long, NULL, NULL), 0);
	cancels = 1;
	__conc_self_tls.waiter = &cancelling;
	cr_assert_eq(conc_proc_join(p, &st, BOUND), -ECANCELED);
	cr_assert_eq(cancels, 0);
	cr_assert_eq(conc_proc_kill(p, SIGKILL), 0);
	cr_assert_eq(conc_proc_join(p, &st, BOUND), 0);
	__conc_self_tls.waiter = NULL;
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	conc_proc_release(p);
}

/* No fd left for the pidfd: the child is killed and reaped, not left. */
static void start_without_fds(void)
{
	struct rlimit rl = { 32, 32 };
	conc_proc *p;
	int r;

	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		_exit(10);
	while (dup(0) >= 0)
		;
	if (errno != EMFILE)
		_exit(11);
	r = conc_proc_start(&p, sleep_long, NULL, NULL);
	if (r != -EMFILE)
		_exit(12);
	if (waitid(P_ALL, 0, &(siginfo_t){ 0 }, WEXITED | WNOHANG) != -1 ||
	    errno != ECHILD)
		_exit(13);
	_exit(0);
}

Test(join, start_without_a_pidfd_leaves_no_child)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		start_without_fds();
	cr_assert(exited_with(wait_child(pid, BOUND_MS), 0));
}

/* ---- daemon children and the parent's exit ---- */

/* The intermediate: starts a daemon child (function), a spawned daemon
 * (sleep) and a non-daemon child, reports the three pids, then waits to be
 * killed. */
static void intermediate(int fd)
{
	char *argv[] = { "sleep", "30", NULL };
	conc_proc_attr d = { .daemon = true };
	conc_proc *a, *b, *c;
	pid_t pids[3];

	if (conc_proc_start(&a, sleep_long, NULL, &d) ||
	    conc_proc_spawn(&b, "sleep", argv, NULL, &d) ||
	    conc_proc_start(&c, sleep_long, NULL, NULL))
		_exit(1);
	pids[0] = conc_proc_pid(a);
	pids[1] = conc_proc_pid(b);
	pids[2] = conc_proc_pid(c);
	if (write(fd, pids, sizeof(pids)) != sizeof(pids))
		_exit(2);
	sleep_ns(MS(30000));
	_exit(3);
}

static bool readable_within(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1;
}

Test(daemon, dies_when_its_parent_is_killed, .timeout = 60)
{
	int fds[2], pidfd[3];
	pid_t mid, pids[3];
	siginfo_t si;

	/* Orphans come to us, so we can reap and inspect them. */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
	fflush(NULL);
	mid = fork();
	cr_assert_geq(mid, 0);
	if (mid == 0)
		intermediate(fds[1]);
	close(fds[1]);
	cr_assert(readable_within(fds[0], BOUND_MS));
	cr_assert_eq(read(fds[0], pids, sizeof(pids)), (ssize_t)sizeof(pids));
	close(fds[0]);
	/* They are alive (the intermediate waits for its end), so the pids
	 * are theirs. */
	for (int i = 0; i < 3; i++) {
		pidfd[i] = (int)syscall(SYS_pidfd_open, pids[i], 0);
		cr_assert_geq(pidfd[i], 0, "pidfd_open %d", (int)pids[i]);
	}
	cr_assert_eq(kill(mid, SIGKILL), 0);
	cr_assert(killed_by(wait_child(mid, BOUND_MS), SIGKILL));
	for (int i = 0; i < 2; i++) {
		cr_assert(readable_within(pidfd[i], BOUND_MS),
			  "daemon %d outlived its parent", i);
		memset(&si, 0, sizeof(si));
		cr_assert_eq(waitid(P_PIDFD, (id_t)pidfd[i], &si, WEXITED), 0);
		cr_assert(si.si_code == CLD_KILLED && si.si_status == SIGKILL,
			  "daemon %d: code %d status %d", i, si.si_code,
			  si.si_status);
	}
	/* The non-daemon child is an ordinary orphan: still running. */
	cr_assert_not(readable_within(pidfd[2], 0));
	cr_assert_eq(syscall(SYS_pidfd_send_signal, pidfd[2], SIGKILL, NULL, 0), 0);
	cr_assert_eq(waitid(P_PIDFD, (id_t)pidfd[2], &si, WEXITED), 0);
	for (int i = 0; i < 3; i++)
		close(pidfd[i]);
}

Test(exit, non_daemon_children_are_joined_at_exit)
{
	char out[16];

	/* The child's "C" comes before the "P" of an atexit handler that
	 * the helper registered before it started the child. */
	cr_assert(exited_with(run_helper("atexit", out, sizeof(out)), 0));
	cr_assert_str_eq(out, "CP");
}

Test(exit, daemon_children_are_killed_at_exit)
{
	char out[64];
	int a, b;

	/* Both daemons hold the helper's stdout: end of file only comes
	 * when they are dead. */
	cr_assert(exited_with(run_helper("daemon", out, sizeof(out)), 0));
	cr_assert_eq(sscanf(out, "%d %d", &a, &b), 2, "%s", out);
	/* Reaped by the helper's exit, not only killed. */
	cr_assert(kill(a, 0) == -1 && errno == ESRCH, "pid %d still there", a);
	cr_assert(kill(b, 0) == -1 && errno == ESRCH, "pid %d still there", b);
}

Test(exit, fork_children_do_not_touch_their_parents_children)
{
	char out[32];

	cr_assert(exited_with(run_helper("fork", out, sizeof(out)), 0));
	cr_assert_str_eq(out, "ok\n");
}

Test(exit, a_released_child_is_not_joined)
{
	char out[32];
	int pid, pidfd;
	siginfo_t si;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	cr_assert(exited_with(run_helper("release", out, sizeof(out)), 0));
	cr_assert_eq(sscanf(out, "%d", &pid), 1);
	/* Still sleeping, now our child (we are its subreaper). */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	cr_assert_geq(pidfd, 0);
	cr_assert_not(readable_within(pidfd, 0), "the released child ended");
	cr_assert_eq(syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0), 0);
	cr_assert_eq(waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED), 0);
	close(pidfd);
}

/* ---- file descriptors ---- */

Test(fds, nothing_leaks)
{
	char *t[] = { "true", NULL }, *c[] = { "cat", NULL };
	conc_proc_attr pipes = { .flags = CONC_SPAWN_PIPE_STDIN |
					  CONC_SPAWN_PIPE_STDOUT |
					  CONC_SPAWN_PIPE_STDERR };
	conc_proc *p;
	int before = count_fds(), st;

	for (int i = 0; i < 3; i++) {
		cr_assert_eq(conc_proc_start(&p, ret_arg, NULL, NULL), 0);
		expect_exit(p, 0);
		cr_assert_eq(conc_proc_spawn(&p, "/bin/true", t, NULL, NULL), 0);
		expect_exit(p, 0);
		cr_assert_eq(conc_proc_spawn(&p, "cat", c, NULL, &pipes), 0);
		conc_proc_close_stdin(p);
		expect_exit(p, 0);
		/* Failures close what they opened. */
		cr_assert_eq(conc_proc_spawn(&p, "/nonexistent", t, NULL,
					     &pipes), -ENOENT);
		/* Released before the end: the caller reaps it. */
		cr_assert_eq(conc_proc_spawn(&p, "cat", c, NULL, &pipes), 0);
		pid_t pid = conc_proc_pid(p);
		cr_assert_eq(conc_proc_release(p), 0);	/* closes cat's stdin */
		cr_assert(exited_with(wait_child(pid, BOUND_MS), 0));
		(void)st;
	}
	cr_assert_eq(count_fds(), before, "fds before %d, after %d", before,
		     count_fds());
}

/* ---- stderr pipe ---- */

/* Drain the stdout and stderr pipes of p at once (as a caller must when
 * both may fill), within BOUND_MS; each buffer NUL-terminated. 0, or -1
 * (timeout, error, or a buffer full before end of file). */
static int read_both(conc_proc *p, char *out, size_t osize, size_t *on,
		     char *err, size_t esize, size_t *en)
{
	int64_t end = now_ns() + MS(BOUND_MS);
	struct pollfd pfd[2] = {
		{ .fd = conc_proc_stdout(p), .events = POLLIN },
		{ .fd = conc_proc_stderr(p), .events = POLLIN },
	};
	char *buf[2] = { out, err };
	size_t size[2] = { osize, esize }, *n[2] = { on, en };

	*on = *en = 0;
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		int left = (int)((end - now_ns()) / 1000000);

		if (left <= 0 || poll(pfd, 2, left) <= 0)
			return -1;
		for (int i = 0; i < 2; i++) {
			ssize_t r;

			size_t room = size[i] - 1 - *n[i];
			char extra;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			/* Full: only an end of file may come now. */
			r = room ? read(pfd[i].fd, buf[i] + *n[i], room) :
				   read(pfd[i].fd, &extra, 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 || (r > 0 && !room))
				return -1;
			if (r == 0)
				pfd[i].fd = -1;	/* poll skips it */
			*n[i] += (size_t)r;
		}
	}
	out[*on] = err[*en] = 0;
	return 0;
}

Test(pipe_stderr, arrives_apart_from_stdout)
{
	char *argv[] = { "sh", "-c", "echo out; echo err >&2; echo more",
			 NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_PIPE_STDOUT |
				      CONC_SPAWN_PIPE_STDERR };
	char out[64], err[64];
	size_t on, en;
	conc_proc *p;
	int fd;

	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", argv, NULL, &a), 0);
	fd = conc_proc_stderr(p);
	cr_assert(fd >= 0 && fd != conc_proc_stdout(p));
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	cr_assert_eq(conc_proc_stdin(p), -EBADF);
	cr_assert_eq(read_both(p, out, sizeof(out), &on, err, sizeof(err),
			       &en), 0);
	cr_assert_str_eq(out, "out\nmore\n");
	cr_assert_str_eq(err, "err\n");
	expect_exit(p, 0);
}

Test(pipe_stderr, alone_and_bad_input)
{
	char *argv[] = { "sh", "-c", "echo to-err >&2", NULL };
	char *both[] = { "sh", "-c", "echo to-err >&2; echo to-out", NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_PIPE_STDERR };
	char buf[64];
	conc_proc *p;

	cr_assert_eq(conc_proc_stderr(NULL), -EINVAL);
	/* Without the flag there is no pipe: stdout stays ours. */
	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", argv, NULL, &a), 0);
	cr_assert_eq(conc_proc_stdout(p), -EBADF);
	cr_assert_eq(read_all(conc_proc_stderr(p), buf, sizeof(buf)), 7);
	cr_assert_str_eq(buf, "to-err\n");
	expect_exit(p, 0);
	cr_assert_eq(conc_proc_start(&p, ret_arg, NULL, NULL), 0);
	cr_assert_eq(conc_proc_stderr(p), -EBADF);
	expect_exit(p, 0);
	/* A file action after the pipe wins: 2>&1 into the stdout pipe, and
	 * the stderr pipe only sees end of file. */
	conc_fileop op = { .op = CONC_FILE_DUP2, .fd = 2, .src = 1 };
	a = (conc_proc_attr){ .flags = CONC_SPAWN_PIPE_STDOUT |
				       CONC_SPAWN_PIPE_STDERR,
			      .fileops = &op, .nfileops = 1 };
	char err[8];
	size_t on, en;

	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", both, NULL, &a), 0);
	cr_assert_eq(read_both(p, buf, sizeof(buf), &on, err, sizeof(err),
			       &en), 0);
	cr_assert_str_eq(buf, "to-err\nto-out\n");
	cr_assert_eq(en, 0);
	expect_exit(p, 0);
}

Test(pipe_stderr, closed_early_by_the_child)
{
	/* It shuts its stderr and then writes more than a pipe holds to
	 * stdout: the stderr end of file comes first, stdout goes on. */
	char *argv[] = { "sh", "-c",
			 "exec 2>&-; head -c 200000 /dev/zero", NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_PIPE_STDOUT |
				      CONC_SPAWN_PIPE_STDERR };
	static char out[1 << 18];
	char err[8];
	size_t on, en;
	conc_proc *p;

	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", argv, NULL, &a), 0);
	cr_assert_eq(read_all(conc_proc_stderr(p), err, sizeof(err)), 0);
	cr_assert_eq(read_both(p, out, sizeof(out), &on, err, sizeof(err),
			       &en), 0);
	cr_assert_eq(on, 200000);
	cr_assert_eq(en, 0);
	expect_exit(p, 0);
}

Test(pipe_stderr, a_lot_on_both_with_each_pipe_full_in_turn)
{
	static char out[(1 << 20) + 1], err[(1 << 20) + 1];
	char path[PATH_MAX];
	char *argv[] = { "helper_proc", "outerr", NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_PIPE_STDOUT |
				      CONC_SPAWN_PIPE_STDERR };
	size_t on, en, i;
	conc_proc *p;

	helper_path(path, sizeof(path));
	cr_assert_eq(conc_proc_spawn(&p, path, argv, NULL, &a), 0);
	cr_assert_eq(read_both(p, out, sizeof(out), &on, err, sizeof(err),
			       &en), 0);
	cr_assert_eq(on, 1 << 20);
	cr_assert_eq(en, 1 << 20);
	for (i = 0; i < on && out[i] == 'o' && err[i] == 'e'; i++)
		;
	cr_assert_eq(i, on, "byte %zu mixed up", i);
	expect_exit(p, 0);
}

/* ---- the process group ---- */

/* Read one line (a pid) from fd, within BOUND_MS. */
static pid_t read_pid(int fd)
{
	char line[32];
	size_t n = 0;

	while (n < sizeof(line) - 1) {
		cr_assert(readable_within(fd, BOUND_MS), "no pid line");
		cr_assert_eq(read(fd, line + n, 1), 1);
		if (line[n++] == '\n')
			break;
	}
	line[n] = 0;
	return (pid_t)atoi(line);
}

/* A pidfd of a process that is not ours (a grandchild), opened while it
 * surely runs. */
static int pidfd_of(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	cr_assert_geq(fd, 0, "pidfd_open %d: %s", (int)pid, strerror(errno));
	return fd;
}

Test(group, reaches_a_grandchild)
{
	/* sh waits for its sleep; SIGTERM ends both, the sleep only
	 * because it is in the group. */
	char *argv[] = { "sh", "-c", "sleep 30 & echo $!; wait", NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_SETPGROUP |
				      CONC_SPAWN_PIPE_STDOUT };
	conc_proc *p;
	int gfd, st;

	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", argv, NULL, &a), 0);
	gfd = pidfd_of(read_pid(conc_proc_stdout(p)));
	cr_assert_eq(conc_proc_kill_group(p, 0), 0);
	cr_assert_not(readable_within(gfd, 0));
	cr_assert_eq(conc_proc_kill_group(p, SIGTERM), 0);
	cr_assert(readable_within(gfd, BOUND_MS), "the grandchild lives on");
	st = join_ok(p);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status %#x", st);
	/* Joined: the group id may belong to someone else now. */
	cr_assert_eq(conc_proc_kill_group(p, SIGTERM), -ESRCH);
	cr_assert_eq(conc_proc_release(p), 0);
	close(gfd);
}

Test(group, reaches_what_an_ended_leader_left_until_it_is_joined)
{
	/* sh ends at once; its sleep stays in the group. */
	char *argv[] = { "sh", "-c", "sleep 30 >/dev/null & echo $!", NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_SETSID |
				      CONC_SPAWN_PIPE_STDOUT };
	conc_proc *p;
	int gfd;

	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", argv, NULL, &a), 0);
	gfd = pidfd_of(read_pid(conc_proc_stdout(p)));
	cr_assert(readable_within(conc_proc_pidfd(p), BOUND_MS));
	cr_assert_eq(conc_proc_kill(p, 0), 0);	/* a zombie, still ours */
	cr_assert_not(readable_within(gfd, 0));
	cr_assert_eq(conc_proc_kill_group(p, SIGKILL), 0);
	cr_assert(readable_within(gfd, BOUND_MS), "the grandchild lives on");
	expect_exit(p, 0);
	close(gfd);
}

Test(group, only_for_a_child_that_leads_one)
{
	char *argv[] = { "sleep", "30", NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_SETPGROUP };
	conc_proc *p, *q;
	int st;

	cr_assert_eq(conc_proc_kill_group(NULL, SIGTERM), -EINVAL);
	/* In our group: the signal would reach us too. */
	cr_assert_eq(conc_proc_spawn(&p, "sleep", argv, NULL, NULL), 0);
	cr_assert_eq(conc_proc_kill_group(p, SIGTERM), -EINVAL);
	cr_assert_eq(conc_proc_kill(p, SIGKILL), 0);
	cr_assert(WIFSIGNALED(join_ok(p)));
	cr_assert_eq(conc_proc_release(p), 0);
	cr_assert_eq(conc_proc_start(&p, sleep_long, NULL, NULL), 0);
	cr_assert_eq(conc_proc_kill_group(p, SIGTERM), -EINVAL);
	cr_assert_eq(conc_proc_kill(p, SIGKILL), 0);
	cr_assert(WIFSIGNALED(join_ok(p)));
	cr_assert_eq(conc_proc_release(p), 0);
	/* A leader, and one that joined its group: only the first. */
	cr_assert_eq(conc_proc_spawn(&p, "sleep", argv, NULL, &a), 0);
	a.pgroup = conc_proc_pid(p);
	cr_assert_eq(conc_proc_spawn(&q, "sleep", argv, NULL, &a), 0);
	cr_assert_eq(conc_proc_kill_group(q, SIGTERM), -EINVAL);
	cr_assert_eq(conc_proc_kill_group(p, -1), -EINVAL);
	cr_assert_eq(conc_proc_kill_group(p, 65), -EINVAL);
	cr_assert_eq(conc_proc_kill_group(p, SIGKILL), 0);
	cr_assert(WIFSIGNALED(join_ok(q)));	/* reached through p */
	cr_assert(readable_within(conc_proc_pidfd(p), BOUND_MS));
	cr_assert_eq(conc_proc_try_join(p, &st), 0);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	cr_assert_eq(conc_proc_kill_group(p, 0), -ESRCH);
	cr_assert_eq(conc_proc_release(p), 0);
	cr_assert_eq(conc_proc_release(q), 0);
}

/* A child process where pidfd_send_signal refuses every flag, as before
 * Linux 6.9: kill_group falls back to kill(-pid). Its exit code names the
 * step that failed (Criterion asserts stay in the test's own process). */
static int group_without_pidfd_flag(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_send_signal, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[3])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 6, .filter = f };
	char *argv[] = { "sh", "-c", "sleep 30 & echo $!; wait", NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_SETPGROUP |
				      CONC_SPAWN_PIPE_STDOUT };
	char line[32] = "";
	conc_proc *p;
	int gfd, st;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 10;
	if (conc_proc_spawn(&p, "/bin/sh", argv, NULL, &a))
		return 11;
	for (size_t n = 0; n < sizeof(line) - 1 && !strchr(line, '\n');
	     n++)
		if (!readable_within(conc_proc_stdout(p), BOUND_MS) ||
		    read(conc_proc_stdout(p), line + n, 1) != 1)
			return 12;
	if ((gfd = (int)syscall(SYS_pidfd_open, atoi(line), 0)) < 0)
		return 13;
	if (conc_proc_kill_group(p, SIGTERM))
		return 14;
	if (!readable_within(gfd, BOUND_MS))
		return 15;	/* the grandchild lives on */
	if (conc_proc_join(p, &st, BOUND) || !WIFSIGNALED(st))
		return 16;
	if (conc_proc_kill_group(p, SIGTERM) != -ESRCH)
		return 17;
	conc_proc_release(p);
	return 0;
}

Test(group, falls_back_to_kill_before_linux_6_9)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(group_without_pidfd_flag());
	st = wait_child(pid, BOUND_MS * 2);
	cr_assert(exited_with(st, 0), "step %d failed",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* ---- try_join ---- */

Test(try_join, before_and_after_the_end)
{
	char *argv[] = { "sh", "-c", "read x; exit 7", NULL };
	conc_proc_attr a = { .flags = CONC_SPAWN_PIPE_STDIN };
	conc_proc *p;
	int st = -1;

	cr_assert_eq(conc_proc_try_join(NULL, &st), -EINVAL);
	cr_assert_eq(conc_proc_spawn(&p, "/bin/sh", argv, NULL, &a), 0);
	cr_assert_eq(conc_proc_try_join(p, &st), -EAGAIN);
	cr_assert_eq(conc_proc_try_join(p, NULL), -EAGAIN);
	cr_assert_eq(st, -1, "a status stored while it runs");
	cr_assert_eq(conc_proc_close_stdin(p), 0);
	cr_assert(readable_within(conc_proc_pidfd(p), BOUND_MS));
	cr_assert_eq(conc_proc_try_join(p, &st), 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x", st);
	/* Joined: the same status again, from either call. */
	st = -1;
	cr_assert_eq(conc_proc_try_join(p, &st), 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	cr_assert_eq(conc_proc_try_join(p, NULL), 0);
	expect_exit(p, 7);
}

Test(try_join, after_join_and_when_someone_else_reaped)
{
	conc_proc *p;
	siginfo_t si;
	int st = -1;

	cr_assert_eq(conc_proc_start(&p, ret_arg, (void *)3, NULL), 0);
	cr_assert_eq(join_ok(p), 3 << 8);
	cr_assert_eq(conc_proc_try_join(p, &st), 0);
	cr_assert_eq(st, 3 << 8);
	cr_assert_eq(conc_proc_release(p), 0);
	/* Reaped behind the handle's back: the status is lost. */
	cr_assert_eq(conc_proc_start(&p, ret_arg, (void *)3, NULL), 0);
	cr_assert_eq(waitid(P_PID, (id_t)conc_proc_pid(p), &si, WEXITED), 0);
	cr_assert_eq(conc_proc_try_join(p, &st), -ECHILD);
	cr_assert_eq(conc_proc_kill_group(p, 0), -EINVAL);
	cr_assert_eq(conc_proc_release(p), 0);
}

/* Looks until the child is reaped, by whichever thread, within BOUND. */
static void *try_join_thread_fn(void *arg)
{
	struct joiner *j = arg;
	int64_t end = now_ns() + BOUND;

	while ((j->r = conc_proc_try_join(j->p, &j->st)) == -EAGAIN &&
	       now_ns() < end)
		sleep_ns(MS(1));
	return NULL;
}

Test(try_join, threads_that_try_while_another_joins)
{
	struct joiner j[3];
	pthread_t t[3];
	int fds[2], st;
	conc_proc *p;

	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
	cr_assert_eq(conc_proc_start(&p, read_byte, fds, NULL), 0);
	close(fds[0]);
	for (int i = 0; i < 3; i++) {
		j[i] = (struct joiner){ p, -1, -1 };
		cr_assert_eq(pthread_create(&t[i], NULL, try_join_thread_fn,
					    &j[i]), 0);
	}
	cr_assert_eq(write(fds[1], "\x05", 1), 1);
	close(fds[1]);
	st = join_ok(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 5, "status %#x", st);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(join_thread(t[i], BOUND_MS + 5000, NULL), 0);
		cr_assert_eq(j[i].r, 0, "thread %d: %s", i, strerror(-j[i].r));
		cr_assert_eq(j[i].st, st, "thread %d: status %#x", i, j[i].st);
	}
	conc_proc_release(p);
}
