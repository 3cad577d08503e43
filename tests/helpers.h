/* tests/helpers.h — small helpers shared by the Criterion tests.
 * Header-only (static functions); include it after <criterion/criterion.h>
 * or on its own. Forked children must always leave with _exit(). */
#ifndef CONC_TEST_HELPERS_H
#define CONC_TEST_HELPERS_H

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include "own_clock.h"

#if defined(__GNUC__)
#define HELPER_UNUSED __attribute__((unused))
#else
#define HELPER_UNUSED
#endif

/* Nanoseconds on CLOCK_MONOTONIC. */
/* How many entries a directory has ("." and ".." left out). */
static HELPER_UNUSED int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* How many descriptors this process has open (compared before and after). */
static HELPER_UNUSED int count_fds(void)
{
	return count_dir("/proc/self/fd");
}

static HELPER_UNUSED int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleep for ns nanoseconds (restarted after signals). */
static HELPER_UNUSED void sleep_ns(int64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A zeroed MAP_SHARED|MAP_ANONYMOUS mapping of size bytes that survives fork
 * (shared with children), or NULL. Release with shared_free(). */
static HELPER_UNUSED void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static HELPER_UNUSED void shared_free(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

/*
 * Reap child pid, waiting at most timeout_ms milliseconds (< 0: forever).
 * On timeout the child is SIGKILLed and reaped, and -1 is returned so the test
 * fails instead of hanging. Otherwise returns the wait status (use
 * WIFEXITED/WEXITSTATUS/WIFSIGNALED). Also -1 if waitpid fails.
 */
static HELPER_UNUSED int wait_child(pid_t pid, int timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, timeout_ms < 0 ? 0 : WNOHANG);
		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (timeout_ms >= 0 && now_ns() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		sleep_ns(1000000);
	}
}

/* Whether a wait status from wait_child() says "exited with code". */
static HELPER_UNUSED int exited_with(int status, int code)
{
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == code;
}

/* Whether a wait status from wait_child() says "killed by signal sig". */
static HELPER_UNUSED int killed_by(int status, int sig)
{
	return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == sig;
}

/* Spin (with short sleeps) until *flag becomes nonzero or timeout_ms passes.
 * Returns 1 if it did, 0 on timeout. Works on shared memory across fork. */
static HELPER_UNUSED int wait_flag(const volatile uint32_t *flag, int timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
		if (now_ns() >= deadline)
			return 0;
		sleep_ns(100000);
	}
	return 1;
}

static HELPER_UNUSED void set_flag(volatile uint32_t *flag, uint32_t v)
{
	__atomic_store_n(flag, v, __ATOMIC_RELEASE);
}

/* No child left to reap: a spawn that failed or gave up reaped its own. */
static HELPER_UNUSED void assert_no_children(void)
{
	siginfo_t si = { 0 };

	errno = 0;
	cr_assert_eq(waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT), -1,
		     "a child is left (pid %d)", si.si_pid);
	cr_assert_eq(errno, ECHILD);
}

/* A child's exit code for a function result r (0 or -errno): -r, so the
 * parent can assert WEXITSTATUS(st) == EBUSY etc.; 255 for anything else. */
static HELPER_UNUSED int errcode(int r)
{
	return (r <= 0 && r > -255) ? -r : 255;
}

/*
 * fork() for tests: the child gets SIGKILL when the forking thread dies, so
 * a child stuck on a buggy primitive cannot outlive a test that Criterion
 * killed at its .timeout (it would hold pipes open and hang `make test`).
 * Fork from a thread that outlives the child (the test's own thread).
 */
static HELPER_UNUSED pid_t test_fork(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);	/* the parent died before prctl */
	}
	return pid;
}

/* Fork a child that runs fn(arg) and leaves with _exit(its result & 0xff).
 * Returns the child's pid, or -1 if fork failed. */
static HELPER_UNUSED pid_t fork_child(int (*fn)(void *), void *arg)
{
	pid_t pid = test_fork();

	if (pid == 0)
		_exit(fn(arg) & 0xff);
	return pid;
}

