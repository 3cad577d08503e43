/* tests/test_pool_hostile.c — conc_pool driven by a hostile program: tasks
 * that kill, stop or exit their worker, close every fd, fork and return
 * twice, call into the pool; a parent that ignores SIGCHLD or reaps the
 * workers behind the pool's back, forks and uses the pool in the child,
 * closes and terminates in every order from several threads. The promise
 * under test: the pool never hangs, and each failure names its cause.
 * Every wait is bounded; behaviour is asserted, never timing. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <conc/pool.h>
#include <conc.h>
#include "helpers.h"

#define MS(ms)	((int64_t)(ms) * 1000000)
#define BOUND	MS(20000)	/* a wait that must end gives up here */

/* Shared with the workers (MAP_SHARED, set up before the pool forks). */
struct shared {
	uint32_t atexit_ran;	/* the parent's atexit handler ran somewhere */
	uint32_t forked_twice;	/* a task's fork child came back from fn */
	pid_t grandchild;
};
static struct shared *sh;

static void setup(void)
{
	sh = shared_alloc(sizeof(*sh));
	cr_assert_not_null(sh);
}

/* ---- tasks (they run in the workers) ---- */

static ssize_t t_twice(const void *arg, size_t len, void *res, size_t cap)
{
	int64_t v = 0;

	if (len > sizeof(v) || cap < sizeof(v))
		return -EINVAL;
	memcpy(&v, arg, len);
	v *= 2;
	memcpy(res, &v, sizeof(v));
	return sizeof(v);
}

static ssize_t t_pid(const void *arg, size_t len, void *res, size_t cap)
{
	pid_t pid = getpid();

	(void)arg, (void)len, (void)cap;
	memcpy(res, &pid, sizeof(pid));
	return sizeof(pid);
}

static ssize_t t__exit(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	_exit(3);
}

static ssize_t t_exit(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	exit(7);
}

static ssize_t t_sigkill(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	raise(SIGKILL);
	return 0;
}

static ssize_t t_abort(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	signal(SIGABRT, SIG_DFL);	/* ASan may have a handler */
	abort();
}

static ssize_t t_stop(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	raise(SIGSTOP);
	return 0;
}

static ssize_t t_forever(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	for (;;)
		pause();
	return 0;
}

/* Every fd closed, as a daemonising task might. */
static ssize_t t_close_all(const void *arg, size_t len, void *res, size_t cap)
{
	int fd;

	(void)arg, (void)len, (void)cap;
	for (fd = 0; fd < 1024; fd++)
		close(fd);
	memcpy(res, "ok", 2);
	return 2;
}

/* Only the eventfd the worker tells the pool through. */
static ssize_t t_close_eventfd(const void *arg, size_t len, void *res, size_t cap)
{
	char path[64], link[64];
	ssize_t n;
	int fd;

	(void)arg, (void)len, (void)cap;
	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0 && (link[n] = 0, strstr(link, "eventfd")))
			close(fd);
	}
	memcpy(res, "ok", 2);
	return 2;
}

static ssize_t t_close_stdio(const void *arg, size_t len, void *res, size_t cap)
{
	(void)arg, (void)len, (void)res, (void)cap;
	close(0);
	close(1);
	close(2);
	return 0;
}

/* All signals blocked, a process group and session of its own. */
static ssize_t t_hide(const void *arg, size_t len, void *res, size_t cap)
{
	sigset_t all;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	setsid();
	return t_twice(arg, len, res, cap);
}

/* A grandchild that outlives the task, holding whatever it inherited. */
static ssize_t t_grandchild(const void *arg, size_t len, void *res, size_t cap)
{
	pid_t pid = fork();

	if (pid == 0) {
		sleep_ns(MS(30000));
		_exit(0);
	}
	sh->grandchild = pid;
	return t_twice(arg, len, res, cap);
}

/* The classic slip: a fork child that returns instead of _exit()ing. */
static ssize_t t_fork_returns(const void *arg, size_t len, void *res, size_t cap)
{
	int64_t v = fork() == 0 ? 1 : 2;

	(void)arg, (void)len, (void)cap;
	if (v == 1)
		__atomic_store_n(&sh->forked_twice, 1, __ATOMIC_RELEASE);
	memcpy(res, &v, sizeof(v));
	return sizeof(v);
}

