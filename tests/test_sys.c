/* test_sys.c — conc_features() and conc_gettid(). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <conc.h>
#include "helpers.h"

static int thread_support_fn(void *arg)
{
	(void)arg;
	return 7;
}

static pid_t real_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* The facilities every kernel conc targets here (6.18) has. */
#define MUST_HAVE (CONC_FEAT_CLONE3 | CONC_FEAT_PIDFD | CONC_FEAT_ROBUST_LIST | \
		   CONC_FEAT_FUTEX_WAITV | CONC_FEAT_WIPEONFORK)

#define ALL_FEATS (CONC_FEAT_FUTEX_WAITV | CONC_FEAT_CLONE3 | CONC_FEAT_PIDFD | \
		   CONC_FEAT_ROBUST_LIST | CONC_FEAT_IO_URING | \
		   CONC_FEAT_URING_FUTEX | CONC_FEAT_URING_WAITID | \
		   CONC_FEAT_FUTEX2 | CONC_FEAT_WIPEONFORK | CONC_FEAT_RSEQ | \
		   CONC_FEAT_THREADS)

/* The running kernel's version as major * 1000 + minor. */
static int kernel_version(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	cr_assert_eq(uname(&u), 0);
	cr_assert_eq(sscanf(u.release, "%d.%d", &major, &minor), 2, "%s", u.release);
	return major * 1000 + minor;
}

Test(features, has_what_this_kernel_has, .timeout = 10)
{
	uint32_t f = conc_features();
	int v = kernel_version();

	cr_assert_geq(v, 6001, "conc needs Linux 6.1 or later");
	cr_assert_eq(f & MUST_HAVE, MUST_HAVE, "features %#x lack %#x", f,
		     MUST_HAVE & ~f);
	cr_assert(f & CONC_FEAT_RSEQ, "features %#x: rseq is in 4.18", f);
	if (v >= 6007)
		cr_assert(f & CONC_FEAT_FUTEX2, "features %#x: futex_wake is in 6.7", f);
	/* No internal marker bit leaks out. */
	cr_assert_eq(f & ~ALL_FEATS, 0, "unknown bits in %#x", f);
	/* io_uring may be switched off (kernel.io_uring_disabled); its
	 * sub-features imply it, and come with it from 6.7 on. */
	if (f & (CONC_FEAT_URING_FUTEX | CONC_FEAT_URING_WAITID))
		cr_assert(f & CONC_FEAT_IO_URING, "features %#x", f);
	if ((f & CONC_FEAT_IO_URING) && v >= 6007)
		cr_assert_eq(f & (CONC_FEAT_URING_FUTEX | CONC_FEAT_URING_WAITID),
			     CONC_FEAT_URING_FUTEX | CONC_FEAT_URING_WAITID,
			     "features %#x", f);
}

Test(features, stable_across_calls, .timeout = 10)
{
	uint32_t f = conc_features();

	for (int i = 0; i < 1000; i++)
		cr_assert_eq(conc_features(), f);
}

static void *features_thread(void *arg)
{
	*(uint32_t *)arg = conc_features();
	return NULL;
}

Test(features, same_in_threads_and_children, .timeout = 10)
{
	uint32_t f = conc_features(), tf[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, features_thread, &tf[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(tf[i], f, "thread %d: %#x != %#x", i, tf[i], f);
	}
	pid_t pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(conc_features() == f ? 0 : 1);
	cr_assert(exited_with(wait_child(pid, 5000), 0));
}

/* First caller races: threads that all call it first must agree. */
static pthread_barrier_t race_bar;

static void *features_race(void *arg)
{
	pthread_barrier_wait(&race_bar);
	*(uint32_t *)arg = conc_features();
	return NULL;
}

Test(features, concurrent_first_calls_agree, .timeout = 10)
{
	/* In a fresh child, so that nothing has probed yet. */
	pid_t pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		uint32_t r[4];
		pthread_t t[4];

		pthread_barrier_init(&race_bar, NULL, 4);
		for (int i = 0; i < 4; i++)
			if (pthread_create(&t[i], NULL, features_race, &r[i]))
				_exit(2);
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		for (int i = 0; i < 4; i++)
			if (r[i] != r[0] || (r[i] & MUST_HAVE) != MUST_HAVE)
				_exit(1);
		_exit(conc_features() == r[0] ? 0 : 3);
	}
	cr_assert(exited_with(wait_child(pid, 5000), 0));
}

Test(gettid, main_thread, .timeout = 10)
{
	cr_assert_eq(conc_gettid(), real_tid());
	cr_assert_eq(conc_gettid(), getpid());
	/* Cached answer stays right. */
	for (int i = 0; i < 100; i++)
		cr_assert_eq(conc_gettid(), real_tid());
}

static void *tid_thread(void *arg)
{
	pid_t *out = arg;

	out[0] = conc_gettid();
	out[1] = conc_gettid();
	out[2] = real_tid();
	return NULL;
}

Test(gettid, pthreads_each_see_their_own, .timeout = 10)
{
	pid_t r[4][3];
	pthread_t t[4];

	cr_assert_eq(conc_gettid(), real_tid());
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, tid_thread, r[i]), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(r[i][0], r[i][2], "thread %d: %d != %d", i, r[i][0], r[i][2]);
		cr_assert_eq(r[i][1], r[i][2]);
		cr_assert_neq(r[i][0], getpid());
		for (int j = 0; j < i; j++)
			cr_assert_neq(r[i][0], r[j][0]);
	}
	cr_assert_eq(conc_gettid(), real_tid());
}

