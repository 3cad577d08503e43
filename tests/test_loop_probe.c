/* test_loop_probe.c — issue 10's API read sentence by sentence, as a user
 * who has only the issue would: the error returns, join and gather with
 * timeouts, cancellation of a task waiting in every colorless wait (once,
 * then the same call works), calls from other threads, I/O inside and
 * outside a loop, shared-stack I/O, many tasks, many loops at once. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <conc.h>
#include "loop_helpers.h"

/* ---- Cancelling a task in each of its waits ------------------------------
 *
 * The driver task holds a resource, starts a waiter and cancels it (before
 * it first runs, while it waits, or from a plain thread). The waiter makes
 * the same wait three times: untimed (-ECANCELED), timed (-ETIMEDOUT: the
 * cancel came once), untimed again once the driver let the resource go
 * (success). A ticker shows the loop ran meanwhile. */

enum mode { WHILE_WAITING, BEFORE_FIRST_RUN, FROM_A_THREAD };

struct shared {			/* what a child process touches */
	conc_mutex m;
	uint32_t held, release;
};

struct res {
	enum mode mode;
	struct shared *sh;
	pid_t child;
	conc_sem sem;
	conc_event ev, stage;
	conc_mutex m, cm;
	conc_cond cond;
	int pred;
	conc_barrier bar;
	conc_rwlock rw;
	conc_queue *q;
	conc_chan *ca, *cb;
	int p[2], s[2], lfd;
	struct sockaddr_in addr;
	conc_proc *proc;
	conc_thread *th;
	conc_pool *pool;
	conc_future *fut;
	conc_task *other[2];
	conc_task *waiter;
	int phase;			/* which of the three calls */
	int r[3], extra, ticks, ticks_before, ticks_during, bad;
};

struct kind {
	const char *name;
	void (*setup)(struct res *);		/* in the test, outside a loop */
	void (*hold)(struct res *);		/* in the driver, first */
	int (*wait)(struct res *, int64_t);	/* < 0 timeout: untimed call */
	void (*release)(struct res *);		/* in the driver */
	void (*cleanup)(struct res *);		/* in the test, after the run */
	int expect_middle;			/* what the timed call gives */
};

static void nothing(struct res *r) { (void)r; }

/* mutex held by the driver, a task of the same loop */
static void mutex_hold(struct res *r) { conc_mutex_lock(&r->m); }
static void mutex_release(struct res *r) { conc_mutex_unlock(&r->m); }
static int mutex_wait(struct res *r, int64_t t)
{
	int e = t < 0 ? conc_mutex_lock(&r->m) : conc_mutex_timedlock(&r->m, t);

	if (e == 0 && conc_mutex_unlock(&r->m))
		r->bad++;
	return e;
}

/* mutex held by another process */
static int holder(void *arg)
{
	struct shared *sh = arg;

	if (!sh || conc_mutex_lock(&sh->m))
		return 1;
	set_flag(&sh->held, 1);
	wait_flag(&sh->release, 10000);
	return conc_mutex_unlock(&sh->m) ? 2 : 0;
}

static void pmutex_setup(struct res *r)
{
	r->sh = shared_alloc(sizeof(*r->sh));
	if (!r->sh)
		abort();
	r->child = fork_child(holder, r->sh);
	cr_assert_gt(r->child, 0);
	cr_assert(wait_flag(&r->sh->held, 10000), "the child holds the mutex");
}

static int pmutex_wait(struct res *r, int64_t t)
{
	int e = t < 0 ? conc_mutex_lock(&r->sh->m) :
			conc_mutex_timedlock(&r->sh->m, t);

	if (e == 0 && conc_mutex_unlock(&r->sh->m))
		r->bad++;
	return e;
}

static void pmutex_release(struct res *r) { set_flag(&r->sh->release, 1); }
static void pmutex_cleanup(struct res *r)
{
	cr_assert(exited_with(wait_child(r->child, 10000), 0));
	shared_free(r->sh, sizeof(*r->sh));
}

static int sem_wait_(struct res *r, int64_t t)
{
	return t < 0 ? conc_sem_wait(&r->sem) : conc_sem_timedwait(&r->sem, t);
}
static void sem_release(struct res *r) { conc_sem_post(&r->sem); }

static int event_wait(struct res *r, int64_t t) { return conc_event_wait(&r->ev, t); }
static void event_release(struct res *r) { conc_event_set(&r->ev); }

static int cond_wait_(struct res *r, int64_t t)
{
	int e = conc_mutex_lock(&r->cm);

	if (e)
		return e;
	do
		e = conc_cond_wait(&r->cond, &r->cm, t);
	while (e == 0 && !r->pred);
	/* Whatever the wait returned, the mutex is held again. */
	if (conc_mutex_unlock(&r->cm))
		r->bad++;
	return e;
}

static void cond_release(struct res *r)
{
	conc_mutex_lock(&r->cm);
	r->pred = 1;
	conc_cond_broadcast(&r->cond);
	conc_mutex_unlock(&r->cm);
}

/* Two parties: the waiter and, once released, the driver. A cancel breaks
 * the barrier as a timeout does; the waiter sets it up again. */
static void barrier_setup(struct res *r) { conc_barrier_init(&r->bar, 2, 0); }
static int barrier_wait(struct res *r, int64_t t)
{
	int e;

	if (t >= 0)
		return conc_barrier_wait_timed(&r->bar, t);
	e = conc_barrier_wait(&r->bar);
	return e == CONC_BARRIER_SERIAL ? 0 : e;
}
static void barrier_release(struct res *r)
{
	int e = conc_barrier_wait_timed(&r->bar, BOUND);

	if (e != 0 && e != CONC_BARRIER_SERIAL)
		r->bad++;
}

static void wr_hold(struct res *r) { conc_rwlock_wrlock(&r->rw); }
static void rw_release(struct res *r) { conc_rwlock_unlock(&r->rw); }
static int rd_wait(struct res *r, int64_t t)
{
	int e = t < 0 ? conc_rwlock_rdlock(&r->rw) : conc_rwlock_timedrdlock(&r->rw, t);

	if (e == 0 && conc_rwlock_unlock(&r->rw))
		r->bad++;
	return e;
}
static void rd_hold(struct res *r) { conc_rwlock_rdlock(&r->rw); }
static int wr_wait(struct res *r, int64_t t)
{
	int e = t < 0 ? conc_rwlock_wrlock(&r->rw) : conc_rwlock_timedwrlock(&r->rw, t);

	if (e == 0 && conc_rwlock_unlock(&r->rw))
		r->bad++;
	return e;
}

static void queue_setup(struct res *r)
{
	conc_queue_attr a = { .capacity = 1, .max_msg = 64 };

	cr_assert_eq(conc_queue_create(&r->q, &a), 0);
}
static void queue_cleanup(struct res *r) { conc_queue_destroy(r->q); }
static int get_wait(struct res *r, int64_t t)
{
	char b[64];
	ssize_t n = conc_queue_get(r->q, b, sizeof(b), t);

	if (n == 5 && memcmp(b, "hello", 5))
		r->bad++;
	return (int)n;
}
static void get_release(struct res *r)
{
	if (conc_queue_put(r->q, "hello", 5, BOUND))
		r->bad++;
}
static void put_hold(struct res *r)
{
	if (conc_queue_put(r->q, "full", 4, 0))
		r->bad++;
}
static int put_wait(struct res *r, int64_t t)
{
	return conc_queue_put(r->q, "more", 4, t);
}
static void put_release(struct res *r)
{
	char b[64];

	if (conc_queue_get(r->q, b, sizeof(b), BOUND) != 4)
		r->bad++;
}

static void chan_setup(struct res *r) { cr_assert_eq(conc_chan_pair(&r->ca, &r->cb, 0), 0); }
static void chan_cleanup(struct res *r)
{
	conc_chan_close(r->ca);
	conc_chan_close(r->cb);
}
static int recv_wait(struct res *r, int64_t t)
{
	char b[16];

	return (int)conc_chan_recv(r->cb, b, sizeof(b), t);
}
static void recv_release(struct res *r)
{
	if (conc_chan_send(r->ca, "hi", 2, BOUND))
		r->bad++;
}

static char blob[64];

static void csend_hold(struct res *r)
{
	while (conc_chan_send(r->ca, blob, sizeof(blob), 0) == 0)
		r->extra++;
}
static int csend_wait(struct res *r, int64_t t)
{
	return conc_chan_send(r->ca, blob, sizeof(blob), t);
}
static void csend_release(struct res *r)
{
	char b[sizeof(blob)];

	/* A pipe takes writes again once whole pages of it were read. */
	while (r->extra > 0 && conc_chan_recv(r->cb, b, sizeof(b), BOUND) >= 0)
		r->extra--;
}

static int child_waits(void *arg)
{
	struct shared *sh = arg;

	return wait_flag(&sh->release, 10000) ? 9 : 1;
}
static void proc_setup(struct res *r)
{
	r->sh = shared_alloc(sizeof(*r->sh));
	cr_assert_not_null(r->sh);
	cr_assert_eq(conc_proc_start(&r->proc, child_waits, r->sh, NULL), 0);
}
static int proc_wait(struct res *r, int64_t t)
{
	int st = -1, e = conc_proc_join(r->proc, &st, t);

	if (e == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 9))
		r->bad++;
	return e;
}
static void proc_cleanup(struct res *r)
{
	conc_proc_release(r->proc);
	shared_free(r->sh, sizeof(*r->sh));
}

static int thread_waits(void *arg)
{
	struct res *r = arg;

	return conc_event_wait(&r->ev, BOUND) == 0 ? 9 : 1;
}
static void thread_setup(struct res *r)
{
	cr_assert_eq(conc_thread_start(&r->th, thread_waits, r, NULL), 0);
}
static int thread_wait(struct res *r, int64_t t)
{
	int code = -1, e = conc_thread_join(r->th, &code, t);

	if (e == 0 && code != 9)
		r->bad++;
	return e;
}

static volatile uint32_t *future_flag;

static ssize_t pool_fn(const void *arg, size_t len, void *out, size_t cap)
{
	(void)arg, (void)len;
	if (!wait_flag(future_flag, 10000) || cap < 2)
		return -EIO;
	memcpy(out, "ok", 2);
	return 2;
}
static void future_setup(struct res *r)
{
	conc_pool_attr a = { .workers = 1 };

	r->sh = shared_alloc(sizeof(*r->sh));
	cr_assert_not_null(r->sh);
	future_flag = &r->sh->release;
	cr_assert_eq(conc_pool_create(&r->pool, &a), 0);
	cr_assert_eq(conc_pool_submit(r->pool, pool_fn, NULL, 0, &r->fut), 0);
}
static int future_wait(struct res *r, int64_t t)
{
	char b[8];
	int e = conc_future_wait(r->fut, t);

	if (e == 0 && conc_future_result(r->fut, b, sizeof(b)) != 2)
		r->bad++;
	return e;
}
static void future_cleanup(struct res *r)
{
	conc_future_release(r->fut);
	cr_assert_eq(conc_pool_destroy(r->pool), 0);
	shared_free(r->sh, sizeof(*r->sh));
}

static int task_waits(void *arg)
{
	struct res *r = arg;

	return conc_event_wait(&r->ev, BOUND) == 0 ? 9 : 1;
}
static void join_hold(struct res *r)
{
	if (conc_go(&r->other[0], task_waits, r, NULL) ||
	    conc_go(&r->other[1], task_waits, r, NULL))
		r->bad++;
}
static int join_wait(struct res *r, int64_t t)
{
	int code = -1, e = conc_task_join(r->other[0], &code, t);

	if (e == 0 && code != 9)
		r->bad++;
	if (e == 0 && conc_task_join(r->other[1], NULL, BOUND))
		r->bad++;
	return e;
}
static int gather_wait(struct res *r, int64_t t)
{
	int codes[2] = { -1, -1 }, e = conc_gather(r->other, 2, codes, 0, t);

	if (e == 0 && (codes[0] != 9 || codes[1] != 9))
		r->bad++;
	return e;
}

static void pipe_setup(struct res *r)
{
	cr_assert_eq(pipe2(r->p, O_CLOEXEC), 0);
}
static void pipe_cleanup(struct res *r)
{
	close(r->p[0]);
	close(r->p[1]);
}
static int read_wait(struct res *r, int64_t t)
{
	char b[8];
	int n = (int)conc_read(r->p[0], b, sizeof(b), t);

	if (n > 0 && (n != 3 || memcmp(b, "abc", 3)))
		r->bad++;
	return n;
}
static void write_release(struct res *r)
{
	if (write(r->p[1], "abc", 3) != 3)
		r->bad++;
}
static int poll_wait(struct res *r, int64_t t)
{
	int e = conc_poll(r->p[0], POLLIN, t);

	if (e == 0 || (e > 0 && !(e & POLLIN)))
		r->bad++;
	return e;
}