/* Tasks that call into their own pool, given as their argument: the
 * worker's copy of the pointer (forked inside conc_pool_create, it holds
 * no later value of the program's variables). */
static conc_pool *pool_arg(const void *arg, size_t len)
{
	conc_pool *p = NULL;

	if (len == sizeof(p))
		memcpy(&p, arg, sizeof(p));
	return p;
}

static ssize_t t_submit_inside(const void *arg, size_t len, void *res, size_t cap)
{
	conc_future *f = NULL;
	int64_t v = 1;
	int r = conc_pool_submit(pool_arg(arg, len), t_twice, &v, sizeof(v), &f);

	(void)res, (void)cap;
	return r == 0 ? 1 : r;	/* 1: it said yes, the test fails */
}

static ssize_t t_terminate_inside(const void *arg, size_t len, void *res, size_t cap)
{
	int r = conc_pool_terminate(pool_arg(arg, len));

	(void)res, (void)cap;
	return r == 0 ? 1 : r;
}

static ssize_t t_destroy_inside(const void *arg, size_t len, void *res, size_t cap)
{
	int r = conc_pool_destroy(pool_arg(arg, len));

	(void)res, (void)cap;
	return r == 0 ? 1 : r;
}

/* ---- helpers ---- */

static conc_pool *make(unsigned workers, int64_t timeout)
{
	conc_pool_attr a = { .workers = workers, .task_timeout_ns = timeout };
	conc_pool *p;
	int r = conc_pool_create(&p, &a);

	cr_assert_eq(r, 0, "create: %s", strerror(-r));
	return p;
}

static void finish(conc_pool *p)
{
	cr_assert_eq(conc_pool_close(p), 0);
	cr_assert_eq(conc_pool_join_timed(p, BOUND), 0);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
}

static void twice_ok(conc_pool *p, int64_t v)
{
	int64_t out = 0;
	ssize_t r = conc_pool_apply_timed(p, t_twice, &v, sizeof(v), &out,
					  sizeof(out), BOUND);

	cr_assert_eq(r, (ssize_t)sizeof(out), "apply: %zd", r);
	cr_assert_eq(out, 2 * v);
}

/* Submit fn, wait (bounded) and return its status. */
static int status_of(conc_pool *p, conc_task_fn fn)
{
	conc_future *f;
	int64_t v = 1;
	int r = conc_pool_submit_timed(p, fn, &v, sizeof(v), &f, BOUND), st;

	cr_assert_eq(r, 0, "submit: %d", r);
	r = conc_future_wait(f, BOUND);
	cr_assert_eq(r, 0, "the future did not finish: %d", r);
	st = conc_future_status(f);
	conc_future_release(f);
	return st;
}

/* ---- workers that die every way ---- */

Test(hostile, workers_dying_every_way)
{
	conc_pool *p = make(2, 0);

	cr_assert_eq(status_of(p, t__exit), CONC_FUTURE_EXITED(3));
	cr_assert_eq(status_of(p, t_sigkill), CONC_FUTURE_SIGNALED(SIGKILL));
	cr_assert_eq(status_of(p, t_abort), CONC_FUTURE_SIGNALED(SIGABRT));
	cr_assert_eq(status_of(p, t_close_stdio), 0);
	cr_assert_eq(status_of(p, t_hide), 0);
	twice_ok(p, 21);
	finish(p);
}

/* exit() in a task: the worker still never runs the parent's atexit
 * handlers (conc_pool_create(3), NOTES), and the code is reported. */
static void parent_atexit(void)
{
	if (sh)
		__atomic_store_n(&sh->atexit_ran, 1, __ATOMIC_RELEASE);
}

Test(hostile, exit_in_a_task_runs_no_atexit_handler_of_the_parent,
     .init = setup)
{
	conc_pool *p;

	atexit(parent_atexit);
	p = make(1, 0);
	cr_assert_eq(status_of(p, t_exit), CONC_FUTURE_EXITED(7));
	cr_assert_eq(__atomic_load_n(&sh->atexit_ran, __ATOMIC_ACQUIRE), 0,
		     "the parent's atexit handler ran in the worker");
	twice_ok(p, 2);
	finish(p);
	sh = NULL;	/* this process's own exit may run it */
}