Test(gettid, reused_thread_stacks_start_afresh, .timeout = 10)
{
	/* glibc hands a joined thread's stack (and TLS) to the next thread:
	 * the cached tid must not carry over. */
	for (int i = 0; i < 30; i++) {
		pid_t r[3];
		pthread_t t;

		cr_assert_eq(pthread_create(&t, NULL, tid_thread, r), 0);
		pthread_join(t, NULL);
		cr_assert_eq(r[0], r[2], "thread %d: %d != %d", i, r[0], r[2]);
	}
}

/* Exit codes of a child that checks its tid: 0 fine, 1 stale, 2 other. */
static int child_tid_ok(void)
{
	pid_t a = conc_gettid(), b = conc_gettid();

	if (a != real_tid() || a != getpid())
		return 1;
	return b == a ? 0 : 2;
}

Test(gettid, refreshed_after_fork, .timeout = 10)
{
	pid_t parent = conc_gettid();	/* fill the cache first */

	cr_assert_eq(parent, real_tid());
	pid_t pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(child_tid_ok());
	cr_assert(exited_with(wait_child(pid, 5000), 0));
	cr_assert_eq(conc_gettid(), parent, "parent's cache must survive");
	cr_assert_eq(conc_gettid(), real_tid());
}

Test(gettid, refreshed_in_grandchild, .timeout = 10)
{
	cr_assert_eq(conc_gettid(), real_tid());
	pid_t pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int r = child_tid_ok();	/* child caches its own tid */
		if (r)
			_exit(10 + r);
		pid_t g = test_fork();
		if (g < 0)
			_exit(20);
		if (g == 0)
			_exit(child_tid_ok());
		int st = wait_child(g, 4000);
		if (!exited_with(st, 0))
			_exit(30 + (st == -1 ? 9 : WIFEXITED(st) ? WEXITSTATUS(st) : 8));
		_exit(child_tid_ok());	/* and still has its own after */
	}
	int st = wait_child(pid, 5000);
	cr_assert(exited_with(st, 0), "status %#x", st);
}

Test(gettid, grandchild_of_child_that_never_asked, .timeout = 10)
{
	cr_assert_eq(conc_gettid(), real_tid());
	pid_t pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* The child inherits the parent's cache and forks before
		 * asking: the grandchild must not see the parent's tid. */
		pid_t g = test_fork();
		if (g < 0)
			_exit(20);
		if (g == 0)
			_exit(child_tid_ok());
		int st = wait_child(g, 4000);
		if (!exited_with(st, 0))
			_exit(30);
		_exit(child_tid_ok());
	}
	int st = wait_child(pid, 5000);
	cr_assert(exited_with(st, 0), "status %#x", st);
}

static void *fork_from_thread(void *arg)
{
	int *status = arg;
	pid_t me = conc_gettid();

	if (me != real_tid()) {
		*status = -2;
		return NULL;
	}
	pid_t pid = test_fork();
	if (pid < 0) {
		*status = -3;
		return NULL;
	}
	if (pid == 0)
		_exit(child_tid_ok());
	*status = wait_child(pid, 4000);
	if (conc_gettid() != me)
		*status = -4;
	return NULL;
}

Test(gettid, child_forked_from_a_pthread, .timeout = 10)
{
	int status = -1;
	pthread_t t;

	cr_assert_eq(conc_gettid(), real_tid());
	cr_assert_eq(pthread_create(&t, NULL, fork_from_thread, &status), 0);
	pthread_join(t, NULL);
	cr_assert(exited_with(status, 0), "status %d", status);
}

static void *child_thread_tid(void *arg)
{
	pid_t *out = arg;

	out[0] = conc_gettid();
	out[1] = real_tid();
	return NULL;
}

Test(gettid, pthread_in_forked_child, .timeout = 10)
{
	cr_assert_eq(conc_gettid(), real_tid());
	pid_t pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		pid_t r[2] = { 0, 0 };
		pthread_t t;

		if (child_tid_ok())
			_exit(1);
		if (pthread_create(&t, NULL, child_thread_tid, r))
			_exit(2);
		pthread_join(t, NULL);
		if (r[0] != r[1] || r[0] == getpid())
			_exit(3);
		_exit(child_tid_ok());
	}
	int st = wait_child(pid, 5000);
	cr_assert(exited_with(st, 0), "status %#x", st);
}

Test(gettid, many_forks_in_a_row, .timeout = 60)
{
	cr_assert_eq(conc_gettid(), real_tid());
	for (int i = 0; i < 50; i++) {
		pid_t pid = test_fork();
		cr_assert_geq(pid, 0);
		if (pid == 0)
			_exit(child_tid_ok());
		int st = wait_child(pid, 5000);
		cr_assert(exited_with(st, 0), "fork %d: status %#x", i, st);
	}
	cr_assert_eq(conc_gettid(), real_tid());
}

Test(features, thread_support_agrees_with_thread_start, .timeout = 30)
{
	const char *why = "unset";
	conc_thread *t = NULL;
	int r = conc_thread_support(&why), s, code = -1;

	cr_assert(r == 0 || r == -ENOTSUP, "%d", r);
	cr_assert_eq(conc_thread_support(NULL), r, "the answer is cached");
	cr_assert_eq(!!(conc_features() & CONC_FEAT_THREADS), r == 0);
	if (r) {
		cr_assert(why && *why, "a refusal says why");
	} else {
		cr_assert_null(why);
	}
	s = conc_thread_start(&t, thread_support_fn, NULL, NULL);
	cr_assert_eq(s, r, "start %d, support %d (%s)", s, r, r ? why : "");
	if (!s) {
		cr_assert_eq(conc_thread_join(t, &code, 10 * 1000000000LL), 0);
		cr_assert_eq(code, 7);
	}
}