static void fill_pipe(struct res *r)
{
	cr_assert_eq(pipe2(r->p, O_CLOEXEC | O_NONBLOCK), 0);
	while (write(r->p[1], blob, sizeof(blob)) > 0)
		;
	fcntl(r->p[1], F_SETFL, 0);	/* full, and blocking again */
	fcntl(r->p[0], F_SETFL, O_NONBLOCK);	/* for the drain */
}
static int write_wait(struct res *r, int64_t t)
{
	return (int)conc_write(r->p[1], "x", 1, t);
}
static void drain_pipe(struct res *r)
{
	char b[4096];

	while (read(r->p[0], b, sizeof(b)) > 0)
		;
}

static void sock_setup(struct res *r)
{
	int one = 1;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->s), 0);
	setsockopt(r->s[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
}
static void sock_cleanup(struct res *r)
{
	close(r->s[0]);
	close(r->s[1]);
}
static int recv_sock_wait(struct res *r, int64_t t)
{
	char b[8];

	return (int)conc_recv(r->s[0], b, sizeof(b), 0, t);
}
static void send_sock_release(struct res *r)
{
	if (send(r->s[1], "abc", 3, 0) != 3)
		r->bad++;
}
static void fill_sock(struct res *r)
{
	while (send(r->s[0], blob, sizeof(blob), MSG_DONTWAIT) > 0)
		;
}
static int send_sock_wait(struct res *r, int64_t t)
{
	return (int)conc_send(r->s[0], "x", 1, MSG_NOSIGNAL, t);
}
static void drain_sock(struct res *r)
{
	char b[4096];

	while (recv(r->s[1], b, sizeof(b), MSG_DONTWAIT) > 0)
		;
}

static void listen_setup(struct res *r)
{
	socklen_t len = sizeof(r->addr);

	r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(r->lfd, 0);
	r->addr.sin_family = AF_INET;
	r->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(r->lfd, (struct sockaddr *)&r->addr, sizeof(r->addr)), 0);
	cr_assert_eq(getsockname(r->lfd, (struct sockaddr *)&r->addr, &len), 0);
	cr_assert_eq(listen(r->lfd, 8), 0);
	r->s[0] = -1;
}
static void listen_cleanup(struct res *r)
{
	close(r->lfd);
	if (r->s[0] >= 0)
		close(r->s[0]);
}
static int accept_wait(struct res *r, int64_t t)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = conc_accept(r->lfd, (struct sockaddr *)&a, &len, SOCK_CLOEXEC, t);

	if (fd >= 0) {
		if (a.sin_family != AF_INET)
			r->bad++;
		close(fd);
		return 0;
	}
	return fd;
}
static void connect_release(struct res *r)
{
	r->s[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conc_connect(r->s[0], (struct sockaddr *)&r->addr, sizeof(r->addr), BOUND))
		r->bad++;
}

static int sleep_wait(struct res *r, int64_t t)
{
	int e;

	(void)r;
	if (t < 0)
		return conc_sleep(r->phase == 2 ? 1 * MS : BOUND);
	e = conc_sleep(t);
	return e == 0 ? -ETIMEDOUT : e;
}

static int blocker(void *arg)
{
	struct res *r = arg;

	return conc_event_wait(&r->ev, BOUND) == 0 ? 5 : 1;
}
static int quick(void *arg)
{
	(void)arg;
	return 42;
}
static int to_thread_wait(struct res *r, int64_t t)
{
	int ret = -1, e;

	if (r->phase == 2) {
		e = conc_to_thread(quick, NULL, &ret, -1);
		if (e == 0 && ret != 42)
			r->bad++;
		return e;
	}
	return conc_to_thread(blocker, r, &ret, t);
}

static const struct kind kinds[] = {
	{ "mutex", nothing, mutex_hold, mutex_wait, mutex_release, nothing, -ETIMEDOUT },
	{ "pmutex", pmutex_setup, nothing, pmutex_wait, pmutex_release, pmutex_cleanup, -ETIMEDOUT },
	{ "sem", nothing, nothing, sem_wait_, sem_release, nothing, -ETIMEDOUT },
	{ "event", nothing, nothing, event_wait, event_release, nothing, -ETIMEDOUT },
	{ "cond", nothing, nothing, cond_wait_, cond_release, nothing, -ETIMEDOUT },
	{ "barrier", barrier_setup, nothing, barrier_wait, barrier_release, nothing, -EPIPE },
	{ "rdlock", nothing, wr_hold, rd_wait, rw_release, nothing, -ETIMEDOUT },
	{ "wrlock", nothing, rd_hold, wr_wait, rw_release, nothing, -ETIMEDOUT },
	{ "queue_get", queue_setup, nothing, get_wait, get_release, queue_cleanup, -ETIMEDOUT },
	{ "queue_put", queue_setup, put_hold, put_wait, put_release, queue_cleanup, -ETIMEDOUT },
	{ "chan_recv", chan_setup, nothing, recv_wait, recv_release, chan_cleanup, -ETIMEDOUT },
	{ "chan_send", chan_setup, csend_hold, csend_wait, csend_release, chan_cleanup, -ETIMEDOUT },
	{ "proc_join", proc_setup, nothing, proc_wait, pmutex_release, proc_cleanup, -ETIMEDOUT },
	{ "thread_join", thread_setup, nothing, thread_wait, event_release, nothing, -ETIMEDOUT },
	{ "future_wait", future_setup, nothing, future_wait, pmutex_release, future_cleanup, -ETIMEDOUT },
	{ "task_join", nothing, join_hold, join_wait, event_release, nothing, -ETIMEDOUT },
	{ "gather", nothing, join_hold, gather_wait, event_release, nothing, -ETIMEDOUT },
	{ "read", pipe_setup, nothing, read_wait, write_release, pipe_cleanup, -ETIMEDOUT },
	{ "poll", pipe_setup, nothing, poll_wait, write_release, pipe_cleanup, -ETIMEDOUT },
	{ "write", fill_pipe, nothing, write_wait, drain_pipe, pipe_cleanup, -ETIMEDOUT },
	{ "recv", sock_setup, nothing, recv_sock_wait, send_sock_release, sock_cleanup, -ETIMEDOUT },
	{ "send", sock_setup, fill_sock, send_sock_wait, drain_sock, sock_cleanup, -ETIMEDOUT },
	{ "accept", listen_setup, nothing, accept_wait, connect_release, listen_cleanup, -ETIMEDOUT },
	{ "sleep", nothing, nothing, sleep_wait, event_release, nothing, -ETIMEDOUT },
	{ "to_thread", nothing, nothing, to_thread_wait, event_release, nothing, -ETIMEDOUT },
};

static const struct kind *cur_kind;

static int waiter(void *arg)
{
	struct res *r = arg;
	const struct kind *k = cur_kind;

	r->r[0] = k->wait(r, -1);
	r->phase = 1;
	r->ticks_before = r->ticks;
	r->r[1] = k->wait(r, 10 * MS);
	r->ticks_during = r->ticks - r->ticks_before;
	if (k->wait == barrier_wait)
		conc_barrier_init(&r->bar, 2, 0);	/* nobody waits now */
	r->phase = 2;
	conc_event_set(&r->stage);
	r->r[2] = k->wait(r, -1);
	return 0;
}

/* Counts into *arg every millisecond the loop lets it run. */
static int ticker(void *arg)
{
	int *ticks = arg;

	while (conc_sleep(1 * MS) == 0)
		(*ticks)++;
	return 0;
}

static int canceller(void *arg)
{
	return conc_task_cancel(arg);
}

static int driver(void *arg)
{
	struct res *r = arg;
	const struct kind *k = cur_kind;
	conc_task *tk;
	conc_thread *th;
	int code = -1;

	k->hold(r);
	if (conc_go(&tk, ticker, &r->ticks, NULL) || conc_go(&r->waiter, waiter, r, NULL))
		return -1;
	if (r->mode == BEFORE_FIRST_RUN) {
		if (conc_task_cancel(r->waiter))
			return -2;
	} else {
		conc_sleep(20 * MS);
		/* Still waiting: a join that only looks times out. */
		if (conc_task_join(r->waiter, NULL, 0) != -ETIMEDOUT)
			return -3;
		if (r->mode == FROM_A_THREAD) {
			if (conc_thread_start(&th, canceller, r->waiter, NULL) ||
			    conc_thread_join(th, &code, BOUND) || code)
				return -4;
		} else if (conc_task_cancel(r->waiter)) {
			return -5;
		}
	}
	if (conc_event_wait(&r->stage, BOUND))
		return -6;
	k->release(r);
	if (conc_task_join(r->waiter, &code, BOUND) || code)
		return -7;
	conc_task_cancel(tk);
	return conc_task_join(tk, NULL, BOUND) ? -8 : 0;
}

static void cancel_in(const char *name, enum mode mode)
{
	struct res r;
	size_t i;

	need_uring();
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, name))
			cur_kind = &kinds[i];
	cr_assert_not_null(cur_kind);
	memset(&r, 0, sizeof(r));
	r.mode = mode;
	cur_kind->setup(&r);
	cr_assert_eq(run(driver, &r), 0);
	cur_kind->cleanup(&r);
	cr_expect_eq(r.r[0], -ECANCELED, "%s: the cancelled wait gave %d", name, r.r[0]);
	if (cur_kind->expect_middle == -EPIPE)
		cr_expect(r.r[1] == -EPIPE || r.r[1] == -ETIMEDOUT,
			  "%s: the next timed wait gave %d", name, r.r[1]);
	else
		cr_expect_eq(r.r[1], -ETIMEDOUT, "%s: the next timed wait gave %d",
			     name, r.r[1]);
	cr_expect_geq(r.r[2], 0, "%s: the wait after the release gave %d", name, r.r[2]);
	cr_expect_eq(r.bad, 0, "%s: %d wrong results", name, r.bad);
	/* The ticker sleeps 1 ms at a time: its timer comes first. */
	if (r.r[1] == -ETIMEDOUT)
		cr_expect_gt(r.ticks_during, 0, "%s: the loop ran meanwhile", name);
}