Test(hostile, a_stopped_worker_times_out)
{
	conc_pool *p = make(1, MS(200));

	cr_assert_eq(status_of(p, t_stop), CONC_FUTURE_TIMEOUT);
	twice_ok(p, 5);
	finish(p);
}

Test(hostile, a_stopped_worker_is_ended_by_terminate)
{
	conc_pool *p = make(1, 0);
	conc_future *f;
	int64_t v = 1;

	cr_assert_eq(conc_pool_submit(p, t_stop, &v, sizeof(v), &f), 0);
	cr_assert_eq(conc_future_wait(f, MS(50)), -ETIMEDOUT);
	cr_assert_eq(conc_pool_close(p), 0);
	cr_assert_eq(conc_pool_join_timed(p, MS(50)), -ETIMEDOUT);
	cr_assert_eq(conc_pool_terminate_timed(p, BOUND), 0);
	cr_assert_eq(conc_future_status(f), -ECANCELED);
	cr_assert_eq(conc_pool_join_timed(p, BOUND), 0);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
	cr_assert_eq(conc_future_release(f), 0);
}

Test(hostile, a_task_that_runs_forever_is_ended_by_destroy)
{
	conc_pool *p = make(2, 0);
	conc_future *f[4];
	int64_t v = 1;
	int k;

	for (k = 0; k < 4; k++)
		cr_assert_eq(conc_pool_submit(p, t_forever, &v, sizeof(v), &f[k]), 0);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
	for (k = 0; k < 4; k++) {
		cr_assert_eq(conc_future_wait(f[k], 0), 0);
		cr_assert_eq(conc_future_status(f[k]), -ECANCELED);
		cr_assert_eq(conc_future_result(f[k], NULL, 0), -ECANCELED);
		cr_assert_eq(conc_future_release(f[k]), 0);
	}
}

/* The worker's end of the pool's eventfd is gone: the result still comes
 * back, and the pool goes on. */
Test(hostile, a_task_closing_every_fd)
{
	conc_pool *p = make(1, 0);
	conc_future *f;
	char buf[8];
	int64_t v = 1;

	cr_assert_eq(conc_pool_submit(p, t_close_all, &v, sizeof(v), &f), 0);
	cr_assert_eq(conc_future_wait(f, BOUND), 0, "the result never came");
	cr_assert_eq(conc_future_result(f, buf, sizeof(buf)), 2);
	cr_assert_eq(memcmp(buf, "ok", 2), 0);
	conc_future_release(f);
	twice_ok(p, 3);
	twice_ok(p, 4);
	finish(p);
}

/* An untimed apply in a thread, joined within BOUND: a wait that only
 * ends at its own deadline (where a round collects what it missed) would
 * pass a timed test; this one must be woken. */
struct untimed {
	conc_pool *p;
	conc_task_fn fn;
	ssize_t r;
	char buf[16];
};

static void *apply_untimed(void *arg)
{
	struct untimed *u = arg;
	int64_t v = 1;

	u->r = conc_pool_apply(u->p, u->fn, &v, sizeof(v), u->buf,
			       sizeof(u->buf));
	return NULL;
}

static ssize_t run_untimed(conc_pool *p, conc_task_fn fn, char *buf)
{
	struct untimed u = { .p = p, .fn = fn };
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, apply_untimed, &u), 0);
	cr_assert_eq(join_thread(t, (int)(BOUND / 1000000), NULL), 0,
		     "the task's end was never seen");
	if (buf)
		memcpy(buf, u.buf, sizeof(u.buf));
	return u.r;
}

Test(hostile, a_task_closing_the_pools_eventfd)
{
	conc_pool *p = make(1, 0);
	char buf[16];
	int k;

	for (k = 0; k < 3; k++) {
		cr_assert_eq(run_untimed(p, t_close_eventfd, buf), 2);
		cr_assert_eq(memcmp(buf, "ok", 2), 0);
		cr_assert_eq(run_untimed(p, t_twice, NULL), 8);
	}
	finish(p);
}