/* Run fn(arg) in a child and reap it within timeout_ms: the child's exit
 * code, or -1 if it did not exit normally in time (killed, crashed). */
static HELPER_UNUSED int run_in_child(int (*fn)(void *), void *arg, int timeout_ms)
{
	pid_t pid = fork_child(fn, arg);
	int st;

	if (pid < 0)
		return -1;
	st = wait_child(pid, timeout_ms);
	return (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
}

/* Where the test library so (lib_semstop.so, ...) is: beside this test
 * binary (build/tests), or in build/tests for an ASan one
 * (build/asan/tests); 0, or -1 if it is not there. */
static HELPER_UNUSED int test_lib_path(const char *so, char *out, size_t n)
{
	char exe[4096], *slash;
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (len <= 0)
		return -1;
	exe[len] = 0;
	if ((slash = strrchr(exe, '/')))
		*slash = 0;
	snprintf(out, n, "%s/%s", exe, so);
	if (access(out, R_OK))
		snprintf(out, n, "%s/../../tests/%s", exe, so);
	return access(out, R_OK) ? -1 : 0;
}

/* Runs tool (argv) with the test library lib preloaded and the variable
 * stop set in its environment, at whose point the library stops it
 * (SIGSTOP), and waits until it has stopped or ended (si tells which:
 * si_code CLD_STOPPED, or not). Its pid, or -1 if neither came within
 * timeout_ms (then it is killed and reaped). An ASan tool (CONC_BIN) runs
 * with the library ahead of its runtime. */
static HELPER_UNUSED pid_t run_until_stopped(const char *tool, char *const argv[],
					     const char *lib, const char *stop,
					     siginfo_t *si, int timeout_ms)
{
	int64_t end = now_ns() + (int64_t)timeout_ms * 1000000;
	pid_t pid = test_fork();

	if (pid == 0) {
		setenv("LD_PRELOAD", lib, 1);
		setenv(stop, "1", 1);
		setenv("ASAN_OPTIONS", "detect_leaks=0:verify_asan_link_order=0", 1);
		execv(tool, argv);
		_exit(99);
	}
	if (pid < 0)
		return -1;
	for (;;) {
		memset(si, 0, sizeof(*si));
		if (waitid(P_PID, pid, si, WSTOPPED | WEXITED | WNOWAIT | WNOHANG) == 0 &&
		    si->si_pid == pid)
			return pid;
		if (now_ns() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -1;
		}
		sleep_ns(1000000);
	}
}

/* Where the tool named name (conc-sem, ...) is: $CONC_BIN/name, or bin/ of
 * the tree this test binary was built in (build/tests or build/asan/tests);
 * 0, or -1 if it is not there. */
static HELPER_UNUSED int tool_path(const char *name, char *out, size_t n)
{
	const char *bin = getenv("CONC_BIN");
	char exe[4096], *slash;
	ssize_t len;

	if (bin) {
		snprintf(out, n, "%s/%s", bin, name);
		return access(out, X_OK) ? -1 : 0;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		return -1;
	exe[len] = 0;
	if ((slash = strrchr(exe, '/')))
		*slash = 0;
	snprintf(out, n, "%s/../../bin/%s", exe, name);
	if (access(out, X_OK) == 0)
		return 0;
	snprintf(out, n, "%s/../../../bin/%s", exe, name);
	return access(out, X_OK) ? -1 : 0;
}

/* The kernel function thread tid of process pid sleeps in, into out
 * ("0" or empty where the kernel does not say). */
static HELPER_UNUSED void thread_wchan(pid_t pid, pid_t tid, char *out, size_t n)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", (int)pid, (int)tid);
	out[0] = 0;
	if ((f = fopen(path, "r"))) {
		if (!fgets(out, (int)n, f))
			out[0] = 0;
		fclose(f);
	}
}

/* Join thread t within timeout_ms: 0, or ETIMEDOUT (the thread is left
 * running; the test should fail then). */
static HELPER_UNUSED int join_thread(pthread_t t, int timeout_ms, void **ret)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return pthread_timedjoin_np(t, ret, &ts);
}