#define CANCEL_TESTS(k)							\
	Test(loop_probe_cancel, k##_while_waiting, .timeout = 30)	\
	{ cancel_in(#k, WHILE_WAITING); }				\
	Test(loop_probe_cancel, k##_before_first_run, .timeout = 30)	\
	{ cancel_in(#k, BEFORE_FIRST_RUN); }				\
	Test(loop_probe_cancel, k##_from_a_thread, .timeout = 30)	\
	{ cancel_in(#k, FROM_A_THREAD); }

CANCEL_TESTS(mutex)
CANCEL_TESTS(pmutex)
CANCEL_TESTS(sem)
CANCEL_TESTS(event)
CANCEL_TESTS(cond)
CANCEL_TESTS(barrier)
CANCEL_TESTS(rdlock)
CANCEL_TESTS(wrlock)
CANCEL_TESTS(queue_get)
CANCEL_TESTS(queue_put)
CANCEL_TESTS(chan_recv)
CANCEL_TESTS(chan_send)
CANCEL_TESTS(proc_join)
CANCEL_TESTS(thread_join)
CANCEL_TESTS(future_wait)
CANCEL_TESTS(task_join)
CANCEL_TESTS(gather)
CANCEL_TESTS(read)
CANCEL_TESTS(poll)
CANCEL_TESTS(write)
CANCEL_TESTS(recv)
CANCEL_TESTS(send)
CANCEL_TESTS(accept)
CANCEL_TESTS(sleep)
CANCEL_TESTS(to_thread)

/* ---- The API's edges -------------------------------------------------- */

static int quick_code(void *arg)
{
	return (int)(intptr_t)arg;
}

static void never_called(void *arg)
{
	(*(int *)arg)++;
}

Test(loop_probe, outside_a_loop, .timeout = 30)
{
	conc_task *t = (conc_task *)1;
	int ret = -1, calls = 0;

	cr_assert_null(conc_task_self());
	cr_assert_null(conc_loop_self());
	cr_assert_eq(conc_go(&t, quick_code, NULL, NULL), -EINVAL);
	cr_assert_eq(conc_yield(), 0);
	cr_assert_eq(conc_sleep(-1), -EINVAL);
	cr_assert_eq(conc_sleep(0), 0);
	cr_assert_eq(conc_sleep(1 * MS), 0);
	cr_assert_eq(conc_task_cancel(NULL), -EINVAL);
	cr_assert_eq(conc_task_join(NULL, NULL, 0), -EINVAL);
	cr_assert_eq(conc_gather(NULL, 1, NULL, 0, 0), -EINVAL);
	cr_assert_eq(conc_gather(NULL, 0, NULL, 0, 0), 0);
	cr_assert_eq(conc_loop_call(NULL, never_called, &calls), -EINVAL);
	cr_assert_eq(conc_run(NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(conc_to_thread(NULL, NULL, &ret, BOUND), -EINVAL);
	cr_assert_eq(conc_to_thread(quick_code, (void *)7, &ret, BOUND), 0);
	cr_assert_eq(ret, 7);
	cr_assert_eq(calls, 0);
}

struct edges {
	conc_loop *loop;
	conc_task *given;
	conc_task *seen;
	int nested, in_call, calls;
	conc_event done;
};

static int self_check(void *arg)
{
	struct edges *e = arg;

	e->seen = conc_task_self();
	e->nested = conc_run(quick_code, NULL, NULL);
	return conc_loop_self() == e->loop ? 0 : -1;
}

static void in_call(void *arg)
{
	struct edges *e = arg;

	if (conc_task_self() && conc_loop_self() == e->loop &&
	    conc_run(quick_code, NULL, NULL) == -EBUSY && conc_sleep(1 * MS) == 0)
		e->in_call = 1;
	conc_event_set(&e->done);
}

static int in_thread(void *arg)
{
	conc_task *t;

	(void)arg;
	/* A plain thread beside the loop: no loop, no task, nothing to go on. */
	return conc_task_self() == NULL && conc_loop_self() == NULL &&
	       conc_go(&t, quick_code, NULL, NULL) == -EINVAL ? 0 : -1;
}

static int edges_main(void *arg)
{
	struct edges *e = arg;
	conc_task *t, *u;
	conc_task_attr sh = { .shared_stack = true };
	int code = -1, ret = -1;

	e->loop = conc_loop_self();
	if (!e->loop || !conc_task_self())
		return -1;
	if (conc_go(NULL, quick_code, NULL, NULL) != -EINVAL ||
	    conc_go(&t, NULL, NULL, NULL) != -EINVAL)
		return -2;
	if (conc_run(quick_code, NULL, NULL) != -EBUSY)
		return -3;
	if (conc_yield() != 0)
		return -4;
	if (conc_go(&e->given, self_check, e, NULL) ||
	    conc_task_join(e->given, &code, BOUND) || code)
		return -5;
	if (e->seen != e->given || e->nested != -EBUSY)
		return -6;
	/* The same from a shared-stack task. */
	e->nested = 0;
	if (conc_go(&e->given, self_check, e, &sh) ||
	    conc_task_join(e->given, &code, BOUND) || code)
		return -7;
	if (e->seen != e->given || e->nested != -EBUSY)
		return -8;
	if (conc_task_join(conc_task_self(), NULL, 0) != -EDEADLK)
		return -9;
	if (conc_go(&t, quick_code, (void *)3, NULL))
		return -10;
	if (conc_gather(&t, 1, NULL, 0x80, BOUND) != -EINVAL)
		return -11;
	u = NULL;
	{
		conc_task *ts[2] = { t, u };

		if (conc_gather(ts, 2, NULL, 0, BOUND) != -EINVAL)
			return -12;
	}
	/* Still joinable after both refusals. */
	if (conc_task_join(t, &code, BOUND) || code != 3)
		return -13;
	if (conc_loop_call(e->loop, in_call, e) || conc_event_wait(&e->done, BOUND))
		return -14;
	if (conc_to_thread(in_thread, NULL, &ret, BOUND) || ret)
		return -15;
	return e->in_call ? 0 : -16;
}

Test(loop_probe, inside_a_loop, .timeout = 30)
{
	struct edges e;

	need_uring();
	memset(&e, 0, sizeof(e));
	cr_assert_eq(run(edges_main, &e), 0);
	cr_assert_null(conc_loop_self());
	cr_assert_null(conc_task_self());
}

static int negative(void *arg)
{
	(void)arg;
	return -77;
}

Test(loop_probe, run_stores_a_negative_code_and_takes_null, .timeout = 30)
{
	need_uring();
	cr_assert_eq(run(negative, NULL), -77);
	cr_assert_eq(conc_run(negative, NULL, NULL), 0);
	/* A thread may run loops one after the other. */
	cr_assert_eq(run(quick_code, (void *)5), 5);
}

/* Enough stack for printf and friends by default. */
static int chatty(void *arg)
{
	char big[16384], out[512];

	(void)arg;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	return snprintf(out, sizeof(out), "%.3f %s %Lg", 3.14159, big + 16000, 2.5L);
}

static int chatty_main(void *arg)
{
	conc_task_attr a = { .name = "a name longer than fifteen bytes" };
	conc_task *t[2];
	int codes[2];

	(void)arg;
	if (conc_go(&t[0], chatty, NULL, NULL) || conc_go(&t[1], chatty, NULL, &a))
		return -1;
	if (conc_gather(t, 2, codes, 0, BOUND))
		return -2;
	return codes[0] == codes[1] ? codes[0] : -3;
}

Test(loop_probe, default_stack_runs_printf, .timeout = 30)
{
	need_uring();
	cr_assert_eq(run(chatty_main, NULL), 6 + 383 + 4);
}

/* ---- Join ------------------------------------------------------------- */

struct jt {
	conc_event go;
	int after;		/* the task ran on after a timed-out join */
	conc_task *t;
	int second;		/* what a second joiner got */
};

static int waits_go(void *arg)
{
	struct jt *j = arg;

	if (conc_event_wait(&j->go, BOUND))
		return -1;
	conc_yield();
	j->after = 1;
	return 11;
}

static int second_joiner(void *arg)
{
	struct jt *j = arg;

	j->second = conc_task_join(j->t, NULL, 10 * MS);
	return 0;
}

static int join_main(void *arg)
{
	struct jt *j = arg;
	conc_task *t, *s;
	int code = -1;

	if (conc_go(&t, waits_go, j, NULL))
		return -1;
	j->t = t;
	if (conc_task_join(t, &code, 0) != -ETIMEDOUT ||
	    conc_task_join(t, &code, 5 * MS) != -ETIMEDOUT || code != -1)
		return -2;
	/* While this task joins it, another joiner is refused. */
	if (conc_go(&s, second_joiner, j, NULL))
		return -3;
	conc_event_set(&j->go);
	if (conc_task_join(t, &code, BOUND) || code != 11 || !j->after)
		return -4;
	if (conc_task_join(s, NULL, BOUND))
		return -5;
	if (j->second != -EINVAL && j->second != 0)
		return -6;
	/* A task that already ended: a join that only looks gets it. */
	if (conc_go(&t, quick_code, (void *)4, NULL) || conc_sleep(1 * MS) ||
	    conc_task_join(t, &code, 0) || code != 4)
		return -7;
	return j->second;
}

Test(loop_probe, join_timeout_leaves_the_task_running_and_joinable, .timeout = 30)
{
	struct jt j;

	need_uring();
	memset(&j, 0, sizeof(j));
	/* The second joiner came while the first one waited: refused. */
	cr_assert_eq(run(join_main, &j), -EINVAL);
}

/* A task that returns while others wait on it: its joiner, and tasks that
 * wait on an event it sets just before returning. */
struct ret_wait {
	conc_event ev;
	int woke;
};

static int sets_and_returns(void *arg)
{
	struct ret_wait *w = arg;

	conc_event_set(&w->ev);
	return 21;
}

static int event_waiter(void *arg)
{
	struct ret_wait *w = arg;

	if (conc_event_wait(&w->ev, BOUND) == 0)
		w->woke++;
	return 0;
}

static int returns_main(void *arg)
{
	struct ret_wait *w = arg;
	conc_task *ws[8], *t;
	int code = -1, i;

	for (i = 0; i < 8; i++)
		if (conc_go(&ws[i], event_waiter, w, NULL))
			return -1;
	conc_yield();		/* they all wait now */
	if (conc_go(&t, sets_and_returns, w, NULL))
		return -2;
	if (conc_task_join(t, &code, BOUND) || code != 21)
		return -3;
	if (conc_gather(ws, 8, NULL, 0, BOUND))
		return -4;
	return w->woke;
}

Test(loop_probe, a_task_returns_while_others_wait_on_it, .timeout = 30)
{
	struct ret_wait w;

	need_uring();
	memset(&w, 0, sizeof(w));
	cr_assert_eq(run(returns_main, &w), 8);
}

/* A plain thread joins a task; the loop's main returns meanwhile, so
 * conc_run cancels the task (which finishes anyway) and the thread's join
 * gets its code, its handle freed by the thread. */
struct far_join {
	conc_task *t;
	conc_thread *th;
	int code, r;
};

static int slow_task(void *arg)
{
	(void)arg;
	/* Cancelled by the end of the loop; its next call works. */
	if (conc_sleep(BOUND) != -ECANCELED)
		return 1;
	conc_sleep(2 * MS);
	return 31;
}

static int far_joiner(void *arg)
{
	struct far_join *f = arg;
	int i;

	/* -EINVAL: main was looking (below); look again. */
	for (i = 0; i < 10000; i++) {
		f->r = conc_task_join(f->t, &f->code, BOUND);
		if (f->r != -EINVAL)
			break;
		sleep_ns(100000);
	}
	return 0;
}

static int far_main(void *arg)
{
	struct far_join *f = arg;
	int i;

	if (conc_go(&f->t, slow_task, f, NULL) ||
	    conc_thread_start(&f->th, far_joiner, f, NULL))
		return -1;
	/* Return once the thread is joining: a second join is refused. */
	for (i = 0; i < 10000; i++) {
		if (conc_task_join(f->t, NULL, 0) == -EINVAL)
			return 0;
		conc_sleep(100000);
	}
	return -2;
}

Test(loop_probe, a_plain_thread_joins_while_the_loop_ends, .timeout = 60)
{
	int i;

	need_uring();
	for (i = 0; i < 20; i++) {
		struct far_join f = { .code = -1, .r = -1 };

		cr_assert_eq(run(far_main, &f), 0);
		cr_assert_eq(conc_thread_join(f.th, NULL, BOUND), 0);
		cr_assert_eq(f.r, 0);
		cr_assert_eq(f.code, 31);
	}
}

/* ---- Gather ----------------------------------------------------------- */

struct gt {
	conc_event ev;
	conc_sem never;
	int ran_on;		/* a plain gather let the others finish */
};

static int fails_late(void *arg)
{
	(void)arg;
	conc_sleep(30 * MS);
	return -7;
}

static int fails_at_once(void *arg)
{
	(void)arg;
	return -3;
}

static int finishes(void *arg)
{
	struct gt *g = arg;

	conc_sleep(10 * MS);
	g->ran_on = 1;
	return 1;
}

static int plain_gather_main(void *arg)
{
	struct gt *g = arg;
	conc_task *ts[3];
	int codes[3] = { 0, 0, 0 }, r;

	if (conc_go(&ts[0], fails_late, g, NULL) ||
	    conc_go(&ts[1], fails_at_once, g, NULL) ||
	    conc_go(&ts[2], finishes, g, NULL))
		return -100;
	r = conc_gather(ts, 3, codes, 0, BOUND);
	if (codes[0] != -7 || codes[1] != -3 || codes[2] != 1 || !g->ran_on)
		return -101;
	return r;
}

Test(loop_probe, gather_returns_the_first_negative_in_the_order_of_ts, .timeout = 30)
{
	struct gt g;

	need_uring();
	memset(&g, 0, sizeof(g));
	/* ts[1] failed first in time; ts[0] comes first in ts. */
	cr_assert_eq(run(plain_gather_main, &g), -7);
}

static int sleeps_then_100(void *arg)
{
	(void)arg;
	return conc_sleep(BOUND) == -ECANCELED ? 100 : 1;
}

static int sem_then_200(void *arg)
{
	struct gt *g = arg;

	return conc_sem_wait(&g->never) == -ECANCELED ? 200 : 2;
}

static int fails_soon(void *arg)
{
	(void)arg;
	conc_sleep(10 * MS);
	return -5;
}

static int cancel_gather_main(void *arg)
{
	struct gt *g = arg;
	conc_task *ts[4];
	int codes[4] = { 0, 0, 0, -1 }, r;

	if (conc_go(&ts[3], quick_code, NULL, NULL))
		return -100;
	conc_yield();		/* ts[3] has ended: gathered all the same */
	if (conc_go(&ts[0], sleeps_then_100, g, NULL) ||
	    conc_go(&ts[1], fails_soon, g, NULL) ||
	    conc_go(&ts[2], sem_then_200, g, NULL))
		return -101;
	r = conc_gather(ts, 4, codes, CONC_GATHER_CANCEL, BOUND);
	if (codes[0] != 100 || codes[1] != -5 || codes[2] != 200 || codes[3] != 0)
		return -102;
	return r;
}

Test(loop_probe, gather_cancel_fills_every_code, .timeout = 30)
{
	struct gt g;
	int64_t t0 = own_now_ns();	/* load does not count (own_clock.h) */

	need_uring();
	memset(&g, 0, sizeof(g));
	cr_assert_eq(run(cancel_gather_main, &g), -5);
	cr_assert_lt(own_now_ns() - t0, BOUND, "the others were cancelled, not waited out");
}

/* With CONC_GATHER_CANCEL the order of ts still decides: a task cancelled
 * by the gather that returns -ECANCELED comes before the one that failed. */
static int sleeps_then_ecanceled(void *arg)
{
	(void)arg;
	return conc_sleep(BOUND);
}

static int cancel_order_main(void *arg)
{
	conc_task *ts[2];
	int codes[2] = { 0, 0 }, r;

	(void)arg;
	if (conc_go(&ts[0], sleeps_then_ecanceled, NULL, NULL) ||
	    conc_go(&ts[1], fails_soon, NULL, NULL))
		return -100;
	r = conc_gather(ts, 2, codes, CONC_GATHER_CANCEL, BOUND);
	if (codes[0] != -ECANCELED || codes[1] != -5)
		return -101;
	return r;
}

Test(loop_probe, gather_cancel_first_negative_in_order_of_ts, .timeout = 30)
{
	need_uring();
	cr_assert_eq(run(cancel_order_main, NULL), -ECANCELED);
}

static int waits_ev_then(void *arg)
{
	struct gt *g = arg;

	return conc_event_wait(&g->ev, BOUND) == 0 ? 2 : -1;
}

/* Cancelled, it cleans up for a while (its later calls work) first. */
static int slow_to_cancel(void *arg)
{
	(void)arg;
	if (conc_sleep(BOUND) != -ECANCELED)
		return 1;
	return conc_sleep(60 * MS) == 0 ? 7 : 8;
}

static int gather_timeout_main(void *arg)
{
	struct gt *g = arg;
	conc_task *ts[2];
	int codes[2] = { 0, 0 }, code = -1;

	if (conc_go(&ts[0], quick_code, (void *)1, NULL) ||
	    conc_go(&ts[1], waits_ev_then, g, NULL))
		return -1;
	if (conc_gather(ts, 2, codes, 0, 20 * MS) != -ETIMEDOUT)
		return -2;
	/* Nothing was freed: each handle still joins. */
	if (conc_task_join(ts[0], &code, BOUND) || code != 1)
		return -3;
	conc_event_set(&g->ev);
	if (conc_gather(&ts[1], 1, codes, 0, BOUND) || codes[0] != 2)
		return -4;
	/* With CONC_GATHER_CANCEL: the cancelled one takes longer than the
	 * timeout to end; it stays joinable, and a second gather gets all. */
	if (conc_go(&ts[0], fails_soon, NULL, NULL) ||
	    conc_go(&ts[1], slow_to_cancel, NULL, NULL))
		return -5;
	if (conc_gather(ts, 2, codes, CONC_GATHER_CANCEL, 30 * MS) != -ETIMEDOUT)
		return -6;
	/* Without the flag: a second cancel would cut its clean-up short. */
	if (conc_gather(ts, 2, codes, 0, BOUND) != -5)
		return -7;
	return codes[0] == -5 && codes[1] == 7 ? 0 : -8;
}

Test(loop_probe, gather_timeout_frees_nothing, .timeout = 30)
{
	struct gt g;

	need_uring();
	memset(&g, 0, sizeof(g));
	int r = run(gather_timeout_main, &g);
	cr_assert_eq(r, 0, "%d", r);
}

/* The loop's thread is held up past both a task's failure and the
 * gather's deadline, so both come in one batch: the gather times out, and
 * still cancels the others (the failure came first). */
static int holds_the_thread(void *arg)
{
	(void)arg;
	sleep_ns(50 * MS);
	return 0;
}

static int late_batch_main(void *arg)
{
	conc_task *ts[2], *h;
	int codes[2] = { 0, 0 };

	(void)arg;
	if (conc_go(&ts[0], fails_soon, NULL, NULL) ||
	    conc_go(&ts[1], slow_to_cancel, NULL, NULL) ||
	    conc_go(&h, holds_the_thread, NULL, NULL))
		return -1;
	if (conc_gather(ts, 2, codes, CONC_GATHER_CANCEL, 20 * MS) != -ETIMEDOUT)
		return -2;
	if (conc_gather(ts, 2, codes, 0, BOUND) != -5 || conc_task_join(h, NULL, BOUND))
		return -3;
	return codes[1];
}

Test(loop_probe, gather_cancel_when_the_failure_and_the_deadline_come_together, .timeout = 30)
{
	need_uring();
	/* 7: cancelled, it cleaned up; 1 would mean it slept its 10 s out. */
	cr_assert_eq(run(late_batch_main, NULL), 7);
}

/* Gather from a plain thread, with CONC_GATHER_CANCEL. */
struct far_gather {
	conc_task *ts[3];
	int codes[3], r;
	conc_sem never;
};

static int far_gatherer(void *arg)
{
	struct far_gather *f = arg;

	f->r = conc_gather(f->ts, 3, f->codes, CONC_GATHER_CANCEL, BOUND);
	return 0;
}

static int far_gather_main(void *arg)
{
	struct far_gather *f = arg;
	conc_thread *th;

	if (conc_go(&f->ts[0], sleeps_then_100, NULL, NULL) ||
	    conc_go(&f->ts[1], fails_soon, NULL, NULL) ||
	    conc_go(&f->ts[2], sem_then_200, (void *)((char *)f -
			offsetof(struct gt, never) + offsetof(struct far_gather, never)), NULL))
		return -1;
	if (conc_thread_start(&th, far_gatherer, f, NULL))
		return -2;
	return conc_thread_join(th, NULL, BOUND);
}

Test(loop_probe, gather_from_a_plain_thread, .timeout = 30)
{
	struct far_gather f;

	need_uring();
	memset(&f, 0, sizeof(f));
	cr_assert_eq(run(far_gather_main, &f), 0);
	cr_assert_eq(f.r, -5);
	cr_assert_eq(f.codes[0], 100);
	cr_assert_eq(f.codes[1], -5);
	cr_assert_eq(f.codes[2], 200);
}

/* ---- Cancel: more edges ------------------------------------------------ */

static int never_suspends(void *arg)
{
	(void)arg;
	return 3;
}

static int twice(void *arg)
{
	int *second = arg;
	int first = conc_sleep(BOUND);

	*second = conc_sleep(1 * MS);
	return first;
}

static int self_cancel(void *arg)
{
	int *second = arg;
	int first;

	conc_task_cancel(conc_task_self());
	first = conc_sleep(BOUND);
	*second = conc_sleep(1 * MS);
	return first;
}

static int cancel_edges_main(void *arg)
{
	conc_task *t;
	int code = -1, second = -1;

	(void)arg;
	/* A task that never suspends keeps its code; cancel after its end
	 * (not yet joined) is fine. */
	if (conc_go(&t, never_suspends, NULL, NULL) || conc_task_cancel(t))
		return -1;
	conc_yield();
	if (conc_task_cancel(t) || conc_task_join(t, &code, BOUND) || code != 3)
		return -2;
	/* Two cancels before it waits: one -ECANCELED. */
	if (conc_go(&t, twice, &second, NULL))
		return -3;
	conc_task_cancel(t);
	conc_task_cancel(t);
	if (conc_task_join(t, &code, BOUND) || code != -ECANCELED || second != 0)
		return -4;
	/* Two cancels while it waits: the same. */
	second = -1;
	if (conc_go(&t, twice, &second, NULL))
		return -5;
	conc_sleep(5 * MS);
	conc_task_cancel(t);
	conc_task_cancel(t);
	if (conc_task_join(t, &code, BOUND) || code != -ECANCELED || second != 0)
		return -6;
	second = -1;
	if (conc_go(&t, self_cancel, &second, NULL) ||
	    conc_task_join(t, &code, BOUND) || code != -ECANCELED || second != 0)
		return -7;
	/* The main task itself. */
	conc_task_cancel(conc_task_self());
	if (conc_sleep(BOUND) != -ECANCELED || conc_sleep(1 * MS) != 0)
		return -8;
	return 0;
}

Test(loop_probe, cancel_edges, .timeout = 30)
{
	need_uring();
	int r = run(cancel_edges_main, NULL);
	cr_assert_eq(r, 0, "%d", r);
}

/* A cancel racing the wake-up it would interrupt: of the wait and the
 * suspending call after it, exactly one says -ECANCELED (a cancel is never
 * lost nor given twice), and what the wake-up offered is taken once: by
 * the wait, or (when the cancel won) by a look afterwards. */
enum { R_SEM, R_EVENT, R_QUEUE, R_PIPE, R_MUTEX, R_CHAN, R_JOIN, R_ONCE,
       R_THREAD, R_KINDS };

struct race {
	int kind;
	conc_sem sem;
	conc_event ev, go;
	conc_mutex m;
	conc_queue *q;
	conc_chan *ca, *cb;
	conc_task *target;
	conc_once_t once;	/* R_ONCE: run by race_target, fresh each round */
	conc_thread *th;	/* R_THREAD: waits for go */
	int p[2];
	int r[3], bad;
};

static struct race *race_now;	/* for the once function (no argument) */

static void race_once_fn(void)
{
	conc_event_wait(&race_now->go, BOUND);
}

static int race_thread(void *arg)
{
	struct race *x = arg;

	return conc_event_wait(&x->go, BOUND) ? -1 : 4;
}

static int race_target(void *arg)
{
	struct race *x = arg;

	if (x->kind == R_ONCE)
		return conc_once(&x->once, race_once_fn) ? -1 : 4;
	return conc_event_wait(&x->go, BOUND) ? -1 : 4;
}

static int race_wait(struct race *x, int64_t t)
{
	char b[8];
	int r, code = -1;

	switch (x->kind) {
	case R_SEM:
		return t < 0 ? conc_sem_wait(&x->sem) : conc_sem_timedwait(&x->sem, t);
	case R_EVENT:
		return conc_event_wait(&x->ev, t);
	case R_QUEUE:
		return (int)conc_queue_get(x->q, b, sizeof(b), t);
	case R_PIPE:
		return (int)conc_read(x->p[0], b, sizeof(b), t);
	case R_MUTEX:
		r = t < 0 ? conc_mutex_lock(&x->m) : conc_mutex_timedlock(&x->m, t);
		if (r == 0)
			conc_mutex_unlock(&x->m);
		return r;
	case R_CHAN:
		return (int)conc_chan_recv(x->cb, b, sizeof(b), t);
	case R_ONCE:
		return conc_once_timed(&x->once, race_once_fn, t);
	case R_THREAD:
		r = conc_thread_join(x->th, &code, t);
		if (r == 0 && code != 4)
			x->bad += 100000;
		return r;
	default:
		r = conc_task_join(x->target, &code, t);
		if (r == 0 && code != 4)
			x->bad += 100000;
		return r;
	}
}

static void race_give(struct race *x)
{
	switch (x->kind) {
	case R_SEM: conc_sem_post(&x->sem); break;
	case R_EVENT: conc_event_set(&x->ev); break;
	case R_QUEUE: conc_queue_put(x->q, "m", 1, BOUND); break;
	case R_PIPE: if (write(x->p[1], "m", 1) != 1) x->bad += 100000; break;
	case R_MUTEX: conc_mutex_unlock(&x->m); break;
	case R_CHAN: conc_chan_send(x->ca, "m", 1, BOUND); break;
	default: conc_event_set(&x->go);
	}
}

static int race_waiter(void *arg)
{
	struct race *x = arg;

	x->r[0] = race_wait(x, -1);
	x->r[1] = conc_sleep(1 * MS);
	return 0;
}

static int race_main(void *arg)
{
	struct race *x = arg;
	conc_task *w;
	int i;

	for (i = 0; i < 200; i++) {
		conc_event_clear(&x->ev);
		conc_event_clear(&x->go);
		if (x->kind == R_MUTEX)
			conc_mutex_lock(&x->m);
		if ((x->kind == R_JOIN || x->kind == R_ONCE) &&
		    conc_go(&x->target, race_target, x, NULL))
			return -1;
		if (x->kind == R_ONCE)
			conc_yield();	/* the target runs fn, which waits */
		if (x->kind == R_THREAD &&
		    conc_thread_start(&x->th, race_thread, x, NULL))
			return -1;
		if (conc_go(&w, race_waiter, x, NULL))
			return -2;
		if (i % 2)
			conc_yield();		/* sometimes it waits already */
		race_give(x);
		conc_task_cancel(w);
		if (conc_task_join(w, NULL, BOUND))
			return -3;
		if ((x->r[0] == -ECANCELED) + (x->r[1] == -ECANCELED) != 1)
			x->bad++;
		/* Whatever the wait did not take is still there. */
		x->r[2] = x->r[0] < 0 ? race_wait(x, x->kind == R_JOIN ||
						      x->kind == R_THREAD ||
						      x->kind == R_ONCE ? BOUND : 0) : -1;
		if (x->kind == R_ONCE &&
		    (conc_task_join(x->target, NULL, BOUND) ||
		     conc_once_timed(&x->once, race_once_fn, 0)))
			x->bad += 1000;
		if (x->kind == R_ONCE)
			memset(&x->once, 0, sizeof(x->once));
		if (x->kind != R_EVENT && x->kind != R_MUTEX && x->kind != R_ONCE &&
		    (x->r[0] >= 0) + (x->r[2] >= 0) != 1)
			x->bad += 1000;
		if (x->kind == R_MUTEX && conc_mutex_trylock(&x->m) == 0)
			conc_mutex_unlock(&x->m);
	}
	return x->bad;
}

static void race(int kind)
{
	struct race x;
	int r;

	need_uring();
	memset(&x, 0, sizeof(x));
	x.kind = kind;
	race_now = &x;
	if (kind == R_THREAD && conc_thread_support(NULL) < 0)
		cr_skip_test("no conc threads here");
	cr_assert_eq(conc_queue_create(&x.q, NULL), 0);
	cr_assert_eq(conc_chan_pair(&x.ca, &x.cb, 0), 0);
	cr_assert_eq(pipe2(x.p, O_CLOEXEC), 0);
	r = run(race_main, &x);
	cr_assert_eq(r, 0, "%d (1: a cancel lost or doubled, 1000: an item lost)", r);
	conc_queue_destroy(x.q);
	conc_chan_close(x.ca);
	conc_chan_close(x.cb);
	close(x.p[0]);
	close(x.p[1]);
}

Test(loop_probe, cancel_racing_a_sem_post, .timeout = 60) { race(R_SEM); }
Test(loop_probe, cancel_racing_an_event_set, .timeout = 60) { race(R_EVENT); }
Test(loop_probe, cancel_racing_a_queue_put, .timeout = 60) { race(R_QUEUE); }
Test(loop_probe, cancel_racing_a_pipe_write, .timeout = 60) { race(R_PIPE); }
Test(loop_probe, cancel_racing_a_mutex_unlock, .timeout = 60) { race(R_MUTEX); }
Test(loop_probe, cancel_racing_a_chan_send, .timeout = 60) { race(R_CHAN); }
Test(loop_probe, cancel_racing_the_end_of_a_joined_task, .timeout = 60) { race(R_JOIN); }
Test(loop_probe, cancel_racing_the_end_of_a_once_function, .timeout = 60) { race(R_ONCE); }
Test(loop_probe, cancel_racing_the_end_of_a_joined_thread, .timeout = 60) { race(R_THREAD); }

/* ---- conc_run's end ------------------------------------------------------ */

struct ending {
	conc_sem never;
	int finished, cancelled, late_ran, slow_done;
};

static int ends_by_cancel(void *arg)
{
	struct ending *e = arg;

	if (conc_sem_wait(&e->never) == -ECANCELED)
		__atomic_fetch_add(&e->cancelled, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&e->finished, 1, __ATOMIC_RELAXED);
	return 0;
}

static int late(void *arg)
{
	struct ending *e = arg;

	/* Made while the loop winds down: runs, cancelled from the start. */
	if (conc_sleep(BOUND) == -ECANCELED)
		e->late_ran = 1;
	return 0;
}

static int starts_late(void *arg)
{
	struct ending *e = arg;
	conc_task *t;

	if (conc_sleep(BOUND) == -ECANCELED)
		conc_go(&t, late, e, NULL);	/* nobody joins it either */
	return 0;
}

static int cleans_up_slowly(void *arg)
{
	struct ending *e = arg;

	if (conc_sleep(BOUND) != -ECANCELED)
		return 1;
	/* Its later calls work: conc_run waits for them. */
	if (conc_sleep(30 * MS) == 0)
		e->slow_done = 1;
	return 0;
}

static int leaves_tasks(void *arg)
{
	struct ending *e = arg;
	conc_task_attr sh = { .shared_stack = true };
	conc_task *t;
	int i;

	for (i = 0; i < 100; i++)
		if (conc_go(&t, ends_by_cancel, e, i % 2 ? &sh : NULL))
			return -1;
	if (conc_go(&t, starts_late, e, NULL) ||
	    conc_go(&t, cleans_up_slowly, e, NULL))
		return -2;
	conc_sleep(5 * MS);
	return 3;
}

Test(loop_probe, tasks_nobody_joins_are_cancelled_and_joined_at_the_end, .timeout = 30)
{
	struct ending e;

	need_uring();
	memset(&e, 0, sizeof(e));
	cr_assert_eq(run(leaves_tasks, &e), 3);
	cr_assert_eq(e.finished, 100);
	cr_assert_eq(e.cancelled, 100);
	cr_assert(e.late_ran);
	cr_assert(e.slow_done);
}

/* ---- conc_loop_call ---------------------------------------------------- */

/* Four threads call into a loop while it ends: every call is either
 * refused (-EPIPE) or runs, as a task, before conc_run returns. */
struct calls {
	conc_loop *loop;
	uint32_t started, returned;
	int accepted, late, refused, ran, bad;
};

static void counted(void *arg)
{
	struct calls *c = arg;

	if (!conc_task_self() || conc_loop_self() != c->loop)
		c->bad++;
	/* A call that came while the loop ends is cancelled from the start:
	 * its first sleep ends at once, the second one sleeps. */
	conc_sleep(1 * MS);
	conc_sleep(1 * MS);
	c->ran++;
}

static int hammer(void *arg)
{
	struct calls *c = arg;
	conc_loop *l = NULL;
	int i, r = 0;

	for (i = 0; i < 10000 && !(l = __atomic_load_n(&c->loop, __ATOMIC_ACQUIRE)); i++)
		sleep_ns(1000000);
	__atomic_fetch_add(&c->started, 1, __ATOMIC_RELEASE);
	/* Calls keep coming, so the loop always has a task alive: the end
	 * must refuse them, not wait for the callers to stop. */
	for (i = 0; i < 20000; i++) {
		r = conc_loop_call(l, counted, c);
		if (r)
			break;
		__atomic_fetch_add(&c->accepted, 1, __ATOMIC_RELAXED);
		if (__atomic_load_n(&c->returned, __ATOMIC_ACQUIRE))
			__atomic_fetch_add(&c->late, 1, __ATOMIC_RELAXED);
		sleep_ns(100000);
	}
	if (r == -EPIPE)
		__atomic_fetch_add(&c->refused, 1, __ATOMIC_RELAXED);
	return r;
}

static int calls_main(void *arg)
{
	struct calls *c = arg;
	int i;

	__atomic_store_n(&c->loop, conc_loop_self(), __ATOMIC_RELEASE);
	for (i = 0; i < 1000 && __atomic_load_n(&c->started, __ATOMIC_ACQUIRE) < 4; i++)
		conc_sleep(1 * MS);
	conc_sleep(10 * MS);
	__atomic_store_n(&c->returned, 1, __ATOMIC_RELEASE);
	return 0;
}

Test(loop_probe, loop_call_from_threads_while_the_loop_ends, .timeout = 60)
{
	struct calls c;
	conc_thread *th[4];
	int i, calls = 0, code;

	need_uring();
	memset(&c, 0, sizeof(c));
	/* The threads wait until the loop is published. */
	for (i = 0; i < 4; i++)
		cr_assert_eq(conc_thread_start(&th[i], hammer, &c, NULL), 0);
	cr_assert_eq(run(calls_main, &c), 0);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(conc_thread_join(th[i], &code, BOUND), 0);
		cr_assert_eq(code, -EPIPE);
	}
	cr_assert_eq(c.bad, 0);
	cr_assert_eq(c.ran, c.accepted, "every accepted call ran: %d of %d",
		     c.ran, c.accepted);
	/* Calls that came after main returned are refused, but for the few
	 * already on their way (each caller sleeps 0.1 ms between calls). */
	cr_assert_lt(c.late, 2000, "%d calls accepted after main returned", c.late);
	cr_assert_eq(conc_loop_call(c.loop, never_called, &calls), -EPIPE);
	cr_assert_eq(calls, 0);
}

/* ---- I/O: the same calls inside and outside a loop ------------------------ */

static char big[1 << 20];

/* Every check, run both in a plain thread and in a task: 0, or the
 * number of the check that failed. */
static int io_suite(void)
{
	int p[2], s[2], l, c, a, one = 1, n;
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	char b[100];
	int r = 0;

	if (pipe2(p, O_CLOEXEC) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s))
		return 1;
	/* Timeouts: -ETIMEDOUT, conc_poll never 0, also for 0 ("only try"). */
	if (conc_read(p[0], b, sizeof(b), 20 * MS) != -ETIMEDOUT)
		r = r ? r : 2;
	if (conc_read(p[0], b, sizeof(b), 0) != -ETIMEDOUT)
		r = r ? r : 3;
	if (conc_poll(p[0], POLLIN, 20 * MS) != -ETIMEDOUT)
		r = r ? r : 4;
	if (conc_poll(p[0], POLLIN, 0) != -ETIMEDOUT)
		r = r ? r : 5;
	if (conc_recv(s[0], b, sizeof(b), 0, 20 * MS) != -ETIMEDOUT)
		r = r ? r : 6;
	/* Nothing to read or write: 0 at once, as read(2) and write(2). */
	if (conc_read(p[0], b, 0, 20 * MS) != 0 || conc_write(p[1], b, 0, 20 * MS) != 0)
		r = r ? r : 25;
	/* Short reads are returned as such; ready data with timeout 0. */
	if (write(p[1], "abc", 3) != 3)
		r = r ? r : 7;
	if (!(conc_poll(p[0], POLLIN, 0) & POLLIN))
		r = r ? r : 8;
	if (conc_read(p[0], b, sizeof(b), 0) != 3 || memcmp(b, "abc", 3))
		r = r ? r : 9;
	if (!(conc_poll(p[1], POLLOUT, 0) & POLLOUT))
		r = r ? r : 10;
	if (conc_send(s[1], "hello", 5, 0, BOUND) != 5 ||
	    conc_recv(s[0], b, sizeof(b), 0, BOUND) != 5 || memcmp(b, "hello", 5))
		r = r ? r : 11;
	if (conc_write(p[1], "xy", 2, BOUND) != 2 || conc_read(p[0], b, 1, BOUND) != 1 ||
	    conc_read(p[0], b + 1, 10, BOUND) != 1 || memcmp(b, "xy", 2))
		r = r ? r : 12;
	/* A write larger than the pipe, nobody reading: the timeout holds
	 * (a short count, or -ETIMEDOUT), the call does not hang. */
	n = (int)conc_write(p[1], big, sizeof(big), 50 * MS);
	if (!(n == -ETIMEDOUT || (n > 0 && n < (int)sizeof(big))))
		r = r ? r : 13;
	setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
	n = (int)conc_send(s[0], big, sizeof(big), MSG_NOSIGNAL, 50 * MS);
	if (!(n == -ETIMEDOUT || (n > 0 && n < (int)sizeof(big))))
		r = r ? r : 14;
	/* End of file, a closed reader, bad fds. */
	close(p[1]);
	while ((n = (int)conc_read(p[0], big, sizeof(big), 0)) > 0)
		;
	if (n != 0 || conc_read(p[0], b, sizeof(b), BOUND) != 0)
		r = r ? r : 15;
	if (!(conc_poll(p[0], POLLIN, BOUND) & POLLHUP))
		r = r ? r : 16;
	close(s[1]);
	if (conc_send(s[0], "x", 1, MSG_NOSIGNAL, BOUND) != -EPIPE)
		r = r ? r : 17;
	close(p[0]);
	close(s[0]);
	if (conc_read(p[0], b, sizeof(b), BOUND) != -EBADF ||
	    conc_read(-1, b, sizeof(b), BOUND) != -EBADF ||
	    conc_write(p[1], "x", 1, BOUND) != -EBADF)
		r = r ? r : 18;
	n = conc_poll(p[0], POLLIN, BOUND);
	if (n != -EBADF && n != POLLNVAL)
		r = r ? r : 19;
	/* A listener: accept times out, then a connect is accepted. */
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&addr, sizeof(addr)) || listen(l, 4) ||
	    getsockname(l, (struct sockaddr *)&addr, &len))
		return 20;
	if (conc_accept(l, NULL, NULL, 0, 20 * MS) != -ETIMEDOUT)
		r = r ? r : 21;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conc_connect(c, (struct sockaddr *)&addr, sizeof(addr), BOUND))
		r = r ? r : 22;
	len = sizeof(addr);
	a = conc_accept(l, (struct sockaddr *)&addr, &len, SOCK_CLOEXEC, BOUND);
	if (a < 0 || len != sizeof(addr) || addr.sin_family != AF_INET)
		r = r ? r : 23;
	if (a >= 0 && (conc_send(a, "ok", 2, 0, BOUND) != 2 ||
		       conc_recv(c, b, sizeof(b), 0, BOUND) != 2))
		r = r ? r : 24;
	close(a);
	close(c);
	close(l);
	return r;
}

static int io_in_task(void *arg)
{
	(void)arg;
	return io_suite();
}

/* The same from a shared-stack task: its buffers are on a stack that is
 * copied out while it waits. */
static int io_in_shared(void *arg)
{
	conc_task_attr sh = { .shared_stack = true };
	conc_task *t;
	int code = -1;

	(void)arg;
	if (conc_go(&t, io_in_task, NULL, &sh) || conc_task_join(t, &code, BOUND))
		return -1;
	return code;
}

Test(loop_probe, io_outside_a_loop_blocks_with_timeouts, .timeout = 30)
{
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(io_suite(), 0);
}

Test(loop_probe, io_inside_a_loop_the_same, .timeout = 30)
{
	need_uring();
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(run(io_in_task, NULL), 0);
	cr_assert_eq(run(io_in_shared, NULL), 0);
}

/* ---- Shared-stack tasks doing I/O into their stack buffers --------------- */

#define SHARERS	16
#define ROUNDS	20

struct echo {
	int s[SHARERS][2];
	int lfd;
	struct sockaddr_in addr;
	int bad;
};

struct sharer {
	struct echo *e;
	int i;
};

/* Each round: poll, read a message into a stack buffer, check it, echo it
 * back from that buffer; the other tasks run (and use the shared stack)
 * between. */
static int sharer(void *arg)
{
	struct sharer *sh = arg;
	int fd = sh->e->s[sh->i][1], r;
	char buf[300];
	int ret = -1;

	for (r = 0; r < ROUNDS; r++) {
		char want[300];
		ssize_t n;

		memset(want, 'a' + (sh->i + r) % 26, sizeof(want));
		if (!(conc_poll(fd, POLLIN, BOUND) & POLLIN))
			return -1;
		n = r % 2 ? conc_read(fd, buf, sizeof(buf), BOUND) :
			    conc_recv(fd, buf, sizeof(buf), MSG_WAITALL, BOUND);
		if (n != (ssize_t)sizeof(buf) || memcmp(buf, want, sizeof(buf)))
			return -2;
		conc_yield();
		if ((r % 2 ? conc_write(fd, buf, sizeof(buf), BOUND) :
			     conc_send(fd, buf, sizeof(buf), 0, BOUND)) != (ssize_t)sizeof(buf))
			return -3;
	}
	/* A blocking call on a thread, its result stored on this stack. */
	if (conc_to_thread(quick_code, (void *)(intptr_t)sh->i, &ret, BOUND) || ret != sh->i)
		return -4;
	return sh->i;
}

/* Accept into a sockaddr on the shared stack while others run. */
static int shared_acceptor(void *arg)
{
	struct echo *e = arg;
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	char b[8];
	int fd;

	memset(&peer, 0, sizeof(peer));
	fd = conc_accept(e->lfd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC, BOUND);
	if (fd < 0)
		return -1;
	if (len != sizeof(peer) || peer.sin_family != AF_INET ||
	    peer.sin_addr.s_addr != htonl(INADDR_LOOPBACK) ||
	    conc_recv(fd, b, sizeof(b), 0, BOUND) != 4 || memcmp(b, "ping", 4))
		fd = -fd - 100;
	close(fd);
	return fd >= 0 ? 0 : -2;
}

static int echo_main(void *arg)
{
	struct echo *e = arg;
	conc_task_attr sa = { .shared_stack = true };
	conc_task *ts[SHARERS + 1];
	struct sharer sh[SHARERS];
	int codes[SHARERS + 1], i, r, c;

	for (i = 0; i < SHARERS; i++) {
		sh[i].e = e;
		sh[i].i = i;
		if (conc_go(&ts[i], sharer, &sh[i], &sa))
			return -1;
	}
	if (conc_go(&ts[SHARERS], shared_acceptor, e, &sa))
		return -2;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conc_connect(c, (struct sockaddr *)&e->addr, sizeof(e->addr), BOUND) ||
	    conc_send(c, "ping", 4, 0, BOUND) != 4)
		return -3;
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < SHARERS; i++) {
			char msg[300];

			memset(msg, 'a' + (i + r) % 26, sizeof(msg));
			if (conc_send(e->s[i][0], msg, sizeof(msg), 0, BOUND) != (ssize_t)sizeof(msg))
				return -4;
		}
		for (i = 0; i < SHARERS; i++) {
			char back[300], want[300];

			memset(want, 'a' + (i + r) % 26, sizeof(want));
			if (conc_recv(e->s[i][0], back, sizeof(back), MSG_WAITALL, BOUND) !=
			    (ssize_t)sizeof(back) || memcmp(back, want, sizeof(back)))
				return -5;
		}
	}
	if (conc_gather(ts, SHARERS + 1, codes, 0, BOUND))
		return -6;
	close(c);
	for (i = 0; i < SHARERS; i++)
		if (codes[i] != i)
			return -7;
	return codes[SHARERS];
}

Test(loop_probe, shared_stack_tasks_do_io_into_stack_buffers, .timeout = 60)
{
	struct echo e;
	socklen_t len = sizeof(e.addr);
	int i;

	need_uring();
	memset(&e, 0, sizeof(e));
	for (i = 0; i < SHARERS; i++)
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, e.s[i]), 0);
	e.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	e.addr.sin_family = AF_INET;
	e.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(e.lfd, (struct sockaddr *)&e.addr, sizeof(e.addr)), 0);
	cr_assert_eq(getsockname(e.lfd, (struct sockaddr *)&e.addr, &len), 0);
	cr_assert_eq(listen(e.lfd, 4), 0);
	cr_assert_eq(run(echo_main, &e), 0);
	for (i = 0; i < SHARERS; i++) {
		close(e.s[i][0]);
		close(e.s[i][1]);
	}
	close(e.lfd);
}