Test(hostile, a_grandchild_outliving_its_task, .init = setup)
{
	conc_pool *p = make(1, 0);

	twice_ok(p, 1);
	cr_assert_eq(status_of(p, t_grandchild), 0);
	twice_ok(p, 2);
	finish(p);
	cr_assert_gt(sh->grandchild, 0);
	kill(sh->grandchild, SIGKILL);
}

/* A task's fork child that returns from the task must not become a second
 * worker: the task's result is the worker's, and the child never takes a
 * task. */
Test(hostile, a_fork_child_returning_from_a_task, .init = setup)
{
	conc_pool *p = make(1, 0);
	int64_t out = 0, v = 0;
	pid_t worker, pid;
	int k;

	cr_assert_eq(conc_pool_apply_timed(p, t_pid, NULL, 0, &worker,
					   sizeof(worker), BOUND),
		     (ssize_t)sizeof(worker));
	cr_assert_eq(conc_pool_apply_timed(p, t_fork_returns, &v, sizeof(v),
					   &out, sizeof(out), BOUND),
		     (ssize_t)sizeof(out));
	cr_assert_eq(out, 2, "the fork child's result was taken");
	for (k = 0; k < 200; k++) {
		cr_assert_eq(conc_pool_apply_timed(p, t_pid, NULL, 0, &pid,
						   sizeof(pid), BOUND),
			     (ssize_t)sizeof(pid));
		cr_assert_eq(pid, worker, "task %d ran in pid %d", k, pid);
	}
	finish(p);
}

/* ---- calls into the pool from the wrong process ---- */

static int status_with_pool(conc_pool *p, conc_task_fn fn)
{
	conc_future *f;
	int r = conc_pool_submit_timed(p, fn, &p, sizeof(p), &f, BOUND), st;

	cr_assert_eq(r, 0, "submit: %d", r);
	cr_assert_eq(conc_future_wait(f, BOUND), 0, "the future hangs");
	st = conc_future_status(f);
	conc_future_release(f);
	return st;
}

Test(hostile, a_task_calling_into_its_pool_is_refused)
{
	conc_pool *p = make(2, 0);

	cr_assert_eq(status_with_pool(p, t_submit_inside), -EPERM);
	cr_assert_eq(status_with_pool(p, t_terminate_inside), -EPERM);
	cr_assert_eq(status_with_pool(p, t_destroy_inside), -EPERM);
	twice_ok(p, 6);
	twice_ok(p, 7);
	finish(p);
}

/* A fork child of the program: every call is refused, nothing shared is
 * touched (a destroy in its atexit handler included); the parent's pool
 * goes on. */
static int child_uses_pool(void *arg)
{
	conc_pool *p = arg;
	conc_future *f = NULL;
	conc_imap *it = NULL;
	int64_t v = 1, out;
	int bad = 0;

	bad |= conc_pool_submit(p, t_twice, &v, sizeof(v), &f) != -EPERM;
	bad |= (f != NULL) << 1;
	bad |= (conc_pool_apply(p, t_twice, &v, sizeof(v), &out, sizeof(out))
		!= -EPERM) << 2;
	bad |= (conc_pool_map(p, t_twice, &v, 1, sizeof(v), &out, sizeof(out), 0)
		!= -EPERM) << 3;
	bad |= (conc_pool_imap_unordered(p, t_twice, &v, 1, sizeof(v), 0, &it)
		!= -EPERM) << 4;
	bad |= (conc_pool_poll(p, 0) != -EPERM) << 5;
	bad |= (conc_pool_close(p) != -EPERM) << 6;
	bad |= (conc_pool_join_timed(p, 0) != -EPERM) << 7;
	bad |= (conc_pool_terminate(p) != -EPERM) << 8;
	bad |= (conc_pool_destroy(p) != -EPERM) << 9;
	return bad ? bad : 0;
}

static int child_waits_future(void *arg)
{
	conc_future *f = arg;

	return conc_future_wait(f, 0) == -EPERM ? 0 : 1;
}

