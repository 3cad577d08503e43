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
#include <sys/prctl.h>
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
	uint32_t armed;		/* the atfork handler waits for dying */
	pid_t dying;
	uint32_t inits;
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

/* Every fd closed, then files opened again (stdio on /dev/null, a log, a
 * socket...): one of them takes the number the worker's eventfd had, and
 * a write meant for the pool goes there. */
static ssize_t t_close_all_reopen(const void *arg, size_t len, void *res, size_t cap)
{
	int fd, k;

	(void)arg, (void)len, (void)cap;
	for (fd = 0; fd < 1024; fd++)
		close(fd);
	for (k = 0; k < 64; k++)
		if (open("/dev/null", O_RDWR) < 0)
			break;
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

/* fn, answering "ok", then a plain task, three times: untimed waits. */
static void untimed_rounds(conc_task_fn fn)
{
	conc_pool *p = make(1, 0);
	char buf[16];
	int k;

	for (k = 0; k < 3; k++) {
		cr_assert_eq(run_untimed(p, fn, buf), 2);
		cr_assert_eq(memcmp(buf, "ok", 2), 0);
		cr_assert_eq(run_untimed(p, t_twice, NULL), 8);
	}
	finish(p);
}

Test(hostile, a_task_closing_the_pools_eventfd)
{
	untimed_rounds(t_close_eventfd);
}

/* The fd numbers the pool's eventfd had now name other files: the end of
 * the task is still seen by an untimed wait (its pidfd tells, at worst),
 * and the pool goes on. */
Test(hostile, a_task_reopening_files_after_closing_every_fd)
{
	untimed_rounds(t_close_all_reopen);
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

/* A fork child of a threaded program whose other thread held the pool's
 * lock at the fork: that thread is not in the child, so the lock is never
 * given back there. Releasing a future or an iterator must not wait for
 * it (-EPERM, nothing touched, as for every call in another process). The
 * thread is held inside its submit's copy of the argument by a page fault
 * its SIGSEGV handler holds until the test says go. */
struct held {
	conc_pool *p;
	uint32_t inside, go;
	unsigned char *page;
	long psz;
	int r;
};

static struct held *held;

static void held_segv(int sig)
{
	(void)sig;
	set_flag(&held->inside, 1);
	if (!wait_flag(&held->go, 60000))
		_exit(98);
	mprotect(held->page, (size_t)held->psz, PROT_READ | PROT_WRITE);
}

static void *held_submit(void *arg)
{
	conc_future *f = NULL;

	(void)arg;
	held->r = conc_pool_submit(held->p, t_pid, held->page, 16, &f);
	if (f && conc_future_wait(f, BOUND) != 0)
		held->r = -ETIMEDOUT;
	if (f)
		conc_future_release(f);
	return NULL;
}

static int child_releases_future(void *arg)
{
	return errcode(conc_future_release(arg));
}

static int child_releases_imap(void *arg)
{
	return errcode(conc_imap_release(arg));
}

Test(hostile, a_fork_child_releases_while_a_thread_held_the_pool,
     .timeout = 120)
{
	struct sigaction sa = { .sa_handler = held_segv }, old;
	static struct held h;
	int64_t in[2] = { 1, 2 }, out;
	conc_future *f;
	conc_imap *it;
	size_t idx, first;
	pthread_t t;

	held = &h;
	h.p = make(1, 0);
	h.psz = sysconf(_SC_PAGESIZE);
	h.page = mmap(NULL, (size_t)h.psz, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(h.page, MAP_FAILED);
	cr_assert_eq(conc_pool_submit(h.p, t_twice, in, sizeof(in[0]), &f), 0);
	cr_assert_eq(conc_pool_imap_unordered(h.p, t_twice, in, 2, sizeof(in[0]),
					      1, &it), 0);
	/* One item taken: the other's future is the iterator's. */
	cr_assert_eq(conc_imap_next(it, &first, &out, sizeof(out), BOUND),
		     (ssize_t)sizeof(out));
	cr_assert_lt(first, 2);
	cr_assert_eq(sigaction(SIGSEGV, &sa, &old), 0);
	cr_assert_eq(pthread_create(&t, NULL, held_submit, NULL), 0);
	cr_assert(wait_flag(&h.inside, 30000), "the submit never began");
	cr_assert_eq(run_in_child(child_releases_future, f, 20000), EPERM,
		     "the child's release of a future hung or took it");
	cr_assert_eq(run_in_child(child_releases_imap, it, 20000), EPERM,
		     "the child's release of an iterator hung or took it");
	set_flag(&h.go, 1);
	cr_assert_eq(join_thread(t, 30000, NULL), 0);
	sigaction(SIGSEGV, &old, NULL);
	cr_assert_eq(h.r, 0, "the held submit: %d", h.r);
	/* The parent's future and iterator are whole. */
	cr_assert_eq(conc_future_wait(f, BOUND), 0);
	cr_assert_eq(conc_future_status(f), 0);
	cr_assert_eq(conc_future_release(f), 0);
	cr_assert_eq(conc_imap_next(it, &idx, &out, sizeof(out), BOUND),
		     (ssize_t)sizeof(out));
	cr_assert_eq(idx, 1 - first);
	cr_assert_eq(out, 2 * in[idx]);
	cr_assert_eq(conc_imap_release(it), 0);
	munmap(h.page, (size_t)h.psz);
	finish(h.p);
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

/* ---- close, join, terminate, destroy in every order ---- */

Test(hostile, ends_in_every_order)
{
	conc_pool *p = make(2, 0);
	conc_future *f;
	conc_imap *it;
	int64_t v = 1, out;

	cr_assert_eq(conc_pool_join(p), -EINVAL, "join before close");
	cr_assert_eq(conc_pool_join_timed(p, 0), -EINVAL);
	cr_assert_eq(conc_pool_submit(p, t_forever, &v, sizeof(v), &f), 0);
	cr_assert_eq(conc_pool_terminate_timed(p, BOUND), 0);
	cr_assert_eq(conc_pool_terminate_timed(p, BOUND), 0, "terminate twice");
	cr_assert_eq(conc_pool_terminate(p), 0);
	cr_assert_eq(conc_pool_close(p), 0, "close after terminate");
	cr_assert_eq(conc_pool_close(p), 0);
	cr_assert_eq(conc_pool_join_timed(p, BOUND), 0);
	cr_assert_eq(conc_pool_join(p), 0);
	cr_assert_eq(conc_future_status(f), -ECANCELED);
	cr_assert_eq(conc_pool_submit(p, t_twice, &v, sizeof(v), &f), -EPIPE);
	cr_assert_null(f);
	cr_assert_eq(conc_pool_apply(p, t_twice, &v, sizeof(v), &out, sizeof(out)),
		     -EPIPE);
	cr_assert_eq(conc_pool_map(p, t_twice, &v, 1, sizeof(v), &out,
				   sizeof(out), 0), -EPIPE);
	cr_assert_eq(conc_pool_imap_unordered(p, t_twice, &v, 1, sizeof(v), 0,
					      &it), -EPIPE);
	cr_assert_eq(conc_pool_poll(p, 0), -ETIMEDOUT);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
}

Test(hostile, close_join_close_terminate)
{
	conc_pool *p = make(2, 0);

	twice_ok(p, 1);
	cr_assert_eq(conc_pool_close(p), 0);
	cr_assert_eq(conc_pool_join_timed(p, BOUND), 0);
	cr_assert_eq(conc_pool_join_timed(p, BOUND), 0, "join twice");
	cr_assert_eq(conc_pool_close(p), 0);
	cr_assert_eq(conc_pool_terminate_timed(p, BOUND), 0);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
}

Test(hostile, destroy_while_tasks_run_and_queue)
{
	conc_pool *p = make(1, 0);
	conc_future *f[4];
	int64_t v = 1;
	int k;

	for (k = 0; k < 4; k++)
		cr_assert_eq(conc_pool_submit(p, k ? t_twice : t_forever, &v,
					      sizeof(v), &f[k]), 0);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
	cr_assert_eq(conc_future_status(f[0]), -ECANCELED);
	for (k = 0; k < 4; k++) {
		cr_assert_neq(conc_future_status(f[k]), CONC_FUTURE_PENDING);
		cr_assert_eq(conc_future_wait(f[k], -1), 0);
		cr_assert_eq(conc_future_release(f[k]), 0);
	}
}

/* A thread that waits for a slot while the pool is closed: -EPIPE, at
 * once, although no slot comes free. */
struct submitter {
	conc_pool *p;
	int r;
};

static void *submit_untimed(void *arg)
{
	struct submitter *s = arg;
	conc_future *f = NULL;
	int64_t v = 1;

	s->r = conc_pool_submit(s->p, t_twice, &v, sizeof(v), &f);
	if (f)
		conc_future_release(f);
	return NULL;
}

static void full_of_forever(conc_pool *p, conc_future *f[4])
{
	int64_t v = 1;
	int k;

	for (k = 0; k < 4; k++)
		cr_assert_eq(conc_pool_submit(p, t_forever, &v, sizeof(v), &f[k]), 0);
}

/* A submit blocked on a full pool of endless tasks while end(p) runs. */
static void blocked_submit_sees(int (*end)(conc_pool *))
{
	conc_pool *p = make(1, 0);
	struct submitter s = { p, 1 };
	conc_future *f[4];
	pthread_t t;
	int k;

	full_of_forever(p, f);
	cr_assert_eq(pthread_create(&t, NULL, submit_untimed, &s), 0);
	/* Either side of the end: the submit must see it. */
	sleep_ns(MS(20));
	cr_assert_eq(end(p), 0);
	cr_assert_eq(join_thread(t, (int)(BOUND / 1000000), NULL), 0,
		     "the blocked submit never saw the pool end");
	cr_assert_eq(s.r, -EPIPE);
	cr_assert_eq(conc_pool_terminate_timed(p, BOUND), 0);
	for (k = 0; k < 4; k++)
		conc_future_release(f[k]);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
}

Test(hostile, close_wakes_a_blocked_submit)
{
	blocked_submit_sees(conc_pool_close);
}

Test(hostile, terminate_wakes_a_blocked_submit)
{
	blocked_submit_sees(conc_pool_terminate);
}

/* Several threads submit while one closes: each submit is 0 or -EPIPE,
 * every accepted task finishes with its callback once, join ends. */
struct racer {
	conc_pool *p;
	int ok, refused, other;
	uint32_t *calls;
};

static void racer_cb(conc_future *f, void *arg)
{
	(void)f;
	__atomic_fetch_add((uint32_t *)arg, 1, __ATOMIC_RELAXED);
}

static void *racer(void *arg)
{
	struct racer *r = arg;
	int64_t v;
	int k, rc;

	for (k = 0; k < 2000; k++) {
		v = k;
		rc = conc_pool_submit_cb_timed(r->p, t_twice, &v, sizeof(v),
					       racer_cb, racer_cb, r->calls,
					       NULL, BOUND);
		if (rc == 0)
			r->ok++;
		else if (rc == -EPIPE)
			r->refused++;
		else
			r->other++;
		if (rc == -EPIPE && r->refused > 3)
			break;
	}
	return NULL;
}

Test(hostile, threads_submitting_while_another_closes, .timeout = 120)
{
	conc_pool *p = make(2, 0);
	struct racer r[4];
	pthread_t t[4];
	uint32_t calls = 0;
	int k, ok = 0;

	for (k = 0; k < 4; k++) {
		r[k] = (struct racer){ .p = p, .calls = &calls };
		cr_assert_eq(pthread_create(&t[k], NULL, racer, &r[k]), 0);
	}
	twice_ok(p, 1);
	cr_assert_eq(conc_pool_close(p), 0);
	for (k = 0; k < 4; k++) {
		cr_assert_eq(join_thread(t[k], 60000, NULL), 0);
		cr_assert_eq(r[k].other, 0);
		ok += r[k].ok;
	}
	cr_assert_eq(conc_pool_join_timed(p, BOUND), 0);
	cr_assert_eq(__atomic_load_n(&calls, __ATOMIC_RELAXED), (uint32_t)ok,
		     "%u callbacks for %d tasks", calls, ok);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
}

/* ---- callbacks that call back into the pool ---- */

static void cb_terminate(conc_future *f, void *arg)
{
	(void)f;
	cr_assert_eq(conc_pool_terminate_timed(arg, BOUND), 0);
}

static uint32_t cancelled;

static void cb_count_cancel(conc_future *f, void *arg)
{
	int64_t v = 1;
	conc_future *g = NULL;

	cr_assert_eq(conc_future_status(f), -ECANCELED);
	cr_assert_eq(conc_pool_submit(arg, t_twice, &v, sizeof(v), &g), -EPIPE);
	cancelled++;
}

Test(hostile, a_callback_terminates_its_pool)
{
	conc_pool *p = make(2, 0);
	conc_future *f;
	int64_t v = 1;
	int k;

	/* First in the queue: it runs whatever the others do. */
	cr_assert_eq(conc_pool_submit_cb(p, t_twice, &v, sizeof(v),
					 cb_terminate, NULL, p, &f), 0);
	for (k = 0; k < 3; k++)
		cr_assert_eq(conc_pool_submit_cb(p, t_forever, &v, sizeof(v),
						 NULL, cb_count_cancel, p, NULL), 0);
	cr_assert_eq(conc_future_wait(f, BOUND), 0);
	cr_assert_eq(conc_future_status(f), 0);
	cr_assert_eq(cancelled, 3);
	conc_future_release(f);
	cr_assert_eq(conc_pool_join_timed(p, BOUND), 0);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
}

static void cb_close_join(conc_future *f, void *arg)
{
	(void)f;
	cr_assert_eq(conc_pool_close(arg), 0);
	cr_assert_eq(conc_pool_join_timed(arg, BOUND), 0);
}

Test(hostile, a_callback_closes_and_joins_its_pool)
{
	conc_pool *p = make(2, 0);
	conc_future *f[3];
	int64_t v = 1;
	int k;

	for (k = 0; k < 3; k++)
		cr_assert_eq(conc_pool_submit_cb(p, t_twice, &v, sizeof(v),
						 k == 0 ? cb_close_join : NULL,
						 NULL, p, &f[k]), 0);
	for (k = 0; k < 3; k++) {
		cr_assert_eq(conc_future_wait(f[k], BOUND), 0);
		cr_assert_eq(conc_future_status(f[k]), 0);
		conc_future_release(f[k]);
	}
	cr_assert_eq(conc_pool_join_timed(p, BOUND), 0);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
}

/* ---- futures waited every way ---- */

Test(hostile, future_timeouts)
{
	conc_pool *p = make(1, 0);
	conc_future *f, *g;
	int64_t v = 4, out;

	cr_assert_eq(conc_pool_submit(p, t_forever, &v, sizeof(v), &f), 0);
	cr_assert_eq(conc_future_wait(f, 0), -ETIMEDOUT);
	cr_assert_eq(conc_future_wait(f, 1), -ETIMEDOUT);
	cr_assert_eq(conc_future_result(f, &out, sizeof(out)), -EAGAIN);
	cr_assert_eq(conc_pool_submit(p, t_twice, &v, sizeof(v), &g), 0);
	cr_assert_eq(conc_pool_terminate_timed(p, 0) == 0 ||
		     conc_pool_terminate_timed(p, BOUND) == 0, 1);
	/* Finished now: any timeout, even none or a strange one. */
	cr_assert_eq(conc_future_wait(f, 0), 0);
	cr_assert_eq(conc_future_wait(f, -5), 0);
	cr_assert_eq(conc_future_wait(f, INT64_MAX), 0);
	cr_assert_eq(conc_future_wait(f, INT64_MIN), 0);
	cr_assert_eq(conc_future_result(f, &out, sizeof(out)), -ECANCELED);
	conc_future_release(f);
	conc_future_release(g);
	cr_assert_eq(conc_pool_destroy_timed(p, BOUND), 0);
	cr_assert_eq(conc_future_wait(NULL, 0), -EINVAL);
	cr_assert_eq(conc_future_status(NULL), -EINVAL);
	cr_assert_eq(conc_future_result(NULL, NULL, 0), -EINVAL);
	cr_assert_eq(conc_future_release(NULL), -EINVAL);
}

Test(hostile, future_waits_with_huge_and_negative_timeouts)
{
	conc_pool *p = make(1, 0);
	conc_future *f;
	int64_t v = 4, out;

	cr_assert_eq(conc_pool_submit(p, t_twice, &v, sizeof(v), &f), 0);
	cr_assert_eq(conc_future_wait(f, INT64_MAX), 0);
	cr_assert_eq(conc_future_result(f, &out, sizeof(out)), sizeof(out));
	cr_assert_eq(out, 8);
	cr_assert_eq(conc_future_result(f, &out, 4), -EMSGSIZE);
	cr_assert_eq(conc_future_result(f, NULL, 0), -EMSGSIZE);
	conc_future_release(f);
	cr_assert_eq(conc_pool_submit(p, t_twice, &v, sizeof(v), &f), 0);
	cr_assert_eq(conc_future_wait(f, -7), 0);
	conc_future_release(f);
	cr_assert_eq(conc_pool_apply_timed(p, t_twice, &v, sizeof(v), &out,
					   sizeof(out), INT64_MAX), 8);
	cr_assert_eq(conc_pool_poll(p, 0), -ETIMEDOUT);
	cr_assert_eq(conc_pool_poll(p, MS(1)), -ETIMEDOUT);
	finish(p);
}

/* ---- map and imap at their edges ---- */

/* A result of arg bytes (arg: a size_t), each byte 0x5a. */
static ssize_t t_bytes(const void *arg, size_t len, void *res, size_t cap)
{
	size_t n;

	if (len != sizeof(n))
		return -EINVAL;
	memcpy(&n, arg, sizeof(n));
	if (n > cap)
		return (ssize_t)n;	/* the pool says -EMSGSIZE */
	memset(res, 0x5a, n);
	return (ssize_t)n;
}

Test(hostile, map_edges)
{
	conc_pool *p = make(2, 0);
	int64_t in[3] = { 1, 2, 3 }, out[3];
	ssize_t lens[3];
	size_t big[2] = { 8, 9 };
	char res[2][8];

	cr_assert_eq(conc_pool_map(p, t_twice, NULL, 0, sizeof(int64_t), NULL,
				   sizeof(int64_t), 0), 0, "0 items");
	cr_assert_eq(conc_pool_map(p, t_twice, in, 1, sizeof(in[0]), out,
				   sizeof(out[0]), 0), 0);
	cr_assert_eq(out[0], 2);
	cr_assert_eq(conc_pool_map(p, t_twice, in, 3, sizeof(in[0]), out,
				   sizeof(out[0]), 1000), 0, "chunk > n");
	cr_assert_eq(out[2], 6);
	cr_assert_eq(conc_pool_map(p, t_twice, in, 3, sizeof(in[0]), out,
				   sizeof(out[0]), SIZE_MAX), 0);
	/* A result beyond out_size fails alone, with -EMSGSIZE. */
	cr_assert_eq(conc_pool_map_status(p, t_bytes, big, 2, sizeof(big[0]),
					  res, sizeof(res[0]), 0, lens), 1);
	cr_assert_eq(lens[0], 8);
	cr_assert_eq(lens[1], -EMSGSIZE);
	/* No result space at all. */
	cr_assert_eq(conc_pool_map_status(p, t_bytes, big, 2, sizeof(big[0]),
					  NULL, 0, 0, lens), 2);
	cr_assert_eq(conc_pool_map(p, t_twice, in, 3, sizeof(in[0]), out,
				   64 * 1024 + 1, 0), -EMSGSIZE);
	cr_assert_eq(conc_pool_map(p, t_twice, in, 3, 64 * 1024 + 1, out,
				   sizeof(out[0]), 0), -EMSGSIZE);
	cr_assert_eq(conc_pool_map(p, t_twice, in, 3, 0, out, sizeof(out[0]),
				   0), -EINVAL);
	cr_assert_eq(conc_pool_map(p, t_twice, NULL, 3, sizeof(in[0]), out,
				   sizeof(out[0]), 0), -EINVAL);
	cr_assert_eq(conc_pool_map(p, t_twice, in, 3, sizeof(in[0]), NULL,
				   sizeof(out[0]), 0), -EINVAL);
	cr_assert_eq(conc_pool_map(p, NULL, in, 3, sizeof(in[0]), out,
				   sizeof(out[0]), 0), -EINVAL);
	cr_assert_eq(conc_pool_map(NULL, t_twice, in, 3, sizeof(in[0]), out,
				   sizeof(out[0]), 0), -EINVAL);
	/* An array that no memory could hold. */
	cr_assert_eq(conc_pool_map(p, t_twice, in, SIZE_MAX / 4 + 1, 8, out,
				   8, 0), -EINVAL);
	finish(p);
}

Test(hostile, map_of_many_items, .timeout = 120)
{
	enum { N = 200000 };
	conc_pool *p = make(2, 0);
	int64_t *in = malloc(N * sizeof(*in)), *out = malloc(N * sizeof(*out));
	size_t k;

	cr_assert(in && out);
	for (k = 0; k < N; k++)
		in[k] = (int64_t)k;
	cr_assert_eq(conc_pool_map_timed(p, t_twice, in, N, sizeof(*in), out,
					 sizeof(*out), 0, MS(100000)), 0);
	for (k = 0; k < N; k++)
		cr_assert_eq(out[k], 2 * (int64_t)k);
	free(in);
	free(out);
	finish(p);
}

Test(hostile, imap_edges)
{
	conc_pool *p = make(2, 0);
	int64_t in[3] = { 1, 2, 3 }, out;
	size_t idx, seen = 0, k;
	conc_imap *it;
	ssize_t r;

	cr_assert_eq(conc_pool_imap_unordered(p, t_twice, NULL, 0,
					      sizeof(int64_t), 0, &it), 0);
	cr_assert_eq(conc_imap_next(it, &idx, &out, sizeof(out), BOUND), -EPIPE);
	cr_assert_eq(idx, SIZE_MAX);
	cr_assert_eq(conc_imap_release(it), 0);
	cr_assert_eq(conc_pool_imap_unordered(p, t_twice, in, 3, sizeof(in[0]),
					      1000, &it), 0, "chunk > n");
	for (k = 0; k < 3; k++) {
		r = conc_imap_next(it, &idx, &out, sizeof(out), BOUND);
		cr_assert_eq(r, (ssize_t)sizeof(out));
		cr_assert_lt(idx, 3);
		cr_assert_eq(out, 2 * in[idx]);
		seen |= (size_t)1 << idx;
	}
	cr_assert_eq(seen, 7);
	cr_assert_eq(conc_imap_next(it, &idx, &out, sizeof(out), 0), -EPIPE);
	cr_assert_eq(conc_imap_release(it), 0);
	cr_assert_eq(conc_imap_release(NULL), -EINVAL);
	cr_assert_eq(conc_imap_next(NULL, &idx, NULL, 0, 0), -EINVAL);
	cr_assert_eq(conc_pool_imap_unordered(p, t_twice, in, 3, sizeof(in[0]),
					      0, NULL), -EINVAL);
	cr_assert_eq(conc_pool_imap_unordered(p, t_twice, in, SIZE_MAX / 4 + 1,
					      8, 0, &it), -EINVAL);
	finish(p);
}

/* n items whose bytes still fit in a size_t but in no memory: SIZE_MAX
 * items of one byte (the iterator's copy of them, n * in_size + 1 bytes,
 * wrapped to 0, and the default chunk's rounding of n too), more than
 * PTRDIFF_MAX bytes. -EINVAL, as conc_pool_map(3) says, before anything
 * is allocated or read. */
Test(hostile, arrays_no_memory_could_hold_are_einval)
{
	conc_pool *p = make(2, 0);
	int64_t in[3] = { 1, 2, 3 }, out[3];
	conc_imap *it = NULL;

	cr_assert_eq(conc_pool_imap_unordered(p, t_twice, in, SIZE_MAX, 1, 0,
					      &it), -EINVAL);
	cr_assert_eq(conc_pool_imap_unordered(p, t_twice, in, SIZE_MAX / 3, 3,
					      0, &it), -EINVAL);
	cr_assert_eq(conc_pool_imap_unordered(p, t_twice, in,
					      (size_t)PTRDIFF_MAX + 1, 1, 1,
					      &it), -EINVAL);
	cr_assert_null(it);
	cr_assert_eq(conc_pool_map(p, t_twice, in, SIZE_MAX, 1, NULL, 0, 0),
		     -EINVAL);
	cr_assert_eq(conc_pool_map(p, t_twice, in, SIZE_MAX / 8, 8, out, 8, 0),
		     -EINVAL);
	/* One such result fits: it is only too large for the pool. */
	cr_assert_eq(conc_pool_map(p, t_twice, in, 1, 8, out,
				   (size_t)PTRDIFF_MAX / 2, 0), -EMSGSIZE);
	cr_assert_eq(conc_pool_map(p, t_twice, in, 3, 8, out,
				   (size_t)PTRDIFF_MAX / 2, 0), -EINVAL);
	/* The pool is whole. */
	cr_assert_eq(conc_pool_map(p, t_twice, in, 3, 8, out, 8, 0), 0);
	cr_assert_eq(out[2], 6);
	finish(p);
}

/* Each imap item may use max_result / chunk bytes (conc_pool_map(3)). */
Test(hostile, imap_results_as_large_as_documented)
{
	conc_pool_attr a = { .workers = 2, .max_result = 4096 };
	size_t in[8], k, idx;
	conc_pool *p;
	conc_imap *it;
	char buf[4096];

	cr_assert_eq(conc_pool_create(&p, &a), 0);
	for (k = 0; k < 8; k++)
		in[k] = k < 4 ? 1024 : 1025;	/* chunk 4: 1024 each */
	cr_assert_eq(conc_pool_imap_unordered(p, t_bytes, in, 8, sizeof(in[0]),
					      4, &it), 0);
	for (k = 0; k < 8; k++) {
		ssize_t r = conc_imap_next(it, &idx, buf, sizeof(buf), BOUND);

		cr_assert_lt(idx, 8);
		cr_assert_eq(r, idx < 4 ? 1024 : -EMSGSIZE, "item %zu: %zd",
			     idx, r);
	}
	cr_assert_eq(conc_imap_release(it), 0);
	finish(p);
}

Test(hostile, results_of_max_result_bytes)
{
	conc_pool_attr a = { .workers = 1, .max_result = 1 << 20 };
	size_t n = 1 << 20;
	char *buf = malloc(n + 1);
	conc_pool *p;

	cr_assert_not_null(buf);
	cr_assert_eq(conc_pool_create(&p, &a), 0);
	cr_assert_eq(conc_pool_apply_timed(p, t_bytes, &n, sizeof(n), buf, n,
					   BOUND), (ssize_t)n);
	cr_assert_eq(buf[n - 1], 0x5a);
	cr_assert_eq(conc_pool_apply_timed(p, t_bytes, &n, sizeof(n), buf,
					   n - 1, BOUND), -EMSGSIZE);
	n++;
	cr_assert_eq(conc_pool_apply_timed(p, t_bytes, &n, sizeof(n), buf, n,
					   BOUND), -EMSGSIZE);
	free(buf);
	finish(p);
}

/* ---- workers whose birth or death the pool must not miss ---- */

/* The first worker's initializer fails at once and, SIGCHLD being
 * ignored, the kernel reaps it before conc_proc_start() could open its
 * pidfd (the program's atfork handler waits for that): a worker the pool
 * can never poll must still be seen gone and replaced. */
static void atfork_parent(void)
{
	int guard;

	if (!sh || !__atomic_exchange_n(&sh->armed, 0, __ATOMIC_ACQ_REL))
		return;
	for (guard = 0; guard < 20000 && !__atomic_load_n(&sh->dying,
							   __ATOMIC_ACQUIRE); guard++)
		sleep_ns(MS(1));
	for (guard = 0; guard < 20000 && kill(sh->dying, 0) == 0; guard++)
		sleep_ns(MS(1));
}

static int init_fail_first(void *arg)
{
	(void)arg;
	if (__atomic_fetch_add(&sh->inits, 1, __ATOMIC_ACQ_REL) == 0) {
		__atomic_store_n(&sh->dying, getpid(), __ATOMIC_RELEASE);
		return 1;
	}
	return 0;
}

Test(hostile, a_worker_reaped_before_its_pidfd_was_opened, .init = setup)
{
	conc_pool_attr a = { .workers = 1, .initializer = init_fail_first };
	conc_pool *p;

	signal(SIGCHLD, SIG_IGN);
	pthread_atfork(NULL, atfork_parent, NULL);
	sh->armed = 1;
	cr_assert_eq(conc_pool_create(&p, &a), 0);
	cr_assert_gt(sh->dying, 0);
	cr_assert_eq(run_untimed(p, t_twice, NULL), 8);
	cr_assert_eq(sh->inits, 2);
	finish(p);
}

/* An initializer that drops what makes workers die with the parent (as a
 * setuid() to drop privileges does): the worker sets it again. */
static int init_no_deathsig(void *arg)
{
	(void)arg;
	prctl(PR_SET_PDEATHSIG, 0);
	return 0;
}

static int alive(pid_t pid)
{
	char path[64], line[256], *c;
	FILE *fp;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!(fp = fopen(path, "r")))
		return 0;
	if (fgets(line, sizeof(line), fp) && (c = strrchr(line, ')')))
		r = c[2] != 'Z' && c[2] != 'X';
	fclose(fp);
	return r;
}

Test(hostile, an_initializer_clearing_the_death_signal, .init = setup)
{
	pid_t child, worker;
	int guard;

	child = test_fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		conc_pool_attr a = { .workers = 1,
				     .initializer = init_no_deathsig };
		conc_pool *p;

		if (conc_pool_create(&p, &a) < 0 ||
		    conc_pool_apply_timed(p, t_pid, NULL, 0, &worker,
					  sizeof(worker), BOUND) != sizeof(worker))
			_exit(1);
		__atomic_store_n(&sh->grandchild, worker, __ATOMIC_RELEASE);
		raise(SIGKILL);
	}
	cr_assert(killed_by(wait_child(child, 20000), SIGKILL));
	worker = sh->grandchild;
	cr_assert_gt(worker, 0);
	for (guard = 0; guard < 2000 && alive(worker); guard++)
		sleep_ns(MS(10));
	if (alive(worker))
		kill(worker, SIGKILL);
	cr_assert_eq(guard < 2000, 1, "the worker outlived its parent");
}