/* ---- Many tasks ------------------------------------------------------------ */

#define MANY 100000

struct many {
	conc_event go;
	int woke;
};

static int many_one(void *arg)
{
	int i = (int)(intptr_t)arg;

	conc_yield();
	if (conc_sleep(1 * MS))
		return -1;
	return i % 1000;
}

static int many_waiter(void *arg)
{
	struct many *m = arg;

	if (conc_event_wait(&m->go, 60 * SEC))
		return -1;
	m->woke++;
	return 1;
}

static int many_main(void *arg)
{
	struct many *m = arg;
	conc_task_attr sa = { .shared_stack = true };
	conc_task **ts = malloc(MANY * sizeof(*ts));
	int *codes = malloc(MANY * sizeof(*codes));
	int i, r = 0;

	if (!ts || !codes)
		return -1;
	/* 100,000 tasks in one gather. */
	for (i = 0; i < MANY; i++)
		if (conc_go(&ts[i], many_one, (void *)(intptr_t)i, NULL))
			return -2;
	if (conc_gather(ts, MANY, codes, 0, 60 * SEC))
		return -3;
	for (i = 0; i < MANY; i++)
		if (codes[i] != i % 1000)
			r = -4;
	/* 100,000 shared-stack tasks waiting on one event, woken at once. */
	for (i = 0; i < MANY && !r; i++)
		if (conc_go(&ts[i], many_waiter, m, &sa))
			r = -5;
	if (!r) {
		conc_sleep(10 * MS);
		conc_event_set(&m->go);
		if (conc_gather(ts, MANY, codes, 0, 60 * SEC))
			r = -6;
	}
	free(ts);
	free(codes);
	return r ? r : m->woke;
}