Test(hostile, the_pool_in_a_fork_child_of_the_program)
{
	conc_pool *p = make(2, 0);
	conc_future *f;
	int64_t v = 1;
	pid_t pid;
	int st;

	cr_assert_eq(conc_pool_submit(p, t_forever, &v, sizeof(v), &f), 0);
	twice_ok(p, 1);
	pid = test_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int bad = child_uses_pool(p);

		_exit(bad ? 1 : 0);
	}
	st = wait_child(pid, 20000);
	cr_assert(exited_with(st, 0), "status %#x", st);
	cr_assert_eq(run_in_child(child_waits_future, f, 20000), 0);
	/* The parent's pool is whole. */
	twice_ok(p, 2);
	twice_ok(p, 3);
	cr_assert_eq(conc_future_status(f), CONC_FUTURE_PENDING);
	cr_assert_eq(conc_pool_terminate_timed(p, BOUND), 0);
	cr_assert_eq(conc_future_status(f), -ECANCELED);
	conc_future_release(f);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
}

/* ---- a parent that takes the workers' exit from the pool ---- */

/* Kill workers every way, then check the pool works and ends. */
static void deaths_then_health(conc_pool *p)
{
	int st, k;

	for (k = 0; k < 3; k++) {
		st = status_of(p, t__exit);
		cr_assert(st == CONC_FUTURE_EXITED(3) || st == -ECHILD,
			  "status %#x", st);
		st = status_of(p, t_sigkill);
		cr_assert(st == CONC_FUTURE_SIGNALED(SIGKILL) || st == -ECHILD,
			  "status %#x", st);
		twice_ok(p, k);
	}
}

Test(hostile, sigchld_ignored_before_create)
{
	conc_pool *p;

	signal(SIGCHLD, SIG_IGN);
	p = make(2, 0);
	deaths_then_health(p);
	finish(p);
}

Test(hostile, sigchld_ignored_after_create)
{
	conc_pool *p = make(2, 0);

	twice_ok(p, 1);
	signal(SIGCHLD, SIG_IGN);
	deaths_then_health(p);
	finish(p);
}

Test(hostile, sigchld_ignored_then_terminate)
{
	conc_pool *p;
	conc_future *f;
	int64_t v = 1;

	signal(SIGCHLD, SIG_IGN);
	p = make(2, 0);
	cr_assert_eq(conc_pool_submit(p, t_forever, &v, sizeof(v), &f), 0);
	cr_assert_eq(conc_pool_terminate_timed(p, BOUND), 0);
	cr_assert_eq(conc_future_status(f), -ECANCELED);
	conc_future_release(f);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
}

Test(hostile, a_task_timeout_with_sigchld_ignored)
{
	conc_pool *p;

	signal(SIGCHLD, SIG_IGN);
	p = make(1, MS(100));
	cr_assert_eq(status_of(p, t_forever), CONC_FUTURE_TIMEOUT);
	twice_ok(p, 9);
	finish(p);
}

static void reap_all(int sig)
{
	int e = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = e;
}

Test(hostile, a_sigchld_handler_reaping_every_child)
{
	struct sigaction sa = { .sa_handler = reap_all };
	conc_pool *p;

	sigaction(SIGCHLD, &sa, NULL);	/* no SA_RESTART: EINTR everywhere */
	p = make(2, 0);
	deaths_then_health(p);
	finish(p);
}

Test(hostile, sa_nocldwait)
{
	struct sigaction sa = { .sa_handler = SIG_DFL, .sa_flags = SA_NOCLDWAIT };
	conc_pool *p;

	sigaction(SIGCHLD, &sa, NULL);
	p = make(2, 0);
	deaths_then_health(p);
	finish(p);
}

/* The program's own wait(), behind the pool's back. */
Test(hostile, the_program_reaps_a_worker_with_waitpid)
{
	conc_pool *p = make(1, 0);
	conc_future *f;
	int64_t v = 1, end = now_ns() + BOUND;
	pid_t r;
	int st;

	twice_ok(p, 1);
	cr_assert_eq(conc_pool_submit(p, t__exit, &v, sizeof(v), &f), 0);
	while ((r = waitpid(-1, &st, WNOHANG)) == 0 && now_ns() < end)
		sleep_ns(MS(1));
	cr_assert_gt(r, 0, "the worker never exited");
	cr_assert_eq(conc_future_wait(f, BOUND), 0, "the future hangs");
	cr_assert_eq(conc_future_status(f), -ECHILD);
	cr_assert_eq(conc_future_result(f, NULL, 0), -ECHILD);
	conc_future_release(f);
	twice_ok(p, 2);
	finish(p);
}