/* Wait until thread tid of this process is asleep in the kernel (state S
 * or D in /proc), or timeout_ms passes: 1 if it is, 0 otherwise. Use it to
 * make sure a waiter really sleeps in futex(2) before testing its wake-up
 * (the test stays correct either way; it only sharpens it). */
static HELPER_UNUSED int wait_thread_sleeping(pid_t pid, pid_t tid, int timeout_ms)
{
	char path[64], buf[256];
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	for (;;) {
		FILE *f = fopen(path, "r");
		char *p = NULL;

		if (!f)
			return 0;	/* gone already */
		if (fgets(buf, sizeof(buf), f))
			p = strrchr(buf, ')');
		fclose(f);
		if (p && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D'))
			return 1;
		if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
			return 0;	/* exited */
		if (now_ns() >= deadline)
			return 0;
		sleep_ns(200000);
	}
}

/* The system call thread tid of process pid sleeps in now (the number
 * /proc/pid/task/tid/syscall begins with), or -1 while it runs, is only
 * preempted, or cannot be read. The kernel shows a number only for a
 * thread that is blocked: one seen in futex(2) is queued on its word. */
static HELPER_UNUSED long thread_syscall(pid_t pid, pid_t tid)
{
	char path[64], line[64];
	long nr = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	if (!(f = fopen(path, "r")))
		return -1;
	if (fgets(line, sizeof(line), f) && line[0] >= '0' && line[0] <= '9')
		nr = atol(line);
	fclose(f);
	return nr;
}

/*
 * Wait until thread tid of this process has set *go (it is about to make
 * the call under test; 0 there: no word) and is then seen asleep in one of
 * the system calls in[] (ended by -1): 1, or 0 if that did not happen
 * within timeout_ms. The handshake of a test whose peer must end a wait:
 * the peer acts only once the waiter sleeps, so the test exercises the
 * wake-up in every run, however late the scheduler runs either side (a
 * sleep instead lets a late waiter find the answer there already). Only
 * the waiter's own call may sleep in in[] between go and its wait.
 */
static HELPER_UNUSED int wait_blocked_in(pid_t tid, const uint32_t *go,
					 const long *in, int timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;

	while (go && !__atomic_load_n(go, __ATOMIC_ACQUIRE)) {
		if (now_ns() >= deadline)
			return 0;
		sleep_ns(100000);
	}
	for (;;) {
		long nr = thread_syscall(getpid(), tid);

		for (int i = 0; nr >= 0 && in[i] >= 0; i++)
			if (nr == in[i])
				return 1;
		if (now_ns() >= deadline)
			return 0;
		sleep_ns(100000);
	}
}

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

/*
 * Have the kernel kill the calling process (SIGSYS) at its next system
 * call numbered nr, or, with nr < 0, at any system call but exit and
 * exit_group. A crash test uses it to die at exactly one point (say, at
 * the futex wake-up that follows a commit); a speed test to show that a
 * fast path makes no system call at all. Call it only in a forked child,
 * after warming up whatever caches a first call fills. Returns 0, or -1
 * if seccomp filters are not available here (skip the test then).
 */
static HELPER_UNUSED int seccomp_kill_at(long nr)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 1, 0),
		nr >= 0 ? (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						       (uint32_t)nr, 1, 0)
			: (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof(f) / sizeof(f[0])), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) ? -1 : 0;
}

/* Whether seccomp_kill_at() works here, tried in a child. */
static HELPER_UNUSED int seccomp_available(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(seccomp_kill_at(SYS_getppid) ? 1 : (syscall(SYS_getppid), 2));
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 0;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}

/* Send fd over the UNIX socket sock (SCM_RIGHTS, one byte with it): 0 or
 * -1. recv_fd: the descriptor received (close-on-exec), or -1. */
static HELPER_UNUSED int send_fd(int sock, int fd)
{
	char c = 'f', ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm;

	memset(ctl, 0, sizeof(ctl));
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static HELPER_UNUSED int recv_fd(int sock)
{
	char c, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1 || !(cm = CMSG_FIRSTHDR(&m)) ||
	    cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

#endif