Test(loop_probe, a_hundred_thousand_tasks_gathered_at_once, .timeout = 240)
{
	struct many m;

	need_uring();
	memset(&m, 0, sizeof(m));
	cr_assert_eq(run(many_main, &m), MANY);
}

/* ---- Many loops on many threads at once ------------------------------------ *
 * Eight threads each run a loop. Tokens go round the ring of loops through
 * semaphores (a task of one loop wakes a task of the next), every loop
 * calls into the next one, and the main task of each loop joins a task of
 * the next loop. */
#define LOOPS	8
#define LANES	16
#define LAPS	20
#define LCALLS	50

struct ring {
	conc_sem sem[LOOPS][LANES];
	conc_loop *loop[LOOPS];
	conc_task *target[LOOPS];
	conc_barrier published, joined;
	int calls_in[LOOPS];
	int bad;
};

struct lane {
	struct ring *g;
	int k, i;
};

static int lane_task(void *arg)
{
	struct lane *ln = arg;
	struct ring *g = ln->g;
	int next = (ln->k + 1) % LOOPS, r;

	if (ln->k == 0)
		conc_sem_post(&g->sem[next][ln->i]);
	for (r = 0; r < LAPS; r++) {
		if (conc_sem_timedwait(&g->sem[ln->k][ln->i], BOUND))
			return -1;
		if (ln->k != 0 || r != LAPS - 1)
			conc_sem_post(&g->sem[next][ln->i]);
	}
	return 0;
}

struct callin {
	struct ring *g;
	int k;
};

static void call_in(void *arg)
{
	struct callin *c = arg;

	if (conc_loop_self() != c->g->loop[c->k] || !conc_task_self())
		c->g->bad++;
	conc_yield();
	__atomic_fetch_add(&c->g->calls_in[c->k], 1, __ATOMIC_RELAXED);
}

static int target_task(void *arg)
{
	(void)arg;
	conc_sleep(5 * MS);
	return 77;
}

static struct callin callins[LOOPS];
static struct lane lanes[LOOPS][LANES];

static int ring_main(void *arg)
{
	struct lane *me = arg;
	struct ring *g = me->g;
	int k = me->k, next = (k + 1) % LOOPS, i, code = -1;
	conc_task *ts[LANES];

	g->loop[k] = conc_loop_self();
	if (conc_go(&g->target[k], target_task, NULL, NULL))
		return -1;
	for (i = 0; i < LANES; i++) {
		lanes[k][i].g = g;
		lanes[k][i].k = k;
		lanes[k][i].i = i;
		if (conc_go(&ts[i], lane_task, &lanes[k][i], NULL))
			return -2;
	}
	/* Every loop and target is published: a colorless barrier. */
	if (conc_barrier_wait_timed(&g->published, BOUND) < 0)
		return -3;
	callins[next].g = g;
	callins[next].k = next;
	for (i = 0; i < LCALLS; i++)
		if (conc_loop_call(g->loop[next], call_in, &callins[next]))
			return -4;
	/* A task of another loop, joined from here. */
	if (conc_task_join(g->target[next], &code, BOUND) || code != 77)
		return -5;
	if (conc_gather(ts, LANES, NULL, 0, BOUND))
		return -6;
	/* Nobody ends before every call came in and every join was done. */
	for (i = 0; i < 5000 && __atomic_load_n(&g->calls_in[k], __ATOMIC_RELAXED) < LCALLS; i++)
		conc_sleep(1 * MS);
	if (conc_barrier_wait_timed(&g->joined, BOUND) < 0)
		return -7;
	return __atomic_load_n(&g->calls_in[k], __ATOMIC_RELAXED) == LCALLS ? 0 : -8;
}

static int ring_thread(void *arg)
{
	int code = -100, r = conc_run(ring_main, arg, &code);

	return r ? r : code;
}

Test(loop_probe, many_loops_on_many_threads_at_once, .timeout = 60)
{
	struct ring *g = calloc(1, sizeof(*g));
	struct lane mains[LOOPS];
	conc_thread *th[LOOPS];
	int k, code;

	need_uring();
	cr_assert_not_null(g);
	conc_barrier_init(&g->published, LOOPS, 0);
	conc_barrier_init(&g->joined, LOOPS, 0);
	for (k = 0; k < LOOPS; k++) {
		mains[k].g = g;
		mains[k].k = k;
		cr_assert_eq(conc_thread_start(&th[k], ring_thread, &mains[k], NULL), 0);
	}
	for (k = 0; k < LOOPS; k++) {
		cr_assert_eq(conc_thread_join(th[k], &code, 30 * SEC), 0);
		cr_expect_eq(code, 0, "loop %d: %d", k, code);
	}
	cr_assert_eq(g->bad, 0);
	free(g);
}

/* ---- conc_to_thread ------------------------------------------------------ */

struct tt {
	uint32_t finished, release;
	conc_task *t;
	int ticks;
};

/* Blocks its thread, not the loop, until the loop's ticker has ticked
 * twice (bounded): a loop blocked meanwhile never ticks. */
static int ticked_fn(void *arg)
{
	struct tt *x = arg;

	for (int i = 0; i < 10000 && __atomic_load_n(&x->ticks, __ATOMIC_RELAXED) < 2; i++)
		sleep_ns(1 * MS);
	set_flag(&x->finished, 1);
	return 5;
}

/* Blocks its thread until the call that gave up has returned (bounded):
 * a function that slept 100 ms instead had ended before the call looked
 * if the loop's thread lost the CPU that long, and the call said 0. */
static int held_fn(void *arg)
{
	struct tt *x = arg;

	wait_flag(&x->release, 10000);
	set_flag(&x->finished, 1);
	return 5;
}

/* Runs on a plain thread: joins a task of the loop, blocking that thread. */
static int joins_from_thread(void *arg)
{
	struct tt *x = arg;
	int code = -1;

	if (conc_task_self() || conc_loop_self())
		return -1;
	return conc_task_join(x->t, &code, BOUND) ? -2 : code;
}

static int tt_main(void *arg)
{
	struct tt *x = arg;
	conc_task *tk;
	int ret = -1, i;

	if (conc_go(&tk, ticker, &x->ticks, NULL))
		return -1;
	if (conc_to_thread(ticked_fn, x, &ret, BOUND) || ret != 5 || !x->finished)
		return -2;
	if (x->ticks < 2)
		return -3;	/* only the calling task waited */
	/* -ETIMEDOUT: fn runs on to its end; ret is not written. */
	x->finished = 0;
	ret = -1;
	if (conc_to_thread(held_fn, x, &ret, 10 * MS) != -ETIMEDOUT || ret != -1)
		return -4;
	set_flag(&x->release, 1);
	for (i = 0; i < 5000 && !x->finished; i++)
		conc_sleep(1 * MS);
	if (!x->finished || ret != -1)
		return -5;
	/* A plain thread joins a task of this loop. */
	if (conc_go(&x->t, quick_code, (void *)9, NULL) ||
	    conc_to_thread(joins_from_thread, x, &ret, BOUND) || ret != 9)
		return -6;
	conc_task_cancel(tk);
	return conc_task_join(tk, NULL, BOUND);
}

Test(loop_probe, to_thread_waits_alone_and_outlives_a_timeout, .timeout = 30)
{
	struct tt x;

	need_uring();
	memset(&x, 0, sizeof(x));
	cr_assert_eq(run(tt_main, &x), 0);
}

/* ---- Handles a join must refuse ------------------------------------------ */

struct refuse {
	conc_task *main, *call;
	conc_event called;
	int r_main, r_call;
};

static int joins_main(void *arg)
{
	struct refuse *x = arg;

	/* conc_run owns its main task: it stores its code and frees it. */
	x->r_main = conc_task_join(x->main, NULL, BOUND);
	return 0;
}

static void a_call(void *arg)
{
	struct refuse *x = arg;

	x->call = conc_task_self();
	conc_event_set(&x->called);
	conc_sleep(5 * MS);
}

static int refuse_main(void *arg)
{
	struct refuse *x = arg;
	conc_task *t, *ts[2];
	int code = -1;

	x->main = conc_task_self();
	if (conc_go(&t, joins_main, x, NULL) || conc_task_join(t, NULL, BOUND))
		return -1;
	if (conc_loop_call(conc_loop_self(), a_call, x) ||
	    conc_event_wait(&x->called, BOUND))
		return -2;
	x->r_call = conc_task_join(x->call, NULL, BOUND);
	/* One task twice in one gather: refused, running or ended, and it
	 * stays joinable. */
	if (conc_go(&t, quick_code, (void *)6, NULL))
		return -3;
	ts[0] = ts[1] = t;
	if (conc_gather(ts, 2, NULL, 0, BOUND) != -EINVAL)
		return -4;
	conc_yield();
	if (conc_gather(ts, 2, NULL, 0, BOUND) != -EINVAL)
		return -5;
	if (conc_task_join(t, &code, BOUND) || code != 6)
		return -6;
	return 0;
}

Test(loop_probe, joins_of_the_main_task_a_call_or_a_task_twice_are_refused, .timeout = 30)
{
	struct refuse x;

	need_uring();
	memset(&x, 0, sizeof(x));
	cr_assert_eq(run(refuse_main, &x), 0);
	cr_assert_eq(x.r_main, -EINVAL);
	cr_assert_eq(x.r_call, -EINVAL);
}

/* ---- Attributes ------------------------------------------------------------ */

static int attr_main(void *arg)
{
	conc_task_attr tiny = { .stack_size = 1 };
	conc_task_attr huge = { .stack_size = SIZE_MAX };
	conc_task *t;
	int code = -1, r;

	(void)arg;
	/* A tiny size is rounded up to something that runs. */
	if (conc_go(&t, quick_code, (void *)8, &tiny) ||
	    conc_task_join(t, &code, BOUND) || code != 8)
		return -1;
	r = conc_go(&t, quick_code, NULL, &huge);
	if (r == 0)
		return conc_task_join(t, NULL, BOUND) ? -2 : -3;
	return r == -EINVAL || r == -ENOMEM ? 0 : -4;
}

Test(loop_probe, stack_sizes_tiny_and_impossible, .timeout = 30)
{
	need_uring();
	cr_assert_eq(run(attr_main, NULL), 0);
}

/* ---- Signals do not end a wait early -------------------------------------- */

static void on_alarm(int sig)
{
	(void)sig;
}

static int signalled_waits(void)
{
	int p[2], r = 0;
	char b[4];
	struct itimerval it = { { 0, 5000 }, { 0, 5000 } };	/* every 5 ms */

	if (pipe2(p, O_CLOEXEC))
		return 1;
	setitimer(ITIMER_REAL, &it, NULL);
	if (conc_poll(p[0], POLLIN, 50 * MS) != -ETIMEDOUT)
		r = 2;
	if (!r && conc_read(p[0], b, sizeof(b), 50 * MS) != -ETIMEDOUT)
		r = 3;
	if (!r && conc_sleep(30 * MS) != 0)
		r = 4;
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	close(p[0]);
	close(p[1]);
	return r;
}

static int signalled_in_task(void *arg)
{
	(void)arg;
	return signalled_waits();
}

Test(loop_probe, signals_do_not_end_waits_early, .timeout = 30)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	cr_assert_eq(signalled_waits(), 0);
	if (conc_features() & CONC_FEAT_IO_URING)
		cr_assert_eq(run(signalled_in_task, NULL), 0);
}

/* ---- Timeouts of joins and gathers from a plain thread ------------------- */

struct far_to {
	conc_task *ts[2];
	conc_event go;
	int r[4], codes[2];
};

static int far_timeouts(void *arg)
{
	struct far_to *f = arg;

	f->r[0] = conc_task_join(f->ts[0], NULL, 10 * MS);
	f->r[1] = conc_gather(f->ts, 2, f->codes, 0, 10 * MS);
	conc_event_set(&f->go);
	f->r[2] = conc_gather(f->ts, 2, f->codes, 0, BOUND);
	f->r[3] = conc_to_thread(quick_code, NULL, NULL, BOUND);
	return 0;
}

static int far_to_main(void *arg)
{
	struct far_to *f = arg;
	conc_thread *th;

	if (conc_go(&f->ts[0], waits_ev_then, (char *)&f->go - offsetof(struct gt, ev), NULL) ||
	    conc_go(&f->ts[1], quick_code, (void *)3, NULL) ||
	    conc_thread_start(&th, far_timeouts, f, NULL))
		return -1;
	return conc_thread_join(th, NULL, BOUND);
}

Test(loop_probe, joins_and_gathers_from_a_plain_thread_time_out, .timeout = 30)
{
	struct far_to f;

	need_uring();
	memset(&f, 0, sizeof(f));
	cr_assert_eq(run(far_to_main, &f), 0);
	cr_assert_eq(f.r[0], -ETIMEDOUT);
	cr_assert_eq(f.r[1], -ETIMEDOUT);
	cr_assert_eq(f.r[2], 0);
	cr_assert_eq(f.codes[0], 2);
	cr_assert_eq(f.codes[1], 3);
	cr_assert_eq(f.r[3], 0);
}

/* ---- 100,000 tasks in a colorless wait when main returns ------------------- */

struct forever {
	conc_sem sem;
	conc_event ev;
	int turn, cancelled;
	bool only_sem;
};

static int waits_forever(void *arg)
{
	struct forever *f = arg;
	int r = f->only_sem || f->turn++ % 2 ? conc_sem_wait(&f->sem)
					     : conc_event_wait(&f->ev, -1);

	if (r == -ECANCELED)
		f->cancelled++;
	return 0;
}

static int leaves_many_waiting(void *arg)
{
	conc_task_attr sa = { .shared_stack = true };
	conc_task *t;
	int i;

	for (i = 0; i < MANY; i++)
		if (conc_go(&t, waits_forever, arg, i % 2 ? &sa : NULL))
			return -1;
	conc_sleep(10 * MS);	/* they all wait now */
	return 0;
}

static void cancels_many_waiting(unsigned sem_flags)
{
	struct forever f;

	need_uring();
	memset(&f, 0, sizeof(f));
	conc_sem_init(&f.sem, 0, sem_flags);
	f.only_sem = !(sem_flags & CONC_PRIVATE);
	cr_assert_eq(run(leaves_many_waiting, &f), 0);
	cr_assert_eq(f.cancelled, MANY);
	cr_assert_eq(conc_sem_value(&f.sem), 0);
}

Test(loop_probe, conc_run_cancels_a_hundred_thousand_waiting_tasks, .timeout = 120)
{
	cancels_many_waiting(CONC_PRIVATE);
}

/* A shared semaphore's sleepers look again now and then (lib/wait/futex.c);
 * a loop spaces that out by its number of tasks: with one re-check every
 * 100 ms per task, 100,000 of them kept the loop busy for a minute and a
 * half before they all waited. */
Test(loop_probe, a_hundred_thousand_tasks_wait_on_a_shared_semaphore, .timeout = 60)
{
	cancels_many_waiting(0);
}

/* ---- Ownership per task ----------------------------------------------------- */

struct own {
	conc_mutex m;
	conc_barrier b;
	int r[4];
};

static int other_owner(void *arg)
{
	struct own *o = arg;

	/* The same thread, another task: not the owner of a recursive mutex. */
	o->r[0] = conc_mutex_trylock(&o->m);
	o->r[1] = conc_mutex_timedlock(&o->m, 10 * MS);
	o->r[2] = conc_mutex_unlock(&o->m);
	return 0;
}

static int barrier_party(void *arg)
{
	struct own *o = arg;
	int r = conc_barrier_wait_timed(&o->b, BOUND);

	return r == 0 || r == CONC_BARRIER_SERIAL ? 0 : r;
}

static int own_main(void *arg)
{
	struct own *o = arg;
	conc_task *t, *ts[3];
	conc_thread *th;
	int i, code = -1;

	if (conc_mutex_init(&o->m, CONC_RECURSIVE) || conc_mutex_lock(&o->m) ||
	    conc_mutex_lock(&o->m))
		return -1;
	if (conc_go(&t, other_owner, o, NULL) || conc_task_join(t, NULL, BOUND))
		return -2;
	if (conc_mutex_unlock(&o->m) || conc_mutex_unlock(&o->m))
		return -3;
	/* Three tasks of this loop and one thread meet at a barrier. */
	conc_barrier_init(&o->b, 4, 0);
	for (i = 0; i < 3; i++)
		if (conc_go(&ts[i], barrier_party, o, NULL))
			return -4;
	if (conc_thread_start(&th, barrier_party, o, NULL) ||
	    conc_gather(ts, 3, NULL, 0, BOUND) ||
	    conc_thread_join(th, &code, BOUND) || code)
		return -5;
	return 0;
}

Test(loop_probe, a_mutex_is_owned_by_a_task_not_its_thread, .timeout = 30)
{
	struct own o;

	need_uring();
	memset(&o, 0, sizeof(o));
	cr_assert_eq(run(own_main, &o), 0);
	cr_assert_eq(o.r[0], -EBUSY);
	cr_assert_eq(o.r[1], -ETIMEDOUT);
	cr_assert_eq(o.r[2], -EPERM);
}

/* ---- The longest timeouts: INT64_MAX is as good as forever ----------------- */

static int sleeps_forever(void *arg)
{
	(void)arg;
	return errcode(conc_sleep(INT64_MAX));
}

static int longest_main(void *arg)
{
	int *p = arg;
	conc_task *t;
	char b[4];
	int code = -1;

	if (conc_go(&t, sleeps_forever, NULL, NULL))
		return -1;
	conc_sleep(10 * MS);
	if (conc_task_join(t, NULL, 0) != -ETIMEDOUT)
		return -2;	/* still asleep */
	conc_task_cancel(t);
	if (conc_task_join(t, &code, INT64_MAX) || code != ECANCELED)
		return -3;
	if (write(p[1], "zz", 2) != 2 || conc_read(p[0], b, 1, INT64_MAX) != 1 ||
	    !(conc_poll(p[0], POLLIN, INT64_MAX) & POLLIN))
		return -4;
	return 0;
}

Test(loop_probe, the_longest_timeouts, .timeout = 30)
{
	int p[2], st;
	pid_t pid;

	/* Outside a loop: the sleep goes on (it does not say -EINVAL). */
	pid = test_fork();
	if (pid == 0)
		_exit(errcode(conc_sleep(INT64_MAX)));
	cr_assert_gt(pid, 0);
	sleep_ns(50 * MS);
	cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "conc_sleep(INT64_MAX) returned %d",
		     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	need_uring();
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(run(longest_main, p), 0);
	close(p[0]);
	close(p[1]);
}

/* ---- Files, accept flags, refused connects --------------------------------- */

static int files_and_flags(void)
{
	char path[] = "/tmp/conc-probe-XXXXXX", b[8];
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	int fd = mkstemp(path), l, c, a, r = 0;

	if (fd < 0)
		return 1;
	unlink(path);
	/* A regular file: reads and writes move its position. */
	if (conc_write(fd, "abc", 3, BOUND) != 3 || conc_write(fd, "def", 3, BOUND) != 3 ||
	    lseek(fd, 0, SEEK_SET) != 0)
		r = 2;
	if (!r && (conc_read(fd, b, 3, BOUND) != 3 || memcmp(b, "abc", 3) ||
		   conc_read(fd, b, 8, 0) != 3 || memcmp(b, "def", 3) ||
		   conc_read(fd, b, 8, BOUND) != 0))
		r = 3;
	close(fd);
	/* accept's flags reach the new socket; a refused connect says so. */
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&addr, sizeof(addr)) || listen(l, 4) ||
	    getsockname(l, (struct sockaddr *)&addr, &len))
		return 4;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conc_connect(c, (struct sockaddr *)&addr, sizeof(addr), BOUND))
		r = r ? r : 5;
	a = conc_accept(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC, BOUND);
	if (a < 0 || !(fcntl(a, F_GETFL) & O_NONBLOCK) || !(fcntl(a, F_GETFD) & FD_CLOEXEC))
		r = r ? r : 6;
	/* A non-blocking socket still waits for the timeout in these calls. */
	if (a >= 0 && conc_recv(a, b, sizeof(b), 0, 20 * MS) != -ETIMEDOUT)
		r = r ? r : 7;
	close(a);
	close(c);
	close(l);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conc_connect(c, (struct sockaddr *)&addr, sizeof(addr), BOUND) != -ECONNREFUSED)
		r = r ? r : 8;
	/* A connect with a timeout outside a loop leaves the socket blocking. */
	if (fcntl(c, F_GETFL) & O_NONBLOCK)
		r = r ? r : 9;
	close(c);
	return r;
}

static int files_in_task(void *arg)
{
	(void)arg;
	return files_and_flags();
}

static int files_in_shared(void *arg)
{
	conc_task_attr sh = { .shared_stack = true };
	conc_task *t;
	int code = -1;

	(void)arg;
	if (conc_go(&t, files_in_task, NULL, &sh) || conc_task_join(t, &code, BOUND))
		return -1;
	return code;
}

Test(loop_probe, files_accept_flags_and_refused_connects, .timeout = 30)
{
	cr_assert_eq(files_and_flags(), 0);
	need_uring();
	cr_assert_eq(run(files_in_task, NULL), 0);
	cr_assert_eq(run(files_in_shared, NULL), 0);
}

/* ---- A robust mutex whose owner process dies while a task waits ------------ */

struct robust {
	conc_mutex m;
	uint32_t held, die;
	int ticks, r[3];
};

static int dies_holding(void *arg)
{
	struct robust *x = arg;

	if (conc_mutex_lock(&x->m))
		return 1;
	set_flag(&x->held, 1);
	wait_flag(&x->die, 10000);
	_exit(0);	/* without unlocking */
}

static int robust_main(void *arg)
{
	struct robust *x = arg;
	conc_task *tk;

	if (conc_go(&tk, ticker, &x->ticks, NULL))
		return -1;
	set_flag(&x->die, 1);
	x->r[0] = conc_mutex_lock(&x->m);	/* the owner dies meanwhile */
	x->r[1] = x->r[0] == -EOWNERDEAD ? conc_mutex_consistent(&x->m) : -1;
	x->r[2] = conc_mutex_unlock(&x->m);
	conc_task_cancel(tk);
	return conc_task_join(tk, NULL, BOUND);
}

Test(loop_probe, a_task_learns_that_the_owner_process_died, .timeout = 30)
{
	struct robust *x = shared_alloc(sizeof(*x));
	pid_t pid;

	need_uring();
	if (!x)
		abort();
	cr_assert_eq(conc_mutex_init(&x->m, CONC_ROBUST), 0);
	pid = test_fork();
	if (pid == 0)
		_exit(dies_holding(x));
	cr_assert(wait_flag(&x->held, 10000));
	cr_assert_eq(run(robust_main, x), 0);
	cr_assert_eq(x->r[0], -EOWNERDEAD);
	cr_assert_eq(x->r[1], 0);
	cr_assert_eq(x->r[2], 0);
	cr_assert(exited_with(wait_child(pid, 10000), 0));
	shared_free(x, sizeof(*x));
}

/* ---- Colorless traffic between two loops and a plain thread ---------------- */

#define MIX_MSGS 500

struct mix {
	conc_chan *a, *b;		/* loop 1's end, loop 2's end */
	conc_queue *q;
	conc_mutex m;
	conc_cond c;
	conc_rwlock rw;
	int turn, shared_count, readers_ok;
	int r[6];
};

static char mbig[1 << 20];

/* Loop 1: a 1 MiB message each way through the channel, and queue puts. */
static int mix_sender(void *arg)
{
	struct mix *x = arg;
	char *back = malloc(sizeof(mbig));
	int i;

	if (!back || conc_chan_send(x->a, mbig, sizeof(mbig), BOUND) ||
	    conc_chan_recv(x->a, back, sizeof(mbig), BOUND) != (ssize_t)sizeof(mbig) ||
	    memcmp(back, mbig, sizeof(mbig)))
		i = -1;
	else
		i = 0;
	free(back);
	if (i)
		return -1;
	for (i = 0; i < MIX_MSGS; i++)
		if (conc_queue_put(x->q, &i, sizeof(i), BOUND))
			return -2;
	return 0;
}

static int mix_echo(void *arg)
{
	struct mix *x = arg;
	char *buf = malloc(sizeof(mbig));
	ssize_t n;
	int i, v, r = 0;

	if (!buf)
		return -1;
	n = conc_chan_recv(x->b, buf, sizeof(mbig), BOUND);
	if (n != (ssize_t)sizeof(mbig) || conc_chan_send(x->b, buf, (size_t)n, BOUND))
		r = -2;
	free(buf);
	for (i = 0; i < MIX_MSGS && !r; i++)
		if (conc_queue_get(x->q, &v, sizeof(v), BOUND) != sizeof(v) || v != i)
			r = -3;
	return r;
}

/* Turns taken through a condition variable: loop 1's task, loop 2's task
 * and a plain thread, round and round. */
struct turner {
	struct mix *x;
	int me;
};

static int take_turns(void *arg)
{
	struct turner *t = arg;
	struct mix *x = t->x;
	int round, r = 0;

	for (round = 0; round < 50 && !r; round++) {
		if (conc_mutex_lock(&x->m))
			return -1;
		while (x->turn % 3 != t->me && !r)
			r = conc_cond_wait(&x->c, &x->m, BOUND);
		x->turn++;
		conc_cond_broadcast(&x->c);
		conc_mutex_unlock(&x->m);
		/* Readers and a writer of one rwlock, across the three. */
		if (!r && !conc_rwlock_wrlock(&x->rw)) {
			x->shared_count++;
			conc_rwlock_unlock(&x->rw);
		}
		if (!r && !conc_rwlock_rdlock(&x->rw)) {
			__atomic_fetch_add(&x->readers_ok, 1, __ATOMIC_RELAXED);
			conc_rwlock_unlock(&x->rw);
		}
	}
	return r;
}

static struct turner turners[3];

static int mix_loop1(void *arg)
{
	struct mix *x = arg;
	conc_task *ts[2];
	int codes[2];

	if (conc_go(&ts[0], mix_sender, x, NULL) ||
	    conc_go(&ts[1], take_turns, &turners[0], NULL))
		return -1;
	if (conc_gather(ts, 2, codes, 0, 30 * SEC))
		return -2;
	return codes[0] ? codes[0] : codes[1];
}

static int mix_loop2(void *arg)
{
	struct mix *x = arg;
	conc_task_attr sh = { .shared_stack = true };
	conc_task *ts[2];
	int codes[2];

	if (conc_go(&ts[0], mix_echo, x, &sh) ||
	    conc_go(&ts[1], take_turns, &turners[1], &sh))
		return -1;
	if (conc_gather(ts, 2, codes, 0, 30 * SEC))
		return -2;
	return codes[0] ? codes[0] : codes[1];
}

static int mix_thread(void *arg)
{
	int (*fn)(void *) = ((void **)arg)[0];
	int code = -100, r = conc_run(fn, ((void **)arg)[1], &code);

	return r ? r : code;
}

Test(loop_probe, colorless_traffic_between_two_loops_and_a_thread, .timeout = 60)
{
	struct mix *x = calloc(1, sizeof(*x));
	conc_queue_attr qa = { .capacity = 16, .max_msg = 16 };
	void *a1[2], *a2[2];
	conc_thread *t1, *t2;
	int c1 = -1, c2 = -1, i;

	need_uring();
	cr_assert_not_null(x);
	for (i = 0; i < (int)sizeof(mbig); i++)
		mbig[i] = (char)(i * 7);
	cr_assert_eq(conc_chan_pair(&x->a, &x->b, 0), 0);
	cr_assert_eq(conc_queue_create(&x->q, &qa), 0);
	for (i = 0; i < 3; i++) {
		turners[i].x = x;
		turners[i].me = i;
	}
	a1[0] = (void *)mix_loop1, a1[1] = x;
	a2[0] = (void *)mix_loop2, a2[1] = x;
	cr_assert_eq(conc_thread_start(&t1, mix_thread, a1, NULL), 0);
	cr_assert_eq(conc_thread_start(&t2, mix_thread, a2, NULL), 0);
	cr_assert_eq(take_turns(&turners[2]), 0);
	cr_assert_eq(conc_thread_join(t1, &c1, 30 * SEC), 0);
	cr_assert_eq(conc_thread_join(t2, &c2, 30 * SEC), 0);
	cr_assert_eq(c1, 0);
	cr_assert_eq(c2, 0);
	cr_assert_eq(x->turn, 150);
	cr_assert_eq(x->shared_count, 150);
	cr_assert_eq(x->readers_ok, 150);
	conc_chan_close(x->a);
	conc_chan_close(x->b);
	conc_queue_destroy(x->q);
	free(x);
}

/* ---- No io_uring: conc_run says -ENOSYS, the rest works ------------------- */

static int ran_anyway;

static int never_runs(void *arg)
{
	(void)arg;
	ran_anyway = 1;
	return 0;
}

/* In a child: io_uring_setup fails with err (ENOSYS: a kernel built
 * without it; EPERM: kernel.io_uring_disabled). */
static int without_uring(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof(f) / sizeof(f[0])), f };
	int p[2], code = 5, ret = -1;
	char b[4];

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 1;
	if (conc_run(never_runs, NULL, &code) != -ENOSYS || ran_anyway || code != 5)
		return 2;
	if (conc_loop_self() || conc_task_self())
		return 3;
	/* Without a loop, the calls are the plain ones. */
	if (pipe2(p, O_CLOEXEC) || conc_read(p[0], b, sizeof(b), 10 * MS) != -ETIMEDOUT ||
	    conc_sleep(1 * MS) || conc_to_thread(quick_code, (void *)4, &ret, BOUND) || ret != 4)
		return 4;
	return 0;
}

static int without_uring_enosys(void *arg)
{
	(void)arg;
	return without_uring(ENOSYS);
}

static int without_uring_eperm(void *arg)
{
	(void)arg;
	return without_uring(EPERM);
}

Test(loop_probe, without_io_uring_conc_run_says_enosys, .timeout = 30)
{
	pid_t pid = fork_child(without_uring_enosys, NULL);

	cr_assert_gt(pid, 0);
	cr_assert(exited_with(wait_child(pid, 10000), 0));
	pid = fork_child(without_uring_eperm, NULL);
	cr_assert_gt(pid, 0);
	cr_assert(exited_with(wait_child(pid, 10000), 0));
}

/* ---- A gather across two loops ---------------------------------------------- *
 * A task of loop 1 gathers, with CONC_GATHER_CANCEL, one task of its own
 * loop and two of loop 2 (one fails); loop 2's main waits until then. */
struct across {
	conc_task *theirs[2];
	conc_event published, done;
	int r, codes[3], join_to;
	conc_sem never;
};

static int across_fail(void *arg)
{
	(void)arg;
	conc_sleep(10 * MS);
	return -9;
}

static int across_wait(void *arg)
{
	struct across *a = arg;

	return conc_sem_wait(&a->never) == -ECANCELED ? 300 : 3;
}

static int across_loop2(void *arg)
{
	struct across *a = arg;

	if (conc_go(&a->theirs[0], across_wait, a, NULL) ||
	    conc_go(&a->theirs[1], across_fail, a, NULL))
		return -1;
	conc_event_set(&a->published);
	return conc_event_wait(&a->done, BOUND);
}

static int across_loop1(void *arg)
{
	struct across *a = arg;
	conc_task *ts[3];

	if (conc_event_wait(&a->published, BOUND))
		return -1;
	/* A task of another loop: a join that only looks times out. */
	a->join_to = conc_task_join(a->theirs[0], NULL, 5 * MS);
	if (conc_go(&ts[0], sleeps_then_100, NULL, NULL))
		return -2;
	ts[1] = a->theirs[0];
	ts[2] = a->theirs[1];
	a->r = conc_gather(ts, 3, a->codes, CONC_GATHER_CANCEL, BOUND);
	conc_event_set(&a->done);
	return 0;
}

Test(loop_probe, a_gather_across_two_loops, .timeout = 30)
{
	struct across a;
	void *args[2] = { (void *)across_loop2, &a };
	conc_thread *th;
	int code = -1;

	need_uring();
	memset(&a, 0, sizeof(a));
	cr_assert_eq(conc_thread_start(&th, mix_thread, args, NULL), 0);
	cr_assert_eq(run(across_loop1, &a), 0);
	cr_assert_eq(conc_thread_join(th, &code, BOUND), 0);
	cr_assert_eq(code, 0);
	cr_assert_eq(a.join_to, -ETIMEDOUT);
	cr_assert_eq(a.r, -9);
	cr_assert_eq(a.codes[0], 100);
	cr_assert_eq(a.codes[1], 300);
	cr_assert_eq(a.codes[2], -9);
}
